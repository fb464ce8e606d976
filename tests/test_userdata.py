"""Your own data (genlab.userdata): points from a CSV, images from a folder or a zip.

Each kind trains, saves and reloads through `genlab train --data points:FILE / images:DIR` (tiny
models, a few steps); each malformed file gives one sentence naming it, exit status 2 and no run
folder; uploaded zips unpack safely; the modes of your points come from a clustering.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from genlab import userdata
from genlab.checkpoint import load_checkpoint
from genlab.cli import main
from genlab.data import load_dataset
from genlab.metrics.modes import mode_coverage

CENTRES = np.array([[0.0, 0.0], [3.0, 1.0], [-2.0, 2.5]])


def three_clusters(n: int = 80, std: float = 0.1, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([c + std * rng.standard_normal((n, 2)) for c in CENTRES])


def write_csv(path: Path, pts: np.ndarray, header: str | None = "x,y", sep: str = ",") -> Path:
    lines = ([header] if header else []) + [f"{a:.5f}{sep}{b:.5f}" for a, b in pts]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_images(folder: Path, n: int = 6, grey: bool = False, size=(40, 30)) -> Path:
    rng = np.random.default_rng(1)
    (folder / "sub").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        shape = size[::-1] if grey else (*size[::-1], 3)
        im = Image.fromarray((rng.random(shape) * 255).astype(np.uint8))
        im.save(folder / ("sub" if i % 2 else ".") / f"im{i}.{'png' if i % 3 else 'jpg'}")
    return folder


# --------------------------------------------------------------------------- specs


def test_specs_name_points_and_images_and_write_the_size_out(tmp_path):
    assert userdata.parse_spec("points:a.csv") == ("points", "a.csv", None)
    assert userdata.parse_spec("images@32:pics") == ("images", "pics", 32)
    assert userdata.parse_spec("ring") is None and userdata.parse_spec("points:") is None
    assert userdata.canonical_spec(f"images:{tmp_path}") == f"images@64:{tmp_path}"
    assert userdata.canonical_spec(f"images:{tmp_path}", 28) == f"images@28:{tmp_path}"
    with pytest.raises(userdata.UserDataError, match="give one size"):
        userdata.canonical_spec(f"images@32:{tmp_path}", 64)
    with pytest.raises(userdata.UserDataError, match="choose an image size of 8, 28, 32, 64"):
        userdata.canonical_spec(f"images@30:{tmp_path}")
    with pytest.raises(userdata.UserDataError, match="images:DIR only"):
        userdata.canonical_spec("points:a.csv", 32)
    assert userdata.short_name("points:/x/my moons.csv") == "points-my-moons"
    assert userdata.short_name("images@32:/x/faces") == "images32-faces"


# --------------------------------------------------------------------------- points


@pytest.mark.parametrize("header, sep", [("x,y", ","), (None, ","), ("a;b", ";"), (None, "\t"), (None, " ")])
def test_a_csv_with_or_without_header_reads_as_points(tmp_path, header, sep):
    pts = three_clusters()
    data = load_dataset(f"points:{write_csv(tmp_path / 'p.csv', pts, header, sep)}")
    assert data.kind == "points" and data.shape == (2,) and len(data) == len(pts)
    np.testing.assert_allclose(data.points, pts, atol=1e-5)
    batch = data.sample(32, torch.Generator().manual_seed(0))["x"]
    assert batch.shape == (32, 2) and batch.dtype == torch.float32
    assert data.source["sha256"] == userdata.hashlib.sha256((tmp_path / "p.csv").read_bytes()).hexdigest()


def test_the_modes_of_your_points_come_from_a_clustering():
    data = userdata.PointsData("three", three_clusters(n=150))
    assert data.modes["k"] == 3 and "chosen by BIC" in data.modes["method"]
    order = np.argsort(data.centres[:, 0])
    np.testing.assert_allclose(data.centres[order], CENTRES[np.argsort(CENTRES[:, 0])], atol=0.05)
    np.testing.assert_allclose(data.std, 0.1, rtol=0.25)
    np.testing.assert_allclose(data.weights, 1 / 3, atol=1e-6)
    # the data itself scores like samples of the true mixture: every mode, ~98.9 % high quality
    m = mode_coverage(data.points, data.centres, data.std, weights=data.weights)
    assert m["modes_captured"] == 3 and m["high_quality"] > 0.95 and m["reverse_kl"] < 0.01
    # a generator on one of the clusters only captures one mode
    one = CENTRES[0] + 0.1 * np.random.default_rng(5).standard_normal((500, 2))
    assert mode_coverage(one, data.centres, data.std, weights=data.weights)["modes_captured"] == 1


def test_mode_coverage_takes_one_std_per_mode():
    centres = np.array([[0.0, 0.0], [10.0, 0.0]])
    x = np.array([[0.5, 0.0], [10.5, 0.0]])  # 0.5 away from each mode
    m = mode_coverage(x, centres, np.array([0.1, 1.0]))  # within 3 std of the second mode only
    assert m["histogram"] == [0, 1] and m["high_quality"] == 0.5 and m["threshold"] == pytest.approx([0.3, 3.0])
    with pytest.raises(ValueError, match="3 stds for 2 modes"):
        mode_coverage(x, centres, np.array([0.1, 1.0, 2.0]))


def test_drawn_clusters_become_points_and_keep_each_others_places():
    one = [{"x": 1.0, "y": -1.0, "spread": 0.2, "n": 50}]
    two = one + [{"x": -3.0, "y": 2.0, "spread": 0.1, "n": 30}]
    a, b = userdata.points_from_clusters(one), userdata.points_from_clusters(two)
    assert len(a) == 50 and len(b) == 80
    np.testing.assert_array_equal(b.points[:50], a.points)  # adding a cluster leaves the first where it was
    np.testing.assert_allclose(b.points[50:].mean(0), [-3.0, 2.0], atol=0.06)
    assert userdata.parse_clusters(userdata.format_clusters(two)) == two
    for bad in ("1,2,3", "a,b,c,d", "0,0,0.1,5", "99,0,0.1,50", ";".join(["0,0,0.1,50"] * 21)):
        with pytest.raises(ValueError):
            userdata.parse_clusters(bad)


def test_a_selection_on_the_canvas_becomes_clusters():
    # what st.plotly_chart(on_select=...) puts in session state: a click, a dragged box, a lasso
    click = {"selection": {"points": [{"x": 1.5, "y": -2.0, "point_index": 3}], "box": [], "lasso": []}}
    assert userdata.cluster_from_selection(click, 0.3, 100) == [{"x": 1.5, "y": -2.0, "spread": 0.3, "n": 100}]
    box = {"selection": {"points": [{"x": 0, "y": 0}], "box": [{"x": [-1.0, 1.0], "y": [2.0, 3.0]}], "lasso": []}}
    assert userdata.cluster_from_selection(box, 0.3, 100) == [{"x": 0.0, "y": 2.5, "spread": 0.25, "n": 100}]
    lasso = {"selection": {"points": [], "box": [], "lasso": [{"x": [0, 2, 2, 0], "y": [0, 0, 2, 2]}]}}
    assert userdata.cluster_from_selection(lasso, 0.3, 60) == [{"x": 1.0, "y": 1.0, "spread": 0.5, "n": 60}]
    assert userdata.cluster_from_selection({"selection": {"points": [], "box": [], "lasso": []}}, 0.3, 60) == []


# --------------------------------------------------------------------------- images


def test_an_image_folder_is_resized_and_grey_stays_one_channel(tmp_path):
    colour = load_dataset(f"images:{write_images(tmp_path / 'c')}", image_size=32)
    assert colour.shape == (3, 32, 32) and len(colour) == 6
    x = colour.get(torch.arange(6))["x"]
    assert x.min() >= 0 and x.max() <= 1 and x.std() > 0.1
    assert colour.source["files"] == 6 and colour.source["channels"] == 3 and colour.source["image_size"] == 32
    grey = load_dataset(f"images@28:{write_images(tmp_path / 'g', grey=True)}")
    assert grey.shape == (1, 28, 28)
    # hidden files and other files are not images of the set
    (tmp_path / "g" / "notes.txt").write_text("hello")
    (tmp_path / "g" / ".hidden.png").write_bytes(b"junk")
    assert len(load_dataset(f"images@28:{tmp_path / 'g'}")) == 6


def test_transparent_png_is_composited_on_black(tmp_path):
    (tmp_path / "t").mkdir()
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[..., 0] = 255  # red, but fully transparent except one pixel block
    rgba[:8, :8, 3] = 255
    Image.fromarray(rgba, "RGBA").save(tmp_path / "t" / "a.png")
    img = load_dataset(f"images@8:{tmp_path / 't'}").get([0])["x"][0]
    assert img[0, :3, :3].min() > 0.9 and img[0, 5:, 5:].max() < 0.05 and img[1:].max() < 0.05


# --------------------------------------------------------------------------- genlab train on your data


def _train(tmp_path, data, model, *extra) -> int:
    return main(["train", "--model", model, "--data", data, "--steps", "4", "--batch-size", "8", "--latent-dim", "2",
                 "--out", str(tmp_path / "run"), "--quiet", "--ckpt-every", "4", *extra])


@pytest.mark.parametrize("model", ["gan", "wgan-gp", "vae"])
def test_a_csv_trains_saves_and_reloads(tmp_path, model):
    csv = write_csv(tmp_path / "pts.csv", three_clusters())
    assert _train(tmp_path, f"points:{csv}", model) == 0
    net, meta = load_checkpoint(tmp_path / "run" / "model")
    assert meta["config"]["data"] == f"points:{csv}" and meta["config"]["shape"] == [2]
    src = meta["data_source"]
    assert src["kind"] == "points" and src["path"] == str(csv) and src["rows"] == 240 and len(src["sha256"]) == 64
    # the config's spec reads the same data again, and says when it is gone or has changed
    assert userdata.source_problem(meta) is None
    again = load_dataset(meta["config"]["data"])
    assert again.shape == (2,) and net.sample(5, torch.Generator().manual_seed(0)).shape == (5, 2)
    write_csv(csv, three_clusters(seed=1))
    assert "has changed since this model was trained" in userdata.source_problem(meta)
    csv.unlink()
    assert "does not exist" in userdata.source_problem(meta)


def test_an_image_folder_trains_at_the_size_asked_saves_and_reloads(tmp_path):
    folder = write_images(tmp_path / "pics")
    assert _train(tmp_path, f"images:{folder}", "vae", "--image-size", "32") == 0
    net, meta = load_checkpoint(tmp_path / "run" / "model")
    assert meta["config"]["data"] == f"images@32:{folder}" and meta["config"]["shape"] == [3, 32, 32]
    assert meta["data_source"]["files"] == 6 and meta["data_source"]["channels"] == 3
    assert net.sample(2, torch.Generator().manual_seed(0)).shape == (2, 3, 32, 32)
    assert load_dataset(meta["config"]["data"]).shape == (3, 32, 32)
    assert userdata.source_problem(meta) is None


def test_a_run_on_your_data_is_named_after_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_csv(tmp_path / "moons.csv", three_clusters())
    assert main(["train", "--model", "gan", "--data", "points:moons.csv", "--steps", "2", "--batch-size", "8",
                 "--quiet"]) == 0
    assert (tmp_path / "runs" / "points-moons-gan" / "model.json").exists()


def _bad_files(tmp_path: Path) -> dict:
    """name: (--data value, extra args, words the sentence must hold)."""
    def csv(name, text):
        (tmp_path / name).write_text(text)
        return f"points:{tmp_path / name}"

    pics = write_images(tmp_path / "pics", n=2)
    (pics / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (tmp_path / "empty-dir").mkdir()
    (tmp_path / "a.zip").write_bytes(b"PK\x05\x06" + b"\0" * 18)
    return {
        "text in a number column": (csv("t.csv", "x,y\n1,2\n3,abc\n"), [], ["t.csv, line 3", "'abc' is not a number"]),
        "one column": (csv("o.csv", "\n".join(["1.5"] * 20)), [], ["o.csv, line 1 has one column"]),
        "three columns": (csv("c.csv", "1,2,3\n" * 20), [], ["c.csv, line 1 has 3 columns"]),
        "empty": (csv("e.csv", ""), [], ["e.csv is empty"]),
        "only a header": (csv("h.csv", "x,y\n"), [], ["h.csv has 0 points"]),
        "NaN": (csv("n.csv", "x,y\n" + "1,2\n" * 20 + "nan,1\n"), [], ["n.csv, line 22", "NaN"]),
        "infinity": (csv("i.csv", "1,2\n" * 20 + "1,inf\n"), [], ["i.csv, line 21", "NaN or infinity"]),
        "too few points": (csv("f.csv", "1,2\n3,4\n"), [], ["f.csv has 2 points", "at least 10"]),
        "not text": (csv("b.csv", ""), [], None),
        "missing file": (f"points:{tmp_path / 'nope.csv'}", [], ["nope.csv does not exist"]),
        "unreadable image": (f"images:{pics}", [], ["broken.jpg is not a readable PNG or JPEG image"]),
        "no images": (f"images:{tmp_path / 'empty-dir'}", [], ["empty-dir holds no PNG or JPEG images"]),
        "missing folder": (f"images:{tmp_path / 'gone'}", [], ["gone does not exist"]),
        "a zip, not a folder": (f"images:{tmp_path / 'a.zip'}", [], ["a.zip is a file, not a folder", "unzip"]),
        "wrong size": (f"images:{tmp_path / 'empty-dir'}", ["--image-size", "30"], ["--image-size", "invalid choice"]),
        "size for points": (f"points:{tmp_path / 't.csv'}", ["--image-size", "32"], ["images:DIR only"]),
        "unknown name": ("nope", [], ["unknown dataset 'nope'", "points:FILE.csv"]),
    }


def test_each_malformed_file_gives_its_sentence_exit_2_and_no_run_folder(tmp_path, capsys):
    cases = _bad_files(tmp_path)
    (tmp_path / "b.csv").write_bytes(b"\xff\xfe\x00\x01binary")
    cases["not text"] = (f"points:{tmp_path / 'b.csv'}", [], ["b.csv is not a text file"])
    for what, (data, extra, words) in cases.items():
        out = tmp_path / "runs" / "bad"
        code = 0
        try:
            code = main(["train", "--model", "gan", "--data", data, "--steps", "2", "--out", str(out), "--quiet",
                         *extra])
        except SystemExit as e:  # argparse's own refusals (an unknown name, a size not offered)
            code = e.code
        err = capsys.readouterr().err.strip()
        assert code == 2, (what, err)
        assert len(err.splitlines()) == 1 and "Traceback" not in err, (what, err)
        for w in words:
            assert w in err, (what, err)
        assert not (tmp_path / "runs").exists(), what  # nothing left behind


# --------------------------------------------------------------------------- uploaded zips


def _zip(entries: dict) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return buf.getvalue()


def _png(seed: int = 0, size=(12, 10)) -> bytes:
    buf = io.BytesIO()
    rng = np.random.default_rng(seed)
    Image.fromarray((rng.random((*size[::-1], 3)) * 255).astype(np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def test_a_zip_unpacks_its_images_flat_and_nowhere_else(tmp_path):
    root = tmp_path / "uploads"
    raw = _zip({"../../evil.png": _png(0), "/abs/x.png": _png(1), "cats/c1.jpg": _jpeg(), "cats/readme.txt": b"hi",
                "__MACOSX/cats/._c1.jpg": b"junk", ".hidden.png": b"junk", "dir/": b""})
    folder = userdata.unpack_image_zip(raw, "up.zip", root)
    assert folder.parent == root
    names = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
    assert names == ["00000-x.png", "00001-c1.jpg"]  # ../ entries are never used; an absolute one is written flat
    assert not (tmp_path / "evil.png").exists() and not Path("/abs/x.png").exists()
    assert sorted(p.name for p in root.iterdir()) == [folder.name]  # no temporary folder left
    assert userdata.unpack_image_zip(raw, "again.zip", root) == folder  # the same zip finds its folder
    data = load_dataset(f"images@8:{folder}")
    assert len(data) == 2 and data.shape == (3, 8, 8)


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((9, 9, 3), 120, np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


@pytest.mark.parametrize("entries, words", [
    ({"notes.txt": b"hi", "a/b.csv": b"1,2"}, ["up.zip holds no PNG or JPEG images", "among its 2 entries"]),
    ({"good.png": _png(), "bad.png": b"not a png"}, ["bad.png in up.zip is not a readable PNG or JPEG image"]),
    (None, ["up.zip is not a zip file"]),
])
def test_a_zip_with_nothing_usable_is_refused_and_leaves_nothing(tmp_path, entries, words):
    raw = b"this is no zip" if entries is None else _zip(entries)
    with pytest.raises(userdata.UserDataError) as e:
        userdata.unpack_image_zip(raw, "up.zip", tmp_path / "uploads")
    for w in words:
        assert w in str(e.value)
    left = list((tmp_path / "uploads").iterdir()) if (tmp_path / "uploads").exists() else []
    assert left == []


def test_a_zip_bomb_stops_at_the_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(userdata, "MAX_IMAGE_BYTES", 1000)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("big.png", b"\0" * 5_000_000)  # 5 MB of zeros deflate to a few kB
    assert len(buf.getvalue()) < 20_000
    with pytest.raises(userdata.UserDataError, match="big.png in bomb.zip is more than"):
        userdata.unpack_image_zip(buf.getvalue(), "bomb.zip", tmp_path / "uploads")
    assert not list((tmp_path / "uploads").iterdir())


def test_limits_are_stated_in_the_train_help(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "points:FILE.csv" in text and "images:DIR" in text and "--image-size {8,28,32,64}" in text
    assert "at most 20 MB with 10–200,000 rows" in text and "at most 20,000 PNG/JPEG files" in text


def test_data_source_is_recorded_in_the_sidecar_json(tmp_path):
    csv = write_csv(tmp_path / "pts.csv", three_clusters())
    assert _train(tmp_path, f"points:{csv}", "gan") == 0
    side = json.loads((tmp_path / "run" / "model.json").read_text())
    assert side["data_source"]["path"] == str(csv) and side["dataset"] == f"points:{csv}"


def test_genlab_eval_measures_models_of_your_data(tmp_path, capsys):
    csv = write_csv(tmp_path / "pts.csv", three_clusters())
    assert _train(tmp_path, f"points:{csv}", "gan") == 0
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "run" / "model"), "--fast", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["metrics"]["n_modes"] == 3 and "found by clustering" in res["info"]["modes"]["modes_from"]
    csv.write_text(csv.read_text() + "5,5\n")  # the data changed since training: said, and measured anyway
    assert main(["eval", str(tmp_path / "run" / "model"), "--fast", "--metrics", "modes"]) == 0
    assert "has changed since this model was trained" in capsys.readouterr().err
    # images of yours have no labels or factors: FD / precision / recall (a feature network) do not apply
    folder = write_images(tmp_path / "pics", n=8, grey=True)
    assert main(["train", "--model", "vae", "--data", f"images:{folder}", "--image-size", "8", "--steps", "2",
                 "--batch-size", "4", "--latent-dim", "2", "--out", str(tmp_path / "img"), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "img" / "model"), "--fast", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)["info"]
    assert {"latent", "sharpness"} <= set(info) and "quality" not in info
