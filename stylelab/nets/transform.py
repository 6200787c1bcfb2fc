"""Johnson et al.'s image transformation network, described by an architecture string.

The string lists the stages in order, as Johnson's reference implementation
does::

    c9s1-32,d64,d128,R128x5,u64,u32,c9s1-3        (the style network, STYLE_ARCH)

    c{K}s{S}-{F}   KxK conv, stride S, F filters        then instance norm + ReLU
    d{F}           3x3 conv, stride 2 (halves the image) then instance norm + ReLU
    R{F}           a residual block of F channels (``R{F}x5`` repeats it five times)
    u{F}           x2 upsampling to F channels          then instance norm + ReLU

The last stage is a conv to 3 channels with no norm or ReLU; a scaled tanh,
``y = (tanh(h) + 1) / 2``, maps it into [0, 1] pixels. Every conv pads by
reflection (zeros would draw a dark frame).

Two options make the same machinery serve Li et al.'s decoders
(:mod:`stylelab.nets.decoder`): ``norm="none"`` drops the instance norms (each
stage is conv + ReLU), ``output="linear"`` drops the tanh, and the input may
have any number of channels (VGG features rather than RGB). Shapes for a 256x256 input::

    c9s1-32  (N, 256, 256, 32)     d64 (N, 128, 128, 64)     d128 (N, 64, 64, 128)
    R128 x5  (N, 64, 64, 128)      u64 (N, 128, 128, 64)     u32 (N, 256, 256, 32)
    c9s1-3   (N, 256, 256, 3)

``u`` stages upsample one of two ways: ``"nearest"`` (default) repeats each
pixel 2x2 and then convolves 3x3, which avoids the checkerboard artefacts of
``"transpose"``, the paper's fractionally strided conv (3x3, stride 1/2).

Parameters live in one flat dict, ``"{stage}.{name}"`` -> array, e.g.
``"conv1.w"`` (F, K, K, C), ``"res3.gamma1"`` (C,); a transposed conv's
filters are (C_in, 3, 3, C_out).
"""

import re
from dataclasses import dataclass

import numpy as np

from ..backend import array_module, get_array_module
from ..layers import (conv2d_backward, conv2d_forward, conv_transpose2d_backward,
                     conv_transpose2d_forward, instance_norm_backward, instance_norm_forward,
                     relu_backward, relu_forward, relu_inplace, residual_block_backward,
                     residual_block_forward, tanh_backward, tanh_forward, upsample_conv_backward,
                     upsample_conv_forward)
from ..layers.residual import PARAMS as RESIDUAL_PARAMS

STYLE_ARCH = "c9s1-32,d64,d128,R128x5,u64,u32,c9s1-3"
SR_ARCH = {4: "c9s1-64,R64x4,u64,u64,c9s1-3", 8: "c9s1-64,R64x4,u64,u64,u64,c9s1-3"}
UPSAMPLING = ("nearest", "transpose")
NORMS = ("instance", "none")
OUTPUTS = ("tanh", "linear")

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


def _check_options(upsample, norm, output):
    for what, value, allowed in (("upsample", upsample, UPSAMPLING), ("norm", norm, NORMS),
                                 ("output", output, OUTPUTS)):
        if value not in allowed:
            raise ValueError(f"{what} must be one of {allowed}, got {value!r}")


def param_shapes(arch, upsample="nearest", norm="instance", in_channels=3):
    """{param name: shape} for an architecture, in the network's order."""
    _check_options(upsample, norm, "tanh")
    shapes = {}
    for st in parse_arch(arch, in_channels):
        if st.kind == "res" and norm != "instance":
            raise ValueError(f"architecture: residual blocks carry instance norms; "
                             f"{arch!r} cannot have norm={norm!r}")
        if st.kind == "res":
            c = st.c_in
            for p in RESIDUAL_PARAMS:
                shapes[f"{st.name}.{p}"] = (c, 3, 3, c) if p[0] == "w" else (c,)
            continue
        if st.kind == "up" and upsample == "transpose":
            shapes[f"{st.name}.w"] = (st.c_in, 3, 3, st.c_out)
        else:
            shapes[f"{st.name}.w"] = (st.c_out, st.kernel, st.kernel, st.c_in)
        shapes[f"{st.name}.b"] = (st.c_out,)
        if not st.last and norm == "instance":
            shapes[f"{st.name}.gamma"] = (st.c_out,)
            shapes[f"{st.name}.beta"] = (st.c_out,)
    return shapes


