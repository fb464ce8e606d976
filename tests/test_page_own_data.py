"""Your own data on the pages (AppTest): the Mode-collapse page trains live on an uploaded CSV or on
clusters drawn with the mouse or the form, with modes found by clustering and said so; its trained
view finds a points GAN's data again or says what is missing; the Train page trains on an uploaded
zip of images and refuses a bad one with one sentence and no run folder.
"""

from __future__ import annotations

import io
import json
import time
import zipfile

import numpy as np
import pytest
import streamlit as st
from PIL import Image
from test_page_params import ignored
from test_pages import charts, fresh_caches, lab, metric, open_page, rerun, texts, values  # noqa: F401

from genlab import runner, userdata

CENTRES = np.array([[0.0, 0.0], [3.0, 1.0], [-2.0, 2.5]])


def csv_bytes(n: int = 100, std: float = 0.1) -> bytes:
    rng = np.random.default_rng(0)
    pts = np.concatenate([c + std * rng.standard_normal((n, 2)) for c in CENTRES])
    return ("x,y\n" + "".join(f"{a:.5f},{b:.5f}\n" for a, b in pts)).encode()


# --------------------------------------------------------------------------- Mode collapse: a CSV


def test_mode_collapse_trains_live_on_an_uploaded_csv_with_modes_from_a_clustering(lab):
    at = open_page("3_Mode_collapse.py", {"dataset": "csv"})
    assert "Upload a CSV of points" in texts(at.info) and not at.get("plotly_chart")
    at.file_uploader(key="points_csv").set_value(("three.csv", csv_bytes(), "text/csv"))
    rerun(at)
    assert not at.error, texts(at.error)
    assert metric(at, "Step") == "0" and metric(at, "Modes captured").endswith("/ 3")
    note = texts(at.caption)
    assert "Modes from a clustering" in note and "found by clustering the data" in note and "chosen by BIC" in note
    assert "The data itself scores 3 / 3 modes" in note
    field = charts(at)["non-saturating"]
    real = np.stack([values(field[1]["x"]), values(field[1]["y"])], 1)
    assert np.abs(real.mean(0) - CENTRES.mean(0)).max() < 0.3  # the uploaded points are the real data
    run = at.session_state["run_a"][1]
    assert run.data.modes["k"] == 3 and run.cfg.shape == (2,)
    per_mode = charts(at)["samples per mode (step 0)"][0]
    centres = np.stack([values(per_mode["x"]), values(per_mode["y"])], 1)
    order = np.argsort(centres[:, 0])
    np.testing.assert_allclose(centres[order], CENTRES[np.argsort(CENTRES[:, 0])], atol=0.05)  # the modes' places

    at.number_input(key="per_click").set_value(10)
    at.button(key="step").click()
    rerun(at)
    assert metric(at, "Step") == "10"
    assert not np.array_equal(values(charts(at)["non-saturating"][2]["x"]), values(field[2]["x"]))


@pytest.mark.parametrize("content, words", [
    (b"x,y\n1,2\n3,abc\n", "bad.csv, line 3: 'abc' is not a number"),
    (b"1\n2\n3\n", "bad.csv, line 1 has one column"),
    (b"", "bad.csv is empty"),
    (b"x,y\n" + b"1,2\n" * 12 + b"nan,1\n", "bad.csv, line 14"),
])
def test_mode_collapse_says_what_is_wrong_with_a_bad_csv(lab, content, words):
    at = open_page("3_Mode_collapse.py", {"dataset": "csv"})
    at.file_uploader(key="points_csv").set_value(("bad.csv", content, "text/csv"))
    rerun(at)
    assert len(at.error) == 1 and words in at.error[0].value
    assert not at.get("plotly_chart") and "run_a" not in at.session_state


# --------------------------------------------------------------------------- Mode collapse: drawn clusters


