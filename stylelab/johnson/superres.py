"""Super-resolution with perceptual losses (Johnson et al. 2016, section 4.2).

The same training recipe as style transfer, with another input and loss:
the network sees a low-resolution copy of each patch -- blurred by a
Gaussian of sigma 1, then downsampled by bicubic interpolation, as in the
paper -- and learns to give back the patch, judged only by the feature loss
at VGG's ``relu2_2``. Its architecture (``SR_ARCH``) keeps the low
resolution through four residual blocks, then upsamples x2 per ``u`` stage.

Quality is reported as PSNR against the original, next to bicubic
upsampling's PSNR: a feature loss is *not* meant to win at PSNR (the paper's
point), it is meant to look sharper.
"""

import math

import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter

from ..backend import get_array_module, to_numpy
from ..files.images import resize_image

BLUR_SIGMA = 1.0


def degrade(photos, factor, sigma=BLUR_SIGMA):
    """Low-resolution inputs: Gaussian blur, then bicubic downsampling by `factor`.

    Parameters
    ----------
    photos : ndarray of shape (N, H, W, 3)
        H and W multiples of `factor`.
    factor : int

    Returns
    -------
    ndarray of shape (N, H/factor, W/factor, 3), on `photos`' array module, its dtype
    """
    n, h, w, _ = photos.shape
    if h % factor or w % factor:
        raise ValueError(f"super-resolution x{factor} needs sides that are multiples of "
                         f"{factor}, got {h}x{w}")
    host = to_numpy(photos)
    blurred = gaussian_filter(host, sigma=(0, sigma, sigma, 0), mode="reflect")
    small = [resize_image(b, h // factor, w // factor, Image.BICUBIC) for b in blurred]
    # Back where the photos came from (not the global backend): SciPy and Pillow ran on the host.
    return get_array_module(photos).asarray(np.stack(small).astype(photos.dtype))


def bicubic_upscale(img, factor):
    """The baseline: an (H, W, 3) image upsampled by `factor` with bicubic interpolation."""
    return resize_image(img, img.shape[0] * factor, img.shape[1] * factor, Image.BICUBIC)


def psnr(a, b):
    """Peak signal-to-noise ratio of two images in [0, 1], in dB (over all RGB values)."""
    diff = to_numpy(a).astype(np.float64) - to_numpy(b).astype(np.float64)
    mse = float(np.mean(diff * diff))
    return math.inf if mse == 0 else 10.0 * math.log10(1.0 / mse)


def evaluate(net, hr, factor):
    """PSNR of bicubic and of `net` against a high-resolution image, both from its degraded copy.

    Parameters
    ----------
    net : TransformNet
        A super-resolution network of this `factor`.
    hr : ndarray of shape (H, W, 3)
        Cropped to multiples of `factor` first.

    Returns
    -------
    (bicubic_db, network_db) : (float, float)
    """
    h, w = hr.shape[0] - hr.shape[0] % factor, hr.shape[1] - hr.shape[1] % factor
    hr = hr[:h, :w]
    lr = degrade(hr[None], factor)[0]
    return psnr(bicubic_upscale(lr, factor), hr), psnr(net.apply(lr), hr)
