"""The one trainer: reproducibility, resume, NaN stop, stop callbacks, and gradient flow."""

import pytest
import torch
from conftest import tiny_cfg

from genlab import objectives
from genlab.checkpoint import load_checkpoint
from genlab.data import load_dataset
from genlab.device import cpu_name
from genlab.models import MODELS, GenerativeModel, ModelConfig, StepContext, build_optimizers
from genlab.train import Callback, DivergedError, TrainConfig, apply_step, fit


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def _same(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


def test_same_seed_same_run_and_another_seed_differs(digits):
    cfg = tiny_cfg("vae", digits)
    runs = [fit(cfg, digits, TrainConfig(steps=8, batch_size=8, seed=s), progress=False).model for s in (1, 1, 2)]
    a, b, c = (_state(m) for m in runs)
    assert _same(a, b) and not _same(a, c)


@pytest.mark.parametrize("model,data", [("vae", "digits"), ("wgan-gp", "ring"), ("aae", "ring")])
def test_resumed_run_matches_an_uninterrupted_one(tmp_path, model, data):
    ds = load_dataset(data)
    cfg = tiny_cfg(model, ds)
    full = fit(cfg, ds, TrainConfig(steps=12, batch_size=8, out=str(tmp_path / "full"), log_every=2), progress=False)
    part = fit(cfg, ds, TrainConfig(steps=6, batch_size=8, out=str(tmp_path / "part"), log_every=2), progress=False)
    assert part.step == 6
    resumed = fit(cfg, ds, TrainConfig(steps=12, batch_size=8, out=str(tmp_path / "part"), resume=True, log_every=2),
                  progress=False)
    assert resumed.step == 12
    assert _same(_state(full.model), _state(resumed.model))
    # the log continues without duplicates
    steps = [r["step"] for r in resumed.history]
    assert steps == sorted(set(steps)) and steps[-1] == 12


def test_an_existing_run_is_not_overwritten_without_resume(tmp_path, digits):
    cfg = tiny_cfg("vae", digits)
    fit(cfg, digits, TrainConfig(steps=2, batch_size=4, out=str(tmp_path)), progress=False)
    with pytest.raises(FileExistsError, match="--resume"):
        fit(cfg, digits, TrainConfig(steps=4, batch_size=4, out=str(tmp_path)), progress=False)


def test_resume_with_other_settings_is_refused(tmp_path, digits):
    fit(tiny_cfg("beta-vae", digits, beta=2.0), digits, TrainConfig(steps=2, batch_size=4, out=str(tmp_path)), progress=False)
    from genlab.checkpoint import CheckpointError

    with pytest.raises(CheckpointError, match="beta"):
        fit(tiny_cfg("beta-vae", digits, beta=8.0), digits,
            TrainConfig(steps=4, batch_size=4, out=str(tmp_path), resume=True), progress=False)


def test_a_state_saved_before_a_setting_existed_still_resumes(tmp_path, digits):
    """Settings added to ModelConfig later (here: pack, mlp_*) take their defaults on resume."""
    import json

    from safetensors import safe_open
    from safetensors.torch import save_file

    from genlab.checkpoint import HEADER_KEY

    fit(tiny_cfg("beta-vae", digits), digits, TrainConfig(steps=2, batch_size=4, out=str(tmp_path)), progress=False)
    path = tmp_path / "resume.safetensors"
    with safe_open(str(path), framework="pt") as f:
        meta = dict(f.metadata())
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    header = json.loads(meta[HEADER_KEY])
    for k in ("pack", "mlp_width", "mlp_layers", "batch_norm"):
        del header["config"][k]
    save_file(tensors, str(path), {HEADER_KEY: json.dumps(header)})
    r = fit(tiny_cfg("beta-vae", digits), digits, TrainConfig(steps=4, batch_size=4, out=str(tmp_path), resume=True),
            progress=False)
    assert r.step == 4 and len(r.history) >= 1


def test_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path, digits, monkeypatch):
    cfg = tiny_cfg("vae", digits)
    real = objectives.beta_vae

    def poisoned(x, logits, mu, logvar, beta=1.0, likelihood="bernoulli"):
        out = real(x, logits, mu, logvar, beta, likelihood)
        if poisoned.calls >= 7:  # step 8 onwards
            out["loss"] = out["loss"] * float("nan")
        poisoned.calls += 1
        return out

    poisoned.calls = 0
    monkeypatch.setattr(objectives, "beta_vae", poisoned)
    with pytest.raises(DivergedError, match="NaN or infinite by step 8.*intact"):
        fit(cfg, digits, TrainConfig(steps=20, batch_size=4, out=str(tmp_path), ckpt_every=5, log_every=2), progress=False)
    model, meta = load_checkpoint(tmp_path / "model")
    assert meta["steps"] == 5
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_a_callback_can_stop_a_run_that_then_resumes(tmp_path, digits):
    class StopAt6(Callback):
        def on_log(self, step, logs):
            return step >= 6

    cfg = tiny_cfg("vae", digits)
    r = fit(cfg, digits, TrainConfig(steps=20, batch_size=4, out=str(tmp_path), log_every=2), callbacks=[StopAt6()],
            progress=False)
    assert r.stopped and r.step == 6
    r2 = fit(cfg, digits, TrainConfig(steps=10, batch_size=4, out=str(tmp_path), resume=True), progress=False)
    assert r2.step == 10 and not r2.stopped
    assert load_checkpoint(tmp_path)[1]["steps"] == 10


