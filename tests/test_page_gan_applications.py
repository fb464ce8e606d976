"""The GAN applications page under AppTest, against a tiny text2image-gan (z = 3, 2 steps), a tiny
caption reader and two tiny captioners: it draws a typed caption's samples with the reader's reading of
each, refuses a caption outside the language in one sentence, takes its settings from the link or names
them as ignored, interpolates between two captions, captions real sprites with both captioners and
marks them against the truth, and says how to get a checkpoint when there is none."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import lab_env, one_thread, run_page
from streamlit.testing.v1 import AppTest
from test_pages import fresh_caches  # noqa: F401  (autouse: cold Streamlit caches for every test)

from genlab import applications as A
from genlab import captioning as K

ROOT = Path(__file__).resolve().parents[1]
PAGE = str(ROOT / "pages" / "10_GAN_applications.py")
TIMEOUT = 180


def make_t2i_lab(root: Path) -> Path:
    """ROOT/checkpoints with a tiny text2image-gan and a tiny caption reader (a few seconds)."""
    from genlab.data import load_dataset
    from genlab.models import make_config
    from genlab.train import TrainConfig, fit

    data = load_dataset("dsprites")
    cfg = make_config("text2image-gan", "dsprites", data.shape, latent_dim=3)
    fit(cfg, data, TrainConfig(steps=2, batch_size=8, out=str(root / "checkpoints" / "t2i"), name="t2i", ckpt_every=2),
        progress=False)
    K.train_captioner("caption-gan", root / "checkpoints" / "cap-gan", mle_steps=1, gan_steps=1, batch_size=4, hidden=16)
    K.train_captioner("caption-mle", root / "checkpoints" / "cap-mle", mle_steps=2, gan_steps=0, batch_size=4, hidden=16)
    clf, facts = A.train_factor_reader(steps=3, width=4, n_test=20)
    A.save_reader(root / "checkpoints" / A.READER_NAME / "model", clf, facts)
    return root / "checkpoints"


@pytest.fixture(scope="module")
def t2i_lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("t2i-lab")
    with one_thread():
        make_t2i_lab(root)
    with lab_env(root):
        yield root


def open_page(query: dict | None = None) -> AppTest:
    return run_page(PAGE, query, TIMEOUT)


def sample_captions(at: AppTest) -> list[str]:
    return [c for im in at.image for c in im.captions if c.startswith(("✓", "✗"))]


def ignored(at: AppTest) -> str:
    notes = [c.value for c in at.caption if c.value.startswith("Ignored in the link")]
    return notes[0].replace("\\", "") if notes else ""


def test_the_page_draws_the_caption_with_a_reading_of_each_sample(t2i_lab):
    at = open_page()
    marks = sample_captions(at)
    assert len(marks) == 16 and all(m[2:].split(", ")[0].split()[1] in ("square", "ellipse", "heart") for m in marks)
    assert {m.label for m in at.metric} >= {"Right shape", "Right size", "Right place (column and row)", "Diversity"}
    assert "It asks for: shape heart · size large (scale 4–5 of 0–5) · place bottom left (posX 0–10, posY 21–31 of 0–31)" \
        in " ".join(c.value for c in at.caption)
    assert not at.error
    assert any("φ(t) = (1 − w)·φ(from) + w·φ(to)" in c for im in at.image for c in im.captions)  # the interpolation
    assert any(c.value.startswith("Reader, middle row: ") and c.value.count("→") == 6 for c in at.caption)


def test_a_typed_caption_outside_the_language_is_refused_in_one_sentence(t2i_lab):
    at = open_page()
    at.text_input(key="caption").set_value("a purple heart at the top").run()
    assert not at.exception
    err, = [e.value for e in at.error]
    assert "'purple', which is not in the caption language" in err and "\n" not in err
    assert not sample_captions(at)  # nothing drawn for it
    at.text_input(key="caption").set_value("a tiny box in the centre").run()
    assert not at.error and len(sample_captions(at)) == 16
    assert at.query_params["caption"] in ("a tiny box in the centre", ["a tiny box in the centre"])


def test_the_link_sets_the_caption_and_the_number_of_samples(t2i_lab):
    at = open_page({"caption": "a small square at the top right", "n": "8", "seed": "3"})
    assert at.text_input(key="caption").value == "a small square at the top right"
    assert len(sample_captions(at)) == 8 and not ignored(at)


def test_bad_link_values_are_named_and_fall_back(t2i_lab):
    at = open_page({"caption": "a purple heart", "n": "7", "seed": "-1", "ckpt": "../x", "a": "", "b": "zzz"})
    note = ignored(at)
    for name in ("caption=", "n=", "seed=", "ckpt=", "a=", "b="):
        assert name in note, (name, note)
    assert at.text_input(key="caption").value == "a large heart at the bottom left"
    assert len(sample_captions(at)) == 16 and not at.error


def test_without_a_text_to_image_checkpoint_the_page_says_how_to_train_one(t2i_lab, monkeypatch, tmp_path):
    monkeypatch.setenv("GENLAB_CHECKPOINTS", str(tmp_path / "none"))
    at = open_page()
    assert "genlab train --model text2image-gan --data dsprites" in " ".join(i.value for i in at.info)


def test_both_captioners_caption_the_same_sprites_with_their_correctness(t2i_lab):
    at = open_page({"pick": "5"})
    truths = [c for im in at.image for c in im.captions if c.startswith("truth: ")]
    assert len(truths) == 6
    lines = [m.value for m in at.markdown if m.value.startswith(("**caption-gan**", "**caption-mle**"))]
    assert len(lines) == 12 and sum(v.startswith("**caption-gan**") for v in lines) == 6
    assert all("does not parse" in v or ("shape " in v and "place " in v) for v in lines)
    x, f = K.picked_sprites(6, 5)  # the page shows the sprites of its seed, with their true description
    from genlab import captions as C

    assert truths[0] == f"truth: {C.meaning_of_bins(C.bins_of(f)[0])}"


def test_without_a_captioner_the_page_says_how_to_train_one(t2i_lab, monkeypatch, tmp_path):
    import shutil

    only = tmp_path / "only"
    for name in ("t2i", A.READER_NAME):  # the reader too: without it the page trains one (minutes)
        shutil.copytree(t2i_lab / "checkpoints" / name, only / name)
    monkeypatch.setenv("GENLAB_CHECKPOINTS", str(only))
    at = open_page()
    assert "genlab caption-train --model caption-mle" in " ".join(i.value for i in at.info)
    assert len(sample_captions(at)) == 16
