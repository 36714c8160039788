"""How fast is celib? Cross-entropy and friends against PyTorch (CPU) and SciPy, in one run.

    python benchmarks/bench.py            # the full table (about a minute and a half)
    python benchmarks/bench.py --quick    # smaller shapes, fewer rounds
    python benchmarks/bench.py --json results.json

Every contender is timed in the same process, interleaved round by round (so a slow
moment of the machine hits all of them), and the median of the rounds is reported.
Ratios are celib's time over the peer's: below 1 means celib is faster. Beside them,
the time of a single ``np.exp`` over the same input is the yardstick of the arithmetic
floor. Peak extra memory is measured with tracemalloc, relative to the input's size.
Last comes a sweep of celib's block size, run in fresh processes, with and without
``OPENBLAS_NUM_THREADS=1``.

PyTorch (``pip install torch==2.13.0``) and SciPy are benchmark dependencies, not
requirements of the book; a missing one is reported and skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import celib  # noqa: E402
from celib import _blocks as blocks  # noqa: E402

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # pragma: no cover - reported in the table
    torch = None
try:
    from scipy.special import log_softmax as scipy_log_softmax
except ImportError:  # pragma: no cover
    scipy_log_softmax = None

SHAPES = [(65536, 1000), (1_000_000, 10), (4096, 32000)]
QUICK_SHAPES = [(8192, 1000), (200_000, 10), (512, 32000)]


def interleaved(contenders: dict, rounds: int) -> dict:
    """Median seconds of each callable, timed round-robin ``rounds`` times after one warm-up.

    The order rotates every round, so that no contender always runs right after the same
    one (freeing a large array, for instance, leaves the kernel work that slows whoever
    comes next).
    """
    for f in contenders.values():
        f()
    names = list(contenders)
    times = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:
            start = time.perf_counter()
            contenders[name]()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


def peak_extra_memory(f) -> int:
    """Peak bytes allocated (by NumPy, through tracemalloc) while ``f`` runs."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    f()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "celib": celib.__version__,
        "torch": torch.__version__ if torch else "not installed",
        "torch threads": torch.get_num_threads() if torch else None,
    }
    try:
        import scipy

        info["scipy"] = scipy.__version__
    except ImportError:
        info["scipy"] = "not installed"
    info["numpy simd"] = numpy_simd()
    info["torch simd"] = torch.backends.cpu.get_cpu_capability() if torch else None
    return info


def numpy_simd() -> str:
    """The vector instructions NumPy's loops use here (best first), e.g. ``AVX512_ICL X86_V3``.

    NumPy compiles its loops (``exp`` among them) for several instruction sets and picks
    the best one the CPU has when it is imported; ``NPY_DISABLE_CPU_FEATURES`` can turn
    one off.
    """
    try:
        from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__
    except ImportError:  # pragma: no cover - another NumPy layout
        return "unknown"
    return " ".join(reversed([name for name in __cpu_dispatch__ if __cpu_features__.get(name)])) or "baseline"


def torch_loss_and_grad(loss_of, x):
    """PyTorch's forward pass ``loss_of(x)`` and its gradient by ``torch.autograd.grad``."""
    xr = x.detach().requires_grad_()
    return torch.autograd.grad(loss_of(xr), xr)


def bench_cross_entropy(shape, dtype, rounds) -> dict:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape, dtype=np.float32).astype(dtype)
    y = rng.integers(0, shape[1], size=shape[0])
    row = {"shape": list(shape), "dtype": np.dtype(dtype).name}
    exp_out = np.empty_like(x)
    fwd = {
        "celib": lambda: celib.cross_entropy(x, y),
        "np.exp": lambda: np.exp(x, out=exp_out),  # the arithmetic alone: no allocation
    }
    both = {"celib": lambda: (celib.cross_entropy(x, y), celib.cross_entropy_grad(x, y))}
    if torch is not None:
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        fwd["torch"] = lambda: F.cross_entropy(xt, yt)
        both["torch"] = lambda: torch_loss_and_grad(lambda xr: F.cross_entropy(xr, yt), xt)
    if scipy_log_softmax is not None:
        rows = np.arange(shape[0])
        fwd["scipy"] = lambda: -scipy_log_softmax(x, axis=1)[rows, y].mean()
    t_fwd = interleaved(fwd, rounds)
    t_both = interleaved(both, rounds)
    row["celib ms"] = t_fwd["celib"] * 1e3
    row["np.exp ms"] = t_fwd["np.exp"] * 1e3
    if "torch" in t_fwd:
        row["torch ms"] = t_fwd["torch"] * 1e3
        row["fwd ratio"] = t_fwd["celib"] / t_fwd["torch"]
        row["fwd+grad ratio"] = t_both["celib"] / t_both["torch"]
        row["celib fwd+grad ms"] = t_both["celib"] * 1e3
        row["torch fwd+grad ms"] = t_both["torch"] * 1e3
    if "scipy" in t_fwd:
        row["scipy ms"] = t_fwd["scipy"] * 1e3
        row["vs scipy"] = t_fwd["celib"] / t_fwd["scipy"]
    row["peak extra memory / input"] = peak_extra_memory(lambda: celib.cross_entropy(x, y)) / x.nbytes
    return row


