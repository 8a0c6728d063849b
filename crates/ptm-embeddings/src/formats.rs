//! Reading and writing vectors in the formats everyone exchanges:
//!
//! - word2vec C text and binary (`<words> <dims>` header; gensim's `save_word2vec_format`, byte
//!   for byte: binary rows are `word<space><dims little-endian f32>` with no newline, text values
//!   are printed as numpy prints a float32);
//! - GloVe text (the text format without the header line);
//! - fastText `.vec` (the word2vec text format) and `.bin` (the full model, version 12, with the
//!   n-gram bucket rows, read and written).
//!
//! Binary files are memory-mapped; text files are streamed line by line. `limit` reads only the
//! first words (the most frequent ones in files written by gensim, word2vec.c and fastText).

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{EmbeddingsError, Result};
use crate::keyed_vectors::{KeyedVectors, SubwordVectors};
use crate::ngrams::ngram_buckets;

/// A vectors file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VectorFormat {
    Word2VecBinary,
    /// Also fastText's `.vec`.
    Word2VecText,
    /// word2vec text without the header line.
    GloveText,
    FastTextBin,
}

impl VectorFormat {
    pub fn name(self) -> &'static str {
        match self {
            VectorFormat::Word2VecBinary => "word2vec-binary",
            VectorFormat::Word2VecText => "word2vec-text",
            VectorFormat::GloveText => "glove-text",
            VectorFormat::FastTextBin => "fasttext-bin",
        }
    }

    pub fn parse(s: &str) -> Option<VectorFormat> {
        Some(match s {
            "word2vec-binary" | "word2vec-bin" | "bin" => VectorFormat::Word2VecBinary,
            "word2vec-text" | "word2vec" | "vec" | "text" => VectorFormat::Word2VecText,
            "glove-text" | "glove" => VectorFormat::GloveText,
            "fasttext-bin" | "fasttext" => VectorFormat::FastTextBin,
            _ => return None,
        })
    }
}

/// fastText's `FASTTEXT_FILEFORMAT_MAGIC_INT32` and the version this code reads and writes.
pub const FASTTEXT_MAGIC: i32 = 793_712_314;
pub const FASTTEXT_VERSION: i32 = 12;

/// Guesses the format of a vectors file from its first bytes: the fastText magic number, or a
/// `<words> <dims>` header followed by text or by raw floats, or neither (GloVe).
pub fn detect_format(path: &Path) -> Result<VectorFormat> {
    let mut f = File::open(path).map_err(|e| EmbeddingsError::io(path, e))?;
    let mut head = vec![0u8; 1 << 16];
    let mut n = 0;
    loop {
        let k = std::io::Read::read(&mut f, &mut head[n..])
            .map_err(|e| EmbeddingsError::io(path, e))?;
        if k == 0 {
            break;
        }
        n += k;
        if n == head.len() {
            break;
        }
    }
    head.truncate(n);
    if n >= 4 && i32::from_le_bytes([head[0], head[1], head[2], head[3]]) == FASTTEXT_MAGIC {
        return Ok(VectorFormat::FastTextBin);
    }
    let first_nl = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    let first = String::from_utf8_lossy(&head[..first_nl]);
    let fields: Vec<&str> = first.split_whitespace().collect();
    let header = fields.len() == 2 && fields.iter().all(|f| f.parse::<u64>().is_ok());
    if !header {
        return Ok(VectorFormat::GloveText);
    }
    let dims: usize = fields[1].parse().unwrap_or(0);
    // A text body's second line is `word` followed by `dims` numbers.
    let rest = &head[(first_nl + 1).min(head.len())..];
    let line_end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
    let is_text = std::str::from_utf8(&rest[..line_end]).is_ok_and(|line| {
        let parts: Vec<&str> = line.trim_end().split(' ').collect();
        parts.len() == dims + 1 && parts[1..].iter().all(|p| p.parse::<f32>().is_ok())
    });
    Ok(if is_text || rest.is_empty() {
        VectorFormat::Word2VecText
    } else {
        VectorFormat::Word2VecBinary
    })
}

/// Loads vectors, detecting the format when `format` is `None`.
pub fn load_vectors(
    path: impl AsRef<Path>,
    format: Option<VectorFormat>,
    limit: Option<usize>,
) -> Result<KeyedVectors> {
    let path = path.as_ref();
    let format = match format {
        Some(f) => f,
        None => detect_format(path)?,
    };
    match format {
        VectorFormat::Word2VecBinary => read_word2vec_binary(path, limit),
        VectorFormat::Word2VecText => read_word2vec_text(path, limit),
        VectorFormat::GloveText => read_glove_text(path, limit),
        VectorFormat::FastTextBin => Ok(FastTextBin::read(path)?.keyed_vectors(limit)),
    }
}

