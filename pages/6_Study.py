"""Study: a grid of training runs (β × seed …) measured side by side, one dot per seed, with the
median per value, published ranges, MIG along training, and a deep link from each trial to the
Latent traversal page. A study can be started here as a background job and stopped.

Widgets and layout only; the work is in genlab.study (results, strip_data, curve_series,
trial_table, start_background).
"""

import plotly.colors as pc
import plotly.graph_objects as go
import streamlit as st

from genlab import study as S
from genlab import ui

ui.setup_page(
    "Study",
    "**Claim (Locatello et al. 2019):** over more than 12,000 trained models, the random seed moved the "
    "disentanglement scores about as much as β or the choice of model did. A **study** trains a grid of runs "
    "(every β × every seed) and shows them side by side. **Look at:** how far apart the dots of one β sit "
    "(seeds) compared with how far the median moves between βs, and whether MIG is still climbing at the end "
    "of training. Click a dot to open that run on the Latent traversal page.",
    "📊",
)
QP = st.query_params
ROOTS = ui.checkpoint_dirs()
RUNS = ROOTS[-1]
PALETTE = pc.qualitative.Plotly
REFRESH_S = 2


def run_section(expanded: bool) -> None:
    """Start a study file from studies/ as a background `genlab study run`."""
    with st.expander("Run a study", expanded=expanded):
        files = S.study_files()
        if not files:
            st.caption(f"No study files (*.toml) in `{S.STUDIES_DIR}/`: write one (see docs/studies.md).")
            return
        st.caption("Trains every trial not yet done as a Ray task, in a process of its own that keeps going if this "
                   "page is closed: on the Ray cluster at `$RAY_ADDRESS` when the app was started with it, else a "
                   "local Ray sized to this machine. Finished trials are skipped and stopped ones resume.")
        c1, c2, c3, c4 = st.columns([3, 3, 3, 2])
        names = [f.name for f in files]
        pick = c1.selectbox("Study file", names, key="study_file")
        file = files[names.index(pick)]
        out_name = c2.text_input(f"Output folder (under {RUNS}/studies/)", value=file.stem, key=f"study_out_{file.stem}",
                                 help=f"{S.OUT_NAME_CHARS}; the trials go to {RUNS}/studies/<name>/<trial>")
        only = c3.text_input("Only (optional)", value="", key="study_only", placeholder="beta=1,16;seed=0",
                             help="train some grid points only: KEY=V1,V2 separated by ;")
        steps = int(c4.number_input("Steps (0 = the file's)", 0, 10_000_000, 0, step=1000, key="study_steps"))
        if st.button("▶ Start the study", key="study_start", type="primary"):
            try:
                out = S.study_out_folder(RUNS, out_name)
                S.start_background(file, out, steps=steps or None, only=only.strip() or None)
            except Exception as e:
                ui.show_error(e, "Cannot start the study")
            else:
                QP["study"] = next((k for k, f in S.study_choices(*ROOTS).items() if f == out), QP.get("study", ""))
                st.rerun()


def progress_panel(folder) -> None:
    """Trials done / total and each trial's step, refreshed every REFRESH_S seconds while it runs."""

    @st.fragment(run_every=REFRESH_S)
    def panel():
        try:
            p = S.progress(folder)
        except Exception as e:
            ui.show_error(e, "Cannot read the study's progress")
            return
        driver = S.background_driver(folder)
        alive = bool(driver.get("alive"))
        text = f"{p['done']} of {p['total']} trials done · {p['running']} running"
        text += f" · {p['failed']} failed" if p["failed"] else ""
        st.progress(p["done"] / max(1, p["total"]), text=text)
        busy = [r for r in p["rows"] if r["status"] == "running"]
        if busy:
            st.dataframe([{"trial": r["trial"], "step": r["step"], "of": r["steps"],
                           "progress": r["step"] / max(1, r["steps"])} for r in busy], hide_index=True,
                         column_config={"progress": st.column_config.ProgressColumn("progress", min_value=0, max_value=1)},
                         key="study_busy")
        if alive:
            if st.button("⏹ Stop the study", key="study_stop",
                         help="stops every trial; each resumes from its last checkpoint when the study is run again"):
                with st.spinner("Stopping…"):
                    S.stop_background(folder)
                st.rerun()
        else:
            st.caption("Running from a command line (or another machine): stop it there with Ctrl-C.")
        if not alive and not busy:
            st.rerun()  # finished: one full rerun draws the charts and stops the timer

    panel()


