"""Lessons: guided, step-by-step tours of the survey's claims (issue 33). No Streamlit here.

A lesson is one TOML file in lessons/ (or the folder $GENLAB_LESSONS names): a title, the survey
section, the claim, and a list of steps. A step names a page and its settings (that page's own query
parameters, so the preset IS a link), an instruction, a question (optionally with multiple-choice
answers), the expected observation, and optionally a check: a figure genlab computes for the page's
current state, with the range the class should see. The format is in docs/lessons.md.

    lesson = load_lesson("lessons/beta-disentanglement.toml")   # LessonError: one sentence naming file, step, field
    step_url(lesson, 2)          # '/Latent_traversal?group=…&beta=16&lesson=beta-disentanglement&lesson_step=2'
    measure(step.check, step.page, step.settings)   # Measured(value, what, source)
    handout(lesson, "http://localhost:8501")        # a printable Markdown handout

A check reads the figure the checkpoint's JSON sidecar stores (`genlab eval`) where that is the
figure the page shows, and otherwise measures it the way the page does (the KL bars' 256 images, the
Code-space map's n points, a trained 2-D GAN's 2,500 samples, a live run trained for `steps` steps),
so the class and the check see the same number.
"""

from __future__ import annotations

import functools
import math
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
from urllib.parse import urlencode

LESSON_KEY, STEP_KEY, HIDE_KEY = "lesson", "lesson_step", "hide"  # the lesson's own query parameters
# (not `step`: the Latent-traversal page already reads ?step= as the training step of its timeline)
NAME_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
CONTROL_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}\*?")
MAX_TEXT = 4000  # characters in one instruction, question or observation
DEFAULT_MINUTES = 3.0


class LessonError(ValueError):
    """A lesson file that cannot be used: one sentence naming the file, the step and the field."""


class CheckError(ValueError):
    """A check that cannot be measured in this state (a checkpoint missing, a setting it cannot use)."""


def lessons_dir() -> Path:
    """lessons/, or the folder $GENLAB_LESSONS names (read on every call)."""
    return Path(os.environ.get("GENLAB_LESSONS", "lessons"))


# --------------------------------------------------------------------------- the pages a lesson visits
# The query parameters each page reads from its link (a step's settings must be among them), and the
# keys of the widgets a step may hide. A name ending in * hides every widget whose key starts with it
# (the pages key some widgets per checkpoint, e.g. "train_seed|<family>|<β>").

PAGE_PARAMS = {
    "Latent_traversal": ("ckpt", "group", "beta", "train_seed", "step", "start", "index", "seed", "dims", "section"),
    "Blur_vs_sharpness": ("data", "seed", "n", "ckpts", "space", "pair", "section"),
    "Mode_collapse": ("view", "dataset", "seed", "lr", "batch", "loss", "fm", "mbd", "ls", "noise", "ttur", "consensus",
                      "pack", "hist", "ema", "replay", "dsteps", "b_loss", "b_fm", "b_mbd", "b_ls", "b_noise", "b_ttur",
                      "b_consensus", "b_pack", "b_hist", "b_ema", "b_replay", "b_dsteps", "label_data", "clusters"),
    "Code_space": ("ckpt", "method", "n", "colour", "prior", "a", "b"),
    "Train": ("model", "data", "run"),
    "Study": ("study", "metric"),
    "VAE_failure_modes": ("data", "reach", "fix", "index", "step"),
    "GAN_applications": ("caption", "n", "a", "b", "seed", "ckpt", "pick"),
    "Unified_view": ("ckpt", "vs", "n", "seed"),
}
_TRICK_KEYS = ("fm", "mbd", "ls", "noise", "ttur", "consensus", "pack", "hist", "ema", "replay")
PAGE_CONTROLS = {
    "Latent_traversal": ("group", "beta", "train_seed*", "step*", "start", "index", "seed", "span", "n_values", "dims",
                         "scores", "redraw", "z*"),
    "Blur_vs_sharpness": ("data", "seed", "n", "ckpts*", "space", "crop_img", "crop_size", "crop_top", "crop_left",
                          "pair", "shared_z*"),
    "Mode_collapse": ("view", "dataset", "seed", "lr", "batch", "loss", *_TRICK_KEYS, "dsteps", "b_loss",
                      *(f"b_{k}" for k in _TRICK_KEYS), "b_dsteps", "b_*", "play", "step", "reset", "per_click",
                      "label_data", "label_ckpts", "trained_ckpts"),
    "Code_space": ("ckpt", "method", "n", "colour", "prior", "point_a", "point_b", "path_steps"),
    "Train": ("model", "data"),
    "Study": ("study", "metric"),
    "VAE_failure_modes": ("data", "reach", "fix*", "index", "step"),
    "GAN_applications": ("caption", "n", "a", "b", "seed", "ckpt", "pick", "upload"),
    "Unified_view": ("ckpt", "vs", "n", "seed"),
}


