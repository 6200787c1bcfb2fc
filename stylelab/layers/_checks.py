"""Input checks shared by the layers: one-line errors that name shapes, dtypes and devices."""

from ..backend import get_array_module


def check_float(where, name, a):
    """Refuse non-floating arrays (images must be converted to float first)."""
    if a.dtype.kind != "f":
        raise ValueError(f"{where}: {name} has dtype {a.dtype}, expected a float "
                         f"dtype (float32, or float64 for checks); convert "
                         f"integer images with x.astype('float32') / 255")


def check_activation(where, x):
    """Refuse anything that is not a float batch of shape (N, H, W, C)."""
    if x.ndim != 4:
        raise ValueError(f"{where}: x must have shape (N, H, W, C), got shape "
                         f"{tuple(x.shape)} ({x.ndim} dimensions)")
    check_float(where, "x", x)


def check_same_device(where, **arrays):
    """Refuse arrays of two array modules (NumPy and CuPy): CuPy would fail deep inside."""
    modules = {name: get_array_module(a).__name__ for name, a in arrays.items()}
    if len(set(modules.values())) > 1:
        listed = ", ".join(f"{n} is a {m} array" for n, m in modules.items())
        raise TypeError(f"{where}: inputs on two devices ({listed}); put them on one with "
                        f"stylelab.asarray (or stylelab.to_numpy)")


def check_same_dtype(where, **arrays):
    """Refuse arrays of two devices or two dtypes: mixing would fail, or silently upcast the result."""
    check_same_device(where, **arrays)
    dtypes = {name: a.dtype for name, a in arrays.items()}
    if len(set(dtypes.values())) > 1:
        listed = ", ".join(f"{n} is {d}" for n, d in dtypes.items())
        raise ValueError(f"{where}: dtypes differ ({listed}); cast them to one "
                         f"dtype so the result is not silently upcast")
