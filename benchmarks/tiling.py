"""Tiled against untiled: time and peak memory of each method at several sizes, and beyond.

Each run is a process of its own (its peak resident memory is the
process's ``ru_maxrss``), on one picture of ``size`` on its longest side
(4:3), for each tile side in ``--tiles`` (0: untiled):

* **gatys**: one evaluation of Gatys et al.'s objective (loss and gradient;
  VGG-19 to ``relu5_1``, the tutorial's layers), timed after a first one
  (the targets and the buffers made, as in a run of hundreds);
* **stylize**: lengstrom's *wave* network (``../shared/models/fast-style/wave``,
  or random weights of its shape where it is absent);
* **adain**: the normalised VGG-19 to ``relu4_1`` and its decoder (random weights);
* **wct**: the five-level cascade with decoders (random weights).

Random weights cost the same time and memory as trained ones. An untiled run
the machine cannot hold is not started (its estimate says so) and shows as
"-". The BLAS runs on all cores.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 benchmarks/tiling.py \\
        --methods gatys stylize --sizes 1024 2048 --tiles 0 256 512
"""

import argparse
import os
import subprocess
import sys

from harness import machine_line

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WAVE = os.path.join(os.path.dirname(ROOT), "shared", "models", "fast-style", "wave")

RUN = r'''
import os, resource, sys, time, tempfile
import numpy as np
sys.path.insert(0, sys.argv[1])
method, size, tile = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]) or None
h, w = size * 3 // 4, size
rng = np.random.default_rng(0)
img = rng.random((h - h % 16, w - w % 16, 3)).astype(np.float32)
scratch = tempfile.mkdtemp()
if method == "gatys":
    from stylelab.files.vgg_h5 import save_random_vgg_h5
    from stylelab.files.weights import load_vgg
    from stylelab.gatys.objective import GatysObjective
    save_random_vgg_h5(f"{scratch}/v.h5", "vgg19", seed=0, upto="relu5_1")
    net = load_vgg(f"{scratch}/v.h5")
    objective = GatysObjective(net, img, img[::2, ::2].copy(), recipe="tutorial", tile=tile)
    objective(img)                  # the first evaluation makes the buffers the others reuse
    start = time.perf_counter()
    objective(img)
elif method == "stylize":
    from stylelab.files.foreign import read_network
    from stylelab.files.layouts import SOURCES, transform_net
    from stylelab.nets.tiled import apply_tiled
    wave = sys.argv[5]
    net = (read_network(wave)[0] if os.path.isdir(wave) else
           transform_net("c9s1-32,d64,d128,R128x5,u64,u32,c9s1-3", **SOURCES["tensorflow"]))
    start = time.perf_counter()
    apply_tiled(net, img, tile) if tile else net.apply(img)
else:
    from stylelab.files.vgg_h5 import save_random_vgg_h5
    from stylelab.files.weights import load_vgg
    from stylelab.nets.decoder import make_decoder
    save_random_vgg_h5(f"{scratch}/v.h5", "vgg19", seed=0, upto="relu5_1")
    net = load_vgg(f"{scratch}/v.h5")
    style = img[::2, ::2].copy()
    start = time.perf_counter()
    if method == "adain":
        from stylelab.universal.adain import adain_transfer
        adain_transfer(net, make_decoder(4, seed=4), img, style, tile=tile)
    else:
        from stylelab.universal.cascade import universal_transfer
        universal_transfer(net, img, style, decoders={v: make_decoder(v, seed=v)
                                                      for v in (1, 2, 3, 4, 5)}, tile=tile)
seconds = time.perf_counter() - start
print(seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20)
'''

# Rough peak memory of an untiled run, GB per megapixel (measured here at 1024 px).
UNTILED_GB_PER_MP = {"gatys": 5.2, "stylize": 0.5, "adain": 0.9, "wct": 1.0}


def available_gb():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 2 ** 20
    except OSError:
        pass
    return float("inf")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--methods", nargs="+", default=["gatys", "stylize", "adain", "wct"])
    p.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048])
    p.add_argument("--tiles", type=int, nargs="+", default=[0, 256, 512])
    args = p.parse_args()
    print(machine_line(os.cpu_count() or 1))
    print(f"MemAvailable {available_gb():.1f} GB\n")
    print("| method | size | tile | seconds | peak memory (GB) | memory vs untiled |")
    print("|---|---|---|---|---|---|")
    for method in args.methods:
        for size in args.sizes:
            untiled = None
            for tile in args.tiles:
                mp = size * size * 3 / 4 / 1e6
                if not tile and UNTILED_GB_PER_MP[method] * mp > 0.9 * available_gb():
                    print(f"| {method} | {size} | untiled | - | - (needs about "
                          f"{UNTILED_GB_PER_MP[method] * mp:.0f} GB) | |")
                    continue
                r = subprocess.run([sys.executable, "-c", RUN, ROOT, method, str(size), str(tile),
                                    WAVE], capture_output=True, text=True)
                if r.returncode != 0:
                    print(f"| {method} | {size} | {tile or 'untiled'} | failed: "
                          f"{r.stderr.strip().splitlines()[-1][:80]} | | |")
                    continue
                seconds, gb = map(float, r.stdout.split())
                if not tile:
                    untiled = gb
                ratio = f"{gb / untiled:.2f}x" if untiled and tile else ""
                print(f"| {method} | {size} | {tile or 'untiled'} | {seconds:.1f} | {gb:.2f} | "
                      f"{ratio} |", flush=True)


if __name__ == "__main__":
    main()