def test_checkpoint_metadata_records_the_run(tmp_path, digits):
    fit(tiny_cfg("vae", digits), digits, TrainConfig(steps=4, batch_size=4, out=str(tmp_path), seed=7), progress=False)
    meta = load_checkpoint(tmp_path)[1]
    for key in ("dataset", "steps", "device", "wall_time_s", "genlab_version", "seed", "config"):
        assert key in meta
    assert meta["seed"] == 7 and meta["config"]["model"] == "vae" and meta["device"] == "cpu"
    # what a bit-identical rerun must match besides the seed: the CPU and torch's thread count
    assert meta["threads"] == torch.get_num_threads() and meta["cpu"] == cpu_name() and meta["cpu"]
    # every compute fact is in the sidecar, under the names a resume carries over
    from genlab.device import COMPUTE_KEYS, compute_facts
    assert {k: meta[k] for k in COMPUTE_KEYS} == compute_facts(torch.device("cpu"))


def test_a_resumed_run_records_its_whole_rate(tmp_path, digits):
    tc = TrainConfig(steps=4, batch_size=4, out=str(tmp_path), seed=7)
    fit(tiny_cfg("vae", digits), digits, tc, progress=False)
    first = load_checkpoint(tmp_path)[1]
    fit(tiny_cfg("vae", digits), digits, TrainConfig(steps=4, batch_size=4, out=str(tmp_path), seed=7, resume=True),
        progress=False)  # nothing left to train: the checkpoint is written again
    meta = load_checkpoint(tmp_path)[1]
    assert meta["steps"] == 4 and meta["wall_time_s"] >= first["wall_time_s"]
    assert meta["images_per_s"] > 0 and meta["images_per_s"] == pytest.approx(16 / meta["wall_time_s"], rel=0.25)


def test_a_resume_with_nothing_to_train_keeps_the_training_thread_count(tmp_path, digits):
    # `genlab rebuild` ships a finished run by resuming it; the sidecar must still name the threads
    # it was trained on (a rerun only matches bit for bit at that count), not the shipping command's
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        fit(tiny_cfg("vae", digits), digits, TrainConfig(steps=4, batch_size=4, out=str(tmp_path), seed=7),
            progress=False)
        torch.set_num_threads(2)
        fit(tiny_cfg("vae", digits), digits,
            TrainConfig(steps=4, batch_size=4, out=str(tmp_path), seed=7, resume=True), progress=False)
        assert load_checkpoint(tmp_path)[1]["threads"] == 1
        # a segment that does train records where it trained
        fit(tiny_cfg("vae", digits), digits,
            TrainConfig(steps=6, batch_size=4, out=str(tmp_path), seed=7, resume=True), progress=False)
        assert load_checkpoint(tmp_path)[1]["threads"] == 2
    finally:
        torch.set_num_threads(before)


