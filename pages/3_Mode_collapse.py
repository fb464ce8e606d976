"""Mode collapse: a GAN trained live on the 2-D ring and grid, every trick a switch (GAN-Lab style).

Widgets and layout only; the training and the measures live in genlab.live.
"""

from pathlib import Path

import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from genlab import ui

ui.setup_page(
    "Mode collapse",
    "The survey warns that a GAN's generator can **collapse onto a few modes** of the data, and that the "
    "stabilisation tricks (the non-saturating loss, Wasserstein critics, feature matching, minibatch "
    "discrimination, label smoothing, instance noise, TTUR, consensus optimisation, historical averaging, PacGAN's packing, generator averaging) "
    "are meant to help. "
    "Here a small GAN learns a ring of 8 or a grid of 25 Gaussians in front of you: **green** points are "
    "real data, **purple** points are samples, and the background is what the discriminator believes. "
    "Watch how many modes the samples reach, and flip one trick in the A/B view to compare it from the same seed.",
    icon="🎯",
)

from genlab import compare, live  # noqa: E402  (after the page header, so the title shows while torch loads)
from genlab.data import DATASETS, load_dataset  # noqa: E402
from genlab.models import MODELS  # noqa: E402
from genlab.rejection import drs_summary  # noqa: E402

TICK_S = 0.6  # seconds between frames while playing
BUDGET_S = 0.35  # compute per frame, shared by the runs on screen
MAX_STEPS = 20_000  # play pauses itself here
VIEWS = {"live": "Live training", "ab": "A/B: same seed, two settings", "trained": "Trained checkpoints (ring, grid)",
         "labels": "Label histogram (digits)"}
TRICK_KEYS = {"feature_matching": "fm", "minibatch_discrimination": "mbd", "label_smoothing": "ls",
              "instance_noise": "noise", "ttur": "ttur", "consensus": "consensus", "packing": "pack",
              "historical_averaging": "hist", "generator_averaging": "ema"}
LRS = ["paper", "1e-4", "2e-4", "5e-4", "1e-3", "2e-3"]
BATCHES = [32, 64, 128, 256]
COLOURS = {"real": "#1b9e77", "generated": "#7b3294", "A": "#7b3294", "B": "#e66101"}

if "playing" not in st.session_state:
    st.session_state.playing = False

# --------------------------------------------------------------------------- settings (kept in the URL)
# Every setting reads the link through genlab.ui (checked against the widget's range or options,
# a bad value named and dropped) and writes itself back, left out of the URL at its default. Not
# bind="query-params": a bound widget reads the link itself, and a huge ?seed= crashed the page.


def trick_widgets(prefix: str, default_loss: str) -> dict:
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
    return switches


with st.sidebar:
    # View and data sync the URL by hand, with the option (?view=ab&dataset=grid), not its label.
    view = st.radio("View", list(VIEWS), index=ui.url_index("view", VIEWS, "live"), format_func=VIEWS.get, key="view")
    st.query_params["view"] = view
    if view != "labels":
        dataset = st.radio("Data", ["ring", "grid"], index=ui.url_index("dataset", ["ring", "grid"], "ring"),
                           key="dataset", format_func=lambda d: DATASETS[d].description)
        st.query_params["dataset"] = dataset
    if view in ("live", "ab"):
        seed = int(st.number_input("Seed", 0, 10_000, ui.url_value("seed", 0, int, lo=0, hi=10_000), key="seed"))
        ui.url_write("seed", seed, 0)
        lr_choice = st.selectbox("Learning rate", LRS, index=ui.url_index("lr", LRS, "paper"), key="lr",
                                 help="'paper' keeps each model's default: 2e-4 (GAN, Adam β1 0.5), 5e-5 (WGAN, "
                                      "RMSprop), 1e-4 (WGAN-GP)")
        ui.url_write("lr", lr_choice, "paper")
        batch = int(st.selectbox("Batch size", BATCHES, index=ui.url_index("batch", BATCHES, 64), key="batch",
                                 help="minibatch discrimination costs batch² per step: keep it small"))
        ui.url_write("batch", batch, 64)
        st.subheader("Settings A" if view == "ab" else "Settings")
        switches_a = trick_widgets("", "non-saturating")
        lr = None if lr_choice == "paper" else float(lr_choice)
        switches_a["lr"] = lr


