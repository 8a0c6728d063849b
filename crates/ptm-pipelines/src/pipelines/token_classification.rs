//! `token-classification` (alias `ner`): a label for every token, or entities grouped from
//! them, as transformers 4.57's `TokenClassificationPipeline`.
//!
//! The steps follow `pipelines/token_classification.py`: softmax per token, `gather_pre_entities`
//! (vocabulary spelling of each token, character offsets, the subword heuristic), `aggregate`
//! (per token, or per word for `first`/`average`/`max`), `group_entities` (adjacent B-/I- tags)
//! and, when a long text was cut into strided windows, `aggregate_overlapping_entities`.
//!
//! Group words are the decoder applied to token strings (`convert_tokens_to_string`), not a
//! decode of ids, so byte-level BPE shows `\u{fffd}` for a character split across tokens exactly
//! as transformers does.
//!
//! Long texts are read whole, in overlapping windows (`stride` tokens shared; by default a
//! quarter of the model's maximum), whenever an aggregation strategy lets the windows be
//! merged. transformers instead truncates when no stride is given: `truncate: true` does the
//! same (the parity tests use it), and so does aggregation `none`, which cannot merge windows;
//! both report the cut on stderr.

use serde_json::{json, Value};
use tokenizers::models::ModelWrapper;
use tokenizers::Decoder;

use super::{softmax, warn, CommonOptions, Pipeline, PipelineInput, PipelineTask};
use crate::error::{Error, Result};
use crate::loading::LoadedModel;
use crate::tokenizer::{EncodeOptions, Encoding, TextInput, TruncationStrategy};

/// How token predictions become entities (`aggregation_strategy`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AggregationStrategy {
    /// One result per token, with its index.
    #[default]
    None,
    /// Adjacent tokens with the same tag are grouped; words may be split between entities.
    Simple,
    /// Each word takes the label of its first token.
    First,
    /// Each word takes the label of its tokens' mean scores.
    Average,
    /// Each word takes the label of its most confident token.
    Max,
}

impl AggregationStrategy {
    pub fn from_name(name: &str) -> Result<Self> {
        Ok(match name.to_ascii_lowercase().as_str() {
            "none" => Self::None,
            "simple" => Self::Simple,
            "first" => Self::First,
            "average" => Self::Average,
            "max" => Self::Max,
            other => {
                return Err(Error::Input(format!(
                "unknown aggregation_strategy '{other}'; use none, simple, first, average or max"
            )))
            }
        })
    }
}

/// Options of the pipeline, under transformers' names.
#[derive(Clone, Debug)]
pub struct Options {
    pub aggregation_strategy: AggregationStrategy,
    /// Labels (or entity groups) left out of the output.
    pub ignore_labels: Vec<String>,
    /// Tokens shared by consecutive windows over a long text. `None`: a quarter of the
    /// model's maximum. Windows need an aggregation strategy other than `none`.
    pub stride: Option<usize>,
    /// Cut long texts to the model's maximum instead of reading them in windows: what
    /// transformers does when no stride is given.
    pub truncate: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            aggregation_strategy: AggregationStrategy::None,
            ignore_labels: vec!["O".to_string()],
            stride: None,
            truncate: false,
        }
    }
}

/// One token (no aggregation) or one group of tokens.
#[derive(Clone, Debug, PartialEq)]
pub struct Entity {
    /// The label of a token (`entity`), or the tag of a group without its `B-`/`I-` prefix
    /// (`entity_group`).
    pub label: String,
    pub score: f64,
    /// The token's position in its window; `Some` only without aggregation.
    pub index: Option<usize>,
    pub word: String,
    /// Character offsets in the input text.
    pub start: usize,
    pub end: usize,
}

impl Entity {
    /// transformers' dict: `{entity, score, index, word, start, end}` for a token,
    /// `{entity_group, score, word, start, end}` for a group.
    pub fn to_json(&self) -> Value {
        match self.index {
            Some(index) => json!({
                "entity": self.label,
                "score": self.score,
                "index": index,
                "word": self.word,
                "start": self.start,
                "end": self.end,
            }),
            None => json!({
                "entity_group": self.label,
                "score": self.score,
                "word": self.word,
                "start": self.start,
                "end": self.end,
            }),
        }
    }
}

