"""The transformation network over tiles: a picture of any size, in memory that follows the tile.

Every layer of Johnson et al.'s network sees a bounded neighbourhood of its
input, except the instance norms, which need each channel's mean and
variance over the *whole* picture. So the network runs layer by layer: each
layer's output is computed tile by tile, from a window of its input with the
halo its kernel needs, and each norm's moments are summed over the tiles
before any tile is normalised::

    for each layer:
        for each output tile [Y0, Y1) x [X0, X1):
            rows = the input rows it reads: Y0*s - pad ... (Y1-1)*s + k - pad
            window = input[rows, cols]        # the picture's own padding where
                                              # the rows fall outside it
            out[Y0:Y1, X0:X1] = correlate(window, w, b, s)
        if the layer has an instance norm:
            mu, var = sums over the tiles / (H * W)   # the whole picture's
            normalise (and ReLU) each tile in place

Padding comes from the whole picture's geometry -- reflected, zero or
TensorFlow's uneven SAME -- so a tile on the border sees exactly what the
whole layer sees, and an inner tile sees its true neighbours. Nothing is
approximated: the result is the untiled network's, up to the order of
floating-point sums (``tests/test_tiled.py``: 1e-10 in float64, within one
8-bit level in float32).

What is held at once is a layer's input and output, whole, plus one tile's
window and products; :meth:`TransformNet.apply <stylelab.nets.transform.TransformNet.apply>`
holds also the padded input and the fast kernels' working copies of a whole
layer.
"""

import numpy as np

from ..backend import get_array_module
from ..layers import conv_transpose2d_forward, fast
from ..layers.conv import check_conv
from ..layers.fast.table import correlate
from ..layers.residual import SHAVE
from .transform import settle, stage_params


