"""Johnson et al.'s image transformation network, described by an architecture string.

The string lists the stages in order, as Johnson's reference implementation
does::

    c9s1-32,d64,d128,R128x5,u64,u32,c9s1-3        (the style network, STYLE_ARCH)

    c{K}s{S}-{F}   KxK conv, stride S, F filters        then norm + ReLU
    d{F}           3x3 conv, stride 2 (halves the image) then norm + ReLU
    R{F}           a residual block of F channels (``R{F}x5`` repeats it five times)
    u{F}           x2 upsampling to F channels          then norm + ReLU

The last stage is a conv to 3 channels with no norm or ReLU; a scaled tanh,
``y = (tanh(h) + 1) / 2``, maps it into [0, 1] pixels. Every conv pads by
reflection (zeros would draw a dark frame). Shapes for a 256x256 input::

    c9s1-32  (N, 256, 256, 32)     d64 (N, 128, 128, 64)     d128 (N, 64, 64, 128)
    R128 x5  (N, 64, 64, 128)      u64 (N, 128, 128, 64)     u32 (N, 256, 256, 32)
    c9s1-3   (N, 256, 256, 3)

``u`` stages upsample one of two ways: ``"nearest"`` (default) repeats each
pixel 2x2 and then convolves 3x3, which avoids the checkerboard artefacts of
``"transpose"``, the paper's fractionally strided conv (3x3, stride 1/2).

The norm (``"instance"``; ``"affine"``, batch norm at test time as Johnson
et al.'s Torch code has it; ``"none"``) and the output (``"tanh"``, or
``"linear"`` for Li et al.'s decoders, :mod:`stylelab.nets.decoder`, which take
VGG features rather than RGB) are the network's own options.

The networks published in TensorFlow, PyTorch and Torch7 differ in a few
more places -- how a conv pads, whether a residual block crops, a norm after
the last conv, how pixels go in and come out. The network asks its
:class:`Layout` at each of those places, and only there; this module's
``Layout`` is stylelab's own network, and the published ones' live with
their readers (:mod:`stylelab.files.layouts`).

Parameters live in one flat dict, ``"{stage}.{name}"`` -> array, e.g.
``"conv1.w"`` (F, K, K, C), ``"res3.gamma1"`` (C,); a transposed conv's
filters are (C_in, 3, 3, C_out).
"""

import re
import threading
from dataclasses import dataclass

import numpy as np

from .. import layers
from ..backend import array_module, get_array_module
from ..layers import (conv_transpose2d_backward, conv_transpose2d_forward, fast, relu_backward,
                      relu_forward, relu_inplace, residual_block_backward, residual_block_forward,
                      tanh_backward, tanh_forward, upsample2x_backward, upsample2x_forward)
from ..layers.fast.workspace import Workspace
from ..layers.residual import PARAMS as RESIDUAL_PARAMS
from ..layers.residual import norm_backward, norm_forward
from . import fast_transform

STYLE_ARCH = "c9s1-32,d64,d128,R128x5,u64,u32,c9s1-3"
SR_ARCH = {4: "c9s1-64,R64x4,u64,u64,c9s1-3", 8: "c9s1-64,R64x4,u64,u64,u64,c9s1-3"}
MAX_WIDTH, MAX_STAGES = 4096, 64      # channels (and kernel sides) of a stage; stages in all
UPSAMPLING = ("nearest", "transpose")
NORMS = ("instance", "affine", "none")
OUTPUTS = ("tanh", "linear")
# The network's own options and their defaults (a model file records them).
OPTIONS = dict(upsample="nearest", norm="instance", norm_eps=1e-5, output="tanh")
# The last activation, then ``* scale + shift``: pixels in [0, 1].
OUTPUT_MAPS = {"tanh": (0.5, 0.5), "linear": (1.0, 0.0)}

# Where the convs come from: the readable layers (im2col), or the fast kernels
# (the same numbers; tests/test_fast_paths.py holds one to the other).
ENGINES = {"readable": layers, "fast": fast}

_TOKEN = re.compile(r"^(?:c(?P<k>\d+)s(?P<s>\d+)-(?P<cf>\d+)|d(?P<df>\d+)|"
                    r"R(?P<rf>\d+)(?:x(?P<rep>\d+))?|u(?P<uf>\d+))$")


