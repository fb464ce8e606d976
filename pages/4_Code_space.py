"""Code space: a 2-D map (PCA, UMAP or t-SNE) of encoded data, coloured by label, factor or KL;
pick points to see them decoded and the straight path between two; prior samples overlaid to show
holes. Widgets and layout only; the work is in genlab.latent and genlab.metrics.latent_stats."""


import numpy as np
import plotly.graph_objects as go
import streamlit as st

from genlab import compare, latent, ui

ui.setup_page(
    "Code space",
    "**Claim (survey, §2 and §4):** an autoencoder's encoder places every image at a code, and the decoder "
    "only learns to decode the region those codes fill. When the aggregate posterior q(z) does not cover the "
    "prior p(z), sampling from the prior lands in **holes** and decodes to images unlike the data; the "
    "adversarial autoencoder and InfoVAE match q(z) to p(z) to close them. **Look at:** whether labels or "
    "factors form clusters or smooth gradients, where the grey prior samples fall outside the data's codes, "
    "and what the straight path between two codes decodes to.",
    "🗺️",
)
QP = st.query_params
METHODS = {"PCA": "pca", "UMAP": "umap", "t-SNE": "tsne"}
SIZES = list(latent.MAP_SIZES)  # the sizes `genlab maps` stores ahead for shipped checkpoints
KL_COLOUR = "KL per point"
MARK_COLOURS = {"A": "black", "B": "#d6008f"}  # the picked points on the map, in the legend and in the captions


qp, mtime, dataset = ui.url_value, ui.checkpoint_version, ui.dataset


@st.cache_data(show_spinner="Encoding the data…", max_entries=16)
def codes_for(path: str, version: int, data_name: str, n: int) -> dict:
    model, _ = ui.model_for(path)
    return latent.code_table(model, dataset(data_name), n, seed=0)


@st.cache_data(show_spinner=False, max_entries=16)
def prior_for(path: str, version: int, n: int, mu_key: tuple) -> dict:
    model, _ = ui.model_for(path)
    z = latent.prior_overlay(model, n, seed=1)
    return {"z": z, **latent.holes_in_prior(codes_for(path, version, *mu_key), z)}


def selected_rows(event) -> list[int]:
    """Row indices of the data points picked in the chart (prior samples carry −1 and are skipped)."""
    try:
        points = event["selection"]["points"]
    except (KeyError, TypeError):
        return []
    out = []
    for p in points:
        cd = p.get("customdata")
        cd = cd[0] if isinstance(cd, (list, tuple)) and cd else cd
        if isinstance(cd, (int, float)) and cd >= 0 and int(cd) not in out:
            out.append(int(cd))
    return out


def code_figure(xy: np.ndarray, table: dict, colour: str, title: str, prior_xy=None, marks=()) -> go.Figure:
    n = len(table["mu"])
    ids = np.arange(n)
    fig = go.Figure()
    values = table["kl"] if colour == KL_COLOUR else table["colours"][colour]
    categorical = colour != KL_COLOUR and (colour == "label" or len(np.unique(values)) <= 6)
    if categorical:
        for v in sorted(np.unique(values), key=str):
            m = values == v
            fig.add_trace(go.Scatter(x=xy[:n][m, 0], y=xy[:n][m, 1], mode="markers", name=f"{colour} {v}",
                                     customdata=ids[m], marker=dict(size=6, opacity=0.8),
                                     hovertemplate=f"point %{{customdata}} · {colour} {v}<extra></extra>"))
    else:
        fig.add_trace(go.Scatter(x=xy[:n, 0], y=xy[:n, 1], mode="markers", name="codes", customdata=ids,
                                 marker=dict(size=6, opacity=0.8, color=values, colorscale="Viridis",
                                             colorbar=dict(title=colour if colour != KL_COLOUR else "KL (nats)")),
                                 hovertemplate=f"point %{{customdata}} · {colour} %{{marker.color:.3g}}<extra></extra>"))
    if prior_xy is not None:
        fig.add_trace(go.Scatter(x=prior_xy[:, 0], y=prior_xy[:, 1], mode="markers", name="prior samples",
                                 customdata=np.full(len(prior_xy), -1),
                                 marker=dict(symbol="x", size=5, color="rgba(90,90,90,0.45)"), hoverinfo="skip"))
    for label, i in marks:  # A and B told apart in the legend too: their own colour, and their numbers
        fig.add_trace(go.Scatter(x=[xy[i, 0]], y=[xy[i, 1]], mode="markers+text", name=f"{label}: point {i}",
                                 text=[label], textposition="top center", customdata=[i],
                                 textfont=dict(color=MARK_COLOURS[label], size=14),
                                 marker=dict(symbol="star", size=18, color=MARK_COLOURS[label],
                                             line=dict(color="white", width=1))))
    # with a continuous colour the legend goes in a row under the map: the colour bar takes the right edge
    legend = dict(itemsizing="constant") if categorical else dict(itemsizing="constant", orientation="h", y=-0.06,
                                                                   yanchor="top")
    fig.update_layout(title=ui.chart_title(title), height=660, margin=dict(l=10, r=10, t=60, b=10), legend=legend)
    return fig


