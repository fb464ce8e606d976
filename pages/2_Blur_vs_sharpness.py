"""VAE blur vs GAN sharpness: real images beside samples and reconstructions, a zoomed crop,
sharpness measures, power spectra, precision/recall/Fréchet distance, on dSprites each sample's
nearest real sprite, and one set of latent sliders driving a VAE decoder and a GAN generator: each
section a tab of its own, which runs only when open. Widgets and layout only; the work is in
genlab.compare, genlab.latent and genlab.metrics.nearest_real."""


import io

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from PIL import Image

from genlab import compare, latent, ui
from genlab.metrics import nearest_real

ui.setup_page(
    "VAE blur vs GAN sharpness",
    "**Claim (survey, §4):** a VAE's Gaussian or Bernoulli decoder averages over every image that fits a "
    "code, so its samples and reconstructions come out blurry; a GAN's generator is only judged by a "
    "discriminator, so its samples are sharp but may miss parts of the data; hybrids such as VAE-GAN and "
    "the adversarial autoencoder sit between. **Look at:** edges in the zoomed crop, the sharpness numbers "
    "and high frequencies of the power spectrum against the real data's, precision (quality) against "
    "recall (coverage), and on dSprites how close each sample comes to a real sprite.",
    "🔍",
)
QP = st.query_params
RUNS = ui.checkpoint_dirs()[-1]


qp, mtime, dataset = ui.url_value, ui.checkpoint_version, ui.dataset


@st.cache_data(show_spinner="Sampling, reconstructing and measuring…", max_entries=16)
def comparison(paths: tuple, versions: tuple, names: tuple, data_name: str, n: int, seed: int, space: tuple) -> dict:
    models = {name: ui.model_for(p)[0] for name, p in zip(names, paths)}
    data = dataset(data_name)
    x_real = latent.fixed_batch(data, 2 * n, seed)["x"]
    fs = compare.feature_space_for(space[0], data.shape, data_name, space[1])
    return compare.compare_models(models, x_real, n, seed, fs)


@st.cache_resource(show_spinner="Loading all 737,280 dSprites images for the nearest-real search (once; about "
                              "40 s the first time, then read from the cache)…")
def sprite_index():
    return nearest_real.sprite_index()


@st.cache_data(show_spinner="Finding each sample's nearest real sprite among all 737,280…", max_entries=16)
def nearest_pairs(samples: dict, seed: int) -> dict:
    return nearest_real.pairs(samples, seed, index=sprite_index())


@st.cache_data(show_spinner="Measuring the nearest real sprites of a checkpoint without stored figures…", max_entries=32)
def nearest_figures(path: str, version: int) -> dict:
    sprite_index()
    return nearest_real.figures(path, lambda p: ui.model_for(p)[0])


