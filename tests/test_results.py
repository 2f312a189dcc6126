"""benchmarks/results/ and the tables made from it: every result file holds the shared envelope under a name of task and
date, and the README's table and docs/benchmarks.md are exactly what scripts/render_results.py builds from the files."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

SCRIPTS = ROOT / "scripts"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def results():
    sys.path.insert(0, str(SCRIPTS))
    try:
        yield _load("results")
    finally:
        sys.path.remove(str(SCRIPTS))


@pytest.fixture(scope="module")
def render(results):
    sys.path.insert(0, str(SCRIPTS))
    try:
        yield _load("render_results")
    finally:
        sys.path.remove(str(SCRIPTS))


def test_readme_and_benchmarks_page_are_what_the_result_files_give(render):
    data = render.results.load_all()
    assert (ROOT / "README.md").read_text() == render.rendered_readme((ROOT / "README.md").read_text(), data), (
        "README.md's results table differs from the result files: run python scripts/render_results.py"
    )
    assert (ROOT / "docs" / "benchmarks.md").read_text() == render.page(data), (
        "docs/benchmarks.md differs from the result files: run python scripts/render_results.py"
    )


def test_a_hand_edited_figure_is_caught(render, tmp_path):
    readme = (ROOT / "README.md").read_text()
    edited = readme.replace("5/5 solved", "4/5 solved", 1)
    assert edited != readme
    assert render.rendered_readme(edited, render.results.load_all()) == readme  # rendering restores the file's figure


def test_readme_table_is_short_and_its_cells_are_too():
    block = (ROOT / "README.md").read_text().split("<!-- RESULTS")[1].split("<!-- /RESULTS -->")[0]
    rows = [line for line in block.splitlines() if line.startswith("| ") and not line.startswith("| task |")]
    assert 5 <= len(rows) <= 15
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert len(cells) == 7 and all(0 < len(c) <= 150 for c in cells), row


def test_every_result_file_has_the_envelope_and_a_task_and_date_name(results):
    files = sorted((ROOT / "benchmarks" / "results").glob("*.json"))
    assert len(files) >= 20
    for path in files:
        rec = json.loads(path.read_text())
        assert set(results.ENVELOPE) <= set(rec), path.name
        m = results.NAME.match(path.stem)
        assert m and m.group("task") == rec["task"] and m.group("date") == rec["date"], path.name
        assert {"cpu", "cores", "vector_extensions", "gpu"} <= set(rec["machine"]), path.name
        assert isinstance(rec["seeds"], list) and isinstance(rec["protocol"], dict), path.name


def test_write_names_a_second_run_of_a_day_2_and_describes_the_machine(results, tmp_path):
    rec = results.record("cartpole-ppo", "PPO, CartPole-v1", "solve", "python scripts/bench_peers.py --tasks cartpole-ppo",
                         {"env_id": "CartPole-v1", "solve_threshold": 475.0, "solve_window": 100},
                         [{"seed": 0, "final_return": 480.0}], peer=None)  # fmt: skip
    first = results.write(rec, tmp_path)
    second = results.write(rec, tmp_path)
    assert first.name == f"cartpole-ppo_{rec['date']}.json" and second.name == f"cartpole-ppo_{rec['date']}_2.json"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", rec["date"])
    back = json.loads(first.read_text())
    assert back["seeds"] == [{"seed": 0, "final_return": 480.0}] and back["command"].endswith("--tasks cartpole-ppo")
    machine = back["machine"]
    assert machine["cores"] >= 1 and machine["cpu"]
    flags = Path("/proc/cpuinfo").read_text().split() if Path("/proc/cpuinfo").exists() else []
    if flags:
        assert ("AVX2" in machine["vector_extensions"]) == ("avx2" in flags)
        assert ("AVX-512" in machine["vector_extensions"]) == ("avx512f" in flags)
    assert back["versions"]["numpy"]
    with pytest.raises(ValueError):
        results.record("x", "x", "solve", "c", {}, [], seeds_run=1, date="2026-01-01")


def test_median_range_and_seed_cells(render):
    assert render.median_range([3.0, 1.0, 2.0], ".1f", " s") == "2.0 s (1.0–3.0)"
    assert render.median_range([5.0], ".1f") == "5.0"
    assert render.median_range([], ".1f") == "—"
    assert render.seeds_cell([4, 2, 3, 0, 1]) == "0-4" and render.seeds_cell([1]) == "1" and render.seeds_cell([0, 2]) == "0, 2"


def test_a_benchmark_script_writes_its_run_as_a_result_file(results, tmp_path):
    """scripts/bench_envs.py end to end, tiny: the result file lands in the folder given, named by task and date, with the
    envelope, the command as typed and the figures."""
    import subprocess

    cmd = [
        "scripts/bench_envs.py",
        "--ids",
        "CartPole-v1",
        "--modes",
        "sync",
        "--seconds",
        "0.1",
        "--repeats",
        "1",
        "--json",
        str(tmp_path),
    ]
    res = subprocess.run([sys.executable, *cmd], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    (path,) = tmp_path.glob("*.json")
    assert re.fullmatch(r"envs_\d{4}-\d{2}-\d{2}\.json", path.name)
    rec = json.loads(path.read_text())
    assert set(results.ENVELOPE) <= set(rec) and rec["kind"] == "envs"
    assert rec["command"] == "python " + " ".join(cmd) and rec["protocol"]["num_envs"] == 8
    assert rec["steps_per_second"]["CartPole-v1"]["sync"] > 0
    assert rec["machine"]["cores"] >= 1 and rec["versions"]["gymnasium"]
