"""Unified view (survey §3.1, §3.2, §4.1): the VAE / GAN / wake-sleep correspondence (Hu et al. 2018), GANs
as actor-critic methods (Pfau & Vinyals 2016), the two transfers the view predicts (iwgan, aavae), and a
CycleGAN's sprites translated and cycled back. Widgets and layout only; the tables are in genlab.unified,
the translations and their measures in genlab.translation."""

from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from genlab import compare, translation, ui, unified

ui.setup_page(
    "Unified view",
    "Three of the survey's links between model families, each next to something to run. **VAE, GAN and "
    "wake-sleep** (Hu et al. 2018): a GAN infers the real/fake label as a VAE infers z, and the two minimise "
    "KLs in opposite directions. **GANs as actor-critic** (Pfau & Vinyals 2016): the generator is an actor "
    "that cannot change its environment. **Image translation** (Zhu et al. 2017): a CycleGAN turns squares "
    "into ellipses and back.",
    "🔗",
)
QP = st.query_params
SIZES = [4, 8, 12]
NONE = "none"
TITLES = {"a2b": ("squares", "G(a): ellipses?", "F(G(a)): back"), "b2a": ("ellipses", "F(b): squares?", "G(F(b)): back")}
N_MEASURE = 100  # fresh sprites per direction for the measures


@st.cache_data(show_spinner="Translating sprites…", max_entries=32)
def translated(path: str, version: int, n: int, seed: int) -> dict:
    model, _ = ui.model_for(path)
    out = {}
    for direction, source in (("a2b", 0), ("b2a", 1)):
        x = translation.sprites_of_shape(source, n, seed + source)
        y = translation.translate_images(model, x, direction)
        back = translation.translate_images(model, y, "b2a" if direction == "a2b" else "a2b")
        out[direction] = {"x": x, "y": y, "back": back, "shift": translation.centroid_shift(x, y),
                          "read": translation.read_shape(y)}
    return out


@st.cache_data(show_spinner="Measuring the translations on fresh sprites…", max_entries=16)
def measured(path: str, version: int) -> tuple[dict, bool]:
    """The translator's measures and whether `genlab eval` stored them (else measured now)."""
    stored = translation.stored_measures(path)
    if stored is not None:
        return stored, True
    model, _ = ui.model_for(path)
    return translation.measure(model, n=N_MEASURE, seed=1), False


def short(path: str) -> str:
    """A translator's short name: its folder's."""
    return Path(path).parent.name or path


def show_table(columns, rows) -> None:
    st.dataframe(pd.DataFrame([r[1:] for r in rows], index=[r[0] for r in rows], columns=columns[1:]),
                 width="stretch")


# =========================================================================== VAE · GAN · wake-sleep
st.header("VAE, GAN and wake-sleep (Hu et al. 2018)")
st.markdown(
    "**Claim:** read x as generated given a label y (real or fake) and the discriminator as inference of y. "
    "Then a GAN's generator minimises a KL from its distribution to the discriminator's (the sleep phase of "
    "wake-sleep, Hinton et al. 1995), and a VAE minimises the KL from its inference network to the posterior "
    "(the wake phase). **Look at:** the row *its direction*: the two KLs point opposite ways, which is the "
    "survey's account of why VAE samples blur (covering every mode) and GANs drop modes (seeking a few).")
show_table(unified.UNIFIED_COLUMNS, unified.UNIFIED_ROWS)
st.graphviz_chart(unified.UNIFIED_DOT)
st.caption("Dashed: inference; solid: generation. Each model fits one direction of the KL; wake-sleep alternates both.")

st.subheader("The two transfers the view predicts")
st.markdown(
    "**Claim:** if a GAN is a VAE with the KL reversed, ideas can cross. **IWGAN** brings importance weighting from the "
    "VAE side (Burda et al. 2016) into the GAN generator; **AAVAE** brings the discriminator into the VAE, "
    "so it learns from the samples D finds real. **Look at:** each transfer beside its baseline on the same "
    "data: modes and reverse KL on the ring and the grid, FD, precision and recall on images.")
st.dataframe(pd.DataFrame(unified.transfer_papers()), hide_index=True, width="stretch")
measured_rows = unified.transfer_rows(ui.checkpoint_rows())
if measured_rows:
    table = pd.DataFrame(measured_rows).dropna(axis=1, how="all")
    st.dataframe(table, hide_index=True, width="stretch")
    st.caption("Measures as `genlab eval` stored them; an empty cell is a measure not taken for that checkpoint.")
else:
    st.info("No iwgan or aavae checkpoint yet. Train one beside its baseline and measure both, for example "
            "`genlab train --model iwgan --data grid --steps 2000 --out runs/grid-iwgan` and "
            "`genlab train --model gan --data grid --steps 2000 --out runs/grid-gan`, then "
            "`genlab eval runs/grid-iwgan/model runs/grid-gan/model`.")

# =========================================================================== GAN · actor-critic
st.header("GANs as actor-critic (Pfau & Vinyals 2016)")
st.markdown(
    "**Claim:** a GAN is an actor-critic method in an environment that ignores the actor: one step, no "
    "state, a reward from a critic that is learning too. Both are games rather than minimisations, so both "
    "fields invented the same stabilisers. **Look at:** the last table, which names the switch for each "
    "stabiliser on the Mode collapse page, where its effect on the grid can be measured.")
show_table(unified.ACTOR_CRITIC_COLUMNS, unified.ACTOR_CRITIC_ROWS)
st.dataframe(pd.DataFrame(unified.STABILISERS).rename(columns={
    "stabiliser": "stabiliser", "gan": "in GANs", "rl": "in actor-critic", "genlab": "switch in genlab"}),
    hide_index=True, width="stretch")

