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

Besides NumPy and CuPy, a test may register a device of its own with
:func:`register_device` (``tests/cupy_standin.py``: CuPy's behaviour on the
CPU, for machines without a GPU); it is chosen and recognised the same way.
"""

import os
import sys

import numpy as np

__all__ = ["BackendError", "use", "backend_name", "array_module",
           "get_array_module", "to_numpy", "asarray", "register_device"]

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


# Device backends: name -> (loader, the top-level package their array types live in).
_DEVICES = {"cupy": (_load_cupy, "cupy")}


def register_device(name, load, package):
    """Make `name` a backend: ``load()`` returns its array module, whose arrays' types live in `package`.

    For test instruments (``tests/cupy_standin.py``); stylelab itself knows
    NumPy and CuPy.
    """
    _DEVICES[name] = (load, package)


def _choices():
    return ("numpy", *_DEVICES)


def use(name):
    """Choose where new arrays, weights and images live.

    Parameters
    ----------
    name : {"numpy", "cupy"}
        ``"numpy"`` for the CPU, ``"cupy"`` for an NVIDIA GPU (or a device a
        test registered).

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
    if name not in _choices():
        raise ValueError(f"unknown backend {name!r}: choose one of "
                         f"{', '.join(map(repr, _choices()))}")
    module = np if name == "numpy" else _DEVICES[name][0]()
    _current = name
    return module


def backend_name():
    """The name of the backend in use: ``"numpy"`` or ``"cupy"``."""
    if _current is None:
        use(os.environ.get(_ENV, "numpy").strip().lower() or "numpy")
    return _current


def array_module():
    """The module new arrays are made with: ``numpy`` or ``cupy``."""
    name = backend_name()
    return np if name == "numpy" else _DEVICES[name][0]()


def _device_package(x):
    """The package of a device array's type (``"cupy"``), or None for anything else.

    It looks at the type's module rather than importing CuPy: NumPy users
    never pay for (or need) a CuPy install.
    """
    root = type(x).__module__.split(".")[0]
    return root if any(root == package for _, package in _DEVICES.values()) else None


def get_array_module(*arrays):
    """The array module of the inputs: ``cupy`` if any is a CuPy array.

    Numeric functions call this on their inputs instead of consulting
    :func:`use`, so they run wherever their data already is.
    """
    for a in arrays:
        package = _device_package(a)
        if package is not None:
            return sys.modules[package]
    return np


def to_numpy(x):
    """Copy `x` to the host as a NumPy array (a no-op for NumPy input)."""
    if _device_package(x) is not None:
        return x.get()
    return np.asarray(x)


def asarray(x, dtype=None):
    """Put `x` on the current backend (see :func:`use`), optionally as `dtype`."""
    xp = array_module()
    if xp is not np and _device_package(x) is None:
        x = np.asarray(x)
    return xp.asarray(x, dtype=dtype)
