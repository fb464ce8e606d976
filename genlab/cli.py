"""`genlab` command line: train, sweep, list, eval, score, data export, info.

Menus come from the registries (MODELS, DATASETS), so the CLI and the code cannot drift apart.
Errors a user can cause print one line and exit with status 2; nothing prints a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path


def model_options() -> list[tuple]:
    """The model options of `genlab train`: (flags, ModelConfig field, type or None for a switch, help,
    choices), all read from the fields' `option` metadata (genlab.models), with each setting's defaults."""
    from genlab.models import default_text, field_help, option_kind, options

    out = []
    for name, f in options().items():
        m, kind = f.metadata, option_kind(f)
        hlp = f"{field_help(name)} {default_text(name)}".strip().replace("%", "%%")
        out.append(((m["flag"], *m["aliases"]), name, None if kind == "bool" else {"int": int, "float": float}.get(kind, str),
                    hlp, m["choices"]))
    return out


class UserError(Exception):
    """A mistake in the command line or its inputs: printed as one line."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad argument prints one line (not the whole usage) and exits with 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _data_name(text: str) -> str:
    """--data: a built-in dataset's name, or a spec of your own (points:FILE.csv, images:DIR)."""
    from genlab.data import DATASETS
    from genlab.userdata import is_spec

    if text in DATASETS or is_spec(text):
        return text
    raise argparse.ArgumentTypeError(f"unknown dataset '{text}': choose one of {', '.join(DATASETS)}, or give your "
                                     "own as points:FILE.csv or images:DIR")


def _userdata_limits() -> str:
    from genlab.userdata import LIMITS_TEXT

    return LIMITS_TEXT.replace("%", "%%")


def _image_sizes() -> tuple:
    from genlab.userdata import IMAGE_SIZES

    return IMAGE_SIZES


def _stackable() -> str:
    from genlab.sweep import stackable_text

    return stackable_text()


