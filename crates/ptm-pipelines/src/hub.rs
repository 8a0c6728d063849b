//! Model references and where their files live: a local folder, or a Hugging Face Hub repository
//! read through the standard Hugging Face cache (the layout `huggingface_hub` writes and reads).
//!
//! ```text
//! <cache>/models--{org}--{name}/
//!     refs/{revision}                 the commit hash that a branch or tag points to
//!     snapshots/{commit}/{filename}   the files (symlinks into blobs/)
//!     blobs/{etag}
//!     .no_exist/{commit}/{filename}   empty markers: the repository has no such file
//! ```
//!
//! Files already in the cache are used without asking the Hub whether a branch moved (as hf-hub
//! does); a missing file is downloaded only when the network is allowed (`HF_HUB_OFFLINE`,
//! `--offline` and builds without the `hub` feature forbid it).

use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::str::FromStr;

use crate::error::{Error, Result};

/// What the user named: a local folder, or a Hub repository id with an optional revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelRef {
    /// An existing local folder holding a checkpoint.
    Local(PathBuf),
    /// A Hub model repository, `org/name` or `name`, at `revision` (a branch, tag or commit;
    /// `None` means `main`).
    Hub {
        repo_id: String,
        revision: Option<String>,
    },
}

impl ModelRef {
    /// Parses a reference: an existing folder is local; anything else must be a Hub id
    /// (`name`, `org/name`, optionally followed by `@revision`).
    pub fn parse(reference: &str) -> Result<ModelRef> {
        let invalid = |reason: String| Error::InvalidModelRef {
            reference: reference.to_string(),
            reason,
        };
        if reference.trim().is_empty() {
            return Err(invalid("it is empty".into()));
        }
        let path = Path::new(reference);
        if path.is_dir() {
            return Ok(ModelRef::Local(path.to_path_buf()));
        }
        if path.is_file() {
            return Err(invalid(
                "it is a file; pass the folder that holds config.json and the weights".into(),
            ));
        }
        if looks_like_path(reference) {
            return Err(invalid("no such folder".into()));
        }
        let (repo_id, revision) = match reference.split_once('@') {
            Some((id, rev)) => (id, Some(rev)),
            None => (reference, None),
        };
        validate_repo_id(repo_id).map_err(invalid)?;
        if let Some(rev) = revision {
            validate_revision(rev).map_err(invalid)?;
        }
        Ok(ModelRef::Hub {
            repo_id: repo_id.to_string(),
            revision: revision.map(str::to_string),
        })
    }
}

impl FromStr for ModelRef {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        ModelRef::parse(s)
    }
}

impl fmt::Display for ModelRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelRef::Local(path) => write!(f, "{}", path.display()),
            ModelRef::Hub {
                repo_id,
                revision: Some(rev),
            } => write!(f, "{repo_id}@{rev}"),
            ModelRef::Hub { repo_id, .. } => write!(f, "{repo_id}"),
        }
    }
}

/// A string that can only have been meant as a filesystem path, never as a Hub id.
fn looks_like_path(s: &str) -> bool {
    s.starts_with('.')
        || s.starts_with('/')
        || s.starts_with('~')
        || s.contains('\\')
        || s.split('@')
            .next()
            .is_some_and(|id| id.matches('/').count() > 1)
}

/// The rules of `huggingface_hub.utils.validate_repo_id`: `name` or `namespace/name`, made of
/// letters, digits, `-`, `_` and `.`, without `--` or `..`, not starting or ending with `-` or `.`,
/// at most 96 characters per part.
fn validate_repo_id(id: &str) -> std::result::Result<(), String> {
    let parts: Vec<&str> = id.split('/').collect();
    if parts.len() > 2 {
        return Err("a Hub id has at most one '/' (org/name)".into());
    }
    for part in &parts {
        if part.is_empty() {
            return Err("empty organisation or model name".into());
        }
        if part.len() > 96 {
            return Err(format!("'{part}' is longer than 96 characters"));
        }
        if let Some(c) = part
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        {
            return Err(format!(
                "character {c:?} is not allowed (Hub ids use letters, digits, '-', '_' and '.')"
            ));
        }
        if part.contains("--") || part.contains("..") {
            return Err("'--' and '..' are not allowed in Hub ids".into());
        }
        if part.starts_with(['-', '.']) || part.ends_with(['-', '.']) {
            return Err(format!("'{part}' may not start or end with '-' or '.'"));
        }
    }
    Ok(())
}