def test_a_cluster_added_on_the_page_appears_in_the_data_and_the_link(lab):
    at = open_page("3_Mode_collapse.py", {"dataset": "draw"})
    assert "No clusters yet" in texts(at.info)
    canvas = charts(at)["draw: click a point, or drag a box"]
    assert canvas[0]["name"] == "click: a cluster here" and len(values(canvas[0]["x"])) == 49 * 49
    # the canvas reports clicks, boxes and lassos to the page (st.plotly_chart's on_select)
    (chart,) = [c for c in at.get("plotly_chart") if "draw:" in c.proto.spec]
    assert set(chart.proto.selection_mode) == {0, 1, 2}  # points, box, lasso

    at.number_input(key="draw_x").set_value(2.0)
    at.number_input(key="draw_y").set_value(-1.0)
    at.number_input(key="draw_spread").set_value(0.1)
    at.number_input(key="draw_n").set_value(150)
    at.button(key="draw_add").click()
    rerun(at)
    assert at.session_state["clusters"] == [{"x": 2.0, "y": -1.0, "spread": 0.1, "n": 150}]
    assert at.query_params["clusters"] == "2,-1,0.1,150"
    run = at.session_state["run_a"][1]
    pts = run.data.points
    assert len(pts) == 150 and np.abs(pts.mean(0) - [2.0, -1.0]).max() < 0.05
    assert metric(at, "Modes captured").endswith("/ 1")
    drawn = charts(at)["draw: click a point, or drag a box"]
    assert [t["name"] for t in drawn] == ["click: a cluster here", "your points", "cluster centres"]
    assert "found by clustering the data" in texts(at.caption)

    # a second cluster: both in the data, the first where it was; Remove the last takes it away
    at.number_input(key="draw_x").set_value(-3.0)
    at.button(key="draw_add").click()
    rerun(at)
    run2 = at.session_state["run_a"][1]
    assert len(run2.data.points) == 300 and np.array_equal(run2.data.points[:150], pts)
    assert metric(at, "Modes captured").endswith("/ 2") and run2 is not run
    at.button(key="draw_undo").click()
    rerun(at)
    assert len(at.session_state["run_a"][1].data.points) == 150


def test_drawn_clusters_come_back_from_the_link_and_a_bad_link_is_named(lab):
    at = open_page("3_Mode_collapse.py", {"dataset": "draw", "clusters": "0,0,0.1,100;3,3,0.2,100"})
    assert len(at.session_state["run_a"][1].data.points) == 200 and metric(at, "Modes captured").endswith("/ 2")
    for bad in ("0,0,0.1", "a,b,c,d", "0,0,99,100", ";".join(["0,0,0.1,50"] * 21)):
        at = open_page("3_Mode_collapse.py", {"dataset": "draw", "clusters": bad})
        assert "clusters=" in ignored(at) and "No clusters yet" in texts(at.info) and not at.error


def test_the_ab_view_trains_both_runs_on_your_points(lab):
    at = open_page("3_Mode_collapse.py", {"view": "ab", "dataset": "draw", "clusters": "0,0,0.1,100;3,3,0.2,100"})
    a, b = at.session_state["run_a"][1], at.session_state["run_b"][1]
    assert a.data is b.data and len(a.data) == 200 and b.cfg.model == "wgan-gp"
    assert [m.value.endswith("/ 2") for m in at.metric if m.label == "Modes captured"] == [True, True]


# --------------------------------------------------------------------------- Mode collapse: trained on your points


def test_the_trained_view_finds_a_points_gan_and_says_when_its_data_is_gone(lab, monkeypatch, tmp_path):
    from genlab.cli import main

    monkeypatch.setenv("GENLAB_RUNS", str(tmp_path / "runs"))
    csv = tmp_path / "three.csv"
    csv.write_bytes(csv_bytes())
    assert main(["train", "--model", "gan", "--data", f"points:{csv}", "--steps", "3", "--batch-size", "16",
                 "--latent-dim", "2", "--out", str(tmp_path / "runs" / "mine"), "--quiet"]) == 0
    at = open_page("3_Mode_collapse.py", {"view": "trained", "dataset": "points"})
    assert at.radio(key="dataset").value == "points"
    assert "mine, 3 steps" in charts(at) and at.dataframe[-1].value.iloc[0]["modes"].endswith("/ 3")
    assert "Modes from a clustering" in texts(at.caption) and not at.warning
    csv.write_bytes(csv_bytes(n=120))
    at = open_page("3_Mode_collapse.py", {"view": "trained", "dataset": "points"})
    assert "three.csv has changed since this model was trained" in texts(at.warning)
    csv.unlink()
    at = open_page("3_Mode_collapse.py", {"view": "trained", "dataset": "points"})
    assert "three.csv does not exist" in texts(at.warning) and at.error and not at.get("plotly_chart")


def test_the_trained_view_without_a_points_gan_says_how_to_train_one(lab):
    at = open_page("3_Mode_collapse.py", {"view": "trained", "dataset": "points"})
    assert "genlab train --model gan --data points:FILE.csv" in texts(at.info)


# --------------------------------------------------------------------------- Train: a zip of your images


