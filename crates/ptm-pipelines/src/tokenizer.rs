//! Tokenizers loaded as transformers' `AutoTokenizer` (fast) loads them, and batch encoding with
//! character offsets.
//!
//! A checkpoint's tokenizer comes from, in order of preference:
//! 1. `tokenizer.json` (any tokenizer the `tokenizers` library can describe);
//! 2. `vocab.txt` (+ `tokenizer_config.json`): WordPiece as `BertTokenizerFast` builds it from the
//!    slow tokenizer (BertNormalizer, BertPreTokenizer, `[CLS] $A [SEP]` / `[CLS] $A [SEP] $B [SEP]`
//!    with type ids 0/1, WordPiece decoder with `##`);
//! 3. `vocab.json` + `merges.txt`: byte-level BPE as `RobertaTokenizerFast` (RobertaProcessing
//!    `<s> $A </s>` / `<s> $A </s></s> $B </s>`, trimmed offsets) or `GPT2TokenizerFast` (no
//!    special tokens added) builds it.
//!
//! Special tokens are named in `special_tokens_map.json`, then `tokenizer_config.json`, then by
//! the tokenizer family's defaults (`[MASK]`, `<mask>`, ...) when the vocabulary has them.
//!
//! Padding and truncation stored in a `tokenizer.json` are dropped at load: pipelines pad their
//! batches themselves and ask for truncation explicitly through [`EncodeOptions`].
//! (all-MiniLM-L6-v2 ships fixed padding to 128, which would otherwise pad every input.)

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokenizers::decoders::wordpiece::WordPiece as WordPieceDecoder;
use tokenizers::models::bpe::BPE;
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::bert::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::processors::bert::BertProcessing;
use tokenizers::processors::roberta::RobertaProcessing;
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{
    AddedToken, EncodeInput, NormalizerWrapper, PostProcessor, PostProcessorWrapper,
    PreTokenizerWrapper, TruncationDirection, TruncationParams,
};

use crate::error::{Error, Result};
use crate::hub::{read_json, ModelRepo};

/// One input of a batch: a text, or a pair of texts (question and context, premise and
/// hypothesis).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextInput {
    Single(String),
    Pair(String, String),
}

impl From<&str> for TextInput {
    fn from(text: &str) -> Self {
        TextInput::Single(text.to_string())
    }
}

impl From<String> for TextInput {
    fn from(text: String) -> Self {
        TextInput::Single(text)
    }
}

impl<A: Into<String>, B: Into<String>> From<(A, B)> for TextInput {
    fn from((a, b): (A, B)) -> Self {
        TextInput::Pair(a.into(), b.into())
    }
}

/// Which sequence loses tokens when an input is longer than `max_length` (transformers'
/// `truncation=` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TruncationStrategy {
    /// Remove tokens from the longer sequence of a pair, one at a time.
    LongestFirst,
    OnlyFirst,
    OnlySecond,
    /// Never truncate (the default, as in transformers).
    #[default]
    DoNotTruncate,
}

/// Encoding options, with transformers' defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeOptions {
    /// Add `[CLS]`/`[SEP]` (or `<s>`/`</s>`) as the tokenizer's post-processor says. Default true.
    pub add_special_tokens: bool,
    /// Maximum length in tokens, special tokens included. `None` with truncation on means the
    /// tokenizer's `model_max_length`; if that is unknown too, nothing is truncated.
    pub max_length: Option<usize>,
    pub truncation: TruncationStrategy,
    /// Tokens shared by consecutive overflowing windows.
    pub stride: usize,
    /// Keep the windows cut off by truncation in [`Encoding::overflowing`].
    pub return_overflowing: bool,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        EncodeOptions {
            add_special_tokens: true,
            max_length: None,
            truncation: TruncationStrategy::DoNotTruncate,
            stride: 0,
            return_overflowing: false,
        }
    }
}

/// One encoded input. All vectors have one entry per token.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Encoding {
    pub ids: Vec<u32>,
    /// The token strings as `tokenizers` gives them; for added tokens with `lstrip`/`rstrip`
    /// (RoBERTa's `<mask>`) they include the stripped space. Use `id_to_token` for the
    /// vocabulary's spelling.
    pub tokens: Vec<String>,
    /// Segment ids: 0 for the first sequence, 1 for the second (BERT-style tokenizers).
    pub type_ids: Vec<u32>,
    /// All ones (no padding is applied here).
    pub attention_mask: Vec<u32>,
    /// 1 for tokens added by the post-processor (`[CLS]`, `[SEP]`, ...).
    pub special_tokens_mask: Vec<u32>,
    /// `(start, end)` in characters (not bytes) of the sequence the token came from (see
    /// `sequence_ids`); `(0, 0)` for special tokens.
    pub offsets: Vec<(usize, usize)>,
    /// Index of the pre-tokenized word a token belongs to; `None` for special tokens.
    pub word_ids: Vec<Option<u32>>,
    /// 0 or 1: which text of the input a token came from; `None` for special tokens.
    pub sequence_ids: Vec<Option<usize>>,
    /// The windows that truncation cut off, each a full encoding (with special tokens), when
    /// [`EncodeOptions::return_overflowing`] is set.
    pub overflowing: Vec<Encoding>,
}

