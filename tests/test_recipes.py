"""The recipes against PyTorch re-implementations of their references, float64, number for number.

Each reference is written here from its implementation's code, in its own
terms: neural-style-pt's loss modules (``ContentLoss``, ``StyleLoss`` with the
Gram divided by ``input.nelement()``, ``TVLoss``, ``ScaleGradients``) on its own
preprocessing (BGR, pixels x 256, minus the mean) with Caffe-convention
weights; PyTorch's tutorial's (``gram_matrix`` divided by ``a * b * c * d``,
``mse_loss``, losses after the conv layers) on torchvision's normalisation.
The paper's formulas are proven in ``tests/test_gatys.py``.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from stylelab import gatys
from stylelab.files.vgg_h5 import read_vgg_h5, save_random_vgg_h5
from stylelab.files.weights import load_vgg
from stylelab.gatys import recipes
from stylelab.gatys.objective import layer_weights

from .reference import from_torch, to_torch
from .vgg_files import IDENTITY, torch_vgg


@pytest.fixture(scope="module")
def weight_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("recipes")
    out = {}
    for family in ("caffe", "torchvision"):
        out[family] = d / f"{family}.h5"
        save_random_vgg_h5(out[family], "vgg19", seed=11, upto="relu5_1", family=family)
    return out


@pytest.fixture(scope="module")
def images():
    """A photo, two paintings of other sizes (a style scale), RGB in [0, 1], float64."""
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[0:32, 0:32] / 32.0
    photo = np.stack([0.3 + 0.5 * yy, 0.5 + 0.3 * np.sin(9 * xx), 0.9 - 0.7 * yy], axis=-1)
    return photo, rng.random((40, 24, 3)), rng.random((20, 36, 3))


def torch_features(path, img):
    """Every layer of the file's VGG on `img` (1, 3, H, W), as the file's convention prepares it."""
    arch, weights, convention = read_vgg_h5(path)
    tw = {n: (w.astype(np.float64).transpose(0, 3, 1, 2), b.astype(np.float64))
          for n, (w, b) in weights.items()}
    return torch_vgg(arch, tw, convention, img)


class ScaleGradients(torch.autograd.Function):
    """neural-style-pt's: the identity forward; backward, the gradient over its norm, times strength^2."""

    @staticmethod
    def forward(ctx, x, strength):
        ctx.strength = strength
        return x

    @staticmethod
    def backward(ctx, grad):
        return grad / (torch.norm(grad, keepdim=True) + 1e-8) * ctx.strength * ctx.strength, None


def neural_style_reference(path, content, styles, x, content_layers, style_layers, content_weight,
                           style_weight, tv_weight, blend, normalize):
    """neural-style-pt's objective at image `x` (RGB in [0, 1]): (loss, d loss / d x)."""
    arch, weights, _ = read_vgg_h5(path)
    tw = {n: (w.astype(np.float64).transpose(0, 3, 1, 2), b.astype(np.float64))
          for n, (w, b) in weights.items()}
    mean = torch.tensor([103.939, 116.779, 123.68], dtype=torch.float64).view(1, 3, 1, 1)

    def preprocess(img):          # its transforms: RGB -> BGR, x 256, minus the mean
        return img[:, [2, 1, 0]] * 256 - mean

    def net(p):                   # Caffe's VGG on the preprocessed image as it is
        return torch_vgg(arch, tw, IDENTITY, p)

    def gram(f):                  # its GramMatrix, divided by input.nelement()
        _, c, h, w = f.shape
        flat = f.view(c, h * w)
        return torch.mm(flat, flat.t()) / f.nelement()

    def strength_loss(loss, strength):
        if normalize:
            loss = ScaleGradients.apply(loss, strength)
        return loss * strength

    with torch.no_grad():
        fc = net(preprocess(to_torch(content[None])))
        content_targets = {n: fc[n] for n in content_layers}
        style_targets = {}
        for s, b in zip(styles, blend):       # blend weights normalised to sum 1
            fs = net(preprocess(to_torch(s[None])))
            for n in style_layers:
                g = gram(fs[n]) * b
                style_targets[n] = g if n not in style_targets else style_targets[n] + g
    xt = to_torch(x[None], grad=True)
    p = preprocess(xt)
    fx = net(p)
    loss = 0
    for n in content_layers:
        loss = loss + strength_loss(F.mse_loss(fx[n], content_targets[n]), content_weight)
    for n in style_layers:
        loss = loss + strength_loss(F.mse_loss(gram(fx[n]), style_targets[n]), style_weight)
    if tv_weight:                 # its TVLoss: L1 on the preprocessed image
        tv = (torch.abs(p[:, :, 1:, :] - p[:, :, :-1, :]).sum()
              + torch.abs(p[:, :, :, 1:] - p[:, :, :, :-1]).sum())
        loss = loss + tv_weight * tv
    loss.backward()
    return loss.item(), from_torch(xt.grad)[0]


