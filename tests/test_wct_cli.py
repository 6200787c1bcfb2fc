"""`stylelab train-decoder` and `stylelab wct` end to end, on random weights; bad input."""

import os

import numpy as np
import pytest
from PIL import Image

from stylelab.files.vgg_h5 import save_random_vgg_h5
from stylelab.files.weights import load_vgg
from stylelab.nets.decoder import encoder_fingerprint
from stylelab.files.model_file import load_model

from .processes import started
from .test_johnson_cli import run
from .test_training import write_photos


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("wct_cli")
    save_random_vgg_h5(d / "vgg19.h5", "vgg19", seed=0, upto="relu5_1")
    save_random_vgg_h5(d / "other19.h5", "vgg19", seed=1, upto="relu5_1")
    save_random_vgg_h5(d / "short19.h5", "vgg19", seed=0, upto="relu3_1")
    save_random_vgg_h5(d / "vgg16.h5", "vgg16", seed=0, upto="relu2_2")
    rng = np.random.default_rng(11)
    write_photos(d / "data", rng, count=4)
    for name, shape in (("content.png", (36, 52, 3)), ("style.png", (40, 32, 3)),
                        ("style2.png", (30, 30, 3))):
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(d / name)
    mask = np.zeros((36, 52), np.uint8)
    mask[:, 26:] = 255
    mask[3, 4] = 255                                   # a one-pixel region of the second style
    Image.fromarray(mask).save(d / "mask.png")
    return d


def decoder_args(files, level, out, *extra):
    return ["train-decoder", "--level", level, "--data", files / "data", "--out", out,
            "--weights", files / "vgg19.h5", "--crop-size", 32, "--batch-size", 2, "--quiet",
            *extra]


@pytest.fixture(scope="module")
def decoders(files, tmp_path_factory):
    d = tmp_path_factory.mktemp("decoders")
    for level in (2, 1):
        r = run(*decoder_args(files, level, d / f"relu{level}_1.h5", "--steps", 2))
        assert r.returncode == 0, r.stderr
        assert "random weights" in r.stderr
    return d


def test_train_decoder_records_its_encoder(files, decoders):
    net, meta = load_model(decoders / "relu2_1.h5")
    assert meta["task"] == "decoder" and meta["level"] == 2 and meta["steps"] == 2
    assert (net.arch, net.norm, net.output, net.in_channels) == ("c3s1-64,u64,c3s1-3", "none",
                                                                 "linear", 128)
    assert meta["content_layers"] == ["relu2_1"] and meta["pixel_weight"] == 1.0
    assert meta["encoder"] == encoder_fingerprint(load_vgg(files / "vgg19.h5"), "relu2_1")
    assert "random weights" in meta["loss_network"]