fn header_error(path: &Path, line: &str) -> EmbeddingsError {
    EmbeddingsError::Format {
        path: path.to_path_buf(),
        format: "word2vec",
        reason: format!(
            "the first line is {:?}, expected '<number of words> <dimensions>'; for a file without that header (GloVe) pass --format glove-text",
            line.chars().take(80).collect::<String>()
        ),
    }
}

fn parse_header(path: &Path, line: &str) -> Result<(usize, usize)> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    if fields.len() != 2 {
        return Err(header_error(path, line));
    }
    let words = fields[0]
        .parse::<usize>()
        .map_err(|_| header_error(path, line))?;
    let dims = fields[1]
        .parse::<usize>()
        .map_err(|_| header_error(path, line))?;
    if dims == 0 {
        return Err(header_error(path, line));
    }
    Ok((words, dims))
}

fn utf8_word(path: &Path, bytes: &[u8], line: u64, offset: usize) -> Result<String> {
    String::from_utf8(bytes.to_vec()).map_err(|e| EmbeddingsError::InvalidUtf8 {
        path: path.to_path_buf(),
        line,
        byte: offset + e.utf8_error().valid_up_to(),
    })
}

/// Reads the word2vec C binary format, memory-mapped.
pub fn read_word2vec_binary(path: impl AsRef<Path>, limit: Option<usize>) -> Result<KeyedVectors> {
    let path = path.as_ref();
    let file = File::open(path).map_err(|e| EmbeddingsError::io(path, e))?;
    // SAFETY: the map is read-only and dropped before returning; a file truncated by another
    // process while we read it could fault, a risk every memory-mapped reader accepts.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| EmbeddingsError::io(path, e))?;
    let data: &[u8] = &map;
    let nl = data.iter().position(|&b| b == b'\n').ok_or_else(|| {
        if data.is_empty() {
            EmbeddingsError::Format {
                path: path.to_path_buf(),
                format: "word2vec binary",
                reason: "the file is empty".into(),
            }
        } else {
            header_error(path, &String::from_utf8_lossy(&data[..data.len().min(80)]))
        }
    })?;
    let (announced, dims) = parse_header(path, &String::from_utf8_lossy(&data[..nl]))?;
    let n = limit.map_or(announced, |l| l.min(announced));
    let mut pos = nl + 1;
    let mut words = Vec::with_capacity(n);
    let mut vectors = Vec::with_capacity(n.saturating_mul(dims).min(1 << 28));
    let row_bytes = dims * 4;
    for i in 0..n {
        while pos < data.len() && data[pos] == b'\n' {
            pos += 1;
        }
        let start = pos;
        let space = data[start..].iter().position(|&b| b == b' ');
        let Some(space) = space else {
            return Err(EmbeddingsError::Truncated {
                path: path.to_path_buf(),
                reason: format!("the header announces {announced} words of {dims} dimensions but the data ends inside word {}", i + 1),
            });
        };
        let word = utf8_word(path, &data[start..start + space], i as u64 + 2, start)?;
        let vstart = start + space + 1;
        if data.len() - vstart < row_bytes {
            return Err(EmbeddingsError::Truncated {
                path: path.to_path_buf(),
                reason: format!(
                    "the header announces {announced} words of {dims} dimensions but the vector of word {} ('{word}') has only {} of its {row_bytes} bytes",
                    i + 1,
                    data.len() - vstart
                ),
            });
        }
        words.push(word);
        vectors.extend(
            data[vstart..vstart + row_bytes]
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
        );
        pos = vstart + row_bytes;
    }
    if limit.is_none() && data[pos..].iter().any(|b| !b.is_ascii_whitespace()) {
        return Err(EmbeddingsError::HeaderMismatch {
            path: path.to_path_buf(),
            expected: format!("{announced} words of {dims} dimensions"),
            found: format!("{} more bytes follow the last of them", data.len() - pos),
        });
    }
    KeyedVectors::new(words, vectors, dims)
}

/// Reads the word2vec C text format (fastText `.vec`), streamed.
pub fn read_word2vec_text(path: impl AsRef<Path>, limit: Option<usize>) -> Result<KeyedVectors> {
    read_text(path.as_ref(), true, limit)
}

/// Reads GloVe's text format: the word2vec text format without a header; the dimension is
/// taken from the first line.
pub fn read_glove_text(path: impl AsRef<Path>, limit: Option<usize>) -> Result<KeyedVectors> {
    read_text(path.as_ref(), false, limit)
}

