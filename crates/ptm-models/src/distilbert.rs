//! DistilBERT: Sanh et al. 2019, "DistilBERT, a distilled version of BERT".
//!
//! Matches transformers' `modeling_distilbert.py`: word + position embeddings (no
//! token types), post-LN blocks named `q_lin`/`k_lin`/`v_lin`/`out_lin`,
//! `sa_layer_norm`, `ffn.lin1`/`ffn.lin2`, `output_layer_norm`.

use candle_core::{Module, Result, Tensor};
use candle_nn::VarBuilder;
use serde::Deserialize;

use crate::bert::{LmHead, LmHeadNames};
use crate::model::{EncoderInput, EncoderModel, ModelOutput, Task};
use crate::nn::{
    additive_attention_mask, Activation, Dropout, Embedding, LayerNorm, Linear, SelfAttention,
};

/// DistilBERT fixes its LayerNorm epsilon instead of configuring it.
const LAYER_NORM_EPS: f64 = 1e-12;

#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct DistilBertConfig {
    pub vocab_size: usize,
    pub dim: usize,
    pub n_layers: usize,
    pub n_heads: usize,
    pub hidden_dim: usize,
    pub activation: String,
    pub dropout: f64,
    pub attention_dropout: f64,
    pub max_position_embeddings: usize,
    pub qa_dropout: f64,
    pub seq_classif_dropout: f64,
    pub pad_token_id: Option<u32>,
}

impl Default for DistilBertConfig {
    /// transformers' `DistilBertConfig()` (distilbert-base-uncased).
    fn default() -> Self {
        Self {
            vocab_size: 30522,
            dim: 768,
            n_layers: 6,
            n_heads: 12,
            hidden_dim: 3072,
            activation: "gelu".into(),
            dropout: 0.1,
            attention_dropout: 0.1,
            max_position_embeddings: 512,
            qa_dropout: 0.1,
            seq_classif_dropout: 0.2,
            pad_token_id: None,
        }
    }
}

struct Block {
    attention: SelfAttention,
    out_lin: Linear,
    sa_layer_norm: LayerNorm,
    lin1: Linear,
    lin2: Linear,
    act: Activation,
    dropout: Dropout,
    output_layer_norm: LayerNorm,
}

impl Block {
    fn load(cfg: &DistilBertConfig, act: Activation, vb: VarBuilder) -> Result<Self> {
        let d = cfg.dim;
        let att = vb.pp("attention");
        Ok(Self {
            attention: SelfAttention::load(
                d,
                cfg.n_heads,
                cfg.attention_dropout,
                ["q_lin", "k_lin", "v_lin"],
                att.clone(),
            )?,
            out_lin: Linear::load(d, d, att.pp("out_lin"))?,
            sa_layer_norm: LayerNorm::load(d, LAYER_NORM_EPS, vb.pp("sa_layer_norm"))?,
            lin1: Linear::load(d, cfg.hidden_dim, vb.pp("ffn").pp("lin1"))?,
            lin2: Linear::load(cfg.hidden_dim, d, vb.pp("ffn").pp("lin2"))?,
            act,
            dropout: Dropout::new(cfg.dropout),
            output_layer_norm: LayerNorm::load(d, LAYER_NORM_EPS, vb.pp("output_layer_norm"))?,
        })
    }

    fn forward_t(&self, x: &Tensor, mask: &Tensor, train: bool) -> Result<Tensor> {
        let ctx = self.attention.forward_t(x, mask, train)?; // (b, t, dim)
        let sa = self
            .sa_layer_norm
            .forward_residual(&self.out_lin.forward(&ctx)?, x)?;
        let ffn = self.lin2.forward(&self.lin1.forward_act(&sa, self.act)?)?;
        let ffn = self.dropout.forward_t(&ffn, train)?;
        self.output_layer_norm.forward_residual(&ffn, &sa)
    }
}

/// `DistilBertModel`.
pub struct DistilBertModel {
    word_embeddings: Embedding,
    position_embeddings: Embedding,
    norm: LayerNorm,
    dropout: Dropout,
    layers: Vec<Block>,
}

impl DistilBertModel {
    pub fn load(cfg: &DistilBertConfig, vb: VarBuilder) -> Result<Self> {
        if cfg.n_heads == 0 || !cfg.dim.is_multiple_of(cfg.n_heads) {
            candle_core::bail!(
                "dim {} is not a multiple of n_heads {} in config.json",
                cfg.dim,
                cfg.n_heads
            );
        }
        let act = Activation::from_hf(&cfg.activation).map_err(candle_core::Error::Msg)?;
        let emb = vb.pp("embeddings");
        let layers = (0..cfg.n_layers)
            .map(|i| Block::load(cfg, act, vb.pp("transformer").pp("layer").pp(i)))
            .collect::<Result<_>>()?;
        Ok(Self {
            word_embeddings: Embedding::load(cfg.vocab_size, cfg.dim, emb.pp("word_embeddings"))?,
            position_embeddings: Embedding::load(
                cfg.max_position_embeddings,
                cfg.dim,
                emb.pp("position_embeddings"),
            )?,
            norm: LayerNorm::load(cfg.dim, LAYER_NORM_EPS, emb.pp("LayerNorm"))?,
            dropout: Dropout::new(cfg.dropout),
            layers,
        })
    }

