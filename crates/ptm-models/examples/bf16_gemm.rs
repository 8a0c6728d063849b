//! The bf16 GEMM (`kernels::bf16_gemm`, AVX512-BF16) against the f32 GEMM candle uses, on the
//! linear-layer shapes of BERT-base (128 and 2048 rows) and MiniLM-L6.
//!
//! `RAYON_NUM_THREADS=2 cargo run --release -p ptm-models --example bf16_gemm` prints the
//! median of 9 runs per shape, GFLOP/s, and the largest difference from the f32 result
//! relative to the result's largest magnitude.

use std::time::Instant;

use ptm_models::kernels::bf16_gemm::{available, matmul, PackedWeight};

fn median(mut f: impl FnMut()) -> f64 {
    f();
    let mut ts: Vec<f64> = (0..9)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64()
        })
        .collect();
    ts.sort_by(f64::total_cmp);
    ts[4]
}

fn main() {
    if !available() {
        eprintln!("this CPU has no AVX512-BF16");
        return;
    }
    let threads = rayon::current_num_threads();
    let shapes = [
        (128, 768, 768),
        (128, 3072, 768),
        (128, 768, 3072),
        (2048, 768, 768),
        (2048, 3072, 768),
        (2048, 768, 3072),
        (2048, 384, 384),
        (2048, 1536, 384),
        (2048, 384, 1536),
    ];
    for (m, n, k) in shapes {
        let x: Vec<f32> = (0..m * k)
            .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0)
            .collect();
        let w: Vec<f32> = (0..n * k)
            .map(|i| ((i * 104_729) % 997) as f32 / 5000.0 - 0.1)
            .collect();
        let mut wt = vec![0f32; n * k]; // (k, n) row-major, as nn::Linear keeps it
        for i in 0..n {
            for j in 0..k {
                wt[j * n + i] = w[i * k + j];
            }
        }
        let mut f32_out = vec![0f32; m * n];
        let t32 = median(|| unsafe {
            gemm::gemm(
                m,
                n,
                k,
                f32_out.as_mut_ptr(),
                1,
                n as isize,
                false,
                x.as_ptr(),
                1,
                k as isize,
                wt.as_ptr(),
                1,
                n as isize,
                0.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::Rayon(threads),
            )
        });
        let packed = PackedWeight::pack(&w, n, k);
        let mut bf_out = vec![0f32; m * n];
        let t16 = median(|| matmul(&x, m, &packed, &mut bf_out));
        let scale = f32_out.iter().fold(0f32, |a, v| a.max(v.abs()));
        let diff = f32_out
            .iter()
            .zip(&bf_out)
            .fold(0f32, |a, (p, q)| a.max((p - q).abs()));
        let gf = |t: f64| 2.0 * (m * n * k) as f64 / t / 1e9;
        println!(
            "{m}x{n}x{k}: f32 {:.3} ms ({:.0} GFLOP/s), bf16 {:.3} ms ({:.0} GFLOP/s), {:.2}x, max diff / max |y| {:.1e}",
            t32 * 1e3,
            gf(t32),
            t16 * 1e3,
            gf(t16),
            t32 / t16,
            diff / scale
        );
    }
}
