"""`stylelab gatys` and examples/gatys.py end to end; bad input is one line and no output."""

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from stylelab import cli
from stylelab.files import download
from stylelab.files.images import load_image
from stylelab.files.vgg_h5 import save_random_vgg_h5

from . import vgg_files
from .local_server import serve
from .processes import started, wait_until

ROOT = Path(__file__).resolve().parents[1]


def run(*args, cwd=None, env=None, script=None):
    cmd = [sys.executable, script] if script else [sys.executable, "-m", "stylelab", "gatys"]
    return subprocess.run(cmd + [str(a) for a in args], capture_output=True, text=True,
                          cwd=cwd, env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Random VGG-19 weights (up to relu5_1), a 'photo' and a 'painting' as PNG files."""
    d = tmp_path_factory.mktemp("gatys_cli")
    save_random_vgg_h5(d / "vgg19.h5", "vgg19", seed=0, upto="relu5_1")
    save_random_vgg_h5(d / "vgg16.h5", "vgg16", seed=0, upto="relu5_1")
    save_random_vgg_h5(d / "vgg19_relu2.h5", "vgg19", seed=0, upto="relu2_1")
    save_random_vgg_h5(d / "caffe19.h5", "vgg19", seed=0, upto="relu5_1", family="caffe")
    rng = np.random.default_rng(2)
    Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)).save(d / "photo.png")
    Image.fromarray(rng.integers(0, 256, (30, 30, 3), dtype=np.uint8)).save(d / "painting.png")
    return d


def base_args(files, out, *extra):
    return ["--content", files / "photo.png", "--style", files / "painting.png", "--out", out,
            "--weights", files / "vgg19.h5", "--size", 32, "--iterations", 3, "--quiet", *extra]


def leftovers(folder):
    return sorted(p.name for p in Path(folder).iterdir() if p.name.startswith(".stylelab-"))


def test_the_command_writes_the_image_history_plot_and_snapshots(files, tmp_path):
    out = tmp_path / "out.png"
    res = run(*base_args(files, out, "--history", tmp_path / "h.json", "--plot",
                         tmp_path / "loss.png", "--save-every", 2, "--tv-weight", 1))
    assert res.returncode == 0, res.stderr
    with Image.open(out) as im:
        assert im.format == "PNG" and im.size == (32, 24)
    assert "3 L-BFGS iterations (" in res.stdout and "loss evaluations) at 32x24" in res.stdout
    rows = json.loads((tmp_path / "h.json").read_text())
    assert [r["iteration"] for r in rows] == [1, 2, 3]
    assert {"content", "style", "tv", "total", "evaluations", "seconds"} <= set(rows[0])
    with Image.open(tmp_path / "loss.png") as im:
        assert im.format == "PNG"
    assert (tmp_path / "out_0002.png").exists() and not (tmp_path / "out_0001.png").exists()
    assert leftovers(tmp_path) == []
    # Written atomically, yet with the permissions any new file gets (not a temp file's 0600).
    umask = os.umask(0)
    os.umask(umask)
    for name in ("out.png", "h.json", "loss.png", "out_0002.png"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~umask, name


@pytest.mark.parametrize("weights,recipe,why", [
    ("vgg19.h5", "tutorial", "the default for torchvision's VGG"),
    ("caffe19.h5", "neural-style", "the default for Caffe's VGG"),
])
def test_the_recipe_follows_the_weights_and_the_summary_says_so(files, tmp_path, weights, recipe,
                                                                 why):
    args = [str(a) for a in base_args(files, tmp_path / "out.png")]
    args[args.index("--weights") + 1] = str(files / weights)
    res = run(*args)
    assert res.returncode == 0, res.stderr
    assert f"recipe {recipe} ({why}" in res.stdout
    res = run(*args, "--recipe", "paper")
    assert res.returncode == 0 and "recipe paper (asked for)" in res.stdout, res.stderr


def test_options_from_the_command_line(files, tmp_path):
    out = tmp_path / "out.jpg"
    res = run(*base_args(files, out, "--optimizer", "adam", "--scales", 2, "--size", 40,
                         "--original-colors", "luminance", "--style-layers",
                         "relu1_1:0.5,relu2_1:0.5", "--content-layers", "relu2_2",
                         "--statistic", "covariance", "--pooling", "avg", "--init", "content",
                         "--history", tmp_path / "h.csv"))
    assert res.returncode == 0, res.stderr
    assert "6 Adam steps (6 loss evaluations) at 40x30" in res.stdout
    lines = (tmp_path / "h.csv").read_text().splitlines()
    assert lines[0].startswith("scale,height,width,iteration") and len(lines) == 7


def test_the_example_takes_the_commands_core_arguments(files, tmp_path):
    out = tmp_path / "example.png"
    res = run(*base_args(files, out, "--style-blend", 1), script=ROOT / "examples" / "gatys.py")
    assert res.returncode == 0, res.stderr
    assert "3 L-BFGS iterations" in res.stdout
    with Image.open(out) as im:
        assert im.size == (32, 24)


def walked_files(script, argv):
    """The stylelab source files whose functions run while `script` runs with `argv`, in-process."""
    import runpy
    seen, package = set(), str(ROOT / "stylelab")

    def profile(frame, event, arg):
        if event == "call" and frame.f_code.co_filename.startswith(package):
            seen.add(Path(frame.f_code.co_filename).relative_to(ROOT).as_posix())
    old_argv = sys.argv
    sys.argv, _ = [str(script), *map(str, argv)], sys.setprofile(profile)
    try:
        runpy.run_path(str(script), run_name="__main__")
    except SystemExit as exc:
        assert not exc.code, exc
    finally:
        sys.setprofile(None)
        sys.argv = old_argv
    return seen


@pytest.mark.parametrize("engine", ["readable", "fast"])
def test_the_examples_walk_reaches_the_readable_vgg_and_layers(files, tmp_path, engine, capsys):
    # The lesson runs what it teaches: by default the example's VGG is the table of nets/vgg.py on
    # stylelab.layers, and not one fast kernel runs; --engine fast runs the kernels instead.
    extra = [] if engine == "readable" else ["--engine", "fast"]
    seen = walked_files(ROOT / "examples" / "gatys.py",
                        base_args(files, tmp_path / "o.png", *extra))
    assert f"({engine} engine, random weights" in capsys.readouterr().out
    fast = sorted(f for f in seen if f.startswith("stylelab/layers/fast/")
                  or f in ("stylelab/nets/fast_vgg.py", "stylelab/gatys/fast_losses.py"))
    if engine == "readable":
        assert "stylelab/nets/vgg.py" in seen and "stylelab/layers/conv.py" in seen
        assert not fast, fast
    else:
        assert "stylelab/nets/fast_vgg.py" in fast and "stylelab/layers/fast/shifted.py" in fast


@pytest.mark.parametrize("mode", ["L", "RGBA", "I;16", "P", "LA", "CMYK"])
def test_other_image_modes_are_converted_not_refused(tmp_path, mode):
    rng = np.random.default_rng(3)
    rgb = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8))
    if mode == "I;16":
        im = Image.fromarray((rng.random((6, 8)) * 65535).astype(np.uint16))
    elif mode == "RGBA":
        im = rgb.convert("RGBA")
        im.putalpha(Image.fromarray(np.where(np.arange(8) < 4, 0, 255).astype(np.uint8)[None]
                                    .repeat(6, 0)))
    else:
        im = rgb.convert(mode)
    path = tmp_path / ("img.tif" if mode == "CMYK" else "img.png")
    im.save(path)
    if mode == "RGBA":                   # half of it transparent: laid over white, and said
        with pytest.warns(UserWarning, match="transparent pixels: laid over white"):
            img = load_image(path)
    else:
        img = load_image(path)
    assert img.shape == (6, 8, 3) and img.dtype == np.float32
    assert 0 <= img.min() and img.max() <= 1
    if mode == "I;16":
        # 16-bit values keep their range (not clipped at 255 as Pillow's RGB conversion does).
        expected = np.asarray(im, dtype=np.float64) / 65535
        assert np.abs(img[..., 0] - expected).max() < 1e-6
    if mode == "RGBA":
        assert (img[:, :4] == 1).all()           # transparent: laid over white


@pytest.fixture
def bad_files(files, tmp_path):
    (tmp_path / "notes.png").write_text("not an image")
    data = (files / "photo.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    (tmp_path / "weights.txt").write_text("not weights")
    return tmp_path


BAD = {
    "missing content": ({"--content": ["missing.png"]}, "no such image file: missing.png"),
    "corrupt style": ({"--style": ["BAD/notes.png"]}, "cannot read image"),
    "truncated content": ({"--content": ["BAD/cut.png"]}, "cannot read image"),
    "too small for relu5_1": ({"--size": [12], "--recipe": ["paper"]},
                              "too small to reach relu5_1"),
    "a recipe for another VGG": ({"--recipe": ["neural-style"]},
                                 "use recipe='tutorial' (or 'paper'; on the command line, "
                                 "--recipe)"),
    "a recipe's layers beyond the weights": ({"--weights": ["FILES/vgg19_relu2.h5"]},
                                             "recipe 'tutorial' reads content layer conv2_2, but "
                                             "these weights stop at relu2_1"),
    "wrong architecture": ({"--weights": ["FILES/vgg16.h5"]},
                           "holds vgg16 weights, but this run uses vgg19"),
    "not a weight file": ({"--weights": ["BAD/weights.txt"]}, "is not an HDF5 weight file"),
    "NaN in the optimisation": ({"--style-weight": ["1e300"]}, "became NaN or infinite"),
    "unknown layer": ({"--style-layers": ["relu9_9"]}, "has no layer 'relu9_9'"),
    "bad output name": ({"--out": ["out.unknown"]}, "cannot tell an image format"),
    "bad init": ({"--init": ["sparkles"]}, "--init must be noise, content, style, mean or an image"),
    "blend count": ({"--style-blend": [1, 2]}, "2 style blend weights for 1 style images"),
    "history format": ({"--history": ["h.txt"]}, "use .csv or .json"),
    "half-weighted layers": ({"--style-layers": ["relu1_1:0.5,relu2_1"]},
                             "every layer with a weight"),
    "negative weight": ({"--style-weight": ["-1"]}, "expected a number >= 0"),
}


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_bad_input_is_one_line_and_no_output(files, bad_files, case):
    changes, message = BAD[case]
    args = [str(a) for a in base_args(files, "out.png")]
    for flag, values in changes.items():
        values = [str(v).replace("BAD", str(bad_files)).replace("FILES", str(files))
                  for v in values]
        if flag in args:                      # every flag in base_args takes one value
            args[args.index(flag) + 1] = values[0]
        else:
            args += [flag, *values]
    res = run(*args, cwd=bad_files)
    assert res.returncode == 2, (res.stdout, res.stderr)
    # One line naming the problem (argparse puts its usage above its own).
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("stylelab") and message in last, res.stderr
    assert "Traceback" not in res.stderr
    assert not (bad_files / "out.png").exists() and leftovers(bad_files) == []


def test_ctrl_c_writes_the_best_image_so_far(files, tmp_path):
    out = tmp_path / "out.png"
    args = base_args(files, out, "--save-every", 1)
    args[args.index("--iterations") + 1] = 100000
    with started(["gatys", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                 text=True) as proc:
        wait_until((tmp_path / "out_0002.png").exists, proc)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, (stdout, stderr)
    assert "interrupted; wrote the best image so far" in stderr and "Traceback" not in stderr
    with Image.open(out) as im:
        assert im.size == (32, 24)
    assert leftovers(tmp_path) == []


def test_weights_are_downloaded_on_first_use(files, tmp_path, monkeypatch, capsys):
    # A random VGG-19 in torchvision's key layout, served on 127.0.0.1 as if it
    # were neural-style-pt's Caffe VGG-19; nothing on this machine has weights yet.
    weights = vgg_files.random_torch_weights("vgg19", seed=4)
    src = tmp_path / "src.pth"
    vgg_files.write_torchvision(src, "vgg19", weights)
    data = src.read_bytes()
    name = f"vgg19-{hashlib.sha256(data).hexdigest()[:8]}.pth"
    monkeypatch.delenv("STYLELAB_WEIGHTS", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    args = base_args(files, tmp_path / "out.png", "--style-layers", "relu1_1,relu2_1",
                     "--content-layers", "relu2_2")
    del args[args.index("--weights"):args.index("--weights") + 2]
    with serve({name: data}) as base:
        monkeypatch.setitem(download.URLS, "vgg19", (f"{base}/{name}", "vgg19", "caffe"))
        assert cli.main(["gatys", *map(str, args)]) == 0
    said = capsys.readouterr()
    assert "downloading them once" in said.err
    assert "recipe neural-style (the default for Caffe's VGG" in said.out
    assert (tmp_path / "cache" / "stylelab" / "vgg19.h5").exists()
    assert (tmp_path / "out.png").exists()
    # Offline, the message says what to do instead.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty"))
    monkeypatch.setitem(download.URLS, "vgg19", ("http://127.0.0.1:9/vgg19-d01eb7cb.pth", "vgg19",
                                                 "caffe"))
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["gatys", *map(str, args)])
    assert exit_info.value.code == 2
    assert "stylelab weights convert vgg19-d01eb7cb.pth" in capsys.readouterr().err
