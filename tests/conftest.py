"""Shared fixtures: the backend each layer test runs on, and a seeded RNG."""

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


@pytest.fixture(params=["numpy", "cupy"])
def xp(request):
    """The array module a test runs on: NumPy always, CuPy where a GPU is."""
    if request.param == "cupy":
        return _cupy_or_skip()
    return np


@pytest.fixture
def rng():
    return np.random.default_rng(20150826)  # the day Gatys et al. appeared
