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

from pgtrain.config import Activation, AlgoConfig, DiscreteHead
from pgtrain.errors import PgtrainError
from pgtrain.fast.sparse import SparseFrameConv, SparseInputLinear

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
    """The DQN/A2C Atari torso: 3 conv layers and a 512-wide linear layer, for ``(C, H, W)`` uint8 frames (84x84 in
    the Atari protocol; at least ``MIN_SIDE`` a side)."""

    MIN_SIDE = 36  # the three convolutions leave one pixel of a 36x36 frame

    def __init__(self, in_channels: int, out_dim: int = 512, size: tuple[int, int] = (84, 84)) -> None:
        super().__init__()
        self.out_dim = out_dim
        h, w = (((side - 8) // 4 + 1 - 4) // 2 + 1 - 2 for side in size)  # after the 8/4, 4/2 and 3/1 convolutions
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, 32, 8, stride=4),
            nn.ReLU(),
            nn.Conv2d(32, 64, 4, stride=2),
            nn.ReLU(),
            nn.Conv2d(64, 64, 3, stride=1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(64 * h * w, out_dim),
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
        if min(shape[1:]) < NatureCNN.MIN_SIDE:
            raise PgtrainError(
                f"algo.network=cnn needs frames of {NatureCNN.MIN_SIDE}x{NatureCNN.MIN_SIDE} pixels at least; this env gives "
                f"{shape[1]}x{shape[2]}: set env.image_size=84"
            )
        return NatureCNN(shape[0], size=(shape[1], shape[2])), 512
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

    The env-step loop acts through :func:`pgtrain.fast.actor`: the law of :meth:`act`, at less cost per call.
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

    def distribution(self, obs: torch.Tensor) -> Distribution:
        """pi(.|s) for a batch of observations ``(B, *obs_shape)``; samples have shape ``(B,)`` or ``(B, act_dim)``."""
        return self.distribution_from_features(self.torso(obs))

    def distribution_from_features(self, features: torch.Tensor) -> Distribution:
        """pi(.|s) from the torso's output ``(B, width)``: lets a critic head share the torso (A2C's shared_network)."""
        out = self.head(features)
        # no argument checks: the head's outputs are valid by construction, and the checks cost as much as the maths
        if self.kind == "categorical":
            return Categorical(logits=out, validate_args=False)
        if self.kind == "bernoulli":
            return Bernoulli(logits=out.squeeze(-1), validate_args=False)
        return Independent(Normal(out, self.log_std.exp().expand_as(out), validate_args=False), 1, validate_args=False)

    def act(self, obs: torch.Tensor, explore: bool = True) -> torch.Tensor:
        """a ~ pi(.|s) when ``explore``, else the mode: ``(B,)`` or ``(B, act_dim)``."""
        return self.distribution(obs).sample() if explore else self.mode(obs)

    def log_prob(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """log pi(a|s) ``(B,)``."""
        return self.distribution(obs).log_prob(actions)

    def entropy(self, obs: torch.Tensor) -> torch.Tensor:
        """H(pi(.|s)) ``(B,)``."""
        return self.distribution(obs).entropy()

    def mode(self, obs: torch.Tensor) -> torch.Tensor:
        """The deterministic action: argmax, P(a=1) > 0.5, or the Gaussian mean."""
        out = self.head(self.torso(obs))
        if self.kind == "categorical":
            return out.argmax(-1)
        if self.kind == "bernoulli":
            return (out.squeeze(-1) > 0).float()
        return out


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