@dataclass(frozen=True)
class Stage:
    """One stage of the network: ``kind`` in conv/down/res/up, its name and shapes."""

    kind: str
    name: str
    c_in: int
    c_out: int
    kernel: int = 3
    stride: int = 1
    last: bool = False


def parse_arch(arch, in_channels=3):
    """Turn an architecture string into its stages.

    Parameters
    ----------
    arch : str
        Comma-separated tokens, see the module docstring.
    in_channels : int
        Channels of the input (3 for images).

    Returns
    -------
    list of Stage

    Raises
    ------
    ValueError
        Naming the token at fault.
    """
    if not isinstance(arch, str) or not arch.strip():
        raise ValueError("architecture: expected a string such as " + STYLE_ARCH)
    if int(in_channels) < 1:
        raise ValueError(f"architecture: the input needs at least one channel, got {in_channels}")
    stages, channels, counts = [], int(in_channels), {}

    def add(kind, c_out, **kw):
        counts[kind] = counts.get(kind, 0) + 1
        stages.append(Stage(kind, f"{kind}{counts[kind]}", channels, c_out, **kw))
        return c_out

    tokens = [t.strip() for t in arch.split(",")]
    for token in tokens:
        m = _TOKEN.match(token)
        if not m:
            raise ValueError(f"architecture: cannot read token {token!r} in {arch!r:.80} "
                             f"(expected c9s1-32, d64, R128, R128x5 or u64)")
        # Bounds far above any published network, checked before a parameter is made: an
        # architecture string read from a file must not ask for gigabytes.
        numbers = [int(v) for v in m.groupdict().values() if v is not None]
        if max(numbers) > MAX_WIDTH or int(m["rep"] or 1) > MAX_STAGES:
            raise ValueError(f"architecture: {token!r} asks for more than {MAX_WIDTH} channels "
                             f"or {MAX_STAGES} repeats; refused")
        if m["k"]:
            k, s, f = int(m["k"]), int(m["s"]), int(m["cf"])
            if k % 2 == 0 or s < 1:
                raise ValueError(f"architecture: {token!r} needs an odd kernel and stride >= 1")
            channels = add("conv", f, kernel=k, stride=s)
        elif m["df"]:
            channels = add("down", int(m["df"]), stride=2)
        elif m["rf"]:
            f = int(m["rf"])
            if f != channels:
                raise ValueError(f"architecture: {token!r} is a residual block of {f} "
                                 f"channels but its input has {channels}")
            for _ in range(int(m["rep"] or 1)):
                channels = add("res", f)
        else:
            channels = add("up", int(m["uf"]))
        if len(stages) > MAX_STAGES:
            raise ValueError(f"architecture: more than {MAX_STAGES} stages; refused")
        if channels < 1:
            raise ValueError(f"architecture: {token!r} has no channels")
    last = stages[-1]
    if last.kind != "conv" or last.c_out != 3:
        raise ValueError(f"architecture: {arch!r} must end with a conv to 3 channels "
                         f"(such as c9s1-3) to make an RGB image")
    stages[-1] = Stage(last.kind, last.name, last.c_in, 3, last.kernel, last.stride, last=True)
    return stages


def settle(options):
    """The network's own options (:data:`OPTIONS`), checked, with the defaults filled in."""
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ValueError(f"unknown transform network option {unknown[0]!r}; the options are "
                         f"{', '.join(OPTIONS)} (a published network's others go in its layout, "
                         f"stylelab.files.layouts)")
    out = {**OPTIONS, **{k: v for k, v in options.items() if v is not None}}
    for key, allowed in (("upsample", UPSAMPLING), ("norm", NORMS), ("output", OUTPUTS)):
        if out[key] not in allowed:
            raise ValueError(f"{key} must be one of {allowed}, got {out[key]!r}")
    out["norm_eps"] = float(out["norm_eps"])
    if not 0 < out["norm_eps"] < np.inf:
        raise ValueError(f"norm_eps must be positive, got {out['norm_eps']}")
    return out


