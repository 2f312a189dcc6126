"""Typed schemas for every option, registered in Hydra's ConfigStore: each option's one default and its meaning.

Every default lives here and nowhere else. Each YAML option in ``configs/`` starts from a schema here
(``/schema/<group>/<name>`` in its defaults list), so a misspelled key or a wrong type fails when the config is
composed, and adds only its ``name`` and, for an env, the env's identity (the fields left unset here: id, action type,
vectorisation, solve threshold and window); a preset of another option (``algo=ac_online`` of ``a2c``) extends it and
lists only what differs. ``configs/tuned/<algo>_<env>.yaml`` override per (algo, env) pair, and the command line wins
over all. tests/test_defaults.py holds the YAMLs and the docs' tables of defaults to this. Range checks live in
``__post_init__`` and run when :func:`to_object` turns the composed config into these dataclasses.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import typing
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from pgtrain.errors import PgtrainError


class ReturnType(str, Enum):
    """Which return weights log pi(a_t|s_t) in REINFORCE."""

    total = "total"  # G(tau) = sum_t gamma^t r_t for every step of the episode
    reward_to_go = "reward_to_go"  # G_t = sum_{k>=t} gamma^(k-t) r_k (causality)


class Baseline(str, Enum):
    """What REINFORCE subtracts from the return."""

    none = "none"
    mean = "mean"  # the batch's mean return, a constant
    value = "value"  # a learned V(s) regressed on the Monte-Carlo returns


class CriticTarget(str, Enum):
    """How the actor-critic's value network is trained."""

    td = "td"  # y_t = r_t + gamma (1 - terminated_t) V(s_{t+1})
    mc = "mc"  # y_t = discounted rewards to the episode end, bootstrapped only where the rollout is cut
    gae = "gae"  # y_t = A_t^GAE(lambda) + V(s_t), the lambda-return (PPO's)


class Optimizer(str, Enum):
    adam = "adam"
    sgd = "sgd"
    rmsprop = "rmsprop"


class Activation(str, Enum):
    tanh = "tanh"
    relu = "relu"


class DiscreteHead(str, Enum):
    """Policy head for discrete actions."""

    softmax = "softmax"  # categorical over all actions
    sigmoid = "sigmoid"  # one logit, P(action 1) = sigmoid(z); two actions only (the lecture's Pong network)


class Noise(str, Enum):
    gaussian = "gaussian"
    ou = "ou"  # Ornstein-Uhlenbeck


