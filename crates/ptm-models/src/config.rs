//! `config.json`: read once, dispatched on `model_type`.
//!
//! Field names match Hugging Face's exactly so a checkpoint's config deserialises as it is;
//! defaults are transformers' own for each architecture.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::albert::AlbertConfig;
use crate::bert::BertConfig;
use crate::distilbert::DistilBertConfig;
use crate::electra::ElectraConfig;
use crate::error::{Error, Result};

/// The `model_type`s ptm implements, as `config.json` names them.
pub const SUPPORTED_MODEL_TYPES: &[&str] = &[
    "bert",
    "roberta",
    "xlm-roberta",
    "camembert",
    "distilbert",
    "albert",
    "electra",
];

/// The architecture-specific part of a config.
#[derive(Clone, Debug)]
pub enum ArchConfig {
    /// BERT, and the RoBERTa family (`roberta`, `xlm-roberta`, `camembert`), which differ
    /// from BERT only by configuration: see `bert::Flavour`.
    Bert(BertConfig),
    DistilBert(DistilBertConfig),
    Albert(AlbertConfig),
    Electra(ElectraConfig),
}

/// What every `config.json` may carry beside the architecture: labels and task hints.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct CommonConfig {
    pub model_type: String,
    pub architectures: Vec<String>,
    pub id2label: BTreeMap<String, String>,
    pub label2id: BTreeMap<String, i64>,
    pub num_labels: Option<usize>,
    pub problem_type: Option<String>,
    pub tie_word_embeddings: Option<bool>,
}

/// A parsed `config.json`.
#[derive(Clone, Debug)]
pub struct ModelConfig {
    pub arch: ArchConfig,
    pub common: CommonConfig,
    /// The labels in id order (`id2label`), or transformers' `LABEL_i` defaults.
    pub labels: Vec<String>,
}

impl ModelConfig {
    /// Parses the text of a `config.json`.
    pub fn from_json_str(text: &str) -> Result<Self> {
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| Error::Config(format!("config.json is not valid JSON: {e}")))?;
        let common: CommonConfig = serde_json::from_value(value.clone())
            .map_err(|e| Error::Config(format!("config.json: {e}")))?;
        let arch = match common.model_type.as_str() {
            "bert" | "roberta" | "xlm-roberta" | "camembert" => {
                ArchConfig::Bert(parse(&value, &common.model_type)?)
            }
            "distilbert" => ArchConfig::DistilBert(parse(&value, "distilbert")?),
            "albert" => ArchConfig::Albert(parse(&value, "albert")?),
            "electra" => ArchConfig::Electra(parse(&value, "electra")?),
            "" => {
                return Err(Error::Config(
                    "config.json has no \"model_type\": ptm needs it to pick the architecture \
                     (one of: bert, roberta, xlm-roberta, camembert, distilbert, albert, electra)"
                        .into(),
                ))
            }
            other => {
                return Err(Error::UnsupportedModelType {
                    found: other.to_string(),
                    supported: SUPPORTED_MODEL_TYPES.join(", "),
                })
            }
        };
        let labels = labels_in_order(&common)?;
        Ok(Self {
            arch,
            common,
            labels,
        })
    }

    /// Reads and parses a `config.json` file.
    pub fn from_file(path: &std::path::Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_json_str(&text).map_err(|e| match e {
            Error::Config(msg) => Error::Config(format!("{}: {msg}", path.display())),
            other => other,
        })
    }

    pub fn model_type(&self) -> &str {
        &self.common.model_type
    }

    pub fn num_labels(&self) -> usize {
        self.labels.len()
    }

    /// The longest input the position embeddings allow, in tokens (RoBERTa-style models
    /// reserve `padding_idx + 1` positions).
    pub fn max_input_tokens(&self) -> usize {
        match &self.arch {
            ArchConfig::Bert(c) => c.max_input_tokens(),
            ArchConfig::DistilBert(c) => c.max_position_embeddings,
            ArchConfig::Albert(c) => c.max_position_embeddings,
            ArchConfig::Electra(c) => c.max_position_embeddings,
        }
    }

    /// Whether the model takes segment ids (`token_type_ids`). RoBERTa-style models and
    /// DistilBERT do not: transformers never passes them, so neither does ptm.
    pub fn uses_token_type_ids(&self) -> bool {
        match &self.arch {
            ArchConfig::Bert(c) => c.flavour() == crate::bert::Flavour::Bert,
            ArchConfig::DistilBert(_) => false,
            ArchConfig::Albert(_) | ArchConfig::Electra(_) => true,
        }
    }

    pub fn hidden_size(&self) -> usize {
        match &self.arch {
            ArchConfig::Bert(c) => c.hidden_size,
            ArchConfig::DistilBert(c) => c.dim,
            ArchConfig::Albert(c) => c.hidden_size,
            ArchConfig::Electra(c) => c.hidden_size,
        }
    }

    /// The name transformers gives the base model inside a model with a head
    /// (`bert.` in `BertForMaskedLM`); the weight loader adds or strips it.
    pub fn base_model_prefix(&self) -> &'static str {
        match &self.arch {
            ArchConfig::Bert(c) => c.flavour().base_model_prefix(),
            ArchConfig::DistilBert(_) => "distilbert",
            ArchConfig::Albert(_) => "albert",
            ArchConfig::Electra(_) => "electra",
        }
    }

    /// Whether masked-LM decoders share the input embedding matrix (transformers' default).
    pub fn tie_word_embeddings(&self) -> bool {
        self.common.tie_word_embeddings.unwrap_or(true)
    }

    /// The id of a label name, from `label2id` (or the position in `id2label`).
    pub fn label_id(&self, label: &str) -> Option<usize> {
        if let Some(id) = self.common.label2id.get(label) {
            return usize::try_from(*id).ok();
        }
        self.labels.iter().position(|l| l == label)
    }
}

