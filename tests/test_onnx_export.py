"""ONNX out: every network ``stylize`` / ``upscale`` takes, exported, runs in onnxruntime as in stylelab.

The reference is onnxruntime running the written file (and ``onnx.checker``
passing it); the claim is the README's: the file, fed RGB 0..255, paints
what ``stylelab stylize`` paints, within one 8-bit level, at sizes that are
not multiples of the network's stride.
"""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from stylelab.files.foreign import read_network
from stylelab import cli
from stylelab.files.model_file import save_model
from stylelab.files.onnx_export import export_onnx
from stylelab.nets.transform import TransformNet

from . import t7_files
from .onnx_files import need, run_ort
from .test_foreign import write_deeplearnjs
from .torch_foreign import ExamplesNet, random_tf_variables

SIZES = ((37, 45), (50, 33))          # odd sides: the strided convs round up, the output is cropped


def _eight_bit(a):
    return np.round(np.clip(a, 0, 1) * 255).astype(int)


def check_equal_in_onnxruntime(net, path):
    onnx = need("onnx")
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    model = path.read_bytes()
    rng = np.random.default_rng(7)
    for h, w in SIZES:
        img = rng.random((h, w, 3)).astype(np.float32)
        ours = net.apply(img)
        out, = run_ort(model, (255 * img).transpose(2, 0, 1)[None])
        theirs = out[0].transpose(1, 2, 0) / 255
        assert theirs.shape == ours.shape
        assert np.abs(_eight_bit(ours) - _eight_bit(theirs)).max() <= 1, (h, w)
        assert np.abs(ours - theirs).max() < 1e-3         # float32 rounding, not a level


def _pytorch(tmp_path, rng):
    import torch
    torch.manual_seed(0)
    torch.save(ExamplesNet(widths=(8, 12, 16), blocks=1).state_dict(), tmp_path / "p.pth")
    return read_network(tmp_path / "p.pth")[0]


def _tensorflow(tmp_path, rng):
    write_deeplearnjs(tmp_path / "tf", random_tf_variables(rng))
    return read_network(tmp_path / "tf")[0]


def _torch7(kind):
    def make(tmp_path, rng):
        t7_files.write_t7(tmp_path / "j.t7", t7_files.johnson_checkpoint(rng, kind))
        return read_network(tmp_path / "j.t7")[0]
    return make


NETWORKS = {
    "stylelab's own style network": lambda t, r: TransformNet("c9s1-8,d12,d16,R16x2,u12,u8,c9s1-3",
                                                              seed=1),
    "stylelab's own, transposed convs": lambda t, r: TransformNet("c9s1-8,d12,R12,u8,c9s1-3",
                                                                  upsample="transpose", seed=2),
    "stylelab's super-resolution (x4)": lambda t, r: TransformNet("c9s1-8,R8x1,u8,u8,c9s1-3",
                                                                  seed=3),
    "pytorch/examples' TransformerNet": _pytorch,
    "lengstrom's TensorFlow network": _tensorflow,
    "jcjohnson's Torch7 network (instance norm)": _torch7("instance"),
    "jcjohnson's Torch7 network (batch norm)": _torch7("batch"),
}


@pytest.mark.parametrize("name", NETWORKS)
def test_an_exported_network_runs_in_onnxruntime_as_in_stylelab(name, tmp_path):
    net = NETWORKS[name](tmp_path, np.random.default_rng(5))
    export_onnx(net, tmp_path / "net.onnx", {"task": "style"})
    check_equal_in_onnxruntime(net, tmp_path / "net.onnx")
    # stylelab reads its own file back: the same network, the same numbers.
    back, meta = read_network(tmp_path / "net.onnx")
    assert back.spec == net.spec and "exported by stylelab" in meta["found"]
    img = np.random.default_rng(2).random((40, 44, 3)).astype(np.float32)
    assert np.array_equal(back.apply(img), net.apply(img))


def test_models_export_writes_what_stylize_paints(tmp_path):
    """The command line end to end: a model file, exported, equals `stylelab stylize` on a photo."""
    ort = need("onnxruntime")
    net = TransformNet("c9s1-8,d12,d16,R16x1,u12,u8,c9s1-3", seed=4)
    save_model(tmp_path / "m.h5", net, {"task": "style", "style_name": "noise"})
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (41, 53, 3), dtype=np.uint8)).save(tmp_path / "p.png")
    run = [sys.executable, "-m", "stylelab"]
    r = subprocess.run([*run, "models", "export", tmp_path / "m.h5", tmp_path / "m.onnx"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and len(r.stdout.strip().splitlines()) == 1, r.stderr
    r = subprocess.run([*run, "stylize", "--model", tmp_path / "m.h5", tmp_path / "p.png",
                        "--out", tmp_path / "s.png"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    photo = np.asarray(Image.open(tmp_path / "p.png"), np.float32)
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    out, = session.run(None, {"input": photo.transpose(2, 0, 1)[None]})
    theirs = np.clip(np.round(out[0].transpose(1, 2, 0)), 0, 255)
    ours = np.asarray(Image.open(tmp_path / "s.png"), np.float32)
    assert np.abs(theirs - ours).max() <= 1
    # The file says where it came from.
    onnx = need("onnx")
    props = {p.key: p.value for p in onnx.load(str(tmp_path / "m.onnx")).metadata_props}
    assert props["style_name"] == "noise" and props["arch"] == net.arch


def test_a_decoder_is_not_exported(tmp_path, capsys):
    net = TransformNet("c3s1-8,u4,c3s1-3", in_channels=16, output="linear")
    with pytest.raises(ValueError, match="takes 16 channels of VGG features"):
        export_onnx(net, tmp_path / "d.onnx")
    save_model(tmp_path / "d.h5", net, {"task": "decoder"})
    with pytest.raises(SystemExit) as exit_:
        cli.main(["models", "export", str(tmp_path / "d.h5"), str(tmp_path / "d.onnx")])
    assert exit_.value.code == 2
    assert "it takes VGG features, not a picture" in capsys.readouterr().err
    assert not (tmp_path / "d.onnx").exists()
