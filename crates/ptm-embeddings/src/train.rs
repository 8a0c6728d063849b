//! The lock-free training loop shared by Word2Vec and FastText: skip-gram and CBOW, negative
//! sampling and hierarchical softmax, frequent-word subsampling, the randomly shrunk window and
//! the linear learning-rate decay, over worker threads that pull batches of sentences from one
//! streamed reader (the shape of gensim's `_train_epoch`, the arithmetic of word2vec.c and
//! gensim's `word2vec_inner.pyx`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use crate::corpus::{Corpus, SentenceStream};
use crate::error::{EmbeddingsError, Result};
use crate::kernels::{axpy, dot, prefetch_row, scale, Lcg, SharedMatrix, SigmoidTable, MAX_EXP};
use crate::vocab::{CumTable, Huffman, Vocab};

/// Raw corpus words per job (gensim's `MAX_WORDS_IN_BATCH`); the learning rate is updated per job.
const JOB_WORDS: u64 = 10_000;

/// What a progress callback is told after each job.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Raw corpus words processed so far, over all epochs.
    pub words_done: u64,
    /// Raw corpus words to process over all epochs.
    pub words_total: u64,
    pub epoch: usize,
    pub alpha: f32,
    /// Raw corpus words per second since training started.
    pub words_per_sec: f64,
}

/// Called from worker threads, roughly every 10,000 words.
pub type ProgressFn<'a> = &'a (dyn Fn(&Progress) + Sync);

/// Summary of a finished training run.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct TrainReport {
    /// Raw corpus words processed over all epochs.
    pub words: u64,
    /// Words actually trained on, after dropping out-of-vocabulary words and subsampling.
    pub effective_words: u64,
    pub seconds: f64,
    pub words_per_sec: f64,
}

/// Word rows that make up a word's input vector: for FastText the word's own row followed by its
/// n-gram bucket rows (offset by the vocabulary size, fastText's layout); absent for Word2Vec,
/// where the input vector is the word's row itself.
#[derive(Debug, Clone, Default)]
pub(crate) struct Subwords {
    pub offsets: Vec<u32>,
    pub rows: Vec<u32>,
}

impl Subwords {
    #[inline(always)]
    pub fn of(&self, w: u32) -> &[u32] {
        let w = w as usize;
        &self.rows[self.offsets[w] as usize..self.offsets[w + 1] as usize]
    }
}

/// Settings of one training run, validated by the model that builds it.
pub(crate) struct Setup<'a> {
    pub corpus: &'a Corpus,
    pub vocab: &'a Vocab,
    /// Raw corpus tokens in one epoch (from the vocabulary scan): the denominator of progress.
    pub corpus_words: u64,
    pub sg: bool,
    pub cbow_mean: bool,
    pub hs: bool,
    pub negative: usize,
    pub window: usize,
    pub alpha: f32,
    pub min_alpha: f32,
    pub epochs: usize,
    pub workers: usize,
    pub seed: u64,
    pub sample_ints: Vec<u32>,
    pub cum: Option<CumTable>,
    pub huffman: Option<Huffman>,
    pub subwords: Option<Subwords>,
    pub progress: Option<ProgressFn<'a>>,
}

/// The weights being trained.
pub(crate) struct Weights<'a> {
    pub input: &'a SharedMatrix,
    pub syn1neg: Option<&'a SharedMatrix>,
    pub syn1: Option<&'a SharedMatrix>,
}

struct JobSource<'a> {
    stream: SentenceStream<'a>,
    epoch: usize,
    pushed_in_epoch: u64,
    finished: bool,
}

/// One batch of sentences as word indices; out-of-vocabulary words already dropped.
#[derive(Default)]
struct Job {
    words: Vec<u32>,
    sentence_ends: Vec<u32>,
    raw_words: u64,
    alpha: f32,
    epoch: usize,
}

