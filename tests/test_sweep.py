"""The batched β sweep (genlab.sweep): stacked parameters must train each member as its own run would."""

import json
import os
import subprocess
import tarfile
import time
import types
from pathlib import Path

import pytest
import torch

import genlab.sweep as sweep_mod
from genlab import cli
from genlab import objectives as obj
from genlab import study as S
from genlab.checkpoint import list_checkpoints, load_checkpoint, read_metadata
from genlab.data import load_dataset
from genlab.device import seed_everything
from genlab.models import GenerativeModel, make_config
from genlab.sweep import Member, ResidentImages, StackedVAE, _Forward, fit_stacked, run_study_stacked
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


def _resume_extra(folder) -> dict:
    from safetensors import safe_open

    with safe_open(str(folder / "resume.safetensors"), framework="pt") as f:
        return json.loads(f.metadata()["genlab"])["extra"]


def test_a_stacked_run_records_what_fit_records_over_the_whole_run(tmp_path, digits):
    """The stacked run shares fit's run loop: its sidecars and resumable states carry the compute facts,
    a resume with nothing to train keeps the training segment's, and images/s is over the whole run."""
    from genlab.device import COMPUTE_KEYS, compute_facts

    members = [Member("a", _cfg(digits, 1.0), 0), Member("b", _cfg(digits, 4.0), 3)]
    tc = lambda steps: TrainConfig(steps=steps, batch_size=8, ckpt_every=100)  # noqa: E731
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        # a slow first segment (0.25 s a step): a rate per segment would differ from one over the whole run
        fit_stacked(members, digits, tmp_path, tc(2), progress=False, on_step=lambda step, s: time.sleep(0.25))
        torch.set_num_threads(2)
        fit_stacked(members, digits, tmp_path, tc(2), progress=False)  # nothing to train: ships the first segment
        for name in ("a", "b"):
            meta = load_checkpoint(tmp_path / name / "model")[1]
            assert meta["threads"] == 1 and _resume_extra(tmp_path / name)["compute"] == {k: meta[k] for k in COMPUTE_KEYS}
        fit_stacked(members, digits, tmp_path, tc(8), progress=False)
        for name in ("a", "b"):
            meta = load_checkpoint(tmp_path / name / "model")[1]
            extra = _resume_extra(tmp_path / name)
            assert {k: meta[k] for k in COMPUTE_KEYS} == compute_facts(torch.device("cpu")) == extra["compute"]
            assert meta["threads"] == 2 and extra["wall_time_s"] == meta["wall_time_s"] > 0.5
            # every member's images of all 8 steps over the whole run's wall time, the slow segment included
            assert meta["images_per_s"] == pytest.approx(8 * 8 * 2 / meta["wall_time_s"], rel=0.02)
    finally:
        torch.set_num_threads(before)


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
    on = sorted(Path(r.path).parent.name for r in list_checkpoints(tmp_path / "on"))
    off = sorted(Path(r.path).parent.name for r in list_checkpoints(tmp_path / "off"))
    assert on == off == ["beta-vae-digits-beta-1-s0", "beta-vae-digits-beta-8-s0"]
    assert cli.main(["sweep", "--model", "gan", "--data", "ring", "--values", "lr=1e-4,2e-4", "--batched", "on",
                     "--out", str(tmp_path / "gan")]) == 2
    assert "use --batched off" in capsys.readouterr().err


# --------------------------------------------------------------------------- a study's trials as one stacked run

REPO = Path(__file__).resolve().parents[1]
TINY_STUDY = """name = "tiny"
model = "beta-vae"
data = "digits"
steps = 30
[train]
batch_size = 16
precision = "fp32"
log_every = 5
ckpt_every = 10
[fixed]
latent_dim = 3
[grid]
beta = [1, 4]
seed = [0, 1]
"""


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory):
    path = tmp_path_factory.mktemp("study") / "tiny.toml"
    path.write_text(TINY_STUDY)
    return path


@pytest.fixture(scope="module")
def stacked_once(tiny_study, tmp_path_factory):
    """The tiny study trained once, uninterrupted, by `genlab study run --stacked`."""
    out = tmp_path_factory.mktemp("stacked") / "tiny"
    assert cli.main(["study", "run", str(tiny_study), "--stacked", "--out", str(out), "--quiet"]) == 0
    return out