impl Encoding {
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    fn from_tk(encoding: &tokenizers::Encoding, with_overflowing: bool) -> Encoding {
        Encoding {
            ids: encoding.get_ids().to_vec(),
            tokens: encoding.get_tokens().to_vec(),
            type_ids: encoding.get_type_ids().to_vec(),
            attention_mask: encoding.get_attention_mask().to_vec(),
            special_tokens_mask: encoding.get_special_tokens_mask().to_vec(),
            offsets: encoding.get_offsets().to_vec(),
            word_ids: encoding.get_word_ids().to_vec(),
            sequence_ids: encoding.get_sequence_ids(),
            overflowing: if with_overflowing {
                encoding
                    .get_overflowing()
                    .iter()
                    .map(|o| Encoding::from_tk(o, false))
                    .collect()
            } else {
                Vec::new()
            },
        }
    }
}

/// The special tokens of a tokenizer, by role; `None` where it has none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpecialTokens {
    pub unk: Option<String>,
    pub cls: Option<String>,
    pub sep: Option<String>,
    pub pad: Option<String>,
    pub mask: Option<String>,
    pub bos: Option<String>,
    pub eos: Option<String>,
    pub additional: Vec<String>,
}

/// ptm's tokenizer: a `tokenizers::Tokenizer` without stored padding or truncation, the special
/// tokens by role, and `model_max_length`.
///
/// `Tokenizer` is `Send + Sync`; encoding takes `&self`. Truncation settings live in the inner
/// tokenizer in the `tokenizers` crate, so each distinct `(max_length, strategy, stride)` gets one
/// configured copy, made on first use and kept (a pipeline uses one or two).
#[derive(Debug)]
pub struct Tokenizer {
    inner: Arc<tokenizers::Tokenizer>,
    special: SpecialTokens,
    model_max_length: Option<usize>,
    clean_up_tokenization_spaces: bool,
    location: String,
    truncating: Mutex<Vec<(TruncationKey, Arc<tokenizers::Tokenizer>)>>,
}

type TruncationKey = (usize, TruncationStrategy, usize);

impl Clone for Tokenizer {
    fn clone(&self) -> Self {
        Tokenizer {
            inner: self.inner.clone(),
            special: self.special.clone(),
            model_max_length: self.model_max_length,
            clean_up_tokenization_spaces: self.clean_up_tokenization_spaces,
            location: self.location.clone(),
            truncating: Mutex::new(Vec::new()),
        }
    }
}

/// The tokenizer family, which decides default special tokens and, for BPE, the post-processor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Bert,
    Roberta,
    Gpt2,
    Albert,
    Unknown,
}

impl Family {
    fn detect(tokenizer_class: Option<&str>, model_type: Option<&str>) -> Family {
        if let Some(class) = tokenizer_class {
            let class = class.trim_end_matches("Fast").to_ascii_lowercase();
            for (prefix, family) in [
                ("bert", Family::Bert),
                ("distilbert", Family::Bert),
                ("electra", Family::Bert),
                ("mobilebert", Family::Bert),
                ("roberta", Family::Roberta),
                ("xlmroberta", Family::Roberta),
                ("camembert", Family::Roberta),
                ("bart", Family::Roberta),
                ("longformer", Family::Roberta),
                ("gpt2", Family::Gpt2),
                ("codegen", Family::Gpt2),
                ("albert", Family::Albert),
            ] {
                if class == format!("{prefix}tokenizer") {
                    return family;
                }
            }
        }
        match model_type {
            Some("bert" | "distilbert" | "electra" | "mobilebert") => Family::Bert,
            Some("roberta" | "xlm-roberta" | "camembert" | "bart" | "longformer") => {
                Family::Roberta
            }
            Some("gpt2" | "gpt_neo" | "gptj" | "codegen") => Family::Gpt2,
            Some("albert") => Family::Albert,
            _ => Family::Unknown,
        }
    }

    /// The defaults of the slow tokenizer classes' `__init__`.
    fn default_token(self, role: Role) -> Option<&'static str> {
        use Role::*;
        match (self, role) {
            (Family::Bert, Unk) => Some("[UNK]"),
            (Family::Bert, Cls) => Some("[CLS]"),
            (Family::Bert, Sep) => Some("[SEP]"),
            (Family::Bert, Pad) => Some("[PAD]"),
            (Family::Bert, Mask) => Some("[MASK]"),
            (Family::Roberta, Unk) => Some("<unk>"),
            (Family::Roberta, Cls | Bos) => Some("<s>"),
            (Family::Roberta, Sep | Eos) => Some("</s>"),
            (Family::Roberta, Pad) => Some("<pad>"),
            (Family::Roberta, Mask) => Some("<mask>"),
            (Family::Gpt2, Unk | Bos | Eos) => Some("<|endoftext|>"),
            (Family::Albert, Unk) => Some("<unk>"),
            (Family::Albert, Cls | Bos) => Some("[CLS]"),
            (Family::Albert, Sep | Eos) => Some("[SEP]"),
            (Family::Albert, Pad) => Some("<pad>"),
            (Family::Albert, Mask) => Some("[MASK]"),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Unk,
    Cls,
    Sep,
    Pad,
    Mask,
    Bos,
    Eos,
}

impl Role {
    const ALL: [Role; 7] = [
        Role::Unk,
        Role::Cls,
        Role::Sep,
        Role::Pad,
        Role::Mask,
        Role::Bos,
        Role::Eos,
    ];