pub(crate) fn train(setup: &Setup, weights: &Weights) -> Result<TrainReport> {
    let total = setup.corpus_words * setup.epochs as u64;
    let source = Mutex::new(JobSource {
        stream: setup.corpus.stream(),
        epoch: 0,
        pushed_in_epoch: 0,
        finished: setup.epochs == 0,
    });
    let words_done = AtomicU64::new(0);
    let effective = AtomicU64::new(0);
    let sig = SigmoidTable::new();
    let start = Instant::now();
    let workers = setup.workers.max(1);

    let results: Vec<Result<()>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|t| {
                let (source, words_done, effective, sig) = (&source, &words_done, &effective, &sig);
                s.spawn(move || -> Result<()> {
                    let mut worker = Worker::new(setup, t);
                    let mut job = Job::default();
                    loop {
                        {
                            let mut src = source.lock().map_err(|_| {
                                EmbeddingsError::Invalid("a training thread panicked".into())
                            })?;
                            if !fill_job(setup, &mut src, &mut job)? {
                                return Ok(());
                            }
                        }
                        let eff = worker.run(setup, weights, sig, &job);
                        effective.fetch_add(eff, Ordering::Relaxed);
                        let done =
                            words_done.fetch_add(job.raw_words, Ordering::Relaxed) + job.raw_words;
                        if let Some(cb) = setup.progress {
                            let secs = start.elapsed().as_secs_f64().max(1e-9);
                            cb(&Progress {
                                words_done: done,
                                words_total: total,
                                epoch: job.epoch,
                                alpha: job.alpha,
                                words_per_sec: done as f64 / secs,
                            });
                        }
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(EmbeddingsError::Invalid(
                        "a training thread panicked".into(),
                    ))
                })
            })
            .collect()
    });
    for r in results {
        r?;
    }
    let seconds = start.elapsed().as_secs_f64();
    let words = words_done.load(Ordering::Relaxed);
    Ok(TrainReport {
        words,
        effective_words: effective.load(Ordering::Relaxed),
        seconds,
        words_per_sec: words as f64 / seconds.max(1e-9),
    })
}

/// Reads the next batch of about `JOB_WORDS` raw words; moves on to the next epoch at the end of
/// the corpus. Returns false when every epoch has been handed out.
fn fill_job<'a>(setup: &Setup<'a>, src: &mut JobSource<'a>, job: &mut Job) -> Result<bool> {
    job.words.clear();
    job.sentence_ends.clear();
    job.raw_words = 0;
    loop {
        if src.finished {
            return Ok(false);
        }
        let progress = (src.epoch as f64
            + src.pushed_in_epoch as f64 / setup.corpus_words.max(1) as f64)
            / setup.epochs as f64;
        let alpha = setup.alpha as f64 - (setup.alpha - setup.min_alpha) as f64 * progress;
        job.alpha = (alpha as f32).max(setup.min_alpha);
        job.epoch = src.epoch;
        while job.raw_words < JOB_WORDS {
            let (words, vocab) = (&mut job.words, setup.vocab);
            let mut raw = 0u64;
            let more = src.stream.next_sentence(|w| {
                raw += 1;
                if let Some(i) = vocab.get(w) {
                    words.push(i);
                }
            })?;
            if !more {
                break;
            }
            job.raw_words += raw;
            job.sentence_ends.push(job.words.len() as u32);
        }
        src.pushed_in_epoch += job.raw_words;
        if job.raw_words > 0 {
            return Ok(true);
        }
        // End of the corpus for this epoch.
        src.epoch += 1;
        src.pushed_in_epoch = 0;
        if src.epoch >= setup.epochs {
            src.finished = true;
        } else {
            src.stream = setup.corpus.stream();
        }
    }
}

struct Worker {
    rng: Lcg,
    sentence: Vec<u32>,
    reduced: Vec<u32>,
    neu1: Vec<f32>,
    neu1e: Vec<f32>,
    /// The output rows of one negative-sampling step: the target, then the drawn negatives.
    targets: Vec<u32>,
}

impl Worker {
    fn new(setup: &Setup, thread: usize) -> Worker {
        Worker {
            rng: Lcg(setup
                .seed
                .wrapping_mul(0x9E37_79B9)
                .wrapping_add(thread as u64 * 7919 + 1)
                & 0xFFFF_FFFF_FFFF),
            sentence: Vec::new(),
            reduced: Vec::new(),
            neu1: Vec::new(),
            neu1e: Vec::new(),
            targets: Vec::new(),
        }
    }

    /// Trains on one job; returns the number of words trained on.
    fn run(&mut self, setup: &Setup, weights: &Weights, sig: &SigmoidTable, job: &Job) -> u64 {
        let dim = weights.input.dim;
        self.neu1.resize(dim, 0.0);
        self.neu1e.resize(dim, 0.0);
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                // SAFETY: the CPU supports the features the function was compiled for.
                return unsafe { run_job_avx2(self, setup, weights, sig, job) };
            }
        }
        run_job(self, setup, weights, sig, job)
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_job_avx2(
    w: &mut Worker,
    setup: &Setup,
    weights: &Weights,
    sig: &SigmoidTable,
    job: &Job,
) -> u64 {
    run_job(w, setup, weights, sig, job)
}

