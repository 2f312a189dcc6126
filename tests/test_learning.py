"""Learning tests: each algorithm reaches what README.md and docs/ claim for it on its reference env, through the real
CLI on real envs, over several seeds where the claim is about seeds. Marked slow: `.ci/run` runs them as a step of
their own (`pytest -m slow`)."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from pgtrain.curves import load_curve
from tests.conftest import read_summary

pytestmark = pytest.mark.slow

SEEDS = (0, 1, 2)


def _random_returns(env_id: str, episodes: int, seed: int = 0, still: bool = False) -> np.ndarray:
    """Returns of uniformly random actions (``still``: all-zero actions), played with gymnasium alone: the baselines
    a learner must beat."""
    env = gym.make(env_id)
    env.action_space.seed(seed)
    returns = []
    for i in range(episodes):
        env.reset(seed=seed + i)
        total, done = 0.0, False
        while not done:
            action = np.zeros(env.action_space.shape, env.action_space.dtype) if still else env.action_space.sample()
            _, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    env.close()
    return np.array(returns)


def _train(cli, run: Path, *args: str) -> dict:
    res = cli(*args, "progress=false", f"hydra.run.dir={run}", timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    return read_summary(run)


# ----------------------------------------------------------------------------------------------------------------------
# CartPole-v1: a last-100 training mean of 475 (README's benchmark table, docs/actor_critic.md, docs/ppo_td3_sac.md)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("algo", ["reinforce", "a2c", "ppo"])
def test_solves_cartpole_to_475(cli, tmp_path: Path, algo: str, seed: int):
    """`pgtrain algo=ALGO env=cartpole stop_on_solve=true` with the defaults (PPO: configs/tuned/ppo_cartpole.yaml and
    its 100k budget) reaches a last-100 mean of 475; claimed for seeds 0-4 (REINFORCE 59k median, A2C 98k-111k, PPO
    62k-99k env steps)."""
    s = _train(cli, tmp_path / "run", f"algo={algo}", "env=cartpole", f"seed={seed}", "stop_on_solve=true")
    assert (s["solve_threshold"], s["solve_window"]) == (475, 100), s
    assert s["solved"] is not None, s
    assert s["final_return"] >= 475 and s["solved"]["env_steps"] <= {"reinforce": 150_000, "a2c": 120_000, "ppo": 100_000}[algo], s


def test_online_actor_critic_learns_cartpole(cli, tmp_path: Path):
    """`algo=ac_online` (one update per env step): within 5,000 env steps the last-100 mean is more than twice random
    play's on seeds 0 and 1 (docs/actor_critic.md)."""
    random_mean = _random_returns("CartPole-v1", 200).mean()
    assert 15 < random_mean < 30  # CartPole's random policy: about 22 steps an episode
    for seed in (0, 1):
        s = _train(cli, tmp_path / f"run{seed}", "algo=ac_online", "env=cartpole", f"seed={seed}", "total_steps=5000")
        assert s["updates"] == 5000, s  # one gradient step per env step
        assert s["final_return"] >= 2 * random_mean, (seed, s, random_mean)


# ----------------------------------------------------------------------------------------------------------------------
# Pendulum-v1: a last-10 training mean of -200 (README, docs/ddpg.md, docs/ppo_td3_sac.md)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("algo", ["ddpg", "td3", "sac"])
def test_solves_pendulum_to_minus_200(cli, tmp_path: Path, algo: str, seed: int):
    """The tuned presets (configs/tuned/{ddpg,td3,sac}_pendulum.yaml) reach a last-10 mean of -200 within about 5k env
    steps; claimed for seeds 0-4 (4.8k-6.4k)."""
    s = _train(cli, tmp_path / "run", f"algo={algo}", "env=pendulum", f"seed={seed}", "stop_on_solve=true")
    assert (s["solve_threshold"], s["solve_window"]) == (-200, 10), s
    assert s["solved"] is not None and s["solved"]["env_steps"] <= 7000, s
    # the solving window really is the last 10 training episodes (random play scores about -1,200)
    curve = load_curve(tmp_path / "run", "train/episodic_return")
    assert curve.values[-10:].mean() >= -200


def test_ddpg_final_evaluation_on_pendulum(cli, tmp_path: Path):
    """The DDPG preset's whole 15k budget: its final deterministic evaluation (100 episodes) clears the solve
    threshold (README: -151 for seed 0)."""
    s = _train(cli, tmp_path / "run", "algo=ddpg", "env=pendulum", "seed=0")
    assert s["env_steps"] == 15000 and s["final_eval_return"] >= -200, s
    evals = load_curve(tmp_path / "run", "eval/mean_return")
    assert evals.steps.tolist() == [7500, 15000] and evals.values[-1] == pytest.approx(s["final_eval_return"])


# ----------------------------------------------------------------------------------------------------------------------
# Box2D and MuJoCo presets and an Atari game, on small budgets


