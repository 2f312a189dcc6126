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
from pgtrain.config import Activation, AlgoConfig, DiscreteHead
from pgtrain.errors import PgtrainError
from pgtrain.fast.sparse import SparseFrameConv, SparseInputLinear, matmul_numpy, sparse_linear_numpy

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
        # the lecture's 6400-200-1 policy (a sparse first layer, ReLU, then the head): acted in one compiled pass
        self.numpy_layers = [m for m in self.numpy_leaves or [] if not isinstance(m, nn.Flatten)]
        kinds = [type(m) for m in self.numpy_layers]
        self.lecture_mlp = self.kind == "bernoulli" and kinds == [SparseInputLinear, nn.ReLU]
        # its parameters, held directly (a plain tuple: registered in the modules; Module attribute lookups cost ~1 us)
        first = self.numpy_layers[0] if self.lecture_mlp else None
        self._lecture_params = (first.weight, first.bias, self.head.weight, self.head.bias) if first is not None else ()
        self._lecture_views: tuple | None = None  # (storage addresses, numpy views of its parameters): _lecture_arrays

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

        The same law as :meth:`sample`: the same probabilities (to float rounding), the same inverse-CDF use of one
        uniform draw per observation, drawn from numpy's global generator (seeded by the run's seed and saved in
        checkpoints, as torch's is), so the seed and a checkpoint's RNG state still decide the actions. Why: Pong's
        env-step loop acts on 8 to 16 frames at a time, where torch's fixed cost per call (a dozen ops and module calls,
        ~170 us; even ``torch.rand`` costs several times numpy's draw beside the emulator threads) is several times
        the maths; the weights are read through numpy views of the parameters' storage, so every optimiser step is
        seen without a copy. The lecture's own policy takes one compiled pass (:meth:`_act_lecture_mlp`).
        """
        if self.numpy_leaves is None or len(obs) > NUMPY_ACT_MAX_BATCH:
            return None
        if self.lecture_mlp:
            actions = self._act_lecture_mlp(obs, explore)
            if actions is not None:
                return actions
        if self.head.weight.device.type != "cpu":
            return None
        features = _numpy_forward(self.numpy_leaves, obs)
        out = matmul_numpy(features, _numpy(self.head.weight).T) + _numpy(self.head.bias)  # (B, n) logits; (B, 1) bernoulli
        if self.kind == "bernoulli":
            z = out[:, 0]
            if not explore:
                return (z > 0).astype(np.int64)
            return (np.random.random_sample(len(z)) < _sigmoid(z)).astype(np.int64)
        if not explore:
            return out.argmax(-1)
        e = np.exp(out - out.max(-1, keepdims=True))
        cdf = np.cumsum(e, -1) / e.sum(-1, keepdims=True)
        u = np.random.random_sample((len(out), 1))
        return np.minimum((cdf < u).sum(-1), out.shape[-1] - 1)

    def _act_lecture_mlp(self, obs: np.ndarray | SparseFrames, explore: bool) -> np.ndarray | None:
        """act_numpy of the lecture's policy (:attr:`lecture_mlp`) by :func:`pgtrain.fast.kernels.sparse_relu_bernoulli`:
        the same law, the same uniform draws; None where the weights are off the CPU or the batch is denser than the
        first layer's ``max_density``."""
        arrays = self._lecture_arrays()
        if arrays is None:
            return None
        frames = obs if isinstance(obs, SparseFrames) else SparseFrames.of(obs)
        if len(frames.cols) > self.numpy_layers[0].max_density * len(frames) * frames.width:
            return None
        from pgtrain.fast.kernels import sparse_relu_bernoulli  # numba: imported by the runs that act on sparse frames only

        weight, bias, head_weight, head_bias = arrays
        u = np.random.random_sample(len(frames)) if explore else np.full(len(frames), 0.5)
        return sparse_relu_bernoulli(frames.cols, frames.values, frames.counts, weight, bias, head_weight, head_bias[0], u)

    def _lecture_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
        """Numpy views of the lecture policy's first-layer weights and bias, head weights and head bias, made
        once per parameter storage (optimiser steps and checkpoint loads write into the same storage, and the views
        see them; a copy of the module, or a move to another device, has its own storage and gets its own views);
        None while the parameters are off the CPU."""
        weight, _, head_weight, _ = params = self._lecture_params
        key = (weight.data_ptr(), head_weight.data_ptr())
        if self._lecture_views is None or self._lecture_views[0] != key:
            if weight.device.type != "cpu":
                return None
            self._lecture_views = (key, _numpy(params[0]), _numpy(params[1]), _numpy(params[2])[0], _numpy(params[3]))
        return self._lecture_views[1:]


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
            x = sparse_linear_numpy(x, _numpy(m.weight), _numpy(m.bias), m.max_density)
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


def make_optimizer(cfg: AlgoConfig, params, lr: float, fused: bool = False) -> torch.optim.Optimizer:
    """adam | sgd | rmsprop, by the algorithm config's ``optimizer`` option (Adam with its ``adam_eps``).

    ``fused=True`` takes torch's single-kernel Adam/SGD (same update rule): it spares the per-parameter Python loop
    that dominates an optimiser step on small networks (DDPG's thousands of tiny updates).
    """
    from pgtrain.workarounds import optimizers  # torch's classes, less their first call's import of torch._dynamo (see there)

    name = getattr(cfg.optimizer, "value", cfg.optimizer)
    if name == "adam":
        return optimizers.Adam(params, lr=lr, eps=cfg.adam_eps, fused=fused or None)
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
