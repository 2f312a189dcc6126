"""Any gymnasium env by id (env=gym), any ALE game (env=atari), the Box2D/MuJoCo presets, normalisation, and the
refusals of what cannot run (one line, exit status 2, nothing written)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import SyncVectorEnv
from gymnasium.wrappers.vector import RecordEpisodeStatistics
from hydra import compose, initialize_config_dir

from pgtrain import checkpoint
from pgtrain.algos.ddpg import DDPGConfig
from pgtrain.cli import CONFIG_DIR
from pgtrain.collectors import ReplayCollector, RolloutCollector
from pgtrain.config import AtariConfig, EnvConfig, to_object
from pgtrain.envs import make_vec_env
from pgtrain.envs.normalize import NormalizeObservation, NormalizeReward, normalization_state, normalize_obs, scale_rewards
from pgtrain.envs.specs import action_type_of, check_env
from pgtrain.envs.state import env_state, load_env_state
from pgtrain.errors import PgtrainError
from tests.conftest import read_summary, tensors_equal


def _config(*overrides: str):
    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        cfg = to_object(compose("config", overrides=list(overrides)))
    check_env(cfg.env, cfg.algo)
    return cfg


# ----------------------------------------------------------------------------------------------------------------------
# Composition of generic ids


def test_discrete_id_takes_its_action_type_threshold_and_vectorization_from_the_env():
    cfg = _config("env=gym", "env.id=Acrobot-v1")
    assert cfg.env.action_type.value == "discrete"
    assert cfg.env.solve_threshold == gym.spec("Acrobot-v1").reward_threshold == -100
    envs = make_vec_env(cfg.env, 3)
    try:
        assert isinstance(envs, RecordEpisodeStatistics) and isinstance(envs.env, SyncVectorEnv)  # no vector entry point
        assert envs.single_action_space == gym.spaces.Discrete(3)
        envs.reset(seed=0)
        obs, rewards, *_ = envs.step(np.array([0, 1, 2]))
        assert obs.shape == (3, 6) and rewards.shape == (3,)
    finally:
        envs.close()


def test_continuous_id_is_continuous_and_its_actions_are_clipped_to_the_box():
    cfg = _config("env=gym", "env.id=MountainCarContinuous-v0", "algo=ddpg")
    assert cfg.env.action_type.value == "continuous" and cfg.env.solve_threshold == 90
    states = []
    for action in (1e6, 1.0):  # the same start; an action of 1e6 must act as the bound 1
        collector = RolloutCollector(make_vec_env(cfg.env, 1), seed=0, n_steps=1)
        try:
            collector.send(np.array([[action]], dtype=np.float32))
            collector.receive()
            states.append(collector.envs.env.envs[0].unwrapped.state.copy())
        finally:
            collector.close()
    assert np.array_equal(states[0], states[1])


def test_vector_entry_point_is_used_where_the_env_has_one():
    cfg = _config("env=gym", "env.id=CartPole-v1")
    envs = make_vec_env(cfg.env, 4)
    try:
        assert not isinstance(envs.env, SyncVectorEnv) and type(envs.env).__name__ == "CartPoleVectorEnv"
    finally:
        envs.close()


@pytest.mark.parametrize("override", ["+env.kwargs.continuous=true", "++env.kwargs={continuous:true}"])
def test_gym_make_kwargs_pass_through(override):
    cfg = _config("env=gym", "env.id=LunarLander-v3", override, "algo=ddpg")
    assert cfg.env.kwargs == {"continuous": True} and cfg.env.action_type.value == "continuous"
    envs = make_vec_env(cfg.env, 1)
    try:
        assert envs.single_action_space.shape == (2,)
    finally:
        envs.close()


def test_action_spaces_other_than_discrete_and_box_are_refused():
    with pytest.raises(PgtrainError, match="MultiDiscrete action space .* Discrete and one-dimensional Box actions only"):
        action_type_of("X-v0", gym.spaces.MultiDiscrete([2, 3]))


def test_sigmoid_head_needs_two_actions():
    with pytest.raises(PgtrainError, match="discrete_head=sigmoid needs exactly two actions; Acrobot-v1 has 3"):
        _config("env=gym", "env.id=Acrobot-v1", "algo.discrete_head=sigmoid")


@pytest.mark.parametrize("env", ["lunarlander", "halfcheetah", "hopper"])
def test_presets_name_their_action_type_and_threshold(env):
    cfg = _config(f"env={env}")
    spec = gym.spec(cfg.env.id)
    assert cfg.env.solve_threshold == spec.reward_threshold
    _, space = gym.make(cfg.env.id).observation_space, gym.make(cfg.env.id).action_space
    assert cfg.env.action_type.value == action_type_of(cfg.env.id, space)


# ----------------------------------------------------------------------------------------------------------------------
# Observations as the networks read them (pgtrain.envs.observations)


def _observation_space(*overrides: str) -> gym.Space:
    cfg = _config("env=gym", *overrides)
    envs = make_vec_env(cfg.env, 1)
    try:
        return envs.single_observation_space
    finally:
        envs.close()


def test_discrete_observations_are_one_hot():
    """Taxi's state s (0..499) becomes the float32 vector with a single 1 at index s."""
    envs = make_vec_env(_config("env=gym", "env.id=Taxi-v4").env, 2)
    raw = gym.make("Taxi-v4")
    try:
        assert envs.single_observation_space.shape == (500,) and envs.single_observation_space.dtype == np.float32
        obs, _ = envs.reset(seed=7)
        first, _ = raw.reset(seed=7)  # env 0 of the vector env is seeded with 7
        assert obs.dtype == np.float32 and obs.shape == (2, 500)
        assert obs[0, first] == 1.0 and obs[0].sum() == 1.0 and obs[1].sum() == 1.0
    finally:
        envs.close()
        raw.close()


