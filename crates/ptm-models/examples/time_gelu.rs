//! Times the fused bias + GELU kernel (erf form) on the feed-forward shapes of MiniLM-L6
//! (2048×1536) and BERT-base (128×3072, 2048×3072), in place and out of place.
//!
//! `RAYON_NUM_THREADS=2 cargo run --release -p ptm-models --example time_gelu` prints the
//! median of 31 runs per shape and the time per element.

use std::time::Instant;

use candle_core::{Device, Result, Tensor};
use ptm_models::kernels::bias_gelu::{bias_gelu, bias_gelu_in_place, Gelu};

fn median(mut ts: Vec<f64>) -> f64 {
    ts.sort_by(f64::total_cmp);
    ts[ts.len() / 2]
}

fn main() -> Result<()> {
    let dev = Device::Cpu;
    for (m, n) in [(2048usize, 1536usize), (128, 3072), (2048, 3072)] {
        let y = Tensor::randn(0f32, 1.0, (m, n), &dev)?;
        let b = Tensor::randn(0f32, 1.0, n, &dev)?;
        let (mut in_place, mut out_of_place) = (vec![], vec![]);
        for _ in 0..31 {
            let x = y.copy()?;
            let start = Instant::now();
            bias_gelu_in_place(x, &b, Gelu::Erf)?;
            in_place.push(start.elapsed().as_secs_f64());
            let start = Instant::now();
            bias_gelu(&y, &b, Gelu::Erf)?;
            out_of_place.push(start.elapsed().as_secs_f64());
        }
        let (a, o) = (median(in_place), median(out_of_place));
        println!(
            "{m}x{n}: in place {:.3} ms ({:.2} ns an element), out of place {:.3} ms",
            a * 1e3,
            a * 1e9 / (m * n) as f64,
            o * 1e3
        );
    }
    Ok(())
}