/// The per-job loop. `#[inline(always)]` down to the kernels so that the AVX2 copy above gets
/// AVX2 code throughout.
#[inline(always)]
fn run_job(w: &mut Worker, setup: &Setup, weights: &Weights, sig: &SigmoidTable, job: &Job) -> u64 {
    let mut effective = 0u64;
    let mut start = 0usize;
    let window = setup.window.max(1) as u32;
    for &end in &job.sentence_ends {
        let end = end as usize;
        let words = &job.words[start..end];
        start = end;
        // Subsampling and the shrunk windows draw from the generator in gensim's order.
        w.sentence.clear();
        for &word in words {
            if setup.sample_ints[word as usize] < w.rng.next_u32() {
                continue;
            }
            w.sentence.push(word);
        }
        w.reduced.clear();
        for _ in 0..w.sentence.len() {
            let r = w.rng.next_u32() % window;
            w.reduced.push(r);
        }
        effective += w.sentence.len() as u64;
        if setup.sg {
            train_sentence_sg(w, setup, weights, sig, job.alpha);
        } else {
            train_sentence_cbow(w, setup, weights, sig, job.alpha);
        }
    }
    effective
}

/// Output-layer step for one (input vector, target word) pair: negative sampling and/or
/// hierarchical softmax. Accumulates the input's gradient in `neu1e` and updates the output rows.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn output_step(
    l1: &[f32],
    neu1e: &mut [f32],
    target: u32,
    setup: &Setup,
    weights: &Weights,
    sig: &SigmoidTable,
    alpha: f32,
    rng: &mut Lcg,
    targets: &mut Vec<u32>,
) {
    if setup.hs {
        if let (Some(h), Some(syn1)) = (&setup.huffman, weights.syn1) {
            let t = target as usize;
            for (&code, &point) in h.codes[t].iter().zip(&h.points[t]) {
                // SAFETY: Huffman points index the vocab_size - 1 rows of syn1; Hogwild! race.
                let row = unsafe { syn1.row(point as usize) };
                let f = dot(l1, row);
                if f <= -MAX_EXP || f >= MAX_EXP {
                    continue;
                }
                let g = (1.0 - code as f32 - sig.get(f)) * alpha;
                axpy(g, row, neu1e);
                axpy(g, l1, row);
            }
        }
    }
    if setup.negative > 0 {
        if let (Some(cum), Some(syn1neg)) = (&setup.cum, weights.syn1neg) {
            // Draw every negative first and prefetch all rows, so their cache misses overlap.
            targets.clear();
            targets.push(target);
            for _ in 0..setup.negative {
                let t = cum.sample(&mut rng.0);
                if t != target {
                    targets.push(t);
                }
            }
            for &t in targets.iter() {
                // SAFETY: `t` is a vocabulary index and syn1neg has one row per word.
                prefetch_row(unsafe { syn1neg.row(t as usize) });
            }
            for (d, &t) in targets.iter().enumerate() {
                let label = if d == 0 { 1.0f32 } else { 0.0f32 };
                // SAFETY: `t` is a vocabulary index and syn1neg has one row per word; Hogwild! race.
                let row = unsafe { syn1neg.row(t as usize) };
                let f = dot(l1, row);
                // gensim (`fast_sentence_*_neg`) skips a saturated score; word2vec.c would
                // clip it to 0 or 1 and still update. Skipping matched gensim's quality.
                if f <= -MAX_EXP || f >= MAX_EXP {
                    continue;
                }
                let g = (label - sig.get(f)) * alpha;
                axpy(g, row, neu1e);
                axpy(g, l1, row);
            }
        }
    }
}

