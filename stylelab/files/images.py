"""Reading and writing images: Pillow on the host, arrays on the chosen backend.

Images inside stylelab are float arrays of shape (H, W, 3), RGB in [0, 1].
Files are written atomically: to a temporary file beside the target, then
renamed, so an interrupted run never leaves a half-written picture.
"""

import os
import warnings

import numpy as np
from PIL import Image, ImageOps

from .atomic import write_atomically
from .limits import MAX_PIXELS, check_finite, one_line
from ..backend import asarray, get_array_module, to_numpy


# Integer modes wider than 8 bits, and the largest value each can hold.
_WIDE_MODES = {"I;16": 65535, "I;16B": 65535, "I;16L": 65535, "I;16N": 65535}


def rgb_float(im, dtype, where=None):
    """Any Pillow image as RGB floats in [0, 1], shape (H, W, 3).

    Grayscale, palette and CMYK images are converted; 16-bit grayscale is
    scaled by its full range (Pillow's own RGB conversion would clip it at
    255); transparent images are laid over white, as a viewer shows them.
    """
    dtype = np.dtype(dtype)
    if im.mode in _WIDE_MODES:
        gray = np.asarray(im).astype(np.float64) / _WIDE_MODES[im.mode]
        return np.repeat(gray[:, :, None], 3, axis=2).astype(dtype)
    if im.mode in ("I", "F"):
        gray = np.asarray(im, dtype=np.float64)
        check_finite(gray, "the image")     # a float TIFF can hold NaN; clipping would hide inf
        top = 65535.0 if gray.max() > 255 else 255.0
        return np.repeat(np.clip(gray / top, 0, 1)[:, :, None], 3, axis=2).astype(dtype)
    if im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info:
        rgba = np.asarray(im.convert("RGBA"), dtype=np.float64) / 255.0
        alpha = rgba[:, :, 3:]
        if alpha.min() < 1:
            warnings.warn(f"{where or 'the image'} has transparent pixels: laid over white")
        return (rgba[:, :, :3] * alpha + (1.0 - alpha)).astype(dtype)
    # In the target dtype: the same numbers as via float64 (x / 255 rounds once
    # either way), at a quarter of the memory for a large photo.
    rgb = np.asarray(im.convert("RGB")).astype(dtype)
    rgb /= dtype.type(255)
    return rgb


def read_image(path, dtype=np.float32, longest=None, shortest=None):
    """Decode an image file on the host as RGB floats in [0, 1], shape (H, W, 3).

    The file is untrusted. Its declared size is checked before any pixel is
    decoded (at most :data:`~stylelab.files.limits.MAX_PIXELS`); an image
    at least four times larger than the caller will resize it to is shrunk
    while it is decoded (JPEG's draft mode, Pillow's ``reduce`` otherwise),
    always to at least twice the target so the final Lanczos resize keeps
    its quality; the EXIF orientation is applied (a portrait photo stays
    upright); NaN or infinite pixels (float TIFFs) are refused.

    Parameters
    ----------
    path : str or os.PathLike
    dtype : float dtype
    longest, shortest : int, optional
        The side the caller will resize the longest (or shortest) side to.

    Returns
    -------
    img : numpy.ndarray of shape (H, W, 3)

    Raises
    ------
    ValueError
        One line naming the file and the problem, whatever Pillow raised.
    """
    try:
        with warnings.catch_warnings():
            # Pillow warns about (and over 2x, refuses) large images itself; the
            # size is checked below, against stylelab's own, smaller limit.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                _check_pixels(im, path)
                im = _shrink_while_decoding(im, longest, shortest)
                im = ImageOps.exif_transpose(im)
                arr = rgb_float(im, np.dtype(dtype), where=path)
    except _TooLarge as exc:
        raise ValueError(str(exc)) from None
    except Image.DecompressionBombError as exc:    # Pillow's own limit, met before ours
        raise ValueError(f"{path} declares too many pixels to decode ({one_line(exc, 200)}); "
                         f"refused") from None
    except FileNotFoundError:
        raise ValueError(f"no such image file: {path}") from None
    except IsADirectoryError:
        raise ValueError(f"{path} is a folder, not an image file") from None
    except MemoryError:
        raise ValueError(f"cannot read image {path}: out of memory while decoding") from None
    except Exception as exc:   # noqa: BLE001 -- Pillow's decoders raise many types on bad data
        raise ValueError(f"cannot read image {path}: {one_line(exc, 200) or type(exc).__name__}") from None
    return arr


