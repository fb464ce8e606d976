"""A β sweep trained as one batched run (stacked parameters with torch.func).

K members of one VAE (the same networks, different β and/or seeds) are stacked with
`torch.func.stack_module_state`; `vmap(functional_call(...))` runs their K forward passes as
one (PyTorch turns the convolutions into grouped convolutions), and one Adam over the stacked
tensors is exactly K independent Adams, because Adam works element by element.

Nothing else is new: the loop is `genlab.train.train_steps`, the objective is
`objectives.beta_vae`, and every member is written to its own run folder in the format `fit`
writes (model.safetensors/json, resume.safetensors, log.jsonl). So a member's checkpoint loads
on every page like any other, a stopped sweep resumes, and one member can even be continued
alone with `genlab train --resume`.

The members share the data stream (the batches drawn with the first member's seed); each
member's seed sets its initial weights and its own stream of reparameterisation noise. A member
whose seed is the data seed therefore follows the run `genlab train` would make with that seed
(up to rounding): in the usual one-seed β sweep, every member does.

Whether one batched run beats K separate runs depends on the hardware: on a GPU the small
64×64 networks leave most of the device idle, so stacking them fills it; on a CPU the grouped
convolutions can be slower than K plain ones. `benchmarks/bench_sweep.py` prints both ways;
`genlab sweep --batched auto` stacks on CUDA and runs the members one after another elsewhere.

`run_study_stacked` trains the trials of a study (genlab.study) this way, into the trial folders
`genlab study run` uses, under a time limit that checkpoints every member and stops before a
short GPU window closes (`genlab study run FILE --stacked --time-limit S`,
scripts/gpu_campaign.sh).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from genlab import objectives as obj
from genlab.checkpoint import load_train_state, save_checkpoint, save_train_state
from genlab.device import pick_device, seed_everything
from genlab.models import MODELS, GenerativeModel, ModelConfig, Step, build_optimizers, models_with
from genlab.train import RunClock, TrainConfig, _read_history, _write_history, run_loop, run_meta, train_steps


def can_batch(model: str, setting: str) -> bool:
    """Whether a sweep of `model` over `setting` can train as one stacked run: a model that is
    stackable (its ModelSpec says so), swept over its knob."""
    spec = MODELS.get(model)
    return spec is not None and spec.stackable and setting == spec.knob


def stackable_text() -> str:
    """'vae or beta-vae over beta': what a stacked run trains, from the registry's traits."""
    return " or ".join(f"{n} over {MODELS[n].knob}" for n in models_with("stackable"))


@dataclass
class Member:
    name: str  # run folder name under the sweep's out folder
    cfg: ModelConfig
    seed: int
    recipe: dict | None = None  # what the member's sidecar records as its recipe [the TrainConfig's]
    label: str | None = None  # the run name its sidecar records [name]


class _Forward(nn.Module):
    """One member's VAE pass with the noise given: x, ε → (μ, log σ², logits)."""

    def __init__(self, m: GenerativeModel):
        super().__init__()
        self.enc, self.dec = m.nets["enc"], m.nets["dec"]

    def forward(self, x, eps):
        mu, logvar = self.enc(x)
        return mu, logvar, self.dec(mu + (0.5 * logvar).exp() * eps)


