"""VAE failure modes (survey §2.1.2 and §2.1.3): a PixelCNN decoder that ignores the code as its reach
grows, and training points whose posteriors shrink and drift apart on finite data while InfoVAE holds
them on the prior. Widgets and layout only; the work is in genlab.failure_modes."""

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from genlab import failure_modes as fm
from genlab import latent, ui

ui.setup_page(
    "VAE failure modes",
    "Two ways a VAE trained on its bound goes wrong, each with the models that show it. **The ignored code** "
    "(§2.1.2): a decoder strong enough to model the images on its own lets the ELBO drop the code. **The "
    "exploding latent space** (§2.1.3): on a finite training set the ELBO can give each image a narrow "
    "posterior of its own, far from the others.",
    "🕳️",
)
QP = st.query_params
qp, mtime, dataset = ui.url_value, ui.checkpoint_version, ui.dataset
N_FIXED = 500  # the fixed images every code-use figure is measured on
TRAVERSE = np.linspace(-3, 3, 7)


@st.cache_data(show_spinner="Measuring how much the code is used…", max_entries=32)
def code_use(path: str, version: int, data_name: str) -> dict:
    model, _ = ui.model_for(path)
    x = latent.fixed_batch(dataset(data_name), N_FIXED, seed=0)["x"]
    return fm.code_use(model, x, seed=0)


@st.cache_data(show_spinner="Drawing pixel by pixel…", max_entries=64)
def pictures(path: str, version: int, data_name: str, index: int) -> dict:
    model, _ = ui.model_for(path)
    x0 = dataset(data_name).get([index])["x"]
    mu, _ = latent.encode_batch(model, x0)
    use = code_use(path, version, data_name)
    dims = list(np.argsort(use["kl_per_dim"])[::-1][:6])  # the six dimensions with the most KL
    grid = latent.traverse(model, mu[0], dims, TRAVERSE)
    samples = latent.decode_codes(model, latent.prior_overlay(model, 12, seed=0))
    return {"x0": x0[0].numpy(), "grid": grid, "dims": dims, "change": fm.traversal_change(grid), "samples": samples}


@st.cache_data(show_spinner="Training a VAE and two InfoVAEs with a 2-D code on 300 digits…", max_entries=4)
def live_paths(steps: int, every: int) -> dict:
    return {"runs": {k: fm.posterior_paths(k, steps=steps, every=every) for k in fm.PATH_MODELS}, "facts": None}


@st.cache_data(show_spinner=False, max_entries=4)
def stored_paths(folder: str, version: int) -> dict | None:
    return fm.load_paths(folder)


# =========================================================================== §2.1.2 the ignored code
st.header("The ignored code (§2.1.2)")
st.markdown(
    "**Claim (Bowman et al. 2016; Chen et al. 2017, VLAE):** with a decoder that can model the images by itself, "
    "such as a PixelCNN that reads the pixels drawn before (van den Oord et al. 2016), the ELBO is highest when "
    "q(z|x) falls back to the prior: the KL goes to 0 and z stops mattering. A decoder that sees only a small "
    "window of earlier pixels (VLAE), free bits (Kingma et al. 2016), KL annealing (Bowman et al. 2016) or "
    "InfoVAE's weights (Zhao et al. 2019) keep the code. **Look at:** the KL bars and I(x; z) as the decoder's "
    "reach grows, and the traversal grid: when the code is ignored every image of a row is the same, because "
    "every image is drawn with the same noise and z changes nothing. **The figure:** KL and I(x; z) against "
    "the reach.")

rows = fm.reach_rows(ui.checkpoint_rows())
if not rows:
    st.info("No pixelcnn-vae checkpoint yet: `genlab rebuild --only 'digits-binary-pixelcnn*'` trains the shipped "
            "ones (about 20 minutes each on one CPU thread), or train one with `genlab train --model pixelcnn-vae "
            "--data digits-binary --pixel-reach 7 --steps 2000`.")
