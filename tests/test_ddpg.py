"""DDPG: Polyak averaging, critic targets (terminated vs truncated), the replay buffer and collector, checkpoints,
the refusal of discrete-action envs, and learning Pendulum."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode, SyncVectorEnv
from gymnasium.wrappers.vector import RecordEpisodeStatistics
from torch import nn

from pgtrain.algos.ddpg import DDPG, DDPGConfig
from pgtrain.algos.offpolicy import polyak_update
from pgtrain.buffers import ReplayBuffer
from pgtrain.collectors import ReplayCollector
from pgtrain.curves import load_curve
from tests.conftest import read_summary

PENDULUM_OBS = gym.spaces.Box(-8.0, 8.0, (3,), np.float32)
PENDULUM_ACT = gym.spaces.Box(-2.0, 2.0, (1,), np.float32)


def make_ddpg(obs_space: gym.Space = PENDULUM_OBS, action_space: gym.Space = PENDULUM_ACT, seed: int = 0, **kwargs) -> DDPG:
    torch.manual_seed(seed)
    return DDPG(obs_space, action_space, DDPGConfig(**kwargs), torch.device("cpu"))


# ----------------------------------------------------------------------------------------------------------------------
# Maths


def test_polyak_update_hand_numbers():
    target, source = nn.Linear(2, 1), nn.Linear(2, 1)
    with torch.no_grad():
        target.weight.copy_(torch.tensor([[1.0, -2.0]]))
        target.bias.fill_(0.5)
        source.weight.copy_(torch.tensor([[3.0, 2.0]]))
        source.bias.fill_(-1.5)
    polyak_update(target, source, tau=0.1)
    # 0.1 * 3 + 0.9 * 1 = 1.2; 0.1 * 2 + 0.9 * (-2) = -1.6; 0.1 * (-1.5) + 0.9 * 0.5 = 0.3
    torch.testing.assert_close(target.weight, torch.tensor([[1.2, -1.6]]))
    torch.testing.assert_close(target.bias, torch.tensor([0.3]))
    torch.testing.assert_close(source.weight, torch.tensor([[3.0, 2.0]]))  # the source is untouched
    polyak_update(target, source, tau=1.0)  # tau = 1 is a hard copy
    torch.testing.assert_close(target.weight, source.weight)


def test_ddpg_update_moves_targets_by_tau():
    algo = make_ddpg(tau=0.25, batch_size=4, gradient_steps=1)
    buf = ReplayBuffer(10, (3,), (1,))
    buf.add(np.ones((4, 3), np.float32), np.zeros((4, 1), np.float32), np.ones(4, np.float32), np.ones((4, 3), np.float32), np.zeros(4))
    before = [p.clone() for p in algo.critic_target.parameters()]
    metrics = algo.update(buf)
    assert set(metrics) == {"loss/critic", "loss/actor", "value/q_mean"} and algo.updates == 1
    for old, new, online in zip(before, algo.critic_target.parameters(), algo.critic.parameters(), strict=True):
        torch.testing.assert_close(new, 0.75 * old + 0.25 * online)


class CountingEnv(gym.Env):
    """obs = the step count t; reward = t + 1; terminated at t = 3 when ``terminates``, else cut at t = 3 by a TimeLimit."""

    observation_space = gym.spaces.Box(-10.0, 10.0, (1,), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def __init__(self, terminates: bool) -> None:
        self.terminates = terminates

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.array([0.0], np.float32), {}

    def step(self, action):
        self.t += 1
        return np.array([self.t], np.float32), float(self.t), self.terminates and self.t == 3, False, {}


def counting_envs(terminates: bool) -> RecordEpisodeStatistics:
    make = lambda: gym.wrappers.TimeLimit(CountingEnv(terminates), max_episode_steps=3)
    return RecordEpisodeStatistics(SyncVectorEnv([make], autoreset_mode=AutoresetMode.NEXT_STEP))


@pytest.mark.parametrize("terminates", [True, False])
def test_collector_stores_true_final_obs_and_only_terminated_as_done(terminates):
    cfg = DDPGConfig(learning_starts=0, batch_size=1, buffer_size=100)
    collector = ReplayCollector(counting_envs(terminates), seed=0, cfg=cfg)
    algo = make_ddpg(CountingEnv.observation_space, CountingEnv.action_space)
    for _ in range(9):  # episode, autoreset step, episode, autoreset step, the third episode's first step
        collector.collect(algo)
    buf = collector.buffer
    assert collector.env_steps == 7 and len(buf) == 7  # the autoreset step is neither counted nor stored
    np.testing.assert_array_equal(buf.obs[:7, 0], [0, 1, 2, 0, 1, 2, 0])
    np.testing.assert_array_equal(buf.next_obs[:7, 0], [1, 2, 3, 1, 2, 3, 1])  # s' = 3, the true final obs, not the reset's 0
    np.testing.assert_array_equal(buf.rewards[:7], [1, 2, 3, 1, 2, 3, 1])
    done = [0, 0, 1, 0, 0, 1, 0] if terminates else [0] * 7
    np.testing.assert_array_equal(buf.terminated[:7], done)


def test_collector_marks_the_episodes_that_took_random_warmup_actions():
    """3-step episodes, learning_starts=4: the first two episodes take random actions (the second's first step comes at
    env step 3), the third is the actor's alone."""
    cfg = DDPGConfig(learning_starts=4, batch_size=1, buffer_size=100)
    collector = ReplayCollector(counting_envs(True), seed=0, cfg=cfg)
    algo = make_ddpg(CountingEnv.observation_space, CountingEnv.action_space)
    for _ in range(11):  # three episodes and their autoreset steps
        collector.collect(algo)
    episodes = collector.pop_finished()
    assert [(e.env_step, e.warmup) for e in episodes] == [(3, True), (6, True), (9, False)]


