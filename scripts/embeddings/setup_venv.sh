#!/usr/bin/env bash
# Creates the Python environment used by the embeddings comparison scripts.
# The venv path is $PTM_VENV (default: .venv in the repository root).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
VENV="${PTM_VENV:-$ROOT/.venv}"
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet -r "$ROOT/scripts/embeddings/requirements.txt"
"$VENV/bin/python" -c "import gensim; print('gensim', gensim.__version__, 'in', '$VENV')"
