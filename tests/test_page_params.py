"""Links a student can type: every query parameter of every page, out of range, of the wrong type,
unknown or path-like, falls back to its default with no exception, and the page names what it
ignored in one quiet caption; the Train form starts exactly what it shows or refuses with one
sentence and creates nothing (issue 29, "Bad input found in the browser").

The pages run under AppTest against the tiny lab of test_pages (z = 3, 20 steps): the tests check
the validation's wiring, not what the models learned.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from test_pages import TIMEOUT, charts, fresh_caches, lab, open_page, rerun, seeds_lab, texts  # noqa: F401

from genlab import runner, ui

# values that are wrong for every parameter they are tried on below (an empty list is the default)
BAD = ["-1", "1e99", "abc", "../x", "", "9" * 400, "%00<b>*$x$*</b>", "z" * 3000]


def ignored(at: AppTest) -> str:
    """The page's "Ignored in the link" caption, markdown escapes removed ('' when there is none)."""
    notes = [c.value for c in at.caption if c.value.startswith("Ignored in the link")]
    assert len(notes) <= 1, notes  # said once
    return notes[0].replace("\\", "") if notes else ""


def names_ignored(at: AppTest) -> set[str]:
    text = ignored(at).removeprefix("Ignored in the link: ")
    return {part.split("=", 1)[0] for part in text.split(", ") if "=" in part and " (" in part}


def bad_links(params: list[str], values=BAD) -> list[dict]:
    """len(values) links that give each parameter every value once (rotated, so each link mixes them)."""
    return [{p: values[(i + j) % len(values)] for j, p in enumerate(params)} for i in range(len(values))]


# --------------------------------------------------------------------------- the validator


@pytest.mark.parametrize("raw, cast, kw, value, why", [
    ("7", int, {"lo": 0, "hi": 10_000}, 7, None),
    (" 12 ", int, {"lo": 0, "hi": 10_000}, 12, None),
    ("1e3", int, {"lo": 0, "hi": 10_000}, 1000, None),
    ("99999999999", int, {"lo": 0, "hi": 10_000}, None, "must be 0–10,000"),
    ("-3", int, {"lo": 0, "hi": 10_000}, None, "must be 0–10,000"),
    ("1e99", int, {"lo": 0, "hi": 10_000}, None, "must be 0–10,000"),
    ("9" * 5000, int, {"lo": 0, "hi": 10_000}, None, "must be 0–10,000"),  # never handed to int()
    ("-" + "9" * 5000, int, {"lo": 0}, None, "must be at least 0"),
    ("abc", int, {"lo": 0, "hi": 10_000}, None, "not a number"),
    ("3.5", int, {}, None, "not a whole number"),
    ("", int, {}, None, "empty"),
    ("nan", float, {}, None, "not a number"),
    ("inf", float, {"lo": 0}, None, "not a number"),
    ("-inf", float, {"hi": 5}, None, "not a number"),
    ("0.25", float, {"lo": 0}, 0.25, None),
    ("-1", float, {"lo": 0}, None, "must be at least 0"),
    ("6", int, {"hi": 5}, None, "must be at most 5"),
    ("500", int, {"choices": [100, 200, 500, 1000]}, 500, None),
    ("300", int, {"choices": [100, 200, 500, 1000]}, None, "must be one of 100, 200, 500, 1000"),
    ("abc", int, {"choices": [100, 200, 500, 1000]}, None, "not a number"),
    ("foo", str, {"choices": ["live", "ab"]}, None, "must be one of live, ab"),
    ("ab", str, {"choices": ["live", "ab"]}, "ab", None),
    ("x", str, {"choices": [str(i) for i in range(20)]}, None, "not one of the 20 choices"),
    ("x", str, {"choices": ["a"], "what": "a listed checkpoint"}, None, "not a listed checkpoint"),
    ("TRUE", bool, {}, True, None),
    ("false", bool, {}, False, None),
    ("1", bool, {}, None, "must be true or false"),
    ("../runs/a", str, {"check": lambda s: runner.is_run_name(s), "what": "a run's name"}, None, "not a run's name"),
    ("a-run_1.2", str, {"check": lambda s: runner.is_run_name(s)}, "a-run_1.2", None),
    (["3", "4"], int, {"lo": 0}, 4, None),  # a repeated parameter: the last, as st.query_params reads it
])
def test_check_url_value(raw, cast, kw, value, why):
    assert ui.check_url_value(raw, cast, **kw) == (value, why)


