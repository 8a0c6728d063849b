//! A cache-blocked, parallel transpose of a 2-d f32 matrix into a new contiguous one.
//!
//! [`crate::nn::Linear`] stores `Wᵀ` contiguous for inference; candle's strided copy did
//! that element by element and made loading BERT-base's weights visibly slower.

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::contiguous_f32;

/// Tiles of `BLOCK × BLOCK` elements: one tile of the source and one of the destination
/// stay in L1 together.
const BLOCK: usize = 32;

/// `x.t()` as a new contiguous tensor; `x` is 2-d. f32 on the CPU runs the blocked
/// kernel, anything else candle's copy.
pub fn transpose(x: &Tensor) -> Result<Tensor> {
    if super::fast_path(x) && x.rank() == 2 && x.is_contiguous() {
        x.apply_op1_no_bwd(&Transpose)
    } else {
        x.t()?.contiguous()
    }
}

struct Transpose;

impl CustomOp1 for Transpose {
    fn name(&self) -> &'static str {
        "ptm-transpose"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let src = contiguous_f32(s, l, "transpose")?;
        let (rows, cols) = l.shape().dims2()?;
        let mut out = vec![0f32; rows * cols];
        // Each task owns BLOCK rows of the output (BLOCK columns of the source).
        out.par_chunks_mut(BLOCK * rows.max(1))
            .enumerate()
            .for_each(|(bj, dst)| {
                let j0 = bj * BLOCK;
                let jn = dst.len() / rows.max(1);
                for i0 in (0..rows).step_by(BLOCK) {
                    let in_ = BLOCK.min(rows - i0);
                    for j in 0..jn {
                        let d = &mut dst[j * rows + i0..j * rows + i0 + in_];
                        for (i, v) in d.iter_mut().enumerate() {
                            *v = src[(i0 + i) * cols + j0 + j];
                        }
                    }
                }
            });
        Ok((CpuStorage::F32(out), Shape::from((cols, rows))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::testing::{max_diff, randn};

    #[test]
    fn equals_candles_transpose() -> Result<()> {
        for (r, c) in [(1, 1), (3, 70), (64, 32), (33, 65), (768, 100)] {
            let x = randn(r as u64 * 31 + c as u64, &[r, c], 1.0)?;
            let got = transpose(&x)?;
            assert_eq!(got.dims(), &[c, r]);
            assert!(got.is_contiguous());
            assert_eq!(max_diff(&got, &x.t()?.contiguous()?)?, 0.0, "{r}x{c}");
        }
        Ok(())
    }
}
