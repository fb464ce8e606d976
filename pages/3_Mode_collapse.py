"""Mode collapse: a GAN trained live on 2-D points (the ring, the grid, or points of yours: an uploaded
CSV or clusters drawn on a canvas), every trick a switch (GAN-Lab style).

Widgets and layout only; the training and the measures live in genlab.live, your points in
genlab.userdata. One function per view, each given its settings; `main` reads the sidebar and
calls the view.
"""

from dataclasses import dataclass
from pathlib import Path

import plotly.graph_objects as go
import streamlit as st

from genlab import runlog, ui

ui.setup_page(
    "Mode collapse",
    "The survey warns that a GAN's generator can **collapse onto a few modes** of the data, and that the "
    "stabilisation tricks (the non-saturating loss, Wasserstein critics, feature matching, minibatch "
    "discrimination, label smoothing, instance noise, TTUR, consensus optimisation, historical averaging, "
    "PacGAN's packing, generator averaging, experience replay) "
    "are meant to help. "
    "Here a small GAN learns a ring of 8 or a grid of 25 Gaussians, or points of yours, in front of you: **green** "
    "points are real data, **purple** points are samples, and the background is what the discriminator believes. "
    "Watch how many modes the samples reach, and flip one trick in the A/B view to compare it from the same seed.",
    icon="🎯",
)

from genlab import compare, live, userdata  # noqa: E402  (after the page header, so the title shows while torch loads)
from genlab.checkpoint import holds_generator_itself  # noqa: E402
from genlab.data import DATASETS, load_dataset  # noqa: E402
from genlab.models import MODELS  # noqa: E402
from genlab.rejection import drs_summary  # noqa: E402

TICK_S = 0.2  # seconds between frames while playing (≥ 4 a second); the runs train in their own process meanwhile
CURVES_TICK_S = 2.0  # seconds between redraws of the curves over steps (a measure every 50 steps): 3 plotly charts
# redrawn once a second held the field to ~3 frames a second on two cores (docs/benchmarks.md)
MAX_STEPS = 20_000  # play pauses itself here
VIEWS = {"live": "Live training", "ab": "A/B: same seed, two settings", "trained": "Trained checkpoints",
         "labels": "Label histogram (digits)"}
# the data a live run trains on, and the data whose checkpoints the trained view shows
LIVE_DATA = {"ring": DATASETS["ring"].description, "grid": DATASETS["grid"].description,
             "csv": "your points: a CSV file you upload", "draw": "your points: clusters you draw"}
TRAINED_DATA = {"ring": DATASETS["ring"].description, "grid": DATASETS["grid"].description,
                "points": "your points: GANs trained with --data points:FILE.csv"}
TRICK_KEYS = {"feature_matching": "fm", "minibatch_discrimination": "mbd", "label_smoothing": "ls",
              "instance_noise": "noise", "ttur": "ttur", "consensus": "consensus", "packing": "pack",
              "historical_averaging": "hist", "generator_averaging": "ema", "replay": "replay"}
LRS = ["paper", "1e-4", "2e-4", "5e-4", "1e-3", "2e-3"]
BATCHES = [32, 64, 128, 256]
COLOURS = {**live.FIELD_COLOURS, "A": live.FIELD_COLOURS["generated"], "B": "#e66101"}
CANVAS = (-6.0, 6.0, 0.25)  # the drawing canvas: from, to, spacing of the points you can click
MAX_DRAWN_POINTS = 20_000


@dataclass(frozen=True)
class Points:
    """What a live run trains on: a built-in mixture's name, or a genlab.userdata.PointsData of yours."""

    key: str  # changes when the data does: the live runs are rebuilt then
    data: object  # "ring" / "grid", or PointsData
    published: str | None  # the PACGAN_REFERENCE entry to draw (ring, grid), None for your points
    label: str


@dataclass(frozen=True)
class RunSettings:
    """The sidebar's settings shared by both runs of a view."""

    seed: int
    batch: int
    lr: float | None  # None: each model's paper default


# --------------------------------------------------------------------------- settings (kept in the URL)
# Every setting reads the link through genlab.ui (checked against the widget's range or options,
# a bad value named and dropped) and writes itself back, left out of the URL at its default. Not
# bind="query-params": a bound widget reads the link itself, and a huge ?seed= crashed the page.


def pick_view() -> str:
    # View and data sync the URL by hand, with the option (?view=ab&dataset=grid), not its label.
    view = st.radio("View", list(VIEWS), index=ui.url_index("view", VIEWS, "live"), format_func=VIEWS.get, key="view")
    st.query_params["view"] = view
    return view


def pick_data(options: dict) -> str:
    choice = st.radio("Data", list(options), index=ui.url_index("dataset", options, "ring"), key="dataset",
                      format_func=options.get)
    st.query_params["dataset"] = choice
    return choice


def run_settings() -> RunSettings:
    seed = int(st.number_input("Seed", 0, 10_000, ui.url_value("seed", 0, int, lo=0, hi=10_000), key="seed"))
    ui.url_write("seed", seed, 0)
    lr_choice = st.selectbox("Learning rate", LRS, index=ui.url_index("lr", LRS, "paper"), key="lr",
                             help="'paper' keeps each model's default: 2e-4 (GAN, Adam β1 0.5), 5e-5 (WGAN, "
                                  "RMSprop), 1e-4 (WGAN-GP)")
    ui.url_write("lr", lr_choice, "paper")
    batch = int(st.selectbox("Batch size", BATCHES, index=ui.url_index("batch", BATCHES, 64), key="batch",
                             help="minibatch discrimination costs batch² per step: keep it small"))
    ui.url_write("batch", batch, 64)
    return RunSettings(seed, batch, None if lr_choice == "paper" else float(lr_choice))


