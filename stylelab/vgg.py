"""VGG-16 and VGG-19, built from stylelab's layers, from one HDF5 weight layout.

The networks of the papers, as the seed draws them: blocks of 3x3 convolutions
with ReLUs, each block closed by a 2x2 pooling that halves the image::

    block:    1         2          3               4               5
    VGG-16:   64 x2     128 x2     256 x3          512 x3          512 x3
    VGG-19:   64 x2     128 x2     256 x4          512 x4          512 x4

Layers are named as in the papers: ``conv{b}_{i}``, ``relu{b}_{i}``, ``pool{b}``.
Only the convolutional part is here: style transfer never needs the
classifier.

The weight file (``docs/weights.md``, :mod:`stylelab.vgg_weights`) holds the
filters as (F, 3, 3, C) and records the input convention the weights were
trained with; the network applies it, so callers always pass RGB images in
[0, 1]. The names and file functions of :mod:`stylelab.vgg_weights` are
available from here too.

Forward and backward take the fast roads (``docs/speed.md``): shifted GEMMs
and Winograd on zero-bordered buffers, reused between calls.
"""

import numpy as np

from .backend import array_module, get_array_module
from .layers import (avgpool2x2_backward, avgpool2x2_forward, maxpool2x2_backward,
                     maxpool2x2_forward, pad2d_forward)
from .layers.pooling import maxpool2x2_backward_winners, maxpool2x2_winners
from .layers.shifted import (backward_taps, conv_taps, correlate_valid,
                             correlate_valid_gathered, correlate_valid_gathered_backward)
from .layers.winograd import (correlate3x3_winograd, winograd_backward_taps,
                              winograd_taps)
from .profile import timed
# The names and the file layout live in vgg_weights; they are part of this module's API too.
from .vgg_weights import (BLOCKS, CONVENTION_KEYS, WIDTHS, check_weights, conv_shapes,
                          convs_upto, find_weights, layer_names, normalise_convention,
                          read_vgg_h5, save_random_vgg_h5, save_vgg_h5, weights_source)

__all__ = ["VGG", "load_vgg", "BLOCKS", "CONVENTION_KEYS", "WIDTHS", "check_weights",
           "conv_shapes", "convs_upto", "find_weights", "layer_names", "normalise_convention",
           "read_vgg_h5", "save_random_vgg_h5", "save_vgg_h5", "weights_source"]


# --------------------------------------------------------------------------
# The network
# --------------------------------------------------------------------------

