"""Walking through big inputs in row blocks: the engine behind the softmax losses.

A ``(M, C)`` array of logits is processed a block of rows at a time, so that each block's
temporaries (one reused buffer) stay in the CPU cache and the extra memory stays small
whatever ``M`` is. Large inputs are shared between threads, which take the next block
as soon as they finish one (so a slow core does not hold the others up); NumPy releases
the GIL inside its loops, so the threads run in parallel. Each block's result is kept at
the block's index and combined in block order, so every sum is the same whatever the
number of threads. The appendix "How fast is celib?" explains why this is fast.

The softmax kernels first try ``e = exp(x)`` with no shift, which saves the pass that
finds each row's maximum, and check cheaply afterwards that nothing overflowed or lost
its digits; a block that fails the check is redone in the classic stable form
``exp(x - max)``.
"""

from __future__ import annotations

import itertools
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

#: Elements per block (1 MiB of float32, the L2 cache of one core on many CPUs). Smaller
#: blocks pay the fixed cost of a block (a dozen NumPy calls, handing the GIL between
#: threads) too often; from 2**19 elements on, NumPy's matrix-vector product (the row
#: sums) starts OpenBLAS's own threads, which then compete with ours. The appendix
#: "How fast is celib?" shows the measured trade-off.
BLOCK_ELEMENTS = 1 << 18
#: Inputs smaller than this run on one thread (thread start-up would cost more).
PARALLEL_ELEMENTS = 1 << 20
#: Threads for large inputs (the calling thread is one of them).
THREADS = max(1, min(os.cpu_count() or 1, 8))
#: An unshifted exponential used on its own (the true class's ``e_y``, or a row sum that
#: divides) must be at least this: then it is a normal float with all its digits, and
#: the terms beside it that underflowed (each below 1e-37) change the sum by less than
#: 1e-17 of itself per term.
MIN_TERM = 1e-20

_executor: ThreadPoolExecutor | None = None


class NonFiniteRow(Exception):
    """A row whose maximum is NaN, +inf or -inf: the caller reports it with context."""


def _rows_per_block(n_cols: int) -> int:
    """Rows in a block of about ``BLOCK_ELEMENTS`` elements (at least one row)."""
    return max(1, BLOCK_ELEMENTS // max(n_cols, 1))


def run_in_row_blocks(n_rows: int, n_cols: int, dtype, body, n_buffers: int = 1) -> list:
    """Call ``body(start, stop, *buffers)`` on consecutive blocks of rows; return the results in order.

    ``buffers`` are ``n_buffers`` scratch arrays of shape ``(stop - start, n_cols)`` that
    the body may overwrite; each thread allocates them once and reuses them for all its
    blocks. The body runs with NumPy's floating-point warnings off: the kernels check
    their results instead.
    """
    global _executor
    rows = _rows_per_block(n_cols)
    n_blocks = -(-n_rows // rows)
    results = [None] * n_blocks
    next_block = itertools.count().__next__  # atomic under the GIL: each block is taken once
    failed = threading.Event()  # one thread's error stops the others early

    def work() -> None:
        buffers = [np.empty((min(rows, n_rows), n_cols), dtype) for _ in range(n_buffers)]
        try:
            with np.errstate(all="ignore"):
                while not failed.is_set() and (i := next_block()) < n_blocks:
                    start = i * rows
                    stop = min(start + rows, n_rows)
                    results[i] = body(start, stop, *(b[: stop - start] for b in buffers))
        except BaseException:
            failed.set()
            raise

    n_threads = min(THREADS, n_blocks) if n_rows * n_cols >= PARALLEL_ELEMENTS else 1
    if n_threads <= 1:
        work()
        return results
    if _executor is None:
        _executor = ThreadPoolExecutor(THREADS, thread_name_prefix="celib")
    helpers = [_executor.submit(work) for _ in range(n_threads - 1)]
    try:
        work()
    finally:
        for helper in helpers:
            helper.result()  # waits, and re-raises a helper's exception
    return results


def row_max(xb: np.ndarray) -> np.ndarray:
    """Maximum of each row (NaN if the row has one). For few columns, a loop over the
    columns is several times faster than ``xb.max(axis=1)``."""
    if xb.shape[1] > 32:
        return xb.max(axis=1)
    m = xb[:, 0].copy()
    for c in range(1, xb.shape[1]):
        np.maximum(m, xb[:, c], out=m)
    return m


def row_offsets(n_rows: int, n_cols: int) -> np.ndarray:
    """``i * n_cols`` for each row of a block: add a column index to get a flat index."""
    return np.arange(min(n_rows, _rows_per_block(n_cols))) * n_cols


def take(block: np.ndarray, flat_index: np.ndarray) -> np.ndarray:
    """``block[i, k[i]]`` for flat indices ``i * C + k[i]``: one ``take``, several times
    faster than fancy indexing with two index arrays. The indices are valid by
    construction, so ``mode="clip"`` only skips the bounds check."""
    return np.take(block.reshape(-1), flat_index, mode="clip")


def exp_rows(xb: np.ndarray, e: np.ndarray, ones: np.ndarray) -> np.ndarray:
    """``e = exp(x)`` with no shift; returns the row sums (``inf`` where one overflowed)."""
    np.exp(xb, out=e)
    return e @ ones


def exp_rows_shifted(xb: np.ndarray, e: np.ndarray, ones: np.ndarray):
    """``e = exp(x - m)``, ``m`` each row's maximum; returns the row sums and ``m``.

    Raises :class:`NonFiniteRow` for a row with NaN or +inf, or all -inf.
    """
    m = row_max(xb)
    if not np.isfinite(m).all():
        raise NonFiniteRow
    np.subtract(xb, m[:, None], out=e)
    np.exp(e, out=e)
    return e @ ones, m


def sums_are_safe(s: np.ndarray) -> bool:
    """Unshifted row sums that can divide: all finite and at least ``MIN_TERM`` (NaN fails)."""
    return bool(s.min(initial=np.inf) >= MIN_TERM and s.max(initial=0.0) < np.inf)


def neg_log_prob(e: np.ndarray, s: np.ndarray, flat_index: np.ndarray):
    """``-log p = log(s / e_k)`` for the picked terms of an unshifted block, or None when a
    picked ``e_k`` is below ``MIN_TERM``. Kept in this form because it is exact even when
    the loss is tiny; an overflowed ``s`` gives ``inf`` (the caller checks its sum)."""
    picked = take(e, flat_index)
    if not picked.min(initial=np.inf) >= MIN_TERM:
        return None
    np.divide(s, picked, out=picked)
    return np.log(picked, out=picked)
