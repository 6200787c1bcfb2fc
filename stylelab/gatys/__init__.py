"""Gatys et al. 2015, *A Neural Algorithm of Artistic Style*: optimise an image's pixels.

* ``losses``: content, style (Gram or covariance) and total-variation losses,
  each with its gradient written by hand.
* ``objective``: :class:`GatysObjective`, ``loss, grad = objective(x)``
  through VGG.
* ``stylize``: :func:`stylize`, the whole run (L-BFGS, several styles,
  coarse to fine, original colours).
* ``tiled``: the objective over tiles with halos, in two passes (the same
  loss and gradient, in memory that follows the tile).
* ``color``: keeping the photograph's colours (Gatys et al. 2016).
* ``recipes``: the objective as neural-style, PyTorch's tutorial and the
  paper write it (layers, weights, normalisations), one per VGG.

The objective and the run are this package's API::

    from stylelab.gatys import GatysObjective, stylize
"""

from .objective import CONTENT_LAYERS, STYLE_LAYERS, GatysObjective
from .recipes import RECIPES, default_recipe
from .stylize import INITS, StylizeResult, stylize

__all__ = ["GatysObjective", "stylize", "StylizeResult", "CONTENT_LAYERS", "STYLE_LAYERS",
           "INITS", "RECIPES", "default_recipe"]
