"""pgtrain beside Stable-Baselines3 and Tianshou, in one run: time and env steps to a threshold, or time and return
at a fixed budget of env steps.

For each task and seed, pgtrain and the peer library run one after the other (the order alternates from seed to seed),
each in its own process, with the same seed, the same budget caps, one torch thread each (two for Pong, on both sides),
on the CPU, and the same threshold definition: the mean return of the last ``window`` finished *training* episodes
reaching ``threshold`` (CartPole-v1: last 100 >= 475; Pendulum-v1: last 10 >= -200; LunarLander-v3: last 100 >= 200).
Fixed-budget tasks (Pong, HalfCheetah) have no threshold: both sides run exactly the budget of env steps, and the report
gives wall seconds, env steps/s and the return at the end: the mean return of the last ``window`` finished training
episodes (HalfCheetah-v5: the last 10), with the ratio pgtrain/peer of that return. Wall seconds run from the start
of the training loop (pgtrain: its workspace loop; Stable-Baselines3: the call of ``learn()``; Tianshou: the first
collect), so imports and process start-up are excluded on both sides (the per-seed table lists whole process times).

| task | pgtrain | peer |
|---|---|---|
| cartpole-a2c | ``pgtrain algo=a2c env=cartpole`` | Stable-Baselines3 A2C, RL Zoo's CartPole-v1 settings |
| cartpole-reinforce | ``pgtrain algo=reinforce env=cartpole`` | Tianshou ``Reinforce``, the settings of its test_pg.py |
| pendulum-ddpg | ``pgtrain algo=ddpg env=pendulum`` | Stable-Baselines3 DDPG, RL Zoo's Pendulum-v1 settings |
| pong-a2c | ``pgtrain algo=a2c env=pong env.preprocess=stack`` (Nature CNN, as the peer) | Stable-Baselines3 A2C, CNN, RL Zoo's Atari |
| cartpole-ppo | ``pgtrain algo=ppo env=cartpole`` | Stable-Baselines3 PPO, RL Zoo's CartPole-v1 settings |
| pendulum-sac | ``pgtrain algo=sac env=pendulum`` | Stable-Baselines3 SAC, RL Zoo's Pendulum-v1 settings |
| pendulum-td3 | ``pgtrain algo=td3 env=pendulum`` | Stable-Baselines3 TD3, RL Zoo's Pendulum-v1 settings |
| lunarlander-ppo (long) | ``pgtrain algo=ppo env=lunarlander`` | Stable-Baselines3 PPO, RL Zoo's LunarLander-v2 settings, on v3 |
| halfcheetah-td3 (long) | ``pgtrain algo=td3 env=halfcheetah`` | Stable-Baselines3 TD3, RL Zoo's HalfCheetah-v3 settings, on v5 |
| halfcheetah-td3-lean (long) | the same + ``'algo.hidden_sizes=[128,128]' algo.batch_size=64`` | the same as halfcheetah-td3 |
| halfcheetah-sac (long) | ``pgtrain algo=sac env=halfcheetah`` | Stable-Baselines3 SAC, RL Zoo's HalfCheetah-v3 settings, on v5 |
| halfcheetah-ppo (long) | ``pgtrain algo=ppo env=halfcheetah`` | SB3 PPO + VecNormalize, RL Zoo's HalfCheetah-v3 settings, on v5 |

pgtrain runs with its own defaults (configs/, tuned files included) plus ``stop_on_solve=true`` (threshold tasks), the
step cap as ``total_steps``, ``eval_interval=0`` (neither peer evaluates while it trains) and ``device=cpu``. The step
caps: RL Zoo's ``n_timesteps`` (LunarLander: twice it, 2M env steps, wall cap 2,400 s); SB3's on-policy ``learn()``
finishes the rollout it is in, up to ``n_envs * n_steps - 1`` env steps past the cap. Fixed budgets: Pong 20,000 env steps (training
env steps per second); HalfCheetah 50,000 for TD3 and SAC, 200,000 for PPO (``--steps`` changes it; RL Zoo trains 1M, which SB3's TD3 would
take about four hours to run here; SAC likewise), wall cap 3,600 s (``--max-wall-s``).

    python scripts/bench_peers.py                                   # the default set, seeds 0-4
    python scripts/bench_peers.py --tasks cartpole-a2c --seeds 0 1  # a subset
    python scripts/bench_peers.py --tasks lunarlander-ppo --steps 2000000 --max-wall-s 2400
    python scripts/bench_peers.py --tasks halfcheetah-td3 halfcheetah-sac halfcheetah-ppo
    python scripts/bench_peers.py --tasks halfcheetah-sac --seeds 0 1   # a long task's seeds over several runs
    python scripts/bench_peers.py --quick                           # every task, tiny budgets, seed 0, both sides (CI)

The default set leaves out the long tasks (lunarlander-ppo, halfcheetah-td3[-lean], halfcheetah-sac, halfcheetah-ppo: hours
each with 5 seeds); name them.

Output: one result file per task, ``<task>_<date>.json`` (scripts/results.py: command, commit, date, machine, versions,
protocol, both sides' per-seed figures and curves) in ``--results`` (default benchmarks/results/; with ``--quick``, the
folder of ``--out``, so CI never writes beside the published figures); and a report of the whole run: ``<out>.md`` (the
command, the machine, tables of medians with min-max over seeds: threshold tasks with the ratios peer/pgtrain;
fixed-budget tasks with the ratios peer/pgtrain of wall s and env steps/s and pgtrain/peer of the return at the end; a
per-seed table), ``<out>.png`` (running mean of training returns against wall-clock seconds, per task, both sides;
Pong: env steps/s) and ``<out>.json`` (every per-seed figure, each task's caps). ``--out`` defaults to
runs/bench_peers (full runs) and runs/bench_peers_quick (``--quick``). ``python scripts/render_results.py`` then
rebuilds the README's table and docs/benchmarks.md from benchmarks/results/.

Needs the optional group ``bench``: ``pip install -e '.[bench]'`` (stable-baselines3, tianshou).

RL Zoo's settings are copied below as data (rl_zoo3 2.9.2, rl_zoo3/hyperparams/{a2c,ddpg,ppo,sac,td3}.yml), so rl_zoo3 itself
(optuna, huggingface_hub, moviepy...) need not be installed. Tianshou's settings: test/discrete/test_pg.py of Tianshou 2.0.
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pgtrain import spawn
from pgtrain.tags import RETURN_TAG, SOLVED_TAG

sys.path.insert(0, str(Path(__file__).resolve().parent))
import results as result_files  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ENV_IDS = {"cartpole": "CartPole-v1", "pendulum": "Pendulum-v1", "pong": "ALE/Pong-v5", "lunarlander": "LunarLander-v3",
           "halfcheetah": "HalfCheetah-v5"}  # fmt: skip


# ----------------------------------------------------------------------------------------------------------------------
# The tasks and the peers' settings (data)

# RL Zoo 2.9.2, hyperparams/a2c.yml, CartPole-v1: n_envs 8, n_timesteps 5e5, MlpPolicy, ent_coef 0.0 (the rest: SB3's
# A2C defaults: n_steps 5, lr 7e-4, RMSprop, gamma 0.99, gae_lambda 1.0, vf_coef 0.5, max_grad_norm 0.5).
ZOO_A2C_CARTPOLE = {"n_envs": 8, "n_timesteps": 500_000, "ent_coef": 0.0}
# RL Zoo 2.9.2, hyperparams/ddpg.yml, Pendulum-v1.
ZOO_DDPG_PENDULUM = {
    "n_timesteps": 20_000,
    "gamma": 0.98,
    "buffer_size": 200_000,
    "learning_starts": 10_000,
    "noise_std": 0.1,  # noise_type: normal
    "gradient_steps": 1,
    "train_freq": 1,
    "learning_rate": 1e-3,
    "net_arch": [400, 300],
}
# RL Zoo 2.9.2, hyperparams/a2c.yml, atari: AtariWrapper, frame_stack 4, CnnPolicy, n_envs 16, ent_coef 0.01,
# vf_coef 0.25, RMSpropTFLike(eps=1e-5); on PongNoFrameskip-v4 (frame skip 4 in the wrapper, no sticky actions).
ZOO_A2C_ATARI = {"env_id": "PongNoFrameskip-v4", "n_envs": 16, "frame_stack": 4, "ent_coef": 0.01, "vf_coef": 0.25, "rms_eps": 1e-5}
# RL Zoo 2.9.2, hyperparams/ppo.yml, CartPole-v1 (lin_X: X decayed linearly to 0 over n_timesteps).
ZOO_PPO_CARTPOLE = {
    "n_envs": 8,
    "n_timesteps": 100_000,
    "n_steps": 32,
    "batch_size": 256,
    "gae_lambda": 0.8,
    "gamma": 0.98,
    "n_epochs": 20,
    "ent_coef": 0.0,
    "learning_rate": 1e-3,  # lin_0.001
    "clip_range": 0.2,  # lin_0.2
}
# RL Zoo 2.9.2, hyperparams/sac.yml, Pendulum-v1 (the rest: SB3's SAC defaults).
ZOO_SAC_PENDULUM = {"n_timesteps": 20_000, "learning_rate": 1e-3}
# RL Zoo 2.9.2, hyperparams/td3.yml, Pendulum-v1: DDPG's entry, on SB3's TD3.
ZOO_TD3_PENDULUM = dict(ZOO_DDPG_PENDULUM)
# RL Zoo 2.9.2, hyperparams/ppo.yml, LunarLander-v2 (run here on LunarLander-v3; the rest: SB3's PPO defaults: lr 3e-4
# constant, clip_range 0.2, 64-64 tanh nets).
ZOO_PPO_LUNARLANDER = {
    "n_envs": 16,
    "n_timesteps": 1_000_000,
    "n_steps": 1024,
    "batch_size": 64,
    "gae_lambda": 0.98,
    "gamma": 0.999,
    "n_epochs": 4,
    "ent_coef": 0.01,
}
# RL Zoo 2.9.2, hyperparams/td3.yml, HalfCheetah-v3 (run here on HalfCheetah-v5; noise_type: normal; the rest: SB3's TD3
# defaults: lr 1e-3, buffer 1M, batch 256, gamma 0.99, tau 0.005, train_freq 1, 400x300 nets).
ZOO_TD3_HALFCHEETAH = {"n_timesteps": 1_000_000, "learning_starts": 10_000, "noise_std": 0.1}
# RL Zoo 2.9.2, hyperparams/sac.yml, HalfCheetah-v3: learning_starts 10k (the rest: SB3's SAC defaults: lr 3e-4 for
# actor, critics and temperature, 256x256, batch 256, tau 0.005, buffer 1M, ent_coef auto).
ZOO_SAC_HALFCHEETAH = {"n_timesteps": 1_000_000, "learning_starts": 10_000}
# RL Zoo 2.9.2, hyperparams/ppo.yml, HalfCheetah-v3 (tuned; no gSDE): VecNormalize of observations and rewards (RL Zoo
# gives it the algorithm's gamma), separate 256x256 ReLU nets, PyTorch's default init, log std -2 (SB3's defaults for
# the rest: no value clipping, constant rates).
ZOO_PPO_HALFCHEETAH = {
    "n_envs": 1,
    "n_timesteps": 1_000_000,
    "n_steps": 512,
    "batch_size": 64,
    "gamma": 0.98,
    "learning_rate": 2.0633e-05,
    "ent_coef": 0.000401762,
    "clip_range": 0.1,
    "n_epochs": 20,
    "gae_lambda": 0.92,
    "max_grad_norm": 0.8,
    "vf_coef": 0.58096,
    "policy_kwargs": {"log_std_init": -2.0, "ortho_init": False, "net_arch": {"pi": [256, 256], "vf": [256, 256]}},
}
# Tianshou 2.0 test/discrete/test_pg.py: 8 training envs, 8 episodes per collect, 2 passes in batches of 64, Adam 1e-3,
# gamma 0.95, returns standardised, a 64-64 ReLU net with a softmax output, orthogonal init; 10 epochs x 40,000 steps.
TIANSHOU_PG_CARTPOLE = {
    "training_num": 8,
    "episode_per_collect": 8,
    "repeat_per_collect": 2,
    "batch_size": 64,
    "lr": 1e-3,
    "gamma": 0.95,
    "hidden_sizes": [64, 64],
    "buffer_size": 20_000,
    "rew_norm": True,
    "max_steps": 400_000,
}


@dataclass(frozen=True)
class Task:
    name: str
    title: str
    algo: str  # pgtrain algo=
    env: str  # pgtrain env=
    peer: str  # peer label in the tables
    peer_settings: str
    window: int | None  # episodes of the running mean: the threshold's and the final return's (None: the last 100)
    threshold: float | None  # None: a fixed budget, both sides run exactly max_steps env steps
    max_steps: int  # step cap (the budget of a fixed-budget task), the same for both sides; --steps replaces it
    max_wall_s: float  # safety cap on each side's training loop, the same for both sides; --max-wall-s replaces it
    quick_steps: int
    torch_threads: int = 1
    overrides: tuple[str, ...] = field(default=())  # extra pgtrain overrides (besides the caps)
    default: bool = True  # in the set run when --tasks is not given (long tasks run only when named)

    @property
    def fixed_budget(self) -> bool:
        return self.threshold is None


TASKS: dict[str, Task] = {
    t.name: t
    for t in (
        Task("cartpole-a2c", "CartPole-v1, A2C", "a2c", "cartpole", "SB3 A2C", "RL Zoo (CartPole-v1)", 100, 475.0,
             ZOO_A2C_CARTPOLE["n_timesteps"], 150.0, 3_000),
        Task("cartpole-reinforce", "CartPole-v1, REINFORCE", "reinforce", "cartpole", "Tianshou Reinforce", "its test_pg.py", 100,
             475.0, TIANSHOU_PG_CARTPOLE["max_steps"], 120.0, 3_000),
        Task("pendulum-ddpg", "Pendulum-v1, DDPG", "ddpg", "pendulum", "SB3 DDPG", "RL Zoo (Pendulum-v1)", 10, -200.0,
             ZOO_DDPG_PENDULUM["n_timesteps"], 300.0, 600),
        Task("pong-a2c", "Pong, A2C (throughput)", "a2c", "pong", "SB3 A2C (CNN)", "RL Zoo (atari), 16 envs", None, None,
             # the peer's network (Nature CNN, 4x84x84) and game (PongNoFrameskip-v4: no sticky actions)
             20_000, 300.0, 800, torch_threads=2, overrides=("env.preprocess=stack", "env.repeat_action_probability=0")),
        Task("cartpole-ppo", "CartPole-v1, PPO", "ppo", "cartpole", "SB3 PPO", "RL Zoo (CartPole-v1)", 100, 475.0,
             ZOO_PPO_CARTPOLE["n_timesteps"], 150.0, 3_000),
        Task("pendulum-sac", "Pendulum-v1, SAC", "sac", "pendulum", "SB3 SAC", "RL Zoo (Pendulum-v1)", 10, -200.0,
             ZOO_SAC_PENDULUM["n_timesteps"], 300.0, 600),
        Task("pendulum-td3", "Pendulum-v1, TD3", "td3", "pendulum", "SB3 TD3", "RL Zoo (Pendulum-v1)", 10, -200.0,
             ZOO_TD3_PENDULUM["n_timesteps"], 300.0, 600),
        # cap: twice RL Zoo's 1M env steps, whose figure is a deterministic evaluation: the last-100 *training* mean needs
        # more (docs/lab_log.md). quick: one rollout of 16 x 1,024 env steps and its update on each side (pgtrain refuses
        # a budget below one)
        Task("lunarlander-ppo", "LunarLander-v3, PPO", "ppo", "lunarlander", "SB3 PPO", "RL Zoo (LunarLander-v2)", 100, 200.0,
             2 * ZOO_PPO_LUNARLANDER["n_timesteps"], 2400.0, 16_384, default=False),
        # a fixed budget, not RL Zoo's 1M steps (hours for SB3's TD3 on 2 cores); 1,000 quick steps: one whole episode
        Task("halfcheetah-td3", "HalfCheetah-v5, TD3", "td3", "halfcheetah", "SB3 TD3", "RL Zoo (HalfCheetah-v3)", 10, None,
             50_000, 3600.0, 1_000, default=False),
        # the same task with pgtrain on lean settings of its own (for the least wall time): 128x128 networks and
        # minibatches of 64 (a sixth of the floating-point work of a gradient step), SB3 unchanged on RL Zoo's
        Task("halfcheetah-td3-lean", "HalfCheetah-v5, TD3 (pgtrain lean)", "td3", "halfcheetah", "SB3 TD3", "RL Zoo (HalfCheetah-v3)", 10,
             None, 50_000, 3600.0, 1_000, default=False, overrides=("algo.hidden_sizes=[128,128]", "algo.batch_size=64")),
        # the same budget for SAC: the returns at equal env steps beside SB3's
        Task("halfcheetah-sac", "HalfCheetah-v5, SAC", "sac", "halfcheetah", "SB3 SAC", "RL Zoo (HalfCheetah-v3)", 10, None,
             50_000, 3600.0, 1_000, default=False),
        # PPO learns more slowly per env step than the replay methods: a budget of 200k (RL Zoo: 1M, hours for 20 epochs
        # of 64-step minibatches on 2 cores). quick: two 512-step rollouts and their updates
        Task("halfcheetah-ppo", "HalfCheetah-v5, PPO", "ppo", "halfcheetah", "SB3 PPO", "RL Zoo (HalfCheetah-v3)", 10, None,
             200_000, 3600.0, 1_024, default=False),
    )
}  # fmt: skip


# ----------------------------------------------------------------------------------------------------------------------
# Peer side: runs inside its own process (``--peer TASK``)


class Tracker:
    """Finished training episodes -> the running-mean threshold, the curve, the caps."""

    def __init__(self, window: int | None, threshold: float | None, max_wall_s: float) -> None:
        self.window, self.threshold, self.max_wall_s = window, threshold, max_wall_s
        self.returns: list[float] = []
        self.curve: list[tuple[float, int, float]] = []  # (wall s, env step, return) per finished episode
        self.solved: dict[str, float] | None = None
        self.t0 = time.perf_counter()

    def start(self) -> None:
        self.t0 = time.perf_counter()

    def wall(self) -> float:
        return time.perf_counter() - self.t0

    def episode(self, ret: float, env_step: int) -> None:
        wall = self.wall()
        self.returns.append(float(ret))
        self.curve.append((wall, int(env_step), float(ret)))
        if self.solved is None and self.threshold is not None and self.window and len(self.returns) >= self.window:
            if sum(self.returns[-self.window :]) / self.window >= self.threshold:
                self.solved = {"env_steps": int(env_step), "episodes": len(self.returns), "wall_time_s": wall}

    def should_stop(self) -> bool:
        return self.solved is not None or self.wall() >= self.max_wall_s

    def result(self, env_steps: int) -> dict[str, Any]:
        wall = self.wall()
        window = self.window or 100
        recent = self.returns[-window:]
        return {
            "env_steps": int(env_steps),
            "wall_time_s": wall,
            "steps_per_second": env_steps / wall if wall > 0 else 0.0,
            "solved": self.solved,
            "final_return": sum(recent) / len(recent) if recent else None,
            "curve": self.curve,
        }


def _sb3_callback(tracker: Tracker):
    from stable_baselines3.common.callbacks import BaseCallback

    class ThresholdCallback(BaseCallback):
        """Episodes from the Monitor wrapper's ``info["episode"]``; stops learn() at the threshold or the wall cap."""

        def _on_step(self) -> bool:
            for info in self.locals["infos"]:
                if "episode" in info:
                    tracker.episode(info["episode"]["r"], self.num_timesteps)
            return not tracker.should_stop()

    return ThresholdCallback()


