"""Running normalisation of observations and rewards, with Stable-Baselines3's VecNormalize semantics, on gymnasium's
vector wrappers.

- ``env.normalize_obs``: obs <- clip((obs - mean) / sqrt(var + 1e-8), -c, c), mean and var running over every
  observation seen in training (gymnasium's ``NormalizeObservation`` plus VecNormalize's clip ``c``,
  ``env.normalize_clip``);
- ``env.normalize_reward``: r <- clip(r / sqrt(var(R) + 1e-8), -c, c), R the running discounted return of each env
  (R <- gamma R + r, restarted with each episode, terminated or truncated, as VecNormalize does; gymnasium's
  ``NormalizeReward`` restarts it only on termination).

Both wrap the env outside RecordEpisodeStatistics, so the logged training returns stay the env's own. Their statistics
are saved in checkpoints (:func:`normalization_state`), restored on resume, and used frozen (``update_running_mean``
False) by evaluation, videos and ``pgtrain-eval``, which normalise observations only.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.vector import VectorEnv
from gymnasium.wrappers import vector as vw

from pgtrain.envs.state import from_saved, to_saved


class NormalizeObservation(vw.NormalizeObservation):
    """gymnasium's running observation normalisation, clipped to ``[-clip, clip]``."""

    def __init__(self, env: VectorEnv, clip: float) -> None:
        super().__init__(env)
        self.clip = clip

    def observations(self, observations: np.ndarray) -> np.ndarray:
        return np.clip(super().observations(observations), -self.clip, self.clip)


class NormalizeReward(vw.NormalizeReward):
    """gymnasium's reward scaling by the running std of the discounted return, restarted with every episode's end
    (truncations included) and clipped to ``[-clip, clip]``."""

    def __init__(self, env: VectorEnv, gamma: float, clip: float) -> None:
        super().__init__(env, gamma=gamma)
        self.clip = clip

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        self.accumulated_reward[self._prev_dones.astype(bool)] = 0.0
        obs, rewards, terminated, truncated, info = super().step(actions)
        return obs, np.clip(rewards, -self.clip, self.clip).astype(np.float32), terminated, truncated, info


WRAPPERS = (NormalizeObservation, NormalizeReward)


def normalize(envs: VectorEnv, cfg: Any, training: bool, saved: dict[str, Any] | None = None) -> VectorEnv:
    """Wrap ``envs`` as ``cfg.normalize_obs`` / ``cfg.normalize_reward`` say; ``training=False``: observations only,
    with the ``saved`` statistics, frozen."""
    if cfg.normalize_obs:
        envs = NormalizeObservation(envs, cfg.normalize_clip)
    if cfg.normalize_reward and training:
        envs = NormalizeReward(envs, cfg.normalize_gamma, cfg.normalize_clip)
    if saved is not None:
        load_normalization_state(envs, saved)
    if not training:
        for wrapper in _wrappers(envs):
            wrapper.update_running_mean = False
    return envs


def _wrappers(envs: Any) -> list[Any]:
    out = []
    while isinstance(envs, WRAPPERS):
        out.append(envs)
        envs = envs.env
    return out


def inner(envs: Any) -> Any:
    """``envs`` without its normalisation wrappers."""
    while isinstance(envs, WRAPPERS):
        envs = envs.env
    return envs


def _rms(rms: Any) -> dict[str, Any]:
    return {"mean": to_saved(np.asarray(rms.mean)), "var": to_saved(np.asarray(rms.var)), "count": float(rms.count)}


def _load_rms(rms: Any, state: dict[str, Any]) -> None:
    rms.mean, rms.var, rms.count = from_saved(state["mean"]), from_saved(state["var"]), float(state["count"])


def normalization_state(envs: Any) -> dict[str, Any] | None:
    """The running statistics of ``envs``' normalisation wrappers (None without any): ``obs`` (mean, var, count),
    ``reward`` (the return's, and each env's running discounted return)."""
    state: dict[str, Any] = {}
    for w in _wrappers(envs):
        if isinstance(w, NormalizeObservation):
            state["obs"] = _rms(w.obs_rms)
        else:
            state["reward"] = {
                **_rms(w.return_rms),
                "accumulated": to_saved(w.accumulated_reward),
                "prev_dones": to_saved(w._prev_dones),
            }
    return state or None


def load_normalization_state(envs: Any, state: dict[str, Any]) -> None:
    """Put :func:`normalization_state`'s statistics back; a wrapper the state lacks keeps its own, and the
    reward's per-env returns load only into as many envs as were saved."""
    for w in _wrappers(envs):
        if isinstance(w, NormalizeObservation) and "obs" in state:
            _load_rms(w.obs_rms, state["obs"])
        elif isinstance(w, NormalizeReward) and "reward" in state:
            saved = state["reward"]
            _load_rms(w.return_rms, saved)
            accumulated = from_saved(saved["accumulated"])
            if accumulated.shape == w.accumulated_reward.shape:
                w.accumulated_reward = accumulated
                w._prev_dones = from_saved(saved["prev_dones"])
