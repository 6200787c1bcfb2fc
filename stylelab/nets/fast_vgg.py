"""VGG's fast engine: the numbers of :class:`stylelab.nets.vgg.VGG`, computed with less time and memory.

A Gatys run evaluates the same network on one image size hundreds of times,
so this engine trades readability for speed in four ways (``docs/speed.md``
measures each):

* **Kernels chosen per layer** (:mod:`stylelab.layers.fast`): shifted GEMMs,
  Winograd F(2x2, 3x3) where channels are many (256 x 256 and more: block 3
  on), row taps for the RGB image's conv and few-filter products for its
  gradient; the filters are rearranged for them once per network.
* **No padding copies, no ReLU pass**: unless a conv's own output is asked
  for, the conv applies the ReLU after it block by block as it computes,
  and writes the result inside a zero-bordered buffer, which is exactly what
  the next conv reads.
* **No fresh memory**: with ``reuse_buffers=True`` every pass computes in
  the previous pass's buffers; working memory lives in three arenas
  (``"grid"``, ``"handoff"``, ``"relu grad"``) shared by every resolution.
* **Only what backward needs**: a block's last ReLU, read only by its
  max-pooling, is applied in working memory and the pooling keeps one byte
  per window saying which corner won (:mod:`stylelab.layers.fast.pool_winners`);
  with ``keep_cache=False`` (an encoder: no backward follows) not even that.

Each pass records a tape of ``(name, kind, cache)`` (a conv's cache names
its kernel); the backward pass runs the method of each step's kind.
``tests/test_fast_paths.py`` checks every layer's output and the image
gradient against the readable network.

Reflection padding (the normalised Torch7 VGG) uses the same buffers: before
a conv reads one, its border is filled with the mirrored rows and columns
(four thin copies). Backward, the gradient that reaches that border is added
back onto the rows and columns it mirrors: four one-pixel strips of the
conv's input gradient (:meth:`FastVGG._fold_reflected_border`).
"""

from ..backend import get_array_module
from ..layers import (avgpool2x2_backward, avgpool2x2_forward, maxpool2x2_backward,
                      maxpool2x2_forward, pad2d_forward)
from ..layers.fast import (conv2d_input_gradient, few_filters, kernel_for, pool_winners, row_taps,
                           shifted, winograd)
from ..layers.fast.taps import conv_taps, flip_swap
from ..profile import timed
from .vgg import VGG


def _reflect_border(hpad):
    """Fill the 1-pixel border of `hpad` (N, H+2, W+2, C) with its interior's mirror, in place."""
    hpad[:, 0, 1:-1] = hpad[:, 2, 1:-1]
    hpad[:, -1, 1:-1] = hpad[:, -3, 1:-1]
    hpad[:, :, 0] = hpad[:, :, 2]                  # whole columns: the corners come along
    hpad[:, :, -1] = hpad[:, :, -3]


