"""The engine of the Mode-collapse page: a GAN trained step by step on a 2-D mixture (or on points
of yours, genlab.userdata), in the spirit of GAN Lab (Kahng et al. 2019). No Streamlit here.

    run = LiveRun("gan", "ring", trick_overrides({"loss": "minimax", "ttur": True}), seed=0)
    run.step(100)
    snap = run.snapshot()   # real and generated points, D on a grid, metric history, losses

A LiveRun steps itself with genlab.train's own loop (`train_steps`), so what the page shows is
exactly what `genlab train` does; the same seed gives the same trajectory. Every trick of the
survey's §3.1 is a switch that `trick_overrides` turns into ModelConfig fields. While the page
plays, a `Player` trains its runs in a process of its own (one torch thread, out of the Streamlit
server's GIL) and the page only draws the snapshots that process sends back; pausing brings the
trained runs back into the page's process, so Step, Play and A/B continue from the same state.

The second half serves the labelled-image view: a label classifier checkpoint (the shipped
checkpoints/digits-classifier, or one genlab.evaluate.train_label_classifier trains into
runs/classifiers/) labels the samples of GAN checkpoints, and `label_histogram` compares their
label histogram with the real one.
"""

from __future__ import annotations

import functools
import io
import multiprocessing as mp
import os
import pickle
import threading
import time
import weakref
from pathlib import Path

import numpy as np
import torch

from genlab.data import MixtureData, load_dataset
from genlab.metrics.modes import PROTOCOL_SAMPLES, label_coverage, mode_coverage
from genlab.models import MODELS, GenerativeModel, ModelConfig, build_optimizers, make_config
from genlab.train import TrainConfig, train_steps
from genlab.userdata import PointsData

# --------------------------------------------------------------------------- switches

LOSSES = ("minimax", "non-saturating", "wgan", "wgan-gp")
LOSS_LABELS = {
    "minimax": "minimax (Goodfellow 2014, eq. 2: G minimises log(1 − D(G(z))))",
    "non-saturating": "non-saturating (G maximises log D(G(z)))",
    "wgan": "WGAN (critic with weight clipping, RMSprop)",
    "wgan-gp": "WGAN-GP (critic with gradient penalty)",
}
# Boolean tricks, in the order the page shows them, with the paper each comes from.
TRICKS = {
    "feature_matching": "feature matching (Salimans et al. 2016)",
    "minibatch_discrimination": "minibatch discrimination (Salimans et al. 2016)",
    "label_smoothing": "one-sided label smoothing, real target 0.9 (Salimans et al. 2016)",
    "instance_noise": "instance noise, annealed (Sønderby et al. 2017; Arjovsky & Bottou 2017)",
    "ttur": "two time-scale update rule: D learns 4× faster (Heusel et al. 2017)",
    "consensus": "consensus optimisation, γ = 10 (Mescheder et al. 2017)",
    "historical_averaging": "historical averaging, λ = 0.1 (Salimans et al. 2016)",
    "generator_averaging": "sample from a moving average of G, β = 0.999 (Yazıcı et al. 2019)",
    "replay": "experience replay: D sees past fakes from a pool of 512 half the time (Shrivastava et al. 2017; "
              "Pfau & Vinyals 2016)",
    "packing": "packing: D judges 4 samples at once (Lin et al. 2018, PacGAN4)",
}
DEFAULT_SWITCHES = {"loss": "non-saturating", **{k: False for k in TRICKS}, "d_steps": 0}  # 0: the model's default

LABEL_SMOOTHING_TARGET = 0.9  # one-sided: only the real target moves (Salimans et al. 2016, §3.4)
INSTANCE_NOISE_SIGMA = 0.1  # σ0, relative to the mixture's spread (ring radius 1, grid spacing 2)
INSTANCE_NOISE_STEPS = 2000  # annealed linearly to 0 over these steps
PACK = 4  # PacGAN4, the setting of the PacGAN paper's tables
TTUR_RATIO = 4.0  # lr_d = 4 · lr_g (SAGAN's 4e-4 / 1e-4)
CONSENSUS_GAMMA = 10.0  # Mescheder et al. 2017 used γ = 10
HISTORICAL_AVERAGING_WEIGHT = 0.1  # λ on ‖θ − θ̄‖² (the paper gives none; docs/results/mode-collapse.md: what it did on the ring and grid)
REPLAY_POOL = 512  # past fakes kept for D (docs/results/unified-view.md: what it did on the grid)
LIVE_EMA_DECAY = 0.999  # the authors' default is 0.9999 (a memory of ~10,000 steps); live runs are far shorter


