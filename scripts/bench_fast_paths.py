"""Each fast path (pgtrain/fast/) and each library work-around (pgtrain/workarounds/) against the plain form it replaces,
side by side in one run, into one JSON result file.

In-process timings (one torch thread) alternate the two forms ``--repeats`` times and report each form's median time
per call; the work-arounds are timed in fresh processes (their gain is at start-up and exit), alternating likewise:

- acting: ``Policy.act`` (a torch distribution) against the inverse-CDF sampler (CartPole's 8 envs), and the lecture
  net's 24 frames (the Pong preset's async batch) through torch, numpy and the compiled pass;
- the sparse layers: a REINFORCE-sized forward and backward of the lecture net's first layer, and of the small CNN's
  first convolution, against the dense layers;
- Pong's compiled env-step passes: the preprocessing and the frames' nonzeros against their numpy forms;
- torch.distributions' argument validation on and off, on a PPO minibatch's policy terms;
- work-arounds: the event writer against ``torch.utils.tensorboard.SummaryWriter`` (import and 100 scalars), the
  unwrapped optimisers against torch's (the first Adam step), the exit without teardown against the ordinary exit
  (``pgtrain total_steps=1000``, the whole process).

    python scripts/bench_fast_paths.py            # writes benchmarks/results/fast-paths_<date>.json
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from pgtrain import fast
from pgtrain.batches import SparseFrames
from pgtrain.config import DiscreteHead
from pgtrain.envs.pong import lecture_frame_grey
from pgtrain.fast.acting import LectureKernelActor, NumpyActor, sample
from pgtrain.fast.kernels import lecture_diff_grey, nonzero_rows
from pgtrain.fast.sparse import SparseFrameConv, SparseInputLinear
from pgtrain.nets import Policy

sys.path.insert(0, str(Path(__file__).resolve().parent))
import results  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def per_call_us(forms: dict[str, Callable[[], object]], repeats: int, seconds: float) -> dict[str, float]:
    """Median microseconds per call of each form; the forms take turns, ``seconds`` each per repeat."""
    times: dict[str, list[float]] = {name: [] for name in forms}
    for f in forms.values():
        f()  # warm-up (compilation, caches)
    for _ in range(repeats):
        for name, f in forms.items():
            n, start = 0, time.perf_counter()
            while (elapsed := time.perf_counter() - start) < seconds:
                f()
                n += 1
            times[name].append(elapsed / n * 1e6)
    return {name: round(statistics.median(t), 2) for name, t in times.items()}


def frames(rows: int, density: float = 0.005, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return ((rng.random((rows, 6400)) < density).astype(np.int8) - (rng.random((rows, 6400)) < density).astype(np.int8)).astype(np.int8)


def acting(repeats: int, seconds: float) -> dict:
    cartpole = Policy(gym.spaces.Box(-5, 5, (4,)), gym.spaces.Discrete(2), "mlp", [64, 64], "tanh")
    x = torch.randn(8, 4)
    lecture = Policy(gym.spaces.Box(-1, 1, (6400,), np.int8), gym.spaces.Discrete(2), "mlp", [200], "relu", DiscreteHead.sigmoid)
    obs = frames(24)
    sparse_obs = SparseFrames.of(obs)
    numpy_actor, kernel_actor = NumpyActor(lecture), LectureKernelActor(lecture)
    door = fast.actor(lecture, torch.as_tensor)
    with torch.no_grad():
        return {
            "cartpole_categorical_batch_8_us": per_call_us(
                {"plain Policy.act": lambda: cartpole.act(x), "inverse-CDF sample": lambda: sample(cartpole, x)}, repeats, seconds
            ),
            "pong_lecture_net_24_frames_us": per_call_us(
                {
                    "plain Policy.act": lambda: lecture.act(torch.as_tensor(sparse_obs.dense())),
                    "inverse-CDF sample": lambda: sample(lecture, torch.as_tensor(sparse_obs.dense())),
                    "NumpyActor": lambda: numpy_actor(sparse_obs, True),
                    "LectureKernelActor": lambda: kernel_actor(sparse_obs, True),
                    "fast.actor (the door)": lambda: door(sparse_obs, True),
                },
                repeats,
                seconds,
            ),
        }


def distribution_validation(repeats: int, seconds: float) -> dict:
    """A PPO minibatch's policy terms (log-probabilities and entropy of 64 CartPole observations, forward and backward)
    with torch.distributions' argument validation on and off (pgtrain turned it off process-wide before 2026-12-07)."""
    from torch.distributions import Distribution

    policy = Policy(gym.spaces.Box(-5, 5, (4,)), gym.spaces.Discrete(2), "mlp", [64, 64], "tanh")
    x, a = torch.randn(64, 4), torch.randint(0, 2, (64,))

    def terms(validate: bool) -> None:
        Distribution.set_default_validate_args(validate)
        policy.zero_grad()
        dist = policy.distribution(x)
        (dist.log_prob(a).mean() + dist.entropy().mean()).backward()

    try:
        return {
            "ppo_minibatch_64_policy_terms_us": per_call_us(
                {"validation on (torch's default)": lambda: terms(True), "validation off": lambda: terms(False)}, repeats, seconds
            )
        }
    finally:
        Distribution.set_default_validate_args(True)