class DeviceName(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class ActionType(str, Enum):
    discrete = "discrete"
    continuous = "continuous"


def _coerce_enums(obj: Any) -> None:
    """Let dataclasses built by hand take plain strings for enum fields, as OmegaConf does."""
    for name, hint in typing.get_type_hints(type(obj)).items():
        if isinstance(hint, type) and issubclass(hint, Enum) and not isinstance(getattr(obj, name), hint):
            setattr(obj, name, hint(getattr(obj, name)))


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise PgtrainError(message)


def _check_gamma(key: str, gamma: float) -> None:
    _check(0.0 < gamma <= 1.0, f"{key}={gamma} is out of range: the discount must lie in (0, 1], e.g. {key}=0.99")


def _check_positive(key: str, value: float) -> None:
    _check(value > 0, f"{key}={value} is out of range: it must be > 0")


def _check_at_least(key: str, value: float, low: float) -> None:
    _check(value >= low, f"{key}={value} is out of range: it must be >= {low}")


def _check_at_most(key: str, value: float, high: float) -> None:
    _check(value <= high, f"{key}={value} is out of range: it must be <= {high:,}")


INT32_MAX = 2**31 - 1  # counts handed to C++ (ale-py) or to C sizes must fit in a C int
FLOAT32_MAX = 3.4028234663852886e38  # an algorithm's numbers meet float32 tensors: beyond this they cannot be converted
SEED_MAX = 10**9  # numpy takes seeds < 2^32 and ale-py < 2^31; pgtrain adds env indices and step counts to the seed


def _check_float32_options(obj: Any, prefix: str) -> None:
    """Every float option of ``obj`` must be finite and of float32 size (torch raises on a learning rate of 1e300)."""
    for name, hint in typing.get_type_hints(type(obj)).items():
        value = getattr(obj, name)
        if float in (typing.get_args(hint) or (hint,)) and isinstance(value, float):
            _check(
                math.isfinite(value) and abs(value) <= FLOAT32_MAX,
                f"{prefix}{name}={value} is out of range: it must be a finite number no larger than {FLOAT32_MAX:.1e}",
            )


# ----------------------------------------------------------------------------------------------------------------------
# Algorithms


@dataclass
class AlgoConfig:
    """Options every algorithm has."""

    name: str = MISSING  # registry name: reinforce | a2c | ddpg | ppo | td3 | sac
    num_envs: int = 8  # parallel environments in the vector env
    gamma: float = 0.99  # discount factor
    lr: float = 1e-3  # learning rate of the policy (actor)
    optimizer: Optimizer = Optimizer.adam  # optimiser for every network
    adam_eps: float = 1e-8  # epsilon of Adam's denominator (torch's default; SB3's and CleanRL's PPO use 1e-5)
    hidden_sizes: list[int] = field(default_factory=lambda: [64, 64])  # widths of the hidden layers
    activation: Activation = Activation.tanh  # hidden-layer non-linearity
    network: str = "mlp"  # torso: mlp, or cnn for image observations
    max_grad_norm: float = 0.0  # clip the global gradient norm to this (0 = no clipping)
    lr_decay_steps: int = 0  # env steps over which every learning rate falls linearly to lr_final_fraction of itself (0 = constant)
    lr_final_fraction: float = 0.0  # share of each learning rate left after lr_decay_steps (and kept from then on)

    def __post_init__(self) -> None:
        _coerce_enums(self)
        _check_at_least("algo.lr_decay_steps", self.lr_decay_steps, 0)
        _check(
            0.0 <= self.lr_final_fraction <= 1.0,
            f"algo.lr_final_fraction={self.lr_final_fraction} is out of range: it must lie in [0, 1]",
        )
        own = type(self).name if isinstance(type(self).__dict__.get("name"), str) else None
        _check(own is None or self.name == own, f"algo.name={self.name}: these are {own}'s options; choose an algorithm with algo=NAME")
        _check_float32_options(self, "algo.")
        _check_at_least("algo.num_envs", self.num_envs, 1)
        _check_gamma("algo.gamma", self.gamma)
        _check_positive("algo.lr", self.lr)
        _check_positive("algo.adam_eps", self.adam_eps)
        _check(all(h >= 1 for h in self.hidden_sizes), f"algo.hidden_sizes={self.hidden_sizes}: widths must be >= 1")
        _check_at_least("algo.max_grad_norm", self.max_grad_norm, 0.0)
        _check(self.network in ("mlp", "cnn"), f"algo.network={self.network}: choose mlp or cnn")


@dataclass
class ReinforceConfig(AlgoConfig):
    """REINFORCE: loss = -Psi_t log pi(a_t|s_t), Psi from the options below."""

    name: str = "reinforce"
    lr: float = 0.015  # learning rate of the policy
    return_type: ReturnType = ReturnType.reward_to_go  # total episode return or reward-to-go
    baseline: Baseline = Baseline.value  # none | mean | value
    episodes_per_update: int = 6  # 1 = the lecture's per-episode stochastic update; more = the batch estimate
    normalize_advantage: bool = True  # standardise Psi over the batch (zero mean, unit std)
    entropy_coef: float = 0.0  # weight of the entropy bonus
    value_lr: float = 0.01  # learning rate of V(s) when baseline=value
    value_epochs: int = 1  # regression passes of V(s) over each batch
    discrete_head: DiscreteHead = DiscreteHead.softmax  # softmax, or sigmoid for two actions
    reset_return_on_reward: bool = False  # restart the discounted sum at every nonzero reward (Pong: every point)
    bootstrap_truncated: bool = True  # with baseline=value: add gamma^(T-t) V(s_T) to the returns of time-limit-cut episodes
    grad_variance_interval: int = 1  # estimate the gradient variance every this many updates (0 = never)

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_at_least("algo.episodes_per_update", self.episodes_per_update, 1)
        _check_at_least("algo.entropy_coef", self.entropy_coef, 0.0)
        _check_positive("algo.value_lr", self.value_lr)
        _check_at_least("algo.value_epochs", self.value_epochs, 1)
        _check_at_least("algo.grad_variance_interval", self.grad_variance_interval, 0)


@dataclass
class A2CConfig(AlgoConfig):
    """Synchronous advantage actor-critic; num_envs=1, n_steps=1 is the lecture's online actor-critic (algo=ac_online).

    The defaults are tuned for CartPole-v1 (``pgtrain algo=a2c env=cartpole`` reaches a last-100 mean of 475 on seeds
    0-9 in about 100-120k env steps); other envs take their settings from configs/tuned/a2c_<env>.yaml.
    """

    name: str = "a2c"
    num_envs: int = 32  # more envs per update: each vector step and each update costs about the same for 16 or 32 envs
    lr: float = 0.002  # learning rate of the actor (and of a shared torso)
    max_grad_norm: float = 0.5  # clip the global gradient norm of actor and critic together (0 = no clipping)
    n_steps: int = 8  # steps per env per update (the rollout length): 32 x 8 = 256 transitions per update
    # GAE(lambda); 1.0 = the n-step advantage (the rollout's rewards + gamma^k V(s_end) - V(s_t)), 0.0 = one-step TD error
    gae_lambda: float = 1.0
    critic_target: CriticTarget = CriticTarget.mc  # mc: V regresses on the rollout's n-step returns; td: on r + gamma V(s')
    value_coef: float = 0.5  # weight of the value loss
    entropy_coef: float = 0.002  # weight of the entropy bonus; a little keeps seeds from settling on ~150-step policies
    normalize_advantage: bool = False  # standardise advantages over the batch (made late collapses common on CartPole)
    shared_network: bool = False  # one torso for actor and critic, or two separate networks
    discrete_head: DiscreteHead = DiscreteHead.softmax  # softmax, or sigmoid for two actions
    ortho_init: bool = True  # orthogonal weights (gain sqrt 2; 0.01 on the policy head, 1 on the value head)
    log_std_init: float = 0.0  # initial log standard deviation of the Gaussian policy (continuous actions)
    reward_scale: float = 0.1  # multiply rewards by this inside the update (V of a 500-step CartPole episode ~ 10, not ~ 100)
    # learning rate of the critic's own parameters (null = lr); the shared torso uses lr. A critic that keeps up with the
    # policy was the largest single gain in CartPole's steps to solve.
    value_lr: float | None = 0.005

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_at_least("algo.n_steps", self.n_steps, 1)
        _check_positive("algo.reward_scale", self.reward_scale)
        if self.value_lr is not None:
            _check_positive("algo.value_lr", self.value_lr)
        _check(0.0 <= self.gae_lambda <= 1.0, f"algo.gae_lambda={self.gae_lambda} is out of range: it must lie in [0, 1]")
        _check_at_least("algo.value_coef", self.value_coef, 0.0)
        _check_at_least("algo.entropy_coef", self.entropy_coef, 0.0)


@dataclass
class PPOConfig(A2CConfig):
    """Proximal policy optimisation (clipped surrogate); defaults: CleanRL's ppo.py (num_minibatches 4 -> batch_size 128)."""

    name: str = "ppo"
    num_envs: int = 4  # parallel envs
    n_steps: int = 128  # steps per env per rollout
    lr: float = 2.5e-4  # learning rate (policy and value)
    gae_lambda: float = 0.95  # GAE(lambda) of the advantages
    critic_target: CriticTarget = CriticTarget.gae  # value targets: gae (A + V, the lambda-return), mc or td
    entropy_coef: float = 0.01  # weight of the entropy bonus
    normalize_advantage: bool = True  # standardise the advantages of each minibatch
    max_grad_norm: float = 0.5  # clip the global gradient norm to this (0 = no clipping)
    n_epochs: int = 4  # passes over each rollout
    batch_size: int = 128  # transitions per minibatch (the valid steps of a rollout are shuffled and cut into these)
    clip_range: float = 0.2  # epsilon of the clipped surrogate: the ratio pi/pi_old is kept in [1 - eps, 1 + eps]
    clip_value_loss: bool = True  # clip V(s) to within clip_range of its rollout-time value in the value loss
    anneal_lr: bool = True  # decay the learning rates linearly to 0 over total_steps
    anneal_clip_range: bool = False  # decay clip_range linearly to 0 over total_steps
    anneal_entropy: bool = False  # decay entropy_coef linearly to 0 over total_steps (exploration early, a sharp policy late)
    target_kl: float | None = None  # stop a rollout's epochs once the approximate KL of a minibatch exceeds this (null = never)
    reward_scale: float = 1.0  # multiply rewards by this inside the update (A2C's CartPole default is 0.1; PPO learns raw returns)
    value_lr: float | None = None  # learning rate of the critic's own parameters (null = lr, as CleanRL's single optimiser)

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_at_least("algo.n_epochs", self.n_epochs, 1)
        _check_at_least("algo.batch_size", self.batch_size, 1)
        _check_positive("algo.clip_range", self.clip_range)
        if self.target_kl is not None:
            _check_positive("algo.target_kl", self.target_kl)


@dataclass
class OffPolicyConfig(AlgoConfig):
    """What the replay-based actor-critics (DDPG, TD3, SAC) share: the buffer, the minibatches, the target networks."""

    num_envs: int = 2  # parallel envs; each vector step adds num_envs transitions and makes gradient_steps updates
    activation: Activation = Activation.relu  # hidden-layer non-linearity
    critic_lr: float = 2e-3  # learning rate of Q(s, a)
    buffer_size: int = 100_000  # replay capacity in transitions
    batch_size: int = 128  # transitions per gradient step
    tau: float = 0.02  # Polyak rate: theta' <- tau theta + (1 - tau) theta'
    learning_starts: int = 1_000  # uniformly random actions for this many env steps before learning
    gradient_steps: int = 1  # gradient steps per env step (per vector step)
    save_buffer: bool = False  # store the replay buffer in checkpoints (it can be large)

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_positive("algo.critic_lr", self.critic_lr)
        _check_at_least("algo.buffer_size", self.buffer_size, 1)
        _check_at_least("algo.batch_size", self.batch_size, 1)
        _check(0.0 < self.tau <= 1.0, f"algo.tau={self.tau} is out of range: it must lie in (0, 1]")
        _check_at_least("algo.learning_starts", self.learning_starts, 0)
        _check_at_least("algo.gradient_steps", self.gradient_steps, 0)
        mlp_only = f"algo.network={self.network}: {self.name}'s actor and critic are MLPs on vector observations; use mlp"
        _check(self.network == "mlp", mlp_only)


@dataclass
class DDPGConfig(OffPolicyConfig):
    """Deep deterministic policy gradient with replay, target networks and exploration noise."""

    name: str = "ddpg"
    noise: Noise = Noise.gaussian  # exploration noise: gaussian | ou
    noise_std: float = 0.1  # noise scale, as a fraction of the action range's half-width
    ou_theta: float = 0.15  # Ornstein-Uhlenbeck mean reversion per step: eps <- (1 - ou_theta) eps + sigma xi

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_at_least("algo.noise_std", self.noise_std, 0.0)
        _check(0.0 <= self.ou_theta <= 1.0, f"algo.ou_theta={self.ou_theta} is out of range: it must lie in [0, 1]")


@dataclass
class TD3Config(DDPGConfig):
    """Twin delayed DDPG; defaults: CleanRL's td3_continuous_action.py (SB3's TD3 has the same ones but learning_starts 100)."""

    name: str = "td3"
    num_envs: int = 1  # parallel envs
    lr: float = 3e-4  # learning rate of the actor
    critic_lr: float = 3e-4  # learning rate of both critics
    hidden_sizes: list[int] = field(default_factory=lambda: [256, 256])  # widths of the hidden layers (actor and critics)
    buffer_size: int = 1_000_000  # replay capacity in transitions
    batch_size: int = 256  # transitions per gradient step
    tau: float = 0.005  # Polyak rate of the three target networks
    learning_starts: int = 25_000  # uniformly random actions for this many env steps before learning
    policy_delay: int = 2  # critic steps per actor and target update
    target_noise: float = 0.2  # std of the target-policy smoothing noise, as a fraction of the action half-width
    target_noise_clip: float = 0.5  # the smoothing noise is clipped to +-this (same units)

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_at_least("algo.policy_delay", self.policy_delay, 1)
        _check_at_least("algo.target_noise", self.target_noise, 0.0)
        _check_at_least("algo.target_noise_clip", self.target_noise_clip, 0.0)


@dataclass
class SACConfig(OffPolicyConfig):
    """Soft actor-critic with a learned temperature; defaults: CleanRL's sac_continuous_action.py (policy_frequency 1)."""

    name: str = "sac"
    num_envs: int = 1  # parallel envs
    lr: float = 3e-4  # learning rate of the actor
    critic_lr: float = 1e-3  # learning rate of both soft Q critics
    hidden_sizes: list[int] = field(default_factory=lambda: [256, 256])  # widths of the hidden layers (actor and critics)
    buffer_size: int = 1_000_000  # replay capacity in transitions
    batch_size: int = 256  # transitions per gradient step
    tau: float = 0.005  # Polyak rate of the target critics
    learning_starts: int = 5_000  # uniformly random actions for this many env steps before learning
    alpha: float = 0.2  # the temperature: fixed, or where autotune starts (CleanRL and SB3 start it at 1.0)
    autotune: bool = True  # learn the temperature toward target_entropy
    target_entropy: float | None = None  # the entropy the temperature aims at (null = -dim(A), the paper's)
    alpha_lr: float = 1e-3  # learning rate of log(alpha)
    log_std_min: float = -5.0  # the actor's log-std is squashed into [log_std_min, log_std_max]
    log_std_max: float = 2.0  # ... (CleanRL's range)

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_positive("algo.alpha", self.alpha)
        _check_positive("algo.alpha_lr", self.alpha_lr)
        _check(self.log_std_min < self.log_std_max, f"algo.log_std_min={self.log_std_min} must be < algo.log_std_max={self.log_std_max}")


# ----------------------------------------------------------------------------------------------------------------------
# Environments


@dataclass
class EnvConfig:
    """An environment and what pgtrain needs to know about it before building it.

    The fields without a default here (MISSING) are each env's identity, set by its YAML in
    configs/env/ and nowhere else; every other field has its one default here.
    """

    name: str = MISSING  # short name: cartpole | pendulum | pong | gym | atari | a preset (configs/env/)
    id: str = MISSING  # gymnasium id (env=gym: any registered one, e.g. env.id=Acrobot-v1)
    # discrete | continuous: checked against the algorithm before anything runs; null = read from the env's action
    # space when the config is checked (one env is made then; a preset that names its type makes none)
    action_type: ActionType | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)  # keyword arguments for gym.make, e.g. +env.kwargs.continuous=true
    # auto: the env's numpy-vectorised entry point where it has one, else sync (3x async's speed on 2 cores for
    # LunarLander and HalfCheetah, 8 envs); vector_entry_point, sync (one process) or async (a subprocess per env)
    vectorization: str = MISSING
    solve_threshold: float | None = None  # the mean return that counts as solved (null = the env spec's reward_threshold)
    solve_window: int = MISSING  # ... over this many most recent training episodes
    max_episode_steps: int | None = None  # override the env's time limit (null = the env's own)
    # Step the algo.num_envs envs as this many groups in turn (sizes as equal as they can be; at most num_envs
    # groups), each group's step in a background thread, so the policy works on one group while the others' emulators
    # run (reinforce, a2c; 1 = one synchronous vector step).
    pipeline_groups: int = 1
    normalize_obs: bool = False  # running mean/std of observations (Stable-Baselines3's VecNormalize), saved in checkpoints
    normalize_reward: bool = False  # scale rewards by the running std of the discounted return (VecNormalize's norm_reward)
    normalize_gamma: float = 0.99  # discount of that return (set it to algo.gamma)
    normalize_clip: float = 10.0  # clip normalised observations and rewards to [-this, this]
    # image observations (uint8 H x W x 1 or 3, e.g. CarRacing-v3), which get the CNN (pgtrain/envs/observations.py):
    image_size: int = 84  # resize frames to this square side, as the Atari protocol's 84 (0 = keep the env's size)
    grayscale: bool = True  # turn RGB frames grey (one channel instead of three)
    frame_stack: int = 4  # stack this many most recent frames into one observation (1 = the current frame only)

    def __post_init__(self) -> None:
        unset = [f.name for f in dataclasses.fields(self) if getattr(self, f.name) == MISSING]
        _check(not unset, f"env.{', env.'.join(unset)}: no value; an env's YAML in configs/env/ sets it")
        _coerce_enums(self)
        _check(
            self.name not in ENV_SCHEMAS or isinstance(self, ENV_SCHEMAS[self.name]),
            f"env.name={self.name}: the name picks the env's code, and these are not its options; choose it with env={self.name}",
        )
        _check_at_least("env.pipeline_groups", self.pipeline_groups, 1)
        _check(
            self.vectorization in ("auto", "vector_entry_point", "sync", "async"),
            f"env.vectorization={self.vectorization}: choose auto, vector_entry_point, sync or async",
        )
        _check_at_least("env.solve_window", self.solve_window, 1)
        _check_at_most("env.solve_window", self.solve_window, INT32_MAX)
        if self.max_episode_steps is not None:
            _check_at_least("env.max_episode_steps", self.max_episode_steps, 1)
        _check_gamma("env.normalize_gamma", self.normalize_gamma)
        _check_positive("env.normalize_clip", self.normalize_clip)
        _check_at_least("env.image_size", self.image_size, 0)
        _check_at_most("env.image_size", self.image_size, 4096)
        _check_at_least("env.frame_stack", self.frame_stack, 1)