def test_tuple_observations_are_concatenated_one_hots():
    """Blackjack's (player sum 0..31, dealer card 0..10, usable ace 0..1) is 32 + 11 + 2 = 45 values, three of them 1."""
    envs = make_vec_env(_config("env=gym", "env.id=Blackjack-v1").env, 1)
    raw = gym.make("Blackjack-v1")
    try:
        obs, _ = envs.reset(seed=3)
        (player, dealer, ace), _ = raw.reset(seed=3)
        assert obs.shape == (1, 45) and obs.sum() == 3.0
        assert obs[0, player] == obs[0, 32 + dealer] == obs[0, 43 + ace] == 1.0
    finally:
        envs.close()
        raw.close()


@pytest.mark.parametrize(
    "overrides, shape",
    [
        ([], (4, 84, 84)),  # 84x84, grey, 4 frames: the Atari protocol's stack
        (["env.grayscale=false", "env.frame_stack=2"], (6, 84, 84)),  # 2 RGB frames: 6 planes
        (["env.image_size=0", "env.frame_stack=1"], (1, 96, 96)),  # the env's own 96x96, one grey frame
    ],
    ids=["default", "colour", "native-size"],
)
def test_image_observations_are_resized_grey_stacked_channels_first(overrides, shape):
    space = _observation_space("env.id=CarRacing-v3", "algo=ppo", *overrides)
    assert space.shape == shape and space.dtype == np.uint8


def test_colour_frames_keep_their_planes_in_order():
    """Channel 3k + c of a colour stack is plane c (R, G, B) of frame k, the newest frame last."""
    cfg = _config("env=gym", "env.id=CarRacing-v3", "algo=ppo", "env.grayscale=false", "env.frame_stack=2", "env.image_size=0")
    envs, raw = make_vec_env(cfg.env, 1), gym.make("CarRacing-v3")
    try:
        obs, _ = envs.reset(seed=5)
        frame, _ = raw.reset(seed=5)
        np.testing.assert_array_equal(obs[0, 3:6], frame.transpose(2, 0, 1))  # the newest frame
        np.testing.assert_array_equal(obs[0, :3], obs[0, 3:6])  # FrameStackObservation starts with the first frame repeated
    finally:
        envs.close()
        raw.close()


class _SpacesEnv(gym.Env):
    """A tiny env with the given observation space (gymnasium registers none with a Dict of Boxes or a Text space)."""

    def __init__(self, observation_space: gym.Space) -> None:
        self.observation_space, self.action_space = observation_space, gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action):
        return self.observation_space.sample(), 0.0, False, False, {}


def test_dict_of_vectors_is_flattened_and_a_dict_holding_an_image_is_refused():
    from pgtrain.envs.observations import ObservationOptions, wrap_observations

    space = gym.spaces.Dict({"pos": gym.spaces.Box(-1, 1, (3,)), "mode": gym.spaces.Discrete(4), "bits": gym.spaces.MultiBinary(2)})
    env = wrap_observations(_SpacesEnv(space), ObservationOptions(), "X-v0")
    assert env.observation_space.shape == (3 + 4 + 2,) and env.reset(seed=0)[0].dtype == np.float32
    image = gym.spaces.Dict({"pixels": gym.spaces.Box(0, 255, (64, 64, 3), np.uint8), "pos": gym.spaces.Box(-1, 1, (3,))})
    with pytest.raises(PgtrainError, match="X-v0's Dict observation holds an image at 'pixels'"):
        wrap_observations(_SpacesEnv(image), ObservationOptions(), "X-v0")
    with pytest.raises(PgtrainError, match="X-v0 has a Text observation space"):
        wrap_observations(_SpacesEnv(gym.spaces.Text(5)), ObservationOptions(), "X-v0")


