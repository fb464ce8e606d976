"""Mode-collapse measures: 2-D Gaussian mixtures (PacGAN / VEEGAN protocol) and labelled images.

2-D protocol (Srivastava et al. 2017 "VEEGAN"; Lin et al. 2018 "PacGAN"): ring = 8 modes on the
unit circle with std 0.01; grid = 25 modes at {−4, −2, 0, 2, 4}² with std 0.05; 2,500 samples.
A sample is high quality when it lies within 3 std of its nearest mode; a mode is captured when
at least one high-quality sample is nearest to it; reverse KL = KL(mode histogram of the
high-quality samples ‖ the true mode weights, uniform by default).

Note on the "3 std" rule in 2-D: for an isotropic 2-D Gaussian the radius r/σ follows a
Rayleigh law, so P(r ≤ 3σ) = 1 − exp(−9/2) ≈ 0.9889, not the 1-D 0.9973. Samples of the
true mixture therefore score ≈ 98.9 % high quality.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "ring_centres",
    "grid_centres",
    "sample_mixture",
    "mode_coverage",
    "label_coverage",
    "RING",
    "GRID",
    "PROTOCOL_SAMPLES",
]

PROTOCOL_SAMPLES = 2500  # samples per evaluation in the PacGAN / VEEGAN protocol

RING = {"n_modes": 8, "radius": 1.0, "std": 0.01}
GRID = {"side": 5, "spacing": 2.0, "std": 0.05}


def _to_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def ring_centres(n_modes: int = 8, radius: float = 1.0) -> np.ndarray:
    """(n_modes, 2) centres evenly spaced on a circle (VEEGAN/PacGAN ring: 8 modes, radius 1)."""
    angles = 2 * np.pi * np.arange(n_modes) / n_modes
    return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def grid_centres(side: int = 5, spacing: float = 2.0) -> np.ndarray:
    """(side², 2) centres on a square grid centred at 0 (VEEGAN/PacGAN grid: 5×5 at {−4,−2,0,2,4}²)."""
    axis = (np.arange(side) - (side - 1) / 2) * spacing
    xx, yy = np.meshgrid(axis, axis, indexing="ij")
    return np.stack([xx.ravel(), yy.ravel()], axis=1)


def sample_mixture(
    centres: np.ndarray, std: float, n: int, rng: np.random.Generator | int | None = 0, weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Draw n points from an isotropic Gaussian mixture: returns (samples (n, 2), mode index (n,))."""
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    centres = np.asarray(centres, dtype=np.float64)
    p = None if weights is None else np.asarray(weights, dtype=np.float64) / np.sum(weights)
    idx = rng.choice(len(centres), size=n, p=p)
    return centres[idx] + std * rng.standard_normal((n, centres.shape[1])), idx


def _kl(p: np.ndarray, q: np.ndarray) -> float:
    """KL(p ‖ q) in nats for probability vectors; terms with p = 0 contribute 0."""
    mask = p > 0
    return float(np.sum(p[mask] * np.log(p[mask] / q[mask])))


def mode_coverage(
    samples: Any,
    centres: Any,
    std: float,
    n_std: float = 3.0,
    weights: Any = None,
    chunk: int = 65536,
) -> dict:
    """Mixture mode coverage (VEEGAN/PacGAN): share of samples within 3 std of the nearest mode, modes captured,
    reverse KL(HQ mode histogram ‖ uniform) in nats.

    `std` is one number for every mode (the protocol's mixtures), or one per mode (modes found by
    clustering your own points): a sample is then high quality within n_std of its nearest mode's std.
    `weights`: the modes' true shares, for the reverse KL (default equal)."""
    x = _to_numpy(samples).astype(np.float64).reshape(-1, 2)
    c = _to_numpy(centres).astype(np.float64).reshape(-1, 2)
    m = len(c)
    per_mode = np.ndim(std) > 0
    if per_mode:
        std = np.asarray(std, dtype=np.float64).reshape(-1)
        if len(std) != m:
            raise ValueError(f"mode_coverage: {len(std)} stds for {m} modes")
    nearest = np.empty(len(x), dtype=np.int64)
    dist = np.empty(len(x))
    for s in range(0, len(x), chunk):
        d2 = ((x[s : s + chunk, None, :] - c[None, :, :]) ** 2).sum(-1)
        nearest[s : s + chunk] = d2.argmin(1)
        dist[s : s + chunk] = np.sqrt(d2.min(1))
    hq = dist <= n_std * (std[nearest] if per_mode else std)
    hist = np.bincount(nearest[hq], minlength=m)
    q = np.full(m, 1.0 / m) if weights is None else np.asarray(weights, dtype=np.float64) / np.sum(weights)
    reverse_kl = _kl(hist / hist.sum(), q) if hist.sum() > 0 else float("nan")
    return {
        "high_quality": float(hq.mean()) if len(x) else float("nan"),
        "modes_captured": int((hist > 0).sum()),
        "n_modes": m,
        "reverse_kl": reverse_kl,  # nan when no sample is high quality
        "histogram": hist.tolist(),  # high-quality samples per mode
        "n_samples": int(len(x)),
        "threshold": (n_std * std).tolist() if per_mode else float(n_std * std),
    }


def label_coverage(
    pred_labels: Any,
    n_classes: int,
    real_label_dist: Any = None,
    eps: float = 1e-6,
) -> dict:
    """Label histogram of generated images (classifier predictions): classes covered and KL(generated ‖ real) in
    nats (Metz et al. 2017 / VEEGAN stacked-MNIST style).

    Direction: KL(p_gen ‖ p_real), the same "reverse" direction as ``mode_coverage``: classes
    that the generator never produces contribute 0 (no smoothing needed for them); the
    penalty for dropping classes shows up as the excess mass on the others (dropping half of
    uniform classes gives log 2). Only ``p_real`` is smoothed: it is mixed with ``eps`` per
    class and renormalised, so a generated class absent from the real data gives a large but
    finite value. ``real_label_dist`` may be probabilities or counts; default uniform.
    """
    y = _to_numpy(pred_labels).astype(np.int64).ravel()
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"labels must lie in [0, {n_classes})")
    hist = np.bincount(y, minlength=n_classes)
    if real_label_dist is None:
        q = np.full(n_classes, 1.0 / n_classes)
    else:
        q = _to_numpy(real_label_dist).astype(np.float64).ravel()
        if q.shape != (n_classes,):
            raise ValueError("real_label_dist must have n_classes entries")
        q = q / q.sum()
    q = (q + eps) / (1 + eps * n_classes)
    p = hist / hist.sum() if hist.sum() else np.zeros(n_classes)
    return {
        "histogram": hist.tolist(),
        "modes_covered": int((hist > 0).sum()),
        "n_classes": int(n_classes),
        "kl_to_real": _kl(p, q) if hist.sum() else float("nan"),
        "n_samples": int(y.size),
    }
