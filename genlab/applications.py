"""GAN applications on dSprites (survey §3.2), measured against ground truth: text to image.

A caption (genlab.captions) names a shape, a size and a place; whether a sample shows them is read by
the *caption reader*, genlab.metrics.classifier's small conv net with four heads of three classes
(shape, size, column, row), trained on dSprites images with their known factors. Its accuracy on
held-out real sprites is stored with it and printed beside every number it reads.

    reader = factor_reader()                     # trained once (about a minute), cached as a checkpoint
    res = caption_agreement(model, reader, ["a large heart at the bottom left"], n=64)

`sample_images` draws N samples of any generator, with a caption for a text-conditioned one, and
`write_samples` writes them as a .png grid or an .npz holding `images` (N×C×H×W floats in [0, 1]).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from genlab import captions as C
from genlab import dsprites

HEADS = ("shape", "size", "column", "row")  # the reader's heads, three classes each, in this order
HEAD_NAMES = {"shape": C.SHAPES, "size": C.SIZES, "column": C.COLUMNS, "row": C.ROWS}
READER_LABELS = "caption bins: shape, size, column, row"
READER_NAME = "dsprites-caption-reader"


# --------------------------------------------------------------------------- the caption reader


def reader_targets(factors) -> np.ndarray:
    """(N, 4) bins the reader predicts: shape, size, column (from posX), row (from posY)."""
    b = C.bins_of(factors)
    return b[:, [0, 1, 3, 4]]


def train_factor_reader(steps: int = 2000, batch_size: int = 64, seed: int = 0, width: int = 32, lr: float = 1e-3,
                        n_test: int = 2000, pool: int = 4):
    """genlab.metrics.classifier.SmallConvClassifier with 12 outputs read as four heads of three
    classes (HEADS), trained by the sum of the heads' cross-entropies on freshly rendered random
    sprites (Adam). `pool`: the side of the average-pooled feature map the FC layer reads (4: cells of
    16×16 pixels, which blur a small sprite's outline; 8 or 16 keep more of it). Returns (classifier
    in eval mode, facts: per-head accuracy on n_test other random sprites, training facts)."""
    from genlab.metrics.classifier import SmallConvClassifier, training_facts

    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        clf = SmallConvClassifier(1, 3 * len(HEADS), width=width, feature_dim=64, pool=pool)
        opt = torch.optim.Adam(clf.parameters(), lr=lr)
        clf.train()
        for _ in range(steps):
            f = C.random_factors(batch_size, rng)
            x = _render(f)
            y = torch.from_numpy(reader_targets(f))
            logits = clf(x).view(-1, len(HEADS), 3)
            loss = F.cross_entropy(logits.reshape(-1, 3), y.reshape(-1))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    clf.eval()
    test = C.random_factors(n_test, np.random.default_rng(seed + 10_000))
    got = read_bins(clf, _render(test))
    acc = (got == reader_targets(test)).mean(0)
    facts = {"labels": READER_LABELS, "heads": list(HEADS), "test_accuracy": {h: round(float(a), 4) for h, a in zip(HEADS, acc)},
             "n_test": n_test, **training_facts(steps, batch_size, seed, "cpu", time.perf_counter() - t0)}
    return clf, facts


def _render(factors) -> torch.Tensor:
    f = np.asarray(factors)
    full = np.concatenate([np.zeros((len(f), 1), np.int64), f], axis=1)
    return torch.from_numpy(dsprites.render(full)).float()[:, None]


@torch.no_grad()
def read_logits(clf, images, batch_size: int = 256) -> torch.Tensor:
    """The reader's logits (N, 4, 3) for images (N, 1, 64, 64) in [0, 1]."""
    x = torch.as_tensor(np.asarray(images) if not torch.is_tensor(images) else images).float()
    if x.ndim != 4 or tuple(x.shape[1:]) != (1, 64, 64):
        raise ValueError(f"the caption reader reads dSprites-sized images, N×1×64×64; got {tuple(x.shape)}")
    dev = next(clf.parameters()).device
    out = [clf(x[i:i + batch_size].to(dev)).cpu() for i in range(0, len(x), batch_size)]
    return torch.cat(out).view(-1, len(HEADS), 3) if out else torch.empty(0, len(HEADS), 3)


def read_bins(clf, images) -> np.ndarray:
    """(N, 4) int: the reader's shape, size, column and row of each image."""
    return read_logits(clf, images).argmax(2).numpy()


def reading_text(bins) -> str:
    """'large heart, bottom left' for one row of read bins (shape, size, column, row)."""
    s, z, col, row = (int(v) for v in bins)
    place = "centre" if (row, col) == (1, 1) else f"{C.ROWS[row]} {C.COLUMNS[col]}"
    return f"{C.SIZES[z]} {C.SHAPES[s]}, {place}"


