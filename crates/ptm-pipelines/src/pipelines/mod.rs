//! Task pipelines: preprocess → forward → postprocess, one file per task.
//!
//! Every pipeline takes a batch of [`PipelineInput`]s and returns one result per input,
//! in order; an input that cannot be processed gets its own error and the others go on.
//! Results are typed in each task's module; [`Pipeline::run_json`] renders them as
//! transformers' pipelines return them, which is the command line's output contract.

use serde_json::Value;

use crate::error::{Error, Result};
use crate::loading::{LoadedModel, ModelOptions};

pub mod feature_extraction;
pub mod fill_mask;
pub mod question_answering;
pub mod sentence_similarity;
pub mod text_classification;
pub mod token_classification;
pub mod zero_shot;

/// The tasks ptm runs, under transformers' names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PipelineTask {
    FeatureExtraction,
    SentenceSimilarity,
    FillMask,
    TextClassification,
    TokenClassification,
    QuestionAnswering,
    ZeroShotClassification,
}

impl PipelineTask {
    /// Every task name and alias, for help and error messages.
    pub const NAMES: &'static [&'static str] = &[
        "feature-extraction",
        "sentence-similarity",
        "fill-mask",
        "text-classification",
        "sentiment-analysis",
        "token-classification",
        "ner",
        "question-answering",
        "zero-shot-classification",
    ];

    pub fn from_name(name: &str) -> Result<Self> {
        Ok(match name {
            "feature-extraction" => Self::FeatureExtraction,
            "sentence-similarity" => Self::SentenceSimilarity,
            "fill-mask" => Self::FillMask,
            "text-classification" | "sentiment-analysis" => Self::TextClassification,
            "token-classification" | "ner" => Self::TokenClassification,
            "question-answering" => Self::QuestionAnswering,
            "zero-shot-classification" => Self::ZeroShotClassification,
            other => {
                return Err(Error::Input(format!(
                    "unknown task '{other}'; ptm's pipelines are: {}",
                    Self::NAMES.join(", ")
                )))
            }
        })
    }

    /// Whether an input's result depends on the other inputs (sentence-similarity ranks
    /// every input against the others), so that a caller must pass all inputs in one
    /// [`Pipeline::run_json`] call rather than in batches.
    pub fn compares_inputs(self) -> bool {
        self == Self::SentenceSimilarity
    }

    /// The checkpoint transformers uses when no model is named. An error when ptm cannot
    /// run that checkpoint's architecture, saying what to pass instead (checked before
    /// anything is downloaded).
    pub fn default_model(self) -> Result<&'static str> {
        Ok(match self {
            Self::FeatureExtraction => "distilbert/distilbert-base-cased",
            Self::SentenceSimilarity => "sentence-transformers/all-MiniLM-L6-v2",
            Self::FillMask => "distilbert/distilroberta-base",
            Self::TextClassification => {
                "distilbert/distilbert-base-uncased-finetuned-sst-2-english"
            }
            Self::TokenClassification => "dbmdz/bert-large-cased-finetuned-conll03-english",
            Self::QuestionAnswering => "distilbert/distilbert-base-cased-distilled-squad",
            Self::ZeroShotClassification => {
                return Err(Error::Input(
                    "zero-shot-classification has no default model in ptm yet: transformers' \
                     default, facebook/bart-large-mnli, is a BART encoder-decoder, which ptm \
                     does not run yet; pass --model with an NLI encoder checkpoint (BERT, \
                     RoBERTa, DistilBERT, ALBERT or ELECTRA family, with an 'entailment' \
                     label), e.g. cross-encoder/nli-distilroberta-base"
                        .into(),
                ))
            }
        })
    }
}

/// One input of a pipeline.
#[derive(Clone, Debug, PartialEq)]
pub enum PipelineInput {
    Text(String),
    /// `{"text": .., "text_pair": ..}`.
    Pair {
        text: String,
        text_pair: String,
    },
    /// `{"question": .., "context": ..}`.
    Question {
        question: String,
        context: String,
    },
    /// `{"text": .., "candidate_labels": [..]}` (zero-shot), with an optional template.
    Candidates {
        text: String,
        candidate_labels: Vec<String>,
        hypothesis_template: Option<String>,
    },
}

impl PipelineInput {
    /// Reads one command-line input line: a JSON object carries structured input, any
    /// other line is a text.
    pub fn from_line(line: &str) -> Result<Self> {
        let trimmed = line.trim_start();
        if !trimmed.starts_with('{') {
            return Ok(Self::Text(line.to_string()));
        }
        let v: Value = serde_json::from_str(trimmed).map_err(|e| {
            Error::Input(format!(
                "input line starts with '{{' but is not valid JSON: {e}"
            ))
        })?;
        Self::from_json(&v)
    }

