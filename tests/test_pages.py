"""Every Streamlit page under AppTest, headless, against a folder of tiny checkpoints.

Each page is run, checked for exceptions and for the elements it should draw, then a widget is
changed and the output must change with it. Empty states (no checkpoint of the kind a page
needs) must say what is missing and how to get it, and query parameters must set the view.

The checkpoints are tiny on purpose (z = 3, 20 steps of batch 16): the tests check the pages'
wiring, not what the models learned. The whole file runs in under a minute on two busy cores.
"""

from __future__ import annotations

import base64
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
import torch
from conftest import run_page
from streamlit.testing.v1 import AppTest

from genlab import live, ui

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 120  # seconds per script run: the first run of a page imports torch, sklearn, plotly

# name: (model, dataset, overrides). The two β-VAEs make a β sweep; the GANs share z = 3 with
# the VAEs, so the blur page has a decoder/generator pair on each dataset.
TINY_LAB = {
    "bvae-b1": ("beta-vae", "dsprites", {"beta": 1.0}),
    "bvae-b4": ("beta-vae", "dsprites", {"beta": 4.0}),
    "gan-dsprites": ("gan", "dsprites", {}),
    "vae-digits": ("vae", "digits", {}),
    "gan-digits": ("gan", "digits", {}),
}


def make_tiny_lab(folder: Path, names=tuple(TINY_LAB), steps: int = 20, batch_size: int = 16) -> Path:
    """Train the named tiny checkpoints into FOLDER/<name>/model (also used by test_browser)."""
    from genlab.data import load_dataset
    from genlab.models import make_config
    from genlab.train import TrainConfig, fit

    folder = Path(folder)
    for name in names:
        model, data, kw = TINY_LAB[name]
        ds = load_dataset(data)
        cfg = make_config(model, data, ds.shape, latent_dim=3, **kw)
        fit(cfg, ds, TrainConfig(steps=steps, batch_size=batch_size, out=str(folder / name), name=name,
                                 ckpt_every=steps, log_every=10), progress=False)
    return folder


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A checkpoints folder with the tiny lab, an empty runs folder and a private cache."""
    root = tmp_path_factory.mktemp("lab")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny nets: one thread is faster, and far faster when the other core is busy
    try:
        make_tiny_lab(root / "checkpoints")
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("GENLAB_CHECKPOINTS", str(root / "checkpoints"))
            mp.setenv("GENLAB_RUNS", str(root / "runs"))
            mp.setenv("GENLAB_CACHE", str(root / "cache"))
            yield root
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def fresh_caches():
    """Each test starts from cold Streamlit caches (cache_resource lives for the whole process)."""
    st.cache_data.clear()
    st.cache_resource.clear()
    yield


def open_page(name: str, query: dict | None = None) -> AppTest:
    """Run pages/<name> (or app.py) once, with optional query parameters; fail on any exception."""
    return run_page(ROOT / name if name == "app.py" else ROOT / "pages" / name, query, TIMEOUT)


def rerun(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def open_tab(at: AppTest, label: str) -> AppTest:
    """Open a page's tab as a click on it does (its state, and the link's ?section=), and rerun."""
    at.session_state["section"] = at.query_params["section"] = label
    return rerun(at)


def charts(at: AppTest) -> dict:
    """{chart key or title: plotly data} for every plotly chart on the page."""
    out = {}
    for i, el in enumerate(at.get("plotly_chart")):
        spec = json.loads(el.proto.spec)
        title = spec.get("layout", {}).get("title", {})
        name = title.get("text") if isinstance(title, dict) else title
        out[name or f"chart {i}"] = spec["data"]
    return out


def values(v) -> np.ndarray:
    """A plotly data array as NumPy: plain lists, or the typed {"dtype", "bdata"} form plotly uses for arrays."""
    if isinstance(v, dict) and "bdata" in v:
        a = np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
        shape = v.get("shape")
        return a.reshape([int(n) for n in str(shape).split(",")]) if shape else a
    return np.asarray(v)


def by_caption(at: AppTest) -> dict:
    return {c: u for im in at.image for u, c in zip(im.value, im.captions)}


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def texts(elements) -> str:
    return " ".join(e.value for e in elements)


def only(folder: Path, src: Path, *names) -> Path:
    """A checkpoints folder holding copies of some of the lab's checkpoints (or none)."""
    folder.mkdir(parents=True, exist_ok=True)
    for n in names:
        shutil.copytree(src / n, folder / n)
    return folder


# --------------------------------------------------------------------------- home


def test_every_page_file_is_in_the_router():
    """app.py's st.navigation only shows what genlab.ui lists: a page file left out of it would vanish."""
    from genlab import ui

    files = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "pages").glob("*.py"))
    assert files == sorted([ui.HOME, *(p.file for p in ui.PAGES)])
    assert len({p.url_path for p in ui.PAGES}) == len(ui.PAGES)


