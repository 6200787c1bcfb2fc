"""`stylelab models list | download | convert`, and `stylize` with published networks; downloads
from a server on 127.0.0.1 only."""

import hashlib
import io
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from stylelab import cli
from stylelab.files import published
from stylelab.files.foreign import read_network
from stylelab.files.model_file import load_model

from . import t7_files
from .local_server import serve
from .test_foreign import MODELS, write_deeplearnjs
from .onnx_files import export
from .torch_foreign import ExamplesNet, ExamplesNet255, random_tf_variables


def run(*args, env=None, cwd=None):
    return subprocess.run([sys.executable, "-m", "stylelab", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("models_cli")
    rng = np.random.default_rng(14)
    write_deeplearnjs(d / "tf", random_tf_variables(rng))
    torch.manual_seed(0)
    torch.save(ExamplesNet(widths=(8, 12, 16), blocks=1).state_dict(), d / "candy.pth")
    t7_files.write_t7(d / "udnie.t7", t7_files.johnson_checkpoint(rng, blocks=1))
    # The ONNX model zoo's layout: pytorch/examples' network exported at opset 9, 0..255 pixels.
    export(torch, ExamplesNet255(widths=(8, 12, 16), blocks=1).eval(),
           255 * torch.rand(1, 3, 32, 32), d / "mosaic.onnx", 9)
    Image.fromarray(rng.integers(0, 256, (44, 52, 3), dtype=np.uint8)).save(d / "photo.png")
    return d


@pytest.mark.parametrize("src", ["tf", "candy.pth", "udnie.t7", "mosaic.onnx"])
def test_convert_then_stylize_equals_stylizing_the_source(files, tmp_path, src):
    out = tmp_path / "m.h5"
    r = run("models", "convert", files / src, out)
    assert r.returncode == 0, r.stderr
    net, meta = load_model(out)
    assert meta["task"] == "style" and meta["source_format"] in r.stdout
    direct = run("stylize", "--model", files / src, files / "photo.png", "--out", tmp_path / "a.png")
    converted = run("stylize", "--model", out, files / "photo.png", "--out", tmp_path / "b.png")
    assert direct.returncode == converted.returncode == 0, direct.stderr + converted.stderr
    with Image.open(tmp_path / "a.png") as a, Image.open(tmp_path / "b.png") as b:
        assert a.size == (52, 44) and np.array_equal(np.asarray(a), np.asarray(b))


def test_convert_can_be_told_the_format(files, tmp_path):
    r = run("models", "convert", files / "candy.pth", tmp_path / "m.h5", "--format", "torch7")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert not (tmp_path / "m.h5").exists()


def test_stylize_with_the_real_wave_network(files, tmp_path):
    wave = MODELS / "wave"
    if not wave.is_dir():
        pytest.skip(f"{wave} is absent: the real networks are shared beside the project")
    r = run("stylize", "--model", wave, files / "photo.png", "--out", tmp_path / "w.png")
    assert r.returncode == 0, r.stderr
    assert "deeplearnjs network" in r.stdout


def test_models_list(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cli.main(["models", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("lengstrom-wave", "pytorch-candy", "johnson-the-scream", "johnson-eccv16-the-wave",
                 "onnx-mosaic", "onnx-pointilism"):
        assert f"| {name} |" in out
    assert "Logan Engstrom" in out and "| 6.7 MB |" in out


def test_download_checks_converts_and_names_in_the_cache(files, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    folder = files / "tf"
    served = {f"style-transfer/wave/{n}": (folder / n).read_bytes() for n in os.listdir(folder)}
    digest = read_network(folder)[1]["source"].rsplit(":", 1)[1]
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as zf:
        zf.writestr("saved_models/candy.pth", (files / "candy.pth").read_bytes())
    served["saved_models.zip"] = zipped.getvalue()
    served["instance_norm/udnie.t7"] = (files / "udnie.t7").read_bytes()
    served["model/mosaic-9.onnx"] = (files / "mosaic.onnx").read_bytes()
    wave = published.PUBLISHED["lengstrom-wave"]
    with serve(served) as base:
        monkeypatch.setitem(published.PUBLISHED, "lengstrom-wave", published.Published(
            **{**wave.__dict__, "url": f"{base}/style-transfer/wave", "sha256": digest}))
        for name, url in (("pytorch-candy", f"{base}/saved_models.zip"),
                          ("johnson-udnie", f"{base}/instance_norm/udnie.t7"),
                          ("onnx-mosaic", f"{base}/model/mosaic-9.onnx")):
            item = published.PUBLISHED[name]
            monkeypatch.setitem(published.PUBLISHED, name,
                                published.Published(**{**item.__dict__, "url": url}))
        for name in ("lengstrom-wave", "pytorch-candy", "johnson-udnie", "onnx-mosaic"):
            assert cli.main(["models", "download", name, "--quiet"]) == 0
            assert published.cached_network(name)
        out = capsys.readouterr().out
        assert "matches the recorded digest" in out and "(no digest was published)" in out
        # A published name serves as --model once downloaded.
        assert cli.main(["stylize", "--model", "lengstrom-wave", str(files / "photo.png"),
                         "--out", str(tmp_path / "w.png")]) == 0
        # The bytes differ from the recorded digest: refused, nothing kept.
        monkeypatch.setitem(published.PUBLISHED, "lengstrom-wave", published.Published(
            **{**wave.__dict__, "url": f"{base}/style-transfer/wave", "sha256": "0" * 64}))
        os.unlink(published.cached_network("lengstrom-wave"))
        with pytest.raises(ValueError, match="is not the recorded 0000000000000000"):
            published.download_network("lengstrom-wave", progress=False)
    assert sorted(os.listdir(tmp_path / "cache" / "stylelab" / "models")) == [
        "johnson-udnie.h5", "onnx-mosaic.h5", "pytorch-candy.h5"]
    meta = load_model(published.cached_network("johnson-udnie"))[1]
    assert meta["licence"].startswith("free for personal or research use")
    assert meta["source"].endswith(hashlib.sha256((files / "udnie.t7").read_bytes()).hexdigest())


def test_an_unreachable_download_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.raises(ValueError, match=r"Offline\? .*stylelab models convert FILE .*johnson-candy.h5"):
        published.download_network("johnson-candy", progress=False,
                                   url="http://127.0.0.1:9/instance_norm/candy.t7")
    assert os.listdir(tmp_path / "stylelab" / "models") == []


@pytest.mark.parametrize("args,message", [
    (["models", "download", "nope"], "no published network 'nope'"),
    (["stylize", "--model", "johnson-candy", "PHOTO", "--out", "o.png"],
     "johnson-candy is not downloaded yet: run `stylelab models download johnson-candy`"),
    (["stylize", "--model", "no-such-thing", "PHOTO", "--out", "o.png"], "no published network named"),
    (["models", "convert", "TF", "o.png"], "name it .h5"),
    (["models", "convert", "PHOTO", "o.h5"], "not a network this reader knows"),
    (["stylize", "--model", "TF", "PHOTO", "--out", "PHOTO"], "refusing to write"),
    (["stylize", "--model", "BROKEN_TF", "PHOTO", "--out", "o.png"], "the file variable 'Variable_7' names is missing"),
    (["models", "convert", "HOSTILE_T7", "o.h5"], "Lua function, which is code"),
])
def test_bad_input_is_one_line_and_exit_2(files, tmp_path, args, message):
    broken = tmp_path / "broken"
    if "BROKEN_TF" in args:
        write_deeplearnjs(broken, random_tf_variables(np.random.default_rng(1)))
        (broken / "Variable_7").unlink()
    if "HOSTILE_T7" in args:
        checkpoint = t7_files.johnson_checkpoint(np.random.default_rng(2), blocks=1)
        checkpoint["opt"]["init"] = t7_files.Function()
        t7_files.write_t7(tmp_path / "hostile.t7", checkpoint)
    names = {"PHOTO": files / "photo.png", "TF": files / "tf", "BROKEN_TF": broken,
             "HOSTILE_T7": tmp_path / "hostile.t7"}
    args = [str(names.get(a, a)) for a in args]
    inputs = sorted(os.listdir(tmp_path))
    before = (files / "photo.png").read_bytes()
    r = run(*args, env={"XDG_CACHE_HOME": str(tmp_path / "cache")}, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert (files / "photo.png").read_bytes() == before
    assert sorted(set(os.listdir(tmp_path)) - {"cache"}) == inputs      # nothing written