fn read_text(path: &Path, header: bool, limit: Option<usize>) -> Result<KeyedVectors> {
    let file = File::open(path).map_err(|e| EmbeddingsError::io(path, e))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut buf = Vec::new();
    let mut line_no = 0u64;
    let mut read_line = |buf: &mut Vec<u8>, line_no: &mut u64| -> Result<bool> {
        buf.clear();
        let k = reader
            .read_until(b'\n', buf)
            .map_err(|e| EmbeddingsError::io(path, e))?;
        *line_no += 1;
        Ok(k > 0)
    };
    let format = if header {
        "word2vec text"
    } else {
        "GloVe text"
    };
    let mut announced = None;
    let mut dims = 0usize;
    if header {
        if !read_line(&mut buf, &mut line_no)? {
            return Err(EmbeddingsError::Format {
                path: path.to_path_buf(),
                format,
                reason: "the file is empty".into(),
            });
        }
        let (n, d) = parse_header(path, &String::from_utf8_lossy(&buf))?;
        announced = Some(n);
        dims = d;
    }
    let max = match (announced, limit) {
        (Some(a), Some(l)) => a.min(l),
        (Some(a), None) => a,
        (None, Some(l)) => l,
        (None, None) => usize::MAX,
    };
    let mut words = Vec::new();
    let mut vectors = Vec::new();
    while words.len() < max {
        if !read_line(&mut buf, &mut line_no)? {
            break;
        }
        let text = std::str::from_utf8(&buf).map_err(|e| EmbeddingsError::InvalidUtf8 {
            path: path.to_path_buf(),
            line: line_no,
            byte: e.valid_up_to(),
        })?;
        let text = text.trim_end();
        if text.is_empty() {
            continue;
        }
        let mut parts = text.split(' ');
        let word = parts.next().unwrap_or_default().to_string();
        let before = vectors.len();
        for p in parts {
            let v = p.parse::<f32>().map_err(|_| EmbeddingsError::Format {
                path: path.to_path_buf(),
                format,
                reason: format!("line {line_no}: {p:?} is not a number (is this a binary file? try --format word2vec-binary)"),
            })?;
            vectors.push(v);
        }
        let got = vectors.len() - before;
        if dims == 0 {
            if got == 0 {
                return Err(EmbeddingsError::Format {
                    path: path.to_path_buf(),
                    format,
                    reason: format!("line {line_no} has a word but no numbers"),
                });
            }
            dims = got;
        }
        if got != dims {
            let expected = if header {
                format!("{dims} dimensions")
            } else {
                format!("{dims} dimensions (from line 1)")
            };
            return Err(EmbeddingsError::HeaderMismatch {
                path: path.to_path_buf(),
                expected,
                found: format!("line {line_no} ('{word}') has {got} values"),
            });
        }
        words.push(word);
    }
    if let Some(a) = announced {
        if words.len() < max {
            return Err(EmbeddingsError::HeaderMismatch {
                path: path.to_path_buf(),
                expected: format!("{a} words"),
                found: format!("the file holds only {}", words.len()),
            });
        }
        if limit.is_none() {
            // Anything but blank lines after the announced words means the header is wrong.
            while read_line(&mut buf, &mut line_no)? {
                if buf.iter().any(|b| !b.is_ascii_whitespace()) {
                    return Err(EmbeddingsError::HeaderMismatch {
                        path: path.to_path_buf(),
                        expected: format!("{a} words"),
                        found: format!("line {line_no} holds another word"),
                    });
                }
            }
        }
    }
    if words.is_empty() {
        return Err(EmbeddingsError::Format {
            path: path.to_path_buf(),
            format,
            reason: "no vectors were found".into(),
        });
    }
    KeyedVectors::new(words, vectors, dims)
}

fn create(path: &Path) -> Result<BufWriter<File>> {
    let f = File::create(path).map_err(|e| EmbeddingsError::write(path, e))?;
    Ok(BufWriter::with_capacity(1 << 20, f))
}

/// Writes the word2vec C format exactly as gensim 4.4's `save_word2vec_format` does.
pub fn write_word2vec(kv: &KeyedVectors, path: impl AsRef<Path>, binary: bool) -> Result<()> {
    let path = path.as_ref();
    let mut out = create(path)?;
    let werr = |e| EmbeddingsError::write(path, e);
    writeln!(out, "{} {}", kv.len(), kv.dim()).map_err(werr)?;
    write_rows(kv, &mut out, binary).map_err(werr)?;
    out.flush().map_err(werr)
}

/// Writes GloVe's text format (no header).
pub fn write_glove_text(kv: &KeyedVectors, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let mut out = create(path)?;
    let werr = |e| EmbeddingsError::write(path, e);
    write_rows(kv, &mut out, false).map_err(werr)?;
    out.flush().map_err(werr)
}

fn write_rows(kv: &KeyedVectors, out: &mut impl Write, binary: bool) -> std::io::Result<()> {
    let mut line = String::new();
    for (i, w) in kv.words().iter().enumerate() {
        let row = kv.row(i);
        if binary {
            out.write_all(w.as_bytes())?;
            out.write_all(b" ")?;
            for v in row {
                out.write_all(&v.to_le_bytes())?;
            }
        } else {
            line.clear();
            line.push_str(w);
            for v in row {
                line.push(' ');
                push_numpy_f32(&mut line, *v);
            }
            line.push('\n');
            out.write_all(line.as_bytes())?;
        }
    }
    Ok(())
}

