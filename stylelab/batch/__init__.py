"""A folder of photos painted into a folder of pictures: on this machine, or on a Dask cluster.

Every command that paints photos (``stylize``, ``adain``, ``wct``,
``upscale``) hands a folder to :func:`run_batch` with a *painter*: a small,
picklable object that knows the command's settings, loads its networks once
(:meth:`load`) and paints one photo (:meth:`paint`). The run is the same
whoever executes it::

    jobs = photo_jobs(inputs, out)              # photo -> output, sub-folders kept
    for job in jobs not already in the manifest:
        record = paint_one(painter, job)        # read, paint, write atomically, hash
        append record to OUT/manifest.jsonl     # one JSON line per picture

Serially the loop runs here; with ``--workers N`` or ``--scheduler ADDRESS``
:mod:`stylelab.batch.cluster` hands ``paint_one`` to Dask's workers, each of
which loads the networks once (a Dask worker plugin) and returns only the
small record. The manifest is written by this process alone, as records
arrive, so an interrupted run is finished by the same command: what the
manifest says is done and still present is skipped.
"""

from .jobs import assign_styles, check_batch_outputs, photo_jobs
from .manifest import MANIFEST, read_manifest
from .paint import paint_one
from .run import BatchResult, run_batch

__all__ = ["photo_jobs", "assign_styles", "check_batch_outputs", "MANIFEST", "read_manifest",
           "paint_one", "run_batch", "BatchResult"]
