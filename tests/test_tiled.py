"""The transformation network over tiles (stylelab.nets.tiled) equals it whole, in less memory."""

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from stylelab.files.layouts import SOURCES, transform_net
from stylelab.files.model_file import save_model
from stylelab.nets.tiled import apply_tiled, tiled_inference_bytes
from stylelab.nets.transform import TransformNet

ARCH = "c9s1-8,d16,d32,R32x2,u16,u8,c9s1-3"

NETWORKS = {
    "stylelab's (reflect, nearest)": lambda dt: TransformNet(ARCH, seed=1, dtype=dt),
    "transposed convs": lambda dt: TransformNet(ARCH, seed=2, dtype=dt, upsample="transpose"),
    "affine norms": lambda dt: TransformNet(ARCH, seed=3, dtype=dt, norm="affine"),
    "zero padding": lambda dt: transform_net(ARCH, dtype=dt, padding="zeros"),
    "TensorFlow's (SAME, transposed, last norm)": lambda dt: transform_net(
        ARCH, dtype=dt, **SOURCES["tensorflow"]),
    "pytorch/examples'": lambda dt: transform_net(ARCH, dtype=dt, **SOURCES["pytorch"]),
    "super-resolution x4": lambda dt: TransformNet("c9s1-8,R8x2,u8,u8,c9s1-3", seed=4, dtype=dt),
}


@pytest.mark.parametrize("name", NETWORKS)
def test_tiled_equals_whole_in_float64_for_odd_sizes_and_tiles_that_do_not_divide(name):
    net = NETWORKS[name](np.float64)
    rng = np.random.default_rng(25)
    for shape in [(37, 53), (29, 30), (40, 32)]:
        img = rng.random((*shape, 3))
        whole = net.apply(img)
        for tile in (5, 13, 64):
            tiled = apply_tiled(net, img, tile)
            assert tiled.shape == whole.shape
            err = np.abs(tiled - whole).max() / np.abs(whole).max()
            assert err <= 1e-10, (shape, tile, err)


def test_tiled_float32_pictures_are_within_one_level():
    net = NETWORKS["TensorFlow's (SAME, transposed, last norm)"](np.float32)
    img = np.random.default_rng(1).random((75, 98, 3)).astype(np.float32)
    whole = np.round(np.clip(net.apply(img), 0, 1) * 255)
    tiled = np.round(np.clip(apply_tiled(net, img, 24), 0, 1) * 255)
    assert np.abs(whole - tiled).max() <= 1


def test_spilled_activations_give_the_same_numbers_and_leave_no_file(tmp_path):
    net = NETWORKS["stylelab's (reflect, nearest)"](np.float32)
    img = np.random.default_rng(2).random((45, 61, 3)).astype(np.float32)
    spilled = apply_tiled(net, img, 16, spill=str(tmp_path))
    assert isinstance(spilled.base, np.memmap) or isinstance(spilled, np.memmap)
    assert np.array_equal(spilled, apply_tiled(net, img, 16))
    del spilled
    assert os.listdir(tmp_path) == []


def test_johnsons_torch7_networks_are_refused_in_one_line():
    net = transform_net(ARCH, dtype=np.float32, **SOURCES["torch7"])
    with pytest.raises(ValueError, match="does not take Johnson's Torch7 networks yet"):
        apply_tiled(net, np.zeros((96, 96, 3), np.float32), 32)


def test_stylize_and_upscale_tile_on_the_command_line(tmp_path):
    rng = np.random.default_rng(3)
    Image.fromarray(rng.integers(0, 256, (70, 90, 3), dtype=np.uint8)).save(tmp_path / "p.png")
    save_model(tmp_path / "style.h5", NETWORKS["stylelab's (reflect, nearest)"](np.float32),
               {"task": "style"})
    save_model(tmp_path / "sr.h5", NETWORKS["super-resolution x4"](np.float32),
               {"task": "super-resolution"})
    for argv in (["stylize", "--model", tmp_path / "style.h5", tmp_path / "p.png", "--out"],
                 ["upscale", "--model", tmp_path / "sr.h5", tmp_path / "p.png"]):
        pictures = []
        for extra in ([], ["--tile", 20]):
            out = tmp_path / f"{argv[0]}{len(extra)}.png"
            r = subprocess.run([sys.executable, "-m", "stylelab", *map(str, argv), str(out),
                                *map(str, extra)], capture_output=True, text=True)
            assert r.returncode == 0, r.stderr
            pictures.append(np.asarray(Image.open(out), dtype=int))
        assert pictures[0].shape == pictures[1].shape
        assert np.abs(pictures[0] - pictures[1]).max() <= 1


PEAK = r"""
import resource, sys
import numpy as np
from stylelab.files.layouts import SOURCES, transform_net
from stylelab.nets.tiled import apply_tiled
net = transform_net("c9s1-32,d64,d128,R128x5,u64,u32,c9s1-3", dtype=np.float32,
                    **SOURCES["tensorflow"])
img = np.random.default_rng(0).random((1200, 1600, 3)).astype(np.float32)
tile = int(sys.argv[1])
y = apply_tiled(net, img, tile) if tile else net.apply(img)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def test_at_1600x1200_tiles_of_256_need_at_most_0_6_of_the_untiled_memory():
    """lengstrom's network (random weights, its shape and layout): each run in a process of
    its own, the whole process's peak resident memory compared."""
    peaks = []
    for tile in (0, 256):
        r = subprocess.run([sys.executable, "-c", PEAK, str(tile)], capture_output=True,
                           text=True, env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
        assert r.returncode == 0, r.stderr
        peaks.append(int(r.stdout))
    assert peaks[1] <= 0.6 * peaks[0], peaks


def test_the_estimate_follows_the_tile():
    net = transform_net("c9s1-32,d64,d128,R128x5,u64,u32,c9s1-3", dtype=np.float32,
                        **SOURCES["tensorflow"])
    small, large = (tiled_inference_bytes(net, 4000, 6000, t) for t in (128, 1024))
    assert small < large < net.inference_bytes(4000, 6000)
