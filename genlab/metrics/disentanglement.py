"""Disentanglement metrics for representations of data with known ground-truth factors.

Defaults follow disentanglement_lib (Locatello et al. 2019) so that scores can be read next
to the literature (see ``shared/reference/numbers.md``, "Disentanglement metrics"). The code
is written from the papers' definitions.

Data protocol (duck-typed; the dSprites loader implements it)::

    data.factor_names: list[str]            # K names
    data.factor_sizes: list[int]            # K sizes
    data.sample_factors(n, rng) -> (n, K) int ndarray
    data.images_from_factors(factors) -> (n, ...) float32 ndarray or torch tensor

A representation function ``represent(images) -> (n, D)`` returns the encoder mean.

Metrics that work on a fixed sample of codes (``mig``, ``sap``, ``dci``, ``modularity``) take
arrays ``codes`` (N, D) float and ``factors`` (N, K) int; ``beta_vae_score`` and
``factor_vae_score`` need to fix factors, so they take ``(data, represent, rng)``.
Every result dict records the scikit-learn version (MIG and modularity depend on it).
"""

from __future__ import annotations

import contextlib
import time
import warnings
from typing import Any, Callable, Iterable, Protocol, Sequence

import numpy as np
import sklearn

__all__ = [
    "GroundTruthData",
    "sample_codes",
    "beta_vae_score",
    "factor_vae_score",
    "mig",
    "sap",
    "dci",
    "DCI_BACKENDS",
    "tied_code_groups",
    "modularity",
    "mutual_info_matrix",
    "discretize_codes",
    "score_codes",
    "disentanglement_suite",
    "CODE_METRICS",
    "ALL_METRICS",
]

SKLEARN_VERSION = sklearn.__version__
CODE_METRICS = ("mig", "sap", "dci", "modularity")
ALL_METRICS = ("beta_vae", "factor_vae") + CODE_METRICS


class GroundTruthData(Protocol):
    """Data with ground-truth factors (structural type; nothing needs to inherit it)."""

    factor_names: list[str]
    factor_sizes: list[int]

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray: ...

    def images_from_factors(self, factors: np.ndarray) -> Any: ...


# ----------------------------------------------------------------------------- helpers


