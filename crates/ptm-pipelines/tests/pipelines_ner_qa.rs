//! token-classification and question-answering against transformers 4.57 on the fixtures:
//! every case of `tests/fixtures/pipelines/{token-classification,question-answering}.json`,
//! scores to 1e-4, labels, words and offsets exactly; and inputs that must fail cleanly.

mod common;

use common::{assert_matches, cases, inputs, model_dir, offline};
use ptm_pipelines::pipelines::token_classification::AggregationStrategy;
use ptm_pipelines::pipelines::{question_answering, token_classification, PipelineOptions};
use ptm_pipelines::{pipeline, Pipeline, PipelineInput, PipelineTask};
use serde_json::Value;

fn usize_of(v: &Value) -> Option<usize> {
    v.as_u64().map(|n| n as usize)
}

/// transformers' keyword arguments of `TokenClassificationPipeline`, as ptm options.
fn ner_options(kwargs: &Value) -> PipelineOptions {
    // Without a stride transformers truncates long texts; ptm would read them whole.
    let mut o = token_classification::Options {
        truncate: kwargs.get("stride").is_none(),
        ..Default::default()
    };
    for (key, value) in kwargs.as_object().unwrap() {
        match key.as_str() {
            "aggregation_strategy" => {
                o.aggregation_strategy =
                    AggregationStrategy::from_name(value.as_str().unwrap()).unwrap()
            }
            "ignore_labels" => {
                o.ignore_labels = value
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|l| l.as_str().unwrap().to_string())
                    .collect()
            }
            "stride" => o.stride = usize_of(value),
            other => panic!("token-classification fixture has an unknown kwarg {other}"),
        }
    }
    PipelineOptions {
        token_classification: o,
        ..Default::default()
    }
}

/// transformers' keyword arguments of `QuestionAnsweringPipeline`, as ptm options.
fn qa_options(kwargs: &Value) -> PipelineOptions {
    let mut o = question_answering::Options::default();
    for (key, value) in kwargs.as_object().unwrap() {
        match key.as_str() {
            "top_k" => o.top_k = usize_of(value).unwrap(),
            "doc_stride" => o.doc_stride = usize_of(value),
            "max_answer_len" => o.max_answer_len = usize_of(value).unwrap(),
            "max_seq_len" => o.max_seq_len = usize_of(value),
            "max_question_len" => o.max_question_len = usize_of(value).unwrap(),
            "handle_impossible_answer" => o.handle_impossible_answer = value.as_bool().unwrap(),
            "align_to_words" => o.align_to_words = value.as_bool().unwrap(),
            other => panic!("question-answering fixture has an unknown kwarg {other}"),
        }
    }
    PipelineOptions {
        question_answering: o,
        ..Default::default()
    }
}

/// Runs every case of a task file with options built from its kwargs.
fn check_task(file: &str, task: PipelineTask, options: impl Fn(&Value) -> PipelineOptions) {
    let all = cases(file);
    assert!(!all.is_empty(), "{file} has no cases");
    for case in &all {
        let model = case["model"].as_str().unwrap();
        let kwargs = &case["kwargs"];
        let p = pipeline(task, &model_dir(model), &offline(), &options(kwargs))
            .unwrap_or_else(|e| panic!("{model} {kwargs}: {e}"));
        let ins = inputs(case);
        // Each input alone, as transformers was run, and the whole case as one batch.
        let batched = p.run_json(&ins);
        for (i, expected) in case["outputs"].as_array().unwrap().iter().enumerate() {
            let what = format!("{file} {model} {kwargs} input {i}");
            let alone = p
                .run_json(&ins[i..=i])
                .pop()
                .unwrap()
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_matches(&alone, expected, &what);
            let in_batch = batched[i]
                .as_ref()
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_matches(in_batch, expected, &format!("{what} (in a batch)"));
        }
    }
}

#[test]
fn token_classification_matches_transformers() {
    check_task(
        "token-classification",
        PipelineTask::TokenClassification,
        ner_options,
    );
}

#[test]
fn question_answering_matches_transformers() {
    check_task(
        "question-answering",
        PipelineTask::QuestionAnswering,
        qa_options,
    );
}

fn qa(options: question_answering::Options) -> Box<dyn Pipeline> {
    let options = PipelineOptions {
        question_answering: options,
        ..Default::default()
    };
    pipeline(
        PipelineTask::QuestionAnswering,
        &model_dir("bert-qa"),
        &offline(),
        &options,
    )
    .unwrap()
}

fn question(q: &str, c: &str) -> PipelineInput {
    PipelineInput::Question {
        question: q.into(),
        context: c.into(),
    }
}

#[test]
fn question_answering_refuses_empty_questions_and_contexts() {
    let p = qa(Default::default());
    let out = p.run_json(&[
        question("", "Alice lives in Berlin."),
        question("Where?", ""),
        question("Where does Alice live?", "Alice lives in Berlin."),
    ]);
    let err = out[0].as_ref().unwrap_err().to_string();
    assert!(err.contains("question"), "{err}");
    let err = out[1].as_ref().unwrap_err().to_string();
    assert!(err.contains("context"), "{err}");
    // The bad inputs do not spoil the good one beside them.
    assert!(out[2].as_ref().unwrap()["answer"].is_string());
}

