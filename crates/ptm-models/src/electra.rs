//! ELECTRA: Clark et al. 2020, "ELECTRA: Pre-training Text Encoders as Discriminators
//! Rather Than Generators".
//!
//! Matches transformers' `modeling_electra.py`: BERT embeddings of width
//! `embedding_size`, projected by `embeddings_project` when it differs from
//! `hidden_size`, then a BERT encoder; no pooler. Heads: the replaced-token-detection
//! discriminator (`discriminator_predictions`), the generator's masked-LM head
//! (`generator_predictions` + `generator_lm_head`), and the usual task heads.

use candle_core::{Module, Result, Tensor};
use candle_nn::VarBuilder;
use serde::Deserialize;

use crate::bert::{BertEmbeddings, BertEncoder, EncoderDims, LmHead, LmHeadNames};
use crate::model::{EncoderInput, EncoderModel, ModelOutput, Task};
use crate::nn::{additive_attention_mask, Activation, Dropout, Linear};

#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct ElectraConfig {
    pub vocab_size: usize,
    pub embedding_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub hidden_act: String,
    pub hidden_dropout_prob: f64,
    pub attention_probs_dropout_prob: f64,
    pub max_position_embeddings: usize,
    pub type_vocab_size: usize,
    pub layer_norm_eps: f64,
    pub classifier_dropout: Option<f64>,
    pub position_embedding_type: String,
}

impl Default for ElectraConfig {
    /// transformers' `ElectraConfig()` (electra-small-discriminator sizes).
    fn default() -> Self {
        Self {
            vocab_size: 30522,
            embedding_size: 128,
            hidden_size: 256,
            num_hidden_layers: 12,
            num_attention_heads: 4,
            intermediate_size: 1024,
            hidden_act: "gelu".into(),
            hidden_dropout_prob: 0.1,
            attention_probs_dropout_prob: 0.1,
            max_position_embeddings: 512,
            type_vocab_size: 2,
            layer_norm_eps: 1e-12,
            classifier_dropout: None,
            position_embedding_type: "absolute".into(),
        }
    }
}

/// `ElectraModel`.
pub struct ElectraModel {
    embeddings: BertEmbeddings,
    project: Option<Linear>,
    encoder: BertEncoder,
}

impl ElectraModel {
    pub fn load(cfg: &ElectraConfig, vb: VarBuilder) -> Result<Self> {
        if cfg.position_embedding_type != "absolute" {
            candle_core::bail!(
                "position_embedding_type '{}' is not supported yet; ptm supports 'absolute'",
                cfg.position_embedding_type
            );
        }
        let dims = EncoderDims::new(
            cfg.hidden_size,
            cfg.num_attention_heads,
            cfg.intermediate_size,
            cfg.num_hidden_layers,
            &cfg.hidden_act,
            cfg.layer_norm_eps,
            cfg.hidden_dropout_prob,
            cfg.attention_probs_dropout_prob,
        )
        .map_err(candle_core::Error::Msg)?;
        let embeddings = BertEmbeddings::load(
            cfg.vocab_size,
            cfg.max_position_embeddings,
            cfg.type_vocab_size,
            cfg.embedding_size,
            cfg.layer_norm_eps,
            cfg.hidden_dropout_prob,
            None,
            vb.pp("embeddings"),
        )?;
        let project = if cfg.embedding_size != cfg.hidden_size {
            Some(Linear::load(
                cfg.embedding_size,
                cfg.hidden_size,
                vb.pp("embeddings_project"),
            )?)
        } else {
            None
        };
        Ok(Self {
            embeddings,
            project,
            encoder: BertEncoder::load(&dims, vb.pp("encoder"))?,
        })
    }

    pub fn forward_t(&self, input: &EncoderInput, train: bool) -> Result<Tensor> {
        let mut x = self.embeddings.forward_t(input, train)?; // (b, t, embedding_size)
        if let Some(p) = &self.project {
            x = p.forward(&x)?; // (b, t, hidden)
        }
        let mask = additive_attention_mask(&input.attention_mask, x.dtype())?;
        self.encoder.forward_t(&x, &mask, train)
    }
}

