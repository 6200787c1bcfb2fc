"""The array-module switch: one choice of where new arrays live, nothing hidden."""

import os
import subprocess
import sys

import numpy as np
import pytest

import stylelab
from stylelab import backend, layers


def test_numpy_is_the_default_and_use_returns_the_module(monkeypatch):
    monkeypatch.delenv("STYLELAB_BACKEND", raising=False)
    backend._current = None
    assert stylelab.backend_name() == "numpy"
    assert stylelab.use("numpy") is np
    assert stylelab.array_module() is np
    assert isinstance(stylelab.asarray([1.0, 2.0]), np.ndarray)


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(ValueError, match=r"unknown backend 'torch': choose one of 'numpy', 'cupy'"):
        stylelab.use("torch")


def test_environment_variable_chooses_the_backend():
    env = dict(os.environ, STYLELAB_BACKEND="numpy")
    code = "import stylelab; print(stylelab.backend_name())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "numpy"


def test_a_bad_environment_variable_names_itself_in_the_error():
    env = dict(os.environ, STYLELAB_BACKEND="tpu")
    code = "import stylelab; stylelab.backend_name()"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode != 0 and "unknown backend 'tpu'" in out.stderr


def test_importing_stylelab_does_not_import_cupy():
    code = "import sys, stylelab, stylelab.layers; print('cupy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_choosing_cupy_without_a_gpu_is_one_clear_error():
    try:
        import cupy  # noqa: F401
        if cupy.cuda.runtime.getDeviceCount() > 0:
            pytest.skip("CuPy and a GPU are present: the error cannot happen here")
    except Exception:
        pass
    with pytest.raises(stylelab.BackendError, match=r"^backend 'cupy' needs") as info:
        stylelab.use("cupy")
    assert "\n" not in str(info.value)
    assert stylelab.backend_name() != "cupy"  # a failed choice changes nothing


def test_layers_follow_their_inputs_not_the_switch(xp, rng):
    # Arrays made on one backend stay there, whatever use() says afterwards.
    x = xp.asarray(rng.standard_normal((1, 4, 4, 2)).astype(np.float32))
    stylelab.use("numpy")
    y, _ = layers.relu_forward(x)
    assert stylelab.get_array_module(y) is xp
    assert isinstance(stylelab.to_numpy(y), np.ndarray)


def test_asarray_puts_data_on_the_chosen_backend(xp):
    a = stylelab.asarray(np.arange(3.0), dtype=np.float32)
    assert stylelab.get_array_module(a) is xp and a.dtype == np.float32