def test_home_lists_the_lab(lab):
    at = open_page("app.py")
    names = set(at.table[-1].value["name"])
    assert set(TINY_LAB) <= names
    assert len(at.get("page_link")) == len(ui.PAGES)


# --------------------------------------------------------------------------- 1 latent traversal


def test_traversal_slider_and_beta_change_the_pictures(lab):
    at = open_page("1_Latent_traversal.py")
    assert at.selectbox(key="group").value == "beta-vae:dsprites:z3"
    assert at.select_slider(key="beta").value == 1.0
    assert [t.label for t in at.tabs] == ["Traversal", "Factor matrix", "Across β"]
    figs = charts(at)
    # only the open tab runs: the traversal and its KL bars, not the other tabs' charts
    assert set(figs) == {"Traversal grid", "KL per dimension (β = 1)"}
    assert len(values(figs["KL per dimension (β = 1)"][0]["y"])) == 3
    caps = by_caption(at)
    assert "decoded from the sliders" in caps and "image 0" in caps
    z_sliders = [s for s in at.slider if s.key.startswith("z")]
    assert len(z_sliders) == 3

    # across β: the swept values are the ticks, and the active-dimension bars one per β, evenly spaced
    open_tab(at, "Across β")
    beta_figs = charts(at)
    assert "Traversal grid" not in beta_figs and not [s for s in at.slider if s.key.startswith("z")]
    layouts = {json.loads(c.proto.spec)["layout"]["title"]["text"]: json.loads(c.proto.spec)["layout"]
               for c in at.get("plotly_chart")}
    betas = sorted({float(b) for b in at.select_slider(key="beta").options})
    assert layouts["Reconstruction error vs β"]["xaxis"]["tickvals"] == betas
    active = next(t for t in layouts if t.startswith("Active dimensions"))
    assert layouts[active]["xaxis"]["type"] == "category" and list(beta_figs[active][0]["x"]) == [f"{b:g}" for b in betas]

    # the factor matrix: 3 latents × dSprites' 5 factors, shares of entropy, and MIG = mean(best − runner-up)
    open_tab(at, "Factor matrix")
    matrix = charts(at)
    title = next(t for t in matrix if t.startswith("Share of each factor's entropy"))
    share = values(matrix[title][0]["z"]).astype(float)
    assert share.shape == (3, 5) and share.min() >= 0 and share.max() <= 1
    top2 = np.sort(share, axis=0)[::-1][:2]
    assert float(title.rsplit("MIG ", 1)[1]) == pytest.approx((top2[0] - top2[1]).mean(), abs=1e-3)
    assert [x.split("<br>")[0] for x in matrix[title][0]["x"]] == ["shape", "scale", "orientation", "posX", "posY"]

    open_tab(at, "Traversal")
    z_sliders = [s for s in at.slider if s.key.startswith("z")]
    # one latent slider: the decoded image and the traversal grid follow it
    z_sliders[0].set_value(2.5)
    rerun(at)
    assert by_caption(at)["decoded from the sliders"] != caps["decoded from the sliders"]
    assert by_caption(at)["image 0"] == caps["image 0"]
    assert charts(at)["Traversal grid"] != figs["Traversal grid"]

    # the β slider switches checkpoint: new KL bars, β in the URL
    at.select_slider(key="beta").set_value(4.0)
    rerun(at)
    after = charts(at)
    assert "KL per dimension (β = 4)" in after
    assert after["KL per dimension (β = 4)"] != figs["KL per dimension (β = 1)"]
    assert at.query_params["beta"] == "4"


def test_traversal_grid_is_decoded_once_per_model_and_sliders(lab, monkeypatch):
    from genlab import latent

    calls = []
    real = latent.traverse
    monkeypatch.setattr(latent, "traverse", lambda *a, **k: calls.append(a[2:]) or real(*a, **k))
    at = open_page("1_Latent_traversal.py", {"seed": "3", "start": "prior"})
    grid = charts(at)["Traversal grid"]
    first = len(calls)  # 1, or 0 where an earlier test drew this very grid
    rerun(at)  # a student opening the same view again: the kept grid, nothing decoded
    at2 = open_page("1_Latent_traversal.py", {"seed": "3", "start": "prior"})
    assert len(calls) == first and charts(at)["Traversal grid"] == grid == charts(at2)["Traversal grid"]
    at.slider(key="span").set_value(2.0)  # new values: decoded once
    rerun(at)
    assert len(calls) == first + 1 and list(calls[-1][1]) == pytest.approx(list(np.linspace(-2, 2, 9)))
    assert charts(at)["Traversal grid"] != grid


