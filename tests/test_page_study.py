"""The Study page under AppTest, against a tiny study built without Ray.

The study is 2 β × 2 seeds of a β-VAE on digits, z = 3, 20 steps of batch 16, each trial trained in
this process by genlab.study.run_trial (what a Ray task runs), measured with the "latent" group. MIG
along training needs dSprites, so the fixture writes each trial's curve.jsonl by hand with known
values: the page's MIG (the curve's last point) and its medians can then be checked exactly.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest
import streamlit as st
import torch
from streamlit.proto.WidgetStates_pb2 import WidgetStates
from streamlit.testing.v1 import AppTest
from test_pages import ROOT, TIMEOUT, values

from genlab import study as S

PAGE = ROOT / "pages" / "6_Study.py"
TINY_STUDY = {
    "name": "tiny-study", "model": "beta-vae", "data": "digits", "steps": 20, "metrics": ["latent"],
    "measure_every": 0, "description": "two βs, two seeds",
    "train": {"batch_size": 16, "precision": "fp32", "ckpt_every": 20, "log_every": 10},
    "fixed": {"latent_dim": 3, "lr": 1e-3},
    "grid": {"beta": [1.0, 4.0], "seed": [0, 1]},
    "published": {"kl_total": [0.5, 2.5]},
}


def curve_mig(beta: float, seed: int, step: int) -> float:
    """The MIG the fixture writes into a trial's curve at `step` (distinct for every trial)."""
    return round(0.05 * beta + 0.03 * seed + step / 1000, 4)


def make_tiny_study(out: Path) -> Path:
    """A finished 2 × 2 study in folder `out` (also used by test_browser): study.json, four trial
    folders trained by run_trial, and a hand-written MIG curve (steps 10 and 20) in each."""
    study = S.parse_study(TINY_STUDY)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    S.write_study_record(study, out)
    threads = torch.get_num_threads()
    try:
        for t in S.trials(study):
            S.run_trial(study, t, out, threads=1, device="cpu")
            rows = [{"step": s, "mig": curve_mig(t.values["beta"], t.seed, s), "mig_per_factor": []} for s in (10, 20)]
            (out / t.name / S.CURVE_FILE).write_text("".join(json.dumps(r) + "\n" for r in rows))
    finally:
        torch.set_num_threads(threads)
    return out


@pytest.fixture(scope="module")
def study_lab(tmp_path_factory):
    """checkpoints/tiny-study (the finished study), an empty runs folder, a private cache."""
    root = tmp_path_factory.mktemp("study_lab")
    make_tiny_study(root / "checkpoints" / "tiny-study")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GENLAB_CHECKPOINTS", str(root / "checkpoints"))
        mp.setenv("GENLAB_RUNS", str(root / "runs"))
        mp.setenv("GENLAB_CACHE", str(root / "cache"))
        yield root


@pytest.fixture(autouse=True)
def fresh_caches():
    st.cache_data.clear()
    st.cache_resource.clear()
    yield


def open_page(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(PAGE), default_timeout=TIMEOUT)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def figures(at: AppTest) -> dict:
    """{title: plotly spec} for every plotly chart on the page."""
    out = {}
    for el in at.get("plotly_chart"):
        spec = json.loads(el.proto.spec)
        out[spec["layout"]["title"]["text"]] = spec
    return out


def strip(at: AppTest) -> dict:
    (title,) = [t for t in figures(at) if "one dot per seed" in t]
    return figures(at)[title]


def dots(spec: dict) -> list[dict]:
    return [t for t in spec["data"] if t["name"].startswith("seed ")]


def records(folder) -> list[dict]:
    return S.results(folder)["trials"]


def table_with(at: AppTest, column: str):
    """The one dataframe on the page that has `column`."""
    (df,) = [d.value for d in at.dataframe if column in d.value.columns]
    return df


def texts(at: AppTest, kind: str) -> str:
    return " ".join(e.value for e in getattr(at, kind))


# --------------------------------------------------------------------------- the strip chart