def sparse_layers(repeats: int, seconds: float) -> dict:
    torch.manual_seed(0)
    x = torch.as_tensor(frames(2048))
    sparse = SparseInputLinear(6400, 200)
    dense = nn.Linear(6400, 200)
    g = torch.randn(2048, 200)

    def fwd_bwd(layer: nn.Module, inp: torch.Tensor) -> None:
        layer.zero_grad()
        (layer(inp) * g).sum().backward()

    conv_x = torch.as_tensor(frames(256))
    sparse_conv = SparseFrameConv(80, 16, 8, 4)
    dense_conv = nn.Conv2d(1, 16, 8, stride=4)
    conv_g = torch.randn(256, 16, 19, 19)

    def conv_fwd_bwd(layer: nn.Module, inp: torch.Tensor) -> None:
        layer.zero_grad()
        (layer(inp) * conv_g).sum().backward()

    return {
        "lecture_first_layer_2048_frames_forward_backward_us": per_call_us(
            {"nn.Linear (dense)": lambda: fwd_bwd(dense, x.float()), "SparseInputLinear": lambda: fwd_bwd(sparse, x)}, repeats, seconds
        ),
        "small_cnn_first_conv_256_frames_forward_backward_us": per_call_us(
            {
                "nn.Conv2d (dense)": lambda: conv_fwd_bwd(dense_conv, conv_x.float().reshape(-1, 1, 80, 80)),
                "SparseFrameConv": lambda: conv_fwd_bwd(sparse_conv, conv_x),
            },
            repeats,
            seconds,
        ),
    }


def kernels(repeats: int, seconds: float) -> dict:
    rng = np.random.default_rng(0)
    screens = np.full((24, 210, 160), 87, np.uint8)  # the background's grey, with a few lit pixels
    screens[:, 35:195][rng.random((24, 160, 160)) < 0.01] = 236
    ids = np.arange(24)
    prev, fresh = np.zeros((24, 6400), np.int8), np.zeros(24, bool)

    def numpy_diff() -> np.ndarray:
        cur = lecture_frame_grey(screens)
        diff = cur - prev[ids]
        prev[ids] = cur
        return diff

    x = frames(24)

    def numpy_nonzeros() -> SparseFrames:
        return SparseFrames.of(x.astype(np.int16))  # the general numpy form (int8 frames take the compiled pass)

    return {
        "pong_preprocessing_24_screens_us": per_call_us(
            {"numpy": numpy_diff, "compiled": lambda: lecture_diff_grey(screens, ids, prev, fresh)}, repeats, seconds
        ),
        "pong_frame_nonzeros_24_frames_us": per_call_us({"numpy": numpy_nonzeros, "compiled": lambda: nonzero_rows(x)}, repeats, seconds),
    }


