"""Return maths against hand-computed numbers."""

import numpy as np
import pytest

from pgtrain.returns import episode_returns, gae, reward_to_go, td_targets, total_return


def test_reward_to_go_hand_computed():
    # r = [1, 2, 3], gamma = 0.5: G_2 = 3, G_1 = 2 + 0.5*3 = 3.5, G_0 = 1 + 0.5*3.5 = 2.75
    np.testing.assert_allclose(reward_to_go(np.array([1.0, 2.0, 3.0]), 0.5), [2.75, 3.5, 3.0])


def test_reward_to_go_undiscounted_is_suffix_sum():
    np.testing.assert_allclose(reward_to_go(np.array([1.0, 1.0, 1.0, 1.0]), 1.0), [4, 3, 2, 1])


def test_total_return_is_G0_everywhere():
    # G(tau) = 1 + 0.5*2 + 0.25*3 = 2.75 for every step
    np.testing.assert_allclose(total_return(np.array([1.0, 2.0, 3.0]), 0.5), [2.75, 2.75, 2.75])


def test_reset_on_reward_restarts_at_each_point():
    # Pong-style: rewards [0, 0, -1, 0, 1], gamma 0.5; the sum restarts at each nonzero reward
    r = np.array([0.0, 0.0, -1.0, 0.0, 1.0])
    np.testing.assert_allclose(reward_to_go(r, 0.5, reset_on_reward=True), [-0.25, -0.5, -1.0, 0.5, 1.0])
    # without reset, the later +1 leaks into the first point's actions: G_2 = -1 + 0.5*(0 + 0.5*1) = -0.75
    assert reward_to_go(r, 0.5)[2] == pytest.approx(-0.75)
    np.testing.assert_allclose(total_return(r, 0.5, reset_on_reward=True), [-0.25, -0.25, -0.25, 0.5, 0.5])


def test_episode_returns_splits_episodes():
    rewards = np.array([1.0, 1.0, 5.0, 2.0, 2.0])
    lengths = np.array([2, 3])
    np.testing.assert_allclose(episode_returns(rewards, lengths, 0.5, "reward_to_go"), [1.5, 1.0, 6.5, 3.0, 2.0])
    np.testing.assert_allclose(episode_returns(rewards, lengths, 0.5, "total"), [1.5, 1.5, 6.5, 6.5, 6.5])


def test_td_targets_do_not_bootstrap_terminations():
    y = td_targets(np.array([1.0, 1.0]), np.array([10.0, 10.0]), np.array([0.0, 1.0]), 0.9)
    np.testing.assert_allclose(y, [10.0, 1.0])


def test_gae_lambda_zero_is_td_error_and_one_is_nstep():
    # one env, 3 steps, no episode end; V(s_0..s_3) = [1, 2, 3, 4], r = 1, gamma 0.5
    r = np.ones((3, 1))
    v = np.array([[1.0], [2.0], [3.0]])
    nv = np.array([[2.0], [3.0], [4.0]])
    zero = np.zeros((3, 1))
    np.testing.assert_allclose(gae(r, v, nv, zero, zero, 0.5, 0.0), [[1.0], [0.5], [0.0]])  # r + 0.5 V' - V
    # lambda 1: n-step return bootstrapped from V(s_3)=4 minus V(s_t)
    # G_2 = 1 + 0.5*4 = 3; G_1 = 1 + 0.5*3 = 2.5; G_0 = 1 + 0.5*2.5 = 2.25
    np.testing.assert_allclose(gae(r, v, nv, zero, zero, 0.5, 1.0), [[2.25 - 1], [2.5 - 2], [3.0 - 3]])


def test_gae_truncation_bootstraps_termination_does_not():
    # step 1 ends the episode; env 0 is truncated (bootstrap from V(final obs) = 10), env 1 terminated (no bootstrap)
    r = np.ones((2, 2))
    v = np.zeros((2, 2))
    nv = np.array([[0.0, 0.0], [10.0, 10.0]])
    terminated = np.array([[0.0, 0.0], [0.0, 1.0]])
    dones = np.array([[0.0, 0.0], [1.0, 1.0]])
    adv = gae(r, v, nv, terminated, dones, 0.5, 1.0)
    np.testing.assert_allclose(adv[1], [1 + 0.5 * 10, 1.0])
    np.testing.assert_allclose(adv[0], [1 + 0.5 * 6, 1 + 0.5 * 1])


def test_truncated_episode_bootstraps_from_last_value():
    # r = [1, 1], gamma 0.5, V(s_T) = 4: G_1 = 1 + 0.5*4 = 3, G_0 = 1 + 0.5*3 = 2.5
    np.testing.assert_allclose(reward_to_go(np.array([1.0, 1.0]), 0.5, last_value=4.0), [2.5, 3.0])
    out = episode_returns(np.ones(4), np.array([2, 2]), 0.5, "reward_to_go", last_values=np.array([0.0, 4.0]))
    np.testing.assert_allclose(out, [1.5, 1.0, 2.5, 3.0])
    np.testing.assert_allclose(episode_returns(np.ones(2), np.array([2]), 0.5, "total", last_values=np.array([4.0])), [2.5, 2.5])
