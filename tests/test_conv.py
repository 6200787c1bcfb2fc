"""The conv layer against PyTorch, against the seed's loops, and by finite differences."""

import numpy as np
import pytest
import torch.nn.functional as F

from stylelab import layers
from stylelab.layers import fast
from stylelab.layers import conv_output_size

from .gradcheck import grad_rel_err, numeric_grad
from .reference import check_layer, rel_err

# (N, H, W, C, F, K, stride, padding, pad_mode): odd sizes, batches, strides,
# both pad modes, and the 1x1, 3x3, 5x5 and 9x9 kernels the networks use.
CASES = [
    (2, 7, 9, 3, 4, 3, 1, "same", "zeros"),
    (3, 8, 5, 2, 3, 3, 2, "same", "zeros"),
    (2, 9, 7, 3, 5, 3, 1, "same", "reflect"),
    (2, 11, 13, 3, 4, 9, 1, "same", "reflect"),
    (2, 6, 7, 4, 3, 1, 1, "same", "zeros"),
    (1, 9, 9, 3, 2, 3, 2, 1, "reflect"),
    (2, 5, 6, 2, 3, 3, 1, 0, "zeros"),
    (2, 10, 11, 3, 4, 9, 2, 4, "zeros"),
    (2, 7, 6, 3, 2, 5, 2, 2, "reflect"),
]


def make(rng, xp, case, dtype):
    n, h, w, c, f, k = case[:6]
    x = xp.asarray(rng.standard_normal((n, h, w, c)).astype(dtype))
    wt = xp.asarray(rng.standard_normal((f, k, k, c)).astype(dtype))
    b = xp.asarray(rng.standard_normal(f).astype(dtype))
    return x, wt, b


def torch_conv(stride, pad, pad_mode):
    def fn(x, w, b):
        mode = "reflect" if pad_mode == "reflect" else "constant"
        return F.conv2d(F.pad(x, (pad,) * 4, mode=mode), w, b, stride=stride)
    return fn


ENGINES = {"readable": layers, "fast": fast}


