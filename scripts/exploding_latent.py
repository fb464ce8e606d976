"""Precompute the exploding-latent-space demo of the VAE failure modes page (survey §2.1.3): a VAE and
two InfoVAEs (genlab.failure_modes.PATH_MODELS) with a 2-D code trained on the same few hundred digits,
every training point's posterior kept along training, written to checkpoints/exploding-latent/
(paths.npz, paths.json).

    uv run python scripts/exploding_latent.py [--steps 3000] [--out checkpoints/exploding-latent]

One thread, as the shipped figures were made; the settings are genlab.failure_modes.PATH_DEFAULTS.
"""
import argparse

import torch

from genlab import failure_modes as fm


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=fm.PATH_DEFAULTS["steps"])
    p.add_argument("--every", type=int, default=fm.PATH_DEFAULTS["every"])
    p.add_argument("--out", default=f"checkpoints/{fm.PATHS_FOLDER}")
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    runs = {}
    for kind in fm.PATH_MODELS:
        runs[kind] = fm.posterior_paths(kind, steps=a.steps, every=a.every,
                                        progress=lambda s, n: print(f"{kind}: step {s:,} of {n:,}", flush=True))
        st = {k: round(float(v[-1]), 3) for k, v in runs[kind]["stats"].items()}
        print(f"{kind}: {runs[kind]['seconds']} s; at the end {st}; ELBO train {runs[kind]['elbo_train'][-1]:.2f}, "
              f"held out {runs[kind]['elbo_test'][-1]:.2f}", flush=True)
    print("written to", fm.save_paths(runs, a.out))


if __name__ == "__main__":
    main()