def test_strip_chart_has_one_dot_per_trial_and_the_median_per_beta(study_lab):
    folder = study_lab / "checkpoints" / "tiny-study"
    at = open_page()
    assert at.selectbox(key="study").value == "tiny-study"
    # MIG (here the curve's last point, the only MIG a digits study has) comes first
    assert at.selectbox(key="metric").value == "curve_mig"
    assert at.selectbox(key="metric").options[0] == "MIG along the way (last)"
    spec = strip(at)
    seeds = dots(spec)
    assert [t["name"] for t in seeds] == ["seed 0", "seed 1"]
    assert sum(len(values(t["y"])) for t in seeds) == 4
    assert seeds[0]["marker"]["color"] != seeds[1]["marker"]["color"]
    recs = {r["trial"]: r for r in records(folder)}
    # each dot is its trial: y is the trial's value, hover names the trial, seed and steps
    for t in seeds:
        for (trial, seed, steps, path), y in zip(t["customdata"], values(t["y"])):
            assert y == pytest.approx(curve_mig(recs[trial]["beta"], seed, 20))
            assert recs[trial]["seed"] == seed and steps == 20 and path == recs[trial]["path"]
        assert "customdata[0]" in t["hovertemplate"] and "steps" in t["hovertemplate"]
    # seeds sit side by side: the two dots of one β have different x, both near β
    xs = sorted(float(t["x"][0]) for t in seeds)
    assert xs[0] != xs[1] and 0.5 < xs[0] < 1 < xs[1] < 2
    (median,) = [t for t in spec["data"] if t["name"] == "median"]
    want = [np.median([curve_mig(b, s, 20) for s in (0, 1)]) for b in (1.0, 4.0)]
    assert values(median["y"]) == pytest.approx(want)
    assert list(values(median["x"])) == [1.0, 4.0]
    assert spec["layout"]["xaxis"]["type"] == "log" and spec["layout"]["xaxis"]["tickvals"] == [1.0, 4.0]
    assert not spec["layout"].get("shapes"), "no published range for MIG in this study"
    assert at.query_params["study"] == "tiny-study" and at.query_params["metric"] == "curve_mig"


def test_the_measure_selector_changes_the_chart_and_shows_the_published_range(study_lab):
    folder = study_lab / "checkpoints" / "tiny-study"
    at = open_page()
    before = strip(at)
    assert "total KL (nats)" in at.selectbox(key="metric").options
    at.selectbox(key="metric").set_value("kl_total").run()
    assert not at.exception
    after = strip(at)
    assert after["layout"]["yaxis"]["title"]["text"] == "total KL (nats)"
    got = sorted(float(y) for t in dots(after) for y in values(t["y"]))
    assert got == pytest.approx(sorted(r["kl_total"] for r in records(folder)))
    assert got != sorted(float(y) for t in dots(before) for y in values(t["y"]))
    (band,) = after["layout"]["shapes"]
    assert (band["y0"], band["y1"]) == (0.5, 2.5)
    assert at.query_params["metric"] == "kl_total"
    # the URL sets the measure too
    at2 = open_page({"metric": "active_units"})
    assert at2.selectbox(key="metric").value == "active_units"


