"""The fast stride-1 convolution: K*K matrix products on shifted views, no im2col.

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
:mod:`stylelab.layers.blas`), so the only memory is the input and the output.

The backward pass is the same operation: the gradient with respect to the
input is the correlation of ``dy`` (padded by ``K - 1``) with the filters
flipped in space and transposed in channels; the filter gradient is
``dW_t = X[off_t : off_t + L].T @ dY``. :mod:`stylelab.layers.conv` uses these
for every stride-1 layer, and tests them against its im2col reference.
"""

from ..backend import get_array_module
from .blas import gemm_accumulate, matmul


def valid_length(shape, k):
    """Rows of the flat padded grid (shape (N, Hp, Wp, ...)) a K x K 'valid' pass computes:
    every output position, up to the last output's row (its last tap is the grid's last row)."""
    n, hp, wp = shape[:3]
    return n * hp * wp - (k - 1) * wp - (k - 1)


def output_rows(grid, length, bias=None):
    """The first `length` rows of `grid` (N, Hp, Wp, F) flattened, set to `bias` (or 0),
    the rest zeroed: where the shifted products accumulate."""
    flat = grid.reshape(-1, grid.shape[3])
    out = flat[:length]
    out[...] = 0 if bias is None else bias
    flat[length:] = 0
    return out


def gradient_rows(dy, grid_shape, length):
    """`dy` (N, Ho, Wo, F) on a zero (N, Hp, Wp, F) grid -- zero where the forward's extra
    columns and rows were thrown away -- flattened to its first `length` rows."""
    grid = get_array_module(dy).zeros(grid_shape, dtype=dy.dtype)
    grid[:, :dy.shape[1], :dy.shape[2]] = dy
    return grid.reshape(-1, grid_shape[3])[:length]


def conv_taps(w):
    """Filters (F, K, K, C) as K*K matrices (C, F), contiguous: ``taps[ky*K + kx] = w[:, ky, kx, :].T``."""
    xp = get_array_module(w)
    f, k, _, c = w.shape
    return xp.ascontiguousarray(w.transpose(1, 2, 3, 0).reshape(k * k, c, f))


def backward_taps(w):
    """The taps of the input-gradient correlation: `w` flipped in space, channels swapped.

    ``taps[ky*K + kx] = w[:, K-1-ky, K-1-kx, :]``, shape (K*K, F, C).
    """
    xp = get_array_module(w)
    f, k, _, c = w.shape
    return xp.ascontiguousarray(w[:, ::-1, ::-1, :].transpose(1, 2, 0, 3).reshape(k * k, f, c))


def correlate_valid(xpad, taps, k, bias=None, out=None):
    """Stride-1 'valid' correlation of an already padded input, by shifted GEMMs.

    Parameters
    ----------
    xpad : ndarray of shape (N, Hp, Wp, C)
    taps : ndarray of shape (K*K, C, F)
        From :func:`conv_taps` (or :func:`backward_taps`).
    k : int
    bias : ndarray of shape (F,), optional
    out : ndarray of shape (N, Hp, Wp, F), optional
        The buffer to compute in (C-contiguous); a new one if omitted.

    Returns
    -------
    y : ndarray of shape (N, Hp - K + 1, Wp - K + 1, F)
        A view into the (N, Hp, Wp, F) buffer (the computed-and-ignored
        columns are its last K - 1); same dtype as `xpad`.
    """
    xp = get_array_module(xpad, taps)
    n, hp, wp, c = xpad.shape
    f = taps.shape[2]
    rows = xp.ascontiguousarray(xpad).reshape(n * hp * wp, c)
    grid = xp.empty((n, hp, wp, f), dtype=xpad.dtype) if out is None else out
    length = valid_length(xpad.shape, k)
    out = output_rows(grid, length, bias)
    for ky in range(k):
        for kx in range(k):
            offset = ky * wp + kx
            gemm_accumulate(rows[offset:offset + length], taps[ky * k + kx], out)
    return grid[:, :hp - k + 1, :wp - k + 1, :]


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
    f = dy.shape[3]
    length = valid_length(xpad.shape, k)
    dflat = gradient_rows(dy, (n, hp, wp, f), length)
    rows = xp.ascontiguousarray(xpad).reshape(n * hp * wp, c)
    dw = xp.empty((k, k, c, f), dtype=dy.dtype)
    for ky in range(k):
        for kx in range(k):
            offset = ky * wp + kx
            dw[ky, kx] = matmul(rows[offset:offset + length].T, dflat)
    return xp.ascontiguousarray(dw.transpose(3, 0, 1, 2))


