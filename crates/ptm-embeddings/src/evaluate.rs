//! Intrinsic evaluation as gensim 4.4 does it: word analogies in the Google `questions-words.txt`
//! format (`evaluate_word_analogies`) and word-pair similarity against human scores in the
//! WordSim-353 / SimLex-999 formats (`evaluate_word_pairs`).

use std::collections::BTreeMap;
use std::path::Path;

use rayon::prelude::*;

use crate::error::{EmbeddingsError, Result};
use crate::keyed_vectors::{cosine, normalize, KeyedVectors};
use crate::vocab::FxHashMap;

/// gensim's default: only the 300,000 most frequent words take part.
pub const DEFAULT_RESTRICT_VOCAB: usize = 300_000;

#[derive(Debug, Clone, serde::Serialize)]
pub struct SectionScore {
    pub section: String,
    pub correct: usize,
    /// Questions whose four words were all in the (restricted) vocabulary.
    pub total: usize,
    /// `correct / total`; 0 when no question of the section could be asked.
    pub accuracy: f64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct AnalogyReport {
    pub accuracy: f64,
    pub correct: usize,
    pub total: usize,
    /// Questions skipped because a word was missing, over all questions.
    pub oov_ratio: f64,
    pub sections: Vec<SectionScore>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct PairsReport {
    pub pearson: f64,
    pub spearman: f64,
    /// Percentage of pairs skipped because a word was missing (gensim reports a percentage too).
    pub oov_ratio: f64,
    pub pairs: usize,
}

fn read_text(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| EmbeddingsError::io(path, e))?;
    String::from_utf8(bytes).map_err(|e| {
        let byte = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..byte].iter().filter(|&&b| b == b'\n').count() as u64 + 1;
        EmbeddingsError::InvalidUtf8 {
            path: path.to_path_buf(),
            line,
            byte,
        }
    })
}

/// gensim's `ok_vocab`: the first `restrict_vocab` words, keyed upper-cased when case-insensitive;
/// on collisions the more frequent (earlier) word wins.
fn ok_vocab(
    kv: &KeyedVectors,
    restrict_vocab: usize,
    case_insensitive: bool,
) -> FxHashMap<String, usize> {
    let n = restrict_vocab.min(kv.len());
    let mut map = FxHashMap::default();
    for i in (0..n).rev() {
        let w = &kv.words()[i];
        let key = if case_insensitive {
            w.to_uppercase()
        } else {
            w.clone()
        };
        map.insert(key, i);
    }
    map
}

struct Question {
    section: usize,
    words: [String; 4],
}

impl KeyedVectors {
    /// Accuracy on analogy questions `a b c expected` ("a is to b as c is to expected"), grouped in
    /// sections started by `: name` lines. The answer is the best 3CosAdd candidate among the
    /// first `restrict_vocab` words other than a, b and c. Questions with a word outside those
    /// words are skipped and counted in `oov_ratio`, as gensim does.
    pub fn evaluate_word_analogies(
        &self,
        path: impl AsRef<Path>,
        restrict_vocab: usize,
        case_insensitive: bool,
    ) -> Result<AnalogyReport> {
        let path = path.as_ref();
        let text = read_text(path)?;
        let ok = ok_vocab(self, restrict_vocab, case_insensitive);
        let norm = |w: &str| {
            if case_insensitive {
                w.to_uppercase()
            } else {
                w.to_string()
            }
        };
        let mut sections: Vec<String> = Vec::new();
        let mut questions = Vec::new();
        let mut asked = 0usize;
        for (line_no, line) in text.lines().enumerate() {
            if let Some(name) = line.strip_prefix(": ") {
                sections.push(name.trim().to_string());
                continue;
            }
            let parts: Vec<&str> = line.split_whitespace().collect();
            if parts.is_empty() {
                continue;
            }
            if sections.is_empty() {
                return Err(EmbeddingsError::Format {
                    path: path.to_path_buf(),
                    format: "analogy (questions-words)",
                    reason: format!(
                        "line {} comes before any ': section' header; start the file with a line like ': capital-common-countries'",
                        line_no + 1
                    ),
                });
            }
            if parts.len() != 4 {
                continue; // gensim skips malformed lines
            }
            asked += 1;
            let words = [
                norm(parts[0]),
                norm(parts[1]),
                norm(parts[2]),
                norm(parts[3]),
            ];
            if words.iter().all(|w| ok.contains_key(w)) {
                questions.push(Question {
                    section: sections.len() - 1,
                    words,
                });
            }
        }
        if asked == 0 {
            return Err(EmbeddingsError::Format {
                path: path.to_path_buf(),
                format: "analogy (questions-words)",
                reason: "no question lines of four words were found".into(),
            });
        }
        let restrict = Some(restrict_vocab);
        let correct: Vec<bool> = questions
            .par_iter()
            .map(|q| {
                let [a, b, c, expected] = &q.words;
                let (ia, ib, ic) = (ok[a], ok[b], ok[c]);
                let mut mean = vec![0f32; self.dim()];
                for (i, weight) in [(ib, 1.0f32), (ic, 1.0), (ia, -1.0)] {
                    let mut v = self.row(i).to_vec();
                    normalize(&mut v);
                    mean.iter_mut().zip(&v).for_each(|(x, y)| *x += weight * y);
                }
                normalize(&mut mean);
                let sims = self.top_indices(&mean, 5, restrict, &[ia, ib, ic]);
                // gensim takes the first candidate that is in ok_vocab and is not a query word in
                // another case; if none qualifies, the last candidate stands (and is wrong).
                let mut predicted = None;
                for (i, _) in sims {
                    let p = norm(&self.words()[i]);
                    let qualifies = ok.contains_key(&p) && &p != a && &p != b && &p != c;
                    predicted = Some(p);
                    if qualifies {
                        break;
                    }
                }
                predicted.as_ref() == Some(expected)
            })
            .collect();
        let mut per: Vec<(usize, usize)> = vec![(0, 0); sections.len()];
        for (q, ok) in questions.iter().zip(&correct) {
            per[q.section].1 += 1;
            if *ok {
                per[q.section].0 += 1;
            }
        }
        let acc = |c: usize, t: usize| if t == 0 { 0.0 } else { c as f64 / t as f64 };
        let total_correct = correct.iter().filter(|&&c| c).count();
        Ok(AnalogyReport {
            accuracy: acc(total_correct, questions.len()),
            correct: total_correct,
            total: questions.len(),
            oov_ratio: (asked - questions.len()) as f64 / asked as f64,
            sections: sections
                .into_iter()
                .zip(per)
                .map(|(section, (c, t))| SectionScore {
                    section,
                    correct: c,
                    total: t,
                    accuracy: acc(c, t),
                })
                .collect(),
        })
    }