def test_a_check_that_raises_is_a_no():
    def boom(v):
        raise ValueError("no")

    assert ui.check_url_value("x", str, check=boom, what="fine") == (None, "not fine")


def test_the_caption_text_is_one_line_cut_and_escaped():
    text = ui.ignored_text({"seed": ("99999999999", "must be 0–10,000"), "n": ("abc", "not a number")})
    assert text == "Ignored in the link: seed=99999999999 (must be 0–10,000), n=abc (not a number)"
    text = ui.ignored_text({"run": ("../" + "a\n" * 100 + "$x$*", "not a run's name")})
    shown = text.split("=", 1)[1]
    assert "\n" not in text and len(shown) < ui.SHOWN_CHARS * 2 + 30 and "…" in shown
    assert "\\.\\./" in text  # markdown characters escaped: the value is shown, never rendered
    assert "$" not in text.replace("\\$", "")
    assert ui.range_text(1) == "must be at least 1" and ui.range_text(hi=0.5) == "must be at most 0.5"


def _helpers_script():
    import streamlit as st

    from genlab import ui

    ui.url_notice()
    st.session_state["got"] = {
        "seed": ui.url_value("seed", 0, int, lo=0, hi=10_000),
        "n": ui.url_value("n", 500, int, choices=[100, 200, 500, 1000]),
        "view": ui.url_index("view", ["live", "ab"], "live"),
        "dims": ui.url_list("dims", ["z0"], ["z0", "z1", "z2"], what="a dimension"),
        "good": ui.url_value("good", 1.0, float, lo=0),
        "absent": ui.url_value("absent", "default", choices=["a"]),
    }
    st.write("drawn")


def test_url_helpers_fall_back_name_the_ignored_and_drop_them_from_the_url():
    at = AppTest.from_function(_helpers_script, default_timeout=TIMEOUT)
    for k, v in {"seed": "99999999999", "n": "abc", "view": "zzz", "dims": "z2,z9,z2,../x", "good": "2.5"}.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception
    assert at.session_state["got"] == {"seed": 0, "n": 500, "view": 0, "dims": ["z2"], "good": 2.5,
                                       "absent": "default"}
    assert ignored(at) == ("Ignored in the link: seed=99999999999 (must be 0–10,000), n=abc (not a number), "
                           "view=zzz (must be one of live, ab), dims=z9,../x (not a dimension)")
    assert "seed" not in at.query_params and "view" not in at.query_params and at.query_params["good"] == "2.5"
    # said once: the page's later runs follow its own URL, whose leftovers fall back without a word
    at.query_params["seed"] = "-3"
    at.run()
    assert at.session_state["got"]["seed"] == 0 and not ignored(at)


# --------------------------------------------------------------------------- the links of the issue


def test_traversal_links_with_a_prior_seed_out_of_range_draw_the_grid(lab):
    for seed in ("99999999999", "-3"):
        at = open_page("1_Latent_traversal.py", {"start": "prior", "seed": seed})
        assert "Traversal grid" in charts(at)
        assert at.number_input(key="seed").value == 0 and at.query_params["seed"] == "0"
        assert ignored(at) == f"Ignored in the link: seed={seed} (must be 0–10,000)"
    # a good link says nothing
    at = open_page("1_Latent_traversal.py", {"start": "prior", "seed": "7"})
    assert at.number_input(key="seed").value == 7 and not ignored(at)


