"""Background training for the app: `genlab.train.fit` in a daemon worker thread. No Streamlit here.

    run = start_run("vae", "digits", {"beta": 4.0}, steps=2000, batch_size=64, seed=0)
    run.snapshot()   # step, total, status, latest logs, loss history, sample images
    run.stop(); run.resume()

The worker calls no Streamlit function. It writes a lock-guarded snapshot, which the page
reads from a fragment that reruns every second, and it checks a stop Event between steps. The
UI thread never touches the model in training: sample images come from the checkpoint that
fit writes every `sample_every` steps, loaded as a separate eval-mode copy in the worker.

Runs live in a process-wide registry keyed by run id (the run folder's name), so a page rerun
or another browser session finds them. Each run writes to runs/<id>/ (git-ignored):
model.{safetensors,json} (the checkpoint every page lists), resume.safetensors, log.jsonl and
run.json (what is needed to resume it after the server restarts).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
import threading
import time
from pathlib import Path

import numpy as np
import torch

from genlab.live import runs_root
from genlab.models import MODELS, Limit, ModelConfig, field_help, field_problem, make_config, number_text, options
from genlab.train import Callback, TrainConfig, TrainResult, fit

STATUSES = ("running", "stopped", "finished", "failed")

# --------------------------------------------------------------------------- hyper-parameters per model

# The model settings the Train page shows are each model's ModelSpec.fields; the rest keep defaults.
OPTIM_FIELDS = ["optimizer", "lr", "lr_d", "lr_g", "adam_beta1", "adam_beta2"]
# Every setting's help, range and choices are its ModelConfig `option` (genlab.models): the page's fields
# carry no bounds of their own (a browser field out of its bounds keeps sending its last good value, so
# the run started would not be the one on screen); check_run_settings refuses anything out of range,
# before a folder exists, with the rule validate_config applies.

# steps, batch size and seed of a run started from the app (the Train page's Run fields)
RUN_LIMITS = {"steps": Limit(1, 1_000_000), "batch_size": Limit(1, 4096), "seed": Limit(0, 1_000_000)}
RUN_LABELS = {"steps": "Steps", "batch_size": "Batch size", "seed": "Seed"}
# a run's name is its folder under runs/: never a path
RUN_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}")
RUN_NAME_RULE = "letters, digits, -, _ and . (not first), at most 100 characters"


def is_run_name(name) -> bool:
    """A run's name (its folder under runs/): letters, digits, -, _ and ., never a path."""
    return isinstance(name, str) and RUN_NAME.fullmatch(name) is not None


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)



def check_run_settings(model: str, dataset: str, overrides: dict | None = None, steps=1000, batch_size=64,
                       seed=0, run_id: str | None = None) -> list[str]:
    """What is wrong with a run's settings, one clause each (empty when it can start): an unknown
    model or dataset, a setting out of its range (its ModelConfig option, or RUN_LIMITS), of the wrong
    type or not among its choices, a run name that is not a name. start_run refuses on any, before a folder is created."""
    from genlab.data import DATASETS
    from genlab.userdata import is_spec

    problems = []
    if model not in MODELS:
        problems.append(f"unknown model '{model}'; choose one of: {', '.join(MODELS)}")
    if dataset not in DATASETS and not is_spec(dataset):
        problems.append(f"unknown dataset '{dataset}'; choose one of: {', '.join(DATASETS)}, or images of yours "
                        "(images:DIR)")
    for key, v in (("steps", steps), ("batch_size", batch_size), ("seed", seed)):
        label, limit = RUN_LABELS[key], RUN_LIMITS[key]
        if not _is_int(v) and not (isinstance(v, float) and v.is_integer()):
            problems.append(f"{label} must be a whole number {limit.text()} (got {v!r})")
        elif not limit.holds(v):
            problems.append(f"{label} must be {limit.text()} (got {number_text(int(v))})")
    if run_id is not None and not is_run_name(run_id):
        problems.append(f"'{run_id}' cannot name a run folder: use {RUN_NAME_RULE}")
    fields = {f.name for f in dataclasses.fields(ModelConfig)}
    for name, v in (overrides or {}).items():
        if name not in fields:
            problems.append(f"'{name}' is not a setting of genlab's models")
        elif v is not None and name in options():  # left empty: the paper's default (lr_d / lr_g: the same as lr)
            problem = field_problem(name, v)
            if problem:
                problems.append(problem)
    return problems