    fn key(self) -> &'static str {
        match self {
            Role::Unk => "unk_token",
            Role::Cls => "cls_token",
            Role::Sep => "sep_token",
            Role::Pad => "pad_token",
            Role::Mask => "mask_token",
            Role::Bos => "bos_token",
            Role::Eos => "eos_token",
        }
    }
}

/// The JSON configuration files next to the tokenizer.
struct Configs {
    /// `tokenizer_config.json` (an empty object when absent).
    tokenizer: serde_json::Map<String, Value>,
    /// `special_tokens_map.json` (an empty object when absent).
    special: serde_json::Map<String, Value>,
    family: Family,
}

impl Configs {
    fn bool(&self, key: &str) -> Option<bool> {
        self.tokenizer.get(key).and_then(Value::as_bool)
    }

    /// A role's token: from special_tokens_map.json, then tokenizer_config.json (either a string
    /// or an AddedToken object), then the family default.
    fn role_token(&self, role: Role) -> Option<(AddedToken, bool)> {
        for map in [&self.special, &self.tokenizer] {
            if let Some(token) = map.get(role.key()).and_then(|v| added_token(v, true)) {
                return Some((token, true));
            }
        }
        let default = self.family.default_token(role)?;
        // RobertaTokenizer makes its mask token eat the space before it.
        let lstrip = role == Role::Mask && self.family == Family::Roberta;
        Some((AddedToken::from(default, true).lstrip(lstrip), false))
    }

    fn additional_special_tokens(&self) -> Vec<AddedToken> {
        let mut tokens: Vec<AddedToken> = Vec::new();
        for map in [&self.special, &self.tokenizer] {
            if let Some(Value::Array(items)) = map.get("additional_special_tokens") {
                for item in items {
                    if let Some(token) = added_token(item, true) {
                        if !tokens.iter().any(|t| t.content == token.content) {
                            tokens.push(token);
                        }
                    }
                }
            }
        }
        tokens
    }

    /// `added_tokens_decoder` of tokenizer_config.json, by increasing id.
    fn added_tokens_decoder(&self) -> Vec<(u32, AddedToken)> {
        let Some(Value::Object(map)) = self.tokenizer.get("added_tokens_decoder") else {
            return Vec::new();
        };
        let mut tokens: Vec<(u32, AddedToken)> = map
            .iter()
            .filter_map(|(id, value)| {
                let special = value
                    .get("special")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                Some((id.parse().ok()?, added_token(value, special)?))
            })
            .collect();
        tokens.sort_by_key(|(id, _)| *id);
        tokens
    }

    /// `model_max_length`; transformers writes 1e30 for "no limit".
    fn model_max_length(&self) -> Option<usize> {
        let value = self.tokenizer.get("model_max_length")?.as_f64()?;
        (1.0..1e12).contains(&value).then_some(value as usize)
    }
}

/// A token given as a string or as a serialized `AddedToken`
/// (`{"content": "[MASK]", "lstrip": true, ...}`).
fn added_token(value: &Value, special: bool) -> Option<AddedToken> {
    match value {
        Value::String(s) if !s.is_empty() => Some(AddedToken::from(s.as_str(), special)),
        Value::Object(o) => {
            let content = o.get("content")?.as_str()?;
            let flag = |key: &str| o.get(key).and_then(Value::as_bool);
            let mut token = AddedToken::from(content, special)
                .lstrip(flag("lstrip").unwrap_or(false))
                .rstrip(flag("rstrip").unwrap_or(false))
                .single_word(flag("single_word").unwrap_or(false));
            if let Some(normalized) = flag("normalized") {
                token = token.normalized(normalized);
            }
            Some(token)
        }
        _ => None,
    }
}

fn tk_error(path: &Path, error: impl std::fmt::Display) -> Error {
    Error::InvalidTokenizer {
        path: path.to_path_buf(),
        message: error.to_string(),
    }
}

