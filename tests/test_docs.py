"""Every code block in docs/ (and the README's Python) runs here, so the docs can't rot.

The Python blocks of one file run in order in one namespace, in a scratch
folder. A block written as a doctest (``>>>`` prompts) must also print what
it shows. Besides ``python``, a block in docs/ may only be ``text`` (shown
output, not code): a code block that would not run is not allowed.
"""

import doctest
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted((ROOT / "docs").glob("*.md"))
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def blocks(path):
    text = path.read_text()
    for m in FENCE.finditer(text):
        yield m.group(1), m.group(2), text.count("\n", 0, m.start()) + 2


def run_python_blocks(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__docs__"}
    parser = doctest.DocTestParser()
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    ran = 0
    for lang, code, line in blocks(path):
        if lang != "python":
            continue
        ran += 1
        if ">>> " in code:
            test = parser.get_doctest(code, namespace, path.name, str(path), line)
            runner = doctest.DocTestRunner(optionflags=flags)
            runner.run(test, out=lambda s: pytest.fail(f"{path.name}:{line}:\n{s}"),
                       clear_globs=False)
            namespace.update(test.globs)
        else:
            exec(compile("\n" * (line - 1) + code, str(path), "exec"), namespace)
    return ran


def test_docs_exist():
    assert DOCS, "docs/ has no walkthroughs"


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_docs_code_blocks_run(path, tmp_path, monkeypatch):
    langs = {lang for lang, _, _ in blocks(path)}
    assert langs <= {"python", "text"}, f"{path.name} has blocks that never run: {langs}"
    assert run_python_blocks(path, tmp_path, monkeypatch) > 0


def test_readme_python_runs(tmp_path, monkeypatch):
    if not (ROOT.parent / "shared" / "images").is_dir():
        pytest.skip("../shared is absent: the README's Gatys block paints the shared pictures")
    assert run_python_blocks(ROOT / "README.md", tmp_path, monkeypatch) > 0