def test_traversal_names_the_parameters_it_used_to_drop_silently(lab):
    at = open_page("1_Latent_traversal.py", {"beta": "abc", "index": "99999999999", "dims": "z1,z77",
                                             "group": "nope", "ckpt": "/etc/passwd"})
    assert "Traversal grid" in charts(at) and at.number_input(key="index").value == 0
    note = ignored(at)
    for part in ("beta=abc (not a number)", "index=99999999999 (must be 0–", "dims=z77 (not a dimension",
                 "group=nope (not a model family", "ckpt=/etc/passwd (not a checkpoint the app lists)"):
        assert part in note, (part, note)
    assert at.multiselect(key="dims").value == ["z1"]


def test_traversal_seed_and_step_of_a_study_and_a_timeline(seeds_lab, monkeypatch):
    monkeypatch.setenv("GENLAB_CHECKPOINTS", str(seeds_lab / "checkpoints"))
    monkeypatch.setenv("GENLAB_RUNS", str(seeds_lab / "runs"))
    at = open_page("1_Latent_traversal.py", {"train_seed": "99"})
    assert "train_seed=99 (not a seed trained at this β)" in ignored(at)
    assert "beta-1_seed-2" in texts(at.caption)  # the median seed, as without the link
    gid = str(seeds_lab / "checkpoints" / "annealed" / "model")
    at = open_page("1_Latent_traversal.py", {"group": gid, "step": "abc", "train_seed": "x"})
    assert "step=abc (not a number)" in ignored(at) and "train_seed=x (not a number)" in ignored(at)
    assert at.query_params["step"] == "30" and "train_seed" not in at.query_params


def test_blur_links_with_bad_seed_n_and_data_draw_the_comparison(lab):
    at = open_page("2_Blur_vs_sharpness.py", {"seed": "99999999", "n": "abc", "data": "nope", "section": "Sharpness"})
    assert "Laplacian variance (mean ± std over images)" in charts(at)
    assert at.number_input(key="seed").value == 0 and at.select_slider(key="n").value == 500
    note = ignored(at)
    assert "seed=99999999 (must be 0–10,000)" in note and "n=abc (not a number)" in note
    assert "data=nope (must be one of dsprites, digits)" in note
    at = open_page("2_Blur_vs_sharpness.py", {"seed": "-1", "section": "Sharpness"})
    assert "Laplacian variance (mean ± std over images)" in charts(at)
    assert ignored(at) == "Ignored in the link: seed=-1 (must be 0–10,000)"
    # a tab that is not there: the first tab, and the link's section named
    at = open_page("2_Blur_vs_sharpness.py", {"section": "Sharpnes"})
    assert "real data" in [c for im in at.image for c in im.captions] and not charts(at)
    assert ignored(at).startswith("Ignored in the link: section=Sharpnes (must be one of Pictures, Sharpness")


def test_other_pages_name_what_they_used_to_drop_silently(lab):
    at = open_page("3_Mode_collapse.py", {"view": "zzz", "loss": "foo", "seed": "99999", "lr": "1", "fm": "maybe"})
    assert DRAWN["3_Mode_collapse.py"](at)
    assert at.radio(key="view").value == "live" and at.number_input(key="seed").value == 0
    assert names_ignored(at) == {"view", "loss", "seed", "lr", "fm"}
    at = open_page("4_Code_space.py", {"method": "foo", "n": "7", "a": "-1"})
    assert at.radio(key="method").value == "PCA" and at.select_slider(key="n").value == 1000
    assert names_ignored(at) == {"method", "n", "a"}


