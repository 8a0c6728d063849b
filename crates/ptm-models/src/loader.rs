//! Weight loading: safetensors (memory-mapped, single or sharded) and PyTorch `.bin`,
//! with the name mapping every Hugging Face checkpoint needs and a load report.
//!
//! Architectures ask for tensors by their Hugging Face names through a `VarBuilder`
//! (`vb.pp("attention").pp("self")`); this module is the backend behind that builder.
//! The only name rewrites, tried in order when the exact name is absent:
//!
//! | asked for                    | also tried                     | why                                   |
//! |------------------------------|--------------------------------|---------------------------------------|
//! | `bert.encoder…` (head model) | `encoder…`                     | checkpoint saved from the base model  |
//! | `encoder…` (base model)      | `bert.encoder…`                | checkpoint saved from a head model    |
//! | `….LayerNorm.weight` / `bias`| `….LayerNorm.gamma` / `beta`   | TF-era checkpoints                    |
//!
//! Tensors asked for but absent are initialised (as transformers does for new heads)
//! and listed in the report as missing; tensors present but never asked for are listed
//! as unexpected, except known buffers and tied copies, which are ignored quietly.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{Init, VarBuilder};

use crate::error::{Error, Result};

/// The weight files of a checkpoint, in the order transformers looks for them.
pub const WEIGHT_FILES: &[&str] = &[
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
];

enum Store {
    /// One memory map per shard; `shapes` routes each name to its shard.
    Safetensors(Vec<candle_core::safetensors::MmapedSafetensors>),
    Pth(Vec<candle_core::pickle::PthTensors>),
}

/// An opened checkpoint: names and shapes known, tensor data read on demand.
pub struct Checkpoint {
    store: Store,
    /// Every tensor name → (index of the file holding it, shape).
    shapes: HashMap<String, (usize, Vec<usize>)>,
    files: Vec<PathBuf>,
}

impl Checkpoint {
    /// Opens the weights in a checkpoint folder, looking for the files of [`WEIGHT_FILES`].
    pub fn from_dir(dir: &Path) -> Result<Self> {
        for name in WEIGHT_FILES {
            let path = dir.join(name);
            if path.is_file() {
                return Self::open(&path);
            }
        }
        Err(Error::WeightsFile {
            path: dir.to_path_buf(),
            reason: format!(
                "no weights found: expected one of {} in the folder",
                WEIGHT_FILES.join(", ")
            ),
        })
    }

    /// Opens a weights file: `*.safetensors`, `*.bin`, or a `*.index.json` naming shards
    /// that lie beside it.
    pub fn open(path: &Path) -> Result<Self> {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let files = if name.ends_with(".index.json") {
            shard_files(path)?
        } else {
            vec![path.to_path_buf()]
        };
        Self::open_files(&files)
    }

    /// Opens an explicit list of weight files of one format (the shards of one checkpoint).
    pub fn open_files(files: &[PathBuf]) -> Result<Self> {
        let Some(first) = files.first() else {
            return Err(Error::Config("no weight files given".into()));
        };
        let is_safetensors = first.extension().is_some_and(|e| e == "safetensors");
        let mut shapes = HashMap::new();
        let store = if is_safetensors {
            let mut maps = Vec::with_capacity(files.len());
            for (i, f) in files.iter().enumerate() {
                check_readable(f)?;
                // SAFETY: the file is mapped read-only; like every mmap-based loader we rely
                // on nobody truncating it while the model is alive.
                let st = unsafe { candle_core::safetensors::MmapedSafetensors::new(f) }
                    .map_err(|e| weights_error(std::slice::from_ref(f), &e))?;
                for (name, view) in st.tensors() {
                    shapes.insert(name, (i, view.shape().to_vec()));
                }
                maps.push(st);
            }
            Store::Safetensors(maps)
        } else {
            let mut pths = Vec::with_capacity(files.len());
            for (i, f) in files.iter().enumerate() {
                check_readable(f)?;
                let pth = candle_core::pickle::PthTensors::new(f, None)
                    .map_err(|e| weights_error(std::slice::from_ref(f), &e))?;
                for (name, info) in pth.tensor_infos() {
                    shapes.insert(name.clone(), (i, info.layout.shape().dims().to_vec()));
                }
                pths.push(pth);
            }
            Store::Pth(pths)
        };
        Ok(Self {
            store,
            shapes,
            files: files.to_vec(),
        })
    }

    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    pub fn contains(&self, name: &str) -> bool {
        self.shapes.contains_key(name)
    }

    pub fn shape(&self, name: &str) -> Option<&[usize]> {
        self.shapes.get(name).map(|(_, s)| s.as_slice())
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.shapes.keys().map(|s| s.as_str())
    }

