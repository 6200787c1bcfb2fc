"""Stride-1 convolution as K*K matrix products on shifted views: no im2col.

im2col copies each of the K*K taps of every neighbourhood into a matrix
K*K times the size of the input. With channels-last arrays there is a way to
skip that copy. Flatten the padded input ``xpad`` (N, Hp, Wp, C) to rows
``X = xpad.reshape(-1, C)``, one row per pixel. Moving one pixel right is
moving one row down in ``X``; moving one pixel down is moving ``Wp`` rows. So
tap (ky, kx) of the output at flat position ``p`` is row ``p + ky*Wp + kx``,
and *all* outputs' tap (ky, kx) is one contiguous slice of ``X``::

    Y[p] = sum over (ky, kx) of  X[p + ky*Wp + kx] @ w[:, ky, kx, :].T  (+ b)

    Y = b;  for each tap t = (ky, kx):  Y += X[off_t : off_t + L] @ W_t     # W_t: (C, F)

Each output row ``p = (n, i, j)`` is computed on the padded grid, so the
``K - 1`` columns at the end of each row (and the rows between images) are
computed too and thrown away: a few percent more arithmetic for no copies.
The products accumulate in place (BLAS ``gemm`` with ``beta = 1``, see
:mod:`stylelab.layers.fast.blas`), so the only memory is the input and the output;
and they go a block of output rows at a time, every tap into one block before
the next (:func:`accumulate`), so that block stays in the processor's cache.

The filter gradient is the same slices met by ``dY``: ``dW_t = X[off_t : off_t + L].T @ dY``.
(The input gradient is a correlation too, with :func:`~stylelab.layers.fast.taps.flip_swap`'s
filters: :mod:`stylelab.layers.conv` runs it through whichever kernel suits its shape.)

The helpers :func:`valid_length`, :func:`destination`,
:func:`gradient_rows` and :func:`accumulate` describe the flat padded grid
and run the products; the other shifted kernels (row taps, phases) share them.
"""

from ...backend import get_array_module
from .blas import gemm_accumulate, matmul

BLOCK_BYTES = 2 << 20     # the output rows that take every tap at once (row_blocks)
MIN_BLOCK_ROWS = 4096     # and never fewer rows than this: each product must stay large

def valid_length(shape, k):
    """Rows of the flat padded grid (shape (N, Hp, Wp, ...)) a K x K 'valid' pass computes:
    every output position, up to the last output's row (its last tap is the grid's last row)."""
    n, hp, wp = shape[:3]
    return n * hp * wp - (k - 1) * wp - (k - 1)


