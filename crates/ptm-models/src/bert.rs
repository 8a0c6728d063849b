//! BERT, and the RoBERTa family (RoBERTa, XLM-RoBERTa, CamemBERT) as configurations of it.
//!
//! BERT: Devlin et al. 2018, "BERT: Pre-training of Deep Bidirectional Transformers for
//! Language Understanding". RoBERTa: Liu et al. 2019. Matches transformers'
//! `modeling_bert.py` and `modeling_roberta.py` (post-LN encoder, learned absolute
//! positions). RoBERTa differs by configuration only: position ids count from
//! `padding_idx + 1` over non-padding tokens, and its heads are named `lm_head` /
//! `classifier.{dense,out_proj}`.

use candle_core::{Module, Result, Tensor};
use candle_nn::VarBuilder;
use serde::Deserialize;

use crate::model::{EncoderInput, EncoderModel, ModelOutput, Task};
use crate::nn::{
    additive_attention_mask, Activation, Dropout, Embedding, LayerNorm, Linear, SelfAttention,
};

#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct BertConfig {
    pub model_type: String,
    pub vocab_size: usize,
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
    pub pad_token_id: Option<u32>,
    pub position_embedding_type: String,
    pub classifier_dropout: Option<f64>,
}

impl Default for BertConfig {
    /// transformers' `BertConfig()` (bert-base-uncased).
    fn default() -> Self {
        Self {
            model_type: "bert".into(),
            vocab_size: 30522,
            hidden_size: 768,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            intermediate_size: 3072,
            hidden_act: "gelu".into(),
            hidden_dropout_prob: 0.1,
            attention_probs_dropout_prob: 0.1,
            max_position_embeddings: 512,
            type_vocab_size: 2,
            layer_norm_eps: 1e-12,
            pad_token_id: None,
            position_embedding_type: "absolute".into(),
            classifier_dropout: None,
        }
    }
}

/// Which member of the family a config describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavour {
    Bert,
    /// RoBERTa, XLM-RoBERTa and CamemBERT.
    Roberta,
}

impl Flavour {
    pub fn base_model_prefix(self) -> &'static str {
        match self {
            Flavour::Bert => "bert",
            Flavour::Roberta => "roberta",
        }
    }
}

impl BertConfig {
    pub fn flavour(&self) -> Flavour {
        match self.model_type.as_str() {
            "roberta" | "xlm-roberta" | "camembert" => Flavour::Roberta,
            _ => Flavour::Bert,
        }
    }

    fn pad_id(&self) -> u32 {
        self.pad_token_id.unwrap_or(match self.flavour() {
            Flavour::Bert => 0,
            Flavour::Roberta => 1,
        })
    }

    /// RoBERTa's positions start after `padding_idx`, so fewer tokens fit.
    pub fn max_input_tokens(&self) -> usize {
        match self.flavour() {
            Flavour::Bert => self.max_position_embeddings,
            Flavour::Roberta => self
                .max_position_embeddings
                .saturating_sub(self.pad_id() as usize + 1),
        }
    }

    pub(crate) fn encoder_dims(&self) -> std::result::Result<EncoderDims, String> {
        if self.position_embedding_type != "absolute" {
            return Err(format!(
                "position_embedding_type '{}' is not supported yet; ptm supports 'absolute'",
                self.position_embedding_type
            ));
        }
        EncoderDims::new(
            self.hidden_size,
            self.num_attention_heads,
            self.intermediate_size,
            self.num_hidden_layers,
            &self.hidden_act,
            self.layer_norm_eps,
            self.hidden_dropout_prob,
            self.attention_probs_dropout_prob,
        )
    }
}

/// The sizes of a BERT-style encoder stack, shared with ELECTRA.
#[derive(Clone, Debug)]
pub(crate) struct EncoderDims {
    pub hidden: usize,
    pub heads: usize,
    pub intermediate: usize,
    pub layers: usize,
    pub act: Activation,
    pub eps: f64,
    pub hidden_dropout: f64,
    pub attention_dropout: f64,
}

