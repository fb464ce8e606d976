"""The VAE failure modes of the survey (§2.1.2 the ignored code, §2.1.3 the exploding latent space):
known answers for the PixelCNN decoder, the remedies, the mutual-information estimate and the
posterior statistics of the ellipse demo."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import tiny_cfg

from genlab import failure_modes as fm
from genlab import nets
from genlab import objectives as obj
from genlab.data import load_dataset
from genlab.latent import traverse
from genlab.metrics.latent_stats import bound_split, mutual_information
from genlab.models import GenerativeModel, StepContext, make_config

# --------------------------------------------------------------------------- the masked convolution


@pytest.mark.parametrize("kernel,mask_type", [(3, "A"), (5, "A"), (3, "B"), (1, "B")])
def test_a_masked_convolution_never_sees_the_pixel_it_predicts_or_any_later_one(kernel, mask_type):
    """Change the pixel at a position (type A) or any later pixel in raster order: the output at that
    position stays exactly the same; change an earlier pixel inside the window: it moves."""
    torch.manual_seed(0)
    conv = nets.MaskedConv2d(1, 4, kernel, mask_type)
    x = torch.rand(2, 1, 8, 8)
    out = conv(x)
    for i, j in [(0, 0), (3, 4), (7, 7), (5, 0)]:
        later = x.clone()
        later[:, :, i, j + 1:] += 1.0  # the rest of the row
        later[:, :, i + 1:] -= 2.0  # every row below
        if mask_type == "A":
            later[:, :, i, j] += 3.0  # the pixel itself
        assert torch.equal(conv(later)[:, :, i, j], out[:, :, i, j]), (i, j)
    if kernel > 1:
        earlier = x.clone()
        earlier[:, :, 3, 3] += 1.0  # the pixel left of (3, 4)
        assert not torch.equal(conv(earlier)[:, :, 3, 4], out[:, :, 3, 4])
    if mask_type == "B":
        centre = x.clone()
        centre[:, :, 3, 4] += 1.0  # type B lets its centre through
        assert not torch.equal(conv(centre)[:, :, 3, 4], out[:, :, 3, 4])


@pytest.mark.parametrize("reach", [1, 2, 7])
def test_the_decoder_sees_the_earlier_pixels_within_its_reach_and_nothing_else(reach):
    torch.manual_seed(0)
    dec = nets.PixelCNNDecoder((1, 8, 8), 3, reach, channels=8, hidden=16)
    z, x = torch.randn(2, 3), (torch.rand(2, 1, 8, 8) < 0.5).float()
    out = dec(z, x)
    i, j = 5, 4
    for (a, b) in [(i, j), (i, j + 1), (i + 1, 0), (7, 7)]:  # the pixel itself and later ones
        y = x.clone()
        y[:, :, a, b] = 1 - y[:, :, a, b]
        assert torch.equal(dec(z, y)[:, :, i, j], out[:, :, i, j])
    inside = [(max(0, i - reach), max(0, j - reach)), (max(0, i - reach), min(7, j + reach)), (i, j - 1)]
    outside = [(i - reach - 1, j)] if i - reach - 1 >= 0 else []
    outside += [(i, j - reach - 1)] if j - reach - 1 >= 0 else []
    for (a, b) in inside:
        y = x.clone()
        y[:, :, a, b] = 1 - y[:, :, a, b]
        assert not torch.equal(dec(z, y)[:, :, i, j], out[:, :, i, j]), (a, b)
    for (a, b) in outside:
        y = x.clone()
        y[:, :, a, b] = 1 - y[:, :, a, b]
        assert torch.equal(dec(z, y)[:, :, i, j], out[:, :, i, j]), (a, b)


def test_with_reach_0_the_decoder_is_the_factorised_one():
    """Reach 0: no autoregressive part, the logits are the factorised nets.Decoder's, whatever the image."""
    torch.manual_seed(0)
    dec = nets.PixelCNNDecoder((1, 8, 8), 4, 0, hidden=32)
    plain = nets.Decoder((1, 8, 8), 4, hidden=32)
    plain.load_state_dict(dec.base.state_dict())
    assert {n for n, _ in dec.named_parameters()} == {f"base.{n}" for n, _ in plain.named_parameters()}
    z = torch.randn(5, 4)
    for x in (torch.zeros(5, 1, 8, 8), torch.ones(5, 1, 8, 8), (torch.rand(5, 1, 8, 8) < 0.5).float()):
        assert torch.equal(dec(z, x), plain(z))
    # the bound of the reach-0 model is the factorised Bernoulli likelihood of those logits
    x = (torch.rand(5, 1, 8, 8) < 0.5).float()
    ref = torch.nn.functional.binary_cross_entropy_with_logits(plain(z), x, reduction="none").sum((1, 2, 3))
    torch.testing.assert_close(obj.reconstruction_nll(dec(z, x), x), ref)


