#!/usr/bin/env bash
# Where ptm's time goes in a BERT-base forward at 16×128 (issue 3), and how close it runs to
# the matmul ceiling.
#
#   cargo build --release -p ptm-cli
#   scripts/bench/profile.sh            # RAYON_NUM_THREADS=2 unless set
#
# 1. Times candle's 2048³ f32 matmul (`ptm-bench matmul`): the ceiling.
# 2. Times the forward (`ptm-bench forward`) and turns it into GFLOP/s: linear layers
#    2·params·tokens (weight matrices of every encoder layer and the pooler) plus the
#    attention matmuls 4·b·heads·t²·head_dim·layers (QKᵀ and PV).
# 3. Records it with `perf record -g` and prints the functions with the most self time.
#    Without a usable perf (installs Debian's linux-perf when apt-get can), falls back to
#    `valgrind --tool=callgrind` on a smaller run (1×32), which is much slower.
# Outputs stay in .cache/bench/profile/.
set -euo pipefail
cd "$(dirname "$0")/../.."
export RAYON_NUM_THREADS="${RAYON_NUM_THREADS:-2}"
PY="${PTM_VENV:-/root/ptm-venv}/bin/python"
BENCH=target/release/ptm-bench
MODEL=.cache/bench/bert-base
OUT=.cache/bench/profile
B=16 T=128
mkdir -p "$OUT"

if [ ! -x "$BENCH" ]; then
  echo "$BENCH is missing: run cargo build --release -p ptm-cli first" >&2
  exit 2
fi
if [ ! -f "$MODEL/model.safetensors" ]; then
  "$PY" scripts/bench/bench_encoders.py --prepare >/dev/null
fi

# "median best" of ptm-bench's JSON line. The best run is the steadier figure on a busy machine.
times() { python3 -c 'import json,sys; r=json.loads(sys.stdin.read().strip().splitlines()[-1]); print(r["median_s"], min(r["times_s"]))'; }

echo "threads: $RAYON_NUM_THREADS, load average: $(cut -d' ' -f1-3 /proc/loadavg)"
mm=$("$BENCH" matmul --n 2048 --warmup 1 --runs 5 2>/dev/null | times)
fw=$("$BENCH" forward --model "$MODEL" --batch $B --seq $T --warmup 1 --runs 3 2>/dev/null | times)
python3 - "$MODEL/config.json" "$B" "$T" $mm $fw <<'PY'
import json, os, sys
cfg, b, t = json.load(open(sys.argv[1])), int(sys.argv[2]), int(sys.argv[3])
mm, mm_best, fw, fw_best = map(float, sys.argv[4:8])
h, i, L, heads = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"], cfg["num_attention_heads"]
linear_params = L * (4 * h * h + 2 * h * i) + h * h  # Q, K, V, O, FFN in and out; pooler
linear = 2 * linear_params * b * t - 2 * h * h * (b * t - b)  # the pooler sees one token a row
attention = 4 * b * heads * t * t * (h // heads) * L
flops = linear + attention
mm_flops = 2 * 2048 ** 3
print(f"matmul 2048³ (the ceiling): median {mm:.4f} s = {mm_flops / mm / 1e9:.1f} GFLOP/s, "
      f"best {mm_best:.4f} s = {mm_flops / mm_best / 1e9:.1f} GFLOP/s")
print(f"BERT-base forward {b}×{t}: {flops / 1e9:.1f} GFLOP (linear {linear / 1e9:.1f}, "
      f"attention {attention / 1e9:.1f})")
for name, f_t, m_t in (("median", fw, mm), ("best", fw_best, mm_best)):
    print(f"  {name}: {f_t:.3f} s = {flops / f_t / 1e9:.1f} GFLOP/s, "
          f"{100 * (flops / f_t) / (mm_flops / m_t):.0f}% of the matmul's {name}")
if os.getloadavg()[0] > 1.2:
    print("  warning: load average above 1.2; these figures are noisy (see PERF-NOTES)")
PY
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

perf_ok() { command -v perf >/dev/null && perf record -o "$OUT/probe.data" -- true >/dev/null 2>&1; }
if ! command -v perf >/dev/null && command -v apt-get >/dev/null; then
  (apt-get update -qq && apt-get install -y -qq linux-perf) >/dev/null 2>&1 || true
fi
if perf_ok; then
  rm -f "$OUT/probe.data"
  echo "perf record -g: ptm-bench forward $B×$T, 2 runs"
  perf record -g -o "$OUT/perf.data" -- \
    "$BENCH" forward --model "$MODEL" --batch $B --seq $T --warmup 0 --runs 2 >/dev/null 2>"$OUT/record.log"
  perf report -i "$OUT/perf.data" --no-children --sort symbol --percent-limit 0.3 --stdio 2>/dev/null \
    | grep -E '^ +[0-9.]+%' | sed -E 's/ +- +- *$//' | head -30 | tee "$OUT/top-symbols.txt"
  echo "-- by shared object"
  perf report -i "$OUT/perf.data" --no-children --sort dso --stdio 2>/dev/null \
    | grep -E '^ +[0-9.]+%' | sed -E 's/ +$//' | head -8
  echo "full report: perf report -i $OUT/perf.data"
else
  echo "perf is not usable here; callgrind on ptm-bench forward 1×32 (slow)"
  valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.out" \
    "$BENCH" forward --model "$MODEL" --batch 1 --seq 32 --warmup 0 --runs 1 >/dev/null 2>"$OUT/record.log"
  callgrind_annotate "$OUT/callgrind.out" 2>/dev/null | head -45 | tee "$OUT/top-symbols.txt"
fi
