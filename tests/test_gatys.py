"""The Gatys objective against the same formulas in PyTorch, and the optimisation end to end."""

import functools

import numpy as np
import pytest
import torch

from stylelab import gatys, optim
from stylelab.files.vgg_h5 import read_vgg_h5, save_random_vgg_h5
from stylelab.files.weights import load_vgg
from stylelab.gatys import color, losses
from stylelab.gatys.objective import layer_weights
from tests.reference import from_torch, rel_err, to_torch
from tests.vgg_files import torch_vgg

# This module proves the paper's formulas (tests/test_recipes.py the others): the
# random torchvision-convention weights would otherwise get the tutorial's recipe.
Objective = functools.partial(gatys.GatysObjective, recipe="paper")
stylize = functools.partial(gatys.stylize, recipe="paper")


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("gatys") / "random_vgg19.h5"
    save_random_vgg_h5(path, "vgg19", seed=3, upto="relu5_1")
    return path


@pytest.fixture(scope="module")
def images():
    """A 'photo' and two 'paintings' of other sizes, generated (RGB in [0, 1])."""
    yy, xx = np.mgrid[0:32, 0:32] / 32.0
    photo = np.stack([0.3 + 0.5 * yy, 0.5 + 0.3 * np.sin(9 * xx), 0.9 - 0.7 * yy], axis=-1)
    rng = np.random.default_rng(7)
    stripes = np.stack([0.5 + 0.5 * np.sin(np.arange(40) / 2.0)] * 24, axis=1)  # (40, 24)
    painting = np.clip(stripes[..., None] * [0.9, 0.6, 0.2] + 0.1 * rng.random((40, 24, 3)), 0, 1)
    other = rng.random((20, 36, 3))
    return photo, painting, other


def torch_objective(net_file, content, styles, x, content_layers, style_layers, content_weight,
                    style_weight, tv_weight, blend, statistic):
    """L and dL/dx written directly from the paper's formulas in PyTorch (autograd)."""
    arch, weights, convention = read_vgg_h5(net_file)
    tw = {n: (w.astype(np.float64).transpose(0, 3, 1, 2), b.astype(np.float64))
          for n, (w, b) in weights.items()}

    def feats(img):
        return torch_vgg(arch, tw, convention, to_torch(img[None]) if isinstance(img, np.ndarray)
                         else img)

    def gram(f):                               # (1, C, H, W) -> (C, C)
        fm = f[0].reshape(f.shape[1], -1)
        if statistic == "covariance":
            fm = fm - fm.mean(dim=1, keepdim=True)
        return fm @ fm.T

    with torch.no_grad():
        p = feats(content)
        m_x = {n: p[n].shape[2] * p[n].shape[3] for n in style_layers}
        targets = {n: 0 for n in style_layers}
        for s, b in zip(styles, blend):
            fs = feats(s)
            for n in style_layers:
                m_s = fs[n].shape[2] * fs[n].shape[3]
                targets[n] = targets[n] + b * gram(fs[n]) * (m_x[n] / m_s)
    xt = to_torch(x[None], grad=True)
    fx = feats(xt)
    lc = sum(w * 0.5 * ((fx[n] - p[n]) ** 2).sum() for n, w in content_layers.items())
    ls = sum(w * ((gram(fx[n]) - targets[n]) ** 2).sum()
             / (4 * fx[n].shape[1] ** 2 * m_x[n] ** 2) for n, w in style_layers.items())
    tv = ((xt[:, :, 1:] - xt[:, :, :-1]) ** 2).sum() + ((xt[..., 1:] - xt[..., :-1]) ** 2).sum()
    total = content_weight * lc + style_weight * ls + tv_weight * tv
    total.backward()
    return total.item(), from_torch(xt.grad)[0]


CASES = {
    "paper defaults": dict(),
    "several layers, own weights, TV": dict(
        content_layers={"relu2_2": 0.3, "relu4_2": 0.7},
        style_layers={"relu1_1": 0.1, "relu3_1": 0.5, "relu5_1": 0.4},
        content_weight=2.0, style_weight=50.0, tv_weight=3.0),
    "two styles blended": dict(style_blend=[3.0, 1.0], style_layers=["relu1_2", "relu4_1"]),
    "covariance, texture only": dict(statistic="covariance", content_weight=0.0,
                                     content_layers=(), tv_weight=0.5),
    "pooled layer": dict(content_layers=["pool3"], style_layers=["pool1", "relu2_1"]),
}


