"""Sample-quality measures on feature arrays (N, F).

Features come from a network trained on the dataset itself (``genlab.metrics.classifier``),
not Inception: numbers are comparable within genlab, not with published FID/KID values.
Distances use ``torch.cdist`` in row chunks on the inputs' device (or ``device=``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = [
    "feature_stats",
    "frechet_distance",
    "frechet_distance_from_stats",
    "kid",
    "precision_recall",
    "density_coverage",
    "knn_radii",
]


def _np64(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    x = np.asarray(x, dtype=np.float64)
    return x.reshape(len(x), -1)


def _torch(x: Any, device: Any = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        t = x.detach()
        device = device or t.device
    else:
        t = torch.from_numpy(np.asarray(x))
    return t.reshape(len(t), -1).to(device=device or "cpu", dtype=dtype)


def feature_stats(features: Any) -> tuple[np.ndarray, np.ndarray]:
    """Mean (F,) and unbiased covariance (F, F) of features, float64."""
    f = _np64(features)
    return f.mean(axis=0), np.cov(f, rowvar=False).reshape(f.shape[1], f.shape[1])


def _sqrtm_psd(a: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((a + a.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance_from_stats(mu1: Any, cov1: Any, mu2: Any, cov2: Any) -> float:
    """‖μ1−μ2‖² + Tr Σ1 + Tr Σ2 − 2 Tr (Σ1Σ2)^½ (Dowson & Landau 1982; FID of Heusel et al. 2017) from moments."""
    mu1, mu2 = np.asarray(mu1, np.float64).ravel(), np.asarray(mu2, np.float64).ravel()
    cov1, cov2 = np.atleast_2d(np.asarray(cov1, np.float64)), np.atleast_2d(np.asarray(cov2, np.float64))
    # Tr (Σ1Σ2)^½ = Tr (Σ1^½ Σ2 Σ1^½)^½: the inner matrix is symmetric PSD, so an eigen-decomposition
    # gives a real, stable answer even for singular covariances (N < F), where sqrtm of Σ1Σ2 struggles.
    s1 = _sqrtm_psd(cov1)
    inner = s1 @ cov2 @ s1
    tr_covmean = np.sqrt(np.clip(np.linalg.eigvalsh((inner + inner.T) / 2), 0, None)).sum()
    d = float(np.sum((mu1 - mu2) ** 2) + np.trace(cov1) + np.trace(cov2) - 2 * tr_covmean)
    return max(d, 0.0)


def frechet_distance(f1: Any, f2: Any) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (Heusel et al. 2017, FID formula on genlab's own features)."""
    return frechet_distance_from_stats(*feature_stats(f1), *feature_stats(f2))


def kid(
    f1: Any,
    f2: Any,
    subsets: int = 100,
    subset_size: int = 1000,
    rng: np.random.Generator | int | None = 0,
    device: Any = None,
) -> dict:
    """KID (Bińkowski et al. 2018): unbiased MMD² with kernel (xᵀy/d + 1)³, mean and std over 100 random subsets
    of 1,000 (capped at the smaller set)."""
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    x, y = _torch(f1, device, torch.float64), _torch(f2, device, torch.float64)
    d = x.shape[1]
    m = min(subset_size, len(x), len(y))
    if m < 2:
        raise ValueError("KID needs at least 2 samples in each set")
    vals = np.empty(subsets)
    for s in range(subsets):
        a = x[torch.as_tensor(rng.choice(len(x), m, replace=False), device=x.device)]
        b = y[torch.as_tensor(rng.choice(len(y), m, replace=False), device=y.device)]
        kxx = (a @ a.T / d + 1) ** 3
        kyy = (b @ b.T / d + 1) ** 3
        kxy = (a @ b.T / d + 1) ** 3
        mmd2 = (
            (kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1))
            + (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
            - 2 * kxy.mean()
        )
        vals[s] = float(mmd2)
    return {"mean": float(vals.mean()), "std": float(vals.std(ddof=1)) if subsets > 1 else 0.0,
            "subsets": subsets, "subset_size": m}


def _chunk_rows(n_cols: int, budget: int = 1 << 24) -> int:
    return max(1, budget // max(1, n_cols))


def knn_radii(x: Any, k: int, device: Any = None) -> torch.Tensor:
    """Distance from each row of x to its k-th nearest other row (self excluded), chunked cdist."""
    x = _torch(x, device)
    if len(x) <= k:
        raise ValueError(f"need more than k={k} points")
    out = torch.empty(len(x), device=x.device, dtype=x.dtype)
    step = _chunk_rows(len(x))
    for s in range(0, len(x), step):
        d = torch.cdist(x[s : s + step], x)
        # the k+1 smallest include the point itself (distance 0)
        out[s : s + step] = d.topk(k + 1, dim=1, largest=False).values[:, k]
    return out


def _ball_counts(queries: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor, strict: bool) -> torch.Tensor:
    """For each query, how many balls B(centre_i, radius_i) contain it."""
    counts = torch.empty(len(queries), device=queries.device, dtype=torch.long)
    step = _chunk_rows(len(centres))
    for s in range(0, len(queries), step):
        d = torch.cdist(queries[s : s + step], centres)
        inside = d < radii[None, :] if strict else d <= radii[None, :]
        counts[s : s + step] = inside.sum(1)
    return counts


def _nearest_dist(queries: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    out = torch.empty(len(queries), device=queries.device, dtype=queries.dtype)
    step = _chunk_rows(len(points))
    for s in range(0, len(queries), step):
        out[s : s + step] = torch.cdist(queries[s : s + step], points).min(1).values
    return out


def precision_recall(real: Any, fake: Any, k: int = 3, device: Any = None) -> dict:
    """Improved precision/recall (Kynkäänniemi et al. 2019, k = 3): share of fake in the union of real k-NN balls,
    and of real in the fake balls."""
    r, f = _torch(real, device), _torch(fake, device)
    f = f.to(r.device)
    rr, rf = knn_radii(r, k), knn_radii(f, k)
    precision = (_ball_counts(f, r, rr, strict=False) > 0).float().mean().item()
    recall = (_ball_counts(r, f, rf, strict=False) > 0).float().mean().item()
    return {"precision": precision, "recall": recall, "k": k}


def density_coverage(real: Any, fake: Any, k: int = 5, device: Any = None) -> dict:
    """Density and coverage (Naeem et al. 2020, k = 5): mean number of real k-NN balls holding a fake sample / k,
    and share of real balls holding a fake sample."""
    r, f = _torch(real, device), _torch(fake, device)
    f = f.to(r.device)
    rr = knn_radii(r, k)
    density = (_ball_counts(f, r, rr, strict=True).double().mean() / k).item()
    coverage = (_nearest_dist(r, f) < rr).float().mean().item()
    return {"density": density, "coverage": coverage, "k": k}
