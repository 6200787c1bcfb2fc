"""A folder of photos, serially and on a local Dask cluster: pictures per second, and the cluster's overhead.

Each configuration is one whole ``stylelab stylize`` command on the same
folder (process start, the network loaded, the cluster started, every photo
read, painted, written and recorded), timed from outside, into a fresh
output folder:

* ``serial, --threads 1`` and ``serial, --threads N``: the plain loop, its
  BLAS on one thread or on all of them;
* ``--workers K``: a local Dask cluster of K worker processes, one BLAS thread
  each (Dask sets that);
* ``rerun``: the same command again on the finished folder -- nothing to
  paint, so its time is the fixed cost (start, manifest, cluster).

The network is lengstrom's *wave* (``../shared/models/fast-style/wave``,
TensorFlow's, read as published) when it is there, else a random-weight
network of the same shape (said in the header); the photos are crops of
``../shared/images`` (or noise), size x size, in class folders. The
configurations take turns over ``--rounds`` rounds; the table gives the
median seconds, pictures per second, and the ratio to the serial loop on
all threads.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 benchmarks/scale.py --photos 48 --size 256
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
from PIL import Image

from harness import machine_line

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
WAVE = os.path.join(SHARED, "models", "fast-style", "wave")


def make_photos(folder, count, size, seed=0):
    """`count` size x size photos in 4 class folders: crops of the shared pictures, or noise."""
    rng = np.random.default_rng(seed)
    images = os.path.join(SHARED, "images")
    sources = sorted(os.path.join(images, f) for f in os.listdir(images)
                     if f.endswith(".jpg")) if os.path.isdir(images) else []
    for k in range(count):
        sub = os.path.join(folder, f"n{k % 4:02d}")
        os.makedirs(sub, exist_ok=True)
        if sources:
            with Image.open(sources[k % len(sources)]) as im:
                im = im.convert("RGB")
                x = int(rng.integers(0, max(1, im.width - size)))
                y = int(rng.integers(0, max(1, im.height - size)))
                im.crop((x, y, x + size, y + size)).save(os.path.join(sub, f"p{k:04d}.jpg"))
        else:
            Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(
                os.path.join(sub, f"p{k:04d}.jpg"))
    return "crops of ../shared/images" if sources else "noise (../shared/images is absent)"


def model_path(scratch):
    """The wave network, or a random-weight network of lengstrom's shape where it is absent."""
    if os.path.isdir(WAVE):
        return WAVE, "lengstrom's wave (../shared/models/fast-style/wave)"
    sys.path.insert(0, ROOT)
    from stylelab.files.model_file import save_model
    from stylelab.nets.transform import TransformNet
    path = os.path.join(scratch, "random.h5")
    save_model(path, TransformNet("c9s1-32,d64,d128,R128x5,u64,u32,c9s1-3", seed=0),
               {"task": "style"})
    return path, "a random-weight network of the same shape (the wave network is absent)"


def timed(argv):
    """Seconds one command takes, start to exit; it must succeed."""
    start = time.perf_counter()
    r = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - start
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {r.stderr.strip()}")
    return seconds


def painting_seconds(out):
    """The sum of the manifest's per-picture seconds (reading, painting, writing, hashing)."""
    with open(os.path.join(out, "manifest.jsonl")) as f:
        return sum(json.loads(line)["seconds"] for line in f)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--photos", type=int, default=48)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    cores = os.cpu_count() or 1
    print(machine_line(cores))
    with tempfile.TemporaryDirectory() as scratch:
        photos = os.path.join(scratch, "photos")
        what = make_photos(photos, args.photos, args.size)
        model, model_text = model_path(scratch)
        print(f"{args.photos} photos of {args.size}x{args.size} ({what}), {model_text}, "
              f"{args.rounds} rounds, {cores} cores\n")
        base = [sys.executable, "-m", "stylelab", "stylize", "--model", model, photos, "--quiet"]
        configs = {"serial, --threads 1": ["--threads", "1"],
                   f"serial, --threads {cores}": ["--threads", str(cores)],
                   **{f"--workers {k}": ["--workers", str(k)] for k in args.workers}}
        times = {name: [] for name in configs}
        reruns = {name: [] for name in configs}
        work = {name: [] for name in configs}
        for r in range(args.rounds):
            names = list(configs)
            names = names[r % len(names):] + names[:r % len(names)]    # take turns going first
            for name in names:
                out = os.path.join(scratch, f"out-{r}-{len(times[name])}-{name.split()[0]}")
                out += name.split()[-1]
                times[name].append(timed(base + ["--out", out] + configs[name]))
                work[name].append(painting_seconds(out))
                reruns[name].append(timed(base + ["--out", out] + configs[name]))
        serial = statistics.median(times[f"serial, --threads {cores}"])
        print("| run | seconds (median) | pictures/s | vs serial on all threads | "
              "painting s/picture | rerun, nothing to do (s) |")
        print("|---|---|---|---|---|---|")
        for name in configs:
            t = statistics.median(times[name])
            per = statistics.median(work[name]) / args.photos
            print(f"| {name} | {t:.2f} | {args.photos / t:.2f} | {serial / t:.2f}x | "
                  f"{per:.3f} | {statistics.median(reruns[name]):.2f} |")
        print("\nevery round's seconds: " + "; ".join(
            f"{name}: {', '.join(f'{t:.2f}' for t in times[name])}" for name in configs))


if __name__ == "__main__":
    main()