    /// Reads one tensor in its on-disk dtype.
    pub fn load(&self, name: &str, device: &Device) -> Result<Tensor> {
        let Some((file, _)) = self.shapes.get(name) else {
            return Err(Error::Config(format!(
                "tensor '{name}' is not in the checkpoint"
            )));
        };
        let path = &self.files[*file];
        let t = match &self.store {
            Store::Safetensors(maps) => maps[*file].load(name, device),
            Store::Pth(pths) => match pths[*file].get(name) {
                Ok(Some(t)) => t.to_device(device),
                Ok(None) => Err(candle_core::Error::Msg(format!("tensor '{name}' vanished"))),
                Err(e) => Err(e),
            },
        };
        t.map_err(|e| Error::WeightsFile {
            path: path.clone(),
            reason: format!(
                "tensor '{name}' cannot be read ({e}); the file may be truncated or corrupt — \
                 download it again"
            ),
        })
    }
}

fn check_readable(path: &Path) -> Result<()> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => Ok(()),
        Ok(_) => Err(Error::WeightsFile {
            path: path.to_path_buf(),
            reason: "not a regular file".into(),
        }),
        Err(source) => Err(Error::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn weights_error(files: &[PathBuf], err: &candle_core::Error) -> Error {
    let path = if files.len() == 1 {
        files[0].clone()
    } else {
        files
            .first()
            .and_then(|f| f.parent())
            .unwrap_or(Path::new("."))
            .to_path_buf()
    };
    Error::WeightsFile {
        path,
        reason: format!(
            "{err}; the file is not a valid weights file (truncated or corrupt download?) — \
             download it again"
        ),
    }
}

/// The distinct shard files named by a `*.index.json`, resolved beside it.
fn shard_files(index: &Path) -> Result<Vec<PathBuf>> {
    let text = std::fs::read_to_string(index).map_err(|source| Error::Io {
        path: index.to_path_buf(),
        source,
    })?;
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::WeightsFile {
        path: index.to_path_buf(),
        reason: format!("not valid JSON: {e}"),
    })?;
    let map = json
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| Error::WeightsFile {
            path: index.to_path_buf(),
            reason: "has no \"weight_map\" object".into(),
        })?;
    let dir = index.parent().unwrap_or(Path::new("."));
    let mut names = BTreeSet::new();
    for v in map.values() {
        let f = v.as_str().ok_or_else(|| Error::WeightsFile {
            path: index.to_path_buf(),
            reason: "\"weight_map\" values must be file names".into(),
        })?;
        names.insert(f.to_string());
    }
    Ok(names.into_iter().map(|n| dir.join(n)).collect())
}

/// What loading found, as transformers reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Tensors the model needed that the checkpoint lacks: initialised afresh.
    pub missing: Vec<String>,
    /// Tensors in the checkpoint the model never used (known buffers excluded).
    pub unexpected: Vec<String>,
}

impl LoadReport {
    /// Human-readable warnings, one per line, or nothing when the load was clean.
    pub fn warnings(&self, model: &str) -> Vec<String> {
        let mut out = Vec::new();
        if !self.missing.is_empty() {
            out.push(format!(
                "some weights of {model} were not in the checkpoint and are newly initialised: \
                 [{}]; train the model on a downstream task before using its predictions",
                self.missing.join(", ")
            ));
        }
        if !self.unexpected.is_empty() {
            out.push(format!(
                "some weights of the checkpoint were not used by {model}: [{}]; this is expected \
                 when loading a model with a different head (e.g. a pre-training checkpoint)",
                self.unexpected.join(", ")
            ));
        }
        out
    }
}

/// Names a model may find in a checkpoint without using them: buffers transformers
/// saves (`position_ids`) and copies of tied weights.
fn ignorable(name: &str, tied: bool) -> bool {
    if name.ends_with("position_ids") || name.ends_with("embeddings.token_type_ids") {
        return true;
    }
    tied && [
        "cls.predictions.decoder.weight",
        "cls.predictions.decoder.bias",
        "lm_head.decoder.weight",
        "lm_head.decoder.bias",
        "vocab_projector.weight",
        "predictions.decoder.weight",
        "predictions.decoder.bias",
        "generator_lm_head.weight",
    ]
    .iter()
    .any(|t| name == *t || name.ends_with(&format!(".{t}")))
}

struct Tracked {
    ckpt: std::sync::Arc<Checkpoint>,
    prefix: String,
    used: Mutex<BTreeSet<String>>,
    missing: Mutex<Vec<String>>,
}

