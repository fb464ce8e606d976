"""Known answers for every objective in genlab.objectives."""

import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from genlab import objectives as obj


def test_gaussian_kl_matches_the_analytic_kl_of_two_gaussians():
    mu, logvar = torch.randn(5, 4), torch.randn(5, 4)
    ref = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0))
    torch.testing.assert_close(obj.gaussian_kl(mu, logvar), ref)
    assert obj.gaussian_kl(torch.zeros(3, 2), torch.zeros(3, 2)).abs().max() == 0


def test_mmd_near_zero_for_one_distribution_and_positive_for_shifted():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(500, 4, generator=g), torch.randn(500, 4, generator=g)
    same = obj.mmd(a, b)
    shifted = obj.mmd(a, b + 1.0)
    assert abs(same) < 0.01 and shifted > 0.1 and shifted > 20 * abs(same)
    assert obj.mmd(a, b + 1.0, kernel="rbf") > 0.05


def test_gradient_penalty_is_zero_for_a_unit_norm_gradient_critic():
    w = torch.randn(6)
    w = w / w.norm()  # f(x) = w·x has ‖∇f‖ = 1 everywhere
    real, fake = torch.randn(16, 6), torch.randn(16, 6)
    assert obj.gradient_penalty(lambda v: v @ w, real, fake) < 1e-10
    assert obj.gradient_penalty(lambda v: v @ (3 * w), real, fake) == pytest.approx(4.0, rel=1e-5)


def test_r1_penalty_is_the_squared_gradient_norm_at_the_data():
    w = torch.tensor([1.0, -2.0, 2.0])  # D(x) = w·x: ∇D = w everywhere, ‖w‖² = 9
    real = torch.randn(8, 3)
    assert float(obj.r1_penalty(lambda v: v @ w, real).detach()) == pytest.approx(9.0, rel=1e-6)
    # D(x) = ½‖x‖²: ∇D = x, so the penalty is the mean squared norm of the real samples
    penalty = float(obj.r1_penalty(lambda v: 0.5 * v.pow(2).sum(1), real).detach())
    assert penalty == pytest.approx(float(real.pow(2).sum(1).mean()), rel=1e-5)


def test_label_smoothing_puts_the_real_target_at_0_9():
    logit = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([logit], lr=2.0)
    for _ in range(500):
        loss = obj.gan_d_loss(logit, torch.full((1,), -20.0), real_target=0.9)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert torch.sigmoid(logit).item() == pytest.approx(0.9, abs=1e-3)


def test_minimax_generator_gradient_vanishes_where_non_saturating_does_not():
    # D confidently rejects the fakes (D(G(z)) ≈ 5e-5): the survey's point about eq. 2.
    for kind, expect_small in (("minimax", True), ("non-saturating", False)):
        l = torch.full((1,), -10.0, requires_grad=True)
        obj.gan_g_loss(l, kind)["loss"].backward()
        assert (abs(l.grad.item()) < 1e-3) == expect_small


def test_infogan_bound_equals_code_entropy_with_a_perfect_q():
    k = 10
    codes = torch.arange(k).repeat(5)
    perfect = 50.0 * torch.nn.functional.one_hot(codes, k).float()
    bound, _ = obj.infogan_mi_lower_bound(perfect, codes)
    assert bound.item() == pytest.approx(math.log(k), abs=1e-6)
    uninformed, _ = obj.infogan_mi_lower_bound(torch.zeros(50, k), codes)
    assert uninformed.item() == pytest.approx(0.0, abs=1e-6)


def test_capacity_schedule_reaches_c_max_at_the_step_asked():
    assert obj.capacity_at(0, 25.0, 1000) == 0.0
    assert obj.capacity_at(500, 25.0, 1000) == 12.5
    assert obj.capacity_at(1000, 25.0, 1000) == 25.0
    assert obj.capacity_at(5000, 25.0, 1000) == 25.0
    x = torch.rand(4, 1, 8, 8).round()
    mu, logvar = torch.zeros(4, 3), torch.zeros(4, 3)  # KL = 0, so the penalty is γ·C
    out = obj.annealed_vae(x, torch.zeros(4, 1, 8, 8), mu, logvar, step=1000, gamma=2.0, c_max=25.0, c_steps=1000)
    assert (out["loss"] - out["rec"]).item() == pytest.approx(50.0)


def test_consensus_adds_exactly_the_gradient_norm_term():
    phi = torch.tensor([0.3, -1.2], requires_grad=True)
    theta = torch.tensor([0.7], requires_grad=True)
    l_d = (phi[0] * theta[0]) + phi[1] ** 2  # ∂/∂φ = (θ, 2φ1)
    l_g = -(phi[0] * theta[0])  # ∂/∂θ = −φ0
    reg = obj.consensus_regulariser([(l_d, [phi]), (l_g, [theta])], gamma=0.5)
    expected = 0.5 * 0.5 * (0.7**2 + (2 * -1.2) ** 2 + 0.3**2)
    assert reg.item() == pytest.approx(expected)
    (g,) = torch.autograd.grad(reg, [theta])  # differentiable: it shapes the players' updates
    assert g.item() == pytest.approx(0.5 * 0.7)


