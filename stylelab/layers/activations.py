"""Activations: the rectified linear unit ``y = max(x, 0)`` and ``tanh``."""

from ..backend import get_array_module
from ._checks import check_float


def relu_forward(x):
    """ReLU, element by element.

    Parameters
    ----------
    x : ndarray of any shape, float dtype

    Returns
    -------
    y : ndarray, same shape and dtype as `x`
    cache : ndarray of bool
        Where the input was positive: the only places a gradient passes.
    """
    check_float("relu", "x", x)
    mask = x > 0
    return x * mask, mask


def relu_inplace(x):
    """``max(x, 0)`` written over `x` (inference: no cache, no new memory). Returns `x`."""
    return get_array_module(x).maximum(x, 0, out=x)


def relu_backward(dy, cache):
    """Gradient of :func:`relu_forward`: ``dx = dy`` where ``x > 0``, else 0.

    At exactly ``x = 0`` the gradient is 0, as in PyTorch.
    """
    return dy * cache


def tanh_forward(x):
    """``y = tanh(x)``, element by element (the style network's output squashing).

    Returns
    -------
    y : ndarray like `x`
    cache : `y` (the derivative is ``1 - y^2``)
    """
    check_float("tanh", "x", x)
    y = get_array_module(x).tanh(x)
    return y, y


def tanh_backward(dy, cache):
    """Gradient of :func:`tanh_forward`: ``dx = dy * (1 - y^2)``."""
    return dy * (1 - cache * cache)
