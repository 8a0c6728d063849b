//! Word2Vec (Mikolov et al. 2013, "Efficient Estimation of Word Representations in Vector Space"
//! and "Distributed Representations of Words and Phrases") and FastText (Bojanowski et al. 2017,
//! "Enriching Word Vectors with Subword Information"): the models, their parameters with gensim's
//! names and defaults, vocabulary building, training, continued training, save and load.
//!
//! The arithmetic is word2vec.c's and gensim's `word2vec_inner.pyx`; see `train.rs`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::corpus::Corpus;
use crate::error::{EmbeddingsError, Result};
use crate::formats::{FastTextArgs, FastTextBin};
use crate::kernels::SharedMatrix;
use crate::keyed_vectors::KeyedVectors;
use crate::ngrams::ngram_buckets;
use crate::train::{
    self, init_row, init_row_from, ProgressFn, Setup, Subwords, TrainReport, Weights,
};
use crate::vocab::{sample_ints, CumTable, Huffman, RawVocab, Vocab};

/// Word2Vec hyper-parameters, named and defaulted as gensim 4.4's `Word2Vec`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Word2VecParams {
    pub vector_size: usize,
    /// Maximum distance between the centre word and a context word; each centre word uses a
    /// window drawn uniformly from 1..=window.
    pub window: usize,
    /// Words seen fewer times are dropped.
    pub min_count: u64,
    /// Bounds the vocabulary while counting (gensim's pruning); `None` for no bound.
    pub max_vocab_size: Option<usize>,
    /// Raises `min_count` so that at most this many words are kept.
    pub max_final_vocab: Option<usize>,
    /// Frequent-word subsampling threshold; 0 disables it.
    pub sample: f64,
    pub seed: u64,
    pub workers: usize,
    pub alpha: f32,
    pub min_alpha: f32,
    /// Skip-gram when true, CBOW otherwise.
    pub sg: bool,
    /// Hierarchical softmax.
    pub hs: bool,
    /// Negative samples per positive example; 0 disables negative sampling.
    pub negative: usize,
    pub ns_exponent: f64,
    /// CBOW: average the context vectors (true) or sum them.
    pub cbow_mean: bool,
    pub epochs: usize,
}

impl Default for Word2VecParams {
    fn default() -> Self {
        Word2VecParams {
            vector_size: 100,
            window: 5,
            min_count: 5,
            max_vocab_size: None,
            max_final_vocab: None,
            sample: 1e-3,
            seed: 1,
            workers: 3,
            alpha: 0.025,
            min_alpha: 0.0001,
            sg: false,
            hs: false,
            negative: 5,
            ns_exponent: 0.75,
            cbow_mean: true,
            epochs: 5,
        }
    }
}

impl Word2VecParams {
    pub fn validate(&self) -> Result<()> {
        if self.vector_size == 0 {
            return Err(EmbeddingsError::param("vector_size", 0, "at least 1"));
        }
        if self.window == 0 {
            return Err(EmbeddingsError::param("window", 0, "at least 1"));
        }
        if self.workers == 0 {
            return Err(EmbeddingsError::param("workers", 0, "at least 1 thread"));
        }
        if !self.hs && self.negative == 0 {
            return Err(EmbeddingsError::param(
                "negative",
                0,
                "with hs=0 there is nothing to train: set negative > 0 (e.g. 5) or hs=1",
            ));
        }
        if !(self.alpha > 0.0 && self.alpha.is_finite()) {
            return Err(EmbeddingsError::param(
                "alpha",
                self.alpha,
                "a positive learning rate such as 0.025",
            ));
        }
        if !(self.min_alpha >= 0.0 && self.min_alpha <= self.alpha) {
            return Err(EmbeddingsError::param(
                "min_alpha",
                self.min_alpha,
                "between 0 and alpha",
            ));
        }
        if !(self.sample >= 0.0 && self.sample.is_finite()) {
            return Err(EmbeddingsError::param(
                "sample",
                self.sample,
                "0 (off) or a positive threshold such as 1e-3",
            ));
        }
        if !self.ns_exponent.is_finite() {
            return Err(EmbeddingsError::param(
                "ns_exponent",
                self.ns_exponent,
                "a finite number such as 0.75",
            ));
        }
        if self.max_vocab_size == Some(0) || self.max_final_vocab == Some(0) {
            return Err(EmbeddingsError::param(
                "max_vocab_size/max_final_vocab",
                0,
                "at least 1, or unset",
            ));
        }
        Ok(())
    }
}

