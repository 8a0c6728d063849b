//! GloVe (Pennington, Socher & Manning 2014, "GloVe: Global Vectors for Word Representation"),
//! following the reference implementation (stanfordnlp/GloVe `src/cooccur.c` and `src/glove.c`):
//! a symmetric co-occurrence matrix weighted by 1/distance, then AdaGrad on the weighted least
//! squares loss `f(X_ij) (w_i . w~_j + b_i + b~_j - log X_ij)^2` with `f(x) = min(1, (x/x_max)^alpha)`.
//! The word vector is `W + W~` (the reference's `-model 2`).
//!
//! The co-occurrence counts are held in memory (a hash map of non-zero cells); the corpus itself is
//! streamed once to count them. Threads run AdaGrad lock-free on disjoint slices of the shuffled
//! cells, as glove.c does.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::corpus::Corpus;
use crate::error::{EmbeddingsError, Result};
use crate::kernels::{dot, Lcg, SharedMatrix};
use crate::keyed_vectors::KeyedVectors;
use crate::train::{init_row, Progress, ProgressFn};
use crate::vocab::{FxHashMap, RawVocab, Vocab};

/// GloVe hyper-parameters with the reference implementation's defaults (`demo.sh` / `glove.c`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GloveParams {
    pub vector_size: usize,
    /// Context words on each side (symmetric window).
    pub window: usize,
    pub min_count: u64,
    pub max_vocab_size: Option<usize>,
    /// Cut-off of the weighting function.
    pub x_max: f32,
    /// Exponent of the weighting function.
    pub alpha: f32,
    /// AdaGrad's initial learning rate.
    pub eta: f32,
    pub epochs: usize,
    pub workers: usize,
    pub seed: u64,
}

impl Default for GloveParams {
    fn default() -> Self {
        GloveParams {
            vector_size: 100,
            window: 15,
            min_count: 5,
            max_vocab_size: None,
            x_max: 100.0,
            alpha: 0.75,
            eta: 0.05,
            epochs: 25,
            workers: 3,
            seed: 1,
        }
    }
}

/// What a GloVe run did.
#[derive(Debug, Clone, Serialize)]
pub struct GloveReport {
    /// Non-zero cells of the co-occurrence matrix trained on (both orders counted).
    pub cooccurrences: u64,
    /// Mean weighted squared error per cell, after each epoch.
    pub cost: Vec<f64>,
    pub seconds: f64,
    pub corpus_words: u64,
}

/// A trained GloVe model.
#[derive(Debug, Clone)]
pub struct Glove {
    pub params: GloveParams,
    pub vocab: Vocab,
    /// `2 * V` rows of `vector_size + 1`: word rows, then context rows; the bias is the last column.
    weights: Vec<f32>,
}

/// The symmetric co-occurrence matrix as `(i, j, X_ij)` cells, both orders present.
pub fn cooccurrences(
    corpus: &Corpus,
    vocab: &Vocab,
    window: usize,
) -> Result<Vec<(u32, u32, f32)>> {
    let mut cells: FxHashMap<u64, f32> = FxHashMap::default();
    let mut stream = corpus.stream();
    let mut ids: Vec<u32> = Vec::new();
    loop {
        ids.clear();
        let more = stream.next_sentence(|w| {
            if let Some(i) = vocab.get(w) {
                ids.push(i);
            }
        })?;
        if !more {
            break;
        }
        for p in 0..ids.len() {
            let lo = p.saturating_sub(window);
            for q in lo..p {
                let (a, b) = (ids[q].min(ids[p]), ids[q].max(ids[p]));
                *cells.entry(((a as u64) << 32) | b as u64).or_insert(0.0) += 1.0 / (p - q) as f32;
            }
        }
    }
    let mut out = Vec::with_capacity(cells.len() * 2);
    for (k, v) in cells {
        let (a, b) = ((k >> 32) as u32, k as u32);
        if a == b {
            // Both directions of a symmetric count land in the same diagonal cell.
            out.push((a, a, 2.0 * v));
        } else {
            out.push((a, b, v));
            out.push((b, a, v));
        }
    }
    // Hash-map order depends on nothing but the keys, but sort anyway so the run is reproducible
    // across platforms before the seeded shuffle.
    out.sort_unstable_by_key(|&(a, b, _)| ((a as u64) << 32) | b as u64);
    Ok(out)
}

