"""A β sweep two ways: one batched run (stacked parameters, torch.func) against one run per β.

Both train the same dSprites β-VAEs (Burgess / disentanglement_lib networks) at the same batch
size for the same number of steps per member, on the same device, and write the same member
folders. The figure is images per second over all members (K × batch × steps / wall time); the
ratio is batched / separate, above 1 meaning the batched run is faster. Prints figures; not a test.

    uv run python benchmarks/bench_sweep.py [--betas 1,2,4,8,16] [--steps 30] [--batch-size 64]
        [--device auto] [--repeats 3] [--data dsprites]
"""
from __future__ import annotations

import argparse
import itertools
import platform
import tempfile
import time

import torch
from pairs import alternate

from genlab.data import load_dataset
from genlab.device import pick_device
from genlab.models import make_config
from genlab.sweep import Member, fit_stacked
from genlab.train import TrainConfig, fit


def separate(cfgs, ds, tc, root) -> float:
    t = time.perf_counter()
    for i, cfg in enumerate(cfgs):
        fit(cfg, ds, TrainConfig(**{**tc.__dict__, "out": f"{root}/sep{i}"}), progress=False)
    return len(cfgs) * tc.steps * tc.batch_size / (time.perf_counter() - t)


def batched(cfgs, ds, tc, root) -> float:
    t = time.perf_counter()
    fit_stacked([Member(f"m{i}", c, tc.seed) for i, c in enumerate(cfgs)], ds, f"{root}/stacked", tc, progress=False)
    return len(cfgs) * tc.steps * tc.batch_size / (time.perf_counter() - t)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--betas", default="1,2,4,8,16")
    p.add_argument("--steps", type=int, default=30, help="steps per member")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--device", default="auto")
    p.add_argument("--data", default="dsprites")
    p.add_argument("--repeats", type=int, default=3, help="alternate the two ways this many times")
    a = p.parse_args()

    device = pick_device(a.device)
    ds = load_dataset(a.data)
    betas = [float(b) for b in a.betas.split(",")]
    cfgs = [make_config("beta-vae", a.data, ds.shape, beta=b) for b in betas]
    tc = TrainConfig(steps=a.steps, batch_size=a.batch_size, device=str(device), ckpt_every=10**9, log_every=10)
    name = (torch.cuda.get_device_name(device) if device.type == "cuda"
            else f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)")
    print(f"{a.data} β-VAE sweep, β = {a.betas} ({len(betas)} members), batch {a.batch_size}, {a.steps} steps each, "
          f"device {device} = {name}, torch {torch.__version__}")
    with tempfile.TemporaryDirectory() as root:
        warm = TrainConfig(**{**tc.__dict__, "steps": 3})
        separate(cfgs[:1], ds, warm, f"{root}/w")
        batched(cfgs, ds, warm, f"{root}/w")  # first calls pay for allocation and kernel choice
        runs = itertools.count()  # a fresh folder per run
        alternate(("batched", lambda: batched(cfgs, ds, tc, f"{root}/b{next(runs)}")),
                  ("separate runs", lambda: separate(cfgs, ds, tc, f"{root}/s{next(runs)}")), a.repeats)

if __name__ == "__main__":
    main()
