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

Everything else a network depends on is an option
(:mod:`stylelab.nets.transform_options`): the padding, the norm and its
epsilon, the residual variant, how pixels go in and come out. They let the
one network run the networks published in TensorFlow, PyTorch and Torch7
(:mod:`stylelab.files.foreign`), and Li et al.'s decoders
(:mod:`stylelab.nets.decoder`: ``norm="none"``, ``output="linear"``, VGG
features in rather than RGB).

Parameters live in one flat dict, ``"{stage}.{name}"`` -> array, e.g.
``"conv1.w"`` (F, K, K, C), ``"res3.gamma1"`` (C,); a transposed conv's
filters are (C_in, 3, 3, C_out).
"""

import re
from dataclasses import dataclass

import numpy as np

from .. import layers
from ..backend import array_module, get_array_module
from ..layers import (conv_transpose2d_backward, conv_transpose2d_forward, fast, pad2d_backward,
                      pad2d_forward, relu_backward, relu_forward, relu_inplace,
                      residual_block_backward, residual_block_forward, same_padding,
                      tanh_backward, tanh_forward, upsample2x_backward, upsample2x_forward)
from ..layers.residual import PARAMS as RESIDUAL_PARAMS
from ..layers.residual import SHAVE, norm_backward, norm_forward
from . import transform_options
from .transform_options import (from_network, from_network_backward, identity_input, to_network,
                                to_network_backward)

STYLE_ARCH = "c9s1-32,d64,d128,R128x5,u64,u32,c9s1-3"
SR_ARCH = {4: "c9s1-64,R64x4,u64,u64,c9s1-3", 8: "c9s1-64,R64x4,u64,u64,u64,c9s1-3"}
UPSAMPLING = transform_options.CHOICES["upsample"]
NORMS = transform_options.CHOICES["norm"]
OUTPUTS = transform_options.CHOICES["output"]

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
            raise ValueError(f"architecture: cannot read token {token!r} in {arch!r} "
                             f"(expected c9s1-32, d64, R128, R128x5 or u64)")
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
        if channels < 1:
            raise ValueError(f"architecture: {token!r} has no channels")
    last = stages[-1]
    if last.kind != "conv" or last.c_out != 3:
        raise ValueError(f"architecture: {arch!r} must end with a conv to 3 channels "
                         f"(such as c9s1-3) to make an RGB image")
    stages[-1] = Stage(last.kind, last.name, last.c_in, 3, last.kernel, last.stride, last=True)
    return stages


def param_shapes(arch, upsample="nearest", norm="instance", in_channels=3, last_norm=False):
    """{param name: shape} for an architecture, in the network's order."""
    transform_options.settle(dict(upsample=upsample, norm=norm))
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


def _sub(params, prefix):
    return {k[len(prefix) + 1:]: v for k, v in params.items() if k.startswith(prefix + ".")}


def _conv_padding(stage, shape, padding):
    """A conv stage's padding arguments under the network's `padding` convention."""
    if padding == "tf":
        top, bottom = same_padding(shape[1], stage.kernel, stage.stride, "tf")
        left, right = same_padding(shape[2], stage.kernel, stage.stride, "tf")
        return dict(padding=(top, bottom, left, right))
    return dict(padding="same", pad_mode=padding)


def _transpose_padding(shape, padding):
    """``(pads, output_padding)`` of a 3x3 stride-2 transposed conv to twice the size."""
    if padding == "tf":      # the adjoint of TensorFlow's SAME conv from 2H to H
        top, bottom = same_padding(2 * shape[1], 3, 2, "tf")
        left, right = same_padding(2 * shape[2], 3, 2, "tf")
        return (top, bottom, left, right), top + bottom - 1
    return 1, 1              # PyTorch's and Torch7's: padding 1, output padding 1


