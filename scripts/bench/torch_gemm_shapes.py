"""PyTorch's linear-layer GEMM times on the shapes of the benchmarked encoders: the lower
bound of an f32 forward (docs/performance.md). Compare with
`cargo run --release -p ptm-models --example gemm_shapes`.

    $PTM_VENV/bin/python scripts/bench/torch_gemm_shapes.py [--threads 2]
"""
import argparse
import statistics
import time

import torch

# (rows, out, in): BERT-base at 1×128 and 16×128 (2048 rows), MiniLM-L6 at 32×64.
SHAPES = [(128, 768, 768), (128, 3072, 768), (128, 768, 3072),
          (2048, 768, 768), (2048, 3072, 768), (2048, 768, 3072),
          (2048, 384, 384), (2048, 1536, 384), (2048, 384, 1536)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    times = {}
    for m, n, k in SHAPES:
        x, w, b = torch.randn(m, k), torch.randn(n, k), torch.randn(n)
        with torch.inference_mode():
            for _ in range(3):
                torch.nn.functional.linear(x, w, b)
            ts = []
            for _ in range(9):
                t0 = time.perf_counter()
                torch.nn.functional.linear(x, w, b)
                ts.append(time.perf_counter() - t0)
        times[m, n, k] = med = statistics.median(ts)
        print(f"{m}x{n}x{k}: {med * 1e3:.3f} ms, {2 * m * n * k / med / 1e9:.0f} GFLOP/s")
    layer = lambda rows, h, i: 4 * times[rows, h, h] + times[rows, i, h] + times[rows, h, i]  # noqa: E731
    print(f"linear layers alone: BERT-base 1×128 {12 * layer(128, 768, 3072):.3f} s, "
          f"16×128 {12 * layer(2048, 768, 3072):.3f} s, DistilBERT-base 16×128 "
          f"{6 * layer(2048, 768, 3072):.3f} s, MiniLM-L6 32×64 {6 * layer(2048, 384, 1536):.3f} s")


if __name__ == "__main__":
    main()
