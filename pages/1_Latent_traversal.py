"""Latent traversal: β sweeps, one slider per latent dimension, traversal grids, KL per dimension,
the factor matrix and disentanglement scores against β (those two sections tabs of their own, which
run only when open). Widgets and layout only; the work is in genlab.latent and
genlab.compare."""

import dataclasses
import math
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from genlab import compare, latent, ui

ui.setup_page(
    "Latent traversal",
    "**Claim (β-VAE, Higgins et al. 2017):** raising the weight β of the KL term pushes each latent "
    "dimension to capture one independent factor of variation, and leaves unused dimensions at the prior, "
    "at the price of blurrier reconstructions. **Look at:** how many KL bars stay above the threshold as β "
    "grows, whether each row of the traversal grid changes one thing only (position, scale, shape, "
    "rotation), and how reconstruction error and the disentanglement scores move with β.",
    "🧭",
)
QP = st.query_params


qp, mtime, dataset = ui.url_value, ui.checkpoint_version, ui.dataset


@st.cache_data(show_spinner="Encoding a fixed batch of 256 images…", max_entries=64)
def summary(path: str, version: int, data_name: str) -> dict:
    model, _ = ui.model_for(path)
    batch = latent.fixed_batch(dataset(data_name), 256, seed=0)
    return latent.latent_summary(model, batch["x"])


@st.cache_data(show_spinner=False, max_entries=256)
def start_code(path: str, version: int, data_name: str, index: int) -> tuple:
    model, _ = ui.model_for(path)
    x = dataset(data_name).get([index])["x"]
    mu, _ = latent.encode_batch(model, x)
    return x[0].numpy(), mu[0]


@st.cache_data(show_spinner="Encoding 2,000 images with random factors…", max_entries=32)
def factor_info(path: str, version: int, data_name: str, weights_sha256: str | None) -> dict:
    stored = latent.stored_factor_matrix(path, weights_sha256)  # the shipped checkpoints carry it (`genlab maps`)
    if stored is not None:
        return stored
    model, _ = ui.model_for(path)
    return latent.factor_information(model, dataset(data_name), n=latent.FACTOR_MATRIX_N, seed=latent.FACTOR_MATRIX_SEED)


@st.cache_data(show_spinner=False, max_entries=32)
def traversal(path: str, version: int, z: tuple, dims: tuple, values: tuple) -> tuple:
    """(images, the grid picture's (height, width), the picture as a PNG data URI): kept, so that a class opening the same model at the same
    sliders decodes it once (90 images of the default grid were the page's largest server cost under load,
    docs/benchmarks.md)."""
    model, _ = ui.model_for(path)
    grid = latent.traverse(model, np.asarray(z, np.float32), dims, values)
    picture = latent.image_grid(grid, pad=2)
    return grid, picture.shape[:2], latent.png_data_uri(picture)


def mark_beta(fig: go.Figure, beta: float, log_x: bool, largest: float) -> None:
    """A dotted line at the β shown above, its label right beside it. Not add_vline's own label: on a
    log axis plotly places a shape at x but an annotation at log10(x) (plotly.py#2580), which put the
    label far from its line."""
    fig.add_vline(x=beta, line_dash="dot", line_color="grey")
    fig.add_annotation(x=math.log10(beta) if log_x else beta, xref="x", y=1, yref="paper", showarrow=False,
                       text=f"β = {beta:g} (shown above)", font=dict(size=11, color="grey"), yanchor="top",
                       xanchor="right" if beta == largest else "left", xshift=-4 if beta == largest else 4)


# --------------------------------------------------------------------------- which checkpoint
groups = compare.traversal_groups(ui.checkpoint_rows())
if not groups:
    ui.offer_training(
        "No image checkpoint yet: train a β sweep with `genlab train --model beta-vae --data dsprites --beta 4`, "
        "or press the button for two small β-VAEs on dSprites (β = 1 and 4, 300 steps each, about a minute).",
        "Train two small β-VAEs", "Training β = 1 and β = 4 on dSprites…",
        [dict(model="beta-vae", data="dsprites", steps=300, batch_size=32, name=f"quick-beta{beta:g}", beta=beta,
              latent_dim=6) for beta in (1.0, 4.0)])

