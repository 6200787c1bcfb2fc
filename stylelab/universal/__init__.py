"""Li et al. 2017, *Universal Style Transfer via Feature Transforms*: any style, no training per style.

* ``wct``: the whitening and colouring transforms (and AdaIN), on features.
* ``cascade``: :func:`universal_transfer`, the coarse-to-fine cascade from
  ``relu5_1`` to ``relu1_1``, decoding each level with a trained decoder
  (:mod:`stylelab.nets.decoder`) or by inverting the features with L-BFGS.

::

    from stylelab.universal import universal_transfer
"""

from .cascade import UniversalResult, load_decoders, universal_transfer

__all__ = ["universal_transfer", "UniversalResult", "load_decoders"]
