"""The project's promises about itself: CI runs the README's test command."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_exactly_the_readme_install_and_test_commands():
    readme = (ROOT / "README.md").read_text()
    commands = [line for block in re.findall(r"```bash\n(.*?)```", readme, re.S)
                for line in block.splitlines() if line and not line.startswith("#")]
    # The README offers the light install too; CI runs the one with the test tools.
    install = [c for c in commands if "pip install" in c and "[test]" in c]
    test_cmd = [c for c in commands if "pytest" in c]
    assert len(install) == 1 and len(test_cmd) == 1, commands
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert install[0] in ci_lines and test_cmd[0] in ci_lines


def assert_machine_line(stdout):
    """The benchmarks say which BLAS ran, with which kernels, beside the SGEMM peak they measured."""
    line = next(l for l in stdout.splitlines() if "SGEMM peak" in l)
    assert re.search(r"BLAS .*(openblas|mkl|blis).* \(\w+ kernels, \d+ threads\)", line), line
    assert re.search(r"SGEMM peak \d+ GFLOP/s", line), line


def test_layers_benchmark_runs_and_prints_its_table(tmp_path):
    # A smoke test only: speed is measured by the benchmark itself, never asserted here.
    import json
    import subprocess
    import sys
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "layers.py"), "--quick",
                          "--repeats", "1", "--threads", "1", "--json", str(tmp_path / "b.json")],
                         capture_output=True, text=True, check=True)
    assert "| layer | shape | fwd ms | torch fwd ms | fwd ratio" in out.stdout
    rows = json.loads((tmp_path / "b.json").read_text())["rows"]
    assert [r["layer"] for r in rows] == ["tiny_a", "tiny_b"]


def test_gatys_step_benchmark_runs_and_prints_its_table(tmp_path):
    # A smoke test at 32 px: the benchmark's own figures come from running it in full.
    import json
    import subprocess
    import sys
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gatys_step.py"), "--sizes", "32",
                          "--repeats", "1", "--threads", "1", "--profile",
                          "--json", str(tmp_path / "g.json")],
                         capture_output=True, text=True, check=True)
    assert "| size | stylelab s | PyTorch s | ratio |" in out.stdout
    assert_machine_line(out.stdout)
    assert "| conv forward (shifted GEMMs) |" in out.stdout
    result = json.loads((tmp_path / "g.json").read_text())
    assert [r["size"] for r in result["rows"]] == [32] and result["rows"][0]["ratio"] > 0


def test_fast_style_benchmark_runs_and_prints_its_table(tmp_path):
    # A smoke test at 32 px with 16 px training crops; the figures come from a full run.
    import json
    import subprocess
    import sys
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "fast_style.py"), "--sizes", "32",
                          "--repeats", "1", "--train-steps", "1", "--batch", "1", "--crop", "16",
                          "--pretrained-sizes", "32", "--threads", "1",
                          "--json", str(tmp_path / "f.json")],
                         capture_output=True, text=True, check=True)
    assert "| stylize 32x32 |" in out.stdout and "| train step 1 x 16px |" in out.stdout
    assert "| upscale x4 to 32x32 |" in out.stdout
    assert_machine_line(out.stdout)
    shared = (ROOT.parent / "shared" / "models" / "fast-style" / "wave").is_dir()
    assert ("| pretrained wave 32x32 |" in out.stdout) == shared
    assert ("pretrained rows skipped" in out.stdout) == (not shared)
    rows = json.loads((tmp_path / "f.json").read_text())["rows"]
    assert len(rows) == 3 + shared
    assert all(r[side]["seconds"] > 0 for r in rows for side in ("stylelab", "torch"))


def test_wct_benchmark_runs_and_prints_its_table(tmp_path):
    # A smoke test at 32 px with one L-BFGS iteration a level, every road once (each side in its
    # own process); the figures come from a full run. --rounds: the next test.
    import json
    import subprocess
    import sys
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "wct.py"), "--size", "32",
                          "--iterations", "1", "--repeats", "1", "--threads", "1",
                          "--json", str(tmp_path / "w.json")],
                         capture_output=True, text=True, check=True)
    assert "| decoders |" in out.stdout and "| inversion, 1 L-BFGS it/level |" in out.stdout
    assert "| AdaIN (relu4_1, one pass) |" in out.stdout
    assert_machine_line(out.stdout)
    rows = json.loads((tmp_path / "w.json").read_text())["rows"]
    assert len(rows) == 3 and all(r[side]["seconds"] > 0 for r in rows for side in ("stylelab", "torch"))
    assert rows[1]["stylelab"]["evaluations"] >= 5 and rows[1]["torch"]["evaluations"] >= 5
    assert all(len(r["rounds"]) == 1 for r in rows)


def test_wct_benchmark_rounds_alternate_the_first_side_and_report_the_median_pair(monkeypatch):
    # --rounds K: K pairs, the side that runs first alternating; the table's pair is the median's.
    import argparse
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import wct as bench
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    order, stylelab_seconds = [], iter([1.0, 4.0, 3.0])     # against 2.0: 0.5x, 2.0x, 1.5x

    def spawn(args, side, task, weights):
        order.append(side)
        return {"seconds": next(stylelab_seconds) if side == "stylelab" else 2.0}
    monkeypatch.setattr(bench, "spawn", spawn)
    pairs = list(bench.rounds(argparse.Namespace(rounds=3), "adain", "w.h5"))
    assert order == ["stylelab", "torch", "torch", "stylelab", "stylelab", "torch"]
    assert [p["stylelab"]["seconds"] / p["torch"]["seconds"] for p in pairs] == [0.5, 2.0, 1.5]
    assert bench.median_pair(pairs) is pairs[2]


def test_the_gpu_check_runs_the_suite_and_the_three_benchmarks_on_cupy():
    script = (ROOT / "benchmarks" / "gpu_check.sh").read_text()
    assert subprocess.run(["bash", "-n", str(ROOT / "benchmarks" / "gpu_check.sh")]).returncode == 0
    assert "python3 -m pytest" in script
    for bench in ("gatys_step.py", "fast_style.py", "wct.py"):
        assert f"benchmarks/{bench} --backend cupy" in script, bench
        res = subprocess.run([sys.executable, str(ROOT / "benchmarks" / bench), "--help"],
                             capture_output=True, text=True)
        assert res.returncode == 0 and "--backend {numpy,cupy}" in res.stdout, bench
    assert "bash benchmarks/gpu_check.sh" in (ROOT / "README.md").read_text()


def test_the_gpu_check_without_cupy_or_a_gpu_says_so_in_one_line(tmp_path):
    import importlib.util

    import pytest
    if importlib.util.find_spec("cupy") is not None:
        pytest.skip("CuPy is installed here: the check would run")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}      # no nvidia-smi on this PATH
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    res = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), str(tmp_path / "o")],
                         capture_output=True, text=True, env=env)
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr.strip().count("\n") == 0 and res.stderr.startswith("gpu_check: no CuPy")
    assert not (tmp_path / "o").exists()


def test_the_published_network_benchmark_runs_and_prints_its_table():
    # A smoke test only: the ratios are the benchmark's to measure, never asserted here.
    wave = ROOT.parent / "shared" / "models" / "fast-style" / "wave"
    if not wave.is_dir():
        pytest.skip(f"{wave} is absent: the published networks are shared beside the project")
    pytest.importorskip("onnxruntime", reason="onnxruntime is a test dependency")
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "published_net.py"),
                          "--sizes", "48", "--rounds", "1", "--repeats", "1", "--threads", "1"],
                         capture_output=True, text=True, check=True)
    assert_machine_line(out.stdout)
    assert "skipped: tensorflow" in out.stdout            # no --tf-python given
    assert "| 48 px (0.6 GFLOP) |" in out.stdout            # the wave network's conv_flops at 48 px
    assert re.search(r"\| stylelab \| [\d.]+ \| [\d.]+ \| 1\.00 \| 1\.00 \| \d+ \| \d+% \|",
                     out.stdout)
    assert re.search(r"\| onnxruntime \| [\d.]+ \| [\d.]+ \| [\d.]+ \| [\d.]+ \| \d+ \| \d+% \|",
                     out.stdout)