def _parser() -> argparse.ArgumentParser:
    from genlab.data import DATASETS
    from genlab.models import MODELS

    p = _Parser(prog="genlab", description="genlab: a lab for deep generative models (VAEs and GANs).")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    models_help = "; ".join(f"{n}: {s.paper}" for n, s in MODELS.items())
    t = sub.add_parser("train", help="train a model (or reproduce a recipe)",
                       description=f"Train one model with genlab's trainer. Models — {models_help}.")
    t.add_argument("--model", choices=list(MODELS), help="which model (see above)")
    t.add_argument("--data", type=_data_name, metavar="DATA",
                   help=f"which dataset: {', '.join(DATASETS)}; or your own: points:FILE.csv (two numeric columns "
                        f"x, y, a header line optional; for every model that takes 2-D points) or images:DIR (PNG "
                        f"or JPEG files, grey or colour, centre square resized to --image-size). Limits: "
                        f"{_userdata_limits()}")
    t.add_argument("--image-size", type=int, choices=_image_sizes(),
                   help="with --data images:DIR: the side the images are resized to, and the networks built for [64]")
    t.add_argument("--data-path", help="original dSprites .npz, or the folder of a torchvision dataset")
    t.add_argument("--download", action="store_true", help="allow downloading a torchvision dataset if it is missing")
    t.add_argument("--recipe", help="a recipe file (TOML) with model, data, steps, seed and options")
    t.add_argument("--steps", type=int, help="training steps [1000]")
    t.add_argument("--batch-size", type=int, help="batch size [64]")
    t.add_argument("--out", help="run folder [runs/<name>]")
    t.add_argument("--resume", action="store_true", help="continue the run in --out where it stopped")
    t.add_argument("--device", help="auto, cpu, cuda, cuda:1, mps [auto]")
    t.add_argument("--seed", type=int, help="random seed [0]")
    t.add_argument("--ckpt-every", type=int, help="steps between checkpoints [1000]")
    t.add_argument("--log-every", type=int, help="steps between log lines [10]")
    t.add_argument("--precision", choices=["fp32", "bf16"], help="bf16 autocast is ~3× faster on CPUs with AMX [fp32]")
    t.add_argument("--lr-schedule", choices=["constant", "linear"],
                   help="linear: every learning rate falls to 0 at the last step [constant]")
    t.add_argument("--channels-last", action="store_true", help="channels_last memory format (faster with bf16 on CPU)")
    t.add_argument("--half", action="store_true", help="store the final weights as float16")
    t.add_argument("--name", help="a name for the run [the out folder's name]")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    for flags, dest, typ, hlp, choices in model_options():
        if typ is None:
            t.add_argument(*flags, dest=dest, action="store_true", default=None, help=hlp)
        else:
            t.add_argument(*flags, dest=dest, type=typ, choices=choices, help=hlp)

    sm = sub.add_parser("sample", help="draw samples of a checkpoint (a caption for text2image-gan)",
                        description="Draw N samples of a trained generator and write them as a .png grid or an .npz "
                                    "holding `images` (N×C×H×W floats in [0, 1]; 2-D points as `points`). A "
                                    "text-conditioned model (text2image-gan) draws what --caption says.")
    sm.add_argument("checkpoint", help="a checkpoint (run folder, STEM, STEM.json or STEM.safetensors)")
    sm.add_argument("--caption", help="what to draw, in the dSprites caption language, e.g. 'a large heart at the "
                                      "bottom left' (text2image-gan only; without it, random captions)")
    sm.add_argument("--n", type=int, default=16, help="how many samples [16]")
    sm.add_argument("--out", required=True, help="FILE.png (a grid) or FILE.npz (the arrays)")
    sm.add_argument("--seed", type=int, default=0, help="random seed of the noise [0]")
    sm.add_argument("--measure", action="store_true",
                    help="also read each sample with the caption reader (a classifier trained on dSprites' known "
                         "factors) and print how often it shows what the caption names")
    sm.add_argument("--device", default="cpu", help="cpu, cuda, mps, auto [cpu]")

    cp = sub.add_parser("caption", help="caption dSprites-sized images with a captioner checkpoint",
                        description="Caption the images of an .npz (`images`, N×1×64×64, floats in [0, 1] or bytes) "
                                    "with a captioner (caption-gan or caption-mle, `genlab caption-train`).")
    cp.add_argument("checkpoint", help="a captioner checkpoint (run folder or STEM)")
    cp.add_argument("--images", required=True, help="FILE.npz holding `images` (N×1×64×64)")
    cp.add_argument("--json", action="store_true", help="print a JSON list of the captions, one per image, in order")
    cp.add_argument("--seed", type=int, default=0, help="random seed of the noise z and the sampled words [0]")
    cp.add_argument("--greedy", action="store_true", help="take the likeliest word each time instead of sampling")

    ct = sub.add_parser("caption-train", help="train a captioner on dSprites' captions (Dai et al. 2017)",
                        description="Train an image captioner on rendered dSprites with their true captions: "
                                    "caption-gan (maximum likelihood, then policy gradient against an evaluator, "
                                    "Dai et al. 2017) or caption-mle (maximum likelihood only, as long in all).")
    ct.add_argument("--model", choices=["caption-gan", "caption-mle"], default="caption-gan", help="[caption-gan]")
    ct.add_argument("--mle-steps", type=int, default=1500, help="maximum-likelihood steps [1500]")
    ct.add_argument("--gan-steps", type=int, default=1000,
                    help="policy-gradient steps after them (caption-mle: more maximum likelihood) [1000]")
    ct.add_argument("--batch-size", type=int, default=64, help="[64]")
    ct.add_argument("--lr", type=float, default=1e-3, help="Adam's rate for both networks [0.001]")
    ct.add_argument("--mle-mix", type=float, default=1.0,
                    help="caption-gan: weight of the maximum-likelihood loss beside the policy gradient; 0 = policy "
                         "gradient alone [1]")
    ct.add_argument("--seed", type=int, default=0, help="[0]")
    ct.add_argument("--half", action="store_true", help="store the weights as float16")
    ct.add_argument("--init", help="caption-gan: start the generator from this captioner checkpoint (a caption-mle), "
                                   "whose maximum-likelihood steps count as its own; then use --mle-steps 0")
    ct.add_argument("--out", required=True, help="run folder; the checkpoint is OUT/model")

    ls = sub.add_parser("list", help="list checkpoints", description="List genlab checkpoints under folders.")
    ls.add_argument("dirs", nargs="*", help="folders to search [checkpoints runs]")
    ls.add_argument("--json", action="store_true", help="print JSON")

    inf = sub.add_parser("info", help="device, versions and datasets", description="Show the device, versions and datasets.")
    inf.add_argument("--json", action="store_true", help="print JSON")

    d = sub.add_parser("data", help="dataset tools", description="Dataset tools.")
    dsub = d.add_subparsers(dest="data_command", required=True, metavar="ACTION", parser_class=_Parser)
    ex = dsub.add_parser("export", help="export a built-in dataset to .npz",
                         description="Write dSprites in the original file's layout: imgs, latents_classes, latents_values.")
    ex.add_argument("dataset", choices=["dsprites"], help="dataset to export")
    ex.add_argument("--out", required=True, help="output .npz file")
    ex.add_argument("--limit", type=int, help="export only the first N images (default: all 737,280)")

    ev = sub.add_parser("eval", help="measure a checkpoint",
                        description="Compute the measures that apply to a checkpoint, print them and store them in its metadata.")
    ev.add_argument("checkpoint", nargs="?", help="checkpoint path (stem, .json or .safetensors)")
    ev.add_argument("--list", action="store_true", help="list every measure (markdown table) and exit")
    ev.add_argument("--metrics", help="comma-separated groups: disentanglement, latent, sharpness, quality, labels, modes, "
                                      "nearest_real (dSprites), translation (a sprite translator) [all that apply]")
    ev.add_argument("--device", default="auto", help="auto, cpu, cuda [auto]")
    ev.add_argument("--fast", action="store_true", help="smaller sample sizes (a quick look, not comparable with papers)")
    ev.add_argument("--dci-backend", default="hist", choices=("hist", "hist-first", "exact"),
                    help="DCI's tree backend: hist (histogram GBT, tied codes share importance), hist-first (hist as "
                         "before, a tie all to the first code), exact (GradientBoostingClassifier as "
                         "disentanglement_lib; minutes) [hist]")
    ev.add_argument("--json", action="store_true", help="print JSON")

    rb = sub.add_parser("rebuild", help="train, ship and measure the recipes in recipes/",
                        description="Reproduce the shipped checkpoints: for each recipe, train (resuming runs/recipes/NAME), "
                                    "copy the model to checkpoints/NAME/ and measure it with `genlab eval`.")
    rb.add_argument("--recipes", default="recipes", help="folder of recipe files [recipes]")
    rb.add_argument("--only", help="only recipes whose name matches this pattern, e.g. 'beta-vae-*'")
    rb.add_argument("--out", default="checkpoints", help="where shipped checkpoints go [checkpoints]")
    rb.add_argument("--runs", default="runs/recipes", help="resumable run folders [runs/recipes]")
    rb.add_argument("--device", help="auto, cpu, cuda [the recipe's, else auto]")
    rb.add_argument("--steps", type=int, help="override every recipe's steps (e.g. longer on a GPU)")
    rb.add_argument("--force", action="store_true", help="retrain from scratch even when up to date")
    rb.add_argument("--no-eval", action="store_true", help="do not measure after training")
    rb.add_argument("--fast-eval", action="store_true", help="measure with `genlab eval --fast` (small samples)")
    rb.add_argument("--quiet", action="store_true", help="no progress bar")

    mo = sub.add_parser("models", help="the model zoo as a table",
                        description="Print every model: name, paper, what it is for and an example CLI line (markdown).")
    mo.add_argument("--json", action="store_true", help="print JSON")
    mo.add_argument("--brief", action="store_true", help="leave out the example command (the README's table)")

    rs = sub.add_parser("results", help="the results table of measured checkpoints",
                        description="Print the README's results table (markdown) from the metrics stored in checkpoints.")
    rs.add_argument("dirs", nargs="*", help="folders to read [checkpoints]")
    rs.add_argument("--brief", action="store_true",
                    help="without the device and published columns (the README's table; the full one is in docs/results)")
    rs.add_argument("--nearest-real", action="store_true",
                    help="the nearest-real figures of dSprites checkpoints instead (docs/results/blur-vs-sharpness.md)")
    rs.add_argument("--failure-modes", action="store_true",
                    help="the pixelcnn-vae checkpoints' use of the code instead (docs/results/failure-modes.md)")

    sw = sub.add_parser("sweep", help="train one model at several values of a setting (and seeds)",
                        description="Train one model at several values of one setting, e.g. --values beta=1,2,4,8,16, "
                                    "each in its own resumable run folder OUT/NAME-SETTING-VALUE-sSEED.")
    sw.add_argument("--model", required=True, choices=list(MODELS), help="which model")
    sw.add_argument("--data", required=True, choices=list(DATASETS), help="which dataset")
    sw.add_argument("--values", required=True, help="SETTING=V1,V2,… (a model option, e.g. beta=1,2,4,8,16)")
    sw.add_argument("--seeds", default="0", help="comma-separated seeds [0]")
    sw.add_argument("--steps", type=int, default=1000, help="training steps per run [1000]")
    sw.add_argument("--batch-size", type=int, default=64, help="batch size [64]")
    sw.add_argument("--out", default="runs/sweep", help="folder for the runs [runs/sweep]")
    sw.add_argument("--device", default="auto", help="auto, cpu, cuda [auto]")
    sw.add_argument("--batched", choices=["auto", "on", "off"], default="auto",
                    help=f"train the members as one batched run (stacked parameters, torch.func; {_stackable()}): "
                         "auto = on CUDA, where it is faster; on a CPU separate runs are [auto]")
    sw.add_argument("--eval", action="store_true", help="measure each run when it finishes")
    sw.add_argument("--quiet", action="store_true", help="no progress bar")

    st = sub.add_parser("study", help="a grid of runs (β × seed …) on Ray, resumable, measured",
                        description="Studies: every point of a grid is a trial, an ordinary run folder, run as a "
                                    "Ray task on this machine or a cluster (see docs/studies.md).")
    ssub = st.add_subparsers(dest="study_command", required=True, parser_class=_Parser)
    sr = ssub.add_parser("run", help="run (or resume) every trial of a study file")
    sr.add_argument("file", help="the study's TOML file, e.g. studies/beta-sweep.toml")
    sr.add_argument("--out", help="folder for the trials [runs/studies/<name>]")
    sr.add_argument("--address", help="join the Ray cluster at this address [$RAY_ADDRESS, else a local Ray]")
    sr.add_argument("--cpus-per-trial", type=int, default=1, help="CPUs (and torch threads) each trial holds [1]")
    sr.add_argument("--gpus-per-trial", type=float, default=0.0, help="GPUs each trial holds, e.g. 0.25 [0]")
    sr.add_argument("--steps", type=int, help="train every trial to this many steps instead of the file's")
    sr.add_argument("--only", help="only some grid points, e.g. 'beta=1,16' or 'beta=16;seed=0'")
    sr.add_argument("--device", help="auto, cpu, cuda [the study's, else auto]")
    sr.add_argument("--quiet", action="store_true", help="no progress bar")
    sr.add_argument("--stacked", action="store_true",
                    help="train the selected trials as ONE stacked run in this process (torch.func, no Ray; β-VAE/VAE "
                         "trials that differ only in β and seed); they share the first trial's data stream")
    sr.add_argument("--time-limit", type=float, metavar="SECONDS",
                    help="with --stacked: checkpoint every trial and stop cleanly before this many seconds; "
                         "run again to resume")
    ss = ssub.add_parser("status", help="done / running / failed / waiting per trial")
    ss.add_argument("dir", help="the study's folder")
    ss.add_argument("--json", action="store_true", help="print JSON")
    ssh = ssub.add_parser("ship", help="copy a study's finished trials (float16 weights, sidecars, curves) for shipping")
    ssh.add_argument("dir", help="the study's folder")
    ssh.add_argument("--to", required=True, help="destination folder, e.g. checkpoints/beta-sweep")
    ssh.add_argument("--unfinished", action="store_true", help="also trials that have not reached their steps")
    sres = ssub.add_parser("results", help="one record per trial and a summary per grid point over seeds")
    sres.add_argument("dir", help="the study's folder")
    fmt = sres.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print JSON: {study, trials, summary}")
    fmt.add_argument("--csv", action="store_true", help="print the trial records as CSV")

    mp = sub.add_parser("maps", help="store the pages' slow maps of a checkpoint beside it",
                        description="Compute what the pages take seconds to draw from a checkpoint and store it beside it "
                                    "as STEM.maps.npz, which the pages then read at once: the UMAP map of its codes for "
                                    "every number of points the Code space page offers, with the prior samples placed in "
                                    "it (float16, about 70 KB), and the Latent traversal page's latent × factor matrix.")
    mp.add_argument("checkpoints", nargs="+", help="image checkpoints (stem, .json or .safetensors)")
    mp.add_argument("--what", default="umap,factors",
                    help="umap: the Code space page's maps (models with an encoder); factors: the Latent traversal "
                         "page's latent × factor matrix (data with ground-truth factors) [umap,factors]")
    mp.add_argument("--device", default="cpu", help="where to encode: cpu, cuda, auto [cpu]")

    le = sub.add_parser("lessons", help="guided lessons: list them, print their links, export a handout, run their checks",
                        description="The lessons in lessons/ (or --dir): guided, step-by-step tours of the survey's claims "
                                    "through the app's pages (docs/lessons.md). Without an option: one line per lesson.")
    le.add_argument("--dir", help="the folder of lesson files [lessons, or $GENLAB_LESSONS]")
    lact = le.add_mutually_exclusive_group()
    lact.add_argument("--urls", action="store_true",
                      help="print every step's link (URL path and query, one per line, starting with /)")
    lact.add_argument("--export", metavar="NAME", help="write the lesson's printable handout (Markdown) to --out")
    lact.add_argument("--check", nargs="?", const="", metavar="NAME",
                      help="measure every step's check (of one lesson, or all) on the checkpoints and say whether it "
                           "lies in its range; exit 1 when one does not")
    le.add_argument("--out", help="with --export: the handout's file (.md)")
    le.add_argument("--base-url", default="http://localhost:8501", help="with --export: where the app is served "
                    "[http://localhost:8501]")
    le.add_argument("--hide", action="store_true", help="with --export or --urls: instructor links that hide the "
                    "controls each step does not need")

    tr = sub.add_parser("translate", help="translate images with an image translator (cyclegan)",
                        description="Translate images with a cyclegan checkpoint: read the array 'images' (N×C×H×W "
                                    "floats in [0, 1]) of an .npz, write their translations as 'images' and their "
                                    "round trips back as 'cycled'.")
    tr.add_argument("checkpoint", help="a cyclegan checkpoint (its .safetensors, or the stem, or its run folder)")
    tr.add_argument("--images", required=True, help=".npz file with the array 'images', N×C×H×W floats in [0, 1]")
    tr.add_argument("--out", required=True, help="output .npz: 'images' (the translations) and 'cycled'")
    tr.add_argument("--direction", default="a2b", choices=("a2b", "b2a"),
                    help="a2b: domain A → B (squares → ellipses for dsprites-squares-ellipses), b2a: back [a2b]")

    sc = sub.add_parser("score", help="disentanglement scores for any codes",
                        description="MIG, SAP, DCI and modularity of codes from any tool: "
                                    "an .npz with codes (N×D float) and factors (N×K int).")
    sc.add_argument("--codes", required=True, help=".npz file with arrays 'codes' and 'factors'")
    sc.add_argument("--seed", type=int, default=0, help="random seed for the train/test split [0]")
    sc.add_argument("--dci-backend", default="hist", choices=("hist", "hist-first", "exact"),
                    help="DCI's tree backend: hist (histogram GBT, tied codes share importance), hist-first (hist as "
                         "before, a tie all to the first code), exact (GradientBoostingClassifier as "
                         "disentanglement_lib; minutes) [hist]")
    sc.add_argument("--json", action="store_true", help="print JSON")
    return p


