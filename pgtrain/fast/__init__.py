"""Fast paths: the same maths as the plain torch code in :mod:`pgtrain.nets`, at less cost where pgtrain spends its time.

The door is :func:`actor`: given a policy, the fastest way to act with it on the env-step loop. The layers of
:mod:`pgtrain.fast.sparse` are built by :mod:`pgtrain.nets` where the observations are wide and mostly zeros, and the
compiled passes of :mod:`pgtrain.fast.kernels` are called by Pong's env and async collector. Each is tested against
the plain path (tests/test_fast.py); the measurements behind each reason are in
benchmarks/results/fast-paths_2026-12-07.json (``scripts/bench_fast_paths.py``).

- :func:`pgtrain.fast.acting.sample` (any policy, torch): inverse-CDF sampling; building a torch distribution object
  costs more than the maths for the env-step loop's small batches.
- :class:`pgtrain.fast.acting.NumpyActor` (sparse-input MLP torsos: Pong's difference frames): torch's fixed cost
  per call is several times the maths for 8 to 64 frames.
- :class:`pgtrain.fast.acting.LectureKernelActor` (the lecture's 6400-200-1 net): the whole policy in one compiled
  pass, no numpy call per layer.
- :mod:`pgtrain.fast.sparse` (``SparseInputLinear``, ``SparseFrameConv``): Pong's difference frames are about 0.5 %
  nonzero, so the first layer's forward and backward cost what the nonzero pixels cost. ``SparseFrameConv`` paid on
  the AVX2-only machines (docs/BENCHMARKS.md) but measured slower than the dense convolution on an AVX-512 one.
- :mod:`pgtrain.fast.kernels` (Pong's env-step loop: preprocessing, the frames' nonzeros, the async collector's
  bookkeeping): each a few dozen numpy calls on small arrays, whose fixed costs take the CPU the emulators need.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the door imports torch only when it is opened
    import numpy as np
    import torch

    from pgtrain.batches import SparseFrames
    from pgtrain.nets import Policy


def actor(
    policy: Policy, to_tensor: Callable[[np.ndarray | SparseFrames], torch.Tensor]
) -> Callable[[np.ndarray | SparseFrames, bool], np.ndarray | torch.Tensor]:
    """The fastest way to act with ``policy``: ``act(obs, explore)`` -> actions ``(B,)`` or ``(B, act_dim)``, sampled
    when ``explore``, else the mode, with the law of ``policy.act``; ``to_tensor`` makes the observations (a batch of
    ``(B, *obs_shape)`` or their :class:`SparseFrames`) the policy's input where torch acts.

    The lecture's net acts in one compiled pass, other sparse-input MLPs in numpy, the rest through :func:`sample`;
    a batch a faster form declines (too large, too dense, weights off the CPU) goes to the next."""
    from pgtrain.fast.acting import LectureKernelActor, NumpyActor, numpy_leaves, torch_actor

    plain = torch_actor(policy, to_tensor)
    if LectureKernelActor.applies(policy):
        fast = LectureKernelActor(policy)
    elif numpy_leaves(policy) is not None:
        fast = NumpyActor(policy)
    else:
        return plain

    def act(obs: np.ndarray | SparseFrames, explore: bool) -> np.ndarray | torch.Tensor:
        actions = fast(obs, explore)
        return plain(obs, explore) if actions is None else actions

    return act
