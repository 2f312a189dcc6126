"""ALE Pong from pixels: the lecture's 80x80 difference frames, or 84x84 grey frame stacks for a CNN.

Two ways to run the emulators (``env.backend``):

- ``ale_vector`` (default): ale-py's :class:`AtariVectorEnv`, every emulator in one process on a C++ thread pool (no
  pickling, no pipes, no per-env Python). It returns whole RGB frames for the lecture preprocessing, which then runs
  vectorised in numpy in the main process (:class:`LectureFramesVector`); for ``preprocess=stack`` its own C++
  grey-scale, 84x84 resize, max-pool over the last two frames and frame stack are used as they are.
- ``gymnasium``: ``ALE/Pong-v5`` per env, wrapped in :class:`TwoActions` and :class:`LectureFrames`, vectorised by
  gymnasium as ``env.vectorization`` (sync | async) says; the preprocessing then runs inside each (worker) env.
  Needed for ``render_mode`` (videos); lecture preprocessing only.

Both give the same observations and the same action mapping (tested), except at a truncation by ALE's frame limit,
where ``AtariVectorEnv`` returns the previous frame as the final observation; docs/pong.md explains the defaults.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv, VectorWrapper
from gymnasium.vector.utils import batch_space

from pgtrain.config import PongConfig, async_batch_of
from pgtrain.envs.atari import ale_vector_env, stack_preprocess
from pgtrain.errors import PgtrainError

# The lecture's preprocessing (Karpathy's pg-pong.py ``prepro``): crop rows 35..194 (the playing field, without the
# score), keep every second row and column of the red channel, erase the two background colours, binarise.
CROP_ROWS = slice(35, 195)
BACKGROUND = (144, 109)
# The same two colours in ALE's grey-scale screen (its palette's luminance): ale_vector asks its C++ threads for grey
# frames, a third of the RGB bytes for the main thread to copy and read; the kept pixels are the same (tested).
GREY_BACKGROUND = (87, 107)
FRAME_SIZE = 80 * 80

# ALE Pong's minimal action set is NOOP, FIRE, RIGHT, LEFT, RIGHTFIRE, LEFTFIRE; RIGHT moves the paddle up, LEFT down.
ALE_UP, ALE_DOWN = 2, 3
# Policy action 1 = UP, 0 = DOWN: the lecture's network outputs P(UP) = sigmoid(z), the Bernoulli head's P(action 1).
UPDOWN = np.array([ALE_DOWN, ALE_UP], dtype=np.int64)

STACK_NOOP_MAX = 30  # preprocess=stack: up to 30 random no-ops at each reset, the DQN/A2C Atari protocol


def lecture_frame(frames: np.ndarray) -> np.ndarray:
    """``(..., 210, 160, 3)`` uint8 RGB frames -> ``(..., 6400)`` int8 in {0, 1}, vectorised over leading axes.

    Rows 35..194, every second row and column, red channel; the background colours 144 and 109 (and black) become 0,
    everything else (paddles, ball) 1.
    """
    red = np.ascontiguousarray(frames[..., CROP_ROWS, :, 0][..., ::2, ::2])  # one strided gather, then contiguous maths
    keep = (red != 0) & (red != BACKGROUND[0]) & (red != BACKGROUND[1])
    return keep.view(np.int8).reshape(*keep.shape[:-2], FRAME_SIZE)


def lecture_frame_grey(frames: np.ndarray) -> np.ndarray:
    """:func:`lecture_frame` of ALE's grey-scale screens: ``(..., 210, 160)`` uint8 -> ``(..., 6400)`` int8 in {0, 1}.
    Pong's colours have distinct grey values, and its two background colours' are ``GREY_BACKGROUND``. The readable
    form of the env-step loop's compiled pass, :func:`pgtrain.fast.kernels.lecture_diff_grey`, which is tested against it."""
    # every second column: each pair of pixels read as one little-endian uint16, whose low byte is the even column's
    # (one contiguous-row pass instead of an element-by-element strided gather)
    pairs = np.ascontiguousarray(frames).view("<u2")[..., CROP_ROWS, :][..., ::2, :]
    grey = pairs.astype(np.uint8)  # the low byte
    keep = grey != 0
    keep &= grey != GREY_BACKGROUND[0]
    keep &= grey != GREY_BACKGROUND[1]
    return keep.view(np.int8).reshape(*keep.shape[:-2], FRAME_SIZE)


