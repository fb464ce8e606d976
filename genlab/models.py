"""The model zoo: `MODELS` maps a name to its networks, its update steps and its paper's defaults.

A model is an objective over shared networks (genlab.nets), trained by the one loop in
genlab.train. An adversarial model is a list of update steps, e.g. WGAN is
[critic × n_critic, generator]; every step returns {"loss": ...} plus named parts. A step's
"loss" is either one tensor (minimised over the parameters of the step's group) or a dict
{group: tensor} when several players move at once (consensus optimisation, VAE-GAN).

Every model, whatever its family, offers the same interface to the app and the metrics:
`encode` (mu, logvar; models with an encoder), `decode(z)`, `sample(n)`, `reconstruct(x)`,
`prior(n)` and `latent_layout()`.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
from dataclasses import dataclass, field
from typing import Callable, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from genlab import nets
from genlab import objectives as obj


class Limit(NamedTuple):
    """The values a numeric setting takes: lo to hi, each end included unless marked open."""

    lo: float
    hi: float = math.inf
    lo_open: bool = False
    hi_open: bool = False

    def holds(self, v) -> bool:
        return (math.isfinite(v) and (v > self.lo if self.lo_open else v >= self.lo)
                and (v < self.hi if self.hi_open else v <= self.hi))

    def text(self) -> str:
        """'1–512', 'at least 1', 'above 0 and at most 1', 'at least 0 and below 1'."""
        lo, hi = number_text(self.lo), number_text(self.hi)
        low = f"above {lo}" if self.lo_open else f"at least {lo}"
        if math.isinf(self.hi):
            return low
        if not self.lo_open and not self.hi_open:
            return f"{lo}–{hi}"
        return f"{low} and {f'below {hi}' if self.hi_open else f'at most {hi}'}"


def number_text(v) -> str:
    """1,000 for a whole number, 0.0001 for a float."""
    return f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else f"{v:g}"


def option(flag: str, help: str, paper: str | None = None, limit: Limit | None = None, choices: tuple | None = None,
           aliases: tuple = ()) -> dict:
    """A setting's description, written once and read by the CLI (its flag and help), the Train page
    (its help, range and choices) and validate_config (its range and choices)."""
    return {"flag": flag, "aliases": aliases, "help": help, "paper": paper, "limit": limit, "choices": choices}


def hp(default, *args, **kw):
    """A ModelConfig field with its default and its `option` (flag, help, paper, range, choices)."""
    return field(default=default, metadata=option(*args, **kw))


@dataclass
class ModelConfig:
    """Every hyper-parameter of every model, flat, so it serialises to JSON as it is. Each setting
    carries its CLI flag, help, paper, range and choices (`option`), written nowhere else.

    Defaults are filled from the model's paper (MODELS[name].defaults) by `make_config`."""

    model: str = "vae"
    data: str = "dsprites"
    shape: tuple = (1, 64, 64)  # C×H×W, or (2,) for points
    latent_dim: int = hp(10, "--latent-dim", "size of z (InfoGAN: the incompressible noise part)", limit=Limit(1, 512))
    likelihood: str = hp("auto", "--likelihood", "the decoder's p(x|z); auto = Bernoulli for images, points for 2-D data",
                          choices=("auto", "bernoulli", "continuous-bernoulli", "gaussian", "points"))
    # VAE family
    beta: float = hp(1.0, "--beta", "weight of the KL term; 1 = the VAE, > 1 = β-VAE", "Higgins et al. 2017",
                      Limit(0, 10_000))
    gamma: float = hp(1000.0, "--gamma", "γ of γ·|KL − C|: the paper's 1000 raises C over 100k steps; with C over 10k "
                       "steps, 100 worked here and 1000 left the images at the data's mean", "Burgess et al. 2018",
                       Limit(0, 1e6))
    capacity: float = hp(25.0, "--capacity", "C_max in nats, the KL the code may carry at the end", "Burgess et al. 2018",
                          Limit(0, 1000))
    capacity_steps: int = hp(100_000, "--capacity-steps", "steps over which C rises linearly from 0 to C_max",
                              "Burgess et al. 2018", Limit(1, 100_000_000))
    mmd_weight: float = hp(1000.0, "--mmd-weight", "InfoVAE's λ on MMD(q(z), p(z)), the aggregate posterior against "
                            "the prior", "Zhao et al. 2019", Limit(0, 1e6))
    alpha: float = hp(1.0, "--alpha", "InfoVAE's α; 1 = MMD-VAE, no per-sample KL", "Zhao et al. 2019", Limit(-1000, 1))
    # an autoregressive decoder and the remedies for an ignored code (survey §2.1.2)
    pixel_reach: int = hp(0, "--pixel-reach", "rows above and columns to either side of each pixel that the PixelCNN "
                           "decoder sees of the earlier pixels; 0 = the factorised decoder, the image's height − 1 = "
                           "every earlier pixel", "van den Oord et al. 2016; Chen et al. 2017 (VLAE)", Limit(0, 63))
    free_bits: float = hp(0.0, "--free-bits", "free bits: each latent dimension's KL term is max(λ, KL), so its first "
                           "λ nats cost nothing; 0 = off", "Kingma et al. 2016", Limit(0, 100))
    kl_anneal_steps: int = hp(0, "--kl-anneal-steps", "KL annealing: the KL term's weight rises linearly from 0 to 1 "
                               "over this many steps; 0 = off", "Bowman et al. 2016", Limit(0, 100_000_000))
    pixel_channels: int = hp(128, "--pixel-channels", "channels of the PixelCNN decoder's gated layers: a wider decoder "
                              "models more of the image without the code", "van den Oord et al. 2016", Limit(8, 1024))
    pixel_blocks: int = hp(4, "--pixel-blocks", "gated 1×1 blocks after the PixelCNN decoder's first, masked layer",
                            "van den Oord et al. 2016", Limit(0, 32))
    # GAN family
    gan_loss: str = hp("non-saturating", "--gan-loss", "the generator's loss: minimax is the survey's eq. 2, "
                        "non-saturating its fix", "Goodfellow et al. 2014", choices=("non-saturating", "minimax"))
    d_steps: int = hp(1, "--d-steps", "discriminator (critic) steps per generator step: the paper's k, WGAN's n_critic",
                       "Goodfellow et al. 2014; Arjovsky et al. 2017", Limit(1, 100), aliases=("--n-critic",))
    clip: float = hp(0.01, "--clip", "WGAN's weight-clipping bound c", "Arjovsky et al. 2017",
                      Limit(0, 10, lo_open=True))
    gp_weight: float = hp(10.0, "--gp-weight", "WGAN-GP's gradient-penalty weight λ", "Gulrajani et al. 2017",
                           Limit(0, 10_000))
    n_categorical: int = hp(0, "--n-categorical", "InfoGAN: values of the categorical code; 0 = none",
                             "Chen et al. 2016", Limit(0, 1000))
    n_continuous: int = hp(0, "--n-continuous", "InfoGAN: continuous codes ~ U(−1, 1)", "Chen et al. 2016",
                            Limit(0, 100))
    info_weight: float = hp(1.0, "--info-weight", "InfoGAN's λ on the mutual-information bound", "Chen et al. 2016",
                             Limit(0, 10_000))
    margin: float = hp(0.1, "--margin", "EBGAN's margin m on the fake energy, a mean squared error per pixel",
                        "Zhao, Mathieu & LeCun 2017", Limit(0, 1000))
    pt_weight: float = hp(0.1, "--pt-weight", "EBGAN's pull-away term weight; 0 = off", "Zhao, Mathieu & LeCun 2017",
                           Limit(0, 1000))
    vaegan_gamma: float = hp(1.0, "--vaegan-gamma", "VAE-GAN: weight of the feature-space reconstruction in the "
                              "decoder's loss", "Larsen et al. 2016", Limit(0, 10_000))
    vaegan_pixel: float = hp(0.0, "--vaegan-pixel", "VAE-GAN: weight of a pixel-space reconstruction for encoder and "
                              "decoder; 0 = Larsen's Alg. 1", None, Limit(0, 10_000))
    # image translation (survey §3.2)
    cycle_weight: float = hp(10.0, "--cycle-weight", "CycleGAN's λ on the cycle loss ‖F(G(a)) − a‖₁ + ‖G(F(b)) − b‖₁; "
                              "0 = no cycle loss (the ablation)", "Zhu et al. 2017", Limit(0, 1000))
    identity_weight: float = hp(0.0, "--identity-weight", "CycleGAN's weight on the identity loss ‖G(b) − b‖₁ + "
                                 "‖F(a) − a‖₁; the paper uses 0.5·λ where it is on, 0 = off", "Zhu et al. 2017",
                                 Limit(0, 1000))
    # the unified view's transfers (Hu et al. 2018)
    adversary_weight: float = hp(1.0, "--adversary-weight", "AAVAE's weight on the VAE loss of its own samples, each "
                                  "weighted by D's belief that it is real; 0 = the plain VAE", "Hu et al. 2018",
                                  Limit(0, 1000))
    # text to image (survey §3.2)
    text_dim: int = hp(16, "--text-dim", "size of the caption embedding φ(t) that conditions the generator and the "
                        "matching-aware discriminator", "Reed et al. 2016", Limit(1, 512))
    gan_int: float = hp(0.0, "--gan-int", "GAN-INT: weight of the generator's loss on the midpoints of two captions' "
                         "embeddings, which teaches it the space between captions; 0 = GAN-CLS alone",
                         "Reed et al. 2016", Limit(0, 100))
    mismatch: str = hp("swap", "--mismatch", "GAN-CLS's mismatched text for a real image: 'swap' = a caption of the "
                       "image's own factors with one of shape, size or place changed (each a third of the time), "
                       "'roll' = another image's caption (the batch rolled by one), 'mix' = each half the time",
                       "Reed et al. 2016", choices=("swap", "roll", "mix"))
    # GAN stabilisation tricks (survey §3.1)
    feature_matching: bool = hp(False, "--feature-matching", "G matches D's mean features on real data instead of "
                                 "fooling D", "Salimans et al. 2016")
    minibatch_discrimination: bool = hp(False, "--minibatch-discrimination", "D sees how alike the samples of a batch "
                                         "are, so it can see a batch collapsing", "Salimans et al. 2016")
    label_smoothing: float = hp(1.0, "--label-smoothing", "D's target for real data; 0.9 = one-sided label smoothing",
                                 "Salimans et al. 2016", Limit(0, 1, lo_open=True))
    instance_noise: float = hp(0.0, "--instance-noise", "σ0 of Gaussian noise on D's inputs, annealed to 0",
                                "Sønderby et al. 2017", Limit(0, 10))
    instance_noise_steps: int = hp(10_000, "--instance-noise-steps", "steps over which the instance noise falls to 0",
                                    "Sønderby et al. 2017", Limit(0))
    consensus: float = hp(0.0, "--consensus", "γ of consensus optimisation; 0 = off", "Mescheder et al. 2017",
                           Limit(0, 1000))
    r1_gamma: float = hp(0.0, "--r1-gamma", "γ of the R1 penalty, (γ/2)·E‖∇D(x)‖² at real data, on a classifier D; "
                           "0 = off", "Mescheder et al. 2018", Limit(0, 10_000))
    pack: int = hp(1, "--pack", "PacGAN: samples D judges together; 1 = off", "Lin et al. 2018", Limit(1))
    historical_averaging: float = hp(0.0, "--historical-averaging", "λ on ‖θ − θ̄‖², θ̄ each player's mean past "
                                      "parameters; 0 = off", "Salimans et al. 2016", Limit(0, 10_000))
    replay: int = hp(0, "--replay", "experience replay: D sees, for each fake with probability ½, one of a pool of "
                      "this many past fakes instead; 0 = off", "Shrivastava et al. 2017; Pfau & Vinyals 2016",
                      Limit(0, 100_000))
    # generator averaging: samples come from an exponential moving average of the generator's
    # weights, which training never reads
    ema_decay: float = hp(0.0, "--ema-decay", "sample from a moving average of the generator's weights with this "
                           "decay β, e.g. 0.999 or 0.9999; 0 = off", "Yazıcı et al. 2019", Limit(0, 1, hi_open=True))
    ema_start: int = hp(0, "--ema-start", "the generator average is a plain copy of the generator until this step",
                         "Yazıcı et al. 2019", Limit(0))
    # networks for 2-D points (images use the conv nets of genlab.nets; batch_norm applies to both)
    mlp_width: int = hp(128, "--mlp-width", "hidden units per layer of the networks for 2-D points", None, Limit(1))
    mlp_layers: int = hp(2, "--mlp-layers", "hidden layers of the networks for 2-D points: generator or decoder, "
                          "discriminator, encoder", None, Limit(1))
    batch_norm: bool = hp(False, "--batch-norm", "batch norm in the generator's hidden layers, DCGAN's generator for "
                           "images", "Ioffe & Szegedy 2015")
    virtual_batch_norm: bool = hp(False, "--virtual-batch-norm", "instead of --batch-norm: the generator normalises with "
                                   "the statistics of a fixed reference batch", "Salimans et al. 2016")
    d_mlp_width: int | None = hp(None, "--d-mlp-width", "hidden units of the 2-D discriminator, if not --mlp-width",
                                  None, Limit(1))
    d_mlp_layers: int | None = hp(None, "--d-mlp-layers", "hidden layers of the 2-D discriminator, if not --mlp-layers",
                                   None, Limit(1))
    conv_width: int = hp(1, "--conv-width", "multiplies the channels of every convolution in an image GAN's generator "
                          "and discriminator, and in CycleGAN's translators and discriminators (1 = genlab's small "
                          "nets, 32–64 channels; DCGAN's own are 8 times wider)",
                          "Radford et al. 2016", Limit(1, 16))
    maxout: int = hp(1, "--maxout", "maxout pieces per unit in the 2-D discriminator; PacGAN uses 5, 1 = LeakyReLU "
                      "units", "Goodfellow et al. 2013", Limit(1))
    init_std: float = hp(0.0, "--init-std", "draw every weight from N(0, STD) and zero the biases; DCGAN and PacGAN "
                          "use 0.02, 0 keeps PyTorch's initialisation", "Radford et al. 2016", Limit(0))
    # optimisation
    optimizer: str = hp("adam", "--optimizer", "Adam, or RMSprop as in the WGAN paper", choices=("adam", "rmsprop"))
    lr: float = hp(1e-4, "--lr", "learning rate", None, Limit(0, 1, lo_open=True))
    lr_d: float | None = hp(None, "--lr-d", "the discriminator's rate for the two-time-scale update rule; unset = lr",
                             "Heusel et al. 2017", Limit(0, 1, lo_open=True))
    lr_g: float | None = hp(None, "--lr-g", "the generator's (decoder's) rate for the two-time-scale update rule; "
                             "unset = lr", "Heusel et al. 2017", Limit(0, 1, lo_open=True))
    adam_beta1: float = hp(0.9, "--adam-beta1", "Adam's β1 (0.5 in DCGAN-style GANs)", None, Limit(0, 1, hi_open=True))
    adam_beta2: float = hp(0.999, "--adam-beta2", "Adam's β2", None, Limit(0, 1, hi_open=True))

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["shape"] = list(self.shape)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown model settings {sorted(unknown)}; this genlab knows {sorted(names)}")
        d = dict(d)
        if "shape" in d:
            d["shape"] = tuple(d["shape"])
        return cls(**d)

    @property
    def resolved_likelihood(self) -> str:
        if self.likelihood != "auto":
            return self.likelihood
        if len(self.shape) == 1:
            return "points"
        return "bernoulli"


