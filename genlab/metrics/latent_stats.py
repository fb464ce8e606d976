"""Statistics of a VAE's latent space: per-dimension KL, active units, aggregate posterior, MMD, prior holes,
the mutual information I(x; z) under q and the bound's split into reconstruction and KL.

Functions accept numpy arrays or torch tensors. ``kl_per_dim`` and ``mmd`` return torch tensors
(differentiable) for torch input and numpy/float for numpy input; the others return dicts of
numpy arrays and floats.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import torch

__all__ = ["kl_per_dim", "active_units", "aggregate_posterior_stats", "aggregate_posterior_sample", "mmd", "prior_holes",
           "mutual_information", "bound_split"]


def _t(x: Any, dtype: torch.dtype | None = None) -> torch.Tensor:
    t = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x, dtype=np.float64))
    if dtype is not None:
        t = t.to(dtype)
    return t if t.is_floating_point() else t.double()


def _np(x: torch.Tensor) -> np.ndarray:
    return x.detach().cpu().numpy()


def kl_per_dim(mu: Any, logvar: Any) -> Any:
    """Mean over data of KL(N(μ, σ²) ‖ N(0, 1)) = ½(μ² + σ² − 1 − log σ²) per latent dimension (Kingma & Welling 2014), in nats."""
    is_torch = isinstance(mu, torch.Tensor)
    m, lv = _t(mu), _t(logvar)
    kl = 0.5 * (m**2 + lv.exp() - 1 - lv)
    kl = kl.reshape(-1, kl.shape[-1]).mean(0)
    return kl if is_torch else _np(kl)


def active_units(mu: Any, threshold: float = 0.01, logvar: Any = None, kl_threshold: float = 0.01) -> dict:
    """Active units (Burda et al. 2016): dims whose encoder-mean variance over data Cov_x(E_q[z]) exceeds 0.01;
    with logvar also counts dims whose mean KL exceeds 0.01 nats."""
    m = _t(mu).reshape(-1, _t(mu).shape[-1])
    activity = m.var(0, unbiased=True) if len(m) > 1 else torch.zeros(m.shape[1], dtype=m.dtype)
    active = activity > threshold
    out = {
        "n_active": int(active.sum()),
        "active": _np(active),
        "activity": _np(activity),
        "threshold": threshold,
    }
    if logvar is not None:
        kl = torch.as_tensor(kl_per_dim(m, _t(logvar).reshape(m.shape)))
        out.update({"n_active_kl": int((kl > kl_threshold).sum()), "active_kl": _np(kl > kl_threshold),
                    "kl_per_dim": _np(kl), "kl_threshold": kl_threshold})
    return out


def aggregate_posterior_stats(mu: Any, logvar: Any = None) -> dict:
    """Moments of the aggregate posterior q(z) = mean_x N(μ(x), diag σ²(x)) against the N(0, I) prior (Makhzani et
    al. 2016; Rosca et al. 2018): mean, covariance, and the Gaussian KL to the prior."""
    m = _t(mu).reshape(-1, _t(mu).shape[-1]).double()
    d = m.shape[1]
    mean = m.mean(0)
    centred = m - mean
    cov = centred.T @ centred / max(len(m) - 1, 1)
    if logvar is not None:  # law of total covariance: Cov(μ) + E[diag σ²]
        cov = cov + torch.diag(_t(logvar).reshape(m.shape).double().exp().mean(0))
    diag = torch.diagonal(cov)
    off = cov - torch.diag(diag)
    sign, logdet = torch.linalg.slogdet(cov)
    kl = 0.5 * (diag.sum() + mean @ mean - d - logdet) if sign > 0 else torch.tensor(float("inf"))
    return {
        "mean": _np(mean),
        "cov": _np(cov),
        "diag": _np(diag),
        "mean_norm": float(mean.norm()),
        "mean_abs_offdiag_cov": float(off.abs().sum() / max(d * (d - 1), 1)),
        "mean_abs_diag_minus_one": float((diag - 1).abs().mean()),
        "gaussian_kl_to_prior": float(kl),  # KL(N(mean, cov) ‖ N(0, I)), nats
    }


def _sq_dists(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distances without sqrt, so gradients stay finite at zero distance."""
    return (a.pow(2).sum(1)[:, None] + b.pow(2).sum(1)[None, :] - 2 * a @ b.T).clamp_min(0)


