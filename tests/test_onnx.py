"""ONNX in: VGG and TransformerNet read from ONNX files, proven against onnxruntime and PyTorch.

* The shared real VGG-16 (Keras weights exported by tf2onnx): every ReLU's
  activations equal onnxruntime's running the same file on the same
  preprocessed input.
* VGGs and TransformerNets exported by ``torch.onnx.export`` (the TorchScript
  exporter at an old and a current opset, and the torch.export one, whose
  weights live in a ``.data`` file beside the model) equal the PyTorch
  modules they came from, in float64.
"""

import subprocess
import sys

import numpy as np
import pytest

from stylelab.files.convert import read_vgg_any
from stylelab.files.foreign import read_network
from stylelab.files.torch7_vgg import IDENTITY
from stylelab.nets.vgg import VGG
from tests.onnx_files import (export, need, run_ort, shared_vgg16, torch_vgg_features,
                              with_outputs)


def identity_vgg(found, dtype=np.float64, engine=VGG):
    """The VGG a converter found, fed preprocessed input directly (no convention applied)."""
    return engine(found["arch"], found["weights"], IDENTITY, dtype=dtype)


def test_the_shared_vgg16_equals_onnxruntime_at_every_relu():
    onnx = need("onnx")
    path = shared_vgg16()
    found = read_vgg_any(str(path))
    assert (found["arch"], found["family"]) == ("vgg16", "caffe")
    graph = onnx.load(str(path)).graph
    relus = [n.output[0] for n in graph.node if n.op_type == "Relu"][:13]
    # A preprocessed picture (BGR, 0..255 minus the mean), NHWC as the file takes it.
    x = np.random.default_rng(0).uniform(-120, 140, (1, 36, 44, 3))
    expected = run_ort(with_outputs(path, relus), x.astype(np.float32))
    vgg = identity_vgg(found)
    feats = vgg.forward(x, keep_cache=False)
    names = [n for n in vgg.names if n.startswith("relu")]
    assert len(names) == len(expected) == 13
    for name, ref in zip(names, expected):
        ours = feats[name].transpose(0, 3, 1, 2)
        # onnxruntime computes in float32 (it has no float64 Conv): its own rounding.
        err = np.abs(ours - ref).max() / np.abs(ref).max()
        assert err < 2e-5, (name, err)


@pytest.mark.parametrize("arch, opset, classifier, dynamo", [
    ("vgg19", 13, False, False),
    ("vgg16", 18, True, True),
])
def test_a_vgg_exported_by_pytorch_equals_pytorch(tmp_path, arch, opset, classifier, dynamo):
    torch = need("torch")
    module = torch_vgg_features(torch, arch, seed=3, classifier=classifier)
    path = export(torch, module, torch.zeros(1, 3, 32, 32), tmp_path / f"{arch}.onnx", opset,
                  dynamo=dynamo)
    if dynamo:      # the torch.export exporter keeps the weights in a file beside the model
        assert any(p.name.endswith(".data") for p in tmp_path.iterdir())
    found = read_vgg_any(str(path), convention="torchvision")
    assert found["arch"] == arch and found["family"] == "torchvision"
    x = np.random.default_rng(1).standard_normal((2, 32, 40, 3))
    feats = identity_vgg(found).forward(x, keep_cache=False)
    h = torch.tensor(x.transpose(0, 3, 1, 2))
    double = module.double()
    i = 0
    for layer in double:
        if isinstance(layer, torch.nn.AdaptiveAvgPool2d):
            break
        h = layer(h)
        if isinstance(layer, torch.nn.ReLU):
            name = [n for n in identity_vgg(found).names if n.startswith("relu")][i]
            ref = h.detach().numpy()
            ours = feats[name].transpose(0, 3, 1, 2)
            assert np.abs(ours - ref).max() <= 1e-10 * np.abs(ref).max(), name
            i += 1
    assert i == (13 if arch == "vgg16" else 16)


def test_an_onnx_vgg_of_unknown_origin_needs_its_convention(tmp_path):
    torch = need("torch")
    path = export(torch, torch_vgg_features(torch, "vgg16"), torch.zeros(1, 3, 32, 32),
                  tmp_path / "v.onnx", 13)
    with pytest.raises(ValueError, match="--convention caffe"):
        read_vgg_any(str(path))


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "stylelab", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def test_weights_convert_says_what_it_found_in_one_line(tmp_path):
    path = shared_vgg16()
    out = _cli("weights", "convert", path, tmp_path / "v.h5")
    assert out.returncode == 0, out.stderr
    line, = out.stdout.strip().splitlines()
    assert "vgg16, 13 conv layers" in line and "caffe convention (BGR, x255" in line


@pytest.mark.parametrize("opset, dynamo", [(9, False), (17, False), (18, True)])
def test_a_transformer_net_exported_by_pytorch_equals_pytorch(tmp_path, opset, dynamo):
    torch = need("torch")
    from tests.torch_foreign import ExamplesNet255
    torch.manual_seed(opset)
    module = ExamplesNet255(widths=(8, 12, 16), blocks=2).eval()
    path = export(torch, module, 255 * torch.rand(1, 3, 32, 32), tmp_path / "candy.onnx", opset,
                  dynamo=dynamo)
    net, meta = read_network(path, dtype=np.float64)
    assert net.arch == "c9s1-8,d12,d16,R16x2,u12,u8,c9s1-3" and meta["source_format"] == "onnx"
    assert f"opset {opset}" in meta["found"]
    x = np.random.default_rng(opset).random((2, 20, 28, 3))
    y, _ = net.forward(x, keep_cache=False)
    ref = module.double()(torch.tensor(x.transpose(0, 3, 1, 2)) * 255) / 255
    ref = ref.detach().numpy().transpose(0, 2, 3, 1)
    assert np.abs(y - ref).max() <= 1e-10 * np.abs(ref).max()
