"""Hostile and careless input, through every command that reads it (issue 17's six classes).

Each case builds a bad file (or a careless command line) from good ones and
runs the command as a user would, asserting what stylelab promises
(docs/security.md):

* exit status 2 and exactly one line on stderr, ``stylelab: error: ...``,
  naming the problem (no traceback);
* nothing new in the output folder (no output, no temporary file) and every
  input byte for byte as it was;
* no other file read: the "other file" an HDF5 trick points at is a named
  pipe, which blocks whoever opens it, so a command that follows the trick
  hangs and the case fails on its timeout instead of passing;
* memory bounded: the memory cases run in a child process limited to
  1 GiB of address space, and must fail with stylelab's refusal, not with
  running out.

The classes: 1 reads another file, 2 an output that is an input, 3 small file
-> huge memory, 4 NaN and infinity, 5 exceptions that used to escape, 6 the
smaller ones (EXIF, warnings, Ctrl-C before a checkpoint, a mislabelled
download, stale temporary files). ``CASES`` counts them.
"""

import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
from collections import Counter, namedtuple
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io
import torch
from PIL import Image

from stylelab import cli
from stylelab.files.vgg_h5 import save_random_vgg_h5

from . import hostile_files as H
from . import t7_files, vgg_files
from .test_foreign import write_deeplearnjs
from .test_training import write_photos
from .onnx_files import export, torch_vgg_features
from .torch_foreign import ExamplesNet, ExamplesNet255, random_tf_variables

SMALL = "c3s1-4,d8,R8x1,u4,c3s1-3"            # a style network small enough for 1-step runs
SR_SMALL = "c3s1-4,u4,u4,c3s1-3"
MEMORY_LIMIT = 1 << 30
TIMEOUT = 60


# -- the good files every case starts from ----------------------------------------------

def _main(argv):
    """Run the CLI in this process; its exit status."""
    try:
        cli.main([str(a) for a in argv])
    except SystemExit as exc:
        return exc.code
    return 0


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    d = tmp_path_factory.mktemp("kit")
    rng = np.random.default_rng(17)
    for name, shape in (("photo.png", (24, 32, 3)), ("style.png", (24, 24, 3))):
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(d / name)
    Image.fromarray(np.zeros((24, 32), np.uint8)).save(d / "mask.png")
    write_photos(d / "data", rng, count=2, sizes=((24, 28),))
    save_random_vgg_h5(d / "vgg19.h5", "vgg19", seed=0, upto="relu2_1")
    save_random_vgg_h5(d / "vgg16.h5", "vgg16", seed=0, upto="relu4_3")
    weights = vgg_files.random_torch_weights("vgg16", seed=3)
    vgg_files.write_torchvision(d / "vgg16.pth", "vgg16", weights)
    vgg_files.write_keras(d / "keras16.h5", "vgg16", weights)
    vgg_files.write_matconvnet(d / "vgg16.mat", "vgg16", weights)
    # Models made by the commands themselves, one step each.
    assert _main(train(d, d, out=d / "style.h5", extra=["--checkpoint-every", 1])) == 0
    assert _main(["train-sr", "--data", d / "data", "--out", d / "sr.h5", "--weights",
                  d / "vgg16.h5", "--arch", SR_SMALL, "--factor", 4, "--crop-size", 16,
                  "--batch-size", 1, "--steps", 1, "--quiet"]) == 0
    assert _main(decoder(d, d, out=d / "decoders" / "relu1_1.h5")) == 0
    write_deeplearnjs(d / "dljs", random_tf_variables(rng))
    t7_files.write_t7(d / "johnson.t7", t7_files.johnson_checkpoint(rng))
    torch.save(ExamplesNet(widths=(8, 12, 16), blocks=1).state_dict(), d / "examples.pth")
    export(torch, ExamplesNet255(widths=(8, 12, 16), blocks=1).eval(),
           255 * torch.rand(1, 3, 32, 32), d / "examples.onnx", 9)
    return d


# -- the commands, each reading what it reads ---------------------------------------------

def gatys(k, o, weights=None, content=None, style=None, out=None, extra=()):
    return ["gatys", "--content", content or k / "photo.png", "--style", style or k / "style.png",
            "--out", out or o / "out.png", "--weights", weights or k / "vgg19.h5", "--size", 16,
            "--iterations", 1, "--content-layers", "relu2_1", "--style-layers", "relu1_1,relu2_1",
            "--quiet", *extra]


def train(k, o, weights=None, style=None, data=None, out=None, extra=()):
    return ["train", "--style", style or k / "style.png", "--data", data or k / "data",
            "--out", out or o / "m.h5", "--weights", weights or k / "vgg16.h5", "--arch", SMALL,
            "--crop-size", 16, "--style-size", 16, "--batch-size", 1, "--steps", 1,
            "--sample-every", 1, "--checkpoint-every", 100, "--quiet", *extra]


def train_sr(k, o, weights=None, out=None, extra=()):
    return ["train-sr", "--data", k / "data", "--out", out or o / "sr.h5", "--weights",
            weights or k / "vgg16.h5", "--arch", SR_SMALL, "--factor", 4, "--crop-size", 16,
            "--batch-size", 1, "--steps", 1, "--quiet", *extra]


def decoder(k, o, weights=None, out=None, extra=()):
    return ["train-decoder", "--level", 1, "--data", k / "data", "--out", out or o / "d.h5",
            "--weights", weights or k / "vgg19.h5", "--crop-size", 16, "--batch-size", 1,
            "--steps", 1, "--quiet", *extra]


def resume(k, o, checkpoint):
    return train(k, o, extra=["--resume", "--checkpoint", checkpoint, "--steps", 2])


def wct(k, o, weights=None, decoders=None, content=None, style=None, out=None, extra=()):
    road = ["--decoders", decoders] if decoders else ["--invert", "--iterations", 1]
    return ["wct", "--content", content or k / "photo.png", "--style", style or k / "style.png",
            "--out", out or o / "w.png", "--weights", weights or k / "vgg19.h5", "--levels", "1",
            "--size", 16, "--quiet", *road, *extra]


def stylize(k, o, model=None, image=None, out=None):
    return ["stylize", "--model", model or k / "style.h5", image or k / "photo.png",
            "--out", out or o / "s.png"]


def upscale(k, o, model=None, image=None, out=None):
    return ["upscale", "--model", model or k / "sr.h5", image or k / "photo.png",
            out or o / "u.png"]


def convert(k, o, src, out=None):
    # The kit's .pth files hold torchvision-layout random weights; their digests are no
    # published file's, so the converter is told whose they are.
    convention = ["--convention", "torchvision"] if str(src).endswith(".pth") else []
    return ["weights", "convert", src, out or o / "c.h5", *convention]


def models_convert(k, o, src, out=None):
    return ["models", "convert", src, out or o / "n.h5"]


def layers(k, o, image=None, out=None, size=16):
    return ["layers", image or k / "photo.png", "--out", out or o / "l.png", "--size", size]