@pytest.mark.parametrize("engine", ["fast", "readable"])
@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_objective_equals_pytorch(weights_file, images, case, engine):
    photo, painting, other = images
    kw = CASES[case]
    two = "style_blend" in kw
    styles = [painting, other] if two else [painting]
    net = load_vgg(weights_file, dtype=np.float64, engine=engine)
    objective = Objective(net, photo, styles, **kw)
    x = np.random.default_rng(0).random(photo.shape)
    loss, grad = objective(x)

    blend = np.array(kw.get("style_blend", [1.0] * len(styles)))
    expected_loss, expected_grad = torch_objective(
        weights_file, photo, styles, x,
        content_layers=layer_weights(kw.get("content_layers", gatys.CONTENT_LAYERS), "c"),
        style_layers=layer_weights(kw.get("style_layers", gatys.STYLE_LAYERS), "s"),
        content_weight=kw.get("content_weight", 1.0), style_weight=kw.get("style_weight", 1e3),
        tv_weight=kw.get("tv_weight", 0.0), blend=blend / blend.sum(),
        statistic=kw.get("statistic", "gram"))
    assert abs(loss - expected_loss) <= 1e-8 * abs(expected_loss)
    assert grad.shape == photo.shape and grad.dtype == np.float64
    assert rel_err(grad, expected_grad) <= 1e-8
    assert objective.terms["total"] == loss
    assert sum(v for k, v in objective.terms.items() if k != "total") == pytest.approx(loss)


def test_the_old_keyword_normalize_gradients_still_works_warned(weights_file, images):
    photo, painting, _ = images
    net = load_vgg(weights_file, dtype=np.float64)
    x = np.random.default_rng(0).random(photo.shape)
    new = gatys.GatysObjective(net, photo, painting, recipe="paper", normalise_gradients=True)
    with pytest.warns(DeprecationWarning, match="normalise_gradients="):
        old = gatys.GatysObjective(net, photo, painting, recipe="paper", normalize_gradients=True)
    assert old.normalise_gradients and np.array_equal(old(x)[1], new(x)[1])
    with pytest.raises(TypeError, match="unexpected keyword argument 'normalise_gradient'"):
        gatys.GatysObjective(net, photo, painting, normalise_gradient=True)


def test_objective_gradient_is_numerically_right(weights_file):
    # Through the whole network, on a tiny image, probing a few pixels.
    net = load_vgg(weights_file, dtype=np.float64)
    rng = np.random.default_rng(1)
    content, style = rng.random((8, 8, 3)), rng.random((8, 8, 3))
    objective = Objective(net, content, style, content_layers=["relu2_2"],
                                     style_layers=["relu1_1", "relu3_1"], tv_weight=0.1)
    x = rng.random((8, 8, 3))
    _, grad = objective(x)
    eps = 1e-6
    for idx in [(0, 0, 0), (3, 4, 1), (7, 2, 2), (5, 7, 0)]:
        probe = x.copy()
        probe[idx] += eps
        plus = objective(probe)[0]
        probe[idx] -= 2 * eps
        minus = objective(probe)[0]
        assert abs((plus - minus) / (2 * eps) - grad[idx]) <= 1e-6 * np.abs(grad).max()


def test_objective_refuses_what_does_not_fit(weights_file, images):
    photo, painting, _ = images
    net = load_vgg(weights_file, dtype=np.float64)
    with pytest.raises(ValueError, match="has dtype float32 but the network is float64"):
        Objective(net, photo.astype(np.float32), painting)
    with pytest.raises(ValueError, match="2 style blend weights for 1 style images"):
        Objective(net, photo, painting, style_blend=[1, 2])
    with pytest.raises(ValueError, match="has no layer 'relu6_1'"):
        Objective(net, photo, painting, style_layers=["relu6_1"])
    with pytest.raises(ValueError, match="too small to reach relu5_1"):
        Objective(net, photo[:12, :12], painting)
    objective = Objective(net, photo, painting)
    with pytest.raises(ValueError, match=r"the objective was built for \(32, 32, 3\)"):
        objective(photo[:16])


def test_stylize_drives_the_loss_down_by_orders_of_magnitude(weights_file, images):
    photo, painting, _ = images
    net = load_vgg(weights_file)
    c, s = photo.astype(np.float32), painting.astype(np.float32)
    result = stylize(net, c, s, iterations=100, seed=5)
    objective = Objective(net, c, s)
    noise = np.random.default_rng(5).random(c.shape).astype(np.float32)
    start, end = objective(noise)[0], objective(result.image)[0]
    assert end < start / 30, (start, end)
    assert result.image.dtype == np.float32 and result.image.shape == c.shape
    assert 0 <= result.image.min() and result.image.max() <= 1
    # Iterations and evaluations are counted, and told apart.
    assert result.iterations == 100 == len(result.history)
    assert result.evaluations >= result.iterations
    assert [r["iteration"] for r in result.history] == list(range(1, 101))


def test_texture_synthesis_brings_the_grams_to_the_style(weights_file, images):
    # Style only (content weight 0): the image's Gram matrices approach the
    # painting's at every style layer, from white noise.
    photo, painting, _ = images
    net = load_vgg(weights_file)
    c, s = photo.astype(np.float32), painting.astype(np.float32)
    result = stylize(net, c, s, iterations=100, seed=5, content_weight=0.0)
    objective = Objective(net, c, s)
    noise = np.random.default_rng(5).random(c.shape).astype(np.float32)
    layers = list(gatys.STYLE_LAYERS)
    made, noisy = net.forward(result.image[None], layers), net.forward(noise[None], layers)
    for n in layers:
        a = objective.style_targets[n]
        assert rel_err(losses.gram(made[n]), a) < 0.6 * rel_err(losses.gram(noisy[n]), a), n


