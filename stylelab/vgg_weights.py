"""VGG-16/19's layer names and shapes, and stylelab's HDF5 weight layout (``docs/weights.md``).

The architecture, as the seed draws it: blocks of 3x3 convolutions with
ReLUs, each block closed by a 2x2 pooling that halves the image::

    block:    1         2          3               4               5
    VGG-16:   64 x2     128 x2     256 x3          512 x3          512 x3
    VGG-19:   64 x2     128 x2     256 x4          512 x4          512 x4

A weight file holds the filters as (F, 3, 3, C) and records the input
convention the weights were trained with. Reading one never runs code from it:
HDF5 datasets and attributes are data. :mod:`stylelab.vgg` builds the network.
"""

import os

import h5py
import numpy as np

from .atomic import write_atomically

BLOCKS = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}
WIDTHS = (64, 128, 256, 512, 512)
CONVENTION_KEYS = ("channel_order", "input_scale", "mean", "std")


def layer_names(arch):
    """Every layer of `arch` in order: conv1_1, relu1_1, ..., pool5."""
    if arch not in BLOCKS:
        raise ValueError(f"unknown architecture {arch!r}: expected 'vgg16' or 'vgg19'")
    names = []
    for block, n_convs in enumerate(BLOCKS[arch], start=1):
        for i in range(1, n_convs + 1):
            names += [f"conv{block}_{i}", f"relu{block}_{i}"]
        names.append(f"pool{block}")
    return names


def conv_shapes(arch):
    """``{conv name: (F, 3, 3, C)}`` for every conv layer of `arch`, in order."""
    shapes, channels = {}, 3
    for name in layer_names(arch):
        if name.startswith("conv"):
            width = WIDTHS[int(name[4]) - 1]
            shapes[name] = (width, 3, 3, channels)
            channels = width
    return shapes


def convs_upto(arch, last):
    """The conv layers a network needs to compute layer `last`."""
    names = layer_names(arch)
    if last not in names:
        raise ValueError(f"{arch} has no layer {last!r}; its layers are "
                         f"{names[0]} ... {names[-1]}")
    return [n for n in names[:names.index(last) + 1] if n.startswith("conv")]


def save_vgg_h5(path, arch, weights, convention, source, half=False):
    """Write weights in stylelab's HDF5 layout, atomically.

    Parameters
    ----------
    path : str
    arch : {"vgg16", "vgg19"}
    weights : dict name -> (w, b)
        ``w`` of shape (F, 3, 3, C), ``b`` of shape (F,); a prefix of the
        conv layers of `arch` (conv1_1 first).
    convention : dict
        ``channel_order`` ("RGB" | "BGR"), ``input_scale`` (1.0 | 255.0),
        ``mean`` and ``std`` (3 floats each, in channel_order and
        input_scale units).
    source : str
        Where the weights came from (file name and its sha256).
    half : bool
        Store float16 instead of float32.
    """
    check_weights(arch, weights, what="weights")
    convention = normalise_convention(convention, where="save_vgg_h5")
    dtype = np.float16 if half else np.float32

    def write(tmp):
        with h5py.File(tmp, "w") as f:
            f.attrs["arch"] = arch
            f.attrs["channel_order"] = convention["channel_order"]
            f.attrs["input_scale"] = convention["input_scale"]
            f.attrs["mean"] = convention["mean"]
            f.attrs["std"] = convention["std"]
            f.attrs["source"] = source
            for name, (w, b) in weights.items():
                g = f.create_group(name)
                g.create_dataset("weight", data=np.asarray(w, dtype=dtype))
                g.create_dataset("bias", data=np.asarray(b, dtype=dtype))
    write_atomically(path, write)


def weights_source(path):
    """The ``source`` a weight file records (``"random weights (seed 0)"`` for test files)."""
    with h5py.File(path, "r") as f:
        return _attr_str(f.attrs.get("source", "unknown"))


def check_weights(arch, weights, what):
    """Refuse weights that are not a prefix of `arch`'s convs with its shapes."""
    expected = conv_shapes(arch)
    names = list(expected)
    given = list(weights)
    if not given:
        raise ValueError(f"{what}: no conv layers found")
    unknown = [n for n in given if n not in expected]
    if unknown:
        raise ValueError(f"{what}: {unknown[0]} is not a conv layer of {arch}")
    if given != names[:len(given)]:
        missing = next(n for n, g in zip(names, given + [None]) if n != g)
        raise ValueError(f"{what}: layer {missing} is missing (the layers must "
                         f"run from conv1_1 without gaps)")
    for name, (w, b) in weights.items():
        shape = expected[name]
        if tuple(w.shape) != shape or tuple(b.shape) != shape[:1]:
            raise ValueError(f"{what}: {name} has weight {tuple(w.shape)} and bias "
                             f"{tuple(b.shape)}, but {arch} needs {shape} and "
                             f"{shape[:1]}")


