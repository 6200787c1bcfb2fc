"""Optimisers for an image (or any array) under a loss with a known gradient.

Two ways to walk downhill:

* **L-BFGS** (Gatys et al.'s choice): scipy's ``L-BFGS-B`` does the
  quasi-Newton bookkeeping, with box bounds that keep pixels in [0, 1].
  SciPy works in float64 on the host, so every evaluation crosses over
  explicitly: float64 NumPy in, the array's own dtype and backend inside.
* **Adam**, written here (it is part of the lesson, and the Johnson and WCT
  trainers reuse it), with a projection onto the bounds after each step.

What "iteration" means differs: an L-BFGS iteration runs a line search and
may evaluate the loss several times; an Adam iteration evaluates it once.
:func:`minimize` reports both counts.
"""

import math
from dataclasses import dataclass

import numpy as np

from .backend import get_array_module, to_numpy
from .profile import timed

METHODS = ("lbfgs", "adam")


class NonFiniteLoss(ValueError):
    """The loss or its gradient became NaN or infinite."""


class Adam:
    """Adam (Kingma & Ba 2015), step for step as ``torch.optim.Adam``.

    ``m = b1 m + (1 - b1) g``, ``v = b2 v + (1 - b2) g^2``, then
    ``p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)``.

    Parameters
    ----------
    lr : float
    betas : (float, float)
    eps : float
    """

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        if not lr > 0:
            raise ValueError(f"the learning rate must be positive, got {lr}")
        self.lr, self.betas, self.eps = float(lr), tuple(betas), float(eps)
        self.t = 0
        self.m, self.v = {}, {}

    def step(self, params, grads):
        """Update every array in `params` in place from `grads` (same keys)."""
        self.t += 1
        b1, b2 = self.betas
        c1 = 1.0 - b1 ** self.t
        c2 = math.sqrt(1.0 - b2 ** self.t)
        for name, p in params.items():
            g = grads[name]
            xp = get_array_module(p)
            if name not in self.m:
                self.m[name], self.v[name] = xp.zeros_like(p), xp.zeros_like(p)
            m, v = self.m[name], self.v[name]
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * (g * g)
            p -= (self.lr / c1) * m / (xp.sqrt(v) / c2 + self.eps)

    def state_dict(self):
        """Everything a later run needs to continue exactly.

        As ``torch.optim.Optimizer.state_dict``, the moments are the live
        arrays, not copies: the dict changes with every later :meth:`step`.
        Write it out (a checkpoint) or copy it before stepping again.
        """
        return {"t": self.t, "lr": self.lr, "betas": self.betas, "eps": self.eps,
                "m": dict(self.m), "v": dict(self.v)}

    def load_state_dict(self, state):
        """Continue from `state` (from :meth:`state_dict` or a checkpoint).

        The moments are copied: stepping this optimiser never changes `state`,
        nor another optimiser that `state` came from.
        """
        self.t, self.lr = int(state["t"]), float(state["lr"])
        self.betas, self.eps = tuple(state["betas"]), float(state["eps"])
        self.m = {k: v.copy() for k, v in state["m"].items()}
        self.v = {k: v.copy() for k, v in state["v"].items()}


@dataclass
class OptimizeResult:
    """What :func:`minimize` found.

    Attributes
    ----------
    x : ndarray
        The best point evaluated (lowest loss), same shape, dtype and backend
        as the start.
    loss : float
        Its loss.
    iterations : int
        Optimiser iterations completed (L-BFGS: accepted steps).
    evaluations : int
        Loss-and-gradient evaluations (L-BFGS's line searches make these
        more than the iterations).
    interrupted : bool
        True if Ctrl-C stopped the run; `x` is still the best so far.
    message : str
    """

    x: object
    loss: float
    iterations: int
    evaluations: int
    interrupted: bool
    message: str


class _Tracker:
    """Wraps the loss: counts evaluations, keeps the best point, refuses NaN."""

    def __init__(self, fun):
        self.fun = fun
        self.evaluations = 0
        self.iterations = 0               # completed, as the optimiser counts them
        self.best_loss, self.best_x = math.inf, None

    def __call__(self, x):
        # Overflow is checked for below, once, instead of warned about per array
        # (NumPy's warnings: CuPy does not warn, and the same check serves it).
        with np.errstate(over="ignore", invalid="ignore"):
            loss, grad = self.fun(x)
        self.evaluations += 1
        xp = get_array_module(grad)
        finite_grad = bool(xp.isfinite(grad).all())
        if not (math.isfinite(loss) and finite_grad):
            what = (f"the loss became {loss}" if not math.isfinite(loss) else
                    f"the gradient became NaN or infinite (loss {loss:.3g})")
            raise NonFiniteLoss(f"{what} at evaluation {self.evaluations}; lower the loss "
                                f"weights (or the learning rate) and check the weights file")
        if loss < self.best_loss:
            self.best_loss, self.best_x = loss, x.copy()
        return loss, grad


