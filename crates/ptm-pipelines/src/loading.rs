//! From a model reference to a model, its config and its tokenizer, ready for a pipeline.

use std::sync::Arc;

use candle_core::{DType, Device};
use ptm_models::{
    AutoModel, Checkpoint, EncoderInput, LoadOptions, ModelConfig, ModelOutput, Task,
};

use crate::error::{Error, Result};
use crate::hub::{HubOptions, ModelRepo};
use crate::tokenizer::{Encoding, Tokenizer};

/// Where to find a model and how to run it.
#[derive(Clone, Debug)]
pub struct ModelOptions {
    pub hub: HubOptions,
    pub dtype: DType,
    pub device: Device,
}

impl Default for ModelOptions {
    fn default() -> Self {
        Self {
            hub: HubOptions::from_env(),
            dtype: DType::F32,
            device: Device::Cpu,
        }
    }
}

/// A model with everything a pipeline needs beside it.
pub struct LoadedModel {
    pub model: AutoModel,
    pub tokenizer: Tokenizer,
    pub config: ModelConfig,
    pub repo: ModelRepo,
    /// Load-report warnings (missing / unexpected weights), for the caller to show.
    pub warnings: Vec<String>,
    pub device: Device,
}

impl LoadedModel {
    /// Resolves `reference` (a folder or a Hub id) and loads it with the head of `task`.
    pub fn load(reference: &str, task: Task, opts: &ModelOptions) -> Result<Self> {
        let repo = ModelRepo::resolve(reference, &opts.hub)?;
        Self::from_repo(repo, task, opts)
    }

    pub fn from_repo(repo: ModelRepo, task: Task, opts: &ModelOptions) -> Result<Self> {
        let config_path = repo.get("config.json")?.ok_or_else(|| Error::MissingFile {
            location: repo.describe(),
            file: "config.json".into(),
            hint: " (expected a Hugging Face checkpoint: config.json + model.safetensors + \
                   tokenizer.json)"
                .into(),
        })?;
        let config = ModelConfig::from_file(&config_path)?;
        let ckpt = Arc::new(open_weights(&repo)?);
        let tokenizer = Tokenizer::from_repo(&repo)?;
        let load = LoadOptions {
            dtype: opts.dtype,
            device: opts.device.clone(),
        };
        let (model, report) = AutoModel::load(&config, ckpt, task, &load)?;
        let warnings = report.warnings(&repo.name());
        Ok(Self {
            model,
            tokenizer,
            config,
            repo,
            warnings,
            device: opts.device.clone(),
        })
    }

    /// The longest input the model accepts, in tokens: the smaller of the tokenizer's
    /// `model_max_length` and the model's position table.
    pub fn max_length(&self) -> usize {
        let model_max = self.config.max_input_tokens();
        match self.tokenizer.model_max_length() {
            Some(t) => t.min(model_max),
            None => model_max,
        }
    }

    /// Pads encodings into one batch and runs the model.
    pub fn forward(&self, encodings: &[&Encoding]) -> Result<ModelOutput> {
        let pad = self.tokenizer.pad_token_id().unwrap_or(0);
        let ids: Vec<Vec<u32>> = encodings.iter().map(|e| e.ids.clone()).collect();
        let types: Vec<Vec<u32>> = encodings.iter().map(|e| e.type_ids.clone()).collect();
        let types = self
            .config
            .uses_token_type_ids()
            .then_some(types.as_slice());
        let input = EncoderInput::from_rows(&ids, types, pad, &self.device)?;
        use ptm_models::EncoderModel;
        Ok(self.model.forward(&input)?)
    }
}

/// Opens the weights of a repository: safetensors (single or sharded) before PyTorch `.bin`.
fn open_weights(repo: &ModelRepo) -> Result<Checkpoint> {
    for index in [
        "model.safetensors.index.json",
        "pytorch_model.bin.index.json",
    ] {
        if let Some(index_path) = repo.get(index)? {
            let json = crate::hub::read_json(&index_path)?;
            let mut shards: Vec<String> = json
                .get("weight_map")
                .and_then(|m| m.as_object())
                .map(|m| {
                    m.values()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            shards.sort();
            shards.dedup();
            if shards.is_empty() {
                return Err(Error::Input(format!(
                    "{} in {} has no \"weight_map\" naming the shards",
                    index,
                    repo.describe()
                )));
            }
            let paths = shards
                .iter()
                .map(|s| repo.require(s))
                .collect::<Result<Vec<_>>>()?;
            return Ok(Checkpoint::open_files(&paths)?);
        }
        if index.starts_with("model.") {
            if let Some(single) = repo.get("model.safetensors")? {
                return Ok(Checkpoint::open(&single)?);
            }
        } else if let Some(single) = repo.get("pytorch_model.bin")? {
            return Ok(Checkpoint::open(&single)?);
        }
    }
    Err(repo.missing(
        "model.safetensors",
        " (nor model.safetensors.index.json with its shards, nor pytorch_model.bin)".into(),
    ))
}
