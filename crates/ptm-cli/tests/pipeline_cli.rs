//! The `ptm pipeline` command-line contract: one JSON line per input in order, errors
//! on their own line with exit status 1, usage errors with exit status 2, logs on stderr.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn model(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/models")
        .join(name)
}

fn ptm(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ptm"))
        .args(args)
        .env("HF_HUB_OFFLINE", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    pipe.write_all(stdin.unwrap_or_default()).unwrap();
    drop(pipe);
    child.wait_with_output().unwrap()
}

fn lines(out: &Output) -> Vec<Value> {
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

#[test]
fn text_arguments_give_one_json_line_each_in_order() {
    let m = model("bert-seqcls");
    let out = ptm(
        &[
            "pipeline",
            "sentiment-analysis",
            "--model",
            m.to_str().unwrap(),
            "--top-k",
            "all",
            "one",
            "two",
            "",
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = lines(&out);
    assert_eq!(v.len(), 3);
    for row in &v {
        let labels: Vec<&str> = row
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["label"].as_str().unwrap())
            .collect();
        assert_eq!(labels.len(), 3);
        assert!(labels.contains(&"POSITIVE"));
    }
}

#[test]
fn stdin_lines_may_be_json_and_a_bad_line_errors_alone() {
    let m = model("bert-qa");
    let input = b"{\"question\": \"Where does Alice live?\", \"context\": \"Alice lives in Berlin.\"}\n{not json\n{\"question\": \"Who?\", \"context\": \"Bob.\"}\n";
    let out = ptm(
        &[
            "pipeline",
            "question-answering",
            "--model",
            m.to_str().unwrap(),
        ],
        Some(input),
    );
    assert_eq!(out.status.code(), Some(1));
    let v = lines(&out);
    assert_eq!(v.len(), 3);
    assert!(v[0]["answer"].is_string(), "{}", v[0]);
    assert!(v[1]["error"].as_str().unwrap().contains("JSON"), "{}", v[1]);
    assert!(v[2]["answer"].is_string(), "{}", v[2]);
}

#[test]
fn invalid_utf8_on_stdin_is_reported_for_that_line() {
    let m = model("bert-mlm");
    let out = ptm(
        &[
            "pipeline",
            "fill-mask",
            "--model",
            m.to_str().unwrap(),
            "--top-k",
            "2",
        ],
        Some(b"the [MASK] sat.\n\xff\xfe bad\nno mask\n"),
    );
    assert_eq!(out.status.code(), Some(1));
    let v = lines(&out);
    assert_eq!(v.len(), 3);
    assert_eq!(v[0].as_array().unwrap().len(), 2);
    assert!(
        v[1]["error"].as_str().unwrap().contains("UTF-8"),
        "{}",
        v[1]
    );
    assert!(
        v[2]["error"].as_str().unwrap().contains("[MASK]"),
        "{}",
        v[2]
    );
}

#[test]
fn usage_errors_exit_2() {
    let m = model("bert-base");
    for args in [
        vec!["pipeline", "summarize", "--model", m.to_str().unwrap(), "x"],
        vec![
            "pipeline",
            "feature-extraction",
            "--model",
            m.to_str().unwrap(),
            "--pooling",
            "median",
            "x",
        ],
        vec![
            "pipeline",
            "sentence-similarity",
            "--model",
            m.to_str().unwrap(),
            "x",
        ],
        vec!["pipeline", "feature-extraction", "--device", "tpu", "x"],
        vec!["pipeline", "--no-such-flag"],
    ] {
        let out = ptm(&args, None);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.stdout.is_empty(), "{args:?} wrote to stdout");
    }
}

#[test]
fn a_missing_model_in_offline_mode_names_the_file_and_what_to_do() {
    let out = ptm(
        &[
            "pipeline",
            "feature-extraction",
            "--model",
            "no-such-org/no-such-model",
            "x",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no-such-org/no-such-model"), "{err}");
    assert!(err.contains("offline") || err.contains("cache"), "{err}");
}

#[test]
fn pooled_feature_extraction_gives_one_vector_per_input() {
    let m = model("st-minilm");
    let out = ptm(
        &[
            "pipeline",
            "feature-extraction",
            "--model",
            m.to_str().unwrap(),
            "a cat",
            "a dog",
        ],
        None,
    );
    assert!(out.status.success());
    let v = lines(&out);
    assert_eq!(v.len(), 2);
    let norm: f64 = v[0]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap().powi(2))
        .sum();
    assert!(
        (norm - 1.0).abs() < 1e-5,
        "sentence-transformers Normalize applies by default"
    );
}

#[test]
fn zero_shot_and_ner_run_from_the_command_line() {
    let nli = model("bert-nli");
    let out = ptm(
        &[
            "pipeline",
            "zero-shot-classification",
            "--model",
            nli.to_str().unwrap(),
            "--candidate-labels",
            "sports,politics",
            "The match ended in a draw.",
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = lines(&out);
    assert_eq!(v[0]["labels"].as_array().unwrap().len(), 2);

    let ner = model("bert-tokcls");
    let out = ptm(
        &[
            "pipeline",
            "ner",
            "--model",
            ner.to_str().unwrap(),
            "--aggregation-strategy",
            "simple",
            "--ignore-labels",
            "",
            "Alice lives in Paris.",
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(lines(&out)[0].as_array().is_some());
}

/// Puts the fixture `fixture` into the Hugging Face cache at `hub` as the repo `id`, the
/// way huggingface_hub lays it out (`refs/main` naming a snapshot).
fn fake_cache_entry(hub: &Path, id: &str, fixture: &str) {
    let hash = "0123456789abcdef0123456789abcdef01234567";
    let repo = hub.join(format!("models--{}", id.replace('/', "--")));
    let snapshot = repo.join("snapshots").join(hash);
    std::fs::create_dir_all(&snapshot).unwrap();
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs/main"), hash).unwrap();
    for entry in std::fs::read_dir(model(fixture)).unwrap() {
        let p = entry.unwrap().path();
        std::fs::copy(&p, snapshot.join(p.file_name().unwrap())).unwrap();
    }
}

/// Without --model a task runs transformers' default checkpoint, found here in a fake cache
/// under `$HF_HOME/hub`; zero-shot's default (BART) is refused before any download.
#[test]
fn without_a_model_the_task_default_comes_from_the_cache() {
    let home = tempfile::tempdir().unwrap();
    fake_cache_entry(
        &home.path().join("hub"),
        "distilbert/distilbert-base-uncased-finetuned-sst-2-english",
        "bert-seqcls",
    );
    let run = |task: &str| {
        Command::new(env!("CARGO_BIN_EXE_ptm"))
            .args(["pipeline", task, "great film"])
            .env("HF_HOME", home.path())
            .env_remove("HF_HUB_CACHE")
            .env("HF_HUB_OFFLINE", "1")
            .output()
            .unwrap()
    };
    let out = run("sentiment-analysis");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("distilbert-base-uncased-finetuned-sst-2-english"),
        "{err}"
    );
    assert_eq!(lines(&out).len(), 1);

    let out = run("zero-shot-classification");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("bart-large-mnli") && err.contains("--model"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

/// A cached snapshot without its weights, offline: the error says the file is not cached
/// and how to get it, not merely that the model has no weights.
#[test]
fn offline_weights_absent_from_the_cache_say_how_to_get_them() {
    let cache = tempfile::tempdir().unwrap();
    fake_cache_entry(cache.path(), "test-org/no-weights", "bert-seqcls");
    let snapshots = cache.path().join("models--test-org--no-weights/snapshots");
    for entry in std::fs::read_dir(&snapshots).unwrap() {
        std::fs::remove_file(entry.unwrap().path().join("model.safetensors")).unwrap();
    }
    let out = Command::new(env!("CARGO_BIN_EXE_ptm"))
        .args([
            "pipeline",
            "text-classification",
            "--model",
            "test-org/no-weights",
        ])
        .args(["--offline", "great film"])
        .env("HF_HUB_CACHE", cache.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    for expected in [
        "model.safetensors",
        "not in the Hugging Face cache",
        "without --offline",
    ] {
        assert!(err.contains(expected), "{expected:?} not in: {err}");
    }
}

#[test]
fn a_hub_id_resolves_through_a_fake_cache_offline() {
    let cache = tempfile::tempdir().unwrap();
    fake_cache_entry(cache.path(), "test-org/tiny-bert", "bert-seqcls");
    let out = Command::new(env!("CARGO_BIN_EXE_ptm"))
        .args([
            "pipeline",
            "text-classification",
            "--model",
            "test-org/tiny-bert",
            "--offline",
            "great film",
        ])
        .env("HF_HUB_CACHE", cache.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let direct = ptm(
        &[
            "pipeline",
            "text-classification",
            "--model",
            model("bert-seqcls").to_str().unwrap(),
            "great film",
        ],
        None,
    );
    assert_eq!(
        out.stdout, direct.stdout,
        "same answer from the cache as from the folder"
    );
}

/// Regression: sentence-similarity ranked each `--batch-size` chunk on its own, so with more
/// inputs than the batch size two inputs could both be rank 1.
#[test]
fn sentence_similarity_ranks_span_every_input_not_each_batch() {
    let m = model("st-minilm");
    let texts: Vec<String> = (0..11)
        .map(|i| format!("sentence number {i} about cats and {} dogs", i * 7 % 5))
        .collect();
    let run = |batch: &str| {
        let mut args = vec![
            "pipeline",
            "sentence-similarity",
            "--model",
            m.to_str().unwrap(),
            "--query",
            "cats and dogs",
            "--batch-size",
            batch,
        ];
        args.extend(texts.iter().map(String::as_str));
        let out = ptm(&args, None);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        lines(&out)
    };
    let small = run("3");
    assert_eq!(small.len(), texts.len());
    let mut ranks: Vec<u64> = small.iter().map(|v| v["rank"].as_u64().unwrap()).collect();
    let by_rank: Vec<f64> = {
        let mut rows: Vec<_> = small.iter().collect();
        rows.sort_by_key(|v| v["rank"].as_u64());
        rows.iter().map(|v| v["score"].as_f64().unwrap()).collect()
    };
    assert!(by_rank.windows(2).all(|w| w[0] >= w[1]), "{by_rank:?}");
    ranks.sort();
    assert_eq!(ranks, (1..=texts.len() as u64).collect::<Vec<_>>());
    let large = run("32");
    for (a, b) in small.iter().zip(&large) {
        assert_eq!(a["rank"], b["rank"]);
        assert!((a["score"].as_f64().unwrap() - b["score"].as_f64().unwrap()).abs() < 1e-5);
    }
}

/// `--matmul-precision medium` gives every label's f32 score within 1e-2 on a
/// CPU with AVX512-BF16, and a usage error naming what is missing on one without.
#[test]
fn matmul_precision_medium_stays_near_f32() {
    let m = model("bert-seqcls");
    let run = |precision: &str| {
        ptm(
            &[
                "--matmul-precision",
                precision,
                "pipeline",
                "sentiment-analysis",
                "--model",
                m.to_str().unwrap(),
                "--top-k",
                "all",
                "a fine film",
                "dull",
            ],
            None,
        )
    };
    let (f32_out, bf16_out) = (run("highest"), run("medium"));
    assert!(f32_out.status.success());
    if bf16_out.status.code() == Some(2) {
        let err = String::from_utf8_lossy(&bf16_out.stderr);
        assert!(err.contains("AVX512-BF16"), "{err}");
        return;
    }
    assert!(
        bf16_out.status.success(),
        "{}",
        String::from_utf8_lossy(&bf16_out.stderr)
    );
    let (a, b) = (lines(&f32_out), lines(&bf16_out));
    assert_eq!(a.len(), b.len());
    for (a, b) in a.iter().zip(&b) {
        for x in a.as_array().unwrap() {
            let y = b
                .as_array()
                .unwrap()
                .iter()
                .find(|y| y["label"] == x["label"]);
            let (p, q) = (
                x["score"].as_f64().unwrap(),
                y.unwrap()["score"].as_f64().unwrap(),
            );
            assert!((p - q).abs() < 1e-2, "{}: {p} vs {q}", x["label"]);
        }
    }
    let bad = ptm(
        &[
            "--matmul-precision",
            "low",
            "pipeline",
            "sentiment-analysis",
        ],
        None,
    );
    assert_eq!(bad.status.code(), Some(2));
}
