"""From a weight file to a network: where VGG weights are found, and :func:`load_vgg`.

Weights come from, in this order: a path given by the caller, the
environment variable ``STYLELAB_WEIGHTS``, the download cache
(``$XDG_CACHE_HOME/stylelab/<arch>.h5``), or -- for the commands -- a
download on first use (:mod:`stylelab.files.download`).

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
from .vgg_h5 import read_vgg_h5

ENGINES = {"fast": FastVGG, "readable": VGG}


def load_vgg(path, pooling="max", dtype=np.float32, engine="fast"):
    """Build VGG-16 or VGG-19 (from the file's ``arch``) on the current backend.

    Parameters
    ----------
    path : str
        A file in stylelab's HDF5 layout (see ``stylelab weights convert``).
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
    arch, weights, convention = read_vgg_h5(path)
    return ENGINES[engine](arch, weights, convention, pooling=pooling, dtype=dtype)


def find_weights(arch="vgg19"):
    """Converted weights on this machine: ``$STYLELAB_WEIGHTS``, else the download cache.

    Returns None when there are none (see ``stylelab weights download``).
    """
    return os.environ.get("STYLELAB_WEIGHTS") or cached_weights(arch)


def resolve_weights(path, arch, quiet=False):
    """The weight file to use: `path`, else :func:`find_weights`, else download `arch` once."""
    if path:
        return path
    found = find_weights(arch)
    if found:
        return found
    print(f"stylelab: no {arch} weights on this machine; downloading them once", file=sys.stderr)
    return download_vgg(arch, progress=not quiet)


def load_paper_vgg(path, arch, dtype=np.float32, role="loss network", upto=None, quiet=False,
                   pooling="max"):
    """The VGG a paper prescribes for `role`, from `path` as :func:`resolve_weights` finds it.

    Refused, in one line, unless the file holds `arch` (and reaches layer
    `upto`, if given).

    Returns
    -------
    net : VGG
    path : str
        The file it was read from.
    """
    path = resolve_weights(path, arch, quiet)
    net = load_vgg(path, pooling=pooling, dtype=dtype)
    name = arch.upper().replace("VGG", "VGG-")
    if net.arch != arch:
        raise ValueError(f"{path} holds {net.arch} weights; the {role} is {name}")
    if upto is not None and upto not in net.names:
        raise ValueError(f"{path}: the {name} weights stop before {upto}")
    return net, path