by_id = {g["id"]: g for g in groups}
ids = list(by_id)
# ?ckpt=PATH (the Study page's links) opens the group, β and seed holding that checkpoint; only a
# checkpoint the app lists is accepted, never an arbitrary path
ckpt = qp("ckpt", None, check=lambda p: compare.find_in_groups(groups, p), what="a checkpoint the app lists")
linked = compare.find_in_groups(groups, ckpt) if ckpt else None
if "ckpt" in QP:
    del QP["ckpt"]
if linked:
    for k in ("group", "beta"):
        st.session_state.pop(k, None)
    QP["group"], QP["train_seed"] = linked[0]["id"], str(linked[2]["seed"])
    if linked[1]["beta"] is not None:
        QP["beta"] = f"{linked[1]['beta']:g}"
want_group = qp("group", ids[0], choices=ids, what="a model family listed here")
top = st.columns([3, 2, 1])
group_id = top[0].selectbox("Model family and data", ids, index=ids.index(want_group) if want_group in ids else 0,
                            format_func=lambda i: by_id[i]["label"], key="group")
group = by_id[group_id]
QP["group"] = group_id
members = group["members"]
if len(members) > 1:
    betas = [m["beta"] for m in members]
    want = qp("beta", betas[0], float, lo=0)  # the nearest trained β
    beta = top[1].select_slider("β (weight of the KL term)", betas, value=min(betas, key=lambda b: abs(b - want)),
                                format_func=lambda b: f"{b:g}", key="beta")
    QP["beta"] = f"{beta:g}"
    member = members[betas.index(beta)]
else:
    member = members[0]
    if member["beta"] is not None:
        top[1].caption(f"Only β = {member['beta']:g} trained for this family; train more βs to get a β slider.")
seeds = member["seeds"]
if len(seeds) > 1:
    default_seed = next(s["seed"] for s in seeds if s["row"] is member["row"])
    seed_ids = [s["seed"] for s in seeds]
    # the URL's seed on arrival; after a β change the new β's median seed, as the slider promises
    here = (group_id, member["beta"])
    moved = st.session_state.get("_traversal_at", here) != here
    want_seed = default_seed if moved else qp("train_seed", default_seed, int, choices=seed_ids,
                                              what="a seed trained at this β")
    by_seed = {s["seed"]: s for s in seeds}
    train_seed = top[2].selectbox(
        "Seed", seed_ids, index=seed_ids.index(want_seed) if want_seed in seed_ids else seed_ids.index(default_seed),
        format_func=lambda sd: f"{sd}" + (f" · MIG {by_seed[sd]['mig']:.2f}" if by_seed[sd]["mig"] is not None else "")
        + (" (median)" if sd == default_seed else ""),
        key=f"train_seed|{group_id}|{member['beta']}",
        help="The runs at this β differ only in their random seed; the β slider shows the seed with the median MIG.")
    QP["train_seed"] = str(train_seed)
    st.session_state["_traversal_at"] = here
    member = dict(member, row=by_seed[train_seed]["row"])
elif "train_seed" in QP:
    qp("train_seed", None, int, lo=0)  # names a malformed one; a seed of another β just leaves
    QP.pop("train_seed", None)
row = member["row"]
steps_along = compare.timeline(row)
if steps_along:
    # the run's snapshots: scrub through training (for the capacity-annealed VAE, C rising to C_max)
    def _step_label(i):
        t = steps_along[i]
        return f"step {t['step']:,}" + (f" · C = {t['capacity']:.1f} nats" if t["capacity"] is not None else "")

    want_step = qp("step", steps_along[-1]["step"], int, lo=0)  # the nearest snapshot
    at = [t["step"] for t in steps_along]
    pick = st.select_slider("Training step" + (" / capacity C" if steps_along[0]["capacity"] is not None else ""),
                            list(range(len(at))), value=min(range(len(at)), key=lambda i: abs(at[i] - want_step)),
                            format_func=_step_label, key=f"step|{row.path}",
                            help="Snapshots kept along this run's training. Burgess et al. (2018) raise the KL "
                                 "capacity C step by step: the latents switch on one at a time, each for the factor "
                                 "that buys the most reconstruction per nat (position first, then scale, then shape).")
    QP["step"] = str(at[pick])
    if at[pick] != steps_along[-1]["step"] or steps_along[-1]["path"] != row.path:
        row = dataclasses.replace(row, path=steps_along[pick]["path"], steps=at[pick])
