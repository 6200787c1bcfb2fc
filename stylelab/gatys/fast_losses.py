"""The style loss for the fast VGG engine: :func:`stylelab.gatys.losses.style_loss`'s numbers, in kept memory.

A Gatys run evaluates the same losses on the same shapes hundreds of times.
:class:`KeptStyleLoss` computes :func:`~stylelab.gatys.losses.style_loss`
-- ``G = F^T F``, ``E = k sum((G - A)^2)``, ``dE/dF = 4 k F (G - A)`` --
with three differences that only change where the numbers live:

* the products go to the one BLAS the fast kernels use
  (:mod:`stylelab.layers.fast.blas`): NumPy's own would wake a second
  thread pool that takes turns with the first on the same cores;
* the fast engine's features are views into its bordered buffers, so they
  are copied once into a contiguous array (what BLAS takes);
* that copy, ``G`` and the gradient live in arrays kept between calls (fresh
  ones cost a page fault every 4 KiB: at 512 px, 64 MB for ``relu1_1``'s
  gradient alone), as long as they fit the network's ``scratch_limit``.

The objective uses it when its network is the fast engine;
``tests/test_gatys.py`` holds it to the readable loss.
"""

from ..backend import get_array_module
from ..layers.fast.blas import matmul
from .losses import style_scale


class KeptStyleLoss:
    """``value, grad = loss(name, f, a)``: one layer's style loss, its arrays kept per `name`.

    Parameters
    ----------
    statistic : {"gram", "covariance"}
    normalisation : {"paper", "mse"}
    limit : int
        Bytes the kept arrays may take; above it each call makes new ones.
    """

    def __init__(self, statistic="gram", normalisation="paper", limit=1 << 30):
        self.statistic, self.normalisation, self.limit = statistic, normalisation, limit
        self._kept = {}

    def __call__(self, name, f, a):
        """The loss of features `f` (1, H, W, C) against the target `a` (1, C, C) at layer `name`.

        Returns ``(value, grad)`` as :func:`~stylelab.gatys.losses.style_loss`;
        `grad` is overwritten by the next call for the same layer.
        """
        xp = get_array_module(f)
        n, h, w, c = f.shape
        if n != 1 or a.shape[-2:] != (c, c):
            raise ValueError(f"the kept style loss takes one image's features and a (C, C) "
                             f"target, got {tuple(f.shape)} and {tuple(a.shape)}")
        fm = self._array(name, "features", (h * w, c), f.dtype, xp)
        fm.reshape(f.shape)[...] = f        # f.reshape would copy the view first
        if self.statistic == "covariance":
            fm -= fm.mean(axis=0)
        k = style_scale(c, h * w, self.normalisation)
        diff = matmul(fm.T, fm, out=self._array(name, "gram", (c, c), f.dtype, xp))
        diff -= a.reshape(c, c)
        value = k * float((diff * diff).sum())
        diff *= f.dtype.type(4.0 * k)
        grad = matmul(fm, diff, out=self._array(name, "grad", (h * w, c), f.dtype, xp))
        if self.statistic == "covariance":
            grad -= grad.mean(axis=0)
        return value, grad.reshape(f.shape)

    def _array(self, name, role, shape, dtype, xp):
        key = (name, role)
        buf = self._kept.get(key)
        if buf is None or buf.shape != shape or buf.dtype != dtype:
            buf = xp.empty(shape, dtype)
            kept = sum(b.nbytes for k, b in self._kept.items() if k != key)
            if kept + buf.nbytes <= self.limit:
                self._kept[key] = buf
        return buf
