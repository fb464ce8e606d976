"""The batched β sweep (genlab.sweep): stacked parameters must train each member as its own run would."""

import json
from pathlib import Path

import pytest
import torch

from genlab import cli
from genlab.checkpoint import list_checkpoints, load_checkpoint
from genlab.data import load_dataset
from genlab.device import seed_everything
from genlab.models import GenerativeModel, make_config
from genlab import objectives as obj
from genlab.sweep import Member, StackedVAE, _Forward, fit_stacked
from genlab.train import TrainConfig, fit


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def _cfg(data, beta):
    return make_config("beta-vae", "digits", data.shape, beta=beta, latent_dim=4)


def test_stacked_losses_and_gradients_are_each_members_own(digits):
    seed_everything(0)
    a = GenerativeModel(_cfg(digits, 1.0))
    seed_everything(1)
    b = GenerativeModel(_cfg(digits, 8.0))
    stacked = StackedVAE([a, b])
    x = digits.sample(16, torch.Generator().manual_seed(0))["x"]
    eps = torch.randn(2, 16, 4, generator=torch.Generator().manual_seed(1))
    out = stacked.losses(x, eps)
    grads = torch.autograd.grad(out["member_loss"].sum(), list(stacked.stacked))
    for k, (m, beta) in enumerate(((a, 1.0), (b, 8.0))):
        fwd = _Forward(m)
        mu, logvar, logits = fwd(x, eps[k])
        ref = obj.beta_vae(x, logits, mu, logvar, beta, "bernoulli")
        assert out["member_loss"][k].item() == pytest.approx(ref["loss"].item(), rel=1e-5)
        assert out["kl"][k].item() == pytest.approx(ref["kl"].item(), rel=1e-4, abs=1e-6)
        ref_grads = torch.autograd.grad(ref["loss"], list(fwd.parameters()))
        for g, r in zip(grads, ref_grads):
            torch.testing.assert_close(g[k], r, rtol=1e-4, atol=1e-5)
    assert out["member_loss"][0].item() != pytest.approx(out["member_loss"][1].item(), rel=1e-3)


def test_each_member_of_a_one_seed_sweep_follows_its_own_run(tmp_path, digits):
    members = [Member("b1", _cfg(digits, 1.0), 0), Member("b8", _cfg(digits, 8.0), 0)]
    tc = TrainConfig(steps=10, batch_size=16, ckpt_every=5, log_every=2)
    fit_stacked(members, digits, tmp_path / "sweep", tc, progress=False)
    for name, beta in (("b1", 1.0), ("b8", 8.0)):
        ref = fit(_cfg(digits, beta), digits, TrainConfig(steps=10, batch_size=16, log_every=2), progress=False)
        rows = [json.loads(l) for l in (tmp_path / "sweep" / name / "log.jsonl").read_text().splitlines()]
        assert [r["step"] for r in rows] == [h["step"] for h in ref.history] == [2, 4, 6, 8, 10]
        for r, h in zip(rows, ref.history):
            assert r["loss"] == pytest.approx(h["loss"], rel=1e-4) and r["kl"] == pytest.approx(h["kl"], rel=1e-3, abs=1e-6)
        model, _ = load_checkpoint(tmp_path / "sweep" / name / "model")
        for p, q in zip(model.state_dict().values(), ref.model.state_dict().values()):
            torch.testing.assert_close(p, q, rtol=0, atol=1e-4)
    # and β made a difference the tolerance above would see
    m1, _ = load_checkpoint(tmp_path / "sweep" / "b1" / "model")
    m8, _ = load_checkpoint(tmp_path / "sweep" / "b8" / "model")
    assert max((p - q).abs().max().item() for p, q in zip(m1.state_dict().values(), m8.state_dict().values())) > 5e-4


def test_a_stopped_batched_sweep_resumes_to_the_same_weights(tmp_path, digits):
    members = [Member("a", _cfg(digits, 1.0), 0), Member("b", _cfg(digits, 4.0), 3)]
    full = TrainConfig(steps=8, batch_size=16, ckpt_every=4, log_every=2)
    fit_stacked(members, digits, tmp_path / "once", full, progress=False)
    fit_stacked(members, digits, tmp_path / "twice", TrainConfig(steps=4, batch_size=16, ckpt_every=4), progress=False)
    fit_stacked(members, digits, tmp_path / "twice", full, progress=False)
    for name in ("a", "b"):
        m1, _ = load_checkpoint(tmp_path / "once" / name / "model")
        m2, meta = load_checkpoint(tmp_path / "twice" / name / "model")
        for p, q in zip(m1.state_dict().values(), m2.state_dict().values()):
            assert torch.equal(p, q)
    assert meta["steps"] == 8 and meta["seed"] == 3 and meta["sweep"]["batched"] is True
    # a member's folder is an ordinary run: plain `fit` continues it
    more = fit(_cfg(digits, 4.0), digits, TrainConfig(steps=10, batch_size=16, seed=3, out=str(tmp_path / "twice" / "b"),
                                                    resume=True), progress=False)
    assert more.step == 10


def test_members_that_differ_in_more_than_beta_are_refused(digits):
    a = GenerativeModel(_cfg(digits, 1.0))
    b = GenerativeModel(make_config("beta-vae", "digits", digits.shape, beta=4.0, latent_dim=6))
    with pytest.raises(ValueError, match="latent_dim"):
        StackedVAE([a, b])
    with pytest.raises(ValueError, match="batched sweep trains"):
        StackedVAE([GenerativeModel(make_config("info-vae", "digits", digits.shape))])


def test_cli_sweep_batched_writes_the_same_folders_as_separate_runs(tmp_path, capsys):
    args = ["sweep", "--model", "beta-vae", "--data", "digits", "--values", "beta=1,8", "--steps", "6",
            "--batch-size", "8", "--quiet"]
    assert cli.main(args + ["--out", str(tmp_path / "on"), "--batched", "on"]) == 0
    assert "2 members batched" in capsys.readouterr().out
    assert cli.main(args + ["--out", str(tmp_path / "off"), "--batched", "off"]) == 0
    on = sorted(Path(r["path"]).parent.name for r in list_checkpoints(tmp_path / "on"))
    off = sorted(Path(r["path"]).parent.name for r in list_checkpoints(tmp_path / "off"))
    assert on == off == ["beta-vae-digits-beta-1-s0", "beta-vae-digits-beta-8-s0"]
    assert cli.main(["sweep", "--model", "gan", "--data", "ring", "--values", "lr=1e-4,2e-4", "--batched", "on",
                     "--out", str(tmp_path / "gan")]) == 2
    assert "use --batched off" in capsys.readouterr().err