def test_a_preset_given_another_id_runs_it_as_env_gym_would():
    cfg = _config("env=cartpole", "env.id=Acrobot-v1")
    assert cfg.env.vectorization == "auto" and cfg.env.solve_threshold == -100 and cfg.env.action_type.value == "discrete"
    assert _config("env=pendulum", "env.id=CartPole-v1").env.action_type.value == "discrete"
    kept = _config("env=cartpole", "env.id=Acrobot-v1", "env.solve_threshold=-90").env  # a value of the user's own stays
    assert kept.solve_threshold == -90


# ----------------------------------------------------------------------------------------------------------------------
# Every kind of registered env, with each algorithm that can drive it

ON_POLICY = {
    "reinforce": ["algo=reinforce", "algo.num_envs=2", "algo.episodes_per_update=1"],
    "a2c": ["algo=a2c", "algo.num_envs=2", "algo.n_steps=8"],
    "ppo": ["algo=ppo", "algo.num_envs=2", "algo.n_steps=8", "algo.batch_size=16", "algo.n_epochs=1"],
}
OFF_POLICY = {
    name: [f"algo={name}", "algo.num_envs=1", "algo.learning_starts=32", "algo.batch_size=16", "algo.buffer_size=1000"]
    for name in ("ddpg", "td3", "sac")
}
# id overrides -> the algorithms to run; episodes cut to env.max_episode_steps so that REINFORCE has whole ones
KINDS = {
    "classic-discrete": (["env=gym", "env.id=Acrobot-v1", "env.max_episode_steps=30"], ON_POLICY),
    "classic-continuous": (["env=gym", "env.id=MountainCarContinuous-v0", "env.max_episode_steps=30"], {**ON_POLICY, **OFF_POLICY}),
    "toy-text-taxi": (["env=gym", "env.id=Taxi-v4", "env.max_episode_steps=30"], ON_POLICY),
    "toy-text-frozenlake": (["env=gym", "env.id=FrozenLake-v1"], ON_POLICY),
    "toy-text-cliffwalking": (["env=gym", "env.id=CliffWalking-v1", "env.max_episode_steps=30"], ON_POLICY),
    "toy-text-blackjack": (["env=gym", "env.id=Blackjack-v1"], ON_POLICY),
    "box2d-lunarlander": (["env=gym", "env.id=LunarLander-v3", "env.max_episode_steps=30"], ON_POLICY),
    "box2d-bipedalwalker": (["env=gym", "env.id=BipedalWalker-v3", "env.max_episode_steps=30"], {**ON_POLICY, **OFF_POLICY}),
    "box2d-carracing": (["env=gym", "env.id=CarRacing-v3", "env.max_episode_steps=6"], ON_POLICY),
    "mujoco": (["env=gym", "env.id=InvertedPendulum-v5", "env.max_episode_steps=30"], {**ON_POLICY, **OFF_POLICY}),
    "ale": (["env=atari", "env.id=ALE/Breakout-v5", "env.max_episode_steps=30"], ON_POLICY),
}


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_of_env_trains_with_each_algorithm_that_can_drive_it(tmp_path, kind):
    """A hundred or more env steps (a few dozen for CarRacing and ALE, whose frames are drawn or learnt from slowly) and
    at least one update with each algorithm, through the workspace a run uses; image observations get the CNN."""
    from pgtrain.workspace import Workspace

    env_args, algos = KINDS[kind]
    total = {"box2d-carracing": 24, "ale": 64}.get(kind, 160)
    for name, algo_args in algos.items():
        with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
            args = [*env_args, *algo_args, f"total_steps={total}", "progress=false", "checkpoint_every_s=0"]
            if kind != "box2d-carracing" and kind != "ale":
                args.append("algo.hidden_sizes=[16]")
            raw = compose("config", overrides=args)
        run = tmp_path / name
        workspace = Workspace(raw, run)
        summary = workspace.train()
        assert summary["env_steps"] >= total and summary["updates"] >= 1, (name, summary)
        assert summary["episodes"] >= 1, (name, summary)
        if kind in ("box2d-carracing", "ale"):  # PPO on an ALE game too, which no tuned file gives the CNN
            assert workspace.cfg.algo.network == "cnn" and workspace.algo.obs_space.shape == (4, 84, 84)


# ----------------------------------------------------------------------------------------------------------------------
# Normalisation


def _norm_cfg(**kw) -> EnvConfig:
    return EnvConfig(
        name="pendulum",
        id="Pendulum-v1",
        action_type="continuous",
        vectorization="sync",
        solve_window=10,
        **{"normalize_obs": True, "normalize_reward": True, **kw},
    )


def _random_steps(envs, n: int, seed: int = 0) -> None:
    envs.reset(seed=seed)
    envs.action_space.seed(seed)
    for _ in range(n):
        envs.step(envs.action_space.sample())


