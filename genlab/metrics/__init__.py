"""genlab.metrics: every number the app shows, with a registry for the README table and menus.

``METRICS[name]`` is a :class:`MetricInfo` (name, family, one-line description, paper, default
settings, function, input kind, and which direction is better). Families: disentanglement,
modes, quality, sharpness, latent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from . import disentanglement, latent_stats, modes, nearest_real, quality, sharpness
from .disentanglement import (
    beta_vae_score,
    dci,
    disentanglement_suite,
    factor_vae_score,
    mig,
    modularity,
    sample_codes,
    sap,
    score_codes,
)
from .latent_stats import (
    active_units,
    aggregate_posterior_stats,
    bound_split,
    kl_per_dim,
    mmd,
    mutual_information,
    prior_holes,
)
from .modes import label_coverage, mode_coverage
from .nearest_real import nearest_real_report
from .quality import density_coverage, frechet_distance, kid, precision_recall
from .sharpness import (
    gradient_magnitude,
    high_frequency_energy,
    laplacian_variance,
    radial_power_spectrum,
    sharpness_report,
)

FAMILIES = ("disentanglement", "modes", "quality", "sharpness", "latent")


@dataclass(frozen=True)
class MetricInfo:
    """Registry entry: what a metric is, where it comes from, and how genlab runs it by default."""

    name: str
    family: str
    description: str
    paper: str
    defaults: dict[str, Any]
    function: Callable[..., Any]
    inputs: str
    higher_is_better: bool | None = None  # None: no single direction (e.g. a spectrum)
    score_key: str | None = "score"  # key of the headline number in a dict result (None: plain value)
    extra: dict[str, Any] = field(default_factory=dict)


_DIS_DATA = "(data with ground-truth factors, represent)"
_DIS_CODES = "codes (N, D), factors (N, K) int"

_ENTRIES = [
    MetricInfo("beta_vae", "disentanglement",
               "Accuracy of a logistic regression predicting which factor was held fixed from mean |z1−z2| over pairs.",
               "Higgins et al. 2017, β-VAE (ICLR)",
               {"batch_size": 64, "num_train": 10_000, "num_eval": 5_000, "classifier": "LogisticRegression"},
               beta_vae_score, _DIS_DATA, True),
    MetricInfo("factor_vae", "disentanglement",
               "Majority-vote accuracy of the code dim with least normalised variance when one factor is fixed.",
               "Kim & Mnih 2018, Disentangling by Factorising (ICML)",
               {"batch_size": 64, "num_train": 10_000, "num_eval": 5_000, "num_variance_estimate": 10_000,
                "prune_std": 0.05},
               factor_vae_score, _DIS_DATA, True),
    MetricInfo("mig", "disentanglement",
               "Mutual information gap: (top − second MI between a factor and any code) / H(factor), averaged.",
               "Chen et al. 2018, Isolating Sources of Disentanglement in VAEs (NeurIPS)",
               {"num_points": 10_000, "num_bins": 20, "mi": "sklearn mutual_info_score, nats"},
               mig, _DIS_CODES, True),
    MetricInfo("sap", "disentanglement",
               "Separated attribute predictability: gap between the two single codes that best predict each factor.",
               "Kumar et al. 2018, Variational Inference of Disentangled Latent Concepts (ICLR)",
               {"num_train": 10_000, "num_test": 5_000, "classifier": "LinearSVC(C=0.01, class_weight='balanced')"},
               sap, _DIS_CODES + ", train/test", True),
    MetricInfo("dci", "disentanglement",
               "Disentanglement, completeness, informativeness from gradient-boosted-tree feature importances.",
               "Eastwood & Williams 2018, A Framework for the Quantitative Evaluation of Disentangled Representations (ICLR)",
               {"num_train": 10_000, "num_test": 5_000, "backend": "hist (HistGradientBoostingClassifier, 100 rounds, "
                "depth 3); 'exact' = GradientBoostingClassifier"},
               dci, _DIS_CODES + ", train/test", True, "disentanglement"),
    MetricInfo("modularity", "disentanglement",
               "How much each code's mutual information concentrates on one factor, averaged over codes.",
               "Ridgeway & Mozer 2018, Learning Deep Disentangled Embeddings with the F-Statistic Loss (NeurIPS)",
               {"num_points": 10_000, "num_bins": 20},
               modularity, _DIS_CODES, True),
    MetricInfo("mode_coverage", "modes",
               "2-D mixture: share of samples within 3 std of a mode, modes captured, reverse KL of the mode histogram "
               "(for GANs also on samples kept by discriminator rejection sampling, Azadi et al. 2019, and, for a GAN "
               "that samples from a generator average, on the generator itself).",
               "Srivastava et al. 2017, VEEGAN (NeurIPS); Lin et al. 2018, PacGAN (NeurIPS)",
               {"n_std": 3.0, "ring": modes.RING, "grid": modes.GRID, "n_samples": modes.PROTOCOL_SAMPLES},
               mode_coverage, "samples (N, 2), centres (M, 2), std", None, None,
               {"headline": ["modes_captured", "high_quality", "reverse_kl"]}),
    MetricInfo("label_coverage", "modes",
               "Classes produced (by a trained classifier's labels) and KL(generated label histogram ‖ real).",
               "Metz et al. 2017, Unrolled GANs (ICLR); Srivastava et al. 2017, VEEGAN (NeurIPS)",
               {"kl_direction": "KL(generated ‖ real)", "eps": 1e-6},
               label_coverage, "predicted labels (N,), n_classes", None, None,
               {"headline": ["modes_covered", "kl_to_real"]}),
    MetricInfo("frechet_distance", "quality",
               "Fréchet distance between Gaussians fitted to real and generated features (FID formula, genlab features).",
               "Heusel et al. 2017, GANs Trained by a Two Time-Scale Update Rule (NeurIPS)",
               {"features": "penultimate layer of genlab's own classifier (not Inception)"},
               frechet_distance, "features (N, F), (M, F)", False, None),
    MetricInfo("kid", "quality",
               "Kernel inception distance: unbiased MMD² with the cubic polynomial kernel, over random subsets.",
               "Bińkowski et al. 2018, Demystifying MMD GANs (ICLR)",
               {"subsets": 100, "subset_size": 1_000, "kernel": "(xᵀy/d + 1)³"},
               kid, "features (N, F), (M, F)", False, "mean"),
    MetricInfo("precision_recall", "quality",
               "Share of generated samples on the real k-NN manifold (precision) and of real on the generated (recall).",
               "Kynkäänniemi et al. 2019, Improved Precision and Recall Metric (NeurIPS)",
               {"k": 3}, precision_recall, "features real (N, F), fake (M, F)", True, None,
               {"headline": ["precision", "recall"]}),
    MetricInfo("density_coverage", "quality",
               "Density (mean real k-NN balls per generated sample / k) and coverage (real balls reached).",
               "Naeem et al. 2020, Reliable Fidelity and Diversity Metrics (ICML)",
               {"k": 5}, density_coverage, "features real (N, F), fake (M, F)", True, None,
               {"headline": ["density", "coverage"]}),
    MetricInfo("nearest_real", "quality",
               "dSprites: each sample's best IoU with all 737,280 real sprites (thresholded), the share at ≥ 0.8, and "
               "KL(factor histogram of the nearest sprites ‖ uniform) per factor; soft: the grey levels by weighted Jaccard.",
               "Matthey et al. 2017, dSprites (the finite set searched exhaustively); Jaccard 1912 (IoU); "
               "Ružička 1958 (weighted Jaccard)",
               {"threshold": 0.5, "good_iou": 0.8, "n": "1,000 samples (--fast: 300)",
                "ties": "drawn uniformly among the tied sprites"},
               nearest_real_report, "samples (N, 1, 64, 64) in [0, 1]", True, "mean_iou",
               {"headline": ["mean_iou", "share_good", "kl"]}),
    MetricInfo("laplacian_variance", "sharpness",
               "Variance of the 3×3 Laplacian response per image (grey, no padding): low = blurry.",
               "Tolstikhin et al. 2018, Wasserstein Auto-Encoders (ICLR)",
               {"kernel": "[[0,1,0],[1,-4,1],[0,1,0]]", "padding": 0}, laplacian_variance,
               "images (N, C, H, W) or (N, H, W) in [0, 1]", True, None),
    MetricInfo("gradient_magnitude", "sharpness",
               "Mean Sobel gradient magnitude per image (kernels / 8).",
               "Sobel operator; Tenengrad focus measure (Tenenbaum 1970; Krotkov 1988, Focusing, IJCV)",
               {"kernel": "Sobel / 8", "padding": 0}, gradient_magnitude,
               "images (N, C, H, W) or (N, H, W) in [0, 1]", True, None),
    MetricInfo("high_frequency_energy", "sharpness",
               "Share of spectral power (DC excluded) above a normalised radial frequency cut-off.",
               "Spectral blur measure, cf. Durall et al. 2020, Watch your Up-Convolution (CVPR)",
               {"cutoff": 0.25, "frequency_unit": "1 = Nyquist (0.5 cycles/pixel)"}, high_frequency_energy,
               "images (N, C, H, W) or (N, H, W) in [0, 1]", True, None),
    MetricInfo("radial_power_spectrum", "sharpness",
               "Radially averaged power spectrum (mean over images), DC excluded.",
               "Durall et al. 2020, Watch your Up-Convolution (CVPR)",
               {"n_bins": "min(H, W) // 2"}, radial_power_spectrum,
               "images (N, C, H, W) or (N, H, W)", None, None),
    MetricInfo("kl_per_dim", "latent",
               "Mean analytic KL(q(z_i|x) ‖ N(0, 1)) per latent dimension, in nats.",
               "Kingma & Welling 2014, Auto-Encoding Variational Bayes (ICLR)",
               {}, kl_per_dim, "mu (N, D), logvar (N, D)", None, None),
    MetricInfo("active_units", "latent",
               "Number of latent dims whose encoder mean varies across data (variance > 0.01).",
               "Burda et al. 2016, Importance Weighted Autoencoders (ICLR)",
               {"threshold": 0.01, "kl_threshold": 0.01}, active_units, "mu (N, D) [, logvar]", None, "n_active"),
    MetricInfo("aggregate_posterior", "latent",
               "Mean and covariance of the aggregate posterior q(z) against the N(0, I) prior.",
               "Makhzani et al. 2016, Adversarial Autoencoders (ICLR workshop); Rosca et al. 2018",
               {}, aggregate_posterior_stats, "mu (N, D) [, logvar]", False, "gaussian_kl_to_prior"),
    MetricInfo("mmd", "latent",
               "Unbiased MMD² between encoded codes and prior samples (IMQ kernel, C = 2·dim).",
               "Gretton et al. 2012 (JMLR); Zhao et al. 2019, InfoVAE (AAAI); Tolstikhin et al. 2018, WAE",
               {"kernel": "imq", "scale": "2 * dim"}, mmd, "x (N, D), y (M, D)", False, None),
    MetricInfo("prior_holes", "latent",
               "Share of prior samples far from every encoded point (beyond the codes' 99th-percentile NN distance).",
               "Rosca et al. 2018, Distribution Matching in Variational Inference (arXiv)",
               {"threshold": "99th percentile of codes' NN distances", "n_prior": 10_000}, prior_holes,
               "codes (N, D) [, prior samples]", False, "share"),
    MetricInfo("mutual_information", "latent",
               "I(x; z) under q: mean log q(z|x) − mean log q(z), q(z) the mixture of the N encoded posteriors; "
               "≈ 0 for an ignored code, at most log N.",
               "Hoffman & Johnson 2016, ELBO surgery (NIPS AABI); He et al. 2019, Lagging Inference Networks (ICLR)",
               {"samples": "one z per encoded image"}, mutual_information, "mu (N, D), logvar (N, D)", None, "mi"),
    MetricInfo("bound_split", "latent",
               "The ELBO −(rec + KL) and its two terms: E_q[−log p(x|z)] (one z per image, the decoder's own "
               "likelihood) and the KL to the prior, in nats per image.",
               "Kingma & Welling 2014; Chen et al. 2017, Variational Lossy Autoencoder (ICLR)",
               {"samples": "one z per image"}, bound_split, "rec_nll (N,), mu (N, D), logvar (N, D)", True, "elbo"),
]

METRICS: dict[str, MetricInfo] = {m.name: m for m in _ENTRIES}


def metrics_in_family(family: str) -> list[MetricInfo]:
    """Registry entries of one family, in registry order."""
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}")
    return [m for m in METRICS.values() if m.family == family]


def markdown_table() -> str:
    """The metrics table for the README (family, metric, what it measures, paper, defaults)."""
    rows = ["| family | metric | what it measures | paper | defaults |", "|---|---|---|---|---|"]
    def cell(text: str) -> str:
        return str(text).replace("|", "\\|")

    for m in METRICS.values():
        defaults = ", ".join(f"{k}={v}" for k, v in m.defaults.items()) or "–"
        rows.append(f"| {m.family} | `{m.name}` | {cell(m.description)} | {cell(m.paper)} | {cell(defaults)} |")
    return "\n".join(rows)


__all__ = [
    "FAMILIES",
    "METRICS",
    "MetricInfo",
    "markdown_table",
    "metrics_in_family",
    "disentanglement",
    "latent_stats",
    "modes",
    "quality",
    "sharpness",
    "beta_vae_score",
    "factor_vae_score",
    "mig",
    "sap",
    "dci",
    "modularity",
    "sample_codes",
    "score_codes",
    "disentanglement_suite",
    "mode_coverage",
    "label_coverage",
    "frechet_distance",
    "kid",
    "precision_recall",
    "density_coverage",
    "nearest_real",
    "nearest_real_report",
    "laplacian_variance",
    "gradient_magnitude",
    "high_frequency_energy",
    "radial_power_spectrum",
    "sharpness_report",
    "kl_per_dim",
    "active_units",
    "aggregate_posterior_stats",
    "mmd",
    "prior_holes",
    "mutual_information",
    "bound_split",
]