def test_critic_target_zeroes_the_bootstrap_only_when_terminated():
    algo = make_ddpg(CountingEnv.observation_space, CountingEnv.action_space, gamma=0.9)
    y = {}
    for terminates in (True, False):
        collector = ReplayCollector(counting_envs(terminates), seed=0, cfg=DDPGConfig(learning_starts=0, batch_size=1))
        for _ in range(3):  # one whole episode; its last transition is (s=2, r=3, s'=3)
            collector.collect(algo)
        last = {name: torch.as_tensor(getattr(collector.buffer, name)[2:3]) for name in ("rewards", "next_obs", "terminated")}
        assert float(last["terminated"]) == float(terminates)
        y[terminates] = algo.critic_targets(last["rewards"], last["next_obs"], last["terminated"])
    with torch.no_grad():
        s_end = torch.tensor([[3.0]])
        q_next = algo.critic_target(s_end, algo.actor_target(s_end))
    assert abs(float(q_next)) > 1e-4  # the bootstrap term is really there to be dropped
    torch.testing.assert_close(y[True], torch.tensor([3.0]))  # terminated: y = r, no bootstrap
    torch.testing.assert_close(y[False], 3.0 + 0.9 * q_next)  # truncated by the time limit: y = r + gamma Q'(s', mu'(s'))


# ----------------------------------------------------------------------------------------------------------------------
# Replay buffer


def test_replay_buffer_wraps_around_and_keeps_the_newest():
    buf = ReplayBuffer(5, (2,), (1,))
    for start in (0, 3, 5):  # 3 + 2 + 2 = 7 transitions into 5 slots
        n = 3 if start == 0 else 2
        v = np.arange(start, start + n, dtype=np.float32)
        buf.add(np.stack([v, v], 1), v[:, None], v, np.stack([v, v], 1) + 1, np.zeros(n))
    assert len(buf) == 5 and buf.pos == 2
    np.testing.assert_array_equal(buf.rewards, [5, 6, 2, 3, 4])  # 0 and 1, the oldest, were overwritten
    state = buf.state_dict()
    np.testing.assert_array_equal(state["rewards"].numpy(), [2, 3, 4, 5, 6])  # oldest first
    smaller = ReplayBuffer(3, (2,), (1,))
    smaller.load_state_dict(state)
    np.testing.assert_array_equal(np.sort(smaller.rewards), [4, 5, 6])
    big = ReplayBuffer(10, (2,), (1,))
    big.load_state_dict(state)
    assert len(big) == 5
    np.testing.assert_array_equal(big.next_obs[:5, 0], [3, 4, 5, 6, 7])


