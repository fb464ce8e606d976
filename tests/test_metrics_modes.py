"""Known-answer tests for genlab.metrics.modes (2-D mixtures and label coverage)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from genlab.metrics.modes import GRID, RING, grid_centres, label_coverage, mode_coverage, ring_centres, sample_mixture

# Within 3 std in 2-D: the radius of an isotropic Gaussian is Rayleigh, P(r <= 3σ) = 1 − e^{−4.5}.
HQ_2D = 1 - math.exp(-4.5)  # 0.98889 (the 1-D "99.7 %" does not apply in 2-D)


@pytest.mark.parametrize(
    "centres, std",
    [(ring_centres(RING["n_modes"], RING["radius"]), RING["std"]), (grid_centres(GRID["side"], GRID["spacing"]), GRID["std"])],
    ids=["ring", "grid"],
)
def test_true_mixture_captures_every_mode(centres, std):
    x, _ = sample_mixture(centres, std, 20_000, rng=0)
    res = mode_coverage(x, centres, std)
    assert res["modes_captured"] == len(centres)
    assert res["high_quality"] == pytest.approx(HQ_2D, abs=0.004)  # binomial sd ≈ 0.0007
    assert res["reverse_kl"] < 0.01  # multinomial noise only: ≈ (M−1)/(2N)
    assert sum(res["histogram"]) == round(res["high_quality"] * 20_000)


@pytest.mark.parametrize("centres, std", [(ring_centres(), 0.01), (grid_centres(), 0.05)], ids=["ring", "grid"])
def test_single_mode_collapse(centres, std):
    rng = np.random.default_rng(1)
    x = centres[3] + std * rng.standard_normal((2500, 2))
    res = mode_coverage(x, centres, std)
    assert res["modes_captured"] == 1
    assert res["histogram"][3] == sum(res["histogram"])
    assert res["reverse_kl"] == pytest.approx(math.log(len(centres)), abs=1e-12)


def test_far_samples_are_not_high_quality():
    res = mode_coverage(np.full((10, 2), 100.0), ring_centres(), 0.01)
    assert res["high_quality"] == 0.0 and res["modes_captured"] == 0
    assert math.isnan(res["reverse_kl"])


def test_label_coverage_known_answers():
    uniform = label_coverage(np.repeat(np.arange(10), 50), 10)
    assert uniform["modes_covered"] == 10
    assert uniform["kl_to_real"] == pytest.approx(0.0, abs=1e-9)
    half = label_coverage(np.repeat(np.arange(5), 100), 10)
    assert half["modes_covered"] == 5
    assert half["kl_to_real"] == pytest.approx(math.log(2), abs=1e-4)
    one = label_coverage(np.zeros(100, dtype=int), 10)
    assert one["modes_covered"] == 1 and one["kl_to_real"] == pytest.approx(math.log(10), abs=1e-4)
    assert one["histogram"] == [100] + [0] * 9
    # real distribution given as counts: matching it gives 0
    real = np.array([1, 2, 3, 4])
    match = label_coverage(np.repeat(np.arange(4), real * 10), 4, real_label_dist=real)
    assert match["kl_to_real"] == pytest.approx(0.0, abs=1e-5)