# --------------------------------------------------------------------------- which study
choices = S.study_choices(*ROOTS)
if not choices:
    st.info(
        "No study yet. A **study** is a TOML file naming a model, a dataset, a number of steps, the measures to take "
        "and a grid (for example β = 1, 2, 4, 8, 16 × seeds 0, 1, 2); every grid point is a trial, an ordinary run "
        "folder. Run the β sweep with `genlab study run studies/beta-sweep.toml` (its trials go to "
        f"`{RUNS}/studies/beta-sweep/`), or start one below. docs/studies.md describes the file and the commands."
    )
    run_section(expanded=True)
    st.stop()

ids = list(choices)
want = ui.url_value("study", ids[0], choices=ids, what="a study folder found here")
top = st.columns([3, 2])


def study_label(i: str) -> str:
    rec = S.read_study_record(choices[i])
    return f"{rec.get('name', i)} · {choices[i]}"


study_id = top[0].selectbox("Study folder", ids, index=ids.index(want) if want in ids else 0, key="study",
                            format_func=study_label)
QP["study"] = study_id
folder = choices[study_id]
try:
    res = S.results(folder)
except Exception as e:
    ui.show_error(e, f"Cannot read the study in {folder}")
    run_section(expanded=False)
    st.stop()

study = res["study"]
key = S.swept_key(study)
counts = {}
for r in res["trials"]:
    counts[r["status"]] = counts.get(r["status"], 0) + 1
st.caption(f"**{study['name']}**{': ' + study['description'] if study.get('description') else ''} · "
           f"{study['model']} on {study['data']}, {study['steps']:,} steps · grid "
           + " × ".join(f"{k} ∈ {{{', '.join(S.value_text(v) for v in vs)}}}" for k, vs in study["grid"].items())
           + " · " + ", ".join(f"{n} {s}" for s, n in counts.items()) + f" · `{folder}`")

if S.background_driver(folder).get("alive") or counts.get("running"):
    progress_panel(folder)

# --------------------------------------------------------------------------- the strip chart
metrics = S.metric_names(res)
if not metrics:
    st.info("No measures yet: a trial stores them when it finishes (the study's metrics = "
            f"{study.get('metrics') or []}), and MIG along the way when it sets measure_every on dSprites.")
