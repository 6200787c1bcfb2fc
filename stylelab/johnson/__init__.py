"""Johnson et al. 2016, *Perceptual Losses for Real-Time Style Transfer and Super-Resolution*.

* ``perceptual``: the feature, style and TV losses through a frozen VGG.
* ``training``: :class:`Trainer`, one Adam step at a time, with checkpoints
  that resume bit for bit.
* ``data``: a folder of photos as a reproducible stream of square crops.
* ``superres``: the degraded inputs of super-resolution, bicubic and PSNR.
* ``tasks``: what a style network, a super-resolution network and a
  decoder (Li et al.) each train on, assembled into a Trainer.

The network itself is :class:`stylelab.nets.transform.TransformNet`.
"""

from .perceptual import PerceptualLoss
from .training import Trainer

__all__ = ["PerceptualLoss", "Trainer"]
