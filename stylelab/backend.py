"""The one array-module switch: NumPy on the CPU, CuPy on an NVIDIA GPU.

Two rules keep the rest of the library free of hidden state:

* :func:`use` (or the environment variable ``STYLELAB_BACKEND``) decides only
  where *new* arrays live -- weights when they are loaded, images when they are
  read, noise when it is drawn. It is the single piece of global state.
* Every numeric function takes its array module from its inputs with
  :func:`get_array_module`, so a layer called with CuPy arrays runs on the GPU
  and the same layer called with NumPy arrays runs on the CPU, whatever
  :func:`use` said.

Moving to the host, for SciPy or Pillow, is always explicit: :func:`to_numpy`.
CuPy is imported only when it is chosen or when a CuPy array is met.
"""

import os
import sys

import numpy as np

__all__ = ["BackendError", "use", "backend_name", "array_module",
           "get_array_module", "to_numpy", "asarray"]

_CHOICES = ("numpy", "cupy")
_ENV = "STYLELAB_BACKEND"

# The one global: the name of the backend new arrays are made on, or None
# until it is first needed (then STYLELAB_BACKEND, else "numpy").
_current = None


class BackendError(RuntimeError):
    """A backend was asked for that this machine cannot give."""


def _load_cupy():
    """Import CuPy and make sure a GPU answers; one clear error otherwise."""
    try:
        import cupy
    except ImportError as exc:
        raise BackendError(
            "backend 'cupy' needs CuPy: install it with "
            "`pip install 'stylelab[gpu]'` (or the cupy-cudaXXx wheel for your "
            f"CUDA version); import failed: {exc}") from None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDA driver missing or broken
        raise BackendError(f"backend 'cupy' needs a CUDA GPU, but CUDA "
                           f"reports: {exc}") from None
    if count < 1:
        raise BackendError("backend 'cupy' needs a CUDA GPU, and none was found")
    return cupy


def use(name):
    """Choose where new arrays, weights and images live.

    Parameters
    ----------
    name : {"numpy", "cupy"}
        ``"numpy"`` for the CPU, ``"cupy"`` for an NVIDIA GPU.

    Returns
    -------
    module
        The array module now in use (``numpy`` or ``cupy``).

    Raises
    ------
    ValueError
        If `name` is not one of the two choices.
    BackendError
        If ``"cupy"`` is chosen and CuPy or a GPU is missing.
    """
    global _current
    if name not in _CHOICES:
        raise ValueError(f"unknown backend {name!r}: choose one of "
                         f"{', '.join(map(repr, _CHOICES))}")
    module = _load_cupy() if name == "cupy" else np
    _current = name
    return module


def backend_name():
    """The name of the backend in use: ``"numpy"`` or ``"cupy"``."""
    if _current is None:
        use(os.environ.get(_ENV, "numpy").strip().lower() or "numpy")
    return _current


def array_module():
    """The module new arrays are made with: ``numpy`` or ``cupy``."""
    return np if backend_name() == "numpy" else _load_cupy()


def _is_cupy(x):
    # Look at the type's module rather than importing CuPy: NumPy users never
    # pay for (or need) a CuPy install.
    return type(x).__module__.split(".")[0] == "cupy"


def get_array_module(*arrays):
    """The array module of the inputs: ``cupy`` if any is a CuPy array.

    Numeric functions call this on their inputs instead of consulting
    :func:`use`, so they run wherever their data already is.
    """
    if any(_is_cupy(a) for a in arrays):
        return sys.modules["cupy"]
    return np


def to_numpy(x):
    """Copy `x` to the host as a NumPy array (a no-op for NumPy input)."""
    if _is_cupy(x):
        return x.get()
    return np.asarray(x)


def asarray(x, dtype=None):
    """Put `x` on the current backend (see :func:`use`), optionally as `dtype`."""
    xp = array_module()
    if xp is not np and not _is_cupy(x):
        x = np.asarray(x)
    return xp.asarray(x, dtype=dtype)
