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
    "Torch7's (input pad, unpadded residual blocks)": lambda dt: transform_net(
        ARCH, dtype=dt, **SOURCES["torch7"]),
    "super-resolution x4": lambda dt: TransformNet("c9s1-8,R8x2,u8,u8,c9s1-3", seed=4, dtype=dt),
}


@pytest.mark.parametrize("name", NETWORKS)
def test_tiled_equals_whole_in_float64_for_odd_sizes_and_tiles_that_do_not_divide(name):
    net = NETWORKS[name](np.float64)
    rng = np.random.default_rng(25)
    for shape in [(47, 53), (41, 60), (64, 44)]:
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


def test_stylize_and_upscale_tile_on_the_command_line(tmp_path):
    rng = np.random.default_rng(3)
    Image.fromarray(rng.integers(0, 256, (70, 90, 3), dtype=np.uint8)).save(tmp_path / "p.png")
    save_model(tmp_path / "style.h5", NETWORKS["stylelab's (reflect, nearest)"](np.float32),
               {"task": "style"})
    save_model(tmp_path / "sr.h5", NETWORKS["super-resolution x4"](np.float32),
               {"task": "super-resolution"})
    assert_tiling_changes_at_most_a_level(["stylize", "--model", tmp_path / "style.h5",
                                           tmp_path / "p.png", "--out"], 20, tmp_path / "s")
    assert_tiling_changes_at_most_a_level(["upscale", "--model", tmp_path / "sr.h5",
                                           tmp_path / "p.png"], 20, tmp_path / "u")