def live_run(slot: str, switches: dict):
    """The LiveRun of this slot, rebuilt (from the seed) when any setting changes."""
    overrides = live.trick_overrides(switches)
    key = (dataset, seed, batch, tuple(sorted(overrides.items())))
    held = st.session_state.get(f"run_{slot}")
    if held is None or held[0] != key:
        held = (key, live.LiveRun(dataset=dataset, overrides=overrides, seed=seed, batch_size=batch))
        st.session_state[f"run_{slot}"] = held
    return held[1]


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


def history_figure(histories: dict, dataset: str) -> go.Figure:
    """Modes captured, high-quality share and reverse KL over steps, with the published numbers."""
    # Short titles and labels: the chart often sits in a third of the page, where long ones overlap.
    fig = make_subplots(rows=1, cols=3, subplot_titles=("modes", "high quality", "reverse KL"),
                        horizontal_spacing=0.12)
    fig.update_annotations(font_size=12)
    metrics = ["modes_captured", "high_quality", "reverse_kl"]
    for label, (hist, colour) in histories.items():
        steps = [h["step"] for h in hist]
        for c, m in enumerate(metrics, start=1):
            fig.add_trace(go.Scatter(x=steps, y=[h[m] for h in hist], mode="lines+markers", name=label,
                                     line={"color": colour}, legendgroup=label, showlegend=c == 1), row=1, col=c)
    # The GAN and PacGAN4 rows of the PacGAN paper, labelled on opposite sides so close lines stay legible.
    for ref, label, where in zip(live.PACGAN_REFERENCE[dataset][:2], ("GAN (paper)", "PacGAN4"),
                                 ("bottom left", "top right")):
        for c, m in enumerate(metrics, start=1):
            if m in ref:
                fig.add_hline(y=ref[m], line_dash="dot", line_color="grey", row=1, col=c, annotation_text=label,
                              annotation_position=where, annotation_font_size=9, annotation_font_color="grey")
    # a top margin that keeps the subplot titles below the chart's toolbar
    fig.update_layout(height=300, margin={"l": 10, "r": 10, "t": 60, "b": 10}, uirevision="history",
                      legend={"orientation": "h", "y": -0.32})
    n_modes = next(iter(histories.values()))[0][-1]["n_modes"]
    fig.update_yaxes(range=[0, n_modes + 0.5], row=1, col=1)
    fig.update_yaxes(range=[0, 1.02], row=1, col=2)
    fig.update_xaxes(title_text="step")
    return fig


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
    return fig


def mode_share_figure(snap: dict, title: str, height: int = 360) -> go.Figure:
    """High-quality samples per mode, drawn at the modes' places: the histogram the reverse KL is read from."""
    last = snap["history"][-1]
    counts, centres = last["histogram"], snap["centres"]
    even = sum(counts) / len(counts) if sum(counts) else 1.0
    share = [c / even for c in counts]
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


def metric_row(snap: dict) -> None:
    last = snap["history"][-1]
    cols = st.columns(4)
    cols[0].metric("Step", snap["step"])
    cols[1].metric("Modes captured", f"{last['modes_captured']} / {last['n_modes']}",
                   help=f"measured at step {last['step']} on 2,500 samples (every {snap['metric_every']} steps)")
    cols[2].metric("High quality", f"{100 * last['high_quality']:.1f} %",
                   help="share of samples within 3 std of their nearest mode")
    rkl = last["reverse_kl"]
    cols[3].metric("Reverse KL", "n/a" if rkl != rkl else f"{rkl:.2f}",
                   help="KL(histogram of high-quality samples over modes ‖ uniform), nats; 0 = every mode equally")


