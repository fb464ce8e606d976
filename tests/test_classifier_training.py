"""The one label-classifier trainer (genlab.evaluate.train_label_classifier): what a recipe, the
feature network, the Blur page and the Mode-collapse page all train their classifiers with."""

import json
from pathlib import Path

import torch

from genlab.checkpoint import load_classifier
from genlab.data import load_dataset
from genlab.evaluate import train_label_classifier
from genlab.metrics.classifier import train_classifier

ROOT = Path(__file__).resolve().parents[1]


def test_a_recipe_s_classifier_learns_every_image_in_order_and_records_the_shipped_facts(tmp_path):
    data = load_dataset("digits")
    recipe = {"name": "digits-classifier", "kind": "classifier", "data": "digits", "steps": 20, "batch_size": 32, "seed": 0}
    info = train_label_classifier(data, tmp_path / "model", steps=20, batch_size=32, meta={"recipe": recipe,
                                                                                          "name": recipe["name"]})
    clf, meta = load_classifier(info["path"])
    # every image, in the data's order: the same weights as the classifier trained on them directly
    batch = data.get(torch.arange(len(data)))
    direct = train_classifier(batch["x"], batch["y"], 10, steps=20, batch_size=32, seed=0)
    for a, b in zip(clf.state_dict().values(), direct.state_dict().values()):
        assert torch.equal(a, b)
    assert meta["train_accuracy"] == round(info["train_accuracy"], 4) and "test_accuracy" not in meta
    # the facts the shipped digits classifier's sidecar records are all there, and the compute facts beside them
    shipped = json.loads((ROOT / "checkpoints" / "digits-classifier" / "model.json").read_text())
    assert set(shipped) <= set(meta)
    assert {k: meta[k] for k in ("labels", "steps", "batch_size", "seed", "device", "recipe", "name")} == \
        {"labels": "class labels", "steps": 20, "batch_size": 32, "seed": 0, "device": "cpu", "recipe": recipe,
         "name": "digits-classifier"}
    assert meta["threads"] == torch.get_num_threads() and meta["cpu"]


def test_a_held_out_share_is_a_seeded_shuffle_measured_on_the_rest(tmp_path):
    data = load_dataset("digits")
    a = train_label_classifier(data, tmp_path / "a", steps=5, train_share=0.8, seed=3)
    b = train_label_classifier(data, tmp_path / "b", steps=5, train_share=0.8, seed=3)
    c = train_label_classifier(data, tmp_path / "c", steps=5, train_share=0.8, seed=4)
    ma, mb, mc = (load_classifier(x["path"])[0].state_dict() for x in (a, b, c))
    assert all(torch.equal(ma[k], mb[k]) for k in ma) and not all(torch.equal(ma[k], mc[k]) for k in ma)
    meta = load_classifier(a["path"])[1]
    assert (meta["n_train"], meta["n_test"]) == (int(0.8 * len(data)), len(data) - int(0.8 * len(data)))
    assert "train_accuracy" not in meta and 0 <= meta["test_accuracy"] <= 1