elif "step" in QP:
    qp("step", None, int, lo=0)
    QP.pop("step", None)
path, version = row.path, mtime(row.path)
try:
    model, meta = ui.model_for(path)
except Exception as e:
    ui.show_error(e, f"Could not load {path}")
    st.stop()
st.caption(compare.label_of(row) + f" · `{path}`")

data = None
try:
    data = dataset(row.data)
except Exception as e:
    ui.show_error(e, f"Dataset {row.data} is not available")
    st.caption("Without the data the page can only start from the prior and shows no KL per dimension.")

stats = None
if model.has_encoder and data is not None:
    try:
        stats = summary(path, version, row.data)
    except Exception as e:
        ui.show_error(e, "Could not encode the data")

d_z = model.z_dim
order = list(stats["order"]) if stats else list(range(d_z))


def traversal_tab() -> None:
    """Sliders from a starting code, the traversal grid and the KL of each dimension."""
    # --------------------------------------------------------------------------- starting code and sliders
    st.subheader("Move one latent dimension at a time")
    can_encode = stats is not None
    sources = ["a real image", "the prior"] if can_encode else ["the prior"]
    src_default = ("the prior" if qp("start", "image", choices=["image", "prior"]) == "prior" or not can_encode
                   else "a real image")
    ctrl = st.container()
    with ctrl:
        source = st.radio("Start from", sources, index=sources.index(src_default), horizontal=True, key="start")
        QP["start"] = "image" if source == "a real image" else "prior"
        if source == "a real image":
            n_data = len(data)

            def random_index():
                st.session_state["index"] = int(np.random.default_rng().integers(n_data))

            c1, c2 = st.columns([3, 2])
            if "index" not in st.session_state:
                st.session_state["index"] = qp("index", 0, int, lo=0, hi=n_data - 1)
            index = c1.number_input("Image index", 0, n_data - 1, step=1, key="index")
            c2.button("Random image", on_click=random_index)
            QP["index"] = str(index)
            try:
                x0, z0 = start_code(path, version, row.data, int(index))
            except Exception as e:
                ui.show_error(e, "Could not encode that image")
                st.stop()
            token = f"{path}|i{index}"
        else:
            seed = st.number_input("Prior seed", 0, 10_000, value=qp("seed", 0, int, lo=0, hi=10_000), step=1, key="seed")
            QP["seed"] = str(seed)
            x0, z0 = None, latent.prior_overlay(model, 1, seed=int(seed))[0]
            token = f"{path}|s{seed}"
    kl = stats["kl_per_dim"] if stats else None


    @st.fragment
    def slider_panel():
        """Sliders and the decoded image: a slider change reruns only this fragment (one decode),
        not the grid and charts below, so the picture follows the hand."""
        z = np.array(z0, dtype=np.float32)
        ctrl2, view2 = st.columns([2, 3])  # a fragment draws only into containers it creates
        with ctrl2:
            scols = st.columns(2)
            for j, d in enumerate(order):
                lab = f"z{d}" + (f" · KL {kl[d]:.2f} nats" if kl is not None else "")
                z[d] = scols[j % 2].slider(lab, -4.0, 4.0, float(np.clip(z0[d], -4, 4)), 0.05, key=f"z{d}|{token}")
            st.button("Redraw the grid around these values", key="redraw",
                      help="The traversal grid below is drawn around the slider values of the last full update.")
        with view2:
            cols = st.columns(2)
            if x0 is not None:
                cols[0].image(latent.to_display(x0, 224), caption=f"image {index}")
            try:
                cols[1].image(latent.to_display(latent.decode_codes(model, z)[0], 224), caption="decoded from the sliders")
            except Exception as e:
                ui.show_error(e, "Could not decode")
        return z


    z = slider_panel()
    if row.data == "dsprites":
        st.caption(
            "**Why a small square can come back as a round blob.** The smallest dSprites shapes are about 9 × 9 "
            "pixels of the 64 × 64 image, so a small square, ellipse and heart differ in a few dozen pixels only. "
            "Telling them apart buys the decoder little reconstruction, while a latent that holds shape costs KL "
            "(weighted by β), so these models learn shape last, or not at all; without it the decoder draws what "
            "suits every shape at that place and size: a rounded blob. Large sprites (up to 19 × 19) keep their "
            "corners better, and the Factor matrix tab shows how little of *shape* any latent holds.")

    # --------------------------------------------------------------------------- traversal grid
    st.subheader("Traversal grid")
    st.caption("Each row sweeps one dimension from −span to +span while the others keep the slider values; "
               "rows are sorted by KL, largest first. A disentangled model changes one factor per row.")
    g1, g2, g3 = st.columns(3)
    span = g1.slider("Span (standard deviations)", 1.0, 4.0, 3.0, 0.5, key="span")
    n_values = g2.slider("Values per row", 5, 13, 9, 2, key="n_values")
    all_dims = [f"z{d}" for d in order]
    want_dims = ui.url_list("dims", all_dims[:10], all_dims, what="a dimension of this model")
    # The chips in the grid's order (KL, largest first): after a β change re-sorts the grid, the chips
    # follow, keeping the same dimensions picked.
    kept = st.session_state.get("dims", want_dims)
    st.session_state["dims"] = [d for d in all_dims if d in kept]
    chosen = g3.multiselect("Dimensions", all_dims, key="dims")
    QP["dims"] = ",".join(chosen)
    dims = [d for d in order if f"z{d}" in chosen]  # rows by KL, largest first
    values = np.linspace(-span, span, n_values)
    if dims:
        try:
            grid, (ph, pw), uri = traversal(path, version, tuple(np.asarray(z, np.float32).tolist()), tuple(dims),
                                            tuple(values.tolist()))
            h, w = grid.shape[-2:]
            cell = latent.auto_upscale(h, w)
            step_y, step_x = h * cell + 2, w * cell + 2
            ticks = [f"z{d} · {kl[d]:.2f} nats" + ("" if stats["active"][d] else " (ignored)") if kl is not None else f"z{d}"
                     for d in dims]
            # the picture as a PNG (tens of KB), not as a z array of every pixel (MBs the browser must parse)
            fig = go.Figure(go.Image(source=uri, hoverinfo="skip"))
            fig.update_layout(title="Traversal grid", height=max(260, ph + 80), margin=dict(l=10, r=10, t=40, b=30),
                              yaxis=dict(tickmode="array", tickvals=[2 + step_y * i + step_y / 2 for i in range(len(dims))],
                                         ticktext=ticks, showgrid=False, range=[ph - 0.5, -0.5], scaleanchor="x"),
                              xaxis=dict(tickmode="array", tickvals=[2 + step_x * i + step_x / 2 for i in range(len(values))],
                                         ticktext=[f"{v:+.1f}" for v in values], showgrid=False, side="bottom",
                                         range=[-0.5, pw - 0.5], constrain="domain"))
            st.plotly_chart(fig, key="grid")
            dl1, dl2 = st.columns(2)
            stem = Path(path).parent.name or "model"
            # callables: the PNG and GIF are only encoded when a download is asked for
            dl1.download_button("Download grid (PNG)", lambda g=grid: latent.grid_png_bytes(g), f"traversal-{stem}.png",
                                "image/png")
            dl2.download_button("Download animation (GIF: one frame per value, all dimensions side by side)",
                                lambda g=grid: latent.grid_gif_bytes(g.swapaxes(0, 1), duration_ms=150),
                                f"traversal-{stem}.gif", "image/gif")
        except Exception as e:
            ui.show_error(e, "Could not draw the traversal")

    # --------------------------------------------------------------------------- KL per dimension
    st.subheader("KL per dimension")
    if stats is None:
        st.caption("This model has no encoder (or no data), so it has no q(z|x) and no KL per dimension; "
                   "its rows above are in index order.")
    else:
        thr = stats["threshold"]
        st.caption(f"Mean KL(q(z_i|x) ‖ N(0, 1)) over 256 fixed images. A dimension counts as **active** above "
                   f"{thr:g} nats: an ignored dimension copies the prior and sits near 0, one that encodes a factor "
                   f"carries about a nat or more. {int(stats['active'].sum())} of {d_z} dimensions are active.")
        fig = go.Figure(go.Bar(x=[f"z{d}" for d in range(d_z)], y=stats["kl_per_dim"],
                               marker_color=["#d62728" if a else "#bbbbbb" for a in stats["active"]],
                               hovertemplate="%{x}: %{y:.3f} nats<extra></extra>"))
        fig.add_hline(y=thr, line_dash="dot", annotation_text=f"active above {thr:g} nats")
        fig.update_layout(title=f"KL per dimension (β = {member['beta']:g})" if member["beta"] is not None else "KL per dimension",
                          yaxis_title="KL (nats)", height=320, margin=dict(l=10, r=10, t=40, b=10))
        st.plotly_chart(fig, key="kl")