class StackedVAE(nn.Module):
    """K VAEs as one module the training loop can drive (update_steps / groups / device)."""

    def __init__(self, members: list[GenerativeModel]):
        super().__init__()
        first = members[0].cfg
        for m in members:
            c = m.cfg
            if not MODELS[c.model].stackable:
                raise ValueError(f"a batched sweep trains {', '.join(models_with('stackable'))}, not {c.model}")
            same = ("model", "data", "shape", "latent_dim", "likelihood", "optimizer", "lr", "adam_beta1", "adam_beta2",
                    "mlp_width", "mlp_layers", "batch_norm")
            diff = [f for f in same if getattr(c, f) != getattr(first, f)]
            if diff:
                raise ValueError(f"members of a batched sweep must share {', '.join(diff)}; only β and the seed may differ")
        if first.batch_norm:
            raise ValueError("a batched sweep cannot stack batch-norm statistics; run the members one by one")
        self.members = members
        self.cfg = first  # lr, optimizer and betas are shared; build_optimizers reads them here
        self.likelihood = first.resolved_likelihood
        params, _ = stack_module_state([_Forward(m) for m in members])
        self.names = list(params)
        self.stacked = nn.ParameterList([nn.Parameter(params[n].detach().clone()) for n in self.names])
        # a skeleton on the meta device: functional_call swaps the stacked slices in
        self._skeleton = [copy.deepcopy(_Forward(members[0])).to("meta")]
        self.register_buffer("betas", torch.tensor([m.cfg.beta for m in members], dtype=torch.float32))
        self.noise_gens: list[torch.Generator] = []  # one per member, seeded by fit_stacked

    @property
    def k(self) -> int:
        return len(self.members)

    @property
    def device(self) -> torch.device:
        return self.stacked[0].device

    @property
    def is_image(self) -> bool:
        return self.members[0].is_image

    def groups(self) -> dict[str, list[nn.Parameter]]:
        return {"vae": list(self.stacked)}

    def update_steps(self) -> list[Step]:
        return [Step("vae", _stacked_step, "vae")]

    def losses(self, x, eps) -> dict:
        """Per-member β-VAE terms, each of shape (K,) (kl_per_dim: (K, D))."""
        skeleton, lik = self._skeleton[0], self.likelihood

        def one(params, eps_k, beta):
            mu, logvar, logits = functional_call(skeleton, params, (x, eps_k))
            out = obj.beta_vae(x, logits, mu, logvar, beta, lik)
            return out["loss"], out["rec"], out["kl"], out["kl_per_dim"]

        params = dict(zip(self.names, self.stacked))
        loss, rec, kl, kl_dim = vmap(one)(params, eps, self.betas)
        return {"member_loss": loss, "rec": rec, "kl": kl, "kl_per_dim": kl_dim}

    def member_state(self, k: int) -> dict[str, torch.Tensor]:
        """Member k's weights under GenerativeModel's names (nets.enc…, nets.dec…)."""
        return {f"nets.{n}": p[k].detach() for n, p in zip(self.names, self.stacked)}

    def load_member(self, k: int, model: GenerativeModel) -> None:
        sd = model.state_dict()
        with torch.no_grad():
            for n, p in zip(self.names, self.stacked):
                p[k].copy_(sd[f"nets.{n}"])


def _stacked_step(m: StackedVAE, x, ctx) -> dict:
    shape = (x.shape[0], m.cfg.latent_dim)
    eps = torch.stack([torch.randn(shape, generator=g, device=x.device, dtype=x.dtype) for g in m.noise_gens])
    out = m.losses(x, eps)
    # the members' parameters are disjoint, so the gradient of the sum is each member's own gradient
    return {"loss": out["member_loss"].sum(), **out}


# --------------------------------------------------------------------------- optimiser state per member


def _member_params(stacked: StackedVAE, model: GenerativeModel) -> list[nn.Parameter]:
    named = dict(model.named_parameters())
    return [named[f"nets.{n}"] for n in stacked.names]


def _member_optimizer(stacked_opt: torch.optim.Optimizer, stacked: StackedVAE, k: int, model: GenerativeModel):
    """Member k's own optimiser (as `fit` builds it), holding its slice of the stacked state."""
    opt = build_optimizers(model)["vae"]
    params = _member_params(stacked, model)
    # `fit` stores optimiser state by parameter position, so the two orders must agree
    if [id(p) for p in opt.param_groups[0]["params"]] != [id(p) for p in params]:
        raise RuntimeError("a sweep member's optimiser lists its parameters in another order than the stacked "
                           "model; its optimiser state cannot be split without mixing tensors")
    for p, sp in zip(params, stacked.stacked):
        for key, v in stacked_opt.state.get(sp, {}).items():
            opt.state[p][key] = v[k].clone() if torch.is_tensor(v) and v.ndim > 0 else (v.clone() if torch.is_tensor(v) else v)
    return opt


def _load_member_optimizer(stacked_opt, stacked: StackedVAE, k: int, member_opt, model: GenerativeModel) -> None:
    """The reverse: member k's optimiser state into slice k of the stacked state."""
    for p, sp in zip(_member_params(stacked, model), stacked.stacked):
        tgt = stacked_opt.state[sp]
        for key, v in member_opt.state.get(p, {}).items():
            if torch.is_tensor(v) and v.ndim > 0:
                tgt.setdefault(key, torch.zeros_like(sp))[k].copy_(v)
            else:  # Adam's step count: the same for every member
                tgt[key] = v.clone() if torch.is_tensor(v) else v


# --------------------------------------------------------------------------- the batched run


