//! `zero-shot-classification`: candidate labels scored by an NLI model, as transformers'
//! `ZeroShotClassificationPipeline` (Yin et al. 2019).

use candle_core::DType;
use serde::Serialize;
use serde_json::Value;

use super::{encode_truncated, softmax, CommonOptions, Pipeline, PipelineInput, PipelineTask};
use crate::error::{Error, Result};
use crate::loading::LoadedModel;
use crate::tokenizer::{TextInput, TruncationStrategy};

pub const DEFAULT_TEMPLATE: &str = "This example is {}.";

#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Labels for plain-text inputs (JSON inputs carry their own).
    pub candidate_labels: Vec<String>,
    /// `None`: "This example is {}.".
    pub hypothesis_template: Option<String>,
    /// Score each label independently (entailment vs contradiction) instead of a softmax
    /// across labels.
    pub multi_label: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ZeroShotResult {
    pub sequence: String,
    pub labels: Vec<String>,
    pub scores: Vec<f64>,
}

pub struct ZeroShot {
    model: LoadedModel,
    common: CommonOptions,
    options: Options,
    entailment: usize,
}

impl ZeroShot {
    pub fn new(model: LoadedModel, common: CommonOptions, options: Options) -> Result<Self> {
        // transformers looks the label up in label2id; id2label order is the fallback.
        let from_label2id = model
            .config
            .common
            .label2id
            .iter()
            .find(|(label, _)| label.to_lowercase().starts_with("entail"))
            .and_then(|(_, &id)| usize::try_from(id).ok());
        let entailment = from_label2id
            .or_else(|| {
                model
                    .config
                    .labels
                    .iter()
                    .position(|l| l.to_lowercase().starts_with("entail"))
            })
            .filter(|&id| id < model.config.num_labels())
            .ok_or_else(|| {
                Error::Input(format!(
                    "zero-shot classification needs an NLI model whose labels include 'entailment'; \
                     this model's labels are {:?}",
                    model.config.labels
                ))
            })?;
        Ok(Self {
            model,
            common,
            options,
            entailment,
        })
    }

    pub fn classify(&self, input: &PipelineInput) -> Result<ZeroShotResult> {
        let (text, labels, template) = match input {
            PipelineInput::Text(t) => (t, &self.options.candidate_labels, None),
            PipelineInput::Candidates {
                text,
                candidate_labels,
                hypothesis_template,
            } => (text, candidate_labels, hypothesis_template.as_deref()),
            other => {
                return Err(Error::Input(format!(
                    "zero-shot-classification takes a text or {{\"text\", \"candidate_labels\"}}, not {other:?}"
                )))
            }
        };
        if labels.is_empty() {
            return Err(Error::Input(
                "no candidate labels: pass --candidate-labels or a JSON input with \"candidate_labels\""
                    .into(),
            ));
        }
        let template = template
            .or(self.options.hypothesis_template.as_deref())
            .unwrap_or(DEFAULT_TEMPLATE);
        if !template.contains("{}") {
            return Err(Error::Input(format!(
                "the hypothesis template '{template}' has no {{}} where the label goes"
            )));
        }
        let pairs: Vec<TextInput> = labels
            .iter()
            .map(|l| TextInput::Pair(text.clone(), template.replacen("{}", l, 1)))
            .collect();
        let encodings = encode_truncated(
            &self.model,
            &self.common,
            &pairs,
            TruncationStrategy::OnlyFirst,
        )?;
        let refs: Vec<_> = encodings.iter().collect();
        let logits = self
            .model
            .forward(&refs)?
            .logits
            .ok_or_else(|| Error::Input("the model has no classification head".into()))?
            .to_dtype(DType::F32)?
            .to_vec2::<f32>()?; // (labels, nli classes)
        let scores: Vec<f64> = if self.options.multi_label || labels.len() == 1 {
            let contradiction = if self.entailment == 0 {
                logits[0].len() - 1
            } else {
                0
            };
            logits
                .iter()
                .map(|row| softmax(&[row[contradiction], row[self.entailment]])[1])
                .collect()
        } else {
            softmax(
                &logits
                    .iter()
                    .map(|row| row[self.entailment])
                    .collect::<Vec<_>>(),
            )
        };
        let mut order: Vec<usize> = (0..labels.len()).collect();
        order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
        Ok(ZeroShotResult {
            sequence: text.clone(),
            labels: order.iter().map(|&i| labels[i].clone()).collect(),
            scores: order.iter().map(|&i| scores[i]).collect(),
        })
    }
}

impl Pipeline for ZeroShot {
    fn task(&self) -> PipelineTask {
        PipelineTask::ZeroShotClassification
    }

    fn run_json(&self, inputs: &[PipelineInput]) -> Vec<Result<Value>> {
        inputs
            .iter()
            .map(|i| Ok(serde_json::to_value(self.classify(i)?).expect("serialisable")))
            .collect()
    }

    fn warnings(&self) -> &[String] {
        &self.model.warnings
    }
}
