"""Typed schemas for every option, registered in Hydra's ConfigStore: each option's one default and its meaning.

Every default lives in a schema and nowhere else: the envs', the device's, the top level's and the options all
algorithms share here; each algorithm's own in its module, pgtrain/algos/<name>.py (found by :mod:`pgtrain.algos`).
Each YAML option in ``configs/`` starts from a schema (``/schema/<group>/<name>`` in its defaults list), so a
misspelled key or a wrong type fails when the config is composed, and adds only its ``name`` and, for an env, the env's
identity (the fields left unset here: id, action type, vectorisation, solve threshold and window); a preset of another
option (``algo=ac_online`` of ``a2c``) extends it and lists only what differs. ``configs/tuned/<algo>_<env>.yaml``
override per (algo, env) pair, and the command line wins over all. tests/test_defaults.py holds the YAMLs and the docs'
tables of defaults to this. Range checks live in ``__post_init__`` and run when :func:`to_object` turns the composed
config into these dataclasses.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import functools
import inspect
import io
import math
import tokenize
import typing
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from omegaconf import MISSING, DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from pgtrain.errors import PgtrainError


class CriticTarget(str, Enum):
    """How an actor-critic's value network is trained (A2C, PPO)."""

    td = "td"  # y_t = r_t + gamma (1 - terminated_t) V(s_{t+1})
    mc = "mc"  # y_t = discounted rewards to the episode end, bootstrapped only where the rollout is cut
    gae = "gae"  # y_t = A_t^GAE(lambda) + V(s_t), the lambda-return (PPO's)


class Noise(str, Enum):
    """Exploration noise of a deterministic actor (DDPG, TD3)."""

    gaussian = "gaussian"
    ou = "ou"  # Ornstein-Uhlenbeck


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


def check(ok: bool, message: str) -> None:
    if not ok:
        raise PgtrainError(message)


def check_gamma(key: str, gamma: float) -> None:
    check(0.0 < gamma <= 1.0, f"{key}={gamma} is out of range: the discount must lie in (0, 1], e.g. {key}=0.99")


def check_positive(key: str, value: float) -> None:
    check(value > 0, f"{key}={value} is out of range: it must be > 0")


def check_at_least(key: str, value: float, low: float) -> None:
    check(value >= low, f"{key}={value} is out of range: it must be >= {low}")


def check_at_most(key: str, value: float, high: float) -> None:
    check(value <= high, f"{key}={value} is out of range: it must be <= {high:,}")


INT32_MAX = 2**31 - 1  # counts handed to C++ (ale-py) or to C sizes must fit in a C int
FLOAT32_MAX = 3.4028234663852886e38  # an algorithm's numbers meet float32 tensors: beyond this they cannot be converted
SEED_MAX = 10**9  # numpy takes seeds < 2^32 and ale-py < 2^31; pgtrain adds env indices and step counts to the seed


def check_float32_options(obj: Any, prefix: str) -> None:
    """Every float option of ``obj`` must be finite and of float32 size (torch raises on a learning rate of 1e300)."""
    for name, hint in typing.get_type_hints(type(obj)).items():
        value = getattr(obj, name)
        if float in (typing.get_args(hint) or (hint,)) and isinstance(value, float):
            check(
                math.isfinite(value) and abs(value) <= FLOAT32_MAX,
                f"{prefix}{name}={value} is out of range: it must be a finite number no larger than {FLOAT32_MAX:.1e}",
            )


# ----------------------------------------------------------------------------------------------------------------------
# Algorithms


