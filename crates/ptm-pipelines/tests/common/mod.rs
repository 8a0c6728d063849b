//! Shared by the pipeline parity tests: fixture paths and a tolerant JSON comparison.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use ptm_pipelines::hub::HubOptions;
use ptm_pipelines::{ModelOptions, PipelineInput};
use serde_json::Value;

/// Scores and vectors must match transformers to this absolute tolerance.
pub const TOLERANCE: f64 = 1e-4;

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

pub fn model_dir(name: &str) -> String {
    fixtures().join("models").join(name).display().to_string()
}

/// The cases of `tests/fixtures/pipelines/<task>.json`.
pub fn cases(task: &str) -> Vec<Value> {
    let path = fixtures().join(format!("pipelines/{task}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let v: Value = serde_json::from_str(&text).unwrap();
    v["cases"].as_array().cloned().unwrap_or_default()
}

/// Compares JSON values: numbers to `TOLERANCE`, everything else exactly.
/// Returns the path of the first difference.
pub fn diff(ours: &Value, theirs: &Value, path: &str) -> Option<String> {
    match (ours, theirs) {
        (Value::Number(a), Value::Number(b)) => {
            let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
            ((a - b).abs() > TOLERANCE).then(|| format!("{path}: {a} vs {b}"))
        }
        (Value::Array(a), Value::Array(b)) => {
            if a.len() != b.len() {
                return Some(format!("{path}: {} items vs {}", a.len(), b.len()));
            }
            a.iter()
                .zip(b)
                .enumerate()
                .find_map(|(i, (x, y))| diff(x, y, &format!("{path}[{i}]")))
        }
        (Value::Object(a), Value::Object(b)) => {
            let mut ka: Vec<_> = a.keys().collect();
            let mut kb: Vec<_> = b.keys().collect();
            ka.sort();
            kb.sort();
            if ka != kb {
                return Some(format!("{path}: keys {ka:?} vs {kb:?}"));
            }
            a.iter()
                .find_map(|(k, x)| diff(x, &b[k], &format!("{path}.{k}")))
        }
        (a, b) => (a != b).then(|| format!("{path}: {a} vs {b}")),
    }
}

pub fn assert_matches(ours: &Value, theirs: &Value, what: &str) {
    if let Some(d) = diff(ours, theirs, "") {
        panic!("{what}: differs from transformers at {d}\nours:   {ours}\ntheirs: {theirs}");
    }
}

/// Model options that never touch the network.
pub fn offline() -> ModelOptions {
    ModelOptions {
        hub: HubOptions {
            offline: true,
            ..Default::default()
        },
        ..Default::default()
    }
}

/// A fixture case's inputs: strings are texts, objects structured inputs.
pub fn inputs(case: &Value) -> Vec<PipelineInput> {
    case["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| match v {
            Value::String(s) => PipelineInput::Text(s.clone()),
            other => PipelineInput::from_json(other).unwrap(),
        })
        .collect()
}
