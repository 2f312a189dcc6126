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