def _kernel(d2: torch.Tensor, kernel: str, scales: Sequence[float]) -> torch.Tensor:
    k = torch.zeros_like(d2)
    for c in scales:
        if kernel == "imq":
            k = k + c / (c + d2)
        elif kernel == "rbf":
            k = k + torch.exp(-d2 / c)
        else:
            raise ValueError("kernel must be 'imq' or 'rbf'")
    return k


def _kernel_mean(a: torch.Tensor, b: torch.Tensor, kernel: str, scales: Sequence[float], same: bool, chunk: int) -> torch.Tensor:
    """Mean of k(a_i, b_j) over pairs (i ≠ j when a is b), in row chunks."""
    total = a.new_zeros(())
    for s in range(0, len(a), chunk):
        k = _kernel(_sq_dists(a[s : s + chunk], b), kernel, scales)
        if same:
            rows = torch.arange(k.shape[0], device=k.device)
            k = k.index_put((rows, rows + s), k.new_zeros(k.shape[0]))
        total = total + k.sum()
    n_pairs = len(a) * (len(b) - 1) if same else len(a) * len(b)
    return total / n_pairs


def mmd(x: Any, y: Any, kernel: str = "imq", scale: float | Sequence[float] | None = None, chunk: int = 4096) -> Any:
    """Unbiased MMD² (Gretton et al. 2012) with IMQ k = C/(C+‖x−y‖²) (WAE, Tolstikhin et al. 2018) or RBF k =
    exp(−‖x−y‖²/C); default C = 2·dim (2·d·σ² for a N(0, I) prior); a list of C sums kernels.

    Torch in, torch out (differentiable, on the inputs' device: usable as the InfoVAE/WAE loss);
    numpy in, float out. Memory is O(chunk × N).
    """
    is_torch = isinstance(x, torch.Tensor) or isinstance(y, torch.Tensor)
    a, b = _t(x), _t(y)
    b = b.to(device=a.device, dtype=a.dtype)
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    if len(a) < 2 or len(b) < 2:
        raise ValueError("MMD needs at least 2 samples on each side")
    d = a.shape[1]
    scales = [2.0 * d] if scale is None else ([float(scale)] if np.isscalar(scale) else [float(c) for c in scale])
    val = (
        _kernel_mean(a, a, kernel, scales, True, chunk)
        + _kernel_mean(b, b, kernel, scales, True, chunk)
        - 2 * _kernel_mean(a, b, kernel, scales, False, chunk)
    )
    return val if is_torch else float(val)


def _nn_dist(q: torch.Tensor, p: torch.Tensor, exclude_self: bool, chunk: int = 2048) -> torch.Tensor:
    out = torch.empty(len(q), dtype=q.dtype, device=q.device)
    for s in range(0, len(q), chunk):
        d = torch.cdist(q[s : s + chunk], p)
        if exclude_self:
            rows = torch.arange(d.shape[0], device=d.device)
            d[rows, rows + s] = float("inf")
        out[s : s + chunk] = d.min(1).values
    return out


def aggregate_posterior_sample(mu: Any, logvar: Any, seed: int = 0) -> torch.Tensor:
    """One draw z ~ q(z|x) = N(μ, σ²) per encoded point: a sample of the aggregate posterior q(z).

    This, not the means μ, is what to set against the prior. The means sit closer together than
    q(z) (each point's σ is left out, and a dimension the KL calls unused has μ ≈ 0 for every
    point), so against them nearly every prior sample looks like a hole, even for a VAE whose q(z)
    matches the prior."""
    m, lv = _t(mu, torch.float32), _t(logvar, torch.float32)
    eps = torch.randn(m.shape, generator=torch.Generator().manual_seed(int(seed))).to(m.device)
    return m + (0.5 * lv).exp() * eps