    /// Pearson and Spearman correlation between cosine similarities and human scores for word
    /// pairs, one `word1<TAB>word2<TAB>score` a line (WordSim-353 as gensim ships it, SimLex-999
    /// as gensim ships it); the original SimLex-999 layout `word1 word2 POS score ...` is read too.
    /// Lines starting with `#` and lines whose score is not a number (headers) are skipped.
    pub fn evaluate_word_pairs(
        &self,
        path: impl AsRef<Path>,
        restrict_vocab: usize,
        case_insensitive: bool,
    ) -> Result<PairsReport> {
        let path = path.as_ref();
        let text = read_text(path)?;
        let ok = ok_vocab(self, restrict_vocab, case_insensitive);
        let norm = |w: &str| {
            if case_insensitive {
                w.to_uppercase()
            } else {
                w.to_string()
            }
        };
        let (mut model, mut gold) = (Vec::new(), Vec::new());
        let mut oov = 0usize;
        for line in text.lines() {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.split('\t').map(str::trim).collect();
            let parsed = match fields.len() {
                3 => fields[2]
                    .parse::<f64>()
                    .ok()
                    .map(|s| (fields[0], fields[1], s)),
                n if n >= 4 => fields[3]
                    .parse::<f64>()
                    .ok()
                    .filter(|_| fields[2].parse::<f64>().is_err())
                    .map(|s| (fields[0], fields[1], s)),
                _ => None,
            };
            let Some((a, b, score)) = parsed else {
                continue;
            };
            match (ok.get(&norm(a)), ok.get(&norm(b))) {
                (Some(&ia), Some(&ib)) => {
                    model.push(cosine(self.row(ia), self.row(ib)) as f64);
                    gold.push(score);
                }
                _ => oov += 1,
            }
        }
        if model.len() < 2 {
            return Err(EmbeddingsError::Invalid(format!(
                "only {} pair(s) of '{}' have both words in the vocabulary ({} missing); at least 2 are needed for a correlation: check the file format (word1<TAB>word2<TAB>score) or use vectors with a larger vocabulary",
                model.len(),
                path.display(),
                oov
            )));
        }
        Ok(PairsReport {
            pearson: pearson(&model, &gold),
            spearman: spearman(&model, &gold),
            oov_ratio: oov as f64 / (model.len() + oov) as f64 * 100.0,
            pairs: model.len(),
        })
    }
}

/// Per-section accuracies as a name → accuracy map, for the CLI's JSON.
pub fn section_map(report: &AnalogyReport) -> BTreeMap<String, f64> {
    report
        .sections
        .iter()
        .map(|s| (s.section.clone(), s.accuracy))
        .collect()
}

pub fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len().min(y.len()) as f64;
    let mx = x.iter().sum::<f64>() / n;
    let my = y.iter().sum::<f64>() / n;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    if sxx == 0.0 || syy == 0.0 {
        return f64::NAN;
    }
    sxy / (sxx * syy).sqrt()
}