def trick_widgets(prefix: str, default_loss: str, lr: float | None) -> dict:
    """Loss, tricks and D steps for one run; keys double as URL query parameters."""
    key = f"{prefix}loss"
    switches = {"loss": st.selectbox("Loss", live.LOSSES, index=ui.url_index(key, live.LOSSES, default_loss),
                                     format_func=live.LOSS_LABELS.get, key=key)}
    st.query_params[key] = switches["loss"]
    for name, label in live.TRICKS.items():
        k = f"{prefix}{TRICK_KEYS[name]}"
        switches[name] = st.checkbox(label, value=ui.url_value(k, False, bool), key=k)
        ui.url_write(k, switches[name], False)
    k = f"{prefix}dsteps"
    switches["d_steps"] = int(st.number_input("D steps per G step (0 = the model's default: 1 for GAN, 5 for WGAN)",
                                              0, 10, ui.url_value(k, 0, int, lo=0, hi=10), key=k))
    ui.url_write(k, switches["d_steps"], 0)
    switches["lr"] = lr
    return switches


def live_run(slot: str, points: Points, settings: RunSettings, switches: dict):
    """The LiveRun of this slot, rebuilt (from the seed) when the data or any setting changes."""
    overrides = live.trick_overrides(switches)
    key = (points.key, settings.seed, settings.batch, tuple(sorted(overrides.items())))
    held = st.session_state.get(f"run_{slot}")
    if held is None or held[0] != key:
        held = (key, live.LiveRun(dataset=points.data, overrides=overrides, seed=settings.seed,
                                  batch_size=settings.batch))
        st.session_state[f"run_{slot}"] = held
    return held[1]


# --------------------------------------------------------------------------- your points


@st.cache_resource(show_spinner="Reading your points and finding their modes…", max_entries=8)
def _csv_points(raw: bytes, name: str):
    data = userdata.points_from_bytes(raw, name)
    _ = data.modes  # cluster once, here, not in the first frame
    return data


@st.cache_resource(show_spinner="Finding the modes of your clusters…", max_entries=16)
def _drawn_points(clusters: str):
    data = userdata.points_from_clusters(userdata.parse_clusters(clusters))
    _ = data.modes
    return data


def csv_points() -> Points | None:
    """An uploaded CSV's points, or None (with a sentence saying what to upload or what is wrong)."""
    up = st.file_uploader("A CSV file of 2-D points", type=["csv", "txt"], key="points_csv",
                          help="Two numeric columns x, y, one point a line; a header line is optional; comma, "
                               f"semicolon, tab or spaces between them. {userdata.MIN_POINTS}–"
                               f"{userdata.MAX_POINTS:,} points, at most {userdata.MAX_CSV_BYTES // 2**20} MB. "
                               "Coordinates within about ±10 suit the networks best (the ring has radius 1).")
    if up is None:
        st.info("Upload a CSV of points (two columns x, y) to train the GAN on them, or pick **your points: "
                "clusters you draw** to place clusters with the mouse.")
        return None
    try:
        data = _csv_points(up.getvalue(), up.name)
    except userdata.UserDataError as e:
        st.error(str(e))
        return None
    return Points(f"csv:{data.source['sha256']}", data, None, f"{up.name}, {len(data):,} points")


def _add_clusters(new: list[dict]) -> None:
    clusters = st.session_state.clusters
    room = userdata.MAX_CLUSTERS - len(clusters)
    total = sum(c["n"] for c in clusters)
    for c in new[:max(0, room)]:
        if total + c["n"] <= MAX_DRAWN_POINTS:
            clusters.append(c)
            total += c["n"]
    if len(new) > room or total >= MAX_DRAWN_POINTS:
        st.session_state.draw_full = True
    st.session_state.canvas_version = st.session_state.get("canvas_version", 0) + 1  # a fresh canvas: no selection


def canvas_figure(data, clusters: list[dict]) -> go.Figure:
    """The drawing canvas: a lattice of faint points to click (a cluster there) or to drag a box or lasso
    over (a cluster filling it), your points so far, and each cluster's centre."""
    lo, hi, step = CANVAS
    n = int(round((hi - lo) / step)) + 1
    ticks = [lo + i * step for i in range(n)]
    xs = [x for x in ticks for _ in ticks]
    ys = [y for _ in ticks for y in ticks]
    fig = go.Figure(go.Scatter(x=xs, y=ys, mode="markers", name="click: a cluster here",
                               marker={"size": 6, "color": "#bbbbbb", "opacity": 0.35},
                               hovertemplate="a cluster at (%{x:.2f}, %{y:.2f})<extra></extra>"))
    if data is not None:
        pts = data.points[:5000]
        fig.add_trace(go.Scatter(x=pts[:, 0], y=pts[:, 1], mode="markers", name="your points",
                                 marker={"size": 4, "color": COLOURS["real"]}, hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=[c["x"] for c in clusters], y=[c["y"] for c in clusters], mode="markers+text",
                                 name="cluster centres", text=[str(i + 1) for i in range(len(clusters))],
                                 textposition="top right", marker={"size": 10, "symbol": "x", "color": "black"},
                                 hoverinfo="skip"))
    # No dragmode of our own: Streamlit then selects a point on a click ("event+select"), which it turns off
    # while the box or lasso tool is on; the axes stay put, so a drag without a tool moves nothing.
    fig.update_layout(title=ui.chart_title("draw: click a point, or drag a box"), height=460,
                      margin={"l": 10, "r": 10, "t": 60, "b": 10}, showlegend=False, uirevision="canvas")
    square_axes(fig, (lo - step, hi + step, lo - step, hi + step))
    fig.update_xaxes(fixedrange=True)
    fig.update_yaxes(fixedrange=True)
    return fig