    pub fn from_json(v: &Value) -> Result<Self> {
        let field = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let text = field("text").or_else(|| field("sequences"));
        if let (Some(question), Some(context)) = (field("question"), field("context")) {
            return Ok(Self::Question { question, context });
        }
        if let Some(labels) = v.get("candidate_labels") {
            let candidate_labels = parse_labels(labels)?;
            let text = text.ok_or_else(|| {
                Error::Input("a zero-shot input needs \"text\" beside \"candidate_labels\"".into())
            })?;
            return Ok(Self::Candidates {
                text,
                candidate_labels,
                hypothesis_template: field("hypothesis_template"),
            });
        }
        match (text, field("text_pair")) {
            (Some(text), Some(text_pair)) => Ok(Self::Pair { text, text_pair }),
            (Some(text), None) => Ok(Self::Text(text)),
            _ => Err(Error::Input(
                "a JSON input must be {\"text\": ..} , {\"text\": .., \"text_pair\": ..}, \
                 {\"question\": .., \"context\": ..} or {\"text\": .., \"candidate_labels\": [..]}"
                    .into(),
            )),
        }
    }

    /// The main text of the input, whatever its kind.
    pub fn text(&self) -> &str {
        match self {
            Self::Text(t) => t,
            Self::Pair { text, .. } => text,
            Self::Question { context, .. } => context,
            Self::Candidates { text, .. } => text,
        }
    }
}

/// Candidate labels as transformers accepts them: a list, or one comma-separated string.
pub fn parse_labels(v: &Value) -> Result<Vec<String>> {
    let labels: Vec<String> = match v {
        Value::String(s) => s.split(',').map(|l| l.trim().to_string()).collect(),
        Value::Array(a) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| Error::Input("\"candidate_labels\" must be strings".into()))
            })
            .collect::<Result<_>>()?,
        _ => {
            return Err(Error::Input(
                "\"candidate_labels\" must be a list of strings".into(),
            ))
        }
    };
    let labels: Vec<String> = labels.into_iter().filter(|l| !l.is_empty()).collect();
    if labels.is_empty() {
        return Err(Error::Input(
            "zero-shot classification needs at least one candidate label".into(),
        ));
    }
    Ok(labels)
}

/// Options shared by every pipeline (task-specific ones live in each task's options).
#[derive(Clone, Debug, Default)]
pub struct CommonOptions {
    /// Truncate inputs to this many tokens instead of the model's maximum.
    pub max_length: Option<usize>,
}

/// A task pipeline. `&self` and `Send + Sync`: one pipeline can serve many threads.
pub trait Pipeline: Send + Sync {
    fn task(&self) -> PipelineTask;

    /// Runs a batch; one JSON value (as transformers returns it) or error per input.
    fn run_json(&self, inputs: &[PipelineInput]) -> Vec<Result<Value>>;

    /// Warnings from loading (missing or unused weights).
    fn warnings(&self) -> &[String];
}

/// Every option any pipeline takes, as the command line passes them.
#[derive(Clone, Debug, Default)]
pub struct PipelineOptions {
    pub common: CommonOptions,
    pub text_classification: text_classification::Options,
    pub fill_mask: fill_mask::Options,
    pub feature_extraction: feature_extraction::Options,
    pub sentence_similarity: sentence_similarity::Options,
    pub token_classification: token_classification::Options,
    pub question_answering: question_answering::Options,
    pub zero_shot: zero_shot::Options,
}

