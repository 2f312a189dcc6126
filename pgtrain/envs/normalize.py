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

Off-policy algorithms replay old transitions, so, as Stable-Baselines3 does, their buffer keeps the raw ones (the
wrappers' ``original_obs`` / ``original_rewards``, VecNormalize's ``get_original_obs`` / ``get_original_reward``) and
each sampled minibatch is normalised with the current statistics (:class:`ReplayNormalization`). Both paths apply the
same two pure functions, :func:`normalize_obs` and :func:`scale_rewards`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
from gymnasium.vector import VectorEnv
from gymnasium.wrappers import vector as vw

from pgtrain.envs.state import from_saved, to_saved

if TYPE_CHECKING:
    from pgtrain.buffers import ReplayBatch


def normalize_obs(obs: np.ndarray, mean: np.ndarray, var: np.ndarray, clip: float, epsilon: float = 1e-8) -> np.ndarray:
    """clip((obs - mean) / sqrt(var + epsilon), -clip, clip) as float32; ``obs`` ``(..., *obs_shape)``, ``mean`` and
    ``var`` ``obs_shape`` (the running statistics of every observation seen)."""
    return np.clip(((obs - mean) / np.sqrt(var + epsilon)).astype(np.float32), -clip, clip)


def scale_rewards(rewards: np.ndarray, var: np.ndarray | float, clip: float, epsilon: float = 1e-8) -> np.ndarray:
    """clip(r / sqrt(var + epsilon), -clip, clip) as float32; ``rewards`` of any shape, ``var`` the running variance of
    the discounted return (a scalar)."""
    return np.clip(rewards / np.sqrt(var + epsilon), -clip, clip).astype(np.float32)


class NormalizeObservation(vw.NormalizeObservation):
    """gymnasium's running observation normalisation, clipped to ``[-clip, clip]``; ``original_obs`` keeps the last raw
    observations ``(N, *obs_shape)``."""

    def __init__(self, env: VectorEnv, clip: float) -> None:
        super().__init__(env)
        self.clip = clip
        self.original_obs: np.ndarray | None = None

    def observations(self, observations: np.ndarray) -> np.ndarray:
        self.original_obs = observations
        if self.update_running_mean:
            self.obs_rms.update(observations)
        return self.normalize_raw(observations)

    def normalize_raw(self, observations: np.ndarray) -> np.ndarray:
        """Raw observations normalised with the current statistics, which stay as they are (VecNormalize's
        ``normalize_obs``)."""
        return normalize_obs(observations, self.obs_rms.mean, self.obs_rms.var, self.clip, self.epsilon)


class NormalizeReward(vw.NormalizeReward):
    """gymnasium's reward scaling by the running std of the discounted return, restarted with every episode's end
    (truncations included) and clipped to ``[-clip, clip]``; ``original_rewards`` keeps the last raw rewards ``(N,)``."""

    def __init__(self, env: VectorEnv, gamma: float, clip: float) -> None:
        super().__init__(env, gamma=gamma)
        self.clip = clip
        self.original_rewards: np.ndarray | None = None

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """gymnasium's step (R <- gamma (1 - terminated) R + r over each running episode, whose statistics it updates),
        except that R restarts after truncations too (VecNormalize's), and with the raw rewards kept."""
        obs, rewards, terminated, truncated, info = self.env.step(actions)
        self.original_rewards = rewards
        running = ~self._prev_dones.astype(bool)  # NEXT_STEP autoreset: the step after an episode's end only resets
        self.accumulated_reward[~running] = 0.0
        self.accumulated_reward[running] = self.accumulated_reward[running] * self.gamma * (1 - terminated[running]) + rewards[running]
        if self.update_running_mean and running.any():
            self.return_rms.update(self.accumulated_reward[running])
        self._prev_dones = (terminated | truncated).astype(np.float32)
        return obs, self.normalize_raw(rewards), terminated, truncated, info

    def normalize_raw(self, rewards: np.ndarray) -> np.ndarray:
        """Raw rewards scaled with the current statistics, which stay as they are (VecNormalize's
        ``normalize_reward``)."""
        return scale_rewards(rewards, self.return_rms.var, self.clip, self.epsilon)


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


class ReplayNormalization:
    """What a replay buffer needs of ``envs``' normalisation wrappers, as Stable-Baselines3's VecNormalize gives it:
    the raw values behind the last step's (``get_original_obs``, ``get_original_reward``), to store, and stored raw
    values normalised with the current statistics (``normalize_obs``, ``normalize_reward``), at sampling time. A part
    the envs do not normalise passes its values through."""

    def __init__(self, envs: Any) -> None:
        wrappers = _wrappers(envs)
        self.obs_wrapper = next((w for w in wrappers if isinstance(w, NormalizeObservation)), None)
        self.reward_wrapper = next((w for w in wrappers if isinstance(w, NormalizeReward)), None)

    def original_obs(self, obs: np.ndarray) -> np.ndarray:
        """The raw observations behind ``obs``, the envs' latest ``(N, *obs_shape)``."""
        return obs if self.obs_wrapper is None else self.obs_wrapper.original_obs

    def original_rewards(self, rewards: np.ndarray) -> np.ndarray:
        """The raw rewards behind ``rewards``, the envs' latest ``(N,)``."""
        return rewards if self.reward_wrapper is None else self.reward_wrapper.original_rewards

    def obs(self, raw: np.ndarray) -> np.ndarray:
        """``raw`` ``(B, *obs_shape)`` normalised with the current statistics."""
        return raw if self.obs_wrapper is None else self.obs_wrapper.normalize_raw(raw)

    def rewards(self, raw: np.ndarray) -> np.ndarray:
        """``raw`` ``(B,)`` scaled with the current statistics."""
        return raw if self.reward_wrapper is None else self.reward_wrapper.normalize_raw(raw)

    def batch(self, b: ReplayBatch) -> ReplayBatch:
        """A minibatch of raw transitions with ``obs``, ``next_obs`` and ``rewards`` normalised as above."""
        return replace(b, obs=self.obs(b.obs), rewards=self.rewards(b.rewards), next_obs=self.obs(b.next_obs))


def replay_normalization(envs: Any) -> ReplayNormalization | None:
    """:class:`ReplayNormalization` of ``envs``; None where they normalise nothing."""
    return ReplayNormalization(envs) if _wrappers(envs) else None


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
