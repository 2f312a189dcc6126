"""TensorBoard tags that the training loop writes and other code reads back (plots, reports, benchmarks). Every tag a
run logs, and its meaning: docs/operations.md, "Logged metrics"."""

RETURN_TAG = "train/episodic_return"  # each finished training episode's return, at the env step it ended
SOLVED_TAG = "train/solved_at_wall_s"  # once: the wall seconds of the loop when the solve threshold was reached
