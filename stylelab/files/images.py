"""Reading and writing images: Pillow on the host, arrays on the chosen backend.

Images inside stylelab are float arrays of shape (H, W, 3), RGB in [0, 1].
Files are written atomically: to a temporary file beside the target, then
renamed, so an interrupted run never leaves a half-written picture.
"""

import os

import numpy as np
from PIL import Image, UnidentifiedImageError

from .atomic import write_atomically
from ..backend import asarray, get_array_module, to_numpy


# Integer modes wider than 8 bits, and the largest value each can hold.
_WIDE_MODES = {"I;16": 65535, "I;16B": 65535, "I;16L": 65535, "I;16N": 65535}


def rgb_float(im, dtype):
    """Any Pillow image as RGB floats in [0, 1], shape (H, W, 3).

    Grayscale, palette and CMYK images are converted; 16-bit grayscale is
    scaled by its full range (Pillow's own RGB conversion would clip it at
    255); transparent images are laid over white, as a viewer shows them.
    """
    if im.mode in _WIDE_MODES:
        gray = np.asarray(im).astype(np.float64) / _WIDE_MODES[im.mode]
        return np.repeat(gray[:, :, None], 3, axis=2).astype(dtype)
    if im.mode in ("I", "F"):
        gray = np.asarray(im, dtype=np.float64)
        top = 65535.0 if gray.max() > 255 else 255.0
        return np.repeat(np.clip(gray / top, 0, 1)[:, :, None], 3, axis=2).astype(dtype)
    if im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info:
        rgba = np.asarray(im.convert("RGBA"), dtype=np.float64) / 255.0
        alpha = rgba[:, :, 3:]
        return (rgba[:, :, :3] * alpha + (1.0 - alpha)).astype(dtype)
    return (np.asarray(im.convert("RGB"), dtype=np.float64) / 255.0).astype(dtype)


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
            arr = rgb_float(im, np.dtype(dtype))
    except FileNotFoundError:
        raise ValueError(f"no such image file: {path}") from None
    except IsADirectoryError:
        raise ValueError(f"{path} is a folder, not an image file") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise ValueError(f"cannot read image {path}: {exc}") from None
    if size is not None:
        arr = resize_image(arr, *fit_longest_side(arr.shape[:2], size))
    return asarray(arr)


def fit_longest_side(shape, size):
    """(height, width) scaled so that the longest side is `size` (aspect kept)."""
    h, w = shape
    scale = size / max(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))


def resize_image(img, height, width, resample=Image.LANCZOS):
    """Resample an (H, W, C) image to (height, width, C) with Lanczos, on the host.

    Each channel is resized as a 32-bit float image by Pillow, so no precision
    is lost to 8 bits; the result is clipped to [0, 1] (Lanczos overshoots at
    edges) and returned on `img`'s backend in its dtype. `resample` is any
    Pillow filter (``Image.BICUBIC`` for super-resolution's baseline).
    """
    xp = get_array_module(img)
    if img.shape[:2] == (height, width):
        return img
    host = to_numpy(img)
    channels = [np.asarray(Image.fromarray(np.ascontiguousarray(host[:, :, c], dtype=np.float32))
                           .resize((width, height), resample))
                for c in range(host.shape[2])]
    out = np.clip(np.stack(channels, axis=2), 0.0, 1.0).astype(img.dtype)
    return xp.asarray(out)


def image_format(path):
    """The Pillow format a file name asks for; ValueError if its extension names none.

    Also refuses a folder that does not exist, so a long run can check its
    output name before it starts.
    """
    fmt = Image.registered_extensions().get(os.path.splitext(os.fspath(path))[1].lower())
    if fmt is None:
        raise ValueError(f"cannot tell an image format from the name {path!r}: "
                         f"use .png or .jpg")
    folder = os.path.dirname(os.path.abspath(os.fspath(path)))
    if not os.path.isdir(folder):
        raise ValueError(f"cannot write {path}: No such file or directory {folder!r}")
    return fmt


def save_image(path, img):
    """Write an (H, W, 3) or (H, W) image in [0, 1] (clipped) to `path`, atomically.

    The file format follows the extension (``.png``, ``.jpg``, ...).
    """
    fmt = image_format(path)
    arr = np.clip(to_numpy(img).astype(np.float64), 0.0, 1.0)
    im = Image.fromarray(np.round(arr * 255).astype(np.uint8))
    write_atomically(path, lambda tmp: im.save(tmp, format=fmt))
