"""TD3 and SAC: their maths (smoothed target action, clipped double-Q and soft targets, the squashed log-probability)
against hand-computed numbers, the twin critic, delayed updates, the temperature, state dicts, CLI runs, refusals,
and learning Pendulum."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch.distributions import AffineTransform, Independent, Normal, TanhTransform, TransformedDistribution

from pgtrain import checkpoint
from pgtrain.algos import algo_class, registry
from pgtrain.algos.sac import SAC, SACConfig, soft_q_target
from pgtrain.algos.td3 import TD3, TD3Config, clipped_double_q_target, smoothed_target_action
from pgtrain.buffers import ReplayBuffer
from pgtrain.curves import load_curve
from pgtrain.nets import SquashedGaussianActor, TwinQCritic, squashed_log_prob
from tests.conftest import read_summary, run_cli

OBS = gym.spaces.Box(-np.inf, np.inf, (3,), np.float32)
ACT = gym.spaces.Box(-2.0, 2.0, (1,), np.float32)
ACT2 = gym.spaces.Box(np.array([-1.0, 0.0], np.float32), np.array([1.0, 4.0], np.float32))


def _buffer(n: int = 300) -> ReplayBuffer:
    rng = np.random.default_rng(0)
    buf = ReplayBuffer(1000, (3,), (1,))
    f = np.float32
    buf.add(rng.normal(size=(n, 3)).astype(f), rng.uniform(-2, 2, (n, 1)).astype(f), rng.normal(size=n).astype(f),
            rng.normal(size=(n, 3)).astype(f), (rng.random(n) < 0.1).astype(f))  # fmt: skip
    return buf


def _td3(**kw) -> TD3:
    torch.manual_seed(0)
    return TD3(OBS, ACT, TD3Config(**{"hidden_sizes": [16, 16], "batch_size": 32, **kw}), torch.device("cpu"))


def _sac(**kw) -> SAC:
    torch.manual_seed(0)
    return SAC(OBS, ACT, SACConfig(**{"hidden_sizes": [16, 16], "batch_size": 32, **kw}), torch.device("cpu"))


# ----------------------------------------------------------------------------------------------------------------------
# The maths


def test_smoothed_target_action_hand_numbers():
    # noise clipped to +-0.5: [0.5, -0.3]; mu + noise = [1.0, -2.2]; the action box [-2, 2] clips the second
    mu, noise = torch.tensor([0.5, -1.9]), torch.tensor([0.8, -0.3])
    c, low, high = torch.tensor([0.5, 0.5]), torch.tensor([-2.0, -2.0]), torch.tensor([2.0, 2.0])
    assert smoothed_target_action(mu, noise, c, low, high).tolist() == pytest.approx([1.0, -2.0])


def test_clipped_double_q_target_hand_numbers():
    # min(Q1, Q2) = [2, 4]; y = r + 0.5 (1 - d) min: [1 + 1, 1 + 0] (the second terminated)
    y = clipped_double_q_target(torch.ones(2), torch.tensor([2.0, 5.0]), torch.tensor([3.0, 4.0]), torch.tensor([0.0, 1.0]), 0.5)
    assert y.tolist() == pytest.approx([2.0, 1.0])


def test_soft_q_target_hand_numbers():
    # min(Q1, Q2) - 0.2 log pi = [2 + 0.2, 4 - 0.1] = [2.2, 3.9]; y = 1 + 0.5 [2.2, 3.9] = [2.1, 2.95]
    q1, q2, logp = torch.tensor([2.0, 5.0]), torch.tensor([3.0, 4.0]), torch.tensor([-1.0, 0.5])
    assert soft_q_target(torch.ones(2), q1, q2, logp, 0.2, torch.zeros(2), 0.5).tolist() == pytest.approx([2.1, 2.95])
    assert soft_q_target(torch.ones(2), q1, q2, logp, 0.2, torch.ones(2), 0.5).tolist() == pytest.approx([1.0, 1.0])


def test_squashed_log_prob_hand_numbers():
    # u = 0: tanh' = 1, so only log h is subtracted; u = 1: 1 - tanh(1)^2 = 0.4199743, log = -0.8675618
    lp = torch.tensor([-1.0, -1.0])
    u = torch.tensor([[0.0], [1.0]])
    assert squashed_log_prob(lp, u, torch.tensor([2.0])).tolist() == pytest.approx([-1.0 - math.log(2.0), -1.0 + 0.8675618 - math.log(2.0)])
    # far in tanh's flat tail the naive log(1 - tanh(u)^2) is log(0); the stable form stays finite
    assert torch.isfinite(squashed_log_prob(torch.zeros(1), torch.tensor([[30.0]]), torch.tensor([1.0]))).all()


def test_squashed_actor_log_prob_is_torchs_tanh_transformed_normal():
    torch.manual_seed(0)
    actor = SquashedGaussianActor(OBS, ACT2, [8], "relu")
    obs = torch.randn(6, 3)
    actions, log_prob = actor.sample(obs)
    assert ((actions >= torch.tensor([-1.0, 0.0])) & (actions <= torch.tensor([1.0, 4.0]))).all()
    mean, log_std = actor(obs)
    dist = TransformedDistribution(Normal(mean, log_std.exp()), [TanhTransform(), AffineTransform(actor.center, actor.half_width)])
    assert torch.allclose(log_prob, Independent(dist, 1).log_prob(actions), atol=1e-4)


def test_twin_critic_is_two_independent_mlps():
    torch.manual_seed(0)
    critic = TwinQCritic(OBS, ACT, [5, 4], "relu")
    obs, act = torch.randn(7, 3), torch.randn(7, 1)
    q = critic(obs, act)
    assert q.shape == (2, 7)
    for i in range(2):
        x = torch.cat([obs, act], -1)
        for k, (w, b) in enumerate(zip(critic.weights, critic.biases, strict=True)):
            x = x @ w[i] + b[i]
            x = torch.relu(x) if k < 2 else x
        assert torch.allclose(q[i], x.squeeze(-1), atol=1e-6)
    assert not torch.allclose(q[0], q[1])  # independently initialised


# ----------------------------------------------------------------------------------------------------------------------
# The algorithms


def test_td3_updates_the_actor_and_targets_every_policy_delay_steps():
    algo = _td3(policy_delay=2)
    buf = _buffer()
    snapshots = []
    for _ in range(4):
        algo.update(buf)
        snapshots.append((algo.actor.net[0].weight.detach().clone(), algo.actor_target.net[0].weight.detach().clone()))
    changed = [not torch.equal(a[0], b[0]) for a, b in zip(snapshots, snapshots[1:], strict=False)]
    assert changed == [False, True, False]  # steps 0 and 2 update the actor; steps 1 and 3 only the critics
    target_changed = [not torch.equal(a[1], b[1]) for a, b in zip(snapshots, snapshots[1:], strict=False)]
    assert target_changed == [False, True, False]
    assert algo.updates == 4


def test_td3_critic_target_uses_the_smaller_twin_and_smoothing_within_bounds():
    algo = _td3(target_noise=0.2, target_noise_clip=0.5)
    b = _buffer().sample(32)
    obs, _, rewards, next_obs, terminated = algo.batch_tensors(b)
    torch.manual_seed(5)
    y = algo.critic_targets(rewards, next_obs, terminated)
    torch.manual_seed(5)
    mu = algo.actor_target(next_obs)
    noise = (torch.randn_like(mu) * 0.4).clamp(-1.0, 1.0)  # 0.2 and 0.5 of the half-width 2
    q = algo.critic_target(next_obs, (mu + noise).clamp(-2.0, 2.0))
    assert torch.allclose(y, rewards + 0.99 * (1 - terminated) * q.min(0).values, atol=1e-6)


@pytest.mark.parametrize("autotune", [True, False])
def test_sac_temperature_moves_only_when_autotuned(autotune):
    algo = _sac(autotune=autotune, alpha=0.5)
    assert algo.target_entropy == -1.0
    for _ in range(3):
        metrics = algo.update(_buffer())
    alpha = algo.temperature().item()
    assert (alpha != pytest.approx(0.5)) == autotune
    assert metrics["policy/alpha"] > 0 and math.isfinite(metrics["loss/actor"])
    assert SAC(OBS, ACT2, SACConfig(hidden_sizes=[4]), torch.device("cpu")).target_entropy == -2.0


def test_sac_act_is_bounded_and_deterministic_without_exploration():
    algo = _sac()
    obs = np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)
    a = algo.act(obs, explore=True)
    assert a.shape == (50, 1) and a.dtype == np.float32 and np.all(np.abs(a) <= 2.0)
    np.testing.assert_array_equal(algo.act(obs, explore=False), algo.act(obs, explore=False))


@pytest.mark.parametrize("make", [_td3, _sac], ids=["td3", "sac"])
def test_state_dict_round_trip(make, tmp_path):
    algo = make()
    buf = _buffer()
    for _ in range(3):
        algo.update(buf)
    checkpoint.save(tmp_path / "a.pt", {"algo_state": algo.state_dict()})
    torch.manual_seed(1)
    clone = type(algo)(OBS, ACT, algo.cfg, torch.device("cpu"))
    clone.load_state_dict(checkpoint.load(tmp_path / "a.pt")["algo_state"])
    assert clone.updates == 3
    obs = np.random.default_rng(2).normal(size=(5, 3)).astype(np.float32)
    np.testing.assert_array_equal(clone.act(obs, explore=False), algo.act(obs, explore=False))
    np.random.seed(4)
    torch.manual_seed(4)
    m1 = algo.update(buf)
    np.random.seed(4)
    torch.manual_seed(4)
    m2 = clone.update(buf)
    assert m1 == pytest.approx(m2)


def test_nonfinite_parameters_are_named():
    algo = _sac()
    assert algo.nonfinite_parameters() == []
    with torch.no_grad():
        algo.critic_target.biases[1].fill_(float("nan"))
    assert algo.nonfinite_parameters() == ["critic_target.biases.1"]


def test_registered_for_continuous_actions_only():
    assert algo_class("td3") is TD3 and algo_class("sac") is SAC
    assert registry()["td3"].action_types == registry()["sac"].action_types == {"continuous"}
    assert TD3.collector == SAC.collector == "replay"


# ----------------------------------------------------------------------------------------------------------------------
# The command line


@pytest.fixture(scope="module")
def smoke_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A finished 400-step Pendulum run of each algorithm, never modified: tests copy it."""
    root = tmp_path_factory.mktemp("smoke")
    runs = {}
    for algo in ("td3", "sac"):
        runs[algo] = root / algo
        res = run_cli(
            f"algo={algo}",
            "env=pendulum",
            "total_steps=400",
            "algo.num_envs=1",
            "algo.learning_starts=200",
            "algo.batch_size=64",
            "algo.hidden_sizes=[32,32]",
            f"hydra.run.dir={runs[algo]}",
            cwd=root,
        )
        assert res.returncode == 0, res.stderr
    return runs