def drawn_points() -> Points | None:
    """Clusters placed with the mouse (or the form), kept in the URL as ?clusters=x,y,spread,n;…"""
    if "clusters" not in st.session_state:
        st.session_state.clusters = ui.url_value("clusters", [], userdata.parse_clusters,
                                                 what=f"up to {userdata.MAX_CLUSTERS} clusters x,y,spread,n")
    st.session_state.setdefault("canvas_version", 0)
    left, right = st.columns([3, 2])
    with right:
        st.markdown("**Draw your data.** Click a faint point of the canvas to put a cluster there, or pick the box "
                    "(or lasso) tool in the chart's toolbar and drag over the canvas to fill that area with one. Or "
                    "type where:")
        spread = st.number_input("Spread (std) of a clicked or typed cluster", *userdata.CLUSTER_LIMITS["spread"],
                                 value=0.2, step=0.05, format="%g", key="draw_spread")
        n = int(st.number_input("Points per cluster", *userdata.CLUSTER_LIMITS["n"], value=200, step=50,
                                key="draw_n"))
        cx, cy = st.columns(2)
        x = cx.number_input("x", *userdata.CLUSTER_LIMITS["x"], value=0.0, step=0.5, key="draw_x")
        y = cy.number_input("y", *userdata.CLUSTER_LIMITS["y"], value=0.0, step=0.5, key="draw_y")
        if st.button("➕ Add a cluster at (x, y)", key="draw_add"):
            _add_clusters([userdata.check_cluster({"x": x, "y": y, "spread": spread, "n": n})])
        b1, b2 = st.columns(2)
        clusters = st.session_state.clusters
        if b1.button("↶ Remove the last", key="draw_undo", disabled=not clusters, width="stretch"):
            clusters.pop()
            st.session_state.canvas_version += 1
        if b2.button("✕ Clear", key="draw_clear", disabled=not clusters, width="stretch"):
            clusters.clear()
            st.session_state.canvas_version += 1
        if st.session_state.pop("draw_full", False):
            st.warning(f"At most {userdata.MAX_CLUSTERS} clusters and {MAX_DRAWN_POINTS:,} points: the rest were "
                       "not added.")
    ui.url_write("clusters", userdata.format_clusters(clusters), "")
    data = _drawn_points(userdata.format_clusters(clusters)) if clusters else None
    with left:
        key = f"canvas_{st.session_state.canvas_version}"

        def on_canvas():  # a click, box or lasso on the canvas: clusters from it
            new = userdata.cluster_from_selection(st.session_state.get(key), st.session_state.draw_spread,
                                                  int(st.session_state.draw_n))
            if new:
                _add_clusters(new)

        st.plotly_chart(canvas_figure(data, clusters), key=key, on_select=on_canvas,
                        selection_mode=("points", "box", "lasso"))
    if data is None:
        st.info("No clusters yet: click the canvas, drag a box on it, or add one at (x, y).")
        return None
    right.download_button("⬇ These points as CSV", data.to_csv(), "drawn-points.csv", "text/csv", key="draw_csv",
                          on_click="ignore",
                          help="train on them from the command line: genlab train --model gan --data "
                               "points:drawn-points.csv")
    return Points(f"draw:{data.source['sha256']}", data, None,
                  f"{len(clusters)} drawn cluster{'s' if len(clusters) != 1 else ''}, {len(data):,} points")


def your_points(choice: str) -> Points | None:
    """The data of the live views: a built-in mixture, or points of yours (None until there are some)."""
    if choice in ("ring", "grid"):
        return Points(choice, choice, choice, choice)
    with st.expander("Your points", expanded=True):
        return csv_points() if choice == "csv" else drawn_points()


# --------------------------------------------------------------------------- figures


def field_figure(snap: dict, title: str, height: int = 480) -> go.Figure:
    hm = snap["heatmap"]
    prob = hm["kind"] == "probability"
    fig = go.Figure()
    fig.add_trace(go.Heatmap(x=hm["x"], y=hm["y"], z=hm["z"], colorscale="RdBu", reversescale=True,
                             zmin=0 if prob else None, zmax=1 if prob else None, zmid=None if prob else 0,
                             opacity=0.55, name="discriminator", colorbar={"title": {"text": hm["label"], "side": "right"}},
                             hovertemplate="x %{x:.2f}, y %{y:.2f}<br>" + hm["label"] + " %{z:.3f}<extra></extra>"))
    fig.add_trace(go.Scatter(x=snap["real"][:, 0], y=snap["real"][:, 1], mode="markers", name="real",
                             marker={"size": 4, "color": COLOURS["real"]}))
    fig.add_trace(go.Scatter(x=snap["fake"][:, 0], y=snap["fake"][:, 1], mode="markers", name="generated",
                             marker={"size": 4, "color": COLOURS["generated"]}))
    fig.update_layout(title=ui.chart_title(title), height=height, margin={"l": 10, "r": 10, "t": 60, "b": 10},
                      uirevision=title, legend={"orientation": "h", "y": -0.1, "yanchor": "top"})
    return square_axes(fig, snap["bounds"])


def draw_field(snap: dict, title: str, key: str, playing: bool, height: int = 480) -> None:
    """The field: while the run plays, a picture drawn in the server (a frame then costs the browser one
    image, not a plotly chart of 1,000 points and a heatmap: 4 frames a second instead of 2 to 3 on two
    cores, docs/benchmarks.md); paused, the plotly chart, to hover and zoom."""
    if playing:
        st.image(live.field_png(snap, size=height - 60), caption=f"{title}: a picture while it plays "
                 f"(pause to hover and zoom); background {snap['heatmap']['label']}, blue low to red high")
    else:
        st.plotly_chart(field_figure(snap, title, height=height), key=key)


HISTORY_PANELS = (("modes_captured", "modes"), ("high_quality", "high quality"), ("reverse_kl", "reverse KL"))