def _sb3_learn(model: Any, task: Task, max_steps: int) -> dict[str, Any]:
    """Train an SB3 model to the task's threshold or caps; the tracker's result."""
    tracker = Tracker(task.window, task.threshold, task.max_wall_s)
    tracker.start()
    model.learn(total_timesteps=max_steps, callback=_sb3_callback(tracker))
    return tracker.result(model.num_timesteps)


def peer_sb3_a2c_cartpole(task: Task, seed: int, max_steps: int) -> dict[str, Any]:
    from stable_baselines3 import A2C
    from stable_baselines3.common.env_util import make_vec_env

    envs = make_vec_env("CartPole-v1", n_envs=ZOO_A2C_CARTPOLE["n_envs"], seed=seed)
    model = A2C("MlpPolicy", envs, ent_coef=ZOO_A2C_CARTPOLE["ent_coef"], seed=seed, device="cpu")
    return _sb3_learn(model, task, max_steps)


def peer_sb3_ddpg_pendulum(task: Task, seed: int, max_steps: int) -> dict[str, Any]:
    from stable_baselines3 import DDPG

    return _sb3_noisy(DDPG, "Pendulum-v1", ZOO_DDPG_PENDULUM, task, seed, max_steps)


def peer_sb3_td3_pendulum(task: Task, seed: int, max_steps: int) -> dict[str, Any]:
    from stable_baselines3 import TD3

    return _sb3_noisy(TD3, "Pendulum-v1", ZOO_TD3_PENDULUM, task, seed, max_steps)