def row_blocks(length, row_bytes, block_rows=None):
    """``(start, stop)`` blocks covering rows ``0 .. length``, the last one partial.

    By default a block is about :data:`BLOCK_BYTES` of output (at least
    :data:`MIN_BLOCK_ROWS` rows); `block_rows` sets its rows (the tests use a
    few, to run several blocks and a remainder). Measured (``docs/speed.md``):
    2 MB blocks make VGG's 64- and 128-channel layers 15-20% faster than one
    pass per tap over the whole output.
    """
    step = block_rows or max(MIN_BLOCK_ROWS, BLOCK_BYTES // row_bytes)
    return [(r0, min(r0 + step, length)) for r0 in range(0, length, step)]


def gradient_rows(dy, grid_shape, length):
    """`dy` (N, Ho, Wo, F) on a zero (N, Hp, Wp, F) grid -- zero where the forward's extra
    columns and rows were thrown away -- flattened to its first `length` rows."""
    grid = get_array_module(dy).zeros(grid_shape, dtype=dy.dtype)
    grid[:, :dy.shape[1], :dy.shape[2]] = dy
    return grid.reshape(-1, grid_shape[3])[:length]


def accumulate(sources, weights, offsets, out, bias=None, relu=False, block_rows=None):
    """``out[p] = bias + sum_t sources[p + offsets[t]] @ weights[t]``, then a ReLU if asked.

    The loop of the shifted and row-tap kernels: a block of output rows takes
    every tap before the next block (:func:`row_blocks`), so it stays in cache
    instead of the whole output being read and written once per tap; the bias
    goes in, and the ReLU comes after, while the block is there too.

    Parameters
    ----------
    sources : ndarray of shape (R, C)
        Flat rows the taps read (``R >= len(out) + max(offsets)``).
    weights : ndarray of shape (T, C, F)
    offsets : sequence of T ints
    out : ndarray of shape (L, F), C-contiguous, overwritten
    bias : ndarray of shape (F,), optional
    relu : bool
    block_rows : int, optional
        Rows a block (:func:`row_blocks`).

    Returns
    -------
    out
    """
    xp = get_array_module(sources, out)
    for r0, r1 in row_blocks(len(out), out.shape[1] * out.itemsize, block_rows):
        block = out[r0:r1]
        block[...] = 0 if bias is None else bias
        for t, offset in enumerate(offsets):
            gemm_accumulate(sources[r0 + offset:r1 + offset], weights[t], block)
        if relu:
            xp.maximum(block, 0, out=block)
    return out


def destination(grid, length, k, bordered):
    """Where the `length` flat output rows go in `grid` (N, Hp, Wp, F), and the output's view.

    Output ``(i, j)`` of a 'valid' pass is flat row ``i * Wp + j`` of the grid
    (the rest of the grid is zeroed). With `bordered`, every row moves on by
    ``(K // 2) * (Wp + 1)``: output ``(i, j)`` lands at ``(i + K//2, j + K//2)``,
    inside the border a 'same' conv after it reads -- and the thrown-away
    columns and rows land *on* that border, which the caller then fills.
    """
    n, hp, wp, f = grid.shape
    flat = grid.reshape(-1, f)
    if bordered:
        lead = (k // 2) * (wp + 1)
        return flat[lead:lead + length], grid[:, k // 2:hp - k // 2, k // 2:wp - k // 2, :]
    flat[length:] = 0
    return flat[:length], grid[:, :hp - k + 1, :wp - k + 1, :]


def correlate(xpad, taps, k, bias=None, out=None, relu=False, bordered=False, block_rows=None):
    """Stride-1 'valid' correlation of an already padded input, by shifted GEMMs.

    Parameters
    ----------
    xpad : ndarray of shape (N, Hp, Wp, C)
    taps : ndarray of shape (K*K, C, F)
        From :func:`~stylelab.layers.fast.taps.conv_taps`.
    k : int
    bias : ndarray of shape (F,), optional
    out : ndarray of shape (N, Hp, Wp, F), optional
        The buffer to compute in (C-contiguous); a new one if omitted.
    relu : bool
        Apply a ReLU to the result (block by block, while it is in cache).
    bordered : bool
        Write the result inside `out`'s border of K // 2, ready for the next
        'same' conv to read; that border is left holding junk for the caller
        to zero (or mirror). See :func:`destination`.
    block_rows : int, optional
        Output rows a block (:func:`row_blocks`; by default about 2 MB).

    Returns
    -------
    y : ndarray of shape (N, Hp - K + 1, Wp - K + 1, F)
        A view into the (N, Hp, Wp, F) buffer (the computed-and-ignored
        columns are its last K - 1, or its border); same dtype as `xpad`.
    """
    xp = get_array_module(xpad, taps)
    n, hp, wp, c = xpad.shape
    rows = xp.ascontiguousarray(xpad).reshape(n * hp * wp, c)
    grid = xp.empty((n, hp, wp, taps.shape[2]), dtype=xpad.dtype) if out is None else out
    flat, y = destination(grid, valid_length(xpad.shape, k), k, bordered)
    offsets = [ky * wp + kx for ky in range(k) for kx in range(k)]
    accumulate(rows, taps, offsets, flat, bias, relu, block_rows)
    return y


def filter_gradient(xpad, dy, k):
    """``dw`` of a stride-1 correlation: ``dW_t = X[off_t : off_t + L].T @ dY``.

    Parameters
    ----------
    xpad : ndarray of shape (N, Hp, Wp, C)
    dy : ndarray of shape (N, Hp - K + 1, Wp - K + 1, F)
    k : int

    Returns
    -------
    dw : ndarray of shape (F, K, K, C)
    """
    xp = get_array_module(xpad, dy)
    n, hp, wp, c = xpad.shape
    length = valid_length(xpad.shape, k)
    dflat = gradient_rows(dy, (n, hp, wp, dy.shape[3]), length)
    rows = xp.ascontiguousarray(xpad).reshape(n * hp * wp, c)
    offsets = [ky * wp + kx for ky in range(k) for kx in range(k)]
    return filters_from_taps([rows[o:o + length] for o in offsets], dflat, k)


def filters_from_taps(slices, dflat, k):
    """``dW_t = slices[t].T @ dY`` for every tap (or row of taps) t, as filters (F, K, K, C).

    The filter gradient of every shifted kernel (shifted, row taps, phases): each
    tap's slice of the input's flat rows meets the output's gradient `dflat`
    (L, F); the K*K taps' (C, F) products -- or the K rows' (K*C, F) -- stacked
    in (ky, kx, c) order are the filters' gradient, moved to (F, K, K, C).
    """
    xp = get_array_module(dflat)
    dw = xp.stack([matmul(s.T, dflat) for s in slices])       # (T, C or K*C, F)
    f = dflat.shape[1]
    return xp.ascontiguousarray(dw.reshape(k, k, -1, f).transpose(3, 0, 1, 2))
