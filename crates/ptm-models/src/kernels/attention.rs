//! Scaled dot-product attention for one `(batch, head)` at a time: scores `q·kᵀ·scale`,
//! the additive mask and the softmax, then the weighted sum of `v`, with only one
//! `(t, t)` score block per task alive.
//!
//! `q`, `k` and `v` may be strided views (the `(b, heads, t, d)` transposes of the
//! projections' `(b, t, heads, d)` output): the products read them in place through the
//! `gemm` crate, so no head is copied out. The result is written as `(b, t, heads, d)`,
//! which is what `merge_heads` wants, and returned as a `(b, heads, t, d)` view of it.

use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::softmax::{masked_softmax, softmax_backward};
use super::{exp, max, simd, sum, SharedMut};

/// `softmax(q kᵀ · scale + mask) v` for `(b, heads, t, d)` f32 tensors (strided views
/// allowed) and an additive `(b, 1, 1, t_k)` mask. Returns `(b, heads, t_q, d)`.
pub fn attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: Option<&Tensor>,
    scale: f32,
) -> Result<Tensor> {
    let (b, _, _, _) = q.dims4()?;
    let (_, _, tk, _) = k.dims4()?;
    let mask = match mask {
        Some(m) => {
            if m.elem_count() != b * tk {
                candle_core::bail!(
                    "attention: mask {:?} is not (b, 1, 1, t) for {b}×{tk}",
                    m.dims()
                );
            }
            Some(m.clone())
        }
        None => None,
    };
    let out = q.apply_op3(k, v, Attention { mask, scale })?; // (b, t, heads, d)
    out.transpose(1, 2)
}

struct Attention {
    /// Additive, `b · t_k` values; a constant (no gradient).
    mask: Option<Tensor>,
    scale: f32,
}

fn f32_data(s: &CpuStorage) -> Result<&[f32]> {
    match s {
        CpuStorage::F32(v) => Ok(v),
        _ => candle_core::bail!("attention: expected f32 tensors"),
    }
}

/// A 4-d strided view: base offset and the strides of (b, h, t, d).
struct View<'a> {
    data: &'a [f32],
    offset: usize,
    stride: [usize; 4],
}

impl<'a> View<'a> {
    fn new(s: &'a CpuStorage, l: &Layout) -> Result<Self> {
        let st = l.stride();
        Ok(Self {
            data: f32_data(s)?,
            offset: l.start_offset(),
            stride: [st[0], st[1], st[2], st[3]],
        })
    }

    fn head(&self, b: usize, h: usize) -> *const f32 {
        self.data[self.offset + b * self.stride[0] + h * self.stride[1]..].as_ptr()
    }
}

impl CustomOp3 for Attention {
    fn name(&self) -> &'static str {
        "ptm-attention"
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
        let [b, h, tq, d] = dims4(l1)?;
        let [kb, kh, tk, kd] = dims4(l2)?;
        let [vb, vh, vt, dv] = dims4(l3)?;
        if (kb, kh, kd) != (b, h, d) || (vb, vh, vt) != (b, h, tk) {
            candle_core::bail!(
                "attention: q {:?}, k {:?}, v {:?} do not fit",
                l1.dims(),
                l2.dims(),
                l3.dims()
            );
        }
        let (q, k, v) = (View::new(s1, l1)?, View::new(s2, l2)?, View::new(s3, l3)?);
        let mask = match &self.mask {
            Some(m) => Some(m.flatten_all()?.to_vec1::<f32>()?),
            None => None,
        };
        let mut out = vec![0f32; b * tq * h * dv];
        let dst = SharedMut(out.as_mut_ptr());
        let scale = self.scale;
        (0..b * h).into_par_iter().for_each_init(
            || vec![0f32; tq * tk],
            |scores, bh| {
                let (bi, hi) = (bh / h, bh % h);
                // SAFETY: every pointer below stays inside its buffer: the views' strides
                // come from their layouts, and the (bi, hi) output block, rows of stride
                // h·dv starting at (bi·tq·h + hi)·dv, is written by this task only.
                unsafe {
                    gemm::gemm(
                        tq,
                        tk,
                        d,
                        scores.as_mut_ptr(),
                        1,
                        tk as isize,
                        false,
                        q.head(bi, hi),
                        q.stride[3] as isize,
                        q.stride[2] as isize,
                        k.head(bi, hi),
                        k.stride[2] as isize,
                        k.stride[3] as isize,
                        0.0,
                        scale,
                        false,
                        false,
                        false,
                        gemm::Parallelism::None,
                    );
                }
                let m = mask.as_ref().map(|m| &m[bi * tk..(bi + 1) * tk]);
                simd(
                    #[inline(always)]
                    || {
                        for row in scores.chunks_exact_mut(tk) {
                            if let Some(m) = m {
                                for (s, &mv) in row.iter_mut().zip(m) {
                                    *s += mv;
                                }
                            }
                            let mx = max(row);
                            for s in row.iter_mut() {
                                *s = exp(*s - mx);
                            }
                            let inv = 1.0 / sum(row);
                            for s in row.iter_mut() {
                                *s *= inv;
                            }
                        }
                    },
                );
                unsafe {
                    gemm::gemm(
                        tq,
                        dv,
                        tk,
                        dst.ptr().add((bi * tq * h + hi) * dv),
                        1,
                        (h * dv) as isize,
                        false,
                        scores.as_ptr(),
                        1,
                        tk as isize,
                        v.head(bi, hi),
                        v.stride[3] as isize,
                        v.stride[2] as isize,
                        0.0,
                        1.0,
                        false,
                        false,
                        false,
                        gemm::Parallelism::None,
                    );
                }
            },
        );
        Ok((CpuStorage::F32(out), Shape::from((b, tq, h, dv))))
    }

    /// Recomputes the probabilities and backpropagates through the two products and the
    /// softmax with candle ops; the mask gets no gradient.
    fn bwd(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        _res: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (q, k, v) = (q.contiguous()?, k.contiguous()?, v.contiguous()?);
        let g = g.transpose(1, 2)?.contiguous()?; // (b, h, tq, dv)
        let scores = q.matmul(&k.t()?)?;
        let p = masked_softmax(&scores, self.mask.as_ref(), self.scale)?;
        let dv = p.t()?.matmul(&g)?;
        let dp = g.matmul(&v.t()?)?;
        let ds = softmax_backward(&p, &dp, self.scale)?;
        let dq = ds.matmul(&k)?;
        let dk = ds.t()?.matmul(&q)?;
        Ok((Some(dq), Some(dk), Some(dv)))
    }
}

