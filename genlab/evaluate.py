"""`genlab eval`: compute every measure that applies to a checkpoint and store it in its metadata.

Which measures apply follows from the model and the data:
- disentanglement (data with ground-truth factors, models with an encoder or InfoGAN's Q head);
- latent statistics (models with an encoder);
- sharpness of samples and reconstructions beside the real data's (images);
- sample quality in a domain feature space: Fréchet distance, KID, precision/recall, density/coverage
  (images; features from a label classifier trained on the same data, stated with every figure);
- mode coverage (2-D mixtures) and label coverage (labelled images, through the classifier);
- the nearest real image of each sample among all 737,280 (dSprites; genlab.metrics.nearest_real).

Flat scalar results go to the sidecar's "metrics"; how they were measured to "metrics_info".
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import torch

from genlab.checkpoint import list_checkpoints, load_checkpoint, load_classifier, save_classifier, update_metadata
from genlab.data import load_dataset
from genlab.device import pick_device
from genlab.metrics.modes import PROTOCOL_SAMPLES
from genlab.userdata import source_problem

GROUPS = ("disentanglement", "latent", "sharpness", "quality", "modes", "labels", "nearest_real", "translation")
FEATURE_CACHE = Path(os.environ.get("GENLAB_CACHE_DIR", ".cache/genlab")) / "features"


# --------------------------------------------------------------------------- helpers


@torch.no_grad()
def _batched(fn, x: torch.Tensor, device, batch: int = 1024) -> torch.Tensor:
    fmt = torch.channels_last if x.ndim == 4 else torch.contiguous_format
    outs = [fn(x[i:i + batch].to(device).contiguous(memory_format=fmt)).float().cpu() for i in range(0, len(x), batch)]
    return torch.cat(outs) if outs else torch.empty(0)


@torch.no_grad()
def represent_fn(model, device):
    """The representation the disentanglement metrics score: the encoder mean, or for InfoGAN the
    Q head's code estimates (categorical logits and continuous means)."""
    if model.has_encoder:
        return lambda imgs: _batched(lambda v: model.encode(v)[0], torch.as_tensor(imgs, dtype=torch.float32), device).numpy()
    if "disc" in model.nets and getattr(model.nets["disc"], "q_head", None) is not None:
        return lambda imgs: _batched(lambda v: model.nets["disc"](v)["q"], torch.as_tensor(imgs, dtype=torch.float32), device).numpy()
    return None


@torch.no_grad()
def generate(model, n: int, seed: int = 0, batch: int = 1024) -> torch.Tensor:
    """n samples of the model on the CPU, reproducible by seed."""
    g = torch.Generator(device=model.device).manual_seed(seed)
    return torch.cat([model.sample(min(batch, n - i), g).float().cpu() for i in range(0, n, batch)])


def applicable_groups(model, data) -> list[str]:
    if model.spec.translator:  # no samples of its own: genlab.translation measures its translations of sprites
        return ["translation"] if tuple(model.cfg.shape) == (1, 64, 64) else []
    groups = []
    has_rep = represent_fn(model, model.device) is not None
    if getattr(data, "factor_sizes", None) and has_rep:
        groups.append("disentanglement")
    if model.has_encoder:
        groups.append("latent")
    if data.kind == "images":
        groups.append("sharpness")
        # FD / precision / recall compare features of a network trained on the data's labels or factors:
        # images of yours (genlab.userdata) have neither
        if getattr(data, "labels", None) is not None or getattr(data, "factor_sizes", None):
            groups.append("quality")
        if getattr(data, "labels", None) is not None:
            groups.append("labels")
        from genlab.metrics.nearest_real import applies_to

        if applies_to(data):
            groups.append("nearest_real")
    else:
        groups.append("modes")
    return groups


