"""ReLU, 2x2 max- and average-pooling and padding against PyTorch and by finite differences."""

import numpy as np
import pytest
import torch.nn.functional as F

from stylelab import layers

from .gradcheck import grad_rel_err, numeric_grad
from .reference import check_layer, rel_err, run_torch

SHAPES = [(2, 6, 8, 3), (3, 7, 9, 2), (1, 5, 5, 4), (2, 2, 3, 1)]
POOLS = {
    "max": (layers.maxpool2x2_forward, layers.maxpool2x2_backward,
            lambda x: F.max_pool2d(x, 2, 2)),
    "avg": (layers.avgpool2x2_forward, layers.avgpool2x2_backward,
            lambda x: F.avg_pool2d(x, 2, 2)),
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("kind", POOLS)
def test_pooling_matches_pytorch(xp, rng, kind, shape, dtype):
    forward, backward, ref = POOLS[kind]
    y, _ = check_layer(forward, backward, ref, [xp.asarray(rng.standard_normal(shape).astype(dtype))], rng)
    assert y.shape == (shape[0], shape[1] // 2, shape[2] // 2, shape[3])


def test_maxpool_ties_go_to_the_first_maximum_like_pytorch(xp, rng):
    # Small integers make ties in most windows; a constant image makes four-way ties.
    for x in [rng.integers(0, 3, (2, 6, 7, 3)).astype(np.float64),
              np.ones((1, 4, 4, 2))]:
        x = xp.asarray(x)
        y, cache = layers.maxpool2x2_forward(x)
        dy = xp.asarray(rng.standard_normal(y.shape))
        y_ref, (dx_ref,) = run_torch(lambda t: F.max_pool2d(t, 2, 2), [x], dy)
        assert rel_err(layers.maxpool2x2_backward(dy, cache), dx_ref) == 0.0


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_relu_matches_pytorch(xp, rng, dtype):
    x = rng.standard_normal((2, 5, 6, 3)).astype(dtype)
    x[0, 0, 0, :] = 0.0  # the kink: the gradient there is 0, as in PyTorch
    check_layer(layers.relu_forward, layers.relu_backward, F.relu, [xp.asarray(x)], rng, tol=0.0)


@pytest.mark.parametrize("mode,pad", [("zeros", 2), ("reflect", 1), ("reflect", 3),
                                      ("zeros", 0)])
def test_padding_matches_pytorch(xp, rng, mode, pad):
    x = xp.asarray(rng.standard_normal((2, 5, 4, 3)))
    torch_mode = "reflect" if mode == "reflect" else "constant"
    check_layer(lambda v: layers.pad2d_forward(v, pad, mode), layers.pad2d_backward,
                lambda t: F.pad(t, (pad,) * 4, mode=torch_mode), [x], rng, forward_tol=0.0)


def _numeric_check(forward, backward, x, rng):
    y, cache = forward(x)
    r = rng.standard_normal(y.shape)
    numeric = numeric_grad(lambda v: np.sum(forward(v)[0] * r), x)
    return grad_rel_err(backward(r, cache), numeric)


@pytest.mark.parametrize("kind", POOLS)
def test_pooling_gradients_numerically(rng, kind):
    forward, backward, _ = POOLS[kind]
    assert _numeric_check(forward, backward, rng.standard_normal((2, 5, 7, 2)), rng) < 1e-7


def test_relu_and_reflect_pad_gradients_numerically(rng):
    x = rng.standard_normal((2, 4, 5, 2))
    x[np.abs(x) < 1e-3] = 0.5  # keep finite differences off the kink
    assert _numeric_check(layers.relu_forward, layers.relu_backward, x, rng) < 1e-7
    pad = lambda v: layers.pad2d_forward(v, 2, "reflect")
    assert _numeric_check(pad, layers.pad2d_backward, x, rng) < 1e-7


def test_gradient_check_catches_a_pooling_gradient_sent_to_every_corner(rng):
    # A plausible bug: upsampling dy into the whole window instead of the winner.
    def wrong_backward(dy, cache):
        return layers.avgpool2x2_backward(4 * dy, cache[0].shape)
    x = rng.standard_normal((1, 4, 4, 2))
    assert _numeric_check(layers.maxpool2x2_forward, wrong_backward, x, rng) > 1e-2


def test_conv_relu_pool_chain_numerically(rng):
    # The seed's block, conv -> ReLU -> pool, backpropagated end to end.
    x = rng.standard_normal((2, 6, 7, 2))
    w = rng.standard_normal((3, 3, 3, 2))
    b = rng.standard_normal(3)

    def forward(v):
        h, c1 = layers.conv2d_forward(v, w, b, pad_mode="reflect")
        a, c2 = layers.relu_forward(h)
        p, c3 = layers.maxpool2x2_forward(a)
        return p, (c1, c2, c3)

    def backward(dp, caches):
        c1, c2, c3 = caches
        da = layers.maxpool2x2_backward(dp, c3)
        return layers.conv2d_backward(layers.relu_backward(da, c2), c1)[0]

    assert _numeric_check(forward, backward, x, rng) < 1e-7
