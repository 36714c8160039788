"""Shared helpers for celib's tests."""

from __future__ import annotations

import numpy as np


def numerical_grad(f, x: np.ndarray, h: float = 1e-4) -> np.ndarray:
    """Fourth-order central difference of the scalar ``f`` at ``x``, one element at a time (float64)."""
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        def at(delta):
            xd = x.copy()
            xd[i] += delta
            return float(f(xd))
        grad[i] = (-at(2 * h) + 8 * at(h) - 8 * at(-h) + at(-2 * h)) / (12 * h)
    return grad


# ---------------------------------------------------------------------------------------
# The site: built once per test session with the strict command the README gives.
# ---------------------------------------------------------------------------------------
import functools
import http.server
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
BUILD_COMMAND = ["jupyter-book", "build", ".", "-W", "-n", "--keep-going"]


@pytest.fixture(scope="session")
def built_site() -> Path:
    """Run the strict build (warnings are errors, notebook errors raise) and return _build/html."""
    shutil.rmtree(HTML, ignore_errors=True)  # no page may survive from an earlier build
    exe = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(exe) if exe.exists() else BUILD_COMMAND[0], *BUILD_COMMAND[1:]]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        log = (proc.stdout + proc.stderr)[-8000:]
        pytest.fail(f"strict site build failed ({' '.join(BUILD_COMMAND)}):\n{log}", pytrace=False)
    return HTML


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def site_url(built_site):
    """Serve the built site on 127.0.0.1 (a random free port) for the browser tests."""
    handler = functools.partial(_QuietHandler, directory=str(built_site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join(5)
