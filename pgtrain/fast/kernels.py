"""Compiled loops for Pong's env-step loop (numba), where numpy's and torch's fixed cost per call is most of the work.

Each async batch of Pong frames goes through the lecture preprocessing, a search for the difference frames' nonzero
pixels and the policy's sparse first layer before the emulators get their next actions. In numpy and torch that is a
few dozen calls on small arrays, each with its fixed cost, on the cores the emulator threads need. Each function here
is one pass in compiled code, with the same results as the numpy forms it stands in for (tests/test_fast.py,
tests/test_pong.py):

- :func:`lecture_diff_grey`: :func:`pgtrain.envs.pong.lecture_frame_grey` of a batch of grey screens, minus each
  env's previous frame;
- :func:`nonzero_rows`: :meth:`pgtrain.batches.SparseFrames.of` of an int8 batch;
- :func:`sparse_rows_matmul`: ``x @ weight + bias`` from x's nonzero entries (the sparse first layer's forward);
- :func:`sparse_relu_bernoulli`: the lecture's whole 6400-200-1 policy on those entries, to actions;
- :func:`file_steps` and :func:`record_results`: the async collector's bookkeeping of a batch
  (:class:`pgtrain.collectors.AsyncEpisodeCollector`), a dozen numpy calls each in its readable form (their
  docstrings).

This module imports numba and compiles on first use (cached on disk by numba afterwards): its callers import it where
they need it, so runs that never touch Pong's frames do not pay for it.
"""

from __future__ import annotations

import numba
import numpy as np

# The lecture crop (rows 35..194, every second row and column) and the grey values it erases, as in pgtrain.envs.pong.
_FIRST_ROW, _SIDE = 35, 80
_GREY_BACKGROUND_A, _GREY_BACKGROUND_B = 87, 107


@numba.njit(cache=True, nogil=True)
def _lecture_diff_grey(pairs, ids, prev, fresh, out):  # pragma: no cover - compiled
    for b in range(pairs.shape[0]):
        env = ids[b]
        last = prev[env]
        diff = out[b]
        for r in range(_SIDE):
            row = pairs[b, _FIRST_ROW + 2 * r]
            base = r * _SIDE
            for c in range(_SIDE):  # no branch: the compiler vectorises it
                v = row[c] & 0xFF  # the even column's pixel: the low byte of the pair
                cur = np.int8((v != 0) & (v != _GREY_BACKGROUND_A) & (v != _GREY_BACKGROUND_B))
                diff[base + c] = cur - last[base + c]
                last[base + c] = cur
        if fresh[env]:  # a game's first frame: no previous one to subtract
            diff[:] = 0
            fresh[env] = False


def lecture_diff_grey(screens: np.ndarray, ids: np.ndarray, prev: np.ndarray, fresh: np.ndarray) -> np.ndarray:
    """The lecture's difference frames of a batch of ALE grey screens ``(B, 210, 160)`` uint8 from envs ``ids``
    ``(B,)`` -> ``(B, 6400)`` int8: ``lecture_frame_grey(screens) - prev[ids]``, zeros where ``fresh[ids]``; updates
    ``prev[ids]`` (``(N, 6400)`` int8) to the new frames and clears ``fresh[ids]`` in place, as the numpy form does."""
    out = np.empty((len(screens), _SIDE * _SIDE), dtype=np.int8)
    # each pair of pixels read as one uint16 (as lecture_frame_grey does; x86 and ARM are little-endian)
    _lecture_diff_grey(np.ascontiguousarray(screens).view(np.uint16), ids, prev, fresh, out)
    return out


@numba.njit(cache=True, nogil=True)
def _nonzero_rows(x, words, cols, values, counts):  # pragma: no cover - compiled
    n = 0
    for i in range(x.shape[0]):
        start = n
        for w in range(words.shape[1]):
            if words[i, w] != 0:  # 8 values at a time: Pong's difference frames are ~0.5 % nonzero
                for j in range(8 * w, 8 * w + 8):
                    if x[i, j] != 0:
                        cols[n] = j
                        values[n] = x[i, j]
                        n += 1
        counts[i] = n - start
    return n


