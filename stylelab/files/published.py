"""The style networks their authors published: where each one is, and a download that checks it.

``stylelab models list`` shows :data:`PUBLISHED`; ``stylelab models download
NAME`` fetches a network from where it is published, reads it as the
untrusted data it is (:mod:`stylelab.files.foreign`: its architecture, its
sizes, finite weights), compares its SHA-256 where one is recorded here,
and converts it into the cache, ``$XDG_CACHE_HOME/stylelab/models/NAME.h5``.
Nothing half-downloaded or unchecked is left there.

Recorded digests are of the copies this project has seen (the four
lengstrom networks, ``../shared/models/fast-style``: reiinakano's
deeplearn.js export, the layout ml5.js serves); for the others no digest
was published, and the download says so and prints the one it computed.
"""

import os
import shutil
import tempfile
import urllib.error
import zipfile
from dataclasses import dataclass

import numpy as np

from .atomic import sweep_stale_temps
from .download import cache_dir, fetch, offline_help, writable_folder
from .foreign import MANIFEST, read_manifest, read_network
from .model_file import save_model

ML5 = "https://raw.githubusercontent.com/ml5js/ml5-data-and-models/main/models/style-transfer/"
PYTORCH_ZIP = "https://www.dropbox.com/s/lrvwfehqdcxoza8/saved_models.zip?dl=1"
JOHNSON = "https://cs.stanford.edu/people/jcjohnson/fast-neural-style/models/"
ENGSTROM = "free for research use, with attribution to Logan Engstrom (lengstrom)"
PYTORCH = "BSD-3-Clause (pytorch/examples)"
JCJ = "free for personal or research use (jcjohnson/fast-neural-style)"
ONNX_ZOO = ("https://github.com/onnx/models/raw/main/validated/vision/style_transfer/"
            "fast_neural_style/model/")
ONNX_LICENCE = "BSD-3-Clause (the ONNX model zoo's fast_neural_style, from pytorch/examples)"
MAX_BYTES = 256 << 20        # a Johnson-sized network is ~7 MB; pytorch/examples' zip of four, ~27 MB


@dataclass(frozen=True)
class Published:
    """One published network: its name here, its origin, format, address, licence, digest."""

    name: str
    source: str
    fmt: str
    url: str
    licence: str
    member: str = ""            # inside a zip
    sha256: str = ""            # of the file (a deeplearn.js folder: manifest + files in order)
    size: int = 0               # bytes, where known


def _lengstrom(name, sha, size=6715241):
    return Published(f"lengstrom-{name.replace('_', '-')}", "lengstrom/fast-style-transfer "
                     "(TensorFlow), via ml5.js", "deeplearnjs", ML5 + name, ENGSTROM, sha256=sha,
                     size=size)


def _pytorch(name):
    return Published(f"pytorch-{name.replace('_', '-')}", "pytorch/examples fast_neural_style",
                     "pytorch", PYTORCH_ZIP, PYTORCH, member=f"saved_models/{name}.pth")


def _johnson(folder, name):
    tag = "johnson-eccv16" if folder == "eccv16" else "johnson"
    return Published(f"{tag}-{name.replace('_', '-')}", "jcjohnson/fast-neural-style (Torch7"
                     + (", ECCV'16, batch norm)" if folder == "eccv16" else ", instance norm)"),
                     "torch7", f"{JOHNSON}{folder}/{name}.t7", JCJ)


def _onnx_zoo(name):
    return Published(f"onnx-{name}", "the ONNX model zoo's fast_neural_style (pytorch/examples' "
                     "networks, opset 9)", "onnx", f"{ONNX_ZOO}{name}-9.onnx", ONNX_LICENCE)


PUBLISHED = {p.name: p for p in [
    _lengstrom("wave", "8347aa83aa126613376531e5437508fe0a9379621fd4fd2a229f98427f3efb69"),
    _lengstrom("udnie", "0cf7c0c32538ac3b0129cfed2603723c5e8133a34d7dbac8302f1f66b4478047"),
    _lengstrom("la_muse", "5aa740003de1dd3881f7c6978c7e492601816450d340548667c82977c12c6079"),
    _lengstrom("rain_princess",
               "99491db95c8a95c670fd3a92464cfbb43a481ec235979606c8b4945c95a56c0c"),
    *[_pytorch(n) for n in ("candy", "mosaic", "rain_princess", "udnie")],
    *[_johnson("eccv16", n) for n in ("composition_vii", "la_muse", "starry_night", "the_wave")],
    *[_johnson("instance_norm", n) for n in ("candy", "la_muse", "mosaic", "feathers",
                                             "the_scream", "udnie")],
    *[_onnx_zoo(n) for n in ("candy", "mosaic", "pointilism", "rain-princess", "udnie")],
]}


