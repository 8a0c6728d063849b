//! The building blocks every architecture shares, and the seam for faster kernels.
//!
//! Architecture files call only what is here (`Linear`, `LayerNorm`, `Activation`,
//! `attention`, ...), never candle's fused ops directly. On the CPU in f32 each block runs
//! a fused kernel from [`crate::kernels`] (softmax with scale and mask, residual + layer
//! norm, bias + GELU, per-head attention); those have backward passes, so training uses
//! them too. Other dtypes and devices use candle's fused forward-only ops when no
//! gradient is tracked, and a composition of differentiable ops when one is: candle's
//! fused `layer_norm` and `softmax_last_dim` have no backward pass and silently stop
//! gradients (see shared/design/PERF-NOTES.md). `kernels::set_fused_kernels(false)`
//! switches the fused kernels off, leaving the candle-only path as the reference.

use std::sync::Arc;

use candle_core::{DType, Module, Result, Tensor, D};
use candle_nn::{Init, VarBuilder};

use crate::kernels::bf16_gemm::{Bf16Linear, PackedWeight};
use crate::kernels::{self, bias_gelu::Gelu};

/// A dense layer `y = x Wᵀ + b` with the weight stored as PyTorch does, `(out, in)`.
///
/// The product reads `Wᵀ`, `(in, out)`. For inference that is kept as its own contiguous
/// copy (and `W` is a view of it, so no memory is spent twice): candle's GEMM on a
/// row-major `(in, out)` right-hand side ran 2× faster at 128×768×768 and 3.5× at
/// 128×768×3072 than on the transposed view of `(out, in)`, and up to 1.3× at 2048 rows
/// (`examples/gemm_shapes.rs`). A trainable weight (a `Var`) keeps the view, so gradients
/// and optimizer updates reach the parameter itself. With
/// `kernels::set_float32_matmul_precision("medium")` an f32 inference weight is instead
/// packed for the bf16 GEMM ([`kernels::bf16_gemm`]).
#[derive(Clone, Debug)]
pub struct Linear {
    /// `(out, in)`.
    weight: Tensor,
    /// `(in, out)`: contiguous for inference, a view of `weight` for training.
    weight_t: Tensor,
    bias: Option<Tensor>,
    /// The weight packed for the bf16 GEMM, when that precision was asked for.
    bf16: Option<Arc<PackedWeight>>,
}

impl Linear {
    /// A layer over `weight` as given, `(out, in)`, without copying it: for a decoder tied
    /// to an embedding table, which must stay one tensor.
    pub fn new(weight: Tensor, bias: Option<Tensor>) -> Result<Self> {
        let weight_t = weight.t()?;
        Ok(Self {
            weight,
            weight_t,
            bias,
            bf16: None,
        })
    }

    /// Loads `weight` (and `bias`) at the builder's path, initialised as PyTorch's
    /// `nn.Linear` would be if the checkpoint lacks them.
    pub fn load(in_dim: usize, out_dim: usize, vb: VarBuilder) -> Result<Self> {
        let bound = 1.0 / (in_dim as f64).sqrt();
        let init = Init::Uniform {
            lo: -bound,
            up: bound,
        };
        let weight = vb.get_with_hints((out_dim, in_dim), "weight", init)?;
        let bias = vb.get_with_hints(out_dim, "bias", init)?;
        if weight.is_variable() {
            return Self::new(weight, Some(bias));
        }
        if kernels::bf16_matmul_enabled() && kernels::fast_path(&weight) {
            let w = weight.flatten_all()?.to_vec1::<f32>()?;
            let packed = PackedWeight::pack(&w, out_dim, in_dim);
            let mut layer = Self::new(weight, Some(bias))?;
            layer.bf16 = Some(Arc::new(packed));
            return Ok(layer);
        }
        let weight_t = kernels::transpose::transpose(&weight)?; // (in, out)
        Ok(Self {
            weight: weight_t.t()?,
            weight_t,
            bias: Some(bias),
            bf16: None,
        })
    }

    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// `x Wᵀ` without the bias.
    fn matmul(&self, x: &Tensor) -> Result<Tensor> {
        if let Some(packed) = &self.bf16 {
            if kernels::fast_path(x) {
                return x.contiguous()?.apply_op1(Bf16Linear(packed.clone()));
            }
        }
        // (…, in) x (in, out): broadcast Wᵀ over the leading dims; candle folds a
        // batch-invariant right-hand side into one GEMM over all rows, copying nothing.
        let w = match *x.dims() {
            [b1, b2, _, _] => self.weight_t.broadcast_left((b1, b2))?,
            [b, _, _] => self.weight_t.broadcast_left(b)?,
            _ => self.weight_t.clone(),
        };
        x.matmul(&w)
    }

