//! `sentence-similarity`: cosine similarity of sentence embeddings, and semantic search,
//! as sentence-transformers' `util.cos_sim` and `util.semantic_search`.

use serde::Serialize;
use serde_json::Value;

use super::feature_extraction::FeatureExtraction;
use super::{Pipeline, PipelineInput, PipelineTask};
use crate::error::{Error, Result};

#[derive(Clone, Debug)]
pub struct Options {
    /// The query every input is compared with.
    pub query: Option<String>,
    /// Inputs embedded per forward pass (sentence-transformers' `encode` default, 32).
    /// Ranks are always over every input of a [`Pipeline::run_json`] call.
    pub batch_size: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            query: None,
            batch_size: 32,
        }
    }
}

/// One hit of a semantic search, as sentence-transformers returns it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Hit {
    pub corpus_id: usize,
    pub score: f64,
}

/// Cosine similarity of two vectors.
pub fn cos_sim(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb).max(1e-12)
}

/// The `top_k` corpus vectors most similar to the query, best first.
pub fn semantic_search(query: &[f32], corpus: &[Vec<f32>], top_k: usize) -> Vec<Hit> {
    let mut hits: Vec<Hit> = corpus
        .iter()
        .enumerate()
        .map(|(corpus_id, v)| Hit {
            corpus_id,
            score: cos_sim(query, v),
        })
        .collect();
    hits.sort_by(|a, b| b.score.total_cmp(&a.score));
    hits.truncate(top_k);
    hits
}

pub struct SentenceSimilarity {
    embedder: FeatureExtraction,
    options: Options,
}

impl SentenceSimilarity {
    pub fn new(embedder: FeatureExtraction, options: Options) -> Result<Self> {
        if options.query.is_none() {
            return Err(Error::Input(
                "sentence-similarity needs a query (--query TEXT) to compare the inputs with"
                    .into(),
            ));
        }
        Ok(Self { embedder, options })
    }

    pub fn embedder(&self) -> &FeatureExtraction {
        &self.embedder
    }
}

impl SentenceSimilarity {
    /// The query's vector and the inputs' vectors.
    fn embed(&self, inputs: &[PipelineInput]) -> Result<(Vec<f32>, Vec<Vec<f32>>)> {
        let query = self.options.query.clone().unwrap_or_default();
        let q = self
            .embedder
            .embed(&[query])?
            .into_iter()
            .next()
            .unwrap_or_default();
        let mut corpus = Vec::with_capacity(inputs.len());
        for chunk in inputs.chunks(self.options.batch_size.max(1)) {
            let texts: Vec<String> = chunk.iter().map(|i| i.text().to_string()).collect();
            corpus.extend(self.embedder.embed(&texts)?);
        }
        Ok((q, corpus))
    }
}

impl Pipeline for SentenceSimilarity {
    fn task(&self) -> PipelineTask {
        PipelineTask::SentenceSimilarity
    }

    /// One `{"score": cos, "rank": r}` per input: its cosine with the query and its place
    /// (1 = most similar) in the semantic search over all the inputs of this call, which
    /// are embedded `batch_size` at a time.
    fn run_json(&self, inputs: &[PipelineInput]) -> Vec<Result<Value>> {
        match self.embed(inputs) {
            Ok((q, corpus)) => {
                let mut rows = vec![serde_json::Value::Null; corpus.len()];
                for (r, hit) in semantic_search(&q, &corpus, corpus.len())
                    .iter()
                    .enumerate()
                {
                    rows[hit.corpus_id] = serde_json::json!({ "score": hit.score, "rank": r + 1 });
                }
                rows.into_iter().map(Ok).collect()
            }
            Err(e) => {
                let msg = e.to_string();
                inputs
                    .iter()
                    .map(|_| Err(Error::Input(msg.clone())))
                    .collect()
            }
        }
    }

    fn warnings(&self) -> &[String] {
        self.embedder.warnings()
    }
}