else:
    datas = list(dict.fromkeys(d["data"] for d in rows))
    data_name = datas[0]
    if len(datas) > 1:
        data_name = st.selectbox("Data", datas, index=ui.url_index("data", datas, datas[0], what="a data set listed here"),
                                 key="data")
        QP["data"] = data_name
    here = [d for d in rows if d["data"] == data_name]
    reaches = sorted({d["reach"] for d in here})
    height = here[0]["height"]
    c1, c2 = st.columns([3, 2])
    want = qp("reach", reaches[-1], int, choices=reaches)  # a reach some checkpoint has; any other is named
    reach = c1.select_slider("The decoder's reach (rows above and columns to either side it sees of earlier pixels)",
                             reaches, value=want, key="reach",
                             format_func=lambda r: fm.reach_text(r, height))
    QP["reach"] = str(reach)
    at_reach = [d for d in here if d["reach"] == reach]
    labels = [fm.objective_text(d) for d in at_reach]
    names = [d["name"] for d in at_reach]
    fix = qp("fix", names[0], choices=names, what="a checkpoint at this reach")
    pick = c2.radio("Objective", range(len(at_reach)), index=names.index(fix), key=f"fix|{data_name}|{reach}",
                    format_func=lambda i: labels[i], horizontal=True)
    ui.url_write("fix", names[pick], names[0])
    chosen = at_reach[pick]
    path = chosen["row"].path
    st.caption(f"`{path}` · {chosen['row'].steps:,} steps")

    try:
        uses = {d["row"].path: code_use(d["row"].path, mtime(d["row"].path), data_name) for d in here}
    except Exception as e:
        ui.show_error(e, "Could not measure the checkpoints")
        st.stop()
    use = uses[path]
    m = st.columns(5)
    m[0].metric("KL(q(z|x) ‖ p(z))", f"{use['kl_total']:.2f} nats")
    m[1].metric("I(x; z) under q", f"{use['mutual_information']:.2f} nats",
                help=f"Hoffman & Johnson 2016's estimate on {use['n']} images; it cannot exceed log {use['n']} = "
                     f"{use['mi_ceiling']:.2f} nats")
    m[2].metric("Active units", f"{use['active_units']} of {len(use['kl_per_dim'])}",
                help="Burda et al. 2016: dimensions whose encoder mean varies over the images (variance > 0.01)")
    m[3].metric("Reconstruction", f"{use['rec']:.2f} nats", help="E_q[−log p(x|z)], one z per image")
    m[4].metric("ELBO", f"{use['elbo']:.2f} nats", help="−(reconstruction + KL) per image: higher is better")

    left, right = st.columns(2)
    kl = np.asarray(use["kl_per_dim"])
    fig = go.Figure(go.Bar(x=[f"z{i}" for i in range(len(kl))], y=kl,
                           marker_color=["#d62728" if k > latent.ACTIVE_KL_NATS else "#bbbbbb" for k in kl],
                           hovertemplate="%{x}: %{y:.3f} nats<extra></extra>"))
    fig.add_hline(y=latent.ACTIVE_KL_NATS, line_dash="dot", annotation_text=f"{latent.ACTIVE_KL_NATS:g} nats")
    fig.update_layout(title=ui.chart_title("KL per dimension"), yaxis_title="KL (nats)", height=330,
                      margin=dict(l=10, r=10, t=60, b=10))
    left.plotly_chart(fig, key="kl_bars")

    plain = [d for d in here if d["plain"]]
    fig = go.Figure()
    for key, name, colour in (("kl_total", "KL", "#d62728"), ("mutual_information", "I(x; z)", "#1f77b4")):
        fig.add_trace(go.Scatter(x=[d["reach"] for d in plain], y=[uses[d["row"].path][key] for d in plain],
                                 mode="lines+markers", name=f"{name}, the ELBO", line=dict(color=colour)))
        fixed = [d for d in here if not d["plain"]]
        if fixed:
            fig.add_trace(go.Scatter(x=[d["reach"] for d in fixed], y=[uses[d["row"].path][key] for d in fixed],
                                     mode="markers+text", name=f"{name}, other objectives or decoders",
                                     text=[fm.objective_text(d) for d in fixed],
                                     textposition="middle left", textfont=dict(size=10),
                                     marker=dict(symbol="diamond", size=11, color=colour)))
    fig.add_vline(x=reach, line_dash="dot", line_color="grey")
    fig.update_layout(title=ui.chart_title("The code's use against the decoder's reach"), xaxis_title="reach",
                      yaxis_title="nats", height=330, margin=dict(l=10, r=10, t=60, b=10),
                      xaxis=dict(tickvals=reaches, ticktext=[fm.reach_text(r, height) for r in reaches]))
    right.plotly_chart(fig, key="kl_vs_reach")
    st.caption(f"Measured on {N_FIXED} fixed images of {data_name}. Reach 0 is the factorised decoder; at "
               f"{height - 1} every pixel sees all the pixels drawn before it.")

    st.subheader("Traversals: does z still change the image?")
    n_data = len(dataset(data_name))
    index = int(st.number_input("Start from the code of image", 0, n_data - 1,
                                value=qp("index", 0, int, lo=0, hi=n_data - 1), step=1, key="index"))
    ui.url_write("index", index, 0)
    try:
        pic = pictures(path, mtime(path), data_name, index)
    except Exception as e:
        ui.show_error(e, "Could not draw the traversal")
        st.stop()
    a, b, c = st.columns([1, 4, 2])
    a.image(latent.to_display(pic["x0"], 128), caption=f"image {index}")
    b.image(latent.image_grid(pic["grid"], pad=2), caption="rows: " + ", ".join(f"z{d}" for d in pic["dims"]) +
            " (most KL first), each from −3 to +3 around the image's code; every image drawn with one noise field")
    c.image(latent.image_grid(pic["samples"], pad=2, ncols=4), caption="12 samples: z from the prior, noise of their own")
    st.caption(f"Change along the rows: {pic['change']:.3f} (mean absolute difference from each row's first image, "
               "per pixel). 0 means z changes nothing: the code is ignored, yet the samples still look like digits, "
               "which the decoder draws on its own.")