def test_every_command_works_on_the_good_files(kit, tmp_path):
    """The control: each command below succeeds on the files the cases spoil."""
    runs = [gatys(kit, tmp_path), train(kit, tmp_path), train_sr(kit, tmp_path),
            decoder(kit, tmp_path), resume(kit, tmp_path, kit / "runs/style/checkpoint.h5"),
            wct(kit, tmp_path), wct(kit, tmp_path, decoders=kit / "decoders", out=tmp_path / "x.png"),
            stylize(kit, tmp_path), upscale(kit, tmp_path), layers(kit, tmp_path),
            convert(kit, tmp_path, kit / "vgg16.pth"),
            convert(kit, tmp_path, kit / "keras16.h5", tmp_path / "k.h5"),
            convert(kit, tmp_path, kit / "vgg16.mat", tmp_path / "m.h5"),
            models_convert(kit, tmp_path, kit / "johnson.t7"),
            stylize(kit, tmp_path, kit / "dljs", out=tmp_path / "d.png"),
            stylize(kit, tmp_path, kit / "examples.pth", out=tmp_path / "e.png"),
            stylize(kit, tmp_path, kit / "examples.onnx", out=tmp_path / "o.png")]
    for argv in runs:
        assert _main(argv) == 0, argv


# -- the cases ---------------------------------------------------------------------------

Case = namedtuple("Case", "cls build mode")
# build(kit, tmp) -> dict(argv=[...], message="...", keep=[inputs that must not change],
#                         prefix="stylelab: error:")
CASES = {}


def case(cls, name, mode="in-process"):
    def register(build):
        CASES[f"{cls}: {name}"] = Case(cls, build, mode)
        return build
    return register


def _table_case(table, name):
    """A case from a table of name -> (build returning (argv, message))."""
    def build(k, o):
        argv, message = table[name](k, o)
        return dict(argv=argv, message=message, keep=[])
    return build


# 1. An HDF5 file makes stylelab read other files -----------------------------------------

def _first(path, group):
    return H.first_dataset(path, group)


HDF5_ROUTES = {
    # name: (file in kit, dataset to spoil, command reading it)
    "VGG-19 weights via gatys": ("vgg19.h5", "conv1_1/weight", lambda k, o, f: gatys(k, o, f)),
    "VGG-19 weights via wct": ("vgg19.h5", "conv1_1/bias", lambda k, o, f: wct(k, o, f)),
    "VGG-19 weights via train-decoder": ("vgg19.h5", "conv2_1/weight",
                                         lambda k, o, f: decoder(k, o, f)),
    "VGG-16 weights via train": ("vgg16.h5", "conv1_1/weight", lambda k, o, f: train(k, o, f)),
    "VGG-16 weights via train-sr": ("vgg16.h5", "conv2_2/bias", lambda k, o, f: train_sr(k, o, f)),
    "Keras file via weights convert": ("keras16.h5", "block1_conv1/block1_conv1/kernel:0",
                                       lambda k, o, f: convert(k, o, f)),
    "style model via stylize": ("style.h5", "params", lambda k, o, f: stylize(k, o, f)),
    "style model via models convert": ("style.h5", "params",
                                       lambda k, o, f: models_convert(k, o, f)),
    "SR model via upscale": ("sr.h5", "params", lambda k, o, f: upscale(k, o, f)),
    "checkpoint via train --resume": ("runs/style/checkpoint.h5", "train/adam_v",
                                      lambda k, o, f: resume(k, o, f)),
    "decoder via wct --decoders": ("decoders/relu1_1.h5", "params", None),
}
HDF5_MESSAGES = {"external storage": "keeps its bytes in the external file",
                 "external link": "is an external link to",
                 "virtual dataset": "is a virtual dataset",
                 "soft link": "is a SoftLink; refused"}


def _hdf5_case(route, trick):
    src, name, command = HDF5_ROUTES[route]

    def build(k, o):
        other = H.fifo(o / "secret")
        dataset = name if "/" in name and not name.startswith(("params", "train")) else \
            _first(k / src, name)
        if command is None:                                # a decoder folder
            (o / "decoders").mkdir()
            bad = H.hdf5_with(k / src, o / "decoders" / "relu1_1.h5", dataset, trick, other)
            argv = wct(k, o, decoders=o / "decoders")
        else:
            bad = H.hdf5_with(k / src, o / ("bad" + os.path.splitext(src)[1]), dataset, trick,
                              other)
            argv = command(k, o, bad)
        return dict(argv=argv, message=HDF5_MESSAGES[trick], keep=[bad])
    return build


for _route in HDF5_ROUTES:
    for _trick in H.HDF5_TRICKS:
        case(1, f"{_trick} in the {_route}", mode="subprocess")(_hdf5_case(_route, _trick))