def test_cpu_name_reads_the_processor_model(monkeypatch, tmp_path):
    from genlab import device

    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13 64-Core Processor\n")
    real_open = open
    monkeypatch.setattr("builtins.open", lambda p, *a, **k: real_open(info if p == "/proc/cpuinfo" else p, *a, **k))
    assert device.cpu_name() == "AMD EPYC 7B13 64-Core Processor"


# --------------------------------------------------------------------------- gradient flow

CASES = [(m, "dsprites" if MODELS[m].text else "digits") for m in MODELS] + [(m, "ring") for m in ("gan", "wgan", "aae")]


@pytest.mark.parametrize("model_name,data_name", CASES)
def test_each_update_step_lowers_its_loss_and_moves_only_its_own_parameters(model_name, data_name):
    """Overfit a fixed handful of points with one update step at a time: that step's loss goes
    down, and parameters outside the step's group do not move (the G step leaves D alone)."""
    torch.manual_seed(0)
    data = load_dataset(data_name)
    cfg = tiny_cfg(model_name, data, lr=1e-3, lr_d=1e-3, lr_g=1e-3, optimizer="adam")
    model = GenerativeModel(cfg)
    batch = data.sample(16, torch.Generator().manual_seed(0))
    x = batch["x"]
    groups = model.groups()
    for step in model.update_steps():
        opts = build_optimizers(model)
        group_params = {id(p) for g in ([step.group] if step.group else groups) for p in groups[g]}
        before = {n: p.detach().clone() for n, p in model.named_parameters()}
        losses = []
        for _ in range(40):
            out = step.fn(model, x, StepContext(0, torch.Generator().manual_seed(1), batch=batch))
            items = out["loss"] if isinstance(out["loss"], dict) else {step.group: out["loss"]}
            losses.append(sum(v.item() for v in items.values()))
            apply_step(model, step, out, opts)
        for n, p in model.named_parameters():
            moved = not torch.equal(before[n], p.detach())
            if id(p) not in group_params:
                assert not moved, f"{model_name}: step '{step.name}' changed {n}, outside its group"
        assert any(not torch.equal(before[n], p.detach()) for n, p in model.named_parameters() if id(p) in group_params)
        if step.group is not None:
            # from the first update on (WGAN clips the initial weights on its first step)
            assert losses[-1] < losses[1], f"{model_name}: step '{step.name}' did not lower its loss: {losses[1]} → {losses[-1]}"


def test_consensus_and_tricks_train_on_the_ring():
    data = load_dataset("ring")
    for kw in (dict(consensus=1.0), dict(feature_matching=True), dict(minibatch_discrimination=True),
               dict(label_smoothing=0.9, instance_noise=0.1, lr_d=4e-4, lr_g=1e-4, d_steps=2),
               dict(pack=4, mlp_width=32, mlp_layers=3, batch_norm=True)):
        r = fit(tiny_cfg("gan", data, **kw), data, TrainConfig(steps=6, batch_size=16, log_every=3), progress=False)
        assert r.step == 6 and all(torch.isfinite(p).all() for p in r.model.parameters())