# =========================================================================== CycleGAN
st.header("Squares ↔ ellipses (CycleGAN, Zhu et al. 2017)")
st.markdown(
    "**Claim:** with unpaired images of two domains, two generators G: A → B and F: B → A, each against a "
    "discriminator, learn a translation that changes what differs between the domains and keeps the rest, "
    "if the cycle loss makes F(G(a)) return a. **Look at:** whether each translated sprite is the other "
    "shape in the same place at the same size, and whether its round trip comes back. The survey's "
    "caveat: the results are not uniformly positive.")
rows = compare.translator_rows(ui.checkpoint_rows())
paths = [r.path for r in rows]
by_path = {r.path: r for r in rows}
labels = {r.path: compare.label_of(r) for r in rows}
want = ui.url_value("ckpt", paths[0] if paths else None, choices=paths, what="a listed translator checkpoint")
want_vs = ui.url_value("vs", None, choices=[NONE, *paths], what=f"'{NONE}' or a listed translator checkpoint")
n = ui.url_value("n", 8, int, choices=SIZES)
seed = ui.url_value("seed", 0, int, lo=0, hi=10_000)


def cycle_weight(path: str) -> float:
    return float(by_path[path].config.get("cycle_weight", 10))


def draw(path: str, version: int) -> None:
    """One translator's sprites: each direction's inputs, translations (captioned with the shape read and
    the shift) and round trips."""
    res = translated(path, version, n, seed)
    for direction, r in res.items():
        st.markdown(f"**{TITLES[direction][0].capitalize()} → {TITLES[direction][1].split(':')[1].strip(' ?')} → back**")
        for key, title in zip(("x", "y", "back"), TITLES[direction]):
            caps = None
            if key == "y":
                caps = [f"{translation.SHAPE_READINGS[int(s)]}, moved {d:.1f} px" if np.isfinite(d)
                        else translation.SHAPE_READINGS[int(s)] for s, d in zip(r["read"], r["shift"])]
            st.image([np.clip(im[0], 0, 1) for im in r[key]], width=72, caption=caps or [title] * len(r[key]))


if not rows:
    st.info("No cyclegan checkpoint yet: `genlab train --model cyclegan --data dsprites-squares-ellipses --steps "
            "2000 --out runs/cyclegan` trains one (add `--cycle-weight 0` for the ablation without the cycle loss).")
else:
    cols = st.columns([3, 3, 1, 1])
    path = cols[0].selectbox("Translator", paths, index=paths.index(want), format_func=labels.get, key="ckpt")
    # beside it by default: a translator trained with another cycle weight (the ablation), if there is one
    ablation = next((p for p in paths if p != path and cycle_weight(p) != cycle_weight(path)), NONE)
    others = [NONE, *[p for p in paths if p != path]]
    vs = want_vs if want_vs in others else ablation
    vs = cols[1].selectbox("Side by side with", others, index=others.index(vs),
                           format_func=lambda p: p if p == NONE else labels[p], key="vs")
    n = cols[2].select_slider("Sprites", SIZES, value=n, key="n")
    seed = int(cols[3].number_input("Seed", 0, 10_000, value=seed, key="seed"))
    ui.url_write("ckpt", path, paths[0])
    ui.url_write("vs", vs, ablation)
    ui.url_write("n", n, 8)
    ui.url_write("seed", seed, 0)
    shown = [p for p in (path, vs) if p != NONE]
    wrong = [p for p in shown if tuple(by_path[p].config.get("shape", ())) != (1, 64, 64)]
    if wrong:
        st.warning(f"{labels[wrong[0]]} translates {'×'.join(map(str, by_path[wrong[0]].config.get('shape', [])))} "
                   "images; the sprites here are 64×64 dSprites: train it on dsprites-squares-ellipses.")
    else:
        versions = {p: ui.checkpoint_version(p) for p in shown}
        if len(shown) == 1:
            draw(path, versions[path])
        else:
            st.caption("The same sprites through both translators; the measures below, one block of rows each.")
            for col, p in zip(st.columns(2), shown):
                with col:
                    st.markdown(f"##### {labels[p]}  \nλ = {cycle_weight(p):g}")
                    draw(p, versions[p])
        frames, sources = [], []
        for p in shown:
            figures, stored = measured(p, versions[p])
            sources.append(f"{short(p)}: {'stored by genlab eval' if stored else 'measured now'}")
            frame = pd.DataFrame(figures).T
            if len(shown) > 1:
                frame.index = [f"{short(p)} · {d}" for d in frame.index]
            frames.append(frame)
        table = pd.concat(frames).rename(columns={
            "n": "sprites", "read_as_target": "read as the other shape", "position_kept": f"centroid within "
            f"{translation.KEEP_PX:g} px", "median_shift_px": "median shift (px)", "median_area_ratio":
            "median area ratio", "blank": "blank", "cycle_error": "cycle error (mean |x − x̂|)",
            "cycle_iou": "round trip: lit-pixel IoU", "cycle_shape_kept": "round trip: shape kept"})
        st.dataframe(table, width="stretch")
        trained = "; ".join(f"{short(p)}: {by_path[p].steps or '?'} steps, cycle weight λ = {cycle_weight(p):g}, "
                            f"identity weight {by_path[p].config.get('identity_weight', 0):g}" for p in shown)
        st.caption(f"Fresh sprites each way ({'; '.join(sources)}). Trained: {trained}. "
                   "The shape is read from the lit pixels: an ellipse is elongated (its second moments differ by "
                   "direction), a square is not and leaves its corners outside the disc it fills, a round blob "
                   "fills it; position and size from the lit-pixel centroid and area.")