#[inline(always)]
fn train_sentence_sg(
    w: &mut Worker,
    setup: &Setup,
    weights: &Weights,
    sig: &SigmoidTable,
    alpha: f32,
) {
    let n = w.sentence.len();
    let window = setup.window;
    let input = weights.input;
    for i in 0..n {
        let b = w.reduced[i] as usize;
        let lo = i.saturating_sub(window - b);
        let hi = (i + window + 1 - b).min(n);
        match &setup.subwords {
            None => {
                // word2vec.c: the context word's input vector predicts the centre word.
                for j in lo..hi {
                    if j == i {
                        continue;
                    }
                    w.neu1e.fill(0.0);
                    // SAFETY: sentence words are vocabulary indices < input.rows; Hogwild! race.
                    let l1 = unsafe { input.row(w.sentence[j] as usize) };
                    output_step(
                        l1,
                        &mut w.neu1e,
                        w.sentence[i],
                        setup,
                        weights,
                        sig,
                        alpha,
                        &mut w.rng,
                        &mut w.targets,
                    );
                    axpy(1.0, &w.neu1e, l1);
                }
            }
            Some(sub) => {
                // fastText: the centre word's subword average predicts each context word. The
                // average is formed once per centre word and its gradient applied after the
                // window, which saves recomputing it for every context word.
                let rows = sub.of(w.sentence[i]);
                mean_rows(input, rows, &mut w.neu1);
                w.neu1e.fill(0.0);
                for j in lo..hi {
                    if j == i {
                        continue;
                    }
                    output_step(
                        &w.neu1,
                        &mut w.neu1e,
                        w.sentence[j],
                        setup,
                        weights,
                        sig,
                        alpha,
                        &mut w.rng,
                        &mut w.targets,
                    );
                }
                for &r in rows {
                    // SAFETY: subword rows are < vocab + bucket = input.rows; Hogwild! race.
                    axpy(1.0, &w.neu1e, unsafe { input.row(r as usize) });
                }
            }
        }
    }
}

#[inline(always)]
fn train_sentence_cbow(
    w: &mut Worker,
    setup: &Setup,
    weights: &Weights,
    sig: &SigmoidTable,
    alpha: f32,
) {
    let n = w.sentence.len();
    let window = setup.window;
    let input = weights.input;
    for i in 0..n {
        let b = w.reduced[i] as usize;
        let lo = i.saturating_sub(window - b);
        let hi = (i + window + 1 - b).min(n);
        w.neu1.fill(0.0);
        let mut count = 0usize;
        for j in lo..hi {
            if j == i {
                continue;
            }
            for_each_input_row(setup, w.sentence[j], |r| {
                // SAFETY: rows < input.rows; Hogwild! race.
                axpy(1.0, unsafe { input.row(r) }, &mut w.neu1);
                count += 1;
            });
        }
        if count == 0 {
            continue;
        }
        let inv = 1.0 / count as f32;
        if setup.cbow_mean {
            scale(inv, &mut w.neu1);
        }
        w.neu1e.fill(0.0);
        output_step(
            &w.neu1,
            &mut w.neu1e,
            w.sentence[i],
            setup,
            weights,
            sig,
            alpha,
            &mut w.rng,
            &mut w.targets,
        );
        if !setup.cbow_mean {
            // gensim (`fast_sentence_cbow_neg`): with a summed context the error is divided
            // among the inputs; with the mean, every input receives the whole error.
            scale(inv, &mut w.neu1e);
        }
        for j in lo..hi {
            if j == i {
                continue;
            }
            for_each_input_row(setup, w.sentence[j], |r| {
                // SAFETY: as above.
                axpy(1.0, &w.neu1e, unsafe { input.row(r) });
            });
        }
    }
}

#[inline(always)]
fn for_each_input_row(setup: &Setup, word: u32, mut f: impl FnMut(usize)) {
    match &setup.subwords {
        None => f(word as usize),
        Some(sub) => {
            for &r in sub.of(word) {
                f(r as usize);
            }
        }
    }
}

#[inline(always)]
fn mean_rows(m: &SharedMatrix, rows: &[u32], out: &mut [f32]) {
    out.fill(0.0);
    for &r in rows {
        // SAFETY: rows < m.rows; Hogwild! race (read only here).
        axpy(1.0, unsafe { m.row(r as usize) }, out);
    }
    if !rows.is_empty() {
        scale(1.0 / rows.len() as f32, out);
    }
}

/// Deterministic initial vectors: uniform in [-scale, scale), drawn from a generator seeded by the
/// word itself and the run's seed (as gensim seeds each vector from `hash(word + str(seed))`), so
/// a word gets the same start vector whatever its index and whenever it joins the vocabulary.
pub(crate) fn init_row(word: &str, seed: u64, scale: f32, row: &mut [f32]) {
    use std::hash::Hasher;
    let mut h = crate::vocab::FxHasher::default();
    h.write(word.as_bytes());
    h.write_u64(seed);
    init_row_from(h.finish(), scale, row);
}

