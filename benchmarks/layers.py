"""Conv layer speed: stylelab against PyTorch, same shapes, same process, same threads.

For each VGG-sized 3x3 conv layer (batch 1, "same" zero padding, float32) it times
the forward pass and the full backward pass (dx, dw and db) of
``stylelab.layers`` and of ``torch.nn.functional.conv2d`` with autograd, and prints
a markdown table of median milliseconds, GFLOP/s and the ratio stylelab / PyTorch
(below 1.0: stylelab is faster).

    python3 benchmarks/layers.py [--threads N] [--repeats R] [--json out.json] [--quick]

FLOPs counted: forward ``2*N*H*W*F*K*K*C``; backward twice that (dx and dw).
"""

import argparse
import json
import os
import platform
import sys
import time

# (name, C, F, H=W): the layer shapes of VGG at a 256 px input, plus 512->512.
LAYERS = [
    ("conv1_2", 64, 64, 256),
    ("conv2_2", 128, 128, 128),
    ("conv3_2", 256, 256, 64),
    ("conv4_2", 512, 512, 32),
    ("conv5_2", 512, 512, 16),
]
QUICK = [("tiny_a", 8, 8, 16), ("tiny_b", 16, 16, 8)]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=os.cpu_count(),
                   help="threads for both libraries (default: all cores)")
    p.add_argument("--repeats", type=int, default=5, help="timed runs per measurement")
    p.add_argument("--json", help="also write the results to this JSON file")
    p.add_argument("--quick", action="store_true", help="tiny shapes: a smoke test")
    return p.parse_args(argv)


def median_ms(fn, repeats):
    fn()  # warm-up: first-touch allocations, library start-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return 1e3 * times[len(times) // 2]


def main(argv=None):
    args = parse_args(argv)
    # Thread counts must be fixed before NumPy's BLAS and PyTorch start.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    import numpy as np
    import torch
    import torch.nn.functional as F

    from stylelab import layers

    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    rows = []
    for name, c, f, hw in (QUICK if args.quick else LAYERS):
        x = rng.standard_normal((1, hw, hw, c)).astype(np.float32)
        w = (rng.standard_normal((f, 3, 3, c)) * 0.05).astype(np.float32)
        b = rng.standard_normal(f).astype(np.float32)
        dy = rng.standard_normal((1, hw, hw, f)).astype(np.float32)

        _, cache = layers.conv2d_forward(x, w, b)
        ours_fwd = median_ms(lambda: layers.conv2d_forward(x, w, b), args.repeats)
        ours_bwd = median_ms(lambda: layers.conv2d_backward(dy, cache), args.repeats)

        # PyTorch in its default (channels-first) layout: what its users run.
        xt = torch.tensor(x.transpose(0, 3, 1, 2).copy(), requires_grad=True)
        wt = torch.tensor(w.transpose(0, 3, 1, 2).copy(), requires_grad=True)
        bt = torch.tensor(b, requires_grad=True)
        dyt = torch.tensor(dy.transpose(0, 3, 1, 2).copy())
        with torch.no_grad():
            ref_fwd = median_ms(lambda: F.conv2d(xt, wt, bt, padding=1), args.repeats)
        yt = F.conv2d(xt, wt, bt, padding=1)

        def torch_backward():
            torch.autograd.grad(yt, (xt, wt, bt), dyt, retain_graph=True)
        ref_bwd = median_ms(torch_backward, args.repeats)

        gflop = 2 * hw * hw * f * 9 * c / 1e9
        rows.append(dict(layer=name, shape=f"{c}->{f} @ {hw}x{hw}",
                         fwd_ms=ours_fwd, torch_fwd_ms=ref_fwd,
                         fwd_gflops=gflop / ours_fwd * 1e3,
                         torch_fwd_gflops=gflop / ref_fwd * 1e3,
                         bwd_ms=ours_bwd, torch_bwd_ms=ref_bwd,
                         bwd_gflops=2 * gflop / ours_bwd * 1e3,
                         torch_bwd_gflops=2 * gflop / ref_bwd * 1e3))

    print(f"# conv 3x3, batch 1, float32, {args.threads} threads, median of "
          f"{args.repeats}; {platform.machine()}, numpy {np.__version__}, torch "
          f"{torch.__version__}, {time.strftime('%Y-%m-%d')}")
    print()
    print("| layer | shape | fwd ms | torch fwd ms | fwd ratio | fwd GFLOP/s (torch) "
          "| bwd ms | torch bwd ms | bwd ratio | bwd GFLOP/s (torch) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['layer']} | {r['shape']} | {r['fwd_ms']:.1f} | {r['torch_fwd_ms']:.1f} "
              f"| {r['fwd_ms'] / r['torch_fwd_ms']:.2f} "
              f"| {r['fwd_gflops']:.0f} ({r['torch_fwd_gflops']:.0f}) "
              f"| {r['bwd_ms']:.1f} | {r['torch_bwd_ms']:.1f} "
              f"| {r['bwd_ms'] / r['torch_bwd_ms']:.2f} "
              f"| {r['bwd_gflops']:.0f} ({r['torch_bwd_gflops']:.0f}) |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(dict(threads=args.threads, repeats=args.repeats, rows=rows), fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