    pub fn forward_t(&self, input: &EncoderInput, train: bool) -> Result<Tensor> {
        let ids = &input.input_ids;
        let (b, t) = ids.dims2()?;
        let max = self.position_embeddings.num_embeddings();
        if t > max {
            candle_core::bail!(
                "input of {t} tokens is longer than the model's {max} positions; truncate it"
            );
        }
        let positions = Tensor::arange(0u32, t as u32, ids.device())?
            .unsqueeze(0)?
            .broadcast_as((b, t))?
            .contiguous()?;
        let x =
            (self.word_embeddings.forward(ids)? + self.position_embeddings.forward(&positions)?)?;
        let mut x = self.dropout.forward_t(&self.norm.forward(&x)?, train)?; // (b, t, dim)
        let mask = additive_attention_mask(&input.attention_mask, x.dtype())?;
        for layer in &self.layers {
            x = layer.forward_t(&x, &mask, train)?;
        }
        Ok(x)
    }
}

enum Head {
    None,
    MaskedLm(LmHead),
    /// `pre_classifier` + ReLU + dropout + `classifier` over the first token.
    Classifier {
        pre_classifier: Linear,
        dropout: Dropout,
        classifier: Linear,
    },
    TokenClassifier {
        dropout: Dropout,
        classifier: Linear,
    },
    QuestionAnswering {
        dropout: Dropout,
        qa_outputs: Linear,
    },
}

/// DistilBERT with the head of `task`.
pub struct DistilBertForTask {
    distilbert: DistilBertModel,
    head: Head,
}

impl DistilBertForTask {
    pub fn load(
        cfg: &DistilBertConfig,
        task: Task,
        num_labels: usize,
        tied: bool,
        vb: VarBuilder,
    ) -> Result<Self> {
        let base_vb = match task {
            Task::Base => vb.clone(),
            _ => vb.pp("distilbert"),
        };
        let distilbert = DistilBertModel::load(cfg, base_vb)?;
        let d = cfg.dim;
        let head = match task {
            Task::Base => Head::None,
            Task::MaskedLm => Head::MaskedLm(LmHead::load(
                d,
                d,
                cfg.vocab_size,
                Activation::from_hf(&cfg.activation).map_err(candle_core::Error::Msg)?,
                LAYER_NORM_EPS,
                LmHeadNames {
                    dense: "vocab_transform",
                    norm: "vocab_layer_norm",
                    decoder: "vocab_projector",
                    bias: "vocab_projector.bias",
                },
                tied.then(|| distilbert.word_embeddings.weight().clone()),
                vb.clone(),
            )?),
            Task::SequenceClassification => Head::Classifier {
                pre_classifier: Linear::load(d, d, vb.pp("pre_classifier"))?,
                dropout: Dropout::new(cfg.seq_classif_dropout),
                classifier: Linear::load(d, num_labels, vb.pp("classifier"))?,
            },
            Task::TokenClassification => Head::TokenClassifier {
                dropout: Dropout::new(cfg.dropout),
                classifier: Linear::load(d, num_labels, vb.pp("classifier"))?,
            },
            Task::QuestionAnswering => Head::QuestionAnswering {
                dropout: Dropout::new(cfg.qa_dropout),
                qa_outputs: Linear::load(d, 2, vb.pp("qa_outputs"))?,
            },
            Task::PreTraining => {
                candle_core::bail!("distilbert has no pre-training head; use the masked-LM head")
            }
        };
        Ok(Self { distilbert, head })
    }
}

impl EncoderModel for DistilBertForTask {
    fn forward_t(&self, input: &EncoderInput, train: bool) -> Result<ModelOutput> {
        let h = self.distilbert.forward_t(input, train)?;
        let logits = match &self.head {
            Head::None => None,
            Head::MaskedLm(lm) => Some(lm.forward(&h)?),
            Head::Classifier {
                pre_classifier,
                dropout,
                classifier,
            } => {
                let first = h.narrow(1, 0, 1)?.squeeze(1)?; // (b, dim)
                let x = pre_classifier.forward(&first)?.relu()?;
                Some(classifier.forward(&dropout.forward_t(&x, train)?)?)
            }
            Head::TokenClassifier {
                dropout,
                classifier,
            } => Some(classifier.forward(&dropout.forward_t(&h, train)?)?),
            Head::QuestionAnswering {
                dropout,
                qa_outputs,
            } => Some(qa_outputs.forward(&dropout.forward_t(&h, train)?)?),
        };
        Ok(ModelOutput {
            last_hidden_state: h,
            pooler_output: None,
            logits,
        })
    }
}
