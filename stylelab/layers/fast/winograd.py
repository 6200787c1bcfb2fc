"""3x3 convolution with fewer multiplications: Winograd's minimal filtering F(2x2, 3x3).

Lavin & Gray (2016), "Fast Algorithms for Convolutional Neural Networks". A
direct 3x3 correlation spends 9 multiply-adds per output pixel and channel
pair. Winograd computes a 2x2 block of outputs from the 4x4 block of inputs
around it with 16: transform the input tile ``d`` and the filter ``g``,
multiply elementwise, transform back::

    Y = A^T [ (G g G^T) * (B^T d B) ] A

    B^T = [1  0 -1  0]      G = [ 1    0    0 ]      A^T = [1  1  1  0]
          [0  1  1  0]          [1/2  1/2  1/2]            [0  1 -1 -1]
          [0 -1  1  0]          [1/2 -1/2  1/2]
          [0  1  0 -1]          [ 0    0    1 ]

Summed over the input channels, the elementwise products become 16 matrix
products, one per position of the 4x4 tile: ``M_k = V_k @ U_k`` with ``V_k``
of shape (tiles, C) and ``U_k`` of shape (C, F). That is 16/4 = 4
multiply-adds per output instead of 9, paid for by the transforms, which are
additions and subtractions of whole arrays. They cost memory traffic, so this
wins where there are many channels (256 x 256 and more: VGG from block 3 on,
the decoders' deep convs) and goes a band of tiles at a time so that traffic
stays in cache; where there are fewer, :mod:`stylelab.layers.fast.shifted`
is faster (``benchmarks/winograd.py`` measures both). The result is the same
correlation, up to rounding (the transforms are exact in binary, but the
order of additions differs).
"""

from ...backend import get_array_module
from .blas import matmul
from .taps import flip_swap

# A band's transformed tiles, 16 x tiles x channels numbers, take about this many bytes:
# 512 tiles at 256 channels in float32. Measured (benchmarks/winograd.py): within a few
# percent of the fastest band (1024 tiles) on VGG's shapes, 256 tiles 15% slower; each
# band's buffers are working memory on top of the network's, and 1024 tiles put Gatys
# at 256 px above PyTorch's peak memory.
BAND_BYTES = 8 << 20


def winograd_taps(w):
    """Filters (F, 3, 3, C) transformed to ``U`` of shape (16, C, F): ``U[4i+j] = (G g G^T)[i, j]``.

    ``G`` takes three numbers ``(a0, a1, a2)`` to four, ``(a0, (a0+a1+a2)/2,
    (a0-a1+a2)/2, a2)``: applied along the filters' rows, then along their
    columns, in float64 (whole-array additions and halvings, no matrix products).
    """
    xp = get_array_module(w)
    f, k, _, c = w.shape
    if k != 3:
        raise ValueError(f"Winograd F(2x2, 3x3) needs 3x3 filters, got {k}x{k}")

    def g_times(a0, a1, a2):
        s = a0 + a2
        return a0, (s + a1) * 0.5, (s - a1) * 0.5, a2

    g = xp.ascontiguousarray(w.transpose(1, 2, 3, 0)).astype(xp.float64)      # (ky, kx, C, F)
    u = xp.empty((16, c, f), dtype=w.dtype)
    for i, row in enumerate(g_times(g[0], g[1], g[2])):                       # (kx, C, F) each
        for j, tap in enumerate(g_times(row[0], row[1], row[2])):             # (C, F) each
            u[4 * i + j] = tap
    return u


def winograd_backward_taps(w):
    """``U`` for the input gradient: :func:`~stylelab.layers.fast.taps.flip_swap`'s filters, transformed."""
    return winograd_taps(flip_swap(w))


