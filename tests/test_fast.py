"""pgtrain.fast: each fast path against the plain torch path. The actors (the lecture's compiled pass, numpy, torch's
inverse-CDF sampler) give the actions that the plain policy's probabilities give at the same uniform draws, from the
same RNG state, and the probabilities they act on are the plain policy's; the sparse layers' forward and backward
equal the dense ones'; the compiled passes equal their numpy forms."""

from __future__ import annotations

import copy

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

from pgtrain import fast
from pgtrain.batches import SparseFrames
from pgtrain.config import DiscreteHead
from pgtrain.fast.acting import (
    NUMPY_ACT_MAX_BATCH,
    LectureKernelActor,
    NumpyActor,
    numpy_forward,
    numpy_head_outputs,
    numpy_leaves,
    sample,
)
from pgtrain.fast.sparse import (
    DENSE_ACT_MAX_BATCH,
    NUMPY_MATMUL_MAX,
    SparseFrameConv,
    SparseInputLinear,
    _windows_of_pixels,
    matmul_numpy,
    sparse_linear_numpy,
)
from pgtrain.nets import Policy

FRAMES = gym.spaces.Box(-1, 1, (6400,), np.int8)


def lecture_policy(hidden: int = 200) -> Policy:
    return Policy(FRAMES, gym.spaces.Discrete(2), "mlp", [hidden], "relu", DiscreteHead.sigmoid)


def deep_categorical_policy() -> Policy:
    return Policy(FRAMES, gym.spaces.Discrete(3), "mlp", [16, 8], "tanh", DiscreteHead.softmax)


def inverse_cdf(probs: np.ndarray, u: np.ndarray) -> np.ndarray:
    """The action at uniform draw ``u`` ``(B,)``: Bernoulli probs ``(B,)`` -> u < p; categorical ``(B, n)`` -> the
    first action whose cumulative probability reaches u."""
    if probs.ndim == 1:
        return (u < probs).astype(np.int64)
    return np.minimum((probs.cumsum(-1) < u[:, None]).sum(-1), probs.shape[-1] - 1)


def near_a_boundary(probs: np.ndarray, u: np.ndarray, tol: float = 1e-5) -> np.ndarray:
    """``(B,)``: whether u lies within ``tol`` of a CDF step, where float rounding may decide either way."""
    cdf = probs[:, None] if probs.ndim == 1 else probs.cumsum(-1)
    return (np.abs(cdf - u[:, None]) < tol).any(-1)


