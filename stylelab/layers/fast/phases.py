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
from .shifted import accumulate, filters_from_taps, gradient_rows
from .taps import conv_taps


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


def correlate(xpad, w, bias=None):
    """Stride-2 'valid' correlation of a padded input, by phases and shifted products.

    Parameters
    ----------
    xpad : ndarray of shape (N, Hp, Wp, C)
    w : ndarray of shape (F, K, K, C)
    bias : ndarray of shape (F,), optional

    Returns
    -------
    y : ndarray of shape (N, (Hp - K)//2 + 1, (Wp - K)//2 + 1, F)
    """
    xp = get_array_module(xpad, w)
    f, k, _, c = w.shape
    n, hq, wq, ho, wo, length = _geometry(xpad.shape, k)
    # The four phases are one array: phase (a, b)'s rows start at (2a + b) * N*Hq*Wq.
    rows = _phases(xpad).reshape(4 * n * hq * wq, c)
    offsets = [(2 * (ky % 2) + kx % 2) * n * hq * wq + (ky // 2) * wq + kx // 2
               for ky in range(k) for kx in range(k)]
    grid = xp.empty((n, hq, wq, f), dtype=xpad.dtype)
    flat = grid.reshape(-1, f)
    flat[length:] = 0                   # rows past the last output; accumulate writes the rest
    accumulate(rows, conv_taps(w), offsets, flat[:length], bias)
    return grid[:, :ho, :wo, :]


def input_gradient(dy, padded_shape, w, crop=(0, 0, 0, 0)):
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

    Returns
    -------
    dx : ndarray of shape (N, Hp - top - bottom, Wp - left - right, C)
    """
    xp = get_array_module(dy, w)
    f, k, _, c = w.shape
    n, hq, wq, ho, wo, _ = _geometry(padded_shape, k)
    lead = (k - 1) // 2 * (wq + 1)                      # the largest tap offset
    source = xp.zeros((lead + n * hq * wq, f), dtype=dy.dtype)
    source[lead:].reshape(n, hq, wq, f)[:, :ho, :wo] = dy
    taps_t = conv_taps(w).transpose(0, 2, 1)            # W_t.T: (F, C)
    dphases = xp.empty((2, 2, n * hq * wq, c), dtype=dy.dtype)
    for a in (0, 1):
        for b in (0, 1):
            taps = [(ky, kx) for ky in range(a, k, 2) for kx in range(b, k, 2)]
            accumulate(source, taps_t[[ky * k + kx for ky, kx in taps]],
                       [lead - (ky // 2) * wq - kx // 2 for ky, kx in taps], dphases[a, b])
    top, bottom, left, right = crop
    _, hp, wp, _ = padded_shape
    dx = xp.empty((n, hp - top - bottom, wp - left - right, c), dtype=dy.dtype)
    grid = dphases.reshape(2, 2, n, hq, wq, c)
    for i0 in (0, 1):
        for j0 in (0, 1):
            part = dx[:, i0::2, j0::2]                      # padded rows i0 + top, + 2, ...
            r, q = (i0 + top) // 2, (j0 + left) // 2
            part[...] = grid[(i0 + top) % 2, (j0 + left) % 2, :, r:r + part.shape[1],
                             q:q + part.shape[2]]
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