def _lbfgs(tracker, x0, iterations, bounds, callback, profile=None):
    from scipy.optimize import Bounds, minimize as scipy_minimize

    xp = get_array_module(x0)
    shape, dtype = x0.shape, x0.dtype

    def fun(z):                       # SciPy's side: float64 host vector
        with timed(profile, "host transfer (to the array's device)"):
            x = xp.asarray(z.reshape(shape), dtype=dtype)
        loss, grad = tracker(x)
        with timed(profile, "host transfer (to SciPy)"):
            return loss, np.asarray(to_numpy(grad), dtype=np.float64).reshape(-1)

    def on_iteration(intermediate_result):
        tracker.iterations += 1
        x = xp.asarray(intermediate_result.x.reshape(shape), dtype=dtype)
        if callback is not None and callback(tracker.iterations, tracker.evaluations, x):
            raise StopIteration

    z0 = np.asarray(to_numpy(x0), dtype=np.float64).reshape(-1)
    lb, ub = bounds if bounds is not None else (-np.inf, np.inf)
    # ftol = gtol = 0: run the iterations asked for; stop early only when the
    # line search can make no more progress.
    res = scipy_minimize(fun, z0, jac=True, method="L-BFGS-B", bounds=Bounds(lb, ub),
                         callback=on_iteration,
                         options=dict(maxiter=iterations, maxfun=50 * iterations + 20,
                                      ftol=0.0, gtol=0.0))
    return str(res.message)


def _adam(tracker, x0, iterations, bounds, callback, lr):
    x = x0.copy()
    adam = Adam(lr=lr)
    for it in range(1, iterations + 1):
        loss, grad = tracker(x)
        adam.step({"x": x}, {"x": grad})
        if bounds is not None:
            # Projected Adam: pixels leave [0, 1] only to be put back.
            get_array_module(x).clip(x, bounds[0], bounds[1], out=x)
        tracker.iterations = it
        if callback is not None and callback(it, tracker.evaluations, x):
            return "stopped by callback"
    return f"{iterations} Adam steps"


def minimize(fun, x0, iterations, method="lbfgs", lr=0.02, bounds=(0.0, 1.0), callback=None,
             profile=None):
    """Minimise ``loss, grad = fun(x)`` from `x0`.

    Parameters
    ----------
    fun : callable
        ``fun(x) -> (loss, grad)``, `grad` shaped like `x`.
    x0 : ndarray
        The start (not modified); its dtype and backend are kept throughout.
    iterations : int
        L-BFGS iterations or Adam steps.
    method : {"lbfgs", "adam"}
    lr : float
        Adam's learning rate (unused by L-BFGS).
    bounds : (float, float) or None
        Box constraints on every entry.
    callback : callable, optional
        ``callback(iteration, evaluations, x)`` after each iteration, with the
        counts so far and the current point; returning True stops the run.
    profile : stylelab.profile.Profile, optional
        Times L-BFGS's crossings between SciPy (host, float64) and the array's
        device and dtype, as "host transfer" stages.

    Returns
    -------
    OptimizeResult
        Ctrl-C does not escape: it ends the run and the result says
        ``interrupted``. NaN or inf in the loss raises :class:`NonFiniteLoss`.
    """
    if method not in METHODS:
        raise ValueError(f"optimizer must be one of {METHODS}, got {method!r}")
    if iterations < 1:
        raise ValueError(f"iterations must be at least 1, got {iterations}")
    tracker = _Tracker(fun)
    interrupted = False
    try:
        if method == "lbfgs":
            message = _lbfgs(tracker, x0, iterations, bounds, callback, profile)
        else:
            message = _adam(tracker, x0, iterations, bounds, callback, lr)
    except KeyboardInterrupt:
        interrupted, message = True, "interrupted"
    if tracker.best_x is None:  # interrupted before the first evaluation ended
        best = x0.copy()
        tracker.best_loss = math.nan
    else:
        best = tracker.best_x
    return OptimizeResult(best, tracker.best_loss, tracker.iterations, tracker.evaluations,
                          interrupted, message)