def _events(folder):
    return [json.loads(line) for line in (Path(folder) / "events.log").read_text().splitlines()]


def _max_diff(a, b):
    return max((p - q).abs().max().item() for p, q in zip(a.state_dict().values(), b.state_dict().values()))


def test_study_run_stacked_writes_ordinary_trials(stacked_once, tiny_study, tmp_path, capsys):
    out = stacked_once
    rows = S.status_rows(out)
    assert sorted(r["trial"] for r in rows) == ["beta-1_seed-0", "beta-1_seed-1", "beta-4_seed-0", "beta-4_seed-1"]
    assert all(r["status"] == "done" and r["step"] == 30 and r["steps"] == 30 for r in rows)
    models = {}
    for r in rows:
        folder = out / r["trial"]
        model, meta = load_checkpoint(folder / "model")
        models[r["trial"]] = model
        # each member's sidecar records its own β and seed, and the trial's recipe, not the first member's
        assert (meta["config"]["beta"], meta["seed"]) == (r["beta"], r["seed"])
        assert meta["recipe"]["grid"] == {"beta": r["beta"], "seed": r["seed"]} and meta["steps"] == 30
        assert meta["sweep"]["batched"] is True and meta["precision"] == "fp32"
        info = S.read_trial(folder)
        assert (info["study"], info["name"], info["values"], info["status"]) == ("tiny", r["trial"],
                                                                                {"beta": r["beta"], "seed": r["seed"]}, "done")
        assert [(e["event"], e["step"]) for e in _events(folder)] == [("start", 0), ("done", 30)]
        assert [json.loads(l)["step"] for l in (folder / "log.jsonl").read_text().splitlines()] == list(range(5, 31, 5))
    assert _max_diff(models["beta-1_seed-0"], models["beta-4_seed-0"]) > 1e-3  # β made a difference
    # the members share the data stream of the first trial's seed (0): the seed-0 member follows its
    # per-trial run; a seed-1 member does not (its own run draws its batches with seed 1)
    study = S.load_study(tiny_study)
    for t in S.trials(study, {"beta": [1], "seed": [0, 1]}):
        S.run_trial(study, t, tmp_path / "per-trial")
        alone, _ = load_checkpoint(tmp_path / "per-trial" / t.name / "model")
        diff = _max_diff(models[t.name], alone)
        assert diff < 1e-4 if t.seed == 0 else diff > 1e-3, (t.name, diff)
    # a second call finds every trial done and trains nothing
    before = (out / "beta-1_seed-0" / "model.safetensors").stat().st_mtime_ns
    assert cli.main(["study", "run", str(tiny_study), "--stacked", "--out", str(out), "--quiet"]) == 0
    assert "0 trials stacked, 4 already done" in capsys.readouterr().out
    assert (out / "beta-1_seed-0" / "model.safetensors").stat().st_mtime_ns == before


def test_a_time_limit_stops_every_trial_at_one_step_and_the_next_call_resumes(stacked_once, tiny_study, tmp_path,
                                                                              capsys, monkeypatch):
    out = tmp_path / "limited"
    args = ["study", "run", str(tiny_study), "--stacked", "--out", str(out), "--quiet"]
    # a limit shorter than the checkpoint margin: the run stops after its first step, checkpointed
    assert cli.main(args + ["--time-limit", "1"]) == 0
    assert "stopped before the end" in capsys.readouterr().out
    rows = S.status_rows(out)
    stopped_at = {r["step"] for r in rows}
    assert {r["status"] for r in rows} == {"stopped"} and len(stopped_at) == 1
    s1 = stopped_at.pop()
    assert 1 <= s1 < 30
    for r in rows:
        folder = out / r["trial"]
        assert read_metadata(folder / "model")["steps"] == s1 and (folder / "resume.safetensors").exists()
        assert [(e["event"], e["step"]) for e in _events(folder)] == [("start", 0), ("stopped", s1)]
    # the next call resumes all four from that step, to the same weights as the uninterrupted run
    assert cli.main(args) == 0
    for r in S.status_rows(out):
        folder = out / r["trial"]
        assert (r["status"], r["step"], r["attempts"]) == ("done", 30, 2)
        assert [(e["event"], e["step"]) for e in _events(folder)] == [("start", 0), ("stopped", s1), ("resume", s1),
                                                                      ("done", 30)]
        a, _ = load_checkpoint(folder / "model")
        b, _ = load_checkpoint(stacked_once / r["trial"] / "model")
        assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))

    # the stop follows the clock: with a clock that moves 10 s per reading, 500 s and a 1 s margin
    # stop the run a few steps before step 25 (two readings per step), not at its first step
    clock = {"t": 0.0}

    def monotonic():
        clock["t"] += 10.0
        return clock["t"]

    monkeypatch.setattr(sweep_mod, "time", types.SimpleNamespace(monotonic=monotonic, perf_counter=time.perf_counter))
    study = S.load_study(tiny_study)
    rep = run_study_stacked(study, tmp_path / "clocked", device="cpu", time_limit_s=500, margin_s=1.0, progress=False,
                            log=lambda *_: None)
    monkeypatch.undo()
    assert rep["stopped"] is True and 10 < rep["step"] < 30 and len(rep["members"]) == 4
    assert {r["step"] for r in S.status_rows(tmp_path / "clocked")} == {rep["step"]}
    # trials that stand at different steps are not stacked together
    more = ["study", "run", str(tiny_study), "--stacked", "--out", str(tmp_path / "clocked"), "--quiet"]
    assert cli.main(more + ["--only", "beta=1;seed=0", "--time-limit", "1"]) == 0
    capsys.readouterr()
    assert cli.main(more) == 2
    assert "different steps" in capsys.readouterr().err
    assert cli.main(["study", "run", str(tiny_study), "--time-limit", "5", "--out", str(tmp_path / "x")]) == 2