def models_dir():
    """Where downloaded networks are converted to: ``<cache>/models``."""
    return os.path.join(cache_dir(), "models")


def cached_network(name):
    """The converted file of a published network, or None if it is not downloaded."""
    path = os.path.join(models_dir(), f"{name}.h5")
    return path if os.path.isfile(path) else None


def lookup(name):
    """The :class:`Published` of `name`, or a one-line error listing the names."""
    if name not in PUBLISHED:
        raise ValueError(f"no published network {name!r}; `stylelab models list` shows them: "
                         f"{', '.join(PUBLISHED)}")
    return PUBLISHED[name]


def _fetch_into(url, path, progress, limit):
    with open(path, "wb") as f:
        return fetch(url, f, progress, limit)


def _download(item, folder, progress):
    """Fetch `item` into `folder`; the path of the file (or deeplearn.js folder) to read."""
    if item.fmt == "deeplearnjs":
        base = item.url.rstrip("/") + "/"
        _fetch_into(base + MANIFEST, os.path.join(folder, MANIFEST), progress, 1 << 20)
        entries = read_manifest(folder)
        total = sum(4 * int(np.prod(shape)) for _, shape in entries.values())
        if total > MAX_BYTES:
            raise ValueError(f"{base}{MANIFEST} describes {total} bytes of variables, more "
                             f"than a style network holds")
        for name, (path, shape) in entries.items():
            _fetch_into(base + os.path.basename(path), path, progress, 4 * int(np.prod(shape)))
        return folder
    target = os.path.join(folder, os.path.basename(item.member or item.url.split("?")[0]))
    if not item.member:
        _fetch_into(item.url, target, progress, MAX_BYTES)
        return target
    archive = os.path.join(folder, "download.zip")
    _fetch_into(item.url, archive, progress, MAX_BYTES)
    try:
        with zipfile.ZipFile(archive) as zf:
            info = zf.getinfo(item.member)
            if info.file_size > MAX_BYTES:
                raise ValueError(f"{item.url}: {item.member} unpacks to {info.file_size} bytes, "
                                 f"more than a style network holds")
            with zf.open(info) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
    except KeyError:
        raise ValueError(f"{item.url}: the archive holds no {item.member}") from None
    except (zipfile.BadZipFile, NotImplementedError, EOFError) as exc:
        raise ValueError(f"{item.url}: not a readable zip archive ({exc})") from None
    return target


def download_network(name, progress=True, url=None):
    """Download, check and convert a published network into the cache.

    Parameters
    ----------
    name : str
        A key of :data:`PUBLISHED`.
    progress : bool
    url : str, optional
        Fetch from here instead of the published address (a mirror).

    Returns
    -------
    path : str
        The converted ``<cache>/models/NAME.h5``.
    digest : str
        The SHA-256 of what was downloaded.
    """
    item = lookup(name)
    if url:
        item = Published(**{**item.__dict__, "url": url})
    writable_folder(models_dir())
    sweep_stale_temps(models_dir())              # what killed downloads left
    work = tempfile.mkdtemp(dir=models_dir(), prefix=f".download-{os.getpid()}-")
    try:
        try:
            path = _download(item, work, progress)
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ValueError(f"could not download {item.url} ({reason}). " + offline_help(
                item.url, item.member or os.path.basename(item.url),
                f"stylelab models convert FILE {os.path.join(models_dir(), name + '.h5')}")) from None
        try:
            net, meta = read_network(path, item.fmt)
        except ValueError as exc:            # name what was downloaded, not where it waited
            raise ValueError(str(exc).replace(path, item.url)) from None
        digest = meta["source"].rsplit("sha256:", 1)[1]
        if item.sha256 and digest != item.sha256:
            raise ValueError(f"{item.url}: SHA-256 {digest[:16]}... is not the recorded "
                             f"{item.sha256[:16]}...; nothing was saved")
        dst = os.path.join(models_dir(), f"{name}.h5")
        meta.update(style_name=name, source=f"{item.url} sha256:{digest}", licence=item.licence,
                    published_as=name)
        save_model(dst, net, meta)
        return dst, digest
    finally:
        shutil.rmtree(work, ignore_errors=True)


def resolve_network(model):
    """A network to read: `model` itself if it exists, else a downloaded published network of that name."""
    if os.path.exists(model) or os.sep in model or model.endswith((".h5", ".pth", ".t7", ".onnx")):
        return model
    if model in PUBLISHED:
        cached = cached_network(model)
        if cached is None:
            raise ValueError(f"{model} is not downloaded yet: run `stylelab models download "
                             f"{model}`")
        return cached
    raise ValueError(f"no such model file or folder, and no published network named {model!r} "
                     f"(`stylelab models list`)")