/// Formats an f32 as `str(numpy.float32(v))` does (numpy 2): the shortest digits that read back
/// to the same float32, positional for 1e-4 <= |v| < 1e6 (with at least one decimal), scientific
/// otherwise with a signed exponent of at least two digits (`1e-05`, `1.5e+07`).
pub fn push_numpy_f32(out: &mut String, v: f32) {
    use std::fmt::Write as _;
    if v.is_nan() {
        out.push_str("nan");
        return;
    }
    if v.is_infinite() {
        out.push_str(if v > 0.0 { "inf" } else { "-inf" });
        return;
    }
    if v.is_sign_negative() {
        out.push('-');
    }
    if v == 0.0 {
        out.push_str("0.0");
        return;
    }
    let (digits, exp) = shortest_digits(v.abs());
    let a = v.abs() as f64;
    if (1e-4..1e6).contains(&a) {
        if exp >= 0 {
            let int_len = exp as usize + 1;
            if digits.len() <= int_len {
                out.push_str(&digits);
                out.extend(std::iter::repeat_n('0', int_len - digits.len()));
                out.push_str(".0");
            } else {
                out.push_str(&digits[..int_len]);
                out.push('.');
                out.push_str(&digits[int_len..]);
            }
        } else {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-exp - 1) as usize));
            out.push_str(&digits);
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let sign = if exp < 0 { '-' } else { '+' };
        let _ = write!(out, "e{sign}{:02}", exp.abs());
    }
}

/// The shortest decimal digits that read back to `v` (> 0) and the decimal exponent of the first.
/// When two such digit strings are equally close to `v`, numpy (Dragon4) takes the one ending in
/// an even digit, while Rust's formatter takes the larger: such ties are resolved numpy's way.
fn shortest_digits(v: f32) -> (String, i32) {
    let s = format!("{v:e}");
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let k = digits.len();
    let last = digits.as_bytes()[k - 1] - b'0';
    if last % 2 == 1 {
        // The exact binary value, in decimal (Rust's fixed-precision formatting is exact).
        let exact = format!("{:.60e}", v as f64);
        let exact_digits: String = exact
            .split_once('e')
            .map_or("", |x| x.0)
            .chars()
            .filter(|c| c.is_ascii_digit())
            .collect();
        let mut lower = digits.clone().into_bytes();
        lower[k - 1] -= 1;
        let tie = exact_digits.len() > k
            && exact_digits.as_bytes()[..k] == lower[..]
            && exact_digits.as_bytes()[k] == b'5'
            && exact_digits.as_bytes()[k + 1..].iter().all(|&c| c == b'0');
        if tie {
            digits = String::from_utf8(lower).unwrap_or(digits);
        }
    }
    (digits, exp)
}

/// A fastText `.bin` model (format version 12): hyper-parameters, the dictionary with counts,
/// the input matrix (one row per word, then `bucket` n-gram rows) and the output matrix.
#[derive(Debug, Clone)]
pub struct FastTextBin {
    pub args: FastTextArgs,
    pub words: Vec<String>,
    pub counts: Vec<u64>,
    pub ntokens: i64,
    /// `(words.len() + bucket) * dim` floats.
    pub input: Vec<f32>,
    /// `output_rows * dim` floats.
    pub output: Vec<f32>,
    pub output_rows: usize,
}

/// fastText's `Args` as stored in `.bin` files.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FastTextArgs {
    pub dim: i32,
    pub ws: i32,
    pub epoch: i32,
    pub min_count: i32,
    pub neg: i32,
    pub word_ngrams: i32,
    /// 1 = hierarchical softmax, 2 = negative sampling, 3 = softmax, 4 = one-vs-all.
    pub loss: i32,
    /// 1 = cbow, 2 = skip-gram, 3 = supervised.
    pub model: i32,
    pub bucket: i32,
    pub minn: i32,
    pub maxn: i32,
    pub lr_update_rate: i32,
    pub t: f64,
}

struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
    path: &'a Path,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        if self.data.len() - self.pos < n {
            return Err(EmbeddingsError::Truncated {
                path: self.path.to_path_buf(),
                reason: format!("it ends at byte {} while reading {what}", self.data.len()),
            });
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn i32(&mut self, what: &str) -> Result<i32> {
        Ok(i32::from_le_bytes(
            self.take(4, what)?.try_into().expect("4 bytes"),
        ))
    }
    fn i64(&mut self, what: &str) -> Result<i64> {
        Ok(i64::from_le_bytes(
            self.take(8, what)?.try_into().expect("8 bytes"),
        ))
    }
    fn f64(&mut self, what: &str) -> Result<f64> {
        Ok(f64::from_le_bytes(
            self.take(8, what)?.try_into().expect("8 bytes"),
        ))
    }
    fn u8(&mut self, what: &str) -> Result<u8> {
        Ok(self.take(1, what)?[0])
    }
}