impl Tracked {
    /// The checkpoint name holding `name`, per the table in the module docs.
    fn resolve(&self, name: &str) -> Option<String> {
        let p = format!("{}.", self.prefix);
        let mut candidates = vec![name.to_string()];
        match name.strip_prefix(&p) {
            Some(stripped) => candidates.push(stripped.to_string()),
            None => candidates.push(format!("{p}{name}")),
        }
        for c in candidates {
            if self.ckpt.contains(&c) {
                return Some(c);
            }
            let legacy = if let Some(stem) = c.strip_suffix(".weight") {
                format!("{stem}.gamma")
            } else if let Some(stem) = c.strip_suffix(".bias") {
                format!("{stem}.beta")
            } else {
                continue;
            };
            if self.ckpt.contains(&legacy) {
                return Some(legacy);
            }
        }
        None
    }

    fn fetch(&self, name: &str, dtype: DType, dev: &Device) -> candle_core::Result<Option<Tensor>> {
        let Some(found) = self.resolve(name) else {
            return Ok(None);
        };
        let t = self
            .ckpt
            .load(&found, dev)
            .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
        self.used.lock().expect("load report lock").insert(found);
        Ok(Some(t.to_dtype(dtype)?))
    }
}

impl SimpleBackend for Tracked {
    fn get(
        &self,
        s: Shape,
        name: &str,
        init: Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        match self.fetch(name, dtype, dev)? {
            Some(t) => {
                if t.shape() != &s {
                    // Carried through candle's error as a tagged message, turned back into
                    // `Error::ShapeMismatch` by `load_with`.
                    return Err(candle_core::Error::Msg(format!(
                        "{SHAPE_TAG}{name}\u{1f}{:?}\u{1f}{:?}",
                        s.dims(),
                        t.dims()
                    )));
                }
                Ok(t)
            }
            None => {
                self.missing
                    .lock()
                    .expect("load report lock")
                    .push(name.to_string());
                Ok(init.var(s, dtype, dev)?.as_tensor().clone())
            }
        }
    }

    fn get_unchecked(&self, name: &str, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        self.fetch(name, dtype, dev)?.ok_or_else(|| {
            candle_core::Error::Msg(format!("tensor '{name}' is not in the checkpoint"))
        })
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.resolve(name).is_some()
    }
}

const SHAPE_TAG: &str = "\u{1e}shape-mismatch\u{1e}";

/// Where and how to materialise the weights.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    pub dtype: DType,
    pub device: Device,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            dtype: DType::F32,
            device: Device::Cpu,
        }
    }
}

/// Builds a model from a checkpoint through `build`, which receives a `VarBuilder`
/// rooted at the checkpoint, and returns it with the load report.
///
/// `prefix` is the base-model prefix (`bert`); `tied` says whether decoder weights are
/// tied to the embeddings (their stored copies are then ignored quietly); `base_names`
/// selects the names whose absence means the checkpoint is the wrong one.
pub fn load_with<M>(
    ckpt: std::sync::Arc<Checkpoint>,
    prefix: &str,
    tied: bool,
    opts: &LoadOptions,
    build: impl FnOnce(VarBuilder) -> candle_core::Result<M>,
) -> Result<(M, LoadReport)> {
    let tracked = std::sync::Arc::new(Tracked {
        ckpt: ckpt.clone(),
        prefix: prefix.to_string(),
        used: Mutex::new(BTreeSet::new()),
        missing: Mutex::new(Vec::new()),
    });
    let vb = VarBuilder::from_backend(
        Box::new(SharedBackend(tracked.clone())),
        opts.dtype,
        opts.device.clone(),
    );
    let model = build(vb).map_err(|e| {
        let msg = e.to_string();
        match msg.find(SHAPE_TAG) {
            Some(at) => {
                let mut parts = msg[at + SHAPE_TAG.len()..].split('\u{1f}');
                let name = parts.next().unwrap_or("").to_string();
                let expected = parse_dims(parts.next().unwrap_or(""));
                let found = parse_dims(parts.next().unwrap_or(""));
                Error::ShapeMismatch {
                    name,
                    expected,
                    found,
                }
            }
            None => Error::Candle(e),
        }
    })?;
    let used = tracked.used.lock().expect("load report lock").clone();
    let missing = tracked.missing.lock().expect("load report lock").clone();
    let mut unexpected: Vec<String> = ckpt
        .names()
        .filter(|n| !used.contains(*n) && !ignorable(n, tied))
        .map(str::to_string)
        .collect();
    unexpected.sort();
    if !used.is_empty() || missing.is_empty() {
        return Ok((
            model,
            LoadReport {
                missing,
                unexpected,
            },
        ));
    }
    Err(Error::WrongCheckpoint(format!(
        "none of the {} weights the model needs were found in {} (it holds {} tensors, e.g. {}): \
         the checkpoint is for another architecture than config.json says",
        missing.len(),
        ckpt.files()
            .first()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        ckpt.shapes.len(),
        unexpected
            .iter()
            .take(3)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    )))
}

