"""The conv layer on the fast kernels: :mod:`stylelab.layers.conv`'s functions, arguments and cache.

The readable layer pads the input, copies every neighbourhood into a row of
``cols`` (im2col) and makes one matrix product. These functions pad the same
way and hand the padded input to the conv table (:func:`~stylelab.layers.fast.table.correlate`),
which picks the kernel that suits the layer's shape and stride; the backward
pass runs the same table on the gradients:

* ``dx`` for stride 1 is itself a correlation: ``dy`` padded by K - 1 and
  correlated with the flipped, channel-swapped filters
  (:func:`~stylelab.layers.fast.taps.flip_swap`);
* ``dw`` goes tap by tap (or row of taps, for an RGB input);
* stride 2 goes through the input's four phases (:mod:`~stylelab.layers.fast.phases`);
* larger strides, which no network here uses, fall back on the readable layer.

The caches are the readable layer's, ``(xpad, w, stride, pad_cache)``, so a
network may take its forward pass from one and its backward from the other.
``tests/test_fast_paths.py`` holds every path to the readable one.
"""

from ..conv import (check_conv, check_output_gradient, conv2d_backward as readable_backward,
                    conv2d_forward as readable_forward, conv2d_input_gradient as readable_input_gradient,
                    input_gradient_geometry)
from ..padding import pad2d_backward, pad2d_forward
from . import phases
from .table import correlate, filter_gradient
from .taps import flip_swap


def conv2d_forward(x, w, b, stride=1, padding="same", pad_mode="zeros"):
    """:func:`stylelab.layers.conv2d_forward`, on the kernel the conv table picks.

    Parameters and returns as there (without ``method``); `y` may be a view
    into a slightly larger buffer.
    """
    if stride > 2:
        return readable_forward(x, w, b, stride, padding, pad_mode)
    pads = check_conv(x, w, b, stride, padding, pad_mode)
    xpad, pad_cache = pad2d_forward(x, pads, pad_mode)
    return correlate(xpad, w, b, stride), (xpad, w, stride, pad_cache)


def conv2d_backward(dy, cache, weight_grads=True, input_grad=True):
    """:func:`stylelab.layers.conv2d_backward`, on the fast kernels: ``(dx, dw, db)``."""
    xpad, w, stride, pad_cache = cache
    if stride > 2:
        return readable_backward(dy, cache, weight_grads, input_grad)
    check_output_gradient(dy, xpad.shape, w.shape, stride, "conv2d_backward")
    db = dw = dx = None
    if weight_grads:
        db = dy.sum(axis=(0, 1, 2))
        dw = (phases.filter_gradient(dy, xpad, w) if stride == 2
              else filter_gradient(xpad, dy, w.shape[1]))
    if input_grad:
        dx = _input_gradient(dy, w, xpad.shape, stride, pad_cache)
    return dx, dw, db


def conv2d_input_gradient(dy, w, x_shape, stride=1, padding="same"):
    """:func:`stylelab.layers.conv2d_input_gradient`, on the fast kernels."""
    if stride > 2:
        return readable_input_gradient(dy, w, x_shape, stride, padding)
    pads, padded = input_gradient_geometry(dy, w, x_shape, stride, padding,
                                           "conv2d_input_gradient")
    return _input_gradient(dy, w, padded, stride, (pads, "zeros"))


def _input_gradient(dy, w, padded_shape, stride, pad_cache):
    """``dx``: the padded input's gradient, folded back through the padding."""
    k = w.shape[1]
    (top, bottom, left, right), mode = pad_cache
    if stride == 2 and mode == "zeros":         # the padding's gradient is never made
        return phases.input_gradient(dy, padded_shape, w, crop=(top, bottom, left, right))
    if stride == 2:
        return pad2d_backward(phases.input_gradient(dy, padded_shape, w), pad_cache)
    if mode == "zeros" and max(top, bottom, left, right) <= k - 1:
        # Only the unpadded input's gradient is wanted: pad dy by K-1-pad instead.
        dyp, _ = pad2d_forward(dy, (k - 1 - top, k - 1 - bottom, k - 1 - left,
                                    k - 1 - right), "zeros")
        return correlate(dyp, flip_swap(w))
    dyp, _ = pad2d_forward(dy, k - 1, "zeros")
    return pad2d_backward(correlate(dyp, flip_swap(w)), pad_cache)