@case(1, "a MATLAB v7.3 file (HDF5 inside) with an external link", mode="subprocess")
def _(k, o):
    other = H.fifo(o / "secret")
    bad = o / "v73.mat"
    with h5py.File(bad, "w", userblock_size=512) as f:
        f["layers"] = h5py.ExternalLink(os.fspath(other), "/data")
    with open(bad, "r+b") as f:
        f.write(b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: hostile HDF5 schema")
    return dict(argv=convert(k, o, bad), message="MATLAB v7.3 files are not supported", keep=[bad])


@case(1, "a deeplearn.js manifest naming a file outside its folder", mode="subprocess")
def _(k, o):
    H.fifo(o / "secret")
    shutil.copytree(k / "dljs", o / "net")
    manifest = json.loads((o / "net" / "manifest.json").read_text())
    manifest["Variable_2"]["filename"] = "../secret"
    (o / "net" / "manifest.json").write_text(json.dumps(manifest))
    return dict(argv=stylize(k, o, o / "net"), message="is not a plain file name",
                keep=[o / "net" / "manifest.json"])


@case(1, "a deeplearn.js manifest that is a link to a file outside", mode="subprocess")
def _(k, o):
    shutil.copytree(k / "dljs", o / "net")
    (o / "elsewhere.json").write_text('{"secret-key": {"filename": "x", "shape": [1]}}')
    (o / "net" / "manifest.json").unlink()
    os.symlink(o / "elsewhere.json", o / "net" / "manifest.json")
    return dict(argv=stylize(k, o, o / "net"), message="is a link or not a plain file",
                keep=[o / "elsewhere.json"])


@case(1, "a deeplearn.js variable that links outside its folder", mode="subprocess")
def _(k, o):
    H.fifo(o / "secret")
    shutil.copytree(k / "dljs", o / "net")
    (o / "net" / "Variable_2").unlink()
    os.symlink(o / "secret", o / "net" / "Variable_2")
    return dict(argv=stylize(k, o, o / "net"), message="links outside the checkpoint's folder",
                keep=[o / "net" / "manifest.json"])


ONNX_ROUTES = {"stylize --model": lambda k, o, f: stylize(k, o, f, out=o / "o.png"),
               "models convert": models_convert, "weights convert": convert}
ONNX_ELSEWHERE = {
    "a path outside its folder": ("../secret", "only a file named plainly beside the model"),
    "an absolute path": (None, "only a file named plainly beside the model"),
    "a link beside it": ("link.bin", "is a link or not a plain file"),
    "a named pipe beside it": ("pipe.bin", "is a link or not a plain file"),
}


def _onnx_elsewhere_case(route, trick):
    location, message = ONNX_ELSEWHERE[trick]

    def build(k, o):
        (o / "net").mkdir()
        secret = H.fifo(o / "secret")
        if trick == "an absolute path":
            location_ = str(secret)
        else:
            location_ = location
        if trick == "a link beside it":
            os.symlink(secret, o / "net" / "link.bin")
        if trick == "a named pipe beside it":
            H.fifo(o / "net" / "pipe.bin")
        bad = H.onnx_edit(k / "examples.onnx", o / "net" / "bad.onnx",
                          lambda m: H.onnx_external(m, location_))
        return dict(argv=ONNX_ROUTES[route](k, o, bad), message=message, keep=[bad])
    return build


for _route in ONNX_ROUTES:
    for _trick in ONNX_ELSEWHERE:
        case(1, f"an ONNX tensor kept in {_trick} via {_route}", mode="subprocess")(
            _onnx_elsewhere_case(_route, _trick))


# 2. An output that is also an input ---------------------------------------------------------

def _copy(k, o, name, as_name=None):
    dst = o / (as_name or os.path.basename(name))
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(k / name, dst)
    return dst


def _link(target, link, hard=False):
    (os.link if hard else os.symlink)(target, link)
    return link


OUTPUT_CASES = {
    "gatys --out is --content": lambda k, o: (
        lambda c: (gatys(k, o, content=c, out=c), [c]))(_copy(k, o, "photo.png")),
    "gatys --out is a link to --content": lambda k, o: (
        lambda c: (gatys(k, o, content=c, out=_link(c, o / "l.png")), [c]))(
            _copy(k, o, "photo.png")),
    "gatys --out is a hard link to --style": lambda k, o: (
        lambda s: (gatys(k, o, style=s, out=_link(s, o / "h.png", hard=True)), [s]))(
            _copy(k, o, "style.png")),
    "gatys --plot is --content": lambda k, o: (
        lambda c: (gatys(k, o, content=c, extra=["--plot", c]), [c]))(_copy(k, o, "photo.png")),
    "gatys --out is the weight file": lambda k, o: (
        lambda w: (gatys(k, o, weights=w, out=w), [w]))(_copy(k, o, "vgg19.h5", "w.png")),
    "gatys --save-every would write over --content": lambda k, o: (
        lambda c: (gatys(k, o, content=c, out=o / "out.png", extra=["--save-every", 1]), [c]))(
            _copy(k, o, "photo.png", "out_0001.png")),
    "stylize a folder into itself": lambda k, o: (
        lambda d: (stylize(k, o, image=d, out=d), [d / "photo.png"]))(
            _copy(k, o, "photo.png", "in/photo.png").parent),
    "stylize --out is the input": lambda k, o: (
        lambda p: (stylize(k, o, image=p, out=p), [p]))(_copy(k, o, "photo.png")),
    "upscale a.png a.png": lambda k, o: (
        lambda p: (upscale(k, o, image=p, out=p), [p]))(_copy(k, o, "photo.png")),
    "upscale onto a link to its input": lambda k, o: (
        lambda p: (upscale(k, o, image=p, out=_link(p, o / "l.png")), [p]))(
            _copy(k, o, "photo.png")),
    "train --checkpoint is --weights": lambda k, o: (
        lambda w: (train(k, o, weights=w, extra=["--checkpoint", w]), [w]))(
            _copy(k, o, "vgg16.h5")),
    "train --out is --weights": lambda k, o: (
        lambda w: (train(k, o, weights=w, out=w), [w]))(_copy(k, o, "vgg16.h5")),
    "train --samples is --data": lambda k, o: (
        lambda d: (train(k, o, data=d, extra=["--samples", d]), [d / "photo0.png"]))(
            _copy(k, o, "data/photo0.png", "data/photo0.png").parent),
    "train --checkpoint inside --data over a photo": lambda k, o: (
        lambda p: (train(k, o, data=p.parent, extra=["--checkpoint", p]), [p]))(
            _copy(k, o, "data/photo0.png", "data/photo0.png")),
    "train --checkpoint is --style": lambda k, o: (
        lambda s: (train(k, o, style=s, extra=["--checkpoint", s]), [s]))(_copy(k, o, "style.png")),
    "train --out is --checkpoint": lambda k, o: (
        train(k, o, out=o / "m.h5", extra=["--checkpoint", o / "m.h5"]), []),
    "train-sr --out is --weights": lambda k, o: (
        lambda w: (train_sr(k, o, weights=w, out=w), [w]))(_copy(k, o, "vgg16.h5")),
    "train-decoder --checkpoint is --weights": lambda k, o: (
        lambda w: (decoder(k, o, weights=w, extra=["--checkpoint", w]), [w]))(
            _copy(k, o, "vgg19.h5")),
    "weights convert v.pth v.pth": lambda k, o: (
        lambda p: (convert(k, o, p, out=p), [p]))(_copy(k, o, "vgg16.pth")),
    "weights convert onto a link to its input": lambda k, o: (
        lambda p: (convert(k, o, p, out=_link(p, o / "l.h5")), [p]))(_copy(k, o, "keras16.h5")),
    "models convert n.h5 n.h5": lambda k, o: (
        lambda p: (models_convert(k, o, p, out=p), [p]))(_copy(k, o, "style.h5")),
    "wct --out is --content": lambda k, o: (
        lambda c: (wct(k, o, content=c, out=c), [c]))(_copy(k, o, "photo.png")),
    "wct --out is --mask": lambda k, o: (
        lambda m: (wct(k, o, style=k / "style.png", out=m,
                       extra=["--style", k / "style.png", k / "photo.png", "--mask", m]), [m]))(
            _copy(k, o, "mask.png")),
    "wct --out is a link to --style": lambda k, o: (
        lambda s: (wct(k, o, style=s, out=_link(s, o / "l.png")), [s]))(_copy(k, o, "style.png")),
    "layers img --out img": lambda k, o: (
        lambda p: (layers(k, o, image=p, out=p), [p]))(_copy(k, o, "photo.png")),
}


def _output_case(name):
    def build(k, o):
        argv, keep = OUTPUT_CASES[name](k, o)
        message = "would both be written" if "--out is --checkpoint" in name else "refusing"
        return dict(argv=argv, message=message, keep=keep)
    return build


for _name in OUTPUT_CASES:
    case(2, _name)(_output_case(_name))


@case(2, "weights/convert_vgg.py SRC SRC")
def _(k, o):
    p = _copy(k, o, "vgg16.pth")
    return dict(argv=["script", p, p], message="refusing", keep=[p],
                prefix="convert_vgg.py: error:")


# 3. Small files, huge memory ---------------------------------------------------------------

def _spoil_hdf5(k, o, src, group, trick="declares 16 GB", dataset=None):
    dataset = dataset or _first(k / src, group)
    return H.hdf5_with(k / src, o / ("bad" + os.path.splitext(src)[1]), dataset, trick, None)


def _many_attributes(f):
    for i in range(100):                  # each under the 1 MiB a single attribute may take
        f.attrs[f"a{i}"] = np.zeros(12_500, np.float32)      # 50 KB each, 5 MB in all


def _onnx_short_data(k, o):
    (o / "w.bin").write_bytes(bytes(64))          # the tensor needs 8 * 3 * 9 * 9 * 4 bytes
    return H.onnx_edit(k / "examples.onnx", o / "b.onnx", lambda m: H.onnx_external(m, "w.bin"))


MEMORY_CASES = {
    "VGG weights declaring 16 GB via gatys": lambda k, o: (
        gatys(k, o, _spoil_hdf5(k, o, "vgg19.h5", "conv1_1")), "declares 16000000000 bytes"),
    "a Keras file declaring 16 GB via weights convert": lambda k, o: (
        convert(k, o, _spoil_hdf5(k, o, "keras16.h5", "block1_conv1")), "declares 16000000000"),
    "a model declaring 16 GB via stylize": lambda k, o: (
        stylize(k, o, _spoil_hdf5(k, o, "style.h5", "params")), "declares 16000000000"),
    "a checkpoint declaring 16 GB via train --resume": lambda k, o: (
        resume(k, o, _spoil_hdf5(k, o, "runs/style/checkpoint.h5", "train/adam_m")), "declares 16000000000"),
    "a decoder declaring 16 GB via wct": lambda k, o: (
        (lambda d: wct(k, o, decoders=d.parent))(
            H.hdf5_with(k / "decoders/relu1_1.h5", (o / "decs").mkdir() or o / "decs/relu1_1.h5",
                        _first(k / "decoders/relu1_1.h5", "params"), "declares 16 GB", None)),
        "declares 16000000000"),
    "a .pth tensor of 2**30 floats on a zero stride": lambda k, o: (
        convert(k, o, H.tensor_pth(o / "z.pth", 1, 0, (1 << 30,), (0,))),
        "has more values than its storage"),
    "a .pth tensor whose strides overlap": lambda k, o: (
        convert(k, o, H.tensor_pth(o / "z.pth", 1 << 16, 0, (1 << 15, 1 << 15), (1, 1))),
        "has more values than its storage"),
    "a .pth storage declaring 2**40 floats": lambda k, o: (
        convert(k, o, H.tensor_pth(o / "z.pth", 1 << 40, 0, (4,), (1,), stored=4)),
        "is truncated"),
    "a legacy .pth storage declaring 2**40 floats": lambda k, o: (
        convert(k, o, H.legacy_pth_declaring(o / "l.pth", 1 << 40)), "declares 1099511627776"),
    "a .pth zip bomb via weights convert": lambda k, o: (
        convert(k, o, H.zip_bomb_pth(o / "b.pth")), "declares 268435456 bytes"),
    "a .pth zip bomb via stylize": lambda k, o: (
        stylize(k, o, H.zip_bomb_pth(o / "b.pth")), "declares 268435456 bytes"),
    "a MATLAB zlib bomb via weights convert": lambda k, o: (
        convert(k, o, H.mat_bomb(o / "b.mat")), "declares 268435456 once inflated"),
    "a Torch7 storage of 2**40 floats via stylize": lambda k, o: (
        stylize(k, o, H.t7_storage_bomb(o / "b.t7")), "more than the file holds"),
    "an ONNX tensor declaring 2**40 floats": lambda k, o: (
        stylize(k, o, H.onnx_edit(k / "examples.onnx", o / "b.onnx",
                                  lambda m: H.onnx_declaring(m, [1 << 20, 1 << 20, 1, 1]))),
        "bytes) but holds"),
    "an ONNX tensor whose data file is shorter than it declares": lambda k, o: (
        convert(k, o, _onnx_short_data(k, o)), "of w.bin"),
    "an ONNX ConstantOfShape asking for 2**40 floats": lambda k, o: (
        models_convert(k, o, H.onnx_edit(
            k / "examples.onnx", o / "b.onnx",
            lambda m: H.onnx_constant_of_shape(m, [1 << 20, 1 << 20, 1, 1]))), "refused"),
    # round two (issue 29): what a file may cost is what it declares, summed over the file
    "a Torch7 tensor of 3e8 values on a one-value storage (stride 0)": lambda k, o: (
        models_convert(k, o, H.t7_stride0(o / "z.t7")), "has more values than its storage"),
    "400 Torch7 tensors viewing one 4 MB storage": lambda k, o: (
        models_convert(k, o, H.t7_views(o / "v.t7")), "views of one storage, repeated"),
    "a .pth of 1200 keys aliasing one 1 MB tensor": lambda k, o: (
        convert(k, o, H.pth_aliases(o / "a.pth")), "one storage used again and again"),
    "a 300-byte .pth of lists repeating each other 2**44 times": lambda k, o: (
        convert(k, o, H.pth_nested_repeats(o / "n.pth")), "once its repeats are counted"),
    "a 12-byte pickle naming memo index 80 000 000": lambda k, o: (
        convert(k, o, H.pth_memo_index(o / "m.pth")), "m.pth"),
    "a model whose architecture says R16x999999999": lambda k, o: (
        stylize(k, o, _model_attr(k, o, "arch", "c3s1-16,R16x999999999,c3s1-3")),
        "asks for more than 4096 channels or 64 repeats"),
    "100 root attributes of 50 KB": lambda k, o: (
        stylize(k, o, H.hdf5_edit(k / "style.h5", o / "attrs.h5", _many_attributes)),
        "in all); refused"),
    "a variable-length text attribute of 5 MB": lambda k, o: (
        stylize(k, o, _model_attr(k, o, "licence", "x" * 5_000_000)), "takes 5000000 bytes"),
    "an 8000 x 8000 PNG of a few KB through stylize with no --size": lambda k, o: (
        stylize(k, o, image=H.png_bomb(o / "big.png", 8000, 8000)), "give a smaller --size"),
    "a deeplearn.js variable of 9e10 floats": lambda k, o: (
        stylize(k, o, _dljs_shape(k, o, [100000, 100000, 3, 3])), "bytes, but variable"),
    "a 140 KB PNG of 12000 x 12000 via layers": lambda k, o: (
        layers(k, o, H.png_bomb(o / "b.png", 12000, 12000)), "144 million"),
    "a 140 KB PNG of 12000 x 12000 via gatys --style": lambda k, o: (
        gatys(k, o, style=H.png_bomb(o / "b.png", 12000, 12000)), "144 million"),
    "a 140 KB PNG of 12000 x 12000 via stylize": lambda k, o: (
        stylize(k, o, image=H.png_bomb(o / "b.png", 12000, 12000)), "144 million"),
    "a 140 KB PNG of 12000 x 12000 via wct --mask": lambda k, o: (
        wct(k, o, extra=["--style", k / "style.png", k / "photo.png", "--mask",
                         H.png_bomb(o / "b.png", 12000, 12000)]), "144 million"),
    "a JPEG header declaring 60000 x 60000 via upscale": lambda k, o: (
        upscale(k, o, image=H.jpeg_with_size(o / "b.jpg", 60000, 60000)), "too many pixels"),
    "a GIF screen of 65000 x 65000 via layers": lambda k, o: (
        layers(k, o, H.gif_with_size(o / "b.gif", 65000, 65000)), "too many pixels"),
    "a training folder holding only a PNG bomb": lambda k, o: (
        train(k, o, data=H.png_bomb((o / "bombs").mkdir() or o / "bombs" / "b.png", 12000,
                                    12000).parent), "could be read"),
    "layers --size 100000": lambda k, o: (layers(k, o, size=100000), "more than the 64 million"),
    "gatys --style-scale 1e300": lambda k, o: (
        gatys(k, o, extra=["--style-scale", "1e300"]), "more than the 64 million"),
}


def _dljs_shape(k, o, shape):
    shutil.copytree(k / "dljs", o / "net")
    manifest = json.loads((o / "net" / "manifest.json").read_text())
    manifest["Variable_3"]["shape"] = shape
    (o / "net" / "manifest.json").write_text(json.dumps(manifest))
    return o / "net"


for _name in MEMORY_CASES:
    case(3, _name, mode="memory")(_table_case(MEMORY_CASES, _name))


# 4. NaN and infinity ------------------------------------------------------------------------

def _nan_hdf5(k, o, src, group, value=np.nan, subdir=None):
    name = _first(k / src, group)
    folder = o / subdir if subdir else o
    folder.mkdir(exist_ok=True)

    def change(f):
        a = f[name][()]
        a.flat[0] = value
        f[name][...] = a
    return H.hdf5_edit(k / src, folder / os.path.basename(src), change)


def _nan_pth(k, o):
    weights = vgg_files.random_torch_weights("vgg16", seed=3)
    weights["conv3_1"][0][0, 0, 0, 0] = np.inf
    vgg_files.write_torchvision(o / "nan.pth", "vgg16", weights)
    return o / "nan.pth"


def _nan_keras(k, o):
    weights = vgg_files.random_torch_weights("vgg16", seed=3)
    weights["conv5_3"][1][2] = np.nan
    vgg_files.write_keras(o / "nan.h5", "vgg16", weights)
    return o / "nan.h5"


def _nan_mat(k, o):
    weights = vgg_files.random_torch_weights("vgg16", seed=3)
    weights["conv1_2"][0][1, 1, 1, 1] = -np.inf
    vgg_files.write_matconvnet(o / "nan.mat", "vgg16", weights)
    return o / "nan.mat"


def _nan_examples(k, o):
    net = ExamplesNet(widths=(8, 12, 16), blocks=1)
    state = net.state_dict()
    state["res1.conv1.conv2d.weight"][0, 0, 0, 0] = float("nan")
    torch.save(state, o / "nan.pth")
    return o / "nan.pth"


def _nan_t7(k, o):
    checkpoint = t7_files.johnson_checkpoint(np.random.default_rng(1))
    checkpoint["model"].fields["modules"][1].fields["bias"][0] = np.inf
    t7_files.write_t7(o / "nan.t7", checkpoint)
    return o / "nan.t7"


def _nan_dljs(k, o):
    shutil.copytree(k / "dljs", o / "net")
    data = np.fromfile(o / "net" / "Variable_7", "<f4")
    data[0] = np.nan
    data.tofile(o / "net" / "Variable_7")
    return o / "net"


def _std(k, o, value):
    return H.hdf5_edit(k / "vgg19.h5", o / "std.h5",
                       lambda f: f.attrs.__setitem__("std", np.array([0.2, value, 0.2])))


def _nan_onnx(model):
    t = H.onnx_initializer(model, 1)
    values = np.frombuffer(t.raw_data, np.float32).copy()
    values[3] = np.nan
    t.raw_data = values.tobytes()


NAN_CASES = {
    "a style model with a NaN parameter via stylize": lambda k, o: (
        stylize(k, o, _nan_hdf5(k, o, "style.h5", "params")), "holds NaN or infinite values"),
    "a style model with an infinite parameter via models convert": lambda k, o: (
        models_convert(k, o, _nan_hdf5(k, o, "style.h5", "params", np.inf)), "holds NaN"),
    "an SR model with a NaN parameter via upscale": lambda k, o: (
        upscale(k, o, _nan_hdf5(k, o, "sr.h5", "params")), "holds NaN"),
    "a decoder with a NaN parameter via wct": lambda k, o: (
        wct(k, o, decoders=_nan_hdf5(k, o, "decoders/relu1_1.h5", "params",
                                     subdir="decs").parent), "holds NaN"),
    "a checkpoint with a NaN Adam moment via train --resume": lambda k, o: (
        resume(k, o, _nan_hdf5(k, o, "runs/style/checkpoint.h5", "train/adam_m")), "holds NaN"),
    "a checkpoint with an infinite parameter via train --resume": lambda k, o: (
        resume(k, o, _nan_hdf5(k, o, "runs/style/checkpoint.h5", "params", np.inf)), "holds NaN"),
    "VGG weights with an infinite weight via gatys": lambda k, o: (
        gatys(k, o, _nan_hdf5(k, o, "vgg19.h5", "conv2_1", np.inf)), "holds NaN"),
    "VGG weights with a NaN bias via train": lambda k, o: (
        train(k, o, _nan_hdf5(k, o, "vgg16.h5", "conv4_3")), "holds NaN"),
    "VGG weights with a NaN weight via wct": lambda k, o: (
        wct(k, o, _nan_hdf5(k, o, "vgg19.h5", "conv1_1")), "holds NaN"),
    "VGG weights with an infinite std via gatys": lambda k, o: (
        gatys(k, o, _std(k, o, np.inf)), "std"),
    "VGG weights with a zero std via wct": lambda k, o: (wct(k, o, _std(k, o, 0.0)), "std"),
    "a torchvision file with an infinite weight": lambda k, o: (
        convert(k, o, _nan_pth(k, o)), "holds NaN"),
    "a Keras file with a NaN bias": lambda k, o: (convert(k, o, _nan_keras(k, o)), "holds NaN"),
    "a MatConvNet file with an infinite filter": lambda k, o: (
        convert(k, o, _nan_mat(k, o)), "holds NaN"),
    "a pytorch/examples network with a NaN weight": lambda k, o: (
        stylize(k, o, _nan_examples(k, o)), "holds NaN"),
    "a Torch7 network with an infinite bias": lambda k, o: (
        stylize(k, o, _nan_t7(k, o)), "holds NaN"),
    "an ONNX network with a NaN weight": lambda k, o: (
        stylize(k, o, H.onnx_edit(k / "examples.onnx", o / "n.onnx", _nan_onnx)), "holds NaN"),
    "a deeplearn.js network with a NaN": lambda k, o: (
        models_convert(k, o, _nan_dljs(k, o)), "holds NaN"),
    "a float TIFF with a NaN pixel via layers": lambda k, o: (
        layers(k, o, H.float_tiff(o / "n.tif", np.nan)), "holds NaN"),
    "a float TIFF with an infinite pixel via stylize": lambda k, o: (
        stylize(k, o, image=H.float_tiff(o / "n.tif", np.inf)), "holds NaN"),
    "a float TIFF with a NaN pixel via gatys --style": lambda k, o: (
        gatys(k, o, style=H.float_tiff(o / "n.tif", np.nan)), "holds NaN"),
    "a float TIFF with a NaN pixel via wct --content": lambda k, o: (
        wct(k, o, content=H.float_tiff(o / "n.tif", -np.inf)), "holds NaN"),
    "a learning rate that makes the weights infinite": lambda k, o: (
        train(k, o, extra=["--lr", "1e300"]), "at step 1"),
    "a content weight that makes the loss infinite": lambda k, o: (
        gatys(k, o, extra=["--content-weight", "1e300", "--style-weight", "1e300"]),
        "at evaluation 1"),
}


for _name in NAN_CASES:
    case(4, _name)(_table_case(NAN_CASES, _name))


# 5. Exceptions that used to escape as tracebacks ---------------------------------------------

def _pth_obj(o, obj, storages=None):
    return H.write_pth(o / "odd.pth", obj, storages or {})


def _model_attr(k, o, key, value):
    return H.hdf5_edit(k / "style.h5", o / "odd.h5", lambda f: f.attrs.__setitem__(key, value))


def _ckpt_attr(k, o, key, value):
    return H.hdf5_edit(k / "runs/style/checkpoint.h5", o / "odd.ckpt.h5",
                       lambda f: f["train"].attrs.__setitem__(key, value))


def _replace(f, name, data):
    del f[name]
    f[name] = data


def _all_corrupt(o):
    (o / "junk").mkdir()
    (o / "junk" / "a.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    H.float_tiff(o / "junk" / "b.tif", np.nan)
    return o / "junk"


def _zip_of(o, members):
    import zipfile
    with zipfile.ZipFile(o / "odd.pth", "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return o / "odd.pth"


ESCAPE_CASES = {
    "Pillow's decompression-bomb error type": lambda k, o: (
        layers(k, o, H.png_header_only(o / "b.png", 20000, 20000)), "too many pixels"),
    "a pickle nested 200000 deep": lambda k, o: (
        convert(k, o, H.nested_pickle_pth(o / "n.pth")), "RecursionError"),
    "a Torch7 file nested 5000 deep": lambda k, o: (
        stylize(k, o, H.t7_nested(o / "n.t7")), "nested more than 64 deep"),
    "a .pth zip member that claims encryption": lambda k, o: (
        convert(k, o, H.zip_flagged(k / "vgg16.pth", o / "e.pth", "vgg16/data.pkl", 1)),
        "encrypted"),
    "a .pth zip member in an unknown compression": lambda k, o: (
        convert(k, o, H.zip_flagged(k / "vgg16.pth", o / "e.pth", "vgg16/data.pkl", method=99)),
        "compression method"),
    "a truncated zip .pth": lambda k, o: (
        (lambda p: convert(k, o, p))(_truncated(k / "vgg16.pth", o / "t.pth", 0.6)),
        "t.pth"),
    "a truncated legacy .pth": lambda k, o: (
        convert(k, o, _truncated(H.legacy_pth_declaring(o / "l0.pth", 4), o / "t.pth", 0.5)),
        "t.pth"),
    "a zip with no data.pkl": lambda k, o: (
        convert(k, o, _zip_of(o, {"x/other.txt": "hi"})), "no single data.pkl"),
    "a .pth whose pickle is a list": lambda k, o: (
        convert(k, o, _pth_obj(o, [1, 2, 3])), "odd.pth"),
    "a .pth whose tensor is a string": lambda k, o: (
        convert(k, o, _pth_obj(o, {"features.0.weight": "a string"})), "odd.pth"),
    "a .pth whose storage has no data": lambda k, o: (
        convert(k, o, H.write_pth(o / "odd.pth", {"features.0.weight": H._Tensor(
            H._Storage("7", 4), 0, (4,), (1,))}, {})), "storage 7 is missing"),
    "a pytorch/examples file of another network": lambda k, o: (
        stylize(k, o, _pth_obj(o, {"features.0.weight": H._Tensor(H._Storage("0", 4), 0, (4,),
                                                                  (1,))},
                               {"0": np.zeros(4, "<f4").tobytes()})), "odd.pth"),
    "a deeplearn.js manifest that is a list": lambda k, o: (
        stylize(k, o, _dljs_manifest(k, o, [1, 2])), "manifest"),
    "a deeplearn.js shape that is a word": lambda k, o: (
        stylize(k, o, _dljs_shape(k, o, "big")), "net"),
    "a model whose /params is a dataset": lambda k, o: (
        stylize(k, o, H.hdf5_edit(k / "style.h5", o / "odd.h5",
                                  lambda f: _replace(f, "params", np.zeros(3)))), "/params"),
    "a model whose arch is a number": lambda k, o: (
        stylize(k, o, _model_attr(k, o, "arch", 5)), "odd.h5"),
    "a model whose format is an array": lambda k, o: (
        stylize(k, o, _model_attr(k, o, "format", np.arange(3))), "is not a stylelab model"),
    "a model whose norm is unknown": lambda k, o: (
        stylize(k, o, _model_attr(k, o, "norm", "magic")), "odd.h5"),
    "VGG weights whose conv1_1 is a dataset": lambda k, o: (
        gatys(k, o, H.hdf5_edit(k / "vgg19.h5", o / "odd.h5",
                                lambda f: _replace(f, "conv1_1", np.zeros(3)))),
        "conv1_1 lacks its weight or bias"),
    "VGG weights whose arch is an array": lambda k, o: (
        gatys(k, o, H.hdf5_edit(k / "vgg19.h5", o / "odd.h5",
                                lambda f: f.attrs.__setitem__("arch", np.arange(4)))),
        "unknown arch"),
    "VGG weights whose mean is a word": lambda k, o: (
        gatys(k, o, H.hdf5_edit(k / "vgg19.h5", o / "odd.h5",
                                lambda f: f.attrs.__setitem__("mean", "grey"))), "mean"),
    "a Keras file whose weight names are a number": lambda k, o: (
        convert(k, o, H.hdf5_edit(k / "keras16.h5", o / "odd.h5",
                                  lambda f: f["block1_conv1"].attrs.__setitem__("weight_names",
                                                                                7))),
        "odd.h5"),
    "a MATLAB file whose layers are a number": lambda k, o: (
        convert(k, o, _mat(o, {"layers": 3.0})), "odd.mat"),
    "a checkpoint whose step is negative": lambda k, o: (
        resume(k, o, _ckpt_attr(k, o, "step", -3)), "the checkpoint's step is -3"),
    "a checkpoint whose learning rate is NaN": lambda k, o: (
        resume(k, o, _ckpt_attr(k, o, "adam_lr", np.nan)), "adam_lr"),
    "a truncated HDF5 file (a multi-line HDF5 message)": lambda k, o: (
        gatys(k, o, _truncated(k / "vgg19.h5", o / "t.h5", 0.3)), "t.h5"),
    "a training folder with no readable image": lambda k, o: (
        train(k, o, data=_all_corrupt(o)), "none of the 2 image files could be read"),
    "a folder as the weight file": lambda k, o: (
        gatys(k, o, (o / "dir.h5").mkdir() or o / "dir.h5"), "is a folder"),
    "a truncated ONNX file via stylize": lambda k, o: (
        stylize(k, o, _truncated(k / "examples.onnx", o / "t.onnx", 0.5)), "t.onnx"),
    "noise named .onnx via weights convert": lambda k, o: (
        convert(k, o, (o / "n.onnx").write_bytes(bytes(range(256)) * 8) and o / "n.onnx"),
        "n.onnx"),
    "an ONNX VGG given to stylize": lambda k, o: (
        stylize(k, o, _onnx_vgg(o)), "not pytorch/examples' TransformerNet"),
    "an ONNX style network given to weights convert": lambda k, o: (
        convert(k, o, k / "examples.onnx"), "not a VGG"),
    "an ONNX graph of two inputs": lambda k, o: (
        models_convert(k, o, H.onnx_edit(k / "examples.onnx", o / "two.onnx", _second_input)),
        "2 data inputs"),
    "a checkpoint whose lr is a word": lambda k, o: (
        resume(k, o, H.hdf5_edit(k / "runs/style/checkpoint.h5", o / "lr.ckpt.h5",
                                 lambda f: f.attrs.__setitem__("lr", "fast"))),
        "the checkpoint's lr is 'fast'"),
    "a checkpoint whose unreadable files are a number": lambda k, o: (
        resume(k, o, _ckpt_attr(k, o, "unreadable", 5)), "not a list of file names"),
    "a checkpoint whose Adam step is 2**64-1": lambda k, o: (
        resume(k, o, _ckpt_attr(k, o, "adam_t", np.uint64(2**64 - 1))),
        "the checkpoint's adam_t"),
    "an empty file as the model": lambda k, o: (
        stylize(k, o, (o / "empty.h5").write_bytes(b"") and o / "empty.h5" or o / "empty.h5"),
        "empty.h5"),
}


def _onnx_vgg(o):
    return export(torch, torch_vgg_features(torch, "vgg16"), torch.zeros(1, 3, 32, 32),
                  o / "vgg.onnx", 13)


def _second_input(model):
    from onnx import TensorProto, helper
    model.graph.input.append(helper.make_tensor_value_info("mask", TensorProto.FLOAT, None))
    model.graph.node[0].input.append("mask")


def _truncated(src, dst, fraction):
    data = open(src, "rb").read()
    open(dst, "wb").write(data[:int(len(data) * fraction)])
    return dst


def _dljs_manifest(k, o, manifest):
    shutil.copytree(k / "dljs", o / "net")
    (o / "net" / "manifest.json").write_text(json.dumps(manifest))
    return o / "net"


def _mat(o, data):
    scipy.io.savemat(o / "odd.mat", data)
    return o / "odd.mat"


for _name in ESCAPE_CASES:
    case(5, _name)(_table_case(ESCAPE_CASES, _name))


# 6. The smaller ones (as cases; the rest are tests below) ------------------------------------

@case(6, "an output folder that is a file is noticed before any work")
def _(k, o):
    (o / "afile").write_text("x")
    return dict(argv=train(k, o, out=o / "afile" / "m.h5", extra=["--steps", 100000]),
                message="afile is a file, not a folder", keep=[o / "afile"])


@case(6, "an unknown output type is noticed before any work")
def _(k, o):
    return dict(argv=gatys(k, o, out=o / "out.xyz", extra=["--iterations", 100000]),
                message="cannot tell an image format", keep=[])


@case(6, "a VGG-16 file given where VGG-19 is needed")
def _(k, o):
    return dict(argv=gatys(k, o, k / "vgg16.h5"), message="holds vgg16 weights", keep=[])


@case(6, "an output in a folder that takes no file (/proc) is noticed before any work")
def _(k, o):
    return dict(argv=gatys(k, o, out=Path("/proc/o.png"), extra=["--iterations", 100000]),
                message="/proc takes no new file", keep=[])


@case(6, "an output name longer than the file system takes is noticed before any work")
def _(k, o):
    return dict(argv=gatys(k, o, out=o / ("n" * 300 + ".png"), extra=["--iterations", 100000]),
                message="more than the 255 the file system takes", keep=[])


# -- the runner ----------------------------------------------------------------------------

def _digest(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def _listing(folder):
    return sorted(os.path.relpath(os.path.join(d, n), folder)
                  for d, dirs, files in os.walk(folder) for n in dirs + files)


def _limit_memory():
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def _run_child(argv, mode, cwd):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "stylelab", *map(str, argv)]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, env=env, cwd=cwd,
                           preexec_fn=_limit_memory if mode == "memory" else None)
    except subprocess.TimeoutExpired:       # run() has killed it
        pytest.fail(f"the command did not finish in {TIMEOUT} s: it opened the named pipe "
                    f"(read a file outside the one it was given) or hung")
    return r.returncode, r.stderr


@pytest.mark.parametrize("name", CASES)
def test_hostile_input_is_refused_in_one_line(name, kit, tmp_path, capsys, monkeypatch):
    spec = CASES[name].build(kit, tmp_path)
    mode = CASES[name].mode
    argv, prefix = spec["argv"], spec.get("prefix", "stylelab: error:")
    keep = {p: _digest(p) for p in spec["keep"]}
    before = _listing(tmp_path)
    marker = tmp_path / "PWNED"
    monkeypatch.chdir(tmp_path)
    if argv[0] == "script":
        from stylelab.cli.weights import convert_main
        try:
            code = convert_main([str(a) for a in argv[1:]]) or 0
        except SystemExit as exc:
            code = exc.code
        err = capsys.readouterr().err
    elif mode == "in-process":
        code = _main(argv)
        err = capsys.readouterr().err
    else:
        code, err = _run_child(argv, mode, tmp_path)
    assert code == 2, err
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(prefix) and spec["message"] in lines[0], lines[0]
    assert _listing(tmp_path) == before, "something was written"
    assert {p: _digest(p) for p in keep} == keep, "an input changed"
    assert not marker.exists()


def test_the_suite_covers_every_class():
    counts = Counter(c.cls for c in CASES.values())
    assert set(counts) == {1, 2, 3, 4, 5, 6} and min(counts.values()) >= 3, counts


# -- pickles that run code ----------------------------------------------------------------------

PICKLE_ROUTES = {"weights convert": convert, "models convert": models_convert,
                 "stylize --model": lambda k, o, f: stylize(k, o, f)}


@pytest.mark.parametrize("route", PICKLE_ROUTES)
@pytest.mark.parametrize("legacy", [False, True])
def test_a_pth_that_would_run_code_runs_none(route, legacy, kit, tmp_path, capsys):
    marker = tmp_path / "PWNED"
    path = tmp_path / "evil.pth"
    if legacy:
        torch.save({"x": H.RunsCode(marker)}, path, _use_new_zipfile_serialization=False)
    else:
        H.write_pth(path, {"x": H.RunsCode(marker)}, {})
    code = _main(PICKLE_ROUTES[route](kit, tmp_path, path))
    err = capsys.readouterr().err
    assert code == 2 and "asks for posix.system" in err and len(err.strip().splitlines()) == 1
    assert not marker.exists()
    # The same file does run code in an unrestricted reader: the test can fail.
    if not legacy:
        torch.load(path, weights_only=False)
        assert marker.exists()


# -- 6. the smaller ones -------------------------------------------------------------------------

def test_exif_orientation_is_applied(tmp_path):
    from stylelab.files.images import load_image
    path = H.exif_rotated_jpeg(tmp_path / "portrait.jpg", size=(40, 20), orientation=6)
    with Image.open(path) as im:
        assert im.size == (40, 20)                      # stored on its side
    img = load_image(path)
    assert img.shape == (40, 20, 3)                     # shown upright: 20 wide, 40 tall
    # Rotating 90 degrees clockwise brings the stored left half (blue) to the top.
    assert img[5, 10, 2] > 0.6 and img[5, 10, 0] < 0.3
    assert img[35, 10, 0] > 0.6 and img[35, 10, 2] < 0.3


def test_a_photo_too_large_for_a_run_is_shrunk_while_it_is_decoded(tmp_path):
    from stylelab.files.images import load_image, read_image
    Image.fromarray(np.full((1200, 1600, 3), 128, np.uint8)).save(tmp_path / "big.jpg",
                                                                  quality=90)
    Image.fromarray(np.full((1200, 1600, 3), 128, np.uint8)).save(tmp_path / "big.png")
    for name in ("big.jpg", "big.png"):
        # At least twice the target, never the whole photo, for a run at 100 px.
        assert 200 <= max(read_image(tmp_path / name, longest=100).shape) <= 400, name
        assert load_image(tmp_path / name, size=100).shape == (75, 100, 3)
        assert read_image(tmp_path / name).shape == (1200, 1600, 3)       # no size: whole


def test_warnings_come_out_as_one_line(monkeypatch, capsys):
    import warnings

    def run(args):
        warnings.warn("first line\n   second line", UserWarning)
    monkeypatch.setattr(cli.layers, "run", run)
    assert _main(["layers", "x.png", "--out", "y.png"]) == 0
    assert capsys.readouterr().err == "stylelab: warning: first line second line\n"


def test_ctrl_c_before_the_first_checkpoint_keeps_the_steps_done(kit, tmp_path):
    import signal
    import time
    from .processes import started
    out = tmp_path / "m.h5"
    argv = train(kit, tmp_path, out=out, extra=["--steps", 100000, "--checkpoint-every", 100000,
                                                "--sample-every", 100000])
    argv.remove("--quiet")
    with started(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        seen, deadline = b"", time.time() + 120
        while b"images a step" not in seen:              # the bar shows a step was taken
            assert time.time() < deadline and proc.poll() is None, seen[-500:].decode()
            seen += os.read(proc.stderr.fileno(), 4096)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    err = (seen + err).decode()
    assert proc.returncode == 130, err
    # The step under way finishes, the checkpoint is written (atomically), the model is not.
    assert "interrupted at step" in err and "continue with --resume" in err, err
    ckpt = tmp_path / "runs" / "m" / "checkpoint.h5"
    from stylelab.files.model_file import load_model
    assert load_model(ckpt, training=True)[2]["attrs"]["step"] >= 1
    assert not out.exists()
    assert not [n for n in os.listdir(ckpt.parent) if n.startswith(".stylelab-")]


def test_weights_download_refuses_a_file_of_the_other_network(tmp_path, monkeypatch, capsys):
    from .local_server import serve
    src = tmp_path / "src.pth"
    vgg_files.write_torchvision(src, "vgg16", vgg_files.random_torch_weights("vgg16", seed=2))
    data = src.read_bytes()
    name = f"vgg19-{hashlib.sha256(data).hexdigest()[:8]}.pth"     # named vgg19, holds vgg16
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with serve({name: data}) as base:
        code = _main(["weights", "download", "vgg19", "--url", f"{base}/{name}"])
    err = capsys.readouterr().err
    # Above the error, only the download's progress bar.
    assert code == 2 and "Traceback" not in err, err
    assert err.strip().splitlines()[-1] == (f"stylelab: error: {name} holds vgg16 weights, "
                                            f"not vgg19; nothing was saved")
    assert _listing(tmp_path / "cache") in ([], ["stylelab"])      # nothing cached


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into any folder: nothing to test")
def test_an_unwritable_output_folder_is_noticed_before_any_work(kit, tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        code = _main(gatys(kit, tmp_path, out=locked / "out.png", extra=["--iterations", 100000]))
    finally:
        locked.chmod(0o700)
    assert code == 2 and "is not writable" in capsys.readouterr().err


def test_temporary_files_of_killed_runs_are_swept(tmp_path):
    import time
    from stylelab.files.atomic import STALE_SECONDS, write_atomically
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()                                          # a process id nobody holds now
    stale = tmp_path / f".stylelab-{dead.pid}-0123456789ab.png"
    fresh = tmp_path / f".stylelab-{dead.pid}-ba9876543210.png"
    live = tmp_path / f".stylelab-{os.getppid()}-00000000000a.png"
    other = tmp_path / ".stylelab-notes.txt"
    for p in (stale, fresh, live, other):
        p.write_bytes(b"half a picture")
    old = time.time() - STALE_SECONDS - 5
    for p in (stale, live, other):
        os.utime(p, (old, old))
    write_atomically(tmp_path / "out.png", lambda tmp: open(tmp, "wb").write(b"png"))
    assert not stale.exists()                            # dead writer, untouched for a minute
    assert fresh.exists() and live.exists() and other.exists()


def test_a_started_process_is_killed_when_the_test_fails(kit, tmp_path):
    from .processes import started
    with pytest.raises(RuntimeError):
        with started(gatys(kit, tmp_path, extra=["--iterations", 100000]),
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as proc:
            raise RuntimeError("the test failed half-way")
    assert proc.poll() is not None
