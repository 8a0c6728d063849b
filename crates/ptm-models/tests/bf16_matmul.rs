//! `set_float32_matmul_precision("medium")`: linear layers on the bf16 GEMM stay near
//! transformers' f32 outputs. Its own test binary, because the precision is process-wide and
//! the f32 parity tests must not see it.

use candle_core::DType;
use ptm_models::kernels::{self, bf16_gemm};
use ptm_models::{AutoModel, EncoderModel, LoadOptions};

mod common;

use common::*;

#[test]
fn bf16_linear_layers_stay_near_the_f32_reference() {
    assert!(
        !kernels::set_float32_matmul_precision("lowest"),
        "an unknown name is refused"
    );
    if !bf16_gemm::available() {
        assert!(!kernels::set_float32_matmul_precision("medium"));
        eprintln!("skipped: this CPU has no AVX512-BF16");
        return;
    }
    assert!(kernels::set_float32_matmul_precision("medium"));
    for name in HALF_PRECISION_FIXTURES {
        let dir = fixtures().join("models").join(name);
        let reference = reference(name);
        let (model, _) = AutoModel::from_dir(&dir, task_of(&dir), &LoadOptions::default()).unwrap();
        let input = reference_input(&reference);
        let mask = input.attention_mask.to_dtype(DType::F32).unwrap();
        let out = model.forward(&input).unwrap();
        let mut outputs = vec![("last_hidden_state", out.last_hidden_state)];
        outputs.extend(out.logits.map(|l| ("logits", l)));
        for (what, ours) in outputs {
            assert_eq!(ours.dtype(), DType::F32);
            // Over attended positions, as a fraction of the reference's largest magnitude.
            let theirs = masked(&reference[what], &mask);
            let d = max_abs_diff(&masked(&ours, &mask), &theirs) / max_abs(&theirs);
            eprintln!("{name} {what}: max |diff| / max |ref| {d:.2e}");
            assert!(
                d < 3e-2,
                "{name}: {what} differs by {d} of its largest value"
            );
        }
    }
    assert!(kernels::set_float32_matmul_precision("highest"));
}