    /// `act(x Wᵀ + b)`, with the bias add fused into the activation where a kernel
    /// exists (GELU on CPU f32): the feed-forward block's first layer.
    pub fn forward_act(&self, x: &Tensor, act: Activation) -> Result<Tensor> {
        let gelu = match act {
            Activation::Gelu => Some(Gelu::Erf),
            Activation::GeluTanh => Some(Gelu::Tanh),
            _ => None,
        };
        match (gelu, &self.bias) {
            (Some(kind), Some(b)) if kernels::fast_path(x) => {
                // The product is fresh: nothing else reads it.
                kernels::bias_gelu::bias_gelu_in_place(self.matmul(x)?, b, kind)
            }
            _ => act.forward(&self.forward(x)?),
        }
    }
}

impl Module for Linear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = self.matmul(x)?;
        match &self.bias {
            // The product is fresh: nothing else reads it.
            Some(b) if kernels::fast_path(&y) => kernels::bias_gelu::bias_add_in_place(y, b),
            Some(b) => y.broadcast_add(b),
            None => Ok(y),
        }
    }
}

/// A lookup table of row vectors.
#[derive(Clone, Debug)]
pub struct Embedding {
    weight: Tensor,
}

impl Embedding {
    pub fn load(num: usize, dim: usize, vb: VarBuilder) -> Result<Self> {
        let weight = vb.get_with_hints(
            (num, dim),
            "weight",
            Init::Randn {
                mean: 0.0,
                stdev: 0.02,
            },
        )?;
        Ok(Self { weight })
    }

    /// The table itself, for heads whose decoder is tied to it.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    pub fn num_embeddings(&self) -> usize {
        self.weight.dim(0).unwrap_or(0)
    }
}

impl Module for Embedding {
    fn forward(&self, ids: &Tensor) -> Result<Tensor> {
        let mut dims = ids.dims().to_vec();
        let hidden = self.weight.dim(1)?;
        dims.push(hidden);
        self.weight
            .index_select(&ids.flatten_all()?, 0)?
            .reshape(dims)
    }
}

/// Layer normalisation over the last dimension, as `torch.nn.LayerNorm`.
#[derive(Clone, Debug)]
pub struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
}

impl LayerNorm {
    /// Loads `weight` and `bias` (checkpoints with the legacy `gamma`/`beta` names are
    /// mapped by the weight loader, not here).
    pub fn load(dim: usize, eps: f64, vb: VarBuilder) -> Result<Self> {
        let weight = vb.get_with_hints(dim, "weight", Init::Const(1.0))?;
        let bias = vb.get_with_hints(dim, "bias", Init::Const(0.0))?;
        Ok(Self { weight, bias, eps })
    }

    /// `LayerNorm(x + residual)`, the residual add fused in on CPU f32.
    pub fn forward_residual(&self, x: &Tensor, residual: &Tensor) -> Result<Tensor> {
        if kernels::fast_path(x) && x.dims() == residual.dims() {
            kernels::layer_norm::layer_norm(x, Some(residual), &self.weight, &self.bias, self.eps)
        } else {
            self.forward(&(x + residual)?)
        }
    }
}