impl Tokenizer {
    /// Loads the tokenizer of a checkpoint folder.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Tokenizer> {
        Tokenizer::from_repo(&ModelRepo::local(dir.as_ref())?)
    }

    /// Loads the tokenizer of a model repository (see the module documentation for the layouts).
    pub fn from_repo(repo: &ModelRepo) -> Result<Tokenizer> {
        let as_object = |name: &str| -> Result<serde_json::Map<String, Value>> {
            match repo.get(name)? {
                None => Ok(Default::default()),
                Some(path) => match read_json(&path)? {
                    Value::Object(map) => Ok(map),
                    _ => Err(tk_error(&path, "expected a JSON object")),
                },
            }
        };
        let tokenizer_config = as_object("tokenizer_config.json")?;
        let special_map = as_object("special_tokens_map.json")?;
        // config.json only helps to guess the family; its problems are reported by the model
        // loader, not here.
        let model_type = repo
            .read_json("config.json")
            .ok()
            .flatten()
            .and_then(|c| c.get("model_type")?.as_str().map(str::to_string));
        let family = Family::detect(
            tokenizer_config
                .get("tokenizer_class")
                .and_then(Value::as_str),
            model_type.as_deref(),
        );
        let mut configs = Configs {
            tokenizer: tokenizer_config,
            special: special_map,
            family,
        };

        let mut inner = if let Some(path) = repo.get("tokenizer.json")? {
            let mut inner =
                tokenizers::Tokenizer::from_file(&path).map_err(|e| tk_error(&path, e))?;
            apply_config_overrides(&mut inner, &configs, &path)?;
            inner
        } else if let Some(vocab) = repo.get("vocab.txt")? {
            build_wordpiece(&vocab, &mut configs)?
        } else if let Some(vocab) = repo.get("vocab.json")? {
            let Some(merges) = repo.get("merges.txt")? else {
                return Err(Error::NoTokenizer {
                    location: repo.describe(),
                    hint: " (vocab.json is there but merges.txt is missing)".into(),
                });
            };
            build_bpe(&vocab, &merges, &mut configs)?
        } else {
            let mut hint = String::new();
            for name in ["sentencepiece.bpe.model", "spiece.model", "tokenizer.model"] {
                if repo.get(name).ok().flatten().is_some() {
                    hint = format!(
                        " (it has {name}: SentencePiece models are read only through \
                         tokenizer.json; write one with transformers: \
                         AutoTokenizer.from_pretrained(path).save_pretrained(path))"
                    );
                    break;
                }
            }
            return Err(Error::NoTokenizer {
                location: repo.describe(),
                hint,
            });
        };

        // Padding and truncation from training are not ours to apply (see the module doc).
        inner.with_padding(None);
        inner
            .with_truncation(None)
            .map_err(|e| Error::Tokenize(e.to_string()))?;

        let special = resolve_special_tokens(&mut inner, &configs);
        Ok(Tokenizer {
            inner: Arc::new(inner),
            special,
            model_max_length: configs.model_max_length(),
            clean_up_tokenization_spaces: configs
                .bool("clean_up_tokenization_spaces")
                .unwrap_or(true),
            location: repo.describe(),
            truncating: Mutex::new(Vec::new()),
        })
    }

    /// Wraps an already built `tokenizers` tokenizer (its padding and truncation are dropped);
    /// special tokens are recognised by the family defaults found in its vocabulary.
    pub fn from_tokenizers(mut inner: tokenizers::Tokenizer) -> Result<Tokenizer> {
        inner.with_padding(None);
        inner
            .with_truncation(None)
            .map_err(|e| Error::Tokenize(e.to_string()))?;
        let mut special = SpecialTokens::default();
        for family in [Family::Bert, Family::Roberta] {
            for role in Role::ALL {
                if let Some(token) = family.default_token(role) {
                    if inner.token_to_id(token).is_some()
                        && special_slot(&mut special, role).is_none()
                    {
                        *special_slot(&mut special, role) = Some(token.to_string());
                    }
                }
            }
        }
        Ok(Tokenizer {
            inner: Arc::new(inner),
            special,
            model_max_length: None,
            clean_up_tokenization_spaces: true,
            location: "a tokenizer built in code".into(),
            truncating: Mutex::new(Vec::new()),
        })
    }

    /// The underlying `tokenizers` tokenizer (no padding, no truncation).
    pub fn inner(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }

    /// Where the tokenizer was loaded from, for messages.
    pub fn location(&self) -> &str {
        &self.location
    }

    pub fn special_tokens(&self) -> &SpecialTokens {
        &self.special
    }

    /// `model_max_length` from tokenizer_config.json; `None` when absent or "unlimited" (1e30).
    pub fn model_max_length(&self) -> Option<usize> {
        self.model_max_length
    }

    /// Vocabulary size, added tokens included (the number of ids the tokenizer can produce).
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    fn special_id(&self, token: &Option<String>) -> Option<u32> {
        token.as_deref().and_then(|t| self.inner.token_to_id(t))
    }

    pub fn mask_token(&self) -> Option<&str> {
        self.special.mask.as_deref()
    }
    pub fn mask_token_id(&self) -> Option<u32> {
        self.special_id(&self.special.mask)
    }
    pub fn pad_token(&self) -> Option<&str> {
        self.special.pad.as_deref()
    }
    pub fn pad_token_id(&self) -> Option<u32> {
        self.special_id(&self.special.pad)
    }
    pub fn cls_token(&self) -> Option<&str> {
        self.special.cls.as_deref()
    }
    pub fn cls_token_id(&self) -> Option<u32> {
        self.special_id(&self.special.cls)
    }
    pub fn sep_token(&self) -> Option<&str> {
        self.special.sep.as_deref()
    }
    pub fn sep_token_id(&self) -> Option<u32> {
        self.special_id(&self.special.sep)
    }
    pub fn unk_token_id(&self) -> Option<u32> {
        self.special_id(&self.special.unk)
    }
    pub fn bos_token_id(&self) -> Option<u32> {
        self.special_id(&self.special.bos)
    }
    pub fn eos_token_id(&self) -> Option<u32> {
        self.special_id(&self.special.eos)
    }

    /// The mask token and its id, or an error saying the tokenizer has none (fill-mask needs it).
    pub fn require_mask_token(&self) -> Result<(&str, u32)> {
        match (self.mask_token(), self.mask_token_id()) {
            (Some(token), Some(id)) => Ok((token, id)),
            _ => Err(Error::MissingSpecialToken {
                name: "mask",
                location: self.location.clone(),
                hint: " (fill-mask needs a masked-language-model tokenizer with a mask token \
                       such as [MASK] or <mask>, named by mask_token in special_tokens_map.json \
                       or tokenizer_config.json)"
                    .into(),
            }),
        }
    }

    /// The padding id, or an error: pipelines need it to pad batches.
    pub fn require_pad_token_id(&self) -> Result<u32> {
        self.pad_token_id()
            .ok_or_else(|| Error::MissingSpecialToken {
                name: "padding",
                location: self.location.clone(),
                hint:
                    " (batches of different lengths need pad_token in special_tokens_map.json or \
                   tokenizer_config.json; or use a batch size of 1)"
                        .into(),
            })
    }

    /// Encodes one input (a batch of one).
    pub fn encode(&self, input: impl Into<TextInput>, options: &EncodeOptions) -> Result<Encoding> {
        let mut encodings = self.encode_batch(&[input.into()], options)?;
        Ok(encodings.pop().unwrap_or_default())
    }

    /// Encodes a batch in parallel (rayon). Offsets are in characters. Nothing is padded.
    pub fn encode_batch(
        &self,
        inputs: &[TextInput],
        options: &EncodeOptions,
    ) -> Result<Vec<Encoding>> {
        let tokenizer = self.configured(options)?;
        if let Some(params) = tokenizer.get_truncation() {
            if params.stride > 0 {
                self.check_stride(inputs, options, params)?;
            }
        }
        let batch: Vec<EncodeInput> = inputs
            .iter()
            .map(|input| match input {
                TextInput::Single(a) => EncodeInput::from(a.as_str()),
                TextInput::Pair(a, b) => EncodeInput::from((a.as_str(), b.as_str())),
            })
            .collect();
        let encodings = tokenizer
            .encode_batch_char_offsets(batch, options.add_special_tokens)
            .map_err(|e| Error::Tokenize(e.to_string()))?;
        Ok(encodings
            .iter()
            .map(|e| Encoding::from_tk(e, options.return_overflowing))
            .collect())
    }

    /// Decodes ids to text, as transformers' `decode` (including its
    /// `clean_up_tokenization_spaces` when the tokenizer config asks for it).
    pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String> {
        let text = self
            .inner
            .decode(ids, skip_special_tokens)
            .map_err(|e| Error::Tokenize(format!("could not decode ids {ids:?}: {e}")))?;
        Ok(if self.clean_up_tokenization_spaces {
            clean_up_tokenization(&text)
        } else {
            text
        })
    }

    /// The number of special tokens the post-processor adds to a single input or a pair.
    pub fn num_special_tokens_to_add(&self, pair: bool) -> usize {
        self.inner
            .get_post_processor()
            .map_or(0, |p| p.added_tokens(pair))
    }

    /// The tokenizer to encode with: the plain one, or a cached copy carrying the truncation.
    fn configured(&self, options: &EncodeOptions) -> Result<Arc<tokenizers::Tokenizer>> {
        let strategy = match options.truncation {
            TruncationStrategy::DoNotTruncate => return Ok(self.inner.clone()),
            TruncationStrategy::LongestFirst => tokenizers::TruncationStrategy::LongestFirst,
            TruncationStrategy::OnlyFirst => tokenizers::TruncationStrategy::OnlyFirst,
            TruncationStrategy::OnlySecond => tokenizers::TruncationStrategy::OnlySecond,
        };
        let Some(max_length) = options.max_length.or(self.model_max_length) else {
            return Ok(self.inner.clone());
        };
        if options.add_special_tokens {
            let added = self.num_special_tokens_to_add(true);
            if max_length <= added {
                return Err(Error::Tokenize(format!(
                    "max_length {max_length} leaves no room for text: the tokenizer adds up to \
                     {added} special tokens"
                )));
            }
        }
        let key = (max_length, options.truncation, options.stride);
        let mut cache = self
            .truncating
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((_, tokenizer)) = cache.iter().find(|(k, _)| *k == key) {
            return Ok(tokenizer.clone());
        }
        let mut tokenizer = (*self.inner).clone();
        tokenizer
            .with_truncation(Some(TruncationParams {
                direction: TruncationDirection::Right,
                max_length,
                strategy,
                stride: options.stride,
            }))
            .map_err(|e| Error::Tokenize(format!("invalid truncation options: {e}")))?;
        let tokenizer = Arc::new(tokenizer);
        // A pipeline uses a handful of settings; bound the cache against pathological callers.
        if cache.len() >= 8 {
            cache.remove(0);
        }
        cache.push((key, tokenizer.clone()));
        Ok(tokenizer)
    }

    /// The `tokenizers` crate panics when a truncated sequence keeps no more tokens than the
    /// stride; compute the lengths it will cut to and refuse such inputs with an error instead.
    fn check_stride(
        &self,
        inputs: &[TextInput],
        options: &EncodeOptions,
        params: &TruncationParams,
    ) -> Result<()> {
        let length = |text: &str| -> Result<usize> {
            self.inner
                .encode(text, false)
                .map(|e| e.len())
                .map_err(|e| Error::Tokenize(e.to_string()))
        };
        for input in inputs {
            let (a, b) = match input {
                TextInput::Single(a) => (length(a)?, None),
                TextInput::Pair(a, b) => (length(a)?, Some(length(b)?)),
            };
            let added = if options.add_special_tokens {
                self.num_special_tokens_to_add(b.is_some())
            } else {
                0
            };
            let max = params.max_length.saturating_sub(added);
            if let Some(kept) = kept_lengths(a, b, max, options.truncation)
                .into_iter()
                .flatten()
                .find(|&(len, keep)| keep < len && keep > 0 && params.stride >= keep)
            {
                return Err(Error::Tokenize(format!(
                    "stride {} must be smaller than the {} tokens that truncation to max_length \
                     {} keeps of a {}-token sequence; lower the stride or raise max_length",
                    params.stride, kept.1, params.max_length, kept.0
                )));
            }
        }
        Ok(())
    }
}

