"""Li et al.'s cascade, decoder and inversion paths, against the same cascade in PyTorch
(random VGG-19 and decoder weights: these pictures mean nothing, the numbers must agree)."""

import numpy as np
import pytest

from stylelab.gatys.objective import GatysObjective
from stylelab.nets.decoder import make_decoder
from stylelab.universal.cascade import (check_levels, invert_features, labels_from_mask,
                                        resize_labels, universal_transfer)

from . import vgg_files
from .reference import from_torch, rel_err, to_torch
from .torch_models import torch_params
from .torch_universal import torch_universal


@pytest.fixture(scope="module")
def vgg19_weights():
    return vgg_files.random_torch_weights("vgg19", seed=7)


def encoder(weights, dtype):
    return vgg_files.stylelab_vgg("vgg19", weights, dtype)


def images(rng, dtype=np.float64):
    content = rng.random((32, 48, 3)).astype(dtype)
    styles = [rng.random((40, 36, 3)).astype(dtype), rng.random((32, 32, 3)).astype(dtype)]
    return content, styles


@pytest.mark.parametrize("case", ["one style", "two styles mixed", "mask", "levels 4,2"])
def test_decoder_cascade_matches_pytorch(rng, vgg19_weights, case):
    vgg = encoder(vgg19_weights, np.float64)
    content, styles = images(rng)
    levels = (4, 2) if case == "levels 4,2" else (5, 4, 3, 2, 1)
    decoders = {v: make_decoder(v, seed=v, dtype=np.float64) for v in levels}
    kw, ref_kw = {}, {}
    if case == "one style":
        styles = styles[:1]
    if case == "two styles mixed":
        kw = ref_kw = {"style_weights": [0.3, 0.7]}
    if case == "mask":
        mask = np.zeros(content.shape[:2])
        mask[:, 20:] = 1.0
        kw, ref_kw = {"mask": mask}, {"labels": labels_from_mask(mask, 2)}
    out = universal_transfer(vgg, content, styles, decoders=decoders, levels=levels,
                             alpha=0.8, **kw)
    ref = torch_universal(vgg_files.as_float64(vgg19_weights), vgg_files.TORCHVISION, to_torch(content[None]),
                          [to_torch(s[None]) for s in styles], levels, 0.8,
                          decoders={v: (torch_params(d.params, grad=False), d.arch)
                                    for v, d in decoders.items()}, **ref_kw)
    assert out.levels == levels and not out.stopped
    assert out.image.shape == content.shape and out.image.dtype == np.float64
    # eigh, thresholds and five decoders in a row: agreement to 1e-8, not a layer's 1e-10
    assert rel_err(out.image, from_torch(ref)[0]) <= 1e-8


def test_inversion_objective_matches_pytorch(rng, vgg19_weights):
    vgg = encoder(vgg19_weights, np.float64)
    x = rng.random((24, 20, 3))
    target = rng.random((1, 6, 5, 256))
    objective = GatysObjective(vgg, x, [], recipe="paper", content_layers=("relu3_1",), style_layers=(),
                               content_weight=1.0, style_weight=0.0,
                               content_targets={"relu3_1": target})
    loss, grad = objective(x)
    xt = to_torch(x[None], grad=True)
    f = vgg_files.torch_vgg("vgg19", vgg_files.as_float64(vgg19_weights), vgg_files.TORCHVISION, xt,
                            upto="relu3_1")["relu3_1"]
    ref = 0.5 * ((f - to_torch(target)) ** 2).sum()
    ref.backward()
    assert abs(loss - ref.item()) <= 1e-10 * ref.item()
    assert rel_err(grad, from_torch(xt.grad)[0]) <= 1e-10


def test_inversion_recovers_features(rng, vgg19_weights):
    vgg = encoder(vgg19_weights, np.float64)
    truth = rng.random((24, 24, 3))
    start = np.full_like(truth, 0.5)
    # relu1_1: 64 ReLUs of 3x3x3 neighbourhoods pin the pixels down
    target = vgg.forward(truth[None], layers=["relu1_1"])["relu1_1"].copy()
    res = invert_features(vgg, target, "relu1_1", start, iterations=30)
    assert np.abs(res.x - truth).max() < 1e-6
    # relu2_1 (past a max-pool): not unique, but the features come much closer
    target = vgg.forward(truth[None], layers=["relu2_1"])["relu2_1"].copy()
    before = 0.5 * float(((vgg.forward(start[None], ["relu2_1"])["relu2_1"] - target) ** 2).sum())
    res = invert_features(vgg, target, "relu2_1", start, iterations=30)
    assert res.loss < 0.1 * before and res.iterations == 30


