"""Helpers shared by the Streamlit pages: cached loaders, the checkpoint list, error display.

Pages stay thin: widgets and layout there, computation in genlab. Models are loaded once per
process with st.cache_resource and are only ever used in eval mode under torch.no_grad().
"""

from __future__ import annotations

import math
import os
import re
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import streamlit as st
import torch

# One torch thread per op in the app: with two cores, a second thread only makes the small
# networks wait on each other while another session (or a training run) holds the other core.
# GENLAB_THREADS overrides it on bigger machines.
torch.set_num_threads(max(1, int(os.environ.get("GENLAB_THREADS", "1"))))


@dataclass(frozen=True)
class Page:
    """One page of the app: its file (relative to app.py), sidebar title, URL and a line for the home page."""

    file: str
    title: str
    url_path: str
    blurb: str


HOME = "pages/0_Home.py"
PAGES = [  # the order of the sidebar; URLs are kept stable because page state lives in the URL
    Page("pages/1_Latent_traversal.py", "Latent traversal", "Latent_traversal",
         "β sliders, traversal grids, KL per dimension, disentanglement scores"),
    Page("pages/2_Blur_vs_sharpness.py", "VAE blur vs GAN sharpness", "Blur_vs_sharpness",
         "samples, reconstructions, sharpness and power spectra"),
    Page("pages/3_Mode_collapse.py", "Mode collapse", "Mode_collapse",
         "live GAN training on 2-D mixtures with every trick as a switch"),
    Page("pages/4_Code_space.py", "Code space", "Code_space",
         "UMAP, PCA or t-SNE map of the latent codes, holes in the prior"),
    Page("pages/5_Train.py", "Train", "Train", "train any model on any dataset, watch the curves, stop and resume"),
    Page("pages/6_Study.py", "Study", "Study",
         "a grid of runs (β × seed) on Ray: one dot per seed, the median per β, a link to each run"),
    Page("pages/7_VAE_failure_modes.py", "VAE failure modes", "VAE_failure_modes",
         "a PixelCNN decoder that ignores the code, and posteriors that drift apart on a finite training set"),
    Page("pages/8_Lessons.py", "Lessons", "Lessons", "guided tours of the survey's claims, step by step, with handouts"),
    Page("pages/9_Unified_view.py", "Unified view", "Unified_view",
         "VAE, GAN and wake-sleep side by side, GANs as actor-critic, and a CycleGAN's squares ↔ ellipses"),
    Page("pages/10_GAN_applications.py", "GAN applications", "GAN_applications",
         "type a caption and see it drawn (text to image), read against dSprites' true factors"),
]


def checkpoint_dirs() -> list[Path]:
    """Shipped models first, then the user's own runs (which git ignores). Read from the
    environment on every call, so GENLAB_CHECKPOINTS / GENLAB_RUNS can point elsewhere."""
    return [Path(os.environ.get("GENLAB_CHECKPOINTS", "checkpoints")), Path(os.environ.get("GENLAB_RUNS", "runs"))]


def _use_the_router() -> None:
    """Streamlit (1.67) serves an app that has a pages/ folder the old way (its own sidebar built from
    the file names, app.py listed as "app") until some session has run app.py's st.navigation, so the
    first visit to a fresh server through a deep link such as /Mode_collapse?view=ab got the wrong
    sidebar (streamlit#10276). Turn that mode off and rerun once: app.py's router then serves the same
    page (both modes hash a page by its URL path) with the same query string."""
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


SCRIPT_NICE_ENV = "GENLAB_SCRIPT_NICE"


def yield_to_live_training() -> None:
    """While a live run trains (a genlab.live.Player of this server), run this script below it: raise the
    niceness of the script's own thread by $GENLAB_SCRIPT_NICE (default 5; 0 turns it off), so that other
    sessions loading pages take the CPU the training process leaves rather than the other way round
    (issue 29: a live run keeps its speed with a class on the app). Linux sets niceness per thread, and
    Streamlit runs each script run in a thread of its own, so only this run is slowed, and only when the
    cores are contended. The players' fork server is started by the live page before any player exists,
    so it and every player keep the server's priority. Elsewhere (no per-thread niceness) nothing."""
    live = sys.modules.get("genlab.live")  # no player can exist before the live page imported it
    if live is None or not sys.platform.startswith("linux") or not live.any_playing():
        return
    try:
        step = int(os.environ.get(SCRIPT_NICE_ENV, "5"))
        tid = threading.get_native_id()
        target = min(19, os.getpriority(os.PRIO_PROCESS, os.getpid()) + step)
        if step > 0 and os.getpriority(os.PRIO_PROCESS, tid) < target:
            os.setpriority(os.PRIO_PROCESS, tid, target)
    except (ValueError, OSError):  # a malformed setting or a refusal: run at the usual priority
        pass


