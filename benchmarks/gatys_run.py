"""A whole Gatys run, end to end: stylelab's ``stylize`` vs the same run on PyTorch.

Both sides use SciPy's L-BFGS-B with the same options (bounds [0, 1], the same
number of iterations, from the same seeded white noise) on the same objective
(VGG-19 with the same random weights, content relu4_2, style relu1_1 ...
relu5_1, the paper's weights); only the evaluation differs: stylelab's NumPy
layers or PyTorch's autograd. Each side runs in its own process with the same
thread count. The wall time covers the targets and the optimisation.

    python3 benchmarks/gatys_run.py --size 512 --iterations 20

Uses ../shared/images/tubingen.jpg and starry_night.jpg when present (else
generated images). The weights are random, so only the times mean anything.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from harness import thread_env

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(ROOT, "..", "shared", "images")


def images(size):
    from stylelab.files.images import load_image
    pair = [os.path.join(SHARED, n) for n in ("tubingen.jpg", "starry_night.jpg")]
    if all(os.path.exists(p) for p in pair):
        import stylelab
        return [stylelab.to_numpy(load_image(p, size=size)) for p in pair], "tubingen + starry_night"
    rng = np.random.default_rng(0)
    return [rng.random((size * 3 // 4, size, 3), dtype=np.float32) for _ in range(2)], "generated"


def run_stylelab(args):
    from stylelab.files.weights import load_vgg
    from stylelab.gatys import stylize
    (content, style), _ = images(args.size)
    start = time.perf_counter()
    net = load_vgg(args.weights)
    result = stylize(net, content, style, recipe="paper", init="noise",
                     iterations=args.iterations, seed=0)
    return {"seconds": time.perf_counter() - start, "iterations": result.iterations,
            "evaluations": result.evaluations, "loss": result.history[-1]["total"]}


def run_torch(args):
    import torch
    from scipy.optimize import Bounds, minimize
    from torch_gatys import torch_objective
    torch.set_num_threads(args.threads)
    (content, style), _ = images(args.size)
    start = time.perf_counter()
    loss_and_grad = torch_objective(args.weights, content, style)
    shape = (1, 3) + content.shape[:2]

    def fun(z):            # SciPy's side: a float64 vector, as stylelab's optimiser gives it
        loss, grad = loss_and_grad(torch.tensor(z.astype(np.float32).reshape(shape)))
        return loss, grad.numpy().astype(np.float64).reshape(-1)

    noise = np.random.default_rng(0).random(content.shape).astype(np.float32)
    z0 = noise.transpose(2, 0, 1).astype(np.float64).reshape(-1)
    res = minimize(fun, z0, jac=True, method="L-BFGS-B", bounds=Bounds(0.0, 1.0),
                   options=dict(maxiter=args.iterations, maxfun=50 * args.iterations + 20,
                                ftol=0.0, gtol=0.0))
    return {"seconds": time.perf_counter() - start, "iterations": int(res.nit),
            "evaluations": int(res.nfev), "loss": float(res.fun)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--iterations", type=int, default=20)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", help="also write the results here")
    p.add_argument("--worker", choices=["stylelab", "torch"], help=argparse.SUPPRESS)
    p.add_argument("--weights", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        run = run_stylelab if args.worker == "stylelab" else run_torch
        print(json.dumps(run(args)))
        return 0
    from stylelab.files.vgg_h5 import save_random_vgg_h5
    env = thread_env(args.threads)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        weights = os.path.join(tmp, "vgg19_random.h5")
        save_random_vgg_h5(weights, "vgg19", seed=0, upto="relu5_1")
        for who in ("stylelab", "torch"):
            cmd = [sys.executable, os.path.abspath(__file__), "--worker", who, "--size",
                   str(args.size), "--iterations", str(args.iterations), "--threads",
                   str(args.threads), "--weights", weights]
            res = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if res.returncode != 0:
                sys.exit(f"gatys_run.py: the {who} run failed:\n{res.stderr}")
            results[who] = json.loads(res.stdout.strip().splitlines()[-1])
    _, what = images(args.size)
    s, t = results["stylelab"], results["torch"]
    print(f"Gatys run, {args.iterations} L-BFGS iterations at {args.size} px ({what}), random "
          f"weights, {args.threads} threads, {time.strftime('%Y-%m-%d')}\n")
    print("| | wall s | iterations | evaluations | s per evaluation | final loss |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, r in (("stylelab", s), ("PyTorch", t)):
        print(f"| {name} | {r['seconds']:.1f} | {r['iterations']} | {r['evaluations']} | "
              f"{r['seconds'] / r['evaluations']:.2f} | {r['loss']:.4g} |")
    print(f"\nratio stylelab / PyTorch (wall): {s['seconds'] / t['seconds']:.2f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"size": args.size, "iterations": args.iterations, **results}, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
