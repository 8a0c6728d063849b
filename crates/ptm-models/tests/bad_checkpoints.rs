//! Broken checkpoints give errors that name what is wrong, never panics.

use std::path::{Path, PathBuf};

use ptm_models::{AutoModel, Error, LoadOptions, Task};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/models")
        .join(name)
}

/// Copies a fixture folder and rewrites its config.json with `edit`.
fn edited(name: &str, edit: impl Fn(&mut serde_json::Value)) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(fixture(name)).unwrap() {
        let p = entry.unwrap().path();
        if p.is_file() {
            std::fs::copy(&p, dir.path().join(p.file_name().unwrap())).unwrap();
        }
    }
    let path = dir.path().join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut config);
    std::fs::write(&path, config.to_string()).unwrap();
    dir
}

fn load_err(dir: &Path, task: Task) -> Error {
    AutoModel::from_dir(dir, task, &LoadOptions::default())
        .err()
        .expect("loading must fail")
}

#[test]
fn a_config_whose_sizes_disagree_with_the_weights_names_the_tensor() {
    let dir = edited("bert-base", |c| c["vocab_size"] = serde_json::json!(999));
    match load_err(dir.path(), Task::Base) {
        Error::ShapeMismatch {
            name,
            expected,
            found,
        } => {
            assert_eq!(name, "embeddings.word_embeddings.weight");
            assert_eq!(expected[0], 999);
            assert_ne!(found[0], 999);
        }
        other => panic!("expected a shape mismatch, got {other}"),
    }
}

#[test]
fn fewer_labels_in_the_config_than_the_classifier_has_is_a_shape_error() {
    let dir = edited("bert-seqcls", |c| {
        c["id2label"] = serde_json::json!({"0": "NEGATIVE", "1": "POSITIVE"});
        c["label2id"] = serde_json::json!({"NEGATIVE": 0, "POSITIVE": 1});
    });
    let err = load_err(dir.path(), Task::SequenceClassification).to_string();
    assert!(
        err.contains("classifier.weight") && err.contains("config.json"),
        "{err}"
    );
}

#[test]
fn an_unknown_activation_or_head_count_is_a_config_error() {
    let dir = edited("bert-base", |c| {
        c["hidden_act"] = serde_json::json!("swishy")
    });
    let err = load_err(dir.path(), Task::Base).to_string();
    assert!(err.contains("swishy") && err.contains("gelu"), "{err}");
    let dir = edited("distilbert-base", |c| c["n_heads"] = serde_json::json!(5));
    let err = load_err(dir.path(), Task::Base).to_string();
    assert!(err.contains("n_heads"), "{err}");
}

#[test]
fn a_weights_file_cut_short_is_reported_with_its_path() {
    let dir = edited("bert-base", |_| {});
    let weights = dir.path().join("model.safetensors");
    let bytes = std::fs::read(&weights).unwrap();
    std::fs::write(&weights, &bytes[..bytes.len() - 100]).unwrap();
    let err = load_err(dir.path(), Task::Base).to_string();
    assert!(err.contains("model.safetensors"), "{err}");
}

#[test]
fn a_head_missing_from_the_checkpoint_is_initialised_and_reported() {
    let (_, report) = AutoModel::from_dir(
        &fixture("bert-base"),
        Task::SequenceClassification,
        &LoadOptions::default(),
    )
    .unwrap();
    assert!(
        report.missing.iter().any(|m| m.starts_with("classifier.")),
        "{report:?}"
    );
}

#[test]
fn a_pretraining_checkpoint_loaded_as_base_lists_the_unused_head() {
    let (_, report) =
        AutoModel::from_dir(&fixture("bert-mlm"), Task::Base, &LoadOptions::default()).unwrap();
    assert!(report.missing.is_empty(), "{report:?}");
    assert!(
        report
            .unexpected
            .iter()
            .any(|u| u.starts_with("cls.predictions")),
        "{report:?}"
    );
}