# --------------------------------------------------------------------------- choices
rows = [r for r in compare.model_rows(ui.checkpoint_rows()) if compare.is_image_row(r) and compare.has_encoder_row(r)]
if not rows:
    ui.offer_training(
        "No checkpoint with an encoder yet: train one with `genlab train --model vae --data digits`, or press "
        "the button for a small VAE on digits (300 steps, about a minute on a CPU).",
        "Train a small VAE", "Training a VAE on digits…",
        [dict(model="vae", data="digits", steps=300, name="quick-vae", latent_dim=8)])
by_path = {r.path: r for r in rows}
paths = list(by_path)
want = qp("ckpt", paths[0], choices=paths, what="a listed checkpoint with an encoder")
c1, c2, c3 = st.columns([3, 2, 1])
path = c1.selectbox("Checkpoint (models with an encoder)", paths, index=paths.index(want) if want in paths else 0,
                    format_func=lambda p: compare.label_of(by_path[p]), key="ckpt")
QP["ckpt"] = path
row, version = by_path[path], mtime(path)
want_m = qp("method", "PCA", choices=list(METHODS))
method = c2.radio("Map", list(METHODS), index=list(METHODS).index(want_m) if want_m in METHODS else 0, horizontal=True,
                  key="method", help="PCA is instant; UMAP and t-SNE follow curved structure but take seconds "
                  "(UMAP's first fit in a server process compiles for about half a minute). The shipped checkpoints "
                  "carry their UMAP maps (`genlab maps`); other maps are cached on disk once computed.")
QP["method"] = method
n = c3.select_slider("Points", SIZES, value=qp("n", 1000, int, choices=SIZES), key="n")
QP["n"] = str(n)

try:
    model, _ = ui.model_for(path)
    table = codes_for(path, version, row.data, n)
except Exception as e:
    ui.show_error(e, f"Could not encode {row.data} with {path}")
    st.stop()
n = len(table["mu"])

colours = list(table["colours"]) + [KL_COLOUR]
want_c = qp("colour", colours[0], choices=colours)
d1, d2 = st.columns([2, 1])
colour = d1.selectbox("Colour by", colours, index=colours.index(want_c) if want_c in colours else 0, key="colour")
QP["colour"] = colour
overlay = d2.toggle("Overlay prior samples", value=qp("prior", "1", choices=["1", "0"]) == "1", key="prior")
QP["prior"] = "1" if overlay else "0"

# points picked in the chart (state of the last run) become A and B before their inputs are drawn
picked = selected_rows(st.session_state.get("codes"))
if picked and picked != st.session_state.get("_picked"):
    st.session_state["_picked"] = picked
    st.session_state["point_a"] = picked[0]
    if len(picked) > 1:
        st.session_state["point_b"] = picked[1]
for key, name, default in (("point_a", "a", 0), ("point_b", "b", 1)):
    if key not in st.session_state or st.session_state[key] >= n:
        st.session_state[key] = min(qp(name, default, int, lo=0, hi=n - 1), n - 1)

# --------------------------------------------------------------------------- the map
prior = None
try:
    prior = prior_for(path, version, n, (row.data, n))
