"""Image to text on dSprites: a captioner trained by maximum likelihood, or as a conditional GAN with
policy gradient (Dai, Fidler, Urtasun & Lin 2017, "Towards Diverse and Natural Image Descriptions via
a Conditional GAN"), measured against the sprites' true factors.

* The generator G(I, z) reads the image (genlab.nets.ConvBody) and a noise vector z, starts a GRU from
  them and emits words of genlab.captions' vocabulary until the end token (0).
* The evaluator E(I, S) = σ(⟨f(I), h(S)⟩ / √d) scores an (image, caption) pair: f a conv net, h a GRU
  over the words (Dai et al. §3.2). It learns real pairs as real and both generated captions and real
  captions of another image as fake (their eq. 5, α = β = 1).
* Training: maximum likelihood on the true captions (teacher forcing) for `mle_steps`, then, for
  caption-gan, `gan_steps` of alternating evaluator and generator updates; the generator's words are
  discrete, so its gradient is REINFORCE's (Williams 1992): −(r − b)·log p(S), r = E(I, S) for the
  whole sampled caption and b the batch's mean reward. Dai et al. give each word its own reward by
  Monte Carlo rollouts; one reward per caption is the simpler estimator of the same gradient.
* caption-mle is the same network trained by maximum likelihood for all its steps.

The loop is genlab.train.run_loop, the trainer's own wrapper (logging, the finite check, checkpoints);
a captioner is saved with genlab.checkpoint.save_module under the kind "captioner".
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from genlab import captions as C
from genlab import nets

KIND = "captioner"
MODES = {"caption-gan": "Dai et al. 2017: maximum likelihood, then policy gradient against an evaluator",
         "caption-mle": "the same network trained by maximum likelihood only"}
MAX_LEN = 20  # words per caption, the end token included (the longest generated caption has 14 words)
IMAGE_SHAPE = (1, 64, 64)


class CaptionGenerator(nn.Module):
    """G(I, z): image features and noise → the GRU's start state, and the same context beside every
    word it reads, so the image need not survive in the state until the place words come (a start
    state alone left a captioner at chance on the place after 2,000 steps here) → words (token 0 ends
    the caption, and is also the first input, the start token)."""

    def __init__(self, z_dim: int = 8, hidden: int = 128, embed: int = 32, vocab: int = len(C.VOCAB)):
        super().__init__()
        self.z_dim = z_dim
        self.image = nets.ConvBody(IMAGE_SHAPE, hidden=hidden)
        self.start = nn.Linear(hidden + z_dim, hidden)
        self.embed = nn.Embedding(vocab, embed)
        self.cell = nn.GRUCell(embed + hidden, hidden)
        self.out = nn.Linear(hidden, vocab)

    def state(self, x, z):  # (B, 1, 64, 64), (B, z_dim) -> the start state and the context, (B, hidden) each
        ctx = torch.tanh(self.start(torch.cat([self.image(x), z], 1)))
        return ctx, ctx

    def step(self, tok, h, ctx):
        return self.cell(torch.cat([self.embed(tok), ctx], 1), h)

    def mle_loss(self, x, z, ids):
        """Teacher forcing: the mean cross-entropy of each true word and of the end token after it."""
        b, t = ids.shape
        target = torch.cat([ids, torch.zeros(b, 1, dtype=ids.dtype, device=ids.device)], 1)  # (B, T+1)
        (h, ctx), logits = self.state(x, z), []
        for i in range(t + 1):
            h = self.step(_shifted(ids, i), h, ctx)
            logits.append(self.out(h))
        logits = torch.stack(logits, 1)  # (B, T+1, V)
        length = (ids > 0).sum(1)
        mask = torch.arange(t + 1, device=ids.device)[None] <= length[:, None]  # the words and the first end token
        ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), reduction="none").view(b, t + 1)
        return (ce * mask).sum() / mask.sum()

    def sample(self, x, z, generator: torch.Generator | None = None, greedy: bool = False):
        """Captions (B, MAX_LEN) of token ids, 0 after the end, and the log-probability of each (B,)."""
        b = x.shape[0]
        h, ctx = self.state(x, z)
        tok = torch.zeros(b, dtype=torch.long, device=x.device)
        done = torch.zeros(b, dtype=torch.bool, device=x.device)
        ids, logp = [], torch.zeros(b, device=x.device)
        for _ in range(MAX_LEN):
            h = self.step(tok, h, ctx)
            lp = F.log_softmax(self.out(h), 1)
            tok = lp.argmax(1) if greedy else torch.multinomial(lp.exp(), 1, generator=generator).squeeze(1)
            logp = logp + torch.where(done, torch.zeros_like(logp), lp.gather(1, tok[:, None]).squeeze(1))
            tok = torch.where(done, torch.zeros_like(tok), tok)
            ids.append(tok)
            done = done | (tok == 0)
            if bool(done.all()):
                break
        out = torch.stack(ids, 1)
        if out.shape[1] < MAX_LEN:
            out = F.pad(out, (0, MAX_LEN - out.shape[1]))
        return out, logp


def _shifted(ids, i: int):
    """The input token at position i under teacher forcing: the start token (0), then the true words."""
    return torch.zeros_like(ids[:, 0]) if i == 0 else ids[:, i - 1]


class CaptionEvaluator(nn.Module):
    """E(I, S) = σ(⟨f(I), h(S)⟩ / √d) (Dai et al. 2017, §3.2): returns the logit ⟨f, h⟩ / √d (B,)."""

    def __init__(self, hidden: int = 128, embed: int = 32, vocab: int = len(C.VOCAB)):
        super().__init__()
        self.hidden = hidden
        self.image = nets.ConvBody(IMAGE_SHAPE, act=nn.LeakyReLU, hidden=hidden)
        self.embed = nn.Embedding(vocab, embed, padding_idx=0)
        self.gru = nn.GRU(embed, hidden, batch_first=True)

    def forward(self, x, ids):
        f = self.image(x)
        out, _ = self.gru(self.embed(ids))  # (B, T, H)
        last = ((ids > 0).sum(1) - 1).clamp_min(0)  # the state after the last word (an empty caption: the first)
        h = out[torch.arange(len(ids), device=ids.device), last]
        return (f * h).sum(1) / math.sqrt(self.hidden)


class Captioner(nn.Module):
    """The generator and the evaluator of one captioner, with the settings that rebuild it."""

    def __init__(self, mode: str = "caption-gan", z_dim: int = 8, hidden: int = 128):
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"unknown captioner '{mode}'; choose one of: {', '.join(MODES)}")
        self.mode, self.z_dim, self.hidden = mode, z_dim, hidden
        self.nets = nn.ModuleDict({"gen": CaptionGenerator(z_dim, hidden), "evaluator": CaptionEvaluator(hidden)})

    def config(self) -> dict:
        return {"mode": self.mode, "z_dim": self.z_dim, "hidden": self.hidden, "model": self.mode, "data": "dsprites",
                "latent_dim": self.z_dim}

    @torch.no_grad()
    def caption(self, images, seed: int = 0, greedy: bool = False) -> list[str]:
        """One caption per image (N, 1, 64, 64) in [0, 1], the noise z drawn with `seed`."""
        x = torch.as_tensor(np.asarray(images) if not torch.is_tensor(images) else images).float()
        g = torch.Generator().manual_seed(seed)
        out = []
        for i in range(0, len(x), 256):
            xb = x[i:i + 256]
            z = torch.randn(len(xb), self.z_dim, generator=g)
            ids, _ = self.nets["gen"].sample(xb, z, g, greedy)
            out += [ids_text(r) for r in ids.tolist()]
        return out


def ids_text(ids) -> str:
    """Words of token ids up to the end token."""
    words = []
    for t in ids:
        if t == 0:
            break
        words.append(C.VOCAB[t])
    return " ".join(words)


def policy_gradient_loss(logp, reward, baseline=None):
    """REINFORCE (Williams 1992): −mean((r − b)·log p(S)); its gradient is an unbiased estimate of
    −∇ E[r], so descending it makes captions with above-baseline reward more likely. The reward and
    the baseline carry no gradient."""
    r = reward.detach()
    b = r.mean() if baseline is None else torch.as_tensor(baseline, dtype=r.dtype, device=r.device)
    return -((r - b) * logp).mean()


def evaluator_loss(real_logit, fake_logit, mismatch_logit, alpha: float = 1.0, beta: float = 1.0):
    """Dai et al. 2017, eq. 5, as cross-entropies to minimise: real (image, caption) pairs are real; the
    generator's captions (weight α) and real captions of other images (weight β) are fake."""
    bce = F.binary_cross_entropy_with_logits
    real = bce(real_logit, torch.ones_like(real_logit))
    fake = bce(fake_logit, torch.zeros_like(fake_logit))
    mis = bce(mismatch_logit, torch.zeros_like(mismatch_logit))
    return {"loss": real + alpha * fake + beta * mis, "e_real": real.detach(), "e_fake": fake.detach(),
            "e_mismatch": mis.detach()}


