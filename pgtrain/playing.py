"""Playing episodes with a policy: a training run's evaluation episodes, and single episodes, rendered and written as
MP4 videos (for ``pgtrain-eval`` and for the videos recorded during training). Videos show what the env renders
(``render_mode="rgb_array"``): for Pong that is the real game screen, not the preprocessed observation."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from pgtrain.errors import PgtrainError
from pgtrain.files import AtomicPath, Writing

DEFAULT_FPS = 30


# ----------------------------------------------------------------------------------------------------------------------
# Playing episodes


def make_play_env(env_cfg: Any, render: bool, normalization: dict[str, Any] | None = None) -> gym.vector.VectorEnv:
    """One copy of the env (a one-env vector env, as the algorithms expect batches), rendering RGB frames if ``render``;
    observations normalised with a run's frozen ``normalization`` statistics where the env normalises them."""
    from pgtrain.envs import make_vec_env

    if render:
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # pygame renders off-screen: no display needed
        os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
        os.environ.setdefault("MUJOCO_GL", "egl")  # MuJoCo renders headless through EGL (libEGL), no display needed
        os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])
    return make_vec_env(
        dataclasses.replace(env_cfg, vectorization="sync"),
        1,
        render_mode="rgb_array" if render else None,
        training=False,
        normalization=normalization,
    )


def play_episode(
    algo: Any, envs: gym.vector.VectorEnv, seed: int, explore: bool, on_frame: Callable[[np.ndarray], None] | None = None
) -> tuple[float, int]:
    """Play one episode in the one-env ``envs`` from ``reset(seed=seed)``; returns ``(return, length)``.

    ``on_frame`` receives every rendered ``(H, W, 3)`` uint8 frame, the reset frame included (``length + 1`` frames).
    """
    from pgtrain.envs import clip_actions

    obs, _ = envs.reset(seed=seed)
    if on_frame is not None:
        on_frame(_frame(envs))
    total, length, done = 0.0, 0, False
    while not done:
        actions = clip_actions(envs.single_action_space, algo.act(obs, explore=explore))
        obs, rewards, terminated, truncated, _ = envs.step(actions)
        total += float(rewards[0])
        length += 1
        done = bool(terminated[0] or truncated[0])
        if on_frame is not None:
            on_frame(_frame(envs))
    return total, length


def evaluate(
    algo: Any, env_cfg: Any, episodes: int, seed: int, explore: bool = False, normalization: dict[str, Any] | None = None
) -> list[float]:
    """Returns of ``episodes`` episodes played with deterministic actions (``explore=False``), one per env copy (env k
    from ``seed + k``): a training run's evaluation; the observations normalised with the training run's
    ``normalization`` statistics, frozen (env.normalize_obs)."""
    from pgtrain.envs import clip_actions, make_vec_env

    if getattr(env_cfg, "async_batch", 0):
        env_cfg = dataclasses.replace(env_cfg, async_batch=0)  # every episode in lockstep
    envs = make_vec_env(env_cfg, episodes, training=False, normalization=normalization)
    try:
        obs, _ = envs.reset(seed=seed)
        returns = np.zeros(episodes)
        running = np.ones(episodes, dtype=bool)
        while running.any():
            actions = clip_actions(envs.single_action_space, algo.act(obs, explore=explore))
            obs, rewards, terminated, truncated, _ = envs.step(actions)
            returns += rewards * running
            running &= ~(terminated | truncated)
        return returns.tolist()
    finally:
        envs.close()


def _frame(envs: gym.vector.VectorEnv) -> np.ndarray:
    try:
        frames = envs.render()
    except Exception as ex:  # MuJoCo without an OpenGL library raises its own FatalError
        if type(ex).__module__.split(".")[0] != "mujoco":
            raise
        raise PgtrainError(
            f"MuJoCo cannot render here ({str(ex).splitlines()[0]}): install EGL (apt-get install libegl1) or set MUJOCO_GL=osmesa"
        ) from None
    if not frames or frames[0] is None:
        raise PgtrainError("this env renders no RGB frames (render_mode='rgb_array' gave nothing); cannot record a video")
    return np.asarray(frames[0], dtype=np.uint8)


def render_fps(envs: gym.vector.VectorEnv) -> float:
    return float(envs.metadata.get("render_fps") or DEFAULT_FPS)


class Mp4Writer:
    """Streams RGB frames into an H.264 MP4 with the ffmpeg binary that ships inside the imageio-ffmpeg wheel.

    Frames are padded to even sizes (yuv420p needs them); the file appears under its name only when complete. ffmpeg
    speaks only of fatal errors: a full disk, which it reports in several lines, leaves as one DiskFull line.
    """

    def __init__(self, path: Path, fps: float) -> None:
        self.path = Path(path)
        self.fps = fps
        self.file = AtomicPath(self.path)
        self.writing = Writing(self.path)
        self.gen: Any = None
        self.frames = 0

    def __call__(self, frame: np.ndarray) -> None:
        h, w = frame.shape[:2]
        with self.writing:
            if self.gen is None:
                import imageio_ffmpeg

                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.size = (w + w % 2, h + h % 2)
                self.gen = imageio_ffmpeg.write_frames(
                    str(self.file.tmp), self.size, fps=self.fps, macro_block_size=2, ffmpeg_log_level="fatal", quality=7
                )
                self.gen.send(None)
            if (w, h) != self.size:
                frame = np.pad(frame, ((0, self.size[1] - h), (0, self.size[0] - w), (0, 0)))
            self.gen.send(np.ascontiguousarray(frame))
        self.frames += 1

    def close(self) -> None:
        if self.gen is None:
            raise PgtrainError(f"no frames to write into {self.path}")
        with self.writing:
            self.gen.close()
        self.file.commit()

    def abort(self) -> None:
        if self.gen is not None:
            try:
                self.gen.close()
            except OSError:  # ffmpeg failed already (what is being reported): its file goes anyway
                pass
        self.file.discard()


class FrameSampler:
    """Keeps at most ``max_frames`` evenly spaced frames of a stream (every ``stride``-th; the stride doubles as needed)."""

    def __init__(self, max_frames: int = 400) -> None:
        self.max_frames = max_frames
        self.stride = 1
        self.count = 0
        self.frames: list[np.ndarray] = []

    def __call__(self, frame: np.ndarray) -> None:
        if self.count % self.stride == 0:
            self.frames.append(frame)
            if len(self.frames) > self.max_frames:
                self.frames = self.frames[::2]
                self.stride *= 2
        self.count += 1


def record_video(
    algo: Any, env_cfg: Any, path: Path, seed: int, explore: bool = False, normalization: dict[str, Any] | None = None
) -> tuple[float, FrameSampler, float]:
    """Play one episode, write it to ``path`` (MP4); returns ``(return, sampled frames, fps)`` for a TensorBoard preview."""
    envs = make_play_env(env_cfg, render=True, normalization=normalization)
    fps = render_fps(envs)
    writer, sampler = Mp4Writer(path, fps), FrameSampler()
    try:
        ret, _ = play_episode(algo, envs, seed, explore, on_frame=lambda f: (writer(f), sampler(f)))
        writer.close()
    except BaseException:
        writer.abort()
        raise
    finally:
        envs.close()
    return ret, sampler, fps
