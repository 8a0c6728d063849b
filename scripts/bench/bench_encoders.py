"""ptm against PyTorch on CPU encoder inference (issue 3): the benchmark script.

Run from anywhere, with the venv's Python and a release build of ptm:

    cargo build --release -p ptm-cli
    $PTM_VENV/bin/python scripts/bench/bench_encoders.py            # full: 5 interleaved rounds
    $PTM_VENV/bin/python scripts/bench/bench_encoders.py --quick    # smoke test: 1 round
    $PTM_VENV/bin/python scripts/bench/bench_encoders.py --workloads bert-1x128,coldstart

Random-weight checkpoints of the real shapes are made once with transformers in
.cache/bench/ (BERT-base, MiniLM-L6 as a sentence-transformers folder with the real
all-MiniLM-L6-v2 tokenizer, DistilBERT-base with a 2-label head). PyTorch runs in this
process (`torch.set_num_threads`, eval mode, `torch.inference_mode()`); ptm runs as
`target/release/ptm-bench` with `RAYON_NUM_THREADS`, on the same token ids, texts and thread
count. Rounds alternate (torch, ptm, torch, ptm, ...) so slow drifts of the machine hit both.

Ratios are ptm time / PyTorch time: below 1 means ptm is faster. The spread is the min and
max of the per-round ratios. The 1-minute load average is printed before and after each
workload: under load PyTorch (OpenMP, static split) slows far more than ptm (rayon, work
stealing), so a ratio taken at load above ~1 flatters ptm (docs: PERF-NOTES). Results go
to .cache/bench/results.json and a Markdown table on stdout.
"""
import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CACHE = os.path.join(ROOT, ".cache", "bench")
MINILM_REAL = os.path.join(ROOT, ".cache", "models", "all-MiniLM-L6-v2")
PTM = os.path.join(ROOT, "target", "release", "ptm")
PTM_BENCH = os.path.join(ROOT, "target", "release", "ptm-bench")
# ptm's --matmul-precision: "highest" (f32, the default) or "medium" (bf16 linear layers).
MATMUL_PRECISION = ["--matmul-precision", "highest"]

# name -> what it runs. "kind" picks the runner pair below.
WORKLOADS = {
    "matmul-2048": dict(kind="matmul", n=2048, label="matmul 2048³ (ceiling)"),
    "bert-1x128": dict(kind="forward", model="bert-base", task="base", batch=1, seq=128,
                       label="BERT-base forward 1×128"),
    "bert-16x128": dict(kind="forward", model="bert-base", task="base", batch=16, seq=128,
                        label="BERT-base forward 16×128"),
    "minilm-embed-32x64": dict(kind="embed", model="minilm-l6-st", batch=32, seq=64,
                               label="MiniLM-L6 embeddings 32×64 end to end"),
    "distilbert-seqcls-16x128": dict(kind="forward", model="distilbert-seqcls", task="seqcls",
                                     batch=16, seq=128,
                                     label="DistilBERT-base seqcls forward 16×128"),
    "coldstart": dict(kind="coldstart", label="cold start, 1 sentence, all-MiniLM-L6-v2"),
    "memory-bert-16x128": dict(kind="memory", model="bert-base", batch=16, seq=128,
                               label="peak RSS, BERT-base 16×128 (MiB)"),
}


def load1():
    return round(os.getloadavg()[0], 2)


# ---------------------------------------------------------------------------------------
# Inputs shared by both sides

def splitmix_ids(seed, count, vocab):
    """The token ids ptm-bench draws (SplitMix64), so both sides see the same input."""
    mask = (1 << 64) - 1
    state, out = seed, []
    for _ in range(count):
        state = (state + 0x9E3779B97F4A7C15) & mask
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        z ^= z >> 31
        out.append(1000 + z % (vocab - 1000))
    return out


