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
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from genlab import objectives as obj
from genlab.checkpoint import load_train_state, save_checkpoint, save_train_state
from genlab.device import pick_device, seed_everything
from genlab.models import GenerativeModel, ModelConfig, Step, build_optimizers
from genlab.train import DivergedError, TrainConfig, _read_history, _write_history, run_meta, train_steps

BATCHABLE_MODELS = ("vae", "beta-vae")  # one update step whose only per-member setting is β
BATCHABLE_SETTINGS = ("beta",)


def can_batch(model: str, setting: str) -> bool:
    return model in BATCHABLE_MODELS and setting in BATCHABLE_SETTINGS


@dataclass
class Member:
    name: str  # run folder name under the sweep's out folder
    cfg: ModelConfig
    seed: int


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
            if c.model not in BATCHABLE_MODELS:
                raise ValueError(f"a batched sweep trains {', '.join(BATCHABLE_MODELS)}, not {c.model}")
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


def fit_stacked(members: list[Member], data, out: str | Path, tc: TrainConfig, progress: bool = True) -> dict:
    """Train the members as one batched run; each member's folder is written as `fit` would.
    Resumes when every member folder holds a resumable state at the same step."""
    dev = pick_device(tc.device)
    out = Path(out)
    models = []
    for mb in members:
        seed_everything(mb.seed)  # as `fit` does, so a member starts from the weights its own run would
        models.append(GenerativeModel(mb.cfg).to(dev))
    stacked = StackedVAE(models).to(dev)
    if tc.channels_last and stacked.is_image:
        stacked = stacked.to(memory_format=torch.channels_last)
    optimizers = build_optimizers(stacked)
    data_gen = torch.Generator().manual_seed(members[0].seed)
    noise_gen = torch.Generator(device=dev)  # the loop wants one; the members draw from their own
    stacked.noise_gens = [torch.Generator(device=dev).manual_seed(mb.seed + 1) for mb in members]
    folders = [out / mb.name for mb in members]
    start, prior_wall, histories = 0, 0.0, [[] for _ in members]

    resumable = [(f / "resume.safetensors").exists() for f in folders]
    if any(resumable):
        if not all(resumable):
            missing = [f.name for f, r in zip(folders, resumable) if not r]
            raise FileExistsError(f"a batched sweep resumes all members together, but {', '.join(missing)} has no "
                                  f"resumable state; delete the sweep's folders to start over")
        steps_at = set()
        for k, (f, m) in enumerate(zip(folders, models)):
            member_opt = build_optimizers(m)
            step_k, rng, extra = load_train_state(f / "resume.safetensors", m, member_opt)
            steps_at.add(step_k)
            stacked.load_member(k, m)
            _load_member_optimizer(optimizers["vae"], stacked, k, member_opt["vae"], m)
            stacked.noise_gens[k].set_state(rng["noise"].to(torch.uint8))
            prior_wall = float(extra.get("wall_time_s", 0.0))
            histories[k] = _read_history(f / "log.jsonl", step_k)
            start = step_k
        if len(steps_at) != 1:
            raise FileExistsError(f"the sweep's members stopped at different steps ({sorted(steps_at)}); "
                                  f"continue them one by one with `genlab train --resume`")
        data_gen.set_state(rng["data"])
    for f, h in zip(folders, histories):
        f.mkdir(parents=True, exist_ok=True)
        _write_history(f / "log.jsonl", h)

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=tc.steps, initial=start, desc=f"{len(members)} × {members[0].cfg.model} (batched)",
                   unit="step", dynamic_ncols=True)
    t0 = time.perf_counter()
    pending = []

    def checkpoint(step_now):
        bad = [s for s, fin in pending if not bool(fin)]
        pending.clear()
        if bad:
            raise DivergedError(f"a loss of the batched sweep became NaN or infinite by step {bad[0]}; the last good "
                                f"checkpoints in '{out}' are intact: lower --lr, then run the sweep again")
        wall = prior_wall + time.perf_counter() - t0
        rate = (step_now - start) * tc.batch_size * len(members) / max(1e-9, time.perf_counter() - t0)
        for k, (mb, f, m) in enumerate(zip(members, folders, models)):
            rng = {"data": data_gen.get_state(), "noise": stacked.noise_gens[k].get_state()}
            m.load_state_dict(stacked.member_state(k), strict=True)
            opt = _member_optimizer(optimizers["vae"], stacked, k, m)
            meta = run_meta(mb.name, mb.cfg, tc, dev, step_now, wall, rate, seed=mb.seed)
            meta["sweep"] = {"batched": True, "members": [x.name for x in members]}
            save_train_state(f / "resume.safetensors", m, {"vae": opt}, step_now, rng, {"wall_time_s": round(wall, 2)})
            save_checkpoint(f / "model", m, meta, half=False)
        return wall, rate

    step = start
    try:
        for step, logs, finite in train_steps(stacked, data, tc, optimizers, start, data_gen, noise_gen):
            pending.append((step, finite))
            if logs is not None:
                for k, f in enumerate(folders):
                    row = {key: _pick(logs[src], k) for key, src in
                           (("loss", "member_loss"), ("rec", "rec"), ("kl", "kl"), ("kl_per_dim", "kl_per_dim"))}
                    row["step"] = step
                    histories[k].append(row)
                    with open(f / "log.jsonl", "a") as fh:
                        fh.write(json.dumps(row) + "\n")
            if bar is not None:
                bar.update(1)
            if step % tc.ckpt_every == 0 and step < tc.steps:
                checkpoint(step)
        wall, rate = checkpoint(step)
    finally:
        if bar is not None:
            bar.close()
    return {"step": step, "wall_time_s": wall, "images_per_s": rate, "folders": folders}
