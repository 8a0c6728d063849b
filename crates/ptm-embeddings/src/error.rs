//! The one error type of this crate. Every message says what was wrong and what to do about it.

use std::path::PathBuf;

/// Everything that can go wrong while building, training, querying, reading or writing embeddings.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddingsError {
    #[error("cannot read '{path}': {source} (check that the file exists and is readable)")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot write '{path}': {source} (check that the directory exists and is writable)")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("'{path}' line {line} is not valid UTF-8 (byte {byte}); re-encode the file as UTF-8, e.g. `iconv -f latin1 -t utf-8`")]
    InvalidUtf8 {
        path: PathBuf,
        line: u64,
        byte: usize,
    },

    #[error("the corpus is empty: no tokens were found in {what}; pass a file with one whitespace-tokenised sentence per line")]
    EmptyCorpus { what: String },

    #[error("no word occurs at least min_count={min_count} times (the corpus has {total_words} tokens, {distinct} distinct words, the most frequent occurs {max_count} times); lower --min-count or use a larger corpus")]
    NothingReachesMinCount {
        min_count: u64,
        total_words: u64,
        distinct: usize,
        max_count: u64,
    },

    #[error("word '{word}' is not in the vocabulary ({vocab_size} words){hint}")]
    OutOfVocabulary {
        word: String,
        vocab_size: usize,
        hint: &'static str,
    },

    #[error("invalid parameter {name}={value}: {expected}")]
    InvalidParameter {
        name: &'static str,
        value: String,
        expected: &'static str,
    },

    #[error("'{path}' is not a valid {format} file: {reason}")]
    Format {
        path: PathBuf,
        format: &'static str,
        reason: String,
    },

    #[error("'{path}' is truncated: {reason}; the file was probably cut short while copying or writing: re-create or re-download it")]
    Truncated { path: PathBuf, reason: String },

    #[error("'{path}': the header announces {expected} but {found}; fix the header (first line: '<number of words> <dimensions>') or re-export the file")]
    HeaderMismatch {
        path: PathBuf,
        expected: String,
        found: String,
    },

    #[error("{0}")]
    Invalid(String),
}

pub type Result<T, E = EmbeddingsError> = std::result::Result<T, E>;

impl EmbeddingsError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        EmbeddingsError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn write(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        EmbeddingsError::Write {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn param(name: &'static str, value: impl ToString, expected: &'static str) -> Self {
        EmbeddingsError::InvalidParameter {
            name,
            value: value.to_string(),
            expected,
        }
    }
}
