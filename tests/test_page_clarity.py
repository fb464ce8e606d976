"""What a newcomer reads on the pages (issue 29): each test pins one thing that confused a first reader.

Latent traversal says why small shapes come back round, labels each β with its training length when
the lengths differ, puts the shown β's label beside its line, and keeps the Dimensions chips in the
grid's order after a β change; Code space names A and B the same way in the map, the legend and the
captions, and opens a stored UMAP map without computing one; the Mode-collapse charts start their
step axis at 0 and keep the published labels off the panel titles, and its trained view writes a
missing reverse KL in words; Home shows its tables whole. Runs against the tiny lab of test_pages.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from test_pages import by_caption, charts, fresh_caches, lab, only, open_page, open_tab, rerun, texts, values  # noqa: F401


def layouts(at) -> dict:
    """{chart title: plotly layout} for every chart on the page."""
    out = {}
    for el in at.get("plotly_chart"):
        lay = json.loads(el.proto.spec)["layout"]
        title = lay.get("title", {})
        out[title.get("text") if isinstance(title, dict) else title] = lay
    return out


# --------------------------------------------------------------------------- Latent traversal


def test_traversal_says_why_small_shapes_come_back_round_on_dsprites_only(lab):
    at = open_page("1_Latent_traversal.py")
    assert "Why a small square can come back as a round blob" in texts(at.caption)
    at = open_page("1_Latent_traversal.py", {"group": "beta-vae:digits:z3"})  # the digits VAE
    assert "Ignored" not in texts(at.caption) and "round blob" not in texts(at.caption)


def test_traversal_labels_the_shown_beta_beside_its_line_on_the_log_axis(lab):
    at = open_page("1_Latent_traversal.py", {"section": "Across β"})
    for beta in (1.0, 4.0):
        at.select_slider(key="beta").set_value(beta)
        rerun(at)
        lay = layouts(at)["Reconstruction error vs β"]
        assert lay["xaxis"]["type"] == "log"
        line, = [s for s in lay["shapes"] if s.get("type") == "line"]
        label, = [a for a in lay["annotations"] if "shown above" in a["text"]]
        assert line["x0"] == beta  # a shape sits at β itself …
        assert label["x"] == pytest.approx(math.log10(beta))  # … an annotation on a log axis at log10(β)
        assert label["text"] == f"β = {beta:g} (shown above)"


def test_traversal_says_when_the_betas_trained_for_different_lengths(lab, tmp_path, monkeypatch):
    at = open_page("1_Latent_traversal.py", {"section": "Across β"})  # the lab's βs all trained 20 steps: no labels, no sentence
    rec = charts(at)["Reconstruction error vs β"][0]
    assert "text" not in rec and "Not every β" not in texts(at.caption) and "different number" not in texts(at.caption)

    from genlab.checkpoint import update_metadata

    folder = only(tmp_path / "ckpts", lab / "checkpoints", "bvae-b1", "bvae-b4")
    update_metadata(folder / "bvae-b4" / "model", steps=50_000)
    monkeypatch.setenv("GENLAB_CHECKPOINTS", str(folder))
    at = open_page("1_Latent_traversal.py", {"section": "Across β"})
    rec = charts(at)["Reconstruction error vs β"][0]
    assert list(rec["text"]) == ["20 steps", "50k steps"]
    active = next(v for k, v in charts(at).items() if k.startswith("Active dimensions"))[0]
    assert list(active["text"]) == ["20 steps", "50k steps"]
    assert "Every β trained for a different number of steps" in texts(at.caption)


def test_traversal_dimension_chips_follow_the_grid_order_after_a_beta_change(lab):
    def kl_order(at, beta):
        kl = values(charts(at)[f"KL per dimension (β = {beta:g})"][0]["y"]).astype(float)
        return [f"z{d}" for d in np.argsort(-kl, kind="stable")]

    at = open_page("1_Latent_traversal.py")
    assert at.multiselect(key="dims").value == kl_order(at, 1)
    # picked out of order, with one dimension left out: shown in the grid's order, the one left out stays out
    picked = list(reversed(kl_order(at, 1)))[:2]
    at.multiselect(key="dims").set_value(picked)
    rerun(at)
    assert at.multiselect(key="dims").value == [d for d in kl_order(at, 1) if d in picked]
    at.select_slider(key="beta").set_value(4.0)
    rerun(at)
    assert at.multiselect(key="dims").value == [d for d in kl_order(at, 4) if d in picked]
    ticks = layouts(at)["Traversal grid"]["yaxis"]["ticktext"]
    assert [t.split(" ")[0] for t in ticks] == at.multiselect(key="dims").value  # chips and grid rows agree


def test_steps_differ_names_the_odd_beta_out():
    from types import SimpleNamespace

    from genlab import compare

    members = [{"beta": b, "row": SimpleNamespace(steps=50_000 if b == 4 else 10_000)} for b in (1, 2, 4, 8, 16)]
    note = compare.steps_differ(members)
    assert note.startswith("Not every β trained as long: β = 4 trained for 50,000 steps, the others for 10,000.")
    assert compare.steps_labels(members) == ["10k steps", "10k steps", "50k steps", "10k steps", "10k steps"]
    same = [{"beta": b, "row": SimpleNamespace(steps=10_000)} for b in (1, 4)]
    assert compare.steps_differ(same) is None


# --------------------------------------------------------------------------- Code space


def test_code_space_names_a_and_b_alike_in_map_legend_and_captions(lab):
    at = open_page("4_Code_space.py", {"n": "500", "a": "3", "b": "11"})
    (title, data), = charts(at).items()
    a_mark, b_mark = (next(t for t in data if t["name"] == f"{k}: point {i}") for k, i in (("A", 3), ("B", 11)))
    assert a_mark["marker"]["color"] != b_mark["marker"]["color"]  # two different legend entries
    assert values(b_mark["customdata"]).tolist() == [11]
    caps = set(by_caption(at))
    assert any(c.startswith("B: point 11 (image ") for c in caps) and "B: point 11 decoded" in caps
    assert any(c.startswith("A: point 3 (image ") for c in caps)


def test_code_space_opens_a_stored_umap_map_without_fitting_one(lab, tmp_path, monkeypatch):
    from genlab import latent
    from genlab.checkpoint import load_checkpoint, read_metadata
    from genlab.data import load_dataset

    folder = only(tmp_path / "ckpts", lab / "checkpoints", "bvae-b1")
    stem = folder / "bvae-b1" / "model"
    real_fit = latent._fit_embedding

    def fake_umap(codes, extra, method, seed, params):  # a cheap stand-in, recognisable on the chart
        xy = real_fit(codes, extra, "pca", seed, params)
        return xy * 3 + 1 if method == "umap" else xy

    monkeypatch.setattr(latent, "_fit_embedding", fake_umap)
    model, meta = load_checkpoint(stem)
    latent.write_maps(model, load_dataset("dsprites"), stem, read_metadata(stem)["weights_sha256"], sizes=(500,))
    assert latent.maps_path(stem).stat().st_size < 30_000

    def no_umap(codes, extra, method, seed, params):
        assert method != "umap", "the page fitted a UMAP although one is stored"
        return real_fit(codes, extra, method, seed, params)

    monkeypatch.setattr(latent, "_fit_embedding", no_umap)
    monkeypatch.setenv("GENLAB_CHECKPOINTS", str(folder))
    at = open_page("4_Code_space.py", {"n": "500", "method": "UMAP"})
    (title, data), = charts(at).items()
    assert title.startswith("UMAP of the encoder means")
    with np.load(latent.maps_path(stem)) as f:
        stored = f["umap_500"].astype(np.float32)
    codes = next(t for t in data if t["name"] == "codes" or t["name"].startswith("shape"))
    prior = next(t for t in data if t["name"] == "prior samples")
    assert len(values(prior["x"])) == 500
    np.testing.assert_allclose(np.sort(values(prior["x"]).astype(np.float32)), np.sort(stored[500:, 0]))
    assert set(values(codes["x"]).astype(np.float32).tolist()) <= set(stored[:500, 0].tolist())


def test_stored_map_is_refused_for_other_weights_points_or_prior(tmp_path, monkeypatch):
    from genlab import latent
    from genlab.data import load_dataset
    from genlab.models import GenerativeModel, make_config

    data = load_dataset("digits")
    torch.manual_seed(0)
    model = GenerativeModel(make_config("vae", "digits", data.shape, latent_dim=3)).eval()
    monkeypatch.setattr(latent, "_fit_embedding", lambda c, e, m, s, p: np.arange(2 * (len(c) + len(e)),
                                                                                  dtype=np.float32).reshape(-1, 2))
    stem = tmp_path / "m" / "model"
    stem.parent.mkdir()
    latent.write_maps(model, data, stem, "sha-1", sizes=(500, 5000))
    table = latent.code_table(model, data, 500, seed=latent.MAP_CODES_SEED)
    prior = latent.prior_overlay(model, 500, seed=latent.MAP_PRIOR_SEED)
    both = latent.stored_map(stem, "sha-1", "umap", table["mu"], prior)
    assert both.shape == (1000, 2) and both[1, 1] == 3
    assert latent.stored_map(stem, "sha-1", "umap", table["mu"]).shape == (500, 2)  # no prior overlaid
    assert latent.stored_map(stem, "sha-2", "umap", table["mu"], prior) is None  # retrained weights
    assert latent.stored_map(stem, "sha-1", "tsne", table["mu"], prior) is None
    assert latent.stored_map(stem, "sha-1", "umap", table["mu"] + 0.01, prior) is None  # other codes
    assert latent.stored_map(stem, "sha-1", "umap", table["mu"], prior + 0.01) is None  # other prior samples
    small = latent.code_table(model, data, 200, seed=0)
    assert latent.stored_map(stem, "sha-1", "umap", small["mu"]) is None  # no map of 200 points
    # digits has 1,797 images: 5,000 asked gives all of them once
    with np.load(latent.maps_path(stem)) as f:
        assert sorted(k for k in f.files if k.startswith("umap_")) == ["umap_1797", "umap_500"]


def test_traversal_reads_a_stored_factor_matrix_instead_of_encoding_2000_images(lab, tmp_path, monkeypatch):
    from genlab import latent
    from genlab.checkpoint import load_checkpoint, read_metadata
    from genlab.data import load_dataset

    folder = only(tmp_path / "ckpts", lab / "checkpoints", "bvae-b1", "bvae-b4")
    stem = folder / "bvae-b1" / "model"
    model, _ = load_checkpoint(stem)
    sha = read_metadata(stem)["weights_sha256"]
    latent.write_factor_matrix(model, load_dataset("dsprites"), stem, sha)
    stored = latent.stored_factor_matrix(stem, sha)
    assert stored["share"].shape == (3, 5) and stored["labels"] == ["z0", "z1", "z2"]
    assert latent.stored_factor_matrix(stem, "other weights") is None
    assert latent.stored_factor_matrix(stem, sha, n=1000) is None

    real = latent.factor_information
    encoded = []
    monkeypatch.setattr(latent, "factor_information", lambda m, *a, **k: encoded.append(1) or real(m, *a, **k))
    monkeypatch.setenv("GENLAB_CHECKPOINTS", str(folder))
    at = open_page("1_Latent_traversal.py")  # β = 1: its matrix is stored
    kl = values(charts(at)["KL per dimension (β = 1)"][0]["y"]).astype(float)
    open_tab(at, "Factor matrix")
    title = next(t for t in charts(at) if t.startswith("Share of each factor's entropy"))
    np.testing.assert_allclose(values(charts(at)[title][0]["z"]).astype(float),
                               stored["share"][np.argsort(-kl, kind="stable")], rtol=1e-6)
    assert not encoded
    at.select_slider(key="beta").set_value(4.0)  # β = 4 has none stored: encoded as before
    rerun(at)
    assert encoded == [1]


def test_genlab_maps_stores_the_factor_matrix_and_refuses_what_has_nothing_to_map(lab, tmp_path, capsys):
    from genlab import latent
    from genlab.checkpoint import read_metadata
    from genlab.cli import main

    folder = only(tmp_path / "ckpts", lab / "checkpoints", "bvae-b1", "gan-digits")
    stem = folder / "bvae-b1" / "model"
    assert main(["maps", str(stem), "--what", "factors"]) == 0
    assert "factor matrix" in capsys.readouterr().out
    assert latent.stored_factor_matrix(stem, read_metadata(stem)["weights_sha256"]) is not None
    assert latent.stored_map(stem, read_metadata(stem)["weights_sha256"], "umap", np.zeros((500, 3))) is None
    # a GAN on digits: no encoder for a UMAP of codes, no factors for a matrix
    assert main(["maps", str(folder / "gan-digits" / "model")]) == 2
    assert "nothing of --what" in capsys.readouterr().err


# --------------------------------------------------------------------------- Mode collapse


def test_mode_collapse_history_starts_at_step_0_and_keeps_labels_off_the_panel_titles(lab):
    for dataset in ("ring", "grid"):
        at = open_page("3_Mode_collapse.py", {"dataset": dataset})
        lay = next(v for k, v in layouts(at).items() if k is None or k == "")  # the history chart has panel titles only
        assert [lay[k]["range"] for k in ("xaxis", "xaxis2", "xaxis3")] == [[0, 50]] * 3  # not −1…1 at step 0
        loss = layouts(at)["losses (D solid, G dotted)"]
        assert loss["xaxis"]["range"][0] == 0
        refs = [a for a in lay["annotations"] if a["text"] in ("GAN (paper)", "PacGAN4")]
        assert {a["text"] for a in refs} == {"GAN (paper)", "PacGAN4"}
        for a in refs:
            axis = lay["yaxis" + a["yref"].removeprefix("y").removesuffix(" domain")]
            if a["y"] > 0.8 * axis["range"][1]:  # near the top of its panel: the label hangs below the line
                assert a["yanchor"] == "top", (dataset, a)


def test_mode_collapse_trained_view_writes_a_missing_reverse_kl_in_words(lab, monkeypatch, tmp_path):
    from genlab.checkpoint import load_checkpoint, save_checkpoint
    from genlab.data import load_dataset
    from genlab.models import make_config
    from genlab.train import TrainConfig, fit

    ring = load_dataset("ring")
    monkeypatch.setenv("GENLAB_RUNS", str(tmp_path / "runs"))
    stem = tmp_path / "runs" / "lost" / "model"
    fit(make_config("gan", "ring", ring.shape, latent_dim=2), ring,
        TrainConfig(steps=3, batch_size=16, out=str(stem.parent), name="lost"), progress=False)
    model, meta = load_checkpoint(stem)
    last = model.nets["gen"].net.net[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.copy_(torch.tensor([3.0, 3.0]))  # every sample far from the ring of radius 1
    save_checkpoint(stem, model, meta)
    at = open_page("3_Mode_collapse.py", {"view": "trained", "dataset": "ring"})
    row = at.dataframe[-1].value.iloc[0]
    assert row["modes"] == "0 / 8"
    assert row["reverse KL (nats)"] == "n/a: no sample near a mode"


# --------------------------------------------------------------------------- Home


def test_home_shows_its_tables_whole(lab):
    at = open_page("app.py")
    assert not at.dataframe, "a st.dataframe scrolls inside itself and cuts long text"
    datasets, checkpoints = at.table
    from genlab.data import dataset_status

    assert list(datasets.value["description"]) == [d["description"] for d in dataset_status()]
    assert len(checkpoints.value) == 5 and all(p.startswith("`") for p in checkpoints.value["path"])


def test_every_shipped_maps_file_belongs_to_its_checkpoints_weights():
    """A checkpoint retrained without `genlab maps` would keep a stale file: the pages ignore it, and are slow again."""
    from pathlib import Path

    from genlab.checkpoint import read_metadata

    root = Path(__file__).resolve().parents[1] / "checkpoints"
    files = sorted(root.rglob("*.maps.npz"))
    assert len(files) >= 10
    for f in files:
        stem = f.with_name(f.name.removesuffix(".maps.npz"))
        sha = read_metadata(stem)["weights_sha256"]
        with np.load(f, allow_pickle=False) as z:
            metas = [json.loads(str(z[k])) for k in z.files if k.endswith("meta")]
        assert metas and all(m["weights_sha256"] == sha for m in metas), f"{f} is stale: uv run genlab maps {stem}"


# --------------------------------------------------------------------------- Unified view


def test_unified_view_says_each_claim_and_what_to_look_at_and_names_its_columns_in_words(lab):
    at = open_page("9_Unified_view.py")
    claims = [m.value for m in at.markdown if m.value.startswith("**Claim")]
    assert len(claims) == 4 and all("**Look at:**" in c for c in claims)  # tables, transfers, actor-critic, CycleGAN
    headers = [h.value for h in at.header]
    assert headers == ["VAE, GAN and wake-sleep (Hu et al. 2018)", "GANs as actor-critic (Pfau & Vinyals 2016)",
                       "Squares ↔ ellipses (CycleGAN, Zhu et al. 2017)"]
    stabilisers = at.dataframe[3].value
    assert list(stabilisers.columns) == ["stabiliser", "in GANs", "in actor-critic", "switch in genlab"]
    # the direction of each KL is spelt out, not left to the formula
    assert at.dataframe[0].value.loc["its direction", "VAE"] == "inference ‖ posterior (as wake)"
