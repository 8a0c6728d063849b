//! Helpers shared by the parity test binaries: the committed fixtures and their references.
#![allow(dead_code)] // each test binary uses a different part

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use ptm_models::{EncoderInput, ModelConfig, Task};

/// The fixtures the half-precision checks run on: one per architecture, and one head.
pub const HALF_PRECISION_FIXTURES: [&str; 6] = [
    "bert-base",
    "roberta-base",
    "distilbert-base",
    "albert-base",
    "electra-base",
    "bert-seqcls",
];

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

/// Largest |x|.
pub fn max_abs(x: &Tensor) -> f32 {
    x.abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims(), "shapes differ");
    max_abs(&(a - b).unwrap())
}

pub fn ids(t: &Tensor) -> Tensor {
    t.to_dtype(DType::U32).unwrap()
}

pub fn task_of(dir: &Path) -> Task {
    let config = ModelConfig::from_file(&dir.join("config.json")).unwrap();
    let class = config
        .common
        .architectures
        .first()
        .cloned()
        .unwrap_or_default();
    Task::from_architecture(&class).unwrap_or_else(|| panic!("unknown class {class}"))
}

/// Zeroes padded positions of a `(b, t, …)` tensor (transformers' values there are
/// implementation-defined); `(b, …)` tensors without a token axis pass unchanged.
pub fn masked(x: &Tensor, mask: &Tensor) -> Tensor {
    let (b, t) = mask.dims2().unwrap();
    if x.rank() < 2 || x.dim(0).unwrap() != b || x.dim(1).unwrap() != t {
        return x.clone();
    }
    let mut shape = vec![b, t];
    shape.extend(std::iter::repeat_n(1, x.rank() - 2));
    x.broadcast_mul(&mask.reshape(shape).unwrap()).unwrap()
}

/// `tests/fixtures/reference/<name>.safetensors`: the inputs transformers saw and its outputs.
pub fn reference(name: &str) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(
        fixtures().join(format!("reference/{name}.safetensors")),
        &Device::Cpu,
    )
    .unwrap()
}

/// The fixture's first (unprefixed) input batch.
pub fn reference_input(reference: &HashMap<String, Tensor>) -> EncoderInput {
    EncoderInput {
        input_ids: ids(&reference["input_ids"]),
        attention_mask: ids(&reference["attention_mask"]),
        token_type_ids: reference.get("token_type_ids").map(ids),
    }
}
