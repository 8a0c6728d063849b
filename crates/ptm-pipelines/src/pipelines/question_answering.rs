//! (being written)

use serde_json::Value;

use super::{CommonOptions, Pipeline, PipelineInput, PipelineTask};
use crate::error::{Error, Result};
use crate::loading::LoadedModel;

#[derive(Clone, Debug, Default)]
pub struct Options {}

pub struct QuestionAnswering {
    model: LoadedModel,
}

impl QuestionAnswering {
    pub fn new(model: LoadedModel, _common: CommonOptions, _options: Options) -> Result<Self> {
        Ok(Self { model })
    }
}

impl Pipeline for QuestionAnswering {
    fn task(&self) -> PipelineTask {
        PipelineTask::QuestionAnswering
    }

    fn run_json(&self, inputs: &[PipelineInput]) -> Vec<Result<Value>> {
        inputs
            .iter()
            .map(|_| Err(Error::Input("not implemented yet".into())))
            .collect()
    }

    fn warnings(&self) -> &[String] {
        &self.model.warnings
    }
}