/// For each sequence, `(length, length kept)` as `tokenizers`' `truncate_encodings` computes it.
fn kept_lengths(
    a: usize,
    b: Option<usize>,
    max: usize,
    strategy: TruncationStrategy,
) -> [Option<(usize, usize)>; 2] {
    let total = a + b.unwrap_or(0);
    if total <= max {
        return [None, None];
    }
    let to_remove = total - max;
    match (strategy, b) {
        (TruncationStrategy::LongestFirst, Some(b)) => {
            let (mut n1, mut n2) = (a.min(b), a.max(b));
            n2 = if n1 > max {
                n1
            } else {
                n2.min(max - n1).max(n1)
            };
            if n1 + n2 > max {
                n1 = max / 2;
                n2 = n1 + max % 2;
            }
            let (ka, kb) = if a > b { (n2, n1) } else { (n1, n2) };
            [Some((a, ka)), Some((b, kb))]
        }
        (TruncationStrategy::LongestFirst, None) => [Some((a, max)), None],
        (TruncationStrategy::OnlyFirst, _) if a > to_remove => [Some((a, a - to_remove)), None],
        (TruncationStrategy::OnlySecond, Some(b)) if b > to_remove => {
            [None, Some((b, b - to_remove))]
        }
        _ => [None, None],
    }
}

