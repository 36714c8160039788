"""How much memory does celib use? Peak extra memory of every public loss and gradient.

    python benchmarks/memory.py                    # celib's own thread count, and 8 threads
    python benchmarks/memory.py --threads 8        # only with THREADS = 8
    python benchmarks/memory.py --json benchmarks/memory.json   # what the performance page reads

The budget (the issue "Bounded memory for every loss and gradient"): on a 16 MiB
C-contiguous float32 input, a loss or gradient may allocate at most 0.25 times the
input's bytes beyond the array it returns, whatever the number of threads (per-thread
scratch buffers count).

Every function of ``celib.__all__`` that is a loss or a gradient (names ending in
``_loss``, ``_entropy`` or ``_grad``, or containing "loss" or "entropy", plus
``binary_cross_entropy_with_logits``) is measured on every case of its input recipe
(``RECIPES``; a gradient uses its loss's recipe) with every reduction. A public loss or
gradient without a recipe is an error, so a new function cannot be missed.

How a measurement is made (:func:`measure`, :func:`peak_extra`): the inputs are built
first; the function is called once and the result dropped (one-time allocations, such as
the thread pool, do not count); then, for each reduction, ``gc.collect()`` and a call
traced by ``tracemalloc``. NumPy reports every array buffer it allocates or frees to
tracemalloc, from any thread, so the traced peak includes the scratch of celib's worker
threads. ``extra = peak - nbytes(returned array)``, reported as a multiple of the first
argument's bytes. When the call handed work to celib's thread pool, the peak depends on
how many threads held their scratch at the same moment, so it is traced again (up to
``--repeats`` times) and the largest peak kept. Memory that is not allocated through
Python's or NumPy's allocators (thread stacks, OpenBLAS's own buffers) is not seen.

``--threads N [N ...]`` sets ``celib._blocks.THREADS`` (with a fresh thread pool of that
size) for one run each; the default is celib's own thread count, ``min(cpu_count, 8)``,
and 8. A full run takes well under a minute on 2 cores (up to two when the machine is
busy). ``tests/test_memory.py`` asserts the budget with the same code.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import platform
import sys
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import celib  # noqa: E402
from celib import _blocks as blocks  # noqa: E402

#: Peak extra memory allowed, as a multiple of the input's bytes.
BUDGET = 0.25
#: Size of the (first) input: 16 MiB of float32.
INPUT_BYTES = 16 << 20
REDUCTIONS = ("mean", "sum", "none")
#: Traced runs per measurement at most (the largest peak is reported; see peak_extra).
REPEATS = 2
#: Public losses whose names do not say "loss" or "entropy".
OTHER_LOSSES = {"binary_cross_entropy_with_logits"}


# ---------------------------------------------------------------------------------------
# Which functions: derived from celib.__all__
# ---------------------------------------------------------------------------------------
def is_loss_or_grad(name: str) -> bool:
    return (
        name.endswith(("_loss", "_entropy", "_grad"))
        or "loss" in name
        or "entropy" in name
        or name in OTHER_LOSSES
        or name.removesuffix("_grad") in OTHER_LOSSES
    )


def public_losses() -> list[str]:
    """Every public loss and gradient of celib, in the order of ``celib.__all__``."""
    return [name for name in celib.__all__ if is_loss_or_grad(name)]


def recipe_of(name: str) -> list[str]:
    """The case names for a function (a gradient takes its loss's inputs); raises if none."""
    base = name.removesuffix("_grad")
    if base not in RECIPES:
        raise LookupError(
            f"celib.{name} is a public loss or gradient with no input recipe in benchmarks/memory.py: "
            f"add an entry for {base!r} to RECIPES (its memory must be measured)"
        )
    return RECIPES[base]


# ---------------------------------------------------------------------------------------
# Inputs: C-contiguous float32, 16 MiB for the first argument
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[], tuple]  # returns the positional arguments


def _rows(n_cols: int) -> int:
    return INPUT_BYTES // (4 * n_cols)


def _normal(shape, seed, scale=2.0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(shape, dtype=np.float32) * np.float32(scale))


def _softmax64(z: np.ndarray) -> np.ndarray:
    z = z.astype(np.float64)
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def _logits_indices(n_cols):
    def build():
        n = _rows(n_cols)
        return _normal((n, n_cols), n_cols), np.random.default_rng(1).integers(0, n_cols, n)
    return build


def _logits_probs(n_cols):
    def build():
        n = _rows(n_cols)
        target = _softmax64(_normal((n, n_cols), n_cols + 1)).astype(np.float32)
        return _normal((n, n_cols), n_cols), target
    return build


