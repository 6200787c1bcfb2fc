"""Whitening and colouring transforms (Li et al. 2017).

Style, for Gatys et al., is a Gram matrix; a covariance matrix works as well
(centre the features first). Li et al. take that literally: make the content's
features carry the style's covariance *directly*, by a linear map.

With a feature map as ``F`` of shape (M, C) -- M = H*W positions, C channels,
one row per position (stylelab's channels-last layout) -- and ``F_c`` its
channels centred::

    cov      S   = F_c^T F_c / (M - 1) = E D E^T              (C x C, eigh)
    whiten   F_w = F_c E D^(-1/2) E^T                         cov(F_w) = I
    colour   F_cs = F_w E_s D_s^(1/2) E_s^T + mean_s          cov(F_cs) = S_s
    blend    alpha * F_cs + (1 - alpha) * F                   (alpha 0.6 by default)

Whitening removes the content's own correlations between channels (its
"style") and keeps what is where; colouring puts the style's in. The paper
writes the same with F as C x M; the transposes trade places. All four steps
are linear in F, so :func:`wct_mix` applies them as one C x C matrix and a
shift (:func:`linear_map`); :func:`whiten` and :func:`color` show the steps.

Small and zero eigenvalues: a flat region, a tiny image (M <= C) or a
single-colour style give a singular covariance. Directions whose eigenvalue
is at most ``eps`` times the largest (``eps = 1e-5``, as the threshold of
Li et al.'s code, made relative so that it does not depend on the features'
scale) are left out: whitening projects them away, colouring does not add
them. A flat style thus gives its mean everywhere, never NaN.

The released code does two things otherwise, and its decoders were trained
with features made its way, so ``convention`` offers each (``CONVENTIONS``):

=============  ===============================  ==================================
convention     eigenvalues left out             content covariance
=============  ===============================  ==================================
``stylelab``   at most ``eps`` x the largest    ``F_c^T F_c / (M - 1)``
``official``   below ``eps`` (absolute), as     the same
               Li et al.'s Torch code
``pytorch-wct``  below ``eps`` (absolute)       plus the identity, as PytorchWCT
=============  ===============================  ==================================

(Both released codes take eigenvectors by SVD of the covariance, which for a
symmetric positive semi-definite matrix is its eigendecomposition.)
"""

import warnings

from ..backend import get_array_module
from ..gatys.objective import blend_weights

EPS = 1e-5
# name: (is eps relative to the largest eigenvalue, what is added to the content covariance)
CONVENTIONS = {"stylelab": (True, 0.0), "official": (False, 0.0), "pytorch-wct": (False, 1.0)}


def _convention(name):
    if name not in CONVENTIONS:
        raise ValueError(f"convention must be one of {', '.join(CONVENTIONS)}, got {name!r}")
    return CONVENTIONS[name]


def positions(f):
    """(N, H, W, C) or (H, W, C) -> (M, C) for a single image."""
    if f.ndim == 4:
        if f.shape[0] != 1:
            raise ValueError(f"the transforms work on one image at a time, got a batch of "
                             f"{f.shape[0]} (shape {tuple(f.shape)})")
        f = f[0]
    if f.ndim != 3:
        raise ValueError(f"features must have shape (H, W, C) or (1, H, W, C), got "
                         f"{tuple(f.shape)}")
    return f.reshape(-1, f.shape[2])


def covariance(f):
    """The channels' mean and covariance of one feature map.

    Parameters
    ----------
    f : ndarray of shape (H, W, C) or (1, H, W, C)

    Returns
    -------
    mean : ndarray of shape (C,)
    cov : ndarray of shape (C, C)
        ``F_c^T F_c / (M - 1)`` (``/ 1`` for a single position).
    """
    fm = positions(f)
    mean = fm.mean(axis=0)
    fc = fm - mean
    return mean, fc.T @ fc / fm.dtype.type(max(fm.shape[0] - 1, 1))


