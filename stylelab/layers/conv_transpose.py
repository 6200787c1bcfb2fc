"""The transposed ("fractionally strided") convolution: a conv's backward pass run forwards.

A stride-2 convolution maps H to H/2; its input gradient maps H/2 back to H.
Johnson et al. upsample with exactly that map, learned ("stride 1/2" in the
paper). With filters ``w`` of shape (C_in, K, K, C_out) -- those of the
convolution that would map C_out channels to C_in -- each input pixel adds
its channels' filters, scaled, onto a K x K patch of the output, patches
``stride`` pixels apart; the output is cropped by the conv's padding::

    cols = x2 @ w2          # (N*H*W, C_in) @ (C_in, K*K*C_out)
    y    = col2im(cols) cropped by (top, bottom, left, right), + b

That is the input gradient of ``conv2d(y, w, stride, padding)`` with ``dy = x``
(:func:`stylelab.layers.conv.conv2d_input_gradient`), which is how it is
computed here: the conv's adjoint, so the fast conv (``conv=stylelab.layers.fast``)
serves it too.
Its own backward pass is then the conv run forwards (``dx``) and the conv's
filter gradient with input and output trading places (``dw``).

Output size, as PyTorch's ``ConvTranspose2d`` (with ``padding`` per side)::

    Ho = (H - 1) * stride - top - bottom + K + output_padding

TensorFlow's ``conv2d_transpose`` with "SAME" padding to ``stride * H`` is the
adjoint of its asymmetric SAME conv: crop ``(0, 1)`` for K = 3, stride 2
(:func:`stylelab.layers.padding.same_padding`). The filters are PyTorch's
ConvTranspose2d weight (C_in, C_out, K, K) moved to channels-last:
``w = weight.transpose(0, 2, 3, 1)``.
"""

from ..backend import get_array_module
from ._checks import check_activation, check_same_dtype
from . import conv as readable_conv
from .padding import sides


def transposed_size(size, k, stride, before, after, output_padding):
    """One side of a transposed conv's output.

    ``(size - 1) * stride - before - after + K + output_padding``:

    >>> transposed_size(64, 3, 2, 1, 1, 1)        # padding 1, output padding 1: twice the size
    128
    """
    return (size - 1) * stride - before - after + k + output_padding


def conv_transpose2d_forward(x, w, b, stride=2, padding=1, output_padding=1, conv=None):
    """Transposed convolution plus bias.

    Parameters
    ----------
    x : ndarray of shape (N, H, W, C_in)
    w : ndarray of shape (C_in, K, K, C_out)
    b : ndarray of shape (C_out,)
    stride : int
    padding : int or (top, bottom, left, right)
        The padding of the conv this is the transpose of: cropped from the output.
    output_padding : int
        ``0 <= output_padding < stride`` picks among the output sizes that map
        back to H (1 with stride 2, K = 3 and padding 1 doubles the size exactly).
    conv : module, optional
        Where the conv layer comes from: :mod:`stylelab.layers.conv` (the
        default) or :mod:`stylelab.layers.fast` (the same numbers, faster).

    Returns
    -------
    y : ndarray of shape (N, Ho, Wo, C_out)
    cache : what :func:`conv_transpose2d_backward` needs
    """
    check_activation("conv_transpose2d", x)
    if w.ndim != 4 or w.shape[0] != x.shape[3] or w.shape[1] != w.shape[2]:
        raise ValueError(f"conv_transpose2d: w must have shape (C_in, K, K, C_out) with "
                         f"C_in = {x.shape[3]}, got {tuple(w.shape)}")
    if b.shape != (w.shape[3],):
        raise ValueError(f"conv_transpose2d: b must have shape ({w.shape[3]},), got "
                         f"{tuple(b.shape)}")
    top, bottom, left, right = pads = sides(padding, "conv_transpose2d")
    if not 0 <= output_padding < stride:
        raise ValueError(f"conv_transpose2d: need 0 <= output_padding < stride, got "
                         f"{output_padding} and {stride}")
    check_same_dtype("conv_transpose2d", x=x, w=w, b=b)
    n, h, wd, _ = x.shape
    k, c_out = w.shape[1], w.shape[3]
    ho = transposed_size(h, k, stride, top, bottom, output_padding)
    wo = transposed_size(wd, k, stride, left, right, output_padding)
    if ho < 1 or wo < 1:
        raise ValueError(f"conv_transpose2d: padding {padding} leaves no output for x of "
                         f"shape {tuple(x.shape)}")
    conv = conv or readable_conv
    y = conv.conv2d_input_gradient(x, w, (n, ho, wo, c_out), stride, pads)
    y += b              # y is a new array of ours: no second one for the bias
    return y, (x, w, stride, pads, conv)


def conv_transpose2d_backward(dy, cache):
    """Gradients of :func:`conv_transpose2d_forward`.

    The forward pass is the conv's adjoint ``A^T x``, so ``dx = A dy`` -- the
    conv itself, run on `dy` -- and ``dw`` is the conv's filter gradient with
    `dy` as its input and `x` as its output's gradient.

    Returns
    -------
    dx : ndarray of shape (N, H, W, C_in)
    dw : ndarray of shape (C_in, K, K, C_out)
    db : ndarray of shape (C_out,)
    """
    x, w, stride, pads, conv = cache
    xp = get_array_module(dy)
    no_bias = xp.zeros(w.shape[0], dtype=dy.dtype)
    dx, conv_cache = conv.conv2d_forward(dy, w, no_bias, stride=stride, padding=pads)
    _, dw, _ = conv.conv2d_backward(x, conv_cache, input_grad=False)
    return xp.ascontiguousarray(dx), dw, dy.sum(axis=(0, 1, 2))
