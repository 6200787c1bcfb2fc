"""Gatys et al.'s objective over tiles: the same loss and gradient, in memory that follows the tile.

Every statistic of the objective is a sum over positions -- a Gram matrix
``G = sum_p f_p f_p^T``, a channel mean, a content error ``sum_p |f_p - p_p|^2``
-- and every feature sees a bounded patch of the image: its receptive field
(:func:`stylelab.nets.tiled.receptive_field`). So the image is cut into
tiles, each run through VGG inside a window that adds a halo as wide as that
field, and only each tile's own (interior) features are counted::

    pass 1, each tile:  f = VGG(window)[interior]
                        S1 += sum_p f_p,  S2 += sum_p f_p f_p^T,  E_c += |f - P|^2
    then:               G = S2 (or S2 - M mu mu^T for covariance, mu = S1 / M)
                        the loss, and D = 4 k (G - A) per style layer
    pass 2, each tile:  f = VGG(window)[interior]      (again: nothing is kept)
                        dL/df = (f - mu) D  (style),  f - P  (content), zero in the halo
                        grad[window] += VGG backward(dL/df)

Windows start on multiples of the network's total stride, so every 2x2
pooling pairs the same pixels as over the whole image; a feature whose field
reaches past the window's edge lies in the halo and is not counted. Padding
is the whole image's: a window on the border keeps the image's border. The
loss and gradient equal the untiled ones up to the order of floating-point
sums (``tests/test_tiled_gatys.py``: 1e-9 in float64). The price is the
halo's recomputation and a second forward pass.
"""

from ..backend import get_array_module
from ..nets.tiled import receptive_field, vgg_table
from .losses import style_scale
from .recipes import gradient_scale