fn validate_revision(rev: &str) -> std::result::Result<(), String> {
    if rev.is_empty() {
        return Err("empty revision after '@'".into());
    }
    // Revisions become paths under refs/ (branches such as `refs/pr/1` contain '/').
    let path = Path::new(rev);
    if path.is_absolute()
        || path
            .components()
            .any(|c| !matches!(c, Component::Normal(_)))
        || rev.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(format!("'{rev}' is not a valid revision"));
    }
    Ok(())
}

fn is_commit_hash(rev: &str) -> bool {
    rev.len() == 40 && rev.bytes().all(|b| b.is_ascii_hexdigit())
}

/// How to reach the Hub and where its cache is. [`HubOptions::from_env`] reads the variables
/// huggingface_hub reads; `Default` is online with the cache from the environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HubOptions {
    /// Forbid the network: only files already in the cache are used.
    pub offline: bool,
    /// The hub cache folder (the one holding `models--*`); `None` means the default from the
    /// environment (see [`HubOptions::from_vars`]).
    pub cache_dir: Option<PathBuf>,
    /// A revision that overrides the one in the model reference.
    pub revision: Option<String>,
    /// Access token for private or gated repositories.
    pub token: Option<String>,
    /// Hub endpoint (`HF_ENDPOINT`); `None` means <https://huggingface.co>.
    pub endpoint: Option<String>,
}

impl HubOptions {
    /// Options from the process environment; also reads the token that `huggingface-cli login`
    /// stored (`$HF_TOKEN_PATH` or `$HF_HOME/token`) when `HF_TOKEN` is unset.
    pub fn from_env() -> HubOptions {
        let get = |name: &str| std::env::var(name).ok();
        let mut options = HubOptions::from_vars(get);
        if options.token.is_none() {
            let token_path = get("HF_TOKEN_PATH")
                .map(PathBuf::from)
                .or_else(|| hf_home(&get).map(|home| home.join("token")));
            options.token = token_path
                .and_then(|p| std::fs::read_to_string(p).ok())
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty());
        }
        options
    }

    /// Options from environment variables given by `get` (pure, for tests):
    /// `HF_HUB_OFFLINE` (or the older `TRANSFORMERS_OFFLINE`) set to `1`, `true`, `yes` or `on`
    /// forbids the network; the cache is `HF_HUB_CACHE`, else `HF_HOME/hub`, else
    /// `XDG_CACHE_HOME/huggingface/hub`, else `~/.cache/huggingface/hub`; `HF_TOKEN`; `HF_ENDPOINT`.
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> HubOptions {
        let non_empty = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let is_true = |name: &str| {
            non_empty(name).is_some_and(|v| {
                matches!(
                    v.trim().to_ascii_lowercase().as_str(),
                    "1" | "true" | "yes" | "on"
                )
            })
        };
        HubOptions {
            offline: is_true("HF_HUB_OFFLINE") || is_true("TRANSFORMERS_OFFLINE"),
            cache_dir: default_cache_dir(&non_empty),
            revision: None,
            token: non_empty("HF_TOKEN").map(|t| t.trim().to_string()),
            endpoint: non_empty("HF_ENDPOINT").map(|e| e.trim_end_matches('/').to_string()),
        }
    }

    /// The hub cache folder these options use.
    pub fn resolved_cache_dir(&self) -> PathBuf {
        self.cache_dir
            .clone()
            .or_else(|| default_cache_dir(&|name: &str| std::env::var(name).ok()))
            .unwrap_or_else(|| PathBuf::from(".cache/huggingface/hub"))
    }
}

