"""Walking through big inputs a block at a time: the engine behind every fast kernel.

An input is seen as a grid of *rows*: for the softmax losses a row is one sample's
vector of class scores, for the element-wise losses a row is a run of elements along the
last axis. A :class:`Plan` cuts the grid into tiles of at most a few hundred thousand
elements; each tile is computed in small scratch buffers (one set per thread, reused for
all its tiles), so the temporaries stay in the CPU cache and the extra memory stays a
small, fixed fraction of the input whatever its size. Large inputs are shared between
threads, which take the next tile as soon as they finish one (so a slow core does not
hold the others up); NumPy releases the GIL inside its loops, so the threads run in
parallel. Each tile's result is kept at the tile's index and combined in tile order, so
every sum is the same whatever the number of threads. The appendix "How fast is celib?"
explains why this is fast.

Any memory layout works: a tile is read through a strided view of the input (Fortran
order, transposed, sliced, broadcast) and copied into a contiguous buffer only when the
kernel needs one; results are written into freshly allocated C-ordered arrays. An input
whose rows cannot be viewed without a copy (for example a transposed 3-D array) is copied
once, to C order.

The pool of threads is created on first use and is safe across ``os.fork``: a forked
child (multiprocessing's default start method on Linux, data-loader workers) starts with
no pool and makes its own.
"""

from __future__ import annotations

import functools
import itertools
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from math import prod
from typing import NamedTuple

import numpy as np

#: Elements per tile at most (1 MiB of float32, the L2 cache of one core on many CPUs).
#: Smaller tiles pay the fixed cost of a tile (a dozen NumPy calls, handing the GIL
#: between threads) too often; from 2**19 elements on, NumPy's matrix-vector product (the
#: row sums) starts OpenBLAS's own threads, which then compete with ours. The appendix
#: "How fast is celib?" shows the measured trade-off.
BLOCK_ELEMENTS = 1 << 18
#: Inputs with fewer elements than this run on one thread (thread start-up would cost more).
PARALLEL_ELEMENTS = 1 << 20
#: Threads for large inputs (the calling thread is one of them).
THREADS = max(1, min(os.cpu_count() or 1, 8))
#: All threads' scratch together (buffers and per-row temporaries) stays below this
#: fraction of the input's bytes (but each thread may use ``MIN_SCRATCH_BYTES``).
SCRATCH_FRACTION = 1 / 8
MIN_SCRATCH_BYTES = 1 << 16
#: Bytes of per-row temporaries (indices, row sums, the row's loss) a softmax kernel
#: keeps for each row of a tile, counted in its share of the scratch.
ROW_TEMPORARY_BYTES = 64
#: An unshifted exponential used on its own (the true class's ``e_y``, or a row sum that
#: divides) must be at least this: then it is a normal float with all its digits, and
#: the terms beside it that underflowed (each below 1e-37) change the sum by less than
#: 1e-17 of itself per term.
MIN_TERM = 1e-20
#: ...and a row sum must be at most this, so that ``1 / s`` (times a mean's ``1/N``) is a
#: normal float too: a float32 sum near 1e38 has a reciprocal that is subnormal and has
#: lost digits.
MAX_SUM = 1e20


# ---------------------------------------------------------------------------------------
# The thread pool: created on first use, under a lock, and forgotten in a forked child.
# ---------------------------------------------------------------------------------------
_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def _forget_pool_in_child() -> None:
    """After ``fork`` only the forking thread exists in the child: the parent's pool
    threads (and a lock one of them may have held) are gone, so start afresh."""
    global _pool, _pool_lock
    _pool = None
    _pool_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_in_child)


def _get_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(THREADS, thread_name_prefix="celib")
        return _pool


# ---------------------------------------------------------------------------------------
# Plans: how a grid of rows is cut into tiles, and how many threads walk them.
# ---------------------------------------------------------------------------------------
class Tile(NamedTuple):
    """Rows ``[o0, o1) x [i0, i1)`` of an ``(n_outer, n_inner)`` grid of rows."""

    o0: int
    o1: int
    i0: int
    i1: int


