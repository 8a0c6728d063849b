//! `KeyedVectors`: a word → vector table and the queries everyone runs on it (gensim's
//! `gensim.models.keyedvectors.KeyedVectors`): similarity, nearest neighbours with positive and
//! negative words, 3CosMul, the odd one out, and vectors for unseen words from character n-grams
//! when the vectors came from FastText.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::OnceLock;

use crate::error::{EmbeddingsError, Result};
use crate::kernels::dot;
use crate::ngrams::ngram_buckets;
use crate::vocab::FxHashMap;

/// FastText n-gram vectors, used to build vectors for words outside the vocabulary.
#[derive(Debug, Clone)]
pub struct SubwordVectors {
    /// `bucket` rows of `dim` floats.
    pub ngrams: Vec<f32>,
    pub min_n: usize,
    pub max_n: usize,
    pub bucket: u32,
}

/// Words and their vectors, most frequent word first when the source was sorted by frequency.
#[derive(Debug, Clone)]
pub struct KeyedVectors {
    words: Vec<String>,
    index: FxHashMap<String, u32>,
    vectors: Vec<f32>,
    dim: usize,
    counts: Option<Vec<u64>>,
    subwords: Option<SubwordVectors>,
    /// Unit-length copy of `vectors`, built on the first similarity query.
    normed: OnceLock<Vec<f32>>,
}

/// A `(word, score)` pair, as returned by the neighbour queries.
pub type Scored = (String, f32);

impl KeyedVectors {
    /// `vectors` holds `words.len()` rows of `dim` floats. Duplicate words keep their first row
    /// (as gensim does when loading).
    pub fn new(words: Vec<String>, vectors: Vec<f32>, dim: usize) -> Result<KeyedVectors> {
        if dim == 0 {
            return Err(EmbeddingsError::param(
                "vector_size",
                0,
                "a positive number of dimensions",
            ));
        }
        if vectors.len() != words.len() * dim {
            return Err(EmbeddingsError::Invalid(format!(
                "{} words need {} floats of {} dimensions, got {}",
                words.len(),
                words.len() * dim,
                dim,
                vectors.len()
            )));
        }
        let mut index = FxHashMap::default();
        let mut keep_words = Vec::with_capacity(words.len());
        let mut keep_vecs = Vec::with_capacity(vectors.len());
        let mut duplicates = false;
        for (i, w) in words.into_iter().enumerate() {
            if index.contains_key(&w) {
                duplicates = true;
                continue;
            }
            index.insert(w.clone(), keep_words.len() as u32);
            keep_words.push(w);
            keep_vecs.extend_from_slice(&vectors[i * dim..(i + 1) * dim]);
        }
        let vectors = if duplicates { keep_vecs } else { vectors };
        Ok(KeyedVectors {
            words: keep_words,
            index,
            vectors,
            dim,
            counts: None,
            subwords: None,
            normed: OnceLock::new(),
        })
    }

    pub fn with_counts(mut self, counts: Vec<u64>) -> Self {
        if counts.len() == self.words.len() {
            self.counts = Some(counts);
        }
        self
    }

    pub fn with_subwords(mut self, subwords: SubwordVectors) -> Self {
        self.subwords = Some(subwords);
        self
    }

    pub fn len(&self) -> usize {
        self.words.len()
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn words(&self) -> &[String] {
        &self.words
    }

    pub fn counts(&self) -> Option<&[u64]> {
        self.counts.as_deref()
    }

    pub fn subwords(&self) -> Option<&SubwordVectors> {
        self.subwords.as_ref()
    }

    /// The whole matrix, row-major, `len() * dim()` floats.
    pub fn matrix(&self) -> &[f32] {
        &self.vectors
    }

    pub fn index_of(&self, word: &str) -> Option<usize> {
        self.index.get(word).map(|&i| i as usize)
    }

    /// True when the word is in the vocabulary (FastText vectors may still give a vector for
    /// other words: see [`KeyedVectors::vector`]).
    pub fn contains(&self, word: &str) -> bool {
        self.index.contains_key(word)
    }

    pub fn row(&self, i: usize) -> &[f32] {
        &self.vectors[i * self.dim..(i + 1) * self.dim]
    }

    fn oov(&self, word: &str) -> EmbeddingsError {
        EmbeddingsError::OutOfVocabulary {
            word: word.to_string(),
            vocab_size: self.len(),
            hint: if self.subwords.is_some() {
                " and has no character n-gram of the trained sizes; check the spelling"
            } else {
                "; check the spelling and case, lower --min-count when training, or use FastText vectors, which cover unseen words"
            },
        }
    }

    /// The vector of `word`. Words outside the vocabulary get the mean of their n-gram vectors
    /// when the vectors are FastText's (fastText's `getWordVector`), and an error otherwise.
    pub fn vector(&self, word: &str) -> Result<Cow<'_, [f32]>> {
        if let Some(i) = self.index_of(word) {
            return Ok(Cow::Borrowed(self.row(i)));
        }
        if let Some(sub) = &self.subwords {
            let buckets = ngram_buckets(word, sub.min_n, sub.max_n, sub.bucket);
            if !buckets.is_empty() {
                let mut v = vec![0f32; self.dim];
                for b in &buckets {
                    let row = &sub.ngrams[*b as usize * self.dim..(*b as usize + 1) * self.dim];
                    for (x, y) in v.iter_mut().zip(row) {
                        *x += y;
                    }
                }
                let inv = 1.0 / buckets.len() as f32;
                v.iter_mut().for_each(|x| *x *= inv);
                return Ok(Cow::Owned(v));
            }
        }
        Err(self.oov(word))
    }