# --------------------------------------------------------------------------- commands


def _load_recipe(path: str) -> dict:
    from genlab.recipes import RecipeError, load_recipe

    try:
        return load_recipe(path)
    except RecipeError as e:
        raise UserError(str(e)) from None


def cmd_train(a) -> int:
    from genlab.data import data_label, load_dataset
    from genlab.models import make_config
    from genlab.recipes import TRAIN_FIELDS, train_config_for
    from genlab.train import fit
    from genlab.userdata import canonical_spec, is_spec

    recipe = _load_recipe(a.recipe) if a.recipe else {}
    model = a.model or recipe.get("model")
    data_name = a.data or recipe.get("data")
    if not model or not data_name:
        raise UserError("say which model and data to train: --model NAME --data NAME, or --recipe FILE")
    options = dict(recipe.get("options", {}))
    for _, dest, typ, _, _ in model_options():
        if getattr(a, dest) is not None:
            options[dest] = getattr(a, dest)
    if recipe and options != recipe.get("options", {}):
        recipe = dict(recipe, options=options)  # record the options as run, not as the file had them
    if recipe and (model, data_name) != (recipe.get("model"), recipe.get("data")):
        # likewise another model or data: a run of `--recipe digits-vae.toml --model aavae` is no digits-vae
        recipe = dict(recipe, model=model, data=data_name)
    if is_spec(data_name):  # your own data: the config keeps its absolute path and size, so pages find it again
        data_name = canonical_spec(data_name, a.image_size)
    elif a.image_size is not None:
        raise UserError(f"--image-size applies to --data images:DIR only; {data_name} has its own size")
    # read (and check) the data before anything is written: a bad file leaves no run folder behind
    data = load_dataset(data_name, download=a.download, path=a.data_path or recipe.get("data_path"))
    cfg = make_config(model, data_name, data.shape, **options)
    overrides = {k: getattr(a, k) for k in TRAIN_FIELDS if getattr(a, k, None) is not None}
    name = (overrides.get("name") or recipe.get("name")
            or (Path(a.out).name if a.out else f"{data_label(data_name)}-{model}"))
    out = a.out or f"runs/{name}"
    if recipe and name != recipe.get("name"):
        recipe = dict(recipe, name=name)
    tc = train_config_for(recipe, out, resume=a.resume, channels_last=a.channels_last, half=a.half,
                          **dict(overrides, name=name))
    res = fit(cfg, data, tc, progress=not a.quiet)
    state = "stopped" if res.stopped else "finished"
    print(f"{state} at step {res.step} in {res.wall_time_s:.1f} s ({res.images_per_s:.0f} images/s); checkpoint: {res.checkpoint}")
    return 0


