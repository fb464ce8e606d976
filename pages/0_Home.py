"""genlab home page: what genlab is, the device, the datasets and checkpoints, links to the pages.

Shown by app.py (the router: `streamlit run app.py`), which lists every page in genlab.ui.PAGES.
"""

import streamlit as st

from genlab import ui

ui.setup_page(
    "genlab: a lab for deep generative models",
    "Watch how **variational autoencoders** and **generative adversarial networks** behave, and measure it. "
    "Every page turns a claim from the survey of deep generative models into something you can see: "
    "disentangled latents under a β slider, VAE blur against GAN sharpness, mode collapse on toy data, "
    "and the map of a model's code space.",
)

left, right = st.columns(2)
with left:
    st.subheader("Variational autoencoders")
    st.markdown(
        "An encoder maps an image to a distribution over a latent code z, a decoder maps z back. Training "
        "maximises the evidence lower bound: reconstruct well, while keeping q(z|x) close to the prior. "
        "Raising the weight β of that KL term (β-VAE) pushes the code towards independent, interpretable "
        "factors at the price of blurrier reconstructions. genlab has VAE, β-VAE, the capacity-annealed "
        "β-VAE and InfoVAE."
    )
with right:
    st.subheader("Generative adversarial networks")
    st.markdown(
        "A generator turns noise into samples and a discriminator learns to tell them from real data; the "
        "two play a minimax game. GAN samples are sharp, but training is unstable and the generator can "
        "collapse onto a few modes. genlab has GAN, WGAN, WGAN-GP, InfoGAN, EBGAN, the stabilisation tricks, "
        "and the hybrids that join both families: the adversarial autoencoder and VAE-GAN."
    )

st.subheader("Pages")
for page in ui.PAGES:
    st.page_link(page.file, label=f"**{page.title}**: {page.blurb}")

dev_col, data_col = st.columns([1, 2])
with dev_col:
    st.subheader("Device")
    info = ui.device_summary()
    st.metric("Computing on", info["device"].upper(), help="cuda, then mps, then cpu")
    st.caption(f"torch {info['torch']} · {info.get('gpu', info['cpu'])} · {info['cpu_threads']} CPU threads · genlab {info['genlab']}")
with data_col:
    st.subheader("Datasets")
    rows = ui.dataset_status()
    # st.table, not st.dataframe: every row and every word shown, wrapped, with no scrolling box inside the page
    st.table([{"dataset": r["name"], "shape": r["shape"], "available": "yes" if r["available"] else "no",
               "description": r["description"]} for r in rows], hide_index=True)
    for r in rows:
        if not r["available"]:
            st.caption(f"**{r['name']}**: {r['note']}")

st.subheader("Checkpoints")
ckpts = ui.checkpoint_rows()
good = [r for r in ckpts if r.ok]
if good:
    st.table([{"name": r.name, "model": r.model, "data": r.data, "z": r.latent_dim,
               "steps": f"{r.steps:,}" if r.steps is not None else "–", "device": r.device or "–",
               "path": f"`{r.path}`"} for r in good], hide_index=True)
else:
    st.info("No checkpoints found in checkpoints/ or runs/. Train one on the Train page, or run "
            "`genlab train --model vae --data digits --steps 2000`.")
for r in ckpts:
    if not r.ok:
        st.warning(r.error)
