"""Benchmark the hot paths of the app's pages on the CPU: the genlab functions they call, not the UI.

Usage:  uv run python benchmarks/bench_pages.py [--repeats 15] [--threads N] [--skip-umap]

* Latent traversal, slider change: decode one image from a dSprites β-VAE (latent.decode_codes +
  to_display), and everything the page recomputes on that rerun: the decode, the default traversal
  grid (up to 10 dims × 9 values), and the grid's PNG and GIF downloads.
* Traversal grid: 10 dims × 7 values (latent.traverse + image_grid).
* Code space: UMAP of 5,000 encoded codes through latent.embed_codes with its disk cache in a
  temporary folder: the first fit in this process (numba compiles), a second fit of other codes
  (compiled), and the cached read; PCA for comparison.
* Mode collapse: one live training step of the 2-D GAN (live.LiveRun.step), a press of "Step 100",
  and the snapshot each frame draws (samples, the 60×60 discriminator map, metrics).

Uses a dSprites β-VAE from checkpoints/ when there is one (the most steps), else trains a tiny one
(z = 10, same architecture as a full run; timings do not depend on training). Prints the median
over `--repeats` runs after a warm-up, in milliseconds. Compare `--threads 1`: on a 2-core machine
whose other core is busy, torch's default two threads make the tiny live GAN many times slower.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
SLIDER_BUDGET_MS = 100.0


def median_ms(fn, repeats: int, warmup: int = 2) -> tuple[float, float]:
    """(median, min) wall time of fn() in ms over `repeats` runs, after `warmup` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), min(times)


