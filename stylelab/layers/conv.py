"""The convolutional layer: as loops, and the same computation as one GEMM.

A conv layer written as loops, as the pseudocode of the explainer "TLDR: Artistic Style Transfer"
writes it (here with a batch axis ``n``)::

    for each filter f:
        for each output position (i, j):
            out[i, j, f] = sum(in[i:i+K, j:j+K, :] * filters[f]) + bias[f]

The filter is *not* flipped: this is cross-correlation, which is what every
deep-learning framework calls convolution. :func:`conv2d_naive` is exactly that.

:func:`im2col` copies every K x K x C neighbourhood into one row of a matrix
``cols`` of shape (N*Ho*Wo, K*K*C); each filter, flattened, is a row of
``w2`` of shape (F, K*K*C); then the whole layer is one matrix product::

    y = cols @ w2.T + b        # (N*Ho*Wo, F), i.e. (N, Ho, Wo, F)

Channels-last is what makes this clean: a neighbourhood ``x[n, i:i+K, j:j+K, :]``
flattens in (ky, kx, c) order, and so does a filter ``w[f]`` of shape (K, K, C),
so rows of ``cols`` and rows of ``w2`` line up with no transposes at all.
:func:`conv2d_forward` is that product.

This module is the readable layer, and imports nothing faster. The same layer
on kernels that skip im2col's K*K-fold copy is
:func:`stylelab.layers.fast.conv2d_forward` -- the same arguments, the same
cache, the same numbers -- which the fast networks call. Every kernel there is
tested against this im2col product, and the product against these loops and
PyTorch.

Output size, per spatial axis, as in PyTorch::

    Ho = floor((H + 2*pad - K) / stride) + 1
"""

import warnings

from ..backend import get_array_module
from ._checks import check_activation, check_float, check_same_dtype
from .padding import PAD_MODES, pad2d_backward, pad2d_forward, sides


def check_conv(x, w, b, stride, padding, pad_mode, where="conv2d"):
    """Check the arguments of a conv layer and return its padding, ``(top, bottom, left, right)``."""
    check_activation(where, x)
    if w.ndim != 4:
        raise ValueError(f"{where}: w must have shape (F, KH, KW, C), got shape "
                         f"{tuple(w.shape)}")
    f, kh, kw, c = w.shape
    if b.shape != (f,):
        raise ValueError(f"{where}: b must have shape ({f},) for w of shape "
                         f"{tuple(w.shape)}, got shape {tuple(b.shape)}")
    if x.shape[3] != c:
        raise ValueError(f"{where}: x has {x.shape[3]} channels (shape "
                         f"{tuple(x.shape)}) but w expects {c} (shape {tuple(w.shape)})")
    if kh != kw or kh % 2 == 0:
        raise ValueError(f"{where}: the kernel must be square with an odd size, "
                         f"got {kh}x{kw} (w shape {tuple(w.shape)})")
    check_float(where, "w", w)
    check_float(where, "b", b)
    check_same_dtype(where, x=x, w=w, b=b)
    if not isinstance(stride, int) or stride < 1:
        raise ValueError(f"{where}: stride must be a positive int, got {stride!r}")
    pads = padding_sides(padding, kh, where)
    if pad_mode not in PAD_MODES:
        raise ValueError(f"{where}: pad_mode must be one of {PAD_MODES}, got {pad_mode!r}")
    hp, wp = x.shape[1] + pads[0] + pads[1], x.shape[2] + pads[2] + pads[3]
    if kh > hp or kw > wp:
        raise ValueError(f"{where}: kernel {kh}x{kw} is larger than the padded "
                         f"input {hp}x{wp} (x shape {tuple(x.shape)}, padding {padding})")
    return pads


