"""The paired within-block statistics on simulated runs (the simulation of
tests/test_analysis_paired.py): interval coverage, A/A pairs called
different, planted +5 % effects found.

    .venv/bin/python -m tests.bench_paired
"""
from __future__ import annotations

import numpy as np

from analysis.stats import paired
from tests.support.simulate import RNG_SEED, simulate


def rate(trials: int, ratio: float, noise: float, rng, hit) -> float:
    return float(np.mean([hit(paired.pair_test(np.log(np.divide(*simulate(10, ratio, noise, rng)))))
                          for _ in range(trials)]))


def main() -> None:
    rng = np.random.default_rng(RNG_SEED)
    coverage = rate(2000, 1.05, 0.04, rng, lambda r: r["ratio_low"] <= 1.05 <= r["ratio_high"])
    aa = rate(1000, 1.0, 0.02, rng, lambda r: r["p_different"] < paired.ALPHA)
    planted = rate(1000, 1.05, 0.02, rng, lambda r: r["p_different"] < paired.ALPHA)
    print(f"10 blocks, 30 % block drift: 95 % interval coverage {coverage:.3f} (2000 trials, "
          f"4 % noise); A/A called different {aa:.3f}, planted +5 % found {planted:.3f} "
          f"(1000 trials each, 2 % noise)")


if __name__ == "__main__":
    main()