def _classifier_labels(data, shuffle_seed: int | None = None) -> tuple[torch.Tensor, torch.Tensor, int, str]:
    """(images, labels, n_classes, what the labels are) to train a label classifier on: the first 20,000
    labelled images (of a shuffle seeded with `shuffle_seed`, when given), or 20,000 dSprites by shape × scale."""
    if getattr(data, "labels", None) is not None:
        n = min(len(data), 20_000)
        idx = torch.arange(n) if shuffle_seed is None else \
            torch.as_tensor(np.random.default_rng(shuffle_seed).permutation(len(data))[:n])
        b = data.get(idx)
        return b["x"].cpu(), b["y"].cpu(), data.n_classes, "class labels"
    if getattr(data, "factor_sizes", None):  # dSprites: shape × scale, 18 classes
        rng = np.random.default_rng(0)
        f = data.sample_factors(20_000, rng)
        x = torch.from_numpy(data.images_from_factors(f))
        return x, torch.from_numpy(f[:, 0] * data.factor_sizes[1] + f[:, 1]), data.factor_sizes[0] * data.factor_sizes[1], "shape × scale"
    raise ValueError(f"dataset '{data.name}' has no labels or factors to train a feature network on")


def feature_network(data, device, search=("checkpoints", "runs")):
    """A label classifier for `data`: a shipped/trained classifier checkpoint if one exists, else one
    trained now (a few hundred steps) and cached under .cache/genlab/features. Returns (clf, description)."""
    for folder in search:
        for row in list_checkpoints(folder):
            if row.ok and row.kind == "classifier" and row.data == data.name:
                clf, meta = load_classifier(row.path, device)
                return clf, f"penultimate layer of the classifier {row.path} (trained on {data.name} {meta.get('labels', 'labels')})"
    stem = FEATURE_CACHE / f"classifier-{data.name}"
    if stem.with_suffix(".safetensors").exists():
        clf, meta = load_classifier(stem, device)
        return clf, f"penultimate layer of a classifier trained on {data.name} {meta.get('labels', '')} (cached at {stem})"
    train_label_classifier(data, stem, steps=400, device=device)
    clf, meta = load_classifier(stem, device)
    return clf, f"penultimate layer of a classifier trained on {data.name} {meta.get('labels', '')} (cached at {stem})"


def train_label_classifier(data, stem, steps: int = 400, batch_size: int = 64, device="cpu", seed: int = 0,
                           train_share: float = 1.0, meta: dict | None = None) -> dict:
    """The one way genlab trains a label classifier: genlab.metrics.classifier's small conv net on
    `data`'s labels (dSprites: shape × scale), saved as a classifier checkpoint at `stem` with its
    training facts (metrics.classifier.training_facts), for the feature space of FD / KID /
    precision-recall and for label coverage. `meta` adds fields (a recipe, a name).

    train_share 1 (a recipe's classifier, the feature network): it learns from every image, and the
    accuracy is on (up to 5,000 of) them ("train_accuracy"). Below 1: the images are a shuffle seeded
    with `seed`, the rest are held out, and the accuracy is theirs ("test_accuracy", with n_train and
    n_test). Returns {"path": the stem, and the accuracy under its key}."""
    from genlab.metrics.classifier import predict_labels, train_classifier, training_facts

    if not 0 < train_share <= 1:
        raise ValueError(f"train_share must be above 0 and at most 1, got {train_share}")
    held_out = train_share < 1
    x, y, k, what = _classifier_labels(data, seed if held_out else None)
    cut = int(train_share * len(x)) if held_out else len(x)
    t0 = time.perf_counter()
    clf = train_classifier(x[:cut], y[:cut], k, steps=steps, batch_size=batch_size, device=device, seed=seed)
    facts = training_facts(steps, batch_size, seed, device, time.perf_counter() - t0)
    if held_out:
        acc = float((predict_labels(clf, x[cut:]) == y[cut:].numpy()).mean())
        info = {"labels": what, **facts, "test_accuracy": round(acc, 4), "n_train": cut, "n_test": len(x) - cut}
    else:
        n = min(len(x), 5000)  # accuracy on (part of) the training set: small sets have no held-out split
        acc = float((predict_labels(clf, x[:n]) == y[:n].numpy()).mean())
        info = {"labels": what, "train_accuracy": round(acc, 4), **facts}
    save_classifier(stem, clf.cpu(), data.name, {**info, **(meta or {})})
    return {"path": str(stem), "test_accuracy" if held_out else "train_accuracy": acc}


# --------------------------------------------------------------------------- the measures


# `genlab eval --fast`: points per metric (the defaults of numbers.md are 10,000 / 5,000).
FAST_SIZES = {"train": 1000, "eval": 500, "variance": 2000, "codes": 3000, "codes_train": 2000, "codes_test": 1000}


