"""Numeric gradient checks by central differences (float64)."""

import numpy as np

from stylelab import to_numpy


def numeric_grad(f, x, eps=1e-6):
    """Central-difference gradient of the scalar function `f` at `x`.

    ``df/dx[i] ~ (f(x + eps e_i) - f(x - eps e_i)) / (2 eps)``, one entry at a
    time; `x` is restored after each probe.
    """
    grad = np.zeros(x.shape, dtype=np.float64)
    flat = x.reshape(-1)  # a view: probing it probes x
    for i in range(flat.size):
        old = flat[i].item()
        flat[i] = old + eps
        plus = float(f(x))
        flat[i] = old - eps
        minus = float(f(x))
        flat[i] = old
        grad.reshape(-1)[i] = (plus - minus) / (2 * eps)
    return grad


def grad_rel_err(analytic, numeric):
    """Relative error of an analytic gradient against a numeric one."""
    a = np.asarray(to_numpy(analytic), dtype=np.float64)
    n = np.asarray(numeric, dtype=np.float64)
    return float(np.abs(a - n).max() / max(np.abs(n).max(), 1e-300))
