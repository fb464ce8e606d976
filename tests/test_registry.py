"""The model registry: every place that depends on what a model can do reads its ModelSpec traits,
so a model registered with one spec (and nothing else edited) is treated as its traits say."""

import dataclasses

import pytest
import torch
from conftest import tiny_cfg

from genlab import compare, nets, runner
from genlab.checkpoint import CheckpointRow
from genlab.cli import main
from genlab.data import load_dataset
from genlab.models import MODELS, GenerativeModel, make_config
from genlab.rejection import check_drs
from genlab.sweep import StackedVAE, can_batch


def _toy(base: str, name: str, **traits):
    """A new model built from an existing one's networks and steps, with traits of its own."""
    return dataclasses.replace(MODELS[base], name=name, paper="Toy et al. 2031", purpose="a test model", **traits)


@pytest.fixture
def toys(monkeypatch):
    """Two toy GANs and a toy VAE in the registry for one test; monkeypatch removes them after."""
    specs = {
        "toy-gan": _toy("gan", "toy-gan", drs=True, plain_discriminator=True, fields=("latent_dim", "pack"),
                        example="--data ring --pack 2"),
        "toy-critic": _toy("gan", "toy-critic", drs=False, plain_discriminator=False, gan_game=False,
                           fields=("latent_dim", "margin"), inputs=("points",)),
        "toy-vae": _toy("vae", "toy-vae", knob="beta", stackable=True, encoder=True,
                        fields=("latent_dim", "beta", "capacity")),
    }
    for name, spec in specs.items():
        monkeypatch.setitem(MODELS, name, spec)
    return specs


def test_drs_follows_the_drs_trait(toys):
    ring = load_dataset("ring")
    check_drs(GenerativeModel(tiny_cfg("toy-gan", ring)))  # drs=True: accepted
    with pytest.raises(ValueError, match="toy-gan") as e:  # the refusal lists the models that can
        check_drs(GenerativeModel(tiny_cfg("toy-critic", ring)))
    assert "toy-critic" in str(e.value) and "\n" not in str(e.value)


def test_the_stacked_sweep_follows_the_stackable_trait_and_its_knob(toys, digits):
    assert can_batch("toy-vae", "beta") and not can_batch("toy-vae", "gamma")
    assert not can_batch("toy-gan", "beta") and not can_batch("annealed-vae", "beta")
    members = []
    for seed, beta in ((0, 1.0), (1, 3.0)):
        torch.manual_seed(seed)
        members.append(GenerativeModel(tiny_cfg("toy-vae", digits, beta=beta)))
    assert StackedVAE(members).k == 2
    with pytest.raises(ValueError, match="batched sweep trains .*toy-vae"):
        StackedVAE([GenerativeModel(tiny_cfg("annealed-vae", digits))])


def test_the_train_page_shows_the_fields_the_spec_names(toys):
    names = [f["name"] for f in runner.hyperparameter_fields("toy-vae") if f["group"] == "model"]
    assert names == ["latent_dim", "beta", "capacity"]
    assert runner.check_run_settings("toy-gan", "ring", {"pack": 2}) == []


def test_validation_reads_the_traits(toys):
    ring, digits = load_dataset("ring"), load_dataset("digits")
    assert tiny_cfg("toy-gan", ring, pack=2).pack == 2  # plain_discriminator: packing applies
    with pytest.raises(ValueError, match="packing .* applies to .*toy-gan.*not toy-critic"):
        tiny_cfg("toy-critic", ring, pack=2)
    with pytest.raises(ValueError, match="historical averaging applies to .*toy-gan.*not toy-critic"):
        tiny_cfg("toy-critic", ring, historical_averaging=0.1)
    with pytest.raises(ValueError, match="toy-critic trains on points, not on images"):
        tiny_cfg("toy-critic", digits)


def test_the_pages_helpers_and_the_cli_read_the_traits(toys, capsys):
    def row(model, beta):
        return CheckpointRow(path=f"/x/{model}-{beta}/model", model=model, data="digits", latent_dim=3, steps=10,
                             name=f"{model}-{beta}", meta={"config": {"shape": [1, 8, 8], "beta": beta}})

    groups = compare.traversal_groups([row("toy-vae", 1.0), row("toy-vae", 3.0), row("toy-gan", 1.0)])
    sweep = [g for g in groups if g["sweep"]]
    assert len(sweep) == 1 and [m["beta"] for m in sweep[0]["members"]] == [1.0, 3.0]
    assert compare.has_encoder_row(row("toy-vae", 1.0)) and not compare.has_encoder_row(row("toy-gan", 1.0))
    assert main(["models"]) == 0
    assert "genlab train --model toy-gan --data ring --pack 2 --steps 2000" in capsys.readouterr().out


@pytest.mark.parametrize("name", list(MODELS))
def test_each_model_s_traits_describe_its_networks(name):
    spec = MODELS[name]
    data = load_dataset("ring" if "points" in spec.inputs else "dsprites" if spec.text else "digits")
    model = GenerativeModel(tiny_cfg(name, data) if name != "infogan" else make_config(name, "digits", (1, 8, 8)))
    assert spec.encoder == ("enc" in model.nets) == model.has_encoder
    assert spec.autoregressive == isinstance(model.nets["dec"] if "dec" in model.nets else None, nets.PixelCNNDecoder)
    assert spec.code_remedies <= (spec.family == "vae")  # free bits and annealing act on a KL term
    disc = model.nets["disc"] if "disc" in model.nets else None
    if spec.plain_discriminator:  # one output per input, no InfoGAN head
        assert isinstance(disc, nets.Discriminator) and disc.q_head is None
    if spec.drs or spec.critic:
        assert isinstance(disc, nets.Discriminator)
    assert not (spec.critic and spec.drs), "a critic's score is no log-odds"
    assert spec.clip_weights <= spec.critic and spec.gradient_penalty <= spec.critic
    assert set(spec.fields) <= {f.name for f in dataclasses.fields(model.cfg)}
    assert (spec.knob is None) or spec.knob in spec.fields