def trick_overrides(switches: dict) -> dict:
    """UI switches → {"model": name, **ModelConfig overrides}.

    switches: loss ∈ LOSSES; booleans named in TRICKS; d_steps (int, 0 or missing = the
    model's default: 1 for GAN, 5 for the WGAN critics); lr (float, optional: the base rate,
    default the paper's). Every field a trick touches is set explicitly, on or off, so two
    dicts from different switches differ exactly where the switches do."""
    s = {**DEFAULT_SWITCHES, **{k: v for k, v in switches.items() if v is not None}}
    loss = s["loss"]
    if loss not in LOSSES:
        raise ValueError(f"unknown loss '{loss}'; choose one of: {', '.join(LOSSES)}")
    unknown = set(s) - set(DEFAULT_SWITCHES) - {"lr"}
    if unknown:
        raise ValueError(f"unknown switches {sorted(unknown)}; the page knows {sorted(DEFAULT_SWITCHES) + ['lr']}")
    critic = loss in MODELS and MODELS[loss].critic  # a Wasserstein loss is its own model; the others are the GAN's
    model = loss if critic else "gan"
    out: dict = {"model": model}
    if not critic:
        out["gan_loss"] = loss
    defaults = {f: getattr(ModelConfig, f) for f in ("lr", "d_steps")}
    defaults.update({k: v for k, v in MODELS[model].defaults.items() if k in defaults})
    lr = float(s.get("lr") or defaults["lr"])
    out["lr"] = lr
    out["d_steps"] = int(s["d_steps"]) if s.get("d_steps") else int(defaults["d_steps"])
    out["feature_matching"] = bool(s["feature_matching"])
    out["minibatch_discrimination"] = bool(s["minibatch_discrimination"])
    out["label_smoothing"] = LABEL_SMOOTHING_TARGET if s["label_smoothing"] else 1.0
    noise = s["instance_noise"]
    sigma = float(noise) if not isinstance(noise, bool) else (INSTANCE_NOISE_SIGMA if noise else 0.0)
    out["instance_noise"] = sigma
    out["instance_noise_steps"] = INSTANCE_NOISE_STEPS
    if s["ttur"]:
        out["lr_g"], out["lr_d"] = lr, lr * TTUR_RATIO
    else:
        out["lr_g"], out["lr_d"] = None, None
    out["consensus"] = CONSENSUS_GAMMA if s["consensus"] else 0.0
    out["pack"] = PACK if s["packing"] else 1
    out["historical_averaging"] = HISTORICAL_AVERAGING_WEIGHT if s["historical_averaging"] else 0.0
    out["ema_decay"] = LIVE_EMA_DECAY if s["generator_averaging"] else 0.0
    out["replay"] = REPLAY_POOL if s["replay"] else 0
    return out


def describe_switches(switches: dict) -> str:
    """A short label, e.g. 'minimax + TTUR + label smoothing, D steps 1'."""
    s = {**DEFAULT_SWITCHES, **switches}
    names = {"feature_matching": "feature matching", "minibatch_discrimination": "minibatch discrimination",
             "label_smoothing": "label smoothing", "instance_noise": "instance noise", "ttur": "TTUR",
             "consensus": "consensus", "packing": "packing", "historical_averaging": "historical averaging",
             "generator_averaging": "generator averaging", "replay": "replay"}
    parts = [s["loss"]] + [names[k] for k in TRICKS if s.get(k)]
    tail = f", D steps {s['d_steps']}" if s.get("d_steps") else ""
    return " + ".join(parts) + tail


# Published numbers (docs: numbers.md; PacGAN, Lin et al. 2018, Table 2 and VEEGAN, Srivastava
# et al. 2017), averaged over seeds after full training on 2,500 samples. Reference lines only.
PACGAN_REFERENCE = {
    "ring": [
        {"model": "GAN (PacGAN paper)", "modes_captured": 6.3, "high_quality": 0.982},
        {"model": "PacGAN4", "modes_captured": 7.8, "high_quality": 0.959},
        {"model": "Unrolled GAN (VEEGAN paper)", "modes_captured": 7.6, "high_quality": 0.356},
        {"model": "VEEGAN", "modes_captured": 8.0, "high_quality": 0.529},
    ],
    "grid": [
        {"model": "GAN (PacGAN paper)", "modes_captured": 17.3, "high_quality": 0.948, "reverse_kl": 0.70},
        {"model": "PacGAN4", "modes_captured": 24.8, "high_quality": 0.936, "reverse_kl": 0.04},
        {"model": "Unrolled GAN (VEEGAN paper)", "modes_captured": 23.6, "high_quality": 0.16},
        {"model": "VEEGAN", "modes_captured": 24.6, "high_quality": 0.40},
    ],
}
# Samples of the true mixture are high quality with probability 1 − exp(−9/2) in 2-D.
TRUE_HQ_SHARE = 1.0 - float(np.exp(-4.5))

