"""Stride-1 convolution of few input channels (an RGB image): each row of taps gathered, K products.

With C = 3 a shifted product per tap (:mod:`stylelab.layers.fast.shifted`)
would be a thin (L x 3) @ (3 x F) that BLAS runs far below its peak. But a
window's K taps along one row are K*C numbers that already lie side by side
in memory (pixels p .. p+K-1 of the flat padded grid, all channels), so one
strided copy puts them in a row of their own (:func:`row_taps`, K times the
input, where im2col copies K*K times). The K rows of every window are then
K contiguous slices of that matrix, ``Wp`` rows apart::

    E = row_taps(xpad)                                  # (~L, K*C)
    Y = b;  for each ky:  Y += E[ky*Wp : ky*Wp + L] @ W_ky     # W_ky: (K*C, F)

(:func:`correlate` gathers ``E`` a band of output rows at a time, with the
``(K - 1) * Wp`` rows past the band that its last taps read.)

and the filter gradient is ``dW_ky = E[ky*Wp : ky*Wp + L].T @ dY``.
"""

from ...backend import get_array_module
from .shifted import (BLOCK_BYTES, accumulate, destination, filters_from_taps, gradient_rows,
                      valid_length)
from .workspace import KERNEL_INPUT, scratch


def row_taps(xpad, k, start=0, stop=None, out=None):
    """Each pixel's K horizontal neighbours side by side: (N*Hp*Wp - K + 1, K*C), a copy.

    Row ``p`` is ``X[p], X[p+1], ..., X[p+K-1]`` of the flat padded grid ``X``;
    `start` and `stop` pick rows of it, and `out` (C-contiguous, of their shape)
    takes them if given.
    """
    xp = get_array_module(xpad)
    n, hp, wp, c = xpad.shape
    rows = xp.ascontiguousarray(xpad).reshape(n * hp * wp, c)
    stop = n * hp * wp - k + 1 if stop is None else stop
    item = rows.strides[1]
    view = xp.lib.stride_tricks.as_strided(rows[start:], shape=(stop - start, k * c),
                                           strides=(c * item, item))
    if out is None:
        return xp.ascontiguousarray(view)
    out[...] = view
    return out


def correlate(xpad, w, bias=None, out=None, relu=False, bordered=False, block_rows=None,
              work=None, band_rows=None):
    """Stride-1 'valid' correlation of a padded input with few channels.

    Parameters
    ----------
    xpad : ndarray of shape (N, Hp, Wp, C)
    w : ndarray of shape (F, K, K, C)
    bias : ndarray of shape (F,), optional
    out : ndarray of shape (N, Hp, Wp, F), optional
        The buffer to compute in (C-contiguous); a new one if omitted.
    relu, bordered : bool
    block_rows : int, optional
        As :func:`stylelab.layers.fast.shifted.correlate`.
    work : Workspace, optional
        Where a band's gathered rows live (:func:`row_taps`); new if omitted.
    band_rows : int, optional
        Output rows a band of gathered taps serves (the tests use few).

    Returns
    -------
    y : ndarray of shape (N, Hp - K + 1, Wp - K + 1, F), a view into the (N, Hp, Wp, F) grid
    """
    xp = get_array_module(xpad, w)
    n, hp, wp, c = xpad.shape
    f, k = w.shape[0], w.shape[1]
    xpad = xp.ascontiguousarray(xpad)
    w_rows = xp.ascontiguousarray(w.transpose(1, 2, 3, 0)).reshape(k, k * c, f)
    grid = xp.empty((n, hp, wp, f), dtype=xpad.dtype) if out is None else out
    flat, y = destination(grid, valid_length(xpad.shape, k), k, bordered)
    # The taps are gathered a band of output rows at a time, so that they stay in
    # cache and take megabytes, not K times the input: a band reads K - 1 image
    # rows past its end, so by default it is at least 4 times that long.
    reach = (k - 1) * wp
    band = band_rows or max(4 * reach, BLOCK_BYTES // (f * xpad.itemsize))
    e = scratch(work, KERNEL_INPUT, (min(band, len(flat)) + reach, k * c), xpad.dtype, xp)
    for r0 in range(0, len(flat), band):
        r1 = min(r0 + band, len(flat))
        taps = row_taps(xpad, k, r0, r1 + reach, out=e[:r1 - r0 + reach])
        accumulate(taps, w_rows, [ky * wp for ky in range(k)], flat[r0:r1], bias, relu,
                   block_rows)
    return y


def filter_gradient(xpad, dy, k):
    """``dw`` of :func:`correlate`: ``dW_ky = E[ky*Wp : ky*Wp + L].T @ dY``.

    Parameters
    ----------
    xpad : ndarray of shape (N, Hp, Wp, C)
    dy : ndarray of shape (N, Hp - K + 1, Wp - K + 1, F)
    k : int

    Returns
    -------
    dw : ndarray of shape (F, K, K, C)
    """
    n, hp, wp, _ = xpad.shape
    length = valid_length(xpad.shape, k)
    dflat = gradient_rows(dy, (n, hp, wp, dy.shape[3]), length)
    e = row_taps(xpad, k)
    return filters_from_taps([e[ky * wp:ky * wp + length] for ky in range(k)], dflat, k)
