"""A2C and the online actor-critic: advantages and critic targets against hand-computed numbers (truncation included),
one update per env step in online mode, state dicts, CLI runs on both envs, and learning CartPole."""

from __future__ import annotations

import copy
import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from pgtrain import checkpoint
from pgtrain.algos import algo_class, registry
from pgtrain.algos.a2c import A2C, A2CConfig
from pgtrain.batches import Rollout
from pgtrain.curves import load_curve
from pgtrain.returns import gae
from tests.conftest import read_summary

OBS = gym.spaces.Box(-np.inf, np.inf, (3,), np.float32)
DISCRETE = gym.spaces.Discrete(2)
CONTINUOUS = gym.spaces.Box(-2.0, 2.0, (1,), np.float32)


def _algo(action_space: gym.Space = DISCRETE, **kw) -> A2C:
    torch.manual_seed(0)
    # plain settings (the defaults are tuned for CartPole): unscaled rewards, no entropy bonus, one learning rate
    plain = {"normalize_advantage": False, "max_grad_norm": 0.0, "reward_scale": 1.0, "entropy_coef": 0.0, "lr": 1e-3, "value_lr": None}
    cfg = A2CConfig(**{**plain, **kw})
    return A2C(OBS, action_space, cfg, torch.device("cpu"))


def _constant_critic_uniform_actor(algo: A2C, v: float) -> None:
    """V(s) = v for every s and pi(a|s) = 1/2: the losses then follow from the rewards alone."""
    with torch.no_grad():
        algo.policy.head.weight.zero_()
        algo.policy.head.bias.zero_()
        value_head = algo.value if algo.cfg.shared_network else algo.value.head
        value_head.weight.zero_()
        value_head.bias.fill_(v)


def _rollout() -> Rollout:
    """Two envs, four steps. Env 0: r=1, r=1 truncated (time limit), autoreset, r=1. Env 1: r=1, r=1 terminated,
    autoreset, r=2. The rollout ends mid-episode for both (bootstrap at t=3)."""
    rng = np.random.default_rng(0)
    T, N = 4, 2
    obs = rng.normal(size=(T + 1, N, 3)).astype(np.float32)
    no = np.zeros((T, N), bool)
    truncated, terminated, valid = no.copy(), no.copy(), ~no
    truncated[1, 0] = True
    terminated[1, 1] = True
    valid[2, :] = False
    return Rollout(
        obs=obs[:-1],
        actions=rng.integers(0, 2, size=(T, N)),
        rewards=np.array([[1, 1], [1, 1], [0, 0], [1, 2]], np.float32),
        next_obs=obs[1:],
        terminated=terminated,
        truncated=truncated,
        valid=valid,
    )


# Hand computation for _rollout with V = 1 everywhere and gamma = 0.5 (valid steps t = 0, 1, 3 of each env):
#   mc targets (the return to the episode's end, or the rollout's end, bootstrapped by V except after termination)
#     env 0: y1 = 1 + 0.5*1 = 1.5 (truncated: bootstrapped), y0 = 1 + 0.5*1.5 = 1.75, y3 = 1 + 0.5*1 = 1.5
#     env 1: y1 = 1 (terminated: no bootstrap),       y0 = 1 + 0.5*1 = 1.5,    y3 = 2 + 0.5*1 = 2.5
#   td targets r + 0.5 (1 - terminated) V(s'):  env 0: 1.5, 1.5, 1.5; env 1: 1.5, 1.0, 2.5
MC = [1.75, 1.5, 1.5, 1.5, 1.0, 2.5]
TD = [1.5, 1.5, 1.5, 1.5, 1.0, 2.5]
LOG_HALF = math.log(0.5)