def test_train_loads_no_run_through_a_path(lab, monkeypatch, tmp_path):
    runs, other = tmp_path / "runs", tmp_path / "other" / "elsewhere"
    monkeypatch.setenv("GENLAB_RUNS", str(runs))
    # a run the app could read, one folder beside runs/: ?run=../other/elsewhere used to load it
    from genlab.models import make_config
    from genlab.train import TrainConfig

    other.mkdir(parents=True)
    (other / "run.json").write_text(json.dumps({
        "run_id": "elsewhere", "config": make_config("gan", "ring", (2,)).to_dict(),
        "train": dataclasses.asdict(TrainConfig(steps=10, out=str(other)))}))
    assert runner.get_run("../other/elsewhere") is None and runner.get_run(str(other)) is None
    for link in ("../other/elsewhere", str(other), "..", ".hidden", "a/b", "a\\b"):
        at = open_page("5_Train.py", {"run": link})
        assert "run=" in ignored(at) and "not a run's name" in ignored(at), link
        assert not at.warning and not [h for h in at.subheader if h.value.startswith("Run ")], link
    assert not runs.exists()
    runner._RUNS.pop("elsewhere", None)


# --------------------------------------------------------------------------- every parameter, generated

PAGES = {  # page: (its parameters, those read whatever the others hold: each must be named)
    "1_Latent_traversal.py": (["ckpt", "group", "beta", "train_seed", "step", "start", "index", "seed", "dims", "section"],
                              ["ckpt", "group", "start", "index", "section"]),
    "2_Blur_vs_sharpness.py": (["data", "seed", "n", "ckpts", "space", "pair", "section"],
                               ["data", "seed", "n", "space", "pair", "section"]),
    "3_Mode_collapse.py": (["view", "dataset", "loss", "seed", "lr", "batch", "fm", "mbd", "ls", "noise", "ttur",
                            "consensus", "pack", "hist", "ema", "dsteps", "per_click"],
                           ["view", "dataset", "loss", "seed", "lr", "batch", "fm", "mbd", "ls", "noise", "ttur",
                            "consensus", "pack", "hist", "ema", "dsteps"]),
    "4_Code_space.py": (["ckpt", "method", "n", "colour", "prior", "a", "b"], ["ckpt", "method", "n", "colour", "prior",
                                                                              "a", "b"]),
    "5_Train.py": (["model", "data", "run"], ["model", "data"]),
    "9_Unified_view.py": (["ckpt", "vs", "n", "seed"], ["ckpt", "vs", "n", "seed"]),
    "app.py": (["page", "x"], []),
}
DRAWN = {  # what each page must still draw
    "1_Latent_traversal.py": lambda at: "Traversal grid" in charts(at),
    "2_Blur_vs_sharpness.py": lambda at: "real data" in [c for im in at.image for c in im.captions],  # the first tab
    "3_Mode_collapse.py": lambda at: len(at.get("plotly_chart")) >= 3,
    "4_Code_space.py": lambda at: len(at.get("plotly_chart")) == 1 and len(at.image) >= 1,
    "5_Train.py": lambda at: at.button(key="train_start") is not None,
    "9_Unified_view.py": lambda at: len(at.dataframe) >= 4,  # the correspondence tables, with no translator in the lab
    "app.py": lambda at: len(at.get("page_link")) == len(ui.PAGES),
}


@pytest.mark.parametrize("page", list(PAGES))
def test_generated_bad_values_for_every_parameter_of_every_page(lab, page):
    params, always = PAGES[page]
    for link in bad_links(params):
        at = open_page(page, link)  # fails on any exception
        assert DRAWN[page](at), (page, link)
        assert not at.error, (link, texts(at.error))
        named = names_ignored(at)
        # each parameter read for any link must be named whenever its value is wrong for it ("" is a
        # list parameter's default, and a valid run name such as "abc" is merely not found)
        missing = {p for p in always if p not in named}
        assert not missing, (page, link, ignored(at))


@pytest.mark.parametrize("view", ["ab", "labels", "trained"])
def test_generated_bad_values_for_each_view_of_mode_collapse(lab, view):
    params = ["dataset", "seed", "b_loss", "b_fm", "b_pack", "b_dsteps", "label_data"]
    always = {"ab": ["dataset", "seed", "b_loss", "b_fm", "b_pack", "b_dsteps"], "labels": ["label_data"],
              "trained": ["dataset"]}[view]
    for link in bad_links(params):
        at = open_page("3_Mode_collapse.py", {**link, "view": view})
        assert at.radio(key="view").value == view and not at.error
        assert set(always) <= names_ignored(at), (view, link, ignored(at))


