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
