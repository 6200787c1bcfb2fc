"""One Gatys evaluation -- VGG-19 to relu5_1, the losses, the gradient to the image -- stylelab vs PyTorch.

For each size, stylelab and the same objective written in PyTorch (same random
weights, same images, float32, frozen weights) each run in their own process
with the same thread count; the table gives the best time of a few
evaluations, the peak memory (RSS) of each process, the effective GFLOP/s
(the convolutions' forward FLOPs, counted twice for forward + backward) and
their share of the SGEMM peak measured in this run, and the ratio stylelab /
PyTorch. ``--profile`` shows where stylelab's time goes, layer kind by kind.

    python3 benchmarks/gatys_step.py                       # 256, 512, 1024 px, 2 threads
    python3 benchmarks/gatys_step.py --sizes 512 --profile --json out.json
    python3 benchmarks/gatys_step.py --backend cupy        # on a GPU, against PyTorch CUDA

The weights are random (no pretrained weights are needed to time the arithmetic).
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np

from harness import machine, machine_line, peak_rss_gb, thread_env



def conv_gflops(size):
    """Forward FLOPs (2 per multiply-add) of VGG-19's convs up to conv5_1 on a size x size image."""
    from stylelab.nets.vgg import conv_shapes, convs_upto
    shapes = conv_shapes("vgg19")
    total = 0
    for name in convs_upto("vgg19", "relu5_1"):
        f, k, _, c = shapes[name]
        side = size // 2 ** (int(name[4]) - 1)
        total += 2 * side * side * f * k * k * c
    return total / 1e9


def images(size):
    rng = np.random.default_rng(0)
    return [rng.random((size, size, 3)).astype(np.float32) for _ in range(3)]  # content, style, x


# -- the workers (each runs in its own process) ------------------------------

def run_stylelab(args):
    import stylelab
    from stylelab.files.weights import load_vgg
    from stylelab.gatys import GatysObjective
    from stylelab.profile import Profile
    stylelab.use(args.backend)
    xp = stylelab.array_module()
    net = load_vgg(args.weights)
    content, style, x = (xp.asarray(a) for a in images(args.size))
    objective = GatysObjective(net, content, style, recipe="paper")   # torch_gatys.py's formulas
    sync = xp.cuda.Device().synchronize if args.backend == "cupy" else (lambda: None)
    times = []
    for _ in range(args.repeats + 1):                  # the first run warms up
        sync()
        start = time.perf_counter()
        objective(x)
        sync()
        times.append(time.perf_counter() - start)
    out = {"times": times[1:]}
    if args.profile:
        net.profile = Profile(sync=sync if args.backend == "cupy" else None)
        for _ in range(args.repeats):
            objective(x)
        out["profile"] = {k: v / args.repeats for k, v in net.profile.seconds.items()}
    return out


