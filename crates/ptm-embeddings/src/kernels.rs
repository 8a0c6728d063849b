//! The inner loops: dot products and `y += a * x` over short f32 rows, the sigmoid table, the
//! LCG random generator of word2vec.c, and the shared weight buffer that worker threads update
//! without locks.

use std::cell::UnsafeCell;

/// A matrix of f32 rows that several training threads read and write at the same time.
///
/// This is "Hogwild!" (Recht et al., 2011), the scheme of word2vec.c, fastText, GloVe and gensim:
/// threads update rows without any synchronisation. Two threads occasionally touch the same row
/// at once; one update may then be partly lost or a dot product may read a half-updated row. The
/// updates are tiny and sparse, so SGD converges anyway, and this is what makes training scale
/// with cores. A lock or atomic per row would cost more than the arithmetic it protects.
pub(crate) struct SharedMatrix {
    data: UnsafeCell<Vec<f32>>,
    pub dim: usize,
    pub rows: usize,
}

// SAFETY: `SharedMatrix` hands out row slices to several threads at once, and those slices may
// alias while one of them is written (see the type's documentation). That race is the Hogwild!
// algorithm itself, deliberately accepted as word2vec.c accepts it: f32 loads and stores are
// single machine instructions on every target we build for, no thread ever resizes or frees the
// buffer while the workers run (it is only reachable through `&self`, and `into_inner` takes
// `self`), and no invariant of the program depends on the values read. The row slices are used
// only for the duration of one kernel call and are never kept.
unsafe impl Sync for SharedMatrix {}

impl SharedMatrix {
    pub fn new(data: Vec<f32>, dim: usize) -> Self {
        let rows = data.len().checked_div(dim).unwrap_or(0);
        SharedMatrix {
            data: UnsafeCell::new(data),
            dim,
            rows,
        }
    }

    pub fn into_inner(self) -> Vec<f32> {
        self.data.into_inner()
    }

    /// Row `i`, readable and writable from any thread.
    ///
    /// # Safety
    /// `i < self.rows`; other threads may write the same row concurrently (Hogwild!, see above);
    /// the caller must not hold two slices of the same row in one thread.
    #[inline(always)]
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn row(&self, i: usize) -> &mut [f32] {
        debug_assert!(i < self.rows);
        let base = (*self.data.get()).as_mut_ptr();
        std::slice::from_raw_parts_mut(base.add(i * self.dim), self.dim)
    }
}

/// Number of independent accumulators in `dot`: two 256-bit registers of f32 lanes, which lets
/// LLVM vectorise the sum without reassociating floating-point additions itself.
const LANES: usize = 16;

#[inline(always)]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; LANES];
    let mut ca = a.chunks_exact(LANES);
    let mut cb = b.chunks_exact(LANES);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for l in 0..LANES {
            acc[l] += x[l] * y[l];
        }
    }
    let mut tail = 0f32;
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        tail += x * y;
    }
    // Pairwise reduction: 16 -> 8 -> 4 -> 2 -> 1 lanes, which LLVM turns into a few shuffles.
    let mut width = LANES / 2;
    while width > 0 {
        for l in 0..width {
            acc[l] += acc[l + width];
        }
        width /= 2;
    }
    acc[0] + tail
}

/// Asks the CPU to start loading a row into cache. Negative sampling reads rows at random, and
/// issuing all the loads of one training step before using any of them lets them overlap.
#[inline(always)]
pub(crate) fn prefetch_row(row: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let mut off = 0;
        while off < row.len() {
            // SAFETY: prefetching is a hint with no memory effect; the address is inside `row`.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(row.as_ptr().add(off) as *const i8) };
            off += 16; // one 64-byte cache line of f32
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = row;
}

/// `y += a * x`.
#[inline(always)]
pub(crate) fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
    let n = x.len().min(y.len());
    for (yi, xi) in y[..n].iter_mut().zip(&x[..n]) {
        *yi += a * xi;
    }
}

/// `y *= a`.
#[inline(always)]
pub(crate) fn scale(a: f32, y: &mut [f32]) {
    for v in y {
        *v *= a;
    }
}

/// word2vec.c's sigmoid table: 1000 points over [-6, 6]; outside it the sigmoid is 0 or 1.
pub(crate) const MAX_EXP: f32 = 6.0;
const EXP_TABLE_SIZE: usize = 1000;

pub(crate) struct SigmoidTable {
    table: Vec<f32>,
}

impl SigmoidTable {
    pub fn new() -> Self {
        let table = (0..EXP_TABLE_SIZE)
            .map(|i| {
                let x = (i as f32 / EXP_TABLE_SIZE as f32 * 2.0 - 1.0) * MAX_EXP;
                let e = x.exp();
                e / (e + 1.0)
            })
            .collect();
        SigmoidTable { table }
    }

    /// Sigmoid of `f` for `-MAX_EXP < f < MAX_EXP`.
    #[inline(always)]
    pub fn get(&self, f: f32) -> f32 {
        let i = ((f + MAX_EXP) * (EXP_TABLE_SIZE as f32 / MAX_EXP / 2.0)) as usize;
        self.table[i.min(EXP_TABLE_SIZE - 1)]
    }
}

/// word2vec.c's 48-bit linear congruential generator (also gensim's `random_int32`).
#[derive(Clone, Copy)]
pub(crate) struct Lcg(pub u64);

impl Lcg {
    #[inline(always)]
    pub fn next_u32(&mut self) -> u32 {
        let r = ((self.0 >> 16) & 0xFFFF_FFFF) as u32;
        self.0 = self.0.wrapping_mul(25_214_903_917).wrapping_add(11) & 0xFFFF_FFFF_FFFF;
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_and_axpy_on_odd_lengths() {
        for n in [0, 1, 15, 16, 17, 100, 300] {
            let a: Vec<f32> = (0..n).map(|i| i as f32 * 0.5).collect();
            let b: Vec<f32> = (0..n).map(|i| 1.0 - i as f32 * 0.01).collect();
            let want: f64 = a.iter().zip(&b).map(|(x, y)| *x as f64 * *y as f64).sum();
            assert!(
                (dot(&a, &b) as f64 - want).abs() < 1e-3 * (1.0 + want.abs()),
                "n={n}"
            );
            let mut y = b.clone();
            axpy(2.0, &a, &mut y);
            for i in 0..n {
                assert_eq!(y[i], b[i] + 2.0 * a[i]);
            }
        }
    }

    #[test]
    fn sigmoid_table_is_close_to_exact() {
        let t = SigmoidTable::new();
        for i in -59..60 {
            let x = i as f32 / 10.0;
            let exact = 1.0 / (1.0 + (-x).exp());
            assert!((t.get(x) - exact).abs() < 0.01, "x={x}");
        }
    }
}
