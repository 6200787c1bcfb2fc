"""The fast layers: the readable layers' arithmetic, faster, under the same names and caches.

:mod:`stylelab.layers` is the lesson: im2col and one matrix product per conv,
nothing hidden. This package computes the same numbers with kernels chosen
per layer shape, and the fast networks (:class:`stylelab.nets.fast_vgg.FastVGG`,
the transformation network's ``engine="fast"``) call it. The dependency runs
one way: these modules may use the readable layers' public helpers (padding,
pooling corners, the conv's argument checks); the readable layers import
nothing from here.

===================  ==========================================================
module               what it holds
===================  ==========================================================
``conv``             :func:`conv2d_forward`, :func:`conv2d_backward`,
                     :func:`conv2d_input_gradient`: the readable conv's
                     functions, on the kernel the conv table picks
``table``            the conv table: :func:`kernel_for` and :func:`correlate`
``shifted``          stride 1: K*K products on shifted views, no im2col
``row_taps``         stride 1, an RGB input: each row of taps gathered
``few_filters``      stride 1, an RGB output: products first, then shifts
``winograd``         3x3, many channels: Winograd F(2x2, 3x3)
``phases``           stride 2: the input's four phases
``upsample_conv``    nearest x2 and a 3x3 conv as four 2x2 convs of the small
                     image (:func:`upsample_conv_forward`)
``pool_winners``     max-pooling's backward from one byte per window
``blas``, ``taps``   one BLAS for every product; filters rearranged
===================  ==========================================================

The package itself can stand where a layer module goes: the readable
composite layers take ``conv=stylelab.layers.fast`` (residual blocks,
transposed convs) to run their convs here.

Every kernel is tested against the readable layer it stands in for
(``tests/test_fast_paths.py``), including on shapes the table would not send it.
"""

from .conv import conv2d_backward, conv2d_forward, conv2d_input_gradient
from .table import (FEW_CHANNELS, FEW_FILTERS, KERNELS, WINOGRAD_CHANNELS, correlate,
                    filter_gradient, kernel_for, winograd_pays)
from .upsample_conv import upsample_conv_backward, upsample_conv_forward

__all__ = ["conv2d_forward", "conv2d_backward", "conv2d_input_gradient",
           "upsample_conv_forward", "upsample_conv_backward", "correlate", "filter_gradient",
           "kernel_for", "winograd_pays", "KERNELS", "FEW_CHANNELS", "FEW_FILTERS",
           "WINOGRAD_CHANNELS"]