def test_train_decoder_resumes_exactly(files, tmp_path):
    straight, split = tmp_path / "a.h5", tmp_path / "b.h5"
    assert run(*decoder_args(files, 2, straight, "--steps", 4)).returncode == 0
    assert run(*decoder_args(files, 2, split, "--steps", 2)).returncode == 0
    r = run(*decoder_args(files, 2, split, "--steps", 4, "--resume"))
    assert r.returncode == 0, r.stderr
    a, b = load_model(straight)[0].params, load_model(split)[0].params
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_train_decoder_trains_the_whole_set_and_resumes_it(files, tmp_path):
    d = tmp_path / "decoders"
    args = ["train-decoder", "--levels", "2,1", "--out-dir", d, "--data", files / "data",
            "--weights", files / "vgg19.h5", "--crop-size", 32, "--batch-size", 2, "--steps", 2,
            "--quiet"]
    r = run(*args, "--keep-checkpoints")
    assert r.returncode == 0, r.stderr
    # The models alone at the top; each level's checkpoint and samples under runs/.
    assert sorted(os.listdir(d)) == ["relu1_1.h5", "relu2_1.h5", "runs"]
    for layer in ("relu2_1", "relu1_1"):
        assert sorted(os.listdir(d / "runs" / layer)) == ["checkpoint.h5", "samples"]
        assert os.listdir(d / "runs" / layer / "samples") == ["step_000002.png"]
    # By default a finished level's checkpoint goes (--resume skips finished levels), saying so.
    lean = tmp_path / "lean"
    r = run(*[lean if a == d else a for a in args if a != "--quiet"])
    assert r.returncode == 0, r.stderr
    assert "its checkpoint" in r.stderr and "removed (--keep-checkpoints keeps them" in r.stderr
    for layer in ("relu2_1", "relu1_1"):
        assert os.listdir(lean / "runs" / layer) == ["samples"]
    # Killed during relu1_1 (its model not yet written): --resume keeps relu2_1 as it is
    # and finishes relu1_1 from its checkpoint.
    kept = (d / "relu2_1.h5").stat().st_mtime_ns
    (d / "relu1_1.h5").unlink()
    r = run(*args, "--resume")
    assert r.returncode == 0, r.stderr
    assert (d / "relu2_1.h5").stat().st_mtime_ns == kept and (d / "relu1_1.h5").exists()
    # The set serves wct as it is.
    r = run("wct", "--content", files / "content.png", "--style", files / "style.png", "--out",
            tmp_path / "o.png", "--weights", files / "vgg19.h5", "--levels", "2,1",
            "--decoders", d, "--quiet")
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("road", ["decoders", "invert"])
def test_wct_end_to_end(files, decoders, tmp_path, road):
    how = ["--decoders", decoders] if road == "decoders" else ["--invert", "--iterations", 2]
    common = ["wct", "--content", files / "content.png", "--weights", files / "vgg19.h5",
              "--levels", "2,1", "--size", 52, *how]
    outs = {"one": ["--style", files / "style.png"],
            "mixed": ["--style", files / "style.png", files / "style2.png",
                      "--style-weights", 1, 3, "--alpha", 1],
            "mask": ["--style", files / "style.png", files / "style2.png",
                     "--mask", files / "mask.png"]}
    for name, extra in outs.items():
        r = run(*common, *extra, "--out", tmp_path / f"{name}.png", "--quiet")
        assert r.returncode == 0, r.stderr
        assert "WCT at relu2_1, relu1_1" in r.stdout and "random weights" in r.stderr
        with Image.open(tmp_path / f"{name}.png") as im:
            assert im.size == (52, 36)
    assert sorted(os.listdir(tmp_path)) == ["mask.png", "mixed.png", "one.png"]


@pytest.fixture
def bad(files, decoders, tmp_path):
    d = tmp_path / "decs"
    d.mkdir()
    (d / "relu1_1.h5").write_bytes((decoders / "relu2_1.h5").read_bytes())    # wrong level
    (tmp_path / "vggdec").mkdir()
    (tmp_path / "vggdec" / "relu1_1.h5").write_bytes((files / "vgg16.h5").read_bytes())
    return tmp_path


def wct_args(files, t, *extra, road=None):
    return ["wct", "--content", files / "content.png", "--style", files / "style.png",
            "--out", t / "o.png", "--weights", files / "vgg19.h5", "--size", 48,
            *(road if road is not None else ["--invert", "--iterations", 1]), *extra]