def correlate_valid_gathered(xpad, w, bias=None, out=None):
    """:func:`correlate_valid` for few input channels: gather the taps, one product.

    With C = 3 (an RGB image) each shifted product would be a thin
    (L x 3) @ (3 x F). Instead the K*K taps of every output are gathered into
    columns -- im2col, but on the padded grid's flat rows, so each tap is one
    contiguous slice -- and multiplied by all filters at once.

    Parameters
    ----------
    xpad : ndarray of shape (N, Hp, Wp, C)
    w : ndarray of shape (F, K, K, C)
    bias : ndarray of shape (F,), optional
    out : ndarray of shape (N, Hp, Wp, F), optional

    Returns
    -------
    y : ndarray of shape (N, Hp - K + 1, Wp - K + 1, F), a view into `out`
    """
    xp = get_array_module(xpad, w)
    n, hp, wp, c = xpad.shape
    f, k = w.shape[0], w.shape[1]
    rows = xp.ascontiguousarray(xpad).reshape(n * hp * wp, c)
    length = valid_length(xpad.shape, k)
    cols = xp.empty((length, k * k * c), dtype=xpad.dtype)
    for t in range(k * k):
        offset = (t // k) * wp + t % k
        cols[:, t * c:(t + 1) * c] = rows[offset:offset + length]
    grid = xp.empty((n, hp, wp, f), dtype=xpad.dtype) if out is None else out
    flat = grid.reshape(n * hp * wp, f)
    matmul(cols, w.reshape(f, k * k * c).T, out=flat[:length])
    if bias is not None:
        flat[:length] += bias
    flat[length:] = 0
    return grid[:, :hp - k + 1, :wp - k + 1, :]


def correlate_valid_gathered_backward(dpad, w):
    """The input gradient of :func:`correlate_valid_gathered` with 'same' padding (K - 1) / 2.

    Parameters
    ----------
    dpad : ndarray of shape (N, H + K - 1, W + K - 1, F)
        The output gradient inside a zero border of (K - 1) / 2.
    w : ndarray of shape (F, K, K, C)

    Returns
    -------
    dx : ndarray of shape (N, H, W, C)
        Each output's gradient times the filters, (L, K*K*C), scattered back
        onto the taps it came from (col2im on the flat rows).
    """
    xp = get_array_module(dpad, w)
    n, hp, wp, f = dpad.shape
    k, c = w.shape[1], w.shape[3]
    p = (k - 1) // 2
    length = valid_length(dpad.shape, k)
    # Output (i, j) sits at flat row i*Wp + j of the grid and at (i+p, j+p) of dpad.
    start = p * wp + p
    dy_rows = xp.ascontiguousarray(dpad).reshape(n * hp * wp, f)[start:start + length]
    cols = matmul(dy_rows, w.reshape(f, k * k * c))              # (L, K*K*C)
    dxpad = xp.zeros((n * hp * wp, c), dtype=dpad.dtype)
    for t in range(k * k):
        offset = (t // k) * wp + t % k
        dxpad[offset:offset + length] += cols[:, t * c:(t + 1) * c]
    return dxpad.reshape(n, hp, wp, c)[:, p:hp - p, p:wp - p, :]


def correlate_valid_few_filters(xpad, w, bias=None, chunk=1 << 16):
    """:func:`correlate_valid` for few filters (an RGB output): products first, then shifts.

    With F = 3 each shifted product would be a thin (L x C) @ (C x 3) that
    reads the whole input for three columns of output, K*K times over. Instead
    every tap's filters meet the input in one product, and the taps are then
    added at their shifts -- the transpose of :func:`correlate_valid_gathered`::

        Z = W_all @ X.T          # (K*K*F, C) @ (C, L): row t*F + f is tap t, filter f
        Y.T[f, p] = sum over t of Z[t*F + f, p + off_t]

    Kept transposed, each shifted sum adds long contiguous rows. Rows are
    done `chunk` at a time, so Z stays small.

    Parameters
    ----------
    xpad : ndarray of shape (N, Hp, Wp, C)
    w : ndarray of shape (F, K, K, C)
    bias : ndarray of shape (F,), optional

    Returns
    -------
    y : ndarray of shape (N, Hp - K + 1, Wp - K + 1, F)
    """
    xp = get_array_module(xpad, w)
    n, hp, wp, c = xpad.shape
    f, k = w.shape[0], w.shape[1]
    rows = xp.ascontiguousarray(xpad).reshape(n * hp * wp, c)
    length = valid_length(xpad.shape, k)
    reach = (k - 1) * wp + (k - 1)                     # the largest tap offset
    w_all = xp.ascontiguousarray(w.transpose(1, 2, 0, 3)).reshape(k * k * f, c)
    out_t = xp.zeros((f, n * hp * wp), dtype=xpad.dtype)
    for r0 in range(0, length, chunk):
        r1 = min(r0 + chunk, length)
        z = matmul(w_all, rows[r0:r1 + reach].T)        # (K*K*F, r1 - r0 + reach)
        for t in range(k * k):
            offset = (t // k) * wp + t % k
            out_t[:, r0:r1] += z[t * f:(t + 1) * f, offset:offset + r1 - r0]
    if bias is not None:
        out_t[:, :length] += bias[:, None]
    grid = xp.ascontiguousarray(out_t.T).reshape(n, hp, wp, f)
    return grid[:, :hp - k + 1, :wp - k + 1, :]


def row_taps(xpad, k):
    """Each pixel's K horizontal neighbours side by side: (N*Hp*Wp - K + 1, K*C), a copy.

    Row ``p`` is ``X[p], X[p+1], ..., X[p+K-1]`` (pixels p .. p+K-1 of the
    flat padded grid, all channels): K*C numbers that already lie next to each
    other in memory, so this is one strided copy, K times the input.
    """
    xp = get_array_module(xpad)
    n, hp, wp, c = xpad.shape
    rows = xp.ascontiguousarray(xpad).reshape(n * hp * wp, c)
    item = rows.strides[1]
    view = xp.lib.stride_tricks.as_strided(rows, shape=(n * hp * wp - k + 1, k * c),
                                           strides=(c * item, item))
    return xp.ascontiguousarray(view)


def correlate_valid_row_gathered(xpad, w, bias=None):
    """:func:`correlate_valid` for few input channels: gather each row of taps, K products.

    With C = 3 a shifted product per tap would be a thin (L x 3) @ (3 x F).
    Gathering a window's K taps along a row (:func:`row_taps`) makes K*C
    columns, and the K rows of the window are then K contiguous slices of
    that matrix, ``Wp`` rows apart::

        E = row_taps(xpad)                                  # (~L, K*C)
        Y = sum over ky of  E[ky*Wp : ky*Wp + L] @ W_ky     # W_ky: (K*C, F)

    The copy is K times the input, against K*K for im2col.

    Parameters
    ----------
    xpad : ndarray of shape (N, Hp, Wp, C)
    w : ndarray of shape (F, K, K, C)
    bias : ndarray of shape (F,), optional

    Returns
    -------
    y : ndarray of shape (N, Hp - K + 1, Wp - K + 1, F), a view into an (N, Hp, Wp, F) grid
    """
    xp = get_array_module(xpad, w)
    n, hp, wp, c = xpad.shape
    f, k = w.shape[0], w.shape[1]
    e = row_taps(xpad, k)
    w_rows = xp.ascontiguousarray(w.transpose(1, 2, 3, 0)).reshape(k, k * c, f)
    grid = xp.empty((n, hp, wp, f), dtype=xpad.dtype)
    length = valid_length(xpad.shape, k)
    out = output_rows(grid, length, bias)
    for ky in range(k):
        gemm_accumulate(e[ky * wp:ky * wp + length], w_rows[ky], out)
    return grid[:, :hp - k + 1, :wp - k + 1, :]


def filter_gradient_row_gathered(xpad, dy, k):
    """:func:`filter_gradient` for few input channels: ``dW_ky = E[ky*Wp : ...].T @ dY``.

    Returns
    -------
    dw : ndarray of shape (F, K, K, C)
    """
    xp = get_array_module(xpad, dy)
    n, hp, wp, c = xpad.shape
    f = dy.shape[3]
    length = valid_length(xpad.shape, k)
    dflat = gradient_rows(dy, (n, hp, wp, f), length)
    e = row_taps(xpad, k)
    dw = xp.empty((k, k * c, f), dtype=dy.dtype)
    for ky in range(k):
        dw[ky] = matmul(e[ky * wp:ky * wp + length].T, dflat)
    return xp.ascontiguousarray(dw.reshape(k, k, c, f).transpose(3, 0, 1, 2))