def against_torch(loss: str, x: np.ndarray, celib_calls, torch_calls, rounds) -> dict:
    """One row: celib's loss, and loss + gradient, against PyTorch's.

    ``celib_calls`` and ``torch_calls`` are ``(forward, forward_and_gradient)`` pairs of
    callables; ``torch_calls`` is None without PyTorch.
    """
    fwd, both = {"celib": celib_calls[0]}, {"celib": celib_calls[1]}
    if torch_calls is not None:
        fwd["torch"], both["torch"] = torch_calls
    t, t_both = interleaved(fwd, rounds), interleaved(both, rounds)
    row = {"loss": loss, "shape": list(x.shape), "celib ms": t["celib"] * 1e3, "celib fwd+grad ms": t_both["celib"] * 1e3}
    if "torch" in t:
        row["torch ms"] = t["torch"] * 1e3
        row["ratio"] = t["celib"] / t["torch"]
        row["torch fwd+grad ms"] = t_both["torch"] * 1e3
        row["fwd+grad ratio"] = t_both["celib"] / t_both["torch"]
    row["peak extra memory / input"] = peak_extra_memory(celib_calls[0]) / x.nbytes
    return row


def bench_bce(n, rounds) -> dict:
    rng = np.random.default_rng(1)
    x = rng.standard_normal(n, dtype=np.float32)
    y = (rng.uniform(size=n) < 0.3).astype(np.float32)
    torch_calls = None
    if torch is not None:
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        loss_of = lambda xr: F.binary_cross_entropy_with_logits(xr, yt)  # noqa: E731
        torch_calls = (lambda: loss_of(xt), lambda: torch_loss_and_grad(loss_of, xt))
    celib_calls = (
        lambda: celib.binary_cross_entropy_with_logits(x, y),
        lambda: (celib.binary_cross_entropy_with_logits(x, y), celib.binary_cross_entropy_with_logits_grad(x, y)),
    )
    return against_torch("binary_cross_entropy_with_logits", x, celib_calls, torch_calls, rounds)


def bench_dfl(n, n_bins, rounds) -> dict:
    rng = np.random.default_rng(2)
    x = rng.standard_normal((n, n_bins), dtype=np.float32)
    y = rng.uniform(0, n_bins - 1 - 0.01, size=n).astype(np.float32)
    torch_calls = None
    if torch is not None:
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)

        def mmdet_dfl(xr):  # mmdetection's distribution_focal_loss, then the mean
            left = yt.long()
            right = left + 1
            loss = F.cross_entropy(xr, left, reduction="none") * (right.float() - yt) + F.cross_entropy(
                xr, right, reduction="none"
            ) * (yt - left.float())
            return loss.mean()

        torch_calls = (lambda: mmdet_dfl(xt), lambda: torch_loss_and_grad(mmdet_dfl, xt))
    celib_calls = (
        lambda: celib.distribution_focal_loss(x, y),
        lambda: (celib.distribution_focal_loss(x, y), celib.distribution_focal_loss_grad(x, y)),
    )
    return against_torch("distribution_focal_loss", x, celib_calls, torch_calls, rounds)


def numpy_facts(rounds) -> dict:
    """Two facts about NumPy on this machine that shaped celib: the cost of float32
    ``log1p`` and of float64 ``exp``, each against its cheaper alternative."""
    x = np.random.default_rng(3).uniform(0, 1, 1 << 20).astype(np.float32)
    out = np.empty_like(x)
    x64, out64 = x.astype(np.float64), np.empty(x.size)
    t = interleaved(
        {
            "log1p": lambda: np.log1p(x, out=out),
            "log": lambda: np.log(x, out=out),
            "exp": lambda: np.exp(x, out=out),
            "exp64": lambda: np.exp(x64, out=out64),
        },
        rounds,
    )
    facts = {"float32 log1p / log": t["log1p"] / t["log"], "float64 exp / float32 exp": t["exp64"] / t["exp"]}
    if torch is not None:  # one core each, on a block that stays in the cache
        xb, outb = x[: 1 << 16], out[: 1 << 16]
        xbt, outbt = torch.from_numpy(xb), torch.from_numpy(outb)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            t = interleaved({"numpy": lambda: np.exp(xb, out=outb), "torch": lambda: torch.exp(xbt, out=outbt)}, rounds * 20)
        finally:
            torch.set_num_threads(threads)
        facts["float32 np.exp / torch.exp"] = t["numpy"] / t["torch"]
    return facts


#: Block sizes (elements) for the sweep: from far too small to past the default.
SWEEP_BLOCKS = [1 << k for k in range(12, 21)]