/// FastText's subword settings, named and defaulted as gensim's `FastText`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SubwordParams {
    pub min_n: usize,
    pub max_n: usize,
    pub bucket: u32,
}

impl Default for SubwordParams {
    fn default() -> Self {
        SubwordParams {
            min_n: 3,
            max_n: 6,
            bucket: 2_000_000,
        }
    }
}

/// State shared by Word2Vec and FastText: vocabulary, input rows, output layers.
#[derive(Debug, Clone)]
struct Core {
    params: Word2VecParams,
    sub: Option<SubwordParams>,
    vocab: Vocab,
    /// Word rows, then (FastText) `bucket` n-gram rows.
    input: Vec<f32>,
    syn1neg: Vec<f32>,
    syn1: Vec<f32>,
    /// Raw tokens in the last corpus scanned: training's progress denominator.
    corpus_words: u64,
}

impl Core {
    fn new(params: Word2VecParams, sub: Option<SubwordParams>) -> Result<Core> {
        params.validate()?;
        if let Some(s) = sub {
            if s.min_n == 0 || s.min_n > s.max_n {
                return Err(EmbeddingsError::param(
                    "min_n",
                    s.min_n,
                    "at least 1 and at most max_n",
                ));
            }
        }
        Ok(Core {
            params,
            sub,
            vocab: Vocab::default(),
            input: Vec::new(),
            syn1neg: Vec::new(),
            syn1: Vec::new(),
            corpus_words: 0,
        })
    }

    fn dim(&self) -> usize {
        self.params.vector_size
    }

    fn bucket(&self) -> usize {
        self.sub.map_or(0, |s| s.bucket as usize)
    }

    /// Initial scale: gensim 4 draws every input row uniformly from ±1/dim (`prep_vectors`),
    /// for Word2Vec and FastText alike (word2vec.c and gensim 3 used ±0.5/dim).
    fn init_scale(&self) -> f32 {
        1.0 / self.dim() as f32
    }

    fn build_vocab(&mut self, corpus: &Corpus, update: bool) -> Result<usize> {
        let raw = RawVocab::scan(corpus, self.params.max_vocab_size)?;
        let dim = self.dim();
        let old = self.vocab.len();
        if update && old > 0 {
            self.vocab.extend(&raw, self.params.min_count);
        } else {
            self.vocab = Vocab::from_raw(&raw, self.params.min_count, self.params.max_final_vocab)?;
            self.input.clear();
            self.syn1neg.clear();
            self.syn1.clear();
        }
        let start = if update { old } else { 0 };
        let n = self.vocab.len();
        let scale = self.init_scale();
        // Word rows go first; FastText's n-gram rows follow and are kept when words are added.
        let ngrams = if self.input.len() > start * dim {
            self.input.split_off(start * dim)
        } else {
            Vec::new()
        };
        self.input.resize(n * dim, 0.0);
        for i in start..n {
            init_row(
                &self.vocab.words[i],
                self.params.seed,
                scale,
                &mut self.input[i * dim..(i + 1) * dim],
            );
        }
        if self.sub.is_some() {
            if ngrams.is_empty() {
                let b = self.bucket();
                let mut rows = vec![0f32; b * dim];
                for (r, row) in rows.chunks_exact_mut(dim).enumerate() {
                    init_row_from(
                        self.params.seed.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ (r as u64 + 1),
                        scale,
                        row,
                    );
                }
                self.input.extend_from_slice(&rows);
            } else {
                self.input.extend_from_slice(&ngrams);
            }
        }
        if self.params.negative > 0 {
            self.syn1neg.resize(n * dim, 0.0);
        }
        if self.params.hs {
            self.syn1.resize(n * dim, 0.0);
        }
        self.corpus_words = raw.total_words;
        Ok(n - old.min(n))
    }

    fn subwords(&self) -> Option<Subwords> {
        let s = self.sub?;
        let n = self.vocab.len() as u32;
        let mut offsets = vec![0u32];
        let mut rows = Vec::new();
        for (i, w) in self.vocab.words.iter().enumerate() {
            rows.push(i as u32);
            rows.extend(
                ngram_buckets(w, s.min_n, s.max_n, s.bucket)
                    .into_iter()
                    .map(|b| n + b),
            );
            offsets.push(rows.len() as u32);
        }
        Some(Subwords { offsets, rows })
    }