@pytest.mark.parametrize("algo", ["td3", "sac"])
def test_cli_smoke_with_resume(cli, smoke_runs: dict[str, Path], tmp_path: Path, algo: str):
    run = tmp_path / "run"
    shutil.copytree(smoke_runs[algo], run)
    s = read_summary(run)
    assert (s["algo"], s["env"], s["env_steps"], s["episodes"]) == (algo, "pendulum", 400, 2)
    # one env: a gradient step per vector step once the buffer holds 200 (steps 200-400, and the autoreset step at 201)
    assert s["updates"] == 202
    for tag in ("loss/critic", "loss/actor", "value/q_mean"):
        assert len(load_curve(run, tag).values) >= 1, tag
    res = cli(f"resume={run}", "total_steps=600")
    assert res.returncode == 0, res.stderr
    assert read_summary(run)["env_steps"] == 600


@pytest.mark.parametrize("algo", ["td3", "sac"])
def test_discrete_actions_are_refused_in_one_line(cli, tmp_path: Path, algo: str):
    run = tmp_path / "run"
    res = cli(f"algo={algo}", "env=cartpole", f"hydra.run.dir={run}")
    assert res.returncode == 2
    assert (
        res.stderr.strip()
        == f"pgtrain: error: algo={algo} needs continuous actions, but env=cartpole has discrete actions; pick another algo or env"
    )
    assert not run.exists()


