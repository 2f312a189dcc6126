#!/usr/bin/env bash
# Side by side, one process at a time, alternating: time to solve of the default CartPole/Pendulum tasks for two
# checkouts of pgtrain (e.g. before and after a refactor). Same seeds on both, so equal env steps mean equal behaviour.
#   git worktree add /tmp/before <rev>; bash scripts/bench_before_after.sh /tmp/before . > before_after.txt
set -euo pipefail
BEFORE=$(realpath "$1"); AFTER=$(realpath "$2"); PY=${PY:-$(realpath "$(dirname "$0")/../.venv/bin/python")}
WORK=$(mktemp -d)
echo "task seed tree env_steps_to_solve wall_s_to_solve"
for seed in 0 1 2 3 4; do
  for task in "reinforce cartpole" "a2c cartpole" "ddpg pendulum"; do
    set -- $task
    for tree in "$BEFORE" "$AFTER"; do
      d="$WORK/$(basename "$tree")-$1-$2-$seed"
      (cd "$WORK" && PYTHONPATH="$tree" "$PY" -m pgtrain.cli "algo=$1" "env=$2" "seed=$seed" "hydra.run.dir=$d" \
        progress=false stop_on_solve=true device=cpu > /dev/null)
      "$PY" -c "import json, sys; s = (json.load(open(sys.argv[1])).get('solved') or {}); \
print(sys.argv[2], sys.argv[3], sys.argv[4], s.get('env_steps'), round(s.get('wall_time_s', float('nan')), 2))" \
        "$d/summary.json" "$1-$2" "$seed" "$tree"
    done
  done
done
rm -rf "$WORK"