def factor_tab() -> None:
    """How much of each dSprites factor each latent holds, and MIG."""
    try:
        info = factor_info(path, version, row.data, row.meta.get("weights_sha256"))
    except Exception as e:
        ui.show_error(e, "Could not measure the factor matrix")
        info = None
    if info is not None:
        share, names = info["share"], info["factor_names"]
        d_rows = [d for d in order if d < len(share)]  # KL order as the sliders; InfoGAN's Q codes in index order
        marks = np.full(share.shape, "", dtype=object)
        for k in range(share.shape[1]):
            marks[info["best"][k], k], marks[info["second"][k], k] = "① ", "② "
        text = [[f"{marks[d, k]}{share[d, k]:.2f}" for k in range(len(names))] for d in d_rows]
        fig = go.Figure(go.Heatmap(z=share[d_rows], x=[f"{n}<br>MIG {m:.2f}" for n, m in zip(names, info["mig_per_factor"])],
                                   y=[info["labels"][d] for d in d_rows], zmin=0, zmax=1, colorscale="Blues", text=text,
                                   texttemplate="%{text}", colorbar=dict(title="I(z; v) / H(v)"),
                                   hovertemplate="%{y} holds %{z:.3f} of H(%{x})<extra></extra>"))
        fig.update_layout(title=f"Share of each factor's entropy held by each latent · MIG {info['mig']:.3f}",
                          yaxis_autorange="reversed", height=80 + 32 * len(d_rows), margin=dict(l=10, r=10, t=40, b=10))
        st.plotly_chart(fig, key="factor_matrix")
        st.caption(f"{info['n']:,} images with random factors, each latent binned into 20 equal-width bins over its "
                   "own range, mutual information in nats over the factor's entropy. MIG (Chen et al. 2018) is, per "
                   "factor, the best latent's share ① minus the runner-up's ②: a factor held by one latent alone "
                   "scores near its share, one split over two latents near 0. Because every latent is binned over its "
                   "own range, a dimension the KL bars call unused can still hold a few per cent of a factor, and "
                   "that lowers MIG. The stored scores use 10,000 images (`genlab eval`); this matrix uses fewer "
                   "to draw quickly, so its MIG differs from them in the second decimal.")


