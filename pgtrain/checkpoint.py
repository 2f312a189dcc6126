"""Checkpoints: state dicts, counters, RNG states, the resolved config and the pgtrain version; never pickled objects.

Written to a temporary file, flushed to the disk and renamed (a half-written or empty ``last.pt`` never exists, even
after a power loss; a full disk leaves the last one as it was), loaded with
``torch.load(weights_only=True)`` (a checkpoint carrying a pickle payload executes nothing).
"""

from __future__ import annotations

import pickle
import random
import zipfile
from pathlib import Path
from typing import Any

import pgtrain
from pgtrain.errors import PgtrainError
from pgtrain.files import AtomicPath, write_text

# torch is imported inside save() and load(): the run-directory checks below serve refused commands, which never
# wait for torch's import (see pgtrain.cli)

FORMAT_VERSION = 1


def save(path: Path, state: dict[str, Any]) -> None:
    """Atomically write ``state`` (plus format and pgtrain versions) to ``path``."""
    import torch

    state = {"format_version": FORMAT_VERSION, "pgtrain_version": pgtrain.__version__, **state}
    with AtomicPath(path) as tmp, open(tmp, "wb") as f:  # a file object: a full disk shows as OSError (pgtrain.files)
        torch.save(state, f)


def load(path: Path) -> dict[str, Any]:
    """Read a checkpoint safely; any problem is a one-line PgtrainError."""
    import torch

    if not path.is_file():
        raise PgtrainError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, zipfile.BadZipFile, EOFError, ValueError, OSError) as ex:
        first = str(ex).strip().splitlines()[0] if str(ex).strip() else type(ex).__name__
        raise PgtrainError(f"checkpoint {path} is not a readable pgtrain checkpoint (truncated, corrupt or unsafe): {first}") from None
    if not isinstance(state, dict) or "format_version" not in state:
        raise PgtrainError(f"checkpoint {path} is not a pgtrain checkpoint (no format version)")
    if state["format_version"] != FORMAT_VERSION:
        raise PgtrainError(
            f"checkpoint {path} has format version {state['format_version']}, this pgtrain {pgtrain.__version__} reads "
            f"version {FORMAT_VERSION}; use the pgtrain version that wrote it ({state.get('pgtrain_version', 'unknown')})"
        )
    return state


def capture_rng(cuda: bool) -> dict[str, Any]:
    """The state of every RNG a run draws from: Python's, numpy's global one, torch's, and with ``cuda`` CUDA's own
    generators (sampling on the GPU draws from them); plain lists and tensors, as a weights-only checkpoint holds."""
    import numpy as np
    import torch

    numpy_state = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": numpy_state[1].tolist(),
        "numpy_pos": int(numpy_state[2]),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if cuda else None,
    }


def restore_rng(state: dict[str, Any], cuda: bool) -> None:
    """Put back what :func:`capture_rng` captured (CUDA's generators only on a CUDA run with as many GPUs)."""
    import numpy as np
    import torch

    random.setstate(_as_tuple(state["python"]))
    np.random.set_state(("MT19937", np.array(state["numpy"], dtype=np.uint32), state["numpy_pos"], 0, 0.0))
    torch.set_rng_state(state["torch"])
    if state.get("cuda") is not None and cuda and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def _as_tuple(x: Any) -> Any:
    return tuple(_as_tuple(v) for v in x) if isinstance(x, (list, tuple)) else x


def check_run_dir(run_dir: Path) -> None:
    """A pgtrain run directory exists and has its ``.hydra/config.yaml``; otherwise a one-line PgtrainError."""
    if not run_dir.is_dir():
        raise PgtrainError(f"{run_dir}: no such directory")
    if not (run_dir / ".hydra" / "config.yaml").is_file():
        raise PgtrainError(f"{run_dir} is not a pgtrain run directory (no .hydra/config.yaml)")


def check_belongs(state: dict[str, Any], run_dir: Path, path: Path) -> None:
    """Refuse a checkpoint whose algorithm or env differs from the run's own config (e.g. one copied from another run)."""
    from omegaconf import OmegaConf

    run_cfg = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
    want = (OmegaConf.select(run_cfg, "algo.name"), OmegaConf.select(run_cfg, "env.name"))
    got = (state.get("algo"), state.get("env"))
    if want != got:
        raise PgtrainError(
            f"checkpoint {path} was written by algo={got[0]} env={got[1]}, but {run_dir} is an algo={want[0]} env={want[1]} run"
        )


def record_resume(run_dir: Path, cfg: Any, overrides: list[str], env_steps: int) -> Path:
    """Write the config a resumed process runs with to ``.hydra/resume_<k>.yaml`` (k = 1, 2, ... in order), beside
    ``.hydra/config.yaml``, which keeps the config the run started with; the highest k is the config now in force."""
    from omegaconf import OmegaConf

    hydra_dir = run_dir / ".hydra"
    k = 1 + max((int(p.stem.split("_")[1]) for p in hydra_dir.glob("resume_*.yaml") if p.stem.split("_")[1].isdigit()), default=0)
    path = hydra_dir / f"resume_{k}.yaml"
    typed = " ".join(overrides) or "(no overrides)"
    header = f"# pgtrain resume={run_dir} {typed}\n# resumed at env step {env_steps}; .hydra/config.yaml holds the run's first config\n"
    write_text(path, header + OmegaConf.to_yaml(cfg))
    return path