impl FastTextBin {
    pub fn read(path: impl AsRef<Path>) -> Result<FastTextBin> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|e| EmbeddingsError::io(path, e))?;
        // SAFETY: read-only map, dropped before returning (see read_word2vec_binary).
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| EmbeddingsError::io(path, e))?;
        let mut c = Cursor {
            data: &map,
            pos: 0,
            path,
        };
        let bad = |reason: String| EmbeddingsError::Format {
            path: path.to_path_buf(),
            format: "fastText .bin",
            reason,
        };
        let magic = c.i32("the magic number")?;
        if magic != FASTTEXT_MAGIC {
            return Err(bad(format!(
                "it does not start with fastText's magic number {FASTTEXT_MAGIC} (found {magic}); for .vec or word2vec files pass --format word2vec-text or word2vec-binary"
            )));
        }
        let version = c.i32("the version")?;
        if version != 11 && version != 12 {
            return Err(bad(format!(
                "format version {version} is not supported (11 and 12 are)"
            )));
        }
        let mut args = FastTextArgs {
            dim: c.i32("args")?,
            ws: c.i32("args")?,
            epoch: c.i32("args")?,
            min_count: c.i32("args")?,
            neg: c.i32("args")?,
            word_ngrams: c.i32("args")?,
            loss: c.i32("args")?,
            model: c.i32("args")?,
            bucket: c.i32("args")?,
            minn: c.i32("args")?,
            maxn: c.i32("args")?,
            lr_update_rate: c.i32("args")?,
            t: c.f64("args")?,
        };
        if version == 11 && args.model == 3 {
            args.maxn = 0;
        }
        if args.dim <= 0 || args.bucket < 0 || args.minn < 0 || args.maxn < 0 {
            return Err(bad(format!("implausible arguments {args:?}")));
        }
        let size = c.i32("the dictionary size")?;
        let nwords = c.i32("the dictionary")?;
        let _nlabels = c.i32("the dictionary")?;
        let ntokens = c.i64("the dictionary")?;
        let prune = c.i64("the dictionary")?;
        if size < 0 || nwords < 0 || nwords > size {
            return Err(bad(format!(
                "implausible dictionary size {size} with {nwords} words"
            )));
        }
        let mut words = Vec::with_capacity(nwords as usize);
        let mut counts = Vec::with_capacity(nwords as usize);
        for i in 0..size {
            let rest = &c.data[c.pos..];
            let end =
                rest.iter()
                    .position(|&b| b == 0)
                    .ok_or_else(|| EmbeddingsError::Truncated {
                        path: path.to_path_buf(),
                        reason: format!("it ends inside dictionary entry {}", i + 1),
                    })?;
            let word = utf8_word(path, &rest[..end], i as u64 + 1, c.pos)?;
            c.pos += end + 1;
            let count = c.i64("a dictionary entry")?;
            let kind = c.u8("a dictionary entry")?;
            if kind == 0 && words.len() < nwords as usize {
                words.push(word);
                counts.push(count.max(0) as u64);
            }
        }
        if prune > 0 {
            return Err(bad(
                "it is a pruned (quantised) model; only full .bin models are supported, not .ftz"
                    .into(),
            ));
        }
        if c.u8("the quantisation flag")? != 0 {
            return Err(bad(
                "its input matrix is quantised (.ftz); only full .bin models are supported".into(),
            ));
        }
        let dim = args.dim as usize;
        let (input, rows) = read_matrix(&mut c, dim, "the input matrix")?;
        let expected_rows = words.len() + args.bucket as usize;
        if rows != expected_rows && rows != size as usize + args.bucket as usize {
            return Err(EmbeddingsError::HeaderMismatch {
                path: path.to_path_buf(),
                expected: format!(
                    "{} words + {} buckets = {expected_rows} input rows",
                    words.len(),
                    args.bucket
                ),
                found: format!("the input matrix has {rows} rows"),
            });
        }
        let (output, output_rows) = if c.pos < c.data.len() {
            let _qout = c.u8("the output quantisation flag")?;
            read_matrix(&mut c, dim, "the output matrix")?
        } else {
            (Vec::new(), 0)
        };
        // Labels (supervised models) sit between words and buckets: keep only word rows and buckets.
        let input = if rows != expected_rows {
            let mut v = input[..words.len() * dim].to_vec();
            v.extend_from_slice(&input[size as usize * dim..]);
            v
        } else {
            input
        };
        Ok(FastTextBin {
            args,
            words,
            counts,
            ntokens,
            input,
            output,
            output_rows,
        })
    }

    /// Word vectors as fastText's `getWordVector` computes them (the mean of the word's row and
    /// its n-gram rows), with the n-gram rows kept for words outside the vocabulary.
    pub fn keyed_vectors(&self, limit: Option<usize>) -> KeyedVectors {
        let dim = self.args.dim as usize;
        let nwords = self.words.len();
        let n = limit.map_or(nwords, |l| l.min(nwords));
        let (minn, maxn, bucket) = (
            self.args.minn as usize,
            self.args.maxn as usize,
            self.args.bucket as u32,
        );
        let mut vectors = vec![0f32; n * dim];
        for (i, w) in self.words[..n].iter().enumerate() {
            let out = &mut vectors[i * dim..(i + 1) * dim];
            out.copy_from_slice(&self.input[i * dim..(i + 1) * dim]);
            // fastText gives the end-of-sentence token no n-grams.
            let buckets = if w == "</s>" {
                Vec::new()
            } else {
                ngram_buckets(w, minn, maxn, bucket)
            };
            for b in &buckets {
                let r = nwords + *b as usize;
                for (x, y) in out.iter_mut().zip(&self.input[r * dim..(r + 1) * dim]) {
                    *x += y;
                }
            }
            let inv = 1.0 / (buckets.len() + 1) as f32;
            out.iter_mut().for_each(|x| *x *= inv);
        }
        let kv = KeyedVectors::new(self.words[..n].to_vec(), vectors, dim)
            .expect("rows match words")
            .with_counts(self.counts[..n].to_vec());
        if bucket > 0 && maxn > 0 {
            kv.with_subwords(SubwordVectors {
                ngrams: self.input[nwords * dim..].to_vec(),
                min_n: minn,
                max_n: maxn,
                bucket,
            })
        } else {
            kv
        }
    }

    pub fn write(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let mut out = create(path)?;
        let werr = |e| EmbeddingsError::write(path, e);
        let a = &self.args;
        let mut buf: Vec<u8> = Vec::with_capacity(1 << 16);
        for x in [
            FASTTEXT_MAGIC,
            FASTTEXT_VERSION,
            a.dim,
            a.ws,
            a.epoch,
            a.min_count,
            a.neg,
            a.word_ngrams,
            a.loss,
            a.model,
            a.bucket,
            a.minn,
            a.maxn,
            a.lr_update_rate,
        ] {
            buf.extend_from_slice(&x.to_le_bytes());
        }
        buf.extend_from_slice(&a.t.to_le_bytes());
        let n = self.words.len() as i32;
        for x in [n, n, 0] {
            buf.extend_from_slice(&x.to_le_bytes());
        }
        buf.extend_from_slice(&self.ntokens.to_le_bytes());
        buf.extend_from_slice(&0i64.to_le_bytes());
        for (w, &c) in self.words.iter().zip(&self.counts) {
            buf.extend_from_slice(w.as_bytes());
            buf.push(0);
            buf.extend_from_slice(&(c as i64).to_le_bytes());
            buf.push(0);
        }
        buf.push(0); // quant_input = false
        out.write_all(&buf).map_err(werr)?;
        let dim = a.dim as usize;
        write_matrix(&mut out, &self.input, dim).map_err(werr)?;
        out.write_all(&[0]).map_err(werr)?; // qout = false
        write_matrix(&mut out, &self.output, dim).map_err(werr)?;
        out.flush().map_err(werr)
    }
}

