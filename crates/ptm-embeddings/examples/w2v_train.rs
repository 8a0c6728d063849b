//! A dependency-light twin of `ptm embeddings train word2vec|fasttext` for benchmarking the
//! library without building the whole `ptm` CLI (which pulls in candle). It accepts the same
//! argument spelling: `w2v_train embeddings train word2vec --corpus F --output P --sg 1 ...`
//! and prints the same JSON report. Only the options the comparison script uses are parsed.
//!
//! cargo run --release -p ptm-embeddings --example w2v_train -- embeddings train word2vec ...

use ptm_embeddings::{
    save_vectors, Corpus, FastText, SubwordParams, VectorFormat, Word2Vec, Word2VecParams,
};

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let rest = match args.as_slice() {
        ["embeddings", "train", kind @ ("word2vec" | "fasttext"), rest @ ..] => (kind.to_string(), rest),
        _ => return Err("usage: w2v_train embeddings train word2vec|fasttext --corpus F --output P [--key value ...]".into()),
    };
    let (kind, rest) = rest;
    let mut p = Word2VecParams::default();
    let mut sub = SubwordParams::default();
    let (mut corpus, mut output, mut format) = (Vec::new(), None, "word2vec-binary".to_string());
    let mut i = 0;
    while i < rest.len() {
        let key = rest[i];
        if key == "--quiet" {
            i += 1;
            continue;
        }
        let val = *rest.get(i + 1).ok_or(format!("{key} needs a value"))?;
        match key {
            "--corpus" => corpus.push(val.to_string()),
            "--output" => output = Some(val.to_string()),
            "--format" => format = val.to_string(),
            "--vector-size" => p.vector_size = val.parse()?,
            "--window" => p.window = val.parse()?,
            "--min-count" => p.min_count = val.parse()?,
            "--sample" => p.sample = val.parse()?,
            "--seed" => p.seed = val.parse()?,
            "--workers" => p.workers = val.parse()?,
            "--alpha" => p.alpha = val.parse()?,
            "--min-alpha" => p.min_alpha = val.parse()?,
            "--sg" => p.sg = val == "1",
            "--hs" => p.hs = val == "1",
            "--negative" => p.negative = val.parse()?,
            "--ns-exponent" => p.ns_exponent = val.parse()?,
            "--cbow-mean" => p.cbow_mean = val == "1",
            "--epochs" => p.epochs = val.parse()?,
            "--min-n" => sub.min_n = val.parse()?,
            "--max-n" => sub.max_n = val.parse()?,
            "--bucket" => sub.bucket = val.parse()?,
            _ => return Err(format!("unknown option {key}").into()),
        }
        i += 2;
    }
    let output = output.ok_or("--output is required")?;
    let format = VectorFormat::parse(&format).ok_or("unknown --format")?;
    let corpus = Corpus::from_files(&corpus);
    let (words, report) = if kind == "word2vec" {
        let (mut m, r) = Word2Vec::train_new_with_progress(&corpus, p, None)?;
        if format == VectorFormat::FastTextBin {
            m.save(&output)?;
        } else {
            save_vectors(&m.wv, &output, format)?;
        }
        (m.wv.len(), r)
    } else {
        let (m, r) = FastText::train_new_with_progress(&corpus, p, sub, None)?;
        if format == VectorFormat::FastTextBin {
            m.save(&output)?;
        } else {
            save_vectors(&m.keyed_vectors(), &output, format)?;
        }
        (m.vocab().len(), r)
    };
    println!(
        "{}",
        serde_json::json!({
            "model": kind, "output": output, "vocab_size": words, "words": report.words,
            "effective_words": report.effective_words, "seconds": report.seconds,
            "words_per_sec": report.words_per_sec,
        })
    );
    Ok(())
}
