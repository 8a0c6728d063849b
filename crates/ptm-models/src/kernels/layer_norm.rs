//! Layer normalisation over the last dimension, optionally of a residual sum:
//! `LN(x + r) · w + b` in one pass, with a backward pass giving `dx` (= `dr`), `dw`, `db`.

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor, D};
use rayon::prelude::*;

use super::{contiguous_f32, dot, simd, sum};

/// `LayerNorm(x + residual)` with `weight` and `bias` over the last dimension, in f32.
pub fn layer_norm(
    x: &Tensor,
    residual: Option<&Tensor>,
    weight: &Tensor,
    bias: &Tensor,
    eps: f64,
) -> Result<Tensor> {
    // Weight and bias travel as one (2, n) operand: custom ops take at most three
    // inputs, and `stack` passes the gradient back to each of them.
    let wb = Tensor::stack(&[weight, bias], 0)?;
    let x = x.contiguous()?;
    let op = LayerNorm { eps: eps as f32 };
    match residual {
        Some(r) => x.apply_op3(&r.contiguous()?, &wb, op),
        None => x.apply_op2(&wb, op),
    }
}

#[derive(Clone, Copy)]
struct LayerNorm {
    eps: f32,
}

/// One row: `out = (s - mean) / sqrt(var + eps) · w + b` with `s = x (+ r)`. Two passes
/// over the row (mean, then centred variance), as the reference composition.
#[inline(always)]
fn row(x: &[f32], r: Option<&[f32]>, w: &[f32], b: &[f32], eps: f32, out: &mut [f32]) {
    match r {
        Some(r) => {
            for ((o, &a), &c) in out.iter_mut().zip(x).zip(r) {
                *o = a + c;
            }
        }
        None => out.copy_from_slice(x),
    }
    let n = out.len() as f32;
    let mean = sum(out) / n;
    for o in out.iter_mut() {
        *o -= mean;
    }
    let var = dot(out, out) / n;
    let rstd = 1.0 / (var + eps).sqrt();
    for ((o, &wv), &bv) in out.iter_mut().zip(w).zip(b) {
        *o = *o * rstd * wv + bv;
    }
}

fn forward(x: &[f32], r: Option<&[f32]>, wb: &[f32], eps: f32) -> Vec<f32> {
    let n = wb.len() / 2;
    let (w, b) = wb.split_at(n);
    let mut out = vec![0f32; x.len()];
    if n == 0 {
        return out;
    }
    out.par_chunks_mut(n)
        .enumerate()
        .with_min_len((8192 / n).max(1))
        .for_each(|(i, o)| {
            let xr = &x[i * n..(i + 1) * n];
            let rr = r.map(|r| &r[i * n..(i + 1) * n]);
            simd(
                #[inline(always)]
                || row(xr, rr, w, b, eps, o),
            );
        });
    out
}

fn check(name: &str, lx: &Layout, lwb: &Layout) -> Result<()> {
    let n = lx.dims().last().copied().unwrap_or(0);
    if lwb.dims() != [2, n] {
        candle_core::bail!(
            "{name}: weight and bias {:?} do not match {:?}",
            lwb.dims(),
            lx.dims()
        );
    }
    Ok(())
}

impl CustomOp2 for LayerNorm {
    fn name(&self) -> &'static str {
        "ptm-layer-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let name = CustomOp2::name(self);
        check(name, l1, l2)?;
        let x = contiguous_f32(s1, l1, name)?;
        let wb = contiguous_f32(s2, l2, name)?;
        Ok((
            CpuStorage::F32(forward(x, None, wb, self.eps)),
            l1.shape().clone(),
        ))
    }

    fn bwd(
        &self,
        x: &Tensor,
        wb: &Tensor,
        _res: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (dx, dwb) = backward(x, wb, g, self.eps)?;
        Ok((Some(dx), Some(dwb)))
    }
}