fn parse<T: serde::de::DeserializeOwned>(value: &serde_json::Value, kind: &str) -> Result<T> {
    serde_json::from_value(value.clone())
        .map_err(|e| Error::Config(format!("config.json is not a valid {kind} config: {e}")))
}

fn labels_in_order(common: &CommonConfig) -> Result<Vec<String>> {
    if common.id2label.is_empty() {
        let n = common.num_labels.unwrap_or(2);
        return Ok((0..n).map(|i| format!("LABEL_{i}")).collect());
    }
    let mut pairs = Vec::with_capacity(common.id2label.len());
    for (k, v) in &common.id2label {
        let id: usize = k.parse().map_err(|_| {
            Error::Config(format!(
                "config.json id2label has key '{k}', which is not a non-negative integer"
            ))
        })?;
        pairs.push((id, v.clone()));
    }
    pairs.sort();
    for (i, (id, _)) in pairs.iter().enumerate() {
        if *id != i {
            return Err(Error::Config(format!(
                "config.json id2label must number labels 0..{} without gaps; id {i} is missing",
                pairs.len()
            )));
        }
    }
    Ok(pairs.into_iter().map(|(_, v)| v).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_model_type_lists_supported_ones() {
        let err = ModelConfig::from_json_str(r#"{"model_type": "gpt2"}"#).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("gpt2") && msg.contains("distilbert"), "{msg}");
    }

    #[test]
    fn missing_model_type_is_explained() {
        let err = ModelConfig::from_json_str(r#"{"hidden_size": 8}"#).unwrap_err();
        assert!(err.to_string().contains("model_type"));
    }

    #[test]
    fn labels_follow_id_order_and_default_to_label_i() {
        let c = ModelConfig::from_json_str(
            r#"{"model_type": "bert", "id2label": {"1": "POS", "0": "NEG", "10": "X", "2": "a", "3": "b", "4": "c", "5": "d", "6": "e", "7": "f", "8": "g", "9": "h"}}"#,
        )
        .unwrap();
        assert_eq!(c.labels[0], "NEG");
        assert_eq!(c.labels[1], "POS");
        assert_eq!(c.labels[10], "X");
        let d = ModelConfig::from_json_str(r#"{"model_type": "bert"}"#).unwrap();
        assert_eq!(d.labels, vec!["LABEL_0", "LABEL_1"]);
    }

    #[test]
    fn gaps_in_id2label_are_an_error() {
        let err = ModelConfig::from_json_str(
            r#"{"model_type": "bert", "id2label": {"0": "A", "2": "B"}}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("id 1"), "{err}");
    }

    #[test]
    fn wrong_field_type_names_the_architecture() {
        let err = ModelConfig::from_json_str(r#"{"model_type": "bert", "hidden_size": "big"}"#)
            .unwrap_err();
        assert!(err.to_string().contains("bert config"), "{err}");
    }
}
