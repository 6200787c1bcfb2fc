"""VGG-16 and VGG-19 as the papers draw them: a table of named layers, each a pair of layer functions.

The convolutional part of the network: blocks
of 3x3 convolutions with ReLUs, each block closed by a 2x2 pooling that
halves the image::

    block:    1         2          3               4               5
    VGG-16:   64 x2     128 x2     256 x3          512 x3          512 x3
    VGG-19:   64 x2     128 x2     256 x4          512 x4          512 x4

Layers are named as in the papers: ``conv{b}_{i}``, ``relu{b}_{i}``,
``pool{b}``. Only the convolutional part is here: style transfer never
needs the classifier.

:class:`VGG` is the network written out, on the readable layers of
:mod:`stylelab.layers` (im2col convs). Its ``layers`` table maps each name
to a ``(forward, backward)`` pair of layer functions; ``forward`` walks the
table to the deepest layer asked for, keeping each layer's cache on a tape,
and ``backward`` walks the tape back from gradients given at any of those
layers to the image. The weights are frozen: no filter gradients are computed.

The tape lives on the network, not in the caller's hands as a layer's cache
does: ``backward`` carries back the *last* ``forward`` that kept its caches,
and refuses when there is none. That is how the objectives use a network
(a forward, then its backward, every evaluation), and it is what the fast
engine can promise: its caches are views into buffers the next forward
pass overwrites, so a tape handed out would go stale without a sign.

The same network, computed faster (kernels chosen per layer, Winograd,
memory reused between calls), is :class:`stylelab.nets.fast_vgg.FastVGG`,
proven equal layer by layer. :func:`stylelab.files.weights.load_vgg` builds
either (``engine="readable"`` or ``"fast"``, the default).
"""

import numpy as np

from ..backend import array_module, get_array_module
from ..layers import (avgpool2x2_backward, avgpool2x2_forward, conv2d_backward, conv2d_forward,
                      maxpool2x2_backward, maxpool2x2_forward, relu_backward, relu_forward)
from ..profile import timed

BLOCKS = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}
WIDTHS = (64, 128, 256, 512, 512)
CONVENTION_KEYS = ("channel_order", "input_scale", "mean", "std")
POOLINGS = ("max", "avg")
PADDINGS = ("zeros", "reflect")


def layer_names(arch):
    """Every layer of `arch` in order: conv1_1, relu1_1, ..., pool5.

    >>> layer_names("vgg16")[:5]
    ['conv1_1', 'relu1_1', 'conv1_2', 'relu1_2', 'pool1']
    """
    if arch not in BLOCKS:
        raise ValueError(f"unknown architecture {arch!r}: expected 'vgg16' or 'vgg19'")
    names = []
    for block, n_convs in enumerate(BLOCKS[arch], start=1):
        for i in range(1, n_convs + 1):
            names += [f"conv{block}_{i}", f"relu{block}_{i}"]
        names.append(f"pool{block}")
    return names


def conv_shapes(arch):
    """``{conv name: (F, 3, 3, C)}`` for every conv layer of `arch`, in order."""
    shapes, channels = {}, 3
    for name in layer_names(arch):
        if name.startswith("conv"):
            width = WIDTHS[int(name[4]) - 1]
            shapes[name] = (width, 3, 3, channels)
            channels = width
    return shapes


def convs_upto(arch, last):
    """The conv layers a network needs to compute layer `last`."""
    names = layer_names(arch)
    if last not in names:
        raise ValueError(f"{arch} has no layer {last!r}; its layers are "
                         f"{names[0]} ... {names[-1]}")
    return [n for n in names[:names.index(last) + 1] if n.startswith("conv")]


def check_weights(arch, weights, what):
    """Refuse weights that are not a prefix of `arch`'s convs with its shapes.

    `weights` maps conv names to ``(w, b)``; `what` names them in the error.
    """
    expected = conv_shapes(arch)
    names = list(expected)
    given = list(weights)
    if not given:
        raise ValueError(f"{what}: no conv layers found")
    unknown = [n for n in given if n not in expected]
    if unknown:
        raise ValueError(f"{what}: {unknown[0]} is not a conv layer of {arch}")
    if given != names[:len(given)]:
        missing = next(n for n, g in zip(names, given + [None]) if n != g)
        raise ValueError(f"{what}: layer {missing} is missing (the layers must "
                         f"run from conv1_1 without gaps)")
    for name, (w, b) in weights.items():
        shape = expected[name]
        if tuple(w.shape) != shape or tuple(b.shape) != shape[:1]:
            raise ValueError(f"{what}: {name} has weight {tuple(w.shape)} and bias "
                             f"{tuple(b.shape)}, but {arch} needs {shape} and "
                             f"{shape[:1]}")


