"""Instance normalisation (Ulyanov et al. 2016), as Johnson et al.'s network uses it.

Each image's each channel is normalised over its own H x W positions, at
training and at test time alike (no running statistics), then scaled and
shifted by learned per-channel ``gamma`` and ``beta``::

    mu = mean(x[n, :, :, c]),   var = mean((x[n, :, :, c] - mu)^2)     (biased)
    x_hat = (x - mu) / sqrt(var + eps),      y = gamma * x_hat + beta

Removing each image's contrast is what lets a style network ignore the
photo's lighting; it is why instance norm beat batch norm for stylisation.

Batch norm, at test time, is a fixed per-channel scale and shift
(:func:`scale_shift_forward`): what the earliest published style networks use.
"""

from ..backend import get_array_module
from ._checks import check_activation, check_same_dtype


def _check_scale_and_shift(where, x, gamma, beta):
    """Refuse a `gamma` or `beta` that is not one number per channel of `x`, or of another dtype."""
    c = x.shape[3]
    if gamma.shape != (c,) or beta.shape != (c,):
        raise ValueError(f"{where}: gamma and beta must have shape ({c},) for x of shape "
                         f"{tuple(x.shape)}, got {tuple(gamma.shape)} and {tuple(beta.shape)}")
    check_same_dtype(where, x=x, gamma=gamma, beta=beta)


def instance_norm_forward(x, gamma, beta, eps=1e-5, inplace=False):
    """Instance normalisation with an affine scale and shift.

    Parameters
    ----------
    x : ndarray of shape (N, H, W, C)
    gamma, beta : ndarray of shape (C,)
    eps : float
        Added to the variance, as PyTorch's ``InstanceNorm2d`` (1e-5).
    inplace : bool
        Inference: normalise in `x`'s own memory and return no cache. At
        1024 px every fresh activation costs tens of milliseconds of page
        faults.

    Returns
    -------
    y : ndarray of shape (N, H, W, C)
        `x` itself if `inplace`.
    cache : (x_hat, inv_std, gamma), or None if `inplace`
        ``inv_std`` of shape (N, C).
    """
    check_activation("instance_norm", x)
    _check_scale_and_shift("instance_norm", x, gamma, beta)
    xp = get_array_module(x)
    n, h, w, _ = x.shape
    m = x.dtype.type(h * w)
    # einsum reduces over the positions in one pass, on views too (a conv's
    # output is a view into its padded grid): no copy, no NumPy BLAS call.
    mu = xp.einsum("nhwc->nc", x) / m
    x_hat = xp.subtract(x, mu[:, None, None, :], out=x if inplace else None)
    var = xp.einsum("nhwc,nhwc->nc", x_hat, x_hat) / m
    inv_std = 1 / xp.sqrt(var + x.dtype.type(eps))
    if inplace:
        x_hat *= (inv_std * gamma)[:, None, None, :]
        x_hat += beta
        return x_hat, None
    x_hat *= inv_std[:, None, None, :]
    y = x_hat * gamma
    y += beta
    return y, (x_hat, inv_std, gamma)


def instance_norm_backward(dy, cache):
    """Gradients of :func:`instance_norm_forward`.

    With means over each image's channel (its H x W positions)::

        dbeta  = sum(dy)                 dgamma = sum(dy * x_hat)
        dx_hat = dy * gamma
        dx     = inv_std * (dx_hat - mean(dx_hat) - x_hat * mean(dx_hat * x_hat))

    (the mean and the variance both depend on every position, hence the two
    correction terms).

    Returns
    -------
    dx : ndarray of shape (N, H, W, C)
    dgamma, dbeta : ndarray of shape (C,)
    """
    x_hat, inv_std, gamma = cache
    xp = get_array_module(dy)
    n, h, w, c = x_hat.shape
    m = dy.dtype.type(h * w)
    dbeta = xp.einsum("nhwc->c", dy)
    dgamma = xp.einsum("nhwc,nhwc->c", dy, x_hat)
    dx_hat = dy * gamma
    mean_d = xp.einsum("nhwc->nc", dx_hat) / m
    mean_dx = xp.einsum("nhwc,nhwc->nc", dx_hat, x_hat) / m
    dx_hat -= mean_d[:, None, None, :]
    dx_hat -= x_hat * mean_dx[:, None, None, :]
    dx_hat *= inv_std[:, None, None, :]
    return dx_hat, dgamma, dbeta


def scale_shift_forward(x, gamma, beta, inplace=False):
    """A per-channel scale and shift, ``y = gamma * x + beta``: batch norm at test time.

    At inference batch normalisation uses the statistics it gathered in
    training, ``(x - running_mean) / sqrt(running_var + eps) * weight + bias``,
    which is a scale ``gamma = weight / sqrt(running_var + eps)`` and a shift
    ``beta = bias - running_mean * gamma`` (Johnson et al.'s ECCV'16 models;
    :mod:`stylelab.files.torch7_models` folds them so when it reads one).

    Parameters
    ----------
    x : ndarray of shape (N, H, W, C)
    gamma, beta : ndarray of shape (C,)
    inplace : bool
        Inference: write over `x`, return no cache.

    Returns
    -------
    y : ndarray of shape (N, H, W, C)
    cache : (x, gamma), or None if `inplace`
    """
    check_activation("scale_shift", x)
    _check_scale_and_shift("scale_shift", x, gamma, beta)
    if inplace:
        x *= gamma
        x += beta
        return x, None
    return x * gamma + beta, (x, gamma)


def scale_shift_backward(dy, cache):
    """Gradients of :func:`scale_shift_forward`: ``dx = gamma dy``, ``dgamma = sum(dy x)``, ``dbeta = sum(dy)``."""
    x, gamma = cache
    xp = get_array_module(dy)
    return dy * gamma, xp.einsum("nhwc,nhwc->c", dy, x), xp.einsum("nhwc->c", dy)
