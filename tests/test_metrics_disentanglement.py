"""Known-answer tests for genlab.metrics.disentanglement on a synthetic ground-truth data object.

Three representations of factors with sizes (3, 6, 10, 8, 8):
- "true": the factors themselves, shuffled, rescaled and shifted, plus 3 pure-noise dims;
- "noise": 8 pure-noise dims, independent of the factors;
- "rotated": like "true" but the two 8-valued factors are mixed at 45° into two code dims.
Sizes are small (n = 2,000 codes; 500 BetaVAE/FactorVAE points) so the file runs in seconds;
the functions' defaults stay at disentanglement_lib's sizes.
"""

from __future__ import annotations

import numpy as np
import pytest

from genlab.metrics import disentanglement as D

SIZES = (3, 6, 10, 8, 8)
PERM = np.array([3, 0, 4, 1, 2])
SCALE = np.array([2.0, 0.5, 3.0, 1.0, 1.5])
N_CODES, N_TEST, N_POINTS = 2000, 1000, 500


class SyntheticData:
    factor_names = [f"f{i}" for i in range(len(SIZES))]
    factor_sizes = list(SIZES)

    def sample_factors(self, n, rng):
        return np.stack([rng.integers(0, s, n) for s in self.factor_sizes], axis=1)

    def images_from_factors(self, factors):
        return np.asarray(factors, dtype=np.float32)


def make_represent(kind: str, seed: int = 123):
    noise = np.random.default_rng(seed)
    sizes = np.asarray(SIZES, dtype=np.float64)

    def represent(images):
        z = images / (sizes - 1)
        if kind == "noise":
            return noise.normal(size=(len(z), 8))
        if kind == "rotated":
            a, b = z[:, 3].copy(), z[:, 4].copy()
            z[:, 3], z[:, 4] = (a + b) / np.sqrt(2), (a - b) / np.sqrt(2)
        return np.concatenate([z[:, PERM] * SCALE + 0.3, noise.normal(size=(len(z), 3))], axis=1)

    return represent


@pytest.fixture(scope="module")
def scores():
    data = SyntheticData()
    out = {}
    for kind in ("true", "noise", "rotated"):
        rng = np.random.default_rng(0)
        rep = make_represent(kind)
        res = {
            "beta_vae": D.beta_vae_score(data, rep, rng, num_train=N_POINTS, num_eval=N_POINTS),
            "factor_vae": D.factor_vae_score(
                data, rep, rng, num_train=N_POINTS, num_eval=N_POINTS, num_variance_estimate=N_CODES
            ),
        }
        codes, factors = D.sample_codes(data, rep, N_CODES + N_TEST, rng)
        res.update(D.score_codes(codes, factors, rng=rng, num_train=N_CODES, num_test=N_TEST))
        out[kind] = res
    return out


def test_true_factors_score_near_one(scores):
    s = scores["true"]
    # Fixing a factor zeroes exactly one code difference / variance: both scores are exactly 1.
    assert s["beta_vae"]["score"] >= 0.95
    assert s["factor_vae"]["score"] >= 0.95
    assert s["factor_vae"]["train_accuracy"] >= 0.95
    # Each factor value falls in its own histogram bin, so top MI = H(factor); the second-best MI is
    # finite-sample bias, about (bins−1)(classes−1)/(2N) nats.
    assert s["mig"]["score"] >= 0.9
    assert s["dci"]["disentanglement"] >= 0.9
    assert s["dci"]["completeness"] >= 0.9
    assert s["dci"]["informativeness_test"] >= 0.95
    for key in ("mig", "sap", "dci", "modularity"):
        assert s[key]["sklearn_version"] == D.SKLEARN_VERSION


def test_noise_scores_near_zero_or_chance(scores):
    s = scores["noise"]
    chance = 1 / len(SIZES)
    assert s["mig"]["score"] <= 0.05
    assert s["sap"]["score"] <= 0.05
    assert s["dci"]["disentanglement"] <= 0.1
    assert abs(s["beta_vae"]["score"] - chance) <= 0.1  # 500 eval points: sd ≈ 0.018
    assert abs(s["factor_vae"]["score"] - chance) <= 0.1


def test_rotation_lowers_every_score(scores):
    t, r = scores["true"], scores["rotated"]
    # Two equally distributed factors mixed at 45°: fixing either looks the same, so ~half of those
    # points are confused (≈ 0.8 for BetaVAE/FactorVAE) and both factors lose their MI gap (MIG ≈ 0.6).
    assert r["beta_vae"]["score"] <= t["beta_vae"]["score"] - 0.1
    assert r["factor_vae"]["score"] <= t["factor_vae"]["score"] - 0.1
    assert r["mig"]["score"] <= t["mig"]["score"] - 0.25
    assert r["dci"]["disentanglement"] <= t["dci"]["disentanglement"] - 0.05
    assert r["sap"]["score"] < t["sap"]["score"]
    assert r["modularity"]["score"] < t["modularity"]["score"]


def test_mig_and_sap_are_zero_for_a_duplicated_code():
    rng = np.random.default_rng(0)
    f = rng.integers(0, 4, size=(1200, 1))
    codes = np.concatenate([f, f * 2.0], axis=1).astype(float)  # two perfect copies: no gap
    assert D.mig(codes, f)["score"] == pytest.approx(0.0, abs=1e-12)
    assert D.sap(codes[:800], f[:800], codes[800:], f[800:])["score"] == pytest.approx(0.0, abs=1e-12)
    one = D.mig(codes[:, :1], f)
    assert one["score"] == pytest.approx(1.0)  # single perfect code, no second code