def setup_page(title: str, intro: str, icon: str = "🧪") -> None:
    """Page config, title and the two or three sentences for the class."""
    yield_to_live_training()
    _use_the_router()
    st.set_page_config(page_title=f"genlab · {title}", page_icon=icon, layout="wide")
    st.title(title)
    st.markdown(intro)
    url_notice()  # where the page names the link's parameters it ignored
    lesson_panel()  # a lesson's step, when the link names one (?lesson=NAME&lesson_step=N)


def _dirs_signature() -> tuple:
    """Changes whenever a checkpoint is added or rewritten, so new runs show up without a restart."""
    sig = []
    for d in checkpoint_dirs():
        if d.exists():
            for f in sorted(d.rglob("*.json")):
                try:
                    sig.append((str(f), f.stat().st_mtime_ns))
                except OSError:
                    pass
    return tuple(sig)


@st.cache_data(show_spinner=False)
def _checkpoint_rows(signature: tuple) -> list:
    from genlab.checkpoint import list_checkpoints

    return [r for d in checkpoint_dirs() for r in list_checkpoints(d)]


def checkpoint_rows() -> list:
    """All checkpoints in checkpoints/ and runs/, as genlab.checkpoint.CheckpointRow (a row whose
    `error` is set could not be read)."""
    return _checkpoint_rows(_dirs_signature())


@st.cache_resource(show_spinner="Loading model…")
def load_model(path: str, mtime_ns: int = 0):
    """One shared eval-mode model per checkpoint and version on disk. Never train or mutate it."""
    from genlab.checkpoint import load_checkpoint
    from genlab.device import pick_device

    model, meta = load_checkpoint(path, device=pick_device("auto"))
    return model, meta


def model_for(path: str):
    """The checkpoint's model from the shared cache, loaded again when its weights file changes."""
    return load_model(path, checkpoint_version(path))


@st.cache_data(show_spinner=False, ttl=300)
def device_summary() -> dict:
    from genlab.device import device_summary as ds

    return ds()


@st.cache_data(show_spinner=False, ttl=300)
def dataset_status() -> list[dict]:
    from genlab.data import dataset_status as ds

    return ds()


def chart_title(text: str) -> dict:
    """A plotly title just above the plot area, so it sits below the chart's toolbar rather than
    under it (give the figure a top margin of about 60 px)."""
    return {"text": text, "yref": "paper", "y": 1, "yanchor": "bottom", "pad": {"b": 6}}


def show_error(e: Exception, what: str = "") -> None:
    """One sentence naming the problem and the fix; never a traceback."""
    msg = str(e).strip().split("\n")[0] or type(e).__name__
    st.error(f"{what}{': ' if what else ''}{msg}")


def file_version(path) -> int:
    """A file's modification time in ns (0 when it is missing): a cache key that changes when the file is rewritten."""
    p = Path(path)
    return p.stat().st_mtime_ns if p.exists() else 0


def checkpoint_version(path) -> int:
    """The version of the checkpoint with this stem (or .json / .safetensors path): its weights file's."""
    return file_version(Path(path).with_suffix(".safetensors"))


def offer_training(message: str, button: str, spinner: str, runs: list[dict]) -> None:
    """The empty state of a page that needs checkpoints it does not have: `message` says how to train
    one; `button` trains small ones into the runs folder (each of `runs` is genlab.compare.train_quick's
    arguments: model, data, steps, name and options), then the page reruns. Stops the page either way."""
    from genlab import compare

    st.info(message)
    if st.button(button, type="primary"):
        with st.spinner(spinner):
            try:
                for run in runs:
                    compare.train_quick(out_root=checkpoint_dirs()[-1], **run)
            except Exception as e:
                show_error(e, "Training failed")
                st.stop()
        st.rerun()
    st.stop()


