"""stylelab: artistic style transfer from scratch, in NumPy (or CuPy).

>>> import stylelab
>>> from stylelab import layers
"""

from . import layers
from .backend import (BackendError, array_module, asarray, backend_name,
                      get_array_module, to_numpy, use)

__version__ = "0.1.0"

__all__ = ["layers", "use", "backend_name", "array_module", "asarray",
           "get_array_module", "to_numpy", "BackendError", "__version__"]
