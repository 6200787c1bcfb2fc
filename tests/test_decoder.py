"""Li et al.'s decoders: the mirror of VGG-19, against PyTorch."""

import numpy as np
import pytest

from stylelab.nets.decoder import decoder_arch, level_layer, make_decoder
from stylelab.nets.vgg import conv_shapes, convs_upto

from .gradcheck import grad_rel_err, numeric_grad
from .reference import TOL, from_torch, rel_err, to_torch
from .torch_models import torch_params, torch_transform


@pytest.mark.parametrize("level", [1, 2, 3, 4, 5])
def test_decoder_mirrors_the_encoder(level):
    # Each encoder conv (F, 3, 3, C), read backwards, becomes a decoder conv
    # (C, 3, 3, F); the upsamplings sit where the encoder pools.
    encoder = [conv_shapes("vgg19")[n] for n in convs_upto("vgg19", level_layer(level))]
    net = make_decoder(level, dtype=np.float64)
    filters = [tuple(v.shape) for k, v in net.params.items() if k.endswith(".w")]
    assert filters == [(c, 3, 3, f) for f, _, _, c in reversed(encoder)]
    assert sum(st.kind == "up" for st in net.stages) == level - 1
    assert net.factor == 2 ** (level - 1)
    assert not any(k.endswith(("gamma", "beta")) for k in net.params)


def test_decoder_arch_relu4_1_as_li_et_al():
    # The relu4_1 decoder of Li et al.'s published code, layer by layer.
    assert decoder_arch(4) == ("c3s1-256,u256,c3s1-256,c3s1-256,c3s1-128,"
                               "u128,c3s1-64,u64,c3s1-3")


@pytest.mark.parametrize("level", [1, 3, 5])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_decoder_matches_pytorch(xp, rng, level, dtype):
    net = make_decoder(level, seed=level, dtype=dtype)
    side = 2 if level == 5 else 4
    x = xp.asarray(rng.random((2, side, side + 1, net.in_channels)).astype(dtype))
    y, cache = net.forward(x)
    dy = xp.asarray(rng.standard_normal(y.shape).astype(dtype))
    dx, grads = net.backward(dy, cache)

    tp = torch_params(net.params)
    xt = to_torch(x, grad=True)
    yt = torch_transform(xt, tp, net.arch, norm="none", output="linear")
    yt.backward(to_torch(dy))
    tol = TOL[dtype]
    f = 2 ** (level - 1)
    assert y.dtype == dtype and y.shape == (2, side * f, (side + 1) * f, 3)
    assert rel_err(y, from_torch(yt)) <= tol
    assert rel_err(dx, from_torch(xt.grad)) <= tol
    assert set(grads) == set(net.params)
    for name, g in grads.items():
        assert g.dtype == dtype
        assert rel_err(g, from_torch(tp[name].grad)) <= tol, name


def test_decoder_gradients_numerically(rng):
    from stylelab.nets.transform import TransformNet
    # A small decoder-shaped network: conv + ReLU, nearest up + conv, linear out.
    net = TransformNet("c3s1-4,u4,c3s1-3", norm="none", output="linear", in_channels=5,
                       seed=3, dtype=np.float64)
    x = rng.random((1, 4, 3, 5))
    r = rng.standard_normal((1, 8, 6, 3))
    _, cache = net.forward(x)
    dx, grads = net.backward(r, cache)
    loss = lambda _: np.sum(net.forward(x)[0] * r)  # noqa: E731
    assert grad_rel_err(dx, numeric_grad(loss, x)) < 1e-7
    for name in ("conv1.w", "conv1.b", "up1.w", "conv2.w", "conv2.b"):
        assert grad_rel_err(grads[name], numeric_grad(loss, net.params[name])) < 1e-7, name


def test_decoder_options_are_checked():
    from stylelab.nets.transform import TransformNet
    with pytest.raises(ValueError, match="residual blocks carry norms; .* cannot have norm=.none."):
        TransformNet("c3s1-4,R4,c3s1-3", norm="none")
    with pytest.raises(ValueError, match="norm must be one of"):
        TransformNet("c3s1-3", norm="batch")
    with pytest.raises(ValueError, match="output must be one of"):
        TransformNet("c3s1-3", output="sigmoid")
    with pytest.raises(ValueError, match="decoder level must be one of"):
        make_decoder(6)
    with pytest.raises(ValueError, match=r"an input of shape \(H, W, 64\)"):
        make_decoder(1).apply(np.zeros((4, 4, 3), np.float32))