class TileGrid:
    """The tiles of an ``height x width`` image and the windows that compute them.

    Parameters
    ----------
    vgg : VGG
    shape : (height, width)
    layer : str
        The deepest layer used: its receptive field is the halo.
    tile : int
        The tiles' side, rounded up to a multiple of the total stride.
    """

    def __init__(self, vgg, shape, layer, tile):
        left, right, stride = receptive_field(vgg_table(vgg.names, layer))
        self.stride = stride
        self.tile = -(-int(tile) // stride) * stride
        # A whole number of strides, so every window starts where a pooling window does.
        self.halo = -(-(max(left, right) + stride) // stride) * stride
        self.shape = tuple(shape)
        self.names = vgg.names

    def spans(self, size):
        """``(a, b, wa, wb)``: a tile's rows and its window's, for one side of `size` pixels."""
        out = []
        for a in range(0, size, self.tile):
            b = min(a + self.tile, size)
            out.append((a, b, max(0, a - self.halo), min(size, b + self.halo)))
        return out

    def windows(self):
        """Every tile: ``((y0, y1, wy0, wy1), (x0, x1, wx0, wx1))``."""
        return [(r, c) for r in self.spans(self.shape[0]) for c in self.spans(self.shape[1])]

    def layer_stride(self, layer):
        """How many image pixels one step of `layer`'s map is (2 ** the poolings before it)."""
        return receptive_field(vgg_table(self.names, layer))[2]


def feature_side(vgg, side, layer):
    """The side of `layer`'s feature map for an image side: each 2x2 pooling halves it, rounding down."""
    for name in vgg.names[:vgg.names.index(layer) + 1]:
        if name.startswith("pool"):
            side //= 2
    return side


def _interior(grid, net, layer, rows, cols):
    """The tile's part of `layer`'s whole map and of its window's: two (rows, cols) slice pairs."""
    full_shape = (feature_side(net, grid.shape[0], layer), feature_side(net, grid.shape[1], layer))
    out = []
    for (a, b, wa, _), size, full in ((rows, grid.shape[0], full_shape[0]),
                                      (cols, grid.shape[1], full_shape[1])):
        s = grid.layer_stride(layer)
        start, stop = a // s, (full if b == size else b // s)
        out.append((slice(start, stop), slice(start - wa // s, stop - wa // s)))
    (fr, wr), (fc, wc) = out
    return (fr, fc), (wr, wc)


def tiled_features(objective, img, layers, grid, visit):
    """Run every window of `img` through the network and call ``visit(layer, where, f)``
    with each tile's interior features ``f`` (1, h, w, C) and ``where``, their place in
    the whole map (a pair of slices)."""
    net = objective.net
    for rows, cols in grid.windows():
        window = img[rows[2]:rows[3], cols[2]:cols[3]]
        feats = net.forward(objective.network_input(window[None]), layers=list(layers),
                            reuse_buffers=True, keep_cache=False)
        for n in layers:
            where, inside = _interior(grid, net, n, rows, cols)
            visit(n, where, feats[n][:, inside[0], inside[1]])


def tiled_gram(objective, img, layers, grid, statistic):
    """``({layer: G (1, C, C)}, {layer: M})`` of one image, summed over its tiles."""
    s1, s2, m = {}, {}, {}

    def visit(n, where, f):
        _add_sums(s1, s2, m, n, f)

    tiled_features(objective, img, layers, grid, visit)
    return {n: _statistic(s1[n], s2[n], m[n], statistic)[None] for n in layers}, m


def _add_sums(s1, s2, m, n, f):
    """Add one tile's features `f` (1, h, w, C) of layer `n` to its sums over positions:
    ``S1 = sum_p f_p``, ``S2 = sum_p f_p f_p^T`` and the count ``M``."""
    fm = f.reshape(-1, f.shape[-1])
    s2[n] = s2.get(n, 0) + fm.T @ fm
    s1[n] = s1.get(n, 0) + fm.sum(axis=0)
    m[n] = m.get(n, 0) + fm.shape[0]


def _statistic(s1, s2, m, statistic):
    """G from the sums: ``S2``, or for covariance ``S2 - M mu mu^T`` with ``mu = S1 / M``."""
    if statistic != "covariance":
        return s2
    mu = s1 / s1.dtype.type(m)
    return s2 - s1.dtype.type(m) * (mu[:, None] * mu[None, :])


def tiled_content_targets(objective, img, layers, grid):
    """The content's features at `layers`, whole, computed tile by tile."""
    xp = get_array_module(img)
    net, out = objective.net, {}

    def visit(n, where, f):
        if n not in out:
            out[n] = xp.empty((1, feature_side(net, grid.shape[0], n),
                               feature_side(net, grid.shape[1], n), f.shape[-1]), dtype=f.dtype)
        out[n][:, where[0], where[1]] = f

    tiled_features(objective, img, layers, grid, visit)
    return out


def tiled_loss_and_grad(objective, x, grid):
    """The content and style terms of ``objective(x)`` and the gradient they send to `x`,
    in two passes over the tiles (the module's text). Returns ``(content, style, grad)``:
    the weighted sums over layers before the overall weights, as the untiled call sums them."""
    xp = get_array_module(x)
    net, dt = objective.net, x.dtype.type
    norm, scale = objective.recipe.normalisation, objective.normalise_gradients
    statistic = objective.statistic
    # Pass 1: the sums.
    s1, s2, m, err = {}, {}, {}, {}

    def visit(n, where, f):
        if n in objective.content_layers:
            d = f - objective.content_targets[n][:, where[0], where[1]]
            err[n] = err.get(n, 0.0) + float((d * d).sum())
        if n in objective.style_layers:
            _add_sums(s1, s2, m, n, f)

    tiled_features(objective, x, objective.layers, grid, visit)
    content = style = 0.0
    coef, mean, apply_d = {}, {}, {}
    for n, w in objective.content_layers.items():
        size = objective.content_targets[n].size
        content += w * (0.5 * err[n] if norm == "paper" else err[n] / size)
        unit = 1.0 if norm == "paper" else 2.0 / size
        coef[n] = dt(unit * gradient_scale(objective.content_weight * w, scale))
    for n, w in objective.style_layers.items():
        g = _statistic(s1[n], s2[n], m[n], statistic)
        c = g.shape[-1]
        k = style_scale(c, m[n], norm)
        diff = g - objective.style_targets[n].reshape(c, c)
        style += w * k * float((diff * diff).sum())
        diff *= dt(4.0 * k * gradient_scale(objective.style_weight * w, scale))
        apply_d[n] = diff
        mean[n] = s1[n] / dt(m[n]) if statistic == "covariance" else None
    # Pass 2: each window's interior gradients, carried back through the window.
    grad = xp.zeros(x.shape, dtype=x.dtype)
    for rows, cols in grid.windows():
        window = x[rows[2]:rows[3], cols[2]:cols[3]]
        feats = net.forward(objective.network_input(window[None]), layers=objective.layers)
        grads = {}
        for n in objective.layers:
            f = feats[n]
            where, inside = _interior(grid, net, n, rows, cols)
            fi = f[:, inside[0], inside[1]]
            g = xp.zeros(f.shape, dtype=f.dtype)
            gi = g[:, inside[0], inside[1]]
            if n in coef:
                gi += (fi - objective.content_targets[n][:, where[0], where[1]]) * coef[n]
            if n in apply_d:
                fm = fi.reshape(-1, fi.shape[-1])
                if mean[n] is not None:
                    fm = fm - mean[n]
                gi += (fm @ apply_d[n]).reshape(fi.shape)
            grads[n] = g
        grad[rows[2]:rows[3], cols[2]:cols[3]] += net.backward(grads, release=True)[0]
    return content, style, grad


def check_tile(tile):
    """A tile side: a whole number of pixels, at least 1."""
    if int(tile) != tile or int(tile) < 1:
        raise ValueError(f"the tile must be a whole number of pixels, at least 1, got {tile}")
    return int(tile)