def _disentanglement(model, data, fast: bool, seed: int, dci_backend: str = "hist") -> tuple[dict, dict]:
    from genlab.metrics import disentanglement as dis

    rep = represent_fn(model, model.device)
    rng = np.random.default_rng(seed)
    if fast:
        f = FAST_SIZES
        res = {"beta_vae": dis.beta_vae_score(data, rep, rng, num_train=f["train"], num_eval=f["eval"]),
               "factor_vae": dis.factor_vae_score(data, rep, rng, num_train=f["train"], num_eval=f["eval"],
                                                  num_variance_estimate=f["variance"])}
        codes, factors = dis.sample_codes(data, rep, f["codes"], rng)
        res.update(dis.score_codes(codes, factors, rng=rng, num_train=f["codes_train"], num_test=f["codes_test"],
                                   dci_backend=dci_backend))
    else:
        res = dis.disentanglement_suite(data, rep, rng, dci_backend=dci_backend)
    flat = {"beta_vae": res["beta_vae"]["score"], "factor_vae": res["factor_vae"]["score"], "mig": res["mig"]["score"],
            "sap": res["sap"]["score"], "dci_disentanglement": res["dci"]["disentanglement"],
            "dci_completeness": res["dci"]["completeness"],
            "dci_informativeness": res["dci"].get("informativeness_test", res["dci"].get("informativeness")),
            "modularity": res["modularity"]["score"]}
    info = {"representation": "encoder mean" if model.has_encoder else "InfoGAN Q-head outputs",
            "sklearn_version": res.get("sklearn_version"), "fast": fast, "dci_backend": dci_backend,
            "mig_per_factor": res["mig"].get("per_factor"),
            "seconds": {k: round(v.get("seconds", 0.0), 2) for k, v in res.items() if isinstance(v, dict)}}
    return flat, info


def _latent(model, data, n: int, seed: int) -> tuple[dict, dict]:
    from genlab.failure_modes import reconstruction_terms
    from genlab.metrics import latent_stats as ls

    x = _real(data, n, seed)
    # the bound's reconstruction term (one z per image), with the encoder's mu and logvar
    rec, mu, logvar = reconstruction_terms(model, x, seed + 3)
    kl = np.asarray(ls.kl_per_dim(mu.numpy(), logvar.numpy()))
    au = ls.active_units(mu.numpy(), logvar=logvar.numpy())
    agg = ls.aggregate_posterior_stats(mu.numpy(), logvar.numpy())
    z = ls.aggregate_posterior_sample(mu, logvar, seed)
    prior = torch.randn(z.shape, generator=torch.Generator().manual_seed(seed + 1))
    holes = ls.prior_holes(z.numpy(), prior.numpy())  # samples of the aggregate posterior q(z), not just its means
    # I(x; z) under q: ≈ 0 for an ignored code (survey §2.1.2), at most log n
    mi = ls.mutual_information(mu, logvar, seed=seed + 4)
    bound = ls.bound_split(rec, mu, logvar)
    flat = {"kl_total": float(kl.sum()), "active_units": au["n_active"], "mmd_to_prior": float(ls.mmd(z, prior)),
            "aggregate_kl_to_prior": agg["gaussian_kl_to_prior"], "prior_holes": holes["share"],
            "mutual_information": mi["mi"], "rec_nll": bound["rec"], "elbo": bound["elbo"]}
    return flat, {"kl_per_dim": kl.tolist(), "n": n, "mi_ceiling": mi["log_n"],
                  "bound": f"one z ~ q(z|x) per image, the decoder's {model.cfg.resolved_likelihood} likelihood"}


def _real(data, n: int, seed: int) -> torch.Tensor:
    return data.sample(n, torch.Generator().manual_seed(seed))["x"].float()


def _sharpness(model, data, n: int, seed: int) -> tuple[dict, dict]:
    from genlab.metrics.sharpness import sharpness_report

    real = _real(data, n, seed)
    sets = {"real": real, "samples": generate(model, n, seed)}
    if model.has_encoder:
        sets["reconstructions"] = _batched(model.reconstruct, real, model.device)
    flat, spectra = {}, {}
    for name, imgs in sets.items():
        rep = sharpness_report(imgs)
        for m in ("laplacian_variance", "gradient_magnitude", "high_frequency_energy"):
            flat[f"{m}_{name}"] = rep[m]["mean"]
        spectra[name] = np.asarray(rep["radial_power_spectrum"]["power"]).tolist()
    return flat, {"radial_power_spectrum": spectra, "n": n}


