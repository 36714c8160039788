"""How fast is celib? Cross-entropy and friends against PyTorch (CPU) and SciPy, in one run.

    python benchmarks/bench.py            # the full table (a few minutes)
    python benchmarks/bench.py --quick    # smaller shapes, fewer rounds
    python benchmarks/bench.py --json results.json

Every contender is timed in the same process, interleaved round by round (so a slow
moment of the machine hits all of them), and the median of the rounds is reported.
Ratios are celib's time over the peer's: below 1 means celib is faster. Beside them,
the time of a single ``np.exp`` over the same input is the yardstick of the arithmetic
floor. Peak extra memory is measured with tracemalloc, relative to the input's size.

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
    return info


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

        def torch_both():
            xr = xt.detach().requires_grad_()
            loss = F.cross_entropy(xr, yt)
            return torch.autograd.grad(loss, xr)

        fwd["torch"] = lambda: F.cross_entropy(xt, yt)
        both["torch"] = torch_both
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


def against_torch(loss: str, x: np.ndarray, celib_call, torch_call, rounds) -> dict:
    """One row: celib's ``celib_call()`` against ``torch_call()`` (None without PyTorch)."""
    contenders = {"celib": celib_call}
    if torch_call is not None:
        contenders["torch"] = torch_call
    t = interleaved(contenders, rounds)
    row = {"loss": loss, "shape": list(x.shape), "celib ms": t["celib"] * 1e3}
    if "torch" in t:
        row["torch ms"] = t["torch"] * 1e3
        row["ratio"] = t["celib"] / t["torch"]
    row["peak extra memory / input"] = peak_extra_memory(celib_call) / x.nbytes
    return row


def bench_bce(n, rounds) -> dict:
    rng = np.random.default_rng(1)
    x = rng.standard_normal(n, dtype=np.float32)
    y = (rng.uniform(size=n) < 0.3).astype(np.float32)
    torch_call = None
    if torch is not None:
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        torch_call = lambda: F.binary_cross_entropy_with_logits(xt, yt)  # noqa: E731
    return against_torch(
        "binary_cross_entropy_with_logits", x, lambda: celib.binary_cross_entropy_with_logits(x, y), torch_call, rounds
    )


def bench_dfl(n, n_bins, rounds) -> dict:
    rng = np.random.default_rng(2)
    x = rng.standard_normal((n, n_bins), dtype=np.float32)
    y = rng.uniform(0, n_bins - 1 - 0.01, size=n).astype(np.float32)
    torch_call = None
    if torch is not None:
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)

        def mmdet_dfl():  # mmdetection's distribution_focal_loss, then the mean
            left = yt.long()
            right = left + 1
            loss = F.cross_entropy(xt, left, reduction="none") * (right.float() - yt) + F.cross_entropy(
                xt, right, reduction="none"
            ) * (yt - left.float())
            return loss.mean()

        torch_call = mmdet_dfl
    return against_torch("distribution_focal_loss", x, lambda: celib.distribution_focal_loss(x, y), torch_call, rounds)


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
    return {"float32 log1p / log": t["log1p"] / t["log"], "float64 exp / float32 exp": t["exp64"] / t["exp"]}


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
    args = parser.parse_args(argv)
    shapes = QUICK_SHAPES if args.quick else SHAPES
    rounds = args.rounds or (3 if args.quick else 9)

    info = machine()
    print("machine:", ", ".join(f"{k} {v}" for k, v in info.items()))
    ce_rows = [bench_cross_entropy(s, d, rounds) for d in (np.float32, np.float64) for s in shapes]
    n_bce = 2_000_000 if args.quick else 20_000_000
    other_rows = [bench_bce(n_bce, rounds), bench_dfl(n_bce // 17, 17, rounds)]
    facts = numpy_facts(rounds)
    print("\ncross_entropy (class-index targets, reduction='mean'); ratio = celib time / peer time\n")
    print(table(ce_rows, ["shape", "dtype", "celib ms", "torch ms", "fwd ratio", "fwd+grad ratio", "vs scipy", "np.exp ms", "peak extra memory / input"]))
    print("\nother losses (float32, reduction='mean')\n")
    print(table(other_rows, ["loss", "shape", "celib ms", "torch ms", "ratio", "peak extra memory / input"]))
    print("\nNumPy on this machine: " + ", ".join(f"{k} = {v:.1f}" for k, v in facts.items()))
    if args.json:
        everything = {"machine": info, "rounds": rounds, "cross_entropy": ce_rows, "other": other_rows, "numpy": facts}
        args.json.write_text(json.dumps(everything, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