def reader_path() -> Path:
    """Where the caption reader is kept: the shipped one in $GENLAB_CHECKPOINTS (checkpoints/) when it
    is there, else genlab's cache (genlab.latent.cache_root), which `factor_reader` fills."""
    from genlab.latent import cache_root

    shipped = Path(os.environ.get("GENLAB_CHECKPOINTS", "checkpoints")) / READER_NAME / "model"
    if shipped.with_suffix(".safetensors").exists():
        return shipped
    return cache_root() / READER_NAME / "model"


READER_KIND = "caption-reader"  # its checkpoint's kind: not "classifier", so no FD picks it as a feature network


def save_reader(stem, clf, facts: dict, half: bool = False) -> Path:
    """Write the caption reader as a checkpoint of kind READER_KIND (genlab.checkpoint.save_module)."""
    from genlab.checkpoint import save_module

    cfg = dict(clf.config(), model=READER_NAME, data="dsprites", latent_dim=clf.feature_dim)
    return save_module(stem, clf, READER_KIND, cfg, dict(facts, name=READER_NAME), half=half)


def load_reader(stem):
    """(caption reader in eval mode, metadata) from a checkpoint written by save_reader."""
    from genlab.checkpoint import CheckpointError, load_module_state
    from genlab.metrics.classifier import SmallConvClassifier

    state, meta = load_module_state(stem, READER_KIND)
    cfg = {k: v for k, v in meta["config"].items() if k not in ("model", "data", "latent_dim")}
    clf = SmallConvClassifier(**cfg)
    try:
        clf.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise CheckpointError(f"caption reader '{stem}' does not fit its config ({str(e).splitlines()[0][:200]})") from None
    return clf.eval(), meta


def factor_reader(path=None, train_if_missing: bool = True):
    """(reader, its metadata): loaded from `path` (default reader_path()), or trained (seed 0, a few
    minutes on one CPU thread) and saved there first."""
    from genlab.checkpoint import CheckpointError

    stem = Path(path) if path is not None else reader_path()
    if not stem.with_suffix(".safetensors").exists():
        if not train_if_missing:
            raise CheckpointError(f"no caption reader at '{stem}'; run `genlab sample` with --measure once to train it")
        clf, facts = train_factor_reader()
        save_reader(stem, clf, facts)
    return load_reader(stem)


# --------------------------------------------------------------------------- sampling


def sample_images(model, n: int, caption: str | None = None, seed: int = 0) -> np.ndarray:
    """n samples (N, C, H, W) float32 in [0, 1] (2-D points: (N, 2)). `caption`: what a text-conditioned
    generator draws (CaptionError for a word outside the language); None: random captions for it, and
    the only choice for an unconditional generator."""
    if n < 1:
        raise ValueError(f"ask for at least one sample (got {n})")
    if caption is not None and not model.spec.text:
        from genlab.models import models_with

        raise ValueError(f"{model.cfg.model} draws without a caption; a caption conditions "
                         f"{', '.join(models_with('text'))}")
    if caption is not None:
        C.parse(caption)  # refuse a caption outside the language in one sentence, before drawing
    g = torch.Generator(device=model.device).manual_seed(seed)
    with torch.no_grad():
        z = model.prior(n, g, captions=[caption] * n) if caption is not None else model.prior(n, g)
        x = model.decode(z)
    return x.float().cpu().numpy()


def write_samples(images: np.ndarray, out) -> Path:
    """Write samples to `out`: .png (a grid) or .npz (`images` N×C×H×W float32 in [0, 1]; 2-D points as
    `points` N×2)."""
    from genlab.latent import grid_png_bytes

    out = Path(out)
    if out.suffix not in (".png", ".npz"):
        raise ValueError(f"--out must end in .png (a grid) or .npz (the arrays), not '{out.suffix or out.name}'")
    out.parent.mkdir(parents=True, exist_ok=True)
    points = images.ndim == 2
    if out.suffix == ".npz":
        np.savez_compressed(out, **{"points" if points else "images": images.astype(np.float32)})
    elif points:
        raise ValueError("a generator of 2-D points has no image grid: write --out FILE.npz")
    else:
        out.write_bytes(grid_png_bytes(images, ncols=int(np.ceil(np.sqrt(len(images))))))
    return out


# --------------------------------------------------------------------------- measures


