"""The same jobs on a Dask cluster: a local one (``--workers N``) or a running one (``--scheduler``).

Dask (``dask.distributed``) maps :func:`stylelab.batch.paint_one` over the
jobs. Each worker holds the painter in a worker plugin and loads its
networks on its first photo, once; it reads photos from a path every worker
sees, writes each picture itself (atomically) and sends back only the small
record, which this process writes to the manifest. A worker that dies
mid-photo (killed, its machine lost) leaves no picture half-written, and
the scheduler gives its photo to another worker.

Dask is imported only here, only when asked for.
"""

import contextlib
import importlib.util
import itertools
import logging
import signal
import sys
import threading
import time

from ..backend import backend_name, use
from ..files.atomic import signals_held
from .paint import paint_one

try:
    from distributed import WorkerPlugin
except ImportError:             # Dask is optional: _dask() says how to install it
    WorkerPlugin = object

PLUGIN = "stylelab-painter"
POLL = 0.05     # seconds between looks for finished photos (a photo takes tenths or more)


def _dask():
    try:
        import distributed
    except ImportError:
        raise ValueError("--workers and --scheduler run on Dask, which is not installed: "
                         "pip install 'stylelab[dask]'") from None
    return distributed


class PainterPlugin(WorkerPlugin):
    """Holds the painter on a worker; its networks are loaded on the first photo, once."""

    name = PLUGIN

    def __init__(self, painter, backend):
        self.painter, self.backend = painter, backend
        self.loaded = False

    def setup(self, worker):
        self.lock = threading.Lock()       # a worker with several threads loads once
        if backend_name() != self.backend:
            use(self.backend)              # the command's --backend, on this worker too

    def ready(self):
        with self.lock:
            if not self.loaded:
                self.painter.load()
                self.loaded = True
        return self.painter


def paint_on_worker(job):
    """The task each worker runs: :func:`paint_one` with the worker's own loaded painter."""
    from distributed import get_worker
    return paint_one(get_worker().plugins[PLUGIN].ready(), job)


def _client(distributed, workers, scheduler):
    """A client of a new local cluster of `workers` processes, or of the one at `scheduler`."""
    import dask
    if scheduler:
        try:
            return distributed.Client(scheduler, timeout="20s"), None
        except (OSError, TimeoutError) as exc:
            raise ValueError(f"--scheduler {scheduler}: no Dask scheduler answers there "
                             f"({exc})") from None
    # Ctrl-C in a terminal reaches every process of its group, the workers too, each of
    # which would print a traceback; started with SIGINT ignored, they leave stopping to
    # this process, which closes them.
    # Dask starts its workers with MALLOC_TRIM_THRESHOLD_=65536, which also turns off
    # glibc's adaptive mmap threshold: every large array is then a fresh mmap and its page
    # faults. Measured: the wave network at 256 px takes 0.285 s a picture so, 0.244 s without.
    no_trim = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}
    with _interrupts_ignored_by_children(), dask.config.set(no_trim):
        cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1,
                                           processes=True, silence_logs=logging.ERROR)
    return distributed.Client(cluster), cluster


@contextlib.contextmanager
def _interrupts_ignored_by_children():
    """Processes started in the block ignore SIGINT (an ignored signal stays ignored in a child)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def paint_on_dask(painter, jobs, record, workers=None, scheduler=None, quiet=False):
    """Paint `jobs` on Dask's workers, calling ``record(job, fields)`` here as each one ends.

    At most a few jobs per worker thread are submitted at a time, so a
    million photos never sit in the scheduler at once, and Ctrl-C stops the
    run with little work lost (the pictures written so far are recorded).
    Ctrl-C (or SIGTERM) is held while Dask works (:func:`signals_held`):
    raised inside one of Dask's waits, it races Dask's own clean-up, which
    then logs a traceback. The loop looks for finished futures every
    :data:`POLL` seconds and stops at the first one caught; the cluster
    closes, and the interruption goes on from there.
    """
    distributed = _dask()
    with signals_held() as caught:
        client, cluster = _client(distributed, workers, scheduler)
        try:
            # Dask serves its dashboard only with Bokeh installed (else a page asking for it).
            if (not quiet and importlib.util.find_spec("bokeh")
                    and "dashboard" in client.scheduler_info().get("services", {})):
                print(f"stylelab: Dask dashboard at {client.dashboard_link}", file=sys.stderr)
            client.register_plugin(PainterPlugin(painter, backend_name()), name=PLUGIN)
            threads = sum(client.nthreads().values()) or 1
            pending = iter(jobs)
            running = {}

            def submit(job):
                running[client.submit(paint_on_worker, job, pure=False)] = job

            for job in itertools.islice(pending, 4 * threads):
                submit(job)
            while running and not caught:
                finished = [future for future in running if future.done()]
                if not finished:
                    time.sleep(POLL)
                for future in finished:
                    job = running.pop(future)
                    try:
                        fields = future.result()
                    except distributed.KilledWorker as exc:
                        fields = {"status": "failed", "reason": f"it killed every worker that "
                                  f"tried it (out of memory?): {exc}"}
                    record(job, fields)
                    for job in itertools.islice(pending, 1):
                        submit(job)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