def tutorial_reference(path, content, styles, x, content_layers, style_layers, content_weight,
                       style_weight, tv_weight, blend):
    """PyTorch's tutorial's objective at `x`: losses after conv layers, Gram / (a b c d), MSE."""
    def gram(f):
        a, b, c, d = f.size()
        feats = f.view(a * b, c * d)
        return torch.mm(feats, feats.t()).div(a * b * c * d)

    with torch.no_grad():
        fc = torch_features(path, to_torch(content[None]))
        content_targets = {n: fc[n] for n in content_layers}
        style_targets = {}
        for s, b in zip(styles, blend):
            fs = torch_features(path, to_torch(s[None]))
            for n in style_layers:
                g = gram(fs[n]) * b
                style_targets[n] = g if n not in style_targets else style_targets[n] + g
    xt = to_torch(x[None], grad=True)
    fx = torch_features(path, xt)
    content_score = sum(F.mse_loss(fx[n], content_targets[n]) for n in content_layers)
    style_score = sum(F.mse_loss(gram(fx[n]), style_targets[n]) for n in style_layers)
    loss = style_score * style_weight + content_score * content_weight
    if tv_weight:                 # not the tutorial's; the paper's squared TV on [0, 1] pixels
        loss = loss + tv_weight * (((xt[:, :, 1:] - xt[:, :, :-1]) ** 2).sum()
                                   + ((xt[..., 1:] - xt[..., :-1]) ** 2).sum())
    loss.backward()
    return loss.item(), from_torch(xt.grad)[0]


CASES = {
    "neural-style defaults": ("caffe", "neural-style", {}),
    "neural-style, several layers, two styles, TV": ("caffe", "neural-style", dict(
        content_layers={"relu2_2": 1.0, "relu4_2": 1.0},
        style_layers={"relu1_1": 1.0, "relu3_1": 1.0, "relu4_1": 1.0},
        style_blend=[3.0, 1.0], tv_weight=0.01)),
    "neural-style, normalise_gradients": ("caffe", "neural-style", dict(
        normalise_gradients=True, style_blend=[1.0, 2.0])),
    "tutorial defaults": ("torchvision", "tutorial", {}),
    "tutorial, several layers, two styles, TV": ("torchvision", "tutorial", dict(
        content_layers={"conv2_2": 1.0, "conv4_2": 1.0},
        style_layers={"conv1_1": 1.0, "conv3_1": 1.0, "conv5_1": 1.0},
        style_blend=[1.0, 3.0], tv_weight=2.0, content_weight=3.0)),
}


