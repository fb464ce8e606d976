"""Train: any model of genlab.models.MODELS on any dataset, in the background, with live curves.

Widgets and layout only; the run itself is genlab.runner.BackgroundRun (genlab.train.fit in a
worker thread), so other browser sessions stay responsive while it trains.
"""

import math

import plotly.graph_objects as go
import streamlit as st

from genlab import ui

ui.setup_page(
    "Train",
    "Every model in the survey is trained by minimising its paper's objective: the VAE family a bound on "
    "the data's negative log-likelihood (reconstruction + KL, reweighted by β, a capacity or an MMD term), the "
    "GAN family a two-player game. Start a run with the paper's defaults and watch the difference: VAE losses "
    "fall smoothly, GAN losses oscillate because each player's loss moves the other's. The finished checkpoint "
    "appears on every other page without restarting the app.",
    icon="🏋️",
)

from genlab import runner, userdata  # noqa: E402
from genlab.data import DATASETS  # noqa: E402
from genlab.models import MODELS  # noqa: E402

REFRESH_S = 1.0
UPLOAD = "images-zip"  # the Dataset choice for a zip of your own images (?data=images-zip)


@st.cache_resource(show_spinner="Unpacking and reading your images…", max_entries=4)
def _zip_images(raw: bytes, name: str, size: int):
    return userdata.images_from_zip(raw, name, size)


def zip_upload() -> str | None:
    """The spec of an uploaded zip's images (unpacked under runs/uploads), or None with a sentence
    saying what to upload or what is wrong with the zip."""
    up = st.file_uploader("A zip of PNG or JPEG images (grey or colour; subfolders are fine)", type=["zip"],
                          key="train_zip", help=f"Limits: {userdata.LIMITS_TEXT}.")
    size = st.selectbox("Image size", userdata.IMAGE_SIZES, index=userdata.IMAGE_SIZES.index(64),
                        key="train_image_size",
                        help="each image's centre square is resized to this side, and the networks are built for it")
    if up is None:
        st.info("Upload a zip of your images to train on them; the model's checkpoint records the zip's name, "
                "where it was unpacked and a hash of its content.")
        return None
    try:
        spec, images = _zip_images(up.getvalue(), up.name, int(size))
    except (userdata.UserDataError, OSError) as e:
        st.error(str(e))
        return None
    kind = "colour" if images.shape[0] == 3 else "grey"
    st.caption(f"{up.name}: {len(images):,} {kind} images at {size}×{size}, unpacked in "
               f"`{images.source['path']}`.")
    st.image(userdata.preview(images), width=48)
    return spec

# --------------------------------------------------------------------------- what to train

left, right = st.columns(2)
with left:
    # Model and data sync the URL by hand, with the name (?model=gan&data=ring), not the label.
    model = st.selectbox("Model", list(MODELS), key="model",
                         index=ui.url_index("model", MODELS, "vae", what="one of genlab's models"),
                         format_func=lambda m: f"{m} · {MODELS[m].paper}")
    st.query_params["model"] = model
    spec = MODELS[model]
    st.caption(f"**{spec.family.upper()}** · {spec.purpose}.")
with right:
    status = {r["name"]: r for r in ui.dataset_status()}
    choices = [*DATASETS, UPLOAD]
    choice = st.selectbox("Dataset", choices, index=ui.url_index("data", choices, "digits",
                                                                what="one of genlab's datasets"), key="data",
                          format_func=lambda d: ("your images · a zip you upload" if d == UPLOAD
                                                 else f"{d} · {DATASETS[d].description}"))
    st.query_params["data"] = choice
    if choice == UPLOAD:
        data = zip_upload()
        available = data is not None
    else:
        data = choice
        available = status.get(data, {}).get("available", True)
        if not available:
            st.warning(status[data]["note"])

st.subheader("Hyper-parameters")
st.caption(f"Defaults are {spec.paper.split(',')[0]}'s; only the settings that matter for {model} are shown.")
overrides = {}
fields = runner.hyperparameter_fields(model)
for group in ("model", "optimisation"):
    rows = [f for f in fields if f["group"] == group]
    cols = st.columns(4)
    for i, f in enumerate(rows):
        name, default, key = f["name"], f["default"], f"hp_{model}_{f['name']}"
        # no min/max on the fields: a field out of its bounds would keep its last good value and
        # Start would launch that; here what is typed is what runs, or Start refuses (check_run_settings)
        hint = f["help"] + (f" ({f['range']})" if f["range"] else "")
        with cols[i % 4]:
            if f["choices"]:
                overrides[name] = st.selectbox(name, f["choices"], index=f["choices"].index(default), key=key,
                                               help=f["help"])
            elif isinstance(default, bool):
                overrides[name] = st.checkbox(name, value=default, key=key, help=f["help"])
            elif isinstance(default, int):
                overrides[name] = int(st.number_input(name, value=default, step=1, key=key, help=hint))
            else:  # floats, and None for the optional TTUR rates (empty = use lr)
                overrides[name] = st.number_input(name, value=default, format="%g", key=key, help=hint,
                                                  step=None if default is None else max(abs(default) / 10, 1e-6))

