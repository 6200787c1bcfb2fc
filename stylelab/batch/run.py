"""Run a folder's jobs: each photo painted once, recorded in the manifest, here or on Dask.

The painter (see :mod:`stylelab.batch.paint`) is loaded here for a serial
run, or sent to Dask's workers (:mod:`stylelab.batch.cluster`); either way
this process alone writes the manifest, as each photo's record arrives.
"""

import dataclasses
import json
import os
import sys

from ..files.atomic import claimed, sweep_stale_temps
from .manifest import MANIFEST, PER_JOB, ManifestWriter, done_index, is_done, out_rel
from .paint import paint_one


@dataclasses.dataclass
class BatchResult:
    """What a folder run did: pictures in all, skipped as done before, painted, failed."""
    total: int
    skipped: int = 0
    painted: int = 0
    failed: list = dataclasses.field(default_factory=list)    # (photo, reason)
    interrupted: bool = False         # by Ctrl-C (or SIGTERM): the same command finishes it


def job_settings(settings, job):
    """The run's settings with this job's own painting and alpha (a seeded draw's)."""
    own = {k: job[k] for k in PER_JOB if k in job}
    return {**settings, **own}


def run_batch(painter, jobs, out, workers=None, scheduler=None, quiet=False):
    """Paint every job not already done, recording each picture in ``out/manifest.jsonl``.

    Parameters
    ----------
    painter : object
        ``settings()``, ``load()``, ``paint(job)`` (see the module's text).
    jobs : list of dict
        From :func:`stylelab.batch.photo_jobs` (outputs under `out`).
    out : str
        The output folder; it holds the manifest.
    workers : int, optional
        Start a local Dask cluster of this many worker processes.
    scheduler : str, optional
        The address of a running Dask scheduler (``tcp://host:port``).
    quiet : bool
        No progress bar.

    Returns
    -------
    BatchResult
        Ctrl-C ends the run early, with what was recorded so far
        (``interrupted``); nothing half-written is left.
    """
    # As the manifest will give them back (tuples become lists), to compare with its records.
    settings = json.loads(json.dumps(painter.settings()))
    path = os.path.join(out, MANIFEST)
    with claimed(path, hint="give this one another --out"):
        done = done_index(path, {k: v for k, v in settings.items() if k not in PER_JOB})
        todo = []
        for job in jobs:
            own = job_settings(settings, job)
            if not is_done(done.get(job["rel"]), job, own.get("style"), own.get("alpha"), out):
                todo.append(job)
        del done
        result = BatchResult(total=len(jobs), skipped=len(jobs) - len(todo))
        from tqdm import tqdm
        bar = tqdm(total=len(jobs), initial=result.skipped, disable=quiet, file=sys.stderr,
                   unit=" picture", dynamic_ncols=True, desc=settings["method"])

        def record(job, fields):
            """Called here for each result, in the order they come: the manifest's one writer."""
            rec = {"photo": job["rel"], "out": out_rel(job, out), **job_settings(settings, job),
                   **fields}
            writer.write(rec)
            if rec["status"] == "done":
                result.painted += 1
            else:
                result.failed.append((job["photo"], rec["reason"]))
            bar.update(1)

        try:
            with ManifestWriter(path) as writer:
                if (workers or scheduler) and todo:      # no cluster for nothing to do
                    from .cluster import paint_on_dask
                    paint_on_dask(painter, todo, record, workers, scheduler, quiet)
                else:
                    painter.load()
                    for job in todo:
                        record(job, paint_one(painter, job))
        except KeyboardInterrupt:
            result.interrupted = True
        finally:
            bar.close()
            # Nothing of this run writes any more: what a killed worker left goes now.
            for folder in sorted({os.path.dirname(j["out"]) for j in todo}):
                sweep_stale_temps(folder, seconds=0)
    return result
