"""Networks: torsos (MLP, CNN) and policy heads (categorical, Bernoulli, Gaussian, deterministic).

Every algorithm builds its networks here, so the architecture options mean the same thing everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import gymnasium as gym
import numpy as np
import torch
from torch import nn
from torch.distributions import Bernoulli, Categorical, Distribution, Independent, Normal
from torch.nn import functional as F

from pgtrain.batches import SparseFrames
from pgtrain.config import Activation, DiscreteHead
from pgtrain.errors import PgtrainError

# Argument validation in torch.distributions costs more than the maths for small batches.
Distribution.set_default_validate_args(False)

_ACTIVATIONS: dict[str, type[nn.Module]] = {"tanh": nn.Tanh, "relu": nn.ReLU}


def mlp(
    in_dim: int, hidden_sizes: Sequence[int], activation: Activation | str, out_dim: int | None = None, sparse_input: bool = False
) -> nn.Sequential:
    """Fully connected layers ``in_dim -> hidden_sizes... -> out_dim`` (no activation after the last layer).

    With ``out_dim=None`` the network ends with the last hidden layer's activation (a torso). ``sparse_input`` makes
    the first layer a :class:`SparseInputLinear` (same maths, faster on mostly-zero inputs).
    """
    act = _ACTIVATIONS[Activation(activation).value]
    layers: list[nn.Module] = []
    last = in_dim
    for width in hidden_sizes:
        layers += [SparseInputLinear(last, width) if sparse_input and not layers else nn.Linear(last, width), act()]
        last = width
    if out_dim is not None:
        layers.append(SparseInputLinear(last, out_dim) if sparse_input and not layers else nn.Linear(last, out_dim))
    return nn.Sequential(*layers)


# Flat inputs at least this wide get a SparseInputLinear first layer (Pong's 6400-value difference frames).
SPARSE_MIN_FEATURES = 1024


class SparseInputLinear(nn.Module):
    """``y = x W + b``, the maths and parameter count of ``nn.Linear(in_features, out_features)``, for inputs that are
    mostly zeros: when at most ``max_density`` of a batch is nonzero, each row sums only the weight rows of its
    nonzero inputs (an embedding bag), forward and backward.

    The lecture's Pong frames are differences of binarised frames: about 0.5 % of the 6400 values are nonzero, so the
    6400 x 200 product costs ~1/200 of the dense one; policy steps and REINFORCE updates run several times faster.
    ``weight`` is stored ``(in_features, out_features)`` so that one input's weights are contiguous; initialised like
    ``nn.Linear``: U(-1/sqrt(in), 1/sqrt(in)) for weight and bias.
    """

    def __init__(self, in_features: int, out_features: int, max_density: float = 0.05) -> None:
        super().__init__()
        self.in_features, self.out_features, self.max_density = in_features, out_features, max_density
        self.weight = nn.Parameter(torch.empty(in_features, out_features))
        self.bias = nn.Parameter(torch.empty(out_features))
        bound = 1.0 / math.sqrt(in_features)
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``(B, in_features)``: dense, or a sparse COO tensor with coalesced (row-major) indices, whose entries
        are used as they are (:class:`~pgtrain.batches.SparseFrames` batches, :meth:`Algorithm.obs_tensor`)."""
        entries = _sparse_entries(x, self.max_density)
        if entries is not None:
            return self._sparse(x, *entries)
        return torch.matmul(x.to(self.weight.dtype), self.weight) + self.bias

    def _sparse(self, x: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, vals: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        """x W + b from x's nonzero entries (see :func:`_nonzeros`)."""
        vals = vals.to(self.weight.dtype)
        if not torch.is_grad_enabled():  # acting: the embedding bag alone, without the autograd node's cost
            return F.embedding_bag(cols, self.weight, offsets, mode="sum", per_sample_weights=vals) + self.bias
        return _SparseRowsMatmul.apply(x, self.weight, rows, cols, vals, offsets) + self.bias

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, max_density={self.max_density}"


def _sparse_entries(x: torch.Tensor, max_density: float) -> tuple[torch.Tensor, ...] | None:
    """The nonzero entries of the batch ``x`` (rows, columns, values, each row's first entry; see :func:`_nonzeros`)
    when it is a sparse COO tensor with coalesced indices, or dense ``(B, D)`` with at most ``max_density`` of it
    nonzero; else None (the dense product). Meta tensors (shapes only: resources.py) are dense."""
    if x.is_sparse:
        rows, cols = x._indices()
        return rows, cols, x._values(), torch.searchsorted(rows, torch.arange(len(x), device=rows.device))
    if x.dim() == 2 and not x.is_meta and _looks_sparse(x, max_density):
        entries = _nonzeros(x)
        if len(entries[1]) <= max_density * x.numel():
            return entries
    return None


PROBE_ROWS = 256  # see _looks_sparse


def _looks_sparse(x: torch.Tensor, max_density: float) -> bool:
    """Whether the dense batch ``x`` ``(B, D)`` is worth searching for its nonzeros: a large batch's density is judged
    on its first ``PROBE_ROWS`` rows before all of it is searched."""
    probe = x[:PROBE_ROWS]
    return len(x) <= PROBE_ROWS or int(torch.count_nonzero(probe)) <= max_density * probe.numel()


def _nonzeros(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rows, columns and values of the nonzero entries of ``x`` ``(B, D)`` in row-major order, and each row's first
    entry (``(B,)`` offsets). On the CPU numpy finds them several times faster than ``torch.nonzero``."""
    if x.device.type != "cpu":
        rows, cols = x.nonzero(as_tuple=True)
        return rows, cols, x[rows, cols], torch.searchsorted(rows, torch.arange(len(x), device=x.device))
    flat_x = x.detach().numpy().reshape(-1)
    flat = np.flatnonzero(flat_x != 0)
    rows, cols = np.divmod(flat, x.shape[1])
    offsets = np.searchsorted(rows, np.arange(len(x)))
    return torch.from_numpy(rows), torch.from_numpy(cols), torch.from_numpy(flat_x[flat]), torch.from_numpy(offsets)


class _SparseRowsMatmul(torch.autograd.Function):
    """``x @ weight`` over x's nonzero entries: row i of the result = sum_j x_ij weight_j over x_ij != 0.

    Backward: grad_weight = x^T grad_out, row j = sum_i x_ij grad_out_i over the same entries, grouped by j.
    """

    @staticmethod
    def forward(
        ctx, x: torch.Tensor, weight: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, vals: torch.Tensor, offsets: torch.Tensor
    ) -> torch.Tensor:
        """``rows``, ``cols``, ``vals``, ``offsets``: x's nonzero entries from :func:`_nonzeros`."""
        ctx.save_for_backward(weight, rows, cols, vals)
        return F.embedding_bag(cols, weight, offsets, mode="sum", per_sample_weights=vals)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        weight, rows, cols, vals = ctx.saved_tensors
        grad_x = grad_out @ weight.t() if ctx.needs_input_grad[0] else None
        grad_w = None
        if ctx.needs_input_grad[1]:
            order = torch.argsort(cols, stable=True)
            by_col = cols[order]
            offsets = torch.searchsorted(by_col, torch.arange(weight.shape[0], device=by_col.device))
            grad_w = F.embedding_bag(rows[order], grad_out.contiguous(), offsets, mode="sum", per_sample_weights=vals[order])
        return grad_x, grad_w, None, None, None, None


def sparse_matmul_numpy(x: np.ndarray | SparseFrames, weight: np.ndarray, max_density: float) -> np.ndarray:
    """``x @ weight`` in numpy for a small batch ``x`` ``(B, D)`` of mostly zeros (or its :class:`SparseFrames`) and
    ``weight`` ``(D, H)`` -> ``(B, H)``: row i sums the weight rows of its nonzero inputs times their values (torch's
    embedding bag on views of the arrays: one call, and the rows are read where they lie instead of being gathered
    into a copy first); the dense product when more than ``max_density`` of ``x`` is nonzero."""
    frames = x if isinstance(x, SparseFrames) else SparseFrames.of(x)
    if len(frames.cols) > max_density * len(frames) * frames.width:
        return matmul_numpy((frames.dense() if isinstance(x, SparseFrames) else x).astype(weight.dtype), weight)
    cols = torch.from_numpy(frames.cols.astype(np.int64))
    starts = torch.from_numpy(frames.starts())
    values = torch.from_numpy(frames.values.astype(weight.dtype))
    return F.embedding_bag(cols, torch.from_numpy(weight), starts, mode="sum", per_sample_weights=values).numpy()


# matmul_numpy: products of at most this many multiply-adds run in numpy itself, whose OpenBLAS keeps them on one
# thread (its gemm threads from 262,144 multiply-adds on, its gemv from 9,216); larger ones go through torch.
NUMPY_MATMUL_MAX = 8192


def matmul_numpy(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` of float32 arrays ``(B, K)`` and ``(K, N)``: small products (the policy head's on the env-step loop's
    batch) in numpy, at a fraction of torch's fixed cost per call; larger ones computed by torch on views of them:
    numpy's OpenBLAS starts its own threads for products above ~260k multiply-adds (16 Pong frames' first layer) and
    spins them on the cores the emulators need; torch keeps to ``device.torch_threads``."""
    if a.shape[0] * a.shape[1] * b.shape[1] <= NUMPY_MATMUL_MAX:
        return a @ b
    return torch.mm(torch.from_numpy(a), torch.from_numpy(b)).numpy()


def mlp_out_dim(in_dim: int, hidden_sizes: Sequence[int]) -> int:
    return hidden_sizes[-1] if len(hidden_sizes) else in_dim


class NatureCNN(nn.Module):
    """The DQN/A2C Atari torso: 3 conv layers and a 512-wide linear layer, for ``(C, 84, 84)`` uint8 frames."""

    def __init__(self, in_channels: int, out_dim: int = 512) -> None:
        super().__init__()
        self.out_dim = out_dim
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, 32, 8, stride=4),
            nn.ReLU(),
            nn.Conv2d(32, 64, 4, stride=2),
            nn.ReLU(),
            nn.Conv2d(64, 64, 3, stride=1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(64 * 7 * 7, out_dim),
            nn.ReLU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.float() / 255.0)


# SparseFrameConv: batches of at most this many frames, without gradients (the env-step loop's), take the dense
# convolution; with gradients or above it the sparse one, whose cost grows with the nonzero pixels only.
DENSE_ACT_MAX_BATCH = 16


class SparseFrameConv(nn.Conv2d):
    """``nn.Conv2d(1, out_channels, kernel_size, stride)`` (the same parameters, initialisation and state-dict keys) on
    flat ``(B, side * side)`` frames, computed from their nonzero pixels when at most ``max_density`` of the batch is
    nonzero, as :class:`SparseInputLinear` does for a linear layer.

    out[b, c, i, j] = bias[c] + sum over the pixels (r, s) of window (i, j) of weight[c, 0, r - i*stride, s - j*stride]
    x[b, r, s]: a pixel lies in at most ceil(kernel/stride)^2 windows (4 for the 2013 DQN's 8x8 kernels at stride 4), so
    each nonzero pixel adds one kernel entry's ``out_channels`` weights to each of them. The lecture's difference frames
    have ~0.5 % nonzero pixels: the first convolution's forward and backward cost a few percent of the dense ones, and
    the layer was most of a PPO or A2C update's time on Pong (docs/BENCHMARKS.md). Denser batches: the dense convolution.
    """

    def __init__(self, side: int, out_channels: int, kernel_size: int, stride: int, max_density: float = 0.05) -> None:
        super().__init__(1, out_channels, kernel_size, stride=stride)
        self.side, self.max_density = side, max_density
        self.out_side = (side - kernel_size) // stride + 1
        windows, offsets = _windows_of_pixels(side, kernel_size, stride)
        self.register_buffer("pixel_windows", windows, persistent=False)  # (side*side, M): each pixel's windows, -1 = none
        self.register_buffer("pixel_offsets", offsets, persistent=False)  # (side*side, M): its index in each one's kernel

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``(B, side * side)``, dense or a sparse COO tensor with coalesced indices -> ``(B, out_channels, O, O)``.

        Acting (no gradients, at most ``DENSE_ACT_MAX_BATCH`` frames): the dense convolution, cheaper there than
        gathering the windows of the nonzero pixels (about half the time for 8 frames; docs/BENCHMARKS.md)."""
        if len(x) > DENSE_ACT_MAX_BATCH or (torch.is_grad_enabled() and self.weight.requires_grad):
            entries = _sparse_entries(x, self.max_density)
            if entries is not None:
                rows, cols, vals, _ = entries
                return self._sparse(len(x), rows, cols, vals)
        if x.is_sparse:
            x = x.to_dense()
        return super().forward(x.to(self.weight.dtype).reshape(-1, 1, self.side, self.side))

    def _sparse(self, batch: int, rows: torch.Tensor, cols: torch.Tensor, vals: torch.Tensor) -> torch.Tensor:
        windows, offsets = self.pixel_windows[cols], self.pixel_offsets[cols]  # (n, M) for the n nonzero pixels
        inside = windows >= 0
        n_windows = self.out_side * self.out_side
        target = (rows[:, None] * n_windows + windows)[inside]  # output row (b, window) of each (pixel, window) pair
        scale = vals.to(self.weight.dtype)[:, None].expand_as(windows)[inside]
        kernel = self.weight.reshape(self.out_channels, -1).t()  # (kernel_size^2, out_channels)
        out = _ScatterKernelRows.apply(kernel, self.bias, target, offsets[inside], scale, batch * n_windows)
        return out.view(batch, self.out_side, self.out_side, self.out_channels).permute(0, 3, 1, 2)  # channels-last memory

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, side={self.side}, max_density={self.max_density}"


class _ScatterKernelRows(torch.autograd.Function):
    """out[t] = bias + sum over the entries e with target t of scale_e kernel[offset_e]: ``(n_rows, C)`` from ``kernel``
    ``(K, C)``, the scaled kernel rows added into rows that start as the bias (one pass over the output, no sort).
    Backward: grad_bias = the sum of grad_out's rows; grad_kernel[k] = sum over the entries with offset k of scale_e
    grad_out[target_e], one embedding bag over the entries sorted by offset."""

    @staticmethod
    def forward(
        ctx, kernel: torch.Tensor, bias: torch.Tensor, target: torch.Tensor, offset: torch.Tensor, scale: torch.Tensor, n_rows: int
    ) -> torch.Tensor:
        ctx.save_for_backward(target, offset, scale)
        ctx.n_kernel = kernel.shape[0]
        out = bias.expand(n_rows, len(bias)).contiguous()
        return out.index_add_(0, target, kernel[offset] * scale[:, None])

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        target, offset, scale = ctx.saved_tensors
        grad_out = grad_out.contiguous()
        grad_kernel = _bags(target, offset, grad_out, scale, ctx.n_kernel) if ctx.needs_input_grad[0] else None
        grad_bias = grad_out.sum(0) if ctx.needs_input_grad[1] else None
        return grad_kernel, grad_bias, None, None, None, None


def _bags(rows: torch.Tensor, bag: torch.Tensor, table: torch.Tensor, scale: torch.Tensor, n_bags: int) -> torch.Tensor:
    """``(n_bags, C)``: bag i = sum over the entries e with bag_e = i of scale_e table[rows_e]."""
    order = torch.argsort(bag, stable=True)
    counts = torch.bincount(bag, minlength=n_bags)
    starts = torch.cumsum(counts, 0) - counts  # each bag's first entry in the sorted order
    return F.embedding_bag(rows[order], table, starts, mode="sum", per_sample_weights=scale[order])


def _windows_of_pixels(side: int, kernel_size: int, stride: int) -> tuple[torch.Tensor, torch.Tensor]:
    """For each pixel of a ``side x side`` frame, the windows of a valid convolution that contain it (flat index i*O + j,
    -1 padding) and its index in each window's flat kernel; ``(side*side, ceil(kernel/stride)^2)`` int64 each."""
    out_side = (side - kernel_size) // stride + 1
    per_axis = -(-kernel_size // stride)
    pos = np.arange(side)
    first = np.maximum(0, -(-(pos - kernel_size + 1) // stride))  # the first window along an axis that holds pos
    starts = first[:, None] + np.arange(per_axis)  # (side, per_axis) candidate windows along one axis
    along = pos[:, None] - starts * stride  # the offset of pos inside each
    ok = (starts < out_side) & (along >= 0) & (along < kernel_size)
    win = (starts[:, None, :, None] * out_side + starts[None, :, None, :]).reshape(side * side, -1)
    off = (along[:, None, :, None] * kernel_size + along[None, :, None, :]).reshape(side * side, -1)
    inside = (ok[:, None, :, None] & ok[None, :, None, :]).reshape(side * side, -1)
    return torch.from_numpy(np.where(inside, win, -1)), torch.from_numpy(np.where(inside, off, 0))


class SmallCNN(nn.Module):
    """The torso of the first DQN paper (Mnih et al. 2013, "Playing Atari with Deep Reinforcement Learning"): 16 8x8
    filters, stride 4; 32 4x4 filters, stride 2; 256 units, ReLU after each. Here for one flat ``side x side`` frame,
    the lecture's 80x80 difference frame (values -1, 0, 1, used as they are): about a sixth of the Nature CNN's
    multiply-adds per frame, so A2C on two CPU cores is not bound by the network as much; the first convolution reads
    only the frames' nonzero pixels (:class:`SparseFrameConv`).
    """

    OUT_DIM = 256

    def __init__(self, side: int) -> None:
        super().__init__()
        self.side = side
        conv1 = (side - 8) // 4 + 1
        conv2 = (conv1 - 4) // 2 + 1
        self.net = nn.Sequential(
            SparseFrameConv(side, 16, 8, stride=4),
            nn.ReLU(),
            nn.Conv2d(16, 32, 4, stride=2),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(32 * conv2 * conv2, self.OUT_DIM),
            nn.ReLU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``(B, side * side)`` or ``(B, 1, side, side)``."""
        return self.net(x if x.is_sparse else x.reshape(len(x), -1))


def torso(obs_space: gym.Space, network: str, hidden_sizes: Sequence[int], activation: Activation | str) -> tuple[nn.Module, int]:
    """A feature extractor for ``obs_space`` and its output width."""
    shape = obs_space.shape or ()
    if network == "cnn":
        if len(shape) == 1 and shape[0] >= SPARSE_MIN_FEATURES and math.isqrt(shape[0]) ** 2 == shape[0]:
            return SmallCNN(math.isqrt(shape[0])), SmallCNN.OUT_DIM  # Pong's flat 80x80 difference frames
        if len(shape) != 3:
            raise PgtrainError(f"algo.network=cnn needs image observations (C, H, W) or flat square frames; this env gives shape {shape}")
        return NatureCNN(shape[0]), 512
    in_dim = int(np.prod(shape))
    sparse = in_dim >= SPARSE_MIN_FEATURES and len(hidden_sizes) > 0  # without hidden layers the head reads the input
    first: list[nn.Module] = [nn.Flatten()]
    if not sparse and obs_space.dtype is not None and np.issubdtype(obs_space.dtype, np.integer):
        first.append(ToFloat())  # integer observations arrive as they are (Algorithm.obs_tensor); SparseInputLinear reads them
    return nn.Sequential(*first, mlp(in_dim, hidden_sizes, activation, sparse_input=sparse)), mlp_out_dim(in_dim, hidden_sizes)


class ToFloat(nn.Module):
    """Casts integer observations to float32 in front of a dense first layer."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.float()


class Policy(nn.Module):
    """A stochastic policy pi(a|s): a torso and a head that returns a torch distribution.

    - discrete actions, ``head=softmax``: Categorical over ``n`` logits;
    - discrete actions, ``head=sigmoid``: one logit z, P(a=1|s) = sigmoid(z) (two actions only; the lecture's Pong net);
    - continuous actions: Normal(mu(s), exp(log_std)) with a learned, state-independent log-std, summed over action dims.
    """

    def __init__(
        self,
        obs_space: gym.Space,
        action_space: gym.Space,
        network: str = "mlp",
        hidden_sizes: Sequence[int] = (64, 64),
        activation: Activation | str = Activation.tanh,
        discrete_head: DiscreteHead | str = DiscreteHead.softmax,
        log_std_init: float = 0.0,
    ) -> None:
        super().__init__()
        self.torso, width = torso(obs_space, network, hidden_sizes, activation)
        self.kind = _policy_kind(action_space, DiscreteHead(discrete_head))
        if self.kind == "categorical":
            self.head = nn.Linear(width, int(action_space.n))
        elif self.kind == "bernoulli":
            self.head = nn.Linear(width, 1)
        else:
            act_dim = int(np.prod(action_space.shape))
            self.head = nn.Linear(width, act_dim)
            self.log_std = nn.Parameter(torch.full((act_dim,), float(log_std_init)))
        # the layers act_numpy runs (a list, not a ModuleList: the modules are the torso's, registered there)
        self.numpy_leaves = _numpy_leaves(self.torso) if self.kind != "gaussian" else None

    def distribution(self, obs: torch.Tensor) -> Distribution:
        """pi(.|s) for a batch of observations ``(B, *obs_shape)``; samples have shape ``(B,)`` or ``(B, act_dim)``."""
        return self.distribution_from_features(self.torso(obs))

    def distribution_from_features(self, features: torch.Tensor) -> Distribution:
        """pi(.|s) from the torso's output ``(B, width)``: lets a critic head share the torso (A2C's shared_network)."""
        out = self.head(features)
        if self.kind == "categorical":
            return Categorical(logits=out)
        if self.kind == "bernoulli":
            return Bernoulli(logits=out.squeeze(-1))
        return Independent(Normal(out, self.log_std.exp().expand_as(out)), 1)

    def sample(self, obs: torch.Tensor) -> torch.Tensor:
        """a ~ pi(.|s) without building a distribution object: the same law as ``distribution(obs).sample()``, but
        several times cheaper for the small batches of the env-step loop (inverse-CDF sampling from torch's RNG)."""
        out = self.head(self.torso(obs))
        if self.kind == "categorical":
            cdf = torch.softmax(out, dim=-1).cumsum(-1)
            u = torch.rand(out.shape[:-1] + (1,), device=out.device)
            return (cdf < u).sum(-1).clamp_max(out.shape[-1] - 1)
        if self.kind == "bernoulli":
            z = out.squeeze(-1)
            return (torch.rand_like(z) < torch.sigmoid(z)).float()
        return out + self.log_std.exp() * torch.randn_like(out)

    def mode(self, obs: torch.Tensor) -> torch.Tensor:
        """The deterministic action: argmax, P(a=1) > 0.5, or the Gaussian mean."""
        out = self.head(self.torso(obs))
        if self.kind == "categorical":
            return out.argmax(-1)
        if self.kind == "bernoulli":
            return (out.squeeze(-1) > 0).float()
        return out

    def act_numpy(self, obs: np.ndarray | SparseFrames, explore: bool) -> np.ndarray | None:
        """:meth:`sample` (``explore``) or :meth:`mode` of a small batch ``(B, *obs_shape)`` (or its
        :class:`SparseFrames`) -> int64 actions ``(B,)``, computed in numpy; None where that does not apply (no
        sparse-input MLP torso, a Gaussian head, weights off the CPU, more than ``NUMPY_ACT_MAX_BATCH`` observations).

        The same law as :meth:`sample`: the same probabilities (to float rounding) and the same uniform draws from
        torch's global generator, so the run's seed and a checkpoint's RNG state still decide the actions. Why: Pong's
        env-step loop acts on 8 to 16 frames at a time, where torch's fixed cost per call (a dozen ops and module calls,
        ~170 us) is several times the maths; the weights are read through numpy views of the parameters' storage,
        so every optimiser step is seen without a copy.
        """
        if self.numpy_leaves is None or len(obs) > NUMPY_ACT_MAX_BATCH or self.head.weight.device.type != "cpu":
            return None
        features = _numpy_forward(self.numpy_leaves, obs)
        out = matmul_numpy(features, _numpy(self.head.weight).T) + _numpy(self.head.bias)  # (B, n) logits; (B, 1) bernoulli
        if self.kind == "bernoulli":
            z = out[:, 0]
            if not explore:
                return (z > 0).astype(np.int64)
            return (torch.rand(len(z)).numpy() < _sigmoid(z)).astype(np.int64)
        if not explore:
            return out.argmax(-1)
        e = np.exp(out - out.max(-1, keepdims=True))
        cdf = np.cumsum(e, -1) / e.sum(-1, keepdims=True)
        u = torch.rand(len(out), 1).numpy()
        return np.minimum((cdf < u).sum(-1), out.shape[-1] - 1)


# Policy.act_numpy: batches of at most this many observations (the env-step loop's); larger ones go through torch.
NUMPY_ACT_MAX_BATCH = 64


def _numpy(p: torch.Tensor) -> np.ndarray:
    """A parameter's values as a numpy view of its storage (no copy: later in-place updates show through)."""
    return p.detach().numpy()


def _sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-z), in float64: e^-z overflows only below z = -709, where the probability is 0 anyway."""
    return 1.0 / (1.0 + np.exp(-z.astype(np.float64)))


def _numpy_leaves(torso: nn.Module) -> list[nn.Module] | None:
    """The torso's layers in order, when it is an MLP with a :class:`SparseInputLinear` first layer (the torso whose
    acting torch's per-call cost dominates) that :func:`_numpy_forward` can run, else None."""
    leaves = [m for m in torso.modules() if not list(m.children())]
    supported = (SparseInputLinear, nn.Linear, nn.ReLU, nn.Tanh, nn.Flatten)
    return leaves if reads_sparse(torso) and all(isinstance(m, supported) for m in leaves) else None


def reads_sparse(torso: nn.Module) -> bool:
    """Whether ``torso``'s first layer is a :class:`SparseInputLinear` (so it can take sparse COO batches)."""
    weighted = [m for m in torso.modules() if isinstance(m, (nn.Linear, nn.Conv2d, SparseInputLinear))]
    return bool(weighted) and isinstance(weighted[0], SparseInputLinear)


def _numpy_forward(leaves: list[nn.Module], x: np.ndarray | SparseFrames) -> np.ndarray:
    """The layers ``leaves`` (from :func:`_numpy_leaves`) applied to ``x`` ``(B, ...)`` in numpy -> ``(B, width)``."""
    for m in leaves:
        if isinstance(m, SparseInputLinear):
            x = sparse_matmul_numpy(x, _numpy(m.weight), m.max_density) + _numpy(m.bias)
        elif isinstance(m, nn.Linear):
            x = matmul_numpy(x, _numpy(m.weight).T) + _numpy(m.bias)
        elif isinstance(m, nn.ReLU):
            x = np.maximum(x, 0, out=x)
        elif isinstance(m, nn.Tanh):
            x = np.tanh(x, out=x)
        elif not isinstance(x, SparseFrames):  # nn.Flatten (SparseFrames are flat)
            x = x.reshape(len(x), -1)
    return x


def _policy_kind(action_space: gym.Space, head: DiscreteHead) -> str:
    if isinstance(action_space, gym.spaces.Discrete):
        if head == DiscreteHead.sigmoid:
            if action_space.n != 2:
                raise PgtrainError(f"algo.discrete_head=sigmoid needs exactly two actions; this env has {action_space.n}")
            return "bernoulli"
        return "categorical"
    if isinstance(action_space, gym.spaces.Box):
        return "gaussian"
    raise PgtrainError(f"unsupported action space {action_space}")


class ValueNet(nn.Module):
    """A state-value function V(s) -> ``(B,)``."""

    def __init__(self, obs_space: gym.Space, network: str, hidden_sizes: Sequence[int], activation: Activation | str) -> None:
        super().__init__()
        self.torso, width = torso(obs_space, network, hidden_sizes, activation)
        self.head = nn.Linear(width, 1)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.head(self.torso(obs)).squeeze(-1)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def make_optimizer(name: str, params, lr: float, fused: bool = False) -> torch.optim.Optimizer:
    """adam | sgd | rmsprop, by the config's ``optimizer`` option.

    ``fused=True`` takes torch's single-kernel Adam/SGD (same update rule): it spares the per-parameter Python loop
    that dominates an optimiser step on small networks (DDPG's thousands of tiny updates).
    """
    from pgtrain import optimizers  # torch's classes, less their first call's import of torch._dynamo (see there)

    name = getattr(name, "value", name)
    if name == "adam":
        return optimizers.Adam(params, lr=lr, fused=fused or None)
    if name == "sgd":
        return optimizers.SGD(params, lr=lr, fused=fused or None)
    if name == "rmsprop":
        # The epsilon and alpha of the A2C paper and of RL Zoo's Atari settings.
        return optimizers.RMSprop(params, lr=lr, alpha=0.99, eps=1e-5)
    raise PgtrainError(f"unknown optimizer {name}")


def orthogonal_init(module: nn.Module, gain: float = math.sqrt(2)) -> None:
    """Orthogonal weights, zero biases: the initialisation of the A2C/PPO baselines."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d, SparseInputLinear)):
            nn.init.orthogonal_(m.weight, gain)
            nn.init.zeros_(m.bias)


class DeterministicActor(nn.Module):
    """A deterministic policy mu(s) = c + h * tanh(f(s)) for a Box action space ``[c - h, c + h]``: ``(B, act_dim)``."""

    def __init__(self, obs_space: gym.Space, action_space: gym.Space, hidden_sizes: Sequence[int], activation: Activation | str) -> None:
        super().__init__()
        if not isinstance(action_space, gym.spaces.Box):
            raise PgtrainError(f"a deterministic actor needs a continuous (Box) action space, not {action_space}")
        in_dim, act_dim = int(np.prod(obs_space.shape)), int(np.prod(action_space.shape))
        self.net = mlp(in_dim, hidden_sizes, activation, act_dim)
        # The DDPG paper's small final layer: initial actions near the middle of the range, away from tanh's flat ends.
        nn.init.uniform_(self.net[-1].weight, -3e-3, 3e-3)
        nn.init.uniform_(self.net[-1].bias, -3e-3, 3e-3)
        # numpy arithmetic: on torch's meta device (pgtrain.resources sizes networks there) a tensor op imports torch._dynamo
        low, high = (np.asarray(b, dtype=np.float32).reshape(-1) for b in (action_space.low, action_space.high))
        self.register_buffer("center", torch.as_tensor((high + low) / 2))
        self.register_buffer("half_width", torch.as_tensor((high - low) / 2))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.center + self.half_width * torch.tanh(self.net(obs.flatten(1)))


class QCritic(nn.Module):
    """An action-value function Q(s, a) -> ``(B,)``: an MLP on the concatenation ``[s, a]``."""

    def __init__(self, obs_space: gym.Space, action_space: gym.Space, hidden_sizes: Sequence[int], activation: Activation | str) -> None:
        super().__init__()
        in_dim = int(np.prod(obs_space.shape)) + int(np.prod(action_space.shape))
        self.net = mlp(in_dim, hidden_sizes, activation, 1)

    def forward(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([obs.flatten(1), actions.flatten(1)], dim=-1)).squeeze(-1)


class TwinQCritic(nn.Module):
    """Two independent action-value MLPs Q_1, Q_2 on ``[s, a]`` evaluated as one network -> ``(2, B)`` (TD3, SAC).

    Each layer holds both critics' weights stacked ``(2, in, out)`` and applies them with one batched matmul, so the
    twins cost about one critic's kernel launches; initialised as two ``nn.Linear`` stacks, U(+-1/sqrt(in)).
    """

    def __init__(self, obs_space: gym.Space, action_space: gym.Space, hidden_sizes: Sequence[int], activation: Activation | str) -> None:
        super().__init__()
        dims = [int(np.prod(obs_space.shape)) + int(np.prod(action_space.shape)), *hidden_sizes, 1]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in zip(dims[:-1], dims[1:], strict=True):
            bound = 1.0 / math.sqrt(fan_in)
            self.weights.append(nn.Parameter(torch.empty(2, fan_in, fan_out).uniform_(-bound, bound)))
            self.biases.append(nn.Parameter(torch.empty(2, 1, fan_out).uniform_(-bound, bound)))
        self.act = _ACTIVATIONS[Activation(activation).value]()

    def forward(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        x = torch.cat([obs.flatten(1), actions.flatten(1)], dim=-1).expand(2, -1, -1)
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            x = torch.baddbmm(b, x, w)
            if i < last:
                x = self.act(x)
        return x.squeeze(-1)


def squashed_log_prob(log_prob_u: torch.Tensor, u: torch.Tensor, half_width: torch.Tensor) -> torch.Tensor:
    """log pi(a|s) of a = c + h tanh(u), from log N(u) ``(B,)`` and u ``(B, act_dim)`` (SAC, appendix C, eq. 21):

        log pi(a|s) = log N(u|s) - sum_i log(h_i (1 - tanh(u_i)^2)),

    with log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u)), exact and stable where tanh(u) rounds to +-1.
    """
    log_det = torch.log(half_width) + 2.0 * (math.log(2.0) - u - F.softplus(-2.0 * u))
    return log_prob_u - log_det.sum(-1)


class SquashedGaussianActor(nn.Module):
    """SAC's policy: u ~ N(mu(s), sigma(s)^2) (state-dependent, diagonal), a = c + h tanh(u) in the Box ``[c - h, c + h]``.

    The log-std is squashed into ``[log_std_min, log_std_max]`` by a tanh (CleanRL's scheme). :meth:`sample` returns a
    reparameterised action (gradients flow through u = mu + sigma xi) and its log-probability.
    """

    def __init__(
        self,
        obs_space: gym.Space,
        action_space: gym.Space,
        hidden_sizes: Sequence[int],
        activation: Activation | str,
        log_std_min: float = -5.0,
        log_std_max: float = 2.0,
    ) -> None:
        super().__init__()
        in_dim, act_dim = int(np.prod(obs_space.shape)), int(np.prod(action_space.shape))
        self.torso = mlp(in_dim, hidden_sizes, activation)
        self.head = nn.Linear(mlp_out_dim(in_dim, hidden_sizes), 2 * act_dim)  # mean and log-std
        self.log_std_min, self.log_std_max = log_std_min, log_std_max
        # numpy arithmetic: on torch's meta device (pgtrain.resources sizes networks there) a tensor op imports torch._dynamo
        low, high = (np.asarray(b, dtype=np.float32).reshape(-1) for b in (action_space.low, action_space.high))
        self.register_buffer("center", torch.as_tensor((high + low) / 2))
        self.register_buffer("half_width", torch.as_tensor((high - low) / 2))

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """mu(s) and log sigma(s), each ``(B, act_dim)``."""
        mean, raw = self.head(self.torso(obs.flatten(1))).chunk(2, dim=-1)
        log_std = self.log_std_min + 0.5 * (self.log_std_max - self.log_std_min) * (torch.tanh(raw) + 1.0)
        return mean, log_std

    def sample(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """a ~ pi(.|s) ``(B, act_dim)`` and log pi(a|s) ``(B,)``."""
        mean, log_std = self(obs)
        xi = torch.randn_like(mean)
        u = mean + log_std.exp() * xi
        log_prob_u = (-0.5 * xi.pow(2) - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        return self.center + self.half_width * torch.tanh(u), squashed_log_prob(log_prob_u, u, self.half_width)

    def mode(self, obs: torch.Tensor) -> torch.Tensor:
        """The deterministic action c + h tanh(mu(s))."""
        return self.center + self.half_width * torch.tanh(self(obs)[0])