class Layout:
    """stylelab's own network: every place where a published network may differ, answered.

    Each conv pads by reflection (zeros would draw a dark frame), residual
    blocks keep their size, the last conv has no norm, and pixels go in and
    come out as RGB in [0, 1]. :mod:`stylelab.files.layouts` overrides these
    methods for the networks published in TensorFlow, PyTorch and Torch7.
    """

    options = {}               # what a model file records beyond the network's own options
    padding, residual, input_pad, last_norm = "reflect", "same", 0, False

    def to_network(self, x):
        """RGB in [0, 1] (or a decoder's features) -> the first conv's input: ``(h, cache)``."""
        return x, None

    def to_network_backward(self, d, cache):
        return d

    def from_network(self, y, inplace=False):
        """The output map's result -> RGB in [0, 1]."""
        return y

    def from_network_backward(self, d):
        return d

    def output_map(self, output):
        """``(scale, shift)`` after the last activation."""
        return OUTPUT_MAPS[output]

    def conv_padding(self, stage, shape):
        """The padding arguments of a conv stage whose input has `shape`."""
        return dict(padding="same", pad_mode="reflect")

    def transpose_padding(self, shape):
        """``(pads, output_padding)`` of a 3x3 stride-2 transposed conv to twice the size."""
        return 1, 1

    def residual_padding(self):
        """The residual blocks' ``padding`` (:func:`stylelab.layers.residual_block_forward`)."""
        return "reflect"

    def input_side(self, side):
        """The first conv's input side for an image side (None: too small)."""
        return side

    def conv_side(self, stage, side):
        """A conv stage's output side (None: too small; reflection needs more than its pad)."""
        pad = stage.kernel // 2
        return None if side <= pad else (side + 2 * pad - stage.kernel) // stage.stride + 1

    def residual_side(self, side):
        return None if side <= 1 else side


OWN_LAYOUT = Layout()


def param_shapes(arch, upsample="nearest", norm="instance", in_channels=3, last_norm=False):
    """{param name: shape} for an architecture, in the network's order."""
    settle(dict(upsample=upsample, norm=norm))
    shapes = {}
    for stage in parse_arch(arch, in_channels):
        if stage.kind == "res" and norm == "none":
            raise ValueError(f"architecture: residual blocks carry norms; "
                             f"{arch!r} cannot have norm={norm!r}")
        if stage.kind == "res":
            c = stage.c_in
            for p in RESIDUAL_PARAMS:
                shapes[f"{stage.name}.{p}"] = (c, 3, 3, c) if p[0] == "w" else (c,)
            continue
        if stage.kind == "up" and upsample == "transpose":
            shapes[f"{stage.name}.w"] = (stage.c_in, 3, 3, stage.c_out)
        else:
            shapes[f"{stage.name}.w"] = (stage.c_out, stage.kernel, stage.kernel, stage.c_in)
        shapes[f"{stage.name}.b"] = (stage.c_out,)
        if norm != "none" and (not stage.last or last_norm):
            shapes[f"{stage.name}.gamma"] = (stage.c_out,)
            shapes[f"{stage.name}.beta"] = (stage.c_out,)
    return shapes


def init_params(arch, upsample="nearest", seed=0, dtype=np.float32, norm="instance",
                in_channels=3, last_norm=False):
    """Fresh parameters: PyTorch's default conv init, unit gamma, zero beta.

    Filters and biases are uniform in ``+-1/sqrt(fan_in)``, fan_in being the
    inputs one output sums over (``K*K*C``; for a transposed conv, the
    ``C_out*K*K`` PyTorch counts).
    """
    rng = np.random.default_rng(seed)
    xp = array_module()
    params, fan_in = {}, None
    for name, shape in param_shapes(arch, upsample, norm, in_channels, last_norm).items():
        field = name.rsplit(".", 1)[1]
        if field.startswith("w"):
            fan_in = int(np.prod(shape[1:]))
            value = rng.uniform(-1, 1, shape) / np.sqrt(fan_in)
        elif field.startswith("b"):             # b, b1, b2 (a conv's bias, after its w)
            value = rng.uniform(-1, 1, shape) / np.sqrt(fan_in)
        elif field.startswith("gamma"):
            value = np.ones(shape)
        else:                                   # beta
            value = np.zeros(shape)
        params[name] = xp.asarray(value.astype(dtype))
    return params


def stage_params(params, stage):
    """One stage's parameters, named within it: ``"res3.w1"`` -> ``"w1"`` for stage ``res3``."""
    return {k[len(stage) + 1:]: v for k, v in params.items() if k.startswith(stage + ".")}