def prior_holes(codes: Any, prior_samples: Any = None, threshold: float | None = None, n_prior: int = 10_000, seed: int = 0) -> dict:
    """Share of prior samples whose nearest encoded point is farther than a threshold (holes in q(z), cf. Rosca et
    al. 2018); default threshold = 99th percentile of the codes' own nearest-neighbour distances.

    `codes` should be samples of the aggregate posterior (aggregate_posterior_sample), not the
    encoder means.

    With that default a representation whose aggregate posterior matches the prior scores
    about 0.01 (by construction, for equal sample sizes); prior_samples default to n_prior
    draws from N(0, I). Compare values only at equal numbers of codes and prior samples.
    """
    c = _t(codes, torch.float32)
    c = c.reshape(len(c), -1)
    if prior_samples is None:
        g = torch.Generator().manual_seed(seed)
        p = torch.randn(n_prior, c.shape[1], generator=g).to(c.device)
    else:
        p = _t(prior_samples, torch.float32).to(c.device)
        p = p.reshape(len(p), -1)
    if threshold is None:
        threshold = float(torch.quantile(_nn_dist(c, c, exclude_self=True).double().cpu(), 0.99))
    d = _nn_dist(p, c, exclude_self=False)
    return {
        "share": float((d > threshold).double().mean()),
        "threshold": float(threshold),
        "prior_nn_distance": _np(d),
        "n_codes": int(len(c)),
        "n_prior": int(len(p)),
    }


def mutual_information(mu: Any, logvar: Any, seed: int = 0, chunk: int = 512) -> dict:
    """I(x; z) under q(x, z) = p_data(x)·q(z|x), estimated on N encoded points as in Hoffman & Johnson 2016
    ("ELBO surgery") and He et al. 2019 ("Lagging Inference Networks", their calc_mi):

        I ≈ mean_i log q(z_i|x_i) − mean_i log q(z_i),   z_i ~ q(z|x_i),   q(z) ≈ (1/N) Σ_j q(z|x_j)

    with the first term taken exactly (the Gaussian's negative entropy). A code that ignores x (every
    q(z|x) the same) gives ≈ 0; the aggregate over the N points cannot tell more than N codes apart, so
    the estimate never exceeds log N (reached by N posteriors that do not overlap at all). Nats.
    Returns {"mi", "log_n" (that ceiling), "n"}."""
    m, lv = _t(mu, torch.float64), _t(logvar, torch.float64)
    m, lv = m.reshape(-1, m.shape[-1]), lv.reshape(-1, m.shape[-1])
    n, d = m.shape
    if n < 2:
        raise ValueError("the mutual information estimate needs at least 2 encoded points")
    neg_entropy = (-0.5 * d * math.log(2 * math.pi) - 0.5 * (1 + lv).sum(1)).mean()
    eps = torch.randn(m.shape, generator=torch.Generator().manual_seed(int(seed)), dtype=torch.float64).to(m.device)
    z = m + (0.5 * lv).exp() * eps
    inv_var, log_norm = (-lv).exp(), -0.5 * (lv.sum(1) + d * math.log(2 * math.pi))  # (N, D), (N,)
    log_qz = []
    for s in range(0, n, chunk):
        diff = z[s:s + chunk, None, :] - m[None]  # (c, N, D)
        log_dens = log_norm[None] - 0.5 * (diff.pow(2) * inv_var[None]).sum(2)  # log q(z_i | x_j)
        log_qz.append(torch.logsumexp(log_dens, 1) - math.log(n))
    mi = float(neg_entropy - torch.cat(log_qz).mean())
    return {"mi": mi, "log_n": math.log(n), "n": int(n)}


def bound_split(rec_nll: Any, mu: Any, logvar: Any) -> dict:
    """The ELBO split into its two terms, per image and averaged over the images: reconstruction
    E_q[−log p(x|z)] (`rec_nll`, one value per image) and KL(q(z|x) ‖ N(0, I)), so that
    ELBO = −(rec + kl) ≤ log p(x) (Kingma & Welling 2014, eq. 3). A decoder that models the images
    alone can reach a good bound with kl ≈ 0: the code ignored (Chen et al. 2017). Nats."""
    r = _t(rec_nll, torch.float64).reshape(-1)
    kl = kl_per_dim(_t(mu, torch.float64), _t(logvar, torch.float64)).sum()
    if len(r) != _t(mu).reshape(-1, _t(mu).shape[-1]).shape[0]:
        raise ValueError(f"one reconstruction term per encoded point: got {len(r)} for {_t(mu).shape[0]} points")
    rec = float(r.mean())
    return {"rec": rec, "kl": float(kl), "elbo": -(rec + float(kl))}