@pytest.mark.parametrize("bad", ["algo.policy_delay=0", "algo.target_noise=-1", "algo.tau=0", "algo.network=cnn"])
def test_bad_td3_options_are_one_line_errors(cli, tmp_path: Path, bad: str):
    res = cli("algo=td3", "env=pendulum", bad, f"hydra.run.dir={tmp_path / 'run'}")
    assert res.returncode == 2 and res.stderr.startswith("pgtrain: error:") and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("bad", ["algo.alpha=0", "algo.log_std_min=3", "algo.noise_std=0.1", "env.pipeline_groups=2"])
def test_bad_sac_options_are_one_line_errors(cli, tmp_path: Path, bad: str):
    res = cli("algo=sac", "env=pendulum", bad, f"hydra.run.dir={tmp_path / 'run'}")
    assert res.returncode == 2 and res.stderr.startswith("pgtrain: error:") and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert not (tmp_path / "run").exists()


def test_a_checkpoint_of_another_algorithm_is_refused(cli, smoke_runs: dict[str, Path], tmp_path: Path):
    run = tmp_path / "td3"
    shutil.copytree(smoke_runs["td3"], run)
    shutil.copy(smoke_runs["sac"] / "checkpoints" / "last.pt", run / "checkpoints" / "last.pt")
    res = cli(f"resume={run}", "total_steps=600")
    assert res.returncode == 2 and res.stderr.count("\n") == 1, res.stderr
    assert "written by algo=sac env=pendulum" in res.stderr