@pytest.mark.parametrize("engine", ["fast", "readable"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", CASES, ids=lambda c: "x".join(map(str, c)))
def test_conv_matches_pytorch(xp, rng, case, dtype, engine):
    stride, padding, pad_mode = case[6:]
    pad = (case[5] - 1) // 2 if padding == "same" else padding
    ops = ENGINES[engine]
    check_layer(lambda x, w, b: ops.conv2d_forward(x, w, b, stride=stride, padding=padding,
                                                   pad_mode=pad_mode),
                ops.conv2d_backward, torch_conv(stride, pad, pad_mode),
                list(make(rng, xp, case, dtype)), rng)


STRIDE_1 = [c for c in CASES if c[6] == 1] + [
    (3, 6, 4, 5, 7, 3, 1, 2, "zeros"),          # padding wider than "same"
    (1, 12, 10, 2, 3, 5, 1, 3, "reflect"),
    (2, 4, 9, 3, 2, 3, 1, 0, "reflect"),
    (2, 10, 11, 17, 3, 9, 1, 4, "reflect"),     # few filters: products first, then shifts
    (1, 7, 6, 16, 2, 3, 1, 1, "zeros"),
    (2, 9, 8, 3, 18, 5, 1, 2, "reflect"),       # its backward runs the few-filters path
]
STRIDE_2 = [c for c in CASES if c[6] == 2] + [  # by phases (stylelab.layers.fast.phases)
    (2, 12, 9, 20, 6, 3, 2, "same", "reflect"),
    (1, 8, 8, 4, 3, 1, 2, 0, "zeros"),
    (2, 7, 10, 5, 4, 5, 2, 1, "zeros"),
]


@pytest.mark.parametrize("case", STRIDE_1 + STRIDE_2, ids=lambda c: "x".join(map(str, c)))
def test_the_fast_layer_equals_the_im2col_reference(xp, rng, case):
    # The layer by its fast kernels against the readable one: forward, dx, dw and db.
    x, w, b = make(rng, xp, case, np.float64)
    kw = dict(stride=case[6], padding=case[7], pad_mode=case[8])
    y_fast, c_fast = fast.conv2d_forward(x, w, b, **kw)
    y_ref, c_ref = layers.conv2d_forward(x, w, b, **kw)
    assert rel_err(y_fast, y_ref) <= 1e-13
    dy = xp.asarray(rng.standard_normal(y_ref.shape))
    for ours, ref in zip(fast.conv2d_backward(dy, c_fast), layers.conv2d_backward(dy, c_ref)):
        assert ours.shape == ref.shape and rel_err(ours, ref) <= 1e-13
    dx_only, dw, db = fast.conv2d_backward(dy, c_fast, weight_grads=False)
    assert dw is None and db is None
    assert rel_err(dx_only, layers.conv2d_backward(dy, c_ref)[0]) <= 1e-13
    no_dx, dw, db = fast.conv2d_backward(dy, c_fast, input_grad=False)
    assert no_dx is None and rel_err(dw, layers.conv2d_backward(dy, c_ref)[1]) <= 1e-13


def test_the_method_is_checked_and_the_old_auto_warns(rng):
    x, w, b = make(rng, np, CASES[1], np.float64)
    with pytest.raises(ValueError, match=r"method must be 'im2col' \(the fast kernels are "
                                         r"stylelab.layers.fast.conv2d_forward\)"):
        layers.conv2d_forward(x, w, b, method="winograd")
    # method="auto" was the fast kernels' name here: it still runs, warned, and computes im2col.
    with pytest.warns(DeprecationWarning, match="stylelab.layers.fast.conv2d_forward"):
        y, _ = layers.conv2d_forward(x, w, b, method="auto")
    assert rel_err(y, layers.conv2d_forward(x, w, b)[0]) == 0
    # Stride 3 has no fast kernel: the fast layer computes it by im2col.
    y, cache = fast.conv2d_forward(x, w, b, stride=3)
    assert rel_err(y, layers.conv2d_forward(x, w, b, stride=3)[0]) == 0


def test_output_size_formula():
    # floor((H + 2p - K) / s) + 1, as in PyTorch's documentation.
    assert conv_output_size(256, 3, 1, 1) == 256
    assert conv_output_size(256, 3, 2, 1) == 128
    assert conv_output_size(7, 3, 2, 1) == 4
    assert conv_output_size(9, 9, 1, 0) == 1


@pytest.mark.parametrize("case", [c for c in CASES if c[5] <= 5],
                         ids=lambda c: "x".join(map(str, c)))
def test_naive_loops_equal_im2col(xp, rng, case):
    x, w, b = make(rng, xp, case, np.float64)
    kw = dict(stride=case[6], padding=case[7], pad_mode=case[8])
    gemm, _ = layers.conv2d_forward(x, w, b, **kw)
    slow = layers.conv2d_naive(x, w, b, **kw)
    assert rel_err(slow, gemm) <= 1e-13
    # The seed's layer ends in a ReLU; so can the loops.
    relu, _ = layers.relu_forward(gemm)
    assert rel_err(layers.conv2d_naive(x, w, b, relu=True, **kw), relu) <= 1e-13


def test_im2col_and_col2im_are_adjoint(rng):
    # <im2col(x), c> == <x, col2im(c)> for all x, c: col2im is im2col's transpose,
    # which is exactly what the backward pass relies on.
    x = rng.standard_normal((2, 9, 8, 3))
    for k, s in [(3, 1), (3, 2), (5, 2), (1, 1)]:
        cols = layers.im2col(x, k, s)
        c = rng.standard_normal(cols.shape)
        lhs = np.sum(cols * c)
        rhs = np.sum(x * layers.col2im(c, x.shape, k, s))
        assert abs(lhs - rhs) <= 1e-12 * abs(lhs)


@pytest.mark.parametrize("case", [CASES[1], CASES[2], CASES[8]],
                         ids=lambda c: "x".join(map(str, c)))
def test_conv_gradients_numerically(rng, case):
    x, w, b = make(rng, np, case, np.float64)
    kw = dict(stride=case[6], padding=case[7], pad_mode=case[8])
    y, cache = layers.conv2d_forward(x, w, b, **kw)
    r = rng.standard_normal(y.shape)

    def loss(_):
        return np.sum(layers.conv2d_forward(x, w, b, **kw)[0] * r)

    dx, dw, db = layers.conv2d_backward(r, cache)
    for analytic, param in [(dx, x), (dw, w), (db, b)]:
        assert grad_rel_err(analytic, numeric_grad(loss, param)) < 1e-7


def test_gradient_check_catches_a_flipped_filter(rng):
    # The classic bug: backpropagating with a *flipped* filter (true convolution
    # instead of cross-correlation). The checker must fail it.
    x, w, b = make(rng, np, CASES[0], np.float64)
    y, cache = layers.conv2d_forward(x, w, b)
    r = rng.standard_normal(y.shape)
    flipped = (cache[0], w[:, ::-1, ::-1, :].copy()) + cache[2:]
    wrong_dx = layers.conv2d_backward(r, flipped)[0]
    numeric = numeric_grad(lambda _: np.sum(layers.conv2d_forward(x, w, b)[0] * r), x)
    assert grad_rel_err(wrong_dx, numeric) > 1e-2
    assert grad_rel_err(layers.conv2d_backward(r, cache)[0], numeric) < 1e-7


# Per-side padding (top, bottom, left, right): TensorFlow's "SAME" is asymmetric for stride 2.
SIDES = [
    ((2, 8, 8, 3, 4, 3), 2, (0, 1, 0, 1)),          # TF SAME, even size, stride 2
    ((2, 7, 9, 16, 5, 3), 2, (1, 1, 0, 1)),         # odd height, even width
    ((1, 9, 6, 3, 2, 5), 1, (2, 1, 0, 3)),          # stride 1, lopsided
    ((2, 6, 7, 17, 3, 9), 1, (4, 4, 3, 5)),
    ((1, 10, 11, 4, 6, 3), 2, (0, 0, 2, 1)),
]


@pytest.mark.parametrize("engine", ["fast", "readable"])
@pytest.mark.parametrize("shape,stride,pads", SIDES, ids=lambda c: str(c))
def test_per_side_padding_matches_pytorch(xp, rng, shape, stride, pads, engine):
    top, bottom, left, right = pads
    inputs = list(make(rng, xp, shape + (stride, pads, "zeros"), np.float64))
    ops = ENGINES[engine]
    check_layer(lambda x, w, b: ops.conv2d_forward(x, w, b, stride=stride, padding=pads),
                ops.conv2d_backward,
                lambda x, w, b: F.conv2d(F.pad(x, (left, right, top, bottom)), w, b, stride=stride),
                inputs, rng)


@pytest.mark.parametrize("mode", ["zeros", "reflect", "edge"])
def test_per_side_padding_of_every_mode_matches_pytorch(xp, rng, mode):
    x = xp.asarray(rng.standard_normal((2, 6, 5, 3)))
    torch_mode = {"zeros": "constant", "reflect": "reflect", "edge": "replicate"}[mode]
    check_layer(lambda v: layers.pad2d_forward(v, (2, 0, 1, 3), mode), layers.pad2d_backward,
                lambda t: F.pad(t, (1, 3, 2, 0), mode=torch_mode), [x], rng, tol=1e-15,
                forward_tol=0.0)


def test_same_padding_is_tensorflows():
    from stylelab.layers import same_padding
    # TensorFlow: out = ceil(size / stride), P = max((out - 1) * stride + K - size, 0), less before.
    assert [same_padding(n, 3, 2, "tf") for n in (6, 7, 8, 9)] == [(0, 1), (1, 1), (0, 1), (1, 1)]
    assert same_padding(8, 9, 1, "tf") == (4, 4) == same_padding(8, 9, 1)
    assert same_padding(1, 3, 2, "tf") == (1, 1)
    with pytest.raises(ValueError, match="padding convention must be one of"):
        same_padding(8, 3, 2, "caffe")


@pytest.mark.parametrize("shape,stride,pads", SIDES, ids=lambda c: str(c))
def test_the_input_gradient_is_the_convs_adjoint(rng, shape, stride, pads):
    # <conv(x), y> == <x, conv2d_input_gradient(y)> for every x, y: the transposed conv.
    n, h, w_, c, f, k = shape
    x = rng.standard_normal((n, h, w_, c))
    w = rng.standard_normal((f, k, k, c))
    y, _ = layers.conv2d_forward(x, w, np.zeros(f), stride=stride, padding=pads)
    r = rng.standard_normal(y.shape)
    for engine, ops in ENGINES.items():
        back = ops.conv2d_input_gradient(r, w, x.shape, stride, pads)
        assert abs(np.sum(y * r) - np.sum(x * back)) <= 1e-11 * abs(np.sum(y * r)), engine
    with pytest.raises(ValueError, match="dy must have shape"):
        layers.conv2d_input_gradient(r[:, 1:], w, x.shape, stride, pads)
