"""genlab.metrics.nearest_real: each sample's nearest real sprite among all 737,280, by IoU.

Known answers: real images are their own nearest sprite (IoU 1), a sprite rendered at known
factors is found at exactly those factors, removing k of its pixels gives IoU (|B| − k) / |B|,
a sprite drawn at grey level 0.6 has soft IoU 0.6; random real images cover every factor nearly
uniformly, a generator of one fixed sprite gives one class per factor (KL = log K). The exhaustive
search is checked against a brute-force IoU over every image of a smaller index.

The full index is read from the genlab cache (.cache/genlab/nearest-real), or rendered once
(about 40 s on one core) and written there.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from genlab import dsprites
from genlab.metrics import nearest_real as nr


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def index():
    return nr.sprite_index()


def render(rows) -> np.ndarray:
    """(N, 1, 64, 64) float32 sprites at factor classes (shape, scale, orientation, posX, posY)."""
    return dsprites.render(np.asarray(rows)).astype(np.float32)[:, None]


def test_the_full_index_holds_every_image_once(index):
    assert index.complete and index.n_images == dsprites.N_IMAGES
    assert index.packed.shape == (1024, 720, 128) and index.nbytes < 110e6
    # the windows hold every pixel of every sprite, so the counts are the images' own
    rows = np.random.default_rng(3).integers(dsprites.N_IMAGES, size=64)
    g, m = rows % 1024, rows // 1024
    assert np.array_equal(index.sizes[g, m], dsprites.render_index(rows).reshape(64, -1).sum(1))


def test_a_cached_index_is_used_only_when_whole_and_matching_fresh_renders(index, tmp_path):
    path = tmp_path / "index.npz"
    np.savez(path, packed=index.packed, sizes=index.sizes, members=index.members)
    assert np.array_equal(nr._load(path).packed, index.packed)
    np.savez(path, packed=index.packed[:, :10], sizes=index.sizes[:, :10], members=index.members[:10])
    assert nr._load(path) is None  # a partial index
    np.savez(path, packed=index.packed ^ 1, sizes=index.sizes, members=index.members)
    assert nr._load(path) is None  # stale: the spot check renders sprites afresh
    path.write_bytes(b"not an npz")
    assert nr._load(path) is None


def test_real_images_score_one_and_their_neighbour_is_the_same_picture(index):
    idx = np.random.default_rng(0).integers(dsprites.N_IMAGES, size=200)
    real = dsprites.render_index(idx).astype(np.float32)
    res = nr.nearest_real(real, index=index)
    s = res.summary()
    assert s["mean_iou"] == 1.0 and s["share_good"] == 1.0 and s["blank_share"] == 0.0
    assert s["candidates"] == dsprites.N_IMAGES
    # the neighbour is the image itself or an identical one (orientation 0 and 2π draw the same sprite)
    assert np.array_equal(res.neighbours()[:, 0], real)
    assert (res.ties >= 1).all() and (res.ties[res.index != idx] > 1).all()


@pytest.mark.parametrize("factors", [(2, 5, 13, 7, 20), (1, 3, 25, 30, 2), (0, 4, 7, 0, 31), (2, 0, 31, 16, 16)])
def test_a_sprite_rendered_at_known_factors_is_found_at_those_factors(index, factors):
    res = nr.nearest_real(render([factors]), index=index)
    assert res.factors[0].tolist() == list(factors) and res.ties[0] == 1 and res.iou[0] == 1.0


def test_render_values_draws_the_grid_s_sprites_exactly_and_others_between_them():
    c = np.random.default_rng(3).integers(0, [1, 3, 6, 40, 32, 32], size=(500, 6))
    on_grid = dsprites.render_values(c[:, 1], dsprites.SCALE_VALUES[c[:, 2]], dsprites.ORIENTATION_VALUES[c[:, 3]],
                                     dsprites.POSITION_VALUES[c[:, 4]], dsprites.POSITION_VALUES[c[:, 5]])
    assert np.array_equal(on_grid, dsprites.render(c))
    # 1/32 of the position range is one pixel (the grid's own step is 32/31 px): the same square, moved
    a = dsprites.render_values(0, 1.0, 0.0, 0.5, 0.5)[0]
    b = dsprites.render_values(0, 1.0, 0.0, 0.5 + 1 / 32, 0.5)[0]
    assert a.sum() == b.sum() and np.array_equal(np.roll(a, 1, axis=1), b)
    with pytest.raises(ValueError, match="is 0 \\(square\\), 1 \\(ellipse\\) or 2 \\(heart\\)"):
        dsprites.render_values(3, 1.0, 0.0, 0.5, 0.5)


def test_perfect_sprites_at_continuous_factors_come_close_to_real_ones_but_not_all_the_way(index):
    """The reference for a generator's best IoU: exact shapes drawn between the grid's points."""
    x = nr.continuous_sprites(150, seed=0)
    s = nr.nearest_real(x, index=index).summary()
    assert 0.85 < s["mean_iou"] < 0.95 and s["share_good"] > 0.95 and s["blank_share"] == 0.0


def test_removing_pixels_lowers_the_iou_to_the_known_fraction(index):
    x = render([(2, 5, 13, 7, 20)])
    size = int(x.sum())
    for r, c in np.argwhere(x[0, 0] > 0)[:3]:
        x[0, 0, r, c] = 0.0
    res = nr.nearest_real(x, index=index)
    assert res.factors[0].tolist() == [2, 5, 13, 7, 20]
    assert res.iou[0] == pytest.approx((size - 3) / size, abs=1e-12)


def test_soft_iou_reads_grey_levels_and_thresholding_ignores_them(index):
    sprite = render([(1, 3, 25, 30, 2)])
    grey = 0.6 * sprite  # the right shape, drawn at 0.6: thresholded it is the sprite
    hard, soft = nr.nearest_real(grey, index=index), nr.nearest_real(grey, soft=True, index=index)
    assert hard.iou[0] == 1.0
    assert soft.iou[0] == pytest.approx(0.6, abs=1e-7) and soft.factors[0].tolist() == [1, 3, 25, 30, 2]
    # a haze over the background lowers only the soft IoU (weighted Jaccard: Σ min / Σ max)
    hazy = grey + 0.05 * (1 - sprite)
    b = float(sprite.sum())
    soft_hazy = nr.nearest_real(hazy, soft=True, index=index)
    assert nr.nearest_real(hazy, index=index).iou[0] == 1.0
    assert soft_hazy.iou[0] >= 0.6 * b / (b + 0.05 * (4096 - b)) - 1e-9  # at least the true sprite's value
    assert soft_hazy.iou[0] < 0.6


def test_random_real_images_cover_every_factor_nearly_uniformly(index):
    idx = np.random.default_rng(1).integers(dsprites.N_IMAGES, size=600)
    s = nr.nearest_real(dsprites.render_index(idx).astype(np.float32), index=index, seed=1).summary()
    floor = nr.uniform_kl_floor(600)
    assert s["kl"]["shape"] < 0.02 and s["kl"]["scale"] < 0.03
    for name in nr.FACTORS:  # what 600 uniform draws score by chance, within a factor of three
        assert s["kl"][name] < 3 * floor[name], (name, s["kl"][name], floor[name])
    assert sum(s["histograms"]["shape"]) == 600


def test_a_generator_of_one_fixed_sprite_gives_one_class_per_factor(index):
    x = np.repeat(render([(2, 4, 9, 12, 21)]), 300, axis=0)
    x += 0.2 * np.random.default_rng(2).random(x.shape, dtype=np.float32)  # grey noise below the threshold
    s = nr.nearest_real(x, index=index).summary()
    assert s["mean_iou"] == 1.0
    assert s["histograms"]["shape"] == [0, 0, 300]
    for name, k in zip(nr.FACTORS, nr.FACTOR_SIZES):
        assert s["kl"][name] == pytest.approx(math.log(k)), name


def test_blank_samples_have_no_neighbour_and_stay_out_of_the_histograms(index):
    x = np.concatenate([np.zeros((2, 1, 64, 64), np.float32), render([(0, 5, 3, 10, 10)])])
    res = nr.nearest_real(x, index=index)
    assert res.blank.tolist() == [True, True, False] and res.index[:2].tolist() == [-1, -1]
    assert res.iou.tolist() == [0.0, 0.0, 1.0]
    s = res.summary()
    assert s["blank_share"] == pytest.approx(2 / 3) and s["mean_iou"] == pytest.approx(1 / 3)
    assert sum(s["histograms"]["shape"]) == 1
    assert nr.nearest_real(x[:2], index=index).summary()["kl"]["shape"] is None


def test_the_windowed_search_equals_brute_force_over_every_image_of_an_index():
    members = np.array([0, 39, 100, 245, 481, 500, 719])  # includes orientation 0 and 2π (members 0 and 39)
    small = nr.build_index(members)
    ids = (members[:, None] * 1024 + np.arange(1024)[None]).ravel()
    imgs = dsprites.render_index(ids).reshape(len(ids), -1).astype(np.float64)
    rng = np.random.default_rng(4)
    x = imgs[rng.integers(len(ids), size=30)] + rng.normal(0, 0.35, (30, 4096))
    x = np.clip(x, 0, 1).reshape(30, 64, 64)
    x[0] = 0.0  # blank
    for soft in (False, True):
        res = nr.nearest_real(x, soft=soft, index=small)
        a = x.reshape(30, -1) if soft else (x.reshape(30, -1) > 0.5).astype(np.float64)
        inter = a @ imgs.T
        iou = inter / (a.sum(1)[:, None] + imgs.sum(1)[None] - inter)
        live = ~res.blank
        assert res.iou[live] == pytest.approx(iou.max(1)[live], abs=1e-9)
        col = np.searchsorted(ids, res.index[live])
        assert np.array_equal(ids[col], res.index[live])  # a real image of the index
        assert iou[np.nonzero(live)[0], col] == pytest.approx(iou.max(1)[live], abs=1e-9)  # one of the best
        if not soft:
            assert np.array_equal(res.ties[live], (iou == iou.max(1)[:, None]).sum(1)[live])
    # both searches in one scan give what the two give apart
    for together, apart in zip(nr.nearest_real_both(x, index=small), (nr.nearest_real(x, index=small),
                                                                      nr.nearest_real(x, soft=True, index=small))):
        assert np.array_equal(together.iou, apart.iou) and np.array_equal(together.index, apart.index)


def test_both_product_kernels_give_the_same_exact_sums_and_the_search_uses_either(monkeypatch):
    g = torch.Generator().manual_seed(0)
    a = torch.randint(-127, 128, (40, 1024), dtype=torch.int8, generator=g)
    b = torch.randint(0, 2, (1024, 300), dtype=torch.int8, generator=g)
    exact = a.long() @ b.long()
    assert nr._int_kernel() in ("int8", "float32")
    results = {}
    for kernel in ("int8", "float32"):
        monkeypatch.setattr(nr, "_KERNEL", kernel)
        try:
            results[kernel] = nr._int_matmul(a, b)
        except (RuntimeError, NotImplementedError):  # a torch without the int8 CPU kernel
            continue
        assert results[kernel].dtype == torch.int32 and torch.equal(results[kernel].long(), exact)
    assert "float32" in results


def test_ties_are_drawn_uniformly_so_duplicates_share_the_histogram(index):
    # orientation 0 and 2π (classes 0 and 39) draw the same heart: each is picked about half the time
    x = np.repeat(render([(2, 5, 0, 16, 16)]), 400, axis=0)
    res = nr.nearest_real(x, index=index, seed=5)
    assert (res.ties == 2).all()
    picked = res.histograms()["orientation"]
    assert picked[0] + picked[39] == 400 and 140 < picked[0] < 260


def test_known_kl_and_its_floor():
    assert nr.kl_to_uniform([5, 5, 5]) == 0.0
    assert nr.kl_to_uniform([0, 7, 0, 0]) == pytest.approx(math.log(4))
    assert nr.kl_to_uniform([1, 1, 0, 0]) == pytest.approx(math.log(2))
    floor = nr.uniform_kl_floor(1000)
    for name, k in zip(nr.FACTORS, nr.FACTOR_SIZES):
        assert floor[name] == pytest.approx((k - 1) / 2000, rel=0.25), name


def test_bad_input_is_refused_in_one_sentence(index):
    with pytest.raises(ValueError, match=r"dSprites-shaped samples .* got \(4, 3, 64, 64\)"):
        nr.nearest_real(np.zeros((4, 3, 64, 64)), index=index)
    with pytest.raises(ValueError, match="threshold must lie strictly between 0 and 1"):
        nr.nearest_real(np.zeros((1, 64, 64)), threshold=1.0, index=index)
    with pytest.raises(ValueError, match="non-empty histogram"):
        nr.kl_to_uniform([])
    with pytest.raises(ValueError, match="members must be"):
        nr.build_index([720])


def test_applies_to_dsprites_only():
    from genlab.data import load_dataset

    assert nr.applies_to(load_dataset("dsprites"))
    assert not nr.applies_to(load_dataset("digits")) and not nr.applies_to(load_dataset("ring"))


def test_genlab_eval_stores_the_figures_and_the_results_table_shows_them(tmp_path, capsys, index):
    from conftest import tiny_cfg

    from genlab.checkpoint import read_metadata
    from genlab.cli import main
    from genlab.data import load_dataset
    from genlab.train import TrainConfig, fit

    data = load_dataset("dsprites")
    out = tmp_path / "ckpts" / "tiny-gan"
    fit(tiny_cfg("gan", data), data, TrainConfig(steps=3, batch_size=16, out=str(out)), progress=False)
    assert main(["eval", str(out / "model"), "--metrics", "nearest_real", "--fast", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    m, info = res["metrics"], res["info"]["nearest_real"]
    assert set(res["info"]) == {"nearest_real", "settings"}
    assert 0 <= m["nearest_real_iou"] <= 1 and 0 <= m["nearest_real_soft_iou"] <= 1
    assert info["n"] == 300 and info["candidates"] == dsprites.N_IMAGES
    have = round(300 * (1 - m["nearest_real_blank"]))
    assert all(sum(h) == have for h in info["histograms"].values())
    if have:
        assert m["nearest_real_kl_shape"] == pytest.approx(nr.kl_to_uniform(info["histograms"]["shape"]))
    assert read_metadata(out / "model")["metrics"]["nearest_real_iou"] == m["nearest_real_iou"]

    assert main(["results", "--nearest-real", str(tmp_path / "ckpts")]) == 0
    table = capsys.readouterr().out
    assert "| tiny-gan | gan | 300 |" in table and f"{m['nearest_real_iou']:.3f}" in table


# --------------------------------------------------------------------------- the page


def test_the_blur_page_shows_each_sample_beside_its_nearest_sprite_and_the_factor_histograms(
        index, tmp_path_factory, monkeypatch):
    import streamlit as st
    from conftest import run_page
    from test_pages import ROOT, charts, make_tiny_lab, rerun, values

    def open_page(name, query):  # the first run measures two checkpoints on 300 samples each: more than
        return run_page(ROOT / "pages" / name, query, 300)  # test_pages' 120 s on a busy 2-core machine

    from genlab.evaluate import evaluate_checkpoint

    root = tmp_path_factory.mktemp("nearest-lab")
    make_tiny_lab(root / "checkpoints", names=("bvae-b1", "gan-dsprites", "gan-digits"))
    monkeypatch.setenv("GENLAB_CHECKPOINTS", str(root / "checkpoints"))
    monkeypatch.setenv("GENLAB_RUNS", str(root / "runs"))
    monkeypatch.setenv("GENLAB_CACHE", str(root / "cache"))  # the index itself stays in this process
    st.cache_data.clear()
    st.cache_resource.clear()

    at = open_page("2_Blur_vs_sharpness.py", {"n": "100", "data": "dsprites", "section": "Nearest real sprite"})
    assert "Nearest real sprite" in [t.label for t in at.tabs]
    captions = [c for im in at.image for c in im.captions if c.startswith("IoU ")]
    assert len(captions) == 16  # the first 8 samples of each checkpoint
    for c in captions:  # "IoU 0.42 · grey 0.31"
        iou, grey = float(c.split()[1]), float(c.split()[-1])
        assert 0 <= iou <= 1 and 0 <= grey <= 1
    table = at.dataframe[-1].value
    assert sorted(table["checkpoint"]) == ["beta-vae: bvae-b1", "gan: gan-dsprites"]
    assert set(table["figures"]) == {"measured now"} and set(table["samples"]) == {nr.LIVE_N}
    fig = charts(at)["Factors of the nearest real sprites (share of samples; dashed: the data)"]
    assert len(fig) == 10  # five factors × two checkpoints, side by side
    assert {t["name"] for t in fig} == {"beta-vae: bvae-b1", "gan: gan-dsprites"}
    for t in fig:
        total = float(values(t["y"]).sum())
        assert total == pytest.approx(1.0) or total == 0.0  # shares of the samples that have a sprite
    shapes = [t for t in fig if list(t["x"]) == ["square", "ellipse", "heart"]]
    assert len(shapes) == 2

    # stored figures are read, not measured again
    stem = root / "checkpoints" / "bvae-b1" / "model"
    stored = evaluate_checkpoint(stem, metrics=["nearest_real"], fast=True, device="cpu")["metrics"]
    st.cache_data.clear()
    at = open_page("2_Blur_vs_sharpness.py", {"n": "100", "data": "dsprites", "section": "Nearest real sprite"})
    table = at.dataframe[-1].value.set_index("checkpoint")
    assert table.loc["beta-vae: bvae-b1", "figures"] == "stored by genlab eval"
    assert table.loc["beta-vae: bvae-b1", "KL shape"] == pytest.approx(stored["nearest_real_kl_shape"])
    assert table.loc["gan: gan-dsprites", "figures"] == "measured now"

    # digits are not dSprites: no nearest-real tab, and a link that asks for it opens the first tab
    at.selectbox(key="data").set_value("digits")
    rerun(at)
    assert "Nearest real sprite" not in [t.label for t in at.tabs]
    assert not [c for im in at.image for c in im.captions if c.startswith("IoU ")]
    assert "real data" in [c for im in at.image for c in im.captions]
