"""The one training loop. Every model is a list of update steps (genlab.models); this loop runs
them, checks the losses are finite, logs, checkpoints and resumes.

    result = fit(model_cfg, data, TrainConfig(steps=1000, out="runs/vae"))

`train_steps` is the loop itself, a generator yielding one log dict per step; `fit` adds the
progress bar, callbacks (the app's progress bar and live curves), checkpoints and resume.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import torch

from genlab import __version__
from genlab.checkpoint import load_train_state, save_checkpoint, save_train_state
from genlab.device import COMPUTE_KEYS, compute_facts, pick_device, seed_everything
from genlab.models import GenerativeModel, ModelConfig, StepContext, build_optimizers


class DivergedError(RuntimeError):
    """A loss became NaN or infinite; the run stopped and the last good checkpoint is intact."""


@dataclass
class TrainConfig:
    steps: int = 1000  # training steps (one step = every update of the model's list, e.g. 5 critic + 1 G)
    batch_size: int = 64
    device: str = "auto"  # auto = cuda, then mps, then cpu
    seed: int = 0
    out: str | None = None  # run folder: model.{safetensors,json}, resume.safetensors, log.jsonl
    ckpt_every: int = 1000  # steps between checkpoints (and at the end)
    log_every: int = 10  # steps between log entries (and finiteness checks)
    resume: bool = False
    precision: str = "fp32"  # fp32 | bf16 (autocast; ~3× faster on CPUs with AMX-bf16)
    channels_last: bool = False
    lr_schedule: str = "constant"  # constant | linear (every rate falls linearly to 0 at the last step)
    data_on_device: bool = True  # keep a whole small dataset on the GPU
    half_checkpoint: bool = False  # store the final weights as float16
    snapshot_every: int = 0  # > 0: also keep the model at every such step, in float16, as out/snapshots/step-NNNNNNN
    average_only: bool = False  # a model with a generator average: the final checkpoint stores the average in the
    # generator's place and not the generator itself (checkpoint.save_checkpoint; resume.safetensors keeps both)
    name: str | None = None
    recipe: dict | None = None  # the recipe this run reproduces, stored in the metadata


@dataclass
class TrainResult:
    model: GenerativeModel
    step: int
    stopped: bool  # stopped early by a callback or stop event (resumable)
    wall_time_s: float
    images_per_s: float
    checkpoint: Path | None
    history: list = field(default_factory=list)


class Callback:
    """Hooks for a progress display; the app subclasses this. Return True from `on_log` to stop."""

    def on_start(self, info: dict) -> None: ...
    def on_log(self, step: int, logs: dict) -> bool | None: ...
    def on_checkpoint(self, step: int, path: Path) -> None: ...
    def on_end(self, result: TrainResult) -> None: ...


def _loss_items(out: dict, group: str | None) -> dict[str, torch.Tensor]:
    loss = out["loss"]
    if isinstance(loss, dict):
        return loss
    return {group: loss}


def _to_float_logs(prefix: str, out: dict) -> dict:
    logs = {}
    for k, v in out.items():
        key = f"{prefix}{k}"
        if k == "loss" and isinstance(v, dict):
            for g, t in v.items():
                logs[f"{prefix}loss_{g}"] = float(t.detach())
        elif torch.is_tensor(v):
            logs[key] = float(v.detach()) if v.numel() == 1 else v.detach().float().cpu().tolist()
        elif isinstance(v, (int, float)):
            logs[key] = float(v)
    return logs


def apply_step(model: GenerativeModel, step, out: dict, optimizers: dict) -> torch.Tensor:
    """Gradients of each loss w.r.t. its own group only, then that group's optimiser step.
    Returns a 0-d bool tensor: were all losses finite (checked lazily, without a device sync)."""
    items = _loss_items(out, step.group)
    groups = model.groups()
    finite = torch.ones((), dtype=torch.bool, device=model.device)
    names = list(items)
    for i, g in enumerate(names):
        loss = items[g].float()
        finite = finite & torch.isfinite(loss)
        params = groups[g]
        grads = torch.autograd.grad(loss, params, allow_unused=True, retain_graph=i < len(names) - 1)
        for p, gr in zip(params, grads):
            p.grad = gr if gr is not None else torch.zeros_like(p)
    for g in names:
        optimizers[g].step()
        optimizers[g].zero_grad(set_to_none=True)
    if step.after is not None:
        step.after(model)
    return finite


def train_steps(model: GenerativeModel, data, tc: TrainConfig, optimizers: dict, start: int,
                data_gen: torch.Generator, noise_gen: torch.Generator) -> Iterator[tuple[int, dict | None, torch.Tensor]]:
    """The loop. Yields (step, logs or None, finite flag) after each training step; logs are
    materialised only every `log_every` steps so the GPU is not synchronised every step."""
    dev = model.device
    steps = model.update_steps()
    amp = (torch.autocast(dev.type, dtype=torch.bfloat16) if tc.precision == "bf16"
           else contextlib.nullcontext())
    multi = len(steps) > 1
    model.train()
    for step in range(start, tc.steps):
        if tc.lr_schedule == "linear":
            set_linear_lr(optimizers, step, tc.steps)
        ctx = StepContext(step, noise_gen)
        finite = torch.ones((), dtype=torch.bool, device=dev)
        want_logs = (step + 1) % tc.log_every == 0 or step + 1 == tc.steps
        logs = {} if want_logs else None
        for s in steps:
            for _ in range(s.repeat):
                batch = data.sample(tc.batch_size, data_gen)
                ctx.batch = batch  # factors or labels with the images, for the models that read them
                x = batch["x"].to(dev, non_blocking=True)
                if tc.channels_last and x.ndim == 4:
                    x = x.contiguous(memory_format=torch.channels_last)
                with amp:
                    out = s.fn(model, x, ctx)
                finite = finite & apply_step(model, s, out, optimizers)
            if want_logs:
                logs.update(_to_float_logs(f"{s.name}/" if multi else "", out))
        if want_logs and tc.lr_schedule == "linear":
            logs["lr_scale"] = 1.0 - step / tc.steps
        yield step + 1, logs, finite


def set_linear_lr(optimizers: dict, step: int, total: int) -> None:
    """Linear decay: each group's rate is its initial rate × (1 − step / total)."""
    for opt in optimizers.values():
        for g in opt.param_groups:
            g.setdefault("initial_lr", g["lr"])
            g["lr"] = g["initial_lr"] * (1.0 - step / total)


