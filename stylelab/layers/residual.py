"""The residual block of Johnson et al.'s network: conv-IN-ReLU-conv-IN, plus the input.

::

    h = IN2(conv2(ReLU(IN1(conv1(x)))))        3x3 convs, reflection padding
    y = x + h

The identity path lets the block learn only a correction to its input, which
is why a stack of five trains easily; the backward pass adds the gradient of
the identity (``dy`` itself) to the branch's.
"""

from .activations import relu_backward, relu_forward, relu_inplace
from .conv import conv2d_backward, conv2d_forward
from .normalization import instance_norm_backward, instance_norm_forward

PARAMS = ("w1", "b1", "gamma1", "beta1", "w2", "b2", "gamma2", "beta2")


def residual_block_forward(x, params, keep_cache=True):
    """One residual block.

    Parameters
    ----------
    x : ndarray of shape (N, H, W, C)
    params : dict
        ``w1``, ``w2`` of shape (C, 3, 3, C); ``b1``, ``b2``, ``gamma1``,
        ``beta1``, ``gamma2``, ``beta2`` of shape (C,).
    keep_cache : bool
        False for inference: the norms and the ReLU work in place and no
        cache is returned.

    Returns
    -------
    y : ndarray of shape (N, H, W, C)
    cache : the five layers' caches, or None
    """
    missing = [k for k in PARAMS if k not in params]
    if missing:
        raise ValueError(f"residual_block: params lack {missing}")
    if not keep_cache:
        h, _ = conv2d_forward(x, params["w1"], params["b1"], padding="same", pad_mode="reflect")
        h, _ = instance_norm_forward(h, params["gamma1"], params["beta1"], inplace=True)
        h = relu_inplace(h)
        h, _ = conv2d_forward(h, params["w2"], params["b2"], padding="same", pad_mode="reflect")
        h, _ = instance_norm_forward(h, params["gamma2"], params["beta2"], inplace=True)
        h += x
        return h, None
    h, c1 = conv2d_forward(x, params["w1"], params["b1"], padding="same", pad_mode="reflect")
    h, c2 = instance_norm_forward(h, params["gamma1"], params["beta1"])
    h, c3 = relu_forward(h)
    h, c4 = conv2d_forward(h, params["w2"], params["b2"], padding="same", pad_mode="reflect")
    h, c5 = instance_norm_forward(h, params["gamma2"], params["beta2"])
    return x + h, (c1, c2, c3, c4, c5)


def residual_block_backward(dy, cache):
    """Gradients of :func:`residual_block_forward`.

    Returns
    -------
    dx : ndarray of shape (N, H, W, C)
    grads : dict with the keys of ``params``
    """
    c1, c2, c3, c4, c5 = cache
    grads = {}
    d, grads["gamma2"], grads["beta2"] = instance_norm_backward(dy, c5)
    d, grads["w2"], grads["b2"] = conv2d_backward(d, c4)
    d = relu_backward(d, c3)
    d, grads["gamma1"], grads["beta1"] = instance_norm_backward(d, c2)
    d, grads["w1"], grads["b1"] = conv2d_backward(d, c1)
    return dy + d, grads
