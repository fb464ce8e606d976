"""Recipes: one TOML file per shipped checkpoint, so every model in `checkpoints/` can be rebuilt.

A recipe names the model, the data, the training settings and the model's options:

    name = "beta-vae-b4-dsprites"
    model = "beta-vae"          # or kind = "classifier" for the label classifier of a dataset
    data = "dsprites"
    steps = 2000
    batch_size = 64
    seed = 0
    half = true                 # ship float16 weights
    [options]
    beta = 4.0
    lr = 5e-4

`rebuild` trains each recipe into a resumable run folder (runs/recipes/NAME), copies the final
model into checkpoints/NAME/ and measures it with `genlab eval`, so the results table is always
made from what is shipped. `results_table` renders that table from the checkpoints' metadata.
"""
from __future__ import annotations

import fnmatch
import shutil
import tomllib
from pathlib import Path

TRAIN_FIELDS = ("steps", "batch_size", "device", "seed", "ckpt_every", "log_every", "precision", "lr_schedule", "name",
                "snapshot_every")
RESULT_FIELDS = ("steps", "batch_size", "seed", "precision", "lr_schedule")  # those that change the trained weights


class RecipeError(ValueError):
    """A recipe that cannot be read or used; the message names the file and the fix."""


def load_recipe(path) -> dict:
    p = Path(path)
    if not p.exists():
        raise RecipeError(f"recipe '{path}' not found")
    try:
        r = tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as e:
        raise RecipeError(f"recipe '{path}' is not valid TOML: {e}") from None
    need = ("data",) if r.get("kind") == "classifier" else ("model", "data")
    for key in need:
        if key not in r:
            raise RecipeError(f"recipe '{path}' has no '{key}'")
    r.setdefault("name", p.stem)
    return r


def find_recipes(folder="recipes", only: str | None = None) -> list[Path]:
    files = sorted(Path(folder).glob("*.toml"))
    if only:
        files = [f for f in files if fnmatch.fnmatch(f.stem, only)]
    return files


def train_config_for(recipe: dict, out: str, resume: bool = True, channels_last: bool = False, half: bool = False,
                     **overrides):
    """The TrainConfig of a recipe; `overrides` (TRAIN_FIELDS, None = keep the recipe's) and the two
    flags come from the command line."""
    from genlab.train import TrainConfig

    tv = {k: recipe[k] for k in TRAIN_FIELDS if k in recipe}
    given = {k: v for k, v in overrides.items() if v is not None}
    tv.update(given)
    # The metadata records what was run: a recipe with a changed length, seed, batch or precision is
    # stored with those values, so `rebuild` never mistakes it for the recipe file's own run.
    ran = dict(recipe, **{k: v for k, v in given.items() if k in RESULT_FIELDS}) if recipe else None
    return TrainConfig(out=out, resume=resume, channels_last=channels_last or recipe.get("channels_last", False),
                       half_checkpoint=half or recipe.get("half", False),
                       average_only=bool(recipe.get("average_only", False)), recipe=ran, **tv)