/// A token with everything aggregation needs (transformers' `pre_entity`).
struct PreEntity {
    word: String,
    scores: Vec<f64>,
    start: usize,
    end: usize,
    index: usize,
    is_subword: bool,
}

/// A token or word with its label, before grouping.
struct Labelled {
    label: String,
    score: f64,
    index: usize,
    word: String,
    start: usize,
    end: usize,
}

/// Windows of all inputs are run through the model this many at a time.
const WINDOW_BATCH: usize = 16;

pub struct TokenClassification {
    model: LoadedModel,
    options: Options,
    max_length: usize,
    /// The stride of the windows over long texts; `None` when long texts are truncated.
    window_stride: Option<usize>,
    /// WordPiece (`##`) and BPE with a continuing-subword prefix know which tokens continue a
    /// word; other tokenizers fall back on transformers' whitespace heuristic.
    word_aware: bool,
}

impl TokenClassification {
    pub fn new(model: LoadedModel, common: CommonOptions, options: Options) -> Result<Self> {
        let max_length = common.max_length.unwrap_or_else(|| model.max_length());
        if let Some(stride) = options.stride {
            if options.aggregation_strategy == AggregationStrategy::None {
                return Err(Error::Input(
                    "stride reads the whole text in windows and needs an aggregation_strategy \
                     other than none (simple, first, average or max)"
                        .into(),
                ));
            }
            if stride >= max_length {
                return Err(Error::Input(format!(
                    "stride {stride} must be less than the model's maximum length {max_length} \
                     (less still, as the tokenizer adds special tokens)"
                )));
            }
        }
        let window_stride =
            if options.truncate || options.aggregation_strategy == AggregationStrategy::None {
                None
            } else {
                Some(options.stride.unwrap_or(max_length / 4))
            };
        let word_aware = match model.tokenizer.inner().get_model() {
            ModelWrapper::WordPiece(wp) => !wp.continuing_subword_prefix.is_empty(),
            ModelWrapper::BPE(bpe) => bpe
                .continuing_subword_prefix
                .as_deref()
                .is_some_and(|p| !p.is_empty()),
            _ => false,
        };
        Ok(Self {
            model,
            options,
            max_length,
            window_stride,
            word_aware,
        })
    }

    /// Entities for each input, in order.
    pub fn classify(&self, inputs: &[PipelineInput]) -> Vec<Result<Vec<Entity>>> {
        let mut results: Vec<Option<Result<Vec<Entity>>>> =
            (0..inputs.len()).map(|_| None).collect();
        let mut texts = Vec::new();
        let mut slots = Vec::new();
        for (i, input) in inputs.iter().enumerate() {
            match input {
                PipelineInput::Text(t) => {
                    texts.push(t.as_str());
                    slots.push(i);
                }
                other => {
                    results[i] = Some(Err(Error::Input(format!(
                        "token-classification takes a text, not {other:?}"
                    ))))
                }
            }
        }
        if !texts.is_empty() {
            match self.entities(&texts) {
                Ok(all) => {
                    for (slot, entities) in slots.into_iter().zip(all) {
                        results[slot] = Some(entities);
                    }
                }
                Err(e) => {
                    let msg = e.to_string();
                    for slot in slots {
                        results[slot] = Some(Err(Error::Input(msg.clone())));
                    }
                }
            }
        }
        results
            .into_iter()
            .map(|r| r.expect("every input answered"))
            .collect()
    }

