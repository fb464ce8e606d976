"""Nearest real image: each generated dSprites sample against all 737,280 real sprites, exactly.

dSprites (Matthey, Higgins, Hassabis & Lerchner 2017) is finite and fully known: every
combination of shape, scale, orientation and position is one image, and genlab renders them
all (genlab.dsprites). So instead of judging samples in some feature space, each sample can be
matched against the whole dataset. A sample is thresholded at 0.5 and compared with every
sprite by intersection over union (the Jaccard index, Jaccard 1912):

    IoU(A, B) = |A ∩ B| / (|A| + |B| − |A ∩ B|).

Reported: the mean best IoU, the share of samples whose best IoU is at least 0.8, and the
factors (shape, scale, orientation, posX, posY) of the nearest sprites as histograms, with
KL(nearest-neighbour histogram ‖ uniform) per factor in nats: the real factors are uniform, so 0
is perfect coverage and log K (K classes) means every sample copies one class. A KL computed on n
samples is positive even for real images; :func:`uniform_kl_floor` gives what n uniform draws score.

Not thresholded ("soft"): the sample's grey levels a ∈ [0, 1] against the binary sprite by the
weighted Jaccard similarity Σ min(a, b) / Σ max(a, b) (Ružička 1958; Ioffe 2010, "Improved
consistent sampling, weighted minhash and L1 sketching"). With b ∈ {0, 1} it is
a·b / (|B| + Σa − a·b), the same formula with the pixel sum in place of the count, so one
search serves both. For a VAE the sample is the decoder's mean image: blur spreads grey
mass outside the shape and lowers the soft IoU where the thresholded one may not notice.

How the search stays exhaustive and fast: every sprite lies within 13.6 px of its centre (the
square's corner), so each of the 1,024 positions (posX, posY) has a 32×32 window that holds all
720 sprites drawn there (3 shapes × 6 scales × 40 orientations); building the index checks this
for every image and fails otherwise. |A ∩ B| then only needs the sample's pixels inside B's
window: per position one matrix product of the samples' windows (N × 1,024) with the 720
sprites' windows, with exact integer sums (torch._int_mm in int8 or a float32 product, whichever
is quicker on the CPU at hand: :func:`_int_kernel`; the soft search splits each grey level into two
int8 digits). |A| is counted over the whole sample. Every one of the 737,280 images is scored;
nothing is pruned. This first pass keeps each sample's best score per position; the positions that
may hold its best sprite are scored again in float64 (see :func:`nearest_real`). The windows are kept as bits (94 MB), on disk under the
genlab cache once built, and in memory once per process.

Ties: the best IoU can be shared (orientation 0 and 2π draw the same image); the nearest sprite
is then drawn uniformly among the tied ones (seeded), so real images give uniform histograms. A
sample with no pixel above the threshold is "blank": every sprite ties at IoU 0, so it has no
nearest sprite and is left out of the histograms (its IoU, 0, still counts in the mean).
"""

from __future__ import annotations

import functools
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from genlab import dsprites

__all__ = [
    "FACTORS",
    "GOOD_IOU",
    "NearestReal",
    "SpriteIndex",
    "applies_to",
    "build_index",
    "kl_to_uniform",
    "nearest_real",
    "nearest_real_both",
    "nearest_real_report",
    "sprite_index",
    "uniform_kl_floor",
]

FACTORS = tuple(dsprites.FACTOR_NAMES[1:])  # shape, scale, orientation, posX, posY
FACTOR_SIZES = tuple(dsprites.FACTOR_SIZES[1:])
GOOD_IOU = 0.8  # a sample "is" a real sprite when its best IoU reaches this
THRESHOLD = 0.5
WINDOW = 32  # side of a position's window, pixels
N_POSITIONS = 32 * 32
N_MEMBERS = dsprites.N_IMAGES // N_POSITIONS  # 720 sprites per position
CACHE_VERSION = 1  # bump when the renderer or the layout below changes
_BATCH = 256  # samples per pass


# --------------------------------------------------------------------------- the index


