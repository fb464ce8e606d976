"""Comparisons across checkpoints for the app's pages: β sweeps, VAE blur against GAN sharpness,
feature spaces for sample-quality numbers, and small training runs for empty states.

No Streamlit here: pages call these functions and cache their results.

    groups = traversal_groups(rows)                  # β sweeps of one family on one dataset
    report = compare_models({"vae": m1, "gan": m2}, x_real, n=500, space=random_projection_space(shape))
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from genlab import latent
from genlab.checkpoint import CheckpointRow
from genlab.models import MODELS

FAMILY_ORDER = {"vae": 0, "hybrid": 1, "gan": 2}
FAMILY_NAMES = {"vae": "VAE family", "hybrid": "hybrid", "gan": "GAN family", "translation": "image translation"}

# Disentanglement scores as `genlab eval` stores them, with the names the page shows.
SCORE_LABELS = {
    "beta_vae": "BetaVAE score", "factor_vae": "FactorVAE score", "mig": "MIG", "sap": "SAP",
    "dci_disentanglement": "DCI disentanglement", "dci_completeness": "DCI completeness",
    "dci_informativeness": "DCI informativeness", "modularity": "modularity",
}
_BOOKKEEPING = {"seconds", "sampling_seconds", "n_train", "n_test", "sklearn_version", "k", "subsets",
                "subset_size", "threshold", "n_codes", "n_prior", "std", "train_accuracy"}


# --------------------------------------------------------------------------- checkpoint rows


def good_rows(rows: list[CheckpointRow]) -> list[CheckpointRow]:
    """Rows of `list_checkpoints` that could be read (generative models and classifiers)."""
    return [r for r in rows if r.ok]


def model_rows(rows: list[CheckpointRow]) -> list[CheckpointRow]:
    """Readable rows of generative models that sample from a code (not label classifiers, not translators)."""
    return [r for r in good_rows(rows) if r.kind == "model" and not is_translator_row(r)]


def translator_rows(rows: list[CheckpointRow]) -> list[CheckpointRow]:
    """Readable rows of image translators (CycleGAN), newest first."""
    return _newest_first([r for r in good_rows(rows) if r.kind == "model" and is_translator_row(r)])


def is_translator_row(row: CheckpointRow) -> bool:
    spec = MODELS.get(row.model)
    return spec is not None and spec.translator


def config_of(row: CheckpointRow) -> dict:
    return row.config


def family_of(row: CheckpointRow) -> str:
    """"vae", "gan" or "hybrid" (from the model registry); "other" for a model this genlab does not know."""
    spec = spec_of(row)
    return spec.family if spec else "other"


def is_image_row(row: CheckpointRow) -> bool:
    return len(config_of(row).get("shape", [])) == 3


def spec_of(row: CheckpointRow):
    """The ModelSpec of a row's model, or None for a model this genlab does not know."""
    return MODELS.get(row.model)


def in_beta_sweep(row: CheckpointRow) -> bool:
    """A model whose sweeps vary β (its ModelSpec's knob): the traversal page's β slider gathers them."""
    spec = spec_of(row)
    return spec is not None and spec.knob == "beta"


def has_encoder_row(row: CheckpointRow) -> bool:
    spec = spec_of(row)
    return spec is not None and spec.encoder


def z_size(row: CheckpointRow) -> int:
    """The size of what the generator or decoder reads: z with InfoGAN's codes, or a text-to-image
    GAN's z with the caption's embedding φ(t)."""
    c = config_of(row)
    text = int(c.get("text_dim", 0)) if row.model in MODELS and MODELS[row.model].text else 0
    return int(c.get("latent_dim", 0)) + int(c.get("n_categorical", 0)) + int(c.get("n_continuous", 0)) + text


def label_of(row: CheckpointRow) -> str:
    """A short readable name: model, β where it matters, dataset, steps."""
    c = config_of(row)
    beta = f" β={c.get('beta', 1.0):g}" if in_beta_sweep(row) else ""
    steps = f", {row.steps} steps" if row.steps else ""
    return f"{row.name or '?'} ({row.model}{beta} · {row.data}{steps})"


def _newest_first(rows: list[CheckpointRow]) -> list[CheckpointRow]:
    return sorted(rows, key=lambda r: (-(r.steps or 0), r.path))


def seed_of(row: CheckpointRow) -> int:
    return int(row.meta.get("seed", 0) or 0)