class _TooLarge(Exception):
    pass


def _check_pixels(im, path):
    """Refuse an opened (not decoded) image declaring more than :data:`MAX_PIXELS`."""
    w, h = im.size
    if w * h > MAX_PIXELS:
        raise _TooLarge(f"{path} is {w}x{h} pixels ({w * h / 1e6:.0f} million), more than the "
                        f"{MAX_PIXELS // 1_000_000} million stylelab decodes; refused (shrink it "
                        f"first)")
    return h, w


def _shrink_while_decoding(im, longest, shortest):
    """`im`, decoded at a size at least twice the target when it is four times larger."""
    w, h = im.size
    if longest is not None:
        scale = max(w, h) / longest
    elif shortest is not None:
        scale = min(w, h) / shortest
    else:
        return im
    if scale < 4:
        return im
    if im.format == "JPEG":
        # The decoder itself keeps 1/2, 1/4 or 1/8 of the pixels, never below the request.
        im.draft(im.mode, (int(w * 2 / scale) + 1, int(h * 2 / scale) + 1))
        return im
    if im.mode in _WIDE_MODES:
        return im               # 16-bit grayscale: Pillow cannot reduce it; decoded whole
    if im.mode in ("1", "P"):
        # Pillow reduces neither palette nor 1-bit images: to the modes rgb_float reads them as.
        im = im.convert("RGBA" if "transparency" in im.info else "L" if im.mode == "1" else "RGB")
    return im.reduce(int(scale // 2))


def image_shape(path, size=None, enlarge=True):
    """``(height, width)`` an image file will load at (:func:`load_image`), from its header alone.

    For deciding what a run will cost before a pixel is decoded. The EXIF
    orientation is not applied (a rotated photo's sides swap, its cost does not).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                h, w = _check_pixels(im, path)
    except _TooLarge as exc:
        raise ValueError(str(exc)) from None
    except Exception:          # noqa: BLE001 -- unreadable: read_image says why, in its words
        h, w = read_image(path).shape[:2]
    if size is not None and (enlarge or size < max(h, w)):
        h, w = fit_longest_side((h, w), size)
    return h, w


def load_image(path, size=None, dtype=np.float32, enlarge=True):
    """Read an image file as RGB in [0, 1] (see :func:`read_image` for what is checked).

    Parameters
    ----------
    path : str or os.PathLike
    size : int, optional
        Resize so that the longest side is `size` pixels (aspect kept).
    dtype : float dtype
    enlarge : bool
        False: an image smaller than `size` keeps its own size (a default
        size shrinks large photos but does not blow up small ones).

    Returns
    -------
    img : ndarray of shape (H, W, 3) on the current backend
    """
    if size is not None and size > MAX_PIXELS:          # before any arithmetic on it
        raise _too_many(f"a longest side of {size:.3g} pixels")
    arr = read_image(path, dtype, longest=size)
    if size is not None and not enlarge:
        size = min(size, max(arr.shape[:2]))
    if size is not None:
        h, w = fit_longest_side(arr.shape[:2], size)
        if h * w > MAX_PIXELS:
            raise _too_many(f"{path} at a longest side of {size} ({w}x{h})")
        arr = resize_image(arr, h, w)
    return asarray(arr)


def _too_many(what):
    return ValueError(f"{what} makes more than the {MAX_PIXELS // 1_000_000} million pixels "
                      f"stylelab works on; refused (a smaller --size)")


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
    """The Pillow format a file name asks for; ValueError if its extension names none."""
    fmt = Image.registered_extensions().get(os.path.splitext(os.fspath(path))[1].lower())
    if fmt is None:
        raise ValueError(f"cannot tell an image format from the name {path!r}: "
                         f"use .png or .jpg")
    return fmt


def save_image(path, img):
    """Write an (H, W, 3) or (H, W) image in [0, 1] (clipped) to `path`, atomically.

    The file format follows the extension (``.png``, ``.jpg``, ...). A
    picture holding NaN or infinity is refused (it would be painted black).
    """
    fmt = image_format(path)
    check_finite(img, f"the picture to write to {path}")
    arr = np.clip(to_numpy(img).astype(np.float64), 0.0, 1.0)
    im = Image.fromarray(np.round(arr * 255).astype(np.uint8))
    write_atomically(path, lambda tmp: im.save(tmp, format=fmt))
