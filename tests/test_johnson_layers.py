"""The layers of Johnson et al.'s network against PyTorch, and by finite differences."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from stylelab import layers
from stylelab.layers import fast

from .gradcheck import grad_rel_err, numeric_grad
from .reference import check_gradients, check_layer, rel_err, run_torch, to_torch


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_instance_norm_matches_pytorch(xp, rng, dtype):
    inputs = [xp.asarray(a.astype(dtype)) for a in (3 * rng.standard_normal((2, 5, 6, 4)) + 1,
                                                     rng.standard_normal(4), rng.standard_normal(4))]
    check_layer(layers.instance_norm_forward, layers.instance_norm_backward,
                lambda x, g, b: F.instance_norm(x, weight=g, bias=b, eps=1e-5), inputs, rng)


def test_instance_norm_gradients_numerically(rng):
    x = rng.standard_normal((2, 3, 4, 3))
    gamma, beta = rng.standard_normal(3), rng.standard_normal(3)
    r = rng.standard_normal(x.shape)
    _, cache = layers.instance_norm_forward(x, gamma, beta)
    dx, dgamma, dbeta = layers.instance_norm_backward(r, cache)
    for analytic, param in [(dx, x), (dgamma, gamma), (dbeta, beta)]:
        numeric = numeric_grad(lambda _: np.sum(layers.instance_norm_forward(x, gamma, beta)[0] * r),
                               param)
        assert grad_rel_err(analytic, numeric) < 1e-7


def test_upsample_and_tanh_match_pytorch(xp, rng):
    x = xp.asarray(rng.standard_normal((2, 3, 5, 4)))
    check_layer(layers.upsample2x_forward, layers.upsample2x_backward,
                lambda t: F.interpolate(t, scale_factor=2, mode="nearest"), [x], rng, tol=1e-15,
                forward_tol=0.0)
    check_layer(layers.tanh_forward, layers.tanh_backward, torch.tanh, [x], rng, tol=1e-14)


@pytest.mark.parametrize("case", [(2, 5, 4, 3, 6, 3, 2, 1, 1), (1, 3, 3, 2, 2, 3, 2, 1, 0),
                                  (2, 4, 5, 3, 2, 5, 2, 2, 1), (1, 4, 4, 2, 3, 3, 1, 1, 0)],
                         ids=lambda c: "x".join(map(str, c)))
@pytest.mark.parametrize("conv", [layers.conv, fast], ids=["readable", "fast"])
def test_transposed_conv_matches_pytorch(xp, rng, case, conv):
    n, h, w_, c_in, c_out, k, stride, pad, out_pad = case
    inputs = [xp.asarray(rng.standard_normal(shape)) for shape in
              ((n, h, w_, c_in), (c_in, k, k, c_out), (c_out,))]
    # PyTorch's weight is (C_in, C_out, K, K): the same (0, 3, 1, 2) move as activations.
    check_layer(lambda x, w, b: layers.conv_transpose2d_forward(x, w, b, stride, pad, out_pad,
                                                                conv=conv),
                layers.conv_transpose2d_backward,
                lambda x, w, b: F.conv_transpose2d(x, w, b, stride=stride, padding=pad,
                                                   output_padding=out_pad), inputs, rng, tol=1e-12)


def test_transposed_conv_is_the_adjoint_of_the_strided_conv(rng):
    # <conv(x), y> == <x, conv_transpose(y)> with the same filters: the lesson in one line.
    x = rng.standard_normal((1, 8, 8, 3))
    w = rng.standard_normal((5, 3, 3, 3))                 # conv: 3 -> 5 channels
    y = rng.standard_normal((1, 4, 4, 5))
    down, _ = layers.conv2d_forward(x, w, np.zeros(5), stride=2, padding=1)
    up, _ = layers.conv_transpose2d_forward(y, w, np.zeros(3), stride=2, padding=1,
                                            output_padding=1)
    assert abs(np.sum(down * y) - np.sum(x * up)) <= 1e-12 * abs(np.sum(down * y))
    assert to_torch(up).shape[2:] == (8, 8)


@pytest.mark.parametrize("conv", [layers.conv, fast], ids=["readable", "fast"])
def test_residual_block_matches_pytorch(xp, rng, conv):
    c = 4
    x = xp.asarray(rng.standard_normal((2, 6, 5, c)))
    params = {k: xp.asarray(rng.standard_normal((c, 3, 3, c) if k[0] == "w" else (c,)) * 0.5)
              for k in layers.residual.PARAMS}
    y, cache = layers.residual_block_forward(x, params, conv=conv)
    dy = xp.asarray(rng.standard_normal(y.shape))
    dx, grads = layers.residual_block_backward(dy, cache)

    names = list(layers.residual.PARAMS)

    def torch_block(x, *ps):
        p = dict(zip(names, ps))

        def conv(h, w, b):
            return F.conv2d(F.pad(h, (1, 1, 1, 1), mode="reflect"), w, b)
        h = F.instance_norm(conv(x, p["w1"], p["b1"]), weight=p["gamma1"], bias=p["beta1"])
        h = F.instance_norm(conv(torch.relu(h), p["w2"], p["b2"]), weight=p["gamma2"],
                            bias=p["beta2"])
        return x + h
    y_ref, refs = run_torch(torch_block, [x] + [params[k] for k in names], dy)
    assert rel_err(y, y_ref) <= 1e-10 and rel_err(dx, refs[0]) <= 1e-10
    for k, ref in zip(names, refs[1:]):
        if k in ("b1", "b2"):
            # A bias right before instance norm gets no gradient: the norm
            # subtracts each channel's mean, bias included. Both say ~0.
            assert float(abs(grads[k]).max()) <= 1e-12 and float(abs(ref).max()) <= 1e-12
        else:
            assert rel_err(grads[k], ref) <= 1e-10, k


def test_edge_padding_matches_pytorch(xp, rng):
    check_layer(lambda x: layers.pad2d_forward(x, 2, "edge"), layers.pad2d_backward,
                lambda t: F.pad(t, (2, 2, 2, 2), mode="replicate"),
                [xp.asarray(rng.standard_normal((2, 4, 5, 3)))], rng, tol=1e-15, forward_tol=0.0)


@pytest.mark.parametrize("shape,filters", [((2, 5, 7, 4), 3), ((1, 6, 6, 17), 20), ((1, 1, 3, 2), 5)])
@pytest.mark.parametrize("ops", [layers, fast], ids=["readable", "fast"])
def test_upsample_conv_matches_pytorch(xp, rng, shape, filters, ops):
    """Nearest x2, reflection padding, 3x3 conv: the u stage, composed and as four 2x2 convs."""
    inputs = [xp.asarray(rng.standard_normal(s)) for s in
              (shape, (filters, 3, 3, shape[3]), (filters,))]

    def torch_upconv(t, wt, bt):
        t = F.pad(F.interpolate(t, scale_factor=2, mode="nearest"), (1, 1, 1, 1), mode="reflect")
        return F.conv2d(t, wt, bt)
    check_layer(ops.upsample_conv_forward, ops.upsample_conv_backward, torch_upconv,
                inputs, rng)


@pytest.mark.parametrize("h,pads,extra", [(4, (0, 1, 0, 1), 0), (5, (1, 0, 0, 1), 1),
                                          (3, (2, 1, 1, 0), 1)])
def test_transposed_conv_with_per_side_padding_matches_pytorch(xp, rng, h, pads, extra):
    # TensorFlow's conv2d_transpose (SAME, to twice the size) crops (0, 1): PyTorch's full
    # transposed conv, cropped per side, is the reference.
    top, bottom, left, right = pads
    inputs = [xp.asarray(rng.standard_normal(s)) for s in ((2, h, h + 1, 4), (4, 3, 3, 5), (5,))]

    def torch_ct(x, w, b):
        full = F.conv_transpose2d(x, w, b, stride=2, output_padding=extra)
        return full[:, :, top:full.shape[2] - bottom, left:full.shape[3] - right]
    y, _ = check_layer(lambda x, w, b: layers.conv_transpose2d_forward(x, w, b, 2, pads, extra),
                       layers.conv_transpose2d_backward, torch_ct, inputs, rng, tol=1e-12)
    assert y.shape[1:3] == ((h - 1) * 2 - top - bottom + 3 + extra,
                            h * 2 - left - right + 3 + extra)


def test_scale_shift_is_batch_norm_at_test_time(xp, rng):
    # gamma' = weight / sqrt(var + eps), beta' = bias - mean * gamma': PyTorch's eval-mode batch norm.
    weight, bias, mean, var = (rng.standard_normal(4), rng.standard_normal(4),
                               rng.standard_normal(4), 0.5 + rng.random(4))
    gamma = weight / np.sqrt(var + 1e-5)
    inputs = [xp.asarray(a) for a in (rng.standard_normal((2, 5, 3, 4)), gamma, bias - mean * gamma)]
    bn = (lambda x, g, b: F.batch_norm(x, torch.tensor(mean), torch.tensor(var), g * 0 + torch.tensor(weight),
                                       b * 0 + torch.tensor(bias), training=False, eps=1e-5))
    y, _ = layers.scale_shift_forward(*inputs)
    y_ref, _ = run_torch(bn, inputs, np.ones((2, 5, 3, 4)))
    assert rel_err(y, y_ref) <= 1e-12
    check_layer(layers.scale_shift_forward, layers.scale_shift_backward,
                lambda x, g, b: x * g.view(1, -1, 1, 1) + b.view(1, -1, 1, 1), inputs, rng)


@pytest.mark.parametrize("padding", ["zeros", "valid"])
@pytest.mark.parametrize("norm", ["instance", "affine"])
@pytest.mark.parametrize("conv", [layers.conv, fast], ids=["readable", "fast"])
def test_residual_block_variants_match_pytorch(xp, rng, padding, norm, conv):
    c = 4
    x = xp.asarray(rng.standard_normal((2, 8, 7, c)))
    params = {k: xp.asarray(rng.standard_normal((c, 3, 3, c) if k[0] == "w" else (c,)) * 0.5)
              for k in layers.residual.PARAMS}
    names = list(layers.residual.PARAMS)
    pad = 0 if padding == "valid" else 1

    def torch_block(x, *ps):
        p = dict(zip(names, ps))

        def nrm(h, g, b):
            if norm == "instance":
                return F.instance_norm(h, weight=g, bias=b, eps=1e-3)
            return h * g.view(1, -1, 1, 1) + b.view(1, -1, 1, 1)
        h = torch.relu(nrm(F.conv2d(x, p["w1"], p["b1"], padding=pad), p["gamma1"], p["beta1"]))
        h = nrm(F.conv2d(h, p["w2"], p["b2"], padding=pad), p["gamma2"], p["beta2"])
        return (x[:, :, 2:-2, 2:-2] if padding == "valid" else x) + h

    y, cache = layers.residual_block_forward(x, params, padding=padding, norm=norm, eps=1e-3,
                                             conv=conv)
    dy = xp.asarray(rng.standard_normal(y.shape))
    dx, grads = layers.residual_block_backward(dy, cache)
    y_ref, refs = run_torch(torch_block, [x] + [params[k] for k in names], dy)
    assert y.shape == ((2, 4, 3, c) if padding == "valid" else x.shape)
    assert rel_err(y, y_ref) <= 1e-10 and rel_err(dx, refs[0]) <= 1e-10
    # Before an instance norm a bias cannot change anything: both sides' gradients are noise.
    check_gradients(grads, dict(zip(names, refs[1:])), 1e-10)
