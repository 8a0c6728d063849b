//! `question-answering`: the span of a context that answers a question, as transformers 4.57's
//! `QuestionAnsweringPipeline` with a fast tokenizer.
//!
//! The question and the context are encoded as a pair, the context cut into windows of
//! `max_seq_len` tokens that overlap by `doc_stride` (`truncation="only_second"`, as for a
//! tokenizer that pads on the right). In each window only context tokens and `[CLS]` may take
//! part: the others get a logit of -10000 before the softmaxes over start and end logits.
//! `decode_spans` scores every span as `p(start) * p(end)`, keeps `2 * top_k + 10` of them
//! (`top_k` without word alignment), aligns them to the window's words and adds up the scores of
//! candidates whose answers are equal ignoring case. The null answer, with
//! `handle_impossible_answer`, scores the smallest `p(start=[CLS]) * p(end=[CLS])` of all windows.
//!
//! One departure, where transformers fails: when the question leaves no room for the context
//! in a window (the tokenizer then errors, or panics on the stride), the question is cut to
//! `max_question_len` tokens, or fewer so that the windows can overlap by `doc_stride`, with a
//! warning. transformers does the same cut only with slow tokenizers.

use serde::Serialize;
use serde_json::Value;

use super::{softmax, warn, CommonOptions, Pipeline, PipelineInput, PipelineTask};
use crate::error::{Error, Result};
use crate::loading::LoadedModel;
use crate::tokenizer::{EncodeOptions, Encoding, TextInput, TruncationStrategy};

/// Options of the pipeline, under transformers' names and with its defaults.
#[derive(Clone, Debug)]
pub struct Options {
    /// How many answers to return; one gives a bare answer object.
    pub top_k: usize,
    /// Tokens shared by consecutive windows over a long context. `None`: transformers'
    /// `min(max_seq_len / 2, 128)`.
    pub doc_stride: Option<usize>,
    /// The longest answer, in tokens.
    pub max_answer_len: usize,
    /// Tokens per window, question and special tokens included. `None`: the smaller of 384 and
    /// the model's maximum; a larger value is capped at the model's maximum.
    pub max_seq_len: Option<usize>,
    /// A question is cut to this many tokens only when it would leave no room for the context
    /// (transformers uses it only with slow tokenizers).
    pub max_question_len: usize,
    /// Allow the empty answer (`{"answer": "", "start": 0, "end": 0}`).
    pub handle_impossible_answer: bool,
    /// Extend answers to whole words of the window.
    pub align_to_words: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            top_k: 1,
            doc_stride: None,
            max_answer_len: 15,
            max_seq_len: None,
            max_question_len: 64,
            handle_impossible_answer: false,
            align_to_words: true,
        }
    }
}

/// One answer: a character span of the context and its score.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Answer {
    pub score: f64,
    pub start: usize,
    pub end: usize,
    pub answer: String,
}

/// Windows of all inputs are run through the model this many at a time.
const WINDOW_BATCH: usize = 16;

pub struct QuestionAnswering {
    model: LoadedModel,
    options: Options,
    max_seq_len: usize,
    doc_stride: usize,
}

impl QuestionAnswering {
    pub fn new(model: LoadedModel, common: CommonOptions, options: Options) -> Result<Self> {
        let model_max = common.max_length.unwrap_or_else(|| model.max_length());
        let max_seq_len = match options.max_seq_len {
            Some(m) if m > model_max => {
                warn(&format!(
                    "max_seq_len {m} is more than the model reads; using {model_max}"
                ));
                model_max
            }
            Some(m) => m,
            None => model_max.min(384),
        };
        let doc_stride = options.doc_stride.unwrap_or((max_seq_len / 2).min(128));
        if doc_stride > max_seq_len {
            return Err(Error::Input(format!(
                "doc_stride ({doc_stride}) is larger than max_seq_len ({max_seq_len})"
            )));
        }
        if options.top_k < 1 {
            return Err(Error::Input(format!(
                "top_k must be at least 1 (got {})",
                options.top_k
            )));
        }
        if options.max_answer_len < 1 {
            return Err(Error::Input(format!(
                "max_answer_len must be at least 1 (got {})",
                options.max_answer_len
            )));
        }
        Ok(Self {
            model,
            options,
            max_seq_len,
            doc_stride,
        })
    }

