//! `feature-extraction`: token embeddings as transformers' pipeline returns them, or, with
//! pooling, one sentence vector per input as sentence-transformers' `encode` does.

use candle_core::{DType, Tensor, D};
use serde_json::Value;

use super::{encode_truncated, CommonOptions, Pipeline, PipelineInput, PipelineTask};
use crate::error::{Error, Result};
use crate::loading::LoadedModel;
use crate::tokenizer::{TextInput, TruncationStrategy};

/// How token embeddings become one sentence vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pooling {
    /// Mean over real tokens (padding excluded).
    Mean,
    /// The first token (`[CLS]` / `<s>`).
    Cls,
    /// Element-wise maximum over real tokens.
    Max,
}

impl Pooling {
    pub fn from_name(name: &str) -> Result<Self> {
        match name {
            "mean" => Ok(Self::Mean),
            "cls" => Ok(Self::Cls),
            "max" => Ok(Self::Max),
            other => Err(Error::Input(format!(
                "unknown pooling '{other}'; use mean, cls or max"
            ))),
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct Options {
    /// `None`: from the checkpoint's sentence-transformers `1_Pooling/config.json` when it
    /// has one, else no pooling (token embeddings).
    pub pooling: Option<Pooling>,
    /// `None`: true when the checkpoint's `modules.json` has a `Normalize` module.
    pub normalize: Option<bool>,
}

pub struct FeatureExtraction {
    model: LoadedModel,
    common: CommonOptions,
    pooling: Option<Pooling>,
    normalize: bool,
}

impl FeatureExtraction {
    pub fn new(model: LoadedModel, mut common: CommonOptions, options: Options) -> Result<Self> {
        let st = SentenceTransformerConfig::read(&model)?;
        let pooling = options.pooling.or(st.pooling);
        let normalize = options.normalize.unwrap_or(st.normalize);
        if normalize && pooling.is_none() {
            return Err(Error::Input(
                "normalize needs a pooling (mean, cls or max): token embeddings are not normalised"
                    .into(),
            ));
        }
        if common.max_length.is_none() {
            common.max_length = st.max_seq_length.map(|m| m.min(model.max_length()));
        }
        Ok(Self {
            model,
            common,
            pooling,
            normalize,
        })
    }

    pub fn pooling(&self) -> Option<Pooling> {
        self.pooling
    }

    /// Token embeddings `(t, hidden)` per input (padding removed), or the pooled vectors.
    fn run(&self, texts: &[String]) -> Result<Vec<Value>> {
        let inputs: Vec<TextInput> = texts.iter().map(|t| TextInput::Single(t.clone())).collect();
        let encodings = encode_truncated(
            &self.model,
            &self.common,
            &inputs,
            TruncationStrategy::LongestFirst,
        )?;
        let refs: Vec<_> = encodings.iter().collect();
        let out = self.model.forward(&refs)?;
        let hidden = out.last_hidden_state.to_dtype(DType::F32)?; // (b, t, h)
        match self.pooling {
            None => encodings
                .iter()
                .enumerate()
                .map(|(i, e)| {
                    let rows = hidden.get(i)?.narrow(0, 0, e.len())?.to_vec2::<f32>()?;
                    Ok(serde_json::json!([rows]))
                })
                .collect(),
            Some(_) => Ok(self
                .pool(
                    &hidden,
                    &encodings.iter().map(|e| e.len()).collect::<Vec<_>>(),
                )?
                .into_iter()
                .map(|v| serde_json::json!(v))
                .collect()),
        }
    }

    /// Sentence vectors, pooled (and normalised) as configured; mean pooling when the
    /// pipeline has no pooling set.
    pub fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        let inputs: Vec<TextInput> = texts.iter().map(|t| TextInput::Single(t.clone())).collect();
        let encodings = encode_truncated(
            &self.model,
            &self.common,
            &inputs,
            TruncationStrategy::LongestFirst,
        )?;
        let refs: Vec<_> = encodings.iter().collect();
        let out = self.model.forward(&refs)?;
        let hidden = out.last_hidden_state.to_dtype(DType::F32)?;
        self.pool(
            &hidden,
            &encodings.iter().map(|e| e.len()).collect::<Vec<_>>(),
        )
    }

    fn pool(&self, hidden: &Tensor, lens: &[usize]) -> Result<Vec<Vec<f32>>> {
        let (b, t, _) = hidden.dims3()?;
        let mask: Vec<f32> = lens
            .iter()
            .flat_map(|&l| (0..t).map(move |j| if j < l { 1.0 } else { 0.0 }))
            .collect();
        let mask = Tensor::from_vec(mask, (b, t, 1), hidden.device())?;
        let pooled = match self.pooling.unwrap_or(Pooling::Mean) {
            Pooling::Mean => {
                let sum = hidden.broadcast_mul(&mask)?.sum(1)?; // (b, h)
                let count = mask.sum(1)?.clamp(1e-9, f64::MAX)?; // (b, 1)
                sum.broadcast_div(&count)?
            }
            Pooling::Cls => hidden.narrow(1, 0, 1)?.squeeze(1)?,
            Pooling::Max => {
                // Padding gets -1e9 so it never wins, as sentence-transformers does.
                let penalty = ((mask.ones_like()? - &mask)? * -1e9)?;
                hidden.broadcast_add(&penalty)?.max(1)?
            }
        };
        let pooled = if self.normalize {
            let norm = pooled
                .sqr()?
                .sum_keepdim(D::Minus1)?
                .sqrt()?
                .clamp(1e-12, f64::MAX)?;
            pooled.broadcast_div(&norm)?
        } else {
            pooled
        };
        Ok(pooled.to_vec2::<f32>()?)
    }
}

impl Pipeline for FeatureExtraction {
    fn task(&self) -> PipelineTask {
        PipelineTask::FeatureExtraction
    }

    fn run_json(&self, inputs: &[PipelineInput]) -> Vec<Result<Value>> {
        let texts: Vec<String> = inputs.iter().map(|i| i.text().to_string()).collect();
        match self.run(&texts) {
            Ok(values) => values.into_iter().map(Ok).collect(),
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
        &self.model.warnings
    }
}

/// What a sentence-transformers checkpoint says about pooling, normalising and length.
#[derive(Default)]
struct SentenceTransformerConfig {
    pooling: Option<Pooling>,
    normalize: bool,
    max_seq_length: Option<usize>,
}

impl SentenceTransformerConfig {
    fn read(model: &LoadedModel) -> Result<Self> {
        let mut out = Self::default();
        let Some(modules) = model.repo.read_json("modules.json")? else {
            return Ok(out);
        };
        for m in modules.as_array().into_iter().flatten() {
            let kind = m.get("type").and_then(Value::as_str).unwrap_or("");
            let path = m.get("path").and_then(Value::as_str).unwrap_or("");
            if kind.ends_with("Normalize") {
                out.normalize = true;
            } else if kind.ends_with("Pooling") {
                let file = format!("{}/config.json", path.trim_end_matches('/'));
                if let Some(cfg) = model.repo.read_json(&file)? {
                    let on = |k: &str| cfg.get(k).and_then(Value::as_bool).unwrap_or(false);
                    out.pooling = if on("pooling_mode_cls_token") {
                        Some(Pooling::Cls)
                    } else if on("pooling_mode_max_tokens") {
                        Some(Pooling::Max)
                    } else if on("pooling_mode_mean_tokens") {
                        Some(Pooling::Mean)
                    } else {
                        return Err(Error::Input(format!(
                            "{file} asks for a pooling mode ptm does not support yet \
                             (supported: mean, cls, max)"
                        )));
                    };
                }
            }
        }
        if let Some(cfg) = model.repo.read_json("sentence_bert_config.json")? {
            out.max_seq_length = cfg
                .get("max_seq_length")
                .and_then(Value::as_u64)
                .map(|m| m as usize);
        }
        Ok(out)
    }
}