def test_a_linear_schedule_brings_every_rate_down_to_zero_and_resumes_on_it(tmp_path):
    from genlab.train import set_linear_lr

    data = load_dataset("ring")
    cfg = tiny_cfg("gan", data, lr_d=4e-4, lr_g=1e-4)
    model = GenerativeModel(cfg)
    opts = build_optimizers(model)
    set_linear_lr(opts, 3, 10)
    assert opts["d"].param_groups[0]["lr"] == pytest.approx(4e-4 * 0.7)
    set_linear_lr(opts, 9, 10)
    assert opts["g"].param_groups[0]["lr"] == pytest.approx(1e-4 * 0.1)

    r = fit(cfg, data, TrainConfig(steps=10, batch_size=8, lr_schedule="linear", log_every=2), progress=False)
    assert [h["lr_scale"] for h in r.history] == pytest.approx([0.9, 0.7, 0.5, 0.3, 0.1])

    class StopAt4(Callback):
        def on_log(self, step, logs):
            return step >= 4

    whole = fit(cfg, data, TrainConfig(steps=10, batch_size=8, lr_schedule="linear", log_every=2), progress=False)
    tc = TrainConfig(steps=10, batch_size=8, lr_schedule="linear", log_every=2, out=str(tmp_path))
    assert fit(cfg, data, tc, [StopAt4()], progress=False).stopped
    resumed = fit(cfg, data, TrainConfig(**{**tc.__dict__, "resume": True}), progress=False)
    assert _same(_state(whole.model), _state(resumed.model))
    const = fit(cfg, data, TrainConfig(steps=10, batch_size=8, log_every=2), progress=False)
    assert not _same(_state(whole.model), _state(const.model))
    with pytest.raises(ValueError, match="schedule"):
        fit(cfg, data, TrainConfig(steps=2, batch_size=8, lr_schedule="cosine"), progress=False)


def test_vae_gan_pixel_term_adds_the_weighted_reconstruction_to_encoder_and_decoder_only():
    """--vaegan-pixel w adds w·(−log p(x|z)) to the encoder's and the decoder's loss, exactly, and
    leaves the discriminator's loss alone; w = 0 is Larsen et al.'s Alg. 1 with no 'rec' term."""
    from genlab.models import vae_gan_step

    data = load_dataset("digits")
    x = data.sample(8, torch.Generator().manual_seed(0))["x"]
    torch.manual_seed(0)
    cfg = tiny_cfg("vae-gan", data)
    assert cfg.vaegan_pixel == 1.0  # genlab's default for new runs
    # a checkpoint saved before the setting existed reloads as the paper's algorithm
    old = {k: v for k, v in cfg.to_dict().items() if k != "vaegan_pixel"}
    assert ModelConfig.from_dict(old).vaegan_pixel == 0.0
    cfg.vaegan_pixel = 0.0
    model = GenerativeModel(cfg)
    plain = vae_gan_step(model, x, StepContext(0, torch.Generator().manual_seed(3)))
    assert "rec" not in plain
    model.cfg.vaegan_pixel = 2.5
    pixel = vae_gan_step(model, x, StepContext(0, torch.Generator().manual_seed(3)))
    rec = pixel["rec"].item()
    assert rec > 20  # summed over the pixels by an untrained decoder (about log 2 each)
    for part in ("enc", "dec"):
        assert pixel["loss"][part].item() == pytest.approx(plain["loss"][part].item() + 2.5 * rec, rel=1e-5)
    assert pixel["loss"]["d"].item() == pytest.approx(plain["loss"]["d"].item(), rel=1e-6)


