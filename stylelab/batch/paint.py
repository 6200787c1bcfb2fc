"""One photo painted: the function every worker (or the serial loop) runs for each job.

A *painter* is what a command hands over: a small object that pickles
cheaply (paths and settings, never networks), with

``settings()``
    how the pictures are made, as the manifest records it (the networks'
    SHA-256s, size, alpha, ...);
``load()``
    read the networks -- once per process, however many photos follow;
``paint(job)``
    the picture for one job, ``(H, W, 3)`` in [0, 1].
"""

import os
import socket
import time

from ..files.convert import sha256_of
from ..files.images import save_image
from ..files.limits import one_line
from .manifest import file_stat


def failure_reason(exc):
    """One line for the manifest: the message, with the exception's type unless it is bad input."""
    text = one_line(exc, 500) or type(exc).__name__
    if isinstance(exc, (ValueError, OSError)):
        return text
    return f"{type(exc).__name__}: {text}"


def paint_one(painter, job):
    """Paint one job's photo and write its picture atomically; what the manifest needs of it.

    A photo that cannot be painted (unreadable, too large for the memory
    there is, a bad number) is recorded as failed with its reason; the run
    goes on with the others. Ctrl-C is not caught.

    Returns
    -------
    fields : dict
        ``status`` ("done" or "failed"), ``reason`` (failed), the photo's and
        the picture's SHA-256 and ``[size, mtime_ns]``, the paintings'
        SHA-256s, ``seconds``, ``worker`` (host:pid).
    """
    start = time.perf_counter()
    fields = {"worker": f"{socket.gethostname()}:{os.getpid()}"}
    try:
        fields["photo_stat"] = file_stat(job["photo"])
        fields["photo_sha256"] = sha256_of(job["photo"])
        if job.get("style"):
            fields["style_sha256"] = [sha256_of(s) for s in job["style"]]
        save_image(job["out"], painter.paint(job))
        fields.update(status="done", out_sha256=sha256_of(job["out"]),
                      out_stat=file_stat(job["out"]))
    except Exception as exc:            # this photo's failure, not the run's
        fields.update(status="failed", reason=failure_reason(exc))
    fields["seconds"] = round(time.perf_counter() - start, 3)
    return fields
