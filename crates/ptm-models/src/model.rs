//! What every encoder takes and returns, and the task a checkpoint is loaded for.

use candle_core::{Device, Result, Tensor};

/// A batch of token ids, padded to one length. All tensors are `(batch, tokens)`, `u32`.
#[derive(Clone, Debug)]
pub struct EncoderInput {
    pub input_ids: Tensor,
    /// 1 for a real token, 0 for padding.
    pub attention_mask: Tensor,
    /// Segment ids (0 for the first text of a pair, 1 for the second); zeros when absent.
    pub token_type_ids: Option<Tensor>,
}

impl EncoderInput {
    /// Pads rows of ids (and type ids) on the right to the longest row.
    pub fn from_rows(
        ids: &[Vec<u32>],
        type_ids: Option<&[Vec<u32>]>,
        pad_id: u32,
        device: &Device,
    ) -> Result<Self> {
        let b = ids.len();
        let t = ids.iter().map(Vec::len).max().unwrap_or(0);
        let mut flat_ids = Vec::with_capacity(b * t);
        let mut flat_mask = Vec::with_capacity(b * t);
        let mut flat_types = Vec::with_capacity(b * t);
        for (i, row) in ids.iter().enumerate() {
            flat_ids.extend_from_slice(row);
            flat_ids.extend(std::iter::repeat_n(pad_id, t - row.len()));
            flat_mask.extend(std::iter::repeat_n(1u32, row.len()));
            flat_mask.extend(std::iter::repeat_n(0u32, t - row.len()));
            if let Some(types) = type_ids {
                let tr = &types[i];
                flat_types.extend_from_slice(&tr[..tr.len().min(t)]);
                flat_types.extend(std::iter::repeat_n(0u32, t - tr.len().min(t)));
            }
        }
        Ok(Self {
            input_ids: Tensor::from_vec(flat_ids, (b, t), device)?,
            attention_mask: Tensor::from_vec(flat_mask, (b, t), device)?,
            token_type_ids: match type_ids {
                Some(_) => Some(Tensor::from_vec(flat_types, (b, t), device)?),
                None => None,
            },
        })
    }
}

/// The outputs of one forward pass. Which fields are set depends on the task.
#[derive(Clone, Debug)]
pub struct ModelOutput {
    /// `(b, t, hidden)`: the final hidden state of the base model.
    pub last_hidden_state: Tensor,
    /// `(b, hidden)`: the pooler's output, for base models whose checkpoint has a pooler.
    pub pooler_output: Option<Tensor>,
    /// Head output: masked LM `(b, t, vocab)`; sequence classification `(b, labels)`;
    /// token classification `(b, t, labels)`; question answering `(b, t, 2)` (start, end);
    /// ELECTRA discriminator `(b, t)`.
    pub logits: Option<Tensor>,
}

/// The head a checkpoint is loaded with, as transformers' `AutoModelFor…` classes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Task {
    /// `AutoModel`: hidden states (and the pooler where the checkpoint has one).
    Base,
    /// `AutoModelForMaskedLM`.
    MaskedLm,
    /// `AutoModelForSequenceClassification`.
    SequenceClassification,
    /// `AutoModelForTokenClassification`.
    TokenClassification,
    /// `AutoModelForQuestionAnswering`.
    QuestionAnswering,
    /// `ElectraForPreTraining`: the replaced-token-detection discriminator.
    PreTraining,
}

impl Task {
    /// The task of a transformers class name from `config.json`'s `architectures`
    /// (`BertForMaskedLM` → `MaskedLm`, `RobertaModel` → `Base`).
    pub fn from_architecture(class: &str) -> Option<Self> {
        const SUFFIXES: &[(&str, Task)] = &[
            ("ForMaskedLM", Task::MaskedLm),
            ("ForSequenceClassification", Task::SequenceClassification),
            ("ForTokenClassification", Task::TokenClassification),
            ("ForQuestionAnswering", Task::QuestionAnswering),
            ("ForPreTraining", Task::PreTraining),
            ("Model", Task::Base),
        ];
        SUFFIXES
            .iter()
            .find(|(suffix, _)| class.ends_with(suffix))
            .map(|(_, task)| *task)
    }
}

/// An encoder with a head, ready to run. Models are immutable and shareable across threads.
pub trait EncoderModel: Send + Sync {
    /// Runs the model; `train` turns dropout on.
    fn forward_t(&self, input: &EncoderInput, train: bool) -> Result<ModelOutput>;

    /// Inference: `forward_t` without dropout.
    fn forward(&self, input: &EncoderInput) -> Result<ModelOutput> {
        self.forward_t(input, false)
    }
}
