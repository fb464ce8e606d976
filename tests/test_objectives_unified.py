"""Known answers for the objectives of image translation (CycleGAN, LSGAN) and of the unified view's
two transfers (IWGAN's importance weights, AAVAE's adversarial term)."""

import pytest
import torch

from genlab import objectives as obj


def _images(seed, n=4, side=8):
    return torch.rand(n, 1, side, side, generator=torch.Generator().manual_seed(seed))


def test_cycle_loss_is_zero_for_inverse_maps_and_lambda_times_the_l1_gap_otherwise():
    a, b = _images(0), _images(1)
    G, F = (lambda x: 1.0 - x), (lambda x: 1.0 - x)  # each the other's inverse
    assert obj.cycle_loss(a, F(G(a)), b, G(F(b)))["loss"].item() == 0.0
    # F(G(a)) off by 0.1 everywhere, G(F(b)) exact: λ·0.1 with λ = 10 → 1.0
    out = obj.cycle_loss(a, a + 0.1, b, b, weight=10.0)
    assert out["loss"].item() == pytest.approx(1.0, abs=1e-6)
    assert out["cycle_a"].item() == pytest.approx(0.1, abs=1e-6) and out["cycle_b"].item() == 0.0
    # both directions count, and the weight scales the whole
    assert obj.cycle_loss(a, a + 0.1, b, b - 0.2, weight=2.0)["loss"].item() == pytest.approx(0.6, abs=1e-6)


def test_lsgan_targets_are_one_for_real_and_zero_for_fake():
    ones, zeros = torch.ones(5), torch.zeros(5)
    assert obj.lsgan_d_loss(ones, zeros)["loss"].item() == 0.0  # D at its targets
    assert obj.lsgan_g_loss(ones)["loss"].item() == 0.0  # G's fakes scored as real
    # D scoring everything 0.5: ½(0.25 + 0.25) = 0.25; G's loss at 0.5: ½·0.25
    half = torch.full((5,), 0.5)
    assert obj.lsgan_d_loss(half, half)["loss"].item() == pytest.approx(0.25)
    assert obj.lsgan_g_loss(half)["loss"].item() == pytest.approx(0.125)
    # the swapped targets are the worst constant answer: ½(1 + 1)
    assert obj.lsgan_d_loss(zeros, ones)["loss"].item() == pytest.approx(1.0)


def test_identity_loss_is_zero_for_identity_maps_and_positive_otherwise():
    a, b = _images(2), _images(3)
    assert obj.identity_loss(a, a, b, b, weight=5.0)["loss"].item() == 0.0
    assert obj.identity_loss(a, a + 0.2, b, b, weight=5.0)["loss"].item() == pytest.approx(1.0, abs=1e-6)


def test_importance_weights_sum_to_one_and_are_uniform_for_a_constant_discriminator():
    w = obj.importance_weights(torch.tensor([0.3, -1.0, 2.0, 0.0]))
    assert w.sum().item() == pytest.approx(1.0, abs=1e-6)
    # proportional to the density ratio D/(1 − D) = exp(logit)
    d = torch.sigmoid(torch.tensor([0.3, -1.0, 2.0, 0.0]))
    ratio = d / (1 - d)
    assert torch.allclose(w, ratio / ratio.sum(), atol=1e-6)
    const = obj.importance_weights(torch.full((8,), 1.7))
    assert torch.allclose(const, torch.full((8,), 1 / 8))


def test_iwgan_loss_is_the_plain_gan_loss_when_d_is_constant_and_favours_realistic_samples():
    logit = torch.full((6,), -0.4)
    iw = obj.iwgan_g_loss(logit)
    assert iw["loss"].item() == pytest.approx(obj.gan_g_loss(logit)["loss"].item(), abs=1e-6)
    assert iw["ess"].item() == pytest.approx(6.0, abs=1e-4)
    # the weights carry no gradient: the gradient on sample i is w_i·∂softplus(−l_i)/∂l_i
    logit = torch.tensor([2.0, -2.0], requires_grad=True)
    obj.iwgan_g_loss(logit)["loss"].backward()
    w = obj.importance_weights(logit.detach())
    expected = -w * torch.sigmoid(-logit.detach())
    assert torch.allclose(logit.grad, expected, atol=1e-6)
    assert (logit.grad < 0).all()  # every sample is pushed towards 'real'
    assert w[0] > w[1]  # the sample D finds realistic weighs more


def _aavae_inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(4, 1, 8, 8, generator=g) > 0.5).float()
    logits, mu, logvar = torch.randn(4, 1, 8, 8, generator=g), torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    fake = torch.rand(4, 1, 8, 8, generator=g)
    f_logits, f_mu, f_logvar = torch.randn(4, 1, 8, 8, generator=g), torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    return x, logits, mu, logvar, fake, f_logits, f_mu, f_logvar


def test_aavae_reduces_to_the_vae_at_weight_zero_and_adds_the_d_weighted_bound_otherwise():
    x, logits, mu, logvar, fake, f_logits, f_mu, f_logvar = _aavae_inputs()
    vae = obj.beta_vae(x, logits, mu, logvar)["loss"].item()
    d_logit = torch.zeros(4)  # D(x̃) = ½ for every sample
    zero = obj.aavae(x, logits, mu, logvar, fake, f_logits, f_mu, f_logvar, d_logit, weight=0.0)
    assert zero["loss"].item() == vae and zero["adv"].item() == 0.0
    one = obj.aavae(x, logits, mu, logvar, fake, f_logits, f_mu, f_logvar, d_logit, weight=1.0)
    neg_elbo_fake = (obj.reconstruction_nll(f_logits, fake) + obj.gaussian_kl(f_mu, f_logvar).sum(1)).mean().item()
    assert one["adv"].item() == pytest.approx(0.5 * neg_elbo_fake, rel=1e-5)
    assert one["loss"].item() == pytest.approx(vae + 0.5 * neg_elbo_fake, rel=1e-5)
    # samples D calls fake (D → 0) are ignored
    gone = obj.aavae(x, logits, mu, logvar, fake, f_logits, f_mu, f_logvar, torch.full((4,), -60.0), weight=1.0)
    assert gone["loss"].item() == pytest.approx(vae, rel=1e-6)