def _rng_state(data_gen, noise_gen) -> dict:
    return {"data": data_gen.get_state(), "noise": noise_gen.get_state()}


@dataclass
class RunClock:
    """Wall time, images/s and compute facts of a run across its segments (each `fit` or `fit_stacked`
    call is a segment; a resume continues the run): what every checkpoint's sidecar and resumable
    state record, the same way for a single and a stacked run."""

    start: int  # the step this segment starts from
    images_per_step: int  # images one training step consumes (every member's, for a stacked run)
    device: torch.device
    prior_wall: float = 0.0  # the wall time of the earlier segments
    prior_compute: dict | None = None  # where they computed (device.COMPUTE_KEYS)
    t0: float = field(default_factory=time.perf_counter)

    def resumed_from(self, extra: dict) -> None:
        """Take over the earlier segments' wall time and compute facts from a resumable state's extra."""
        self.prior_wall = float(extra.get("wall_time_s", 0.0))
        self.prior_compute = extra.get("compute")

    def segment_s(self) -> float:
        return time.perf_counter() - self.t0

    def wall(self) -> float:
        return self.prior_wall + self.segment_s()

    def segment_rate(self, step: int) -> float:
        """Images/s of this segment alone (what a call reports)."""
        return (step - self.start) * self.images_per_step / max(self.segment_s(), 1e-9)

    def facts(self, step: int) -> dict:
        """Wall time and images/s over the whole run, resumed segments included (a resume with nothing
        left to train records the run's rate, not 0), and where it computed: this machine, or, for such
        a resume (as `genlab rebuild` does to ship a finished run), the segments that trained, since the
        thread count is part of what a rerun must match."""
        wall = self.wall()
        compute = self.prior_compute if step == self.start and self.prior_compute else compute_facts(self.device)
        return {**compute, "wall_time_s": round(wall, 2), "images_per_s": round(step * self.images_per_step / max(1e-9, wall), 1)}

    @staticmethod
    def resume_extra(meta: dict) -> dict:
        """What a resumable state keeps of a checkpoint's facts for the next segment."""
        return {"wall_time_s": meta["wall_time_s"], "compute": {k: meta[k] for k in COMPUTE_KEYS}}


