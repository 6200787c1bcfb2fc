"""What every benchmark here shares: thread settings, timing, peak memory, and what the machine was doing.

Each benchmark runs stylelab and PyTorch in processes of their own with the
same thread count (set through the BLAS/OpenMP variables before they start),
and prints :func:`machine_line` above its table: the BLAS libraries NumPy and
SciPy run, the kernel family each picked for this processor (threadpoolctl),
and the SGEMM peak measured in a process with the same threads. (On machines
where ``OPENBLAS_CORETYPE`` forces an older kernel family, the line says so:
unset it for a benchmark, ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE``.)
"""

import json
import os
import platform
import resource
import subprocess
import sys
import time

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def thread_env(threads):
    """The environment for a worker process limited to `threads` threads."""
    return {**os.environ, **{v: str(threads) for v in THREAD_VARS}}


def peak_rss_gb():
    """This process's peak resident memory in GB (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2


def best_of(fn, repeats, sync=None):
    """The fastest of `repeats` timed calls after one warm-up, and the last call's result.

    `sync` waits for a device's queued work (CuPy's or CUDA's synchronize):
    called before the clock starts and before it stops, so a GPU's
    asynchronous launches are not timed as instant.
    """
    sync = sync or (lambda: None)
    out = fn()
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        out = fn()
        sync()
        times.append(time.perf_counter() - start)
    return min(times), out


def stylelab_device(backend):
    """Select stylelab's `backend`; its array module and the synchronize its timers need."""
    import stylelab
    xp = stylelab.use(backend)
    sync = xp.cuda.Device().synchronize if backend == "cupy" else None
    return xp, sync


def torch_device(backend):
    """The PyTorch device that faces stylelab's `backend` (CUDA for CuPy), and its synchronize."""
    import torch
    if backend == "cupy":
        return torch.device("cuda"), torch.cuda.synchronize
    return torch.device("cpu"), None


def _machine_worker():
    """In a process with the benchmark's threads: the BLAS libraries loaded, and the SGEMM peak."""
    import numpy as np
    import scipy.linalg  # noqa: F401  (SciPy brings its own BLAS; stylelab's products run there)
    from threadpoolctl import threadpool_info
    # The library's folder names its owner: numpy.libs/, scipy.libs/ (the wheels' vendored copies).
    blas = [{"owner": os.path.basename(os.path.dirname(i["filepath"])).removesuffix(".libs"),
             "library": i.get("internal_api"), "version": i.get("version"),
             "kernels": i.get("architecture"), "threads": i.get("num_threads")}
            for i in threadpool_info() if i.get("user_api") == "blas"]
    a = np.random.default_rng(0).random((2048, 2048), dtype=np.float32)
    a @ a
    best = min(_timed(lambda: a @ a) for _ in range(3))
    return {"blas": blas, "sgemm_gflops": 2 * 2048 ** 3 / best / 1e9}


def _timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def machine(threads):
    """:func:`_machine_worker`'s report, from a process limited to `threads` threads."""
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--machine"],
                         capture_output=True, text=True, env=thread_env(threads), check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def machine_line(threads, report=None):
    """One line for a benchmark's header: processor, BLAS and kernel family, SGEMM peak."""
    report = report or machine(threads)
    libs = "; ".join(f"{b['owner']}: {b['library']} {b['version']} ({b['kernels']} kernels, "
                     f"{b['threads']} threads)" for b in report["blas"]) or "no BLAS found"
    forced = [v for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if v in os.environ]
    note = f"; forced by {', '.join(forced)}" if forced else ""
    return (f"# {time.strftime('%Y-%m-%d')}, {platform.machine()} {platform.node()}, "
            f"{os.cpu_count()} CPUs, {threads} threads; BLAS {libs}{note}; "
            f"SGEMM peak {report['sgemm_gflops']:.0f} GFLOP/s (NumPy, 2048^2)")


if __name__ == "__main__" and sys.argv[1:] == ["--machine"]:
    print(json.dumps(_machine_worker()))