def once_ms(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return (time.perf_counter() - t0) * 1000, out


def row(name: str, ms: float, extra: str = "") -> None:
    print(f"  {name:<58} {ms:>10.1f} ms  {extra}")


def find_beta_vae(folder: Path) -> str | None:
    """The dSprites β-VAE (or VAE) checkpoint under `folder` trained longest, or None."""
    from genlab.checkpoint import list_checkpoints
    from genlab.models import MODELS

    rows = [r for r in list_checkpoints(folder) if r.ok and r.kind == "model" and r.data == "dsprites"
            and r.model in MODELS and MODELS[r.model].knob == "beta"]
    rows.sort(key=lambda r: -(r.steps or 0))
    return rows[0].path if rows else None


def tiny_beta_vae(out: Path) -> str:
    from genlab.data import load_dataset
    from genlab.models import make_config
    from genlab.train import TrainConfig, fit

    ds = load_dataset("dsprites")
    cfg = make_config("beta-vae", "dsprites", ds.shape, latent_dim=10, beta=4.0)
    fit(cfg, ds, TrainConfig(steps=20, batch_size=16, out=str(out), ckpt_every=20, log_every=10, name="bench"),
        progress=False)
    return str(out / "model")


def bench_traversal(model, data, repeats: int) -> float:
    from genlab import latent

    print("Latent traversal (pages/1_Latent_traversal.py)")
    x = data.get([0])["x"]
    mu, _ = latent.encode_batch(model, x)
    z = mu[0].copy()
    d = model.z_dim
    rng = np.random.default_rng(0)

    def slider_decode():
        z[rng.integers(d)] = rng.uniform(-3, 3)  # a new slider value each time
        return latent.to_display(latent.decode_codes(model, z)[0], 224)

    decode_ms, decode_min = median_ms(slider_decode, repeats)
    row("slider change: decode one image + to_display(224 px)", decode_ms, f"(min {decode_min:.1f})")

    dims10 = list(range(min(10, d)))
    vals7 = np.linspace(-3, 3, 7)

    def grid_10x7():
        return latent.image_grid(latent.traverse(model, z, dims10, vals7), pad=2)

    grid_ms, grid_min = median_ms(grid_10x7, repeats)
    row(f"traversal grid: {len(dims10)} dims × 7 values (traverse + image_grid)", grid_ms, f"(min {grid_min:.1f})")

    vals9 = np.linspace(-3, 3, 9)  # the page's default: 9 values per row

    def slider_rerun():
        slider_decode()
        grid = latent.traverse(model, z, dims10, vals9)
        latent.image_grid(grid, pad=2)
        latent.grid_png_bytes(grid)
        latent.grid_gif_bytes(grid.swapaxes(0, 1), duration_ms=150)

    rerun_ms, rerun_min = median_ms(slider_rerun, max(3, repeats // 3), warmup=1)
    row(f"slider rerun: decode + {len(dims10)}×9 grid + PNG + GIF downloads", rerun_ms, f"(min {rerun_min:.1f})")
    print(f"  -> slider change (one decode) {'UNDER' if decode_ms < SLIDER_BUDGET_MS else 'OVER'} "
          f"{SLIDER_BUDGET_MS:.0f} ms: {decode_ms:.1f} ms; the whole rerun's genlab work "
          f"{'is under' if rerun_ms < SLIDER_BUDGET_MS else 'is over'} {SLIDER_BUDGET_MS:.0f} ms: {rerun_ms:.1f} ms")
    return decode_ms


def bench_code_space(model, data, key: str, repeats: int, skip_umap: bool) -> None:
    from genlab import latent

    print("Code space (pages/4_Code_space.py), 5,000 codes")
    enc_ms, table = once_ms(lambda: latent.code_table(model, data, 5000, seed=0))
    mu = table["mu"]
    row(f"encode 5,000 images (code_table), once; z = {mu.shape[1]}", enc_ms)
    with tempfile.TemporaryDirectory(prefix="genlab-bench-cache-") as cache:
        pca_ms, _ = median_ms(lambda: latent.embed_codes(mu, "pca", 0), repeats)
        row("PCA map (no cache)", pca_ms)
        if skip_umap:
            print("  UMAP skipped (--skip-umap)")
            return
        first_ms, _ = once_ms(lambda: latent.embed_codes(mu, "umap", 0, cache, key))
        row("UMAP, first fit in this process (numba compiles), writes the cache", first_ms)
        other = mu + np.float32(1e-3)  # other codes: a real fit, with the code already compiled
        second_ms, _ = once_ms(lambda: latent.embed_codes(other, "umap", 0, cache, key + "-other"))
        row("UMAP, second fit (compiled), writes the cache", second_ms)
        assert latent.is_embedding_cached(mu, "umap", 0, cache, key)
        cached_ms, cached_min = median_ms(lambda: latent.embed_codes(mu, "umap", 0, cache, key), repeats)
        row("UMAP, cached (hash the codes + np.load)", cached_ms, f"(min {cached_min:.2f})")


def bench_live(repeats: int) -> None:
    from genlab import live

    print("Mode collapse (pages/3_Mode_collapse.py), GAN on the ring, batch 64")
    def build():
        return live.LiveRun(dataset="ring", overrides=live.trick_overrides({}), seed=0, batch_size=64)

    first_ms, run = once_ms(build)
    row("build a LiveRun, first in this process (imports, data)", first_ms)
    build_ms, run = once_ms(build)
    row("build a LiveRun again (what Reset or a new trick costs)", build_ms)
    step_ms, step_min = median_ms(lambda: run.step(1), max(repeats, 30), warmup=5)
    row("one live training step (LiveRun.step(1))", step_ms, f"(min {step_min:.2f})")
    click_ms, _ = median_ms(lambda: run.step(100), max(3, repeats // 3), warmup=1)
    row("press 'Step 100' (LiveRun.step(100), metrics every 50)", click_ms)
    snap_ms, _ = median_ms(lambda: run.snapshot(), repeats)
    row("snapshot a frame draws (500 points, 60×60 D map)", snap_ms)
    print(f"  -> about {1000 / step_ms:.0f} steps/s: a 0.35 s frame while playing trains ~{350 / step_ms:.0f} steps")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: the app's, GENLAB_THREADS or 1)")
    ap.add_argument("--checkpoints", default=str(ROOT / "checkpoints"))
    ap.add_argument("--skip-umap", action="store_true", help="skip the UMAP figures (about half a minute)")
    args = ap.parse_args(argv)
    from genlab import ui  # noqa: F401  (the pages import it; it sets the app's thread count, so --threads comes after)

    if args.threads:
        torch.set_num_threads(args.threads)
    from genlab.checkpoint import load_checkpoint
    from genlab.data import load_dataset

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"genlab page benchmarks · {platform.processor() or platform.machine()} · {os.cpu_count()} CPUs · "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads · load average {load:.2f} · "
          f"median of {args.repeats} unless noted")
    with tempfile.TemporaryDirectory(prefix="genlab-bench-") as tmp:
        path = find_beta_vae(Path(args.checkpoints))
        if path:
            source = f"shipped checkpoint {path}"
        else:
            t_ms, path = once_ms(lambda: tiny_beta_vae(Path(tmp) / "bench-beta-vae"))
            source = f"no dSprites β-VAE under {args.checkpoints}: trained a tiny one (z = 10, 20 steps, {t_ms / 1000:.1f} s)"
        model, meta = load_checkpoint(path, device="cpu")
        model.eval()
        print(f"model: {source}; {meta['config']['model']} z = {model.z_dim}")
        data = load_dataset("dsprites")
        with torch.no_grad():
            bench_traversal(model, data, args.repeats)
            bench_code_space(model, data, path, args.repeats, args.skip_umap)
        bench_live(args.repeats)


if __name__ == "__main__":
    sys.exit(main())