def test_generated_bad_values_for_the_traversal_prior_and_a_timeline(seeds_lab, monkeypatch):
    monkeypatch.setenv("GENLAB_CHECKPOINTS", str(seeds_lab / "checkpoints"))
    monkeypatch.setenv("GENLAB_RUNS", str(seeds_lab / "runs"))
    gid = str(seeds_lab / "checkpoints" / "annealed" / "model")
    for link in bad_links(["seed", "step", "beta", "dims"]):
        at = open_page("1_Latent_traversal.py", {**link, "start": "prior", "group": gid})
        assert "Traversal grid" in charts(at) and not at.error
        assert {"seed"} <= names_ignored(at), (link, ignored(at))


def test_generated_bad_values_for_the_study_page(tmp_path, monkeypatch):
    from test_page_study import make_tiny_study

    make_tiny_study(tmp_path / "checkpoints" / "tiny-study")
    monkeypatch.setenv("GENLAB_CHECKPOINTS", str(tmp_path / "checkpoints"))
    monkeypatch.setenv("GENLAB_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("GENLAB_CACHE", str(tmp_path / "cache"))
    for link in bad_links(["study", "metric"]):
        at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "pages" / "6_Study.py"),
                               default_timeout=TIMEOUT)
        for k, v in link.items():
            at.query_params[k] = v
        at.run()
        assert not at.exception and not at.error
        assert at.selectbox(key="study").value == "tiny-study"
        assert names_ignored(at) == {"study", "metric"}, (link, ignored(at))


# --------------------------------------------------------------------------- the Train form


def _defaults(model: str) -> dict:
    return {f["name"]: f["default"] for f in runner.hyperparameter_fields(model)}


def test_every_model_s_paper_defaults_are_within_the_limits():
    for model in runner.MODELS:
        assert runner.check_run_settings(model, "digits", _defaults(model)) == [], model
        for f in runner.hyperparameter_fields(model):
            if isinstance(f["default"], (int, float)) and not isinstance(f["default"], bool) and not f["choices"]:
                assert f["limit"] is not None and f["range"], (model, f["name"])


@pytest.mark.parametrize("kw, says", [
    ({"steps": 0}, "Steps must be 1–1,000,000 (got 0)"),
    ({"batch_size": 99999}, "Batch size must be 1–4,096 (got 99,999)"),
    ({"seed": -1}, "Seed must be 0–1,000,000 (got -1)"),
    ({"steps": 2.5}, "Steps must be a whole number"),
    ({"overrides": {"lr": -1.0}}, "lr must be above 0 and at most 1 (got -1)"),
    ({"overrides": {"lr": math.nan}}, "lr must be a finite number"),
    ({"overrides": {"latent_dim": 0}}, "latent_dim must be 1–512 (got 0)"),
    ({"overrides": {"latent_dim": 2.5}}, "latent_dim must be a whole number"),
    ({"overrides": {"likelihood": "laplace"}}, "likelihood must be one of"),
    ({"overrides": {"warp": 1}}, "'warp' is not a setting"),
    ({"run_id": "../escape"}, "cannot name a run folder"),
    ({"run_id": "a b"}, "cannot name a run folder"),
])
def test_start_run_refuses_out_of_range_settings_before_any_folder(tmp_path, kw, says):
    before = dict(runner._RUNS)
    kw = {"steps": 5, "batch_size": 8, "run_id": "refused", **kw}
    with pytest.raises(ValueError) as e:
        runner.start_run("vae", "digits", root=tmp_path / "runs", **kw)
    msg = str(e.value)
    assert says in msg and "\n" not in msg and msg.endswith(".")
    assert not (tmp_path / "runs").exists() and runner._RUNS == before