def caption_agreement(model, reader, captions: list[str], n: int = 64, seed: int = 0, keep_images: bool = False) -> dict:
    """How often samples show what their caption says, read by the caption reader: per caption and on
    average, the share of samples whose shape, size, column, row and place (column and row both) are
    the ones the caption names (a factor it does not name is not counted). Also the mean number of
    lit pixels ("area", to compare sizes) and the diversity of each caption's samples (the mean
    pixel distance between two of them, in [0, 1]). Each caption's row lists the reader's reading of
    every sample and whether it shows everything the caption names ("right"); keep_images adds the
    samples themselves ("x")."""
    rows, keys = [], ("shape", "size", "column", "row", "place")
    for i, text in enumerate(captions):
        m = C.parse(text)
        x = sample_images(model, n, text, seed + i)
        got = read_bins(reader, x)
        hit = {"shape": got[:, 0] == m.shape if m.shape is not None else None,
               "size": got[:, 1] == m.size if m.size is not None else None,
               "column": got[:, 2] == m.column if m.column is not None else None,
               "row": got[:, 3] == m.row if m.row is not None else None}
        hit["place"] = hit["column"] & hit["row"] if hit["column"] is not None else None
        right = np.ones(n, dtype=bool)
        for v in hit.values():
            right &= True if v is None else v
        flat = x.reshape(n, -1)
        diversity = float(np.abs(flat[:, None, :] - flat[None, :, :]).mean(2).sum() / max(1, n * (n - 1))) if n > 1 else 0.0
        rows.append({"caption": text, "n": n, **{k: (float(v.mean()) if v is not None else None) for k, v in hit.items()},
                     "area": float((x > 0.5).reshape(n, -1).sum(1).mean()), "diversity": round(diversity, 4),
                     "readings": [reading_text(b) for b in got], "right": right.tolist(),
                     **({"x": x} if keep_images else {})})
    mean = {k: _mean([r[k] for r in rows]) for k in keys}
    return {"captions": rows, "mean": mean, "n_per_caption": n}


def _mean(values):
    v = [x for x in values if x is not None]
    return float(np.mean(v)) if v else None


def corner_captions() -> list[str]:
    """The captions of the shipping bar: every shape and size in each of the four corners (36)."""
    return [f"{'an' if s == 'ellipse' else 'a'} {z} {s} at the {r} {c}" for s in C.SHAPES for z in C.SIZES
            for r in ("top", "bottom") for c in ("left", "right")]


def real_agreement(reader, captions: list[str], n: int = 64, seed: int = 0) -> dict:
    """The same measure on real sprites that the captions describe truly: the reader's own ceiling."""
    rng = np.random.default_rng(seed)
    shares = []
    for text in captions:
        v = C.parse(text).values()
        f = np.stack([rng.choice(v[k], n) for k in ("shape", "scale", "orientation", "posX", "posY")], 1)
        got = read_bins(reader, _render(f))
        shares.append(float((got == reader_targets(f)).all(1).mean()))
    return {"all_heads_right": float(np.mean(shares))}


# --------------------------------------------------------------------------- for the page


def text_model_rows(rows) -> list:
    """The checkpoint rows (genlab.checkpoint.CheckpointRow) of text-conditioned generators."""
    from genlab.models import MODELS

    return [r for r in rows if r.ok and r.kind == "model" and r.model in MODELS and MODELS[r.model].text]


def meaning_text(m: C.Meaning) -> str:
    """What a parsed caption asks for, in words with the factor classes it allows: 'shape heart · size
    large (scale 4–5 of 0–5) · place bottom left (posX 0–10, posY 21–31) · any rotation'."""
    v = m.values()

    def span(k):
        return f"{v[k][0]}–{v[k][-1]}" if len(v[k]) > 1 else str(v[k][0])

    parts = [f"shape {C.SHAPES[m.shape]}" if m.shape is not None else "any shape",
             f"size {C.SIZES[m.size]} (scale {span('scale')} of 0–5)" if m.size is not None else "any size"]
    if m.row is None:
        parts.append("any place")
    else:
        place = "centre" if (m.row, m.column) == (1, 1) else f"{C.ROWS[m.row]} {C.COLUMNS[m.column]}"
        parts.append(f"place {place} (posX {span('posX')}, posY {span('posY')} of 0–31)")
    parts.append(f"rotation {C.ROTATIONS[C.SHAPES[m.shape]][m.rotation]}" if m.rotation is not None else "any rotation")
    return " · ".join(parts)


def interpolate_captions(model, a: str, b: str, steps: int = 7, rows: int = 3, seed: int = 0) -> np.ndarray:
    """GAN-INT's view (Reed et al. 2016, §4.3, Fig. 8): images (rows·steps, C, H, W) along the straight
    line from φ(a) to φ(b), one row per noise z held fixed along its row, so only the text changes."""
    for t in (a, b):
        C.parse(t)
    g = torch.Generator(device=model.device).manual_seed(seed)
    with torch.no_grad():
        z = torch.randn(rows, model.cfg.latent_dim, generator=g, device=model.device)
        ha, hb = model.embed_text([a]), model.embed_text([b])
        w = torch.linspace(0, 1, steps, device=model.device)[:, None]
        h = (1 - w) * ha + w * hb  # (steps, T)
        codes = torch.cat([z.repeat_interleave(steps, 0), h.repeat(rows, 1)], 1)
        return model.decode(codes).float().cpu().numpy()