@dataclass
class PongConfig(EnvConfig):
    """ALE Pong from pixels (ale-py's ROMs ship in its wheel; nothing is downloaded). docs/pong.md explains each default."""

    vectorization: str = "async"  # backend=gymnasium only: sync (one process) or async (one process per env)
    frameskip: int = 4  # emulator frames per agent step: a fixed 4 (DQN onwards); the lecture's Pong-v0 drew 2-4 at random
    # sticky actions: each emulator frame repeats the previous action with this probability (ALE/Pong-v5's and Machado
    # et al. 2018's protocol); 0 = a deterministic game, which a policy can beat with an exploit (docs/pong.md)
    repeat_action_probability: float = 0.25
    # lecture: 80x80 binarised frame differences (6400 int8); stack: 84x84 grey frames, frame_stack of them (for cnn)
    preprocess: str = "lecture"
    frame_stack: int = 4  # frames stacked when preprocess=stack
    action_set: str = "updown"  # updown: 2 actions, policy 1 = UP, 0 = DOWN (the lecture's); minimal: ALE's 6 Pong actions
    # ale_vector: ale-py's AtariVectorEnv, all emulators in one process on C++ threads; gymnasium: ALE/Pong-v5 per env
    # (needed for render)
    backend: str = "ale_vector"
    num_threads: int = 0  # emulator threads of backend=ale_vector (0 = one per core, at most num_envs)
    # ale-py's async mode (backend=ale_vector, algo=reinforce): each step hands the policy the first async_batch envs
    # to finish while the others' emulators keep running, so the emulator threads never wait for the policy (envpool's
    # scheme). Trajectories then depend on thread timing: not bit-reproducible. 0 (or >= num_envs, or
    # backend=gymnasium) = every env at each step, in lockstep; see async_batch_of().
    async_batch: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_at_least("env.async_batch", self.async_batch, 0)
        _check_own_frames(self)
        _check(self.action_set in ("updown", "minimal"), f"env.action_set={self.action_set}: choose updown or minimal")
        _check(self.backend in ("ale_vector", "gymnasium"), f"env.backend={self.backend}: choose ale_vector or gymnasium")
        _check(
            not (self.preprocess == "stack" and self.backend == "gymnasium"),
            "env.preprocess=stack runs on env.backend=ale_vector only (ale-py's C++ grey-scale, resize and frame stack)",
        )
        _check_at_least("env.num_threads", self.num_threads, 0)
        _check_at_least("env.frameskip", self.frameskip, 1)
        if self.max_episode_steps is not None:  # ale-py counts an episode's emulator frames in a C int
            _check_at_most("env.max_episode_steps", self.max_episode_steps, INT32_MAX // self.frameskip)
        _check_at_most("env.frameskip", self.frameskip, INT32_MAX)
        _check(
            0.0 <= self.repeat_action_probability <= 1.0,
            f"env.repeat_action_probability={self.repeat_action_probability} must lie in [0, 1]",
        )
        _check(self.preprocess in ("lecture", "stack"), f"env.preprocess={self.preprocess}: choose lecture or stack")
        _check_at_least("env.frame_stack", self.frame_stack, 1)


@dataclass
class AtariConfig(EnvConfig):
    """Any ALE game (env.id=ALE/<Game>-v5) through ale-py's AtariVectorEnv: 84x84 grey frame stacks for the Nature CNN,
    the game's minimal action set, FIRE at reset where the game has it, ALE v5's protocol (sticky actions, frame skip 4).
    The logged returns are always whole games' true scores; episodic_life and clip_rewards change what is learnt from."""

    frameskip: int = 4  # emulator frames per agent step (ALE v5: 4)
    repeat_action_probability: float = 0.25  # sticky actions (ALE v5's default, Machado et al. 2018)
    frame_stack: int = 4  # grey 84x84 frames stacked into one observation
    noop_max: int = 30  # up to this many random no-ops at each reset (the DQN protocol)
    episodic_life: bool = True  # training: a lost life ends the learner's episode (not the game), as SB3's AtariWrapper
    clip_rewards: bool = True  # training: learn from sign(reward), as SB3's AtariWrapper (logged returns stay true)
    full_action_space: bool = False  # all 18 ALE actions instead of the game's minimal set
    num_threads: int = 0  # emulator threads (0 = one per core, at most num_envs)

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_at_least("env.frameskip", self.frameskip, 1)
        _check(
            0.0 <= self.repeat_action_probability <= 1.0,
            f"env.repeat_action_probability={self.repeat_action_probability} must lie in [0, 1]",
        )
        _check_at_least("env.frame_stack", self.frame_stack, 1)
        _check_at_least("env.noop_max", self.noop_max, 0)
        _check_own_frames(self)
        _check_at_least("env.num_threads", self.num_threads, 0)


def _check_own_frames(env: EnvConfig) -> None:
    """ALE envs preprocess their frames themselves: the generic image options would silently do nothing."""
    default = EnvConfig.__dataclass_fields__
    for key in ("image_size", "grayscale"):
        _check(
            getattr(env, key) == default[key].default,
            f"env.{key}={getattr(env, key)}: env={env.name} makes its own frames (ale-py's preprocessing); "
            "env.image_size and env.grayscale apply to env=gym's image observations",
        )


ENV_SCHEMAS: dict[str, type[EnvConfig]] = {"pong": PongConfig, "atari": AtariConfig}  # by env.name; others: EnvConfig


def async_batch_of(env: EnvConfig, num_envs: int) -> int:
    """The batch of ale-py's async mode that ``num_envs`` envs of ``env`` run with; 0 = lockstep."""
    batch = getattr(env, "async_batch", 0)
    return batch if 0 < batch < num_envs and getattr(env, "backend", None) == "ale_vector" else 0


# ----------------------------------------------------------------------------------------------------------------------
# Device and the top level


@dataclass
class DeviceConfig:
    name: DeviceName = DeviceName.auto  # auto = cuda when present, else cpu
    torch_threads: int = 1  # torch intra-op threads; small networks on few cores are fastest with 1
    # torch intra-op threads during each update (0 = torch_threads): PPO's envs idle while it learns from a rollout, so
    # its update may take the cores the emulators use while collecting (Pong's CNN: docs/BENCHMARKS.md, "Torch threads")
    update_threads: int = 0

    def __post_init__(self) -> None:
        _coerce_enums(self)
        _check_at_least("device.torch_threads", self.torch_threads, 1)
        _check_at_least("device.update_threads", self.update_threads, 0)


@dataclass
class Config:
    algo: Any = MISSING  # group algo: reinforce | a2c | ddpg | ppo | td3 | sac
    env: Any = MISSING  # group env: cartpole | pendulum | pong | lunarlander | halfcheetah | hopper | gym | atari
    device: DeviceConfig = MISSING  # group device: auto | cpu | cuda
    seed: int = 0  # seeds python, numpy, torch and the envs
    total_steps: int = 200_000  # budget in environment steps, summed over parallel envs
    checkpoint_interval: int = 0  # env steps between periodic checkpoints kept as step_<n>.pt (0 = only last.pt)
    checkpoint_every_s: float = 60.0  # also refresh last.pt this often in wall-clock seconds (0 = only at the end)
    eval_interval: int = 0  # env steps between deterministic evaluations, logged as eval/mean_return (0 = never)
    eval_episodes: int = 5  # episodes per evaluation
    video_interval: int = 0  # env steps between recorded deterministic episodes: videos/*.mp4 + a GIF in TensorBoard (0 = never)
    log_interval_s: float = 5.0  # seconds between console lines when stdout is not a terminal
    progress: bool = True  # show a progress bar or periodic lines
    stop_on_solve: bool = False  # end the run once the env's solve threshold is reached
    resume: str | None = None  # a run directory to continue in place (handled before Hydra composes)

    def __post_init__(self) -> None:
        _check(0 <= self.seed <= SEED_MAX, f"seed={self.seed} is out of range: it must lie in [0, {SEED_MAX:,}]")
        _check_at_least("total_steps", self.total_steps, 0)
        _check_at_least("checkpoint_interval", self.checkpoint_interval, 0)
        _check_at_least("checkpoint_every_s", self.checkpoint_every_s, 0.0)
        _check_at_least("eval_interval", self.eval_interval, 0)
        _check_at_least("eval_episodes", self.eval_episodes, 1)
        _check_at_least("video_interval", self.video_interval, 0)
        groups = getattr(self.env, "pipeline_groups", 1)
        if groups > 1:
            name = getattr(self.algo, "name", None)
            _check(
                not isinstance(self.algo, OffPolicyConfig),
                f"env.pipeline_groups={groups}: {str(name).upper()} steps its envs one vector step at a time; use env.pipeline_groups=1",
            )
        batch = getattr(self.env, "async_batch", 0)
        if batch:
            name = getattr(self.algo, "name", None)
            _check(name == "reinforce", f"env.async_batch={batch} works with algo=reinforce only (whole episodes); use env.async_batch=0")
            _check(groups == 1, f"env.async_batch={batch} and env.pipeline_groups={groups}: choose one of the two")
            normalizing = getattr(self.env, "normalize_obs", False) or getattr(self.env, "normalize_reward", False)
            _check(not normalizing, f"env.async_batch={batch} cannot normalise observations or rewards; use env.async_batch=0")


# Top-level settings that steer a run without changing what it learns: a resume may change them, and plots and
# reports put runs that differ only in these (and the seed) in one group.
RUN_CONTROL_KEYS = (
    "total_steps",
    "device",
    "progress",
    "log_interval_s",
    "checkpoint_interval",
    "checkpoint_every_s",
    "eval_interval",
    "eval_episodes",
    "stop_on_solve",
    "video_interval",
)

ALGO_SCHEMAS: dict[str, type[AlgoConfig]] = {
    "reinforce": ReinforceConfig,
    "a2c": A2CConfig,
    "ddpg": DDPGConfig,
    "ppo": PPOConfig,
    "td3": TD3Config,
    "sac": SACConfig,
}


def register_configs() -> None:
    """Put every schema in Hydra's ConfigStore, under ``schema/<group>/<name>``; each YAML option starts from one."""
    cs = ConfigStore.instance()
    cs.store(name="base_config", node=Config)
    for name, node in ALGO_SCHEMAS.items():
        cs.store(group="schema/algo", name=name, node=node)
    cs.store(group="schema/env", name="env", node=EnvConfig)
    cs.store(group="schema/env", name="pong", node=PongConfig)
    cs.store(group="schema/env", name="atari", node=AtariConfig)
    cs.store(group="schema/device", name="device", node=DeviceConfig)


def to_object(cfg: DictConfig) -> Config:
    """The composed config as typed dataclasses, with every range checked; a bad value raises PgtrainError."""
    if "hydra" in cfg:  # a callback sees Hydra's own node beside ours
        cfg = copy.deepcopy(cfg)
        with open_dict(cfg):
            cfg.pop("hydra")
    try:
        obj = OmegaConf.to_object(cfg)
    except OmegaConfBaseException as ex:
        raise PgtrainError(one_line(str(ex))) from ex
    assert isinstance(obj, Config)
    return obj


def one_line(text: str) -> str:
    """Collapse a multi-line library message into one line: ``Available options in 'algo': a2c, ddpg, reinforce``."""
    text = text.split("Config search path")[0]
    out = ""
    for line in (part.strip() for part in text.strip().splitlines()):
        if not line:
            continue
        if not out:
            out = line
        elif out.endswith(":") or out.endswith(","):
            out += " " + line + ("" if line.endswith(":") else ",")
        else:
            out += "; " + line
    return out.rstrip(",;").replace(":,", ":")


def typed_config(plain: dict[str, Any]) -> DictConfig:
    """Re-type a saved, plain config (a checkpoint's) against the schemas, as Hydra's composition would."""
    try:
        base = OmegaConf.structured(Config)
        base.algo = OmegaConf.structured(ALGO_SCHEMAS[plain["algo"]["name"]])
        base.env = OmegaConf.structured(ENV_SCHEMAS.get(plain["env"]["name"], EnvConfig))
        base.device = OmegaConf.structured(DeviceConfig)
        return OmegaConf.merge(base, {k: v for k, v in plain.items() if k != "hydra"})
    except (KeyError, TypeError, OmegaConfBaseException) as ex:
        raise PgtrainError(f"the saved config does not fit this pgtrain's schemas: {one_line(str(ex))}") from None