fn dims4(l: &Layout) -> Result<[usize; 4]> {
    match *l.dims() {
        [a, b, c, d] => Ok([a, b, c, d]),
        ref other => candle_core::bail!("attention: expected 4 dims, got {other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::testing::{max_diff, padding_mask, randn};
    use candle_core::{Var, D};

    fn reference(q: &Tensor, k: &Tensor, v: &Tensor, mask: &Tensor, scale: f64) -> Result<Tensor> {
        let (q, k, v) = (q.contiguous()?, k.contiguous()?, v.contiguous()?);
        let s = (q.matmul(&k.t()?)? * scale)?.broadcast_add(mask)?;
        candle_nn::ops::softmax(&s, D::Minus1)?.matmul(&v)
    }

    /// `(b, t, h·d)` projections viewed as `(b, h, t, d)`, as `split_heads` leaves them.
    fn heads(x: &Tensor, h: usize) -> Result<Tensor> {
        let (b, t, hd) = x.dims3()?;
        x.reshape((b, t, h, hd / h))?.transpose(1, 2)
    }

    #[test]
    fn forward_matches_the_unfused_ops() -> Result<()> {
        for (seed, &(b, h, t, d)) in [(1, 1, 1, 1), (2, 3, 7, 5), (3, 12, 128, 64), (2, 2, 33, 16)]
            .iter()
            .enumerate()
        {
            let s = seed as u64 * 3;
            let q = heads(&randn(s, &[b, t, h * d], 1.0)?, h)?;
            let k = heads(&randn(s + 1, &[b, t, h * d], 1.0)?, h)?;
            let v = heads(&randn(s + 2, &[b, t, h * d], 1.0)?, h)?;
            let pad: Vec<usize> = (0..b).map(|i| (i * 3) % t).collect();
            let mask = padding_mask(t, &pad)?;
            let scale = 1.0 / (d as f64).sqrt();
            let got = attention(&q, &k, &v, Some(&mask), scale as f32)?;
            let want = reference(&q, &k, &v, &mask, scale)?;
            assert!(max_diff(&got, &want)? < 1e-5, "{b}x{h}x{t}x{d}");
            // Contiguous inputs take the same path.
            let got = attention(
                &q.contiguous()?,
                &k.contiguous()?,
                &v.contiguous()?,
                Some(&mask),
                scale as f32,
            )?;
            assert!(max_diff(&got, &want)? < 1e-5, "{b}x{h}x{t}x{d} contiguous");
        }
        Ok(())
    }

    #[test]
    fn backward_matches_autograd() -> Result<()> {
        let (b, h, t, d) = (2, 3, 11, 8);
        let xq = Var::from_tensor(&randn(1, &[b, t, h * d], 1.0)?)?;
        let xk = Var::from_tensor(&randn(2, &[b, t, h * d], 1.0)?)?;
        let xv = Var::from_tensor(&randn(3, &[b, t, h * d], 1.0)?)?;
        let mask = padding_mask(t, &[0, 4])?;
        let proj = randn(4, &[b, h, t, d], 1.0)?;
        let (q, k, v) = (heads(&xq, h)?, heads(&xk, h)?, heads(&xv, h)?);
        let fused = (attention(&q, &k, &v, Some(&mask), 0.35)? * &proj)?.sum_all()?;
        let unfused = (reference(&q, &k, &v, &mask, 0.35)? * &proj)?.sum_all()?;
        let (g1, g2) = (fused.backward()?, unfused.backward()?);
        for x in [&xq, &xk, &xv] {
            let (a, e) = (g1.get(x).unwrap(), g2.get(x).unwrap());
            assert!(max_diff(a, e)? < 1e-4);
            assert!(a.abs()?.sum_all()?.to_scalar::<f32>()? > 0.0);
        }
        Ok(())
    }
}