def cmd_list(a) -> int:
    from genlab.checkpoint import list_checkpoints

    dirs = a.dirs or ["checkpoints", "runs"]
    rows = [r for d in dirs for r in list_checkpoints(d)]
    if a.json:
        print(json.dumps([r.summary() for r in rows], indent=2))
        return 0
    if not rows:
        print(f"no checkpoints under {', '.join(dirs)}; train one with `genlab train --model vae --data digits --steps 500`")
        return 0
    for r in rows:
        if not r.ok:
            print(f"{r.path}: {r.error}")
        else:
            print(f"{r.path}: {r.model} on {r.data}, z={r.latent_dim}, {r.steps} steps, {r.device}")
    return 0


def cmd_info(a) -> int:
    from genlab.data import dataset_status
    from genlab.device import device_summary

    info = {"system": device_summary(), "datasets": dataset_status()}
    if a.json:
        print(json.dumps(info, indent=2))
        return 0
    for k, v in info["system"].items():
        print(f"{k:16s} {v}")
    print("datasets:")
    for d in info["datasets"]:
        mark = "yes" if d["available"] else "no "
        print(f"  [{mark}] {d['name']:14s} {d['description']}" + ("" if d["available"] else f"\n         {d['note']}"))
    return 0


def cmd_data(a) -> int:
    import numpy as np

    from genlab import dsprites

    idx = None if a.limit is None else np.arange(min(a.limit, dsprites.N_IMAGES))
    path = dsprites.export_npz(a.out, indices=idx)
    n = dsprites.N_IMAGES if idx is None else len(idx)
    print(f"wrote {n} dSprites images to {path}")
    return 0


