"""Shared fixtures: the backend each numeric test runs on, and a seeded RNG.

Every test that takes ``xp`` runs three times: on NumPy, on the CuPy stand-in
(``tests/cupy_standin.py``: CuPy's refusals, on the CPU) and on CuPy where a
GPU is.
"""

import numpy as np
import pytest

import stylelab
from stylelab import backend


@pytest.fixture(autouse=True)
def _restore_backend():
    """Tests may call stylelab.use(); put the one global back afterwards."""
    saved = backend._current
    yield
    backend._current = saved


def _cupy_or_skip():
    try:
        return stylelab.use("cupy")
    except stylelab.BackendError as exc:
        pytest.skip(f"CuPy tests need CuPy and a CUDA GPU: {exc}")


BACKENDS = ["numpy", "standin", "cupy"]


def use_backend(name):
    """Select backend `name` for the test (skipping CuPy without a GPU); its array module."""
    if name == "cupy":
        return _cupy_or_skip()
    if name == "standin":
        from . import cupy_standin
        cupy_standin.install()
    return stylelab.use(name)


@pytest.fixture(params=BACKENDS)
def xp(request):
    """The array module a test runs on: NumPy, the CuPy stand-in, and CuPy where a GPU is."""
    return use_backend(request.param)


@pytest.fixture
def rng():
    return np.random.default_rng(20150826)  # the day Gatys et al. appeared