def test_resident_dsprites_draw_the_same_batches(monkeypatch):
    from genlab import dsprites
    from genlab.data import DSpritesData

    monkeypatch.setattr(dsprites, "N_IMAGES", 3000)  # the first 3,000 images stand for the set
    data = DSpritesData()
    resident = ResidentImages(data, "cpu", workers=2, chunk=1024)
    assert resident.images.dtype == torch.uint8 and tuple(resident.images.shape) == (3000, 1, 64, 64)
    for seed in (0, 5):
        a = data.sample(32, torch.Generator().manual_seed(seed))["x"]
        b = resident.sample(32, torch.Generator().manual_seed(seed))["x"]
        assert torch.equal(a, b) and a.sum() > 0
    assert resident.factor_sizes == data.factor_sizes  # the metrics' protocol passes through


def test_gpu_campaign_script_runs_on_the_cpu(tiny_study, tmp_path):
    out, run = tmp_path / "out", tmp_path / "run"
    env = dict(os.environ, STUDY=str(tiny_study), STEPS="20", LIMIT="60", DEVICE="cpu", OUT=str(out), RUN_DIR=str(run))
    script = str(REPO / "scripts" / "gpu_campaign.sh")
    dry = subprocess.run(["bash", script, "--dry-run"], env=env, capture_output=True, text=True, timeout=300)
    assert dry.returncode == 0 and "dry run: nothing trained" in dry.stdout and not run.exists()
    res = subprocess.run(["bash", script], env=env, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert "torch " in res.stdout and "4 trials stacked" in res.stdout
    # what comes back from a device run: at most 8 files of at most 16 MiB, no deeper than $OUT/a/b/
    files = sorted(p.name for p in out.iterdir())
    assert {"campaign.log", "MANIFEST.txt"} <= set(files) and len(files) <= 8
    assert all(p.is_file() and p.stat().st_size <= 16 * 2**20 for p in out.iterdir())
    back = tmp_path / "back"
    for p in out.glob("bundle-*.tar.gz"):
        with tarfile.open(p) as tar:
            tar.extractall(back, filter="data")
    rows = S.status_rows(back / run.name)
    assert len(rows) == 4 and all(r["status"] == "done" and r["step"] == 20 for r in rows)
    for r in rows:
        _, meta = load_checkpoint(back / run.name / r["trial"] / "model")
        assert meta["steps"] == 20 and meta["seed"] == r["seed"]
    # the tiny trials' resume states fit, so the unpacked folder carries on where the campaign stopped
    assert "resume states packed" in (out / "MANIFEST.txt").read_text()
    assert cli.main(["study", "run", str(tiny_study), "--stacked", "--steps", "24", "--out", str(back / run.name),
                     "--quiet"]) == 0
    assert {r["step"] for r in S.status_rows(back / run.name, steps=24)} == {24}