# --------------------------------------------------------------------------- the live run

_BUILD_LOCK = threading.Lock()  # model init draws from torch's global RNG: one build at a time


class LiveRun:
    """One GAN on a 2-D mixture, advanced on demand: by the page's Step, or by a `Player`'s thread while
    the page plays (its lock lets the page take snapshots meanwhile).

    Holds the model, its optimisers and its two generators (data, noise) exactly as
    genlab.train.fit builds them, and the `train_steps` loop as a live iterator. Metrics of
    genlab.metrics.modes are measured on `eval_samples` samples every `metric_every` steps."""

    def __init__(self, model: str = "gan", dataset="ring", overrides: dict | None = None, seed: int = 0,
                 batch_size: int = 64, metric_every: int = 50, eval_samples: int = PROTOCOL_SAMPLES,
                 device: str = "cpu"):
        """`dataset`: ring, grid, a points:FILE.csv spec, or a genlab.userdata.PointsData (your points,
        uploaded or drawn), whose modes come from clustering it."""
        overrides = dict(overrides or {})
        model = overrides.pop("model", model)
        data = load_dataset(dataset) if isinstance(dataset, str) else dataset
        if not isinstance(data, (MixtureData, PointsData)):
            raise ValueError(f"live training runs on the 2-D mixtures (ring, grid) or on 2-D points of yours, "
                             f"not on '{data.name}'")
        dataset = data.name
        self.data = data
        self.dataset = dataset
        self.seed = int(seed)
        self.metric_every = max(1, int(metric_every))
        self.eval_samples = int(eval_samples)
        self.cfg: ModelConfig = make_config(model, dataset, data.shape, **overrides)
        self.tc = TrainConfig(steps=10**12, batch_size=int(batch_size), device=device, seed=self.seed, log_every=1)
        dev = torch.device(device)
        with _BUILD_LOCK, torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)  # same as fit's seed_everything, without touching other users' RNG
            self.model = GenerativeModel(self.cfg).to(dev)
        self.optimizers = build_optimizers(self.model)
        self.data_gen = torch.Generator().manual_seed(self.seed)
        self.noise_gen = torch.Generator(device=dev).manual_seed(self.seed + 1)
        self._loop = train_steps(self.model, data, self.tc, self.optimizers, 0, self.data_gen, self.noise_gen)
        self._lock = threading.Lock()
        self._away: Player | None = None  # the Player training this run in its process, while it does
        self.step_count = 0
        self.losses: list[dict] = []
        self.history: list[dict] = []
        self.error: str | None = None
        # Fixed views: the same real points and the same z every snapshot, so the picture moves
        # only because the generator does.
        if isinstance(data, PointsData):
            self.bounds = data.bounds()
        else:
            lo, hi = data.centres.min(0), data.centres.max(0)
            pad = 0.25 * float((hi - lo).max())
            self.bounds = (float(lo[0] - pad), float(hi[0] + pad), float(lo[1] - pad), float(hi[1] + pad))
        view_gen = torch.Generator().manual_seed(self.seed + 2)
        self._real_view = data.sample(2000, view_gen)["x"].cpu().numpy()
        self._z_view = self.model.prior(2000, torch.Generator(device=dev).manual_seed(self.seed + 3))
        self._z_eval = self.model.prior(self.eval_samples, torch.Generator(device=dev).manual_seed(self.seed + 4))
        self._record_metrics()

    @classmethod
    def from_checkpoint(cls, path, seed: int = 0, eval_samples: int = PROTOCOL_SAMPLES,
                        average: bool = True) -> "LiveRun":
        """A trained 2-D GAN from a checkpoint, in eval mode (batch norm on its running
        statistics, as `genlab eval` samples it), for the page to draw: samples, D's map, and
        the mode metrics on `eval_samples` samples. Its step count is the checkpoint's. A GAN
        that keeps a generator average samples from it; `average=False` draws the generator
        itself instead (what averaging bought, side by side)."""
        from genlab.checkpoint import load_checkpoint

        trained, meta = load_checkpoint(path)
        c = trained.cfg
        if not trained.spec.plain_discriminator or (c.data not in ("ring", "grid") and not c.data.startswith("points:")):
            raise ValueError(f"'{path}' is a {c.model} on {c.data}; this view shows GANs trained on ring or grid, or on points of yours")
        overrides = {k: v for k, v in c.to_dict().items() if k not in ("model", "data", "shape")}
        run = cls(c.model, c.data, overrides, seed=seed, batch_size=int(meta.get("batch_size", 64)),
                  eval_samples=eval_samples)
        if trained.average is None and run.model.average is not None:
            run.model.average = None  # a checkpoint that stores only the average: its generator is that average
        run.model.load_state_dict(trained.state_dict())
        run.model.eval()
        run.model.sample_average = average
        run.step_count = int(meta.get("steps", 0))
        run.history = []
        run._record_metrics()
        return run

    @property
    def mode_weights(self) -> np.ndarray | None:
        """The modes' shares of the data: found by clustering your points; None (equal) for ring and grid."""
        return getattr(self.data, "weights", None)

    @property
    def modes_note(self) -> str | None:
        """How the modes were found, for points of yours (genlab.userdata.cluster_modes); None for ring and grid."""
        modes = getattr(self.data, "modes", None)
        return modes["method"] if modes else None

    # --- moving to a Player's process and back
    def __getstate__(self) -> dict:
        """Everything but the live loop and the lock (rebuilt on arrival: `train_steps` resumes exactly
        from `step_count` with the same model, optimisers and generators)."""
        return {k: v for k, v in self.__dict__.items() if k not in ("_loop", "_lock", "_away")}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
        self._away = None
        self._loop = train_steps(self.model, self.data, self.tc, self.optimizers, self.step_count,
                                 self.data_gen, self.noise_gen)

    def _adopt(self, trained: "LiveRun") -> None:
        """Take over what a Player's process trained (a copy of this run): weights, optimisers, random
        generators, step, losses, measures. The data and the fixed views stay this run's own."""
        with self._lock:
            for k in ("model", "optimizers", "data_gen", "noise_gen", "step_count", "losses", "history", "error"):
                setattr(self, k, getattr(trained, k))
            self._loop = train_steps(self.model, self.data, self.tc, self.optimizers, self.step_count,
                                     self.data_gen, self.noise_gen)

    # --- stepping
    @property
    def diverged(self) -> bool:
        return self.error is not None

    def step(self, n: int = 1, budget_s: float | None = None) -> int:
        """Advance up to n training steps (fewer if `budget_s` seconds run out first, or the
        losses stop being finite). Returns the step count."""
        t0 = time.perf_counter()
        with self._lock:
            for _ in range(int(n)):
                if self.error is not None:
                    break
                step, logs, finite = next(self._loop)
                self.step_count = step
                if not bool(finite):
                    self.error = (f"a loss became NaN or infinite at step {step}: lower the learning rate "
                                  f"or switch on a stabilising trick, then reset")
                    break
                if logs:
                    self.losses.append(_normalise_logs(step, logs))
                if step % self.metric_every == 0:
                    self._record_metrics()
                if budget_s is not None and time.perf_counter() - t0 > budget_s:
                    break
        return self.step_count

    @torch.no_grad()
    def _sample(self, z) -> torch.Tensor:
        """The points this setting samples: the generator's (in training mode, as D sees them),
        or with generator averaging its moving average's (always in eval mode) unless the run
        was told to draw the generator itself."""
        avg = self.model.average if self.model.sample_average else None
        return self.model.decode(z) if avg is None else avg.net(z)

    @torch.no_grad()
    def generated(self, n: int | None = None) -> np.ndarray:
        z = self._z_view if n is None else self._z_view[:n]
        return self._sample(z).cpu().numpy()

    @torch.no_grad()
    def _record_metrics(self) -> None:
        x = self._sample(self._z_eval).cpu().numpy()
        if not np.isfinite(x).all():
            x = np.nan_to_num(x, nan=1e6, posinf=1e6, neginf=-1e6)
        m = mode_coverage(x, self.data.centres, self.data.std, weights=self.mode_weights)
        self.history.append({"step": self.step_count, "modes_captured": m["modes_captured"],
                             "n_modes": m["n_modes"], "high_quality": m["high_quality"],
                             "reverse_kl": m["reverse_kl"], "histogram": m["histogram"]})

    # --- what the page draws
    @torch.no_grad()
    def discriminator_map(self, grid: int = 60) -> dict:
        """D's output on a grid×grid lattice over the data's bounding box: the probability
        D(x) of being real (GAN), or the critic's score f(x) (WGAN). z[i, j] is at (x[j], y[i]).

        With minibatch discrimination D judges a point together with its batch; each grid point
        is scored as if it were one more sample in a batch of the current generated points.
        With packing (PacGAN) each grid point is scored as a pack of copies of itself."""
        x0, x1, y0, y1 = self.bounds
        xs = np.linspace(x0, x1, grid, dtype=np.float32)
        ys = np.linspace(y0, y1, grid, dtype=np.float32)
        xx, yy = np.meshgrid(xs, ys)
        pts = torch.from_numpy(np.stack([xx.ravel(), yy.ravel()], 1)).to(self.model.device)
        disc = self.model.nets["disc"]
        pts = pts.repeat_interleave(disc.pack, 0)  # a pack of identical points per grid point
        if disc.mbd is None:
            logit = disc(pts)["logit"]
        else:
            logit = self._mbd_logits(disc, pts)
        critic = self.model.spec.critic
        z = logit if critic else torch.sigmoid(logit)
        return {"x": xs, "y": ys, "z": z.reshape(grid, grid).cpu().numpy(),
                "kind": "critic" if critic else "probability",
                "label": "critic score f(x)" if critic else "D(x): probability of real"}

    def _mbd_logits(self, disc, pts, chunk: int = 256):
        ref_n = max(1, self.tc.batch_size // disc.pack - 1)  # the rest of a training batch, in packs
        ref = disc.body(disc.packed(self.model.decode(self._z_view[:ref_n * disc.pack])))
        m_ref = (ref @ disc.mbd.T).view(-1, disc.mbd.n_kernels, disc.mbd.kernel_dim)  # (R, K, d)
        out = []
        chunk *= disc.pack
        for s in range(0, len(pts), chunk):
            h = disc.body(disc.packed(pts[s:s + chunk]))  # (P, F)
            m = (h @ disc.mbd.T).view(-1, disc.mbd.n_kernels, disc.mbd.kernel_dim)  # (P, K, d)
            o = torch.exp(-(m[:, None] - m_ref[None]).abs().sum(-1)).sum(1)  # (P, K)
            out.append(disc.head(torch.cat([h, o], 1)).squeeze(1))
        return torch.cat(out)

    def snapshot(self, n_points: int = 500, grid: int = 60, with_losses: bool = True) -> dict:
        """Everything the page draws, as NumPy arrays and plain lists (nothing that trains). n_points=0
        leaves out the points and the discriminator's map, with_losses=False the loss of every step.
        While a Player trains the run in its process: the latest state that process sent."""
        away = self._away
        if away is not None:
            snap = away.latest(self, n_points, with_losses)
            if snap is not None:
                return snap
        with self._lock:
            fake = self.generated(n_points) if n_points else np.zeros((0, 2), np.float32)
            return {
                "step": self.step_count,
                "real": self._real_view[:n_points].copy(),
                "fake": fake,
                "heatmap": self.discriminator_map(grid) if n_points else None,
                "bounds": self.bounds,
                "centres": self.data.centres.copy(),
                "mode_weights": None if self.mode_weights is None else np.asarray(self.mode_weights).copy(),
                "modes_note": self.modes_note,
                "history": [dict(h) for h in self.history],
                "losses": [dict(r) for r in self.losses] if with_losses else [],
                "config": self.cfg.to_dict(),
                "error": self.error,
                "metric_every": self.metric_every,
            }


def _normalise_logs(step: int, logs: dict) -> dict:
    """Flatten train_steps' log keys ('d/loss', 'g/loss', or consensus's 'loss_d') into one
    row with loss_d and loss_g."""
    row = {"step": step}
    for k, v in logs.items():
        if isinstance(v, float):
            row[k.replace("/", "_")] = v
    row.setdefault("loss_d", row.get("d_loss"))
    row.setdefault("loss_g", row.get("g_loss"))
    return row


# --------------------------------------------------------------------------- the field as a picture

FIELD_COLOURS = {"real": "#1b9e77", "generated": "#7b3294"}


def _nice_ticks(lo: float, hi: float, most: int = 7) -> np.ndarray:
    """Round tick values inside [lo, hi]: a step of 1, 2 or 5 × 10^k giving at most `most` ticks."""
    span = max(hi - lo, 1e-9)
    for step in (m * 10.0 ** k for k in range(-3, 6) for m in (1, 2, 5)):
        if span / step <= most:
            break
    return np.arange(np.ceil(lo / step) * step, hi + 1e-9, step)


@functools.cache
def _rdbu_reversed() -> np.ndarray:
    """plotly's RdBu colour scale reversed, as 256 RGB rows (what the field's heatmap uses)."""
    from plotly.colors import sample_colorscale, unlabel_rgb

    return np.array([unlabel_rgb(c) for c in sample_colorscale("RdBu_r", list(np.linspace(0, 1, 256)))])


def field_png(snap: dict, size: int = 440, colours: dict | None = None) -> bytes:
    """The field of a snapshot (D's map under the real and the generated points) as a PNG: what the
    page shows while a run plays, so that each frame costs the browser one picture instead of a plotly
    chart of 1,000 points and a heatmap. The same colours as the chart: RdBu reversed at 55 % over
    white, 0 to 1 for a probability and centred on 0 for a critic; the axes' ticks below and left."""
    from PIL import Image, ImageColor, ImageDraw, ImageFont

    colours = {**FIELD_COLOURS, **(colours or {})}
    hm = snap["heatmap"]
    z = np.asarray(hm["z"], np.float64)
    if hm["kind"] == "probability":
        lo, hi = 0.0, 1.0
    else:
        m = float(np.nanmax(np.abs(z))) if np.isfinite(z).any() else 1.0
        lo, hi = -max(m, 1e-9), max(m, 1e-9)
    lut = _rdbu_reversed()
    level = np.nan_to_num((z - lo) / (hi - lo), nan=0.5).clip(0, 1)
    rgb = lut[(level * 255).round().astype(int)] * 0.55 + 255 * 0.45
    plot = Image.fromarray(rgb[::-1].astype(np.uint8)).resize((size, size), Image.Resampling.BILINEAR)
    x0, x1, y0, y1 = snap["bounds"]

    def to_px(x, y):  # data to the plot's pixels (row 0 at the top)
        return ((np.asarray(x, np.float64) - x0) / (x1 - x0) * size,
                (1 - (np.asarray(y, np.float64) - y0) / (y1 - y0)) * size)

    # each point a disc of diameter 5 px (a plotly marker of size 4), stamped with NumPy: 1,000 points in ~1 ms
    pixels = np.asarray(plot).copy()
    dy, dx = np.mgrid[-2:3, -2:3]
    disc = dx ** 2 + dy ** 2 <= 5
    dx, dy = dx[disc], dy[disc]
    for key, colour in (("real", colours["real"]), ("fake", colours["generated"])):
        pts = np.asarray(snap[key], np.float64).reshape(-1, 2)
        pts = pts[np.isfinite(pts).all(axis=1)]  # a diverged generator's NaNs are not drawn
        a, b = to_px(pts[:, 0], pts[:, 1])
        cols = (np.floor(a)[:, None] + dx).astype(int).ravel()
        rows = (np.floor(b)[:, None] + dy).astype(int).ravel()
        inside = (cols >= 0) & (cols < size) & (rows >= 0) & (rows < size)  # clipped to the axes, as plotly
        pixels[rows[inside], cols[inside]] = np.array(ImageColor.getrgb(colour), np.uint8)

    left, top, right, bottom = 44, 8, 16, 26
    img = Image.new("RGB", (left + size + right, top + size + bottom), "white")
    img.paste(Image.fromarray(pixels), (left, top))
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=11)
    draw.rectangle((left - 1, top - 1, left + size, top + size), outline="#888888")
    for t in _nice_ticks(x0, x1):
        a = left + float(to_px(t, y0)[0])
        draw.line((a, top + size, a, top + size + 4), fill="#444444")
        draw.text((a, top + size + 6), f"{t:g}", fill="#444444", font=font, anchor="mt")
    for t in _nice_ticks(y0, y1):
        b = top + float(to_px(x0, t)[1])
        draw.line((left - 4, b, left, b), fill="#444444")
        draw.text((left - 6, b), f"{t:g}", fill="#444444", font=font, anchor="rm")
    out = io.BytesIO()
    img.save(out, format="PNG", compress_level=1)
    return out.getvalue()