impl EncoderDims {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        hidden: usize,
        heads: usize,
        intermediate: usize,
        layers: usize,
        act: &str,
        eps: f64,
        hidden_dropout: f64,
        attention_dropout: f64,
    ) -> std::result::Result<Self, String> {
        if heads == 0 || !hidden.is_multiple_of(heads) {
            return Err(format!(
                "hidden size {hidden} is not a multiple of the number of attention heads {heads}"
            ));
        }
        Ok(Self {
            hidden,
            heads,
            intermediate,
            layers,
            act: Activation::from_hf(act)?,
            eps,
            hidden_dropout,
            attention_dropout,
        })
    }
}

/// Word + position + token-type embeddings, then LayerNorm and dropout.
pub(crate) struct BertEmbeddings {
    word_embeddings: Embedding,
    position_embeddings: Embedding,
    token_type_embeddings: Embedding,
    norm: LayerNorm,
    dropout: Dropout,
    /// RoBERTa: positions count from `pad_id + 1` over non-padding tokens.
    roberta_positions: Option<u32>,
}

impl BertEmbeddings {
    /// `dim` is the embedding width: `hidden_size` for BERT, `embedding_size` for ELECTRA.
    #[allow(clippy::too_many_arguments)]
    pub fn load(
        vocab: usize,
        max_positions: usize,
        type_vocab: usize,
        dim: usize,
        eps: f64,
        dropout: f64,
        roberta_positions: Option<u32>,
        vb: VarBuilder,
    ) -> Result<Self> {
        Ok(Self {
            word_embeddings: Embedding::load(vocab, dim, vb.pp("word_embeddings"))?,
            position_embeddings: Embedding::load(max_positions, dim, vb.pp("position_embeddings"))?,
            token_type_embeddings: Embedding::load(
                type_vocab.max(1),
                dim,
                vb.pp("token_type_embeddings"),
            )?,
            norm: LayerNorm::load(dim, eps, vb.pp("LayerNorm"))?,
            dropout: Dropout::new(dropout),
            roberta_positions,
        })
    }

    pub fn word_embeddings(&self) -> &Embedding {
        &self.word_embeddings
    }

    pub fn forward_t(&self, input: &EncoderInput, train: bool) -> Result<Tensor> {
        let ids = &input.input_ids;
        let (b, t) = ids.dims2()?;
        let max = self.position_embeddings.num_embeddings();
        let positions = match self.roberta_positions {
            None => {
                if t > max {
                    candle_core::bail!(
                        "input of {t} tokens is longer than the model's {max} positions; truncate it"
                    );
                }
                Tensor::arange(0u32, t as u32, ids.device())?
                    .unsqueeze(0)?
                    .broadcast_as((b, t))?
                    .contiguous()?
            }
            Some(pad) => {
                // create_position_ids_from_input_ids: cumulative count of real tokens,
                // offset by the padding index; padding keeps the padding index.
                let rows = ids.to_vec2::<u32>()?;
                let mut flat = Vec::with_capacity(b * t);
                for row in rows {
                    let mut n = 0u32;
                    for id in row {
                        if id == pad {
                            flat.push(pad);
                        } else {
                            n += 1;
                            flat.push(pad + n);
                        }
                    }
                }
                if let Some(&p) = flat.iter().max() {
                    if p as usize >= max {
                        candle_core::bail!(
                            "input of {t} tokens is longer than the model's {} positions; truncate it",
                            max.saturating_sub(pad as usize + 1)
                        );
                    }
                }
                Tensor::from_vec(flat, (b, t), ids.device())?
            }
        };
        let types = match &input.token_type_ids {
            Some(t) => t.clone(),
            None => ids.zeros_like()?,
        };
        let x = self
            .word_embeddings
            .forward(ids)?
            .add(&self.token_type_embeddings.forward(&types)?)?
            .add(&self.position_embeddings.forward(&positions)?)?;
        self.dropout.forward_t(&self.norm.forward(&x)?, train)
    }
}

