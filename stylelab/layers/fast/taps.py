"""Filters rearranged for the fast kernels: the taps of a conv, and the filters of its input gradient.

Two rearrangements serve every kernel in this package:

* :func:`conv_taps` splits filters ``w`` of shape (F, K, K, C) into their
  K*K *taps*: tap ``(ky, kx)`` is the (C, F) matrix ``w[:, ky, kx, :].T``
  that multiplies every input pixel seen at that offset.
* :func:`flip_swap` gives the filters of the input gradient. A stride-1
  correlation's gradient with respect to its input is the correlation of
  the output gradient (padded by K - 1) with the same filters *flipped in
  space* and with input and output channels *swapped*::

      dx[i, j, c] = sum over (ky, kx, f) of dy[i - ky, j - kx, f] * w[f, ky, kx, c]
                  = correlate(pad(dy, K - 1), flip_swap(w))[i, j, c]

  ``flip_swap(w)[c, ky, kx, f] = w[f, K-1-ky, K-1-kx, c]``: filters of shape
  (C, K, K, F), C of them, each over F channels.
"""

from ...backend import get_array_module


def conv_taps(w):
    """Filters (F, K, K, C) as K*K contiguous matrices (C, F): ``taps[ky*K + kx] = w[:, ky, kx, :].T``."""
    xp = get_array_module(w)
    f, k, _, c = w.shape
    return xp.ascontiguousarray(w.transpose(1, 2, 3, 0).reshape(k * k, c, f))


def flip_swap(w):
    """The filters of the input gradient: `w` (F, K, K, C) flipped in space, channels swapped.

    Returns
    -------
    ndarray of shape (C, K, K, F), contiguous
        ``out[c, ky, kx, f] = w[f, K-1-ky, K-1-kx, c]``.
    """
    return get_array_module(w).ascontiguousarray(w[:, ::-1, ::-1, :].transpose(3, 1, 2, 0))