@dataclass(frozen=True)
class Plan:
    """Tiles of at most ``rows`` rows over an ``(n_outer, n_inner)`` grid.

    If a whole outer row fits, a tile is several whole outer rows; otherwise it is a
    segment of one outer row. Tile ``i`` is found by arithmetic, not stored.
    """

    n_outer: int
    n_inner: int
    rows: int  # rows in a tile, at most
    n_threads: int

    @property
    def _per_outer(self) -> int:  # tiles per outer row (when outer rows are split)
        return -(-self.n_inner // self.rows)

    @property
    def n_tiles(self) -> int:
        if self.n_outer == 0 or self.n_inner == 0:
            return 0
        if self.n_inner <= self.rows:
            return -(-self.n_outer // (self.rows // self.n_inner))
        return self.n_outer * self._per_outer

    def tile(self, i: int) -> Tile:
        if self.n_inner <= self.rows:
            group = self.rows // self.n_inner
            return Tile(i * group, min((i + 1) * group, self.n_outer), 0, self.n_inner)
        o, j = divmod(i, self._per_outer)
        return Tile(o, o + 1, j * self.rows, min((j + 1) * self.rows, self.n_inner))


def make_plan(n_outer: int, n_inner: int, row_elements: int, itemsize: int, n_buffers: int,
              row_temporaries: int = ROW_TEMPORARY_BYTES) -> Plan:
    """A plan for ``n_outer * n_inner`` rows of ``row_elements`` elements of ``itemsize``
    bytes, with ``n_buffers`` scratch buffers per thread, within the scratch budget."""
    n_rows = n_outer * n_inner
    total = n_rows * row_elements
    n_threads = THREADS if total >= PARALLEL_ELEMENTS else 1
    budget = max(int(total * itemsize * SCRATCH_FRACTION) // n_threads, MIN_SCRATCH_BYTES)
    row_bytes = n_buffers * row_elements * itemsize + row_temporaries
    rows = max(1, min(BLOCK_ELEMENTS // max(row_elements, 1), budget // row_bytes))
    plan = Plan(n_outer, n_inner, rows, n_threads)
    return Plan(n_outer, n_inner, rows, max(1, min(n_threads, plan.n_tiles)))


def run_tiles(plan: Plan, body, buffer_shape: tuple, dtype, n_buffers: int = 1) -> list:
    """Call ``body(tile, *buffers)`` on every tile of ``plan``; return the results in tile order.

    ``buffers`` are ``n_buffers`` flat scratch arrays of ``plan.rows * prod(buffer_shape)``
    elements that the body may overwrite (see :func:`scratch`); each thread allocates
    them once and reuses them for all its tiles. The body runs with NumPy's
    floating-point warnings off: the kernels check their results instead.
    """
    n_tiles = plan.n_tiles
    results = [None] * n_tiles
    next_tile = itertools.count().__next__  # atomic under the GIL: each tile is taken once
    failed = threading.Event()  # one thread's error stops the others early
    buffer_size = min(plan.rows, max(plan.n_inner, 1) * max(plan.n_outer, 1)) * prod(buffer_shape)

    def work() -> None:
        buffers = [np.empty(buffer_size, dtype) for _ in range(n_buffers)]
        try:
            with np.errstate(all="ignore"):
                while not failed.is_set() and (i := next_tile()) < n_tiles:
                    results[i] = body(plan.tile(i), *buffers)
        except BaseException:
            failed.set()
            raise

    if plan.n_threads <= 1:
        work()
        return results
    pool = _get_pool()
    helpers = [pool.submit(work) for _ in range(plan.n_threads - 1)]
    try:
        work()
    finally:
        for helper in helpers:
            helper.result()  # waits, and re-raises a helper's exception
    return results


def scratch(buffer: np.ndarray, shape: tuple) -> np.ndarray:
    """The first ``prod(shape)`` elements of a flat scratch buffer, as a C-ordered array."""
    return buffer[: prod(shape)].reshape(shape)


def view_as(a: np.ndarray, shape: tuple) -> np.ndarray:
    """``a`` reshaped to ``shape``: a view if its strides allow one, else a C-ordered copy
    (which is what ``reshape`` does; the name says which of the two callers rely on)."""
    return np.reshape(a, shape)


# ---------------------------------------------------------------------------------------
# Rows of classes: (N, C, d1, ...) arrays seen as an (N, D) grid of C-vectors.
# ---------------------------------------------------------------------------------------
class ClassRows:
    """An array whose class axis is ``axis``, seen as an ``(N, D)`` grid of rows of C classes.

    ``(C,)`` is one row; ``(N, C)`` is N rows; ``(N, C, d1, ...)`` has ``N * d1 * ...``
    rows, the class axis being 1, as in PyTorch; with ``axis=-1`` (Distribution Focal
    Loss's bins) every leading index is a row. :meth:`read` gives a tile's rows as a
    ``(rows, C)`` array and :meth:`write` puts such an array back into an array of the
    input's shape; :meth:`per_row` does the same for arrays with one value per row
    (class-index targets, per-sample losses).
    """

    def __init__(self, x: np.ndarray, axis: int = 1):
        if x.ndim == 1:
            self.grid = (1, 1)
            self.n_classes = x.shape[0]
            self.x3 = x[None, :, None]
        elif axis == -1:
            self.n_classes = x.shape[-1]
            self.grid = (x.size // max(self.n_classes, 1), 1)
            self.x3 = view_as(x, (self.grid[0], self.n_classes, 1))
        else:
            self.n_classes = x.shape[1]
            self.grid = (x.shape[0], int(np.prod(x.shape[2:], dtype=np.int64)))
            self.x3 = view_as(x, (self.grid[0], self.n_classes, self.grid[1]))
        self.shape = x.shape
        self.axis = 0 if x.ndim == 1 else axis
        #: Whether a tile's rows must be copied to be C-ordered (a kernel then needs a buffer);
        #: if not, ``x2`` is the input as C-ordered ``(N, C)`` rows.
        self.needs_copy = not (self.grid[1] == 1 and self.x3[:, :, 0].flags.c_contiguous)
        self.x2 = None if self.needs_copy else self.x3[:, :, 0]

    @property
    def n_rows(self) -> int:
        return self.grid[0] * self.grid[1]

    def _position(self, t: Tile, k: int) -> tuple:
        """(n, d) of row ``k`` of tile ``t``."""
        n, d = divmod(k, t.i1 - t.i0)
        return t.o0 + n, t.i0 + d

    def row_index(self, t: Tile, k: int):
        """Index of row ``k`` of tile ``t`` in the batch shape, for messages (``i`` or ``(i, j)``)."""
        n, d = self._position(t, k)
        if len(self.shape) == 1:
            return ()
        if self.axis == -1:
            index = np.unravel_index(n, self.shape[:-1])
        else:
            index = (n,) + np.unravel_index(d, self.shape[2:])
        index = tuple(int(i) for i in index)
        return index[0] if len(index) == 1 else index

    def element_index(self, t: Tile, k: int, c: int):
        """Index in the input's shape of class ``c`` of row ``k`` of tile ``t``."""
        if len(self.shape) == 1:
            return c
        row = self.row_index(t, k)
        row = row if isinstance(row, tuple) else (row,)
        if self.axis == -1:
            return row + (c,)
        return (row[0], c) + row[1:]

    def plan(self, itemsize: int, n_buffers: int) -> Plan:
        return make_plan(*self.grid, self.n_classes, itemsize, n_buffers)

    def view(self, a3: np.ndarray, t: Tile) -> np.ndarray:
        """The tile's rows of an ``(N, C, D)`` array as ``(n, d, C)`` (a strided view)."""
        return a3[t.o0 : t.o1, :, t.i0 : t.i1].transpose(0, 2, 1)

    def read(self, t: Tile, buffer: np.ndarray, a3: np.ndarray | None = None) -> np.ndarray:
        """The tile's rows of the input (or of ``a3``, an array of the same grid) as a
        C-ordered ``(rows, C)`` array: a view when possible, else copied into ``buffer``."""
        if a3 is None and self.x2 is not None:
            return self.x2[t.o0 : t.o1]  # the common case, kept short: it runs for every tile
        v = self.view(self.x3 if a3 is None else a3, t)
        rows = v.reshape(-1, self.n_classes) if v.shape[1] == 1 else None
        if rows is not None and rows.flags.c_contiguous and (buffer is None or rows.dtype == buffer.dtype):
            return rows
        out = scratch(buffer, v.shape)
        out[...] = v
        return out.reshape(-1, self.n_classes)

    def as_grid(self, a: np.ndarray) -> np.ndarray:
        """An array of the input's shape (a target, or a C-ordered gradient to fill) as
        ``(N, C, D)``: a view if its strides allow one, else a C-ordered copy."""
        if len(self.shape) == 1:
            return a[None, :, None]
        return view_as(a, self.x3.shape)

    def write(self, t: Tile, out3: np.ndarray, rows: np.ndarray) -> None:
        """Put a tile's ``(rows, C)`` values into ``out3`` (from :meth:`as_grid`)."""
        target = self.view(out3, t)
        target[...] = rows.reshape(target.shape)

    def out_rows(self, t: Tile, out3: np.ndarray) -> np.ndarray | None:
        """The tile's rows of ``out3`` (C-ordered, from :meth:`as_grid`) as a C-ordered
        ``(rows, C)`` view, if there is one: then a kernel writes its result there
        directly, and need not :meth:`write` it."""
        return out3[t.o0 : t.o1, :, 0] if self.grid[1] == 1 else None

    # one value per row -------------------------------------------------------------
    def row_grid(self, a: np.ndarray) -> np.ndarray:
        """A per-row array (shape ``()``, ``(N,)`` or ``(N, d1, ...)``) as ``(N, D)``."""
        return view_as(a, self.grid)

    def per_row(self, a2: np.ndarray, t: Tile) -> np.ndarray:
        """The tile's values of a per-row ``(N, D)`` array, flat, in row order."""
        return a2[t.o0 : t.o1, t.i0 : t.i1].reshape(-1)

    def set_per_row(self, a2: np.ndarray, t: Tile, values: np.ndarray) -> None:
        """Write a tile's per-row values into a per-row ``(N, D)`` array."""
        a2[t.o0 : t.o1, t.i0 : t.i1] = values.reshape(t.o1 - t.o0, t.i1 - t.i0)


def row_max(xb: np.ndarray) -> np.ndarray:
    """Maximum of each row (NaN if the row has one). For few columns, a loop over the
    columns is several times faster than ``xb.max(axis=1)``."""
    if xb.shape[1] > 32:
        return xb.max(axis=1)
    m = xb[:, 0].copy()
    for c in range(1, xb.shape[1]):
        np.maximum(m, xb[:, c], out=m)
    return m


def flat_index(rows: np.ndarray, n_cols: int, columns: np.ndarray) -> np.ndarray:
    """Flat index ``i * n_cols + columns[i]`` of one entry in each row of a C-ordered block."""
    return np.add(_row_starts(rows.shape[0], n_cols), columns, dtype=np.intp)


@functools.lru_cache(maxsize=64)
def _row_starts(n_rows: int, n_cols: int) -> np.ndarray:
    """``0, n_cols, 2 n_cols, ...``: the flat index of each row's first entry (cached: most
    tiles of a call have the same shape)."""
    starts = np.arange(0, n_rows * n_cols, n_cols, dtype=np.intp)
    starts.flags.writeable = False
    return starts


def take(block: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``block.flat[index]`` for a C-ordered block: one ``take``, several times faster than
    fancy indexing with two index arrays (and bounds-checked, so a bad index raises)."""
    return np.take(block.reshape(-1), index)


# ---------------------------------------------------------------------------------------
# The softmax of a tile's rows, with some entries picked out (the target classes or bins).
# ---------------------------------------------------------------------------------------
class BadRow(Exception):
    """Row ``k`` of a tile has a NaN, a +inf, or only -inf: its softmax is undefined."""

    def __init__(self, k: int):
        super().__init__(k)
        self.k = k


def softmax_parts(xb: np.ndarray, e: np.ndarray, columns: tuple, counted: np.ndarray | None, *, apart: bool = True):
    """Exponentials of a C-ordered ``(rows, C)`` tile for its softmax, some entries picked.

    ``columns`` holds, for each picked entry, its column in every row (the target class,
    or DFL's two neighbour bins). On return ``e`` holds ``exp(x - m)``; the function
    returns the flat indices of the picked entries, their terms, the row sums ``s`` and the
    shift ``m`` of each row (None when no row was shifted), so ``p_k = picked_k / s``.
    With ``apart`` (for the gradients) the picked entries of ``e`` are set to 0 and the
    third result is the ``rest`` of each row's sum, without the picked terms: that is what
    keeps ``1 - p_y = rest / s`` accurate when ``p_y`` is near 1.

    First ``m = 0`` is tried (no pass to find each row's maximum). A row keeps it if its
    picked terms are at least ``MIN_TERM`` and its sum at most ``MAX_SUM``, so that all of
    them are normal floats with all their digits; the other rows are redone with ``m`` =
    the row's maximum. So each row's result depends on that row alone, never on the
    rows beside it in its tile. A row whose maximum is NaN, +inf or -inf raises
    :class:`BadRow` if it is ``counted`` (None: every row counts); rows that do not count
    get ``m = 0`` and whatever values follow, which the caller discards.
    """
    n_cols = xb.shape[1]
    ones = _ones(n_cols, e.dtype)
    index = [flat_index(xb, n_cols, c) for c in columns]
    np.exp(xb, out=e)
    picked, sums = _picked_and_sums(e, index, ones, apart)
    s = sums if not apart else sums + picked[0] if len(picked) == 1 else sums + sum(picked)
    if min_is_at_least(picked, MIN_TERM) and s.max(initial=0.0) <= MAX_SUM:
        return index, picked, sums, None  # the common case (NaN fails both tests)
    redo = ~(s <= MAX_SUM)
    for p in picked:
        redo |= ~(p >= MIN_TERM)
    redo = np.flatnonzero(redo)
    xs = xb[redo]
    m = row_max(xs)
    finite = np.isfinite(m)
    if not finite.all():
        bad = ~finite if counted is None else ~finite & counted[redo]
        if bad.any():
            raise BadRow(int(redo[np.flatnonzero(bad)[0]]))
        m[~finite] = 0
    es = np.exp(xs - m[:, None])
    sub_picked, sub_sums = _picked_and_sums(es, [flat_index(xs, n_cols, c[redo]) for c in columns], ones, apart)
    e[redo] = es
    sums[redo] = sub_sums
    for p, sub in zip(picked, sub_picked):
        p[redo] = sub
    shift = np.zeros(xb.shape[0], e.dtype)
    shift[redo] = m
    return index, picked, sums, shift


def min_is_at_least(arrays: list, low: float) -> bool:
    """Whether every value of the arrays is at least ``low`` (False if one is NaN)."""
    for a in arrays:
        if not a.min(initial=np.inf) >= low:
            return False
    return True


@functools.lru_cache(maxsize=16)
def _ones(n: int, dtype) -> np.ndarray:
    """A read-only vector of ``n`` ones: ``e @ ones`` gives row sums (the fastest way)."""
    ones = np.ones(n, dtype)
    ones.flags.writeable = False
    return ones


def _picked_and_sums(e: np.ndarray, index: list, ones: np.ndarray, apart: bool):
    """The entries of ``e`` at the flat ``index`` arrays, and the row sums (with
    ``apart``: the entries are set to 0 first, and the sums are of what is left)."""
    flat = e.reshape(-1)
    picked = [flat.take(i) for i in index]
    if apart:
        for i in index:
            flat[i] = 0
    return picked, e @ ones


#: Below this, ``-log p = log(s / e_k)`` is recomputed from the rest of the row sum: the
#: ratio's rounding error (an ulp of a number near 1) would be more than a few ulps of
#: the loss.
TINY_LOSS = 0.25


def neg_log_prob(e: np.ndarray, s: np.ndarray, picked: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``-log p_k = log(s / e_k)`` for one picked entry per row of ``e`` (not taken apart),
    each to within a few ulps: where it is below ``TINY_LOSS`` (``p_k`` near 1) it is
    recomputed as ``log1p(rest / e_k)``, ``rest`` being the row's sum without ``e_k``."""
    nll = np.divide(s, picked)
    np.log(nll, out=nll)
    if nll.size and np.fmin.reduce(nll) < TINY_LOSS:  # fmin: a NaN (an ignored row) is passed over
        tiny = np.flatnonzero(nll < TINY_LOSS)
        flat, at = e.reshape(-1), index[tiny]
        flat[at] = 0
        rest = e[tiny] @ _ones(e.shape[1], e.dtype)
        flat[at] = picked[tiny]
        nll[tiny] = np.log1p(rest / picked[tiny])
    return nll


# ---------------------------------------------------------------------------------------
# Element-wise losses: arrays of one shape seen as an (R, L) grid, L the last axis.
# ---------------------------------------------------------------------------------------
class Elements:
    """Arrays of ``shape`` (and operands that broadcast to it) seen as ``(R, L)``, ``L`` the
    length of the last axis; a tile is a block of whole rows, or a segment of one row."""

    def __init__(self, shape: tuple):
        self.shape = tuple(shape)
        size = int(np.prod(self.shape, dtype=np.int64))
        last = self.shape[-1] if self.shape else 1
        self.grid = (size // last, last) if size else (0, 0)

    def operand(self, a):
        """``a`` broadcast to the shape, as ``(R, L)``: a view (stride 0 where broadcast)
        if its strides allow one, else a C-ordered copy. None stays None."""
        if a is None:
            return None
        return view_as(np.broadcast_to(a, self.shape), self.grid)

    def plan(self, itemsize: int, n_buffers: int) -> Plan:
        return make_plan(*self.grid, 1, itemsize, n_buffers, row_temporaries=0)

    @staticmethod
    def tile(a2, t: Tile):
        return None if a2 is None else a2[t.o0 : t.o1, t.i0 : t.i1]


def in_dtype(a, dtype):
    """A tile in the computation's dtype (a float32 target beside float64 logits would
    otherwise round ``1 - y`` to float32)."""
    return a if a is None or a.dtype == dtype else a.astype(dtype)


def elementwise(kernel, operands: list, shape: tuple, dtype, *, out=None, n_temporaries: int = 4) -> float:
    """``kernel(*tiles)`` on tiles of ``operands`` (arrays that broadcast to ``shape``, or
    None); writes each tile's values into ``out`` (C-ordered, of ``shape``) if given and
    returns the float64 sum of all values. The kernel may use plain NumPy expressions:
    tiles are sized so that ``n_temporaries`` tile-sized arrays per thread fit the budget.
    """
    grid = Elements(shape)
    ops = [grid.operand(a) for a in operands]
    out2 = None if out is None else out.reshape(grid.grid)

    def body(tile):
        values = kernel(*(in_dtype(grid.tile(a, tile), dtype) for a in ops))
        if out2 is not None:
            grid.tile(out2, tile)[...] = values
            return 0.0
        return float(values.sum(dtype=np.float64))

    plan = grid.plan(np.dtype(dtype).itemsize, n_temporaries)
    return sum(run_tiles(plan, body, (1,), dtype, 0))
