"""What several commands share: the error boundary, durations, the summary line, snapshot names."""

import argparse
import os
import re
import sys
import zipfile

from ..backend import BackendError
from ..batch import MANIFEST
from ..files.limits import one_line
from .argtypes import positive_int

# The output's longest side when --size is not given (a smaller photo keeps its own).
DEFAULT_SIZE = 512

# What bad input, a bad file or a full disk can raise: each becomes one line and
# exit 2. Anything else is a bug in stylelab and keeps its traceback.
INPUT_ERRORS = (ValueError, OSError, EOFError, MemoryError, RecursionError, OverflowError,
                zipfile.BadZipFile, BackendError)


def error_line(exc):
    """An exception's message on one line (HDF5's and others run over several)."""
    text = one_line(exc, 1000)
    if isinstance(exc, MemoryError):
        text = f"out of memory{': ' + text if text else ''} (try a smaller --size)"
    elif isinstance(exc, RecursionError):
        text = f"a file nests too deeply ({text})"
    return text or type(exc).__name__


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """``--help`` shows every default (and none where there is nothing to show)."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False or \
                action.default is argparse.SUPPRESS:
            return action.help or ""
        return super()._get_help_string(action)


def add_what_to_paint(p, styles="one or more style images", folders=False):
    """The argument group every painting command starts with: ``--content``, ``--style``, ``--out``.

    `folders`: the command also paints a folder of photos (docs/scale.md).
    """
    g = p.add_argument_group("what to paint")
    if not folders:
        g.add_argument("--content", required=True, help="the photograph")
        g.add_argument("--style", required=True, nargs="+", help=styles)
        g.add_argument("--out", required=True, help="the output picture (.png or .jpg)")
        return
    g.add_argument("--content", required=True, help="the photograph, or a folder of them "
                   "(searched recursively)")
    g.add_argument("--style", required=True, nargs="+", help=f"{styles}, or one folder of "
                   f"paintings to draw one per photo from (with --seed)")
    g.add_argument("--out", required=True, help="the output picture (.png or .jpg); for a "
                   "folder of photos, a folder (sub-folders kept, and manifest.jsonl)")


def status(quiet, text):
    """A line on stderr saying what is being prepared, before a command's first step."""
    if not quiet:
        print(text, file=sys.stderr, flush=True)


def duration(seconds):
    """``"12.3s"`` or ``"4m 05s"``, for the summary lines."""
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}m {s:02d}s" if m else f"{seconds:.1f}s"


def report(summary, interrupted, written):
    """Print a run's summary line; after Ctrl-C on stderr, saying what was `written`, and exit 130."""
    if interrupted:
        print(f"stylelab: interrupted; wrote {written}. {summary}", file=sys.stderr)
        raise SystemExit(130)
    print(summary)


def is_snapshot_of(path, out):
    """Whether `path` has the name of one of :func:`snapshot_path`'s snapshots of `out`."""
    stem, ext = os.path.splitext(out)
    return re.fullmatch(re.escape(stem) + r"_\d{4,}" + re.escape(ext), path) is not None


def snapshot_path(out, iteration):
    """``out.png`` at iteration 12 -> ``out_0012.png``."""
    stem, ext = os.path.splitext(out)
    return f"{stem}_{iteration:04d}{ext}"


def note_random_weights(source, what):
    """Say on stderr that a picture came from random weights, when `source` (a file's record) says so.

    `source` is a VGG file's ``source`` or a model's ``loss_network``; every
    picture made from random weights says so, whichever way they came in.
    """
    if source and "random weights" in str(source):
        print(f"stylelab: note: {what} had random weights ({source}); this picture shows the "
              f"machinery, not a style", file=sys.stderr)


def add_batch_arguments(p):
    """``--workers`` and ``--scheduler``: a folder of photos on a Dask cluster (docs/scale.md)."""
    g = p.add_argument_group("a folder of photos (docs/scale.md)")
    where = g.add_mutually_exclusive_group()
    where.add_argument("--workers", type=positive_int, metavar="N",
                       help="paint on a local Dask cluster of N worker processes (pip install "
                       "'stylelab[dask]')")
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="paint on a running Dask cluster, e.g. tcp://10.0.0.5:8786 (every "
                       "worker must see the same paths)")


def check_single(args, what):
    """Refuse --workers or --scheduler for one picture: they share out a folder's photos."""
    if getattr(args, "workers", None) or getattr(args, "scheduler", None):
        raise ValueError(f"--workers and --scheduler share out the photos of a folder; {what} "
                         f"is one picture")


def finish_batch(result, out, method):
    """Print a folder run's summary; raise (exit 2) if any photo failed, naming the first.

    Interrupted: say what was kept and how to finish, and exit 130.
    """
    summary = (f"{out}: {result.painted} picture(s) painted by {method}, {result.skipped} done "
               f"before, {len(result.failed)} failed, of {result.total} (each recorded in "
               f"{os.path.join(out, MANIFEST)})")
    if result.interrupted:
        print(f"stylelab: interrupted; {summary}; the same command paints the rest",
              file=sys.stderr)
        raise SystemExit(130)
    print(summary)
    if result.failed:
        photo, reason = result.failed[0]
        first = reason if photo in reason else f"{photo}: {reason}"
        raise ValueError(f"{len(result.failed)} of {result.total} photos failed, each with its "
                         f"reason in {os.path.join(out, MANIFEST)}; the first: {first}")