@pytest.mark.parametrize("case", CASES)
def test_each_recipe_equals_its_reference(weight_files, images, case):
    family, name, kw = CASES[case]
    photo, painting, other = images
    two = "style_blend" in kw
    styles = [painting, other] if two else [painting]
    net = load_vgg(weight_files[family], dtype=np.float64)
    objective = gatys.GatysObjective(net, photo, styles, recipe=name, **kw)
    assert objective.recipe is recipes.RECIPES[name]
    x = np.random.default_rng(1).random(photo.shape)
    loss, grad = objective(x)

    r = recipes.RECIPES[name]
    blend = np.array(kw.get("style_blend", [1.0] * len(styles)))
    args = dict(content_layers=list(layer_weights(kw.get("content_layers", r.content_layers), "c")),
                style_layers=list(layer_weights(kw.get("style_layers", r.style_layers), "s")),
                content_weight=kw.get("content_weight", r.content_weight),
                style_weight=kw.get("style_weight", r.style_weight),
                tv_weight=kw.get("tv_weight", r.tv_weight), blend=blend / blend.sum())
    if name == "neural-style":
        expected_loss, expected_grad = neural_style_reference(
            weight_files[family], photo, styles, x, normalize=kw.get("normalise_gradients", False),
            **args)
    else:
        expected_loss, expected_grad = tutorial_reference(weight_files[family], photo, styles, x,
                                                          **args)
    assert abs(loss - expected_loss) <= 1e-10 * abs(expected_loss)
    assert np.abs(grad - expected_grad).max() <= 1e-10 * np.abs(expected_grad).max()
    assert grad.dtype == np.float64 and grad.shape == x.shape


def test_the_default_recipe_follows_the_weights(weight_files, tmp_path):
    for family, name in (("caffe", "neural-style"), ("torchvision", "tutorial")):
        assert recipes.default_recipe(load_vgg(weight_files[family])).name == name
    save_random_vgg_h5(tmp_path / "n.h5", "vgg19", upto="relu5_1", family="normalised")
    assert recipes.default_recipe(load_vgg(tmp_path / "n.h5")).name == "paper"


def test_a_recipe_made_for_another_vgg_is_refused(weight_files, images, tmp_path):
    photo, painting, _ = images
    net = load_vgg(weight_files["torchvision"], dtype=np.float64)
    with pytest.raises(ValueError, match=r"recipe 'neural-style' was tuned for Caffe's VGG.*"
                                         r"use recipe='tutorial'"):
        gatys.GatysObjective(net, photo, painting, recipe="neural-style")
    net = load_vgg(weight_files["caffe"], dtype=np.float64)
    with pytest.raises(ValueError, match=r"recipe 'tutorial' was tuned for torchvision's VGG"):
        gatys.GatysObjective(net, photo, painting, recipe="tutorial")
    with pytest.raises(ValueError, match="recipe must be one of neural-style, tutorial, paper"):
        gatys.GatysObjective(net, photo, painting, recipe="picasso")
    save_random_vgg_h5(tmp_path / "short.h5", "vgg19", upto="relu3_1", family="caffe")
    with pytest.raises(ValueError, match="recipe 'neural-style' reads content layer relu4_2, "
                                         "but these weights stop at relu3_1"):
        gatys.stylize(load_vgg(tmp_path / "short.h5"), photo.astype(np.float32),
                      painting.astype(np.float32), iterations=1)


def test_neural_style_starts_at_the_mean_pixel(weight_files, images):
    photo, painting, _ = images
    net = load_vgg(weight_files["caffe"])
    result = gatys.stylize(net, photo.astype(np.float32), painting.astype(np.float32),
                           iterations=1, seed=3, callback=lambda info: True)
    start = recipes.mean_pixel_start(net, photo.shape, 256 / 255, 3, np.float32)
    # The mean pixel, RGB, in [0, 1] as neural-style's deprocessing gives it back.
    np.testing.assert_allclose(start.mean(axis=(0, 1)), np.array([123.68, 116.779, 103.939]) / 256,
                               atol=1e-5)
    assert start.std(axis=(0, 1)).max() < 1e-5 and result.iterations == 1
