"""Simulated p50s of a cell and its baseline over blocks, for checking the
paired statistics' coverage and power where the true ratio is known."""
from __future__ import annotations

import numpy as np

RNG_SEED = 20261203


def simulate(n_blocks: int, ratio: float, noise: float, rng, drift: float = 0.3):
    """p50s of a cell and its baseline over blocks: a drift common to both in
    each block (large), and independent noise in each window (lognormal)."""
    block = rng.normal(0, drift, n_blocks)
    base = 2.0 * np.exp(block + rng.normal(0, noise, n_blocks))
    cell = 2.0 * ratio * np.exp(block + rng.normal(0, noise, n_blocks))
    return cell, base