def test_historical_averaging_keeps_the_mean_of_every_past_parameter_value(tmp_path):
    """θ̄ is the plain mean of the initial parameters and those after every update of that player
    (D twice per step here), it survives a stop and resume, and the checkpoint carries it."""
    from genlab.train import train_steps

    data = load_dataset("ring")
    cfg = tiny_cfg("gan", data, historical_averaging=0.5, d_steps=2)
    torch.manual_seed(0)
    model = GenerativeModel(cfg)
    opts = build_optimizers(model)
    seen = {g: [[p.detach().clone() for p in ps]] for g, ps in model.groups().items()}

    def recording(hook, group):  # the model's own hook (which folds θ into θ̄), then note θ
        def after(m):
            hook(m)
            seen[group].append([p.detach().clone() for p in m.groups()[group]])
        return after

    steps = model.update_steps()
    for s in steps:
        s.after = recording(s.after, s.group)
    model.update_steps = lambda: steps
    tc = TrainConfig(steps=4, batch_size=8)
    for _ in train_steps(model, data, tc, opts, 0, torch.Generator().manual_seed(0), torch.Generator().manual_seed(1)):
        pass
    assert len(seen["d"]) == 1 + 4 * 2 and len(seen["g"]) == 1 + 4
    for g in ("d", "g"):
        expected = [torch.stack(vals).mean(0) for vals in zip(*seen[g])]
        assert all(torch.allclose(m, e, atol=1e-6) for m, e in zip(model.history.means(g), expected))
        assert not all(torch.equal(m, p) for m, p in zip(model.history.means(g), model.groups()[g]))
        assert int(getattr(model.history, f"steps__{g}")) == len(seen[g])

    # the penalty is in the loss and the log; a run stopped and resumed ends with the same means
    full = fit(cfg, data, TrainConfig(steps=8, batch_size=8, out=str(tmp_path / "full"), log_every=2), progress=False)
    assert full.history[-1]["d/hist_avg"] > 0 and full.history[-1]["g/hist_avg"] > 0
    fit(cfg, data, TrainConfig(steps=4, batch_size=8, out=str(tmp_path / "part"), log_every=2), progress=False)
    resumed = fit(cfg, data, TrainConfig(steps=8, batch_size=8, out=str(tmp_path / "part"), resume=True, log_every=2),
                  progress=False)
    assert _same(_state(full.model), _state(resumed.model))
    loaded, _ = load_checkpoint(tmp_path / "part" / "model")
    assert _same(_state(resumed.model), _state(loaded))
    assert any(k.startswith("history.") for k in _state(loaded))


def test_historical_averaging_adds_lambda_times_the_distance_to_the_loss():
    data = load_dataset("ring")
    on = GenerativeModel(tiny_cfg("gan", data, historical_averaging=0.25))
    off = GenerativeModel(tiny_cfg("gan", data))
    off.load_state_dict({k: v for k, v in on.state_dict().items() if not k.startswith("history.")})
    with torch.no_grad():
        for p in on.nets["disc"].parameters():
            p.add_(0.1)  # move D away from its mean (its initial parameters)
        for p_off, p_on in zip(off.parameters(), on.parameters()):
            p_off.copy_(p_on)
    x = data.sample(16, torch.Generator().manual_seed(0))["x"]
    step_on, step_off = on.update_steps()[0], off.update_steps()[0]
    a = step_on.fn(on, x, StepContext(0, torch.Generator().manual_seed(3)))
    b = step_off.fn(off, x, StepContext(0, torch.Generator().manual_seed(3)))
    n_d = sum(p.numel() for p in on.groups()["d"])
    assert float(a["hist_avg"]) == pytest.approx(n_d * 0.01, rel=1e-4)
    assert float(a["loss"].detach()) == pytest.approx(float(b["loss"].detach()) + 0.25 * n_d * 0.01, rel=1e-5)


def test_r1_adds_half_gamma_times_the_squared_gradient_at_real_images_to_d_loss():
    data = load_dataset("dsprites")
    on = GenerativeModel(tiny_cfg("infogan", data, r1_gamma=4.0))
    off = GenerativeModel(tiny_cfg("infogan", data))
    off.load_state_dict(on.state_dict())
    x = data.sample(8, torch.Generator().manual_seed(0))["x"]
    a = on.update_steps()[0].fn(on, x, StepContext(0, torch.Generator().manual_seed(3)))
    b = off.update_steps()[0].fn(off, x, StepContext(0, torch.Generator().manual_seed(3)))
    xr = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(on.nets["disc"](xr)["logit"].sum(), xr)
    expected = float(grad.flatten(1).pow(2).sum(1).mean())
    assert expected > 0 and float(a["r1"]) == pytest.approx(expected, rel=1e-4)
    assert float(a["loss"].detach()) == pytest.approx(float(b["loss"].detach()) + 2.0 * expected, rel=1e-5)
    assert "r1" not in b
    with pytest.raises(ValueError, match="R1 penalty"):
        tiny_cfg("wgan-gp", data, r1_gamma=1.0)


