"""Stride-2 convolution without im2col: the input's four phases, one shifted product per tap.

A stride-2 convolution reads the padded input at ``(2i + ky, 2j + kx)``.
Split the input into its four *phases* -- even or odd rows, even or odd
columns -- and tap ``(ky, kx)`` reads phase ``(ky % 2, kx % 2)`` at
``(i + ky // 2, j + kx // 2)``: an ordinary stride-1 shift. So, as in
:mod:`stylelab.layers.fast.shifted`, every tap is one matrix product on a
contiguous slice of a phase's flat rows, accumulated in place, a block of
output rows at a time (:func:`~stylelab.layers.fast.shifted.accumulate`)::

    P[a, b] = xpad[:, a::2, b::2]                       (zero-filled to one shape)
    Y = b;  for each tap t = (ky, kx):
        Y += P[ky % 2, kx % 2][off_t : off_t + L] @ W_t      off_t = (ky//2) * Wq + kx//2

The phases together are the input, rearranged: one copy of it, where im2col
copies K*K/4 times as much. The backward pass gathers ``dY @ W_t.T`` onto
each phase from the taps that land there and interleaves the phases
(:func:`input_gradient`); the filter
gradient meets each tap's phase slice with ``dY`` (:func:`filter_gradient`).
"""

from ...backend import get_array_module
from .shifted import BLOCK_BYTES, accumulate, filters_from_taps, gradient_rows
from .taps import conv_taps
from .workspace import KERNEL_INPUT, KERNEL_OUTPUT, scratch


def _phases(xpad):
    """(2, 2, N, Hq, Wq, C): phase ``[a, b]`` is ``xpad[:, a::2, b::2]``, zero-filled to a common size."""
    xp = get_array_module(xpad)
    n, hp, wp, c = xpad.shape
    hq, wq = (hp + 1) // 2, (wp + 1) // 2
    phases = xp.zeros((2, 2, n, hq, wq, c), dtype=xpad.dtype)
    for a in (0, 1):
        for b in (0, 1):
            part = xpad[:, a::2, b::2]
            phases[a, b, :, :part.shape[1], :part.shape[2]] = part
    return phases


def _geometry(shape, k):
    n, hp, wp, _ = shape
    hq, wq = (hp + 1) // 2, (wp + 1) // 2
    ho, wo = (hp - k) // 2 + 1, (wp - k) // 2 + 1
    reach = (k - 1) // 2
    length = n * hq * wq - reach * wq - reach     # the last output's last tap is the last row
    return n, hq, wq, ho, wo, length


