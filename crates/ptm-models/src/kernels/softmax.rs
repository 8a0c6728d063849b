//! Softmax over the last dimension with the scale and the additive attention mask fused
//! in: `softmax(x · scale + mask)` in one pass over the scores instead of three.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::{contiguous_f32, exp, max, simd, sum};

/// `softmax(x · scale + mask)` over the last dimension, for contiguous f32 `x`; `mask` is
/// additive, `(b, 1, …, 1, n)` against `x`'s `(b, …, n)`.
pub fn masked_softmax(x: &Tensor, mask: Option<&Tensor>, scale: f32) -> Result<Tensor> {
    let x = x.contiguous()?;
    match mask {
        Some(m) => {
            let m = m.contiguous()?;
            check_mask(x.dims(), m.dims())?;
            x.apply_op2(&m, Softmax { scale })
        }
        None => x.apply_op1(Softmax { scale }),
    }
}

/// The mask must hold one row per leading index of `x` and broadcast over the rest.
fn check_mask(x: &[usize], m: &[usize]) -> Result<()> {
    let n = x.last().copied().unwrap_or(0);
    let ok = m.len() == x.len()
        && m.last() == Some(&n)
        && m[0] == x[0]
        && m[1..m.len() - 1].iter().all(|&d| d == 1);
    if !ok {
        candle_core::bail!(
            "masked softmax: mask {m:?} does not broadcast as (b, 1, …, 1, n) over {x:?}"
        );
    }
    Ok(())
}

#[derive(Clone, Copy)]
struct Softmax {
    scale: f32,
}

/// One row: `out = softmax(x · scale + mask)`.
#[inline(always)]
fn row(x: &[f32], mask: Option<&[f32]>, scale: f32, out: &mut [f32]) {
    match mask {
        Some(m) => {
            for ((o, &v), &mv) in out.iter_mut().zip(x).zip(m) {
                *o = v * scale + mv;
            }
        }
        None => {
            for (o, &v) in out.iter_mut().zip(x) {
                *o = v * scale;
            }
        }
    }
    let mx = max(out);
    for o in out.iter_mut() {
        *o = exp(*o - mx);
    }
    let inv = 1.0 / sum(out);
    for o in out.iter_mut() {
        *o *= inv;
    }
}

fn forward(x: &[f32], n: usize, mask: Option<(&[f32], usize)>, scale: f32) -> Vec<f32> {
    let mut out = vec![0f32; x.len()];
    if n == 0 {
        return out;
    }
    let rows = x.len() / n;
    // Enough rows per task that a task is worth scheduling.
    let min_rows = (4096 / n).max(1);
    out.par_chunks_mut(n)
        .zip(x.par_chunks(n))
        .enumerate()
        .with_min_len(min_rows)
        .for_each(|(r, (o, xr))| {
            let m = mask.map(|(m, per)| &m[(r / per) * n..(r / per + 1) * n]);
            simd(
                #[inline(always)]
                || row(xr, m, scale, o),
            );
        });
    debug_assert_eq!(out.len(), rows * n);
    out
}

impl CustomOp1 for Softmax {
    fn name(&self) -> &'static str {
        "ptm-softmax"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = contiguous_f32(s, l, CustomOp1::name(self))?;
        let n = l.dims().last().copied().unwrap_or(1);
        Ok((
            CpuStorage::F32(forward(x, n, None, self.scale)),
            l.shape().clone(),
        ))
    }

    fn bwd(&self, _x: &Tensor, y: &Tensor, g: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(softmax_backward(y, g, self.scale)?))
    }
}

impl CustomOp2 for Softmax {
    fn name(&self) -> &'static str {
        "ptm-masked-softmax"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = contiguous_f32(s1, l1, CustomOp2::name(self))?;
        let m = contiguous_f32(s2, l2, CustomOp2::name(self))?;
        let n = l1.dims().last().copied().unwrap_or(1);
        let rows = x.len() / n.max(1);
        let mask_rows = (m.len() / n.max(1)).max(1);
        let out = forward(x, n, Some((m, (rows / mask_rows).max(1))), self.scale);
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    /// The mask is a constant (padding), so it gets no gradient.
    fn bwd(
        &self,
        _x: &Tensor,
        _mask: &Tensor,
        y: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        Ok((Some(softmax_backward(y, g, self.scale)?), None))
    }
}

