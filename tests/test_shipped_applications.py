"""The shipped GAN applications (issue 31) meet their bar: on the 36 corner captions held out of its
training, dsprites-text2image-gan draws ≥ 80 % of samples in the named quadrant and large shapes
clearly larger than small ones; on rendered sprites, ≥ 80 % of both shipped captioners' captions name
the correct side (column), sampled and greedy. Small samples, so a few seconds on one thread."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from genlab import applications as A
from genlab import captioning as K
from genlab import captions as C
from genlab.models import held_out_captions

ROOT = Path(__file__).resolve().parents[1]
T2I = ROOT / "checkpoints" / "dsprites-text2image-gan" / "model"
CAPTIONERS = {"caption-mle": ROOT / "checkpoints" / "dsprites-caption-mle" / "model",
              "caption-gan": ROOT / "checkpoints" / "dsprites-caption-gan" / "model"}


def test_the_shipped_text2image_gan_draws_the_named_corner_and_size():
    from genlab.checkpoint import load_checkpoint

    model, meta = load_checkpoint(T2I)
    model.eval()
    assert meta["config"]["mismatch"] == "swap" and set(A.corner_captions()) == held_out_captions()
    res = A.corner_bar(model, None, n=8)
    assert res["in_quadrant"] >= 0.8, res
    assert res["large_over_small"] > 2.0 and res["area_separated"] >= 0.9, res["area"]
    assert res["area"]["small"] < res["area"]["medium"] < res["area"]["large"]


@pytest.mark.parametrize("name", list(CAPTIONERS))
def test_the_shipped_captioners_name_the_correct_side(name):
    model, meta = K.load_captioner(CAPTIONERS[name])
    assert meta["config"]["mode"] == name
    f = C.random_factors(100, np.random.default_rng(5))
    x = A._render(f)
    sampled = K.correctness(model.caption(x, seed=1), f)
    greedy = K.correctness(model.caption(x, seed=1, greedy=True), f)
    assert sampled["column"] >= 0.8 and greedy["column"] >= 0.8, (sampled, greedy)
    if name == "caption-gan":  # it starts from the shipped caption-mle: the same maximum-likelihood budget
        _, mle = K.load_captioner(CAPTIONERS["caption-mle"])
        assert meta["mle_steps"] == mle["mle_steps"] and meta["gan_steps"] > 0 and meta["init"] == "dsprites-caption-mle"