def test_traversal_query_parameters_set_the_view(lab):
    at = open_page("1_Latent_traversal.py", {"beta": "4", "start": "prior", "seed": "7", "dims": "z0,z2"})
    assert at.select_slider(key="beta").value == 4.0
    assert at.radio(key="start").value == "the prior"
    assert at.number_input(key="seed").value == 7
    assert sorted(at.multiselect(key="dims").value) == ["z0", "z2"]
    assert "KL per dimension (β = 4)" in charts(at)
    grid = charts(at)["Traversal grid"]
    assert grid, "the traversal grid should be drawn"


def test_traversal_without_image_checkpoints_says_how_to_get_one(lab, monkeypatch, tmp_path):
    monkeypatch.setenv("GENLAB_CHECKPOINTS", str(only(tmp_path / "none", lab / "checkpoints")))
    monkeypatch.setenv("GENLAB_RUNS", str(tmp_path / "runs"))
    at = open_page("1_Latent_traversal.py")
    info = texts(at.info)
    assert "No image checkpoint yet" in info and "genlab train --model beta-vae" in info
    assert any("β-VAE" in b.label for b in at.button)
    assert not at.get("plotly_chart")


# --------------------------------------------------------------------------- 2 blur vs sharpness


def test_blur_page_opens_each_section_in_its_own_tab_and_the_shared_z_drives_both_decoders(lab):
    at = open_page("2_Blur_vs_sharpness.py", {"n": "100"})  # 100 images measured keeps it quick
    assert at.select_slider(key="n").value == 100
    assert at.selectbox(key="data").value == "dsprites"  # the dataset with the most checkpoints
    assert sorted(Path(p).parent.name for p in at.multiselect(key="ckpts:dsprites").value) == ["bvae-b1", "gan-dsprites"]
    assert [t.label for t in at.tabs] == ["Pictures", "Sharpness", "Precision and recall", "Nearest real sprite",
                                          "One z, two decoders"]
    caps = by_caption(at)
    assert {"real data", "beta-vae: bvae-b1: samples", "gan: gan-dsprites: samples"} <= set(caps)
    # only the open tab runs: a first visit sends the pictures and the crop, and no chart or table
    assert not at.get("plotly_chart") and not at.dataframe
    assert at.slider(key="crop_img") is not None

    def show(label: str) -> dict:
        open_tab(at, label)
        assert ("real data" in by_caption(at)) == (label == "Pictures"), f"the pictures under {label}?"
        return charts(at)

    figs = show("Sharpness")
    assert set(figs) == {"Laplacian variance (mean ± std over images)", "Radially averaged power spectrum"}
    assert len(figs["Radially averaged power spectrum"]) == 4  # real, VAE samples, VAE recons, GAN samples
    assert [d.value.columns[0] for d in at.dataframe] == ["images"] and len(at.dataframe[0].value) == 4
    figs.update(show("Precision and recall"))
    pr = figs["Precision vs recall (random projection features)"]  # one trace per image set, named in the legend
    assert [t["name"] for t in pr] == ["real (held out)", "beta-vae: bvae-b1: samples",
                                       "beta-vae: bvae-b1: reconstructions", "gan: gan-dsprites: samples"]
    assert "Radially averaged power spectrum" not in charts(at)
    # a checkpoint's samples and reconstructions share its colour, in every chart
    assert pr[1]["marker"]["color"] == pr[2]["marker"]["color"] != pr[3]["marker"]["color"]
    spectra = {t["name"]: t["line"] for t in figs["Radially averaged power spectrum"]}
    assert spectra["beta-vae: bvae-b1: reconstructions"]["color"] == pr[1]["marker"]["color"]
    bars = figs["Laplacian variance (mean ± std over images)"][0]
    assert list(bars["y"])[0] == "real" and bars["marker"]["color"][3] == pr[3]["marker"]["color"]

    show("One z, two decoders")
    caps = by_caption(at)
    decoders = ["beta-vae: bvae-b1", "gan: gan-dsprites"]  # one z, two decoders
    assert set(decoders) == set(caps), caps
    at.slider(key="shared_z0").set_value(2.0)
    rerun(at)
    new = by_caption(at)
    for c in decoders:
        assert new[c] != caps[c], f"{c} did not follow the z slider"

    # switching dataset picks that dataset's line-up and redraws the open tab on digits; digits have no
    # nearest-real tab
    at.session_state["section"] = at.query_params["section"] = "Sharpness"
    at.selectbox(key="data").set_value("digits")
    rerun(at)
    assert not at.info, texts(at.info)
    assert sorted(Path(p).parent.name for p in at.multiselect(key="ckpts:digits").value) == ["gan-digits", "vae-digits"]
    assert at.query_params["data"] == "digits"
    assert "Nearest real sprite" not in [t.label for t in at.tabs]
    assert charts(at)["Radially averaged power spectrum"] != figs["Radially averaged power spectrum"]
    show("Pictures")
    assert {"vae: vae-digits: samples", "gan: gan-digits: samples"} <= set(by_caption(at))


