"""The VAE failure modes page under AppTest, against tiny pixelcnn-vae checkpoints (z = 3, 10 steps)
and a tiny precomputed run of the ellipse demo: it draws both sections, its sliders change what it
draws, its link parameters set the view or are named as ignored, and its empty states say what to do."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import lab_env, one_thread, run_page
from streamlit.testing.v1 import AppTest
from test_pages import fresh_caches  # noqa: F401  (autouse: cold Streamlit caches for every test)

from genlab import failure_modes as fm

ROOT = Path(__file__).resolve().parents[1]
PAGE = str(ROOT / "pages" / "7_VAE_failure_modes.py")
TIMEOUT = 180
TINY = {"r0": {"pixel_reach": 0}, "r2": {"pixel_reach": 2}, "r7": {"pixel_reach": 7},
        "r7-fb": {"pixel_reach": 7, "free_bits": 0.5}}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    from genlab.data import load_dataset
    from genlab.models import make_config
    from genlab.train import TrainConfig, fit

    root = tmp_path_factory.mktemp("failure-lab")
    with one_thread():
        data = load_dataset("digits-binary")
        for name, kw in TINY.items():
            cfg = make_config("pixelcnn-vae", "digits-binary", data.shape, latent_dim=3, **kw)
            fit(cfg, data, TrainConfig(steps=10, batch_size=16, out=str(root / "checkpoints" / name), name=name,
                                       ckpt_every=10, log_every=5), progress=False)
        runs = {k: fm.posterior_paths(k, n_train=20, n_test=10, steps=6, every=3, batch_size=8) for k in fm.PATH_MODELS}
        fm.save_paths(runs, root / "checkpoints" / fm.PATHS_FOLDER)
    with lab_env(root):
        yield root


def open_page(query: dict | None = None) -> AppTest:
    return run_page(PAGE, query, TIMEOUT)


def charts(at: AppTest) -> dict:
    """{title: plotly data} of every chart on the page."""
    out = {}
    for i, el in enumerate(at.get("plotly_chart")):
        spec = json.loads(el.proto.spec)
        out[spec.get("layout", {}).get("title", {}).get("text", f"chart {i}")] = spec["data"]
    return out


def ignored(at: AppTest) -> str:
    notes = [c.value for c in at.caption if c.value.startswith("Ignored in the link")]
    return notes[0].replace("\\", "") if notes else ""


def test_the_page_draws_both_sections_and_the_reach_slider_moves_the_kl(lab):
    at = open_page()
    assert not at.error, [e.value for e in at.error]
    titles = list(charts(at))
    assert "KL per dimension" in titles and "The code's use against the decoder's reach" in titles
    assert sum(t.startswith("VAE (ELBO) · step") or t.startswith("InfoVAE") for t in titles) == len(fm.PATH_MODELS)
    assert {"Mean posterior std", "Spread of the means"} <= set(titles)
    slider = at.select_slider(key="reach")
    assert slider.value == 7 and list(slider.options) == ["0 (factorised)", "2", "7 (every earlier pixel)"]
    # at reach 7 the objective can be the ELBO or free bits
    assert [str(o) for o in at.radio(key="fix|digits-binary|7").options] == ["the ELBO", "free bits λ = 0.5"]
    kl7 = charts(at)["KL per dimension"][0]["y"]
    assert len(at.image) == 3  # the image, the traversal grid, the samples
    at.select_slider(key="reach").set_value(0)
    at = _rerun(at)
    assert at.query_params["reach"] == "0"
    assert charts(at)["KL per dimension"][0]["y"] != kl7
    assert [str(o) for o in at.radio(key="fix|digits-binary|0").options] == ["the ELBO"]


def test_the_step_slider_moves_the_ellipses(lab):
    at = open_page()
    first = {k: v for k, v in charts(at).items() if k.startswith("VAE (ELBO)")}
    assert list(first) == ["VAE (ELBO) · step 6"]
    at.select_slider(key="step").set_value(0)
    at = _rerun(at)
    now = {k: v for k, v in charts(at).items() if k.startswith("VAE (ELBO)")}
    assert list(now) == ["VAE (ELBO) · step 0"] and now["VAE (ELBO) · step 0"][1]["x"] != first["VAE (ELBO) · step 6"][1]["x"]


def test_link_parameters_set_the_view_and_bad_ones_are_named(lab):
    at = open_page({"reach": "2", "step": "3", "index": "5", "fix": "r7-fb"})
    assert at.select_slider(key="reach").value == 2 and at.select_slider(key="step").value == 3
    assert at.number_input(key="index").value == 5
    assert "fix=" in ignored(at)  # r7-fb is not a checkpoint at reach 2
    at = open_page({"reach": "7", "fix": "r7-fb"})
    assert at.radio(key="fix|digits-binary|7").value == 1
    at = open_page({"reach": "abc", "step": "-4", "index": "99999", "fix": "../x"})
    assert not at.error and at.select_slider(key="reach").value == 7
    said = ignored(at)
    for name in ("reach=", "step=", "index=", "fix="):
        assert name in said, said


def test_without_checkpoints_or_a_precomputed_run_the_page_says_what_to_do(lab, monkeypatch, tmp_path):
    monkeypatch.setenv("GENLAB_CHECKPOINTS", str(tmp_path / "empty"))
    at = open_page()
    infos = " ".join(i.value for i in at.info)
    assert "No pixelcnn-vae checkpoint yet" in infos and "genlab rebuild --only" in infos
    assert "No precomputed run" in infos and at.button(key="train_paths") is not None


def _rerun(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_generated_bad_values_for_every_parameter(lab):
    """As tests/test_page_params.py does for the other pages: every link parameter given every bad value
    (out of range, wrong type, path-like, huge, markup) falls back, draws the page and is named."""
    from test_page_params import bad_links, names_ignored

    for link in bad_links(["data", "reach", "fix", "index", "step"]):
        at = open_page(link)  # fails on any exception
        assert not at.error, link
        assert at.select_slider(key="reach").value == 7 and at.select_slider(key="step").value == 6
        assert "KL per dimension" in charts(at)
        # data is read only when there is more than one data set to choose from
        assert {"reach", "fix", "index", "step"} <= names_ignored(at), (link, ignored(at))
