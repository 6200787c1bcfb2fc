"""A published fast-style network against its own framework: stylelab, TensorFlow, onnxruntime.

lengstrom's *wave* (``../shared/models/fast-style/wave``, TensorFlow's
network as deeplearn.js holds it) stylises one size x size picture:

* **stylelab**: ``stylelab.files.foreign.read_network`` then ``net.apply``
  (the fast engine), as ``stylelab stylize`` runs it;
* **tensorflow**: TensorFlow's own ops on the same variables, as lengstrom's
  ``transform.py`` computes them (``tf.nn.conv2d`` SAME, ``tf.nn.moments``
  instance norm with epsilon 1e-3, ``tf.nn.conv2d_transpose``, ``tanh * 150 +
  127.5``), in ``--tf-python`` (a virtual environment with tensorflow-cpu:
  never a dependency of stylelab or of its tests), skipped, saying so, without it;
* **onnxruntime**: the same network exported by ``stylelab models export``
  (the ONNX route, a second anchor), where onnxruntime is installed.

Each side runs in a process of its own with the same threads (the BLAS and
OpenMP variables, and TensorFlow's and onnxruntime's own thread settings), one
warm-up call, then the best of ``--repeats`` calls; the sides take turns going
first over ``--rounds`` rounds, and the table gives each round's seconds, the
median, stylelab's time over each side's (each round's and the medians'; < 1:
stylelab is faster), and each side's GFLOP/s -- the network's conv FLOPs
(:meth:`~stylelab.nets.transform.TransformNet.conv_flops`) over its median --
as a fraction of the SGEMM peak the header line measured.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 benchmarks/published_net.py \\
        --sizes 512 1024 --tf-python /path/to/tfenv/bin/python
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

from harness import machine, machine_line, thread_env

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WAVE = os.path.join(os.path.dirname(ROOT), "shared", "models", "fast-style", "wave")

TF_SIDE = r'''
import json, os, sys, time
import numpy as np
import tensorflow as tf
threads, size, repeats, folder = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
tf.config.threading.set_intra_op_parallelism_threads(threads)
tf.config.threading.set_inter_op_parallelism_threads(1)
manifest = json.load(open(os.path.join(folder, "manifest.json")))
order = sorted(manifest, key=lambda n: int(n.split("_")[1]) if "_" in n else 0)
v = [tf.constant(np.fromfile(os.path.join(folder, manifest[n]["filename"]), "<f4")
                 .reshape(manifest[n]["shape"])) for n in order]

def norm(h, shift, scale):
    mean, var = tf.nn.moments(h, [1, 2], keepdims=True)
    return scale * (h - mean) / tf.sqrt(var + 1e-3) + shift

def conv(h, i, stride, relu=True):
    h = norm(tf.nn.conv2d(h, v[i], stride, "SAME"), v[i + 1], v[i + 2])
    return tf.nn.relu(h) if relu else h

def up(h, i):
    n, hh, ww = tf.shape(h)[0], tf.shape(h)[1], tf.shape(h)[2]
    out = [n, 2 * hh, 2 * ww, v[i].shape[2]]
    return tf.nn.relu(norm(tf.nn.conv2d_transpose(h, v[i], out, 2, "SAME"), v[i + 1], v[i + 2]))

@tf.function
def network(x):
    h = conv(x, 0, 1)
    h = conv(h, 3, 2)
    h = conv(h, 6, 2)
    for b in range(5):
        i = 9 + 6 * b
        h = h + conv(conv(h, i, 1), i + 3, 1, relu=False)
    h = up(h, 39)
    h = up(h, 42)
    return tf.tanh(conv(h, 45, 1, relu=False)) * 150 + 127.5

x = tf.constant(np.random.default_rng(0).random((1, size, size, 3), np.float32) * 255)
network(x).numpy()
best = float("inf")
for _ in range(repeats):
    t = time.perf_counter()
    network(x).numpy()
    best = min(best, time.perf_counter() - t)
print(json.dumps({"seconds": best, "version": tf.__version__}))
'''


def run_stylelab(args):
    import time
    import numpy as np
    from stylelab.files.foreign import read_network
    net, _ = read_network(args.folder)
    img = np.random.default_rng(0).random((args.size, args.size, 3), np.float32)
    net.apply(img)
    best = float("inf")
    for _ in range(args.repeats):
        t = time.perf_counter()
        net.apply(img)
        best = min(best, time.perf_counter() - t)
    return {"seconds": best}


def run_onnxruntime(args):
    import time
    import numpy as np
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = args.threads, 1
    session = ort.InferenceSession(args.onnx, options, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).random((1, 3, args.size, args.size), np.float32) * 255
    session.run(None, {"input": x})
    best = float("inf")
    for _ in range(args.repeats):
        t = time.perf_counter()
        session.run(None, {"input": x})
        best = min(best, time.perf_counter() - t)
    return {"seconds": best, "version": ort.__version__}


def side(name, size, args, onnx_path):
    """One side's best time at `size`, from a process of its own (None: it cannot run here)."""
    env = thread_env(args.threads)
    if name == "tensorflow":
        if not args.tf_python:
            return None
        cmd = [args.tf_python, "-c", TF_SIDE, str(args.threads), str(size), str(args.repeats),
               args.folder]
        env = {**env, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    else:
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", name, "--size", str(size),
               "--repeats", str(args.repeats), "--threads", str(args.threads), "--folder",
               args.folder, "--onnx", onnx_path or ""]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode:
        raise SystemExit(f"{name} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[512, 1024])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3, help="timed calls per process (best kept)")
    p.add_argument("--rounds", type=int, default=3, help="rounds, the first side alternating")
    p.add_argument("--tf-python", help="a Python with tensorflow-cpu (its own virtual "
                   "environment); without it the TensorFlow column is skipped")
    p.add_argument("--folder", default=WAVE, help="the deeplearn.js network (default: wave)")
    p.add_argument("--json", help="also write the results here")
    # internal: one side in a process of its own
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--size", type=int, help=argparse.SUPPRESS)
    p.add_argument("--onnx", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        run = {"stylelab": run_stylelab, "onnxruntime": run_onnxruntime}[args.worker]
        print(json.dumps(run(args)))
        return
    if not os.path.isdir(args.folder):
        raise SystemExit(f"skipped: {args.folder} is absent (the published networks are shared "
                         f"beside the project)")
    sides = ["stylelab", "tensorflow", "onnxruntime"]
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = os.path.join(tmp, "wave.onnx")
        try:
            import onnxruntime  # noqa: F401
            subprocess.run([sys.executable, "-m", "stylelab", "models", "export", args.folder,
                            onnx_path], check=True, capture_output=True)
        except (ImportError, subprocess.CalledProcessError):
            onnx_path = None
        available = [s for s in sides if not (s == "tensorflow" and not args.tf_python)
                     and not (s == "onnxruntime" and onnx_path is None)]
        report = machine(args.threads)
        print(machine_line(args.threads, report))
        print(f"# lengstrom's wave (deeplearn.js), one {args.threads}-thread process a side, "
              f"best of {args.repeats} calls, {args.rounds} rounds taking turns going first; "
              f"stylelab / side: stylelab's seconds over the side's, each round and the medians' "
              f"(< 1: stylelab is faster); GFLOP/s from the network's conv FLOPs "
              f"(TransformNet.conv_flops), % of the SGEMM peak above")
        skipped = [s for s in sides if s not in available]
        if skipped:
            print(f"# skipped: {', '.join(skipped)} (not installed here; see --help)")
        sys.path.insert(0, ROOT)
        from stylelab.files.foreign import read_network
        net, _ = read_network(args.folder)
        results = {}
        for size in args.sizes:
            rounds = {s: [] for s in available}
            for r in range(args.rounds):
                order = available[r % len(available):] + available[:r % len(available)]
                for s in order:
                    out = side(s, size, args, onnx_path)
                    rounds[s].append(out["seconds"])
            results[size] = rounds
            flops = sum(net.conv_flops(size, size).values())
            ours = rounds["stylelab"]
            base = statistics.median(ours)
            print(f"\n| {size} px ({flops / 1e9:.1f} GFLOP) | rounds (s) | median (s) | "
                  f"stylelab / side, each round | stylelab / side | GFLOP/s | % of peak |")
            print("| --- | --- | ---: | --- | ---: | ---: | ---: |")
            for s in available:
                med = statistics.median(rounds[s])
                each = ", ".join(f"{a / b:.2f}" for a, b in zip(ours, rounds[s]))
                rate = flops / med / 1e9
                print(f"| {s} | {', '.join(f'{t:.3f}' for t in rounds[s])} | {med:.3f} | "
                      f"{each} | {base / med:.2f} | {rate:.0f} | "
                      f"{100 * rate / report['sgemm_gflops']:.0f}% |")
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f)


if __name__ == "__main__":
    sys.path.insert(0, ROOT)
    main()