fn special_slot(special: &mut SpecialTokens, role: Role) -> &mut Option<String> {
    match role {
        Role::Unk => &mut special.unk,
        Role::Cls => &mut special.cls,
        Role::Sep => &mut special.sep,
        Role::Pad => &mut special.pad,
        Role::Mask => &mut special.mask,
        Role::Bos => &mut special.bos,
        Role::Eos => &mut special.eos,
    }
}

/// Names the special tokens by role and registers any the vocabulary lacks as special added
/// tokens, as transformers does. Family defaults count only when the vocabulary has them.
fn resolve_special_tokens(inner: &mut tokenizers::Tokenizer, configs: &Configs) -> SpecialTokens {
    let mut special = SpecialTokens::default();
    let mut to_add = Vec::new();
    for role in Role::ALL {
        let mut candidate = configs.role_token(role);
        if configs.family == Family::Unknown && candidate.is_none() {
            // No config and no known class: a vocabulary that has `[MASK]` or `<mask>` means it.
            candidate = [Family::Bert, Family::Roberta]
                .into_iter()
                .filter_map(|family| family.default_token(role))
                .find(|token| inner.token_to_id(token).is_some())
                .map(|token| (AddedToken::from(token, true), false));
        }
        let Some((token, explicit)) = candidate else {
            continue;
        };
        let known = inner.token_to_id(&token.content).is_some();
        if !explicit && !known {
            continue;
        }
        *special_slot(&mut special, role) = Some(token.content.clone());
        if !known {
            to_add.push(token);
        }
    }
    for token in configs.additional_special_tokens() {
        special.additional.push(token.content.clone());
        if inner.token_to_id(&token.content).is_none() {
            to_add.push(token);
        }
    }
    if !to_add.is_empty() {
        inner.add_special_tokens(&to_add);
    }
    special
}

/// Applies what `tokenizer_config.json` says explicitly over a `tokenizer.json`, as
/// `BertTokenizerFast` and `RobertaTokenizerFast` do in their constructors: the BERT normalizer's
/// lowercasing, accent stripping and Chinese-character handling, and byte-level
/// `add_prefix_space` / `trim_offsets`.
fn apply_config_overrides(
    inner: &mut tokenizers::Tokenizer,
    configs: &Configs,
    path: &Path,
) -> Result<()> {
    let overrides = |value: &mut Value, pairs: &[(&str, Option<Value>)]| -> bool {
        let mut changed = false;
        for (key, new) in pairs {
            if let (Some(new), Some(old)) = (new, value.get_mut(*key)) {
                if old != new {
                    *old = new.clone();
                    changed = true;
                }
            }
        }
        changed
    };
    let do_lower_case = configs.bool("do_lower_case").map(Value::Bool);
    let strip_accents = configs
        .tokenizer
        .get("strip_accents")
        .filter(|v| v.is_boolean())
        .cloned();
    let chinese = configs.bool("tokenize_chinese_chars").map(Value::Bool);
    if let Some(normalizer) = inner.get_normalizer() {
        let mut state = serde_json::to_value(normalizer).map_err(|e| tk_error(path, e))?;
        if state.get("type").and_then(Value::as_str) == Some("BertNormalizer")
            && overrides(
                &mut state,
                &[
                    ("lowercase", do_lower_case),
                    ("strip_accents", strip_accents),
                    ("handle_chinese_chars", chinese),
                ],
            )
        {
            let normalizer: NormalizerWrapper =
                serde_json::from_value(state).map_err(|e| tk_error(path, e))?;
            inner.with_normalizer(Some(normalizer));
        }
    }
    let prefix = configs.bool("add_prefix_space").map(Value::Bool);
    let trim = configs.bool("trim_offsets").map(Value::Bool);
    if let Some(pre_tokenizer) = inner.get_pre_tokenizer() {
        let mut state = serde_json::to_value(pre_tokenizer).map_err(|e| tk_error(path, e))?;
        if state.get("type").and_then(Value::as_str) == Some("ByteLevel")
            && overrides(&mut state, &[("add_prefix_space", prefix.clone())])
        {
            let pre_tokenizer: PreTokenizerWrapper =
                serde_json::from_value(state).map_err(|e| tk_error(path, e))?;
            inner.with_pre_tokenizer(Some(pre_tokenizer));
        }
    }
    if let Some(processor) = inner.get_post_processor() {
        let mut state = serde_json::to_value(processor).map_err(|e| tk_error(path, e))?;
        if state.get("type").and_then(Value::as_str) == Some("RobertaProcessing")
            && overrides(
                &mut state,
                &[("add_prefix_space", prefix), ("trim_offsets", trim)],
            )
        {
            let processor: PostProcessorWrapper =
                serde_json::from_value(state).map_err(|e| tk_error(path, e))?;
            inner.with_post_processor(Some(processor));
        }
    }
    Ok(())
}

