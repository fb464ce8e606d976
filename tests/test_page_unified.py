"""The Unified view page under AppTest: the correspondence tables with nothing trained, a tiny CycleGAN's
sprites translated and cycled back with their measures, its link parameters, and the transfers' table
from stored measures."""

from __future__ import annotations

import pytest
from conftest import one_thread
from test_page_params import ignored
from test_pages import fresh_caches, open_page, rerun  # noqa: F401

from genlab import unified


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """checkpoints/ with a tiny cyclegan and a measured tiny iwgan, one with two cyclegans (with and
    without the cycle loss), and an empty one."""
    from genlab.checkpoint import update_metadata
    from genlab.data import load_dataset
    from genlab.models import make_config
    from genlab.train import TrainConfig, fit

    root = tmp_path_factory.mktemp("unified")
    with one_thread():
        for name, model, data in (("cg", "cyclegan", "dsprites-squares-ellipses"), ("ring-iwgan", "iwgan", "ring")):
            ds = load_dataset(data)
            fit(make_config(model, data, ds.shape, latent_dim=2), ds,
                TrainConfig(steps=4, batch_size=4, out=str(root / "ck" / name), name=name), progress=False)
        update_metadata(root / "ck" / "ring-iwgan" / "model",
                        metrics={"modes": {"modes_captured": 5, "high_quality": 0.4, "reverse_kl": 0.9}})
        ds = load_dataset("dsprites-squares-ellipses")  # a pair: λ = 10 and the ablation without the cycle loss
        for name, weight in (("cg10", 10.0), ("cg0", 0.0)):
            fit(make_config("cyclegan", "dsprites-squares-ellipses", ds.shape, cycle_weight=weight), ds,
                TrainConfig(steps=2, batch_size=4, out=str(root / "pair" / name), name=name), progress=False)
    (root / "empty").mkdir()
    return root


def _use(monkeypatch, root, folder):
    monkeypatch.setenv("GENLAB_CHECKPOINTS", str(root / folder))
    monkeypatch.setenv("GENLAB_RUNS", str(root / "runs"))
    monkeypatch.setenv("GENLAB_CACHE", str(root / "cache"))


def _frames(at) -> list:
    return [d.value for d in at.dataframe]


def test_with_nothing_trained_the_tables_stand_and_the_page_says_how_to_train(folders, monkeypatch):
    _use(monkeypatch, folders, "empty")
    at = open_page("9_Unified_view.py")
    frames = _frames(at)
    assert list(frames[0].index) == [r[0] for r in unified.UNIFIED_ROWS]
    assert frames[0].loc["its direction", "GAN"].startswith("posterior ‖ inference")
    assert list(frames[1]["transfer"]) == ["iwgan", "aavae"]
    assert frames[2].loc["the policy", "GAN"] == "the generator G: z → x"
    assert len(frames[3]) == len(unified.STABILISERS)
    infos = " ".join(i.value for i in at.info)
    assert "genlab train --model cyclegan --data dsprites-squares-ellipses" in infos
    assert "genlab train --model iwgan" in infos
    assert not at.image


def test_a_translator_s_sprites_come_translated_and_back_with_their_measures(folders, monkeypatch):
    _use(monkeypatch, folders, "ck")
    at = open_page("9_Unified_view.py")
    assert [len(i.proto.imgs) for i in at.image] == [8] * 6  # squares, G(a), F(G(a)); ellipses, F(b), G(F(b))
    captions = [im.caption for im in at.image[1].proto.imgs]
    assert all(c.split(",")[0] in ("blank", "square", "ellipse", "round blob") for c in captions)
    measures = _frames(at)[-1]
    assert list(measures.index) == ["a2b", "b2a"] and (measures["sprites"] == 100).all()
    assert ((measures["read as the other shape"] >= 0) & (measures["read as the other shape"] <= 1)).all()
    at.select_slider(key="n").set_value(4)
    rerun(at)
    assert [len(i.proto.imgs) for i in at.image] == [4] * 6
    assert at.query_params["n"] == "4"


def test_the_link_sets_the_sprites_and_seed_and_the_transfer_table_reads_stored_measures(folders, monkeypatch):
    _use(monkeypatch, folders, "ck")
    at = open_page("9_Unified_view.py", {"n": "12", "seed": "3"})
    assert at.select_slider(key="n").value == 12 and at.number_input(key="seed").value == 3
    assert [len(i.proto.imgs) for i in at.image] == [12] * 6
    transfers = next(f for f in _frames(at) if "modes_captured" in f.columns)
    assert list(transfers["model"]) == ["iwgan"] and transfers["modes_captured"].iloc[0] == 5
    assert "fd" not in transfers.columns  # a measure no checkpoint holds is left out


def test_two_translators_stand_side_by_side_the_ablation_by_default(folders, monkeypatch):
    from genlab.evaluate import evaluate_checkpoint

    _use(monkeypatch, folders, "pair")
    stored = evaluate_checkpoint(folders / "pair" / "cg10" / "model")["metrics"]  # 200 sprites each way
    at = open_page("9_Unified_view.py", {"ckpt": str(folders / "pair" / "cg10" / "model"), "n": "4"})
    assert at.selectbox(key="vs").value == str(folders / "pair" / "cg0" / "model")  # the other cycle weight
    assert [len(i.proto.imgs) for i in at.image] == [4] * 12  # the same six rows through each translator
    measures = _frames(at)[-1]
    assert list(measures.index) == ["cg10 · a2b", "cg10 · b2a", "cg0 · a2b", "cg0 · b2a"]
    # the evaluated one's figures are read from its sidecar, the other's measured on the page's 100 sprites
    assert list(measures["sprites"]) == [200, 200, 100, 100]
    assert measures.loc["cg10 · b2a", "round trip: lit-pixel IoU"] == pytest.approx(stored["b2a_cycle_iou"])
    assert "cg10: stored by genlab eval; cg0: measured now" in " ".join(c.value for c in at.caption)
    assert "λ = 10" in " ".join(m.value for m in at.markdown) and "λ = 0" in " ".join(m.value for m in at.markdown)
    at.selectbox(key="vs").set_value("none")
    rerun(at)
    assert [len(i.proto.imgs) for i in at.image] == [4] * 6 and at.query_params["vs"] == "none"
    assert list(_frames(at)[-1].index) == ["a2b", "b2a"]
    # a link naming a checkpoint that is not listed is named, and the default pair is drawn
    at = open_page("9_Unified_view.py", {"ckpt": str(folders / "pair" / "cg10" / "model"), "vs": "/etc/passwd"})
    assert "vs=" in ignored(at) and len(at.image) == 12
