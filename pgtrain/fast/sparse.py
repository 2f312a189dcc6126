"""Layers that read mostly-zero inputs: the lecture's Pong frames, differences of binarised frames (~0.5 % nonzero).

:class:`SparseInputLinear` (the MLP's first layer) and :class:`SparseFrameConv` (the small CNN's first convolution)
have the maths, parameters and state-dict keys of ``nn.Linear`` and ``nn.Conv2d`` and cost what the nonzero pixels
cost; :func:`sparse_linear_numpy` and :func:`matmul_numpy` are the numpy forms the env-step loop acts with.
:mod:`pgtrain.nets` builds its torsos from them; tests/test_fast.py holds them to the dense layers.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from pgtrain.batches import SparseFrames


class SparseInputLinear(nn.Module):
    """``y = x W + b``, the maths and parameter count of ``nn.Linear(in_features, out_features)``, for inputs that are
    mostly zeros: when at most ``max_density`` of a batch is nonzero, each row sums only the weight rows of its
    nonzero inputs (an embedding bag), forward and backward.

    ``weight`` is stored ``(in_features, out_features)`` so that one input's weights are contiguous; initialised like
    ``nn.Linear``: U(-1/sqrt(in), 1/sqrt(in)) for weight and bias.
    """

    def __init__(self, in_features: int, out_features: int, max_density: float = 0.05) -> None:
        super().__init__()
        self.in_features, self.out_features, self.max_density = in_features, out_features, max_density
        self.weight = nn.Parameter(torch.empty(in_features, out_features))
        self.bias = nn.Parameter(torch.empty(out_features))
        bound = 1.0 / math.sqrt(in_features)
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``(B, in_features)``: dense, or a sparse COO tensor with coalesced (row-major) indices, whose entries
        are used as they are (:class:`~pgtrain.batches.SparseFrames` batches, :meth:`Algorithm.obs_tensor`)."""
        entries = _sparse_entries(x, self.max_density)
        if entries is not None:
            return self._sparse(x, *entries)
        return torch.matmul(x.to(self.weight.dtype), self.weight) + self.bias

    def _sparse(self, x: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, vals: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        """x W + b from x's nonzero entries (see :func:`_nonzeros`)."""
        vals = vals.to(self.weight.dtype)
        if not torch.is_grad_enabled():  # acting: the embedding bag alone, without the autograd node's cost
            return F.embedding_bag(cols, self.weight, offsets, mode="sum", per_sample_weights=vals) + self.bias
        return _SparseRowsMatmul.apply(x, self.weight, rows, cols, vals, offsets) + self.bias

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, max_density={self.max_density}"


def _sparse_entries(x: torch.Tensor, max_density: float) -> tuple[torch.Tensor, ...] | None:
    """The nonzero entries of the batch ``x`` (rows, columns, values, each row's first entry; see :func:`_nonzeros`)
    when it is a sparse COO tensor with coalesced indices, or dense ``(B, D)`` with at most ``max_density`` of it
    nonzero; else None (the dense product). Meta tensors (shapes only: resources.py) are dense."""
    if x.is_sparse:
        rows, cols = x._indices()
        return rows, cols, x._values(), torch.searchsorted(rows, torch.arange(len(x), device=rows.device))
    if x.dim() == 2 and not x.is_meta and _looks_sparse(x, max_density):
        entries = _nonzeros(x)
        if len(entries[1]) <= max_density * x.numel():
            return entries
    return None


PROBE_ROWS = 256  # see _looks_sparse


def _looks_sparse(x: torch.Tensor, max_density: float) -> bool:
    """Whether the dense batch ``x`` ``(B, D)`` is worth searching for its nonzeros: a large batch's density is judged
    on its first ``PROBE_ROWS`` rows before all of it is searched."""
    probe = x[:PROBE_ROWS]
    return len(x) <= PROBE_ROWS or int(torch.count_nonzero(probe)) <= max_density * probe.numel()


def _nonzeros(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rows, columns and values of the nonzero entries of ``x`` ``(B, D)`` in row-major order, and each row's first
    entry (``(B,)`` offsets). On the CPU numpy finds them faster than ``torch.nonzero``."""
    if x.device.type != "cpu":
        rows, cols = x.nonzero(as_tuple=True)
        return rows, cols, x[rows, cols], torch.searchsorted(rows, torch.arange(len(x), device=x.device))
    flat_x = x.detach().numpy().reshape(-1)
    flat = np.flatnonzero(flat_x != 0)
    rows, cols = np.divmod(flat, x.shape[1])
    offsets = np.searchsorted(rows, np.arange(len(x)))
    return torch.from_numpy(rows), torch.from_numpy(cols), torch.from_numpy(flat_x[flat]), torch.from_numpy(offsets)


class _SparseRowsMatmul(torch.autograd.Function):
    """``x @ weight`` over x's nonzero entries: row i of the result = sum_j x_ij weight_j over x_ij != 0.

    Backward: grad_weight = x^T grad_out, row j = sum_i x_ij grad_out_i over the same entries, grouped by j.
    """

    @staticmethod
    def forward(
        ctx, x: torch.Tensor, weight: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, vals: torch.Tensor, offsets: torch.Tensor
    ) -> torch.Tensor:
        """``rows``, ``cols``, ``vals``, ``offsets``: x's nonzero entries from :func:`_nonzeros`."""
        ctx.save_for_backward(weight, rows, cols, vals)
        return F.embedding_bag(cols, weight, offsets, mode="sum", per_sample_weights=vals)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        weight, rows, cols, vals = ctx.saved_tensors
        grad_x = grad_out @ weight.t() if ctx.needs_input_grad[0] else None
        grad_w = None
        if ctx.needs_input_grad[1]:
            order = torch.argsort(cols, stable=True)
            by_col = cols[order]
            offsets = torch.searchsorted(by_col, torch.arange(weight.shape[0], device=by_col.device))
            grad_w = F.embedding_bag(rows[order], grad_out.contiguous(), offsets, mode="sum", per_sample_weights=vals[order])
        return grad_x, grad_w, None, None, None, None


def sparse_linear_numpy(x: np.ndarray | SparseFrames, weight: np.ndarray, bias: np.ndarray, max_density: float) -> np.ndarray:
    """``x @ weight + bias`` in numpy for a small batch ``x`` ``(B, D)`` of mostly zeros (or its :class:`SparseFrames`),
    ``weight`` ``(D, H)`` and ``bias`` ``(H,)`` -> ``(B, H)``: row i sums the weight rows of its nonzero inputs times
    their values (one compiled pass, :func:`pgtrain.fast.kernels.sparse_rows_matmul`: the rows are read where they lie);
    the dense product when more than ``max_density`` of ``x`` is nonzero."""
    frames = x if isinstance(x, SparseFrames) else SparseFrames.of(x)
    if len(frames.cols) > max_density * len(frames) * frames.width:
        return matmul_numpy((frames.dense() if isinstance(x, SparseFrames) else x).astype(weight.dtype), weight) + bias
    from pgtrain.fast.kernels import sparse_rows_matmul  # numba: imported by the runs that act on sparse frames only

    return sparse_rows_matmul(frames.cols, frames.values, frames.counts, weight, bias)


# matmul_numpy: products of at most this many multiply-adds run in numpy itself, whose OpenBLAS keeps them on one
# thread (its gemm threads from 262,144 multiply-adds on, its gemv from 9,216); larger ones go through torch.
NUMPY_MATMUL_MAX = 8192


def matmul_numpy(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` of float32 arrays ``(B, K)`` and ``(K, N)``: small products (the policy head's on the env-step loop's
    batch) in numpy, at a fraction of torch's fixed cost per call; larger ones computed by torch on views of them:
    numpy's OpenBLAS starts its own threads for products above ~260k multiply-adds (16 Pong frames' first layer) and
    spins them on the cores the emulators need; torch keeps to ``device.torch_threads``."""
    if a.shape[0] * a.shape[1] * b.shape[1] <= NUMPY_MATMUL_MAX:
        return a @ b
    return torch.mm(torch.from_numpy(a), torch.from_numpy(b)).numpy()


# SparseFrameConv: batches of at most this many frames, without gradients (the env-step loop's), take the dense
# convolution; with gradients or above it the sparse one, whose cost grows with the nonzero pixels only.
DENSE_ACT_MAX_BATCH = 16


class SparseFrameConv(nn.Conv2d):
    """``nn.Conv2d(1, out_channels, kernel_size, stride)`` (the same parameters, initialisation and state-dict keys) on
    flat ``(B, side * side)`` frames, computed from their nonzero pixels when at most ``max_density`` of the batch is
    nonzero, as :class:`SparseInputLinear` does for a linear layer.

    out[b, c, i, j] = bias[c] + sum over the pixels (r, s) of window (i, j) of weight[c, 0, r - i*stride, s - j*stride]
    x[b, r, s]: a pixel lies in at most ceil(kernel/stride)^2 windows (4 for the 2013 DQN's 8x8 kernels at stride 4), so
    each nonzero pixel adds one kernel entry's ``out_channels`` weights to each of them. Denser batches: the dense
    convolution.
    """

    def __init__(self, side: int, out_channels: int, kernel_size: int, stride: int, max_density: float = 0.05) -> None:
        super().__init__(1, out_channels, kernel_size, stride=stride)
        self.side, self.max_density = side, max_density
        self.out_side = (side - kernel_size) // stride + 1
        windows, offsets = _windows_of_pixels(side, kernel_size, stride)
        self.register_buffer("pixel_windows", windows, persistent=False)  # (side*side, M): each pixel's windows, -1 = none
        self.register_buffer("pixel_offsets", offsets, persistent=False)  # (side*side, M): its index in each one's kernel

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``(B, side * side)``, dense or a sparse COO tensor with coalesced indices -> ``(B, out_channels, O, O)``.

        Acting (no gradients, at most ``DENSE_ACT_MAX_BATCH`` frames): the dense convolution, cheaper there than
        gathering the windows of the nonzero pixels."""
        if len(x) > DENSE_ACT_MAX_BATCH or (torch.is_grad_enabled() and self.weight.requires_grad):
            entries = _sparse_entries(x, self.max_density)
            if entries is not None:
                rows, cols, vals, _ = entries
                return self._sparse(len(x), rows, cols, vals)
        if x.is_sparse:
            x = x.to_dense()
        return super().forward(x.to(self.weight.dtype).reshape(-1, 1, self.side, self.side))

    def _sparse(self, batch: int, rows: torch.Tensor, cols: torch.Tensor, vals: torch.Tensor) -> torch.Tensor:
        windows, offsets = self.pixel_windows[cols], self.pixel_offsets[cols]  # (n, M) for the n nonzero pixels
        inside = windows >= 0
        n_windows = self.out_side * self.out_side
        target = (rows[:, None] * n_windows + windows)[inside]  # output row (b, window) of each (pixel, window) pair
        scale = vals.to(self.weight.dtype)[:, None].expand_as(windows)[inside]
        kernel = self.weight.reshape(self.out_channels, -1).t()  # (kernel_size^2, out_channels)
        out = _ScatterKernelRows.apply(kernel, self.bias, target, offsets[inside], scale, batch * n_windows)
        return out.view(batch, self.out_side, self.out_side, self.out_channels).permute(0, 3, 1, 2)  # channels-last memory

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, side={self.side}, max_density={self.max_density}"


class _ScatterKernelRows(torch.autograd.Function):
    """out[t] = bias + sum over the entries e with target t of scale_e kernel[offset_e]: ``(n_rows, C)`` from ``kernel``
    ``(K, C)``, the scaled kernel rows added into rows that start as the bias (one pass over the output, no sort).
    Backward: grad_bias = the sum of grad_out's rows; grad_kernel[k] = sum over the entries with offset k of scale_e
    grad_out[target_e], one embedding bag over the entries sorted by offset."""

    @staticmethod
    def forward(
        ctx, kernel: torch.Tensor, bias: torch.Tensor, target: torch.Tensor, offset: torch.Tensor, scale: torch.Tensor, n_rows: int
    ) -> torch.Tensor:
        ctx.save_for_backward(target, offset, scale)
        ctx.n_kernel = kernel.shape[0]
        out = bias.expand(n_rows, len(bias)).contiguous()
        return out.index_add_(0, target, kernel[offset] * scale[:, None])

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        target, offset, scale = ctx.saved_tensors
        grad_out = grad_out.contiguous()
        grad_kernel = _bags(target, offset, grad_out, scale, ctx.n_kernel) if ctx.needs_input_grad[0] else None
        grad_bias = grad_out.sum(0) if ctx.needs_input_grad[1] else None
        return grad_kernel, grad_bias, None, None, None, None


def _bags(rows: torch.Tensor, bag: torch.Tensor, table: torch.Tensor, scale: torch.Tensor, n_bags: int) -> torch.Tensor:
    """``(n_bags, C)``: bag i = sum over the entries e with bag_e = i of scale_e table[rows_e]."""
    order = torch.argsort(bag, stable=True)
    counts = torch.bincount(bag, minlength=n_bags)
    starts = torch.cumsum(counts, 0) - counts  # each bag's first entry in the sorted order
    return F.embedding_bag(rows[order], table, starts, mode="sum", per_sample_weights=scale[order])


def _windows_of_pixels(side: int, kernel_size: int, stride: int) -> tuple[torch.Tensor, torch.Tensor]:
    """For each pixel of a ``side x side`` frame, the windows of a valid convolution that contain it (flat index i*O + j,
    -1 padding) and its index in each window's flat kernel; ``(side*side, ceil(kernel/stride)^2)`` int64 each."""
    out_side = (side - kernel_size) // stride + 1
    per_axis = -(-kernel_size // stride)
    pos = np.arange(side)
    first = np.maximum(0, -(-(pos - kernel_size + 1) // stride))  # the first window along an axis that holds pos
    starts = first[:, None] + np.arange(per_axis)  # (side, per_axis) candidate windows along one axis
    along = pos[:, None] - starts * stride  # the offset of pos inside each
    ok = (starts < out_side) & (along >= 0) & (along < kernel_size)
    win = (starts[:, None, :, None] * out_side + starts[None, :, None, :]).reshape(side * side, -1)
    off = (along[:, None, :, None] * kernel_size + along[None, :, None, :]).reshape(side * side, -1)
    inside = (ok[:, None, :, None] & ok[None, :, None, :]).reshape(side * side, -1)
    return torch.from_numpy(np.where(inside, win, -1)), torch.from_numpy(np.where(inside, off, 0))


def reads_sparse(torso: nn.Module) -> bool:
    """Whether ``torso``'s first layer is a :class:`SparseInputLinear` (so it can take sparse COO batches)."""
    weighted = [m for m in torso.modules() if isinstance(m, (nn.Linear, nn.Conv2d, SparseInputLinear))]
    return bool(weighted) and isinstance(weighted[0], SparseInputLinear)
