//! End-to-end training on a tiny synthetic corpus: the vectors must learn which words share
//! contexts. Two "topics" each have their own words; sentences never mix topics, so a word must
//! end up closer to the words of its own topic than to the other topic's.

use ptm_embeddings::{Corpus, FastText, KeyedVectors, SubwordParams, Word2Vec, Word2VecParams};

fn synthetic_corpus(sentences: usize) -> Vec<Vec<String>> {
    let topics: [&[&str]; 2] = [
        &["cat", "dog", "horse", "cow", "sheep", "goat", "pig", "duck"],
        &[
            "red", "green", "blue", "yellow", "purple", "orange", "pink", "brown",
        ],
    ];
    let mut state = 42u64;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as usize
    };
    (0..sentences)
        .map(|_| {
            let t = topics[next() % 2];
            (0..10).map(|_| t[next() % t.len()].to_string()).collect()
        })
        .collect()
}

fn params(sg: bool, hs: bool, workers: usize) -> Word2VecParams {
    Word2VecParams {
        vector_size: 16,
        window: 3,
        min_count: 1,
        sg,
        hs,
        negative: if hs { 0 } else { 5 },
        epochs: 5,
        workers,
        sample: 0.0,
        seed: 7,
        ..Default::default()
    }
}

/// Mean similarity within topics minus mean similarity across topics.
fn separation(kv: &KeyedVectors) -> f32 {
    let a = ["cat", "dog", "horse", "cow"];
    let b = ["red", "green", "blue", "yellow"];
    let mut within = 0.0;
    let mut across = 0.0;
    for x in a {
        for y in a {
            if x != y {
                within += kv.similarity(x, y).unwrap() / 12.0;
            }
        }
        for y in b {
            across += kv.similarity(x, y).unwrap() / 16.0;
        }
    }
    within - across
}

#[test]
fn word2vec_learns_topics_in_every_mode() {
    let corpus = Corpus::from_sentences(&synthetic_corpus(2000));
    for (sg, hs) in [(true, false), (false, false), (true, true), (false, true)] {
        // One worker: a seeded run is deterministic, so the threshold cannot flake (with two
        // Hogwild workers the separation varies from run to run).
        let model = Word2Vec::train_new(&corpus, params(sg, hs, 1)).unwrap();
        let sep = separation(&model.wv);
        eprintln!("sg={sg} hs={hs}: separation {sep}");
        assert!(sep > 0.3, "sg={sg} hs={hs}: separation {sep}");
        let top = model.wv.most_similar(&["cat"], &[], 3, None).unwrap();
        assert!(
            top.iter().all(
                |(w, _)| ["dog", "horse", "cow", "sheep", "goat", "pig", "duck"]
                    .contains(&w.as_str())
            ),
            "sg={sg} hs={hs}: {top:?}"
        );
    }
}

#[test]
fn one_worker_and_a_seed_reproduce_the_run() {
    let corpus = Corpus::from_sentences(&synthetic_corpus(300));
    let a = Word2Vec::train_new(&corpus, params(true, false, 1)).unwrap();
    let b = Word2Vec::train_new(&corpus, params(true, false, 1)).unwrap();
    assert_eq!(a.wv.matrix(), b.wv.matrix());
    let c = Word2Vec::train_new(
        &corpus,
        Word2VecParams {
            seed: 8,
            ..params(true, false, 1)
        },
    )
    .unwrap();
    assert_ne!(a.wv.matrix(), c.wv.matrix());
}

#[test]
fn the_seed_example_from_gensim() {
    // gensim: Word2Vec(sentences, vector_size=100, window=5, min_count=1); model.wv["computer"]
    let sentences = vec![
        vec!["human", "interface", "computer"],
        vec!["survey", "user", "computer", "system"],
    ];
    let params = Word2VecParams {
        vector_size: 100,
        window: 5,
        min_count: 1,
        ..Default::default()
    };
    let model = Word2Vec::train_new(&Corpus::from_sentences(&sentences), params).unwrap();
    assert_eq!(model.wv.vector("computer").unwrap().len(), 100);
    assert_eq!(model.wv.words()[0], "computer");
}