@dataclass
class AlgoConfig:
    """Options every algorithm has and uses; each algorithm's own schema extends this in pgtrain/algos/<name>.py."""

    name: str = MISSING  # the algorithm: its module pgtrain/algos/<name>.py and its options configs/algo/<name>.yaml
    num_envs: int = 8  # parallel environments in the vector env
    gamma: float = 0.99  # discount factor
    lr: float = 1e-3  # learning rate of the policy (actor)
    optimizer: Optimizer = Optimizer.adam  # optimiser for every network
    adam_eps: float = 1e-8  # epsilon of Adam's denominator (torch's default; SB3's and CleanRL's PPO use 1e-5)
    hidden_sizes: list[int] = field(default_factory=lambda: [64, 64])  # widths of the hidden layers
    activation: Activation = Activation.tanh  # hidden-layer non-linearity
    max_grad_norm: float = 0.0  # clip the global gradient norm to this (0 = no clipping)
    lr_decay_steps: int = 0  # env steps over which every learning rate falls linearly to lr_final_fraction of itself (0 = constant)
    lr_final_fraction: float = 0.0  # share of each learning rate left after lr_decay_steps (and kept from then on)

    def __post_init__(self) -> None:
        _coerce_enums(self)
        check_at_least("algo.lr_decay_steps", self.lr_decay_steps, 0)
        check(
            0.0 <= self.lr_final_fraction <= 1.0,
            f"algo.lr_final_fraction={self.lr_final_fraction} is out of range: it must lie in [0, 1]",
        )
        own = type(self).name if isinstance(type(self).__dict__.get("name"), str) else None
        check(own is None or self.name == own, f"algo.name={self.name}: these are {own}'s options; choose an algorithm with algo=NAME")
        check_float32_options(self, "algo.")
        check_at_least("algo.num_envs", self.num_envs, 1)
        check_gamma("algo.gamma", self.gamma)
        check_positive("algo.lr", self.lr)
        check_positive("algo.adam_eps", self.adam_eps)
        check(all(h >= 1 for h in self.hidden_sizes), f"algo.hidden_sizes={self.hidden_sizes}: widths must be >= 1")
        check_at_least("algo.max_grad_norm", self.max_grad_norm, 0.0)


@dataclass
class OffPolicyConfig(AlgoConfig):
    """What the replay-based actor-critics (DDPG, TD3, SAC) share and use: the buffer, the minibatches, the target
    networks. Their actors and critics are MLPs on vector observations (no ``network`` option)."""

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
        check_positive("algo.critic_lr", self.critic_lr)
        check_at_least("algo.buffer_size", self.buffer_size, 1)
        check_at_least("algo.batch_size", self.batch_size, 1)
        check(0.0 < self.tau <= 1.0, f"algo.tau={self.tau} is out of range: it must lie in (0, 1]")
        check_at_least("algo.learning_starts", self.learning_starts, 0)
        check_at_least("algo.gradient_steps", self.gradient_steps, 0)


def check_actor_critic(cfg: Any) -> None:
    """The range checks of the options A2C and PPO share (torso, rollout, critic, losses)."""
    check(cfg.network in ("mlp", "cnn"), f"algo.network={cfg.network}: choose mlp or cnn")
    check_at_least("algo.n_steps", cfg.n_steps, 1)
    check_positive("algo.reward_scale", cfg.reward_scale)
    if cfg.value_lr is not None:
        check_positive("algo.value_lr", cfg.value_lr)
    check(0.0 <= cfg.gae_lambda <= 1.0, f"algo.gae_lambda={cfg.gae_lambda} is out of range: it must lie in [0, 1]")
    check_at_least("algo.value_coef", cfg.value_coef, 0.0)
    check_at_least("algo.entropy_coef", cfg.entropy_coef, 0.0)