def rebuild(recipe_path, ckpt_root="checkpoints", runs_root="runs/recipes", device: str | None = None,
            evaluate: bool = True, force: bool = False, steps: int | None = None, progress: bool = True,
            log=print, fast_eval: bool = False) -> Path:
    """Train one recipe (resuming its run folder), ship it to ckpt_root/NAME/model and measure it.
    A shipped checkpoint already made from the same recipe is kept unless force=True."""
    from genlab.checkpoint import CheckpointError, read_metadata

    recipe = load_recipe(recipe_path)
    if steps is not None:
        recipe = dict(recipe, steps=int(steps))
    name = recipe["name"]
    dest = Path(ckpt_root) / name
    stem = dest / "model"
    if not force and stem.with_suffix(".json").exists():
        try:
            if read_metadata(stem).get("recipe") == recipe:
                log(f"{name}: up to date in {dest}")
                return stem
        except CheckpointError:
            pass  # a broken shipped file: rebuild it
    if recipe.get("kind") == "classifier":
        dest.mkdir(parents=True, exist_ok=True)
        from genlab.data import load_dataset
        from genlab.device import pick_device
        from genlab.evaluate import train_label_classifier

        path = train_label_classifier(load_dataset(recipe["data"], path=recipe.get("data_path")), stem,
                                      steps=int(recipe.get("steps", 1000)), batch_size=int(recipe.get("batch_size", 64)),
                                      device=str(pick_device(device or recipe.get("device", "auto"))),
                                      seed=int(recipe.get("seed", 0)), meta={"recipe": recipe, "name": recipe["name"]})["path"]
        log(f"{name}: classifier written to {path}")
        return stem

    from genlab.data import load_dataset
    from genlab.models import make_config
    from genlab.train import fit

    data = load_dataset(recipe["data"], path=recipe.get("data_path"))
    cfg = make_config(recipe["model"], recipe["data"], data.shape, **recipe.get("options", {}))
    run = Path(runs_root) / name
    if force and run.exists():
        shutil.rmtree(run)
    tc = train_config_for(recipe, str(run), resume=True, device=device)
    res = fit(cfg, data, tc, progress=progress)
    if res.stopped:
        raise RecipeError(f"{name}: training stopped at step {res.step}; run the same command again to resume")
    dest.mkdir(parents=True, exist_ok=True)
    tmp = dest / ".incoming"
    tmp.mkdir(exist_ok=True)
    for suffix in (".safetensors", ".json"):
        shutil.copy2(run / f"model{suffix}", tmp / f"model{suffix}")
    for suffix in (".safetensors", ".json"):  # rename is atomic; the sidecar names the weights' hash
        (tmp / f"model{suffix}").replace(stem.with_suffix(suffix))
    tmp.rmdir()
    if (run / "snapshots").is_dir():  # the run's snapshots ship beside it (the traversal page's timeline)
        incoming, old = dest / ".snapshots-incoming", dest / ".snapshots-old"
        shutil.rmtree(incoming, ignore_errors=True)
        shutil.copytree(run / "snapshots", incoming)
        if (dest / "snapshots").exists():
            (dest / "snapshots").rename(old)
        incoming.rename(dest / "snapshots")
        shutil.rmtree(old, ignore_errors=True)
    log(f"{name}: {res.step} steps in {res.wall_time_s:.0f} s, shipped to {stem}")
    if evaluate:
        from genlab.evaluate import evaluate_checkpoint

        evaluate_checkpoint(stem, device=device or "auto", fast=fast_eval)
        log(f"{name}: measured")
    return stem


# --------------------------------------------------------------------------- results table

# Published figures to print beside ours (numbers.md: InfoGAN-CR compilation, PacGAN paper).
PUBLISHED = {
    ("vae", "dsprites"): {"factor_vae": 0.63, "mig": 0.10, "source": "InfoGAN-CR 2020"},
    ("beta-vae", "dsprites"): {"factor_vae": 0.63, "mig": 0.21, "source": "InfoGAN-CR 2020"},
    ("infogan", "dsprites"): {"factor_vae": 0.59, "mig": 0.05, "source": "InfoGAN-CR 2020"},
    ("gan", "ring"): {"modes": 6.3, "hq": 0.982, "source": "PacGAN (2018), plain GAN"},
    ("gan", "grid"): {"modes": 17.3, "hq": 0.948, "reverse_kl": 0.70, "source": "PacGAN (2018), plain GAN; PacGAN4: 24.8 / 93.6% / 0.04"},
}

COLUMNS = [  # (header, metric key, format)
    ("MIG", "mig", "{:.2f}"), ("FactorVAE", "factor_vae", "{:.2f}"), ("BetaVAE", "beta_vae", "{:.2f}"),
    ("DCI dis.", "dci_disentanglement", "{:.2f}"), ("SAP", "sap", "{:.3f}"),
    ("FD", "fd", "{:.2f}"), ("precision", "precision", "{:.2f}"), ("recall", "recall", "{:.2f}"),
    ("sharpness (Laplacian var., ours / real)", None, None),
    ("classes produced (label KL)", "labels", None),
    ("modes", "modes_captured", "{:.0f}"), ("HQ", "high_quality", "{:.1%}"), ("rev. KL", "reverse_kl", "{:.2f}"),
    ("with DRS: modes / HQ / rev. KL", "drs", None),
    ("generator itself, not its average: modes / HQ / rev. KL", "generator", None),
]


def _fmt(v, fmt):
    if v is None or (isinstance(v, float) and v != v):  # missing, or undefined (NaN: e.g. no high-quality sample)
        return "–"
    try:
        return fmt.format(v)
    except (TypeError, ValueError):
        return str(v)