def init_params(arch, upsample="nearest", seed=0, dtype=np.float32, norm="instance",
                in_channels=3):
    """Fresh parameters: PyTorch's default conv init, unit gamma, zero beta.

    Filters and biases are uniform in ``+-1/sqrt(fan_in)``, fan_in being the
    inputs one output sums over (``K*K*C``; for a transposed conv, the
    ``C_out*K*K`` PyTorch counts).
    """
    rng = np.random.default_rng(seed)
    xp = array_module()
    params, fan_in = {}, None
    for name, shape in param_shapes(arch, upsample, norm, in_channels).items():
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


def pad_to_multiple(img, multiple):
    """Pad (H, W, C) at the bottom and right to sides that are multiples of `multiple`.

    By reflection (no dark frame), or by repeating the edge where the image is
    too small to reflect that far. Callers crop the result back.
    """
    h, w = img.shape[:2]
    ph, pw = -h % multiple, -w % multiple
    if not (ph or pw):
        return img
    mode = "reflect" if ph < h and pw < w else "edge"
    return get_array_module(img).pad(img, ((0, ph), (0, pw), (0, 0)), mode=mode)


def _sub(params, prefix):
    return {k[len(prefix) + 1:]: v for k, v in params.items() if k.startswith(prefix + ".")}


def _stage_forward(st, h, p, upsample, keep_cache=True, norm="instance", output="tanh"):
    """One stage (not a residual block): its conv, then [IN +] ReLU, or the output map.

    Without a cache (inference) the norm, ReLU and tanh work in place.
    """
    caches = {}
    if st.kind == "up" and upsample == "transpose":
        h, caches["convT"] = conv_transpose2d_forward(h, p["w"], p["b"])
    elif st.kind == "up":
        # upsample2x then a 3x3 conv (reflect), computed as four 2x2 convs of the small image
        h, caches["upconv"] = upsample_conv_forward(h, p["w"], p["b"])
    else:
        h, caches["conv"] = conv2d_forward(h, p["w"], p["b"], stride=st.stride,
                                           padding="same", pad_mode="reflect")
    if st.last and output == "linear":
        return h, (caches if keep_cache else None)
    half = h.dtype.type(0.5)
    if not keep_cache:
        if st.last:
            h = get_array_module(h).tanh(h, out=h)
            h += 1
            h *= half
            return h, None
        if norm == "instance":
            h, _ = instance_norm_forward(h, p["gamma"], p["beta"], inplace=True)
        return relu_inplace(h), None
    if st.last:
        t, caches["tanh"] = tanh_forward(h)
        return (t + 1) * half, caches
    if norm == "instance":
        h, caches["norm"] = instance_norm_forward(h, p["gamma"], p["beta"])
    h, caches["relu"] = relu_forward(h)
    return h, caches


def _stage_backward(d, caches, input_grad=True):
    g = {}
    if "tanh" in caches:
        d = tanh_backward(d * d.dtype.type(0.5), caches["tanh"])
    if "relu" in caches:
        d = relu_backward(d, caches["relu"])
    if "norm" in caches:
        d, g["gamma"], g["beta"] = instance_norm_backward(d, caches["norm"])
    if "convT" in caches:
        d, g["w"], g["b"] = conv_transpose2d_backward(d, caches["convT"])   # never first
    elif "upconv" in caches:
        d, g["w"], g["b"] = upsample_conv_backward(d, caches["upconv"], input_grad)
    else:
        d, g["w"], g["b"] = conv2d_backward(d, caches["conv"], input_grad=input_grad)
    return d, g


