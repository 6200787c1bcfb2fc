"""The command line: real work on success; one line and exit 2 on bad input."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image


def stylelab(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "stylelab", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd)


@pytest.fixture
def photo(tmp_path):
    rng = np.random.default_rng(1)
    path = tmp_path / "photo.png"
    Image.fromarray(rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)).save(path)
    return path


def test_layers_command_writes_the_feature_maps(photo, tmp_path):
    out = tmp_path / "maps.png"
    res = stylelab("layers", photo, "--out", out, "--size", 30)
    assert res.returncode == 0, res.stderr
    with Image.open(out) as im:
        # 4 maps of (20/2)x(30/2) tiled 2x2: the pooled size, twice over.
        assert im.size == (30, 20)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".stylelab-")] == []


def test_missing_output_folders_are_created(photo, tmp_path):
    # The one rule for every output of every command: parents are made.
    res = stylelab("layers", photo, "--out", tmp_path / "new" / "dir" / "maps.png", "--size", 30)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "new" / "dir" / "maps.png").is_file()


@pytest.mark.parametrize("args,message", [
    (["layers", "missing.png", "--out", "o.png"], "no such image file: missing.png"),
    (["layers", "notes.txt", "--out", "o.png"], "cannot read image notes.txt"),
    (["layers", "PHOTO", "--out", "o.unknown"], "cannot tell an image format"),
    (["layers", "PHOTO", "--out", "notes.txt/o.png"], "notes.txt is a file, not a folder"),
    (["--backend", "cupy", "layers", "PHOTO", "--out", "o.png"], "backend 'cupy' needs"),
    (["layers", "PHOTO", "--out", "o.png", "--size", "0"], "expected a positive whole number"),
])
def test_bad_input_is_one_line_and_exit_2(photo, tmp_path, args, message):
    try:
        import cupy  # noqa: F401
        if "cupy" in args:
            pytest.skip("CuPy is installed: choosing it may succeed here")
    except ImportError:
        pass
    (tmp_path / "notes.txt").write_text("not an image")
    args = [str(photo) if a == "PHOTO" else a for a in args]
    res = stylelab(*args, cwd=tmp_path)
    assert res.returncode == 2
    assert message in res.stderr
    assert "Traceback" not in res.stderr
    assert not (tmp_path / "o.png").exists() and not (tmp_path / "o.unknown").exists()
    assert not list(tmp_path.glob(".stylelab-*"))


def _subparsers(parser):
    import argparse
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield name, sub
                yield from ((f"{name} {n}", s) for n, s in _subparsers(sub))


def test_every_option_has_help_and_help_shows_every_default():
    from stylelab.cli import build_parser
    for name, sub in _subparsers(build_parser()):
        text = " ".join(sub.format_help().split())
        for action in sub._actions:
            if not action.option_strings or action.dest == "help":
                continue
            assert action.help, f"{name} {action.option_strings[0]} has no help"
            if action.default not in (None, False):
                shown = f"(default: {action.default})"
                if not isinstance(action.default, str):
                    shown = "(default: "
                assert shown in text, f"{name} --help does not show {action.option_strings[0]}'s default"