def history_figure(histories: dict, published: str | None, first_measure: int = 50) -> go.Figure:
    """Modes captured, high-quality share and reverse KL over steps, three panels side by side, with the
    published numbers (ring and grid; none exist for your points). The step axis starts at 0 and spans at
    least to the next measure (`first_measure` steps), not −1…1 around a lone point at step 0.

    Built as one figure spec (no make_subplots, no add_hline): redrawn at every frame of a playing run,
    the incremental way took 80 ms a frame."""
    gap, width = 0.12, (1 - 2 * 0.12) / 3  # the panels' horizontal spacing and width, in paper units
    domains = [[c * (width + gap), c * (width + gap) + width] for c in range(3)]
    data, last_step, rkl_top = [], 0, 0.0
    for label, (hist, colour) in histories.items():
        steps = [h["step"] for h in hist]
        last_step = max([last_step, *steps])
        rkl_top = max([rkl_top, *(h["reverse_kl"] for h in hist if h["reverse_kl"] == h["reverse_kl"])])
        for c, (m, _) in enumerate(HISTORY_PANELS):
            axis = "" if c == 0 else str(c + 1)
            data.append({"type": "scatter", "x": steps, "y": [h[m] for h in hist], "mode": "lines+markers",
                         "name": label, "line": {"color": colour}, "legendgroup": label, "showlegend": c == 0,
                         "xaxis": f"x{axis}", "yaxis": f"y{axis}"})
    n_modes = next(iter(histories.values()))[0][-1]["n_modes"]
    refs = live.PACGAN_REFERENCE[published][:2] if published else []
    tops = {"modes_captured": n_modes + 0.5, "high_quality": 1.02,
            "reverse_kl": 1.1 * max([rkl_top, *(r.get("reverse_kl", 0.0) for r in refs), 0.05])}
    # short panel titles: the chart often sits in a third of the page, where long ones overlap
    annotations = [{"text": title, "x": (d[0] + d[1]) / 2, "y": 1, "xref": "paper", "yref": "paper",
                    "xanchor": "center", "yanchor": "bottom", "showarrow": False, "font": {"size": 12}}
                   for d, (_, title) in zip(domains, HISTORY_PANELS)]
    shapes = []
    # The GAN and PacGAN4 rows of the PacGAN paper, labelled on opposite sides so close lines stay legible,
    # and below their line when it runs near the top of its panel, where a label above would sit on the
    # panel's title.
    for c, (m, _) in enumerate(HISTORY_PANELS):
        axis = "" if c == 0 else str(c + 1)
        lines = [(ref[m], label, side) for ref, label, side in zip(refs, ("GAN (paper)", "PacGAN4"), ("left", "right"))
                 if m in ref]
        below = [side == "left" or y > 0.8 * tops[m] for y, _, side in lines]
        # two labels hanging below two close lines (both published HQ shares sit near 0.94): the upper line's
        # label drops below the lower one's, so they do not overlap in a narrow panel
        close = len(lines) == 2 and all(below) and abs(lines[0][0] - lines[1][0]) < 0.08 * tops[m]
        upper = max(range(len(lines)), key=lambda i: lines[i][0]) if close else None
        for i, (y, label, side) in enumerate(lines):
            shapes.append({"type": "line", "x0": 0, "x1": 1, "xref": f"x{axis} domain", "y0": y, "y1": y,
                           "yref": f"y{axis}", "line": {"dash": "dot", "color": "grey"}})
            annotations.append({"text": label, "x": 0 if side == "left" else 1, "xref": f"x{axis} domain",
                                "xanchor": side, "y": y, "yref": f"y{axis}", "yanchor": "top" if below[i] else "bottom",
                                "yshift": -13 if i == upper else 0, "showarrow": False,
                                "font": {"size": 9, "color": "grey"}})
    layout = {"height": 300, "margin": {"l": 10, "r": 10, "t": 60, "b": 10}, "uirevision": "history",
              "legend": {"orientation": "h", "y": -0.32}, "annotations": annotations, "shapes": shapes}
    for c, (m, _) in enumerate(HISTORY_PANELS):
        axis = "" if c == 0 else str(c + 1)
        layout[f"xaxis{axis}"] = {"domain": domains[c], "anchor": f"y{axis}", "title": {"text": "step"},
                                  "range": [0, max(last_step, first_measure)]}
        layout[f"yaxis{axis}"] = {"domain": [0, 1], "anchor": f"x{axis}", "range": [0, tops[m]]}
    return go.Figure({"data": data, "layout": layout})


