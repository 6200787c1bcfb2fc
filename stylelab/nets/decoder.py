"""Li et al.'s decoders: VGG-19 read backwards, from ``relu{L}_1`` to pixels.

The encoder is VGG-19 up to ``relu{L}_1`` (L = 1 ... 5); the decoder is its
mirror image: each of the encoder's convs in reverse order, with its in and
out channels swapped, and a nearest x2 upsampling where the encoder pools.
Every conv is 3x3 with reflection padding and a ReLU, except the last, which
makes RGB pixels with nothing after it. For ``relu4_1``::

    encoder  conv1_1 3->64  conv1_2  pool1  conv2_1 64->128  conv2_2  pool2
             conv3_1 128->256  conv3_2..3_4  pool3  conv4_1 256->512  relu4_1
    decoder  c3s1-256 (512->256)  u256  c3s1-256  c3s1-256  c3s1-128
             u128  c3s1-64  u64  c3s1-3

It is written in the architecture strings of :mod:`stylelab.nets.transform`
(``u{F}`` = nearest x2, then a 3x3 conv to F channels), with no instance norm
and a linear output, so the Johnson machinery -- forward, backward, model
files, :class:`stylelab.johnson.training.Trainer` -- serves it unchanged.
"""

import hashlib

import numpy as np

from ..backend import to_numpy
from .transform import TransformNet, param_shapes
from .vgg import WIDTHS, layer_names

LEVELS = (1, 2, 3, 4, 5)
ENCODER = "vgg19"


def level_layer(level):
    """The encoder layer of a level: 4 -> ``"relu4_1"``."""
    if level not in LEVELS:
        raise ValueError(f"decoder level must be one of {LEVELS}, got {level!r}")
    return f"relu{level}_1"


def decoder_arch(level):
    """The architecture string of the decoder for ``relu{level}_1``.

    >>> decoder_arch(2)
    'c3s1-64,u64,c3s1-3'
    >>> decoder_arch(1)
    'c3s1-3'
    """
    names = layer_names(ENCODER)
    encoder = names[:names.index(level_layer(level)) + 1]
    c_in = {}                                   # each conv's input channels
    channels = 3
    for name in encoder:
        if name.startswith("conv"):
            c_in[name], channels = channels, WIDTHS[int(name[4]) - 1]
    tokens, up = [], False
    for name in reversed(encoder):              # read the encoder backwards
        if name.startswith("pool"):
            up = True                           # the next conv upsamples first
        elif name.startswith("conv"):
            tokens.append(f"u{c_in[name]}" if up else f"c3s1-{c_in[name]}")
            up = False
    return ",".join(tokens)


def decoder_param_shapes(level):
    """``{param name: shape}`` of the decoder for ``relu{level}_1``, in layer order, without making one."""
    return param_shapes(decoder_arch(level), "nearest", "none", WIDTHS[level - 1])


def make_decoder(level, seed=0, dtype=np.float32, params=None):
    """A decoder for ``relu{level}_1``: fresh (PyTorch's default init) or from `params`.

    Returns
    -------
    stylelab.nets.transform.TransformNet
        Input (N, H, W, C_L) features, output (N, H * 2**(L-1), W * 2**(L-1), 3)
        pixels (not clipped).
    """
    return TransformNet(decoder_arch(level), "nearest", params=params, seed=seed, dtype=dtype,
                        norm="none", output="linear", in_channels=WIDTHS[level - 1])


def encoder_fingerprints(vgg, layers):
    """{layer: SHA-256 of the encoder's weights up to it (as float32 bytes)}.

    A decoder learns to invert one encoder: its model file records this, and
    ``stylelab wct`` refuses a decoder trained on other VGG weights. One pass
    over the weights serves every layer: each digest is the running hash's.
    """
    wanted, out = set(layers), {}
    h = hashlib.sha256()
    for name in vgg.names[:max(vgg.names.index(n) for n in layers) + 1]:
        if name.startswith("conv"):
            w, b = vgg.params[name]
            h.update(name.encode())
            for a in (w, b):
                h.update(np.ascontiguousarray(to_numpy(a), dtype=np.float32).tobytes())
        if name in wanted:
            out[name] = h.copy().hexdigest()
    return out


def encoder_fingerprint(vgg, layer):
    """The fingerprint of the encoder up to one `layer` (:func:`encoder_fingerprints`)."""
    return encoder_fingerprints(vgg, [layer])[layer]