    fn normed(&self) -> &[f32] {
        self.normed.get_or_init(|| {
            let mut out = self.vectors.clone();
            for row in out.chunks_exact_mut(self.dim) {
                normalize(row);
            }
            out
        })
    }

    fn normed_row(&self, i: usize) -> &[f32] {
        &self.normed()[i * self.dim..(i + 1) * self.dim]
    }

    /// Drops the cached unit vectors after the vectors changed (continued training).
    pub(crate) fn vectors_mut(&mut self) -> &mut Vec<f32> {
        self.normed = OnceLock::new();
        &mut self.vectors
    }

    /// Keeps only the first `n` words.
    pub fn truncate(&mut self, n: usize) {
        if n >= self.len() {
            return;
        }
        for w in self.words.drain(n..) {
            self.index.remove(&w);
        }
        self.vectors.truncate(n * self.dim);
        if let Some(c) = &mut self.counts {
            c.truncate(n);
        }
        self.normed = OnceLock::new();
    }

    /// Cosine similarity of two words.
    pub fn similarity(&self, a: &str, b: &str) -> Result<f32> {
        let va = self.vector(a)?;
        let vb = self.vector(b)?;
        Ok(cosine(&va, &vb))
    }

    /// Cosine similarity of the means of two word sets (gensim's `n_similarity`).
    pub fn n_similarity(&self, a: &[&str], b: &[&str]) -> Result<f32> {
        if a.is_empty() || b.is_empty() {
            return Err(EmbeddingsError::Invalid(
                "n_similarity needs at least one word on each side".into(),
            ));
        }
        let ma = self.mean_of(a, false)?;
        let mb = self.mean_of(b, false)?;
        Ok(cosine(&ma, &mb))
    }

    fn mean_of(&self, words: &[&str], unit: bool) -> Result<Vec<f32>> {
        let mut m = vec![0f32; self.dim];
        for w in words {
            let mut v = self.vector(w)?.into_owned();
            if unit {
                normalize(&mut v);
            }
            m.iter_mut().zip(&v).for_each(|(x, y)| *x += y);
        }
        let inv = 1.0 / words.len().max(1) as f32;
        m.iter_mut().for_each(|x| *x *= inv);
        Ok(m)
    }

    /// The `topn` words closest (cosine) to the mean of the unit vectors of `positive` minus
    /// those of `negative`, leaving out the query words; only the first `restrict_vocab` words
    /// are searched when given. `most_similar(&["king", "woman"], &["man"], 10, None)` answers
    /// "man is to king as woman is to ?".
    pub fn most_similar(
        &self,
        positive: &[&str],
        negative: &[&str],
        topn: usize,
        restrict_vocab: Option<usize>,
    ) -> Result<Vec<Scored>> {
        if positive.is_empty() && negative.is_empty() {
            return Err(EmbeddingsError::Invalid(
                "most_similar needs at least one positive or negative word".into(),
            ));
        }
        let mut mean = vec![0f32; self.dim];
        let mut exclude = Vec::new();
        for (words, weight) in [(positive, 1.0f32), (negative, -1.0f32)] {
            for w in words {
                let mut v = self.vector(w)?.into_owned();
                normalize(&mut v);
                mean.iter_mut().zip(&v).for_each(|(x, y)| *x += weight * y);
                if let Some(i) = self.index_of(w) {
                    exclude.push(i);
                }
            }
        }
        normalize(&mut mean);
        Ok(self.top_by_cosine(&mean, topn, restrict_vocab, &exclude))
    }

    /// Nearest words to a raw vector (gensim's `similar_by_vector`); nothing is excluded.
    pub fn similar_by_vector(
        &self,
        v: &[f32],
        topn: usize,
        restrict_vocab: Option<usize>,
    ) -> Result<Vec<Scored>> {
        if v.len() != self.dim {
            return Err(EmbeddingsError::Invalid(format!(
                "the query vector has {} dimensions but these vectors have {}",
                v.len(),
                self.dim
            )));
        }
        let mut q = v.to_vec();
        normalize(&mut q);
        Ok(self.top_by_cosine(&q, topn, restrict_vocab, &[]))
    }