def test_beta_scales_only_the_kl_term():
    x = torch.rand(4, 1, 8, 8).round()
    logits, mu, logvar = torch.randn(4, 1, 8, 8), torch.randn(4, 3), torch.randn(4, 3)
    a, b = obj.beta_vae(x, logits, mu, logvar, 1.0), obj.beta_vae(x, logits, mu, logvar, 4.0)
    assert (b["loss"] - a["loss"]).item() == pytest.approx(3 * a["kl"].item(), rel=1e-5)
    assert a["kl_per_dim"].sum().item() == pytest.approx(a["kl"].item(), rel=1e-5)


def test_info_vae_weights_follow_the_paper():
    x = torch.rand(8, 1, 8, 8).round()
    logits, mu, logvar = torch.randn(8, 1, 8, 8), torch.randn(8, 3), torch.randn(8, 3)
    z, pz = torch.randn(8, 3), torch.randn(8, 3)
    o = obj.info_vae(x, logits, mu, logvar, z, pz, alpha=0.0, lam=10.0)
    assert o["loss"].item() == pytest.approx((o["rec"] + o["kl"] + 9.0 * o["mmd"]).item(), rel=1e-5)
    o1 = obj.info_vae(x, logits, mu, logvar, z, pz, alpha=1.0, lam=10.0)  # MMD-VAE: no KL
    assert o1["loss"].item() == pytest.approx((o1["rec"] + 10.0 * o1["mmd"]).item(), rel=1e-5)


def test_continuous_bernoulli_is_a_normalised_density():
    xs = torch.linspace(0, 1, 20001)
    for lam in (0.05, 0.3, 0.5, 0.501, 0.9):
        logit = torch.full_like(xs, math.log(lam / (1 - lam)))
        nll = obj.reconstruction_nll(logit[:, None], xs[:, None], "continuous-bernoulli")
        integral = torch.trapezoid(torch.exp(-nll), xs).item()
        assert integral == pytest.approx(1.0, abs=2e-3)


def test_wgan_losses_estimate_the_score_gap():
    real, fake = torch.tensor([2.0, 4.0]), torch.tensor([0.5, 0.5])
    d = obj.wgan_d_loss(real, fake)
    assert d["wasserstein"].item() == 2.5 and d["loss"].item() == -2.5
    assert obj.wgan_g_loss(fake)["loss"].item() == -0.5


def test_ebgan_margin_and_pull_away_term():
    real, fake = torch.tensor([0.2, 0.4]), torch.tensor([1.0, 0.05])
    out = obj.ebgan_d_loss(real, fake, margin=0.5)
    assert out["loss"].item() == pytest.approx(0.3 + (0.0 + 0.45) / 2)
    same = torch.ones(4, 3)
    assert obj.pull_away_term(same).item() == pytest.approx(1.0)
    assert obj.pull_away_term(torch.eye(4)).item() == pytest.approx(0.0)


def test_instance_noise_anneals_to_zero():
    assert obj.instance_noise_sigma(0, 0.1, 100) == 0.1
    assert obj.instance_noise_sigma(50, 0.1, 100) == pytest.approx(0.05)
    assert obj.instance_noise_sigma(100, 0.1, 100) == 0.0 and obj.instance_noise_sigma(10, 0.0, 100) == 0.0


def test_feature_matching_only_moves_the_fake_features():
    real = torch.randn(8, 5, requires_grad=True)
    fake = torch.randn(8, 5, requires_grad=True)
    loss = obj.feature_matching(real, fake)
    loss.backward()
    assert real.grad is None and fake.grad.abs().sum() > 0
    torch.testing.assert_close(loss, (real.mean(0) - fake.mean(0)).pow(2).sum().detach())


def test_historical_average_is_the_squared_distance_to_the_mean_and_pulls_towards_it():
    theta = [torch.tensor([1.0, 2.0], requires_grad=True), torch.tensor([[3.0]], requires_grad=True)]
    means = [torch.tensor([0.0, 2.5]), torch.tensor([[1.0]])]
    h = obj.historical_average(theta, means)
    assert float(h.detach()) == pytest.approx(1.0 + 0.25 + 4.0)
    grads = torch.autograd.grad(h, theta)
    assert torch.allclose(grads[0], torch.tensor([2.0, -1.0])) and torch.allclose(grads[1], torch.tensor([[4.0]]))