def _pick(v, k):
    """Member k's entry of a logged value (a one-member sweep logs plain floats)."""
    return v[k] if isinstance(v, list) else v


# --------------------------------------------------------------------------- the data on the GPU


class ResidentImages:
    """A whole image set as uint8 on one device, sampled with the same index stream as the set it
    copies (`torch.randint(len, (batch,), generator)`, the generator on the CPU as before), so a
    run draws the same batches with it as without it; only the gather moves to the device.

    For dSprites, whose images are drawn on the CPU on demand (about 10,000 a second on one core),
    this removes the per-step render that would otherwise bound a GPU run at ~150 steps/s: the
    737,280 images (3 GB as uint8) are drawn once, on every core, in about as many seconds."""

    kind = "images"

    def __init__(self, data, device, workers: int | None = None, chunk: int = 16384):
        self.name, self.shape = data.name, tuple(data.shape)
        self.label_names, self.labels = None, None
        self.source = data
        n = len(data)
        imgs = getattr(data, "_imgs", None)  # the original .npz, when one was loaded
        if imgs is not None:
            host = torch.from_numpy(imgs).reshape(n, *self.shape)
        else:
            host = torch.empty((n, *self.shape), dtype=torch.uint8)
            spans = [(a, min(n, a + chunk)) for a in range(0, n, chunk)]
            workers = workers or os.cpu_count() or 1
            if workers > 1 and len(spans) > 1:
                import multiprocessing as mp
                from concurrent.futures import ProcessPoolExecutor

                with ProcessPoolExecutor(min(workers, len(spans)), mp_context=mp.get_context("fork")) as pool:
                    for (a, b), block in zip(spans, pool.map(_render_span, spans)):
                        host[a:b] = torch.from_numpy(block).reshape(b - a, *self.shape)
            else:
                for a, b in spans:
                    host[a:b] = torch.from_numpy(_render_span((a, b))).reshape(b - a, *self.shape)
        self.images = host.to(device)
        self.device = self.images.device

    def __len__(self) -> int:
        return self.images.shape[0]

    def to(self, device) -> "ResidentImages":
        self.images = self.images.to(device)
        self.device = self.images.device
        return self

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> dict:
        idx = torch.randint(len(self), (batch_size,), generator=generator)
        # a non-blocking copy from pageable memory is staged at once and does not wait for the GPU
        return {"x": self.images[idx.to(self.device, non_blocking=True)].float()}

    def __getattr__(self, name):  # factor_sizes, sample_factors, images_from_factors … of the set it copies
        if name == "source":
            raise AttributeError(name)
        return getattr(self.source, name)


def _render_span(span):
    from genlab import dsprites

    a, b = span
    return dsprites.render_index(np.arange(a, b))


def data_on_device(data, dev: torch.device):
    """The data set where the batches are cut: on a GPU the whole set (dSprites rendered once,
    any other set moved with its own `to`), elsewhere as it is."""
    dev = torch.device(dev)
    if dev.type != "cuda":
        return data
    from genlab.data import DSpritesData

    if isinstance(data, DSpritesData):
        return ResidentImages(data, dev)
    return data.to(dev) if hasattr(data, "to") else data


# --------------------------------------------------------------------------- the batched run