def study_of(row: CheckpointRow) -> str | None:
    """The study a checkpoint is a trial of (genlab.study writes it into the recipe), else None."""
    return (row.meta.get("recipe") or {}).get("study")


def median_seed(seeds: list[dict]) -> dict:
    """The seed whose MIG is the median of its β's seeds (the lower middle for an even count); seeds
    with no MIG stored come last. `seeds`: [{"seed", "row", "mig"}]."""
    scored = sorted((s for s in seeds if s.get("mig") is not None), key=lambda s: (s["mig"], s["seed"]))
    if not scored:
        return min(seeds, key=lambda s: s["seed"])
    return scored[(len(scored) - 1) // 2]


def traversal_groups(rows: list[CheckpointRow]) -> list[dict]:
    """Checkpoints grouped for the traversal page.

    A β sweep is every VAE / β-VAE checkpoint on one dataset with one latent size, or the trials of
    one study (a study's trials form their own sweep, apart from single runs). Each β holds every seed
    trained at it (a β and seed that appear twice keep the run with the most steps); its default
    member is the seed with the median MIG. Every other image checkpoint is a group of its own.
    Each group: id (for URLs), label, data, latent_dim, sweep (bool) and members sorted by β:
    {"beta": float | None, "row": the default seed's row, "seeds": [{"seed", "row", "mig"}] by seed}.
    Sweeps of a study come first, then those with the most βs."""
    sweeps: dict[tuple, dict[float, dict[int, dict]]] = {}
    singles = []
    for r in _newest_first(model_rows(rows)):
        if not is_image_row(r):
            continue
        if in_beta_sweep(r):
            beta = float(config_of(r).get("beta", 1.0))
            key = (study_of(r), r.data, r.latent_dim)
            sweeps.setdefault(key, {}).setdefault(beta, {}).setdefault(seed_of(r), r)
        else:
            singles.append(r)
    groups = []
    for (study, data, d), by_beta in sweeps.items():
        members = []
        for b in sorted(by_beta):
            seeds = [{"seed": sd, "row": by_beta[b][sd], "mig": scalar_scores(by_beta[b][sd].metrics).get("mig")}
                     for sd in sorted(by_beta[b])]
            members.append({"beta": b, "row": median_seed(seeds)["row"], "seeds": seeds})
        n_seeds = max(len(m["seeds"]) for m in members)
        steps = sorted({m_s["row"].steps or 0 for m in members for m_s in m["seeds"]})
        length = f"{steps[0]:,} steps" if len(steps) == 1 else f"{steps[0]:,}–{steps[-1]:,} steps"
        seeds_txt = f" × {n_seeds} seeds" if n_seeds > 1 else ""
        gid = f"study:{study}:{data}:z{d}" if study else f"beta-vae:{data}:z{d}"
        label = (f"β-VAE on {data}, study {study}: {len(members)} β{seeds_txt}, {length}" if study
                 else f"β-VAE on {data}, z = {d} ({len(members)} β{seeds_txt}, {length})")
        groups.append({"id": gid, "label": label, "data": data, "latent_dim": d, "sweep": True, "study": study,
                       "members": members})
    groups.sort(key=lambda g: (g["study"] is None, -len(g["members"]), g["id"]))
    for r in sorted(singles, key=lambda r: (FAMILY_ORDER.get(family_of(r), 3), r.model, r.path)):
        groups.append({"id": r.path, "label": label_of(r), "data": r.data, "latent_dim": r.latent_dim,
                       "sweep": False, "study": None, "members": [{"beta": None, "row": r,
                                                  "seeds": [{"seed": seed_of(r), "row": r, "mig": None}]}]})
    return groups


def _steps_text(steps: int | None) -> str:
    if not steps:
        return "? steps"
    return f"{steps / 1000:g}k steps" if steps >= 1000 and steps % 100 == 0 else f"{steps:,} steps"


def steps_labels(members: list[dict]) -> list[str]:
    """Each β's training length as a point label ('10k steps', '600 steps'), in the members' order."""
    return [_steps_text(m["row"].steps) for m in members]


def steps_differ(members: list[dict]) -> str | None:
    """When the βs of a sweep (each β's shown run) trained for different numbers of steps, one sentence that
    says which, since a longer run reconstructs better at any β; None when they all trained as long."""
    steps = [m["row"].steps or 0 for m in members]
    if len(set(steps)) < 2:
        return None
    common = max(set(steps), key=lambda s: (steps.count(s), -s))
    odd = [(m["beta"], s) for m, s in zip(members, steps) if s != common]
    if steps.count(common) > 1:
        which = "; ".join(f"β = {b:g} trained for {s:,} steps" for b, s in odd)
        head = f"Not every β trained as long: {which}, the others for {common:,}."
    else:
        head = "Every β trained for a different number of steps (on the points)."
    return (head + " A longer run reconstructs better and uses its latents differently at any β, so part of "
            "the difference between these points is training length, not β.")


def find_in_groups(groups: list[dict], path: str) -> tuple[dict, dict, dict] | None:
    """(group, member, seed entry) holding the checkpoint at `path`, or None (a deep link's ?ckpt=)."""
    for g in groups:
        for m in g["members"]:
            for s in m["seeds"]:
                if s["row"].path == path:
                    return g, m, s
    return None


# Published ranges over seeds and β for β-VAE on dSprites (Locatello et al. 2019, the large study in
# disentanglement_lib, 300k steps; approximate, read off their figures): drawn as bands beside our seeds.
PUBLISHED_RANGES = {"mig": (0.05, 0.35), "factor_vae": (0.55, 0.8), "beta_vae": (0.75, 0.9)}
POSITION_FACTORS = ("posX", "posY")
SEPARATED_MIG = 0.2  # a position counts as held by a latent of its own when its MIG (top − second share) ≥ this


def positions_separated(mig_per_factor: list | None, factor_names: list[str]) -> bool | None:
    """Did a model put x and y each in a latent of its own? Both positions' per-factor MIG ≥ SEPARATED_MIG
    (the best latent holds at least that much more of the position's entropy than the runner-up).
    None when the per-factor MIG is not known."""
    if not mig_per_factor:
        return None
    idx = [factor_names.index(f) for f in POSITION_FACTORS if f in factor_names]
    if len(idx) != 2 or max(idx) >= len(mig_per_factor):
        return None
    vals = [mig_per_factor[i] for i in idx]
    return all(v is not None and v >= SEPARATED_MIG for v in vals)


def seed_spread(members: list[dict], factor_names: list[str]) -> list[dict]:
    """Per β: seeds, how many have a MIG stored, their median, and how many separated the positions."""
    out = []
    for m in members:
        migs = [s["mig"] for s in m["seeds"] if s["mig"] is not None]
        sep = [positions_separated((s["row"].meta.get("metrics_info") or {}).get("disentanglement", {})
                                   .get("mig_per_factor"), factor_names) for s in m["seeds"]]
        out.append({"beta": m["beta"], "seeds": len(m["seeds"]), "scored": len(migs),
                    "median_mig": float(np.median(migs)) if migs else None,
                    "separated": sum(1 for v in sep if v), "known": sum(1 for v in sep if v is not None)})
    return out


PUBLISHED_STEPS = 300_000  # Locatello et al. (2019) train every dSprites model for 300,000 steps


def sweep_length_note(spread: list[dict], table: list[dict]) -> str | None:
    """One sentence on how long a sweep's seeds trained against the published length, and the median MIG
    of its smallest and largest β with the ratio between them, so the page says what the runs show at the
    length reached. None when fewer than two βs have a MIG."""
    scored = [s for s in spread if s["median_mig"] is not None]
    steps = [t["steps"] for t in table if t.get("steps")]
    if len(scored) < 2 or not steps:
        return None
    lo, hi = scored[0], scored[-1]
    span = f"{min(steps):,}" if min(steps) == max(steps) else f"{min(steps):,}–{max(steps):,}"
    ratio = (f", {hi['median_mig'] / lo['median_mig']:.1f}× β = {lo['beta']:g}'s" if lo["median_mig"] > 0 else "")
    return (f"These runs trained for {span} steps, against the {PUBLISHED_STEPS:,} of the published figures: "
            f"at that length the median MIG is {lo['median_mig']:.2f} at β = {lo['beta']:g} ({lo['scored']} seeds) and "
            f"{hi['median_mig']:.2f} at β = {hi['beta']:g} ({hi['scored']} seeds){ratio}.")


def scalar_scores(metrics: dict | None) -> dict[str, float]:
    """Flatten stored metrics into {name: number}.

    A number stays as it is; a dict with "score" gives that score; any other dict is flattened
    one level as name_key (so DCI becomes dci_disentanglement, dci_completeness, …); a family
    level such as {"disentanglement": {"mig": …}} is looked through. Lists and bookkeeping
    (seconds, sample sizes, versions) are dropped."""
    out: dict[str, float] = {}

    def walk(prefix: str, value):
        if isinstance(value, bool):
            return
        if isinstance(value, (int, float)):
            if np.isfinite(value):
                out[prefix] = float(value)
            return
        if isinstance(value, dict):
            if isinstance(value.get("score"), (int, float)) and not isinstance(value.get("score"), bool):
                out[prefix] = float(value["score"])
                return
            for k, v in value.items():
                if k in _BOOKKEEPING:
                    continue
                name = k if prefix in ("", "disentanglement", "quality", "sharpness", "latent", "modes") else f"{prefix}_{k}"
                walk(name, v)

    for k, v in (metrics or {}).items():
        if k not in _BOOKKEEPING:
            walk(k, v)
    return out


def sweep_scores(members: list[dict]) -> list[dict]:
    """One row per seed of every β of a sweep: beta, seed, name, path, steps, and the disentanglement
    scores stored in its metadata["metrics"] (whatever is there; missing scores are absent)."""
    table = []
    for m in members:
        for sd in m.get("seeds") or [{"seed": seed_of(m["row"]), "row": m["row"]}]:
            r = sd["row"]
            scores = scalar_scores(r.metrics or r.meta.get("metrics"))
            row = {"beta": m["beta"], "seed": sd["seed"], "name": r.name, "path": r.path, "steps": r.steps}
            row.update({k: v for k, v in scores.items() if k in SCORE_LABELS})
            table.append(row)
    return table


def score_medians(table: list[dict], key: str) -> list[tuple[float, float]]:
    """(β, median over seeds) of one score, in β order."""
    by: dict[float, list[float]] = {}
    for t in table:
        if key in t:
            by.setdefault(t["beta"], []).append(t[key])
    return [(b, float(np.median(v))) for b, v in sorted(by.items())]


# --------------------------------------------------------------------------- blur vs sharpness


def lineup(rows: list[CheckpointRow], data: str) -> list[CheckpointRow]:
    """Image checkpoints on `data`, VAE family first, then hybrids, then GANs."""
    chosen = [r for r in model_rows(rows) if is_image_row(r) and r.data == data]
    return sorted(chosen, key=lambda r: (FAMILY_ORDER.get(family_of(r), 3), r.model, -(r.steps or 0), r.path))


def default_lineup(rows: list[CheckpointRow], limit: int = 6) -> list[CheckpointRow]:
    """One checkpoint per model kind (the one trained longest), at most `limit`: the families take
    turns, each offering its longest-trained kind first, so a lineup always holds a VAE and a GAN
    when there are both; shown VAE family first, then hybrids, then GANs, longest-trained first."""
    def steps(r):
        return r.steps or 0

    best: dict[str, CheckpointRow] = {}
    for r in rows:
        if r.model not in best or steps(r) > steps(best[r.model]):
            best[r.model] = r

    def key(r):
        return FAMILY_ORDER.get(family_of(r), 3), -steps(r), r.model

    queues: dict[int, list[CheckpointRow]] = {}
    for r in sorted(best.values(), key=key):
        queues.setdefault(key(r)[0], []).append(r)
    out: list[CheckpointRow] = []
    while len(out) < limit and any(queues.values()):
        for fam in sorted(queues):
            if queues[fam] and len(out) < limit:
                out.append(queues[fam].pop(0))
    return sorted(out, key=key)


def latent_pairs(rows: list[CheckpointRow]) -> list[tuple[CheckpointRow, CheckpointRow]]:
    """(decoder, generator) pairs on one dataset with the same z size and a plain N(0, I) latent:
    the decoder from a VAE-family or hybrid checkpoint, the generator from a GAN."""
    def plain(r):  # no InfoGAN codes, no caption: z alone is the whole input
        c = config_of(r)
        return not c.get("n_categorical") and not c.get("n_continuous") and not (r.model in MODELS and MODELS[r.model].text)

    decs = [r for r in model_rows(rows) if is_image_row(r) and has_encoder_row(r) and plain(r)]
    gens = [r for r in model_rows(rows) if is_image_row(r) and family_of(r) == "gan" and plain(r)]
    return [(d, g) for d in decs for g in gens if d.data == g.data and z_size(d) == z_size(g)]


@torch.no_grad()
def model_images(model, x_real, n: int, seed: int = 0) -> dict:
    """Samples (n from the prior, seeded) and, for models with an encoder, reconstructions of x_real."""
    g = torch.Generator(device=model.device).manual_seed(int(seed))
    z = model.prior(int(n), g)
    out = {"samples": latent.decode_codes(model, z)}
    out["recons"] = latent.reconstruct_batch(model, x_real) if model.has_encoder else None
    return out


def sharpness_rows(image_sets: dict[str, np.ndarray]) -> tuple[list[dict], dict]:
    """Sharpness of each named image set (genlab.metrics.sharpness): a table row per set (mean
    and std of the Laplacian variance, Sobel gradient magnitude and high-frequency share) and the
    radially averaged power spectra {name: (freqs, power)}."""
    from genlab.metrics.sharpness import sharpness_report

    rows, spectra = [], {}
    for name, imgs in image_sets.items():
        rep = sharpness_report(imgs)
        rows.append({"images": name,
                     "Laplacian variance": rep["laplacian_variance"]["mean"],
                     "Laplacian variance (std)": rep["laplacian_variance"]["std"],
                     "gradient magnitude": rep["gradient_magnitude"]["mean"],
                     "high-frequency share": rep["high_frequency_energy"]["mean"]})
        spectra[name] = (rep["radial_power_spectrum"]["freqs"], rep["radial_power_spectrum"]["power"])
    return rows, spectra


@dataclass
class FeatureSpace:
    """A map from images (N, C, H, W) in [0, 1] to feature vectors, with the sentence that says what it is."""

    name: str
    description: str
    fn: Callable[[np.ndarray], np.ndarray]

    def __call__(self, images) -> np.ndarray:
        return np.asarray(self.fn(np.asarray(images, dtype=np.float32)), dtype=np.float64)


def random_projection_space(shape: tuple, dim: int = 64, seed: int = 0) -> FeatureSpace:
    """Pixels times a fixed Gaussian matrix (seeded, scaled by 1/√pixels): a feature space that
    needs no training. It keeps distances between images roughly (Johnson–Lindenstrauss) but
    knows nothing of what the images show."""
    n_pix = int(np.prod(shape))
    w = np.random.default_rng(seed).standard_normal((n_pix, dim)) / np.sqrt(n_pix)
    return FeatureSpace("random projection",
                        f"a fixed random projection of the {n_pix} pixels to {dim} numbers (seed {seed})",
                        lambda x: x.reshape(len(x), -1).astype(np.float64) @ w)


def classifier_space(clf, dataset: str) -> FeatureSpace:
    """The penultimate layer of genlab's small classifier trained on `dataset`."""
    from genlab.metrics.classifier import classifier_features

    return FeatureSpace("classifier",
                        f"the {clf.feature_dim}-number penultimate layer of genlab's small classifier trained on "
                        f"{dataset} (not Inception: compare within genlab only)",
                        lambda x: classifier_features(clf, x))


def quality_rows(real_features: np.ndarray, features: dict[str, np.ndarray]) -> list[dict]:
    """Precision and recall (k = 3), density and coverage (k = 5) and the Fréchet distance of each
    named feature set against the real features (genlab.metrics.quality)."""
    from genlab.metrics.quality import density_coverage, frechet_distance, precision_recall

    rows = []
    for name, f in features.items():
        pr = precision_recall(real_features, f, k=3)
        dc = density_coverage(real_features, f, k=5)
        rows.append({"images": name, "precision": pr["precision"], "recall": pr["recall"],
                     "density": dc["density"], "coverage": dc["coverage"],
                     "Fréchet distance": frechet_distance(real_features, f)})
    return rows


def compare_models(models: dict, x_real, n: int = 500, seed: int = 0, space: FeatureSpace | None = None,
                   keep: int = 16) -> dict:
    """The blur-vs-sharpness comparison for named models on one dataset.

    `x_real` (N, C, H, W) real images; the first n are measured (and reconstructed), the next n,
    when there, serve as a held-out real reference for the quality numbers. Returns the first
    `keep` images of each set for display (real, and {name: {"samples", "recons"}}), sharpness
    rows and spectra for the real images, each model's samples and its reconstructions, and
    (with a feature space) quality rows of every set against the real images, with the space's
    name and description."""
    x_real = np.asarray(x_real.cpu() if isinstance(x_real, torch.Tensor) else x_real, dtype=np.float32)
    n = min(int(n), len(x_real))
    images = {name: model_images(m, torch.from_numpy(x_real[:n]), n, seed) for name, m in models.items()}
    sets = {"real": x_real[:n]}
    for name, imgs in images.items():
        sets[f"{name}: samples"] = imgs["samples"]
        if imgs["recons"] is not None:
            sets[f"{name}: reconstructions"] = imgs["recons"]
    sharp, spectra = sharpness_rows(sets)
    shown = {name: {k: (None if v is None else v[:keep]) for k, v in imgs.items()} for name, imgs in images.items()}
    out = {"real": x_real[:keep], "images": shown, "sharpness": sharp, "spectra": spectra, "quality": [],
           "feature_space": None, "n": n}
    if space is not None:
        real_f = space(x_real[:n])
        feats = {k: space(v) for k, v in sets.items() if k != "real"}
        if len(x_real) >= 2 * n:  # real against real: what "as good as the data" scores look like
            feats = {"real (held out)": space(x_real[n:2 * n]), **feats}
        out["quality"] = quality_rows(real_f, feats)
        out["feature_space"] = {"name": space.name, "description": space.description}
    return out


def feature_space_for(kind: str, shape: tuple, dataset: str, classifier_path: str | None = None) -> FeatureSpace:
    """"classifier" (needs the path of a classifier checkpoint) or "random projection"."""
    if kind == "classifier":
        if not classifier_path:
            raise ValueError(f"no classifier checkpoint for {dataset}; train one first")
        from genlab.checkpoint import load_classifier

        clf, _ = load_classifier(classifier_path)
        return classifier_space(clf, dataset)
    if kind == "random projection":
        return random_projection_space(shape)
    raise ValueError(f"unknown feature space '{kind}'; use classifier or random projection")


def short_name(row: CheckpointRow) -> str:
    """model: run folder, e.g. "vae: quick-vae-digits" (for chart legends)."""
    return f"{row.model}: {Path(row.path).parent.name or row.name}"


# --------------------------------------------------------------------------- feature classifiers


def find_classifier(rows: list[CheckpointRow], dataset: str) -> CheckpointRow | None:
    """The classifier checkpoint (kind "classifier", genlab.checkpoint.save_classifier) for
    `dataset` trained longest, or None."""
    found = [r for r in good_rows(rows) if r.kind == "classifier" and r.data == dataset]
    return _newest_first(found)[0] if found else None


# --------------------------------------------------------------------------- small runs for empty states


def train_quick(model: str, data: str, steps: int, out_root, batch_size: int = 64, seed: int = 0,
                name: str | None = None, **overrides) -> Path:
    """Train a small `model` on `data` with genlab.train.fit into OUT_ROOT/<name>-<time>; returns the
    checkpoint stem. For empty states in the app: a few hundred steps, enough to see something."""
    from genlab.data import load_dataset
    from genlab.models import make_config
    from genlab.train import TrainConfig, fit

    ds = load_dataset(data)
    cfg = make_config(model, data, ds.shape, **overrides)
    name = name or f"{model}-{data}"
    out = Path(out_root) / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    tc = TrainConfig(steps=int(steps), batch_size=int(batch_size), seed=seed, out=str(out), ckpt_every=int(steps),
                     log_every=max(1, int(steps) // 10), name=name)
    fit(cfg, ds, tc, progress=False)
    return out / "model"


# --------------------------------------------------------------------------- a run's timeline


def timeline(row: CheckpointRow) -> list[dict]:
    """The snapshots a run folder keeps along its training (TrainConfig.snapshot_every), then the
    checkpoint itself if it is later: [{"step", "path", "capacity" (C in nats, for a capacity-annealed
    VAE, else None)}] in step order. Empty when the run kept no snapshots."""
    from genlab.train import list_snapshots

    snaps = list_snapshots(Path(row.path).parent)
    if not snaps:
        return []
    from genlab.objectives import capacity_at

    cfg = config_of(row)
    spec = spec_of(row)
    annealed = spec is not None and spec.capacity_schedule

    def capacity(step):
        if not annealed:
            return None
        return capacity_at(step, float(cfg.get("capacity", 0.0)), int(cfg.get("capacity_steps", 1)))

    out = [{"step": step, "path": str(stem), "capacity": capacity(step)} for step, stem in snaps]
    final = int(row.steps or 0)
    if final > out[-1]["step"]:
        out.append({"step": final, "path": row.path, "capacity": capacity(final)})
    return out
