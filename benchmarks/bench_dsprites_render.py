"""Benchmark genlab.dsprites.render: images per second for random batches of 256.

Usage:  uv run python benchmarks/bench_dsprites_render.py [--batches 200] [--batch-size 256]

Prints two numbers:
* one thread: batches rendered one after another, numpy thread pools limited to 1;
* default threads: the same batches spread over a thread pool of os.cpu_count() workers, as
  a multi-worker data loader would (numpy releases the GIL inside most of the work).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from genlab import dsprites as ds


def _batches(n: int, size: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [ds.index_to_classes(rng.integers(0, ds.N_IMAGES, size)) for _ in range(n)]


def bench_single(batches: list[np.ndarray]) -> float:
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
        threadpool_limits = None
    ctx = threadpool_limits(1) if threadpool_limits else None
    try:
        t0 = time.perf_counter()
        for b in batches:
            ds.render(b)
        dt = time.perf_counter() - t0
    finally:
        if ctx is not None:
            ctx.unregister()
    return sum(len(b) for b in batches) / dt


def bench_threads(batches: list[np.ndarray], workers: int) -> float:
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(ds.render, batches[:workers]))  # warm the workers
        t0 = time.perf_counter()
        list(pool.map(ds.render, batches))
        dt = time.perf_counter() - t0
    return sum(len(b) for b in batches) / dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, default=200)
    ap.add_argument("--batch-size", type=int, default=256)
    args = ap.parse_args()

    batches = _batches(args.batches, args.batch_size)
    ds.render(batches[0])  # warm-up (imports, first allocations)
    workers = os.cpu_count() or 1
    print(f"machine: {platform.processor() or platform.machine()}, {workers} CPUs, numpy {np.__version__}")
    print(f"one thread:      {bench_single(batches):10,.0f} images/s (batches of {args.batch_size})")
    print(f"{workers} threads:{'':<6}{bench_threads(batches, workers):10,.0f} images/s (batches of {args.batch_size})")


if __name__ == "__main__":
    main()
