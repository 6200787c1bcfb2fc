"""VGG from converted files against PyTorch running the same weights and preprocessing."""

import numpy as np
import pytest

from stylelab.files.convert import convert_vgg
from stylelab.files.weights import load_vgg
from stylelab.nets import vgg

from . import vgg_files
from .reference import from_torch, rel_err, to_torch


@pytest.fixture(scope="session")
def weights16():
    return vgg_files.random_torch_weights("vgg16", seed=16)


@pytest.fixture(scope="session")
def weights19():
    return vgg_files.random_torch_weights("vgg19", seed=19)


def _normalised_t7(p, a, w):
    vgg_files.write_normalised_t7(p, w, vgg_files.random_colour_map(7))


MATCONVNET = dict(channel_order="RGB", input_scale=255.0, mean=vgg_files.MATCONVNET_MEAN,
                  std=[1.0, 1.0, 1.0])
# name: (writer, extension, input convention, convert_vgg's options, torch_vgg's options)
SOURCES = {
    "torchvision-zip": (lambda p, a, w: vgg_files.write_torchvision(p, a, w), ".pth",
                        vgg_files.TORCHVISION, {"convention": "torchvision"}, {}),
    "torchvision-legacy": (lambda p, a, w: vgg_files.write_torchvision(p, a, w, legacy=True),
                           ".pth", vgg_files.TORCHVISION, {"convention": "torchvision"}, {}),
    "neural-style-pth": (lambda p, a, w: vgg_files.write_torchvision(p, a, w), ".pth",
                         vgg_files.CAFFE, {"convention": "caffe"}, {}),
    "caffemodel-v1": (vgg_files.write_caffemodel, ".caffemodel", vgg_files.CAFFE, {}, {}),
    "caffemodel": (lambda p, a, w: vgg_files.write_caffemodel(p, a, w, v1=False), ".caffemodel",
                   vgg_files.CAFFE, {}, {}),
    "torch7-normalised": (_normalised_t7, ".t7", vgg_files.IDENTITY, {},
                          {"padding": "reflect", "preprocess": vgg_files.random_colour_map(7)}),
    "keras": (vgg_files.write_keras, ".h5", vgg_files.KERAS, {}, {}),
    "matconvnet": (vgg_files.write_matconvnet, ".mat", MATCONVNET, {}, {}),
    "matconvnet-old": (lambda p, a, w: vgg_files.write_matconvnet(p, a, w, old_format=True),
                       ".mat", MATCONVNET, {}, {}),
}


def compare_with_torch(path, arch, weights, convention, pooling, rng, size=32, engine="fast",
                       torch_options=None):
    net = load_vgg(path, pooling=pooling, dtype=np.float64, engine=engine)
    x = rng.random((2, size, size, 3))
    relus = [n for n in net.names if n.startswith("relu")]
    feats = net.forward(x, layers=relus)
    grads = {n: rng.standard_normal(feats[n].shape) for n in relus}
    dx = net.backward(grads)

    xt = to_torch(x, grad=True)
    ref = vgg_files.torch_vgg(arch, weights, convention, xt, pooling=pooling,
                              **(torch_options or {}))
    loss = sum((ref[n] * to_torch(grads[n])).sum() for n in relus)
    loss.backward()
    for n in relus:
        assert rel_err(feats[n], from_torch(ref[n])) <= 1e-9, n
    assert rel_err(dx, from_torch(xt.grad)) <= 1e-9
    assert dx.shape == x.shape and dx.dtype == np.float64


def convert_and_compare(source, arch, weights, pooling, tmp_path, rng, engine="fast"):
    """Write `weights` as `source` does, convert, and check the network against PyTorch."""
    write, ext, convention, options, torch_options = SOURCES[source]
    src = tmp_path / f"{arch}{ext}"
    write(src, arch, weights)
    dst = tmp_path / f"{arch}-stylelab.h5"          # not src: a Keras source is .h5 too
    assert convert_vgg(str(src), str(dst), **options) == arch
    compare_with_torch(dst, arch, weights, convention, pooling, rng,
                       engine=engine, torch_options=torch_options)