fn hf_home(get: &impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    if let Some(home) = get("HF_HOME").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(home));
    }
    if let Some(xdg) = get("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(xdg).join("huggingface"));
    }
    get("HOME")
        .or_else(|| get("USERPROFILE"))
        .filter(|v| !v.is_empty())
        .map(|home| PathBuf::from(home).join(".cache").join("huggingface"))
}

fn default_cache_dir(get: &impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    if let Some(cache) = get("HF_HUB_CACHE").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(cache));
    }
    // `HUGGINGFACE_HUB_CACHE` is the older name huggingface_hub still honours.
    if let Some(cache) = get("HUGGINGFACE_HUB_CACHE").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(cache));
    }
    hf_home(get).map(|home| home.join("hub"))
}

/// A resolved model repository: asks for files by name, wherever they are.
///
/// `ModelRepo` is `Send + Sync` and cheap to clone.
#[derive(Debug, Clone)]
pub struct ModelRepo {
    source: Source,
}

#[derive(Debug, Clone)]
enum Source {
    Local(PathBuf),
    Hub(HubRepo),
}

#[derive(Debug, Clone)]
struct HubRepo {
    repo_id: String,
    revision: String,
    cache_dir: PathBuf,
    /// `<cache>/models--org--name`.
    repo_dir: PathBuf,
    offline: bool,
    #[cfg_attr(not(feature = "hub"), allow(dead_code))]
    token: Option<String>,
    #[cfg_attr(not(feature = "hub"), allow(dead_code))]
    endpoint: Option<String>,
    #[cfg(feature = "hub")]
    api: std::sync::Arc<std::sync::OnceLock<hf_hub::api::sync::Api>>,
}

impl ModelRepo {
    /// Parses `reference` and resolves it (see [`ModelRef::parse`] and [`ModelRepo::open`]).
    pub fn resolve(reference: &str, options: &HubOptions) -> Result<ModelRepo> {
        ModelRepo::open(&ModelRef::parse(reference)?, options)
    }

    /// A local folder (no check beyond existence).
    pub fn local(dir: impl Into<PathBuf>) -> Result<ModelRepo> {
        let dir = dir.into();
        if !dir.is_dir() {
            return Err(Error::InvalidModelRef {
                reference: dir.display().to_string(),
                reason: "no such folder".into(),
            });
        }
        Ok(ModelRepo {
            source: Source::Local(dir),
        })
    }

    /// Resolves a reference. A local folder needs nothing more. A Hub repository offline must
    /// already be in the cache, at the requested revision; online nothing is fetched until a file
    /// is asked for.
    pub fn open(model: &ModelRef, options: &HubOptions) -> Result<ModelRepo> {
        let (repo_id, ref_revision) = match model {
            ModelRef::Local(dir) => return ModelRepo::local(dir.clone()),
            ModelRef::Hub { repo_id, revision } => (repo_id, revision),
        };
        let revision = options
            .revision
            .clone()
            .or_else(|| ref_revision.clone())
            .unwrap_or_else(|| "main".to_string());
        validate_revision(&revision).map_err(|reason| Error::InvalidModelRef {
            reference: format!("{repo_id}@{revision}"),
            reason,
        })?;
        let cache_dir = options.resolved_cache_dir();
        let repo_dir = cache_dir.join(format!("models--{}", repo_id.replace('/', "--")));
        let repo = HubRepo {
            repo_id: repo_id.clone(),
            revision,
            cache_dir,
            repo_dir,
            offline: options.offline || !cfg!(feature = "hub"),
            token: options.token.clone(),
            endpoint: options.endpoint.clone(),
            #[cfg(feature = "hub")]
            api: Default::default(),
        };
        if repo.offline {
            if !repo.repo_dir.is_dir() {
                return Err(Error::NotCached(format!(
                    "model '{}' is not in the Hugging Face cache at '{}' and {}; run once without \
                     --offline / HF_HUB_OFFLINE to download it, set HF_HUB_CACHE or HF_HOME to \
                     the cache that has it, or pass a local folder",
                    repo.repo_id,
                    repo.cache_dir.display(),
                    repo.offline_reason()
                )));
            }
            if repo.commit().is_none() {
                let cached = repo.cached_revisions();
                return Err(Error::NotCached(format!(
                    "revision '{}' of model '{}' is not in the Hugging Face cache at '{}' \
                     (cached revisions: {}) and {}; run once without --offline / \
                     HF_HUB_OFFLINE, or ask for a cached revision with '{}@<revision>'",
                    repo.revision,
                    repo.repo_id,
                    repo.cache_dir.display(),
                    if cached.is_empty() {
                        "none".to_string()
                    } else {
                        cached.join(", ")
                    },
                    repo.offline_reason(),
                    repo.repo_id
                )));
            }
        }
        Ok(ModelRepo {
            source: Source::Hub(repo),
        })
    }

