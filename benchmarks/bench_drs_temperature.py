"""How well is a GAN discriminator's logit scaled as a density ratio? A diagnostic that prints figures.

Usage:  uv run python benchmarks/bench_drs_temperature.py [checkpoints/grid-gan-tricks/model] [--samples 500000]

Discriminator rejection sampling (genlab/rejection.py) keeps a generated x with probability
exp(D̃(x) − D̃_M): exact when the logit D̃ is log p_data / p_g. This draws `--samples` points
from the generator, scores them with the GAN's own discriminator (in batches of the training
batch size, for minibatch discrimination) and prints, for logit scales a, the figures the samples
kept with weights exp(a·D̃) would have *in expectation* (importance weights, no sampling noise):
high-quality share, reverse KL of the mode histogram (PacGAN / VEEGAN protocol), the smallest
and largest mode share (× 25, so 1 = even) and the effective sample size of the weights. a = 1 is
the paper's rule. It also prints the scale a Platt scaling fits (a logistic regression of
real-or-generated on the logit, on fresh samples of each).

Why: on the 100,000-step grid-gan-tricks, DRS kept 740 samples in 10 million proposals with
reverse KL 0.31 (docs/results/mode-collapse.md). This shows whether the logit ranks samples well
but has the wrong scale, which no threshold of the exact rule can mend.
"""

from __future__ import annotations

import argparse
import platform

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from genlab.checkpoint import load_checkpoint
from genlab.data import load_dataset
from genlab.metrics.modes import sample_mixture


def weighted_figures(logits: np.ndarray, mode: np.ndarray, high_quality: np.ndarray, n_modes: int, a: float) -> dict:
    """Expected figures of samples kept with probability ∝ exp(a · logit)."""
    w = np.exp(a * (logits - logits.max()))
    hist = np.bincount(mode[high_quality], weights=w[high_quality], minlength=n_modes)
    p = hist / hist.sum()
    nz = p > 0
    return {"high_quality": float((w * high_quality).sum() / w.sum()),
            "reverse_kl": float(np.sum(p[nz] * np.log(p[nz] * n_modes))),
            "min_share": float(p.min() * n_modes), "max_share": float(p.max() * n_modes),
            "ess": float(w.sum() ** 2 / (w ** 2).sum())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint", nargs="?", default="checkpoints/grid-gan-tricks/model")
    ap.add_argument("--samples", type=int, default=500_000)
    ap.add_argument("--real", type=int, default=100_000)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model, meta = load_checkpoint(a.checkpoint)
    data = load_dataset(meta["dataset"])
    centres, std = np.asarray(data.centres), data.std
    disc, batch = model.nets["disc"], int(meta.get("batch_size", 100))
    # the generator the discriminator was trained against (for an averaged GAN, not its average), as DRS proposes
    with torch.no_grad(), model.without_average():
        x = model.sample(a.samples, torch.Generator().manual_seed(0))
        s = torch.cat([disc(part)["logit"].float() for part in x.split(batch)]).numpy().ravel()
        real = torch.tensor(sample_mixture(centres, std, a.real, 1)[0], dtype=torch.float32)
        s_real = torch.cat([disc(part)["logit"].float() for part in real.split(batch)]).numpy().ravel()
    d = np.sqrt(((x.numpy()[:, None, :] - centres[None]) ** 2).sum(-1))
    mode, hq = d.argmin(1), d.min(1) <= 3 * std
    n = min(len(s), len(s_real))
    platt = LogisticRegression(C=1e6).fit(np.r_[s[:n], s_real[:n]][:, None], np.r_[np.zeros(n), np.ones(n)])
    print(f"{a.checkpoint} ({meta['steps']:,} steps), {a.samples:,} samples, {platform.processor() or platform.machine()}")
    print(f"logit on generated: mean {s.mean():.2f}, max {s.max():.2f}; on real: mean {s_real.mean():.2f}; "
          f"Platt scaling fits a = {platt.coef_[0, 0]:.2f}")
    print("   a   high quality   reverse KL   mode share min / max   effective samples")
    for scale in (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0):
        f = weighted_figures(s, mode, hq, len(centres), scale)
        print(f"{scale:5.2f}   {f['high_quality']:11.1%}   {f['reverse_kl']:10.2f}   "
              f"{f['min_share']:7.2f} / {f['max_share']:5.2f}   {f['ess']:14,.0f}")


if __name__ == "__main__":
    main()