def _pages() -> list:
    """genlab.ui.PAGES, the app's list of pages. Imported outside the app (the CLI's handouts), genlab.ui's
    cached functions would each log that Streamlit has no runtime: quiet for the import."""
    import logging

    import streamlit  # noqa: F401  (creates Streamlit's loggers, each with its own level)

    logs = [logging.getLogger(n) for n in list(logging.root.manager.loggerDict) if n.startswith("streamlit")]
    levels = [log.level for log in logs]
    for log in logs:
        log.setLevel(logging.ERROR)
    try:
        from genlab.ui import PAGES
    finally:
        for log, level in zip(logs, levels):
            log.setLevel(level)
    return PAGES


def page_title(url_path: str) -> str:
    return next((p.title for p in _pages() if p.url_path == url_path), url_path)


def page_file(url_path: str) -> str:
    return next(p.file for p in _pages() if p.url_path == url_path)


def hide_css(controls) -> str:
    """A <style> block hiding the widgets with these keys. Streamlit gives every keyed element the CSS
    class st-key-<key> (characters other than letters, digits, _ and - become -), so a page needs no
    change for a control to be hidden; it stays in place, with its value, where the student cannot
    reach it. Only names of CONTROL_RE's form get here, so nothing else can enter the style."""
    rules = []
    for c in controls:
        if not CONTROL_RE.fullmatch(c):
            continue
        if c.endswith("*"):
            rules.append(f'[class*="st-key-{c[:-1]}"]')
        else:
            rules.append(f".st-key-{c}")
    return f"<style>{', '.join(rules)} {{display: none !important;}}</style>" if rules else ""


# --------------------------------------------------------------------------- the format


@dataclass(frozen=True)
class Check:
    """A figure genlab computes for the page's state, and the range the class should see."""

    figure: str
    low: float
    high: float
    args: dict = field(default_factory=dict)  # the figure's own settings: checkpoint, factor, run, steps …

    def holds(self, value: float) -> bool:
        return value == value and self.low <= value <= self.high

    @property
    def range_text(self) -> str:
        return f"{_num(self.low)}–{_num(self.high)}"


@dataclass(frozen=True)
class Step:
    page: str  # a url_path of genlab.ui.PAGES
    settings: dict  # the page's query parameters, as strings
    instruction: str
    question: str
    expected: str
    choices: tuple = ()
    answer: int | None = None  # 1-based, into choices
    check: Check | None = None
    hide: tuple = ()  # widget keys the instructor link hides
    minutes: float = DEFAULT_MINUTES


@dataclass(frozen=True)
class Lesson:
    name: str  # the file's stem: the ?lesson= value
    path: str
    title: str
    section: str
    claim: str
    steps: tuple

    @property
    def minutes(self) -> float:
        return sum(s.minutes for s in self.steps)


LESSON_FIELDS = ("title", "section", "claim", "steps")
STEP_FIELDS = ("page", "settings", "instruction", "question", "choices", "answer", "expected", "check", "hide", "minutes")


def _num(v: float) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _fail(path, where: str, problem: str):
    raise LessonError(f"{path}{', ' + where if where else ''}: {problem.rstrip('.')}.")


def _text(path, where, v, *, required=True) -> str:
    if v is None:
        if required:
            _fail(path, where, "missing")
        return ""
    if not isinstance(v, str) or not v.strip():
        _fail(path, where, "must be a non-empty string")
    if len(v) > MAX_TEXT:
        _fail(path, where, f"longer than {MAX_TEXT:,} characters")
    return v.strip()


