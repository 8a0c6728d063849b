//! Vocabulary: counting, pruning, the frequency cut-offs, and the tables training derives from the
//! counts (subsampling thresholds, the negative-sampling distribution, the Huffman tree).
//!
//! Each piece follows gensim 4.4 (`gensim/models/word2vec.py`: `scan_vocab`, `prepare_vocab`,
//! `make_cum_table`) or word2vec.c where gensim defers to it, so results can be checked exactly.

use std::collections::{BinaryHeap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

use crate::corpus::Corpus;
use crate::error::{EmbeddingsError, Result};

/// The hasher rustc uses for its own tables: a multiply-rotate over 8-byte words. Vocabulary
/// look-ups happen once per corpus token per epoch, where SipHash would cost more than the rest
/// of the reading.
#[derive(Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

const FX_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(FX_SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().expect("chunk of 8")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut buf = [0u8; 8];
            buf[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(buf));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(i as u64);
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(i as u64);
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

pub type FxHashMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// Word counts in order of first appearance, as gensim's `raw_vocab` dict keeps them.
#[derive(Debug, Default, Clone)]
pub struct RawVocab {
    pub words: Vec<String>,
    pub counts: Vec<u64>,
    index: FxHashMap<String, u32>,
    /// Tokens seen, including those later pruned.
    pub total_words: u64,
    pub sentences: u64,
}

impl RawVocab {
    #[inline]
    pub fn add(&mut self, word: &str) {
        self.total_words += 1;
        if let Some(&i) = self.index.get(word) {
            self.counts[i as usize] += 1;
        } else {
            self.index.insert(word.to_string(), self.words.len() as u32);
            self.words.push(word.to_string());
            self.counts.push(1);
        }
    }

    pub fn len(&self) -> usize {
        self.words.len()
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    pub fn count(&self, word: &str) -> u64 {
        self.index.get(word).map_or(0, |&i| self.counts[i as usize])
    }

    /// gensim's `utils.prune_vocab`: drop every word seen fewer than `min_reduce` times.
    pub fn prune(&mut self, min_reduce: u64) {
        let mut words = Vec::new();
        let mut counts = Vec::new();
        for (w, &c) in self.words.drain(..).zip(&self.counts) {
            if c >= min_reduce {
                words.push(w);
                counts.push(c);
            }
        }
        self.index = words
            .iter()
            .enumerate()
            .map(|(i, w)| (w.clone(), i as u32))
            .collect();
        self.words = words;
        self.counts = counts;
    }

    /// Counts every token of the corpus. With `max_vocab_size`, whenever the table grows past it
    /// the rarest words are dropped with a threshold that rises by one each time (gensim's
    /// `scan_vocab`), so memory stays bounded on corpora with huge vocabularies.
    pub fn scan(corpus: &Corpus, max_vocab_size: Option<usize>) -> Result<RawVocab> {
        corpus.check()?;
        let mut raw = RawVocab::default();
        let mut min_reduce = 1;
        let mut stream = corpus.stream();
        while stream.next_sentence(|w| raw.add(w))? {
            raw.sentences += 1;
            if let Some(max) = max_vocab_size {
                if raw.len() > max {
                    raw.prune(min_reduce);
                    min_reduce += 1;
                }
            }
        }
        if raw.total_words == 0 {
            return Err(EmbeddingsError::EmptyCorpus {
                what: corpus.describe(),
            });
        }
        Ok(raw)
    }
}

/// The final vocabulary, most frequent word first.
#[derive(Debug, Default, Clone)]
pub struct Vocab {
    pub words: Vec<String>,
    pub counts: Vec<u64>,
    index: FxHashMap<String, u32>,
}

impl Vocab {
    pub fn new(words: Vec<String>, counts: Vec<u64>) -> Self {
        let index = words
            .iter()
            .enumerate()
            .map(|(i, w)| (w.clone(), i as u32))
            .collect();
        Vocab {
            words,
            counts,
            index,
        }
    }

    pub fn len(&self) -> usize {
        self.words.len()
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    #[inline]
    pub fn get(&self, word: &str) -> Option<u32> {
        self.index.get(word).copied()
    }

    pub fn total_count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// gensim's `prepare_vocab` without `update`: the effective min_count is raised so that at
    /// most `max_final_vocab` words survive, the survivors keep their order of first appearance
    /// and are then sorted by descending count (stable, so ties stay in first-seen order).
    pub fn from_raw(
        raw: &RawVocab,
        min_count: u64,
        max_final_vocab: Option<usize>,
    ) -> Result<Vocab> {
        let min_count = effective_min_count(raw, min_count, max_final_vocab);
        let mut order: Vec<usize> = (0..raw.len())
            .filter(|&i| raw.counts[i] >= min_count)
            .collect();
        if order.is_empty() {
            return Err(EmbeddingsError::NothingReachesMinCount {
                min_count,
                total_words: raw.total_words,
                distinct: raw.len(),
                max_count: raw.counts.iter().copied().max().unwrap_or(0),
            });
        }
        order.sort_by_key(|&i| std::cmp::Reverse(raw.counts[i]));
        Ok(Vocab::new(
            order.iter().map(|&i| raw.words[i].clone()).collect(),
            order.iter().map(|&i| raw.counts[i]).collect(),
        ))
    }

    /// gensim's `prepare_vocab(update=True)`: counts of known words grow, new words reaching
    /// `min_count` are appended in first-seen order (existing rows keep their index, so trained
    /// weights stay where they are). Returns how many words were added.
    pub fn extend(&mut self, raw: &RawVocab, min_count: u64) -> usize {
        let mut added = 0;
        for (w, &c) in raw.words.iter().zip(&raw.counts) {
            if let Some(i) = self.get(w) {
                self.counts[i as usize] += c;
            } else if c >= min_count {
                self.index.insert(w.clone(), self.words.len() as u32);
                self.words.push(w.clone());
                self.counts.push(c);
                added += 1;
            }
        }
        added
    }
}

/// gensim: with `max_final_vocab`, the count of the first word that would not fit, plus one.
pub fn effective_min_count(raw: &RawVocab, min_count: u64, max_final_vocab: Option<usize>) -> u64 {
    let Some(max) = max_final_vocab else {
        return min_count;
    };
    let mut sorted = raw.counts.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    let calc = if max < sorted.len() {
        sorted[max] + 1
    } else {
        1
    };
    calc.max(min_count)
}

/// Frequent-word subsampling as gensim computes it: word `w` with count `c` is kept with
/// probability `(sqrt(c / t) + 1) * t / c` (capped at 1), `t = sample * total retained count`.
/// Returned as gensim's `sample_int`: the probability scaled to 2^32, compared against a 32-bit
/// random draw during training.
pub fn sample_ints(counts: &[u64], sample: f64) -> Vec<u32> {
    let retain_total: u64 = counts.iter().sum();
    let threshold = if sample <= 0.0 {
        retain_total as f64
    } else if sample < 1.0 {
        sample * retain_total as f64
    } else {
        (sample * (3.0 + 5f64.sqrt()) / 2.0).trunc()
    };
    counts
        .iter()
        .map(|&c| {
            let v = c as f64;
            let p = ((v / threshold).sqrt() + 1.0) * (threshold / v);
            let p = if p < 1.0 { p } else { 1.0 };
            (p * 4294967296.0).round().min(u32::MAX as f64) as u32
        })
        .collect()
}

/// gensim's `make_cum_table`: the cumulative distribution of `count^ns_exponent` scaled to
/// `domain` (2^31 - 1), sampled with a binary search. `bucket_start` makes the search O(1) on
/// average without changing its result: it holds, for each of 2^16 equal slices of the domain,
/// the `bisect_left` of the slice's lower edge.
#[derive(Debug, Clone)]
pub struct CumTable {
    pub cum: Vec<u32>,
    bucket_start: Vec<u32>,
}

pub const CUM_DOMAIN: u32 = (1u32 << 31) - 1;
const CUM_BUCKET_BITS: u32 = 16;

impl CumTable {
    pub fn new(counts: &[u64], ns_exponent: f64) -> CumTable {
        let total: f64 = counts.iter().map(|&c| (c as f64).powf(ns_exponent)).sum();
        let mut cum = Vec::with_capacity(counts.len());
        let mut acc = 0.0f64;
        for &c in counts {
            acc += (c as f64).powf(ns_exponent);
            cum.push((acc / total * CUM_DOMAIN as f64).round() as u32);
        }
        let nb = 1usize << CUM_BUCKET_BITS;
        let width = (CUM_DOMAIN as u64 >> CUM_BUCKET_BITS) + 1;
        let mut bucket_start = Vec::with_capacity(nb + 1);
        for b in 0..=nb {
            let lo = (b as u64 * width).min(CUM_DOMAIN as u64) as u32;
            bucket_start.push(cum.partition_point(|&x| x < lo) as u32);
        }
        CumTable { cum, bucket_start }
    }

    /// Python's `bisect_left(cum, r)`: the first word whose cumulative bound is >= `r`.
    #[inline]
    pub fn bisect(&self, r: u32) -> u32 {
        let width_bits = 31 - CUM_BUCKET_BITS;
        let b = (r >> width_bits) as usize;
        let lo = self.bucket_start[b] as usize;
        let hi = (self.bucket_start[b + 1] as usize + 1).min(self.cum.len());
        (lo + self.cum[lo..hi].partition_point(|&x| x < r)) as u32
    }

    /// Draws a word from a 48-bit LCG state. gensim takes `(state >> 16) % cum[-1]`; taking 31
    /// bits of the state directly gives the same distribution (the domain is 2^31 - 1) without
    /// a 64-bit division in the innermost loop.
    #[inline]
    pub fn sample(&self, next_random: &mut u64) -> u32 {
        let r = ((*next_random >> 16) & 0x7FFF_FFFF) as u32;
        *next_random = next_random.wrapping_mul(25_214_903_917).wrapping_add(11) & 0xFFFF_FFFF_FFFF;
        self.bisect(r)
    }
}

/// The Huffman tree for hierarchical softmax: for each word, the path of inner nodes from the
/// root (`points`, row indices into the inner-node matrix `syn1`) and the branch taken at each
/// (`codes`, 0 or 1). Built with a heap so it works on any vocabulary order (continued training
/// appends words), ties broken by node id so the tree is deterministic.
#[derive(Debug, Clone, Default)]
pub struct Huffman {
    pub codes: Vec<Vec<u8>>,
    pub points: Vec<Vec<u32>>,
}

impl Huffman {
    pub fn new(counts: &[u64]) -> Huffman {
        let n = counts.len();
        let mut codes = vec![Vec::new(); n];
        let mut points = vec![Vec::new(); n];
        if n < 2 {
            return Huffman { codes, points };
        }
        // Nodes 0..n are leaves, n..2n-1 inner nodes; inner node k is row k - n of syn1.
        let mut parent = vec![0usize; 2 * n - 1];
        let mut branch = vec![0u8; 2 * n - 1];
        let mut heap: BinaryHeap<std::cmp::Reverse<(u64, usize)>> = counts
            .iter()
            .enumerate()
            .map(|(i, &c)| std::cmp::Reverse((c, i)))
            .collect();
        for k in n..2 * n - 1 {
            let std::cmp::Reverse((c1, a)) = heap.pop().expect("heap holds two nodes");
            let std::cmp::Reverse((c2, b)) = heap.pop().expect("heap holds two nodes");
            parent[a] = k;
            parent[b] = k;
            branch[b] = 1;
            heap.push(std::cmp::Reverse((c1 + c2, k)));
        }
        let root = 2 * n - 2;
        for w in 0..n {
            let (mut code, mut point) = (Vec::new(), Vec::new());
            let mut node = w;
            while node != root {
                code.push(branch[node]);
                node = parent[node];
                point.push((node - n) as u32);
            }
            code.reverse();
            point.reverse();
            codes[w] = code;
            points[w] = point;
        }
        Huffman { codes, points }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw_of(text: &str, max_vocab_size: Option<usize>) -> RawVocab {
        let sentences: Vec<Vec<&str>> = text
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        RawVocab::scan(&Corpus::from_sentences(&sentences), max_vocab_size).unwrap()
    }

    #[test]
    fn counting_keeps_first_seen_order_and_totals() {
        let raw = raw_of("b a b\nc b a", None);
        assert_eq!(raw.words, ["b", "a", "c"]);
        assert_eq!(raw.counts, [3, 2, 1]);
        assert_eq!(raw.total_words, 6);
        assert_eq!(raw.sentences, 2);
    }

    #[test]
    fn min_count_and_descending_sort() {
        let raw = raw_of("x a b b c c c\nd d d d a", None);
        let v = Vocab::from_raw(&raw, 2, None).unwrap();
        assert_eq!(v.words, ["d", "c", "a", "b"]);
        assert_eq!(v.counts, [4, 3, 2, 2]);
        assert_eq!(v.get("a"), Some(2));
        assert_eq!(v.get("x"), None);
    }

    #[test]
    fn max_vocab_size_prunes_like_gensim() {
        // gensim: after each sentence, if len(vocab) > max_vocab_size, drop counts < min_reduce,
        // then min_reduce += 1.
        // s1: a b c   -> {a1 b1 c1} (3 > 2) prune <1: nothing; min_reduce=2
        // s2: a a d   -> {a3 b1 c1 d1} (4 > 2) prune <2: {a3}; min_reduce=3
        // s3: e e e f -> {a3 e3 f1} (3 > 2) prune <3: {a3 e3}; min_reduce=4
        let raw = raw_of("a b c\na a d\ne e e f", Some(2));
        assert_eq!(raw.words, ["a", "e"]);
        assert_eq!(raw.counts, [3, 3]);
        assert_eq!(raw.total_words, 10);
    }

    #[test]
    fn max_final_vocab_raises_min_count() {
        let raw = raw_of("a a a a b b b c c d", None);
        // Sorted counts 4 3 2 1; keeping 2 words means min_count = count of the 3rd + 1 = 3.
        assert_eq!(effective_min_count(&raw, 1, Some(2)), 3);
        assert_eq!(effective_min_count(&raw, 4, Some(2)), 4);
        assert_eq!(effective_min_count(&raw, 1, Some(10)), 1);
        let v = Vocab::from_raw(&raw, 1, Some(2)).unwrap();
        assert_eq!(v.words, ["a", "b"]);
    }

    #[test]
    fn nothing_reaching_min_count_is_a_clear_error() {
        let raw = raw_of("a b c", None);
        let msg = Vocab::from_raw(&raw, 5, None).unwrap_err().to_string();
        assert!(
            msg.contains("min_count=5") && msg.contains("--min-count"),
            "{msg}"
        );
    }

    #[test]
    fn empty_corpus_is_a_clear_error() {
        let empty: Vec<Vec<&str>> = vec![vec![], vec![]];
        let err = RawVocab::scan(&Corpus::from_sentences(&empty), None).unwrap_err();
        assert!(matches!(err, EmbeddingsError::EmptyCorpus { .. }), "{err}");
    }

    #[test]
    fn extend_appends_new_words_and_adds_counts() {
        let mut v = Vocab::from_raw(&raw_of("a a b", None), 1, None).unwrap();
        let added = v.extend(&raw_of("b c c z", None), 2);
        assert_eq!(added, 1);
        assert_eq!(v.words, ["a", "b", "c"]);
        assert_eq!(v.counts, [2, 2, 2]);
    }

    #[test]
    fn subsampling_matches_gensim_formula() {
        // Total 1000, sample 1e-2 -> threshold 10.
        // count 500: p = (sqrt(50) + 1) * 10/500 = 0.16142135623730950
        // count 10:  p = (1 + 1) * 1 = 2 -> capped at 1
        let ints = sample_ints(&[500, 490, 10], 1e-2);
        assert_eq!(
            ints[0],
            (0.1614213562373095f64 * 4294967296.0).round() as u32
        );
        let p1 = ((490f64 / 10.0).sqrt() + 1.0) * (10.0 / 490.0);
        assert_eq!(ints[1], (p1 * 4294967296.0).round() as u32);
        assert_eq!(ints[2], u32::MAX);
        // sample = 0 keeps everything.
        assert!(sample_ints(&[500, 490, 10], 0.0)
            .iter()
            .all(|&x| x == u32::MAX));
    }

    #[test]
    fn cum_table_matches_gensim() {
        // counts 16, 1, 81 with exponent 0.5 -> weights 4, 1, 9, total 14.
        let t = CumTable::new(&[16, 1, 81], 0.5);
        let d = CUM_DOMAIN as f64;
        assert_eq!(
            t.cum,
            [
                (4.0 / 14.0 * d).round() as u32,
                (5.0 / 14.0 * d).round() as u32,
                CUM_DOMAIN
            ]
        );
        // bisect_left semantics, including the exact bounds.
        assert_eq!(t.bisect(0), 0);
        assert_eq!(t.bisect(t.cum[0]), 0);
        assert_eq!(t.bisect(t.cum[0] + 1), 1);
        assert_eq!(t.bisect(t.cum[1]), 1);
        assert_eq!(t.bisect(t.cum[1] + 1), 2);
        assert_eq!(t.bisect(CUM_DOMAIN - 1), 2);
    }

    #[test]
    fn cum_table_bucketed_search_equals_plain_bisect() {
        let counts: Vec<u64> = (1..3000u64).map(|i| 100_000 / i + 1).collect();
        let t = CumTable::new(&counts, 0.75);
        let mut r = 12345u64;
        for _ in 0..20_000 {
            r = r
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let x = ((r >> 33) % CUM_DOMAIN as u64) as u32;
            assert_eq!(t.bisect(x) as usize, t.cum.partition_point(|&c| c < x));
        }
    }

    #[test]
    fn sampled_frequencies_follow_the_smoothed_unigram_distribution() {
        let t = CumTable::new(&[900, 90, 10], 0.75);
        let mut state = 1u64;
        let mut seen = [0u32; 3];
        for _ in 0..100_000 {
            seen[t.sample(&mut state) as usize] += 1;
        }
        let w: Vec<f64> = [900f64, 90.0, 10.0].iter().map(|c| c.powf(0.75)).collect();
        let z: f64 = w.iter().sum();
        for i in 0..3 {
            let expected = w[i] / z * 100_000.0;
            assert!(
                (seen[i] as f64 - expected).abs() < 0.03 * 100_000.0,
                "{seen:?}"
            );
        }
    }

    #[test]
    fn huffman_tree_is_optimal_and_prefix_free() {
        // Classic example: counts 45 13 12 16 9 5 -> code lengths 1 3 3 3 4 4.
        let counts = [45u64, 13, 12, 16, 9, 5];
        let h = Huffman::new(&counts);
        let lens: Vec<usize> = h.codes.iter().map(|c| c.len()).collect();
        assert_eq!(lens, [1, 3, 3, 3, 4, 4]);
        for (i, a) in h.codes.iter().enumerate() {
            for (j, b) in h.codes.iter().enumerate() {
                if i != j {
                    assert!(!b.starts_with(a), "code {i} is a prefix of code {j}");
                }
            }
        }
        // Every path starts at the root (the last inner node) and stays within the n-1 rows.
        for p in &h.points {
            assert_eq!(p[0], 4);
            assert!(p.iter().all(|&x| x < 5));
        }
        // Exact codes with (count, id) tie-breaking: 5+9=14 (node 6), 12+13=25 (7),
        // 14+16=30 (8), 25+30=55 (9), 45+55=100 (root 10).
        assert_eq!(h.codes[0], [0]);
        assert_eq!(h.codes[5], [1, 1, 0, 0]);
        assert_eq!(h.points[5], [4, 3, 2, 0]);
    }

    #[test]
    fn huffman_degenerate_vocabularies() {
        assert!(Huffman::new(&[]).codes.is_empty());
        assert_eq!(Huffman::new(&[7]).codes, vec![Vec::<u8>::new()]);
        let h = Huffman::new(&[3, 3]);
        assert_eq!(h.codes, vec![vec![0], vec![1]]);
        assert_eq!(h.points, vec![vec![0], vec![0]]);
    }
}