/// Reads `vocab.txt` as transformers' `load_vocab`: one token per line, the id is the line number.
fn read_wordpiece_vocab(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let tokens: Vec<String> = text
        .split('\n')
        .map(|line| line.strip_suffix('\r').unwrap_or(line).to_string())
        .collect();
    // A final newline does not start another token.
    let tokens = match tokens.split_last() {
        Some((last, rest)) if last.is_empty() => rest.to_vec(),
        _ => tokens,
    };
    if tokens.is_empty() {
        return Err(tk_error(path, "the vocabulary is empty"));
    }
    Ok(tokens)
}

/// Registers `added_tokens_decoder` tokens, then returns the token for `role` with its id.
fn require_role(
    inner: &tokenizers::Tokenizer,
    configs: &Configs,
    role: Role,
    vocab_path: &Path,
) -> Result<(String, u32)> {
    let Some((token, _)) = configs.role_token(role) else {
        return Err(tk_error(
            vocab_path,
            format!("no {} is configured", role.key()),
        ));
    };
    let id = inner.token_to_id(&token.content).ok_or_else(|| {
        tk_error(
            vocab_path,
            format!(
                "{} '{}' is not in the vocabulary",
                role.key(),
                token.content
            ),
        )
    })?;
    Ok((token.content, id))
}

fn add_config_tokens(inner: &mut tokenizers::Tokenizer, configs: &Configs) {
    for (_, token) in configs.added_tokens_decoder() {
        if token.special {
            inner.add_special_tokens(&[token]);
        } else {
            inner.add_tokens(&[token]);
        }
    }
    // Role tokens that are in the vocabulary become special added tokens, so that "[MASK]" in a
    // text is one token and `skip_special_tokens` drops them.
    let mut specials = Vec::new();
    for role in Role::ALL {
        if let Some((token, _)) = configs.role_token(role) {
            if inner.token_to_id(&token.content).is_some() {
                specials.push(token);
            }
        }
    }
    inner.add_special_tokens(&specials);
}

/// WordPiece from `vocab.txt`, as transformers' `BertConverter`.
fn build_wordpiece(vocab_path: &Path, configs: &mut Configs) -> Result<tokenizers::Tokenizer> {
    if configs.family == Family::Unknown {
        configs.family = Family::Bert;
    }
    let configs = &*configs;
    let tokens = read_wordpiece_vocab(vocab_path)?;
    let vocab: tokenizers::models::bpe::Vocab = tokens
        .into_iter()
        .enumerate()
        .map(|(i, t)| (t, i as u32))
        .collect();
    let unk = configs
        .role_token(Role::Unk)
        .map_or_else(|| "[UNK]".to_string(), |(t, _)| t.content);
    let model = WordPiece::builder()
        .vocab(vocab)
        .unk_token(unk)
        .continuing_subword_prefix("##".into())
        .max_input_chars_per_word(100)
        .build()
        .map_err(|e| tk_error(vocab_path, e))?;
    let mut inner = tokenizers::Tokenizer::new(model);

    let lowercase = configs.bool("do_lower_case").unwrap_or(true);
    // `strip_accents: null` (or absent) means "follow lowercasing".
    let strip_accents = configs.bool("strip_accents");
    let chinese = configs.bool("tokenize_chinese_chars").unwrap_or(true);
    inner.with_normalizer(Some(BertNormalizer::new(
        true,
        chinese,
        strip_accents,
        lowercase,
    )));
    inner.with_pre_tokenizer(Some(BertPreTokenizer));
    inner.with_decoder(Some(WordPieceDecoder::new("##".into(), true)));
    add_config_tokens(&mut inner, configs);
    let cls = require_role(&inner, configs, Role::Cls, vocab_path)?;
    let sep = require_role(&inner, configs, Role::Sep, vocab_path)?;
    inner.with_post_processor(Some(BertProcessing::new(sep, cls)));
    Ok(inner)
}

