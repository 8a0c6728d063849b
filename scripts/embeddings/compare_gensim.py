#!/usr/bin/env python3
"""Trains ptm and gensim 4.4 Word2Vec on the same real corpus with the same settings and threads,
then prints a table of quality (analogy accuracy on questions-words, Spearman on WordSim-353, both
scored by gensim's own evaluation code for both models) and speed (training words/s, median over
interleaved runs) and peak memory (max RSS from /usr/bin/time -v).

usage (from the repository root; fetch_data.sh and setup_venv.sh must have run, see compare_gensim.sh):
  $PTM_VENV/bin/python scripts/embeddings/compare_gensim.py [--words N] [--seeds 1 2 3]
      [--modes sg-ns cbow-ns] [--workers 2] [--epochs 5] [--ptm target/release/ptm]

Every run is a fresh process. Runs are interleaved (ptm, gensim, ptm, gensim, ...) so that load
from other processes hits both alike; the load average is printed beside the figures.
"""
import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CACHE = os.path.join(ROOT, ".cache", "embeddings")

MODES = {
    "sg-ns": dict(sg=1, hs=0, negative=5),
    "cbow-ns": dict(sg=0, hs=0, negative=5),
    "sg-hs": dict(sg=1, hs=1, negative=0),
    "cbow-hs": dict(sg=0, hs=1, negative=0),
}


def subset(words):
    """A deterministic random subset of the corpus's sentences with about `words` tokens."""
    src = os.path.join(CACHE, "corpus.txt")
    if not words:
        return src
    out = os.path.join(CACHE, f"corpus_{words}.txt")
    if os.path.exists(out):
        return out
    with open(src, encoding="utf-8") as f:
        lines = f.readlines()
    random.Random(0).shuffle(lines)
    n = 0
    with open(out, "w", encoding="utf-8") as f:
        for line in lines:
            f.write(line)
            n += len(line.split())
            if n >= words:
                break
    return out