def _defaults() -> dict:
    return {f.name: f.default for f in dataclasses.fields(ModelConfig)}


def options() -> dict[str, dataclasses.Field]:
    """The ModelConfig fields that are options (carry `option` metadata), in declaration order."""
    return {f.name: f for f in dataclasses.fields(ModelConfig) if f.metadata.get("flag")}


def field_help(name: str) -> str:
    """A setting's help with its paper: what the CLI, the Train page and `genlab train --help` say."""
    m = options()[name].metadata
    return m["help"] + (f" ({m['paper']})" if m["paper"] else "")


def _value_text(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def default_text(name: str) -> str:
    """A setting's defaults: '[1; beta-vae 4]' (ModelConfig's, then the models whose paper sets
    another); '' for a switch or a setting left unset by default."""
    base = options()[name].default
    if base is None or isinstance(base, bool):
        return ""
    other: dict = {}
    for model, spec in MODELS.items():
        v = spec.defaults.get(name, base)
        if v != base:
            other.setdefault(_value_text(v), []).append(model)
    return "[" + "; ".join([_value_text(base)] + [f"{', '.join(ms)} {v}" for v, ms in other.items()]) + "]"


def option_kind(f: dataclasses.Field) -> str:
    """'bool', 'int', 'float' or 'str' from the field's annotation (written as text: `int | None`)."""
    t = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    return next(k for k in ("bool", "int", "float", "str") if k in t)


def field_problem(name: str, v) -> str | None:
    """What is wrong with value `v` of setting `name`, as one clause ('lr must be above 0 and at most 1
    (got -1)'), from its type, range and choices; None when it is fine. None is fine where the
    setting may be left unset."""
    f = options()[name]
    m, kind = f.metadata, option_kind(f)
    if v is None:
        return None if "None" in str(f.type) else f"{name} must be set"
    if m["choices"] is not None:
        return None if v in m["choices"] else f"{name} must be one of {', '.join(m['choices'])} (got {v!r})"
    if kind == "bool":
        return None if isinstance(v, bool) else f"{name} must be on or off (got {v!r})"
    if kind == "str":
        return None if isinstance(v, str) else f"{name} must be text (got {v!r})"
    whole = kind == "int"
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (whole and not float(v).is_integer()):
        return f"{name} must be {'a whole number' if whole else 'a number'} (got {v!r})"
    if not math.isfinite(v):
        return f"{name} must be a finite number (got {v!r})"
    if m["limit"] is not None and not m["limit"].holds(v):
        return f"{name} must be {m['limit'].text()} (got {number_text(v)})"
    return None


@dataclass
class Step:
    """One update: `fn(model, x, ctx) -> {"loss": ...}` minimised over `group`'s parameters,
    repeated `repeat` times per training step (each time on a fresh real batch)."""

    name: str
    fn: Callable
    group: str | None  # None: the loss is a dict {group: loss}
    repeat: int = 1
    after: Callable | None = None  # e.g. WGAN's weight clipping, run after the optimiser step


@dataclass(frozen=True)
class ModelSpec:
    """What a model is and what it can do. The trainer, the checks, the CLI and the app read these
    traits, never the model's name, so a new model is its steps, its objective and one ModelSpec."""

    name: str
    family: str  # "vae", "gan" or "hybrid"
    paper: str
    purpose: str
    nets: Callable[[ModelConfig], dict]
    groups: dict  # group name -> list of net names it optimises
    steps: Callable[[ModelConfig], list]
    defaults: dict = field(default_factory=dict)  # the paper's settings, over ModelConfig's
    fields: tuple = ("latent_dim",)  # the settings that matter for it: the Train page shows these
    example: str = "--data dsprites"  # the options of its example command line (`genlab models`)
    inputs: tuple = ("images", "points")  # the kinds of data it trains on
    encoder: bool = False  # encodes x into q(z|x): reconstructions, codes, the latent measures
    gan_game: bool = False  # gan_steps' game of a classifier or critic D against G: consensus and historical averaging apply
    critic: bool = False  # D is a Wasserstein critic: a score, not log-odds (WGAN's losses)
    clip_weights: bool = False  # the critic is kept Lipschitz by clipping its weights (WGAN)
    gradient_penalty: bool = False  # ... by a gradient penalty (WGAN-GP)
    plain_discriminator: bool = False  # D is nets.Discriminator with one output per input and nothing else:
    # PacGAN's packing and maxout units apply, and the 2-D views draw D over the plane
    drs: bool = False  # D's logit is a per-sample log-odds: discriminator rejection sampling applies
    codes: bool = False  # InfoGAN's codes: needs one, and z is not N(0, I) (no virtual batch norm)
    capacity_schedule: bool = False  # the KL capacity C rises with the step (Burgess et al.): timelines show C
    knob: str | None = None  # the β-like setting its sweeps vary ("beta": the β sweeps of the traversal page)
    stackable: bool = False  # trains as a member of a stacked β-VAE run (genlab.sweep), only `knob` differing
    autoregressive: bool = False  # the decoder is nets.PixelCNNDecoder: p(x|z) over earlier pixels up to
    # pixel_reach, samples drawn pixel by pixel; decode(z) draws with one noise field shared by every z
    code_remedies: bool = False  # free bits and KL annealing apply (its step reads them)
    translator: bool = False  # translates images between two domains (CycleGAN): no code z, no prior, no
    # sample(); `translate(x, direction)` instead. A two-domain batch is its domain-A half, then its domain-B half
    text: bool = False  # conditioned on a caption (genlab.captions): z = [noise, φ(t)], trained on data with factors


class StepContext:
    """What a step needs besides the images: the step index, a generator for its noise and the whole
    batch as the dataset gave it (`batch`: x with its factors or labels, on the CPU), for models that
    learn from more than the images (text2image-gan reads the factors to caption them)."""

    def __init__(self, step: int, generator: torch.Generator, sample_real: Callable | None = None,
                 batch: dict | None = None):
        self.step = step
        self.gen = generator
        self.sample_real = sample_real
        self.batch = batch


# --------------------------------------------------------------------------- the container


class ParameterHistory(nn.Module):
    """θ̄, the running mean of each player's parameters over the training steps so far, for
    historical averaging (Salimans et al. 2016, §3.3). Kept as buffers, so a checkpoint and a
    resumed run carry it on. Starts at the initial parameters (a mean over one step)."""

    def __init__(self, model_nets: nn.ModuleDict, groups: dict):
        super().__init__()
        self._names = {}
        for g, net_names in groups.items():
            keys = []
            for n in net_names:
                for pname, p in model_nets[n].named_parameters():
                    key = f"{n}__{pname.replace('.', '__')}"
                    self.register_buffer(key, p.detach().clone())
                    keys.append(key)
            self._names[g] = keys
            self.register_buffer(f"steps__{g}", torch.ones((), dtype=torch.long))

    def means(self, group: str) -> list[torch.Tensor]:
        """θ̄ of `group`, in the order of GenerativeModel.groups()[group]."""
        return [getattr(self, k) for k in self._names[group]]

    @torch.no_grad()
    def update(self, group: str, params) -> None:
        """Fold the parameters after one more step into the mean: θ̄ ← θ̄ + (θ − θ̄) / t."""
        t = getattr(self, f"steps__{group}")
        t += 1
        for m, p in zip(self.means(group), params):
            m.add_((p.detach() - m) / t)


class ReplayPool:
    """Experience replay for the discriminator: a pool of the last `size` fakes (and the codes they
    were drawn from). Shrivastava et al. 2017 (§2.3), the image pool of CycleGAN (Zhu et al. 2017):
    once the pool is full, each new fake is, with probability ½, swapped for a random pooled one,
    which takes its place in the pool; so D keeps seeing what the generator drew a while ago and
    cannot chase its latest move alone. Pfau & Vinyals 2016 list it among the stabilisers that GANs
    and actor-critic methods share (an actor-critic's replay buffer). The pool lives in memory and
    starts empty again when a run resumes."""

    def __init__(self, size: int):
        self.size = int(size)
        self.x: torch.Tensor | None = None
        self.z: torch.Tensor | None = None

    def __len__(self) -> int:
        return 0 if self.x is None else len(self.x)

    @torch.no_grad()
    def mix(self, fake: torch.Tensor, z: torch.Tensor, gen: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch D sees in place of (fake, z); the pool fills first, then swaps."""
        fake, z = fake.detach(), z.detach()
        room = self.size - len(self)
        if room > 0:  # filling: every new fake goes in and is shown as it is
            take = min(room, len(fake))
            self.x = fake[:take].clone() if self.x is None else torch.cat([self.x, fake[:take]])
            self.z = z[:take].clone() if self.z is None else torch.cat([self.z, z[:take]])
            if take == len(fake):
                return fake, z
        out_x, out_z = fake.clone(), z.clone()
        start = 0 if room <= 0 else take  # the ones that went in while filling are shown as they are
        dev = fake.device
        swap = torch.rand(len(fake), generator=gen, device=dev) < 0.5
        swap[:start] = False
        idx = torch.randint(0, self.size, (len(fake),), generator=gen, device=dev)
        for i in swap.nonzero().flatten().tolist():  # one at a time: two swaps may pick one slot
            j = int(idx[i])
            out_x[i], out_z[i] = self.x[j].clone(), self.z[j].clone()
            self.x[j], self.z[j] = fake[i], z[i]
        return out_x, out_z


class GeneratorAverage(nn.Module):
    """An exponential moving average of the generator (Yazıcı et al. 2019, "The unusual
    effectiveness of averaging in GAN training"): θ̄ ← β·θ̄ + (1 − β)·θ after every generator
    update, batch-norm statistics included, so it samples like a generator in eval mode. Up to
    `start` updates it is a plain copy. Training never reads it: it damps the generator's
    oscillation without changing the game."""

    def __init__(self, gen: nn.Module, decay: float, start: int):
        super().__init__()
        self.decay, self.start = decay, start
        self.net = copy.deepcopy(gen).requires_grad_(False).eval()
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))

    def train(self, mode: bool = True) -> "GeneratorAverage":
        """Always in eval mode: the average is never trained, and drawing from it must not move
        its (averaged) batch-norm statistics, whatever mode the model is in."""
        super().train(mode)
        self.net.eval()
        return self

    @torch.no_grad()
    def update(self, gen: nn.Module) -> None:
        self.updates += 1
        # the weight of the new θ, decided on the device (reading the counter would stall a GPU);
        # lerp with weight 1 returns θ exactly, so the copy phase is exact too
        w = torch.where(self.updates <= self.start, 1.0, 1.0 - self.decay)
        live = gen.state_dict()
        for k, v in self.net.state_dict().items():
            if v.is_floating_point():
                v.lerp_(live[k].to(v.dtype), w.to(v.dtype))
            else:
                v.copy_(live[k])

    @torch.no_grad()
    def restart_from(self, gen: nn.Module, updates: int) -> None:
        """Become a copy of `gen` as it stands after `updates` updates (resuming a run that had no average)."""
        self.net.load_state_dict(gen.state_dict())
        self.updates.fill_(updates)


class GenerativeModel(nn.Module):
    """Networks of one model plus the interface every page and metric uses."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        if cfg.model not in MODELS:
            raise ValueError(f"unknown model '{cfg.model}'; choose one of: {', '.join(MODELS)}")
        self.cfg = cfg
        self.spec = MODELS[cfg.model]
        self.nets = nn.ModuleDict(self.spec.nets(cfg))  # text2image-gan: "gen", "disc" and the text encoder "text"
        if cfg.init_std > 0:
            nets.init_normal_(self.nets, cfg.init_std)
        if cfg.historical_averaging > 0:
            self.history = ParameterHistory(self.nets, self.spec.groups)
        self.average = GeneratorAverage(self.nets["gen"], cfg.ema_decay, cfg.ema_start) if cfg.ema_decay > 0 else None
        self.replay = ReplayPool(cfg.replay) if cfg.replay > 0 else None
        self.sample_average = True  # eval-mode sampling draws the average when there is one; see without_average

    # --- layout
    @property
    def is_image(self) -> bool:
        return len(self.cfg.shape) == 3

    @property
    def has_encoder(self) -> bool:
        return self.spec.encoder

    @property
    def z_dim(self) -> int:
        c = self.cfg
        return c.latent_dim + c.n_categorical + c.n_continuous + (c.text_dim if self.spec.text else 0)

    def latent_layout(self) -> list[dict]:
        """The parts of z in order: continuous Gaussian dims, InfoGAN's noise, categorical and
        continuous codes."""
        c = self.cfg
        if self.spec.translator:
            return []  # a translator has no code
        if self.spec.text:
            return [{"kind": "noise", "size": c.latent_dim, "prior": "normal"},
                    {"kind": "text", "size": c.text_dim, "prior": "φ(t) of a random sprite's caption"}]
        if c.n_categorical or c.n_continuous:
            parts = [{"kind": "noise", "size": c.latent_dim, "prior": "normal"}]
            if c.n_categorical:
                parts.append({"kind": "categorical", "size": c.n_categorical, "prior": "uniform one-hot"})
            if c.n_continuous:
                parts.append({"kind": "continuous", "size": c.n_continuous, "prior": "uniform(-1, 1)"})
            return parts
        return [{"kind": "continuous", "size": c.latent_dim, "prior": "normal"}]

    def groups(self) -> dict[str, list[nn.Parameter]]:
        return {g: [p for n in names for p in self.nets[n].parameters()] for g, names in self.spec.groups.items()}

    # --- sampling z
    def prior(self, n: int, generator: torch.Generator | None = None, captions: list[str] | None = None) -> torch.Tensor:
        """n samples of p(z) on the model's device (InfoGAN: noise, one-hot code, uniform codes;
        text2image-gan: noise and φ(t), t the caption of a random sprite, or `captions[i]` when given)."""
        self._refuse_code()
        dev = self.device
        z = torch.randn(n, self.cfg.latent_dim, generator=generator, device=dev)
        if self.spec.text:
            if captions is None:
                captions = random_captions(n, generator)
            if len(captions) != n:
                raise ValueError(f"{n} samples need {n} captions, got {len(captions)}")
            return torch.cat([z, self.embed_text(captions)], 1)
        if self.cfg.n_categorical:
            k = torch.randint(self.cfg.n_categorical, (n,), generator=generator, device=dev)
            z = torch.cat([z, F.one_hot(k, self.cfg.n_categorical).float()], 1)
        if self.cfg.n_continuous:
            u = torch.rand(n, self.cfg.n_continuous, generator=generator, device=dev) * 2 - 1
            z = torch.cat([z, u], 1)
        return z

    def embed_text(self, captions: list[str]) -> torch.Tensor:
        """φ(t) (N, text_dim) of captions in genlab.captions' language (CaptionError for a word outside it)."""
        from genlab import captions as C

        ids = torch.from_numpy(C.encode(list(captions))).to(self.device)
        return self.nets["text"](ids)

    def split_codes(self, z):
        """InfoGAN: (noise, categorical one-hot, continuous) parts of z."""
        c = self.cfg
        a, b = c.latent_dim, c.latent_dim + c.n_categorical
        return z[:, :a], z[:, a:b], z[:, b:]

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    # --- the public interface
    def _decoder(self) -> nn.Module:
        """The decoder, or the generator; in eval mode its average when the model keeps one
        (training always moves and reads the generator itself)."""
        self._refuse_code()
        if "dec" in self.nets:
            return self.nets["dec"]
        if self.average is not None and self.sample_average and not self.training:
            return self.average.net
        return self.nets["gen"]

    def decode_raw(self, z):
        """Decoder output before the output non-linearity (logits for images)."""
        return self._decoder()(z)

    def decode(self, z, noise: torch.Tensor | None = None):
        """z → image in [0, 1] (mean of p(x|z), or the generator's output), or a 2-D point.

        An autoregressive decoder has no tractable mean: it draws x ~ p(x|z) pixel by pixel with the
        uniform `noise` (B or 1, 1, H, W), by default one fixed field shared by every z, so decode stays
        a function of z and a traversal's images differ only through z."""
        if self.spec.autoregressive:
            if noise is None:
                noise = torch.rand((1, *self.cfg.shape), generator=torch.Generator().manual_seed(0)).to(z.device)
            return self.nets["dec"].sample(z, noise)
        out = self.decode_raw(z)
        return torch.sigmoid(out) if self.is_image else out

    def likelihood_logits(self, z, x):
        """The decoder's logits of p(x|z) at the image x: the whole image in one pass (an autoregressive
        decoder reads the earlier pixels of x itself). What the bound's reconstruction term scores."""
        return self.nets["dec"](z, x) if self.spec.autoregressive else self.decode_raw(z)

    def encode(self, x):
        """x → (mu, logvar) of q(z|x). Only for models with an encoder."""
        if not self.has_encoder:
            raise ValueError(f"model '{self.cfg.model}' has no encoder; the VAE family, aae and vae-gan encode images")
        return self.nets["enc"](x)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None):
        z = self.prior(n, generator)
        if self.spec.autoregressive:  # a noise field of its own for each sample
            return self.decode(z, torch.rand((n, *self.cfg.shape), generator=generator, device=self.device))
        return self.decode(z)

    @torch.no_grad()
    def reconstruct(self, x):
        mu, _ = self.encode(x)
        return self.decode(mu)

    def update_steps(self) -> list[Step]:
        return self.spec.steps(self.cfg)

    # --- image translation (translators only)
    def _refuse_code(self) -> None:
        if self.spec.translator:
            raise ValueError(f"{self.cfg.model} translates images from one domain to the other and has no code z "
                             f"to sample or decode; use translate(x) (genlab translate)")

    def translator_net(self, direction: str) -> nn.Module:
        """G (a2b: A → B) or F (b2a: B → A) of a translator."""
        if not self.spec.translator:
            raise ValueError(f"{self.cfg.model} does not translate images; {', '.join(models_with('translator'))} does")
        if direction not in DIRECTIONS:
            raise ValueError(f"unknown direction '{direction}'; use {' or '.join(DIRECTIONS)}")
        return self.nets["gen" if direction == "a2b" else "gen_ba"]

    @torch.no_grad()
    def translate(self, x, direction: str = "a2b"):
        """Images of one domain (B, C, H, W) in [0, 1] → the other domain's, in [0, 1]."""
        return torch.sigmoid(self.translator_net(direction)(x))

    @torch.no_grad()
    def cycle(self, x, direction: str = "a2b"):
        """x translated and translated back: F(G(x)) for a2b, G(F(x)) for b2a."""
        back = "b2a" if direction == "a2b" else "a2b"
        return self.translate(self.translate(x, direction), back)

    @contextlib.contextmanager
    def without_average(self):
        """Within this block eval-mode sampling draws the generator itself, not its average
        (to measure what averaging bought)."""
        before, self.sample_average = self.sample_average, False
        try:
            yield self
        finally:
            self.sample_average = before


# --------------------------------------------------------------------------- shared pieces


def _fake(m: GenerativeModel, n: int, ctx: StepContext):
    z = m.prior(n, ctx.gen)
    return m.decode(z), z


def _noisy(m: GenerativeModel, x, ctx: StepContext):
    sigma = obj.instance_noise_sigma(ctx.step, m.cfg.instance_noise, m.cfg.instance_noise_steps)
    if sigma <= 0:
        return x
    return x + sigma * torch.randn(x.shape, generator=ctx.gen, device=x.device, dtype=x.dtype)


def _vae_forward(m: GenerativeModel, x, ctx: StepContext):
    mu, logvar = m.nets["enc"](x)
    z = obj.reparameterise(mu, logvar, ctx.gen)
    return mu, logvar, z, m.nets["dec"](z)


# --------------------------------------------------------------------------- VAE family steps


def beta_vae_step(m, x, ctx):
    mu, logvar, z, logits = _vae_forward(m, x, ctx)
    return obj.beta_vae(x, logits, mu, logvar, m.cfg.beta, m.cfg.resolved_likelihood)


def annealed_vae_step(m, x, ctx):
    c = m.cfg
    mu, logvar, z, logits = _vae_forward(m, x, ctx)
    return obj.annealed_vae(x, logits, mu, logvar, ctx.step, c.gamma, c.capacity, c.capacity_steps,
                            c.resolved_likelihood)


def info_vae_step(m, x, ctx):
    c = m.cfg
    mu, logvar, z, logits = _vae_forward(m, x, ctx)
    prior_z = torch.randn(z.shape, generator=ctx.gen, device=z.device)
    return obj.info_vae(x, logits, mu, logvar, z, prior_z, c.alpha, c.mmd_weight, c.resolved_likelihood)


def pixelcnn_vae_step(m, x, ctx):
    """A VAE whose decoder may read the earlier pixels (nets.PixelCNNDecoder), trained on the ELBO
    or on it with the remedies for an ignored code: free bits, KL annealing, InfoVAE's weights."""
    c = m.cfg
    mu, logvar = m.nets["enc"](x)
    z = obj.reparameterise(mu, logvar, ctx.gen)
    logits = m.nets["dec"](z, x)
    prior_z = torch.randn(z.shape, generator=ctx.gen, device=z.device) if c.alpha + c.mmd_weight != 1 else None
    return obj.vae_kept_code(x, logits, mu, logvar, z, prior_z, ctx.step, c.free_bits, c.kl_anneal_steps, c.alpha,
                             c.mmd_weight, c.resolved_likelihood)


# --------------------------------------------------------------------------- GAN family steps


def _d_score(m, x, ctx) -> dict:
    return m.nets["disc"](_noisy(m, x, ctx))


def _infogan_term(m, q, z):
    """−L_I for the fakes made from z (minimised by both players)."""
    c = m.cfg
    _, cat, cont = m.split_codes(z)
    cat_logits, cont_mean = q[:, : c.n_categorical], q[:, c.n_categorical:]
    if c.n_categorical:
        bound, parts = obj.infogan_mi_lower_bound(cat_logits, cat.argmax(1), cont_mean, cont)
    else:  # continuous codes only
        log_q = -0.5 * (cont - cont_mean).pow(2)
        bound, parts = log_q.sum(1).mean(), {"mi_cont": log_q.sum(1).mean().detach()}
    return -c.info_weight * bound, parts


def _d_loss(m, x, fake, z, ctx) -> dict:
    c = m.cfg
    dr, df = _d_score(m, x, ctx), _d_score(m, fake, ctx)
    if m.spec.critic:
        out = obj.wgan_d_loss(dr["logit"], df["logit"])
        if m.spec.gradient_penalty:
            gp = obj.gradient_penalty(lambda v: m.nets["disc"](v)["logit"], x, fake, ctx.gen)
            out["gp"] = gp.detach()
            out["loss"] = out["loss"] + c.gp_weight * gp
    else:
        out = obj.gan_d_loss(dr["logit"], df["logit"], real_target=c.label_smoothing)
        if c.r1_gamma > 0:
            r1 = obj.r1_penalty(lambda v: m.nets["disc"](v)["logit"], _noisy(m, x, ctx))
            out["r1"] = r1.detach()
            out["loss"] = out["loss"] + 0.5 * c.r1_gamma * r1
    if "q" in df:
        info, parts = _infogan_term(m, df["q"], z)
        out["loss"] = out["loss"] + info
        out.update(parts)
    return _historical_average(m, "d", out)


def _historical_average(m, group: str, out: dict) -> dict:
    """Add λ·‖θ − θ̄‖² for `group`'s parameters to the loss (Salimans et al. 2016, §3.3)."""
    lam = m.cfg.historical_averaging
    if lam > 0:
        h = obj.historical_average(m.groups()[group], m.history.means(group))
        out["hist_avg"] = h.detach()
        out["loss"] = out["loss"] + lam * h
    return out


def _g_loss(m, x, fake, z, ctx) -> dict:
    c = m.cfg
    df = _d_score(m, fake, ctx)
    if c.feature_matching:
        with torch.no_grad():
            real_f = _d_score(m, x, ctx)["features"]
        out = {"loss": obj.feature_matching(real_f, df["features"])}
    elif m.spec.critic:
        out = obj.wgan_g_loss(df["logit"])
    else:
        out = obj.gan_g_loss(df["logit"], c.gan_loss)
    if "q" in df:
        info, _ = _infogan_term(m, df["q"], z)
        out["loss"] = out["loss"] + info
    return _historical_average(m, "g", out)


def gan_d_step(m, x, ctx):
    with torch.no_grad():
        fake, z = _fake(m, x.shape[0], ctx)
        if m.replay is not None:
            fake, z = m.replay.mix(fake, z, ctx.gen)
    return _d_loss(m, x, fake, z, ctx)


def gan_g_step(m, x, ctx):
    fake, z = _fake(m, x.shape[0], ctx)
    return _g_loss(m, x, fake, z, ctx)


def consensus_step(m, x, ctx):
    """Simultaneous gradient step of both players plus γ·½‖v‖² (Mescheder et al. 2017)."""
    fake, z = _fake(m, x.shape[0], ctx)
    d = _d_loss(m, x, fake.detach(), z, ctx)
    g = _g_loss(m, x, fake, z, ctx)
    groups = m.groups()
    reg = obj.consensus_regulariser([(d["loss"], groups["d"]), (g["loss"], groups["g"])], m.cfg.consensus)
    return {"loss": {"d": d["loss"] + reg, "g": g["loss"] + reg}, "loss_d": d["loss"].detach(),
            "loss_g": g["loss"].detach(), "consensus": reg.detach()}


def clip_critic(m: GenerativeModel):
    """WGAN (Arjovsky et al. 2017): clamp the critic's weights to [−c, c] after each update."""
    with torch.no_grad():
        for p in m.nets["disc"].parameters():
            p.clamp_(-m.cfg.clip, m.cfg.clip)


def remember(*groups: str) -> Callable:
    """An `after` hook that folds the groups' new parameters into their historical means."""
    def after(m: GenerativeModel):
        params = m.groups()
        for g in groups:
            m.history.update(g, params[g])
    return after


def average_generator(m: GenerativeModel):
    """An `after` hook: fold the generator's new weights into its moving average (none when the model
    came from a checkpoint that stores only the average: its generator is that average)."""
    if m.average is not None:
        m.average.update(m.nets["gen"])


def _averaging(c: ModelConfig):
    """The generator step's averaging hook, when the config keeps an average."""
    return average_generator if c.ema_decay > 0 else None


def _then(*hooks):
    """Run the hooks that are set, in order (None when none is)."""
    hooks = [h for h in hooks if h is not None]
    if len(hooks) < 2:
        return hooks[0] if hooks else None

    def run_all(m: GenerativeModel):
        for h in hooks:
            h(m)
    return run_all


def gan_steps(c: ModelConfig) -> list[Step]:
    clip = clip_critic if MODELS[c.model].clip_weights else None
    hist = c.historical_averaging > 0
    avg = _averaging(c)
    if c.consensus > 0:
        return [Step("dg", consensus_step, None, 1, _then(clip, remember("d", "g") if hist else None, avg))]
    return [Step("d", gan_d_step, "d", c.d_steps, _then(clip, remember("d") if hist else None)),
            Step("g", gan_g_step, "g", 1, _then(remember("g") if hist else None, avg))]


def ebgan_d_step(m, x, ctx):
    with torch.no_grad():
        fake, _ = _fake(m, x.shape[0], ctx)
    real_e = m.nets["disc"](_noisy(m, x, ctx))["energy"]
    fake_e = m.nets["disc"](_noisy(m, fake, ctx))["energy"]
    return obj.ebgan_d_loss(real_e, fake_e, m.cfg.margin)


def ebgan_g_step(m, x, ctx):
    fake, _ = _fake(m, x.shape[0], ctx)
    out = m.nets["disc"](_noisy(m, fake, ctx))
    loss = out["energy"].mean()
    res = {"energy_fake": loss.detach()}
    if m.cfg.pt_weight > 0:
        pt = obj.pull_away_term(out["code"])
        loss = loss + m.cfg.pt_weight * pt
        res["pull_away"] = pt.detach()
    res["loss"] = loss
    return res


# --------------------------------------------------------------------------- the unified view's transfers (Hu et al. 2018)


def iwgan_g_step(m, x, ctx):
    """IWGAN's generator (Hu et al. 2018 §5.1): the non-saturating loss with each sample weighted by the
    discriminator's normalised density-ratio estimate. The discriminator's step is the GAN's."""
    fake, _ = _fake(m, x.shape[0], ctx)
    return obj.iwgan_g_loss(_d_score(m, fake, ctx)["logit"])


def aavae_step(m, x, ctx):
    """AAVAE's VAE update (Hu et al. 2018 §5.2): the ELBO on real data plus, with weight
    `adversary_weight`, the ELBO on the VAE's own samples, each weighted by D(x̃)."""
    c = m.cfg
    mu, logvar, z, logits = _vae_forward(m, x, ctx)
    with torch.no_grad():  # the samples are extra data: no gradient flows into how they were made
        fake = m.decode(m.prior(x.shape[0], ctx.gen))
        d_logit = m.nets["disc"](fake)["logit"]
    f_mu, f_logvar, _, f_logits = _vae_forward(m, fake, ctx)
    return obj.aavae(x, logits, mu, logvar, fake, f_logits, f_mu, f_logvar, d_logit, c.adversary_weight, c.beta,
                     c.resolved_likelihood)


def aavae_d_step(m, x, ctx):
    """AAVAE's discriminator: real data against the VAE's samples (the GAN's discriminator loss)."""
    with torch.no_grad():
        fake = m.decode(m.prior(x.shape[0], ctx.gen))
    return obj.gan_d_loss(_d_score(m, x, ctx)["logit"], _d_score(m, fake, ctx)["logit"], m.cfg.label_smoothing)


# --------------------------------------------------------------------------- image translation (Zhu et al. 2017)

DIRECTIONS = ("a2b", "b2a")


def split_domains(x):
    """A translator's batch: its first half from domain A, the rest from domain B (two-domain datasets such
    as dsprites-squares-ellipses sample them so; on a one-domain dataset both halves come from it)."""
    n = x.shape[0]
    if n < 2:
        raise ValueError(f"a translator's batch needs at least 2 images, one from each domain (got {n})")
    return x[: n // 2], x[n // 2:]


def cyclegan_d_step(m, x, ctx):
    """Both discriminators, least squares (Zhu et al. 2017 eq. 1 with Mao et al.'s loss): D_B tells real
    B from G(a), D_A real A from F(b)."""
    a, b = split_domains(x)
    with torch.no_grad():
        fake_b, fake_a = torch.sigmoid(m.nets["gen"](a)), torch.sigmoid(m.nets["gen_ba"](b))
    d_b = obj.lsgan_d_loss(m.nets["disc"](b)["logit"], m.nets["disc"](fake_b)["logit"])
    d_a = obj.lsgan_d_loss(m.nets["disc_a"](a)["logit"], m.nets["disc_a"](fake_a)["logit"])
    return {"loss": d_b["loss"] + d_a["loss"], "d_b": d_b["loss"].detach(), "d_a": d_a["loss"].detach()}


def cyclegan_g_step(m, x, ctx):
    """Both generators: fool the other domain's discriminator, plus λ·cycle loss (Zhu et al. 2017 eq. 3),
    plus the identity loss when its weight is set."""
    c = m.cfg
    a, b = split_domains(x)
    G, F_ = m.nets["gen"], m.nets["gen_ba"]
    fake_b, fake_a = torch.sigmoid(G(a)), torch.sigmoid(F_(b))
    adv = obj.lsgan_g_loss(m.nets["disc"](fake_b)["logit"])["loss"] + obj.lsgan_g_loss(m.nets["disc_a"](fake_a)["logit"])["loss"]
    cyc = obj.cycle_loss(a, torch.sigmoid(F_(fake_b)), b, torch.sigmoid(G(fake_a)), c.cycle_weight)
    loss = adv + cyc["loss"]
    out = {"adv": adv.detach(), "cycle_a": cyc["cycle_a"], "cycle_b": cyc["cycle_b"]}
    if c.identity_weight > 0:
        idt = obj.identity_loss(a, torch.sigmoid(F_(a)), b, torch.sigmoid(G(b)), c.identity_weight)["loss"]
        loss = loss + idt
        out["identity"] = idt.detach()
    out["loss"] = loss
    return out


# --------------------------------------------------------------------------- text to image (survey §3.2)


def random_captions(n: int, generator: torch.Generator | None = None) -> list[str]:
    """Captions of n random sprites (factors uniform, template seeds random), drawn with `generator`."""
    from genlab import captions as C
    from genlab import dsprites

    dev = generator.device if generator is not None else torch.device("cpu")
    sizes = torch.tensor(dsprites.FACTOR_SIZES[1:], device=dev)
    factors = (torch.rand(n, 5, generator=generator, device=dev) * sizes).long().clamp_max(sizes - 1)
    seeds = torch.randint(1 << 30, (n,), generator=generator, device=dev)
    return C.captions_for(factors.cpu().numpy(), seeds.cpu().numpy())


def held_out_captions() -> frozenset:
    """The caption strings text2image-gan never trains on: the 36 corner captions its bar is measured
    on (genlab.applications.corner_captions, "a large heart at the bottom left"). Their meanings are
    trained, said in other ways ("the big heart sits in the lower left corner")."""
    from genlab.applications import corner_captions

    return frozenset(corner_captions())


def _training_captions(factors, seeds) -> list[str]:
    """A true caption of each row of factors, never one of held_out_captions(): a held-out string is
    replaced by the caption of the next template seed that is not one."""
    from genlab import captions as C

    held = held_out_captions()
    out = []
    for f, s in zip(factors, seeds):
        s = int(s)
        text = C.caption(f, s)
        while text in held:
            s += 1
            text = C.caption(f, s)
        out.append(text)
    return out


def _batch_factors(m: GenerativeModel, x, ctx: StepContext):
    batch = ctx.batch or {}
    if "factors" not in batch:
        raise ValueError(f"{m.cfg.model} captions each training image from its factors, and this batch has none: "
                         f"train it on dsprites")
    return batch["factors"].cpu().numpy()[: x.shape[0]]


def _seeds(n: int, ctx: StepContext):
    return torch.randint(1 << 30, (n,), generator=ctx.gen, device=ctx.gen.device).cpu().numpy()


def _batch_captions(m: GenerativeModel, x, ctx: StepContext) -> list[str]:
    """A true caption of each image of the batch, from its ground-truth factors (template seeds drawn
    with the step's generator, so the model meets every way of saying a meaning; never a held-out one)."""
    factors = _batch_factors(m, x, ctx)
    return _training_captions(factors, _seeds(len(factors), ctx))


def mismatched_factors(factors, which, rng):
    """The factor classes (N, 5) with, in row i, the factor `which[i]` (0 shape, 1 size, 2 place) moved
    to another caption bin, drawn with the numpy Generator `rng`: another shape; a scale of another
    size (small 0-1, medium 2-3, large 4-5); a position of another place (the column, the row or both
    in another third). Every other factor is kept, so the caption of a row differs from a true caption
    of the image in that factor's meaning alone (a changed shape changes how its rotation is said)."""
    import numpy as np

    from genlab import captions as C

    f = np.array(factors, dtype=np.int64, copy=True)
    thirds = [np.nonzero(C.THIRD_OF_POS == t)[0] for t in range(3)]
    for i, w in enumerate(np.asarray(which)):
        if w == 0:
            f[i, 0] = (f[i, 0] + rng.integers(1, 3)) % 3
        elif w == 1:
            size = (C.SIZE_OF_SCALE[f[i, 1]] + rng.integers(1, 3)) % 3
            f[i, 1] = 2 * size + rng.integers(0, 2)
        else:
            col, row = C.THIRD_OF_POS[f[i, 3]], C.THIRD_OF_POS[f[i, 4]]
            place = (3 * row + col + rng.integers(1, 9)) % 9  # one of the 8 other places
            f[i, 3], f[i, 4] = rng.choice(thirds[place % 3]), rng.choice(thirds[place // 3])
    return f


def _mismatched_captions(m: GenerativeModel, x, ctx: StepContext, texts: list[str]) -> list[str]:
    """GAN-CLS's mismatched text per image (--mismatch): 'roll' = the caption of the image before it
    in the batch (Reed et al.: any text that does not match); 'swap' = a caption of the image's own
    factors with one of shape, size or place changed, a third of the time each, so the discriminator
    must check every factor the caption names (rolled captions of random sprites differ mostly in
    place: 8 of 9 name another place, 2 of 3 another size); 'mix' = each, half of the time."""
    import numpy as np

    rolled = texts[-1:] + texts[:-1]
    if m.cfg.mismatch == "roll":
        return rolled
    factors = _batch_factors(m, x, ctx)
    n = len(factors)
    rng = np.random.default_rng(int(torch.randint(1 << 62, (1,), generator=ctx.gen, device=ctx.gen.device)))
    swapped = _training_captions(mismatched_factors(factors, rng.integers(0, 3, n), rng), _seeds(n, ctx))
    if m.cfg.mismatch == "swap":
        return swapped
    use_roll = rng.random(n) < 0.5
    return [r if u else s for r, s, u in zip(rolled, swapped, use_roll)]


def _t2i_fake(m: GenerativeModel, h, ctx: StepContext):
    """G(z, φ(t)) in [0, 1] for noise z ~ N(0, I) and the given embeddings h (B, text_dim)."""
    z = torch.randn(h.shape[0], m.cfg.latent_dim, generator=ctx.gen, device=h.device)
    return torch.sigmoid(m.nets["gen"](torch.cat([z, h], 1)))


def text2image_d_step(m, x, ctx):
    """GAN-CLS's discriminator step (Reed et al. 2016, Alg. 1, lines 3-9): the text encoder is D's, so
    it learns the words that tell a matching pair from a mismatched one. The mismatched text ĥ is
    chosen by --mismatch (_mismatched_captions)."""
    texts = _batch_captions(m, x, ctx)
    wrong = _mismatched_captions(m, x, ctx, texts)
    ids = torch.from_numpy(_captions_ids(texts + wrong)).to(x.device)  # one padding for both
    h, h_wrong = m.nets["text"](ids).split(len(texts))
    with torch.no_grad():
        fake = _t2i_fake(m, h.detach(), ctx)
    disc = m.nets["disc"]
    return obj.gan_cls_d_loss(disc(x, h)["logit"], disc(x, h_wrong)["logit"], disc(fake, h)["logit"],
                              real_target=m.cfg.label_smoothing)


def text2image_g_step(m, x, ctx):
    """GAN-CLS's generator step: −log D(G(z, h), h), non-saturating; with --gan-int, plus its weight
    times the same loss at the midpoints h = ½(h1 + h2) of two captions' embeddings (GAN-INT, Reed et
    al. 2016, §4.3, β = 0.5), where there is no real image, only D's judgement of the pair."""
    with torch.no_grad():
        h = m.nets["text"](torch.from_numpy(_captions_ids(_batch_captions(m, x, ctx))).to(x.device))
    disc = m.nets["disc"]
    loss = F.softplus(-disc(_t2i_fake(m, h, ctx), h)["logit"]).mean()
    out = {"g_cls": loss.detach()}
    if m.cfg.gan_int > 0:
        h_int = 0.5 * (h + h.roll(1, 0))
        g_int = F.softplus(-disc(_t2i_fake(m, h_int, ctx), h_int)["logit"]).mean()
        out["g_int"] = g_int.detach()
        loss = loss + m.cfg.gan_int * g_int
    out["loss"] = loss
    return out


def _cyclegan_nets(c):
    w = 32 * c.conv_width
    return {"gen": nets.Translator(c.shape, w), "gen_ba": nets.Translator(c.shape, w),
            "disc": nets.PatchDiscriminator(c.shape, w), "disc_a": nets.PatchDiscriminator(c.shape, w)}
def _captions_ids(texts: list[str]):
    from genlab import captions as C

    return C.encode(texts)


T2I_HIDDEN = 128  # text2image-gan's FC width (256 elsewhere): its float16 checkpoints stay under 1 MB


def _text2image_nets(c):
    from genlab import captions as C

    return {"gen": nets.Decoder(c.shape, c.latent_dim + c.text_dim, batch_norm=_g_norm(c), hidden=T2I_HIDDEN),
            "disc": nets.MatchingDiscriminator(c.shape, c.text_dim, hidden=T2I_HIDDEN),
            "text": nets.TextEncoder(len(C.VOCAB), c.text_dim)}


# --------------------------------------------------------------------------- hybrids


def aae_rec_step(m, x, ctx):
    """Adversarial autoencoder, reconstruction phase (Makhzani et al. 2016, §2)."""
    mu, logvar, z, logits = _vae_forward(m, x, ctx)
    rec = obj.reconstruction_nll(logits, x, m.cfg.resolved_likelihood).mean()
    return {"loss": rec, "rec": rec, "kl_per_dim": obj.gaussian_kl(mu, logvar).mean(0).detach()}


def aae_d_step(m, x, ctx):
    """Regularisation phase, discriminator: prior samples are 'real', codes of data are 'fake'."""
    with torch.no_grad():
        mu, logvar = m.nets["enc"](x)
        z_q = obj.reparameterise(mu, logvar, ctx.gen)
    z_p = m.prior(x.shape[0], ctx.gen)
    return obj.gan_d_loss(m.nets["zdisc"](z_p)["logit"], m.nets["zdisc"](z_q)["logit"], m.cfg.label_smoothing)


def aae_g_step(m, x, ctx):
    """Regularisation phase, encoder: make the aggregate posterior q(z) look like the prior."""
    mu, logvar = m.nets["enc"](x)
    z_q = obj.reparameterise(mu, logvar, ctx.gen)
    return obj.gan_g_loss(m.nets["zdisc"](z_q)["logit"], "non-saturating")


def vae_gan_step(m, x, ctx):
    """VAE-GAN (Larsen et al. 2016, Alg. 1): reconstruction measured in a discriminator layer.
    encoder: KL + L_llike; decoder: γ·L_llike − L_GAN; discriminator: L_GAN.

    vaegan_pixel > 0 adds w·(−log p(x|z)) in pixel space to the encoder's and decoder's loss. Alg. 1
    alone gives the encoder no signal until D's features tell a reconstruction from its image, and
    on dSprites D has won by then: the KL falls to 0 and the samples go blank (genlab's measurement,
    docs/results/blur-vs-sharpness.md). The pixel term keeps the VAE learning while D's features
    become useful."""
    c = m.cfg
    mu, logvar, z, logits = _vae_forward(m, x, ctx)
    x_tilde = torch.sigmoid(logits) if m.is_image else logits
    x_p, _ = _fake(m, x.shape[0], ctx)
    d_real, d_rec, d_p = (m.nets["disc"](_noisy(m, v, ctx)) for v in (x, x_tilde, x_p))
    kl_dim = obj.gaussian_kl(mu, logvar).mean(0)
    kl = kl_dim.sum()
    # Gaussian observation model on the discriminator's features: ½‖Dis_l(x) − Dis_l(x̃)‖²
    llike = 0.5 * (d_real["features"] - d_rec["features"]).pow(2).sum(1).mean()
    ones = torch.full_like(d_real["logit"], c.label_smoothing)
    zeros = torch.zeros_like(d_real["logit"])
    bce = F.binary_cross_entropy_with_logits
    gan_d = bce(d_real["logit"], ones) + bce(d_rec["logit"], zeros) + bce(d_p["logit"], zeros)
    gan_g = F.softplus(-d_rec["logit"]).mean() + F.softplus(-d_p["logit"]).mean()  # non-saturating
    out = {"kl": kl.detach(), "llike": llike.detach(), "gan_d": gan_d.detach(), "gan_g": gan_g.detach(),
           "kl_per_dim": kl_dim.detach()}
    enc, dec = kl + llike, c.vaegan_gamma * llike + gan_g
    if c.vaegan_pixel > 0:
        rec = obj.reconstruction_nll(logits, x, c.resolved_likelihood).mean()
        enc, dec = enc + c.vaegan_pixel * rec, dec + c.vaegan_pixel * rec
        out["rec"] = rec.detach()
    return {"loss": {"enc": enc, "dec": dec, "d": gan_d}, **out}


# --------------------------------------------------------------------------- the registry


def _mlp(c):
    return {"mlp_width": c.mlp_width, "mlp_layers": c.mlp_layers}


def _d_mlp(c):
    return {"mlp_width": c.d_mlp_width or c.mlp_width, "mlp_layers": c.d_mlp_layers or c.mlp_layers}


def _g_norm(c):
    """The generator's (decoder's) normalisation: "virtual", True (batch norm) or False."""
    return "virtual" if c.virtual_batch_norm else c.batch_norm


def _vae_nets(c):
    return {"enc": nets.Encoder(c.shape, c.latent_dim, **_mlp(c)),
            "dec": nets.Decoder(c.shape, c.latent_dim, batch_norm=_g_norm(c), **_mlp(c))}


MAX_PIXELCNN_SIDE = 32  # 1,024 sequential steps per sample; dSprites' 64×64 would take 4,096 (13 s for 5 images)
PIXELCNN_HIDDEN = 64  # pixelcnn-vae's FC width (256 elsewhere): its float16 checkpoints stay near 0.5 MB


def _pixelcnn_vae_nets(c):
    return {"enc": nets.Encoder(c.shape, c.latent_dim, hidden=PIXELCNN_HIDDEN),
            "dec": nets.PixelCNNDecoder(c.shape, c.latent_dim, c.pixel_reach, channels=c.pixel_channels,
                                        blocks=c.pixel_blocks, hidden=PIXELCNN_HIDDEN)}


def _gan_nets(c):
    z = c.latent_dim + c.n_categorical + c.n_continuous
    extra = c.n_categorical + c.n_continuous
    return {"gen": nets.Decoder(c.shape, z, batch_norm=_g_norm(c), conv_width=c.conv_width, **_mlp(c)),
            "disc": nets.Discriminator(c.shape, c.minibatch_discrimination, extra_out=extra, pack=c.pack,
                                       maxout=c.maxout, conv_width=c.conv_width, **_d_mlp(c))}


def _vae_steps(fn):
    return lambda c: [Step("vae", fn, "vae")]


_VAE_GROUPS = {"vae": ["enc", "dec"]}
_GAN_GROUPS = {"d": ["disc"], "g": ["gen"]}
_DCGAN_ADAM = {"lr": 2e-4, "adam_beta1": 0.5, "adam_beta2": 0.999}

_GAN_TRICKS = ("gan_loss", "d_steps", "feature_matching", "minibatch_discrimination", "label_smoothing",
               "instance_noise", "consensus", "historical_averaging", "ema_decay", "replay", "r1_gamma")

MODELS: dict[str, ModelSpec] = {
    "vae": ModelSpec("vae", "vae", "Kingma & Welling 2014, Auto-Encoding Variational Bayes",
                     "the ELBO with the reparameterisation trick: the baseline every VAE is measured against",
                     _vae_nets, _VAE_GROUPS, _vae_steps(beta_vae_step), {"beta": 1.0},
                     fields=("latent_dim", "beta", "likelihood"), encoder=True, knob="beta", stackable=True),
    "beta-vae": ModelSpec("beta-vae", "vae", "Higgins et al. 2017, β-VAE",
                          "β > 1 on the KL term trades reconstruction for disentangled latents",
                          _vae_nets, _VAE_GROUPS, _vae_steps(beta_vae_step), {"beta": 4.0},
                          fields=("latent_dim", "beta", "likelihood"), example="--data dsprites --beta 4",
                          encoder=True, knob="beta", stackable=True),
    "annealed-vae": ModelSpec("annealed-vae", "vae", "Burgess et al. 2018, Understanding disentangling in β-VAE",
                              "γ·|KL − C| with the capacity C raised linearly: latents switch on one by one",
                              _vae_nets, _VAE_GROUPS, _vae_steps(annealed_vae_step),
                              {"gamma": 1000.0, "capacity": 25.0, "capacity_steps": 100_000},
                              fields=("latent_dim", "gamma", "capacity", "capacity_steps", "likelihood"),
                              example="--data dsprites --gamma 100 --capacity 25 --capacity-steps 10000",
                              encoder=True, capacity_schedule=True),
    "info-vae": ModelSpec("info-vae", "vae", "Zhao, Song & Ermon 2019, InfoVAE",
                          "MMD between the aggregate posterior and the prior instead of a per-sample KL",
                          _vae_nets, _VAE_GROUPS, _vae_steps(info_vae_step), {"alpha": 1.0, "mmd_weight": 1000.0},
                          fields=("latent_dim", "alpha", "mmd_weight", "likelihood"),
                          example="--data dsprites --mmd-weight 1000", encoder=True),
    "pixelcnn-vae": ModelSpec("pixelcnn-vae", "vae", "van den Oord et al. 2016, PixelCNN; Chen et al. 2017, VLAE",
                              "a PixelCNN decoder strong enough to ignore the code; its reach and the remedies "
                              "(free bits, KL annealing, InfoVAE) are options",
                              _pixelcnn_vae_nets, _VAE_GROUPS, _vae_steps(pixelcnn_vae_step),
                              {"pixel_reach": 7, "alpha": 0.0, "mmd_weight": 1.0, "lr": 1e-3},
                              fields=("latent_dim", "pixel_reach", "pixel_channels", "pixel_blocks", "free_bits",
                                      "kl_anneal_steps", "alpha", "mmd_weight"),
                              example="--data digits-binary --pixel-reach 7", inputs=("images",), encoder=True,
                              autoregressive=True, code_remedies=True),
    "gan": ModelSpec("gan", "gan", "Goodfellow et al. 2014, Generative Adversarial Nets",
                     "the minimax game; the non-saturating generator loss by default (--gan-loss minimax for eq. 2)",
                     _gan_nets, _GAN_GROUPS, gan_steps, dict(_DCGAN_ADAM),
                     fields=("latent_dim",) + _GAN_TRICKS, example="--data ring --label-smoothing 0.9 --instance-noise 0.1",
                     gan_game=True, plain_discriminator=True, drs=True),
    "wgan": ModelSpec("wgan", "gan", "Arjovsky, Chintala & Bottou 2017, Wasserstein GAN",
                      "a critic estimating the Wasserstein-1 distance, kept Lipschitz by weight clipping",
                      _gan_nets, _GAN_GROUPS, gan_steps,
                      {"optimizer": "rmsprop", "lr": 5e-5, "d_steps": 5, "clip": 0.01},
                      fields=("latent_dim", "d_steps", "clip", "feature_matching", "instance_noise", "historical_averaging",
                              "ema_decay"),
                      example="--data ring --n-critic 5 --clip 0.01",
                      gan_game=True, critic=True, clip_weights=True, plain_discriminator=True),
    "wgan-gp": ModelSpec("wgan-gp", "gan", "Gulrajani et al. 2017, Improved Training of Wasserstein GANs",
                         "WGAN with a gradient penalty instead of clipping: the practical default",
                         _gan_nets, _GAN_GROUPS, gan_steps,
                         {"lr": 1e-4, "adam_beta1": 0.5, "adam_beta2": 0.9, "d_steps": 5, "gp_weight": 10.0},
                         fields=("latent_dim", "d_steps", "gp_weight", "feature_matching", "minibatch_discrimination",
                                 "instance_noise", "consensus", "historical_averaging", "ema_decay"),
                         example="--data ring --gp-weight 10 --n-critic 5",
                         gan_game=True, critic=True, gradient_penalty=True, plain_discriminator=True),
    "infogan": ModelSpec("infogan", "gan", "Chen et al. 2016, InfoGAN",
                         "maximises the mutual information between codes and samples: unsupervised factors",
                         _gan_nets, _GAN_GROUPS, gan_steps,
                         {"lr_d": 2e-4, "lr_g": 1e-3, "adam_beta1": 0.5, "n_categorical": 3, "n_continuous": 5,
                          "latent_dim": 5, "info_weight": 1.0},
                         fields=("latent_dim", "n_categorical", "n_continuous", "info_weight", "d_steps", "label_smoothing",
                                 "historical_averaging", "ema_decay", "r1_gamma"),
                         example="--data dsprites --n-categorical 3 --n-continuous 5", gan_game=True, drs=True, codes=True),
    "ebgan": ModelSpec("ebgan", "gan", "Zhao, Mathieu & LeCun 2017, Energy-based GAN",
                       "an auto-encoder discriminator whose reconstruction error is the energy",
                       lambda c: {"gen": nets.Decoder(c.shape, c.latent_dim, batch_norm=_g_norm(c), **_mlp(c)),
                                  "disc": nets.AutoEncoderDiscriminator(c.shape)},
                       _GAN_GROUPS,
                       lambda c: [Step("d", ebgan_d_step, "d", c.d_steps),
                                  Step("g", ebgan_g_step, "g", 1, _averaging(c))],
                       dict(_DCGAN_ADAM, margin=0.1, pt_weight=0.1),
                       fields=("latent_dim", "margin", "pt_weight", "d_steps", "instance_noise", "ema_decay"),
                       example="--data ring --margin 0.1 --pt-weight 0.1"),
    "aae": ModelSpec("aae", "hybrid", "Makhzani et al. 2016, Adversarial Autoencoders",
                     "reconstruction plus a discriminator that matches the aggregate q(z) to the prior",
                     lambda c: dict(_vae_nets(c), zdisc=nets.LatentDiscriminator(c.latent_dim)),
                     {"ae": ["enc", "dec"], "d": ["zdisc"], "enc": ["enc"]},
                     lambda c: [Step("rec", aae_rec_step, "ae"), Step("d", aae_d_step, "d", c.d_steps),
                                Step("g", aae_g_step, "enc")],
                     dict(_DCGAN_ADAM), fields=("latent_dim", "d_steps", "label_smoothing", "likelihood"),
                     example="--data dsprites --d-steps 1", encoder=True),
    "vae-gan": ModelSpec("vae-gan", "hybrid", "Larsen et al. 2016, Autoencoding beyond pixels (VAE-GAN)",
                         "reconstruction error measured in a discriminator's feature layer, plus the GAN loss",
                         lambda c: dict(_vae_nets(c), disc=nets.Discriminator(c.shape, c.minibatch_discrimination)),
                         {"enc": ["enc"], "dec": ["dec"], "d": ["disc"]},
                         lambda c: [Step("vae-gan", vae_gan_step, None)],
                         dict(_DCGAN_ADAM, vaegan_gamma=1.0, vaegan_pixel=1.0),
                         fields=("latent_dim", "vaegan_gamma", "vaegan_pixel", "label_smoothing", "minibatch_discrimination"),
                         example="--data dsprites --vaegan-gamma 1 --vaegan-pixel 1", encoder=True),
    "cyclegan": ModelSpec("cyclegan", "translation", "Zhu et al. 2017, Unpaired Image-to-Image Translation (CycleGAN)",
                          "two generators G: A → B and F: B → A, least-squares discriminators and the cycle loss; "
                          "translates one domain of unpaired images into another (genlab translate)",
                          _cyclegan_nets, {"d": ["disc", "disc_a"], "g": ["gen", "gen_ba"]},
                          lambda c: [Step("d", cyclegan_d_step, "d"), Step("g", cyclegan_g_step, "g")],
                          dict(_DCGAN_ADAM, cycle_weight=10.0, identity_weight=0.0),
                          fields=("cycle_weight", "identity_weight"), example="--data dsprites-squares-ellipses",
                          inputs=("images",), translator=True),
    "iwgan": ModelSpec("iwgan", "gan", "Hu et al. 2018, On Unifying Deep Generative Models (importance weighted GAN)",
                       "the GAN with each generated sample's gradient weighted by D's density-ratio estimate, "
                       "normalised over the batch: importance weighting moved from VAEs into GANs",
                       _gan_nets, _GAN_GROUPS,
                       lambda c: [Step("d", gan_d_step, "d", c.d_steps), Step("g", iwgan_g_step, "g", 1, _averaging(c))],
                       dict(_DCGAN_ADAM), fields=("latent_dim", "d_steps", "label_smoothing", "instance_noise", "ema_decay"),
                       example="--data ring", plain_discriminator=True, drs=True),
    "aavae": ModelSpec("aavae", "hybrid", "Hu et al. 2018, On Unifying Deep Generative Models (adversary activated VAE)",
                       "the VAE also trained on its own samples, each weighted by a discriminator's belief that it is "
                       "real: the adversarial mechanism moved from GANs into VAEs",
                       lambda c: dict(_vae_nets(c), disc=nets.Discriminator(c.shape)),
                       {"vae": ["enc", "dec"], "d": ["disc"]},
                       lambda c: [Step("vae", aavae_step, "vae"), Step("d", aavae_d_step, "d", c.d_steps)],
                       {"adversary_weight": 1.0, "lr": 1e-4},
                       fields=("latent_dim", "beta", "adversary_weight", "d_steps", "likelihood"),
                       example="--data digits --adversary-weight 1", encoder=True),
    "text2image-gan": ModelSpec("text2image-gan", "gan", "Reed et al. 2016, Generative Adversarial Text to Image "
                                "Synthesis (GAN-CLS, GAN-INT)",
                                "draws what a caption says: G(z, φ(t)) against a matching-aware discriminator, on "
                                "dSprites' captions (genlab.captions)",
                                _text2image_nets, {"d": ["disc", "text"], "g": ["gen"]},
                                lambda c: [Step("d", text2image_d_step, "d", c.d_steps),
                                           Step("g", text2image_g_step, "g", 1, _averaging(c))],
                                dict(_DCGAN_ADAM, batch_norm=True, text_dim=16),
                                fields=("latent_dim", "text_dim", "gan_int", "mismatch", "d_steps", "label_smoothing", "ema_decay"),
                                example="--data dsprites --gan-int 1", inputs=("images",), text=True),
}


def models_with(trait: str) -> list[str]:
    """The registered models whose ModelSpec has `trait` set, in registry order (for messages)."""
    return [name for name, spec in MODELS.items() if getattr(spec, trait)]


def make_config(model: str, data: str, shape: tuple, **overrides) -> ModelConfig:
    """A config for `model` on `data`: dataclass defaults, then the paper's, then `overrides`
    (None values are ignored, so CLI options left unset keep the paper's defaults)."""
    if model not in MODELS:
        raise ValueError(f"unknown model '{model}'; choose one of: {', '.join(MODELS)}")
    values = dict(MODELS[model].defaults)
    values.update({k: v for k, v in overrides.items() if v is not None})
    cfg = ModelConfig.from_dict(dict(values, model=model, data=data, shape=tuple(shape)))
    validate_config(cfg)
    return cfg


_DEFAULT = _defaults()
def _has_factors(data: str) -> bool:
    from genlab.data import DATASETS

    return data in DATASETS and DATASETS[data].has_factors


def _applies_to(trait: str) -> str:
    return ", ".join(models_with(trait))


def validate_config(c: ModelConfig) -> None:
    """Refuse, in one sentence, a config its model cannot train: every setting within its range and
    choices (its `option`), then what applies where, read from the model's ModelSpec traits."""
    if c.model not in MODELS:
        raise ValueError(f"unknown model '{c.model}'; choose one of: {', '.join(MODELS)}")
    spec = MODELS[c.model]
    if len(c.shape) == 3:
        nets.check_image_shape(c.shape)
    elif tuple(c.shape) != (2,):
        raise ValueError(f"data shape {tuple(c.shape)} is not supported: genlab models take images or 2-D points")
    kind = "images" if len(c.shape) == 3 else "points"
    if kind not in spec.inputs:
        raise ValueError(f"{c.model} trains on {' or '.join(spec.inputs)}, not on {kind}")
    for name in options():
        problem = field_problem(name, getattr(c, name))
        if problem:
            raise ValueError(problem)
    if c.batch_norm and c.virtual_batch_norm:
        raise ValueError("choose batch norm or virtual batch norm for the generator, not both")
    if c.virtual_batch_norm and (spec.codes or spec.text):
        raise ValueError(f"virtual batch norm draws its reference batch from N(0, I), which is not {c.model}'s code prior; "
                         f"use --batch-norm")
    if spec.text and not _has_factors(c.data):
        raise ValueError(f"{c.model} learns from captions made of a dataset's ground-truth factors: train it on "
                         f"dsprites, not {c.data}")
    if c.gan_int > 0 and not spec.text:
        raise ValueError(f"GAN-INT interpolates between captions: it applies to {_applies_to('text')}, not {c.model}")
    if spec.codes and c.n_categorical + c.n_continuous == 0:
        raise ValueError(f"{c.model} needs at least one code: set --n-categorical or --n-continuous")
    if c.consensus > 0 and not spec.gan_game:
        raise ValueError(f"consensus optimisation applies to the game of a classifier or critic D against G "
                         f"({_applies_to('gan_game')}), not {c.model}")
    if c.pack > 1 and not spec.plain_discriminator:
        raise ValueError(f"packing (PacGAN) applies to {_applies_to('plain_discriminator')}, not {c.model}")
    if c.historical_averaging > 0 and not spec.gan_game:
        raise ValueError(f"historical averaging applies to {_applies_to('gan_game')}, not {c.model}")
    if c.ema_decay > 0 and spec.family != "gan":
        raise ValueError(f"generator averaging applies to the GAN family ({', '.join(k for k, v in MODELS.items() if v.family == 'gan')}), "
                         f"not {c.model}")
    if c.pixel_reach > 0 and not spec.autoregressive:
        raise ValueError(f"a decoder's reach over earlier pixels applies to {_applies_to('autoregressive')}, not {c.model}")
    if spec.autoregressive:
        if c.shape[0] != 1:
            raise ValueError(f"{c.model} draws grey images pixel by pixel: one channel, not {c.shape[0]}")
        if c.shape[1] > MAX_PIXELCNN_SIDE:
            raise ValueError(f"{c.model} draws an image in {c.shape[1] * c.shape[2]:,} sequential steps at "
                             f"{c.shape[1]}×{c.shape[2]}: it takes images of at most {MAX_PIXELCNN_SIDE}×"
                             f"{MAX_PIXELCNN_SIDE}, such as digits-binary")
        if c.pixel_reach > c.shape[1] - 1:
            raise ValueError(f"a reach of {c.pixel_reach} is more than a {c.shape[1]}×{c.shape[2]} image holds: "
                             f"{c.shape[1] - 1} already sees every earlier pixel")
        if c.resolved_likelihood != "bernoulli":
            raise ValueError(f"{c.model} draws each pixel from a Bernoulli: use --likelihood bernoulli (or auto)")
    if (c.cycle_weight != _DEFAULT["cycle_weight"] or c.identity_weight > 0) and not spec.translator:
        raise ValueError(f"the cycle and identity weights apply to {_applies_to('translator')}, not {c.model}")
    if c.adversary_weight != _DEFAULT["adversary_weight"] and "adversary_weight" not in spec.fields:
        raise ValueError(f"the adversary weight applies to "
                         f"{', '.join(k for k, v in MODELS.items() if 'adversary_weight' in v.fields)}, not {c.model}")
    if c.replay > 0 and c.consensus > 0:
        raise ValueError("experience replay and consensus optimisation do not combine: consensus takes one "
                         "simultaneous step of both players on the same fakes; switch one off")
    if c.replay > 0 and not any(st.fn is gan_d_step for st in spec.steps(c)):
        raise ValueError(f"experience replay (--replay) applies to the discriminator step of "
                         f"{', '.join(k for k, v in MODELS.items() if v.nets is _gan_nets)}, not {c.model}")
    if c.r1_gamma > 0 and (spec.critic or not any(st.fn is gan_d_step for st in spec.steps(c))):
        raise ValueError(f"the R1 penalty (--r1-gamma) applies to the classifier discriminator of "
                         f"{', '.join(k for k, v in MODELS.items() if v.nets is _gan_nets and not v.critic)}, "
                         f"not {c.model}")
    if c.conv_width != 1 and (spec.nets not in (_gan_nets, _cyclegan_nets) or kind != "images"):
        raise ValueError(f"--conv-width applies to the image nets of "
                         f"{', '.join(k for k, v in MODELS.items() if v.nets in (_gan_nets, _cyclegan_nets))}, "
                         f"not to {c.model} on {c.data}")
    if (c.free_bits > 0 or c.kl_anneal_steps > 0) and not spec.code_remedies:
        raise ValueError(f"free bits and KL annealing apply to {_applies_to('code_remedies')}, not {c.model}")
    if c.maxout > 1 and (kind != "points" or not spec.plain_discriminator):
        raise ValueError(f"maxout units apply to the discriminator of {_applies_to('plain_discriminator')} on 2-D points "
                         f"(ring, grid)")


def build_optimizers(model: GenerativeModel) -> dict[str, torch.optim.Optimizer]:
    """One optimiser per parameter group. D-like groups use lr_d, G-like groups lr_g (TTUR,
    Heusel et al. 2017) when set, else lr."""
    c = model.cfg
    opts = {}
    for g, params in model.groups().items():
        lr = c.lr
        if g == "d" and c.lr_d is not None:
            lr = c.lr_d
        elif g in ("g", "dec") and c.lr_g is not None:
            lr = c.lr_g
        if c.optimizer == "rmsprop":
            opts[g] = torch.optim.RMSprop(params, lr=lr)
        elif c.optimizer == "adam":
            opts[g] = torch.optim.Adam(params, lr=lr, betas=(c.adam_beta1, c.adam_beta2))
        else:
            raise ValueError(f"unknown optimizer '{c.optimizer}'; use adam or rmsprop")
    return opts