# --------------------------------------------------------------------------- labelled images


def runs_root() -> Path:
    """Where runs are written: $GENLAB_RUNS or ./runs (git-ignored)."""
    return Path(os.environ.get("GENLAB_RUNS", "runs"))


def classifier_path(dataset: str = "digits") -> Path:
    """Where the Mode-collapse page trains a label classifier for `dataset` when none is shipped
    (genlab.evaluate.train_label_classifier, on 80 % of the images, measured on the rest):
    runs/classifiers/<dataset>/model, the format of the shipped checkpoints/digits-classifier."""
    return runs_root() / "classifiers" / dataset / "model"


def real_label_distribution(data) -> np.ndarray:
    """Share of each label in a labelled dataset."""
    counts = np.bincount(np.asarray(data.labels.cpu()), minlength=data.n_classes).astype(np.float64)
    return counts / counts.sum()


@torch.no_grad()
def label_histogram(model: GenerativeModel, clf, n_classes: int, real_dist, n: int = 2000, seed: int = 0) -> dict:
    """Sample n images from an eval-mode model (fixed generator, so the result is repeatable),
    label them with the classifier, and compare with the real label distribution
    (genlab.metrics.modes.label_coverage: classes covered and KL(generated ‖ real))."""
    from genlab.metrics.classifier import predict_labels

    dev = model.device
    g = torch.Generator(device=dev).manual_seed(seed)
    images = torch.cat([model.sample(min(500, n - s), g).cpu() for s in range(0, n, 500)])
    labels = predict_labels(clf, images)
    cov = label_coverage(labels, n_classes, real_dist)
    hist = np.asarray(cov["histogram"], dtype=np.float64)
    cov["generated_share"] = (hist / max(1.0, hist.sum())).tolist()
    cov["real_share"] = (np.asarray(real_dist, dtype=np.float64) / np.sum(real_dist)).tolist()
    return cov


