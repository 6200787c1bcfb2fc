"""What every benchmark here shares: thread settings, timing, peak memory.

Each benchmark runs stylelab and PyTorch in processes of their own with the
same thread count (set through the BLAS/OpenMP variables before they start).
"""

import os
import resource
import time

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def thread_env(threads):
    """The environment for a worker process limited to `threads` threads."""
    return {**os.environ, **{v: str(threads) for v in THREAD_VARS}}


def peak_rss_gb():
    """This process's peak resident memory in GB (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2


def best_of(fn, repeats):
    """The fastest of `repeats` timed calls after one warm-up, and the last call's result."""
    out = fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out