def test_run_names_are_names_never_paths():
    for good in ("vae-digits-20260101-120000", "a.b_c-1", "x" * 100, "-a", "_a"):
        assert runner.is_run_name(good), good
    for bad in ("", ".", "..", "../x", ".hidden", "a/b", "a\\b", "/tmp/x", "a b", "x" * 101, "a\x00", "é", None, 3):
        assert not runner.is_run_name(bad), bad


def _train_form(at: AppTest, model="vae", data="digits", **fields) -> AppTest:
    at.selectbox(key="model").set_value(model)
    at.selectbox(key="data").set_value(data)
    rerun(at)
    for key, v in fields.items():
        at.number_input(key=key).set_value(v)
    at.button(key="train_start").click()
    return rerun(at)


@pytest.mark.parametrize("fields, says", [
    ({"train_steps": 0, "train_batch": 99999}, ["Steps must be 1–1,000,000 (got 0)",
                                                "Batch size must be 1–4,096 (got 99,999)"]),
    ({"train_steps": 0}, ["Steps must be 1–1,000,000 (got 0)"]),
    ({"train_batch": 99999}, ["Batch size must be 1–4,096 (got 99,999)"]),
    ({"hp_vae_lr": -1.0}, ["lr must be above 0 and at most 1 (got -1)"]),
    ({"train_seed": -5, "hp_vae_latent_dim": 0}, ["Seed must be 0–1,000,000 (got -5)", "latent_dim must be 1–512"]),
])
def test_the_train_form_refuses_out_of_range_values_and_creates_nothing(lab, monkeypatch, tmp_path, fields, says):
    runs = tmp_path / "runs"
    monkeypatch.setenv("GENLAB_RUNS", str(runs))
    before = dict(runner._RUNS)
    at = _train_form(open_page("5_Train.py"), **fields)
    (error,) = at.error
    assert error.value.startswith("Cannot start the run: ") and error.value.endswith(".") and ". " not in error.value
    for s in says:
        assert s in error.value, (s, error.value)
    assert "train_run" not in at.session_state and "run" not in at.query_params
    assert not runs.exists() or not any(runs.iterdir())
    assert runner._RUNS == before


def test_the_train_form_starts_exactly_what_it_shows(lab, monkeypatch, tmp_path):
    runs = tmp_path / "runs"
    monkeypatch.setenv("GENLAB_RUNS", str(runs))
    at = _train_form(open_page("5_Train.py"), model="gan", data="ring", train_steps=7, train_batch=5, train_seed=11,
                     **{"hp_gan_lr": 0.0003, "hp_gan_latent_dim": 3})
    assert not at.error, texts(at.error)
    run = runner.get_run(at.session_state["train_run"])
    try:
        snap = run.snapshot()
        assert snap["total"] == 7 and snap["train"]["batch_size"] == 5 and snap["train"]["seed"] == 11
        assert snap["config"]["lr"] == 0.0003 and snap["config"]["latent_dim"] == 3
        assert Path(snap["out"]).parent == runs
    finally:
        assert run.join(60)
        runner.forget_run(run.run_id)


def test_generated_bad_values_for_the_gan_applications_page(tmp_path, monkeypatch):
    """The GAN applications page against its own tiny lab (a text2image-gan and a caption reader): every
    parameter, given every bad value, is named as ignored and the page still draws its samples."""
    from test_page_gan_applications import make_t2i_lab

    monkeypatch.setenv("GENLAB_CHECKPOINTS", str(make_t2i_lab(tmp_path)))
    monkeypatch.setenv("GENLAB_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("GENLAB_CACHE", str(tmp_path / "cache"))
    params = ["ckpt", "caption", "n", "seed", "a", "b", "pick"]
    for link in bad_links(params):
        at = open_page("10_GAN_applications.py", link)
        assert not at.error, (link, texts(at.error))
        assert sum(c.startswith(("✓", "✗")) for im in at.image for c in im.captions) == 16, link
        # "" is a valid caption nowhere, so every parameter is named whatever it holds
        missing = set(params) - names_ignored(at)
        assert not missing, (link, ignored(at))