def test_blur_page_without_image_checkpoints_says_how_to_get_one(lab, monkeypatch, tmp_path):
    monkeypatch.setenv("GENLAB_CHECKPOINTS", str(only(tmp_path / "none", lab / "checkpoints")))
    monkeypatch.setenv("GENLAB_RUNS", str(tmp_path / "runs"))
    at = open_page("2_Blur_vs_sharpness.py")
    info = texts(at.info)
    assert "No image checkpoint yet" in info and "genlab train --model vae --data digits" in info
    assert not at.image


# --------------------------------------------------------------------------- 3 mode collapse


def test_mode_collapse_steps_and_tricks(lab):
    at = open_page("3_Mode_collapse.py")
    assert metric(at, "Step") == "0"
    assert metric(at, "Modes captured").endswith("/ 8")
    figs = charts(at)
    assert "non-saturating" in figs and "losses (D solid, G dotted)" in figs
    field = figs["non-saturating"]
    assert [t["name"] for t in field] == ["discriminator", "real", "generated"]
    per_mode = figs["samples per mode (step 0)"][0]
    assert len(per_mode["text"]) == 8
    assert sum(int(t) > 0 for t in per_mode["text"]) == int(metric(at, "Modes captured").split("/")[0])

    at.number_input(key="per_click").set_value(10)
    at.button(key="step").click()
    rerun(at)
    assert metric(at, "Step") == "10"
    stepped = charts(at)["non-saturating"]
    assert not np.array_equal(values(stepped[2]["x"]), values(field[2]["x"])), "generated points did not move"
    assert stepped[1] == field[1], "the real points must stay fixed"
    assert len(values(charts(at)["losses (D solid, G dotted)"][0]["x"])) == 10, "one loss point per step"
    run_before = at.session_state["run_a"][1]
    assert run_before.cfg.label_smoothing == 1.0

    # a trick rebuilds the run from the seed with the new config, and shows in the title
    at.checkbox(key="ls").check()
    rerun(at)
    run_after = at.session_state["run_a"][1]
    assert run_after is not run_before and run_after.cfg.label_smoothing == 0.9
    assert "non-saturating + label smoothing" in charts(at)
    assert metric(at, "Step") == "0"


def test_mode_collapse_play_advances_and_pause_stops(lab):
    at = open_page("3_Mode_collapse.py")
    at.button(key="play").click()
    rerun(at)  # the press starts a background player; each rerun while playing draws its progress
    assert at.button(key="play").label == "⏸ Pause"
    player = at.session_state["player"]
    assert player.running and player.runs == [at.session_state["run_a"][1]]
    deadline = time.monotonic() + 60
    while int(metric(at, "Step")) < 50 and time.monotonic() < deadline:  # it trains between the page's runs
        time.sleep(0.2)
        rerun(at)
    played = int(metric(at, "Step"))
    assert played >= 50
    # while it plays the field is a picture drawn in the server (one image a frame for the browser) ...
    title = live.describe_switches({"loss": "non-saturating"})  # the default settings
    pictures = [c for img in at.get("image") for c in img.proto.imgs if "a picture while it plays" in c.caption]
    assert len(pictures) == 1 and pictures[0].caption.startswith(title) and title not in charts(at)
    at.button(key="play").click()
    rerun(at)
    assert at.button(key="play").label == "▶ Play"
    # ... and paused, the plotly chart again, to hover and zoom
    assert title in charts(at) and not any("a picture while it plays" in c.caption
                                            for img in at.get("image") for c in img.proto.imgs)
    assert not player.running and "player" not in at.session_state
    paused = int(metric(at, "Step"))
    time.sleep(0.5)
    rerun(at)
    assert int(metric(at, "Step")) == paused, "a paused run must not train"


def test_mode_collapse_ab_view_steps_both_runs_in_lock_step(lab):
    at = open_page("3_Mode_collapse.py", {"view": "ab", "b_loss": "wgan"})
    assert at.radio(key="view").value == "ab" and at.selectbox(key="b_loss").value == "wgan"
    assert {"A: non-saturating", "B: wgan"} <= set(charts(at))
    at.number_input(key="per_click").set_value(5)
    at.button(key="step").click()
    rerun(at)
    assert [m.value for m in at.metric if m.label == "Step"] == ["5", "5"]
    assert at.session_state["run_b"][1].cfg.model == "wgan"


def test_mode_collapse_query_parameters_pick_data_and_loss(lab):
    at = open_page("3_Mode_collapse.py", {"dataset": "grid", "loss": "wgan-gp"})
    assert at.radio(key="dataset").value == "grid"
    assert at.selectbox(key="loss").value == "wgan-gp"
    assert metric(at, "Modes captured").endswith("/ 25")
    assert at.session_state["run_a"][1].cfg.model == "wgan-gp"
    field = charts(at)["wgan-gp"]
    assert field[0]["colorbar"]["title"]["text"] == "critic score f(x)"


