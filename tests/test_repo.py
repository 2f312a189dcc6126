"""The README's test command is exactly what CI runs, and the install it starts with brings every tool it calls."""

from __future__ import annotations

import re

from tests.conftest import ROOT


def test_readme_test_command_is_ci_and_lints():
    """CI runs the README's test command word for word, then the learning tests that command leaves out."""
    readme = (ROOT / "README.md").read_text()
    command = re.search(r"^# 2\. .*\n(bash scripts/install\.sh .*)$", readme, re.M).group(1)
    steps = (ROOT / ".ci" / "run").read_text().rstrip().splitlines()
    assert steps[-2:] == [command, ".venv/bin/python -m pytest -q -n 2 -m slow"]
    assert ".venv/bin/ruff check . && .venv/bin/ruff format --check . && " in command
    # the README's command leaves the learning tests to the step after it
    assert "addopts = \"-ra -m 'not slow'\"" in (ROOT / "pyproject.toml").read_text()


def test_install_pins_ruff():
    assert "requirements.lock" in (ROOT / "scripts" / "install.sh").read_text()
    pins = dict(line.split("==") for line in (ROOT / "requirements.lock").read_text().splitlines() if "==" in line)
    assert re.fullmatch(r"\d+\.\d+\.\d+", pins["ruff"])
