"""The normalised VGG-19 as Torch7 files: AdaIN's ``vgg_normalised.t7``, Li et al.'s ``vgg_normalised_conv{L}_1.t7``.

Both are an ``nn.Sequential`` of the normalised VGG-19 of Gatys et al.
(Caffe's VGG-19 with each filter rescaled so its mean activation over
ImageNet is 1), converted for images in [0, 1]::

    SpatialConvolution 3 -> 3, 1x1       RGB -> BGR, x 255, minus the mean: a colour map
    SpatialReflectionPadding(1, 1, 1, 1)
    SpatialConvolution 3 -> 64, 3x3, pad 0
    ReLU
    SpatialReflectionPadding(1, 1, 1, 1)
    SpatialConvolution 64 -> 64, 3x3, pad 0
    ReLU
    SpatialMaxPooling 2x2, stride 2
    ...                                  on as VGG-19, to relu5_1 or beyond

Li et al. cut the network after ``relu{L}_1`` for each level ``L``: those
files hold a prefix. The reader walks the modules, checks them against
VGG-19's layer sequence, and returns the convs, the 1x1 colour map and the
padding (reflection; a file whose convs pad with zeros themselves reads as
zero-padded). The pooling is Torch's ``ceil`` mode, which equals VGG's for
the even sizes a 2x2 pooling sees in stylelab (odd sides are cropped, not
padded).
"""

from ..nets.vgg import layer_names
from .torch7 import load_t7
from .torch7_models import conv_module, int_field, module_list
from .limits import untrusted_reader

IDENTITY = dict(channel_order="RGB", input_scale=1.0, mean=[0.0, 0.0, 0.0], std=[1.0, 1.0, 1.0])


def _kind(module, path, i):
    """``conv``, ``relu``, ``pool`` or ``pad`` for a module of the normalised VGG; others refused."""
    name = module.class_name
    kinds = {"nn.SpatialConvolution": "conv", "nn.SpatialConvolutionMM": "conv", "nn.ReLU": "relu",
             "nn.SpatialMaxPooling": "pool", "nn.SpatialReflectionPadding": "pad"}
    if name not in kinds:
        raise ValueError(f"{path}: module {i + 1} is {name}, which the normalised VGG does "
                         f"not have")
    return kinds[name]


@untrusted_reader("Torch7 VGG")
def read_torch7_vgg(path):
    """A normalised VGG-19 ``.t7``: its convs, its 1x1 colour map and its padding.

    Returns
    -------
    arch : "vgg19"
    weights : dict conv name -> (w (F, 3, 3, C), b (F,))
    preprocess : (w (3, 1, 1, 3), b (3,))
    padding : {"reflect", "zeros"}
    """
    obj = load_t7(path)
    if getattr(obj, "class_name", None) != "nn.Sequential":
        raise ValueError(f"{path}: expected an nn.Sequential (the normalised VGG), got "
                         f"{getattr(obj, 'class_name', type(obj).__name__)}")
    modules = module_list(obj, path)
    if not modules or _kind(modules[0], path, 0) != "conv":
        raise ValueError(f"{path}: the normalised VGG starts with a 1x1 conv from RGB; this "
                         f"file does not")
    w0, b0, k0, _, _ = conv_module(modules[0], path)
    if w0.shape != (3, 1, 1, 3):
        raise ValueError(f"{path}: the first conv is {w0.shape[0]} filters of {k0}x{k0}x"
                         f"{w0.shape[-1]}, not the 1x1 colour map (3 filters of 1x1x3)")
    names = layer_names("vgg19")
    weights, paddings, pending_pad, at = {}, set(), False, 0
    for i, m in enumerate(modules[1:], start=1):
        kind = _kind(m, path, i)
        if kind == "pad":
            pads = [int_field(m, k, path) for k in ("pad_l", "pad_r", "pad_t", "pad_b")]
            if pads != [1, 1, 1, 1] or pending_pad:
                raise ValueError(f"{path}: module {i + 1} pads by {pads}; VGG's 3x3 convs need "
                                 f"1 on each side")
            pending_pad = True
            continue
        if at >= len(names) or not names[at].startswith(kind):
            there = names[at] if at < len(names) else "nothing (VGG-19 ends at pool5)"
            raise ValueError(f"{path}: module {i + 1} is a {kind}, but VGG-19 has {there} "
                             f"there; these layers do not form VGG-19")
        if kind == "conv":
            w, b, k, stride, pad = conv_module(m, path)
            if (k, stride) != (3, 1) or pad != (0 if pending_pad else 1):
                raise ValueError(f"{path}: {names[at]} is {k}x{k}, stride {stride}, pad {pad}; "
                                 f"VGG's are 3x3, stride 1, padded by 1")
            paddings.add("reflect" if pending_pad else "zeros")
            weights[names[at]] = (w, b)
            pending_pad = False
        elif kind == "pool":
            sizes = [int_field(m, key, path) for key in ("kW", "kH", "dW", "dH")]
            if sizes != [2, 2, 2, 2]:
                raise ValueError(f"{path}: {names[at]} is not a 2x2 pooling of stride 2")
        elif pending_pad:
            raise ValueError(f"{path}: module {i + 1} ({kind}) follows a padding meant for a conv")
        at += 1
    if not weights:
        raise ValueError(f"{path}: no 3x3 convs after the colour map")
    if len(paddings) > 1:
        raise ValueError(f"{path}: some convs are reflection-padded and some zero-padded")
    return "vgg19", weights, (w0, b0), paddings.pop()