def test_historical_averaging_is_refused_where_it_does_not_apply():
    data = load_dataset("ring")
    with pytest.raises(ValueError, match="historical averaging applies to"):
        tiny_cfg("aae", data, historical_averaging=0.1)
    with pytest.raises(ValueError, match="historical_averaging must be 0–10,000"):
        tiny_cfg("gan", data, historical_averaging=-1.0)


def test_wgan_with_historical_averaging_still_clips_its_critic():
    data = load_dataset("ring")
    r = fit(tiny_cfg("wgan", data, historical_averaging=0.1), data, TrainConfig(steps=2, batch_size=8), progress=False)
    assert all(float(p.detach().abs().max()) <= r.model.cfg.clip + 1e-7 for p in r.model.nets["disc"].parameters())
    assert int(r.model.history.steps__d) == 1 + 2 * r.model.cfg.d_steps and int(r.model.history.steps__g) == 1 + 2


# --------------------------------------------------------------------------- generator averaging


def test_generator_average_is_a_copy_until_its_start_then_an_exponential_moving_average():
    from genlab.models import GeneratorAverage

    gen = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.BatchNorm1d(3))
    avg = GeneratorAverage(gen, decay=0.75, start=2)
    seen = []
    for value in (1.0, 2.0, 3.0, 5.0):
        with torch.no_grad():
            gen[0].weight.fill_(value)
        gen(torch.randn(8, 2))  # train mode: moves the batch-norm statistics and their counter
        seen.append(_state(gen))
        avg.update(gen)
    a = avg.net.state_dict()
    # updates 1 and 2 copy; 3 and 4 fold in with weight 1 − β = 0.25
    expect = 0.75 * (0.75 * 2.0 + 0.25 * 3.0) + 0.25 * 5.0
    assert torch.allclose(a["0.weight"], torch.full((3, 2), expect))
    run_mean = 0.75 * (0.75 * seen[1]["1.running_mean"] + 0.25 * seen[2]["1.running_mean"]) + 0.25 * seen[3]["1.running_mean"]
    assert torch.allclose(a["1.running_mean"], run_mean)
    assert int(a["1.num_batches_tracked"]) == 4 and int(avg.updates) == 4
    assert not any(p.requires_grad for p in avg.net.parameters())


def test_a_gan_trains_the_same_with_or_without_an_average_and_samples_from_it_in_eval_mode(tmp_path):
    from genlab.checkpoint import save_checkpoint

    data = load_dataset("ring")
    plain = fit(tiny_cfg("gan", data), data, TrainConfig(steps=5, batch_size=8), progress=False).model
    averaged = fit(tiny_cfg("gan", data, ema_decay=0.5), data, TrainConfig(steps=5, batch_size=8), progress=False).model
    # training never reads the average: every weight of the game is the same
    assert _same(_state(plain), {k: v for k, v in _state(averaged).items() if not k.startswith("average.")})
    assert int(averaged.average.updates) == 5
    z = averaged.prior(16, torch.Generator().manual_seed(0))
    with torch.no_grad():
        averaged.eval()
        assert torch.equal(averaged.decode(z), averaged.average.net(z))
        assert not torch.allclose(averaged.decode(z), averaged.nets["gen"](z))
        averaged.train()
        assert torch.equal(averaged.decode(z), averaged.nets["gen"](z))
        assert not averaged.average.net.training  # the average always samples on its averaged statistics
    averaged.eval()
    loaded, meta = load_checkpoint(save_checkpoint(tmp_path / "m", averaged))
    assert meta["config"]["ema_decay"] == 0.5
    with torch.no_grad():
        assert torch.equal(loaded.decode(z), averaged.decode(z))