def results_rows(folders=("checkpoints",)) -> list:
    """The measured generative models under `folders` (CheckpointRow), a study's trials left out."""
    from genlab.checkpoint import list_checkpoints

    rows = []
    for folder in folders:
        for r in list_checkpoints(folder):
            if not r.ok or r.kind != "model":
                continue
            if (r.meta.get("recipe") or {}).get("study"):
                continue  # a study's trials are summarised over seeds by `genlab study results`
            if (r.meta.get("recipe") or {}).get("table"):
                continue  # a recipe of a table of its own (table = "failure-modes": `genlab results --failure-modes`)
            rows.append(r)
    return rows


GROUPS = [("images", "Image models"), ("points", "2-D mixtures (mode collapse)")]


def _result_cells(r) -> list[str]:
    from genlab.rejection import drs_summary

    m = r.metrics or {}
    fast = ((r.meta.get("metrics_info") or {}).get("settings") or {}).get("fast")
    cells = [(Path(r.path).parent.name if Path(r.path).name == "model" else Path(r.path).name) + (" ¹" if fast else ""),
             r.model, r.data, str(r.steps), str(r.meta.get("device_name") or r.device)]
    for header, key, fmt in COLUMNS:
        if key == "drs":  # discriminator rejection sampling
            cells.append(drs_summary(m))
        elif key == "generator":  # a GAN that samples from a generator average: the generator it averages
            n = m.get("generator_modes_captured")
            cells.append("–" if n is None else f"{n:.0f} / {_fmt(m.get('generator_high_quality'), '{:.1%}')} / "
                         f"{_fmt(m.get('generator_reverse_kl'), '{:.2f}')}")
        elif key == "labels":  # mode collapse on labelled images: classes a classifier finds in the samples
            n, kl = m.get("labels_covered"), m.get("label_kl_to_real")
            cells.append("–" if n is None else f"{n:.0f}" + (f" ({kl:.2f})" if kl is not None else ""))
        elif key is None:
            ours, real = m.get("laplacian_variance_samples"), m.get("laplacian_variance_real")
            cells.append("–" if ours is None else f"{ours:.3f} / {real:.3f}" if real is not None else f"{ours:.3f}")
        else:
            cells.append(_fmt(m.get(key), fmt))
    pub = PUBLISHED.get((r.model, r.data))
    cells.append("–" if pub is None else ", ".join(f"{k} {v}" for k, v in pub.items() if k != "source") + f" ({pub['source']})")
    return cells


def results_table(folders=("checkpoints",), brief: bool = False) -> str:
    """The results tables, from the metrics stored in each checkpoint's metadata: one for image models
    and one for the 2-D mixtures, each without the columns none of its rows has. `brief` (the README's):
    without the device and published columns, which docs/results/README.md's full table has."""
    from genlab.data import DATASETS

    rows = results_rows(folders)
    head = ["checkpoint", "model", "data", "steps", "device"] + [c[0] for c in COLUMNS] + ["published"]
    if not rows:
        return "\n".join(["| " + " | ".join(head) + " |", "|" + "---|" * len(head),
                          "| (no measured checkpoints yet: run `genlab rebuild`) |" + " |" * (len(head) - 1)])
    titles = dict(GROUPS)

    def kind_of(r) -> str | None:  # None: a dataset of another kind, or one genlab no longer has
        kind = DATASETS[r.data].kind if r.data in DATASETS else None
        return kind if kind in titles else None

    out, any_fast = [], False
    for kind, title in GROUPS + [(None, "Other")]:
        group = [r for r in rows if kind_of(r) == kind]
        if not group:
            continue
        cells = [_result_cells(r) for r in group]
        if brief:  # a row with no measure of these columns (a translator's are its own) only in the full table
            cells = [c for c in cells if any(v != "–" for v in c[5:])] or cells
        any_fast = any_fast or any(c[0].endswith(" ¹") for c in cells)
        # the first five columns always; a measure only where some row of this group has it
        keep = [j for j in range(len(head)) if j < 5 or any(c[j] != "–" for c in cells)]
        if brief:
            keep = [j for j in keep if head[j] not in ("device", "published")]
        out += [f"**{title}**", "", "| " + " | ".join(head[j] for j in keep) + " |", "|" + "---|" * len(keep)]
        out += ["| " + " | ".join(c[j] for j in keep) + " |" for c in cells]
        out.append("")
    if any_fast:
        out += ["¹ measured with `genlab eval --fast` (BetaVAE / FactorVAE on 1,000 train / 500 eval points, "
                "MIG, SAP, DCI, modularity on 3,000 codes, 1,000 images for quality and sharpness): a quick look, "
                "not comparable with the published defaults."]
    return "\n".join(out).rstrip()