/// `LayerNorm(dropout(dense(x)) + residual)`: BertSelfOutput and BertOutput.
struct AddNorm {
    dense: Linear,
    norm: LayerNorm,
    dropout: Dropout,
}

impl AddNorm {
    fn load(in_dim: usize, d: &EncoderDims, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            dense: Linear::load(in_dim, d.hidden, vb.pp("dense"))?,
            norm: LayerNorm::load(d.hidden, d.eps, vb.pp("LayerNorm"))?,
            dropout: Dropout::new(d.hidden_dropout),
        })
    }

    fn forward_t(&self, x: &Tensor, residual: &Tensor, train: bool) -> Result<Tensor> {
        let h = self.dropout.forward_t(&self.dense.forward(x)?, train)?;
        self.norm.forward_residual(&h, residual)
    }
}

struct BertLayer {
    attention: SelfAttention,
    attention_output: AddNorm,
    intermediate: Linear,
    act: Activation,
    output: AddNorm,
}

impl BertLayer {
    fn load(d: &EncoderDims, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            attention: SelfAttention::load(
                d.hidden,
                d.heads,
                d.attention_dropout,
                ["query", "key", "value"],
                vb.pp("attention").pp("self"),
            )?,
            attention_output: AddNorm::load(d.hidden, d, vb.pp("attention").pp("output"))?,
            intermediate: Linear::load(
                d.hidden,
                d.intermediate,
                vb.pp("intermediate").pp("dense"),
            )?,
            act: d.act,
            output: AddNorm::load(d.intermediate, d, vb.pp("output"))?,
        })
    }

    fn forward_t(&self, x: &Tensor, mask: &Tensor, train: bool) -> Result<Tensor> {
        let ctx = self.attention.forward_t(x, mask, train)?; // (b, t, hidden)
        let x = self.attention_output.forward_t(&ctx, x, train)?;
        let h = self.intermediate.forward_act(&x, self.act)?; // (b, t, intermediate)
        self.output.forward_t(&h, &x, train)
    }
}

/// The stack of post-LN transformer layers, `encoder.layer.{i}`.
pub(crate) struct BertEncoder {
    layers: Vec<BertLayer>,
}

impl BertEncoder {
    pub fn load(d: &EncoderDims, vb: VarBuilder) -> Result<Self> {
        let layers = (0..d.layers)
            .map(|i| BertLayer::load(d, vb.pp("layer").pp(i)))
            .collect::<Result<_>>()?;
        Ok(Self { layers })
    }

    /// `x`: `(b, t, hidden)`; `mask`: additive `(b, 1, 1, t)`.
    pub fn forward_t(&self, x: &Tensor, mask: &Tensor, train: bool) -> Result<Tensor> {
        let mut x = x.clone();
        for layer in &self.layers {
            x = layer.forward_t(&x, mask, train)?;
        }
        Ok(x)
    }
}

/// `BertModel` / `RobertaModel`: embeddings, encoder, optional pooler.
pub struct BertModel {
    embeddings: BertEmbeddings,
    encoder: BertEncoder,
    pooler: Option<Linear>,
}

impl BertModel {
    /// `with_pooler`: `Some(true)` always loads it, `Some(false)` never, `None` loads it
    /// only if the checkpoint has one.
    pub fn load(cfg: &BertConfig, with_pooler: Option<bool>, vb: VarBuilder) -> Result<Self> {
        let dims = cfg.encoder_dims().map_err(candle_core::Error::Msg)?;
        let roberta_positions = match cfg.flavour() {
            Flavour::Bert => None,
            Flavour::Roberta => Some(cfg.pad_id()),
        };
        let embeddings = BertEmbeddings::load(
            cfg.vocab_size,
            cfg.max_position_embeddings,
            cfg.type_vocab_size,
            cfg.hidden_size,
            cfg.layer_norm_eps,
            cfg.hidden_dropout_prob,
            roberta_positions,
            vb.pp("embeddings"),
        )?;
        let encoder = BertEncoder::load(&dims, vb.pp("encoder"))?;
        let pooler = match with_pooler {
            Some(true) => true,
            Some(false) => false,
            None => vb.contains_tensor("pooler.dense.weight"),
        };
        let pooler = if pooler {
            Some(Linear::load(
                cfg.hidden_size,
                cfg.hidden_size,
                vb.pp("pooler").pp("dense"),
            )?)
        } else {
            None
        };
        Ok(Self {
            embeddings,
            encoder,
            pooler,
        })
    }