    /// Indices and cosines of the `topn` best rows for a unit query vector.
    pub(crate) fn top_indices(
        &self,
        q: &[f32],
        topn: usize,
        restrict_vocab: Option<usize>,
        exclude: &[usize],
    ) -> Vec<(usize, f32)> {
        let n = restrict_vocab.unwrap_or(usize::MAX).min(self.len());
        let normed = self.normed();
        let scores = (0..n).map(|i| (i, dot(&normed[i * self.dim..(i + 1) * self.dim], q)));
        top_k(scores.filter(|(i, _)| !exclude.contains(i)), topn)
    }

    fn top_by_cosine(
        &self,
        q: &[f32],
        topn: usize,
        restrict_vocab: Option<usize>,
        exclude: &[usize],
    ) -> Vec<Scored> {
        self.top_indices(q, topn, restrict_vocab, exclude)
            .into_iter()
            .map(|(i, s)| (self.words[i].clone(), s))
            .collect()
    }

    /// 3CosMul (Levy & Goldberg 2014), as gensim's `most_similar_cosmul`: each candidate scores
    /// the product of `(1 + cos) / 2` with the positive words over the same product with the
    /// negative words (+1e-6).
    pub fn most_similar_cosmul(
        &self,
        positive: &[&str],
        negative: &[&str],
        topn: usize,
        restrict_vocab: Option<usize>,
    ) -> Result<Vec<Scored>> {
        if positive.is_empty() && negative.is_empty() {
            return Err(EmbeddingsError::Invalid(
                "most_similar_cosmul needs at least one positive or negative word".into(),
            ));
        }
        let unit = |w: &str| -> Result<Vec<f32>> {
            let mut v = self.vector(w)?.into_owned();
            normalize(&mut v);
            Ok(v)
        };
        let pos: Vec<Vec<f32>> = positive.iter().map(|w| unit(w)).collect::<Result<_>>()?;
        let neg: Vec<Vec<f32>> = negative.iter().map(|w| unit(w)).collect::<Result<_>>()?;
        let exclude: Vec<usize> = positive
            .iter()
            .chain(negative)
            .filter_map(|w| self.index_of(w))
            .collect();
        let n = restrict_vocab.unwrap_or(usize::MAX).min(self.len());
        let normed = self.normed();
        let scores = (0..n).filter(|i| !exclude.contains(i)).map(|i| {
            let row = &normed[i * self.dim..(i + 1) * self.dim];
            let p: f32 = pos.iter().map(|v| (1.0 + dot(row, v)) / 2.0).product();
            let q: f32 = neg.iter().map(|v| (1.0 + dot(row, v)) / 2.0).product();
            (i, p / (q + 1e-6))
        });
        Ok(top_k(scores, topn)
            .into_iter()
            .map(|(i, s)| (self.words[i].clone(), s))
            .collect())
    }

    /// The word furthest from the mean of the others' unit vectors (gensim's `doesnt_match`).
    /// Words outside the vocabulary are ignored, as gensim does; an error if none is left.
    pub fn doesnt_match(&self, words: &[&str]) -> Result<String> {
        let known: Vec<&str> = words.iter().copied().filter(|w| self.contains(w)).collect();
        if known.is_empty() {
            return Err(EmbeddingsError::Invalid(format!(
                "none of {words:?} is in the vocabulary; doesnt_match needs known words"
            )));
        }
        let mut mean = self.mean_of(&known, true)?;
        normalize(&mut mean);
        let mut best = (known[0], f32::INFINITY);
        for w in &known {
            let i = self.index_of(w).expect("filtered to known words");
            let s = dot(self.normed_row(i), &mean);
            if s < best.1 {
                best = (w, s);
            }
        }
        Ok(best.0.to_string())
    }
}

pub(crate) fn normalize(v: &mut [f32]) {
    let n = dot(v, v).sqrt();
    if n > 0.0 {
        let inv = 1.0 / n;
        v.iter_mut().for_each(|x| *x *= inv);
    }
}

pub(crate) fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let d = dot(a, b);
    let n = (dot(a, a) * dot(b, b)).sqrt();
    if n > 0.0 {
        d / n
    } else {
        0.0
    }
}