impl CustomOp3 for LayerNorm {
    fn name(&self) -> &'static str {
        "ptm-add-layer-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let name = CustomOp3::name(self);
        check(name, l1, l3)?;
        if l1.dims() != l2.dims() {
            candle_core::bail!(
                "{name}: residual {:?} differs from {:?}",
                l2.dims(),
                l1.dims()
            );
        }
        let x = contiguous_f32(s1, l1, name)?;
        let r = contiguous_f32(s2, l2, name)?;
        let wb = contiguous_f32(s3, l3, name)?;
        Ok((
            CpuStorage::F32(forward(x, Some(r), wb, self.eps)),
            l1.shape().clone(),
        ))
    }

    fn bwd(
        &self,
        x: &Tensor,
        r: &Tensor,
        wb: &Tensor,
        _res: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (dx, dwb) = backward(&(x + r)?, wb, g, self.eps)?;
        Ok((Some(dx.clone()), Some(dx), Some(dwb)))
    }
}

/// Gradients of `LN(s) · w + b` for `s` and the stacked `(w, b)`.
fn backward(s: &Tensor, wb: &Tensor, g: &Tensor, eps: f32) -> Result<(Tensor, Tensor)> {
    let n = s.dim(D::Minus1)?;
    let rows = s.elem_count() / n.max(1);
    // The kernel returns dx's rows followed by the per-row-block partial sums of dw, db.
    let packed = s.contiguous()?.apply_op3_no_bwd(
        &wb.contiguous()?,
        &g.contiguous()?,
        &LayerNormBwd { eps },
    )?;
    let dx = packed.narrow(0, 0, rows)?.reshape(s.shape())?;
    let dwb = packed
        .narrow(0, rows, packed.dim(0)? - rows)?
        .reshape(((), 2, n))?
        .sum(0)?;
    Ok((dx, dwb))
}

struct LayerNormBwd {
    eps: f32,
}

/// Rows per task in the backward pass; each task returns its own dw, db partial sums.
const BWD_BLOCK: usize = 64;

