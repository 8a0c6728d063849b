//! `y = x · Wᵀ` with bf16 inputs and f32 accumulation on the CPU's AVX512-BF16 dot-product
//! instruction (`vdpbf16ps`): twice the f32 FMA rate per core.
//!
//! This is the building block for the bf16 inference path (docs/performance.md): an f32
//! forward spends 80–90% of its time in GEMMs already at the FMA ceiling, so going faster
//! means cheaper multiplies. `nn::Linear` packs its weight and runs [`Bf16Linear`] when
//! [`super::set_float32_matmul_precision`] says `"medium"`.
//!
//! Layout. `vdpbf16ps` multiplies pairs of bf16 along `k` and adds both products into one
//! f32 lane. The weight is packed once into panels of [`NR`] output columns:
//! `[panel][k / 2][NR][2]` bf16, so one 512-bit load holds the `(k, k+1)` pairs of 16
//! columns. Each call packs `x` into panels of [`MR`] rows: `[panel][k / 2][MR]` pairs, one
//! 32-bit pair broadcast to all lanes per row and step. The micro-kernel keeps an
//! `MR × NR` block of f32 accumulators (24 registers) across the whole `k`.

use std::sync::Arc;

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape};
use rayon::prelude::*;

/// Rows of `x` per micro-kernel block.
pub const MR: usize = 8;
/// Output columns per micro-kernel block: three 512-bit registers of f32.
pub const NR: usize = 48;

/// Whether this CPU has the instructions the kernel needs.
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512bf16")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// f32 → bf16 with round-to-nearest-even (NaN stays NaN), as `vcvtneps2bf16` rounds.
pub fn to_bf16(x: f32) -> u16 {
    let bits = x.to_bits();
    if x.is_nan() {
        return ((bits >> 16) | 0x40) as u16;
    }
    ((bits + 0x7fff + ((bits >> 16) & 1)) >> 16) as u16
}

/// bf16 → f32 (exact).
pub fn from_bf16(h: u16) -> f32 {
    f32::from_bits((h as u32) << 16)
}

/// A weight `W` of shape `(n, k)` (PyTorch's `(out, in)`), packed for [`matmul`].
#[derive(Clone, Debug)]
pub struct PackedWeight {
    /// Input features.
    pub k: usize,
    /// Output features.
    pub n: usize,
    /// `ceil(k / 2)` pair steps.
    kp: usize,
    /// `[ceil(n / NR)][kp][NR][2]` bf16; padding is zero.
    data: Vec<u16>,
}

impl PackedWeight {
    /// Packs a row-major `(n, k)` f32 weight, rounding to bf16.
    pub fn pack(w: &[f32], n: usize, k: usize) -> Self {
        assert_eq!(
            w.len(),
            n * k,
            "weight of {} values is not {n}×{k}",
            w.len()
        );
        let kp = k.div_ceil(2);
        let panels = n.div_ceil(NR);
        let mut data = vec![0u16; panels * kp * NR * 2];
        // (`max(1)`: rayon refuses chunks of 0 when k is 0.)
        data.par_chunks_mut((kp * NR * 2).max(1))
            .enumerate()
            .for_each(|(panel, dst)| {
                for c in 0..NR.min(n - panel * NR) {
                    let row = &w[(panel * NR + c) * k..(panel * NR + c + 1) * k];
                    for (kk, &v) in row.iter().enumerate() {
                        dst[(kk / 2) * NR * 2 + c * 2 + kk % 2] = to_bf16(v);
                    }
                }
            });
        Self { k, n, kp, data }
    }
}

/// `out = x · Wᵀ` for a row-major `(m, k)` `x`, written to the row-major `(m, n)` `out`.
/// Panics when the CPU lacks the instructions ([`available`]) or the sizes disagree.
pub fn matmul(x: &[f32], m: usize, w: &PackedWeight, out: &mut [f32]) {
    assert!(available(), "bf16 GEMM needs AVX512-BF16");
    let (k, n, kp) = (w.k, w.n, w.kp);
    assert_eq!(x.len(), m * k, "x of {} values is not {m}×{k}", x.len());
    assert_eq!(
        out.len(),
        m * n,
        "out of {} values is not {m}×{n}",
        out.len()
    );
    // x packed as [row panel][kp][MR] bf16 pairs (u32), zero-padded.
    let row_panels = m.div_ceil(MR);
    let mut a = vec![0u32; row_panels * kp * MR];
    a.par_chunks_mut((kp * MR).max(1))
        .enumerate()
        .for_each(|(panel, dst)| {
            for r in 0..MR.min(m - panel * MR) {
                let row = &x[(panel * MR + r) * k..(panel * MR + r + 1) * k];
                for p in 0..kp {
                    let lo = to_bf16(row[2 * p]) as u32;
                    let hi = row.get(2 * p + 1).map_or(0, |&v| to_bf16(v) as u32);
                    dst[p * MR + r] = lo | (hi << 16);
                }
            }
        });
    let col_panels = n.div_ceil(NR);
    let dst = super::SharedMut(out.as_mut_ptr());
    // Tasks own whole (row panel, column panel) tiles of `out`: disjoint writes.
    (0..row_panels * col_panels)
        .into_par_iter()
        .with_min_len(4)
        .for_each(|t| {
            // Column panel outer, so neighbouring tasks share the weight panel in cache.
            let (cp, rp) = (t / row_panels, t % row_panels);
            let mut tile = [0f32; MR * NR];
            // SAFETY: `available()` was checked above; the packed buffers hold kp steps.
            unsafe {
                kernel(
                    kp,
                    a[rp * kp * MR..].as_ptr(),
                    w.data[cp * kp * NR * 2..].as_ptr(),
                    tile.as_mut_ptr(),
                )
            };
            let rows = MR.min(m - rp * MR);
            let cols = NR.min(n - cp * NR);
            for r in 0..rows {
                let o = (rp * MR + r) * n + cp * NR;
                // SAFETY: this task is the only writer of the tile's rows × columns of `out`.
                unsafe {
                    std::ptr::copy_nonoverlapping(tile[r * NR..].as_ptr(), dst.ptr().add(o), cols)
                };
            }
        });
}

