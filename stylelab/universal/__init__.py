"""Li et al. 2017, *Universal Style Transfer via Feature Transforms*: any style, no training per style.

* ``wct``: the whitening and colouring transforms, on features.
* ``adain``: Huang & Belongie's AdaIN -- its transform (:func:`adain.adain`,
  each channel's mean and std: the diagonal of what WCT matches) and the
  one-pass style transfer with their released networks.
* ``cascade``: :func:`universal_transfer`, the coarse-to-fine cascade from
  ``relu5_1`` to ``relu1_1``, decoding each level with a trained decoder
  (:mod:`stylelab.nets.decoder`) or by inverting the features with L-BFGS.

::

    from stylelab.universal import universal_transfer
"""

import functools
import warnings

from . import adain as _adain_module
from . import wct as _wct_module
from .cascade import UniversalResult, load_decoders, universal_transfer


@functools.wraps(_adain_module.adain)
def _old_adain(*args, **kwargs):
    warnings.warn("stylelab.universal.wct.adain moved: use stylelab.universal.adain.adain",
                  DeprecationWarning, stacklevel=2)
    return _adain_module.adain(*args, **kwargs)


# wct.adain, where the AdaIN transform lived until this release: kept one release, warned.
# (It is set here because wct cannot import adain, which builds on it.)
_wct_module.adain = _old_adain
_wct_module.ADAIN_CONVENTIONS = _adain_module.ADAIN_CONVENTIONS

__all__ = ["universal_transfer", "UniversalResult", "load_decoders"]