def _source_index(lo, hi, size, pad_mode, up=1):
    """For coordinates ``lo..hi-1`` of the padded (and `up`-times upsampled) input, the
    input index each reads: reflected or clamped into ``[0, size)``, or -1 for a zero."""
    idx = np.arange(lo, hi)
    full = size * up
    if pad_mode == "reflect":
        idx = np.abs(idx)
        idx = np.where(idx >= full, 2 * (full - 1) - idx, idx)
    elif pad_mode == "edge":
        idx = np.clip(idx, 0, full - 1)
    else:
        idx = np.where((idx < 0) | (idx >= full), -1, idx)
    return np.where(idx < 0, -1, idx // up)


def _window(x, rows, cols):
    """``x[:, rows][:, :, cols]`` with -1 read as zero: one tile's input with its halo."""
    xp = get_array_module(x)
    win = x[:, xp.asarray(np.maximum(rows, 0))][:, :, xp.asarray(np.maximum(cols, 0))]
    if (rows < 0).any():
        win[:, xp.asarray(rows < 0)] = 0
    if (cols < 0).any():
        win[:, :, xp.asarray(cols < 0)] = 0
    return win


class Spill:
    """Where whole activations go when memory cannot hold them: files in `folder`, mapped.

    Each array is a ``numpy.memmap`` on a file that is unlinked as soon as it
    is mapped, so nothing is left behind however the run ends; the kernel
    pages it to disk as memory runs short. None (the default everywhere):
    arrays in memory.
    """

    def __init__(self, folder):
        self.folder = folder

    def empty(self, shape, dtype):
        import tempfile
        with tempfile.NamedTemporaryFile(dir=self.folder, prefix=".stylelab-tile-") as f:
            f.truncate(int(np.prod(shape)) * np.dtype(dtype).itemsize)
            return np.memmap(f.name, dtype=dtype, mode="r+", shape=shape)


def _empty(xp, shape, dtype, spill):
    return xp.empty(shape, dtype=dtype) if spill is None else spill.empty(shape, dtype)


def _spans(size, tile):
    return [(a, min(a + tile, size)) for a in range(0, size, tile)]


def _bands(h, tile):
    """Row bands of `h` holding about a tile's worth of pixels each (tile x tile)."""
    return _spans(h.shape[1], max(1, tile * tile // h.shape[2]))


def conv_tiled(x, w, b, stride, pads, pad_mode, tile, up=1, spill=None):
    """A conv layer (after a nearest upsampling by `up`, if asked), tile by tile.

    Parameters
    ----------
    x : ndarray of shape (N, H, W, C)
    w : ndarray of shape (F, K, K, C)
    b : ndarray of shape (F,)
    stride : int
    pads : (top, bottom, left, right)
        The whole layer's padding, of the (upsampled) input.
    pad_mode : {"zeros", "reflect", "edge"}
    tile : int
        Output rows and columns computed at a time.
    up : {1, 2}
        Upsample the input by repeating pixels first (never materialised).
    spill : Spill, optional
        Where `y` lives when memory cannot hold it.

    Returns
    -------
    y : ndarray of shape (N, Ho, Wo, F)
        ``Ho = (up * H + top + bottom - K) // stride + 1``, likewise ``Wo``.
    """
    xp = get_array_module(x)
    n, h, wd, _ = x.shape
    k = w.shape[1]
    top, bottom, left, right = pads
    ho = (up * h + top + bottom - k) // stride + 1
    wo = (up * wd + left + right - k) // stride + 1
    y = _empty(xp, (n, ho, wo, w.shape[0]), x.dtype, spill)
    for y0, y1 in _spans(ho, tile):
        rows = _source_index(y0 * stride - top, (y1 - 1) * stride + k - top, h, pad_mode, up)
        for x0, x1 in _spans(wo, tile):
            cols = _source_index(x0 * stride - left, (x1 - 1) * stride + k - left, wd,
                                 pad_mode, up)
            y[:, y0:y1, x0:x1] = correlate(_window(x, rows, cols), w, b, stride)
    return y


def conv_transpose_tiled(x, w, b, pads, extra, tile, stride=2, spill=None):
    """A transposed conv (``w`` of shape (C_in, K, K, C_out)), tile by tile of its output.

    Output pixel ``o`` gathers input pixels ``i`` with ``i * stride + t - top = o`` for a
    tap ``t`` in ``0..K-1``; a tile of outputs takes the inputs that reach it, runs the
    layer on them unpadded, and keeps its own rows and columns.
    """
    xp = get_array_module(x)
    n, h, wd, _ = x.shape
    k = w.shape[1]
    top, bottom, left, right = (pads,) * 4 if np.isscalar(pads) else pads
    ho = (h - 1) * stride + k - top - bottom + extra
    wo = (wd - 1) * stride + k - left - right + extra
    y = _empty(xp, (n, ho, wo, w.shape[3]), x.dtype, spill)

    def reach(o0, o1, pad, size):
        """The inputs that reach outputs o0..o1-1, and where o0 falls in their unpadded output."""
        i0 = max(0, -(-(o0 + pad - k + 1) // stride))
        i1 = min(size, (o1 - 1 + pad) // stride + 1)
        return i0, i1, o0 + pad - i0 * stride

    for y0, y1 in _spans(ho, tile):
        i0, i1, q0 = reach(y0, y1, top, h)
        for x0, x1 in _spans(wo, tile):
            j0, j1, r0 = reach(x0, x1, left, wd)
            part, _ = conv_transpose2d_forward(x[:, i0:i1, j0:j1], w, b, stride, 0, 0, conv=fast)
            out = y[:, y0:y1, x0:x1]
            out[...] = b                 # rows past the last input's reach hold the bias alone
            hh, ww = min(y1 - y0, part.shape[1] - q0), min(x1 - x0, part.shape[2] - r0)
            out[:, :hh, :ww] = part[:, q0:q0 + hh, r0:r0 + ww]
    return y


def norm_tiled(h, gamma, beta, norm, eps, tile, relu=False):
    """Instance norm (the whole picture's moments, summed over row bands) or the affine map,
    then ReLU if asked, in place, a band of `tile` rows at a time."""
    xp = get_array_module(h)
    bands = _bands(h, tile)
    if norm == "instance":
        m = h.dtype.type(h.shape[1] * h.shape[2])
        mu = sum(xp.einsum("nhwc->nc", h[:, a:b]) for a, b in bands) / m
        var = 0
        for a, b in bands:
            d = h[:, a:b] - mu[:, None, None]
            var = var + xp.einsum("nhwc,nhwc->nc", d, d)
        var /= m
        scale = (1 / xp.sqrt(var + h.dtype.type(eps))) * gamma
        shift = None
    else:                                       # affine: batch norm at test time
        mu, scale, shift = None, gamma[None], beta
    for a, b in bands:
        band = h[:, a:b]
        if mu is not None:
            band -= mu[:, None, None]
        band *= scale[:, None, None]
        band += beta if shift is None else shift
        if relu:
            xp.maximum(band, 0, out=band)
    return h


def apply_tiled(net, img, tile, spill=None):
    """:meth:`TransformNet.apply` on a picture of any size, `tile` output pixels a side at a time.

    Parameters
    ----------
    net : TransformNet
        Any layout: stylelab's, TensorFlow's, PyTorch's, Torch7's (whose input
        pad the layout makes on the whole picture, 3 channels).
    img : ndarray of shape (H, W, in_channels)
    tile : int
        The side of the tiles each layer's output is computed in; memory
        follows it (see the module's text).
    spill : str, optional
        A folder for the whole activations, as mapped files, when memory
        cannot hold them (NumPy only).

    Returns
    -------
    ndarray of shape (H * factor, W * factor, 3)
        What ``net.apply(img)`` returns, up to the order of floating-point sums.
    """
    layout = net.layout
    tile = int(tile)
    if tile < 1:
        raise ValueError(f"the tile must be at least 1 pixel, got {tile}")
    height, width = net.check_image(img)
    opts = settle(net.options)
    if spill is not None:
        if get_array_module(img) is not np:
            raise ValueError("spilling activations to files takes NumPy arrays, not a GPU's")
        spill = Spill(spill)
    h, _ = layout.to_network(img[None])
    for stage in net.stages:
        own = stage_params(net.params, stage.name)
        if stage.kind == "res":
            h = _residual(h, own, layout.residual_padding(), opts, tile, spill)
        else:
            h = _stage(stage, h, own, opts, layout, tile, spill)
    h = layout.from_network(h, inplace=True)
    f = net.factor
    return h[0, :round(height * f), :round(width * f)]


def _stage(stage, h, own, opts, layout, tile, spill):
    """One stage of :func:`stylelab.nets.transform.transform_forward`'s inference, tiled."""
    w, b = own["w"], own["b"]
    if stage.kind == "up" and opts["upsample"] == "transpose":
        pads, extra = layout.transpose_padding(h.shape)
        h = conv_transpose_tiled(h, w, b, pads, extra, tile, spill=spill)
    else:
        up = 2 if stage.kind == "up" else 1
        shape = (h.shape[0], up * h.shape[1], up * h.shape[2], h.shape[3])
        padding = (dict(padding="same", pad_mode="reflect")
                   if up == 2 and layout.padding == "reflect"
                   else layout.conv_padding(stage, shape))
        pads = check_conv(np.broadcast_to(np.zeros((), h.dtype), shape), w, b, stage.stride,
                               padding["padding"], padding.get("pad_mode", "zeros"))
        # A strided conv's tile is counted in its input's pixels: the window stays tile-sized.
        h = conv_tiled(h, w, b, stage.stride, pads, padding.get("pad_mode", "zeros"),
                       max(1, tile // stage.stride), up, spill)
    if "gamma" in own:
        h = norm_tiled(h, own["gamma"], own["beta"], opts["norm"], opts["norm_eps"], tile,
                       relu=not stage.last)
    elif not stage.last:
        get_array_module(h).maximum(h, 0, out=h)
    if stage.last:
        scale, shift = (h.dtype.type(v) for v in layout.output_map(opts["output"]))
        xp = get_array_module(h)
        for a, b_ in _bands(h, tile):
            band = h[:, a:b_]
            if opts["output"] == "tanh":
                xp.tanh(band, out=band)
            band *= scale
            band += shift
    return h


def _residual(x, own, padding, opts, tile, spill):
    """A residual block, tiled: conv, norm, ReLU, conv, norm, plus the block's input.

    ``padding="valid"`` (Johnson's Torch7 networks): the convs are unpadded, and
    the shortcut is the input cropped by :data:`~stylelab.layers.residual.SHAVE` a side.
    """
    pads, mode = ((0, 0, 0, 0), "zeros") if padding == "valid" else ((1, 1, 1, 1), padding)
    h = conv_tiled(x, own["w1"], own["b1"], 1, pads, mode, tile, spill=spill)
    h = norm_tiled(h, own["gamma1"], own["beta1"], opts["norm"], opts["norm_eps"], tile,
                   relu=True)
    h = conv_tiled(h, own["w2"], own["b2"], 1, pads, mode, tile, spill=spill)
    h = norm_tiled(h, own["gamma2"], own["beta2"], opts["norm"], opts["norm_eps"], tile)
    shave = SHAVE if padding == "valid" else 0
    for a, b in _bands(h, tile):
        h[:, a:b] += x[:, shave + a:shave + b, shave:x.shape[2] - shave]
    return h


def tiled_inference_bytes(net, height, width, tile):
    """About how much memory :func:`apply_tiled` needs: the largest layer's input and output,
    whole, and one tile's window and products (counted as four copies of the widest tile)."""
    itemsize = np.dtype(net.dtype).itemsize
    h, w, c = height, width, net.in_channels
    peak = 0
    for stage in net.stages:
        if stage.kind == "up":
            nh, nw = 2 * h, 2 * w
        elif stage.kind == "res":
            nh, nw = h, w
        else:
            nh, nw = -(-h // stage.stride), -(-w // stage.stride)
        window = (tile + stage.kernel) ** 2 * max(c, stage.c_out)
        held = h * w * c + nh * nw * stage.c_out * (2 if stage.kind == "res" else 1)
        peak = max(peak, (held + 4 * window) * itemsize)      # a block holds its middle too
        h, w, c = nh, nw, stage.c_out
    return peak


def vgg_features_tiled(vgg, x, layers, tile, spill=None):
    """VGG's features at `layers`, computed layer by layer over tiles (an encoder's pass).

    Each 3x3 conv is :func:`conv_tiled` with the network's padding (zeros, or
    the normalised VGG's reflection), each ReLU is applied in place a band at
    a time, each 2x2 pooling pools bands of even height (as the whole layer,
    it drops an odd last row or column).

    Parameters
    ----------
    vgg : VGG
    x : ndarray of shape (N, H, W, 3)
        RGB in [0, 1].
    layers : list of str
        Such as ``["relu4_1"]``.
    tile : int
    spill : Spill, optional

    Returns
    -------
    feats : dict name -> ndarray of shape (N, H_l, W_l, C_l)
        ``vgg.forward(x, layers=layers)``, up to the order of sums.
    """
    from ..layers import avgpool2x2_forward, maxpool2x2_forward
    xp = get_array_module(x)
    pool = maxpool2x2_forward if vgg.pooling == "max" else avgpool2x2_forward
    deepest = vgg.deepest(layers)
    h, _ = vgg.preprocess_forward(x)
    feats = {}
    for name in vgg.names[:vgg.names.index(deepest) + 1]:
        if name.startswith("conv"):
            w, b = vgg.params[name]
            h = conv_tiled(h, w, b, 1, (1, 1, 1, 1), vgg.padding, tile, spill=spill)
        elif name.startswith("relu"):
            for a, b_ in _bands(h, tile):
                xp.maximum(h[:, a:b_], 0, out=h[:, a:b_])
        else:
            n, hh, ww, c = h.shape
            out = _empty(xp, (n, hh // 2, ww // 2, c), h.dtype, spill)
            rows = max(2, (tile * tile // ww) // 2 * 2)      # an even band: whole 2x2 windows
            for a in range(0, hh - hh % 2, rows):
                b_ = min(a + rows, hh - hh % 2)
                out[:, a // 2:b_ // 2] = pool(h[:, a:b_])[0]
            h = out
        if name in layers:            # a conv's output is ReLU'd in place next: keep a copy
            feats[name] = h.copy() if name.startswith("conv") else h
    return feats


def receptive_field(table):
    """How far the last of a stack of layers sees: ``(left, right, stride)``, from its table.

    A feature at index ``p`` of the last layer depends on the input pixels
    ``p * stride - left ... p * stride + right``. Each layer of kernel ``k``,
    stride ``s`` and padding ``pad`` before its first tap, met with the
    stride ``j`` accumulated so far, widens that range by ``pad * j`` on the
    left and ``(k - 1 - pad) * j`` on the right, then multiplies the stride::

        left, right, j = 0, 0, 1
        for k, s, pad in table:
            left  += pad * j
            right += (k - 1 - pad) * j
            j     *= s

    Parameters
    ----------
    table : sequence of (kernel, stride, pad)
        From the input to the layer, e.g. :func:`vgg_table`.

    Examples
    --------
    VGG-19 up to ``relu5_1``: 16 3x3 convs and four 2x2 poolings before it.

    >>> from stylelab.nets.vgg import layer_names
    >>> receptive_field(vgg_table(layer_names("vgg19"), "relu5_1"))
    (70, 85, 16)
    """
    left = right = 0
    j = 1
    for k, s, pad in table:
        left += pad * j
        right += (k - 1 - pad) * j
        j *= s
    return left, right, j


def vgg_table(names, layer):
    """The ``(kernel, stride, pad)`` of each of VGG's layers `names` up to `layer`:
    3x3 convs padded by 1, ReLUs, 2x2 poolings of stride 2."""
    table = []
    for name in names[:list(names).index(layer) + 1]:
        if name.startswith("conv"):
            table.append((3, 1, 1))
        elif name.startswith("pool"):
            table.append((2, 2, 0))
        else:
            table.append((1, 1, 0))
    return table