    fn train(
        &mut self,
        corpus: &Corpus,
        corpus_words: Option<u64>,
        progress: Option<ProgressFn>,
    ) -> Result<TrainReport> {
        if self.vocab.is_empty() {
            return Err(EmbeddingsError::Invalid(
                "the model has no vocabulary yet: build it from a corpus (build_vocab) before training".into(),
            ));
        }
        corpus.check()?;
        let p = &self.params;
        let dim = self.dim();
        let setup = Setup {
            corpus,
            vocab: &self.vocab,
            corpus_words: corpus_words.unwrap_or(self.corpus_words).max(1),
            sg: p.sg,
            cbow_mean: p.cbow_mean,
            hs: p.hs,
            negative: p.negative,
            window: p.window,
            alpha: p.alpha,
            min_alpha: p.min_alpha,
            epochs: p.epochs,
            workers: p.workers,
            seed: p.seed,
            sample_ints: sample_ints(&self.vocab.counts, p.sample),
            cum: (p.negative > 0).then(|| CumTable::new(&self.vocab.counts, p.ns_exponent)),
            huffman: p.hs.then(|| Huffman::new(&self.vocab.counts)),
            subwords: self.subwords(),
            progress,
        };
        let input = SharedMatrix::new(std::mem::take(&mut self.input), dim);
        let syn1neg = SharedMatrix::new(std::mem::take(&mut self.syn1neg), dim);
        let syn1 = SharedMatrix::new(std::mem::take(&mut self.syn1), dim);
        let result = train::train(
            &setup,
            &Weights {
                input: &input,
                syn1neg: (p.negative > 0).then_some(&syn1neg),
                syn1: p.hs.then_some(&syn1),
            },
        );
        self.input = input.into_inner();
        self.syn1neg = syn1neg.into_inner();
        self.syn1 = syn1.into_inner();
        result
    }

    fn to_bin(&self) -> FastTextBin {
        let p = &self.params;
        let dim = self.dim();
        let sub = self.sub.unwrap_or(SubwordParams {
            min_n: 0,
            max_n: 0,
            bucket: 0,
        });
        let (loss, output) = if p.negative > 0 || self.syn1.is_empty() {
            (2, self.syn1neg.clone())
        } else {
            (1, self.syn1.clone())
        };
        FastTextBin {
            args: FastTextArgs {
                dim: dim as i32,
                ws: p.window as i32,
                epoch: p.epochs as i32,
                min_count: p.min_count.min(i32::MAX as u64) as i32,
                neg: p.negative as i32,
                word_ngrams: 1,
                loss,
                model: if p.sg { 2 } else { 1 },
                bucket: sub.bucket as i32,
                minn: sub.min_n as i32,
                maxn: sub.max_n as i32,
                lr_update_rate: 100,
                t: p.sample,
            },
            words: self.vocab.words.clone(),
            counts: self.vocab.counts.clone(),
            ntokens: self.corpus_words as i64,
            input: self.input.clone(),
            output_rows: output.len().checked_div(dim).unwrap_or(0),
            output,
        }
    }

    fn from_bin(bin: FastTextBin, subwords: bool) -> Result<Core> {
        let a = bin.args;
        let dim = a.dim as usize;
        let n = bin.words.len();
        let params = Word2VecParams {
            vector_size: dim,
            window: a.ws.max(1) as usize,
            min_count: a.min_count.max(1) as u64,
            epochs: a.epoch.max(1) as usize,
            negative: if a.loss == 2 {
                a.neg.max(1) as usize
            } else {
                0
            },
            hs: a.loss == 1,
            sg: a.model == 2,
            sample: a.t,
            ..Word2VecParams::default()
        };
        let sub = subwords.then_some(SubwordParams {
            min_n: a.minn as usize,
            max_n: a.maxn as usize,
            bucket: a.bucket as u32,
        });
        let mut input = bin.input;
        if !subwords {
            input.truncate(n * dim);
        }
        let mut output = bin.output;
        output.resize(n * dim, 0.0);
        let (syn1neg, syn1) = if params.hs {
            (Vec::new(), output)
        } else {
            (output, Vec::new())
        };
        let mut core = Core::new(params, sub)?;
        core.vocab = Vocab::new(bin.words, bin.counts);
        core.input = input;
        core.syn1neg = syn1neg;
        core.syn1 = syn1;
        core.corpus_words = bin.ntokens.max(0) as u64;
        Ok(core)
    }
}

/// A Word2Vec model: `Word2Vec::train_new(&corpus, params)?` then `model.wv.vector("word")`.
#[derive(Debug, Clone)]
pub struct Word2Vec {
    core: Core,
    /// The trained word vectors. Between training runs they live here, not in the model core.
    pub wv: KeyedVectors,
}

