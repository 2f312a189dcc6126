"""Acting on the env-step loop: the same law as :meth:`pgtrain.nets.Policy.act`, at less cost per call.

Three forms, each used where it applies and each falling through to the next for a batch it declines:

1. :class:`LectureKernelActor`: the lecture's 6400-200-1 Bernoulli policy in one compiled pass
   (:func:`pgtrain.fast.kernels.sparse_relu_bernoulli`);
2. :class:`NumpyActor`: a sparse-input MLP torso with a categorical or Bernoulli head, in numpy;
3. :func:`sample`: any policy in torch, by inverse-CDF sampling instead of a distribution object.

All three sample by inverting the policy's CDF at one uniform draw per observation (the Gaussian: mean + std * one
normal draw per dimension): forms 1 and 2 draw from numpy's global generator, form 3 from torch's; both are seeded by
the run's seed and saved in checkpoints, so a seed and a checkpoint still decide the actions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from pgtrain.batches import SparseFrames
from pgtrain.fast.sparse import SparseInputLinear, matmul_numpy, reads_sparse, sparse_linear_numpy

if TYPE_CHECKING:
    from pgtrain.nets import Policy

# The numpy forms act on batches of at most this many observations (the env-step loop's); larger ones go to torch.
NUMPY_ACT_MAX_BATCH = 64

Obs = np.ndarray | SparseFrames


def sample(policy: Policy, obs: torch.Tensor) -> torch.Tensor:
    """a ~ pi(.|s) for ``obs`` ``(B, *obs_shape)`` without building a distribution object: the law of
    ``policy.act(obs)``; categorical and Bernoulli by inverting the CDF at one ``torch.rand`` draw per observation."""
    out = policy.head(policy.torso(obs))
    if policy.kind == "categorical":
        cdf = torch.softmax(out, dim=-1).cumsum(-1)
        u = torch.rand(out.shape[:-1] + (1,), device=out.device)
        return (cdf < u).sum(-1).clamp_max(out.shape[-1] - 1)
    if policy.kind == "bernoulli":
        z = out.squeeze(-1)
        return (torch.rand_like(z) < torch.sigmoid(z)).float()
    return out + policy.log_std.exp() * torch.randn_like(out)


class NumpyActor:
    """Actions of a policy whose torso is an MLP with a :class:`SparseInputLinear` first layer and whose head is
    categorical or Bernoulli, computed in numpy on the parameters' storage (no copy: every optimiser step is seen)."""

    SUPPORTED = (SparseInputLinear, nn.Linear, nn.ReLU, nn.Tanh, nn.Flatten)

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.leaves = numpy_leaves(policy)
        if self.leaves is None:
            raise ValueError("NumpyActor: the policy's torso or head has no numpy form (see numpy_leaves)")

    def __call__(self, obs: Obs, explore: bool) -> np.ndarray | None:
        """int64 actions ``(B,)``, sampled when ``explore``, else the mode; None for a batch larger than
        ``NUMPY_ACT_MAX_BATCH`` or weights off the CPU."""
        head = self.policy.head
        if len(obs) > NUMPY_ACT_MAX_BATCH or head.weight.device.type != "cpu":
            return None
        out = numpy_head_outputs(self.leaves, head, obs)
        if self.policy.kind == "bernoulli":
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


class LectureKernelActor(NumpyActor):
    """The lecture's policy (a :class:`SparseInputLinear` first layer, ReLU, one Bernoulli logit) in one compiled pass,
    with :class:`NumpyActor`'s law and uniform draws; batches denser than the first layer's ``max_density`` go to it."""

    def __init__(self, policy: Policy) -> None:
        super().__init__(policy)
        first = next(m for m in self.leaves if isinstance(m, SparseInputLinear))
        self.max_density = first.max_density
        # the four parameters, held directly: a module's attribute lookups cost more than the rest of a small call
        self._params = (first.weight, first.bias, policy.head.weight, policy.head.bias)
        self._views: tuple | None = None  # (storage addresses, numpy views of the four parameters): _arrays

    @staticmethod
    def applies(policy: Policy) -> bool:
        leaves = numpy_leaves(policy)
        kinds = [type(m) for m in leaves or [] if not isinstance(m, nn.Flatten)]
        return policy.kind == "bernoulli" and kinds == [SparseInputLinear, nn.ReLU]

    def __call__(self, obs: Obs, explore: bool) -> np.ndarray | None:
        if len(obs) > NUMPY_ACT_MAX_BATCH:
            return None
        arrays = self._arrays()
        if arrays is None:
            return None
        frames = obs if isinstance(obs, SparseFrames) else SparseFrames.of(obs)
        if len(frames.cols) > self.max_density * len(frames) * frames.width:
            return super().__call__(obs, explore)
        from pgtrain.fast.kernels import sparse_relu_bernoulli  # numba: imported by the runs that act on sparse frames only

        weight, bias, head_weight, head_bias = arrays
        u = np.random.random_sample(len(frames)) if explore else np.full(len(frames), 0.5)
        return sparse_relu_bernoulli(frames.cols, frames.values, frames.counts, weight, bias, head_weight, head_bias[0], u)

    def _arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
        """Numpy views of the first layer's weight and bias and the head's weight and bias, made once per parameter
        storage (optimiser steps and checkpoint loads write into it in place); None while they are off the CPU."""
        params = self._params
        key = (params[0].data_ptr(), params[2].data_ptr())
        if self._views is None or self._views[0] != key:
            if params[0].device.type != "cpu":
                return None
            self._views = (key, _numpy(params[0]), _numpy(params[1]), _numpy(params[2])[0], _numpy(params[3]))
        return self._views[1:]


def torch_actor(policy: Policy, to_tensor: Callable[[Obs], torch.Tensor]) -> Callable[[Obs, bool], torch.Tensor]:
    """:func:`sample` (``explore``) or ``policy.mode`` of the observations as ``to_tensor`` makes them, without gradients."""

    def act(obs: Obs, explore: bool) -> torch.Tensor:
        with torch.no_grad():
            x = to_tensor(obs)
            return sample(policy, x) if explore else policy.mode(x)

    return act


def numpy_leaves(policy: Policy) -> list[nn.Module] | None:
    """The torso's layers in order where :class:`NumpyActor` can run the policy (a sparse-input MLP torso, a categorical
    or Bernoulli head), else None."""
    if policy.kind == "gaussian" or not reads_sparse(policy.torso):
        return None
    leaves = [m for m in policy.torso.modules() if not list(m.children())]
    return leaves if all(isinstance(m, NumpyActor.SUPPORTED) for m in leaves) else None


def numpy_head_outputs(leaves: list[nn.Module], head: nn.Linear, x: Obs) -> np.ndarray:
    """The head's outputs ``(B, n)`` logits (``(B, 1)`` Bernoulli) of the torso layers ``leaves`` applied to ``x``."""
    return matmul_numpy(numpy_forward(leaves, x), _numpy(head.weight).T) + _numpy(head.bias)


def numpy_forward(leaves: list[nn.Module], x: Obs) -> np.ndarray:
    """The layers ``leaves`` (from :func:`numpy_leaves`) applied to ``x`` ``(B, ...)`` in numpy -> ``(B, width)``."""
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


def _numpy(p: torch.Tensor) -> np.ndarray:
    """A parameter's values as a numpy view of its storage (no copy: later in-place updates show through)."""
    return p.detach().numpy()


def _sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-z), in float64: e^-z overflows only below z = -709, where the probability is 0 anyway."""
    return 1.0 / (1.0 + np.exp(-z.astype(np.float64)))
