//! The `ptm` command line: thin glue over the library crates.
//!
//! Exit status: 0 on success, 1 when some input failed (its output line holds `{"error": ..}`),
//! 2 on a usage error.

use clap::{Parser, Subcommand};

mod embeddings;
mod pipeline;

#[derive(Parser)]
#[command(
    name = "ptm",
    version,
    about = "Pre-trained language models: run, embed, train"
)]
struct Cli {
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
    let cli = Cli::parse();
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
