"""The published transformation networks' layouts: where each departs from stylelab's own network.

Johnson et al.'s network was published by several people in several
frameworks, and each made small choices the weights depend on. The network
(:class:`stylelab.nets.transform.TransformNet`) asks its layout at each of
those places; :class:`stylelab.nets.transform.Layout` answers for stylelab's
own network and :class:`PublishedLayout` for a published one:

=============  ========================  ==============================================================
option         values (stylelab's first) what it changes
=============  ========================  ==============================================================
padding        reflect, zeros, tf        how convs pad; ``tf`` is TensorFlow's "SAME": zeros, one
                                         more below and right than above and left for stride 2
residual       same, valid               ``valid``: residual convs unpadded, the shortcut cropped
input_pad      0                         reflection padding of the input (Johnson's release: 40)
last_norm      False                     a norm after the last conv too (TensorFlow's release)
output_scale,  by the output: tanh       the last activation times ``output_scale`` plus
output_shift   0.5, 0.5; linear 1, 0     ``output_shift``, in the network's pixel units
channel_order  RGB, BGR                  } the input convention, as a VGG file's: the network sees
input_scale    1                         } ``(x[..., order] * input_scale - mean) / std`` for RGB
mean, std      0, 1 (3 each)             } x in [0, 1], and its output goes back the same way
=============  ========================  ==============================================================

The network's own options -- ``upsample``, ``norm`` (``affine`` is batch norm
at test time), ``norm_eps``, ``output`` -- are :data:`stylelab.nets.transform.OPTIONS`.
A model file records both kinds in one flat dict (:func:`transform_net` reads
it back); the known sources' settings are in :data:`SOURCES`.
"""

import numpy as np

from ..backend import get_array_module
from ..layers import pad2d_backward, pad2d_forward, same_padding
from ..layers.residual import SHAVE
from ..nets.transform import OPTIONS, OUTPUT_MAPS, Layout, TransformNet, param_shapes, settle
from .vgg_h5 import CAFFE

CHOICES = {"padding": ("reflect", "zeros", "tf"), "residual": ("same", "valid"),
           "channel_order": ("RGB", "BGR")}
