"""Pong: the lecture's preprocessing on hand-made frames, both backends, the network's size, an end-to-end CLI run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode, SyncVectorEnv
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from pgtrain.batches import SparseFrames
from pgtrain.config import DiscreteHead, PongConfig
from pgtrain.envs import make_vec_env
from pgtrain.envs.pong import ALE_DOWN, ALE_UP, LectureFrames, LectureFramesVector, TwoActions, lecture_frame
from pgtrain.fast.sparse import SparseInputLinear
from pgtrain.nets import Policy, count_parameters
from tests.conftest import read_summary

BG = 144  # the playing field's red value; 109 is the other background colour
WHITE, GREEN = 236, 92  # the ball's and the agent's paddle's red values


def blank() -> np.ndarray:
    """A 210x160 RGB frame: the field (red 144) in the crop rows, the other background colour (109) above it."""
    frame = np.zeros((210, 160, 3), dtype=np.uint8)
    frame[:, :, 0] = 109
    frame[35:195, :, 0] = BG
    frame[:, :, 1] = 72  # other channels carry values the lecture ignores
    return frame


def at(row: int, col: int) -> int:
    """Index in the 6400-vector of full-frame pixel (row, col); kept rows are 35, 37, ..., 193, kept columns even."""
    return (row - 35) // 2 * 80 + col // 2


def test_lecture_frame_crops_downsamples_erases_and_binarises() -> None:
    frame = blank()
    frame[41, 10, 0] = WHITE  # kept: in the crop, an even row offset from 35, an even column
    frame[101, 150, 0] = GREEN  # kept
    frame[42, 20, 0] = WHITE  # dropped: odd row offset, lost by the downsampling
    frame[61, 21, 0] = WHITE  # dropped: odd column
    frame[20, 30, 0] = WHITE  # dropped: above the crop (the score)
    frame[196, 30, 0] = WHITE  # dropped: below the crop
    frame[50, 50, 0] = 109  # erased: the other background colour inside the crop
    frame[50, 52, 1:] = 255  # erased: only the red channel counts
    out = lecture_frame(frame)
    assert out.shape == (6400,) and out.dtype == np.int8
    assert set(np.flatnonzero(out)) == {at(41, 10), at(101, 150)} == {3 * 80 + 5, 33 * 80 + 75}
    assert out[at(41, 10)] == 1 and out[at(101, 150)] == 1
    # vectorised over leading axes: (N, 1, 210, 160, 3) as the ALE vector env returns them
    batch = np.stack([frame, blank()])[:, None]
    assert np.array_equal(lecture_frame(batch)[:, 0], np.stack([out, np.zeros(6400, np.int8)]))


class FrameEnv(gym.Env):
    """Plays back hand-made frames; the episode terminates on the last one."""

    metadata: dict[str, Any] = {}

    def __init__(self, frames: list[np.ndarray]) -> None:
        self.frames = frames
        self.observation_space = gym.spaces.Box(0, 255, (210, 160, 3), np.uint8)
        self.action_space = gym.spaces.Discrete(6)
        self.t = 0
        self.actions: list[int] = []

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        self.t = 0
        return self.frames[0], {}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        self.actions.append(int(action))
        self.t += 1
        return self.frames[self.t], 0.0, self.t == len(self.frames) - 1, False, {}


def moving_ball() -> list[np.ndarray]:
    """The ball at (41, 10), then (41, 12), then (43, 12)."""
    frames = []
    for row, col in ((41, 10), (41, 12), (43, 12)):
        f = blank()
        f[row, col, 0] = WHITE
        frames.append(f)
    return frames


def test_lecture_wrapper_gives_differences_and_zeros_at_the_start() -> None:
    env = LectureFrames(FrameEnv(moving_ball()))
    obs, _ = env.reset()
    assert obs.dtype == np.int8 and not obs.any()  # the episode's first observation: zeros
    obs, *_ = env.step(0)
    assert obs[at(41, 12)] == 1 and obs[at(41, 10)] == -1 and np.count_nonzero(obs) == 2
    obs, _, terminated, _, _ = env.step(0)
    assert terminated and obs[at(43, 12)] == 1 and obs[at(41, 12)] == -1 and np.count_nonzero(obs) == 2
    obs, _ = env.reset()
    assert not obs.any()


def test_vector_wrapper_matches_and_zeroes_the_autoreset_step() -> None:
    """The main-process numpy wrapper: the same differences; the NEXT_STEP autoreset step starts again from zeros."""
    inner = SyncVectorEnv([lambda: FrameEnv(moving_ball())] * 2, autoreset_mode=AutoresetMode.NEXT_STEP)
    envs = LectureFramesVector(inner)
    single = LectureFrames(FrameEnv(moving_ball()))
    obs, _ = envs.reset(seed=0)
    expected = [single.reset()[0]]
    assert obs.shape == (2, 6400) and not obs.any()
    for _ in range(2):
        obs, _, terminated, _, _ = envs.step(np.zeros(2, dtype=np.int64))
        expected.append(single.step(0)[0])
        assert np.array_equal(obs[0], expected[-1]) and np.array_equal(obs[1], expected[-1])
    assert terminated.all()
    obs, *_ = envs.step(np.zeros(2, dtype=np.int64))  # the autoreset step: a new episode's first frame
    assert not obs.any()
    obs, *_ = envs.step(np.zeros(2, dtype=np.int64))
    assert np.array_equal(obs[0], expected[1])


def test_two_actions_map_to_up_and_down() -> None:
    inner = FrameEnv(moving_ball())
    env = TwoActions(inner)
    assert env.action_space == gym.spaces.Discrete(2)
    env.reset()
    env.step(1)
    env.step(0)
    assert inner.actions == [ALE_UP, ALE_DOWN]


def pong_cfg(**kw: Any) -> PongConfig:
    return PongConfig(**{"name": "pong", "id": "ALE/Pong-v5", "action_type": "discrete", "solve_window": 100, **kw})


def test_the_default_protocol_is_ale_v5s_sticky_actions() -> None:
    """env=pong composes to sticky actions 0.25 (ALE/Pong-v5's default) for every algorithm; 0 is one override away."""
    from hydra import compose, initialize_config_dir

    from pgtrain.cli import CONFIG_DIR
    from pgtrain.config import to_object

    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        for algo in ("reinforce", "a2c"):
            assert to_object(compose("config", overrides=[f"algo={algo}", "env=pong"])).env.repeat_action_probability == 0.25
        off = compose("config", overrides=["algo=reinforce", "env=pong", "env.repeat_action_probability=0"])
        assert to_object(off).env.repeat_action_probability == 0.0
    assert pong_cfg().repeat_action_probability == 0.25


@pytest.mark.parametrize("backend", ["ale_vector", "gymnasium"])
def test_sticky_actions_reach_the_emulator(backend: str) -> None:
    """With sticky probability 1 every frame repeats the previous action, NOOP since the reset: the paddle never moves,
    so always-UP and always-DOWN give the same frames; with 0 they differ. Checked on both backends, so the setting
    is known to reach ale-py's C++ vector env and ALE/Pong-v5 alike."""

    def frames(sticky: float, action: int) -> np.ndarray:
        envs = make_vec_env(pong_cfg(backend=backend, vectorization="sync", repeat_action_probability=sticky), 1)
        obs, _ = envs.reset(seed=0)
        seq = [obs]
        for _ in range(60):
            obs, *_ = envs.step(np.array([action]))
            seq.append(obs)
        envs.close()
        return np.array(seq)

    assert np.array_equal(frames(1.0, 1), frames(1.0, 0))
    assert not np.array_equal(frames(0.0, 1), frames(0.0, 0))


def test_grey_screens_give_the_rgb_screens_lecture_frames() -> None:
    """ale_vector reads ALE's grey-scale screens: lecture_frame_grey of them equals lecture_frame of the RGB screens,
    frame for frame, over a few random games (every colour Pong shows, paddles, ball, walls and score included)."""
    from ale_py.vector_env import AtariVectorEnv

    from pgtrain.envs.pong import lecture_frame_grey

    kw = dict(img_height=210, img_width=160, stack_num=1, maxpool=False, noop_max=0, use_fire_reset=False, num_threads=1)
    rgb, grey = AtariVectorEnv("pong", 4, grayscale=False, **kw), AtariVectorEnv("pong", 4, grayscale=True, **kw)
    obs_rgb, _ = rgb.reset(seed=3)
    obs_grey, _ = grey.reset(seed=3)
    rng = np.random.default_rng(0)
    lit = 0
    for _ in range(400):
        expected = lecture_frame(obs_rgb.reshape(4, 210, 160, 3))
        assert np.array_equal(lecture_frame_grey(obs_grey.reshape(4, 210, 160)), expected)
        lit += int(expected.sum())
        actions = rng.integers(0, 6, size=4)
        obs_rgb, *_ = rgb.step(actions)
        obs_grey, *_ = grey.step(actions)
    rgb.close()
    grey.close()
    assert lit > 400 * 4 * 20  # paddles and ball were there to compare


def test_compiled_lecture_difference_equals_numpy() -> None:
    """kernels.lecture_diff_grey (the ale_vector env's preprocessing) equals lecture_frame_grey of the screens minus
    each env's previous frame, zeros for the envs whose game starts, over real Pong screens in async batches of 3 of
    4 envs (ids in any order); and it updates the previous frames and the fresh flags as the numpy form does."""
    from ale_py.vector_env import AtariVectorEnv

    from pgtrain.envs.pong import lecture_frame_grey
    from pgtrain.fast.kernels import lecture_diff_grey

    kw = dict(img_height=210, img_width=160, stack_num=1, maxpool=False, noop_max=0, use_fire_reset=False, num_threads=1)
    envs = AtariVectorEnv("pong", 4, grayscale=True, batch_size=3, **kw)
    obs, info = envs.reset(seed=5)
    prev, fresh = np.zeros((4, 6400), np.int8), np.ones(4, bool)
    ref_prev, ref_fresh = prev.copy(), fresh.copy()
    rng = np.random.default_rng(0)
    nonzero = 0
    for step in range(300):
        screens, ids = obs.reshape(len(obs), 210, 160), info["env_id"]
        cur = lecture_frame_grey(screens)
        expected = cur - ref_prev[ids]
        expected[ref_fresh[ids]] = 0
        ref_prev[ids], ref_fresh[ids] = cur, False
        np.testing.assert_array_equal(lecture_diff_grey(screens, ids, prev, fresh), expected)
        np.testing.assert_array_equal(prev, ref_prev)
        np.testing.assert_array_equal(fresh, ref_fresh)
        nonzero += int(np.count_nonzero(expected))
        if step % 50 == 49:  # a game starting over: the next frame of that env is a fresh one
            fresh[ids[0]] = ref_fresh[ids[0]] = True
        obs, _, _, _, info = envs.step(rng.integers(2, 4, size=3))
    envs.close()
    assert nonzero > 1000  # the ball and paddles moved: the frames were not all zeros


def test_both_backends_give_the_same_observations() -> None:
    """ale-py's AtariVectorEnv + the numpy vector wrapper == ALE/Pong-v5 + the per-env wrapper, frame for frame (in the
    deterministic game: with sticky actions the two backends seed their randomness differently)."""
    actions = np.random.default_rng(0).integers(0, 2, size=(300, 2))
    runs = []
    for backend in ("ale_vector", "gymnasium"):
        envs = make_vec_env(pong_cfg(backend=backend, vectorization="sync", repeat_action_probability=0.0), 2)
        obs, _ = envs.reset(seed=0)
        seq, rewards = [obs], []
        for a in actions:
            obs, r, *_ = envs.step(a)
            seq.append(obs)
            rewards.append(r)
        envs.close()
        runs.append((np.array(seq), np.array(rewards)))
    (obs_a, rew_a), (obs_g, rew_g) = runs
    assert obs_a.shape == (301, 2, 6400) and obs_a.dtype == np.int8
    assert np.array_equal(obs_a, obs_g) and np.array_equal(rew_a, rew_g)
    assert set(np.unique(obs_a)) == {-1, 0, 1} and (rew_a != 0).any()  # the ball moved, points were scored


def _per_env_runs(envs: Any, n: int, steps: int) -> list[list[tuple[np.ndarray, float]]]:
    """Drive each env with its own action sequence ((env + k) % 3 != 0 at its k-th step), in whatever order the
    vector env returns the envs; each env's (observation, reward) sequence."""
    obs, info = envs.reset(seed=0)
    ids = info["env_id"]
    seqs: list[list[tuple[np.ndarray, float]]] = [[] for _ in range(n)]
    done = np.zeros(n, dtype=int)
    for i, e in enumerate(ids):
        seqs[e].append((obs[i], 0.0))
    while min(len(s) for s in seqs) < steps:
        actions = np.array([int((e + done[e]) % 3 != 0) for e in ids])
        done[ids] += 1
        obs, rewards, *_, info = envs.step(actions)
        ids = info["env_id"]
        for i, e in enumerate(ids):
            seqs[e].append((obs[i], float(rewards[i])))
    return [s[:steps] for s in seqs]


def test_async_batches_give_each_env_the_lockstep_frames() -> None:
    """ale-py's async mode (env.async_batch): batches of whichever envs finish first, named by info["env_id"]; each
    env's difference frames and rewards equal the lockstep env's under the same per-env actions."""
    runs = []
    for batch in (0, 2):
        envs = make_vec_env(pong_cfg(async_batch=batch), 4)
        runs.append(_per_env_runs(envs, 4, 120))
        envs.close()
    lockstep, batched = runs
    for a, b in zip(lockstep, batched, strict=True):
        assert all(np.array_equal(x[0], y[0]) and x[1] == y[1] for x, y in zip(a, b, strict=True))
    assert any(np.count_nonzero(o) for o, _ in batched[0][1:]) and not batched[0][0][0].any()


def test_async_collector_keeps_frame_stacks_dense(monkeypatch: pytest.MonkeyPatch) -> None:
    """AsyncEpisodeCollector: lecture frames are kept sparse (SparseFrames), other observations (frame stacks) as
    they are (from tables of 8 rows at first, which grow)."""
    from pgtrain.collectors import AsyncEpisodeCollector

    monkeypatch.setattr(AsyncEpisodeCollector, "table_rows", 8)

    class Zeros:
        def act(self, obs: np.ndarray, explore: bool = True) -> np.ndarray:
            return np.zeros(len(obs), dtype=np.int64)

    for preprocess, kind in (("stack", np.ndarray), ("lecture", SparseFrames)):
        cfg = pong_cfg(preprocess=preprocess, async_batch=2, max_episode_steps=10, action_set="updown")
        collector = AsyncEpisodeCollector(make_vec_env(cfg, 4), seed=0, episodes=2)
        batch = collector.collect(Zeros())
        assert isinstance(batch.obs, kind) and len(batch.obs) == 20 and batch.lengths.tolist() == [10, 10]
        collector.close()


def test_async_collector_returns_whole_episodes_that_replay_exactly() -> None:
    """AsyncEpisodeCollector: each episode's observations, actions and rewards are one env's, in order: replayed from
    a fresh reset in a single lockstep env (Pong without sticky actions starts every game the same), they come back
    frame for frame."""
    from pgtrain.collectors import AsyncEpisodeCollector

    cfg = pong_cfg(async_batch=2, max_episode_steps=40, repeat_action_probability=0.0)
    collector = AsyncEpisodeCollector(make_vec_env(cfg, 4), seed=0, episodes=6)

    class Random:
        rng = np.random.default_rng(1)

        def act(self, obs: np.ndarray, explore: bool = True) -> np.ndarray:
            return self.rng.integers(0, 2, size=len(obs))

    batch = collector.collect(Random())
    assert batch.lengths.tolist() == [40] * 6 and not batch.terminated.any()  # truncated by the 40-step limit
    assert collector.env_steps >= 240 and [e.length for e in collector.pop_finished()][:6] == [40] * 6
    single = make_vec_env(pong_cfg(max_episode_steps=40, repeat_action_probability=0.0), 1)
    for k in range(6):
        rows = slice(40 * k, 40 * (k + 1))
        obs, _ = single.reset(seed=0)
        replay_obs, replay_rew = [obs[0]], []
        for a in batch.actions[rows]:
            obs, r, *_ = single.step(np.array([a]))
            replay_obs.append(obs[0])
            replay_rew.append(r[0])
        assert np.array_equal(np.array(replay_obs[:40]), batch.obs.dense()[rows])
        assert np.array_equal(np.array(replay_rew, dtype=np.float32), batch.rewards[rows])
        assert np.array_equal(replay_obs[40], batch.final_obs[k])
    collector.close()
    single.close()


def test_stack_preprocessing_gives_cnn_frames() -> None:
    envs = make_vec_env(pong_cfg(preprocess="stack", frame_stack=4, action_set="minimal"), 2)
    obs, _ = envs.reset(seed=0)
    assert obs.shape == (2, 4, 84, 84) and obs.dtype == np.uint8
    assert envs.single_action_space == gym.spaces.Discrete(6)
    envs.close()


def test_lecture_network_has_1280401_parameters() -> None:
    """6400 -> 200 ReLU -> 1 sigmoid: 6400*200 + 200 + 200 + 1 = 1,280,401."""
    policy = Policy(gym.spaces.Box(-1, 1, (6400,), np.int8), gym.spaces.Discrete(2), "mlp", [200], "relu", DiscreteHead.sigmoid)
    assert count_parameters(policy) == 6400 * 200 + 200 + 200 + 1 == 1_280_401
    assert policy.kind == "bernoulli"
    assert isinstance(policy.torso[1][0], SparseInputLinear)


def test_integer_observations_reach_a_dense_torso_as_floats() -> None:
    """A narrow integer observation (no sparse first layer) is cast in the torso; wide int8 frames are not."""
    narrow = Policy(gym.spaces.Box(0, 255, (4,), np.uint8), gym.spaces.Discrete(2), "mlp", [8], "relu")
    probs = narrow.distribution(torch.tensor([[0, 3, 255, 7]], dtype=torch.uint8)).probs
    assert probs.shape == (1, 2) and torch.isfinite(probs).all()
    wide = Policy(gym.spaces.Box(-1, 1, (6400,), np.int8), gym.spaces.Discrete(2), "mlp", [200], "relu", DiscreteHead.sigmoid)
    assert not any(type(m).__name__ == "ToFloat" for m in wide.modules())


@pytest.mark.parametrize("envs", [("algo.num_envs=2",), ("algo.num_envs=4", "env.async_batch=2")], ids=["lockstep", "async"])
def test_short_reinforce_pong_run_writes_the_run_directory(cli, tmp_path: Path, envs: tuple[str, ...]) -> None:
    """The tuned lecture settings end to end; short games (env.max_episode_steps) so that several finish."""
    run = tmp_path / "run"
    res = cli(
        "algo=reinforce", "env=pong", "total_steps=2000", "env.max_episode_steps=150", *envs,
        "algo.episodes_per_update=2", f"hydra.run.dir={run}", "progress=false",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert (run / ".hydra" / "config.yaml").is_file()
    assert list(run.glob("events.out.tfevents.*"))
    assert (run / "checkpoints" / "last.pt").is_file()
    summary = read_summary(run)
    for key in ("algo", "env", "seed", "env_steps", "episodes", "wall_time_s", "steps_per_second", "final_return"):
        assert key in summary
    assert summary["algo"] == "reinforce" and summary["env"] == "pong"
    assert summary["env_steps"] >= 2000 and summary["episodes"] >= 4 and summary["updates"] >= 2
    # 150-step games (600 frames): a point takes 64 steps at the earliest after a reset and about 40 after another, so
    # a game's score is an integer in [-3, 3]; an untrained agent loses more points than it wins
    acc = EventAccumulator(str(run), size_guidance={"scalars": 0})
    acc.Reload()
    scores = [e.value for e in acc.Scalars("train/episodic_return")]
    assert len(scores) == summary["episodes"] and all(s == int(s) and -3 <= s <= 3 for s in scores), scores
    assert [e.value for e in acc.Scalars("train/episodic_length")] == [150.0] * len(scores)
    assert summary["final_return"] == pytest.approx(np.mean(scores[-100:]), rel=1e-6) and summary["final_return"] < 0
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert sum(v.numel() for k, v in state["algo_state"]["policy"].items()) == 1_280_401


def test_stack_on_the_gymnasium_backend_is_refused_before_the_run(cli, tmp_path: Path) -> None:
    res = cli("algo=reinforce", "env=pong", "env.preprocess=stack", "env.backend=gymnasium", f"hydra.run.dir={tmp_path / 'r'}")
    assert res.returncode != 0 and "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines()[-1].startswith("pgtrain: error: env.preprocess=stack runs on env.backend=ale_vector")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(("extra", "in_channels"), [((), 1), (("env.preprocess=stack",), 4)])
def test_short_a2c_pong_run_with_the_cnn(cli, tmp_path: Path, extra: tuple[str, ...], in_channels: int) -> None:
    """The tuned A2C settings run end to end: the small CNN on the lecture's 80x80 difference frames (one channel),
    and with env.preprocess=stack the Nature CNN on 4 stacked 84x84 frames."""
    run = tmp_path / "run"
    res = cli("algo=a2c", "env=pong", "total_steps=200", "algo.num_envs=4", f"hydra.run.dir={run}", "progress=false", *extra)
    assert res.returncode == 0, res.stderr
    summary = read_summary(run)
    assert summary["algo"] == "a2c" and summary["env_steps"] >= 200 and summary["updates"] >= 10
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert state["algo_state"]["policy"]["torso.net.0.weight"].shape[1] == in_channels  # the CNN's first convolution


def test_short_ppo_pong_run_with_the_small_cnn(cli, tmp_path: Path) -> None:
    """configs/tuned/ppo_pong.yaml runs end to end: the small CNN, one torso shared by policy and value."""
    run = tmp_path / "run"
    args = ("total_steps=256", "algo.num_envs=4", "algo.n_steps=32", "algo.batch_size=64", "progress=false")
    res = cli("algo=ppo", "env=pong", *args, f"hydra.run.dir={run}")
    assert res.returncode == 0, res.stderr
    summary = read_summary(run)
    assert summary["algo"] == "ppo" and summary["env_steps"] >= 256 and summary["updates"] == 2 * 4 * 2  # rollouts x epochs x minibatches
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert state["algo_state"]["policy"]["torso.net.0.weight"].shape[1] == 1
    assert state["algo_state"]["value"]["weight"].shape == (1, 256)  # a linear value head on the shared torso


def test_small_cnn_reads_the_lecture_frames_as_80x80_images() -> None:
    """algo.network=cnn on the lecture's flat 6400-value frames: the 2013 DQN torso (16 8x8/4, 32 4x4/2, 256) on one
    80x80 channel; a pixel's position in the image is its position in the frame (row-major), not a flat feature."""
    from pgtrain.nets import SmallCNN

    space = gym.spaces.Box(-1, 1, (6400,), np.int8)
    policy = Policy(space, gym.spaces.Discrete(2), "cnn", [], "relu")
    assert isinstance(policy.torso, SmallCNN)
    conv1, conv2, fc = policy.torso.net[0], policy.torso.net[2], policy.torso.net[5]
    assert (conv1.in_channels, conv1.out_channels, conv1.kernel_size, conv1.stride) == (1, 16, (8, 8), (4, 4))
    assert (conv2.out_channels, conv2.kernel_size, conv2.stride) == (32, (4, 4), (2, 2))
    assert (fc.in_features, fc.out_features) == (32 * 8 * 8, 256)  # 80 -> 19 -> 8
    frames = torch.zeros(2, 6400, dtype=torch.int8)
    frames[1, at(101, 80)] = 1  # one lit pixel in frame 1 only
    with torch.no_grad():
        conv_out = conv1(frames.float().reshape(2, 1, 80, 80))
        torso_out = policy.torso(frames)
    assert torso_out.shape == (2, 256)
    changed = (conv_out[1] != conv_out[0]).any(0).nonzero()  # conv1 cells whose 8x8/4 window holds pixel (33, 40)
    assert {tuple(c) for c in changed.tolist()} == {(7, 9), (7, 10), (8, 9), (8, 10)}  # rows 28-39, columns 36-47


def test_cnn_refuses_observations_it_cannot_read() -> None:
    from pgtrain.errors import PgtrainError

    with pytest.raises(PgtrainError, match="needs image observations"):
        Policy(gym.spaces.Box(-1, 1, (4,), np.float32), gym.spaces.Discrete(2), "cnn", [], "relu")


def test_curve_wall_time_drops_the_pause_of_a_stop_and_resume() -> None:
    """scripts/pong_curve.py plots training time: a 600 s gap between two games (stopped, resumed) is cut out, the
    ordinary gaps between games are kept."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("pong_curve", Path(__file__).parent.parent / "scripts" / "pong_curve.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    wall = np.array([0.0, 2.0, 3.5, 603.5, 605.0])
    np.testing.assert_allclose(module.without_pauses(wall, 120.0), [0.0, 2.0, 3.5, 3.5, 5.0])


def test_throughput_benchmark_runs_and_reports_both_phases(tmp_path: Path) -> None:
    """scripts/bench_pong_throughput.py end to end, tiny: two rounds of the raw phases and two training variants side
    by side; the figures are the rounds' medians."""
    import json
    import subprocess
    import sys

    out = tmp_path / "bench.json"
    res = subprocess.run(
        [sys.executable, "scripts/bench_pong_throughput.py", "--raw-seconds", "0.25", "--train-seconds", "1", "--json", str(out),
         "--rounds", "2", "--raw-batch", "2", "3", "--raw-envs", "2", "--variants", "", "env.async_batch=0",
         "--", "algo.num_envs=4", "env.async_batch=2"],
        cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    figures = json.loads(out.read_text())
    assert figures["num_envs"] == 4 and figures["emulator_sps"] > 0 and figures["env_sps"] > 0
    # the denominator: the faster of the bare emulators in lockstep and in async mode, under the run's sticky actions
    # (the fastest of the async batches measured, 2 and 3 of the 4 envs)
    by_batch = {int(b): sps for b, sps in figures["emulator_async_by_batch"].items()}
    assert sorted(by_batch) == [2, 3] and figures["repeat_action_probability"] == 0.25
    assert figures["emulator_async_sps"] == max(by_batch.values()) == by_batch[figures["emulator_async_batch"]]
    assert figures["emulator_sps"] == max(figures["emulator_lockstep_sps"], figures["emulator_async_sps"])
    assert [r["variant"] for r in figures["runs"]] == ["", "env.async_batch=0"]
    rounds = figures["rounds"]
    assert len(rounds) == 2 and all(sorted(r["emulator_by_form"]) == ["2", "3", "lockstep"] for r in rounds)
    assert figures["emulator_lockstep_sps"] == pytest.approx(np.median([r["emulator_by_form"]["lockstep"] for r in rounds]))
    assert by_batch[3] == pytest.approx(np.median([r["emulator_by_form"]["3"] for r in rounds]))
    for i, run in enumerate(figures["runs"]):
        assert run["train_sps"] > 0 and run["summary"]["env_steps"] > 0
        assert run["train_sps"] == pytest.approx(np.median([r["training"][i]["train_sps"] for r in rounds]))
        assert run["ratio_emulator"] == pytest.approx(run["train_sps"] / figures["emulator_sps"])
        assert len(run["ratio_emulator_by_round"]) == 2
    # the second denominator: the raw forms at another env count (2 envs: lockstep, async 1, once though 3/4 of 2 is 1 too)
    assert sorted(figures["emulator_other_envs"]) == ["2 async 1", "2 lockstep"]
    other = [r["emulator_other_envs"] for r in rounds]
    assert figures["emulator_other_envs"]["2 lockstep"] == pytest.approx(np.median([o["2 lockstep"] for o in other]))
    assert figures["emulator_any_envs_sps"] == max(figures["emulator_sps"], *figures["emulator_other_envs"].values())
    for run in figures["runs"]:
        assert run["ratio_emulator_any_envs"] == pytest.approx(run["train_sps"] / figures["emulator_any_envs_sps"])


def test_learner_cpu_benchmark_measures_the_bare_emulators() -> None:
    """scripts/bench_pong_learner_cpu.py --raw: the bare emulators' process CPU per env step (the denominator of the
    CPU-time ratio), in async mode as configured and in lockstep."""
    import re
    import subprocess
    import sys

    for overrides, mode in ((["env.async_batch=2"], "async 2 of 4"), (["env.async_batch=0"], "lockstep")):
        res = subprocess.run(
            [sys.executable, "scripts/bench_pong_learner_cpu.py", "--raw", "--steps", "200", "--", "algo.num_envs=4", *overrides],
            cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert res.returncode == 0, res.stderr
        line = re.search(rf"bare emulators \({mode}\), random actions: 200 env steps: process CPU ([0-9.]+) us", res.stdout)
        assert line is not None and float(line.group(1)) > 0, res.stdout


def test_periodic_evaluation_plays_each_game_from_its_own_seed() -> None:
    """collectors.evaluate (eval_interval) under the run's own env settings: with sticky actions, games played with the
    same actions differ from game to game, because each env is reset with its own seed (seed + k); in the
    deterministic game the same actions give the same game, so the difference comes from the seeds."""
    from pgtrain.playing import evaluate

    class Recorder:
        """Always UP; keeps every observation the evaluation hands it."""

        def __init__(self) -> None:
            self.seen: list[np.ndarray] = []

        def act(self, obs: np.ndarray, explore: bool = True) -> np.ndarray:
            self.seen.append(obs.copy())
            return np.ones(len(obs), dtype=np.int64)

    def games(sticky: float) -> np.ndarray:
        recorder = Recorder()
        cfg = pong_cfg(max_episode_steps=80, repeat_action_probability=sticky, async_batch=2)
        returns = evaluate(recorder, cfg, episodes=3, seed=11)
        assert len(returns) == 3
        return np.array(recorder.seen).transpose(1, 0, 2)  # (game, step, 6400)

    sticky = games(0.25)
    assert not np.array_equal(sticky[0], sticky[1]) and not np.array_equal(sticky[1], sticky[2])
    assert not np.array_equal(sticky[0], sticky[2])
    fixed = games(0.0)
    assert np.array_equal(fixed[0], fixed[1]) and np.array_equal(fixed[1], fixed[2])


def test_pgtrain_eval_plays_pong_under_the_protocol_or_an_override(cli, tmp_path: Path) -> None:
    """pgtrain-eval on a Pong run plays under the run's own sticky actions (0.25) by default and under
    env.repeat_action_probability=0 when told; each record says which, with its seeds and returns."""
    import json

    from tests.conftest import run_cli

    run = tmp_path / "pong"
    train = ("algo=reinforce", "env=pong", "algo.num_envs=1", "algo.episodes_per_update=1", "env.max_episode_steps=150")
    res = cli(*train, "total_steps=1", f"hydra.run.dir={run}")
    assert res.returncode == 0, res.stderr
    for extra in ((), ("env.repeat_action_probability=0",)):
        res = run_cli(str(run), *extra, "--episodes", "2", cwd=tmp_path, module="pgtrain.evaluation")
        assert res.returncode == 0, res.stderr
    protocol, deterministic = json.loads((run / "eval.json").read_text())["evaluations"]
    assert protocol["env_config"]["repeat_action_probability"] == 0.25 and protocol["env_overrides"] == []
    assert deterministic["env_config"]["repeat_action_probability"] == 0.0
    assert deterministic["env_overrides"] == ["env.repeat_action_probability=0"]
    for record in (protocol, deterministic):
        assert record["seeds"] == [100_000, 100_001] and len(record["returns"]) == 2 and record["lengths"] == [150, 150]
    res = run_cli(str(run), "env.sticky=0.25", cwd=tmp_path, module="pgtrain.evaluation")
    assert (
        res.returncode == 2
        and res.stderr.strip() == "pgtrain-eval: error: env.sticky: no such setting for env=pong (its settings: pgtrain/config.py)"
    )
    assert len(json.loads((run / "eval.json").read_text())["evaluations"]) == 2


def test_learning_benchmark_budget_is_open_unless_total_steps_is_given(tmp_path: Path) -> None:
    """bench_pong_learning.py stops an open budget after --minutes; a total_steps override replaces it (PPO's anneal_lr
    schedule then ends with the run), and is passed once, the user's value."""
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "scripts" / "bench_pong_learning.py"
    spec = importlib.util.spec_from_file_location("bench_pong_learning", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    open_args = module.pgtrain_args("ppo", ["seed=1"], tmp_path)
    assert [a for a in open_args if a.startswith("total_steps=")] == ["total_steps=1000000000"]
    given = module.pgtrain_args("ppo", ["total_steps=3300000"], tmp_path)
    assert [a for a in given if a.startswith("total_steps=")] == ["total_steps=3300000"]
    assert given[:2] == ["algo=ppo", "env=pong"] and f"hydra.run.dir={tmp_path}" in given


def test_learning_benchmark_runs_trains_evaluates_and_reports(tmp_path: Path) -> None:
    """scripts/bench_pong_learning.py end to end with a budget of seconds: a run, the four evaluations (sticky and
    deterministic game, argmax and sampled), the curve's figures, the targets and the PNG."""
    import json
    import subprocess
    import sys

    run = tmp_path / "run"
    res = subprocess.run(
        [sys.executable, "scripts/bench_pong_learning.py", "--minutes", "0.05", "--episodes", "1", "--run-dir", str(run),
         "--", "algo.num_envs=2", "env.max_episode_steps=60", "algo.episodes_per_update=2"],
        cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    figures = json.loads((run / "bench_learning.json").read_text())
    assert figures["summary"]["env_steps"] > 0 and figures["curve"]["final"]["games"] > 0
    keys = ("eval_protocol", "eval_deterministic_game")
    modes = {key: [(r["repeat_action_probability"], r["actions"]) for r in figures[key]] for key in keys}
    assert modes["eval_protocol"] == [(0.25, "argmax"), (0.25, "sampled")]
    assert modes["eval_deterministic_game"] == [(0.0, "argmax"), (0.0, "sampled")]
    assert set(figures["targets"]) == {"last100_ge_0_within_10_min", "last100_ge_15_within_30_min", "sticky_eval_argmax_ge_15"}
    assert (run / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
