"""Blur / sharpness measures on images (N, C, H, W) or (N, H, W) in [0, 1] (numpy or torch).

Colour images are converted to grey with ITU-R 601 luma weights (0.299, 0.587, 0.114); other
channel counts are averaged. Values depend on pixel scaling: always show the real data's value
next to a model's. Per-image results are numpy arrays.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

__all__ = [
    "to_gray",
    "laplacian_variance",
    "gradient_magnitude",
    "high_frequency_energy",
    "radial_power_spectrum",
    "sharpness_report",
]

_LAPLACIAN = [[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]]
_SOBEL_X = [[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]


def to_gray(images: Any) -> torch.Tensor:
    """(N,C,H,W), (N,H,W) or (H,W) -> (N,1,H,W) grey tensor (float64 on CPU, float32 elsewhere), on the input's device."""
    x = images if isinstance(images, torch.Tensor) else torch.from_numpy(np.asarray(images))
    x = x.detach()
    x = x.to(torch.float64 if x.device.type == "cpu" else torch.float32)
    if x.ndim == 2:
        x = x[None]
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4:
        raise ValueError(f"images must be (N,C,H,W), (N,H,W) or (H,W); got {tuple(x.shape)}")
    c = x.shape[1]
    if c == 3:
        w = torch.tensor([0.299, 0.587, 0.114], dtype=x.dtype, device=x.device)
        x = (x * w[None, :, None, None]).sum(1, keepdim=True)
    elif c != 1:
        x = x.mean(1, keepdim=True)
    return x


def _conv(gray: torch.Tensor, kernel: list) -> torch.Tensor:
    k = torch.tensor(kernel, dtype=gray.dtype, device=gray.device)[None, None]
    return F.conv2d(gray, k)  # no padding: 'valid' output (H−2, W−2)


def laplacian_variance(images: Any) -> np.ndarray:
    """Per-image variance (population, ddof 0) of the 3×3 Laplacian [[0,1,0],[1,−4,1],[0,1,0]] response, no
    padding (WAE paper, Tolstikhin et al. 2018)."""
    lap = _conv(to_gray(images), _LAPLACIAN)
    return lap.flatten(1).var(dim=1, unbiased=False).cpu().numpy()


def gradient_magnitude(images: Any) -> np.ndarray:
    """Per-image mean Sobel gradient magnitude, kernels divided by 8 so a ramp of slope s per pixel gives s; no padding."""
    g = to_gray(images)
    gx = _conv(g, _SOBEL_X) / 8
    gy = _conv(g, [list(r) for r in zip(*_SOBEL_X)]) / 8
    return torch.sqrt(gx**2 + gy**2).flatten(1).mean(1).cpu().numpy()


def _power_and_radius(images: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """|FFT2|² per image (N, H, W) and each bin's normalised radial frequency (1 = Nyquist along an axis)."""
    g = to_gray(images)[:, 0]
    power = torch.fft.fft2(g).abs() ** 2
    h, w = g.shape[-2:]
    fy = torch.fft.fftfreq(h, device=g.device, dtype=g.dtype)
    fx = torch.fft.fftfreq(w, device=g.device, dtype=g.dtype)
    radius = torch.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2) / 0.5
    return power, radius


def high_frequency_energy(images: Any, cutoff: float = 0.25) -> np.ndarray:
    """Per-image share of spectral power (DC excluded) above a normalised radial frequency of 0.25 (1 = Nyquist,
    i.e. 0.5 cycles/pixel); 0 for flat images."""
    power, radius = _power_and_radius(images)
    ac = power * (radius > 0)
    total = ac.flatten(1).sum(1)
    high = (power * (radius > cutoff)).flatten(1).sum(1)
    share = torch.where(total > 0, high / total.clamp_min(1e-300), torch.zeros_like(total))
    return share.cpu().numpy()


def radial_power_spectrum(images: Any, n_bins: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Radially averaged power spectrum averaged over images: (bin-centre frequencies in cycles/pixel up to
    Nyquist 0.5, mean power per bin); DC excluded; default n_bins = min(H, W)//2."""
    power, radius = _power_and_radius(images)
    h, w = power.shape[-2:]
    n_bins = n_bins or max(1, min(h, w) // 2)
    freq = radius * 0.5  # cycles / pixel
    edges = torch.linspace(0, 0.5, n_bins + 1, dtype=freq.dtype, device=freq.device)
    idx = torch.bucketize(freq, edges[1:-1], right=True)  # bin 0..n_bins-1 for freq < 0.5 ...
    keep = (freq > 0) & (freq <= 0.5)  # ... corners beyond Nyquist and DC are left out
    mean_power = power.mean(0)
    sums = torch.zeros(n_bins, dtype=power.dtype, device=power.device).index_add_(0, idx[keep], mean_power[keep])
    counts = torch.zeros(n_bins, dtype=power.dtype, device=power.device).index_add_(
        0, idx[keep], torch.ones_like(mean_power[keep])
    )
    spectrum = torch.where(counts > 0, sums / counts.clamp_min(1), torch.full_like(sums, float("nan")))
    centres = (edges[:-1] + edges[1:]) / 2
    return centres.cpu().numpy(), spectrum.cpu().numpy()


def sharpness_report(images: Any, cutoff: float = 0.25) -> dict:
    """All sharpness measures: per-image arrays and their means/stds, plus the radially averaged power spectrum."""
    out: dict[str, Any] = {}
    for name, fn in (
        ("laplacian_variance", laplacian_variance),
        ("gradient_magnitude", gradient_magnitude),
        ("high_frequency_energy", lambda x: high_frequency_energy(x, cutoff)),
    ):
        v = fn(images)
        out[name] = {"per_image": v, "mean": float(v.mean()), "std": float(v.std())}
    freqs, power = radial_power_spectrum(images)
    out["radial_power_spectrum"] = {"freqs": freqs, "power": power}
    out["cutoff"] = cutoff
    return out