impl Glove {
    pub fn train_new(
        corpus: &Corpus,
        params: GloveParams,
        progress: Option<ProgressFn>,
    ) -> Result<(Glove, GloveReport)> {
        if params.vector_size == 0
            || params.window == 0
            || params.workers == 0
            || params.epochs == 0
        {
            return Err(EmbeddingsError::param(
                "vector_size/window/workers/epochs",
                format!(
                    "{}/{}/{}/{}",
                    params.vector_size, params.window, params.workers, params.epochs
                ),
                "all at least 1",
            ));
        }
        if !(params.x_max > 0.0 && params.eta > 0.0 && params.alpha.is_finite()) {
            return Err(EmbeddingsError::param(
                "x_max/eta",
                format!("{}/{}", params.x_max, params.eta),
                "positive numbers (defaults 100 and 0.05)",
            ));
        }
        let start = Instant::now();
        let raw = RawVocab::scan(corpus, params.max_vocab_size)?;
        let vocab = Vocab::from_raw(&raw, params.min_count, None)?;
        let mut cells = cooccurrences(corpus, &vocab, params.window)?;
        if cells.is_empty() {
            return Err(EmbeddingsError::Invalid(format!(
                "no two vocabulary words occur within {} words of each other in {}; use a larger corpus or lower --min-count",
                params.window,
                corpus.describe()
            )));
        }
        // Fisher-Yates with the seed, as the reference shuffles the cells before training.
        let mut rng = Lcg(params.seed.wrapping_add(0x5DEE_CE66D) & 0xFFFF_FFFF_FFFF);
        for i in (1..cells.len()).rev() {
            let r = ((rng.next_u32() as u64) << 32 | rng.next_u32() as u64) % (i as u64 + 1);
            cells.swap(i, r as usize);
        }
        let n = vocab.len();
        let d1 = params.vector_size + 1;
        let mut weights = vec![0f32; 2 * n * d1];
        // glove.c: uniform in [-0.5, 0.5) / (dim + 1), biases included.
        for (r, row) in weights.chunks_exact_mut(d1).enumerate() {
            let word = &vocab.words[r % n];
            init_row(
                word,
                params.seed.wrapping_add((r / n) as u64 * 7),
                0.5 / d1 as f32,
                row,
            );
        }
        let w = SharedMatrix::new(weights, d1);
        let gradsq = SharedMatrix::new(vec![1f32; 2 * n * d1], d1);
        let workers = params.workers.min(cells.len()).max(1);
        let chunk = cells.len().div_ceil(workers);
        let total = cells.len() as u64 * params.epochs as u64;
        let train_start = Instant::now();
        let mut cost = Vec::with_capacity(params.epochs);
        for epoch in 0..params.epochs {
            let costs: Vec<f64> = std::thread::scope(|s| {
                let handles: Vec<_> = cells
                    .chunks(chunk)
                    .map(|part| {
                        let (w, gradsq, p) = (&w, &gradsq, &params);
                        s.spawn(move || train_cells(part, n, w, gradsq, p))
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap_or(f64::NAN))
                    .collect()
            });
            cost.push(costs.iter().sum::<f64>() / cells.len() as f64);
            if let Some(cb) = progress {
                let done = cells.len() as u64 * (epoch as u64 + 1);
                cb(&Progress {
                    words_done: done,
                    words_total: total,
                    epoch,
                    alpha: params.eta,
                    words_per_sec: done as f64 / train_start.elapsed().as_secs_f64().max(1e-9),
                });
            }
        }
        let report = GloveReport {
            cooccurrences: cells.len() as u64,
            cost,
            seconds: start.elapsed().as_secs_f64(),
            corpus_words: raw.total_words,
        };
        Ok((
            Glove {
                params,
                vocab,
                weights: w.into_inner(),
            },
            report,
        ))
    }

    /// Word vectors `W + W~` (without the biases).
    pub fn keyed_vectors(&self) -> KeyedVectors {
        let n = self.vocab.len();
        let d = self.params.vector_size;
        let d1 = d + 1;
        let mut v = vec![0f32; n * d];
        for i in 0..n {
            let a = &self.weights[i * d1..i * d1 + d];
            let b = &self.weights[(n + i) * d1..(n + i) * d1 + d];
            for k in 0..d {
                v[i * d + k] = a[k] + b[k];
            }
        }
        KeyedVectors::new(self.vocab.words.clone(), v, d)
            .expect("rows match the vocabulary")
            .with_counts(self.vocab.counts.clone())
    }
}

/// One AdaGrad pass over a slice of cells; returns the summed cost.
fn train_cells(
    cells: &[(u32, u32, f32)],
    n: usize,
    w: &SharedMatrix,
    gradsq: &SharedMatrix,
    p: &GloveParams,
) -> f64 {
    let d = p.vector_size;
    let mut cost = 0f64;
    let mut upd1 = vec![0f32; d];
    let mut upd2 = vec![0f32; d];
    for &(i, j, x) in cells {
        let (l1, l2) = (i as usize, n + j as usize);
        // SAFETY: l1 < n and l2 < 2n = rows; Hogwild! race between threads as in glove.c.
        let (w1, w2) = unsafe { (w.row(l1), w.row(l2)) };
        let (g1, g2) = unsafe { (gradsq.row(l1), gradsq.row(l2)) };
        let diff = dot(&w1[..d], &w2[..d]) + w1[d] + w2[d] - x.ln();
        let weight = if x > p.x_max {
            1.0
        } else {
            (x / p.x_max).powf(p.alpha)
        };
        let fdiff = weight * diff;
        if !fdiff.is_finite() {
            continue;
        }
        cost += 0.5 * (fdiff * diff) as f64;
        let fdiff = fdiff * p.eta;
        for k in 0..d {
            let t1 = fdiff * w2[k];
            let t2 = fdiff * w1[k];
            upd1[k] = t1 / g1[k].sqrt();
            upd2[k] = t2 / g2[k].sqrt();
            g1[k] += t1 * t1;
            g2[k] += t2 * t2;
        }
        // glove.c applies an update only when all of it is finite.
        if upd1.iter().chain(&upd2).all(|v| v.is_finite()) {
            for k in 0..d {
                w1[k] -= upd1[k];
                w2[k] -= upd2[k];
            }
        }
        w1[d] -= fdiff / g1[d].sqrt();
        w2[d] -= fdiff / g2[d].sqrt();
        g1[d] += fdiff * fdiff;
        g2[d] += fdiff * fdiff;
    }
    cost
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cooccurrence_counts_are_symmetric_and_distance_weighted() {
        let s = vec![vec!["a", "b", "c", "a"]];
        let corpus = Corpus::from_sentences(&s);
        let vocab = Vocab::new(vec!["a".into(), "b".into(), "c".into()], vec![2, 1, 1]);
        let cells = cooccurrences(&corpus, &vocab, 2).unwrap();
        let get = |i: u32, j: u32| cells.iter().find(|c| c.0 == i && c.1 == j).map(|c| c.2);
        // a-b at distance 1 (pos 0,1) and 2 (pos 1,3): 1 + 1/2.
        assert_eq!(get(0, 1), Some(1.5));
        assert_eq!(get(1, 0), Some(1.5));
        // a-c: distance 2 (0,2) and 1 (2,3): 1.5. b-c: 1.
        assert_eq!(get(0, 2), Some(1.5));
        assert_eq!(get(1, 2), Some(1.0));
        // a-a at distance 3 is outside the window of 2.
        assert_eq!(get(0, 0), None);
        let wide = cooccurrences(&corpus, &vocab, 3).unwrap();
        let aa = wide.iter().find(|c| c.0 == 0 && c.1 == 0).unwrap().2;
        assert!((aa - 2.0 / 3.0).abs() < 1e-6);
    }
}