def test_modularity_of_one_factor_per_code_is_one():
    rng = np.random.default_rng(1)
    f = np.stack([rng.integers(0, s, 3000) for s in (4, 5, 6)], axis=1)
    assert D.modularity(f.astype(float), f)["score"] >= 0.98  # exact up to MI estimation bias


def test_dci_from_importances_known_answers():
    eye = D.dci_from_importances(np.eye(4))
    assert eye["disentanglement"] == pytest.approx(1.0, abs=1e-6)
    assert eye["completeness"] == pytest.approx(1.0, abs=1e-6)
    flat = D.dci_from_importances(np.ones((4, 4)))
    assert flat["disentanglement"] == pytest.approx(0.0, abs=1e-6)
    assert flat["completeness"] == pytest.approx(0.0, abs=1e-6)


def test_factor_vae_prunes_collapsed_dims():
    data = SyntheticData()
    base = make_represent("true")

    def rep(x):  # append two collapsed dims (std 0.01 < 0.05)
        z = base(x)
        return np.concatenate([z, 0.01 * np.random.default_rng(0).normal(size=(len(z), 2))], axis=1)

    res = D.factor_vae_score(data, rep, 0, num_train=100, num_eval=100, num_variance_estimate=500)
    assert res["num_active_dims"] == 8
    assert res["score"] >= 0.95


def test_score_codes_and_suite_interfaces():
    data = SyntheticData()
    rep = make_represent("true")
    res = D.disentanglement_suite(data, rep, rng=0, n=600, n_test=300, metrics=("mig", "dci", "factor_vae"))
    assert set(res) >= {"mig", "dci", "factor_vae", "sklearn_version", "n_train", "n_test"}
    assert res["factor_vae"]["score"] == pytest.approx(1.0)
    assert all(res[k]["seconds"] >= 0 for k in ("mig", "dci", "factor_vae"))
    codes, factors = D.sample_codes(data, rep, 90, np.random.default_rng(0))
    small = D.score_codes(codes, factors, metrics=("mig",), rng=0)
    assert (small["n_train"], small["n_test"]) == (60, 30)  # 2:1 split when fewer than 15,000
    with pytest.raises(ValueError):
        D.score_codes(codes, factors, metrics=("nope",))


def _duplicated_codes(n: int, seed: int = 0):
    """disentanglement_lib's duplicated latent space: codes = [factors, factors] (here 5 factors, 10 codes)."""
    rng = np.random.default_rng(seed)
    f = np.stack([rng.integers(0, s, n) for s in SIZES], axis=1)
    return np.concatenate([f, f], axis=1).astype(float), f


@pytest.mark.parametrize("backend", ["hist", "exact"])
def test_dci_duplicated_latent_space_as_disentanglement_lib(backend):
    # disentanglement_lib's dci_test.test_duplicated_latent_space asserts disentanglement in
    # [0.9, 1] and completeness within 0.1 of 1 − log 2 / log 10: each factor's importance is
    # split between its two copies (the exact GBT breaks the ties at random, 'hist' shares evenly).
    codes, f = _duplicated_codes(2000)
    res = D.dci(codes[:1000], f[:1000], codes[1000:], f[1000:], backend=backend)
    target = 1 - np.log(2) / np.log(10)
    assert 0.9 <= res["disentanglement"] <= 1.0 + 1e-9
    assert abs(res["completeness"] - target) <= 0.1
    assert res["informativeness_test"] == pytest.approx(1.0)
    imp = np.array(res["importance"])
    share = imp[:5] / (imp[:5] + imp[5:])  # first copy's share per factor
    if backend == "hist":
        assert res["tied_code_groups"] == [0, 1, 2, 3, 4] * 2
        assert share.diagonal() == pytest.approx(0.5)
        assert res["completeness"] == pytest.approx(target, abs=1e-6)
    else:
        assert np.all((share.diagonal() > 0.2) & (share.diagonal() < 0.8))


def test_dci_tied_codes_and_the_old_hist_backend():
    rng = np.random.default_rng(0)
    x = rng.normal(size=300)
    codes = np.stack([x, 2 * x + 1, -x, np.exp(x), x + 0.1 * rng.normal(size=300), np.zeros(300)], axis=1)
    # same order, or its reverse -> tied at every split; a noisy copy is not tied
    assert D.tied_code_groups(codes).tolist() == [0, 0, 0, 0, 1, 2]
    # 'hist-first' is the histogram GBT as genlab computed DCI before: a tie all to the first copy
    f = rng.integers(0, 3, size=(600, 1))
    dup = np.concatenate([f, f], axis=1).astype(float)
    old = D.dci(dup[:400], f[:400], dup[400:], f[400:], backend="hist-first")
    new = D.dci(dup[:400], f[:400], dup[400:], f[400:], backend="hist")
    assert old["completeness"] == pytest.approx(1.0, abs=1e-6)
    assert np.array(old["importance"])[1, 0] == 0
    assert new["completeness"] == pytest.approx(0.0, abs=1e-6)  # two codes, even split: 1 − log 2 / log 2
    with pytest.raises(ValueError, match="DCI backend"):
        D.dci(dup, f, dup, f, backend="nope")
