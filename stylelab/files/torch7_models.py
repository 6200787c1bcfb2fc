"""Johnson's released fast-neural-style networks (``.t7``) as stylelab transformation networks.

``jcjohnson/fast-neural-style`` saves a checkpoint table ``{model=..., opt=...}``
whose model is an ``nn.Sequential``. Its ``train.lua`` builds it from an
architecture string (``fast_neural_style/models.lua``) with the default
``-padding_type reflect-start``, which gives, for the released networks::

    SpatialReflectionPadding(40)          the input, once (inserted at training)
    SpatialConvolution 9x9, zero pad 4    then norm, ReLU         c9s1-32
    SpatialConvolution 3x3 stride 2, pad 1, norm, ReLU            d64, d128
    Sequential{ ConcatTable{ Sequential{conv 3x3 pad 0, norm, ReLU,
                                        conv 3x3 pad 0, norm},
                             ShaveImage(2) }, CAddTable }        R128 x5 ("valid")
    SpatialFullConvolution 3x3 stride 2, pad 1, adj 1, norm, ReLU u64, u32
    SpatialConvolution 9x9, zero pad 4                            c9s1-3
    Tanh, MulConstant(150), TotalVariation (identity when run)

The norm is ``nn.InstanceNormalization`` (the instance-norm models) or
``nn.SpatialBatchNormalization`` (the ECCV'16 models; at test time a scale
and shift, folded here). The input is prepared as ``opt.preprocessing``
says: ``vgg`` (BGR, 0..255, minus the VGG mean -- the default) or
``resnet`` (RGB in [0, 1], ImageNet mean and std), and the output undone the
same way. :func:`read_johnson_t7` walks the modules and maps them onto
:class:`~stylelab.nets.transform.TransformNet`'s options; a module a released
network does not have is refused by name. (Johnson's ``fast_neural_style.lua``
also median-filters its output, 3x3 by default: a post-processing step, not
the network; ``stylelab stylize --median-filter 3`` does the same.)
"""

import numpy as np

from ..backend import asarray
from .layouts import SOURCES, transform_net
from .limits import check_finite
from .torch7 import TorchObject, load_t7
from .vgg_h5 import CAFFE, TORCHVISION

# fast-neural-style's -preprocessing: its VGG's convention (Caffe's) or torchvision's ResNet's,
# which is torchvision's VGG convention too.
PREPROCESSING = {"vgg": CAFFE, "resnet": TORCHVISION}
NORMS = {"nn.InstanceNormalization": "instance", "nn.SpatialBatchNormalization": "affine"}


class _Walk:
    """Reads the module list in order: ``take(class)`` checks the next module's class."""

    def __init__(self, modules, path):
        self.modules, self.i, self.path = modules, 0, path

    def fail(self, what):
        raise ValueError(f"{self.path}: {what}; this is not a network laid out as "
                         f"jcjohnson/fast-neural-style's train.lua makes them")

    def peek(self):
        return self.modules[self.i].class_name if self.i < len(self.modules) else None

    def take(self, *names):
        name = self.peek()
        if name not in names:
            self.fail(f"module {self.i + 1} is {name or 'missing'}, expected {' or '.join(names)}")
        self.i += 1
        return self.modules[self.i - 1]


def module_list(obj, path):
    """The ``modules`` list of a container, each checked to be a module."""
    mods = obj.get("modules") if isinstance(obj, TorchObject) else None
    if not isinstance(mods, list) or not all(isinstance(m, TorchObject) for m in mods):
        raise ValueError(f"{path}: {getattr(obj, 'class_name', type(obj).__name__)} holds no "
                         f"list of modules")
    return [_nn(m) for m in mods]


def _nn(module):
    """cudnn.X is nn.X with another backend: the same numbers."""
    if module.class_name.startswith("cudnn."):
        module.class_name = "nn." + module.class_name[len("cudnn."):]
    return module


def int_field(module, key, path):
    value = module.get(key)
    if not isinstance(value, (int, float)) or not float(value).is_integer():
        raise ValueError(f"{path}: {module.class_name} has no whole number {key!r}")
    return int(value)