class VGG:
    """The convolutional part of VGG-16/19, frozen, with backprop to the image.

    Build one with :func:`load_vgg`. ``forward`` remembers what ``backward``
    needs (the caches of the layers it ran), so call them in that order.

    Attributes
    ----------
    arch : str
    names : list of str
        The layers this network can compute (up to the last stored conv).
    pooling : {"max", "avg"}
    dtype : numpy dtype
    """

    def __init__(self, arch, weights, convention, pooling="max", dtype=np.float32):
        if pooling not in ("max", "avg"):
            raise ValueError(f"pooling must be 'max' or 'avg', got {pooling!r}")
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise ValueError(f"dtype must be a float dtype, got {dtype}")
        xp = array_module()
        self.arch, self.pooling, self.dtype = arch, pooling, dtype
        self.convention = normalise_convention(convention, where="VGG")
        self.params = {n: (xp.asarray(w, dtype=dtype), xp.asarray(b, dtype=dtype))
                       for n, (w, b) in weights.items()}
        all_names = layer_names(arch)
        last_conv = all_names.index(list(weights)[-1])
        # A stored conv brings its ReLU, and the pooling right after it.
        end = last_conv + 2
        if end < len(all_names) and all_names[end].startswith("pool"):
            end += 1
        self.names = all_names[:end]
        self._tape = None
        self._tap_cache = {}
        self._buffers, self._reuse = {}, False
        self.scratch_limit = 1 << 30   # bytes of working memory kept between passes
        self.profile = None      # a stylelab.profile.Profile times the layers

    # -- preprocessing: RGB in [0, 1] -> the convention the weights expect --
    def _scale_and_shift(self, xp):
        c = self.convention
        scale = c["input_scale"] / c["std"]
        shift = c["mean"] / c["std"]
        return xp.asarray(scale, dtype=self.dtype), xp.asarray(shift, dtype=self.dtype)

    def preprocess(self, x):
        """``(x[..., order] * input_scale - mean) / std`` for RGB `x` in [0, 1]."""
        xp = get_array_module(x)
        if self.convention["channel_order"] == "BGR":
            x = x[..., ::-1]
        scale, shift = self._scale_and_shift(xp)
        return x * scale - shift

    def _preprocess_backward(self, d):
        scale, _ = self._scale_and_shift(get_array_module(d))
        d = d * scale
        if self.convention["channel_order"] == "BGR":
            d = d[..., ::-1]
        return get_array_module(d).ascontiguousarray(d)

    def _check_input(self, x, deepest):
        if x.ndim != 4 or x.shape[-1] != 3:
            raise ValueError(f"VGG input must be RGB images of shape (N, H, W, 3), "
                             f"got shape {tuple(x.shape)}")
        if x.dtype != self.dtype:
            raise ValueError(f"VGG input has dtype {x.dtype} but the network is "
                             f"{self.dtype}; cast the image or load the network with "
                             f"dtype={x.dtype}")
        need = self.min_size(deepest)
        if min(x.shape[1], x.shape[2]) < need:
            raise ValueError(f"an image of {x.shape[1]}x{x.shape[2]} pixels is too "
                             f"small to reach {deepest}: it passes "
                             f"{need.bit_length() - 1} 2x2 poolings, so it needs at "
                             f"least {need}x{need}")

    def min_size(self, layer):
        """The smallest side (pixels) an image needs to reach `layer`: 2 ** poolings."""
        deepest = self._resolve([layer])
        # Every pooling up to and including `layer` halves the image.
        pools = sum(1 for n in self.names[:self.names.index(deepest) + 1]
                    if n.startswith("pool"))
        return 2 ** pools

    def _resolve(self, requested):
        unknown = [n for n in requested if n not in self.names]
        if unknown:
            raise ValueError(f"{self.arch} (as loaded) has no layer {unknown[0]!r}; "
                             f"it has {self.names[0]} ... {self.names[-1]}")
        return max(requested, key=self.names.index)

    def forward(self, x, layers=None, reuse_buffers=False):
        """Run the network as deep as the deepest requested layer.

        Parameters
        ----------
        x : ndarray of shape (N, H, W, 3)
            RGB in [0, 1], in the network's dtype.
        layers : list of str, optional
            Names such as ``"relu4_2"`` or ``"pool3"``; all layers if omitted.
        reuse_buffers : bool
            Compute in the buffers of the previous call instead of new ones.
            An optimiser evaluating one image size over and over wants this:
            fresh memory costs a page fault every 4 KiB, hundreds of
            megabytes per evaluation. The features the previous call
            returned are overwritten.

        Returns
        -------
        feats : dict name -> ndarray of shape (N, H_l, W_l, C_l)
            Read-only use: these may be views into the network's buffers
            (a ReLU's output lives inside the zero-bordered buffer the next
            convolution reads).
        """
        requested = list(layers) if layers is not None else list(self.names)
        if not requested:
            raise ValueError("forward needs at least one layer name")
        deepest = self._resolve(requested)
        self._check_input(x, deepest)
        self._tape = None          # the last pass's caches are not needed any more
        if not reuse_buffers:
            self._buffers = {}     # let go of the last reused ones
        self._reuse = reuse_buffers
        xp = get_array_module(x)
        feats, tape = {}, []
        with timed(self.profile, "preprocess"):
            h = self.preprocess(x)
        hpad = None          # h inside a zero border of 1 pixel, once it exists
        run = self.names[:self.names.index(deepest) + 1]
        fused = False
        for i, name in enumerate(run):
            # A block's last ReLU feeds only its max-pooling: unless either is
            # asked for, keep the pooling's winners instead of the ReLU's output.
            fused = (name.startswith("relu") and self.pooling == "max" and i + 1 < len(run)
                     and run[i + 1].startswith("pool") and name not in requested
                     and run[i - 1] not in requested) or (fused and name.startswith("pool"))
            h, hpad, cache = self._layer_forward(name, h, hpad, xp, keep=name in requested,
                                                 fused=fused)
            tape.append((name, cache))
            if name in requested:
                feats[name] = h
        self._tape = tape
        self._trim_scratch()
        return feats

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

    def _bordered(self, key, shape, dtype, xp):
        """A buffer for an (N, H, W, C) array inside a zero border of 1 pixel, and its interior.

        Zero-filled; with reuse, the one kept under `key` (its border stays
        zero: only interiors are ever written).
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

    def _layer_forward(self, name, h, hpad, xp, keep, fused=False):
        """One layer: ``(output, output inside a zero border or None, cache)``."""
        if name.startswith("conv"):
            w, b = self.params[name]
            if hpad is None:                      # the image: pad it once
                hpad, _ = pad2d_forward(h, 1, "zeros")
            # Pre-ReLU outputs are used once, so the "grid" arena serves them
            # all -- unless this one was asked for.
            n, hp, wp, _ = hpad.shape
            if keep:                           # asked for: must outlive this pass
                grid = xp.zeros((n, hp, wp, w.shape[0]), dtype=h.dtype)
            else:
                grid, _ = self._scratch("grid", (n, hp - 2, wp - 2, w.shape[0]), h.dtype, xp)
            if h.shape[3] < 16:
                # The RGB image's conv: few channels, one gathered product is better.
                with timed(self.profile, "conv forward (gathered taps)"):
                    y = correlate_valid_gathered(hpad, w, bias=b, out=grid)
                return y, None, ("gathered", None)
            if _winograd_pays(h.shape, w.shape[3], w.shape[0]):
                with timed(self.profile, "conv forward (Winograd)"):
                    y = correlate3x3_winograd(hpad, self._taps(name)[2],
                                              out=grid[:, 1:-1, 1:-1, :])
                    y += b
                return y, None, ("winograd", None)
            with timed(self.profile, "conv forward (shifted GEMMs)"):
                y = correlate_valid(hpad, self._taps(name)[0], 3, bias=b, out=grid)
            return y, None, ("shifted", None)
        if name.startswith("relu"):
            with timed(self.profile, "ReLU forward"):
                if fused:          # in place, in working memory: only the pooling reads it
                    xp.maximum(h, 0, out=h)
                    return h, None, ("fused", None)
                # Written straight into the zero-bordered buffer the next conv
                # reads: the padding costs no copy of its own.
                hpad, a = self._bordered(("relu", name), h.shape, h.dtype, xp)
                xp.maximum(h, 0, out=a)
            return a, hpad, a
        with timed(self.profile, "pooling forward"):
            shape = (h.shape[0], h.shape[1] // 2, h.shape[2] // 2, h.shape[3])
            ypad, y = self._bordered(("pool", name), shape, h.dtype, xp)
            if self.pooling == "max" and fused:
                maxpool2x2_forward(h, out=y)
                cache = ("winners", maxpool2x2_winners(h, y), y, h.shape)
            elif self.pooling == "max":
                _, cache = maxpool2x2_forward(h, out=y)
            else:
                pooled, cache = avgpool2x2_forward(h)
                y[...] = pooled
        # The next block's first conv reads y inside its zero border.
        return y, ypad, cache

    def _taps(self, name):
        """The conv's filters as the fast paths want them, made once per network.

        ``(shifted forward, shifted backward, Winograd forward, Winograd backward)``;
        the Winograd ones only where :func:`_winograd_pays`.
        """
        if name not in self._tap_cache:
            w = self.params[name][0]
            taps = (conv_taps(w), backward_taps(w))
            if _winograd_pays(None, w.shape[3], w.shape[0]):
                taps += (winograd_taps(w), winograd_backward_taps(w))
            self._tap_cache[name] = taps
        return self._tap_cache[name]

    def backward(self, grads, release=False):
        """Backpropagate gradients given at any computed layers to the image.

        Parameters
        ----------
        grads : dict name -> ndarray
            The gradient of a scalar loss with respect to each named layer's
            output (shape as returned by :meth:`forward`).
        release : bool
            Remove each gradient from `grads` as soon as it has been added in,
            so its memory can be freed while the pass goes on (the objective
            does this; at 2048 px ``relu1_1``'s gradient alone is 1 GB).

        Returns
        -------
        dx : ndarray of shape (N, H, W, 3)
            The gradient with respect to the RGB input in [0, 1]. The weights
            are frozen: no filter gradients are computed.
        """
        if self._tape is None:
            raise ValueError("backward needs a forward pass first")
        tape = self._tape
        ran = [name for name, _ in tape]
        missing = [n for n in grads if n not in ran]
        if missing:
            raise ValueError(f"no gradient can flow from {missing[0]!r}: the last "
                             f"forward pass stopped at {ran[-1]}")
        d = dpad = None      # the gradient at the current layer's output (and its border)
        for i in reversed(range(len(tape))):
            name, cache = tape[i]
            if name in grads:
                g = grads.pop(name) if release else grads[name]
                if d is None:
                    d = g
                else:
                    d += g    # d is always one of the network's own buffers here
                del g
            if d is None:
                continue  # nothing to carry back yet
            below = tape[i - 1][0] if i else None
            d, dpad = self._layer_backward(name, cache, d, dpad, get_array_module(d), below)
        if d is None:
            raise ValueError("backward needs at least one gradient")
        self._trim_scratch()
        with timed(self.profile, "preprocess"):
            return self._preprocess_backward(d)

    def _layer_backward(self, name, cache, d, dpad, xp, below):
        """One layer back: the gradient at its input (and that inside a zero border, or None).

        The working memory comes in three roles (see :meth:`_scratch`): a ReLU
        writes the gradient into "relu grad" (zero border), the conv below
        reads it and writes into "grid" -- or, when a pooling is below, into
        "handoff", which the pooling reads while it writes into "grid" at the
        next resolution. The ReLU below the pooling reads "grid" before the
        conv below it writes there again.
        """
        if name.startswith("relu"):
            if isinstance(cache, tuple):      # fused: the pooling above applied it
                return d, dpad
            with timed(self.profile, "ReLU backward"):
                # dz = d where the ReLU passed, written inside a zero border:
                # the conv below correlates it with no padding copy.
                dpad, dz = self._scratch("relu grad", d.shape, d.dtype, xp, border=True)
                xp.multiply(d, cache > 0, out=dz)
            return dz, dpad
        if name.startswith("conv"):
            if dpad is None:      # a gradient given at the conv's own output
                dpad, dz = self._scratch("relu grad", d.shape, d.dtype, xp, border=True)
                dz[...] = d
            if cache[0] == "gathered":
                with timed(self.profile, "conv backward (gathered taps)"):
                    return correlate_valid_gathered_backward(dpad, self.params[name][0]), None
            taps = self._taps(name)
            role = "handoff" if below is not None and below.startswith("pool") else "grid"
            n, hp, wp, _ = dpad.shape
            grid, inside = self._scratch(role, (n, hp - 2, wp - 2, taps[1].shape[2]), d.dtype, xp)
            if cache[0] == "winograd":
                with timed(self.profile, "conv backward (Winograd)"):
                    return correlate3x3_winograd(dpad, taps[3], out=inside), None
            with timed(self.profile, "conv backward (shifted GEMMs)"):
                return correlate_valid(dpad, taps[1], 3, out=grid), None
        with timed(self.profile, "pooling backward"):
            if isinstance(cache[0], str):     # winners kept, the ReLU below fused in
                _, winners, y, x_shape = cache
                # The ReLU below passed the winner's gradient iff the maximum is
                # positive; the result goes where that ReLU would have put it.
                dpad, dz = self._scratch("relu grad", x_shape, d.dtype, xp, border=True)
                return maxpool2x2_backward_winners(d * (y > 0), winners, x_shape, out=dz), dpad
            if self.pooling == "max":
                _, inside = self._scratch("grid", cache[0].shape, d.dtype, xp)
                return maxpool2x2_backward(d, cache, out=inside), None
            return avgpool2x2_backward(d, cache), None


def _winograd_pays(shape, c_in, c_out):
    """Winograd F(2x2, 3x3) beats shifted GEMMs with many channels (measured:
    benchmarks/gatys_step.py --profile); it needs an even map (`shape` (N, H, W, C))."""
    even = shape is None or (shape[1] % 2 == 0 and shape[2] % 2 == 0)
    return even and c_in * c_out >= 256 * 512


def load_vgg(path, pooling="max", dtype=np.float32):
    """Build VGG-16 or VGG-19 (from the file's ``arch``) on the current backend.

    Parameters
    ----------
    path : str
        A file in stylelab's HDF5 layout (see ``stylelab weights convert``).
    pooling : {"max", "avg"}
        Max-pooling as trained, or average pooling (Gatys et al.'s preference).
    dtype : float dtype
        The dtype of the weights, of the input it takes and of its outputs.

    Returns
    -------
    VGG
    """
    arch, weights, convention = read_vgg_h5(path)
    return VGG(arch, weights, convention, pooling=pooling, dtype=dtype)
