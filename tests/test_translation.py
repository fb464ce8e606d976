"""Image translation: the two-domain dataset, the translation measures on constructed images with known
answers, the shape reader on dSprites, and `genlab translate` (its output and its refusals)."""

import numpy as np
import pytest
import torch
from torch import nn

from genlab import translation as T
from genlab.cli import main
from genlab.data import load_dataset
from genlab.models import GenerativeModel, make_config, split_domains


def _box(top, left, h, w, side=64):
    x = np.zeros((1, 1, side, side), np.float32)
    x[0, 0, top:top + h, left:left + w] = 1.0
    return x


# --------------------------------------------------------------------------- the data


def test_the_two_domain_batch_is_squares_then_ellipses_drawn_independently():
    data = load_dataset("dsprites-squares-ellipses")
    b = data.sample(7, torch.Generator().manual_seed(0))
    assert b["x"].shape == (7, 1, 64, 64)
    assert b["y"].tolist() == [0, 0, 0, 1, 1, 1, 1] and b["factors"][:, 0].tolist() == [0, 0, 0, 1, 1, 1, 1]
    a, bb = split_domains(b["x"])
    assert len(a) == 3 and len(bb) == 4
    assert len(data) == 491_520 and data.get([245_759, 245_760])["y"].tolist() == [0, 1]
    with pytest.raises(IndexError, match="491,520"):
        data.get([491_520])
    with pytest.raises(ValueError, match="at least 2 images"):
        split_domains(b["x"][:1])


# --------------------------------------------------------------------------- the measures


def test_an_identity_translation_keeps_position_and_size_exactly():
    x = np.concatenate([_box(10, 20, 8, 8), _box(40, 5, 12, 6)])
    assert T.centroid_shift(x, x).tolist() == [0.0, 0.0]
    assert T.area_ratio(x, x).tolist() == [1.0, 1.0]
    assert T.cycle_error(x, x).tolist() == [0.0, 0.0]
    assert T.lit_centroid(x)[0].tolist() == [13.5, 23.5] and T.lit_area(x).tolist() == [64.0, 72.0]


def test_a_moved_grown_or_blank_translation_is_measured_as_such():
    x = _box(10, 10, 8, 8)
    moved = _box(13, 14, 8, 8)  # 3 down, 4 right: 5 px
    assert T.centroid_shift(x, moved)[0] == pytest.approx(5.0)
    assert T.area_ratio(x, _box(10, 10, 16, 8))[0] == 2.0
    blank = np.zeros_like(x)
    assert np.isnan(T.centroid_shift(x, blank)[0]) and T.area_ratio(x, blank)[0] == 0.0
    row = T.summarise(np.concatenate([x, x, x]), np.concatenate([x, _box(20, 10, 8, 8), blank]),
                      np.concatenate([x, x, blank]), np.array([1, 1, -1]), target=1)
    assert row["position_kept"] == pytest.approx(1 / 3)  # 0 px kept; 10 px moved; blank counts as moved
    assert row["median_shift_px"] == 5.0 and row["blank"] == pytest.approx(1 / 3)
    assert row["cycle_error"] == pytest.approx(64 / 4096 / 3)  # one image lost its 64 lit pixels
    assert row["read_as_target"] == pytest.approx(2 / 3)
    assert row["cycle_iou"] == pytest.approx(2 / 3)  # two exact round trips; the third lost the sprite (IoU 0)
    assert T.lit_iou(x, _box(10, 14, 8, 8))[0] == pytest.approx(32 / 96)  # half the box shared
    assert T.lit_iou(x, _box(40, 40, 8, 8))[0] == 0.0


