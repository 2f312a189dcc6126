"""Any ALE game (``env=atari env.id=ALE/<Game>-v5``) through ale-py's AtariVectorEnv, and the ale-py settings that
Pong's own pipeline (:mod:`pgtrain.envs.pong`) shares.

The emulators run in one process on ale-py's C++ thread pool, which also does the DQN preprocessing: grey frames
resized to 84x84, a max over the last two frames of each frame skip, ``frame_stack`` of them stacked, up to
``noop_max`` random no-ops and FIRE at each reset where the game has FIRE. ALE v5's protocol: sticky actions
(``repeat_action_probability`` 0.25) and a frame skip of 4, whole games (30 minutes of play at most).

The emulators always play whole games with true rewards, so RecordEpisodeStatistics (outside them) logs true game
scores. :class:`AtariTraining`, outside that, changes what training learns from (never what is logged): a lost life
ends the learner's episode (``episodic_life``) and rewards become their sign (``clip_rewards``), as Stable-Baselines3's
AtariWrapper does.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv, VectorWrapper

from pgtrain.config import AtariConfig
from pgtrain.envs.specs import STACK_SIZE, env_spec
from pgtrain.errors import PgtrainError

MAX_FRAMES = 108_000  # ALE's per-episode frame limit (30 minutes of play at 60 Hz), as the v5 ids have it


def ale_vector_env(
    game: str,
    num_envs: int,
    *,
    num_threads: int,
    frameskip: int,
    repeat_action_probability: float,
    max_episode_steps: int | None,
    batch_size: int = 0,
    full_action_space: bool = False,
    **preprocess: Any,
) -> VectorEnv:
    """ale-py's AtariVectorEnv of ``game`` (a ROM name, e.g. ``breakout``) with NEXT_STEP autoreset, whole games and
    true rewards; ``preprocess``: its image options (``img_height``, ``grayscale``, ``stack_num``, ``noop_max``, ...)."""
    from ale_py.vector_env import AtariVectorEnv

    threads = num_threads or min(num_envs, len(os.sched_getaffinity(0)))
    max_frames = MAX_FRAMES if max_episode_steps is None else max_episode_steps * frameskip
    return AtariVectorEnv(
        game, num_envs, num_threads=threads, batch_size=batch_size, frameskip=frameskip,
        repeat_action_probability=repeat_action_probability, max_num_frames_per_episode=max_frames,
        full_action_space=full_action_space, autoreset_mode=AutoresetMode.NEXT_STEP,
        episodic_life=False, reward_clipping=False,  # the logged returns stay whole games' true scores
        **preprocess,
    )  # fmt: skip


def stack_preprocess(frame_stack: int, noop_max: int) -> dict[str, Any]:
    """The DQN preprocessing: 84x84 grey, max-pooled frame pairs, ``frame_stack`` frames, no-op starts, FIRE at reset."""
    return {
        "img_height": STACK_SIZE, "img_width": STACK_SIZE, "grayscale": True, "stack_num": frame_stack, "maxpool": True,
        "noop_max": noop_max, "use_fire_reset": True,
    }  # fmt: skip


def ale_game(env_id: str) -> str:
    """The ROM name of an ALE id: ``ALE/Breakout-v5`` -> ``breakout``."""
    game = env_spec(env_id).kwargs.get("game")
    if not game:
        raise PgtrainError(f"{env_id} names no ALE game")
    return str(game)


def make_atari_vec_env(cfg: AtariConfig, num_envs: int, render_mode: str | None = None) -> VectorEnv:
    envs = ale_vector_env(
        ale_game(cfg.id), num_envs, num_threads=cfg.num_threads, frameskip=cfg.frameskip,
        repeat_action_probability=cfg.repeat_action_probability, max_episode_steps=cfg.max_episode_steps,
        full_action_space=cfg.full_action_space, **stack_preprocess(cfg.frame_stack, cfg.noop_max),
    )  # fmt: skip
    return ObservedFrames(envs, cfg.frameskip) if render_mode is not None else envs


class AtariTraining(VectorWrapper):
    """Training only, outside the episode statistics: ``episodic_life`` ends the learner's episode at a lost life
    (``terminated``; the game goes on, and the next step, which the collectors treat as an autoreset, presses FIRE
    where the game has it, else NOOP, whatever the policy chose), and ``clip_rewards`` gives sign(reward)."""

    def __init__(self, env: VectorEnv, episodic_life: bool, clip_rewards: bool) -> None:
        super().__init__(env)
        self.episodic_life, self.clip_rewards = episodic_life, clip_rewards
        actions = [a.name for a in env.unwrapped.ale.get_action_set()]
        self.restart_action = actions.index("FIRE") if "FIRE" in actions else 0
        self.lives = np.zeros(self.num_envs, dtype=np.int64)
        self.life_lost = np.zeros(self.num_envs, dtype=bool)

    def reset(self, *, seed: Any = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        self.lives = np.asarray(info["lives"]).copy()
        self.life_lost[:] = False
        return obs, info

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        if self.life_lost.any():
            actions = np.where(self.life_lost, self.restart_action, actions)
        obs, rewards, terminated, truncated, info = self.env.step(actions)
        lives = np.asarray(info["lives"])
        if self.episodic_life:
            self.life_lost = (lives < self.lives) & ~(terminated | truncated)
            terminated = terminated | self.life_lost
        self.lives = lives.copy()
        if self.clip_rewards:
            rewards = np.sign(rewards).astype(np.float32)
        return obs, rewards, terminated, truncated, info


class ObservedFrames(VectorWrapper):
    """``render()`` for AtariVectorEnv, which draws no screen: the newest 84x84 grey frame of each env's observation,
    as RGB (what the agent sees); at 60 / frameskip frames per second."""

    def __init__(self, env: VectorEnv, frameskip: int) -> None:
        super().__init__(env)
        self.metadata = {**env.metadata, "render_fps": 60 / frameskip}
        self.last: np.ndarray | None = None

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        self.last = obs
        return obs, info

    def step(self, actions: Any) -> tuple[Any, Any, Any, Any, dict[str, Any]]:
        result = self.env.step(actions)
        self.last = result[0]
        return result

    def render(self) -> list[np.ndarray] | None:
        if self.last is None:
            return None
        return [np.repeat(np.repeat(frame[-1][..., None], 3, axis=-1), 2, axis=0).repeat(2, axis=1) for frame in self.last]
