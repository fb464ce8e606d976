"""Known-answer tests for genlab.metrics.latent_stats and the metrics registry."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genlab.metrics.latent_stats import active_units, aggregate_posterior_stats, kl_per_dim, mmd, prior_holes


def test_kl_per_dim_closed_form():
    mu = np.array([[0.0, 1.0, 2.0], [0.0, -1.0, 0.0]])
    logvar = np.array([[0.0, 0.0, math.log(4.0)], [0.0, 0.0, math.log(0.25)]])
    # ½(μ² + σ² − 1 − log σ²): dim 0 → 0; dim 1 → 0.5; dim 2 → mean(½(4+4−1−log 4), ½(0+0.25−1−log 0.25))
    d2 = 0.5 * ((4 + 4 - 1 - math.log(4)) + (0.25 - 1 - math.log(0.25))) / 2
    np.testing.assert_allclose(kl_per_dim(mu, logvar), [0.0, 0.5, d2], rtol=1e-12)
    t = kl_per_dim(torch.zeros(5, 4), torch.zeros(5, 4))  # N(0, 1) posterior: KL = 0
    assert isinstance(t, torch.Tensor) and torch.all(t == 0)


def test_active_units_counts_varying_dims():
    rng = np.random.default_rng(0)
    mu = rng.normal(size=(500, 6))
    mu[:, 1] = 0.0  # constant at the prior mean, σ = 1: KL exactly 0
    mu[:, 4] = 0.3  # constant but off-centre: KL = ½·0.09 = 0.045 nats
    mu[:, 5] *= 0.01  # variance 1e-4 < 0.01, KL ≈ 5e-5
    logvar = np.zeros_like(mu)
    res = active_units(mu, logvar=logvar)
    assert res["n_active"] == 3  # Burda et al.: dims 0, 2, 3 vary with x
    assert res["active"].tolist() == [True, False, True, True, False, False]
    # The KL criterion also counts dim 4, which carries no information about x: the reason
    # Burda's covariance criterion is the headline number.
    assert res["n_active_kl"] == 4
    assert res["active_kl"].tolist() == [True, False, True, True, True, False]


def test_aggregate_posterior_of_prior_like_codes():
    rng = np.random.default_rng(1)
    mu = rng.normal(size=(20_000, 3)) * math.sqrt(0.5)
    logvar = np.full_like(mu, math.log(0.5))  # Cov(μ) + E σ² = I
    s = aggregate_posterior_stats(mu, logvar)
    assert s["mean_norm"] < 0.03
    np.testing.assert_allclose(s["diag"], 1.0, atol=0.03)
    assert s["mean_abs_offdiag_cov"] < 0.02 and s["gaussian_kl_to_prior"] < 0.01
    shifted = aggregate_posterior_stats(mu + 2.0, logvar)
    assert shifted["gaussian_kl_to_prior"] == pytest.approx(0.5 * 3 * 4, rel=0.05)  # ½‖μ‖² = 6


def test_mmd_same_vs_shifted_and_differentiable():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(500, 4, generator=g), torch.randn(500, 4, generator=g)
    for kernel in ("imq", "rbf"):
        same = mmd(x, y, kernel=kernel).item()
        shifted = mmd(x, y + 1.0, kernel=kernel).item()
        assert abs(same) < 0.01 and shifted > 0.05 and shifted > 20 * abs(same)
    z = torch.randn(64, 4, generator=g, requires_grad=True)
    loss = mmd(z, torch.randn(64, 4, generator=g))
    loss.backward()
    assert torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0
    # chunking and numpy input give the same value
    a, b = x.double(), y.double() + 0.5
    assert mmd(a, b, chunk=7).item() == pytest.approx(mmd(a, b).item(), rel=1e-10)
    assert mmd(a.numpy(), b.numpy(), scale=[1.0, 8.0]) == pytest.approx(mmd(a, b, scale=[1.0, 8.0]).item())


def test_prior_holes_small_for_prior_codes_large_for_concentrated():
    g = torch.Generator().manual_seed(0)
    prior_codes = torch.randn(2000, 2, generator=g)
    prior = torch.randn(2000, 2, generator=g)
    good = prior_holes(prior_codes, prior)
    assert good["share"] < 0.05  # ≈ 0.01 by construction of the default threshold
    concentrated = 0.1 * torch.randn(2000, 2, generator=g) + 0.5
    bad = prior_holes(concentrated, prior)
    assert bad["share"] > 0.8
    assert prior_holes(prior_codes, n_prior=500)["n_prior"] == 500


def test_holes_are_measured_on_samples_of_q_z_not_on_the_means():
    """An encoder whose q(z|x) is the prior for every x (μ = 0, σ = 1): q(z) is the prior, so about
    1% of prior samples are 'holes' against samples of q(z), while against the means (all at the
    origin) every prior sample is one."""
    from genlab.metrics.latent_stats import aggregate_posterior_sample

    mu, logvar = np.zeros((2000, 4), np.float32), np.zeros((2000, 4), np.float32)
    z = aggregate_posterior_sample(mu, logvar, seed=0)
    assert z.shape == (2000, 4) and abs(float(z.std()) - 1) < 0.05
    assert torch.equal(z, aggregate_posterior_sample(mu, logvar, seed=0))  # reproducible by its seed
    prior = torch.randn(2000, 4, generator=torch.Generator().manual_seed(1))
    assert prior_holes(z, prior)["share"] < 0.05
    assert prior_holes(mu, prior)["share"] == 1.0
    # σ scales the draw: a narrow posterior stays near its mean
    narrow = aggregate_posterior_sample(mu + 3, np.full_like(logvar, np.log(1e-4)), seed=0)
    assert float((narrow - 3).abs().max()) < 0.1


def test_registry_entries_are_complete():
    from genlab.metrics import FAMILIES, METRICS, markdown_table

    assert {"beta_vae", "factor_vae", "mig", "sap", "dci", "modularity", "mode_coverage", "label_coverage",
            "frechet_distance", "kid", "precision_recall", "density_coverage", "laplacian_variance",
            "gradient_magnitude", "high_frequency_energy", "kl_per_dim", "active_units", "mmd",
            "prior_holes"} <= set(METRICS)
    for name, info in METRICS.items():
        assert info.name == name and info.family in FAMILIES
        assert info.description and info.paper and callable(info.function)
        assert info.function.__doc__ and info.function.__doc__.strip()
    assert markdown_table().count("\n") == len(METRICS) + 1
