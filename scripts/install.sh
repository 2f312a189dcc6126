#!/usr/bin/env bash
# Install pgtrain into ./.venv from the committed lock file (reproducible; CPU torch from the local wheel).
# torch goes first, pinned, so nothing else can pull a multi-GB CUDA build of it.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q torch==2.13.0
# the lock holds gymnasium's optional envs too: Box2D (LunarLander) and MuJoCo (HalfCheetah, Hopper), all wheels
.venv/bin/python -m pip install -q -r requirements.lock
.venv/bin/python -m pip install -q --no-deps -e .