# =========================================================================== §2.1.3 the exploding latent space
st.header("The exploding latent space (§2.1.3)")
st.markdown(
    "**Claim (Zhao, Song & Ermon 2019, InfoVAE, §3):** on a finite training set the ELBO can be raised by "
    "giving each training image a narrow posterior q(z|x_i) of its own, their supports apart and their means "
    "spread out: the decoder then recalls each image from its own region of z, which fits the training images "
    "and not the others. InfoVAE adds λ·MMD(q(z), p(z)), which holds the aggregate posterior on the prior. "
    "**Look at:** the ellipses (one standard deviation of each training image's posterior, a 2-D code) as "
    "training goes on, and the four curves below them. **The figure:** posterior width, spread and overlap, "
    "and the gap between the bound on the training and on held-out images, along training.")

folder = ui.checkpoint_dirs()[0] / fm.PATHS_FOLDER
try:
    paths = stored_paths(str(folder), ui.file_version(folder / "paths.npz"))
except Exception as e:
    ui.show_error(e)
    paths = None
if paths is None:
    st.info(f"No precomputed run in `{folder}` (`uv run python scripts/exploding_latent.py` writes it). The button "
            f"trains the {len(fm.PATH_MODELS)} models now, 600 steps each: about a minute on one CPU thread.")
    if st.button("Train them now", key="train_paths"):
        st.session_state["live_paths"] = True
    if st.session_state.get("live_paths"):
        try:
            paths = live_paths(600, 50)
        except Exception as e:
            ui.show_error(e, "Training failed")
if paths is not None:
    runs = paths["runs"]
    kinds = list(runs)
    steps = [int(s) for s in runs[kinds[0]]["steps"]]
    want = qp("step", steps[-1], int, lo=0, hi=steps[-1])  # between snapshots: the nearest one
    step = st.select_slider("Training step", steps, value=min(steps, key=lambda s: abs(s - want)), key="step",
                            format_func=lambda s: f"{s:,}")
    ui.url_write("step", step, steps[-1])
    t = steps.index(step)
    lim = fm.plane_extent(runs)
    cols = st.columns(len(kinds))
    for col, kind in zip(cols, kinds):
        run = runs[kind]
        xs, ys = fm.ellipse_outlines(run["mu"][t], run["logvar"][t])
        fig = go.Figure()
        cx, cy = fm.prior_circle()
        fig.add_trace(go.Scatter(x=cx, y=cy, mode="lines", name="prior: 1 and 2 σ",
                                 line=dict(color="black", dash="dash", width=1), hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name="q(z|x_i): 1 σ", line=dict(color="rgba(31,119,180,0.45)",
                                                                                         width=1), hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=run["mu"][t][:, 0], y=run["mu"][t][:, 1], mode="markers", name="means",
                                 marker=dict(size=4, color=run["labels"], colorscale="Turbo", cmin=0, cmax=9),
                                 text=[f"digit {v}" for v in run["labels"]],
                                 hovertemplate="%{text}<extra></extra>"))
        fig.update_layout(title=ui.chart_title(f"{run['label']} · step {step:,}"), height=430, showlegend=False,
                          xaxis=dict(range=[-lim, lim], title="z0"), yaxis=dict(range=[-lim, lim], title="z1",
                                                                               scaleanchor="x"),
                          margin=dict(l=10, r=10, t=60, b=10))
        col.plotly_chart(fig, key=f"ellipses_{kind}")
        st_now = {k: float(v[t]) for k, v in run["stats"].items()}
        col.caption(f"mean posterior std {st_now['mean_std']:.3f} · spread of the means {st_now['spread']:.2f} · "
                    f"nearest overlap {st_now['overlap_nearest']:.2f} · bound gap "
                    f"{run['elbo_train'][t] - run['elbo_test'][t]:.2f} nats")
    curves = [("mean_std", "Mean posterior std"), ("spread", "Spread of the means"),
              ("overlap_nearest", "Overlap with the nearest posterior (Bhattacharyya)"), ("gap", "Bound gap: train − held out (nats)")]
    cols = st.columns(4)
    for col, (key, title) in zip(cols, curves):
        fig = go.Figure()
        for kind in kinds:
            run = runs[kind]
            y = run["elbo_train"] - run["elbo_test"] if key == "gap" else run["stats"][key]
            fig.add_trace(go.Scatter(x=run["steps"], y=y, mode="lines", name=run["label"]))
        fig.add_vline(x=step, line_dash="dot", line_color="grey")
        fig.update_layout(title=ui.chart_title(title), height=300, margin=dict(l=10, r=10, t=60, b=10),
                          xaxis_title="step", legend=dict(orientation="h", y=-0.25))
        col.plotly_chart(fig, key=f"curve_{key}")
    s = runs[kinds[0]]["settings"]
    facts = paths.get("facts") or {}
    where = f" on {facts['cpu']}, {facts['threads']} thread(s)" if facts.get("cpu") else " live, in this app"
    st.caption(f"{s['n_train']} training images of {s['data']} (a 2-D code, batch {s['batch_size']}, learning rate "
               f"{s['lr']:g}), the bound also on {s['n_test']} held-out images; trained{where}. Overlap: each "
               "posterior's largest Bhattacharyya coefficient with another's, 1 for the same Gaussian, 0 for "
               "supports that do not meet.")
