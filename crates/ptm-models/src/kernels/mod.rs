//! Fused f32 CPU kernels, as candle custom ops, each with its backward pass.
//!
//! [`crate::nn`] picks these on CPU for f32 tensors (see [`fused_kernels_enabled`]); other
//! dtypes and devices keep candle's ops. Every op has a `bwd` checked against candle's
//! autograd of the unfused composition, because a forward-only op silently stops
//! gradients (shared/design/PERF-NOTES.md).
//!
//! The inner loops are written over fixed 16-lane blocks so that LLVM vectorises them,
//! and run inside [`simd`], which compiles them for AVX-512 (or AVX2) when the CPU has
//! it: the crate itself is built for baseline x86-64. Rows are spread over rayon's
//! global pool, the one candle uses.

use std::sync::atomic::{AtomicBool, Ordering};

use candle_core::{CpuStorage, DType, Layout, Result, Tensor};

pub mod attention;
pub mod bf16_gemm;
pub mod bias_gelu;
pub mod layer_norm;
pub mod softmax;
pub mod transpose;

static FUSED: AtomicBool = AtomicBool::new(true);

/// Turns the fused kernels on or off for the whole process (on by default). Off, `nn`
/// runs candle's ops only: the reference the kernels are tested and timed against.
pub fn set_fused_kernels(on: bool) {
    FUSED.store(on, Ordering::Relaxed);
}

pub fn fused_kernels_enabled() -> bool {
    FUSED.load(Ordering::Relaxed)
}

static BF16_MATMUL: AtomicBool = AtomicBool::new(false);

/// The precision of f32 linear layers loaded from now on, as PyTorch's
/// `torch.set_float32_matmul_precision`: `"highest"` (f32, the default) or `"medium"`
/// (inputs rounded to bf16, products accumulated in f32, on the CPU's AVX512-BF16
/// instructions: [`bf16_gemm`]). Returns false, changing nothing, for another name, or
/// for "medium" on a CPU without those instructions.
pub fn set_float32_matmul_precision(precision: &str) -> bool {
    match precision {
        "highest" => BF16_MATMUL.store(false, Ordering::Relaxed),
        "medium" if bf16_gemm::available() => BF16_MATMUL.store(true, Ordering::Relaxed),
        _ => return false,
    }
    true
}

/// Whether linear layers loaded now use the bf16 GEMM.
pub fn bf16_matmul_enabled() -> bool {
    BF16_MATMUL.load(Ordering::Relaxed)
}

/// Whether the fused kernels can take this tensor: f32 on the CPU, and enabled.
pub(crate) fn fast_path(t: &Tensor) -> bool {
    t.device().is_cpu() && t.dtype() == DType::F32 && fused_kernels_enabled()
}

/// Lanes of the manual accumulators: one AVX-512 register of f32.
pub(crate) const LANES: usize = 16;

/// The f32 data of a contiguous operand.
pub(crate) fn contiguous_f32<'a>(s: &'a CpuStorage, l: &Layout, op: &str) -> Result<&'a [f32]> {
    let CpuStorage::F32(v) = s else {
        candle_core::bail!("{op}: expected f32 tensors")
    };
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&v[a..b]),
        None => candle_core::bail!("{op}: expected a contiguous tensor"),
    }
}

/// Runs `f` compiled for the widest vector extension this CPU has. `f` is inlined into
/// a function with the target features enabled, so its loops vectorise for them. Pass a
/// closure marked `#[inline(always)]`: without it LLVM compiled the closure on its own,
/// for baseline x86-64 (4-wide SSE), and only called it from here.
#[inline(always)]
pub(crate) fn simd<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f,avx512vl,avx512dq,avx2,fma")]
        unsafe fn v4<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        #[target_feature(enable = "avx2,fma")]
        unsafe fn v3<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the features v4 enables were detected on this CPU.
            return unsafe { v4(f) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: as above.
            return unsafe { v3(f) };
        }
    }
    f()
}