def peer_sb3_td3_halfcheetah(task: Task, seed: int, max_steps: int) -> dict[str, Any]:
    from stable_baselines3 import TD3

    from pgtrain.envs import quiet_mujoco

    quiet_mujoco()  # MuJoCo's warnings to Python's, not to MUJOCO_LOG.TXT in the working directory (as on pgtrain's side)
    return _sb3_noisy(TD3, "HalfCheetah-v5", ZOO_TD3_HALFCHEETAH, task, seed, max_steps)


# RL Zoo's keys that SB3's off-policy constructors take as they are (a missing one: SB3's default)
_SB3_OFF_POLICY_KEYS = ("learning_rate", "buffer_size", "learning_starts", "gamma", "train_freq", "gradient_steps")


def _sb3_noisy(cls: Any, env_id: str, z: dict[str, Any], task: Task, seed: int, max_steps: int) -> dict[str, Any]:
    """SB3's DDPG or TD3 on one env with RL Zoo's settings ``z``: Gaussian action noise of ``z["noise_std"]``, the
    network ``z["net_arch"]`` if given, the keys of ``_SB3_OFF_POLICY_KEYS`` it holds, SB3's defaults for the rest."""
    import numpy as np
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.noise import NormalActionNoise

    envs = make_vec_env(env_id, n_envs=1, seed=seed)
    n_actions = envs.action_space.shape[-1]
    model = cls(
        "MlpPolicy",
        envs,
        **{k: z[k] for k in _SB3_OFF_POLICY_KEYS if k in z},
        action_noise=NormalActionNoise(mean=np.zeros(n_actions), sigma=z["noise_std"] * np.ones(n_actions)),
        policy_kwargs={"net_arch": z["net_arch"]} if "net_arch" in z else None,
        seed=seed,
        device="cpu",
    )
    return _sb3_learn(model, task, max_steps)


