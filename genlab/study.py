"""Studies: a grid of training runs (trials), each an ordinary run folder, measured along the way.

A study is a TOML file:

    name = "beta-sweep"
    model = "beta-vae"
    data = "dsprites"
    steps = 100000
    metrics = ["disentanglement", "latent"]   # `genlab eval` groups, measured when a trial finishes
    measure_every = 10000                     # MIG on 10,000 codes along the way (0 = off)
    [train]                                   # TrainConfig fields shared by every trial
    batch_size = 64
    precision = "auto"                        # bf16 where the CPU has AMX or on a GPU, else fp32
    [fixed]                                   # model options shared by every trial
    lr = 5e-4
    [grid]                                    # every combination is one trial
    beta = [1, 2, 4, 8, 16]
    seed = [0, 1, 2]

Every grid point is a trial folder under the study's output folder, named after its values
(`beta-16_seed-0`), holding what `genlab train` writes (model.*, resume.safetensors, log.jsonl)
plus `trial.json` (its values, status, attempts and last error) and `curve.jsonl` (the measures
taken along the way). So a trial loads on every page, `genlab eval` measures it, and a stopped
trial resumes from its own checkpoint, whoever runs it next: this module alone (`run_trial`), or
Ray (`genlab.study_ray`), which runs trials as tasks on this machine or a cluster.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import math
import os
import socket
import threading
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

STUDY_KEYS = ("name", "model", "data", "steps", "metrics", "measure_every", "train", "fixed", "grid", "description",
              "data_path", "published")
# TrainConfig fields a study may set for all its trials ("auto" precision is resolved per machine)
STUDY_TRAIN_KEYS = ("batch_size", "precision", "channels_last", "ckpt_every", "log_every", "lr_schedule",
                    "snapshot_every", "half_checkpoint", "device")
TRIAL_FILE = "trial.json"
CURVE_FILE = "curve.jsonl"
STALE_S = 600  # a "running" trial whose trial.json has not been touched for this long is counted as stopped
CURVE_CODES = 10_000  # codes per MIG measure along the way (disentanglement_lib's MIG size)


class StudyError(ValueError):
    """A study file that cannot be used; the message names the file, the key and the fix."""


@dataclass
class Study:
    name: str
    model: str
    data: str
    steps: int
    grid: dict  # key -> list of values (seed included)
    fixed: dict = field(default_factory=dict)
    train: dict = field(default_factory=dict)
    metrics: list = field(default_factory=list)
    measure_every: int = 0
    data_path: str | None = None
    description: str = ""
    published: dict = field(default_factory=dict)  # metric -> [low, high] from the literature, for charts
    path: str | None = None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class Trial:
    name: str  # the folder name under the study's output folder
    values: dict  # the grid point, seed included

    @property
    def seed(self) -> int:
        return int(self.values.get("seed", 0))


# --------------------------------------------------------------------------- reading a study


def load_study(path) -> Study:
    p = Path(path)
    if not p.is_file():
        raise StudyError(f"study file '{path}' not found; give the path of a .toml study file")
    try:
        raw = tomllib.loads(p.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise StudyError(f"study file '{path}' is not valid TOML: {e}") from None
    return parse_study(raw, where=str(path))


def parse_study(raw: dict, where: str = "the study") -> Study:
    """Check every key and value of a study; StudyError names the first problem."""
    from genlab.data import DATASETS
    from genlab.evaluate import GROUPS
    from genlab.models import MODELS, ModelConfig

    unknown = [k for k in raw if k not in STUDY_KEYS]
    if unknown:
        raise StudyError(f"{where}: unknown key '{unknown[0]}'; a study has {', '.join(STUDY_KEYS)}")
    for key in ("model", "data", "steps", "grid"):
        if key not in raw:
            raise StudyError(f"{where}: no '{key}'; a study names its model, data, steps and grid")
    model, data = raw["model"], raw["data"]
    if model not in MODELS:
        raise StudyError(f"{where}: unknown model '{model}'; choose one of {', '.join(MODELS)}")
    if data not in DATASETS:
        raise StudyError(f"{where}: unknown data '{data}'; choose one of {', '.join(DATASETS)}")
    steps = raw["steps"]
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise StudyError(f"{where}: steps must be a whole number of at least 1, not {steps!r}")
    option_types = {f.name: f.type for f in dataclasses.fields(ModelConfig)}
    settable = set(option_types) - {"model", "data", "shape"}

    def check_option(section: str, key: str, value) -> None:
        if key == "seed":
            if section != "grid" and not isinstance(value, int):
                raise StudyError(f"{where}: [{section}] seed must be a whole number, not {value!r}")
            return
        if key not in settable:
            raise StudyError(f"{where}: [{section}] '{key}' is not a setting of {model}; use a model option "
                             f"(e.g. beta, lr, latent_dim) or seed")
        default = getattr(ModelConfig(), key)
        numeric = (isinstance(default, (int, float)) and not isinstance(default, bool)
                   or key in ("lr_d", "lr_g", "d_mlp_width", "d_mlp_layers"))
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise StudyError(f"{where}: [{section}] '{key}' takes true or false, not {value!r}")
        elif numeric:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise StudyError(f"{where}: [{section}] '{key}' takes a number, not {value!r}")
        elif not isinstance(value, str):
            raise StudyError(f"{where}: [{section}] '{key}' takes a word, not {value!r}")

    grid = raw["grid"]
    if not isinstance(grid, dict) or not grid:
        raise StudyError(f"{where}: [grid] is empty; list at least one setting with its values, e.g. beta = [1, 4, 16]")
    clean_grid = {}
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise StudyError(f"{where}: [grid] '{key}' needs a non-empty list of values, e.g. {key} = [1, 2]")
        for v in values:
            if key == "seed" and (isinstance(v, bool) or not isinstance(v, int)):
                raise StudyError(f"{where}: [grid] seed values must be whole numbers, not {v!r}")
            check_option("grid", key, v)
        if len(set(map(repr, values))) != len(values):
            raise StudyError(f"{where}: [grid] '{key}' lists a value twice")
        clean_grid[key] = list(values)
    fixed = raw.get("fixed", {})
    if not isinstance(fixed, dict):
        raise StudyError(f"{where}: [fixed] must be a table of model options")
    for key, v in fixed.items():
        if key in clean_grid:
            raise StudyError(f"{where}: '{key}' is both fixed and in the grid; keep it in one of them")
        check_option("fixed", key, v)
    train = raw.get("train", {})
    if not isinstance(train, dict):
        raise StudyError(f"{where}: [train] must be a table")
    for key in train:
        if key not in STUDY_TRAIN_KEYS:
            raise StudyError(f"{where}: [train] '{key}' is not a training setting a study can fix; use one of "
                             f"{', '.join(STUDY_TRAIN_KEYS)}")
    if train.get("precision", "auto") not in ("auto", "fp32", "bf16"):
        raise StudyError(f"{where}: [train] precision must be auto, fp32 or bf16, not {train['precision']!r}")
    metrics = raw.get("metrics", [])
    if not isinstance(metrics, list) or any(m not in GROUPS for m in metrics):
        raise StudyError(f"{where}: metrics must be a list of measure groups from {', '.join(GROUPS)}")
    measure_every = raw.get("measure_every", 0)
    if not isinstance(measure_every, int) or measure_every < 0:
        raise StudyError(f"{where}: measure_every must be a whole number of steps (0 = off)")
    name = raw.get("name") or Path(where).stem
    return Study(name=str(name), model=model, data=data, steps=steps, grid=clean_grid, fixed=dict(fixed),
                 train=dict(train), metrics=list(metrics), measure_every=measure_every,
                 data_path=raw.get("data_path"), description=str(raw.get("description", "")),
                 published=dict(raw.get("published", {})), path=None if where == "the study" else where)


def _fmt(v) -> str:
    if isinstance(v, bool):
        return "on" if v else "off"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def trial_name(values: dict) -> str:
    """A folder name for a grid point: `beta-16_seed-0` (keys in the grid's order)."""
    return "_".join(f"{k}-{_fmt(v)}" for k, v in values.items()).replace("/", "-")


def trials(study: Study, only: dict | None = None) -> list[Trial]:
    """Every grid point, the first grid key varying slowest; `only` keeps the points whose values
    for its keys are among the values given (e.g. {"beta": [1, 16]})."""
    keys = list(study.grid)
    out = []
    for combo in itertools.product(*(study.grid[k] for k in keys)):
        values = dict(zip(keys, combo))
        if only and any(k in values and values[k] not in vs for k, vs in only.items()):
            continue
        out.append(Trial(trial_name(values), values))
    return out


def parse_only(text: str | None, study: Study) -> dict | None:
    """`beta=1,16;seed=0` → {"beta": [1.0, 16.0], "seed": [0]} with the grid's own value types."""
    if not text:
        return None
    only = {}
    for part in text.split(";"):
        key, _, vals = part.partition("=")
        key = key.strip()
        if key not in study.grid or not vals:
            raise StudyError(f"--only '{part}' names no grid key of the study; use KEY=V1,V2 with one of "
                             f"{', '.join(study.grid)}")
        grid_vals = study.grid[key]
        picked = []
        for v in vals.split(","):
            match = [g for g in grid_vals if _fmt(g) == v.strip() or repr(g) == v.strip()
                     or (isinstance(g, (int, float)) and not isinstance(g, bool) and _is_number(v) and float(v) == g)]
            if not match:
                raise StudyError(f"--only: {key} = {v.strip()} is not in the study's grid ({', '.join(map(_fmt, grid_vals))})")
            picked.append(match[0])
        only[key] = picked
    return only


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


# --------------------------------------------------------------------------- one trial


def resolve_precision(precision: str, device) -> str:
    """"auto": bf16 on a GPU or a CPU with AMX-bf16 (2x faster there, measured), fp32 elsewhere
    (bf16 autocast is slower than fp32 on CPUs without it)."""
    if precision != "auto":
        return precision
    import torch

    if torch.device(device).type == "cuda":
        return "bf16"
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "fp32"
    return "bf16" if "amx_bf16" in flags else "fp32"


def trial_configs(study: Study, trial: Trial, folder, shape, steps: int | None = None, device: str | None = None):
    """The ModelConfig and TrainConfig of one trial."""
    from genlab.device import pick_device
    from genlab.models import make_config
    from genlab.train import TrainConfig

    options = {**study.fixed, **{k: v for k, v in trial.values.items() if k != "seed"}}
    cfg = make_config(study.model, study.data, shape, **options)
    tv = dict(study.train)
    tv.setdefault("ckpt_every", 2000)
    tv.setdefault("log_every", 100)
    if study.measure_every:  # the curve is measured on checkpoints, so they must fall on its steps
        tv["ckpt_every"] = math.gcd(int(tv["ckpt_every"]), study.measure_every)
    if device:
        tv["device"] = device
    dev = pick_device(tv.get("device", "auto"))
    tv["precision"] = resolve_precision(tv.get("precision", "auto"), dev)
    if tv["precision"] == "bf16" and dev.type == "cpu":
        tv.setdefault("channels_last", True)
    recipe = {"study": study.name, "model": study.model, "data": study.data, "steps": steps or study.steps,
              "seed": trial.seed, "options": options, "grid": dict(trial.values)}
    tc = TrainConfig(steps=steps or study.steps, seed=trial.seed, out=str(folder), resume=True,
                     name=f"{study.name}/{trial.name}", recipe=recipe, **tv)
    return cfg, tc


def read_trial(folder) -> dict:
    """trial.json of a trial folder ({} when there is none or it cannot be read)."""
    try:
        return json.loads((Path(folder) / TRIAL_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def _write_trial(folder: Path, **fields) -> dict:
    from genlab.checkpoint import atomic_write_json

    info = read_trial(folder)
    info.update(fields, updated=time.time())
    atomic_write_json(folder / TRIAL_FILE, info)
    return info


def read_curve(folder) -> list[dict]:
    """The measures a trial took along the way, in step order (a line cut by a kill is skipped)."""
    path = Path(folder) / CURVE_FILE
    rows = []
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return sorted(rows, key=lambda r: r.get("step", 0))


def measure_mig(stem, n: int = CURVE_CODES, seed: int = 0) -> dict:
    """MIG of a checkpoint on n encoder means of random dSprites factors (the curve's measure)."""
    import numpy as np

    from genlab.checkpoint import load_checkpoint
    from genlab.data import load_dataset
    from genlab.evaluate import represent_fn
    from genlab.metrics import disentanglement as dis

    model, _ = load_checkpoint(stem, device="cpu")
    data = load_dataset(model.cfg.data)
    codes, factors = dis.sample_codes(data, represent_fn(model, model.device), n, np.random.default_rng(seed))
    res = dis.mig(codes, factors)
    return {"mig": round(res["score"], 4), "mig_per_factor": [None if not np.isfinite(v) else round(v, 4)
                                                               for v in res["per_factor"]]}


class _TrialRecorder:
    """fit's callback for a trial: heartbeat in trial.json, the curve every `measure_every` steps."""

    def __init__(self, folder: Path, study: Study, total: int, on_step=None):
        self.folder, self.study, self.total, self.on_step = folder, study, total, on_step
        self.last_beat = 0.0

    def on_start(self, info: dict) -> None:
        start = int(info["start"])
        rows = [r for r in read_curve(self.folder) if r.get("step", 0) <= start]
        from genlab.checkpoint import atomic_write_bytes

        atomic_write_bytes(self.folder / CURVE_FILE, "".join(json.dumps(r) + "\n" for r in rows).encode())
        _write_trial(self.folder, step=start)

    def on_log(self, step: int, logs: dict):
        now = time.time()
        if now - self.last_beat > 10:
            self.last_beat = now
            _write_trial(self.folder, step=step)
        if self.on_step is not None:
            self.on_step(step)
        return None

    def on_checkpoint(self, step: int, path: Path) -> None:
        _write_trial(self.folder, step=step)  # the step a resume would start from
        every = self.study.measure_every
        if every and self.study.data == "dsprites" and (step % every == 0 or step == self.total):
            if any(r.get("step") == step for r in read_curve(self.folder)):
                return
            t0 = time.perf_counter()
            row = {"step": step, **measure_mig(path), "seconds": round(time.perf_counter() - t0, 1)}
            with open(self.folder / CURVE_FILE, "a") as f:
                f.write(json.dumps(row) + "\n")

    def on_end(self, result) -> None: ...


def trial_status(folder, steps: int) -> str:
    """done | running | failed | stopped | waiting, from what the folder holds."""
    folder = Path(folder)
    info = read_trial(folder)
    if not folder.exists() or not info and not (folder / "resume.safetensors").exists():
        return "waiting"
    if info.get("status") == "done" and int(info.get("step", 0)) >= steps:
        return "done"
    if info.get("status") == "failed":
        return "failed"
    if info.get("status") == "running" and time.time() - float(info.get("updated", 0)) < STALE_S:
        return "running"
    return "stopped" if (folder / "resume.safetensors").exists() else "waiting"


def run_trial(study: Study, trial: Trial, root, threads: int | None = None, steps: int | None = None,
              device: str | None = None, stop_event=None, on_step=None, progress: bool = False) -> dict:
    """Train one trial to the study's length (resuming its folder), then measure it. Returns its
    trial.json. A finished trial is left as it is. Raises on a failure, after writing it to trial.json."""
    import torch

    from genlab.data import load_dataset
    from genlab.train import fit

    folder = Path(root) / trial.name
    total = steps or study.steps
    folder.mkdir(parents=True, exist_ok=True)
    info = read_trial(folder)
    if info.get("status") == "done" and int(info.get("step", 0)) >= total:
        return info
    if threads:
        torch.set_num_threads(int(threads))
    attempts = int(info.get("attempts", 0)) + 1
    resumed_from = 0
    if (folder / "resume.safetensors").exists():
        from genlab.checkpoint import read_metadata

        try:
            resumed_from = int(read_metadata(folder / "model").get("steps", 0))
        except Exception:
            resumed_from = -1  # unknown until fit reads the state
    _write_trial(folder, study=study.name, name=trial.name, values=trial.values, status="running", attempts=attempts,
                 error=None, host=socket.gethostname(), pid=os.getpid(), steps=total)
    _log_event(folder, "start" if resumed_from == 0 else "resume", step=resumed_from, attempt=attempts)
    try:
        data = load_dataset(study.data, path=study.data_path)
        cfg, tc = trial_configs(study, trial, folder, data.shape, steps=total, device=device)
        if not (folder / "resume.safetensors").exists() and (folder / "model.safetensors").exists():
            warm = warm_start(folder, cfg, tc)
            _log_event(folder, "warm start", step=warm, note="no resumable state: continued from the checkpoint's "
                       "weights with a new optimiser state and new random streams")
        res = fit(cfg, data, tc, callbacks=[_TrialRecorder(folder, study, total, on_step)], progress=progress,
                  stop_event=stop_event)
        if res.stopped:
            _log_event(folder, "stopped", step=res.step)
            return _write_trial(folder, status="stopped", step=res.step)
        metrics = {}
        if study.metrics:
            from genlab.evaluate import evaluate_checkpoint

            _log_event(folder, "evaluating", step=res.step, metrics=list(study.metrics))
            with _heartbeat(folder, phase="evaluating"):  # the suite can take as long as a third of the training
                metrics = evaluate_checkpoint(folder / "model", metrics=study.metrics, device=device or "auto")["metrics"]
        _log_event(folder, "done", step=res.step)
        return _write_trial(folder, status="done", step=res.step, metrics=metrics, wall_time_s=round(res.wall_time_s, 1))
    except BaseException as e:
        msg = str(e).strip().split("\n")[0] or type(e).__name__
        _write_trial(folder, status="failed" if not isinstance(e, KeyboardInterrupt) else "stopped", error=msg)
        _log_event(folder, "failed", error=msg)
        raise


@contextlib.contextmanager
def _heartbeat(folder: Path, phase: str, every_s: float = 60.0):
    """Keep trial.json's heartbeat fresh (and say what the trial is doing) while a long step without
    training callbacks runs, so that `genlab study status` does not count the trial as stopped."""
    done = threading.Event()

    def beat():
        while not done.wait(every_s):
            _write_trial(folder, phase=phase)

    _write_trial(folder, phase=phase)
    t = threading.Thread(target=beat, daemon=True, name=f"heartbeat-{folder.name}")
    t.start()
    try:
        yield
    finally:
        done.set()
        t.join()
        _write_trial(folder, phase=None)


def warm_start(folder: Path, cfg, tc) -> int:
    """A trial folder that holds a checkpoint but no resumable state (a shipped trial: checkpoints/ keeps
    float16 weights, not the optimiser) continues from those weights: write a resumable state with the
    weights, a fresh optimiser and random streams seeded by (seed, step). Not the run it would have been
    with its optimiser state (Adam restarts its moment estimates); events.log says so. Returns the step."""
    import torch

    from genlab.checkpoint import load_checkpoint, save_train_state
    from genlab.models import build_optimizers

    model, meta = load_checkpoint(folder / "model", device="cpu")
    if model.cfg.to_dict() != cfg.to_dict():
        raise StudyError(f"'{folder}' holds a checkpoint trained with other settings than this trial; move it away "
                         f"to train the trial from the start")
    model = model.float().train()
    step = int(meta.get("steps") or 0)
    rng = {"data": torch.Generator().manual_seed(tc.seed * 1_000_003 + step).get_state(),
           "noise": torch.Generator().manual_seed(tc.seed * 1_000_003 + step + 1).get_state()}
    save_train_state(folder / "resume.safetensors", model, build_optimizers(model), step, rng,
                     {"wall_time_s": float(meta.get("wall_time_s") or 0.0), "warm_start": step})
    return step


def _log_event(folder: Path, event: str, **fields) -> None:
    """One line in the trial's events.log: what ran it, when, from which step (kept for the record)."""
    line = json.dumps({"time": time.strftime("%Y-%m-%d %H:%M:%S"), "event": event, "host": socket.gethostname(),
                       "pid": os.getpid(), **fields})
    with open(folder / "events.log", "a") as f:
        f.write(line + "\n")


# --------------------------------------------------------------------------- a study's folder

STUDY_RECORD = "study.json"


def write_study_record(study: Study, out) -> None:
    """The study as run, beside its trials: `genlab study status/results` and the Study page read it."""
    from genlab.checkpoint import atomic_write_json

    out = Path(out)
    old = read_study_record(out)
    if old and (old.get("model"), old.get("data")) != (study.model, study.data):
        raise StudyError(f"'{out}' holds the study '{old.get('name')}' ({old.get('model')} on {old.get('data')}); "
                         f"give this study another --out folder")
    atomic_write_json(out / STUDY_RECORD, study.to_dict())


def read_study_record(out) -> dict:
    try:
        return json.loads((Path(out) / STUDY_RECORD).read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def open_study(out) -> Study:
    """The study whose trials are in folder `out`."""
    rec = read_study_record(out)
    if not rec:
        raise StudyError(f"'{out}' is not a study folder (no {STUDY_RECORD}); run `genlab study run FILE --out {out}` first")
    rec = {k: v for k, v in rec.items() if k != "path"}
    return Study(**rec, path=str(Path(out) / STUDY_RECORD))


def find_studies(*roots) -> list[Path]:
    """Study folders (holding study.json) under the given folders, one level or two down."""
    found = []
    for root in roots:
        root = Path(root)
        for rec in sorted(list(root.glob(f"*/{STUDY_RECORD}")) + list(root.glob(f"*/*/{STUDY_RECORD}"))):
            found.append(rec.parent)
    return found


def status_rows(out, steps: int | None = None) -> list[dict]:
    """One row per trial of the study in `out`: name, values, status, step, total, error."""
    study = open_study(out)
    out = Path(out)
    known = {t.name: t for t in trials(study)}
    rows = []
    for t in known.values():
        folder = out / t.name
        info = read_trial(folder)
        total = int(steps or info.get("steps") or study.steps)
        status = trial_status(folder, total)
        rows.append({"trial": t.name, **t.values, "status": status,
                     "step": int(info.get("step", 0)), "steps": total, "attempts": int(info.get("attempts", 0)),
                     "error": info.get("error"), "phase": info.get("phase") if status == "running" else None})
    return rows


def trial_record(study: Study, t: Trial, folder: Path) -> dict:
    """A trial's results: its grid values, seed, steps, status, the metrics stored in its checkpoint's
    sidecar and the last point of its curve."""
    from genlab.checkpoint import CheckpointError, read_metadata

    info = read_trial(folder)
    rec = {"trial": t.name, "path": str(folder / "model"), **t.values, "seed": t.seed,
           "status": trial_status(folder, int(info.get("steps") or study.steps)), "error": info.get("error")}
    try:
        meta = read_metadata(folder / "model")
        rec["steps"] = meta.get("steps")
        rec.update({k: v for k, v in (meta.get("metrics") or {}).items() if isinstance(v, (int, float))})
    except (CheckpointError, OSError):
        rec["steps"] = None
        if (folder / "model.json").exists() or (folder / "model.safetensors").exists():
            rec["status"], rec["error"] = "failed", rec["error"] or "its checkpoint cannot be read"
    curve = read_curve(folder)
    if curve:
        rec["curve_step"], rec["curve_mig"] = curve[-1]["step"], curve[-1]["mig"]
    return rec


def results(out) -> dict:
    """{"study": …, "trials": [trial_record…], "summary": [per grid point over seeds: median, min, max]}."""
    import numpy as np

    study = open_study(out)
    out = Path(out)
    recs = [trial_record(study, t, out / t.name) for t in trials(study)]
    point_keys = [k for k in study.grid if k != "seed"]
    metric_keys = sorted({k for r in recs for k, v in r.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
                          and k not in study.grid and k not in ("seed", "steps", "curve_step")})
    groups: dict[tuple, list[dict]] = {}
    for r in recs:
        groups.setdefault(tuple(r[k] for k in point_keys), []).append(r)
    summary = []
    for point, rows in groups.items():
        row = {**dict(zip(point_keys, point)), "seeds": len(rows),
               "done": sum(r["status"] == "done" for r in rows)}
        for m in metric_keys:
            vals = [r[m] for r in rows if isinstance(r.get(m), (int, float))]
            if vals:
                row[m] = {"median": float(np.median(vals)), "min": float(min(vals)), "max": float(max(vals)), "n": len(vals)}
        summary.append(row)
    return {"study": study.to_dict(), "folder": str(out), "trials": recs, "summary": summary}


# --------------------------------------------------------------------------- running a study on Ray


def _ray_trial(study_dict: dict, trial_values: dict, out: str, threads: int, steps: int | None, device: str | None):
    """One Ray task: run (or resume) one trial. Module-level so Ray ships it by reference."""
    study = Study(**study_dict)
    t = Trial(trial_name(trial_values), trial_values)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    info = run_trial(study, t, out, threads=threads, steps=steps, device=device)
    return {"trial": t.name, "status": info.get("status"), "step": info.get("step")}


def ray_init(address: str | None = None, num_cpus: int | None = None, num_gpus: int | None = None):
    """Join the Ray at `address` (or $RAY_ADDRESS), reuse one already started in this process, or
    start a local one sized to this machine."""
    import ray

    if ray.is_initialized():
        return ray
    address = address or os.environ.get("RAY_ADDRESS") or None
    kwargs = dict(include_dashboard=False, log_to_driver=False, configure_logging=False)
    if address:
        ray.init(address=address, **kwargs)
    else:
        # Ray runs its workers at niceness 15 unless told otherwise: beside any other busy process (a
        # training run, the app) a trial then crawls (measured on the 2-core CPU beside two trainings:
        # `import torch` took 101 s in a worker instead of 5 s). A local Ray's trials run at normal priority.
        os.environ.setdefault("RAY_worker_niceness", "0")
        ray.init(num_cpus=num_cpus or os.cpu_count() or 1, num_gpus=num_gpus, **kwargs)
    return ray


def _reason(e: BaseException) -> str:
    """One sentence for a failed task: the trial's own error, not Ray's wrapping."""
    cause = getattr(e, "cause", None) or e
    msg = str(cause).strip().split("\n")[0]
    return msg or type(cause).__name__


def run_study(study: Study, out, address: str | None = None, cpus_per_trial: int = 1, gpus_per_trial: float = 0.0,
              steps: int | None = None, only: dict | None = None, device: str | None = None, max_retries: int = 3,
              progress: bool = True, log=print) -> dict:
    """Run every trial of `study` not yet done as one Ray task each (local Ray, or the cluster at
    `address`). A finished trial is skipped; an unfinished one resumes from its own checkpoint; a task
    whose worker dies is retried (and resumes); a trial that fails is reported and the others finish.
    Returns {"done": [...], "skipped": [...], "failed": {trial: reason}}."""
    out = Path(out)
    ts = trials(study, only)
    total = steps or study.steps
    out.mkdir(parents=True, exist_ok=True)
    write_study_record(study, out)
    skipped = [t.name for t in ts if trial_status(out / t.name, total) == "done"]
    todo = [t for t in ts if t.name not in skipped]
    report = {"done": [], "skipped": skipped, "failed": {}}
    if not todo:
        log(f"{study.name}: all {len(ts)} trials are done in {out}")
        return report
    ray = ray_init(address)
    task = ray.remote(_ray_trial).options(num_cpus=cpus_per_trial, num_gpus=gpus_per_trial, max_retries=max_retries,
                                          retry_exceptions=False)
    threads = max(1, int(cpus_per_trial))
    study_dict = {k: v for k, v in study.to_dict().items()}
    refs = {task.remote(study_dict, t.values, str(out), threads, steps, device): t for t in todo}
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(ts), initial=len(skipped), desc=f"study {study.name}", unit="trial", dynamic_ncols=True)
    try:
        pending = list(refs)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1, timeout=2.0)
            for ref in ready:
                t = refs[ref]
                try:
                    ray.get(ref)
                    report["done"].append(t.name)
                except Exception as e:  # noqa: BLE001 - one trial's failure must not stop the others
                    report["failed"][t.name] = _reason(e)
                    log(f"{t.name}: failed: {report['failed'][t.name]}")
                if bar is not None:
                    bar.update(1)
            if bar is not None:
                steps_now = {refs[r].name: read_trial(out / refs[r].name).get("step", 0) for r in pending}
                bar.set_postfix_str(" ".join(f"{n}@{s}" for n, s in list(steps_now.items())[:4]))
    except BaseException:
        for ref in refs:  # interrupted: stop the tasks; every trial resumes from its last checkpoint
            ray.cancel(ref, force=True)
        raise
    finally:
        if bar is not None:
            bar.close()
    return report


def format_results(res: dict, metrics: tuple = ("mig", "factor_vae", "beta_vae")) -> str:
    """Markdown: one row per grid point that has a measured trial, each metric as its median over the
    seeds measured, with [min, max] when there are several."""
    from genlab.compare import SCORE_LABELS

    study = res["study"]
    keys = [k for k in study["grid"] if k != "seed"]
    rows = [r for r in res["summary"] if any(isinstance(r.get(m), dict) for m in metrics)]
    steps = {}
    for t in res["trials"]:
        if t.get("steps"):
            steps.setdefault(tuple(t[k] for k in keys), set()).add(t["steps"])
    head = keys + ["seeds", "steps"] + [SCORE_LABELS.get(m, m) for m in metrics]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        point = tuple(r[k] for k in keys)
        n = max((r[m]["n"] for m in metrics if isinstance(r.get(m), dict)), default=0)
        st = sorted(steps.get(point, ()))
        cells = [_fmt(r[k]) for k in keys] + [str(n), "–" if not st else f"{st[0]:,}" if len(st) == 1 else f"{st[0]:,}–{st[-1]:,}"]
        for m in metrics:
            s = r.get(m)
            cells.append("–" if not isinstance(s, dict) else f"{s['median']:.2f}" if s["n"] == 1
                         else f"{s['median']:.2f} [{s['min']:.2f}, {s['max']:.2f}]")
        lines.append("| " + " | ".join(cells) + " |")
    if not rows:
        lines.append("| (no trial measured yet) |" + " |" * (len(head) - 1))
    return "\n".join(lines)


# --------------------------------------------------------------------------- a study in the background (the Study page)

DRIVER_FILE = "driver.json"


def start_background(file, out, address: str | None = None, cpus_per_trial: int = 1, steps: int | None = None,
                     only: str | None = None) -> dict:
    """Start `genlab study run FILE --out OUT` as its own process (it outlives a page rerun or a closed
    browser) and record it in OUT/driver.json. The study file is checked first: a bad one raises
    StudyError and starts nothing."""
    import subprocess
    import sys

    study = load_study(file)
    parse_only(only, study)
    out = Path(out)
    running = background_driver(out)
    if running.get("alive"):
        raise StudyError(f"the study in '{out}' is already running (process {running['pid']}); stop it first")
    out.mkdir(parents=True, exist_ok=True)
    write_study_record(study, out)
    cmd = [sys.executable, "-m", "genlab.cli", "study", "run", str(file), "--out", str(out), "--quiet",
           "--cpus-per-trial", str(cpus_per_trial)]
    if address:
        cmd += ["--address", address]
    if steps:
        cmd += ["--steps", str(steps)]
    if only:
        cmd += ["--only", only]
    log = open(out / "driver.log", "ab")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    log.close()
    from genlab.checkpoint import atomic_write_json

    info = {"pid": proc.pid, "command": cmd, "started": time.time(), "host": socket.gethostname()}
    atomic_write_json(out / DRIVER_FILE, info)
    return info


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:  # a finished child not yet reaped is a zombie: not running
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def background_driver(out) -> dict:
    """The study's background process as driver.json recorded it, with "alive" (on this host)."""
    try:
        info = json.loads((Path(out) / DRIVER_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    info["alive"] = info.get("host") == socket.gethostname() and _alive(int(info.get("pid", 0)))
    return info


def stop_background(out, timeout: float = 20.0) -> bool:
    """Stop the study's background process (SIGTERM: it cancels its trials, which resume from their
    last checkpoints next time). True if it was running."""
    import signal

    info = background_driver(out)
    if not info.get("alive"):
        return False
    pid = int(info["pid"])
    os.killpg(pid, signal.SIGTERM)
    deadline = time.time() + timeout
    while time.time() < deadline and _alive(pid):
        time.sleep(0.2)
    if _alive(pid):
        os.killpg(pid, signal.SIGKILL)
    return True


# --------------------------------------------------------------------------- the Study page

STUDIES_DIR = "studies"  # the study files the page offers ($GENLAB_STUDIES overrides it)
OUT_NAME_CHARS = "letters, digits, - and _"
METRIC_LABELS = {
    "mig": "MIG", "curve_mig": "MIG along the way (last)", "beta_vae": "BetaVAE score",
    "factor_vae": "FactorVAE score", "sap": "SAP", "dci_disentanglement": "DCI disentanglement",
    "dci_completeness": "DCI completeness", "dci_informativeness": "DCI informativeness",
    "modularity": "modularity", "kl_total": "total KL (nats)", "active_units": "active units",
    "mmd_to_prior": "MMD to the prior", "aggregate_kl_to_prior": "aggregate KL to the prior",
    "prior_holes": "share of prior holes",
}
_NOT_METRICS = ("seed", "steps", "curve_step")


def study_choices(*roots) -> dict[str, Path]:
    """{id: study folder} for the Study page's picker and its `?study=` parameter. The id is the folder's
    path below its root (`beta-sweep` in checkpoints/, `studies/beta-sweep` in runs/), so a shipped
    study and a user's run of the same file stay apart; the URL only ever selects one of these ids."""
    out: dict[str, Path] = {}
    for root in roots:
        root = Path(root)
        for folder in find_studies(root):
            key = folder.relative_to(root).as_posix()
            if key in out:
                key = f"{root.name}/{key}"
            n = 2
            while key in out:
                key, n = f"{folder.relative_to(root).as_posix()}~{n}", n + 1
            out[key] = folder
    return out


def swept_key(study: dict) -> str | None:
    """The grid key a study's charts put on x: the first one that is not the seed (None: seeds only)."""
    return next((k for k in study.get("grid", {}) if k != "seed"), None)


def metric_names(res: dict) -> list[str]:
    """The measures held by a study's trial records, MIG first, then the others alphabetically."""
    grid = res["study"].get("grid", {})
    names = {k for r in res["trials"] for k, v in r.items()
             if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in grid and k not in _NOT_METRICS}
    first = [m for m in ("mig", "curve_mig") if m in names]
    return first + sorted(names - set(first))


def value_text(v) -> str:
    """A grid value as the page and the trial names write it (16, 0.5, on)."""
    return _fmt(v)


def metric_label(name: str) -> str:
    return METRIC_LABELS.get(name, name.replace("_", " "))


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def strip_data(res: dict, metric: str, spread: float = 0.3) -> dict:
    """A strip chart of `metric` against the swept value (Locatello et al. 2019's way of showing seeds):
    {"key", "values" (the swept values, in grid order), "axis" ("log" when all are > 0, "linear" for
    other numbers, "category" otherwise), "ticks" {tickvals, ticktext}, "dots" (one per trial holding the
    metric: x jittered by seed so seeds sit side by side, y, seed, trial, steps, path), "median"
    {x, y} (per swept value over its trials), "published" [low, high] or None, "missing" (trials
    without the metric)}. The jitter is deterministic: the k-th seed of n sits at the same offset at
    every value, `spread` of the gap between neighbouring values wide in all."""
    import numpy as np

    study = res["study"]
    key = swept_key(study)
    values = list(study["grid"][key]) if key else [None]
    seeds = list(study["grid"].get("seed", [0]))
    numeric = key is not None and all(_is_num(v) for v in values)
    axis = "log" if numeric and all(v > 0 for v in values) else "linear" if numeric else "category"
    if axis == "log":
        pos = {repr(v): math.log10(v) for v in values}
    elif axis == "linear":
        pos = {repr(v): float(v) for v in values}
    else:
        pos = {repr(v): float(i) for i, v in enumerate(values)}
    sorted_pos = sorted(set(pos.values()))
    gap = min((b - a for a, b in zip(sorted_pos, sorted_pos[1:])), default=1.0)
    width = spread * gap

    def offset(seed) -> float:
        if len(seeds) < 2 or seed not in seeds:
            return 0.0
        return width * (seeds.index(seed) / (len(seeds) - 1) - 0.5)

    def to_x(p: float) -> float:
        return 10 ** p if axis == "log" else p

    dots, missing, by_value = [], [], {repr(v): [] for v in values}
    for r in res["trials"]:
        v = r.get(key) if key else None
        y = r.get(metric)
        if repr(v) not in pos or not _is_num(y) or not math.isfinite(y):
            missing.append(r["trial"])
            continue
        dots.append({"x": to_x(pos[repr(v)] + offset(r.get("seed"))), "value": v, "y": float(y), "seed": r.get("seed"),
                     "trial": r["trial"], "steps": r.get("steps"), "path": r["path"], "status": r.get("status")})
        by_value[repr(v)].append(float(y))
    med = [(to_x(pos[repr(v)]), float(np.median(by_value[repr(v)]))) for v in values if by_value[repr(v)]]
    if axis == "category" or key is None:
        ticks = {"tickvals": [float(i) for i in range(len(values))], "ticktext": [_fmt(v) if key else "all" for v in values]}
    else:
        ticks = {"tickvals": [float(v) for v in values], "ticktext": [_fmt(v) for v in values]}
    band = study.get("published", {}).get(metric)
    published = [float(band[0]), float(band[1])] if isinstance(band, (list, tuple)) and len(band) == 2 \
        and all(_is_num(b) for b in band) else None
    return {"key": key, "values": values, "axis": axis, "ticks": ticks,
            "dots": dots, "median": {"x": [m[0] for m in med], "y": [m[1] for m in med]}, "published": published,
            "missing": missing, "seeds": seeds}


def curve_series(res: dict) -> list[dict]:
    """MIG measured along training, one series per trial that has a curve: {trial, value (swept),
    seed, step: [...], mig: [...]} in the grid's order."""
    key = swept_key(res["study"])
    out = []
    for r in res["trials"]:
        rows = [c for c in read_curve(Path(r["path"]).parent) if _is_num(c.get("mig"))]
        if rows:
            out.append({"trial": r["trial"], "value": r.get(key) if key else None, "seed": r.get("seed"),
                        "step": [int(c["step"]) for c in rows], "mig": [float(c["mig"]) for c in rows]})
    return out


def traversal_link(path: str) -> str:
    """The Latent traversal page opened on one checkpoint (its stem, URL-encoded)."""
    from urllib.parse import quote

    return f"/Latent_traversal?ckpt={quote(str(path), safe='')}"


def trial_table(res: dict, rows: list[dict] | None = None, digits: int = 4) -> list[dict]:
    """One row per trial for the page's table: grid values, status, step / steps (live from trial.json
    when `rows` from status_rows are given), every metric, and a link to the traversal page."""
    grid = list(res["study"].get("grid", {}))
    live = {r["trial"]: r for r in rows or []}
    metrics = metric_names(res)
    table = []
    for r in res["trials"]:
        s = live.get(r["trial"], {})
        step = s.get("step", r.get("steps") or 0)
        total = s.get("steps", res["study"].get("steps"))
        row = {"trial": r["trial"], **{k: r.get(k) for k in grid}, "status": s.get("status", r.get("status")),
               "step": f"{int(step or 0):,} / {int(total or 0):,}"}
        for m in metrics:
            v = r.get(m)
            row[m] = round(float(v), digits) if _is_num(v) else None
        row["error"] = s.get("error") or r.get("error")
        row["open"] = traversal_link(r["path"]) if r.get("steps") else None
        table.append(row)
    return table


def summary_table(res: dict, digits: int = 3) -> list[dict]:
    """The per-grid-point summary as text cells: each metric as `median [min, max]` over its seeds."""
    metrics = metric_names(res)
    keys = [k for k in res["study"].get("grid", {}) if k != "seed"]
    out = []
    for s in res["summary"]:
        row = {k: s.get(k) for k in keys}
        row["seeds (done)"] = f"{s['seeds']} ({s['done']})"
        for m in metrics:
            v = s.get(m)
            row[metric_label(m)] = (f"{v['median']:.{digits}f} [{v['min']:.{digits}f}, {v['max']:.{digits}f}]"
                                    if isinstance(v, dict) else "–")
        out.append(row)
    return out


def study_files(folder=None) -> list[Path]:
    """The study files the page can start: *.toml in `folder` ($GENLAB_STUDIES, else studies/)."""
    folder = Path(folder or os.environ.get("GENLAB_STUDIES", STUDIES_DIR))
    return sorted(folder.glob("*.toml")) if folder.is_dir() else []


def study_out_folder(runs_root, name: str) -> Path:
    """runs/studies/<name> for a study started from the page; StudyError unless the name is one plain
    folder name (letters, digits, - and _), so nothing outside runs/studies/ can be named."""
    import re

    name = (name or "").strip()
    if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
        raise StudyError(f"the output folder name '{name}' can only hold {OUT_NAME_CHARS} (e.g. beta-sweep)")
    return Path(runs_root) / "studies" / name


def progress(out) -> dict:
    """A running study's progress for the page: {"done", "total", "failed", "running", "rows"}."""
    rows = status_rows(out)
    count = {s: sum(r["status"] == s for r in rows) for s in ("done", "failed", "running")}
    return {**count, "total": len(rows), "rows": rows}


# --------------------------------------------------------------------------- shipping a study's trials

SHIPPED_FILES = ("trial.json", "curve.jsonl", "events.log")


def ship(src, dest, done_only: bool = True) -> list[str]:
    """Copy a study's trials into `dest` for shipping (checkpoints/): each trial's model as float16
    weights with its sidecar (metrics included), trial.json, curve.jsonl and events.log, and the
    study.json. Not the resumable state (the optimiser, 3x the model's size) nor the training log:
    a shipped trial trains on with `genlab study run FILE --out DEST` from its weights (warm_start).
    Returns the names of the trials shipped."""
    import shutil

    from genlab.checkpoint import load_checkpoint, save_checkpoint

    src, dest = Path(src), Path(dest)
    study = open_study(src)
    shipped = []
    for t in trials(study):
        folder = src / t.name
        info = read_trial(folder)
        if not (folder / "model.safetensors").exists() or (done_only and info.get("status") != "done"):
            continue
        model, meta = load_checkpoint(folder / "model")
        out = dest / t.name
        save_checkpoint(out / "model", model, meta, half=True)
        for name in SHIPPED_FILES:
            if (folder / name).exists():
                shutil.copy2(folder / name, out / name)
        shipped.append(t.name)
    if shipped:
        write_study_record(study, dest)
    return shipped