/// Builds the pipeline for `task` on the model `reference` (a folder or a Hub id).
pub fn pipeline(
    task: PipelineTask,
    reference: &str,
    model_options: &ModelOptions,
    options: &PipelineOptions,
) -> Result<Box<dyn Pipeline>> {
    let load = |t| LoadedModel::load(reference, t, model_options);
    use ptm_models::Task;
    Ok(match task {
        PipelineTask::FeatureExtraction => Box::new(feature_extraction::FeatureExtraction::new(
            load(Task::Base)?,
            options.common.clone(),
            options.feature_extraction.clone(),
        )?),
        PipelineTask::SentenceSimilarity => Box::new(sentence_similarity::SentenceSimilarity::new(
            feature_extraction::FeatureExtraction::new(
                load(Task::Base)?,
                options.common.clone(),
                options.feature_extraction.clone(),
            )?,
            options.sentence_similarity.clone(),
        )?),
        PipelineTask::FillMask => Box::new(fill_mask::FillMask::new(
            load(Task::MaskedLm)?,
            options.common.clone(),
            options.fill_mask.clone(),
        )?),
        PipelineTask::TextClassification => Box::new(text_classification::TextClassification::new(
            load(Task::SequenceClassification)?,
            options.common.clone(),
            options.text_classification.clone(),
        )?),
        PipelineTask::TokenClassification => {
            Box::new(token_classification::TokenClassification::new(
                load(Task::TokenClassification)?,
                options.common.clone(),
                options.token_classification.clone(),
            )?)
        }
        PipelineTask::QuestionAnswering => Box::new(question_answering::QuestionAnswering::new(
            load(Task::QuestionAnswering)?,
            options.common.clone(),
            options.question_answering.clone(),
        )?),
        PipelineTask::ZeroShotClassification => Box::new(zero_shot::ZeroShot::new(
            load(Task::SequenceClassification)?,
            options.common.clone(),
            options.zero_shot.clone(),
        )?),
    })
}

/// Writes a warning to stderr: the one place pipelines report to the user.
pub(crate) fn warn(message: &str) {
    eprintln!("warning: {message}");
}

/// Encodes inputs truncated to the model's maximum, warning once per batch when some
/// text was cut.
pub(crate) fn encode_truncated(
    model: &LoadedModel,
    common: &CommonOptions,
    inputs: &[crate::tokenizer::TextInput],
    strategy: crate::tokenizer::TruncationStrategy,
) -> Result<Vec<crate::tokenizer::Encoding>> {
    let max_length = common.max_length.unwrap_or_else(|| model.max_length());
    let options = crate::tokenizer::EncodeOptions {
        max_length: Some(max_length),
        truncation: strategy,
        return_overflowing: true,
        ..Default::default()
    };
    let mut encodings = model.tokenizer.encode_batch(inputs, &options)?;
    let cut = encodings
        .iter()
        .filter(|e| !e.overflowing.is_empty())
        .count();
    if cut > 0 {
        warn(&format!(
            "{cut} input(s) longer than {max_length} tokens were truncated to the model's maximum"
        ));
    }
    for e in &mut encodings {
        e.overflowing.clear();
    }
    Ok(encodings)
}

/// Softmax of a slice, in f64 as numpy does in transformers' postprocessing.
pub(crate) fn softmax(xs: &[f32]) -> Vec<f64> {
    let max = xs.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64;
    let exps: Vec<f64> = xs.iter().map(|&x| (x as f64 - max).exp()).collect();
    let sum: f64 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

pub(crate) fn sigmoid(x: f32) -> f64 {
    1.0 / (1.0 + (-(x as f64)).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_lines_parse_as_transformers_inputs() {
        let cases: &[(&str, PipelineInput)] = &[
            ("plain text", PipelineInput::Text("plain text".into())),
            (
                r#"{"text": "a", "text_pair": "b"}"#,
                PipelineInput::Pair {
                    text: "a".into(),
                    text_pair: "b".into(),
                },
            ),
            (
                r#"{"question": "q", "context": "c"}"#,
                PipelineInput::Question {
                    question: "q".into(),
                    context: "c".into(),
                },
            ),
            (
                r#"{"text": "t", "candidate_labels": "x, y"}"#,
                PipelineInput::Candidates {
                    text: "t".into(),
                    candidate_labels: vec!["x".into(), "y".into()],
                    hypothesis_template: None,
                },
            ),
            (r#"{"text": "only"}"#, PipelineInput::Text("only".into())),
        ];
        for (line, expected) in cases {
            assert_eq!(&PipelineInput::from_line(line).unwrap(), expected, "{line}");
        }
    }

    #[test]
    fn bad_json_lines_and_unknown_tasks_are_errors() {
        assert!(PipelineInput::from_line("{not json").is_err());
        assert!(PipelineInput::from_line(r#"{"foo": 1}"#).is_err());
        assert!(PipelineInput::from_line(r#"{"text": "t", "candidate_labels": []}"#).is_err());
        let err = PipelineTask::from_name("summarise")
            .unwrap_err()
            .to_string();
        assert!(err.contains("fill-mask"), "{err}");
    }

    #[test]
    fn softmax_sums_to_one_and_is_stable() {
        let p = softmax(&[1000.0, 1000.0]);
        assert!((p[0] - 0.5).abs() < 1e-12 && (p[1] - 0.5).abs() < 1e-12);
    }
}