def reference_caption(dataset: str) -> None:
    rows = live.PACGAN_REFERENCE[dataset]
    parts = []
    for r in rows:
        s = f"{r['model']}: {r['modes_captured']} modes, {100 * r['high_quality']:.1f} % HQ"
        if "reverse_kl" in r:
            s += f", reverse KL {r['reverse_kl']}"
        parts.append(s)
    n = len(load_dataset(dataset).centres)
    st.caption(
        f"Published on the {dataset} ({n} modes; averages over seeds after full training, 2,500 samples): "
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
    if c2.button(f"⏭ Step {per_click}", key="step", width="stretch"):
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


def tick(runs: list) -> None:
    """Advance while playing; pause (with a full rerun) at the cap or on divergence."""
    if not st.session_state.playing:
        return
    live.advance_together(runs, BUDGET_S, max_steps=MAX_STEPS)
    if any(r.diverged for r in runs) or max(r.step_count for r in runs) >= MAX_STEPS:
        st.session_state.playing = False
        st.rerun()


# --------------------------------------------------------------------------- views


def live_view() -> None:
    try:
        run = live_run("a", switches_a)
    except Exception as e:
        ui.show_error(e, "Cannot build this GAN")
        return
    controls([run])

    @st.fragment(run_every=TICK_S if st.session_state.playing else None)
    def frame():
        tick([run])
        snap = run.snapshot()
        if snap["error"]:
            st.error(snap["error"])
        metric_row(snap)
        left, right = st.columns([3, 2])
        with left:
            st.plotly_chart(field_figure(snap, live.describe_switches(switches_a)), key="field_a")
            st.plotly_chart(mode_share_figure(snap, f"samples per mode (step {snap['history'][-1]['step']})",
                                              height=320), key="modes_a")
        with right:
            st.plotly_chart(history_figure({"run": (snap["history"], COLOURS["A"])}, dataset), key="hist_a")
            st.plotly_chart(loss_figure({"run": (snap, COLOURS["A"])}), key="loss_a")
        reference_caption(dataset)

    frame()


def ab_view() -> None:
    with st.expander("Settings B", expanded=True):
        switches_b = trick_widgets("b_", "wgan-gp")
        switches_b["lr"] = lr
    try:
        run_a, run_b = live_run("a", switches_a), live_run("b", switches_b)
    except Exception as e:
        ui.show_error(e, "Cannot build this GAN")
        return
    st.caption(f"Both runs start from seed {seed} (same initial weights where the networks match, same data "
               "stream) and advance in lock-step.")
    controls([run_a, run_b])

    @st.fragment(run_every=TICK_S if st.session_state.playing else None)
    def frame():
        tick([run_a, run_b])
        snaps = {"A": run_a.snapshot(), "B": run_b.snapshot()}
        cols = st.columns(2)
        for (label, snap), col, sw in zip(snaps.items(), cols, (switches_a, switches_b)):
            with col:
                if snap["error"]:
                    st.error(f"{label}: {snap['error']}")
                metric_row(snap)
                st.plotly_chart(field_figure(snap, f"{label}: {live.describe_switches(sw)}", height=420),
                                key=f"field_{label}")
        st.plotly_chart(history_figure({k: (s["history"], COLOURS[k]) for k, s in snaps.items()}, dataset),
                        key="hist_ab")
        st.plotly_chart(loss_figure({k: (s, COLOURS[k]) for k, s in snaps.items()}), key="loss_ab")
        reference_caption(dataset)

    frame()


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


def _mtime(path) -> int:
    p = Path(path)
    return p.stat().st_mtime_ns if p.exists() else 0


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
                    info = live.train_label_classifier(name)
            except Exception as e:
                ui.show_error(e, "Classifier training failed")
                return
            st.success(f"Classifier saved to `{info['path']}`: {100 * info['test_accuracy']:.1f} % accuracy "
                       "on held-out images.")
            found = compare.find_classifier(ui.checkpoint_rows(), name)
        if found is None:
            return
    clf_path = Path(found["path"]).with_suffix(".safetensors")
    try:
        classifier, clf_meta = _classifier(str(clf_path), _mtime(clf_path))
    except Exception as e:
        ui.show_error(e, "Cannot load the classifier")
        return
    acc, on = clf_meta.get("test_accuracy"), "held-out"
    if acc is None:  # a recipe's classifier learns from every image (the labels of generated samples are its job)
        acc, on = clf_meta.get("train_accuracy"), "its training"
    st.caption(f"Classifier `{found['path']}`" + (f": {100 * acc:.1f} % accuracy on {on} images." if acc else "."))

    rows = [r for r in ui.checkpoint_rows() if "error" not in r and r["data"] == name and r.get("kind") != "classifier"]
    if not rows:
        st.info(f"No checkpoint trained on {name} yet. Start one on the **Train** page (for example gan on {name}, "
                f"2,000 steps), or run `genlab train --model gan --data {name} --steps 2000 --out runs/gan-{name}`; "
                "it appears here when it is saved.")
        return
    from genlab.models import MODELS

    paths = [r["path"] for r in rows]
    gan_first = [p for r, p in zip(rows, paths) if MODELS[r["model"]].family == "gan"] or paths
    chosen = st.multiselect("Checkpoints", paths, default=gan_first[:3], key="label_ckpts",
                            format_func=lambda p: next(f"{r['name']} ({r['model']}, {r['steps']} steps)"
                                                       for r in rows if r["path"] == p))
    results = {}
    for p in chosen:
        try:
            results[p] = _label_hist(p, _mtime(Path(p).with_suffix(".safetensors")), str(clf_path), _mtime(clf_path),
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
def _trained_snapshot(path: str, mtime: int, average: bool = True) -> dict:
    return live.LiveRun.from_checkpoint(path, average=average).snapshot(n_points=1000)


ITSELF = "#generator"  # an option's suffix: an averaged checkpoint drawn from its generator itself


def trained_view() -> None:
    st.markdown(
        f"GANs trained to the end on the **{dataset}** (the shipped ones come from `recipes/`): the generator's "
        "samples over the real data and the discriminator's final opinion, with the mode metrics of 2,500 "
        "samples. Set a plain GAN beside one with tricks to see what the tricks bought, or a GAN that samples "
        "from a generator average beside its generator itself to see what averaging bought."
    )
    rows = [r for r in ui.checkpoint_rows() if "error" not in r and r["data"] == dataset
            and r["model"] in MODELS and MODELS[r["model"]].plain_discriminator]
    if not rows:
        st.info(f"No GAN checkpoint trained on {dataset} yet. Rebuild the shipped ones with "
                f"`uv run genlab rebuild --only '{dataset}-gan*'`, or train one on the **Train** page.")
        return
    paths = [r["path"] for r in rows]
    # label: the picker's and the table's words; title: a chart's, short enough for half a page
    label, title, names, stored = {}, {}, {}, {}
    for r in rows:
        p, base = r["path"], f"{r['name']} ({r['model']}, {r['steps']} steps"
        title[p], names[p], stored[p] = f"{r['name']}, {r['steps']:,} steps", r["name"], r.get("metrics") or {}
        if r["meta"]["config"].get("ema_decay"):
            label[p] = base + ", samples from its generator average)"
            label[p + ITSELF] = base + ", the generator itself, not its average)"
            title[p + ITSELF] = title[p] + ", generator itself"
            title[p] += ", generator average"
            names[p + ITSELF] = r["name"] + " (generator itself)"
            names[p] += " (generator average)"
            stored[p + ITSELF] = {}  # genlab eval measures DRS on what the checkpoint samples: the average
        else:
            label[p] = base + ")"
    chosen = st.multiselect("Checkpoints", list(label), default=paths[:2], key="trained_ckpts", format_func=label.get)
    snaps = {}
    for p in chosen:
        path = p.removesuffix(ITSELF)
        try:
            snaps[p] = _trained_snapshot(path, _mtime(Path(path).with_suffix(".safetensors")), not p.endswith(ITSELF))
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
              "reverse KL (nats)": round(s["history"][-1]["reverse_kl"], 2),
              "with DRS: modes / high quality / reverse KL": drs_summary(stored.get(p, {}), with_rate=True)} for p, s in snaps.items()]
    st.dataframe(table, hide_index=True)
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


if view == "live":
    live_view()
elif view == "ab":
    ab_view()
elif view == "trained":
    trained_view()
else:
    labels_view()