else:
    metric = top[1].selectbox("Measure", metrics, key="metric", format_func=S.metric_label,
                              index=ui.url_index("metric", metrics, metrics[0], what="a measure of this study"))
    QP["metric"] = metric
    label = S.metric_label(metric)
    d = S.strip_data(res, metric)
    fig = go.Figure()
    if d["published"]:
        lo, hi = d["published"]
        fig.add_hrect(y0=lo, y1=hi, fillcolor="#888", opacity=0.18, line_width=0, layer="below",
                      annotation_text="published range", annotation_position="top left")
    for i, seed in enumerate(d["seeds"]):
        pts = [p for p in d["dots"] if p["seed"] == seed]
        if not pts:
            continue
        fig.add_trace(go.Scatter(
            x=[p["x"] for p in pts], y=[p["y"] for p in pts], mode="markers", name=f"seed {seed}",
            marker={"size": 12, "color": PALETTE[i % len(PALETTE)], "line": {"width": 1, "color": "white"}},
            customdata=[[p["trial"], p["seed"], p["steps"] or 0, p["path"]] for p in pts],
            hovertemplate="<b>%{customdata[0]}</b><br>seed %{customdata[1]} · %{customdata[2]:,} steps<br>"
                          + label + " %{y:.4g}<extra></extra>"))
    fig.add_trace(go.Scatter(x=d["median"]["x"], y=d["median"]["y"], mode="lines+markers", name="median",
                             line={"color": "#222", "width": 2}, marker={"symbol": "line-ew", "size": 22,
                                                                         "line": {"width": 3, "color": "#222"}},
                             hovertemplate="median %{y:.4g}<extra></extra>"))
    xaxis = {"title": key or "", "tickmode": "array", **d["ticks"], "type": "log" if d["axis"] == "log" else "linear"}
    fig.update_layout(height=430, margin={"l": 10, "r": 10, "t": 60, "b": 10}, xaxis=xaxis, yaxis_title=label,
                      title=ui.chart_title(f"{label} against {key or 'seed'}: one dot per seed, line = median"),
                      clickmode="event+select", legend={"orientation": "h", "y": -0.2})
    event = st.plotly_chart(fig, key=f"strip_{study_id}_{metric}", on_select="rerun", selection_mode="points")
    picked = [p for p in (event.selection.points if event else []) if p.get("customdata")]
    if picked:
        trial, seed, steps, path = picked[0]["customdata"][:4]
        st.markdown(f"**{trial}** (seed {seed}, {int(steps):,} steps): "
                    f"[open it on the Latent traversal page ↗]({S.traversal_link(path)})")
    else:
        st.caption("Click a dot to open that trial on the Latent traversal page.")
    if d["missing"]:
        st.caption(f"{len(d['missing'])} trial(s) have no {label} yet (not finished, or not measured): "
                   + ", ".join(d["missing"][:8]) + ("…" if len(d["missing"]) > 8 else ""))

# --------------------------------------------------------------------------- MIG along training
series = S.curve_series(res)
if series:
    values = [v for v in study["grid"].get(key, [None])] if key else [None]
    colours = pc.sample_colorscale("Viridis", [i / max(1, len(values) - 1) * 0.9 for i in range(len(values))])
    shown = set()
    curves = go.Figure()
    for s in series:
        j = next((i for i, v in enumerate(values) if v == s["value"]), 0)
        name = f"{key} = {S.value_text(s['value'])}" if key else "trials"
        curves.add_trace(go.Scatter(x=s["step"], y=s["mig"], mode="lines+markers", name=name, legendgroup=name,
                                    showlegend=name not in shown, line={"color": colours[j], "width": 1.6},
                                    marker={"size": 5}, customdata=[[s["trial"], s["seed"]]] * len(s["step"]),
                                    hovertemplate="<b>%{customdata[0]}</b><br>step %{x:,}<br>MIG %{y:.3f}<extra></extra>"))
        shown.add(name)
    curves.update_layout(height=380, margin={"l": 10, "r": 10, "t": 60, "b": 10}, xaxis_title="training step",
                         yaxis_title="MIG", title=ui.chart_title("MIG along training, one line per trial"))
    st.plotly_chart(curves, key="study_curves")
else:
    st.caption("No MIG along training: a study measures it when it sets `measure_every` and trains on dSprites.")

# --------------------------------------------------------------------------- tables
st.subheader("Trials")
try:
    live = S.status_rows(folder)
except Exception:
    live = None
labels = {m: S.metric_label(m) for m in metrics}
st.dataframe(S.trial_table(res, live), hide_index=True, key="study_trials",
             column_config={"open": st.column_config.LinkColumn("traversal", display_text="open ↗",
                                                                help="this trial on the Latent traversal page"),
                            **{m: st.column_config.NumberColumn(lab, format="%.4g") for m, lab in labels.items()}})
st.subheader("Per grid point over seeds: median [min, max]")
st.dataframe(S.summary_table(res), hide_index=True, key="study_summary")

run_section(expanded=False)