/// Ranks from 1, ties sharing their mean rank (scipy's `rankdata(method="average")`).
pub fn ranks(x: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..x.len()).collect();
    order.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut r = vec![0.0; x.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && x[order[j + 1]] == x[order[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for k in i..=j {
            r[order[k]] = avg;
        }
        i = j + 1;
    }
    r
}

pub fn spearman(x: &[f64], y: &[f64]) -> f64 {
    pearson(&ranks(x), &ranks(y))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy() -> KeyedVectors {
        let words = [
            "king", "queen", "man", "woman", "paris", "france", "rome", "italy",
        ]
        .map(String::from)
        .to_vec();
        #[rustfmt::skip]
        let v = vec![
            1.0, 1.0, 0.0, 0.0,
            1.0, 0.0, 1.0, 0.0,
            0.0, 1.0, 0.0, 0.0,
            0.0, 0.0, 1.0, 0.0,
            0.0, 0.0, 0.0, 1.0,
            0.5, 0.0, 0.0, 1.0,
            0.0, 0.3, 0.3, 1.0,
            0.5, 0.3, 0.3, 1.0,
        ];
        KeyedVectors::new(words, v, 4).unwrap()
    }

    #[test]
    fn analogy_scoring_on_a_hand_made_set() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("q.txt");
        // Right: man->king :: woman->queen; Paris->France :: Rome->Italy (case-insensitive).
        // Wrong on purpose: king->man :: queen->paris (expected word exists, answer is woman).
        // Skipped: a word out of vocabulary. Malformed lines are ignored.
        std::fs::write(
            &p,
            ": family\nman king woman queen\nking man queen paris\nman king woman princess\n: capitals\nParis France Rome Italy\nbroken line\n",
        )
        .unwrap();
        let r = toy().evaluate_word_analogies(&p, 300_000, true).unwrap();
        assert_eq!((r.correct, r.total), (2, 3));
        assert!((r.accuracy - 2.0 / 3.0).abs() < 1e-12);
        assert!((r.oov_ratio - 0.25).abs() < 1e-12);
        assert_eq!(r.sections[0].section, "family");
        assert_eq!((r.sections[0].correct, r.sections[0].total), (1, 2));
        assert_eq!((r.sections[1].correct, r.sections[1].total), (1, 1));
        // Case-sensitive: "Paris" is not a word of the vocabulary.
        let r = toy().evaluate_word_analogies(&p, 300_000, false).unwrap();
        assert_eq!(r.total, 2);
        // restrict_vocab 4: only king queen man woman.
        let r = toy().evaluate_word_analogies(&p, 4, true).unwrap();
        assert_eq!((r.correct, r.total), (1, 1));
    }

    #[test]
    fn analogy_file_without_section_header_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("q.txt");
        std::fs::write(&p, "man king woman queen\n").unwrap();
        let msg = toy()
            .evaluate_word_analogies(&p, 300_000, true)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("section"), "{msg}");
    }

    #[test]
    fn correlations_match_scipy() {
        // scipy.stats.pearsonr / spearmanr on these vectors: 0.8 exactly for the ranks,
        // pearson computed by hand.
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        let y = [2.0, 1.0, 4.0, 3.0, 5.0];
        assert!((spearman(&x, &y) - 0.8).abs() < 1e-12);
        assert!((pearson(&x, &y) - 0.8).abs() < 1e-12);
        assert_eq!(ranks(&[10.0, 20.0, 10.0, 30.0]), [1.5, 3.0, 1.5, 4.0]);
    }

    #[test]
    fn word_pairs_both_formats() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ws.tsv");
        std::fs::write(
            &p,
            "# comment\nWord 1\tWord 2\tHuman (mean)\nking\tqueen\t8\nman\tqueen\t3\nparis\tfrance\t9\nking\tmissing\t5\n",
        )
        .unwrap();
        let r = toy().evaluate_word_pairs(&p, 300_000, true).unwrap();
        assert_eq!(r.pairs, 3);
        assert!((r.oov_ratio - 25.0).abs() < 1e-9);
        assert!(r.spearman > 0.99, "{r:?}");
        let p2 = dir.path().join("simlex.txt");
        std::fs::write(
            &p2,
            "word1\tword2\tPOS\tSimLex999\tconc(w1)\nking\tqueen\tN\t8\t1\nman\tqueen\tN\t3\t1\nparis\tfrance\tN\t9\t1\n",
        )
        .unwrap();
        let r2 = toy().evaluate_word_pairs(&p2, 300_000, true).unwrap();
        assert_eq!(r2.pairs, 3);
        assert!((r2.spearman - r.spearman).abs() < 1e-12);
    }
}
