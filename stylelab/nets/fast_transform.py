"""The transformation network's inference engine: its forward pass without a cache, in kept memory.

:func:`~stylelab.nets.transform.transform_forward` with ``keep_cache=False``
and the fast engine comes here. Nothing needs a stage's result once the next
stage has read it, so this engine computes the same numbers as the stages
written out there, with three things done differently (``docs/speed.md``
measures them):

* **Each activation lives inside the border its reader pads it by.** A stage
  writes its result into the middle of a buffer a border larger, and fills
  the border in place (:func:`~stylelab.layers.padding.fill_border`: zeros,
  mirror or edge); the next conv reads that buffer as its padded input. A
  3x3 residual conv writes straight into the next buffer's middle
  (``bordered``, :func:`~stylelab.layers.fast.shifted.destination`): no
  padded copy is ever made::

      for each stage:
          y = conv(buffer_in)                 # into buffer_out's middle, or a kernel's grid
          buffer_out[middle] = norm(y) [+ shortcut] [ReLU]      # in place where y is there
          fill buffer_out's border for the next stage's padding

* **The norm in place.** The instance norm's mean and variance are taken on
  the conv's output and its scale, shift, ReLU (or the residual block's
  shortcut) are applied on the way into -- or in -- the next buffer, over
  whole image rows (:func:`_finish`).
* **Kept memory.** Stage outputs take turns in two buffers (``"act 0"``,
  ``"act 1"``), a residual block's middle has one (``"mid"``), and the
  kernels' working copies theirs; a
  :class:`~stylelab.layers.fast.workspace.Workspace` keeps them from call
  to call, so a second image of the same size costs no page faults.

Two published forms have no fast path here and run as written (:func:`supports`):
Torch7's unpadded residual blocks, and nearest upsampling without reflection.
``tests/test_fast_transform.py`` holds this engine to the readable network.
With a :class:`~stylelab.profile.Profile` (``TransformNet.profile``) each
kernel, the norms and the borders are timed.
"""

from dataclasses import dataclass

from ..backend import get_array_module
from ..layers.conv import input_gradient_geometry, padding_sides
from ..layers.conv_transpose import transposed_size
from ..layers.fast import few_filters, kernel_for, phases, row_taps, shifted
from ..layers.fast.table import correlate
from ..layers.fast.taps import conv_taps
from ..layers.fast.upsample_conv import upsample_conv_into
from ..layers.padding import fill_border
from ..profile import timed

ACTIVATIONS = ("act 0", "act 1")     # the stages' outputs, taking turns
MIDDLE = "mid"                       # a residual block's middle


@dataclass
class _Pass:
    """What every stage of one call reads: options, layout, workspace and profile."""

    options: dict
    layout: object
    work: object
    profile: object = None


def supports(stages, options, layout):
    """Whether every stage has a fast form here (else the network runs as written)."""
    return all(_reads(stage, None, options, layout) is not None for stage in stages
               if stage.kind in ("res", "up")) and all(stage.stride <= 2 for stage in stages)


def _reads(stage, shape, options, layout):
    """How `stage` pads its input of `shape`: ``((top, bottom, left, right), mode)``.

    None: the stage has no fast form here.
    """
    if stage.kind == "res":
        padding = layout.residual_padding()
        return None if padding == "valid" else ((1, 1, 1, 1), padding)
    if stage.kind == "up":
        if options["upsample"] == "transpose":
            return (0, 0, 0, 0), "zeros"                  # it reads its input as it is
        return ((1, 1, 1, 1), "edge") if layout.padding == "reflect" else None
    spec = layout.conv_padding(stage, shape)
    return padding_sides(spec["padding"], stage.kernel, stage.name), spec.get("pad_mode", "zeros")


class _Buffer:
    """An (N, H, W, C) activation in the middle of `buf`, `border` pixels from each edge."""

    def __init__(self, buf, border):
        self.buf, self.border = buf, border
        b = border
        self.inside = buf[:, b:buf.shape[1] - b, b:buf.shape[2] - b]

    def padded(self, pads, mode, run):
        """The activation padded by `pads` (a view of `buf`, its border filled in place)."""
        t, bo, le, r = pads
        b, (_, hp, wp, _) = self.border, self.buf.shape
        view = self.buf[:, b - t:hp - b + bo, b - le:wp - b + r]
        with timed(run.profile, "borders"):
            return fill_border(view, pads, mode)


def _place(work, role, shape, border, dtype, xp):
    n, h, w, c = shape
    return _Buffer(work.empty(role, (n, h + 2 * border, w + 2 * border, c), dtype, xp), border)


