//! `AutoModel`: a config and a checkpoint in, the right architecture with the right head out.

use std::path::Path;
use std::sync::Arc;

use crate::albert::AlbertForTask;
use crate::bert::BertForTask;
use crate::config::{ArchConfig, ModelConfig};
use crate::distilbert::DistilBertForTask;
use crate::electra::ElectraForTask;
use crate::error::Result;
use crate::loader::{load_with, Checkpoint, LoadOptions, LoadReport};
use crate::model::{EncoderInput, EncoderModel, ModelOutput, Task};

/// A loaded encoder with its head, whatever its architecture.
pub struct AutoModel {
    inner: Box<dyn EncoderModel>,
    config: ModelConfig,
    task: Task,
}

impl AutoModel {
    /// Builds the architecture `config` names with the head of `task` from `ckpt`.
    pub fn load(
        config: &ModelConfig,
        ckpt: Arc<Checkpoint>,
        task: Task,
        opts: &LoadOptions,
    ) -> Result<(Self, LoadReport)> {
        let n = config.num_labels();
        let tied = config.tie_word_embeddings();
        let prefix = config.base_model_prefix();
        let (inner, report): (Box<dyn EncoderModel>, LoadReport) = match &config.arch {
            ArchConfig::Bert(c) => {
                let (m, r) = load_with(ckpt, prefix, tied, opts, |vb| {
                    BertForTask::load(c, task, n, tied, vb)
                })?;
                (Box::new(m), r)
            }
            ArchConfig::DistilBert(c) => {
                let (m, r) = load_with(ckpt, prefix, tied, opts, |vb| {
                    DistilBertForTask::load(c, task, n, tied, vb)
                })?;
                (Box::new(m), r)
            }
            ArchConfig::Albert(c) => {
                let (m, r) = load_with(ckpt, prefix, tied, opts, |vb| {
                    AlbertForTask::load(c, task, n, tied, vb)
                })?;
                (Box::new(m), r)
            }
            ArchConfig::Electra(c) => {
                let (m, r) = load_with(ckpt, prefix, tied, opts, |vb| {
                    ElectraForTask::load(c, task, n, tied, vb)
                })?;
                (Box::new(m), r)
            }
        };
        Ok((
            Self {
                inner,
                config: config.clone(),
                task,
            },
            report,
        ))
    }

    /// Loads `config.json` and the weights from a checkpoint folder.
    pub fn from_dir(dir: &Path, task: Task, opts: &LoadOptions) -> Result<(Self, LoadReport)> {
        let config = ModelConfig::from_file(&dir.join("config.json"))?;
        let ckpt = Arc::new(Checkpoint::from_dir(dir)?);
        Self::load(&config, ckpt, task, opts)
    }

    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    pub fn task(&self) -> Task {
        self.task
    }
}

impl EncoderModel for AutoModel {
    fn forward_t(&self, input: &EncoderInput, train: bool) -> candle_core::Result<ModelOutput> {
        self.inner.forward_t(input, train)
    }
}
