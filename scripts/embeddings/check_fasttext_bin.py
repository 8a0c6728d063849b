#!/usr/bin/env python3
"""Cross-checks fastText .bin files between gensim 4.4 and ptm, both ways:

1. gensim trains a small FastText model and writes it with `save_facebook_model` (fastText's own
   format); ptm reads it: in-vocabulary vectors must match gensim's `wv[word]`, and neighbours of a
   word never seen (built from hashed n-grams) must match gensim's `most_similar`.
2. ptm trains a FastText model and writes `--format fasttext-bin`; gensim's `load_facebook_model`
   must read it and give the same vectors as ptm.

usage: $PTM_VENV/bin/python scripts/embeddings/check_fasttext_bin.py PTM_BINARY
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from gensim.models import FastText
from gensim.models.fasttext import load_facebook_model, save_facebook_model
from gensim.models import KeyedVectors

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ptm = sys.argv[1]
corpus = os.path.join(ROOT, ".cache", "embeddings", "lee_background.cor")
tmp = tempfile.mkdtemp()


def run(*args):
    p = subprocess.run([ptm, "embeddings", *args], capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"ptm failed: {p.stderr}")
    return json.loads(p.stdout)


# 1. gensim -> ptm
sentences = [l.lower().split() for l in open(corpus, encoding="utf-8")]
m = FastText(sentences, vector_size=32, min_count=3, epochs=3, bucket=20000, workers=1, seed=1)
gbin = os.path.join(tmp, "gensim.bin")
save_facebook_model(m, gbin)
run("convert", "--vectors", gbin, "--output", os.path.join(tmp, "g.txt"), "--to", "word2vec-text")
kv = KeyedVectors.load_word2vec_format(os.path.join(tmp, "g.txt"))
ref = load_facebook_model(gbin).wv
err = max(float(np.abs(kv[w] - ref[w]).max()) for w in kv.index_to_key)
print(f"gensim .bin read by ptm: {len(kv)} words, max |difference| {err:.2e}")
assert err < 1e-5
for oov in ["australiann", "governmentt", "xyzzyq"]:
    mine = run("similar", "--vectors", gbin, oov, "--topn", "5")
    theirs = ref.most_similar(oov, topn=5)
    # Scores must agree; words may swap places only where scores tie to float precision.
    assert max(abs(a[1] - b[1]) for a, b in zip(mine, theirs)) < 1e-5, (oov, mine, theirs)
    assert mine[0][0] == theirs[0][0], (oov, mine, theirs)
    print(f"  unseen word {oov!r}: same neighbour scores as gensim, best {mine[0]}")

# 2. ptm -> gensim
pbin = os.path.join(tmp, "ptm.bin")
run("train", "fasttext", "--corpus", corpus, "--output", pbin, "--format", "fasttext-bin", "--vector-size", "32",
    "--min-count", "3", "--epochs", "3", "--bucket", "20000", "--workers", "1", "--quiet")
run("convert", "--vectors", pbin, "--output", os.path.join(tmp, "p.txt"), "--to", "word2vec-text")
mine = KeyedVectors.load_word2vec_format(os.path.join(tmp, "p.txt"))
loaded = load_facebook_model(pbin).wv
err = max(float(np.abs(mine[w] - loaded[w]).max()) for w in mine.index_to_key)
print(f"ptm .bin read by gensim: {len(mine)} words, max |difference| {err:.2e}")
assert err < 1e-5
print("ok")
