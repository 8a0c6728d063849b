//! `fill-mask`: the most likely tokens for each mask token, as transformers'
//! `FillMaskPipeline`.

use candle_core::DType;
use serde::Serialize;
use serde_json::Value;

use super::{
    encode_truncated, softmax, warn, CommonOptions, Pipeline, PipelineInput, PipelineTask,
};
use crate::error::{Error, Result};
use crate::loading::LoadedModel;
use crate::tokenizer::{EncodeOptions, TextInput, TruncationStrategy};

#[derive(Clone, Debug)]
pub struct Options {
    /// Candidates per mask (transformers' default 5).
    pub top_k: usize,
    /// Restrict candidates to these words (each mapped to one vocabulary id).
    pub targets: Option<Vec<String>>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            top_k: 5,
            targets: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Candidate {
    pub score: f64,
    pub token: u32,
    pub token_str: String,
    pub sequence: String,
}

pub struct FillMask {
    model: LoadedModel,
    common: CommonOptions,
    top_k: usize,
    mask_id: u32,
    mask_token: String,
    target_ids: Option<Vec<u32>>,
}

impl FillMask {
    pub fn new(model: LoadedModel, common: CommonOptions, options: Options) -> Result<Self> {
        let (mask_token, mask_id) = model.tokenizer.require_mask_token()?;
        let (mask_token, mask_id) = (mask_token.to_string(), mask_id);
        let target_ids = match &options.targets {
            None => None,
            Some(targets) => Some(target_ids(&model, targets)?),
        };
        if options.top_k == 0 {
            return Err(Error::Input("top_k must be at least 1".into()));
        }
        Ok(Self {
            model,
            common,
            top_k: options.top_k,
            mask_id,
            mask_token,
            target_ids,
        })
    }

    /// For each input, one candidate list per mask token, in order.
    pub fn fill(&self, texts: &[String]) -> Vec<Result<Vec<Vec<Candidate>>>> {
        let inputs: Vec<TextInput> = texts.iter().map(|t| TextInput::Single(t.clone())).collect();
        let encodings = match encode_truncated(
            &self.model,
            &self.common,
            &inputs,
            TruncationStrategy::LongestFirst,
        ) {
            Ok(e) => e,
            Err(e) => {
                return texts
                    .iter()
                    .map(|_| Err(Error::Input(e.to_string())))
                    .collect()
            }
        };
        let mut results: Vec<Option<Result<Vec<Vec<Candidate>>>>> =
            (0..texts.len()).map(|_| None).collect();
        let mut batch = Vec::new();
        for (i, e) in encodings.iter().enumerate() {
            if e.ids.contains(&self.mask_id) {
                batch.push(i);
            } else {
                results[i] = Some(Err(Error::Input(format!(
                    "no mask token ({}) found in the input; put {} where a word should be predicted",
                    self.mask_token, self.mask_token
                ))));
            }
        }
        if !batch.is_empty() {
            let refs: Vec<_> = batch.iter().map(|&i| &encodings[i]).collect();
            match self.predict(&refs) {
                Ok(all) => {
                    for (slot, r) in batch.into_iter().zip(all) {
                        results[slot] = Some(Ok(r));
                    }
                }
                Err(e) => {
                    let msg = e.to_string();
                    for slot in batch {
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

    fn predict(
        &self,
        encodings: &[&crate::tokenizer::Encoding],
    ) -> Result<Vec<Vec<Vec<Candidate>>>> {
        let out = self.model.forward(encodings)?;
        let logits = out
            .logits
            .ok_or_else(|| Error::Input("the model has no masked-LM head".into()))?
            .to_dtype(DType::F32)?; // (b, t, vocab)
        let mut all = Vec::with_capacity(encodings.len());
        for (b, e) in encodings.iter().enumerate() {
            let mut per_mask = Vec::new();
            let masks = e.ids.iter().filter(|&&id| id == self.mask_id).count();
            for (pos, _) in e
                .ids
                .iter()
                .enumerate()
                .filter(|(_, &id)| id == self.mask_id)
            {
                let row = logits.get(b)?.get(pos)?.to_vec1::<f32>()?;
                let probs = softmax(&row);
                let mut ranked: Vec<(u32, f64)> = match &self.target_ids {
                    Some(ids) => ids.iter().map(|&id| (id, probs[id as usize])).collect(),
                    None => probs
                        .iter()
                        .enumerate()
                        .map(|(i, &p)| (i as u32, p))
                        .collect(),
                };
                ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
                ranked.truncate(self.top_k);
                let mut candidates = Vec::with_capacity(ranked.len());
                for (token, score) in ranked {
                    let mut ids = e.ids.clone();
                    ids[pos] = token;
                    candidates.push(Candidate {
                        score,
                        token,
                        token_str: self.model.tokenizer.decode(&[token], false)?,
                        // transformers keeps special tokens (the other masks) when there
                        // are several masks.
                        sequence: self.model.tokenizer.decode(&ids, masks == 1)?,
                    });
                }
                per_mask.push(candidates);
            }
            all.push(per_mask);
        }
        Ok(all)
    }
}

/// Maps each target word to a vocabulary id as transformers does: the word itself if it is
/// a token, else the first token of its encoding (with a warning).
fn target_ids(model: &LoadedModel, targets: &[String]) -> Result<Vec<u32>> {
    let mut ids = Vec::new();
    for target in targets {
        if let Some(id) = model.tokenizer.token_to_id(target) {
            ids.push(id);
            continue;
        }
        let options = EncodeOptions {
            add_special_tokens: false,
            ..Default::default()
        };
        let enc = model.tokenizer.encode(target.as_str(), &options)?;
        match enc.ids.first() {
            Some(&id) => {
                warn(&format!(
                    "the target '{target}' is not one token of the vocabulary; using '{}' instead",
                    model.tokenizer.id_to_token(id).unwrap_or_default()
                ));
                ids.push(id);
            }
            None => warn(&format!(
                "the target '{target}' encodes to no token; ignored"
            )),
        }
    }
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Err(Error::Input(
            "none of the targets is in the vocabulary".into(),
        ));
    }
    Ok(ids)
}

impl Pipeline for FillMask {
    fn task(&self) -> PipelineTask {
        PipelineTask::FillMask
    }

    fn run_json(&self, inputs: &[PipelineInput]) -> Vec<Result<Value>> {
        let texts: Vec<String> = inputs.iter().map(|i| i.text().to_string()).collect();
        self.fill(&texts)
            .into_iter()
            .map(|r| {
                let masks = r?;
                // One mask: a list of candidates; several: a list per mask (transformers' shape).
                Ok(if masks.len() == 1 {
                    serde_json::to_value(&masks[0]).expect("serialisable")
                } else {
                    serde_json::to_value(&masks).expect("serialisable")
                })
            })
            .collect()
    }

    fn warnings(&self) -> &[String] {
        &self.model.warnings
    }
}