def test_the_decoder_s_width_and_depth_come_from_the_config_and_keep_its_reach():
    """--pixel-channels / --pixel-blocks size the gated layers; the reach stays the first layer's window."""
    data = load_dataset("digits-binary")
    cfg = make_config("pixelcnn-vae", "digits-binary", data.shape, latent_dim=3, pixel_reach=2, pixel_channels=16,
                      pixel_blocks=2)
    dec = GenerativeModel(cfg).nets["dec"]
    assert dec.channels == 16 and len(dec.blocks) == 2 and dec.first.weight.shape == (32, 1, 5, 5)
    default = GenerativeModel(make_config("pixelcnn-vae", "digits-binary", data.shape, latent_dim=3)).nets["dec"]
    assert default.channels == 128 and len(default.blocks) == 4


def test_rows_name_a_decoder_of_another_size_and_keep_it_off_the_plain_line():
    class Row:
        ok, kind, model, data = True, "model", "pixelcnn-vae", "digits-binary"

        def __init__(self, name, **c):
            self.name, self.meta = name, {"config": {"shape": [1, 8, 8], **c}}

    rows = [Row("wide", pixel_reach=7, pixel_channels=256), Row("fb", pixel_reach=7, free_bits=1.0),
            Row("r7", pixel_reach=7, pixel_channels=128, pixel_blocks=4), Row("r0", pixel_reach=0, pixel_channels=256)]
    got = fm.reach_rows(rows)
    assert [d["name"] for d in got] == ["r0", "r7", "wide", "fb"]  # plain line, other decoders, remedies
    assert [d["plain"] for d in got] == [True, True, False, False]  # the factorised decoder has no width to vary
    assert [fm.objective_text(d) for d in got] == ["the ELBO", "the ELBO", "the ELBO (256-channel decoder)",
                                                   "free bits λ = 1"]
    assert fm.decoder_text({"pixel_reach": 3, "pixel_blocks": 8}) == "128-channel, 8-block"


@pytest.mark.parametrize("reach", [0, 2, 7])
def test_sampling_pixel_by_pixel_follows_the_decoders_own_conditionals(reach):
    """The sampler evaluates one position at a time; the image it draws must be what the whole-image
    pass says: pixel i is 1 exactly when noise_i < p(x_i = 1 | x_<i, z) computed on the drawn image."""
    torch.manual_seed(1)
    dec = nets.PixelCNNDecoder((1, 8, 8), 3, reach, channels=8, hidden=16)
    z, noise = torch.randn(6, 3), torch.rand(6, 1, 8, 8)
    x = dec.sample(z, noise)
    assert set(x.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(x, (noise < torch.sigmoid(dec(z, x))).float())


def test_the_decoder_refuses_colour_and_a_reach_beyond_the_image():
    with pytest.raises(ValueError, match="one channel"):
        nets.PixelCNNDecoder((3, 8, 8), 2, 1)
    with pytest.raises(ValueError, match="reach must be 0–7"):
        nets.PixelCNNDecoder((1, 8, 8), 2, 8)


def test_the_config_refusals_are_one_sentence_each():
    data = load_dataset("digits-binary")
    cases = [(dict(model="pixelcnn-vae", pixel_reach=8), "a reach of 8 is more than a 8×8 image holds: 7 already"),
             (dict(model="vae", pixel_reach=2), "reach over earlier pixels applies to pixelcnn-vae, not vae"),
             (dict(model="beta-vae", free_bits=0.5), "free bits and KL annealing apply to pixelcnn-vae, not beta-vae"),
             (dict(model="vae", kl_anneal_steps=100), "apply to pixelcnn-vae, not vae"),
             (dict(model="pixelcnn-vae", likelihood="gaussian"), "Bernoulli")]
    for kw, says in cases:
        model = kw.pop("model")
        with pytest.raises(ValueError, match=says) as e:
            make_config(model, data.name, data.shape, **kw)
        assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match="one channel, not 3"):
        make_config("pixelcnn-vae", "cifar10", (3, 32, 32))
    with pytest.raises(ValueError, match="4,096 sequential steps at 64×64: it takes images of at most 32×32"):
        make_config("pixelcnn-vae", "dsprites", (1, 64, 64))