def fit_stacked(members: list[Member], data, out: str | Path, tc: TrainConfig, progress: bool = True,
                stop_event: threading.Event | None = None, deadline: float | None = None, margin_s: float = 10.0,
                on_step: Callable[[int, StackedVAE], bool | None] | None = None,
                on_checkpoint: Callable[[int], None] | None = None, max_ckpt_share: float | None = None) -> dict:
    """Train the members as one batched run; each member's folder is written as `fit` would.
    Resumes when every member folder holds a resumable state at the same step.

    Stopping early: when `stop_event` is set, when `on_step(step, stacked)` returns True, or when the clock
    (`time.monotonic()`) would pass `deadline` before one more step and a checkpoint could be done
    (the margin is `margin_s` or twice the slowest checkpoint so far, whichever is larger, plus the
    recent slowest step), every member
    is checkpointed at the same step and the result says "stopped": True; calling again resumes.
    `max_ckpt_share` (e.g. 0.05): skip a periodic checkpoint while the last one took more than this
    share of the time since it (the last and the stopping checkpoints are always written).
    With tc.data_on_device on a GPU the data set moves there first (`data_on_device`)."""
    dev = pick_device(tc.device)
    out = Path(out)
    if tc.data_on_device:  # first: dSprites is drawn in forked processes, before this one starts CUDA
        data = data_on_device(data, dev)
    models = []
    for mb in members:
        seed_everything(mb.seed)  # as `fit` does, so a member starts from the weights its own run would
        models.append(GenerativeModel(mb.cfg).to(dev))
    stacked = StackedVAE(models).to(dev)
    # the stacked weights are 5-D (member, out, in, h, w): they keep their layout; with
    # tc.channels_last the batches still go channels-last (train_steps)
    optimizers = build_optimizers(stacked)
    data_gen = torch.Generator().manual_seed(members[0].seed)
    noise_gen = torch.Generator(device=dev)  # the loop wants one; the members draw from their own
    stacked.noise_gens = [torch.Generator(device=dev).manual_seed(mb.seed + 1) for mb in members]
    folders = [out / mb.name for mb in members]
    start, histories, extra = 0, [[] for _ in members], {}

    resumable = [(f / "resume.safetensors").exists() for f in folders]
    if any(resumable):
        if not all(resumable):
            missing = [f.name for f, r in zip(folders, resumable) if not r]
            raise FileExistsError(f"a batched sweep resumes all members together, but {', '.join(missing)} has no "
                                  f"resumable state; delete the sweep's folders to start over")
        steps_at = {}
        for k, (f, m) in enumerate(zip(folders, models)):
            member_opt = build_optimizers(m)
            step_k, rng, extra = load_train_state(f / "resume.safetensors", m, member_opt)
            steps_at.setdefault(step_k, []).append(f.name)
            stacked.load_member(k, m)
            _load_member_optimizer(optimizers["vae"], stacked, k, member_opt["vae"], m)
            stacked.noise_gens[k].set_state(rng["noise"].to(torch.uint8))
            histories[k] = _read_history(f / "log.jsonl", step_k)
            start = step_k
        if len(steps_at) != 1:
            where = "; ".join(f"step {s}: {', '.join(n)}" for s, n in sorted(steps_at.items()))
            raise FileExistsError(f"the sweep's members stopped at different steps ({where}); "
                                  f"continue them one by one with `genlab train --resume`")
        data_gen.set_state(rng["data"])
    for f, h in zip(folders, histories):
        f.mkdir(parents=True, exist_ok=True)
        _write_history(f / "log.jsonl", h)

    # the members train together: one clock, the images of every member per step (images/s "in all")
    clock = RunClock(start, tc.batch_size * len(members), dev)
    clock.resumed_from(extra)
    ckpt_cost = {"slowest": 0.0, "last": 0.0, "at": time.perf_counter()}

    def checkpoint(step_now):
        c0 = time.perf_counter()
        for k, (mb, f, m) in enumerate(zip(members, folders, models)):
            rng = {"data": data_gen.get_state(), "noise": stacked.noise_gens[k].get_state()}
            m.load_state_dict(stacked.member_state(k), strict=True)
            opt = _member_optimizer(optimizers["vae"], stacked, k, m)
            meta = run_meta(mb.label or mb.name, mb.cfg, tc, clock, step_now, seed=mb.seed)
            if mb.recipe is not None:
                meta["recipe"] = mb.recipe
            meta["sweep"] = {"batched": True, "members": [x.name for x in members]}
            save_train_state(f / "resume.safetensors", m, {"vae": opt}, step_now, rng, RunClock.resume_extra(meta))
            save_checkpoint(f / "model", m, meta, half=False)
        took = time.perf_counter() - c0
        ckpt_cost.update(slowest=max(ckpt_cost["slowest"], took), last=took, at=time.perf_counter())
        if on_checkpoint is not None:
            on_checkpoint(step_now)

    def periodic_due() -> bool:
        if not max_ckpt_share:
            return True
        since = time.perf_counter() - ckpt_cost["at"]
        return ckpt_cost["last"] <= max_ckpt_share * since

    def record(step, logs):
        for k, f in enumerate(folders):
            row = {key: _pick(logs[src], k) for key, src in
                   (("loss", "member_loss"), ("rec", "rec"), ("kl", "kl"), ("kl_per_dim", "kl_per_dim"))}
            row["step"] = step
            histories[k].append(row)
            with open(f / "log.jsonl", "a") as fh:
                fh.write(json.dumps(row) + "\n")

    timing = {"step_s": 0.0, "last_at": time.perf_counter()}  # a slow-decaying maximum of the step time (the first left out)

    def should_stop(step) -> bool:
        now_at = time.perf_counter()
        if step > start + 1:
            timing["step_s"] = max(now_at - timing["last_at"], 0.98 * timing["step_s"])
        timing["last_at"] = now_at
        stop = bool(on_step is not None and on_step(step, stacked))
        if deadline is not None and step < tc.steps:
            if time.monotonic() + max(margin_s, 2 * ckpt_cost["slowest"]) + timing["step_s"] >= deadline:
                stop = True
        return stop

    def diverged(bad_step):
        return (f"a loss of the batched sweep became NaN or infinite by step {bad_step}; the last good "
                f"checkpoints in '{out}' are intact: lower --lr, then run the sweep again")

    step, stopped, _ = run_loop(
        train_steps(stacked, data, tc, optimizers, start, data_gen, noise_gen), tc, start, checkpoint=checkpoint,
        record=record, diverged=diverged,
        desc=f"{len(members)} × {members[0].cfg.model} (batched)" if progress else None, stop_event=stop_event,
        should_stop=should_stop, periodic_due=periodic_due)
    stopped = stopped and step < tc.steps
    return {"step": step, "wall_time_s": clock.wall(), "images_per_s": clock.segment_rate(step), "folders": folders,
            "stopped": stopped}