def test_normalised_observations_and_rewards_are_standardised_and_clipped():
    envs = make_vec_env(_norm_cfg(normalize_clip=3.0), 4)
    try:
        assert isinstance(envs, NormalizeReward) and isinstance(envs.env, NormalizeObservation)
        assert isinstance(envs.env.env, RecordEpisodeStatistics)  # the logged returns are the env's own
        _random_steps(envs, 300)
        obs, rewards, *_ = envs.step(envs.action_space.sample())
        assert np.abs(obs).max() <= 3.0 and np.abs(rewards).max() <= 3.0
        state = normalization_state(envs)
        raw_mean = state["obs"]["mean"]["ndarray"].numpy()
        assert np.abs(raw_mean[2]) < 1.0 and state["obs"]["count"] > 1000  # Pendulum's angular velocity, ~0 on average
        assert float(state["reward"]["var"]["ndarray"]) > 1.0  # the discounted return of rewards in [-16, 0] varies a lot
    finally:
        envs.close()


def test_normalisation_statistics_round_trip_through_a_checkpoint_and_eval_freezes_them(tmp_path):
    envs = make_vec_env(_norm_cfg(), 4)
    _random_steps(envs, 200)
    state = normalization_state(envs)
    envs.close()
    checkpoint.save(tmp_path / "c.pt", {"normalization": state})
    loaded = checkpoint.load(tmp_path / "c.pt")["normalization"]  # weights_only: the statistics are tensors and numbers
    fresh = make_vec_env(_norm_cfg(), 4, normalization=loaded)
    try:
        again = normalization_state(fresh)
        for part in ("obs", "reward"):
            assert again[part]["count"] == state[part]["count"]
            assert np.array_equal(again[part]["mean"]["ndarray"].numpy(), state[part]["mean"]["ndarray"].numpy())
            assert np.array_equal(again[part]["var"]["ndarray"].numpy(), state[part]["var"]["ndarray"].numpy())
        assert np.array_equal(again["reward"]["accumulated"]["ndarray"].numpy(), state["reward"]["accumulated"]["ndarray"].numpy())
    finally:
        fresh.close()
    evaluation = make_vec_env(_norm_cfg(), 2, training=False, normalization=loaded)
    try:
        assert isinstance(evaluation, NormalizeObservation)  # observations only: evaluation sums the env's own rewards
        _random_steps(evaluation, 50)
        assert normalization_state(evaluation)["obs"]["count"] == state["obs"]["count"]  # frozen
    finally:
        evaluation.close()


def test_normalisation_maths_hand_numbers():
    obs = np.array([[3.0, -1.0], [1.0, 1.5]])
    mean, var = np.array([1.0, 1.0]), np.array([4.0, 0.25])
    # (3 - 1) / 2 = 1, (-1 - 1) / 0.5 = -4 -> -3 (clipped); (1 - 1) / 2 = 0, (1.5 - 1) / 0.5 = 1
    np.testing.assert_allclose(normalize_obs(obs, mean, var, clip=3.0), [[1.0, -3.0], [0.0, 1.0]], rtol=1e-6)
    assert normalize_obs(obs, mean, var, clip=3.0).dtype == np.float32
    # r / sqrt(var(R)): -8 / 4 = -2 -> -1.5 (clipped), 2 / 4 = 0.5
    np.testing.assert_allclose(scale_rewards(np.array([-8.0, 2.0]), 16.0, clip=1.5), [-1.5, 0.5], rtol=1e-6)


def _replay_collector(envs) -> ReplayCollector:
    cfg = DDPGConfig(learning_starts=10_000, batch_size=8, buffer_size=1000, save_buffer=True)  # random actions only
    return ReplayCollector(envs, seed=3, cfg=cfg)


def test_off_policy_replay_stores_the_raw_transitions():
    """The buffer holds what the env itself returned (the same env, unnormalised, stepped with the same actions),
    while the actor saw normalised observations."""
    collector = _replay_collector(make_vec_env(_norm_cfg(), 2))
    raw = make_vec_env(_norm_cfg(normalize_obs=False, normalize_reward=False), 2)
    try:
        obs, _ = raw.reset(seed=3)
        assert not np.allclose(collector.obs, obs)  # the actor's observations are normalised
        for _ in range(150):  # 2 x 150 steps: Pendulum's 200-step episodes do not end
            collector.collect(None)
        buf = collector.buffer
        np.testing.assert_array_equal(buf.obs[:2], obs)
        for t in range(150):
            next_obs, rewards, terminated, *_ = raw.step(buf.actions[2 * t : 2 * t + 2])
            np.testing.assert_array_equal(buf.obs[2 * t : 2 * t + 2], obs)
            np.testing.assert_array_equal(buf.next_obs[2 * t : 2 * t + 2], next_obs)
            np.testing.assert_array_equal(buf.rewards[2 * t : 2 * t + 2], rewards.astype(np.float32))
            obs = next_obs
    finally:
        collector.close()
        raw.close()