def beta_tab() -> None:
    """Reconstruction, active dimensions and disentanglement scores against β, over the sweep's seeds."""
    rec, actives = [], []
    for m in members:
        try:
            s = summary(m["row"].path, mtime(m["row"].path), row.data)
            rec.append(s["rec_bce"])
            actives.append(int(s["active"].sum()))
        except Exception:
            rec.append(None)
            actives.append(None)
    betas = [m["beta"] for m in members]
    log_beta = all(b > 0 for b in betas)
    # the swept β values themselves as ticks (a log axis's minor ticks crowd out the few that matter)
    beta_axis = dict(type="log", tickvals=betas, ticktext=[f"{b:g}" for b in betas]) if log_beta else dict(type="linear")
    steps_note = compare.steps_differ(members)  # None when every β trained as long
    c1, c2 = st.columns(2)
    fig = go.Figure(go.Scatter(x=betas, y=rec, name="reconstruction",
                               **(dict(mode="lines+markers+text", text=compare.steps_labels(members),
                                       textposition="top center", textfont=dict(size=10))
                                  if steps_note else dict(mode="lines+markers"))))
    mark_beta(fig, member["beta"], log_beta, max(betas))
    fig.update_layout(title=ui.chart_title("Reconstruction error vs β"), xaxis_title="β",
                      yaxis_title="nats per image (Bernoulli NLL)", xaxis=beta_axis, height=340,
                      margin=dict(l=10, r=10, t=60, b=10))
    c1.plotly_chart(fig, key="rec_vs_beta")
    if steps_note:
        c1.caption(steps_note)
    fig = go.Figure(go.Bar(x=[f"{b:g}" for b in betas], y=actives,
                           **(dict(text=compare.steps_labels(members), textposition="outside") if steps_note else {})))
    fig.update_layout(title=ui.chart_title(f"Active dimensions (KL > {latent.ACTIVE_KL_NATS:g} nats) vs β"),
                      xaxis_title="β", xaxis_type="category",  # one bar per β, evenly spaced like the doubling sweep
                      height=340, margin=dict(l=10, r=10, t=60, b=10))
    c2.plotly_chart(fig, key="active_vs_beta")

    table = compare.sweep_scores(members)
    names = [k for k in compare.SCORE_LABELS if any(k in t for t in table)]
    many_seeds = any(len(m["seeds"]) > 1 for m in members)
    if row.data == "dsprites" and names:
        if many_seeds:
            spread = compare.seed_spread(members, list(getattr(data, "factor_names", [])))
            parts = [f"β = {s['beta']:g}: {s['separated']} of {s['known']}" for s in spread if s["known"]]
            if parts:
                st.markdown("**Seeds that put x and y each in a latent of its own** (both positions' MIG ≥ "
                            f"{compare.SEPARATED_MIG:g}): " + "; ".join(parts) + ".")
            note = compare.sweep_length_note(spread, table)
            if note:
                st.caption(note)
        shown = st.multiselect("Scores", names, default=[k for k in ("mig", "factor_vae") if k in names] or names[:2],
                               format_func=lambda k: compare.SCORE_LABELS[k], key="scores")
        fig = go.Figure()
        palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
        for i, k in enumerate(shown):
            colour = palette[i % len(palette)]
            if k in compare.PUBLISHED_RANGES and all(b > 0 for b in betas):
                lo, hi = compare.PUBLISHED_RANGES[k]
                fig.add_hrect(y0=lo, y1=hi, fillcolor=colour, opacity=0.08, line_width=0)
                fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", line=dict(color=colour, width=8), opacity=0.25,
                                         name=f"{compare.SCORE_LABELS[k]}: published range"))
            pts = [t for t in table if k in t]
            fig.add_trace(go.Scatter(x=[t["beta"] for t in pts], y=[t[k] for t in pts], mode="markers",
                                     marker=dict(color=colour, size=8, opacity=0.6), name=f"{compare.SCORE_LABELS[k]}: each seed",
                                     customdata=[[t["seed"], t["steps"] or 0] for t in pts],
                                     hovertemplate="β %{x:g}, seed %{customdata[0]}, %{customdata[1]:,} steps: %{y:.3f}<extra></extra>"))
            med = compare.score_medians(table, k)
            fig.add_trace(go.Scatter(x=[b for b, _ in med], y=[v for _, v in med], mode="lines",
                                     line=dict(color=colour), name=f"{compare.SCORE_LABELS[k]}: median over seeds"))
        mark_beta(fig, member["beta"], log_beta, max(betas))
        fig.update_layout(title=ui.chart_title("Disentanglement scores vs β: every seed, and the median"),
                          xaxis_title="β", yaxis_title="score", xaxis=beta_axis, height=420,
                          legend=dict(orientation="h", yanchor="top", y=-0.2), margin=dict(l=10, r=10, t=60, b=10))
        st.plotly_chart(fig, key="scores_vs_beta")
        st.caption("Dots are single runs (one per seed), the lines their medians; the dotted line is the β shown "
                   "above. The bands are the range Locatello et al. (2019) report for β-VAE on dSprites over many seeds "
                   "and β, after 300,000 steps. Stored scores come from `genlab eval` (10,000 images).")
        st.dataframe([{"β": t["beta"], "seed": t["seed"], "steps": t["steps"],
                       **{compare.SCORE_LABELS[k]: t.get(k) for k in names}, "checkpoint": t["path"]}
                      for t in table], hide_index=True)
    elif row.data == "dsprites":
        st.info("No disentanglement scores are stored for these checkpoints yet: measure them with "
                f"`genlab eval {path}` for each β, then reload.")


# Each section is a tab that runs only when open (as on Blur vs sharpness): a first visit and a β change
# draw the traversal and its KL bars, not the factor matrix and the sweep's charts too.
SECTIONS = {"Traversal": traversal_tab}
if data is not None and getattr(data, "factor_sizes", None) and latent.gives_codes(model):
    SECTIONS["Factor matrix"] = factor_tab
if group["sweep"] and len(members) > 1 and data is not None:
    SECTIONS["Across β"] = beta_tab
ui.section_tabs(SECTIONS)
