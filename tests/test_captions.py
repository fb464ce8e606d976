"""The dSprites caption language: generator and parser invert each other, words outside it are refused."""

import itertools

import numpy as np
import pytest

from genlab import captions as C
from genlab import dsprites

ALL_BINS = [(s, z, r, col, row) for s in range(3) for z in range(3) for r in range(len(C.ROTATIONS[C.SHAPES[s]]))
            for col in range(3) for row in range(3)]


def test_there_are_216_meanings():
    assert len(ALL_BINS) == 3 * (2 + 2 + 4) * 9 == 216  # sizes × rotations of each shape × places


@pytest.mark.parametrize("rotation", [True, False])
def test_every_meaning_parses_back_to_itself_under_every_template(rotation):
    seen = set()
    for b in ALL_BINS:
        for seed in range(12):
            text = C.caption_of_bins(b, seed, rotation=rotation)
            seen.add(text)
            m = C.parse(text)
            s, z, r, col, row = b
            assert (m.shape, m.size, m.column, m.row) == (s, z, col, row), text
            assert m.rotation == (r if rotation else None), text
    assert len(seen) > 3 * len(ALL_BINS)  # several templates and synonyms per meaning


def test_every_factor_combination_is_described_truly_by_its_bins():
    """All 737,280 sprites: the factor values a meaning allows (Meaning.values) are exactly the sprites
    whose bins are that meaning, so the meanings cut the whole set into 216 disjoint parts."""
    f = dsprites.index_to_classes(np.arange(dsprites.N_IMAGES))[:, 1:]
    b = C.bins_of(f)
    ids = np.ravel_multi_index(b.T, (3, 3, 4, 3, 3))
    counts = np.bincount(ids, minlength=3 * 3 * 4 * 27)
    total = 0
    for bins in ALL_BINS:
        v = C.Meaning(*bins[:3], column=bins[3], row=bins[4]).values()
        n = int(np.prod([len(v[k]) for k in ("shape", "scale", "orientation", "posX", "posY")]))
        assert counts[np.ravel_multi_index(bins, (3, 3, 4, 3, 3))] == n
        total += n
    assert total == dsprites.N_IMAGES


def test_captions_of_sprites_parse_back_to_their_factors():
    rng = np.random.default_rng(0)
    f = C.random_factors(3000, rng)
    texts = C.captions_for(f, rng.integers(0, 1000, len(f)))
    for row, text in zip(f, texts):
        assert C.parse(text).allows(row[None])[0], text
    assert C.caption(f[0], 7) == C.caption(f[0], 7)  # deterministic in (factors, seed)
    assert len(C.true_captions(f[0], 10)) >= 3


def test_known_captions_and_ranges():
    m = C.parse("A large heart at the bottom left")
    assert (m.shape, m.size, m.rotation, m.column, m.row) == (2, 2, None, 0, 2)
    v = m.values()
    assert v["shape"] == (2,) and v["scale"] == (4, 5) and v["posX"] == tuple(range(11))
    assert v["posY"] == tuple(range(21, 32)) and v["orientation"] == tuple(range(40))
    assert C.parse("an oval at the top").named() == {"shape": 1, "size": None, "rotation": None, "column": 1, "row": 0}
    assert C.parse("in the middle on the right").named()["row"] == 1
    assert C.parse("top middle").named() == {"shape": None, "size": None, "rotation": None, "column": 1, "row": 0}
    assert C.parse("a tiny square").values()["posX"] == tuple(range(32))  # no place named: any place
    # rotation: θ = 2πk/39 turns the sprite anticlockwise on screen
    assert C.rotation_bin(2, [0, 10, 20, 30, 39]).tolist() == [0, 1, 2, 3, 0]  # 0°, 92°, 185°, 277°, 360°
    assert C.rotation_bin(1, [0, 10, 20]).tolist() == [0, 1, 0]  # an ellipse turned 185° is horizontal again
    assert C.rotation_bin(0, [0, 5, 10]).tolist() == [0, 1, 0]  # a square at 46° is tilted, at 92° level
    assert C.parse("an upside down heart").rotation == 2 and C.parse("a tilted box").shape == 0


def test_left_and_bottom_are_as_the_image_is_displayed():
    img = dsprites.render([[0, 2, 5, 0, 0, 31]])[0]  # posX 0, posY 31: "bottom left"
    rows, cols = np.nonzero(img)
    assert cols.mean() < 24 and rows.mean() > 40
    assert C.bins_of([[2, 5, 0, 0, 31]]).tolist() == [[2, 2, 0, 0, 2]]
    assert C.meaning_of_bins([2, 2, 0, 0, 2]) == "large heart, upright, bottom left"


@pytest.mark.parametrize("text,match", [
    ("", "the caption is empty"),
    ("   ,. ", "the caption is empty"),
    ("a purple heart", "'purple', which is not in the caption language; use these words .*heart.*"),
    ("a heart at the top and the bottom", "two different rows"),
    ("an upright square", "'upright' describes the rotation of a heart, not of a square"),
    ("a heart down", "'down' does not fit"),
])
def test_bad_captions_are_refused_in_one_sentence(text, match):
    with pytest.raises(C.CaptionError, match=match) as e:
        C.parse(text)
    msg = str(e.value)
    assert "\n" not in msg and msg.endswith(".") and msg.count(". ") == 0


def test_tokens_pad_and_refuse_unknown_words():
    ids = C.encode(["a heart", "a large heart at the bottom left"])
    assert ids.shape == (2, 7) and (ids[0, 2:] == 0).all() and C.VOCAB[ids[1, 2]] == "heart"
    assert C.VOCAB[0] == "<pad>" and set(C.VOCAB[1:]) >= set(itertools.chain(C.CONTENT_WORDS, C.FILLERS))
    with pytest.raises(C.CaptionError, match="'dragon'"):
        C.encode(["a dragon"])
