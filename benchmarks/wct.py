"""Li et al.'s universal style transfer: one stylisation, stylelab vs PyTorch.

One WCT stylisation of a size x size image with a style of the same size,
through the five levels relu5_1 ... relu1_1 (alpha 0.6), by both roads:

* **decoders**: at each level encode the image and the style, whiten and
  colour, decode -- five random-weight decoders (the VGG-19 mirror images);
* **invert**: the same, but each level's features are turned back into an
  image by ``--iterations`` L-BFGS iterations (SciPy's L-BFGS-B on both
  sides; PyTorch supplies its loss and gradient by autograd).
* **adain**: Huang & Belongie's pipeline as released: the normalised VGG-19
  (1x1 colour conv, reflection padding) to relu4_1 for the content and the
  style, AdaIN (pytorch-AdaIN's statistics), the relu4_1 decoder; PyTorch
  runs pytorch-AdaIN's ``style_transfer`` written in ``tests/test_released.py``.

Each side runs in its own process with the same thread count, the same random
VGG-19 and decoder weights, the same inputs, in float32; best of ``--repeats``
(after one warm-up run). PyTorch runs the same cascade (``tests/torch_universal.py``:
``torch.linalg.eigh`` for the transforms). In float32 the two inversions may
take different numbers of loss evaluations, so the table also gives seconds
per evaluation.

    python3 benchmarks/wct.py                    # 512 px, decoders and inversion
    python3 benchmarks/wct.py --size 256 --iterations 5 --json out.json
    python3 benchmarks/wct.py --backend cupy     # CuPy vs PyTorch CUDA (a GPU)
    python3 benchmarks/wct.py --tasks adain --rounds 5   # five pairs: the median, and each ratio

The weights are random: this times the arithmetic, not a trained network.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

from harness import best_of, machine_line, peak_rss_gb, stylelab_device, thread_env, torch_device

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LEVELS = (5, 4, 3, 2, 1)


def inputs(size):
    rng = np.random.default_rng(0)
    return (rng.random((size, size, 3)).astype(np.float32),
            rng.random((size, size, 3)).astype(np.float32))


def run_stylelab(args):
    from stylelab.files.weights import load_vgg
    from stylelab.nets.decoder import make_decoder
    from stylelab.universal import universal_transfer
    xp, sync = stylelab_device(args.backend)
    vgg = load_vgg(args.weights)
    content, style = (xp.asarray(a) for a in inputs(args.size))
    if args.task == "adain":
        from stylelab.universal.adain import adain_transfer
        decoder = make_decoder(4, seed=4)
        seconds, _ = best_of(lambda: adain_transfer(vgg, decoder, content, style), args.repeats,
                             sync)
        return {"seconds": seconds, "evaluations": 0}
    decoders = ({v: make_decoder(v, seed=v) for v in LEVELS} if args.task == "decoders"
                else None)
    seconds, result = best_of(lambda: universal_transfer(
        vgg, content, style, decoders=decoders, iterations=args.iterations), args.repeats, sync)
    return {"seconds": seconds, "evaluations": result.evaluations}


def run_torch(args):
    import torch
    sys.path.insert(0, ROOT)
    from stylelab.nets.decoder import make_decoder
    from tests.reference import to_torch
    from tests.torch_models import torch_params
    from tests.torch_universal import torch_universal
    torch.set_num_threads(args.threads)
    device, sync = torch_device(args.backend)
    from stylelab.files.vgg_h5 import read_vgg_file
    stored = read_vgg_file(args.weights)
    weights, convention, preprocess = stored["weights"], stored["convention"], stored["preprocess"]
    tw = {k: (w.transpose(0, 3, 1, 2).copy(), b) for k, (w, b) in weights.items()}
    content, style = (to_torch(a[None]).to(device) for a in inputs(args.size))
    if args.task == "adain":
        from tests.test_released import torch_adain, torch_decoder
        from tests.vgg_files import torch_vgg
        dec = make_decoder(4, seed=4)
        convs = [(dec.params[k].transpose(0, 3, 1, 2).copy(), dec.params[k[:-2] + ".b"])
                 for k in dec.params if k.endswith(".w")]
        pre = (np.ascontiguousarray(preprocess[0].transpose(0, 3, 1, 2)), preprocess[1])

        def adain_once():
            with torch.no_grad():
                fc = torch_vgg("vgg19", tw, convention, content, upto="relu4_1",
                               padding="reflect", preprocess=pre)["relu4_1"]
                fs = torch_vgg("vgg19", tw, convention, style, upto="relu4_1",
                               padding="reflect", preprocess=pre)["relu4_1"]
                return torch_decoder(4, convs, torch_adain(fc, fs), dtype=content.dtype).clamp(0, 1)
        seconds, _ = best_of(adain_once, args.repeats, sync)
        return {"seconds": seconds, "evaluations": 0}
    decoders = None
    if args.task == "decoders":
        nets = {v: make_decoder(v, seed=v) for v in LEVELS}
        decoders = {v: ({k: t.to(device) for k, t in torch_params(d.params, grad=False).items()},
                        d.arch) for v, d in nets.items()}
    stats = {}

    def once():
        stats.clear()
        return torch_universal(tw, convention, content, [style], LEVELS, 0.6,
                               decoders=decoders, iterations=args.iterations, stats=stats)
    seconds, _ = best_of(once, args.repeats, sync)
    return {"seconds": seconds, "evaluations": stats.get("evaluations", 0)}


def save_normalised(path):
    """Random weights shaped as the normalised VGG-19 (colour conv, reflection padding) to relu4_1."""
    from stylelab.files.vgg_h5 import save_vgg_h5
    from stylelab.nets.vgg import random_weights
    rng = np.random.default_rng(1)
    colour = ((rng.standard_normal((3, 1, 1, 3)) * 0.5).astype(np.float32),
              np.zeros(3, np.float32))
    save_vgg_h5(path, "vgg19", random_weights("vgg19", seed=0, upto="relu4_1"),
                dict(channel_order="RGB", input_scale=1.0, mean=[0, 0, 0], std=[1, 1, 1]),
                "random weights (seed 0)", family="normalised", padding="reflect",
                preprocess=colour)


def worker(args):
    result = (run_stylelab if args.worker == "stylelab" else run_torch)(args)
    result["peak_rss_gb"] = peak_rss_gb()
    print(json.dumps(result))


def spawn(args, side, task, weights):
    env = thread_env(args.threads)
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", side, "--task", task,
           "--size", str(args.size), "--repeats", str(args.repeats), "--threads",
           str(args.threads), "--iterations", str(args.iterations), "--weights", weights,
           "--backend", args.backend]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def rounds(args, task, weights):
    """``--rounds`` pairs of runs, the two sides one after the other, the first alternating
    (this machine's speed drifts: a ratio is only as good as the pair it comes from)."""
    for k in range(args.rounds):
        sides = ("stylelab", "torch") if k % 2 == 0 else ("torch", "stylelab")
        result = {side: spawn(args, side, task, weights) for side in sides}
        yield {"stylelab": result["stylelab"], "torch": result["torch"]}


def median_pair(pairs):
    """The pair whose ratio is the median: it speaks for all (its two sides ran side by side)."""
    by_ratio = sorted(pairs, key=lambda rd: rd["stylelab"]["seconds"] / rd["torch"]["seconds"])
    return by_ratio[(len(by_ratio) - 1) // 2]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--iterations", type=int, default=10,
                   help="L-BFGS iterations per level for the inversion (default: 10)")
    p.add_argument("--repeats", type=int, default=1, help="timed runs per road (best taken)")
    p.add_argument("--rounds", type=int, default=1,
                   help="pairs of stylelab and PyTorch runs; the table gives the median pair "
                        "and every pair's ratio (default: 1)")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--backend", choices=["numpy", "cupy"], default="numpy",
                   help="cupy: CuPy against PyTorch on CUDA (a GPU)")
    p.add_argument("--tasks", nargs="+", choices=["decoders", "invert", "adain"],
                   default=["decoders", "invert", "adain"])
    p.add_argument("--json", help="also write the results here")
    p.add_argument("--worker", choices=["stylelab", "torch"], help=argparse.SUPPRESS)
    p.add_argument("--task", help=argparse.SUPPRESS)
    p.add_argument("--weights", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return worker(args)

    from stylelab.files.vgg_h5 import save_random_vgg_h5
    print(machine_line(args.threads))
    print(f"# float32, {'CuPy vs PyTorch CUDA' if args.backend == 'cupy' else 'NumPy vs PyTorch CPU'}, "
          f"random weights, {args.size}x{args.size}, levels relu5_1 ... relu1_1")
    rows = []
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "vgg19.h5")
        save_random_vgg_h5(path, "vgg19", seed=0, upto="relu5_1")
        normalised = os.path.join(d, "vgg_normalised.h5")
        save_normalised(normalised)
        for task in args.tasks:
            weights = normalised if task == "adain" else path
            name = {"decoders": "decoders", "adain": "AdaIN (relu4_1, one pass)"}.get(
                task, f"inversion, {args.iterations} L-BFGS it/level")
            pairs = list(rounds(args, task, weights))
            rows.append({"task": name, **median_pair(pairs), "rounds": pairs})
    print("| road | stylelab s | PyTorch s | ratio | ratio, each round | evaluations (stylelab / "
          "PyTorch) | s per evaluation ratio | stylelab peak RSS | PyTorch peak RSS |")
    print("| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |")
    for r in rows:
        a, b = r["stylelab"], r["torch"]
        each = ", ".join(f"{rd['stylelab']['seconds'] / rd['torch']['seconds']:.2f}x"
                         for rd in r["rounds"])
        evals = per_eval = "-"
        if a["evaluations"]:
            evals = f"{a['evaluations']} / {b['evaluations']}"
            per_eval = (f"{(a['seconds'] / a['evaluations']) / (b['seconds'] / b['evaluations']):.2f}x")
        rss = [max(rd[side]["peak_rss_gb"] for rd in r["rounds"]) for side in ("stylelab", "torch")]
        print(f"| {r['task']} | {a['seconds']:.2f} | {b['seconds']:.2f} | "
              f"{a['seconds'] / b['seconds']:.2f}x | {each} | {evals} | {per_eval} | "
              f"{rss[0]:.2f} GB | {rss[1]:.2f} GB |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"threads": args.threads, "size": args.size, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