def transform_forward(x, params, arch=STYLE_ARCH, upsample="nearest", keep_cache=True,
                      norm="instance", output="tanh"):
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
    upsample : {"nearest", "transpose"}
    keep_cache : bool
        False for inference: each layer's cache is let go as soon as it is
        made (a 1024 px image's caches would take gigabytes).
    norm : {"instance", "none"}
    output : {"tanh", "linear"}

    Returns
    -------
    y : ndarray of shape (N, H', W', 3)
        In [0, 1] (``output="tanh"``); ``H' = H * 2**ups / 2**downs`` for
        sizes that divide.
    cache : what :func:`transform_backward` needs
    """
    _check_options(upsample, norm, output)
    stages = parse_arch(arch, x.shape[-1])
    missing = [k for k in param_shapes(arch, upsample, norm, x.shape[-1]) if k not in params]
    if missing:
        raise ValueError(f"transform network: params lack {missing[0]!r} "
                         f"(architecture {arch}, upsample {upsample})")
    h, caches = x, []
    for st in stages:
        p = _sub(params, st.name)
        if st.kind == "res":
            h, c = residual_block_forward(h, p, keep_cache)
        else:
            h, c = _stage_forward(st, h, p, upsample, keep_cache, norm, output)
        if keep_cache:
            caches.append((st, c))
        del c
    return h, (caches if keep_cache else None)


def transform_backward(dy, cache, input_grad=True):
    """Gradients of :func:`transform_forward`.

    Parameters
    ----------
    dy : ndarray like the output
    cache : from :func:`transform_forward`
    input_grad : bool
        False skips the gradient to the input images (training needs only
        the parameters'; at 256 px it is the first 9x9 conv's dearest part).

    Returns
    -------
    dx : ndarray of shape (N, H, W, 3), or None
    grads : dict, the keys of ``params``
    """
    grads, d = {}, dy
    for i in reversed(range(len(cache))):
        st, c = cache[i]
        if st.kind == "res":
            d, g = residual_block_backward(d, c)
        else:
            d, g = _stage_backward(d, c, input_grad or i > 0)
        grads.update({f"{st.name}.{k}": v for k, v in g.items()})
    return d, grads


class TransformNet:
    """The network's parameters with its architecture: a thin composition.

    Attributes
    ----------
    arch : str
    upsample : {"nearest", "transpose"}
    norm : {"instance", "none"}
    output : {"tanh", "linear"}
    in_channels : int
    params : dict name -> ndarray
    """

    def __init__(self, arch=STYLE_ARCH, upsample="nearest", params=None, seed=0,
                 dtype=np.float32, norm="instance", output="tanh", in_channels=3):
        _check_options(upsample, norm, output)
        self.arch, self.upsample, self.norm, self.output = arch, upsample, norm, output
        self.in_channels = int(in_channels)
        self.stages = parse_arch(arch, in_channels)
        shapes = param_shapes(arch, upsample, norm, in_channels)
        self.params = (init_params(arch, upsample, seed, dtype, norm, in_channels)
                       if params is None else params)
        for name, shape in shapes.items():
            got = self.params.get(name)
            if got is None or tuple(got.shape) != shape:
                have = "missing" if got is None else f"shape {tuple(got.shape)}"
                raise ValueError(f"parameter {name!r} should have shape {shape} for "
                                 f"{arch} ({upsample} upsampling), but is {have}")
        extra = sorted(set(self.params) - set(shapes))
        if extra:
            raise ValueError(f"parameter {extra[0]!r} is not part of {arch}")

    @property
    def spec(self):
        """What defines the network besides its parameters (a model file stores it)."""
        return {"arch": self.arch, "upsample": self.upsample, "norm": self.norm,
                "output": self.output, "in_channels": self.in_channels}

    @property
    def dtype(self):
        return next(iter(self.params.values())).dtype

    @property
    def factor(self):
        """Output size / input size: 2 ** (ups - downs) (for the style net, 1)."""
        ups = sum(st.kind == "up" for st in self.stages)
        return 2.0 ** ups / self.multiple

    @property
    def multiple(self):
        """Input sides must be multiples of this for the sizes to work out."""
        return int(np.prod([st.stride for st in self.stages]))

    def min_side(self):
        """The smallest image side (pixels) the network can take.

        Reflection padding needs each conv's input to be wider than its pad,
        also after the strided convs have shrunk it.
        """
        for side in range(1, 1 << 16):
            if self._fits(-(-side // self.multiple) * self.multiple):
                return side
        raise ValueError(f"{self.arch}: no image size fits")    # not reached for sane strings

    def _fits(self, side):
        for st in self.stages:
            if st.kind == "up":
                side *= 2
                continue
            pad = st.kernel // 2
            if side <= pad:
                return False
            side = (side + 2 * pad - st.kernel) // st.stride + 1
        return True

    def forward(self, x, keep_cache=True):
        """``y, cache`` for a batch (N, H, W, in_channels); see :func:`transform_forward`."""
        return transform_forward(x, self.params, self.arch, self.upsample, keep_cache,
                                 self.norm, self.output)

    def apply(self, img):
        """One image of any size through the network, for inference.

        Parameters
        ----------
        img : ndarray of shape (H, W, in_channels)
            RGB in [0, 1] (or features, for a decoder), in the network's dtype.

        Returns
        -------
        ndarray of shape (H * factor, W * factor, 3)
            The image is padded by reflection to a multiple of
            :attr:`multiple`, and the output cropped back.
        """
        c = self.in_channels
        if img.ndim != 3 or img.shape[2] != c:
            raise ValueError(f"expected an input of shape (H, W, {c}), got {tuple(img.shape)}")
        h, w = img.shape[:2]
        need = self.min_side()
        if min(h, w) < need:
            raise ValueError(f"an image of {h}x{w} pixels is too small for this network "
                             f"({self.arch}): it needs at least {need} pixels a side")
        y, _ = self.forward(pad_to_multiple(img, self.multiple)[None], keep_cache=False)
        f = self.factor
        return y[0, :round(h * f), :round(w * f)]

    def backward(self, dy, cache, input_grad=True):
        """``dx, grads``; see :func:`transform_backward`."""
        return transform_backward(dy, cache, input_grad)