def _quality(model, data, n: int, seed: int) -> tuple[dict, dict]:
    from genlab.metrics import quality as q
    from genlab.metrics.classifier import classifier_features

    clf, desc = feature_network(data, model.device)
    real = classifier_features(clf, _real(data, n, seed))
    fake = classifier_features(clf, generate(model, n, seed + 7))
    flat = {"fd": q.frechet_distance(real, fake)}
    k = q.kid(real, fake)
    flat["kid"] = k["mean"] if isinstance(k, dict) else float(k)
    flat.update({k2: v for k2, v in q.precision_recall(real, fake).items() if k2 != "k"})
    flat.update({k2: v for k2, v in q.density_coverage(real, fake).items() if k2 != "k"})
    real2 = classifier_features(clf, _real(data, n, seed + 99))
    flat["fd_real_vs_real"] = q.frechet_distance(real, real2)  # the noise floor at this n
    return flat, {"feature_space": desc, "n": n}


def _labels(model, data, n: int, seed: int) -> tuple[dict, dict]:
    from genlab.metrics.classifier import predict_labels
    from genlab.metrics.modes import label_coverage

    clf, desc = feature_network(data, model.device)
    pred = predict_labels(clf, generate(model, n, seed + 3))
    real_dist = torch.bincount(data.labels.cpu(), minlength=data.n_classes).numpy()
    res = label_coverage(pred, data.n_classes, real_dist)
    flat = {"labels_covered": res.get("modes_covered"), "label_kl_to_real": res.get("kl_to_real")}
    return flat, {"label_histogram": np.asarray(res["histogram"]).tolist(), "classifier": desc, "n": n}


def _nearest_real(model, data, n: int, seed: int) -> tuple[dict, dict]:
    from genlab.metrics.nearest_real import measure_model

    return measure_model(model, n, seed)


def _modes(model, data, n: int, seed: int, batch_size: int | None = None, fast: bool = False) -> tuple[dict, dict]:
    from genlab.metrics.modes import mode_coverage
    from genlab.rejection import check_drs, rejection_sample

    weights = getattr(data, "weights", None)  # your own points: the modes' shares found by clustering

    def cover(x):
        return mode_coverage(x, data.centres, data.std, weights=weights)

    res = cover(generate(model, n, seed).numpy())
    flat = {"modes_captured": res["modes_captured"], "n_modes": res["n_modes"], "high_quality": res["high_quality"],
            "reverse_kl": res["reverse_kl"]}
    info = {"histogram": res["histogram"], "n": n, "protocol": "PacGAN/VEEGAN: within 3 std of the nearest mode"}
    if getattr(data, "modes", None):
        info["modes_from"] = data.modes["method"]
    if model.average is not None:
        # the samples above come from the generator's moving average; the same z through the
        # generator itself shows what averaging bought
        with model.without_average():
            own = cover(generate(model, n, seed).numpy())
        flat.update({"generator_modes_captured": own["modes_captured"], "generator_high_quality": own["high_quality"],
                     "generator_reverse_kl": own["reverse_kl"]})
        info["generator_itself"] = {"histogram": own["histogram"]}
    try:
        check_drs(model)
    except ValueError:
        return flat, info
    # the same measures on samples kept by discriminator rejection sampling (exact rule, γ = 0)
    # --fast stops after 1 million proposals (a grid GAN keeps about 1 in 3,000: ~300 samples, a
    # minute) instead of drawing until 2,500 are kept (up to 10 million, ~10 minutes on one core)
    kept, drs = rejection_sample(model, n, gamma=0.0, seed=seed, score_batch=int(batch_size or 100),
                                 max_rounds=10 if fast else 100)
    r = cover(kept.cpu().numpy())
    flat.update({"drs_modes_captured": r["modes_captured"], "drs_high_quality": r["high_quality"],
                 "drs_reverse_kl": r["reverse_kl"], "drs_acceptance": drs["acceptance"], "drs_kept": drs["kept"]})
    info["drs"] = {**drs, "histogram": r["histogram"], "method": "Azadi et al. 2019, the GAN's own discriminator as trained"}
    return flat, info


