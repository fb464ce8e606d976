"""Recipes, rebuild, the results table and the sweep command."""
from pathlib import Path

import pytest
import torch

from genlab import cli
from genlab.checkpoint import list_checkpoints, load_checkpoint, read_metadata
from genlab.recipes import RecipeError, find_recipes, load_recipe, rebuild, results_table

ROOT = Path(__file__).resolve().parents[1]

TINY = """
name = "tiny-vae"
model = "vae"
data = "digits"
steps = 30
batch_size = 16
seed = 3
half = true
[options]
latent_dim = 4
"""


def test_every_shipped_recipe_is_readable_and_names_a_known_model():
    from genlab.data import DATASETS
    from genlab.models import MODELS

    files = find_recipes(ROOT / "recipes")
    assert len(files) >= 10
    for f in files:
        r = load_recipe(f)
        assert r["data"] in DATASETS, f
        assert r.get("kind") == "classifier" or r["model"] in MODELS, f
        assert r["name"] == f.stem, f"{f}: the name should match the file so `--only` finds it"


def test_bad_recipes_give_one_clear_error(tmp_path):
    with pytest.raises(RecipeError, match="not found"):
        load_recipe(tmp_path / "nope.toml")
    (tmp_path / "bad.toml").write_text("model = ")
    with pytest.raises(RecipeError, match="not valid TOML"):
        load_recipe(tmp_path / "bad.toml")
    (tmp_path / "nodata.toml").write_text('model = "vae"')
    with pytest.raises(RecipeError, match="has no 'data'"):
        load_recipe(tmp_path / "nodata.toml")


def test_rebuild_ships_a_half_precision_copy_that_reproduces_the_recipe(tmp_path):
    rec = tmp_path / "tiny-vae.toml"
    rec.write_text(TINY)
    logs = []
    stem = rebuild(rec, ckpt_root=tmp_path / "ckpt", runs_root=tmp_path / "runs", evaluate=False, progress=False,
                   log=logs.append)
    meta = read_metadata(stem)
    assert meta["recipe"]["name"] == "tiny-vae" and meta["steps"] == 30 and meta["seed"] == 3
    model, _ = load_checkpoint(stem)
    assert next(model.parameters()).dtype.is_floating_point
    from safetensors import safe_open

    with safe_open(str(stem.with_suffix(".safetensors")), "pt") as f:
        assert {str(f.get_tensor(k).dtype) for k in f.keys()} == {"torch.float16"}
    # the same recipe again: up to date, nothing retrained
    rebuild(rec, ckpt_root=tmp_path / "ckpt", runs_root=tmp_path / "runs", evaluate=False, progress=False,
            log=logs.append)
    assert "up to date" in logs[-1]
    # a second build from scratch elsewhere gives identical weights (seeded, same device)
    stem2 = rebuild(rec, ckpt_root=tmp_path / "ckpt2", runs_root=tmp_path / "runs2", evaluate=False, progress=False,
                    log=logs.append)
    from safetensors.torch import load_file

    a, b = load_file(str(stem.with_suffix(".safetensors"))), load_file(str(stem2.with_suffix(".safetensors")))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_results_table_is_made_from_stored_metrics(tmp_path):
    rec = tmp_path / "tiny-vae.toml"
    rec.write_text(TINY)
    stem = rebuild(rec, ckpt_root=tmp_path / "ckpt", runs_root=tmp_path / "runs", evaluate=False, progress=False,
                   log=lambda *_: None)
    from genlab.checkpoint import update_metadata

    update_metadata(stem, metrics={"fd": 1.2345, "precision": 0.5, "laplacian_variance_samples": 0.01,
                                   "laplacian_variance_real": 0.04})
    table = results_table([tmp_path / "ckpt"])
    lines = table.splitlines()
    assert lines[0] == "**Image models**" and "2-D mixtures" not in table  # a table per kind of data, when it has rows
    header = next(line for line in lines if line.startswith("| checkpoint | model | data |"))
    # only the measures some row has: FD, precision, sharpness here; no mode or disentanglement columns
    assert header == ("| checkpoint | model | data | steps | device | FD | precision | "
                      "sharpness (Laplacian var., ours / real) |")  # nor a published column: none for a digits VAE
    row = next(line for line in lines if "tiny-vae" in line)
    assert "| 1.23 |" in row and "| 0.50 |" in row and "0.010 / 0.040" in row
    assert "¹" not in table
    update_metadata(stem, metrics={"modes_captured": 16, "high_quality": 0.851, "drs_modes_captured": 25,
                                   "drs_high_quality": 0.9656, "drs_reverse_kl": 0.1452, "labels_covered": 1,
                                   "label_kl_to_real": 2.3183})
    row = next(line for line in results_table([tmp_path / "ckpt"]).splitlines() if "tiny-vae" in line)
    assert "| 16 | 85.1% |" in row and "| 25 / 96.6% / 0.15 |" in row  # discriminator rejection sampling
    assert "| 0.010 / 0.040 | 1 (2.32) |" in row  # one class of the labels produced: collapsed
    update_metadata(stem, metrics={"generator_modes_captured": 23, "generator_high_quality": 0.957,
                                   "generator_reverse_kl": 0.1163})
    table = results_table([tmp_path / "ckpt"])
    assert "generator itself, not its average" in table and "| 23 / 95.7% / 0.12 |" in table
    update_metadata(stem, metrics_info={"settings": {"fast": True}})
    table = results_table([tmp_path / "ckpt"])
    assert "tiny-vae ¹" in table and "not comparable with the published defaults" in table
    brief = results_table([tmp_path / "ckpt"], brief=True)  # the README's: no device or published column
    header = next(line for line in brief.splitlines() if line.startswith("| checkpoint |"))
    assert header.startswith("| checkpoint | model | data | steps | FD |") and "published" not in header
    assert "| 23 / 95.7% / 0.12 |" in brief and "| cpu |" not in brief


def test_sweep_trains_one_resumable_run_per_value(tmp_path, capsys):
    rc = cli.main(["sweep", "--model", "beta-vae", "--data", "digits", "--values", "beta=1,8", "--steps", "12",
                   "--batch-size", "8", "--out", str(tmp_path), "--quiet"])
    assert rc == 0
    rows = list_checkpoints(tmp_path)
    betas = sorted(r.config["beta"] for r in rows)
    assert betas == [1.0, 8.0]
    assert all(r.steps == 12 for r in rows)


def test_sweep_rejects_an_unknown_setting(capsys):
    assert cli.main(["sweep", "--model", "vae", "--data", "digits", "--values", "colour=1,2"]) == 2
    assert "--values must be SETTING=" in capsys.readouterr().err