def normalise_convention(convention, where):
    """The input convention with float arrays for ``mean`` and ``std``, checked.

    A convention says how the weights' training images were prepared:
    ``channel_order`` ("RGB" or "BGR"), ``input_scale`` (1 for pixels in
    [0, 1], 255 for [0, 255]) and the ``mean`` and ``std`` subtracted and
    divided, 3 values each in those units. Raises ValueError naming `where`
    unless all are sound.
    """
    kinds = dict(channel_order=str, input_scale=float,
                 mean=lambda v: np.asarray(v, dtype=np.float64).reshape(-1),
                 std=lambda v: np.asarray(v, dtype=np.float64).reshape(-1))
    out = {}
    for key, kind in kinds.items():
        try:
            out[key] = kind(convention[key])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{where}: invalid input convention: {key} ({exc})") from None
    if (out["channel_order"] not in ("RGB", "BGR") or out["mean"].shape != (3,)
            or out["std"].shape != (3,) or not np.all(np.isfinite(out["mean"]))
            or not np.all(out["std"] > 0) or not np.all(np.isfinite(out["std"]))
            or not 0 < out["input_scale"] < np.inf):
        raise ValueError(f"{where}: invalid input convention {out}")
    return out


def family_of(convention):
    """Whose VGG weights are, told from their input convention where nothing else says.

    Weights for 0..255 pixels came from Caffe (Keras and MatConvNet converted
    Caffe's); weights for [0, 1] pixels are torchvision's.
    """
    return "caffe" if float(convention["input_scale"]) > 1 else "torchvision"


def random_weights(arch="vgg19", seed=0, upto=None):
    """He-initialised ``{conv name: (w, b)}`` (float32, zero biases): **random weights**, for tests and demos.

    Nothing a network computes with them is what a trained VGG would see.
    `upto` keeps only the layers needed up to that one.
    """
    rng = np.random.default_rng(seed)
    names = convs_upto(arch, upto) if upto else list(conv_shapes(arch))
    weights = {}
    for name in names:
        f, k, _, c = conv_shapes(arch)[name]
        w = rng.standard_normal((f, k, k, c)) * np.sqrt(2.0 / (k * k * c))
        weights[name] = (w.astype(np.float32), np.zeros(f, np.float32))
    return weights


def check_preprocess_conv(preprocess, where):
    """Refuse a preprocessing conv that is not 3 -> 3 channels, 1x1, finite: ``(w, b)`` or None."""
    if preprocess is None:
        return None
    w, b = preprocess
    if tuple(w.shape) != (3, 1, 1, 3) or tuple(b.shape) != (3,):
        raise ValueError(f"{where}: the preprocessing conv has weight {tuple(w.shape)} and bias "
                         f"{tuple(b.shape)}, but it must map RGB to 3 channels: (3, 1, 1, 3) "
                         f"and (3,)")
    return w, b


def _frozen_conv(w, b, pad_mode="zeros"):
    """A conv layer with fixed filters: forward, and backward to its input only."""
    def forward(x):
        return conv2d_forward(x, w, b, padding="same", pad_mode=pad_mode)

    def backward(dy, cache):
        return conv2d_backward(dy, cache, weight_grads=False)[0]
    return forward, backward