fn read_matrix(c: &mut Cursor, dim: usize, what: &str) -> Result<(Vec<f32>, usize)> {
    let m = c.i64(what)?;
    let n = c.i64(what)?;
    if m < 0 || n as usize != dim {
        return Err(EmbeddingsError::HeaderMismatch {
            path: c.path.to_path_buf(),
            expected: format!("{dim} dimensions"),
            found: format!("{what} is {m} x {n}"),
        });
    }
    let bytes = (m as usize)
        .checked_mul(dim * 4)
        .ok_or_else(|| EmbeddingsError::Format {
            path: c.path.to_path_buf(),
            format: "fastText .bin",
            reason: format!("{what} size {m} x {n} overflows"),
        })?;
    let raw = c.take(bytes, what)?;
    let v = raw
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Ok((v, m as usize))
}

fn write_matrix(out: &mut impl Write, data: &[f32], dim: usize) -> std::io::Result<()> {
    let rows = data.len().checked_div(dim).unwrap_or(0);
    out.write_all(&(rows as i64).to_le_bytes())?;
    out.write_all(&(dim as i64).to_le_bytes())?;
    let mut buf = Vec::with_capacity(1 << 16);
    for chunk in data.chunks(1 << 14) {
        buf.clear();
        for v in chunk {
            buf.extend_from_slice(&v.to_le_bytes());
        }
        out.write_all(&buf)?;
    }
    Ok(())
}