def test_the_shape_reader_reads_every_dsprites_square_and_ellipse():
    squares, ellipses = T.sprites_of_shape(0, 300, 1), T.sprites_of_shape(1, 300, 2)
    assert (T.read_shape(squares) == 0).all() and (T.read_shape(ellipses) == 1).all()
    assert T.elongation(_box(0, 0, 10, 10))[0] == pytest.approx(1.0)
    assert T.elongation(_box(0, 0, 10, 40))[0] == pytest.approx(4.0, rel=0.01)  # √(var ratio) of a 4:1 box
    assert T.read_shape(np.zeros((1, 1, 64, 64), np.float32)).tolist() == [-1]
    yy, xx = np.mgrid[:64, :64]
    discs = np.stack([((yy - 30) ** 2 + (xx - 33) ** 2 <= r * r) for r in (5, 8, 12)]).astype(np.float32)[:, None]
    assert T.read_shape(discs).tolist() == [2, 2, 2]  # a round blob is neither shape
    assert T.disc_fill(_box(0, 0, 20, 20))[0] == pytest.approx(400 / (np.pi * (np.sqrt(2) * 9.5 + 0.5) ** 2))


class _Sharp(nn.Module):
    """Logits whose sigmoid is (almost) the input image: an identity map."""

    def forward(self, x):
        return (x - 0.5) * 40.0


def test_measure_of_an_identity_translator_keeps_everything_and_changes_no_shape():
    model = GenerativeModel(make_config("cyclegan", "dsprites-squares-ellipses", (1, 64, 64))).eval()
    model.nets["gen"], model.nets["gen_ba"] = _Sharp(), _Sharp()
    res = T.measure(model, n=40)
    for direction in ("a2b", "b2a"):
        r = res[direction]
        assert r["position_kept"] == 1.0 and r["median_shift_px"] == 0.0 and r["median_area_ratio"] == 1.0
        assert r["cycle_error"] < 1e-6 and r["read_as_target"] == 0.0 and r["blank"] == 0.0
        assert r["cycle_iou"] == 1.0 and r["cycle_shape_kept"] == 1.0
    x = torch.from_numpy(T.sprites_of_shape(0, 3))
    assert torch.equal(model.cycle(x, "a2b"), model.translate(model.translate(x, "a2b"), "b2a"))
    assert (model.cycle(x, "b2a") - x).abs().max() < 1e-3  # an identity both ways comes back


# --------------------------------------------------------------------------- genlab translate


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("cg")
    assert main(["train", "--model", "cyclegan", "--data", "dsprites-squares-ellipses", "--steps", "20",
                 "--batch-size", "4", "--out", str(out / "run")]) == 0
    return out


def test_translate_writes_translations_and_round_trips(trained):
    x = T.sprites_of_shape(0, 5)
    np.savez(trained / "in.npz", images=x)
    for direction in ("a2b", "b2a"):
        assert main(["translate", str(trained / "run" / "model"), "--images", str(trained / "in.npz"),
                     "--out", str(trained / f"{direction}.npz"), "--direction", direction]) == 0
        with np.load(trained / f"{direction}.npz") as f:
            y, back = f["images"], f["cycled"]
        assert y.shape == back.shape == x.shape and y.dtype == np.float32 and 0 <= y.min() and y.max() <= 1
        model, _ = T.load_translator(trained / "run" / "model")
        assert np.array_equal(y, model.translate(torch.from_numpy(x), direction).numpy())


@pytest.mark.parametrize("case, says", [
    ("small", "must be N×1×64×64 (the translator's image size), got 3×1×8×8"),
    ("nokey", "holds no array 'images' (it has x)"),
    ("empty", "is empty"),
    ("range", "must be floats in [0, 1]"),
    ("missing", "not found"),
    ("vae", "is a vae checkpoint, not an image translator (cyclegan)"),
])
def test_translate_refuses_bad_input_in_one_sentence(trained, capsys, case, says):
    ckpt, images = str(trained / "run" / "model"), trained / f"{case}.npz"
    if case == "small":
        np.savez(images, images=np.zeros((3, 1, 8, 8), np.float32))
    elif case == "nokey":
        np.savez(images, x=np.zeros((3, 1, 64, 64), np.float32))
    elif case == "empty":
        images.write_bytes(b"")
    elif case == "range":
        np.savez(images, images=np.full((2, 1, 64, 64), 2.0, np.float32))
    elif case == "vae":
        assert main(["train", "--model", "vae", "--data", "digits", "--steps", "1", "--batch-size", "4",
                     "--out", str(trained / "vae")]) == 0
        ckpt = str(trained / "vae" / "model")
        np.savez(images, images=T.sprites_of_shape(0, 2))
    capsys.readouterr()
    assert main(["translate", ckpt, "--images", str(images), "--out", str(trained / "o.npz")]) == 2
    err = capsys.readouterr().err.strip()
    assert says in err and "\n" not in err and "Traceback" not in err