def loss_figure(runs: dict) -> go.Figure:
    fig = go.Figure()
    for label, (snap, colour) in runs.items():
        rows = snap["losses"]
        stride = max(1, len(rows) // 800)
        rows = rows[::stride]
        steps = [r["step"] for r in rows]
        for part, dash in (("loss_d", "solid"), ("loss_g", "dot")):
            fig.add_trace(go.Scatter(x=steps, y=[r.get(part) for r in rows], mode="lines",
                                     name=f"{label} {part.replace('loss_', '')} loss",
                                     line={"color": colour, "dash": dash}))
    fig.update_layout(height=280, margin={"l": 10, "r": 10, "t": 55, "b": 10}, xaxis_title="step", uirevision="losses",
                      title=ui.chart_title("losses (D solid, G dotted)"))
    if not any(snap["losses"] for snap, _ in runs.values()):  # step 0: an empty axis from 0, not −1…6
        fig.update_xaxes(range=[0, 50])
        fig.update_yaxes(range=[0, 1])
    return fig


def mode_share_figure(snap: dict, title: str, height: int = 360) -> go.Figure:
    """High-quality samples per mode, drawn at the modes' places: the histogram the reverse KL is read from.
    'Even' is each mode's share of the data (equal for ring and grid; found by clustering for your points)."""
    last = snap["history"][-1]
    counts, centres = last["histogram"], snap["centres"]
    weights = snap.get("mode_weights")
    total = sum(counts)
    if weights is None:
        expected = [total / len(counts) if total else 1.0] * len(counts)
    else:
        expected = [max(total * float(w), 1e-9) if total else 1.0 for w in weights]
    share = [c / e for c, e in zip(counts, expected)]
    fig = go.Figure(go.Scatter(
        x=centres[:, 0], y=centres[:, 1], mode="markers+text", text=[str(c) for c in counts],
        textposition="middle center",
        textfont={"size": 11, "color": ["white" if abs(r - 1) > 0.6 else "black" for r in share]},
        marker={"size": 34, "color": share, "colorscale": "RdBu", "cmin": 0, "cmax": 2,
                "symbol": ["x-thin-open" if c == 0 else "circle" for c in counts], "line": {"width": 1},
                "colorbar": {"title": {"text": "× even share", "side": "right"}}},
        hovertemplate="mode at (%{x:.1f}, %{y:.1f}): %{text} high-quality samples<extra></extra>", name="modes"))
    fig.update_layout(title=ui.chart_title(title), height=height, margin={"l": 10, "r": 10, "t": 60, "b": 10},
                      showlegend=False)
    return square_axes(fig, snap["bounds"])


def square_axes(fig: go.Figure, bounds) -> go.Figure:
    """The data's bounding box, one unit the same length on both axes."""
    x0, x1, y0, y1 = bounds
    fig.update_xaxes(range=[x0, x1], constrain="domain")
    fig.update_yaxes(range=[y0, y1], scaleanchor="x", scaleratio=1)
    return fig


def reverse_kl_text(rkl: float) -> str:
    """The reverse KL as the table shows it; NaN (no sample near any mode) in words, where a table would say None."""
    return "n/a: no sample near a mode" if rkl != rkl else f"{rkl:.2f}"


def metric_row(snap: dict) -> None:
    last = snap["history"][-1]
    ours = snap.get("modes_note") is not None
    cols = st.columns(4)
    cols[0].metric("Step", snap["step"])
    cols[1].metric("Modes captured", f"{last['modes_captured']} / {last['n_modes']}",
                   help=f"measured at step {last['step']} on 2,500 samples (every {snap['metric_every']} steps)"
                        + ("; the modes come from clustering your points" if ours else ""))
    cols[2].metric("High quality", f"{100 * last['high_quality']:.1f} %",
                   help="share of samples within 3 std of their nearest mode"
                        + (" (each mode's own std, from the clustering)" if ours else ""))
    rkl = last["reverse_kl"]
    cols[3].metric("Reverse KL", "n/a" if rkl != rkl else f"{rkl:.2f}",
                   help="KL(histogram of high-quality samples over modes ‖ "
                        + ("each mode's share of your points" if ours else "uniform")
                        + "), nats; 0 = every mode in its share")


def reference_caption(points: Points) -> None:
    """What to compare with: the published figures (ring, grid), or how the modes of your points were found."""
    if points.published is None:
        data = points.data
        own = data.own_coverage()
        st.caption(
            f"**Modes from a clustering.** Your points have no known modes, so the mode measures use the "
            f"{data.modes['method']}. The data itself scores {own['modes_captured']} / {own['n_modes']} modes, "
            f"{100 * own['high_quality']:.1f} % high quality and reverse KL {own['reverse_kl']:.2f}: what a perfect "
            "generator would reach. No published figures exist for your data."
        )
        return
    rows = live.PACGAN_REFERENCE[points.published]
    parts = []
    for r in rows:
        s = f"{r['model']}: {r['modes_captured']} modes, {100 * r['high_quality']:.1f} % HQ"
        if "reverse_kl" in r:
            s += f", reverse KL {r['reverse_kl']}"
        parts.append(s)
    n = len(load_dataset(points.published).centres)
    st.caption(
        f"Published on the {points.published} ({n} modes; averages over seeds after full training, 2,500 samples): "
        + "; ".join(parts) + ". Dotted lines show the first two. A live run of a few thousand steps with small "
        f"nets is not that experiment: compare trends and settings, not the values. Even samples of the true "
        f"mixture are only {100 * live.TRUE_HQ_SHARE:.1f} % high quality in 2-D (the 3-std rule of a 2-D Gaussian)."
    )


# --------------------------------------------------------------------------- play / pause / step


def controls(runs: list) -> None:
    c1, c2, c3, c4 = st.columns([1, 1, 1, 2])
    playing = st.session_state.playing
    if c1.button("⏸ Pause" if playing else "▶ Play", key="play", width="stretch"):
        st.session_state.playing = not playing
        st.rerun()
    per_click = int(c4.number_input("Steps per click", 1, 5000, 100, key="per_click", label_visibility="collapsed",
                                    help="steps per press of Step"))
    if c2.button(f"⏭ Step {per_click}", key="step", width="stretch", disabled=playing,
                 help="pause first: while playing, the runs train in a process of their own"):
        try:
            for r in runs:
                r.step(per_click)
        except Exception as e:
            ui.show_error(e, "Training step failed")
    if c3.button("↺ Reset", key="reset", width="stretch"):
        for slot in ("a", "b"):
            st.session_state.pop(f"run_{slot}", None)
        st.session_state.playing = False
        st.rerun()
    why = st.session_state.pop("player_error", None)
    if why:
        st.error(f"Playing stopped: {why}")
    player_for(runs)


@st.cache_resource(show_spinner=False)
def _warm_up() -> bool:
    """Once per server: start the process the players are forked from, while the page is read."""
    live.warm_up()
    return True


def player_for(runs: list) -> None:
    """While playing, a genlab.live.Player trains these runs in a process of its own (started here, or
    replaced when the runs were rebuilt); when paused or reset, none: stopping it brings what it trained
    back into the runs."""
    held = st.session_state.get("player")
    if held is not None and (not st.session_state.playing or held.runs != runs):
        held.stop()
        st.session_state.pop("player", None)
        held = None
    if st.session_state.playing and held is None:
        st.session_state["player"] = live.Player(runs, MAX_STEPS).start()


def tick() -> None:
    """A frame while playing: tell the player the page is still drawn, and pause (with a full rerun) once
    it stopped by itself: at MAX_STEPS, on divergence, or after the tab went away."""
    player = st.session_state.get("player") if st.session_state.playing else None
    if player is None:
        return
    player.seen()
    if not player.running:
        st.session_state.playing = False
        st.session_state.pop("player", None)
        if player.reason and player.reason.startswith("error"):
            st.session_state["player_error"] = player.reason.removeprefix("error: ")
        st.rerun()


# --------------------------------------------------------------------------- views


def live_view(points: Points, settings: RunSettings, switches: dict) -> None:
    _warm_up()
    try:
        run = live_run("a", points, settings, switches)
    except Exception as e:
        ui.show_error(e, "Cannot build this GAN")
        return
    controls([run])
    playing = st.session_state.playing

    # Two fragments: the figures and the field change with every step, four frames a second; the curves
    # over steps every two seconds, which halves what the server and the browser redraw while playing.
    @st.fragment(run_every=TICK_S if playing else None)
    @runlog.timed_fragment("fragment:live", "Mode_collapse")
    def frame():
        tick()
        snap = run.snapshot(with_losses=False)
        if snap["error"]:
            st.error(snap["error"])
        metric_row(snap)
        draw_field(snap, live.describe_switches(switches), "field_a", playing)

    # The samples per mode change only when the metrics are measured (every 50 steps): drawn with the curves.
    @st.fragment(run_every=CURVES_TICK_S if playing else None)
    @runlog.timed_fragment("fragment:curves", "Mode_collapse")
    def curves():
        snap = run.snapshot(n_points=0)
        st.plotly_chart(mode_share_figure(snap, f"samples per mode (step {snap['history'][-1]['step']})",
                                          height=320), key="modes_a")
        st.plotly_chart(history_figure({"run": (snap["history"], COLOURS["A"])}, points.published,
                                       snap["metric_every"]), key="hist_a")
        st.plotly_chart(loss_figure({"run": (snap, COLOURS["A"])}), key="loss_a")

    left, right = st.columns([3, 2])
    with left:
        frame()
    with right:
        curves()
    reference_caption(points)


def ab_view(points: Points, settings: RunSettings, switches_a: dict) -> None:
    with st.expander("Settings B", expanded=True):
        switches_b = trick_widgets("b_", "wgan-gp", settings.lr)
    _warm_up()
    try:
        run_a, run_b = live_run("a", points, settings, switches_a), live_run("b", points, settings, switches_b)
    except Exception as e:
        ui.show_error(e, "Cannot build this GAN")
        return
    st.caption(f"Both runs start from seed {settings.seed} (same initial weights where the networks match, same "
               "data stream) and advance in lock-step.")
    controls([run_a, run_b])

    @st.fragment(run_every=TICK_S if st.session_state.playing else None)
    @runlog.timed_fragment("fragment:ab", "Mode_collapse")
    def frame():
        tick()
        snaps = {"A": run_a.snapshot(with_losses=False), "B": run_b.snapshot(with_losses=False)}
        cols = st.columns(2)
        for (label, snap), col, sw in zip(snaps.items(), cols, (switches_a, switches_b)):
            with col:
                if snap["error"]:
                    st.error(f"{label}: {snap['error']}")
                metric_row(snap)
                draw_field(snap, f"{label}: {live.describe_switches(sw)}", f"field_{label}", st.session_state.playing,
                           height=420)

    # the curves over steps every two seconds, as in the single view
    @st.fragment(run_every=CURVES_TICK_S if st.session_state.playing else None)
    @runlog.timed_fragment("fragment:curves", "Mode_collapse")
    def curves():
        snaps = {"A": run_a.snapshot(n_points=0), "B": run_b.snapshot(n_points=0)}
        st.plotly_chart(history_figure({k: (s["history"], COLOURS[k]) for k, s in snaps.items()}, points.published,
                                       snaps["A"]["metric_every"]), key="hist_ab")
        st.plotly_chart(loss_figure({k: (s, COLOURS[k]) for k, s in snaps.items()}), key="loss_ab")

    frame()
    curves()
    reference_caption(points)


@st.cache_resource(show_spinner=False)
def _classifier(path: str, mtime_ns: int):
    from genlab.checkpoint import load_classifier

    return load_classifier(path)


@st.cache_resource(show_spinner=False)
def _labelled(name: str):
    data = load_dataset(name)
    return data.n_classes, live.real_label_distribution(data), data.label_names


@st.cache_data(show_spinner="Sampling and labelling 2,000 images…")
def _label_hist(ckpt: str, ckpt_mtime: int, clf: str, clf_mtime: int, dataset: str) -> dict:
    model, _ = ui.model_for(ckpt)
    classifier, _ = _classifier(clf, clf_mtime)
    n_classes, real, _ = _labelled(dataset)
    return live.label_histogram(model, classifier, n_classes, real)


def labels_view() -> None:
    st.markdown(
        "On labelled images, mode collapse shows up as **missing classes**: a classifier trained on the real "
        "data labels 2,000 generated samples, and their label histogram is set against the real one "
        "(the stacked-MNIST protocol of the VEEGAN and PacGAN papers, here with 10 classes)."
    )
    labelled = [n for n, s in DATASETS.items() if s.has_labels and s.kind == "images"]
    name = st.selectbox("Labelled dataset", labelled, index=ui.url_index("label_data", labelled, "digits"),
                        key="label_data")
    ui.url_write("label_data", name, "digits")
    try:
        n_classes, real, label_names = _labelled(name)
    except Exception as e:
        ui.show_error(e, f"Cannot load {name}")
        return
    # the shipped classifier (checkpoints/digits-classifier) or one trained here, like any checkpoint
    found = compare.find_classifier(ui.checkpoint_rows(), name)
    if found is None:
        target = live.classifier_path(name)
        st.info(f"No {name} classifier yet (no classifier checkpoint for {name} in checkpoints/ or runs/). Press "
                f"the button to train genlab's small conv classifier on 80 % of {name} (400 steps, seconds on a "
                f"CPU for digits); it is saved to `{target}` for every later visit.")
        if st.button(f"Train a {name} classifier", key="train_clf"):
            try:
                with st.spinner("Training the classifier…"):
                    from genlab.evaluate import train_label_classifier

                    info = train_label_classifier(load_dataset(name), target, train_share=0.8,
                                                  meta={"name": f"{name}-classifier"})
            except Exception as e:
                ui.show_error(e, "Classifier training failed")
                return
            st.success(f"Classifier saved to `{info['path']}`: {100 * info['test_accuracy']:.1f} % accuracy "
                       "on held-out images.")
            found = compare.find_classifier(ui.checkpoint_rows(), name)
        if found is None:
            return
    clf_path = Path(found.path).with_suffix(".safetensors")
    try:
        classifier, clf_meta = _classifier(str(clf_path), ui.file_version(clf_path))
    except Exception as e:
        ui.show_error(e, "Cannot load the classifier")
        return
    acc, on = clf_meta.get("test_accuracy"), "held-out"
    if acc is None:  # a recipe's classifier learns from every image (the labels of generated samples are its job)
        acc, on = clf_meta.get("train_accuracy"), "its training"
    st.caption(f"Classifier `{found.path}`" + (f": {100 * acc:.1f} % accuracy on {on} images." if acc else "."))

    rows = [r for r in ui.checkpoint_rows() if r.ok and r.data == name and r.kind != "classifier"]
    if not rows:
        st.info(f"No checkpoint trained on {name} yet. Start one on the **Train** page (for example gan on {name}, "
                f"2,000 steps), or run `genlab train --model gan --data {name} --steps 2000 --out runs/gan-{name}`; "
                "it appears here when it is saved.")
        return
    paths = [r.path for r in rows]
    gan_first = [p for r, p in zip(rows, paths) if MODELS[r.model].family == "gan"] or paths
    chosen = st.multiselect("Checkpoints", paths, default=gan_first[:3], key="label_ckpts",
                            format_func=lambda p: next(f"{r.name} ({r.model}, {r.steps} steps)"
                                                       for r in rows if r.path == p))
    results = {}
    for p in chosen:
        try:
            results[p] = _label_hist(p, ui.checkpoint_version(p), str(clf_path), ui.file_version(clf_path),
                                     name)
        except Exception as e:
            ui.show_error(e, f"Cannot measure {p}")
    if not results:
        return
    classes = label_names or [str(i) for i in range(n_classes)]
    fig = go.Figure()
    fig.add_trace(go.Bar(x=classes, y=results[next(iter(results))]["real_share"], name="real data",
                         marker_color=COLOURS["real"]))
    for p, res in results.items():
        fig.add_trace(go.Bar(x=classes, y=res["generated_share"], name=Path(p).parent.name or p))
    fig.update_layout(barmode="group", height=360, yaxis_title="share of samples", xaxis_title="label",
                      xaxis_type="category",  # every class its own tick, digits included
                      margin={"l": 10, "r": 10, "t": 30, "b": 10})
    st.plotly_chart(fig, key="labels_chart")
    st.dataframe([{"checkpoint": Path(p).parent.name or p, "classes produced": f"{r['modes_covered']} / {r['n_classes']}",
                   "KL(generated ‖ real), nats": round(r["kl_to_real"], 3)} for p, r in results.items()],
                 hide_index=True)
    st.caption("KL 0 means the classes come out in the real proportions; a generator that drops half of ten "
               "equally common classes scores log 2 ≈ 0.69.")


@st.cache_data(show_spinner="Sampling the checkpoint…", max_entries=16)
def _trained_snapshot(path: str, mtime: int, average: bool = True, data_mtime: int = 0) -> dict:
    return live.LiveRun.from_checkpoint(path, average=average).snapshot(n_points=1000)


@st.cache_data(show_spinner=False, max_entries=32)
def _data_note(path: str, mtime: int, data_mtime: int, _meta: dict) -> str | None:
    return userdata.source_problem(_meta)


def _data_mtime(meta: dict) -> int:
    """The recorded data file's modification time (0 when gone or built in): a cache key that changes with it."""
    src = meta.get("data_source") or {}
    return ui.file_version(src["path"]) if src.get("path") else 0


ITSELF = "#generator"  # an option's suffix: an averaged checkpoint drawn from its generator itself


def _trained_rows(dataset: str) -> list:
    """The 2-D GAN checkpoints of `dataset` (ring, grid), or of points of yours ('points')."""
    def on_it(data: str) -> bool:
        return data.startswith("points:") if dataset == "points" else data == dataset

    return [r for r in ui.checkpoint_rows() if r.ok and on_it(r.data)
            and r.model in MODELS and MODELS[r.model].plain_discriminator]


def trained_view(dataset: str) -> None:
    ours = dataset == "points"
    where = "points of yours (`--data points:FILE.csv`)" if ours else f"the **{dataset}**"
    st.markdown(
        f"GANs trained to the end on {where} (the shipped ones come from `recipes/`): the generator's "
        "samples over the real data and the discriminator's final opinion, with the mode metrics of 2,500 "
        "samples. Set a plain GAN beside one with tricks to see what the tricks bought, or a GAN that samples "
        "from a generator average beside its generator itself to see what averaging bought."
    )
    rows = _trained_rows(dataset)
    if not rows:
        if ours:
            st.info("No GAN checkpoint trained on points of yours yet. Train one with "
                    "`uv run genlab train --model gan --data points:FILE.csv --steps 5000`, or on the **Train** page.")
        else:
            st.info(f"No GAN checkpoint trained on {dataset} yet. Rebuild the shipped ones with "
                    f"`uv run genlab rebuild --only '{dataset}-gan*'`, or train one on the **Train** page.")
        return
    paths = [r.path for r in rows]
    # label: the picker's and the table's words; title: a chart's, short enough for half a page
    label, title, names, stored, metas = {}, {}, {}, {}, {}
    for r in rows:
        p, base = r.path, f"{r.name} ({r.model}, {r.steps} steps"
        if ours:
            base = f"{r.name} ({r.model} on {Path(r.data.removeprefix('points:')).name}, {r.steps} steps"
        title[p], names[p], stored[p], metas[p] = (f"{r.name}, {r.steps:,} steps", r.name, r.metrics or {}, r.meta)
        if r.config.get("ema_decay"):
            label[p] = base + ", samples from its generator average)"
            if holds_generator_itself(r.meta):
                label[p + ITSELF] = base + ", the generator itself, not its average)"
                title[p + ITSELF] = title[p] + ", generator itself"
                names[p + ITSELF] = r.name + " (generator itself)"
                stored[p + ITSELF] = {}  # genlab eval measures DRS on what the checkpoint samples: the average
            title[p] += ", generator average"
            names[p] += " (generator average)"
        else:
            label[p] = base + ")"
    chosen = st.multiselect("Checkpoints", list(label), default=paths[:2], key="trained_ckpts", format_func=label.get)
    snaps = {}
    for p in chosen:
        path = p.removesuffix(ITSELF)
        version, data_version = ui.checkpoint_version(path), _data_mtime(metas[path])
        note = _data_note(path, version, data_version, metas[path]) if ours else None
        if note:  # your points: gone (nothing to draw against) or changed since training (drawn, with a word)
            st.warning(f"{names[p]}: {note}")
        try:
            snaps[p] = _trained_snapshot(path, version, not p.endswith(ITSELF), data_version)
        except Exception as e:
            ui.show_error(e, f"Cannot draw {path}")
    if not snaps:
        return
    for col, (p, snap) in zip(st.columns(len(snaps)), snaps.items()):
        key = Path(p.removesuffix(ITSELF)).parent.name + ("_itself" if p.endswith(ITSELF) else "")
        col.plotly_chart(field_figure(snap, title[p], height=420), key=f"trained_{key}")
        col.plotly_chart(mode_share_figure(snap, f"{names[p]}: samples per mode"), key=f"modes_{key}")
    table = [{"checkpoint": label[p], "modes": f"{s['history'][-1]['modes_captured']} / {s['history'][-1]['n_modes']}",
              "high quality": f"{100 * s['history'][-1]['high_quality']:.1f} %",
              "reverse KL (nats)": reverse_kl_text(s["history"][-1]["reverse_kl"]),
              "with DRS: modes / high quality / reverse KL": drs_summary(stored.get(p, {}), with_rate=True)} for p, s in snaps.items()]
    st.dataframe(table, hide_index=True)
    if ours:
        notes = sorted({s["modes_note"] for s in snaps.values() if s.get("modes_note")})
        st.caption("**Modes from a clustering.** Points of yours have no known modes: " + "; ".join(notes) + ".")
    st.caption("Samples per mode: each circle is a mode of the data, with the number of the 2,500 samples that "
               "fell within 3 std of it; white is an even share of the high-quality samples, red less, blue more, a "
               "cross a mode never reached. The reverse KL is read from these counts.")
    st.caption("Measured here on 2,500 samples of a fixed z; `genlab eval` draws its own 2,500, so its figures "
               "(in the README's results table) can differ by a mode or two where modes hold few samples.")
    st.caption("**With DRS**: discriminator rejection sampling (Azadi et al. 2019). The generator's samples are "
               "kept with probability exp(D(x) − max D), D the GAN's own discriminator logit, an estimate of "
               "log p_data / p_g: what the discriminator knows and the generator did not learn. Measured by "
               "`genlab eval` on 2,500 kept samples, or on fewer where 10 million proposals did not yield them (the "
               "cell then says how many); the share kept is the price (–: not measured, or a "
               "discriminator without per-sample log-odds).")


# --------------------------------------------------------------------------- the page


def stop_playing() -> None:
    """Leaving the live views (or their data): the background training stops with them."""
    st.session_state.playing = False
    player_for([])


def main() -> None:
    st.session_state.setdefault("playing", False)
    with st.sidebar:
        view = pick_view()
    if view == "labels":
        stop_playing()
        labels_view()
        return
    with st.sidebar:
        choice = pick_data(TRAINED_DATA if view == "trained" else LIVE_DATA)
    if view == "trained":
        stop_playing()
        trained_view(choice)
        return
    with st.sidebar:
        settings = run_settings()
        st.subheader("Settings A" if view == "ab" else "Settings")
        switches_a = trick_widgets("", "non-saturating", settings.lr)
    points = your_points(choice)
    if points is None:  # your points, not uploaded or drawn yet: the expander says what to do
        stop_playing()
        return
    if view == "live":
        live_view(points, settings, switches_a)
    else:
        ab_view(points, settings, switches_a)


main()