def paper_defaults(model: str) -> dict:
    """ModelConfig's defaults overlaid with the paper's (MODELS[model].defaults)."""
    if model not in MODELS:
        raise ValueError(f"unknown model '{model}'; choose one of: {', '.join(MODELS)}")
    base = {f.name: f.default for f in dataclasses.fields(ModelConfig)}
    base.update(MODELS[model].defaults)
    return base


def hyperparameter_fields(model: str) -> list[dict]:
    """The settings the Train page shows for `model`: name, paper default, help, choices, group, and
    for a number its Limit and the range as text ('above 0 and at most 1')."""
    defaults = paper_defaults(model)
    optim = OPTIM_FIELDS if MODELS[model].family != "vae" else [f for f in OPTIM_FIELDS if f not in ("lr_d", "lr_g")]
    rows = []
    for group, names in (("model", MODELS[model].fields), ("optimisation", optim)):
        for name in names:
            m = options()[name].metadata
            choices = list(m["choices"]) if m["choices"] else None
            limit = None if choices or isinstance(defaults[name], bool) else m["limit"]
            rows.append({"name": name, "default": defaults[name], "help": field_help(name), "choices": choices,
                         "group": group, "limit": limit, "range": limit.text() if limit else None})
    return rows


# --------------------------------------------------------------------------- the background run


def _one_sentence(e: BaseException) -> str:
    msg = str(e).strip().split("\n")[0]
    return msg or f"{type(e).__name__} with no message"