@pytest.mark.parametrize(
    ("critic_target", "lam", "targets", "advantages"),
    [
        # lambda 1: the n-step advantage is the mc target minus V = 1
        ("mc", 1.0, MC, [0.75, 0.5, 0.5, 0.5, 0.0, 1.5]),
        # lambda 0: the one-step TD errors
        ("td", 0.0, TD, [0.5, 0.5, 0.5, 0.5, 0.0, 1.5]),
        # lambda 0.5: gamma*lambda = 0.25; env 0: A0 = 0.5 + 0.25*0.5 = 0.625; env 1: A0 = 0.5 + 0.25*0 = 0.5
        ("td", 0.5, TD, [0.625, 0.5, 0.5, 0.5, 0.0, 1.5]),
        ("mc", 0.5, MC, [0.625, 0.5, 0.5, 0.5, 0.0, 1.5]),
    ],
)
@pytest.mark.parametrize("shared", [False, True])
def test_losses_match_hand_computed_targets_and_advantages(critic_target, lam, targets, advantages, shared):
    algo = _algo(gamma=0.5, gae_lambda=lam, critic_target=critic_target, shared_network=shared, value_coef=0.5, entropy_coef=0.0)
    _constant_critic_uniform_actor(algo, 1.0)
    metrics = algo.update(_rollout())
    y, adv = np.array(targets), np.array(advantages)
    assert metrics["loss/value"] == pytest.approx(np.mean((1.0 - y) ** 2), rel=1e-6)
    assert metrics["loss/policy"] == pytest.approx(-LOG_HALF * adv.mean(), rel=1e-6)  # -mean log(1/2) A
    assert metrics["policy/entropy"] == pytest.approx(-LOG_HALF, rel=1e-6)
    assert algo.updates == 1


def test_reward_scale_scales_targets():
    algo = _algo(gamma=0.5, gae_lambda=1.0, critic_target="mc", reward_scale=0.5)
    _constant_critic_uniform_actor(algo, 1.0)
    # env 0: y1 = 0.5 + 0.5 = 1, y0 = 0.5 + 0.5*1 = 1, y3 = 1; env 1: y1 = 0.5, y0 = 0.75, y3 = 1.5
    y = np.array([1.0, 1.0, 1.0, 0.75, 0.5, 1.5])
    assert algo.update(_rollout())["loss/value"] == pytest.approx(np.mean((1.0 - y) ** 2), rel=1e-6)


def test_gae_nstep_with_truncation_inside_the_rollout():
    """One env, gamma 0.9, lambda 1, V(s_0..s_4) = [1, 2, 3, 4, 5]; the episode is truncated at t=1 with V(final) = 7,
    a new one starts at t=2 (the autoreset step, whose delta is never chained) and runs past the rollout's end."""
    r = np.array([[1.0], [2.0], [0.0], [3.0]])
    v = np.array([[1.0], [2.0], [7.0], [3.0]])  # V(s_2) is V(final obs): the autoreset step starts from it
    nv = np.array([[2.0], [7.0], [3.0], [5.0]])
    terminated = np.zeros((4, 1))
    dones = np.array([[0.0], [1.0], [0.0], [0.0]])
    adv = gae(r, v, nv, terminated, dones, 0.9, 1.0)
    # t=1: 2 + 0.9*7 - 2 = 6.3; t=0: 1 + 0.9*(2 + 0.9*7) - 1 = 7.47; t=3: 3 + 0.9*5 - 3 = 4.5
    np.testing.assert_allclose(adv[[0, 1, 3], 0], [7.47, 6.3, 4.5])
    # terminated instead of truncated: no bootstrap from V(final) = 7
    adv_term = gae(r, v, nv, dones, dones, 0.9, 1.0)
    np.testing.assert_allclose(adv_term[[0, 1], 0], [1 + 0.9 * 2 - 1, 0.0])


def test_autoreset_steps_are_masked_out():
    """Changing what an autoreset step holds (reward, action) changes no loss."""
    algo = _algo(gamma=0.9, gae_lambda=0.95)
    state = copy.deepcopy(algo.state_dict())
    base = algo.update(_rollout())
    algo.load_state_dict(state)
    other = _rollout()
    other.rewards[2] = 100.0
    other.actions[2] = 1 - other.actions[2]
    changed = algo.update(other)
    for key in ("loss/policy", "loss/value", "policy/entropy"):
        assert changed[key] == pytest.approx(base[key], rel=1e-6)


def test_rollout_of_autoresets_only_is_no_update():
    algo = _algo()
    r = _rollout()
    batch = Rollout(r.obs[2:3], r.actions[2:3], r.rewards[2:3], r.next_obs[2:3], r.terminated[2:3], r.truncated[2:3], r.valid[2:3])
    assert algo.update(batch) == {}
    assert algo.updates == 0