def test_off_policy_minibatches_are_normalised_with_the_current_statistics():
    collector = _replay_collector(make_vec_env(_norm_cfg(normalize_clip=5.0), 2))
    try:
        buf = collector.buffer
        buf.add(np.array([[1.0, 0.0, 5.0]]), np.zeros((1, 1)), np.array([-8.0]), np.array([[0.0, 1.0, -3.0]]), np.zeros(1))
        obs_rms, return_rms = collector.envs.env.obs_rms, collector.envs.return_rms

        def sampled(mean, var, return_var):
            obs_rms.mean, obs_rms.var, return_rms.var = np.array(mean), np.array(var), np.array(return_var)
            b = buf.sample(2)
            assert np.array_equal(b.obs[0], b.obs[1])  # the one row, twice
            return b.obs[0], b.next_obs[0], b.rewards[0]

        obs, next_obs, reward = sampled([0.0, 0.0, 1.0], [1.0, 1.0, 16.0], 16.0)
        np.testing.assert_allclose(obs, [1.0, 0.0, 1.0], rtol=1e-6)  # (5 - 1) / 4 = 1
        np.testing.assert_allclose(next_obs, [0.0, 1.0, -1.0], rtol=1e-6)  # (-3 - 1) / 4 = -1
        np.testing.assert_allclose(reward, -2.0, rtol=1e-6)  # -8 / 4
        # the statistics move: the same stored transition comes back normalised with the new ones
        obs, next_obs, reward = sampled([1.0, 1.0, 1.0], [4.0, 4.0, 0.25], 0.25)
        np.testing.assert_allclose(obs, [0.0, -0.5, 5.0], rtol=1e-6)  # (5 - 1) / 0.5 = 8, clipped to 5
        np.testing.assert_allclose(next_obs, [-0.5, 0.0, -5.0], rtol=1e-6)  # (-3 - 1) / 0.5 = -8, clipped
        np.testing.assert_allclose(reward, -5.0, rtol=1e-6)  # -8 / 0.5 = -16, clipped
        np.testing.assert_array_equal(buf.obs[0], [1.0, 0.0, 5.0])  # the buffer keeps the raw values
        assert buf.rewards[0] == -8.0
    finally:
        collector.close()


def test_off_policy_old_transitions_follow_the_running_statistics():
    """Sampled after 300 more steps moved the statistics, every stored transition (the first step's included) comes
    back normalised with the statistics of then, not with those it was collected under."""
    collector = _replay_collector(make_vec_env(_norm_cfg(), 2))
    try:
        first_seen = collector.obs.copy()  # what the actor saw at the start, normalised with the first statistics
        for _ in range(150):
            collector.collect(None)
        buf, obs_rms, return_rms = collector.buffer, collector.envs.env.obs_rms, collector.envs.return_rms
        np.random.seed(0)
        b = buf.sample(1000)
        np.random.seed(0)
        idx = np.random.randint(0, len(buf), size=1000)  # the rows sample() drew
        np.testing.assert_array_equal(b.obs, normalize_obs(buf.obs[idx], obs_rms.mean, obs_rms.var, 10.0))
        np.testing.assert_array_equal(b.next_obs, normalize_obs(buf.next_obs[idx], obs_rms.mean, obs_rms.var, 10.0))
        np.testing.assert_array_equal(b.rewards, scale_rewards(buf.rewards[idx], return_rms.var, 10.0))
        first = np.flatnonzero(idx < 2)  # the first step's transitions, one per env
        assert len(first) > 0
        assert not np.allclose(b.obs[first], first_seen[idx[first]], atol=1e-3)  # the statistics moved since
    finally:
        collector.close()


# ----------------------------------------------------------------------------------------------------------------------
# The envs' state across a resume


@pytest.mark.parametrize(
    "env",
    [
        ["env=halfcheetah"],
        ["env=hopper"],
        ["env=gym", "env.id=Ant-v5"],  # reads its torso's position (xpos) before stepping
        ["env=gym", "env.id=Humanoid-v5"],  # reads its centre of mass (xipos) before stepping
    ],
    ids=["halfcheetah", "hopper", "ant", "humanoid"],
)
def test_mujoco_env_state_round_trips_mid_episode(tmp_path, env):
    """MuJoCo envs saved mid-episode through a weights-only checkpoint and loaded into envs that ran other episodes step
    on as the originals do: same observations, rewards, ends, resets, episode statistics and action samples."""
    cfg = _config(*env, "env.max_episode_steps=40").env  # short episodes: time limits and resets come soon
    envs, other = make_vec_env(cfg, 3), make_vec_env(cfg, 3)
    try:
        assert isinstance(envs.env, SyncVectorEnv)  # vectorization=auto
        _random_steps(envs, 57)  # every env mid-episode, some past an end (Hopper falls)
        _random_steps(other, 23, seed=1)
        checkpoint.save(tmp_path / "env.pt", {"env": env_state(envs)})
        load_env_state(other, checkpoint.load(tmp_path / "env.pt")["env"])
        assert tensors_equal(env_state(other), env_state(envs))
        ends = 0
        for _ in range(100):
            actions = envs.action_space.sample()
            np.testing.assert_array_equal(other.action_space.sample(), actions)
            step, again = envs.step(actions), other.step(actions)
            for x, y in zip(step[:4], again[:4], strict=True):
                np.testing.assert_array_equal(x, y)
            if "episode" in step[4]:
                np.testing.assert_array_equal(step[4]["episode"]["r"], again[4]["episode"]["r"])
            ends += int(np.sum(step[2] | step[3]))
        assert ends >= 3  # the restored envs reset as the originals did
    finally:
        envs.close()
        other.close()


