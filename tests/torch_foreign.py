"""The published networks re-implemented in PyTorch, from each source's own code: the tests' references.

* :func:`tf_network`: lengstrom/fast-style-transfer's ``transform.py`` with
  TensorFlow's semantics -- "SAME" padding computed per size as TensorFlow
  does (asymmetric for stride 2), ``conv2d_transpose`` as PyTorch's
  transposed conv cropped by the SAME conv's top/left padding, instance norm
  eps 1e-3, no biases, ``tanh * 150 + 127.5`` on 0..255 pixels.
* :class:`ExamplesNet`: pytorch/examples' ``TransformerNet`` -- its module
  names, so its ``state_dict()`` is the file the example saves.
* :func:`johnson_network`: jcjohnson/fast-neural-style's module list (as
  ``tests/t7_files.py`` writes it) run module by module, with
  ``F.batch_norm`` in eval mode, ``ShaveImage`` as a crop, and VGG
  pre- and deprocessing.

All take and return (N, 3, H, W) RGB in [0, 1].
"""

import numpy as np
import torch
import torch.nn.functional as F

VGG_MEAN_BGR = (103.939, 116.779, 123.68)


# -- TensorFlow (lengstrom) -------------------------------------------------------

def _tf_same(size, k, stride):
    out = -(-size // stride)
    total = max((out - 1) * stride + k - size, 0)
    return total // 2, total - total // 2


def tf_conv(x, w_hwio, stride):
    k = w_hwio.shape[0]
    top, bottom = _tf_same(x.shape[2], k, stride)
    left, right = _tf_same(x.shape[3], k, stride)
    return F.conv2d(F.pad(x, (left, right, top, bottom)), w_hwio.permute(3, 2, 0, 1), stride=stride)


def tf_conv_transpose(x, w_hwoi, stride=2):
    """tf.nn.conv2d_transpose(x, w, output = stride * input, 'SAME')."""
    k = w_hwoi.shape[0]
    full = F.conv_transpose2d(x, w_hwoi.permute(3, 2, 0, 1), stride=stride)
    h, w = stride * x.shape[2], stride * x.shape[3]
    top, _ = _tf_same(h, k, stride)
    left, _ = _tf_same(w, k, stride)
    return full[:, :, top:top + h, left:left + w]


def tf_network(x, variables):
    """`variables`: the checkpoint's tensors in creation order (three per layer)."""
    layers = [variables[i:i + 3] for i in range(0, len(variables), 3)]
    blocks = (len(layers) - 6) // 2

    def norm(h, shift, scale):
        return F.instance_norm(h, weight=scale, bias=shift, eps=1e-3)

    h = x * 255
    for i in range(3):
        w, shift, scale = layers[i]
        h = torch.relu(norm(tf_conv(h, w, 1 if i == 0 else 2), shift, scale))
    for b in range(blocks):
        (w1, s1, c1), (w2, s2, c2) = layers[3 + 2 * b], layers[4 + 2 * b]
        r = torch.relu(norm(tf_conv(h, w1, 1), s1, c1))
        h = h + norm(tf_conv(r, w2, 1), s2, c2)
    for i in (3 + 2 * blocks, 4 + 2 * blocks):
        w, shift, scale = layers[i]
        h = torch.relu(norm(tf_conv_transpose(h, w), shift, scale))
    w, shift, scale = layers[-1]
    h = norm(tf_conv(h, w, 1), shift, scale)
    return (torch.tanh(h) * 150 + 255.0 / 2) / 255


def random_tf_variables(rng, widths=(8, 12, 16), blocks=2, k=9):
    """lengstrom's variables (HWIO filters; shift, scale) for a small network of random weights."""
    a, b, c = widths
    filters = [(k, k, 3, a), (3, 3, a, b), (3, 3, b, c)] + [(3, 3, c, c)] * (2 * blocks) + \
        [(3, 3, b, c), (3, 3, a, b), (k, k, a, 3)]          # transposed: (K, K, C_out, C_in)
    out = []
    for i, shape in enumerate(filters):
        channels = shape[2] if i in (3 + 2 * blocks, 4 + 2 * blocks) else shape[3]
        out += [(rng.standard_normal(shape) * 0.1).astype(np.float32),
                (0.1 * rng.standard_normal(channels)).astype(np.float32),
                (1 + 0.1 * rng.standard_normal(channels)).astype(np.float32)]
    return out


# -- pytorch/examples -------------------------------------------------------------

class _ConvLayer(torch.nn.Module):
    def __init__(self, c_in, c_out, k, stride):
        super().__init__()
        self.pad = k // 2
        self.conv2d = torch.nn.Conv2d(c_in, c_out, k, stride)

    def forward(self, x):
        return self.conv2d(F.pad(x, (self.pad,) * 4, mode="reflect"))


class _Residual(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1, self.in1 = _ConvLayer(c, c, 3, 1), torch.nn.InstanceNorm2d(c, affine=True)
        self.conv2, self.in2 = _ConvLayer(c, c, 3, 1), torch.nn.InstanceNorm2d(c, affine=True)

    def forward(self, x):
        return x + self.in2(self.conv2(torch.relu(self.in1(self.conv1(x)))))


class ExamplesNet(torch.nn.Module):
    """pytorch/examples' TransformerNet: the same modules under the same names."""

    def __init__(self, widths=(32, 64, 128), blocks=5):
        super().__init__()
        a, b, c = widths
        self.conv1, self.in1 = _ConvLayer(3, a, 9, 1), torch.nn.InstanceNorm2d(a, affine=True)
        self.conv2, self.in2 = _ConvLayer(a, b, 3, 2), torch.nn.InstanceNorm2d(b, affine=True)
        self.conv3, self.in3 = _ConvLayer(b, c, 3, 2), torch.nn.InstanceNorm2d(c, affine=True)
        for i in range(blocks):
            setattr(self, f"res{i + 1}", _Residual(c))
        self.blocks = blocks
        self.deconv1, self.in4 = _ConvLayer(c, b, 3, 1), torch.nn.InstanceNorm2d(b, affine=True)
        self.deconv2, self.in5 = _ConvLayer(b, a, 3, 1), torch.nn.InstanceNorm2d(a, affine=True)
        self.deconv3 = _ConvLayer(a, 3, 9, 1)
        with torch.no_grad():                 # away from the default init: gammas != 1
            for m in self.modules():
                if isinstance(m, torch.nn.InstanceNorm2d):
                    m.weight.add_(0.2 * torch.randn_like(m.weight))
                    m.bias.add_(0.1 * torch.randn_like(m.bias))

    def forward(self, x):
        return self.pixels255(x * 255) / 255

    def pixels255(self, y):
        """The network as pytorch/examples runs it (and exports it): RGB 0..255 in and out."""
        y = torch.relu(self.in1(self.conv1(y)))
        y = torch.relu(self.in2(self.conv2(y)))
        y = torch.relu(self.in3(self.conv3(y)))
        for i in range(self.blocks):
            y = getattr(self, f"res{i + 1}")(y)
        y = torch.relu(self.in4(self.deconv1(F.interpolate(y, scale_factor=2, mode="nearest"))))
        y = torch.relu(self.in5(self.deconv2(F.interpolate(y, scale_factor=2, mode="nearest"))))
        return self.deconv3(y)


class ExamplesNet255(ExamplesNet):
    """:class:`ExamplesNet` on 0..255 pixels, as ``torch.onnx.export`` and the ONNX model zoo have it."""
    forward = ExamplesNet.pixels255


# -- jcjohnson/fast-neural-style ----------------------------------------------------

def _t(a, dtype):
    return torch.tensor(np.asarray(a), dtype=dtype)


def _run(module, h, dtype, params):
    """One of t7_files' modules on h (N, C, H, W); `params` collects the tensors read (for gradients)."""
    name, f = module.class_name, module.fields

    def p(key):
        t = _t(f[key], dtype).requires_grad_(True)
        params.append((module, key, t))
        return t
    if name == "nn.SpatialReflectionPadding":
        return F.pad(h, (f["pad_l"], f["pad_r"], f["pad_t"], f["pad_b"]), mode="reflect")
    if name == "nn.SpatialConvolution":
        return F.conv2d(h, p("weight"), p("bias"), stride=f["dW"], padding=f["padW"])
    if name == "nn.SpatialFullConvolution":
        return F.conv_transpose2d(h, p("weight"), p("bias"), stride=f["dW"], padding=f["padW"],
                                  output_padding=f["adjW"])
    if name == "nn.InstanceNormalization":
        return F.instance_norm(h, weight=p("weight"), bias=p("bias"), eps=f["eps"])
    if name == "nn.SpatialBatchNormalization":
        return F.batch_norm(h, _t(f["running_mean"], dtype), _t(f["running_var"], dtype),
                            weight=p("weight"), bias=p("bias"), training=False, eps=f["eps"])
    if name == "nn.ReLU":
        return torch.relu(h)
    if name == "nn.Tanh":
        return torch.tanh(h)
    if name == "nn.MulConstant":
        return h * f["constant_scalar"]
    if name == "nn.TotalVariation":
        return h
    if name == "nn.Sequential":
        for m in f["modules"]:
            h = _run(m, h, dtype, params)
        return h
    if name == "nn.ConcatTable":
        return [_run(m, h, dtype, params) for m in f["modules"]]
    if name == "nn.ShaveImage":
        s = f["size"]
        return h[:, :, s:h.shape[2] - s, s:h.shape[3] - s]
    raise ValueError(name)


def johnson_network(x, model, dtype=torch.float64, preprocessing="vgg"):
    """The module list on RGB `x` in [0, 1], with the checkpoint's pre- and deprocessing.

    Returns the output and ``[(module, key, tensor)]`` of every parameter used.
    """
    params = []
    if preprocessing == "vgg":
        mean = torch.tensor(VGG_MEAN_BGR, dtype=dtype).view(1, 3, 1, 1)
        h = x.flip(1) * 255 - mean
    else:
        mean = torch.tensor((0.485, 0.456, 0.406), dtype=dtype).view(1, 3, 1, 1)
        std = torch.tensor((0.229, 0.224, 0.225), dtype=dtype).view(1, 3, 1, 1)
        h = (x - mean) / std
    for m in model.fields["modules"]:
        if m.class_name == "nn.Sequential" and m.fields["modules"][0].class_name == "nn.ConcatTable":
            branch, shortcut = _run(m.fields["modules"][0], h, dtype, params)
            h = branch + shortcut                         # CAddTable
        else:
            h = _run(m, h, dtype, params)
    out = ((h + mean) / 255).flip(1) if preprocessing == "vgg" else h * std + mean
    return out, params
