"""Declaring an algorithm: the registry finds it from its module and its YAML, without torch, and a copy of an
algorithm under a new name (its two files, the name changed inside them) trains through the CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pgtrain import spawn
from pgtrain.algos import algo_class, registry
from pgtrain.config import AlgoConfig
from tests.conftest import ROOT

# what each algorithm can drive, written out by hand
ACTION_TYPES = {
    "reinforce": {"discrete", "continuous"},
    "a2c": {"discrete", "continuous"},
    "ppo": {"discrete", "continuous"},
    "ddpg": {"continuous"},
    "td3": {"continuous"},
    "sac": {"continuous"},
}


def test_registry_holds_each_module_with_a_yaml_of_its_name():
    found = registry()
    assert set(found) == set(ACTION_TYPES)  # ac_online.yaml has no module: a preset, not an algorithm
    for name, entry in found.items():
        assert (ROOT / "pgtrain" / "algos" / f"{name}.py").is_file() and (ROOT / "configs" / "algo" / f"{name}.yaml").is_file()
        assert entry.action_types == ACTION_TYPES[name]
        assert issubclass(entry.schema, AlgoConfig) and entry.schema.__module__ == f"pgtrain.algos.{name}"
        assert entry.schema().name == name and algo_class(name).name == name


def test_declarations_load_without_torch_and_the_class_completes_the_same_module():
    script = textwrap.dedent(
        """
        import sys
        from pgtrain.configstore import register_configs
        from pgtrain.algos import algo_class, registry
        register_configs()
        schemas = {name: entry.schema for name, entry in registry().items()}
        assert "torch" not in sys.modules, "a declaration imported torch"
        cls = algo_class("ppo")
        assert "torch" in sys.modules
        from pgtrain.algos.ppo import PPO, PPOConfig
        from pgtrain.algos.a2c import A2C, A2CConfig
        assert cls is PPO and issubclass(PPO, A2C)
        assert PPOConfig is schemas["ppo"] and A2CConfig is schemas["a2c"]  # one module, one schema class
        import inspect
        assert inspect.getsourcelines(PPO)[1] > inspect.getsourcelines(PPOConfig)[1]  # the file's own line numbers
        print("ok")
        """
    )
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, env=spawn.child_env(None))
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr[-3000:]


# ----------------------------------------------------------------------------------------------------------------------
# A new algorithm is one module and one YAML


def copy_algorithm(root: Path, old: str, new: str) -> None:
    """In the pgtrain tree at ``root``, add algorithm ``new`` as a copy of ``old``'s two files, the name changed inside
    them (``ppo`` -> ``myppo``, ``PPO`` -> ``MyPPO``); no other file changes."""
    upper = new[:2].capitalize() + new[2:].upper()  # myppo -> MyPPO
    for src, dst in (
        (root / "pgtrain" / "algos" / f"{old}.py", root / "pgtrain" / "algos" / f"{new}.py"),
        (root / "configs" / "algo" / f"{old}.yaml", root / "configs" / "algo" / f"{new}.yaml"),
    ):
        text = src.read_text().replace(old, new).replace(old.upper(), upper)
        dst.write_text(text)


@pytest.fixture
def tree_with_copies(tmp_path: Path) -> Path:
    """A copy of this pgtrain (package and configs) with myppo (from ppo) and myddpg (from ddpg) added."""
    root = tmp_path / "tree"
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / "pgtrain", root / "pgtrain", ignore=ignore)
    shutil.copytree(ROOT / "configs", root / "configs", ignore=ignore)
    copy_algorithm(root, "ppo", "myppo")
    copy_algorithm(root, "ddpg", "myddpg")
    return root


def _pgtrain(root: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return spawn.run(*args, cwd=cwd, timeout=300, env={"PYTHONPATH": str(root)})


def test_a_copied_algorithm_trains_shows_its_help_and_is_refused_where_it_cannot_drive(tree_with_copies, tmp_path):
    root, work = tree_with_copies, tmp_path / "work"
    work.mkdir()
    assert "class MyPPO(A2C)" in (root / "pgtrain" / "algos" / "myppo.py").read_text()
    for algo, env, steps in (("myppo", "cartpole", 1024), ("myddpg", "pendulum", 400)):
        overrides = ["algo.learning_starts=100"] if algo == "myddpg" else ["algo.n_steps=32"]
        run_dir = work / algo
        res = _pgtrain(root, work, f"algo={algo}", f"env={env}", f"total_steps={steps}", *overrides, f"hydra.run.dir={run_dir}")
        assert res.returncode == 0, res.stderr[-3000:]
        summary = json.loads((run_dir / "summary.json").read_text())
        assert summary["algo"] == algo and summary["env_steps"] >= steps and summary["updates"] > 0, summary

    res = _pgtrain(root, work, "--help", "algo=myppo")
    assert res.returncode == 0, res.stderr[-3000:]
    assert "myppo" in res.stdout.split("Config groups")[1].splitlines()[1]  # listed among the algorithms
    assert "\nalgo: myppo\n" in res.stdout and "clip_range: 0.2" in res.stdout

    res = _pgtrain(root, work, "algo=myddpg", "env=cartpole")
    assert res.returncode == 2 and res.stderr.count("\n") == 1, res.stderr
    assert "algo=myddpg needs continuous actions, but env=cartpole has discrete actions" in res.stderr
    assert sorted(p.name for p in work.iterdir()) == ["myddpg", "myppo"]  # the refusal wrote nothing


def test_a_module_without_its_declaration_is_named_in_one_line(tmp_path):
    root = tmp_path / "tree"
    shutil.copytree(ROOT / "pgtrain", root / "pgtrain", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "configs", root / "configs")
    source = (root / "pgtrain" / "algos" / "a2c.py").read_text().replace("a2c", "mya2c").replace("A2C", "MyA2C")
    (root / "pgtrain" / "algos" / "mya2c.py").write_text(source.replace("# ---- end of the declaration", "# end of the declaration"))
    (root / "configs" / "algo" / "mya2c.yaml").write_text((root / "configs" / "algo" / "a2c.yaml").read_text().replace("a2c", "mya2c"))
    res = _pgtrain(root, tmp_path, "--help")
    assert res.returncode == 2 and res.stderr.count("\n") == 1, res.stderr
    assert "pgtrain/algos/mya2c.py: no line '# ---- end of the declaration" in res.stderr