#[test]
fn question_answering_answers_a_context_shorter_than_its_question() {
    let p = qa(Default::default());
    let out = p.run_json(&[question(
        "Where exactly in the whole wide world does Alice live these days?",
        "Berlin.",
    )]);
    let answer = out[0].as_ref().unwrap();
    let (start, end) = (
        answer["start"].as_u64().unwrap(),
        answer["end"].as_u64().unwrap(),
    );
    assert!(start <= end && end <= 7, "{answer}");
    // A context of whitespace has no token to answer with: an empty answer, not a panic.
    let out = p.run_json(&[question("Where?", "   ")]);
    assert!(out[0].is_ok(), "{:?}", out[0]);
}

#[test]
fn question_answering_truncates_a_question_that_leaves_no_room_for_the_context() {
    // bert-qa reads 64 tokens; a 100-word question would leave none for the context.
    let long_question = vec!["where"; 100].join(" ") + "?";
    let context = "Alice lives in Berlin near the river with her cat. ".repeat(4);
    let p = qa(Default::default());
    let out = p.run_json(&[question(&long_question, &context)]);
    let answer = out[0].as_ref().unwrap_or_else(|e| panic!("{e}"));
    assert!(answer["answer"].is_string(), "{answer}");
    // With windows that must overlap by 61 of 64 tokens, no question fits: the error says
    // what to change.
    let p = qa(question_answering::Options {
        doc_stride: Some(61),
        ..Default::default()
    });
    let err = p.run_json(&[question(&long_question, &context)])[0]
        .as_ref()
        .unwrap_err()
        .to_string();
    assert!(err.contains("doc_stride"), "{err}");
}

#[test]
fn question_answering_rejects_bad_options() {
    let build = |o: question_answering::Options| {
        pipeline(
            PipelineTask::QuestionAnswering,
            &model_dir("bert-qa"),
            &offline(),
            &PipelineOptions {
                question_answering: o,
                ..Default::default()
            },
        )
        .err()
        .map(|e| e.to_string())
    };
    let defaults = question_answering::Options::default;
    for (options, needle) in [
        (
            question_answering::Options {
                top_k: 0,
                ..defaults()
            },
            "top_k",
        ),
        (
            question_answering::Options {
                max_answer_len: 0,
                ..defaults()
            },
            "max_answer_len",
        ),
        (
            question_answering::Options {
                doc_stride: Some(65),
                max_seq_len: Some(64),
                ..defaults()
            },
            "doc_stride",
        ),
    ] {
        let err = build(options).expect("an error");
        assert!(err.contains(needle), "{err}");
    }
}

#[test]
fn question_answering_refuses_text_inputs() {
    let p = qa(Default::default());
    assert!(p.run_json(&[PipelineInput::Text("no question".into())])[0].is_err());
}

fn ner(options: token_classification::Options) -> Result<Box<dyn Pipeline>, String> {
    pipeline(
        PipelineTask::TokenClassification,
        &model_dir("bert-tokcls"),
        &offline(),
        &PipelineOptions {
            token_classification: options,
            ..Default::default()
        },
    )
    .map_err(|e| e.to_string())
}

#[test]
fn token_classification_stride_needs_aggregation_and_room() {
    let err = ner(token_classification::Options {
        stride: Some(8),
        ..Default::default()
    })
    .err()
    .unwrap();
    assert!(err.contains("aggregation_strategy"), "{err}");
    let err = ner(token_classification::Options {
        stride: Some(64),
        aggregation_strategy: AggregationStrategy::Simple,
        ..Default::default()
    })
    .err()
    .unwrap();
    assert!(err.contains("stride"), "{err}");
}

#[test]
fn token_classification_with_stride_reads_the_whole_text() {
    let p = ner(token_classification::Options {
        stride: Some(16),
        aggregation_strategy: AggregationStrategy::Simple,
        ignore_labels: vec![],
        truncate: false,
    })
    .unwrap();
    let text = "Alice lives in Berlin near the river with her cat. ".repeat(12);
    let out = p.run_json(&[PipelineInput::Text(text.clone())]);
    let groups = out[0].as_ref().unwrap().as_array().unwrap().clone();
    let last_end = groups.last().unwrap()["end"].as_u64().unwrap() as usize;
    // Nothing ignored, so the groups reach the end of the text (its last '.').
    assert_eq!(last_end, text.trim_end().chars().count(), "{groups:?}");
}

#[test]
fn token_classification_reads_long_texts_whole_by_default_and_truncates_on_request() {
    let text = "Alice lives in Berlin near the river with her cat. ".repeat(12);
    let last_end = |truncate: bool| {
        let p = ner(token_classification::Options {
            aggregation_strategy: AggregationStrategy::First,
            ignore_labels: vec![],
            truncate,
            ..Default::default()
        })
        .unwrap();
        let out = p.run_json(&[PipelineInput::Text(text.clone())]);
        let groups = out[0].as_ref().unwrap().as_array().unwrap().clone();
        groups.last().unwrap()["end"].as_u64().unwrap() as usize
    };
    assert_eq!(last_end(false), text.trim_end().chars().count());
    assert!(last_end(true) < text.chars().count() / 2);
}

#[test]
fn token_classification_refuses_question_inputs() {
    let p = ner(Default::default()).unwrap();
    assert!(p.run_json(&[question("q", "c")])[0].is_err());
}
