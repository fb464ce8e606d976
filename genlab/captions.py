"""A caption language for dSprites: every sprite's true description, built from its factors.

dSprites (Matthey et al. 2017) knows what each image shows, so captions can be generated from the
factors and a model's text can be checked against the truth, which the text-to-image (Reed et al.
2016) and captioning (Dai et al. 2017) papers can only judge by eye. A caption names

* the shape: square, ellipse, heart;
* the size, from the scale index (6 values): small (0, 1), medium (2, 3), large (4, 5);
* the place, from the position indices (32 values each), cut in thirds of the positions a sprite
  takes (0–10, 11–20, 21–31): top / middle / bottom from posY (y points down on screen, so posY 0
  is the top) and left / centre / right from posX, as the image is displayed;
* the rotation, in the coarse terms the shape's symmetry lets one see (a square turned by 90° looks
  the same): a heart upright, turned anticlockwise, upside down or turned clockwise (θ grows
  anticlockwise on screen: genlab.dsprites); an ellipse horizontal or vertical; a square level or
  tilted. Half of the captions mention it (chosen by the seed).

Several templates and synonyms say each meaning, so the text is not one fixed pattern; the choice
is a deterministic function of (factors, seed). `parse` maps a caption back to the factor values it
allows (an unnamed factor allows every value; a place that names one axis, "at the top", means the
central third of the other), and refuses a word outside the vocabulary in one sentence that lists
the vocabulary. `encode` turns captions into padded token ids for a text encoder.

Public API: caption, true_captions, captions_for, parse, Meaning, CaptionError, bins_of, VOCAB,
encode, tokens, meaning_of_bins.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

import numpy as np

from genlab import dsprites

SHAPES = dsprites.SHAPE_NAMES  # ("square", "ellipse", "heart")
SIZES = ("small", "medium", "large")
ROWS = ("top", "middle", "bottom")
COLUMNS = ("left", "centre", "right")
# The rotation each shape's symmetry lets one see, per shape, in bins of its own.
ROTATIONS = {"square": ("level", "tilted"), "ellipse": ("horizontal", "vertical"),
             "heart": ("upright", "anticlockwise", "upside down", "clockwise")}

SIZE_OF_SCALE = np.array([0, 0, 1, 1, 2, 2])  # scale index 0..5 -> small, medium, large
N_IMAGES = dsprites.N_IMAGES
N_POS = dsprites.FACTOR_SIZES[4]
THIRD_OF_POS = np.array([0 if p <= 10 else 1 if p <= 20 else 2 for p in range(N_POS)])  # 11 / 10 / 11 positions
N_ORIENT = dsprites.FACTOR_SIZES[3]
ORIENT_DEGREES = np.degrees(dsprites.ORIENTATION_VALUES)  # 0 .. 360 in 40 steps (0 and 360 both occur)


def rotation_bin(shape: int, orientation) -> np.ndarray:
    """The rotation bin of orientation indices for one shape (see ROTATIONS), by the angle modulo the
    shape's symmetry: a heart's quarter turns centred on 0°, 90°, 180°, 270°; an ellipse's long axis
    within 45° of horizontal or not; a square within 22.5° of level or not."""
    d = ORIENT_DEGREES[np.asarray(orientation)]
    if shape == 2:
        return (((d + 45.0) % 360.0) // 90.0).astype(int)
    if shape == 1:
        return ((((d + 45.0) % 180.0) // 90.0)).astype(int)
    return ((((d + 22.5) % 90.0) // 45.0)).astype(int)


def bins_of(factors) -> np.ndarray:
    """Caption bins (N, 5) int of dSprites factor classes (N, 5) (shape, scale, orientation, posX,
    posY; the colour column left out, as data.DSpritesData gives them): shape, size, rotation bin,
    column (from posX), row (from posY)."""
    f = np.atleast_2d(np.asarray(factors, dtype=np.int64))
    if f.shape[1] != 5:
        raise ValueError(f"factors must be (N, 5): shape, scale, orientation, posX, posY; got {f.shape}")
    rot = np.zeros(len(f), dtype=np.int64)
    for s in range(3):
        sel = f[:, 0] == s
        rot[sel] = rotation_bin(s, f[sel, 2])
    return np.stack([f[:, 0], SIZE_OF_SCALE[f[:, 1]], rot, THIRD_OF_POS[f[:, 3]], THIRD_OF_POS[f[:, 4]]], axis=1)


# --------------------------------------------------------------------------- the words

# Each meaning is said by any of these phrases (tuples of words).
SHAPE_PHRASES = {0: [("square",), ("box",)], 1: [("ellipse",), ("oval",)], 2: [("heart",)]}
SIZE_PHRASES = {0: [("small",), ("little",), ("tiny",)], 1: [("medium",), ("mid", "sized"), ("average", "sized")],
                2: [("large",), ("big",), ("huge",)]}
ROTATION_PHRASES = {  # (shape, rotation bin) -> phrases
    (0, 0): [("level",), ("unrotated",)], (0, 1): [("tilted",), ("diagonal",)],
    (1, 0): [("horizontal",), ("lying", "flat")], (1, 1): [("vertical",), ("standing", "up")],
    (2, 0): [("upright",)], (2, 1): [("turned", "anticlockwise"), ("rotated", "counterclockwise")],
    (2, 2): [("upside", "down"), ("inverted",)], (2, 3): [("turned", "clockwise"), ("rotated", "clockwise")],
}
ROW_WORDS = {"top": 0, "upper": 0, "bottom": 2, "lower": 2}
COLUMN_WORDS = {"left": 0, "right": 2}
CENTRAL_WORDS = ("middle", "centre", "center")
FILLERS = ("a", "an", "the", "at", "in", "on", "of", "there", "is", "sits", "size", "sized", "corner", "side",
           "and", "with", "shape", "sprite", "drawn", "placed")

_PHRASE_MEANING: dict[tuple, tuple] = {}
for _k, _ps in SHAPE_PHRASES.items():
    _PHRASE_MEANING.update({p: ("shape", _k) for p in _ps})
for _k, _ps in SIZE_PHRASES.items():
    _PHRASE_MEANING.update({p: ("size", _k) for p in _ps})
for _k, _ps in ROTATION_PHRASES.items():
    _PHRASE_MEANING.update({p: ("rotation", _k) for p in _ps})
_PHRASE_MEANING.update({(w,): ("row", r) for w, r in ROW_WORDS.items()})
_PHRASE_MEANING.update({(w,): ("column", c) for w, c in COLUMN_WORDS.items()})
_PHRASE_MEANING.update({(w,): ("central", None) for w in CENTRAL_WORDS})
_LONGEST = max(len(p) for p in _PHRASE_MEANING)

# Every word a caption may hold; token 0 pads.
VOCAB: tuple = ("<pad>",) + tuple(sorted({w for p in _PHRASE_MEANING for w in p} | set(FILLERS)))
WORD_ID = {w: i for i, w in enumerate(VOCAB)}
CONTENT_WORDS = tuple(sorted({w for p in _PHRASE_MEANING for w in p}))


class CaptionError(ValueError):
    """A caption that is empty, holds a word outside the vocabulary, or contradicts itself."""


def tokens(text: str) -> list[str]:
    """The caption's words, lower case: letters only ("top-left," is top, left)."""
    return re.findall(r"[a-z]+", str(text).lower())