/// Writes vectors in `format`. `FastTextBin` needs a full model; use the model's own `save`.
pub fn save_vectors(kv: &KeyedVectors, path: impl AsRef<Path>, format: VectorFormat) -> Result<()> {
    match format {
        VectorFormat::Word2VecBinary => write_word2vec(kv, path, true),
        VectorFormat::Word2VecText => write_word2vec(kv, path, false),
        VectorFormat::GloveText => write_glove_text(kv, path),
        VectorFormat::FastTextBin => Err(EmbeddingsError::Invalid(format!(
            "'{}': fasttext-bin holds a full model; save it from a trained Word2Vec or FastText model instead",
            PathBuf::from(path.as_ref()).display()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv() -> KeyedVectors {
        let words = vec!["the".to_string(), "é".to_string(), "x1".to_string()];
        let v = vec![
            0.1,
            -0.012345679,
            1e-5,
            123.0,
            0.0,
            -1.5e7,
            0.00015,
            2.5,
            -0.0,
        ];
        KeyedVectors::new(words, v, 3).unwrap()
    }

    #[test]
    fn numpy_float_formatting() {
        let cases: &[(f32, &str)] = &[
            (0.1, "0.1"),
            (-0.012345679, "-0.012345679"),
            (1e-5, "1e-05"),
            (0.00015, "0.00015"),
            (0.0001, "1e-04"),
            (123.0, "123.0"),
            (1e6, "1e+06"),
            (1.5e7, "1.5e+07"),
            (123456789.0, "1.2345679e+08"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1e-45, "1e-45"),
            (3.4e38, "3.4e+38"),
            // A tie: 0.0361328125 is exactly halfway between the two shortest candidates.
            (f32::from_bits(0x3d14_0000), "0.036132812"),
            (999999.94, "999999.94"),
            (12.0, "12.0"),
            (100.5, "100.5"),
        ];
        for &(v, want) in cases {
            let mut s = String::new();
            push_numpy_f32(&mut s, v);
            assert_eq!(s, want, "{v}");
        }
    }

    #[test]
    fn word2vec_text_matches_gensim_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v.txt");
        write_word2vec(&kv(), &p, false).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(
            text,
            "3 3\nthe 0.1 -0.012345679 1e-05\né 123.0 0.0 -1.5e+07\nx1 0.00015 2.5 -0.0\n"
        );
        let back = read_word2vec_text(&p, None).unwrap();
        assert_eq!(back.words(), kv().words());
        assert_eq!(back.matrix(), kv().matrix());
        assert_eq!(detect_format(&p).unwrap(), VectorFormat::Word2VecText);
    }

    #[test]
    fn word2vec_binary_round_trip_and_layout() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v.bin");
        write_word2vec(&kv(), &p, true).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        assert!(bytes.starts_with(b"3 3\nthe "));
        assert_eq!(bytes.len(), 4 + (4 + 12) + (3 + 12) + (3 + 12));
        assert_eq!(&bytes[8..12], &0.1f32.to_le_bytes());
        let back = read_word2vec_binary(&p, None).unwrap();
        assert_eq!(back.words(), kv().words());
        assert_eq!(back.matrix(), kv().matrix());
        assert_eq!(detect_format(&p).unwrap(), VectorFormat::Word2VecBinary);
        let two = read_word2vec_binary(&p, Some(2)).unwrap();
        assert_eq!(two.len(), 2);
        // word2vec.c writes a newline after each vector; that must read too.
        let mut c = b"2 1\na ".to_vec();
        c.extend_from_slice(&1f32.to_le_bytes());
        c.extend_from_slice(b"\nb ");
        c.extend_from_slice(&2f32.to_le_bytes());
        c.push(b'\n');
        std::fs::write(&p, &c).unwrap();
        let kv2 = read_word2vec_binary(&p, None).unwrap();
        assert_eq!(kv2.words(), ["a", "b"]);
        assert_eq!(kv2.matrix(), [1.0, 2.0]);
    }

    #[test]
    fn truncated_binary_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v.bin");
        write_word2vec(&kv(), &p, true).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        for cut in [bytes.len() - 1, bytes.len() - 14, 6] {
            std::fs::write(&p, &bytes[..cut]).unwrap();
            let err = read_word2vec_binary(&p, None).unwrap_err();
            assert!(
                matches!(err, EmbeddingsError::Truncated { .. }),
                "cut {cut}: {err}"
            );
            assert!(err.to_string().contains("truncated"));
        }
    }

    #[test]
    fn header_disagreeing_with_body_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v.txt");
        std::fs::write(&p, "3 2\na 1 2\nb 3 4\n").unwrap();
        let err = read_word2vec_text(&p, None).unwrap_err();
        assert!(
            matches!(err, EmbeddingsError::HeaderMismatch { .. }),
            "{err}"
        );
        std::fs::write(&p, "1 2\na 1 2\nb 3 4\n").unwrap();
        assert!(matches!(
            read_word2vec_text(&p, None).unwrap_err(),
            EmbeddingsError::HeaderMismatch { .. }
        ));
        std::fs::write(&p, "2 3\na 1 2\nb 3 4\n").unwrap();
        let msg = read_word2vec_text(&p, None).unwrap_err().to_string();
        assert!(
            msg.contains("3 dimensions") && msg.contains("2 values"),
            "{msg}"
        );
        // With a limit, extra lines are fine.
        std::fs::write(&p, "1 2\na 1 2\nb 3 4\n").unwrap();
        assert_eq!(read_word2vec_text(&p, Some(1)).unwrap().len(), 1);
        // Binary with more data than announced.
        let pb = dir.path().join("v.bin");
        write_word2vec(&kv(), &pb, true).unwrap();
        let mut bytes = std::fs::read(&pb).unwrap();
        bytes[0] = b'2';
        std::fs::write(&pb, &bytes).unwrap();
        assert!(matches!(
            read_word2vec_binary(&pb, None).unwrap_err(),
            EmbeddingsError::HeaderMismatch { .. }
        ));
        std::fs::write(&pb, b"not a header\n").unwrap();
        assert!(read_word2vec_binary(&pb, None)
            .unwrap_err()
            .to_string()
            .contains("<number of words>"));
    }

    #[test]
    fn glove_text_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("g.txt");
        write_glove_text(&kv(), &p).unwrap();
        assert_eq!(detect_format(&p).unwrap(), VectorFormat::GloveText);
        let back = read_glove_text(&p, None).unwrap();
        assert_eq!(back.matrix(), kv().matrix());
        assert_eq!(read_glove_text(&p, Some(1)).unwrap().len(), 1);
        std::fs::write(&p, "a 1 2\nb 3\n").unwrap();
        assert!(matches!(
            read_glove_text(&p, None).unwrap_err(),
            EmbeddingsError::HeaderMismatch { .. }
        ));
    }

    #[test]
    fn invalid_utf8_word_in_vectors_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v.txt");
        std::fs::write(&p, b"1 1\n\xff 1.0\n").unwrap();
        assert!(matches!(
            read_word2vec_text(&p, None).unwrap_err(),
            EmbeddingsError::InvalidUtf8 { .. }
        ));
    }

    #[test]
    fn fasttext_bin_round_trip_with_ngrams() {
        let dim = 2;
        let bucket = 7;
        let words = vec!["hello".to_string(), "world".to_string()];
        let input: Vec<f32> = (0..(2 + bucket) * dim).map(|i| i as f32).collect();
        let bin = FastTextBin {
            args: FastTextArgs {
                dim: dim as i32,
                ws: 5,
                epoch: 5,
                min_count: 1,
                neg: 5,
                word_ngrams: 1,
                loss: 2,
                model: 2,
                bucket: bucket as i32,
                minn: 3,
                maxn: 6,
                lr_update_rate: 100,
                t: 1e-4,
            },
            words: words.clone(),
            counts: vec![3, 2],
            ntokens: 5,
            input: input.clone(),
            output: vec![0.5; 2 * dim],
            output_rows: 2,
        };
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.bin");
        bin.write(&p).unwrap();
        assert_eq!(detect_format(&p).unwrap(), VectorFormat::FastTextBin);
        let back = FastTextBin::read(&p).unwrap();
        assert_eq!(back.args, bin.args);
        assert_eq!(back.words, words);
        assert_eq!(back.input, input);
        assert_eq!(back.output_rows, 2);
        let kv = back.keyed_vectors(None);
        // "hello" = mean of its own row and its 14 n-gram rows.
        let buckets = ngram_buckets("hello", 3, 6, bucket as u32);
        assert_eq!(buckets.len(), 14);
        let mut want = input[0..2].to_vec();
        for b in &buckets {
            let r = 2 + *b as usize;
            want[0] += input[r * 2];
            want[1] += input[r * 2 + 1];
        }
        let got = kv.vector("hello").unwrap();
        assert!((got[0] - want[0] / 15.0).abs() < 1e-4 && (got[1] - want[1] / 15.0).abs() < 1e-4);
        // An unseen word is built from its n-grams.
        assert!(kv.vector("helloo").is_ok());
        // Truncation is caught wherever it happens.
        let bytes = std::fs::read(&p).unwrap();
        for cut in [3, 40, 80, bytes.len() - 3] {
            std::fs::write(&p, &bytes[..cut]).unwrap();
            assert!(
                matches!(
                    FastTextBin::read(&p).unwrap_err(),
                    EmbeddingsError::Truncated { .. }
                ),
                "cut {cut}"
            );
        }
    }
}