    /// Returns `(last_hidden_state, pooler_output)`.
    pub fn forward_t(&self, input: &EncoderInput, train: bool) -> Result<(Tensor, Option<Tensor>)> {
        let x = self.embeddings.forward_t(input, train)?; // (b, t, hidden)
        let mask = additive_attention_mask(&input.attention_mask, x.dtype())?;
        let h = self.encoder.forward_t(&x, &mask, train)?;
        let pooled = match &self.pooler {
            Some(p) => Some(p.forward(&h.narrow(1, 0, 1)?.squeeze(1)?)?.tanh()?),
            None => None,
        };
        Ok((h, pooled))
    }

    pub fn word_embeddings(&self) -> &Embedding {
        self.embeddings.word_embeddings()
    }
}

/// A masked-LM head: transform (dense, activation, LayerNorm) then the decoder.
pub(crate) struct LmHead {
    dense: Linear,
    act: Activation,
    norm: LayerNorm,
    decoder: Linear,
}

impl LmHead {
    /// `decoder_weight`: the tied embedding matrix, or `None` to load `decoder.weight`.
    #[allow(clippy::too_many_arguments)]
    pub fn load(
        hidden: usize,
        dim: usize,
        vocab: usize,
        act: Activation,
        eps: f64,
        names: LmHeadNames,
        decoder_weight: Option<Tensor>,
        vb: VarBuilder,
    ) -> Result<Self> {
        let dense = Linear::load(hidden, dim, vb.pp(names.dense))?;
        let norm = LayerNorm::load(dim, eps, vb.pp(names.norm))?;
        let weight = match decoder_weight {
            Some(w) => w,
            None => vb.pp(names.decoder).get((vocab, dim), "weight")?,
        };
        let bias = vb.get(vocab, names.bias)?;
        Ok(Self {
            dense,
            act,
            norm,
            decoder: Linear::new(weight, Some(bias))?,
        })
    }

    pub fn forward(&self, h: &Tensor) -> Result<Tensor> {
        let x = self
            .norm
            .forward(&self.act.forward(&self.dense.forward(h)?)?)?;
        self.decoder.forward(&x) // (b, t, vocab)
    }
}

/// Where an architecture keeps the parts of its masked-LM head.
pub(crate) struct LmHeadNames {
    pub dense: &'static str,
    pub norm: &'static str,
    pub decoder: &'static str,
    pub bias: &'static str,
}

