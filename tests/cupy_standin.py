"""A stand-in for CuPy, on the CPU: a test instrument, not a backend.

No GPU has been lent to this project, so CuPy itself never runs here. This
module behaves as CuPy does where CuPy differs from NumPy in ways that break
code written for NumPy alone:

* its arrays refuse implicit conversion to NumPy: ``np.asarray(a)``, SciPy,
  h5py and Pillow all call ``__array__``, which raises TypeError as CuPy's
  does. ``a.get()`` and :func:`asnumpy` are the explicit way to the host;
  :func:`asarray` (and ``array``) the explicit way back.
* they refuse to mix with NumPy arrays in one operation (``a + numpy_array``,
  ``matmul(a, numpy_array)``, ``a[...] = numpy_array``), as CuPy does.
* the module offers only names CuPy's documented API offers (``ALLOWED``,
  taken from CuPy's reference, its "Comparison Table" of NumPy / CuPy APIs,
  https://docs.cupy.dev/en/stable/reference/comparison.html, and its
  ``cupy.linalg``, ``cupy.lib.stride_tricks`` and ``cupy.cuda`` pages): a
  NumPy-only function fails the test that reaches it, and so does a NumPy
  function handed a stand-in array (``np.foo(a)`` dispatches through
  ``__array_function__``, which only knows the allowed names).
* reductions give 0-d arrays, not Python or NumPy scalars; ``float(a)`` is
  the explicit conversion.

Underneath, every array is a NumPy array, so results are NumPy's, bit for
bit. :func:`install` registers it with :mod:`stylelab.backend` as
``"standin"``, so ``stylelab.use("standin")`` selects it -- in tests only.
"""

import sys
import types

import numpy as np

NAME = "cupy_standin"

# cupy.* names (module level) from CuPy's comparison table, the ones NumPy code
# plausibly reaches for; dtypes and constants too.
ALLOWED = set("""
abs absolute add all allclose amax amin angle any append arange arccos arccosh arcsin arcsinh
arctan arctan2 arctanh argmax argmin argpartition argsort argwhere around array array_equal
array_split asanyarray asarray ascontiguousarray asfortranarray atleast_1d atleast_2d
atleast_3d average bincount bitwise_and bitwise_not bitwise_or bitwise_xor broadcast_arrays
broadcast_to cbrt ceil clip column_stack concatenate copy copysign copyto corrcoef cos cosh
count_nonzero cov cross cumprod cumsum deg2rad degrees diag diagonal diff divide dot dsplit
dstack einsum empty empty_like equal exp exp2 expand_dims expm1 eye fabs fill_diagonal flip
fliplr flipud float_power floor floor_divide fmax fmin fmod frexp full full_like gcd greater
greater_equal histogram hsplit hstack hypot identity imag inner invert isclose iscomplex
isfinite isinf isnan isreal isscalar kron lcm ldexp left_shift less less_equal linspace log
log10 log1p log2 logaddexp logaddexp2 logical_and logical_not logical_or logical_xor
logspace matmul max maximum mean median meshgrid min minimum mod modf moveaxis multiply
nan_to_num nanargmax nanargmin nancumsum nanmax nanmean nanmin nanstd nansum nanvar ndim
negative nextafter nonzero not_equal ones ones_like outer pad percentile place positive
power prod ptp put putmask quantile rad2deg radians ravel real reciprocal remainder repeat
reshape resize right_shift rint roll rollaxis rot90 round searchsorted select shape sign
signbit sin sinc sinh size sort split sqrt square squeeze stack std subtract sum swapaxes
take take_along_axis tan tanh tensordot tile trace transpose trapz tri tril triu true_divide
trunc unique unravel_index var vdot vsplit vstack where zeros zeros_like
ndarray dtype finfo iinfo result_type can_cast promote_types common_type
bool_ int8 int16 int32 int64 uint8 uint16 uint32 uint64 float16 float32 float64
complex64 complex128 intp uintp newaxis pi e inf nan euler_gamma
""".split())
SUBMODULES = {
    "linalg": set("cholesky det eigh eigvalsh inv lstsq matrix_power matrix_rank norm pinv qr "
                  "slogdet solve svd tensorinv tensorsolve".split()),
    "lib.stride_tricks": {"as_strided", "broadcast_to"},
}
# CuPy's ndarray methods and attributes (its "Multi-Dimensional Array" page).
METHODS = set("""
all any argmax argmin argpartition argsort astype clip compress conj conjugate copy cumprod
cumsum diagonal dot dump dumps fill flatten get item max mean min nonzero partition prod put
ravel repeat reshape round searchsorted sort squeeze std sum swapaxes take tofile tolist
trace transpose var view
T base data device dtype flags flat imag itemsize nbytes ndim real shape size strides
""".split())
# The functions that take host data: the explicit bridge to the device.
TRANSFERS = {"asarray", "array", "asanyarray"}


def _refuse(what):
    raise TypeError(f"Unsupported type {what} (the stand-in device, like CuPy, does not mix "
                    f"NumPy arrays into device operations: transfer them with asarray first)")


def _unwrap(value, transfer=False):
    """Stand-in arrays -> their NumPy arrays; NumPy arrays refused unless `transfer`."""
    if isinstance(value, ndarray):
        return value._a
    if isinstance(value, np.ndarray):
        if not transfer:
            _refuse("<class 'numpy.ndarray'>")
        return value
    if isinstance(value, (list, tuple)):
        return type(value)(_unwrap(v, transfer) for v in value)
    return value


