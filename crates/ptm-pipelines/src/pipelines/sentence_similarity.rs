//! `sentence-similarity`: cosine similarity of sentence embeddings, and semantic search,
//! as sentence-transformers' `util.cos_sim` and `util.semantic_search`.

use serde::Serialize;
use serde_json::Value;

use super::feature_extraction::FeatureExtraction;
use super::{Pipeline, PipelineInput, PipelineTask};
use crate::error::{Error, Result};

#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The query every input is compared with.
    pub query: Option<String>,
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

impl Pipeline for SentenceSimilarity {
    fn task(&self) -> PipelineTask {
        PipelineTask::SentenceSimilarity
    }

    /// One `{"score": cos, "rank": r}` per input: its cosine with the query and its place
    /// (1 = most similar) in the semantic search over the batch.
    fn run_json(&self, inputs: &[PipelineInput]) -> Vec<Result<Value>> {
        let query = self.options.query.clone().unwrap_or_default();
        let mut texts: Vec<String> = vec![query];
        texts.extend(inputs.iter().map(|i| i.text().to_string()));
        let vectors = match self.embedder.embed(&texts) {
            Ok(v) => v,
            Err(e) => {
                let msg = e.to_string();
                return inputs
                    .iter()
                    .map(|_| Err(Error::Input(msg.clone())))
                    .collect();
            }
        };
        let (q, corpus) = vectors.split_first().expect("query embedded");
        let mut rank = vec![0; corpus.len()];
        for (r, hit) in semantic_search(q, corpus, corpus.len()).iter().enumerate() {
            rank[hit.corpus_id] = r + 1;
        }
        corpus
            .iter()
            .zip(rank)
            .map(|(v, r)| Ok(serde_json::json!({ "score": cos_sim(q, v), "rank": r })))
            .collect()
    }

    fn warnings(&self) -> &[String] {
        self.embedder.warnings()
    }
}