    fn entities(&self, texts: &[&str]) -> Result<Vec<Result<Vec<Entity>>>> {
        let options = EncodeOptions {
            max_length: Some(self.max_length),
            truncation: TruncationStrategy::LongestFirst,
            stride: self.window_stride.unwrap_or(0),
            return_overflowing: true,
            ..Default::default()
        };
        let inputs: Vec<TextInput> = texts
            .iter()
            .map(|t| TextInput::Single(t.to_string()))
            .collect();
        let encodings = self.model.tokenizer.encode_batch(&inputs, &options)?;
        // Each input's windows: the first encoding, then (with a stride) what overflowed.
        let mut windows: Vec<Vec<Encoding>> = Vec::with_capacity(encodings.len());
        let mut cut = 0;
        for mut encoding in encodings {
            let overflowing = std::mem::take(&mut encoding.overflowing);
            let mut w = vec![encoding];
            if self.window_stride.is_some() {
                w.extend(overflowing);
            } else if !overflowing.is_empty() {
                cut += 1;
            }
            windows.push(w);
        }
        if cut > 0 {
            warn(&format!(
                "{cut} text(s) longer than {} tokens were truncated; use an aggregation strategy \
                 (simple, first, average or max) without truncate to read the whole text in windows",
                self.max_length
            ));
        }
        let flat: Vec<&Encoding> = windows.iter().flatten().collect();
        let mut scores: Vec<Vec<Vec<f64>>> = Vec::with_capacity(flat.len());
        for chunk in flat.chunks(WINDOW_BATCH) {
            scores.extend(self.token_scores(chunk)?);
        }
        let mut scores = scores.into_iter();
        Ok(texts
            .iter()
            .zip(&windows)
            .map(|(text, windows)| {
                let chars: Vec<char> = text.chars().collect();
                let mut all = Vec::new();
                for window in windows {
                    let window_scores = scores.next().expect("one score matrix per window");
                    let pre = self.gather_pre_entities(&chars, window, window_scores);
                    let grouped = self.aggregate(pre)?;
                    all.extend(
                        grouped
                            .into_iter()
                            .filter(|e| !self.options.ignore_labels.contains(&e.label)),
                    );
                }
                Ok(if windows.len() > 1 {
                    aggregate_overlapping_entities(all)
                } else {
                    all
                })
            })
            .collect())
    }

    /// Softmax scores `[window][token][label]`, without padding.
    fn token_scores(&self, windows: &[&Encoding]) -> Result<Vec<Vec<Vec<f64>>>> {
        let out = self.model.forward(windows)?;
        let logits = out
            .logits
            .ok_or_else(|| Error::Input("the model has no token-classification head".into()))?
            .to_dtype(candle_core::DType::F32)?
            .to_vec3::<f32>()?;
        Ok(logits
            .into_iter()
            .zip(windows)
            .map(|(rows, w)| rows.iter().take(w.len()).map(|row| softmax(row)).collect())
            .collect())
    }

    fn label(&self, id: usize) -> String {
        self.model
            .config
            .labels
            .get(id)
            .cloned()
            .unwrap_or_else(|| format!("LABEL_{id}"))
    }

    /// transformers' `gather_pre_entities`: every non-special token with its vocabulary
    /// spelling (the text itself for an unknown token), offsets and whether it continues a word.
    fn gather_pre_entities(
        &self,
        chars: &[char],
        window: &Encoding,
        scores: Vec<Vec<f64>>,
    ) -> Vec<PreEntity> {
        let tokenizer = &self.model.tokenizer;
        let unk = tokenizer.unk_token_id();
        let slice = |a: usize, b: usize| -> String {
            let b = b.min(chars.len());
            chars[a.min(b)..b].iter().collect()
        };
        let mut pre = Vec::new();
        for (idx, token_scores) in scores.into_iter().enumerate() {
            if window.special_tokens_mask.get(idx).copied().unwrap_or(1) == 1 {
                continue;
            }
            let id = window.ids[idx];
            let (start, end) = window.offsets[idx];
            let word_ref = slice(start, end);
            let mut word = tokenizer
                .id_to_token(id)
                .unwrap_or_else(|| word_ref.clone());
            let mut is_subword = if self.word_aware {
                word.chars().count() != word_ref.chars().count()
            } else {
                // Python's `" " not in sentence[start - 1 : start + 1]`.
                start > 0 && !slice(start - 1, start + 1).contains(' ')
            };
            if Some(id) == unk {
                word = word_ref;
                is_subword = false;
            }
            pre.push(PreEntity {
                word,
                scores: token_scores,
                start,
                end,
                index: idx,
                is_subword,
            });
        }
        pre
    }

