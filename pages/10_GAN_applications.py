"""GAN applications (survey §3.2) on dSprites, where every image's true description is known: type a
caption and see what a text-to-image GAN (Reed et al. 2016) draws, each sample read back by a
classifier trained on dSprites' factors; interpolate between two captions. Widgets and layout only;
the work is in genlab.applications, genlab.captioning and genlab.captions."""

import streamlit as st

from genlab import applications as A
from genlab import captioning as K
from genlab import captions as C
from genlab import latent, ui

ui.setup_page(
    "GAN applications",
    "The survey's applications section describes GANs that draw images from text and write captions of "
    "images. On dSprites every "
    "sprite's true caption is known (a shape, a size, a place, a rotation), so here a typed caption's samples "
    "are **read back by a classifier** trained on dSprites' known factors, and the page counts how often they "
    "show what the caption says, and machine captions are checked against the truth.",
    "🖼️",
)
QP = st.query_params
qp, mtime = ui.url_value, ui.checkpoint_version
DEFAULT_CAPTION = "a large heart at the bottom left"
DEFAULT_B = "a small square at the top right"
N_CHOICES = [8, 16, 32]


def caption_ok(text: str) -> bool:
    try:
        C.parse(text)
        return True
    except C.CaptionError:
        return False


@st.cache_resource(show_spinner="Loading (or training, once, for a few minutes) the caption reader…")
def reader(version: int):
    return A.factor_reader()


@st.cache_data(show_spinner="Drawing…", max_entries=64)
def samples(path: str, version: int, caption: str, n: int, seed: int) -> dict:
    model, _ = ui.model_for(path)
    clf, meta = reader(0)
    row = A.caption_agreement(model, clf, [caption], n=n, seed=seed, keep_images=True)["captions"][0]
    return {"x": row.pop("x"), "row": row, "accuracy": meta["test_accuracy"]}


@st.cache_data(show_spinner="Interpolating…", max_entries=32)
def interpolation(path: str, version: int, a: str, b: str, seed: int) -> dict:
    model, _ = ui.model_for(path)
    clf, _ = reader(0)
    x = A.interpolate_captions(model, a, b, steps=7, rows=3, seed=seed)
    return {"x": x, "readings": [A.reading_text(r) for r in A.read_bins(clf, x)]}


def text_to_image(path: str, seed: int) -> None:
    st.header("Text to image (Reed et al. 2016, GAN-CLS)")
    st.markdown(
        "**Claim (Reed et al. 2016):** a generator G(z, φ(t)) trained against a *matching-aware* discriminator, "
        "which calls a real image with a mismatched caption fake, draws what the text says. **Look at:** each "
        "sample's reading under it (✓ when shape, size and place are the ones the caption names) and the shares "
        "above the grid. Words outside the caption language are refused with the list of words it has.")
    default = qp("caption", DEFAULT_CAPTION, check=caption_ok, what="a caption in the caption language")
    c1, c2 = st.columns([4, 1])
    text = c1.text_input("Caption", value=default, key="caption", max_chars=200)
    n = c2.selectbox("Samples", N_CHOICES, index=N_CHOICES.index(qp("n", 16, int, choices=N_CHOICES)), key="n")
    ui.url_write("n", n, 16)
    try:
        meaning = C.parse(text)
    except C.CaptionError as e:
        ui.show_error(e, "That caption cannot be drawn")
        return
    ui.url_write("caption", text, DEFAULT_CAPTION)
    st.caption(f"It asks for: {A.meaning_text(meaning)}.")
    try:
        got = samples(path, mtime(path), text, n, seed)
    except Exception as e:
        ui.show_error(e, "Could not draw the samples")
        return
    row = got["row"]
    m = st.columns(4)
    for col, key in zip(m, ("shape", "size", "place", "diversity")):
        v = row[key]
        label = {"place": "Right place (column and row)", "diversity": "Diversity"}.get(key, f"Right {key}")
        text_v = "not named" if v is None else (f"{v:.3f}" if key == "diversity" else f"{v:.0%}")
        col.metric(label, text_v, help="mean pixel distance between two samples of this caption, 0 to 1"
                   if key == "diversity" else f"share of the {n} samples the reader reads as the caption says")
    acc = ", ".join(f"{k} {v:.0%}" for k, v in got["accuracy"].items())
    st.caption(f"Read by the caption reader, a small conv net trained on rendered dSprites with their known factors "
               f"(held-out accuracy: {acc}).")
    marks = [f"{'✓' if ok else '✗'} {reading}" for ok, reading in zip(row["right"], row["readings"])]
    per_row = 8
    for start in range(0, len(got["x"]), per_row):
        cols = st.columns(per_row)
        for c, img, mark in zip(cols, got["x"][start:start + per_row], marks[start:start + per_row]):
            c.image(latent.to_display(img[0], px=96), caption=mark)