enum Head {
    None,
    MaskedLm(LmHead),
    /// BERT: classifier over the pooled output.
    PooledClassifier {
        dropout: Dropout,
        classifier: Linear,
    },
    /// RoBERTa: dense + tanh + out_proj over the first token.
    FirstTokenClassifier {
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

/// A BERT-family model with the head of `task`.
pub struct BertForTask {
    bert: BertModel,
    head: Head,
}

impl BertForTask {
    pub fn load(
        cfg: &BertConfig,
        task: Task,
        num_labels: usize,
        tied: bool,
        vb: VarBuilder,
    ) -> Result<Self> {
        let flavour = cfg.flavour();
        let base_vb = match task {
            Task::Base => vb.clone(),
            _ => vb.pp(flavour.base_model_prefix()),
        };
        let pooler = match (task, flavour) {
            (Task::Base, _) => None,
            (Task::SequenceClassification, Flavour::Bert) => Some(true),
            _ => Some(false),
        };
        let bert = BertModel::load(cfg, pooler, base_vb)?;
        let h = cfg.hidden_size;
        let cls_dropout = Dropout::new(cfg.classifier_dropout.unwrap_or(cfg.hidden_dropout_prob));
        let head = match (task, flavour) {
            (Task::Base, _) => Head::None,
            (Task::MaskedLm, _) => {
                let tied_w = tied.then(|| bert.word_embeddings().weight().clone());
                let (names, act, vb) = match flavour {
                    Flavour::Bert => (
                        LmHeadNames {
                            dense: "transform.dense",
                            norm: "transform.LayerNorm",
                            decoder: "decoder",
                            bias: "bias",
                        },
                        Activation::from_hf(&cfg.hidden_act).map_err(candle_core::Error::Msg)?,
                        vb.pp("cls").pp("predictions"),
                    ),
                    Flavour::Roberta => (
                        LmHeadNames {
                            dense: "dense",
                            norm: "layer_norm",
                            decoder: "decoder",
                            bias: "bias",
                        },
                        Activation::Gelu,
                        vb.pp("lm_head"),
                    ),
                };
                Head::MaskedLm(LmHead::load(
                    h,
                    h,
                    cfg.vocab_size,
                    act,
                    cfg.layer_norm_eps,
                    names,
                    tied_w,
                    vb,
                )?)
            }
            (Task::SequenceClassification, Flavour::Bert) => Head::PooledClassifier {
                dropout: cls_dropout,
                classifier: Linear::load(h, num_labels, vb.pp("classifier"))?,
            },
            (Task::SequenceClassification, Flavour::Roberta) => Head::FirstTokenClassifier {
                dropout: cls_dropout,
                dense: Linear::load(h, h, vb.pp("classifier").pp("dense"))?,
                out_proj: Linear::load(h, num_labels, vb.pp("classifier").pp("out_proj"))?,
            },
            (Task::TokenClassification, _) => Head::TokenClassifier {
                dropout: cls_dropout,
                classifier: Linear::load(h, num_labels, vb.pp("classifier"))?,
            },
            (Task::QuestionAnswering, _) => {
                Head::QuestionAnswering(Linear::load(h, 2, vb.pp("qa_outputs"))?)
            }
            (Task::PreTraining, _) => candle_core::bail!(
                "{} has no pre-training head in ptm yet; use the masked-LM head",
                cfg.model_type
            ),
        };
        Ok(Self { bert, head })
    }
}

impl EncoderModel for BertForTask {
    fn forward_t(&self, input: &EncoderInput, train: bool) -> Result<ModelOutput> {
        let (h, pooled) = self.bert.forward_t(input, train)?;
        let logits = match &self.head {
            Head::None => None,
            Head::MaskedLm(lm) => Some(lm.forward(&h)?),
            Head::PooledClassifier {
                dropout,
                classifier,
            } => {
                let p = pooled
                    .as_ref()
                    .ok_or_else(|| candle_core::Error::Msg("pooler missing".into()))?;
                Some(classifier.forward(&dropout.forward_t(p, train)?)?)
            }
            Head::FirstTokenClassifier {
                dropout,
                dense,
                out_proj,
            } => {
                let first = h.narrow(1, 0, 1)?.squeeze(1)?; // (b, hidden)
                let x = dense.forward(&dropout.forward_t(&first, train)?)?.tanh()?;
                Some(out_proj.forward(&dropout.forward_t(&x, train)?)?)
            }
            Head::TokenClassifier {
                dropout,
                classifier,
            } => Some(classifier.forward(&dropout.forward_t(&h, train)?)?),
            Head::QuestionAnswering(qa) => Some(qa.forward(&h)?), // (b, t, 2)
        };
        let pooler_output = match self.head {
            Head::None => pooled,
            _ => None,
        };
        Ok(ModelOutput {
            last_hidden_state: h,
            pooler_output,
            logits,
        })
    }
}
