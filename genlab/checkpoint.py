"""Checkpoints: safetensors weights + a JSON sidecar. Nothing is ever unpickled.

A checkpoint called STEM is two files:
- `STEM.safetensors`: the weights, with the model's config and metadata embedded in the
  safetensors header, so the weights file alone is enough to rebuild the model;
- `STEM.json`: a readable sidecar with the same metadata plus what is measured later
  (metrics), and the SHA-256 of the weights it describes.

Every file is written to a temporary name and renamed into place (atomic on POSIX), so a
process killed during a save leaves the previous checkpoint intact. If a kill lands between
the two renames, the sidecar no longer matches the weights' hash; loading notices and rebuilds
the sidecar from the weights' own header, so no checkpoint is ever left broken.

Resumable training state (weights, optimiser state, step, RNG states) is a single
safetensors file, `resume.safetensors`, in the run folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field, fields
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from genlab import __version__
from genlab.models import GenerativeModel, ModelConfig

HEADER_KEY = "genlab"


class CheckpointError(Exception):
    """A checkpoint is missing, truncated, corrupt or does not fit the model it describes."""


# --------------------------------------------------------------------------- atomic writes


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj: dict) -> None:
    atomic_write_bytes(Path(path), (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


def _atomic_save_tensors(path: Path, tensors: dict, metadata: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=metadata)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------- paths


def stem_of(path: str | os.PathLike) -> Path:
    """`runs/x/model`, `runs/x/model.json` and `runs/x/model.safetensors` all name one checkpoint;
    a run folder names its `model` checkpoint."""
    p = Path(path)
    if p.is_dir():
        p = p / "model"
    if p.suffix in (".json", ".safetensors"):
        p = p.with_suffix("")
    return p


# --------------------------------------------------------------------------- save / load


def _contiguous(state: dict, dtype: torch.dtype | None) -> dict:
    out = {}
    for k, v in state.items():
        v = v.detach().cpu()
        if dtype is not None and v.is_floating_point():
            v = v.to(dtype)
        out[k] = v.contiguous().clone()
    return out


def _save(stem, module: torch.nn.Module, info: dict, half: bool, state: dict | None = None) -> Path:
    stem = stem_of(stem)
    info = dict(info, genlab_version=__version__, dtype="float16" if half else "float32")
    weights = stem.with_suffix(".safetensors")
    state = module.state_dict() if state is None else state
    _atomic_save_tensors(weights, _contiguous(state, torch.float16 if half else None),
                         {HEADER_KEY: json.dumps(info)})
    sidecar = dict(info, weights_file=weights.name, weights_sha256=_sha256(weights))
    atomic_write_json(stem.with_suffix(".json"), sidecar)
    return stem


AVERAGE_ONLY = "average"  # the sidecar's "generator" when only the generator's moving average is stored


def holds_generator_itself(meta: dict) -> bool:
    """Whether a checkpoint of a GAN that samples from a moving average of its generator (ema_decay > 0)
    also holds the generator itself, to draw beside the average (not when saved with average_only)."""
    return bool((meta.get("config") or {}).get("ema_decay")) and meta.get("generator") != AVERAGE_ONLY


def save_checkpoint(stem, model: GenerativeModel, meta: dict | None = None, half: bool = False,
                    average_only: bool = False) -> Path:
    """Write STEM.safetensors and STEM.json atomically; returns the stem. `meta`: dataset, steps,
    device, wall time, recipe, metrics… (JSON-able). `half`: store weights as float16.
    `average_only`, for a model that keeps a moving average of its generator (ema_decay > 0): store the
    average in the generator's place and not the generator itself, which sampling never reads (a third
    less for a GAN; what a shipped checkpoint needs). Such a file samples as the full one does, and
    `load_checkpoint` gives a model without a separate average (TrainConfig.average_only)."""
    info = {"kind": "model", "config": model.cfg.to_dict(), **(meta or {})}
    if not average_only or model.average is None:
        return _save(stem, model, info, half)
    full = model.state_dict()
    avg = {k[len("average.net."):]: v for k, v in full.items() if k.startswith("average.net.")}
    state = {k: v for k, v in full.items() if not k.startswith("average.")}
    for k in [k for k in state if k.startswith("nets.gen.")]:
        state[k] = avg[k[len("nets.gen."):]]
    return _save(stem, model, dict(info, generator=AVERAGE_ONLY), half, state)


def save_classifier(stem, clf: torch.nn.Module, data: str, meta: dict | None = None) -> Path:
    """A label classifier (genlab.metrics.classifier) in the same format, kind "classifier"."""
    cfg = dict(clf.config(), model="classifier", data=data, latent_dim=clf.feature_dim)
    return _save(stem, clf, {"kind": "classifier", "config": cfg, "dataset": data, **(meta or {})}, False)


def save_module(stem, module: torch.nn.Module, kind: str, config: dict, meta: dict | None = None,
                half: bool = False) -> Path:
    """A network that is neither a generative model nor a label classifier (the caption reader, a
    captioner: genlab.applications, genlab.captioning) in the same format, under its own `kind`, so no
    code that looks for models or classifiers takes it for one. `config` holds its constructor's
    arguments plus model, data and latent_dim, which `list_checkpoints` reads."""
    return _save(stem, module, {"kind": kind, "config": config, "dataset": config["data"], **(meta or {})}, half)


def load_module_state(path, kind: str) -> tuple[dict, dict]:
    """(state dict as float32, metadata) of a checkpoint written by save_module with this `kind`;
    CheckpointError, one sentence, for any other file."""
    stem = stem_of(path)
    weights = stem.with_suffix(".safetensors")
    meta = read_metadata(stem)
    if meta.get("kind", "model") != kind:
        raise CheckpointError(f"'{weights}' is a {meta.get('kind', 'model')} checkpoint, not a {kind}")
    with safe_open(str(weights), framework="pt") as f:
        state = {k: f.get_tensor(k) for k in f.keys()}
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}, meta


def load_classifier(path, device: str | torch.device = "cpu"):
    """Rebuild a classifier checkpoint: (SmallConvClassifier in eval mode, metadata)."""
    from genlab.metrics.classifier import SmallConvClassifier

    stem = stem_of(path)
    weights = stem.with_suffix(".safetensors")
    meta = read_metadata(stem)
    if meta.get("kind") != "classifier":
        raise CheckpointError(f"'{weights}' is a generative model, not a classifier checkpoint")
    cfg = {k: v for k, v in meta["config"].items() if k not in ("model", "data", "latent_dim")}
    clf = SmallConvClassifier(**cfg)
    try:
        with safe_open(str(weights), framework="pt") as f:
            clf.load_state_dict({k: f.get_tensor(k) for k in f.keys()}, strict=True)
    except Exception as e:
        raise CheckpointError(f"classifier '{weights}' does not fit its config ({str(e).splitlines()[0][:200]})") from None
    return clf.to(device).eval(), meta


def _read_header(weights: Path) -> dict:
    if not weights.exists():
        raise CheckpointError(f"checkpoint '{weights}' not found; check the path or train one with `genlab train`")
    try:
        with safe_open(str(weights), framework="pt") as f:
            header = f.metadata() or {}
            keys = list(f.keys())
    except Exception as e:
        raise CheckpointError(f"checkpoint '{weights}' is truncated or corrupt ({type(e).__name__}: {e}); "
                              f"delete it and train or copy it again") from None
    if HEADER_KEY not in header:
        raise CheckpointError(f"'{weights}' is a safetensors file but not a genlab checkpoint (no genlab header)")
    try:
        info = json.loads(header[HEADER_KEY])
    except json.JSONDecodeError:
        raise CheckpointError(f"checkpoint '{weights}' has a corrupt genlab header; train or copy it again") from None
    info["_keys"] = keys
    return info


def read_metadata(path) -> dict:
    """The checkpoint's metadata: the sidecar when it matches the weights, else the weights'
    own header (and the sidecar is rewritten from it)."""
    stem = stem_of(path)
    weights, sidecar = stem.with_suffix(".safetensors"), stem.with_suffix(".json")
    info = _read_header(weights)
    info.pop("_keys")
    if sidecar.exists():
        try:
            side = json.loads(sidecar.read_text())
            if side.get("weights_sha256") == _sha256(weights):
                return side
        except (json.JSONDecodeError, UnicodeDecodeError, OSError):
            pass  # a damaged sidecar is rebuilt from the weights below
    side = dict(info, weights_file=weights.name, weights_sha256=_sha256(weights))
    try:
        atomic_write_json(sidecar, side)
    except OSError:
        pass  # read-only location: the metadata is still right in memory
    return side


def load_checkpoint(path, device: str | torch.device = "cpu") -> tuple[GenerativeModel, dict]:
    """Rebuild the model from its stored config and load its weights (strict). Returns
    (model in eval mode on `device`, metadata)."""
    stem = stem_of(path)
    weights = stem.with_suffix(".safetensors")
    meta = read_metadata(stem)
    if meta.get("kind") == "classifier":
        raise CheckpointError(f"'{weights}' is a label classifier, not a generative model; the metrics load it themselves")
    if meta.get("kind", "model") != "model":
        raise CheckpointError(f"'{weights}' is a {meta['kind']} checkpoint, not a generative model")
    try:
        cfg = ModelConfig.from_dict(meta["config"])
        model = GenerativeModel(cfg)
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"checkpoint '{weights}' describes a model this genlab cannot build: {e}") from None
    try:
        with safe_open(str(weights), framework="pt") as f:
            state = {k: f.get_tensor(k) for k in f.keys()}
        if meta.get("generator") == AVERAGE_ONLY and model.average is not None:
            # the generator's place holds its average (save_checkpoint(average_only=True)): the model
            # samples from it directly and keeps no second copy
            model.average = None
            state = {k: v for k, v in state.items() if not k.startswith("average.")}
        model.load_state_dict(state, strict=True)
    except CheckpointError:
        raise
    except Exception as e:
        msg = str(e).split("\n")[0][:300]
        raise CheckpointError(f"checkpoint '{weights}' does not fit a '{cfg.model}' model ({msg}); "
                              f"it was saved by a different network or genlab version") from None
    return model.to(device).eval(), meta


def update_metadata(path, **fields) -> dict:
    """Merge `fields` (e.g. metrics=...) into the sidecar, atomically."""
    stem = stem_of(path)
    meta = read_metadata(stem)
    for k, v in fields.items():
        if isinstance(v, dict) and isinstance(meta.get(k), dict):
            meta[k] = {**meta[k], **v}
        else:
            meta[k] = v
    atomic_write_json(stem.with_suffix(".json"), meta)
    return meta


@dataclass(frozen=True)
class CheckpointRow:
    """One checkpoint as `list_checkpoints` finds it: what the CLI and the pages list and pick it by.
    A file that cannot be read is a row with `error` set (one sentence) and nothing else."""

    path: str  # the checkpoint's stem (runs/x/model)
    kind: str = "model"  # "model" (genlab.models) or "classifier" (genlab.metrics.classifier)
    model: str = ""
    data: str = ""
    latent_dim: int = 0
    steps: int | None = None
    device: str | None = None
    wall_time_s: float | None = None
    metrics: dict = field(default_factory=dict)  # what `genlab eval` stored
    name: str = ""
    meta: dict = field(default_factory=dict)  # the whole sidecar
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def config(self) -> dict:
        """The model's config as stored (ModelConfig.to_dict, or a classifier's)."""
        return self.meta.get("config", {})

    def summary(self) -> dict:
        """The row without its sidecar, as `genlab list --json` prints it (a broken file: path and error)."""
        if not self.ok:
            return {"path": self.path, "error": self.error}
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("meta", "error")}


def list_checkpoints(folder) -> list[CheckpointRow]:
    """Every genlab checkpoint under `folder` (recursively), one CheckpointRow each; a file that
    cannot be read is listed with its error instead of stopping the listing."""
    rows = []
    folder = Path(folder)
    if not folder.exists():
        return rows
    for w in sorted(folder.rglob("*.safetensors")):
        if w.name == "resume.safetensors" or w.name.startswith(".") or w.parent.name == "snapshots":
            continue  # resumable state, temporary files and a run's snapshots (steps along one run) are not listed
        stem = w.with_suffix("")
        try:
            meta = read_metadata(stem)
            c = meta["config"]
            rows.append(CheckpointRow(path=str(stem), kind=meta.get("kind", "model"), model=c["model"], data=c["data"],
                                      latent_dim=c["latent_dim"], steps=meta.get("steps"), device=meta.get("device"),
                                      wall_time_s=meta.get("wall_time_s"), metrics=meta.get("metrics", {}),
                                      name=meta.get("name", stem.name), meta=meta))
        except CheckpointError as e:
            rows.append(CheckpointRow(path=str(stem), error=str(e)))
    return rows


# --------------------------------------------------------------------------- resumable state


def save_train_state(path, model: GenerativeModel, optimizers: dict, step: int, rng: dict, extra: dict) -> None:
    """Everything `--resume` needs, in one atomic safetensors file."""
    tensors = {f"model.{k}": v for k, v in _contiguous(model.state_dict(), None).items()}
    opt_meta = {}
    for name, opt in optimizers.items():
        sd = opt.state_dict()
        scalars = {}
        for pid, st in sd["state"].items():
            for k, v in st.items():
                if torch.is_tensor(v):
                    tensors[f"opt.{name}.{pid}.{k}"] = v.detach().cpu().contiguous().clone()
                else:
                    scalars[f"{pid}.{k}"] = v
        opt_meta[name] = {"param_groups": sd["param_groups"], "scalars": scalars}
    for k, v in rng.items():
        tensors[f"rng.{k}"] = v.detach().cpu().contiguous().clone()
    header = {"step": step, "config": model.cfg.to_dict(), "optimizers": opt_meta, "extra": extra,
              "genlab_version": __version__}
    _atomic_save_tensors(Path(path), tensors, {HEADER_KEY: json.dumps(header)})


def load_train_state(path, model: GenerativeModel, optimizers: dict) -> tuple[int, dict, dict]:
    """Restore weights and optimiser states in place; returns (step, rng states, extra)."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"no resumable state at '{path}'; start the run without --resume")
    try:
        with safe_open(str(path), framework="pt") as f:
            header = json.loads((f.metadata() or {})[HEADER_KEY])
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:
        raise CheckpointError(f"resumable state '{path}' is truncated or corrupt ({type(e).__name__}); "
                              f"delete it to start over, or resume from an earlier copy") from None
    # settings added to genlab after the state was written take their defaults
    saved = type(model.cfg).from_dict(header["config"]).to_dict()
    now, step = model.cfg.to_dict(), int(header["step"])
    diff = sorted(k for k in saved if saved[k] != now.get(k))
    weights = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    # A generator average can join a run that had none, as long as the run has not reached the
    # step where averaging starts: training never reads the average, so the result is the same
    # as a run that kept one from the first step.
    joins = set(diff) <= {"ema_decay", "ema_start"} and saved["ema_decay"] == 0 and model.average is not None
    adopt = bool(diff) and joins and step <= model.cfg.ema_start
    if diff and not adopt:
        hint = f" (a generator average can join a run only up to its ema_start; this one is at step {step})" if joins else ""
        raise CheckpointError(f"cannot resume '{path}': it was trained with different settings ({', '.join(diff)}){hint}; "
                              f"use the same options or a new --out folder")
    if adopt:
        model.load_state_dict(weights, strict=False)
        missing = set(model.state_dict()) - set(weights)
        if any(not k.startswith("average.") for k in missing):
            raise CheckpointError(f"resumable state '{path}' lacks weights {sorted(missing)[:3]}; delete it to start over")
        model.average.restart_from(model.nets["gen"], step)
    else:
        model.load_state_dict(weights, strict=True)
    dev = model.device
    for name, opt in optimizers.items():
        om = header["optimizers"][name]
        state: dict = {}
        for k, v in tensors.items():
            if k.startswith(f"opt.{name}."):
                _, _, pid, key = k.split(".", 3)
                state.setdefault(int(pid), {})[key] = v if key == "step" else v.to(dev)
        for k, v in om["scalars"].items():
            pid, key = k.split(".", 1)
            state.setdefault(int(pid), {})[key] = v
        opt.load_state_dict({"state": state, "param_groups": om["param_groups"]})
    rng = {k[4:]: v for k, v in tensors.items() if k.startswith("rng.")}
    return step, rng, header.get("extra", {})