impl CustomOp3 for LayerNormBwd {
    fn name(&self) -> &'static str {
        "ptm-layer-norm-bwd"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let name = self.name();
        let s = contiguous_f32(s1, l1, name)?;
        let wb = contiguous_f32(s2, l2, name)?;
        let g = contiguous_f32(s3, l3, name)?;
        let n = wb.len() / 2;
        let w = &wb[..n];
        let rows = s.len() / n.max(1);
        let blocks = rows.div_ceil(BWD_BLOCK);
        let mut out = vec![0f32; (rows + 2 * blocks) * n];
        let (dx, partial) = out.split_at_mut(rows * n);
        let eps = self.eps;
        dx.par_chunks_mut(BWD_BLOCK * n)
            .zip(partial.par_chunks_mut(2 * n))
            .enumerate()
            .for_each(|(blk, (dxb, part))| {
                let (dw, db) = part.split_at_mut(n);
                let mut xhat = vec![0f32; n];
                let mut gw = vec![0f32; n];
                for (i, dxr) in dxb.chunks_mut(n).enumerate() {
                    let r0 = (blk * BWD_BLOCK + i) * n;
                    let (sr, gr) = (&s[r0..r0 + n], &g[r0..r0 + n]);
                    simd(
                        #[inline(always)]
                        || {
                            let nf = n as f32;
                            let mean = sum(sr) / nf;
                            for (h, &v) in xhat.iter_mut().zip(sr) {
                                *h = v - mean;
                            }
                            let rstd = 1.0 / (dot(&xhat, &xhat) / nf + eps).sqrt();
                            for h in xhat.iter_mut() {
                                *h *= rstd;
                            }
                            for (((q, &gv), &wv), dbv) in
                                gw.iter_mut().zip(gr).zip(w).zip(db.iter_mut())
                            {
                                *q = gv * wv;
                                *dbv += gv;
                            }
                            for ((dwv, &gv), &h) in dw.iter_mut().zip(gr).zip(&xhat) {
                                *dwv += gv * h;
                            }
                            let m1 = sum(&gw) / nf;
                            let m2 = dot(&gw, &xhat) / nf;
                            for ((d, &q), &h) in dxr.iter_mut().zip(&gw).zip(&xhat) {
                                *d = rstd * (q - m1 - h * m2);
                            }
                        },
                    );
                }
            });
        Ok((CpuStorage::F32(out), Shape::from((rows + 2 * blocks, n))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::testing::{max_diff, randn};
    use candle_core::Var;

    fn reference(
        x: &Tensor,
        r: Option<&Tensor>,
        w: &Tensor,
        b: &Tensor,
        eps: f64,
    ) -> Result<Tensor> {
        let s = match r {
            Some(r) => (x + r)?,
            None => x.clone(),
        };
        let mean = s.mean_keepdim(D::Minus1)?;
        let c = s.broadcast_sub(&mean)?;
        let var = c.sqr()?.mean_keepdim(D::Minus1)?;
        c.broadcast_div(&(var + eps)?.sqrt()?)?
            .broadcast_mul(w)?
            .broadcast_add(b)
    }

    #[test]
    fn forward_matches_the_unfused_ops() -> Result<()> {
        for (seed, shape) in [vec![1, 1], vec![3, 7], vec![2, 5, 33], vec![4, 128, 768]]
            .into_iter()
            .enumerate()
        {
            let n = *shape.last().unwrap();
            let s = seed as u64 * 10;
            let x = (randn(s, &shape, 2.0)? + 0.5)?;
            let r = randn(s + 1, &shape, 1.0)?;
            let w = randn(s + 2, &[n], 1.0)?;
            let b = randn(s + 3, &[n], 1.0)?;
            for eps in [1e-12, 1e-5] {
                let got = layer_norm(&x, Some(&r), &w, &b, eps)?;
                let want = reference(&x, Some(&r), &w, &b, eps)?;
                // A row of one element normalises to 0 exactly, or to noise divided by
                // sqrt(eps): only compare where the variance is meaningful.
                if n > 1 {
                    assert!(max_diff(&got, &want)? < 1e-5, "{shape:?} eps {eps}");
                }
                let got = layer_norm(&x, None, &w, &b, eps)?;
                let want = reference(&x, None, &w, &b, eps)?;
                if n > 1 {
                    assert!(
                        max_diff(&got, &want)? < 1e-5,
                        "{shape:?} eps {eps} no residual"
                    );
                }
            }
        }
        Ok(())
    }

    #[test]
    fn backward_matches_autograd() -> Result<()> {
        let shape = [3, 70, 37];
        let n = 37;
        let x = Var::from_tensor(&randn(1, &shape, 2.0)?)?;
        let r = Var::from_tensor(&randn(2, &shape, 1.0)?)?;
        let w = Var::from_tensor(&(randn(3, &[n], 0.5)? + 1.0)?)?;
        let b = Var::from_tensor(&randn(4, &[n], 0.5)?)?;
        let proj = randn(5, &shape, 1.0)?;
        for residual in [true, false] {
            let rr = residual.then(|| r.as_tensor());
            let fused = (layer_norm(&x, rr, &w, &b, 1e-12)? * &proj)?.sum_all()?;
            let unfused = (reference(&x, rr, &w, &b, 1e-12)? * &proj)?.sum_all()?;
            let (g1, g2) = (fused.backward()?, unfused.backward()?);
            let mut vars = vec![&x, &w, &b];
            if residual {
                vars.push(&r);
            }
            for v in vars {
                let (a, e) = (g1.get(v).unwrap(), g2.get(v).unwrap());
                assert!(max_diff(a, e)? < 1e-4, "residual {residual}");
                assert!(a.abs()?.sum_all()?.to_scalar::<f32>()? > 0.0);
            }
        }
        Ok(())
    }
}
