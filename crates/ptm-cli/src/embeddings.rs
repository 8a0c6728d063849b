//! `ptm embeddings ...`: train, query and evaluate static word embeddings.
//!
//! Contract (scripts depend on it): options are gensim's parameter names in kebab-case with
//! gensim's defaults; results are JSON on stdout; the progress bar goes to stderr (hidden when
//! stderr is not a terminal). A query that fails on its input (a word not in the vocabulary)
//! prints `{"error": ..}` and exits 1.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use ptm_embeddings::{
    load_vectors, save_vectors, Corpus, EmbeddingsError, FastText, Glove, GloveParams,
    KeyedVectors, Progress, SubwordParams, VectorFormat, Word2Vec, Word2VecParams,
    DEFAULT_RESTRICT_VOCAB,
};
use serde_json::{json, Value};

#[derive(Subcommand)]
pub enum Command {
    /// Train vectors on a corpus (one sentence a line, whitespace-separated tokens).
    #[command(subcommand)]
    Train(TrainCommand),
    /// Evaluate vectors on analogies (questions-words format) and/or word pairs (WordSim-353 / SimLex-999).
    Evaluate(EvaluateArgs),
    /// Nearest neighbours of words (positive) minus others (--negative), as JSON [[word, score], ...].
    Similar(SimilarArgs),
    /// Solve "A is to B as C is to ?" (3CosAdd), as JSON [[word, score], ...].
    Analogy(AnalogyArgs),
    /// Convert vectors between formats (word2vec binary/text, GloVe text; fastText .bin as input).
    Convert(ConvertArgs),
}

#[derive(Subcommand)]
pub enum TrainCommand {
    /// Word2Vec: skip-gram or CBOW with negative sampling or hierarchical softmax.
    Word2vec(Word2VecArgs),
    /// FastText: Word2Vec with character n-grams, so unseen words get vectors.
    Fasttext(FastTextArgs),
    /// GloVe: weighted least squares on the co-occurrence matrix.
    Glove(GloveArgs),
}

