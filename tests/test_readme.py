"""Every command block of the README runs here, as written, so a README that drifts from the code fails.

The ``bash`` blocks are run line by line, in order, in a scratch copy of the
project's layout (``../shared`` beside it, ``examples/`` inside), with two
substitutions a newcomer's machine does not need: tiny sizes (``--size 32``,
``--steps 2`` ... wherever the command takes them) and a folder of
**random-weight** VGG-16 and VGG-19 files in ``$STYLELAB_WEIGHTS`` in place
of the download. The install line and the suite itself are not run here
(CI runs them). Every command must say beside it how long it takes.
"""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from stylelab.cli import build_parser
from stylelab.files.vgg_h5 import save_random_vgg_h5

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
FENCE = re.compile(r"^```bash\n(.*?)^```", re.S | re.M)
NOT_RUN = ("python3 -m pip install", "python3 -m pytest")
TINY = {"--size": "32", "--iterations": "2", "--steps": "2", "--crop-size": "32",
        "--style-size": "32", "--batch-size": "1"}
EXAMPLES = {"examples/sr_psnr.py": {"--size"}, "examples/gatys.py": {"--size", "--iterations"}}
TIME = re.compile(r"\b(about|under|~) ?\d+(\.\d+)? ?(s|seconds?|min|minutes?|h|hours?|days?)\b")


def readme_commands():
    """(comment above it, command) for every command line of the README's bash blocks."""
    text = (ROOT / "README.md").read_text()
    for block in FENCE.findall(text):
        comment = ""
        for line in block.splitlines():
            line = line.strip()
            if line.startswith("#"):
                comment = line
            elif line:
                yield comment, line


def _options(argv):
    """The options the command `argv` accepts."""
    if argv[0] == "stylelab":
        parser = build_parser()
        for word in argv[1:]:
            sub = next((a for a in parser._actions if hasattr(a, "choices") and
                        isinstance(a.choices, dict) and word in a.choices), None)
            if sub is None:
                break
            parser = sub.choices[word]
        return {o for a in parser._actions for o in a.option_strings}
    return EXAMPLES.get(argv[1], set())


def tiny(argv):
    """`argv` with the tiny sizes put in, wherever the command takes them."""
    argv = list(argv)
    accepted = _options(argv)
    for option, value in TINY.items():
        if option in argv:
            argv[argv.index(option) + 1] = value
        elif option in accepted:
            argv += [option, value]
    return argv


def test_every_readme_command_says_how_long_it_takes():
    commands = list(readme_commands())
    assert len(commands) >= 8
    for comment, command in commands:
        assert TIME.search(comment), f"no time stated above: {command}"


def test_every_readme_command_runs_as_written(tmp_path):
    if not (SHARED / "images").is_dir() or not (SHARED / "models" / "fast-style").is_dir():
        pytest.skip("../shared/images and ../shared/models are absent: the README's commands "
                    "use them")
    project = tmp_path / "project"
    project.mkdir()
    (tmp_path / "shared").symlink_to(SHARED)
    (project / "examples").symlink_to(ROOT / "examples")
    weights = tmp_path / "weights"
    weights.mkdir()
    save_random_vgg_h5(weights / "vgg19.h5", "vgg19", seed=0, upto="relu5_1", family="caffe")
    save_random_vgg_h5(weights / "vgg16.h5", "vgg16", seed=0, upto="relu4_3")  # torchvision's, as the download
    env = dict(os.environ, STYLELAB_WEIGHTS=str(weights), XDG_CACHE_HOME=str(tmp_path / "cache"))
    ran = 0
    for _, line in readme_commands():
        if line.startswith(NOT_RUN):
            continue
        argv = tiny(shlex.split(line))
        run = [sys.executable, "-m", "stylelab", *argv[1:]] if argv[0] == "stylelab" else \
            [sys.executable, *argv[1:]] if argv[0] == "python3" else argv
        r = subprocess.run(run, cwd=project, env=env, capture_output=True, text=True,
                           timeout=300)
        assert r.returncode == 0, f"{line}\n{r.stderr}"
        ran += 1
    assert ran >= 8
    # Everything the README writes goes to out/ (ignored by git): nothing else appears.
    assert sorted(os.listdir(project)) == ["examples", "out"]
