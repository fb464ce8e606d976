"""The engine of the Mode-collapse page: a GAN trained step by step on a 2-D mixture (or on points
of yours, genlab.userdata), in the spirit of GAN Lab (Kahng et al. 2019). No Streamlit here.

    run = LiveRun("gan", "ring", trick_overrides({"loss": "minimax", "ttur": True}), seed=0)
    run.step(100)
    snap = run.snapshot()   # real and generated points, D on a grid, metric history, losses

A LiveRun steps itself with genlab.train's own loop (`train_steps`), so what the page shows is
exactly what `genlab train` does; the same seed gives the same trajectory. Every trick of the
survey's §3.1 is a switch that `trick_overrides` turns into ModelConfig fields. While the page
plays, a `Player` trains its runs in a background thread and the page only draws snapshots.

The second half serves the labelled-image view: a label classifier checkpoint (the shipped
checkpoints/digits-classifier, or one genlab.evaluate.train_label_classifier trains into
runs/classifiers/) labels the samples of GAN checkpoints, and `label_histogram` compares their
label histogram with the real one.
"""

from __future__ import annotations

import os
import threading
import time
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
    return out


def describe_switches(switches: dict) -> str:
    """A short label, e.g. 'minimax + TTUR + label smoothing, D steps 1'."""
    s = {**DEFAULT_SWITCHES, **switches}
    names = {"feature_matching": "feature matching", "minibatch_discrimination": "minibatch discrimination",
             "label_smoothing": "label smoothing", "instance_noise": "instance noise", "ttur": "TTUR",
             "consensus": "consensus", "packing": "packing", "historical_averaging": "historical averaging",
             "generator_averaging": "generator averaging"}
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
        leaves out the points and the discriminator's map, with_losses=False the loss of every step."""
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


class Player:
    """Plays live runs in a background thread: trains them in lock-step, `chunk` steps each at a time, until
    `stop()`, `max_steps`, a diverged run, or `idle_s` seconds without a `seen()` (a closed tab: the page
    calls `seen()` on every frame it draws). The page only draws snapshots, so training does not wait for
    drawing and drawing does not wait for training. The thread calls no Streamlit function.

    `reason` says why it stopped: "stopped", "max_steps", "diverged", "idle" or "error: …"."""

    def __init__(self, runs: list[LiveRun], max_steps: int, chunk: int = 5, idle_s: float = 10.0):
        self.runs = list(runs)
        self.max_steps, self.chunk, self.idle_s = int(max_steps), int(chunk), float(idle_s)
        self.reason: str | None = None
        self._stop = threading.Event()
        self._seen = time.monotonic()
        self._thread = threading.Thread(target=self._play, name="genlab-live-player", daemon=True)

    def start(self) -> "Player":
        self._seen = time.monotonic()
        self._thread.start()
        return self

    def seen(self) -> None:
        """The page drew a frame: keep playing."""
        self._seen = time.monotonic()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _play(self) -> None:
        reason = "stopped"
        try:
            while not self._stop.is_set():
                if time.monotonic() - self._seen > self.idle_s:
                    reason = "idle"
                    break
                if any(r.diverged for r in self.runs):
                    reason = "diverged"
                    break
                n = min(self.chunk, self.max_steps - max(r.step_count for r in self.runs))
                if n <= 0:
                    reason = "max_steps"
                    break
                for r in self.runs:
                    r.step(n)
        except Exception as e:  # noqa: BLE001 - shown by the page, never raised in a thread nobody joins
            reason = f"error: {type(e).__name__}: {e}"
        self.reason = reason