/// The `k` highest scores, best first; ties keep the lower index first.
fn top_k(scores: impl Iterator<Item = (usize, f32)>, k: usize) -> Vec<(usize, f32)> {
    #[derive(PartialEq)]
    struct Entry(f32, usize);
    impl Eq for Entry {}
    impl PartialOrd for Entry {
        fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
            Some(self.cmp(o))
        }
    }
    impl Ord for Entry {
        // A min-heap on score (then max on index), so the root is the entry to evict.
        fn cmp(&self, o: &Self) -> Ordering {
            o.0.total_cmp(&self.0).then(self.1.cmp(&o.1))
        }
    }
    if k == 0 {
        return Vec::new();
    }
    let mut heap = BinaryHeap::with_capacity(k + 1);
    for (i, s) in scores {
        let s = if s.is_nan() { f32::NEG_INFINITY } else { s };
        if heap.len() < k {
            heap.push(Entry(s, i));
        } else if let Some(top) = heap.peek() {
            if s > top.0 {
                heap.pop();
                heap.push(Entry(s, i));
            }
        }
    }
    let mut v: Vec<(usize, f32)> = heap.into_iter().map(|Entry(s, i)| (i, s)).collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Four words on the unit circle plus a fifth; easy to reason about by hand.
    fn toy() -> KeyedVectors {
        let words = ["king", "queen", "man", "woman", "apple"]
            .map(String::from)
            .to_vec();
        #[rustfmt::skip]
        let v = vec![
            1.0, 1.0, 0.0,   // king  = royal + male
            1.0, 0.0, 1.0,   // queen = royal + female
            0.0, 1.0, 0.0,   // man
            0.0, 0.0, 1.0,   // woman
            -1.0, 0.1, 0.1,  // apple
        ];
        KeyedVectors::new(words, v, 3).unwrap()
    }

    #[test]
    fn similarity_and_neighbours() {
        let kv = toy();
        assert!((kv.similarity("king", "king").unwrap() - 1.0).abs() < 1e-6);
        assert!((kv.similarity("man", "woman").unwrap()).abs() < 1e-6);
        let s = kv.most_similar(&["king"], &[], 2, None).unwrap();
        // cos(king, man) = 1/sqrt(2), cos(king, queen) = 1/2.
        assert_eq!(s[0].0, "man");
        assert!((s[0].1 - 0.5f32.sqrt()).abs() < 1e-6);
        assert_eq!(s[1].0, "queen");
        assert!((s[1].1 - 0.5).abs() < 1e-6);
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn analogy_by_vector_offset() {
        let kv = toy();
        let s = kv
            .most_similar(&["king", "woman"], &["man"], 1, None)
            .unwrap();
        assert_eq!(s[0].0, "queen");
        let s = kv
            .most_similar_cosmul(&["king", "woman"], &["man"], 1, None)
            .unwrap();
        assert_eq!(s[0].0, "queen");
    }

    #[test]
    fn restrict_vocab_limits_the_search() {
        let kv = toy();
        let s = kv.most_similar(&["king"], &[], 5, Some(3)).unwrap();
        assert!(s.iter().all(|(w, _)| w == "queen" || w == "man"), "{s:?}");
    }

    #[test]
    fn doesnt_match_and_n_similarity() {
        let kv = toy();
        assert_eq!(
            kv.doesnt_match(&["king", "queen", "man", "apple", "unknown"])
                .unwrap(),
            "apple"
        );
        let s = kv
            .n_similarity(&["king", "queen"], &["man", "woman"])
            .unwrap();
        // mean(king, queen) = (1, .5, .5), mean(man, woman) = (0, .5, .5): cos = .5 / (sqrt(1.5) sqrt(.5))
        assert!((s - 0.5 / (1.5f32.sqrt() * 0.5f32.sqrt())).abs() < 1e-6);
    }

    #[test]
    fn raw_vector_neighbours() {
        let kv = toy();
        let s = kv.similar_by_vector(&[0.0, 2.0, 0.1], 1, None).unwrap();
        assert_eq!(s[0].0, "man");
        assert!(kv.similar_by_vector(&[1.0], 1, None).is_err());
    }

    #[test]
    fn out_of_vocabulary_query_is_an_error_not_a_panic() {
        let kv = toy();
        let err = kv.most_similar(&["kingg"], &[], 3, None).unwrap_err();
        assert!(matches!(err, EmbeddingsError::OutOfVocabulary { .. }));
        assert!(err.to_string().contains("'kingg'"));
        assert!(kv.similarity("king", "nope").is_err());
        assert!(kv.vector("nope").is_err());
    }

    #[test]
    fn duplicate_words_keep_the_first_row() {
        let kv = KeyedVectors::new(vec!["a".into(), "a".into()], vec![1.0, 2.0], 1).unwrap();
        assert_eq!(kv.len(), 1);
        assert_eq!(kv.vector("a").unwrap()[0], 1.0);
    }

    #[test]
    fn top_k_orders_and_breaks_ties_by_index() {
        let got = top_k(
            [(0, 0.5), (1, 0.9), (2, 0.5), (3, f32::NAN), (4, 0.7)].into_iter(),
            3,
        );
        assert_eq!(got, vec![(1, 0.9), (4, 0.7), (0, 0.5)]);
    }
}
