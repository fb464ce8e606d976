"""Discriminator rejection sampling (DRS; Azadi, Olsson, Darrell, Goodfellow & Odena, ICLR 2019).

A GAN discriminator trained to the end against a fixed generator outputs the logit
D̃(x) = log p_data(x) / p_g(x). Drawing x from the generator and keeping it with probability
exp(D̃(x) − D̃_M), where D̃_M is the largest logit, is then plain rejection sampling: the kept
samples follow p_data. In practice D̃_M is estimated on a burn-in set of proposals and the
paper softens the rule: with F(x) = D̃(x) − D̃_M − log(1 − exp(D̃(x) − D̃_M − ε)), a sample is
kept with probability σ(F(x) − γ). γ = 0 gives back the exact rule (σ(F) = exp(D̃ − D̃_M)); a
negative γ keeps more samples and corrects less (the paper sets it from a percentile of F).

The discriminator has to judge one sample at a time with a logit: the plain GAN's (and
InfoGAN's), not a Wasserstein critic (its score is not a density ratio) nor a PacGAN
discriminator (one logit per pack). With minibatch discrimination the logit also depends on
the rest of the batch, so proposals are scored in batches of the size D was trained on.
"""

from __future__ import annotations

import torch

__all__ = ["drs_keep_probability", "check_drs", "rejection", "rejection_sample", "drs_summary"]


def drs_keep_probability(logits: torch.Tensor, max_logit: float, gamma: float = 0.0,
                         eps: float = 1e-6) -> torch.Tensor:
    """σ(F − γ) with F = d − log(1 − exp(d − ε)), d = D̃(x) − D̃_M (Azadi et al. 2019, eq. 8).

    Logits above `max_logit` are kept for sure (d is clipped at 0)."""
    d = (logits.double() - max_logit).clamp(max=0.0)
    f = d - torch.log1p(-torch.exp(d - eps))
    return torch.sigmoid(f - gamma)


def check_drs(model) -> None:
    """Raise ValueError, in one sentence, when `model` has no discriminator DRS can use."""
    from genlab.models import models_with

    c = model.cfg
    if not model.spec.drs:
        raise ValueError(f"discriminator rejection sampling needs a GAN discriminator that outputs log-odds "
                         f"(models {', '.join(models_with('drs'))}), not a '{c.model}' model")
    if c.pack > 1:
        raise ValueError("discriminator rejection sampling needs one logit per sample; this PacGAN discriminator "
                         f"judges packs of {c.pack}")


def _scores(disc, x: torch.Tensor, batch: int) -> torch.Tensor:
    return torch.cat([disc(part)["logit"].float() for part in x.split(batch)])


def rejection(propose, score, n: int, gamma: float = 0.0, round_size: int = 100_000, burn_in: int = 100_000,
              max_rounds: int = 100, generator: torch.Generator | None = None) -> tuple[torch.Tensor, dict]:
    """DRS on any proposal: `propose(k)` draws k samples, `score(x)` gives their logits. Proposals
    come in rounds of `round_size` until n are kept (at most `max_rounds`). D̃_M is the largest
    logit of `burn_in` proposals and stays fixed: the paper raises it whenever a later proposal
    beats it, but a GAN discriminator's logits have a long upper tail, so that rule keeps lowering
    the acceptance (on the 50,000-step grid-gan-tricks it fell from 4 in 10,000 to 1 in 10,000,
    and 2,500 samples took 25 million proposals); later proposals above D̃_M are simply kept.
    Returns (kept samples, info: acceptance rate, proposals, D̃_M, γ, number kept; fewer than n if
    the rounds ran out)."""
    max_logit = float(score(propose(burn_in)).max())
    kept, proposed, total = [], 0, 0
    for _ in range(max_rounds):
        x = propose(round_size)
        s = score(x)
        p = drs_keep_probability(s, max_logit, gamma).cpu()
        u = torch.rand(len(p), generator=generator, dtype=torch.float64)
        kept.append(x[(u < p).to(x.device)])
        proposed += len(x)
        total += len(kept[-1])
        if total >= n:
            break
    out = torch.cat(kept)[:n]
    return out, {"acceptance": total / proposed, "proposals": proposed, "max_logit": max_logit, "gamma": gamma,
                 "kept": int(len(out))}


def rejection_sample(model, n: int, gamma: float = 0.0, seed: int = 0, round_size: int = 100_000,
                     burn_in: int = 100_000, max_rounds: int = 100, score_batch: int = 100) -> tuple[torch.Tensor, dict]:
    """n samples of a GAN kept by DRS with its own discriminator, as trained (see `rejection`).
    `score_batch`: proposals per discriminator call when D uses minibatch discrimination (the
    batch size it was trained with).

    The proposals come from the generator the discriminator was trained against: for a GAN that
    samples from a generator average, the generator itself, since D's logit estimates
    log p_data / p_G for that generator, not for its average (Azadi et al.'s rule assumes the pair)."""
    check_drs(model)
    disc = model.nets["disc"]
    was_training = model.training
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    batch = score_batch if disc.mbd is not None else max(score_batch, 10_000)
    try:
        with torch.no_grad(), model.without_average():
            kept, info = rejection(lambda k: model.sample(k, gen), lambda x: _scores(disc, x, batch), n, gamma,
                                   round_size, burn_in, max_rounds, gen)
        info["proposals_from"] = "the generator itself (not its average)" if model.average is not None else "the generator"
        return kept, info
    finally:
        model.train(was_training)


def drs_summary(metrics: dict, with_rate: bool = False) -> str:
    """'modes / high quality / reverse KL' of the DRS figures `genlab eval` stored ('–' when there
    are none), with the number of samples where the proposals ran out before the protocol's 2,500
    were kept, and optionally the share of proposals kept."""
    from genlab.metrics.modes import PROTOCOL_SAMPLES

    if "drs_modes_captured" not in metrics:
        return "–"
    rkl = metrics.get("drs_reverse_kl")
    text = (f"{metrics['drs_modes_captured']:.0f} / {metrics['drs_high_quality']:.1%} / "
            + ("n/a" if rkl is None or rkl != rkl else f"{rkl:.2f}"))
    if metrics.get("drs_kept", PROTOCOL_SAMPLES) < PROTOCOL_SAMPLES:
        text += f" on {metrics['drs_kept']:,.0f} samples"
    if with_rate and metrics.get("drs_acceptance"):
        text += f" (kept 1 in {1 / metrics['drs_acceptance']:,.0f})"
    return text