def _stage_forward(stage, h, params, opts, keep_cache=True, ops=layers, layout=OWN_LAYOUT):
    """One stage (not a residual block): its conv, then [norm +] ReLU, or the output map.

    `opts` holds the network's options; `ops`, where the conv layers come from
    (a value of :data:`ENGINES`); `layout`, how it pads and maps its output.
    Without a cache (inference) the norm, ReLU and tanh work in place.
    """
    caches = {"ops": ops}
    if stage.kind == "up" and opts["upsample"] == "transpose":
        pads, extra = layout.transpose_padding(h.shape)
        h, caches["convT"] = conv_transpose2d_forward(h, params["w"], params["b"], 2, pads, extra,
                                                      conv=ops)
    elif stage.kind == "up" and layout.padding == "reflect":
        # upsample2x then a 3x3 conv (reflect); the fast engine computes it small
        h, caches["upconv"] = ops.upsample_conv_forward(h, params["w"], params["b"])
    else:
        if stage.kind == "up":                  # nearest x2, then a zero- or TF-padded conv
            h, caches["up"] = upsample2x_forward(h)
        h, caches["conv"] = ops.conv2d_forward(h, params["w"], params["b"], stride=stage.stride,
                                               **layout.conv_padding(stage, h.shape))
    if "gamma" in params:
        h, caches["norm"] = norm_forward(opts["norm"], h, params["gamma"], params["beta"],
                                         opts["norm_eps"], inplace=not keep_cache)
    if not stage.last:
        if not keep_cache:
            return relu_inplace(h), None
        h, caches["relu"] = relu_forward(h)
        return h, caches
    # The last stage: the output map, act(h) * scale + shift (the layout says which).
    scale, shift = (h.dtype.type(v) for v in layout.output_map(opts["output"]))
    if not keep_cache:
        if opts["output"] == "tanh":
            h = get_array_module(h).tanh(h, out=h)
        h *= scale
        h += shift
        return h, None
    caches["output"] = opts["output"], scale
    if opts["output"] == "tanh":
        h, caches["tanh"] = tanh_forward(h)
    return h * scale + shift, caches


def _stage_backward(grad, caches, opts, input_grad=True):
    grads, ops = {}, caches["ops"]
    if "output" in caches:                             # the last stage: the output map
        grad = grad * caches["output"][1]
        if "tanh" in caches:
            grad = tanh_backward(grad, caches["tanh"])
    if "relu" in caches:
        grad = relu_backward(grad, caches["relu"])
    if "norm" in caches:
        grad, grads["gamma"], grads["beta"] = norm_backward(opts["norm"], grad, caches["norm"])
    if "convT" in caches:
        # (never the first stage)
        grad, grads["w"], grads["b"] = conv_transpose2d_backward(grad, caches["convT"])
    elif "upconv" in caches:
        grad, grads["w"], grads["b"] = ops.upsample_conv_backward(grad, caches["upconv"],
                                                                  input_grad)
    else:
        grad, grads["w"], grads["b"] = ops.conv2d_backward(grad, caches["conv"],
                                                           input_grad=input_grad)
        if "up" in caches and input_grad:
            grad = upsample2x_backward(grad, caches["up"])
    return grad, grads


