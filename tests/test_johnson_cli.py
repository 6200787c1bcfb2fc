"""`stylelab train`, `stylize`, `train-sr` and `upscale` end to end; kill and resume; bad input."""

import hashlib
import os
import signal
import subprocess
import sys

import h5py
import numpy as np
import pytest
from PIL import Image

from stylelab.files.vgg_h5 import save_random_vgg_h5
from stylelab.files.model_file import load_model

from .processes import started, wait_until
from .test_training import write_photos


def run(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "stylelab"] + [str(a) for a in args],
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("johnson_cli")
    save_random_vgg_h5(d / "vgg16.h5", "vgg16", seed=0, upto="relu4_3")
    save_random_vgg_h5(d / "vgg19.h5", "vgg19", seed=0, upto="relu4_3")
    rng = np.random.default_rng(6)
    write_photos(d / "data", rng, count=6)
    (d / "data" / "corrupt.jpg").write_bytes(b"\xff\xd8\xff not really")
    Image.fromarray(rng.integers(0, 256, (40, 36, 3), dtype=np.uint8)).save(d / "style.png")
    return d


def train_args(files, out, *extra):
    return ["train", "--style", files / "style.png", "--data", files / "data", "--out", out,
            "--weights", files / "vgg16.h5", "--crop-size", 32, "--style-size", 32,
            "--batch-size", 2, "--quiet", *extra]


@pytest.fixture(scope="module")
def model(files, tmp_path_factory):
    out = tmp_path_factory.mktemp("model") / "starry.h5"
    r = run(*train_args(files, out, "--steps", 4, "--checkpoint-every", 2,
                        "--sample-every", 2))
    assert r.returncode == 0, r.stderr
    return out, r


def test_train_writes_the_model_checkpoint_and_samples(files, model):
    out, r = model
    assert "after 4 steps" in r.stdout and "skipped 1 unreadable file(s)" in r.stdout
    assert "random weights" in r.stderr      # never passed off as a real style network
    net, meta = load_model(out)
    assert meta["task"] == "style" and meta["arch"] == net.arch == "c9s1-32,d64,d128,R128x5,u64,u32,c9s1-3"
    assert meta["style_sha256"] == hashlib.sha256((files / "style.png").read_bytes()).hexdigest()
    assert (meta["content_weight"], meta["style_weight"], meta["tv_weight"]) == (1.0, 1e5, 1e-6)
    assert meta["style_layers"] == ["relu1_2", "relu2_2", "relu3_3", "relu4_3"]
    assert meta["content_layers"] == ["relu2_2"] and meta["steps"] == 4
    assert "random weights" in meta["loss_network"]
    with h5py.File(out) as f:
        assert "train" not in f                        # the model is not a checkpoint
    _, _, train = load_model(out.parent / "runs" / "starry" / "checkpoint.h5", training=True)
    assert train["attrs"]["step"] == 4
    samples = out.parent / "runs" / "starry" / "samples"           # apart from the models
    assert sorted(os.listdir(samples)) == ["step_000002.png", "step_000004.png"]


def test_stylize_files_and_folders_of_any_size(files, model, tmp_path):
    out, _ = model
    r = run("stylize", "--model", out, files / "data", files / "style.png", "--out", tmp_path / "o")
    # The unreadable photo is recorded as failed, the others painted, and the exit says so.
    assert r.returncode == 2 and "1 of 8 photos failed" in r.stderr, r.stderr
    assert "corrupt.jpg: cannot identify image file" in r.stderr.splitlines()[-1]
    made = sorted(os.listdir(tmp_path / "o"))
    assert made == ["manifest.jsonl"] + [f"photo{i}.png" for i in range(6)] + ["style.png"]
    for i, name in enumerate(made[1:4]):          # sizes as the inputs, not multiples of 4
        with Image.open(tmp_path / "o" / name) as a, Image.open(files / "data" / name) as b:
            assert a.size == b.size
    r = run("stylize", "--model", out, files / "style.png", "--out", tmp_path / "one.jpg",
            "--size", 50)
    assert r.returncode == 0, r.stderr
    with Image.open(tmp_path / "one.jpg") as im:
        assert im.size == (45, 50)