def make_checkpoints():
    """Random-weight checkpoints of the real shapes; reused when present."""
    import torch
    from transformers import (BertConfig, BertModel, DistilBertConfig,
                              DistilBertForSequenceClassification)

    def save(name, build):
        path = os.path.join(CACHE, name)
        if not os.path.exists(os.path.join(path, "model.safetensors")):
            torch.manual_seed(0)
            print(f"making {path}", file=sys.stderr)
            build().save_pretrained(path, safe_serialization=True)
        return path

    save("bert-base", lambda: BertModel(BertConfig()))
    save("distilbert-seqcls",
         lambda: DistilBertForSequenceClassification(DistilBertConfig(num_labels=2)))
    st = save("minilm-l6-st", lambda: BertModel(BertConfig(
        hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536)))
    # The sentence-transformers parts: the real WordPiece tokenizer, mean pooling, Normalize.
    if not os.path.exists(os.path.join(MINILM_REAL, "tokenizer.json")):
        subprocess.run(["bash", os.path.join(ROOT, "scripts", "fetch_minilm.sh")], check=True,
                       stdout=subprocess.DEVNULL)
    for f in ["tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json",
              "sentence_bert_config.json", "1_Pooling/config.json"]:
        dst = os.path.join(st, f)
        if not os.path.exists(dst):
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copy(os.path.join(MINILM_REAL, f), dst)
    with open(os.path.join(st, "modules.json"), "w") as fh:
        json.dump([
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling",
             "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize",
             "type": "sentence_transformers.models.Normalize"},
        ], fh, indent=2)


def make_texts(count=32, tokens=64):
    """`count` texts of exactly `tokens` tokens ([CLS] and [SEP] included) from real movie
    review snippets when scripts/check_minilm.py has fetched them, else from vocabulary words."""
    path = os.path.join(CACHE, f"texts-{count}x{tokens}.txt")
    if os.path.exists(path):
        return path
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(os.path.join(CACHE, "minilm-l6-st"))
    corpus = os.path.join(ROOT, ".cache", "data", "polarity-pang-lee2.csv")
    if os.path.exists(corpus):
        import csv
        with open(corpus, encoding="utf-8", errors="replace") as fh:
            words = " ".join(r[-1].strip() for r in csv.reader(fh) if r).split()
    else:
        with open(os.path.join(CACHE, "minilm-l6-st", "vocab.txt")) as fh:
            vocab = [w.strip() for w in fh if w.strip().isalpha() and len(w.strip()) > 2]
        words = [vocab[i - 1000] for i in splitmix_ids(1, 20000, len(vocab) + 1000)]
    texts, pos = [], 0
    for _ in range(count):
        cur = []
        while len(tok(" ".join(cur))["input_ids"]) < tokens:
            cur.append(words[pos % len(words)])
            pos += 1
        while len(tok(" ".join(cur))["input_ids"]) > tokens:
            cur.pop()
        texts.append(" ".join(cur).replace("\n", " "))
    with open(path, "w") as fh:
        fh.write("\n".join(texts) + "\n")
    return path


# ---------------------------------------------------------------------------------------
# PyTorch side (in process)

class TorchRunner:
    def __init__(self, threads):
        import torch
        torch.set_num_threads(threads)
        self.torch = torch
        self.cache = {}

    def timed(self, fn, warmup, runs):
        with self.torch.inference_mode():
            for _ in range(warmup):
                fn()
            out = []
            for _ in range(runs):
                t0 = time.perf_counter()
                fn()
                out.append(time.perf_counter() - t0)
        return out

    def fn_for(self, name, w):
        if name in self.cache:
            return self.cache[name]
        torch = self.torch
        if w["kind"] == "matmul":
            g = torch.Generator().manual_seed(0)
            a = torch.randn(w["n"], w["n"], generator=g)
            b = torch.randn(w["n"], w["n"], generator=g)
            fn = lambda: torch.mm(a, b)  # noqa: E731
        elif w["kind"] == "forward":
            from transformers import AutoModel, AutoModelForSequenceClassification
            path = os.path.join(CACHE, w["model"])
            cls = AutoModel if w["task"] == "base" else AutoModelForSequenceClassification
            model = cls.from_pretrained(path).eval()
            b, t = w["batch"], w["seq"]
            ids = torch.tensor(splitmix_ids(0, b * t, model.config.vocab_size)).view(b, t)
            mask = torch.ones(b, t, dtype=torch.long)
            fn = lambda: model(input_ids=ids, attention_mask=mask)  # noqa: E731
        elif w["kind"] == "embed":
            from sentence_transformers import SentenceTransformer
            model = SentenceTransformer(os.path.join(CACHE, w["model"]), device="cpu")
            with open(make_texts(w["batch"], w["seq"])) as fh:
                texts = [line.rstrip("\n") for line in fh if line.strip()]
            fn = lambda: model.encode(texts, batch_size=32)  # noqa: E731
        else:
            raise ValueError(w["kind"])
        self.cache[name] = fn
        return fn


