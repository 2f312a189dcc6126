"""Return and advantage maths as pure numpy functions (the lecture's equations, tested against hand-computed numbers).

Conventions: a rollout array has shape ``(T, N)`` (time, env). ``terminated`` marks a true end of the MDP (no bootstrap);
``done = terminated | truncated`` marks where an episode stops in the data (a truncated one is bootstrapped from V of
its final observation, which ``next_values`` holds).
"""

from __future__ import annotations

import numpy as np


def reward_to_go(rewards: np.ndarray, gamma: float, reset_on_reward: bool = False, last_value: float = 0.0) -> np.ndarray:
    """G_t = sum_{k=t}^{T-1} gamma^(k-t) r_k + gamma^(T-t) last_value for one episode ``(T,)``.

    ``last_value`` is 0 for an episode that terminated; V(s_T) bootstraps one cut by a time limit.

    ``reset_on_reward`` restarts the sum at every nonzero reward, as the lecture's Pong code does: each point is its own
    game, so a point's reward is credited only to the actions since the previous point.
    """
    out = np.empty(len(rewards), dtype=np.float64)
    running = float(last_value)
    for t in range(len(rewards) - 1, -1, -1):
        if reset_on_reward and rewards[t] != 0:
            running = 0.0
        running = rewards[t] + gamma * running
        out[t] = running
    return out


def total_return(rewards: np.ndarray, gamma: float, reset_on_reward: bool = False, last_value: float = 0.0) -> np.ndarray:
    """G(tau) = sum_t gamma^t r_t (+ gamma^T last_value), the same number for every step of one episode ``(T,)``.

    With ``reset_on_reward`` each point (the steps up to and including a nonzero reward) is an episode of its own.
    """
    rtg = reward_to_go(rewards, gamma, reset_on_reward, last_value)
    out = np.empty_like(rtg)
    start = 0
    for t in range(len(rewards)):
        if t == len(rewards) - 1 or (reset_on_reward and rewards[t] != 0):
            out[start : t + 1] = rtg[start]
            start = t + 1
    return out


def episode_returns(
    rewards: np.ndarray,
    lengths: np.ndarray,
    gamma: float,
    kind: str,
    reset_on_reward: bool = False,
    last_values: np.ndarray | None = None,
) -> np.ndarray:
    """Psi_t for a batch of whole episodes laid end to end: ``rewards`` ``(sum(lengths),)`` -> same shape.

    ``kind`` is ``total`` (total episode return at every step) or ``reward_to_go``; ``last_values`` ``(E,)``
    bootstraps each episode's tail (0 where it terminated).
    """
    fn = total_return if kind == "total" else reward_to_go
    out = np.empty(len(rewards), dtype=np.float64)
    start = 0
    for i, length in enumerate(lengths):
        last = 0.0 if last_values is None else float(last_values[i])
        out[start : start + length] = fn(rewards[start : start + length], gamma, reset_on_reward, last)
        start += length
    return out


def td_targets(rewards: np.ndarray, next_values: np.ndarray, terminated: np.ndarray, gamma: float) -> np.ndarray:
    """One-step TD targets y_t = r_t + gamma (1 - terminated_t) V(s_{t+1}), any shape."""
    return rewards + gamma * (1.0 - terminated) * next_values


def gae(
    rewards: np.ndarray,
    values: np.ndarray,
    next_values: np.ndarray,
    terminated: np.ndarray,
    dones: np.ndarray,
    gamma: float,
    lam: float,
) -> np.ndarray:
    """Generalised advantage estimates ``(T, N)``.

    delta_t = r_t + gamma (1 - terminated_t) V(s_{t+1}) - V(s_t)
    A_t     = delta_t + gamma lambda (1 - done_t) A_{t+1},   A_T = 0 past the rollout's end.

    lam=0 gives the one-step TD error (the lecture's online actor-critic); lam=1 gives the n-step return minus V(s_t),
    bootstrapped from V at the rollout's end and at truncations, never at terminations.
    """
    deltas = rewards + gamma * (1.0 - terminated) * next_values - values
    adv = np.zeros_like(deltas, dtype=np.float64)
    running = np.zeros(deltas.shape[1:], dtype=np.float64)
    for t in range(len(deltas) - 1, -1, -1):
        running = deltas[t] + gamma * lam * (1.0 - dones[t]) * running
        adv[t] = running
    return adv


def explained_variance(pred: np.ndarray, targets: np.ndarray) -> float:
    """1 - Var(y - pred) / Var(y): 1 for a perfect value function, 0 for one no better than a constant, < 0 for worse
    (0 when the targets do not vary)."""
    var_y = float(np.var(targets))
    return float(1.0 - np.var(targets - pred) / var_y) if var_y > 0 else 0.0