@pytest.mark.parametrize("action_space", [DISCRETE, CONTINUOUS], ids=["categorical", "gaussian"])
@pytest.mark.parametrize("shared", [False, True])
def test_update_changes_both_nets_and_state_dict_round_trips(action_space, shared, tmp_path):
    algo = _algo(action_space, shared_network=shared, max_grad_norm=0.5, entropy_coef=0.01, normalize_advantage=True)
    batch = _rollout()
    if action_space is CONTINUOUS:
        batch.actions = np.random.default_rng(1).normal(size=(4, 2, 1)).astype(np.float32)
    before = {k: v.clone() for k, v in algo.state_dict()["value"].items()}
    pol_before = algo.policy.head.weight.detach().clone()
    metrics = algo.update(batch)
    assert all(math.isfinite(v) for v in metrics.values())
    assert any(not torch.equal(before[k], v) for k, v in algo.state_dict()["value"].items())
    assert not torch.equal(pol_before, algo.policy.head.weight)
    # through a real checkpoint file (weights_only load), into a fresh instance
    checkpoint.save(tmp_path / "a.pt", {"algo_state": algo.state_dict()})
    torch.manual_seed(1)  # different initial weights: equality below comes from the loaded state
    clone = A2C(OBS, action_space, algo.cfg, torch.device("cpu"))
    clone.load_state_dict(checkpoint.load(tmp_path / "a.pt")["algo_state"])
    assert clone.updates == 1
    obs = np.random.default_rng(2).normal(size=(5, 3)).astype(np.float32)
    np.testing.assert_array_equal(clone.act(obs, explore=False), algo.act(obs, explore=False))
    # the optimiser state came along: the next update is identical
    m1, m2 = algo.update(batch), clone.update(batch)
    assert m1["loss/value"] == pytest.approx(m2["loss/value"], rel=1e-6)
    for (k, a), b in zip(algo.policy.state_dict().items(), clone.policy.state_dict().values(), strict=True):
        assert torch.allclose(a, b), k


@pytest.mark.parametrize("shared", [False, True])
def test_value_lr_applies_to_the_critics_own_parameters(shared):
    algo = _algo(lr=1e-3, value_lr=5e-3, shared_network=shared)
    actor, critic = algo.opt.param_groups
    assert actor["lr"] == 1e-3 and critic["lr"] == 5e-3
    assert {id(p) for p in critic["params"]} == {id(p) for p in algo.value.parameters()}
    assert _algo(lr=1e-3).opt.param_groups[1]["lr"] == 1e-3


def test_nonfinite_parameters_names_the_broken_tensor():
    algo = _algo()
    assert algo.nonfinite_parameters() == []
    with torch.no_grad():
        algo.value.head.bias.fill_(float("nan"))
    assert algo.nonfinite_parameters() == ["value.head.bias"]


def test_a2c_is_registered_for_both_action_types():
    assert algo_class("a2c") is A2C
    assert A2C.collector == "rollout"
    assert registry()["a2c"].action_types == {"discrete", "continuous"}


def _run_dir(tmp_path):
    return f"hydra.run.dir={tmp_path / 'run'}"


def test_online_actor_critic_makes_one_update_per_env_step(cli, tmp_path):
    res = cli("algo=ac_online", "env=cartpole", "total_steps=400", "seed=1", _run_dir(tmp_path))
    assert res.returncode == 0, res.stderr
    s = read_summary(tmp_path / "run")
    assert s["algo"] == "a2c"
    assert s["episodes"] >= 2  # episodes ended, so autoreset steps happened and were neither counted nor learned from
    assert s["env_steps"] == 400
    assert s["updates"] == s["env_steps"]


def test_cli_smoke_on_pendulum_with_resume(cli, tmp_path):
    run = tmp_path / "run"
    res = cli("algo=a2c", "env=pendulum", "total_steps=2000", "algo.num_envs=4", _run_dir(tmp_path))
    assert res.returncode == 0, res.stderr
    s = read_summary(run)
    assert (s["algo"], s["env"]) == ("a2c", "pendulum")
    assert s["env_steps"] >= 2000 and s["episodes"] == 8  # 4 envs x 200-step episodes ended by truncation
    assert s["updates"] > 0
    returns = load_curve(run).values  # the logged episodes, read back from the event files
    assert len(returns) == s["episodes"] == 8
    assert s["final_return"] == pytest.approx(float(np.mean(returns)))
    state = checkpoint.load(run / "checkpoints" / "last.pt")
    assert "log_std" in state["algo_state"]["policy"]
    res = cli(f"resume={run}", "total_steps=3000")
    assert res.returncode == 0, res.stderr
    assert read_summary(run)["env_steps"] >= 3000