/// Byte-level BPE from `vocab.json` + `merges.txt`, as transformers' `RobertaConverter` or
/// `GPT2Converter`.
fn build_bpe(
    vocab_path: &Path,
    merges_path: &Path,
    configs: &mut Configs,
) -> Result<tokenizers::Tokenizer> {
    let vocab: std::collections::HashMap<String, u32> =
        serde_json::from_value(read_json(vocab_path)?)
            .map_err(|e| tk_error(vocab_path, format!("expected an object of token → id: {e}")))?;
    let text = std::fs::read_to_string(merges_path).map_err(|e| Error::io(merges_path, e))?;
    let mut merges = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if (i == 0 && line.starts_with("#version")) || line.trim().is_empty() {
            continue;
        }
        let Some((a, b)) = line.split_once(' ') else {
            return Err(tk_error(
                merges_path,
                format!(
                    "line {} is not two tokens separated by a space: {line:?}",
                    i + 1
                ),
            ));
        };
        merges.push((a.to_string(), b.to_string()));
    }
    let vocab: tokenizers::models::bpe::Vocab = vocab.into_iter().collect();
    let model = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .build()
        .map_err(|e| tk_error(merges_path, e))?;
    let mut inner = tokenizers::Tokenizer::new(model);
    let add_prefix_space = configs.bool("add_prefix_space").unwrap_or(false);
    inner.with_pre_tokenizer(Some(
        ByteLevel::default().add_prefix_space(add_prefix_space),
    ));
    inner.with_decoder(Some(ByteLevel::default()));

    // RoBERTa-like unless the config says GPT-2, or the vocabulary has no <s> to add.
    if configs.family == Family::Unknown {
        configs.family = if inner.token_to_id("<s>").is_some() {
            Family::Roberta
        } else {
            Family::Gpt2
        };
    }
    let configs = &*configs;
    add_config_tokens(&mut inner, configs);
    if configs.family == Family::Gpt2 {
        if configs.bool("add_bos_token").unwrap_or(false) {
            let (bos, bos_id) = require_role(&inner, configs, Role::Bos, vocab_path)?;
            let processor = TemplateProcessing::builder()
                .try_single(format!("{bos}:0 $A:0"))
                .and_then(|b| b.try_pair(format!("{bos}:0 $A:0 $B:1")))
                .map_err(|e| tk_error(vocab_path, e))?
                .special_tokens(vec![(bos.clone(), bos_id)])
                .build()
                .map_err(|e| tk_error(vocab_path, e))?;
            inner.with_post_processor(Some(processor));
        } else {
            inner.with_post_processor(Some(ByteLevel::default().trim_offsets(false)));
        }
    } else {
        let cls = require_role(&inner, configs, Role::Cls, vocab_path)?;
        let sep = require_role(&inner, configs, Role::Sep, vocab_path)?;
        inner.with_post_processor(Some(
            RobertaProcessing::new(sep, cls)
                .trim_offsets(configs.bool("trim_offsets").unwrap_or(true))
                .add_prefix_space(add_prefix_space),
        ));
    }
    Ok(inner)
}

/// transformers' `clean_up_tokenization`: removes the spaces a decoder leaves before
/// punctuation and English contractions.
fn clean_up_tokenization(text: &str) -> String {
    text.replace(" .", ".")
        .replace(" ?", "?")
        .replace(" !", "!")
        .replace(" ,", ",")
        .replace(" ' ", "'")
        .replace(" n't", "n't")
        .replace(" 'm", "'m")
        .replace(" 's", "'s")
        .replace(" 've", "'ve")
        .replace(" 're", "'re")
}

/// The files a tokenizer may be loaded from, in order of preference (for callers that prefetch).
pub const TOKENIZER_FILES: [&str; 6] = [
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
];

#[allow(dead_code)]
fn _assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<Tokenizer>();
    is::<PathBuf>();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_lengths_mirror_tokenizers() {
        use TruncationStrategy::*;
        // (a, b, max, strategy) → kept
        let cases = [
            (10, None, 20, LongestFirst, [None, None]),
            (10, None, 6, LongestFirst, [Some((10, 6)), None]),
            (10, Some(4), 10, LongestFirst, [Some((10, 6)), Some((4, 4))]),
            (
                10,
                Some(10),
                10,
                LongestFirst,
                [Some((10, 5)), Some((10, 5))],
            ),
            (3, Some(10), 7, OnlySecond, [None, Some((10, 4))]),
            (10, Some(3), 7, OnlyFirst, [Some((10, 4)), None]),
            (3, Some(10), 2, OnlySecond, [None, None]),
        ];
        for (a, b, max, strategy, expected) in cases {
            assert_eq!(
                kept_lengths(a, b, max, strategy),
                expected,
                "{a} {b:?} {max}"
            );
        }
    }

    #[test]
    fn clean_up_matches_transformers() {
        assert_eq!(
            clean_up_tokenization("hello , world . it 's i 'm do n't"),
            "hello, world. it's i'm don't"
        );
    }

    #[test]
    fn model_max_length_sentinel() {
        let configs = |value: Value| Configs {
            tokenizer: serde_json::from_value(serde_json::json!({ "model_max_length": value }))
                .unwrap(),
            special: Default::default(),
            family: Family::Unknown,
        };
        assert_eq!(
            configs(serde_json::json!(512)).model_max_length(),
            Some(512)
        );
        assert_eq!(configs(serde_json::json!(1e30)).model_max_length(), None);
        let huge: Value = serde_json::from_str("1000000000000000019884624838656").unwrap();
        assert_eq!(configs(huge).model_max_length(), None);
    }

    #[test]
    fn family_detection() {
        assert_eq!(
            Family::detect(Some("BertTokenizerFast"), None),
            Family::Bert
        );
        assert_eq!(
            Family::detect(Some("RobertaTokenizer"), Some("bert")),
            Family::Roberta
        );
        assert_eq!(Family::detect(None, Some("gpt2")), Family::Gpt2);
        assert_eq!(Family::detect(Some("Mystery"), None), Family::Unknown);
    }
}