def zip_of_images(n: int = 6, bad: bool = False) -> bytes:
    rng = np.random.default_rng(2)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for i in range(n):
            img = io.BytesIO()
            Image.fromarray((rng.random((20, 24, 3)) * 255).astype(np.uint8)).save(img, "PNG")
            z.writestr(f"pics/{i}.png", img.getvalue())
        z.writestr("pics/notes.txt", b"not an image")
        if bad:
            z.writestr("pics/broken.png", b"not a png at all")
    return buf.getvalue()


def test_the_train_page_trains_on_an_uploaded_zip_and_the_checkpoint_says_where_it_came_from(lab, monkeypatch,
                                                                                             tmp_path):
    runs = tmp_path / "runs"
    monkeypatch.setenv("GENLAB_RUNS", str(runs))
    at = open_page("5_Train.py", {"model": "vae", "data": "images-zip"})
    assert "Upload a zip of your images" in texts(at.info) and at.button(key="train_start").disabled
    at.file_uploader(key="train_zip").set_value(("pics.zip", zip_of_images(), "application/zip"))
    at.selectbox(key="train_image_size").set_value(32)
    rerun(at)
    assert not at.error, texts(at.error)
    assert "pics.zip: 6 colour images at 32×32" in texts(at.caption) and len(at.image[0].value) == 6
    at.number_input(key="train_steps").set_value(4)
    at.number_input(key="train_batch").set_value(4)
    at.text_input(key="train_name").input("mine")
    at.button(key="train_start").click()
    rerun(at)
    deadline = time.monotonic() + 90
    while not at.success and time.monotonic() < deadline:
        assert not at.error, texts(at.error)
        time.sleep(0.5)
        rerun(at)
    assert "Finished at step 4" in texts(at.success)
    meta = json.loads((runs / "mine" / "model.json").read_text())
    (folder,) = [p for p in (runs / "uploads").iterdir()]
    assert meta["config"]["data"] == f"images@32:{folder}" and meta["config"]["shape"] == [3, 32, 32]
    src = meta["data_source"]
    assert src["uploaded_as"] == "pics.zip" and src["files"] == 6 and src["path"] == str(folder)
    assert userdata.source_problem(meta) is None
    runner.forget_run("mine")


def test_the_train_page_refuses_a_zip_with_nothing_usable_and_leaves_nothing(lab, monkeypatch, tmp_path):
    runs = tmp_path / "runs"
    monkeypatch.setenv("GENLAB_RUNS", str(runs))
    at = open_page("5_Train.py", {"model": "vae", "data": "images-zip"})
    for name, raw, words in (("notes.zip", b"PK\x05\x06" + b"\0" * 18, "notes.zip holds no PNG or JPEG images"),
                             ("bad.zip", zip_of_images(2, bad=True), "pics/broken.png in bad.zip is not a readable"),
                             ("text.zip", b"hello", "text.zip is not a zip file")):
        at.file_uploader(key="train_zip").set_value((name, raw, "application/zip"))
        rerun(at)
        assert len(at.error) == 1 and words in at.error[0].value, texts(at.error)
        assert at.button(key="train_start").disabled
    assert not runs.exists() or not [p for p in runs.rglob("*") if p.is_file()]  # no run folder, nothing unpacked


# --------------------------------------------------------------------------- other pages: the data found again, or missing


def test_pages_find_a_models_own_images_again_or_say_the_folder_is_gone(lab, monkeypatch, tmp_path):
    from genlab.cli import main

    pics = tmp_path / "pics"
    pics.mkdir()
    rng = np.random.default_rng(0)
    for i in range(12):
        Image.fromarray((rng.random((16, 16)) * 255).astype(np.uint8)).save(pics / f"{i}.png")
    assert main(["train", "--model", "vae", "--data", f"images:{pics}", "--image-size", "8", "--steps", "3",
                 "--batch-size", "4", "--latent-dim", "3", "--out", str(tmp_path / "ck" / "mine"), "--quiet"]) == 0
    monkeypatch.setenv("GENLAB_CHECKPOINTS", str(tmp_path / "ck"))
    at = open_page("4_Code_space.py")
    assert not at.error and len(at.get("plotly_chart")) == 1  # the codes of the model's own images
    for f in pics.iterdir():
        f.unlink()
    pics.rmdir()
    st.cache_data.clear()  # a fresh server: nothing cached from when the folder was there
    st.cache_resource.clear()
    at = open_page("4_Code_space.py")
    assert len(at.error) == 1 and f"{pics} does not exist: put your PNG or JPEG images there" in at.error[0].value
