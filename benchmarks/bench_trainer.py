"""genlab's trainer against a plain PyTorch DataLoader loop (prints figures; not a test).

Both train the same dSprites β-VAE (the Burgess / disentanglement_lib networks, β = 4, Adam 1e-4)
for the same number of steps at the same batch size, on the same device. The plain loop reads
images through a `torch.utils.data.DataLoader` over the dSprites index with default collation,
computes the β-VAE loss with `loss.backward()` and steps one Adam optimiser: what a user would
write by hand. genlab's trainer samples whole batches from the dataset object (vectorised
rendering, or a tensor already on the GPU) and updates each parameter group with its own
optimiser. The ratio is genlab / plain; above 1 means genlab is faster.

    uv run python benchmarks/bench_trainer.py [--steps 200] [--batch-size 64] [--device auto]
        [--workers 0] [--precision fp32|bf16] [--channels-last]
"""
from __future__ import annotations

import argparse
import platform
import time

import torch
from pairs import alternate
from torch.utils.data import DataLoader, Dataset

from genlab.data import load_dataset
from genlab.device import pick_device
from genlab.models import GenerativeModel, make_config
from genlab.objectives import beta_vae
from genlab.train import TrainConfig, fit


class IndexedImages(Dataset):
    """A map-style Dataset over genlab's dSprites: one image per __getitem__."""

    def __init__(self, ds):
        self.ds = ds

    def __len__(self):
        return len(self.ds)

    def __getitem__(self, i):
        return self.ds.get(torch.tensor([i]))["x"][0]


def plain_loop(ds, cfg, steps: int, batch_size: int, device, workers: int, precision: str, channels_last: bool) -> float:
    torch.manual_seed(0)
    model = GenerativeModel(cfg).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    loader = DataLoader(IndexedImages(ds), batch_size=batch_size, shuffle=True, num_workers=workers, drop_last=True,
                        generator=torch.Generator().manual_seed(0), pin_memory=device.type == "cuda")
    amp = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
    it = iter(loader)
    done = 0
    t0 = None
    while done < steps + 5:
        if done == 5:  # same warm-up as below: the first steps pay for allocation and kernel choice
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
        x = next(it).to(device, non_blocking=True)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with amp:
            mu, logvar = model.encode(x)
            z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
            logits = model.decode_raw(z)
            loss = beta_vae(x, logits.float(), mu.float(), logvar.float(), cfg.beta)["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        done += 1
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * batch_size / (time.perf_counter() - t0)


def genlab_loop(ds, cfg, steps: int, batch_size: int, device, precision: str, channels_last: bool) -> float:
    fit(cfg, ds, TrainConfig(steps=5, batch_size=batch_size, device=str(device), precision=precision,
                             channels_last=channels_last, log_every=1000), progress=False)  # warm-up
    res = fit(cfg, ds, TrainConfig(steps=steps, batch_size=batch_size, device=str(device), precision=precision,
                                   channels_last=channels_last, log_every=100), progress=False)
    return res.images_per_s


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--device", default="auto")
    p.add_argument("--workers", type=int, default=0, help="DataLoader workers for the plain loop")
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--repeats", type=int, default=3, help="alternate the two loops this many times")
    a = p.parse_args()

    device = pick_device(a.device)
    ds = load_dataset("dsprites")
    cfg = make_config("beta-vae", "dsprites", ds.shape, beta=4.0)
    cpu = f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu
    print(f"dSprites β-VAE, batch {a.batch_size}, {a.steps} steps, {a.precision}"
          f"{', channels_last' if a.channels_last else ''}, device {device} = {name}, torch {torch.__version__}")
    alternate(("genlab trainer", lambda: genlab_loop(ds, cfg, a.steps, a.batch_size, device, a.precision, a.channels_last)),
              ("plain DataLoader loop", lambda: plain_loop(ds, cfg, a.steps, a.batch_size, device, a.workers, a.precision,
                                                           a.channels_last)), a.repeats)

if __name__ == "__main__":
    main()