def _image_grid(images: np.ndarray, cols: int = 8) -> np.ndarray:
    """(N, C, H, W) in [0, 1] → (rows·H, cols·W, C) uint8, one-pixel gaps."""
    n, c, h, w = images.shape
    cols = min(cols, n)
    rows = -(-n // cols)
    grid = np.ones((rows * (h + 1) - 1, cols * (w + 1) - 1, c), dtype=np.float32)
    for i in range(n):
        r, k = divmod(i, cols)
        grid[r * (h + 1):r * (h + 1) + h, k * (w + 1):k * (w + 1) + w] = images[i].transpose(1, 2, 0)
    out = (np.clip(grid, 0, 1) * 255).round().astype(np.uint8)
    return out[..., 0] if c == 1 else out


class _Recorder(Callback):
    """The worker's side of the snapshot: runs in the worker thread, writes under the lock."""

    def __init__(self, run: "BackgroundRun"):
        self.run = run

    def on_start(self, info: dict) -> None:
        start = int(info["start"])
        with self.run._lock:
            self.run._step = self.run._start_step = self.run._t_start_step = start
            # fit cut log.jsonl back to the resumed step; keep the same history here
            self.run._history = [r for r in self.run._history if r.get("step", 0) <= start]

    def on_log(self, step: int, logs: dict):
        row = {k: v for k, v in logs.items() if isinstance(v, (int, float))}
        with self.run._lock:
            self.run._step = step
            self.run._logs = row
            self.run._history.append(row)
        return None

    def on_checkpoint(self, step: int, path: Path) -> None:
        with self.run._lock:
            self.run._checkpoint = str(path)
        self.run._sample_from(path, step)

    def on_end(self, result: TrainResult) -> None:
        with self.run._lock:
            self.run._step = result.step


class BackgroundRun:
    """One training run in a daemon thread. Build with `start_run` (new) or `from_folder`
    (found on disk); read with `snapshot()`; control with `stop()` and `resume()`."""

    def __init__(self, run_id: str, model_cfg: ModelConfig, tc: TrainConfig, n_samples: int = 16, on_ray: bool = False):
        if not tc.out:
            raise ValueError("a background run needs an out folder")
        self.run_id = run_id
        self.model_cfg = model_cfg
        self.tc = tc
        self.out = Path(tc.out)
        self.n_samples = n_samples
        self.on_ray = on_ray  # train in a Ray task (the Study page's Ray) instead of this process
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._status = "stopped"
        self._error: str | None = None
        self._step = 0
        self._start_step = 0
        self._logs: dict = {}
        self._history: list[dict] = _read_log(self.out / "log.jsonl")
        self._samples: dict | None = None
        self._checkpoint: str | None = str(self.out / "model") if (self.out / "model.safetensors").exists() else None
        self._started = time.time()
        self._t_start_step = 0
        if self._history:
            self._step = int(self._history[-1].get("step", 0))

    # --- control
    def start(self, resume: bool = False) -> "BackgroundRun":
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                raise RuntimeError(f"run '{self.run_id}' is already running")
            self._stop.clear()
            self._status, self._error = "running", None
            self._started = time.time()
            self._t_start_step = self._step
            self._history = _read_log(self.out / "log.jsonl") if resume else []
        tc = dataclasses.replace(self.tc, resume=resume)
        self._thread = threading.Thread(target=self._work, args=(tc,), name=f"genlab-{self.run_id}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ask the worker to stop after the current step; it checkpoints, so `resume` continues."""
        self._stop.set()

    def resume(self) -> "BackgroundRun":
        """Continue from runs/<id>/resume.safetensors to the same final step."""
        if self.status == "finished":
            raise RuntimeError(f"run '{self.run_id}' has already finished")
        return self.start(resume=(self.out / "resume.safetensors").exists())

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the worker; True when it has ended."""
        t = self._thread
        if t is not None:
            t.join(timeout)
            return not t.is_alive()
        return True

    @property
    def status(self) -> str:
        with self._lock:
            return self._status

    @property
    def running(self) -> bool:
        return self.status == "running"

    # --- the worker
    def _work(self, tc: TrainConfig) -> None:
        if self.on_ray:
            return self._work_on_ray(tc)
        torch.set_num_threads(1)  # leave the other core to the server and the other sessions
        try:
            from genlab.data import load_dataset

            data = load_dataset(self.model_cfg.data)
            result = fit(self.model_cfg, data, tc, callbacks=[_Recorder(self)], progress=False, stop_event=self._stop)
            self._sample_model(result.model, result.step)
            with self._lock:
                self._step = result.step
                if result.checkpoint is not None:
                    self._checkpoint = str(result.checkpoint)
                self._status = "stopped" if result.stopped and result.step < tc.steps else "finished"
        except BaseException as e:  # noqa: BLE001 - a worker must report, never die silently
            with self._lock:
                self._status, self._error = "failed", _one_sentence(e)

    def _work_on_ray(self, tc: TrainConfig) -> None:
        """The same `fit`, in a Ray task on the local Ray or the cluster in $RAY_ADDRESS (the Ray the
        Study page uses): this thread follows the run folder (log.jsonl, each new checkpoint's samples)
        and cancels the task on stop; the run then resumes from its last checkpoint."""
        try:
            from genlab.study import ray_init

            ray = ray_init()
            ref = ray.remote(_fit_task).options(num_cpus=1, max_retries=0).remote(
                self.model_cfg.to_dict(), dataclasses.asdict(tc))
            seen_ckpt = 0
            while True:
                ready, _ = ray.wait([ref], timeout=0.5)
                seen_ckpt = self._follow_folder(seen_ckpt)
                if ready:
                    out = ray.get(ready[0])
                    self._follow_folder(seen_ckpt)
                    with self._lock:
                        self._step = out["step"]
                        self._checkpoint = str(self.out / "model")
                        self._status = "finished" if out["step"] >= tc.steps else "stopped"
                    return
                if self._stop.is_set():
                    ray.cancel(ref, force=True)
                    with self._lock:
                        self._status = "stopped"
                    return
        except BaseException as e:  # noqa: BLE001 - a worker must report, never die silently
            cause = getattr(e, "cause", None) or e
            with self._lock:
                self._status, self._error = "failed", _one_sentence(cause)

    def _follow_folder(self, seen_ckpt: int) -> int:
        """Read what a Ray task wrote: new log rows into the history, samples from a new checkpoint."""
        rows = _read_log(self.out / "log.jsonl")
        weights = self.out / "model.safetensors"
        with self._lock:
            if rows:
                self._history = rows
                self._logs = {k: v for k, v in rows[-1].items() if isinstance(v, (int, float))}
                self._step = int(rows[-1].get("step", self._step))
        mtime = weights.stat().st_mtime_ns if weights.exists() else 0
        if mtime and mtime != seen_ckpt:
            with self._lock:
                self._checkpoint = str(self.out / "model")
            self._sample_from(self.out / "model", self._step)
        return mtime or seen_ckpt

    def _sample_from(self, path: Path, step: int) -> None:
        """Samples from the checkpoint just written, via its own eval-mode copy."""
        try:
            from genlab.checkpoint import load_checkpoint

            model, _ = load_checkpoint(path, device="cpu")
            self._sample_model(model, step)
        except Exception:  # samples are a view; a failed one must not stop training
            pass

    @torch.no_grad()
    def _sample_model(self, model, step: int) -> None:
        if model.spec.translator:  # no samples of its own: the Unified view page shows its translations
            return
        model = copy.deepcopy(model).cpu().eval() if model.training else model
        g = torch.Generator(device=model.device).manual_seed(self.tc.seed + 12345)
        x = model.sample(self.n_samples if model.is_image else 1000, g).float().cpu().numpy()
        if model.is_image:
            sample = {"step": step, "kind": "images", "grid": _image_grid(x)}
        else:
            sample = {"step": step, "kind": "points", "points": x}
        with self._lock:
            self._samples = sample

    # --- what the page reads
    def snapshot(self) -> dict:
        with self._lock:
            elapsed = time.time() - self._started
            done = self._step - self._t_start_step
            return {
                "run_id": self.run_id, "status": self._status, "error": self._error,
                "step": self._step, "total": self.tc.steps, "start_step": self._start_step,
                "logs": dict(self._logs), "history": list(self._history),
                "samples": None if self._samples is None else dict(self._samples),
                "checkpoint": self._checkpoint, "out": str(self.out),
                "model": self.model_cfg.model, "dataset": self.model_cfg.data,
                "config": self.model_cfg.to_dict(), "train": dataclasses.asdict(self.tc), "on_ray": self.on_ray,
                "steps_per_s": done / elapsed if self._status == "running" and elapsed > 0 else None,
                "stop_requested": self._stop.is_set(),
            }

    # --- on disk
    def _write_run_json(self) -> None:
        from genlab.checkpoint import atomic_write_json

        atomic_write_json(self.out / "run.json", {"run_id": self.run_id, "config": self.model_cfg.to_dict(),
                                                  "train": dataclasses.asdict(self.tc), "on_ray": self.on_ray})

    @classmethod
    def from_folder(cls, folder) -> "BackgroundRun":
        """A run found on disk (e.g. after a server restart), ready to `resume()`."""
        folder = Path(folder)
        info_path = folder / "run.json"
        if not info_path.exists():
            raise FileNotFoundError(f"'{folder}' holds no run.json: it was not started from the app")
        info = json.loads(info_path.read_text())
        cfg = ModelConfig.from_dict(info["config"])
        tc = TrainConfig(**{**info["train"], "out": str(folder), "resume": False})
        run = cls(info.get("run_id", folder.name), cfg, tc, on_ray=bool(info.get("on_ray", False)))
        done = run._step >= tc.steps and (folder / "model.safetensors").exists()
        run._status = "finished" if done else "stopped"
        return run


def _fit_task(cfg: dict, train: dict) -> dict:
    """A Ray task: one background run's `fit`, one torch thread, into the run folder it names."""
    from genlab.data import load_dataset

    torch.set_num_threads(1)
    model_cfg, tc = ModelConfig.from_dict(cfg), TrainConfig(**train)
    res = fit(model_cfg, load_dataset(model_cfg.data), tc, progress=False)
    return {"step": res.step, "stopped": res.stopped}


def _read_log(path: Path) -> list[dict]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


# --------------------------------------------------------------------------- the registry

_RUNS: dict[str, BackgroundRun] = {}
_REGISTRY_LOCK = threading.Lock()


def default_run_id(model: str, dataset: str) -> str:
    from genlab.data import data_label

    return f"{model}-{data_label(dataset)}-{time.strftime('%Y%m%d-%H%M%S')}"


def start_run(model: str, dataset: str, overrides: dict | None = None, steps: int = 1000, batch_size: int = 64,
              seed: int = 0, run_id: str | None = None, root: str | Path | None = None,
              sample_every: int | None = None, device: str = "auto", on_ray: bool = False) -> BackgroundRun:
    """Build the config (paper defaults + overrides), register the run and start its worker.
    Raises ValueError (one sentence) for bad settings (check_run_settings, then make_config's own
    checks) or a run id that is taken, before any folder is created or thread started. `dataset`: a
    built-in name, or images of yours as a spec (images@SIZE:DIR, e.g. an uploaded zip unpacked by
    genlab.userdata), read here first so a bad file is refused before a folder exists."""
    from genlab.data import DATASETS, DatasetMissing, load_dataset
    from genlab.userdata import canonical_spec, is_spec

    run_id = (run_id or "").strip() or None
    problems = check_run_settings(model, dataset, overrides, steps, batch_size, seed, run_id)
    if problems:
        raise ValueError("; ".join(problems) + ".")
    steps, batch_size, seed = int(steps), int(batch_size), int(seed)
    if is_spec(dataset):
        dataset = canonical_spec(dataset)
        try:
            shape = load_dataset(dataset).shape
        except DatasetMissing as e:
            raise ValueError(str(e)) from None
    else:
        shape = DATASETS[dataset].shape
    run_id = run_id or default_run_id(model, dataset)
    cfg = make_config(model, dataset, shape, **(overrides or {}))
    out = Path(root) if root else runs_root()
    out = out / run_id
    every = sample_every or max(1, steps // 10)
    tc = TrainConfig(steps=steps, batch_size=batch_size, seed=seed, out=str(out), ckpt_every=every,
                     log_every=max(1, min(10, steps // 50 or 1)), device=device, name=run_id)
    with _REGISTRY_LOCK:
        if run_id in _RUNS or (out / "resume.safetensors").exists() or (out / "run.json").exists():
            raise ValueError(f"a run called '{run_id}' already exists; resume it or choose another name")
        run = BackgroundRun(run_id, cfg, tc, on_ray=on_ray)
        out.mkdir(parents=True, exist_ok=True)
        run._write_run_json()
        _RUNS[run_id] = run
    return run.start()


def get_run(run_id: str, root: str | Path | None = None) -> BackgroundRun | None:
    """The run registered under `run_id`, or one found on disk in root/<run_id> (registered then).
    A path (../runs/x, /tmp/x) is no run's name: None."""
    if not isinstance(run_id, str) or not run_id or run_id.startswith(".") or any(c in run_id for c in "/\\\0"):
        return None
    with _REGISTRY_LOCK:
        if run_id in _RUNS:
            return _RUNS[run_id]
        folder = (Path(root) if root else runs_root()) / run_id
        if (folder / "run.json").exists():
            try:
                run = BackgroundRun.from_folder(folder)
            except Exception:
                return None
            _RUNS[run_id] = run
            return run
    return None


def list_runs(root: str | Path | None = None) -> list[dict]:
    """Runs of this server process plus runs on disk that the app started (newest first)."""
    root = Path(root) if root else runs_root()
    with _REGISTRY_LOCK:
        ids = set(_RUNS)
    if root.exists():
        ids |= {p.parent.name for p in root.glob("*/run.json")}
    rows = []
    for rid in ids:
        run = get_run(rid, root)
        if run is not None:
            s = run.snapshot()
            rows.append({"run_id": rid, "model": s["model"], "dataset": s["dataset"], "status": s["status"],
                         "step": s["step"], "total": s["total"], "out": s["out"]})
    return sorted(rows, key=lambda r: r["run_id"], reverse=True)


def forget_run(run_id: str) -> None:
    """Drop a run from the registry (stopping it first); its folder stays on disk."""
    with _REGISTRY_LOCK:
        run = _RUNS.pop(run_id, None)
    if run is not None:
        run.stop()