def test_inversion_cascade_matches_pytorch(rng, vgg19_weights):
    vgg = encoder(vgg19_weights, np.float64)
    content, styles = images(rng)
    levels = (3, 1)
    seen = []
    out = universal_transfer(vgg, content, styles[:1], levels=levels, iterations=3,
                             callback=lambda v, it, x, loss: seen.append((v, it, loss)) and False)
    ref = torch_universal(vgg_files.as_float64(vgg19_weights), vgg_files.TORCHVISION, to_torch(content[None]),
                          [to_torch(styles[0][None])], levels, 0.6, iterations=3)
    assert [(v, it) for v, it, _ in seen] == [(3, 1), (3, 2), (3, 3), (1, 1), (1, 2), (1, 3)]
    assert seen[2][2] < seen[0][2]                      # the feature loss falls
    assert out.image.min() >= 0 and out.image.max() <= 1
    # three L-BFGS iterations per level: trajectories agree while the arithmetic does
    assert rel_err(out.image, from_torch(ref)[0]) <= 1e-6


def test_cascade_runs_in_float32_on_any_size(xp, rng, vgg19_weights):
    vgg = encoder(vgg19_weights, np.float32)
    content = xp.asarray(rng.random((37, 29, 3)).astype(np.float32))   # not multiples of 16
    style = xp.asarray(rng.random((17, 40, 3)).astype(np.float32))
    decoders = {v: make_decoder(v, seed=v) for v in range(1, 6)}
    mask = np.zeros((37, 29))
    mask[5, 7] = 1.0                                                     # a one-pixel region
    for kw in ({}, {"mask": mask}):
        out = universal_transfer(vgg, content, [style, style[::-1]], decoders=decoders, **kw)
        assert out.image.shape == (37, 29, 3) and out.image.dtype == np.float32
        assert bool(np.isfinite(out.image).all())
    flat = xp.full((32, 32, 3), 0.3, dtype=np.float32)                  # single-colour images
    for c, st in ((content, flat), (flat, style), (flat, flat)):
        out = universal_transfer(vgg, c, st, decoders=decoders, alpha=1.0)
        assert bool(np.isfinite(out.image).all())
    stopped = universal_transfer(vgg, content, style, decoders=decoders,
                                 callback=lambda v, it, x, loss: v == 4)
    assert stopped.stopped and stopped.levels == (5, 4)


def test_cascade_bad_input(rng, vgg19_weights):
    vgg = encoder(vgg19_weights, np.float64)
    content, styles = images(rng)
    with pytest.raises(ValueError, match="levels must be distinct"):
        check_levels([4, 4])
    with pytest.raises(ValueError, match="decoder level must be one of"):
        check_levels([6])
    with pytest.raises(ValueError, match="use one or the other"):
        universal_transfer(vgg, content, styles, mask=np.zeros((32, 48)), style_weights=[1, 1])
    with pytest.raises(ValueError, match="two or more styles"):
        universal_transfer(vgg, content, styles[:1], mask=np.zeros((32, 48)))
    with pytest.raises(ValueError, match="the mask is 4x3 but the content is 48x32"):
        universal_transfer(vgg, content, styles, mask=np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"too small for relu5_1: it needs 16"):
        universal_transfer(vgg, content, [styles[0][:8]])
    with pytest.raises(ValueError, match="no decoder for relu3_1"):
        universal_transfer(vgg, content, styles, decoders={5: make_decoder(5, dtype=np.float64)},
                           levels=(5, 3))
    with pytest.raises(ValueError, match="is float32, the encoder float64"):
        universal_transfer(vgg, content, styles, decoders={1: make_decoder(1)}, levels=(1,))
    assert resize_labels(np.arange(6).reshape(2, 3), 4, 3).tolist() == \
        [[0, 1, 2], [0, 1, 2], [3, 4, 5], [3, 4, 5]]
