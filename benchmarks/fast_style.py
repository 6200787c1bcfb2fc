"""Johnson et al.'s network: stylisation time and training speed, stylelab vs PyTorch.

Two measurements, each side in its own process with the same thread count,
the same random parameters and the same inputs (float32):

* **stylize**: one forward pass of the style network (c9s1-32,d64,d128,
  R128x5,u64,u32,c9s1-3) on a size x size image, best of ``--repeats``;
  PyTorch runs the same network under ``torch.no_grad()``. **upscale**: the
  same for the x4 super-resolution network (c9s1-64,R64x4,u64,u64,c9s1-3)
  from a size/4 image to size x size.
* **train**: one training step -- photo features, forward, perceptual loss
  through VGG-16 (relu1_2 ... relu4_3), backward, Adam -- on a batch of
  ``--batch`` crops of ``--crop`` px; reported as images per second. PyTorch
  runs the same step with autograd and ``torch.optim.Adam``. The batch is
  fixed in memory (no file reading), so this is the arithmetic only.

* **pretrained**: a real published network -- lengstrom's *wave*
  (TensorFlow semantics, from ``../shared/models/fast-style/wave``) -- at
  ``--pretrained-sizes``; PyTorch runs the same network as
  ``tests/torch_foreign.py`` writes TensorFlow's code (skipped, saying so,
  where the shared models are absent).

    python3 benchmarks/fast_style.py                          # 256, 512, 1024 px; train 4 x 256
    python3 benchmarks/fast_style.py --sizes 256 --train-steps 2 --json out.json
    python3 benchmarks/fast_style.py --backend cupy           # CuPy vs PyTorch CUDA (a GPU)

Except for the pretrained rows the weights are random: they time the arithmetic.
The stylelab GFLOP/s column counts the network's conv FLOPs
(``TransformNet.conv_flops``), so networks compare per FLOP.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from harness import best_of, machine_line, peak_rss_gb, stylelab_device, thread_env, torch_device

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STYLE_WEIGHTS = {"content": 1.0, "style": 1e5, "tv": 1e-6}


class FixedBatch:
    """Stands in for an ImageFolder: the same batch every step."""

    def __init__(self, batch):
        self.batch_array, self.unreadable = batch, set()

    def batch(self, cursor, n):
        return self.batch_array, cursor + n


def run_stylelab(args):
    from stylelab.files.weights import load_vgg
    from stylelab.johnson.perceptual import PerceptualLoss
    from stylelab.johnson.training import Trainer
    from stylelab.nets.transform import SR_ARCH, STYLE_ARCH, TransformNet
    xp, sync = stylelab_device(args.backend)
    rng = np.random.default_rng(0)
    if args.task == "pretrained":
        from stylelab.files.foreign import read_network
        net, _ = read_network(args.weights)
    else:
        net = TransformNet(SR_ARCH[4] if args.task == "upscale" else STYLE_ARCH, seed=0)
    if args.task != "train":
        side = round(args.size / net.factor)
        img = xp.asarray(rng.random((side, side, 3)).astype(np.float32))
        return {"seconds": best_of(lambda: net.apply(img), args.repeats, sync)[0],
                "gflop": sum(net.conv_flops(side, side).values()) / 1e9}
    photos = xp.asarray(rng.random((args.batch, args.crop, args.crop, 3)).astype(np.float32))
    style = xp.asarray(rng.random((1, args.crop, args.crop, 3)).astype(np.float32))
    w = STYLE_WEIGHTS
    loss = PerceptualLoss(load_vgg(args.weights), style, w["content"], w["style"], w["tv"])
    trainer = Trainer(net, loss, FixedBatch(photos), batch_size=args.batch)
    return {"seconds": best_of(trainer.train_step, args.repeats, sync)[0]}


def run_torch(args):
    import torch
    sys.path.insert(0, ROOT)
    from stylelab.files.vgg_h5 import read_vgg_h5
    from stylelab.johnson.perceptual import CONTENT_LAYERS, STYLE_LAYERS
    from stylelab.nets.transform import SR_ARCH, STYLE_ARCH, TransformNet
    from tests import vgg_files
    from tests.reference import to_torch
    from tests.torch_models import torch_params, torch_perceptual, torch_transform
    torch.set_num_threads(args.threads)
    device, sync = torch_device(args.backend)
    rng = np.random.default_rng(0)
    if args.task == "pretrained":
        from tests.test_foreign import shared_variables
        from tests.torch_foreign import tf_network
        variables = [torch.tensor(v, device=device) for v in shared_variables(Path(args.weights))]
        x = to_torch(rng.random((1, args.size, args.size, 3)).astype(np.float32)).to(device)

        def run_pretrained():
            with torch.no_grad():
                tf_network(x, variables)
        return {"seconds": best_of(run_pretrained, args.repeats, sync)[0]}
    arch = SR_ARCH[4] if args.task == "upscale" else STYLE_ARCH
    tp = {k: v.detach().to(device).requires_grad_(True)
          for k, v in torch_params(TransformNet(arch, seed=0).params).items()}
    if args.task in ("stylize", "upscale"):
        side = args.size // (4 if args.task == "upscale" else 1)
        x = to_torch(rng.random((1, side, side, 3)).astype(np.float32)).to(device)

        def stylize():
            with torch.no_grad():
                torch_transform(x, tp, arch)
        return {"seconds": best_of(stylize, args.repeats, sync)[0]}
    photos = to_torch(rng.random((args.batch, args.crop, args.crop, 3)).astype(np.float32)).to(device)
    style = to_torch(rng.random((1, args.crop, args.crop, 3)).astype(np.float32)).to(device)
    arch, weights, convention = read_vgg_h5(args.weights)
    tw = {k: (w.transpose(0, 3, 1, 2).copy(), b) for k, (w, b) in weights.items()}
    layers = list(dict.fromkeys(CONTENT_LAYERS + STYLE_LAYERS))

    def vgg_fn(x):
        out = vgg_files.torch_vgg(arch, tw, convention, x)
        return {n: out[n] for n in layers}
    with torch.no_grad():
        style_feats = vgg_fn(style)
    opt = torch.optim.Adam(list(tp.values()), lr=1e-3)

    def step():
        opt.zero_grad()
        y = torch_transform(photos, tp, STYLE_ARCH)
        total, _ = torch_perceptual(y, photos, style_feats, vgg_fn, STYLE_WEIGHTS,
                                    CONTENT_LAYERS, STYLE_LAYERS)
        total.backward()
        opt.step()
    return {"seconds": best_of(step, args.repeats, sync)[0]}


def worker(args):
    result = (run_stylelab if args.side == "stylelab" else run_torch)(args)
    result["peak_rss_gb"] = peak_rss_gb()
    print(json.dumps(result))


def spawn(args, side, task, size=0, weights=""):
    env = thread_env(args.threads)
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", side, "--task", task,
           "--size", str(size), "--repeats", str(args.train_steps if task == "train"
                                                  else args.repeats),
           "--threads", str(args.threads), "--batch", str(args.batch), "--crop",
           str(args.crop), "--weights", weights, "--backend", args.backend]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    p.add_argument("--repeats", type=int, default=3, help="stylisations per size (best taken)")
    p.add_argument("--train-steps", type=int, default=2, help="timed training steps (best taken)")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--crop", type=int, default=256)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--backend", choices=["numpy", "cupy"], default="numpy",
                   help="cupy: CuPy against PyTorch on CUDA (a GPU)")
    p.add_argument("--skip-train", action="store_true")
    p.add_argument("--pretrained-sizes", type=int, nargs="*", default=[512, 1024],
                   help="sizes for the real pretrained network (none: skip it)")
    p.add_argument("--json", help="also write the results here")
    p.add_argument("--worker", choices=["stylelab", "torch"], help=argparse.SUPPRESS)
    p.add_argument("--task", help=argparse.SUPPRESS)
    p.add_argument("--size", type=int, help=argparse.SUPPRESS)
    p.add_argument("--weights", help=argparse.SUPPRESS)
    p.add_argument("--side", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        args.side = args.worker
        return worker(args)

    print(machine_line(args.threads))
    print(f"# float32, random weights, "
          f"{'CuPy vs PyTorch CUDA' if args.backend == 'cupy' else 'NumPy vs PyTorch CPU'}")
    rows = []
    for size in args.sizes:
        ours, ref = (spawn(args, side, "stylize", size) for side in ("stylelab", "torch"))
        rows.append({"task": f"stylize {size}x{size}", "stylelab": ours, "torch": ref})
    for size in args.sizes:
        ours, ref = (spawn(args, side, "upscale", size) for side in ("stylelab", "torch"))
        rows.append({"task": f"upscale x4 to {size}x{size}", "stylelab": ours, "torch": ref})
    wave = os.path.join(os.path.dirname(ROOT), "shared", "models", "fast-style", "wave")
    if args.pretrained_sizes and not os.path.isdir(wave):
        print(f"# pretrained rows skipped: {wave} is absent")
    for size in args.pretrained_sizes if os.path.isdir(wave) else ():
        ours, ref = (spawn(args, side, "pretrained", size, weights=wave)
                     for side in ("stylelab", "torch"))
        rows.append({"task": f"pretrained wave {size}x{size}", "stylelab": ours, "torch": ref})
    if not args.skip_train:
        from stylelab.files.vgg_h5 import save_random_vgg_h5
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "vgg16.h5")
            save_random_vgg_h5(path, "vgg16", seed=0, upto="relu4_3")
            ours, ref = (spawn(args, side, "train", weights=path) for side in ("stylelab", "torch"))
        rows.append({"task": f"train step {args.batch} x {args.crop}px", "stylelab": ours,
                     "torch": ref})
    print("| task | stylelab s | PyTorch s | ratio | stylelab images/s | PyTorch images/s "
          "| stylelab GFLOP/s | stylelab peak RSS | PyTorch peak RSS |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        a, b = r["stylelab"], r["torch"]
        n = args.batch if r["task"].startswith("train") else 1
        gflops = f"{a['gflop'] / a['seconds']:.0f}" if "gflop" in a else "-"
        print(f"| {r['task']} | {a['seconds']:.3f} | {b['seconds']:.3f} | "
              f"{a['seconds'] / b['seconds']:.2f}x | {n / a['seconds']:.2f} | "
              f"{n / b['seconds']:.2f} | {gflops} | {a['peak_rss_gb']:.2f} GB | "
              f"{b['peak_rss_gb']:.2f} GB |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"threads": args.threads, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