@st.cache_resource(show_spinner=False)
def dataset(name: str):
    """A built-in dataset, loaded once per process."""
    from genlab.data import load_dataset

    return load_dataset(name)


# --------------------------------------------------------------------------- the link's query parameters
# Every page reads its query parameters through url_value, url_index and url_list, declaring each
# one's type and its range or choices (the bounds of the widget it feeds). A value that is out of
# range, of the wrong type or not among the choices falls back to the default, leaves the URL, and
# is named once in a quiet caption under the page's intro:
#     Ignored in the link: seed=99999999999 (must be 0–10,000), n=abc (not a number)
# so no link a student can type reaches a widget it would break (StreamlitValueAboveMaxError…).

_NOTICE_KEY = "_genlab_url_ignored"
_SEEN_KEY = "_genlab_url_pages_seen"
SHOWN_CHARS = 40  # a value longer than this is cut in the caption
MAX_DIGITS = 30  # a longer run of digits is out of any range (and never handed to int())


def _number_text(v) -> str:
    return f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else f"{v:g}"


def range_text(lo=None, hi=None) -> str:
    """'must be 0–10,000', 'must be at least 1', 'must be at most 5'."""
    if lo is not None and hi is not None:
        return f"must be {_number_text(lo)}–{_number_text(hi)}"
    if lo is not None:
        return f"must be at least {_number_text(lo)}"
    return f"must be at most {_number_text(hi)}"


def _choices_text(options: list) -> str:
    names = [str(o) for o in options]
    if not names:
        return "nothing to choose from here"
    if len(names) > 6 or any(len(n) > 30 for n in names):
        return f"not one of the {len(names)} choices"
    return "must be one of " + ", ".join(names)


def _parse_number(text: str, cast):
    """int or float from a URL value; a huge integer becomes ±inf (out of any range); raises ValueError
    with the reason ('not a number', 'not a whole number')."""
    t = text.strip()
    if not t:
        raise ValueError("empty")
    if cast is int and re.fullmatch(r"[+-]?\d+", t):
        digits = t.lstrip("+-")
        if len(digits) <= MAX_DIGITS:
            return int(t)
        return -math.inf if t.startswith("-") else math.inf
    try:
        f = float(t)
    except (ValueError, OverflowError):
        raise ValueError("not a number") from None
    if math.isnan(f):
        raise ValueError("not a number")
    if cast is int and math.isfinite(f):
        if not f.is_integer():
            raise ValueError("not a whole number")
        return int(f)
    return f


def check_url_value(raw, cast=str, *, lo=None, hi=None, choices=None, check=None, what: str | None = None):
    """The rule url_value applies, without Streamlit: (value, None) when `raw` (the URL's text) is a
    valid `cast` within [lo, hi], among `choices` and passes `check`; else (None, the reason).

    cast: str, int (whole numbers only), float (finite), bool ('true' or 'false', as Streamlit writes a
    bound checkbox) or any callable that raises ValueError or TypeError; what: the reason given for a
    value that is not among the choices or fails check ('not a listed checkpoint')."""
    if raw is None:
        return None, "missing"
    if isinstance(raw, (list, tuple)):  # a repeated parameter: the last one, as st.query_params reads it
        raw = raw[-1] if raw else ""
    text = str(raw)
    try:
        if cast in (int, float):
            value = _parse_number(text, cast)
            if (lo is not None and value < lo) or (hi is not None and value > hi):
                return None, range_text(lo, hi)
            if not math.isfinite(value):
                return None, "not a number"
        elif cast is bool:
            low = text.strip().lower()
            if low not in ("true", "false"):
                return None, "must be true or false"
            value = low == "true"
        elif cast is str:
            value = text
        else:
            value = cast(text)
    except (TypeError, ValueError, ArithmeticError) as e:
        reason = str(e) if cast in (int, float) else ""
        return None, reason or (f"not {what}" if what else "not a valid value")
    if choices is not None:
        options = list(choices)
        if value not in options:
            return None, f"not {what}" if what else _choices_text(options)
    if check is not None:
        try:
            ok = bool(check(value))
        except (TypeError, ValueError, ArithmeticError, OSError):
            ok = False
        if not ok:
            return None, f"not {what}" if what else "not a valid value"
    return value, None


