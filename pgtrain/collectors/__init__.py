"""Collectors step the vector env with an algorithm's policy and hand back the batch its ``update`` learns from.

- :class:`EpisodeCollector` returns whole episodes (REINFORCE); :class:`AsyncEpisodeCollector` the same from ale-py's
  async mode;
- :class:`RolloutCollector` returns ``(T, N)`` rollouts of ``n_steps`` per env (A2C and the online actor-critic);
- :class:`ReplayCollector` feeds a replay buffer and hands it over once learning starts (DDPG);
- :class:`PipelinedCollector` steps several groups of envs in turn, each an episode or rollout collector.

Every collector stops at its budget, ``limit`` env steps (the workspace sets it to ``total_steps``): ``collect`` then
returns None with the batch unfinished. The workspace then takes what it holds of it (finished episodes, a partial
rollout) with ``partial_batch`` for a last update; a run interrupted before its budget leaves it there, for the next
``collect`` and in checkpoints, so the resumed run completes that batch exactly as an uninterrupted run would have.

All envs use NEXT_STEP autoreset (see :mod:`pgtrain.envs`): the step after an episode ends only resets that env, so
its transition is not real; collectors mark it invalid and do not count it as an env step. The batch types live in
:mod:`pgtrain.batches` (re-exported here).
"""

from pgtrain.batches import Episode, EpisodeBatch, Rollout, Trajectory, Transition, episode_batch, rollout
from pgtrain.collectors.base import Actor, Collector
from pgtrain.collectors.episodes import AsyncEpisodeCollector, EpisodeCollector
from pgtrain.collectors.pipelined import PipelinedCollector
from pgtrain.collectors.replay import ReplayCollector
from pgtrain.collectors.rollouts import RolloutCollector

__all__ = [
    "Actor",
    "AsyncEpisodeCollector",
    "Collector",
    "Episode",
    "EpisodeBatch",
    "EpisodeCollector",
    "PipelinedCollector",
    "ReplayCollector",
    "Rollout",
    "RolloutCollector",
    "Trajectory",
    "Transition",
    "episode_batch",
    "rollout",
]