def _context():
    """forkserver where the platform has it: a server process that imported genlab.live (torch
    included) once forks each player in milliseconds; spawn elsewhere (a fresh interpreter a time)."""
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["genlab.live", "genlab.live_warm"])  # heeded when the fork server starts, ignored after
        return ctx
    return mp.get_context("spawn")


def warm_up() -> None:
    """Start the fork server in the background, so that the first Play does not wait for its imports."""
    def start():
        ctx = _context()
        if ctx.get_start_method() == "forkserver":
            from multiprocessing import forkserver

            forkserver.ensure_running()

    threading.Thread(target=start, name="genlab-live-warm-up", daemon=True).start()


def _sentence(e: BaseException) -> str:
    """An exception as one line, for the page: its kind and the first line of its message."""
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__


def _parent_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _play_in_child(conn, payload: bytes, max_steps: int, chunk: int, publish_s: float, parent_pid: int) -> None:
    """A Player's process: train the runs (pickled LiveRuns) with their own `step`, in lock-step, `chunk`
    steps each at a time; send a snapshot of each every `publish_s` seconds; on "stop", at `max_steps` or
    on a diverged run send the trained runs back and end. Ends at once, sending nothing, when the parent
    is gone (its end of the pipe closed, or its pid dead). Calls no Streamlit function."""
    from genlab import runlog

    torch.set_num_threads(1)  # one core per playing session: a class of sessions must not oversubscribe
    try:
        runs = pickle.loads(payload)
        sent = [(len(r.losses), len(r.history)) for r in runs]

        def publish() -> None:
            out = []
            for i, r in enumerate(runs):
                snap = r.snapshot(with_losses=False)
                n_loss, n_hist = sent[i]
                snap["history"] = None  # the new rows only: the parent keeps the rest
                snap["new_losses"], snap["new_history"] = r.losses[n_loss:], r.history[n_hist:]
                sent[i] = (len(r.losses), len(r.history))
                out.append(snap)
            conn.send(("snap", out))

        reason, t_pub, t_log, s_log, c_log = "stopped", 0.0, time.monotonic(), runs[0].step_count, time.thread_time()
        while True:
            if conn.poll():
                if conn.recv() == "stop":  # EOFError when the parent closed its end: handled below
                    break
            now = time.monotonic()
            if now - t_log >= 1.0:  # a second's training, in the server's timing log ($GENLAB_TIMING_LOG)
                if not _parent_alive(parent_pid):
                    return
                runlog.write({"t": time.time(), "session": "", "page": "Mode_collapse", "what": "train",
                              "steps": runs[0].step_count - s_log, "seconds": round(now - t_log, 4),
                              "cpu": round(time.thread_time() - c_log, 4), "end": "ok"})
                t_log, s_log, c_log = now, runs[0].step_count, time.thread_time()
            if any(r.diverged for r in runs):
                reason = "diverged"
                break
            n = min(chunk, max_steps - max(r.step_count for r in runs))
            if n <= 0:
                reason = "max_steps"
                break
            for r in runs:
                r.step(n)
            if now - t_pub >= publish_s:
                publish()
                t_pub = now
        publish()
        conn.send(("done", reason, pickle.dumps(runs)))
    except (EOFError, OSError):  # the parent went away: nobody to tell
        return
    except Exception as e:  # noqa: BLE001 - one sentence for the page, never a traceback
        try:
            conn.send(("error", _sentence(e)))
        except OSError:
            pass