enum Head {
    None,
    /// Replaced-token detection: dense, activation, one logit per token.
    Discriminator {
        dense: Linear,
        act: Activation,
        dense_prediction: Linear,
    },
    MaskedLm(LmHead),
    /// `ElectraClassificationHead`: dense, GELU, out_proj over the first token.
    Classifier {
        dropout: Dropout,
        dense: Linear,
        out_proj: Linear,
    },
    TokenClassifier {
        dropout: Dropout,
        classifier: Linear,
    },
    QuestionAnswering(Linear),
}

/// ELECTRA with the head of `task`.
pub struct ElectraForTask {
    electra: ElectraModel,
    head: Head,
}

impl ElectraForTask {
    pub fn load(
        cfg: &ElectraConfig,
        task: Task,
        num_labels: usize,
        tied: bool,
        vb: VarBuilder,
    ) -> Result<Self> {
        let base_vb = match task {
            Task::Base => vb.clone(),
            _ => vb.pp("electra"),
        };
        let electra = ElectraModel::load(cfg, base_vb)?;
        let h = cfg.hidden_size;
        let dropout = Dropout::new(cfg.classifier_dropout.unwrap_or(cfg.hidden_dropout_prob));
        let head = match task {
            Task::Base => Head::None,
            Task::PreTraining => {
                let d = vb.pp("discriminator_predictions");
                Head::Discriminator {
                    dense: Linear::load(h, h, d.pp("dense"))?,
                    act: Activation::from_hf(&cfg.hidden_act).map_err(candle_core::Error::Msg)?,
                    dense_prediction: Linear::load(h, 1, d.pp("dense_prediction"))?,
                }
            }
            Task::MaskedLm => Head::MaskedLm(LmHead::load(
                h,
                cfg.embedding_size,
                cfg.vocab_size,
                Activation::Gelu,
                cfg.layer_norm_eps,
                LmHeadNames {
                    dense: "generator_predictions.dense",
                    norm: "generator_predictions.LayerNorm",
                    decoder: "generator_lm_head",
                    bias: "generator_lm_head.bias",
                },
                tied.then(|| electra.embeddings.word_embeddings().weight().clone()),
                vb.clone(),
            )?),
            Task::SequenceClassification => Head::Classifier {
                dropout,
                dense: Linear::load(h, h, vb.pp("classifier").pp("dense"))?,
                out_proj: Linear::load(h, num_labels, vb.pp("classifier").pp("out_proj"))?,
            },
            Task::TokenClassification => Head::TokenClassifier {
                dropout,
                classifier: Linear::load(h, num_labels, vb.pp("classifier"))?,
            },
            Task::QuestionAnswering => {
                Head::QuestionAnswering(Linear::load(h, 2, vb.pp("qa_outputs"))?)
            }
        };
        Ok(Self { electra, head })
    }
}

impl EncoderModel for ElectraForTask {
    fn forward_t(&self, input: &EncoderInput, train: bool) -> Result<ModelOutput> {
        let h = self.electra.forward_t(input, train)?;
        let logits = match &self.head {
            Head::None => None,
            Head::Discriminator {
                dense,
                act,
                dense_prediction,
            } => {
                let x = act.forward(&dense.forward(&h)?)?;
                Some(dense_prediction.forward(&x)?.squeeze(2)?) // (b, t)
            }
            Head::MaskedLm(lm) => Some(lm.forward(&h)?),
            Head::Classifier {
                dropout,
                dense,
                out_proj,
            } => {
                let first = h.narrow(1, 0, 1)?.squeeze(1)?; // (b, hidden)
                let x = dense
                    .forward(&dropout.forward_t(&first, train)?)?
                    .gelu_erf()?;
                Some(out_proj.forward(&dropout.forward_t(&x, train)?)?)
            }
            Head::TokenClassifier {
                dropout,
                classifier,
            } => Some(classifier.forward(&dropout.forward_t(&h, train)?)?),
            Head::QuestionAnswering(qa) => Some(qa.forward(&h)?),
        };
        Ok(ModelOutput {
            last_hidden_state: h,
            pooler_output: None,
            logits,
        })
    }
}
