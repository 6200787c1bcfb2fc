"""Trained transformation networks (and training checkpoints) as one HDF5 file.

Layout::

    /                      attrs: format = "stylelab-transform-net", version = 1,
                                  arch, in_channels (3 when absent) and the network's
                                  options (stylelab.nets.transform and its layout,
                                  stylelab.files.layouts; an absent
                                  one takes its default: files older than it),
                                  task ("style", "super-resolution", "decoder"
                                  or "adain"),
                                  and what it was trained with (style image name and
                                  SHA-256, loss weights and layers, steps, ...)
    /params/<name>         one dataset per parameter, e.g. "conv1.w" (32, 9, 9, 3)
    /train                 checkpoints only: attrs step, cursor, adam_t, ...
    /train/adam_m/<name>   Adam's moments, same names and shapes as /params
    /train/adam_v/<name>

The file holds arrays and plain attributes only: reading one executes
nothing from it. Every shape is checked against the architecture.
"""

import os

import h5py
import numpy as np

from ..backend import asarray, to_numpy
from .layouts import all_option_names, transform_net, transform_param_shapes
from .atomic import check_space, write_atomically
from .hdf5 import open_hdf5
from .limits import check_finite, untrusted_reader

FORMAT = "stylelab-transform-net"
VERSION = 1
# The command that uses each task's networks, for the error that names it.
TASK_COMMANDS = {"style": "stylelab stylize", "super-resolution": "stylelab upscale",
                 "decoder": "stylelab wct --decoders", "adain": "stylelab adain --decoder"}


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
    check_finite(net.params, f"the network to write to {path}")
    if train is not None:
        check_finite(train["adam_m"], f"the optimiser state to write to {path}")
        check_finite(train["adam_v"], f"the optimiser state to write to {path}")
    arrays = [net.params] + ([train["adam_m"], train["adam_v"]] if train is not None else [])
    check_space(path, sum(int(a.nbytes) for group in arrays for a in group.values()))

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


def _read_arrays(group, shapes, path, what, dtype, network):
    """The datasets of `group` named by `shapes`, each shape checked before it is read."""
    for n, shape in shapes.items():
        ds = group.get(n)
        if not isinstance(ds, h5py.Dataset) or ds.shape != tuple(shape) or ds.dtype.kind != "f":
            have = ("missing" if ds is None else "not a dataset" if not isinstance(ds, h5py.Dataset)
                    else f"{ds.dtype} of shape {ds.shape}")
            raise ModelFileError(f"{path}: {what}/{n} should be floats of shape {tuple(shape)} "
                                 f"for {network}, but is {have}")
    extra = sorted(set(group) - set(shapes))
    if extra:
        raise ModelFileError(f"{path}: {what}/{extra[0]} is not a parameter of {network}")
    arrays = {n: np.asarray(group[n][()], dtype=dtype) for n in shapes}
    check_finite(arrays, f"{path}: {what}")
    return {n: asarray(a) for n, a in arrays.items()}


def _train_attrs(attrs, path):
    """A checkpoint's step, cursor and Adam settings, each checked to be a sound number."""
    wanted = {"step": int, "cursor": int, "adam_t": int, "adam_lr": float, "adam_beta1": float,
              "adam_beta2": float, "adam_eps": float}
    for key, kind in wanted.items():
        value = attrs.get(key)
        if isinstance(value, np.generic):
            value = value.item()
            attrs[key] = value
        sound = isinstance(value, (int, float)) and not isinstance(value, bool) and \
            np.isfinite(value) and value >= 0 and (kind is float or float(value).is_integer())
        if kind is int:
            sound = sound and value < 1 << 53        # a count, exact as a float too
        if key in ("adam_beta1", "adam_beta2"):
            sound = sound and value < 1
        if key in ("adam_lr", "adam_eps"):
            sound = sound and value > 0
        if not sound:
            raise ModelFileError(f"{path}: the checkpoint's {key} is {value!r}")
    bad = attrs.get("unreadable", "")
    names = [bad] if isinstance(bad, (str, bytes)) else bad
    if not isinstance(names, (list, tuple, np.ndarray)) or \
            not all(isinstance(n, (str, bytes)) for n in names):
        raise ModelFileError(f"{path}: the checkpoint's unreadable is {bad!r:.60}, not a list "
                             f"of file names")
    return attrs


@untrusted_reader("stylelab model file")
def load_model(path, dtype=np.float32, training=False):
    """Read a model (or checkpoint) file.

    The file is untrusted (:func:`stylelab.files.hdf5.open_hdf5`): every
    parameter's shape is checked against the architecture before it is read,
    and NaN or infinite parameters and optimiser moments are refused.

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
    if not os.path.exists(path):
        raise ModelFileError(f"no such model file: {path}")
    with open_hdf5(path, "an HDF5 file (a stylelab model is one; make one with `stylelab "
                         "train`)") as f:
        meta = {k: _attr(v) for k, v in f.attrs.items()}
        if meta.get("format") != FORMAT:
            raise ModelFileError(f"{path} is not a stylelab model (no format = "
                                 f"{FORMAT!r} attribute; a VGG weight file goes to --weights)")
        if meta.get("version") != VERSION:
            raise ModelFileError(f"{path}: model format version {meta.get('version')} is "
                                 f"not supported (this stylelab reads version {VERSION})")
        if not isinstance(f.get("params"), h5py.Group):
            raise ModelFileError(f"{path}: no /params group")
        try:
            # Options the file does not name take their defaults (files older than them).
            options = {k: meta[k] for k in all_option_names() if k in meta}
            in_channels = meta.get("in_channels", 3)
            shapes = transform_param_shapes(meta.get("arch"), in_channels, **options)
            network = f"{meta.get('arch')} ({options.get('upsample', 'nearest')} upsampling)"
            params = _read_arrays(f["params"], shapes, path, "/params", dtype, network)
            net = transform_net(meta.get("arch"), params=params, in_channels=in_channels,
                                **options)
        except ModelFileError:
            raise
        except (ValueError, TypeError) as exc:
            raise ModelFileError(f"{path}: {exc}") from None
        if not training:
            return net, meta
        if not isinstance(f.get("train"), h5py.Group):
            raise ModelFileError(f"{path} holds a finished model, not a checkpoint: "
                                 f"it cannot be resumed")
        g = f["train"]
        train = {"attrs": _train_attrs({k: _attr(v) for k, v in g.attrs.items()}, path)}
        for key in ("adam_m", "adam_v"):
            if not isinstance(g.get(key), h5py.Group):
                raise ModelFileError(f"{path}: checkpoint lacks /train/{key}")
            train[key] = _read_arrays(g[key], shapes, path, f"/train/{key}", dtype, network)
    return net, meta, train


def load_task_model(path, task, dtype=np.float32):
    """A model file's network and metadata, refused (naming the right command) if not `task`'s.

    Parameters
    ----------
    path : str
    task : {"style", "super-resolution", "decoder", "adain"}
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
