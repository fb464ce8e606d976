"""GAN applications: `genlab sample` round-trips shapes and refuses bad input in one sentence; the
caption-agreement measure counts what it should; the caption reader learns the place of real sprites."""

import numpy as np
import pytest
from conftest import tiny_cfg

from genlab import applications as A
from genlab import captions as C
from genlab import dsprites
from genlab.cli import main
from genlab.data import load_dataset
from genlab.train import TrainConfig, fit


@pytest.fixture(scope="module")
def t2i_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("t2i")
    data = load_dataset("dsprites")
    fit(tiny_cfg("text2image-gan", data), data, TrainConfig(steps=2, batch_size=4, out=str(out)), progress=False)
    return out


def test_sample_writes_npz_and_png_of_the_asked_shape(t2i_run, tmp_path, capsys):
    assert main(["sample", str(t2i_run), "--caption", "a large heart at the bottom left", "--n", "5",
                 "--out", str(tmp_path / "s.npz")]) == 0
    with np.load(tmp_path / "s.npz") as f:
        x = f["images"]
    assert x.shape == (5, 1, 64, 64) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    assert main(["sample", str(t2i_run), "--n", "4", "--out", str(tmp_path / "s.png")]) == 0  # random captions
    from PIL import Image

    with Image.open(tmp_path / "s.png") as im:
        assert im.size[0] == im.size[1] and im.size[0] >= 2 * 64  # a 2×2 grid
    assert "4 samples of text2image-gan from random captions" in capsys.readouterr().out


def test_sample_works_without_a_caption_for_an_unconditional_generator(tmp_path, digits):
    fit(tiny_cfg("gan", digits), digits, TrainConfig(steps=1, batch_size=4, out=str(tmp_path / "gan")), progress=False)
    assert main(["sample", str(tmp_path / "gan"), "--n", "3", "--out", str(tmp_path / "g.npz")]) == 0
    with np.load(tmp_path / "g.npz") as f:
        assert f["images"].shape == (3, 1, 8, 8)


@pytest.mark.parametrize("args,said", [
    (["--caption", "a purple heart"], "'purple', which is not in the caption language"),
    (["--caption", "  "], "--caption is empty"),
    (["--caption", "a heart", "--out", "x.jpg"], "--out must end in .png"),
    (["--caption", "a heart", "--n", "0"], "--n must be 1–10,000"),
    (["--caption", "an upright square"], "'upright' describes the rotation of a heart"),
])
def test_sample_refuses_bad_input_in_one_sentence_with_status_2(t2i_run, tmp_path, capsys, args, said):
    argv = ["sample", str(t2i_run), "--out", str(tmp_path / "s.npz")] + args
    if "--out" in args:
        argv = ["sample", str(t2i_run)] + args
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert said in err and "\n" not in err and "Traceback" not in err
    assert not (tmp_path / "s.npz").exists()


def test_a_caption_is_refused_by_an_unconditional_generator(tmp_path, digits, capsys):
    fit(tiny_cfg("gan", digits), digits, TrainConfig(steps=1, batch_size=4, out=str(tmp_path / "gan")), progress=False)
    assert main(["sample", str(tmp_path / "gan"), "--caption", "a heart", "--out", str(tmp_path / "g.npz")]) == 2
    assert "gan draws without a caption; a caption conditions text2image-gan" in capsys.readouterr().err


