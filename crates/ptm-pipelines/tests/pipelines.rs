//! Pipelines against transformers' (and sentence-transformers') outputs on the fixtures:
//! every case of `tests/fixtures/pipelines/<task>.json`, scores to 1e-4, labels exactly.

mod common;

use common::{assert_matches, cases, inputs, model_dir, offline};
use ptm_pipelines::pipelines::{
    feature_extraction, fill_mask, sentence_similarity, text_classification, zero_shot,
    PipelineOptions,
};
use ptm_pipelines::{pipeline, PipelineInput, PipelineTask};
use serde_json::Value;

/// Runs every case of a task file with options built by `options` from its kwargs.
fn check_task(file: &str, task: PipelineTask, options: impl Fn(&Value) -> PipelineOptions) {
    let all = cases(file);
    assert!(!all.is_empty(), "{file} has no cases");
    for case in &all {
        let model = case["model"].as_str().unwrap();
        let kwargs = &case["kwargs"];
        let p = pipeline(task, &model_dir(model), &offline(), &options(kwargs))
            .unwrap_or_else(|e| panic!("{model}: {e}"));
        let ins = inputs(case);
        // Each input alone, as transformers was run, and the whole case as one batch.
        let batched = p.run_json(&ins);
        for (i, expected) in case["outputs"].as_array().unwrap().iter().enumerate() {
            let alone = p.run_json(&ins[i..=i]).pop().unwrap().unwrap();
            let what = format!("{file} {model} {kwargs} input {i}");
            assert_matches(&alone, expected, &what);
            let in_batch = batched[i].as_ref().unwrap();
            assert_matches(in_batch, expected, &format!("{what} (in a batch)"));
        }
    }
}

#[test]
fn text_classification_matches_transformers() {
    check_task(
        "text-classification",
        PipelineTask::TextClassification,
        |kw| {
            let mut o = PipelineOptions::default();
            o.text_classification.top_k = match kw.get("top_k") {
                None => text_classification::TopK::Default,
                Some(Value::Null) => text_classification::TopK::All,
                Some(k) => text_classification::TopK::K(k.as_u64().unwrap() as usize),
            };
            o.text_classification.function_to_apply = kw.get("function_to_apply").map(|f| {
                text_classification::ScoreFunction::from_name(f.as_str().unwrap()).unwrap()
            });
            o
        },
    );
}

#[test]
fn fill_mask_matches_transformers() {
    check_task("fill-mask", PipelineTask::FillMask, |kw| PipelineOptions {
        fill_mask: fill_mask::Options {
            top_k: kw.get("top_k").and_then(Value::as_u64).unwrap_or(5) as usize,
            targets: kw.get("targets").map(|t| {
                t.as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_str().unwrap().to_string())
                    .collect()
            }),
        },
        ..Default::default()
    });
}

#[test]
fn feature_extraction_matches_transformers() {
    check_task(
        "feature-extraction",
        PipelineTask::FeatureExtraction,
        |_| PipelineOptions::default(),
    );
}

#[test]
fn zero_shot_matches_transformers() {
    check_task(
        "zero-shot-classification",
        PipelineTask::ZeroShotClassification,
        |kw| PipelineOptions {
            zero_shot: zero_shot::Options {
                multi_label: kw
                    .get("multi_label")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                ..Default::default()
            },
            ..Default::default()
        },
    );
}

#[test]
fn sentence_embeddings_match_sentence_transformers() {
    // One case: embeddings, their cosine matrix and a semantic search, all from
    // sentence-transformers on the st-minilm fixture.
    let path = common::fixtures().join("pipelines/sentence-embeddings.json");
    let case: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let model = case["model"].as_str().unwrap();
    let p = pipeline(
        PipelineTask::FeatureExtraction,
        &model_dir(model),
        &offline(),
        &PipelineOptions::default(),
    )
    .unwrap();
    let ins = inputs(&case);
    assert_eq!(ins.len(), 5);
    let ours: Vec<Value> = p.run_json(&ins).into_iter().map(|r| r.unwrap()).collect();
    assert_matches(&Value::Array(ours.clone()), &case["outputs"], model);

    let vectors: Vec<Vec<f32>> = ours
        .iter()
        .map(|v| {
            v.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect()
        })
        .collect();
    let cos: Vec<Vec<f64>> = vectors
        .iter()
        .map(|a| {
            vectors
                .iter()
                .map(|b| sentence_similarity::cos_sim(a, b))
                .collect()
        })
        .collect();
    assert_matches(&serde_json::json!(cos), &case["cos_sim"], "cos_sim");

    let search = &case["semantic_search"];
    let corpus: Vec<PipelineInput> = search["corpus"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| PipelineInput::Text(t.as_str().unwrap().to_string()))
        .collect();
    let query = PipelineInput::Text(search["query"].as_str().unwrap().to_string());
    let embed = |xs: &[PipelineInput]| -> Vec<Vec<f32>> {
        p.run_json(xs)
            .into_iter()
            .map(|r| {
                r.unwrap()
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_f64().unwrap() as f32)
                    .collect()
            })
            .collect()
    };
    let q = embed(&[query]).pop().unwrap();
    let hits = sentence_similarity::semantic_search(
        &q,
        &embed(&corpus),
        search["top_k"].as_u64().unwrap() as usize,
    );
    assert_matches(&serde_json::json!(hits), &search["hits"], "semantic_search");
}