impl Module for LayerNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if kernels::fast_path(x) {
            kernels::layer_norm::layer_norm(x, None, &self.weight, &self.bias, self.eps)
        } else if x.track_op() || self.weight.track_op() {
            layer_norm_differentiable(x, &self.weight, &self.bias, self.eps)
        } else {
            let x = x.contiguous()?;
            candle_nn::ops::layer_norm(&x, &self.weight, &self.bias, self.eps as f32)
        }
    }
}

/// Layer norm built from ops that all have a backward pass.
pub(crate) fn layer_norm_differentiable(
    x: &Tensor,
    w: &Tensor,
    b: &Tensor,
    eps: f64,
) -> Result<Tensor> {
    let dtype = x.dtype();
    let x = x.to_dtype(DType::F32)?;
    let mean = x.mean_keepdim(D::Minus1)?;
    let centered = x.broadcast_sub(&mean)?;
    let var = centered.sqr()?.mean_keepdim(D::Minus1)?;
    let normed = centered.broadcast_div(&(var + eps)?.sqrt()?)?;
    normed.to_dtype(dtype)?.broadcast_mul(w)?.broadcast_add(b)
}

/// Softmax over the last dimension: fused on CPU f32 (with a backward pass), and with
/// candle's forward-only kernel elsewhere when no gradient is tracked.
pub fn softmax_last_dim(x: &Tensor) -> Result<Tensor> {
    if kernels::fast_path(x) {
        kernels::softmax::masked_softmax(x, None, 1.0)
    } else if x.track_op() {
        candle_nn::ops::softmax(x, D::Minus1)
    } else {
        candle_nn::ops::softmax_last_dim(&x.contiguous()?)
    }
}

/// The activation functions Hugging Face configs name in `hidden_act` / `activation`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// Exact GELU, `x Φ(x)` with the error function (`"gelu"`).
    Gelu,
    /// The tanh approximation of GELU (`"gelu_new"`, `"gelu_pytorch_tanh"`, `"gelu_fast"`).
    GeluTanh,
    Relu,
    Silu,
    Tanh,
}

impl Activation {
    /// Parses a Hugging Face activation name.
    pub fn from_hf(name: &str) -> std::result::Result<Self, String> {
        Ok(match name {
            "gelu" => Self::Gelu,
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Self::GeluTanh,
            "relu" => Self::Relu,
            "silu" | "swish" => Self::Silu,
            "tanh" => Self::Tanh,
            other => {
                return Err(format!(
                    "unsupported activation '{other}' in config.json; ptm supports gelu, gelu_new, \
                     gelu_pytorch_tanh, gelu_fast, relu, silu, swish, tanh"
                ))
            }
        })
    }
}

impl Module for Activation {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Self::Gelu => x.gelu_erf(),
            Self::GeluTanh => x.gelu(),
            Self::Relu => x.relu(),
            Self::Silu => x.silu(),
            Self::Tanh => x.tanh(),
        }
    }
}

/// Inverted dropout, active only in training mode.
#[derive(Clone, Copy, Debug)]
pub struct Dropout {
    p: f64,
}

impl Dropout {
    pub fn new(p: f64) -> Self {
        Self { p }
    }

    pub fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        if train && self.p > 0.0 {
            candle_nn::ops::dropout(x, self.p as f32)
        } else {
            Ok(x.clone())
        }
    }
}

/// Turns a `(b, t)` 0/1 attention mask into the additive `(b, 1, 1, t)` bias that
/// transformers builds: 0 where attended, the dtype's lowest value where masked.
pub fn additive_attention_mask(mask: &Tensor, dtype: DType) -> Result<Tensor> {
    let (b, t) = mask.dims2()?;
    let min = match dtype {
        DType::F16 => -65504.0,
        DType::BF16 => -3.3895e38,
        _ => f32::MIN as f64,
    };
    mask.to_dtype(DType::F32)?
        .affine(-1.0, 1.0)?
        .affine(min, 0.0)?
        .to_dtype(dtype)?
        .reshape((b, 1, 1, t))
}

