"""Work-arounds of library internals, each kept because its measured gain outweighs its risk.

Each stands in for a library's own code path with one that does the same work without a cost that pgtrain never
needs; each is tested against the library's own form. The measurements, side by side in one run, are in
benchmarks/results/fast-paths_2026-12-07.json (``scripts/bench_fast_paths.py``).

- :mod:`pgtrain.workarounds.events` (TensorBoard event files without ``torch.utils.tensorboard``): that import pulls
  tensorboard's TensorFlow stand-in, absl and cloud file-system clients into every run's start-up. Risk: pgtrain
  writes the record format itself; tests read its files back with tensorboard's own reader.
- :mod:`pgtrain.workarounds.optimizers` (torch's optimisers without their ``torch._dynamo`` wrappers): the first step
  of a stock optimiser imports ``torch._dynamo``, which can outlast a whole CartPole run. Risk: it unwraps private
  decorators, which a torch release may change; tests compare steps and state dicts with torch's classes.
- :mod:`pgtrain.workarounds.exits` (the console scripts end by ``os._exit`` after the ``atexit`` handlers): the
  interpreter's teardown frees every object one by one after the command is done. Risk: finalisers that are not
  ``atexit`` handlers do not run; it exits the ordinary way while a thread, child process, profiler or tracer is alive.

Dropped on 2026-12-07: turning off ``torch.distributions``' argument checks process-wide (``nets`` did it on import,
for every distribution in the process, user code included); :class:`pgtrain.nets.Policy` now passes
``validate_args=False`` to the distributions it builds, the same gain without the side effect.
"""
