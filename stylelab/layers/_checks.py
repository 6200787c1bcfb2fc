"""Input checks shared by the layers: one-line ``ValueError``s that name shapes."""


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


def check_same_dtype(where, **arrays):
    """Refuse mixed dtypes: mixing would silently upcast the result."""
    dtypes = {name: a.dtype for name, a in arrays.items()}
    if len(set(dtypes.values())) > 1:
        listed = ", ".join(f"{n} is {d}" for n, d in dtypes.items())
        raise ValueError(f"{where}: dtypes differ ({listed}); cast them to one "
                         f"dtype so the result is not silently upcast")