    /// Answers for each input, best first; an input that is not a question with a context, or
    /// has an empty one, gets an error.
    pub fn answer(&self, inputs: &[PipelineInput]) -> Vec<Result<Vec<Answer>>> {
        let mut results: Vec<Option<Result<Vec<Answer>>>> =
            (0..inputs.len()).map(|_| None).collect();
        // (slot, context, windows) of the inputs that encoded.
        let mut encoded: Vec<(usize, &str, Vec<Encoding>)> = Vec::new();
        for (i, input) in inputs.iter().enumerate() {
            let PipelineInput::Question { question, context } = input else {
                results[i] = Some(Err(Error::Input(format!(
                    "question-answering takes {{\"question\": .., \"context\": ..}}, not {input:?}"
                ))));
                continue;
            };
            match self.windows(question, context) {
                Ok(windows) => encoded.push((i, context.as_str(), windows)),
                Err(e) => results[i] = Some(Err(e)),
            }
        }
        let flat: Vec<&Encoding> = encoded.iter().flat_map(|(_, _, w)| w).collect();
        let mut logits = Vec::with_capacity(flat.len());
        for chunk in flat.chunks(WINDOW_BATCH) {
            match self.start_end_logits(chunk) {
                Ok(l) => logits.extend(l),
                Err(e) => {
                    let msg = e.to_string();
                    for (slot, _, _) in &encoded {
                        results[*slot] = Some(Err(Error::Input(msg.clone())));
                    }
                    return results
                        .into_iter()
                        .map(|r| r.expect("every input answered"))
                        .collect();
                }
            }
        }
        let mut logits = logits.into_iter();
        for (slot, context, windows) in &encoded {
            let window_logits: Vec<_> = windows
                .iter()
                .map(|_| logits.next().expect("one per window"))
                .collect();
            results[*slot] = Some(Ok(self.postprocess(context, windows, window_logits)));
        }
        results
            .into_iter()
            .map(|r| r.expect("every input answered"))
            .collect()
    }

    /// The encoded windows of one question and context.
    fn windows(&self, question: &str, context: &str) -> Result<Vec<Encoding>> {
        // transformers refuses empty strings (but not whitespace) with these words.
        if question.is_empty() {
            return Err(Error::Input("`question` cannot be empty".into()));
        }
        if context.is_empty() {
            return Err(Error::Input("`context` cannot be empty".into()));
        }
        let question = self.fit_question(question, context)?;
        let tokenizer = &self.model.tokenizer;
        let options = EncodeOptions {
            max_length: Some(self.max_seq_len),
            truncation: TruncationStrategy::OnlySecond,
            stride: self.doc_stride,
            return_overflowing: true,
            ..Default::default()
        };
        let mut encoding =
            tokenizer.encode(TextInput::Pair(question, context.to_string()), &options)?;
        let overflowing = std::mem::take(&mut encoding.overflowing);
        let mut windows = vec![encoding];
        windows.extend(overflowing);
        Ok(windows)
    }

    /// The question, cut when it would leave the context too few tokens per window for windows
    /// that overlap by `doc_stride`.
    fn fit_question(&self, question: &str, context: &str) -> Result<String> {
        let tokenizer = &self.model.tokenizer;
        let plain = EncodeOptions {
            add_special_tokens: false,
            ..Default::default()
        };
        let q = tokenizer.encode(question, &plain)?;
        let c_len = tokenizer.encode(context, &plain)?.len();
        let specials = tokenizer.num_special_tokens_to_add(true);
        if q.len() + c_len + specials <= self.max_seq_len {
            return Ok(question.to_string());
        }
        // Context tokens per window must exceed the stride (the tokenizer's condition).
        let room = self.max_seq_len.saturating_sub(specials + q.len());
        if room > self.doc_stride {
            return Ok(question.to_string());
        }
        let budget = self.options.max_question_len.min(
            self.max_seq_len
                .saturating_sub(specials + self.doc_stride + 1),
        );
        if budget == 0 {
            return Err(Error::Input(format!(
                "the question ({} tokens) leaves no room for the context: windows of max_seq_len \
                 {} tokens, {specials} of them special, cannot hold context windows that overlap \
                 by doc_stride {}; lower doc_stride or max_question_len, or shorten the question",
                q.len(),
                self.max_seq_len,
                self.doc_stride
            )));
        }
        let cut = q.offsets[budget - 1].1;
        warn(&format!(
            "the question ({} tokens) left too little room for the context in windows of {} \
             tokens; it was cut to its first {budget} tokens",
            q.len(),
            self.max_seq_len
        ));
        Ok(question.chars().take(cut).collect())
    }