def run_torch(args):
    import torch
    from torch_gatys import as_tensor, torch_objective
    torch.set_num_threads(args.threads)
    device = "cuda" if args.backend == "cupy" else "cpu"
    content, style, x = images(args.size)
    loss_and_grad = torch_objective(args.weights, content, style, device=device)
    x = as_tensor(x, device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    times = []
    for _ in range(args.repeats + 1):
        sync()
        start = time.perf_counter()
        loss_and_grad(x)
        sync()
        times.append(time.perf_counter() - start)
    return {"times": times[1:]}


WORKERS = {"stylelab": run_stylelab, "torch": run_torch}


def worker(args):
    result = WORKERS[args.worker](args)
    result["peak_rss_gb"] = peak_rss_gb()
    print(json.dumps(result))


# -- the driver ---------------------------------------------------------------

def spawn(args, what, size, weights):
    env = thread_env(args.threads)
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", what, "--size", str(size),
           "--threads", str(args.threads), "--repeats", str(args.repeats),
           "--weights", weights, "--backend", args.backend] + (["--profile"] if args.profile else [])
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if res.returncode != 0:
        sys.exit(f"gatys_step.py: the {what} worker at {size} px failed:\n{res.stderr}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--backend", choices=["numpy", "cupy"], default="numpy")
    p.add_argument("--profile", action="store_true", help="stylelab's time per layer kind")
    p.add_argument("--skip-torch", action="store_true",
                   help="stylelab only (e.g. for its memory at a size PyTorch's run would not fit)")
    p.add_argument("--json", help="also write the results here")
    p.add_argument("--worker", choices=list(WORKERS), help=argparse.SUPPRESS)
    p.add_argument("--size", type=int, help=argparse.SUPPRESS)
    p.add_argument("--weights", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return worker(args)

    from stylelab.profile import Profile
    from stylelab.files.vgg_h5 import save_random_vgg_h5
    with tempfile.TemporaryDirectory() as tmp:
        weights = os.path.join(tmp, "vgg19_random.h5")
        save_random_vgg_h5(weights, "vgg19", seed=0, upto="relu5_1")
        report = machine(args.threads)
        peak = report["sgemm_gflops"]
        rows = []
        for size in args.sizes:
            ours = spawn(args, "stylelab", size, weights)
            ref = ({"times": [float("nan")], "peak_rss_gb": float("nan")} if args.skip_torch
                   else spawn(args, "torch", size, weights))
            gf = 2 * conv_gflops(size)
            t_ours, t_ref = min(ours["times"]), min(ref["times"])
            rows.append({"size": size, "stylelab_s": t_ours, "torch_s": t_ref,
                         "ratio": t_ours / t_ref, "stylelab_gflops": gf / t_ours,
                         "torch_gflops": gf / t_ref, "stylelab_rss_gb": ours["peak_rss_gb"],
                         "torch_rss_gb": ref["peak_rss_gb"],
                         "memory_ratio": ours["peak_rss_gb"] / ref["peak_rss_gb"],
                         "stylelab_all_s": ours["times"], "torch_all_s": ref["times"],
                         "profile": ours.get("profile")})
    device = "CuPy vs PyTorch CUDA" if args.backend == "cupy" else "NumPy vs PyTorch CPU"
    print(f"Gatys evaluation (VGG-19 to relu5_1 + losses + image gradient), float32, random "
          f"weights, {device}\n{machine_line(args.threads, report)}\n")
    print("| size | stylelab s | PyTorch s | ratio | stylelab GFLOP/s (% peak) | PyTorch GFLOP/s "
          "(% peak) | stylelab peak RSS GB | PyTorch peak RSS GB | memory ratio |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    def shown(value, fmt):
        return "not run" if value != value else format(value, fmt)   # NaN: --skip-torch
    for r in rows:
        print(f"| {r['size']} | {r['stylelab_s']:.3f} | {shown(r['torch_s'], '.3f')} | "
              f"{shown(r['ratio'], '.2f')}{'x' if r['ratio'] == r['ratio'] else ''} | "
              f"{r['stylelab_gflops']:.0f} ({100 * r['stylelab_gflops'] / peak:.0f}%) | "
              f"{shown(r['torch_gflops'], '.0f')} ({shown(100 * r['torch_gflops'] / peak, '.0f')}%) | "
              f"{r['stylelab_rss_gb']:.2f} | {shown(r['torch_rss_gb'], '.2f')} | "
              f"{shown(r['memory_ratio'], '.2f')}{'x' if r['memory_ratio'] == r['memory_ratio'] else ''} |")
    for r in rows:
        if r["profile"]:
            profile = Profile()
            profile.seconds = r["profile"]          # already per evaluation
            print(f"\nstylelab at {r['size']} px, per evaluation:\n\n{profile.table()}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"date": time.strftime("%Y-%m-%d"), "machine": platform.node(),
                       "threads": args.threads, "backend": args.backend,
                       "sgemm_peak_gflops": peak, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