/// `x Wᵀ` over the last dimension of an f32 `x`, as a candle op. Inference only: its
/// backward is candle's "not supported" error, never a silent zero.
#[derive(Clone, Debug)]
pub struct Bf16Linear(pub Arc<PackedWeight>);

impl CustomOp1 for Bf16Linear {
    fn name(&self) -> &'static str {
        "ptm-bf16-linear"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = super::contiguous_f32(s, l, self.name())?;
        let w = &self.0;
        let mut dims = l.dims().to_vec();
        if dims.last() != Some(&w.k) {
            candle_core::bail!(
                "{}: input {dims:?} for a weight of {} inputs",
                self.name(),
                w.k
            );
        }
        let m = x.len() / w.k.max(1);
        let mut out = vec![0f32; m * w.n];
        matmul(x, m, w, &mut out);
        *dims.last_mut().expect("checked above") = w.n;
        Ok((CpuStorage::F32(out), Shape::from(dims)))
    }
}

/// One `MR × NR` block over all `kp` pair steps, stored (not added) into `c`, row stride
/// `NR`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
unsafe fn kernel(kp: usize, a: *const u32, b: *const u16, c: *mut f32) {
    use std::arch::x86_64::*;
    let mut acc = [[_mm512_setzero_ps(); 3]; MR];
    for p in 0..kp {
        let bp = b.add(p * NR * 2);
        let b0: __m512bh = std::mem::transmute(_mm512_loadu_si512(bp as *const _));
        let b1: __m512bh = std::mem::transmute(_mm512_loadu_si512(bp.add(32) as *const _));
        let b2: __m512bh = std::mem::transmute(_mm512_loadu_si512(bp.add(64) as *const _));
        for (i, acc) in acc.iter_mut().enumerate() {
            let av: __m512bh = std::mem::transmute(_mm512_set1_epi32(*a.add(p * MR + i) as i32));
            acc[0] = _mm512_dpbf16_ps(acc[0], av, b0);
            acc[1] = _mm512_dpbf16_ps(acc[1], av, b1);
            acc[2] = _mm512_dpbf16_ps(acc[2], av, b2);
        }
    }
    for (i, acc) in acc.iter().enumerate() {
        for (j, v) in acc.iter().enumerate() {
            _mm512_storeu_ps(c.add(i * NR + j * 16), *v);
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn kernel(_: usize, _: *const u32, _: *const u16, _: *mut f32) {
    unreachable!("matmul checks available() first")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(seed: u64, n: usize) -> Vec<f32> {
        let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn bf16_rounding_is_nearest_even() {
        assert_eq!(to_bf16(1.0), 0x3f80);
        assert_eq!(from_bf16(to_bf16(1.0)), 1.0);
        // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties go to the even mantissa (1.0).
        assert_eq!(from_bf16(to_bf16(1.0 + 1.0 / 256.0)), 1.0);
        assert_eq!(from_bf16(to_bf16(1.0 + 3.0 / 256.0)), 1.0 + 4.0 / 256.0);
        assert!(from_bf16(to_bf16(f32::NAN)).is_nan());
        assert_eq!(from_bf16(to_bf16(f32::INFINITY)), f32::INFINITY);
    }

    /// Against an f64 product of the bf16-rounded inputs, over sizes that leave partial
    /// panels in every dimension (odd k included).
    #[test]
    fn equals_the_product_of_the_rounded_inputs() {
        if !available() {
            eprintln!("skipped: this CPU has no AVX512-BF16");
            return;
        }
        for (m, n, k) in [
            (1, 1, 1),
            (3, 5, 7),
            (8, 48, 16),
            (9, 49, 33),
            (37, 100, 64),
        ] {
            let x = lcg(m as u64 * 131 + k as u64, m * k);
            let w = lcg(n as u64 * 17 + k as u64, n * k);
            let packed = PackedWeight::pack(&w, n, k);
            let mut out = vec![f32::NAN; m * n];
            matmul(&x, m, &packed, &mut out);
            let r = |v: f32| from_bf16(to_bf16(v)) as f64;
            for i in 0..m {
                for j in 0..n {
                    let want: f64 = (0..k).map(|kk| r(x[i * k + kk]) * r(w[j * k + kk])).sum();
                    let got = out[i * n + j] as f64;
                    assert!(
                        (got - want).abs() <= 1e-5 * (1.0 + want.abs()) * (k as f64).sqrt(),
                        "{m}x{n}x{k} [{i},{j}]: {got} vs {want}"
                    );
                }
            }
        }
    }
}
