"""Objectives: one plain function per paper, on tensors. No networks, no optimisers here.

Each returns a dict with `loss` (what is minimised) and its named parts, so the trainer can
log whatever comes back. Names follow the survey.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

# --------------------------------------------------------------------------- VAE family


def gaussian_kl(mu, logvar):
    """KL(N(mu, σ²) ‖ N(0, 1)) per dimension, analytic (Kingma & Welling 2014, App. B). (B, D)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)


def reparameterise(mu, logvar, generator=None):
    """z = mu + σ·ε with ε ~ N(0, I): the reparameterisation trick (Kingma & Welling 2014)."""
    eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + (0.5 * logvar).exp() * eps


def reconstruction_nll(logits, x, likelihood: str = "bernoulli"):
    """-log p(x|z) per sample, summed over pixels. (B,)

    bernoulli: sigmoid cross-entropy, the standard choice for binary data (dSprites) and the
        common one for grey images in [0, 1];
    continuous-bernoulli: Loaiza-Ganem & Cunningham 2019, a proper density on [0, 1];
    gaussian: unit-variance Gaussian on sigmoid(logits) (the squared error / 2, plus a constant);
    points: unit-variance Gaussian on the raw output (2-D data)."""
    if likelihood == "bernoulli":
        nll = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
    elif likelihood == "continuous-bernoulli":
        nll = F.binary_cross_entropy_with_logits(logits, x, reduction="none") - _cb_log_norm(logits)
    elif likelihood == "gaussian":
        nll = 0.5 * (torch.sigmoid(logits) - x).pow(2) + 0.5 * math.log(2 * math.pi)
    elif likelihood == "points":
        nll = 0.5 * (logits - x).pow(2) + 0.5 * math.log(2 * math.pi)
    else:
        raise ValueError(f"unknown likelihood '{likelihood}'; use bernoulli, continuous-bernoulli, gaussian or points")
    return nll.flatten(1).sum(1)


def _cb_log_norm(logits):
    """log C(λ) of the continuous Bernoulli, λ = sigmoid(logits); Taylor expansion near λ = 1/2."""
    lam = torch.sigmoid(logits).clamp(1e-6, 1 - 1e-6)
    near = (lam - 0.5).abs() < 1e-2
    safe = torch.where(near, torch.full_like(lam, 0.25), lam)
    exact = torch.log((2 * torch.atanh(1 - 2 * safe)).abs()) - torch.log((1 - 2 * safe).abs())
    taylor = math.log(2.0) + (4.0 / 3.0) * (lam - 0.5).pow(2)
    return torch.where(near, taylor, exact)


def beta_vae(x, logits, mu, logvar, beta: float = 1.0, likelihood: str = "bernoulli"):
    """β-VAE (Higgins et al. 2017): E[-log p(x|z)] + β·KL(q(z|x) ‖ p(z)). β = 1 is the VAE's
    negative ELBO (Kingma & Welling 2014)."""
    rec = reconstruction_nll(logits, x, likelihood).mean()
    kl_dim = gaussian_kl(mu, logvar).mean(0)  # (D,)
    kl = kl_dim.sum()
    return {"loss": rec + beta * kl, "rec": rec, "kl": kl, "kl_per_dim": kl_dim.detach()}


def capacity_at(step: int, c_max: float, c_steps: int) -> float:
    """Burgess et al. 2018: the capacity C rises linearly from 0 to C_max over c_steps steps."""
    if c_steps <= 0:
        return float(c_max)
    return float(c_max) * min(1.0, step / c_steps)


def annealed_vae(x, logits, mu, logvar, step: int, gamma: float = 1000.0, c_max: float = 25.0,
                 c_steps: int = 100_000, likelihood: str = "bernoulli"):
    """β-VAE with controlled capacity (Burgess et al. 2018, "Understanding disentangling in
    β-VAE"): E[-log p(x|z)] + γ·|KL − C|, C raised linearly to C_max."""
    rec = reconstruction_nll(logits, x, likelihood).mean()
    kl_dim = gaussian_kl(mu, logvar).mean(0)
    kl = kl_dim.sum()
    c = capacity_at(step, c_max, c_steps)
    return {"loss": rec + gamma * (kl - c).abs(), "rec": rec, "kl": kl, "capacity": torch.tensor(c),
            "kl_per_dim": kl_dim.detach()}


