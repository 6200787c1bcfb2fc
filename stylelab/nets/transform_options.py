"""The options of the transformation network: the conventions of the code a network was trained in.

Johnson et al.'s network was published by several people in several
frameworks, and each made small choices the weights depend on. They are
options of the one network (:class:`stylelab.nets.transform.TransformNet`),
not networks of their own:

=============  ========================  ==============================================================
option         values (default first)    what it changes
=============  ========================  ==============================================================
upsample       nearest, transpose        ``u`` stages: nearest x2 then a 3x3 conv, or a transposed conv
norm           instance, affine, none    after every conv but the last; ``affine`` is batch norm at
                                         test time (a per-channel scale and shift)
norm_eps       1e-5                      the instance norm's epsilon (TensorFlow's release: 1e-3)
padding        reflect, zeros, tf        how convs pad; ``tf`` is TensorFlow's "SAME": zeros, one
                                         more below and right than above and left for stride 2
residual       same, valid               ``valid``: residual convs unpadded, the shortcut cropped
input_pad      0                         reflection padding of the input (Johnson's release: 40)
last_norm      False                     a norm after the last conv too (TensorFlow's release)
output         tanh, linear              the last activation, then ``* output_scale + output_shift``
channel_order  RGB, BGR                  } the input convention, as a VGG file's: the network sees
input_scale    1                         } ``(x[..., order] * input_scale - mean) / std`` for RGB
mean, std      0, 1 (3 each)             } x in [0, 1], and its output goes back the same way
=============  ========================  ==============================================================

Defaults are stylelab's own network. ``output_scale`` and ``output_shift``
default to 0.5 and 0.5 for ``tanh`` (``(tanh + 1) / 2``, pixels in [0, 1])
and 1 and 0 for ``linear``. The known sources' settings are in
:data:`SOURCES`.
"""

import numpy as np

from ..backend import get_array_module

CHOICES = {"upsample": ("nearest", "transpose"), "norm": ("instance", "affine", "none"),
           "padding": ("reflect", "zeros", "tf"), "residual": ("same", "valid"),
           "output": ("tanh", "linear"), "channel_order": ("RGB", "BGR")}
DEFAULTS = dict(upsample="nearest", norm="instance", norm_eps=1e-5, padding="reflect",
                residual="same", input_pad=0, last_norm=False, output="tanh",
                output_scale=None, output_shift=None, channel_order="RGB", input_scale=1.0,
                mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
OUTPUT_MAPS = {"tanh": (0.5, 0.5), "linear": (1.0, 0.0)}
VGG_MEAN_BGR = (103.939, 116.779, 123.68)

# The networks each source published, as options (docs/johnson.md explains each).
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


def settle(options):
    """All options, checked, with the defaults filled in (``output_scale``/``shift`` by ``output``)."""
    unknown = sorted(set(options) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"unknown transform network option {unknown[0]!r}; the options are "
                         f"{', '.join(DEFAULTS)}")
    out = {**DEFAULTS, **{k: v for k, v in options.items() if v is not None}}
    for key, allowed in CHOICES.items():
        if out[key] not in allowed:
            raise ValueError(f"{key} must be one of {allowed}, got {out[key]!r}")
    scale, shift = OUTPUT_MAPS[out["output"]]
    out["output_scale"] = float(scale if out["output_scale"] is None else out["output_scale"])
    out["output_shift"] = float(shift if out["output_shift"] is None else out["output_shift"])
    out["norm_eps"], out["input_scale"] = float(out["norm_eps"]), float(out["input_scale"])
    out["input_pad"], out["last_norm"] = int(out["input_pad"]), bool(out["last_norm"])
    out["mean"] = tuple(float(v) for v in np.asarray(out["mean"], np.float64).reshape(-1))
    out["std"] = tuple(float(v) for v in np.asarray(out["std"], np.float64).reshape(-1))
    numbers = [out["norm_eps"], out["input_scale"], out["output_scale"], out["output_shift"],
               *out["mean"], *out["std"]]
    if (len(out["mean"]) != 3 or len(out["std"]) != 3 or not np.all(np.isfinite(numbers))
            or min(out["std"]) <= 0 or out["input_scale"] <= 0 or out["norm_eps"] <= 0
            or out["input_pad"] < 0):
        raise ValueError(f"transform network options out of range: norm_eps, input_scale and "
                         f"std must be positive, input_pad >= 0, 3 finite means and stds, got "
                         f"{ {k: out[k] for k in ('norm_eps', 'input_scale', 'mean', 'std', 'input_pad')} }")
    return out


def identity_input(options):
    """True when the network sees RGB in [0, 1] as it is."""
    return (options["channel_order"] == "RGB" and options["input_scale"] == 1.0
            and options["mean"] == (0.0, 0.0, 0.0) and options["std"] == (1.0, 1.0, 1.0))


def _scale_and_mean(options, like):
    xp = get_array_module(like)
    dt = like.dtype
    std = np.asarray(options["std"])
    return (xp.asarray(options["input_scale"] / std, dtype=dt),
            xp.asarray(np.asarray(options["mean"]) / std, dtype=dt),
            xp.asarray(std / options["input_scale"], dtype=dt),
            xp.asarray(np.asarray(options["mean"]) / options["input_scale"], dtype=dt))


def to_network(x, options):
    """RGB in [0, 1] -> the network's input: ``(x[..., order] * input_scale - mean) / std``."""
    if options["channel_order"] == "BGR":
        x = x[..., ::-1]
    scale, shift, _, _ = _scale_and_mean(options, x)
    return x * scale - shift


def to_network_backward(d, options):
    """The gradient at the RGB input, from the one at the network's input."""
    scale, _, _, _ = _scale_and_mean(options, d)
    d = d * scale
    return d[..., ::-1] if options["channel_order"] == "BGR" else d


def from_network(o, options, inplace=False):
    """The network's output -> RGB in [0, 1]: ``(o * std + mean) / input_scale``, channels reordered."""
    xp = get_array_module(o)
    _, _, back_scale, back_shift = _scale_and_mean(options, o)
    if inplace:
        o *= back_scale
        o += back_shift
    else:
        o = o * back_scale + back_shift
    return xp.ascontiguousarray(o[..., ::-1]) if options["channel_order"] == "BGR" else o


def from_network_backward(d, options):
    """The gradient at the network's output, from the one at the RGB output."""
    if options["channel_order"] == "BGR":
        d = d[..., ::-1]
    _, _, back_scale, _ = _scale_and_mean(options, d)
    return d * back_scale