/// `dx = scale · y ⊙ (g − Σ g ⊙ y)` row by row, given the softmax output `y`.
pub(crate) fn softmax_backward(y: &Tensor, g: &Tensor, scale: f32) -> Result<Tensor> {
    y.contiguous()?
        .apply_op2_no_bwd(&g.contiguous()?, &SoftmaxBwd { scale })
}

struct SoftmaxBwd {
    scale: f32,
}

impl CustomOp2 for SoftmaxBwd {
    fn name(&self) -> &'static str {
        "ptm-softmax-bwd"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let y = contiguous_f32(s1, l1, self.name())?;
        let g = contiguous_f32(s2, l2, self.name())?;
        let n = l1.dims().last().copied().unwrap_or(1).max(1);
        let scale = self.scale;
        let mut out = vec![0f32; y.len()];
        out.par_chunks_mut(n)
            .zip(y.par_chunks(n).zip(g.par_chunks(n)))
            .with_min_len((4096 / n).max(1))
            .for_each(|(o, (yr, gr))| {
                simd(
                    #[inline(always)]
                    || {
                        let d = super::dot(yr, gr);
                        for ((o, &yv), &gv) in o.iter_mut().zip(yr).zip(gr) {
                            *o = scale * yv * (gv - d);
                        }
                    },
                )
            });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::testing::{max_diff, padding_mask, randn};
    use candle_core::{Var, D};

    fn reference(x: &Tensor, mask: Option<&Tensor>, scale: f64) -> Result<Tensor> {
        let s = (x * scale)?;
        let s = match mask {
            Some(m) => s.broadcast_add(m)?,
            None => s,
        };
        candle_nn::ops::softmax(&s, D::Minus1)
    }

    #[test]
    fn forward_matches_the_unfused_ops() -> Result<()> {
        for (seed, &(b, h, q, t)) in [
            (1, 1, 1, 1),
            (2, 3, 5, 7),
            (2, 12, 128, 128),
            (3, 2, 17, 33),
        ]
        .iter()
        .enumerate()
        {
            let x = randn(seed as u64, &[b, h, q, t], 3.0)?;
            let pad: Vec<usize> = (0..b).map(|i| (i * 5) % t).collect();
            let mask = padding_mask(t, &pad)?;
            let scale = 0.125;
            let got = masked_softmax(&x, Some(&mask), scale)?;
            let want = reference(&x, Some(&mask), scale as f64)?;
            assert!(max_diff(&got, &want)? < 1e-5, "{b}x{h}x{q}x{t}");
            let got = masked_softmax(&x, None, 1.0)?;
            let want = reference(&x, None, 1.0)?;
            assert!(max_diff(&got, &want)? < 1e-5, "{b}x{h}x{q}x{t} no mask");
        }
        Ok(())
    }

    #[test]
    fn backward_matches_autograd() -> Result<()> {
        let (b, h, q, t) = (3, 2, 5, 19);
        let x = Var::from_tensor(&randn(7, &[b, h, q, t], 2.0)?)?;
        let w = randn(8, &[b, h, q, t], 1.0)?;
        let mask = padding_mask(t, &[0, 4, 18])?;
        let fused = (masked_softmax(x.as_tensor(), Some(&mask), 0.3)? * &w)?.sum_all()?;
        let unfused = (reference(x.as_tensor(), Some(&mask), 0.3)? * &w)?.sum_all()?;
        let (g1, g2) = (fused.backward()?, unfused.backward()?);
        let (g1, g2) = (g1.get(&x).unwrap(), g2.get(&x).unwrap());
        assert!(max_diff(g1, g2)? < 1e-4);
        assert!(g1.abs()?.sum_all()?.to_scalar::<f32>()? > 0.0);
        Ok(())
    }
}
