#!/usr/bin/env bash
# Fetches the data, builds ptm (release), makes the gensim venv if needed, and runs the comparison.
# Extra arguments go to compare_gensim.py, e.g.:  scripts/embeddings/compare_gensim.sh --words 3000000
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
export PTM_VENV="${PTM_VENV:-$ROOT/.venv}"
[ -x "$PTM_VENV/bin/python" ] && "$PTM_VENV/bin/python" -c "import gensim, scipy" 2>/dev/null \
    || bash scripts/embeddings/setup_venv.sh
bash scripts/embeddings/fetch_data.sh
cargo build --release -p ptm-cli
PTM="${CARGO_TARGET_DIR:-$ROOT/target}/release/ptm"
exec "$PTM_VENV/bin/python" scripts/embeddings/compare_gensim.py --ptm "$PTM" "$@"
