"""What every algorithm shares: the interface the workspace drives and state-dict plumbing."""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from pgtrain import fast
from pgtrain.batches import SparseFrames
from pgtrain.nets import Policy
from pgtrain.schedules import Factors


class Algorithm:
    """An algorithm chooses actions and learns from a batch; it never touches envs, loggers or files.

    Subclasses set ``name``, the ``collector`` kind that feeds them (episodes | rollout | replay), and list the
    attributes holding networks and optimisers in ``state_attrs``; the action types each can drive are declared above it
    in its module (``ACTION_TYPES``), where a command is checked without importing torch (pgtrain/algos/__init__.py).
    """

    name: ClassVar[str]
    collector: ClassVar[str]
    state_attrs: ClassVar[tuple[str, ...]]
    # every network reads observations through a sparse-input first layer: SparseFrames batches stay sparse (obs_tensor)
    sparse_obs = False

    def __init__(self, obs_space: gym.Space, action_space: gym.Space, cfg: Any, device: torch.device) -> None:
        self.obs_space = obs_space
        self.action_space = action_space
        self.cfg = cfg
        self.device = device
        self.updates = 0
        # the scheduled options' factors now, set by the workspace before each update (pgtrain.schedules)
        self.factors = Factors()
        self._actors: dict[nn.Module, Any] = {}  # policy -> its fast actor (policy_actions)

    def act(self, obs: np.ndarray | SparseFrames, explore: bool = True) -> np.ndarray:
        """Actions for a batch of observations ``(N, *obs_shape)`` (or their :class:`SparseFrames`, from ale-py's async
        mode): sampled when ``explore``, else the mode."""
        raise NotImplementedError

    def update(self, batch: Any) -> dict[str, float]:
        """One learning step on ``batch``; returns metrics keyed by their TensorBoard tag."""
        raise NotImplementedError

    def tensor(self, x: np.ndarray, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return torch.as_tensor(x, dtype=dtype, device=self.device)

    def obs_tensor(self, obs: np.ndarray | SparseFrames) -> torch.Tensor:
        """Observations as a tensor; integer ones (Pong's int8 difference frames, uint8 frame stacks) keep their dtype,
        so a batch is not copied to float: the networks' first layers read them as they are (pgtrain.nets).
        :class:`SparseFrames` become a sparse COO tensor where every network reads it (``sparse_obs``), else dense."""
        if isinstance(obs, SparseFrames):
            if not self.sparse_obs:
                return torch.as_tensor(obs.dense(), device=self.device)
            indices = torch.from_numpy(np.stack([obs.rows(), obs.cols.astype(np.int64)]))
            size = (len(obs), obs.width)
            coo = torch.sparse_coo_tensor(indices, torch.from_numpy(obs.values), size, is_coalesced=True, check_invariants=False)
            return coo.to(self.device)
        if np.issubdtype(obs.dtype, np.integer):
            return torch.as_tensor(obs, device=self.device)
        return self.tensor(obs)

    def policy_actions(self, policy: Policy, obs: np.ndarray | SparseFrames, explore: bool) -> np.ndarray:
        """``policy``'s actions for ``obs`` ``(N, *obs_shape)``, sampled when ``explore``, else the mode, as the envs take
        them: the law of :meth:`Policy.act`, through the fastest form for the policy (:func:`pgtrain.fast.actor`)."""
        actor = self._actors.get(policy)
        if actor is None:
            actor = self._actors[policy] = fast.actor(policy, self.obs_tensor)
        return self.to_env_actions(actor(obs, explore))

    def to_env_actions(self, actions: torch.Tensor | np.ndarray) -> np.ndarray:
        """Discrete actions as int64 (what gymnasium's Discrete spaces accept), continuous ones as float32."""
        out = actions.cpu().numpy() if isinstance(actions, torch.Tensor) else actions
        return out.astype(np.int64) if isinstance(self.action_space, gym.spaces.Discrete) else out.astype(np.float32)

    def clip_grads(self, params: Any) -> float:
        """Clip the global gradient norm to ``max_grad_norm`` (when > 0) and return the norm before clipping."""
        limit = self.cfg.max_grad_norm if self.cfg.max_grad_norm > 0 else float("inf")
        return float(nn.utils.clip_grad_norm_(params, limit))

    def set_schedule(self, factors: Factors) -> None:
        """Take the scheduled options' factors (the workspace's, from the run's progress): every optimiser's learning
        rates become ``factors.lr`` times their configured values, kept in each parameter group as ``initial_lr`` (as
        torch's schedulers do), so checkpoints carry both; an algorithm reads its other factors from ``self.factors``."""
        self.factors = factors
        for name in self.state_attrs:
            opt = getattr(self, name)
            if isinstance(opt, torch.optim.Optimizer):
                for group in opt.param_groups:
                    group["lr"] = group.setdefault("initial_lr", group["lr"]) * factors.lr

    def nonfinite_parameters(self) -> list[str]:
        """Names of the network parameters holding a NaN or inf (checked after every update)."""
        return [
            f"{name}.{pname}"
            for name in self.state_attrs
            if isinstance(getattr(self, name), nn.Module)
            for pname, p in getattr(self, name).named_parameters()
            if not torch.isfinite(p).all()
        ]

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {name: getattr(self, name).state_dict() for name in self.state_attrs}
        state["updates"] = self.updates
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name in self.state_attrs:
            getattr(self, name).load_state_dict(state[name])
        self.updates = int(state["updates"])
