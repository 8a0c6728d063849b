//! `set_float32_matmul_precision("medium")`: linear layers on the bf16 GEMM stay near
//! transformers' f32 outputs. Its own test binary, because the precision is process-wide and
//! the f32 parity tests must not see it.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use ptm_models::kernels::{self, bf16_gemm};
use ptm_models::{AutoModel, EncoderInput, EncoderModel, LoadOptions, ModelConfig, Task};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

fn ids(t: &Tensor) -> Tensor {
    t.to_dtype(DType::U32).unwrap()
}

/// Largest |a - b| over attended positions of a `(b, t, …)` tensor (or all of a `(b, …)`
/// one), as a fraction of the reference's largest magnitude.
fn relative_diff(ours: &Tensor, reference: &Tensor, mask: &Tensor) -> f32 {
    let (b, t) = mask.dims2().unwrap();
    let (ours, reference) =
        if ours.rank() >= 2 && ours.dim(0).unwrap() == b && ours.dim(1).unwrap() == t {
            let mut shape = vec![b, t];
            shape.extend(std::iter::repeat_n(1, ours.rank() - 2));
            let m = mask.reshape(shape).unwrap();
            (
                ours.broadcast_mul(&m).unwrap(),
                reference.broadcast_mul(&m).unwrap(),
            )
        } else {
            (ours.clone(), reference.clone())
        };
    let max = |x: Tensor| {
        x.abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    };
    max((&ours - &reference).unwrap()) / max(reference)
}

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
    for name in [
        "bert-base",
        "roberta-base",
        "distilbert-base",
        "albert-base",
        "electra-base",
        "bert-seqcls",
    ] {
        let dir = fixtures().join("models").join(name);
        let reference = candle_core::safetensors::load(
            fixtures().join(format!("reference/{name}.safetensors")),
            &Device::Cpu,
        )
        .unwrap();
        let config = ModelConfig::from_file(&dir.join("config.json")).unwrap();
        let class = config
            .common
            .architectures
            .first()
            .cloned()
            .unwrap_or_default();
        let task = Task::from_architecture(&class).unwrap();
        let (model, _) = AutoModel::from_dir(&dir, task, &LoadOptions::default()).unwrap();
        let input = EncoderInput {
            input_ids: ids(&reference["input_ids"]),
            attention_mask: ids(&reference["attention_mask"]),
            token_type_ids: reference.get("token_type_ids").map(ids),
        };
        let mask = input.attention_mask.to_dtype(DType::F32).unwrap();
        let out = model.forward(&input).unwrap();
        let mut outputs = vec![("last_hidden_state", out.last_hidden_state)];
        outputs.extend(out.logits.map(|l| ("logits", l)));
        for (what, ours) in outputs {
            assert_eq!(ours.dtype(), DType::F32);
            let d = relative_diff(&ours, &reference[what], &mask);
            eprintln!("{name} {what}: max |diff| / max |ref| {d:.2e}");
            assert!(
                d < 3e-2,
                "{name}: {what} differs by {d} of its largest value"
            );
        }
    }
    assert!(kernels::set_float32_matmul_precision("highest"));
}