# --------------------------------------------------------------------------- data and training


def batch(n: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """n random sprites (N, 1, 64, 64), one true caption of each as token ids (N, L), and their factors."""
    from genlab.applications import _render

    f = C.random_factors(n, rng)
    ids = torch.from_numpy(C.encode(C.captions_for(f, rng.integers(0, 1 << 30, n))))
    return _render(f), ids, f


E_WARMUP = 100  # evaluator-only steps between the two phases, so the first rewards mean something
PG_LR_SCALE = 0.1  # the generator's rate in the policy-gradient phase, relative to maximum likelihood's


def _steps(model: Captioner, total: int, mle_steps: int, batch_size: int, seed: int, lr: float, mle_mix: float):
    """The captioner's training as the iterator genlab.train.run_loop drives: (step, logs, finite).
    caption-gan: mle_steps of maximum likelihood; E_WARMUP steps of the evaluator alone; then evaluator
    and generator in turn, the generator by policy gradient at PG_LR_SCALE × lr plus mle_mix × the
    maximum-likelihood loss (0 = policy gradient alone). With neither the warm-up nor the mix, the
    generator here fell to the empty caption within 100 policy-gradient steps (reward 0.003)."""
    rng = np.random.default_rng(seed)
    g = torch.Generator().manual_seed(seed + 1)
    gen, ev = model.nets["gen"], model.nets["evaluator"]
    opt_g = torch.optim.Adam(gen.parameters(), lr=lr)
    opt_pg = torch.optim.Adam(gen.parameters(), lr=lr * PG_LR_SCALE)
    opt_e = torch.optim.Adam(ev.parameters(), lr=lr)
    for step in range(total):
        x, ids, _ = batch(batch_size, rng)
        z = torch.randn(batch_size, model.z_dim, generator=g)
        logs = {}
        if model.mode == "caption-mle" or step < mle_steps:
            loss = gen.mle_loss(x, z, ids)
            opt_g.zero_grad(set_to_none=True)
            loss.backward()
            opt_g.step()
            logs["mle"] = loss.detach()
        else:
            with torch.no_grad():
                fake, _ = gen.sample(x, z, g)
            out = evaluator_loss(ev(x, ids), ev(x, fake), ev(x, ids.roll(1, 0)))
            opt_e.zero_grad(set_to_none=True)
            out["loss"].backward()
            opt_e.step()
            logs.update({k: v for k, v in out.items() if k != "loss"}, e_loss=out["loss"].detach())
            if step >= mle_steps + E_WARMUP:
                fake, logp = gen.sample(x, z, g)
                with torch.no_grad():
                    reward = torch.sigmoid(ev(x, fake))
                loss = policy_gradient_loss(logp, reward)
                logs.update(pg=loss.detach(), reward=reward.mean())
                if mle_mix > 0:
                    mle = gen.mle_loss(x, z, ids)
                    loss = loss + mle_mix * mle
                    logs["mle"] = mle.detach()
                opt_pg.zero_grad(set_to_none=True)
                loss.backward()
                opt_pg.step()
        finite = torch.stack([torch.isfinite(v).all() for v in logs.values()]).all()
        want = (step + 1) % 25 == 0 or step + 1 == total
        yield step + 1, ({k: float(v) for k, v in logs.items()} if want else None), finite


def train_captioner(mode: str, out, mle_steps: int = 1500, gan_steps: int = 1000, batch_size: int = 64, seed: int = 0,
                    lr: float = 1e-3, z_dim: int = 8, hidden: int = 128, half: bool = False, progress: bool = False,
                    mle_mix: float = 1.0, init=None) -> Path:
    """Train a captioner (MODES) and save it at OUT/model: caption-gan takes mle_steps of maximum
    likelihood, then gan_steps against its evaluator; caption-mle takes mle_steps + gan_steps of
    maximum likelihood. `init` (caption-gan only): start the generator from that captioner checkpoint
    (a caption-mle), whose maximum-likelihood steps are counted as this one's, so a caption-gan and a
    caption-mle can share their maximum-likelihood phase exactly. Returns the checkpoint's stem."""
    from genlab.checkpoint import save_module
    from genlab.device import compute_facts
    from genlab.train import TrainConfig, run_loop

    if mle_steps < 0 or gan_steps < 0 or mle_steps + gan_steps < 1:
        raise ValueError("a captioner needs at least one training step: --mle-steps and --gan-steps are 0 or more")
    out = Path(out)
    total = mle_steps + gan_steps
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Captioner(mode, z_dim, hidden)
    prior_mle, init_name = 0, None
    if init is not None:
        if mode != "caption-gan":
            raise ValueError("--init starts a caption-gan's policy-gradient phase from a trained captioner; "
                             f"{mode} has no such phase")
        src, smeta = load_captioner(init)
        if (src.z_dim, src.hidden) != (z_dim, hidden):
            raise ValueError(f"the captioner '{init}' has z_dim {src.z_dim} and hidden {src.hidden}, not {z_dim} "
                             f"and {hidden}")
        model.nets["gen"].load_state_dict({k: v.float() for k, v in src.nets["gen"].state_dict().items()})
        prior_mle, init_name = int(smeta.get("mle_steps") or smeta.get("steps") or 0), str(smeta.get("name") or init)
    model.train()
    history, t0 = [], time.perf_counter()
    tc = TrainConfig(steps=total, ckpt_every=max(total, 1), log_every=25, out=str(out))

    def checkpoint(step):
        facts = {**compute_facts(torch.device("cpu")), "wall_time_s": round(time.perf_counter() - t0, 1)}
        return save_module(out / "model", model, KIND, model.config(),
                           {"name": out.name, "steps": prior_mle + step,
                            "mle_steps": prior_mle + (min(step, mle_steps) if mode == "caption-gan" else step),
                            "gan_steps": max(0, step - mle_steps) if mode == "caption-gan" else 0, "init": init_name,
                            "batch_size": batch_size, "seed": seed, "lr": lr, "paper": MODES[mode],
                            "mle_mix": mle_mix if mode == "caption-gan" else None, "e_warmup": E_WARMUP,
                            "pg_lr_scale": PG_LR_SCALE, **facts}, half=half)

    def record(step, logs):
        history.append(logs)
        return False

    out.mkdir(parents=True, exist_ok=True)
    run_loop(_steps(model, total, mle_steps, batch_size, seed, lr, mle_mix), tc, 0, checkpoint=checkpoint, record=record,
             diverged=lambda s: f"a loss of {mode} became NaN or infinite by step {s}: lower --lr",
             desc=mode if progress else None)
    (out / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in history))
    return out / "model"


