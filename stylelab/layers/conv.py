"""The convolutional layer: the seed's loops, and the same computation as one GEMM.

The seed writes a conv layer as loops (here with a batch axis ``n``)::

    for each filter f:
        for each output position (i, j):
            out[i, j, f] = sum(in[i:i+K, j:j+K, :] * filters[f]) + bias[f]

The filter is *not* flipped: this is cross-correlation, which is what every
deep-learning framework calls convolution. :func:`conv2d_naive` is exactly that.

The fast path, :func:`conv2d_forward`, does the same arithmetic in another
order. :func:`im2col` copies every K x K x C neighbourhood into one row of a
matrix ``cols`` of shape (N*Ho*Wo, K*K*C); each filter, flattened, is a row of
``w2`` of shape (F, K*K*C); then the whole layer is one matrix product::

    y = cols @ w2.T + b        # (N*Ho*Wo, F), i.e. (N, Ho, Wo, F)

Channels-last is what makes this clean: a neighbourhood ``x[n, i:i+K, j:j+K, :]``
flattens in (ky, kx, c) order, and so does a filter ``w[f]`` of shape (K, K, C),
so rows of ``cols`` and rows of ``w2`` line up with no transposes at all.

Stride-1 layers (every layer of VGG) take a faster road to the same numbers,
:mod:`stylelab.layers.shifted`: K*K products on shifted views of the padded
input, with no column matrix at all. ``method="im2col"`` forces the readable
path above, the reference the fast one is tested against.

Output size, per spatial axis, as in PyTorch::

    Ho = floor((H + 2*pad - K) / stride) + 1
"""

from ..backend import get_array_module
from ._checks import check_activation, check_float, check_same_dtype
from .padding import PAD_MODES, pad2d_backward, pad2d_forward
from .blas import matmul
from .strided import correlate_stride2, correlate_stride2_backward
from .shifted import (conv_taps, correlate_valid, correlate_valid_few_filters,
                      correlate_valid_row_gathered, filter_gradient, filter_gradient_row_gathered)

METHODS = ("auto", "im2col", "shifted")


def _choose(method, stride, channels):
    if method not in METHODS:
        raise ValueError(f"conv2d: method must be one of {METHODS}, got {method!r}")
    if method == "shifted" and stride > 2:
        raise ValueError(f"conv2d: the shifted method needs stride 1 or 2, got stride {stride}")
    if method == "auto":
        # Strides 1 and 2 take a shifted road (_correlate and the phases of
        # stylelab.layers.strided); larger strides, im2col.
        return "shifted" if stride <= 2 else "im2col"
    return method


def _conv_geometry(x, w, b, stride, padding, pad_mode):
    """Check the arguments of a conv layer and return its padding in pixels."""
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
    if padding == "same":
        pad = (kh - 1) // 2
    elif isinstance(padding, int) and padding >= 0:
        pad = padding
    else:
        raise ValueError(f"{where}: padding must be 'same' or a non-negative "
                         f"int, got {padding!r}")
    if pad_mode not in PAD_MODES:
        raise ValueError(f"{where}: pad_mode must be one of {PAD_MODES}, got {pad_mode!r}")
    hp, wp = x.shape[1] + 2 * pad, x.shape[2] + 2 * pad
    if kh > hp or kw > wp:
        raise ValueError(f"{where}: kernel {kh}x{kw} is larger than the padded "
                         f"input {hp}x{wp} (x shape {tuple(x.shape)}, padding {pad})")
    return pad


def conv_output_size(size, kernel, stride=1, pad=0):
    """Output length along one axis: ``floor((size + 2*pad - kernel) / stride) + 1``."""
    return (size + 2 * pad - kernel) // stride + 1