def assert_tiling_changes_at_most_a_level(argv, tile, stem):
    """The command (its output named last) run whole and with ``--tile``: pictures within one level."""
    pictures = []
    for extra in ([], ["--tile", tile]):
        out = f"{stem}{len(extra)}.png"
        r = subprocess.run([sys.executable, "-m", "stylelab", *map(str, argv), out,
                            *map(str, extra)], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        pictures.append(np.asarray(Image.open(out), dtype=int))
    assert pictures[0].shape == pictures[1].shape
    assert np.abs(pictures[0] - pictures[1]).max() <= 1


PEAK = r"""
import sys
import numpy as np
from stylelab.files.layouts import SOURCES, transform_net
from stylelab.nets.tiled import apply_tiled
net = transform_net("c9s1-32,d64,d128,R128x5,u64,u32,c9s1-3", dtype=np.float32,
                    **SOURCES["tensorflow"])
img = np.random.default_rng(0).random((1200, 1600, 3)).astype(np.float32)
tile = int(sys.argv[1])
y = apply_tiled(net, img, tile) if tile else net.apply(img)
# VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec, so a child of a large test
# process would start from its parent's peak; the new address space's high-water mark does not.
print(next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM")))
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="peak memory is read "
                    "from Linux's /proc/self/status (VmHWM)")
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


@pytest.fixture(scope="module")
def encoders(tmp_path_factory):
    """A random VGG-19 to relu5_1 (zero padding) and a normalised one to relu4_1 (reflection)."""
    from stylelab.files.vgg_h5 import save_random_vgg_h5
    from stylelab.files.weights import load_vgg
    from . import vgg_files
    d = tmp_path_factory.mktemp("encoders")
    save_random_vgg_h5(d / "vgg19.h5", "vgg19", seed=0, upto="relu5_1")
    weights = vgg_files.random_torch_weights("vgg19", seed=9)
    colour = vgg_files.random_colour_map(3)
    vgg_files.write_normalised_t7(d / "vgg_normalised.t7", weights,
                                  (colour[0] / 100, colour[1] / 100), upto="relu4_1")
    return d, {name: load_vgg(d / f, dtype=np.float64) for name, f in
               (("vgg19", "vgg19.h5"), ("normalised", "vgg_normalised.t7"))}


@pytest.mark.parametrize("which, layers", [("vgg19", ["relu1_1", "relu3_1", "relu5_1"]),
                                           ("normalised", ["pool1", "relu4_1"])])
def test_the_encoder_over_tiles_equals_it_whole(encoders, which, layers):
    vgg = encoders[1][which]
    x = np.random.default_rng(5).random((1, 43, 58, 3))
    from stylelab.nets.tiled import vgg_features_tiled
    whole = vgg.forward(x, layers=layers, keep_cache=False)
    whole = {k: v.copy() for k, v in whole.items()}
    for tile in (7, 20):
        tiled = vgg_features_tiled(vgg, x, layers, tile)
        for name in layers:
            err = np.abs(tiled[name] - whole[name]).max() / np.abs(whole[name]).max()
            assert tiled[name].shape == whole[name].shape and err <= 1e-10, (name, tile, err)


def unsaturated(img):
    """The share of pixels strictly inside (0, 1): where a comparison of pictures says anything."""
    return float(((img > 0) & (img < 1)).mean())


@pytest.mark.parametrize("mask", [False, True])
def test_adain_over_tiles_equals_it_whole(encoders, mask):
    from stylelab.universal.adain import adain_transfer
    from stylelab.nets.decoder import make_decoder
    enc = encoders[1]["normalised"]
    dec = make_decoder(4, dtype=np.float64, seed=4)
    rng = np.random.default_rng(6)
    c, s1, s2 = rng.random((56, 72, 3)), rng.random((40, 50, 3)), rng.random((33, 61, 3))
    kw = dict(mask=rng.random((56, 72))) if mask else dict(style_weights=[1, 2])
    whole = adain_transfer(enc, dec, c, [s1, s2], alpha=0.7, preserve_color=True, **kw)
    assert unsaturated(whole.image) > 0.01
    for tile in (9, 24):
        tiled = adain_transfer(enc, dec, c, [s1, s2], alpha=0.7, preserve_color=True,
                               tile=tile, **kw)
        assert np.abs(tiled.features - whole.features).max() <= 1e-8 * np.abs(whole.features).max()
        assert np.abs(tiled.image - whole.image).max() <= 1e-8


@pytest.mark.parametrize("convention", ["stylelab", "official"])
def test_the_wct_cascade_over_tiles_equals_it_whole(encoders, convention):
    from stylelab.nets.decoder import make_decoder
    from stylelab.universal.cascade import universal_transfer
    vgg = encoders[1]["vgg19"]
    decoders = {v: make_decoder(v, dtype=np.float64, seed=v) for v in (1, 2, 3, 4, 5)}
    rng = np.random.default_rng(7)
    c, s1, s2 = rng.random((45, 70, 3)), rng.random((40, 50, 3)), rng.random((37, 61, 3))
    for kw in (dict(), dict(mask=rng.random((45, 70)))):
        whole = universal_transfer(vgg, c, [s1, s2], decoders=decoders, convention=convention,
                                   **kw)
        assert unsaturated(whole.image) > 0.01
        for tile in (11, 32):
            tiled = universal_transfer(vgg, c, [s1, s2], decoders=decoders,
                                       convention=convention, tile=tile, **kw)
            assert np.abs(tiled.image - whole.image).max() <= 1e-8
    # The training-free road: each level's inversion by L-BFGS, its objective over tiles.
    whole = universal_transfer(vgg, c, [s1], levels=(3, 2, 1), iterations=3,
                               convention=convention)
    tiled = universal_transfer(vgg, c, [s1], levels=(3, 2, 1), iterations=3,
                               convention=convention, tile=16)
    assert unsaturated(whole.image) > 0.5 and tiled.evaluations == whole.evaluations
    assert np.abs(tiled.image - whole.image).max() <= 1e-8


def test_adain_and_wct_tile_on_the_command_line(encoders, tmp_path):
    from .test_released import random_decoder_convs, write_decoder_t7
    d, _ = encoders
    rng = np.random.default_rng(8)
    for name, shape in (("c.png", (64, 80, 3)), ("s.png", (40, 48, 3))):
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(tmp_path / name)
    write_decoder_t7(tmp_path / "decoder.t7", 4, random_decoder_convs(4, seed=4))
    argv = ["adain", "--encoder", d / "vgg_normalised.t7", "--decoder", tmp_path / "decoder.t7",
            "--content", tmp_path / "c.png", "--style", tmp_path / "s.png", "--quiet", "--out"]
    assert_tiling_changes_at_most_a_level(argv, 24, tmp_path / "adain")
    argv = ["wct", "--content", tmp_path / "c.png", "--style", tmp_path / "s.png", "--weights",
            d / "vgg19.h5", "--invert", "--levels", "2,1", "--iterations", 3, "--quiet", "--out"]
    assert_tiling_changes_at_most_a_level(argv, 16, tmp_path / "wct")
