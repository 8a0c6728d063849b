//! Sentences streamed from files (gensim's `LineSentence` convention) or held in memory.
//!
//! A file holds one sentence a line, tokens separated by whitespace. Lines longer than
//! [`MAX_SENTENCE_LEN`] tokens are cut into chunks of that length, as gensim's `LineSentence` does,
//! so a file with no newlines at all is still trained with bounded memory. Files are read
//! again on every pass (vocabulary scan, each epoch): the corpus never has to fit in memory.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use crate::error::{EmbeddingsError, Result};

/// Longest sentence handed to the trainer (gensim's `MAX_WORDS_IN_BATCH` / `max_sentence_length`).
pub const MAX_SENTENCE_LEN: usize = 10_000;

/// Where training sentences come from.
#[derive(Debug, Clone)]
pub enum Corpus {
    /// Plain-text files, one sentence a line, read in order.
    Files(Vec<PathBuf>),
    /// Sentences already tokenised, e.g. for tests and small examples.
    Sentences(Vec<Vec<String>>),
}

impl Corpus {
    pub fn from_files<P: AsRef<Path>>(paths: &[P]) -> Self {
        Corpus::Files(paths.iter().map(|p| p.as_ref().to_path_buf()).collect())
    }

    pub fn from_sentences<S: AsRef<str>>(sentences: &[Vec<S>]) -> Self {
        Corpus::Sentences(
            sentences
                .iter()
                .map(|s| s.iter().map(|w| w.as_ref().to_string()).collect())
                .collect(),
        )
    }

    /// A description for error messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            Corpus::Files(paths) => {
                let names: Vec<String> =
                    paths.iter().map(|p| format!("'{}'", p.display())).collect();
                names.join(", ")
            }
            Corpus::Sentences(s) => format!("{} in-memory sentences", s.len()),
        }
    }

    /// Checks that every file can be opened, so training fails before the first pass rather than in it.
    pub(crate) fn check(&self) -> Result<()> {
        if let Corpus::Files(paths) = self {
            if paths.is_empty() {
                return Err(EmbeddingsError::EmptyCorpus {
                    what: "an empty list of files".into(),
                });
            }
            for p in paths {
                File::open(p).map_err(|e| EmbeddingsError::io(p, e))?;
            }
        }
        Ok(())
    }

    pub(crate) fn stream(&self) -> SentenceStream<'_> {
        SentenceStream {
            corpus: self,
            file: 0,
            reader: None,
            line: Vec::new(),
            pos: 0,
            line_no: 0,
            sentence: 0,
        }
    }
}

/// One pass over a corpus, a sentence (or a chunk of a long line) at a time.
pub(crate) struct SentenceStream<'a> {
    corpus: &'a Corpus,
    file: usize,
    reader: Option<BufReader<File>>,
    line: Vec<u8>,
    /// Byte offset in `line` where the next chunk starts; `line.len()` when the line is done.
    pos: usize,
    line_no: u64,
    sentence: usize,
}

