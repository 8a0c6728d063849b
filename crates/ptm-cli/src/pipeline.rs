//! `ptm pipeline <task>`: the command-line face of `ptm_pipelines`.
//!
//! Inputs come from the TEXT arguments or, without them, from standard input, one per
//! line (a line holding a JSON object is a structured input). Each input gets one line
//! of JSON on stdout, in order; logs and warnings go to stderr.

use std::io::{BufRead, Write};

use anyhow::{bail, Context};
use candle_core::{DType, Device};
use ptm_pipelines::hub::HubOptions;
use ptm_pipelines::pipelines::{
    feature_extraction, parse_labels, text_classification, token_classification, PipelineOptions,
};
use ptm_pipelines::{pipeline, ModelOptions, PipelineInput, PipelineTask};

/// Exit status when the command line itself is wrong.
pub const USAGE_ERROR: i32 = 2;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The task: feature-extraction, sentence-similarity, fill-mask, text-classification
    /// (sentiment-analysis), token-classification (ner), question-answering,
    /// zero-shot-classification.
    pub task: String,

    /// A local checkpoint folder or a Hugging Face Hub id (`org/name[@revision]`).
    /// Default: the checkpoint transformers uses for the task.
    #[arg(long)]
    pub model: Option<String>,

    /// Inputs; without them, standard input is read, one input a line.
    pub texts: Vec<String>,

    /// Use only files already in the Hugging Face cache (also: HF_HUB_OFFLINE=1).
    #[arg(long)]
    pub offline: bool,

    /// Inputs run through the model together.
    #[arg(long, default_value_t = 8)]
    pub batch_size: usize,

    /// Truncate inputs to this many tokens (default: the model's maximum).
    #[arg(long)]
    pub max_length: Option<usize>,

    /// cpu, cuda:N or metal.
    #[arg(long, default_value = "cpu")]
    pub device: String,

    /// f32, f16 or bf16 (default f32).
    #[arg(long, default_value = "f32")]
    pub dtype: String,

    /// Labels (classification) or candidates per mask (fill-mask) to return; `all` for
    /// every label.
    #[arg(long)]
    pub top_k: Option<String>,

    /// softmax, sigmoid or none (text-classification).
    #[arg(long)]
    pub function_to_apply: Option<String>,

    /// Restrict fill-mask candidates to these words (repeat or separate with commas).
    #[arg(long, value_delimiter = ',')]
    pub targets: Vec<String>,

    /// mean, cls or max: one sentence vector per input (feature-extraction).
    #[arg(long)]
    pub pooling: Option<String>,

    /// L2-normalise pooled sentence vectors.
    #[arg(long)]
    pub normalize: bool,

    /// The sentence the inputs are compared with (sentence-similarity).
    #[arg(long)]
    pub query: Option<String>,

    /// Labels for zero-shot-classification (repeat or separate with commas).
    #[arg(long, value_delimiter = ',')]
    pub candidate_labels: Vec<String>,

    /// Zero-shot hypothesis with `{}` for the label (default "This example is {}.").
    #[arg(long)]
    pub hypothesis_template: Option<String>,

    /// Score zero-shot labels independently.
    #[arg(long)]
    pub multi_label: bool,

    /// none, simple, first, average or max (token-classification).
    #[arg(long)]
    pub aggregation_strategy: Option<String>,

    /// Labels left out of token-classification output (default O); repeat or use commas.
    #[arg(long, value_delimiter = ',')]
    pub ignore_labels: Option<Vec<String>>,

    /// Overlap, in tokens, of the windows a long text is read in (token-classification with
    /// an aggregation strategy; default a quarter of the model's maximum).
    #[arg(long)]
    pub stride: Option<usize>,

    /// Cut long texts to the model's maximum instead of reading them in windows
    /// (token-classification; what transformers does without a stride).
    #[arg(long)]
    pub truncate: bool,

    /// Overlap of the context windows (question-answering, default 128).
    #[arg(long)]
    pub doc_stride: Option<usize>,

    /// Longest answer in tokens (question-answering, default 15).
    #[arg(long)]
    pub max_answer_len: Option<usize>,

    /// Window length in tokens, question included (question-answering, default 384).
    #[arg(long)]
    pub max_seq_len: Option<usize>,

    /// Longest question in tokens (question-answering, default 64).
    #[arg(long)]
    pub max_question_len: Option<usize>,

    /// Allow the empty answer (question-answering).
    #[arg(long)]
    pub handle_impossible_answer: bool,
}