def conv2d_naive(x, w, b, stride=1, padding="same", pad_mode="zeros", relu=False):
    """The seed's convolutional layer, written as its loops.

    Slow by design: it is the lesson and the oracle the fast path is tested
    against. Use it on small inputs only.

    Parameters
    ----------
    x : ndarray of shape (N, H, W, C)
        The seed's ``in_arr[IX, IY, IZ]``, with a batch axis in front.
    w : ndarray of shape (F, K, K, C)
        The seed's ``filters[NUM_FILTERS, FLT_SZ, FLT_SZ, IZ]``; K odd.
    b : ndarray of shape (F,)
    stride : int
    padding : "same" or int
        ``"same"`` pads ``(K - 1) // 2`` on every side.
    pad_mode : {"zeros", "reflect"}
    relu : bool
        Apply the ReLU inside the loop, as the seed's layer does.

    Returns
    -------
    y : ndarray of shape (N, Ho, Wo, F)
        ``Ho = floor((H + 2*pad - K) / stride) + 1``, likewise ``Wo``.
    """
    pad = _conv_geometry(x, w, b, stride, padding, pad_mode)
    xp = get_array_module(x, w, b)
    xpad, _ = pad2d_forward(x, pad, pad_mode)
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
    padding : "same" or int
        ``"same"`` pads ``(K - 1) // 2`` pixels on every side.
    pad_mode : {"zeros", "reflect"}
    method : {"auto", "im2col", "shifted"}
        ``"im2col"``: im2col and one GEMM (the reference). ``"shifted"``:
        GEMMs on shifted views (stride 1, the variant suiting the channel
        counts, see :func:`_correlate`; or stride 2, by the input's four
        phases, :mod:`stylelab.layers.strided`). ``"auto"``: shifted for
        strides 1 and 2.

    Returns
    -------
    y : ndarray of shape (N, Ho, Wo, F)
        ``Ho = floor((H + 2*pad - K) / stride) + 1``, likewise ``Wo``;
        same dtype as `x`. (The shifted method returns a view into a
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
    pad = _conv_geometry(x, w, b, stride, padding, pad_mode)
    method = _choose(method, stride, x.shape[3])
    xpad, pad_cache = pad2d_forward(x, pad, pad_mode)
    f, k, _, _ = w.shape
    cache = (xpad, w, stride, pad_cache, method)
    if method == "shifted":
        y = _correlate(xpad, w, b) if stride == 1 else correlate_stride2(xpad, w, b)
        return y, cache
    n, hp, wp, _ = xpad.shape
    ho, wo = conv_output_size(hp, k, stride), conv_output_size(wp, k, stride)
    cols = im2col(xpad, k, stride)             # (N*Ho*Wo, K*K*C)
    y = matmul(cols, w.reshape(f, -1).T)       # cols @ w2.T: (N*Ho*Wo, F)
    y += b
    return y.reshape(n, ho, wo, f), cache


def _correlate(xpad, w, bias=None):
    """Stride-1 'valid' correlation by the shifted road that suits its channel counts.

    Few input channels: gather each window row's taps, K products (the thin
    per-tap products would waste BLAS). Few filters (an RGB output): products
    first, then shifts. Otherwise K*K shifted GEMMs.
    """
    f, k, _, c = w.shape
    if c < 16:
        return correlate_valid_row_gathered(xpad, w, bias)
    if f <= 4:
        return correlate_valid_few_filters(xpad, w, bias)
    return correlate_valid(xpad, conv_taps(w), k, bias=bias)


def conv2d_backward(dy, cache, weight_grads=True, input_grad=True):
    """Gradients of :func:`conv2d_forward`.

    With ``dy2 = dy`` as a (N*Ho*Wo, F) matrix, the forward ``y = cols @ w2.T + b``
    gives the three gradients as matrix products::

        db = dy2.sum(axis=0)           # (F,)
        dw = dy2.T @ cols              # (F, K*K*C) -> (F, K, K, C)
        dx = col2im(dy2 @ w2)          # (N*Ho*Wo, K*K*C) -> (N, H, W, C)

    The shifted method computes the same: ``dx`` as the correlation of ``dy``
    with the flipped, channel-swapped filters, ``dw`` tap by tap.

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
    dx : ndarray of shape (N, H, W, C)
    dw : ndarray of shape (F, K, K, C), or None
    db : ndarray of shape (F,), or None
    """
    xpad, w, stride, pad_cache, method = cache
    f, k, _, _ = w.shape
    n, hp, wp, _ = xpad.shape
    expected = (n, conv_output_size(hp, k, stride), conv_output_size(wp, k, stride), f)
    if tuple(dy.shape) != expected:
        raise ValueError(f"conv2d_backward: dy must have the output's shape "
                         f"{expected}, got {tuple(dy.shape)}")
    if method == "shifted" and stride == 2:
        dxpad, dw = correlate_stride2_backward(dy, xpad, w, weight_grads)
        db = dy.sum(axis=(0, 1, 2)) if weight_grads else None
        return (pad2d_backward(dxpad, pad_cache) if input_grad else None), dw, db
    if method == "shifted":
        return _shifted_backward(dy, xpad, w, pad_cache, weight_grads, input_grad)
    w2 = w.reshape(f, -1)
    dy2 = dy.reshape(-1, f)
    db = dw = None
    if weight_grads:
        db = dy2.sum(axis=0)
        dw = matmul(dy2.T, im2col(xpad, k, stride)).reshape(w.shape)
    if not input_grad:
        return None, dw, db
    dxpad = col2im(matmul(dy2, w2), xpad.shape, k, stride)
    return pad2d_backward(dxpad, pad_cache), dw, db


def _shifted_backward(dy, xpad, w, pad_cache, weight_grads, input_grad):
    k = w.shape[1]
    pad, mode = pad_cache[0], pad_cache[1]
    db = dw = None
    if weight_grads:
        db = dy.sum(axis=(0, 1, 2))
        few = xpad.shape[3] < 16
        dw = (filter_gradient_row_gathered if few else filter_gradient)(xpad, dy, k)
    if not input_grad:
        return None, dw, db
    # dx correlates dy with the filters flipped in space, channels swapped: (C, K, K, F).
    flipped = get_array_module(w).ascontiguousarray(w[:, ::-1, ::-1, :].transpose(3, 1, 2, 0))
    if mode == "zeros" and pad <= k - 1:
        # Only the unpadded input's gradient is wanted: pad dy by K-1-pad.
        dyp, _ = pad2d_forward(dy, k - 1 - pad, "zeros")
        return _correlate(dyp, flipped), dw, db
    # The whole padded input's gradient, then fold the padding back (reflect).
    dyp, _ = pad2d_forward(dy, k - 1, "zeros")
    return pad2d_backward(_correlate(dyp, flipped), pad_cache), dw, db
