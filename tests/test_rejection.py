"""Discriminator rejection sampling (Azadi et al. 2019): the exact rule recovers the target."""

import math

import pytest
import torch

from genlab.models import GenerativeModel, make_config
from genlab.rejection import check_drs, drs_keep_probability, drs_summary, rejection, rejection_sample


def test_keep_probability_is_the_exact_rejection_rule_at_gamma_zero_and_shifts_with_gamma():
    logits = torch.tensor([-3.0, 0.0, 1.5, 2.0, 2.5])
    p = drs_keep_probability(logits, max_logit=2.0)
    assert torch.allclose(p[:4], torch.exp(logits[:4] - 2.0).double(), atol=1e-5)  # σ(F) = exp(D − D_M)
    assert p[4] == pytest.approx(1.0, abs=1e-5)  # above the running max: kept
    more, fewer = drs_keep_probability(logits, 2.0, gamma=-2.0), drs_keep_probability(logits, 2.0, gamma=2.0)
    assert torch.all(more[:4] > p[:4]) and torch.all(fewer[:4] < p[:4])


def test_rejection_with_the_true_log_ratio_turns_one_gaussian_into_another():
    # proposals N(0, 1), target N(1, 1): log p_target / p_proposal = x − 1/2
    g = torch.Generator().manual_seed(0)
    kept, info = rejection(lambda k: torch.randn(k, generator=g), lambda x: x - 0.5, 20_000,
                           round_size=50_000, generator=g)
    assert len(kept) == 20_000
    assert kept.mean().item() == pytest.approx(1.0, abs=0.03)
    assert kept.std().item() == pytest.approx(1.0, abs=0.03)
    # acceptance = E_p[exp(x − 1/2 − D_M)] = exp(−D_M), D_M the largest logit of the burn-in
    assert info["acceptance"] == pytest.approx(math.exp(-info["max_logit"]), rel=0.15)


def test_drs_refuses_discriminators_without_a_per_sample_log_odds():
    with pytest.raises(ValueError, match="log-odds"):
        check_drs(GenerativeModel(make_config("wgan-gp", "grid", (2,))))
    with pytest.raises(ValueError, match="packs of 4"):
        check_drs(GenerativeModel(make_config("gan", "grid", (2,), pack=4)))


def test_rejection_sample_keeps_points_the_discriminator_favours_and_restores_the_mode():
    torch.manual_seed(0)
    m = GenerativeModel(make_config("gan", "grid", (2,), mlp_width=16, mlp_layers=1)).train()
    disc = m.nets["disc"]
    with torch.no_grad():  # a discriminator whose logit is 3·x₀: it favours points to the right
        for p in disc.parameters():
            p.zero_()
        first = disc.body.net[0]
        first.weight[0, 0] = 1.0
        disc.head.weight[0, 0] = 3.0
    plain = m.sample(5000, torch.Generator().manual_seed(1))
    kept, info = rejection_sample(m, 2000, seed=1, round_size=5000)
    assert m.training  # left as found
    assert len(kept) == 2000 and 0 < info["acceptance"] < 1
    assert kept[:, 0].mean() > plain[:, 0].mean() + 0.05


def test_rejection_sample_proposes_from_the_generator_its_discriminator_was_trained_against():
    """A GAN sampling from a generator average: DRS draws from the generator itself, whose density
    ratio the discriminator estimates, not from the average."""
    torch.manual_seed(0)
    m = GenerativeModel(make_config("gan", "grid", (2,), mlp_width=16, mlp_layers=1, ema_decay=0.9)).eval()
    with torch.no_grad():  # the average and the generator far apart
        for p in m.average.net.parameters():
            p.add_(1.0)
    kept, info = rejection_sample(m, 300, seed=2, round_size=2000, burn_in=2000)
    assert info["proposals_from"] == "the generator itself (not its average)"
    assert m.sample_average  # left as found: the checkpoint still samples its average
    m.average = None  # the same model without an average: the generator itself
    alone, _ = rejection_sample(m, 300, seed=2, round_size=2000, burn_in=2000)
    torch.testing.assert_close(kept, alone)


def test_drs_summary_reads_the_stored_figures():
    m = {"drs_modes_captured": 25, "drs_high_quality": 0.9612, "drs_reverse_kl": 0.1333, "drs_acceptance": 0.00037}
    assert drs_summary(m) == "25 / 96.1% / 0.13"
    assert drs_summary(m, with_rate=True) == "25 / 96.1% / 0.13 (kept 1 in 2,703)"
    assert drs_summary({"modes_captured": 16}) == "–"
    assert drs_summary({**m, "drs_reverse_kl": float("nan")}) == "25 / 96.1% / n/a"
    # proposals that ran out before 2,500 samples were kept: the table says on how many
    assert drs_summary({**m, "drs_kept": 740}) == "25 / 96.1% / 0.13 on 740 samples"
    assert drs_summary({**m, "drs_kept": 2500}) == "25 / 96.1% / 0.13"