def _wrap(value, out=None):
    if out is not None and value is _unwrap(out):
        return out
    if isinstance(value, np.ndarray):
        return ndarray(value)
    if isinstance(value, np.generic):
        return ndarray(np.asarray(value))              # CuPy reductions give 0-d arrays
    if isinstance(value, tuple):
        return tuple(_wrap(v) for v in value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


def _call(func, args, kwargs, transfer=False):
    out = kwargs.get("out")
    if isinstance(out, tuple) and len(out) == 1:       # a ufunc's out=(array,)
        out = out[0]
    raw_args = _unwrap(args, transfer)
    raw_kwargs = {k: _unwrap(v, transfer) for k, v in kwargs.items()}
    return _wrap(func(*raw_args, **raw_kwargs), out if isinstance(out, ndarray) else None)


class ndarray:
    """A device array: a NumPy array that will not be taken for one."""

    __slots__ = ("_a",)
    __hash__ = None

    def __init__(self, a):
        self._a = a

    def get(self):
        """The array on the host (a copy), as ``cupy.ndarray.get``."""
        return self._a.copy()

    def __array__(self, *args, **kwargs):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. Please use "
                        "`.get()` to construct a NumPy array explicitly.")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return _call(getattr(ufunc, method), inputs, kwargs)

    def __array_function__(self, func, types_, args, kwargs):
        if func.__name__ not in ALLOWED:
            return NotImplemented                     # NumPy then raises TypeError
        return _call(func, args, kwargs)

    def __getattr__(self, name):
        if name not in METHODS:
            raise AttributeError(f"cupy.ndarray has no attribute {name!r} (the stand-in offers "
                                 f"CuPy's documented ndarray API only)")
        value = getattr(self._a, name)
        if callable(value):
            return lambda *args, **kwargs: _call(value, args, kwargs)
        return _wrap(value)

    def __getitem__(self, key):
        return _wrap(self._a[_unwrap(key)])

    def __setitem__(self, key, value):
        self._a[_unwrap(key)] = _unwrap(value)

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        return (_wrap(v) for v in self._a)

    def __bool__(self):
        return bool(self._a)

    def __float__(self):
        return float(self._a)

    def __int__(self):
        return int(self._a)

    def __index__(self):
        return self._a.__index__()

    def __repr__(self):
        return "array(" + np.array2string(self._a, separator=", ") + ", device='stand-in')"


def _operator(name):
    def op(self, *args):
        return _wrap(getattr(self._a, name)(*_unwrap(args)))
    op.__name__ = name
    return op


def _in_place(name):
    def op(self, other):
        getattr(self._a, name)(_unwrap(other))
        return self
    op.__name__ = name
    return op


for _name in ("add sub mul truediv floordiv mod pow matmul and or xor lshift rshift "
              "radd rsub rmul rtruediv rfloordiv rmod rpow rmatmul rand ror rxor "
              "lt le gt ge eq ne neg pos abs invert").split():
    setattr(ndarray, f"__{_name}__", _operator(f"__{_name}__"))
for _name in "iadd isub imul itruediv ifloordiv imod ipow iand ior ixor".split():
    setattr(ndarray, f"__{_name}__", _in_place(f"__{_name}__"))


class _Module(types.ModuleType):
    """A module offering NumPy's functions under CuPy's names only."""

    def __init__(self, name, source, allowed):
        super().__init__(name)
        self._source, self._allowed = source, allowed

    def __getattr__(self, name):
        if name.startswith("__") or name not in self._allowed:
            raise AttributeError(f"module 'cupy' has no attribute {name!r} (the stand-in offers "
                                 f"CuPy's documented API only)")
        value = getattr(self._source, name)
        if isinstance(value, type) or not callable(value) or isinstance(value, np.dtype):
            return value                               # dtypes, constants
        if isinstance(value, np.ufunc):
            return _Ufunc(value)
        transfer = name in TRANSFERS
        return lambda *args, **kwargs: _call(value, args, kwargs, transfer)


class _Ufunc:
    """A ufunc and its methods (``add.at``, ``maximum.reduce``), for stand-in arrays."""

    def __init__(self, ufunc):
        self._u = ufunc
        self.__name__ = ufunc.__name__

    def __call__(self, *args, **kwargs):
        return _call(self._u, args, kwargs)

    def __getattr__(self, name):
        method = getattr(self._u, name)
        return lambda *args, **kwargs: _call(method, args, kwargs)


class _Device:
    def __init__(self, *_):
        pass

    def synchronize(self):
        """Nothing runs asynchronously here; CuPy's timers must still call it."""


def _module():
    mod = _Module(NAME, np, ALLOWED)
    mod.ndarray = ndarray
    mod.asnumpy = lambda a: a.get() if isinstance(a, ndarray) else np.asarray(a)
    mod.get_array_module = lambda *arrays: mod if any(isinstance(a, ndarray) for a in arrays) else np
    mod.linalg = _Module(NAME + ".linalg", np.linalg, SUBMODULES["linalg"])
    mod.lib = types.SimpleNamespace(stride_tricks=_Module(
        NAME + ".lib.stride_tricks", np.lib.stride_tricks, SUBMODULES["lib.stride_tricks"]))
    mod.cuda = types.SimpleNamespace(Device=_Device, runtime=types.SimpleNamespace(
        getDeviceCount=lambda: 1), Stream=types.SimpleNamespace(null=_Device()))
    return mod


ndarray.__module__ = NAME


def install():
    """Register the stand-in with stylelab's backend as ``"standin"`` (idempotent); return the module."""
    from stylelab import backend
    if NAME not in sys.modules:
        sys.modules[NAME] = _module()
    backend.register_device("standin", lambda: sys.modules[NAME], NAME)
    return sys.modules[NAME]
