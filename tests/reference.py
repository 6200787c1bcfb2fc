"""The bridge to PyTorch, the reference framework: the one place layouts change.

stylelab is channels-last: activations (N, H, W, C), filters (F, K, K, C).
PyTorch is channels-first: (N, C, H, W) and (F, C, K, K). The same axis
permutation (0, 3, 1, 2) maps both, so one pair of helpers serves every test.
"""

import numpy as np
import torch

from stylelab import get_array_module, to_numpy


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


def check_gradients(grads, refs, tol, what=""):
    """Every gradient in `grads` against PyTorch's `refs` (dicts of the same keys).

    Each must agree to `tol` relative to its reference. Where the reference is
    rounding noise (a bias right before an instance norm cannot change the
    output: both frameworks give ~1e-16 of the others), ours must be noise too:
    within ``10 * tol`` of the largest gradient.
    """
    assert set(grads) == set(refs), (what, sorted(set(grads) ^ set(refs)))
    scale = max(float(np.abs(np.asarray(to_numpy(r))).max()) for r in refs.values())
    for k, g in grads.items():
        ref = np.asarray(to_numpy(refs[k]))
        if np.abs(ref).max() > tol * scale:
            assert rel_err(g, ref) <= tol, (what, k)
        else:
            assert np.abs(np.asarray(to_numpy(g)) - ref).max() <= 10 * tol * scale, (what, k)


def check_layer(forward, backward, torch_fn, inputs, rng, tol=None, forward_tol=None):
    """A layer's forward pass and every gradient against the same function in PyTorch.

    Parameters
    ----------
    forward : callable
        ``forward(*inputs) -> (y, cache)``, stylelab's layout.
    backward : callable
        ``backward(dy, cache)``: one gradient per input (an array if one input).
    torch_fn : callable
        The same layer on channels-first tensors.
    inputs : list of arrays
        On any backend, one dtype; float64 checks use the project's 1e-10.
    rng : numpy Generator
        Draws the output gradient.
    tol : float, optional
        Default: ``TOL[dtype]``.
    forward_tol : float, optional
        The forward pass's own bound (0 for layers that only copy); default `tol`.

    Returns
    -------
    y, grads
    """
    dtype = inputs[0].dtype
    tol = TOL[dtype.type] if tol is None else tol
    y, cache = forward(*inputs)
    dy = get_array_module(y).asarray(rng.standard_normal(y.shape).astype(dtype))
    grads = backward(dy, cache)
    grads = grads if isinstance(grads, tuple) else (grads,)
    y_ref, refs = run_torch(torch_fn, list(inputs), dy)
    assert y.shape == y_ref.shape and y.dtype == dtype
    assert rel_err(y, y_ref) <= (tol if forward_tol is None else forward_tol), "forward"
    assert len(grads) == len(inputs)
    for i, (g, ref, a) in enumerate(zip(grads, refs, inputs)):
        assert g.shape == a.shape and g.dtype == dtype, i
        assert rel_err(g, ref) <= tol, f"gradient {i}"
    return y, grads