def _stage_forward(stage, h, params, opts, keep_cache=True, ops=layers):
    """One stage (not a residual block): its conv, then [norm +] ReLU, or the output map.

    `opts` holds the network's options; `ops`, where the conv layers come from
    (a value of :data:`ENGINES`). Without a cache (inference) the norm, ReLU
    and tanh work in place.
    """
    caches = {"ops": ops}
    if stage.kind == "up" and opts["upsample"] == "transpose":
        pads, extra = _transpose_padding(h.shape, opts["padding"])
        h, caches["convT"] = conv_transpose2d_forward(h, params["w"], params["b"], 2, pads, extra,
                                                      conv=ops)
    elif stage.kind == "up" and opts["padding"] == "reflect":
        # upsample2x then a 3x3 conv (reflect); the fast engine computes it small
        h, caches["upconv"] = ops.upsample_conv_forward(h, params["w"], params["b"])
    else:
        if stage.kind == "up":                  # nearest x2, then a zero- or TF-padded conv
            h, caches["up"] = upsample2x_forward(h)
        h, caches["conv"] = ops.conv2d_forward(h, params["w"], params["b"], stride=stage.stride,
                                               **_conv_padding(stage, h.shape, opts["padding"]))
    if "gamma" in params:
        h, caches["norm"] = norm_forward(opts["norm"], h, params["gamma"], params["beta"],
                                         opts["norm_eps"], inplace=not keep_cache)
    if not stage.last:
        if not keep_cache:
            return relu_inplace(h), None
        h, caches["relu"] = relu_forward(h)
        return h, caches
    # The last stage: the output map, act(h) * output_scale + output_shift.
    scale, shift = h.dtype.type(opts["output_scale"]), h.dtype.type(opts["output_shift"])
    if not keep_cache:
        if opts["output"] == "tanh":
            h = get_array_module(h).tanh(h, out=h)
        h *= scale
        h += shift
        return h, None
    caches["output"] = opts["output"]
    if opts["output"] == "tanh":
        h, caches["tanh"] = tanh_forward(h)
    return h * scale + shift, caches


def _stage_backward(grad, caches, opts, input_grad=True):
    grads, ops = {}, caches["ops"]
    if "output" in caches:                             # the last stage: the output map
        grad = grad * grad.dtype.type(opts["output_scale"])
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