def test_killed_training_resumes_exactly(files, tmp_path):
    """SIGKILL after a checkpoint, --resume, and the model equals an uninterrupted run's."""
    straight = tmp_path / "straight.h5"
    args = ["--steps", 12, "--checkpoint-every", 3, "--sample-every", 100]
    assert run(*train_args(files, straight, *args)).returncode == 0
    killed = tmp_path / "killed.h5"
    ckpt = tmp_path / "runs" / "killed" / "checkpoint.h5"
    with started(train_args(files, killed, *args), stdout=subprocess.DEVNULL,
                 stderr=subprocess.DEVNULL) as proc:
        wait_until(ckpt.exists, proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert ckpt.exists() and not killed.exists(), "the run ended before it could be killed"
    step = load_model(ckpt, training=True)[2]["attrs"]["step"]
    assert 3 <= step < 12
    r = run(*train_args(files, killed, *args, "--resume"))
    assert r.returncode == 0, r.stderr
    a, b = load_model(straight)[0], load_model(killed)[0]
    for k in a.params:
        assert np.array_equal(a.params[k], b.params[k]), k


@pytest.mark.parametrize("factor", [4, 8])
def test_super_resolution_trains_and_upscales(files, tmp_path, factor):
    sr = tmp_path / f"sr{factor}.h5"
    r = run("train-sr", "--data", files / "data", "--out", sr, "--weights", files / "vgg16.h5",
            "--factor", factor, "--crop-size", 40, "--batch-size", 2, "--steps", 2, "--quiet")
    assert r.returncode == 0, r.stderr
    net, meta = load_model(sr)
    assert meta["task"] == "super-resolution" and meta["factor"] == factor == net.factor
    r = run("upscale", "--model", sr, files / "style.png", tmp_path / "big.png")
    assert r.returncode == 0, r.stderr
    with Image.open(tmp_path / "big.png") as im:
        assert im.size == (36 * factor, 40 * factor)
    if factor == 8:
        # The paper's per-pixel baseline needs no loss network, nor its weights.
        r = run("train-sr", "--data", files / "data", "--out", tmp_path / "px.h5", "--factor", 8,
                "--crop-size", 40, "--batch-size", 2, "--steps", 1, "--quiet",
                "--content-weight", 0, "--pixel-weight", 1, "--weights", tmp_path / "absent.h5")
        assert r.returncode == 0 and "random weights" not in r.stderr, r.stderr
        assert load_model(tmp_path / "px.h5")[1]["loss_network"] == "none (per-pixel loss only)"
        return
    r = subprocess.run([sys.executable, "examples/sr_psnr.py", "--model", str(sr), "--size", "40",
                        str(files / "style.png")], capture_output=True, text=True,
                       cwd=os.path.dirname(os.path.dirname(__file__)))
    assert r.returncode == 0, r.stderr
    assert "| style.png |" in r.stdout and "random weights" in r.stdout


@pytest.fixture
def bad(files, model, tmp_path):
    out, _ = model
    (tmp_path / "empty").mkdir()
    (tmp_path / "text.h5").write_text("hello")
    (tmp_path / "truncated.h5").write_bytes(out.read_bytes()[:3000])
    with h5py.File(out) as src, h5py.File(tmp_path / "noparam.h5", "w") as dst:
        dst.attrs.update(src.attrs)
        for k in list(src["params"])[1:]:
            dst[f"params/{k}"] = src["params"][k][()]
    with h5py.File(out) as src, h5py.File(tmp_path / "badshape.h5", "w") as dst:
        dst.attrs.update(src.attrs)
        for k in src["params"]:
            dst[f"params/{k}"] = src["params"][k][()][..., :1] if k == "conv1.w" else src["params"][k][()]
    Image.fromarray(np.zeros((3, 4, 3), np.uint8)).save(tmp_path / "tiny.png")
    ckpt = tmp_path / "runs" / "ck" / "checkpoint.h5"
    ckpt.parent.mkdir(parents=True)
    (ckpt).write_bytes((out.parent / "runs" / "starry" / "checkpoint.h5").read_bytes())
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(tmp_path / "other_style.png")
    (tmp_path / "sub").mkdir()
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(tmp_path / "sub" / "style.png")
    return tmp_path


def model_case(model_file, message):
    return (lambda f, m, t: ["stylize", "--model", model_file(f, m, t), f / "style.png",
                             "--out", t / "x.png"], message)


CASES = {
    "model is not HDF5": model_case(lambda f, m, t: t / "text.h5", "is not an HDF5 file"),
    "model is VGG weights": model_case(lambda f, m, t: f / "vgg16.h5", "is not a stylelab model"),
    "model is truncated": model_case(lambda f, m, t: t / "truncated.h5", "truncated.h5"),
    "model lacks a parameter": model_case(lambda f, m, t: t / "noparam.h5",
                                          "/params/conv1.b should be floats of shape (32,) for c9s1-32,d64,d128,R128x5,u64,u32,c9s1-3 (nearest upsampling), but is missing"),
    "model has a wrong shape": model_case(lambda f, m, t: t / "badshape.h5",
                                          "/params/conv1.w should be floats of shape (32, 9, 9, 3)"),
    "no such model": model_case(lambda f, m, t: t / "nope.h5", "no such model file"),
    "style model to upscale": (lambda f, m, t: ["upscale", "--model", m, f / "style.png",
                                                t / "x.png"], "use it with `stylelab stylize`"),
    "missing input": (lambda f, m, t: ["stylize", "--model", m, t / "nope.png", "--out",
                                       t / "x.png"], "no such image file or folder"),
    "named input unreadable": (lambda f, m, t: ["stylize", "--model", m, f / "data" / "corrupt.jpg",
                                                "--out", t / "x.png"], "cannot read image"),
    "two inputs, one file": (lambda f, m, t: ["stylize", "--model", m, f / "style.png",
                                              f / "data" / "photo0.png", "--out", t / "x.png"],
                             "give a folder"),
    "output name clash": (lambda f, m, t: ["stylize", "--model", m, f / "style.png",
                                           t / "sub" / "style.png", "--out",
                                           t / "o"], "would both be written to"),
    "empty data folder": (lambda f, m, t: train_args(f, t / "m.h5", "--steps", 1)[:4] +
                          [t / "empty"] + train_args(f, t / "m.h5")[5:], "no image files in it"),
    "out is not .h5": (lambda f, m, t: train_args(f, t / "m.png"), "name it .h5"),
    "crops too small": (lambda f, m, t: train_args(f, t / "m.h5") + ["--crop-size", "4"],
                        "--crop-size 4 is too small: the network and the loss layers need at "
                        "least 8 pixels"),
    "image too small": (lambda f, m, t: ["stylize", "--model", m, t / "tiny.png", "--out",
                                         t / "x.png"], "an image of 4x3 pixels is too small"),
    "VGG-19 as loss network": (lambda f, m, t: train_args(f, t / "m.h5") + ["--weights",
                               f / "vgg19.h5"], "the loss network is VGG-16"),
    "resume without checkpoint": (lambda f, m, t: train_args(f, t / "m.h5", "--resume"),
                                  "no checkpoint at"),
    "resume with another style": (lambda f, m, t: ["train", "--style", t / "other_style.png"]
                                  + train_args(f, t / "ck.h5", "--resume", "--steps", 6)[3:],
                                  "style image differs"),
    "resume with another lr": (lambda f, m, t: train_args(f, t / "ck.h5", "--resume", "--lr",
                                                          "0.01"), "--lr 0.01 differs"),
    "resume a finished model": (lambda f, m, t: train_args(f, t / "ck.h5", "--resume",
                                                           "--checkpoint", m), "not a checkpoint"),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_one_line(files, model, bad, case):
    make, message = CASES[case]
    before = set(os.listdir(bad))
    r = run(*make(files, model[0], bad))
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and message in r.stderr, r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("stylelab: error:")
    assert set(os.listdir(bad)) == before        # nothing written, no temp files left


def test_ctrl_c_keeps_the_last_checkpoint(files, tmp_path):
    out = tmp_path / "m.h5"
    ckpt = tmp_path / "runs" / "m" / "checkpoint.h5"
    with started(train_args(files, out, "--steps", 1000, "--checkpoint-every", 2,
                            "--sample-every", 1000),
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        wait_until(ckpt.exists, proc)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted at step" in err and "--resume" in err and "Traceback" not in err
    assert not out.exists()                               # no model from an unfinished run
    assert load_model(ckpt, training=True)[2]["attrs"]["step"] >= 2
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".stylelab-")]


def test_a_short_run_ends_with_a_sample_and_says_what_it_prepares(files, tmp_path):
    out = tmp_path / "short.h5"
    args = train_args(files, out, "--steps", 3, "--sample-every", 500, "--checkpoint-every", 500)
    args.remove("--quiet")
    r = run(*args)
    assert r.returncode == 0, r.stderr
    # Before the first step, one line says what is being prepared and where the weights came from.
    first = r.stderr.lstrip("\r").splitlines()[0]
    assert first.startswith("train style: preparing the loss network from --weights (")
    assert "then 3 steps" in first
    # The bar counts steps, as --steps does.
    assert "3/3" in r.stderr and " step/s" in r.stderr
    # Shorter than --sample-every, and still a sample of the end; the checkpoint is there too.
    assert os.listdir(tmp_path / "runs" / "short" / "samples") == ["step_000003.png"]
    assert load_model(tmp_path / "runs" / "short" / "checkpoint.h5", training=True)[2][
        "attrs"]["step"] == 3


def test_one_weights_folder_serves_both_networks(files, tmp_path, monkeypatch, capsys):
    from stylelab import cli
    from stylelab.files import download

    def main(args):
        try:
            return cli.main([str(a) for a in args])
        except SystemExit as exc:
            return exc.code
    folder = tmp_path / "weights"
    folder.mkdir()
    for arch in ("vgg16", "vgg19"):
        (folder / f"{arch}.h5").write_bytes((files / f"{arch}.h5").read_bytes())
    monkeypatch.setenv("STYLELAB_WEIGHTS", str(folder))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    train = [a for a in train_args(files, tmp_path / "m.h5", "--steps", 1)
             if a not in ("--weights", files / "vgg16.h5")]
    assert main(train) == 0, capsys.readouterr().err
    # VGG-19 from the same folder (Gatys's default layers need relu5_1; these do not).
    gatys = ["gatys", "--content", files / "style.png", "--style", files / "style.png", "--out",
             tmp_path / "g.png", "--size", 16, "--iterations", 1, "--content-layers", "relu2_1",
             "--style-layers", "relu1_1"]
    capsys.readouterr()
    assert main(gatys) == 0
    assert f"vgg19 from the $STYLELAB_WEIGHTS folder ({folder / 'vgg19.h5'})" in \
        capsys.readouterr().err
    # A file in the variable serves the network it holds; for the other one, the message
    # says what the variable holds (here, offline: nothing to download either).
    monkeypatch.setenv("STYLELAB_WEIGHTS", str(folder / "vgg19.h5"))
    monkeypatch.setitem(download.URLS, "vgg16", "http://127.0.0.1:9/vgg16-00b39a1b.pth")
    assert main(train) == 2
    err = capsys.readouterr().err
    assert "no vgg16 weights on this machine ($STYLELAB_WEIGHTS holds vgg19; no vgg16.h5 in " \
           "the cache); downloading them once" in err, err
