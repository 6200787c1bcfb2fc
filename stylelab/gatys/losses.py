"""The perceptual losses of Gatys et al., each with its gradient written by hand.

Every function returns ``(value, grad)``: the loss as a Python float and its
gradient with respect to the first argument, same shape and dtype. Feature
maps are channels-last, ``(N, H, W, C)``; for the paper's symbols, a layer
``l`` has ``N_l = C`` channels ("filters") and ``M_l = H * W`` positions, and
``F`` is the map reshaped to ``(M_l, N_l)``.

With these conventions the paper's formulas read::

    content    L_c = 1/2 * sum((F - P)^2)                  dL_c/dF = F - P
    Gram       G   = F^T F                      (N_l, N_l)
    style      E_l = sum((G - A)^2) / (4 N_l^2 M_l^2)      dE_l/dF = F (G - A) / (N_l^2 M_l^2)
    TV         sum of squared differences of neighbouring pixels

The covariance variant centres ``F`` over the positions before the Gram
product: it works as well as the Gram matrix.

neural-style and PyTorch's tutorial scale the same sums otherwise
(``normalisation="mse"``, :mod:`stylelab.gatys.recipes`): the mean over the
elements, of the features and of ``G / (N_l M_l)``::

    content    L_c = sum((F - P)^2) / (M_l N_l)            dL_c/dF = 2 (F - P) / (M_l N_l)
    style      E_l = sum((G - A)^2) / (N_l^4 M_l^2)        dE_l/dF = 4 F (G - A) / (N_l^4 M_l^2)
"""

from ..backend import get_array_module

STYLE_STATISTICS = ("gram", "covariance")
NORMALISATIONS = ("paper", "mse")
TV_KINDS = ("squared", "l1")


def _check_normalisation(normalisation):
    if normalisation not in NORMALISATIONS:
        raise ValueError(f"normalisation must be one of {NORMALISATIONS}, got {normalisation!r}")


def _check_style_statistic(statistic):
    if statistic not in STYLE_STATISTICS:
        raise ValueError(f"style statistic must be one of {STYLE_STATISTICS}, "
                         f"got {statistic!r}")


def _as_positions(f):
    """(N, H, W, C) -> (N, M, C), a view: the paper's F for every image."""
    if f.ndim != 4:
        raise ValueError(f"feature maps must have shape (N, H, W, C), got {tuple(f.shape)}")
    n, h, w, c = f.shape
    return f.reshape(n, h * w, c)


def _centre(fm):
    """Subtract each channel's mean over the positions. fm: (N, M, C)."""
    return fm - fm.mean(axis=1, keepdims=True)


def _style_features(f, statistic):
    """The F whose Gram product is taken: (N, M, C), centred for covariance."""
    _check_style_statistic(statistic)
    fm = _as_positions(f)
    return _centre(fm) if statistic == "covariance" else fm


def gram(f, statistic="gram"):
    """The Gram matrix ``G = F^T F`` of each image's feature map.

    Parameters
    ----------
    f : ndarray of shape (N, H, W, C)
    statistic : {"gram", "covariance"}
        ``"covariance"`` centres each channel over the positions first, so
        ``G`` is ``M`` times the channels' covariance matrix.

    Returns
    -------
    G : ndarray of shape (N, C, C)
        Sums over the ``M = H * W`` positions (not divided by ``M``).
    """
    fm = _style_features(f, statistic)
    return fm.transpose(0, 2, 1) @ fm


def content_loss(f, p, normalisation="paper"):
    """``L_c = 1/2 * sum((F - P)^2)``, the squared error of two feature maps.

    Parameters
    ----------
    f : ndarray of shape (N, H, W, C)
        Features of the image being made.
    p : ndarray of shape (N, H, W, C)
        Features of the photograph (the target).
    normalisation : {"paper", "mse"}
        ``"mse"``: the mean of ``(F - P)^2`` instead (neural-style, the tutorial).

    Returns
    -------
    value : float
    grad : ndarray like `f`
        ``dL_c/dF = F - P`` (``2 (F - P) / F.size`` for ``"mse"``).
    """
    _check_normalisation(normalisation)
    if f.shape != p.shape:
        raise ValueError(f"content features {tuple(f.shape)} and target "
                         f"{tuple(p.shape)} differ in shape")
    diff = f - p
    total = float((diff * diff).sum())
    if normalisation == "paper":
        return 0.5 * total, diff
    return total / f.size, diff * f.dtype.type(2.0 / f.size)