def padding_sides(padding, k, where):
    """"same", an int or (top, bottom, left, right) -> (top, bottom, left, right)."""
    if padding == "same":
        return ((k - 1) // 2,) * 4
    try:
        return sides(padding, where)
    except ValueError:
        raise ValueError(f"{where}: padding must be 'same', a non-negative int or (top, "
                         f"bottom, left, right), got {padding!r}") from None


def conv_output_size(size, kernel, stride=1, pad=0):
    """Output length along one axis: ``floor((size + 2*pad - kernel) / stride) + 1``."""
    return (size + 2 * pad - kernel) // stride + 1


def conv2d_naive(x, w, b, stride=1, padding="same", pad_mode="zeros", relu=False):
    """The convolutional layer written as its loops (the pseudocode above).

    Slow by design: it is the lesson and the oracle the fast path is tested
    against. Use it on small inputs only.

    Parameters
    ----------
    x : ndarray of shape (N, H, W, C)
        The pseudocode's ``in_arr[IX, IY, IZ]``, with a batch axis in front.
    w : ndarray of shape (F, K, K, C)
        The pseudocode's ``filters[NUM_FILTERS, FLT_SZ, FLT_SZ, IZ]``; K odd.
    b : ndarray of shape (F,)
    stride : int
    padding : "same", int or (top, bottom, left, right)
        ``"same"`` pads ``(K - 1) // 2`` on every side.
    pad_mode : {"zeros", "reflect", "edge"}
    relu : bool
        Apply the ReLU inside the loop, as the pseudocode's layer does.

    Returns
    -------
    y : ndarray of shape (N, Ho, Wo, F)
        ``Ho = floor((H + 2*pad - K) / stride) + 1``, likewise ``Wo``.
    """
    pads = check_conv(x, w, b, stride, padding, pad_mode)
    xp = get_array_module(x, w, b)
    xpad, _ = pad2d_forward(x, pads, pad_mode)
    n_batch, hp, wp, _ = xpad.shape
    n_filters, k, _, _ = w.shape
    ho = conv_output_size(hp, k, stride)
    wo = conv_output_size(wp, k, stride)
    y = xp.empty((n_batch, ho, wo, n_filters), dtype=x.dtype)
    for n in range(n_batch):
        for f in range(n_filters):                    # for each filter
            for i in range(ho):                       # for each output (x, y)
                for j in range(wo):
                    top, left = i * stride, j * stride
                    patch = xpad[n, top:top + k, left:left + k, :]  # K x K x C
                    value = xp.sum(patch * w[f]) + b[f]  # dot with the unflipped filter
                    y[n, i, j, f] = xp.maximum(value, 0) if relu else value
    return y


def im2col(xpad, k, stride=1):
    """Copy every K x K x C neighbourhood of `xpad` into one row of a matrix.

    Parameters
    ----------
    xpad : ndarray of shape (N, Hp, Wp, C)
        The input, already padded.
    k : int
        Kernel size.
    stride : int

    Returns
    -------
    cols : ndarray of shape (N*Ho*Wo, K*K*C)
        Row ``(n, i, j)`` holds ``xpad[n, i*s:i*s+K, j*s:j*s+K, :]`` flattened
        in (ky, kx, c) order -- the order of a flattened filter ``w[f]``.
    """
    xp = get_array_module(xpad)
    n, hp, wp, c = xpad.shape
    ho, wo = conv_output_size(hp, k, stride), conv_output_size(wp, k, stride)
    cols = xp.empty((n, ho, wo, k, k, c), dtype=xpad.dtype)
    if stride == 1:
        # Stride 1: a window's row ky is K*C consecutive numbers of the input
        # (pixels j..j+K-1, all channels), so copy K runs per window, not K*K.
        xpad = xp.ascontiguousarray(xpad)
        rows = cols.reshape(n, ho, wo, k, k * c)
        s = xpad.strides
        for ky in range(k):
            band = xpad[:, ky:ky + ho]
            rows[:, :, :, ky] = xp.lib.stride_tricks.as_strided(
                band, shape=(n, ho, wo, k * c), strides=(s[0], s[1], s[2], s[3]))
        return cols.reshape(n * ho * wo, k * k * c)
    for ky in range(k):
        for kx in range(k):
            # Tap (ky, kx) of every window at once: the input shifted by
            # (ky, kx) and sampled every `stride` pixels.
            cols[:, :, :, ky, kx, :] = xpad[:, ky:ky + stride * ho:stride,
                                            kx:kx + stride * wo:stride, :]
    return cols.reshape(n * ho * wo, k * k * c)


def col2im(cols, padded_shape, k, stride=1):
    """The adjoint of :func:`im2col`: add each row back onto its neighbourhood.

    A pixel belongs to up to K*K neighbourhoods, so its gradient is the sum of
    the K*K entries of ``cols`` that were copied from it.

    Parameters
    ----------
    cols : ndarray of shape (N*Ho*Wo, K*K*C)
    padded_shape : tuple (N, Hp, Wp, C)
    k : int
    stride : int

    Returns
    -------
    dxpad : ndarray of shape (N, Hp, Wp, C)
    """
    xp = get_array_module(cols)
    n, hp, wp, c = padded_shape
    ho, wo = conv_output_size(hp, k, stride), conv_output_size(wp, k, stride)
    cols = cols.reshape(n, ho, wo, k, k, c)
    dxpad = xp.zeros(padded_shape, dtype=cols.dtype)
    for ky in range(k):
        for kx in range(k):
            dxpad[:, ky:ky + stride * ho:stride,
                  kx:kx + stride * wo:stride, :] += cols[:, :, :, ky, kx, :]
    return dxpad


def _im2col_only(method, where):
    """Refuse any method but im2col; ``"auto"``, the fast kernels' old name here, still runs (warned)."""
    if method == "auto":
        warnings.warn(f"{where}: method='auto' is deprecated -- the fast kernels are "
                      f"stylelab.layers.fast.{where}; this readable layer computes im2col",
                      DeprecationWarning, stacklevel=3)
    elif method != "im2col":
        raise ValueError(f"{where}: method must be 'im2col' (the fast kernels are "
                         f"stylelab.layers.fast.{where}), got {method!r}")


def output_shape(padded_shape, w_shape, stride):
    """``(N, Ho, Wo, F)`` of a 'valid' conv of a padded input of `padded_shape` with filters `w_shape`."""
    n, hp, wp, _ = padded_shape
    f, k = w_shape[0], w_shape[1]
    return (n, conv_output_size(hp, k, stride), conv_output_size(wp, k, stride), f)


def check_output_gradient(dy, padded_shape, w_shape, stride, where):
    """Refuse a `dy` that is not shaped as the conv's output."""
    expected = output_shape(padded_shape, w_shape, stride)
    if tuple(dy.shape) != expected:
        raise ValueError(f"{where}: dy must have the output's shape {expected}, "
                         f"got {tuple(dy.shape)}")


def conv2d_forward(x, w, b, stride=1, padding="same", pad_mode="zeros", method="im2col"):
    """Convolution (cross-correlation) plus bias, as im2col and one matrix product.

    Computes the same as :func:`conv2d_naive` (without its ReLU)::

        cols = im2col(pad(x))          # (N*Ho*Wo, K*K*C)
        y = cols @ w2.T + b            # (N*Ho*Wo, F) -> (N, Ho, Wo, F)

    Parameters
    ----------
    x : ndarray of shape (N, H, W, C)
    w : ndarray of shape (F, K, K, C)
        K odd (1, 3, 9, ...).
    b : ndarray of shape (F,)
    stride : int
    padding : "same", int or (top, bottom, left, right)
        ``"same"`` pads ``(K - 1) // 2`` pixels on every side; a tuple pads
        each side its own (TensorFlow's "SAME" for stride 2 is asymmetric:
        :func:`stylelab.layers.padding.same_padding`).
    pad_mode : {"zeros", "reflect", "edge"}
    method : {"im2col"}
        Kept for the old ``method="auto"``, which now warns and computes
        im2col: the fast kernels are :func:`stylelab.layers.fast.conv2d_forward`.

    Returns
    -------
    y : ndarray of shape (N, Ho, Wo, F)
        ``Ho = floor((H + top + bottom - K) / stride) + 1``, likewise ``Wo``;
        same dtype as `x`.
    cache : tuple
        What :func:`conv2d_backward` needs: ``(xpad, w, stride, pad_cache)``,
        the padded input (not the K*K-times larger columns, which the backward
        pass rebuilds). The fast layer's cache is the same.

    Raises
    ------
    ValueError
        On a wrong rank, a channel mismatch, an even or non-square kernel, a
        kernel larger than the padded input, or a non-float dtype.
    """
    pads = check_conv(x, w, b, stride, padding, pad_mode)
    _im2col_only(method, "conv2d_forward")
    xpad, pad_cache = pad2d_forward(x, pads, pad_mode)
    f, k = w.shape[0], w.shape[1]
    cols = im2col(xpad, k, stride)             # (N*Ho*Wo, K*K*C)
    y = cols @ w.reshape(f, -1).T              # (N*Ho*Wo, F)
    y += b
    return y.reshape(output_shape(xpad.shape, w.shape, stride)), (xpad, w, stride, pad_cache)


def conv2d_backward(dy, cache, weight_grads=True, input_grad=True):
    """Gradients of :func:`conv2d_forward`.

    With ``dy2 = dy`` as a (N*Ho*Wo, F) matrix, the forward ``y = cols @ w2.T + b``
    gives the three gradients as matrix products::

        db = dy2.sum(axis=0)           # (F,)
        dw = dy2.T @ cols              # (F, K*K*C) -> (F, K, K, C)
        dx = col2im(dy2 @ w2)          # (N*Ho*Wo, K*K*C) -> (N, H, W, C)

    Parameters
    ----------
    dy : ndarray of shape (N, Ho, Wo, F)
    cache : tuple from :func:`conv2d_forward`
    weight_grads : bool
        False skips `dw` and `db` (returned as None): a frozen network, such
        as VGG looking at an image being optimised, needs only `dx`.
    input_grad : bool
        False skips `dx` (returned as None): a network's first layer, whose
        input is data, needs only `dw` and `db`.

    Returns
    -------
    dx : ndarray of shape (N, H, W, C), or None
    dw : ndarray of shape (F, K, K, C), or None
    db : ndarray of shape (F,), or None
    """
    xpad, w, stride, pad_cache = cache
    check_output_gradient(dy, xpad.shape, w.shape, stride, "conv2d_backward")
    f, k = w.shape[0], w.shape[1]
    dy2 = dy.reshape(-1, f)
    db = dy.sum(axis=(0, 1, 2)) if weight_grads else None
    dw = (dy2.T @ im2col(xpad, k, stride)).reshape(w.shape) if weight_grads else None
    dx = None
    if input_grad:
        dx = pad2d_backward(col2im(dy2 @ w.reshape(f, -1), xpad.shape, k, stride), pad_cache)
    return dx, dw, db


def input_gradient_geometry(dy, w, x_shape, stride, padding, where):
    """The zero padding ``(top, bottom, left, right)`` and padded shape of a conv whose `dy` is given."""
    f, k, _, c = w.shape
    pads = padding_sides(padding, k, where)
    n, h, wd, _ = x_shape
    padded = (n, h + pads[0] + pads[1], wd + pads[2] + pads[3], c)
    expected = output_shape(padded, w.shape, stride)
    if tuple(dy.shape) != expected:
        raise ValueError(f"{where}: dy must have shape {expected} for an input "
                         f"of shape {tuple(x_shape)}, got {tuple(dy.shape)}")
    return pads, padded


def conv2d_input_gradient(dy, w, x_shape, stride=1, padding="same", method="im2col"):
    """The gradient of a zero-padded conv with respect to its input, from `dy` alone: its adjoint.

    This linear map, run forwards, is the transposed ("fractionally strided")
    convolution (:mod:`stylelab.layers.conv_transpose`).

    Parameters
    ----------
    dy : ndarray of shape (N, Ho, Wo, F)
    w : ndarray of shape (F, K, K, C)
    x_shape : tuple (N, H, W, C)
        The conv's input shape (only its shape: the gradient does not depend on `x`).
    stride : int
    padding : "same", int or (top, bottom, left, right)
    method : {"im2col"}
        As :func:`conv2d_forward`'s.

    Returns
    -------
    dx : ndarray of shape `x_shape`
    """
    pads, padded = input_gradient_geometry(dy, w, x_shape, stride, padding,
                                           "conv2d_input_gradient")
    _im2col_only(method, "conv2d_input_gradient")
    f, k = w.shape[0], w.shape[1]
    dxpad = col2im(dy.reshape(-1, f) @ w.reshape(f, -1), padded, k, stride)
    return pad2d_backward(dxpad, (pads, "zeros"))