def test_the_train_page_s_background_run_trains_a_translator_and_shows_no_samples(tmp_path, monkeypatch):
    from genlab import runner
    from genlab.checkpoint import load_checkpoint

    monkeypatch.setenv("GENLAB_RUNS", str(tmp_path / "runs"))
    run = runner.start_run("cyclegan", "dsprites-squares-ellipses", {"cycle_weight": 5.0}, steps=4, batch_size=4,
                           seed=0, run_id="bg-cyclegan")
    assert run.join(120)
    snap = run.snapshot()
    assert snap["status"] == "finished", snap["error"]
    assert snap["samples"] is None and "g/cycle_a" in snap["history"][-1]
    model, meta = load_checkpoint(snap["checkpoint"])
    assert model.cfg.cycle_weight == 5.0 and meta["steps"] == 4
    runner._RUNS.pop("bg-cyclegan", None)


def test_the_new_settings_apply_only_where_they_mean_something():
    with pytest.raises(ValueError, match="cycle and identity weights apply to cyclegan, not vae"):
        make_config("vae", "digits", (1, 8, 8), cycle_weight=3.0)
    with pytest.raises(ValueError, match="cycle and identity weights apply to cyclegan, not gan"):
        make_config("gan", "digits", (1, 8, 8), identity_weight=5.0)
    with pytest.raises(ValueError, match="adversary weight applies to aavae, not gan"):
        make_config("gan", "digits", (1, 8, 8), adversary_weight=2.0)
    with pytest.raises(ValueError, match="cyclegan trains on images, not on points"):
        make_config("cyclegan", "ring", (2,))
    assert make_config("cyclegan", "digits", (1, 8, 8), cycle_weight=0.0, identity_weight=5.0).identity_weight == 5.0
    assert make_config("aavae", "digits", (1, 8, 8), adversary_weight=0.0).adversary_weight == 0.0
    model = GenerativeModel(make_config("cyclegan", "digits", (1, 8, 8)))
    for call in (lambda: model.sample(2), lambda: model.prior(2), lambda: model.decode(torch.zeros(2, 10))):
        with pytest.raises(ValueError, match="has no code z"):
            call()
    with pytest.raises(ValueError, match="unknown direction 'up'"):
        model.translate(torch.zeros(1, 1, 8, 8), "up")


def test_genlab_eval_stores_a_translator_s_measures_and_refuses_one_of_other_images(trained, tmp_path, capsys):
    import json

    from genlab.checkpoint import load_checkpoint

    path = trained / "run" / "model"
    assert main(["eval", str(path)]) == 0
    stored = json.loads(path.with_suffix(".json").read_text())["metrics"]
    model, _ = load_checkpoint(path)
    expected = T.measure(model, n=200, seed=1)  # the shipped figures' sprites
    assert stored == pytest.approx({f"{d}_{k}": v for d, row in expected.items() for k, v in row.items() if k != "n"},
                                   abs=1e-5)  # eval runs the convolutions channels-last
    assert 0 <= stored["a2b_read_as_target"] <= 1 and "a2b_n" not in stored
    assert main(["train", "--model", "cyclegan", "--data", "digits", "--steps", "2", "--batch-size", "4",
                 "--out", str(tmp_path / "digits-cg"), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "digits-cg" / "model")]) == 2
    err = capsys.readouterr().err.strip()
    assert "is an image translator (cyclegan) of 1×8×8 images" in err and "genlab translate" in err and "\n" not in err