def cmd_eval(a) -> int:
    from genlab.evaluate import evaluate_checkpoint

    if a.list:
        from genlab.metrics import markdown_table

        print(markdown_table())
        return 0
    if not a.checkpoint:
        raise UserError("name a checkpoint to measure, e.g. `genlab eval checkpoints/dsprites-beta-vae-b4/model`")

    metrics = a.metrics.split(",") if a.metrics else None
    res = evaluate_checkpoint(a.checkpoint, metrics=metrics, device=a.device, fast=a.fast, dci_backend=a.dci_backend)
    if res["info"].get("data_note"):
        print(f"genlab eval: note: {res['info']['data_note']}", file=sys.stderr)
    print(json.dumps(res, indent=2) if a.json else _format_scores(res))
    return 0


def cmd_maps(a) -> int:
    import time

    from genlab.checkpoint import load_checkpoint, stem_of
    from genlab.data import load_dataset
    from genlab.device import pick_device
    from genlab.latent import gives_codes, write_factor_matrix, write_maps

    what = {w.strip() for w in a.what.split(",") if w.strip()}
    if not what or what - {"umap", "factors"}:
        raise UserError(f"--what takes umap and factors, comma-separated; not {a.what!r}")
    for ckpt in a.checkpoints:
        t0 = time.perf_counter()
        model, meta = load_checkpoint(ckpt, device=pick_device(a.device))
        data = load_dataset(model.cfg.data)
        umap = "umap" in what and model.has_encoder and len(model.cfg.shape) == 3
        factors = "factors" in what and bool(getattr(data, "factor_sizes", None)) and gives_codes(model)
        if not (umap or factors):
            raise UserError(f"{ckpt} is a {model.cfg.model} on {model.cfg.data}: nothing of --what {a.what} applies "
                            "(UMAP maps need an image model with an encoder, the factor matrix data with "
                            "ground-truth factors such as dsprites)")
        done = []
        if umap:
            path = write_maps(model, data, stem_of(ckpt), meta["weights_sha256"])
            done.append("UMAP maps")
        if factors:
            path = write_factor_matrix(model, data, stem_of(ckpt), meta["weights_sha256"])
            done.append("factor matrix")
        print(f"{path}: {' and '.join(done)}, {path.stat().st_size / 1000:.0f} KB in {time.perf_counter() - t0:.0f} s")
    return 0


