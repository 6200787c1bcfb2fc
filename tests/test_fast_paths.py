"""Every fast path against the readable reference it replaces.

The conv layer's reference is im2col + one GEMM (itself checked against the
seed's loops and PyTorch in test_conv.py). The fast paths: shifted GEMMs,
Winograd F(2x2, 3x3), BLAS products with transposes and in-place
accumulation, and VGG's fused forward/backward with reused buffers.
"""

import numpy as np
import pytest

from stylelab import layers, vgg
from stylelab.layers.blas import gemm_accumulate, matmul
from stylelab.layers.shifted import backward_taps, conv_taps, correlate_valid
from stylelab.layers.winograd import (correlate3x3_winograd, winograd_backward_taps,
                                      winograd_taps)

from .reference import rel_err


def reference_conv(x, w):
    """im2col + GEMM, zero 'same' padding, no bias."""
    return layers.conv2d_forward(x, w, np.zeros(w.shape[0], x.dtype), method="im2col")[0]


@pytest.mark.parametrize("shape", [(1, 4, 6, 5, 7), (2, 8, 2, 3, 4), (1, 10, 10, 16, 9)])
def test_winograd_equals_the_reference(xp, rng, shape):
    n, h, w_, c, f = shape
    x = xp.asarray(rng.standard_normal((n, h, w_, c)))
    w = xp.asarray(rng.standard_normal((f, 3, 3, c)))
    xpad, _ = layers.pad2d_forward(x, 1)
    assert rel_err(correlate3x3_winograd(xpad, winograd_taps(w)), reference_conv(x, w)) <= 1e-13
    # The input gradient is the correlation with the flipped, channel-swapped filters.
    dy = xp.asarray(rng.standard_normal((n, h, w_, f)))
    _, cache = layers.conv2d_forward(x, w, xp.zeros(f), method="im2col")
    dx_ref = layers.conv2d_backward(dy, cache, weight_grads=False)[0]
    dypad, _ = layers.pad2d_forward(dy, 1)
    assert rel_err(correlate3x3_winograd(dypad, winograd_backward_taps(w)), dx_ref) <= 1e-13
    assert rel_err(correlate_valid(dypad, backward_taps(w), 3), dx_ref) <= 1e-13


def test_winograd_refuses_odd_sizes_and_other_kernels(rng):
    with pytest.raises(ValueError, match="even output size, got 5x4"):
        correlate3x3_winograd(np.zeros((1, 7, 6, 2)), winograd_taps(np.zeros((3, 3, 3, 2))))
    with pytest.raises(ValueError, match="needs 3x3 filters"):
        winograd_taps(np.zeros((3, 5, 5, 2)))


def test_shifted_correlation_writes_into_a_given_buffer(rng):
    x = rng.standard_normal((2, 5, 6, 4))
    w = rng.standard_normal((3, 3, 3, 4))
    b = rng.standard_normal(3)
    xpad, _ = layers.pad2d_forward(x, 1)
    grid = np.full((2, 7, 8, 3), np.nan)            # garbage in: all of it must be written
    y = correlate_valid(xpad, conv_taps(w), 3, bias=b, out=grid)
    assert np.shares_memory(y, grid)
    assert rel_err(y, reference_conv(x, w) + b) <= 1e-13


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_blas_products_with_every_layout(rng, dtype):
    a = rng.standard_normal((6, 4)).astype(dtype)
    b = rng.standard_normal((4, 5)).astype(dtype)
    tol = 1e-6 if dtype == np.float32 else 1e-14
    for left in (a, np.asfortranarray(a), a.T.copy().T, np.repeat(a, 2, axis=1)[:, ::2]):
        for right in (b, np.asfortranarray(b), np.repeat(b, 2, axis=0)[::2]):
            assert rel_err(matmul(left, right), a @ b) <= tol
    out = np.full((6, 5), np.nan, dtype)
    assert matmul(a, b, out=out) is out and rel_err(out, a @ b) <= tol
    acc = np.ones((6, 5), dtype)
    gemm_accumulate(a, b, acc)
    assert rel_err(acc, 1 + a @ b) <= tol
    stack = rng.standard_normal((3, 6, 4)).astype(dtype)
    assert rel_err(matmul(stack.transpose(0, 2, 1), stack), stack.transpose(0, 2, 1) @ stack) <= tol


def reference_vgg(net, x, names):
    """VGG from the generic layer functions (im2col convs), caches kept for backward."""
    h = net.preprocess(x)
    feats, tape = {}, []
    for name in names:
        if name.startswith("conv"):
            w, b = net.params[name]
            h, cache = layers.conv2d_forward(h, w, b, method="im2col")
            tape.append((layers.conv2d_backward, cache))
        elif name.startswith("relu"):
            h, cache = layers.relu_forward(h)
            tape.append((layers.relu_backward, cache))
        else:
            h, cache = layers.maxpool2x2_forward(h)
            tape.append((layers.maxpool2x2_backward, cache))
        feats[name] = h
    return feats, tape


def reference_backward(net, tape, names, grads):
    d = None
    for name, (backward, cache) in zip(reversed(names), reversed(tape)):
        if name in grads:
            d = grads[name] if d is None else d + grads[name]
        if d is not None:
            d = backward(d, cache)
            d = d[0] if isinstance(d, tuple) else d
    return net._preprocess_backward(d)


@pytest.mark.parametrize("size,winograd", [((32, 32), True), ((40, 24), False), ((18, 34), True)],
                         ids=["even maps", "odd block-4 maps: no Winograd", "odd early maps"])
def test_vgg_fused_forward_and_backward_equal_the_layer_by_layer_reference(rng, tmp_path, size,
                                                                          winograd):
    path = tmp_path / "w.h5"
    vgg.save_random_vgg_h5(path, "vgg19", seed=1, upto="relu5_1")
    net = vgg.load_vgg(path, dtype=np.float64)
    names = net.names[:net.names.index("relu5_1") + 1]
    asked = ["relu1_1", "conv2_2", "pool2", "relu3_1", "relu4_2", "conv4_4", "relu5_1"]
    for trial in range(3):        # again in the first one's buffers; then arenas freed each pass
        net.scratch_limit = 0 if trial == 2 else 1 << 30
        x = rng.random((1, *size, 3))
        feats = net.forward(x, layers=asked, reuse_buffers=True)
        ref, tape = reference_vgg(net, x, names)
        for n in asked:
            assert rel_err(feats[n], ref[n]) <= 1e-12, (trial, n)
        grads = {n: rng.standard_normal(feats[n].shape) for n in asked}
        dx = net.backward(grads)
        assert rel_err(dx, reference_backward(net, tape, names, grads)) <= 1e-12, trial
    kinds = {cache[0] for name, cache in net._tape if name.startswith("conv")}
    assert ("winograd" in kinds) == winograd     # Winograd needs even maps (block 4: size / 8)
    assert "shifted" in kinds


def test_pooling_from_stored_winners_equals_the_reference(xp, rng):
    # Small integers make ties; odd sizes leave a row and a column out.
    x = xp.asarray(rng.integers(0, 3, (2, 7, 9, 3)).astype(np.float64))
    y, cache = layers.maxpool2x2_forward(x)
    dy = xp.asarray(rng.standard_normal(y.shape))
    winners = layers.pooling.maxpool2x2_winners(x, y)
    assert winners.dtype == np.uint8
    out = xp.full(x.shape, np.nan)
    got = layers.pooling.maxpool2x2_backward_winners(dy, winners, x.shape, out=out)
    assert rel_err(got, layers.maxpool2x2_backward(dy, cache)) == 0.0