@pytest.mark.parametrize("source", SOURCES)
def test_vgg19_from_each_format_matches_pytorch(source, weights19, tmp_path, rng):
    convert_and_compare(source, "vgg19", weights19, "max", tmp_path, rng)


@pytest.mark.parametrize("source", ["torchvision-legacy", "keras"])
def test_vgg16_with_average_pooling_matches_pytorch(source, weights16, tmp_path, rng):
    convert_and_compare(source, "vgg16", weights16, "avg", tmp_path, rng)


@pytest.mark.parametrize("pooling", ["max", "avg"])
def test_the_readable_vgg_matches_pytorch(pooling, weights19, tmp_path, rng):
    convert_and_compare("torchvision-zip", "vgg19", weights19, pooling, tmp_path, rng,
                        engine="readable")


def test_layout_and_options(weights19, tmp_path):
    import h5py
    src = tmp_path / "vgg19-0123abcd.pth"
    vgg_files.write_torchvision(src, "vgg19", weights19)
    dst = tmp_path / "small.h5"
    convert_vgg(str(src), str(dst), half=True, upto="relu5_1", convention="torchvision")
    with h5py.File(dst, "r") as f:
        assert f.attrs["arch"] == "vgg19" and f.attrs["channel_order"] == "RGB"
        assert f.attrs["input_scale"] == 1.0
        np.testing.assert_allclose(f.attrs["mean"], [0.485, 0.456, 0.406])
        np.testing.assert_allclose(f.attrs["std"], [0.229, 0.224, 0.225])
        assert f.attrs["source"].startswith("vgg19-0123abcd.pth sha256:")
        assert list(f) == vgg.convs_upto("vgg19", "relu5_1")
        assert f["conv1_1/weight"].shape == (64, 3, 3, 3) and f["conv1_1/weight"].dtype == np.float16
        w, b = weights19["conv2_1"]
        np.testing.assert_array_equal(f["conv2_1/weight"][()],
                                      w.transpose(0, 2, 3, 1).astype(np.float16))
    net = load_vgg(dst)
    assert net.names[-1] == "relu5_1"
    with pytest.raises(ValueError, match="has no layer 'relu5_2'"):
        net.forward(np.zeros((1, 16, 16, 3), np.float32), layers=["relu5_2"])


def test_forward_runs_only_as_deep_as_needed(weights16, tmp_path):
    src = tmp_path / "v.pth"
    vgg_files.write_torchvision(src, "vgg16", weights16)
    convert_vgg(str(src), str(tmp_path / "v.h5"), convention="torchvision")
    net = load_vgg(tmp_path / "v.h5")
    x = np.random.default_rng(0).random((1, 8, 12, 3)).astype(np.float32)
    feats = net.forward(x, layers=["relu1_1", "pool2", "relu3_1"])
    assert set(feats) == {"relu1_1", "pool2", "relu3_1"}
    assert feats["relu3_1"].shape == (1, 2, 3, 256) and feats["relu3_1"].dtype == np.float32
    assert net._tape[1][-1][0] == "relu3_1"
    dx = net.backward({"pool2": np.ones((1, 2, 3, 128), np.float32)})
    assert dx.shape == x.shape and dx.dtype == np.float32
    with pytest.raises(ValueError, match=r"12x4 pixels is too small to reach relu4_1: "
                                         r"it passes 3 2x2 poolings, so it needs at least 8x8"):
        net.forward(np.zeros((1, 4, 12, 3), np.float32), layers=["relu4_1"])
    with pytest.raises(ValueError, match="dtype float64 but the network is float32"):
        net.forward(x.astype(np.float64), layers=["relu1_1"])
    with pytest.raises(ValueError, match=r"shape \(N, H, W, 3\)"):
        net.forward(x[..., :1], layers=["relu1_1"])
    net.forward(x, layers=["relu1_1"])
    with pytest.raises(ValueError, match="last forward pass stopped at relu1_1"):
        net.backward({"relu3_1": feats["relu3_1"]})
