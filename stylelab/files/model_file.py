"""Trained transformation networks (and training checkpoints) as one HDF5 file.

Layout::

    /                      attrs: format = "stylelab-transform-net", version = 1,
                                  arch, in_channels (3 when absent) and the network's
                                  options (stylelab.nets.transform_options; an absent
                                  one takes its default: files older than it),
                                  task ("style", "super-resolution" or "decoder"),
                                  and what it was trained with (style image name and
                                  SHA-256, loss weights and layers, steps, ...)
    /params/<name>         one dataset per parameter, e.g. "conv1.w" (32, 9, 9, 3)
    /train                 checkpoints only: attrs step, cursor, adam_t, ...
    /train/adam_m/<name>   Adam's moments, same names and shapes as /params
    /train/adam_v/<name>

The file holds arrays and plain attributes only: reading one executes
nothing from it. Every shape is checked against the architecture.
"""

import h5py
import numpy as np

from ..backend import asarray, to_numpy
from ..nets.transform import TransformNet
from ..nets.transform_options import DEFAULTS
from .atomic import write_atomically

FORMAT = "stylelab-transform-net"
VERSION = 1
# The command that uses each task's networks, for the error that names it.
TASK_COMMANDS = {"style": "stylelab stylize", "super-resolution": "stylelab upscale",
                 "decoder": "stylelab wct --decoders"}


class ModelFileError(ValueError):
    """The file is not a usable stylelab model."""


def _attr(value):
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray):
        return [_attr(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _write_arrays(group, arrays):
    for name, a in arrays.items():
        group.create_dataset(name, data=to_numpy(a))


def save_model(path, net, meta, train=None):
    """Write `net` with its metadata (and optionally a training state), atomically.

    Parameters
    ----------
    path : str
    net : TransformNet
    meta : dict of str -> str, number or list of str
        What the model was trained with.
    train : dict, optional
        ``{"attrs": {...}, "adam_m": {...}, "adam_v": {...}}`` for a checkpoint.
    """
    def write(tmp):
        with h5py.File(tmp, "w") as f:
            f.attrs.update({"format": FORMAT, "version": VERSION, **net.spec})
            f.attrs.update({k: v for k, v in meta.items() if v is not None})
            _write_arrays(f.create_group("params"), net.params)
            if train is not None:
                g = f.create_group("train")
                g.attrs.update(train["attrs"])
                _write_arrays(g.create_group("adam_m"), train["adam_m"])
                _write_arrays(g.create_group("adam_v"), train["adam_v"])
    write_atomically(path, write)


def _read_arrays(group, names, path, what, dtype):
    missing = [n for n in names if n not in group]
    if missing:
        raise ModelFileError(f"{path}: {what} lacks {missing[0]!r}")
    return {n: asarray(np.asarray(group[n][()], dtype=dtype)) for n in names}


def load_model(path, dtype=np.float32, training=False):
    """Read a model (or checkpoint) file.

    Parameters
    ----------
    path : str
    dtype : float dtype
        The dtype of the returned network.
    training : bool
        Also return the training state (a checkpoint is required then).

    Returns
    -------
    net : TransformNet
    meta : dict
        The file's attributes.
    train : dict, only if `training`
    """
    try:
        f = h5py.File(path, "r")
    except FileNotFoundError:
        raise ModelFileError(f"no such model file: {path}") from None
    except OSError:
        raise ModelFileError(f"{path} is not an HDF5 file (a stylelab model is one; make "
                             f"one with `stylelab train`)") from None
    with f:
        meta = {k: _attr(v) for k, v in f.attrs.items()}
        if meta.get("format") != FORMAT:
            raise ModelFileError(f"{path} is not a stylelab model (no format = "
                                 f"{FORMAT!r} attribute; a VGG weight file goes to --weights)")
        if meta.get("version") != VERSION:
            raise ModelFileError(f"{path}: model format version {meta.get('version')} is "
                                 f"not supported (this stylelab reads version {VERSION})")
        if "params" not in f:
            raise ModelFileError(f"{path}: no /params group")
        names = list(f["params"])
        try:
            params = _read_arrays(f["params"], names, path, "/params", dtype)
            # Options the file does not name take their defaults (files older than them).
            options = {k: meta[k] for k in DEFAULTS if k in meta}
            net = TransformNet(meta.get("arch"), params=params,
                               in_channels=meta.get("in_channels", 3), **options)
        except ModelFileError:
            raise
        except (ValueError, TypeError) as exc:
            raise ModelFileError(f"{path}: {exc}") from None
        if not training:
            return net, meta
        if "train" not in f:
            raise ModelFileError(f"{path} holds a finished model, not a checkpoint: "
                                 f"it cannot be resumed")
        g = f["train"]
        train = {"attrs": {k: _attr(v) for k, v in g.attrs.items()}}
        for key in ("adam_m", "adam_v"):
            if key not in g:
                raise ModelFileError(f"{path}: checkpoint lacks /train/{key}")
            train[key] = _read_arrays(g[key], list(net.params), path, f"/train/{key}", dtype)
    return net, meta, train


def load_task_model(path, task, dtype=np.float32):
    """A model file's network and metadata, refused (naming the right command) if not `task`'s.

    Parameters
    ----------
    path : str
    task : {"style", "super-resolution", "decoder"}
    dtype : float dtype

    Returns
    -------
    net : TransformNet
    meta : dict
    """
    net, meta = load_model(path, dtype=np.dtype(dtype))
    if meta.get("task") != task:
        raise ModelFileError(f"{path} is a {meta.get('task')} network; use it with "
                             f"`{TASK_COMMANDS.get(meta.get('task'), 'its command')}`")
    return net, meta