def block_size_sweep(shape, rounds) -> dict:
    """Forward time of float32 ``cross_entropy`` for each block size in ``SWEEP_BLOCKS``.

    Sizes run one after the other, smallest first, not interleaved: a block too large
    wakes OpenBLAS's threads, which keep spinning for a while and would slow whatever
    ran next.
    """
    rng = np.random.default_rng(4)
    x = rng.standard_normal(shape, dtype=np.float32)
    y = rng.integers(0, shape[1], size=shape[0])
    default, ms = blocks.BLOCK_ELEMENTS, []
    try:
        for n in SWEEP_BLOCKS:
            blocks.BLOCK_ELEMENTS = n
            ms.append(interleaved({n: lambda: celib.cross_entropy(x, y)}, rounds)[n] * 1e3)
    finally:
        blocks.BLOCK_ELEMENTS = default
    return {"shape": list(shape), "default": default, "elements": SWEEP_BLOCKS, "ms": ms}


def sweep_in_fresh_process(shape, rounds, **env) -> list | None:
    """``block_size_sweep`` in a fresh process (without PyTorch's threads around), with
    extra environment variables (which must be set before NumPy starts)."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "sweep.json"
        cmd = [sys.executable, __file__, "--sweep-only", "--rounds", str(rounds), "--json", str(out), "--sweep-shape", *map(str, shape)]
        done = subprocess.run(cmd, env=dict(os.environ, **env), capture_output=True, text=True)
        if done.returncode != 0:
            print(done.stderr, file=sys.stderr)
            return None
        return json.loads(out.read_text())["ms"]


def table(rows, columns) -> str:
    def fmt(v):
        if isinstance(v, float):
            return f"{v:.2f}" if abs(v) < 100 else f"{v:.0f}"
        if isinstance(v, list):
            return " x ".join(str(i) for i in v)
        return str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in rows:
        lines.append("| " + " | ".join(fmt(r.get(c, "")) for c in columns) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller shapes and fewer rounds")
    parser.add_argument("--rounds", type=int, default=None, help="timing rounds per contender")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--sweep-only", action="store_true", help="only the block-size sweep")
    parser.add_argument("--sweep-shape", type=int, nargs=2, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    shapes = QUICK_SHAPES if args.quick else SHAPES
    rounds = args.rounds or (3 if args.quick else 9)
    sweep_shape = tuple(args.sweep_shape or shapes[0])
    if args.sweep_only:
        sweep = block_size_sweep(sweep_shape, rounds)
        print(table([{"block elements": n, "ms": ms} for n, ms in zip(sweep["elements"], sweep["ms"])], ["block elements", "ms"]))
        if args.json:
            args.json.write_text(json.dumps(sweep, indent=1))
        return 0

    info = machine()
    print("machine:", ", ".join(f"{k} {v}" for k, v in info.items()))
    ce_rows = [bench_cross_entropy(s, d, rounds) for d in (np.float32, np.float64) for s in shapes]
    n_bce = 2_000_000 if args.quick else 20_000_000
    other_rows = [bench_bce(n_bce, rounds), bench_dfl(n_bce // 17, 17, rounds)]
    facts = numpy_facts(rounds)
    sweep = {"shape": list(sweep_shape), "default": blocks.BLOCK_ELEMENTS, "elements": SWEEP_BLOCKS}
    sweep["ms"] = sweep_in_fresh_process(sweep_shape, rounds)
    sweep["ms, OpenBLAS on one thread"] = sweep_in_fresh_process(sweep_shape, rounds, OPENBLAS_NUM_THREADS="1")
    print("\ncross_entropy (class-index targets, reduction='mean'); ratio = celib time / peer time\n")
    print(table(ce_rows, ["shape", "dtype", "celib ms", "torch ms", "fwd ratio", "fwd+grad ratio", "vs scipy", "np.exp ms", "peak extra memory / input"]))
    print("\nother losses (float32, reduction='mean')\n")
    print(table(other_rows, ["loss", "shape", "celib ms", "torch ms", "ratio", "fwd+grad ratio", "peak extra memory / input"]))
    print("\nNumPy on this machine: " + ", ".join(f"{k} = {v:.2f}" for k, v in facts.items()))
    print(f"\nblock-size sweep: float32 cross_entropy forward, {sweep_shape[0]} x {sweep_shape[1]}, default {sweep['default']} elements\n")
    missing = [None] * len(SWEEP_BLOCKS)
    columns = zip(SWEEP_BLOCKS, sweep["ms"] or missing, sweep["ms, OpenBLAS on one thread"] or missing)
    rows = [{"block elements": n, "ms": ms, "ms, OpenBLAS on one thread": o} for n, ms, o in columns]
    print(table(rows, ["block elements", "ms", "ms, OpenBLAS on one thread"]))
    if args.json:
        everything = {
            "machine": info, "rounds": rounds, "cross_entropy": ce_rows, "other": other_rows, "numpy": facts, "block sweep": sweep,
        }
        args.json.write_text(json.dumps(everything, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