_PLAYERS: "weakref.WeakSet[Player]" = weakref.WeakSet()  # every Player started in this process


def any_playing() -> bool:
    """Whether a Player of this process is training now (the app's pages then yield the CPU to it)."""
    return any(p.running for p in list(_PLAYERS))


class Player:
    """Plays live runs in a process of its own: trains them in lock-step, `chunk` steps each at a time, until
    `stop()`, `max_steps`, a diverged run, or `idle_s` seconds without a `seen()` (a closed tab: the page
    calls `seen()` on every frame it draws). The process has one torch thread and its own interpreter, so
    training neither waits for the Streamlit server's GIL nor holds it while other sessions draw pages.

    While it plays, each run's `snapshot()` is the latest one the process sent (every `publish_s` seconds);
    when it stops, the runs take over what it trained (`LiveRun._adopt`), so a paused run steps on from
    there. A thread of the caller's process owns the process: it starts it, reads what it sends, tells it to
    stop, and ends it (killed after `stop_s` seconds without an answer). The process ends by itself when
    its parent does. `reason` says why it stopped: "stopped", "max_steps", "diverged", "idle" or
    "error: …" (one sentence: a crash in the process, or a process that died)."""

    def __init__(self, runs: list[LiveRun], max_steps: int, chunk: int = 5, idle_s: float = 10.0,
                 publish_s: float = 0.1, stop_s: float = 10.0):
        self.runs = list(runs)
        self.max_steps, self.chunk, self.idle_s = int(max_steps), int(chunk), float(idle_s)
        self.publish_s, self.stop_s = float(publish_s), float(stop_s)
        self.reason: str | None = None
        self.pid: int | None = None  # the training process's, once started
        self._stop = threading.Event()
        self._seen = time.monotonic()
        self._snap_lock = threading.Lock()
        self._snaps: list[dict | None] = [None] * len(self.runs)
        self._losses: list[list] = []
        self._history: list[list] = []
        self._payload: bytes | None = None
        self._thread = threading.Thread(target=self._own, name="genlab-live-player", daemon=True)

    def start(self) -> "Player":
        if any(r._away is not None for r in self.runs):
            raise RuntimeError("a run is already being played")
        _PLAYERS.add(self)
        payload = pickle.dumps(self.runs)  # a copy: the process trains it and sends it back when it stops
        self._losses = [list(r.losses) for r in self.runs]
        self._history = [list(r.history) for r in self.runs]
        for r in self.runs:
            r._away = self
        self._seen = time.monotonic()
        self._payload = payload
        self._thread.start()
        return self

    def seen(self) -> None:
        """The page drew a frame: keep playing."""
        self._seen = time.monotonic()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float | None = None) -> None:
        """Stop and wait until the runs have taken over what the process trained (or it was ended)."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(self.stop_s + 5.0 if timeout is None else timeout)

    def latest(self, run: LiveRun, n_points: int = 500, with_losses: bool = True) -> dict | None:
        """The latest snapshot of `run` the process sent (None before the first), shaped like
        LiveRun.snapshot's."""
        i = next(k for k, r in enumerate(self.runs) if r is run)
        with self._snap_lock:
            snap = self._snaps[i]
            if snap is None:
                return None
            out = dict(snap)
            out["real"], out["fake"] = snap["real"][:n_points], snap["fake"][:n_points]
            if not n_points:
                out["heatmap"] = None
            out["history"] = [dict(h) for h in self._history[i]]
            out["losses"] = [dict(r) for r in self._losses[i]] if with_losses else []
        return out

    def _merge(self, snaps: list[dict]) -> None:
        with self._snap_lock:
            for i, snap in enumerate(snaps):
                self._losses[i].extend(snap.pop("new_losses"))
                self._history[i].extend(snap.pop("new_history"))
                self._snaps[i] = snap

    def _own(self) -> None:
        reason, proc, conn, started = None, None, None, False
        payload, self._payload = self._payload, None
        try:
            ctx = _context()
            conn, child_conn = ctx.Pipe()
            proc = ctx.Process(target=_play_in_child, name="genlab-live-player", daemon=True,
                               args=(child_conn, payload, self.max_steps, self.chunk, self.publish_s, os.getpid()))
            proc.start()  # the first in a process waits for the fork server's imports (warm_up starts them early)
            started = True
            child_conn.close()
            self.pid = proc.pid
            self._seen = max(self._seen, time.monotonic())  # idle from now: the start is not the page's fault
            why, asked = None, None
            while True:
                if asked is None and (self._stop.is_set() or time.monotonic() - self._seen > self.idle_s):
                    why = "stopped" if self._stop.is_set() else "idle"
                    conn.send("stop")
                    asked = time.monotonic()
                if asked is not None and time.monotonic() - asked > self.stop_s:
                    reason = (f"error: the training process did not stop within {self.stop_s:.0f} s and was ended; "
                              f"the run is back at step {self.runs[0].step_count}")
                    break
                if not conn.poll(0.02):
                    continue
                msg = conn.recv()
                if msg[0] == "snap":
                    self._merge(msg[1])
                elif msg[0] == "done":
                    for run, trained in zip(self.runs, pickle.loads(msg[2])):
                        run._adopt(trained)
                    reason = why if msg[1] == "stopped" and why else msg[1]
                    break
                else:  # "error": a sentence from the process
                    reason = f"error: {msg[1]}"
                    break
        except EOFError:  # the process died without a word (killed, out of memory, a crash in C)
            proc.join(1.0)
            code = proc.exitcode
            reason = (f"error: the training process ended unexpectedly (exit code {code}); "
                      f"the run is back at step {self.runs[0].step_count}")
        except Exception as e:  # noqa: BLE001 - shown by the page, never raised in a thread nobody joins
            reason = f"error: {_sentence(e)}"
        finally:
            if conn is not None:
                conn.close()  # the process, if still there, sees EOF and ends
            if started:
                proc.join(2.0)
                if proc.is_alive():
                    proc.kill()
                    proc.join(2.0)
            for r in self.runs:
                r._away = None
            self.reason = reason or "stopped"
