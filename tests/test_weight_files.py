"""Malicious, truncated, corrupt and mismatched weight files; the download path on 127.0.0.1."""

import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from stylelab.files.vgg_h5 import read_vgg_file, read_vgg_h5
from stylelab.files.weights import load_vgg
from stylelab.files.convert import convert_vgg
from stylelab.files.download import download_vgg

from . import vgg_files
from .local_server import serve


@pytest.fixture(scope="module")
def weights16():
    return vgg_files.random_torch_weights("vgg16", seed=1)


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pth_that_calls_os_system_is_refused_without_running(tmp_path):
    marker = tmp_path / "pwned"
    torch.save({"features.0.weight": _Evil(marker)}, tmp_path / "evil.pth")
    with pytest.raises(ValueError, match=r"refused to load .*asks for (posix|os)\.system"):
        convert_vgg(str(tmp_path / "evil.pth"), str(tmp_path / "out.h5"))
    assert not marker.exists()
    assert not (tmp_path / "out.h5").exists()


def _no_output(tmp_path):
    return not (tmp_path / "out.h5").exists() and not list(tmp_path.glob(".stylelab-*"))


WRITERS = {
    "zip": (".pth", lambda p, w: vgg_files.write_torchvision(p, "vgg16", w)),
    "legacy": (".pth", lambda p, w: vgg_files.write_torchvision(p, "vgg16", w, legacy=True)),
    "keras": (".h5", lambda p, w: vgg_files.write_keras(p, "vgg16", w)),
    "matconvnet": (".mat", lambda p, w: vgg_files.write_matconvnet(p, "vgg16", w)),
    "caffemodel-v1": (".caffemodel", lambda p, w: vgg_files.write_caffemodel(p, "vgg16", w)),
    "caffemodel": (".caffemodel",
                   lambda p, w: vgg_files.write_caffemodel(p, "vgg16", w, v1=False)),
}


@pytest.mark.parametrize("fmt", WRITERS)
def test_truncated_files_give_a_clear_error_and_no_output(fmt, weights16, tmp_path):
    ext, write = WRITERS[fmt]
    src = tmp_path / f"w{ext}"
    write(src, weights16)
    data = src.read_bytes()
    src.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(ValueError) as info:
        convert_vgg(str(src), str(tmp_path / "out.h5"), convention="torchvision" if
                    ext == ".pth" else None)
    assert str(src) in str(info.value) and "\n" not in str(info.value)
    assert _no_output(tmp_path)


def test_unknown_and_empty_files(tmp_path):
    (tmp_path / "noise.bin").write_bytes(np.random.default_rng(0).bytes(1000))
    (tmp_path / "empty.pth").write_bytes(b"")
    with pytest.raises(ValueError, match="not a VGG weight file this converter knows"):
        convert_vgg(str(tmp_path / "noise.bin"), str(tmp_path / "out.h5"))
    with pytest.raises(ValueError, match="not a VGG weight file"):
        convert_vgg(str(tmp_path / "empty.pth"), str(tmp_path / "out.h5"))
    with pytest.raises(ValueError, match="no such file"):
        convert_vgg(str(tmp_path / "missing.pth"), str(tmp_path / "out.h5"))
    assert _no_output(tmp_path)


def test_a_mismatched_layer_is_named(weights16, tmp_path):
    bad = dict(weights16)
    w, b = bad["conv3_2"]
    bad["conv3_2"] = (w[:, :128], b)  # 128 input channels where VGG-16 has 256
    vgg_files.write_torchvision(tmp_path / "bad.pth", "vgg16", bad)
    with pytest.raises(ValueError, match=r"conv3_2 has weight \(256, 3, 3, 128\).*"
                                         r"vgg16 needs \(256, 3, 3, 256\)"):
        convert_vgg(str(tmp_path / "bad.pth"), str(tmp_path / "out.h5"), convention="caffe")
    few = dict(list(weights16.items())[:5])
    vgg_files.write_keras(tmp_path / "few.h5", "vgg16", few)
    with pytest.raises(ValueError, match="found 5 conv layers, but VGG-16 has 13"):
        convert_vgg(str(tmp_path / "few.h5"), str(tmp_path / "out.h5"))
    assert _no_output(tmp_path)


