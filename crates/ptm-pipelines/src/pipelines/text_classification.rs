//! `text-classification` (alias `sentiment-analysis`): labels and scores for a text or a
//! text pair, as transformers' `TextClassificationPipeline`.

use serde::Serialize;
use serde_json::Value;

use super::{
    encode_truncated, sigmoid, softmax, CommonOptions, Pipeline, PipelineInput, PipelineTask,
};
use crate::error::{Error, Result};
use crate::loading::LoadedModel;
use crate::tokenizer::{TextInput, TruncationStrategy};

/// How logits become scores (`function_to_apply`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScoreFunction {
    Softmax,
    Sigmoid,
    None,
}

impl ScoreFunction {
    pub fn from_name(name: &str) -> Result<Self> {
        match name {
            "softmax" => Ok(Self::Softmax),
            "sigmoid" => Ok(Self::Sigmoid),
            "none" => Ok(Self::None),
            other => Err(Error::Input(format!(
                "unknown function_to_apply '{other}'; use softmax, sigmoid or none"
            ))),
        }
    }
}

/// How many labels to return.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TopK {
    /// transformers' default: the best label only (a pair input then returns a bare object).
    #[default]
    Default,
    /// Every label, best first (`top_k=None`).
    All,
    /// The best `k` labels.
    K(usize),
}

#[derive(Clone, Debug, Default)]
pub struct Options {
    pub top_k: TopK,
    /// `None`: chosen from the config as transformers does (regression → none; multi-label
    /// or a single label → sigmoid; otherwise softmax).
    pub function_to_apply: Option<ScoreFunction>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LabelScore {
    pub label: String,
    pub score: f64,
}

pub struct TextClassification {
    model: LoadedModel,
    common: CommonOptions,
    options: Options,
    function: ScoreFunction,
}

impl TextClassification {
    pub fn new(model: LoadedModel, common: CommonOptions, options: Options) -> Result<Self> {
        let function = options.function_to_apply.unwrap_or_else(|| {
            let problem = model.config.common.problem_type.as_deref();
            if problem == Some("regression") {
                ScoreFunction::None
            } else if problem == Some("multi_label_classification")
                || model.config.num_labels() == 1
            {
                ScoreFunction::Sigmoid
            } else {
                ScoreFunction::Softmax
            }
        });
        Ok(Self {
            model,
            common,
            options,
            function,
        })
    }

    /// Scores every label for each input; labels sorted best first and cut to `top_k`.
    pub fn classify(&self, inputs: &[PipelineInput]) -> Vec<Result<Vec<LabelScore>>> {
        let mut results: Vec<Option<Result<Vec<LabelScore>>>> =
            (0..inputs.len()).map(|_| None).collect();
        let mut texts = Vec::new();
        let mut slots = Vec::new();
        for (i, input) in inputs.iter().enumerate() {
            match input {
                PipelineInput::Text(t) => texts.push(TextInput::Single(t.clone())),
                PipelineInput::Pair { text, text_pair } => {
                    texts.push(TextInput::Pair(text.clone(), text_pair.clone()))
                }
                other => {
                    results[i] = Some(Err(Error::Input(format!(
                        "text-classification takes a text or {{\"text\", \"text_pair\"}}, not {other:?}"
                    ))));
                    continue;
                }
            }
            slots.push(i);
        }
        if !texts.is_empty() {
            match self.scores(&texts) {
                Ok(all) => {
                    for (slot, scores) in slots.into_iter().zip(all) {
                        results[slot] = Some(Ok(scores));
                    }
                }
                Err(e) => {
                    let msg = e.to_string();
                    for slot in slots {
                        results[slot] = Some(Err(Error::Input(msg.clone())));
                    }
                }
            }
        }
        results
            .into_iter()
            .map(|r| r.expect("every input answered"))
            .collect()
    }

    fn scores(&self, texts: &[TextInput]) -> Result<Vec<Vec<LabelScore>>> {
        let encodings = encode_truncated(
            &self.model,
            &self.common,
            texts,
            TruncationStrategy::LongestFirst,
        )?;
        let refs: Vec<_> = encodings.iter().collect();
        let out = self.model.forward(&refs)?;
        let logits = out
            .logits
            .ok_or_else(|| Error::Input("the model has no classification head".into()))?
            .to_dtype(candle_core::DType::F32)?
            .to_vec2::<f32>()?;
        let labels = &self.model.config.labels;
        Ok(logits
            .iter()
            .map(|row| {
                let scores: Vec<f64> = match self.function {
                    ScoreFunction::Softmax => softmax(row),
                    ScoreFunction::Sigmoid => row.iter().map(|&x| sigmoid(x)).collect(),
                    ScoreFunction::None => row.iter().map(|&x| x as f64).collect(),
                };
                let mut ranked: Vec<LabelScore> = scores
                    .into_iter()
                    .enumerate()
                    .map(|(i, score)| LabelScore {
                        label: labels
                            .get(i)
                            .cloned()
                            .unwrap_or_else(|| format!("LABEL_{i}")),
                        score,
                    })
                    .collect();
                ranked.sort_by(|a, b| b.score.total_cmp(&a.score));
                let keep = match self.options.top_k {
                    TopK::Default => 1,
                    TopK::All => ranked.len(),
                    TopK::K(k) => k,
                };
                ranked.truncate(keep);
                ranked
            })
            .collect())
    }
}

impl Pipeline for TextClassification {
    fn task(&self) -> PipelineTask {
        PipelineTask::TextClassification
    }

    fn run_json(&self, inputs: &[PipelineInput]) -> Vec<Result<Value>> {
        self.classify(inputs)
            .into_iter()
            .zip(inputs)
            .map(|(r, input)| {
                let scores = r?;
                // transformers returns a bare object for a pair input with the default top_k.
                let bare = self.options.top_k == TopK::Default
                    && matches!(input, PipelineInput::Pair { .. });
                Ok(if bare {
                    serde_json::to_value(&scores[0]).expect("serialisable")
                } else {
                    serde_json::to_value(&scores).expect("serialisable")
                })
            })
            .collect()
    }

    fn warnings(&self) -> &[String] {
        &self.model.warnings
    }
}
