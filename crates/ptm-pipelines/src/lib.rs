//! Task pipelines on Hugging Face checkpoints, and what they stand on: resolving a model
//! reference (a local folder or a Hub id through the standard Hugging Face cache) and loading its
//! tokenizer the way transformers' `AutoTokenizer` (fast) does.
//!
//! - [`hub`]: [`hub::ModelRef`] parses `org/name@revision` or a folder path; [`hub::ModelRepo`]
//!   finds a repository's files in a folder or the Hub cache, downloading only when allowed.
//! - [`tokenizer`]: [`tokenizer::Tokenizer`] loads `tokenizer.json`, or builds the same tokenizer
//!   from `vocab.txt` (WordPiece) or `vocab.json` + `merges.txt` (byte-level BPE), and encodes
//!   batches with character offsets.
//! - [`error`]: the crate's [`error::Error`].

pub mod error;
pub mod hub;
pub mod loading;
pub mod pipelines;
pub mod tokenizer;

pub use loading::{LoadedModel, ModelOptions};
pub use pipelines::{pipeline, Pipeline, PipelineInput, PipelineOptions, PipelineTask};
