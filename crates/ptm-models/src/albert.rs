//! ALBERT: Lan et al. 2019, "ALBERT: A Lite BERT for Self-supervised Learning of
//! Language Representations".
//!
//! Matches transformers' `modeling_albert.py`: factorised embeddings (`embedding_size`
//! projected to `hidden_size` by `encoder.embedding_hidden_mapping_in`) and
//! cross-layer sharing: `num_hidden_layers` passes over `num_hidden_groups` groups of
//! `inner_group_num` layers, `encoder.albert_layer_groups.{g}.albert_layers.{j}`.

use candle_core::{Module, Result, Tensor};
use candle_nn::VarBuilder;
use serde::Deserialize;

use crate::bert::{BertEmbeddings, LmHead, LmHeadNames};
use crate::model::{EncoderInput, EncoderModel, ModelOutput, Task};
use crate::nn::{additive_attention_mask, Activation, Dropout, LayerNorm, Linear, SelfAttention};

#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct AlbertConfig {
    pub vocab_size: usize,
    pub embedding_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_hidden_groups: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub inner_group_num: usize,
    pub hidden_act: String,
    pub hidden_dropout_prob: f64,
    pub attention_probs_dropout_prob: f64,
    pub max_position_embeddings: usize,
    pub type_vocab_size: usize,
    pub layer_norm_eps: f64,
    pub classifier_dropout_prob: f64,
    pub position_embedding_type: String,
}

impl Default for AlbertConfig {
    /// transformers' `AlbertConfig()` (albert-xxlarge sizes, as transformers has them).
    fn default() -> Self {
        Self {
            vocab_size: 30000,
            embedding_size: 128,
            hidden_size: 4096,
            num_hidden_layers: 12,
            num_hidden_groups: 1,
            num_attention_heads: 64,
            intermediate_size: 16384,
            inner_group_num: 1,
            hidden_act: "gelu_new".into(),
            hidden_dropout_prob: 0.0,
            attention_probs_dropout_prob: 0.0,
            max_position_embeddings: 512,
            type_vocab_size: 2,
            layer_norm_eps: 1e-12,
            classifier_dropout_prob: 0.1,
            position_embedding_type: "absolute".into(),
        }
    }
}

struct AlbertLayer {
    attention: SelfAttention,
    dense: Linear,
    attention_norm: LayerNorm,
    dropout: Dropout,
    ffn: Linear,
    ffn_output: Linear,
    act: Activation,
    full_layer_layer_norm: LayerNorm,
}

impl AlbertLayer {
    fn load(cfg: &AlbertConfig, act: Activation, vb: VarBuilder) -> Result<Self> {
        let h = cfg.hidden_size;
        let att = vb.pp("attention");
        Ok(Self {
            attention: SelfAttention::load(
                h,
                cfg.num_attention_heads,
                cfg.attention_probs_dropout_prob,
                ["query", "key", "value"],
                att.clone(),
            )?,
            dense: Linear::load(h, h, att.pp("dense"))?,
            attention_norm: LayerNorm::load(h, cfg.layer_norm_eps, att.pp("LayerNorm"))?,
            dropout: Dropout::new(cfg.hidden_dropout_prob),
            ffn: Linear::load(h, cfg.intermediate_size, vb.pp("ffn"))?,
            ffn_output: Linear::load(cfg.intermediate_size, h, vb.pp("ffn_output"))?,
            act,
            full_layer_layer_norm: LayerNorm::load(
                h,
                cfg.layer_norm_eps,
                vb.pp("full_layer_layer_norm"),
            )?,
        })
    }

    fn forward_t(&self, x: &Tensor, mask: &Tensor, train: bool) -> Result<Tensor> {
        let ctx = self.attention.forward_t(x, mask, train)?; // (b, t, hidden)
        let proj = self.dropout.forward_t(&self.dense.forward(&ctx)?, train)?;
        let a = self.attention_norm.forward_residual(&proj, x)?;
        let f = self
            .ffn_output
            .forward(&self.ffn.forward_act(&a, self.act)?)?;
        let f = self.dropout.forward_t(&f, train)?;
        self.full_layer_layer_norm.forward_residual(&f, &a)
    }
}

/// `AlbertModel`.
pub struct AlbertModel {
    embeddings: BertEmbeddings,
    mapping_in: Linear,
    groups: Vec<Vec<AlbertLayer>>,
    num_hidden_layers: usize,
    pooler: Option<Linear>,
}