def peer_sb3_ppo_cartpole(task: Task, seed: int, max_steps: int) -> dict[str, Any]:
    from stable_baselines3.common.utils import get_linear_fn

    z = ZOO_PPO_CARTPOLE
    # RL Zoo's lin_0.001 and lin_0.2: decayed over n_timesteps, the task's cap
    schedules = {k: get_linear_fn(z[k], 0.0, 1.0) for k in ("learning_rate", "clip_range")}
    return _sb3_ppo("CartPole-v1", z, task, seed, max_steps, **schedules)


def peer_sb3_ppo_lunarlander(task: Task, seed: int, max_steps: int) -> dict[str, Any]:
    return _sb3_ppo("LunarLander-v3", ZOO_PPO_LUNARLANDER, task, seed, max_steps)


def peer_sb3_ppo_halfcheetah(task: Task, seed: int, max_steps: int) -> dict[str, Any]:
    import torch

    from pgtrain.envs import quiet_mujoco

    quiet_mujoco()
    z = ZOO_PPO_HALFCHEETAH
    keys = ("learning_rate", "clip_range", "max_grad_norm", "vf_coef")
    policy_kwargs = dict(z["policy_kwargs"], activation_fn=torch.nn.ReLU)
    return _sb3_ppo("HalfCheetah-v5", z, task, seed, max_steps, normalize=True, **{k: z[k] for k in keys}, policy_kwargs=policy_kwargs)


def _sb3_ppo(
    env_id: str, z: dict[str, Any], task: Task, seed: int, max_steps: int, normalize: bool = False, **extra: Any
) -> dict[str, Any]:
    """SB3's PPO (MlpPolicy) on ``z["n_envs"]`` copies of ``env_id`` with RL Zoo's settings ``z`` plus ``extra``
    keyword arguments, SB3's defaults for the rest; ``normalize``: VecNormalize of observations and rewards with the
    algorithm's gamma (RL Zoo's ``normalize: true``; the Monitor wrapper inside make_vec_env records the true returns,
    before it scales the rewards). Its ``learn()`` finishes the rollout it is in: up to ``n_envs * n_steps - 1`` env
    steps past the cap."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    envs = make_vec_env(env_id, n_envs=z["n_envs"], seed=seed)
    if normalize:
        envs = VecNormalize(envs, gamma=z["gamma"])
    keys = ("n_steps", "batch_size", "gae_lambda", "gamma", "n_epochs", "ent_coef")
    model = PPO("MlpPolicy", envs, **{k: z[k] for k in keys}, **extra, seed=seed, device="cpu")
    return _sb3_learn(model, task, max_steps)


def peer_sb3_sac_pendulum(task: Task, seed: int, max_steps: int) -> dict[str, Any]:
    return _sb3_sac("Pendulum-v1", task, seed, max_steps, learning_rate=ZOO_SAC_PENDULUM["learning_rate"])


def peer_sb3_sac_halfcheetah(task: Task, seed: int, max_steps: int) -> dict[str, Any]:
    from pgtrain.envs import quiet_mujoco

    quiet_mujoco()  # MuJoCo's warnings to Python's, as on pgtrain's side
    return _sb3_sac("HalfCheetah-v5", task, seed, max_steps, learning_starts=ZOO_SAC_HALFCHEETAH["learning_starts"])


def _sb3_sac(env_id: str, task: Task, seed: int, max_steps: int, **zoo: Any) -> dict[str, Any]:
    """SB3's SAC (MlpPolicy) on one ``env_id`` with RL Zoo's settings ``zoo``, SB3's defaults for the rest."""
    from stable_baselines3 import SAC
    from stable_baselines3.common.env_util import make_vec_env

    envs = make_vec_env(env_id, n_envs=1, seed=seed)
    model = SAC("MlpPolicy", envs, **zoo, seed=seed, device="cpu")
    return _sb3_learn(model, task, max_steps)


def peer_sb3_a2c_pong(task: Task, seed: int, max_steps: int) -> dict[str, Any]:
    import ale_py
    import gymnasium as gym
    from stable_baselines3 import A2C
    from stable_baselines3.common.env_util import make_atari_env
    from stable_baselines3.common.sb2_compat.rmsprop_tf_like import RMSpropTFLike
    from stable_baselines3.common.vec_env import VecFrameStack

    gym.register_envs(ale_py)
    z = ZOO_A2C_ATARI
    envs = VecFrameStack(make_atari_env(z["env_id"], n_envs=z["n_envs"], seed=seed), n_stack=z["frame_stack"])
    model = A2C(
        "CnnPolicy",
        envs,
        ent_coef=z["ent_coef"],
        vf_coef=z["vf_coef"],
        policy_kwargs={"optimizer_class": RMSpropTFLike, "optimizer_kwargs": {"eps": z["rms_eps"]}},
        seed=seed,
        device="cpu",
    )
    tracker = Tracker(None, None, task.max_wall_s)
    tracker.start()
    model.learn(total_timesteps=max_steps, callback=_sb3_callback(tracker))
    return tracker.result(model.num_timesteps)