# ---------------------------------------------------------------------------------------
# ptm side (subprocess)

def ptm_env(threads):
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads), HF_HUB_OFFLINE="1")
    env.pop("CANDLE_NUM_THREADS", None)
    return env


def ptm_args(w, warmup, runs):
    if w["kind"] == "matmul":
        args = ["matmul", "--n", str(w["n"])]
    elif w["kind"] == "forward":
        args = ["forward", "--model", os.path.join(CACHE, w["model"]), "--task", w["task"],
                "--batch", str(w["batch"]), "--seq", str(w["seq"])]
    elif w["kind"] == "embed":
        args = ["embed", "--model", os.path.join(CACHE, w["model"]),
                "--texts", make_texts(w["batch"], w["seq"]), "--batch", "32"]
    else:
        raise ValueError(w["kind"])
    return [PTM_BENCH] + MATMUL_PRECISION + args + ["--warmup", str(warmup), "--runs", str(runs)]


def ptm_timed(w, threads, warmup, runs):
    p = subprocess.run(ptm_args(w, warmup, runs), env=ptm_env(threads), capture_output=True,
                       text=True)
    if p.returncode != 0:
        sys.exit(f"ptm-bench failed ({p.returncode}):\n{p.stderr}")
    return json.loads(p.stdout.strip().splitlines()[-1])["times_s"]


# ---------------------------------------------------------------------------------------
# Workloads

def run_timed(name, w, torch_runner, a):
    fn = torch_runner.fn_for(name, w)
    torch_times, ptm_times, ratios = [], [], []
    for r in range(a.rounds):
        tt = torch_runner.timed(fn, a.warmup, a.runs)
        pt = ptm_timed(w, a.threads, a.warmup, a.runs)
        torch_times += tt
        ptm_times += pt
        ratios.append(statistics.median(pt) / statistics.median(tt))
        print(f"  round {r + 1}: torch {statistics.median(tt):.4f} s, "
              f"ptm {statistics.median(pt):.4f} s, ratio {ratios[-1]:.3f}, load {load1()}",
              file=sys.stderr)
    return torch_times, ptm_times, ratios


def run_coldstart(a):
    sentence = "a sentence"
    ptm_cmd = [PTM] + MATMUL_PRECISION + ["pipeline", "feature-extraction", "--model", MINILM_REAL,
                                          sentence]
    py_code = ("from sentence_transformers import SentenceTransformer; "
               f"m = SentenceTransformer({MINILM_REAL!r}, device='cpu'); "
               f"print(m.encode([{sentence!r}])[0][:3])")
    py_cmd = [sys.executable, "-c", py_code]
    py_env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS=str(a.threads),
                  MKL_NUM_THREADS=str(a.threads), TOKENIZERS_PARALLELISM="false")

    def wall(cmd, env):
        t0 = time.perf_counter()
        p = subprocess.run(cmd, env=env, capture_output=True, text=True)
        dt = time.perf_counter() - t0
        if p.returncode != 0:
            sys.exit(f"{cmd[0]} failed ({p.returncode}):\n{p.stderr}")
        return dt

    # One untimed run each so both start from a warm page cache.
    wall(py_cmd, py_env)
    wall(ptm_cmd, ptm_env(a.threads))
    torch_times, ptm_times, ratios = [], [], []
    for r in range(max(a.rounds, a.cold_runs)):
        tt = wall(py_cmd, py_env)
        pt = wall(ptm_cmd, ptm_env(a.threads))
        torch_times.append(tt)
        ptm_times.append(pt)
        ratios.append(pt / tt)
        print(f"  run {r + 1}: python {tt:.3f} s, ptm {pt:.3f} s, ratio {ratios[-1]:.3f}, "
              f"load {load1()}", file=sys.stderr)
    return torch_times, ptm_times, ratios