def run_meta(name: str, model_cfg: ModelConfig, tc: TrainConfig, clock: RunClock, step: int,
             seed: int | None = None) -> dict:
    """The run facts every checkpoint's sidecar records."""
    facts = clock.facts(step)
    return {"name": name, "dataset": model_cfg.data, "steps": step, "batch_size": tc.batch_size,
            "seed": tc.seed if seed is None else seed, **{k: facts[k] for k in COMPUTE_KEYS}, "precision": tc.precision,
            "wall_time_s": facts["wall_time_s"], "images_per_s": facts["images_per_s"],
            "torch_version": torch.__version__, "recipe": tc.recipe, "genlab_version": __version__}


def run_loop(steps: Iterator, tc: TrainConfig, start: int, *, checkpoint: Callable[[int], object],
             record: Callable[[int, dict], bool | None], diverged: Callable[[int], str], desc: str | None,
             stop_event: threading.Event | None = None, should_stop: Callable[[int], bool] | None = None,
             periodic_due: Callable[[], bool] | None = None,
             snapshot: Callable[[int], None] | None = None) -> tuple[int, bool, object]:
    """Drive `train_steps`' iterator for `fit` and `fit_stacked` alike: record each log row
    (`record(step, logs)`, True to stop), check the losses are finite whenever the logs have synchronised
    anyway and before anything is saved (DivergedError with `diverged(first bad step)`), checkpoint every
    tc.ckpt_every steps (`periodic_due()` may skip one) and at the end, keep a snapshot every
    tc.snapshot_every steps, show progress (`desc`; None: quiet) and stop early on `stop_event` or
    `should_stop(step)`. Returns (last step, stopped early, what the last `checkpoint` returned)."""
    pending: list = []

    def check_finite() -> None:
        bad = [s for s, f in pending if not bool(f)]
        pending.clear()
        if bad:
            raise DivergedError(diverged(bad[0]))

    bar = None
    if desc is not None:
        from tqdm.auto import tqdm

        bar = tqdm(total=tc.steps, initial=start, desc=desc, unit="step", dynamic_ncols=True)
    step, stopped, last = start, False, None
    try:
        for step, logs, finite in steps:
            pending.append((step, finite))
            if logs is not None:
                check_finite()
                logs["step"] = step
                if record(step, logs):
                    stopped = True
                if bar is not None:
                    bar.set_postfix({k: f"{v:.4g}" for k, v in logs.items() if isinstance(v, float) and "loss" in k})
            if bar is not None:
                bar.update(1)
            if should_stop is not None and should_stop(step):
                stopped = True
            if stop_event is not None and stop_event.is_set():
                stopped = True
            if (not stopped and step % tc.ckpt_every == 0 and step < tc.steps
                    and (periodic_due is None or periodic_due())):
                check_finite()
                last = checkpoint(step)
            if snapshot is not None and tc.snapshot_every > 0 and step % tc.snapshot_every == 0:
                check_finite()
                snapshot(step)
            if stopped:
                break
        check_finite()
        last = checkpoint(step)
    finally:
        if bar is not None:
            bar.close()
    return step, stopped, last


