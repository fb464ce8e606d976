"""The VAE failure modes of the survey, as computations the page and `genlab eval` share.

§2.1.2, the ignored code: a decoder that can model the images on its own (a PixelCNN reading the
earlier pixels, genlab.nets.PixelCNNDecoder) maximises the ELBO with q(z|x) = p(z): the KL falls to
0 and z stops mattering (Bowman et al. 2016; Chen et al. 2017, "Variational Lossy Autoencoder").
`code_use` measures a model's KL per dimension, active units, I(x; z) and the bound's two terms;
`reach_rows` lines up the pixelcnn-vae checkpoints by the decoder's reach.

§2.1.3, the exploding latent space: on finite data the ELBO can give each training point a narrow
posterior of its own, their means spreading apart, while InfoVAE keeps the aggregate posterior on the
prior (Zhao, Song & Ermon 2019, §3). `posterior_paths` trains a VAE and an InfoVAE with a 2-D code on
a few hundred digits and keeps every training point's posterior along the way; `posterior_stats`
measures them (mean posterior std, spread of the means, overlap between posteriors).

No Streamlit here: plain functions over genlab models, so pages, the CLI and tests share them.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from genlab import objectives as obj
from genlab.metrics import latent_stats as ls

# --------------------------------------------------------------------------- §2.1.2 the ignored code


@torch.no_grad()
def reconstruction_terms(model, x: torch.Tensor, seed: int = 0, batch: int = 512) -> tuple[torch.Tensor, ...]:
    """−log p(x|z) for one z ~ q(z|x) per image, with the encoder's (mu, logvar): the pieces of the
    bound. The decoder scores x with its own likelihood (an autoregressive one reads the earlier pixels
    of x itself). Returns (rec_nll (N,), mu (N, D), logvar (N, D)) on the CPU."""
    if not model.has_encoder:
        raise ValueError(f"model '{model.cfg.model}' has no encoder, so it has no bound to split")
    dev, g = model.device, torch.Generator().manual_seed(int(seed))
    recs, mus, logvars = [], [], []
    for i in range(0, len(x), batch):
        v = x[i:i + batch].to(dev, torch.float32)
        mu, logvar = model.encode(v)
        mu, logvar = mu.float(), logvar.float()
        z = mu + (0.5 * logvar).exp() * torch.randn(mu.shape, generator=g).to(dev)
        logits = model.likelihood_logits(z, v).float()
        recs.append(obj.reconstruction_nll(logits, v, model.cfg.resolved_likelihood).cpu())
        mus.append(mu.cpu())
        logvars.append(logvar.cpu())
    return torch.cat(recs), torch.cat(mus), torch.cat(logvars)


def code_use(model, x: torch.Tensor, seed: int = 0) -> dict:
    """How much a VAE uses its code on the images x: KL per dimension and in total, active units
    (Burda et al. 2016), I(x; z) under q (Hoffman & Johnson 2016) and the ELBO split into
    reconstruction and KL. Nats per image."""
    rec, mu, logvar = reconstruction_terms(model, x, seed)
    kl = np.asarray(ls.kl_per_dim(mu.numpy(), logvar.numpy()))
    mi = ls.mutual_information(mu, logvar, seed=seed + 1)
    bound = ls.bound_split(rec, mu, logvar)
    return {"kl_per_dim": kl.tolist(), "kl_total": float(kl.sum()), "active_units": ls.active_units(mu.numpy())["n_active"],
            "mutual_information": mi["mi"], "mi_ceiling": mi["log_n"], "rec": bound["rec"], "elbo": bound["elbo"],
            "n": int(len(x))}


def _pixelcnn_rows(rows: list) -> list:
    from genlab.models import MODELS

    return [r for r in rows if r.ok and r.kind == "model" and r.model in MODELS and MODELS[r.model].autoregressive]


def remedies_of(config: dict) -> list[str]:
    """The remedies for an ignored code a pixelcnn-vae config switches on, in words ([] = the plain ELBO)."""
    out = []
    if config.get("free_bits", 0) > 0:
        out.append(f"free bits λ = {config['free_bits']:g}")
    if config.get("kl_anneal_steps", 0) > 0:
        out.append(f"KL annealed over {config['kl_anneal_steps']:,} steps")
    alpha, lam = config.get("alpha", 0.0), config.get("mmd_weight", 1.0)
    if alpha != 0 or lam != 1:
        out.append(f"InfoVAE α = {alpha:g}, λ = {lam:g}")
    return out


def decoder_text(config: dict) -> str:
    """The PixelCNN decoder's size in words when it is not the default ('' for 128 channels and four
    blocks, and for the factorised decoder, which has neither): '256-channel', '128-channel, 8-block'."""
    from genlab.models import _DEFAULT

    if int(config.get("pixel_reach", 0)) == 0:
        return ""
    ch, bl = int(config.get("pixel_channels", _DEFAULT["pixel_channels"])), int(config.get("pixel_blocks", _DEFAULT["pixel_blocks"]))
    if (ch, bl) == (_DEFAULT["pixel_channels"], _DEFAULT["pixel_blocks"]):
        return ""
    return f"{ch}-channel" + ("" if bl == _DEFAULT["pixel_blocks"] else f", {bl}-block")


def objective_text(d: dict) -> str:
    """How a reach_rows entry was trained, for a radio button or a legend: its remedies, else 'the ELBO',
    with a decoder of another size named after it."""
    text = ", ".join(d["remedies"]) or "the ELBO"
    return f"{text} ({d['decoder']} decoder)" if d["decoder"] else text


def reach_rows(rows: list) -> list[dict]:
    """The pixelcnn-vae checkpoints among `rows` (genlab.checkpoint.CheckpointRow), one dict each: the
    row, its data, its decoder's reach, its remedies, its decoder's size when not the default
    (`decoder_text`) and the image height, ordered by data, plain ELBO with the default decoder first,
    then by reach. The page's reach slider runs over the rows of one data set; its line joins the plain
    ELBO's default-size decoders (`plain`)."""
    out = []
    for r in _pixelcnn_rows(rows):
        c = r.meta.get("config", {})
        d = {"row": r, "data": r.data, "reach": int(c.get("pixel_reach", 0)), "remedies": remedies_of(c),
             "decoder": decoder_text(c), "height": int(c.get("shape", [1, 0, 0])[1]), "name": r.name}
        d["plain"] = not d["remedies"] and not d["decoder"]
        out.append(d)
    return sorted(out, key=lambda d: (d["data"], not d["plain"], bool(d["remedies"]), d["reach"], d["name"]))


