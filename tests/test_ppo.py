"""PPO: the clipped surrogate, value clipping, approximate KL and explained variance against hand-computed numbers;
epochs, minibatches, annealing and the KL stop; state dicts; CLI runs; learning CartPole."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from pgtrain import checkpoint
from pgtrain.algos import algo_class, registry
from pgtrain.algos.ppo import PPO, PPOConfig, approx_kl, clipped_surrogate_loss, clipped_value_loss
from pgtrain.curves import load_curve
from pgtrain.returns import explained_variance
from pgtrain.schedules import Factors
from tests.conftest import read_summary
from tests.test_a2c import CONTINUOUS, DISCRETE, OBS, _rollout


def _algo(action_space: gym.Space = DISCRETE, **kw) -> PPO:
    torch.manual_seed(0)
    return PPO(OBS, action_space, PPOConfig(**kw), torch.device("cpu"))


def test_clipped_surrogate_hand_numbers():
    # r A vs clip(r, 0.8, 1.2) A: min(0.5, 0.8) = 0.5; min(1.5, 1.2) = 1.2; min(-2, -2) = -2; min(-1.3, -1.2) = -1.3
    ratio = torch.tensor([0.5, 1.5, 1.0, 1.3])
    adv = torch.tensor([1.0, 1.0, -2.0, -1.0])
    assert clipped_surrogate_loss(ratio, adv, 0.2).item() == pytest.approx(-(0.5 + 1.2 - 2.0 - 1.3) / 4)


def test_clipped_value_loss_hand_numbers():
    values, old, targets = torch.tensor([1.0, 2.0, 1.0]), torch.tensor([0.0, 2.0, 0.0]), torch.tensor([0.5, 3.0, 2.0])
    # unclipped (V - y)^2: 0.25, 1, 1; clipped V = old + clip(V - old, +-0.2) = 0.2, 2, 0.2: (0.09, 1, 3.24); max: 0.25, 1, 3.24
    assert clipped_value_loss(values, old, targets, 0.2).item() == pytest.approx((0.25 + 1.0 + 3.24) / 3)
    assert clipped_value_loss(values, old, targets, None).item() == pytest.approx((0.25 + 1.0 + 1.0) / 3)


def test_approx_kl_hand_numbers():
    # (r - 1) - log r: 0 at r = 1; 2 - 1 - log 2 at r = 2
    assert approx_kl(torch.tensor([0.0, math.log(2.0)])).item() == pytest.approx((1.0 - math.log(2.0)) / 2)


def test_explained_variance_hand_numbers():
    # Var(y) = 14/9, Var(y - pred) = Var([0, 0, 1]) = 2/9: 1 - 1/7
    assert explained_variance(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 4.0])) == pytest.approx(6 / 7)
    assert explained_variance(np.zeros(3), np.ones(3)) == 0.0  # constant targets


def test_value_targets_are_the_lambda_return():
    algo = _algo(gamma=0.5, gae_lambda=0.5)
    batch = _rollout()
    v = np.ones((5, 2))
    adv, targets = algo.advantages(batch, v)
    np.testing.assert_allclose(targets, adv + 1.0)
    # the A2C test's hand numbers for gamma = lambda = 0.5, V = 1 (valid steps t = 0, 1, 3)
    np.testing.assert_allclose(adv[[0, 1, 3]].T.reshape(-1), [0.625, 0.5, 0.5, 0.5, 0.0, 1.5])


@pytest.mark.parametrize(("batch_size", "epochs", "steps"), [(6, 1, 1), (4, 3, 6), (1, 2, 12)])
def test_epochs_times_minibatches_of_the_valid_steps(batch_size, epochs, steps):
    """_rollout has 6 valid steps (2 autoreset steps are left out): ceil(6 / batch_size) minibatches per epoch."""
    algo = _algo(batch_size=batch_size, n_epochs=epochs)
    metrics = algo.update(_rollout())
    assert algo.updates == steps
    for tag in ("loss/policy", "loss/value", "policy/entropy", "policy/approx_kl", "policy/clip_fraction", "value/explained_variance"):
        assert math.isfinite(metrics[tag]), tag


def test_first_minibatch_step_is_at_ratio_one():
    """One full-batch step: the ratio is 1, so nothing is clipped, the KL is 0 and L^CLIP = -mean(A) = 0 (normalised A)."""
    metrics = _algo(batch_size=64, n_epochs=1).update(_rollout())
    assert metrics["policy/clip_fraction"] == 0.0
    assert metrics["policy/approx_kl"] == pytest.approx(0.0, abs=1e-7)
    assert metrics["loss/policy"] == pytest.approx(0.0, abs=1e-6)


def test_target_kl_stops_the_epochs():
    free = _algo(batch_size=2, n_epochs=10, lr=0.05)
    free.update(_rollout())
    stopped = _algo(batch_size=2, n_epochs=10, lr=0.05, target_kl=1e-9)
    stopped.update(_rollout())
    assert free.updates == 30 and stopped.updates == 3  # the first epoch's KL exceeds 1e-9: no second epoch


def _same_weights(a: PPO, b: PPO) -> bool:
    return all(torch.allclose(x, y) for x, y in zip(a.policy.parameters(), b.policy.parameters(), strict=True))


def test_the_lr_factor_sets_every_group_from_its_configured_rate():
    algo = _algo(lr=1e-3, value_lr=4e-3)
    algo.set_schedule(Factors(lr=0.75))
    algo.update(_rollout())
    assert [g["lr"] for g in algo.opt.param_groups] == pytest.approx([0.75e-3, 3e-3])
    assert [g["initial_lr"] for g in algo.opt.param_groups] == pytest.approx([1e-3, 4e-3])
    fixed = _algo(lr=1e-3)
    fixed.update(_rollout())  # no factors set: the configured rates
    assert fixed.opt.param_groups[0]["lr"] == 1e-3


@pytest.mark.parametrize("option", ["clip_range", "entropy_coef"])
def test_a_factor_enters_the_loss(option: str):
    """A factor of 0.25 on clip_range (0.4) or entropy_coef (0.4): several minibatch steps from the same weights equal
    steps with the option fixed at 0.1, and differ from steps at 0.4."""
    kw = {"batch_size": 2, "n_epochs": 2, "lr": 0.05, "clip_range": 0.4, "entropy_coef": 0.4}
    scheduled = _algo(**kw)
    scheduled.set_schedule(Factors(**{option: 0.25}))
    scheduled.update(_rollout())
    fixed = _algo(**{**kw, option: 0.1})
    fixed.update(_rollout())
    other = _algo(**kw)
    other.update(_rollout())
    assert _same_weights(scheduled, fixed) and not _same_weights(scheduled, other)


@pytest.mark.parametrize("action_space", [DISCRETE, CONTINUOUS], ids=["categorical", "gaussian"])
def test_state_dict_round_trip(action_space, tmp_path):
    algo = _algo(action_space, batch_size=4)
    batch = _rollout()
    if action_space is CONTINUOUS:
        batch.actions = np.random.default_rng(1).normal(size=(4, 2, 1)).astype(np.float32)
    algo.set_schedule(Factors(lr=0.5, clip_range=0.5))
    algo.update(batch)
    checkpoint.save(tmp_path / "a.pt", {"algo_state": algo.state_dict()})
    torch.manual_seed(1)
    clone = PPO(OBS, action_space, algo.cfg, torch.device("cpu"))
    clone.load_state_dict(checkpoint.load(tmp_path / "a.pt")["algo_state"])
    clone.set_schedule(algo.factors)  # the workspace sets them from the env-step counter before every update
    assert clone.updates == algo.updates
    obs = np.random.default_rng(2).normal(size=(5, 3)).astype(np.float32)
    np.testing.assert_array_equal(clone.act(obs, explore=False), algo.act(obs, explore=False))
    torch.manual_seed(3)
    m1 = algo.update(batch)
    torch.manual_seed(3)
    m2 = clone.update(batch)
    assert m1 == pytest.approx(m2)
    for (k, a), b in zip(algo.policy.state_dict().items(), clone.policy.state_dict().values(), strict=True):
        assert torch.equal(a, b), k


def test_ppo_is_registered_for_both_action_types():
    assert algo_class("ppo") is PPO and PPO.collector == "rollout"
    assert registry()["ppo"].action_types == {"discrete", "continuous"}


@pytest.mark.parametrize("env", ["cartpole", "pendulum"])
def test_cli_smoke_logs_the_ppo_tags(cli, tmp_path, env):
    run = tmp_path / "run"
    res = cli("algo=ppo", f"env={env}", "total_steps=1024", "algo.num_envs=2", "algo.n_steps=64", f"hydra.run.dir={run}")
    assert res.returncode == 0, res.stderr
    s = read_summary(run)
    assert (s["algo"], s["env"]) == ("ppo", env) and s["env_steps"] >= 1024
    assert s["updates"] > 0
    for tag in ("loss/policy", "loss/value", "policy/entropy", "policy/approx_kl", "policy/clip_fraction", "value/explained_variance"):
        assert len(load_curve(run, tag).values) >= 1, tag


@pytest.mark.parametrize("bad", ["algo.clip_range=0", "algo.n_epochs=0", "algo.batch_size=0", "algo.target_kl=-1", "algo.critic_target=x"])
def test_bad_ppo_options_are_one_line_errors(cli, tmp_path, bad):
    res = cli("algo=ppo", "env=cartpole", bad, f"hydra.run.dir={tmp_path / 'run'}")
    assert res.returncode == 2 and res.stderr.startswith("pgtrain: error:") and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert not (tmp_path / "run").exists()


def test_adam_eps_reaches_every_adam_of_the_algorithms():
    """``algo.adam_eps``: torch's 1e-8 by default, SB3's and CleanRL's PPO 1e-5 where a preset sets it (the MuJoCo PPO
    presets), in the optimiser's own param groups (so checkpoints keep it); a non-positive one is refused."""
    from pgtrain.algos.sac import SAC, SACConfig
    from pgtrain.errors import PgtrainError

    assert [g["eps"] for g in _algo().opt.param_groups] == [1e-8, 1e-8]
    assert [g["eps"] for g in _algo(CONTINUOUS, adam_eps=1e-5).opt.param_groups] == [1e-5, 1e-5]
    sac = SAC(OBS, CONTINUOUS, SACConfig(adam_eps=1e-4), torch.device("cpu"))
    assert {g["eps"] for opt in (sac.actor_opt, sac.critic_opt, sac.alpha_opt) for g in opt.param_groups} == {1e-4}
    with pytest.raises(PgtrainError, match="algo.adam_eps"):
        PPOConfig(adam_eps=0.0)
