//! The `ptm` command line: thin glue over the library crates.
//!
//! Exit status: 0 on success, 1 when some input failed (its output line holds `{"error": ..}`),
//! 2 on a usage error.

use clap::{Parser, Subcommand};

mod alloc;
mod embeddings;
mod pipeline;

#[derive(Parser)]
#[command(
    name = "ptm",
    version,
    about = "Pre-trained language models: run, embed, train"
)]
struct Cli {
    /// Threads for model math and tokenization (default: RAYON_NUM_THREADS, else every core).
    #[arg(long, global = true)]
    threads: Option<usize>,

    /// Precision of f32 linear layers, as torch.set_float32_matmul_precision: `highest`
    /// (f32) or `medium` (bf16 products with f32 sums, on AVX512-BF16 CPUs: ~1.4-2.2x
    /// faster matrix products, outputs within ~1% of f32).
    #[arg(long, global = true, value_parser = ["highest", "medium"])]
    matmul_precision: Option<String>,

    #[command(subcommand)]
    command: Command,
}

// Parsed once per process: the size of the variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run a task pipeline (text-classification, fill-mask, ...) on a Hugging Face checkpoint.
    Pipeline(pipeline::Args),
    /// Train, query and evaluate static word embeddings (Word2Vec, FastText, GloVe).
    #[command(subcommand)]
    Embeddings(embeddings::Command),
}

fn main() {
    alloc::keep_freed_memory();
    let cli = Cli::parse();
    if let Some(n) = cli.threads {
        if n == 0 {
            eprintln!("error: --threads must be at least 1");
            std::process::exit(2);
        }
        // One pool for everything: candle sizes its GEMM parallelism from
        // RAYON_NUM_THREADS, and rayon's global pool (kernels, tokenization) is built to
        // match. Set before any other thread exists.
        std::env::set_var("RAYON_NUM_THREADS", n.to_string());
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global();
    }
    if let Some(p) = &cli.matmul_precision {
        if !ptm_models::kernels::set_float32_matmul_precision(p) {
            eprintln!(
                "error: --matmul-precision {p} needs a CPU with AVX512-BF16, which this one \
                 lacks; use --matmul-precision highest"
            );
            std::process::exit(2);
        }
    }
    let result = match cli.command {
        Command::Pipeline(args) => pipeline::run(args),
        Command::Embeddings(cmd) => embeddings::run(cmd),
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::exit(1);
        }
    }
}