class VGG:
    """The convolutional part of VGG-16/19, frozen, with backprop to the image.

    Parameters
    ----------
    arch : {"vgg16", "vgg19"}
    weights : dict name -> (w, b)
        ``w`` of shape (F, 3, 3, C), ``b`` of shape (F,): a prefix of the
        convs of `arch` (conv1_1 first), as :func:`check_weights` wants them.
    convention : dict
        How the weights' training images were prepared (:func:`normalise_convention`).
    pooling : {"max", "avg"}
        Max-pooling as trained, or average pooling (Gatys et al.'s preference).
    dtype : float dtype
        Of the weights, of the input the network takes and of its outputs.
    padding : {"zeros", "reflect"}
        How each 3x3 conv sees past the border: zeros as Caffe and
        torchvision trained VGG, or the mirrored image as the normalised
        Torch7 VGG of Li et al. and Huang & Belongie computes it.
    preprocess : (w, b) or None
        A 1x1 conv, ``w`` of shape (3, 1, 1, 3) and ``b`` of shape (3,), run on
        the image after the convention's scaling: the Torch7 normalised VGG
        folds "RGB -> BGR, times 255, minus the mean" into such a layer.
    family : {"caffe", "torchvision", "normalised"} or None
        Whose VGG the weights are: it chooses the default Gatys recipe
        (:mod:`stylelab.gatys.recipes`). None: told from the convention
        (:func:`family_of`).

    Attributes
    ----------
    names : list of str
        The layers this network can compute (up to the last stored conv, its
        ReLU, and the pooling right after it).
    layers : dict name -> (forward, backward)
        The network, one entry per layer, in order.
    profile : stylelab.profile.Profile or None
        Set one to time each layer kind.
    scratch_limit : int
        Bytes of working memory a caller may keep between passes (the
        objective of :mod:`stylelab.gatys` asks).
    engine : str
        ``"readable"`` (``"fast"`` for :class:`~stylelab.nets.fast_vgg.FastVGG`).
    """

    engine = "readable"

    def __init__(self, arch, weights, convention, pooling="max", dtype=np.float32,
                 padding="zeros", preprocess=None, family=None):
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be 'max' or 'avg', got {pooling!r}")
        if padding not in PADDINGS:
            raise ValueError(f"padding must be 'zeros' or 'reflect', got {padding!r}")
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise ValueError(f"dtype must be a float dtype, got {dtype}")
        check_weights(arch, weights, what=f"{arch} weights")
        xp = array_module()
        self.arch, self.pooling, self.dtype = arch, pooling, dtype
        self.convention = normalise_convention(convention, where="VGG")
        self.params = {n: (xp.asarray(w, dtype=dtype), xp.asarray(b, dtype=dtype))
                       for n, (w, b) in weights.items()}
        self.padding = padding
        self.family = family or family_of(self.convention)
        preprocess = check_preprocess_conv(preprocess, "VGG")
        self.preprocess_conv = None if preprocess is None else tuple(
            xp.asarray(a, dtype=dtype) for a in preprocess)
        all_names = layer_names(arch)
        end = all_names.index(list(weights)[-1]) + 2        # a stored conv brings its ReLU,
        if end < len(all_names) and all_names[end].startswith("pool"):
            end += 1                                        # and the pooling right after it
        self.names = all_names[:end]
        self.layers = self._table()
        self.profile = None
        self.scratch_limit = 1 << 30
        # The last forward pass's caches, for backward: (preprocessing's cache,
        # [(layer name, ..., cache), ...]), or None (see the module notes).
        self._tape = None

    def _table(self):
        """``{name: (forward, backward)}``: the network, one line per layer kind."""
        pool = ((maxpool2x2_forward, maxpool2x2_backward) if self.pooling == "max"
                else (avgpool2x2_forward, avgpool2x2_backward))
        table = {}
        for name in self.names:
            if name.startswith("conv"):
                table[name] = _frozen_conv(*self.params[name], pad_mode=self.padding)
            elif name.startswith("relu"):
                table[name] = (relu_forward, relu_backward)
            else:
                table[name] = pool
        return table

    # -- preprocessing: RGB in [0, 1] -> what the weights were trained on --
    def _scale_and_shift(self, xp):
        c = self.convention
        return (xp.asarray(c["input_scale"] / c["std"], dtype=self.dtype),
                xp.asarray(c["mean"] / c["std"], dtype=self.dtype))

    def preprocess(self, x):
        """``(x[..., order] * input_scale - mean) / std`` for RGB `x` in [0, 1], then the 1x1 conv if any."""
        return self.preprocess_forward(x)[0]

    def preprocess_forward(self, x):
        """:meth:`preprocess` as a layer: ``(h, cache)``, the cache for :meth:`preprocess_backward`."""
        xp = get_array_module(x)
        if self.convention["channel_order"] == "BGR":
            x = x[..., ::-1]
        scale, shift = self._scale_and_shift(xp)
        h = x * scale - shift
        cache = None
        if self.preprocess_conv is not None:
            h, cache = conv2d_forward(h, *self.preprocess_conv, padding=0)
        return h, cache

    def preprocess_backward(self, d, cache):
        """The gradient with respect to the RGB input, from the one at the preprocessed input."""
        xp = get_array_module(d)
        if self.preprocess_conv is not None:
            d = conv2d_backward(d, cache, weight_grads=False)[0]
        scale, _ = self._scale_and_shift(xp)
        d = d * scale
        if self.convention["channel_order"] == "BGR":
            d = d[..., ::-1]
        return xp.ascontiguousarray(d)

    # -- checks shared by every engine --
    def min_size(self, layer):
        """The smallest side (pixels) an image needs to reach `layer`: 2 ** poolings.

        Twice that with reflection padding, which needs 2 pixels to mirror.
        """
        deepest = self.deepest([layer])
        pools = sum(1 for n in self.names[:self.names.index(deepest) + 1] if n.startswith("pool"))
        return 2 ** pools * (2 if self.padding == "reflect" else 1)

    def deepest(self, requested):
        """The deepest of the `requested` layer names (refusing names this network lacks)."""
        unknown = [n for n in requested if n not in self.names]
        if unknown:
            raise ValueError(f"{self.arch} (as loaded) has no layer {unknown[0]!r}; "
                             f"it has {self.names[0]} ... {self.names[-1]}")
        if not requested:
            raise ValueError("forward needs at least one layer name")
        return max(requested, key=self.names.index)

    def check_input(self, x, deepest):
        """Refuse anything but RGB images of the network's dtype, large enough for `deepest`."""
        if x.ndim != 4 or x.shape[-1] != 3:
            raise ValueError(f"VGG input must be RGB images of shape (N, H, W, 3), "
                             f"got shape {tuple(x.shape)}")
        if x.dtype != self.dtype:
            raise ValueError(f"VGG input has dtype {x.dtype} but the network is "
                             f"{self.dtype}; cast the image or load the network with "
                             f"dtype={x.dtype}")
        need = self.min_size(deepest)
        if min(x.shape[1], x.shape[2]) < need:
            pools = need.bit_length() - 1 - (self.padding == "reflect")
            raise ValueError(f"an image of {x.shape[2]}x{x.shape[1]} pixels is too "
                             f"small to reach {deepest}: it passes "
                             f"{pools} 2x2 poolings, so it needs at "
                             f"least {need}x{need}"
                             + (" (reflection padding mirrors 2 pixels)"
                                if self.padding == "reflect" else ""))

    def check_gradients(self, grads):
        """Refuse gradients at layers the last forward pass did not reach."""
        if self._tape is None:
            raise ValueError("backward needs a forward pass that kept its caches first "
                             "(keep_cache=True)")
        ran = [step[0] for step in self._tape[1]]
        missing = [n for n in grads if n not in ran]
        if missing:
            raise ValueError(f"no gradient can flow from {missing[0]!r}: the last "
                             f"forward pass stopped at {ran[-1]}")
        if not grads:
            raise ValueError("backward needs at least one gradient")

    # -- the network --
    def forward(self, x, layers=None, reuse_buffers=False, keep_cache=True):
        """Run the network as deep as the deepest requested layer.

        Parameters
        ----------
        x : ndarray of shape (N, H, W, 3)
            RGB in [0, 1], in the network's dtype.
        layers : list of str, optional
            Names such as ``"relu4_2"`` or ``"pool3"``; all layers if omitted.
        reuse_buffers : bool
            An option of the fast engine (memory reused between calls); this
            network makes new arrays every pass whatever it says.
        keep_cache : bool
            False for inference: no backward pass will follow, so what it
            would need is not kept (:meth:`backward` then refuses).

        Returns
        -------
        feats : dict name -> ndarray of shape (N, H_l, W_l, C_l)
        """
        requested = list(self.names if layers is None else layers)
        deepest = self.deepest(requested)
        self.check_input(x, deepest)
        self._tape = None
        h, pre_cache = self.preprocess_forward(x)
        feats, tape = {}, []
        for name in self.names[:self.names.index(deepest) + 1]:
            forward, _ = self.layers[name]
            with timed(self.profile, name.rstrip("0123456789_") + " forward"):
                h, cache = forward(h)
            if keep_cache:
                tape.append((name, cache))
            del cache
            if name in requested:
                feats[name] = h
        self._tape = (pre_cache, tape) if keep_cache else None
        return feats

    def backward(self, grads, release=False):
        """Backpropagate gradients given at any computed layers to the image.

        Parameters
        ----------
        grads : dict name -> ndarray
            The gradient of a scalar loss with respect to each named layer's
            output (shaped as :meth:`forward` returned it).
        release : bool
            Remove each gradient from `grads` once it has been added in, so
            its memory can be freed while the pass goes on.

        Returns
        -------
        dx : ndarray of shape (N, H, W, 3)
            The gradient with respect to the RGB input in [0, 1].
        """
        self.check_gradients(grads)
        pre_cache, tape = self._tape
        d = None                   # the gradient at the current layer's output
        for name, cache in reversed(tape):
            if name in grads:
                g = grads.pop(name) if release else grads[name]
                d = g if d is None else d + g
            if d is None:
                continue           # nothing to carry back yet
            _, backward = self.layers[name]
            with timed(self.profile, name.rstrip("0123456789_") + " backward"):
                d = backward(d, cache)
        return self.preprocess_backward(d, pre_cache)
