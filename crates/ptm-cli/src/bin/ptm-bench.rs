//! `ptm-bench`: the Rust side of `scripts/bench/bench_encoders.py` (issue 3).
//!
//! Each subcommand loads once, runs warm-up iterations, then times `--runs` iterations and
//! prints one JSON line `{"times_s": [...], "median_s": ..}` on stdout; everything else goes
//! to stderr. Threads come from candle's pool, sized by `RAYON_NUM_THREADS` (or
//! `CANDLE_NUM_THREADS`), as in any other ptm process.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context};
use candle_core::{DType, Device, Tensor};
use clap::{Parser, Subcommand, ValueEnum};
use ptm_models::{AutoModel, EncoderInput, EncoderModel, LoadOptions, Task};
use ptm_pipelines::hub::HubOptions;
use ptm_pipelines::pipelines::feature_extraction::{self, FeatureExtraction, Pooling};
use ptm_pipelines::pipelines::CommonOptions;
use ptm_pipelines::{LoadedModel, ModelOptions};
use serde_json::json;

#[path = "../alloc.rs"]
mod alloc;

#[derive(Parser)]
#[command(
    name = "ptm-bench",
    about = "Timings of ptm's encoders for scripts/bench"
)]
struct Cli {
    /// `highest` (f32) or `medium` (bf16 linear layers), as `ptm --matmul-precision`.
    #[arg(long, global = true, default_value = "highest", value_parser = ["highest", "medium"])]
    matmul_precision: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Forward passes of a checkpoint on random token ids of shape (batch, seq).
    Forward(ForwardArgs),
    /// Sentence embeddings end to end (tokenize, forward, mean-pool, normalize), as
    /// sentence-transformers' `encode`.
    Embed(EmbedArgs),
    /// An (n, n) × (n, n) f32 matmul: the ceiling the forward passes are measured against.
    Matmul(MatmulArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum BenchTask {
    Base,
    Seqcls,
}

#[derive(clap::Args)]
struct Timing {
    #[arg(long, default_value_t = 2)]
    warmup: usize,
    #[arg(long, default_value_t = 5)]
    runs: usize,
}

#[derive(clap::Args)]
struct ForwardArgs {
    /// A Hugging Face checkpoint folder (config.json + model.safetensors).
    #[arg(long)]
    model: PathBuf,
    #[arg(long, value_enum, default_value = "base")]
    task: BenchTask,
    #[arg(long, default_value_t = 1)]
    batch: usize,
    #[arg(long, default_value_t = 128)]
    seq: usize,
    /// Seed of the random token ids.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[command(flatten)]
    timing: Timing,
}

#[derive(clap::Args)]
struct EmbedArgs {
    /// A sentence-transformers folder with its tokenizer.
    #[arg(long)]
    model: PathBuf,
    /// Texts, one a line.
    #[arg(long)]
    texts: PathBuf,
    #[arg(long, default_value_t = 32)]
    batch: usize,
    #[command(flatten)]
    timing: Timing,
}

#[derive(clap::Args)]
struct MatmulArgs {
    #[arg(long, default_value_t = 2048)]
    n: usize,
    #[command(flatten)]
    timing: Timing,
}

fn main() -> anyhow::Result<()> {
    alloc::keep_freed_memory();
    let cli = Cli::parse();
    if !ptm_models::kernels::set_float32_matmul_precision(&cli.matmul_precision) {
        bail!(
            "--matmul-precision {} needs AVX512-BF16",
            cli.matmul_precision
        );
    }
    eprintln!(
        "ptm-bench: {} thread(s) (RAYON_NUM_THREADS={})",
        candle_core::utils::get_num_threads(),
        std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "unset".into())
    );
    let times = match cli.command {
        Command::Forward(args) => forward(&args)?,
        Command::Embed(args) => embed(&args)?,
        Command::Matmul(args) => matmul(&args)?,
    };
    println!("{}", json!({"times_s": times, "median_s": median(&times)}));
    Ok(())
}

/// Runs `f` `warmup` times untimed, then `runs` times timed; seconds per run.
fn time_runs(t: &Timing, mut f: impl FnMut() -> anyhow::Result<()>) -> anyhow::Result<Vec<f64>> {
    if t.runs == 0 {
        bail!("--runs must be at least 1");
    }
    for _ in 0..t.warmup {
        f()?;
    }
    (0..t.runs)
        .map(|_| {
            let start = Instant::now();
            f()?;
            Ok(start.elapsed().as_secs_f64())
        })
        .collect()
}

fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// SplitMix64: a fixed, dependency-free stream of token ids.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

fn forward(args: &ForwardArgs) -> anyhow::Result<Vec<f64>> {
    let task = match args.task {
        BenchTask::Base => Task::Base,
        BenchTask::Seqcls => Task::SequenceClassification,
    };
    let (model, _report) = AutoModel::from_dir(&args.model, task, &LoadOptions::default())
        .with_context(|| format!("loading {}", args.model.display()))?;
    let config_path = args.model.join("config.json");
    let config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&config_path)
            .with_context(|| format!("reading {}", config_path.display()))?,
    )
    .with_context(|| format!("parsing {}", config_path.display()))?;
    let vocab = config
        .get("vocab_size")
        .and_then(serde_json::Value::as_u64)
        .context("config.json has no vocab_size")?;
    if vocab <= 1000 {
        bail!("vocab_size {vocab} is too small: ids are drawn from [1000, vocab_size)");
    }
    let (b, t) = (args.batch, args.seq);
    let mut rng = SplitMix(args.seed);
    let ids: Vec<u32> = (0..b * t)
        .map(|_| (1000 + rng.next() % (vocab - 1000)) as u32)
        .collect();
    let device = Device::Cpu;
    let input = EncoderInput {
        input_ids: Tensor::from_vec(ids, (b, t), &device)?,
        attention_mask: Tensor::ones((b, t), DType::U32, &device)?,
        token_type_ids: None,
    };
    time_runs(&args.timing, || {
        let out = model.forward(&input)?;
        // Touch the result so nothing is left lazily unfinished.
        let _ = out.logits.unwrap_or(out.last_hidden_state).dims().len();
        Ok(())
    })
}