def transform_forward(x, params, arch=STYLE_ARCH, options=None, keep_cache=True, engine="fast",
                      layout=None, work=None, profile=None):
    """Run the transformation network.

    Parameters
    ----------
    x : ndarray of shape (N, H, W, C)
        RGB in [0, 1] (C = 3), or features for a decoder. For the output to
        have the input's size, H and W must be multiples of
        2 ** (number of ``d`` stages) (:meth:`TransformNet.apply` pads for you).
    params : dict
        As :func:`init_params` makes them.
    arch : str
    options : dict, optional
        The network's own options (:data:`OPTIONS`; defaults: stylelab's network).
    keep_cache : bool
        False for inference: each layer's cache is let go as soon as it is
        made (a 1024 px image's caches would take gigabytes).
    engine : {"fast", "readable"}
        Which layers compute the convs: :mod:`stylelab.layers.fast` (the
        default), or the readable im2col layers of :mod:`stylelab.layers`. The
        same numbers; the backward pass runs the forward's.
    layout : Layout, optional
        Where a published network differs from stylelab's (:class:`Layout`).
    work : Workspace, optional
        Inference on the fast engine (``keep_cache=False``) runs in
        :mod:`stylelab.nets.fast_transform`, whose arrays live in this
        :class:`~stylelab.layers.fast.workspace.Workspace` (kept by the
        caller from call to call); a new one if omitted.
    profile : stylelab.profile.Profile, optional
        Times that engine's kernels, norms and borders.

    Returns
    -------
    y : ndarray of shape (N, H', W', 3)
        RGB in [0, 1] for the tanh outputs; ``H' = H * 2**ups / 2**downs``
        for sizes that divide.
    cache : what :func:`transform_backward` needs: ``[(stage, cache), ...]``, after
        an ``"input"`` entry where the layout's input map keeps one (an input pad)
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {tuple(ENGINES)}, got {engine!r}")
    ops, layout = ENGINES[engine], layout or OWN_LAYOUT
    opts = settle(options or {})
    stages = parse_arch(arch, x.shape[-1])
    missing = [k for k in param_shapes(arch, opts["upsample"], opts["norm"], x.shape[-1],
                                       layout.last_norm) if k not in params]
    if missing:
        raise ValueError(f"transform network: params lack {missing[0]!r} "
                         f"(architecture {arch}, upsample {opts['upsample']})")
    if not keep_cache and engine == "fast" and fast_transform.supports(stages, opts, layout):
        return fast_transform.infer(x, params, stages, opts, layout, work or Workspace(),
                                    profile), None
    h, pre_cache = layout.to_network(x)
    caches = [] if pre_cache is None else [(Stage("input", "input", x.shape[-1], h.shape[-1]),
                                            pre_cache)]
    for stage in stages:
        own = stage_params(params, stage.name)
        if stage.kind == "res":
            h, cache = residual_block_forward(h, own, keep_cache,
                                              layout.residual_padding(), opts["norm"],
                                              opts["norm_eps"], conv=ops)
        else:
            h, cache = _stage_forward(stage, h, own, opts, keep_cache, ops, layout)
        if keep_cache:
            caches.append((stage, cache))
        del cache
    h = layout.from_network(h, inplace=not keep_cache)
    return h, (caches if keep_cache else None)


def transform_backward(dy, cache, options=None, input_grad=True, layout=None):
    """Gradients of :func:`transform_forward`.

    Parameters
    ----------
    dy : ndarray like the output
    cache : from :func:`transform_forward`
    options, layout : optional
        The forward pass's.
    input_grad : bool
        False skips the gradient to the input images (training needs only
        the parameters'; at 256 px it is the first 9x9 conv's dearest part).

    Returns
    -------
    dx : ndarray like the input, or None
    grads : dict, the keys of ``params``
    """
    opts, layout = settle(options or {}), layout or OWN_LAYOUT
    first = 1 if cache[0][0].kind == "input" else 0     # the layout's input map's entry
    grads, grad = {}, layout.from_network_backward(dy)
    for i in reversed(range(first, len(cache))):
        stage, stage_cache = cache[i]
        if stage.kind == "res":
            grad, stage_grads = residual_block_backward(grad, stage_cache)
        else:
            grad, stage_grads = _stage_backward(grad, stage_cache, opts, input_grad or i > first)
        grads.update({f"{stage.name}.{k}": v for k, v in stage_grads.items()})
    if not input_grad:
        return None, grads
    return layout.to_network_backward(grad, cache[0][1] if first else None), grads


class TransformNet:
    """The network's parameters with its architecture and options: a thin composition.

    Parameters
    ----------
    arch : str
    upsample : {"nearest", "transpose"}
    params : dict name -> ndarray, optional
        Fresh ones (:func:`init_params`, seeded by `seed`) if omitted.
    seed : int
    dtype : float dtype
    norm : {"instance", "affine", "none"}
    output : {"tanh", "linear"}
    in_channels : int
    engine : {"fast", "readable"}
        Which layers compute the convs (:func:`transform_forward`).
    norm_eps : float
        The instance norm's epsilon.
    layout : Layout, optional
        Where a published network differs from stylelab's own
        (:mod:`stylelab.files.layouts`); None: stylelab's own.

    Attributes
    ----------
    arch : str
    options : dict
        The network's own options, defaults filled in; each is an attribute
        too (``net.upsample``, ``net.norm``, ...), as are the layout's
        (``net.padding``, ``net.input_pad``, ...).
    in_channels : int
    params : dict name -> ndarray
    workspace : Workspace
        The inference engine's arrays (:mod:`stylelab.nets.fast_transform`),
        kept from one :meth:`apply` to the next: a second image of a size
        costs no fresh memory. One thread at a time uses it (:meth:`forward`).
    scratch_limit : int
        Bytes the workspace may keep between calls (1 GiB: about a 1400 px
        image); above that it is let go after each call.
    profile : stylelab.profile.Profile or None
        Set one to time inference's kernels, norms and borders.
    """

    def __init__(self, arch=STYLE_ARCH, upsample="nearest", params=None, seed=0,
                 dtype=np.float32, norm="instance", output="tanh", in_channels=3, engine="fast",
                 norm_eps=None, layout=None, **published):
        if published:
            name = sorted(published)[0]
            raise TypeError(f"{name}= is a published network's option, part of its layout: build "
                            f"it with stylelab.files.layouts.transform_net(arch, {name}=...)")
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {tuple(ENGINES)}, got {engine!r}")
        self.engine, self.layout = engine, layout or OWN_LAYOUT
        self.options = settle(dict(upsample=upsample, norm=norm, output=output,
                                   norm_eps=norm_eps))
        self.arch, self.in_channels = arch, int(in_channels)
        self.stages = parse_arch(arch, in_channels)
        opts, last_norm = self.options, self.layout.last_norm
        shapes = param_shapes(arch, opts["upsample"], opts["norm"], in_channels, last_norm)
        self.params = (init_params(arch, opts["upsample"], seed, dtype, opts["norm"], in_channels,
                                   last_norm) if params is None else params)
        for name, shape in shapes.items():
            got = self.params.get(name)
            if got is None or tuple(got.shape) != shape:
                have = "missing" if got is None else f"shape {tuple(got.shape)}"
                raise ValueError(f"parameter {name!r} should have shape {shape} for "
                                 f"{arch} ({opts['upsample']} upsampling), but is {have}")
        extra = sorted(set(self.params) - set(shapes))
        if extra:
            raise ValueError(f"parameter {extra[0]!r} is not part of {arch}")
        self.workspace, self.scratch_limit = Workspace(), 1 << 30
        self._in_workspace = threading.Lock()      # one thread at a time in the kept workspace
        self.profile = None

    def __getattr__(self, name):
        options = self.__dict__.get("options", {})
        if name in options:
            return options[name]
        layout = self.__dict__.get("layout")
        if layout is not None and not name.startswith("_") and hasattr(layout, name) \
                and not callable(getattr(layout, name)):
            return getattr(layout, name)
        raise AttributeError(f"TransformNet has no attribute {name!r}")

    @property
    def spec(self):
        """What defines the network besides its parameters (a model file stores it)."""
        return {"arch": self.arch, "in_channels": self.in_channels, **self.options,
                **self.layout.options}

    @property
    def dtype(self):
        return next(iter(self.params.values())).dtype

    @property
    def factor(self):
        """Output size / input size: 2 ** (ups - downs) (for the style net, 1)."""
        ups = sum(stage.kind == "up" for stage in self.stages)
        return 2.0 ** ups / self.multiple

    @property
    def multiple(self):
        """Input sides must be multiples of this for the sizes to work out."""
        return int(np.prod([stage.stride for stage in self.stages]))

    def min_side(self):
        """The smallest image side (pixels) the network can take.

        Reflection padding needs each padded map to be wider than its pad, and
        unpadded residual blocks must leave something, also after the strided
        convs have shrunk the image.
        """
        for side in range(1, 1 << 16):
            out = self._output_side(side)
            if out is not None and out >= side * self.factor:
                return side
        raise ValueError(f"{self.arch}: no image size fits (with these options its output is "
                         f"smaller than its input at every size: unpadded residual blocks "
                         f"need input_pad)")

    def _next_side(self, stage, side):
        """A stage's output side for its input side (None: the stage cannot take it)."""
        if stage.kind == "up":
            return 2 * side
        if stage.kind == "res":
            return self.layout.residual_side(side)
        return self.layout.conv_side(stage, side)

    def _output_side(self, side):
        """The output's side for an input side, or None if some layer cannot take it."""
        side = self.layout.input_side(side)
        for stage in self.stages:
            if side is None:
                return None
            side = self._next_side(stage, side)
            if side is not None and side < 1:
                return None
        return side

    def _stage_sides(self, height, width):
        """``(stage, (h, w), (h', w'))`` for each stage: its input's and its output's sides."""
        h, w = self.layout.input_side(height) or height, self.layout.input_side(width) or width
        for stage in self.stages:
            nh, nw = self._next_side(stage, h) or h, self._next_side(stage, w) or w
            yield stage, (h, w), (nh, nw)
            h, w = nh, nw

    def inference_bytes(self, height, width):
        """About how much memory :meth:`apply` needs for one (height, width) image.

        Inference keeps no caches, so the peak is one stage at a time: its input,
        its output and the conv's working copies (a padded input, the products of
        the fast kernels), counted here as three more of the larger of the two.
        """
        itemsize = np.dtype(self.dtype).itemsize
        peak, c = 0, self.in_channels
        for stage, (h, w), (nh, nw) in self._stage_sides(height, width):
            here, there = h * w * c, nh * nw * stage.c_out
            peak = max(peak, (here + there + 3 * max(here, there)) * itemsize)
            c = stage.c_out
        return peak

    def conv_flops(self, height, width):
        """The floating-point operations of each stage's convs for one (height, width) image.

        Two (a multiply and an add) per filter tap, input channel and output
        value: ``2 * H' * W' * F * K * K * C`` for a conv with an (H', W', F)
        output; a transposed conv spends ``2 * H * W * C * K * K * F`` on its
        (H, W, C) input; a residual block is its two 3x3 convs; nearest
        upsampling counts its conv on the upsampled map. Norms, ReLUs and the
        output map are not counted: they are a few operations per value.

        Returns
        -------
        dict stage name -> int
        """
        flops = {}
        for stage, (h, w), (nh, nw) in self._stage_sides(height, width):
            k2, c, f = stage.kernel ** 2, stage.c_in, stage.c_out
            if stage.kind == "res":
                shave = (h - nh) // 2          # unpadded blocks: each conv takes 2 from a side
                flops[stage.name] = sum(2 * (h - s) * (w - s) * f * 9 * c for s in (shave, 2 * shave))
            elif stage.kind == "up" and self.options["upsample"] == "transpose":
                flops[stage.name] = 2 * h * w * c * k2 * f
            else:
                flops[stage.name] = 2 * nh * nw * f * k2 * c
        return flops

    def forward(self, x, keep_cache=True):
        """``y, cache`` for a batch (N, H, W, in_channels); see :func:`transform_forward`.

        Inference computes in :attr:`workspace`; a thread that finds another
        thread there (a Dask worker with several threads shares one network)
        takes a workspace of its own for the call.
        """
        if keep_cache or not self._in_workspace.acquire(blocking=False):
            return transform_forward(x, self.params, self.arch, self.options, keep_cache,
                                     self.engine, self.layout, None, self.profile)
        try:
            return transform_forward(x, self.params, self.arch, self.options, keep_cache,
                                     self.engine, self.layout, self.workspace, self.profile)
        finally:
            if self.workspace.nbytes > self.scratch_limit:
                self.workspace.clear()
            self._in_workspace.release()

    def apply(self, img):
        """One image of any size through the network, for inference.

        Parameters
        ----------
        img : ndarray of shape (H, W, in_channels)
            RGB in [0, 1] (or features, for a decoder), in the network's dtype.

        Returns
        -------
        ndarray of shape (H * factor, W * factor, 3)
            The network runs on the image as it is, as the published code of
            every source does: where H or W is not a multiple of
            :attr:`multiple` each strided conv rounds up and the output comes
            out a few pixels larger, top-left aligned; it is cropped back.
        """
        h, w = self.check_image(img)
        y, _ = self.forward(img[None], keep_cache=False)
        f = self.factor
        return y[0, :round(h * f), :round(w * f)]

    def check_image(self, img):
        """Refuse an image :meth:`apply` cannot take (its shape, or too small); its (H, W)."""
        c = self.in_channels
        if img.ndim != 3 or img.shape[2] != c:
            raise ValueError(f"expected an input of shape (H, W, {c}), got {tuple(img.shape)}")
        h, w = img.shape[:2]
        need = self.min_side()
        if min(h, w) < need:
            raise ValueError(f"an image of {w}x{h} pixels is too small for this network "
                             f"({self.arch}): it needs at least {need} pixels a side")
        return h, w

    def backward(self, dy, cache, input_grad=True):
        """``dx, grads``; see :func:`transform_backward`."""
        return transform_backward(dy, cache, self.options, input_grad, self.layout)