def _shown(raw) -> str:
    """A URL value as the caption shows it: one line, cut to SHOWN_CHARS, markdown and LaTeX escaped."""
    text = " ".join(str(raw).split()) if str(raw).strip() else ""
    if len(text) > SHOWN_CHARS:
        text = text[:SHOWN_CHARS - 1] + "…"
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>$~&=:])", r"\\\1", text)


def ignored_text(items: dict) -> str:
    """'Ignored in the link: seed=99999999999 (must be 0–10,000), n=abc (not a number)'."""
    return "Ignored in the link: " + ", ".join(f"{_shown(k)}={_shown(raw)} ({why})" for k, (raw, why) in items.items())


def url_notice() -> None:
    """The place, under the page's intro, where the page says which link parameters it ignored
    (setup_page calls it). Only the page's first run in a session (the link as opened) says so:
    later runs follow the page's own URL, whose leftovers (a checkpoint of the dataset just left)
    fall back to their defaults without a word."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    seen = st.session_state.setdefault(_SEEN_KEY, set())
    page = getattr(ctx, "page_script_hash", "") or ""
    st.session_state[_NOTICE_KEY] = {"slot": st.empty(), "items": {}, "arrival": page not in seen}
    seen.add(page)


def url_ignored(name: str, raw, why: str) -> None:
    """Name an ignored parameter in the caption (on the page's first run), and drop it from the URL."""
    box = st.session_state.get(_NOTICE_KEY)
    if box is None:  # a script that did not call setup_page
        st.session_state[_NOTICE_KEY] = box = {"slot": st.empty(), "items": {}, "arrival": True}
    box["items"][name] = (raw, why)
    if box["arrival"]:
        box["slot"].caption(ignored_text(box["items"]))
    try:
        if name in st.query_params:
            del st.query_params[name]
    except Exception:  # noqa: BLE001 - a widget bound to the URL drops a bad value itself
        pass


def url_ignored_now() -> dict:
    """{name: (raw value, reason)} of the parameters this page run has ignored so far."""
    box = st.session_state.get(_NOTICE_KEY)
    return dict(box["items"]) if box else {}


def url_value(name: str, default, cast=str, *, lo=None, hi=None, choices=None, check=None, what: str | None = None):
    """The URL's ?name= as `cast`, or `default` when absent; a value out of [lo, hi], of the wrong type,
    not among `choices` or failing `check` gives `default` too, and the page names it (url_ignored).

        seed = ui.url_value("seed", 0, int, lo=0, hi=10_000)
        n = ui.url_value("n", 500, int, choices=[100, 200, 500, 1000])
        ckpt = ui.url_value("ckpt", paths[0], choices=paths, what="a listed checkpoint")"""
    qp = st.query_params
    if name not in qp:
        return default
    raw = qp.get(name)
    value, why = check_url_value(raw, cast, lo=lo, hi=hi, choices=choices, check=check, what=what)
    if why is None:
        return value
    url_ignored(name, raw, why)
    return default


def url_index(key: str, options, default, what: str | None = None) -> int:
    """Index for a selectbox or radio from ?key=<option>, else the index of `default` (an unknown
    option is named as ignored).

    The URL holds the option itself (`?view=labels`, `?model=gan`), as the README's links do.
    Widgets bound with bind="query-params" write format_func's label there instead (e.g.
    `?model=gan+·+Goodfellow+et+al.+2014…`) and ignore the short value, so selectors with
    descriptive labels read the URL here and write `st.query_params[key] = value` after."""
    options = list(options)
    names = [str(o) for o in options]
    want = url_value(key, None, str, choices=names, what=what)
    return names.index(want) if want is not None else options.index(default)


def url_list(name: str, default, choices, what: str | None = None, sep: str = ",") -> list:
    """?name=a,b,c as the items among `choices` (each once, in the link's order), or `default` when
    absent, empty or none is valid; the items that are not among the choices are named as ignored."""
    qp = st.query_params
    if name not in qp:
        return list(default)
    names = [str(c) for c in choices]
    items = [s.strip() for s in str(qp.get(name)).split(sep) if s.strip()]
    good = list(dict.fromkeys(s for s in items if s in names))
    bad = [s for s in items if s not in names]
    if bad:
        url_ignored(name, sep.join(bad), f"not {what}" if what else "not among the choices")
    return good or list(default)


def section_tabs(sections: dict) -> None:
    """A page's sections ({label: function that draws it}) as tabs of which only the open one runs: a
    visit sends one section to the browser, and each other runs when its tab is opened. The open tab
    is in the link (?section=LABEL); a label that is not among them is named with the link's other
    ignored parameters, and the first tab opens."""
    labels = list(sections)
    url_value("section", labels[0], choices=labels)
    for label, tab in zip(labels, st.tabs(labels, key="section", bind="query-params")):
        if tab.open:
            with tab:
                sections[label]()


def url_write(name: str, value, default) -> None:
    """Keep a setting in the URL as url_value reads it back ('true'/'false' for a switch), and out of
    the URL at its default, so links stay short."""
    if value == default:
        st.query_params.pop(name, None)
    else:
        st.query_params[name] = ("true" if value else "false") if isinstance(value, bool) else str(value)


# --------------------------------------------------------------------------- lessons
# A link such as /Latent_traversal?group=…&beta=16&lesson=beta-disentanglement&lesson_step=2 opens the page
# with its own settings (the step's preset) and, through setup_page, the lesson's panel in the sidebar:
# the instruction and question, Back / Next, a reveal for the expected observation, and the step's check
# measured for the page's state against its range. With &hide=true (instructor mode) the controls the step
# lists are hidden by their widget keys (genlab.lessons.hide_css). The lesson, its files and checks live
# in genlab.lessons; nothing here changes what a page does.

_LESSON_KEYS = ("lesson", "lesson_step", "hide")


def _lessons_signature() -> tuple:
    from genlab.lessons import lessons_dir

    folder = lessons_dir()
    return tuple((str(f), f.stat().st_mtime_ns) for f in sorted(folder.glob("*.toml"))) if folder.is_dir() else ()


@st.cache_data(show_spinner=False)
def _lesson_index(signature: tuple) -> tuple[list, list]:
    from genlab.lessons import load_lessons

    return load_lessons()


def lesson_index() -> tuple[list, list]:
    """(the lessons, the sentences of the lesson files that could not be used), read again when a file changes."""
    return _lesson_index(_lessons_signature())


def current_page() -> str:
    """The url_path of the page running now ('' for the home page), in the router or run on its own."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    script = ""
    if ctx is not None:
        info = ctx.pages_manager.get_pages().get(ctx.page_script_hash) or {}
        script = str(info.get("script_path") or ctx.main_script_path)
    name = Path(script).name
    return next((p.url_path for p in PAGES if Path(p.file).name == name), "")


def go_to_step(lesson, i: int, hide: bool = False) -> None:
    """Open step i of the lesson as its link would: the page's state starts afresh from the step's settings
    (the widgets of the page left keep none of their values), then the page runs."""
    from genlab.lessons import page_file, step_query

    for k in list(st.session_state.keys()):
        del st.session_state[k]
    st.switch_page(page_file(lesson.steps[i - 1].page), query_params=step_query(lesson, i, hide))


@st.cache_data(show_spinner=False, max_entries=64)
def _measure(path: str, version: int, i: int, page: str, state: tuple, rows_sig: tuple):
    from genlab import lessons as L

    step = L.load_lesson(path).steps[i - 1]
    ctx = L.Context(rows=checkpoint_rows(), load_model=lambda p: model_for(p)[0], load_data=dataset)
    try:
        return L.measure(step.check, page, dict(state), ctx)
    except L.CheckError as e:
        return str(e)


def _lesson_check(lesson, i: int, here: str) -> None:
    """The step's check: its figure for the page's current state (on arrival, unless it trains a run; again
    on "Measure"), against the range the lesson gives."""
    from genlab import lessons as L

    step = lesson.steps[i - 1]
    check, fig = step.check, L.FIGURES[step.check.figure]
    st.markdown(f"**Check: {fig.label}**, expected {check.range_text}")
    slow = L.is_slow(check)
    label = f"Measure (trains {check.args['steps']:,} steps)" if slow and "steps" in check.args else "Measure this view"
    pressed = st.button(label, key="_lesson_measure", disabled=here != step.page,
                        help="Measures the figure for what the page shows now (its settings in the link).")
    slot = f"_lesson_measured|{lesson.name}|{i}"
    if here == step.page and (pressed or (slot not in st.session_state and not slow)):
        state = tuple(sorted((k, str(v)) for k, v in st.query_params.to_dict().items() if k not in _LESSON_KEYS))
        with st.spinner("Measuring…" if not slow else "Training a run with these settings…"):
            st.session_state[slot] = _measure(lesson.path, file_version(lesson.path), i, here, state,
                                              _dirs_signature())
    got = st.session_state.get(slot)
    if isinstance(got, str):
        st.warning(got)
    elif got is not None:
        value = f"{got.value:.0f}" if float(got.value).is_integer() and abs(got.value) >= 1 else f"{got.value:.3g}"
        st.metric(fig.label, value, help=got.source)
        st.caption(f"{got.what[:1].upper()}{got.what[1:]}; {got.source}.")
        if check.holds(got.value):
            st.success(f"Within the expected {check.range_text}.")
        else:
            st.warning(f"Outside the expected {check.range_text}: is the page still on this step's settings?")
    elif slow:
        st.caption("Press Measure to train a run with the page's settings and read the figure.")


def lesson_panel() -> None:
    """The lesson's panel in the sidebar, when the link names a lesson (setup_page calls it on every page).
    The lesson, step and hide flag are read like any link parameter: an unknown lesson or a step out of
    range is named in the page's "Ignored in the link" caption and falls back (no lesson, step 1)."""
    if "lesson" not in st.query_params or current_page() == "Lessons":
        return
    from genlab import lessons as L

    found, errors = lesson_index()
    by_name = {lesson.name: lesson for lesson in found}
    asked = str(L.lessons_dir() / f"{st.query_params.get('lesson')}.toml")
    broken = next((e for e in errors if e.startswith((asked + ",", asked + ":"))), None)
    if broken:
        st.sidebar.error(broken)
        return
    name = url_value("lesson", None, choices=list(by_name), what=f"a lesson in {L.lessons_dir()}/")
    if name is None:
        return
    lesson = by_name[name]
    n = len(lesson.steps)
    i = url_value("lesson_step", 1, int, lo=1, hi=n)
    hide = url_value("hide", False, bool)
    step, here = lesson.steps[i - 1], current_page()
    with st.sidebar.container(border=True, key="lesson_panel"):
        st.caption(f"Lesson · {lesson.section}")
        st.markdown(f"**{lesson.title}** · step {i} of {n}")
        if here != step.page:
            st.info(f"This step is on the {L.page_title(step.page)} page.")
            if st.button(f"Open step {i}", key="_lesson_open", type="primary"):
                go_to_step(lesson, i, hide)
        st.markdown(step.instruction)
        st.markdown(f"**Question.** {step.question}")
        if step.choices:
            st.radio("Your answer", list(range(len(step.choices))), index=None, key=f"_lesson_choice|{name}|{i}",
                     format_func=lambda j: f"({chr(97 + j)}) {step.choices[j]}")
        back, nxt = st.columns(2)
        if back.button("◀ Back", key="_lesson_back", disabled=i == 1, width="stretch"):
            go_to_step(lesson, i - 1, hide)
        if nxt.button("Next ▶", key="_lesson_next", disabled=i == n, width="stretch", type="primary"):
            go_to_step(lesson, i + 1, hide)
        if st.toggle("Reveal the expected observation", key=f"_lesson_reveal|{name}|{i}"):
            answer = f" **Answer:** ({chr(96 + step.answer)}) {step.choices[step.answer - 1]}." if step.answer else ""
            st.success(step.expected + answer)
        if step.check:
            _lesson_check(lesson, i, here)
        try:
            st.page_link(next(p.file for p in PAGES if p.url_path == "Lessons"), label="All lessons", icon="📚")
        except st.errors.StreamlitAPIException:  # a page run on its own (tests), outside app.py's router
            st.markdown("[📚 All lessons](/Lessons)")
    if hide and step.hide and here == step.page:
        st.markdown(L.hide_css(step.hide), unsafe_allow_html=True)