def fit(model_cfg: ModelConfig, data, tc: TrainConfig, callbacks: list[Callback] | None = None,
        progress: bool = True, stop_event: threading.Event | None = None) -> TrainResult:
    """Train `model_cfg` on `data` under `tc`: build (or resume), loop, checkpoint, return."""
    callbacks = callbacks or []
    dev = pick_device(tc.device)
    if tc.precision not in ("fp32", "bf16"):
        raise ValueError(f"unknown precision '{tc.precision}'; use fp32 or bf16")
    if tc.lr_schedule not in ("constant", "linear"):
        raise ValueError(f"unknown learning-rate schedule '{tc.lr_schedule}'; use constant or linear")
    seed_everything(tc.seed)
    model = GenerativeModel(model_cfg).to(dev)
    if tc.channels_last and model.is_image:
        model = model.to(memory_format=torch.channels_last)
    optimizers = build_optimizers(model)
    if tc.data_on_device and dev.type == "cuda" and hasattr(data, "to"):
        data.to(dev)
    data_gen = torch.Generator().manual_seed(tc.seed)
    noise_gen = torch.Generator(device=dev).manual_seed(tc.seed + 1)

    out = Path(tc.out) if tc.out else None
    resume_path = out / "resume.safetensors" if out else None
    log_path = out / "log.jsonl" if out else None
    start, history, extra = 0, [], {}
    if tc.resume:
        if resume_path is None:
            raise ValueError("--resume needs --out, the folder of the run to continue")
        if resume_path.exists():
            start, rng, extra = load_train_state(resume_path, model, optimizers)
            data_gen.set_state(rng["data"])
            noise_gen.set_state(rng["noise"].to(torch.uint8))
            history = _read_history(log_path, start)
    elif resume_path is not None and resume_path.exists():
        raise FileExistsError(f"'{out}' already holds a run; add --resume to continue it or choose another --out")
    if out:
        out.mkdir(parents=True, exist_ok=True)
        _write_history(log_path, history)

    info = {"model": model_cfg.model, "data": model_cfg.data, "steps": tc.steps, "start": start, "device": str(dev)}
    for cb in callbacks:
        cb.on_start(info)

    clock = RunClock(start, tc.batch_size * sum(s.repeat for s in model.update_steps()), dev)
    clock.resumed_from(extra)

    def meta(step_now):
        m = run_meta(tc.name or (out.name if out else model_cfg.model), model_cfg, tc, clock, step_now)
        if getattr(data, "source", None):  # your own data (genlab.userdata): where it came from, its content hash
            m["data_source"] = data.source
        return m

    def checkpoint(step_now):
        if not out:
            return None
        m = meta(step_now)
        save_train_state(resume_path, model, optimizers, step_now, _rng_state(data_gen, noise_gen),
                         RunClock.resume_extra(m))
        path = save_checkpoint(out / "model", model, m, half=False)
        for cb in callbacks:
            cb.on_checkpoint(step_now, path)
        return path

    def record(step_now, logs):
        history.append(logs)
        if log_path:
            with open(log_path, "a") as f:
                f.write(json.dumps(logs) + "\n")
        return any([bool(cb.on_log(step_now, logs)) for cb in callbacks])

    def diverged(bad_step):
        where = f"; the last good checkpoint in '{out}' is intact" if out else ""
        return (f"a loss of '{model_cfg.model}' became NaN or infinite by step {bad_step}{where}: "
                f"lower the learning rate (--lr) or use a more stable setting, then --resume")

    step, stopped, last_ckpt = run_loop(
        train_steps(model, data, tc, optimizers, start, data_gen, noise_gen), tc, start, checkpoint=checkpoint,
        record=record, diverged=diverged, desc=f"{model_cfg.model} on {model_cfg.data}" if progress else None,
        stop_event=stop_event,
        snapshot=(lambda s: save_checkpoint(snapshot_stem(out, s), model, meta(s), half=True)) if out else None)
    if out and (tc.half_checkpoint or tc.average_only) and not stopped:
        last_ckpt = save_checkpoint(out / "model", model, meta(step), half=tc.half_checkpoint,
                                    average_only=tc.average_only)
    model.eval()
    result = TrainResult(model, step, stopped, clock.wall(), clock.segment_rate(step), last_ckpt, history)
    for cb in callbacks:
        cb.on_end(result)
    return result


def snapshot_stem(out, step: int) -> Path:
    """Where `fit` keeps the model of step `step` when TrainConfig.snapshot_every asks for it."""
    return Path(out) / "snapshots" / f"step-{step:07d}"


def list_snapshots(out) -> list[tuple[int, Path]]:
    """(step, checkpoint stem) of every snapshot a run folder keeps, in step order."""
    folder = Path(out) / "snapshots"
    found = []
    for w in folder.glob("step-*.safetensors") if folder.is_dir() else []:
        try:
            found.append((int(w.stem.split("-", 1)[1]), w.with_suffix("")))
        except ValueError:
            continue
    return sorted(found)


def _read_history(path: Path | None, upto: int) -> list:
    if path is None or not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by a kill
        if row.get("step", 0) <= upto:
            rows.append(row)
    return rows


def _write_history(path: Path | None, rows: list) -> None:
    if path is None:
        return
    from genlab.checkpoint import atomic_write_bytes

    atomic_write_bytes(path, "".join(json.dumps(r) + "\n" for r in rows).encode())


def train_config_dict(tc: TrainConfig) -> dict:
    return asdict(tc)
