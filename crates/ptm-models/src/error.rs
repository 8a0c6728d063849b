//! The one error type at the boundary of `ptm-models`.

use std::path::PathBuf;

/// Everything that can go wrong while reading a config, opening weights or running a model.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `config.json` is missing a field, has a wrong type, or names something unsupported.
    #[error("{0}")]
    Config(String),

    /// `model_type` is not one ptm implements.
    #[error("unsupported model_type '{found}' in config.json; ptm supports: {supported}")]
    UnsupportedModelType { found: String, supported: String },

    /// A weights file could not be opened or parsed.
    #[error("cannot read weights file '{path}': {reason}")]
    WeightsFile { path: PathBuf, reason: String },

    /// A tensor in the checkpoint has a shape the config does not imply.
    #[error(
        "tensor '{name}' has shape {found:?} in the checkpoint but the config implies {expected:?}: \
         config.json does not match the weights (was the config edited, or taken from another model?)"
    )]
    ShapeMismatch {
        name: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },

    /// The checkpoint lacks most of the weights the architecture needs.
    #[error("{0}")]
    WrongCheckpoint(String),

    /// An error from the tensor library while building or running a model.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),

    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub type Result<T> = std::result::Result<T, Error>;
