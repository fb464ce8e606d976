"""`genlab eval`: the measures that apply to a checkpoint are computed, printed and stored."""
import json

import pytest
import torch
from conftest import tiny_cfg

from genlab import evaluate
from genlab.checkpoint import read_metadata
from genlab.cli import main
from genlab.data import load_dataset
from genlab.train import TrainConfig, fit


@pytest.fixture(autouse=True)
def _feature_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(evaluate, "FEATURE_CACHE", tmp_path / "features")


def _train(model, data_name, tmp_path, steps=20, **kw):
    data = load_dataset(data_name)
    out = tmp_path / f"{model}-{data_name}"
    fit(tiny_cfg(model, data, **kw), data, TrainConfig(steps=steps, batch_size=16, out=str(out)), progress=False)
    return out / "model"


def test_eval_of_a_digits_vae_measures_and_stores_every_image_group(tmp_path, capsys):
    stem = _train("vae", "digits", tmp_path)
    assert main(["eval", str(stem), "--json", "--fast"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert set(res["info"]) == {"latent", "sharpness", "quality", "labels", "settings"}
    assert res["info"]["settings"]["fast"] is True
    m = res["metrics"]
    assert 0 <= m["precision"] <= 1 and 0 <= m["recall"] <= 1 and m["fd"] > m["fd_real_vs_real"] >= 0
    assert 1 <= m["labels_covered"] <= 10 and m["active_units"] <= 3
    assert m["laplacian_variance_real"] > 0 and "feature_space" in res["info"]["quality"]
    stored = read_metadata(stem)
    assert stored["metrics"] == pytest.approx(m) and "quality" in stored["metrics_info"]


def test_eval_of_a_ring_gan_uses_the_mode_protocol(tmp_path, capsys):
    stem = _train("gan", "ring", tmp_path)
    assert main(["eval", str(stem), "--json"]) == 0
    m = json.loads(capsys.readouterr().out)["metrics"]
    assert m["n_modes"] == 8 and 0 <= m["modes_captured"] <= 8 and 0 <= m["high_quality"] <= 1
    # the same protocol on the samples discriminator rejection sampling keeps
    assert 0 <= m["drs_modes_captured"] <= 8 and 0 <= m["drs_high_quality"] <= 1 and 0 < m["drs_acceptance"] <= 1
    assert m["drs_kept"] == 2500  # a ring GAN keeps enough within the proposal cap


def test_eval_of_a_gan_with_a_generator_average_also_measures_the_generator_itself(tmp_path):
    from genlab.checkpoint import load_checkpoint
    from genlab.metrics.modes import mode_coverage

    stem = _train("gan", "grid", tmp_path, steps=30, ema_decay=0.9)
    m = evaluate.evaluate_checkpoint(stem, metrics=["modes"], fast=True, store=False)["metrics"]
    model, _ = load_checkpoint(stem)
    grid = load_dataset("grid")
    average = mode_coverage(evaluate.generate(model, 2500, 0).numpy(), grid.centres, grid.std)
    with model.without_average():
        itself = mode_coverage(evaluate.generate(model, 2500, 0).numpy(), grid.centres, grid.std)
    assert model.sample_average  # restored after the block
    assert (m["modes_captured"], m["high_quality"]) == (average["modes_captured"], average["high_quality"])
    assert (m["generator_modes_captured"], m["generator_high_quality"]) == (itself["modes_captured"], itself["high_quality"])
    assert not (evaluate.generate(model, 50, 0) == model.nets["gen"].eval()(model.prior(50, torch.Generator().manual_seed(0)))).all()
    plain = evaluate.evaluate_checkpoint(_train("gan", "ring", tmp_path), metrics=["modes"], fast=True, store=False)
    assert not any(k.startswith("generator_") for k in plain["metrics"])


def test_fast_eval_bounds_the_proposals_of_rejection_sampling(tmp_path, monkeypatch):
    import genlab.rejection as rejection

    stem = _train("gan", "ring", tmp_path)
    seen, real = [], rejection.rejection_sample
    monkeypatch.setattr(rejection, "rejection_sample", lambda *a, **k: seen.append(k["max_rounds"]) or real(*a, **k))
    evaluate.evaluate_checkpoint(stem, metrics=["modes"], fast=True, store=False)
    evaluate.evaluate_checkpoint(stem, metrics=["modes"], store=False)
    assert seen == [10, 100]  # --fast: at most 1 million proposals; the full protocol: until 2,500 are kept


def test_eval_of_a_dsprites_vae_scores_disentanglement(tmp_path, monkeypatch):
    # the plumbing, at sizes a test can afford (each BetaVAE point encodes 128 images); the
    # metrics' known answers at the published sizes are in test_metrics_disentanglement.py
    monkeypatch.setattr(evaluate, "FAST_SIZES", {"train": 60, "eval": 30, "variance": 300, "codes": 600,
                                                 "codes_train": 400, "codes_test": 200})
    stem = _train("beta-vae", "dsprites", tmp_path, steps=5)
    res = evaluate.evaluate_checkpoint(stem, metrics=["disentanglement"], fast=True)
    m = res["metrics"]
    for k in ("beta_vae", "factor_vae", "mig", "sap", "dci_disentanglement", "modularity"):
        assert 0 <= m[k] <= 1, k
    assert res["info"]["disentanglement"]["sklearn_version"]


def test_eval_refuses_unknown_or_inapplicable_groups(tmp_path, capsys):
    stem = _train("gan", "ring", tmp_path, steps=2)
    assert main(["eval", str(stem), "--metrics", "colour"]) == 2
    assert "unknown measure group" in capsys.readouterr().err
    assert main(["eval", str(stem), "--metrics", "disentanglement"]) == 2
    assert "not apply" in capsys.readouterr().err
