"""torch's Adam, SGD and RMSprop, less the import of ``torch._dynamo`` that their first call makes.

torch.optim wraps ``Optimizer.add_param_group``, ``zero_grad``, ``state_dict`` and ``load_state_dict`` in
``torch._disable_dynamo``, and each optimiser's ``step`` in ``_use_grad_for_differentiable``; both import
``torch._dynamo`` (and with it sympy, torch.fx and parts of torch.distributed) on their first call, which can take
longer than a CartPole run takes to solve (benchmarks/results/fast-paths_2026-12-07.json). The wrappers exist for ``torch.compile``,
which pgtrain never uses: in eager mode they call the wrapped method unchanged (the step's wrapper also turns gradient
tracking off, to the optimiser's ``differentiable`` flag, as ``step`` below does). These subclasses call the wrapped
methods directly, so they run the same floating-point operations and read and write the same state dicts (and
checkpoints) as torch's own classes; ``tests/test_startup.py`` checks both, and that a run never imports torch._dynamo.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch

_DYNAMO_WRAPPED = ("add_param_group", "zero_grad", "state_dict", "load_state_dict")


def _eager(base: type[torch.optim.Optimizer]) -> type[torch.optim.Optimizer]:
    raw_step = inspect.unwrap(base.step)  # through torch's profiling hook (set on first use) and the dynamo wrapper

    def step(self: torch.optim.Optimizer, closure: Any = None) -> Any:
        with torch.set_grad_enabled(self.defaults["differentiable"]):
            return raw_step(self, closure)

    namespace: dict[str, Any] = {name: inspect.unwrap(getattr(base, name)) for name in _DYNAMO_WRAPPED}
    namespace.update(step=step, __module__=__name__, __doc__=f"torch.optim.{base.__name__} without torch._dynamo (see module doc).")
    return type(base.__name__, (base,), namespace)


Adam = _eager(torch.optim.Adam)
SGD = _eager(torch.optim.SGD)
RMSprop = _eager(torch.optim.RMSprop)