TRANSLATION_SPRITES = 200  # fresh sprites each way for a translator's measures


def _translation(model, n: int, seed: int):
    """A squares ↔ ellipses translator's measures (genlab.translation.measure), both directions flattened
    as a2b_* and b2a_*. Its sprites are those of seed + 1 (seed 1 by default, the sprites the shipped
    CycleGAN was measured on while it trained)."""
    from genlab.translation import measure

    rows = measure(model, n=n, seed=seed + 1)
    flat = {f"{d}_{k}": float(v) for d, row in rows.items() for k, v in row.items() if k != "n"}
    return flat, {"n": n, "sprites_seed": seed + 1, "method": "genlab.translation.measure, fresh sprites each way"}


def evaluate_checkpoint(path, metrics: list[str] | None = None, device: str = "auto", fast: bool = False,
                        seed: int = 0, store: bool = True, dci_backend: str = "hist") -> dict:
    """Measure a checkpoint. `metrics`: groups to compute (default: all that apply); `fast`: small
    samples for a quick look (not comparable with published figures); `dci_backend`: DCI's tree
    backend (see genlab.metrics.disentanglement.dci). Stores the results in the checkpoint's
    sidecar unless store=False. Returns {"metrics": flat scalars, "info": details}."""
    dev = pick_device(device)
    model, meta = load_checkpoint(path, device=dev)
    if model.spec.translator and tuple(model.cfg.shape) != (1, 64, 64):
        raise ValueError(f"'{path}' is an image translator ({model.cfg.model}) of "
                         f"{'×'.join(map(str, model.cfg.shape))} images: it draws no samples, and its translation "
                         f"measures need 1×64×64 sprites; translate your images with genlab translate")
    if model.is_image:
        # channels_last convolutions: encoding is most of the disentanglement metrics' time, and
        # 4,096 dSprites images went through the Burgess encoder in 2.7 s instead of 4.2 s (fp32,
        # one thread of the 2-core CPU); the fast scores of dsprites-beta-vae-b2 came out identical
        model = model.to(memory_format=torch.channels_last)
    data = load_dataset(model.cfg.data, path=(meta.get("recipe") or {}).get("data_path"))
    data_note = source_problem(meta, data)  # your own data gone or changed since training
    todo = applicable_groups(model, data)
    if metrics:
        unknown = [m for m in metrics if m not in GROUPS]
        if unknown:
            raise ValueError(f"unknown measure group(s) {', '.join(unknown)}; choose from {', '.join(GROUPS)}")
        skipped = [m for m in metrics if m not in todo]
        if skipped:
            raise ValueError(f"{', '.join(skipped)} do(es) not apply to a '{model.cfg.model}' model on {model.cfg.data}; "
                             f"these do: {', '.join(todo)}")
        todo = [m for m in todo if m in metrics]
    n_img = 1000 if fast else 5000
    flat, info = {}, {}
    for group in todo:
        t0 = time.perf_counter()
        if group == "disentanglement":
            f, i = _disentanglement(model, data, fast, seed, dci_backend)
        elif group == "latent":
            f, i = _latent(model, data, n_img, seed)
        elif group == "sharpness":
            f, i = _sharpness(model, data, min(n_img, 2000), seed)
        elif group == "quality":
            f, i = _quality(model, data, n_img, seed)
        elif group == "labels":
            f, i = _labels(model, data, n_img, seed)
        elif group == "nearest_real":
            f, i = _nearest_real(model, data, 300 if fast else 1000, seed)
        elif group == "translation":
            f, i = _translation(model, 100 if fast else TRANSLATION_SPRITES, seed)
        else:
            f, i = _modes(model, data, PROTOCOL_SAMPLES, seed, meta.get("batch_size"), fast)
        i["seconds"] = round(time.perf_counter() - t0, 2)
        flat.update({k: (float(v) if isinstance(v, (float, np.floating)) else v) for k, v in f.items()})
        info[group] = i
    info["settings"] = {"fast": bool(fast), "seed": int(seed), "device": str(dev), "n_images": n_img}
    if data_note:
        info["data_note"] = data_note
    if store:
        update_metadata(path, metrics=flat, metrics_info=info)
    return {"checkpoint": str(path), "model": model.cfg.model, "data": model.cfg.data, "metrics": flat, "info": info}
