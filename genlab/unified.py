"""The survey's unified views, as data the Unified view page draws and the tests read.

- VAE, GAN and wake-sleep (Hu et al. 2018, "On Unifying Deep Generative Models", §3-4): a GAN reads as
  inference of the real/fake label y, parallel to a VAE's inference of z, and each minimises a KL
  between an inference distribution and a posterior, in opposite directions: the two phases of
  wake-sleep (Hinton et al. 1995).
- GANs as actor-critic methods (Pfau & Vinyals 2016, "Connecting Generative Adversarial Networks and
  Actor-Critic Methods"): the generator is an actor that cannot change its environment, the
  discriminator a critic of a one-step game; the stabilisers both fields use, with the switches genlab
  offers for them on the Mode collapse page.
- The two transfers Hu et al. derive from the view (iwgan, aavae) beside their baselines.
"""

from __future__ import annotations

from genlab.models import MODELS

# --------------------------------------------------------------------------- VAE · GAN · wake-sleep

UNIFIED_COLUMNS = ("", "wake-sleep: wake phase", "wake-sleep: sleep phase", "VAE", "GAN")
UNIFIED_ROWS = [
    ("what is generated", "x from the recognised z", "x from z ~ p(z) (a dream)", "x ~ p_θ(x|z) from z ~ q_η(z|x)",
     "x ~ p_θ(x|y) with y = fake, from z ~ p(z)"),
    ("what is inferred", "z from real x, by q_η(z|x)", "z of the dreamt x, by q_η(z|x)", "z from real x, by q_η(z|x)",
     "the label y of x, by the discriminator q_φ(y|x)"),
    ("what learns the generator", "max log p_θ(x|z) on recognised z", "—",
     "max E_q[log p_θ(x|z)], the reconstruction term", "fool q_φ: the label it infers is swapped (q^r)"),
    ("the KL the generator minimises", "KL(q_η(z|x) ‖ p_θ(z|x))", "—", "KL(q_η(z|x, y) q^r(y|x) ‖ p_θ(z, y|x))",
     "KL(p_θ(x|y) q^r(y|x) ‖ q(x|y))"),
    ("its direction", "inference ‖ posterior", "—", "inference ‖ posterior (as wake)",
     "posterior ‖ inference (as sleep): the reverse"),
    ("what that direction does", "covers the data (mean-seeking)", "—", "covers every mode: blurry samples",
     "seeks modes: sharp samples, missed modes"),
    ("what the inference net learns on", "—", "the model's own dreams", "real data only (samples are ignored)",
     "real and generated x"),
    ("the transfer Hu et al. derive", "", "", "AAVAE: learn from the samples D finds real (aavae)",
     "IWGAN: importance-weight the samples, as IWAE (iwgan)"),
]

# A diagram of the correspondence (Graphviz DOT): each model's generative and inference paths.
UNIFIED_DOT = """digraph unified {
  rankdir=LR; node [shape=box, style="rounded", fontsize=11]; edge [fontsize=10];
  subgraph cluster_vae { label="VAE (wake)"; z1 [label="z"]; x1 [label="x (real)"];
    z1 -> x1 [label="generate p_θ(x|z)"]; x1 -> z1 [label="infer q_η(z|x)", style=dashed]; }
  subgraph cluster_gan { label="GAN (sleep)"; z2 [label="z ~ p(z)"]; x2 [label="x (generated)"]; y2 [label="y real/fake"];
    z2 -> x2 [label="generate p_θ(x|y)"]; x2 -> y2 [label="infer q_φ(y|x)", style=dashed]; }
  subgraph cluster_ws { label="wake-sleep"; w [label="wake: fit p_θ on z inferred from data"];
    s [label="sleep: fit q_η on the model's dreams"]; w -> s [label="alternate"]; s -> w; }
  x1 -> w [style=dotted, arrowhead=none, label="KL(q ‖ p)"]; x2 -> s [style=dotted, arrowhead=none, label="KL(p ‖ q)"];
}"""

# --------------------------------------------------------------------------- GAN · actor-critic

ACTOR_CRITIC_COLUMNS = ("", "GAN", "actor-critic (reinforcement learning)")
ACTOR_CRITIC_ROWS = [
    ("the policy", "the generator G: z → x", "the actor π(a|s)"),
    ("the value estimate", "the discriminator D(x): how real x looks", "the critic Q(s, a): how good a is"),
    ("the environment", "one step: draw z, emit x, get D's verdict; G cannot change what real data is",
     "many steps; the actor's actions change the states it sees next"),
    ("the reward", "log D(G(z)), given by a critic that is itself learning", "from the environment, fixed"),
    ("who sees the true signal", "only D sees real data", "only the critic sees the reward"),
    ("why both are hard to optimise", "a two-player game, not a minimisation: updates can circle or collapse",
     "a bootstrapped critic chases its own estimates; the policy moves the target"),
]

# The stabilisers both fields share (Pfau & Vinyals 2016, Table 1), with genlab's switch for the GAN side.
STABILISERS = [
    {"stabiliser": "replay of past experience", "gan": "replay past samples to D; historical averaging of parameters",
     "rl": "experience replay", "genlab": "historical averaging (Mode collapse page: hist; --historical-averaging)"},
    {"stabiliser": "target networks (slowly moving copies)", "gan": "an averaged generator",
     "rl": "target networks", "genlab": "generator averaging (Mode collapse page: ema; --ema-decay)"},
    {"stabiliser": "entropy regularisation", "gan": "keep the samples diverse: minibatch discrimination, packing",
     "rl": "an entropy bonus on the policy", "genlab": "minibatch discrimination (mbd), PacGAN (pack)"},
    {"stabiliser": "compatible / regularised critics", "gan": "gradient penalty, label smoothing, instance noise",
     "rl": "compatible function approximation, clipped targets",
     "genlab": "wgan-gp; one-sided label smoothing (ls); instance noise (noise)"},
]

# --------------------------------------------------------------------------- the transfers and their baselines

TRANSFERS = [("iwgan", "gan"), ("aavae", "vae")]  # (the transfer, the baseline it is measured against)
# what `genlab eval` stores for them: modes on 2-D mixtures, quality, labels and sharpness on images
TRANSFER_MEASURES = ("modes_captured", "high_quality", "reverse_kl", "fd", "precision", "recall", "label_kl_to_real",
                     "laplacian_variance_samples")


def transfer_rows(rows) -> list[dict]:
    """One row per measured checkpoint of a transfer or of its baseline: model, data, steps and whichever
    of TRANSFER_MEASURES its sidecar holds (`genlab eval`). Baselines only on the data a transfer ran on."""
    from genlab import compare

    models = {m for pair in TRANSFERS for m in pair}
    good = [r for r in compare.model_rows(rows) if r.model in models]
    transfer_data = {r.data for r in good if r.model in dict(TRANSFERS)}
    out = []
    for r in good:
        if r.data not in transfer_data:
            continue
        scores = compare.scalar_scores(r.metrics)
        out.append({"model": r.model, "data": r.data, "steps": r.steps, "checkpoint": r.name,
                    **{k: scores.get(k) for k in TRANSFER_MEASURES}})
    return sorted(out, key=lambda d: (d["data"], d["model"]))


def transfer_papers() -> list[dict]:
    """What each transfer is, from the registry."""
    return [{"transfer": t, "baseline": b, "paper": MODELS[t].paper, "what": MODELS[t].purpose} for t, b in TRANSFERS]
