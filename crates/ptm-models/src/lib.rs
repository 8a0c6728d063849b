//! ptm-models: transformer encoders and their task heads on candle, loaded from
//! Hugging Face checkpoints as they are.
//!
//! One file per architecture, named after its `model_type`: [`bert`] (with the RoBERTa
//! family as configuration), [`distilbert`], [`albert`], [`electra`]. Each holds its
//! config, its blocks bottom-up, the base model, then the heads. Shared blocks, and the
//! seam where fused kernels plug in, are in [`nn`]; the fused f32 CPU kernels
//! themselves (each with a backward pass) are in [`kernels`]. [`loader`] reads safetensors and
//! PyTorch checkpoints and reports missing and unexpected tensors; [`auto`] picks the
//! architecture from `config.json`.
//!
//! This crate does no I/O except reading `config.json` and weight files.

pub mod albert;
pub mod auto;
pub mod bert;
pub mod config;
pub mod distilbert;
pub mod electra;
pub mod error;
pub mod kernels;
pub mod loader;
pub mod model;
pub mod nn;

pub use auto::AutoModel;
pub use config::{ArchConfig, ModelConfig, SUPPORTED_MODEL_TYPES};
pub use error::{Error, Result};
pub use loader::{Checkpoint, LoadOptions, LoadReport};
pub use model::{EncoderInput, EncoderModel, ModelOutput, Task};