def peer_tianshou_reinforce_cartpole(task: Task, seed: int, max_steps: int) -> dict[str, Any]:
    """Tianshou's Reinforce as its test_pg.py sets it up, driven by the loop its OnPolicyTrainer runs (collect 8 episodes,
    update on the whole buffer, reset the buffer) without the trainer's test episodes, so the threshold is the same as
    pgtrain's: the mean of the last 100 training episodes."""
    import gymnasium as gym
    import numpy as np
    import torch
    from tianshou.algorithm import Reinforce
    from tianshou.algorithm.modelfree.reinforce import DiscreteActorPolicy
    from tianshou.algorithm.optim import AdamOptimizerFactory
    from tianshou.data import Collector, VectorReplayBuffer
    from tianshou.env import DummyVectorEnv
    from tianshou.utils.net.common import Net
    from tianshou.utils.torch_utils import policy_within_training_step

    z = TIANSHOU_PG_CARTPOLE
    env = gym.make("CartPole-v1")
    train_envs = DummyVectorEnv([lambda: gym.make("CartPole-v1") for _ in range(z["training_num"])])
    np.random.seed(seed)
    torch.manual_seed(seed)
    train_envs.seed(seed)
    net = Net(state_shape=env.observation_space.shape, action_shape=env.action_space.n, hidden_sizes=z["hidden_sizes"], softmax=True)
    policy = DiscreteActorPolicy(actor=net, dist_fn=torch.distributions.Categorical, action_space=env.action_space)
    algorithm = Reinforce(policy=policy, optim=AdamOptimizerFactory(lr=z["lr"]), gamma=z["gamma"], return_standardization=z["rew_norm"])
    for m in net.modules():
        if isinstance(m, torch.nn.Linear):
            torch.nn.init.orthogonal_(m.weight, gain=np.sqrt(2))
            torch.nn.init.zeros_(m.bias)

    tracker = Tracker(task.window, task.threshold, task.max_wall_s)
    steps = 0

    def on_step(action_batch: Any, rollout_batch: Any) -> None:
        nonlocal steps
        steps += len(rollout_batch)

    def on_episode(episode_batch: Any) -> None:
        tracker.episode(float(np.sum(episode_batch.rew)), steps)

    collector = Collector(algorithm, train_envs, VectorReplayBuffer(z["buffer_size"], len(train_envs)))
    collector.set_on_step_hook(on_step)
    collector.set_on_episode_done_hook(on_episode)
    collector.reset()
    tracker.start()
    while steps < max_steps and not tracker.should_stop():
        with policy_within_training_step(algorithm.policy):
            collector.collect(n_episode=z["episode_per_collect"])
            if tracker.should_stop():
                break
            algorithm.update(buffer=collector.buffer, batch_size=z["batch_size"], repeat=z["repeat_per_collect"])
            collector.reset_buffer(keep_statistics=True)
    return tracker.result(steps)


PEERS = {
    "cartpole-a2c": peer_sb3_a2c_cartpole,
    "cartpole-reinforce": peer_tianshou_reinforce_cartpole,
    "pendulum-ddpg": peer_sb3_ddpg_pendulum,
    "pong-a2c": peer_sb3_a2c_pong,
    "cartpole-ppo": peer_sb3_ppo_cartpole,
    "pendulum-sac": peer_sb3_sac_pendulum,
    "pendulum-td3": peer_sb3_td3_pendulum,
    "lunarlander-ppo": peer_sb3_ppo_lunarlander,
    "halfcheetah-td3": peer_sb3_td3_halfcheetah,
    "halfcheetah-td3-lean": peer_sb3_td3_halfcheetah,
    "halfcheetah-sac": peer_sb3_sac_halfcheetah,
    "halfcheetah-ppo": peer_sb3_ppo_halfcheetah,
}


def peer_main(task: Task, seed: int, out: Path) -> None:
    import torch

    torch.set_num_threads(task.torch_threads)
    result = PEERS[task.name](task, seed, task.max_steps)
    out.write_text(json.dumps(result) + "\n")


# ----------------------------------------------------------------------------------------------------------------------
# Driver: both sides as subprocesses


class RunFailed(Exception):
    """One side's run for one seed failed; the benchmark records it and goes on."""


def _wait(proc: subprocess.Popen, timeout: float, name: str) -> None:
    """Wait for ``proc``; past ``timeout`` interrupt it (pgtrain saves and writes its summary on SIGINT)."""
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise RunFailed(f"{name} did not stop after SIGINT") from None


# seconds allowed for process start-up (imports, env construction) on top of a side's wall cap
STARTUP_ALLOWANCE_S = 60.0


