"""Latent-space tools: encode, decode, traverse, interpolate, image grids, GIFs and 2-D maps of codes.

Plain functions over a `GenerativeModel` (genlab.models): no Streamlit here, so pages, the CLI
and tests share them. Every function works on the model's own device (CPU, CUDA or MPS) under
`torch.no_grad()` and returns NumPy arrays on the CPU; images are float in [0, 1], (C, H, W).

    mu, logvar = encode_batch(model, x)                   # (N, D) each
    grid = traverse(model, mu[0], dims=[0, 1], values=np.linspace(-3, 3, 9))   # (2, 9, C, H, W)
    png = grid_png_bytes(grid)                            # rows = dims, columns = values
    xy = embed_codes(mu, "umap", cache_dir=".cache/genlab/embeddings", key="runs/vae/model")
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import tempfile
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

# A latent dimension counts as "active" when its mean KL(q(z_i|x) ‖ N(0, 1)) over the data
# exceeds this many nats. An ignored dimension copies the prior and sits at ~0.001 nats or
# less; a dimension that encodes a factor of variation carries a nat or more. 0.1 nats lies
# far from both, so the split does not hinge on noise in the estimate.
ACTIVE_KL_NATS = 0.1

EMBEDDING_METHODS = ("pca", "umap", "tsne")


# --------------------------------------------------------------------------- tensors in, arrays out


def _as_tensor(x, device: torch.device) -> torch.Tensor:
    t = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    return t.to(device=device, dtype=torch.float32)


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().float().cpu().numpy()


def cache_root() -> Path:
    """genlab's on-disk cache: $GENLAB_CACHE, else `.cache/genlab` in the working folder (git ignores `.cache/`)."""
    return Path(os.environ.get("GENLAB_CACHE", ".cache/genlab"))