def test_replay_buffer_samples_uniformly_from_stored_rows_only():
    buf = ReplayBuffer(100, (1,), (1,))
    v = np.arange(4, dtype=np.float32)
    buf.add(v[:, None], v[:, None], v, v[:, None], np.zeros(4))
    np.random.seed(0)
    batch = buf.sample(4000)
    assert batch.obs.shape == (4000, 1) and batch.actions.shape == (4000, 1) and batch.rewards.shape == (4000,)
    counts = np.bincount(batch.rewards.astype(int), minlength=4)
    assert counts.sum() == 4000 and len(counts) == 4  # never an empty slot
    assert counts.min() > 900 and counts.max() < 1100  # ~1000 each
    np.testing.assert_array_equal(batch.obs[:, 0], batch.rewards)  # rows stay together


# ----------------------------------------------------------------------------------------------------------------------
# Acting and state


def test_act_is_deterministic_without_exploration_and_within_bounds():
    algo = make_ddpg(noise_std=0.5)
    obs = np.random.default_rng(0).normal(size=(16, 3)).astype(np.float32)
    a = algo.act(obs, explore=False)
    assert a.shape == (16, 1) and a.dtype == np.float32
    np.testing.assert_array_equal(a, algo.act(obs, explore=False))
    noisy = algo.act(obs, explore=True)
    assert not np.allclose(noisy, a)
    assert noisy.min() >= -2.0 and noisy.max() <= 2.0


def test_ou_noise_is_correlated_and_resets_per_env():
    algo = make_ddpg(noise="ou", noise_std=0.2, ou_theta=0.15)
    obs = np.zeros((2, 3), np.float32)
    for _ in range(50):
        algo.act(obs, explore=True)
    state = algo.ou_state.copy()
    assert np.all(state != 0)
    algo.reset_noise(np.array([True, False]))
    assert algo.ou_state[0, 0] == 0 and algo.ou_state[1, 0] == state[1, 0]
    other = make_ddpg(noise="ou")
    other.load_state_dict(algo.state_dict())  # the running processes are part of the state
    np.testing.assert_array_equal(other.ou_state, algo.ou_state)


def test_nonfinite_parameters_are_named():
    algo = make_ddpg()
    assert algo.nonfinite_parameters() == []
    with torch.no_grad():
        algo.critic_target.net[2].bias[0] = float("nan")
    assert algo.nonfinite_parameters() == ["critic_target.net.2.bias"]


def test_state_dict_round_trip():
    algo = make_ddpg()
    buf = ReplayBuffer(10, (3,), (1,))
    buf.add(np.ones((4, 3), np.float32), np.zeros((4, 1), np.float32), np.ones(4, np.float32), np.ones((4, 3), np.float32), np.zeros(4))
    algo.update(buf)
    state = algo.state_dict()
    assert set(state) == {"actor", "critic", "actor_target", "critic_target", "actor_opt", "critic_opt", "updates"}
    other = make_ddpg(seed=1)
    obs = np.random.default_rng(1).normal(size=(5, 3)).astype(np.float32)
    assert not np.array_equal(other.act(obs, explore=False), algo.act(obs, explore=False))
    other.load_state_dict(state)
    np.testing.assert_array_equal(other.act(obs, explore=False), algo.act(obs, explore=False))
    assert other.updates == 1


# ----------------------------------------------------------------------------------------------------------------------
# CLI


SMALL = ["algo=ddpg", "env=pendulum", "algo.num_envs=1", "algo.learning_starts=100", "algo.batch_size=32", "eval_interval=0"]