    /// transformers' `aggregate`: label tokens (or words), then group them unless the strategy
    /// is `none`.
    fn aggregate(&self, pre: Vec<PreEntity>) -> Result<Vec<Entity>> {
        let strategy = self.options.aggregation_strategy;
        let labelled: Vec<Labelled> = match strategy {
            AggregationStrategy::None | AggregationStrategy::Simple => pre
                .into_iter()
                .map(|p| {
                    let best = argmax(&p.scores);
                    Labelled {
                        label: self.label(best),
                        score: p.scores[best],
                        index: p.index,
                        word: p.word,
                        start: p.start,
                        end: p.end,
                    }
                })
                .collect(),
            _ => self.aggregate_words(pre)?,
        };
        if strategy == AggregationStrategy::None {
            return Ok(labelled
                .into_iter()
                .map(|l| Entity {
                    label: l.label,
                    score: l.score,
                    index: Some(l.index),
                    word: l.word,
                    start: l.start,
                    end: l.end,
                })
                .collect());
        }
        self.group_entities(labelled)
    }

    /// Words are a token and the subword tokens after it; each gets one label.
    fn aggregate_words(&self, pre: Vec<PreEntity>) -> Result<Vec<Labelled>> {
        let mut words: Vec<Vec<PreEntity>> = Vec::new();
        for p in pre {
            match words.last_mut() {
                Some(group) if p.is_subword => group.push(p),
                _ => words.push(vec![p]),
            }
        }
        words.into_iter().map(|w| self.aggregate_word(w)).collect()
    }

    fn aggregate_word(&self, tokens: Vec<PreEntity>) -> Result<Labelled> {
        let word = self.tokens_to_string(tokens.iter().map(|t| t.word.clone()).collect())?;
        let (label, score) = match self.options.aggregation_strategy {
            AggregationStrategy::First => {
                let best = argmax(&tokens[0].scores);
                (best, tokens[0].scores[best])
            }
            AggregationStrategy::Max => {
                // Python's `max` keeps the first of equal maxima.
                let mut chosen = &tokens[0];
                for t in &tokens[1..] {
                    if max_of(&t.scores) > max_of(&chosen.scores) {
                        chosen = t;
                    }
                }
                let best = argmax(&chosen.scores);
                (best, chosen.scores[best])
            }
            AggregationStrategy::Average => {
                let n = tokens[0].scores.len();
                let mean: Vec<f64> = (0..n)
                    .map(|j| tokens.iter().map(|t| t.scores[j]).sum::<f64>() / tokens.len() as f64)
                    .collect();
                let best = argmax(&mean);
                (best, mean[best])
            }
            AggregationStrategy::None | AggregationStrategy::Simple => {
                unreachable!("word aggregation runs for first, average and max only")
            }
        };
        Ok(Labelled {
            label: self.label(label),
            score,
            index: tokens[0].index,
            word,
            start: tokens[0].start,
            end: tokens[tokens.len() - 1].end,
        })
    }

    /// transformers' `group_entities`: adjacent entities with the same tag are one group, except
    /// that a `B-` tag always opens a new one.
    fn group_entities(&self, entities: Vec<Labelled>) -> Result<Vec<Entity>> {
        let mut groups = Vec::new();
        let mut current: Vec<Labelled> = Vec::new();
        for entity in entities {
            if let Some(last) = current.last() {
                let (bi, tag) = split_tag(&entity.label);
                let (_, last_tag) = split_tag(&last.label);
                if !(tag == last_tag && bi != "B") {
                    groups.push(self.group_sub_entities(std::mem::take(&mut current))?);
                }
            }
            current.push(entity);
        }
        if !current.is_empty() {
            groups.push(self.group_sub_entities(current)?);
        }
        Ok(groups)
    }

    fn group_sub_entities(&self, entities: Vec<Labelled>) -> Result<Entity> {
        let first = &entities[0];
        let label = match first.label.split_once('-') {
            Some((_, rest)) => rest.to_string(),
            None => first.label.clone(),
        };
        let score = entities.iter().map(|e| e.score).sum::<f64>() / entities.len() as f64;
        let (start, end) = (first.start, entities[entities.len() - 1].end);
        let word = self.tokens_to_string(entities.into_iter().map(|e| e.word).collect())?;
        Ok(Entity {
            label,
            score,
            index: None,
            word,
            start,
            end,
        })
    }

