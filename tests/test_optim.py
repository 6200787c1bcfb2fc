"""The optimisers (stylelab/optim.py): L-BFGS as SciPy runs it, handed exactly the objective's
loss and gradient; Adam step for step as torch.optim.Adam; Ctrl-C keeps the best point."""

import numpy as np
import pytest
import scipy.optimize
import torch

from stylelab import optim

from .reference import rel_err


def quadratic(rng, n=12):
    """``1/2 |A x - b|^2`` with A ill-conditioned, so a few L-BFGS steps are far from the minimum."""
    a = rng.standard_normal((n, n)) * np.logspace(0, 2, n)
    b = rng.standard_normal(n) * 30

    def fun(x):
        r = a @ x - b
        return float(0.5 * r @ r), a.T @ r
    return fun


def test_lbfgs_hands_scipy_exactly_the_objectives_loss_and_gradient(rng, monkeypatch):
    fun = quadratic(rng)
    seen = []
    real = scipy.optimize.minimize

    def spy(f, z0, **kw):
        def recorded(z):
            loss, grad = f(z)
            seen.append((z.copy(), loss, grad.copy()))
            return loss, grad
        return real(recorded, z0, **kw)
    monkeypatch.setattr(scipy.optimize, "minimize", spy)
    optim.minimize(fun, np.full(12, 0.5), 6)
    assert len(seen) >= 6
    for z, loss, grad in seen:
        want_loss, want_grad = fun(z)
        assert loss == want_loss and np.array_equal(grad, want_grad)


def test_lbfgs_takes_scipys_steps(rng):
    # Five iterations of ours and of SciPy's L-BFGS-B on the same bounded problem, with the
    # options optim.minimize documents: the same point, not merely a lower loss.
    fun = quadratic(rng)
    x0 = np.full(12, 0.5)
    ours = optim.minimize(fun, x0, 5)
    ref = scipy.optimize.minimize(fun, x0, jac=True, method="L-BFGS-B",
                                  bounds=scipy.optimize.Bounds(0.0, 1.0),
                                  options=dict(maxiter=5, maxfun=270, ftol=0.0, gtol=0.0))
    assert ours.iterations == ref.nit == 5
    assert ours.loss == pytest.approx(ref.fun, rel=1e-12)
    assert rel_err(ours.x, ref.x) <= 1e-12


def test_ctrl_c_keeps_the_best_image_so_far():
    target = np.linspace(0, 1, 12)

    def fun(x):
        return float(((x - target) ** 2).sum()), 2 * (x - target)

    def interrupt(iteration, evaluations, x):
        if iteration == 3:
            raise KeyboardInterrupt
    for method in optim.METHODS:
        res = optim.minimize(fun, np.full(12, 0.5), 50, method=method, lr=0.01,
                             callback=interrupt)
        assert res.interrupted and res.iterations == 3
        assert res.loss == pytest.approx(fun(res.x)[0]) and res.loss < fun(np.full(12, 0.5))[0]


def test_adam_steps_equal_torch_optim_adam(rng):
    p = rng.standard_normal((3, 4))
    grads = [rng.standard_normal((3, 4)) for _ in range(5)]
    mine = {"w": p.copy()}
    adam = optim.Adam(lr=0.01, betas=(0.8, 0.99), eps=1e-6)
    ref = torch.tensor(p, requires_grad=True)
    torch_adam = torch.optim.Adam([ref], lr=0.01, betas=(0.8, 0.99), eps=1e-6)
    for g in grads:
        adam.step(mine, {"w": g})
        ref.grad = torch.tensor(g)
        torch_adam.step()
        assert rel_err(mine["w"], ref.detach().numpy()) <= 1e-12



def test_adam_state_dict_holds_live_arrays_and_loading_copies_them(rng):
    """state_dict() returns the optimiser's own arrays, as torch.optim does; load_state_dict()
    copies them, so the loaded optimiser and the dict (and its source) never share memory."""
    grads = [{"w": rng.standard_normal((3, 4))} for _ in range(6)]
    straight = optim.Adam(lr=0.01)
    p_straight = {"w": np.zeros((3, 4))}
    for g in grads:
        straight.step(p_straight, g)

    first = optim.Adam(lr=0.01)
    p_first = {"w": np.zeros((3, 4))}
    for g in grads[:3]:
        first.step(p_first, g)
    saved = first.state_dict()
    assert saved["m"]["w"] is first.m["w"]                       # live, not a snapshot
    snapshot = {k: saved[k]["w"].copy() for k in ("m", "v")}
    again = optim.Adam()
    again.load_state_dict(saved)
    assert not np.shares_memory(again.m["w"], saved["m"]["w"])
    p_again = {"w": p_first["w"].copy()}
    for g in grads[3:]:
        again.step(p_again, g)
    # Stepping the loaded optimiser left the dict it came from alone...
    assert all(np.array_equal(saved[k]["w"], snapshot[k]) for k in ("m", "v"))
    # ...and continued exactly where the first one stopped.
    assert again.t == straight.t == 6
    assert np.array_equal(p_again["w"], p_straight["w"])
    assert np.array_equal(again.m["w"], straight.m["w"]) and np.array_equal(again.v["w"], straight.v["w"])


def test_lbfgs_keeps_pixels_in_bounds_and_the_dtype():
    target = np.linspace(-1, 2, 10).astype(np.float32)

    def fun(x):
        assert x.dtype == np.float32          # the network's dtype inside
        return float(((x - target) ** 2).sum()), 2 * (x - target)
    res = optim.minimize(fun, np.full(10, 0.5, np.float32), 20)
    assert res.x.dtype == np.float32
    assert np.allclose(res.x, np.clip(target, 0, 1), atol=1e-6)


