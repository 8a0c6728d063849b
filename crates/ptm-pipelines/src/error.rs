//! The crate's error type. Every message says what was wrong and what to do about it.

use std::path::PathBuf;

/// Errors of `ptm-pipelines`: model resolution, tokenizer loading and encoding, pipelines.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A model reference that is neither an existing folder nor a valid Hub id.
    #[error(
        "invalid model reference '{reference}': {reason} (expected a local folder, or a Hugging Face \
         Hub id such as 'bert-base-uncased', 'org/name' or 'org/name@revision')"
    )]
    InvalidModelRef { reference: String, reason: String },

    /// A file (or a whole repository) needed from the Hub is not in the local cache and the
    /// network may not be used.
    #[error("{0}")]
    NotCached(String),

    /// The Hub refused or could not serve a repository or file.
    #[error("{0}")]
    Hub(String),

    /// A file that the caller requires is absent from the repository.
    #[error("{location} has no {file}{hint}")]
    MissingFile {
        location: String,
        file: String,
        /// Extra guidance, starting with a separator (e.g. " (expected ...)"), or empty.
        hint: String,
    },

    /// A file could not be read.
    #[error("could not read '{}': {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A JSON file could not be parsed.
    #[error("'{}' is not valid JSON: {source}", path.display())]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },

    /// A repository or folder holds no tokenizer in any of the accepted layouts.
    #[error(
        "{location} has no tokenizer: expected tokenizer.json, or vocab.txt (+ tokenizer_config.json) \
         for a WordPiece tokenizer, or vocab.json + merges.txt for a byte-level BPE tokenizer{hint}"
    )]
    NoTokenizer { location: String, hint: String },

    /// A tokenizer file is present but cannot be used.
    #[error("invalid tokenizer file '{}': {message}", path.display())]
    InvalidTokenizer { path: PathBuf, message: String },

    /// A special token (mask, pad, ...) was asked for and the tokenizer does not have one.
    #[error("the tokenizer of {location} has no {name} token{hint}")]
    MissingSpecialToken {
        name: &'static str,
        location: String,
        hint: String,
    },

    /// Encoding or decoding failed, or the encoding options are inconsistent.
    #[error("tokenization failed: {0}")]
    Tokenize(String),

    /// Loading or running the model failed.
    #[error(transparent)]
    Model(#[from] ptm_models::Error),

    /// A tensor operation failed while running a pipeline.
    #[error("model run failed: {0}")]
    Candle(#[from] candle_core::Error),

    /// One input (or an option) cannot be processed; the message says why and what to do.
    #[error("{0}")]
    Input(String),
}

/// `Result` with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
