"""Can a PacGAN discriminator see the 25-mode grid? A diagnostic that prints accuracies.

Usage:  uv run python benchmarks/bench_packed_discriminator.py [--steps 15000] [--every 3000]

First it prints how far apart grid packs and uniform packs look along random directions (the
total-variation distance between their 1-D projections, 200 bins): what one linear unit of a
freshly initialised discriminator can see.

Trains genlab's 2-D discriminator alone (no generator) to tell grid samples from points drawn
uniformly over [-5, 5]², with PacGAN's grid discriminator (3 layers of 200 maxout units with 5
pieces, Adam 2e-4, β1 0.5, batch 100) and packs of 1, 2 and 4. Prints held-out accuracy
((real judged real + uniform judged fake) / 2, on 400 + 400 points) every `--every` steps.

Why: in genlab's packed GAN runs on the grid the generator's samples spread evenly over the
square within a few hundred steps and the discriminator then sat at D = 0.5
(docs/results/mode-collapse.md). This isolates the discriminator's half of that: 0.5 here means
it cannot tell the grid from noise at all, so it has nothing to teach the generator.
"""

from __future__ import annotations

import argparse
import platform
import time

import torch
import torch.nn.functional as F

from genlab import nets
from genlab.data import load_dataset


def accuracy(disc, data, uniform, g) -> float:
    with torch.no_grad():
        real = (disc(data.sample(400, g)["x"])["logit"] > 0).float().mean()
        fake = (disc(uniform(400))["logit"] < 0).float().mean()
    return float((real + fake) / 2)


def projection_tv(pack: int, n: int = 100_000, directions: int = 40, seed: int = 0) -> float:
    """Median total-variation distance between the histograms (200 bins) of w·pack for grid packs
    and for uniform packs, over random Gaussian directions w: near 0 means no single linear unit
    can tell them apart, so a discriminator's first layer has little gradient to start from."""
    g = torch.Generator().manual_seed(seed)
    data = load_dataset("grid")
    tvs = []
    for _ in range(directions):
        w = torch.randn(2 * pack, generator=g, dtype=torch.float64)
        real = data.sample(n * pack, g)["x"].double().reshape(n, 2 * pack) @ w
        fake = (torch.rand(n * pack, 2, generator=g, dtype=torch.float64) * 10 - 5).reshape(n, 2 * pack) @ w
        lo, hi = float(min(real.min(), fake.min())), float(max(real.max(), fake.max()))
        h_real = torch.histc(real, 200, lo, hi) / n
        h_fake = torch.histc(fake, 200, lo, hi) / n
        tvs.append(float(0.5 * (h_real - h_fake).abs().sum()))
    return float(torch.tensor(tvs).median())


def train(pack: int, steps: int, every: int, seed: int = 0) -> list[float]:
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed + 1)
    data = load_dataset("grid")

    def uniform(n):
        return torch.rand(n, 2, generator=g) * 10 - 5

    disc = nets.Discriminator((2,), mlp_width=200, mlp_layers=3, pack=pack, maxout=5)
    opt = torch.optim.Adam(disc.parameters(), 2e-4, betas=(0.5, 0.999))
    accs = []
    for step in range(1, steps + 1):
        real, fake = disc(data.sample(100, g)["x"])["logit"], disc(uniform(100))["logit"]
        loss = (F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
                + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % every == 0:
            accs.append(accuracy(disc, data, uniform, g))
    return accs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=15000)
    ap.add_argument("--every", type=int, default=3000)
    ap.add_argument("--packs", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{args.threads} thread(s)")
    print("grid packs against uniform packs along random directions (median TV distance, 0 = alike)")
    for pack in args.packs:
        print(f"{pack:>4} | {projection_tv(pack):.3f}")
    print("accuracy of a discriminator trained alone, grid against uniform noise (0.5 = chance)")
    header = " | ".join(f"{s:>6}" for s in range(args.every, args.steps + 1, args.every))
    print(f"{'pack':>4} | {header} | seconds")
    for pack in args.packs:
        t0 = time.perf_counter()
        accs = train(pack, args.steps, args.every)
        print(f"{pack:>4} | " + " | ".join(f"{a:6.3f}" for a in accs) + f" | {time.perf_counter() - t0:.0f}")


if __name__ == "__main__":
    main()
