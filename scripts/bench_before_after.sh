#!/usr/bin/env bash
# Side by side, one process at a time, alternating: two checkouts of pgtrain (e.g. before and after a refactor).
#   git worktree add /tmp/before <rev>; bash scripts/bench_before_after.sh /tmp/before . > before_after.txt
# 1. time to solve of the default CartPole/Pendulum tasks, seeds 0-4: same seeds on both, so equal env steps mean
#    equal behaviour;
# 2. with PONG_STEPS=N (e.g. 200000): Pong REINFORCE training throughput, 3 runs per tree of N env steps under the
#    same explicit protocol on both (sticky actions 0.25, frame skip 4, 16 envs; each tree's own defaults otherwise),
#    env steps/s of the training loop from summary.json. TASKS=none skips part 1.
set -euo pipefail
BEFORE=$(realpath "$1"); AFTER=$(realpath "$2"); PY=${PY:-$(cd "$(dirname "$0")/.." && pwd)/.venv/bin/python}  # not realpath: that resolves the venv link to the base interpreter
WORK=$(mktemp -d)
run() {  # run TREE DIR ARGS...: pgtrain from checkout TREE into DIR
  local tree=$1 d=$2; shift 2
  (cd "$WORK" && PYTHONPATH="$tree" "$PY" -m pgtrain.cli "$@" "hydra.run.dir=$d" progress=false device=cpu > /dev/null)
}
if [ "${TASKS:-default}" != none ]; then
  echo "task seed tree env_steps_to_solve wall_s_to_solve"
  for seed in 0 1 2 3 4; do
    for task in "reinforce cartpole" "a2c cartpole" "ddpg pendulum"; do
      set -- $task
      for tree in "$BEFORE" "$AFTER"; do
        d="$WORK/$(basename "$tree")-$1-$2-$seed"
        run "$tree" "$d" "algo=$1" "env=$2" "seed=$seed" stop_on_solve=true
        "$PY" -c "import json, sys; s = (json.load(open(sys.argv[1])).get('solved') or {}); \
print(sys.argv[2], sys.argv[3], sys.argv[4], s.get('env_steps'), round(s.get('wall_time_s', float('nan')), 2))" \
          "$d/summary.json" "$1-$2" "$seed" "$tree"
      done
    done
  done
fi
if [ -n "${PONG_STEPS:-}" ]; then
  echo "task repeat tree env_steps env_steps_per_s"
  for repeat in 0 1 2; do
    for tree in "$BEFORE" "$AFTER"; do
      d="$WORK/$(basename "$tree")-pong-$repeat"
      run "$tree" "$d" algo=reinforce env=pong env.repeat_action_probability=0.25 env.frameskip=4 algo.num_envs=16 \
        "total_steps=$PONG_STEPS"
      "$PY" -c "import json, sys; s = json.load(open(sys.argv[1])); \
print('reinforce-pong', sys.argv[2], sys.argv[3], s['env_steps'], s['steps_per_second'])" "$d/summary.json" "$repeat" "$tree"
    done
  done
fi
rm -rf "$WORK"