pub(crate) fn init_row_from(state: u64, scale: f32, row: &mut [f32]) {
    let mut rng = Lcg(state & 0xFFFF_FFFF_FFFF);
    rng.next_u32();
    for v in row {
        let u = rng.next_u32() as f32 / 4_294_967_296.0;
        *v = (u * 2.0 - 1.0) * scale;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: with `cbow_mean`, gensim's `fast_sentence_cbow_*` adds the *whole* error to each
    /// context row (it divides only when the context is summed). An earlier version divided in the
    /// mean case, which trained CBOW ~window times too slowly (analogy accuracy 7% against
    /// gensim's 12% on the comparison corpus). One CBOW/HS pass over `a b a` is replayed here by
    /// hand, in f64 with the exact sigmoid.
    #[test]
    fn cbow_mean_gives_each_context_row_the_whole_error() {
        let vocab = Vocab::new(vec!["a".into(), "b".into()], vec![2, 1]);
        let huffman = Huffman::new(&vocab.counts);
        let corpus = Corpus::from_sentences(&[vec!["a", "b", "a"]]);
        let alpha = 0.025f32;
        let input0 = [0.1f32, -0.2, 0.3, 0.05];
        let syn1_0 = [0.2f32, 0.1, 0.0, 0.0];
        for cbow_mean in [true, false] {
            let setup = Setup {
                corpus: &corpus,
                vocab: &vocab,
                corpus_words: 3,
                sg: false,
                cbow_mean,
                hs: true,
                negative: 0,
                window: 1,
                alpha,
                min_alpha: alpha,
                epochs: 1,
                workers: 1,
                seed: 1,
                sample_ints: vec![u32::MAX; 2],
                cum: None,
                huffman: Some(huffman.clone()),
                subwords: None,
                progress: None,
            };
            let input = SharedMatrix::new(input0.to_vec(), 2);
            let syn1 = SharedMatrix::new(syn1_0.to_vec(), 2);
            train(
                &setup,
                &Weights {
                    input: &input,
                    syn1neg: None,
                    syn1: Some(&syn1),
                },
            )
            .unwrap();
            let got = input.into_inner();

            // The reference: gensim's arithmetic, position by position.
            let mut inp: Vec<f64> = input0.iter().map(|&x| x as f64).collect();
            let mut s1: Vec<f64> = syn1_0.iter().map(|&x| x as f64).collect();
            let sentence = [0usize, 1, 0];
            for i in 0..3usize {
                let ctx: Vec<usize> = (i.saturating_sub(1)..(i + 2).min(3))
                    .filter(|&j| j != i)
                    .map(|j| sentence[j])
                    .collect();
                let mut neu1 = [0f64; 2];
                for &c in &ctx {
                    neu1[0] += inp[c * 2];
                    neu1[1] += inp[c * 2 + 1];
                }
                if cbow_mean {
                    neu1.iter_mut().for_each(|x| *x /= ctx.len() as f64);
                }
                let word = sentence[i];
                let mut neu1e = [0f64; 2];
                for (&code, &point) in huffman.codes[word].iter().zip(&huffman.points[word]) {
                    let p = point as usize * 2;
                    let f = neu1[0] * s1[p] + neu1[1] * s1[p + 1];
                    let g = (1.0 - code as f64 - 1.0 / (1.0 + (-f).exp())) * alpha as f64;
                    neu1e[0] += g * s1[p];
                    neu1e[1] += g * s1[p + 1];
                    s1[p] += g * neu1[0];
                    s1[p + 1] += g * neu1[1];
                }
                if !cbow_mean {
                    neu1e.iter_mut().for_each(|x| *x /= ctx.len() as f64);
                }
                for &c in &ctx {
                    inp[c * 2] += neu1e[0];
                    inp[c * 2 + 1] += neu1e[1];
                }
            }
            for k in 0..4 {
                let want_delta = inp[k] - input0[k] as f64;
                let got_delta = got[k] as f64 - input0[k] as f64;
                assert!(
                    (got_delta - want_delta).abs() <= 0.02 * want_delta.abs() + 1e-7,
                    "cbow_mean={cbow_mean} row value {k}: update {got_delta} != reference {want_delta}"
                );
            }
        }
    }
}