def _log_probs_indices(n_cols):
    def build():
        n = _rows(n_cols)
        p = _softmax64(_normal((n, n_cols), n_cols))
        return np.log(p).astype(np.float32), np.random.default_rng(1).integers(0, n_cols, n)
    return build


def _probs(n_cols, one_hot: bool):
    def build():
        n = _rows(n_cols)
        p = _softmax64(_normal((n, n_cols), n_cols)).astype(np.float32)
        y = np.random.default_rng(1).integers(0, n_cols, n)
        if one_hot:
            t = np.zeros((n, n_cols), np.float32)
            t[np.arange(n), y] = 1
            return p, t
        return p, y
    return build


def _dfl(n_bins):
    def build():
        n = _rows(n_bins)
        y = np.random.default_rng(1).uniform(0, n_bins - 1, n).astype(np.float32)
        return _normal((n, n_bins), n_bins), y
    return build


SIDE = 2048  # element-wise losses: 2048 x 2048 float32 = 16 MiB


def _labels(seed):
    return (np.random.default_rng(seed).uniform(size=(SIDE, SIDE)) < 0.3).astype(np.float32)


def _elementwise(kind):
    def build():
        rng = np.random.default_rng(2)
        if kind == "probs":  # probabilities in (0, 1), hard labels
            return rng.uniform(0.001, 0.999, (SIDE, SIDE)).astype(np.float32), _labels(3)
        if kind == "labels":  # logits, hard labels
            return _normal((SIDE, SIDE), 4), _labels(3)
        if kind == "scores":  # logits, quality scores in [0, 1] (0 for negatives, as in GFL)
            scores = rng.uniform(size=(SIDE, SIDE)).astype(np.float32)
            return _normal((SIDE, SIDE), 4), np.where(_labels(3) > 0, scores, np.float32(0))
        if kind == "values":  # regression: predictions and targets
            return _normal((SIDE, SIDE), 4), _normal((SIDE, SIDE), 5)
        raise ValueError(kind)
    return build


_CASES = [
    Case("logits 4096x1024, class indices", _logits_indices(1024)),
    Case("logits 419430x10, class indices", _logits_indices(10)),
    Case("logits 4096x1024, probability targets", _logits_probs(1024)),
    Case("logits 419430x10, probability targets", _logits_probs(10)),
    Case("log-probs 4096x1024, class indices", _log_probs_indices(1024)),
    Case("log-probs 419430x10, class indices", _log_probs_indices(10)),
    Case("probs 4096x1024, class indices", _probs(1024, one_hot=False)),
    Case("probs 419430x10, class indices", _probs(10, one_hot=False)),
    Case("probs 4096x1024, one-hot targets", _probs(1024, one_hot=True)),
    Case("probs 419430x10, one-hot targets", _probs(10, one_hot=True)),
    Case("bins 262144x16, positions", _dfl(16)),
    Case("probs 2048x2048, labels", _elementwise("probs")),
    Case("logits 2048x2048, labels", _elementwise("labels")),
    Case("logits 2048x2048, quality scores", _elementwise("scores")),
    Case("values 2048x2048, targets", _elementwise("values")),
]
CASES = {c.name: c for c in _CASES}

#: The cases each loss (and its gradient) is measured on.
RECIPES = {
    "cross_entropy": [c for c in CASES if c.startswith("logits ") and "x2048" not in c],
    "nll_loss": [c for c in CASES if c.startswith("log-probs ")],
    "categorical_cross_entropy": [c for c in CASES if c.startswith("probs ") and "x2048" not in c],
    "binary_cross_entropy": ["probs 2048x2048, labels"],
    "binary_cross_entropy_with_logits": ["logits 2048x2048, labels"],
    "sigmoid_focal_loss": ["logits 2048x2048, labels"],
    "quality_focal_loss": ["logits 2048x2048, quality scores"],
    "mse_loss": ["values 2048x2048, targets"],
    "distribution_focal_loss": ["bins 262144x16, positions"],
}


def build_inputs(case: str) -> tuple:
    """The positional arguments of ``case``; checks that the first is a C-contiguous float32 of 16 MiB."""
    args = CASES[case].build()
    x = args[0]
    if not (x.dtype == np.float32 and x.flags.c_contiguous and abs(x.nbytes - INPUT_BYTES) <= 64):
        raise AssertionError(f"{case}: the input must be C-contiguous float32 of 16 MiB, got {x.dtype} {x.shape}")
    return args


