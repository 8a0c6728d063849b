//! Resolution of Hub ids through a fake Hugging Face cache tree built by each test. Every test is
//! offline: none of them may touch the network.

use std::fs;
use std::path::{Path, PathBuf};

use ptm_pipelines::hub::{HubOptions, ModelRef, ModelRepo};

const MAIN: &str = "1111111111111111111111111111111111111111";
const OTHER: &str = "2222222222222222222222222222222222222222";
const PINNED: &str = "3333333333333333333333333333333333333333";

/// A cache laid out as huggingface_hub writes it, for `org/tiny`:
/// refs/main → MAIN (config.json as a symlink into blobs/, tokenizer.json as a plain file),
/// refs/other → OTHER (its own config.json), a snapshot PINNED reachable only by its hash, and a
/// `.no_exist` marker for vocab.txt at MAIN.
fn fake_cache() -> (tempfile::TempDir, PathBuf) {
    let root = tempfile::tempdir().unwrap();
    let cache = root.path().join("hub");
    let repo = cache.join("models--org--tiny");
    fs::create_dir_all(repo.join("refs")).unwrap();
    fs::write(repo.join("refs/main"), MAIN).unwrap();
    fs::write(repo.join("refs/other"), format!("{OTHER}\n")).unwrap();

    fs::create_dir_all(repo.join("blobs")).unwrap();
    fs::write(repo.join("blobs/aaaa"), r#"{"model_type": "bert"}"#).unwrap();
    let main = repo.join("snapshots").join(MAIN);
    fs::create_dir_all(&main).unwrap();
    link_or_copy(Path::new("../../blobs/aaaa"), &main.join("config.json"));
    fs::write(main.join("tokenizer.json"), "{}").unwrap();

    let other = repo.join("snapshots").join(OTHER);
    fs::create_dir_all(&other).unwrap();
    fs::write(other.join("config.json"), r#"{"model_type": "roberta"}"#).unwrap();

    let pinned = repo.join("snapshots").join(PINNED);
    fs::create_dir_all(&pinned).unwrap();
    fs::write(pinned.join("config.json"), r#"{"model_type": "electra"}"#).unwrap();

    let no_exist = repo.join(".no_exist").join(MAIN);
    fs::create_dir_all(&no_exist).unwrap();
    fs::write(no_exist.join("vocab.txt"), "").unwrap();
    (root, cache)
}

#[cfg(unix)]
fn link_or_copy(target: &Path, link: &Path) {
    std::os::unix::fs::symlink(target, link).unwrap();
}

#[cfg(not(unix))]
fn link_or_copy(target: &Path, link: &Path) {
    fs::copy(link.parent().unwrap().join(target), link).unwrap();
}

fn offline(cache: &Path) -> HubOptions {
    HubOptions {
        offline: true,
        cache_dir: Some(cache.to_path_buf()),
        ..HubOptions::default()
    }
}

fn read(path: Option<PathBuf>) -> String {
    fs::read_to_string(path.expect("file should resolve")).unwrap()
}

#[test]
fn main_ref_resolves_through_symlink() {
    let (_root, cache) = fake_cache();
    let repo = ModelRepo::resolve("org/tiny", &offline(&cache)).unwrap();
    assert!(read(repo.get("config.json").unwrap()).contains("bert"));
    assert_eq!(read(repo.get("tokenizer.json").unwrap()), "{}");
    assert_eq!(repo.name(), "org/tiny");
    assert!(repo.describe().contains("org/tiny"));
    assert!(repo.describe().contains("revision main"));
}

#[test]
fn other_branch_and_commit_hash_revisions() {
    let (_root, cache) = fake_cache();
    let repo = ModelRepo::resolve("org/tiny@other", &offline(&cache)).unwrap();
    assert!(read(repo.get("config.json").unwrap()).contains("roberta"));

    let repo = ModelRepo::resolve(&format!("org/tiny@{PINNED}"), &offline(&cache)).unwrap();
    assert!(read(repo.get("config.json").unwrap()).contains("electra"));

    // The options' revision overrides the reference's.
    let options = HubOptions {
        revision: Some("other".into()),
        ..offline(&cache)
    };
    let repo = ModelRepo::open(&ModelRef::parse("org/tiny@main").unwrap(), &options).unwrap();
    assert!(read(repo.get("config.json").unwrap()).contains("roberta"));
}

#[test]
fn no_exist_marker_means_absent() {
    let (_root, cache) = fake_cache();
    let repo = ModelRepo::resolve("org/tiny", &offline(&cache)).unwrap();
    assert_eq!(repo.get("vocab.txt").unwrap(), None);
    let message = repo.require("vocab.txt").unwrap_err().to_string();
    assert!(message.contains("has no vocab.txt"), "{message}");
}

#[test]
fn offline_missing_file_is_a_clear_error() {
    let (_root, cache) = fake_cache();
    let repo = ModelRepo::resolve("org/tiny", &offline(&cache)).unwrap();
    // Absent from the cached snapshot: optional lookups see no file, as in transformers;
    // requiring it explains what to do.
    assert_eq!(repo.get("model.safetensors").unwrap(), None);
    let message = repo.require("model.safetensors").unwrap_err().to_string();
    for expected in [
        "'model.safetensors'",
        "org/tiny",
        &cache.display().to_string(),
        "without --offline",
        "local folder",
    ] {
        assert!(message.contains(expected), "{expected:?} not in: {message}");
    }
}

#[test]
fn offline_repo_not_in_cache() {
    let (_root, cache) = fake_cache();
    let message = ModelRepo::resolve("org/absent", &offline(&cache))
        .unwrap_err()
        .to_string();
    for expected in [
        "org/absent",
        "not in the Hugging Face cache",
        "local folder",
    ] {
        assert!(message.contains(expected), "{expected:?} not in: {message}");
    }
}

#[test]
fn offline_revision_not_in_cache_lists_cached_ones() {
    let (_root, cache) = fake_cache();
    let message = ModelRepo::resolve("org/tiny@v9", &offline(&cache))
        .unwrap_err()
        .to_string();
    for expected in ["revision 'v9'", "main", "other", PINNED] {
        assert!(message.contains(expected), "{expected:?} not in: {message}");
    }
}

#[test]
fn name_without_org_uses_bare_folder() {
    let (_root, cache) = fake_cache();
    let snapshot = cache.join("models--gpt2/snapshots").join(MAIN);
    fs::create_dir_all(&snapshot).unwrap();
    fs::create_dir_all(cache.join("models--gpt2/refs")).unwrap();
    fs::write(cache.join("models--gpt2/refs/main"), MAIN).unwrap();
    fs::write(snapshot.join("config.json"), "{}").unwrap();
    let repo = ModelRepo::resolve("gpt2", &offline(&cache)).unwrap();
    assert!(repo.get("config.json").unwrap().is_some());
}

#[test]
fn dangling_snapshot_link_counts_as_missing() {
    let (_root, cache) = fake_cache();
    let snapshot = cache.join("models--org--tiny/snapshots").join(MAIN);
    #[cfg(unix)]
    std::os::unix::fs::symlink("../../blobs/gone", snapshot.join("model.safetensors")).unwrap();
    let repo = ModelRepo::resolve("org/tiny", &offline(&cache)).unwrap();
    assert_eq!(repo.get("model.safetensors").unwrap(), None);
    assert!(repo.require("model.safetensors").is_err());
}