#[derive(Clone, Copy, ValueEnum)]
pub enum OutputFormat {
    Word2vecBinary,
    Word2vecText,
    FasttextBin,
    GloveText,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum InputFormat {
    Word2vecBinary,
    Word2vecText,
    FasttextBin,
    GloveText,
}

impl InputFormat {
    fn to_lib(self) -> VectorFormat {
        match self {
            InputFormat::Word2vecBinary => VectorFormat::Word2VecBinary,
            InputFormat::Word2vecText => VectorFormat::Word2VecText,
            InputFormat::FasttextBin => VectorFormat::FastTextBin,
            InputFormat::GloveText => VectorFormat::GloveText,
        }
    }
}

#[derive(Args)]
pub struct CorpusArgs {
    /// Training text: one sentence a line, tokens separated by whitespace. Repeat for several files.
    #[arg(long, required = true)]
    pub corpus: Vec<PathBuf>,
    /// Where to write the vectors.
    #[arg(long)]
    pub output: PathBuf,
    /// Output format. fasttext-bin holds the full model, from which training can continue (--resume).
    #[arg(long, value_enum, default_value = "word2vec-binary")]
    pub format: OutputFormat,
    /// Hide the progress bar.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Args)]
pub struct Word2VecOpts {
    #[arg(long, default_value_t = 100)]
    pub vector_size: usize,
    #[arg(long, default_value_t = 5)]
    pub window: usize,
    #[arg(long, default_value_t = 5)]
    pub min_count: u64,
    /// Prune the vocabulary while counting when it grows past this size.
    #[arg(long)]
    pub max_vocab_size: Option<usize>,
    /// Keep at most this many words (raises min-count as needed).
    #[arg(long)]
    pub max_final_vocab: Option<usize>,
    /// Subsampling threshold for frequent words (0 disables).
    #[arg(long, default_value_t = 1e-3)]
    pub sample: f64,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Training threads (a run is reproducible with 1 and a fixed seed).
    #[arg(long, default_value_t = 3)]
    pub workers: usize,
    #[arg(long, default_value_t = 0.025)]
    pub alpha: f32,
    #[arg(long, default_value_t = 0.0001)]
    pub min_alpha: f32,
    /// 1 for skip-gram, 0 for CBOW.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=1))]
    pub sg: u8,
    /// 1 for hierarchical softmax.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=1))]
    pub hs: u8,
    /// Negative samples (0 disables negative sampling).
    #[arg(long, default_value_t = 5)]
    pub negative: usize,
    #[arg(long, default_value_t = 0.75)]
    pub ns_exponent: f64,
    /// CBOW: 1 averages the context vectors, 0 sums them.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=1))]
    pub cbow_mean: u8,
    #[arg(long, default_value_t = 5)]
    pub epochs: usize,
    /// Continue training a model saved with --format fasttext-bin; its vocabulary is extended
    /// with the new corpus's words.
    #[arg(long)]
    pub resume: Option<PathBuf>,
}

impl Word2VecOpts {
    fn params(&self) -> Word2VecParams {
        Word2VecParams {
            vector_size: self.vector_size,
            window: self.window,
            min_count: self.min_count,
            max_vocab_size: self.max_vocab_size,
            max_final_vocab: self.max_final_vocab,
            sample: self.sample,
            seed: self.seed,
            workers: self.workers,
            alpha: self.alpha,
            min_alpha: self.min_alpha,
            sg: self.sg == 1,
            hs: self.hs == 1,
            negative: self.negative,
            ns_exponent: self.ns_exponent,
            cbow_mean: self.cbow_mean == 1,
            epochs: self.epochs,
        }
    }
}

#[derive(Args)]
pub struct Word2VecArgs {
    #[command(flatten)]
    pub io: CorpusArgs,
    #[command(flatten)]
    pub opts: Word2VecOpts,
}

#[derive(Args)]
pub struct FastTextArgs {
    #[command(flatten)]
    pub io: CorpusArgs,
    #[command(flatten)]
    pub opts: Word2VecOpts,
    /// Shortest character n-gram.
    #[arg(long, default_value_t = 3)]
    pub min_n: usize,
    /// Longest character n-gram (0 disables n-grams).
    #[arg(long, default_value_t = 6)]
    pub max_n: usize,
    /// Hash buckets for n-grams.
    #[arg(long, default_value_t = 2_000_000)]
    pub bucket: u32,
}

#[derive(Args)]
pub struct GloveArgs {
    #[command(flatten)]
    pub io: CorpusArgs,
    #[arg(long, default_value_t = 100)]
    pub vector_size: usize,
    /// Context words on each side.
    #[arg(long, default_value_t = 15)]
    pub window: usize,
    #[arg(long, default_value_t = 5)]
    pub min_count: u64,
    #[arg(long)]
    pub max_vocab_size: Option<usize>,
    #[arg(long, default_value_t = 100.0)]
    pub x_max: f32,
    /// Exponent of the weighting function f(x) = min(1, (x / x_max)^alpha).
    #[arg(long, default_value_t = 0.75)]
    pub alpha: f32,
    /// AdaGrad's initial learning rate.
    #[arg(long, default_value_t = 0.05)]
    pub eta: f32,
    #[arg(long, default_value_t = 25)]
    pub epochs: usize,
    #[arg(long, default_value_t = 3)]
    pub workers: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

#[derive(Args)]
pub struct VectorsArgs {
    /// Vectors file: word2vec binary or text, fastText .vec or .bin, GloVe text (detected).
    #[arg(long)]
    pub vectors: PathBuf,
    /// Force the format instead of detecting it.
    #[arg(long, value_enum)]
    pub format: Option<InputFormat>,
    /// Read only the first N words (the most frequent, in files sorted by frequency).
    #[arg(long)]
    pub limit: Option<usize>,
}

#[derive(Args)]
pub struct EvaluateArgs {
    #[command(flatten)]
    pub vectors: VectorsArgs,
    /// Analogy questions in the questions-words.txt format.
    #[arg(long)]
    pub analogies: Option<PathBuf>,
    /// Word pairs with human scores (word1<TAB>word2<TAB>score).
    #[arg(long)]
    pub pairs: Option<PathBuf>,
    /// Only the most frequent N words take part (gensim's default 300000).
    #[arg(long, default_value_t = DEFAULT_RESTRICT_VOCAB)]
    pub restrict_vocab: usize,
    /// Compare words with their case (by default both sides are upper-cased, as gensim does).
    #[arg(long)]
    pub case_sensitive: bool,
}

#[derive(Args)]
pub struct SimilarArgs {
    #[command(flatten)]
    pub vectors: VectorsArgs,
    /// Words to be similar to.
    #[arg(required = true)]
    pub words: Vec<String>,
    /// Words to be dissimilar to (repeatable).
    #[arg(long)]
    pub negative: Vec<String>,
    #[arg(long, default_value_t = 10)]
    pub topn: usize,
    #[arg(long)]
    pub restrict_vocab: Option<usize>,
}

#[derive(Args)]
pub struct AnalogyArgs {
    #[command(flatten)]
    pub vectors: VectorsArgs,
    /// A in "A is to B as C is to ?".
    pub a: String,
    pub b: String,
    pub c: String,
    #[arg(long, default_value_t = 10)]
    pub topn: usize,
    #[arg(long)]
    pub restrict_vocab: Option<usize>,
}

#[derive(Args)]
pub struct ConvertArgs {
    #[command(flatten)]
    pub vectors: VectorsArgs,
    #[arg(long)]
    pub output: PathBuf,
    #[arg(long, value_enum)]
    pub to: InputFormat,
}

pub fn run(cmd: Command) -> anyhow::Result<i32> {
    match cmd {
        Command::Train(TrainCommand::Word2vec(a)) => train_word2vec(a),
        Command::Train(TrainCommand::Fasttext(a)) => train_fasttext(a),
        Command::Train(TrainCommand::Glove(a)) => train_glove(a),
        Command::Evaluate(a) => evaluate(a),
        Command::Similar(a) => {
            let kv = load(&a.vectors)?;
            let pos: Vec<&str> = a.words.iter().map(String::as_str).collect();
            let neg: Vec<&str> = a.negative.iter().map(String::as_str).collect();
            print_scored(kv.most_similar(&pos, &neg, a.topn, a.restrict_vocab))
        }
        Command::Analogy(a) => {
            let kv = load(&a.vectors)?;
            print_scored(kv.most_similar(&[&a.b, &a.c], &[&a.a], a.topn, a.restrict_vocab))
        }
        Command::Convert(a) => {
            let kv = load(&a.vectors)?;
            save_vectors(&kv, &a.output, a.to.to_lib())?;
            print_json(
                &json!({ "output": a.output, "format": a.to.to_lib().name(), "words": kv.len(), "vector_size": kv.dim() }),
            );
            Ok(0)
        }
    }
}

fn load(v: &VectorsArgs) -> anyhow::Result<KeyedVectors> {
    load_vectors(&v.vectors, v.format.map(InputFormat::to_lib), v.limit)
        .with_context(|| format!("loading vectors from '{}'", v.vectors.display()))
}

fn print_json(v: &Value) {
    println!("{v}");
}

/// Query results as `[[word, score], ...]`; an input error (unknown word) as `{"error": ..}`, exit 1.
fn print_scored(r: ptm_embeddings::Result<Vec<(String, f32)>>) -> anyhow::Result<i32> {
    match r {
        Ok(list) => {
            let v: Vec<Value> = list.into_iter().map(|(w, s)| json!([w, s])).collect();
            print_json(&Value::Array(v));
            Ok(0)
        }
        Err(e @ (EmbeddingsError::OutOfVocabulary { .. } | EmbeddingsError::Invalid(_))) => {
            print_json(&json!({ "error": e.to_string() }));
            Ok(1)
        }
        Err(e) => Err(e.into()),
    }
}

fn evaluate(a: EvaluateArgs) -> anyhow::Result<i32> {
    if a.analogies.is_none() && a.pairs.is_none() {
        anyhow::bail!("nothing to evaluate: pass --analogies FILE and/or --pairs FILE");
    }
    let kv = load(&a.vectors)?;
    let analogies = match &a.analogies {
        Some(p) => {
            let r = kv.evaluate_word_analogies(p, a.restrict_vocab, !a.case_sensitive)?;
            json!({
                "accuracy": r.accuracy,
                "correct": r.correct,
                "total": r.total,
                "oov_ratio": r.oov_ratio,
                "sections": ptm_embeddings::evaluate::section_map(&r),
            })
        }
        None => Value::Null,
    };
    let pairs = match &a.pairs {
        Some(p) => {
            let r = kv.evaluate_word_pairs(p, a.restrict_vocab, !a.case_sensitive)?;
            json!({ "pearson": r.pearson, "spearman": r.spearman, "oov_ratio": r.oov_ratio, "pairs": r.pairs })
        }
        None => Value::Null,
    };
    print_json(&json!({ "analogies": analogies, "pairs": pairs }));
    Ok(0)
}

fn progress_bar(quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    let style = ProgressStyle::with_template(
        "{bar:30} {percent:>3}% {msg} [{elapsed_precise}<{eta_precise}]",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar
}

fn progress_callback<'a>(
    bar: &'a ProgressBar,
    unit: &'static str,
    rate_name: &'static str,
) -> impl Fn(&Progress) + Sync + 'a {
    move |p: &Progress| {
        bar.set_length(p.words_total);
        bar.set_position(p.words_done);
        bar.set_message(format!(
            "epoch {} {:.0} {unit}/s {rate_name} {:.6}",
            p.epoch + 1,
            p.words_per_sec,
            p.alpha
        ));
    }
}

fn out_format(f: OutputFormat) -> VectorFormat {
    match f {
        OutputFormat::Word2vecBinary => VectorFormat::Word2VecBinary,
        OutputFormat::Word2vecText => VectorFormat::Word2VecText,
        OutputFormat::FasttextBin => VectorFormat::FastTextBin,
        OutputFormat::GloveText => VectorFormat::GloveText,
    }
}

fn train_word2vec(a: Word2VecArgs) -> anyhow::Result<i32> {
    let corpus = Corpus::Files(a.io.corpus.clone());
    let bar = progress_bar(a.io.quiet);
    let cb = progress_callback(&bar, "words", "alpha");
    let (mut model, report) = match &a.opts.resume {
        Some(path) => {
            let mut m = Word2Vec::load(path).with_context(|| {
                format!("loading the model to resume from '{}'", path.display())
            })?;
            m.set_params(a.opts.params())?;
            m.build_vocab(&corpus, true)?;
            let r = m.train(&corpus, Some(&cb))?;
            (m, r)
        }
        None => Word2Vec::train_new_with_progress(&corpus, a.opts.params(), Some(&cb))?,
    };
    bar.finish_and_clear();
    let format = out_format(a.io.format);
    if format == VectorFormat::FastTextBin {
        model.save(&a.io.output)?;
    } else {
        save_vectors(&model.wv, &a.io.output, format)?;
    }
    print_json(&json!({
        "model": "word2vec",
        "output": a.io.output,
        "format": format.name(),
        "vocab_size": model.wv.len(),
        "vector_size": model.wv.dim(),
        "words": report.words,
        "effective_words": report.effective_words,
        "seconds": report.seconds,
        "words_per_sec": report.words_per_sec,
    }));
    Ok(0)
}

fn train_fasttext(a: FastTextArgs) -> anyhow::Result<i32> {
    let corpus = Corpus::Files(a.io.corpus.clone());
    let bar = progress_bar(a.io.quiet);
    let cb = progress_callback(&bar, "words", "alpha");
    let sub = SubwordParams {
        min_n: a.min_n,
        max_n: a.max_n,
        bucket: a.bucket,
    };
    let (model, report) = match &a.opts.resume {
        Some(path) => {
            let mut m = FastText::load(path).with_context(|| {
                format!("loading the model to resume from '{}'", path.display())
            })?;
            m.set_params(a.opts.params())?;
            m.build_vocab(&corpus, true)?;
            let r = m.train(&corpus, Some(&cb))?;
            (m, r)
        }
        None => FastText::train_new_with_progress(&corpus, a.opts.params(), sub, Some(&cb))?,
    };
    bar.finish_and_clear();
    let format = out_format(a.io.format);
    let (vocab_size, dim) = (model.vocab().len(), model.params().vector_size);
    if format == VectorFormat::FastTextBin {
        model.save(&a.io.output)?;
    } else {
        save_vectors(&model.keyed_vectors(), &a.io.output, format)?;
    }
    print_json(&json!({
        "model": "fasttext",
        "output": a.io.output,
        "format": format.name(),
        "vocab_size": vocab_size,
        "vector_size": dim,
        "words": report.words,
        "effective_words": report.effective_words,
        "seconds": report.seconds,
        "words_per_sec": report.words_per_sec,
    }));
    Ok(0)
}

fn train_glove(a: GloveArgs) -> anyhow::Result<i32> {
    let corpus = Corpus::Files(a.io.corpus.clone());
    let format = out_format(a.io.format);
    if format == VectorFormat::FastTextBin {
        anyhow::bail!("GloVe vectors cannot be saved as fasttext-bin; use --format word2vec-binary, word2vec-text or glove-text");
    }
    let bar = progress_bar(a.io.quiet);
    let cb = progress_callback(&bar, "cells", "eta");
    let params = GloveParams {
        vector_size: a.vector_size,
        window: a.window,
        min_count: a.min_count,
        max_vocab_size: a.max_vocab_size,
        x_max: a.x_max,
        alpha: a.alpha,
        eta: a.eta,
        epochs: a.epochs,
        workers: a.workers,
        seed: a.seed,
    };
    let (model, report) = Glove::train_new(&corpus, params, Some(&cb))?;
    bar.finish_and_clear();
    let kv = model.keyed_vectors();
    save_vectors(&kv, &a.io.output, format)?;
    print_json(&json!({
        "model": "glove",
        "output": a.io.output,
        "format": format.name(),
        "vocab_size": kv.len(),
        "vector_size": kv.dim(),
        "words": report.corpus_words,
        "cooccurrences": report.cooccurrences,
        "final_cost": report.cost.last(),
        "seconds": report.seconds,
    }));
    Ok(0)
}