fn parse_dims(s: &str) -> Vec<usize> {
    s.trim_matches(|c| c == '[' || c == ']')
        .split(',')
        .filter_map(|d| d.trim().parse().ok())
        .collect()
}

/// Lets the `VarBuilder` own a handle while `load_with` keeps another to read the report.
struct SharedBackend(std::sync::Arc<Tracked>);

impl SimpleBackend for SharedBackend {
    fn get(
        &self,
        s: Shape,
        name: &str,
        h: Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        self.0.get(s, name, h, dtype, dev)
    }
    fn get_unchecked(&self, name: &str, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        self.0.get_unchecked(name, dtype, dev)
    }
    fn contains_tensor(&self, name: &str) -> bool {
        self.0.contains_tensor(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_st(dir: &Path, tensors: &[(&str, Tensor)]) -> PathBuf {
        let path = dir.join("model.safetensors");
        let map: HashMap<String, Tensor> = tensors
            .iter()
            .map(|(n, t)| (n.to_string(), t.clone()))
            .collect();
        candle_core::safetensors::save(&map, &path).unwrap();
        path
    }

    fn t(shape: &[usize]) -> Tensor {
        Tensor::ones(shape, DType::F32, &Device::Cpu).unwrap()
    }

    #[test]
    fn prefix_and_legacy_names_resolve_and_unused_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        write_st(
            dir.path(),
            &[
                ("bert.dense.weight", t(&[2, 3])),
                ("bert.norm.gamma", t(&[2])),
                ("bert.embeddings.position_ids", t(&[1, 4])),
                ("cls.other.weight", t(&[2])),
            ],
        );
        let ckpt = std::sync::Arc::new(Checkpoint::from_dir(dir.path()).unwrap());
        let ((w, g, fresh), report) =
            load_with(ckpt, "bert", true, &LoadOptions::default(), |vb| {
                Ok((
                    vb.get((2, 3), "dense.weight")?,
                    vb.get(2, "norm.weight")?,
                    vb.get_with_hints(5, "head.bias", Init::Const(0.5))?,
                ))
            })
            .unwrap();
        assert_eq!(w.dims(), &[2, 3]);
        assert_eq!(g.dims(), &[2]);
        assert_eq!(fresh.to_vec1::<f32>().unwrap(), vec![0.5; 5]);
        assert_eq!(report.missing, vec!["head.bias"]);
        assert_eq!(report.unexpected, vec!["cls.other.weight"]);
    }

    #[test]
    fn shape_mismatch_names_tensor_and_both_shapes() {
        let dir = tempfile::tempdir().unwrap();
        write_st(dir.path(), &[("dense.weight", t(&[2, 3]))]);
        let ckpt = std::sync::Arc::new(Checkpoint::from_dir(dir.path()).unwrap());
        let err = load_with(ckpt, "bert", true, &LoadOptions::default(), |vb| {
            vb.get((4, 3), "dense.weight")
        })
        .unwrap_err();
        match err {
            Error::ShapeMismatch {
                name,
                expected,
                found,
            } => {
                assert_eq!(name, "dense.weight");
                assert_eq!(expected, vec![4, 3]);
                assert_eq!(found, vec![2, 3]);
            }
            other => panic!("unexpected error {other}"),
        }
    }

    #[test]
    fn truncated_safetensors_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_st(dir.path(), &[("dense.weight", t(&[64, 64]))]);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        let err = Checkpoint::from_dir(dir.path()).err().expect("must fail");
        let msg = err.to_string();
        assert!(
            msg.contains("model.safetensors") && msg.contains("download it again"),
            "{msg}"
        );
    }

    #[test]
    fn missing_weights_file_lists_expected_names() {
        let dir = tempfile::tempdir().unwrap();
        let err = Checkpoint::from_dir(dir.path()).err().expect("must fail");
        assert!(err.to_string().contains("model.safetensors"), "{err}");
    }

    #[test]
    fn a_checkpoint_of_another_model_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        write_st(dir.path(), &[("transformer.h.0.attn.weight", t(&[2]))]);
        let ckpt = std::sync::Arc::new(Checkpoint::from_dir(dir.path()).unwrap());
        let err = load_with(ckpt, "bert", true, &LoadOptions::default(), |vb| {
            vb.get(2, "dense.weight")
        })
        .unwrap_err();
        assert!(err.to_string().contains("another architecture"), "{err}");
    }
}