#[test]
fn explicit_pooling_and_normalize_override_the_checkpoint() {
    let o = PipelineOptions {
        feature_extraction: feature_extraction::Options {
            pooling: Some(feature_extraction::Pooling::Cls),
            normalize: Some(false),
        },
        ..Default::default()
    };
    let p = pipeline(
        PipelineTask::FeatureExtraction,
        &model_dir("bert-base"),
        &offline(),
        &o,
    )
    .unwrap();
    let v = p.run_json(&[PipelineInput::Text("The cat sat.".into())]);
    let v = v[0].as_ref().unwrap().as_array().unwrap().clone();
    assert_eq!(v.len(), 32, "one vector of hidden size");
    let norm: f64 = v
        .iter()
        .map(|x| x.as_f64().unwrap().powi(2))
        .sum::<f64>()
        .sqrt();
    assert!((norm - 1.0).abs() > 1e-3, "not normalised: {norm}");
}

#[test]
fn fill_mask_without_mask_is_an_error_for_that_input_only() {
    let p = pipeline(
        PipelineTask::FillMask,
        &model_dir("bert-mlm"),
        &offline(),
        &PipelineOptions::default(),
    )
    .unwrap();
    let out = p.run_json(&[
        PipelineInput::Text("no mask here".into()),
        PipelineInput::Text("the [MASK] sat.".into()),
    ]);
    let err = out[0].as_ref().unwrap_err().to_string();
    assert!(err.contains("[MASK]"), "{err}");
    assert!(out[1].is_ok());
}

#[test]
fn long_inputs_are_truncated_not_fatal() {
    let long = "the cat sat on the mat ".repeat(100);
    for (task, model) in [
        (PipelineTask::TextClassification, "bert-seqcls"),
        (PipelineTask::FeatureExtraction, "roberta-base"),
        (PipelineTask::ZeroShotClassification, "bert-nli"),
    ] {
        let mut o = PipelineOptions::default();
        o.zero_shot.candidate_labels = vec!["cats".into(), "dogs".into()];
        let p = pipeline(task, &model_dir(model), &offline(), &o).unwrap();
        let out = p.run_json(&[
            PipelineInput::Text(long.clone()),
            PipelineInput::Text(String::new()),
        ]);
        assert!(out.iter().all(|r| r.is_ok()), "{task:?}: {:?}", out);
    }
}

#[test]
fn zero_shot_needs_an_entailment_label() {
    let err = pipeline(
        PipelineTask::ZeroShotClassification,
        &model_dir("bert-seqcls"),
        &offline(),
        &PipelineOptions::default(),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("entailment"), "{err}");
}

#[test]
fn sentence_similarity_ranks_inputs_against_the_query() {
    let mut o = PipelineOptions::default();
    o.sentence_similarity.query = Some("The cat sat on the mat.".into());
    let p = pipeline(
        PipelineTask::SentenceSimilarity,
        &model_dir("st-minilm"),
        &offline(),
        &o,
    )
    .unwrap();
    let out = p.run_json(&[
        PipelineInput::Text("Alice flew to Paris.".into()),
        PipelineInput::Text("The cat sat on the mat.".into()),
    ]);
    let same = out[1].as_ref().unwrap();
    assert!((same["score"].as_f64().unwrap() - 1.0).abs() < 1e-5);
    assert_eq!(same["rank"], 1);
    assert_eq!(out[0].as_ref().unwrap()["rank"], 2);
}

#[test]
fn a_model_folder_without_config_says_what_is_expected() {
    let dir = tempfile::tempdir().unwrap();
    let err = pipeline(
        PipelineTask::FeatureExtraction,
        dir.path().to_str().unwrap(),
        &offline(),
        &PipelineOptions::default(),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("config.json"), "{err}");
}