def plain_probs(policy: Policy, x: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return policy.distribution(x).probs.double().numpy()


@pytest.mark.parametrize("rows", [1, 8, 700])
@pytest.mark.parametrize("density", [0.004, 0.3])
def test_sparse_first_layer_equals_the_dense_product(rows: int, density: float) -> None:
    """Same outputs and gradients as x @ W + b (sparse path, and the dense one above max_density), with all-zero rows
    and a fully zero batch included."""
    torch.manual_seed(0)
    layer = SparseInputLinear(6400, 200)
    x = (torch.rand(rows, 6400) < density).float() - (torch.rand(rows, 6400) < density).float()
    x[0] = 0
    for batch in (x, torch.zeros_like(x)):
        xs, xd = batch.clone().requires_grad_(True), batch.clone().requires_grad_(True)
        g = torch.randn(rows, 200)
        ys = layer(xs)
        (ys * g).sum().backward()
        grads = layer.weight.grad.clone(), layer.bias.grad.clone(), xs.grad.clone()
        layer.zero_grad()
        yd = xd @ layer.weight + layer.bias
        (yd * g).sum().backward()
        torch.testing.assert_close(ys, yd)
        for got, want in zip(grads, (layer.weight.grad, layer.bias.grad, xd.grad), strict=True):
            torch.testing.assert_close(got, want)
        layer.zero_grad()


@pytest.mark.parametrize("density", [0.004, 0.3])
def test_int8_frames_give_the_float_frames_outputs_and_weight_gradients(density: float) -> None:
    """Pong's int8 difference frames go into the first layer as they are (no float copy of the batch): the outputs and
    the weight gradients equal those of the same frames as float32, on the sparse path and on the dense fallback."""
    torch.manual_seed(0)
    layer = SparseInputLinear(6400, 200)
    x = ((torch.rand(300, 6400) < density).to(torch.int8) - (torch.rand(300, 6400) < density).to(torch.int8)).to(torch.int8)
    assert x.dtype == torch.int8 and x.abs().sum() > 0
    g = torch.randn(300, 200)
    (layer(x) * g).sum().backward()
    y_int, grad_int = layer(x).detach(), layer.weight.grad.clone()
    layer.zero_grad()
    (layer(x.float()) * g).sum().backward()
    torch.testing.assert_close(y_int, layer(x.float()).detach())
    torch.testing.assert_close(grad_int, layer.weight.grad)


def sparse_frames(rows: int, density: float, seed: int = 0) -> np.ndarray:
    """``(rows, 6400)`` int8 difference frames in {-1, 0, 1}, about ``2 * density`` of them nonzero; row 0 all zeros."""
    rng = np.random.default_rng(seed)
    x = (rng.random((rows, 6400)) < density).astype(np.int8) - (rng.random((rows, 6400)) < density).astype(np.int8)
    x[0] = 0
    return x


@pytest.mark.parametrize("density", [0.004, 0.3])
def test_sparse_first_convolution_equals_the_dense_one(density: float, monkeypatch: pytest.MonkeyPatch) -> None:
    """SparseFrameConv (SmallCNN's first layer) = torch's convolution with its weight and bias: the outputs and the
    weight and bias gradients, on int8 frames (the four corners lit, an all-zero row) and on the same batch as a sparse
    COO tensor; with gradients the sparse frames never reach the dense convolution, the dense ones (above max_density)
    do; without gradients (acting) batches of up to DENSE_ACT_MAX_BATCH frames do."""
    torch.manual_seed(0)
    conv = SparseFrameConv(80, 16, 8, 4)
    x = torch.from_numpy(sparse_frames(300, density))
    x[1, [0, 79, 6320, 6399]] = 1
    g = torch.randn(300, 16, 19, 19)
    want = torch.nn.functional.conv2d(x.float().reshape(-1, 1, 80, 80), conv.weight, conv.bias, stride=4)
    want_grads = torch.autograd.grad((want * g).sum(), [conv.weight, conv.bias])
    dense_calls = []
    dense = torch.nn.Conv2d._conv_forward
    monkeypatch.setattr(torch.nn.Conv2d, "_conv_forward", lambda *a: dense_calls.append(1) or dense(*a))
    for batch in (x, x.to_sparse()):
        got = conv(batch)
        torch.testing.assert_close(got, want)
        got_grads = torch.autograd.grad((got * g).sum(), [conv.weight, conv.bias])
        for got_grad, want_grad in zip(got_grads, want_grads, strict=True):
            # float32 sums of up to ~10^5 terms in another order: an absolute tolerance scaled to the gradient's size
            torch.testing.assert_close(got_grad, want_grad, rtol=1e-4, atol=1e-5 * float(want_grad.abs().max()))
    assert len(dense_calls) == (0 if density < 0.01 else 1)  # the COO batch always takes the sparse path
    with torch.no_grad():  # acting: the dense convolution for small batches, the sparse one for large ones
        for batch in (x[:DENSE_ACT_MAX_BATCH], x[:DENSE_ACT_MAX_BATCH].to_sparse()):
            torch.testing.assert_close(conv(batch), want[:DENSE_ACT_MAX_BATCH])
        torch.testing.assert_close(conv(x), want)
    assert len(dense_calls) == (2 if density < 0.01 else 4)


def test_each_pixel_lies_in_the_convolution_windows_that_hold_it() -> None:
    """_windows_of_pixels for 4x4 kernels at stride 2 on a 6x6 frame (2x2 windows, flat i*2 + j): each pixel's
    windows and its flat index r*4 + c inside each kernel, by hand."""
    windows, offsets = _windows_of_pixels(6, 4, 2)

    def of(r: int, c: int) -> set[tuple[int, int]]:
        return {(int(w), int(o)) for w, o in zip(windows[r * 6 + c], offsets[r * 6 + c], strict=True) if w >= 0}

    assert of(0, 0) == {(0, 0)}
    assert of(2, 2) == {(0, 10), (1, 8), (2, 2), (3, 0)}  # the centre of all four windows
    assert of(1, 4) == {(1, 6)}  # row 1: window row 0 at kernel row 1; column 4: window column 1 at kernel column 2
    assert of(5, 5) == {(3, 15)}


@pytest.mark.parametrize("density", [0.004, 0.3])
def test_numpy_sparse_linear_equals_the_dense_product(density: float) -> None:
    """sparse_linear_numpy (the acting path: the compiled sum of weight rows) = x @ W + b, on sparse frames and on the
    dense fallback above max_density."""
    rng = np.random.default_rng(1)
    weight = rng.standard_normal((6400, 200)).astype(np.float32)
    bias = rng.standard_normal(200).astype(np.float32)
    x = sparse_frames(8, density)
    expected = x.astype(np.float64) @ weight + bias
    np.testing.assert_allclose(sparse_linear_numpy(x, weight, bias, 0.05), expected, rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(sparse_linear_numpy(np.zeros_like(x), weight, bias, 0.05), np.tile(bias, (8, 1)))
    frames = SparseFrames.of(x)  # the async collector's form, with all-zero rows (x[0]) among them
    np.testing.assert_allclose(sparse_linear_numpy(frames, weight, bias, 0.05), expected, rtol=1e-5, atol=1e-4)


def test_compiled_sparse_rows_matmul_sums_in_the_embedding_bags_order() -> None:
    """kernels.sparse_rows_matmul gives torch's embedding bag (sum mode, per-entry values) plus the bias bit for bit:
    the same sums in the same order, so acting in numpy and in torch agree to the last bit on the first layer."""
    from torch.nn import functional as F

    from pgtrain.fast.kernels import sparse_rows_matmul

    rng = np.random.default_rng(2)
    weight = rng.standard_normal((6400, 200)).astype(np.float32)
    bias = rng.standard_normal(200).astype(np.float32)
    frames = SparseFrames.of(sparse_frames(12, 0.005))
    bag = F.embedding_bag(
        torch.from_numpy(frames.cols.astype(np.int64)), torch.from_numpy(weight), torch.from_numpy(frames.starts()),
        mode="sum", per_sample_weights=torch.from_numpy(frames.values.astype(np.float32)),
    ).numpy()  # fmt: skip
    np.testing.assert_array_equal(sparse_rows_matmul(frames.cols, frames.values, frames.counts, weight, bias), bag + bias)


def test_sparse_frames_of_int8_frames_compiled_equals_numpy() -> None:
    """SparseFrames.of takes Pong's int8 frames through the compiled pass (kernels.nonzero_rows) and other arrays
    through numpy: the same entries, in the same order, with all-zero rows and values in the last of 8 columns."""
    x = sparse_frames(16, 0.01)
    x[3] = 0
    x[5, -1], x[6, 0] = 1, -1
    compiled, reference = SparseFrames.of(x), SparseFrames.of(x.astype(np.int16))
    assert compiled.cols.dtype == reference.cols.dtype == np.int16 and compiled.values.dtype == np.int8
    np.testing.assert_array_equal(compiled.cols, reference.cols)
    np.testing.assert_array_equal(compiled.values, reference.values)
    np.testing.assert_array_equal(compiled.counts, reference.counts)
    np.testing.assert_array_equal(compiled.dense(), x)


@pytest.mark.parametrize("shape", [(8, 200, 1), (64, 200, 1), (8, 16, 8)])
def test_numpy_matmul_small_and_large(shape: tuple[int, int, int]) -> None:
    """matmul_numpy: numpy for small products (the policy head's), torch above NUMPY_MATMUL_MAX, the same product."""
    m, k, n = shape
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((m, k)).astype(np.float32), rng.standard_normal((n, k)).astype(np.float32).T  # a transposed view
    out = matmul_numpy(a, b)
    assert out.shape == (m, n) and out.dtype == np.float32 and (m * k * n <= NUMPY_MATMUL_MAX) == (shape != (64, 200, 1))
    np.testing.assert_allclose(out, a.astype(np.float64) @ b, rtol=1e-4, atol=1e-4)


# ----------------------------------------------------------------------------------------------------------------------
# The actors against the plain policy


@pytest.mark.parametrize("kind", ["categorical", "bernoulli"])
def test_inverse_cdf_sampler_gives_the_plain_laws_actions_at_torchs_draws(kind: str) -> None:
    """fast.acting.sample from torch's RNG state S: the actions the plain policy's probabilities give at the uniform
    draws torch.rand makes from S; its log-probabilities under the plain policy are the log of those probabilities."""
    torch.manual_seed(0)
    head = DiscreteHead.sigmoid if kind == "bernoulli" else DiscreteHead.softmax
    n = 2 if kind == "bernoulli" else 4
    policy = Policy(gym.spaces.Box(-1, 1, (5,)), gym.spaces.Discrete(n), "mlp", [16], "tanh", head)
    x = torch.randn(500, 5) * 3
    probs = plain_probs(policy, x)
    torch.manual_seed(7)
    with torch.no_grad():
        actions = sample(policy, x).long().numpy()
    torch.manual_seed(7)
    u = torch.rand(500).double().numpy()
    ok = ~near_a_boundary(probs, u)
    assert ok.mean() > 0.99 and 0 < actions.mean() < n - 1
    np.testing.assert_array_equal(actions[ok], inverse_cdf(probs, u)[ok])
    table = np.stack([1 - probs, probs], -1) if probs.ndim == 1 else probs
    with torch.no_grad():
        log_prob = policy.log_prob(x, torch.as_tensor(actions).to(torch.float32 if kind == "bernoulli" else torch.int64))
    np.testing.assert_allclose(log_prob.numpy(), np.log(table[np.arange(500), actions]), rtol=1e-5, atol=1e-6)


def test_gaussian_sampler_draws_what_the_plain_distribution_draws() -> None:
    """For a Gaussian head, mean + std * randn from torch's RNG state S is the plain distribution's sample from S."""
    torch.manual_seed(0)
    policy = Policy(gym.spaces.Box(-1, 1, (3,)), gym.spaces.Box(-2, 2, (2,)), "mlp", [8], "tanh", log_std_init=-0.5)
    x = torch.randn(50, 3)
    with torch.no_grad():
        torch.manual_seed(3)
        fast_actions = sample(policy, x)
        torch.manual_seed(3)
        plain_actions = policy.act(x)
        torch.testing.assert_close(fast_actions, plain_actions)
        torch.testing.assert_close(policy.log_prob(x, fast_actions), policy.log_prob(x, plain_actions))


@pytest.mark.parametrize("make", [lecture_policy, deep_categorical_policy], ids=["lecture", "deep-categorical"])
def test_numpy_actor_gives_the_plain_laws_actions_at_numpys_draws(make) -> None:
    """NumpyActor from numpy's global RNG state S: the actions the plain policy's probabilities give at the uniforms
    numpy draws from S, the plain mode, and the plain log-probabilities from its own forward; before and after an
    in-place optimiser step (it reads the parameters' storage)."""
    torch.manual_seed(0)
    policy = make()
    actor = NumpyActor(policy)
    opt = torch.optim.SGD(policy.parameters(), lr=0.05)
    x = sparse_frames(64, 0.005)
    xt = torch.as_tensor(x)
    seen = []
    for _ in range(2):
        probs = plain_probs(policy, xt)
        with torch.no_grad():
            mode = policy.mode(xt).long().numpy()
            features = policy.torso(xt).numpy()
        np.random.seed(3)
        u = np.random.random_sample((20, 64))
        np.random.seed(3)
        actions = np.stack([actor(x if i % 2 else SparseFrames.of(x), explore=True) for i in range(20)])
        assert actions.dtype == np.int64 and len(np.unique(actions)) > 1
        for a_i, u_i in zip(actions, u, strict=True):
            ok = ~near_a_boundary(probs, u_i)
            np.testing.assert_array_equal(a_i[ok], inverse_cdf(probs, u_i)[ok])
        np.testing.assert_array_equal(actor(x, explore=False), mode)
        np.testing.assert_array_equal(actor(SparseFrames.of(x), explore=False), mode)  # the async collector's form
        np.testing.assert_allclose(numpy_forward(actor.leaves, x), features, rtol=1e-5, atol=1e-6)
        out = numpy_head_outputs(actor.leaves, policy.head, x).astype(np.float64)
        if policy.kind == "bernoulli":
            numpy_log_prob = np.where(actions[0] == 1, -np.logaddexp(0, -out[:, 0]), -np.logaddexp(0, out[:, 0]))
        else:
            numpy_log_prob = (out - np.logaddexp.reduce(out, -1, keepdims=True))[np.arange(64), actions[0]]
        with torch.no_grad():
            dtype = torch.float32 if policy.kind == "bernoulli" else torch.int64
            plain_log_prob = policy.log_prob(xt, torch.as_tensor(actions[0]).to(dtype)).double().numpy()
        np.testing.assert_allclose(numpy_log_prob, plain_log_prob, rtol=1e-5, atol=1e-5)
        seen.append(features)
        opt.zero_grad()
        (-policy.log_prob(xt, policy.mode(xt)).mean()).backward()
        opt.step()
    assert not np.allclose(*seen)  # the step changed what both forwards computed


def test_lecture_kernel_gives_the_plain_laws_actions_and_probabilities() -> None:
    """The compiled pass of the lecture's net from numpy's RNG state S: the plain policy's inverse-CDF actions at the
    uniforms numpy draws from S and the plain mode; and its probability of UP is the plain one's to 1e-4: every action
    is UP at u = p - 1e-4 and DOWN at u = p + 1e-4."""
    from pgtrain.fast.kernels import sparse_relu_bernoulli

    torch.manual_seed(0)
    policy = lecture_policy()
    actor = LectureKernelActor(policy)
    x = sparse_frames(64, 0.005)
    p = plain_probs(policy, torch.as_tensor(x))
    assert 0.3 < p.mean() < 0.7
    np.random.seed(5)
    u = np.random.random_sample(64)
    np.random.seed(5)
    actions = actor(SparseFrames.of(x), explore=True)
    ok = ~near_a_boundary(p, u)
    np.testing.assert_array_equal(actions[ok], inverse_cdf(p, u)[ok])
    with torch.no_grad():
        np.testing.assert_array_equal(actor(x, explore=False), policy.mode(torch.as_tensor(x)).long().numpy())
    frames = SparseFrames.of(x)
    weight, bias, head_weight, head_bias = actor._arrays()
    at = lambda u: sparse_relu_bernoulli(frames.cols, frames.values, frames.counts, weight, bias, head_weight, head_bias[0], u)  # noqa: E731
    assert at(p - 1e-4).tolist() == [1] * 64 and at(p + 1e-4).tolist() == [0] * 64


def test_the_door_picks_the_fastest_form_and_passes_declined_batches_on() -> None:
    """fast.actor: the lecture's net through its compiled pass, a deeper sparse MLP in numpy, dense torsos and Gaussian
    heads through torch's sampler; a batch above NUMPY_ACT_MAX_BATCH goes to torch's sampler (same torch draws)."""
    lecture, deep = lecture_policy(8), deep_categorical_policy()
    dense = Policy(gym.spaces.Box(-1, 1, (4,)), gym.spaces.Discrete(2), "mlp", [8], "relu")
    gaussian = Policy(FRAMES, gym.spaces.Box(-1, 1, (2,)), "mlp", [8], "relu")
    assert LectureKernelActor.applies(lecture) and not LectureKernelActor.applies(deep)
    assert numpy_leaves(deep) is not None and numpy_leaves(dense) is None and numpy_leaves(gaussian) is None
    to_tensor = torch.as_tensor
    big = sparse_frames(NUMPY_ACT_MAX_BATCH + 1, 0.005)
    for policy in (lecture, deep, dense, gaussian):
        act = fast.actor(policy, to_tensor)
        obs = big if policy is not dense else np.random.default_rng(0).standard_normal((NUMPY_ACT_MAX_BATCH + 1, 4)).astype(np.float32)
        torch.manual_seed(1)
        got = act(obs, True)
        torch.manual_seed(1)
        with torch.no_grad():
            want = sample(policy, torch.as_tensor(obs))
        assert isinstance(got, torch.Tensor)
        torch.testing.assert_close(got, want)
    small = sparse_frames(NUMPY_ACT_MAX_BATCH, 0.005)
    assert isinstance(fast.actor(lecture, to_tensor)(small, True), np.ndarray)
    assert isinstance(fast.actor(deep, to_tensor)(small, True), np.ndarray)
    assert isinstance(fast.actor(gaussian, to_tensor)(small[:2], True), torch.Tensor)


def test_lecture_kernel_views_follow_the_parameters_storage() -> None:
    """The compiled pass reads numpy views made once per parameter storage: a loaded state dict (written in place) is
    seen, and a copy of the module acts with its own parameters, not the original's."""
    torch.manual_seed(0)
    policy = lecture_policy()
    frames = SparseFrames.of(sparse_frames(16, 0.005))
    with torch.no_grad():
        policy.head.bias.fill_(100.0)  # always UP
    actor = LectureKernelActor(policy)
    before = actor(frames, explore=False)  # the views are made
    assert before.sum() == len(before)
    twin = copy.deepcopy(policy)
    with torch.no_grad():
        twin.head.bias.fill_(-100.0)  # the copy now always answers DOWN
    assert LectureKernelActor(twin)(frames, explore=False).sum() == 0
    np.testing.assert_array_equal(actor(frames, explore=False), before)  # the original is untouched
    policy.load_state_dict(twin.state_dict())  # copied into the original's storage: its views see it
    assert actor(frames, explore=False).sum() == 0


def test_sparse_policy_gives_the_dense_policys_log_probabilities_entropy_and_gradients() -> None:
    """A policy whose first layer is a SparseInputLinear against the same policy with an nn.Linear first layer holding
    the same weights: log pi(a|s), the entropy and every parameter's gradient agree."""
    torch.manual_seed(0)
    policy = deep_categorical_policy()
    first = policy.torso[1][0]
    assert isinstance(first, SparseInputLinear)
    dense = copy.deepcopy(policy)
    linear = nn.Linear(6400, 16)
    with torch.no_grad():
        linear.weight.copy_(first.weight.t())
        linear.bias.copy_(first.bias)
    dense.torso[1][0] = linear
    dense.torso[0] = nn.Sequential(nn.Flatten(), ToFloat32())
    x = torch.as_tensor(sparse_frames(40, 0.005))
    actions = torch.randint(0, 3, (40,))
    results = []
    for p in (policy, dense):
        p.zero_grad()
        log_prob, entropy = p.log_prob(x, actions), p.entropy(x)
        (log_prob.sum() + entropy.sum()).backward()
        results.append((log_prob.detach(), entropy.detach(), [q.grad.clone() for q in p.parameters()]))
    (lp_s, h_s, g_s), (lp_d, h_d, g_d) = results
    torch.testing.assert_close(lp_s, lp_d)
    torch.testing.assert_close(h_s, h_d)
    g_s[0] = g_s[0].t()  # SparseInputLinear stores its weight (in, out)
    for a, b in zip(g_s, g_d, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


class ToFloat32(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.float()


def test_fast_path_benchmark_times_every_form_in_process() -> None:
    """scripts/bench_fast_paths.py's in-process timings, tiny: a positive time per call for every form it compares."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parent.parent / "scripts" / "bench_fast_paths.py"
    spec = importlib.util.spec_from_file_location("bench_fast_paths", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    results = {}
    for part in (bench.acting, bench.distribution_validation, bench.sparse_layers, bench.kernels):
        results.update(part(1, 0.001))
    assert len(results) == 7 and all(len(forms) >= 2 and min(forms.values()) > 0 for forms in results.values())