def lecture_space() -> gym.spaces.Box:
    """The difference of two binarised frames: 6400 values in {-1, 0, 1}, stored as int8 (Pong episodes have
    thousands of steps, and REINFORCE keeps whole episodes); the policy casts them to float."""
    return gym.spaces.Box(low=-1, high=1, shape=(FRAME_SIZE,), dtype=np.int8)


class LectureFrames(gym.Wrapper):
    """One env: observation = lecture_frame(now) - lecture_frame(previous step); zeros at an episode's start."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.observation_space = lecture_space()
        self.prev = np.zeros(FRAME_SIZE, dtype=np.int8)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        self.prev = lecture_frame(obs)
        return np.zeros(FRAME_SIZE, dtype=np.int8), info

    def step(self, action: Any) -> tuple[np.ndarray, Any, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        cur = lecture_frame(obs)
        diff = cur - self.prev
        self.prev = cur
        return diff, reward, terminated, truncated, info


class LectureFramesVector(VectorWrapper):
    """The same for a whole vector env in one numpy pass: ``(B, [1,] 210, 160, 3)`` RGB (or with ``grey``, ALE's
    ``(B, [1,] 210, 160)`` grey-scale screens) -> ``(B, 6400)`` int8.

    NEXT_STEP autoreset: the step after an episode's end returns the new episode's first frame, so its difference is
    zeros and it becomes the new ``prev``; the step that ends an episode keeps its true final difference. In ale-py's
    async mode (``env.async_batch``) each step returns a batch of ``B`` of the envs, named by ``info["env_id"]``; the
    per-env state is indexed by those ids, and an env's first frame after the reset is its episode's start too.
    """

    def __init__(self, env: VectorEnv, grey: bool = False) -> None:
        super().__init__(env)
        if env.metadata.get("autoreset_mode") != AutoresetMode.NEXT_STEP:
            raise PgtrainError("the lecture preprocessing needs a NEXT_STEP-autoreset vector env")
        self.grey = grey
        self.batch_size = getattr(env, "batch_size", self.num_envs)
        self.single_observation_space = lecture_space()
        self.observation_space = batch_space(self.single_observation_space, self.batch_size)
        self.prev = np.zeros((self.num_envs, FRAME_SIZE), dtype=np.int8)
        self.last = np.zeros((self.batch_size, FRAME_SIZE), dtype=np.int8)
        self.fresh = np.zeros(self.num_envs, dtype=bool)  # the env's next frame starts an episode: difference 0
        self._all_ids = np.arange(self.num_envs)

    def _ids(self, info: dict[str, Any]) -> np.ndarray | slice:
        return info["env_id"] if self.batch_size < self.num_envs else slice(None)

    def reset(self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        mask = np.ones(self.num_envs, dtype=bool) if not options or "reset_mask" not in options else options["reset_mask"]
        self.fresh[mask] = True  # async: the envs not in this first batch come back later with their first frame
        last = self.last
        diff = self._diff(obs, info)
        if not mask.all():  # a partial reset (lockstep mode): the other envs report their last difference again
            diff[~mask] = last[~mask]
        return diff, info

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        return self._frames(*self.env.step(actions))

    def send(self, actions: Any) -> None:
        """:meth:`step`'s first half, over ale-py's vector env (its ``send``): the emulators start on ``actions``."""
        self.env.send(actions)

    def recv(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """:meth:`step`'s second half, over ale-py's vector env (its ``recv``): the next batch of results."""
        return self._frames(*self.env.recv())

    def _frames(
        self, obs: np.ndarray, rewards: np.ndarray, terminated: np.ndarray, truncated: np.ndarray, info: dict[str, Any]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        diff = self._diff(obs, info)
        self.fresh[self._ids(info)] = terminated | truncated
        return diff, rewards, terminated, truncated, info

    def _diff(self, obs: np.ndarray, info: dict[str, Any]) -> np.ndarray:
        ids = self._ids(info)
        if self.grey:  # one compiled pass: lecture_frame_grey, the difference, the fresh games (tested equal)
            from pgtrain.fast.kernels import lecture_diff_grey  # numba: imported by the runs that read grey screens only

            env_ids = self._all_ids if isinstance(ids, slice) else ids
            self.last = lecture_diff_grey(obs.reshape(len(obs), *obs.shape[-2:]), env_ids, self.prev, self.fresh)
            return self.last
        cur = lecture_frame(obs.reshape(len(obs), *obs.shape[-3:]))
        diff = cur - self.prev[ids]
        fresh = self.fresh[ids]
        if fresh.any():  # rare: a game's first frame
            diff[fresh] = 0
        self.prev[ids] = cur
        self.fresh[ids] = False
        self.last = diff
        return diff


class TwoActions(gym.ActionWrapper):
    """One env: Discrete(2), policy action 1 -> ALE UP, 0 -> ALE DOWN."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.action_space = gym.spaces.Discrete(2)

    def action(self, action: Any) -> int:
        return int(UPDOWN[int(action)])


