"""The genlab command line: each command, its errors and the console script."""

import json
from importlib.metadata import entry_points

import numpy as np
import pytest
import torch

from genlab.cli import main


def test_console_script_is_installed():
    eps = [e for e in entry_points(group="console_scripts") if e.name == "genlab"]
    assert eps and eps[0].value == "genlab.cli:main"


def test_train_list_and_resume(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--model", "beta-vae", "--data", "digits", "--steps", "6", "--batch-size", "8",
                 "--beta", "3", "--latent-dim", "4", "--out", str(out), "--quiet", "--seed", "2"]) == 0
    assert "finished at step 6" in capsys.readouterr().out
    assert main(["list", str(tmp_path), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 1 and rows[0]["model"] == "beta-vae" and rows[0]["steps"] == 6
    meta = json.loads((out / "model.json").read_text())
    assert meta["config"]["beta"] == 3.0 and meta["config"]["latent_dim"] == 4 and meta["seed"] == 2
    assert main(["train", "--model", "beta-vae", "--data", "digits", "--steps", "10", "--batch-size", "8",
                 "--beta", "3", "--latent-dim", "4", "--out", str(out), "--quiet", "--seed", "2", "--resume"]) == 0
    assert json.loads((out / "model.json").read_text())["steps"] == 10


def test_gan_tricks_reach_the_config(tmp_path):
    out = tmp_path / "g"
    assert main(["train", "--model", "gan", "--data", "ring", "--steps", "3", "--batch-size", "16", "--out", str(out),
                 "--quiet", "--label-smoothing", "0.9", "--instance-noise", "0.1", "--lr-d", "4e-4", "--lr-g", "1e-4",
                 "--feature-matching", "--minibatch-discrimination", "--d-steps", "2", "--consensus", "0.5",
                 "--historical-averaging", "0.2", "--ema-decay", "0.99", "--ema-start", "2"]) == 0
    c = json.loads((out / "model.json").read_text())["config"]
    assert (c["label_smoothing"], c["instance_noise"], c["lr_d"], c["lr_g"], c["d_steps"], c["consensus"]) == \
        (0.9, 0.1, 4e-4, 1e-4, 2, 0.5)
    assert c["feature_matching"] and c["minibatch_discrimination"] and c["historical_averaging"] == 0.2
    assert (c["ema_decay"], c["ema_start"]) == (0.99, 2)


def test_recipe_reproduces_a_run(tmp_path):
    recipe = tmp_path / "r.toml"
    recipe.write_text('name = "tiny"\nmodel = "wgan"\ndata = "ring"\nsteps = 4\nseed = 3\nbatch_size = 8\n'
                      '[options]\nlatent_dim = 2\nlr = 1e-3\n')
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["train", "--recipe", str(recipe), "--out", str(a), "--quiet"]) == 0
    assert main(["train", "--recipe", str(recipe), "--out", str(b), "--quiet"]) == 0
    ma, mb = (json.loads((p / "model.json").read_text()) for p in (a, b))
    from genlab.checkpoint import load_checkpoint

    sa, sb = (load_checkpoint(p)[0].state_dict() for p in (a, b))
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert ma["recipe"]["name"] == "tiny" and ma["config"]["d_steps"] == 5 and ma["config"]["lr"] == 1e-3


def test_a_recipe_run_with_overrides_records_what_was_run(tmp_path):
    recipe = tmp_path / "r.toml"
    recipe.write_text('name = "tiny"\nmodel = "gan"\ndata = "ring"\nsteps = 4\nseed = 3\nbatch_size = 8\n'
                      '[options]\nlatent_dim = 2\nlr = 1e-3\n')
    out = tmp_path / "a"
    assert main(["train", "--recipe", str(recipe), "--out", str(out), "--steps", "6", "--seed", "5",
                 "--lr", "2e-3", "--log-every", "2", "--quiet"]) == 0
    meta = json.loads((out / "model.json").read_text())
    assert meta["steps"] == 6 and meta["seed"] == 5
    assert meta["recipe"]["steps"] == 6 and meta["recipe"]["seed"] == 5 and meta["recipe"]["batch_size"] == 8
    assert meta["recipe"]["options"] == {"latent_dim": 2, "lr": 2e-3}
    assert "log_every" not in meta["recipe"]  # bookkeeping, not part of what the recipe trains
    # another model and name on the same recipe are recorded too: the run is no longer the file's "tiny"
    other = tmp_path / "b"
    assert main(["train", "--recipe", str(recipe), "--out", str(other), "--model", "iwgan", "--name", "tiny-iwgan",
                 "--quiet"]) == 0
    ran = json.loads((other / "model.json").read_text())["recipe"]
    assert (ran["model"], ran["name"], ran["data"], ran["steps"]) == ("iwgan", "tiny-iwgan", "ring", 4)


@pytest.mark.parametrize("argv,needle", [
    (["train", "--model", "nope", "--data", "digits"], "invalid choice: 'nope'"),
    (["train", "--model", "vae", "--data", "digits", "--steps", "x"], "invalid int value"),
    (["train", "--data", "digits"], "say which model"),
    (["train", "--model", "vae", "--data", "mnist"], "MNIST is not on disk"),
    (["train", "--model", "vae", "--data", "digits", "--latent-dim", "0"], "latent_dim must be 1–512 (got 0)"),
    (["train", "--recipe", "/nonexistent.toml"], "recipe '/nonexistent.toml' not found"),
    (["score", "--codes", "/nonexistent.npz"], "not found"),
    (["eval", "/nonexistent/ckpt"], "not found"),
])
def test_bad_input_gives_one_line_and_a_nonzero_exit(argv, needle, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("GENLAB_DATA", str(tmp_path))
    monkeypatch.chdir(tmp_path)  # nothing may land in the repo's runs/
    with pytest.raises(SystemExit) if argv[-1] == "x" or argv[1:3] == ["--model", "nope"] else _no_raise() as e:
        code = main(argv)
    code = e.value.code if e is not None and hasattr(e, "value") else code
    err = capsys.readouterr().err.strip()
    assert code != 0 and needle in err and len(err.splitlines()) == 1, err


class _no_raise:
    def __enter__(self):
        return None

    def __exit__(self, *a):
        return False


def test_existing_run_without_resume_is_refused(tmp_path, capsys):
    args = ["train", "--model", "vae", "--data", "digits", "--steps", "2", "--batch-size", "4", "--out", str(tmp_path), "--quiet"]
    assert main(args) == 0
    assert main(args) == 2
    assert "--resume" in capsys.readouterr().err


def test_data_export_writes_the_original_layout(tmp_path, capsys):
    out = tmp_path / "d.npz"
    assert main(["data", "export", "dsprites", "--out", str(out), "--limit", "100"]) == 0
    with np.load(out, allow_pickle=False) as f:
        assert f["imgs"].shape == (100, 64, 64) and f["imgs"].dtype == np.uint8
        assert f["latents_classes"].shape == (100, 6) and f["latents_values"].shape == (100, 6)
        assert f["latents_classes"][1].tolist() == [0, 0, 0, 0, 0, 1]


def test_info_json_lists_device_and_datasets(capsys):
    assert main(["info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["system"]["device"] == "cpu"
    names = {d["name"]: d["available"] for d in info["datasets"]}
    assert names["dsprites"] and names["digits"] and names["ring"]


def test_help_on_each_command(capsys):
    for cmd in (["train"], ["list"], ["info"], ["data", "export"], ["eval"], ["score"]):
        with pytest.raises(SystemExit) as e:
            main(cmd + ["--help"])
        assert e.value.code == 0
    assert "Higgins et al. 2017" in capsys.readouterr().out


def test_models_table_lists_every_model_with_a_cli_line_that_parses(capsys):
    from genlab.cli import _parser
    from genlab.models import MODELS

    assert main(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["model"] for r in rows] == list(MODELS)
    for r in rows:
        args = _parser().parse_args(r["cli"].split()[1:])  # the example line is a valid command
        assert args.model == r["model"] and r["paper"]
    assert main(["models"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert len(table) == len(MODELS) + 2 and all(line.count(" | ") == 4 for line in table[2:])
    assert main(["models", "--brief"]) == 0  # the README's table: the same rows without the command
    brief = capsys.readouterr().out.splitlines()
    assert len(brief) == len(table) and all(line.count(" | ") == 3 and "genlab train" not in line for line in brief[2:])
    assert [line.split(" | ")[0] for line in brief[2:]] == [line.split(" | ")[0] for line in table[2:]]


def test_eval_list_prints_every_measure(capsys):
    from genlab.metrics import METRICS

    assert main(["eval", "--list"]) == 0
    out = capsys.readouterr().out
    assert all(f"`{name}`" in out for name in METRICS)
    assert main(["eval"]) == 2
    assert "name a checkpoint" in capsys.readouterr().err


def test_results_on_an_empty_folder_says_how_to_fill_it(tmp_path, capsys):
    assert main(["results", str(tmp_path)]) == 0
    assert "genlab rebuild" in capsys.readouterr().out


def test_rebuild_without_recipes_is_a_one_line_error(tmp_path, capsys):
    assert main(["rebuild", "--recipes", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no recipe files" in err and err.count("\n") == 1


def test_eval_printout_drops_sections_that_hold_only_histograms():
    from genlab.cli import _format_scores

    res = {"metrics": {"modes_captured": 23, "reverse_kl": 0.11264},
           "info": {"generator_itself": {"histogram": list(range(25))}, "modes": {"histogram": list(range(25)), "n": 2500}}}
    assert _format_scores(res).splitlines() == [
        "metrics:", f"  {'modes_captured':28s} 23", f"  {'reverse_kl':28s} 0.1126",
        "info:", "  modes:", f"    {'n':28s} 2500"]