# --------------------------------------------------------------------------- a study's trials as one stacked run


class _StackedCurve:
    """MIG along the way for every member at once, from the stacked weights in memory: the same
    10,000 codes `genlab.study.measure_mig` scores (factors drawn with seed 0, encoder means), the
    images drawn once and encoded by all members in one vmap. On a GPU this takes about a second
    for the whole stack instead of seconds per member on the CPU."""

    def __init__(self, data, n: int, seed: int = 0):
        self.data, self.n, self.seed = data, n, seed
        self.images = self.factors = None

    @torch.no_grad()
    def __call__(self, stacked: StackedVAE) -> list[dict]:
        from genlab.metrics import disentanglement as dis

        if self.images is None:
            self.factors = np.asarray(self.data.sample_factors(self.n, np.random.default_rng(self.seed))).astype(np.int64)
            self.images = torch.from_numpy(np.concatenate(
                [self.data.images_from_factors(self.factors[a:a + 1024]) for a in range(0, self.n, 1024)]))
        enc = self._encoder(stacked)
        params = {n: p.detach() for n, p in zip(stacked.names, stacked.stacked) if n.startswith("enc.")}
        codes = []
        for a in range(0, self.n, 2048):
            x = self.images[a:a + 2048].to(stacked.device)
            codes.append(vmap(lambda p: functional_call(enc, p, (x,))[0])(params).float().cpu())
        codes = torch.cat(codes, dim=1).double().numpy()  # (K, n, D)
        rows = []
        for c in codes:
            res = dis.mig(c, self.factors)
            rows.append({"mig": round(res["score"], 4),
                         "mig_per_factor": [None if not np.isfinite(v) else round(v, 4) for v in res["per_factor"]]})
        return rows

    @staticmethod
    def _encoder(stacked: StackedVAE) -> nn.Module:
        class _Enc(nn.Module):  # the skeleton's encoder under the stacked names ("enc.…")
            def __init__(self, enc):
                super().__init__()
                self.enc = enc

            def forward(self, x):
                return self.enc(x)

        return _Enc(stacked._skeleton[0].enc)