def eig_power(cov, power, eps, relative=True):
    """``E D^power E^T`` over the eigenvalues above ``eps * max(D)`` (others left out).

    ``relative=False``: above ``eps`` itself (the released codes' threshold).
    """
    xp = get_array_module(cov)
    d, e = xp.linalg.eigh(cov)
    top = float(d.max()) if d.size else 0.0
    if not relative:
        keep = d >= eps if eps > 0 else d > 0
    else:
        keep = d > eps * top if top > 0 else d > 0
    d, e = d[keep], e[:, keep]
    return (e * d ** cov.dtype.type(power)) @ e.T


def whiten(f, eps=EPS):
    """Centre a feature map and remove its channels' correlations: covariance I.

    Parameters
    ----------
    f : ndarray of shape (H, W, C) or (1, H, W, C)
    eps : float
        Eigenvalues at most ``eps * max`` are left out (see the module notes).

    Returns
    -------
    ndarray like `f`
        ``F_c E D^(-1/2) E^T``: zero mean and identity covariance over the
        kept directions.
    """
    mean, cov = covariance(f)
    fw = (positions(f) - mean) @ eig_power(cov, -0.5, eps)
    return fw.reshape(f.shape)


def color(fw, style, eps=EPS):
    """Give whitened features the style's covariance and mean.

    Parameters
    ----------
    fw : ndarray of shape (H, W, C) or (1, H, W, C)
        Whitened features (:func:`whiten`).
    style : ndarray of shape (Hs, Ws, C) or (1, Hs, Ws, C)
        The style image's features at the same layer (any size).

    Returns
    -------
    ndarray like `fw`
        ``F_w E_s D_s^(1/2) E_s^T + mean_s``.
    """
    mean_s, cov_s = covariance(style)
    return (positions(fw) @ eig_power(cov_s, 0.5, eps) + mean_s).reshape(fw.shape)


def colour(fw, style, eps=EPS):
    """Deprecated spelling of :func:`color` (the API spells colour ``color`` everywhere)."""
    warnings.warn("stylelab.universal.wct.colour is deprecated: use wct.color", DeprecationWarning,
                  stacklevel=2)
    return color(fw, style, eps)


def _check(content, styles, alpha):
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    for style in styles:
        if content.shape[-1] != style.shape[-1]:
            raise ValueError(f"content has {content.shape[-1]} channels but style has "
                             f"{style.shape[-1]}: take both from the same layer")


def wct(content, style, alpha=0.6, eps=EPS, convention="stylelab"):
    """The whitening and colouring transform, blended with the content's features.

    Parameters
    ----------
    content : ndarray of shape (H, W, C) or (1, H, W, C)
    style : ndarray of shape (Hs, Ws, C) or (1, Hs, Ws, C)
    alpha : float in [0, 1]
        1: the style's statistics only; 0: the content unchanged.
    eps : float
    convention : {"stylelab", "official", "pytorch-wct"}
        Whose threshold and covariance (the module notes).

    Returns
    -------
    ndarray like `content`
        ``alpha * color(whiten(content), style) + (1 - alpha) * content``.
    """
    return wct_mix(content, [style], None, alpha, eps, convention)


def wct_mix(content, styles, weights=None, alpha=0.6, eps=EPS, convention="stylelab"):
    """Interpolate between styles: whiten once, colour with each, mix, blend.

    Parameters
    ----------
    content : ndarray of shape (H, W, C) or (1, H, W, C)
    styles : list of ndarray of shape (Hs, Ws, C) or (1, Hs, Ws, C)
    weights : sequence of float, optional
        One per style, normalised to sum to 1 (default: equal).
    alpha, eps, convention : as :func:`wct`

    Returns
    -------
    ndarray like `content`
        ``alpha * sum_k w_k color(whiten(content), style_k) + (1 - alpha) * content``.
    """
    _check(content, styles, alpha)
    t, b = linear_map(content, styles, weights, alpha, eps, convention)
    out = positions(content) @ t
    out += b
    return out.reshape(content.shape)