impl SentenceStream<'_> {
    /// Calls `f` on each token of the next sentence; `Ok(false)` at the end of the corpus.
    /// Empty lines are passed as empty sentences (they count for nothing).
    pub(crate) fn next_sentence<F: FnMut(&str)>(&mut self, mut f: F) -> Result<bool> {
        match self.corpus {
            Corpus::Sentences(sentences) => {
                // Long in-memory sentences are chunked like long lines.
                let Some(s) = sentences.get(self.sentence) else {
                    return Ok(false);
                };
                let start = self.pos;
                let end = (start + MAX_SENTENCE_LEN).min(s.len());
                for w in &s[start..end] {
                    f(w);
                }
                if end >= s.len() {
                    self.sentence += 1;
                    self.pos = 0;
                } else {
                    self.pos = end;
                }
                Ok(true)
            }
            Corpus::Files(paths) => {
                while self.pos >= self.line.len() {
                    if !self.read_line(paths)? {
                        return Ok(false);
                    }
                }
                let path = &paths[self.file];
                let rest = &self.line[self.pos..];
                let text = std::str::from_utf8(rest).map_err(|e| EmbeddingsError::InvalidUtf8 {
                    path: path.clone(),
                    line: self.line_no,
                    byte: self.pos + e.valid_up_to(),
                })?;
                let mut next = self.line.len();
                for (n, tok) in text.split_whitespace().enumerate() {
                    if n == MAX_SENTENCE_LEN {
                        next = self.pos + (tok.as_ptr() as usize - text.as_ptr() as usize);
                        break;
                    }
                    f(tok);
                }
                self.pos = next;
                Ok(true)
            }
        }
    }

    /// Reads the next line into `self.line`, moving to the next file at end of file.
    fn read_line(&mut self, paths: &[PathBuf]) -> Result<bool> {
        loop {
            if self.file >= paths.len() {
                return Ok(false);
            }
            if self.reader.is_none() {
                let path = &paths[self.file];
                let f = File::open(path).map_err(|e| EmbeddingsError::io(path, e))?;
                self.reader = Some(BufReader::with_capacity(1 << 20, f));
                self.line_no = 0;
            }
            self.line.clear();
            self.pos = 0;
            let reader = self.reader.as_mut().expect("reader was just opened");
            let n = reader
                .read_until(b'\n', &mut self.line)
                .map_err(|e| EmbeddingsError::io(&paths[self.file], e))?;
            if n == 0 {
                self.reader = None;
                self.file += 1;
                continue;
            }
            self.line_no += 1;
            // A line may be empty; the caller sees it as an empty sentence only if it has bytes.
            if self.line.iter().all(|b| b.is_ascii_whitespace()) {
                continue;
            }
            return Ok(true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn collect(c: &Corpus) -> Result<Vec<Vec<String>>> {
        let mut out = Vec::new();
        let mut s = c.stream();
        loop {
            let mut sent = Vec::new();
            if !s.next_sentence(|w| sent.push(w.to_string()))? {
                break;
            }
            out.push(sent);
        }
        Ok(out)
    }

    #[test]
    fn files_are_read_line_by_line_across_files() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.txt");
        let b = dir.path().join("b.txt");
        std::fs::write(&a, "the cat  sat\n\n  on\tthe mat \n").unwrap();
        std::fs::write(&b, "a dog").unwrap();
        let got = collect(&Corpus::from_files(&[a, b])).unwrap();
        assert_eq!(
            got,
            vec![
                vec!["the", "cat", "sat"],
                vec!["on", "the", "mat"],
                vec!["a", "dog"]
            ]
        );
    }

    #[test]
    fn a_line_of_100000_words_is_split_into_chunks_of_10000() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("long.txt");
        let mut f = File::create(&p).unwrap();
        for i in 0..100_000 {
            write!(f, "w{} ", i % 7).unwrap();
        }
        writeln!(f).unwrap();
        writeln!(f, "short line").unwrap();
        drop(f);
        let got = collect(&Corpus::from_files(&[p])).unwrap();
        assert_eq!(got.len(), 11);
        assert!(got[..10].iter().all(|s| s.len() == MAX_SENTENCE_LEN));
        assert_eq!(got[1][0], format!("w{}", 10_000 % 7));
        assert_eq!(got[10], vec!["short", "line"]);
    }

    #[test]
    fn invalid_utf8_is_an_error_naming_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.txt");
        std::fs::write(&p, b"fine line\nbad \xff\xfe byte\n").unwrap();
        let err = collect(&Corpus::from_files(&[&p])).unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(
                err,
                EmbeddingsError::InvalidUtf8 {
                    line: 2,
                    byte: 4,
                    ..
                }
            ),
            "{msg}"
        );
        assert!(msg.contains("UTF-8"), "{msg}");
    }

    #[test]
    fn missing_file_is_reported_before_training() {
        let c = Corpus::from_files(&["/nonexistent/corpus.txt"]);
        let msg = c.check().unwrap_err().to_string();
        assert!(msg.contains("/nonexistent/corpus.txt"), "{msg}");
    }
}
