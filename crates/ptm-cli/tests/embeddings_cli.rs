//! `ptm embeddings ...` end to end: the JSON contract of train / evaluate / similar / analogy,
//! exit codes, and clear errors on bad input.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn ptm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ptm"))
        .args(args)
        .output()
        .expect("the ptm binary runs")
}

fn json_of(out: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Two topics whose words never share a sentence.
fn write_corpus(path: &Path) {
    let topics: [&[&str]; 2] = [
        &["cat", "dog", "horse", "cow", "sheep", "goat"],
        &["red", "green", "blue", "yellow", "purple", "orange"],
    ];
    let mut state = 1u64;
    let mut text = String::new();
    for _ in 0..1500 {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let t = topics[(state >> 40) as usize % 2];
        let words: Vec<&str> = (0..8)
            .map(|k| t[((state >> (k * 3 + 8)) as usize) % t.len()])
            .collect();
        text.push_str(&words.join(" "));
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

#[test]
fn train_query_and_evaluate_word2vec() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus.txt");
    write_corpus(&corpus);
    let vectors = dir.path().join("vectors.bin");
    let out = ptm(&[
        "embeddings",
        "train",
        "word2vec",
        "--corpus",
        corpus.to_str().unwrap(),
        "--output",
        vectors.to_str().unwrap(),
        "--vector-size",
        "16",
        "--window",
        "3",
        "--min-count",
        "1",
        "--sg",
        "1",
        "--workers",
        "1",
        "--sample",
        "0",
        "--quiet",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json_of(&out);
    assert_eq!(report["model"], "word2vec");
    assert_eq!(report["vocab_size"], 12);
    assert_eq!(report["vector_size"], 16);
    assert_eq!(report["words"], 1500 * 8 * 5);

    let out = ptm(&[
        "embeddings",
        "similar",
        "--vectors",
        vectors.to_str().unwrap(),
        "cat",
        "--topn",
        "3",
    ]);
    assert!(out.status.success());
    let list = json_of(&out);
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 3);
    for item in list {
        let word = item[0].as_str().unwrap();
        assert!(
            ["dog", "horse", "cow", "sheep", "goat"].contains(&word),
            "{list:?}"
        );
        assert!(item[1].as_f64().unwrap() <= 1.0);
    }

    let out = ptm(&[
        "embeddings",
        "analogy",
        "--vectors",
        vectors.to_str().unwrap(),
        "cat",
        "dog",
        "red",
        "--topn",
        "2",
    ]);
    assert!(out.status.success());
    assert_eq!(json_of(&out).as_array().unwrap().len(), 2);

    let analogies = dir.path().join("q.txt");
    std::fs::write(
        &analogies,
        ": animals\ncat dog horse cow\nCAT DOG HORSE MISSING\n: colours\nred green blue yellow\n",
    )
    .unwrap();
    let pairs = dir.path().join("ws.tsv");
    std::fs::write(&pairs, "# word1\tword2\tscore\ncat\tdog\t9\ncat\tred\t1\nblue\tgreen\t8\nhorse\tpurple\t0.5\nzebra\tcat\t7\n").unwrap();
    let out = ptm(&[
        "embeddings",
        "evaluate",
        "--vectors",
        vectors.to_str().unwrap(),
        "--analogies",
        analogies.to_str().unwrap(),
        "--pairs",
        pairs.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = json_of(&out);
    assert_eq!(r["analogies"]["total"], 2);
    assert!(r["analogies"]["sections"]["animals"].is_number());
    assert!(r["analogies"]["sections"]["colours"].is_number());
    assert!(r["pairs"]["spearman"].as_f64().unwrap() > 0.5, "{r}");
    assert!((r["pairs"]["oov_ratio"].as_f64().unwrap() - 20.0).abs() < 1e-9);
}

#[test]
fn out_of_vocabulary_query_prints_an_error_object_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let vectors = dir.path().join("v.txt");
    std::fs::write(&vectors, "2 2\na 1 0\nb 0 1\n").unwrap();
    let out = ptm(&[
        "embeddings",
        "similar",
        "--vectors",
        vectors.to_str().unwrap(),
        "zzz",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let r = json_of(&out);
    assert!(r["error"].as_str().unwrap().contains("'zzz'"), "{r}");
}

#[test]
fn bad_input_is_reported_not_panicked() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.txt");
    let out = ptm(&[
        "embeddings",
        "train",
        "word2vec",
        "--corpus",
        missing.to_str().unwrap(),
        "--output",
        "/tmp/x",
        "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("missing.txt") && !err.contains("panicked"),
        "{err}"
    );

    let truncated = dir.path().join("t.bin");
    std::fs::write(&truncated, b"3 4\nword \x00\x00").unwrap();
    let out = ptm(&[
        "embeddings",
        "similar",
        "--vectors",
        truncated.to_str().unwrap(),
        "word",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("truncated"));

    // Usage errors come from clap with status 2.
    let out = ptm(&[
        "embeddings",
        "train",
        "word2vec",
        "--sg",
        "2",
        "--corpus",
        "x",
        "--output",
        "y",
    ]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn fasttext_bin_resume_and_unseen_words() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus.txt");
    write_corpus(&corpus);
    let model = dir.path().join("ft.bin");
    let common = [
        "--vector-size",
        "8",
        "--min-count",
        "1",
        "--workers",
        "1",
        "--bucket",
        "1000",
        "--epochs",
        "2",
        "--quiet",
    ];
    let mut args = vec![
        "embeddings",
        "train",
        "fasttext",
        "--corpus",
        corpus.to_str().unwrap(),
        "--output",
        model.to_str().unwrap(),
        "--format",
        "fasttext-bin",
    ];
    args.extend(common);
    let out = ptm(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // "horses" is not in the vocabulary; its n-grams give it a vector.
    let out = ptm(&[
        "embeddings",
        "similar",
        "--vectors",
        model.to_str().unwrap(),
        "horses",
        "--topn",
        "1",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    let more = dir.path().join("more.txt");
    std::fs::write(&more, "zebra cat zebra dog\n".repeat(20)).unwrap();
    let resumed = dir.path().join("ft2.bin");
    let mut args = vec![
        "embeddings",
        "train",
        "fasttext",
        "--corpus",
        more.to_str().unwrap(),
        "--output",
        resumed.to_str().unwrap(),
        "--format",
        "fasttext-bin",
        "--resume",
        model.to_str().unwrap(),
    ];
    args.extend(common);
    let out = ptm(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(json_of(&out)["vocab_size"], 13);
}