impl Word2Vec {
    /// An untrained model; call [`Word2Vec::build_vocab`] then [`Word2Vec::train`].
    pub fn new(params: Word2VecParams) -> Result<Word2Vec> {
        let dim = params.vector_size.max(1);
        Ok(Word2Vec {
            core: Core::new(params, None)?,
            wv: KeyedVectors::new(Vec::new(), Vec::new(), dim)?,
        })
    }

    /// Builds the vocabulary and trains, the equivalent of gensim's `Word2Vec(sentences, ...)`.
    pub fn train_new(corpus: &Corpus, params: Word2VecParams) -> Result<Word2Vec> {
        Ok(Self::train_new_with_progress(corpus, params, None)?.0)
    }

    pub fn train_new_with_progress(
        corpus: &Corpus,
        params: Word2VecParams,
        progress: Option<ProgressFn>,
    ) -> Result<(Word2Vec, TrainReport)> {
        let mut m = Word2Vec::new(params)?;
        m.build_vocab(corpus, false)?;
        let report = m.train(corpus, progress)?;
        Ok((m, report))
    }

    pub fn params(&self) -> &Word2VecParams {
        &self.core.params
    }

    /// Changes settings that may differ between training runs (epochs, alpha, workers, ...).
    /// Settings that shape the weights (vector_size, negative/hs) are kept from the model.
    pub fn set_params(&mut self, mut params: Word2VecParams) -> Result<()> {
        params.vector_size = self.core.params.vector_size;
        params.negative = self.core.params.negative;
        params.hs = self.core.params.hs;
        params.validate()?;
        self.core.params = params;
        Ok(())
    }

    pub fn vocab(&self) -> &Vocab {
        &self.core.vocab
    }

    /// Scans the corpus and builds the vocabulary. With `update`, words already known keep their
    /// vectors, their counts grow, and new words reaching `min_count` are added (gensim's
    /// `build_vocab(update=True)`). Returns the number of words added.
    pub fn build_vocab(&mut self, corpus: &Corpus, update: bool) -> Result<usize> {
        self.sync_in();
        let r = self.core.build_vocab(corpus, update);
        self.sync_out();
        r
    }

    /// Trains `epochs` passes over the corpus (the vocabulary must have been built).
    pub fn train(&mut self, corpus: &Corpus, progress: Option<ProgressFn>) -> Result<TrainReport> {
        self.sync_in();
        let r = self.core.train(corpus, None, progress);
        self.sync_out();
        r
    }

    /// Moves the word rows from `wv` into the core for training.
    fn sync_in(&mut self) {
        if self.core.input.is_empty() {
            self.core.input = std::mem::take(self.wv.vectors_mut());
        }
    }

    fn sync_out(&mut self) {
        let dim = self.core.dim();
        let vectors = std::mem::take(&mut self.core.input);
        let words = self.core.vocab.words.clone();
        if vectors.len() == words.len() * dim {
            self.wv = KeyedVectors::new(words, vectors, dim)
                .expect("rows match the vocabulary")
                .with_counts(self.core.vocab.counts.clone());
        } else {
            self.core.input = vectors;
        }
    }

    /// Saves the full model (vocabulary with counts, input and output weights) as a fastText
    /// `.bin` with no n-grams (maxn 0), so training can continue after [`Word2Vec::load`].
    pub fn save(&mut self, path: impl AsRef<Path>) -> Result<()> {
        self.sync_in();
        let bin = self.core.to_bin();
        self.sync_out();
        bin.write(path)
    }

    pub fn load(path: impl AsRef<Path>) -> Result<Word2Vec> {
        let bin = FastTextBin::read(path)?;
        let dim = bin.args.dim.max(1) as usize;
        let mut m = Word2Vec {
            core: Core::from_bin(bin, false)?,
            wv: KeyedVectors::new(Vec::new(), Vec::new(), dim)?,
        };
        m.sync_out();
        Ok(m)
    }

    /// Starts from vectors loaded from a word2vec / GloVe file (output weights start at zero, and
    /// counts are faked in descending order as gensim does), to continue training on a corpus.
    pub fn from_keyed_vectors(kv: KeyedVectors, mut params: Word2VecParams) -> Result<Word2Vec> {
        params.vector_size = kv.dim();
        let n = kv.len();
        let counts = kv
            .counts()
            .map(|c| c.to_vec())
            .unwrap_or_else(|| (0..n).map(|i| (n - i) as u64).collect());
        let mut core = Core::new(params, None)?;
        core.vocab = Vocab::new(kv.words().to_vec(), counts);
        core.input = kv.matrix().to_vec();
        if core.params.negative > 0 {
            core.syn1neg = vec![0.0; core.input.len()];
        }
        if core.params.hs {
            core.syn1 = vec![0.0; core.input.len()];
        }
        let mut m = Word2Vec { core, wv: kv };
        m.sync_out();
        Ok(m)
    }
}

