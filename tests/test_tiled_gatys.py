"""Gatys et al.'s objective over tiles (stylelab.gatys.tiled) equals it whole; the halo's arithmetic."""

import numpy as np
import pytest

from stylelab.files.vgg_h5 import save_random_vgg_h5
from stylelab.files.weights import load_vgg
from stylelab.gatys.objective import GatysObjective
from stylelab.nets.tiled import receptive_field, vgg_table


@pytest.fixture(scope="module")
def nets(tmp_path_factory):
    """Random VGG-19s to relu5_1: torchvision's and Caffe's conventions (zero padding), and
    the normalised one of Li et al. and Huang & Belongie (reflection padding)."""
    from . import vgg_files
    d = tmp_path_factory.mktemp("tiled_gatys")
    save_random_vgg_h5(d / "tv.h5", "vgg19", seed=0, upto="relu5_1")
    save_random_vgg_h5(d / "caffe.h5", "vgg19", seed=1, upto="relu5_1", family="caffe")
    weights = vgg_files.random_torch_weights("vgg19", seed=9)
    colour = vgg_files.random_colour_map(3)
    vgg_files.write_normalised_t7(d / "norm.t7", weights, (colour[0] / 100, colour[1] / 100),
                                  upto="relu4_1")
    return {name: load_vgg(d / f, dtype=np.float64)
            for name, f in (("torchvision", "tv.h5"), ("caffe", "caffe.h5"),
                            ("normalised", "norm.t7"))}


@pytest.mark.parametrize("layer", ["relu1_1", "pool1", "relu2_2", "relu3_1", "relu4_1"])
@pytest.mark.parametrize("family", ["torchvision", "normalised"])
def test_the_receptive_field_is_what_a_changed_pixel_reaches(nets, layer, family):
    """Change one pixel; the features that change are those whose field holds it."""
    net = nets[family]
    left, right, stride = receptive_field(vgg_table(net.names, layer))
    rng = np.random.default_rng(0)
    x = rng.random((1, 64, 64, 3)) + 0.5
    base = net.forward(x, layers=[layer], keep_cache=False)[layer].copy()
    px = 37
    y = x.copy()
    y[0, :, px] += 1.0
    changed = np.nonzero(np.abs(net.forward(y, layers=[layer], keep_cache=False)[layer]
                                - base).max(axis=(0, 1, 3)) > 0)[0]
    # p * stride - left <= px <= p * stride + right
    expected = [p for p in range(base.shape[2]) if p * stride - left <= px <= p * stride + right]
    if family == "normalised":          # reflection: the mirrored pixel reaches further
        assert set(expected) <= set(changed)
    else:
        assert list(changed) == expected


CASES = {
    "paper, Gram, two styles blended": ("torchvision", dict(recipe="paper", style_blend=[1, 3])),
    "tutorial, covariance, normalised gradients": (
        "torchvision", dict(recipe="tutorial", statistic="covariance", normalise_gradients=True)),
    "neural-style (gain 256, TV)": ("caffe", dict(recipe="neural-style", tv_weight=1e-3)),
    "reflection padding": ("normalised", dict(recipe="paper")),
}


@pytest.mark.parametrize("case", CASES)
def test_the_tiled_objective_equals_the_whole_one(nets, case):
    family, kw = CASES[case]
    net = nets[family]
    layers = dict(content_layers=["relu2_2"], style_layers=["relu1_1", "relu2_1", "relu3_1"])
    rng = np.random.default_rng(1)
    content, x = rng.random((70, 53, 3)), rng.random((70, 53, 3))
    styles = [rng.random((61, 66, 3)), rng.random((45, 90, 3))]
    whole = GatysObjective(net, content, styles, **layers, **kw)
    loss, grad = whole(x)
    for tile in (8, 13, 40):
        tiled = GatysObjective(net, content, styles, tile=tile, **layers, **kw)
        assert len(tiled.grid.windows()) > 1
        t_loss, t_grad = tiled(x)
        assert abs(t_loss - loss) <= 1e-9 * abs(loss), (tile, t_loss, loss)
        assert np.abs(t_grad - grad).max() <= 1e-9 * np.abs(grad).max(), tile
        for k in ("content", "style", "tv"):
            assert abs(tiled.terms[k] - whole.terms[k]) <= 1e-9 * abs(whole.terms["total"])


def test_the_default_layers_to_relu5_1_tile_too(nets):
    net = nets["torchvision"]
    rng = np.random.default_rng(2)
    content, x, style = rng.random((200, 180, 3)), rng.random((200, 180, 3)), rng.random((90, 97, 3))
    loss, grad = GatysObjective(net, content, style, recipe="paper")(x)
    tiled = GatysObjective(net, content, style, recipe="paper", tile=48)
    assert tiled.grid.halo == 112 and len(tiled.grid.windows()) == 20
    t_loss, t_grad = tiled(x)
    assert abs(t_loss - loss) <= 1e-9 * abs(loss)
    assert np.abs(t_grad - grad).max() <= 1e-9 * np.abs(grad).max()
