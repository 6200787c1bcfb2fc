"""Keeping the photograph's colours (Gatys, Bethge, Hertzmann & Shechtman 2016).

Style transfer copies a painting's colours along with its brush strokes. Two
remedies from "Preserving Color in Neural Artistic Style Transfer":

* **Luminance-only transfer**: transfer style between the *luminance*
  channels only (the painting's luminance first matched to the photo's mean
  and spread), then put the photo's colour channels back. Colours of the
  result are exactly the photo's.
* **Colour histogram matching**: before the transfer, recolour the painting
  by the affine map ``x -> A x + b`` that gives its pixels the photo's mean
  and covariance. ``A = S_c^(1/2) S_s^(-1/2)``, symmetric square roots of the
  3x3 covariances: the whitening-and-colouring transform of Li et al. 2017,
  on three colour channels.

Images are (H, W, 3) RGB in [0, 1], on either backend.
"""

from ..backend import get_array_module

# NTSC YIQ: Y is the luminance, I and Q carry the colour.
_RGB_TO_YIQ = ((0.299, 0.587, 0.114),
               (0.595716, -0.274453, -0.321263),
               (0.211456, -0.522591, 0.311135))

COLOR_MODES = ("luminance", "histogram")


def _matrix(xp, rows, dtype):
    return xp.asarray(rows, dtype=dtype)


def rgb_to_yiq(img):
    """(H, W, 3) RGB -> YIQ (luminance Y, chrominance I and Q)."""
    xp = get_array_module(img)
    return img @ _matrix(xp, _RGB_TO_YIQ, img.dtype).T


def yiq_to_rgb(img):
    """The inverse of :func:`rgb_to_yiq`."""
    xp = get_array_module(img)
    inverse = xp.linalg.inv(_matrix(xp, _RGB_TO_YIQ, xp.float64)).astype(img.dtype)
    return img @ inverse.T


def luminance_image(img, like=None):
    """The luminance of `img` as a gray RGB image (Y in all three channels).

    Parameters
    ----------
    img : ndarray of shape (H, W, 3)
    like : ndarray of shape (H', W', 3), optional
        If given, the luminance is shifted and scaled to `like`'s luminance
        mean and standard deviation (the paper's luminance matching).
    """
    xp = get_array_module(img)
    y = rgb_to_yiq(img)[..., 0]
    if like is not None:
        target = rgb_to_yiq(like)[..., 0]
        spread = float(y.std())
        scale = float(target.std()) / spread if spread > 0 else 0.0
        y = (y - y.mean()) * y.dtype.type(scale) + target.mean()
    y = xp.clip(y, 0, 1)
    return xp.ascontiguousarray(xp.repeat(y[..., None], 3, axis=-1))


def restore_colors(result, content):
    """The luminance of `result` with the colour (I, Q) of `content`, clipped to [0, 1]."""
    xp = get_array_module(result)
    yiq = rgb_to_yiq(content)
    yiq[..., 0] = rgb_to_yiq(result)[..., 0]
    return xp.clip(yiq_to_rgb(yiq), 0, 1)


def _sym_power(cov, power, eps):
    """cov^power for a symmetric positive semi-definite matrix, by eigh.

    Eigenvalues below `eps` are raised to `eps` first, so a flat (singular)
    image still gives a finite transform.
    """
    xp = get_array_module(cov)
    vals, vecs = xp.linalg.eigh(cov)
    vals = xp.maximum(vals, eps)
    return (vecs * vals ** power) @ vecs.T


def match_color_histogram(style, content, eps=1e-5):
    """Recolour `style` so its pixels have `content`'s mean and covariance.

    Parameters
    ----------
    style : ndarray of shape (H, W, 3)
    content : ndarray of shape (H', W', 3)
    eps : float
        Floor on the covariances' eigenvalues (see :func:`_sym_power`).

    Returns
    -------
    ndarray of shape (H, W, 3), clipped to [0, 1], in `style`'s dtype
    """
    xp = get_array_module(style)
    s = style.reshape(-1, 3).astype(xp.float64)
    c = content.reshape(-1, 3).astype(xp.float64)
    mu_s, mu_c = s.mean(axis=0), c.mean(axis=0)
    cov_s = (s - mu_s).T @ (s - mu_s) / s.shape[0]
    cov_c = (c - mu_c).T @ (c - mu_c) / c.shape[0]
    a = _sym_power(cov_c, 0.5, eps) @ _sym_power(cov_s, -0.5, eps)
    out = (s - mu_s) @ a.T + mu_c
    return xp.clip(out, 0, 1).reshape(style.shape).astype(style.dtype)