def nonzero_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The nonzero entries of a C-contiguous int8 ``x`` ``(N, width)``, ``width`` a multiple of 8 and below 32,768,
    row by row with columns ascending -> ``(cols int16, values int8, counts int64)``."""
    cols = np.empty(x.size, dtype=np.int16)
    values = np.empty(x.size, dtype=np.int8)
    counts = np.empty(len(x), dtype=np.int64)
    n = _nonzero_rows(x, x.view(np.uint64), cols, values, counts)
    return cols[:n].copy(), values[:n].copy(), counts


@numba.njit(cache=True, nogil=True)
def _sparse_rows_matmul(cols, values, counts, weight, bias, out):  # pragma: no cover - compiled
    entry = 0
    for i in range(counts.shape[0]):
        row = out[i]
        row[:] = 0
        for _ in range(counts[i]):
            w = weight[cols[entry]]
            v = values[entry]
            for j in range(row.shape[0]):
                row[j] += v * w[j]
            entry += 1
        for j in range(row.shape[0]):
            row[j] += bias[j]


def sparse_rows_matmul(cols: np.ndarray, values: np.ndarray, counts: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """``x @ weight + bias`` for ``x`` given by its nonzero entries (as :class:`~pgtrain.batches.SparseFrames` holds
    them), ``weight`` ``(D, H)`` and ``bias`` ``(H,)`` -> ``(N, H)`` of the weight's dtype: each row sums the weight rows
    of its entries times their values, in entry order, then adds the bias (torch's embedding bag's order)."""
    out = np.empty((len(counts), weight.shape[1]), dtype=weight.dtype)
    _sparse_rows_matmul(cols, values, counts, weight, bias, out)
    return out


@numba.njit(cache=True, nogil=True)
def _sparse_relu_bernoulli(cols, values, counts, weight, bias, head_weight, head_bias, u, actions):  # pragma: no cover
    hidden = np.empty((counts.shape[0], weight.shape[1]), dtype=weight.dtype)
    _sparse_rows_matmul(cols, values, counts, weight, bias, hidden)
    for i in range(counts.shape[0]):
        z = head_bias
        for j in range(hidden.shape[1]):
            if hidden[i, j] > 0:
                z += hidden[i, j] * head_weight[j]
        actions[i] = 1 if u[i] < 1.0 / (1.0 + np.exp(-np.float64(z))) else 0


def sparse_relu_bernoulli(
    cols: np.ndarray, values: np.ndarray, counts: np.ndarray, weight: np.ndarray, bias: np.ndarray,
    head_weight: np.ndarray, head_bias: float, u: np.ndarray,
) -> np.ndarray:  # fmt: skip
    """The lecture's policy on a batch given by its nonzero entries, in one pass -> int64 actions ``(N,)``:
    h = relu(x @ weight + bias), z = h . head_weight + head_bias, action 1 where ``u < sigmoid(z)`` (``u``: uniform
    draws for sampling; 0.5 everywhere gives the mode, z > 0). ``weight`` ``(D, H)``, ``bias`` and ``head_weight``
    ``(H,)``; z accumulates in the weights' dtype and the sigmoid is taken in float64."""
    actions = np.empty(len(counts), dtype=np.int64)
    _sparse_relu_bernoulli(cols, values, counts, weight, bias, head_weight, head_bias, u, actions)
    return actions


@numba.njit(cache=True, nogil=True)
def _file_steps(
    ids, prev_done, actions, counts, entry, env, action, reward, begin, count, row, base, slot, outstanding
):  # pragma: no cover
    n = 0
    for b in range(ids.shape[0]):
        e = ids[b]
        outstanding[e] = True
        if not prev_done[e]:  # not the autoreset step that follows an episode's end: a transition
            r = row + n
            env[r] = e
            action[r] = actions[b]
            reward[r] = 0.0
            begin[r] = entry
            count[r] = counts[b]
            slot[e] = base + r
            n += 1
        entry += counts[b]
    return n


def file_steps(
    ids: np.ndarray, prev_done: np.ndarray, actions: np.ndarray, counts: np.ndarray, entry: int, env: np.ndarray,
    action: np.ndarray, reward: np.ndarray, begin: np.ndarray, count: np.ndarray, row: int, base: int, slot: np.ndarray,
    outstanding: np.ndarray,
) -> int:  # fmt: skip
    """File a batch of steps just sent: the envs ``ids`` ``(B,)`` took ``actions``, their observations have
    ``counts`` nonzero entries stored from absolute entry ``entry`` on. In numpy::

        carried = ~prev_done[ids]                     # the autoreset steps carry no transition
        rows = row + np.arange(carried.sum())         # indices into the columns; absolute rows: base + rows
        env[rows], action[rows], reward[rows] = ids[carried], actions[carried], 0
        begin[rows], count[rows] = (entry + np.cumsum(counts) - counts)[carried], counts[carried]
        slot[ids[carried]] = base + rows              # each env's step in flight
        outstanding[ids] = True

    Returns the number of rows filed."""
    return _file_steps(ids, prev_done, actions, counts, entry, env, action, reward, begin, count, row, base, slot, outstanding)


@numba.njit(cache=True, nogil=True)
def _record_results(ids, rewards, terminated, truncated, outstanding, prev_done, slot, reward, base, ended):  # pragma: no cover
    valid = 0
    n = 0
    for b in range(ids.shape[0]):
        e = ids[b]
        done = terminated[b] or truncated[b]
        if outstanding[e] and not prev_done[e]:  # a transition (not a first frame, not an autoreset)
            reward[slot[e] - base] = rewards[b]
            valid += 1
            if done:
                ended[n] = b
                n += 1
        outstanding[e] = False
        prev_done[e] = done
    return valid, n


def record_results(
    ids: np.ndarray, rewards: np.ndarray, terminated: np.ndarray, truncated: np.ndarray, outstanding: np.ndarray,
    prev_done: np.ndarray, slot: np.ndarray, reward: np.ndarray, base: int, ended: np.ndarray,
) -> tuple[int, int]:  # fmt: skip
    """Record a batch of results of the envs ``ids`` ``(B,)``. In numpy::

        valid = outstanding[ids] & ~prev_done[ids]    # a transition: not a first frame, not an autoreset
        reward[slot[ids[valid]] - base] = rewards[valid]
        done = terminated | truncated
        ended[: n] = np.flatnonzero(done & valid)     # n of them: the positions of the episodes that end here
        outstanding[ids], prev_done[ids] = False, done

    Returns ``(valid.sum(), n)``."""
    return _record_results(ids, rewards, terminated, truncated, outstanding, prev_done, slot, reward, base, ended)