def cmd_sample(a) -> int:
    from genlab import applications as A
    from genlab.checkpoint import load_checkpoint
    from genlab.device import pick_device

    if a.n < 1 or a.n > 10_000:
        raise UserError(f"--n must be 1–10,000 (got {a.n})")
    if a.caption is not None and not a.caption.strip():
        raise UserError("--caption is empty: describe a sprite, such as 'a large heart at the bottom left'")
    if Path(a.out).suffix not in (".png", ".npz"):
        raise UserError(f"--out must end in .png (a grid) or .npz (the arrays), not '{Path(a.out).suffix or a.out}'")
    model, _ = load_checkpoint(a.checkpoint, device=pick_device(a.device))
    if a.measure and not model.spec.text:
        raise UserError(f"--measure reads what a caption asked for; {model.cfg.model} takes no caption")
    x = A.sample_images(model, a.n, a.caption, a.seed)
    out = A.write_samples(x, a.out)
    what = f"'{a.caption}'" if a.caption else ("random captions" if model.spec.text else "the prior")
    print(f"{out}: {a.n} samples of {model.cfg.model} from {what}, {'×'.join(map(str, x.shape[1:]))} each")
    if a.measure:
        reader, meta = A.factor_reader()
        captions = [a.caption] if a.caption else A.corner_captions()
        res = A.caption_agreement(model, reader, captions, n=a.n, seed=a.seed)
        acc = ", ".join(f"{k} {v:.0%}" for k, v in meta["test_accuracy"].items())
        shares = ", ".join(f"{k} {v:.0%}" for k, v in res["mean"].items() if v is not None)
        print(f"shows what the caption names ({len(captions)} caption(s) × {a.n} samples): {shares}; read by the "
              f"caption reader (held-out accuracy {acc})")
    return 0


def cmd_caption(a) -> int:
    from genlab import captioning as K

    model, _ = K.load_captioner(a.checkpoint)
    x = K.read_images(a.images)
    texts = model.caption(x, seed=a.seed, greedy=a.greedy)
    print(json.dumps(texts) if a.json else "\n".join(texts))
    return 0


def cmd_caption_train(a) -> int:
    from genlab import captioning as K

    if a.batch_size < 2 or not 0 < a.lr <= 1:
        raise UserError("--batch-size must be at least 2 and --lr above 0 and at most 1")
    if a.mle_mix < 0:
        raise UserError(f"--mle-mix must be at least 0 (got {a.mle_mix})")
    stem = K.train_captioner(a.model, a.out, a.mle_steps, a.gan_steps, a.batch_size, a.seed, a.lr, half=a.half,
                             progress=True, mle_mix=a.mle_mix, init=a.init)
    model, _ = K.load_captioner(stem)
    m = K.measure(model, n_images=200, k=3)
    print(f"{stem}: on 200 new sprites, 3 captions each: parses {m['parses']:.0%}, shape {m['shape']:.0%}, size "
          f"{m['size']:.0%}, place {m['place']:.0%}; {m['distinct_per_image']:.2f} distinct captions per image")
    return 0