    /// transformers' `convert_tokens_to_string` for fast tokenizers: the decoder on token
    /// strings, or the tokens joined by spaces when there is no decoder.
    fn tokens_to_string(&self, tokens: Vec<String>) -> Result<String> {
        match self.model.tokenizer.inner().get_decoder() {
            Some(decoder) => decoder
                .decode(tokens)
                .map_err(|e| Error::Tokenize(format!("could not decode tokens: {e}"))),
            None => Ok(tokens.join(" ")),
        }
    }
}

/// `B-PER` → (`B`, `PER`); a label without a B-/I- prefix counts as a continuation.
fn split_tag(label: &str) -> (&str, &str) {
    if let Some(tag) = label.strip_prefix("B-") {
        ("B", tag)
    } else if let Some(tag) = label.strip_prefix("I-") {
        ("I", tag)
    } else {
        ("I", label)
    }
}

/// Index of the first maximum, as numpy's `argmax`.
fn argmax(xs: &[f64]) -> usize {
    let mut best = 0;
    for (i, &x) in xs.iter().enumerate() {
        if x > xs[best] {
            best = i;
        }
    }
    best
}

fn max_of(xs: &[f64]) -> f64 {
    xs.iter().cloned().fold(f64::NEG_INFINITY, f64::max)
}

/// transformers' `aggregate_overlapping_entities`: of entities from overlapping windows that
/// start inside one another, the longer (then the more confident) one stays.
fn aggregate_overlapping_entities(mut entities: Vec<Entity>) -> Vec<Entity> {
    if entities.is_empty() {
        return entities;
    }
    // Stable, as Python's `sorted`.
    entities.sort_by_key(|e| e.start);
    let mut kept = Vec::new();
    let mut iter = entities.into_iter();
    let mut previous = iter.next().expect("not empty");
    for entity in iter {
        if previous.start <= entity.start && entity.start < previous.end {
            let current_length = entity.end - entity.start;
            let previous_length = previous.end - previous.start;
            if current_length > previous_length
                || (current_length == previous_length && entity.score > previous.score)
            {
                previous = entity;
            }
        } else {
            kept.push(std::mem::replace(&mut previous, entity));
        }
    }
    kept.push(previous);
    kept
}

impl Pipeline for TokenClassification {
    fn task(&self) -> PipelineTask {
        PipelineTask::TokenClassification
    }

    fn run_json(&self, inputs: &[PipelineInput]) -> Vec<Result<Value>> {
        self.classify(inputs)
            .into_iter()
            .map(|r| Ok(Value::Array(r?.iter().map(Entity::to_json).collect())))
            .collect()
    }

    fn warnings(&self) -> &[String] {
        &self.model.warnings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entity(start: usize, end: usize, score: f64) -> Entity {
        Entity {
            label: "PER".into(),
            score,
            index: None,
            word: String::new(),
            start,
            end,
        }
    }

    #[test]
    fn overlapping_entities_keep_the_longer_then_the_more_confident() {
        let spans = |v: &[Entity]| v.iter().map(|e| (e.start, e.end)).collect::<Vec<_>>();
        type Case = (Vec<Entity>, Vec<(usize, usize)>);
        let cases: &[Case] = &[
            (vec![], vec![]),
            (vec![entity(0, 5, 0.5), entity(2, 9, 0.1)], vec![(2, 9)]),
            (vec![entity(0, 5, 0.5), entity(0, 5, 0.9)], vec![(0, 5)]),
            (
                vec![entity(6, 8, 0.5), entity(0, 5, 0.5)],
                vec![(0, 5), (6, 8)],
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(
                &spans(&aggregate_overlapping_entities(input.clone())),
                expected
            );
        }
        let kept = aggregate_overlapping_entities(vec![entity(0, 5, 0.5), entity(0, 5, 0.9)]);
        assert_eq!(kept[0].score, 0.9);
    }

    #[test]
    fn tags_split_as_transformers_does() {
        assert_eq!(split_tag("B-PER"), ("B", "PER"));
        assert_eq!(split_tag("I-LOC"), ("I", "LOC"));
        assert_eq!(split_tag("O"), ("I", "O"));
        assert_eq!(split_tag("MISC"), ("I", "MISC"));
    }

    #[test]
    fn strategies_parse_by_name() {
        assert_eq!(
            AggregationStrategy::from_name("MAX").unwrap(),
            AggregationStrategy::Max
        );
        assert!(AggregationStrategy::from_name("mean").is_err());
    }
}