EVENTS = """
import sys, tempfile, time
import torch
t = time.perf_counter()
if sys.argv[1] == "torch":
    from torch.utils.tensorboard import SummaryWriter as W
else:
    from pgtrain.workarounds.events import EventWriter as W
w = W(tempfile.mkdtemp())
for i in range(100):
    w.add_scalar("charts/x", float(i), i)
w.close()
print(time.perf_counter() - t)
"""

OPTIMIZER = """
import sys, time
import torch
net = torch.nn.Linear(4, 2)
loss = net(torch.randn(8, 4)).sum()
t = time.perf_counter()
if sys.argv[1] == "torch":
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
else:
    from pgtrain.workarounds.optimizers import Adam
    opt = Adam(net.parameters(), lr=1e-3)
opt.zero_grad()
loss.backward()
opt.step()
print(time.perf_counter() - t)
"""

EXIT = """
import os, sys
sys.argv = ["pgtrain", "total_steps=1000", "progress=false", "hydra.run.dir=" + sys.argv[2]]
from pgtrain import cli
cli.console() if os.environ["FORM"] == "run_and_exit" else cli.main()
"""


def processes(repeats: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out: dict[str, dict[str, list[float]]] = {
        "event_writer_import_and_100_scalars_s": {"torch SummaryWriter": [], "workarounds.events.EventWriter": []},
        "first_adam_step_s": {"torch.optim.Adam": [], "workarounds.optimizers.Adam": []},
        "pgtrain_total_steps_1000_process_wall_s": {"ordinary exit": [], "workarounds.exits.run_and_exit": []},
    }
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(repeats):
            for form, name in (("torch", "torch SummaryWriter"), ("ours", "workarounds.events.EventWriter")):
                res = subprocess.run([sys.executable, "-c", EVENTS, form], env=env, capture_output=True, text=True, check=True)
                out["event_writer_import_and_100_scalars_s"][name].append(float(res.stdout))
            for form, name in (("torch", "torch.optim.Adam"), ("ours", "workarounds.optimizers.Adam")):
                res = subprocess.run([sys.executable, "-c", OPTIMIZER, form], env=env, capture_output=True, text=True, check=True)
                out["first_adam_step_s"][name].append(float(res.stdout))
            for form, name in (("main", "ordinary exit"), ("run_and_exit", "workarounds.exits.run_and_exit")):
                start = time.perf_counter()
                subprocess.run(
                    [sys.executable, "-c", EXIT, "x", f"{tmp}/{form}{i}"],
                    env={**env, "FORM": form},
                    cwd=tmp,
                    capture_output=True,
                    check=True,
                )
                out["pgtrain_total_steps_1000_process_wall_s"][name].append(time.perf_counter() - start)
    return {key: {name: round(statistics.median(v), 3) for name, v in forms.items()} for key, forms in out.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--seconds", type=float, default=0.5, help="per form per repeat, in-process timings")
    p.add_argument("--json", type=Path, help="result file or folder (default: benchmarks/results/)")
    p.add_argument("--note", default="")
    args = p.parse_args()
    torch.set_num_threads(1)
    load = os.getloadavg()[0]
    protocol = {
        "in_process": f"1 torch thread, forms alternating, {args.repeats} repeats of {args.seconds:g} s, medians",
        "workarounds": f"fresh processes, forms alternating, {args.repeats} repeats, medians",
    }
    figures = {
        "acting": acting(args.repeats, args.seconds),
        "distribution_validation": distribution_validation(args.repeats, args.seconds),
        "sparse_layers": sparse_layers(args.repeats, args.seconds),
        "compiled_env_loop": kernels(args.repeats, args.seconds),
        "workarounds": processes(args.repeats),
    }
    rec = results.record(
        "fast-paths",
        "Fast paths and library work-arounds against the plain forms",
        "speed",
        shlex.join(["python", *sys.argv]),
        protocol,
        seeds=[],
        notes=args.note or None,
        load_average_1min={"start": load, "end": os.getloadavg()[0]},
        **figures,
    )
    print(json.dumps(rec, indent=2))
    print(f"wrote {results.write(rec, args.json)}")


if __name__ == "__main__":
    main()