def normalise_convention(convention, where):
    """The input convention with float arrays for ``mean`` and ``std``, checked.

    Raises ValueError (naming `where`) unless ``channel_order`` is RGB or BGR,
    ``input_scale`` is positive, and ``mean`` and ``std`` hold 3 values each
    with ``std > 0``.
    """
    try:
        out = dict(channel_order=str(convention["channel_order"]),
                   input_scale=float(convention["input_scale"]),
                   mean=np.asarray(convention["mean"], dtype=np.float64).reshape(-1),
                   std=np.asarray(convention["std"], dtype=np.float64).reshape(-1))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{where}: invalid input convention ({exc})") from None
    if (out["channel_order"] not in ("RGB", "BGR") or out["mean"].shape != (3,)
            or out["std"].shape != (3,) or not np.all(out["std"] > 0)
            or not out["input_scale"] > 0):
        raise ValueError(f"{where}: invalid input convention {out}")
    return out


def _attr_str(value):
    return value.decode() if isinstance(value, bytes) else str(value)


def read_vgg_h5(path):
    """Read and check a weight file in stylelab's layout (data only; no code runs).

    Returns
    -------
    arch : str
    weights : dict name -> (w, b), NumPy arrays as stored
    convention : dict (see :func:`save_vgg_h5`)
    """
    path = os.fspath(path)
    try:
        f = h5py.File(path, "r")
    except FileNotFoundError:
        raise ValueError(f"no such weight file: {path}") from None
    except OSError as exc:
        raise ValueError(f"{path} is not an HDF5 weight file ({exc}); convert "
                         f"VGG weights with `stylelab weights convert`") from None
    with f:
        missing = [k for k in ("arch",) + CONVENTION_KEYS if k not in f.attrs]
        if missing:
            raise ValueError(f"{path}: not a stylelab VGG file (attribute "
                             f"{missing[0]!r} is missing); convert it with "
                             f"`stylelab weights convert`")
        arch = _attr_str(f.attrs["arch"])
        if arch not in BLOCKS:
            raise ValueError(f"{path}: unknown arch {arch!r}")
        convention = normalise_convention(
            {k: _attr_str(f.attrs[k]) if k == "channel_order" else f.attrs[k]
             for k in CONVENTION_KEYS}, where=path)
        weights = {}
        for name in conv_shapes(arch):
            if name not in f:
                break
            g = f[name]
            try:
                w, b = g["weight"], g["bias"]
            except (KeyError, TypeError):
                raise ValueError(f"{path}: {name} lacks its weight or bias") from None
            if w.dtype.kind != "f" or b.dtype.kind != "f":
                raise ValueError(f"{path}: {name} is not stored as floats")
            weights[name] = (w[()], b[()])
        check_weights(arch, weights, what=path)
    return arch, weights, convention


def save_random_vgg_h5(path, arch="vgg19", seed=0, upto=None):
    """Write a VGG file with random (He-initialised) weights, for tests and demos.

    Its ``source`` attribute says "random weights": nothing it computes is what a
    trained VGG would see. Uses torchvision's input convention.

    Parameters
    ----------
    path : str
    arch : {"vgg16", "vgg19"}
    seed : int
    upto : str, optional
        Keep only the layers needed up to this one.
    """
    rng = np.random.default_rng(seed)
    names = convs_upto(arch, upto) if upto else list(conv_shapes(arch))
    weights = {}
    for name in names:
        f, k, _, c = conv_shapes(arch)[name]
        w = rng.standard_normal((f, k, k, c)) * np.sqrt(2.0 / (k * k * c))
        weights[name] = (w.astype(np.float32), np.zeros(f, np.float32))
    convention = dict(channel_order="RGB", input_scale=1.0,
                      mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])
    save_vgg_h5(path, arch, weights, convention, source=f"random weights (seed {seed})")


def find_weights(arch="vgg19"):
    """Converted weights on this machine: ``$STYLELAB_WEIGHTS``, else the download cache.

    Returns None when there are none (see ``stylelab weights download``).
    """
    env = os.environ.get("STYLELAB_WEIGHTS")
    if env:
        return env
    from .download import cached_weights
    return cached_weights(arch)