    /// The path of `filename` (a path relative to the repository root, such as
    /// `1_Pooling/config.json`), downloading it if needed and allowed. `Ok(None)` means the
    /// repository does not have that file.
    pub fn get(&self, filename: &str) -> Result<Option<PathBuf>> {
        validate_filename(filename)?;
        match &self.source {
            Source::Local(dir) => {
                let path = dir.join(filename);
                Ok(path.is_file().then_some(path))
            }
            Source::Hub(repo) => repo.get(filename),
        }
    }

    /// Like [`ModelRepo::get`], but a missing file is an error naming it and the repository.
    pub fn require(&self, filename: &str) -> Result<PathBuf> {
        self.get(filename)?
            .ok_or_else(|| self.missing(filename, String::new()))
    }

    /// The error for a file this repository lacks: that it is not cached and how to get
    /// it, when offline mode may be the cause; else that the repository has no such file.
    /// `hint`, when not empty, starts with a separator (" (expected ...)").
    pub fn missing(&self, filename: &str, hint: String) -> Error {
        match &self.source {
            Source::Hub(repo) if repo.offline && !repo.known_absent(filename) => {
                repo.not_cached(filename)
            }
            _ => Error::MissingFile {
                location: self.describe(),
                file: filename.to_string(),
                hint,
            },
        }
    }

    /// Reads and parses a JSON file of the repository, if it has one.
    pub fn read_json(&self, filename: &str) -> Result<Option<serde_json::Value>> {
        match self.get(filename)? {
            Some(path) => read_json(&path).map(Some),
            None => Ok(None),
        }
    }

    /// Where this repository is, for messages: `folder '/x'` or `model 'org/name' (revision
    /// main) in the Hugging Face cache at '/c'`.
    pub fn describe(&self) -> String {
        match &self.source {
            Source::Local(dir) => format!("folder '{}'", dir.display()),
            Source::Hub(repo) => format!(
                "model '{}' (revision {}) in the Hugging Face cache at '{}'",
                repo.repo_id,
                repo.revision,
                repo.cache_dir.display()
            ),
        }
    }

    /// A short name: the folder path or the Hub id.
    pub fn name(&self) -> String {
        match &self.source {
            Source::Local(dir) => dir.display().to_string(),
            Source::Hub(repo) => repo.repo_id.clone(),
        }
    }

    /// The local folder, when the repository is one.
    pub fn local_dir(&self) -> Option<&Path> {
        match &self.source {
            Source::Local(dir) => Some(dir),
            Source::Hub(_) => None,
        }
    }
}

/// Reads and parses a JSON file, naming it in errors.
pub(crate) fn read_json(path: &Path) -> Result<serde_json::Value> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text).map_err(|source| Error::Json {
        path: path.to_path_buf(),
        source,
    })
}

fn validate_filename(filename: &str) -> Result<()> {
    let path = Path::new(filename);
    if filename.is_empty()
        || path.is_absolute()
        || path
            .components()
            .any(|c| !matches!(c, Component::Normal(_)))
    {
        return Err(Error::Tokenize(format!(
            "'{filename}' is not a file name inside a model repository"
        )));
    }
    Ok(())
}

