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
    cache : (x_hat, inv_std, gamma)
        ``inv_std`` of shape (N, 1, 1, C).
    """
    check_activation("instance_norm", x)
    c = x.shape[3]
    if gamma.shape != (c,) or beta.shape != (c,):
        raise ValueError(f"instance_norm: gamma and beta must have shape ({c},) for x of "
                         f"shape {tuple(x.shape)}, got {tuple(gamma.shape)} and "
                         f"{tuple(beta.shape)}")
    check_same_dtype("instance_norm", x=x, gamma=gamma, beta=beta)
    xp = get_array_module(x)
    mu = x.mean(axis=(1, 2), keepdims=True)
    centred = x - mu
    var = (centred * centred).mean(axis=(1, 2), keepdims=True)
    inv_std = 1 / xp.sqrt(var + x.dtype.type(eps))
    x_hat = centred * inv_std
    return x_hat * gamma + beta, (x_hat, inv_std, gamma)


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
    dbeta = dy.sum(axis=(0, 1, 2))
    dgamma = (dy * x_hat).sum(axis=(0, 1, 2))
    dx_hat = dy * gamma
    mean_d = dx_hat.mean(axis=(1, 2), keepdims=True)
    mean_dx = (dx_hat * x_hat).mean(axis=(1, 2), keepdims=True)
    dx = (dx_hat - mean_d - x_hat * mean_dx) * inv_std
    return dx, dgamma, dbeta