pub fn run(args: Args) -> anyhow::Result<i32> {
    let task = match PipelineTask::from_name(&args.task) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(USAGE_ERROR);
        }
    };
    let (options, model_options) = match build_options(task, &args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(USAGE_ERROR);
        }
    };
    let reference = match (&args.model, task.default_model()) {
        (Some(m), _) => m.clone(),
        (None, Ok(m)) => m.to_string(),
        (None, Err(e)) => {
            eprintln!("error: {e}");
            return Ok(USAGE_ERROR);
        }
    };
    if args.model.is_none() {
        eprintln!(
            "no --model given: using {reference}, transformers' default for {}",
            args.task
        );
    }
    let pipe = pipeline(task, &reference, &model_options, &options)
        .with_context(|| format!("cannot load '{reference}' for {}", args.task))?;
    for w in pipe.warnings() {
        eprintln!("warning: {w}");
    }

    let inputs = read_inputs(&args.texts)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut failed = false;
    let progress = indicatif::ProgressBar::new(inputs.len() as u64);
    // Batches of --batch-size, except for tasks that rank the inputs against each other:
    // those take every input at once and batch the forward passes themselves.
    let chunk_len = if task.compares_inputs() {
        inputs.len().max(1)
    } else {
        args.batch_size
    };
    for chunk in inputs.chunks(chunk_len) {
        let parsed: Vec<Result<PipelineInput, String>> = chunk.to_vec();
        let good: Vec<PipelineInput> = parsed
            .iter()
            .filter_map(|p| p.as_ref().ok().cloned())
            .collect();
        let mut results = pipe.run_json(&good).into_iter();
        for p in &parsed {
            let line = match p {
                Err(msg) => Err(msg.clone()),
                Ok(_) => results
                    .next()
                    .expect("one result per input")
                    .map_err(|e| e.to_string()),
            };
            match line {
                Ok(v) => writeln!(out, "{v}")?,
                Err(msg) => {
                    failed = true;
                    writeln!(out, "{}", serde_json::json!({ "error": msg }))?;
                }
            }
        }
        out.flush()?;
        progress.inc(chunk.len() as u64);
    }
    progress.finish_and_clear();
    Ok(if failed { 1 } else { 0 })
}

/// The inputs: arguments, or standard input one per line. A line that is not UTF-8 or
/// not a valid structured input becomes an error for that line alone.
fn read_inputs(texts: &[String]) -> anyhow::Result<Vec<Result<PipelineInput, String>>> {
    if !texts.is_empty() {
        return Ok(texts.iter().map(|t| parse_line(t)).collect());
    }
    let stdin = std::io::stdin();
    let mut lines = Vec::new();
    for (n, raw) in stdin.lock().split(b'\n').enumerate() {
        let mut raw = raw.context("cannot read standard input")?;
        if raw.last() == Some(&b'\r') {
            raw.pop();
        }
        lines.push(match String::from_utf8(raw) {
            Ok(s) => parse_line(&s),
            Err(e) => Err(format!(
                "input line {} is not valid UTF-8 (invalid byte at offset {}); re-encode the input as UTF-8",
                n + 1,
                e.utf8_error().valid_up_to()
            )),
        });
    }
    Ok(lines)
}

