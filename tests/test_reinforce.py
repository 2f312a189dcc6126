"""REINFORCE maths: the sigmoid policy's gradient, the loss, the gradient-variance estimate, state dicts."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from pgtrain.algos.reinforce import Reinforce, ReinforceConfig
from pgtrain.batches import EpisodeBatch, SparseFrames
from pgtrain.nets import Policy

OBS = gym.spaces.Box(-np.inf, np.inf, (3,), np.float32)


def test_sigmoid_policy_log_likelihood_gradient_is_x_times_t_minus_y():
    """The lecture: for P(UP) = y = sigmoid(w.x + b) and sampled action t in {0, 1}, grad_w log pi(t|x) = x (t - y)."""
    policy = Policy(OBS, gym.spaces.Discrete(2), hidden_sizes=[], discrete_head="sigmoid")
    linear = policy.head
    with torch.no_grad():
        linear.weight.copy_(torch.tensor([[0.5, -1.0, 2.0]]))
        linear.bias.fill_(0.1)
    x = torch.tensor([[1.0, 2.0, 0.5]])
    y = 1 / (1 + np.exp(-(0.5 - 2.0 + 1.0 + 0.1)))  # sigmoid(-0.4) = 0.401312...
    for t in (0.0, 1.0):
        linear.zero_grad()
        policy.distribution(x).log_prob(torch.tensor([t])).sum().backward()
        np.testing.assert_allclose(linear.weight.grad.numpy(), [[1.0 * (t - y), 2.0 * (t - y), 0.5 * (t - y)]], rtol=1e-5)
        np.testing.assert_allclose(linear.bias.grad.numpy(), [t - y], rtol=1e-5)


def test_lecture_network_backward_matches_policy_backward_by_hand():
    """The 2-layer net: dW2 = h (t - y), dh = (t - y) W2 masked by ReLU, dW1 = outer(dh, x), as in the lecture's code."""
    torch.manual_seed(0)
    policy = Policy(OBS, gym.spaces.Discrete(2), hidden_sizes=[4], activation="relu", discrete_head="sigmoid")
    first, last = policy.torso[1][0], policy.head
    x = torch.tensor([[0.3, -0.7, 1.1]])
    t = 1.0
    policy.distribution(x).log_prob(torch.tensor([t])).sum().backward()
    with torch.no_grad():
        h = torch.relu(first(x))[0]
        y = torch.sigmoid(last(h[None]))[0, 0]
        dlogit = t - y
        dW2 = h * dlogit
        dh = dlogit * last.weight[0] * (h > 0)
        dW1 = torch.outer(dh, x[0])
    np.testing.assert_allclose(last.weight.grad[0].numpy(), dW2.numpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(first.weight.grad.numpy(), dW1.numpy(), rtol=1e-5, atol=1e-7)


def _batch(lengths, rewards=None):
    n = sum(lengths)
    rng = np.random.default_rng(0)
    return EpisodeBatch(
        obs=rng.normal(size=(n, 3)).astype(np.float32),
        actions=rng.integers(0, 2, size=n),
        rewards=np.ones(n, np.float32) if rewards is None else np.asarray(rewards, np.float32),
        lengths=np.array(lengths),
        terminated=np.ones(len(lengths), bool),
    )


def _algo(**kw):
    torch.manual_seed(0)
    cfg = ReinforceConfig(**{"optimizer": "sgd", "lr": 0.1, "grad_variance_interval": 1, **kw})
    return Reinforce(OBS, gym.spaces.Discrete(2), cfg, torch.device("cpu"))


def test_loss_is_minus_mean_over_episodes_of_sum_log_prob_times_return():
    """No baseline, no normalisation, total return, gamma 1: L = -1/E sum_i G_i sum_t log pi(a_it|s_it)."""
    algo = _algo(baseline="none", normalize_advantage=False, return_type="total", gamma=1.0)
    batch = _batch([2, 3], rewards=[1, 1, 2, 2, 2])
    with torch.no_grad():
        logp = algo.policy.distribution(torch.as_tensor(batch.obs)).log_prob(torch.as_tensor(batch.actions)).numpy()
    expected = -(2 * logp[:2].sum() + 6 * logp[2:].sum()) / 2
    metrics = algo.update(batch)
    assert metrics["loss/policy"] == pytest.approx(expected, rel=1e-5)


def test_mean_baseline_with_total_return_subtracts_mean_episode_return():
    algo = _algo(baseline="mean", normalize_advantage=False, return_type="total", gamma=1.0)
    batch = _batch([2, 3], rewards=[1, 1, 2, 2, 2])  # G = 2 and 6, mean 4 -> advantages -2 and +2
    with torch.no_grad():
        logp = algo.policy.distribution(torch.as_tensor(batch.obs)).log_prob(torch.as_tensor(batch.actions)).numpy()
    expected = -(-2 * logp[:2].sum() + 2 * logp[2:].sum()) / 2
    assert algo.update(batch)["loss/policy"] == pytest.approx(expected, rel=1e-5)


def test_grad_variance_matches_per_episode_gradients():
    algo = _algo(baseline="none", normalize_advantage=False, return_type="reward_to_go", gamma=0.9)
    batch = _batch([3, 2, 4])
    grads = []
    from pgtrain.returns import episode_returns

    psi = torch.as_tensor(episode_returns(batch.rewards, batch.lengths, 0.9, "reward_to_go"), dtype=torch.float32)
    start = 0
    for n in batch.lengths:
        algo.policy.zero_grad()
        sl = slice(start, start + n)
        logp = algo.policy.distribution(torch.as_tensor(batch.obs[sl])).log_prob(torch.as_tensor(batch.actions[sl]))
        (-(logp * psi[sl]).sum()).backward()
        grads.append(torch.cat([p.grad.reshape(-1) for p in algo.policy.parameters()]).clone())
        start += n
    g = torch.stack(grads).numpy()
    expected = g.var(axis=0, ddof=1).sum() / 3
    assert algo.update(batch)["policy/grad_variance"] == pytest.approx(expected, rel=1e-4)


def test_value_baseline_fits_returns_and_state_dict_round_trips():
    algo = _algo(baseline="value", value_lr=0.05, value_epochs=5)
    batch = _batch([4, 4])
    first = algo.update(batch)["loss/value"]
    for _ in range(30):
        last = algo.update(batch)["loss/value"]
    assert last < first
    state = algo.state_dict()
    assert set(state) >= {"policy", "policy_opt", "value", "value_opt", "updates"}
    clone = _algo(baseline="value")
    clone.load_state_dict(state)
    obs = torch.as_tensor(batch.obs)
    assert torch.equal(clone.value(obs), algo.value(obs))
    assert clone.updates == algo.updates


def test_gaussian_policy_on_continuous_actions():
    torch.manual_seed(0)
    cfg = ReinforceConfig()
    algo = Reinforce(OBS, gym.spaces.Box(-2, 2, (1,), np.float32), cfg, torch.device("cpu"))
    actions = algo.act(np.zeros((5, 3), np.float32))
    assert actions.shape == (5, 1) and actions.dtype == np.float32
    batch = EpisodeBatch(
        np.zeros((4, 3), np.float32), np.zeros((4, 1), np.float32), np.ones(4, np.float32), np.array([2, 2]), np.ones(2, bool)
    )
    assert np.isfinite(list(algo.update(batch).values())).all()


@pytest.mark.parametrize("baseline", ["none", "value"])
def test_sparse_frames_batch_gives_the_dense_batchs_update(baseline: str):
    """An episode batch whose observations are SparseFrames (ale-py's async mode) makes the same update as the same
    frames dense: equal metrics and equal parameters after it, for the lecture's net and with a value baseline."""
    frames = gym.spaces.Box(-1, 1, (6400,), np.int8)
    rng = np.random.default_rng(0)
    obs = (rng.random((30, 6400)) < 0.005).astype(np.int8) - (rng.random((30, 6400)) < 0.005).astype(np.int8)
    obs[0] = 0
    dense = EpisodeBatch(
        obs, rng.integers(0, 2, 30), rng.choice([-1.0, 0.0, 1.0], 30).astype(np.float32), np.array([12, 18]),
        np.array([True, False]), obs[[5, 9]],
    )  # fmt: skip
    results = []
    for batch in (
        dense,
        EpisodeBatch(SparseFrames.of(obs), *(getattr(dense, f) for f in ("actions", "rewards", "lengths", "terminated", "final_obs"))),
    ):
        torch.manual_seed(0)
        cfg = ReinforceConfig(hidden_sizes=[16], activation="relu", discrete_head="sigmoid", baseline=baseline, lr=0.1)
        algo = Reinforce(frames, gym.spaces.Discrete(2), cfg, torch.device("cpu"))
        assert algo.sparse_obs
        results.append((algo.update(batch), algo.state_dict()))
    (m_dense, s_dense), (m_sparse, s_sparse) = results
    assert m_dense.keys() == m_sparse.keys() and all(m_sparse[k] == pytest.approx(v, rel=1e-5) for k, v in m_dense.items())
    for name in ("policy", "value") if baseline == "value" else ("policy",):
        for key, value in s_dense[name].items():
            torch.testing.assert_close(s_sparse[name][key], value)


def test_sparse_frames_round_trip():
    """SparseFrames.of / dense / concat keep every row, all-zero ones included."""
    rng = np.random.default_rng(1)
    x = (rng.random((5, 40)) < 0.1).astype(np.int8) - (rng.random((5, 40)) < 0.1).astype(np.int8)
    x[[0, 3]] = 0
    s = SparseFrames.of(x)
    assert len(s) == 5 and s.counts.tolist() == np.count_nonzero(x, axis=1).tolist() and s.cols.dtype == np.int16
    np.testing.assert_array_equal(s.dense(), x)
    for i, start in enumerate(s.starts().tolist()):  # row i's entries begin at starts()[i]
        np.testing.assert_array_equal(s.cols[start : start + s.counts[i]], np.flatnonzero(x[i]))
    np.testing.assert_array_equal(SparseFrames.concat([s, SparseFrames.of(x[:2])]).dense(), np.concatenate([x, x[:2]]))
    wide = np.zeros((2, 40_000), dtype=np.int8)
    wide[1, 39_999] = -1
    np.testing.assert_array_equal(SparseFrames.of(wide).dense(), wide)  # column indices past int16
