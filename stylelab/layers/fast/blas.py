"""Matrix products for the hot path: one BLAS for all of them, and ``out += a @ b`` in place.

On NumPy the products go to BLAS ``gemm`` through SciPy, which can add into
an existing array (``beta = 1``) -- what :mod:`stylelab.layers.fast.shifted`
needs -- and takes transposed arrays as they are (``trans`` flags) instead
of copying them. Sending *every* product of an evaluation there matters too:
NumPy and SciPy each bring their own OpenBLAS, and two thread pools that
take turns on two cores spend their time waiting for each other.

On other backends (CuPy) these are ``xp.matmul(a, b, out=out)`` (no
temporary) and ``out += a @ b``.
"""

from ...backend import get_array_module


def _blas_gemm(*arrays):
    """SciPy's gemm for these arrays' dtype, or None when BLAS does not apply."""
    xp = get_array_module(*arrays)
    dtype = arrays[0].dtype
    if xp.__name__ != "numpy" or dtype.char not in "fd" or any(
            a.dtype != dtype or a.ndim != 2 for a in arrays):
        return None
    from scipy.linalg import get_blas_funcs
    return get_blas_funcs("gemm", arrays)


def _column_major(m):
    """``(arr, trans)`` with `arr` Fortran-contiguous and ``op(arr) == m``: no copy if avoidable."""
    if m.flags.f_contiguous:
        return m, 0
    if m.flags.c_contiguous:
        return m.T, 1
    return m.copy(order="F"), 0


def _gemm_args(a, b):
    # Row-major C = a @ b is column-major C^T = b^T @ a^T.
    bt, trans_b = _column_major(b.T)
    at, trans_a = _column_major(a.T)
    return bt, at, trans_b, trans_a


def matmul(a, b, out=None):
    """``a @ b`` for 2-D arrays (or a batch of them, looped), C-contiguous result.

    Parameters
    ----------
    a : ndarray of shape (..., M, K)
    b : ndarray of shape (..., K, N)
    out : ndarray of shape (M, N), optional
        2-D only: write the product here.

    Returns
    -------
    ndarray of shape (..., M, N)
    """
    if out is not None:
        return _gemm_into(a, b, out, beta=0.0)
    if a.ndim == 3 and b.ndim == 3 and _blas_gemm(a[0], b[0]) is not None:
        xp = get_array_module(a, b)
        out = xp.empty((a.shape[0], a.shape[1], b.shape[2]), dtype=a.dtype)
        for i in range(a.shape[0]):
            out[i] = matmul(a[i], b[i])
        return out
    gemm = _blas_gemm(a, b)
    if gemm is None:
        return a @ b
    bt, at, trans_b, trans_a = _gemm_args(a, b)
    return gemm(1.0, bt, at, trans_a=trans_b, trans_b=trans_a).T


def gemm_accumulate(a, b, out):
    """``out += a @ b`` without a temporary for ``a @ b``.

    Parameters
    ----------
    a : ndarray of shape (L, K)
    b : ndarray of shape (K, F)
    out : ndarray of shape (L, F), updated in place

    Returns
    -------
    out
    """
    return _gemm_into(a, b, out, beta=1.0)


def _gemm_into(a, b, out, beta):
    """``out = a @ b + beta * out``, in place (beta is 0 or 1)."""
    gemm = _blas_gemm(a, b, out)
    if gemm is None or not out.flags.c_contiguous:
        if beta:
            out += matmul(a, b)
        else:               # the module's own matmul writes into out: no temporary
            get_array_module(a, b, out).matmul(a, b, out=out)
        return out
    bt, at, trans_b, trans_a = _gemm_args(a, b)
    result = gemm(1.0, bt, at, beta=beta, c=out.T, overwrite_c=True,
                  trans_a=trans_b, trans_b=trans_a)
    if not get_array_module(out).shares_memory(result, out):
        out[...] = result.T  # BLAS had to copy (an unusual layout): keep the answer
    return out