def cmd_lessons(a) -> int:
    from genlab import lessons as L

    lessons, errors = L.load_lessons(a.dir)
    for e in errors:
        print(f"genlab lessons: {e}", file=sys.stderr)
    if a.export is not None:
        if not a.out:
            raise UserError("--export needs --out FILE.md, the handout's file")
        by_name = {lesson.name: lesson for lesson in lessons}
        if a.export not in by_name:
            raise UserError(f"no lesson named {a.export} in {a.dir or L.lessons_dir()}; the lessons: "
                            f"{', '.join(by_name) or 'none'}")
        out = Path(a.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(L.handout(by_name[a.export], a.base_url, a.hide), encoding="utf-8")
        print(f"{out}: the handout of {by_name[a.export].title}, {len(by_name[a.export].steps)} steps")
        return 2 if errors else 0
    if a.urls:
        for lesson in lessons:
            for i in range(1, len(lesson.steps) + 1):
                print(L.step_url(lesson, i, hide=a.hide))
        return 2 if errors else 0
    if a.check is not None:
        chosen = [lesson for lesson in lessons if a.check in ("", lesson.name)]
        if not chosen:
            raise UserError(f"no lesson named {a.check}")
        ctx, failed = L.Context(), 0
        for lesson in chosen:
            for i, step in enumerate(lesson.steps, 1):
                if step.check is None:
                    continue
                try:
                    m = L.measure(step.check, step.page, step.settings, ctx)
                except L.CheckError as e:
                    failed += 1
                    print(f"{lesson.name} step {i}: cannot measure: {e}")
                    continue
                ok = step.check.holds(m.value)
                failed += not ok
                print(f"{lesson.name} step {i}: {m.what} = {m.value:.4g}, expected {step.check.range_text}: "
                      f"{'ok' if ok else 'OUTSIDE'}")
        return 1 if failed else (2 if errors else 0)
    for lesson in lessons:
        print(f"{lesson.name:<24} {len(lesson.steps):>2} steps  {lesson.minutes:>4g} min  {lesson.title} ({lesson.section})")
    if not lessons and not errors:
        print(f"no lesson files in {a.dir or L.lessons_dir()}")
    return 2 if errors else 0


def cmd_translate(a) -> int:
    from genlab.translation import translate_file

    res = translate_file(a.checkpoint, a.images, a.out, a.direction)
    print(f"translated {res['n']} image(s) {res['direction']}; wrote {res['out']} ('images', 'cycled')")
    return 0


def cmd_score(a) -> int:
    import numpy as np

    from genlab.metrics.disentanglement import score_codes

    p = Path(a.codes)
    if not p.exists():
        raise UserError(f"codes file '{a.codes}' not found")
    try:
        with np.load(p, allow_pickle=False) as f:
            codes, factors = f["codes"], f["factors"]
    except KeyError:
        raise UserError(f"'{a.codes}' must hold arrays 'codes' (N×D float) and 'factors' (N×K int)") from None
    except Exception as e:
        raise UserError(f"'{a.codes}' could not be read as .npz ({type(e).__name__}); save it with numpy.savez") from None
    if codes.ndim != 2 or factors.ndim != 2 or len(codes) != len(factors):
        raise UserError(f"'{a.codes}': codes must be N×D and factors N×K with the same N; got {codes.shape} and {factors.shape}")
    res = score_codes(codes.astype(np.float64), factors.astype(np.int64), rng=np.random.default_rng(a.seed),
                      dci_backend=a.dci_backend)
    print(json.dumps(res, indent=2, default=float) if a.json else _format_scores(res))
    return 0


def _format_scores(res: dict, indent: str = "") -> str:
    lines = []
    for k, v in res.items():
        if isinstance(v, dict):
            body = _format_scores(v, indent + "  ")
            if body:  # a section of nothing but histograms says nothing here
                lines += [f"{indent}{k}:", body]
        elif isinstance(v, float):
            lines.append(f"{indent}{k:28s} {v:.4f}")
        elif isinstance(v, (list, tuple)) and len(v) > 12:
            continue  # matrices and histograms: use --json
        else:
            lines.append(f"{indent}{k:28s} {v}")
    return "\n".join(lines)


def cmd_rebuild(a) -> int:
    from genlab.recipes import find_recipes, rebuild

    files = find_recipes(a.recipes, a.only)
    if not files:
        raise UserError(f"no recipe files (*.toml) under '{a.recipes}'" + (f" matching '{a.only}'" if a.only else ""))
    for f in files:
        rebuild(f, ckpt_root=a.out, runs_root=a.runs, device=a.device, evaluate=not a.no_eval, force=a.force,
                steps=a.steps, progress=not a.quiet, fast_eval=a.fast_eval)
    return 0


def cmd_models(a) -> int:
    from genlab.models import MODELS

    rows = []
    for name, spec in MODELS.items():
        line = f"genlab train --model {name} {spec.example}".strip() + " --steps 2000"
        rows.append({"model": name, "family": spec.family, "paper": spec.paper, "for": spec.purpose, "cli": line})
    if a.json:
        print(json.dumps(rows, indent=2))
        return 0
    print("| model | family | paper | what it is for |" + ("" if a.brief else " CLI |"))
    print("|---|---|---|---|" + ("" if a.brief else "---|"))
    for r in rows:
        esc = {k: str(v).replace("|", "\\|") for k, v in r.items()}
        cli = "" if a.brief else f" `{esc['cli']}` |"
        print(f"| `{esc['model']}` | {esc['family']} | {esc['paper']} | {esc['for']} |{cli}")
    return 0


def cmd_results(a) -> int:
    from genlab.recipes import results_rows, results_table

    if a.nearest_real:
        from genlab.metrics.nearest_real import results_table as nearest_table

        rows = results_rows(a.dirs or ["checkpoints"])
        print(nearest_table([(Path(r.path).parent.name if Path(r.path).name == "model" else Path(r.path).name,
                              r.model, r.meta) for r in rows]))
        return 0
    if a.failure_modes:
        from genlab.checkpoint import list_checkpoints
        from genlab.failure_modes import results_table as code_use_table

        print(code_use_table([r for d in a.dirs or ["checkpoints"] for r in list_checkpoints(d)]))
        return 0
    print(results_table(a.dirs or ["checkpoints"], brief=a.brief))
    return 0


def cmd_sweep(a) -> int:
    from genlab.data import load_dataset
    from genlab.models import make_config
    from genlab.train import TrainConfig, fit

    setting, _, values = a.values.partition("=")
    known = {dest: typ for _, dest, typ, _, _ in model_options() if typ is not None}
    if not values or setting.replace("-", "_") not in known:
        raise UserError(f"--values must be SETTING=V1,V2,… with a model option as SETTING ({', '.join(sorted(known))})")
    setting = setting.replace("-", "_")
    try:
        vals = [known[setting](v) for v in values.split(",") if v]
        seeds = [int(s) for s in a.seeds.split(",") if s]
    except ValueError as e:
        raise UserError(f"could not read the sweep's values or seeds: {e}") from None
    data = load_dataset(a.data)

    def run_name(v, seed):
        return f"{a.model}-{a.data}-{setting}-{v:g}-s{seed}" if isinstance(v, float) else f"{a.model}-{a.data}-{setting}-{v}-s{seed}"

    members = [(run_name(v, seed), make_config(a.model, a.data, data.shape, **{setting: v}), seed)
               for seed in seeds for v in vals]
    from genlab.device import pick_device
    from genlab.sweep import Member, can_batch, fit_stacked, stackable_text

    batched = a.batched == "on" or (a.batched == "auto" and pick_device(a.device).type == "cuda")
    if batched and not can_batch(a.model, setting):
        if a.batched == "on":
            raise UserError(f"a batched sweep trains {stackable_text()}; "
                            f"use --batched off for {a.model} over {setting}")
        batched = False
    tc = TrainConfig(steps=a.steps, batch_size=a.batch_size, device=a.device, resume=True, ckpt_every=max(100, a.steps // 10))
    if batched:
        res = fit_stacked([Member(n, c, s) for n, c, s in members], data, a.out, tc, progress=not a.quiet)
        print(f"{len(members)} members batched: step {res['step']}, {res['images_per_s']:.0f} images/s in all -> {a.out}")
        finished = [Path(a.out) / n for n, _, _ in members]
    else:
        finished = []
        for name, cfg, seed in members:
            out = Path(a.out) / name
            res = fit(cfg, data, dataclasses.replace(tc, seed=seed, out=str(out), name=name), progress=not a.quiet)
            print(f"{name}: step {res.step}, {res.images_per_s:.0f} images/s -> {res.checkpoint}")
            if not res.stopped:
                finished.append(out)
    if a.eval:
        from genlab.evaluate import evaluate_checkpoint

        for out in finished:
            evaluate_checkpoint(out / "model", device=a.device)
    return 0


def cmd_study(a) -> int:
    from genlab import study as S

    if a.study_command == "run":
        study = S.load_study(a.file)
        only = S.parse_only(a.only, study)
        if a.cpus_per_trial < 1 or a.gpus_per_trial < 0 or (a.steps is not None and a.steps < 1):
            raise UserError("--cpus-per-trial and --steps must be at least 1, --gpus-per-trial at least 0")
        if a.stacked or a.time_limit is not None:
            if not a.stacked or a.address or (a.time_limit is not None and a.time_limit <= 0):
                raise UserError("--time-limit (seconds, above 0) goes with --stacked, which trains in this process "
                                "(no --address)")
            import signal
            import threading

            from genlab.sweep import run_study_stacked

            stop = threading.Event()  # `kill`: every trial is checkpointed at the same step, then the run stops
            main = threading.current_thread() is threading.main_thread()
            prev = signal.signal(signal.SIGTERM, lambda signum, frame: stop.set()) if main else None
            out = a.out or f"runs/studies/{study.name}"
            try:
                rep = run_study_stacked(study, out, steps=a.steps, device=a.device, time_limit_s=a.time_limit,
                                        only=only, progress=not a.quiet, stop_event=stop)
            finally:
                if main:
                    signal.signal(signal.SIGTERM, prev)
            state = "stopped before the end: run again to resume" if rep["stopped"] else "done"
            print(f"{study.name}: {len(rep['members'])} trials stacked, {len(rep['skipped'])} already done; step "
                  f"{rep['step']:,}, {rep['images_per_s']:,.0f} images/s, {rep['wall_s']:.0f} s, {state} -> {out}")
            return 0
        out = a.out or f"runs/studies/{study.name}"
        import signal

        def _terminate(signum, frame):  # `kill` (the Study page's Stop) stops like Ctrl-C: trials cancelled, resumable
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, _terminate)
        rep = S.run_study(study, out, address=a.address, cpus_per_trial=a.cpus_per_trial, gpus_per_trial=a.gpus_per_trial,
                          steps=a.steps, only=only, device=a.device, progress=not a.quiet)
        print(f"{study.name}: {len(rep['done'])} trained, {len(rep['skipped'])} already done, "
              f"{len(rep['failed'])} failed -> {out}")
        for name, why in rep["failed"].items():
            print(f"  {name}: {why}")
        return 1 if rep["failed"] else 0
    if a.study_command == "ship":
        names = S.ship(a.dir, a.to, done_only=not a.unfinished)
        print(f"shipped {len(names)} trial(s) to {a.to}: {', '.join(names) or 'none finished yet'}")
        return 0
    if a.study_command == "status":
        rows = S.status_rows(a.dir)
        if a.json:
            print(json.dumps(rows, indent=2))
            return 0
        counts = {}
        for r in rows:
            counts[r["status"]] = counts.get(r["status"], 0) + 1
            why = f"  ({r['error']})" if r["status"] == "failed" and r.get("error") else ""
            why = why or (f"  ({r['phase']})" if r.get("phase") else "")
            print(f"{r['trial']:<32} {r['status']:<8} step {r['step']:>7,} / {r['steps']:,}{why}")
        print(", ".join(f"{n} {k}" for k, n in counts.items()))
        return 0
    res = S.results(a.dir)
    if a.json:
        print(json.dumps(res, indent=2))
    elif a.csv:
        import csv

        keys = list(dict.fromkeys(k for r in res["trials"] for k in r))
        w = csv.DictWriter(sys.stdout, fieldnames=keys)
        w.writeheader()
        w.writerows(res["trials"])
    else:
        print(S.format_results(res))
    return 0


COMMANDS = {"sample": cmd_sample, "caption": cmd_caption, "caption-train": cmd_caption_train,
            "study": cmd_study, "train": cmd_train, "list": cmd_list, "info": cmd_info, "data": cmd_data, "eval": cmd_eval,
            "score": cmd_score, "maps": cmd_maps, "rebuild": cmd_rebuild, "results": cmd_results, "models": cmd_models, "sweep": cmd_sweep,
            "lessons": cmd_lessons, "translate": cmd_translate}


def main(argv: list[str] | None = None) -> int:
    from genlab.checkpoint import CheckpointError
    from genlab.data import DatasetMissing
    from genlab.train import DivergedError

    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (UserError, ValueError, CheckpointError, DatasetMissing, FileNotFoundError, FileExistsError) as e:
        print(f"genlab {args.command}: error: {e}", file=sys.stderr)
        return 2
    except DivergedError as e:
        print(f"genlab {args.command}: diverged: {e}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print(f"genlab {args.command}: interrupted; continue with --resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