def _array(module, key, path, shape=None, required=True):
    value = module.get(key)
    if value is None or (isinstance(value, np.ndarray) and value.size == 0):
        if required:
            raise ValueError(f"{path}: {module.class_name} lacks its {key}")
        return None
    if not isinstance(value, np.ndarray) or value.dtype.kind != "f":
        raise ValueError(f"{path}: {module.class_name}'s {key} is not a float tensor")
    if shape is not None:
        if value.size != int(np.prod(shape)):
            raise ValueError(f"{path}: {module.class_name}'s {key} has {value.size} values, "
                             f"its shape needs {int(np.prod(shape))}")
        value = value.reshape(shape)
    check_finite(value, f"{path}: {module.class_name}'s {key}")
    return value.astype(np.float64)


def conv_module(module, path, transposed=False):
    """A conv's (w in stylelab's layout, b, kernel, stride, pad)."""
    n_in, n_out = int_field(module, "nInputPlane", path), int_field(module, "nOutputPlane", path)
    k, kh = int_field(module, "kW", path), int_field(module, "kH", path)
    stride, pad = int_field(module, "dW", path), int_field(module, "padW", path)
    if (kh, int_field(module, "dH", path), int_field(module, "padH", path)) != (k, stride, pad):
        raise ValueError(f"{path}: a {module.class_name} that is not square")
    if transposed:   # (nIn, nOut, kH, kW) -> stylelab's transposed layout (C_in, K, K, C_out)
        w = _array(module, "weight", path, (n_in, n_out, k, k)).transpose(0, 2, 3, 1)
    else:            # (nOut, nIn, kH, kW) -> (F, K, K, C)
        w = _array(module, "weight", path, (n_out, n_in, k, k)).transpose(0, 2, 3, 1)
    b = _array(module, "bias", path, (n_out,), required=False)
    return np.ascontiguousarray(w), (np.zeros(n_out) if b is None else b), k, stride, pad


def _norm(module, path, channels):
    """A norm module's (kind, gamma, beta, eps): batch norm folded into a scale and shift."""
    kind = NORMS[module.class_name]
    eps = float(module.get("eps", 1e-5))
    gamma = _array(module, "weight", path, (channels,), required=False)
    beta = _array(module, "bias", path, (channels,), required=False)
    gamma = np.ones(channels) if gamma is None else gamma
    beta = np.zeros(channels) if beta is None else beta
    if kind == "affine":
        mean = _array(module, "running_mean", path, (channels,))
        var = _array(module, "running_var", path, (channels,), required=False)
        if var is not None:
            inv_std = 1.0 / np.sqrt(var + eps)
        else:                     # older nn stored 1 / sqrt(var + eps) itself
            inv_std = _array(module, "running_std", path, (channels,))
        gamma = gamma * inv_std
        beta = beta - mean * gamma
    return kind, gamma, beta, eps


def read_johnson_t7(path, dtype=np.float32):
    """A released fast-neural-style network as a TransformNet, and what the file says of itself.

    Returns
    -------
    net : TransformNet
    meta : dict
        ``preprocessing`` and the checkpoint's ``arch`` string, when it records them.
    """
    path = str(path)
    obj = load_t7(path)
    opt = {}
    if isinstance(obj, dict):
        opt = obj.get("opt") if isinstance(obj.get("opt"), dict) else {}
        obj = obj.get("model")
    if not isinstance(obj, TorchObject) or _nn(obj).class_name != "nn.Sequential":
        raise ValueError(f"{path}: no nn.Sequential model in it (a fast-neural-style "
                         f"checkpoint is a table {{model=..., opt=...}})")
    preprocessing = str(opt.get("preprocessing", "vgg"))
    if preprocessing not in PREPROCESSING:
        raise ValueError(f"{path}: preprocessing {preprocessing!r} is neither 'vgg' nor 'resnet'")
    walk = _Walk(module_list(obj, path), path)
    options = dict(SOURCES["torch7"], **PREPROCESSING[preprocessing], input_pad=0)
    if walk.peek() == "nn.SpatialReflectionPadding":
        pad = walk.take("nn.SpatialReflectionPadding")
        pads = {int_field(pad, k, path) for k in ("pad_l", "pad_r", "pad_t", "pad_b")}
        if len(pads) != 1:
            walk.fail("the input's reflection padding is not the same on every side")
        options["input_pad"] = pads.pop()
    params, tokens, norms = {}, [], set()
    counts = {"conv": 0, "down": 0, "res": 0, "up": 0}

    def name(kind):
        counts[kind] += 1
        return f"{kind}{counts[kind]}"

    while walk.peek() in ("nn.SpatialConvolution", "nn.SpatialFullConvolution", "nn.Sequential"):
        if walk.peek() == "nn.Sequential":
            stage = name("res")
            channels = _residual(walk.take("nn.Sequential"), path, params, stage, norms)
            tokens.append(f"R{channels}")
            continue
        transposed = walk.peek() == "nn.SpatialFullConvolution"
        module = walk.take(walk.peek())
        w, b, k, stride, pad = conv_module(module, path, transposed)
        if transposed:
            if (k, stride, pad, int_field(module, "adjW", path)) != (3, 2, 1, 1):
                walk.fail("a transposed conv other than 3x3, stride 2, padding 1, adjustment 1")
            stage, token = name("up"), f"u{w.shape[3]}"
        elif stride == 2 and k == 3:
            stage, token = name("down"), f"d{w.shape[0]}"
        elif stride == 1:
            stage, token = name("conv"), f"c{k}s1-{w.shape[0]}"
        else:
            walk.fail(f"a {k}x{k} conv of stride {stride}")
        if pad != (k - 1) // 2:
            walk.fail(f"a {k}x{k} conv padded by {pad} (the released networks pad c and d "
                      f"convs with (K - 1) / 2 zeros)")
        tokens.append(token)
        params[f"{stage}.w"], params[f"{stage}.b"] = w, b
        if walk.peek() in NORMS:
            kind, gamma, beta, eps = _norm(walk.take(*NORMS), path, b.shape[0])
            params[f"{stage}.gamma"], params[f"{stage}.beta"] = gamma, beta
            norms.add((kind, eps))
            walk.take("nn.ReLU")
    _output(walk, path, options)
    return _assemble(path, tokens, params, norms, options, dtype), {
        "preprocessing": preprocessing, "arch_recorded": str(opt.get("arch", ""))}