# ---------------------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------------------
def returned_bytes(out, inputs) -> int:
    """Bytes of the returned array; 0 if it shares memory with an input (then nothing was returned that is new)."""
    out = np.asarray(out)
    if any(isinstance(a, np.ndarray) and np.may_share_memory(out, a) for a in inputs):
        return 0
    return int(out.nbytes)


_frozen = False


@contextlib.contextmanager
def frozen_gc():
    """Collect garbage once, then freeze every object alive (``gc.freeze``), so that the
    ``gc.collect()`` before each measurement only looks at new objects: a full collection
    takes about 0.1 s in a process with many modules (a pytest session)."""
    global _frozen
    if _frozen:  # (gc.get_freeze_count() would count the frozen objects, slowly)
        yield
        return
    gc.collect()
    gc.freeze()
    _frozen = True
    try:
        yield
    finally:
        _frozen = False
        gc.unfreeze()


def traced_peak(call: Callable) -> tuple[int, object]:
    """``(peak, result)``: the peak bytes tracemalloc saw during ``call()``, beyond what was
    allocated when it started (``gc.collect()`` first, for a fresh state)."""
    gc.collect()
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        out = call()
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        if not was_tracing:
            tracemalloc.stop()
    return peak, out


@contextlib.contextmanager
def counting_helpers():
    """Count the tasks handed to celib's thread pools (those that exist now) inside the block."""
    count = [0]
    pools = thread_pools()
    for pool in pools:
        def submit(*args, _submit=pool.submit, **kwargs):
            count[0] += 1
            return _submit(*args, **kwargs)
        pool.submit = submit  # an instance attribute hides the method
    try:
        yield count
    finally:
        for pool in pools:
            del pool.submit


def peak_extra(f: Callable, *args, repeats: int = REPEATS, warm_up: bool = True, **kwargs) -> tuple[int, int, int]:
    """``(peak, returned, runs)`` for ``f(*args, **kwargs)``: the largest peak of bytes
    traced while it runs, the bytes of the array it returns, and the number of traced runs.

    ``f`` is called once first (unless ``warm_up`` is false: the caller did) and its
    result dropped, so that one-time allocations (a thread pool, a lazy import) do not
    count. Then it is traced once; if it handed work to
    celib's thread pool, the peak depends on how many threads held their scratch at the
    same moment, so it is traced again, up to ``repeats`` runs in all (stopping early
    when two runs in a row agree), and the largest peak is reported. The arguments are
    built by the caller, before this is called.
    """
    if warm_up:
        f(*args, **kwargs)  # the result is freed at once
    check_pool_size()
    peaks, returned = [], 0
    while len(peaks) < max(repeats, 1):
        with counting_helpers() as helpers:
            peak, out = traced_peak(lambda: f(*args, **kwargs))
        returned = returned_bytes(out, args)
        del out
        peaks.append(peak)
        if helpers[0] == 0 or (len(peaks) >= 2 and peaks[-1] == peaks[-2]):
            break
    return max(peaks), returned, len(peaks)


def measure(function: str, case: str, inputs: tuple | None = None, repeats: int = REPEATS) -> list[dict]:
    """One row per reduction: the peak extra memory of ``celib.<function>(*inputs, reduction=...)``.

    The function is called once before the first measurement (see :func:`peak_extra`).
    """
    inputs = build_inputs(case) if inputs is None else inputs
    f = getattr(celib, function)
    f(*inputs)  # warm-up: one-time allocations (the thread pool, lazy imports) do not count
    rows = []
    for reduction in REDUCTIONS:
        with frozen_gc():
            peak, returned, runs = peak_extra(f, *inputs, reduction=reduction, repeats=repeats, warm_up=False)
        extra = peak - returned
        input_bytes = int(inputs[0].nbytes)
        rows.append({
            "function": function,
            "case": case,
            "reduction": reduction,
            "threads": blocks.THREADS,
            "shape": list(inputs[0].shape),
            "input bytes": input_bytes,
            "peak bytes": peak,
            "returned bytes": returned,
            "extra bytes": extra,
            "ratio": extra / input_bytes,
            "pass": extra <= BUDGET * input_bytes,
            "runs": runs,
        })
    return rows


#: Where celib's _blocks module may keep its thread pool (created on first use).
POOL_NAMES = ("_pool", "_executor")


def thread_pools() -> list[ThreadPoolExecutor]:
    """The thread pools celib's _blocks module holds now."""
    return [v for v in vars(blocks).values() if isinstance(v, ThreadPoolExecutor)]


