"""What stylelab accepts from a file, checked in one place: finite numbers, bounded sizes.

* :func:`check_finite`: NaN and infinity are refused wherever numbers enter
  (weights, model parameters, optimiser state, pixels) and wherever they
  leave (pictures, models, checkpoints) -- a NaN weight would otherwise
  paint a black picture and exit 0.
* :data:`MAX_PIXELS`: the largest image decoded (a 165 KB PNG can declare
  12000 x 12000 pixels, 5 GB once in floats); an image that will be resized
  anyway is shrunk while it is decoded (:mod:`stylelab.files.images`).
* :func:`check_declared`: a size a file declares, against what the file's
  own size can hold, before anything is allocated.
* :func:`untrusted_reader`: whatever a malformed file makes a reader raise
  (a ``KeyError`` from a missing field, a ``TypeError`` from a field of the
  wrong kind, a ``RecursionError`` from absurd nesting...) leaves it as one
  line of ``ValueError`` naming the file.
"""

import functools
import os
import pickle
import struct
import zipfile
import zlib

import numpy as np

from ..backend import get_array_module

MAX_PIXELS = 64_000_000          # 8000 x 8000: larger than any picture a style run makes


def check_finite(values, what):
    """Refuse `values` (an array, or a mapping name -> array) holding NaN or infinity, naming `what`."""
    items = values.items() if isinstance(values, dict) else [(None, values)]
    for name, a in items:
        xp = get_array_module(a)
        if not bool(xp.isfinite(a).all()):
            where = f"{what}: {name}" if name is not None else what
            raise ValueError(f"{where} holds NaN or infinite values; refused")


def check_declared(declared, available, what):
    """Refuse a `declared` byte count larger than the `available` bytes that could back it."""
    if declared < 0 or declared > available:
        raise ValueError(f"{what} declares {declared} bytes, more than the {available} the "
                         f"file holds; refused")


def materialise_budget(file_size):
    """The bytes of arrays a file of `file_size` bytes may be read into, all together.

    Twice what it holds, and 16 MiB for small files: a checkpoint's tensors
    are its bytes, once; aliases and repeats of one storage are counted once
    per copy made, so a small file cannot become a large amount of memory.
    """
    return 2 * int(file_size) + (16 << 20)


def available_memory():
    """Bytes this process can still get, or None where the system cannot say.

    The machine's available memory (Linux's MemAvailable), or less where the
    process runs under an address-space limit (``ulimit -v``), less what it
    already maps.
    """
    free = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    free = int(line.split()[1]) * 1024
        import resource
        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
        if soft != resource.RLIM_INFINITY:
            with open("/proc/self/status") as f:
                mapped = next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmSize:"))
            left = max(soft - mapped, 0)
            free = left if free is None else min(free, left)
    except (OSError, ValueError, IndexError, StopIteration, ImportError):
        pass
    return free


def check_memory(needed, what, advice):
    """Refuse, before any work, a run that needs more memory than is available."""
    free = available_memory()
    if free is not None and needed > free:
        raise ValueError(f"{what} needs about {needed / 2**30:.1f} GiB, and {free / 2**30:.1f} "
                         f"GiB are available; {advice}")


def count(shape):
    """The number of elements of `shape`, as a Python int (no overflow)."""
    return int(np.prod([int(d) for d in shape], dtype=object)) if len(shape) else 1


# What parsing a file of the right name but the wrong contents can raise.
MALFORMED = (KeyError, TypeError, AttributeError, IndexError, LookupError, struct.error,
             EOFError, zipfile.BadZipFile, zlib.error, pickle.UnpicklingError, UnicodeError,
             NotImplementedError, OverflowError, RecursionError, MemoryError)


def one_line(text, limit=300):
    """`text` with its whitespace (HDF5's messages run over lines) folded, and cut at `limit`."""
    return " ".join(str(text).split())[:limit]


def untrusted_reader(what):
    """Decorate a reader ``f(path, ...)``: it raises only one-line ``ValueError``s naming `path`."""
    def decorate(read):
        @functools.wraps(read)
        def wrapper(path, *args, **kwargs):
            try:
                return read(path, *args, **kwargs)
            except ValueError as exc:
                text, name = str(exc), os.fspath(path) if isinstance(path, (str, os.PathLike)) \
                    else str(path)
                if name in text or os.path.basename(name) in text:
                    if "\n" not in text:
                        raise
                    raise ValueError(one_line(exc, 1000)) from None
                # NumPy's and Python's own ("cannot convert float NaN to integer", "array is
                # too big") know no file: name it.
                raise ValueError(one_line(f"{name}: not a well-formed {what} ({text})")) from None
            except MALFORMED as exc:
                raise ValueError(one_line(f"{path}: not a well-formed {what} "
                                          f"({type(exc).__name__}: {exc})")) from None
        return wrapper
    return decorate