def interpolate(path: str, seed: int) -> None:
    st.header("Between two captions (GAN-INT)")
    st.markdown(
        "Reed et al. 2016 (§4.3) train G on points between two captions' embeddings as well (GAN-INT), so "
        "the space between captions is filled with plausible images. **Look at:** each row keeps its noise z, "
        "only φ(t) moves from the first caption to the second; the reading under each column is the middle "
        "row's.")
    a0 = qp("a", DEFAULT_CAPTION, check=caption_ok, what="a caption in the caption language")
    b0 = qp("b", DEFAULT_B, check=caption_ok, what="a caption in the caption language")
    c1, c2 = st.columns(2)
    a = c1.text_input("From", value=a0, key="a", max_chars=200)
    b = c2.text_input("To", value=b0, key="b", max_chars=200)
    bad = [t for t in (a, b) if not caption_ok(t)]
    if bad:
        try:
            C.parse(bad[0])
        except C.CaptionError as e:
            ui.show_error(e, "That caption cannot be drawn")
        return
    ui.url_write("a", a, DEFAULT_CAPTION)
    ui.url_write("b", b, DEFAULT_B)
    try:
        got = interpolation(path, mtime(path), a, b, seed)
    except Exception as e:
        ui.show_error(e, "Could not interpolate")
        return
    st.image(latent.image_grid(got["x"], ncols=7, upscale=2), caption="φ(t) = (1 − w)·φ(from) + w·φ(to), "
             "w = 0, 1/6, …, 1 from left to right; one noise z per row")
    middle = got["readings"][7:14]
    st.caption("Reader, middle row: " + " → ".join(middle))


@st.cache_resource(show_spinner="Loading the captioner…", max_entries=8)
def captioner(path: str, version: int):
    return K.load_captioner(path)


@st.cache_data(show_spinner="Captioning…", max_entries=64)
def captions_of(path: str, version: int, images, seed: int) -> list[str]:
    model, _ = captioner(path, version)
    return model.caption(images, seed=seed)


def image_to_text(rows: list, pick: int) -> None:
    st.header("Image to text (Dai et al. 2017)")
    st.markdown(
        "**Claim (Dai et al. 2017):** a captioner trained as a conditional GAN, its words rewarded by an evaluator "
        "through policy gradient, writes more varied and natural captions than the same network trained by "
        "maximum likelihood, at similar correctness. **Look at:** each captioner's caption under every sprite and "
        "its marks against the sprite's true factors (– where the caption names nothing).")
    if not rows:
        st.info("No captioner: the shipped ones are `checkpoints/dsprites-caption-mle` and "
                "`checkpoints/dsprites-caption-gan`; rebuild them with `genlab caption-train --model caption-mle "
                "--mle-steps 2000 --gan-steps 0 --batch-size 32 --half --out runs/dsprites-caption-mle`, then "
                "`genlab caption-train --model caption-gan --init runs/dsprites-caption-mle --mle-steps 0 "
                "--gan-steps 400 --batch-size 32 --half --out runs/dsprites-caption-gan` (docs/results/gan-applications.md).")
        return
    x, f = K.picked_sprites(6, pick)
    truth = [C.meaning_of_bins(b) for b in C.bins_of(f)]
    texts = {}  # model name (caption-gan, caption-mle) and path -> its captions
    for r in rows:
        try:
            texts[(r.model, r.path)] = captions_of(r.path, mtime(r.path), x, 0)
        except Exception as e:
            ui.show_error(e, f"Could not caption with {r.path}")
    cols = st.columns(len(x))
    for i, c in enumerate(cols):
        c.image(latent.to_display(x[i, 0], px=128), caption=f"truth: {truth[i]}")
        for (model, _), t in texts.items():
            c.markdown(f"**{model}**: {t[i] or '(empty)'}  \n{K.judge(t[i], f[i])}")
    up = st.file_uploader("Or caption your own 64×64 image (PNG or JPEG; white sprite on black)", type=["png", "jpg",
                                                                                                       "jpeg"],
                          key="upload")
    if up is not None:
        try:
            img = K.image_from_upload(up.getvalue())
        except ValueError as e:
            ui.show_error(e, "That image cannot be captioned")
            return
        c1, c2 = st.columns([1, 3])
        c1.image(latent.to_display(img[0, 0], px=128), caption="your image")
        for r in rows:
            c2.markdown(f"**{r.model}**: {captions_of(r.path, mtime(r.path), img, 0)[0] or '(empty)'}")


all_rows = ui.checkpoint_rows()
rows = A.text_model_rows(all_rows)
seed = int(st.number_input("Noise seed", 0, 10_000, value=qp("seed", 0, int, lo=0, hi=10_000), step=1, key="seed"))
ui.url_write("seed", seed, 0)
if not rows:
    st.info("No text-to-image checkpoint: the shipped one is `checkpoints/dsprites-text2image-gan` (rebuild it with "
            "`genlab rebuild --only dsprites-text2image-gan`, about 40 minutes on one CPU thread), or train one with "
            "`genlab train --model text2image-gan --data dsprites --steps 8000`.")
else:
    paths = [r.path for r in rows]
    path = qp("ckpt", paths[0], choices=paths, what="a listed text-to-image checkpoint")
    if len(paths) > 1:
        path = st.selectbox("Checkpoint", paths, index=paths.index(path), key="ckpt")
    ui.url_write("ckpt", path, paths[0])
    chosen = rows[paths.index(path)]
    st.caption(f"`{path}` · {chosen.model} · {chosen.steps or 0:,} steps")
    text_to_image(path, seed)
    interpolate(path, seed)
pick = int(st.number_input("Sprites to caption (a seed)", 0, 10_000, value=qp("pick", 0, int, lo=0, hi=10_000), step=1,
                           key="pick"))
ui.url_write("pick", pick, 0)
image_to_text(K.captioner_rows(all_rows), pick)