def _vocabulary_text() -> str:
    return ", ".join(CONTENT_WORDS)


def check_words(text: str) -> list[str]:
    """The caption's words, or CaptionError (one sentence) when it is empty or holds unknown words."""
    words = tokens(text)
    if not words:
        raise CaptionError("the caption is empty: describe a sprite, such as 'a large heart at the bottom left'.")
    unknown = [w for w in dict.fromkeys(words) if w not in WORD_ID]
    if unknown:
        said = ", ".join(f"'{w}'" for w in unknown)
        raise CaptionError(f"the caption uses {said}, which {'is' if len(unknown) == 1 else 'are'} not in the caption "
                           f"language; use these words (with a, the, at, in, on…): {_vocabulary_text()}.")
    return words


# --------------------------------------------------------------------------- generating


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _place_phrase(rng: random.Random, row: int, col: int) -> str:
    if row == 1 and col == 1:
        return rng.choice(["in the centre", "in the middle", "at the center"])
    if row == 1:
        c = COLUMNS[col]
        return rng.choice([f"on the {c}", f"at the {c}", f"on the {c} side", f"in the middle on the {c}"])
    r = ROWS[row]
    if col == 1:
        return rng.choice([f"at the {r}", f"at the {r} centre", f"at the {r} in the middle"])
    c = COLUMNS[col]
    r2 = rng.choice([r, "upper" if row == 0 else "lower"])
    return rng.choice([f"at the {r} {c}", f"in the {r2} {c} corner", f"{r} {c}", f"in the {r2}-{c} corner"])


