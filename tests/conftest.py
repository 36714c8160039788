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
