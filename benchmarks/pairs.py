"""Two ways of doing the same work, timed in turn (A B A B …) so drift in the machine's speed
hits both; prints each pair and the medians with their ratio A / B. Used by bench_trainer and
bench_sweep."""
from __future__ import annotations

import statistics
from typing import Callable


def alternate(a: tuple[str, Callable[[], float]], b: tuple[str, Callable[[], float]], repeats: int,
              unit: str = "images/s") -> tuple[float, float]:
    """Run a() and b() `repeats` times each, alternating; each returns a rate. Returns the medians."""
    (name_a, run_a), (name_b, run_b) = a, b
    ra, rb = [], []
    for r in range(repeats):
        ra.append(run_a())
        rb.append(run_b())
        print(f"  run {r + 1}: {name_a} {ra[-1]:8.0f} {unit}   {name_b} {rb[-1]:8.0f} {unit}   ratio {ra[-1] / rb[-1]:.2f}")
    ma, mb = statistics.median(ra), statistics.median(rb)
    print(f"median: {name_a} {ma:.0f} {unit} | {name_b} {mb:.0f} {unit} | ratio {ma / mb:.2f}")
    return ma, mb
