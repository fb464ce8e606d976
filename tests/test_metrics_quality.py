"""Known-answer tests for genlab.metrics.quality and the feature classifier."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from genlab.metrics.quality import (
    density_coverage,
    frechet_distance,
    frechet_distance_from_stats,
    kid,
    precision_recall,
)


def test_frechet_closed_form_for_known_gaussians():
    # Commuting covariances: Tr(Σ1Σ2)^½ = Σ sqrt(a_i b_i), so FD = ‖Δμ‖² + Σ (√a_i − √b_i)².
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 1.0])
    expected = 1 + 4 + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()  # = 5 + 1 + 1 + 4 = 11
    assert frechet_distance_from_stats(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-10)
    # Non-commuting: rotate one covariance; compare with scipy's sqrtm route.
    from scipy.linalg import sqrtm

    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    c1, c2 = np.diag(a), q @ np.diag(b) @ q.T
    ref = 1 + 4 + np.trace(c1) + np.trace(c2) - 2 * np.trace(sqrtm(c1 @ c2)).real
    assert frechet_distance_from_stats(mu1, c1, mu2, c2) == pytest.approx(ref, rel=1e-8)


def test_frechet_from_samples_matches_closed_form():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(20_000, 4))
    y = rng.normal(size=(20_000, 4)) * 2 + 1  # N(1, 4I): FD = 4·1 + 4·(2 − 1)² = 8
    assert frechet_distance(x, y) == pytest.approx(8.0, rel=0.03)
    same = frechet_distance(x[:10_000], x[10_000:])
    assert same < 0.01 and same < 0.01 * frechet_distance(x, x + 1.0)  # FD(x, x+1) = 4
    assert frechet_distance(torch.from_numpy(x), torch.from_numpy(x + 1.0)) == pytest.approx(4.0, rel=1e-6)


def test_kid_same_vs_shifted():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(1000, 8)), rng.normal(size=(1000, 8))
    same = kid(x, y, subsets=20, subset_size=500)
    shifted = kid(x, y + 1.0, subsets=20, subset_size=500)
    assert abs(same["mean"]) < 3 * same["std"] + 1e-3
    assert shifted["mean"] > 10 * max(abs(same["mean"]), same["std"])


def test_precision_recall_and_density_coverage_same_distribution():
    rng = np.random.default_rng(3)
    real, fake = rng.normal(size=(2000, 4)), rng.normal(size=(2000, 4))
    pr = precision_recall(real, fake)
    assert pr["precision"] > 0.9 and pr["recall"] > 0.9
    dc = density_coverage(real, fake)
    assert dc["density"] == pytest.approx(1.0, abs=0.15)  # E[density] = 1 for identical distributions
    assert dc["coverage"] > 0.9  # ≈ 1 − 2^−k = 0.97 for k = 5


def test_one_cluster_gives_high_precision_low_recall():
    rng = np.random.default_rng(4)
    centres = np.array([[0, 0], [10, 0], [0, 10], [10, 10]], dtype=float)
    real = (centres[rng.integers(0, 4, 2000)] + rng.normal(size=(2000, 2)))
    fake = centres[0] + rng.normal(size=(500, 2))
    pr = precision_recall(real, fake)
    assert pr["precision"] > 0.9
    assert pr["recall"] < 0.35  # only the first of four clusters is reached
    dc = density_coverage(real, fake)
    assert dc["coverage"] < 0.35


def sprite_images(n: int, rng: np.random.Generator, size: int = 16) -> np.ndarray:
    """Binary images with one random filled rectangle each (dSprites-like 0/1 statistics)."""
    imgs = np.zeros((n, size, size))
    for i in range(n):
        h, w = rng.integers(3, 8, 2)
        r, c = rng.integers(1, size - 1 - h), rng.integers(1, size - 1 - w)
        imgs[i, r : r + h, c : c + w] = 1.0
    return imgs


def test_blurred_images_move_frechet_distance():
    rng = np.random.default_rng(5)
    imgs = sprite_images(2000, rng)
    proj = rng.normal(size=(256, 16)) / 16  # fixed random projection as the feature map

    def feats(x):
        return x.reshape(len(x), -1) @ proj

    fd_same = frechet_distance(feats(imgs[:1000]), feats(imgs[1000:]))
    fds = [frechet_distance(feats(imgs[:1000]), feats(gaussian_filter(imgs[1000:], (0, s, s)))) for s in (0.5, 1.0, 2.0)]
    assert fd_same < fds[0] < fds[1] < fds[2]
    assert fds[1] > 10 * fd_same


def test_distance_functions_accept_tensors_and_chunk():
    rng = np.random.default_rng(6)
    real = torch.from_numpy(rng.normal(size=(300, 3)).astype(np.float32))
    fake = rng.normal(size=(200, 3))
    pr_t = precision_recall(real, fake)
    pr_n = precision_recall(real.numpy(), fake)
    assert pr_t == pr_n


def test_classifier_on_digits_is_accurate_and_deterministic():
    from sklearn.datasets import load_digits

    from genlab.metrics.classifier import SmallConvClassifier, classifier_features, predict_labels, train_classifier

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)  # (1797, 8, 8)
    y = digits.target
    perm = np.random.default_rng(0).permutation(len(x))
    tr, te = perm[:1300], perm[1300:]
    kwargs = dict(n_classes=10, steps=200, batch_size=64, lr=1e-3, device="cpu", seed=7)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small convs on a shared 2-core box: extra threads only contend
    try:
        m1 = train_classifier(x[tr], y[tr], **kwargs)
        m2 = train_classifier(x[tr], y[tr], **kwargs)
    finally:
        torch.set_num_threads(threads)
    pred1 = predict_labels(m1, x[te])
    assert (pred1 == y[te]).mean() >= 0.9
    assert np.array_equal(pred1, predict_labels(m2, x[te]))
    f1, f2 = classifier_features(m1, x[te]), classifier_features(m2, torch.from_numpy(x[te]))
    assert f1.shape == (len(te), m1.feature_dim) and np.array_equal(f1, f2)
    clone = SmallConvClassifier(**m1.config())  # plain int constructor: checkpoint-friendly
    clone.load_state_dict(m1.state_dict())
    assert np.array_equal(predict_labels(clone.eval(), x[te]), pred1)