def _setting(v) -> str | None:
    """A TOML value as its query-parameter text ('true' / 'false' for a switch, as the pages read it back)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float) and math.isfinite(v):
        return f"{v:g}"
    if isinstance(v, str):
        return v
    return None


def _parse_check(path, where: str, raw) -> Check:
    if not isinstance(raw, dict):
        _fail(path, f"{where}, field check", "must be a table with figure and range")
    fig_name = raw.get("figure")
    if fig_name is None:
        _fail(path, f"{where}, field check.figure", "missing")
    if fig_name not in FIGURES:
        _fail(path, f"{where}, field check.figure", f"'{fig_name}' is not a figure genlab computes (one of {', '.join(FIGURES)})")
    fig = FIGURES[fig_name]
    rng = raw.get("range")
    if rng is None:
        _fail(path, f"{where}, field check.range", "missing")
    if (not isinstance(rng, list) or len(rng) != 2 or any(isinstance(x, bool) or not isinstance(x, (int, float)) for x in rng)
            or not all(math.isfinite(x) for x in rng) or rng[0] > rng[1]):
        _fail(path, f"{where}, field check.range", f"must be two numbers [low, high] with low ≤ high (got {rng!r})")
    args = {}
    for k, v in raw.items():
        if k in ("figure", "range"):
            continue
        if k not in fig.args:
            known = ", ".join(fig.args) or "none"
            _fail(path, f"{where}, field check.{k}", f"'{k}' is not a setting of the figure {fig_name} (its settings: {known})")
        problem = fig.args[k](v)
        if problem:
            _fail(path, f"{where}, field check.{k}", problem)
        args[k] = v
    for k in fig.required:
        if k not in args:
            _fail(path, f"{where}, field check.{k}", f"missing (the figure {fig_name} needs it)")
    return Check(fig_name, float(rng[0]), float(rng[1]), args)


def _parse_step(path, i: int, raw) -> Step:
    where = f"step {i}"
    if not isinstance(raw, dict):
        _fail(path, where, "must be a table ([[steps]])")
    for k in raw:
        if k not in STEP_FIELDS:
            _fail(path, f"{where}, field {k}", f"'{k}' is not a step field (the fields: {', '.join(STEP_FIELDS)})")
    page = raw.get("page")
    if page is None:
        _fail(path, f"{where}, field page", "missing")
    if page not in PAGE_PARAMS:
        _fail(path, f"{where}, field page", f"'{page}' is not a page a lesson can open (one of {', '.join(PAGE_PARAMS)})")
    settings_raw = raw.get("settings", {})
    if not isinstance(settings_raw, dict):
        _fail(path, f"{where}, field settings", "must be a table of the page's query parameters")
    settings = {}
    for k, v in settings_raw.items():
        if k in (LESSON_KEY, STEP_KEY, HIDE_KEY):
            _fail(path, f"{where}, field settings.{k}", f"'{k}' is the lesson's own parameter, not the page's")
        if k not in PAGE_PARAMS[page]:
            _fail(path, f"{where}, field settings.{k}",
                  f"the {page} page reads no '{k}' (its parameters: {', '.join(PAGE_PARAMS[page])})")
        text = _setting(v)
        if text is None or not text.strip() or "\n" in text or len(text) > 500:
            _fail(path, f"{where}, field settings.{k}", "must be a string, number or true/false on one line")
        settings[k] = text
    instruction = _text(path, f"{where}, field instruction", raw.get("instruction"))
    question = _text(path, f"{where}, field question", raw.get("question"))
    expected = _text(path, f"{where}, field expected", raw.get("expected"))
    choices = raw.get("choices", [])
    if (not isinstance(choices, list) or any(not isinstance(c, str) or not c.strip() for c in choices)
            or len(choices) == 1 or len(choices) > 8):
        _fail(path, f"{where}, field choices", "must be a list of 2 to 8 non-empty strings")
    answer = raw.get("answer")
    if answer is not None:
        if not choices:
            _fail(path, f"{where}, field answer", "given without choices")
        if isinstance(answer, bool) or not isinstance(answer, int) or not 1 <= answer <= len(choices):
            _fail(path, f"{where}, field answer", f"must be the number of one of the {len(choices)} choices (1–{len(choices)})")
    check = _parse_check(path, where, raw["check"]) if "check" in raw else None
    hide = raw.get("hide", [])
    if not isinstance(hide, list) or any(not isinstance(h, str) for h in hide):
        _fail(path, f"{where}, field hide", "must be a list of control keys")
    for h in hide:
        if h not in PAGE_CONTROLS[page]:
            _fail(path, f"{where}, field hide", f"'{h}' is not a control of the {page} page (its controls: "
                                               f"{', '.join(PAGE_CONTROLS[page])})")
    minutes = raw.get("minutes", DEFAULT_MINUTES)
    if isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or not 0 < minutes <= 120:
        _fail(path, f"{where}, field minutes", "must be a number of minutes above 0 and at most 120")
    return Step(page, settings, instruction, question, expected, tuple(c.strip() for c in choices), answer, check,
                tuple(hide), float(minutes))


def parse_lesson(text: str, path: str = "lesson.toml") -> Lesson:
    """A lesson from its TOML text; LessonError (one sentence naming the file, the step and the field)
    when anything in it cannot be used."""
    name = Path(path).stem
    if not NAME_RE.fullmatch(name):
        _fail(path, "", "a lesson file's name must be lower-case letters, digits and dashes (it goes into links)")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        _fail(path, "", f"not valid TOML ({e})")
    for k in raw:
        if k not in LESSON_FIELDS:
            _fail(path, f"field {k}", f"'{k}' is not a lesson field (the fields: {', '.join(LESSON_FIELDS)})")
    title = _text(path, "field title", raw.get("title"))
    section = _text(path, "field section", raw.get("section"))
    claim = _text(path, "field claim", raw.get("claim"))
    steps = raw.get("steps")
    if steps is None:
        _fail(path, "field steps", "missing: a lesson needs at least one [[steps]] table")
    if not isinstance(steps, list) or not steps:
        _fail(path, "field steps", "must be a list of [[steps]] tables, at least one")
    return Lesson(name, str(path), title, section, claim, tuple(_parse_step(path, i, s) for i, s in enumerate(steps, 1)))


def load_lesson(path) -> Lesson:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        _fail(p, "", "no such file")
    except (OSError, UnicodeDecodeError) as e:
        _fail(p, "", f"cannot be read ({type(e).__name__})")
    return parse_lesson(text, str(p))


def load_lessons(folder=None) -> tuple[list[Lesson], list[str]]:
    """Every lesson in the folder (lessons_dir() by default), by file name, and the sentences of the
    files that could not be used."""
    folder = Path(folder) if folder is not None else lessons_dir()
    lessons, errors = [], []
    for p in sorted(folder.glob("*.toml")) if folder.is_dir() else []:
        try:
            lessons.append(load_lesson(p))
        except LessonError as e:
            errors.append(str(e))
    return lessons, errors


# --------------------------------------------------------------------------- links and handouts


def step_query(lesson: Lesson, i: int, hide: bool = False) -> dict:
    """Step i's (1-based) query parameters: the page's own settings, then the lesson and step."""
    step = lesson.steps[i - 1]
    q = {**step.settings, LESSON_KEY: lesson.name, STEP_KEY: str(i)}
    if hide and step.hide:
        q[HIDE_KEY] = "true"
    return q


def step_url(lesson: Lesson, i: int, base: str = "", hide: bool = False) -> str:
    """'/Latent_traversal?group=…&lesson=NAME&lesson_step=i' (after `base`, e.g. http://localhost:8501)."""
    return f"{base.rstrip('/')}/{lesson.steps[i - 1].page}?{urlencode(step_query(lesson, i, hide))}"


def handout(lesson: Lesson, base: str = "http://localhost:8501", hide: bool = False) -> str:
    """A printable Markdown handout: the claim, each step with its link, question and room for the answer;
    the expected observations (and the checks' ranges) on a separate answer page."""
    lines = [f"# {lesson.title}", "", f"*Survey section:* {lesson.section} · {len(lesson.steps)} steps · about "
             f"{lesson.minutes:g} minutes", "", f"**The claim.** {lesson.claim}", ""]
    for i, s in enumerate(lesson.steps, 1):
        lines += [f"## Step {i}: {page_title(s.page)}", "", f"Open <{step_url(lesson, i, base, hide)}>", "",
                  s.instruction, "", f"**Question.** {s.question}", ""]
        if s.choices:
            lines += [f"- [ ] ({chr(96 + j)}) {c}" for j, c in enumerate(s.choices, 1)] + [""]
        if s.check:
            lines += [f"*Figure to read:* {FIGURES[s.check.figure].label}: ____________", ""]
        lines += ["*Your answer:*", "", "&nbsp;", "", "&nbsp;", "", "&nbsp;", ""]
    lines += ['<div style="page-break-before: always"></div>', "", f"# Answers: {lesson.title}", ""]
    for i, s in enumerate(lesson.steps, 1):
        lines += [f"**Step {i}.** {s.expected}"]
        if s.answer:
            lines[-1] += f" Answer: ({chr(96 + s.answer)}) {s.choices[s.answer - 1]}."
        if s.check:
            lines[-1] += f" *The figure: {FIGURES[s.check.figure].label}, {s.check.range_text}.*"
        lines += [""]
    return "\n".join(lines)


# --------------------------------------------------------------------------- checks: the figures


@dataclass(frozen=True)
class Measured:
    value: float
    what: str  # what was measured: 'MIG of beta-sweep/beta-16_seed-0'
    source: str  # how: 'stored by genlab eval (10,000 codes)', 'measured as the page does …'


@dataclass(frozen=True)
class Figure:
    name: str
    label: str
    measure: Callable  # (state: dict, args: dict, ctx: Context) -> Measured
    args: dict = field(default_factory=dict)  # setting name -> validator (value -> problem or None)
    required: tuple = ()
    slow: bool = False  # trains a live run: the page measures it on request, not on arrival
    help: str = ""


@dataclass
class Context:
    """Where a check finds its checkpoints, models and data (the app passes its cached ones)."""

    rows: list | None = None
    load_model: Callable | None = None  # path -> model in eval mode
    load_data: Callable | None = None  # name -> dataset

    def all_rows(self) -> list:
        if self.rows is None:
            from genlab.checkpoint import list_checkpoints

            dirs = [os.environ.get("GENLAB_CHECKPOINTS", "checkpoints"), os.environ.get("GENLAB_RUNS", "runs")]
            self.rows = [r for d in dirs for r in list_checkpoints(d)]
        return [r for r in self.rows if r.ok]

    def model(self, path: str):
        if self.load_model is not None:
            return self.load_model(path)
        from genlab.checkpoint import load_checkpoint

        return load_checkpoint(path)[0]

    def data(self, name: str):
        return self.load_data(name) if self.load_data is not None else _dataset(name)


@functools.lru_cache(maxsize=4)
def _dataset(name: str):
    from genlab.data import load_dataset

    return load_dataset(name)


def _is_text(v):
    return None if isinstance(v, str) and v.strip() else "must be a non-empty string"


def _choice(*options):
    def check(v):
        return None if v in options else f"must be one of {', '.join(map(str, options))}"
    return check


def _steps_arg(v):
    ok = isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 20_000
    return None if ok else "must be a whole number of training steps, 1–20,000"


def _bool_arg(v):
    return None if isinstance(v, bool) else "must be true or false"


FACTORS = ("shape", "scale", "orientation", "posX", "posY")  # dSprites' factors, as the metrics order them
METRIC_LABELS = {
    "mig": "MIG", "factor_vae": "FactorVAE score", "beta_vae": "BetaVAE score", "fd": "Fréchet distance",
    "precision": "precision", "recall": "recall", "prior_holes": "prior samples in holes (5,000 images)",
    "active_units": "active latents (5,000 images)", "kl_total": "KL (nats)",
    "nearest_real_iou": "IoU with the nearest real sprite (thresholded)",
    "nearest_real_share_good": "share of samples with IoU ≥ 0.8 (thresholded)",
    "nearest_real_soft_iou": "grey-level IoU with the nearest real sprite",
    "nearest_real_soft_share_good": "share of samples with grey-level IoU ≥ 0.8",
    "nearest_real_blank": "share of blank samples",
    "labels_covered": "classes produced", "label_kl_to_real": "KL of the class shares to the real ones (nats)",
    "laplacian_variance_samples": "Laplacian variance of the samples",
    "modes_captured": "modes captured", "high_quality": "high-quality share", "reverse_kl": "reverse KL (nats)",
    **{f"{d}_{k}": f"{arrow}: {label}" for d, arrow in (("a2b", "squares → ellipses"), ("b2a", "ellipses → squares"))
       for k, label in (("read_as_target", "share read as the other shape"),
                        ("position_kept", "share with its centroid kept within 4 px"),
                        ("cycle_iou", "round trip's lit-pixel IoU"), ("cycle_shape_kept", "round trip: shape kept"),
                        ("median_area_ratio", "median area ratio"))},
}


def _row(ctx: Context, name: str):
    """The checkpoint row named `name` (its name, e.g. dsprites-infogan or beta-sweep/beta-16_seed-0, or its path)."""
    for r in ctx.all_rows():
        if name in (r.name, r.path) or Path(r.path).parent.name == name:
            return r
    raise CheckError(f"no checkpoint named {name} in the checkpoint folders")


def _short(row_or_path) -> str:
    path = getattr(row_or_path, "path", row_or_path)
    p = Path(path)
    return f"{p.parent.parent.name}/{p.stem}" if p.parent.name == "snapshots" else (
        getattr(row_or_path, "name", "") or p.parent.name)


def _stored(path: str) -> tuple[dict, dict]:
    """(metrics, metrics_info) of the sidecar next to `path` (a snapshot's are empty)."""
    from genlab.checkpoint import read_metadata

    meta = read_metadata(path)
    return meta.get("metrics", {}) or {}, meta.get("metrics_info", {}) or {}


def _traversal_target(state: dict, ctx: Context) -> tuple[str, str, str]:
    """(checkpoint path, its description, its data) the Latent-traversal page shows for `state`, chosen as the
    page chooses: the family (?group=, or ?ckpt=), the trained β nearest ?beta=, the seed ?train_seed= (else
    the median-MIG seed), the snapshot nearest ?step=."""
    from genlab import compare

    groups = compare.traversal_groups(ctx.all_rows())
    if not groups:
        raise CheckError("no image checkpoint to traverse")
    by_id = {g["id"]: g for g in groups}
    seed_pick = None
    found = compare.find_in_groups(groups, state["ckpt"]) if state.get("ckpt") else None
    if found:
        group, member, seed_pick = found
    else:
        group = by_id.get(state.get("group"), groups[0])
        members = group["members"]
        member = members[0]
        if len(members) > 1:
            try:
                want = float(state.get("beta", members[0]["beta"]))
            except (TypeError, ValueError):
                want = members[0]["beta"]
            member = min(members, key=lambda m: abs(m["beta"] - want))
    row = member["row"]
    seeds = {s["seed"]: s for s in member["seeds"]}
    if seed_pick is None and len(seeds) > 1 and state.get("train_seed") is not None:
        seed_pick = seeds.get(int(state["train_seed"])) if str(state["train_seed"]).isdigit() else None
    if seed_pick is not None:
        row = seed_pick["row"]
    path, what = row.path, _short(row)
    line = compare.timeline(row)
    if line:
        try:
            want = int(state.get("step", line[-1]["step"]))
        except (TypeError, ValueError):
            want = line[-1]["step"]
        t = min(line, key=lambda t: abs(t["step"] - want))
        path = t["path"]
        what = f"{_short(row)} at step {t['step']:,}"
    return path, what, row.data


def _code_space_target(state: dict, ctx: Context) -> tuple[str, str, str]:
    from genlab import compare

    rows = [r for r in compare.model_rows(ctx.all_rows()) if compare.is_image_row(r) and compare.has_encoder_row(r)]
    if not rows:
        raise CheckError("no checkpoint with an encoder")
    row = next((r for r in rows if r.path == state.get("ckpt")), rows[0])
    return row.path, _short(row), row.data


def _target(state: dict, args: dict, ctx: Context, page: str) -> tuple[str, str, str]:
    """(path, description, data) of the checkpoint a figure is about: its `checkpoint` setting, else the
    one the page's state shows."""
    if args.get("checkpoint"):
        row = _row(ctx, args["checkpoint"])
        return row.path, _short(row), row.data
    if page == "Latent_traversal":
        return _traversal_target(state, ctx)
    if page == "Code_space":
        return _code_space_target(state, ctx)
    raise CheckError(f"the {page} page shows several checkpoints: name one in the check's checkpoint setting")


def _active_latents(state, args, ctx, page) -> Measured:
    from genlab import latent

    path, what, data_name = _target(state, args, ctx, page)
    model = ctx.model(path)
    if not model.has_encoder:
        raise CheckError(f"{what} has no encoder, so no KL per latent")
    batch = latent.fixed_batch(ctx.data(data_name), 256, seed=0)
    s = latent.latent_summary(model, batch["x"])
    return Measured(float(s["active"].sum()), f"active latents of {what}",
                    f"measured as the page's KL bars: 256 fixed images, KL above {latent.ACTIVE_KL_NATS:g} nats")


def _factor_info(path: str, data_name: str, ctx: Context) -> dict:
    from genlab import latent

    return latent.factor_information(ctx.model(path), ctx.data(data_name), n=2000, seed=0)


def _mig(state, args, ctx, page) -> Measured:
    path, what, data_name = _target(state, args, ctx, page)
    stored, _ = _stored(path)
    if "mig" in stored:
        return Measured(float(stored["mig"]), f"MIG of {what}", "stored by genlab eval (10,000 codes)")
    info = _factor_info(path, data_name, ctx)
    return Measured(float(info["mig"]), f"MIG of {what}", "measured as the page's factor matrix (2,000 codes)")


def _factor_mig(state, args, ctx, page) -> Measured:
    path, what, data_name = _target(state, args, ctx, page)
    k = FACTORS.index(args["factor"])
    _, info = _stored(path)
    per = (info.get("disentanglement") or {}).get("mig_per_factor")
    if per is not None:
        return Measured(float(per[k]), f"MIG of {args['factor']} in {what}", "stored by genlab eval (10,000 codes)")
    fi = _factor_info(path, data_name, ctx)
    return Measured(float(fi["mig_per_factor"][k]), f"MIG of {args['factor']} in {what}",
                    "measured as the page's factor matrix (2,000 codes)")


def _prior_holes(state, args, ctx, page) -> Measured:
    from genlab import latent

    path, what, data_name = _target(state, args, ctx, page)
    n = int(state.get("n", "1000")) if str(state.get("n", "1000")).isdigit() else 1000
    model = ctx.model(path)
    table = latent.code_table(model, ctx.data(data_name), n, seed=0)
    holes = latent.holes_in_prior(table, latent.prior_overlay(model, n, seed=1))
    return Measured(float(holes["share"]), f"share of prior samples in holes for {what}",
                    f"measured as the Code-space page does: {n:,} codes and {n:,} prior samples")


def _sharpness_ratio(state, args, ctx, page) -> Measured:
    row = _row(ctx, args["checkpoint"])
    m = row.metrics
    if "laplacian_variance_samples" not in m or not m.get("laplacian_variance_real"):
        raise CheckError(f"{row.name} has no stored sharpness: run genlab eval {row.path}")
    return Measured(float(m["laplacian_variance_samples"]) / float(m["laplacian_variance_real"]),
                    f"sharpness of {row.name}'s samples over the real images'",
                    "Laplacian variance stored by genlab eval")


def _metric(state, args, ctx, page) -> Measured:
    row = _row(ctx, args["checkpoint"])
    key = args["metric"]
    if key not in row.metrics or not isinstance(row.metrics[key], (int, float)):
        raise CheckError(f"{row.name} stores no {key}: run genlab eval {row.path}")
    return Measured(float(row.metrics[key]), f"{METRIC_LABELS.get(key, key)} of {row.name}", "stored by genlab eval")


CAPTION_BAR_STATS = ("in_quadrant", "large_over_small", "area_separated")


def _caption_bar(state, args, ctx, page) -> Measured:
    """text2image-gan's shipping bar on the 36 held-out corner captions (genlab.applications.corner_bar),
    8 samples a caption: the share in the named quadrant, the large-over-small area ratio, or the share of
    (large, small) pairs whose areas are clearly apart."""
    from genlab import applications

    row = _row(ctx, args["checkpoint"])
    stat = args["stat"]
    bar = applications.corner_bar(ctx.model(row.path), n=8, seed=0)
    labels = {"in_quadrant": "share of samples in the named quadrant", "large_over_small":
              "lit pixels of 'large' over 'small'", "area_separated": "share of large / small pairs clearly apart"}
    return Measured(float(bar[stat]), f"{labels[stat]} for {row.name}",
                    "measured as the shipping bar: 36 corner captions held out of training, 8 samples each")


POSTERIOR_STATS = ("mean_std", "spread", "overlap_nearest", "overlap_mean", "aggregate_kl_to_prior", "gap")


def _posterior_stat(state, args, ctx, page) -> Measured:
    """A statistic of the exploding-latent demo's posteriors (genlab.failure_modes.posterior_paths) at the
    page's training step, read from the precomputed run the VAE failure modes page draws."""
    from genlab import failure_modes as fm

    folder = Path(os.environ.get("GENLAB_CHECKPOINTS", "checkpoints")) / fm.PATHS_FOLDER
    paths = fm.load_paths(folder)
    if paths is None:
        raise CheckError(f"no precomputed posterior paths in {folder}: the page can train them live")
    run = paths["runs"].get(args["run"])
    if run is None:
        raise CheckError(f"the posterior paths hold no run '{args['run']}' (they hold {', '.join(paths['runs'])})")
    steps = [int(s) for s in run["steps"]]
    raw = str(state.get("step", steps[-1]))
    want = int(raw) if raw.isdigit() else steps[-1]
    t = min(range(len(steps)), key=lambda i: abs(steps[i] - want))
    stat = args["stat"]
    value = run["elbo_train"][t] - run["elbo_test"][t] if stat == "gap" else run["stats"][stat][t]
    return Measured(float(value), f"{stat.replace('_', ' ')} of {run['label']} at step {steps[t]:,}",
                    "the precomputed run the page draws")


# the Mode-collapse page's settings, as it reads them from its link (genlab.live's switches)
_PAGE_TRICKS = {"feature_matching": "fm", "minibatch_discrimination": "mbd", "label_smoothing": "ls",
                "instance_noise": "noise", "ttur": "ttur", "consensus": "consensus", "packing": "pack",
                "historical_averaging": "hist", "generator_averaging": "ema"}


def live_settings(state: dict, run: str = "A") -> dict:
    """The live run the Mode-collapse page trains for `state`: {dataset, seed, batch, switches}, its
    defaults where the state says nothing (run B's loss is WGAN-GP, as the page's)."""
    from genlab import live

    prefix = "" if run == "A" else "b_"
    loss = state.get(f"{prefix}loss", "non-saturating" if run == "A" else "wgan-gp")
    if loss not in live.LOSSES:
        raise CheckError(f"run {run}'s loss '{loss}' is not one of {', '.join(live.LOSSES)}")
    switches = {"loss": loss, **{t: state.get(prefix + k) == "true" for t, k in _PAGE_TRICKS.items()}}
    d_steps = state.get(f"{prefix}dsteps", "0")
    switches["d_steps"] = int(d_steps) if d_steps.isdigit() and int(d_steps) <= 10 else 0
    lr = state.get("lr", "paper")
    switches["lr"] = None if lr == "paper" else float(lr)
    dataset = state.get("dataset", "ring")
    if dataset not in ("ring", "grid"):
        raise CheckError("a live check trains on the ring or the grid, not on points of yours")
    seed, batch = state.get("seed", "0"), state.get("batch", "64")
    return {"dataset": dataset, "seed": int(seed) if seed.isdigit() else 0,
            "batch": int(batch) if batch.isdigit() else 64, "switches": switches}


def trained_live_run(state: dict, run: str, steps: int):
    """A genlab.live.LiveRun with the page's settings for run A or B, trained `steps` steps (the last few
    are kept: two checks of one step read the same run). Only read it: it is shared."""
    s = live_settings(state, run)
    r = _trained((s["dataset"], s["seed"], s["batch"], tuple(sorted(s["switches"].items()))), int(steps))
    if r.error:
        raise CheckError(f"run {run} stopped: {r.error}")
    return r


@functools.lru_cache(maxsize=4)
def _trained(key: tuple, steps: int):
    import torch

    from genlab import live

    dataset, seed, batch, switches = key
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the app trains its live runs (genlab.ui): the same figures, and far faster
    try:                      # for these small networks than two threads on a busy machine
        r = live.LiveRun(dataset=dataset, overrides=live.trick_overrides(dict(switches)), seed=seed, batch_size=batch)
        r.step(steps)
    finally:
        torch.set_num_threads(threads)
    return r


def _live_desc(state, args) -> str:
    from genlab import live

    s = live_settings(state, args.get("run", "A"))
    return f"run {args.get('run', 'A')} ({live.describe_switches(s['switches'])}, {s['dataset']}, seed {s['seed']})"


def _modes_figure(key: str, label: str):
    def measure(state, args, ctx, page) -> Measured:
        from genlab import live

        if args.get("checkpoint"):  # the trained view: as the page draws it (2,500 samples of a fixed z)
            row = _row(ctx, args["checkpoint"])
            h = live.LiveRun.from_checkpoint(row.path, average=args.get("average", True)).history[-1]
            return Measured(float(h[key]), f"{label} of {row.name}",
                            "measured as the page's trained view: 2,500 samples of a fixed z")
        if "steps" not in args:
            raise CheckError("a live run's figure needs the check's steps setting (how long to train)")
        h = trained_live_run(state, args.get("run", "A"), args["steps"]).history[-1]
        return Measured(float(h[key]), f"{label} of {_live_desc(state, args)} after {args['steps']:,} steps",
                        "a fresh run with the page's settings and seed, 2,500 samples")
    return measure


def _classes_produced(state, args, ctx, page) -> Measured:
    from genlab import compare, live
    from genlab.checkpoint import load_classifier

    row = _row(ctx, args["checkpoint"])
    clf_row = compare.find_classifier(ctx.all_rows(), row.data)
    if clf_row is None:
        raise CheckError(f"no classifier checkpoint for {row.data}")
    clf, _ = load_classifier(str(Path(clf_row.path).with_suffix(".safetensors")))
    data = ctx.data(row.data)
    res = live.label_histogram(ctx.model(row.path), clf, data.n_classes, live.real_label_distribution(data))
    return Measured(float(res["modes_covered"]), f"classes produced by {row.name}",
                    "measured as the page's label histogram: 2,000 samples labelled by the shipped classifier")


def critic_report(run, n: int = 1000, seed: int = 0) -> dict:
    """The critic of a live WGAN or WGAN-GP run, on n fresh real and generated points: its scores
    (estimate = E f(real) − E f(fake), the critic's reading of the Wasserstein-1 distance up to its
    Lipschitz constant), its largest absolute weight, and the mean gradient norm ‖∇f(x̂)‖ at random
    interpolates x̂ of real and fake points (what WGAN-GP holds near 1)."""
    import torch

    model = run.model
    if not model.spec.critic:
        raise CheckError(f"this run is a {model.cfg.model} with a discriminator, not a critic: pick the WGAN or WGAN-GP loss")
    disc = model.nets["disc"]
    if disc.pack != 1 or disc.mbd is not None:
        raise CheckError("the critic figures are for a critic without packing or minibatch discrimination")
    g = torch.Generator().manual_seed(seed)
    with run._lock:  # the run's own lock: nothing steps it while the critic is read
        real = run.data.sample(n, g)["x"].to(model.device)
        with torch.no_grad():
            fake = run._sample(model.prior(n, torch.Generator(device=model.device).manual_seed(seed + 1)))
            f_real, f_fake = disc(real)["logit"], disc(fake)["logit"]
            max_w = max(float(p.abs().max()) for p in disc.parameters())
        eps = torch.rand((n, 1), generator=g).to(model.device)
        x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
        (grad,) = torch.autograd.grad(disc(x_hat)["logit"].sum(), x_hat)
    return {"real": float(f_real.mean()), "fake": float(f_fake.mean()), "estimate": float(f_real.mean() - f_fake.mean()),
            "max_weight": max_w, "grad_norm": float(grad.norm(dim=1).mean())}


def _critic_figure(key: str, label: str):
    def measure(state, args, ctx, page) -> Measured:
        rep = critic_report(trained_live_run(state, args.get("run", "A"), args["steps"]))
        return Measured(rep[key], f"{label} of {_live_desc(state, args)} after {args['steps']:,} steps",
                        "a fresh run with the page's settings and seed; 1,000 real and 1,000 generated points")
    return measure


_CKPT = {"checkpoint": _is_text}
_LIVE = {"run": _choice("A", "B"), "steps": _steps_arg}
FIGURES = {f.name: f for f in (
    Figure("active_latents", "active latents", _active_latents, dict(_CKPT),
           help="latents whose mean KL over the page's 256 fixed images is above 0.1 nats"),
    Figure("mig", "MIG", _mig, dict(_CKPT), help="mutual information gap (Chen et al. 2018)"),
    Figure("factor_mig", "MIG of one factor", _factor_mig, {**_CKPT, "factor": _choice(*FACTORS)}, ("factor",),
           help="the best latent's share of the factor's entropy minus the runner-up's"),
    Figure("prior_holes", "prior samples in holes", _prior_holes, dict(_CKPT),
           help="share of prior samples farther from every code than 99% of the codes are from their neighbour"),
    Figure("sharpness_ratio", "sharpness (samples / real)", _sharpness_ratio, dict(_CKPT), ("checkpoint",),
           help="Laplacian variance of the samples over that of real images: 1 is as sharp as the data"),
    Figure("metric", "stored figure", _metric, {**_CKPT, "metric": _is_text}, ("checkpoint", "metric"),
           help="any number genlab eval stored in the checkpoint's sidecar"),
    Figure("modes_captured", "modes captured", _modes_figure("modes_captured", "modes captured"),
           {**_CKPT, **_LIVE, "average": _bool_arg}, slow=True),
    Figure("high_quality", "high-quality share", _modes_figure("high_quality", "high-quality share"),
           {**_CKPT, **_LIVE, "average": _bool_arg}, slow=True),
    Figure("reverse_kl", "reverse KL (nats)", _modes_figure("reverse_kl", "reverse KL"),
           {**_CKPT, **_LIVE, "average": _bool_arg}, slow=True),
    Figure("posterior_stat", "posterior statistic", _posterior_stat,
           {"run": _choice("elbo", "info", "mmd"), "stat": _choice(*POSTERIOR_STATS)}, ("run", "stat"),
           help="the exploding-latent demo at the page's step: mean posterior std, spread of the means, overlaps, "
                "the aggregate's KL to the prior or the train − held-out bound gap"),
    Figure("classes_produced", "classes produced", _classes_produced, dict(_CKPT), ("checkpoint",)),
    Figure("caption_bar", "text-to-image bar", _caption_bar, {**_CKPT, "stat": _choice(*CAPTION_BAR_STATS)},
           ("checkpoint", "stat"), help="a text2image-gan on the held-out corner captions: in the named quadrant, "
                                        "large against small"),
    Figure("critic_estimate", "critic's estimate E f(real) − E f(fake)", _critic_figure("estimate", "critic's estimate"),
           dict(_LIVE), ("steps",), slow=True),
    Figure("critic_max_weight", "largest critic weight", _critic_figure("max_weight", "largest critic weight"),
           dict(_LIVE), ("steps",), slow=True),
    Figure("critic_grad_norm", "critic gradient norm at interpolates", _critic_figure("grad_norm", "critic gradient norm"),
           dict(_LIVE), ("steps",), slow=True),
)}


def is_slow(check: Check) -> bool:
    """Does measuring this check train a live run (seconds to a minute), rather than read or measure a checkpoint?"""
    return FIGURES[check.figure].slow and "checkpoint" not in check.args


def measure(check: Check, page: str, state: dict, ctx: Context | None = None) -> Measured:
    """The check's figure for the page's state (its query parameters); CheckError when it cannot be measured there."""
    fig = FIGURES[check.figure]
    try:
        return fig.measure(dict(state), dict(check.args), ctx or Context(), page)
    except CheckError:
        raise
    except (OSError, ValueError, KeyError) as e:
        raise CheckError(f"{fig.label} could not be measured: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