    /// Start and end logits of each window, without padding.
    fn start_end_logits(&self, windows: &[&Encoding]) -> Result<Vec<(Vec<f32>, Vec<f32>)>> {
        let out = self.model.forward(windows)?;
        let logits = out
            .logits
            .ok_or_else(|| Error::Input("the model has no question-answering head".into()))?
            .to_dtype(candle_core::DType::F32)?
            .to_vec3::<f32>()?; // (b, t, 2)
        Ok(logits
            .into_iter()
            .zip(windows)
            .map(|(rows, w)| {
                let rows = &rows[..w.len()];
                (
                    rows.iter().map(|r| r[0]).collect(),
                    rows.iter().map(|r| r[1]).collect(),
                )
            })
            .collect())
    }

    /// transformers' `postprocess`: candidates of every window, merged by answer text, best
    /// first, cut to `top_k`.
    fn postprocess(
        &self,
        context: &str,
        windows: &[Encoding],
        logits: Vec<(Vec<f32>, Vec<f32>)>,
    ) -> Vec<Answer> {
        let chars: Vec<char> = context.chars().collect();
        let cls = self.model.tokenizer.cls_token_id();
        let pre_topk = if self.options.align_to_words {
            self.options.top_k * 2 + 10
        } else {
            self.options.top_k
        };
        let mut min_null_score = 1_000_000f64;
        let mut answers: Vec<Answer> = Vec::new();
        for (window, (start_logits, end_logits)) in windows.iter().zip(logits) {
            // Context tokens and [CLS] may be (part of) an answer; the question, the separators
            // and padding may not.
            let allowed: Vec<bool> = (0..window.len())
                .map(|i| window.sequence_ids[i] == Some(1) || Some(window.ids[i]) == cls)
                .collect();
            let masked = |logits: &[f32]| -> Vec<f32> {
                logits
                    .iter()
                    .zip(&allowed)
                    .map(|(&x, &ok)| if ok { x } else { -10000.0 })
                    .collect()
            };
            let mut start = softmax(&masked(&start_logits));
            let mut end = softmax(&masked(&end_logits));
            if start.is_empty() {
                continue;
            }
            if self.options.handle_impossible_answer {
                min_null_score = min_null_score.min(start[0] * end[0]);
            }
            start[0] = 0.0;
            end[0] = 0.0;
            for (s, e, score) in decode_spans(
                &start,
                &end,
                pre_topk,
                self.options.max_answer_len,
                &allowed,
            ) {
                let (a, b) = self.char_span(window, s, e);
                let text: String = if a < b {
                    chars[a..b].iter().collect()
                } else {
                    String::new()
                };
                let lower = text.to_lowercase();
                match answers
                    .iter_mut()
                    .find(|x| x.answer.to_lowercase() == lower)
                {
                    Some(existing) => existing.score += score,
                    None => answers.push(Answer {
                        score,
                        start: a,
                        end: b,
                        answer: text,
                    }),
                }
            }
        }
        if self.options.handle_impossible_answer {
            answers.push(Answer {
                score: min_null_score,
                start: 0,
                end: 0,
                answer: String::new(),
            });
        }
        // Stable, as Python's `sorted`.
        answers.sort_by(|a, b| b.score.total_cmp(&a.score));
        answers.truncate(self.options.top_k);
        answers
    }