/// A FastText model: Word2Vec whose input vectors are the mean of the word's own row and its
/// character n-gram rows, so words never seen still get vectors.
#[derive(Debug, Clone)]
pub struct FastText {
    core: Core,
}

impl FastText {
    pub fn new(params: Word2VecParams, subwords: SubwordParams) -> Result<FastText> {
        Ok(FastText {
            core: Core::new(params, Some(subwords))?,
        })
    }

    pub fn train_new(
        corpus: &Corpus,
        params: Word2VecParams,
        subwords: SubwordParams,
    ) -> Result<FastText> {
        Ok(Self::train_new_with_progress(corpus, params, subwords, None)?.0)
    }

    pub fn train_new_with_progress(
        corpus: &Corpus,
        params: Word2VecParams,
        subwords: SubwordParams,
        progress: Option<ProgressFn>,
    ) -> Result<(FastText, TrainReport)> {
        let mut m = FastText::new(params, subwords)?;
        m.build_vocab(corpus, false)?;
        let r = m.train(corpus, progress)?;
        Ok((m, r))
    }

    pub fn params(&self) -> &Word2VecParams {
        &self.core.params
    }

    pub fn subword_params(&self) -> SubwordParams {
        self.core.sub.unwrap_or_default()
    }

    pub fn set_params(&mut self, mut params: Word2VecParams) -> Result<()> {
        params.vector_size = self.core.params.vector_size;
        params.negative = self.core.params.negative;
        params.hs = self.core.params.hs;
        params.validate()?;
        self.core.params = params;
        Ok(())
    }

    pub fn vocab(&self) -> &Vocab {
        &self.core.vocab
    }

    pub fn build_vocab(&mut self, corpus: &Corpus, update: bool) -> Result<usize> {
        self.core.build_vocab(corpus, update)
    }

    pub fn train(&mut self, corpus: &Corpus, progress: Option<ProgressFn>) -> Result<TrainReport> {
        self.core.train(corpus, None, progress)
    }

    /// The vector of any word: the mean of its own row (when in the vocabulary) and its n-gram rows.
    pub fn vector(&self, word: &str) -> Result<Vec<f32>> {
        let s = self.subword_params();
        let dim = self.core.dim();
        let n = self.core.vocab.len();
        let mut rows: Vec<usize> = ngram_buckets(word, s.min_n, s.max_n, s.bucket)
            .into_iter()
            .map(|b| n + b as usize)
            .collect();
        if let Some(i) = self.core.vocab.get(word) {
            rows.push(i as usize);
        }
        if rows.is_empty() {
            return Err(EmbeddingsError::OutOfVocabulary {
                word: word.to_string(),
                vocab_size: n,
                hint: " and has no character n-gram of the trained sizes; check the spelling",
            });
        }
        let mut v = vec![0f32; dim];
        for r in &rows {
            v.iter_mut()
                .zip(&self.core.input[r * dim..(r + 1) * dim])
                .for_each(|(x, y)| *x += y);
        }
        let inv = 1.0 / rows.len() as f32;
        v.iter_mut().for_each(|x| *x *= inv);
        Ok(v)
    }

    /// Word vectors for the vocabulary plus the n-gram table for unseen words.
    pub fn keyed_vectors(&self) -> KeyedVectors {
        self.core.to_bin().keyed_vectors(None)
    }

    /// Saves the full model in fastText's `.bin` format (readable by fastText and gensim's
    /// `load_facebook_model`).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        self.core.to_bin().write(path)
    }

    /// Loads a fastText `.bin` model (ours or fastText's) to query it or continue training.
    pub fn load(path: impl AsRef<Path>) -> Result<FastText> {
        let bin = FastTextBin::read(path)?;
        if bin.args.maxn == 0 || bin.args.bucket == 0 {
            return Err(EmbeddingsError::Invalid(
                "this .bin has no character n-grams (maxn 0 or bucket 0): load it with Word2Vec::load".into(),
            ));
        }
        Ok(FastText {
            core: Core::from_bin(bin, true)?,
        })
    }
}