def mmd(x, y, kernel: str = "imq", scale: float | None = None):
    """Unbiased MMD² between samples x (N, D) and y (M, D) (Gretton et al. 2012).

    kernel "imq": inverse multiquadratic C/(C + ‖a−b‖²) with C = 2·D·scale² (WAE, Tolstikhin et
    al. 2018; robust in high dimensions); "rbf": exp(−‖a−b‖² / (2·D·scale²)). scale defaults to 1,
    the prior's standard deviation."""
    d = x.shape[1]
    s2 = 2.0 * d * (1.0 if scale is None else scale) ** 2

    def k(a, b):
        d2 = torch.cdist(a, b).pow(2)
        return s2 / (s2 + d2) if kernel == "imq" else torch.exp(-d2 / s2)

    n, m = x.shape[0], y.shape[0]
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    sxx = (kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1))
    syy = (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
    return sxx + syy - 2.0 * kxy.mean()


def info_vae(x, logits, mu, logvar, z, prior_z, alpha: float = 1.0, lam: float = 1000.0,
             likelihood: str = "bernoulli"):
    """InfoVAE (Zhao, Song & Ermon 2019), eq. for the MMD family:
    E[-log p(x|z)] + (1−α)·KL(q(z|x) ‖ p(z)) + (α + λ − 1)·MMD(q(z), p(z)).
    α = 1 drops the per-sample KL: the MMD-VAE. `z` are samples of the aggregate posterior q(z),
    `prior_z` samples of p(z)."""
    rec = reconstruction_nll(logits, x, likelihood).mean()
    kl_dim = gaussian_kl(mu, logvar).mean(0)
    kl = kl_dim.sum()
    m = mmd(z, prior_z)
    loss = rec + (1.0 - alpha) * kl + (alpha + lam - 1.0) * m
    return {"loss": loss, "rec": rec, "kl": kl, "mmd": m, "kl_per_dim": kl_dim.detach()}



# --------------------------------------------------------------------------- keeping the code in use (survey §2.1.2)


def free_bits(kl_dim, floor: float):
    """Free bits (Kingma et al. 2016, "Improved Variational Inference with Inverse Autoregressive
    Flow"): each latent dimension's KL term, already averaged over the minibatch, is charged
    max(λ, KL_j). Below λ nats a dimension's information costs nothing (the term is the constant λ,
    its gradient 0), so the optimiser gains nothing by squeezing it to 0; above λ it is the KL. The
    paper groups dimensions; here every dimension is its own group. (D,) → (D,)."""
    return torch.clamp(kl_dim, min=float(floor)) if floor > 0 else kl_dim


def kl_anneal_weight(step: int, anneal_steps: int) -> float:
    """KL cost annealing (Bowman et al. 2016, "Generating Sentences from a Continuous Space", §3.1):
    the KL term's weight rises from 0 at the first step to 1 at step `anneal_steps` (linearly here;
    the paper used a sigmoid), so the encoder learns to carry information before it pays for it."""
    if anneal_steps <= 0:
        return 1.0
    return min(1.0, step / anneal_steps)


def vae_kept_code(x, logits, mu, logvar, z=None, prior_z=None, step: int = 0, floor: float = 0.0,
                  anneal_steps: int = 0, alpha: float = 0.0, lam: float = 1.0, likelihood: str = "bernoulli"):
    """The negative ELBO with the survey's remedies for an ignored code (§2.1.2), each off at its
    default:

        E[−log p(x|z)] + w(step)·(1 − α)·Σ_j max(λ_fb, KL_j) + (α + λ − 1)·MMD(q(z), p(z))

    w: KL annealing (Bowman et al. 2016); λ_fb = `floor`: free bits (Kingma et al. 2016); α, λ:
    InfoVAE's weights (Zhao et al. 2019): α > 0 weights the mutual information I(x; z) up, which
    takes (1 − α) of the per-sample KL away, and λ keeps the aggregate posterior q(z) on the prior
    (`z`, `prior_z`: samples of both; only needed when α + λ ≠ 1). α = 0, λ = 1 with no floor and no
    annealing is the ELBO itself.

    Returns the loss with the bound's own parts (rec, kl, kl_per_dim: the true KL, whatever was
    charged), what the KL cost after the remedies (kl_charged) and the weight w (kl_weight)."""
    rec = reconstruction_nll(logits, x, likelihood).mean()
    kl_dim = gaussian_kl(mu, logvar).mean(0)
    kl = kl_dim.sum()
    w = kl_anneal_weight(step, anneal_steps)
    charged = free_bits(kl_dim, floor).sum()
    loss = rec + w * (1.0 - alpha) * charged
    out = {"rec": rec, "kl": kl, "kl_per_dim": kl_dim.detach(), "kl_charged": charged.detach(),
           "kl_weight": torch.tensor(w), "elbo": -(rec + kl).detach()}
    mmd_w = alpha + lam - 1.0
    if mmd_w != 0:
        if z is None or prior_z is None:
            raise ValueError("InfoVAE's MMD term needs samples of q(z) and of the prior (z, prior_z)")
        m = mmd(z, prior_z)
        loss = loss + mmd_w * m
        out["mmd"] = m.detach()
    out["loss"] = loss
    return out

# --------------------------------------------------------------------------- GAN family


def gan_d_loss(real_logit, fake_logit, real_target: float = 1.0):
    """GAN discriminator (Goodfellow et al. 2014, the survey's eq. 2): maximise
    log D(x) + log(1 − D(G(z))), written as a cross-entropy to minimise. `real_target` < 1 is
    one-sided label smoothing (Salimans et al. 2016: 0.9); fake targets stay 0."""
    real = F.binary_cross_entropy_with_logits(real_logit, torch.full_like(real_logit, real_target))
    fake = F.binary_cross_entropy_with_logits(fake_logit, torch.zeros_like(fake_logit))
    return {"loss": real + fake, "d_real": torch.sigmoid(real_logit).mean(), "d_fake": torch.sigmoid(fake_logit).mean()}


def gan_g_loss(fake_logit, kind: str = "non-saturating"):
    """GAN generator. "minimax": minimise log(1 − D(G(z))), the survey's eq. 2 (its gradient
    vanishes when D wins); "non-saturating": minimise −log D(G(z)) (Goodfellow et al. 2014, §3)."""
    if kind == "minimax":
        loss = -F.softplus(fake_logit).mean()  # log(1 − sigmoid(l)) = −softplus(l)
    elif kind == "non-saturating":
        loss = F.softplus(-fake_logit).mean()  # −log sigmoid(l)
    else:
        raise ValueError(f"unknown GAN generator loss '{kind}'; use minimax or non-saturating")
    return {"loss": loss}


def gan_cls_d_loss(real_match_logit, real_mismatch_logit, fake_match_logit, real_target: float = 1.0):
    """The matching-aware discriminator of GAN-CLS (Reed et al. 2016, "Generative Adversarial Text to
    Image Synthesis", Alg. 1): L_D = log D(x, h) + ½[log(1 − D(x, ĥ)) + log(1 − D(x̂, h))], maximised,
    written as cross-entropies to minimise. (real image, matching text) is real; (real image,
    mismatched text) and (generated image, matching text) are both fake, so D must judge the text
    as well as the image. `real_target` < 1 is one-sided label smoothing."""
    bce = F.binary_cross_entropy_with_logits
    real_match = bce(real_match_logit, torch.full_like(real_match_logit, real_target))
    real_mismatch = bce(real_mismatch_logit, torch.zeros_like(real_mismatch_logit))
    fake_match = bce(fake_match_logit, torch.zeros_like(fake_match_logit))
    return {"loss": real_match + 0.5 * (real_mismatch + fake_match), "real_match": real_match.detach(),
            "real_mismatch": real_mismatch.detach(), "fake_match": fake_match.detach(),
            "d_real": torch.sigmoid(real_match_logit).mean().detach(),
            "d_mismatch": torch.sigmoid(real_mismatch_logit).mean().detach(),
            "d_fake": torch.sigmoid(fake_match_logit).mean().detach()}


def wgan_d_loss(real_score, fake_score):
    """WGAN critic (Arjovsky et al. 2017): maximise E[f(x)] − E[f(G(z))]; the negative is
    minimised. Its negative is the critic's estimate of the Wasserstein-1 distance."""
    w = real_score.mean() - fake_score.mean()
    return {"loss": -w, "wasserstein": w.detach()}


def wgan_g_loss(fake_score):
    """WGAN generator: minimise −E[f(G(z))]."""
    return {"loss": -fake_score.mean()}


def gradient_penalty(critic, real, fake, generator=None):
    """WGAN-GP (Gulrajani et al. 2017): E[(‖∇f(x̂)‖₂ − 1)²] at random interpolates x̂ of real
    and fake samples. `critic` maps a batch to scores (B,)."""
    shape = (real.shape[0],) + (1,) * (real.ndim - 1)
    eps = torch.rand(shape, generator=generator, device=real.device, dtype=real.dtype)
    x_hat = (eps * real + (1 - eps) * fake).detach().requires_grad_(True)
    score = critic(x_hat)
    (grad,) = torch.autograd.grad(score.sum(), x_hat, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - 1.0).pow(2).mean()


def r1_penalty(disc, real):
    """R1 (Mescheder, Geiger & Nowozin 2018, Which training methods for GANs actually converge?):
    E‖∇ₓD(x)‖² at real samples, D's logit differentiated with respect to its input; a discriminator loss
    adds γ/2 of it. It pushes D's gradient on the data towards zero, where the non-saturating game then
    converges locally. `disc` maps a batch to logits (B,)."""
    x = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(disc(x).sum(), x, create_graph=True)
    return grad.flatten(1).pow(2).sum(1).mean()


def feature_matching(real_features, fake_features):
    """Feature matching (Salimans et al. 2016, §3.1): the generator matches the mean of an
    intermediate discriminator layer on real data, ‖E f(x) − E f(G(z))‖²."""
    return (real_features.detach().mean(0) - fake_features.mean(0)).pow(2).sum()


def instance_noise_sigma(step: int, sigma0: float, anneal_steps: int) -> float:
    """Instance noise (Sønderby et al. 2017; Arjovsky & Bottou 2017): Gaussian noise of std σ
    added to real and fake inputs of D, annealed linearly from σ0 to 0 over anneal_steps."""
    if sigma0 <= 0:
        return 0.0
    return float(sigma0) * max(0.0, 1.0 - step / max(1, anneal_steps))


def consensus_regulariser(losses_and_params, gamma: float):
    """Consensus optimisation (Mescheder, Nowozin & Geiger 2017): L(θ) = ½‖v(θ)‖², v the
    players' joint gradient field. Returns γ·L, to be added to every player's loss.

    losses_and_params: [(loss_of_player, its_parameters), ...]."""
    sq = 0.0
    for loss, params in losses_and_params:
        grads = torch.autograd.grad(loss, params, create_graph=True, allow_unused=True)
        sq = sq + sum(g.pow(2).sum() for g in grads if g is not None)
    return gamma * 0.5 * sq


def historical_average(params, means) -> torch.Tensor:
    """Historical averaging (Salimans et al. 2016, §3.3): ‖θ − θ̄‖², θ̄ the mean of the player's
    parameters over the steps so far. Added to a player's cost with weight λ, it pulls the game
    back towards where it has been and damps the orbits that simultaneous gradient steps make
    around an equilibrium (fictitious play, Brown 1951)."""
    return sum((p - m).pow(2).sum() for p, m in zip(params, means))


def infogan_mi_lower_bound(cat_logits, cat_code, cont_mean=None, cont_code=None, cont_std: float = 1.0):
    """InfoGAN's variational lower bound on I(c; G(z, c)) (Chen et al. 2016, eq. 4):
    L_I = H(c) + E[log Q(c | G(z, c))]. With a perfect Q it equals the codes' entropy H(c).

    cat_code: (B,) class indices of a uniform categorical code with K values (H = log K).
    cont_code: (B, C) codes ~ U(−1, 1) modelled by a fixed-std Gaussian Q; their entropy
    log 2 per dimension is included so the bound is comparable with H(c)."""
    k = cat_logits.shape[1]
    log_q_cat = -F.cross_entropy(cat_logits, cat_code)
    bound = math.log(k) + log_q_cat
    parts = {"mi_cat": bound.detach()}
    if cont_mean is not None and cont_code is not None and cont_code.shape[1] > 0:
        log_q = -0.5 * ((cont_code - cont_mean) / cont_std).pow(2) - math.log(cont_std) - 0.5 * math.log(2 * math.pi)
        cont_bound = (log_q.sum(1) + cont_code.shape[1] * math.log(2.0)).mean()
        bound = bound + cont_bound
        parts["mi_cont"] = cont_bound.detach()
    return bound, parts


def ebgan_d_loss(real_energy, fake_energy, margin: float):
    """EBGAN discriminator (Zhao, Mathieu & LeCun 2017): D(x) + [m − D(G(z))]⁺."""
    return {"loss": real_energy.mean() + F.relu(margin - fake_energy).mean(),
            "energy_real": real_energy.mean().detach(), "energy_fake": fake_energy.mean().detach()}


def pull_away_term(codes):
    """EBGAN's repelling regulariser: mean squared cosine similarity between distinct codes of a
    batch, pushing the generator away from producing the same code twice."""
    s = F.normalize(codes.flatten(1), dim=1)
    n = s.shape[0]
    cos2 = (s @ s.t()).pow(2)
    return (cos2.sum() - cos2.diagonal().sum()) / (n * (n - 1))


# --------------------------------------------------------------------------- image translation (survey §3.2)


def lsgan_d_loss(real_score, fake_score):
    """Least-squares GAN discriminator (Mao et al. 2017, eq. 2 with the targets a = 0 for fakes and
    b = 1 for real data, the choice CycleGAN makes, Zhu et al. 2017 §4):
    ½·E[(D(x) − 1)²] + ½·E[D(G(z))²]. Scores are raw outputs (a PatchGAN's map is averaged too)."""
    real = (real_score - 1.0).pow(2).mean()
    fake = fake_score.pow(2).mean()
    return {"loss": 0.5 * (real + fake), "d_real": real_score.mean().detach(), "d_fake": fake_score.mean().detach()}


def lsgan_g_loss(fake_score):
    """Least-squares GAN generator (Mao et al. 2017, eq. 2 with c = 1): ½·E[(D(G(z)) − 1)²], the
    generator wants its fakes scored as real."""
    return {"loss": 0.5 * (fake_score - 1.0).pow(2).mean()}


def cycle_loss(a, a_cycled, b, b_cycled, weight: float = 10.0):
    """CycleGAN's cycle consistency (Zhu et al. 2017, eq. 2): λ·E‖F(G(a)) − a‖₁ + λ·E‖G(F(b)) − b‖₁,
    each norm taken as a mean over pixels (as the authors' code does), so λ = 10 reads the same at every
    image size. Zero when F and G are each other's inverse on the samples."""
    fwd = (a_cycled - a).abs().mean()
    bwd = (b_cycled - b).abs().mean()
    return {"loss": weight * (fwd + bwd), "cycle_a": fwd.detach(), "cycle_b": bwd.detach()}


def identity_loss(a, f_of_a, b, g_of_b, weight: float):
    """CycleGAN's identity mapping loss (Zhu et al. 2017 §5.2, from Taigman et al. 2017):
    w·(E‖G(b) − b‖₁ + E‖F(a) − a‖₁). A generator shown an image already in its target domain should
    leave it alone; zero when both maps are the identity."""
    return {"loss": weight * ((g_of_b - b).abs().mean() + (f_of_a - a).abs().mean())}


# --------------------------------------------------------------------------- the unified view (Hu et al. 2018)


def importance_weights(d_logit):
    """IWGAN's normalised importance weights (Hu et al. 2018, "On Unifying Deep Generative Models",
    §5.1). The discriminator's density-ratio estimate for a generated sample x is
    D(x) / (1 − D(x)) = exp(logit), which is p_data(x) / p_g(x) at the optimal D; normalised over the
    batch the weights are a softmax of the logits. They sum to one, and are uniform (1/B each) when D
    says the same of every sample. (B,) → (B,)."""
    return torch.softmax(d_logit.reshape(-1), dim=0)


def iwgan_g_loss(fake_logit):
    """IWGAN's generator loss (Hu et al. 2018 §5.1): the non-saturating loss −log D(G(z_i)) of each
    sample weighted by its normalised importance weight, the weights held fixed (no gradient flows
    through them), as importance-weighted autoencoders weight their samples (Burda et al. 2016).
    Samples the discriminator already finds realistic count more. With a constant D it is the plain
    non-saturating GAN loss."""
    logit = fake_logit.reshape(-1)
    w = importance_weights(logit).detach()
    loss = (w * F.softplus(-logit)).sum()
    ess = 1.0 / w.pow(2).sum()  # effective sample size: B for uniform weights, 1 when one sample has them all
    return {"loss": loss, "ess": ess, "w_max": w.max()}


def aavae(x, logits, mu, logvar, fake, fake_logits, fake_mu, fake_logvar, fake_d_logit, weight: float = 1.0,
          beta: float = 1.0, likelihood: str = "bernoulli"):
    """The adversary-activated VAE (Hu et al. 2018 §5.2): the VAE's loss on real data, plus the VAE's
    loss on the model's own samples, each weighted by the discriminator's belief D(x̃) that it is real
    (the weights held fixed). A VAE ignores its samples; here the adversary picks the good ones as
    extra training data. `fake` is a batch of samples x̃ (no gradient through them), `fake_logits`,
    `fake_mu`, `fake_logvar` the VAE's pass over them, `fake_d_logit` D's logits for them.

    weight = 0 is the plain (β-)VAE: the extra term vanishes."""
    out = beta_vae(x, logits, mu, logvar, beta, likelihood)
    if weight == 0:
        out["adv"] = torch.zeros(())
        return out
    w = torch.sigmoid(fake_d_logit.reshape(-1)).detach()  # D(x̃), each in (0, 1)
    per_sample = reconstruction_nll(fake_logits, fake, likelihood) + beta * gaussian_kl(fake_mu, fake_logvar).sum(1)
    adv = (w * per_sample).mean()
    out["loss"] = out["loss"] + weight * adv
    out["adv"] = adv.detach()
    out["d_fake_mean"] = w.mean()
    return out