@pytest.mark.parametrize("env_id", ["LunarLander-v3", "CarRacing-v3"])
def test_box2d_env_state_is_not_saved(env_id):
    """Box2D's world cannot be saved (CarRacing's ``state`` is only a picture of it): a resume starts fresh episodes."""
    envs = make_vec_env(_config("env=gym", f"env.id={env_id}").env, 1)
    try:
        _random_steps(envs, 3)
        assert env_state(envs) is None
    finally:
        envs.close()


# ----------------------------------------------------------------------------------------------------------------------
# Atari


def test_atari_logs_true_game_scores_while_training_sees_lives_and_clipped_rewards():
    cfg = AtariConfig(name="atari", id="ALE/SpaceInvaders-v5", action_type="discrete", vectorization="auto", solve_window=100)
    envs = make_vec_env(cfg, 2)
    try:
        assert envs.single_observation_space.shape == (4, 84, 84) and envs.single_action_space.n == 6  # minimal set
        envs.reset(seed=1)
        envs.action_space.seed(1)
        clipped, ends, games = np.zeros(2), np.zeros(2, dtype=int), []
        for _ in range(4000):
            _, rewards, terminated, truncated, info = envs.step(envs.action_space.sample())
            assert set(np.unique(rewards)) <= {-1.0, 0.0, 1.0}
            clipped += rewards
            ends += terminated | truncated
            for i in np.flatnonzero(info.get("_episode", np.zeros(2, dtype=bool))):
                games.append((float(info["episode"]["r"][i]), clipped[i], ends[i]))
                clipped[i], ends[i] = 0, 0
            if len(games) >= 2:
                break
        assert len(games) >= 2
        for score, clipped_sum, learner_episodes in games:
            assert score > clipped_sum > 0  # invaders are worth 5 to 30 points: the true score, not the clipped one
            assert learner_episodes == 3  # one learner episode per life
    finally:
        envs.close()


def test_evaluation_envs_play_whole_games_with_true_rewards():
    cfg = AtariConfig(
        name="atari",
        id="ALE/SpaceInvaders-v5",
        action_type="discrete",
        vectorization="auto",
        solve_window=100,
        repeat_action_probability=0.25,
    )
    envs = make_vec_env(cfg, 1, training=False)
    try:
        envs.reset(seed=0)
        total, rewards = 0.0, []
        for _ in range(5000):
            _, r, terminated, truncated, _ = envs.step(np.array([1]))  # FIRE
            rewards.append(float(r[0]))
            total += float(r[0])
            if terminated[0] or truncated[0]:
                break
        assert terminated[0] and max(rewards) > 1  # a whole game (three lives), rewards unclipped
    finally:
        envs.close()


# ----------------------------------------------------------------------------------------------------------------------
# End to end through the command line


@pytest.mark.parametrize(
    "args",
    [
        ("algo=a2c", "env=lunarlander", "env.normalize_obs=true", "env.normalize_reward=true"),
        ("algo=ddpg", "env=halfcheetah", "algo.learning_starts=100", "algo.batch_size=32", "algo.hidden_sizes=[32,32]"),
        ("algo=reinforce", "env=hopper", "algo.episodes_per_update=2", "algo.num_envs=2"),
        ("algo=a2c", "env=atari", "env.id=ALE/Breakout-v5", "algo.network=cnn", "algo.num_envs=2", "algo.n_steps=8"),
    ],
    ids=["lunarlander", "halfcheetah", "hopper", "breakout"],
)
def test_tiny_runs_end_to_end(cli, tmp_path, args):
    run = tmp_path / "run"
    res = cli(*args, "total_steps=300", f"hydra.run.dir={run}", "checkpoint_every_s=0")
    assert res.returncode == 0, res.stderr
    summary = read_summary(run)
    assert summary["env_steps"] >= 300 and summary["updates"] >= 1
    assert (run / "checkpoints" / "last.pt").is_file()