def meaning_of_bins(b) -> str:
    """A plain name of one row of bins (shape, size, rotation, column, row), e.g. 'large heart, upright, bottom left'."""
    s, z, rot, col, row = (int(v) for v in b)
    place = "centre" if (row, col) == (1, 1) else f"{ROWS[row]} {COLUMNS[col]}"
    return f"{SIZES[z]} {SHAPES[s]}, {ROTATIONS[SHAPES[s]][rot]}, {place}"


def caption_of_bins(b, seed: int, rotation: bool | None = None) -> str:
    """A caption of one row of bins (shape, size, rotation, column, row), chosen by `seed`.
    `rotation`: mention the rotation (None: the seed decides, half of the time)."""
    s, z, rot, col, row = (int(v) for v in b)
    rng = random.Random(f"{int(seed)}:{s}{z}{rot}{col}{row}")  # str seeds hash by SHA-512: the same on every Python
    shape = " ".join(rng.choice(SHAPE_PHRASES[s]))
    size = " ".join(rng.choice(SIZE_PHRASES[z]))
    place = _place_phrase(rng, row, col)
    with_rot = rng.random() < 0.5 if rotation is None else rotation
    turn = " ".join(rng.choice(ROTATION_PHRASES[(s, rot)]))
    if with_rot:
        templates = [f"{_article(size)} {size} {shape} {place}, {turn}",
                     f"{_article(size)} {size} {shape}, {turn}, {place}",
                     f"{place} there is {_article(size)} {size} {shape}, {turn}",
                     f"the {size} {shape} sits {place}, {turn}"]
    else:
        templates = [f"{_article(size)} {size} {shape} {place}",
                     f"{place} there is {_article(size)} {size} {shape}",
                     f"the {size} {shape} sits {place}",
                     f"{_article(shape)} {shape} of {SIZES[z]} size {place}"]
    return rng.choice(templates)


def caption(factors, seed: int = 0, rotation: bool | None = None) -> str:
    """One true caption of the sprite with factor classes `factors` (shape, scale, orientation, posX,
    posY), deterministic in (factors, seed)."""
    f = tuple(int(v) for v in np.asarray(factors).reshape(-1))
    b = bins_of(f)[0]
    return caption_of_bins(b, int(seed) * N_IMAGES + int(dsprites.classes_to_index(f)[0]), rotation)


def captions_for(factors, seeds) -> list[str]:
    """A caption for each row of factors (N, 5), row i with seed seeds[i] (an int: the same for all)."""
    f = np.atleast_2d(np.asarray(factors, dtype=np.int64))
    seeds = np.broadcast_to(np.asarray(seeds, dtype=np.int64), (len(f),))
    return [caption(row, int(s)) for row, s in zip(f, seeds)]


def true_captions(factors, n: int = 5) -> list[str]:
    """The distinct captions among seeds 0..n-1 of one sprite: a set of true descriptions."""
    return list(dict.fromkeys(caption(factors, s) for s in range(n)))


# --------------------------------------------------------------------------- parsing


ALL = None  # a factor the caption does not name