class FastVGG(VGG):
    """:class:`~stylelab.nets.vgg.VGG` with the same interface, computed fast (see the module notes).

    ``forward(x, layers, reuse_buffers=True)`` computes in the previous call's
    buffers: the features it returned last time are overwritten, and those
    it returns are read-only views (a ReLU's output lives inside the
    zero-bordered buffer the next conv reads).
    """

    engine = "fast"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._arranged = {}          # (conv name, use) -> its filters as that kernel wants them
        self._buffers, self._reuse = {}, False

    # -- the forward pass --
    def forward(self, x, layers=None, reuse_buffers=False, keep_cache=True):
        requested = list(self.names if layers is None else layers)
        deepest = self.deepest(requested)
        self.check_input(x, deepest)
        self._tape = None           # the last pass's caches are not needed any more
        if not reuse_buffers:
            self._buffers = {}      # let go of the last reused ones
        self._reuse = reuse_buffers
        run = self.names[:self.names.index(deepest) + 1]
        # A block's last ReLU feeds only its max-pooling: unless either (or the
        # conv whose output it overwrites) is asked for, apply it in place and
        # let the pooling keep its winners instead of the ReLU's output.
        pool_only = {name for i, name in enumerate(run[:-1]) if name.startswith("relu")
                     and self.pooling == "max" and run[i + 1].startswith("pool")
                     and name not in requested and run[i - 1] not in requested}
        with timed(self.profile, "preprocess"):
            h, pre_cache = self.preprocess_forward(x)
        hpad = None                 # h inside a zero border of 1 pixel, once it exists
        feats, tape = {}, []
        for i, name in enumerate(run):
            if name.startswith("conv"):
                # Unless its output is asked for, a conv applies the ReLU after it
                # as it makes each block of output (see _conv_forward).
                relu = None if name in requested or i + 1 == len(run) else run[i + 1]
                h, hpad, kind, cache = self._conv_forward(name, h, hpad, name in requested,
                                                          relu, relu in pool_only)
            elif name.startswith("relu"):
                h, hpad, kind, cache = self._relu_forward(name, h, hpad,
                                                          pool_only=name in pool_only,
                                                          done=relu == name)
            else:
                h, hpad, kind, cache = self._pool_forward(name, h, run[i - 1] in pool_only,
                                                          keep_cache)
            tape.append((name, kind, cache))
            if name in requested:
                feats[name] = h
        self._tape = (pre_cache, tape) if keep_cache else None
        self._trim_scratch()
        return feats

    def _conv_forward(self, name, h, hpad, keep, relu=None, pool_only=False):
        """The conv `name` on `h` (inside `hpad`, its border): ``(y, ypad, "conv", kernel)``.

        With `relu` (the ReLU layer after it, when nothing needs the conv's own
        output) the ReLU is applied as the output is made. Then the output is
        written where that ReLU's output lives: inside the zero-bordered buffer
        the next conv reads (`ypad`), or -- `pool_only`, feeding only a pooling --
        in working memory. No pass of its own, no copy.
        """
        xp = get_array_module(h)
        w, b = self.params[name]
        if hpad is None:                                  # the image: pad it once
            hpad, _ = pad2d_forward(h, 1, self.padding)
        elif self.padding == "reflect":
            _reflect_border(hpad)
        n, hp, wp, _ = hpad.shape
        out_shape = (n, hp - 2, wp - 2, w.shape[0])
        ypad, bordered = None, relu is not None and not pool_only
        if keep:                                          # asked for: it must outlive the pass
            grid = xp.zeros((n, hp, wp, w.shape[0]), dtype=h.dtype)
        elif bordered:
            ypad, _ = self._bordered(("relu", relu), out_shape, h.dtype, xp)
            grid = ypad
        else:           # used once: the "grid" arena serves every such output
            grid, _ = self._scratch("grid", out_shape, h.dtype, xp)
        apply_relu = relu is not None
        # The conv table's choice (layers.fast.kernel_for): row taps for the RGB image,
        # Winograd where channels are many and the map is even, shifted GEMMs otherwise.
        even = h.shape[1] % 2 == 0 and h.shape[2] % 2 == 0
        choice = kernel_for(1, w.shape[3], w.shape[0], 3, even)
        if choice == "row_taps":                          # the RGB image
            with timed(self.profile, "conv forward (row taps)"):
                y = row_taps.correlate(hpad, w, bias=b, out=grid, relu=apply_relu,
                                       bordered=bordered)
            kernel = "row_taps"
        elif choice == "winograd":
            with timed(self.profile, "conv forward (Winograd)"):
                y = winograd.correlate(hpad, self._filters(name, "winograd"),
                                       out=grid[:, 1:-1, 1:-1, :])
                y += b
                if apply_relu:
                    xp.maximum(y, 0, out=y)
            kernel, bordered = "winograd", False          # only the interior was written
        else:
            with timed(self.profile, "conv forward (shifted GEMMs)"):
                y = shifted.correlate(hpad, self._filters(name, "shifted"), 3, bias=b,
                                      out=grid, relu=apply_relu, bordered=bordered)
            kernel = "shifted"
        if bordered and self.padding == "zeros":          # the border caught the spare columns
            ypad[:, 0], ypad[:, -1], ypad[:, :, 0], ypad[:, :, -1] = 0, 0, 0, 0
        return y, ypad, "conv", kernel

    def _relu_forward(self, name, h, hpad, pool_only, done=False):
        xp = get_array_module(h)
        if done:                  # the conv below applied it (see _conv_forward)
            return (h, None, "relu_pool_only", None) if pool_only else (h, hpad, "relu", h)
        with timed(self.profile, "ReLU forward"):
            if pool_only:         # in place, in working memory: only the pooling reads it
                xp.maximum(h, 0, out=h)
                return h, None, "relu_pool_only", None
            # Written straight into the zero-bordered buffer the next conv reads:
            # the padding costs no copy of its own.
            hpad, a = self._bordered(("relu", name), h.shape, h.dtype, xp)
            xp.maximum(h, 0, out=a)
        return a, hpad, "relu", a

    def _pool_forward(self, name, h, after_pool_only, keep_cache=True):
        xp = get_array_module(h)
        with timed(self.profile, "pooling forward"):
            shape = (h.shape[0], h.shape[1] // 2, h.shape[2] // 2, h.shape[3])
            ypad, y = self._bordered(("pool", name), shape, h.dtype, xp)
            if self.pooling == "avg":
                pooled, cache = avgpool2x2_forward(h)
                y[...] = pooled
                return y, ypad, "avgpool", cache
            _, cache = maxpool2x2_forward(h, out=y)
            if after_pool_only and keep_cache:  # for backward: which corner won, not h
                return y, ypad, "maxpool_winners", (pool_winners.winners(h, y), y, h.shape)
        return y, ypad, "maxpool", cache       # the next block's conv reads y inside ypad

    # How each kernel wants a conv's filters (F, 3, 3, C), by what it is used for.
    _ARRANGED = {"flipped": flip_swap,                       # the RGB conv's gradient: few filters
                 "shifted": conv_taps,
                 "shifted_back": lambda w: conv_taps(flip_swap(w)),
                 "winograd": winograd.winograd_taps,
                 "winograd_back": winograd.winograd_backward_taps}

    def _filters(self, name, use):
        """The conv's filters arranged for `use` (a key of ``_ARRANGED``), made once per
        network -- and only the arrangements its kernels ask for (a Winograd layer's
        shifted taps would be megabytes nobody reads)."""
        key = (name, use)
        if key not in self._arranged:
            self._arranged[key] = self._ARRANGED[use](self.params[name][0])
        return self._arranged[key]

    # -- the backward pass --
    def backward(self, grads, release=False):
        self.check_gradients(grads)
        pre_cache, tape = self._tape
        d = dpad = None      # the gradient at the current layer's output (and its border)
        for i in reversed(range(len(tape))):
            name, kind, cache = tape[i]
            if name in grads:
                g = grads.pop(name) if release else grads[name]
                if d is None:
                    d = g
                else:
                    d += g    # d is always one of the network's own buffers here
                del g
            if d is None:
                continue      # nothing to carry back yet
            below = tape[i - 1][0] if i else None
            d, dpad = self._BACKWARD[kind](self, name, cache, d, dpad, below)
        self._trim_scratch()
        with timed(self.profile, "preprocess"):
            return self.preprocess_backward(d, pre_cache)

    # Each returns the gradient at the layer's input, and that inside a zero
    # border of 1 (or None). The working memory comes in three roles (see
    # _scratch): a ReLU writes the gradient into "relu grad" (zero border),
    # the conv below reads it and writes into "grid" -- or, when a pooling is
    # below, into "handoff", which the pooling reads while it writes into
    # "grid" at the next resolution.
    def _relu_backward(self, name, cache, d, dpad, below):
        xp = get_array_module(d)
        with timed(self.profile, "ReLU backward"):
            dpad, dz = self._scratch("relu grad", d.shape, d.dtype, xp, border=True)
            xp.multiply(d, cache > 0, out=dz)       # d where the ReLU passed
        return dz, dpad

    def _pool_only_relu_backward(self, name, cache, d, dpad, below):
        return d, dpad                              # the pooling above applied it

    def _conv_backward(self, name, kernel, d, dpad, below):
        dz, dzpad = self._conv_input_gradient(name, kernel, d, dpad, below)
        if self.padding == "reflect":
            with timed(self.profile, "conv backward (reflected border)"):
                self._fold_reflected_border(name, d, dz)
        return dz, dzpad

    def _fold_reflected_border(self, name, d, dz):
        """Add the gradient at a reflect-padded conv's border to the input rows and columns it copies.

        Padded row 0 is input row 1 and padded row H+1 is row H-2 (columns
        likewise); only output row 0 reads padded row 0 (through the filters'
        top row), so each border strip is the input gradient of a 3-pixel-wide
        slab under one row (or column) of `d`.
        """
        xp = get_array_module(d)
        w = self.params[name][0]
        n, h, wd, _ = d.shape
        c = w.shape[3]
        # Top and bottom strips in one call, left and right in another (a batch of 2n):
        # each call arranges the filters once.
        rows = conv2d_input_gradient(xp.concatenate([d[:, :1], d[:, h - 1:]]), w,
                                     (2 * n, 3, wd + 2, c), padding=0)
        cols = conv2d_input_gradient(xp.concatenate([d[:, :, :1], d[:, :, wd - 1:]]), w,
                                     (2 * n, h + 2, 3, c), padding=0)
        top, bottom = rows[:n, 0], rows[n:, 2]
        left, right = cols[:n, 1:-1, 0], cols[n:, 1:-1, 2]
        dz[:, 1] += top[:, 1:-1]
        dz[:, h - 2] += bottom[:, 1:-1]
        dz[:, :, 1] += left
        dz[:, :, wd - 2] += right
        for (r, col), strip in (((1, 1), top[:, 0]), ((1, wd - 2), top[:, -1]),
                                ((h - 2, 1), bottom[:, 0]), ((h - 2, wd - 2), bottom[:, -1])):
            dz[:, r, col] += strip                      # the corners mirror both ways

    def _conv_input_gradient(self, name, kernel, d, dpad, below):
        xp = get_array_module(d)
        if dpad is None:                            # a gradient given at the conv's own output
            dpad, dz = self._scratch("relu grad", d.shape, d.dtype, xp, border=True)
            dz[...] = d
        if kernel == "row_taps":                    # to the image: 3 output channels, few filters
            with timed(self.profile, "conv backward (few filters)"):
                return few_filters.correlate(dpad, self._filters(name, "flipped")), None
        role = "handoff" if below is not None and below.startswith("pool") else "grid"
        n, hp, wp, _ = dpad.shape
        c_in = self.params[name][0].shape[3]
        grid, inside = self._scratch(role, (n, hp - 2, wp - 2, c_in), d.dtype, xp)
        if kernel == "winograd":
            with timed(self.profile, "conv backward (Winograd)"):
                return winograd.correlate(dpad, self._filters(name, "winograd_back"),
                                          out=inside), None
        with timed(self.profile, "conv backward (shifted GEMMs)"):
            return shifted.correlate(dpad, self._filters(name, "shifted_back"), 3, out=grid), None

    def _winners_backward(self, name, cache, d, dpad, below):
        won, y, x_shape = cache
        xp = get_array_module(d)
        with timed(self.profile, "pooling backward"):
            # The ReLU below passed the winner's gradient iff the maximum is
            # positive; the result goes where that ReLU would have put it.
            dpad, dz = self._scratch("relu grad", x_shape, d.dtype, xp, border=True)
            return pool_winners.backward(d * (y > 0), won, x_shape, out=dz), dpad

    def _maxpool_backward(self, name, cache, d, dpad, below):
        with timed(self.profile, "pooling backward"):
            _, inside = self._scratch("grid", cache[0].shape, d.dtype, get_array_module(d))
            return maxpool2x2_backward(d, cache, out=inside), None

    def _avgpool_backward(self, name, cache, d, dpad, below):
        with timed(self.profile, "pooling backward"):
            return avgpool2x2_backward(d, cache), None

    _BACKWARD = {"relu": _relu_backward, "relu_pool_only": _pool_only_relu_backward,
                 "conv": _conv_backward, "maxpool_winners": _winners_backward,
                 "maxpool": _maxpool_backward, "avgpool": _avgpool_backward}

    # -- memory --
    def _bordered(self, key, shape, dtype, xp):
        """A buffer for an (N, H, W, C) array inside a zero border of 1 pixel, and its interior.

        Zero-filled; with reuse, the one kept under `key`. Its border is zero
        unless a conv wrote past its interior (then that conv zeroes it again,
        or, with reflection padding, the next conv mirrors the interior onto it).
        """
        n, height, width, c = shape
        full = (n, height + 2, width + 2, c)
        buf = self._buffers.get(key) if self._reuse else None
        if buf is None or buf.shape != full or buf.dtype != dtype:
            buf = xp.zeros(full, dtype=dtype)
            if self._reuse:
                self._buffers[key] = buf
        return buf, buf[:, 1:-1, 1:-1, :]

    def _scratch(self, role, shape, dtype, xp, border=False):
        """Working memory of one `role`, shared by every shape: ``(buffer, interior)``.

        Only one resolution is worked on at a time, so one flat arena per role,
        as large as the largest request, serves all layers: deep blocks reuse
        the first block's memory. With `border`, the 1-pixel border is zeroed.
        Without reuse, a new zero-filled array.
        """
        n, height, width, c = shape
        full = (n, height + 2, width + 2, c)
        if not self._reuse:
            buf = xp.zeros(full, dtype=dtype)
        else:
            size = n * (height + 2) * (width + 2) * c
            arena = self._buffers.get(("scratch", role))
            if arena is None or arena.size < size or arena.dtype != dtype:
                arena = self._buffers[("scratch", role)] = xp.zeros(size, dtype=dtype)
            buf = arena[:size].reshape(full)
            if border:
                buf[:, 0], buf[:, -1], buf[:, :, 0], buf[:, :, -1] = 0, 0, 0, 0
        return buf, buf[:, 1:-1, 1:-1, :]

    def _trim_scratch(self):
        """Let go of the working-memory arenas between passes when they are large.

        Kept, they spare the next pass a page fault every 4 KiB; but at 2048 px
        they would hold 2.4 GB through the losses, and memory is what runs out
        first there.
        """
        arenas = [k for k in self._buffers if k[0] == "scratch"]
        if sum(self._buffers[k].nbytes for k in arenas) > self.scratch_limit:
            for k in arenas:
                del self._buffers[k]