def style_scale(channels, positions, normalisation="paper"):
    """``k`` of ``E_l = k sum((G - A)^2)``: ``1 / (4 N_l^2 M_l^2)``, or ``1 / (N_l^4 M_l^2)`` for ``"mse"``."""
    _check_normalisation(normalisation)
    if normalisation == "paper":
        return 1.0 / (4.0 * float(channels) ** 2 * float(positions) ** 2)
    return 1.0 / (float(channels) ** 4 * float(positions) ** 2)


def style_loss(f, a, statistic="gram", normalisation="paper"):
    """``E_l = sum((G - A)^2) / (4 N_l^2 M_l^2)``: one layer's style loss.

    Parameters
    ----------
    f : ndarray of shape (N, H, W, C)
        Features of the image being made.
    a : ndarray of shape (N, C, C) or (C, C)
        The target Gram matrix, for `f`'s number of positions ``M = H * W``
        (see :func:`scale_gram`).
    statistic : {"gram", "covariance"}
    normalisation : {"paper", "mse"}
        ``"mse"``: ``mean((G - A)^2) / (N_l M_l)^2`` instead (neural-style, the tutorial).

    Returns
    -------
    value : float
        Summed over the batch.
    grad : ndarray like `f`
        ``dE_l/dF = F (G - A) / (N_l^2 M_l^2)``, F being ``f`` centred in
        the covariance variant (``4 F (G - A) / (N_l^4 M_l^2)`` for ``"mse"``).
    """
    n, h, w, c = f.shape
    if a.shape[-2:] != (c, c):
        raise ValueError(f"target Gram matrix {tuple(a.shape)} does not fit "
                         f"features with {c} channels")
    k = style_scale(c, h * w, normalisation)
    fm = _style_features(f, statistic)                  # F, (N, M, C)
    diff = fm.transpose(0, 2, 1) @ fm - a               # G - A, (N, C, C)
    value = k * float((diff * diff).sum())
    # dE/dG = 2 k (G - A); G = F^T F and G - A is symmetric, so
    # dE/dF = F (dE/dG + dE/dG^T) = 4 k F (G - A).
    grad = fm @ (diff * f.dtype.type(4.0 * k))
    if statistic == "covariance":
        # Back through the centring, a projection: subtract the mean over
        # positions. (F_c (G - A) already has zero mean, but say what is meant.)
        grad = _centre(grad)
    return value, grad.reshape(f.shape)


def scale_gram(g, m_from, m_to):
    """Rescale a Gram matrix summed over `m_from` positions to `m_to` positions.

    ``G`` sums over positions, so a style image of another size gives a
    target of another scale. ``G * m_to / m_from`` has the same per-position
    statistics at the size of the image being made.
    """
    return g * g.dtype.type(m_to / m_from)


def tv_loss(x, kind="squared", scale=1.0):
    """Total variation: how much neighbouring pixels differ.

    ``TV = sum((x[i+1, j] - x[i, j])^2) + sum((x[i, j+1] - x[i, j])^2)``
    over all channels (``"squared"``), or the sum of absolute differences
    (``"l1"``, neural-style's); it penalises high-frequency noise.

    Parameters
    ----------
    x : ndarray of shape (..., H, W, C)
    kind : {"squared", "l1"}
    scale : float
        Measure the differences of ``scale * x``: neural-style takes its TV
        of the network's input, the pixels times 256.

    Returns
    -------
    value : float
    grad : ndarray like `x`
    """
    if x.ndim < 3:
        raise ValueError(f"TV needs an image of shape (..., H, W, C), got {tuple(x.shape)}")
    if kind not in TV_KINDS:
        raise ValueError(f"TV kind must be one of {TV_KINDS}, got {kind!r}")
    xp = get_array_module(x)
    t = x.dtype.type(scale)
    dv = (x[..., 1:, :, :] - x[..., :-1, :, :]) * t    # vertical neighbours
    dh = (x[..., :, 1:, :] - x[..., :, :-1, :]) * t    # horizontal neighbours
    if kind == "squared":
        value = float((dv * dv).sum()) + float((dh * dh).sum())
        # d/db of (b - a)^2 is +2(b - a), d/da is -2(b - a).
        gv, gh = dv * (2 * t), dh * (2 * t)
    else:
        value = float(xp.abs(dv).sum()) + float(xp.abs(dh).sum())
        # d/db of |b - a| is sign(b - a) (0 where they are equal, as PyTorch takes it).
        gv, gh = xp.sign(dv) * t, xp.sign(dh) * t
    grad = xp.zeros_like(x)
    grad[..., 1:, :, :] += gv
    grad[..., :-1, :, :] -= gv
    grad[..., :, 1:, :] += gh
    grad[..., :, :-1, :] -= gh
    return value, grad
