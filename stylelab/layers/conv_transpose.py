"""The transposed ("fractionally strided") convolution: a conv's backward pass run forwards.

A stride-2 convolution maps H to H/2; its input gradient maps H/2 back to H.
Johnson et al. upsample with exactly that map, learned ("stride 1/2" in the
paper). With filters ``w`` of shape (C_in, K, K, C_out) -- those of the
convolution that would map C_out channels to C_in -- each input pixel adds
its channels' filters, scaled, onto a K x K patch of the output, patches
``stride`` pixels apart::

    cols = x2 @ w2          # (N*H*W, C_in) @ (C_in, K*K*C_out)
    y    = col2im(cols) cropped by `padding`, + b

Output size, as PyTorch's ``ConvTranspose2d``::

    Ho = (H - 1) * stride - 2 * padding + K + output_padding

The filters are PyTorch's ConvTranspose2d weight (C_in, C_out, K, K) moved to
channels-last: ``w = weight.transpose(0, 2, 3, 1)``.
"""

from ..backend import get_array_module
from ._checks import check_activation, check_same_dtype
from .fast.blas import matmul
from .conv import col2im, im2col


def conv_transpose2d_forward(x, w, b, stride=2, padding=1, output_padding=1):
    """Transposed convolution plus bias.

    Parameters
    ----------
    x : ndarray of shape (N, H, W, C_in)
    w : ndarray of shape (C_in, K, K, C_out)
    b : ndarray of shape (C_out,)
    stride, padding, output_padding : int
        ``output_padding < stride`` picks among the output sizes that map back
        to H (1 with stride 2 and K = 3 doubles the size exactly).

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
    if not 0 <= output_padding < stride or padding < 0:
        raise ValueError(f"conv_transpose2d: need 0 <= output_padding < stride and "
                         f"padding >= 0, got {output_padding}, {stride}, {padding}")
    check_same_dtype("conv_transpose2d", x=x, w=w, b=b)
    n, h, wd, c_in = x.shape
    k, c_out = w.shape[1], w.shape[3]
    full = (n, (h - 1) * stride + k + output_padding, (wd - 1) * stride + k + output_padding,
            c_out)
    if full[1] - 2 * padding < 1 or full[2] - 2 * padding < 1:
        raise ValueError(f"conv_transpose2d: padding {padding} leaves no output for x of "
                         f"shape {tuple(x.shape)}")
    cols = matmul(x.reshape(-1, c_in), w.reshape(c_in, -1))      # (N*H*W, K*K*C_out)
    y = col2im(cols, full, k, stride)[:, padding:full[1] - padding, padding:full[2] - padding]
    y = y + b
    return y, (x, w, stride, padding, full)


def conv_transpose2d_backward(dy, cache):
    """Gradients of :func:`conv_transpose2d_forward`.

    The forward pass is ``crop(col2im(x2 @ w2))``; its adjoint is
    ``im2col(pad(dy))``, so::

        cols = im2col(dy padded back to the full size)    # (N*H*W, K*K*C_out)
        dx   = cols @ w2.T          dw = x2.T @ cols          db = sum(dy)

    Returns
    -------
    dx : ndarray of shape (N, H, W, C_in)
    dw : ndarray of shape (C_in, K, K, C_out)
    db : ndarray of shape (C_out,)
    """
    x, w, stride, padding, full = cache
    xp = get_array_module(dy)
    k, c_in = w.shape[1], w.shape[0]
    dfull = xp.zeros(full, dtype=dy.dtype)
    dfull[:, padding:full[1] - padding, padding:full[2] - padding] = dy
    cols = im2col(dfull, k, stride)                               # (N*H*W, K*K*C_out)
    dx = matmul(cols, w.reshape(c_in, -1).T).reshape(x.shape)
    dw = matmul(x.reshape(-1, c_in).T, cols).reshape(w.shape)
    return dx, dw, dy.sum(axis=(0, 1, 2))
