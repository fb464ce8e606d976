"""Helpers shared by the Streamlit pages: cached loaders, the checkpoint list, error display.

Pages stay thin: widgets and layout there, computation in genlab. Models are loaded once per
process with st.cache_resource and are only ever used in eval mode under torch.no_grad().
"""

from __future__ import annotations

import os
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


def setup_page(title: str, intro: str, icon: str = "🧪") -> None:
    """Page config, title and the two or three sentences for the class."""
    _use_the_router()
    st.set_page_config(page_title=f"genlab · {title}", page_icon=icon, layout="wide")
    st.title(title)
    st.markdown(intro)


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
def _checkpoint_rows(signature: tuple) -> list[dict]:
    from genlab.checkpoint import list_checkpoints

    return [r for d in checkpoint_dirs() for r in list_checkpoints(d)]


def checkpoint_rows() -> list[dict]:
    """All checkpoints in checkpoints/ and runs/ (rows with an 'error' key could not be read)."""
    return _checkpoint_rows(_dirs_signature())


@st.cache_resource(show_spinner="Loading model…")
def load_model(path: str, mtime_ns: int = 0):
    """One shared eval-mode model per checkpoint and version on disk. Never train or mutate it."""
    from genlab.checkpoint import load_checkpoint
    from genlab.device import pick_device

    model, meta = load_checkpoint(path, device=pick_device("auto"))
    return model, meta


def model_for(path: str):
    p = Path(path).with_suffix(".safetensors")
    return load_model(path, p.stat().st_mtime_ns if p.exists() else 0)


@st.cache_data(show_spinner=False, ttl=300)
def device_summary() -> dict:
    from genlab.device import device_summary as ds

    return ds()


@st.cache_data(show_spinner=False, ttl=300)
def dataset_status() -> list[dict]:
    from genlab.data import dataset_status as ds

    return ds()


def url_index(key: str, options, default) -> int:
    """Index for a selectbox or radio from ?key=<option>, else the index of `default`.

    The URL holds the option itself (`?view=labels`, `?model=gan`), as the README's links do.
    Widgets bound with bind="query-params" write format_func's label there instead (e.g.
    `?model=gan+·+Goodfellow+et+al.+2014…`) and ignore the short value, so selectors with
    descriptive labels read the URL here and write `st.query_params[key] = value` after."""
    options = list(options)
    want = st.query_params.get(key)
    names = [str(o) for o in options]
    return names.index(want) if want in names else options.index(default)


def chart_title(text: str) -> dict:
    """A plotly title just above the plot area, so it sits below the chart's toolbar rather than
    under it (give the figure a top margin of about 60 px)."""
    return {"text": text, "yref": "paper", "y": 1, "yanchor": "bottom", "pad": {"b": 6}}


def show_error(e: Exception, what: str = "") -> None:
    """One sentence naming the problem and the fix; never a traceback."""
    msg = str(e).strip().split("\n")[0] or type(e).__name__
    st.error(f"{what}{': ' if what else ''}{msg}")


def url_value(name: str, default, cast=str):
    """A view setting from the URL's query parameters, or `default` when absent or malformed."""
    try:
        return cast(st.query_params[name]) if name in st.query_params else default
    except (TypeError, ValueError):
        return default


def checkpoint_version(path: str) -> int:
    """The weights file's modification time: a cache key that changes when a checkpoint is rewritten."""
    p = Path(path).with_suffix(".safetensors")
    return p.stat().st_mtime_ns if p.exists() else 0


@st.cache_resource(show_spinner=False)
def dataset(name: str):
    """A built-in dataset, loaded once per process."""
    from genlab.data import load_dataset

    return load_dataset(name)
