"""Known answers for genlab.latent (traversals, paths, grids, GIFs, embeddings and their cache)
and the bookkeeping in genlab.compare that the pages rely on."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from genlab import compare, latent
from genlab.checkpoint import CheckpointRow
from genlab.models import GenerativeModel, make_config


@pytest.fixture(scope="module")
def vae():
    torch.manual_seed(0)
    return GenerativeModel(make_config("vae", "digits", (1, 8, 8), latent_dim=3)).eval()


@pytest.fixture(scope="module")
def gan():
    torch.manual_seed(1)
    return GenerativeModel(make_config("gan", "digits", (1, 8, 8), latent_dim=3)).eval()


def _decode(model, z):
    with torch.no_grad():
        return model.decode(torch.as_tensor(np.asarray(z, np.float32))).numpy()


# --------------------------------------------------------------------------- decoding


def test_traverse_equals_decoding_hand_built_codes(vae):
    z0 = np.array([0.3, -1.2, 0.7], np.float32)
    dims, values = [2, 0], np.array([-2.0, 0.0, 1.5], np.float32)
    grid = latent.traverse(vae, z0, dims, values)
    assert grid.shape == (2, 3, 1, 8, 8)
    for i, d in enumerate(dims):
        z = np.repeat(z0[None], len(values), 0)
        z[:, d] = values  # only the swept dimension's column changes
        np.testing.assert_allclose(grid[i], _decode(vae, z), atol=1e-6)
    # a value equal to z0's own coordinate reproduces decode(z0)
    same = latent.traverse(vae, z0, [1], [z0[1]])
    np.testing.assert_allclose(same[0, 0], _decode(vae, z0[None])[0], atol=1e-6)


def test_traverse_rejects_a_dimension_outside_z(vae):
    with pytest.raises(ValueError, match="outside z"):
        latent.traverse(vae, np.zeros(3), [3], [0.0])


def test_interpolate_endpoints_and_midpoint(vae):
    za, zb = np.array([1.0, 0.0, -1.0]), np.array([-2.0, 0.5, 2.0])
    path = latent.interpolate(vae, za, zb, 5)
    assert path.shape == (5, 1, 8, 8)
    np.testing.assert_allclose(path[0], _decode(vae, za[None])[0], atol=1e-6)
    np.testing.assert_allclose(path[-1], _decode(vae, zb[None])[0], atol=1e-6)
    np.testing.assert_allclose(path[2], _decode(vae, ((za + zb) / 2)[None])[0], atol=1e-6)


def test_encode_batch_is_batch_size_independent(vae, gan):
    x = torch.rand(10, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    mu1, lv1 = latent.encode_batch(vae, x, batch_size=3)
    mu2, lv2 = latent.encode_batch(vae, x, batch_size=64)
    assert mu1.shape == lv1.shape == (10, 3) and mu1.dtype == np.float32
    np.testing.assert_allclose(mu1, mu2, atol=1e-6)
    np.testing.assert_allclose(lv1, lv2, atol=1e-6)
    with pytest.raises(ValueError, match="no encoder"):
        latent.encode_batch(gan, x)


def test_prior_overlay_is_seeded(vae):
    a, b = latent.prior_overlay(vae, 6, seed=3), latent.prior_overlay(vae, 6, seed=3)
    assert a.shape == (6, 3)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, latent.prior_overlay(vae, 6, seed=4))


def test_kl_per_point_and_summary(vae):
    mu = np.array([[0.0, 0.0], [1.0, 0.0]])
    logvar = np.zeros_like(mu)
    np.testing.assert_allclose(latent.kl_per_point(mu, logvar), [0.0, 0.5])
    x = (torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    s = latent.latent_summary(vae, x)
    assert s["kl_per_dim"].shape == (3,) and s["active"].dtype == bool
    assert list(s["order"]) == list(np.argsort(-s["kl_per_dim"], kind="stable"))
    assert s["rec_bce"] > 0 and 0 <= s["rec_mse"] <= 1


class _Factors:
    """Ground truth with sizes (3, 6, 10); an "image" is the factor vector itself."""
    name = "toy"
    factor_names = ["shape", "scale", "x"]
    factor_sizes = [3, 6, 10]

    def sample_factors(self, n, rng):
        return np.stack([rng.integers(0, s, n) for s in self.factor_sizes], axis=1)

    def images_from_factors(self, factors):
        return np.asarray(factors, dtype=np.float32)


class _Encoder:
    """z0 = x, z1 = scale, z2 = noise: the mean of a perfectly disentangled encoder without shape."""
    has_encoder, nets, device = True, {}, torch.device("cpu")

    def encode(self, v):
        noise = torch.randn(len(v), 1, generator=torch.Generator().manual_seed(len(v)))
        return torch.cat([v[:, 2:3] * 0.7, v[:, 1:2] - 3, noise], 1), torch.zeros(len(v), 3)


def test_factor_information_finds_the_latent_of_each_factor():
    info = latent.factor_information(_Encoder(), _Factors(), n=3000, seed=0)
    assert info["share"].shape == (3, 3) and info["factor_names"] == ["shape", "scale", "x"]
    assert info["labels"] == ["z0", "z1", "z2"]
    # a factor of ≤ 20 values survives the 20 equal-width bins intact: its latent holds all of its entropy
    assert info["best"].tolist()[1:] == [1, 0]
    np.testing.assert_allclose([info["share"][1, 1], info["share"][0, 2]], 1.0, atol=1e-9)
    # no latent holds the shape, and the noise dimension holds next to nothing of anything
    assert info["share"][:, 0].max() < 0.02 and info["share"][2].max() < 0.02
    np.testing.assert_allclose(info["mig_per_factor"], info["share"][info["best"], range(3)]
                               - info["share"][info["second"], range(3)])
    assert info["mig"] == pytest.approx(info["mig_per_factor"].mean()) and 0.6 < info["mig"] < 0.67


def test_factor_information_reads_infogan_codes_from_its_q_head():
    from genlab.data import load_dataset

    torch.manual_seed(0)
    info_gan = GenerativeModel(make_config("infogan", "dsprites", (1, 64, 64), latent_dim=2,
                                           n_categorical=3, n_continuous=2)).eval()
    info = latent.factor_information(info_gan, load_dataset("dsprites"), n=200)
    assert info["labels"] == ["cat 0", "cat 1", "cat 2", "c0", "c1"] and info["share"].shape == (5, 5)


def test_factor_information_names_what_is_missing(vae, gan):
    with pytest.raises(ValueError, match="no ground-truth factors"):
        latent.factor_information(vae, object())
    assert latent.gives_codes(vae) and not latent.gives_codes(gan)
    with pytest.raises(ValueError, match="no encoder"):
        latent.factor_information(gan, _Factors())


# --------------------------------------------------------------------------- pictures


def test_image_grid_shape_and_padding():
    imgs = np.zeros((2, 3, 1, 4, 4), np.float32)
    g = latent.image_grid(imgs, pad=1, upscale=2, pad_value=1.0)
    assert g.shape == (2 * 8 + 3, 3 * 8 + 4, 3) and g.dtype == np.uint8
    assert (g[0] == 255).all() and (g[1:9, 1:9] == 0).all()
    flat = latent.image_grid(np.zeros((5, 3, 4, 4)), pad=0, upscale=1, ncols=2)  # 3 rows × 2 columns
    assert flat.shape == (12, 8, 3)


def test_image_grid_nearest_upscaling_is_exact():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (1, 1, 5, 7)).astype(np.float32) / 255.0
    g = latent.image_grid(img, pad=0, upscale=3)
    expected = np.kron(np.round(img[0, 0] * 255), np.ones((3, 3))).astype(np.uint8)
    for c in range(3):
        np.testing.assert_array_equal(g[..., c], expected)
    # small images are enlarged automatically to at least 64 px
    assert latent.image_grid(np.zeros((1, 1, 8, 8)), pad=0).shape == (64, 64, 3)
    assert latent.zoom_crop(img[0], 1, 2, 3, px=90).shape == (90, 90, 3)


def test_png_round_trip():
    img = np.linspace(0, 1, 2 * 3 * 4 * 4).reshape(2, 3, 4, 4)
    data = latent.grid_png_bytes(img, pad=0, upscale=1)
    back = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    np.testing.assert_array_equal(back, latent.image_grid(img, pad=0, upscale=1))


def test_gif_has_one_frame_per_value(vae):
    frames = np.stack([np.full((3, 1, 4, 4), f / 4, np.float32) for f in range(5)])  # 5 frames × 3 images
    gif = Image.open(io.BytesIO(latent.grid_gif_bytes(frames, duration_ms=80, upscale=2)))
    assert gif.n_frames == 5
    assert gif.size == (3 * 8 + 4 * 2, 8 + 2 * 2)
    trav = latent.traverse(vae, np.zeros(3), [0, 1, 2], np.linspace(-3, 3, 4))
    gif2 = Image.open(io.BytesIO(latent.grid_gif_bytes(trav.swapaxes(0, 1))))
    assert 1 <= gif2.n_frames <= 4


# --------------------------------------------------------------------------- embeddings


def test_pca_of_a_rank_two_set_keeps_all_its_structure():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(200, 2)), rng.normal(size=(2, 6))
    codes = a @ b + 3.0
    emb = latent.embed_codes(codes, "pca")
    assert emb.shape == (200, 2) and emb.dtype == np.float32
    design = np.column_stack([emb, np.ones(len(emb))])
    coef, *_ = np.linalg.lstsq(design, codes, rcond=None)
    np.testing.assert_allclose(design @ coef, codes, atol=1e-4)  # the 2-D map loses nothing
    # extra points go through the fitted map: the codes themselves land where they did
    with_extra = latent.embed_codes(codes, "pca", extra=codes[:5])
    np.testing.assert_allclose(with_extra[200:], emb[:5], atol=1e-5)


def test_tsne_places_extra_points(tmp_path):
    rng = np.random.default_rng(0)
    codes = rng.normal(size=(40, 3))
    emb = latent.embed_codes(codes, "tsne", extra=rng.normal(size=(10, 3)))
    assert emb.shape == (50, 2) and np.isfinite(emb).all()


def test_embedding_cache_hit_skips_the_fit(tmp_path, monkeypatch):
    calls = []
    real_fit = latent._fit_embedding

    def spy(*args, **kw):
        calls.append(args[2])
        return real_fit(*args, **kw)

    monkeypatch.setattr(latent, "_fit_embedding", spy)
    codes = np.random.default_rng(1).normal(size=(50, 4))
    first = latent.embed_codes(codes, "pca", seed=0, cache_dir=tmp_path, key="runs/vae/model")
    assert calls == ["pca"] and len(list(tmp_path.glob("*.npy"))) == 1
    path = next(tmp_path.glob("*.npy"))
    assert latent.is_embedding_cached(codes, "pca", 0, tmp_path, "runs/vae/model")
    second = latent.embed_codes(codes, "pca", seed=0, cache_dir=tmp_path, key="runs/vae/model")
    assert calls == ["pca"]  # no second fit
    np.testing.assert_array_equal(first, second)
    latent.embed_codes(codes, "pca", seed=1, cache_dir=tmp_path, key="runs/vae/model")
    latent.embed_codes(codes + 1e-3, "pca", seed=0, cache_dir=tmp_path, key="runs/vae/model")
    assert calls == ["pca", "pca", "pca"]  # other settings or other codes: new entries
    # a damaged file is recomputed, not trusted
    path.write_bytes(b"garbage")
    again = latent.embed_codes(codes, "pca", seed=0, cache_dir=tmp_path, key="runs/vae/model")
    assert len(calls) == 4
    np.testing.assert_array_equal(again, first)
    assert not list(tmp_path.glob("*.tmp"))


def test_unknown_embedding_is_a_clear_error():
    with pytest.raises(ValueError, match="choose one of"):
        latent.embed_codes(np.zeros((5, 2)), "isomap")


# --------------------------------------------------------------------------- compare bookkeeping


def _row(path, model, beta=1.0, data="dsprites", d=4, steps=10, metrics=None, **meta):
    return CheckpointRow(path=path, model=model, data=data, latent_dim=d, steps=steps, name=path, metrics=metrics or {},
                         meta={"config": {"model": model, "beta": beta, "shape": [1, 64, 64], "latent_dim": d}, **meta})


def test_traversal_groups_make_beta_sweeps():
    rows = [_row("a", "vae", 1.0), _row("b", "beta-vae", 4.0), _row("c", "beta-vae", 4.0, steps=99),
            _row("d", "beta-vae", 8.0, d=6), _row("e", "aae"), CheckpointRow(path="bad", error="x")]
    groups = compare.traversal_groups(rows)
    first = groups[0]
    assert first["sweep"] and [m["beta"] for m in first["members"]] == [1.0, 4.0]
    assert first["members"][1]["row"].path == "c"  # the longest run at a repeated β
    assert [g["sweep"] for g in groups] == [True, True, False]


def test_scalar_scores_reads_stored_metrics():
    m = {"mig": {"score": 0.2, "per_factor": [0.1]}, "dci": {"disentanglement": 0.5, "completeness": 0.4},
         "factor_vae": 0.7, "seconds": 3.0, "sklearn_version": "1.5"}
    s = compare.scalar_scores(m)
    assert s == {"mig": 0.2, "dci_disentanglement": 0.5, "dci_completeness": 0.4, "factor_vae": 0.7}
    assert compare.scalar_scores({"disentanglement": {"sap": {"score": 0.1}}}) == {"sap": 0.1}
    table = compare.sweep_scores([{"beta": 4.0, "row": _row("x", "beta-vae", metrics=m)}])
    assert table[0]["mig"] == 0.2 and table[0]["beta"] == 4.0


def test_default_lineup_lets_every_family_in_and_puts_the_longest_trained_first():
    def row(name, model, steps):
        return CheckpointRow(path=name, model=model, steps=steps, data="dsprites")

    rows = [row("a", "annealed-vae", 800), row("b4", "beta-vae", 50000), row("b1", "beta-vae", 1500),
            row("i", "info-vae", 800), row("v", "vae", 100), row("aae", "aae", 600), row("vg", "vae-gan", 600),
            row("ig", "infogan", 5000), row("w", "wgan-gp", 300)]
    got = [r.path for r in compare.default_lineup(rows, limit=4)]
    # the families take turns (VAE, hybrid, GAN, VAE), each offering its longest-trained kind;
    # one checkpoint per kind (β-VAE at 50,000 steps, not 1,500); shown by family, longest first
    assert got == ["b4", "a", "aae", "ig"]
    assert [r.path for r in compare.default_lineup(rows, limit=20)] == ["b4", "a", "i", "v", "aae", "vg", "ig", "w"]


def _trial(path, beta, seed, mig, study="beta-sweep", per_factor=None, steps=30000):
    return _row(path, "beta-vae", beta, d=10, steps=steps, metrics={"mig": mig} if mig is not None else {}, seed=seed,
                recipe={"study": study} if study else None,
                metrics_info={"disentanglement": {"mig_per_factor": per_factor}} if per_factor else {})


def test_a_study_is_its_own_sweep_with_every_seed_and_the_median_mig_seed_by_default():
    rows = [_trial("b1s0", 1.0, 0, 0.02), _trial("b1s1", 1.0, 1, 0.05), _trial("b1s2", 1.0, 2, 0.03),
            _trial("b16s0", 16.0, 0, 0.30), _trial("b16s1", 16.0, 1, 0.10), _trial("b16s2", 16.0, 2, None),
            _trial("old-b4", 4.0, 0, 0.06, study=None)]
    groups = compare.traversal_groups(rows)
    study, old = groups[0], groups[1]
    assert study["id"] == "study:beta-sweep:dsprites:z10" and "3 seeds" in study["label"]
    assert [m["beta"] for m in study["members"]] == [1.0, 16.0]
    assert [s["seed"] for s in study["members"][0]["seeds"]] == [0, 1, 2]
    assert study["members"][0]["row"].path == "b1s2"  # MIGs 0.02, 0.03, 0.05: the median is seed 2
    assert study["members"][1]["row"].path == "b16s1"  # two scored (0.10, 0.30): the lower middle; unscored last
    assert [m["beta"] for m in old["members"]] == [4.0]  # the single run stays out of the study's sweep
    g, m, s = compare.find_in_groups(groups, "b16s0")
    assert g is study and m["beta"] == 16.0 and s["seed"] == 0
    assert compare.find_in_groups(groups, "../elsewhere") is None


def test_positions_separated_and_the_spread_over_seeds():
    names = ["shape", "scale", "orientation", "posX", "posY"]
    assert compare.positions_separated([0.0, 0.1, 0.0, 0.35, 0.41], names) is True
    assert compare.positions_separated([0.0, 0.1, 0.0, 0.35, 0.05], names) is False  # y split over two latents
    assert compare.positions_separated(None, names) is None
    rows = [_trial("a", 16.0, 0, 0.3, per_factor=[0, 0, 0, 0.4, 0.5]), _trial("b", 16.0, 1, 0.1, per_factor=[0, 0, 0, 0.4, 0.1]),
            _trial("c", 1.0, 0, 0.02, per_factor=[0, 0, 0, 0.01, 0.02]), _trial("d", 1.0, 1, 0.04)]
    spread = {s["beta"]: s for s in compare.seed_spread(compare.traversal_groups(rows)[0]["members"], names)}
    assert spread[16.0] == {"beta": 16.0, "seeds": 2, "scored": 2, "median_mig": pytest.approx(0.2), "separated": 1, "known": 2}
    assert spread[1.0]["separated"] == 0 and spread[1.0]["known"] == 1
    table = compare.sweep_scores(compare.traversal_groups(rows)[0]["members"])
    assert sorted((t["beta"], t["seed"]) for t in table) == [(1.0, 0), (1.0, 1), (16.0, 0), (16.0, 1)]
    assert compare.score_medians(table, "mig") == [(1.0, pytest.approx(0.03)), (16.0, pytest.approx(0.2))]


def test_the_sweep_says_how_long_its_seeds_trained_and_what_that_gives():
    names = ["shape", "scale", "orientation", "posX", "posY"]
    rows = [_trial("a", 16.0, 0, 0.12), _trial("b", 16.0, 1, 0.16, steps=60000), _trial("e", 16.0, 2, 0.02),
            _trial("c", 1.0, 0, 0.02), _trial("d", 1.0, 1, 0.04)]
    members = compare.traversal_groups(rows)[0]["members"]
    note = compare.sweep_length_note(compare.seed_spread(members, names), compare.sweep_scores(members))
    assert "30,000–60,000 steps, against the 300,000" in note
    assert "0.03 at β = 1 (2 seeds)" in note and "0.12 at β = 16 (3 seeds), 4.0× β = 1's" in note
    one = [_trial("c", 1.0, 0, 0.02)]
    members = compare.traversal_groups(one)[0]["members"]
    assert compare.sweep_length_note(compare.seed_spread(members, names), compare.sweep_scores(members)) is None


def test_latent_pairs_match_plain_codes_of_one_size_and_leave_out_conditional_generators():
    """"One latent code, two decoders" pairs a VAE with a GAN that reads z alone: not InfoGAN (codes) and
    not a text-to-image GAN, whose generator reads z with the caption's embedding."""
    from genlab import compare
    from genlab.checkpoint import CheckpointRow

    def row(name, model, **cfg):
        config = {"shape": [1, 64, 64], "latent_dim": 10, **cfg}
        return CheckpointRow(path=f"ck/{name}/model", model=model, data="dsprites", name=name, meta={"config": config})

    vae, gan = row("vae", "beta-vae"), row("gan", "gan")
    t2i = row("t2i", "text2image-gan", text_dim=16)
    info = row("info", "infogan", latent_dim=5, n_categorical=3, n_continuous=2)
    assert compare.z_size(t2i) == 26 and compare.z_size(info) == 10 and compare.z_size(gan) == 10
    assert [(d.name, g.name) for d, g in compare.latent_pairs([vae, gan, t2i, info])] == [("vae", "gan")]