def correlate(xpad, u, out=None, band_tiles=None):
    """Stride-1 'valid' 3x3 correlation of an input padded by 1, by Winograd F(2x2, 3x3).

    The image goes a band of tile rows at a time (about `band_tiles` tiles;
    by default as many as fit :data:`BAND_BYTES`): a band's transformed tiles
    and products stay in the processor's cache between the three steps, where
    the whole image's would be four times the input and output and go out to
    memory and back.

    Parameters
    ----------
    xpad : ndarray of shape (N, H + 2, W + 2, C)
        H and W even (every 2x2 output block is whole).
    u : ndarray of shape (16, C, F)
        From :func:`winograd_taps`.
    out : ndarray of shape (N, H, W, F), optional
        May be a view (the interior of a bordered buffer).
    band_tiles : int, optional

    Returns
    -------
    y : ndarray of shape (N, H, W, F)
    """
    xp = get_array_module(xpad, u)
    n, hp, wp, c = xpad.shape
    h, w = hp - 2, wp - 2
    if h % 2 or w % 2:
        raise ValueError(f"Winograd F(2x2, 3x3) needs an even output size, got {h}x{w}")
    ty, tx, f = h // 2, w // 2, u.shape[2]
    y = xp.empty((n, h, w, f), dtype=xpad.dtype) if out is None else out
    if band_tiles is None:
        band_tiles = BAND_BYTES // (16 * max(c, f) * xpad.dtype.itemsize)
    band = max(1, min(ty, band_tiles // (n * tx)))          # tile rows per band
    dt = xpad.dtype
    rows = xp.empty((4, n, band, wp, c), dtype=dt)          # B^T d: the tiles' rows combined
    v = xp.empty((16, n, band, tx, c), dtype=dt)            # B^T d B
    m = xp.empty((16, n * band * tx, f), dtype=dt)          # the products
    s = xp.empty((2, 4, n, band, tx, f), dtype=dt)          # A^T M: rows combined
    for t0 in range(0, ty, band):
        b = min(band, ty - t0)
        _input_transform(xpad[:, 2 * t0:2 * (t0 + b) + 2], rows[:, :, :b], v[:, :, :b])
        # The 16 products, summing over the input channels.
        tiles = n * b * tx
        vk = (v if b == band else xp.ascontiguousarray(v[:, :, :b])).reshape(16, -1, c)
        for k in range(16):
            matmul(vk[k, :tiles], u[k], out=m[k, :tiles])
        _output_transform(m[:, :tiles].reshape(4, 4, n, b, tx, f), s[:, :, :, :b],
                          y[:, 2 * t0:2 * (t0 + b)])
    return y


def _input_transform(x, rows, v):
    """``V = B^T d B`` for every tile of a band: rows first, then columns (in place).

    `x` (N, 2b + 2, Wp, C) holds the band's tiles; tile row i of every tile is
    a stride-2 view of it."""
    xp = get_array_module(x)
    b, tx = rows.shape[2], v.shape[3]
    r = [x[:, i:i + 2 * b:2] for i in range(4)]                 # (N, b, Wp, C)
    xp.subtract(r[0], r[2], out=rows[0])
    xp.add(r[1], r[2], out=rows[1])
    xp.subtract(r[2], r[1], out=rows[2])
    xp.subtract(r[1], r[3], out=rows[3])
    for i in range(4):
        col = [rows[i][:, :, j:j + 2 * tx:2] for j in range(4)]  # (N, b, tx, C)
        xp.subtract(col[0], col[2], out=v[4 * i])
        xp.add(col[1], col[2], out=v[4 * i + 1])
        xp.subtract(col[2], col[1], out=v[4 * i + 2])
        xp.subtract(col[1], col[3], out=v[4 * i + 3])


def _output_transform(m, s, y):
    """``Y = A^T M A``: each 4x4 tile of products back to a 2x2 block of `y` (N, 2b, 2tx, F)."""
    xp = get_array_module(m)
    top, bottom = s                     # A^T M's two rows, for each of the tile's 4 columns
    for j in range(4):
        xp.add(m[0, j], m[1, j], out=top[j])
        top[j] += m[2, j]
        xp.subtract(m[1, j], m[2, j], out=bottom[j])
        bottom[j] -= m[3, j]
    for a, q in ((0, top), (1, bottom)):                      # then A along the columns
        left, right = y[:, a::2, 0::2], y[:, a::2, 1::2]
        xp.add(q[0], q[1], out=left)
        left += q[2]
        xp.subtract(q[1], q[2], out=right)
        right -= q[3]