def reach_text(reach: int, height: int) -> str:
    """'0 (factorised)', '2', '7 (every earlier pixel)'."""
    if reach == 0:
        return "0 (factorised)"
    return f"{reach} (every earlier pixel)" if reach >= height - 1 else str(reach)


def _decoder_cell(d: dict) -> str:
    if d["reach"] == 0:
        return "factorised"
    c = d["row"].meta.get("config", {})
    from genlab.models import _DEFAULT

    return f"{c.get('pixel_channels', _DEFAULT['pixel_channels'])} ch × {c.get('pixel_blocks', _DEFAULT['pixel_blocks'])} blocks"


def results_table(rows: list) -> str:
    """The code-use table of docs/results/failure-modes.md (`genlab results --failure-modes`): each
    pixelcnn-vae checkpoint among `rows` with its reach, remedies and what `genlab eval` measured."""
    head = ["checkpoint", "data", "reach", "decoder", "remedies", "steps", "KL (nats)", "active units", "I(x; z) (nats)",
            "reconstruction (nats)", "ELBO (nats)"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def num(v, fmt="{:.2f}"):
        return "–" if v is None else fmt.format(v)

    for d in reach_rows(rows):
        r, m = d["row"], d["row"].metrics or {}
        name = Path(r.path).parent.name if Path(r.path).name == "model" else Path(r.path).name
        out.append("| " + " | ".join([name, r.data, reach_text(d["reach"], d["height"]), _decoder_cell(d),
                                      ", ".join(d["remedies"]) or "–",
                                      f"{r.steps:,}" if r.steps else "–", num(m.get("kl_total")),
                                      num(m.get("active_units"), "{:.0f}"), num(m.get("mutual_information")),
                                      num(m.get("rec_nll")), num(m.get("elbo"))]) + " |")
    if len(out) == 2:
        out.append("| (no pixelcnn-vae checkpoint measured yet: `genlab rebuild --only 'digits-binary-pixelcnn*'`) |"
                   + " |" * (len(head) - 1))
    return "\n".join(out)


def traversal_change(grid: np.ndarray) -> float:
    """How much a traversal grid changes along its rows: the mean absolute difference between each
    image and the first of its row, in [0, 1] per pixel. 0 when z does not matter."""
    g = np.asarray(grid, dtype=np.float64)
    return float(np.abs(g - g[:, :1]).mean())


# --------------------------------------------------------------------------- §2.1.3 the exploding latent space


def posterior_stats(mu, logvar) -> dict:
    """Posteriors q(z|x_i) = N(mu_i, diag exp(logvar_i)) of N points, measured as the survey's §2.1.3
    needs them:

    mean_std: the posterior standard deviation, averaged over points and dimensions;
    spread: how far apart the means lie, sqrt(mean over dimensions of their variance over points)
        (1 for means spread like the N(0, I) prior);
    overlap_nearest: for each posterior, its largest Bhattacharyya coefficient BC = ∫ sqrt(q_i q_j) with
        another point's posterior, averaged over points: 1 when its neighbour's is the same Gaussian,
        0 when their supports do not meet;
    overlap_mean: BC averaged over all pairs of points;
    aggregate_kl_to_prior: KL from the moment-matched Gaussian of the aggregate posterior to N(0, I)
        (genlab.metrics.latent_stats.aggregate_posterior_stats): how far the aggregate left the prior.

    BC of two diagonal Gaussians: exp(−D_B), D_B = ⅛ Σ_d (μ_i − μ_j)²/v̄ + ½ Σ_d log(v̄ / sqrt(v_i v_j)),
    v̄ = (v_i + v_j)/2 (Bhattacharyya 1943)."""
    m = torch.as_tensor(np.asarray(mu), dtype=torch.float64)
    v = torch.as_tensor(np.asarray(logvar), dtype=torch.float64).exp()
    n = m.shape[0]
    if n < 2:
        raise ValueError("posterior statistics need at least 2 points")
    vbar = 0.5 * (v[:, None] + v[None])  # (N, N, D)
    d_b = (0.125 * (m[:, None] - m[None]).pow(2) / vbar
           + 0.5 * (vbar.log() - 0.5 * (v[:, None].log() + v[None].log()))).sum(2)
    bc = torch.exp(-d_b)
    bc.fill_diagonal_(float("nan"))
    off = bc[~torch.isnan(bc)]
    agg = ls.aggregate_posterior_stats(m.numpy(), np.log(v.numpy()))
    return {"mean_std": float(v.sqrt().mean()), "spread": float(m.var(0, unbiased=False).mean().sqrt()),
            "overlap_nearest": float(torch.nan_to_num(bc, nan=-1.0).amax(1).mean()), "overlap_mean": float(off.mean()),
            "aggregate_kl_to_prior": float(agg["gaussian_kl_to_prior"])}


def ellipse_outlines(mu, logvar, k: float = 1.0, points: int = 24) -> tuple[np.ndarray, np.ndarray]:
    """Each 2-D posterior N(mu_i, diag σ_i²) drawn as its k-σ ellipse: x and y coordinates of `points`
    vertices per ellipse (closed), the ellipses separated by NaN, so that one line trace draws them all."""
    m, sd = np.asarray(mu, dtype=np.float64), np.exp(0.5 * np.asarray(logvar, dtype=np.float64))
    if m.ndim != 2 or m.shape[1] != 2:
        raise ValueError(f"ellipses need 2-D codes (N, 2); got shape {m.shape}")
    t = np.linspace(0, 2 * math.pi, points + 1)
    xs = m[:, :1] + k * sd[:, :1] * np.cos(t)[None]
    ys = m[:, 1:] + k * sd[:, 1:] * np.sin(t)[None]
    gap = np.full((len(m), 1), np.nan)
    return np.concatenate([xs, gap], 1).ravel(), np.concatenate([ys, gap], 1).ravel()


# The objectives of the demo, on the same networks: the ELBO (a VAE, Kingma & Welling 2014) and two
# InfoVAEs (Zhao et al. 2019): α = 0, λ = 1000, the ELBO plus 999·MMD(q(z), p(z)), λ as in the paper;
# and α = 1, λ = 10, no per-sample KL and a weak MMD (the MMD-VAE with a small λ).
PATH_MODELS = {"elbo": ("vae", {}, "VAE (ELBO)"),
               "info": ("info-vae", {"alpha": 0.0, "mmd_weight": 1000.0}, "InfoVAE α = 0, λ = 1000"),
               "mmd": ("info-vae", {"alpha": 1.0, "mmd_weight": 10.0}, "InfoVAE α = 1, λ = 10")}
PATH_DEFAULTS = {"data": "digits-binary", "n_train": 300, "n_test": 300, "steps": 3000, "every": 100, "batch_size": 64,
                 "lr": 1e-3, "seed": 0}


def split_points(data, n_train: int, n_test: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """A training set of n_train images and a held-out set of n_test others, drawn by `seed`; and the
    training images' labels (or -1). The same split for every objective."""
    if n_train < 2 or n_test < 2 or n_train + n_test > len(data):
        raise ValueError(f"{data.name} holds {len(data):,} images: choose at least 2 for training and 2 held out, "
                         f"{len(data):,} in all (got {n_train} and {n_test})")
    idx = np.random.default_rng(seed).permutation(len(data))
    train, test = data.get(idx[:n_train]), data.get(idx[n_train:n_train + n_test])
    labels = train["y"].cpu().numpy() if "y" in train else np.full(n_train, -1)
    return train["x"].float(), test["x"].float(), labels


def posterior_paths(kind: str, data_name: str = PATH_DEFAULTS["data"], n_train: int = PATH_DEFAULTS["n_train"],
                    n_test: int = PATH_DEFAULTS["n_test"], steps: int = PATH_DEFAULTS["steps"],
                    every: int = PATH_DEFAULTS["every"], batch_size: int = PATH_DEFAULTS["batch_size"],
                    lr: float = PATH_DEFAULTS["lr"], seed: int = PATH_DEFAULTS["seed"], progress=None) -> dict:
    """Train `kind` ("elbo" or "info", PATH_MODELS) with a 2-D code on n_train images of `data_name` and
    keep, at step 0 and every `every` steps, each training point's posterior (mu, logvar), the bound on
    the training and on n_test held-out images (nats per image, one z per image), and
    `posterior_stats`. `progress(step, steps)` is called at each snapshot.

    Returns {"kind", "label", "steps" (T,), "mu" (T, N, 2), "logvar" (T, N, 2), "labels" (N,),
    "elbo_train", "elbo_test", "stats": {name: (T,)}, "settings", "seconds"}."""
    import time

    from genlab.data import ImageData, load_dataset
    from genlab.device import seed_everything
    from genlab.models import GenerativeModel, StepContext, build_optimizers, make_config
    from genlab.train import apply_step

    if kind not in PATH_MODELS:
        raise ValueError(f"unknown objective '{kind}'; choose one of {', '.join(PATH_MODELS)}")
    if steps < 1 or every < 1:
        raise ValueError(f"steps and the snapshot interval must be at least 1 (got {steps} and {every})")
    t0 = time.perf_counter()
    data = load_dataset(data_name)
    x_train, x_test, labels = split_points(data, n_train, n_test, seed)
    name, opts, label = PATH_MODELS[kind]
    cfg = make_config(name, data_name, data.shape, latent_dim=2, lr=lr, **opts)
    seed_everything(seed)
    model = GenerativeModel(cfg)
    optimizers = build_optimizers(model)
    train_set = ImageData(f"{data_name}-{n_train}", (x_train * 255).round().to(torch.uint8), max_value=255.0)
    data_gen, noise_gen = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed + 1)
    snaps = {"steps": [], "mu": [], "logvar": [], "elbo_train": [], "elbo_test": []}

    def snapshot(step):
        model.eval()
        rec, mu, logvar = reconstruction_terms(model, x_train, seed + 2)
        rec_t, mu_t, logvar_t = reconstruction_terms(model, x_test, seed + 3)
        snaps["steps"].append(step)
        snaps["mu"].append(mu.numpy())
        snaps["logvar"].append(logvar.numpy())
        snaps["elbo_train"].append(ls.bound_split(rec, mu, logvar)["elbo"])
        snaps["elbo_test"].append(ls.bound_split(rec_t, mu_t, logvar_t)["elbo"])
        model.train()
        if progress is not None:
            progress(step, steps)

    snapshot(0)
    update = model.update_steps()
    for step in range(steps):
        ctx = StepContext(step, noise_gen)
        for s in update:
            for _ in range(s.repeat):
                x = train_set.sample(batch_size, data_gen)["x"]
                apply_step(model, s, s.fn(model, x, ctx), optimizers)
        if (step + 1) % every == 0 or step + 1 == steps:
            snapshot(step + 1)
    mu, logvar = np.stack(snaps["mu"]), np.stack(snaps["logvar"])
    per_step = [posterior_stats(m, lv) for m, lv in zip(mu, logvar)]
    stats = {k: np.array([p[k] for p in per_step]) for k in per_step[0]}
    settings = {"data": data_name, "n_train": n_train, "n_test": n_test, "steps": steps, "every": every,
                "batch_size": batch_size, "lr": lr, "seed": seed, "model": name, "options": opts}
    return {"kind": kind, "label": label, "steps": np.array(snaps["steps"]), "mu": mu, "logvar": logvar, "labels": labels,
            "elbo_train": np.array(snaps["elbo_train"]), "elbo_test": np.array(snaps["elbo_test"]), "stats": stats,
            "settings": settings, "seconds": round(time.perf_counter() - t0, 1)}


PATHS_FOLDER = "exploding-latent"  # the precomputed demo, under the shipped checkpoints folder
_PATH_ARRAYS = ("steps", "mu", "logvar", "labels", "elbo_train", "elbo_test")


def save_paths(runs: dict, folder) -> Path:
    """Write the runs of `posterior_paths` ({kind: run}) to FOLDER/paths.npz (posteriors in float16,
    no pickle) and FOLDER/paths.json (settings, statistics, the bound along training, where it ran)."""
    from genlab.checkpoint import atomic_write_bytes
    from genlab.device import compute_facts

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for kind, run in runs.items():
        for key in _PATH_ARRAYS:
            a = np.asarray(run[key])
            arrays[f"{kind}.{key}"] = a.astype(np.float16) if key in ("mu", "logvar") else a
    tmp = folder / ".paths.npz"
    np.savez_compressed(tmp, **arrays)
    tmp.replace(folder / "paths.npz")
    import json

    meta = {"runs": {kind: {"label": run["label"], "settings": run["settings"], "seconds": run["seconds"],
                            "stats": {k: np.asarray(v).tolist() for k, v in run["stats"].items()}}
                     for kind, run in runs.items()},
            **compute_facts(torch.device("cpu")), "torch_version": torch.__version__}
    atomic_write_bytes(folder / "paths.json", json.dumps(meta, indent=1).encode())
    return folder


def load_paths(folder) -> dict | None:
    """The runs `save_paths` wrote to FOLDER, as `posterior_paths` returns them ({kind: run}, with
    "facts": where they ran); None when the folder holds none. A damaged file is refused in one sentence."""
    import json

    folder = Path(folder)
    npz, side = folder / "paths.npz", folder / "paths.json"
    if not npz.exists() or not side.exists():
        return None
    try:
        meta = json.loads(side.read_text())
        with np.load(npz, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
        runs = {}
        for kind, info in meta["runs"].items():
            run = {key: arrays[f"{kind}.{key}"] for key in _PATH_ARRAYS}
            run["mu"], run["logvar"] = run["mu"].astype(np.float32), run["logvar"].astype(np.float32)
            run.update(kind=kind, label=info["label"], settings=info["settings"], seconds=info["seconds"],
                       stats={k: np.asarray(v) for k, v in info["stats"].items()})
            runs[kind] = run
    except (OSError, ValueError, KeyError) as e:
        raise ValueError(f"the precomputed posteriors in '{folder}' cannot be read ({e}); "
                         f"write them again with scripts/exploding_latent.py") from None
    facts = {k: meta.get(k) for k in ("device", "device_name", "cpu", "threads", "torch_version")}
    return {"runs": runs, "facts": facts}


def plane_extent(runs: dict, k: float = 1.0, floor: float = 2.5) -> float:
    """A half-width for the code plane that holds every k-σ ellipse of every run at every step (at least
    `floor`, which shows the prior's 2σ circle), so the axes stay put while the step changes."""
    lim = floor
    for run in runs.values():
        reach = np.abs(np.asarray(run["mu"], dtype=np.float64)) + k * np.exp(0.5 * np.asarray(run["logvar"], np.float64))
        lim = max(lim, float(np.nanmax(reach)))
    return 1.05 * lim


def prior_circle(points: int = 48) -> tuple[np.ndarray, np.ndarray]:
    """The N(0, I) prior's 1σ and 2σ circles in the code plane, as one NaN-separated line."""
    return ellipse_outlines(np.zeros((2, 2)), np.log(np.array([[1.0, 1.0], [4.0, 4.0]])), points=points)