def check_exploration_noise(cfg: Any) -> None:
    """The range checks of DDPG's and TD3's exploration-noise options."""
    check_at_least("algo.noise_std", cfg.noise_std, 0.0)
    check(0.0 <= cfg.ou_theta <= 1.0, f"algo.ou_theta={cfg.ou_theta} is out of range: it must lie in [0, 1]")
    check_at_least("algo.noise_decay_steps", cfg.noise_decay_steps, 0)
    check(
        0.0 <= cfg.noise_final_fraction <= 1.0,
        f"algo.noise_final_fraction={cfg.noise_final_fraction} is out of range: it must lie in [0, 1]",
    )


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
        check(not unset, f"env.{', env.'.join(unset)}: no value; an env's YAML in configs/env/ sets it")
        _coerce_enums(self)
        check(
            self.name not in ENV_SCHEMAS or isinstance(self, ENV_SCHEMAS[self.name]),
            f"env.name={self.name}: the name picks the env's code, and these are not its options; choose it with env={self.name}",
        )
        check_at_least("env.pipeline_groups", self.pipeline_groups, 1)
        check(
            self.vectorization in ("auto", "vector_entry_point", "sync", "async"),
            f"env.vectorization={self.vectorization}: choose auto, vector_entry_point, sync or async",
        )
        check_at_least("env.solve_window", self.solve_window, 1)
        check_at_most("env.solve_window", self.solve_window, INT32_MAX)
        if self.max_episode_steps is not None:
            check_at_least("env.max_episode_steps", self.max_episode_steps, 1)
        check_gamma("env.normalize_gamma", self.normalize_gamma)
        check_positive("env.normalize_clip", self.normalize_clip)
        check_at_least("env.image_size", self.image_size, 0)
        check_at_most("env.image_size", self.image_size, 4096)
        check_at_least("env.frame_stack", self.frame_stack, 1)


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
        check_at_least("env.async_batch", self.async_batch, 0)
        _check_own_frames(self)
        check(self.action_set in ("updown", "minimal"), f"env.action_set={self.action_set}: choose updown or minimal")
        check(self.backend in ("ale_vector", "gymnasium"), f"env.backend={self.backend}: choose ale_vector or gymnasium")
        check(
            not (self.preprocess == "stack" and self.backend == "gymnasium"),
            "env.preprocess=stack runs on env.backend=ale_vector only (ale-py's C++ grey-scale, resize and frame stack)",
        )
        check_at_least("env.num_threads", self.num_threads, 0)
        check_at_least("env.frameskip", self.frameskip, 1)
        if self.max_episode_steps is not None:  # ale-py counts an episode's emulator frames in a C int
            check_at_most("env.max_episode_steps", self.max_episode_steps, INT32_MAX // self.frameskip)
        check_at_most("env.frameskip", self.frameskip, INT32_MAX)
        check(
            0.0 <= self.repeat_action_probability <= 1.0,
            f"env.repeat_action_probability={self.repeat_action_probability} must lie in [0, 1]",
        )
        check(self.preprocess in ("lecture", "stack"), f"env.preprocess={self.preprocess}: choose lecture or stack")
        check_at_least("env.frame_stack", self.frame_stack, 1)


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
        check_at_least("env.frameskip", self.frameskip, 1)
        check(
            0.0 <= self.repeat_action_probability <= 1.0,
            f"env.repeat_action_probability={self.repeat_action_probability} must lie in [0, 1]",
        )
        check_at_least("env.frame_stack", self.frame_stack, 1)
        check_at_least("env.noop_max", self.noop_max, 0)
        _check_own_frames(self)
        check_at_least("env.num_threads", self.num_threads, 0)


def _check_own_frames(env: EnvConfig) -> None:
    """ALE envs preprocess their frames themselves: the generic image options would silently do nothing."""
    default = EnvConfig.__dataclass_fields__
    for key in ("image_size", "grayscale"):
        check(
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
    # its update may take the cores the emulators use while collecting (Pong's CNN: docs/lab_log.md, "Torch threads")
    update_threads: int = 0

    def __post_init__(self) -> None:
        _coerce_enums(self)
        check_at_least("device.torch_threads", self.torch_threads, 1)
        check_at_least("device.update_threads", self.update_threads, 0)


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
        check(0 <= self.seed <= SEED_MAX, f"seed={self.seed} is out of range: it must lie in [0, {SEED_MAX:,}]")
        check_at_least("total_steps", self.total_steps, 0)
        check_at_least("checkpoint_interval", self.checkpoint_interval, 0)
        check_at_least("checkpoint_every_s", self.checkpoint_every_s, 0.0)
        check_at_least("eval_interval", self.eval_interval, 0)
        check_at_least("eval_episodes", self.eval_episodes, 1)
        check_at_least("video_interval", self.video_interval, 0)
        groups = getattr(self.env, "pipeline_groups", 1)
        if groups > 1:
            name = getattr(self.algo, "name", None)
            check(
                not isinstance(self.algo, OffPolicyConfig),
                f"env.pipeline_groups={groups}: {str(name).upper()} steps its envs one vector step at a time; use env.pipeline_groups=1",
            )
        batch = getattr(self.env, "async_batch", 0)
        if batch:
            whole = getattr(type(self.algo), "learns_from_whole_episodes", False)
            check(
                whole, f"env.async_batch={batch} needs an algorithm that learns from whole episodes (algo=reinforce); use env.async_batch=0"
            )
            check(groups == 1, f"env.async_batch={batch} and env.pipeline_groups={groups}: choose one of the two")
            normalizing = getattr(self.env, "normalize_obs", False) or getattr(self.env, "normalize_reward", False)
            check(not normalizing, f"env.async_batch={batch} cannot normalise observations or rewards; use env.async_batch=0")


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


def to_object(cfg: DictConfig) -> Config:
    """The composed config as typed dataclasses, with every range checked; a bad value raises PgtrainError."""
    if "hydra" in cfg:  # a callback sees Hydra's own node beside ours
        cfg = copy.deepcopy(cfg)
        with open_dict(cfg):
            cfg.pop("hydra")
    try:
        obj = OmegaConf.to_object(cfg)
    except OmegaConfBaseException as ex:
        from pgtrain.messages import explain

        raise PgtrainError(explain(ex) or one_line(str(ex))) from ex
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


# ----------------------------------------------------------------------------------------------------------------------
# Each option's meaning, read from its schema's source


def option_meanings(schema: type) -> dict[str, str]:
    """Each field of dataclass ``schema`` and its one-line meaning: the comment after the field, else the comment lines
    right above it (joined), from the class that last declares it with words (a subclass may restate a field with its own
    default, and its own words or none). The schemas' comments are the one place meanings are written; ``pgtrain --help`` shows them and
    tests/test_cli.py checks that every option has one."""
    meanings: dict[str, str] = {}
    for cls in reversed(schema.__mro__):
        if dataclasses.is_dataclass(cls):
            meanings.update({k: v for k, v in _field_comments(cls).items() if v})
    return {f.name: meanings.get(f.name, "") for f in dataclasses.fields(schema)}


@functools.cache
def _field_comments(cls: type) -> dict[str, str]:
    path = inspect.getsourcefile(cls)
    assert path is not None, cls
    tree, comments, lines = _parsed(path)
    node = next(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == cls.__name__)
    out: dict[str, str] = {}
    for stmt in node.body:
        if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)):
            continue
        text = comments.get(stmt.end_lineno or stmt.lineno, "")
        if not text:  # the comment lines right above the field
            above, row = [], stmt.lineno - 1
            while row >= 1 and lines[row - 1].strip().startswith("#"):
                above.insert(0, comments[row])
                row -= 1
            text = " ".join(above)
        out[stmt.target.id] = text
    return out


@functools.cache
def _parsed(path: str) -> tuple[ast.Module, dict[int, str], list[str]]:
    """A source file's syntax tree, its comments by line number, and its lines (once per file)."""
    source = Path(path).read_text()
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    comments = {tok.start[0]: tok.string.lstrip("#").strip() for tok in tokens if tok.type == tokenize.COMMENT}
    return ast.parse(source), comments, source.splitlines()