def transform_forward(x, params, arch=STYLE_ARCH, options=None, keep_cache=True, engine="fast"):
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
        :mod:`stylelab.nets.transform_options` (defaults: stylelab's network).
    keep_cache : bool
        False for inference: each layer's cache is let go as soon as it is
        made (a 1024 px image's caches would take gigabytes).
    engine : {"fast", "readable"}
        Which layers compute the convs: :mod:`stylelab.layers.fast` (the
        default), or the readable im2col layers of :mod:`stylelab.layers`. The
        same numbers; the backward pass runs the forward's.

    Returns
    -------
    y : ndarray of shape (N, H', W', 3)
        RGB in [0, 1] for the tanh outputs; ``H' = H * 2**ups / 2**downs``
        for sizes that divide.
    cache : what :func:`transform_backward` needs: ``[(stage, cache), ...]``
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {tuple(ENGINES)}, got {engine!r}")
    ops = ENGINES[engine]
    opts = transform_options.settle(options or {})
    stages = parse_arch(arch, x.shape[-1])
    missing = [k for k in param_shapes(arch, opts["upsample"], opts["norm"], x.shape[-1],
                                       opts["last_norm"]) if k not in params]
    if missing:
        raise ValueError(f"transform network: params lack {missing[0]!r} "
                         f"(architecture {arch}, upsample {opts['upsample']})")
    convention = x.shape[-1] == 3 and not identity_input(opts)
    h, caches = (to_network(x, opts) if convention else x), []
    if opts["input_pad"]:
        h, pad_cache = pad2d_forward(h, opts["input_pad"], "reflect")
        caches.append((Stage("input", "input", h.shape[-1], h.shape[-1]), pad_cache))
    for stage in stages:
        stage_params = _sub(params, stage.name)
        if stage.kind == "res":
            h, cache = residual_block_forward(h, stage_params, keep_cache, _residual_padding(opts),
                                              opts["norm"], opts["norm_eps"], conv=ops)
        else:
            h, cache = _stage_forward(stage, h, stage_params, opts, keep_cache, ops)
        if keep_cache:
            caches.append((stage, cache))
        del cache
    if convention:
        h = from_network(h, opts, inplace=not keep_cache)
    return h, (caches if keep_cache else None)


def _residual_padding(opts):
    if opts["residual"] == "valid":
        return "valid"
    # 3x3 stride 1: TensorFlow's SAME is 1 a side, zeros
    return "zeros" if opts["padding"] == "tf" else opts["padding"]


def transform_backward(dy, cache, options=None, input_grad=True):
    """Gradients of :func:`transform_forward`.

    Parameters
    ----------
    dy : ndarray like the output
    cache : from :func:`transform_forward`
    options : dict, optional
        The forward pass's.
    input_grad : bool
        False skips the gradient to the input images (training needs only
        the parameters'; at 256 px it is the first 9x9 conv's dearest part).

    Returns
    -------
    dx : ndarray like the input, or None
    grads : dict, the keys of ``params``
    """
    opts = transform_options.settle(options or {})
    first = 1 if cache[0][0].kind == "input" else 0      # the first stage after the input pad
    convention = cache[first][0].c_in == 3 and not identity_input(opts)
    grads, grad = {}, (from_network_backward(dy, opts) if convention else dy)
    for i in reversed(range(first, len(cache))):
        stage, stage_cache = cache[i]
        if stage.kind == "res":
            grad, stage_grads = residual_block_backward(grad, stage_cache)
        else:
            grad, stage_grads = _stage_backward(grad, stage_cache, opts, input_grad or i > first)
        grads.update({f"{stage.name}.{k}": v for k, v in stage_grads.items()})
    if not input_grad:
        return None, grads
    if first:
        grad = pad2d_backward(grad, cache[0][1])
    return (to_network_backward(grad, opts) if convention else grad), grads


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
    **options
        The other options of :mod:`stylelab.nets.transform_options`.

    Attributes
    ----------
    arch : str
    options : dict
        Every option, defaults filled in; each is an attribute too
        (``net.upsample``, ``net.norm``, ...).
    in_channels : int
    params : dict name -> ndarray
    """

    def __init__(self, arch=STYLE_ARCH, upsample="nearest", params=None, seed=0,
                 dtype=np.float32, norm="instance", output="tanh", in_channels=3, engine="fast",
                 **options):
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {tuple(ENGINES)}, got {engine!r}")
        self.engine = engine
        self.options = transform_options.settle(dict(upsample=upsample, norm=norm,
                                                     output=output, **options))
        self.arch, self.in_channels = arch, int(in_channels)
        self.stages = parse_arch(arch, in_channels)
        opts = self.options
        shapes = param_shapes(arch, opts["upsample"], opts["norm"], in_channels, opts["last_norm"])
        self.params = (init_params(arch, opts["upsample"], seed, dtype, opts["norm"], in_channels,
                                   opts["last_norm"]) if params is None else params)
        for name, shape in shapes.items():
            got = self.params.get(name)
            if got is None or tuple(got.shape) != shape:
                have = "missing" if got is None else f"shape {tuple(got.shape)}"
                raise ValueError(f"parameter {name!r} should have shape {shape} for "
                                 f"{arch} ({opts['upsample']} upsampling), but is {have}")
        extra = sorted(set(self.params) - set(shapes))
        if extra:
            raise ValueError(f"parameter {extra[0]!r} is not part of {arch}")

    def __getattr__(self, name):
        options = self.__dict__.get("options", {})
        if name in options:
            return options[name]
        raise AttributeError(f"TransformNet has no attribute {name!r}")

    @property
    def spec(self):
        """What defines the network besides its parameters (a model file stores it)."""
        return {"arch": self.arch, "in_channels": self.in_channels, **self.options}

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

    def _output_side(self, side):
        """The output's side for an input side, or None if some layer cannot take it."""
        opts = self.options
        if opts["input_pad"]:
            if side <= opts["input_pad"]:
                return None
            side += 2 * opts["input_pad"]
        for stage in self.stages:
            if stage.kind == "up":
                side *= 2
                continue
            if stage.kind == "res":
                side -= 2 * SHAVE if opts["residual"] == "valid" else 0
                if side < 1 or (opts["residual"] != "valid" and opts["padding"] == "reflect"
                                 and side <= 1):
                    return None
                continue
            pad = stage.kernel // 2
            if opts["padding"] == "reflect" and side <= pad:
                return None
            side = -(-side // stage.stride) if opts["padding"] == "tf" else \
                (side + 2 * pad - stage.kernel) // stage.stride + 1
            if side < 1:
                return None
        return side

    def forward(self, x, keep_cache=True):
        """``y, cache`` for a batch (N, H, W, in_channels); see :func:`transform_forward`."""
        return transform_forward(x, self.params, self.arch, self.options, keep_cache, self.engine)

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
        c = self.in_channels
        if img.ndim != 3 or img.shape[2] != c:
            raise ValueError(f"expected an input of shape (H, W, {c}), got {tuple(img.shape)}")
        h, w = img.shape[:2]
        need = self.min_side()
        if min(h, w) < need:
            raise ValueError(f"an image of {h}x{w} pixels is too small for this network "
                             f"({self.arch}): it needs at least {need} pixels a side")
        y, _ = self.forward(img[None], keep_cache=False)
        f = self.factor
        return y[0, :round(h * f), :round(w * f)]

    def backward(self, dy, cache, input_grad=True):
        """``dx, grads``; see :func:`transform_backward`."""
        return transform_backward(dy, cache, self.options, input_grad)