def test_a_pth_is_never_given_a_guessed_convention(weights16, tmp_path, monkeypatch):
    from stylelab.files import convert
    src = tmp_path / "vgg16-0123abcd.pth"
    vgg_files.write_torchvision(src, "vgg16", weights16)
    with pytest.raises(ValueError, match=r"cannot tell whether .* torchvision's VGG .* or "
                                         r"Caffe's .*--convention caffe or --convention torchvision"):
        convert_vgg(str(src), str(tmp_path / "out.h5"))
    assert _no_output(tmp_path)
    # A published file is known by its digest (the first 8 hex digits, as torch.hub names it):
    # this one stands in for neural-style-pt's VGG-16.
    digest = hashlib.sha256(src.read_bytes()).hexdigest()[:8]
    monkeypatch.setitem(convert.KNOWN_PTH, digest, ("vgg16", "caffe"))
    convert_vgg(str(src), str(tmp_path / "out.h5"))
    f = read_vgg_file(tmp_path / "out.h5")
    assert f["family"] == "caffe" and f["convention"]["channel_order"] == "BGR"
    assert f["convention"]["input_scale"] == 255.0
    with pytest.raises(ValueError, match=r"is caffe's vgg16 \(by its digest\), not torchvision's"):
        convert_vgg(str(src), str(tmp_path / "out2.h5"), convention="torchvision")
    monkeypatch.setitem(convert.KNOWN_PTH, digest, ("vgg19", "torchvision"))
    with pytest.raises(ValueError, match="its digest is that of torchvision's vgg19, but it "
                                         "holds vgg16"):
        convert_vgg(str(src), str(tmp_path / "out2.h5"))
    assert not (tmp_path / "out2.h5").exists()


def _caffe_layer(name, kind, blobs=()):
    P = vgg_files
    body = P.pb_field(1, name.encode()) + P.pb_field(2, kind.encode())
    return P.pb_field(100, body + b"".join(P.pb_field(7, b) for b in blobs))


@pytest.mark.parametrize("case,pattern", [
    ("absurd-length", "declares 4294967295 bytes but its message has"),
    ("wrong-wire-type", "wire type 3"),
    ("blob-shape-lies", r"declares shape \(64, 3, 3, 3\) but holds 10 values"),
    ("unpacked-data", "is not stored packed"),
    ("not-vgg", "found 2 conv layers, but VGG-16 has 13"),
    ("one-blob", "conv layer conv1_1 has 1 blobs"),
    ("no-convs", "no convolution layers"),
])
def test_a_malformed_caffemodel_is_refused_in_one_line(case, pattern, tmp_path):
    P = vgg_files
    w = np.zeros((64, 3, 3, 3), np.float32)
    good = [P.caffe_blob(w), P.caffe_blob(np.zeros(64, np.float32))]
    data = {
        "absurd-length": P.pb_field(1, b"VGG") + P._varint(100 << 3 | 2) + P._varint(2**32 - 1),
        "wrong-wire-type": P._varint(100 << 3 | 3) + b"\x00" * 8,
        "blob-shape-lies": _caffe_layer("conv1_1", "Convolution", [
            P.pb_field(7, P.pb_field(1, bytes([64, 3, 3, 3]))) + P.pb_field(5, bytes(40)),
            good[1]]),
        "unpacked-data": _caffe_layer("conv1_1", "Convolution", [
            P.pb_field(7, P.pb_field(1, bytes([1]))) + P._varint(5 << 3 | 5) + bytes(4), good[1]]),
        "not-vgg": _caffe_layer("conv1_1", "Convolution", good) * 2,
        "one-blob": _caffe_layer("conv1_1", "Convolution", good[:1]),
        "no-convs": _caffe_layer("relu1_1", "ReLU"),
    }[case]
    src = tmp_path / "bad.caffemodel"
    src.write_bytes(data)
    convert_fails_in_one_line(src, pattern, tmp_path)


def convert_fails_in_one_line(src, pattern, tmp_path):
    """`stylelab weights convert SRC` exits 2 with one line naming SRC and matching `pattern`."""
    import re
    res = subprocess.run([sys.executable, "-m", "stylelab", "weights", "convert", str(src),
                          str(tmp_path / "out.h5")], capture_output=True, text=True)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and src.name in res.stderr
    assert re.search(pattern, res.stderr), res.stderr
    assert _no_output(tmp_path)