/// Sum of a slice with 16 independent accumulators (a reduction LLVM vectorises).
#[inline(always)]
pub(crate) fn sum(x: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail: f32 = chunks.remainder().iter().sum();
    for c in chunks {
        for i in 0..LANES {
            acc[i] += c[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Dot product of two equal-length slices, vectorised as [`sum`].
#[inline(always)]
pub(crate) fn dot(x: &[f32], y: &[f32]) -> f32 {
    let n = x.len().min(y.len());
    let (x, y) = (&x[..n], &y[..n]);
    let mut acc = [0f32; LANES];
    let (xc, yc) = (x.chunks_exact(LANES), y.chunks_exact(LANES));
    let tail: f32 = xc
        .remainder()
        .iter()
        .zip(yc.remainder())
        .map(|(a, b)| a * b)
        .sum();
    for (a, b) in xc.zip(yc) {
        for i in 0..LANES {
            acc[i] += a[i] * b[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Maximum of a non-empty slice.
#[inline(always)]
pub(crate) fn max(x: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks
        .remainder()
        .iter()
        .fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    for c in chunks {
        for i in 0..LANES {
            acc[i] = acc[i].max(c[i]);
        }
    }
    acc.iter().fold(tail, |m, &v| m.max(v))
}

/// `exp(x)` in f32 with branch-free code that vectorises: Cody–Waite range reduction and
/// Cephes' degree-6 polynomial, within 2 ulp of the true value. Below -87.3 it returns 0
/// (the true value is subnormal), above 88 infinity (so that 2^n stays a normal float).
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let xc = x.clamp(-87.3, 88.0);
    // Round to nearest by adding 1.5·2^23: no `roundf` call (baseline x86-64 has no
    // rounding instruction), and the low mantissa bits of `t` then hold n as an integer.
    const MAGIC: f32 = 12_582_912.0;
    let t = xc * std::f32::consts::LOG2_E + MAGIC;
    let n = t - MAGIC;
    let r = xc - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4_f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    p = p * r * r + r + 1.0;
    // 2^n by building the exponent field; n + 127 is in [1, 254] after the clamp.
    let pow2 = f32::from_bits((t.to_bits().wrapping_sub(MAGIC.to_bits()).wrapping_add(127)) << 23);
    let y = p * pow2;
    if x < -87.3 {
        0.0
    } else if x > 88.0 {
        f32::INFINITY
    } else {
        y
    }
}

/// The standard normal CDF Φ(x) = erfc(-x/√2)/2, from Numerical Recipes' `erfcc`
/// (fractional error below 1.2e-7 everywhere), so that it stays accurate in the tail
/// where `1 + erf` would cancel.
#[inline(always)]
pub(crate) fn normal_cdf(x: f32) -> f32 {
    let z = x * -std::f32::consts::FRAC_1_SQRT_2;
    let a = z.abs();
    let t = 1.0 / (1.0 + 0.5 * a);
    let mut p = 0.170_872_77_f32;
    p = p * t - 0.822_152_23;
    p = p * t + 1.488_515_9;
    p = p * t - 1.135_204;
    p = p * t + 0.278_868_07;
    p = p * t - 0.186_288_06;
    p = p * t + 0.096_784_18;
    p = p * t + 0.374_091_96;
    p = p * t + 1.000_023_7;
    p = p * t - 1.265_512_2;
    let erfc_a = t * exp(p - a * a);
    let erfc_z = if z < 0.0 { 2.0 - erfc_a } else { erfc_a };
    0.5 * erfc_z
}

/// `tanh(u)` through [`exp`]: `1 - 2 / (e^{2u} + 1)`, exact at both saturations.
#[inline(always)]
pub(crate) fn tanh(u: f32) -> f32 {
    1.0 - 2.0 / (exp(2.0 * u) + 1.0)
}

/// A pointer rayon tasks may share because each writes a disjoint part of the buffer.
#[derive(Clone, Copy)]
pub(crate) struct SharedMut(pub *mut f32);
// SAFETY: users guarantee disjoint writes (documented at each use).
unsafe impl Send for SharedMut {}
unsafe impl Sync for SharedMut {}

impl SharedMut {
    /// The pointer. A method, so that closures capture the whole (Send) wrapper rather
    /// than the raw pointer field.
    pub(crate) fn ptr(self) -> *mut f32 {
        self.0
    }
}

#[cfg(test)]
pub(crate) mod testing {
    use candle_core::{Device, Result, Tensor};

    /// Largest absolute difference between two tensors of one shape.
    pub fn max_diff(a: &Tensor, b: &Tensor) -> Result<f32> {
        (a - b)?.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>()
    }

    /// A random f32 tensor from a seeded generator (deterministic tests).
    pub fn randn(seed: u64, shape: &[usize], std: f32) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        let mut s = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 24) as f32
        };
        let v: Vec<f32> = (0..n)
            .map(|_| {
                // Box–Muller from two uniforms in (0, 1].
                let (u1, u2) = (next().max(1e-7), next());
                std * (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
            })
            .collect();
        Tensor::from_vec(v, shape, &Device::Cpu)
    }

    /// An additive `(b, 1, 1, t)` mask with the last `pad[i]` keys of row `i` masked.
    pub fn padding_mask(t: usize, pad: &[usize]) -> Result<Tensor> {
        let rows: Vec<f32> = pad
            .iter()
            .flat_map(|&p| (0..t).map(move |j| if j + p >= t { f32::MIN } else { 0.0 }))
            .collect();
        Tensor::from_vec(rows, (pad.len(), 1, 1, t), &Device::Cpu)
    }

    #[test]
    fn exp_and_normal_cdf_are_accurate() {
        // Below -87.3 the true value is subnormal and the kernel returns 0 by design.
        for i in -1746..1760 {
            let x = i as f32 * 0.05;
            let (got, want) = (super::exp(x), (x as f64).exp());
            assert!(
                ((got as f64 - want) / want).abs() < 3e-7,
                "exp({x}) = {got}, want {want}"
            );
        }
        assert_eq!(super::exp(-1e30), 0.0);
        assert_eq!(super::exp(f32::MIN), 0.0);
        for i in -1000..1000 {
            let x = i as f32 * 0.01;
            let got = super::normal_cdf(x) as f64;
            let want = 0.5 * libm_erfc(-(x as f64) / std::f64::consts::SQRT_2);
            // Far in the tail, rounding x² in f32 costs a few ulp of the exponent.
            let tol = if x.abs() < 3.0 { 1e-6 } else { 1e-5 };
            assert!(
                ((got - want) / want).abs() < tol,
                "Φ({x}) = {got}, want {want}"
            );
        }
    }

    /// PERF-NOTES: gradients silently stop at forward-only ops. Every parameter of a small
    /// BERT classifier built through `nn` must receive a gradient, on the fused path (with
    /// attention dropout on and off) and on the candle-only path.
    #[test]
    fn every_parameter_receives_a_gradient() -> Result<()> {
        use crate::bert::{BertConfig, BertForTask};
        use crate::model::{EncoderInput, EncoderModel, Task};
        use candle_core::DType;
        use candle_nn::{VarBuilder, VarMap};

        let cfg = BertConfig {
            vocab_size: 50,
            hidden_size: 32,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            intermediate_size: 37,
            max_position_embeddings: 16,
            ..BertConfig::default()
        };
        let input = EncoderInput::from_rows(
            &[vec![2, 7, 9, 4, 3], vec![2, 11, 3]],
            None,
            0,
            &Device::Cpu,
        )?;
        for (fused, train) in [(true, true), (true, false), (false, true)] {
            super::set_fused_kernels(fused);
            let varmap = VarMap::new();
            let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
            let model = BertForTask::load(&cfg, Task::SequenceClassification, 3, false, vb)?;
            let logits = model.forward_t(&input, train)?.logits.unwrap();
            let target = Tensor::new(&[[0.3f32, -1.0, 2.0], [1.0, 0.5, -0.2]], &Device::Cpu)?;
            let loss = (logits * target)?.sum_all()?;
            let grads = loss.backward()?;
            let vars = varmap.data().lock().unwrap().clone();
            assert!(vars.len() > 30, "{} parameters", vars.len());
            for (name, var) in vars {
                let g = grads.get(&var).unwrap_or_else(|| {
                    panic!("no gradient for {name} (fused {fused}, train {train})")
                });
                let norm = g.abs()?.sum_all()?.to_scalar::<f32>()?;
                assert!(
                    norm > 0.0,
                    "zero gradient for {name} (fused {fused}, train {train})"
                );
            }
        }
        super::set_fused_kernels(true);
        Ok(())
    }

    /// erfc in f64 by its continued fraction / series (reference only).
    fn libm_erfc(x: f64) -> f64 {
        // erf by its Maclaurin series is exact enough for |x| < 3; beyond, a continued fraction.
        if x.abs() < 3.0 {
            let mut term = x;
            let mut s = x;
            for n in 1..200 {
                term *= -x * x / n as f64;
                s += term / (2 * n + 1) as f64;
            }
            1.0 - 2.0 / std::f64::consts::PI.sqrt() * s
        } else if x > 0.0 {
            let mut f = 0.0;
            for k in (1..200).rev() {
                f = (k as f64 / 2.0) / (x + f);
            }
            (-x * x).exp() / std::f64::consts::PI.sqrt() / (x + f)
        } else {
            2.0 - libm_erfc(-x)
        }
    }
}