@pytest.mark.parametrize("save_buffer", [False, True])
def test_checkpoint_holds_six_state_dicts_and_optionally_the_buffer(cli, tmp_path: Path, save_buffer: bool):
    run = tmp_path / "run"
    res = cli(*SMALL, "total_steps=300", f"algo.save_buffer={str(save_buffer).lower()}", f"hydra.run.dir={run}")
    assert res.returncode == 0, res.stderr
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert {"actor", "critic", "actor_target", "critic_target", "actor_opt", "critic_opt"} <= set(state["algo_state"])
    assert state["algo_state"]["critic_opt"]["state"]  # the optimisers have taken steps
    summary = read_summary(run)
    # one update per vector step from the 100th env step on, the autoreset step after the first 200-step episode included
    assert summary["env_steps"] == 300 and summary["updates"] == 300 - 100 + 1 + 1
    if save_buffer:
        assert state["collector_state"]["replay_buffer"]["size"] == 300
        assert state["collector_state"]["replay_buffer"]["obs"].shape == (300, 3)
    else:
        assert "replay_buffer" not in state["collector_state"]
    # resuming works either way; without the buffer, updates wait until it refills to learning_starts
    res = cli("resume=" + str(run), "total_steps=450")
    assert res.returncode == 0, res.stderr
    summary = read_summary(run)
    assert summary["env_steps"] == 450
    new_updates = summary["updates"] - (300 - 100 + 2)
    # the resumed episode continues and ends at env step 400: one more autoreset step, with an update
    assert new_updates == (150 if save_buffer else 150 - 100 + 1) + 1


def test_default_two_envs_smoke_run_logs_losses_and_evaluations(cli, tmp_path: Path):
    run = tmp_path / "run"
    args = ["total_steps=400", "algo.learning_starts=200", "eval_interval=400", "eval_episodes=2", f"hydra.run.dir={run}"]
    res = cli("algo=ddpg", "env=pendulum", *args)
    assert res.returncode == 0, res.stderr
    summary = read_summary(run)
    # two envs: 200 vector steps; the buffer holds 200 transitions after 100 of them, one update per vector step from there
    assert summary["env_steps"] == 400 and summary["episodes"] == 2 and summary["updates"] == 101
    assert summary["final_eval_return"] is not None
    for tag in ("loss/critic", "loss/actor", "value/q_mean", "eval/mean_return"):
        assert len(load_curve(run, tag).values) >= 1, tag


def test_final_return_leaves_out_the_random_warmup_episodes(cli, tmp_path: Path):
    """Two envs, 200-step episodes, learning_starts=1000: the episodes ending at env steps 400, 800 and 1200 (that one
    began at 800) took random actions; final_return is the mean of the four after them, the logged curve has all ten."""
    run = tmp_path / "run"
    res = cli("algo=ddpg", "env=pendulum", "total_steps=2000", "eval_interval=0", f"hydra.run.dir={run}")
    assert res.returncode == 0, res.stderr
    summary = read_summary(run)
    curve = load_curve(run)
    assert summary["episodes"] == 10 and list(curve.steps) == [400, 400, 800, 800, 1200, 1200, 1600, 1600, 2000, 2000]
    assert summary["final_return"] == pytest.approx(curve.values[6:].mean(), rel=1e-6)
    assert summary["final_return"] != pytest.approx(curve.values.mean(), rel=1e-3)


def test_final_return_is_null_when_only_warmup_episodes_finished(cli, tmp_path: Path):
    run = tmp_path / "run"
    res = cli("algo=ddpg", "env=pendulum", "total_steps=1200", "algo.gradient_steps=0", "eval_interval=0", f"hydra.run.dir={run}")
    assert res.returncode == 0, res.stderr
    summary = read_summary(run)
    assert summary["episodes"] == 6 and summary["final_return"] is None


@pytest.mark.parametrize("env", ["cartpole", "pong"])
def test_ddpg_refuses_discrete_actions_in_one_line_before_writing(cli, tmp_path: Path, env: str):
    run = tmp_path / "run"
    res = cli("algo=ddpg", f"env={env}", f"hydra.run.dir={run}")
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pgtrain: error: algo=ddpg needs continuous actions"), res.stderr
    assert "Traceback" not in res.stderr
    assert not run.exists() and not (tmp_path / "runs").exists()


@pytest.mark.parametrize("bad", ["algo.tau=0", "algo.tau=1.5", "algo.network=cnn", "algo.noise=pink"])
def test_bad_ddpg_options_are_one_line_errors(cli, tmp_path: Path, bad: str):
    res = cli("algo=ddpg", "env=pendulum", bad, f"hydra.run.dir={tmp_path / 'run'}")
    assert res.returncode == 2 and res.stderr.startswith("pgtrain: error:") and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert not (tmp_path / "run").exists()
