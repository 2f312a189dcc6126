"""SIGINT/SIGTERM never tear a collector's bookkeeping: a signal inside a recorded step is raised after it."""

import os
import signal
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from gymnasium.vector import VectorWrapper

from pgtrain.collectors import EpisodeCollector, PipelinedCollector
from pgtrain.config import EnvConfig
from pgtrain.envs import make_vec_env
from pgtrain.interrupts import Interrupted, atomic, handler

CARTPOLE = EnvConfig(name="cartpole", id="CartPole-v1", action_type="discrete", vectorization="vector_entry_point", solve_window=100)


@pytest.fixture
def sigint_raises():
    previous = signal.signal(signal.SIGINT, handler)
    yield
    signal.signal(signal.SIGINT, previous)


class SignalOnStep(VectorWrapper):
    """Sends SIGINT to this process from inside its ``k``-th step."""

    def __init__(self, env, k):
        super().__init__(env)
        self.k, self.calls = k, 0

    def step(self, actions):
        self.calls += 1
        if self.calls == self.k:
            os.kill(os.getpid(), signal.SIGINT)
        return self.env.step(actions)


def signalling_env(n, k):
    envs = make_vec_env(CARTPOLE, n)
    envs.env = SignalOnStep(envs.env, k)  # under the episode statistics, which the env state is read from
    return envs


class Left:
    def act(self, obs, explore=True):
        return np.zeros(len(obs), dtype=np.int64)


def test_atomic_holds_a_signal_until_the_block_ends(sigint_raises):
    done = []
    with pytest.raises(Interrupted, match="SIGINT"):
        with atomic():
            with atomic():
                os.kill(os.getpid(), signal.SIGINT)
                done.append("inner")
            done.append("outer")  # still inside the outer block: the signal waits
    assert done == ["inner", "outer"]
    with pytest.raises(Interrupted):  # outside any block it is raised at once
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(1000):
            pass


def test_a_signal_inside_a_synchronous_step_is_raised_after_it_is_recorded(sigint_raises):
    c = EpisodeCollector(signalling_env(3, k=5), seed=0, episodes=2)
    for _ in range(4):
        c.send(Left().act(c.obs))
        c.receive()
    c.send(Left().act(c.obs))
    with pytest.raises(Interrupted):
        c.receive()
    assert c.pending is None and c.t == 5 and c.env_steps == 15  # the 5th step was recorded whole
    np.testing.assert_array_equal(c.buf_rew[:5], 1.0)  # and its reward stored


def test_a_signal_while_waiting_for_a_threaded_step_leaves_it_to_drain(sigint_raises):
    executor = ThreadPoolExecutor(2)
    groups = [EpisodeCollector(signalling_env(2, k=3), 0, 2, executor),
              EpisodeCollector(make_vec_env(CARTPOLE, 2), 2, 2, executor)]  # fmt: skip
    pipe = PipelinedCollector(groups, executor)
    with pytest.raises(Interrupted):
        for _ in range(100):
            pipe.collect(Left())
    steps = pipe.env_steps
    state = pipe.state_dict()  # finishes the steps in flight: each counted once, none lost
    assert all(g.pending is None for g in groups)
    assert pipe.env_steps >= steps and state["group_steps"] == [g.env_steps for g in groups]
    assert [g.t for g in groups] == [g.env_steps // 2 for g in groups]  # no autoresets yet: 2 env steps per step
    pipe.close()