class TwoActionsVector(VectorWrapper):
    """A vector env: Discrete(2) per env, mapped to ALE UP/DOWN with one numpy lookup."""

    def __init__(self, env: VectorEnv) -> None:
        super().__init__(env)
        self.single_action_space = gym.spaces.Discrete(2)
        self.action_space = batch_space(self.single_action_space, getattr(env, "batch_size", self.num_envs))

    def step(self, actions: Any) -> tuple[Any, Any, Any, Any, dict[str, Any]]:
        return self.env.step(UPDOWN[np.asarray(actions, dtype=np.int64)])

    def send(self, actions: Any) -> None:
        """:meth:`step`'s first half, for ale-py's async mode (``send``, then ``recv``)."""
        self.env.send(UPDOWN[np.asarray(actions, dtype=np.int64)])

    def recv(self) -> tuple[Any, Any, Any, Any, dict[str, Any]]:
        return self.env.recv()


def make_pong_vec_env(cfg: PongConfig, num_envs: int, render_mode: str | None = None) -> VectorEnv:
    """``num_envs`` Pongs as one NEXT_STEP-autoreset vector env with the configured preprocessing and action set."""
    if render_mode is not None or cfg.backend == "gymnasium":
        if cfg.preprocess != "lecture":
            raise PgtrainError(
                "Pong with env.preprocess=stack cannot render (videos): ale-py's vector env, which does that "
                "preprocessing, draws no screen; the lecture preprocessing renders through ALE/Pong-v5"
            )
        return _gymnasium_vec_env(cfg, num_envs, render_mode)
    return _ale_vec_env(cfg, num_envs)


def _ale_vec_env(cfg: PongConfig, num_envs: int) -> VectorEnv:
    common: dict[str, Any] = {
        "num_threads": cfg.num_threads,
        "batch_size": async_batch_of(cfg, num_envs),  # 0: all envs at every step
        "frameskip": cfg.frameskip,
        "repeat_action_probability": cfg.repeat_action_probability,
        "max_episode_steps": cfg.max_episode_steps,
    }
    if cfg.preprocess == "lecture":
        # Whole frames, no resize, no max-pool, no no-op starts: ALE/Pong-v5's screens, in grey (the C++ threads convert
        # them), for the numpy wrapper.
        envs: VectorEnv = ale_vector_env(
            "pong", num_envs, img_height=210, img_width=160, grayscale=True, stack_num=1, maxpool=False, noop_max=0,
            use_fire_reset=False, **common,
        )  # fmt: skip
        envs = LectureFramesVector(envs, grey=True)
    else:
        envs = ale_vector_env("pong", num_envs, **stack_preprocess(cfg.frame_stack, STACK_NOOP_MAX), **common)
    return TwoActionsVector(envs) if cfg.action_set == "updown" else envs


def _gymnasium_vec_env(cfg: PongConfig, num_envs: int, render_mode: str | None) -> VectorEnv:
    import ale_py

    gym.register_envs(ale_py)

    def make() -> gym.Env:
        kwargs: dict[str, Any] = {"render_mode": render_mode} if render_mode is not None else {}
        if cfg.max_episode_steps is not None:
            kwargs["max_episode_steps"] = cfg.max_episode_steps
        env = gym.make(
            cfg.id, frameskip=cfg.frameskip, repeat_action_probability=cfg.repeat_action_probability, full_action_space=False,
            **kwargs,
        )  # fmt: skip
        if cfg.action_set == "updown":
            env = TwoActions(env)
        return LectureFrames(env)

    fns = [make] * num_envs
    if cfg.vectorization == "async":
        return gym.vector.AsyncVectorEnv(fns, autoreset_mode=AutoresetMode.NEXT_STEP)
    return gym.vector.SyncVectorEnv(fns, autoreset_mode=AutoresetMode.NEXT_STEP)