#[test]
fn continued_training_extends_the_vocabulary() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = Corpus::from_sentences(&synthetic_corpus(500));
    let mut model = Word2Vec::train_new(&corpus, params(true, false, 1)).unwrap();
    let before = model.wv.vector("cat").unwrap().into_owned();
    let path = dir.path().join("model.bin");
    model.save(&path).unwrap();
    let mut loaded = Word2Vec::load(&path).unwrap();
    assert_eq!(loaded.wv.matrix(), model.wv.matrix());
    assert_eq!(loaded.vocab().counts, model.vocab().counts);
    let more = Corpus::from_sentences(&vec![vec!["zebra", "cat", "dog", "zebra"]; 50]);
    let added = loaded.build_vocab(&more, true).unwrap();
    assert_eq!(added, 1);
    assert_eq!(loaded.wv.words().last().unwrap(), "zebra");
    loaded.train(&more, None).unwrap();
    assert_ne!(loaded.wv.vector("cat").unwrap().into_owned(), before);
    assert!(loaded.wv.similarity("zebra", "dog").is_ok());
}

#[test]
fn fasttext_learns_and_covers_unseen_words() {
    let corpus = Corpus::from_sentences(&synthetic_corpus(1000));
    let sub = SubwordParams {
        min_n: 3,
        max_n: 5,
        bucket: 5000,
    };
    for sg in [true, false] {
        let model = FastText::train_new(&corpus, params(sg, false, 1), sub).unwrap();
        let kv = model.keyed_vectors();
        assert!(separation(&kv) > 0.2, "sg={sg}: {}", separation(&kv));
        // "horses" was never seen but shares n-grams with "horse".
        let v = kv.vector("horses").unwrap();
        assert_eq!(v.len(), 16);
        let model_v = model.vector("horses").unwrap();
        assert!(v.iter().zip(&model_v).all(|(a, b)| (a - b).abs() < 1e-5));
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ft.bin");
        model.save(&p).unwrap();
        let back = FastText::load(&p).unwrap();
        assert_eq!(back.vector("horses").unwrap(), model_v);
    }
}

#[test]
fn bad_corpora_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.txt");
    std::fs::write(&empty, "\n\n  \n").unwrap();
    let err =
        Word2Vec::train_new(&Corpus::from_files(&[&empty]), params(true, false, 1)).unwrap_err();
    assert!(err.to_string().contains("empty"), "{err}");
    let rare = dir.path().join("rare.txt");
    std::fs::write(&rare, "a b c d\n").unwrap();
    let err =
        Word2Vec::train_new(&Corpus::from_files(&[&rare]), Word2VecParams::default()).unwrap_err();
    assert!(err.to_string().contains("min_count=5"), "{err}");
    let bad = dir.path().join("bad.txt");
    std::fs::write(&bad, b"ok line\n\xc3\x28 broken\n").unwrap();
    let err =
        Word2Vec::train_new(&Corpus::from_files(&[&bad]), params(true, false, 1)).unwrap_err();
    assert!(err.to_string().contains("line 2"), "{err}");
    let err = Word2Vec::new(Word2VecParams {
        negative: 0,
        hs: false,
        ..Default::default()
    })
    .unwrap_err();
    assert!(err.to_string().contains("negative"), "{err}");
}

#[test]
fn a_line_of_100000_words_trains() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("long.txt");
    let line: Vec<String> = (0..100_000).map(|i| format!("w{}", i % 50)).collect();
    std::fs::write(&p, line.join(" ")).unwrap();
    let params = Word2VecParams {
        epochs: 1,
        ..params(true, false, 2)
    };
    let model = Word2Vec::train_new(&Corpus::from_files(&[&p]), params).unwrap();
    assert_eq!(model.wv.len(), 50);
}

#[test]
fn glove_learns_topics() {
    use ptm_embeddings::{Glove, GloveParams};
    let corpus = Corpus::from_sentences(&synthetic_corpus(1000));
    let params = GloveParams {
        vector_size: 16,
        window: 5,
        min_count: 1,
        epochs: 30,
        workers: 2,
        ..Default::default()
    };
    let (model, report) = Glove::train_new(&corpus, params, None).unwrap();
    // Words co-occur only within their topic: 2 topics x 8 x 8 cells.
    assert_eq!(report.cooccurrences, 2 * 8 * 8);
    assert!(
        report.cost.last().unwrap() < &report.cost[0],
        "{:?}",
        report.cost
    );
    let kv = model.keyed_vectors();
    assert!(separation(&kv) > 0.3, "{}", separation(&kv));
}
