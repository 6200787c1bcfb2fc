"""The project's promises about itself: CI runs the README's test command."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_exactly_the_readme_install_and_test_commands():
    readme = (ROOT / "README.md").read_text()
    commands = [line for block in re.findall(r"```bash\n(.*?)```", readme, re.S)
                for line in block.splitlines() if line and not line.startswith("#")]
    install = [c for c in commands if "pip install" in c]
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
    assert_machine_line(out.stdout)
    shared = (ROOT.parent / "shared" / "models" / "fast-style" / "wave").is_dir()
    assert ("| pretrained wave 32x32 |" in out.stdout) == shared
    assert ("pretrained rows skipped" in out.stdout) == (not shared)
    rows = json.loads((tmp_path / "f.json").read_text())["rows"]
    assert len(rows) == 2 + shared
    assert all(r[side]["seconds"] > 0 for r in rows for side in ("stylelab", "torch"))


def test_wct_benchmark_runs_and_prints_its_table(tmp_path):
    # A smoke test at 32 px with one L-BFGS iteration a level; the figures come from a full run.
    import json
    import subprocess
    import sys
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "wct.py"), "--size", "32",
                          "--iterations", "1", "--repeats", "1", "--threads", "1", "--rounds", "2",
                          "--json", str(tmp_path / "w.json")],
                         capture_output=True, text=True, check=True)
    assert "| decoders |" in out.stdout and "| inversion, 1 L-BFGS it/level |" in out.stdout
    assert "| AdaIN (relu4_1, one pass) |" in out.stdout
    assert_machine_line(out.stdout)
    rows = json.loads((tmp_path / "w.json").read_text())["rows"]
    assert len(rows) == 3 and all(r[side]["seconds"] > 0 for r in rows for side in ("stylelab", "torch"))
    assert rows[1]["stylelab"]["evaluations"] >= 5 and rows[1]["torch"]["evaluations"] >= 5
    assert all(len(r["rounds"]) == 2 and r["stylelab"] in [p["stylelab"] for p in r["rounds"]]
               for r in rows)                      # two pairs each; the table's is one of them


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