def run_pgtrain(task: Task, seed: int, max_steps: int, workdir: Path) -> dict[str, Any]:
    run_dir = workdir / f"pgtrain-{task.name}-{seed}"
    args = [f"algo={task.algo}", f"env={task.env}", f"seed={seed}", f"total_steps={max_steps}", f"hydra.run.dir={run_dir}",
            "progress=false", "device=cpu", f"device.torch_threads={task.torch_threads}", "eval_interval=0", *task.overrides]  # fmt: skip
    if not task.fixed_budget:
        args.append("stop_on_solve=true")
    t0 = time.perf_counter()
    log = (workdir / f"pgtrain-{task.name}-{seed}.log").open("w")
    proc = spawn.start(*args, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
    _wait(proc, task.max_wall_s + STARTUP_ALLOWANCE_S, f"pgtrain {task.name} seed {seed}")
    log.close()
    process_s = time.perf_counter() - t0
    summary_path = run_dir / "summary.json"
    if not summary_path.exists():
        tail = (workdir / f"pgtrain-{task.name}-{seed}.log").read_text()[-2000:]
        raise RunFailed(f"pgtrain {task.name} seed {seed} failed (exit {proc.returncode}):\n{tail}")
    s = json.loads(summary_path.read_text())
    result = {k: s.get(k) for k in ("env_steps", "wall_time_s", "steps_per_second", "solved", "final_return")}
    if task.fixed_budget or (result["solved"] and result["solved"]["wall_time_s"] > task.max_wall_s):
        result["solved"] = None  # no threshold here (its env's own is not the task's), or past the wall cap, where the
        # peer's run would have been stopped
    result["process_wall_s"] = process_s
    result["curve"] = pgtrain_curve(run_dir, s, summary_path)
    recent = [ret for _, _, ret in result["curve"]][-(task.window or 100) :]
    if recent:  # the peers' final return is over the task's window (last 10 on Pendulum); summary.json's is last 100
        result["final_return"] = sum(recent) / len(recent)
    return result


def pgtrain_curve(run_dir: Path, summary: dict, summary_path: Path) -> list[tuple[float, int, float]]:
    """(wall s since the loop's start, env step, return) of each training episode, from the run's event files.

    The loop's start in absolute time: the solve event's wall time minus its value (``train/solved_at_wall_s``), or,
    for a run that did not solve, summary.json's modification time minus the loop's wall seconds."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    acc.Reload()
    tags = acc.Tags().get("scalars", [])
    if RETURN_TAG not in tags:
        return []
    if SOLVED_TAG in tags:
        ev = acc.Scalars(SOLVED_TAG)[0]
        start = ev.wall_time - ev.value
    else:
        start = summary_path.stat().st_mtime - float(summary["wall_time_s"])
    events = sorted(acc.Scalars(RETURN_TAG), key=lambda e: (e.step, e.wall_time))
    return [(e.wall_time - start, int(e.step), float(e.value)) for e in events]


def run_peer(task: Task, seed: int, max_steps: int, workdir: Path) -> dict[str, Any]:
    out = workdir / f"peer-{task.name}-{seed}.json"
    log_path = workdir / f"peer-{task.name}-{seed}.log"
    t0 = time.perf_counter()
    with log_path.open("w") as log:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--peer", task.name, "--seeds", str(seed), "--steps", str(max_steps),
               "--max-wall-s", str(task.max_wall_s), "--peer-out", str(out)]  # fmt: skip
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
        _wait(proc, task.max_wall_s + STARTUP_ALLOWANCE_S, f"{task.peer} {task.name} seed {seed}")
    if proc.returncode != 0 or not out.exists():
        raise RunFailed(f"{task.peer} {task.name} seed {seed} failed (exit {proc.returncode}):\n{log_path.read_text()[-3000:]}")
    result = json.loads(out.read_text())
    result["process_wall_s"] = time.perf_counter() - t0
    return result


# ----------------------------------------------------------------------------------------------------------------------
# Report


def machine_description() -> dict[str, str]:
    """The report's machine line, from the same description the result files hold."""
    m, c = result_files.machine(), result_files.commit()
    vec = "/".join(m["vector_extensions"] or []) or "no AVX2"
    return {
        "cpu": f"{m['cpu']}, {m['cores']} logical cores, {vec}" + (f", {m['memory_gib']} GiB RAM" if m["memory_gib"] else ""),
        "gpu": m["gpu"] or "none",
        "os": m["os"],
        "python": m["python"],
        "versions": ", ".join(f"{k} {v}" for k, v in result_files.versions().items()),
        "pgtrain commit": c or "unknown",
    }


def _protocol(task: Task) -> dict[str, Any]:
    """The settings that define the task on both sides."""
    protocol: dict[str, Any] = {
        "env_id": ENV_IDS[task.env],
        "overrides": list(task.overrides),
        "solve_threshold": task.threshold,
        "solve_window": task.window if task.window is not None else 100,
        "budget_env_steps": task.max_steps,
        "wall_cap_s": task.max_wall_s,
        "torch_threads": task.torch_threads,
    }
    if task.env == "pong":
        protocol.update({"repeat_action_probability": 0.0, "frame_skip": 4, "peer_env_id": ZOO_A2C_ATARI["env_id"]})
    return protocol


def _thin(rows: list[dict], points: int = 500) -> list[dict]:
    """Per-seed rows with each curve cut to about ``points`` points (every k-th episode)."""
    out = []
    for r in rows:
        curve = r.get("curve") or []
        out.append({**r, "curve": curve[:: max(1, len(curve) // points)]} if curve else r)
    return out


def write_results(by_task: Results, tasks: dict[str, Task], command: str, directory: Path, quick: bool) -> list[Path]:
    """One result file per task (scripts/results.py's envelope), both sides' curves included."""
    written = []
    for name, sides in by_task.items():
        task = tasks[name]
        peer = {"name": task.peer, "settings": task.peer_settings, "seeds": _thin(sides["peer"])}
        kind = "budget" if task.fixed_budget else "solve"
        notes = "quick: tiny budgets that check both sides run; no claim" if quick else None
        rec = result_files.record(name, task.title, kind, command, _protocol(task), _thin(sides["pgtrain"]), peer=peer, notes=notes)
        written.append(result_files.write(rec, directory))
    return written


def _median_range(values: list[float], spec: str) -> str:
    if not values:
        return "—"
    med = format(statistics.median(values), spec)
    return med if min(values) == max(values) else f"{med} ({format(min(values), spec)}–{format(max(values), spec)})"


def _ratio(num: list[float], den: list[float]) -> str:
    """The ratio of the medians, num/den; "—" without figures or unless den's median is positive (a ratio of
    negative returns says nothing)."""
    if not num or not den or statistics.median(den) <= 0:
        return "—"
    return f"{statistics.median(num) / statistics.median(den):.2f}×"


Results = dict[str, dict[str, list[dict]]]  # task -> side ("pgtrain", "peer") -> per-seed results


def _figures(rows: list[dict]) -> dict[str, list[float]]:
    """One side's per-seed figures: to the threshold (over the seeds that reached it), of the whole loop, at the end."""
    ok = [r for r in rows if not r.get("failed")]
    solved = [r["solved"] for r in ok if r["solved"]]
    return {
        "solved_wall": [s["wall_time_s"] for s in solved],
        "solved_steps": [s["env_steps"] for s in solved],
        "steps": [r["env_steps"] for r in ok],
        "wall": [r["wall_time_s"] for r in ok],
        "sps": [r["steps_per_second"] for r in ok],
        "return": [r["final_return"] for r in ok if r["final_return"] is not None],
    }


def _side_label(task: Task, side: str) -> tuple[str, str, str]:
    """(task title on the first side's row, side, settings)."""
    if side == "pgtrain":
        return task.title, "pgtrain", "its defaults" + "".join(f" + `{o}`" for o in task.overrides)
    return "", task.peer, task.peer_settings


def threshold_table(results: Results, tasks: dict[str, Task]) -> str:
    """Tasks with a threshold: solved seeds, wall seconds and env steps to it, env steps/s; ratios peer/pgtrain."""
    lines = [
        "| task | side | settings | solved | wall s to threshold | env steps to threshold | env steps/s |",
        "|---|---|---|:---:|---:|---:|---:|",
    ]
    for name, sides in results.items():
        task = tasks[name]
        if task.fixed_budget:
            continue
        f = {side: _figures(sides[side]) for side in ("pgtrain", "peer")}
        for side in ("pgtrain", "peer"):
            title, label, settings = _side_label(task, side)
            solved_col = f"{len(f[side]['solved_wall'])}/{len(sides[side])}"  # a failed run counts as not solved
            lines.append(
                f"| {title} | {label} | {settings} | {solved_col} | {_median_range(f[side]['solved_wall'], '.1f')} | "
                f"{_median_range(f[side]['solved_steps'], ',.0f')} | {_median_range(f[side]['sps'], ',.0f')} |"
            )
        p, o = f["peer"], f["pgtrain"]
        lines.append(
            f"| | **ratio peer/pgtrain** | | | {_ratio(p['solved_wall'], o['solved_wall'])} | "
            f"{_ratio(p['solved_steps'], o['solved_steps'])} | {_ratio(p['sps'], o['sps'])} |"
        )
    return "\n".join(lines)


def budget_table(results: Results, tasks: dict[str, Task]) -> str:
    """Fixed-budget tasks: env steps run, wall seconds, env steps/s, the return at the end; ratios peer/pgtrain of the
    times and pgtrain/peer of the return."""
    lines = [
        "| task | side | settings | env steps | wall s | env steps/s | return at the end |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for name, sides in results.items():
        task = tasks[name]
        if not task.fixed_budget:
            continue
        f = {side: _figures(sides[side]) for side in ("pgtrain", "peer")}
        for side in ("pgtrain", "peer"):
            title, label, settings = _side_label(task, side)
            lines.append(
                f"| {title} | {label} | {settings} | {_median_range(f[side]['steps'], ',.0f')} | "
                f"{_median_range(f[side]['wall'], '.1f')} | {_median_range(f[side]['sps'], ',.0f')} | "
                f"{_median_range(f[side]['return'], ',.1f')} |"
            )
        p, o = f["peer"], f["pgtrain"]
        lines.append(f"| | **ratio peer/pgtrain** | | | {_ratio(p['wall'], o['wall'])} | {_ratio(p['sps'], o['sps'])} | |")
        lines.append(f"| | **ratio pgtrain/peer** | | | | | {_ratio(o['return'], p['return'])} |")
    return "\n".join(lines)


def per_seed_table(results: Results, tasks: dict[str, Task]) -> str:
    lines = [
        "| task | side | seed | solved at env step | solved at wall s | env steps run | loop wall s | env steps/s | process wall s "
        "| final return |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, sides in results.items():
        task = tasks[name]
        for side in ("pgtrain", "peer"):
            for r in sides[side]:
                who = "pgtrain" if side == "pgtrain" else task.peer
                if r.get("failed"):
                    lines.append(f"| {name} | {who} | {r['seed']} | failed: {r['failed'].splitlines()[0]} | | | | | | |")
                    continue
                s = r["solved"] or {}
                solved_steps = f"{s['env_steps']:,}" if s else "—"
                solved_wall = f"{s['wall_time_s']:.1f}" if s else "—"
                final = "—" if r["final_return"] is None else f"{r['final_return']:.1f}"
                lines.append(
                    f"| {name} | {who} | {r['seed']} | {solved_steps} | {solved_wall} | "
                    f"{r['env_steps']:,} | {r['wall_time_s']:.1f} | {r['steps_per_second']:,.0f} | {r['process_wall_s']:.1f} | {final} |"
                )
    return "\n".join(lines)


def plot(results: Results, tasks: dict[str, Task], path: Path, quick: bool) -> None:
    """Per task: the running mean of training returns against wall seconds, both sides (the threshold dashed, where
    there is one); a task without a window (Pong): median env steps/s as bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from pgtrain.curves import running_mean

    names = list(results)
    fig, axes = plt.subplots(1, len(names), figsize=(5.2 * len(names), 4.2), squeeze=False)
    colors = {"pgtrain": "tab:blue", "peer": "tab:orange"}
    for ax, name in zip(axes[0], names, strict=True):
        task = tasks[name]
        budget = f"\n{task.max_steps:,} env steps each" if task.fixed_budget else ""
        if task.window is None:
            labels = ["pgtrain", task.peer]
            sps = [[r["steps_per_second"] for r in results[name][side] if not r.get("failed")] for side in ("pgtrain", "peer")]
            ax.bar(labels, [statistics.median(v) if v else 0.0 for v in sps], color=[colors["pgtrain"], colors["peer"]])
            for i, v in enumerate(sps):
                ax.plot([i] * len(v), v, "k.", ms=4)
            ax.set_ylabel("training env steps / s")
            ax.set_title(task.title + budget)
            continue
        for side in ("pgtrain", "peer"):
            label = "pgtrain" if side == "pgtrain" else task.peer
            for i, r in enumerate(results[name][side]):
                if not r.get("curve"):
                    continue
                c = np.asarray(r["curve"], dtype=float)
                ax.plot(c[:, 0], running_mean(c[:, 2], task.window), color=colors[side], lw=1.2, alpha=0.8,
                        label=label if i == 0 else None)  # fmt: skip
                if r["solved"]:
                    ax.plot(r["solved"]["wall_time_s"], task.threshold, "o", color=colors[side], ms=4)
        if task.threshold is not None:
            ax.axhline(task.threshold, color="grey", ls="--", lw=0.8)
        ax.set_xlabel("wall-clock seconds of training")
        ax.set_ylabel(f"mean return of the last {task.window} training episodes")
        ax.set_title(task.title + budget)
        ax.legend(loc="lower right", fontsize=8)
        ax.grid(alpha=0.3)
    if quick:
        fig.suptitle("--quick: tiny budgets, checks that the benchmark runs; no threshold claims", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _protocol_notes(tasks: list[Task]) -> list[str]:
    """What the thresholds, the fixed budgets and the caps were, for the report under the tables."""
    notes = []
    solve = [t for t in tasks if not t.fixed_budget]
    if solve:
        notes.append("Threshold: " + "; ".join(f"{t.title}: mean return of the last {t.window} training episodes ≥ {t.threshold:g}"
                                               for t in solve) + ", counted the same way on both sides (episodes as they")  # fmt: skip
        notes.append("finish in training, env steps summed over parallel envs).")
    budget = [t for t in tasks if t.fixed_budget]
    if budget:
        notes.append("Fixed budgets (no threshold; both sides run the same env steps): " + "; ".join(
            f"{t.title}: {t.max_steps:,} env steps, return at the end = the mean return of the last {t.window or 100} "
            "finished training episodes" for t in budget) + ".")  # fmt: skip
    notes.append("Caps on each side: " + ", ".join(f"{t.name} {t.max_steps:,} env steps / {t.max_wall_s:.0f} s" for t in tasks) + ".")
    notes.append("Both sides run on the CPU with one torch thread (Pong: two); pgtrain and the peer alternate seed by seed.")
    return notes


def write_report(results: Results, tasks: dict[str, Task], args: argparse.Namespace, command: str, out: Path,
                 total_s: float) -> None:  # fmt: skip
    machine = machine_description()
    md = [
        "# pgtrain beside Stable-Baselines3 and Tianshou",
        "",
        f"Command: `{command}` (total {total_s / 60:.1f} minutes).",
        "",
        "Machine: " + "; ".join(f"{k}: {v}" for k, v in machine.items()) + ".",
        "",
    ]
    if args.quick:
        md += ["**Quick mode**: tiny budgets and one seed, to check that both sides run; these figures support no claim.", ""]
    md += [
        "Medians over seeds (min–max). Wall seconds and env steps to the threshold are over the seeds that reached it; the",
        "other figures are over every seed (env steps/s: env steps of the training loop / its wall seconds). Ratio",
        "peer/pgtrain of the medians: above 1 means the peer took longer (wall s, env steps) or ran faster (env steps/s);",
        "ratio pgtrain/peer of the return at the end: above 1 means pgtrain's is higher (— unless the peer's is positive).",
        "",
    ]
    run = [tasks[n] for n in results]
    if any(not t.fixed_budget for t in run):
        md += [threshold_table(results, tasks), ""]
    if any(t.fixed_budget for t in run):
        md += [budget_table(results, tasks), ""]
    md += [
        *_protocol_notes(run),
        "",
        f"![return against wall-clock time]({out.name}.png)",
        "",
        "## Per seed",
        "",
        "Final return: the mean return of the last `window` finished training episodes (the task's window; 100 without one).",
        "",
        per_seed_table(results, tasks),
        "",
    ]
    out.with_suffix(".md").write_text("\n".join(md))
    slim = {n: {side: [{k: v for k, v in r.items() if k != "curve"} for r in rows] for side, rows in sides.items()}
            for n, sides in results.items()}  # fmt: skip
    caps = {t.name: {"env_steps": t.max_steps, "wall_s": t.max_wall_s, "fixed_budget": t.fixed_budget} for t in run}
    report = {"command": command, "machine": machine, "caps": caps, "results": slim}
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    plot(results, tasks, out.with_suffix(".png"), args.quick)


# ----------------------------------------------------------------------------------------------------------------------


def check_peers_installed(tasks: list[str]) -> None:
    need = {"stable_baselines3"} if any(t != "cartpole-reinforce" for t in tasks) else set()
    if "cartpole-reinforce" in tasks:
        need.add("tianshou")
    import importlib.util

    missing = sorted(m for m in need if importlib.util.find_spec(m) is None)
    if missing:
        raise SystemExit(f"bench_peers: error: {', '.join(missing)} not installed; install the group: pip install -e '.[bench]'")


def resolve(name: str, args: argparse.Namespace) -> Task:
    """Task ``name`` with this invocation's caps: ``--steps`` or else its quick or full step cap (budget), ``--max-wall-s``
    or else its own wall cap."""
    task = TASKS[name]
    steps = args.steps if args.steps is not None else (task.quick_steps if args.quick else task.max_steps)
    overrides = task.overrides
    if args.quick and task.algo in ("ddpg", "td3", "sac"):  # a budget below algo.learning_starts is refused: learn from 3/4 of it
        overrides += (f"algo.learning_starts={steps * 3 // 4}",)
    return replace(task, max_steps=steps, max_wall_s=task.max_wall_s if args.max_wall_s is None else args.max_wall_s, overrides=overrides)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    long = " ".join(n for n, t in TASKS.items() if not t.default)
    parser.add_argument("--tasks", nargs="+", choices=list(TASKS), default=None,
                        help=f"default: every task but the long ones ({long}); --quick: every task")  # fmt: skip
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="default 0 1 2 3 4 (--quick: 0)")
    parser.add_argument("--quick", action="store_true", help="tiny budgets (CI): checks that both sides run, no threshold claims")
    parser.add_argument("--steps", type=int, default=None,
                        help="env steps of each task instead of its own: a fixed budget's budget, the others' cap")  # fmt: skip
    parser.add_argument("--max-wall-s", type=float, default=None, help="wall cap of each side's training loop instead of each task's")
    parser.add_argument("--out", type=Path, default=None, help="report stem: writes STEM.md, STEM.png, STEM.json")
    parser.add_argument("--results", type=Path, default=None,
                        help="folder of the result files (default benchmarks/results/; --quick: the folder of --out)")  # fmt: skip
    parser.add_argument("--peer", choices=list(TASKS), help=argparse.SUPPRESS)  # internal: run one peer in this process
    parser.add_argument("--peer-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if (args.steps is not None and args.steps <= 0) or (args.max_wall_s is not None and not args.max_wall_s > 0):
        raise SystemExit("bench_peers: error: --steps and --max-wall-s must be positive")
    if args.peer:
        peer_main(resolve(args.peer, args), args.seeds[0], args.peer_out)
        return

    names = args.tasks or [n for n, t in TASKS.items() if t.default or args.quick]
    check_peers_installed(names)
    tasks = {name: resolve(name, args) for name in names}
    seeds = args.seeds if args.seeds is not None else ([0] if args.quick else [0, 1, 2, 3, 4])
    out = args.out or (ROOT / ("runs/bench_peers_quick" if args.quick else "runs/bench_peers"))
    out = out.with_suffix("") if out.suffix in (".md", ".png", ".json") else out
    out.parent.mkdir(parents=True, exist_ok=True)
    command = "python scripts/bench_peers.py" + (" --quick" if args.quick else "")
    command += "" if args.tasks is None else " --tasks " + " ".join(args.tasks)
    command += "" if args.seeds is None else " --seeds " + " ".join(map(str, seeds))
    command += "" if args.steps is None else f" --steps {args.steps}"
    command += "" if args.max_wall_s is None else f" --max-wall-s {args.max_wall_s:g}"

    t_all = time.perf_counter()
    results: Results = {}
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench_peers_") as tmp:
        for name, task in tasks.items():
            results[name] = {"pgtrain": [], "peer": []}
            for i, seed in enumerate(seeds):
                # alternate which side goes first, so a slow drift of the machine does not favour one side
                order = ("pgtrain", "peer") if i % 2 == 0 else ("peer", "pgtrain")
                for side in order:
                    runner = run_pgtrain if side == "pgtrain" else run_peer
                    who = "pgtrain" if side == "pgtrain" else task.peer
                    try:
                        r = runner(task, seed, task.max_steps, Path(tmp))
                    except RunFailed as ex:  # keep going: the report lists it
                        failures.append(str(ex))
                        results[name][side].append({"seed": seed, "failed": str(ex)})
                        print(f"{name} seed {seed} {who}: FAILED\n{ex}", file=sys.stderr, flush=True)
                        continue
                    r["seed"] = seed
                    results[name][side].append(r)
                    solved = r["solved"]
                    what = (f"solved at {solved['env_steps']:,} steps, {solved['wall_time_s']:.1f} s" if solved
                            else f"{r['env_steps']:,} steps in {r['wall_time_s']:.1f} s")  # fmt: skip
                    print(f"{name} seed {seed} {who}: {what}, {r['steps_per_second']:,.0f} steps/s", file=sys.stderr, flush=True)
    write_report(results, tasks, args, command, out, time.perf_counter() - t_all)
    print(f"wrote {out}.md, {out}.png, {out}.json")
    for path in write_results(
        results, tasks, command, args.results or (out.parent if args.quick else result_files.RESULTS_DIR), args.quick
    ):
        print(f"wrote {path}")
    if failures:
        raise SystemExit(f"bench_peers: error: {len(failures)} run(s) failed; the per-seed table lists them")


if __name__ == "__main__":
    main()