CASES = {
    "neither road": (lambda f, d, t: wct_args(f, t, road=[]),
                     "one of the arguments --decoders --invert is required"),
    "both roads": (lambda f, d, t: wct_args(f, t, road=["--invert", "--decoders", d]),
                   "not allowed with argument"),
    "no decoder for a level": (lambda f, d, t: wct_args(f, t, road=["--decoders", d]),
                               "no decoder"),
    "decoder of another level": (lambda f, d, t: wct_args(f, t, "--levels", "1",
                                                          road=["--decoders", t / "decs"]),
                                 "decodes relu2_1, not relu1_1"),
    "decoder of other weights": (lambda f, d, t: wct_args(
        f, t, "--levels", "2,1", "--weights", f / "other19.h5", road=["--decoders", d]),
        "was trained on other VGG-19 weights"),
    "VGG file as a decoder": (lambda f, d, t: wct_args(f, t, "--levels", "1",
                                                       road=["--decoders", t / "vggdec"]),
                              "is not a stylelab model"),
    "decoders folder missing": (lambda f, d, t: wct_args(f, t, road=["--decoders", t / "nope"]),
                                "no such folder"),
    "alpha above 1": (lambda f, d, t: wct_args(f, t, "--alpha", "1.5"),
                      "--alpha must be between 0 and 1"),
    "level 0": (lambda f, d, t: wct_args(f, t, "--levels", "3,0"), "decoder level must be one of"),
    "level twice": (lambda f, d, t: wct_args(f, t, "--levels", "3,3"), "levels must be distinct"),
    "mask with one style": (lambda f, d, t: wct_args(f, t, "--mask", f / "mask.png"),
                            "two or more styles"),
    "mask and weights": (lambda f, d, t: wct_args(f, t, "--style", f / "style.png",
                                                  f / "style2.png", "--mask", f / "mask.png",
                                                  "--style-weights", 1, 1), "use one or the other"),
    "weights per style": (lambda f, d, t: wct_args(f, t, "--style-weights", 1, 2),
                          "2 --style-weights for 1 style images"),
    "unreadable content": (lambda f, d, t: wct_args(f, t, "--content", f / "vgg19.h5"),
                           "cannot read image"),
    "missing style": (lambda f, d, t: wct_args(f, t, "--style", t / "nope.png"), "nope.png"),
    "bad output type": (lambda f, d, t: wct_args(f, t, "--out", t / "o.txt"), ".txt"),
    "output folder is a file": (lambda f, d, t: wct_args(f, t, "--out", f / "mask.png" / "o.png"),
                                "mask.png is a file, not a folder"),
    "too small": (lambda f, d, t: wct_args(f, t, "--size", 8), "too small for relu5_1"),
    "VGG-16 weights": (lambda f, d, t: wct_args(f, t, "--weights", f / "vgg16.h5"),
                       "the encoder is VGG-19"),
    "weights stop early": (lambda f, d, t: wct_args(f, t, "--weights", f / "short19.h5"),
                           "the VGG-19 weights stop before relu5_1"),
    "decoder: wrong crop": (lambda f, d, t: decoder_args(f, 3, t / "d.h5", "--crop-size", 30),
                            "must be a multiple of 4"),
    "decoder: VGG-16": (lambda f, d, t: decoder_args(f, 1, t / "d.h5", "--weights", f / "vgg16.h5"),
                        "the loss network is VGG-19"),
    "decoder: weights stop early": (lambda f, d, t: decoder_args(f, 4, t / "d.h5", "--weights",
                                                                 f / "short19.h5"),
                                    "the VGG-19 weights stop before relu4_1"),
    "decoder: nothing to learn": (lambda f, d, t: decoder_args(f, 1, t / "d.h5", "--pixel-weight",
                                                               0, "--content-weight", 0),
                                  "nothing to learn from"),
    "decoder: level 6": (lambda f, d, t: decoder_args(f, 6, t / "d.h5"), "invalid choice: 6"),
    "decoders: --levels without --out-dir": (lambda f, d, t: decoder_args(f, 1, t / "d.h5")[:1]
                                             + ["--levels", "2,1"] + decoder_args(f, 1, t / "d.h5")[3:],
                                             "--levels trains a set of decoders into --out-dir"),
    "decoder: resume another level": (lambda f, d, t: decoder_args(
        f, 1, t / "d.h5", "--resume", "--checkpoint", d / "runs" / "relu2_1" / "checkpoint.h5"),
        "--level 1 differs from the checkpoint's 2"),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_one_line(files, decoders, bad, case):
    make, message = CASES[case]
    before = set(os.listdir(bad))
    r = run(*make(files, decoders, bad))
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and message in r.stderr, r.stderr
    assert "error:" in r.stderr.strip().splitlines()[-1]
    assert set(os.listdir(bad)) == before        # nothing written, no temp files left


def test_ctrl_c_during_inversion_writes_the_image_so_far(files, tmp_path):
    import signal
    import subprocess
    import time
    out = tmp_path / "o.png"
    cmd = ["wct", "--content", files / "content.png", "--style", files / "style.png", "--out",
           out, "--weights", files / "vgg19.h5", "--invert", "--iterations", "100000",
           "--size", "64"]
    with started(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        seen, deadline = b"", time.time() + 120
        while b"wct relu5_1" not in seen:          # the first iteration is done
            assert time.time() < deadline and proc.poll() is None, seen.decode()
            seen += os.read(proc.stderr.fileno(), 4096)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    err = (seen + err).decode()
    assert proc.returncode == 130, err
    assert "interrupted; wrote the image so far" in err and "Traceback" not in err
    done = int(err.split(" L-BFGS iterations over ")[0].rsplit("inversion, ", 1)[1])
    assert 1 <= done < 100000, err             # what was done, not what was asked
    with Image.open(out) as im:
        assert im.size == (64, 44)             # 52x36 at --size 64
    assert sorted(os.listdir(tmp_path)) == ["o.png"]
