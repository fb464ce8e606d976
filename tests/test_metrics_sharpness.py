"""Known-answer tests for genlab.metrics.sharpness."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from genlab.metrics.sharpness import (
    gradient_magnitude,
    high_frequency_energy,
    laplacian_variance,
    radial_power_spectrum,
    sharpness_report,
    to_gray,
)


def sprites(n: int = 16, size: int = 32, seed: int = 0) -> np.ndarray:
    """Binary images with a random filled rectangle and a random disc (dSprites-like)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    out = np.zeros((n, size, size))
    for i in range(n):
        h, w = rng.integers(4, 12, 2)
        r, c = rng.integers(2, size - 2 - h), rng.integers(2, size - 2 - w)
        out[i, r : r + h, c : c + w] = 1
        cy, cx, rad = rng.uniform(8, size - 8), rng.uniform(8, size - 8), rng.uniform(3, 6)
        out[i][(yy - cy) ** 2 + (xx - cx) ** 2 <= rad**2] = 1
    return out


def test_laplacian_variance_hand_computed():
    # 4×4 image, one bright pixel at (1, 1). Valid 3×3 Laplacian output is 2×2:
    # centre (1,1): −4; (1,2): +1; (2,1): +1; (2,2): 0.  Mean −0.5, variance = (12.25+2.25+2.25+0.25)/4 = 4.25.
    img = np.zeros((4, 4))
    img[1, 1] = 1.0
    assert laplacian_variance(img[None])[0] == pytest.approx(4.25, abs=1e-12)
    # A linear ramp has zero Laplacian; a 0/1 checkerboard gives −4 on ones and +4 on zeros: variance 16.
    ramp = np.tile(np.linspace(0, 1, 6), (6, 1))
    assert laplacian_variance(ramp)[0] == pytest.approx(0.0, abs=1e-20)
    checker = (np.indices((6, 6)).sum(0) % 2).astype(float)
    assert laplacian_variance(checker)[0] == pytest.approx(16.0)


def test_gradient_magnitude_of_a_ramp_is_its_slope():
    ramp = np.tile(np.arange(10) * 0.05, (10, 1))
    assert gradient_magnitude(ramp)[0] == pytest.approx(0.05)


def blur(imgs: np.ndarray, sigma: float) -> np.ndarray:
    # Circular (wrap) blur: the FFT-based measure treats images as periodic, and for a circular
    # Gaussian blur the high-frequency share provably decreases with sigma. With 'reflect' borders
    # a sprite near the edge can gain a little periodic-boundary energy at sigma 3 (measured).
    return gaussian_filter(imgs, (0, sigma, sigma), mode="wrap")


@pytest.mark.parametrize("measure", [laplacian_variance, gradient_magnitude, high_frequency_energy])
def test_blur_lowers_every_measure_monotonically(measure):
    imgs = sprites()
    values = [measure(imgs)] + [measure(blur(imgs, s)) for s in (0.5, 1.0, 2.0, 3.0)]
    means = [v.mean() for v in values]
    assert all(a > b for a, b in zip(means, means[1:])), means
    # per image as well: every blurred copy is less sharp than its sharper version
    assert all(np.all(a > b) for a, b in zip(values, values[1:]))


def test_colour_and_tensor_inputs():
    imgs = sprites(4)
    rgb = np.repeat(imgs[:, None], 3, axis=1)  # grey replicated in RGB -> same grey image
    np.testing.assert_allclose(laplacian_variance(rgb), laplacian_variance(imgs), rtol=1e-12)
    t = torch.from_numpy(imgs).float()
    np.testing.assert_allclose(gradient_magnitude(t), gradient_magnitude(imgs), rtol=1e-5)
    assert to_gray(t[:, None]).shape == (4, 1, 32, 32)


def test_high_frequency_energy_known_cases():
    flat = np.full((2, 16, 16), 0.5)
    assert np.all(high_frequency_energy(flat) == 0.0)
    x = np.arange(16)
    nyquist = np.tile((-1.0) ** x, (16, 1))  # all power at (0, Nyquist): normalised radius 1
    low = np.tile(np.cos(2 * np.pi * x / 16), (16, 1))  # radius 1/8 < 0.25
    assert high_frequency_energy(nyquist)[0] == pytest.approx(1.0)
    assert high_frequency_energy(low)[0] == pytest.approx(0.0, abs=1e-12)


def test_radial_power_spectrum_and_report():
    imgs = sprites(8)
    freqs, power = radial_power_spectrum(imgs)
    assert freqs.shape == power.shape == (16,)
    assert np.all(np.diff(freqs) > 0) and freqs[-1] < 0.5
    _, blurred = radial_power_spectrum(blur(imgs, 2.0))
    assert blurred[-1] < 0.01 * power[-1]  # blur removes high frequencies
    rep = sharpness_report(imgs)
    for key in ("laplacian_variance", "gradient_magnitude", "high_frequency_energy"):
        assert rep[key]["per_image"].shape == (8,)
        assert rep[key]["mean"] == pytest.approx(rep[key]["per_image"].mean())
    assert rep["radial_power_spectrum"]["power"].shape == (16,)
