"""The losses: values and gradients against PyTorch's autograd and central differences."""

import numpy as np
import pytest
import torch

from stylelab.gatys import losses
from tests.gradcheck import grad_rel_err, numeric_grad
from tests.reference import rel_err, to_torch


def torch_gram(f, statistic):
    """G = F F^T with F (N, C, M) the channels-first map, centred for covariance."""
    fm = f.reshape(f.shape[0], f.shape[1], -1)
    if statistic == "covariance":
        fm = fm - fm.mean(dim=2, keepdim=True)
    return fm @ fm.transpose(1, 2)


@pytest.mark.parametrize("statistic", losses.STYLE_STATISTICS)
def test_gram_matches_torch(xp, rng, statistic):
    f = rng.standard_normal((2, 5, 3, 7))
    g = losses.gram(xp.asarray(f), statistic)
    assert g.shape == (2, 7, 7) and g.dtype == np.float64
    assert rel_err(g, torch_gram(to_torch(f), statistic).numpy()) <= 1e-12


@pytest.mark.parametrize("statistic", losses.STYLE_STATISTICS)
def test_style_loss_value_and_gradient_match_torch(xp, rng, statistic):
    f = np.abs(rng.standard_normal((1, 4, 5, 6)))
    a = losses.gram(np.abs(rng.standard_normal((1, 4, 5, 6))), statistic)
    value, grad = losses.style_loss(xp.asarray(f), xp.asarray(a), statistic)
    ft = to_torch(f, grad=True)
    n, m = 6, 4 * 5
    expected = ((torch_gram(ft, statistic) - torch.from_numpy(a)) ** 2).sum() / (4 * n**2 * m**2)
    expected.backward()
    assert abs(value - expected.item()) <= 1e-12 * expected.item()
    assert rel_err(grad, ft.grad.numpy().transpose(0, 2, 3, 1)) <= 1e-12


@pytest.mark.parametrize("statistic", losses.STYLE_STATISTICS)
def test_style_loss_gradient_is_numerically_right(rng, statistic):
    f = rng.standard_normal((1, 3, 4, 5))
    a = losses.gram(rng.standard_normal((1, 3, 4, 5)), statistic)
    _, grad = losses.style_loss(f, a, statistic)
    numeric = numeric_grad(lambda z: losses.style_loss(z, a, statistic)[0], f)
    assert grad_rel_err(grad, numeric) < 1e-7


def test_content_and_tv_gradients_are_numerically_right(rng):
    f, p = rng.standard_normal((1, 3, 4, 5)), rng.standard_normal((1, 3, 4, 5))
    value, grad = losses.content_loss(f, p)
    assert value == pytest.approx(0.5 * ((f - p) ** 2).sum(), rel=1e-14)
    assert grad_rel_err(grad, numeric_grad(lambda z: losses.content_loss(z, p)[0], f)) < 1e-8
    x = rng.random((5, 6, 3))
    _, grad = losses.tv_loss(x)
    assert grad_rel_err(grad, numeric_grad(lambda z: losses.tv_loss(z)[0], x)) < 1e-8


def test_tv_matches_its_definition_in_torch(xp, rng):
    x = rng.random((2, 5, 6, 3))
    value, grad = losses.tv_loss(xp.asarray(x))
    xt = to_torch(x, grad=True)                      # (N, C, H, W)
    tv = ((xt[:, :, 1:] - xt[:, :, :-1]) ** 2).sum() + ((xt[..., 1:] - xt[..., :-1]) ** 2).sum()
    tv.backward()
    assert abs(value - tv.item()) <= 1e-12 * tv.item()
    assert rel_err(grad, xt.grad.numpy().transpose(0, 2, 3, 1)) <= 1e-12


def test_losses_keep_the_dtype(xp):
    f = xp.ones((1, 4, 4, 3), dtype=np.float32)
    assert losses.content_loss(f, f * 0)[1].dtype == np.float32
    assert losses.style_loss(f, losses.gram(f) * 0)[1].dtype == np.float32
    assert losses.tv_loss(f[0])[1].dtype == np.float32


def test_a_gram_target_rescaled_to_the_image_size_matches_its_statistics(rng):
    # A texture tiled twice has twice the positions and twice the Gram sum;
    # rescaled to the smaller size, it is the same target.
    tile = rng.random((1, 4, 4, 3))
    twice = np.concatenate([tile, tile], axis=1)
    rescaled = losses.scale_gram(losses.gram(twice), 32, 16)
    assert rel_err(rescaled, losses.gram(tile)) <= 1e-14


@pytest.mark.parametrize("call,message", [
    (lambda: losses.gram(np.ones((4, 4, 3))), "must have shape (N, H, W, C)"),
    (lambda: losses.gram(np.ones((1, 4, 4, 3)), "corr"), "style statistic must be one of"),
    (lambda: losses.content_loss(np.ones((1, 2, 2, 3)), np.ones((1, 2, 3, 3))), "differ in shape"),
    (lambda: losses.style_loss(np.ones((1, 2, 2, 3)), np.ones((1, 4, 4))), "does not fit"),
    (lambda: losses.tv_loss(np.ones((4, 4))), "TV needs an image"),
])
def test_bad_shapes_are_named(call, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call()


@pytest.mark.parametrize("normalisation", losses.NORMALISATIONS)
@pytest.mark.parametrize("statistic", losses.STYLE_STATISTICS)
def test_the_kept_style_loss_equals_the_readable_one(rng, statistic, normalisation):
    # The fast engine's style loss: the same value and gradient, in arrays kept per layer --
    # from features that are a view into a larger (bordered) buffer, as the fast VGG's are.
    from stylelab.gatys.fast_losses import KeptStyleLoss
    kept = KeptStyleLoss(statistic, normalisation)
    for seed in (0, 1):                                    # the second call reuses the arrays
        bordered = np.random.default_rng(seed).standard_normal((1, 7, 8, 5))
        f = bordered[:, 1:-1, 1:-1]
        a = losses.gram(rng.standard_normal((1, 5, 6, 5)), statistic)
        value, grad = kept("relu1_1", f, a)
        expected_value, expected = losses.style_loss(f, a, statistic, normalisation)
        assert value == pytest.approx(expected_value, rel=1e-13)
        assert grad.shape == f.shape and rel_err(grad, expected) <= 1e-13
    assert np.shares_memory(kept("relu1_1", f, a)[1], grad)
    # Past its memory limit it still computes, in new arrays.
    small = KeptStyleLoss(statistic, normalisation, limit=0)
    first = small("relu1_1", f, a)[1]
    assert not np.shares_memory(small("relu1_1", f, a)[1], first)
    assert rel_err(first, expected) <= 1e-13