st.subheader("Run")
c1, c2, c3, c4 = st.columns(4)
LIM = runner.RUN_LIMITS
steps = int(c1.number_input("Steps", value=2000, step=1, key="train_steps", help=LIM["steps"].text()))
batch = int(c2.number_input("Batch size", value=64, step=1, key="train_batch", help=LIM["batch_size"].text()))
seed = int(c3.number_input("Seed", value=0, step=1, key="train_seed", help=LIM["seed"].text()))
name = c4.text_input("Run name (folder under runs/)", value="", key="train_name",
                     placeholder=runner.default_run_id(model, data or "images"), help=runner.RUN_NAME_RULE)

where = st.radio("Train on", ["this server", "Ray"], horizontal=True, key="train_where",
                 help="Ray: the run is a task on the same Ray as the Study page's studies (a local one, or the "
                      "cluster named by RAY_ADDRESS when the app was started), so a class can share GPUs behind "
                      "one server; Stop cancels the task and Resume continues from its last checkpoint.")
if st.button("▶ Start training", key="train_start", type="primary", disabled=not available):
    try:
        run = runner.start_run(model, data, overrides, steps=steps, batch_size=batch, seed=seed, run_id=name or None,
                               on_ray=where == "Ray")
        st.session_state.train_run = run.run_id
        st.query_params["run"] = run.run_id
    except Exception as e:
        ui.show_error(e, "Cannot start the run")

# --------------------------------------------------------------------------- the run on screen

run_id = st.session_state.get("train_run") or ui.url_value("run", None, check=runner.is_run_name,
                                                            what=f"a run's name: {runner.RUN_NAME_RULE}")


def loss_figure(history: list) -> go.Figure:
    fig = go.Figure()
    keys = sorted({k for row in history for k, v in row.items()
                   if "loss" in k and isinstance(v, (int, float)) and math.isfinite(v)})
    stride = max(1, len(history) // 1000)
    rows = history[::stride]
    for k in keys:
        fig.add_trace(go.Scatter(x=[r["step"] for r in rows if k in r], y=[r[k] for r in rows if k in r],
                                 mode="lines", name=k))
    fig.update_layout(height=340, margin={"l": 10, "r": 10, "t": 55, "b": 10}, xaxis_title="step",
                      title=ui.chart_title("losses"), uirevision="losses")
    return fig


def show_samples(samples: dict | None) -> None:
    if samples is None:
        st.caption("Samples appear at the first checkpoint (every tenth of the run).")
        return
    if samples["kind"] == "images":
        st.image(samples["grid"], caption=f"samples at step {samples['step']}", width=360, clamp=True)
    else:
        pts = samples["points"]
        fig = go.Figure(go.Scatter(x=pts[:, 0], y=pts[:, 1], mode="markers", marker={"size": 3}, name="samples"))
        fig.update_layout(height=340, title=ui.chart_title(f"samples at step {samples['step']}"),
                          margin={"l": 10, "r": 10, "t": 55, "b": 10})
        fig.update_yaxes(scaleanchor="x", scaleratio=1)
        st.plotly_chart(fig, key="samples_points")


def run_panel(run) -> None:
    live_now = run.running

    @st.fragment(run_every=REFRESH_S if live_now else None)
    def panel():
        snap = run.snapshot()
        st.subheader(f"Run {snap['run_id']}")
        frac = min(1.0, snap["step"] / max(1, snap["total"]))
        speed = f" · {snap['steps_per_s']:.1f} steps/s" if snap["steps_per_s"] else ""
        st.progress(frac, text=f"step {snap['step']} / {snap['total']} · {snap['status']}{speed}")
        status = snap["status"]
        if status == "running":
            st.info(f"Training {snap['model']} on {snap['dataset']} in the background"
                    + (" (stopping after this step…)" if snap["stop_requested"] else "") + ".")
            if st.button("⏹ Stop", key="train_stop"):
                run.stop()
        elif status == "finished":
            st.success(f"Finished at step {snap['step']}. Checkpoint `{snap['checkpoint']}` is saved and now "
                       "listed on the home page and the other pages.")
        elif status == "stopped":
            st.warning(f"Stopped at step {snap['step']} of {snap['total']}; Resume continues from there.")
        else:
            st.error(f"Failed: {snap['error']}")
        if status in ("stopped", "failed") and st.button("⏯ Resume", key="train_resume"):
            try:
                run.resume()
            except Exception as e:
                ui.show_error(e, "Cannot resume")
            st.rerun()
        if snap["logs"]:
            st.caption(" · ".join(f"{k} {v:.4g}" for k, v in snap["logs"].items()
                                  if k != "step" and isinstance(v, float)))
        a, b = st.columns([3, 2])
        with a:
            if snap["history"]:
                st.plotly_chart(loss_figure(snap["history"]), key="train_losses")
        with b:
            show_samples(snap["samples"])
        if live_now and status != "running":
            st.rerun()  # one full rerun to stop the refresh timer

    panel()


if run_id:
    run = runner.get_run(run_id)
    if run is None:
        st.warning(f"No run called '{run_id}' in this server or under {runner.runs_root()}.")
    else:
        run_panel(run)

with st.expander("All runs"):
    runs = runner.list_runs()
    if not runs:
        st.caption(f"No runs yet under {runner.runs_root()}.")
    else:
        st.dataframe(runs, hide_index=True)
        pick = st.selectbox("Show run", [r["run_id"] for r in runs], key="train_pick")
        if st.button("Show", key="train_show"):
            st.session_state.train_run = pick
            st.query_params["run"] = pick
            st.rerun()