def window_origins() -> tuple[np.ndarray, np.ndarray]:
    """Top row and left column (1,024 each, position g = posX·32 + posY) of each position's window.

    The sprite centre is at 16 + 32·i/31 pixels (i the position class); the window starts 16
    pixels before the centre's whole pixel, i.e. at floor(32·i/31), which keeps it inside the image.
    """
    start = (32 * np.arange(32)) // 31
    g = np.arange(N_POSITIONS)
    return start[g % 32].astype(np.int64), start[g // 32].astype(np.int64)  # posY → rows, posX → columns


@dataclass(frozen=True)
class SpriteIndex:
    """The binarised dSprites images as bits of their position's 32×32 window.

    packed[g, m] holds the window of dataset image members[m]·1024 + g (g = posX·32 + posY,
    member = shape·240 + scale·40 + orientation), 1,024 bits packed into 128 bytes; sizes[g, m]
    is its number of pixels on. A full index has all 720 members; tests build smaller ones.
    """

    packed: np.ndarray  # (1024, M, 128) uint8
    sizes: np.ndarray  # (1024, M) int32
    members: np.ndarray  # (M,) int64
    seconds: float  # to build or load
    source: str  # "rendered" or the cache file it came from

    @property
    def complete(self) -> bool:
        return len(self.members) == N_MEMBERS

    @property
    def n_images(self) -> int:
        return int(self.sizes.size)

    @property
    def nbytes(self) -> int:
        return int(self.packed.nbytes + self.sizes.nbytes + self.members.nbytes)


def _windows(images: np.ndarray, groups: np.ndarray, tops: np.ndarray, lefts: np.ndarray) -> np.ndarray:
    """(n, 32, 32) windows of images (n, 64, 64) drawn at positions `groups`."""
    r = tops[groups][:, None, None] + np.arange(WINDOW)[None, :, None]
    c = lefts[groups][:, None, None] + np.arange(WINDOW)[None, None, :]
    return images[np.arange(len(images))[:, None, None], r, c]


def build_index(members=None, chunk: int = 16) -> SpriteIndex:
    """Render dSprites and keep each image as the bits of its position's window.

    `members`: which of the 720 (shape, scale, orientation) combinations to include, at every
    position (default all: the whole dataset, about 40 s on one core). Raises RuntimeError if a
    sprite has a pixel outside its window (the search would then not be exact).
    """
    t0 = time.perf_counter()
    members = np.arange(N_MEMBERS, dtype=np.int64) if members is None else np.asarray(members, dtype=np.int64)
    if members.ndim != 1 or not len(members) or members.min() < 0 or members.max() >= N_MEMBERS:
        raise ValueError(f"members must be a non-empty list of (shape, scale, orientation) ids in 0..{N_MEMBERS - 1}.")
    tops, lefts = window_origins()
    packed = np.empty((N_POSITIONS, len(members), WINDOW * WINDOW // 8), np.uint8)
    sizes = np.empty((N_POSITIONS, len(members)), np.int32)
    groups = np.tile(np.arange(N_POSITIONS), chunk)
    for a in range(0, len(members), chunk):
        ms = members[a:a + chunk]
        idx = (ms[:, None] * N_POSITIONS + np.arange(N_POSITIONS)[None, :]).ravel()
        imgs = dsprites.render_index(idx)  # (len(ms)·1024, 64, 64) uint8 0/1
        win = _windows(imgs, groups[:len(idx)], tops, lefts)
        on = win.reshape(len(idx), -1).sum(1)
        if not np.array_equal(on, imgs.reshape(len(idx), -1).sum(1)):
            bad = int(idx[np.nonzero(on != imgs.reshape(len(idx), -1).sum(1))[0][0]])
            raise RuntimeError(f"dSprites image {bad} has pixels outside its 32×32 window; the nearest-real search "
                               "would not be exact.")
        if on.min() == 0:
            raise RuntimeError(f"dSprites image {int(idx[np.argmin(on)])} is blank; IoU would be undefined.")
        packed[:, a:a + len(ms)] = np.packbits(win.reshape(len(ms), N_POSITIONS, -1), axis=2).transpose(1, 0, 2)
        sizes[:, a:a + len(ms)] = on.reshape(len(ms), N_POSITIONS).T
    return SpriteIndex(packed, sizes, members, time.perf_counter() - t0, "rendered")


def _cache_file(cache_dir=None) -> Path:
    if cache_dir is None:
        cache_dir = Path(os.environ.get("GENLAB_CACHE", ".cache/genlab"))
    return Path(cache_dir) / "nearest-real" / f"dsprites-windows-v{CACHE_VERSION}.npz"


def _spot_check(index: SpriteIndex, n: int = 256) -> bool:
    """Re-render n images at random and compare them with the index (a stale cache fails)."""
    rng = np.random.default_rng()
    g = rng.integers(N_POSITIONS, size=n)
    m = rng.integers(len(index.members), size=n)
    imgs = dsprites.render_index(index.members[m] * N_POSITIONS + g)
    tops, lefts = window_origins()
    win = np.packbits(_windows(imgs, g, tops, lefts).reshape(n, -1), axis=1)
    return bool(np.array_equal(win, index.packed[g, m]) and np.array_equal(imgs.reshape(n, -1).sum(1), index.sizes[g, m]))


_INDEX: SpriteIndex | None = None
_LOCK = threading.Lock()


def _load(path: Path) -> SpriteIndex | None:
    """The index stored at `path`, or None when it is missing, unreadable, partial or stale (a spot
    check against fresh renders fails)."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            index = SpriteIndex(f["packed"], f["sizes"], f["members"], 0.0, str(path))
    except (OSError, ValueError, KeyError):
        return None
    ok = index.complete and index.packed.shape == (N_POSITIONS, N_MEMBERS, WINDOW * WINDOW // 8) and _spot_check(index)
    return index if ok else None


def sprite_index(cache_dir=None) -> SpriteIndex:
    """The full index, built once per process: from memory, else from the disk cache
    ($GENLAB_CACHE/nearest-real; 97 MB), else from the default cache .cache/genlab/nearest-real
    (the index depends on nothing but the renderer, so a private cache may read the shared one),
    else rendered (about 40 s on one core) and written to the first. A cache file that fails a spot
    check against fresh renders is not used."""
    global _INDEX
    with _LOCK:
        if _INDEX is not None:
            return _INDEX
        t0 = time.perf_counter()
        path = _cache_file(cache_dir)
        index = _load(path)
        if index is None and cache_dir is None and path != _cache_file(".cache/genlab"):
            index = _load(_cache_file(".cache/genlab"))
        if index is None:
            index = build_index()
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
                np.savez(tmp, packed=index.packed, sizes=index.sizes, members=index.members)
                os.replace(tmp, path)
            except OSError:
                pass  # a read-only cache: keep the index in memory only
        _INDEX = SpriteIndex(index.packed, index.sizes, index.members, time.perf_counter() - t0, index.source)
        return _INDEX


# --------------------------------------------------------------------------- the search


def _int_matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a (n, K) int8 @ b (K, M) int8 -> int32, exactly: torch's int8 kernel or a float32 product (also exact:
    the sums are integers below 2²⁴), whichever :func:`_int_kernel` found quicker on this CPU."""
    if _int_kernel() == "int8":
        return torch._int_mm(a, b)
    return (a.float() @ b.float()).to(torch.int32)


_KERNEL: str | None = None


def _int_kernel() -> str:
    """"int8" or "float32", chosen once per process by timing both on a small product. The int8 kernel is
    not always the quicker: on a 2-core AMD EPYC without VNNI (torch 2.15) it ran 20 times slower than
    float32, which made a 300-sample search take 73 s instead of 5 s; on an AMX Xeon it was the quicker."""
    global _KERNEL
    if _KERNEL is None:
        a = torch.randint(-1, 2, (64, 1024), dtype=torch.int8)
        b = torch.randint(0, 2, (1024, 1024), dtype=torch.int8)
        best = {}
        for name, f in (("float32", lambda: (a.float() @ b.float()).to(torch.int32)),
                        ("int8", lambda: torch._int_mm(a, b))):
            try:
                f()  # warm-up
                t0 = time.perf_counter()
                f()
                best[name] = time.perf_counter() - t0
            except (RuntimeError, AttributeError, NotImplementedError):
                pass  # no int8 CPU kernel in this torch
        _KERNEL = min(best, key=best.get)
    return _KERNEL


def _as_images(samples) -> torch.Tensor:
    x = samples.detach().cpu() if isinstance(samples, torch.Tensor) else torch.as_tensor(np.asarray(samples))
    if x.ndim == 4 and x.shape[1] == 1:
        x = x[:, 0]
    if x.ndim != 3 or tuple(x.shape[1:]) != (dsprites.IMAGE_SIZE, dsprites.IMAGE_SIZE):
        raise ValueError(f"nearest_real needs dSprites-shaped samples (N, 1, 64, 64) or (N, 64, 64), got {tuple(x.shape)}.")
    return x.float()


@dataclass(frozen=True)
class NearestReal:
    """Each sample's nearest real sprite. `iou` is the best IoU (soft: weighted Jaccard of the grey
    levels), `index` the dataset index of the nearest sprite (−1 for a blank sample), `ties` how
    many sprites share that IoU (one was drawn at random), `blank` the samples with no pixel above
    the threshold, `seconds` the search time (without building the index)."""

    iou: np.ndarray
    index: np.ndarray
    ties: np.ndarray
    blank: np.ndarray
    soft: bool
    threshold: float
    seconds: float
    n_candidates: int

    @property
    def factors(self) -> np.ndarray:
        """(N, 5) classes of the nearest sprites (shape, scale, orientation, posX, posY); −1 rows for blanks."""
        out = np.full((len(self.index), len(FACTORS)), -1, np.int64)
        ok = self.index >= 0
        if ok.any():
            out[ok] = dsprites.index_to_classes(self.index[ok])[:, 1:]
        return out

    def histograms(self) -> dict[str, np.ndarray]:
        """Counts per class of each factor over the samples that have a nearest sprite."""
        f = self.factors[self.index >= 0]
        return {name: np.bincount(f[:, j], minlength=k) for j, (name, k) in enumerate(zip(FACTORS, FACTOR_SIZES))}

    def neighbours(self) -> np.ndarray:
        """The nearest sprites as images (N, 1, 64, 64) float32; a blank sample gets a blank image."""
        out = np.zeros((len(self.index), 1, dsprites.IMAGE_SIZE, dsprites.IMAGE_SIZE), np.float32)
        ok = self.index >= 0
        if ok.any():
            out[ok, 0] = dsprites.render_index(self.index[ok])
        return out

    def summary(self, good: float = GOOD_IOU) -> dict:
        """Plain numbers: n, mean_iou, share_good (best IoU ≥ good), blank_share, kl per factor
        (None when every sample is blank), histograms as lists, seconds."""
        hist = self.histograms()
        have = int((self.index >= 0).sum())
        return {"n": int(len(self.iou)), "soft": self.soft, "threshold": self.threshold, "good_iou": good,
                "mean_iou": float(self.iou.mean()) if len(self.iou) else float("nan"),
                "share_good": float((self.iou >= good).mean()) if len(self.iou) else float("nan"),
                "blank_share": float(self.blank.mean()) if len(self.iou) else float("nan"),
                "kl": {k: (kl_to_uniform(h) if have else None) for k, h in hist.items()},
                "histograms": {k: h.tolist() for k, h in hist.items()},
                "seconds": round(self.seconds, 3), "candidates": self.n_candidates}


# Soft pass 1 in int8: a grey level a is stored as q = round(a·Q) = 127·hi + lo with hi, lo in 0..127,
# so Σ q·b comes exactly from two int8 products. Rounding moves each pixel by at most 1/(2Q), so the
# ratio r below by at most 1/(2Q) ≈ 3.1e-5 (|A ∩ B| moves by at most |B|/(2Q), and |A| + |B| ≥ |B|).
_Q = 127 * 127
SOFT_SLACK = 2 / (2 * _Q) + 1e-6  # two such errors apart, plus float32 rounding


def _scan(hard: torch.Tensor | None, soft: torch.Tensor | None, hard_sum, soft_sum,
          index: SpriteIndex) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Pass 1: for each sample and position, the largest r = |A ∩ B| / (|A| + |B|), float32 (n, 1024).
    IoU = r / (1 − r) rises with r, so the sprite with the largest r is the one with the largest IoU
    (and the subtraction is saved). Thresholded, every count is exact and float32 division is
    correctly rounded, so two values are never ordered the wrong way round; near ties may merge,
    which pass 2 separates. Soft, r is within SOFT_SLACK / 2 of its exact value.

    `hard`: (n, 64, 64) int8 thresholded pixels, `hard_sum` their counts; `soft`: (n, 64, 64) int32
    grey levels as q = round(a·Q), `soft_sum` Σa. Either may be None; both share one int8 product
    per position (their rows stacked)."""
    tops, lefts = window_origins()
    parts = [v for v in (hard, soft) if v is not None]
    n = len(parts[0])
    rows = []  # int8 row blocks: hard pixels, soft high digits, soft low digits
    if hard is not None:
        rows.append(hard)
    if soft is not None:
        rows += [(soft // 127).to(torch.int8), (soft % 127).to(torch.int8)]
    stacked = torch.cat(rows)
    sizes = torch.from_numpy(index.sizes).float()
    outs = []
    for kind, total, scale in (("hard", hard_sum, 1.0), ("soft", soft_sum, float(_Q))):
        if (hard if kind == "hard" else soft) is not None:
            outs.append((kind, total.float() * scale, sizes * scale, torch.empty((n, N_POSITIONS)),
                         torch.empty((n, len(index.members))), torch.empty((n, len(index.members)))))
    for g in range(N_POSITIONS):
        t, l = tops[g], lefts[g]
        bg = torch.from_numpy(np.unpackbits(index.packed[g], axis=1)).view(torch.int8).T  # (1024, M) 0/1
        prod = _int_matmul(stacked[:, t:t + WINDOW, l:l + WINDOW].reshape(len(stacked), WINDOW * WINDOW), bg)
        at = 0
        for kind, total, scaled_sizes, gmax, den, ratio in outs:
            if kind == "hard":
                inter, at = prod[at:at + n], at + n
            else:
                inter, at = prod[at:at + n].mul_(127).add_(prod[at + n:at + 2 * n]), at + 2 * n
            torch.add(total[:, None], scaled_sizes[g][None], out=den)  # |A| + |B|
            torch.div(inter, den, out=ratio)
            gmax[:, g] = ratio.amax(1)
    got = {kind: gmax.numpy() for kind, _, _, gmax, _, _ in outs}
    return got.get("hard"), got.get("soft")


def _refine(gmax: np.ndarray, a64: torch.Tensor, blank: np.ndarray, soft: bool, index: SpriteIndex,
            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pass 2: exact IoUs (float64) at the positions that may hold each sample's best sprite, the
    nearest drawn uniformly among the tied ones. Returns (best IoU, image index, ties) per sample."""
    tops, lefts = window_origins()
    nb = len(gmax)
    top = gmax.max(1)
    # soft: pass 1 is within SOFT_SLACK of exact, so every position that might hold the best is rescored
    cand = (gmax >= top[:, None] - SOFT_SLACK if soft else gmax == top[:, None]) & ~blank[:, None]
    b_best, b_img, b_count = np.full(nb, -1.0), np.full(nb, -1, np.int64), np.zeros(nb, np.int64)
    a_sum = a64.sum(1).numpy()
    for g in np.nonzero(cand.any(0))[0]:
        rows = np.nonzero(cand[:, g])[0]
        t, l = tops[g], lefts[g]
        ag = a64[rows].reshape(-1, dsprites.IMAGE_SIZE, dsprites.IMAGE_SIZE)[:, t:t + WINDOW, l:l + WINDOW]
        bg = torch.from_numpy(np.unpackbits(index.packed[g], axis=1)).double()
        inter = (ag.reshape(len(rows), -1) @ bg.T).numpy()
        iou = inter / (a_sum[rows][:, None] + index.sizes[g][None] - inter)
        v = iou.max(1)
        tied = iou == v[:, None]
        k = tied.sum(1)
        col = np.argmax(tied.cumsum(1) > rng.integers(k)[:, None], axis=1)  # one of the k ties, uniformly
        img = index.members[col] * N_POSITIONS + g
        better = v > b_best[rows]
        same = (v == b_best[rows]) & ~better
        total = b_count[rows] + k
        swap = same & (rng.random(len(rows)) * total < k)  # reservoir: every tied sprite equally likely
        b_img[rows] = np.where(better | swap, img, b_img[rows])
        b_count[rows] = np.where(better, k, np.where(same, total, b_count[rows]))
        b_best[rows] = np.maximum(b_best[rows], v)
    live = ~blank
    return np.where(live, b_best, 0.0), np.where(live, b_img, -1), np.where(live, b_count, index.n_images)


def _search(samples, modes: tuple[str, ...], threshold: float, seed: int, index: SpriteIndex | None) -> dict:
    x = _as_images(samples)
    if not 0.0 < float(threshold) < 1.0:
        raise ValueError(f"threshold must lie strictly between 0 and 1, got {threshold}.")
    index = sprite_index() if index is None else index
    rngs = {mode: np.random.default_rng(seed) for mode in modes}  # one stream each: together = apart
    t0 = time.perf_counter()
    n = len(x)
    blank = (x > threshold).reshape(n, -1).sum(1).numpy() == 0
    found = {mode: (np.zeros(n), np.full(n, -1, np.int64), np.full(n, index.n_images, np.int64)) for mode in modes}
    for s in range(0, n, _BATCH):
        xb = x[s:s + _BATCH]
        nb = len(xb)
        hard = (xb > threshold).to(torch.int8) if "hard" in modes else None
        grey = xb.clamp(0.0, 1.0).double() if "soft" in modes else None
        g_hard, g_soft = _scan(hard, None if grey is None else torch.round(grey * _Q).to(torch.int32),
                               None if hard is None else hard.reshape(nb, -1).sum(1),
                               None if grey is None else grey.reshape(nb, -1).sum(1), index)
        for mode, gmax, a in (("hard", g_hard, hard), ("soft", g_soft, grey)):
            if gmax is not None:
                got = _refine(gmax, a.double().reshape(nb, -1), blank[s:s + nb], mode == "soft", index, rngs[mode])
                for dst, src in zip(found[mode], got):
                    dst[s:s + nb] = src
    secs = time.perf_counter() - t0
    return {mode: NearestReal(*found[mode], blank, mode == "soft", float(threshold), secs, index.n_images)
            for mode in modes}


def nearest_real(samples, *, soft: bool = False, threshold: float = THRESHOLD, seed: int = 0,
                 index: SpriteIndex | None = None) -> NearestReal:
    """Find each sample's nearest dSprites image by IoU among all 737,280 (or the members of `index`).

    `samples`: (N, 1, 64, 64) or (N, 64, 64), tensor or array, values in [0, 1]. Thresholded
    (default): pixels above `threshold` are on. `soft=True`: the grey levels themselves, clipped to
    [0, 1], by weighted Jaccard. `seed` draws among tied sprites.

    Two passes: every sprite is scored in int8 (soft: two int8 products of the grey levels),
    keeping each sample's best score per position; the positions that reach the sample's best are
    then scored again in float64, where equal IoUs are exactly equal, and the nearest sprite is
    drawn uniformly among the tied ones.
    """
    mode = "soft" if soft else "hard"
    return _search(samples, (mode,), threshold, seed, index)[mode]


def nearest_real_both(samples, *, threshold: float = THRESHOLD, seed: int = 0,
                      index: SpriteIndex | None = None) -> tuple[NearestReal, NearestReal]:
    """The thresholded and the soft search in one scan (one int8 product per position for both):
    the same results as two :func:`nearest_real` calls. Faster for a few samples, where the cost of
    each product is mostly the sprites' side (48 samples: 1.0 s against 1.35 s); for hundreds, two
    calls are as fast or faster. `seconds` is their joint time."""
    got = _search(samples, ("hard", "soft"), threshold, seed, index)
    return got["hard"], got["soft"]


# --------------------------------------------------------------------------- coverage


def kl_to_uniform(counts) -> float:
    """KL(histogram ‖ uniform) in nats: Σ p log(p·K); 0 for a uniform histogram, log K for one class."""
    c = np.asarray(counts, dtype=np.float64)
    if c.ndim != 1 or not len(c) or c.sum() <= 0 or (c < 0).any():
        raise ValueError("kl_to_uniform needs a non-empty histogram of non-negative counts with a positive total.")
    p = c / c.sum()
    nz = p > 0
    return float(np.sum(p[nz] * np.log(p[nz] * len(c))))


def continuous_sprites(n: int, seed: int = 0) -> np.ndarray:
    """n sprites drawn perfectly but at continuous factors: shape uniform, scale U[0.5, 1], orientation
    U[0, 2π), position U[0, 1]² (dsprites.render_values). (n, 1, 64, 64) float32 of 0/1. dSprites holds
    only its grid's values (6 scales, 40 orientations, 32 × 32 positions), so such a sprite is rarely
    one of them: its best IoU is what a generator that draws every shape exactly but does not keep to
    the grid can reach."""
    rng = np.random.default_rng(seed)
    img = dsprites.render_values(rng.integers(0, 3, n), rng.uniform(0.5, 1.0, n), rng.uniform(0.0, 2 * np.pi, n),
                                 rng.uniform(0.0, 1.0, n), rng.uniform(0.0, 1.0, n))
    return img[:, None].astype(np.float32)


@functools.lru_cache(maxsize=16)
def uniform_kl_floor(n: int, draws: int = 200, seed: int = 0) -> dict[str, float]:
    """Mean KL(histogram ‖ uniform) of n uniform draws per factor: what real images score at this n
    by chance (about (K − 1) / 2n nats for K classes). Remembered per (n, draws, seed): the Blur vs
    sharpness page asks for it on every run (0.1 s). Read the dict, do not change it."""
    if int(n) < 1:
        raise ValueError(f"uniform_kl_floor needs at least one sample, got n = {n}.")
    rng = np.random.default_rng(seed)
    return {name: float(np.mean([kl_to_uniform(np.bincount(rng.integers(k, size=int(n)), minlength=k))
                                 for _ in range(draws)])) for name, k in zip(FACTORS, FACTOR_SIZES)}


def nearest_real_report(samples, threshold: float = THRESHOLD, soft: bool = False, good: float = GOOD_IOU,
                        seed: int = 0) -> dict:
    """The registry's entry point: :func:`nearest_real` on `samples`, summarised (mean_iou,
    share_good, blank_share, kl per factor, histograms, seconds) with the KL floor at this n."""
    res = nearest_real(samples, soft=soft, threshold=threshold, seed=seed)
    out = res.summary(good)
    out["kl_floor"] = uniform_kl_floor(len(res.iou)) if len(res.iou) else None
    return out


def applies_to(data) -> bool:
    """Whether `data` is dSprites (the generated set or the original file): single-channel 64×64
    images with dSprites' five factors."""
    return (getattr(data, "kind", None) == "images" and tuple(getattr(data, "shape", ())) == (1, 64, 64)
            and list(getattr(data, "factor_sizes", None) or []) == list(FACTOR_SIZES))


def measure_model(model, n: int = 1000, seed: int = 0) -> tuple[dict, dict]:
    """What `genlab eval` stores for a dSprites model: n samples (seeded) searched thresholded and
    soft. Returns (flat numbers for the sidecar's "metrics", details for its "metrics_info")."""
    from genlab.evaluate import generate

    samples = generate(model, n, seed)
    h = nearest_real(samples, seed=seed).summary()
    s = nearest_real(samples, soft=True, seed=seed).summary()  # the grey levels: a VAE's mean image
    flat = {"nearest_real_iou": h["mean_iou"], "nearest_real_share_good": h["share_good"],
            "nearest_real_blank": h["blank_share"],
            **{f"nearest_real_kl_{k}": v for k, v in h["kl"].items()},
            "nearest_real_soft_iou": s["mean_iou"], "nearest_real_soft_share_good": s["share_good"]}
    index = sprite_index()
    info = {"n": n, "threshold": h["threshold"], "good_iou": h["good_iou"], "candidates": h["candidates"],
            "histograms": h["histograms"], "soft_histograms": s["histograms"], "soft_kl": s["kl"],
            "kl_floor": uniform_kl_floor(n),
            "search_seconds": {"thresholded": h["seconds"], "soft": s["seconds"]},
            "index": {"seconds": round(index.seconds, 2), "source": "rendered" if index.source == "rendered" else "cache file",
                      "megabytes": round(index.nbytes / 1e6, 1)},
            "method": "IoU against every dSprites image (thresholded at 0.5; soft = weighted Jaccard of the grey levels)"}
    return flat, info


# --------------------------------------------------------------------------- stored figures


def stored(meta: dict) -> dict | None:
    """The figures `genlab eval` stored in a checkpoint's sidecar: {"metrics": the flat
    nearest_real_* numbers, "info": histograms, n, seconds …}, or None when it was not measured."""
    metrics = (meta or {}).get("metrics") or {}
    info = ((meta or {}).get("metrics_info") or {}).get("nearest_real")
    if "nearest_real_iou" not in metrics or not info:
        return None
    return {"metrics": {k: v for k, v in metrics.items() if k.startswith("nearest_real_")}, "info": info}


LIVE_N = 300  # samples the page measures for a checkpoint without stored figures (the size)


def figures(path, load_model, n: int = LIVE_N, seed: int = 0) -> dict:
    """The checkpoint's nearest-real figures: those `genlab eval` stored in its sidecar, else measured
    now on n samples (`load_model(path)` gives the model). {"metrics", "info", "stored": bool}."""
    from genlab.checkpoint import read_metadata

    fig = stored(read_metadata(path))
    if fig is not None:
        return {**fig, "stored": True}
    flat, info = measure_model(load_model(path), n, seed)
    return {"metrics": flat, "info": info, "stored": False}


def table_rows(figs: dict[str, dict]) -> list[dict]:
    """One row per checkpoint name of :func:`figures` results, with the names the page shows."""
    rows = []
    for name, fig in figs.items():
        m, info = fig["metrics"], fig["info"]
        rows.append({"checkpoint": name, "IoU (thresholded)": m.get("nearest_real_iou"),
                     "IoU ≥ 0.8": m.get("nearest_real_share_good"),
                     "grey IoU (not thresholded)": m.get("nearest_real_soft_iou"),
                     "grey IoU ≥ 0.8": m.get("nearest_real_soft_share_good"), "blank": m.get("nearest_real_blank"),
                     **{f"KL {f}": m.get(f"nearest_real_kl_{f}") for f in FACTORS},
                     "samples": info.get("n"), "figures": "stored by genlab eval" if fig.get("stored") else "measured now"})
    return rows


def shares(fig: dict, factor: str) -> list[float]:
    """The nearest sprites' histogram of one factor as shares of the samples that have one."""
    h = np.asarray(fig["info"]["histograms"][factor], dtype=np.float64)
    return (h / h.sum()).tolist() if h.sum() else [0.0] * len(h)


def factor_labels(factor: str) -> list[str]:
    """Class names of a factor for a chart axis: shape names, scale values, orientation in degrees, position index."""
    if factor == "shape":
        return list(dsprites.SHAPE_NAMES)
    if factor == "scale":
        return [f"{v:.1f}" for v in dsprites.SCALE_VALUES]
    if factor == "orientation":
        return [f"{np.degrees(v):.0f}°" for v in dsprites.ORIENTATION_VALUES]
    return [str(i) for i in range(FACTOR_SIZES[FACTORS.index(factor)])]


def pairs(samples: dict, seed: int = 0, index: SpriteIndex | None = None) -> dict[str, dict]:
    """Each named set of samples beside its nearest real sprites: one thresholded and one soft search
    over all sets together. {name: {"pairs": (k, 2, 1, 64, 64) sample and sprite, "iou", "soft_iou",
    "factors" (k, 5)}}."""
    names = list(samples)
    arrays = [_as_images(samples[k]).numpy()[:, None] for k in names]
    if not arrays:
        return {}
    x = np.concatenate(arrays)
    hard, soft = nearest_real_both(x, seed=seed, index=index)
    near = hard.neighbours()
    out, a = {}, 0
    for name, arr in zip(names, arrays):
        b = a + len(arr)
        out[name] = {"pairs": np.stack([arr, near[a:b]], axis=1), "iou": hard.iou[a:b].tolist(),
                     "soft_iou": soft.iou[a:b].tolist(), "factors": hard.factors[a:b].tolist()}
        a = b
    return out


def _cell(v, fmt: str) -> str:
    return "–" if v is None or (isinstance(v, float) and v != v) else fmt.format(v)


def results_table(entries) -> str:
    """Markdown table of the stored nearest-real figures; `entries`: (checkpoint name, model name,
    sidecar dict) for each checkpoint. Checkpoints without the figures are left out."""
    head = ["checkpoint", "model", "samples", "mean IoU", "IoU ≥ 0.8", "blank"] + [f"KL {f}" for f in FACTORS] + [
        "soft IoU (grey levels)", "soft ≥ 0.8", "search (s): thresholded / soft"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    floors = {}
    for name, model, meta in entries:
        fig = stored(meta)
        if fig is None:
            continue
        m, info = fig["metrics"], fig["info"]
        secs = info.get("search_seconds") or {}
        lines.append("| " + " | ".join(
            [name, model, _cell(info.get("n"), "{:,}"), _cell(m.get("nearest_real_iou"), "{:.3f}"),
             _cell(m.get("nearest_real_share_good"), "{:.0%}"), _cell(m.get("nearest_real_blank"), "{:.1%}")]
            + [_cell(m.get(f"nearest_real_kl_{f}"), "{:.3f}") for f in FACTORS]
            + [_cell(m.get("nearest_real_soft_iou"), "{:.3f}"), _cell(m.get("nearest_real_soft_share_good"), "{:.0%}"),
               f"{_cell(secs.get('thresholded'), '{:.1f}')} / {_cell(secs.get('soft'), '{:.1f}')}"]) + " |")
        if info.get("kl_floor") and info.get("n"):
            floors[int(info["n"])] = info["kl_floor"]
    if len(lines) == 2:
        return "(no checkpoint measured yet: run `genlab eval CHECKPOINT --metrics nearest_real` on a dSprites model)"
    for n, fl in sorted(floors.items()):
        lines += ["", f"KL that {n:,} uniform draws score by chance (real images' floor at this n): "
                  + ", ".join(f"{f} {fl[f]:.3f}" for f in FACTORS if f in fl) + "."]
    return "\n".join(lines)
