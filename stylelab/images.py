"""Reading and writing images: Pillow on the host, arrays on the chosen backend.

Images inside stylelab are float arrays of shape (H, W, 3), RGB in [0, 1].
Files are written atomically: to a temporary file beside the target, then
renamed, so an interrupted run never leaves a half-written picture.
"""

import os

import numpy as np
from PIL import Image, UnidentifiedImageError

from .atomic import write_atomically
from .backend import asarray, to_numpy


def load_image(path, size=None, dtype=np.float32):
    """Read an image file as RGB in [0, 1].

    Parameters
    ----------
    path : str or os.PathLike
    size : int, optional
        Resize so that the longest side is `size` pixels (aspect kept).
    dtype : float dtype

    Returns
    -------
    img : ndarray of shape (H, W, 3) on the current backend
    """
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            if size is not None:
                scale = size / max(im.size)
                im = im.resize((max(1, round(im.width * scale)),
                                max(1, round(im.height * scale))), Image.LANCZOS)
            arr = np.asarray(im, dtype=np.uint8)
    except FileNotFoundError:
        raise ValueError(f"no such image file: {path}") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"cannot read image {path}: {exc}") from None
    return asarray(arr.astype(dtype) / dtype(255))


def save_image(path, img):
    """Write an (H, W, 3) or (H, W) image in [0, 1] (clipped) to `path`, atomically.

    The file format follows the extension (``.png``, ``.jpg``, ...).
    """
    arr = np.clip(to_numpy(img).astype(np.float64), 0.0, 1.0)
    im = Image.fromarray(np.round(arr * 255).astype(np.uint8))
    fmt = Image.registered_extensions().get(os.path.splitext(os.fspath(path))[1].lower())
    if fmt is None:
        raise ValueError(f"cannot tell an image format from the name {path!r}: "
                         f"use .png or .jpg")
    write_atomically(path, lambda tmp: im.save(tmp, format=fmt))