def correlate(xpad, w, bias=None, work=None, band_rows=None):
    """Stride-2 'valid' correlation of a padded input, by phases and shifted products.

    The phases are made a band of output rows at a time (the band's input
    rows, K // 2 more, and a spare row that only the thrown-away last column
    reads), so they stay in cache and take a few megabytes, not a copy of
    the whole input.

    Parameters
    ----------
    xpad : ndarray of shape (N, Hp, Wp, C)
        Any strides (the phases are a copy).
    w : ndarray of shape (F, K, K, C)
    bias : ndarray of shape (F,), optional
    work : Workspace, optional
        Where a band's phases and the products' grid live
        (:mod:`~stylelab.layers.fast.workspace`); new arrays if omitted.
    band_rows : int, optional
        Output rows a band (by default about 2 MB of output; the tests use few).

    Returns
    -------
    y : ndarray of shape (N, (Hp - K)//2 + 1, (Wp - K)//2 + 1, F)
    """
    xp = get_array_module(xpad, w)
    f, k, _, c = w.shape
    n, hq, wq, ho, wo, _ = _geometry(xpad.shape, k)
    reach = (k - 1) // 2
    step = min(ho, band_rows or max(1, BLOCK_BYTES // (wq * f * xpad.itemsize)))
    span = step + reach + 1
    # A band's four phases are one array: phase (a, b)'s rows start at (2a + b) * span*Wq.
    band = scratch(work, KERNEL_INPUT, (4, span, wq, c), xpad.dtype, xp)
    rows = band.reshape(4 * span * wq, c)
    offsets = [(2 * (ky % 2) + kx % 2) * span * wq + (ky // 2) * wq + kx // 2
               for ky in range(k) for kx in range(k)]
    taps = conv_taps(w)
    grid = scratch(work, KERNEL_OUTPUT, (n, ho, wq, f), xpad.dtype, xp)
    for i in range(n):
        for i0 in range(0, ho, step):
            i1 = min(i0 + step, ho)
            for a in (0, 1):
                for b in (0, 1):
                    # Past the input's edge only the thrown-away outputs read, but
                    # zeros, not whatever the memory held (an inf would make NaNs)
                    part = xpad[i, 2 * i0 + a:2 * (i1 + reach) + a:2, b::2]
                    phase = band[2 * a + b]
                    phase[:part.shape[0], :part.shape[1]] = part
                    phase[part.shape[0]:], phase[:, part.shape[1]:] = 0, 0
            accumulate(rows, taps, offsets, grid[i, i0:i1].reshape(-1, f), bias,
                       block_rows=(i1 - i0) * wq)
    return grid[:, :, :wo, :]


def input_gradient(dy, padded_shape, w, crop=(0, 0, 0, 0), out=None, work=None):
    """The padded input's gradient of :func:`correlate`: ``dY @ W_t.T`` gathered onto the phases.

    Only the input's *shape* is needed: this is the conv's adjoint, the
    transposed convolution (:func:`stylelab.layers.conv_transpose2d_forward`).
    Each phase takes the taps that land on it (1, 2, 2 and 4 of a 3x3's), as
    a gather: phase row ``q`` sums ``dY[q - off_t] @ W_t.T`` over its taps, on
    the shared block loop (:func:`~stylelab.layers.fast.shifted.accumulate`)
    over `dY`'s rows behind ``Wq + 1`` rows of zeros.

    Parameters
    ----------
    dy : ndarray of shape (N, Ho, Wo, F)
    padded_shape : tuple (N, Hp, Wp, C)
    w : ndarray of shape (F, K, K, C)
    crop : (top, bottom, left, right)
        Rows and columns of the padded input left out of the result (a
        zero padding's gradient, which nobody needs): the phases are
        interleaved straight into the smaller array.
    out : ndarray of shape (N, Hp - top - bottom, Wp - left - right, C), optional
        Where to write `dx` (any strides: the inside of a bordered buffer).
    work : Workspace, optional
        Where `dY`'s rows and the phases' sums live; new arrays if omitted.

    Returns
    -------
    dx : ndarray of shape (N, Hp - top - bottom, Wp - left - right, C)
        `out` when given.
    """
    xp = get_array_module(dy, w)
    f, k, _, c = w.shape
    n, hq, wq, ho, wo, _ = _geometry(padded_shape, k)
    lead = (k - 1) // 2 * (wq + 1)                      # the largest tap offset
    source = scratch(work, KERNEL_INPUT, (lead + n * hq * wq, f), dy.dtype, xp)
    grid = source[lead:].reshape(n, hq, wq, f)
    source[:lead], grid[:, ho:], grid[:, :ho, wo:] = 0, 0, 0
    grid[:, :ho, :wo] = dy
    taps_t = conv_taps(w).transpose(0, 2, 1)            # W_t.T: (F, C)
    top, bottom, left, right = crop
    _, hp, wp, _ = padded_shape
    shape = (n, hp - top - bottom, wp - left - right, c)
    if out is not None and tuple(out.shape) != shape:
        raise ValueError(f"phases.input_gradient: out must have shape {shape}, "
                         f"got {tuple(out.shape)}")
    dx = xp.empty(shape, dtype=dy.dtype) if out is None else out
    for a in (0, 1):
        for b in (0, 1):
            taps = [(ky, kx) for ky in range(a, k, 2) for kx in range(b, k, 2)]
            dphase = scratch(work, KERNEL_OUTPUT, (n * hq * wq, c), dy.dtype, xp)
            accumulate(source, taps_t[[ky * k + kx for ky, kx in taps]],
                       [lead - (ky // 2) * wq - kx // 2 for ky, kx in taps], dphase)
            # padded row 2r + a is dx's row 2r + a - top: its rows i0, i0 + 2, ...
            i0, j0 = (a - top) % 2, (b - left) % 2
            part = dx[:, i0::2, j0::2]
            r, q = (i0 + top) // 2, (j0 + left) // 2
            part[...] = dphase.reshape(n, hq, wq, c)[:, r:r + part.shape[1], q:q + part.shape[2]]
    return dx


def filter_gradient(dy, xpad, w):
    """``dw`` of :func:`correlate`: each tap's phase slice met by ``dY``.

    Returns
    -------
    dw : ndarray of shape (F, K, K, C)
    """
    f, k, _, c = w.shape
    n, hq, wq, _, _, length = _geometry(xpad.shape, k)
    rows = _phases(xpad).reshape(2, 2, n * hq * wq, c)
    dflat = gradient_rows(dy, (n, hq, wq, f), length)
    taps = [(ky, kx) for ky in range(k) for kx in range(k)]
    return filters_from_taps([rows[ky % 2, kx % 2, (ky // 2) * wq + kx // 2:][:length]
                              for ky, kx in taps], dflat, k)
