//! GEMM speed of `x Wᵀ` on BERT's shapes, with `Wᵀ` read as a strided view of PyTorch's
//! `(out, in)` weight against a contiguous `(in, out)` copy: why `nn::Linear` keeps the copy.
//!
//! `RAYON_NUM_THREADS=2 cargo run --release -p ptm-models --example gemm_shapes`
//! prints the median of 7 runs per shape (m rows × n outputs × k inputs) and GFLOP/s.

use std::time::Instant;

fn main() {
    let threads = rayon::current_num_threads();
    for &(m, n, k) in &[
        (128usize, 768usize, 768usize),
        (128, 3072, 768),
        (128, 768, 3072),
        (2048, 768, 768),
        (2048, 3072, 768),
        (2048, 768, 3072),
        (2048, 2048, 2048),
    ] {
        let a: Vec<f32> = (0..m * k).map(|i| ((i * 7) % 13) as f32 * 0.01).collect();
        let w: Vec<f32> = (0..n * k).map(|i| ((i * 5) % 11) as f32 * 0.01).collect(); // (n, k) row-major
        let mut wt = vec![0f32; n * k]; // (k, n) row-major
        for i in 0..n {
            for j in 0..k {
                wt[j * n + i] = w[i * k + j];
            }
        }
        let mut dst = vec![0f32; m * n];
        for (name, rhs, rs, cs) in [
            ("W^T view", &w, 1isize, k as isize),
            ("W^T contiguous", &wt, n as isize, 1isize),
        ] {
            let run = |dst: &mut Vec<f32>, par: gemm::Parallelism| unsafe {
                gemm::gemm(
                    m,
                    n,
                    k,
                    dst.as_mut_ptr(),
                    1,
                    n as isize,
                    false,
                    a.as_ptr(),
                    1,
                    k as isize,
                    rhs.as_ptr(),
                    cs,
                    rs,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    par,
                )
            };
            for par in [gemm::Parallelism::Rayon(threads)] {
                for _ in 0..2 {
                    run(&mut dst, par);
                }
                let mut ts = vec![];
                for _ in 0..7 {
                    let t = Instant::now();
                    run(&mut dst, par);
                    ts.push(t.elapsed().as_secs_f64());
                }
                ts.sort_by(|a, b| a.partial_cmp(b).unwrap());
                let med = ts[3];
                println!(
                    "{m}x{n}x{k} {name}: {:.3} ms, {:.0} GFLOP/s",
                    med * 1e3,
                    2.0 * (m * n * k) as f64 / med / 1e9
                );
            }
        }
    }
}
