//! Times a BERT-base-shaped forward pass (random weights) at 1×128 and 16×128.
//!
//! `cargo run --release -p ptm-models --example time_forward [-- runs [batch]]`. Prints the median
//! of `runs` (default 5) timed forwards after one warm-up, per shape. A stop-gap until the
//! benchmark script lands; compare builds back to back and note `/proc/loadavg`.
//! `PTM_FUSED=0` switches ptm's fused kernels off.

use std::time::Instant;

use candle_core::{DType, Device, Result, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{Init, VarBuilder};
use ptm_models::bert::{BertConfig, BertModel};
use ptm_models::EncoderInput;

/// Hands out a fresh random tensor (plain, not a `Var`, so no gradient is tracked) for
/// every weight the model asks for, honouring constant initialisers such as LayerNorm's.
struct RandomWeights;

impl SimpleBackend for RandomWeights {
    fn get(&self, s: Shape, _: &str, h: Init, dtype: DType, dev: &Device) -> Result<Tensor> {
        match h {
            Init::Const(c) => Tensor::ones(s, dtype, dev)? * c,
            _ => Tensor::randn(0f32, 0.02, s, dev)?.to_dtype(dtype),
        }
    }

    fn get_unchecked(&self, name: &str, _: DType, _: &Device) -> Result<Tensor> {
        candle_core::bail!("no tensor {name} without a shape")
    }

    fn contains_tensor(&self, _: &str) -> bool {
        false
    }
}

fn main() -> Result<()> {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    // PTM_FUSED=0 runs candle's ops only (the reference path), for before/after figures.
    let fused = std::env::var("PTM_FUSED").map_or(true, |v| v != "0");
    ptm_models::kernels::set_fused_kernels(fused);
    println!("fused kernels: {fused}");
    let dev = Device::Cpu;
    let vb = VarBuilder::from_backend(Box::new(RandomWeights), DType::F32, dev.clone());
    let cfg = BertConfig::default();
    let model = BertModel::load(&cfg, Some(false), vb)?;
    // An optional second argument picks one batch size (1 or 16).
    let only: Option<usize> = std::env::args().nth(2).and_then(|s| s.parse().ok());
    for (b, t) in [(1usize, 128usize), (16, 128)] {
        if only.is_some_and(|o| o != b) {
            continue;
        }
        // Ids spread over the vocabulary; the last quarter of every other row is padding.
        let rows: Vec<Vec<u32>> = (0..b)
            .map(|i| {
                let n = if i % 2 == 1 { t * 3 / 4 } else { t };
                (0..n)
                    .map(|j| ((i * 7919 + j * 104_729) % 30_000) as u32 + 100)
                    .collect()
            })
            .collect();
        let mut input = EncoderInput::from_rows(&rows, None, 0, &dev)?;
        if b == 1 {
            input = EncoderInput::from_rows(&rows[..1], None, 0, &dev)?;
        }
        model.forward_t(&input, false)?; // warm-up
        let mut times = Vec::with_capacity(runs);
        for _ in 0..runs {
            let start = Instant::now();
            let (h, _) = model.forward_t(&input, false)?;
            h.sum_all()?.to_scalar::<f32>()?;
            times.push(start.elapsed().as_secs_f64());
        }
        times.sort_by(f64::total_cmp);
        let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        println!(
            "bert-base {b}x{t}: median {:.3} s (min {:.3}, max {:.3}, {runs} runs) load {}",
            times[runs / 2],
            times[0],
            times[runs - 1],
            load.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    Ok(())
}