def test_the_same_seed_gives_the_same_image(weights_file, images):
    photo, painting, _ = images
    net = load_vgg(weights_file)
    c, s = photo.astype(np.float32), painting.astype(np.float32)
    first = stylize(net, c, s, iterations=10, seed=5).image
    assert np.array_equal(stylize(net, c, s, iterations=10, seed=5).image, first)
    assert not np.array_equal(stylize(net, c, s, iterations=10, seed=6).image, first)


OPTIONS = {
    "adam": dict(optimizer="adam", learning_rate=0.05),
    "two scales": dict(scales=2),
    "luminance only": dict(original_colors="luminance"),
    "histogram matched": dict(original_colors="histogram", init="style"),
    "init content, avg-pool weights, covariance": dict(init="content", statistic="covariance"),
    "style scale, blend": dict(style_scale=1.5, style_blend=[1, 2]),
}


@pytest.mark.parametrize("name", OPTIONS, ids=list(OPTIONS))
def test_stylize_options_run_and_lower_the_loss(weights_file, images, name):
    photo, painting, other = images
    kw = dict(OPTIONS[name])
    styles = [painting, other] if "style_blend" in kw else [painting]
    net = load_vgg(weights_file, pooling="avg" if "avg" in name else "max")
    rows = []
    result = stylize(net, photo.astype(np.float32), [s.astype(np.float32) for s in styles],
                           iterations=8, style_layers=["relu1_1", "relu2_1", "relu3_1"],
                           callback=lambda info: rows.append(info) and False, **kw)
    assert result.image.shape == photo.shape and np.isfinite(result.image).all()
    assert len(rows) == result.iterations == 8 * kw.get("scales", 1)
    last_scale = [r["total"] for r in result.history if r["scale"] == kw.get("scales", 1)]
    assert last_scale[-1] < last_scale[0]
    if kw.get("scales") == 2:
        assert (rows[0]["height"], rows[-1]["height"]) == (16, 32)
    if kw.get("original_colors") == "luminance":
        # The result's colour channels are the photo's.
        got, want = color.rgb_to_yiq(result.image)[..., 1:], color.rgb_to_yiq(photo)[..., 1:]
        inside = (result.image > 0.01).all(-1) & (result.image < 0.99).all(-1)
        assert np.abs(got - want)[inside].max() < 1e-5


def test_stylize_checks_sizes_before_it_starts(weights_file, images):
    photo, painting, _ = images
    net = load_vgg(weights_file)
    with pytest.raises(ValueError, match="8x8 pixels is too small to reach relu5_1"):
        stylize(net, photo.astype(np.float32), painting.astype(np.float32),
                      iterations=1, scales=3, style_layers=["relu5_1", "relu1_1"], content_layers=())
    with pytest.raises(ValueError, match="the style image becomes"):
        stylize(net, photo.astype(np.float32), painting.astype(np.float32),
                      iterations=1, style_scale=0.25)


def test_nan_in_the_optimisation_is_reported(weights_file, images):
    photo, painting, _ = images
    net = load_vgg(weights_file)
    with pytest.raises(optim.NonFiniteLoss, match="(loss|gradient) became (nan|NaN or infinite).* at evaluation 1"):
        stylize(net, photo.astype(np.float32), painting.astype(np.float32),
                      iterations=2, style_weight=1e300)


def test_histogram_matching_gives_the_content_colour_statistics(rng):
    content = rng.random((16, 12, 3)) * [0.3, 0.4, 0.2] + [0.3, 0.3, 0.4]
    mix = np.array([[0.6, 0.3, 0.1], [0.1, 0.2, 0.1], [0.2, 0.1, 0.3]])
    style = 0.2 + 0.6 * rng.random((10, 14, 3)) @ mix.T
    out = color.match_color_histogram(style, content, eps=1e-12).reshape(-1, 3)
    assert 0 < out.min() and out.max() < 1          # nothing clipped: the statistics are exact
    c = content.reshape(-1, 3)
    assert rel_err(out.mean(0), c.mean(0)) <= 1e-10
    assert rel_err(np.cov(out.T, bias=True), np.cov(c.T, bias=True)) <= 1e-10
    flat = np.full((6, 6, 3), 0.5)                # a single colour: finite, no NaN
    assert np.isfinite(color.match_color_histogram(flat, content)).all()


def test_yiq_round_trip_and_luminance(rng):
    img = rng.random((5, 6, 3))
    assert rel_err(color.yiq_to_rgb(color.rgb_to_yiq(img)), img) <= 1e-12
    gray = color.luminance_image(img)
    assert np.array_equal(gray[..., 0], gray[..., 2])
    matched = color.luminance_image(img, like=0.5 * img)
    y = color.rgb_to_yiq(0.5 * img)[..., 0]
    assert matched[..., 0].mean() == pytest.approx(y.mean()) and matched[..., 0].std() == pytest.approx(y.std())