def test_the_study_parameter_picks_the_folder_and_a_path_is_ignored(study_lab, tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    other = runs / "studies" / "tiny-study"  # the same study run again by a user: same name, other folder
    shutil.copytree(study_lab / "checkpoints" / "tiny-study", other)
    monkeypatch.setenv("GENLAB_RUNS", str(runs))
    at = open_page({"study": "studies/tiny-study"})
    assert at.selectbox(key="study").options == [f"tiny-study · {study_lab / 'checkpoints' / 'tiny-study'}",
                                                 f"tiny-study · {other}"]
    assert at.selectbox(key="study").value == "studies/tiny-study"
    paths = {p for t in dots(strip(at)) for p in (c[3] for c in t["customdata"])}
    assert paths and all(p.startswith(str(other)) for p in paths)
    for bad in ("../x", "/etc", str(other), "studies/../../x"):
        at = open_page({"study": bad})
        assert at.selectbox(key="study").value == "tiny-study", bad
        assert at.query_params["study"] == "tiny-study"
        assert not at.error


# --------------------------------------------------------------------------- deep links


def click_dot(at: AppTest, trace: int, point: int) -> AppTest:
    """What a click on one dot of the strip chart sends (the browser's plotly selection event)."""
    (chart,) = [c for c in at.get("plotly_chart") if "one dot per seed" in json.loads(c.proto.spec)["layout"]["title"]["text"]]
    spec = json.loads(chart.proto.spec)
    t = spec["data"][[i for i, d in enumerate(spec["data"]) if d["name"].startswith("seed ")][trace]]
    pt = {"curve_number": trace, "point_number": point, "point_index": point, "x": t["x"][point],
          "y": float(values(t["y"])[point]), "customdata": t["customdata"][point]}
    ws: WidgetStates = at._tree.get_widget_states()
    w = ws.widgets.add()
    w.id = chart.proto.id
    w.string_value = json.dumps({"selection": {"points": [pt], "point_indices": [point], "box": [], "lasso": []}})
    at._run(ws)
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_a_dot_and_each_table_row_link_to_the_trial_on_the_traversal_page(study_lab):
    folder = study_lab / "checkpoints" / "tiny-study"
    recs = {r["trial"]: r for r in records(folder)}
    at = open_page()
    assert "Click a dot" in texts(at, "caption")
    trial = dots(strip(at))[1]["customdata"][0][0]  # seed 1's first dot
    click_dot(at, trace=1, point=0)
    link = f"/Latent_traversal?ckpt={quote(recs[trial]['path'], safe='')}"
    shown = texts(at, "markdown")
    assert link in shown and trial in shown and "Click a dot" not in texts(at, "caption")
    assert recs[trial]["path"].endswith(f"{trial}/model")
    # the table: one row per trial, each with its own link
    table = table_with(at, "open")
    assert list(table["trial"]) == list(recs)
    assert list(table["open"]) == [f"/Latent_traversal?ckpt={quote(recs[t]['path'], safe='')}" for t in table["trial"]]
    assert set(table["status"]) == {"done"} and set(table["step"]) == {"20 / 20"}
    summary = table_with(at, "seeds (done)")
    assert list(summary["beta"]) == [1.0, 4.0]
    lo, hi = sorted(curve_mig(1.0, s, 20) for s in (0, 1))
    assert summary["MIG along the way (last)"][0] == f"{np.median([lo, hi]):.3f} [{lo:.3f}, {hi:.3f}]"


def test_the_curves_chart_draws_one_line_per_trial_coloured_by_beta(study_lab):
    at = open_page()
    (title,) = [t for t in figures(at) if t.startswith("MIG along training")]
    lines = figures(at)[title]["data"]
    assert len(lines) == 4
    by_beta = {}
    for ln in lines:
        by_beta.setdefault(ln["legendgroup"], set()).add(ln["line"]["color"])
        assert list(values(ln["x"])) == [10, 20]
    assert sorted(by_beta) == ["beta = 1", "beta = 4"] and all(len(c) == 1 for c in by_beta.values())
    assert by_beta["beta = 1"] != by_beta["beta = 4"]
    assert sum(ln["showlegend"] for ln in lines) == 2


# --------------------------------------------------------------------------- empty state and starting a study


def test_without_a_study_the_page_says_what_a_study_is_and_how_to_run_one(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLAB_CHECKPOINTS", str(tmp_path / "checkpoints"))
    monkeypatch.setenv("GENLAB_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("GENLAB_STUDIES", str(ROOT / "studies"))
    at = open_page({"study": "tiny-study"})
    info = texts(at, "info")
    assert "genlab study run studies/beta-sweep.toml" in info and "trial" in info
    assert not at.get("plotly_chart") and not at.error
    assert at.button(key="study_start")  # a study can be started from the empty page


BROKEN = 'name = "broken"\nmodel = "beta-vae"\ndata = "digits"\nsteps = 10\n[grid]\nbeta = [1, 2\n'


def test_start_with_a_bad_study_file_says_one_sentence_and_creates_nothing(tmp_path, monkeypatch):
    studies = tmp_path / "studies"
    studies.mkdir()
    (studies / "broken.toml").write_text(BROKEN)
    (studies / "unknown.toml").write_text(BROKEN.replace("beta = [1, 2", "beta = [1, 2]").replace("beta-vae", "beta-vea"))
    runs = tmp_path / "runs"
    monkeypatch.setenv("GENLAB_STUDIES", str(studies))
    monkeypatch.setenv("GENLAB_CHECKPOINTS", str(tmp_path / "checkpoints"))
    monkeypatch.setenv("GENLAB_RUNS", str(runs))
    at = open_page()
    assert at.selectbox(key="study_file").options == ["broken.toml", "unknown.toml"]
    at.button(key="study_start").click().run()
    assert not at.exception
    (err,) = at.error
    assert "not valid TOML" in err.value and "broken.toml" in err.value and "\n" not in err.value
    at.selectbox(key="study_file").set_value("unknown.toml").run()
    at.button(key="study_start").click().run()
    (err,) = at.error
    assert "unknown model 'beta-vea'" in err.value and "\n" not in err.value
    # an output folder name that is a path is refused before anything is read
    at.text_input(key="study_out_unknown").set_value("../outside").run()
    at.button(key="study_start").click().run()
    (err,) = at.error
    assert "can only hold letters, digits, - and _" in err.value
    assert not runs.exists() and not (tmp_path / "outside").exists()
    assert not S.study_choices(tmp_path / "checkpoints", runs)


# --------------------------------------------------------------------------- the helpers behind the page


def test_measures_list_mig_first_and_the_output_name_is_checked(tmp_path):
    res = {"study": {"grid": {"beta": [1], "seed": [0]}},
           "trials": [{"trial": "a", "beta": 1, "seed": 0, "steps": 5, "curve_step": 5, "kl_total": 1.0,
                       "factor_vae": 0.5, "curve_mig": 0.2, "mig": 0.1, "status": "done"}]}
    assert S.metric_names(res) == ["mig", "curve_mig", "factor_vae", "kl_total"]
    assert S.study_out_folder(tmp_path, "beta_sweep-2") == tmp_path / "studies" / "beta_sweep-2"
    for bad in ("", "../x", "a/b", "a b", ".hidden"):
        with pytest.raises(S.StudyError, match="can only hold"):
            S.study_out_folder(tmp_path, bad)


def test_strip_data_takes_the_median_over_seeds_and_jitters_each_seed_alike():
    ys = {(1, 0): 0.0, (1, 1): 0.1, (1, 2): 0.5, (16, 0): 0.2, (16, 1): None, (16, 2): 0.6}
    res = {"study": {"grid": {"beta": [1, 16], "seed": [0, 1, 2]}, "published": {"mig": [0.1, 0.3]}},
           "trials": [{"trial": f"beta-{b}_seed-{s}", "beta": b, "seed": s, "steps": 5, "status": "done",
                       "path": f"x/beta-{b}_seed-{s}/model", **({"mig": y} if y is not None else {})}
                      for (b, s), y in ys.items()]}
    d = S.strip_data(res, "mig")
    assert d["median"]["x"] == [1, 16] and d["median"]["y"] == pytest.approx([0.1, 0.4])  # median, not mean (0.2)
    assert d["missing"] == ["beta-16_seed-1"] and len(d["dots"]) == 5
    assert d["axis"] == "log" and d["ticks"] == {"tickvals": [1.0, 16.0], "ticktext": ["1", "16"]}
    assert d["published"] == [0.1, 0.3]
    x = {(p["value"], p["seed"]): p["x"] for p in d["dots"]}
    assert x[(1, 0)] < 1 == x[(1, 1)] < x[(1, 2)]
    assert x[(16, 0)] / 16 == pytest.approx(x[(1, 0)]) and x[(16, 2)] / 16 == pytest.approx(x[(1, 2)])
    # values that are not all positive numbers: a linear axis
    res["study"]["grid"]["beta"] = [0, 16]
    for r in res["trials"]:
        r["beta"] = 0 if r["beta"] == 1 else r["beta"]
    assert S.strip_data(res, "mig")["axis"] == "linear"


def test_a_running_study_shows_its_progress_and_stop_ends_its_process(study_lab, tmp_path, monkeypatch):
    import socket
    import subprocess
    import time

    runs = tmp_path / "runs"
    folder = runs / "studies" / "live"
    shutil.copytree(study_lab / "checkpoints" / "tiny-study", folder)
    monkeypatch.setenv("GENLAB_RUNS", str(runs))
    trial = folder / "beta-4_seed-1"
    info = json.loads((trial / S.TRIAL_FILE).read_text())
    (trial / S.TRIAL_FILE).write_text(json.dumps({**info, "status": "running", "step": 10, "updated": time.time()}))
    at = open_page({"study": "studies/live"})
    (bar,) = at.get("progress")
    assert bar.proto.text == "3 of 4 trials done · 1 running" and bar.proto.value == 75
    busy = table_with(at, "of")
    assert list(busy["trial"]) == ["beta-4_seed-1"] and list(busy["step"]) == [10]
    assert "stop it there" in texts(at, "caption")
    assert not [b for b in at.button if b.key == "study_stop"], "no Stop without a driver started here"

    # started from the page: driver.json names the process, and Stop ends it
    proc = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        (folder / S.DRIVER_FILE).write_text(json.dumps({"pid": proc.pid, "host": socket.gethostname()}))
        at = open_page({"study": "studies/live"})
        at.button(key="study_stop").click().run()
        assert not at.exception
        assert proc.wait(timeout=10) is not None
        assert not S.background_driver(folder)["alive"]
    finally:
        if proc.poll() is None:
            proc.kill()


def test_a_trial_link_opens_that_trial_on_the_traversal_page(study_lab):
    from urllib.parse import parse_qs, urlsplit

    folder = study_lab / "checkpoints" / "tiny-study"
    link = table_with(open_page(), "open").set_index("trial")["open"]["beta-4_seed-1"]
    url = urlsplit(link)
    assert url.path == "/Latent_traversal"
    (ckpt,) = parse_qs(url.query)["ckpt"]  # what the browser's query string gives the page, decoded
    assert ckpt == str(folder / "beta-4_seed-1" / "model")
    at = AppTest.from_file(str(ROOT / "pages" / "1_Latent_traversal.py"), default_timeout=TIMEOUT)
    at.query_params["ckpt"] = ckpt
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.query_params["beta"] == "4" and at.query_params["train_seed"] == "1"
    assert f"`{ckpt}`" in texts(at, "caption"), "the page shows the linked checkpoint"
