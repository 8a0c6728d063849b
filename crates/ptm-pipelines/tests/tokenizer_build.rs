//! Tokenizers built from the files each test writes: vocab.txt (WordPiece), vocab.json +
//! merges.txt (byte-level BPE), tokenizer.json, and the special-token configuration files.

use std::fs;
use std::path::Path;

use ptm_pipelines::tokenizer::{EncodeOptions, TextInput, Tokenizer, TruncationStrategy};

const BERT_VOCAB: &[&str] = &[
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "!", "cafe", "café", "中",
    "国", "a", "b", "c", "d", "e", "f", "g", "h", "un", "##aff", "##able", ",", "'", "s", "it",
];

fn write(dir: &Path, name: &str, text: &str) {
    fs::write(dir.join(name), text).unwrap();
}

/// A WordPiece checkpoint folder with `BERT_VOCAB` and the given tokenizer_config.json.
fn bert_dir(tokenizer_config: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "vocab.txt", &(BERT_VOCAB.join("\n") + "\n"));
    if let Some(config) = tokenizer_config {
        write(dir.path(), "tokenizer_config.json", config);
    }
    dir
}

fn bert(tokenizer_config: Option<&str>) -> Tokenizer {
    Tokenizer::from_dir(bert_dir(tokenizer_config).path()).unwrap()
}

fn id(token: &str) -> u32 {
    BERT_VOCAB.iter().position(|t| *t == token).unwrap() as u32
}

fn ids(tokens: &[&str]) -> Vec<u32> {
    tokens.iter().map(|t| id(t)).collect()
}

fn opts() -> EncodeOptions {
    EncodeOptions::default()
}

#[test]
fn wordpiece_single() {
    let tok = bert(None);
    let e = tok.encode("Hello world!", &opts()).unwrap();
    assert_eq!(e.ids, ids(&["[CLS]", "hello", "world", "!", "[SEP]"]));
    assert_eq!(e.tokens, ["[CLS]", "hello", "world", "!", "[SEP]"]);
    assert_eq!(e.type_ids, [0; 5]);
    assert_eq!(e.attention_mask, [1; 5]);
    assert_eq!(e.special_tokens_mask, [1, 0, 0, 0, 1]);
    assert_eq!(e.offsets, [(0, 0), (0, 5), (6, 11), (11, 12), (0, 0)]);
    assert_eq!(e.word_ids, [None, Some(0), Some(1), Some(2), None]);
    assert_eq!(e.sequence_ids, [None, Some(0), Some(0), Some(0), None]);
    assert!(e.overflowing.is_empty());
    assert_eq!(tok.cls_token_id(), Some(id("[CLS]")));
    assert_eq!(tok.sep_token_id(), Some(id("[SEP]")));
    assert_eq!(tok.pad_token_id(), Some(id("[PAD]")));
    assert_eq!(tok.require_mask_token().unwrap(), ("[MASK]", id("[MASK]")));
    assert_eq!(tok.vocab_size(), BERT_VOCAB.len());
    assert_eq!(tok.id_to_token(id("hello")).as_deref(), Some("hello"));
    assert_eq!(tok.token_to_id("world"), Some(id("world")));
}

#[test]
fn wordpiece_subwords_and_unknown() {
    let e = bert(None).encode("unaffable xyz", &opts()).unwrap();
    assert_eq!(
        e.tokens,
        ["[CLS]", "un", "##aff", "##able", "[UNK]", "[SEP]"]
    );
    assert_eq!(e.word_ids, [None, Some(0), Some(0), Some(0), Some(1), None]);
    assert_eq!(e.offsets[1..5], [(0, 2), (2, 5), (5, 9), (10, 13)]);
}

#[test]
fn wordpiece_pair() {
    let tok = bert(None);
    let e = tok
        .encode(TextInput::Pair("hello".into(), "world".into()), &opts())
        .unwrap();
    assert_eq!(e.ids, ids(&["[CLS]", "hello", "[SEP]", "world", "[SEP]"]));
    assert_eq!(e.type_ids, [0, 0, 0, 1, 1]);
    assert_eq!(e.sequence_ids, [None, Some(0), None, Some(1), None]);
    // Offsets are relative to each sequence's own text.
    assert_eq!(e.offsets, [(0, 0), (0, 5), (0, 0), (0, 5), (0, 0)]);
    assert_eq!(tok.num_special_tokens_to_add(true), 3);
    assert_eq!(tok.num_special_tokens_to_add(false), 2);
}