def test_caption_agreement_counts_the_named_factors(monkeypatch):
    """A stand-in generator draws real sprites: the first half where the caption says, the second half at
    the opposite corner with the right shape and size. A reader that reads the truth then finds shape
    and size always right and the place right for exactly half."""
    drawn = []

    def fake_sample(model, n, caption, seed):
        m = C.parse(caption)
        if m.column is None:  # a caption that names no place: draw them in the centre
            m = C.Meaning(m.shape, 1 if m.size is None else m.size, None, 1, 1)
        place = [(m.column, m.row)] * (n // 2) + [(2 - m.column, 2 - m.row)] * (n - n // 2)
        pos = {0: 3, 1: 15, 2: 28}
        f = np.array([[m.shape, 2 * m.size + 1, 0, pos[c], pos[r]] for c, r in place])
        drawn.append(f)
        return A._render(f).numpy()

    monkeypatch.setattr(A, "sample_images", fake_sample)
    monkeypatch.setattr(A, "read_bins", lambda reader, x: A.reader_targets(drawn[-1]))
    res = A.caption_agreement(None, None, ["a large heart at the bottom left", "a small square at the top right"], n=8)
    assert res["mean"] == {"shape": 1.0, "size": 1.0, "column": 0.5, "row": 0.5, "place": 0.5}
    first = res["captions"][0]
    assert first["readings"][0] == "large heart, bottom left" and first["readings"][-1] == "large heart, top right"
    assert res["captions"][0]["area"] > res["captions"][1]["area"]  # a large heart lights more pixels than a small square
    half = A.caption_agreement(None, None, ["a heart"], n=4)["mean"]  # names no place: not counted
    assert half["place"] is None and half["shape"] == 1.0
    assert len(A.corner_captions()) == 36 and all(C.parse(t).row in (0, 2) for t in A.corner_captions())


def test_the_caption_reader_learns_the_place_of_real_sprites():
    clf, facts = A.train_factor_reader(steps=150, width=8, n_test=300)
    acc = facts["test_accuracy"]
    assert acc["column"] > 0.8 and acc["row"] > 0.8  # chance is 1/3
    assert facts["labels"] == A.READER_LABELS and facts["steps"] == 150
    with pytest.raises(ValueError, match="N×1×64×64"):
        A.read_bins(clf, np.zeros((2, 1, 8, 8)))
    img = dsprites.render([[0, 2, 5, 0, 0, 31]])[None].astype(np.float32).transpose(1, 0, 2, 3)
    assert A.read_bins(clf, img).shape == (1, 4)


def test_the_reader_round_trips_under_its_own_kind_and_no_feature_search_takes_it(tmp_path, monkeypatch):
    import torch

    from genlab.checkpoint import CheckpointError, list_checkpoints, load_checkpoint

    clf, facts = A.train_factor_reader(steps=2, width=4, n_test=10)
    stem = A.save_reader(tmp_path / "reader" / "model", clf, facts)
    back, meta = A.factor_reader(stem)
    x = A._render(C.random_factors(5, np.random.default_rng(1)))
    assert torch.equal(A.read_logits(back, x), A.read_logits(clf, x)) and meta["labels"] == A.READER_LABELS
    row, = list_checkpoints(tmp_path)
    assert row.kind == "caption-reader" and row.data == "dsprites"  # not "classifier": FD never uses it
    with pytest.raises(CheckpointError, match="is a caption-reader checkpoint, not a generative model"):
        load_checkpoint(stem)
    monkeypatch.setenv("GENLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GENLAB_CHECKPOINTS", str(tmp_path / "nothing"))
    with pytest.raises(CheckpointError, match="no caption reader at"):
        A.factor_reader(train_if_missing=False)


@pytest.mark.parametrize("size_of", ["true", "all medium"])
def test_the_corner_bar_measures_place_and_size_on_known_drawings(monkeypatch, size_of):
    """A stand-in generator draws real sprites of the caption's shape: three quarters in the named
    corner, one quarter in the opposite one, and at the caption's size or always medium. The centroid
    check finds 75 % in the quadrant (every caption alike), and large clearly larger than small only
    when the sizes follow the caption."""
    def fake_sample(model, n, caption, seed):
        m = C.parse(caption)
        rng = np.random.default_rng(seed)
        pos = {0: 3, 2: 28}
        place = [(m.column, m.row)] * (3 * n // 4) + [(2 - m.column, 2 - m.row)] * (n - 3 * n // 4)
        scale = (2 * m.size + rng.integers(0, 2, n)) if size_of == "true" else rng.integers(2, 4, n)
        f = np.array([[m.shape, s, rng.integers(0, 40), pos[c] + rng.integers(-2, 3), pos[r] + rng.integers(-2, 3)]
                      for s, (c, r) in zip(scale, place)])
        return A._render(f).numpy()

    monkeypatch.setattr(A, "sample_images", fake_sample)
    res = A.corner_bar(None, n=8)
    assert res["captions"] == 36 and res["in_quadrant"] == 0.75 and res["in_quadrant_worst"] == 0.75
    if size_of == "true":
        assert res["large_over_small"] > 2.0 and res["area_separated"] == 1.0
        assert res["area"]["small"] < res["area"]["medium"] < res["area"]["large"]
    else:
        assert 0.8 < res["large_over_small"] < 1.25 and res["area_separated"] < 0.5
    assert res["real_area"]["large"] > 2 * res["real_area"]["small"]
