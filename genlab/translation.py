"""Image translation (survey §3.2): run a translator (CycleGAN) on images, and measure what its
translations change and what they keep.

    model, _ = load_translator("runs/cyclegan/model")
    y = translate_images(model, x, "a2b")          # N×C×H×W floats in [0, 1], in and out
    rows = measure(model, n=200)                   # shape read, position and size kept, cycle error

What a squares → ellipses translation should do (Zhu et al. 2017's claim, tested on sprites whose
factors are known): change the shape, which `read_shape` reads from the lit pixels (elongation and fill), and keep
everything else: the sprite's position (the lit-pixel centroid moves by a few pixels at most) and
its size (the lit-pixel area stays about the same). The cycle error says how well F(G(a)) returns a.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from genlab import dsprites

THRESHOLD = 0.5  # a pixel is lit when its value is above this
KEEP_PX = 4.0  # a translation keeps the position when the centroid moves by at most this many pixels


class TranslateError(ValueError):
    """Input a translator cannot take; the message is one sentence."""


# --------------------------------------------------------------------------- the measures (pure, on arrays)


def _np(images) -> np.ndarray:
    x = images.detach().cpu().numpy() if torch.is_tensor(images) else np.asarray(images)
    return x.reshape(x.shape[0], -1, x.shape[-2], x.shape[-1]).mean(1)  # N×H×W (channels averaged)


def lit_area(images, threshold: float = THRESHOLD) -> np.ndarray:
    """Pixels above `threshold` per image. (N,)"""
    return (_np(images) > threshold).sum((1, 2)).astype(np.float64)


def lit_centroid(images, threshold: float = THRESHOLD) -> np.ndarray:
    """(row, column) of the mean lit pixel of each image, in pixels; NaN for an image with none. (N, 2)"""
    lit = _np(images) > threshold
    n = lit.sum((1, 2)).astype(np.float64)
    rows, cols = np.arange(lit.shape[1]), np.arange(lit.shape[2])
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (lit.sum(2) * rows).sum(1) / n
        c = (lit.sum(1) * cols).sum(1) / n
    return np.stack([r, c], axis=1)


def centroid_shift(x, y, threshold: float = THRESHOLD) -> np.ndarray:
    """How far each translation moved the sprite: the distance between the lit-pixel centroids of x and
    its translation y, in pixels; NaN where either image is blank. (N,)"""
    return np.linalg.norm(lit_centroid(x, threshold) - lit_centroid(y, threshold), axis=1)


def area_ratio(x, y, threshold: float = THRESHOLD) -> np.ndarray:
    """Lit area of the translation over that of the input (1 = the same size); NaN for a blank input. (N,)"""
    a = lit_area(x, threshold)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(a > 0, lit_area(y, threshold) / np.where(a > 0, a, 1), np.nan)


def cycle_error(x, x_cycled) -> np.ndarray:
    """Mean absolute pixel error between each image and its round trip F(G(x)) (the cycle loss's norm). (N,)"""
    return np.abs(_np(x) - _np(x_cycled)).reshape(len(x), -1).mean(1)


def lit_iou(x, y, threshold: float = THRESHOLD) -> np.ndarray:
    """Intersection over union of the lit pixels of x and y: 1 when the same pixels are lit, 0 when none
    are shared; NaN when both are blank. Where the mean pixel error of a small sprite on a black field is
    small whatever happens to the sprite, this says whether the round trip drew it back. (N,)"""
    a, b = _np(x) > threshold, _np(y) > threshold
    inter, union = (a & b).sum((1, 2)), (a | b).sum((1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / np.where(union > 0, union, 1), np.nan)


def summarise(x, y, x_cycled, shape_read: np.ndarray | None = None, target: int | None = None) -> dict:
    """One row of figures for a batch of inputs x, translations y and round trips x_cycled: the share
    of translations whose centroid stayed within KEEP_PX pixels (a blank translation counts as moved),
    the median shift and area ratio, the share of blank translations, the mean cycle error and the mean
    lit-pixel IoU of each image with its round trip, and, with the shapes read of y (`read_shape`), the
    share read as the `target` shape."""
    shift, ratio = centroid_shift(x, y), area_ratio(x, y)
    row = {"n": int(len(x)),
           "position_kept": float(np.mean(np.nan_to_num(shift, nan=np.inf) <= KEEP_PX)),
           "median_shift_px": float(np.nanmedian(shift)) if np.isfinite(shift).any() else float("nan"),
           "median_area_ratio": float(np.nanmedian(ratio)) if np.isfinite(ratio).any() else float("nan"),
           "blank": float(np.mean(lit_area(y) == 0)),
           "cycle_error": float(cycle_error(x, x_cycled).mean()),
           "cycle_iou": float(np.nanmean(lit_iou(x, x_cycled))) if len(x) else float("nan")}
    if shape_read is not None and target is not None:
        row["read_as_target"] = float(np.mean(np.asarray(shape_read) == target))
    return row


# --------------------------------------------------------------------------- reading the shape


ELLIPSE_ELONGATION = 1.4  # above: read as an ellipse. dSprites' squares measure 1.00-1.11, its ellipses 1.65-1.91


def elongation(images, threshold: float = THRESHOLD) -> np.ndarray:
    """√(λ_max / λ_min) of the covariance of each image's lit-pixel coordinates: 1 for a shape whose
    second moments are the same in every direction (a square at any rotation), the ratio of the axes for
    an ellipse (dSprites': 12.775 / 7.22 ≈ 1.77). Rotation and position do not change it. NaN for an image
    with fewer than 3 lit pixels. (N,)"""
    lit = _np(images) > threshold
    out = np.full(len(lit), np.nan)
    for i, m in enumerate(lit):
        r, c = np.nonzero(m)
        if len(r) < 3:
            continue
        ev = np.linalg.eigvalsh(np.cov(np.stack([r, c]).astype(np.float64)))
        out[i] = np.sqrt(ev[1] / max(ev[0], 1e-12))
    return out


ROUND_FILL = 0.8  # at or above: a round blob. dSprites' squares fill 0.57-0.76 of their circumscribed disc


def disc_fill(images, threshold: float = THRESHOLD) -> np.ndarray:
    """Lit area over the area of the disc around the lit-pixel centroid that reaches the farthest lit pixel
    (its radius + ½ px for the pixel's own extent): about 1 for a round blob, 2/π ≈ 0.64 for a square,
    the axis ratio for an ellipse. NaN for a blank image. (N,)"""
    lit = _np(images) > threshold
    centre = lit_centroid(images, threshold)
    out = np.full(len(lit), np.nan)
    for i, (m, c) in enumerate(zip(lit, centre)):
        r, q = np.nonzero(m)
        if len(r) == 0:
            continue
        reach = np.sqrt(((r - c[0]) ** 2 + (q - c[1]) ** 2).max()) + 0.5
        out[i] = len(r) / (np.pi * reach ** 2)
    return out


SHAPE_READINGS = {-1: "blank", 0: "square", 1: "ellipse", 2: "round blob"}


def read_shape(images, threshold: float = THRESHOLD) -> np.ndarray:
    """The shape a squares ↔ ellipses translation made, read from its lit pixels without training anything:
    1 ellipse (elongated: `elongation` above 1.4), 2 round blob (not elongated and filling its disc:
    `disc_fill` at least 0.8, what a translator that has not learnt the shape tends to draw), 0 square (not
    elongated, corners outside the fill), −1 blank (SHAPE_READINGS). Every dSprites square reads 0 and every
    ellipse 1, at any rotation, scale and position; genlab's small conv classifier, trained a few hundred
    steps, read the shape of fewer than half of the sprites. (N,)"""
    e, f = elongation(images, threshold), disc_fill(images, threshold)
    out = np.where(e > ELLIPSE_ELONGATION, 1, np.where(f >= ROUND_FILL, 2, 0))
    return np.where(np.isnan(e), -1, out)


def sprites_of_shape(shape: int, n: int, seed: int = 0) -> np.ndarray:
    """n dSprites of one shape (0 square, 1 ellipse, 2 heart), every other factor uniform. N×1×64×64 float."""
    rng = np.random.default_rng(seed)
    sizes = dsprites.FACTOR_SIZES
    classes = np.stack([np.zeros(n, np.int64), np.full(n, shape)] + [rng.integers(0, s, n) for s in sizes[2:]], 1)
    return dsprites.render(classes).astype(np.float32)[:, None]


# --------------------------------------------------------------------------- running a translator


def load_translator(path, device="cpu"):
    """A translator checkpoint (model, metadata); a checkpoint of another model is refused in one sentence."""
    from genlab.checkpoint import load_checkpoint
    from genlab.models import models_with

    model, meta = load_checkpoint(path, device=device)
    if not model.spec.translator:
        raise TranslateError(f"'{path}' is a {model.cfg.model} checkpoint, not an image translator "
                             f"({', '.join(models_with('translator'))})")
    return model.eval(), meta


def check_images(model, x: np.ndarray, where: str = "the images") -> np.ndarray:
    """x as N×C×H×W float32 in [0, 1] of the translator's image size, or TranslateError saying what is wrong."""
    shape = tuple(model.cfg.shape)
    if x.dtype.kind not in "fiub":
        raise TranslateError(f"{where} must be numbers, not {x.dtype}")
    if x.ndim != 4 or tuple(x.shape[1:]) != shape:
        raise TranslateError(f"{where} must be N×{'×'.join(map(str, shape))} (the translator's image size), "
                             f"got {'×'.join(map(str, x.shape))}")
    if len(x) == 0:
        raise TranslateError(f"{where} hold no images")
    x = x.astype(np.float32)
    if not np.isfinite(x).all() or x.min() < 0 or x.max() > 1:
        raise TranslateError(f"{where} must be floats in [0, 1]")
    return x


def read_images(path) -> np.ndarray:
    """The array `images` of an .npz file (never unpickled), or TranslateError in one sentence."""
    p = Path(path)
    if not p.exists():
        raise TranslateError(f"images file '{path}' not found")
    if p.stat().st_size == 0:
        raise TranslateError(f"images file '{path}' is empty; save images with numpy.savez(FILE, images=...)")
    try:
        with np.load(p, allow_pickle=False) as f:
            if "images" not in f.files:
                raise TranslateError(f"'{path}' holds no array 'images' (it has {', '.join(f.files) or 'none'}); "
                                     f"save N×C×H×W floats in [0, 1] under that name")
            return f["images"]
    except TranslateError:
        raise
    except Exception as e:
        raise TranslateError(f"'{path}' could not be read as .npz ({type(e).__name__}); save it with numpy.savez") from None


@torch.no_grad()
def translate_images(model, x, direction: str = "a2b", batch: int = 256) -> np.ndarray:
    """Translate N×C×H×W floats in [0, 1]; returns the same shape, floats in [0, 1]."""
    x = check_images(model, np.asarray(x))
    t = torch.from_numpy(x)
    return torch.cat([model.translate(t[i:i + batch].to(model.device), direction).cpu()
                      for i in range(0, len(t), batch)]).numpy()


def translate_file(checkpoint, images, out, direction: str = "a2b") -> dict:
    """`genlab translate`: read images, translate them, write `out` with `images` (the translations) and
    `cycled` (translated back). Returns {"n", "out", "direction"}."""
    model, _ = load_translator(checkpoint)
    x = check_images(model, read_images(images), f"'{images}'")
    y = translate_images(model, x, direction)
    back = translate_images(model, y, "b2a" if direction == "a2b" else "a2b")
    out = Path(out)
    if out.suffix != ".npz":
        raise TranslateError(f"the output '{out}' must end in .npz")
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, images=y, cycled=back)
    return {"n": len(x), "out": str(out), "direction": direction}


def measure(model, n: int = 200, seed: int = 0) -> dict:
    """Both directions of a squares ↔ ellipses translator on n fresh sprites each: {"a2b": row, "b2a": row}
    (see `summarise`), the shape of each translation read by `read_shape`, and the share of round trips
    read as the shape they started from (cycle_shape_kept)."""
    if tuple(model.cfg.shape) != (1, 64, 64):
        raise TranslateError(f"the sprite measures need a translator of 1×64×64 sprites; this one takes "
                             f"{'×'.join(map(str, model.cfg.shape))} images")
    out = {}
    for direction, source, target in (("a2b", 0, 1), ("b2a", 1, 0)):
        x = sprites_of_shape(source, n, seed + source)
        y = translate_images(model, x, direction)
        back = translate_images(model, y, "b2a" if direction == "a2b" else "a2b")
        out[direction] = summarise(x, y, back, read_shape(y), target)
        out[direction]["cycle_shape_kept"] = float(np.mean(read_shape(back) == source))
    return out


def stored_measures(path) -> dict | None:
    """The measures `genlab eval` stored in a translator's sidecar, shaped as :func:`measure` gives them
    ({"a2b": row, "b2a": row}, each row with its "n"), or None when it holds none."""
    from genlab.checkpoint import read_metadata

    meta = read_metadata(path)
    metrics = meta.get("metrics") or {}
    n = ((meta.get("metrics_info") or {}).get("translation") or {}).get("n")
    rows = {d: {k[len(d) + 1:]: v for k, v in metrics.items() if k.startswith(f"{d}_")} for d in ("a2b", "b2a")}
    if n is None or not all(rows.values()):
        return None
    return {d: {"n": int(n), **row} for d, row in rows.items()}