def max_rss_mib(cmd, env):
    """Peak resident memory of one process, in MiB, as GNU time's %M reports it.

    Not this process's wait4 rusage: on Linux a child's ru_maxrss starts at the RSS of the
    process that forked it, so a child of this (torch-laden) interpreter would report at least
    this interpreter's size. /usr/bin/time is a small process; its child starts clean.
    """
    out = os.path.join(CACHE, "maxrss.txt")
    p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", out] + cmd, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        sys.exit(f"{cmd[0]} failed ({p.returncode}):\n{p.stderr}")
    with open(out) as fh:
        return int(fh.read().split()[-1]) / 1024


def run_memory(w, a):
    fw = dict(w, kind="forward", task="base")
    ptm_cmd = ptm_args(fw, 0, 1)
    py_cmd = [sys.executable, os.path.abspath(__file__), "--torch-forward-once",
              json.dumps(fw), "--threads", str(a.threads)]
    torch_mib, ptm_mib, ratios = [], [], []
    for _ in range(1 if a.quick else 2):
        tm = max_rss_mib(py_cmd, dict(os.environ))
        pm = max_rss_mib(ptm_cmd, ptm_env(a.threads))
        torch_mib.append(tm)
        ptm_mib.append(pm)
        ratios.append(pm / tm)
        print(f"  max RSS: torch {tm:.0f} MiB, ptm {pm:.0f} MiB", file=sys.stderr)
    return torch_mib, ptm_mib, ratios


def torch_forward_once(spec, threads):
    """Child process for the memory workload: load, one forward, exit."""
    w = json.loads(spec)
    runner = TorchRunner(threads)
    runner.timed(runner.fn_for("once", w), 0, 1)