@pytest.mark.parametrize("env", ["halfcheetah", "hopper"])
def test_tuned_ppo_on_mujoco_runs_with_zoo_networks_and_normalisation(cli, tmp_path, env):
    """configs/tuned/ppo_{halfcheetah,hopper}.yaml (RL Zoo's tuned MuJoCo PPO): two 512-step rollouts end to end, with
    separate 256x256 networks, the log-std starting at -2 and VecNormalize-style statistics saved in the checkpoint."""
    run = tmp_path / "run"
    res = cli("algo=ppo", f"env={env}", "total_steps=1024", f"hydra.run.dir={run}", "checkpoint_every_s=0")
    assert res.returncode == 0, res.stderr
    summary = read_summary(run)
    assert summary["env_steps"] == 1024 and summary["episodes"] >= 1
    state = checkpoint.load(run / "checkpoints" / "last.pt")
    algo, cfg = state["algo_state"], state["config"]
    assert cfg["env"]["normalize_obs"] and cfg["env"]["normalize_reward"] and cfg["env"]["normalize_gamma"] == cfg["algo"]["gamma"]
    assert state["normalization"]["obs"]["count"] > 1024  # every env step (and each reset) updates the statistics
    assert algo["policy"]["torso.1.2.weight"].shape == (256, 256) and algo["value"]["torso.1.2.weight"].shape == (256, 256)
    # n_epochs passes over each rollout's minibatches: at least 2 x 512 / batch_size x n_epochs steps (the reset steps of
    # finished episodes are not counted as env steps, so a third, short rollout may follow), each moving the log-std a
    # little away from -2
    n_epochs, per_rollout = cfg["algo"]["n_epochs"], 512 // cfg["algo"]["batch_size"]
    assert summary["updates"] % n_epochs == 0 and summary["updates"] >= 2 * per_rollout * n_epochs
    assert algo["policy"]["log_std"].sub(-2.0).abs().max() < 0.05


def test_pgtrain_eval_uses_the_runs_frozen_statistics(cli, tmp_path):
    run = tmp_path / "run"
    args = ("algo=a2c", "env=gym", "env.id=MountainCarContinuous-v0", "env.normalize_obs=true", "algo.num_envs=2")
    assert cli(*args, "total_steps=400", f"hydra.run.dir={run}").returncode == 0
    saved = checkpoint.load(run / "checkpoints" / "last.pt")["normalization"]
    assert saved["obs"]["count"] > 400
    res = cli(str(run), "--episodes", "2", module="pgtrain.evaluation")
    assert res.returncode == 0, res.stderr
    report = json.loads((run / "eval.json").read_text())["evaluations"][-1]
    assert report["env_id"] == "MountainCarContinuous-v0" and len(report["returns"]) == 2
    # the statistics the policy was trained with, not fresh ones: evaluation's first observation is normalised by them
    from pgtrain.evaluation import load_policy
    from pgtrain.playing import make_play_env

    _, cfg, state = load_policy(run / "checkpoints" / "last.pt")
    envs = make_play_env(cfg.env, render=False, normalization=state["normalization"])
    try:
        assert normalization_state(envs)["obs"]["count"] == saved["obs"]["count"]
        raw_obs, _ = gym.make("MountainCarContinuous-v0").reset(seed=5)
        obs, _ = envs.reset(seed=5)
        mean, var = (saved["obs"][k]["ndarray"].numpy() for k in ("mean", "var"))
        assert np.allclose(obs[0], np.clip((raw_obs - mean) / np.sqrt(var + 1e-8), -10, 10), atol=1e-5)
        assert normalization_state(envs)["obs"]["count"] == saved["obs"]["count"]  # frozen
    finally:
        envs.close()


# ----------------------------------------------------------------------------------------------------------------------
# Refusals: one line, exit status 2, nothing written


def _shadow_package(tmp_path: Path, name: str) -> dict[str, str]:
    """An environment in which ``import name`` fails, as on a machine without the package."""
    shadow = tmp_path / "shadow"
    (shadow / name).mkdir(parents=True)
    (shadow / name / "__init__.py").write_text(f"raise ImportError({'No module named ' + name!r})\n")
    return {"PYTHONPATH": os.pathsep.join([str(shadow), os.environ.get("PYTHONPATH", "")])}