# --------------------------------------------------------------------------- the remedies


def test_free_bits_floors_each_latent_s_kl_term_and_stops_its_gradient_below_the_floor():
    kl = torch.tensor([0.0, 0.3, 0.5, 2.0], requires_grad=True)
    charged = obj.free_bits(kl, 0.5)
    assert charged.tolist() == [0.5, 0.5, 0.5, 2.0]
    charged.sum().backward()
    assert kl.grad.tolist() == [0.0, 0.0, 0.0, 1.0]  # below λ the information costs nothing
    assert obj.free_bits(kl, 0.0) is kl  # 0 = off


def test_kl_annealing_rises_linearly_from_0_to_1():
    assert [obj.kl_anneal_weight(s, 100) for s in (0, 25, 100, 500)] == [0.0, 0.25, 1.0, 1.0]
    assert obj.kl_anneal_weight(0, 0) == 1.0


def test_the_kept_code_objective_is_the_elbo_by_default_and_adds_each_remedy_as_stated():
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(8, 1, 8, 8, generator=g) < 0.5).float()
    logits, mu, logvar = torch.randn(8, 1, 8, 8, generator=g), torch.randn(8, 3, generator=g), torch.randn(8, 3, generator=g)
    z, prior_z = torch.randn(8, 3, generator=g), torch.randn(8, 3, generator=g)
    base = obj.beta_vae(x, logits, mu, logvar, 1.0)
    elbo = obj.vae_kept_code(x, logits, mu, logvar)
    torch.testing.assert_close(elbo["loss"], base["loss"])
    torch.testing.assert_close(elbo["elbo"], -base["loss"])
    kl_dim = obj.gaussian_kl(mu, logvar).mean(0)
    fb = obj.vae_kept_code(x, logits, mu, logvar, floor=1.0)
    torch.testing.assert_close(fb["loss"], base["rec"] + kl_dim.clamp(min=1.0).sum())
    torch.testing.assert_close(fb["kl"], base["kl"])  # the true KL is reported, whatever is charged
    half = obj.vae_kept_code(x, logits, mu, logvar, step=30, anneal_steps=120)
    torch.testing.assert_close(half["loss"], base["rec"] + 0.25 * base["kl"])
    info = obj.vae_kept_code(x, logits, mu, logvar, z, prior_z, alpha=0.5, lam=10.0)
    torch.testing.assert_close(info["loss"], base["rec"] + 0.5 * base["kl"] + 9.5 * obj.mmd(z, prior_z))
    with pytest.raises(ValueError, match="MMD term needs samples"):
        obj.vae_kept_code(x, logits, mu, logvar, alpha=1.0)


def test_free_bits_keeps_a_code_the_plain_elbo_lets_go():
    """A toy posterior with the gradient of the KL alone: the ELBO's KL term pulls mu to 0, the free-bits
    term leaves a dimension alone while its KL is under the floor."""
    for floor, expect_zero in ((0.0, True), (2.0, False)):
        mu = torch.tensor([[1.0, 1.5]], requires_grad=True)
        logvar = torch.zeros(1, 2, requires_grad=True)
        opt = torch.optim.SGD([mu, logvar], lr=0.1)
        for _ in range(300):
            loss = obj.free_bits(obj.gaussian_kl(mu, logvar).mean(0), floor).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
        assert (mu.abs().max().item() < 1e-3) == expect_zero, (floor, mu)


# --------------------------------------------------------------------------- the model in the registry


def test_pixelcnn_vae_trains_on_its_own_step_and_logs_the_bound_and_the_remedies():
    torch.manual_seed(0)
    data = load_dataset("digits-binary")
    cfg = tiny_cfg("pixelcnn-vae", data, pixel_reach=2, free_bits=0.25, kl_anneal_steps=10, alpha=0.5, mmd_weight=5.0)
    m = GenerativeModel(cfg)
    x = data.sample(8, torch.Generator().manual_seed(0))["x"]
    (step,) = m.update_steps()
    out = step.fn(m, x, StepContext(5, torch.Generator().manual_seed(1)))
    assert out["kl_weight"].item() == 0.5 and "mmd" in out
    torch.testing.assert_close(out["elbo"], -(out["rec"] + out["kl"]))
    out["loss"].backward()
    assert m.nets["dec"].first.weight.grad is not None and m.nets["enc"].head.weight.grad is not None