impl AlbertModel {
    pub fn load(cfg: &AlbertConfig, with_pooler: Option<bool>, vb: VarBuilder) -> Result<Self> {
        if cfg.num_attention_heads == 0 || !cfg.hidden_size.is_multiple_of(cfg.num_attention_heads)
        {
            candle_core::bail!(
                "hidden_size {} is not a multiple of num_attention_heads {} in config.json",
                cfg.hidden_size,
                cfg.num_attention_heads
            );
        }
        if cfg.num_hidden_groups == 0
            || !cfg.num_hidden_layers.is_multiple_of(cfg.num_hidden_groups)
        {
            candle_core::bail!(
                "num_hidden_layers {} is not a multiple of num_hidden_groups {} in config.json",
                cfg.num_hidden_layers,
                cfg.num_hidden_groups
            );
        }
        if cfg.position_embedding_type != "absolute" {
            candle_core::bail!(
                "position_embedding_type '{}' is not supported yet; ptm supports 'absolute'",
                cfg.position_embedding_type
            );
        }
        let act = Activation::from_hf(&cfg.hidden_act).map_err(candle_core::Error::Msg)?;
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
        let enc = vb.pp("encoder");
        let mapping_in = Linear::load(
            cfg.embedding_size,
            cfg.hidden_size,
            enc.pp("embedding_hidden_mapping_in"),
        )?;
        let groups = (0..cfg.num_hidden_groups)
            .map(|g| {
                (0..cfg.inner_group_num)
                    .map(|j| {
                        AlbertLayer::load(
                            cfg,
                            act,
                            enc.pp("albert_layer_groups")
                                .pp(g)
                                .pp("albert_layers")
                                .pp(j),
                        )
                    })
                    .collect::<Result<Vec<_>>>()
            })
            .collect::<Result<_>>()?;
        let pooler = match with_pooler {
            Some(p) => p,
            None => vb.contains_tensor("pooler.weight"),
        };
        let pooler = if pooler {
            Some(Linear::load(
                cfg.hidden_size,
                cfg.hidden_size,
                vb.pp("pooler"),
            )?)
        } else {
            None
        };
        Ok(Self {
            embeddings,
            mapping_in,
            groups,
            num_hidden_layers: cfg.num_hidden_layers,
            pooler,
        })
    }

    pub fn forward_t(&self, input: &EncoderInput, train: bool) -> Result<(Tensor, Option<Tensor>)> {
        let e = self.embeddings.forward_t(input, train)?; // (b, t, embedding_size)
        let mut x = self.mapping_in.forward(&e)?; // (b, t, hidden)
        let mask = additive_attention_mask(&input.attention_mask, x.dtype())?;
        let per_group = self.num_hidden_layers / self.groups.len();
        for i in 0..self.num_hidden_layers {
            for layer in &self.groups[i / per_group] {
                x = layer.forward_t(&x, &mask, train)?;
            }
        }
        let pooled = match &self.pooler {
            Some(p) => Some(p.forward(&x.narrow(1, 0, 1)?.squeeze(1)?)?.tanh()?),
            None => None,
        };
        Ok((x, pooled))
    }
}

enum Head {
    None,
    MaskedLm(LmHead),
    PooledClassifier {
        dropout: Dropout,
        classifier: Linear,
    },
    TokenClassifier {
        dropout: Dropout,
        classifier: Linear,
    },
    QuestionAnswering(Linear),
}

/// ALBERT with the head of `task`.
pub struct AlbertForTask {
    albert: AlbertModel,
    head: Head,
}

impl AlbertForTask {
    pub fn load(
        cfg: &AlbertConfig,
        task: Task,
        num_labels: usize,
        tied: bool,
        vb: VarBuilder,
    ) -> Result<Self> {
        let base_vb = match task {
            Task::Base => vb.clone(),
            _ => vb.pp("albert"),
        };
        let pooler = match task {
            Task::Base => None,
            Task::SequenceClassification => Some(true),
            _ => Some(false),
        };
        let albert = AlbertModel::load(cfg, pooler, base_vb)?;
        let h = cfg.hidden_size;
        let dropout = Dropout::new(cfg.classifier_dropout_prob);
        let head = match task {
            Task::Base => Head::None,
            Task::MaskedLm => Head::MaskedLm(LmHead::load(
                h,
                cfg.embedding_size,
                cfg.vocab_size,
                Activation::from_hf(&cfg.hidden_act).map_err(candle_core::Error::Msg)?,
                cfg.layer_norm_eps,
                LmHeadNames {
                    dense: "dense",
                    norm: "LayerNorm",
                    decoder: "decoder",
                    bias: "bias",
                },
                tied.then(|| albert.embeddings.word_embeddings().weight().clone()),
                vb.pp("predictions"),
            )?),
            Task::SequenceClassification => Head::PooledClassifier {
                dropout,
                classifier: Linear::load(h, num_labels, vb.pp("classifier"))?,
            },
            Task::TokenClassification => Head::TokenClassifier {
                dropout: Dropout::new(cfg.hidden_dropout_prob),
                classifier: Linear::load(h, num_labels, vb.pp("classifier"))?,
            },
            Task::QuestionAnswering => {
                Head::QuestionAnswering(Linear::load(h, 2, vb.pp("qa_outputs"))?)
            }
            Task::PreTraining => candle_core::bail!(
                "albert's sentence-order pre-training head is not in ptm yet; use the masked-LM head"
            ),
        };
        Ok(Self { albert, head })
    }
}

impl EncoderModel for AlbertForTask {
    fn forward_t(&self, input: &EncoderInput, train: bool) -> Result<ModelOutput> {
        let (h, pooled) = self.albert.forward_t(input, train)?;
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
            Head::TokenClassifier {
                dropout,
                classifier,
            } => Some(classifier.forward(&dropout.forward_t(&h, train)?)?),
            Head::QuestionAnswering(qa) => Some(qa.forward(&h)?),
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