DEFAULTS = dict(padding="reflect", residual="same", input_pad=0, last_norm=False,
                output_scale=None, output_shift=None, channel_order="RGB", input_scale=1.0,
                mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
VGG_MEAN_BGR = tuple(CAFFE["mean"])       # Johnson's Torch7 networks take VGG's (Caffe's) input

# The networks each source published: their own options and their layouts (docs/johnson.md).
SOURCES = {
    # lengstrom/fast-style-transfer (TensorFlow; deeplearn.js / ml5.js checkpoints)
    "tensorflow": dict(upsample="transpose", padding="tf", norm_eps=1e-3, last_norm=True,
                       output="tanh", output_scale=150.0, output_shift=127.5, input_scale=255.0),
    # pytorch/examples fast_neural_style
    "pytorch": dict(output="linear", input_scale=255.0),
    # jcjohnson/fast-neural-style (Torch7), "reflect-start" padding, VGG preprocessing
    "torch7": dict(upsample="transpose", padding="zeros", residual="valid", input_pad=40,
                   output="tanh", output_scale=150.0, output_shift=0.0, channel_order="BGR",
                   input_scale=255.0, mean=VGG_MEAN_BGR),
}


def settle_layout(options, output="tanh"):
    """A layout's options, checked, with the defaults filled in (the output map by `output`)."""
    unknown = sorted(set(options) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"unknown transform network option {unknown[0]!r}; the options are "
                         f"{', '.join([*OPTIONS, *DEFAULTS])}")
    out = {**DEFAULTS, **{k: v for k, v in options.items() if v is not None}}
    for key, allowed in CHOICES.items():
        if out[key] not in allowed:
            raise ValueError(f"{key} must be one of {allowed}, got {out[key]!r}")
    scale, shift = OUTPUT_MAPS[output]
    out["output_scale"] = float(scale if out["output_scale"] is None else out["output_scale"])
    out["output_shift"] = float(shift if out["output_shift"] is None else out["output_shift"])
    out["input_scale"] = float(out["input_scale"])
    out["input_pad"], out["last_norm"] = int(out["input_pad"]), bool(out["last_norm"])
    out["mean"] = tuple(float(v) for v in np.asarray(out["mean"], np.float64).reshape(-1))
    out["std"] = tuple(float(v) for v in np.asarray(out["std"], np.float64).reshape(-1))
    numbers = [out["input_scale"], out["output_scale"], out["output_shift"], *out["mean"],
               *out["std"]]
    if (len(out["mean"]) != 3 or len(out["std"]) != 3 or not np.all(np.isfinite(numbers))
            or min(out["std"]) <= 0 or out["input_scale"] <= 0 or out["input_pad"] < 0):
        raise ValueError(f"transform network options out of range: input_scale and std must be "
                         f"positive, input_pad >= 0, 3 finite means and stds, got "
                         f"{ {k: out[k] for k in ('input_scale', 'mean', 'std', 'input_pad')} }")
    return out


class PublishedLayout(Layout):
    """A published network's layout, from its options (the table above).

    Parameters
    ----------
    options : dict
        Any of :data:`DEFAULTS`; the rest take stylelab's values.
    output : {"tanh", "linear"}
        The network's output, which the output map's defaults follow.
    """

    def __init__(self, options, output="tanh"):
        # What a model file records: every option, as the file format always has.
        self.options = settle_layout(options, output)
        self.output = output
        for key, value in self.options.items():
            setattr(self, key, value)
        self.pixels = not (self.channel_order == "RGB" and self.input_scale == 1.0
                           and self.mean == (0.0, 0.0, 0.0) and self.std == (1.0, 1.0, 1.0))

    # -- pixels in and out --
    def _scale_and_mean(self, like):
        xp = get_array_module(like)
        dt = like.dtype
        std = np.asarray(self.std)
        return (xp.asarray(self.input_scale / std, dtype=dt),
                xp.asarray(np.asarray(self.mean) / std, dtype=dt),
                xp.asarray(std / self.input_scale, dtype=dt),
                xp.asarray(np.asarray(self.mean) / self.input_scale, dtype=dt))

    def to_network(self, x):
        """RGB in [0, 1] -> ``(x[..., order] * input_scale - mean) / std``, then the input pad."""
        if self.pixels and x.shape[-1] == 3:
            if self.channel_order == "BGR":
                x = x[..., ::-1]
            scale, shift, _, _ = self._scale_and_mean(x)
            x = x * scale - shift
        if not self.input_pad:
            return x, None
        return pad2d_forward(x, self.input_pad, "reflect")

    def to_network_backward(self, d, cache):
        if cache is not None:
            d = pad2d_backward(d, cache)
        if self.pixels and d.shape[-1] == 3:
            scale, _, _, _ = self._scale_and_mean(d)
            d = d * scale
            if self.channel_order == "BGR":
                d = d[..., ::-1]
        return d

    def from_network(self, y, inplace=False):
        """The network's output -> RGB in [0, 1]: ``(y * std + mean) / input_scale``, reordered."""
        if not self.pixels:
            return y
        _, _, back_scale, back_shift = self._scale_and_mean(y)
        if inplace:
            y *= back_scale
            y += back_shift
        else:
            y = y * back_scale + back_shift
        if self.channel_order == "BGR":
            return get_array_module(y).ascontiguousarray(y[..., ::-1])
        return y

    def from_network_backward(self, d):
        if not self.pixels:
            return d
        if self.channel_order == "BGR":
            d = d[..., ::-1]
        _, _, back_scale, _ = self._scale_and_mean(d)
        return d * back_scale

    def output_map(self, output):
        return self.output_scale, self.output_shift

    # -- padding --
    def conv_padding(self, stage, shape):
        if self.padding == "tf":
            top, bottom = same_padding(shape[1], stage.kernel, stage.stride, "tf")
            left, right = same_padding(shape[2], stage.kernel, stage.stride, "tf")
            return dict(padding=(top, bottom, left, right))
        return dict(padding="same", pad_mode=self.padding)

    def transpose_padding(self, shape):
        if self.padding == "tf":      # the adjoint of TensorFlow's SAME conv from 2H to H
            top, bottom = same_padding(2 * shape[1], 3, 2, "tf")
            left, right = same_padding(2 * shape[2], 3, 2, "tf")
            return (top, bottom, left, right), top + bottom - 1
        return 1, 1                   # PyTorch's and Torch7's: padding 1, output padding 1

    def residual_padding(self):
        if self.residual == "valid":
            return "valid"
        return "zeros" if self.padding == "tf" else self.padding   # 3x3 SAME: 1 a side, zeros

    # -- sizes --
    def input_side(self, side):
        if not self.input_pad:
            return side
        return None if side <= self.input_pad else side + 2 * self.input_pad

    def conv_side(self, stage, side):
        if self.padding == "reflect":
            return super().conv_side(stage, side)
        if self.padding == "tf":
            return -(-side // stage.stride)
        pad = stage.kernel // 2
        return (side + 2 * pad - stage.kernel) // stage.stride + 1

    def residual_side(self, side):
        if self.residual == "valid":
            return side - 2 * SHAVE
        return super().residual_side(side) if self.padding == "reflect" else side


def _split(options):
    """One flat dict of options -> the network's own (settled) and its layout (or None)."""
    own = settle({k: v for k, v in options.items() if k in OPTIONS})
    layout = PublishedLayout({k: v for k, v in options.items() if k not in OPTIONS},
                             own["output"])
    if layout.options == settle_layout({}, own["output"]):
        layout = None
    return own, layout


def transform_param_shapes(arch, in_channels=3, **options):
    """``{name: shape}`` of the parameters of the network a flat dict of options describes."""
    own, layout = _split(options)
    return param_shapes(arch, own["upsample"], own["norm"], in_channels,
                        layout is not None and layout.last_norm)


def transform_net(arch, params=None, in_channels=3, dtype=np.float32, **options):
    """A :class:`~stylelab.nets.transform.TransformNet` from one flat dict of options, as model files keep them.

    The network's own options (:data:`stylelab.nets.transform.OPTIONS`) go to
    it; the rest make its :class:`PublishedLayout` -- none when they are all
    stylelab's.
    """
    own, layout = _split(options)
    return TransformNet(arch, params=params, in_channels=in_channels, dtype=dtype,
                        layout=layout, **own)


def all_option_names():
    """Every option a model file may record: the network's own and its layout's."""
    return [*OPTIONS, *DEFAULTS]