@torch.no_grad()
def encode_batch(model, x, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Encode `x` (N, C, H, W), tensor or array, in batches on the model's device.

    Returns (mu, logvar) as float32 NumPy arrays of shape (N, D). Raises ValueError for a
    model without an encoder (GANs)."""
    if not model.has_encoder:
        raise ValueError(f"model '{model.cfg.model}' has no encoder; pick a VAE, an AAE or a VAE-GAN")
    dev = model.device
    mus, logvars = [], []
    for s in range(0, len(x), batch_size):
        mu, logvar = model.encode(_as_tensor(x[s:s + batch_size], dev))
        mus.append(_numpy(mu))
        logvars.append(_numpy(logvar))
    if not mus:
        d = model.z_dim
        return np.zeros((0, d), np.float32), np.zeros((0, d), np.float32)
    return np.concatenate(mus), np.concatenate(logvars)


@torch.no_grad()
def decode_codes(model, z, batch_size: int = 256) -> np.ndarray:
    """Decode codes z (N, D) or (D,) into images (N, C, H, W) in [0, 1] (points (N, 2) for 2-D models)."""
    dev = model.device
    z = _as_tensor(z, dev)
    if z.ndim == 1:
        z = z[None]
    outs = [_numpy(model.decode(z[s:s + batch_size])) for s in range(0, len(z), batch_size)]
    return np.concatenate(outs) if outs else np.zeros((0, *model.cfg.shape), np.float32)


@torch.no_grad()
def reconstruct_batch(model, x, batch_size: int = 256) -> np.ndarray:
    """Decode the posterior mean of each image: x (N, C, H, W) -> reconstructions (N, C, H, W)."""
    mu, _ = encode_batch(model, x, batch_size)
    return decode_codes(model, mu, batch_size)


def traverse(model, z0, dims: Sequence[int], values: Sequence[float]) -> np.ndarray:
    """Latent traversal: start from z0 (D,) and set one dimension at a time to each of `values`.

    Row i sweeps dimension dims[i]; every other coordinate keeps its value in z0. Returns
    images (len(dims), len(values), C, H, W), rows in the order of `dims`."""
    z0 = np.asarray(z0.detach().cpu() if isinstance(z0, torch.Tensor) else z0, dtype=np.float32).reshape(-1)
    dims, values = [int(d) for d in dims], np.asarray(values, dtype=np.float32).reshape(-1)
    bad = [d for d in dims if not 0 <= d < len(z0)]
    if bad:
        raise ValueError(f"dimensions {bad} are outside z, which has {len(z0)} dimensions")
    z = np.repeat(z0[None, None], len(dims), 0).repeat(len(values), 1)  # (len(dims), len(values), D)
    for i, d in enumerate(dims):
        z[i, :, d] = values
    imgs = decode_codes(model, z.reshape(-1, len(z0)))
    return imgs.reshape(len(dims), len(values), *imgs.shape[1:])


def interpolate(model, z_a, z_b, n: int = 9) -> np.ndarray:
    """Decode `n` evenly spaced points on the straight line from z_a to z_b (both ends included).

    Returns images (n, C, H, W); the first is decode(z_a), the last decode(z_b)."""
    a = np.asarray(z_a, dtype=np.float32).reshape(-1)
    b = np.asarray(z_b, dtype=np.float32).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"z_a has {a.size} dimensions but z_b has {b.size}")
    t = np.linspace(0.0, 1.0, max(int(n), 2), dtype=np.float32)[:, None]
    return decode_codes(model, (1 - t) * a + t * b)


def prior_overlay(model, n: int, seed: int = 0) -> np.ndarray:
    """n samples of the model's prior p(z) (N, D), reproducible by `seed`: the points the decoder
    will be asked to decode when sampling, to overlay on a map of encoded data."""
    g = torch.Generator(device=model.device).manual_seed(int(seed))
    with torch.no_grad():
        return _numpy(model.prior(int(n), g))


def holes_in_prior(table: dict, prior_z, seed: int = 2) -> dict:
    """Of the prior samples `prior_z`, the share lying in holes of the aggregate posterior q(z), set
    against one draw of q(z|x) per row of a `code_table` (not its means). {"share", "threshold"}."""
    from genlab.metrics.latent_stats import aggregate_posterior_sample, prior_holes

    h = prior_holes(aggregate_posterior_sample(table["mu"], table["logvar"], seed), prior_samples=prior_z)
    return {"share": h["share"], "threshold": h["threshold"]}


# --------------------------------------------------------------------------- summaries of q(z|x)


def kl_per_point(mu, logvar) -> np.ndarray:
    """Total KL(q(z|x) ‖ N(0, I)) of each point in nats: ½ Σ_i (μ_i² + σ_i² − 1 − log σ_i²), shape (N,)."""
    mu, logvar = np.asarray(mu, np.float64), np.asarray(logvar, np.float64)
    return (0.5 * (mu ** 2 + np.exp(logvar) - 1.0 - logvar)).sum(-1)


def fixed_batch(data, n: int = 256, seed: int = 0) -> dict:
    """The same `n` examples of `data` on every call (for charts that compare checkpoints)."""
    g = torch.Generator().manual_seed(int(seed))
    if hasattr(data, "get"):  # a finite set: n distinct examples, in index order
        idx = torch.sort(torch.randperm(len(data), generator=g)[:n]).values
        out = data.get(idx)
        out["idx"] = idx
        return out
    return data.sample(n, g)  # an endless sampler (2-D mixtures)


@torch.no_grad()
def latent_summary(model, x, threshold: float = ACTIVE_KL_NATS, batch_size: int = 256) -> dict:
    """What the encoder does with a batch `x`: codes, KL per dimension, active dimensions, reconstruction error.

    Returns mu, logvar (N, D); kl_per_dim (D,) in nats (mean over x); order: dims by KL, largest
    first; active (D,) bool = KL > `threshold`; rec_bce: mean over images of the Bernoulli
    negative log-likelihood summed over pixels (nats per image, the ELBO's reconstruction term
    for binary data); rec_mse: mean squared error per pixel."""
    from genlab.metrics.latent_stats import kl_per_dim

    mu, logvar = encode_batch(model, x, batch_size)
    kl = np.asarray(kl_per_dim(mu, logvar), dtype=np.float64)
    x_np = np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x, dtype=np.float64)
    x_hat = decode_codes(model, mu, batch_size).astype(np.float64)
    p = np.clip(x_hat, 1e-6, 1 - 1e-6)
    bce = -(x_np * np.log(p) + (1 - x_np) * np.log(1 - p)).reshape(len(x_np), -1).sum(1)
    return {
        "mu": mu, "logvar": logvar, "kl_per_dim": kl, "order": np.argsort(-kl, kind="stable"),
        "active": kl > threshold, "threshold": threshold, "kl_total": float(kl.sum()),
        "rec_bce": float(bce.mean()), "rec_mse": float(((x_hat - x_np) ** 2).mean()),
    }


def gives_codes(model) -> bool:
    """Whether the model maps an image to a code: an encoder, or InfoGAN's Q head (the codes the
    disentanglement metrics score, `evaluate.represent_fn`)."""
    from genlab.evaluate import represent_fn

    return represent_fn(model, model.device) is not None


def factor_information(model, data, n: int = 2000, seed: int = 0) -> dict:
    """Which latent holds which ground-truth factor: the matrix behind MIG (Chen et al. 2018).

    Encodes `n` images with random factors (the representation the disentanglement metrics score:
    the encoder mean, or InfoGAN's Q codes), bins each code into 20 equal-width bins over its own
    range, and returns share (D, K): I(z_i; v_k) / H(v_k), the part of each factor's entropy a
    latent holds; best, second (K,): the two latents with the largest share of each factor;
    mig_per_factor (K,) = share[best] − share[second]; mig (their mean); factor_names; n; labels (D,):
    "z3" for an encoder's latents, "cat 0" / "c1" for InfoGAN's categorical logits and continuous codes.
    The metrics' default is 10,000 codes; fewer give a quicker and slightly noisier matrix."""
    from genlab.evaluate import represent_fn
    from genlab.metrics import disentanglement as dis

    if not getattr(data, "factor_sizes", None):
        raise ValueError(f"{getattr(data, 'name', 'this data set')} has no ground-truth factors; "
                         "the factor matrix needs a set such as dsprites")
    represent = represent_fn(model, model.device)
    if represent is None:
        raise ValueError("this model has no encoder (or InfoGAN code head), so it gives no code for an image")
    codes, factors = dis.sample_codes(data, represent, n, np.random.default_rng(seed))
    res = dis.mig(codes, factors)
    share = np.asarray(res["mutual_info"]) / np.asarray(res["factor_entropy"])[None, :]
    order = np.argsort(-share, axis=0, kind="stable")
    if model.has_encoder:
        labels = [f"z{d}" for d in range(len(share))]
    else:  # InfoGAN's Q head: the categorical code's logits, then the continuous codes' means
        n_cat = model.cfg.n_categorical
        labels = [f"cat {j}" for j in range(n_cat)] + [f"c{j}" for j in range(len(share) - n_cat)]
    return {"share": share, "labels": labels, "best": order[0], "second": order[1] if len(share) > 1 else order[0],
            "mig_per_factor": np.asarray(res["per_factor"]), "mig": res["score"],
            "factor_names": list(data.factor_names), "n": n}


def code_table(model, data, n: int = 1000, seed: int = 0, batch_size: int = 256, keep_images: bool = False) -> dict:
    """Encode `n` fixed examples of `data` (`fixed_batch`) for a map of the code space.

    Returns idx (N,) dataset indices (when the set is finite), mu, logvar (N, D), kl (N,) total
    KL per point in nats, colours: {name: (N,) values}, holding "label" for labelled sets and one
    entry per ground-truth factor for dSprites, and with `keep_images` x (N, C, H, W)."""
    batch = fixed_batch(data, n, seed)
    x = batch["x"]
    mu, logvar = encode_batch(model, x, batch_size)
    colours: dict[str, np.ndarray] = {}
    if "y" in batch:
        y = np.asarray(batch["y"].cpu())
        names = getattr(data, "label_names", None)
        colours["label"] = np.array([names[i] for i in y]) if names else y
    if "factors" in batch:
        f = np.asarray(batch["factors"].cpu())
        for j, name in enumerate(getattr(data, "factor_names", [f"factor {j}" for j in range(f.shape[1])])):
            colours[name] = f[:, j]
    out = {"idx": np.asarray(batch["idx"]) if "idx" in batch else np.arange(len(x)), "mu": mu, "logvar": logvar,
           "kl": kl_per_point(mu, logvar), "colours": colours}
    if keep_images:
        out["x"] = _numpy(x.float())
    return out


# --------------------------------------------------------------------------- pictures


def _to_uint8_rgb(images: np.ndarray) -> np.ndarray:
    """(..., C, H, W) float in [0, 1] -> (..., H, W, 3) uint8; one channel is repeated, more than 3 cut."""
    x = np.asarray(images.detach().cpu() if isinstance(images, torch.Tensor) else images, dtype=np.float32)
    c = x.shape[-3]
    if c == 1:
        x = np.repeat(x, 3, axis=-3)
    elif c != 3:
        x = x[..., :3, :, :] if c > 3 else np.concatenate([x, np.zeros_like(x[..., :1, :, :])], axis=-3)
    x = np.moveaxis(x, -3, -1)
    return np.round(np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)


def auto_upscale(height: int, width: int, min_px: int = 64) -> int:
    """Smallest integer factor that makes an image at least `min_px` on its longer side (1 if it already is)."""
    return max(1, math.ceil(min_px / max(1, max(height, width))))


def upscale_nearest(image: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement of an (H, W[, 3]) array by an integer factor: each pixel becomes a factor×factor block."""
    factor = int(factor)
    if factor <= 1:
        return image
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def image_grid(images, pad: int = 2, upscale: int | None = None, ncols: int | None = None,
               pad_value: float = 1.0, min_px: int = 64) -> np.ndarray:
    """Tile images into one uint8 RGB picture (H, W, 3).

    `images`: (R, C, ch, H, W), laid out as R rows by C columns, or (N, ch, H, W), laid out as
    `ncols` columns (default: one row up to 16 images, else a near-square grid); values in
    [0, 1]. Each image is enlarged by `upscale` with nearest-neighbour pixels (default: enough
    to reach `min_px` pixels, so 8×8 digits stay crisp), then separated by `pad` pixels of
    grey level `pad_value`."""
    x = np.asarray(images.detach().cpu() if isinstance(images, torch.Tensor) else images)
    if x.ndim == 3:  # a single image (ch, H, W)
        x = x[None]
    if x.ndim == 4:
        n = len(x)
        if ncols is None:
            ncols = n if n <= 16 else math.ceil(math.sqrt(n))
        ncols = max(1, min(int(ncols), max(n, 1)))
        nrows = max(1, math.ceil(n / ncols))
        blank = np.full((nrows * ncols - n, *x.shape[1:]), pad_value, dtype=np.float32)
        x = np.concatenate([x.astype(np.float32), blank]).reshape(nrows, ncols, *x.shape[1:])
    if x.ndim != 5:
        raise ValueError(f"images must be (rows, cols, ch, H, W) or (N, ch, H, W); got shape {x.shape}")
    rows, cols, _, h, w = x.shape
    k = auto_upscale(h, w, min_px) if upscale is None else max(1, int(upscale))
    tiles = _to_uint8_rgb(x)  # (rows, cols, h, w, 3)
    if k > 1:
        tiles = np.repeat(np.repeat(tiles, k, axis=2), k, axis=3)
    th, tw = h * k, w * k
    fill = int(round(np.clip(pad_value, 0, 1) * 255))
    out = np.full((rows * th + (rows + 1) * pad, cols * tw + (cols + 1) * pad, 3), fill, np.uint8)
    for r in range(rows):
        for c in range(cols):
            top, left = pad + r * (th + pad), pad + c * (tw + pad)
            out[top:top + th, left:left + tw] = tiles[r, c]
    return out


def to_display(image, px: int = 192) -> np.ndarray:
    """One image (ch, H, W) in [0, 1] -> uint8 RGB enlarged (nearest neighbour) to about `px` pixels wide."""
    return image_grid(np.asarray(image)[None], pad=0, upscale=auto_upscale(*np.asarray(image).shape[-2:], px))


def zoom_crop(image, top: int, left: int, size: int, px: int = 192) -> np.ndarray:
    """Cut a size×size square at (top, left) from one image (ch, H, W) and enlarge it to about `px` pixels, nearest neighbour."""
    img = np.asarray(image)
    h, w = img.shape[-2:]
    size = max(1, min(int(size), h, w))
    top, left = min(max(0, int(top)), h - size), min(max(0, int(left)), w - size)
    return to_display(img[:, top:top + size, left:left + size], px)


def _png(arr: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def png_data_uri(picture: np.ndarray) -> str:
    """A uint8 picture (H, W, 3) as a PNG data URI, for plotly's go.Image(source=...): a few tens of KB
    where go.Image(z=...) sends every pixel as JSON numbers (2 MB for a 10 × 9 grid of 64 × 64
    sprites, which the browser then takes seconds to parse and draw)."""
    import base64

    return "data:image/png;base64," + base64.b64encode(_png(np.ascontiguousarray(picture))).decode("ascii")


def grid_png_bytes(images, pad: int = 2, upscale: int | None = None, ncols: int | None = None) -> bytes:
    """`image_grid(...)` encoded as PNG bytes (for a download button)."""
    return _png(image_grid(images, pad=pad, upscale=upscale, ncols=ncols))


def grid_gif_bytes(frames, duration_ms: int = 150, pad: int = 2, upscale: int | None = None, loop: int = 0) -> bytes:
    """An animated GIF, one frame per entry of `frames`.

    `frames`: a sequence of image sets accepted by `image_grid`, or an array (F, N, ch, H, W)
    whose frame f shows N images side by side. For a traversal (dims, values, ch, H, W) pass
    `traversal.swapaxes(0, 1)`: one frame per value, all dimensions side by side.
    Consecutive identical frames are merged by the GIF encoder."""
    from PIL import Image

    pictures = [image_grid(f, pad=pad, upscale=upscale, ncols=len(f) if np.ndim(f) == 4 else None) for f in frames]
    if not pictures:
        raise ValueError("a GIF needs at least one frame")
    ims = [Image.fromarray(p).convert("P", palette=Image.Palette.ADAPTIVE, colors=256) for p in pictures]
    buf = io.BytesIO()
    ims[0].save(buf, format="GIF", save_all=True, append_images=ims[1:], duration=int(duration_ms), loop=loop,
                disposal=1)
    return buf.getvalue()


# --------------------------------------------------------------------------- 2-D maps of codes


def _fit_embedding(codes: np.ndarray, extra: np.ndarray | None, method: str, seed: int, params: dict) -> np.ndarray:
    """Fit the 2-D map on `codes` and place `extra` in it; rows of extra follow the codes."""
    n = len(codes)
    if method == "pca":
        from sklearn.decomposition import PCA

        k = min(2, codes.shape[1], n)
        pca = PCA(n_components=k, random_state=seed).fit(codes)
        out = pca.transform(codes if extra is None else np.concatenate([codes, extra]))
    elif method == "umap":
        with warnings.catch_warnings():  # "n_jobs value 1 overridden ... by setting random_state": wanted
            warnings.simplefilter("ignore")
            import umap

            reducer = umap.UMAP(n_components=2, random_state=seed, n_neighbors=min(int(params.get("n_neighbors", 15)), n - 1),
                                min_dist=float(params.get("min_dist", 0.1)))
            out = reducer.fit_transform(codes)
            if extra is not None and len(extra):
                out = np.concatenate([out, reducer.transform(extra)])
    elif method == "tsne":
        from sklearn.manifold import TSNE

        # t-SNE has no out-of-sample transform: codes and extra points are mapped together.
        allpts = codes if extra is None else np.concatenate([codes, extra])
        perplexity = float(min(params.get("perplexity", 30.0), max(2.0, (len(allpts) - 1) / 3)))
        out = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(allpts)
    else:
        raise ValueError(f"unknown embedding '{method}'; choose one of: {', '.join(EMBEDDING_METHODS)}")
    out = np.asarray(out, dtype=np.float32)
    if out.shape[1] < 2:  # a 1-D code: the map is a line
        out = np.concatenate([out, np.zeros((len(out), 2 - out.shape[1]), np.float32)], axis=1)
    return out


def _digest(*arrays, **settings) -> str:
    h = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    for a in arrays:
        if a is None:
            h.update(b"none")
            continue
        a = np.ascontiguousarray(a)
        h.update(str((a.shape, a.dtype.str)).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:20]


def embedding_cache_path(cache_dir, key: str | None, method: str, digest: str) -> Path:
    """Where an embedding is stored: CACHE_DIR/<readable key>-<method>-<digest of codes and settings>.npy."""
    slug = re.sub(r"[^A-Za-z0-9]+", "_", key or "codes").strip("_")[-80:] or "codes"
    return Path(cache_dir) / f"{slug}-{method}-{digest}.npy"


def _atomic_save_npy(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.save(f, arr, allow_pickle=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def embed_codes(codes, method: str = "pca", seed: int = 0, cache_dir=None, key: str | None = None,
                extra=None, **params) -> np.ndarray:
    """A 2-D map of codes (N, D) by PCA, UMAP or t-SNE; returns (N + M, 2) float32.

    `extra` (M, D), e.g. prior samples, is placed in the same map and its rows follow the
    codes: PCA and UMAP fit on the codes alone and transform the extra points with the fitted
    map; t-SNE, which has no such transform, maps both together. `params`: n_neighbors and
    min_dist (UMAP), perplexity (t-SNE).

    With `cache_dir`, the result is stored as .npy (written atomically, read with
    allow_pickle=False) under a name built from `key` (e.g. the checkpoint path) and a hash of
    the codes, extra points, method, seed and params, so a second call with the same inputs
    returns at once, and a retrained checkpoint never reads a stale map."""
    method = method.lower()
    if method not in EMBEDDING_METHODS:
        raise ValueError(f"unknown embedding '{method}'; choose one of: {', '.join(EMBEDDING_METHODS)}")
    codes = np.asarray(codes, dtype=np.float32)
    if codes.ndim != 2 or len(codes) < 3:
        raise ValueError(f"need at least 3 codes of shape (N, D) to draw a map; got {codes.shape}")
    extra = None if extra is None else np.asarray(extra, dtype=np.float32).reshape(-1, codes.shape[1])
    path = None
    if cache_dir is not None:
        digest = _digest(codes, extra, method=method, seed=int(seed), params=params)
        path = embedding_cache_path(cache_dir, key, method, digest)
        if path.exists():
            try:
                cached = np.load(path, allow_pickle=False)
                if cached.shape == (len(codes) + (0 if extra is None else len(extra)), 2):
                    return cached
            except (OSError, ValueError):
                pass  # a damaged cache file is recomputed and overwritten
    out = _fit_embedding(codes, extra, method, int(seed), params)
    if path is not None:
        try:
            _atomic_save_npy(path, out)
        except OSError:
            pass  # a read-only cache only costs time
    return out


def is_embedding_cached(codes, method: str, seed: int = 0, cache_dir=None, key: str | None = None,
                        extra=None, **params) -> bool:
    """Would `embed_codes` with these arguments return from the disk cache?"""
    if cache_dir is None:
        return False
    codes = np.asarray(codes, dtype=np.float32)
    extra = None if extra is None else np.asarray(extra, dtype=np.float32).reshape(-1, codes.shape[1])
    digest = _digest(codes, extra, method=method.lower(), seed=int(seed), params=params)
    return embedding_cache_path(cache_dir, key, method.lower(), digest).exists()


# --------------------------------------------------------------------------- maps shipped beside a checkpoint
# UMAP's first fit in a server process compiles for seconds (numba) and every fit of 1,000 codes
# takes seconds more, so the Code space page's UMAP of a shipped checkpoint is computed ahead
# (`genlab maps CHECKPOINT`) and stored next to it as STEM.maps.npz: for each number of points the
# page offers, the map of the codes followed by the prior samples placed in it, float16 (about 70 KB
# a checkpoint). The same file holds the Latent traversal page's latent × factor matrix (2,000
# images encoded: a second and more of a first visit to each β). A page uses what is stored only when
# it belongs to these weights and these points; anything else it computes as before.

MAP_SIZES = (500, 1000, 2000, 5000)  # the page's choices of points
MAP_CODES_SEED, MAP_PRIOR_SEED = 0, 1  # the page's code_table(seed=0) and prior_overlay(seed=1)
_MAP_CHECK_ROWS = 4  # the first codes and prior samples, kept to recognise the same points later


def maps_path(stem) -> Path:
    """STEM.maps.npz beside STEM.safetensors."""
    stem = Path(stem)
    return stem.with_name(stem.name + ".maps.npz")


def write_maps(model, data, stem, weights_sha256: str, sizes: Sequence[int] = MAP_SIZES, method: str = "umap") -> Path:
    """Compute and store the `method` map of the codes of `data` (as the Code space page draws them:
    `code_table` and `prior_overlay` with the page's seeds) for each of `sizes`. Returns the file."""
    arrays: dict[str, np.ndarray] = {}
    for n in sizes:
        table = code_table(model, data, int(n), seed=MAP_CODES_SEED)
        m = len(table["mu"])
        if f"{method}_{m}" in arrays:  # a set smaller than n: the same points as a smaller size
            continue
        prior = prior_overlay(model, m, seed=MAP_PRIOR_SEED)
        xy = _fit_embedding(table["mu"], prior, method, 0, {})
        arrays[f"{method}_{m}"] = xy.astype(np.float16)
        arrays[f"check_{m}"] = np.concatenate([table["mu"][:_MAP_CHECK_ROWS], prior[:_MAP_CHECK_ROWS]]).astype(np.float32)
    try:
        from importlib.metadata import version

        tool = f"umap-learn {version('umap-learn')}" if method == "umap" else f"scikit-learn {version('scikit-learn')}"
    except Exception:  # noqa: BLE001 - the version is a note only
        tool = method
    meta = {"weights_sha256": weights_sha256, "method": method, "codes_seed": MAP_CODES_SEED,
            "prior_seed": MAP_PRIOR_SEED, "params": {}, "made_with": tool}
    return _save_maps(stem, weights_sha256, arrays, meta=meta)


def _save_maps(stem, weights_sha256: str, arrays: dict, **metas) -> Path:
    """Write `arrays` and the JSON `metas` into STEM.maps.npz (atomically), keeping what the file holds for
    the same weights; what it held for other weights is dropped."""
    path = maps_path(stem)
    old_arrays, old_metas = {}, {}
    try:
        with np.load(path, allow_pickle=False) as f:
            old_metas = {k: json.loads(str(f[k])) for k in f.files if k.endswith("meta")}
            if all(m.get("weights_sha256") == weights_sha256 for m in old_metas.values()):
                old_arrays = {k: f[k] for k in f.files if not k.endswith("meta")}
            else:
                old_metas = {}
    except (OSError, ValueError, KeyError, json.JSONDecodeError):
        pass  # no file yet, or a damaged one: written afresh
    merged = {**old_arrays, **arrays, **{k: np.array(json.dumps(v)) for k, v in {**old_metas, **metas}.items()}}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(f, **merged)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


FACTOR_MATRIX_N, FACTOR_MATRIX_SEED = 2000, 0  # the Latent traversal page's factor_information(n, seed)


def write_factor_matrix(model, data, stem, weights_sha256: str, n: int = FACTOR_MATRIX_N,
                        seed: int = FACTOR_MATRIX_SEED) -> Path:
    """Compute `factor_information` as the Latent traversal page draws it and store it in STEM.maps.npz."""
    info = factor_information(model, data, n=n, seed=seed)
    arrays = {"factors_share": info["share"].astype(np.float32), "factors_best": np.asarray(info["best"]),
              "factors_second": np.asarray(info["second"]),
              "factors_mig_per_factor": np.asarray(info["mig_per_factor"], dtype=np.float32)}
    meta = {"weights_sha256": weights_sha256, "n": int(n), "seed": int(seed), "mig": float(info["mig"]),
            "factor_names": info["factor_names"], "labels": info["labels"]}
    return _save_maps(stem, weights_sha256, arrays, factors_meta=meta)


def stored_factor_matrix(stem, weights_sha256: str | None, n: int = FACTOR_MATRIX_N,
                         seed: int = FACTOR_MATRIX_SEED) -> dict | None:
    """The `factor_information` result `write_factor_matrix` stored for these weights, n and seed, else None."""
    path = maps_path(stem)
    if not weights_sha256 or not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            if "factors_meta" not in f.files:
                return None
            meta = json.loads(str(f["factors_meta"]))
            if (meta.get("weights_sha256"), meta.get("n"), meta.get("seed")) != (weights_sha256, int(n), int(seed)):
                return None
            return {"share": f["factors_share"].astype(np.float64), "best": f["factors_best"],
                    "second": f["factors_second"], "mig_per_factor": f["factors_mig_per_factor"].astype(np.float64),
                    "mig": meta["mig"], "factor_names": meta["factor_names"], "labels": meta["labels"], "n": meta["n"]}
    except (OSError, ValueError, KeyError, json.JSONDecodeError):
        return None


def stored_map(stem, weights_sha256: str | None, method: str, codes, extra=None) -> np.ndarray | None:
    """The map `write_maps` stored for these codes (and these prior samples `extra`, placed after them),
    as float32 (N + M, 2); None when there is none, or it was made for other weights, another method,
    another number of points, or points that differ from these (another seed, data or device)."""
    path = maps_path(stem)
    if not weights_sha256 or not path.exists():
        return None
    codes = np.asarray(codes, dtype=np.float32)
    m = len(codes)
    try:
        with np.load(path, allow_pickle=False) as f:
            meta = json.loads(str(f["meta"]))
            key = f"{method}_{m}"
            if meta.get("weights_sha256") != weights_sha256 or meta.get("method") != method or key not in f.files:
                return None
            xy, check = f[key].astype(np.float32), f[f"check_{m}"]
    except (OSError, ValueError, KeyError, json.JSONDecodeError):
        return None  # a damaged file: the page computes the map instead
    k = _MAP_CHECK_ROWS
    if xy.shape != (2 * m, 2) or not np.allclose(check[:k], codes[:k], atol=1e-3):
        return None
    if extra is None:
        return xy[:m]
    extra = np.asarray(extra, dtype=np.float32)
    if len(extra) != m or not np.allclose(check[k:], extra[:k], atol=1e-4):
        return None
    return xy
