//! Parity with Hugging Face transformers on the committed tiny checkpoints.
//!
//! `scripts/fixtures/make_fixtures.py` wrote each `tests/fixtures/models/<name>` and, in
//! `tests/fixtures/reference/<name>.safetensors`, the inputs it fed transformers and
//! what came out. Every model must reproduce them to 1e-4, and a padded batch must give
//! the same numbers as each input run alone.

use candle_core::{DType, Device, Tensor};
use ptm_models::{AutoModel, EncoderInput, EncoderModel, LoadOptions, Task};

mod common;

use common::*;

const TOLERANCE: f32 = 1e-4;

/// Checks one fixture; returns a line for the report.
fn check(name: &str) -> String {
    let dir = fixtures().join("models").join(name);
    let task = task_of(&dir);
    let (model, report) = AutoModel::from_dir(&dir, task, &LoadOptions::default())
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(
        report.missing.is_empty(),
        "{name}: missing {:?}",
        report.missing
    );
    assert!(
        report.unexpected.is_empty(),
        "{name}: unexpected {:?}",
        report.unexpected
    );
    let reference = candle_core::safetensors::load(
        fixtures().join(format!("reference/{name}.safetensors")),
        &Device::Cpu,
    )
    .unwrap();
    let mut worst = 0f32;
    for prefix in ["", "pair_"] {
        let Some(input_ids) = reference.get(&format!("{prefix}input_ids")) else {
            continue;
        };
        let input = EncoderInput {
            input_ids: ids(input_ids),
            attention_mask: ids(&reference[&format!("{prefix}attention_mask")]),
            token_type_ids: reference.get(&format!("{prefix}token_type_ids")).map(ids),
        };
        let out = model.forward(&input).unwrap();
        let mask = input.attention_mask.to_dtype(DType::F32).unwrap();
        let mut compare = |what: &str, ours: &Tensor| {
            let key = format!("{prefix}{what}");
            let theirs = reference
                .get(&key)
                .unwrap_or_else(|| panic!("{name}: reference lacks {key}"));
            let d = max_abs_diff(&masked(ours, &mask), &masked(theirs, &mask));
            assert!(d <= TOLERANCE, "{name}: {key} differs by {d}");
            worst = worst.max(d);
        };
        compare("last_hidden_state", &out.last_hidden_state);
        if let Some(p) = &out.pooler_output {
            compare("pooler_output", p);
        }
        assert_eq!(
            out.pooler_output.is_some(),
            reference.contains_key(&format!("{prefix}pooler_output")),
            "{name}: pooler presence differs from transformers"
        );
        match (task, &out.logits) {
            (Task::Base, None) => {}
            (Task::QuestionAnswering, Some(l)) => {
                compare(
                    "start_logits",
                    &l.narrow(2, 0, 1).unwrap().squeeze(2).unwrap(),
                );
                compare(
                    "end_logits",
                    &l.narrow(2, 1, 1).unwrap().squeeze(2).unwrap(),
                );
            }
            (_, Some(l)) => compare("logits", l),
            (t, l) => panic!("{name}: task {t:?} gave logits {:?}", l.is_some()),
        }
        if prefix.is_empty() {
            check_batch_equals_single(name, &model, &input, &out.last_hidden_state);
        }
    }
    format!("{name}: max |diff| {worst:.2e}")
}

/// Row i of a padded batch equals input i run alone, over its real tokens.
fn check_batch_equals_single(name: &str, model: &AutoModel, batch: &EncoderInput, hidden: &Tensor) {
    let lens: Vec<u32> = batch
        .attention_mask
        .sum(1)
        .unwrap()
        .to_vec1::<u32>()
        .unwrap();
    for (i, len) in lens.iter().enumerate() {
        let len = *len as usize;
        let row = |t: &Tensor| t.narrow(0, i, 1).unwrap().narrow(1, 0, len).unwrap();
        let single = EncoderInput {
            input_ids: row(&batch.input_ids),
            attention_mask: row(&batch.attention_mask),
            token_type_ids: batch.token_type_ids.as_ref().map(row),
        };
        let alone = model.forward(&single).unwrap().last_hidden_state;
        let in_batch = hidden.narrow(0, i, 1).unwrap().narrow(1, 0, len).unwrap();
        let d = max_abs_diff(&alone, &in_batch);
        assert!(
            d <= TOLERANCE,
            "{name}: row {i} alone differs from the batch by {d}"
        );
    }
}

fn fixture_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fixtures().join("reference"))
        .expect("tests/fixtures/reference exists (run scripts/fixtures/make_fixtures.py)")
        .filter_map(|e| {
            let p = e.ok()?.path();
            let stem = p.file_stem()?.to_string_lossy().into_owned();
            (p.extension()? == "safetensors").then_some(stem)
        })
        .collect();
    names.sort();
    names
}

#[test]
fn every_fixture_matches_transformers() {
    let names = fixture_names();
    for arch in [
        "bert",
        "roberta",
        "xlm-roberta",
        "camembert",
        "distilbert",
        "albert",
        "electra",
    ] {
        for head in ["base", "mlm", "seqcls", "tokcls", "qa"] {
            let n = format!("{arch}-{head}");
            assert!(names.contains(&n), "fixture {n} is missing");
        }
    }
    let report: Vec<String> = names.iter().map(|n| check(n)).collect();
    eprintln!("{}", report.join("\n"));
}

/// `--dtype f16|bf16`: every architecture computes in half precision (candle's ops, not
/// the f32 kernels) and stays near transformers' f32 hidden states. The bounds are what
/// 8 (bf16) and 11 (f16) mantissa bits allow through two layers, not 1e-4.
#[test]
fn half_precision_compute_stays_near_the_f32_reference() {
    for name in HALF_PRECISION_FIXTURES {
        let dir = fixtures().join("models").join(name);
        let reference = reference(name);
        let input = reference_input(&reference);
        let mask = input.attention_mask.to_dtype(DType::F32).unwrap();
        for (dtype, bound) in [(DType::BF16, 0.1f32), (DType::F16, 2e-2)] {
            let options = LoadOptions {
                dtype,
                ..LoadOptions::default()
            };
            let (model, _) = AutoModel::from_dir(&dir, task_of(&dir), &options).unwrap();
            let out = model.forward(&input).unwrap();
            let compare = |what: &str, ours: &Tensor| {
                assert_eq!(
                    ours.dtype(),
                    dtype,
                    "{name}: {what} not computed in {dtype:?}"
                );
                let ours = ours.to_dtype(DType::F32).unwrap();
                let d = max_abs_diff(&masked(&ours, &mask), &masked(&reference[what], &mask));
                assert!(d <= bound, "{name} in {dtype:?}: {what} differs by {d}");
                eprintln!("{name} {dtype:?} {what}: max |diff| {d:.2e}");
            };
            compare("last_hidden_state", &out.last_hidden_state);
            if let Some(l) = &out.logits {
                compare("logits", l);
            }
        }
    }
}