def test_mode_collapse_labels_view_without_a_classifier_trains_one_then_counts_classes(lab, monkeypatch, tmp_path):
    monkeypatch.setenv("GENLAB_RUNS", str(tmp_path / "runs"))
    at = open_page("3_Mode_collapse.py", {"view": "labels"})
    info = texts(at.info)
    assert "No digits classifier yet" in info and "Press the button" in info
    assert not at.get("plotly_chart")

    at.button(key="train_clf").click()
    rerun(at)
    assert "Classifier saved to" in texts(at.success)
    assert (tmp_path / "runs" / "classifiers" / "digits" / "model.safetensors").exists()
    # the classifier labels the digits checkpoints (and is not offered as one of them)
    assert sorted(o.split(" (")[0] for o in at.multiselect(key="label_ckpts").options) == ["gan-digits", "vae-digits"]
    (bars,) = charts(at).values()
    assert [t["name"] for t in bars] == ["real data", "gan-digits"]  # the GANs by default
    for t in bars:
        assert sum(values(t["y"])) == pytest.approx(1)  # shares of the 10 classes
    table = at.dataframe[-1].value
    assert all(c.endswith("/ 10") for c in table["classes produced"])

    # a later visit finds it without the button
    again = open_page("3_Mode_collapse.py", {"view": "labels"})
    assert not again.info and "held-out images" in texts(again.caption)


# --------------------------------------------------------------------------- 4 code space


def test_code_space_map_points_and_colours(lab):
    at = open_page("4_Code_space.py", {"n": "500"})
    assert at.radio(key="method").value == "PCA"
    assert metric(at, "Latent dimensions") == "3"
    (title, data), = charts(at).items()
    assert title.startswith("PCA of the encoder means (μ) of 500 dsprites images")
    assert "prior samples" in [t["name"] for t in data]
    caps = by_caption(at)
    assert {"A: point 0 decoded", "B: point 1 decoded"} <= set(caps)

    at.number_input(key="point_a").set_value(7)
    rerun(at)
    new = by_caption(at)
    assert new["A: point 7 decoded"] != caps["A: point 0 decoded"]
    assert new["B: point 1 decoded"] == caps["B: point 1 decoded"]
    marks = {t["name"]: t for t in charts(at)[title]}
    assert values(marks["A: point 7"]["customdata"]).tolist() == [7]

    at.selectbox(key="colour").set_value("KL per point")
    rerun(at)
    recoloured = charts(at)[title]
    assert recoloured != data and recoloured[0]["name"] == "codes"

    at.toggle(key="prior").set_value(False)
    rerun(at)
    assert "prior samples" not in [t["name"] for t in charts(at)[title]]


def test_code_space_counts_holes_against_samples_of_q_z(lab, monkeypatch, tmp_path):
    """A VAE whose encoder gives q(z|x) = N(0, I) for every image has q(z) equal to the prior: about 1% of
    prior samples count as holes (all of them would, measured against the means, which all sit at 0)."""
    from genlab.checkpoint import load_checkpoint, save_checkpoint

    folder = only(tmp_path / "ckpts", lab / "checkpoints", "bvae-b1")
    stem = folder / "bvae-b1" / "model"
    model, meta = load_checkpoint(stem)
    with torch.no_grad():  # μ ≈ 0 and log σ² ≈ 0 for every image (not exactly, so the PCA map has axes)
        model.nets["enc"].head.weight.mul_(1e-3)
        model.nets["enc"].head.bias.zero_()
    save_checkpoint(stem, model, meta)
    monkeypatch.setenv("GENLAB_CHECKPOINTS", str(folder))
    monkeypatch.setenv("GENLAB_RUNS", str(tmp_path / "runs"))
    at = open_page("4_Code_space.py", {"n": "1000"})
    share = float(metric(at, "Prior samples in holes").rstrip("%")) / 100
    assert share < 0.05, share


def test_code_space_query_parameters_pick_checkpoint_and_points(lab):
    ckpt = str(lab / "checkpoints" / "vae-digits" / "model")
    at = open_page("4_Code_space.py", {"ckpt": ckpt, "n": "500", "colour": "label", "a": "3", "b": "4"})
    assert at.selectbox(key="ckpt").value == ckpt
    assert at.selectbox(key="colour").value == "label"
    assert (at.number_input(key="point_a").value, at.number_input(key="point_b").value) == (3, 4)
    (title, data), = charts(at).items()
    assert "digits" in title and any(t["name"] == "label 0" for t in data)


def test_code_space_with_only_gans_says_how_to_get_an_encoder(lab, monkeypatch, tmp_path):
    folder = only(tmp_path / "gans", lab / "checkpoints", "gan-digits", "gan-dsprites")
    monkeypatch.setenv("GENLAB_CHECKPOINTS", str(folder))
    monkeypatch.setenv("GENLAB_RUNS", str(tmp_path / "runs"))
    at = open_page("4_Code_space.py")
    info = texts(at.info)
    assert "No checkpoint with an encoder yet" in info and "genlab train --model vae" in info
    assert not at.get("plotly_chart")