def load_captioner(path) -> tuple[Captioner, dict]:
    """(captioner in eval mode, metadata) of a checkpoint written by train_captioner."""
    from genlab.checkpoint import CheckpointError, load_module_state, stem_of

    state, meta = load_module_state(stem_of(path), KIND)
    c = meta["config"]
    model = Captioner(c["mode"], c["z_dim"], c["hidden"])
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise CheckpointError(f"captioner '{path}' does not fit its config ({str(e).splitlines()[0][:200]})") from None
    return model.eval(), meta


def read_images(path) -> np.ndarray:
    """`images` of an .npz as float32 (N, 1, 64, 64) in [0, 1]; ValueError, one sentence, for a missing
    or unreadable file, a missing key, no images, or images of another size."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"images file '{path}' not found")
    try:
        with np.load(p, allow_pickle=False) as f:
            files = list(f.files) if hasattr(f, "files") else None
            x = np.asarray(f["images"]) if files and "images" in files else None
    except Exception as e:  # not an archive, a pickle, a truncated file
        raise ValueError(f"'{path}' could not be read as .npz ({type(e).__name__}); save it with numpy.savez") from None
    if x is None:
        raise ValueError(f"'{path}' holds no array 'images' (it has {', '.join(files or []) or 'nothing'}); "
                         f"save N×1×64×64 images with numpy.savez(FILE, images=...)")
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or tuple(x.shape[1:]) != IMAGE_SHAPE:
        raise ValueError(f"the captioner reads dSprites-sized images, N×1×64×64, but '{path}' holds {x.shape}")
    if len(x) == 0:
        raise ValueError(f"'{path}' holds no images")
    if not np.issubdtype(x.dtype, np.number) or not np.isfinite(x).all():
        raise ValueError(f"'{path}' holds values that are not finite numbers")
    x = x.astype(np.float32)
    return x / 255.0 if x.max() > 1.0 else x


# --------------------------------------------------------------------------- measures


def correctness(texts: list[str], factors) -> dict:
    """Per factor, the share of captions that name it rightly (a caption that does not name it, or does
    not parse, counts as wrong), and the share that parse at all."""
    b = C.bins_of(factors)
    keys = {"shape": 0, "size": 1, "rotation": 2, "column": 3, "row": 4}
    right = {k: 0 for k in list(keys) + ["place"]}
    parsed = 0
    for text, t in zip(texts, b):
        try:
            m = C.parse(text)
        except C.CaptionError:
            continue
        parsed += 1
        named = m.named()
        for k, i in keys.items():
            right[k] += int(named[k] is not None and named[k] == t[i])
        right["place"] += int(named["column"] == t[3] and named["row"] == t[4])
    n = max(1, len(texts))
    return {"parses": parsed / n, **{k: v / n for k, v in right.items()}}


def measure(model: Captioner, n_images: int = 500, k: int = 5, seed: int = 0) -> dict:
    """Captions of n_images random sprites, k per image (k noise draws): correctness per factor (over
    all n_images·k captions), distinct captions per image and the content words used."""
    rng = np.random.default_rng(seed + 12345)
    f = C.random_factors(n_images, rng)
    from genlab.applications import _render

    x = _render(f)
    texts = [model.caption(x, seed=seed + j) for j in range(k)]  # k lists of n_images
    flat = [t for run in texts for t in run]
    res = correctness(flat, np.concatenate([f] * k))
    per_image = [len({texts[j][i] for j in range(k)}) for i in range(n_images)]
    words = Counter(w for t in flat for w in t.split() if w in C.CONTENT_WORDS)
    res.update({"distinct_per_image": float(np.mean(per_image)), "k": k, "n_images": n_images,
                "content_words_used": len(words), "content_words": len(C.CONTENT_WORDS),
                "examples": [texts[j][0] for j in range(k)]})
    return res


# --------------------------------------------------------------------------- for the page


def captioner_rows(rows) -> list:
    """The checkpoint rows (genlab.checkpoint.CheckpointRow) of captioners."""
    return [r for r in rows if r.ok and r.kind == KIND]


def judge(text: str, factors) -> str:
    """A caption's correctness against one sprite's factors, factor by factor: 'shape ✓ · size ✗ · place ✓'
    ('–' where it names nothing); 'does not parse' for a caption outside the language."""
    try:
        m = C.parse(text)
    except C.CaptionError:
        return "does not parse"
    t = C.bins_of(np.asarray(factors)[None])[0]
    named = m.named()

    def mark(ok, said):
        return "–" if not said else ("✓" if ok else "✗")

    place_said = named["row"] is not None
    return " · ".join([f"shape {mark(named['shape'] == t[0], named['shape'] is not None)}",
                       f"size {mark(named['size'] == t[1], named['size'] is not None)}",
                       f"place {mark((named['column'], named['row']) == (t[3], t[4]), place_said)}"])


def picked_sprites(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n random sprites (N, 1, 64, 64) in [0, 1] and their factors, drawn with `seed`."""
    from genlab.applications import _render

    f = C.random_factors(n, np.random.default_rng(seed))
    return _render(f).numpy(), f


def image_from_upload(data: bytes) -> np.ndarray:
    """A PNG or JPEG of 64×64 pixels as (1, 1, 64, 64) grey in [0, 1]; ValueError, one sentence, otherwise."""
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            grey = np.asarray(im.convert("L"), dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError, ValueError):
        raise ValueError("the file is not a PNG or JPEG image") from None
    if grey.shape != (64, 64):
        raise ValueError(f"the captioners read dSprites-sized images of 64×64 pixels; this one is "
                         f"{grey.shape[1]}×{grey.shape[0]}")
    return grey[None, None]
