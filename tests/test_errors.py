"""Bad input to a layer: a ValueError whose one line names the shapes."""

import numpy as np
import pytest

from stylelab import layers

X = np.zeros((1, 6, 6, 3), np.float32)
W = np.zeros((4, 3, 3, 3), np.float32)
B = np.zeros(4, np.float32)


@pytest.mark.parametrize("args,kwargs,pattern", [
    ((X[0], W, B), {}, r"x must have shape \(N, H, W, C\), got shape \(6, 6, 3\)"),
    ((X, W[0], B), {}, r"w must have shape \(F, KH, KW, C\), got shape \(3, 3, 3\)"),
    ((X, W, B[:3]), {}, r"b must have shape \(4,\).*got shape \(3,\)"),
    ((X[..., :2], W, B), {}, r"x has 2 channels \(shape \(1, 6, 6, 2\)\) but w expects 3"),
    ((X, np.zeros((4, 2, 2, 3), np.float32), B), {}, r"odd size, got 2x2"),
    ((X, np.zeros((4, 3, 5, 3), np.float32), B), {}, r"square.*got 3x5"),
    ((X, np.zeros((4, 9, 9, 3), np.float32), B), {"padding": 1},
     r"kernel 9x9 is larger than the padded input 8x8 \(x shape \(1, 6, 6, 3\), padding 1\)"),
    ((X.astype(np.int64), W, B), {}, r"x has dtype int64, expected a float dtype"),
    ((X.astype(np.uint8), W, B), {}, r"x has dtype uint8"),
    ((X.astype(np.float64), W, B), {}, r"dtypes differ \(x is float64, w is float32"),
    ((X, W, B), {"stride": 0}, r"stride must be a positive int"),
    ((X, W, B), {"padding": "valid"}, r"padding must be 'same', a non-negative int or \(top, "
                                       r"bottom, left, right\), got 'valid'"),
    ((X, W, B), {"padding": (1, 2, 3)}, r"padding must be 'same', .* got \(1, 2, 3\)"),
    ((X, W, B), {"pad_mode": "circular"}, r"pad_mode must be one of"),
    ((X[:, :4, :5], np.zeros((4, 9, 9, 3), np.float32), B), {"pad_mode": "reflect"},
     r"reflect padding 4 needs an input larger than 4 pixels.*got shape \(1, 4, 5, 3\)"),
])
@pytest.mark.parametrize("conv", [layers.conv2d_forward, layers.conv2d_naive])
def test_conv_refuses_bad_input(conv, args, kwargs, pattern):
    with pytest.raises(ValueError, match=pattern) as info:
        conv(*args, **kwargs)
    assert "\n" not in str(info.value)


def test_conv_backward_refuses_a_gradient_of_the_wrong_shape():
    y, cache = layers.conv2d_forward(X, W, B)
    with pytest.raises(ValueError, match=r"dy must have the output's shape \(1, 6, 6, 4\)"):
        layers.conv2d_backward(np.zeros((1, 6, 6, 3), np.float32), cache)


@pytest.mark.parametrize("pool", [layers.maxpool2x2_forward, layers.avgpool2x2_forward])
def test_pooling_refuses_bad_input(pool):
    with pytest.raises(ValueError, match=r"got shape \(6, 6, 3\)"):
        pool(X[0])
    with pytest.raises(ValueError, match=r"at least 2x2 pixels, got shape \(1, 1, 6, 3\)"):
        pool(X[:, :1])
    with pytest.raises(ValueError, match=r"dtype int32"):
        pool(X.astype(np.int32))


def test_relu_refuses_integers():
    with pytest.raises(ValueError, match=r"relu: x has dtype int64"):
        layers.relu_forward(np.arange(3))
