"""The image transformation network against PyTorch, and its architecture strings."""

import numpy as np
import pytest

from stylelab.nets.transform import (SR_ARCH, STYLE_ARCH, TransformNet, param_shapes,
                                    parse_arch)

from .gradcheck import grad_rel_err, numeric_grad
from .reference import TOL, check_gradients, from_torch, rel_err, to_torch
from .torch_models import torch_params, torch_transform

CASES = [(STYLE_ARCH, "nearest", 16), (STYLE_ARCH, "transpose", 16),
         (SR_ARCH[4], "nearest", 8), (SR_ARCH[8], "transpose", 6)]


@pytest.mark.parametrize("arch,upsample,size", CASES, ids=lambda c: str(c))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("engine", ["fast", "readable"])
def test_network_matches_pytorch(xp, rng, arch, upsample, size, dtype, engine):
    net = TransformNet(arch, upsample, seed=1, dtype=dtype, engine=engine)
    x = xp.asarray(rng.random((2, size, size + 4, 3)).astype(dtype))
    y, cache = net.forward(x)
    dy = xp.asarray(rng.standard_normal(y.shape).astype(dtype))
    dx, grads = net.backward(dy, cache)

    tp = torch_params(net.params)
    xt = to_torch(x, grad=True)
    yt = torch_transform(xt, tp, arch, upsample)
    yt.backward(to_torch(dy))
    tol = TOL[dtype]
    assert y.dtype == dtype and y.shape == (2, size * net.factor, (size + 4) * net.factor, 3)
    assert rel_err(y, from_torch(yt)) <= tol
    assert rel_err(dx, from_torch(xt.grad)) <= tol
    assert set(grads) == set(net.params) and all(g.dtype == dtype for g in grads.values())
    check_gradients(grads, {name: from_torch(tp[name].grad) for name in grads}, tol)


def test_gradients_numerically(rng):
    arch = "c3s1-4,d6,R6,u4,c3s1-3"
    net = TransformNet(arch, "nearest", seed=2, dtype=np.float64)
    x = rng.random((1, 8, 8, 3))
    r = rng.standard_normal((1, 8, 8, 3))
    y, cache = net.forward(x)
    dx, grads = net.backward(r, cache)
    assert grad_rel_err(dx, numeric_grad(lambda _: np.sum(net.forward(x)[0] * r), x)) < 1e-7
    for name in ("conv1.w", "down1.gamma", "res1.w2", "up1.w", "conv2.b"):
        p = net.params[name]
        numeric = numeric_grad(lambda _: np.sum(net.forward(x)[0] * r), p)
        assert grad_rel_err(grads[name], numeric) < 1e-7, name


def test_architecture_strings():
    stages = parse_arch(STYLE_ARCH)
    assert [s.name for s in stages] == ["conv1", "down1", "down2"] + \
        [f"res{i}" for i in range(1, 6)] + ["up1", "up2", "conv2"]
    assert stages[0].kernel == 9 and stages[1].stride == 2 and stages[-1].last
    assert parse_arch("c9s1-32,d64,d128,R128,R128,R128,R128,R128,u64,u32,c9s1-3") == stages
    shapes = param_shapes(STYLE_ARCH)
    assert shapes["conv1.w"] == (32, 9, 9, 3) and shapes["res5.w2"] == (128, 3, 3, 128)
    assert shapes["up1.w"] == (64, 3, 3, 128) and "conv2.gamma" not in shapes
    assert param_shapes(STYLE_ARCH, "transpose")["up1.w"] == (128, 3, 3, 64)
    net = TransformNet()
    assert net.factor == 1 and net.multiple == 4
    assert TransformNet(SR_ARCH[4]).factor == 4 and TransformNet(SR_ARCH[8]).factor == 8


@pytest.mark.parametrize("arch,message", [
    ("c9s1-32,x64,c9s1-3", "cannot read token 'x64'"),
    ("c9s1-32,R64,c9s1-3", "residual block of 64 channels but its input has 32"),
    ("c9s1-32,d64", "must end with a conv to 3 channels"),
    ("c8s1-32,c9s1-3", "odd kernel"),
    ("", "expected a string"),
])
def test_bad_architectures(arch, message):
    with pytest.raises(ValueError, match=message):
        parse_arch(arch)


def test_the_engine_is_checked():
    with pytest.raises(ValueError, match=r"engine must be one of \('readable', 'fast'\)"):
        TransformNet("c3s1-4,c3s1-3", engine="gpu")


def test_bad_parameters():
    good = TransformNet("c3s1-4,c3s1-3").params
    with pytest.raises(ValueError, match="'conv1.w' should have shape"):
        TransformNet("c3s1-4,c3s1-3", params={**good, "conv1.w": good["conv1.w"][:2]})
    with pytest.raises(ValueError, match="'conv9.w' is not part of"):
        TransformNet("c3s1-4,c3s1-3", params={**good, "conv9.w": good["conv1.w"]})
    with pytest.raises(ValueError, match="upsample must be one of"):
        TransformNet("c3s1-4,c3s1-3", upsample="bilinear")


@pytest.mark.parametrize("upsample", ["nearest", "transpose"])
def test_inference_in_place_equals_the_cached_forward(rng, upsample):
    # keep_cache=False runs norms, ReLUs and tanh in place; the numbers must not change.
    net = TransformNet(STYLE_ARCH, upsample, seed=3, dtype=np.float64)
    x = rng.random((2, 16, 20, 3))
    y, _ = net.forward(x)
    y_fast, cache = net.forward(x.copy(), keep_cache=False)
    assert cache is None and rel_err(y_fast, y) <= 1e-13
    # apply() runs a 13x18 image as it is (the strided convs round up: a 16x20 output)
    # and crops the output back to the top-left 13x18
    img = x[0, :13, :18]
    full = net.forward(img[None])[0]
    assert full.shape == (1, 16, 20, 3)
    assert rel_err(net.apply(img), full[0, :13, :18]) <= 1e-13


@pytest.mark.parametrize("arch,upsample,size", CASES, ids=lambda c: str(c))
def test_conv_flops_are_pytorchs_count(rng, arch, upsample, size):
    """``conv_flops`` against PyTorch's own counter on the same network (it counts 2 per multiply-add)."""
    from torch.utils.flop_counter import FlopCounterMode
    net = TransformNet(arch, upsample, seed=1, dtype=np.float64)
    x = rng.random((1, size, size + 4, 3))
    counter = FlopCounterMode(display=False)
    with counter:
        torch_transform(to_torch(x), torch_params(net.params, grad=False), arch, upsample)
    assert sum(net.conv_flops(size, size + 4).values()) == counter.get_total_flops()


def test_conv_flops_of_tensorflows_layout(tmp_path, rng):
    """lengstrom's network (TF "SAME" strided convs, transposed convs): every stage against PyTorch's count."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    from stylelab.files.foreign import read_network
    from .test_foreign import write_deeplearnjs
    from .torch_foreign import random_tf_variables, tf_network
    variables = random_tf_variables(rng)
    net, _ = read_network(write_deeplearnjs(tmp_path / "net", variables), dtype=np.float64)
    for h, w in ((20, 24), (21, 18)):
        counter = FlopCounterMode(display=False)
        with counter:
            tf_network(to_torch(rng.random((1, h, w, 3))),
                       [torch.tensor(v.astype(np.float64)) for v in variables])
        flops = net.conv_flops(h, w)
        assert sum(flops.values()) == counter.get_total_flops()
        assert flops["res1"] == 2 * 2 * (-(-h // 4)) * (-(-w // 4)) * 16 * 9 * 16