/// Splits `(b, t, heads·d)` into `(b, heads, t, d)`: a strided view, not a copy
/// ([`attention`] reads it in place, or copies it where candle's matmul needs to).
pub fn split_heads(x: &Tensor, heads: usize) -> Result<Tensor> {
    let (b, t, hidden) = x.dims3()?;
    x.reshape((b, t, heads, hidden / heads))?.transpose(1, 2)
}

/// Merges `(b, heads, t, d)` back into `(b, t, heads·d)`. The fused attention already
/// returns a view of `(b, t, heads, d)` memory, for which this copies nothing.
pub fn merge_heads(x: &Tensor) -> Result<Tensor> {
    let (b, h, t, d) = x.dims4()?;
    x.transpose(1, 2)?.contiguous()?.reshape((b, t, h * d))
}

/// Multi-head self-attention up to the context vectors: the query, key and value
/// projections, the heads split, attention, the heads merged. The output projection and
/// residual stay with each architecture, whose names and norms differ.
#[derive(Clone, Debug)]
pub struct SelfAttention {
    query: Linear,
    key: Linear,
    value: Linear,
    heads: usize,
    dropout: Dropout,
}

impl SelfAttention {
    /// `names`: the checkpoint names of the query, key and value layers under `vb`
    /// (`["query", "key", "value"]` in BERT, `["q_lin", "k_lin", "v_lin"]` in DistilBERT).
    pub fn load(
        hidden: usize,
        heads: usize,
        dropout: f64,
        names: [&str; 3],
        vb: VarBuilder,
    ) -> Result<Self> {
        Ok(Self {
            query: Linear::load(hidden, hidden, vb.pp(names[0]))?,
            key: Linear::load(hidden, hidden, vb.pp(names[1]))?,
            value: Linear::load(hidden, hidden, vb.pp(names[2]))?,
            heads,
            dropout: Dropout::new(dropout),
        })
    }

    /// `x`: `(b, t, hidden)`; `mask`: additive `(b, 1, 1, t)`. Returns `(b, t, hidden)`.
    pub fn forward_t(&self, x: &Tensor, mask: &Tensor, train: bool) -> Result<Tensor> {
        let q = split_heads(&self.query.forward(x)?, self.heads)?; // (b, heads, t, head_dim)
        let k = split_heads(&self.key.forward(x)?, self.heads)?;
        let v = split_heads(&self.value.forward(x)?, self.heads)?;
        merge_heads(&attention(&q, &k, &v, mask, self.dropout, train)?)
    }
}

/// Scaled dot-product attention with an additive mask.
///
/// `q`, `k`, `v`: `(b, heads, t, d)`, possibly strided views; `mask`: `(b, 1, 1, t)`
/// additive. Returns `(b, heads, t, d)`.
///
/// On CPU f32 without attention dropout this is one fused kernel per (batch, head);
/// with dropout, the scores go through the fused masked softmax, then dropout.
pub fn attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: &Tensor,
    dropout: Dropout,
    train: bool,
) -> Result<Tensor> {
    let d = q.dim(D::Minus1)?;
    let scale = 1.0 / (d as f64).sqrt();
    let dropping = train && dropout.p > 0.0;
    let fused = kernels::fast_path(q) && mask.dtype() == DType::F32 && mask.rank() == 4;
    if fused && !dropping && mask.elem_count() == q.dim(0)? * k.dim(2)? {
        return kernels::attention::attention(q, k, v, Some(mask), scale as f32);
    }
    let (q, k, v) = (q.contiguous()?, k.contiguous()?, v.contiguous()?);
    let probs = if fused {
        kernels::softmax::masked_softmax(&q.matmul(&k.t()?)?, Some(mask), scale as f32)?
    } else {
        let scores = (q.matmul(&k.t()?)? * scale)?.broadcast_add(mask)?; // (b, h, t, t)
        softmax_last_dim(&scores)?
    };
    let probs = dropout.forward_t(&probs, train)?;
    probs.matmul(&v)
}