def test_a_checkpoint_of_the_average_only_samples_as_the_full_one_and_is_smaller(tmp_path):
    """TrainConfig.average_only (a recipe's `average_only = true`): the final checkpoint keeps the generator's
    average in the generator's place and drops the generator itself, and nothing a user draws changes."""
    from genlab.checkpoint import AVERAGE_ONLY, CheckpointError, read_metadata
    from genlab.live import LiveRun

    data = load_dataset("ring")
    cfg = tiny_cfg("gan", data, ema_decay=0.5)
    full = fit(cfg, data, TrainConfig(steps=6, batch_size=8, out=str(tmp_path / "full")), progress=False)
    fit(cfg, data, TrainConfig(steps=6, batch_size=8, out=str(tmp_path / "small"), average_only=True),
        progress=False)
    a, b = tmp_path / "full" / "model", tmp_path / "small" / "model"
    assert read_metadata(b)["generator"] == AVERAGE_ONLY and "generator" not in read_metadata(a)
    gen_bytes = sum(v.numel() * v.element_size() for v in full.model.nets["gen"].state_dict().values())
    saved = a.with_suffix(".safetensors").stat().st_size - b.with_suffix(".safetensors").stat().st_size
    assert saved >= 0.9 * gen_bytes  # one copy of the generator fewer
    loaded_full, _ = load_checkpoint(a)
    loaded, _ = load_checkpoint(b)
    assert loaded.average is None and loaded_full.average is not None
    z = full.model.prior(32, torch.Generator().manual_seed(1))
    with torch.no_grad():
        want = loaded_full.decode(z)
        assert torch.equal(loaded.decode(z), want)  # the same samples
        assert not torch.equal(loaded_full.nets["gen"](z), want)  # and they are the average's, not G's own
    # the trained view of the Mode-collapse page reads it too, and keeps training it without an average
    run = LiveRun.from_checkpoint(b, eval_samples=200)
    assert run.model.average is None
    run.model.train()
    run.step(2)
    # the resumable state keeps both, so the run can go on where it stopped
    resumed = fit(cfg, data, TrainConfig(steps=8, batch_size=8, out=str(tmp_path / "small"), resume=True,
                                         average_only=True), progress=False)
    assert resumed.step == 8 and resumed.model.average is not None
    # a file marked average-only must still hold every other weight
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(b.with_suffix(".safetensors")), framework="pt") as f:
        header, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys() if not k.startswith("nets.disc.")}
    save_file(tensors, str(b.with_suffix(".safetensors")), metadata=header)
    with pytest.raises(CheckpointError, match="does not fit"):
        load_checkpoint(b)


def test_a_generator_average_can_join_a_resumed_run_before_its_start_and_not_after(tmp_path):
    from genlab.checkpoint import CheckpointError

    data = load_dataset("ring")
    plain, ema = tiny_cfg("gan", data), tiny_cfg("gan", data, ema_decay=0.5, ema_start=3)
    tc = lambda steps, out, resume=False: TrainConfig(steps=steps, batch_size=8, out=str(tmp_path / out), resume=resume)  # noqa: E731
    whole = fit(ema, data, tc(8, "whole"), progress=False).model
    fit(plain, data, tc(3, "joined"), progress=False)
    joined = fit(ema, data, tc(8, "joined", resume=True), progress=False).model
    assert _same(_state(whole), _state(joined))
    fit(plain, data, tc(4, "late"), progress=False)
    with pytest.raises(CheckpointError, match="only up to its ema_start; this one is at step 4"):
        fit(ema, data, tc(8, "late", resume=True), progress=False)


def test_generator_averaging_is_refused_where_it_does_not_apply():
    data = load_dataset("ring")
    with pytest.raises(ValueError, match="generator averaging applies to the GAN family"):
        tiny_cfg("vae-gan", data, ema_decay=0.999)
    with pytest.raises(ValueError, match="ema_decay must be at least 0 and below 1"):
        tiny_cfg("gan", data, ema_decay=1.0)
    with pytest.raises(ValueError, match="ema_start"):
        tiny_cfg("gan", data, ema_decay=0.9, ema_start=-1)