@pytest.mark.parametrize(
    "args, words",
    [
        (["env=gym", "env.id=Acrobat-v1"], "unknown env id 'Acrobat-v1'"),
        (["env=gym", "env.id=LunarLander-v2"], "closest registered ids: LunarLander-v3"),
        (["env=atari", "env.id=ALE/Breakot-v5"], "closest registered ids: ALE/Breakout-v5"),
        (["env=gym", "env.id=Acrobot-v1", "algo=ddpg"], "algo=ddpg needs continuous actions, but env=Acrobot-v1 has discrete"),
        (["env=lunarlander", "algo=ddpg"], "algo=ddpg needs continuous actions, but env=lunarlander has discrete"),
        (["env=gym", "env.id=ALE/Breakout-v5"], "run it with env=atari env.id=ALE/Breakout-v5"),
        (["env=gym", "env.id=Acrobot-v1", "+env.kwargs.nosuch=1"], "gym.make('Acrobot-v1', **env.kwargs={'nosuch': 1}) failed"),
        (
            ["env=gym", "env.id=CarRacing-v3", "algo=sac"],
            "algo=sac's networks are MLPs on vector observations, but CarRacing-v3 gives images (frame stacks of 4x84x84): "
            "use algo=a2c, algo=ppo or algo=reinforce",
        ),
        (["env=gym", "env.id=CarRacing-v3", "env.image_size=32"], "algo.network=cnn needs frames of 36x36 pixels at least"),
        (["env=gym", "env.id=Ant-v3"], "env Ant-v3 cannot be made here: The mujoco v2 and v3 based environments have been moved"),
        (["env=gym", "env.id=phys2d/CartPole-v1"], "env phys2d/CartPole-v1 needs the module jax, which is not installed here"),
        (["env=gym", "env.id=Acrobot-v1", "env.vectorization=vector_entry_point"], "Acrobot-v1 has no vector entry point"),
        (["env=atari", "env.id=ALE/Breakout-v5", "env.image_size=64"], "env=atari makes its own frames"),
        (["env=gym", "env.id=CarRacing-v3", "env.frame_stack=0"], "env.frame_stack=0 is out of range"),
        (
            ["env=pong", "env.id=ALE/Breakout-v5"],
            "env=pong plays ALE/Pong-v5 with the lecture's frame preprocessing; for ALE/Breakout-v5 use env=atari env.id=ALE/Breakout-v5",
        ),
    ],
    ids=[
        *("unknown-id", "old-version", "unknown-ale-game", "ddpg-discrete", "ddpg-preset", "ale-via-gym", "bad-kwargs"),
        *("images-off-policy", "images-too-small", "moved-id", "missing-module", "no-vector-entry-point", "atari-image-size"),
        *("frame-stack-0", "pong-another-game"),
    ],
)
def test_bad_env_input_is_one_line_and_writes_nothing(cli, tmp_path, args, words):
    res = cli(*args)
    assert res.returncode == 2, res.stderr
    assert res.stderr.startswith("pgtrain: error: ") and res.stderr.count("\n") == 1, res.stderr
    assert words in res.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "args, package, words",
    [
        (
            ["env=lunarlander"],
            "Box2D",
            "env LunarLander-v3 needs Box2D, which is not installed here: install it with bash scripts/install.sh",
        ),
        (["env=gym", "env.id=Hopper-v5"], "mujoco", "env Hopper-v5 needs MuJoCo, which is not installed here"),
    ],
)
def test_missing_optional_package_names_its_install_command(cli, tmp_path, args, package, words):
    res = cli(*args, env=_shadow_package(tmp_path, package))
    assert res.returncode == 2, res.stderr
    assert res.stderr.count("\n") == 1 and words in res.stderr and "gymnasium[" in res.stderr, res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shadow"]


def test_the_issues_commands_run_through_the_command_line(cli, tmp_path):
    """Taxi's discrete observations (a traceback before 2026-12-07) and a preset given another id (gymnasium's "no
    vector entry point" before), as a user types them."""
    for name, args, threshold in [
        ("taxi", ("env=gym", "env.id=Taxi-v4", "env.max_episode_steps=20"), 8),
        ("acrobot", ("env=cartpole", "env.id=Acrobot-v1", "env.max_episode_steps=20"), -100),
    ]:
        run = tmp_path / name
        res = cli(*args, "algo.num_envs=2", "algo.hidden_sizes=[16]", "total_steps=200", f"hydra.run.dir={run}")
        assert res.returncode == 0, res.stderr
        summary = read_summary(run)
        assert summary["env_id"] == args[1].split("=")[1] and summary["solve_threshold"] == threshold
        assert summary["updates"] >= 1


@pytest.mark.parametrize(
    "args",
    [
        ("algo=ddpg", "env=halfcheetah", "algo.learning_starts=50", "algo.batch_size=16", "algo.hidden_sizes=[16]"),
        ("algo=a2c", "env=atari", "env.id=ALE/Breakout-v5", "algo.num_envs=2", "algo.n_steps=4"),
    ],
    ids=["mujoco", "atari"],
)
def test_videos_render_headless(cli, tmp_path, args):
    """MuJoCo renders through EGL without a display; ALE's vector env shows the agent's own frames."""
    run = tmp_path / "run"
    assert cli(*args, "env.max_episode_steps=30", "total_steps=100", f"hydra.run.dir={run}").returncode == 0
    res = cli(str(run), "--episodes", "1", "--video", module="pgtrain.evaluation")
    assert res.returncode == 0, res.stderr
    (video,) = json.loads((run / "eval.json").read_text())["evaluations"][-1]["videos"]
    assert (run / video).stat().st_size > 1000