except Exception as e:
    ui.show_error(e, "Could not sample the prior")
extra = prior["z"] if (overlay and prior is not None) else None
cache_dir = latent.cache_root() / "embeddings"
a, b = st.session_state["point_a"], st.session_state["point_b"]
marks = (("A", a), ("B", b))
chart = st.empty()
try:
    xy = latent.embed_codes(table["mu"], "pca", 0, cache_dir, path, extra=extra)
    # a map stored beside the checkpoint (`genlab maps`): the shipped ones open at once
    stored = (latent.stored_map(path, row.meta.get("weights_sha256"), METHODS[method], table["mu"], extra)
              if METHODS[method] != "pca" else None)
    if stored is not None:
        xy = stored
    elif METHODS[method] != "pca":
        if not latent.is_embedding_cached(table["mu"], METHODS[method], 0, cache_dir, path, extra=extra):
            chart.plotly_chart(code_figure(xy, table, colour, f"PCA (shown while {method} computes)",
                                           xy[n:] if extra is not None else None, marks), key="preview")
        with st.spinner(f"Computing the {method} map of {n} codes…"):
            xy = latent.embed_codes(table["mu"], METHODS[method], 0, cache_dir, path, extra=extra)
except Exception as e:
    ui.show_error(e, f"Could not compute the {method} map")
    st.stop()
title = f"{method} of the encoder means (μ) of {n} {row.data} images"
chart.plotly_chart(code_figure(xy, table, colour, title, xy[n:] if extra is not None else None, marks), key="codes",
                   on_select="rerun", selection_mode=("points", "box", "lasso"))
m1, m2, m3 = st.columns(3)
if prior is not None:
    m1.metric("Prior samples in holes", f"{prior['share']:.1%}",
              help=f"Share of {n} prior samples whose nearest code lies farther than the 99th percentile of the codes' "
                   f"own nearest-neighbour distances ({prior['threshold']:.3g}), in the full {model.z_dim}-D space, "
                   "the codes being one draw of q(z|x) per image, a sample of the aggregate posterior q(z) (the "
                   "map shows their means μ) (genlab.metrics.latent_stats.prior_holes). About 1% when q(z) "
                   "matches the prior.")
m2.metric("Mean KL per point", f"{float(np.mean(table['kl'])):.2f} nats")
m3.metric("Latent dimensions", str(model.z_dim))
if extra is not None and METHODS[method] == "tsne":
    st.caption("t-SNE cannot place new points in a finished map, so codes and prior samples were mapped together.")
st.caption("Click a point, or draw a box or lasso, to pick A (and B); or type their numbers below.")

# --------------------------------------------------------------------------- picked points
p1, p2, p3 = st.columns([1, 1, 2])
a = int(p1.number_input("Point A", 0, n - 1, step=1, key="point_a"))
b = int(p2.number_input("Point B", 0, n - 1, step=1, key="point_b"))
steps = p3.slider("Steps on the path from A to B", 3, 15, 9, key="path_steps")
QP["a"], QP["b"] = str(a), str(b)
try:
    data = dataset(row.data)
    x_ab = data.get(np.asarray(table["idx"])[[a, b]])["x"].numpy()
    rec_ab = latent.decode_codes(model, table["mu"][[a, b]])
    path_imgs = latent.interpolate(model, table["mu"][a], table["mu"][b], steps)
except Exception as e:
    ui.show_error(e, "Could not decode the picked points")
    st.stop()
cols = st.columns(4)
# named as the map and the inputs name them (point numbers), the data set's own index beside
caps = [f"A: point {a} (image {table['idx'][a]} of {row.data})", f"A: point {a} decoded",
        f"B: point {b} (image {table['idx'][b]} of {row.data})", f"B: point {b} decoded"]
for col, img, cap in zip(cols, (x_ab[0], rec_ab[0], x_ab[1], rec_ab[1]), caps):
    col.image(latent.to_display(img, 160), caption=cap)
st.image(latent.image_grid(path_imgs, ncols=len(path_imgs)),
         caption="decode((1 − t)·μ_A + t·μ_B) for t from 0 to 1: a path through holes decodes to images unlike the data")
