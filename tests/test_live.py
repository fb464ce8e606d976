"""genlab.live (the Mode-collapse page's engine) and genlab.runner (background training).

Known answers: same seed → same trajectory; each switch sets the documented config field;
snapshots cover the data; metrics every K steps; a background run finishes, stops, resumes
to the same weights as an uninterrupted run, and reports a divergence in one sentence.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest
import torch

from genlab import live, runner
from genlab import objectives as obj
from genlab.checkpoint import list_checkpoints, load_checkpoint
from genlab.data import load_dataset
from genlab.metrics.modes import mode_coverage
from genlab.models import MODELS, GenerativeModel, ModelConfig, make_config

SMALL = {"batch_size": 16, "eval_samples": 300}


@pytest.fixture(autouse=True)
def _runs_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLAB_RUNS", str(tmp_path / "runs"))
    yield
    with runner._REGISTRY_LOCK:
        runs = list(runner._RUNS.values())
        runner._RUNS.clear()
    for r in runs:  # never leave a worker behind
        r.stop()
        r.join(30)


# --------------------------------------------------------------------------- trick_overrides


def test_switches_map_to_documented_config_fields():
    base = live.trick_overrides({})
    assert base["model"] == "gan" and base["gan_loss"] == "non-saturating"
    assert base["label_smoothing"] == 1.0 and base["lr_d"] is None and base["lr_g"] is None
    assert base["consensus"] == 0.0 and base["instance_noise"] == 0.0 and base["d_steps"] == 1

    assert live.trick_overrides({"loss": "minimax"})["gan_loss"] == "minimax"
    assert live.trick_overrides({"label_smoothing": True})["label_smoothing"] == 0.9
    ttur = live.trick_overrides({"ttur": True})
    assert ttur["lr_d"] != ttur["lr_g"] and ttur["lr_d"] == pytest.approx(4 * ttur["lr_g"])
    assert live.trick_overrides({"ttur": True, "lr": 1e-3})["lr_g"] == 1e-3
    assert live.trick_overrides({"consensus": True})["consensus"] == 10.0
    assert base["historical_averaging"] == 0.0
    assert live.trick_overrides({"historical_averaging": True})["historical_averaging"] == live.HISTORICAL_AVERAGING_WEIGHT > 0
    assert live.trick_overrides({"instance_noise": True})["instance_noise"] > 0
    assert live.trick_overrides({"feature_matching": True})["feature_matching"] is True
    assert live.trick_overrides({"minibatch_discrimination": True})["minibatch_discrimination"] is True
    assert live.trick_overrides({"d_steps": 3})["d_steps"] == 3
    assert base["pack"] == 1 and live.trick_overrides({"packing": True})["pack"] == 4
    assert base["ema_decay"] == 0.0
    assert live.trick_overrides({"generator_averaging": True})["ema_decay"] == live.LIVE_EMA_DECAY
    assert base["replay"] == 0 and live.trick_overrides({"replay": True})["replay"] == live.REPLAY_POOL > 0
    run = live.LiveRun("gan", "ring", live.trick_overrides({"replay": True}), seed=0, metric_every=1000)
    run.step(3)
    assert len(run.model.replay) == 3 * 64  # the pool fills with the fakes D has seen

    gp = live.trick_overrides({"loss": "wgan-gp"})
    assert gp["model"] == "wgan-gp" and "gan_loss" not in gp and gp["d_steps"] == 5
    assert gp["lr"] == MODELS["wgan-gp"].defaults["lr"]
    w = live.trick_overrides({"loss": "wgan"})
    assert w["model"] == "wgan" and w["lr"] == 5e-5 and w["d_steps"] == 5

    with pytest.raises(ValueError, match="unknown loss"):
        live.trick_overrides({"loss": "hinge"})
    with pytest.raises(ValueError, match="unknown switches"):
        live.trick_overrides({"unrolled": True})


def test_a_live_run_uses_the_switched_config():
    run = live.LiveRun(dataset="ring", overrides=live.trick_overrides({"loss": "wgan-gp", "ttur": True}), **SMALL)
    assert run.cfg.model == "wgan-gp" and run.cfg.lr_d == 4 * run.cfg.lr_g
    assert [s.repeat for s in run.model.update_steps()] == [5, 1]
    assert run.optimizers["d"].param_groups[0]["lr"] == run.cfg.lr_d


@pytest.mark.parametrize("loss", live.LOSSES)
@pytest.mark.parametrize("trick", [None, *live.TRICKS])
def test_every_loss_and_trick_takes_finite_steps(loss, trick):
    sw = {"loss": loss, **({trick: True} if trick else {})}
    run = live.LiveRun(dataset="grid", overrides=live.trick_overrides(sw), batch_size=8, eval_samples=100,
                       metric_every=1)
    assert run.step(2) == 2 and not run.diverged, run.error
    snap = run.snapshot(n_points=50, grid=8)
    assert np.isfinite(snap["heatmap"]["z"]).all()


def test_generator_averaging_draws_the_average_and_leaves_the_game_alone():
    plain = live.LiveRun("gan", "ring", live.trick_overrides({}), seed=3, **SMALL)
    avg = live.LiveRun("gan", "ring", live.trick_overrides({"generator_averaging": True}), seed=3, **SMALL)
    for r in (plain, avg):
        r.step(6)
    assert plain.losses == avg.losses  # training never reads the average
    net = avg.model.average.net
    with torch.no_grad():
        from_average = net.eval()(avg._z_view).numpy()
        from_generator = avg.model.decode(avg._z_view).numpy()
    np.testing.assert_array_equal(avg.generated(), from_average)
    np.testing.assert_array_equal(plain.generated(), from_generator)
    assert not np.allclose(from_average, from_generator)


# --------------------------------------------------------------------------- LiveRun


def test_same_seed_gives_the_same_trajectory_and_another_seed_does_not():
    ov = live.trick_overrides({"minibatch_discrimination": False})
    a, b = (live.LiveRun("gan", "ring", ov, seed=7, metric_every=5, **SMALL) for _ in range(2))
    c = live.LiveRun("gan", "ring", ov, seed=8, metric_every=5, **SMALL)
    for r in (a, b, c):
        r.step(12)
        r.step(8)
    assert a.step_count == b.step_count == 20
    assert a.losses == b.losses
    np.testing.assert_equal(a.history, b.history)  # (reverse KL is NaN before any sample is high quality)
    np.testing.assert_array_equal(a.generated(), b.generated())
    for (ka, va), (kb, vb) in zip(a.model.state_dict().items(), b.model.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)
    assert not np.array_equal(a.generated(), c.generated())


def test_snapshot_shapes_and_heat_map_cover_the_data():
    for dataset in ("ring", "grid"):
        run = live.LiveRun("gan", dataset, live.trick_overrides({}), **SMALL)
        run.step(3)
        snap = run.snapshot(n_points=500, grid=60)
        assert snap["step"] == 3
        assert snap["real"].shape == (500, 2) and snap["fake"].shape == (500, 2)
        hm = snap["heatmap"]
        assert hm["z"].shape == (60, 60) and hm["x"].shape == (60,) and hm["y"].shape == (60,)
        assert hm["kind"] == "probability" and 0 <= hm["z"].min() and hm["z"].max() <= 1
        centres, margin = run.data.centres, 3 * run.data.std
        assert hm["x"][0] <= centres[:, 0].min() - margin and hm["x"][-1] >= centres[:, 0].max() + margin
        assert hm["y"][0] <= centres[:, 1].min() - margin and hm["y"][-1] >= centres[:, 1].max() + margin
        x0, x1, y0, y1 = snap["bounds"]
        assert (snap["real"][:, 0] > x0).all() and (snap["real"][:, 0] < x1).all()
        assert (snap["real"][:, 1] > y0).all() and (snap["real"][:, 1] < y1).all()
        assert len(snap["losses"]) == 3 and {"loss_d", "loss_g"} <= set(snap["losses"][-1])
    critic = live.LiveRun("gan", "ring", live.trick_overrides({"loss": "wgan"}), **SMALL).snapshot(grid=10)
    assert critic["heatmap"]["kind"] == "critic"


def _field_snap(z, kind="probability", real=((0.0, 0.0),), fake=((0.5, 0.5),)):
    return {"heatmap": {"x": np.linspace(-1, 1, 60), "y": np.linspace(-1, 1, 60), "z": np.asarray(z, np.float32),
                        "kind": kind, "label": "D(x)"},
            "real": np.asarray(real, np.float32), "fake": np.asarray(fake, np.float32), "bounds": (-1.0, 1.0, -1.0, 1.0)}


def _pixels(png: bytes) -> np.ndarray:
    import io

    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def test_the_field_picture_puts_each_point_where_the_chart_would_in_the_charts_colours():
    size, left, top = 200, 44, 8  # the plot's pixels start at (left, top)
    z = np.zeros((60, 60))
    z[:, 30:] = 1.0  # D says "real" on the right half only
    img = _pixels(live.field_png(_field_snap(z, real=((0.0, 0.0),), fake=((0.5, 0.5), (3.0, 3.0), (np.nan, 0.3))), size=size))
    assert img.shape == (top + size + 26, left + size + 16, 3)
    at = lambda x, y: img[top + round((1 - (y + 1) / 2) * size), left + round((x + 1) / 2 * size)]  # noqa: E731
    assert (at(0.0, 0.0) == [0x1B, 0x9E, 0x77]).all()  # the real point, green
    assert (at(0.5, 0.5) == [0x7B, 0x32, 0x94]).all()  # the generated one, purple, above and right of it
    # RdBu reversed at 55 % over white: D = 1 is red, D = 0 blue, as the chart's zmin 0 / zmax 1
    right, left_half = at(0.8, -0.6), at(-0.8, -0.6)
    assert right[0] > right[2] + 30 and left_half[2] > left_half[0] + 30
    assert np.allclose(right, np.array([103, 0, 31]) * 0.55 + 255 * 0.45, atol=2)
    # each point a disc of 21 pixels; the one outside the axes is clipped, as plotly does, and a NaN is not drawn
    assert (img == [0x7B, 0x32, 0x94]).all(axis=-1).sum() == 21


def test_the_field_picture_centres_a_critics_scores_on_zero():
    z = np.full((60, 60), -2.0)
    z[:, 30:] = 1.0  # a critic: -2 is as low as the map goes, so +1 is only part way to red
    img = _pixels(live.field_png(_field_snap(z, kind="critic", real=(), fake=()), size=200))
    low, high = img[8 + 100, 44 + 20], img[8 + 100, 44 + 180]
    assert np.allclose(low, np.array([5, 48, 97]) * 0.55 + 255 * 0.45, atol=2)  # -max|z|: the blue end
    assert high[0] > high[2] and not np.allclose(high, np.array([103, 0, 31]) * 0.55 + 255 * 0.45, atol=20)


def test_mode_metrics_are_recorded_every_k_steps_on_the_protocol_sample():
    run = live.LiveRun("gan", "grid", live.trick_overrides({}), metric_every=10, batch_size=16)
    run.step(25)
    run.step(5)
    assert [h["step"] for h in run.history] == [0, 10, 20, 30]
    last = run.history[-1]
    assert 0 <= last["modes_captured"] <= last["n_modes"] == 25 and 0 <= last["high_quality"] <= 1
    # the entry is genlab.metrics.modes on 2,500 samples of the generator as it is at step 30
    with torch.no_grad():
        x = run.model.decode(run._z_eval).numpy()
    assert x.shape == (2500, 2)
    ref = mode_coverage(x, run.data.centres, run.data.std)
    assert last["histogram"] == ref["histogram"] and last["high_quality"] == ref["high_quality"]


def test_a_nan_loss_stops_the_live_run_with_a_message(monkeypatch):
    def nan_loss(real_logit, fake_logit, real_target=1.0):
        return {"loss": (real_logit.mean() + fake_logit.mean()) * float("nan")}

    run = live.LiveRun("gan", "ring", live.trick_overrides({}), **SMALL)
    monkeypatch.setattr(obj, "gan_d_loss", nan_loss)
    assert run.step(10) == 1
    assert run.diverged and "NaN" in run.error and "\n" not in run.error
    assert run.step(5) == 1  # stays stopped


def test_a_player_trains_ab_runs_in_lock_step_in_the_background_up_to_its_cap():
    a = live.LiveRun("gan", "ring", live.trick_overrides({}), **SMALL)
    b = live.LiveRun("gan", "ring", live.trick_overrides({"loss": "wgan-gp"}), **SMALL)
    player = live.Player([a, b], max_steps=9, chunk=4).start()
    player._thread.join(180)  # the first player of a test process waits for the fork server's imports
    assert not player.running and player.reason == "max_steps"
    assert a.step_count == b.step_count == 9


def test_a_player_stops_when_told_or_when_no_page_draws_it():
    run = live.LiveRun("gan", "ring", live.trick_overrides({}), **SMALL)
    player = live.Player([run], max_steps=10**6).start()
    # the first player of a test process waits for the fork server's imports (seconds on a busy machine)
    deadline = time.time() + 120
    while not run.snapshot(n_points=0, with_losses=False)["step"] and time.time() < deadline:
        player.seen()  # as a page drawing it would
        time.sleep(0.1)
    assert player.running
    player.stop()
    assert not player.running and player.reason == "stopped"
    stopped_at = run.step_count
    assert stopped_at > 0
    time.sleep(0.2)
    assert run.step_count == stopped_at  # nothing trains after stop()

    idle = live.Player([run], max_steps=10**6, idle_s=0.3).start()  # a closed tab: no seen() comes
    idle._thread.join(120)
    assert not idle.running and idle.reason == "idle"


def test_a_player_stops_on_a_diverged_run():
    # the player trains in a process of its own, which a monkeypatch here would not reach: a NaN weight
    # makes the first loss there NaN
    run = live.LiveRun("gan", "ring", live.trick_overrides({}), **SMALL)
    with torch.no_grad():
        next(run.model.nets["disc"].parameters()).fill_(float("nan"))
    player = live.Player([run], max_steps=10**6).start()
    player._thread.join(120)
    assert player.reason == "diverged" and run.diverged
    assert "NaN" in run.error and "\n" not in run.error and run.snapshot()["error"] == run.error


def test_live_run_refuses_image_data():
    with pytest.raises(ValueError, match="2-D mixtures"):
        live.LiveRun("gan", "digits")


# --------------------------------------------------------------------------- labelled images


def test_classifier_round_trip_and_label_histogram(tmp_path):
    from genlab.checkpoint import load_classifier
    from genlab.compare import find_classifier
    from genlab.evaluate import train_label_classifier

    # the Mode-collapse page's classifier: 80 % of the digits train it, the rest measure it
    info = train_label_classifier(live.load_dataset("digits"), tmp_path / "classifiers" / "digits" / "model", steps=30,
                                  batch_size=32, train_share=0.8, meta={"name": "digits-classifier"})
    assert 0 <= info["test_accuracy"] <= 1
    clf, meta = load_classifier(info["path"])  # the one checkpoint format, like the shipped digits-classifier
    assert meta["kind"] == "classifier" and meta["dataset"] == "digits" and meta["steps"] == 30
    assert meta["test_accuracy"] == round(info["test_accuracy"], 4) and meta["device"] == "cpu"
    assert (meta["n_train"], meta["n_test"]) == (1437, 360) and "train_accuracy" not in meta
    assert meta["batch_size"] == 32 and meta["seed"] == 0 and meta["threads"] == torch.get_num_threads()
    rows = list_checkpoints(tmp_path)
    assert [r.kind for r in rows] == ["classifier"] and find_classifier(rows, "digits").path == info["path"]
    cfg = make_config("gan", "digits", (1, 8, 8))
    torch.manual_seed(0)
    gan = GenerativeModel(cfg).eval()
    data = live.load_dataset("digits")
    real = live.real_label_distribution(data)
    assert real.shape == (10,) and real.sum() == pytest.approx(1)
    res = live.label_histogram(gan, clf, 10, real, n=600)
    assert sum(res["histogram"]) == 600 and sum(res["generated_share"]) == pytest.approx(1)
    assert 1 <= res["modes_covered"] <= 10 and res["kl_to_real"] >= 0
    assert res == live.label_histogram(gan, clf, 10, real, n=600)  # repeatable


# --------------------------------------------------------------------------- runner


def test_hyperparameter_fields_carry_the_paper_defaults():
    names = {f.name for f in dataclasses.fields(ModelConfig)}
    for model in MODELS:
        fields = runner.hyperparameter_fields(model)
        assert {f["name"] for f in fields} <= names
        for f in fields:
            assert f["default"] == MODELS[model].defaults.get(f["name"], getattr(ModelConfig, f["name"]))
    d = {f["name"]: f["default"] for f in runner.hyperparameter_fields("beta-vae")}
    assert d["beta"] == 4.0 and "lr_d" not in d
    d = {f["name"]: f["default"] for f in runner.hyperparameter_fields("wgan")}
    assert d["d_steps"] == 5 and d["optimizer"] == "rmsprop" and d["clip"] == 0.01
    # generator averaging is offered exactly where validate_config accepts it
    offered = {m for m in MODELS if "ema_decay" in {f["name"] for f in runner.hyperparameter_fields(m)}}
    assert offered == {m for m, spec in MODELS.items() if spec.family == "gan"}


def test_background_run_finishes_with_a_loadable_checkpoint(tmp_path):
    run = runner.start_run("gan", "ring", {"latent_dim": 4}, steps=40, batch_size=16, seed=1, run_id="bg-finish")
    assert runner.get_run("bg-finish") is run
    assert run.join(60)
    snap = run.snapshot()
    assert snap["status"] == "finished", snap["error"]
    assert snap["step"] == snap["total"] == 40
    assert snap["history"] and "d/loss" in snap["history"][-1]
    assert snap["samples"]["kind"] == "points" and snap["samples"]["points"].shape[1] == 2
    model, meta = load_checkpoint(snap["checkpoint"])
    assert meta["steps"] == 40 and model.cfg.latent_dim == 4
    with pytest.raises(ValueError, match="already exists"):
        runner.start_run("gan", "ring", steps=5, run_id="bg-finish")
    # after a "server restart" the run is found on disk, finished
    runner._RUNS.clear()
    again = runner.get_run("bg-finish")
    assert again is not None and again.status == "finished" and again.snapshot()["step"] == 40
    assert [r["run_id"] for r in runner.list_runs()] == ["bg-finish"]


def test_image_runs_decode_sample_grids():
    run = runner.start_run("vae", "digits", {"latent_dim": 2}, steps=6, batch_size=8, run_id="bg-images",
                           sample_every=3)
    assert run.join(60) and run.status == "finished"
    s = run.snapshot()["samples"]
    assert s["kind"] == "images" and s["grid"].dtype == np.uint8 and s["grid"].shape == (17, 71)


def test_stop_and_resume_reach_the_same_weights_as_an_uninterrupted_run():
    steps, kw = 60, {"batch_size": 16, "seed": 3}
    whole = runner.start_run("gan", "ring", {"latent_dim": 3}, steps=steps, run_id="bg-whole", **kw)
    assert whole.join(60) and whole.status == "finished"

    run = runner.start_run("gan", "ring", {"latent_dim": 3}, steps=steps, run_id="bg-split", **kw)
    run.stop()  # set before the first step ends: fit checkpoints and returns
    assert run.join(60)
    snap = run.snapshot()
    assert snap["status"] == "stopped" and 1 <= snap["step"] < steps
    run.resume()
    assert run.join(60)
    snap = run.snapshot()
    assert snap["status"] == "finished" and snap["step"] == steps
    assert [r["step"] for r in snap["history"]] == sorted({r["step"] for r in snap["history"]})
    a, _ = load_checkpoint(whole.snapshot()["checkpoint"])
    b, _ = load_checkpoint(snap["checkpoint"])
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k
    with pytest.raises(RuntimeError, match="finished"):
        run.resume()


def test_a_diverging_run_fails_with_one_sentence(monkeypatch):
    def nan_loss(real_logit, fake_logit, real_target=1.0):
        return {"loss": (real_logit.mean() + fake_logit.mean()) * float("nan")}

    monkeypatch.setattr(obj, "gan_d_loss", nan_loss)
    run = runner.start_run("gan", "ring", steps=50, batch_size=8, run_id="bg-nan")
    assert run.join(60)
    snap = run.snapshot()
    assert snap["status"] == "failed"
    assert "NaN" in snap["error"] and "\n" not in snap["error"] and "Traceback" not in snap["error"]


def test_a_missing_dataset_fails_with_where_to_put_it(monkeypatch, tmp_path):
    monkeypatch.setenv("GENLAB_DATA", str(tmp_path / "nodata"))
    run = runner.start_run("vae", "mnist", steps=5, batch_size=8, run_id="bg-missing")
    assert run.join(60)
    snap = run.snapshot()
    assert snap["status"] == "failed" and "put" in snap["error"] and "\n" not in snap["error"]


def test_bad_settings_are_refused_before_a_thread_starts():
    with pytest.raises(ValueError, match="unknown model"):
        runner.start_run("vqvae", "ring", steps=5)
    with pytest.raises(ValueError, match="unknown dataset"):
        runner.start_run("gan", "moons", steps=5)
    with pytest.raises(ValueError, match="run folder"):
        runner.start_run("gan", "ring", steps=5, run_id="../escape")
    assert runner._RUNS == {}


def test_the_heat_map_of_a_packed_discriminator_scores_a_pack_of_copies_of_each_point():
    run = live.LiveRun(dataset="ring", overrides=live.trick_overrides({"packing": True}), **SMALL)
    run.step(3)
    hm = run.discriminator_map(grid=5)
    disc = run.model.nets["disc"]
    x, y = np.meshgrid(hm["x"], hm["y"])
    pts = torch.tensor(np.stack([x.ravel(), y.ravel()], 1))
    with torch.no_grad():
        packs = torch.cat([pts[:, None, :]] * 4, 1).reshape(-1, 8)  # (x, y, x, y, x, y, x, y)
        expect = torch.sigmoid(disc.head(disc.body(packs)).squeeze(1))
    np.testing.assert_allclose(hm["z"].ravel(), expect.numpy(), rtol=1e-5, atol=1e-6)


def test_a_trained_checkpoint_is_drawn_from_its_own_weights(tmp_path):
    data = load_dataset("grid")
    cfg = make_config("gan", "grid", data.shape, batch_norm=True, mlp_width=32)
    from genlab.train import TrainConfig, fit

    fit(cfg, data, TrainConfig(steps=30, batch_size=16, out=str(tmp_path)), progress=False)
    model, _ = load_checkpoint(tmp_path / "model")
    run = live.LiveRun.from_checkpoint(tmp_path / "model")
    assert run.step_count == 30 and not run.model.training
    with torch.no_grad():
        expect = model.decode(run._z_view[:100]).numpy()
    np.testing.assert_allclose(run.generated(100), expect, rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        m = mode_coverage(model.decode(run._z_eval).numpy(), data.centres, data.std)
    assert run.history == [{"step": 30, **{k: m[k] for k in ("modes_captured", "n_modes", "high_quality", "reverse_kl",
                                                               "histogram")}}]
    vae = make_config("vae", "ring", data.shape)
    fit(vae, data, TrainConfig(steps=2, batch_size=8, out=str(tmp_path / "vae")), progress=False)
    with pytest.raises(ValueError, match="GANs trained on ring or grid"):
        live.LiveRun.from_checkpoint(tmp_path / "vae" / "model")


def test_an_averaged_checkpoint_is_drawn_from_its_average_or_from_its_generator_itself(tmp_path):
    from genlab.train import TrainConfig, fit

    data = load_dataset("grid")
    cfg = make_config("gan", "grid", data.shape, batch_norm=True, mlp_width=32, ema_decay=0.9)
    fit(cfg, data, TrainConfig(steps=20, batch_size=16, out=str(tmp_path)), progress=False)
    model, _ = load_checkpoint(tmp_path / "model")
    model.eval()
    avg = live.LiveRun.from_checkpoint(tmp_path / "model")
    own = live.LiveRun.from_checkpoint(tmp_path / "model", average=False)
    with torch.no_grad():
        want_avg = model.average.net(avg._z_view[:200]).numpy()
        want_own = model.nets["gen"](own._z_view[:200]).numpy()
    np.testing.assert_allclose(avg.generated(200), want_avg, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(own.generated(200), want_own, rtol=1e-5, atol=1e-6)
    assert np.abs(want_avg - want_own).max() > 1e-3  # the two really differ, so the test tells them apart
    with torch.no_grad():  # the mode metrics too are the generator's own
        m = mode_coverage(model.nets["gen"](own._z_eval).numpy(), data.centres, data.std)
    assert own.history == [{"step": 20, **{k: m[k] for k in ("modes_captured", "n_modes", "high_quality", "reverse_kl",
                                                              "histogram")}}]
