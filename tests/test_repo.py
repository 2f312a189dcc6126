"""The README's test command is exactly what CI runs, and the install it starts with brings every tool it calls."""

from __future__ import annotations

import re

from tests.conftest import ROOT


def test_readme_test_command_is_ci_and_lints():
    readme = (ROOT / "README.md").read_text()
    command = re.search(r"^# 2\. .*\n(bash scripts/install\.sh .*)$", readme, re.M).group(1)
    assert (ROOT / ".ci" / "run").read_text().rstrip().splitlines()[-1] == command
    assert ".venv/bin/ruff check . && .venv/bin/ruff format --check . && " in command


def test_install_pins_ruff():
    assert "requirements.lock" in (ROOT / "scripts" / "install.sh").read_text()
    pins = dict(line.split("==") for line in (ROOT / "requirements.lock").read_text().splitlines() if "==" in line)
    assert re.fullmatch(r"\d+\.\d+\.\d+", pins["ruff"])
