"""stylelab: artistic style transfer from scratch, in NumPy (or CuPy).

The package, from the bottom up (each layer imports only the ones above it
in this list)::

    backend      the one array-module switch: NumPy or CuPy
    layers       the layers as functions with caches -- the lesson
    layers.fast  the same arithmetic, faster: one kernel per case
    nets         VGG (a table of named layers), its fast engine, Johnson's
                 transformation network, Li et al.'s decoders
    optim        L-BFGS (SciPy) and Adam (written here)
    files        images, weight and model files, where weights come from
    gatys        Gatys et al. 2015: optimise an image's pixels
    johnson      Johnson et al. 2016: train a network per style (and super-resolution)
    universal    Li et al. 2017: whitening and colouring, any style
    batch        a folder of photos painted, resumable, on one machine or a Dask cluster
    cli          the ``stylelab`` command: parses, calls the above, reports

>>> import stylelab
>>> from stylelab import layers
>>> layers.conv_output_size(512, 3, stride=2, pad=1)
256
"""

from . import layers
from .backend import (BackendError, array_module, asarray, backend_name,
                      get_array_module, to_numpy, use)

__version__ = "0.1.0"

__all__ = ["layers", "use", "backend_name", "array_module", "asarray",
           "get_array_module", "to_numpy", "BackendError", "__version__"]
