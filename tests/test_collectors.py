"""The pipelined collector (env.pipeline_groups): groups stepped in turn in threads must give each group exactly the
steps it would give alone, keep episodes whole, and save and restore a consistent state."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from pgtrain.collectors import EpisodeCollector, PipelinedCollector, RolloutCollector
from pgtrain.config import EnvConfig
from pgtrain.envs import make_vec_env

CARTPOLE = EnvConfig(name="cartpole", id="CartPole-v1", action_type="discrete", vectorization="vector_entry_point", solve_window=100)
PER_GROUP = 3


class PushTowardsCentre:
    """A deterministic policy (no RNG), so each group's trajectory depends on its own envs only."""

    def act(self, obs: np.ndarray, explore: bool = True) -> np.ndarray:
        return (obs[:, 0] < 0).astype(np.int64)


def _groups(kind, n_groups=2, arg=4, executor=None):
    cls = EpisodeCollector if kind == "episodes" else RolloutCollector
    return [cls(make_vec_env(CARTPOLE, PER_GROUP), 7 + g * PER_GROUP, arg, executor) for g in range(n_groups)]


def _pipeline(kind, arg=4):
    executor = ThreadPoolExecutor(2)
    return PipelinedCollector(_groups(kind, 2, arg, executor), executor)


def test_pipelined_rollouts_equal_each_group_stepped_alone():
    pipe = _pipeline("rollout", arg=5)
    alone = _groups("rollout", arg=5)
    actor = PushTowardsCentre()
    for _ in range(30):  # 150 steps: several episodes end and autoreset in between
        got = pipe.collect(actor)
        want = [c.collect(actor) for c in alone]
        assert got.obs.shape == (5, 2 * PER_GROUP, 4)
        for field in ("obs", "actions", "rewards", "next_obs", "terminated", "truncated", "valid"):
            joined = np.concatenate([getattr(w, field) for w in want], axis=1)
            np.testing.assert_array_equal(getattr(got, field), joined, err_msg=field)
    assert pipe.env_steps == sum(c.env_steps for c in alone)
    assert all(g.pending is None for g in pipe.groups)  # A2C's batches stay on-policy: nothing crosses an update
    pipe.close()


def _key(obs, actions, rewards):
    return obs.tobytes() + actions.tobytes() + rewards.tobytes()


def test_pipelined_episodes_are_whole_episodes_of_their_groups_none_lost_or_repeated():
    pipe = _pipeline("episodes", arg=4)
    actor = PushTowardsCentre()
    got = []
    for _ in range(10):
        batch = pipe.collect(actor)
        assert len(batch.lengths) == 4
        starts = np.concatenate([[0], np.cumsum(batch.lengths)])
        for a, b in zip(starts[:-1], starts[1:], strict=True):
            got.append(_key(batch.obs[a:b], batch.actions[a:b], batch.rewards[a:b]))
    assert any(g.pending is not None for g in pipe.groups)  # REINFORCE: the next steps run during the update
    # every group alone, far enough to hold every episode the pipeline returned
    want = set()
    for c in _groups("episodes", arg=1):
        for _ in range(40):
            e = c.collect(actor)
            want.add(_key(e.obs, e.actions, e.rewards))
    assert len(set(got)) == len(got) == 40
    assert set(got) <= want
    finished = pipe.pop_finished()
    assert len(finished) >= 40 and all(e.env_step <= pipe.env_steps for e in finished)
    assert [e.env_step for e in finished] == sorted(e.env_step for e in finished)  # stamped with the run's count
    pipe.close()