def infer(x, params, stages, options, layout, work, profile=None):
    """The network's output for `x`, as ``transform_forward(x, ..., keep_cache=False)``.

    Parameters
    ----------
    x : ndarray of shape (N, H, W, C)
    params : dict
    stages : list of Stage
    options : dict
        The network's options, settled.
    layout : Layout
    work : Workspace
        Where every working array lives; what it holds is overwritten.
    profile : Profile, optional
        Times each kernel, the norms and the borders.

    Returns
    -------
    y : ndarray of shape (N, H', W', 3)
        New memory (not the workspace's); a view into a slightly larger grid.
    """
    xp = get_array_module(x)
    run = _Pass(options, layout, work, profile)
    h, _ = layout.to_network(x)
    pads, _ = _reads(stages[0], h.shape, options, layout)
    src = _place(work, ACTIVATIONS[1], h.shape, max(pads), h.dtype, xp)
    src.inside[...] = h
    for i, stage in enumerate(stages):
        own = {k[len(stage.name) + 1:]: v for k, v in params.items()
               if k.startswith(stage.name + ".")}
        if stage.last:
            return layout.from_network(_last(stage, src, own, run), inplace=True)
        after = stages[i + 1]
        role = ACTIVATIONS[i % 2]
        if stage.kind == "res":
            src = _residual(stage, src, own, after, role, run)
        else:
            src = _stage(stage, src, own, after, role, run)
    raise AssertionError("the last stage returns")


def _next_border(after, shape, run):
    return max(_reads(after, shape, run.options, run.layout)[0])


def _stage(stage, src, own, after, role, run):
    """A conv, down or up stage with its norm and ReLU, into `role`'s buffer."""
    xp = get_array_module(src.buf)
    w, b = own["w"], own["b"]
    n, h, wd, _ = src.inside.shape
    if stage.kind == "up" and run.options["upsample"] == "transpose":
        pads, extra = run.layout.transpose_padding(src.inside.shape)
        top, bottom, left, right = padding_sides(pads, 3, stage.name)
        shape = (n, transposed_size(h, 3, 2, top, bottom, extra),
                 transposed_size(wd, 3, 2, left, right, extra), w.shape[3])
        dst = _place(run.work, role, shape, _next_border(after, shape, run), w.dtype, xp)
        # the transposed conv is the adjoint of a stride-2 conv (w as (C_in, K, K, C_out)),
        # its zero padding cropped as its phases are interleaved into dst
        _, padded = input_gradient_geometry(src.inside, w, shape, 2, pads, stage.name)
        with timed(run.profile, "transposed conv (phases, gathered)"):
            phases.input_gradient(src.inside, padded, w, crop=(top, bottom, left, right),
                                  out=dst.inside, work=run.work)
        _finish(dst.inside, dst.inside, own, run, True, bias=b)
        return dst
    if stage.kind == "up":              # nearest x2 and a reflect-padded 3x3 conv
        shape = (n, 2 * h, 2 * wd, w.shape[0])
        dst = _place(run.work, role, shape, _next_border(after, shape, run), w.dtype, xp)
        xpad = src.padded((1, 1, 1, 1), "edge", run)
        with timed(run.profile, "upsample conv (four 2x2 convs)"):
            upsample_conv_into(xpad, w, b, dst.inside, run.work)
        _finish(dst.inside, dst.inside, own, run, True)
        return dst
    pads, mode = _reads(stage, src.inside.shape, run.options, run.layout)
    dst, y = _conv(src.padded(pads, mode, run), w, b, stage.stride, pads, role,
                   lambda shape: _next_border(after, shape, run), run)
    _finish(y, dst.inside, own, run, True)
    return dst