def test_ppo_lunarlander_beats_random_play(cli, tmp_path: Path):
    """configs/tuned/ppo_lunarlander.yaml for 6 rollouts (16 envs x 1,024 steps): the last-100 training mean is at
    least 75 above uniformly random actions' (about -180; the preset solves to 200 only after some 1.1M env steps)."""
    random_mean = _random_returns("LunarLander-v3", 100).mean()
    assert -300 < random_mean < -100
    s = _train(cli, tmp_path / "run", "algo=ppo", "env=lunarlander", "seed=0", "total_steps=98304")
    assert s["final_return"] >= random_mean + 75, (s, random_mean)


def test_ppo_hopper_learns_to_stay_up(cli, tmp_path: Path):
    """configs/tuned/ppo_hopper.yaml for 20 rollouts of 512 steps: its deterministic policy scores at least 300 above
    both uniformly random actions (about 15-20: Hopper-v5 falls within some 20 steps) and all-zero torques (about
    130: it falls after some 140 steps; an untrained policy's mean action is near zero)."""
    random_mean = _random_returns("Hopper-v5", 20).mean()
    still_mean = _random_returns("Hopper-v5", 20, still=True).mean()
    assert 0 < random_mean < 60 and random_mean < still_mean < 300
    s = _train(cli, tmp_path / "run", "algo=ppo", "env=hopper", "seed=0", "total_steps=10240", "eval_interval=10240", "eval_episodes=10")
    assert s["final_eval_return"] >= max(random_mean, still_mean) + 300, (s, random_mean, still_mean)


def _lecture_advantages(rewards: np.ndarray, lengths: np.ndarray, gamma: float) -> np.ndarray:
    """The lecture's discount_rewards (the sum restarted at every point scored) per game, standardised over the batch."""
    out = np.zeros(len(rewards))
    start = 0
    for n in lengths:
        running = 0.0
        for t in reversed(range(start, start + n)):
            running = 0.0 if rewards[t] != 0 else running
            running = running * gamma + rewards[t]
            out[t] = running
        start += n
    return (out - out.mean()) / out.std()


def test_reinforce_update_on_real_pong_games_raises_the_likelihood_of_what_scored():
    """The lecture's Pong agent on two real games of ALE/Pong-v5 (sticky actions 0.25): one update moves log pi(a|s)
    toward the actions the lecture's advantages favour, by a measurable amount: the advantage-weighted change of the
    log-likelihood is positive, the likelihood of the best-advantage tenth of the steps rises and that of the worst
    tenth falls. A flipped sign, a lost gradient or advantages cut from the wrong episodes fail this."""
    from pgtrain.algos.reinforce import Reinforce, ReinforceConfig
    from pgtrain.batches import Trajectory, episode_batch
    from pgtrain.config import PongConfig
    from pgtrain.envs import make_vec_env

    torch.manual_seed(0)
    env_cfg = PongConfig(name="pong", id="ALE/Pong-v5", action_type="discrete", solve_window=100)
    envs = make_vec_env(env_cfg, 2)
    algo_cfg = ReinforceConfig(
        hidden_sizes=[200], activation="relu", discrete_head="sigmoid", reset_return_on_reward=True, baseline="none",
        optimizer="rmsprop", lr=1e-3, episodes_per_update=2, grad_variance_interval=0,
    )  # fmt: skip
    algo = Reinforce(envs.single_observation_space, envs.single_action_space, algo_cfg, torch.device("cpu"))
    obs, _ = envs.reset(seed=0)
    steps: list[list[tuple[np.ndarray, int, float]]] = [[], []]
    games: list[list[tuple[np.ndarray, int, float]]] = []
    while len(games) < 2:
        actions = algo.act(obs, explore=True)
        next_obs, rewards, terminated, truncated, _ = envs.step(actions)
        for i in range(2):
            steps[i].append((obs[i], int(actions[i]), float(rewards[i])))
            if terminated[i] or truncated[i]:
                games.append(steps[i])
                steps[i] = []
        obs = next_obs
    envs.close()
    trajectories = []
    for game in games[:2]:
        obs_seq, act_seq, rew_seq = zip(*game, strict=True)
        trajectories.append(Trajectory(np.stack(obs_seq), np.array(act_seq), np.array(rew_seq, np.float32), True, obs_seq[-1]))
    batch = episode_batch(trajectories)
    assert all(abs(sum(r for _, _, r in g)) >= 10 for g in games[:2])  # whole games: 21 points to one side
    adv = _lecture_advantages(batch.rewards, batch.lengths, algo_cfg.gamma)

    def log_likelihood() -> np.ndarray:
        with torch.no_grad():
            x = torch.as_tensor(batch.obs)
            return algo.policy.distribution(x).log_prob(torch.as_tensor(batch.actions, dtype=torch.float32)).numpy().astype(np.float64)

    before = log_likelihood()
    algo.update(batch)
    change = log_likelihood() - before
    assert np.dot(adv, change) / len(adv) > 0.01, np.dot(adv, change) / len(adv)
    order = np.argsort(adv)
    tenth = len(adv) // 10
    assert change[order[-tenth:]].mean() > 0.01 and change[order[:tenth]].mean() < 0
