"""Every hyper-parameter is described once, in its ModelConfig field's `option` metadata: the CLI's
flags and help, the Train page's help, range and choices, and validate_config's checks read it."""

import dataclasses
import math

import pytest

from genlab import cli, runner
from genlab.models import MODELS, ModelConfig, default_text, field_help, field_problem, make_config, options

NOT_OPTIONS = {"model", "data", "shape"}  # what to train on what: --model, --data and the data's shape


def _train_actions() -> dict:
    sub = next(a for a in cli._parser()._actions if a.dest == "command")
    return {a.dest: a for a in sub.choices["train"]._actions}


def test_every_setting_is_an_option_with_a_flag_and_help():
    names = {f.name for f in dataclasses.fields(ModelConfig)}
    assert set(options()) == names - NOT_OPTIONS
    for name, f in options().items():
        m = f.metadata
        assert m["flag"] == "--" + name.replace("_", "-") and m["help"].strip(), name
        if isinstance(f.default, (int, float)) and not isinstance(f.default, bool) or f.default is None:
            assert m["limit"] is not None, f"{name} has no range"


def test_the_cli_shows_each_option_s_metadata_and_defaults():
    actions = _train_actions()
    for name, f in options().items():
        a = actions[name]
        m = f.metadata
        assert a.option_strings == [m["flag"], *m["aliases"]]
        assert a.help.replace("%%", "%") == f"{field_help(name)} {default_text(name)}".strip()
        assert m["help"] in a.help and (m["paper"] is None or m["paper"] in a.help)
        assert (list(a.choices) if a.choices else None) == (list(m["choices"]) if m["choices"] else None)
    # the defaults are read from ModelConfig and the registry, not written by hand
    assert default_text("beta") == "[1; beta-vae 4]"
    assert default_text("d_steps") == "[1; wgan, wgan-gp 5]" and default_text("feature_matching") == ""
    assert actions["d_steps"].option_strings == ["--d-steps", "--n-critic"]


def test_the_train_page_shows_the_same_help_and_choices():
    for model in MODELS:
        for row in runner.hyperparameter_fields(model):
            m = options()[row["name"]].metadata
            assert row["help"] == field_help(row["name"])
            assert row["choices"] == (list(m["choices"]) if m["choices"] else None)
            if row["limit"] is not None:
                assert row["limit"] == m["limit"] and row["range"] == m["limit"].text()


def _outside(limit, whole: bool):
    """A value just outside a range's lower end."""
    if limit.lo_open:
        return int(limit.lo) if whole else float(limit.lo)
    return int(limit.lo) - 1 if whole else limit.lo - 0.5


@pytest.mark.parametrize("name", [n for n, f in options().items() if f.metadata["limit"] is not None])
def test_validate_config_and_the_train_page_refuse_out_of_range_values_alike(name):
    f = options()[name]
    limit, whole = f.metadata["limit"], "int" in str(f.type)
    for bad in [_outside(limit, whole)] + ([] if math.isinf(limit.hi) else
                                           [int(limit.hi) + 1 if whole else limit.hi * 2 + 1]):
        clause = field_problem(name, bad)
        assert clause and clause.startswith(f"{name} must be"), (name, bad)
        with pytest.raises(ValueError) as e:
            make_config("gan", "ring", (2,), **{name: bad})
        assert str(e.value) == clause
        assert clause in runner.check_run_settings("gan", "ring", {name: bad})
    assert field_problem(name, f.default) is None


def test_choices_are_checked_by_validate_config_too():
    with pytest.raises(ValueError, match="gan_loss must be one of non-saturating, minimax"):
        make_config("gan", "ring", (2,), gan_loss="hinge")
    with pytest.raises(SystemExit) as e:  # the CLI offers the same choices
        cli.main(["train", "--model", "gan", "--data", "ring", "--gan-loss", "hinge"])
    assert e.value.code == 2