def test_decode_draws_with_one_noise_field_so_a_code_that_does_not_matter_repeats_one_image():
    torch.manual_seed(0)
    data = load_dataset("digits-binary")
    m = GenerativeModel(tiny_cfg("pixelcnn-vae", data, pixel_reach=7)).eval()
    z = torch.randn(4, 3)
    a, b = m.decode(z), m.decode(z)
    assert torch.equal(a, b) and set(a.unique().tolist()) <= {0.0, 1.0}
    with torch.no_grad():  # a decoder that ignores z: zero every weight z enters through
        for name, p in m.nets["dec"].named_parameters():
            if name.startswith("base.") or "cond" in name:
                p.zero_()
    grid = traverse(m, torch.zeros(3), [0, 1, 2], np.linspace(-3, 3, 5))
    assert grid.shape == (3, 5, 1, 8, 8) and fm.traversal_change(grid) == 0.0
    samples = m.sample(6, torch.Generator().manual_seed(0))  # samples draw noise of their own
    assert len({tuple(s.flatten().tolist()) for s in samples}) > 1


def test_reconstruction_terms_score_the_image_with_the_decoder_s_own_likelihood():
    torch.manual_seed(0)
    data = load_dataset("digits-binary")
    m = GenerativeModel(tiny_cfg("pixelcnn-vae", data, pixel_reach=3)).eval()
    x = data.get(torch.arange(10))["x"]
    rec, mu, logvar = fm.reconstruction_terms(m, x, seed=0, batch=4)
    g = torch.Generator().manual_seed(0)
    ref = []
    with torch.no_grad():
        for i in range(0, 10, 4):
            v = x[i:i + 4]
            mu_i, lv_i = m.encode(v)
            zz = mu_i + (0.5 * lv_i).exp() * torch.randn(mu_i.shape, generator=g)
            ref.append(obj.reconstruction_nll(m.nets["dec"](zz, v), v))
    torch.testing.assert_close(rec, torch.cat(ref))
    use = fm.code_use(m, x)
    assert use["elbo"] == pytest.approx(-(use["rec"] + use["kl_total"]))
    assert len(use["kl_per_dim"]) == 3 and use["mi_ceiling"] == pytest.approx(math.log(10))


# --------------------------------------------------------------------------- measures


def test_the_mutual_information_is_zero_for_a_code_that_ignores_x_and_grows_with_an_informative_one():
    n = 2000
    assert abs(mutual_information(np.zeros((n, 3)), np.zeros((n, 3)))["mi"]) < 0.05
    x = np.random.default_rng(0).normal(size=(n, 1))
    # z = s·x + N(0, 1) with x ~ N(0, 1): I(x; z) = ½ log(1 + s²)
    estimates = [mutual_information(s * x, np.zeros((n, 1)))["mi"] for s in (0.5, 1.0, 2.0, 4.0)]
    for s, est in zip((0.5, 1.0, 2.0, 4.0), estimates):
        assert est == pytest.approx(0.5 * math.log(1 + s * s), abs=0.03), s
    assert estimates == sorted(estimates)
    # N posteriors that do not overlap at all: log N, the estimator's ceiling
    far = mutual_information(np.arange(n)[:, None] * 10.0, np.full((n, 1), -10.0))
    assert far["mi"] == pytest.approx(math.log(n), abs=1e-2) and far["log_n"] == pytest.approx(math.log(n))


def test_the_bound_split_adds_up():
    rec = np.array([10.0, 12.0])
    mu, logvar = np.array([[0.0, 1.0], [0.0, -1.0]]), np.zeros((2, 2))
    out = bound_split(rec, mu, logvar)
    assert out == {"rec": 11.0, "kl": 0.5, "elbo": -11.5}
    with pytest.raises(ValueError, match="one reconstruction term per encoded point"):
        bound_split(rec[:1], mu, logvar)


# --------------------------------------------------------------------------- the exploding latent space


