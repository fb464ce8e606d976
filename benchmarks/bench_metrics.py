"""Time each disentanglement metric on synthetic dSprites-sized codes with default settings.

Factors have dSprites' sizes (shape 3, scale 6, orientation 40, posX 32, posY 32); the
"images" are the factor indices themselves and the representation is a cheap fixed function
of them (10 codes: 5 noisy factor codes, one pair mixing posX/posY, 3 noise dims), so the
timings exclude any encoder. With --checkpoint, the suite runs on a real dSprites checkpoint
instead: procedurally rendered images through its encoder (the cost a user of `genlab eval` pays).
Run:  uv run python benchmarks/bench_metrics.py [--backend exact] [--checkpoint checkpoints/dsprites-beta-vae-b4/model]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from genlab.metrics.disentanglement import ALL_METRICS, disentanglement_suite

DSPRITES_SIZES = (3, 6, 40, 32, 32)
DSPRITES_NAMES = ("shape", "scale", "orientation", "posX", "posY")


class SyntheticFactors:
    """Ground-truth-data protocol with dSprites' factor sizes; images are the factor indices."""

    factor_names = list(DSPRITES_NAMES)
    factor_sizes = list(DSPRITES_SIZES)

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return np.stack([rng.integers(0, s, n) for s in self.factor_sizes], axis=1)

    def images_from_factors(self, factors: np.ndarray) -> np.ndarray:
        return np.asarray(factors, dtype=np.float32)


def make_represent(seed: int = 0):
    """A fixed 'encoder mean': noisy per-factor codes, a mixed (posX, posY) pair, and noise dims."""
    noise = np.random.default_rng(seed)
    sizes = np.asarray(DSPRITES_SIZES, dtype=np.float64)

    def represent(images: np.ndarray) -> np.ndarray:
        z = images / (sizes - 1) * 2 - 1
        n = len(z)
        informative = z + 0.1 * noise.normal(size=z.shape)
        mixed = np.stack([z[:, 3] + z[:, 4], z[:, 3] - z[:, 4]], axis=1) / np.sqrt(2)
        return np.concatenate([informative, mixed, noise.normal(size=(n, 3))], axis=1)

    return represent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", default="hist", choices=["hist", "exact"], help="DCI tree backend")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint", help="a dSprites checkpoint: time the suite through its encoder")
    args = parser.parse_args()

    if args.checkpoint:
        import torch

        from genlab.checkpoint import load_checkpoint
        from genlab.data import load_dataset
        from genlab.evaluate import represent_fn

        model, _ = load_checkpoint(args.checkpoint)
        data, represent = load_dataset("dsprites"), represent_fn(model, torch.device("cpu"))
        what = (f"checkpoint {args.checkpoint} ({model.cfg.model}, z={model.cfg.latent_dim}) on rendered dSprites, "
                f"{torch.get_num_threads()} torch threads")
    else:
        data, represent = SyntheticFactors(), make_represent(args.seed)
        what = f"synthetic dSprites-sized codes: 10 codes, factor sizes {DSPRITES_SIZES}"
    t0 = time.perf_counter()
    res = disentanglement_suite(data, represent, np.random.default_rng(args.seed), dci_backend=args.backend)
    total = time.perf_counter() - t0
    print(f"{what}; n_train 10,000 / n_test 5,000")
    print(f"{'metric':<12}{'seconds':>9}{'score':>9}")
    for name in ALL_METRICS:
        print(f"{name:<12}{res[name]['seconds']:>9.2f}{res[name]['score']:>9.3f}")
    print(f"{'sampling':<12}{res['sampling_seconds']:>9.2f}")
    print(f"{'total':<12}{total:>9.2f}   (sklearn {res['sklearn_version']}, DCI backend {args.backend})")


if __name__ == "__main__":
    main()
