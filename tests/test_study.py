"""Studies: a grid of runs on a local Ray (one Ray for the whole test session), resumable, measured."""

import json
import os
import signal
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from genlab import study as S
from genlab.cli import main

TINY = """
name = "tiny"
model = "beta-vae"
data = "digits"
steps = {steps}
metrics = ["latent"]
[train]
batch_size = 16
ckpt_every = {ckpt}
log_every = 5
precision = "fp32"
[fixed]
latent_dim = 3
lr = 1e-3
[grid]
beta = [1, 4]
seed = [0, 1]
"""


def write_study(tmp_path, steps=30, ckpt=10, text=None, name="tiny.toml") -> Path:
    p = tmp_path / name
    p.write_text(text if text is not None else TINY.format(steps=steps, ckpt=ckpt))
    return p


@pytest.fixture(scope="session")
def local_ray():
    ray = S.ray_init(num_cpus=2)
    yield ray
    ray.shutdown()


def weights(folder) -> dict:
    return load_file(str(Path(folder) / "model.safetensors"))


# --------------------------------------------------------------------------- the study file


@pytest.mark.parametrize("change, words", [
    (("model = \"beta-vae\"", "model = \"beta-vea\""), "unknown model 'beta-vea'"),
    (("beta = [1, 4]", "betta = [1, 4]"), "'betta' is not a setting"),
    (("beta = [1, 4]\nseed = [0, 1]", ""), "[grid] is empty"),
    (("beta = [1, 4]", "beta = [1, \"four\"]"), "'beta' takes a number"),
    (("beta = [1, 4]", "beta = []"), "needs a non-empty list"),
    (("steps = 30", "steps = \"many\""), "steps must be a whole number"),
])
def test_bad_study_file_is_one_sentence_exit_2_and_starts_nothing(tmp_path, capsys, change, words):
    text = TINY.format(steps=30, ckpt=10).replace(*change)
    path = write_study(tmp_path, text=text)
    out = tmp_path / "out"
    assert main(["study", "run", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and str(path) in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_trials_are_named_after_their_grid_point_and_only_filters(tmp_path):
    study = S.load_study(write_study(tmp_path))
    names = [t.name for t in S.trials(study)]
    assert names == ["beta-1_seed-0", "beta-1_seed-1", "beta-4_seed-0", "beta-4_seed-1"]
    only = S.parse_only("beta=4", study)
    assert [t.name for t in S.trials(study, only)] == ["beta-4_seed-0", "beta-4_seed-1"]
    with pytest.raises(S.StudyError, match="not in the study's grid"):
        S.parse_only("beta=2", study)


def test_ckpt_every_follows_the_curve_steps(tmp_path):
    study = S.load_study(write_study(tmp_path))
    study.measure_every = 25
    _, tc = S.trial_configs(study, S.trials(study)[0], tmp_path / "x", (1, 8, 8))
    assert tc.ckpt_every == 5  # gcd(10, 25): every curve step is a checkpoint step


# --------------------------------------------------------------------------- on Ray


def test_study_on_ray_matches_runs_trained_one_by_one(tmp_path, local_ray, capsys):
    path = write_study(tmp_path)
    out = tmp_path / "study"
    assert main(["study", "run", str(path), "--out", str(out), "--quiet"]) == 0
    study = S.load_study(path)
    for t in S.trials(study):
        assert S.trial_status(out / t.name, study.steps) == "done"
    # the same trials trained here, one after another, at one thread
    alone = tmp_path / "alone"
    threads = torch.get_num_threads()
    try:
        for t in S.trials(study):
            S.run_trial(study, t, alone, threads=1)
    finally:
        torch.set_num_threads(threads)
    for t in S.trials(study):
        a, b = weights(out / t.name), weights(alone / t.name)
        assert a.keys() == b.keys()
        for k in a:
            assert torch.equal(a[k], b[k]), f"{t.name}: {k} differs"
    # seeds and β change the weights (the comparison above is not vacuous)
    w = [weights(out / t.name)["nets.enc.fc_mu.weight"] if "nets.enc.fc_mu.weight" in weights(out / t.name)
         else next(iter(weights(out / t.name).values())) for t in S.trials(study)]
    assert not torch.equal(w[0], w[1]) and not torch.equal(w[0], w[2])

    # run again: every trial is skipped
    capsys.readouterr()
    assert main(["study", "run", str(path), "--out", str(out), "--quiet"]) == 0
    assert "0 trained, 4 already done" in capsys.readouterr().out

    # status and results
    assert main(["study", "status", str(out), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["status"] for r in rows] == ["done"] * 4 and all(r["step"] == 30 for r in rows)
    assert main(["study", "results", str(out), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert len(res["trials"]) == 4 and {r["beta"] for r in res["trials"]} == {1, 4}
    kl = {r["trial"]: r["kl_total"] for r in res["trials"]}
    summary = {r["beta"]: r for r in res["summary"]}
    assert summary[4]["seeds"] == 2 and summary[4]["done"] == 2
    import numpy as np

    four = [kl["beta-4_seed-0"], kl["beta-4_seed-1"]]
    assert summary[4]["kl_total"]["median"] == pytest.approx(float(np.median(four)))
    assert summary[4]["kl_total"]["min"] == pytest.approx(min(four))
    assert main(["study", "results", str(out), "--csv"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 5 and lines[0].startswith("trial,")


def test_a_killed_worker_is_retried_and_resumes(tmp_path, local_ray):
    text = TINY.format(steps=2000, ckpt=20).replace("beta = [1, 4]", "beta = [1]").replace("seed = [0, 1]", "seed = [0]")
    path = write_study(tmp_path, text=text)
    out = tmp_path / "study"
    study = S.load_study(path)
    import threading

    report = {}
    th = threading.Thread(target=lambda: report.update(S.run_study(study, out, progress=False, log=lambda *_: None)))
    th.start()
    folder = out / "beta-1_seed-0"
    deadline = time.time() + 240
    killed = None
    while time.time() < deadline and th.is_alive():
        info = S.read_trial(folder)
        if info.get("step", 0) >= 60 and (folder / "resume.safetensors").exists():
            killed = int(info["pid"])
            os.kill(killed, signal.SIGKILL)
            break
        time.sleep(0.2)
    assert killed is not None, "the trial never reached step 60"
    th.join(300)
    assert not th.is_alive()
    assert report["done"] == ["beta-1_seed-0"] and not report["failed"]
    events = [json.loads(line) for line in (folder / "events.log").read_text().splitlines()]
    resumed = [e for e in events if e["event"] == "resume"]
    assert resumed and resumed[0]["step"] >= 20 and resumed[0]["pid"] != killed
    assert S.read_trial(folder)["step"] == 2000


def test_a_corrupt_trial_is_reported_and_the_others_finish(tmp_path, local_ray, capsys):
    path = write_study(tmp_path)
    out = tmp_path / "study"
    bad = out / "beta-4_seed-0"
    bad.mkdir(parents=True)
    (bad / "resume.safetensors").write_bytes(b"not a safetensors file")
    assert main(["study", "run", str(path), "--out", str(out), "--quiet"]) == 1
    printed = capsys.readouterr().out
    assert "3 trained, 0 already done, 1 failed" in printed
    assert "beta-4_seed-0: resumable state" in printed and "corrupt" in printed
    assert main(["study", "status", str(out)]) == 0
    status = capsys.readouterr().out
    assert "beta-4_seed-0" in status and "failed" in status and "3 done, 1 failed" in status


def test_a_trial_with_weights_but_no_resumable_state_continues_from_them(tmp_path):
    """A shipped trial (float16 weights, no optimiser state) is trained on from its weights, and says so."""
    from genlab.checkpoint import load_checkpoint, save_checkpoint

    path = write_study(tmp_path, text=TINY.format(steps=20, ckpt=10).replace("seed = [0, 1]", "seed = [0]")
                       .replace("beta = [1, 4]", "beta = [4]"))
    study = S.load_study(path)
    t = S.trials(study)[0]
    S.run_trial(study, t, tmp_path / "a", threads=1)
    shipped = tmp_path / "shipped" / t.name
    model, meta = load_checkpoint(tmp_path / "a" / t.name / "model")
    save_checkpoint(shipped / "model", model, meta, half=True)
    (shipped / "trial.json").write_text((tmp_path / "a" / t.name / "trial.json").read_text())
    info = S.run_trial(study, t, tmp_path / "shipped", threads=1, steps=30)
    assert info["status"] == "done" and info["step"] == 30
    events = [json.loads(line) for line in (shipped / "events.log").read_text().splitlines()]
    assert any(e["event"] == "warm start" and e["step"] == 20 for e in events)
    log = [json.loads(line) for line in (shipped / "log.jsonl").read_text().splitlines()]
    assert log[0]["step"] > 20  # the new segment starts where the shipped weights stopped
    w20, _ = load_checkpoint(shipped / "model")
    assert not torch.equal(next(iter(w20.state_dict().values())), next(iter(model.state_dict().values())))


def test_ship_copies_finished_trials_as_float16_with_their_records(tmp_path):
    from genlab.checkpoint import read_metadata

    path = write_study(tmp_path, text=TINY.format(steps=20, ckpt=10).replace("seed = [0, 1]", "seed = [0]"))
    study = S.load_study(path)
    out, dest = tmp_path / "study", tmp_path / "shipped"
    S.write_study_record(study, out)
    first, second = S.trials(study)
    S.run_trial(study, first, out, threads=1)
    S.run_trial(study, second, out, threads=1, steps=10)  # stopped short of the study's 20 steps: not done
    S._write_trial(out / second.name, status="stopped")
    assert main(["study", "ship", str(out), "--to", str(dest)]) == 0
    assert sorted(p.name for p in dest.iterdir() if p.is_dir()) == [first.name]
    meta = read_metadata(dest / first.name / "model")
    assert meta["dtype"] == "float16" and meta["steps"] == 20 and "kl_total" in meta["metrics"]
    assert (dest / first.name / "trial.json").exists() and not (dest / first.name / "resume.safetensors").exists()
    assert S.open_study(dest).name == "tiny"
    assert [r["status"] for r in S.status_rows(dest)] == ["done", "waiting"]


def test_a_train_page_run_on_ray_trains_what_the_server_would(tmp_path, local_ray):
    """The Train page's runs can go to the same Ray as studies: same folder format, same weights as the
    run trained in the server's own thread, and the snapshot follows the task's log and checkpoints."""
    from genlab import runner

    kw = dict(overrides={"latent_dim": 3}, steps=40, batch_size=16, seed=3, root=tmp_path, sample_every=20)
    here = runner.start_run("beta-vae", "digits", run_id="here", **kw)
    there = runner.start_run("beta-vae", "digits", run_id="there", on_ray=True, **kw)
    assert here.join(240) and there.join(240)
    snap = there.snapshot()
    assert snap["status"] == "finished" and snap["on_ray"] and snap["step"] == 40, snap["error"]
    assert snap["history"] and snap["history"][-1]["step"] == 40
    assert snap["samples"] is not None and snap["samples"]["kind"] == "images"
    a, b = weights(tmp_path / "here"), weights(tmp_path / "there")
    assert all(torch.equal(a[k], b[k]) for k in a)
    # found again on disk (a server restart) as a Ray run
    runner.forget_run("there")
    assert runner.get_run("there", tmp_path).on_ray


def test_a_ray_run_stops_and_resumes_from_its_checkpoint(tmp_path, local_ray):
    from genlab import runner

    run = runner.start_run("beta-vae", "digits", {"latent_dim": 3}, steps=1500, batch_size=16, seed=0, root=tmp_path,
                           run_id="r", sample_every=20, on_ray=True)
    deadline = time.time() + 240
    while run.snapshot()["step"] < 60 and time.time() < deadline and run.running:
        time.sleep(0.2)
    run.stop()
    assert run.join(60)
    snap = run.snapshot()
    assert snap["status"] == "stopped" and 60 <= snap["step"] < 1500
    run.resume()
    assert run.join(300)
    snap = run.snapshot()
    assert snap["status"] == "finished" and snap["step"] == 1500, snap["error"]
    steps = [row["step"] for row in snap["history"]]
    assert steps == sorted(steps) and steps[-1] == 1500  # one history, cut back to the resumed checkpoint


def test_a_trial_being_evaluated_keeps_its_heartbeat_and_says_so(tmp_path):
    # the end-of-trial suite runs without training callbacks; without a heartbeat a trial evaluating for
    # longer than STALE_S would be listed as stopped (it was, for the β sweep's 15-minute suites)
    folder = tmp_path / "beta-1_seed-0"
    folder.mkdir()
    (folder / "resume.safetensors").write_bytes(b"")
    (folder / S.TRIAL_FILE).write_text(json.dumps({"status": "running", "step": 30, "steps": 30,
                                                   "updated": time.time() - 2 * S.STALE_S}))
    assert S.trial_status(folder, 30) == "stopped"
    with S._heartbeat(folder, phase="evaluating", every_s=0.05):
        old = time.time() - 2 * S.STALE_S
        info = S.read_trial(folder)
        (folder / S.TRIAL_FILE).write_text(json.dumps({**info, "updated": old}))
        time.sleep(0.3)
        assert S.read_trial(folder)["phase"] == "evaluating"
        assert S.trial_status(folder, 30) == "running"
    assert S.read_trial(folder)["phase"] is None