def check_pool_size() -> None:
    """Refuse to measure with fewer pool workers than ``THREADS`` (the helpers would then
    run one after the other, and their scratch buffers would never all be alive at once)."""
    for pool in thread_pools():
        workers = getattr(pool, "_max_workers", blocks.THREADS)
        if workers < blocks.THREADS:
            raise RuntimeError(f"celib's thread pool has {workers} workers but THREADS is {blocks.THREADS}")


@contextlib.contextmanager
def celib_threads(n: int | None):
    """Run with ``celib._blocks.THREADS = n`` (None: unchanged), with a fresh thread pool
    (celib starts one of ``THREADS`` workers on first use), and put everything back."""
    if n is None:
        yield
        return
    if n < 1:
        raise ValueError(f"threads must be at least 1, got {n}")
    old_threads = blocks.THREADS
    old_pools = {name: getattr(blocks, name) for name in POOL_NAMES if hasattr(blocks, name)}
    blocks.THREADS = n
    for name in old_pools:
        setattr(blocks, name, None)
    try:
        yield
    finally:
        for name in POOL_NAMES:
            pool = getattr(blocks, name, None)
            if pool is not None and pool is not old_pools.get(name):
                pool.shutdown(wait=True)
        blocks.THREADS = old_threads
        for name, pool in old_pools.items():
            setattr(blocks, name, pool)


def plan(functions: list[str] | None = None) -> list[tuple[str, str]]:
    """Every ``(function, case)`` to measure (each with every reduction), grouped by case
    (inputs are built once per case). Raises for a public loss without a recipe."""
    functions = public_losses() if functions is None else functions
    wanted = [(f, case) for f in functions for case in recipe_of(f)]
    return [(f, case) for case in CASES for f, c in wanted if c == case]


def run(threads: list[int | None], functions: list[str] | None = None, repeats: int = REPEATS, progress=None) -> list[dict]:
    """Measure every planned row with each thread count; rows sorted by function, case, reduction, threads."""
    todo = plan(functions)
    rows = []
    for case in dict.fromkeys(c for _, c in todo):
        inputs = build_inputs(case)  # before any tracing
        with frozen_gc():
            for n in threads:
                with celib_threads(n):
                    for f, c in todo:
                        if c == case:
                            rows += measure(f, case, inputs, repeats)
                            if progress:
                                progress(rows[-3:])
        del inputs
    order, case_order = {f: i for i, f in enumerate(celib.__all__)}, list(CASES)
    return sorted(rows, key=lambda row: (order[row["function"]], case_order.index(row["case"]), REDUCTIONS.index(row["reduction"]), row["threads"]))


def machine() -> dict:
    """Facts about the run's machine and celib (``celib default threads``: THREADS as imported)."""
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "celib": celib.__version__,
        "cpu count": os.cpu_count(),
        "celib default threads": blocks.THREADS,
        "block elements": getattr(blocks, "BLOCK_ELEMENTS", None),
    }


def table(rows: list[dict]) -> str:
    head = f"{'function':<38} {'case':<40} {'reduction':<9} {'threads':>7} {'extra MiB':>9} {'ratio':>6}  budget"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['function']:<38} {r['case']:<40} {r['reduction']:<9} {r['threads']:>7} "
            f"{r['extra bytes'] / 2**20:9.2f} {r['ratio']:6.2f}  {'ok' if r['pass'] else 'OVER'}"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=None, metavar="N",
                        help="set celib._blocks.THREADS to N (several: one run each); default: celib's own, and 8")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--only", nargs="+", metavar="FUNCTION", help="measure only these functions")
    parser.add_argument("--repeats", type=int, default=REPEATS, help=f"traced runs per measurement at most (default {REPEATS})")
    args = parser.parse_args(argv)
    threads = args.threads or sorted({blocks.THREADS, 8})
    info = machine()
    print("machine:", ", ".join(f"{k} {v}" for k, v in info.items()))
    start = time.perf_counter()
    rows = run(threads, args.only, args.repeats)
    seconds = time.perf_counter() - start
    print(table(rows))
    over = [r for r in rows if not r["pass"]]
    worst = max(rows, key=lambda r: r["ratio"])
    print(f"\n{len(rows)} measurements in {seconds:.0f} s; threads {sorted({r['threads'] for r in rows})}; "
          f"budget {BUDGET} x input; {len(over)} over budget; largest {worst['ratio']:.2f} "
          f"({worst['function']}, {worst['case']}, {worst['reduction']}, {worst['threads']} threads)")
    if args.json:
        everything = {
            "budget": BUDGET,
            "input bytes": INPUT_BYTES,
            "machine": info,
            "threads": sorted({r["threads"] for r in rows}),
            "repeats": args.repeats,
            "rows": rows,
        }
        args.json.write_text(json.dumps(everything, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