fn parse_line(line: &str) -> Result<PipelineInput, String> {
    PipelineInput::from_line(line).map_err(|e| e.to_string())
}

fn build_options(task: PipelineTask, a: &Args) -> anyhow::Result<(PipelineOptions, ModelOptions)> {
    let mut hub = HubOptions::from_env();
    hub.offline |= a.offline;
    let device = match a.device.as_str() {
        "cpu" => Device::Cpu,
        d if d.starts_with("cuda") || d == "metal" => {
            bail!("--device {d}: this build of ptm runs on the CPU only; use --device cpu")
        }
        d => bail!("unknown --device '{d}'; use cpu, cuda:N or metal"),
    };
    let dtype = match a.dtype.as_str() {
        "f32" | "float32" => DType::F32,
        "f16" | "float16" => DType::F16,
        "bf16" | "bfloat16" => DType::BF16,
        d => bail!("unknown --dtype '{d}'; use f32, f16 or bf16"),
    };
    if a.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    let mut o = PipelineOptions::default();
    o.common.max_length = a.max_length;
    if let Some(k) = &a.top_k {
        let parsed = if k == "all" || k == "none" {
            None
        } else {
            Some(
                k.parse::<usize>()
                    .ok()
                    .filter(|k| *k > 0)
                    .with_context(|| format!("--top-k '{k}' must be a positive number or 'all'"))?,
            )
        };
        o.text_classification.top_k = match parsed {
            None => text_classification::TopK::All,
            Some(k) => text_classification::TopK::K(k),
        };
        if let Some(k) = parsed {
            o.fill_mask.top_k = k;
        }
        set_top_k_extra(&mut o, parsed);
    }
    if let Some(f) = &a.function_to_apply {
        o.text_classification.function_to_apply =
            Some(text_classification::ScoreFunction::from_name(f)?);
    }
    if !a.targets.is_empty() {
        o.fill_mask.targets = Some(a.targets.clone());
    }
    if let Some(p) = &a.pooling {
        o.feature_extraction.pooling = Some(feature_extraction::Pooling::from_name(p)?);
    }
    if a.normalize {
        o.feature_extraction.normalize = Some(true);
    }
    o.sentence_similarity.query = a.query.clone();
    o.sentence_similarity.batch_size = a.batch_size;
    if task == PipelineTask::SentenceSimilarity && a.query.is_none() {
        bail!("sentence-similarity needs --query TEXT");
    }
    if !a.candidate_labels.is_empty() {
        o.zero_shot.candidate_labels = parse_labels(&serde_json::json!(a.candidate_labels))?;
    }
    o.zero_shot.hypothesis_template = a.hypothesis_template.clone();
    o.zero_shot.multi_label = a.multi_label;
    set_task_extras(&mut o, a)?;
    Ok((o, ModelOptions { hub, dtype, device }))
}

/// `--top-k` for question-answering.
fn set_top_k_extra(o: &mut PipelineOptions, k: Option<usize>) {
    if let Some(k) = k {
        o.question_answering.top_k = k;
    }
}

/// Token-classification and question-answering options.
fn set_task_extras(o: &mut PipelineOptions, a: &Args) -> anyhow::Result<()> {
    if let Some(s) = &a.aggregation_strategy {
        o.token_classification.aggregation_strategy =
            token_classification::AggregationStrategy::from_name(s)?;
    }
    if let Some(labels) = &a.ignore_labels {
        o.token_classification.ignore_labels = labels.clone();
    }
    o.token_classification.stride = a.stride;
    o.token_classification.truncate = a.truncate;
    let qa = &mut o.question_answering;
    qa.doc_stride = a.doc_stride;
    qa.max_seq_len = a.max_seq_len;
    if let Some(n) = a.max_answer_len {
        qa.max_answer_len = n;
    }
    if let Some(n) = a.max_question_len {
        qa.max_question_len = n;
    }
    qa.handle_impossible_answer = a.handle_impossible_answer;
    Ok(())
}