#[test]
fn lowercase_and_accents() {
    // Lowercasing strips accents unless strip_accents says otherwise.
    let e = bert(None).encode("Café", &opts()).unwrap();
    assert_eq!(e.tokens, ["[CLS]", "cafe", "[SEP]"]);
    assert_eq!(e.offsets[1], (0, 4));

    let keep = bert(Some(r#"{"do_lower_case": true, "strip_accents": false}"#));
    assert_eq!(keep.encode("Café", &opts()).unwrap().tokens[1], "café");

    let cased = bert(Some(r#"{"do_lower_case": false}"#));
    assert_eq!(cased.encode("Café", &opts()).unwrap().tokens[1], "[UNK]");
    assert_eq!(cased.encode("café", &opts()).unwrap().tokens[1], "café");
}

#[test]
fn chinese_characters_are_split_with_char_offsets() {
    let e = bert(None).encode("中国", &opts()).unwrap();
    assert_eq!(e.tokens, ["[CLS]", "中", "国", "[SEP]"]);
    assert_eq!(e.offsets[1..3], [(0, 1), (1, 2)]);

    let off = bert(Some(r#"{"tokenize_chinese_chars": false}"#));
    assert_eq!(off.encode("中国", &opts()).unwrap().tokens[1], "[UNK]");
}

#[test]
fn non_ascii_offsets_are_in_characters() {
    let e = bert(None).encode("café world", &opts()).unwrap();
    assert_eq!(e.tokens[2], "world");
    // In bytes, "world" would start at 6.
    assert_eq!(e.offsets[2], (5, 10));
}

#[test]
fn empty_string() {
    let tok = bert(None);
    let e = tok.encode("", &opts()).unwrap();
    assert_eq!(e.tokens, ["[CLS]", "[SEP]"]);
    let e = tok
        .encode(TextInput::Pair(String::new(), String::new()), &opts())
        .unwrap();
    assert_eq!(e.tokens, ["[CLS]", "[SEP]", "[SEP]"]);
    let batch = tok.encode_batch(&[], &opts()).unwrap();
    assert!(batch.is_empty());
}

#[test]
fn batch_keeps_order_and_does_not_pad() {
    let tok = bert(None);
    let inputs: Vec<TextInput> = ["hello", "hello world !", ""]
        .into_iter()
        .map(Into::into)
        .collect();
    let batch = tok.encode_batch(&inputs, &opts()).unwrap();
    let lengths: Vec<usize> = batch.iter().map(|e| e.len()).collect();
    assert_eq!(lengths, [3, 5, 2]);
}

fn truncating(max_length: usize, truncation: TruncationStrategy) -> EncodeOptions {
    EncodeOptions {
        max_length: Some(max_length),
        truncation,
        ..EncodeOptions::default()
    }
}

#[test]
fn pair_truncation_strategies() {
    let tok = bert(None);
    let long_first = TextInput::Pair("hello hello hello hello".into(), "world".into());
    let e = tok
        .encode(long_first, &truncating(6, TruncationStrategy::LongestFirst))
        .unwrap();
    assert_eq!(
        e.tokens,
        ["[CLS]", "hello", "hello", "[SEP]", "world", "[SEP]"]
    );

    let long_second = TextInput::Pair("hello".into(), "world world world world".into());
    let e = tok
        .encode(
            long_second.clone(),
            &truncating(6, TruncationStrategy::OnlySecond),
        )
        .unwrap();
    assert_eq!(
        e.tokens,
        ["[CLS]", "hello", "[SEP]", "world", "world", "[SEP]"]
    );
    assert_eq!(e.type_ids, [0, 0, 0, 1, 1, 1]);

    // OnlyFirst cannot shorten a one-token first sequence enough: an error, not a panic.
    assert!(tok
        .encode(
            long_second.clone(),
            &truncating(6, TruncationStrategy::OnlyFirst)
        )
        .is_err());
    // Without truncation nothing is cut.
    assert_eq!(
        tok.encode(
            long_second,
            &truncating(6, TruncationStrategy::DoNotTruncate)
        )
        .unwrap()
        .len(),
        8
    );
}

#[test]
fn max_length_defaults_to_model_max_length() {
    let tok = bert(Some(r#"{"model_max_length": 4}"#));
    assert_eq!(tok.model_max_length(), Some(4));
    let options = EncodeOptions {
        truncation: TruncationStrategy::LongestFirst,
        ..EncodeOptions::default()
    };
    assert_eq!(
        tok.encode("a b c d e", &options).unwrap().tokens,
        ["[CLS]", "a", "b", "[SEP]"]
    );
    let unset = bert(Some(
        r#"{"model_max_length": 1000000000000000019884624838656}"#,
    ));
    assert_eq!(unset.model_max_length(), None);
}

#[test]
fn stride_overflow_windows() {
    let tok = bert(None);
    let options = EncodeOptions {
        max_length: Some(6),
        truncation: TruncationStrategy::LongestFirst,
        stride: 2,
        return_overflowing: true,
        ..EncodeOptions::default()
    };
    let e = tok.encode("a b c d e f g h", &options).unwrap();
    let mut windows = vec![e.tokens.clone()];
    windows.extend(e.overflowing.iter().map(|o| o.tokens.clone()));
    assert_eq!(
        windows,
        [
            ["[CLS]", "a", "b", "c", "d", "[SEP]"],
            ["[CLS]", "c", "d", "e", "f", "[SEP]"],
            ["[CLS]", "e", "f", "g", "h", "[SEP]"],
        ]
    );
    // Every window is a full encoding with character offsets into the original text.
    assert_eq!(e.overflowing[0].offsets[1], (4, 5));
    assert_eq!(e.overflowing[1].word_ids[4], Some(7));
    assert!(e.overflowing.iter().all(|o| o.overflowing.is_empty()));

    // Question + long context: only the context slides (as QA does).
    let qa = EncodeOptions {
        max_length: Some(8),
        truncation: TruncationStrategy::OnlySecond,
        stride: 1,
        return_overflowing: true,
        ..EncodeOptions::default()
    };
    let e = tok
        .encode(TextInput::Pair("hello".into(), "a b c d e f".into()), &qa)
        .unwrap();
    assert_eq!(
        e.tokens,
        ["[CLS]", "hello", "[SEP]", "a", "b", "c", "d", "[SEP]"]
    );
    assert_eq!(e.overflowing.len(), 1);
    assert_eq!(
        e.overflowing[0].tokens,
        ["[CLS]", "hello", "[SEP]", "d", "e", "f", "[SEP]"]
    );

    // Without return_overflowing the windows are dropped.
    let e = tok
        .encode(
            "a b c d e f g h",
            &EncodeOptions {
                return_overflowing: false,
                ..options.clone()
            },
        )
        .unwrap();
    assert!(e.overflowing.is_empty());
}

#[test]
fn bad_truncation_options_are_errors_not_panics() {
    let tok = bert(None);
    // Stride too large for the one-sequence budget.
    let options = EncodeOptions {
        max_length: Some(4),
        truncation: TruncationStrategy::LongestFirst,
        stride: 3,
        ..EncodeOptions::default()
    };
    assert!(tok.encode("a b c d e", &options).is_err());
    // Stride fits a single sequence but not the halves of a pair.
    let options = EncodeOptions {
        max_length: Some(9),
        stride: 3,
        ..options
    };
    assert!(tok.encode("a b c d e f g h", &options).is_ok());
    let message = tok
        .encode(
            TextInput::Pair("a b c d e".into(), "a b c d e".into()),
            &options,
        )
        .unwrap_err()
        .to_string();
    assert!(message.contains("stride"), "{message}");
    // max_length smaller than the special tokens.
    let options = truncating(2, TruncationStrategy::LongestFirst);
    assert!(tok.encode("a", &options).is_err());
}

#[test]
fn decode_skips_special_tokens_and_cleans_up() {
    let tok = bert(None);
    let e = tok.encode("Hello , world ! it ' s", &opts()).unwrap();
    assert_eq!(tok.decode(&e.ids, true).unwrap(), "hello, world! it's");
    assert_eq!(
        tok.decode(&e.ids, false).unwrap(),
        "[CLS] hello, world! it's [SEP]"
    );
}

#[test]
fn mask_token_in_text_is_one_token() {
    let tok = bert(None);
    let e = tok.encode("hello [MASK]!", &opts()).unwrap();
    assert_eq!(e.tokens, ["[CLS]", "hello", "[MASK]", "!", "[SEP]"]);
    assert_eq!(e.offsets[2], (6, 12));
}

#[test]
fn tokenizer_json_padding_and_truncation_are_dropped() {
    // Serialise a built tokenizer with fixed padding and truncation, as all-MiniLM-L6-v2 ships.
    let built = bert(None);
    let mut inner = built.inner().clone();
    inner.with_padding(Some(tokenizers::PaddingParams {
        strategy: tokenizers::PaddingStrategy::Fixed(16),
        ..Default::default()
    }));
    inner
        .with_truncation(Some(tokenizers::TruncationParams {
            max_length: 4,
            ..Default::default()
        }))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    inner
        .save(dir.path().join("tokenizer.json"), false)
        .unwrap();
    let text = fs::read_to_string(dir.path().join("tokenizer.json")).unwrap();
    assert!(text.contains("Fixed"), "the fixture should carry padding");

    let tok = Tokenizer::from_dir(dir.path()).unwrap();
    assert!(tok.inner().get_padding().is_none());
    assert!(tok.inner().get_truncation().is_none());
    let e = tok.encode("hello", &opts()).unwrap();
    assert_eq!(e.tokens, ["[CLS]", "hello", "[SEP]"]);
    assert_eq!(tok.encode("a b c d e f", &opts()).unwrap().len(), 8);
    // Special tokens by family default from the vocabulary, with no config files at all.
    assert_eq!(tok.mask_token(), Some("[MASK]"));
    assert_eq!(tok.pad_token_id(), Some(0));
}

#[test]
fn tokenizer_json_respects_explicit_lowercase_config() {
    let built = bert(None);
    let dir = tempfile::tempdir().unwrap();
    built
        .inner()
        .save(dir.path().join("tokenizer.json"), false)
        .unwrap();
    write(
        dir.path(),
        "tokenizer_config.json",
        r#"{"do_lower_case": false}"#,
    );
    let tok = Tokenizer::from_dir(dir.path()).unwrap();
    assert_eq!(tok.encode("Hello", &opts()).unwrap().tokens[1], "[UNK]");
}

#[test]
fn special_tokens_from_config_files() {
    let dir = bert_dir(Some(
        r#"{
            "pad_token": "[PAD]",
            "mask_token": "[UNK]",
            "added_tokens_decoder": {
                "27": {"content": "<extra>", "lstrip": false, "normalized": false,
                       "rstrip": false, "single_word": false, "special": true}
            },
            "model_max_length": 512
        }"#,
    ));
    // special_tokens_map.json wins over tokenizer_config.json, and may hold AddedToken objects.
    write(
        dir.path(),
        "special_tokens_map.json",
        r#"{"mask_token": {"content": "[MASK]", "lstrip": true, "rstrip": false,
                            "normalized": false, "single_word": false},
            "additional_special_tokens": ["<extra>"]}"#,
    );
    let tok = Tokenizer::from_dir(dir.path()).unwrap();
    assert_eq!(tok.mask_token(), Some("[MASK]"));
    assert_eq!(tok.mask_token_id(), Some(id("[MASK]")));
    assert_eq!(tok.special_tokens().additional, ["<extra>"]);
    assert_eq!(tok.token_to_id("<extra>"), Some(BERT_VOCAB.len() as u32));
    assert_eq!(tok.model_max_length(), Some(512));
    // lstrip: the mask token takes the space before it.
    // (`tokens` shows the matched text, " [MASK]"; the id is the mask's.)
    let e = tok.encode("hello [MASK] <extra>", &opts()).unwrap();
    assert_eq!(
        e.ids,
        [
            id("[CLS]"),
            id("hello"),
            id("[MASK]"),
            BERT_VOCAB.len() as u32,
            id("[SEP]")
        ]
    );
    assert_eq!(e.offsets[2], (5, 12));
    assert_eq!(e.special_tokens_mask, [1, 0, 0, 0, 1]);
}

const BPE_VOCAB: &str = r#"{"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "<mask>": 4,
    "h": 5, "e": 6, "l": 7, "o": 8, "Ġ": 9, "w": 10, "r": 11, "d": 12,
    "he": 13, "ll": 14, "hell": 15, "hello": 16, "Ġw": 17, "or": 18, "Ġwor": 19, "Ġworl": 20,
    "Ġworld": 21, "Ã": 22, "©": 23, "!": 24}"#;
const BPE_MERGES: &str =
    "#version: 0.2\nh e\nl l\nhe ll\nhell o\nĠ w\no r\nĠw or\nĠwor l\nĠworl d\n";

fn bpe_dir(tokenizer_config: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "vocab.json", BPE_VOCAB);
    write(dir.path(), "merges.txt", BPE_MERGES);
    if let Some(config) = tokenizer_config {
        write(dir.path(), "tokenizer_config.json", config);
    }
    dir
}

#[test]
fn byte_level_bpe_roberta() {
    let tok = Tokenizer::from_dir(bpe_dir(None).path()).unwrap();
    let e = tok.encode("hello world!", &opts()).unwrap();
    assert_eq!(e.tokens, ["<s>", "hello", "Ġworld", "!", "</s>"]);
    assert_eq!(e.ids, [0, 16, 21, 24, 2]);
    // trim_offsets: the leading space is not part of "Ġworld".
    assert_eq!(e.offsets, [(0, 0), (0, 5), (6, 11), (11, 12), (0, 0)]);
    assert_eq!(tok.decode(&e.ids, true).unwrap(), "hello world!");

    let e = tok
        .encode(TextInput::Pair("hello".into(), "hello".into()), &opts())
        .unwrap();
    assert_eq!(e.tokens, ["<s>", "hello", "</s>", "</s>", "hello", "</s>"]);

    assert_eq!(tok.require_mask_token().unwrap(), ("<mask>", 4));
    assert_eq!(tok.pad_token_id(), Some(1));
    assert_eq!(tok.cls_token_id(), Some(0));
    assert_eq!(tok.eos_token_id(), Some(2));
    // RoBERTa's mask token eats the space before it.
    let e = tok.encode("hello <mask>", &opts()).unwrap();
    assert_eq!(e.ids, [0, 16, 4, 2]);
    // RobertaProcessing's trim_offsets drops the space from the span again.
    assert_eq!(e.offsets[2], (6, 12));

    // Both bytes of "é" point at the one character.
    let e = tok.encode("é", &opts()).unwrap();
    assert_eq!(e.tokens, ["<s>", "Ã", "©", "</s>"]);
    assert_eq!(e.offsets[1..3], [(0, 1), (0, 1)]);

    assert_eq!(tok.encode("", &opts()).unwrap().tokens, ["<s>", "</s>"]);
}

#[test]
fn byte_level_bpe_add_prefix_space_from_config() {
    let tok = Tokenizer::from_dir(bpe_dir(Some(r#"{"add_prefix_space": true}"#)).path()).unwrap();
    let e = tok.encode("world", &opts()).unwrap();
    assert_eq!(e.tokens, ["<s>", "Ġworld", "</s>"]);
    assert_eq!(e.offsets[1], (0, 5));
}

#[test]
fn byte_level_bpe_gpt2_adds_no_special_tokens() {
    let tok = Tokenizer::from_dir(bpe_dir(Some(r#"{"tokenizer_class": "GPT2Tokenizer"}"#)).path())
        .unwrap();
    let e = tok.encode("hello world", &opts()).unwrap();
    assert_eq!(e.tokens, ["hello", "Ġworld"]);
    assert_eq!(e.offsets, [(0, 5), (5, 11)]);
    let message = tok.require_mask_token().unwrap_err().to_string();
    assert!(message.contains("no mask token"), "{message}");
}

#[test]
fn no_tokenizer_files_names_the_layouts() {
    let dir = tempfile::tempdir().unwrap();
    let message = Tokenizer::from_dir(dir.path()).unwrap_err().to_string();
    for expected in ["tokenizer.json", "vocab.txt", "vocab.json + merges.txt"] {
        assert!(message.contains(expected), "{expected:?} not in: {message}");
    }
    write(dir.path(), "spiece.model", "");
    let message = Tokenizer::from_dir(dir.path()).unwrap_err().to_string();
    assert!(message.contains("spiece.model"), "{message}");
    write(dir.path(), "vocab.json", "{}");
    let message = Tokenizer::from_dir(dir.path()).unwrap_err().to_string();
    assert!(message.contains("merges.txt is missing"), "{message}");
}

#[test]
fn invalid_files_are_named() {
    let dir = bert_dir(Some("{not json"));
    let message = Tokenizer::from_dir(dir.path()).unwrap_err().to_string();
    assert!(message.contains("tokenizer_config.json"), "{message}");
    assert!(message.contains("not valid JSON"), "{message}");

    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "tokenizer.json", r#"{"model": 3}"#);
    let message = Tokenizer::from_dir(dir.path()).unwrap_err().to_string();
    assert!(message.contains("tokenizer.json"), "{message}");

    let dir = bpe_dir(None);
    write(dir.path(), "merges.txt", "#version: 0.2\nh e\nnot-a-pair\n");
    let message = Tokenizer::from_dir(dir.path()).unwrap_err().to_string();
    assert!(
        message.contains("merges.txt") && message.contains("line 3"),
        "{message}"
    );

    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "vocab.txt", "hello\nworld\n");
    let message = Tokenizer::from_dir(dir.path()).unwrap_err().to_string();
    assert!(
        message.contains("[CLS]") && message.contains("vocab.txt"),
        "{message}"
    );
}

/// The committed parity fixtures (`tests/fixtures`, written by scripts/fixtures/make_fixtures.py).
fn fixtures() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

/// The int64 tensors of a safetensors file, read by hand (its header is JSON).
fn read_i64_tensors(path: &Path) -> std::collections::HashMap<String, (Vec<usize>, Vec<i64>)> {
    let bytes = fs::read(path).unwrap();
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + header_len]).unwrap();
    let data = &bytes[8 + header_len..];
    let mut tensors = std::collections::HashMap::new();
    for (name, info) in header.as_object().unwrap() {
        if info.get("dtype").and_then(|d| d.as_str()) != Some("I64") {
            continue;
        }
        let shape: Vec<usize> = serde_json::from_value(info["shape"].clone()).unwrap();
        let [start, end]: [usize; 2] =
            serde_json::from_value(info["data_offsets"].clone()).unwrap();
        let values = data[start..end]
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
            .collect();
        tensors.insert(name.clone(), (shape, values));
    }
    tensors
}

/// Compares one encoded batch with transformers' padded `input_ids` / `token_type_ids`.
fn check_batch(model: &str, prefix: &str, tok: &Tokenizer, inputs: &[TextInput]) {
    let reference = read_i64_tensors(&fixtures().join(format!("reference/{model}.safetensors")));
    let options = EncodeOptions {
        truncation: TruncationStrategy::LongestFirst,
        ..EncodeOptions::default()
    };
    let encodings = tok.encode_batch(inputs, &options).unwrap();
    let (shape, ids) = &reference[&format!("{prefix}input_ids")];
    let (_, mask) = &reference[&format!("{prefix}attention_mask")];
    let types = reference.get(&format!("{prefix}token_type_ids"));
    let t = shape[1];
    for (row, e) in encodings.iter().enumerate() {
        let len = mask[row * t..(row + 1) * t]
            .iter()
            .filter(|&&m| m == 1)
            .count();
        let expected: Vec<u32> = ids[row * t..row * t + len]
            .iter()
            .map(|&i| i as u32)
            .collect();
        assert_eq!(
            e.ids, expected,
            "{model} {prefix}row {row}: {:?}",
            inputs[row]
        );
        if let Some((_, types)) = types {
            let expected: Vec<u32> = types[row * t..row * t + len]
                .iter()
                .map(|&i| i as u32)
                .collect();
            assert_eq!(
                e.type_ids, expected,
                "{model} {prefix}token types row {row}"
            );
        }
    }
}

fn reference_inputs() -> (Vec<TextInput>, Vec<TextInput>) {
    let text = fs::read_to_string(fixtures().join("reference/inputs.json")).unwrap();
    let inputs: serde_json::Value = serde_json::from_str(&text).unwrap();
    let texts = inputs["texts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| TextInput::from(t.as_str().unwrap()))
        .collect();
    let pairs = inputs["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| TextInput::from((p[0].as_str().unwrap(), p[1].as_str().unwrap())))
        .collect();
    (texts, pairs)
}

#[test]
fn fixture_tokenizers_match_transformers_ids() {
    let (texts, pairs) = reference_inputs();
    let mut checked = 0;
    for entry in fs::read_dir(fixtures().join("models")).unwrap() {
        let dir = entry.unwrap().path();
        let model = dir.file_name().unwrap().to_str().unwrap().to_string();
        if !fixtures()
            .join(format!("reference/{model}.safetensors"))
            .exists()
        {
            continue;
        }
        let tok = Tokenizer::from_dir(&dir).unwrap_or_else(|e| panic!("{model}: {e}"));
        assert_eq!(tok.model_max_length(), Some(64), "{model}");
        check_batch(&model, "", &tok, &texts);
        if [
            "bert-base",
            "bert-seqcls",
            "bert-vocab-only",
            "roberta-base",
        ]
        .contains(&model.as_str())
        {
            check_batch(&model, "pair_", &tok, &pairs);
        }
        checked += 1;
    }
    assert!(checked >= 40, "only {checked} fixture models found");
}

/// The tokenizer built from vocab files equals the one transformers saved as tokenizer.json, on
/// ids, offsets and word ids (offsets are what pipelines report).
#[test]
fn built_from_vocab_equals_tokenizer_json() {
    let (mut inputs, pairs) = reference_inputs();
    inputs.extend(pairs);
    inputs.push("Hello [MASK] world, ÉCOLE naïve 北京 <mask> don't".into());
    for (model, files) in [
        (
            "bert-base",
            &[
                "vocab.txt",
                "tokenizer_config.json",
                "special_tokens_map.json",
                "config.json",
            ][..],
        ),
        (
            "roberta-base",
            &[
                "vocab.json",
                "merges.txt",
                "tokenizer_config.json",
                "special_tokens_map.json",
                "config.json",
            ][..],
        ),
    ] {
        let source = fixtures().join("models").join(model);
        let built_dir = tempfile::tempdir().unwrap();
        for file in files {
            fs::copy(source.join(file), built_dir.path().join(file)).unwrap();
        }
        let saved = Tokenizer::from_dir(&source).unwrap();
        let built = Tokenizer::from_dir(built_dir.path()).unwrap();
        let a = saved.encode_batch(&inputs, &opts()).unwrap();
        let b = built.encode_batch(&inputs, &opts()).unwrap();
        for (i, (a, b)) in a.iter().zip(&b).enumerate() {
            assert_eq!(a.ids, b.ids, "{model} input {i}");
            assert_eq!(a.offsets, b.offsets, "{model} input {i}");
            assert_eq!(a.word_ids, b.word_ids, "{model} input {i}");
            assert_eq!(a.type_ids, b.type_ids, "{model} input {i}");
        }
        assert_eq!(saved.special_tokens(), built.special_tokens(), "{model}");
        assert_eq!(saved.vocab_size(), built.vocab_size(), "{model}");
        let ids = &a[1].ids;
        assert_eq!(
            saved.decode(ids, true).unwrap(),
            built.decode(ids, true).unwrap()
        );
    }
}
