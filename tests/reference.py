"""The bridge to PyTorch, the reference framework: the one place layouts change.

stylelab is channels-last: activations (N, H, W, C), filters (F, K, K, C).
PyTorch is channels-first: (N, C, H, W) and (F, C, K, K). The same axis
permutation (0, 3, 1, 2) maps both, so one pair of helpers serves every test.
"""

import numpy as np
import torch

from stylelab import to_numpy


def to_torch(a, grad=False):
    """A host copy of a stylelab array as a torch tensor (4-D: channels-first)."""
    a = np.asarray(to_numpy(a))
    if a.ndim == 4:
        a = a.transpose(0, 3, 1, 2)
    return torch.tensor(np.ascontiguousarray(a), requires_grad=grad)


def from_torch(t):
    """A torch tensor as a NumPy array in stylelab's layout (4-D: channels-last)."""
    a = t.detach().numpy()
    return a.transpose(0, 2, 3, 1) if a.ndim == 4 else a


def run_torch(fn, inputs, dy):
    """Run ``y = fn(*inputs)`` in PyTorch and backpropagate `dy` through it.

    Parameters
    ----------
    fn : callable on torch tensors (channels-first)
    inputs : list of arrays in stylelab's layout
    dy : array in stylelab's layout, the gradient of the output

    Returns
    -------
    y : ndarray, stylelab's layout
    grads : list of ndarray, one per input, stylelab's layout
    """
    ts = [to_torch(a, grad=True) for a in inputs]
    y = fn(*ts)
    y.backward(to_torch(dy))
    return from_torch(y), [from_torch(t.grad) for t in ts]


def rel_err(a, b):
    """max |a - b| / max |b|: the relative error of `a` against reference `b`."""
    a, b = np.asarray(to_numpy(a), dtype=np.float64), np.asarray(to_numpy(b), dtype=np.float64)
    assert a.shape == b.shape, f"shapes differ: {a.shape} vs {b.shape}"
    scale = np.abs(b).max() if b.size else 0.0
    return float(np.abs(a - b).max() / scale) if scale > 0 else float(np.abs(a - b).max())


# Tolerances of the project's standard: layers against PyTorch.
TOL = {np.float64: 1e-10, np.float32: 1e-4}
