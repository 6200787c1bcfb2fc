"""From a weight file to a network: where VGG weights are found, and :func:`load_vgg`.

Weights come from, in this order: a path given by the caller, the
environment variable ``STYLELAB_WEIGHTS`` (a file, or a folder holding
``vgg16.h5`` and ``vgg19.h5``), the download cache
(``$XDG_CACHE_HOME/stylelab/<arch>.h5``), or -- for the commands -- a
download on first use (:mod:`stylelab.files.download`). Every message about
a weight file says which of these it came from.

:func:`load_vgg` builds the network from a file in stylelab's layout
(:mod:`stylelab.files.vgg_h5`): the fast engine by default
(:class:`stylelab.nets.fast_vgg.FastVGG`), or the readable one it is tested
against (``engine="readable"``, :class:`stylelab.nets.vgg.VGG`).
"""

import os
import sys

import numpy as np

from ..nets.fast_vgg import FastVGG
from ..nets.vgg import VGG
from .download import cached_weights, download_vgg
from .convert import read_vgg_any
from .shared import VGG16_MRI, VGG16_MRI_ORIGIN, shared_file
from .vgg_h5 import read_vgg_file, weights_arch

ENGINES = {"fast": FastVGG, "readable": VGG}


def load_vgg(path, pooling="max", dtype=np.float32, engine="fast"):
    """Build VGG-16 or VGG-19 (from the file's ``arch``) on the current backend.

    Parameters
    ----------
    path : str
        A file in stylelab's HDF5 layout (see ``stylelab weights convert``);
        a released Torch7 ``.t7`` or ``.pth`` of the normalised VGG (Li et
        al.'s and Huang & Belongie's encoders) is read as it is.
    pooling : {"max", "avg"}
        Max-pooling as trained, or average pooling (Gatys et al.'s preference).
    dtype : float dtype
        The dtype of the weights, of the input it takes and of its outputs.
    engine : {"fast", "readable"}
        :class:`~stylelab.nets.fast_vgg.FastVGG` or :class:`~stylelab.nets.vgg.VGG`:
        the same numbers, the first computed faster.

    Returns
    -------
    VGG
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {tuple(ENGINES)}, got {engine!r}")
    f = read_vgg_file(path) if not _released_encoder(path) else read_vgg_any(os.fspath(path))
    return ENGINES[engine](f["arch"], f["weights"], f["convention"], pooling=pooling,
                           dtype=dtype, padding=f["padding"], preprocess=f["preprocess"],
                           family=f["family"])


def _released_encoder(path):
    """Whether `path` is a released encoder (.t7 or .pth), read without conversion."""
    return os.fspath(path).lower().endswith((".t7", ".pth"))


def locate_weights(arch="vgg19"):
    """Where this machine keeps converted `arch` weights, and how they were found.

    ``$STYLELAB_WEIGHTS`` may name a file (used for the network it holds)
    or a folder (``<folder>/<arch>.h5``, so one variable serves VGG-16 and
    VGG-19 alike); else the download cache.

    Returns
    -------
    path : str or None
        None when there are none (see ``stylelab weights download``).
    origin : str
        Where `path` came from, for messages (``"$STYLELAB_WEIGHTS"``,
        ``"the cache"``); what was looked at when `path` is None.
    """
    env = os.environ.get("STYLELAB_WEIGHTS")
    looked = []
    if env:
        if os.path.isdir(env):
            candidate = os.path.join(env, f"{arch}.h5")
            if os.path.isfile(candidate):
                return candidate, "the $STYLELAB_WEIGHTS folder"
            looked.append(f"$STYLELAB_WEIGHTS has no {arch}.h5")
        elif os.path.isfile(env):
            held = weights_arch(env)
            if held == arch:
                return env, "$STYLELAB_WEIGHTS"
            looked.append(f"$STYLELAB_WEIGHTS holds {held}")
        else:
            looked.append(f"$STYLELAB_WEIGHTS names nothing ({env})")
    cached = cached_weights(arch)
    if cached:
        return cached, "the cache" + (f" ({'; '.join(looked)})" if looked else "")
    return None, "; ".join(looked + [f"no {arch}.h5 in the cache"])


def find_weights(arch="vgg19"):
    """Converted `arch` weights on this machine (see :func:`locate_weights`), or None."""
    return locate_weights(arch)[0]


def resolve_weights(path, arch, quiet=False):
    """The weight file to use and where it came from: `path`, else :func:`locate_weights`, else a download.

    Returns
    -------
    path : str
    origin : str
        ``"--weights"``, ``"$STYLELAB_WEIGHTS"``, ``"the cache"``, ``"downloaded"``...
    """
    if path:
        return path, "--weights"
    found, origin = locate_weights(arch)
    if found:
        return found, origin
    print(f"stylelab: no {arch} weights on this machine ({origin}); downloading them once",
          file=sys.stderr)
    try:
        return download_vgg(arch, progress=not quiet), "downloaded"
    except ValueError as exc:
        if "could not download" not in str(exc):
            raise
        raise ValueError(f"{exc}. {offline_vgg_advice(arch)}") from None


def offline_vgg_advice(arch):
    """What works for `arch` on a machine without internet: the shared real VGG-16, random weights."""
    random = (f"`stylelab weights random {arch} {arch}.h5` then --weights {arch}.h5 (random "
              f"weights: every picture shows the machinery, not a painting)")
    shared = shared_file(VGG16_MRI)
    if not shared:
        return f"Or, to try the command without trained weights, {random}"
    convert = f"`stylelab weights convert {shared} vgg16.h5`"
    if arch == "vgg16":
        return (f"Or use the real VGG-16 on this machine ({VGG16_MRI_ORIGIN}): {convert}, then "
                f"--weights vgg16.h5 (Caffe's convention: the default loss weights were set for "
                f"torchvision's VGG-16, so expect to tune --style-weight)")
    return (f"Or, for gatys, the real VGG-16 on this machine ({VGG16_MRI_ORIGIN}; Caffe's VGG-19 "
            f"paints better): {convert}, then --weights vgg16.h5 --arch vgg16; or {random}")


def load_paper_vgg(path, arch, dtype=np.float32, role="loss network", upto=None, quiet=False,
                   pooling="max"):
    """The VGG a paper prescribes for `role`, from `path` as :func:`resolve_weights` finds it.

    Refused, in one line that names where the file came from and what to
    give instead, unless the file holds `arch` (and reaches layer `upto`).

    Returns
    -------
    net : VGG
    path : str
        The file it was read from.
    """
    path, origin = resolve_weights(path, arch, quiet)
    net = load_vgg(path, pooling=pooling, dtype=dtype)
    name = arch.upper().replace("VGG", "VGG-")
    if net.arch != arch:
        raise ValueError(f"{path} (from {origin}) holds {net.arch} weights; the {role} is "
                         f"{name}: give --weights a {name} file, or point $STYLELAB_WEIGHTS "
                         f"at a folder holding {arch}.h5")
    if upto is not None and upto not in net.names:
        raise ValueError(f"{path} (from {origin}): the {name} weights stop before {upto}")
    return net, path