# --------------------------------------------------------------------------- 5 train


def test_train_page_fields_follow_the_model_and_the_url(lab):
    at = open_page("5_Train.py", {"model": "wgan-gp"})
    assert at.selectbox(key="model").value == "wgan-gp"
    keys = {w.key for w in at.number_input}
    assert "hp_wgan-gp_gp_weight" in keys and "hp_wgan-gp_beta" not in keys
    at.selectbox(key="model").set_value("beta-vae")
    rerun(at)
    keys = {w.key for w in at.number_input}
    assert "hp_beta-vae_beta" in keys and "hp_beta-vae_gp_weight" not in keys


def test_train_page_runs_in_the_background_and_lists_the_checkpoint(lab, monkeypatch, tmp_path):
    runs = tmp_path / "runs"
    monkeypatch.setenv("GENLAB_RUNS", str(runs))
    at = open_page("5_Train.py")
    at.selectbox(key="model").set_value("gan")
    at.selectbox(key="data").set_value("ring")
    rerun(at)
    at.number_input(key="train_steps").set_value(30)
    at.number_input(key="train_batch").set_value(16)
    at.text_input(key="train_name").input("tiny-ring")
    at.button(key="train_start").click()
    rerun(at)
    assert at.session_state["train_run"] == "tiny-ring"
    deadline = time.monotonic() + 60
    while not at.success and time.monotonic() < deadline:
        assert not at.error, texts(at.error)
        time.sleep(0.5)
        rerun(at)
    assert at.success and "Finished at step 30" in texts(at.success)
    assert (runs / "tiny-ring" / "model.safetensors").exists()
    listing = at.dataframe[-1].value
    assert list(listing["run_id"]) == ["tiny-ring"] and list(listing["status"]) == ["finished"]
    assert "samples at step 30" in charts(at)

    home = open_page("app.py")
    table = home.table[-1].value
    assert "tiny-ring" in set(table["name"])


def test_mode_collapse_trained_view_says_which_checkpoint_samples_from_a_generator_average(lab, monkeypatch, tmp_path):
    from genlab.data import load_dataset
    from genlab.models import make_config
    from genlab.train import TrainConfig, fit

    grid = load_dataset("grid")
    monkeypatch.setenv("GENLAB_RUNS", str(tmp_path / "runs"))
    for name, extra in (("plain", {}), ("averaged", {"ema_decay": 0.9})):
        cfg = make_config("gan", "grid", grid.shape, latent_dim=2, **extra)
        fit(cfg, grid, TrainConfig(steps=3, batch_size=16, out=str(tmp_path / "runs" / name), name=name), progress=False)
    at = open_page("3_Mode_collapse.py", {"view": "trained", "dataset": "grid"})
    pick = at.multiselect(key="trained_ckpts")
    average, itself = ("averaged (gan, 3 steps, samples from its generator average)",
                       "averaged (gan, 3 steps, the generator itself, not its average)")
    assert sorted(pick.options) == [average, itself, "plain (gan, 3 steps)"]
    assert sorted(charts(at)) == sorted(["averaged, 3 steps, generator average", "plain, 3 steps",
                                         "averaged (generator average): samples per mode",
                                         "plain: samples per mode"])  # the two checkpoints as they sample

    # the averaged checkpoint beside its generator itself: each column draws its own weights
    stem = tmp_path / "runs" / "averaged" / "model"
    pick.set_value([str(stem), str(stem) + "#generator"])
    rerun(at)
    drawn = charts(at)
    assert sorted(drawn) == sorted(["averaged, 3 steps, generator average", "averaged, 3 steps, generator itself",
                                    "averaged (generator average): samples per mode",
                                    "averaged (generator itself): samples per mode"])
    from genlab import live

    xs = {}
    for title, run in (("averaged, 3 steps, generator average", live.LiveRun.from_checkpoint(stem)),
                       ("averaged, 3 steps, generator itself", live.LiveRun.from_checkpoint(stem, average=False))):
        xs[title] = values(next(t for t in drawn[title] if t.get("name") == "generated")["x"])
        np.testing.assert_allclose(xs[title], run.generated(len(xs[title]))[:, 0], rtol=1e-5)
    # after 3 steps at β = 0.9 the average lags the generator
    assert np.abs(xs["averaged, 3 steps, generator average"] - xs["averaged, 3 steps, generator itself"]).max() > 1e-3
    table = at.dataframe[-1].value
    assert list(table["checkpoint"]) == [average, itself] and table["with DRS: modes / high quality / reverse KL"].iloc[1] == "–"


