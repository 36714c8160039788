"""Walking through big inputs in row blocks: the engine behind the softmax losses.

A ``(M, C)`` array of logits is processed a block of rows at a time, so that each block's
temporaries (one reused buffer) stay in the CPU cache and the extra memory stays small
whatever ``M`` is. Large inputs are split into one contiguous run of blocks per thread;
NumPy releases the GIL inside its loops, so the threads run in parallel. Results come
back in block order, so every sum is the same whatever the number of threads.
The appendix "How fast is celib?" explains why this is fast.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

#: Elements per block (512 KiB of float32): small enough for the L2 cache.
BLOCK_ELEMENTS = 1 << 17
#: Inputs smaller than this run on one thread (thread start-up would cost more).
PARALLEL_ELEMENTS = 1 << 20
#: Threads for large inputs.
THREADS = max(1, min(os.cpu_count() or 1, 8))
#: Without a shift, a row is accepted when its sum of exponentials is finite and above
#: this (so its largest terms are normal floats with full precision) ...
MIN_ROW_SUM = 1e-20
#: ... and, where a single term is used on its own (the true class), that term is above
#: this, and above the row sum over MAX_RATIO (so that sum / term stays finite).
MIN_TERM = 1e-30
MAX_RATIO = 1e30

_executor: ThreadPoolExecutor | None = None


class NonFiniteRow(Exception):
    """A row whose maximum is NaN, +inf or -inf: the caller reports it with context."""


def run_in_row_blocks(n_rows: int, n_cols: int, dtype, body) -> list:
    """Call ``body(start, stop, buffer)`` on consecutive blocks of rows; return the results in order.

    ``buffer`` is a scratch array of shape ``(stop - start, n_cols)`` that the body may
    overwrite; each thread allocates one and reuses it for all its blocks.
    """
    global _executor
    rows = max(1, BLOCK_ELEMENTS // max(n_cols, 1))
    starts = range(0, n_rows, rows)

    def run(block_ids) -> list:
        buffer = np.empty((min(rows, n_rows), n_cols), dtype)
        out = []
        for i in block_ids:
            start = starts[i]
            stop = min(start + rows, n_rows)
            out.append(body(start, stop, buffer[: stop - start]))
        return out

    n_threads = THREADS if n_rows * n_cols >= PARALLEL_ELEMENTS and len(starts) >= 2 else 1
    if n_threads == 1:
        return run(range(len(starts)))
    if _executor is None:
        _executor = ThreadPoolExecutor(THREADS, thread_name_prefix="celib")
    cuts = np.linspace(0, len(starts), min(n_threads, len(starts)) + 1).astype(int)
    futures = [_executor.submit(run, range(a, b)) for a, b in zip(cuts[:-1], cuts[1:])]
    results = []
    for future in futures:
        results.extend(future.result())
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


def gather(block: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``block[i, cols[i]]`` for every row, by one flat ``take`` (several times faster
    than fancy indexing with two index arrays)."""
    return np.take(block.reshape(-1), np.arange(len(cols)) * block.shape[1] + cols)


def block_exp(xb: np.ndarray, e: np.ndarray, ones: np.ndarray, picked=()):
    """Exponentiate a block of logits into ``e``; return the row sums and the shift.

    First ``e = exp(x)`` with no shift, which saves the pass that finds each row's
    maximum; the result is kept if every row sum is finite and at least ``MIN_ROW_SUM``,
    and, for each index array ``k`` in ``picked``, every ``e[i, k[i]]`` at least ``MIN_TERM`` and
    ``s[i] / MAX_RATIO``: then nothing overflowed, nothing that matters underflowed, and
    ``s / e_picked`` is finite (shift None). Otherwise the block is
    redone in the classic stable form ``e = exp(x - m)``, ``m`` each row's maximum (shift
    ``m``). Raises :class:`NonFiniteRow` for NaN, +inf or an all -inf row.

    Returns ``(s, shift, terms)``: ``terms`` holds ``e[i, k[i]]`` for each ``k`` in
    ``picked`` when there is no shift, and is empty otherwise.
    """
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        np.exp(xb, out=e)
        s = e @ ones
        ok = np.isfinite(s).all() and s.min(initial=np.inf) >= MIN_ROW_SUM
        terms = []
        for k in picked:
            if not ok:
                break
            term = gather(e, k)
            ok = term.min(initial=np.inf) >= MIN_TERM and bool((term * MAX_RATIO >= s).all())
            terms.append(term)
    if ok:
        return s, None, terms
    m = row_max(xb)
    if not np.isfinite(m).all():
        raise NonFiniteRow
    np.subtract(xb, m[:, None], out=e)
    np.exp(e, out=e)
    return e @ ones, m, []
