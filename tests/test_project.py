"""The project's promises about itself: CI runs the README's test command."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"```bash\n(?:#.*\n)*(.+)\n```", readme)
    test_cmd = [c for c in commands if "pytest" in c]
    assert len(test_cmd) == 1, commands
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_cmd[0] in ci_lines
