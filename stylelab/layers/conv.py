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
``conv2d_forward(..., method="im2col")`` is that product, the reference.

By default (``method="auto"``) strides 1 and 2 skip im2col's K*K-fold copy:
:mod:`stylelab.layers.fast` computes the same numbers with the kernel that
suits the layer's channels and stride. Every kernel is tested against the
im2col reference, and the reference against these loops and PyTorch.

Output size, per spatial axis, as in PyTorch::

    Ho = floor((H + 2*pad - K) / stride) + 1
"""

from ..backend import get_array_module
from ._checks import check_activation, check_float, check_same_dtype
from .fast import correlate, filter_gradient, phases
from .fast.blas import matmul
from .fast.taps import flip_swap
from .padding import PAD_MODES, pad2d_backward, pad2d_forward, sides

METHODS = ("auto", "im2col")


def _conv_geometry(x, w, b, stride, padding, pad_mode):
    """Check the arguments of a conv layer and return its padding, ``(top, bottom, left, right)``."""
    where = "conv2d"
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
    pads = _sides_of(padding, kh, where)
    if pad_mode not in PAD_MODES:
        raise ValueError(f"{where}: pad_mode must be one of {PAD_MODES}, got {pad_mode!r}")
    hp, wp = x.shape[1] + pads[0] + pads[1], x.shape[2] + pads[2] + pads[3]
    if kh > hp or kw > wp:
        raise ValueError(f"{where}: kernel {kh}x{kw} is larger than the padded "
                         f"input {hp}x{wp} (x shape {tuple(x.shape)}, padding {padding})")
    return pads


def _sides_of(padding, k, where):
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
    pads = _conv_geometry(x, w, b, stride, padding, pad_mode)
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


def conv2d_forward(x, w, b, stride=1, padding="same", pad_mode="zeros", method="auto"):
    """Convolution (cross-correlation) plus bias, without the loops.

    Computes the same as :func:`conv2d_naive` (without its ReLU).

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
    method : {"auto", "im2col"}
        ``"im2col"``: im2col and one GEMM (the reference). ``"auto"``: for
        strides 1 and 2, the kernel of :mod:`stylelab.layers.fast` that suits
        the layer's shape; larger strides take im2col.

    Returns
    -------
    y : ndarray of shape (N, Ho, Wo, F)
        ``Ho = floor((H + top + bottom - K) / stride) + 1``, likewise ``Wo``;
        same dtype as `x`. (The fast kernels may return a view into a
        slightly larger buffer.)
    cache : tuple
        What :func:`conv2d_backward` needs: the padded input (not the
        K*K-times larger columns, which the backward pass rebuilds).

    Raises
    ------
    ValueError
        On a wrong rank, a channel mismatch, an even or non-square kernel, a
        kernel larger than the padded input, or a non-float dtype.
    """
    pads = _conv_geometry(x, w, b, stride, padding, pad_mode)
    if method not in METHODS:
        raise ValueError(f"conv2d: method must be one of {METHODS}, got {method!r}")
    fast = method == "auto" and stride <= 2
    xpad, pad_cache = pad2d_forward(x, pads, pad_mode)
    cache = (xpad, w, stride, pad_cache, fast)
    if fast:
        return correlate(xpad, w, b, stride), cache
    f, k, _, _ = w.shape
    n, hp, wp, _ = xpad.shape
    ho, wo = conv_output_size(hp, k, stride), conv_output_size(wp, k, stride)
    cols = im2col(xpad, k, stride)             # (N*Ho*Wo, K*K*C)
    y = matmul(cols, w.reshape(f, -1).T)       # cols @ w2.T: (N*Ho*Wo, F)
    y += b
    return y.reshape(n, ho, wo, f), cache


def conv2d_backward(dy, cache, weight_grads=True, input_grad=True):
    """Gradients of :func:`conv2d_forward`.

    With ``dy2 = dy`` as a (N*Ho*Wo, F) matrix, the forward ``y = cols @ w2.T + b``
    gives the three gradients as matrix products::

        db = dy2.sum(axis=0)           # (F,)
        dw = dy2.T @ cols              # (F, K*K*C) -> (F, K, K, C)
        dx = col2im(dy2 @ w2)          # (N*Ho*Wo, K*K*C) -> (N, H, W, C)

    The fast kernels compute the same: for stride 1, ``dx`` is the
    correlation of ``dy`` with the flipped, channel-swapped filters
    (:func:`~stylelab.layers.fast.taps.flip_swap`), itself run by the kernel
    that suits its shape, and ``dw`` tap by tap.

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
    xpad, w, stride, pad_cache, fast = cache
    f, k, _, _ = w.shape
    n, hp, wp, _ = xpad.shape
    expected = (n, conv_output_size(hp, k, stride), conv_output_size(wp, k, stride), f)
    if tuple(dy.shape) != expected:
        raise ValueError(f"conv2d_backward: dy must have the output's shape "
                         f"{expected}, got {tuple(dy.shape)}")
    db = dy.sum(axis=(0, 1, 2)) if weight_grads else None
    dw = _filter_gradient(dy, xpad, w, stride, fast) if weight_grads else None
    dx = _input_gradient(dy, w, xpad.shape, stride, pad_cache, fast) if input_grad else None
    return dx, dw, db


def conv2d_input_gradient(dy, w, x_shape, stride=1, padding="same", method="auto"):
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
    method : {"auto", "im2col"}

    Returns
    -------
    dx : ndarray of shape `x_shape`
    """
    f, k, _, c = w.shape
    pads = _sides_of(padding, k, "conv2d_input_gradient")
    n, h, wd, _ = x_shape
    padded = (n, h + pads[0] + pads[1], wd + pads[2] + pads[3], c)
    expected = (n, conv_output_size(padded[1], k, stride), conv_output_size(padded[2], k, stride), f)
    if tuple(dy.shape) != expected:
        raise ValueError(f"conv2d_input_gradient: dy must have shape {expected} for an input "
                         f"of shape {tuple(x_shape)}, got {tuple(dy.shape)}")
    fast = method == "auto" and stride <= 2
    return _input_gradient(dy, w, padded, stride, (pads, "zeros"), fast)


def _filter_gradient(dy, xpad, w, stride, fast):
    f, k = w.shape[0], w.shape[1]
    if fast and stride == 2:
        return phases.filter_gradient(dy, xpad, w)
    if fast:
        return filter_gradient(xpad, dy, k)
    return matmul(dy.reshape(-1, f).T, im2col(xpad, k, stride)).reshape(w.shape)


def _input_gradient(dy, w, padded_shape, stride, pad_cache, fast):
    """``dx``: the padded input's gradient, folded back through the padding."""
    f, k = w.shape[0], w.shape[1]
    if not fast:
        dxpad = col2im(matmul(dy.reshape(-1, f), w.reshape(f, -1)), padded_shape, k, stride)
    elif stride == 2:
        dxpad = phases.input_gradient(dy, padded_shape, w)
    else:
        # Stride 1: dy padded by K - 1, correlated with the flipped, channel-swapped filters.
        (top, bottom, left, right), mode = pad_cache
        if mode == "zeros" and max(top, bottom, left, right) <= k - 1:
            # Only the unpadded input's gradient is wanted: pad dy by K-1-pad instead.
            dyp, _ = pad2d_forward(dy, (k - 1 - top, k - 1 - bottom, k - 1 - left,
                                        k - 1 - right), "zeros")
            return correlate(dyp, flip_swap(w))
        dyp, _ = pad2d_forward(dy, k - 1, "zeros")
        dxpad = correlate(dyp, flip_swap(w))
    return pad2d_backward(dxpad, pad_cache)