def png(picture: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(picture).save(buf, format="PNG")
    return buf.getvalue()


@st.cache_data(show_spinner=False, max_entries=16)
def grid_pngs(paths: tuple, versions: tuple, names: tuple, data_name: str, n: int, seed: int, space: tuple) -> list:
    """The image grids of a comparison (real, then each checkpoint's samples and reconstructions) as PNG
    files, encoded once per comparison rather than on every run of the page."""
    rep = comparison(paths, versions, names, data_name, n, seed, space)
    return [png(latent.image_grid(imgs, ncols=4)) for _, imgs in image_blocks(rep)]


def image_blocks(rep: dict) -> list:
    blocks = [("real data", rep["real"])]
    for name, imgs in rep["images"].items():
        blocks.append((f"{name}: samples", imgs["samples"]))
        if imgs["recons"] is not None:
            blocks.append((f"{name}: reconstructions of the real images", imgs["recons"]))
    return blocks


@st.cache_data(show_spinner=False, max_entries=16)
def pair_pngs(pairs: tuple) -> list:
    """Nearest-sprite pairs as PNG files (keyed by the pairs' bytes), encoded once."""
    return [png(latent.image_grid(np.frombuffer(b, np.float32).reshape(shape), ncols=2)) for b, shape in pairs]


def factors_figure(figs: dict, sets: list) -> go.Figure:
    """Shares of the nearest sprites' factors, five panels (shape and scale as bars, the rest as steps),
    each with the data's even share dashed. One figure spec: make_subplots and add_hline took 0.3 s
    of every run of the page."""
    panels = ["shape", "scale", "posX", "posY", "orientation"]
    cells = [((0.0, 0.45), (0.7, 1.0)), ((0.55, 1.0), (0.7, 1.0)), ((0.0, 0.45), (0.35, 0.65)),
             ((0.55, 1.0), (0.35, 0.65)), ((0.0, 1.0), (0.0, 0.3))]  # (x domain, y domain) of each panel
    data, shapes, annotations, layout = [], [], [], {}
    for j, factor in enumerate(panels):
        axis = "" if j == 0 else str(j + 1)
        (x0, x1), (y0, y1) = cells[j]
        layout[f"xaxis{axis}"] = {"domain": [x0, x1], "anchor": f"y{axis}", "type": "category"}
        layout[f"yaxis{axis}"] = {"domain": [y0, y1], "anchor": f"x{axis}", "rangemode": "tozero"}
        annotations.append({"text": factor, "x": (x0 + x1) / 2, "y": y1, "xref": "paper", "yref": "paper",
                            "xanchor": "center", "yanchor": "bottom", "showarrow": False, "font": {"size": 14}})
        even = 1 / len(nearest_real.factor_labels(factor))
        shapes.append({"type": "line", "x0": 0, "x1": 1, "xref": f"x{axis} domain", "y0": even, "y1": even,
                       "yref": f"y{axis}", "line": {"dash": "dash", "color": "black"}})
        for name, found in figs.items():
            color = style(f"{name}: samples", sets)["color"]
            x, y = nearest_real.factor_labels(factor), nearest_real.shares(found, factor)
            trace = ({"type": "bar", "marker": {"color": color}} if j < 2 else  # bars for the few shapes and scales
                     {"type": "scatter", "mode": "lines", "line": {"shape": "hvh", "color": color, "width": 1.5}})
            data.append({**trace, "x": list(x), "y": list(y), "name": name, "legendgroup": name,
                         "showlegend": j == 0, "xaxis": f"x{axis}", "yaxis": f"y{axis}"})
    layout.update(title={**ui.chart_title("Factors of the nearest real sprites (share of samples; dashed: the data)"),
                         "pad": {"b": 30}},
                  barmode="group", height=780, margin={"l": 10, "r": 10, "t": 100, "b": 10}, shapes=shapes,
                  annotations=annotations)
    return go.Figure({"data": data, "layout": layout})


PALETTE = ["#1f77b4", "#d62728", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#bcbd22", "#7f7f7f"]


def style(images: str, sets: list[str]) -> dict:
    """How an image set is drawn in every chart: one colour per checkpoint (of the `sets` shown),
    shared by its samples and its reconstructions (dotted, square); the real data in black."""
    if images.startswith("real"):
        return {"color": "black", "dash": "dash", "symbol": "star"}
    sources = list(dict.fromkeys(s.rsplit(": ", 1)[0] for s in sets if not s.startswith("real")))
    source, recon = images.rsplit(": ", 1)[0], images.endswith("reconstructions")
    return {"color": PALETTE[sources.index(source) % len(PALETTE)] if source in sources else "grey",
            "dash": "dot" if recon else "solid", "symbol": "square" if recon else "circle"}


# --------------------------------------------------------------------------- what to compare
all_rows = ui.checkpoint_rows()
rows = [r for r in compare.model_rows(all_rows) if compare.is_image_row(r)]
if not rows:
    ui.offer_training(
        "No image checkpoint yet: train one with `genlab train --model vae --data digits`, or press the button "
        "for a small VAE and a small GAN on digits (z = 8, 300 steps each, a minute or two on a CPU).",
        "Train a small VAE and GAN", "Training a VAE and a GAN on digits…",
        [dict(model=m, data="digits", steps=300, name=f"quick-{m}", latent_dim=8) for m in ("vae", "gan")])
datasets = sorted({r.data for r in rows}, key=lambda d: (-sum(r.data == d for r in rows), d))
c1, c2, c3 = st.columns([2, 1, 1])
want = qp("data", datasets[0], choices=datasets)
data_name = c1.selectbox("Dataset", datasets, index=datasets.index(want) if want in datasets else 0, key="data")
QP["data"] = data_name
seed = int(c2.number_input("Seed", 0, 10_000, value=qp("seed", 0, int, lo=0, hi=10_000), step=1, key="seed"))
QP["seed"] = str(seed)
sizes = [100, 200, 500, 1000]
n = c3.select_slider("Images measured", sizes, value=qp("n", 500, int, choices=sizes), key="n")
QP["n"] = str(n)
try:
    data = dataset(data_name)
except Exception as e:
    ui.show_error(e, f"Dataset {data_name} is not available")
    st.stop()

cands = compare.lineup(rows, data_name)
by_path = {r.path: r for r in cands}
names = {r.path: compare.short_name(r) for r in cands}
default = ui.url_list("ckpts", [r.path for r in compare.default_lineup(cands)], by_path,
                      what=f"a listed checkpoint on {data_name}")
# One widget per dataset: a single key kept the previous dataset's picks, which the new options
# filtered down to none ("Pick at least one checkpoint") on every switch of dataset.
chosen = st.multiselect("Checkpoints (VAE family, hybrids, GANs)", list(by_path), default=default,
                        format_func=lambda p: compare.label_of(by_path[p]), key=f"ckpts:{data_name}")
QP["ckpts"] = ",".join(chosen)
if not chosen:
    st.info("Pick at least one checkpoint above.")
    st.stop()
families = {compare.family_of(by_path[p]) for p in chosen}
missing = [compare.FAMILY_NAMES[f] for f in ("vae", "gan") if f not in families]
if missing:
    st.caption(f"No {' or '.join(missing)} checkpoint on {data_name} is selected: train one with "
               f"`genlab train --model {'gan' if 'GAN family' in missing else 'vae'} --data {data_name}` to see both sides.")

clf_row = compare.find_classifier(all_rows, data_name)
spaces = (["classifier"] if clf_row else []) + ["random projection"]
want_space = qp("space", spaces[0], choices=spaces)
s1, s2 = st.columns([2, 1])
space = s1.radio("Feature space for precision, recall and Fréchet distance", spaces,
                 index=spaces.index(want_space) if want_space in spaces else 0, horizontal=True, key="space")
QP["space"] = space
if not clf_row:
    s1.caption(f"No classifier checkpoint for {data_name}: the numbers use a fixed random projection of the pixels. "
               "Train a small classifier to measure in a space that knows what the images show.")
    if s2.button("Train a feature classifier (500 steps)"):
        with st.spinner(f"Training a classifier on {data_name}…"):
            try:
                from genlab.evaluate import train_label_classifier

                train_label_classifier(data, RUNS / f"classifier-{data_name}" / "model", steps=500,
                                       meta={"name": f"classifier-{data_name}"})
            except Exception as e:
                ui.show_error(e, "Could not train the classifier")
                st.stop()
        st.rerun()

key = (tuple(chosen), tuple(mtime(p) for p in chosen), tuple(names[p] for p in chosen), data_name, n, seed,
       (space, clf_row.path if clf_row and space == "classifier" else None))
try:
    rep = comparison(*key)
except Exception as e:
    ui.show_error(e, "Could not compare these checkpoints")
    st.stop()
sets = [r["images"] for r in rep["sharpness"]]  # every image set, in the order the charts draw them
pairs = compare.latent_pairs(cands)  # VAE decoders and GAN generators that take the same z
pair = qp("pair", 0, int, lo=0, hi=len(pairs) - 1) if pairs else 0


# --------------------------------------------------------------------------- the sections, one tab each


def pictures() -> None:
    """Real images, samples and reconstructions, and a zoomed crop of one image of each set."""
    st.subheader("Real images, samples and reconstructions")
    blocks = image_blocks(rep)
    # one element for all the grids (they flow four to a row), not a column each: less for the browser to lay out
    st.image(grid_pngs(*key), caption=[c for c, _ in blocks], width=290)

    st.subheader("Zoomed crop")
    h, w = data.shape[-2:]
    z1, z2, z3, z4 = st.columns(4)
    idx = z1.slider("Image", 0, len(rep["real"]) - 1, 0, key="crop_img")
    size = z2.slider("Crop size (pixels)", 2, min(h, w), max(2, min(h, w) // 2), key="crop_size")
    top = z3.slider("Top", 0, h - size, min((h - size) // 2, h - size), key="crop_top")
    left = z4.slider("Left", 0, w - size, min((w - size) // 2, w - size), key="crop_left")
    crops = [b for b in blocks if len(b[1]) > idx]
    st.image([latent.zoom_crop(imgs[idx], top, left, size, 160) for _, imgs in crops], caption=[c for c, _ in crops],
             width=180)


def sharpness() -> None:
    """The sharpness table, the Laplacian variances and the power spectra."""
    st.caption(f"genlab.metrics.sharpness on {rep['n']} images per set, grey levels in [0, 1]: variance of the 3×3 "
               "Laplacian, mean Sobel gradient magnitude, and the share of spectral power above a quarter of the "
               "Nyquist frequency. Higher = sharper; read each number against the real data's.")
    sharp = rep["sharpness"]
    st.dataframe(sharp, hide_index=True, column_config={k: st.column_config.NumberColumn(format="%.4f")
                                                        for k in sharp[0] if k != "images"})
    # Full-width charts: the image sets' names are long, and a bar chart or a legend squeezed into half
    # the page leaves no room for the plot.
    fig = go.Figure(go.Bar(y=[r["images"] for r in sharp], x=[r["Laplacian variance"] for r in sharp], orientation="h",
                           error_x=dict(type="data", array=[r["Laplacian variance (std)"] for r in sharp]),
                           marker_color=[style(r["images"], sets)["color"] for r in sharp]))
    real = sharp[0]["Laplacian variance"]  # the real data's line, as a shape (add_vline costs 40 ms a run)
    fig.update_layout(title=ui.chart_title("Laplacian variance (mean ± std over images)"), xaxis_title="Laplacian variance",
                      height=110 + 26 * len(sharp), margin=dict(l=10, r=10, t=60, b=10), yaxis_autorange="reversed",
                      shapes=[dict(type="line", x0=real, x1=real, xref="x", y0=0, y1=1, yref="y domain",
                                   line=dict(dash="dot"))],
                      annotations=[dict(text="real data", x=real, xref="x", xanchor="left", y=0, yref="y domain",
                                        yanchor="bottom", showarrow=False)])
    st.plotly_chart(fig, key="laplacian")
    fig = go.Figure()
    for name, (freqs, power) in rep["spectra"].items():
        look = style(name, sets)
        fig.add_trace(go.Scatter(x=freqs, y=power, mode="lines", name=name,
                                 line=dict(dash=look["dash"], width=3 if name == "real" else 2, color=look["color"])))
    fig.update_layout(title=ui.chart_title("Radially averaged power spectrum"), xaxis_title="frequency (cycles per pixel)",
                      yaxis_title="power", yaxis_type="log", height=420, margin=dict(l=10, r=10, t=60, b=10))
    st.plotly_chart(fig, key="spectrum")


def quality() -> None:
    """Precision, recall and Fréchet distance in the chosen feature space."""
    fs = rep["feature_space"]
    st.caption(f"Measured in **{fs['name']}** features: {fs['description']}. Precision = share of generated images "
               "inside the real data's k-nearest-neighbour balls (k = 3; quality), recall = the reverse (coverage); "
               "'real (held out)' shows the scores of real images against other real images.")
    st.dataframe([{**r, "feature space": fs["name"]} for r in rep["quality"]], hide_index=True,
                 column_config={k: st.column_config.NumberColumn(format="%.3f")
                                for k in ("precision", "recall", "density", "coverage", "Fréchet distance")})
    fig = go.Figure()
    for r in rep["quality"]:  # one trace per image set: a legend instead of labels piled on each other
        look = style(r["images"], sets)
        fig.add_trace(go.Scatter(x=[r["recall"]], y=[r["precision"]], mode="markers", name=r["images"],
                                 marker=dict(size=13, color=look["color"], symbol=look["symbol"]),
                                 hovertemplate=f"{r['images']}<br>recall %{{x:.3f}}, precision %{{y:.3f}}<extra></extra>"))
    fig.update_layout(title=ui.chart_title(f"Precision vs recall ({fs['name']} features)"), xaxis_title="recall",
                      yaxis_title="precision", xaxis_range=[-0.05, 1.05], yaxis_range=[-0.05, 1.05], height=460,
                      margin=dict(l=10, r=10, t=60, b=10))
    st.plotly_chart(fig, key="precision_recall")


def nearest() -> None:
    """On dSprites: each sample beside its nearest real sprite, and the factors of the nearest sprites."""
    st.caption("dSprites is finite, so every sample has an exact nearest real image: each sample is thresholded at "
               "0.5 and compared by IoU with all 737,280 sprites (genlab.metrics.nearest_real). *Grey* is the same "
               "search on the grey levels, not thresholded (weighted Jaccard, Σ min / Σ max): for a VAE, its mean "
               "image, whose blur the threshold hides. Below: the first samples of the Pictures tab, each beside "
               "its nearest sprite.")
    try:
        near = nearest_pairs({name: imgs["samples"][:8] for name, imgs in rep["images"].items()}, seed)
        for name, found in near.items():
            st.markdown(f"**{name}**")
            # one element per checkpoint, not eight columns of one image each: a lighter page for the browser
            shown = tuple((np.ascontiguousarray(p, np.float32).tobytes(), np.shape(p)) for p in found["pairs"])
            st.image(pair_pngs(shown), width=150,
                     caption=[f"IoU {iou:.2f} · grey {grey:.2f}" for iou, grey in zip(found["iou"], found["soft_iou"])])
        figs = {names[p]: nearest_figures(p, mtime(p)) for p in chosen}
    except Exception as e:
        ui.show_error(e, "Could not search the nearest real sprites")
        figs = {}
    if figs:
        table = nearest_real.table_rows(figs)
        st.dataframe(table, hide_index=True, column_config={
            **{k: st.column_config.NumberColumn(format="%.3f") for k in table[0] if k.startswith(("IoU (", "grey IoU (", "KL"))},
            **{k: st.column_config.NumberColumn(format="percent") for k in ("IoU ≥ 0.8", "grey IoU ≥ 0.8", "blank")}})
        floor = nearest_real.uniform_kl_floor(1000)
        st.caption("KL(histogram of the nearest sprites' factor ‖ uniform), in nats: 0 = the factor covered like the "
                   "data, log K = every sample on one class. Real images score a little above 0 by chance; at 1,000 "
                   "samples: " + ", ".join(f"{f} {v:.3f}" for f, v in floor.items()) + ". Figures stored by `genlab "
                   "eval` use 1,000 samples (seed 0); a checkpoint without them is measured here on "
                   f"{nearest_real.LIVE_N} (store them with `genlab eval CHECKPOINT --metrics nearest_real`).")
        st.plotly_chart(factors_figure(figs, sets), key="nearest_factors")


def shared_z() -> None:
    """One z ~ N(0, I) through a VAE decoder and a GAN generator of the same latent size."""
    if not pairs:
        st.info(f"No VAE-family model and GAN on {data_name} share a latent size: train both with the same "
                "`--latent-dim` (the button on an empty page trains a matching pair).")
        st.stop()
    labels = [f"{compare.short_name(d)}  ↔  {compare.short_name(g)}" for d, g in pairs]
    k = st.selectbox("Decoder and generator (same z size)", range(len(pairs)), format_func=lambda i: labels[i],
                     index=pair, key="pair")
    QP["pair"] = str(k)
    dec_row, gen_row = pairs[k]
    try:
        dec_model, gen_model = ui.model_for(dec_row.path)[0], ui.model_for(gen_row.path)[0]
    except Exception as e:
        ui.show_error(e, "Could not load the pair")
        st.stop()
    d_z = compare.z_size(dec_row)
    keys = [f"shared_z{i}" for i in range(d_z)]
    for key in keys:
        st.session_state.setdefault(key, 0.0)

    def random_z():
        z = np.random.default_rng().standard_normal(d_z)
        for key, v in zip(keys, z):
            st.session_state[key] = float(np.clip(round(v, 2), -3, 3))

    st.caption("Both networks map the same z ~ N(0, I) to an image: the VAE decoder was trained to reconstruct, "
               "the GAN generator to fool a discriminator. Move a slider and compare.")
    left_col, right_col = st.columns([2, 3])
    with left_col:
        st.button("Random z", on_click=random_z)
        sc = st.columns(2)
        z = np.array([sc[i % 2].slider(f"z{i}", -3.0, 3.0, step=0.05, key=key) for i, key in enumerate(keys)], np.float32)
    with right_col:
        i1, i2 = st.columns(2)
        try:
            i1.image(latent.to_display(latent.decode_codes(dec_model, z)[0], 256), caption=compare.short_name(dec_row))
            i2.image(latent.to_display(latent.decode_codes(gen_model, z)[0], 256), caption=compare.short_name(gen_row))
        except Exception as e:
            ui.show_error(e, "Could not decode")


# Only the open tab runs and reaches the browser: a first visit draws the pictures alone (about a
# third of the whole page's time in the browser, which plotly's charts and the tables took), and
# each other section is computed when its tab is opened (docs/benchmarks.md).
SECTIONS = {"Pictures": pictures, "Sharpness": sharpness, "Precision and recall": quality,
            "Nearest real sprite": nearest, "One z, two decoders": shared_z}
if not nearest_real.applies_to(data):
    del SECTIONS["Nearest real sprite"]
ui.section_tabs(SECTIONS)