impl HubRepo {
    /// The commit the revision points to in the cache: the revision itself when it is a commit
    /// hash, else the content of `refs/{revision}`. Read at each call, so that a download that
    /// moved the ref is seen.
    fn commit(&self) -> Option<String> {
        if is_commit_hash(&self.revision) {
            return Some(self.revision.clone());
        }
        let text = std::fs::read_to_string(self.repo_dir.join("refs").join(&self.revision)).ok()?;
        let commit = text.trim();
        (!commit.is_empty()).then(|| commit.to_string())
    }

    fn cached_revisions(&self) -> Vec<String> {
        let mut revisions = Vec::new();
        collect_refs(&self.repo_dir.join("refs"), "", &mut revisions);
        if let Ok(entries) = std::fs::read_dir(self.repo_dir.join("snapshots")) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if is_commit_hash(&name) {
                    revisions.push(name);
                }
            }
        }
        revisions.sort();
        revisions
    }

    fn offline_reason(&self) -> &'static str {
        if cfg!(feature = "hub") {
            "the network is off (--offline or HF_HUB_OFFLINE)"
        } else {
            "this build of ptm has no Hub support (built without the `hub` feature)"
        }
    }

    /// Whether the Hub said `filename` does not exist (huggingface_hub's `.no_exist` marker).
    fn known_absent(&self, filename: &str) -> bool {
        self.commit().is_some_and(|commit| {
            self.repo_dir
                .join(".no_exist")
                .join(commit)
                .join(filename)
                .exists()
        })
    }

    /// Why `filename` cannot be had offline, and what to do.
    fn not_cached(&self, filename: &str) -> Error {
        Error::NotCached(format!(
            "'{filename}' of model '{}' (revision {}) is not in the Hugging Face cache at \
             '{}' and {}; run once without --offline / HF_HUB_OFFLINE to download it, or \
             pass a local folder that has it",
            self.repo_id,
            self.revision,
            self.cache_dir.display(),
            self.offline_reason()
        ))
    }

    fn get(&self, filename: &str) -> Result<Option<PathBuf>> {
        let commit = self.commit();
        if let Some(commit) = &commit {
            let path = self.repo_dir.join("snapshots").join(commit).join(filename);
            // `is_file` follows the symlink into blobs/; a dangling link counts as absent.
            if path.is_file() {
                return Ok(Some(path));
            }
            // huggingface_hub leaves these markers after the Hub answered 404; trusting them
            // spares a request per optional file.
            if self.known_absent(filename) {
                return Ok(None);
            }
        }
        if self.offline {
            // Offline, a file absent from a cached snapshot is taken as absent, as
            // transformers does for optional files; `require` turns it into `not_cached`.
            return match commit {
                Some(_) => Ok(None),
                None => Err(self.not_cached(filename)),
            };
        }
        self.download(filename)
    }

    #[cfg(not(feature = "hub"))]
    fn download(&self, _filename: &str) -> Result<Option<PathBuf>> {
        unreachable!("repositories are always offline without the `hub` feature")
    }

    #[cfg(feature = "hub")]
    fn download(&self, filename: &str) -> Result<Option<PathBuf>> {
        use hf_hub::api::sync::{ApiBuilder, ApiError};
        use hf_hub::{Cache, Repo, RepoType};

        let api = match self.api.get() {
            Some(api) => api,
            None => {
                // `ApiBuilder::from_cache` rather than `new`: the latter panics without a home
                // folder. The progress bar draws on stderr.
                let mut builder = ApiBuilder::from_cache(Cache::new(self.cache_dir.clone()))
                    .with_token(self.token.clone())
                    .with_progress(true);
                if let Some(endpoint) = &self.endpoint {
                    builder = builder.with_endpoint(endpoint.clone());
                }
                let api = builder.build().map_err(|e| {
                    Error::Hub(format!("could not set up the Hugging Face Hub client: {e}"))
                })?;
                let _ = self.api.set(api);
                self.api.get().expect("set just above")
            }
        };
        let repo = api.repo(Repo::with_revision(
            self.repo_id.clone(),
            RepoType::Model,
            self.revision.clone(),
        ));
        let err = match repo.download(filename) {
            Ok(path) => return Ok(Some(path)),
            Err(err) => err,
        };
        let what = format!(
            "'{filename}' of model '{}' (revision {})",
            self.repo_id, self.revision
        );
        let ApiError::RequestError(request_error) = &err else {
            return Err(Error::Hub(format!(
                "could not download {what} into '{}': {err}",
                self.cache_dir.display()
            )));
        };
        match request_error.as_ref() {
            ureq_error @ ureq::Error::Status(status, response) => {
                let code = response.header("x-error-code").unwrap_or("").to_string();
                match (*status, code.as_str()) {
                    (_, "RepoNotFound") | (401, _) | (403, _) => Err(Error::Hub(format!(
                        "model '{}' is not on the Hugging Face Hub, or it is private or gated \
                         ({ureq_error}); check the id, set HF_TOKEN to a token that can read \
                         it, or pass a local folder",
                        self.repo_id
                    ))),
                    (_, "RevisionNotFound") => Err(Error::Hub(format!(
                        "model '{}' has no revision '{}' on the Hugging Face Hub",
                        self.repo_id, self.revision
                    ))),
                    (404, _) => {
                        self.mark_absent(response.header("x-repo-commit"), filename);
                        Ok(None)
                    }
                    _ => Err(Error::Hub(format!(
                        "the Hugging Face Hub refused {what}: {ureq_error}"
                    ))),
                }
            }
            transport => Err(Error::Hub(format!(
                "could not reach the Hugging Face Hub to download {what}: {transport}; check the \
                 network, or run with --offline / HF_HUB_OFFLINE=1 if the model is already in \
                 the cache at '{}', or pass a local folder",
                self.cache_dir.display()
            ))),
        }
    }

    /// Records a 404 as huggingface_hub does, so later offline runs know the file is absent.
    #[cfg(feature = "hub")]
    fn mark_absent(&self, commit: Option<&str>, filename: &str) {
        let Some(commit) = commit.filter(|c| is_commit_hash(c)) else {
            return;
        };
        let marker = self.repo_dir.join(".no_exist").join(commit).join(filename);
        if let Some(parent) = marker.parent() {
            // Best effort: a read-only cache only costs a request next time.
            let _ = std::fs::create_dir_all(parent).and_then(|_| std::fs::write(&marker, b""));
        }
        if !is_commit_hash(&self.revision) {
            let ref_path = self.repo_dir.join("refs").join(&self.revision);
            if !ref_path.exists() {
                if let Some(parent) = ref_path.parent() {
                    let _ = std::fs::create_dir_all(parent)
                        .and_then(|_| std::fs::write(&ref_path, commit));
                }
            }
        }
    }
}