@pytest.mark.parametrize("case,pattern", [
    ("not-vgg", "module 5 is a pool, but VGG-19 has conv1_2 there"),
    ("no-colour-map", "starts with a 1x1 conv from RGB; this file does not"),
    ("foreign-module", "module 3 is nn.Tanh, which the normalised VGG does not have"),
    ("truncated", "more than the file holds"),
])
def test_a_malformed_normalised_t7_is_refused_in_one_line(case, pattern, tmp_path):
    from . import t7_files
    weights = vgg_files.random_torch_weights("vgg19", seed=3)
    mods = vgg_files.normalised_t7_modules(weights, vgg_files.random_colour_map(1), upto="relu2_1")
    if case == "not-vgg":
        del mods[4:7]                          # conv1_2 (and its padding, ReLU) left out
    elif case == "no-colour-map":
        mods = mods[1:]
    elif case == "foreign-module":
        mods[2] = t7_files.Module("nn.Tanh")
    src = tmp_path / "bad.t7"
    t7_files.write_t7(src, t7_files.Module("nn.Sequential", modules=mods))
    if case == "truncated":
        src.write_bytes(src.read_bytes()[:5000])
    convert_fails_in_one_line(src, pattern, tmp_path)


def test_loading_something_that_is_not_a_converted_file(tmp_path, weights16):
    vgg_files.write_keras(tmp_path / "keras.h5", "vgg16", weights16)
    with pytest.raises(ValueError, match="not a stylelab VGG file"):
        load_vgg(tmp_path / "keras.h5")
    (tmp_path / "x.h5").write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="is not an HDF5 weight file"):
        load_vgg(tmp_path / "x.h5")


def test_the_script_and_the_cli_exit_2_with_one_line(tmp_path):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    (tmp_path / "junk.pth").write_bytes(b"\x80\x02junk")
    for cmd in ([sys.executable, os.path.join(root, "weights", "convert_vgg.py")],
                [sys.executable, "-m", "stylelab", "weights", "convert"]):
        res = subprocess.run(cmd + [str(tmp_path / "junk.pth"), str(tmp_path / "out.h5")],
                             capture_output=True, text=True)
        assert res.returncode == 2, res.stderr
        assert "junk.pth" in res.stderr and "Traceback" not in res.stderr
        assert len(res.stderr.strip().splitlines()) == 1
    assert _no_output(tmp_path)


# -- the download path, against a server on 127.0.0.1 ----------------------

@pytest.fixture(scope="module")
def server(tmp_path_factory, weights16):
    src = tmp_path_factory.mktemp("srv") / "w.pth"
    vgg_files.write_torchvision(src, "vgg16", weights16, legacy=True)
    data = src.read_bytes()
    prefix = hashlib.sha256(data).hexdigest()[:8]
    files = {f"vgg16-{prefix}.pth": data, "vgg16-00000000.pth": data,
             f"broken-{prefix}.pth": data}
    with serve(files) as base:
        yield base, prefix, data


def test_download_converts_into_the_cache(server, tmp_path, monkeypatch, weights16, rng):
    base, prefix, served = server
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = download_vgg("vgg16", url=f"{base}/vgg16-{prefix}.pth", progress=False)
    assert path == str(tmp_path / "stylelab" / "vgg16.h5")
    assert sorted(os.listdir(tmp_path / "stylelab")) == ["vgg16.h5"]
    import h5py
    with h5py.File(path, "r") as f:
        assert f.attrs["source"] == f"vgg16-{prefix}.pth sha256:{hashlib.sha256(served).hexdigest()}"
    arch, weights, convention = read_vgg_h5(path)
    assert convention["channel_order"] == "RGB" and convention["input_scale"] == 1.0
    w, _ = weights16["conv1_1"]
    np.testing.assert_array_equal(weights["conv1_1"][0], w.transpose(0, 2, 3, 1))


@pytest.mark.parametrize("arch,name,pattern", [
    ("vgg16", "vgg16-00000000.pth", "hash mismatch"),
    ("vgg16", "broken-{prefix}.pth", "broke|failed|could not download"),
    # Port 9 on loopback: nothing listens, the connection is refused at once.
    ("vgg19", "http://127.0.0.1:9/vgg19-dcbb9e9d.pth",
     r"Offline\? .*stylelab weights convert vgg19-dcbb9e9d.pth"),
], ids=["hash-mismatch", "broken-midway", "offline"])
def test_a_failed_download_explains_itself_and_leaves_nothing(server, tmp_path, monkeypatch,
                                                              arch, name, pattern):
    base, prefix, _ = server
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    url = name if name.startswith("http") else f"{base}/{name.format(prefix=prefix)}"
    with pytest.raises(ValueError, match=pattern):
        download_vgg(arch, url=url, progress=False)
    assert os.listdir(tmp_path / "stylelab") == []