@dataclass(frozen=True)
class Meaning:
    """What a caption names: each bin, or None where it names nothing (every value allowed).
    `values` turns it into the factor classes it allows."""

    shape: int | None = None
    size: int | None = None
    rotation: int | None = None  # a bin of ROTATIONS[shape]; set only together with shape
    column: int | None = None
    row: int | None = None

    def values(self) -> dict[str, tuple]:
        """The factor classes the caption allows, per dSprites factor (shape, scale, orientation, posX, posY)."""
        def pick(values, sel):
            return tuple(int(v) for v in np.nonzero(sel)[0]) if sel is not None else tuple(range(len(values)))

        orient = (rotation_bin(self.shape, np.arange(N_ORIENT)) == self.rotation) if self.rotation is not None else None
        return {"shape": (self.shape,) if self.shape is not None else (0, 1, 2),
                "scale": pick(SIZE_OF_SCALE, None if self.size is None else SIZE_OF_SCALE == self.size),
                "orientation": pick(range(N_ORIENT), orient),
                "posX": pick(THIRD_OF_POS, None if self.column is None else THIRD_OF_POS == self.column),
                "posY": pick(THIRD_OF_POS, None if self.row is None else THIRD_OF_POS == self.row)}

    def allows(self, factors) -> np.ndarray:
        """(N,) bool: which rows of factor classes (N, 5) the caption describes truly."""
        b = bins_of(factors)
        ok = np.ones(len(b), dtype=bool)
        for i, v in enumerate((self.shape, self.size, self.rotation, self.column, self.row)):
            if v is not None:
                ok &= b[:, i] == v
        return ok

    def named(self) -> dict[str, int | None]:
        return {"shape": self.shape, "size": self.size, "rotation": self.rotation, "column": self.column,
                "row": self.row}


def parse(text: str) -> Meaning:
    """The meaning of a caption: the bins it names (Meaning). CaptionError, one sentence, for an empty
    caption, a word outside the vocabulary, a word that fits nowhere, or two values of one factor."""
    words = check_words(text)
    got: dict[str, list] = {}
    said: dict[str, str] = {}
    i = 0
    while i < len(words):
        for n in range(min(_LONGEST, len(words) - i), 0, -1):
            phrase = tuple(words[i:i + n])
            if phrase in _PHRASE_MEANING:
                kind, value = _PHRASE_MEANING[phrase]
                got.setdefault(kind, []).append(value)
                said.setdefault(kind, " ".join(phrase))
                i += n
                break
        else:
            if words[i] not in FILLERS:
                raise CaptionError(f"'{words[i]}' does not fit where it stands in the caption; "
                                   f"say something like 'a large heart at the bottom left, upside down'.")
            i += 1
    for kind in ("shape", "size", "rotation", "row", "column"):
        if len(set(got.get(kind, []))) > 1:
            raise CaptionError(f"the caption names two different {kind}s; name one.")
    shape = got["shape"][0] if "shape" in got else None
    size = got["size"][0] if "size" in got else None
    rotation = None
    if "rotation" in got:
        rshape, rbin = got["rotation"][0]
        if shape is not None and rshape != shape:
            raise CaptionError(f"'{said['rotation']}' describes the rotation of {_article(SHAPES[rshape])} "
                               f"{SHAPES[rshape]}, not of {_article(SHAPES[shape])} {SHAPES[shape]}; "
                               f"{_article(SHAPES[shape])} {SHAPES[shape]} is "
                               f"{' or '.join(' '.join(ps[0]) for (s, _), ps in ROTATION_PHRASES.items() if s == shape)}.")
        shape, rotation = rshape, rbin
    row = got["row"][0] if "row" in got else None
    column = got["column"][0] if "column" in got else None
    if row is not None or column is not None or "central" in got:  # a place: the axis it leaves out is central
        row = 1 if row is None else row
        column = 1 if column is None else column
    return Meaning(shape, size, rotation, column, row)


# --------------------------------------------------------------------------- tokens for a text encoder


def encode(texts: list[str], length: int | None = None) -> np.ndarray:
    """Token ids (N, L) int64 of the captions, 0-padded to the longest (or to `length`); every word must
    be in VOCAB (CaptionError otherwise)."""
    ids = [[WORD_ID[w] for w in check_words(t)] for t in texts]
    n = max((len(x) for x in ids), default=1) if length is None else length
    out = np.zeros((len(ids), n), dtype=np.int64)
    for i, x in enumerate(ids):
        out[i, : min(n, len(x))] = x[:n]
    return out


def random_factors(n: int, rng: np.random.Generator) -> np.ndarray:
    """n rows of dSprites factor classes (shape, scale, orientation, posX, posY), uniform."""
    return np.stack([rng.integers(0, s, size=n) for s in dsprites.FACTOR_SIZES[1:]], axis=1)