def _residual(block, path, params, stage, norms):
    """``Sequential{ConcatTable{Sequential{conv, norm, ReLU, conv, norm}, ShaveImage}, CAddTable}``."""
    walk = _Walk(module_list(block, path), path)
    concat = walk.take("nn.ConcatTable")
    walk.take("nn.CAddTable")
    branches = module_list(concat, path)
    if len(branches) != 2 or branches[0].class_name != "nn.Sequential":
        walk.fail("a residual block that is not {conv block, shortcut}")
    shortcut = branches[1]
    if shortcut.class_name != "nn.ShaveImage" or int_field(shortcut, "size", path) != 2:
        walk.fail("a residual block whose shortcut is not ShaveImage(2) (the released "
                  "networks' unpadded blocks)")
    inner = _Walk(module_list(branches[0], path), path)
    for i in (1, 2):
        w, b, k, stride, pad = conv_module(inner.take("nn.SpatialConvolution"), path)
        if (k, stride, pad) != (3, 1, 0):
            inner.fail("a residual conv other than 3x3, stride 1, unpadded")
        kind, gamma, beta, eps = _norm(inner.take(*NORMS), path, b.shape[0])
        norms.add((kind, eps))
        params.update({f"{stage}.w{i}": w, f"{stage}.b{i}": b, f"{stage}.gamma{i}": gamma,
                       f"{stage}.beta{i}": beta})
        if i == 1:
            inner.take("nn.ReLU")
    if inner.peek() is not None:
        inner.fail(f"{inner.peek()} after a residual block's second norm")
    return params[f"{stage}.w1"].shape[0]


def _output(walk, path, options):
    """``Tanh, MulConstant(c)``, then TotalVariation (the identity when run), and nothing else."""
    walk.take("nn.Tanh")
    scale = walk.take("nn.MulConstant").get("constant_scalar")
    if not isinstance(scale, float) or not np.isfinite(scale):
        walk.fail("a MulConstant without a finite constant")
    options["output_scale"] = scale
    if walk.peek() == "nn.TotalVariation":
        walk.take("nn.TotalVariation")
    if walk.peek() is not None:
        walk.fail(f"{walk.peek()} after the output")


def _assemble(path, tokens, params, norms, options, dtype):
    if len(norms) != 1:
        raise ValueError(f"{path}: its norms differ ({sorted(norms)}); a released network "
                         f"uses one kind throughout")
    kind, eps = norms.pop()
    arch = ",".join(tokens)
    try:
        return transform_net(arch, params={k: asarray(v, dtype=dtype) for k, v in params.items()},
                             **{**options, "norm": kind, "norm_eps": eps})
    except ValueError as exc:
        raise ValueError(f"{path}: its layers do not form a transformation network ({exc})") from None
