"""Where Winograd pays: a 3x3 conv by shifted GEMMs and by Winograd F(2x2, 3x3), beside PyTorch.

For VGG's 3x3 layer shapes at one image size (batch 1, float32, forward), it
times ``stylelab.layers.fast.shifted`` and ``stylelab.layers.fast.winograd``
at several band sizes (tiles per band), and ``torch.nn.functional.conv2d``
with reflection padding, in one process limited to ``--threads`` threads;
best of ``--repeats``. The table's last column is what
:func:`stylelab.layers.fast.kernel_for` picks for that shape.

    python3 benchmarks/winograd.py                 # VGG's layers at 512 px
    python3 benchmarks/winograd.py --size 1024 --bands 1024 2048
"""

import argparse
import os
import sys

import numpy as np

from harness import best_of, machine_line, thread_env

# (C, F, map side as a fraction of the image): VGG-19's convs after conv1_1, and the decoders' 512 -> 256.
SHAPES = [(64, 64, 1), (64, 128, 2), (128, 128, 2), (128, 256, 4), (256, 256, 4), (256, 512, 8),
          (512, 512, 8), (512, 256, 8)]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=512, help="the image side (default: 512)")
    p.add_argument("--bands", type=int, nargs="+", default=[512, 1024, 2048, 4096],
                   help="Winograd band sizes to time, in tiles")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if not args.worker:        # the thread limits must be set before NumPy and PyTorch load
        import subprocess
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", *sys.argv[1:]]
        return subprocess.run(cmd, env=thread_env(args.threads), check=True).returncode

    import torch
    from stylelab.layers.fast import kernel_for, shifted, winograd
    from stylelab.layers.fast.taps import conv_taps
    torch.set_num_threads(args.threads)
    print(machine_line(args.threads))
    print(f"# forward ms, float32, {args.size} px image, best of {args.repeats}")
    bands = " | ".join(f"Winograd, {b} tiles" for b in args.bands)
    print(f"| C -> F | map | shifted GEMMs | {bands} | PyTorch | picked |")
    print("| --- | ---: | ---: |" + " ---: |" * len(args.bands) + " ---: | --- |")
    rng = np.random.default_rng(0)
    F = torch.nn.functional
    for c, f, div in SHAPES:
        side = args.size // div
        xpad = rng.random((1, side + 2, side + 2, c), dtype=np.float32)
        w = (rng.standard_normal((f, 3, 3, c)) / np.sqrt(9 * c)).astype(np.float32)
        taps, u = conv_taps(w), winograd.winograd_taps(w)
        grid = np.empty((1, side + 2, side + 2, f), np.float32)
        ms = [best_of(lambda: shifted.correlate(xpad, taps, 3, out=grid), args.repeats)[0]]
        for band in args.bands:
            ms.append(best_of(lambda: winograd.correlate(xpad, u, band_tiles=band), args.repeats)[0])
        tx = torch.from_numpy(xpad[:, 1:-1, 1:-1].transpose(0, 3, 1, 2).copy())
        tw = torch.from_numpy(w.transpose(0, 3, 1, 2).copy())
        with torch.no_grad():
            ms.append(best_of(lambda: F.conv2d(F.pad(tx, (1, 1, 1, 1), mode="reflect"), tw),
                              args.repeats)[0])
        cells = " | ".join(f"{1e3 * s:.1f}" for s in ms)
        print(f"| {c} -> {f} | {side} | {cells} | {kernel_for(1, c, f)} |")


if __name__ == "__main__":
    main()