fn embed(args: &EmbedArgs) -> anyhow::Result<Vec<f64>> {
    let text = std::fs::read_to_string(&args.texts)
        .with_context(|| format!("reading {}", args.texts.display()))?;
    let texts: Vec<String> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect();
    if texts.is_empty() || args.batch == 0 {
        bail!("{} has no texts (or --batch is 0)", args.texts.display());
    }
    let options = ModelOptions {
        hub: HubOptions {
            offline: true,
            ..HubOptions::from_env()
        },
        ..ModelOptions::default()
    };
    let reference = args.model.to_string_lossy();
    let loaded = LoadedModel::load(&reference, Task::Base, &options)
        .with_context(|| format!("loading {reference}"))?;
    let pipe = FeatureExtraction::new(
        loaded,
        CommonOptions::default(),
        feature_extraction::Options {
            pooling: Some(Pooling::Mean),
            normalize: Some(true),
        },
    )?;
    time_runs(&args.timing, || {
        for chunk in texts.chunks(args.batch) {
            let vectors = pipe.embed(chunk)?;
            if vectors.len() != chunk.len() {
                bail!("{} vectors for {} texts", vectors.len(), chunk.len());
            }
        }
        Ok(())
    })
}

fn matmul(args: &MatmulArgs) -> anyhow::Result<Vec<f64>> {
    let n = args.n;
    let device = Device::Cpu;
    let a = Tensor::randn(0f32, 1.0, (n, n), &device)?;
    let b = Tensor::randn(0f32, 1.0, (n, n), &device)?;
    let times = time_runs(&args.timing, || {
        a.matmul(&b)?;
        Ok(())
    })?;
    let flops = 2.0 * (n as f64).powi(3);
    eprintln!(
        "matmul {n}³: median {:.4} s, {:.1} GFLOP/s",
        median(&times),
        flops / median(&times) / 1e9
    );
    Ok(times)
}