def linear_map(content, styles, weights=None, alpha=0.6, eps=EPS, convention="stylelab"):
    """The whole transform as one C x C matrix and a shift: ``wct_mix(F) = F T + b``.

    Whitening, colouring, mixing and blending are all linear in ``F``::

        F_cs = (F - m_c) W_c Σ_k w_k C_k + Σ_k w_k m_k     W_c = E D^(-1/2) E^T, C_k = E_k D_k^(1/2) E_k^T
        out  = alpha F_cs + (1 - alpha) F
             = F [alpha W_c C + (1 - alpha) I] + alpha (m_s - m_c W_c C)

    so the M x C features are touched by one product instead of four passes
    (at 512 px, relu1_1 has 262,144 positions; the matrices are 64 x 64).

    Returns
    -------
    t : ndarray of shape (C, C)
    b : ndarray of shape (C,)
    """
    xp = get_array_module(content)
    dt = content.dtype.type
    relative, ridge = _convention(convention)
    mean_c, cov_c = covariance(content)
    if ridge:
        cov_c = cov_c + dt(ridge) * xp.eye(cov_c.shape[0], dtype=cov_c.dtype)
    color_map, mean_s = 0, 0
    for w, style in zip(blend_weights(weights, len(styles)), styles):
        mean_k, cov_k = covariance(style)
        color_map = color_map + dt(w) * eig_power(cov_k, 0.5, eps, relative)
        mean_s = mean_s + dt(w) * mean_k
    wc = eig_power(cov_c, -0.5, eps, relative) @ color_map
    t = dt(alpha) * wc + dt(1 - alpha) * xp.eye(wc.shape[0], dtype=wc.dtype)
    return t, dt(alpha) * (mean_s - mean_c @ wc)


def wct_regions(content, styles, labels, alpha=0.6, eps=EPS, convention="stylelab"):
    """Spatial control: each region of the content takes its own style.

    The positions labelled ``k`` are whitened by their own statistics and
    coloured with style ``k`` (a region is an image of its own); a
    single-position region has no covariance and takes the style's mean.

    Parameters
    ----------
    content : ndarray of shape (H, W, C) or (1, H, W, C)
    styles : list of ndarray of shape (Hs, Ws, C) or (1, Hs, Ws, C)
    labels : integer ndarray of shape (H, W)
        The style of each position, in ``0 .. len(styles) - 1``.
    alpha, eps, convention : as :func:`wct`

    Returns
    -------
    ndarray like `content`
    """
    _check(content, styles, alpha)

    def transform(region, style):
        t, b = linear_map(region[None], [style], None, alpha, eps, convention)
        return region @ t + b
    return by_region(content, styles, labels, transform)


def by_region(features, styles, labels, transform):
    """``transform(region, styles[k])`` on the positions labelled ``k``, for every ``k``.

    Parameters
    ----------
    features : ndarray of shape (H, W, C) or (1, H, W, C)
    styles : list
        One per label (anything `transform` takes).
    labels : integer ndarray of shape (H, W)
        The style of each position, in ``0 .. len(styles) - 1``.
    transform : callable
        ``transform(region, style)`` -> ndarray like `region`, (M_k, C).

    Returns
    -------
    ndarray like `features`
    """
    xp = get_array_module(features)
    fm = positions(features)
    labels = xp.asarray(labels).reshape(-1)
    if labels.shape[0] != fm.shape[0]:
        raise ValueError(f"the mask has {labels.shape[0]} positions but the features have "
                         f"{fm.shape[0]}: resize it to the features' height and width")
    if labels.size and (int(labels.min()) < 0 or int(labels.max()) >= len(styles)):
        raise ValueError(f"mask labels must be in 0 .. {len(styles) - 1}, one per style")
    out = xp.empty_like(fm)
    for k, style in enumerate(styles):
        where = xp.nonzero(labels == k)[0]
        if where.size:
            out[where] = transform(fm[where], style)
    return out.reshape(features.shape)