fn collect_refs(dir: &Path, prefix: &str, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
        if entry.path().is_dir() {
            collect_refs(&entry.path(), &format!("{name}/"), out);
        } else {
            out.push(name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hub_ids() {
        let cases = [
            ("bert-base-uncased", "bert-base-uncased", None),
            ("org/name", "org/name", None),
            ("org/name@main", "org/name", Some("main")),
            ("org/na_me.v2@refs/pr/1", "org/na_me.v2", Some("refs/pr/1")),
        ];
        for (input, id, rev) in cases {
            assert_eq!(
                ModelRef::parse(input).unwrap(),
                ModelRef::Hub {
                    repo_id: id.into(),
                    revision: rev.map(Into::into)
                },
                "{input}"
            );
        }
    }

    #[test]
    fn rejects_malformed_ids() {
        let cases = [
            ("", "empty"),
            ("org/", "empty organisation"),
            ("/org", "no such folder"),
            ("a/b/c", "no such folder"),
            ("org/na me", "not allowed"),
            ("org/na--me", "'--'"),
            ("org/name.", "start or end"),
            ("org/name@", "empty revision"),
            ("org/name@../x", "not a valid revision"),
            ("./missing-folder", "no such folder"),
        ];
        for (input, expected) in cases {
            let message = ModelRef::parse(input).unwrap_err().to_string();
            assert!(message.contains(expected), "{input}: {message}");
            assert!(message.contains("org/name@revision"), "{message}");
        }
    }

    #[test]
    fn existing_folder_is_local() {
        let dir = tempfile::tempdir().unwrap();
        let reference = dir.path().to_str().unwrap();
        assert_eq!(
            ModelRef::parse(reference).unwrap(),
            ModelRef::Local(dir.path().to_path_buf())
        );
        std::fs::write(dir.path().join("config.json"), "{}").unwrap();
        let file = dir.path().join("config.json");
        let message = ModelRef::parse(file.to_str().unwrap())
            .unwrap_err()
            .to_string();
        assert!(message.contains("it is a file"), "{message}");
    }

    fn vars<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn cache_dir_precedence() {
        type Env<'a> = &'a [(&'a str, &'a str)];
        let cases: &[(Env, Option<&str>)] = &[
            (&[], None),
            (&[("HOME", "/h")], Some("/h/.cache/huggingface/hub")),
            (
                &[("HOME", "/h"), ("XDG_CACHE_HOME", "/x")],
                Some("/x/huggingface/hub"),
            ),
            (
                &[("HOME", "/h"), ("XDG_CACHE_HOME", "/x"), ("HF_HOME", "/hf")],
                Some("/hf/hub"),
            ),
            (
                &[("HF_HOME", "/hf"), ("HF_HUB_CACHE", "/cache")],
                Some("/cache"),
            ),
            (
                &[("HF_HOME", ""), ("HOME", "/h")],
                Some("/h/.cache/huggingface/hub"),
            ),
        ];
        for (env, expected) in cases {
            let options = HubOptions::from_vars(vars(env));
            assert_eq!(options.cache_dir, expected.map(PathBuf::from), "{env:?}");
        }
    }

    #[test]
    fn offline_and_token_from_vars() {
        for value in ["1", "true", "YES", "on", " True "] {
            assert!(HubOptions::from_vars(vars(&[("HF_HUB_OFFLINE", value)])).offline);
        }
        for value in ["0", "false", "", "off", "no"] {
            assert!(!HubOptions::from_vars(vars(&[("HF_HUB_OFFLINE", value)])).offline);
        }
        assert!(HubOptions::from_vars(vars(&[("TRANSFORMERS_OFFLINE", "1")])).offline);
        let options = HubOptions::from_vars(vars(&[
            ("HF_TOKEN", "hf_abc\n"),
            ("HF_ENDPOINT", "https://mirror.example/"),
        ]));
        assert_eq!(options.token.as_deref(), Some("hf_abc"));
        assert_eq!(options.endpoint.as_deref(), Some("https://mirror.example"));
        assert_eq!(HubOptions::from_vars(vars(&[])).token, None);
    }

    #[test]
    fn commit_hash_detection() {
        assert!(is_commit_hash("0123456789abcdef0123456789abcdef01234567"));
        assert!(!is_commit_hash("main"));
        assert!(!is_commit_hash("0123456789abcdef0123456789abcdef0123456"));
        assert!(!is_commit_hash("0123456789abcdef0123456789abcdef0123456g"));
    }

    #[test]
    fn local_folder_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), "{}").unwrap();
        std::fs::create_dir(dir.path().join("1_Pooling")).unwrap();
        std::fs::write(dir.path().join("1_Pooling/config.json"), "{}").unwrap();
        let repo =
            ModelRepo::resolve(dir.path().to_str().unwrap(), &HubOptions::default()).unwrap();
        assert_eq!(
            repo.get("config.json").unwrap(),
            Some(dir.path().join("config.json"))
        );
        assert!(repo.get("1_Pooling/config.json").unwrap().is_some());
        assert_eq!(repo.get("model.safetensors").unwrap(), None);
        let message = repo.require("model.safetensors").unwrap_err().to_string();
        assert!(message.contains("has no model.safetensors"), "{message}");
        assert!(
            message.contains(&dir.path().display().to_string()),
            "{message}"
        );
        assert!(repo.get("../etc/passwd").is_err());
        assert!(repo.get("/etc/passwd").is_err());
    }
}