    /// transformers' `get_indices`: the characters of the words of tokens `s` and `e` within the
    /// window's context, or of the tokens themselves (no alignment, or tokens outside a word).
    fn char_span(&self, window: &Encoding, s: usize, e: usize) -> (usize, usize) {
        let by_tokens = (window.offsets[s].0, window.offsets[e].1);
        if !self.options.align_to_words {
            return by_tokens;
        }
        let word_chars = |token: usize| -> Option<(usize, usize)> {
            let word = window.word_ids[token]?;
            let in_word: Vec<usize> = (0..window.len())
                .filter(|&i| window.sequence_ids[i] == Some(1) && window.word_ids[i] == Some(word))
                .collect();
            Some((
                window.offsets[*in_word.first()?].0,
                window.offsets[*in_word.last()?].1,
            ))
        };
        match (word_chars(s), word_chars(e)) {
            (Some((a, _)), Some((_, b))) => (a, b),
            _ => by_tokens,
        }
    }
}

/// transformers' `decode_spans` on one window: the `top_k` best cells of the matrix
/// `p(start) * p(end)` limited to `start <= end < start + max_answer_len` (zero elsewhere), then
/// only those whose start and end are allowed. Ties go to the earlier cell.
///
/// transformers tests `np.isin(starts, undesired_tokens.nonzero())` on a `(1, t)` mask, whose
/// `nonzero()` holds row indices (all 0) beside the columns: position 0 always passes. Spans
/// starting there score 0 (p(start=[CLS]) is zeroed before), so they only show up when a window
/// has fewer than `top_k` non-zero spans; kept for parity.
fn decode_spans(
    start: &[f64],
    end: &[f64],
    top_k: usize,
    max_answer_len: usize,
    allowed: &[bool],
) -> Vec<(usize, usize, f64)> {
    let t = start.len();
    let score = |s: usize, e: usize| -> f64 {
        if e >= s && e - s < max_answer_len {
            start[s] * end[e]
        } else {
            0.0
        }
    };
    let mut cells: Vec<(usize, f64)> = (0..t * t).map(|i| (i, score(i / t, i % t))).collect();
    if top_k == 1 {
        // np.argmax: the first maximum.
        let best = cells
            .iter()
            .fold(None::<(usize, f64)>, |best, &(i, x)| match best {
                Some((_, b)) if b >= x => best,
                _ => Some((i, x)),
            });
        cells = best.into_iter().collect();
    } else {
        // Best first, ties to the earlier cell: a total order, so selecting then sorting the
        // head equals a stable sort of all t² cells.
        let order = |a: &(usize, f64), b: &(usize, f64)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        if top_k < cells.len() {
            cells.select_nth_unstable_by(top_k, order);
        }
        cells.truncate(top_k);
        cells.sort_by(order);
    }
    let passes = |i: usize| i == 0 || allowed[i];
    cells
        .into_iter()
        .map(|(i, x)| (i / t, i % t, x))
        .filter(|&(s, e, _)| passes(s) && passes(e))
        .collect()
}

impl Pipeline for QuestionAnswering {
    fn task(&self) -> PipelineTask {
        PipelineTask::QuestionAnswering
    }

    fn run_json(&self, inputs: &[PipelineInput]) -> Vec<Result<Value>> {
        self.answer(inputs)
            .into_iter()
            .map(|r| {
                let answers = r?;
                // transformers returns a bare object when exactly one answer is left.
                Ok(if answers.len() == 1 {
                    serde_json::to_value(&answers[0]).expect("serialisable")
                } else {
                    serde_json::to_value(&answers).expect("serialisable")
                })
            })
            .collect()
    }

    fn warnings(&self) -> &[String] {
        &self.model.warnings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_respect_order_length_and_the_mask() {
        let start = [0.0, 0.5, 0.3, 0.2];
        let end = [0.0, 0.1, 0.6, 0.3];
        let all = [true; 4];
        // (1, 2) = 0.3 is the best span.
        assert_eq!(
            decode_spans(&start, &end, 1, 15, &all),
            vec![(1, 2, 0.5 * 0.6)]
        );
        // Length 1 only: (2, 2) = 0.18 beats (1, 1) = 0.05 and (3, 3) = 0.06.
        assert_eq!(decode_spans(&start, &end, 1, 1, &all)[0].0, 2);
        // Disallowed positions are dropped after selection, so fewer than top_k may remain.
        let mask = [true, true, false, true];
        let spans = decode_spans(&start, &end, 3, 15, &mask);
        assert!(spans.iter().all(|&(s, e, _)| s != 2 && e != 2), "{spans:?}");
        assert!(spans.len() < 3);
    }
}
