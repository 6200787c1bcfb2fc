"""The conv table: which fast kernel computes a conv of a given shape, and the call that runs it.

The readable layer (:func:`stylelab.layers.conv2d_forward`) computes
``im2col(x) @ w.T + b``. The fast layer (:func:`stylelab.layers.fast.conv2d_forward`)
hands the padded input to :func:`correlate`, which picks the kernel that
suits the layer's shape; each computes the same numbers another way:

=====================================================  =================================  ===============
case                                                   how                                module
=====================================================  =================================  ===============
stride 1, fewer than 16 input channels (an RGB image)  each row of taps gathered,         ``row_taps``
                                                       K products
stride 1, at most 4 filters (an RGB output)            products first, then shifts        ``few_filters``
stride 1, 3x3, C_in * C_out >= 256 * 256, even output  Winograd F(2x2, 3x3): 16 products  ``winograd``
                                                       per 2x2 block, not 36
stride 1, otherwise                                    K*K products on shifted views      ``shifted``
stride 2                                               the input's four phases            ``phases``
=====================================================  =================================  ===============

Every kernel is tested against the im2col reference (``tests/test_fast_paths.py``),
including on shapes the table would not send it.
"""

from . import few_filters, phases, row_taps, shifted, winograd
from .taps import conv_taps

FEW_CHANNELS = 16     # below this many input channels the per-tap products are too thin
FEW_FILTERS = 4       # at most this many filters: products first, then shifts
# Winograd's transforms cost memory traffic; from 256 x 256 channels its fewer
# products win (measured: benchmarks/winograd.py, docs/speed.md).
WINOGRAD_CHANNELS = 256 * 256

KERNELS = ("row_taps", "few_filters", "shifted", "phases", "winograd")


def winograd_pays(channels, filters):
    """Whether Winograd F(2x2, 3x3) beats shifted GEMMs for a 3x3 layer of this many channels."""
    return channels * filters >= WINOGRAD_CHANNELS


def kernel_for(stride, channels, filters, k=3, even=True):
    """The name of the kernel :func:`correlate` uses for a layer of this shape (see the table).

    `k` is the kernel size; `even`, whether the output's height and width are
    both even (Winograd computes whole 2x2 blocks).
    """
    if stride == 2:
        return "phases"
    if stride != 1:
        raise ValueError(f"the fast kernels take stride 1 or 2, got stride {stride}")
    if channels < FEW_CHANNELS:
        return "row_taps"
    if filters <= FEW_FILTERS:
        return "few_filters"
    return "winograd" if k == 3 and even and winograd_pays(channels, filters) else "shifted"


def correlate(xpad, w, bias=None, stride=1, kernel=None):
    """'Valid' correlation of an already padded input, by the kernel that suits it.

    Parameters
    ----------
    xpad : ndarray of shape (N, Hp, Wp, C)
    w : ndarray of shape (F, K, K, C)
    bias : ndarray of shape (F,), optional
    stride : {1, 2}
    kernel : str, optional
        One of :data:`KERNELS`, to force a kernel (the tests run each on every shape).

    Returns
    -------
    y : ndarray of shape (N, (Hp - K) // stride + 1, (Wp - K) // stride + 1, F)
        Possibly a view into a slightly larger buffer.
    """
    f, k, _, c = w.shape
    even = (xpad.shape[1] - k + 1) % 2 == 0 and (xpad.shape[2] - k + 1) % 2 == 0
    kernel = kernel or kernel_for(stride, c, f, k, even)
    if kernel == "phases":
        return phases.correlate(xpad, w, bias)
    if stride != 1:
        raise ValueError(f"the {kernel} kernel needs stride 1, got stride {stride}")
    if kernel == "row_taps":
        return row_taps.correlate(xpad, w, bias)
    if kernel == "few_filters":
        return few_filters.correlate(xpad, w, bias)
    if kernel == "shifted":
        return shifted.correlate(xpad, conv_taps(w), k, bias)
    if kernel == "winograd":
        y = winograd.correlate(xpad, winograd.winograd_taps(w))
        if bias is not None:
            y += bias
        return y
    raise ValueError(f"unknown kernel {kernel!r}: choose one of {KERNELS}")


def filter_gradient(xpad, dy, k):
    """``dw`` of a stride-1 correlation, by the kernel its input channels suit."""
    if xpad.shape[3] < FEW_CHANNELS:
        return row_taps.filter_gradient(xpad, dy, k)
    return shifted.filter_gradient(xpad, dy, k)