def timed(cmd):
    """Runs cmd under /usr/bin/time -v; returns (stdout, max RSS in MiB)."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as t:
        p = subprocess.run(["/usr/bin/time", "-v", "-o", t.name] + cmd, capture_output=True, text=True)
        if p.returncode != 0:
            sys.exit(f"command failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr[-3000:]}")
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", t.read())
        return p.stdout, int(m.group(1)) / 1024 if m else float("nan")


def gensim_worker(a):
    """Runs inside a fresh process: trains gensim, saves word2vec binary, prints JSON."""
    import logging
    from gensim.models import Word2Vec
    from gensim.models.word2vec import LineSentence

    logging.basicConfig(level=logging.WARNING)
    sentences = LineSentence(a.corpus)
    model = Word2Vec(vector_size=a.vector_size, window=a.window, min_count=a.min_count, sample=a.sample,
                     workers=a.workers, seed=a.seed, epochs=a.epochs, **MODES[a.mode])
    model.build_vocab(sentences)
    t0 = time.perf_counter()
    model.train(sentences, total_examples=model.corpus_count, epochs=model.epochs)
    secs = time.perf_counter() - t0
    model.wv.save_word2vec_format(a.output, binary=True)
    words = model.corpus_total_words * model.epochs
    print(json.dumps({"seconds": secs, "words": words, "words_per_sec": words / secs, "vocab_size": len(model.wv)}))


def evaluate(path, questions, wordsim):
    from gensim.models import KeyedVectors

    kv = KeyedVectors.load_word2vec_format(path, binary=True)
    acc, _ = kv.evaluate_word_analogies(questions)
    pairs = kv.evaluate_word_pairs(wordsim)
    return acc, pairs[1][0]


def fmt(xs, digits=3):
    if len(xs) > 1:
        return f"{statistics.mean(xs):.{digits}f} ± {statistics.stdev(xs):.{digits}f}"
    return f"{xs[0]:.{digits}f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--words", type=int, default=0, help="use a random subset of about N words (0: whole corpus)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--modes", nargs="+", default=["sg-ns", "cbow-ns"], choices=sorted(MODES))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--vector-size", type=int, default=100)
    ap.add_argument("--window", type=int, default=5)
    ap.add_argument("--min-count", type=int, default=5)
    ap.add_argument("--sample", type=float, default=1e-3)
    ap.add_argument("--ptm", default=os.path.join(ROOT, "target", "release", "ptm"))
    ap.add_argument("--json", help="also write all raw results here")
    # Internal: the gensim child process.
    ap.add_argument("--gensim-worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--corpus", help=argparse.SUPPRESS)
    ap.add_argument("--mode", help=argparse.SUPPRESS)
    ap.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--output", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.gensim_worker:
        return gensim_worker(a)

    corpus = subset(a.words)
    questions = os.path.join(CACHE, "questions-words.txt")
    wordsim = os.path.join(CACHE, "wordsim353.tsv")
    ncorpus = sum(len(l.split()) for l in open(corpus, encoding="utf-8"))
    print(f"corpus {corpus}: {ncorpus} words; workers {a.workers}, epochs {a.epochs}, "
          f"vector_size {a.vector_size}, window {a.window}, min_count {a.min_count}, sample {a.sample}", flush=True)
    tmp = tempfile.mkdtemp(prefix="ptm-cmp-")
    common = dict(vector_size=a.vector_size, window=a.window, min_count=a.min_count, sample=a.sample,
                  workers=a.workers, epochs=a.epochs)
    results = []
    for mode in a.modes:
        for seed in a.seeds:
            for impl in ("ptm", "gensim"):
                out = os.path.join(tmp, f"{impl}-{mode}-{seed}.bin")
                load0 = os.getloadavg()[0]
                if impl == "ptm":
                    cmd = [a.ptm, "embeddings", "train", "word2vec", "--corpus", corpus, "--output", out,
                           "--format", "word2vec-binary", "--quiet", "--seed", str(seed)]
                    for k, v in {**common, **MODES[mode]}.items():
                        cmd += [f"--{k.replace('_', '-')}", str(v)]
                else:
                    cmd = [sys.executable, os.path.abspath(__file__), "--gensim-worker", "--corpus", corpus,
                           "--mode", mode, "--seed", str(seed), "--output", out,
                           "--workers", str(a.workers), "--epochs", str(a.epochs), "--vector-size", str(a.vector_size),
                           "--window", str(a.window), "--min-count", str(a.min_count), "--sample", str(a.sample)]
                stdout, rss = timed(cmd)
                info = json.loads(stdout.strip().splitlines()[-1])
                acc, rho = evaluate(out, questions, wordsim)
                r = dict(impl=impl, mode=mode, seed=seed, words_per_sec=info["words_per_sec"],
                         seconds=info["seconds"], rss_mib=rss, analogy=acc, wordsim_spearman=rho,
                         load=max(load0, os.getloadavg()[0]))
                results.append(r)
                print(json.dumps(r), flush=True)
                os.remove(out)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)

    print()
    print("| mode | impl | analogy accuracy | WordSim-353 Spearman | words/s (median) | speed-up | peak RSS MiB | load avg |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for mode in a.modes:
        med = {}
        for impl in ("ptm", "gensim"):
            rs = [r for r in results if r["mode"] == mode and r["impl"] == impl]
            med[impl] = statistics.median(r["words_per_sec"] for r in rs)
        for impl in ("ptm", "gensim"):
            rs = [r for r in results if r["mode"] == mode and r["impl"] == impl]
            speed = f"{med['ptm'] / med['gensim']:.2f}x" if impl == "ptm" else ""
            print(f"| {mode} | {impl} | {fmt([r['analogy'] for r in rs])} | {fmt([r['wordsim_spearman'] for r in rs])} "
                  f"| {med[impl]:,.0f} | {speed} | {statistics.median(r['rss_mib'] for r in rs):.0f} "
                  f"| {statistics.mean(r['load'] for r in rs):.1f} |")


if __name__ == "__main__":
    main()