def run_study_stacked(study, out, steps: int | None = None, device: str | None = "auto",
                      time_limit_s: float | None = None, only: dict | None = None, progress: bool = True,
                      measure: bool = False, measure_every: int | None = None, stop_event=None,
                      margin_s: float = 10.0, log=print) -> dict:
    """Train every selected trial of `study` not yet done as the members of ONE stacked run
    (`fit_stacked`), in this process, into the trial folders `genlab study run` uses: each gets its
    model.*, resume.safetensors, log.jsonl, curve.jsonl, events.log and trial.json (study, name,
    values, status, step, steps), so `genlab study status/results`, the pages and `genlab eval` see
    ordinary trials, and a trial can later be continued alone (by `genlab study run` without
    --stacked, or `genlab train --resume`).

    What the members share, and how this differs from per-trial runs: they must have the same
    model and settings except β and the seed (fit_stacked refuses others), and they are trained
    on ONE data stream, the batches drawn with the first selected trial's seed (seed 0 in
    beta-sweep.toml). Each member's own seed still sets its initial weights and its own
    reparameterisation noise. So a member whose seed is the data seed follows the run
    `genlab study run` would make for it (up to rounding); the others see the same images in the
    same order as that member, where their per-trial runs would each see their own order. Over
    seeds the spread therefore comes from the initialisation and the noise, not from the data
    order.

    Precision is the study's ("auto": bf16 autocast on a GPU and on a CPU with AMX, as
    study.resolve_precision); on a GPU the data set is kept there (`data_on_device`). The stacked
    run checkpoints on the study's cadence, but spends at most ~5% of its time doing so.

    `time_limit_s`: counted from this call; every member is checkpointed at the same step and the
    run stops cleanly at least `margin_s` (or twice the slowest checkpoint) before the limit, so a
    command window is never overrun; trials are left "stopped" and the next call resumes them all
    from that step. Trials already done are skipped. When the run reaches the study's steps the
    trials are marked done; `measure=True` then also measures each with the study's metrics
    (`evaluate_checkpoint`, minutes per trial on a CPU); it is off by default, since in a GPU
    window it may not fit: run `genlab eval` on the folders afterwards. MIG along the way
    (`measure_every`, default the study's, dSprites only) is measured from the stacked weights in
    memory for all members at once (`_StackedCurve`).

    Returns {"step", "members", "images_per_s", "stopped", "skipped", "wall_s"}."""
    from genlab import study as S
    from genlab.data import load_dataset

    t_begin = time.monotonic()
    deadline = None if time_limit_s is None else t_begin + float(time_limit_s)
    out = Path(out)
    total = int(steps or study.steps)
    out.mkdir(parents=True, exist_ok=True)
    S.write_study_record(study, out)
    ts = S.trials(study, only)
    skipped = [t.name for t in ts if S.trial_status(out / t.name, total) == "done"]
    todo = [t for t in ts if t.name not in skipped]
    report = {"step": total, "members": [t.name for t in todo], "images_per_s": 0.0, "stopped": False,
              "skipped": skipped, "wall_s": 0.0}
    if not todo:
        log(f"{study.name}: all {len(ts)} trials are done in {out}")
        return report

    dev = pick_device(device or study.train.get("device", "auto"))
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True  # the shapes never change: let cuDNN pick its fastest grouped convolutions
    data = load_dataset(study.data, path=study.data_path)
    members, tcs = [], []
    for t in todo:
        cfg, tc_t = S.trial_configs(study, t, out / t.name, data.shape, steps=total, device=str(dev))
        members.append(Member(t.name, cfg, t.seed, recipe=tc_t.recipe, label=tc_t.name))
        tcs.append(tc_t)
    shared = {f.name for f in dataclasses.fields(TrainConfig)} - {"seed", "out", "name", "recipe", "resume"}
    for t, tc_t in zip(todo[1:], tcs[1:]):
        diff = [f for f in sorted(shared) if getattr(tc_t, f) != getattr(tcs[0], f)]
        if diff:
            raise S.StudyError(f"trial {t.name} trains with other settings ({', '.join(diff)}) than {todo[0].name}; "
                               f"a stacked run trains every member the same way")
    tc = dataclasses.replace(tcs[0], seed=todo[0].seed, out=str(out), name=f"{study.name} (stacked)", recipe=None)

    # where each member stands: every one fresh, or every one resumable at the same step
    from genlab.checkpoint import read_metadata

    at = {}
    for t in todo:
        f = out / t.name
        if (f / "resume.safetensors").exists():
            try:
                at[t.name] = int(read_metadata(f / "model").get("steps", 0))
            except Exception:  # noqa: BLE001 - fit_stacked reads the state itself and says what is wrong
                at[t.name] = -1
        else:
            at[t.name] = 0
    if len(set(at.values())) > 1:
        where = ", ".join(f"{n} at step {s}" for n, s in at.items())
        raise S.StudyError(f"a stacked run continues its trials together, but they stand at different steps ({where}); "
                           f"run `genlab study run` without --stacked to finish them one by one, or give --only "
                           f"the trials that stand together")
    resumed_from = next(iter(at.values()))

    import socket

    host, pid = socket.gethostname(), os.getpid()
    for t in todo:
        f = out / t.name
        f.mkdir(parents=True, exist_ok=True)
        info = S.read_trial(f)
        attempts = int(info.get("attempts", 0)) + 1
        S._write_trial(f, study=study.name, name=t.name, values=t.values, status="running", attempts=attempts,
                       error=None, host=host, pid=pid, steps=total, step=max(0, resumed_from),
                       stacked=[x.name for x in todo])
        S._log_event(f, "start" if resumed_from == 0 else "resume", step=resumed_from, attempt=attempts,
                     stacked=len(todo))
        # the curve keeps only the points the resumed state has reached (as run_trial's recorder does)
        rows = [r for r in S.read_curve(f) if r.get("step", 0) <= max(0, resumed_from)]
        from genlab.checkpoint import atomic_write_bytes

        atomic_write_bytes(f / S.CURVE_FILE, "".join(json.dumps(r) + "\n" for r in rows).encode())

    every = study.measure_every if measure_every is None else int(measure_every)
    curve = _StackedCurve(data, S.CURVE_CODES) if every and study.data == "dsprites" else None
    k_members, images_per_step = len(todo), tc.batch_size * len(todo)
    warm = {"t0": None, "s0": None, "done": False, "beat": time.monotonic()}
    warm_skip, warm_s = 20, 10.0  # steps left out (first calls, autotuning), then seconds timed

    def on_step(step: int, stacked: StackedVAE):
        now = time.monotonic()
        if not warm["done"]:
            if warm["t0"] is None and step >= max(0, resumed_from) + warm_skip:
                warm.update(t0=now, s0=step)
            elif warm["t0"] is not None and (now - warm["t0"] >= warm_s or step >= total):
                sps = (step - warm["s0"]) / max(1e-9, now - warm["t0"])
                left = total - step
                reach = ""
                if deadline is not None:
                    reach = f"; this call's time limit ({time_limit_s:.0f} s) reaches about step " \
                            f"{min(total, step + int(sps * max(0.0, deadline - now - margin_s))):,}"
                log(f"warm-up: {sps:.1f} steps/s = {sps * images_per_step:,.0f} images/s ({k_members} members × batch "
                    f"{tc.batch_size}, {tc.precision} on {dev.type}); {total:,} steps take "
                    f"{total / max(sps, 1e-9) / 60:.1f} min, the {left:,} left {left / max(sps, 1e-9) / 60:.1f} min{reach}")
                warm["done"] = True
        if now - warm["beat"] > 10:
            warm["beat"] = now
            for t in todo:
                S._write_trial(out / t.name, step=step)
        if curve is not None and (step % every == 0 or step == total):
            t0 = time.perf_counter()
            for t, row in zip(todo, curve(stacked)):
                with open(out / t.name / S.CURVE_FILE, "a") as fh:
                    fh.write(json.dumps({"step": step, **row, "seconds": round((time.perf_counter() - t0) / k_members, 2),
                                         "stacked": True}) + "\n")
        return None

    def on_checkpoint(step: int):
        for t in todo:
            S._write_trial(out / t.name, step=step)  # the step a resume would start from

    try:
        res = fit_stacked(members, data, out, tc, progress=progress, stop_event=stop_event, deadline=deadline,
                          margin_s=margin_s, on_step=on_step, on_checkpoint=on_checkpoint, max_ckpt_share=0.05)
    except BaseException as e:
        msg = str(e).strip().split("\n")[0] or type(e).__name__
        for t in todo:
            S._write_trial(out / t.name, status="failed" if not isinstance(e, KeyboardInterrupt) else "stopped", error=msg)
            S._log_event(out / t.name, "failed" if not isinstance(e, KeyboardInterrupt) else "stopped", error=msg)
        raise
    report.update(step=res["step"], images_per_s=round(res["images_per_s"], 1), stopped=res["stopped"],
                  wall_s=round(time.monotonic() - t_begin, 1))
    if res["stopped"]:
        for t in todo:
            S._log_event(out / t.name, "stopped", step=res["step"])
            S._write_trial(out / t.name, status="stopped", step=res["step"])
        return report
    for t in todo:
        f = out / t.name
        metrics = {}
        if measure and study.metrics:
            from genlab.evaluate import evaluate_checkpoint

            metrics = evaluate_checkpoint(f / "model", metrics=study.metrics, device=str(dev))["metrics"]
        S._log_event(f, "done", step=res["step"])
        S._write_trial(f, status="done", step=res["step"], metrics=metrics, wall_time_s=round(res["wall_time_s"], 1))
    return report