# ---------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--matmul-precision", default="highest", choices=["highest", "medium"],
                    help="ptm's linear layers: f32 (highest) or bf16 products (medium); "
                         "PyTorch stays f32")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved torch/ptm rounds")
    ap.add_argument("--runs", type=int, default=3, help="timed runs per side per round")
    ap.add_argument("--warmup", type=int, default=1, help="untimed runs per side per round")
    ap.add_argument("--cold-runs", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="smoke test: 1 round, fewer runs")
    ap.add_argument("--workloads", default=",".join(WORKLOADS),
                    help="comma-separated, from: " + ", ".join(WORKLOADS))
    ap.add_argument("--prepare", action="store_true",
                    help="only make the checkpoints and texts in .cache/bench, then exit")
    ap.add_argument("--torch-forward-once", help=argparse.SUPPRESS)
    a = ap.parse_args()
    MATMUL_PRECISION[1] = a.matmul_precision
    if a.torch_forward_once:
        return torch_forward_once(a.torch_forward_once, a.threads)
    if a.prepare:
        os.makedirs(CACHE, exist_ok=True)
        make_checkpoints()
        make_texts()
        return print(CACHE)
    if a.quick:
        a.rounds, a.runs, a.warmup, a.cold_runs = 1, 2, 1, 1
    names = [n.strip() for n in a.workloads.split(",") if n.strip()]
    unknown = [n for n in names if n not in WORKLOADS]
    if unknown:
        sys.exit(f"unknown workload(s) {unknown}; choose from {', '.join(WORKLOADS)}")
    for exe in (PTM, PTM_BENCH, "/usr/bin/time"):
        if not os.access(exe, os.X_OK):
            sys.exit(f"{exe} is missing (ptm: cargo build --release -p ptm-cli; "
                     "time: apt-get install time)")

    os.makedirs(CACHE, exist_ok=True)
    make_checkpoints()
    torch_runner = TorchRunner(a.threads)
    import torch
    meta = dict(threads=a.threads, rounds=a.rounds, runs_per_round=a.runs, warmup=a.warmup,
                quick=a.quick, matmul_precision=a.matmul_precision, torch=torch.__version__, python=platform.python_version(),
                cpu=cpu_model(), git=git_head(), started=time.strftime("%Y-%m-%dT%H:%M:%S"))
    print(f"threads {a.threads}, {a.rounds} round(s) × {a.runs} run(s), torch {torch.__version__}, "
          f"{meta['cpu']}, load {load1()}", file=sys.stderr)

    results = []
    for name in names:
        w = WORKLOADS[name]
        print(f"{name}: {w['label']}", file=sys.stderr)
        before = os.getloadavg()
        if w["kind"] == "coldstart":
            tt, pt, ratios = run_coldstart(a)
        elif w["kind"] == "memory":
            tt, pt, ratios = run_memory(w, a)
        else:
            tt, pt, ratios = run_timed(name, w, torch_runner, a)
        after = os.getloadavg()
        tm, pm = statistics.median(tt), statistics.median(pt)
        row = dict(workload=name, label=w["label"], unit="MiB" if w["kind"] == "memory" else "s",
                   torch_median=tm, ptm_median=pm, ratio=pm / tm,
                   ratio_min=min(ratios), ratio_max=max(ratios), round_ratios=ratios,
                   torch_values=tt, ptm_values=pt,
                   load_before=[round(x, 2) for x in before],
                   load_after=[round(x, 2) for x in after])
        if w["kind"] == "matmul":
            flops = 2 * w["n"] ** 3
            row["torch_gflops"], row["ptm_gflops"] = flops / tm / 1e9, flops / pm / 1e9
        results.append(row)
        print(f"  => torch {tm:.4g}, ptm {pm:.4g} {row['unit']}, ratio {pm / tm:.3f} "
              f"[{min(ratios):.3f}–{max(ratios):.3f}], load {before[0]:.2f} → {after[0]:.2f}",
              file=sys.stderr)

    out = os.path.join(CACHE, "results.json")
    with open(out, "w") as fh:
        json.dump(dict(meta=meta, results=results), fh, indent=2)
    print_table(meta, results)
    print(f"\nwritten {os.path.relpath(out, ROOT)}", file=sys.stderr)


def print_table(meta, results):
    kind = "quick (1 round)" if meta["quick"] else f"{meta['rounds']} interleaved rounds"
    print(f"\n{meta['threads']} threads, {kind}, torch {meta['torch']}, {meta['cpu']}, "
          f"ptm {meta['git']} (matmul precision {meta.get('matmul_precision', 'highest')})\n")
    print("| workload | PyTorch | ptm | ratio ptm/torch | spread (per-round) | load 1-min before → after |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in results:
        unit = r["unit"]
        fmt = (lambda v: f"{v:.0f} MiB") if unit == "MiB" else (lambda v: f"{v:.4g} s")
        extra = ""
        if "torch_gflops" in r:
            extra = f" ({r['torch_gflops']:.0f} / {r['ptm_gflops']:.0f} GFLOP/s)"
        print(f"| {r['label']}{extra} | {fmt(r['torch_median'])} | {fmt(r['ptm_median'])} | "
              f"{r['ratio']:.3f} | {r['ratio_min']:.3f}–{r['ratio_max']:.3f} | "
              f"{r['load_before'][0]:.2f} → {r['load_after'][0]:.2f} |")


def cpu_model():
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def git_head():
    p = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                       text=True)
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return p.stdout.strip() + ("+dirty" if dirty else "")


if __name__ == "__main__":
    main()
