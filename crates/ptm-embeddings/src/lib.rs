//! Static word embeddings: train Word2Vec, FastText and GloVe vectors on a corpus streamed from
//! files, query them, evaluate them, and exchange them in the formats everyone uses.
//!
//! ```no_run
//! use ptm_embeddings::{Corpus, Word2Vec, Word2VecParams};
//! # fn main() -> ptm_embeddings::Result<()> {
//! let sentences = vec![vec!["hello", "world"], vec!["hello", "there"]];
//! let params = Word2VecParams { vector_size: 100, window: 5, min_count: 1, ..Default::default() };
//! let model = Word2Vec::train_new(&Corpus::from_sentences(&sentences), params)?;
//! let v = model.wv.vector("hello")?;
//! # let _ = v; Ok(()) }
//! ```
//!
//! The pieces, in the order data flows through them:
//! - [`corpus`]: sentences streamed from files (one a line, whitespace tokens, long lines cut
//!   into 10,000-token chunks) or held in memory;
//! - [`vocab`]: counting with gensim's pruning, `min_count` / `max_final_vocab`, and the tables
//!   training needs (subsampling thresholds, the negative-sampling distribution, the Huffman tree);
//! - `train` (internal): the lock-free (Hogwild!) skip-gram / CBOW loop shared by [`Word2Vec`] and
//!   [`FastText`] (character n-grams hashed as fastText does: [`ngrams`]);
//! - [`glove`]: co-occurrence counting and AdaGrad on GloVe's weighted least squares;
//! - [`KeyedVectors`]: the query side (similarity, neighbours, analogies) and [`evaluate`];
//! - [`formats`]: word2vec C text/binary, GloVe text, fastText `.vec` and `.bin`.
//!
//! Training is reproducible with one worker and a fixed seed; with several workers, threads
//! race on the shared weights by design (see `kernels::SharedMatrix`), as in word2vec.c.

pub mod corpus;
pub mod error;
pub mod evaluate;
pub mod formats;
pub mod glove;
mod kernels;
mod keyed_vectors;
pub mod ngrams;
mod train;
pub mod vocab;
mod word2vec;

pub use corpus::Corpus;
pub use error::{EmbeddingsError, Result};
pub use evaluate::{AnalogyReport, PairsReport, SectionScore, DEFAULT_RESTRICT_VOCAB};
pub use formats::{load_vectors, save_vectors, FastTextBin, VectorFormat};
pub use glove::{Glove, GloveParams};
pub use keyed_vectors::{KeyedVectors, Scored, SubwordVectors};
pub use train::{Progress, ProgressFn, TrainReport};
pub use word2vec::{FastText, SubwordParams, Word2Vec, Word2VecParams};