def _to_numpy(x: Any) -> np.ndarray:
    """Torch tensor or array-like -> numpy array (no copy when already numpy)."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _as_rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def _check_codes_factors(codes: Any, factors: Any) -> tuple[np.ndarray, np.ndarray]:
    codes = _to_numpy(codes).astype(np.float64, copy=False)
    factors = _to_numpy(factors)
    if codes.ndim == 1:
        codes = codes[:, None]
    if factors.ndim == 1:
        factors = factors[:, None]
    if codes.ndim != 2 or factors.ndim != 2 or len(codes) != len(factors):
        raise ValueError(f"need codes (N, D) and factors (N, K); got {codes.shape} and {factors.shape}")
    if not np.issubdtype(factors.dtype, np.integer):
        if not np.all(np.equal(np.mod(factors, 1), 0)):
            raise ValueError("factors must be integer class indices")
        factors = factors.astype(np.int64)
    return codes, factors


def _represent_numpy(represent: Callable, images: Any) -> np.ndarray:
    out = _to_numpy(represent(images)).astype(np.float64, copy=False)
    return out.reshape(len(out), -1)


def _encode_factors(data: Any, represent: Callable, factors: np.ndarray, encode_batch: int) -> np.ndarray:
    """Render and encode an (n, K) factor array in chunks of ``encode_batch`` images."""
    chunks = []
    for start in range(0, len(factors), encode_batch):
        images = data.images_from_factors(factors[start : start + encode_batch])
        chunks.append(_represent_numpy(represent, images))
    return np.concatenate(chunks, axis=0)


def sample_codes(
    data: Any,
    represent: Callable,
    n: int,
    rng: np.random.Generator | int | None = 0,
    batch_size: int = 256,
) -> tuple[np.ndarray, np.ndarray]:
    """Sample n random factor settings, render and encode them: returns (codes (n, D) float64, factors (n, K) int64)."""
    rng = _as_rng(rng)
    factors = np.asarray(data.sample_factors(n, rng)).astype(np.int64)
    codes = _encode_factors(data, represent, factors, batch_size)
    return codes, factors


def discretize_codes(codes: np.ndarray, num_bins: int = 20) -> np.ndarray:
    """Equal-width histogram binning of each code dimension into ``num_bins`` bins (disentanglement_lib's MIG/modularity default 20)."""
    codes = np.asarray(codes, dtype=np.float64)
    out = np.empty(codes.shape, dtype=np.int64)
    for i in range(codes.shape[1]):
        edges = np.histogram_bin_edges(codes[:, i], bins=num_bins)
        # interior edges -> bins 0..num_bins-1 (the maximum lands in the last bin)
        out[:, i] = np.digitize(codes[:, i], edges[1:-1])
    return out


def mutual_info_matrix(codes: np.ndarray, factors: np.ndarray, num_bins: int = 20) -> np.ndarray:
    """(D, K) matrix of mutual information in nats between each binned code and each factor (sklearn.metrics.mutual_info_score)."""
    from sklearn.metrics import mutual_info_score

    codes, factors = _check_codes_factors(codes, factors)
    binned = discretize_codes(codes, num_bins)
    m = np.zeros((codes.shape[1], factors.shape[1]))
    for i in range(codes.shape[1]):
        for j in range(factors.shape[1]):
            m[i, j] = mutual_info_score(factors[:, j], binned[:, i])
    return m


def _factor_entropies(factors: np.ndarray) -> np.ndarray:
    from sklearn.metrics import mutual_info_score

    return np.array([mutual_info_score(factors[:, j], factors[:, j]) for j in range(factors.shape[1])])


# ------------------------------------------------------------------- BetaVAE / FactorVAE


def _beta_vae_features(
    data: Any,
    represent: Callable,
    n_points: int,
    batch_size: int,
    rng: np.random.Generator,
    encode_batch: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Features mean|z1 - z2| over ``batch_size`` pairs sharing one random factor, and that factor's index."""
    k = len(data.factor_sizes)
    per_chunk = max(1, encode_batch // (2 * batch_size))
    feats, labels = [], []
    for start in range(0, n_points, per_chunk):
        p = min(per_chunk, n_points - start)
        index = rng.integers(k, size=p)
        f1 = np.asarray(data.sample_factors(p * batch_size, rng)).reshape(p, batch_size, k)
        f2 = np.asarray(data.sample_factors(p * batch_size, rng)).reshape(p, batch_size, k)
        rows = np.arange(p)
        f2[rows, :, index] = f1[rows, :, index]
        both = np.concatenate([f1.reshape(-1, k), f2.reshape(-1, k)], axis=0)
        z = _represent_numpy(represent, data.images_from_factors(both))
        z1, z2 = z[: p * batch_size], z[p * batch_size :]
        feats.append(np.abs(z1 - z2).reshape(p, batch_size, -1).mean(axis=1))
        labels.append(index)
    return np.concatenate(feats), np.concatenate(labels)


def beta_vae_score(
    data: Any,
    represent: Callable,
    rng: np.random.Generator | int | None = 0,
    batch_size: int = 64,
    num_train: int = 10_000,
    num_eval: int = 5_000,
    encode_batch: int = 4096,
) -> dict:
    """BetaVAE score (Higgins et al. 2017): logistic regression predicts the fixed factor from mean|z1−z2| over 64
    pairs; 10,000 train / 5,000 eval points; score = eval accuracy."""
    from sklearn.linear_model import LogisticRegression

    rng = _as_rng(rng)
    x_train, y_train = _beta_vae_features(data, represent, num_train, batch_size, rng, encode_batch)
    x_eval, y_eval = _beta_vae_features(data, represent, num_eval, batch_size, rng, encode_batch)
    # disentanglement_lib uses sklearn's default LogisticRegression; max_iter is raised only so
    # that lbfgs converges (it changes no modelling choice).
    clf = LogisticRegression(max_iter=2000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(x_train, y_train)
    return {
        "score": float(np.mean(clf.predict(x_eval) == y_eval)),
        "train_accuracy": float(np.mean(clf.predict(x_train) == y_train)),
        "eval_accuracy": float(np.mean(clf.predict(x_eval) == y_eval)),
        "chance": 1.0 / len(data.factor_sizes),
        "batch_size": batch_size,
        "num_train": num_train,
        "num_eval": num_eval,
        "sklearn_version": SKLEARN_VERSION,
    }


def _factor_vae_votes(
    data: Any,
    represent: Callable,
    n_points: int,
    batch_size: int,
    rng: np.random.Generator,
    global_var: np.ndarray,
    active: np.ndarray,
    encode_batch: int,
) -> np.ndarray:
    """(K, D_active) vote counts: row = fixed factor, column = argmin of normalised within-batch variance."""
    k = len(data.factor_sizes)
    n_active = int(active.sum())
    votes = np.zeros((k, n_active), dtype=np.int64)
    per_chunk = max(1, encode_batch // batch_size)
    for start in range(0, n_points, per_chunk):
        p = min(per_chunk, n_points - start)
        index = rng.integers(k, size=p)
        f = np.asarray(data.sample_factors(p * batch_size, rng)).reshape(p, batch_size, k)
        rows = np.arange(p)
        f[rows, :, index] = f[rows, :1, index]
        z = _represent_numpy(represent, data.images_from_factors(f.reshape(-1, k)))
        z = z.reshape(p, batch_size, -1)[:, :, active]
        local_var = z.var(axis=1, ddof=1)
        argmin = np.argmin(local_var / global_var[active], axis=1)
        np.add.at(votes, (index, argmin), 1)
    return votes


def factor_vae_score(
    data: Any,
    represent: Callable,
    rng: np.random.Generator | int | None = 0,
    batch_size: int = 64,
    num_train: int = 10_000,
    num_eval: int = 5_000,
    num_variance_estimate: int = 10_000,
    prune_std: float = 0.05,
    encode_batch: int = 4096,
) -> dict:
    """FactorVAE score (Kim & Mnih 2018): majority vote over argmin of within-batch/global variance (batch 64,
    10,000 train / 5,000 eval, 10,000 points for the variance, dims with std < 0.05 pruned)."""
    rng = _as_rng(rng)
    k = len(data.factor_sizes)
    codes, _ = sample_codes(data, represent, num_variance_estimate, rng, batch_size=encode_batch)
    global_var = codes.var(axis=0, ddof=1)
    active = np.sqrt(global_var) >= prune_std
    base = {
        "chance": 1.0 / k,
        "num_active_dims": int(active.sum()),
        "active_dims": np.flatnonzero(active).tolist(),
        "batch_size": batch_size,
        "num_train": num_train,
        "num_eval": num_eval,
        "sklearn_version": SKLEARN_VERSION,
    }
    if not active.any():
        return {**base, "score": 0.0, "train_accuracy": 0.0, "eval_accuracy": 0.0, "votes": np.zeros((k, 0)).tolist()}
    train_votes = _factor_vae_votes(data, represent, num_train, batch_size, rng, global_var, active, encode_batch)
    eval_votes = _factor_vae_votes(data, represent, num_eval, batch_size, rng, global_var, active, encode_batch)
    classifier = np.argmax(train_votes, axis=0)  # code dim -> factor
    cols = np.arange(train_votes.shape[1])
    train_acc = train_votes[classifier, cols].sum() / train_votes.sum()
    eval_acc = eval_votes[classifier, cols].sum() / eval_votes.sum()
    return {
        **base,
        "score": float(eval_acc),
        "train_accuracy": float(train_acc),
        "eval_accuracy": float(eval_acc),
        "votes": train_votes.tolist(),  # (K factors, active dims)
        "classifier": classifier.tolist(),
    }


# --------------------------------------------------------------------------------- MIG


def mig(codes: np.ndarray, factors: np.ndarray, num_bins: int = 20) -> dict:
    """MIG (Chen et al. 2018): mean over factors of (top − second MI)/H(factor), codes binned into 20 equal-width
    bins, MI in nats (sklearn)."""
    codes, factors = _check_codes_factors(codes, factors)
    m = mutual_info_matrix(codes, factors, num_bins)
    entropy = _factor_entropies(factors)
    sorted_m = np.sort(m, axis=0)[::-1]
    second = sorted_m[1] if m.shape[0] > 1 else np.zeros(m.shape[1])
    valid = entropy > 0  # a constant factor carries no information to capture
    per_factor = np.full(m.shape[1], np.nan)
    per_factor[valid] = (sorted_m[0, valid] - second[valid]) / entropy[valid]
    return {
        "score": float(np.mean(per_factor[valid])) if valid.any() else 0.0,
        "per_factor": per_factor.tolist(),
        "mutual_info": m.tolist(),  # (D codes, K factors), nats
        "factor_entropy": entropy.tolist(),
        "num_bins": num_bins,
        "num_points": len(codes),
        "sklearn_version": SKLEARN_VERSION,
    }


# --------------------------------------------------------------------------------- SAP


def sap(
    train_codes: np.ndarray,
    train_factors: np.ndarray,
    test_codes: np.ndarray,
    test_factors: np.ndarray,
    C: float = 0.01,
) -> dict:
    """SAP (Kumar et al. 2018): per (code, factor) a LinearSVC(C=0.01, balanced) on that single code; score = mean
    over factors of best − second-best test accuracy."""
    from sklearn.svm import LinearSVC

    train_codes, train_factors = _check_codes_factors(train_codes, train_factors)
    test_codes, test_factors = _check_codes_factors(test_codes, test_factors)
    d, k = train_codes.shape[1], train_factors.shape[1]
    acc = np.zeros((d, k))
    for i in range(d):
        xi, xi_test = train_codes[:, i : i + 1], test_codes[:, i : i + 1]
        for j in range(k):
            y = train_factors[:, j]
            if np.unique(y).size < 2:
                acc[i, j] = np.mean(test_factors[:, j] == y[0])
                continue
            clf = LinearSVC(C=C, class_weight="balanced")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                clf.fit(xi, y)
            acc[i, j] = np.mean(clf.predict(xi_test) == test_factors[:, j])
    sorted_acc = np.sort(acc, axis=0)
    gaps = sorted_acc[-1] - (sorted_acc[-2] if d > 1 else 0.0)
    return {
        "score": float(np.mean(gaps)),
        "per_factor": gaps.tolist(),
        "score_matrix": acc.tolist(),  # (D codes, K factors), test accuracy
        "C": C,
        "sklearn_version": SKLEARN_VERSION,
    }


# --------------------------------------------------------------------------------- DCI


def _hgb_gain_importances(clf: Any, n_features: int) -> np.ndarray:
    """Total split gain per feature over all trees of a fitted HistGradientBoostingClassifier."""
    imp = np.zeros(n_features)
    for stage in clf._predictors:  # one list per iteration, one tree per class (1 if binary)
        for tree in stage:
            nodes = tree.nodes
            split = ~nodes["is_leaf"].astype(bool)
            np.add.at(imp, nodes["feature_idx"][split], np.maximum(nodes["gain"][split], 0.0))
    return imp


def tied_code_groups(x: np.ndarray) -> np.ndarray:
    """Group label per column of ``x``: columns that order the points the same way, or exactly in
    reverse (x, 2x + 1, −x, exp(x)...), share a label.

    Such columns offer a tree the same partitions with the same gain at every node, so they are
    tied everywhere: the exact GBT breaks each tie at random (its splitter visits the features in a
    random order), the histogram GBT always for the lowest column index.
    """
    x = np.asarray(x)
    labels = np.empty(x.shape[1], dtype=np.int64)
    seen: dict[bytes, int] = {}
    for i in range(x.shape[1]):
        rank = np.unique(x[:, i], return_inverse=True)[1].astype(np.int64).ravel()
        key = min(rank.tobytes(), (rank.max(initial=0) - rank).tobytes())  # same for an order and its reverse
        labels[i] = seen.setdefault(key, len(seen))
    return labels


def _share_ties(imp: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Spread each group of tied columns' total importance evenly over the group's columns."""
    total = np.bincount(groups, weights=imp)
    count = np.bincount(groups)
    return total[groups] / count[groups]


DCI_BACKENDS = ("hist", "hist-first", "exact")


def _fit_gbt(x: np.ndarray, y: np.ndarray, backend: str, seed: int, groups: np.ndarray | None = None):
    if backend == "exact":
        from sklearn.ensemble import GradientBoostingClassifier

        clf = GradientBoostingClassifier(random_state=seed)  # disentanglement_lib's choice
        clf.fit(x, y)
        return clf, np.abs(clf.feature_importances_)
    if backend not in DCI_BACKENDS:
        raise ValueError(f"DCI backend must be one of {', '.join(DCI_BACKENDS)}; got {backend!r}")
    from sklearn.ensemble import HistGradientBoostingClassifier

    clf = HistGradientBoostingClassifier(
        max_iter=100, learning_rate=0.1, max_depth=3, min_samples_leaf=1, early_stopping=False, random_state=seed
    )
    clf.fit(x, y)
    try:
        imp = _hgb_gain_importances(clf, x.shape[1])
    except (AttributeError, KeyError, ValueError):  # private API moved: fall back to permutation importance
        from sklearn.inspection import permutation_importance

        imp = np.maximum(permutation_importance(clf, x, y, n_repeats=3, random_state=seed).importances_mean, 0)
    if backend == "hist":
        imp = _share_ties(imp, tied_code_groups(x) if groups is None else groups)
    total = imp.sum()
    return clf, (imp / total if total > 0 else imp)


def _thread_limit(n_threads: int | None):
    if n_threads is None:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(n_threads)


def _entropy_base(p: np.ndarray, base: int, axis: int) -> np.ndarray:
    """Shannon entropy along ``axis`` of non-negative weights (normalised there) in the given base."""
    p = p / np.clip(p.sum(axis=axis, keepdims=True), 1e-300, None)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(p > 0, p * np.log(p), 0.0).sum(axis=axis)
    return h / np.log(base) if base > 1 else np.zeros_like(h)


def dci_from_importances(importance: np.ndarray) -> dict:
    """Disentanglement and completeness (Eastwood & Williams 2018) from a (D codes, K factors) importance matrix."""
    r = np.abs(np.asarray(importance, dtype=np.float64))
    d, k = r.shape
    if r.sum() == 0:
        r = np.ones_like(r)
    d_per_code = 1.0 - _entropy_base(r + 1e-11, k, axis=1)
    code_weight = r.sum(axis=1) / r.sum()
    c_per_factor = 1.0 - _entropy_base(r + 1e-11, d, axis=0)
    factor_weight = r.sum(axis=0) / r.sum()
    return {
        "disentanglement": float(np.sum(d_per_code * code_weight)),
        "completeness": float(np.sum(c_per_factor * factor_weight)),
        "disentanglement_per_code": d_per_code.tolist(),
        "completeness_per_factor": c_per_factor.tolist(),
        "code_weight": code_weight.tolist(),
    }


def dci(
    train_codes: np.ndarray,
    train_factors: np.ndarray,
    test_codes: np.ndarray,
    test_factors: np.ndarray,
    backend: str = "hist",
    seed: int = 0,
    n_threads: int | None = 1,
) -> dict:
    """DCI (Eastwood & Williams 2018): one gradient-boosted tree classifier per factor (100 rounds,
    learning rate 0.1, depth 3), importances per code normalised per factor; informativeness =
    accuracy. Backends (``DCI_BACKENDS``):

    - 'hist' (default): sklearn HistGradientBoostingClassifier, importance = total split gain per
      code (the analogue of GBC's impurity-decrease importances), and codes that are tied at every
      split (``tied_code_groups``: the same order of the points, or its reverse) share their
      group's importance evenly;
    - 'hist-first': the same without the sharing, as genlab computed DCI before (the histogram GBT
      gives a tied group's whole importance to its first code, so duplicated codes score
      completeness 1);
    - 'exact': GradientBoostingClassifier with ``feature_importances_``, as disentanglement_lib.

    Why tied codes share: disentanglement_lib's ``test_duplicated_latent_space`` (codes = [factors,
    factors]) expects completeness 1 − log 2 / log 10 ± 0.1; the exact GBT breaks each tie at random,
    so each copy gets about half, and an even share is that split's expectation. Why a histogram GBT:
    on dSprites-sized input (10,000 × 10 codes, factors with 3/6/40/32/32 classes) both fit 113
    classes × 100 rounds = 11,300 trees; the exact GBT took about 7 minutes on a 2-core CPU, the
    histogram one tens of seconds (timings in docs/metrics.md, "DCI backends").

    ``n_threads`` caps the OpenMP/BLAS threads while fitting (None: library default). Depth-3
    trees are too small to gain from threads: on the shared 2-core box 2 threads were up to
    17× slower than 1 under load (busy-waiting OpenMP workers).
    """
    if backend not in DCI_BACKENDS:
        raise ValueError(f"DCI backend must be one of {', '.join(DCI_BACKENDS)}; got {backend!r}")
    train_codes, train_factors = _check_codes_factors(train_codes, train_factors)
    test_codes, test_factors = _check_codes_factors(test_codes, test_factors)
    d, k = train_codes.shape[1], train_factors.shape[1]
    importance = np.zeros((d, k))
    train_acc, test_acc = np.zeros(k), np.zeros(k)
    groups = tied_code_groups(train_codes) if backend == "hist" else None
    for j in range(k):
        y = train_factors[:, j]
        if np.unique(y).size < 2:  # constant factor: nothing to learn
            train_acc[j] = 1.0
            test_acc[j] = np.mean(test_factors[:, j] == y[0])
            continue
        with _thread_limit(n_threads):
            clf, imp = _fit_gbt(train_codes, y, backend, seed, groups)
        importance[:, j] = imp
        train_acc[j] = np.mean(clf.predict(train_codes) == y)
        test_acc[j] = np.mean(clf.predict(test_codes) == test_factors[:, j])
    out = dci_from_importances(importance)
    out.update(
        {
            "score": out["disentanglement"],
            "informativeness_train": float(train_acc.mean()),
            "informativeness_test": float(test_acc.mean()),
            "informativeness": float(test_acc.mean()),
            "informativeness_per_factor": test_acc.tolist(),
            "importance": importance.tolist(),  # (D codes, K factors)
            "backend": backend,
            "tied_code_groups": groups.tolist() if groups is not None else None,
            "sklearn_version": SKLEARN_VERSION,
        }
    )
    return out


# -------------------------------------------------------------------------- modularity


def modularity(codes: np.ndarray, factors: np.ndarray, num_bins: int = 20) -> dict:
    """Modularity (Ridgeway & Mozer 2018): per code 1 − (Σθ² − max θ²)/(max θ²·(K−1)) on binned-code MI θ (20 bins), averaged over codes."""
    codes, factors = _check_codes_factors(codes, factors)
    m = mutual_info_matrix(codes, factors, num_bins)
    k = m.shape[1]
    sq = m**2
    max_sq = sq.max(axis=1)
    per_code = np.zeros(m.shape[0])
    ok = max_sq > 0
    if k > 1:
        per_code[ok] = 1.0 - (sq[ok].sum(axis=1) - max_sq[ok]) / (max_sq[ok] * (k - 1))
    else:
        per_code[ok] = 1.0
    return {
        "score": float(per_code.mean()),
        "per_code": per_code.tolist(),
        "mutual_info": m.tolist(),  # (D codes, K factors), nats
        "num_bins": num_bins,
        "sklearn_version": SKLEARN_VERSION,
    }


# ------------------------------------------------------------------------- aggregators


def _split(n: int, num_train: int, num_test: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    perm = rng.permutation(n)
    if n >= num_train + num_test:
        return perm[:num_train], perm[num_train : num_train + num_test]
    n_train = int(round(n * num_train / (num_train + num_test)))
    return perm[:n_train], perm[n_train:]


def _score_split(
    train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray], metrics: Iterable[str], dci_backend: str, seed: int
) -> dict:
    out: dict[str, Any] = {}
    for name in metrics:
        t0 = time.perf_counter()
        if name == "mig":
            res = mig(*train)
        elif name == "modularity":
            res = modularity(*train)
        elif name == "sap":
            res = sap(*train, *test)
        elif name == "dci":
            res = dci(*train, *test, backend=dci_backend, seed=seed)
        else:
            raise ValueError(f"unknown code metric {name!r}; choose from {CODE_METRICS}")
        res["seconds"] = time.perf_counter() - t0
        out[name] = res
    return out


def score_codes(
    codes: np.ndarray,
    factors: np.ndarray,
    metrics: Sequence[str] = CODE_METRICS,
    rng: np.random.Generator | int | None = 0,
    num_train: int = 10_000,
    num_test: int = 5_000,
    dci_backend: str = "hist",
) -> dict:
    """Score saved codes: shuffle, split into 10,000 train / 5,000 test (2:1 if fewer), MIG and modularity on
    train, SAP and DCI train→test."""
    codes, factors = _check_codes_factors(codes, factors)
    rng = _as_rng(rng)
    tr, te = _split(len(codes), num_train, num_test, rng)
    seed = int(rng.integers(2**31 - 1))
    out = _score_split((codes[tr], factors[tr]), (codes[te], factors[te]), metrics, dci_backend, seed)
    out.update({"n_train": int(len(tr)), "n_test": int(len(te)), "sklearn_version": SKLEARN_VERSION})
    return out


def disentanglement_suite(
    data: Any,
    represent: Callable,
    rng: np.random.Generator | int | None = 0,
    n: int = 10_000,
    n_test: int = 5_000,
    metrics: Sequence[str] = ALL_METRICS,
    encode_batch: int = 4096,
    dci_backend: str = "hist",
) -> dict:
    """All six disentanglement metrics with disentanglement_lib's default sizes (BetaVAE, FactorVAE, MIG, SAP,
    DCI, modularity); per-metric seconds recorded."""
    unknown = set(metrics) - set(ALL_METRICS)
    if unknown:
        raise ValueError(f"unknown metrics {sorted(unknown)}; choose from {ALL_METRICS}")
    rng = _as_rng(rng)
    out: dict[str, Any] = {}
    for name in metrics:
        if name in ("beta_vae", "factor_vae"):
            t0 = time.perf_counter()
            fn = beta_vae_score if name == "beta_vae" else factor_vae_score
            res = fn(data, represent, rng, encode_batch=encode_batch)
            res["seconds"] = time.perf_counter() - t0
            out[name] = res
    code_metrics = [m for m in metrics if m in CODE_METRICS]
    if code_metrics:
        t0 = time.perf_counter()
        codes, factors = sample_codes(data, represent, n + n_test, rng, batch_size=encode_batch)
        sampling_seconds = time.perf_counter() - t0
        seed = int(rng.integers(2**31 - 1))
        out.update(
            _score_split((codes[:n], factors[:n]), (codes[n:], factors[n:]), code_metrics, dci_backend, seed)
        )
        out["sampling_seconds"] = sampling_seconds
    out.update({"n_train": n, "n_test": n_test, "sklearn_version": SKLEARN_VERSION})
    return out
