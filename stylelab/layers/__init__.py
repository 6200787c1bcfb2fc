"""The layers, as functions with caches: the lesson.

Every layer is a pair::

    y, cache = <layer>_forward(x, ...)
    grads    = <layer>_backward(dy, cache)

Arrays are channels-last: activations (N, H, W, C), filters (F, K, K, C).
The functions run on NumPy or CuPy arrays alike: each takes its array module
from its inputs.

One module per layer: ``conv`` (the article's loops, im2col + GEMM),
``padding``, ``activations`` (ReLU, tanh), ``pooling`` (2x2 max and
average), ``normalization`` (instance norm; batch norm at test time),
``conv_transpose`` (the conv's adjoint),
``upsample`` (nearest x2, and the upsample-then-conv stage) and
``residual`` (Johnson et al.'s block). These modules import nothing faster.

The speed lives apart, in :mod:`stylelab.layers.fast`: the same functions
under the same names and caches (``fast.conv2d_forward``, ...), on kernels
that compute the same numbers, each tested against the readable layer it
stands in for. The composite layers (residual block, transposed conv) take
``conv=stylelab.layers.fast`` to run their convs there; the networks choose
with their ``engine``.
"""

from .activations import (relu_backward, relu_forward, relu_inplace, tanh_backward,
                          tanh_forward)
from .conv import (col2im, conv2d_backward, conv2d_forward, conv2d_input_gradient,
                   conv2d_naive, conv_output_size, im2col)
from .conv_transpose import conv_transpose2d_backward, conv_transpose2d_forward
from .normalization import (instance_norm_backward, instance_norm_forward, scale_shift_backward,
                            scale_shift_forward)
from .padding import fill_border, pad2d_backward, pad2d_forward, same_padding
from .pooling import (avgpool2x2_backward, avgpool2x2_forward,
                      maxpool2x2_backward, maxpool2x2_forward)
from .residual import residual_block_backward, residual_block_forward
from .upsample import (upsample2x_backward, upsample2x_forward, upsample_conv_backward,
                       upsample_conv_forward)

__all__ = [
    "conv2d_forward", "conv2d_backward", "conv2d_input_gradient", "conv2d_naive",
    "conv_output_size", "im2col", "col2im", "pad2d_forward", "pad2d_backward", "same_padding",
    "fill_border",
    "relu_forward", "relu_backward", "relu_inplace", "tanh_forward", "tanh_backward",
    "conv_transpose2d_forward", "conv_transpose2d_backward",
    "instance_norm_forward", "instance_norm_backward",
    "scale_shift_forward", "scale_shift_backward",
    "upsample2x_forward", "upsample2x_backward",
    "upsample_conv_forward", "upsample_conv_backward",
    "residual_block_forward", "residual_block_backward",
    "maxpool2x2_forward", "maxpool2x2_backward",
    "avgpool2x2_forward", "avgpool2x2_backward",
]
