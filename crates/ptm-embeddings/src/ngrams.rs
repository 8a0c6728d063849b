//! Character n-grams hashed into buckets exactly as fastText does (`Dictionary::computeSubwords`
//! and `Dictionary::hash` in facebookresearch/fastText `src/dictionary.cc`), so vectors trained
//! here and vectors from fastText's `.bin` files agree on which bucket an n-gram lives in.

/// fastText's 32-bit FNV-1a. Each byte goes through `int8_t` and back to `uint32_t` before the
/// xor, so bytes >= 0x80 are sign-extended (0xd0 becomes 0xffffffd0): a quirk of the C++ code
/// that every compatible implementation must reproduce.
pub fn ft_hash(bytes: &[u8]) -> u32 {
    let mut h: u32 = 2_166_136_261;
    for &b in bytes {
        h ^= b as i8 as i32 as u32;
        h = h.wrapping_mul(16_777_619);
    }
    h
}

/// The n-grams of `<word>` with `min_n <= n <= max_n` characters (UTF-8 code points, not bytes),
/// skipping the lone `<` and `>` when `min_n` is 1; in fastText's order (by start, then length).
pub fn char_ngrams(word: &str, min_n: usize, max_n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for_each_ngram(word, min_n, max_n, |g| {
        out.push(String::from_utf8_lossy(g).into_owned())
    });
    out
}

/// Bucket indices (`hash % bucket`) of the n-grams of `word`.
pub fn ngram_buckets(word: &str, min_n: usize, max_n: usize, bucket: u32) -> Vec<u32> {
    let mut out = Vec::new();
    if bucket == 0 || max_n == 0 || min_n > max_n {
        return out;
    }
    for_each_ngram(word, min_n, max_n, |g| out.push(ft_hash(g) % bucket));
    out
}

fn for_each_ngram(word: &str, min_n: usize, max_n: usize, mut f: impl FnMut(&[u8])) {
    let mut w = Vec::with_capacity(word.len() + 2);
    w.push(b'<');
    w.extend_from_slice(word.as_bytes());
    w.push(b'>');
    let len = w.len();
    let is_continuation = |b: u8| (b & 0xC0) == 0x80;
    for i in 0..len {
        if is_continuation(w[i]) {
            continue;
        }
        let mut j = i;
        let mut n = 1;
        while j < len && n <= max_n {
            j += 1;
            while j < len && is_continuation(w[j]) {
                j += 1;
            }
            if n >= min_n && !(n == 1 && (i == 0 || j == len)) {
                f(&w[i..j]);
            }
            n += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected values computed with gensim 4.4's `fasttext_inner.ft_hash_bytes` and
    /// `fasttext.ft_ngram_hashes`, which reproduce fastText's C++ hashing.
    #[test]
    fn hashes_match_fasttext() {
        let table: &[(&str, u32)] = &[
            ("", 2166136261),
            ("a", 3826002220),
            ("<a>", 2359087600),
            ("hello", 1335831723),
            ("<hello>", 2645112597),
            ("héllo", 3948832576),
            ("мир", 3272743496),
            ("<мир>", 2370515400),
            ("word2vec", 2710398605),
        ];
        for &(w, h) in table {
            assert_eq!(ft_hash(w.as_bytes()), h, "{w:?}");
        }
    }

    #[test]
    fn ngram_buckets_match_fasttext() {
        let mut got = ngram_buckets("hello", 3, 6, 2_000_000);
        let mut want = vec![
            1188580, 128664, 1361308, 1760905, 1613742, 1198310, 1831723, 1068687, 1992344, 798165,
            1616881, 617342, 350912, 1504790,
        ];
        got.sort_unstable();
        want.sort_unstable();
        assert_eq!(got, want);
        let mut got = ngram_buckets("мир", 3, 6, 2_000_000);
        got.sort_unstable();
        assert_eq!(got, [399042, 515400, 576678, 743496, 883374, 903527]);
        assert_eq!(ngram_buckets("a", 3, 6, 2_000_000), [1087600]);
    }

    #[test]
    fn ngrams_count_code_points_not_bytes() {
        assert_eq!(
            char_ngrams("мир", 3, 6),
            ["<ми", "<мир", "<мир>", "мир", "мир>", "ир>"]
        );
        assert_eq!(char_ngrams("ab", 1, 2), ["<a", "a", "ab", "b", "b>"]);
        assert!(ngram_buckets("hello", 3, 6, 0).is_empty());
    }
}