def _conv(xpad, w, b, stride, pads, role, border, run):
    """The conv of a padded input into `role`'s buffer: ``(dst, y)``.

    `border(shape)` is the border the output's reader needs. A stride-1 conv
    on the shifted or row-tap kernels, padded by K // 2 on every side, makes
    a grid of its input's shape with the output inside a border of K // 2
    (:func:`~stylelab.layers.fast.shifted.destination`): when the reader needs
    no more, that grid *is* ``dst``'s buffer and ``y`` is ``dst.inside``.
    Otherwise ``y`` is the products in the kernel's own memory.
    (:func:`_finish` knows the first case by ``y is dst.inside``.)
    """
    xp, work = get_array_module(xpad), run.work
    f, k, _, c = w.shape
    n, hp, wp, _ = xpad.shape
    shape = (n, (hp - k) // stride + 1, (wp - k) // stride + 1, f)
    even = shape[1] % 2 == 0 and shape[2] % 2 == 0
    kernel = kernel_for(stride, c, f, k, even)
    need = border(shape)
    with timed(run.profile, f"conv ({kernel})"):
        if kernel in ("shifted", "row_taps") and pads == (k // 2,) * 4 and need <= k // 2:
            dst = _place(work, role, shape, k // 2, xpad.dtype, xp)       # the grid's shape
            if kernel == "shifted":
                shifted.correlate(xpad, conv_taps(w), k, bias=b, out=dst.buf, bordered=True)
            else:
                row_taps.correlate(xpad, w, bias=b, out=dst.buf, bordered=True, work=work)
            return dst, dst.inside
        dst = _place(work, role, shape, need, xpad.dtype, xp)
        if kernel == "phases":
            return dst, phases.correlate(xpad, w, b, work=work)
        return dst, correlate(xpad, w, b, stride, kernel)       # few filters, Winograd


def _residual(stage, src, own, after, role, run):
    """A residual block: each 3x3 conv writes inside the buffer the next one reads."""
    pads, mode = _reads(stage, src.inside.shape, run.options, run.layout)
    mid, y = _conv(src.padded(pads, mode, run), own["w1"], own["b1"], 1, pads, MIDDLE,
                   lambda shape: 1, run)
    _finish(y, mid.inside, own, run, True, suffix="1")
    dst, y = _conv(mid.padded(pads, mode, run), own["w2"], own["b2"], 1, pads, role,
                   lambda shape: _next_border(after, shape, run), run)
    _finish(y, dst.inside, own, run, False, suffix="2", shortcut=src.inside)
    return dst


def _rows(a):
    """(N, H, W, C) -> (N, H, W*C), a view: each image row is contiguous in every buffer here."""
    n, h, w, c = a.shape
    if a.strides[3] != a.itemsize or a.strides[2] != c * a.itemsize:
        raise ValueError("internal: an activation whose rows are not contiguous")
    return a.reshape(n, h, w * c)


def _finish(y, out, own, run, relu, suffix="", shortcut=None, bias=None):
    """``out = norm(y + bias) [+ shortcut] [ReLU]``; `out` may be `y` itself.

    The instance norm as :func:`~stylelab.layers.normalization.instance_norm_forward`
    computes it in place (a bias before it cancels in the mean, so it is not
    added); the affine norm folds the bias into its shift. The passes go over
    whole image rows (N, H, W*C) with each per-channel vector repeated along
    a row: NumPy then runs one long loop a row rather than one of C numbers
    a pixel -- 1.7 to 3.6 times faster at 512 px (and ``maximum`` with a row
    of zeros, not the scalar 0).
    """
    with timed(run.profile, "norm, ReLU, shortcut"):
        return _norm_rows(y, out, own, run.options, relu, suffix, shortcut, bias)


def _norm_rows(y, out, own, options, relu, suffix, shortcut, bias):
    xp = get_array_module(y)
    gamma, beta = own.get("gamma" + suffix), own.get("beta" + suffix)
    n, h, w, c = y.shape
    rows, o = _rows(y), _rows(out)

    def along_rows(v):                 # (N, C) or (C,) -> (N or 1, 1, W*C)
        return xp.tile(v.reshape(-1, c), (1, w))[:, None, :]

    if gamma is not None and options["norm"] == "instance":
        m = y.dtype.type(h * w)
        mu = xp.einsum("nhwc->nc", y) / m
        xp.subtract(rows, along_rows(mu), out=o)
        var = xp.einsum("nhk,nhk->nk", o, o).reshape(n, w, c).sum(axis=1) / m
        o *= along_rows(1 / xp.sqrt(var + y.dtype.type(options["norm_eps"])) * gamma)
        o += along_rows(beta)
    elif gamma is not None:            # y * gamma + (beta + bias * gamma)
        xp.multiply(rows, along_rows(gamma), out=o)
        o += along_rows(beta if bias is None else beta + bias * gamma)
    elif bias is not None:
        xp.add(rows, along_rows(bias), out=o)
    elif out is not y:
        o[...] = rows
    if shortcut is not None:
        o += _rows(shortcut)
    if relu:
        xp.maximum(o, xp.zeros((1, 1, w * c), dtype=y.dtype), out=o)
    return out


def _last(stage, src, own, run):
    """The last conv, [its norm,] the output map, in place in the conv's new grid (not `work`'s)."""
    xp = get_array_module(src.buf)
    pads, mode = _reads(stage, src.inside.shape, run.options, run.layout)
    w, b = own["w"], own["b"]
    xpad = src.padded(pads, mode, run)
    kernel = kernel_for(stage.stride, w.shape[3], w.shape[0], w.shape[1])
    with timed(run.profile, f"conv ({kernel})"):
        if kernel == "few_filters":                      # the RGB output: 3 filters
            y = few_filters.correlate(xpad, w, b, work=run.work)
        else:
            y = correlate(xpad, w, b, stage.stride)
    _finish(y, y, own, run, False)
    with timed(run.profile, "output map"):
        scale, shift = (y.dtype.type(v) for v in run.layout.output_map(run.options["output"]))
        if run.options["output"] == "tanh":
            xp.tanh(y, out=y)
        y *= scale
        y += shift
        return y
