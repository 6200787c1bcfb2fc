"""Instance normalisation (Ulyanov et al. 2016), as Johnson et al.'s network uses it.

Each image's each channel is normalised over its own H x W positions, at
training and at test time alike (no running statistics), then scaled and
shifted by learned per-channel ``gamma`` and ``beta``::

    mu = mean(x[n, :, :, c]),   var = mean((x[n, :, :, c] - mu)^2)     (biased)
    x_hat = (x - mu) / sqrt(var + eps),      y = gamma * x_hat + beta

Removing each image's contrast is what lets a style network ignore the
photo's lighting; it is why instance norm beat batch norm for stylisation.
"""

from ..backend import get_array_module
from ._checks import check_activation, check_same_dtype
from .blas import matmul


def instance_norm_forward(x, gamma, beta, eps=1e-5):
    """Instance normalisation with an affine scale and shift.

    Parameters
    ----------
    x : ndarray of shape (N, H, W, C)
    gamma, beta : ndarray of shape (C,)
    eps : float
        Added to the variance, as PyTorch's ``InstanceNorm2d`` (1e-5).

    Returns
    -------
    y : ndarray of shape (N, H, W, C)
    cache : (x_hat, inv_std, gamma, shape)
        ``x_hat`` of shape (N, H*W, C), ``inv_std`` of shape (N, C).
    """
    check_activation("instance_norm", x)
    c = x.shape[3]
    if gamma.shape != (c,) or beta.shape != (c,):
        raise ValueError(f"instance_norm: gamma and beta must have shape ({c},) for x of "
                         f"shape {tuple(x.shape)}, got {tuple(gamma.shape)} and "
                         f"{tuple(beta.shape)}")
    check_same_dtype("instance_norm", x=x, gamma=gamma, beta=beta)
    xp = get_array_module(x)
    n, h, w, _ = x.shape
    xm = x.reshape(n, h * w, c)                  # each image's positions, as rows
    mu = _mean_over_positions(xm, xp)
    x_hat = xm - mu[:, None, :]
    var = xp.einsum("nmc,nmc->nc", x_hat, x_hat) / x.dtype.type(h * w)
    inv_std = 1 / xp.sqrt(var + x.dtype.type(eps))
    x_hat *= inv_std[:, None, :]
    y = x_hat * gamma
    y += beta
    return y.reshape(x.shape), (x_hat, inv_std, gamma, x.shape)


def _mean_over_positions(xm, xp):
    """(N, M, C) -> (N, C): the mean of each image's channel, as one BLAS product.

    (A reduction over the middle axis of channels-last data is NumPy's slow
    case; ``ones @ xm`` is a matrix-vector product. It goes through
    :func:`~stylelab.layers.blas.matmul`, the BLAS every conv uses: switching
    between NumPy's and SciPy's BLAS thread pools halves the convs' speed.)
    """
    n, m, c = xm.shape
    ones = xp.ones((n, 1, m), dtype=xm.dtype)
    return matmul(ones, xm).reshape(n, c) / xm.dtype.type(m)


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
    x_hat, inv_std, gamma, shape = cache
    xp = get_array_module(dy)
    n, m, c = x_hat.shape
    dym = dy.reshape(n, m, c)
    dbeta = _mean_over_positions(dym.reshape(1, n * m, c), xp)[0] * dy.dtype.type(n * m)
    dgamma = xp.einsum("nmc,nmc->c", dym, x_hat)
    dx_hat = dym * gamma
    mean_d = _mean_over_positions(dx_hat, xp)
    mean_dx = xp.einsum("nmc,nmc->nc", dx_hat, x_hat) / dy.dtype.type(m)
    dx_hat -= mean_d[:, None, :]
    dx_hat -= x_hat * mean_dx[:, None, :]
    dx_hat *= inv_std[:, None, :]
    return dx_hat.reshape(shape), dgamma, dbeta