def test_posterior_statistics_on_a_constructed_case():
    """Four posteriors on the corners of a square of side d, each N(corner, s²·I): mean std s, spread d/2,
    nearest overlap exp(−d²/(8s²)) (a side), mean overlap over pairs (4 sides, 2 diagonals)."""
    d, s = 2.0, 0.5
    mu = np.array([[0, 0], [d, 0], [0, d], [d, d]], dtype=float)
    logvar = np.full((4, 2), math.log(s * s))
    st = fm.posterior_stats(mu, logvar)
    side, diag = math.exp(-d * d / (8 * s * s)), math.exp(-2 * d * d / (8 * s * s))
    assert st["mean_std"] == pytest.approx(s)
    assert st["spread"] == pytest.approx(d / 2)
    assert st["overlap_nearest"] == pytest.approx(side)
    assert st["overlap_mean"] == pytest.approx((4 * side + 2 * diag) / 6)
    same = fm.posterior_stats(np.zeros((3, 2)), np.zeros((3, 2)))  # one posterior for every point: the prior
    assert same["overlap_nearest"] == pytest.approx(1.0) and same["overlap_mean"] == pytest.approx(1.0)
    assert same["spread"] == 0 and same["aggregate_kl_to_prior"] == pytest.approx(0.0, abs=1e-12)
    # different widths: BC of N(0, 1) and N(0, 4) in each of 2 dims is (2·1·2 / (1 + 4))^(1/2) per dim
    two = fm.posterior_stats(np.zeros((2, 2)), np.log(np.array([[1.0, 1.0], [4.0, 4.0]])))
    assert two["overlap_nearest"] == pytest.approx((4 / 5) ** 1.0)


def test_the_ellipse_outlines_are_closed_one_sigma_curves_separated_by_gaps():
    xs, ys = fm.ellipse_outlines(np.array([[1.0, 2.0], [0.0, 0.0]]), np.log(np.array([[4.0, 1.0], [1.0, 9.0]])), points=8)
    assert len(xs) == 2 * 10 and np.isnan(xs[9]) and np.isnan(ys[19])
    assert xs[0] == pytest.approx(3.0) and xs[8] == pytest.approx(3.0) and ys[0] == pytest.approx(2.0)
    assert np.nanmax(ys[10:]) == pytest.approx(3.0)  # σ = 3 along the second axis of the second point


def test_posterior_paths_keep_every_training_point_along_training(monkeypatch):
    run = fm.posterior_paths("elbo", n_train=20, n_test=10, steps=6, every=3, batch_size=8)
    assert run["steps"].tolist() == [0, 3, 6] and run["mu"].shape == (3, 20, 2) and run["logvar"].shape == (3, 20, 2)
    assert set(run["stats"]) == {"mean_std", "spread", "overlap_nearest", "overlap_mean", "aggregate_kl_to_prior"}
    assert all(len(v) == 3 for v in run["stats"].values()) and len(run["elbo_test"]) == 3
    again = fm.posterior_paths("elbo", n_train=20, n_test=10, steps=6, every=3, batch_size=8)
    assert np.array_equal(run["mu"], again["mu"])  # reproducible by seed
    with pytest.raises(ValueError, match="unknown objective"):
        fm.posterior_paths("gan")
    with pytest.raises(ValueError, match="holds 1,797 images"):
        fm.posterior_paths("elbo", n_train=1500, n_test=500)


def test_genlab_eval_s_latent_group_adds_the_mutual_information_and_the_bound(tmp_path):
    from genlab.evaluate import evaluate_checkpoint
    from genlab.train import TrainConfig, fit

    data = load_dataset("digits-binary")
    for name, kw in (("pixelcnn-vae", {"pixel_reach": 2}), ("vae", {})):
        out = tmp_path / name
        fit(tiny_cfg(name, data, **kw), data, TrainConfig(steps=5, batch_size=16, out=str(out)), progress=False)
        res = evaluate_checkpoint(out / "model", metrics=["latent"], fast=True, store=False)
        m, info = res["metrics"], res["info"]["latent"]
        assert m["elbo"] == pytest.approx(-(m["rec_nll"] + m["kl_total"]))
        assert -0.1 < m["mutual_information"] <= info["mi_ceiling"] == pytest.approx(math.log(1000))
        assert "bernoulli likelihood" in info["bound"]