@pytest.mark.parametrize("kind", ["episodes", "rollout"])
def test_pipelined_state_dict_drains_the_step_in_flight_and_resumes_exactly(kind):
    actor = PushTowardsCentre()
    first = _pipeline(kind)
    for _ in range(3):
        first.collect(actor)
    state = first.state_dict()
    assert all(g.pending is None for g in first.groups)
    steps = first.env_steps
    second = _pipeline(kind)
    second.env_steps = steps
    assert second.load_state_dict(state)
    assert second.env_steps == steps
    a, b = first.collect(actor), second.collect(actor)
    for field in ("obs", "actions", "rewards"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    first.close()
    second.close()


@pytest.mark.parametrize("algo", ["reinforce", "a2c"])
def test_uneven_groups_train_end_to_end(cli, tmp_path, algo):
    """3 envs in 2 groups (2 + 1); more groups than envs are cut to one env each."""
    from tests.conftest import read_summary

    for n, groups in ((3, 2), (1, 4)):
        run = tmp_path / f"run{n}"
        res = cli(f"algo={algo}", f"algo.num_envs={n}", f"env.pipeline_groups={groups}", "total_steps=600", f"hydra.run.dir={run}")
        assert res.returncode == 0, res.stderr
        assert read_summary(run)["env_steps"] >= 600


def test_a_rollout_cut_by_the_budget_is_handed_over_by_partial_batch():
    collector = RolloutCollector(make_vec_env(CARTPOLE, PER_GROUP), 7, 5)
    collector.limit = 2 * PER_GROUP  # two vector steps into the first rollout
    actor = PushTowardsCentre()
    assert collector.partial_batch() is None  # nothing collected yet
    assert collector.collect(actor) is None
    batch = collector.partial_batch()
    assert batch.obs.shape == (2, PER_GROUP, 4) and batch.valid.all()
    assert collector.partial_batch() is None and collector.steps == []  # handed over once
    collector.close()


def test_finished_episodes_short_of_a_batch_are_handed_over_by_partial_batch():
    collector = EpisodeCollector(make_vec_env(CARTPOLE, PER_GROUP), 7, 100)
    collector.limit = 200  # a few episodes finish, far from 100
    actor = PushTowardsCentre()
    assert collector.collect(actor) is None
    finished = len(collector.ready)
    assert finished > 0
    batch = collector.partial_batch()
    assert len(batch.lengths) == finished and batch.lengths.sum() == len(batch.rewards)
    assert collector.partial_batch() is None
    collector.close()


def test_pipelined_partial_rollouts_keep_every_column_the_same_length():
    """However the budget falls in a round, the groups stop within one step of each other: the partial batch is each
    group's first T' steps, T' the shortest's, the same steps as the groups stepped alone give."""
    actor = PushTowardsCentre()
    lengths = []
    for limit in range(1, 2 * PER_GROUP + 1):
        pipe = _pipeline("rollout", arg=10)
        pipe.limit = 4 * 2 * PER_GROUP + limit  # four rounds, then part of the next: the rollout of 10 steps is cut
        assert pipe.collect(actor) is None
        lengths.append([len(g.steps) for g in pipe.groups])
        got = pipe.partial_batch()
        assert pipe.partial_batch() is None and all(g.steps == [] for g in pipe.groups)
        pipe.close()
        alone = _groups("rollout", arg=min(lengths[-1]))
        want = [c.collect(actor) for c in alone]
        assert got.obs.shape == (min(lengths[-1]), 2 * PER_GROUP, 4)
        np.testing.assert_array_equal(got.obs, np.concatenate([w.obs for w in want], axis=1))
        for c in alone:
            c.close()
    assert all(max(n) - min(n) <= 1 for n in lengths) and any(max(n) > min(n) for n in lengths), lengths


def test_pipelined_partial_episodes_are_every_groups_finished_ones():
    pipe = _pipeline("episodes", arg=100)
    pipe.limit = 300
    assert pipe.collect(PushTowardsCentre()) is None
    ready = [len(g.ready) for g in pipe.groups]
    assert all(ready)
    assert len(pipe.partial_batch().lengths) == sum(ready)
    assert pipe.partial_batch() is None
    pipe.close()


class CountingAsyncEnvs:
    """ale-py's async interface (``send``/``recv``, ``info["env_id"]``, NEXT_STEP autoreset) over 4 counting envs,
    deterministic: results come back two at a time in the order the envs were sent. Env ``e``'s observation at step
    ``t`` of its episode is 1 + t in column ``e`` (int8, 16 wide, else 0), the step's reward 10 e + t, and its episodes
    end after 3 + e steps (terminated when e is even, truncated when odd). ``dense``: observations ``(2, 8)`` uint8
    instead (not flat integer frames, so the collector keeps them as they are)."""

    num_envs, batch_size = 4, 2

    def __init__(self, dense: bool = False) -> None:
        import gymnasium as gym

        self.dense = dense

        self.action_space = gym.spaces.MultiDiscrete([2, 2])
        self.t = np.zeros(4, dtype=np.int64)
        self.queue: list[tuple] = []  # results not received yet, oldest first
        self.actions: list[list[int]] = [[] for _ in range(4)]  # each env's actions since its episode began

    def _obs(self, e: int) -> np.ndarray:
        obs = np.zeros(16, dtype=np.int8)
        obs[e] = 1 + self.t[e]
        return obs.astype(np.uint8).reshape(2, 8) if self.dense else obs

    def reset(self, seed=None):
        self.queue = [(e, self._obs(e), 0.0, False, False) for e in range(4)]
        return self.recv()[0], {"env_id": np.array([0, 1])}

    def send(self, actions: np.ndarray) -> None:
        for e, a in zip(self.sent, actions.tolist(), strict=True):
            if self.t[e] == 3 + e:  # the autoreset step: a new episode's first frame
                self.t[e], self.actions[e] = 0, []
                self.queue.append((e, self._obs(e), 0.0, False, False))
                continue
            self.t[e] += 1
            self.actions[e].append(a)
            end = self.t[e] == 3 + e
            self.queue.append((e, self._obs(e), float(10 * e + self.t[e]), end and e % 2 == 0, end and e % 2 == 1))

    def recv(self):
        batch, self.queue = self.queue[:2], self.queue[2:]
        ids, obs, rewards, terminated, truncated = (np.array(x) for x in zip(*batch, strict=True))
        self.sent = ids.tolist()
        return obs, rewards.astype(np.float32), terminated, truncated, {"env_id": ids}


@pytest.mark.parametrize("dense", [False, True])
def test_async_collector_gathers_each_episode_from_its_env_steps(dense: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """AsyncEpisodeCollector on a deterministic stand-in for ale-py's async mode: every episode comes back whole and
    exactly as its env played it (observations, actions, rewards, how it ended), while tables of 4 rows at first
    drop the rows no running episode needs and grow, over dozens of episodes; flat integer frames kept by their
    nonzero entries, other observations as they are."""
    from pgtrain.collectors import AsyncEpisodeCollector

    monkeypatch.setattr(AsyncEpisodeCollector, "table_rows", 4)
    envs = CountingAsyncEnvs(dense)
    collector = AsyncEpisodeCollector(envs, seed=0, episodes=5)
    rng = np.random.default_rng(0)

    class Random:
        def act(self, obs, explore=True):
            return rng.integers(0, 2, size=len(obs))

    played: dict[int, list[list[int]]] = {e: [] for e in range(4)}  # each env's finished episodes' actions
    real_send = envs.send

    def send(actions):
        for e in envs.sent:
            if envs.t[e] == 3 + e and envs.actions[e]:
                played[e].append(envs.actions[e])
        real_send(actions)

    envs.send = send
    seen = 0
    for _ in range(8):
        batch = collector.collect(Random())
        starts = np.cumsum(batch.lengths) - batch.lengths
        for k, (start, length) in enumerate(zip(starts.tolist(), batch.lengths.tolist(), strict=True)):
            e = length - 3
            rows = slice(start, start + length)
            want_obs = np.zeros((length, 16), dtype=np.int8)
            want_obs[:, e] = np.arange(1, length + 1)  # steps 0 .. length - 1 of the episode
            got = batch.obs[rows].reshape(length, 16) if dense else batch.obs.dense()[rows]
            np.testing.assert_array_equal(got, want_obs)
            np.testing.assert_array_equal(batch.rewards[rows], 10 * e + np.arange(1, length + 1))
            assert batch.terminated[k] == (e % 2 == 0)
            assert batch.actions[rows].tolist() == played[e].pop(0)  # its env's episodes in order
            seen += 1
    assert seen == 40 and collector.steps.base > 0 and (dense or collector.entries.base > 0)