def test_mode_collapse_trained_view_offers_no_generator_itself_where_the_file_keeps_only_the_average(
        lab, monkeypatch, tmp_path):
    """A checkpoint saved with average_only holds no generator but its average: the picker must not offer
    "the generator itself" for it (it would draw the average under that name)."""
    from genlab.data import load_dataset
    from genlab.models import make_config
    from genlab.train import TrainConfig, fit

    grid = load_dataset("grid")
    monkeypatch.setenv("GENLAB_RUNS", str(tmp_path / "runs"))
    cfg = make_config("gan", "grid", grid.shape, latent_dim=2, ema_decay=0.9)
    fit(cfg, grid, TrainConfig(steps=3, batch_size=16, out=str(tmp_path / "runs" / "lean"), name="lean",
                               average_only=True), progress=False)
    at = open_page("3_Mode_collapse.py", {"view": "trained", "dataset": "grid"})
    assert at.multiselect(key="trained_ckpts").options == ["lean (gan, 3 steps, samples from its generator average)"]
    assert sorted(charts(at)) == ["lean (generator average): samples per mode", "lean, 3 steps, generator average"]


def test_mode_collapse_trained_view_counts_samples_per_mode_where_the_modes_are(lab, monkeypatch, tmp_path):
    """A generator pinned to one mode: the per-mode chart puts all 2,500 samples there and crosses out the rest."""
    from genlab.checkpoint import load_checkpoint, save_checkpoint
    from genlab.data import load_dataset
    from genlab.models import make_config
    from genlab.train import TrainConfig, fit

    grid = load_dataset("grid")
    monkeypatch.setenv("GENLAB_RUNS", str(tmp_path / "runs"))
    stem = tmp_path / "runs" / "pinned" / "model"
    fit(make_config("gan", "grid", grid.shape, latent_dim=2), grid,
        TrainConfig(steps=3, batch_size=16, out=str(stem.parent), name="pinned"), progress=False)
    model, meta = load_checkpoint(stem)
    last = model.nets["gen"].net.net[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.copy_(torch.tensor([2.0, -4.0]))  # every sample exactly on the mode at (2, −4)
    save_checkpoint(stem, model, meta)

    at = open_page("3_Mode_collapse.py", {"view": "trained", "dataset": "grid"})
    per_mode = charts(at)["pinned: samples per mode"]
    points = per_mode[0]
    at_mode = {(round(float(x)), round(float(y))): int(t)
               for x, y, t in zip(values(points["x"]), values(points["y"]), points["text"])}
    assert len(at_mode) == 25 and at_mode[(2, -4)] == 2500
    assert sum(at_mode.values()) == 2500
    assert sorted(points["marker"]["symbol"]) == ["circle"] + ["x-thin-open"] * 24
    row = at.dataframe[-1].value.iloc[0]
    assert row["modes"] == "1 / 25" and row["high quality"] == "100.0 %"


def test_mode_collapse_trained_view_without_a_2d_gan_says_how_to_get_one(lab):
    at = open_page("3_Mode_collapse.py", {"view": "trained", "dataset": "grid"})
    info = texts(at.info)
    assert "No GAN checkpoint trained on grid" in info and "genlab rebuild --only 'grid-gan*'" in info
    assert not at.get("plotly_chart")


# --------------------------------------------------------------------------- traversal: seeds of a study, and a run's timeline


@pytest.fixture(scope="module")
def seeds_lab(tmp_path_factory):
    """A study's trials (β 1 and 4 × seeds 0–2, tiny) with known MIGs stored, and a tiny capacity-annealed
    VAE that kept snapshots."""
    from genlab import study as S
    from genlab.checkpoint import update_metadata
    from genlab.data import load_dataset
    from genlab.models import make_config
    from genlab.train import TrainConfig, fit

    root = tmp_path_factory.mktemp("seeds")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        study = S.parse_study({"name": "tiny-sweep", "model": "beta-vae", "data": "dsprites", "steps": 10,
                               "train": {"batch_size": 8, "precision": "fp32", "ckpt_every": 10},
                               "fixed": {"latent_dim": 3}, "grid": {"beta": [1, 4], "seed": [0, 1, 2]}})
        out = root / "checkpoints" / "tiny-sweep"
        S.write_study_record(study, out)
        migs = {(1, 0): 0.02, (1, 1): 0.05, (1, 2): 0.03, (4, 0): 0.30, (4, 1): 0.10, (4, 2): 0.20}
        per_factor = {(4, 0): [0, 0, 0, 0.4, 0.3], (4, 1): [0, 0, 0, 0.3, 0.05], (4, 2): [0, 0, 0, 0.25, 0.22]}
        for t in S.trials(study):
            S.run_trial(study, t, out)
            key = (t.values["beta"], t.seed)
            update_metadata(out / t.name / "model", metrics={"mig": migs[key]},
                            metrics_info={"disentanglement": {"mig_per_factor": per_factor.get(key, [0, 0, 0, 0.01, 0.01])}})
        ds = load_dataset("dsprites")
        cfg = make_config("annealed-vae", "dsprites", ds.shape, latent_dim=3, capacity=25.0, capacity_steps=40, gamma=100.0)
        fit(cfg, ds, TrainConfig(steps=30, batch_size=8, out=str(root / "checkpoints" / "annealed"), name="annealed",
                                 ckpt_every=30, log_every=10, snapshot_every=10), progress=False)
    finally:
        torch.set_num_threads(threads)
    return root


def test_traversal_shows_the_median_seed_and_every_seed_of_a_study(seeds_lab, monkeypatch):
    monkeypatch.setenv("GENLAB_CHECKPOINTS", str(seeds_lab / "checkpoints"))
    monkeypatch.setenv("GENLAB_RUNS", str(seeds_lab / "runs"))
    at = open_page("1_Latent_traversal.py")
    assert at.selectbox(key="group").value == "study:tiny-sweep:dsprites:z3"
    assert at.select_slider(key="beta").value == 1.0
    seed_box = at.selectbox(key="train_seed|study:tiny-sweep:dsprites:z3|1.0")
    assert seed_box.value == 2 and seed_box.options[2].endswith("(median)")  # MIGs 0.02, 0.05, 0.03
    assert "beta-1_seed-2" in texts(at.caption)
    # the spread over seeds: one dot per seed, the median line through the medians, the sentence
    open_tab(at, "Across β")
    scores = charts(at)["Disentanglement scores vs β: every seed, and the median"]
    dots = next(d for d in scores if d["name"] == "MIG: each seed")
    assert sorted(zip(values(dots["x"]).tolist(), values(dots["y"]).tolist())) == sorted(
        [(1.0, 0.02), (1.0, 0.05), (1.0, 0.03), (4.0, 0.30), (4.0, 0.10), (4.0, 0.20)])
    median = next(d for d in scores if d["name"] == "MIG: median over seeds")
    assert values(median["y"]).tolist() == pytest.approx([0.03, 0.20])
    assert "β = 4: 2 of 3" in texts(at.markdown) and "β = 1: 0 of 3" in texts(at.markdown)
    # another seed: another checkpoint, and the URL says which
    open_tab(at, "Traversal")
    kl_before = charts(at)["KL per dimension (β = 1)"]
    at.selectbox(key="train_seed|study:tiny-sweep:dsprites:z3|1.0").set_value(0)
    rerun(at)
    assert "beta-1_seed-0" in texts(at.caption) and at.query_params["train_seed"] == "0"
    assert charts(at)["KL per dimension (β = 1)"] != kl_before
    # the β slider shows the new β's median seed
    at.select_slider(key="beta").set_value(4.0)
    rerun(at)
    assert "beta-4_seed-2" in texts(at.caption)


def test_traversal_deep_link_to_a_checkpoint_opens_its_beta_and_seed(seeds_lab, monkeypatch):
    monkeypatch.setenv("GENLAB_CHECKPOINTS", str(seeds_lab / "checkpoints"))
    monkeypatch.setenv("GENLAB_RUNS", str(seeds_lab / "runs"))
    path = str(seeds_lab / "checkpoints" / "tiny-sweep" / "beta-4_seed-0" / "model")
    at = open_page("1_Latent_traversal.py", {"ckpt": path})
    assert at.select_slider(key="beta").value == 4.0
    assert "beta-4_seed-0" in texts(at.caption) and "ckpt" not in at.query_params
    # a path the app does not list is ignored (never loaded)
    at = open_page("1_Latent_traversal.py", {"ckpt": "/etc/passwd"})
    assert at.select_slider(key="beta").value == 1.0 and "beta-1_seed-2" in texts(at.caption)


def test_traversal_timeline_scrubs_the_snapshots_of_a_capacity_annealed_run(seeds_lab, monkeypatch):
    monkeypatch.setenv("GENLAB_CHECKPOINTS", str(seeds_lab / "checkpoints"))
    monkeypatch.setenv("GENLAB_RUNS", str(seeds_lab / "runs"))
    gid = str(seeds_lab / "checkpoints" / "annealed" / "model")
    at = open_page("1_Latent_traversal.py", {"group": gid})
    key = f"step|{gid}"
    slider = at.select_slider(key=key)
    labels = list(slider.options)  # AppTest lists the options as the page formats them
    assert len(labels) == 3  # snapshots at steps 10, 20, 30 (the last is the checkpoint itself)
    assert "step 10 · C = 6.2 nats" in labels[0] and "step 30 · C = 18.8 nats" in labels[2]
    kl_end = charts(at)["KL per dimension"]
    slider.set_value(0)
    rerun(at)
    assert at.query_params["step"] == "10"
    assert "snapshots/step-0000010" in texts(at.caption)
    assert charts(at)["KL per dimension"] != kl_end