def real_images_for(caption: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """n real sprites (N, 1, 64, 64) that the caption describes truly (factors uniform over what it allows)."""
    v = C.parse(caption).values()
    f = np.stack([rng.choice(v[k], n) for k in ("shape", "scale", "orientation", "posX", "posY")], 1)
    return _render(f).numpy()


def caption_fd(model, reader, caption: str, n: int = 256, seed: int = 0) -> dict:
    """Fréchet distance, in the caption reader's penultimate features (64-d, not Inception's), between
    n samples for the caption and n real sprites it describes; beside it the same distance between two
    independent sets of such real sprites, the floor that n samples allow."""
    from genlab.metrics.classifier import classifier_features
    from genlab.metrics.quality import frechet_distance

    rng = np.random.default_rng(seed)
    real_a, real_b = real_images_for(caption, n, rng), real_images_for(caption, n, rng)
    fake = sample_images(model, n, caption, seed)
    feats = [classifier_features(reader, x) for x in (fake, real_a, real_b)]
    return {"fd": float(frechet_distance(feats[0], feats[1])), "fd_real_vs_real": float(frechet_distance(feats[1], feats[2]))}


def _centroids(x: np.ndarray) -> np.ndarray:
    """(row, column) of each image's lit-pixel centroid (pixels > 0.5), NaN where none is lit. (N, 2)"""
    lit = np.asarray(x).reshape(len(x), x.shape[-2], x.shape[-1]) > 0.5
    n = lit.sum((1, 2)).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (lit.sum(2) * np.arange(lit.shape[1])).sum(1) / n
        c = (lit.sum(1) * np.arange(lit.shape[2])).sum(1) / n
    return np.stack([r, c], 1)


def corner_bar(model, reader=None, n: int = 32, seed: int = 0, captions: list[str] | None = None) -> dict:
    """The shipping bar of text2image-gan, on the corner captions (held out of its training:
    genlab.models.held_out_captions): per caption n samples, and

    * `in_quadrant`: the share of samples whose lit-pixel centroid lies in the named half of the image
      on both axes (no classifier: a blank sample counts as a miss), overall and for the worst caption;
    * `area`: the mean number of lit pixels (> 0.5) per size word, beside real sprites' (`real_area`,
      n random real sprites of each size), and `large_over_small`, the ratio of the two;
    * `area_separated`: the share of (large, small) caption pairs of one shape and corner whose large
      samples' mean area exceeds the small samples' by more than the spread (pooled standard
      deviation) of the two: "large draws clearly larger shapes than small", caption by caption;
    * with a `reader`, caption_agreement's per-factor means (shape, size, column, row, place)."""
    captions = corner_captions() if captions is None else captions
    per, areas = [], {z: [] for z in C.SIZES}
    for i, text in enumerate(captions):
        m = C.parse(text)
        x = sample_images(model, n, text, seed + i)
        cen = _centroids(x)
        want_r = (cen[:, 0] < 31.5) if m.row == 0 else (cen[:, 0] > 31.5)
        want_c = (cen[:, 1] < 31.5) if m.column == 0 else (cen[:, 1] > 31.5)
        a = (x > 0.5).reshape(n, -1).sum(1).astype(np.float64)
        areas[C.SIZES[m.size]].append(a)
        per.append({"caption": text, "in_quadrant": float((want_r & want_c).mean()), "area": a, "meaning": m})
    sep = []
    for p in per:
        m = p["meaning"]
        if m.size != 2:
            continue
        for q in per:
            k = q["meaning"]
            if (k.size, k.shape, k.row, k.column) == (0, m.shape, m.row, m.column):
                spread = np.sqrt(0.5 * (p["area"].var() + q["area"].var()))
                sep.append(bool(p["area"].mean() - q["area"].mean() > spread))
    rng = np.random.default_rng(seed)
    real_area = {}
    for z, name in enumerate(C.SIZES):
        f = C.random_factors(n, rng)
        f[:, 1] = 2 * z + rng.integers(0, 2, n)
        real_area[name] = float((_render(f).numpy() > 0.5).reshape(n, -1).sum(1).mean())
    area = {z: float(np.concatenate(v).mean()) for z, v in areas.items() if v}
    out = {"in_quadrant": float(np.mean([p["in_quadrant"] for p in per])),
           "in_quadrant_worst": float(min(p["in_quadrant"] for p in per)),
           "area": area, "real_area": real_area,
           "large_over_small": area["large"] / max(area["small"], 1e-9) if {"large", "small"} <= set(area) else None,
           "area_separated": float(np.mean(sep)) if sep else None, "n_per_caption": n, "captions": len(captions)}
    if reader is not None:
        out["reader"] = caption_agreement(model, reader, captions, n=n, seed=seed)["mean"]
    return out
