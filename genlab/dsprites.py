"""Procedural dSprites: the 737,280 binary 64×64 images, generated instead of downloaded.

dSprites (Matthey, Higgins, Hassabis & Lerchner, 2017, "dSprites: Disentanglement testing
Sprites dataset", https://github.com/deepmind/dsprites-dataset/) holds every combination of
five generative factors exactly once:

    colour (1) × shape (square, ellipse, heart: 3) × scale (0.5 … 1.0: 6)
    × orientation (linspace(0, 2π, 40)) × posX (linspace(0, 1, 32)) × posY (linspace(0, 1, 32))

in that order, posY varying fastest. This module draws the same images with the
conventions that reproduce the original frames pixel for pixel (documented in
shared/reference/numbers.md, "How the originals were drawn"):

* pixel (row r, column c) has its centre at (x, y) = (c + 0.5, r + 0.5), y pointing down;
* the sprite centre is (16 + 32·posX, 16 + 32·posY);
* a local point (u, v) of a shape (v down) lands at
  x = cx + s(u cos θ + v sin θ), y = cy + s(−u sin θ + v cos θ),
  which turns the sprite counter-clockwise on screen as θ grows;
* a pixel is on when its centre lies inside the polygon (no anti-aliasing).

Ties: a few squares (after the 1/256 px corner rounding) have an edge passing exactly
through pixel centres (128 of the 245,760 squares per axis, e.g. scale 0.6, θ = 0,
posX 8 or 23). The 320 reference frames do not settle how the originals treated them; we use
the usual half-open rules: a pixel centre lying exactly on an edge takes the state to its
left (off on a left edge, on on a right edge), and a vertex exactly on a centre row belongs
to the edge below it.

Rendering is a vectorised scanline fill: every polygon edge is intersected with the
horizontal lines through pixel centres, each intersection toggles the pixels to its right,
and a running parity along the row gives the inside. Work per image is proportional to
the number of edges plus the number of row crossings, so a numpy-only renderer reaches
tens of thousands of images per second on one core.

Public API: FACTOR_NAMES, FACTOR_SIZES, N_IMAGES, SHAPE_NAMES, classes_to_index,
index_to_classes, latents_values, render, render_index, load_original_npz, export_npz.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
import zlib
from pathlib import Path

import numpy as np

FACTOR_NAMES = ("color", "shape", "scale", "orientation", "posX", "posY")
FACTOR_SIZES = (1, 3, 6, 40, 32, 32)
N_IMAGES = 737280
SHAPE_NAMES = ("square", "ellipse", "heart")
IMAGE_SIZE = 64

# Flat index = classes · _STRIDES (row-major over FACTOR_SIZES, posY fastest).
_STRIDES = np.array([737280, 245760, 40960, 1024, 32, 1], dtype=np.int64)

# Factor values exactly as the original file's latents_values stores them.
SCALE_VALUES = np.linspace(0.5, 1.0, 6)
ORIENTATION_VALUES = np.linspace(0.0, 2.0 * np.pi, 40)
POSITION_VALUES = np.linspace(0.0, 1.0, 32)

ORIGINAL_FILENAME = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
_NPZ_KEYS = ("imgs", "latents_classes", "latents_values")

# Chunk size for render(): bounds the temporary toggle buffer (chunk × 64 × 65 bytes).
_RENDER_CHUNK = 8192


# --------------------------------------------------------------------------- shapes
def _square_outline() -> np.ndarray:
    """Square with corners at ±9.6 (side 19.2 px at scale 1), as (4, 2) local (u, v)."""
    h = 9.6
    return np.array([[-h, -h], [h, -h], [h, h], [-h, h]], dtype=np.float64)


def _ellipse_outline() -> np.ndarray:
    """72-vertex polygon of the ellipse, semi-axes 12.775 along u and 7.22 along v."""
    phi = 2.0 * np.pi * np.arange(72) / 72
    return np.stack([12.775 * np.cos(phi), 7.22 * np.sin(phi)], axis=1)


def _heart_outline() -> np.ndarray:
    """150-vertex polygon of the classic heart curve; vertex 0 is the notch (top at θ=0)."""
    t = 2.0 * np.pi * np.arange(150) / 150
    x = 16.0 * np.sin(t) ** 3
    y = 13.0 * np.cos(t) - 5.0 * np.cos(2 * t) - 2.0 * np.cos(3 * t) - np.cos(4 * t)
    # Curve y points up; local v points down, so flip it. The offset centres the sprite.
    return np.stack([0.6 * x, -0.6622 * y - 1.44], axis=1)


_OUTLINES = (_square_outline(), _ellipse_outline(), _heart_outline())


# --------------------------------------------------------------------------- factors
def _as_classes(classes, *, allow_five: bool = True) -> np.ndarray:
    """Validate class indices and return them as an (N, 6) int64 array (colour first)."""
    arr = np.asarray(classes)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] not in ((5, 6) if allow_five else (6,)):
        raise ValueError(
            f"latent classes must have shape (N, 6) or (N, 5) without the colour column, got {arr.shape}."
        )
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.equal(np.mod(arr, 1), 0)):
            raise ValueError("latent classes must be integer class indices.")
    arr = arr.astype(np.int64, copy=False)
    if arr.shape[1] == 5:
        arr = np.concatenate([np.zeros((arr.shape[0], 1), np.int64), arr], axis=1)
    sizes = np.asarray(FACTOR_SIZES)
    bad = (arr < 0) | (arr >= sizes)
    if bad.any():
        col = int(np.nonzero(bad.any(axis=0))[0][0])
        raise ValueError(
            f"{FACTOR_NAMES[col]} class out of range 0..{FACTOR_SIZES[col] - 1}: "
            f"got {arr[bad.any(axis=1)][0, col]}."
        )
    return arr


def classes_to_index(classes) -> np.ndarray:
    """Flat dataset index of each row of class indices.

    ``classes`` is (N, 6) in FACTOR_NAMES order or (N, 5) without the colour column.
    Returns an int64 array of shape (N,), index = classes · [737280, 245760, 40960, 1024, 32, 1].
    """
    return _as_classes(classes) @ _STRIDES


def index_to_classes(idx) -> np.ndarray:
    """Class indices (N, 6) int64, colour column first, for flat dataset indices."""
    idx = np.atleast_1d(np.asarray(idx))
    if idx.size and not np.issubdtype(idx.dtype, np.integer):
        raise ValueError("dSprites indices must be integers.")
    idx = idx.astype(np.int64, copy=False).reshape(-1)
    if idx.size and (idx.min() < 0 or idx.max() >= N_IMAGES):
        raise ValueError(f"dSprites indices must lie in 0..{N_IMAGES - 1}.")
    out = np.empty((idx.size, 6), dtype=np.int64)
    rest = idx
    for j in range(5, -1, -1):  # peel off posY (fastest) first
        out[:, j] = rest % FACTOR_SIZES[j]
        rest = rest // FACTOR_SIZES[j]
    return out


def latents_values(classes) -> np.ndarray:
    """Factor values (N, 6) float64 in the original file's convention.

    Columns: colour 1.0, shape 1/2/3, scale 0.5..1.0, orientation in radians
    (linspace(0, 2π, 40)), posX and posY in linspace(0, 1, 32).
    """
    c = _as_classes(classes)
    out = np.empty(c.shape, dtype=np.float64)
    out[:, 0] = 1.0
    out[:, 1] = c[:, 1] + 1.0
    out[:, 2] = SCALE_VALUES[c[:, 2]]
    out[:, 3] = ORIENTATION_VALUES[c[:, 3]]
    out[:, 4] = POSITION_VALUES[c[:, 4]]
    out[:, 5] = POSITION_VALUES[c[:, 5]]
    return out


# --------------------------------------------------------------------------- rendering
def _place(shape: int, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Screen coordinates (n, V) x and y of the polygon vertices for rows c of one shape."""
    return _place_values(shape, SCALE_VALUES[c[:, 2]], ORIENTATION_VALUES[c[:, 3]], POSITION_VALUES[c[:, 4]],
                         POSITION_VALUES[c[:, 5]])


def _place_values(shape: int, scale, orientation, pos_x, pos_y) -> tuple[np.ndarray, np.ndarray]:
    """_place for factor values (n,) each, on dSprites' grid or between its points."""
    outline = _OUTLINES[shape]
    u, v = outline[:, 0], outline[:, 1]
    s = np.asarray(scale, np.float64)[:, None]
    th = np.asarray(orientation, np.float64)[:, None]
    cos, sin = np.cos(th), np.sin(th)
    cx = 16.0 + 32.0 * np.asarray(pos_x, np.float64)[:, None]
    cy = 16.0 + 32.0 * np.asarray(pos_y, np.float64)[:, None]
    x = cx + s * (u * cos + v * sin)
    y = cy + s * (-u * sin + v * cos)
    if shape == 0:
        # The original squares have their corners on a 1/256 px grid.
        x = np.round(x * 256.0) / 256.0
        y = np.round(y * 256.0) / 256.0
    return x, y


def _toggles(x: np.ndarray, y: np.ndarray, image_ids: np.ndarray) -> np.ndarray:
    """Flat toggle positions (image, row, first column right of the crossing).

    For every edge and every pixel-centre row y = r + 0.5 it crosses (half-open in y, so a
    vertex exactly on a row is counted once), the crossing abscissa x* toggles all pixels
    whose centre lies strictly right of x*. Parity along the row then gives the inside.
    """
    n, nv = x.shape
    x0, y0 = x.reshape(-1), y.reshape(-1)
    x1, y1 = np.roll(x, -1, axis=1).reshape(-1), np.roll(y, -1, axis=1).reshape(-1)
    lo, hi = np.minimum(y0, y1), np.maximum(y0, y1)
    # Rows r with lo <= r + 0.5 < hi, clipped to the canvas.
    r_lo = np.clip(np.ceil(lo - 0.5), 0, IMAGE_SIZE).astype(np.int64)
    r_hi = np.clip(np.ceil(hi - 0.5), 0, IMAGE_SIZE).astype(np.int64)
    counts = r_hi - r_lo
    keep = counts > 0
    counts = counts[keep]
    edge = np.repeat(np.nonzero(keep)[0], counts)
    # Row of each crossing: r_lo of its edge plus its rank within the edge.
    start = np.cumsum(counts) - counts
    rank = np.arange(edge.size, dtype=np.int64) - np.repeat(start, counts)
    row = r_lo[edge] + rank
    yc = row + 0.5
    ex0, ey0 = x0[edge], y0[edge]
    xs = ex0 + (yc - ey0) * (x1[edge] - ex0) / (y1[edge] - ey0)
    # First column whose centre c + 0.5 lies strictly right of the crossing.
    col = np.clip(np.floor(xs - 0.5) + 1, 0, IMAGE_SIZE).astype(np.int64)
    img = image_ids[edge // nv]
    return (img * IMAGE_SIZE + row) * (IMAGE_SIZE + 1) + col


def _render_chunk(c: np.ndarray) -> np.ndarray:
    n = c.shape[0]
    ids = np.arange(n, dtype=np.int64)
    parts = []
    for shape in range(3):
        sel = c[:, 1] == shape
        if sel.any():
            x, y = _place(shape, c[sel])
            parts.append(_toggles(x, y, ids[sel]))
    return _fill(n, parts)


def _fill(n: int, parts: list) -> np.ndarray:
    """n images (n, 64, 64) of 0/1 from the toggle positions of their polygons' edges (`_toggles`)."""
    flat = np.concatenate(parts) if parts else np.empty(0, np.int64)
    # Column 64 collects crossings right of the canvas; it is dropped below.
    hits = np.bincount(flat, minlength=n * IMAGE_SIZE * (IMAGE_SIZE + 1))
    hits = hits.astype(np.uint8).reshape(n, IMAGE_SIZE, IMAGE_SIZE + 1)[:, :, :IMAGE_SIZE]
    return np.bitwise_and(np.cumsum(hits, axis=2, dtype=np.uint8), 1)


def render(classes) -> np.ndarray:
    """Render dSprites images for class indices.

    ``classes`` is (N, 6) (colour column first) or (N, 5). Returns (N, 64, 64) uint8 of 0/1,
    identical to the original images at the same factors.
    """
    c = _as_classes(classes)
    out = np.empty((c.shape[0], IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    for a in range(0, c.shape[0], _RENDER_CHUNK):
        out[a : a + _RENDER_CHUNK] = _render_chunk(c[a : a + _RENDER_CHUNK])
    return out


def render_values(shape, scale, orientation, pos_x, pos_y) -> np.ndarray:
    """Render sprites at factor *values*, which may lie between dSprites' grid points: shape in 0-2
    (square, ellipse, heart), scale in [0.5, 1], orientation in radians, positions in [0, 1]; each
    (N,) or a scalar. (N, 64, 64) uint8 of 0/1; at grid values, the same pixels as `render`. What a
    generator that drew every shape perfectly, but at continuous factors, would draw: the reference
    for how close to a real sprite such a sample can come (docs/metrics.md#nearest-real-sprite)."""
    shape = np.atleast_1d(np.asarray(shape, np.int64))
    n = max(len(shape), *(np.size(a) for a in (scale, orientation, pos_x, pos_y)))
    vals = [np.broadcast_to(np.asarray(a, np.float64), (n,)) for a in (scale, orientation, pos_x, pos_y)]
    shape = np.broadcast_to(shape, (n,))
    if not np.isin(shape, (0, 1, 2)).all():
        raise ValueError("a dSprites shape is 0 (square), 1 (ellipse) or 2 (heart)")
    out = np.empty((n, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    for a in range(0, n, _RENDER_CHUNK):
        b = min(n, a + _RENDER_CHUNK)
        ids, parts = np.arange(b - a, dtype=np.int64), []
        for sh in range(3):
            sel = shape[a:b] == sh
            if sel.any():
                x, y = _place_values(sh, *(v[a:b][sel] for v in vals))
                parts.append(_toggles(x, y, ids[sel]))
        out[a:b] = _fill(b - a, parts)
    return out


def render_index(idx) -> np.ndarray:
    """Render the images at flat dataset indices: render(index_to_classes(idx))."""
    return render(index_to_classes(idx))


# --------------------------------------------------------------------------- files
def load_original_npz(path) -> dict:
    """Read the original dSprites .npz (or one written by export_npz).

    Returns {"imgs": (N, 64, 64) uint8, "latents_classes": (N, 6) int64,
    "latents_values": (N, 6) float64}. The pickled ``metadata`` entry of the original file is
    never read: the file is opened with allow_pickle=False.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"dSprites file {path} does not exist.")
    try:
        npz = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"{path} is not a readable dSprites .npz file (corrupt, truncated or not an archive).") from e
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise ValueError(f"{path} holds a single array, not a dSprites .npz archive.")
    with npz:
        missing = [k for k in _NPZ_KEYS if k not in npz.files]
        if missing:
            raise ValueError(f"{path} is not a dSprites file: it lacks the keys {', '.join(missing)}.")
        try:
            # Only the three array keys are read; the pickled "metadata" entry is skipped.
            out = {k: npz[k] for k in _NPZ_KEYS}
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as e:
            raise ValueError(f"{path} is a damaged dSprites .npz file (an array could not be read).") from e
    imgs, cls, val = out["imgs"], out["latents_classes"], out["latents_values"]
    n = imgs.shape[0] if imgs.ndim else -1
    if (
        imgs.shape != (n, IMAGE_SIZE, IMAGE_SIZE)
        or cls.shape != (n, 6)
        or val.shape != (n, 6)
    ):
        raise ValueError(
            f"{path} has unexpected array shapes imgs {imgs.shape}, latents_classes {cls.shape}, "
            f"latents_values {val.shape} (expected (N, 64, 64), (N, 6), (N, 6))."
        )
    return {
        "imgs": imgs.astype(np.uint8, copy=False),
        "latents_classes": cls.astype(np.int64, copy=False),
        "latents_values": val.astype(np.float64, copy=False),
    }


def _write_npy_member(zf: zipfile.ZipFile, name: str, dtype, shape, chunks) -> None:
    """Stream one .npy member into an open zip, chunk by chunk (bounded memory)."""
    dtype = np.dtype(dtype)
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape}
    with zf.open(name + ".npy", "w", force_zip64=True) as f:
        np.lib.format.write_array_header_1_0(f, header)
        for chunk in chunks:
            f.write(np.ascontiguousarray(chunk, dtype=dtype).tobytes())


def export_npz(path, indices=None, *, chunk: int = 16384) -> Path:
    """Write images and latents in the original .npz layout (np.load-compatible, compressed).

    Keys: ``imgs`` (uint8 0/1, N×64×64), ``latents_classes`` (int64 N×6, colour first),
    ``latents_values`` (float64 N×6). ``indices=None`` exports all 737,280 images in order.
    Images are rendered and written in chunks, so memory stays bounded; the file is written
    to a temporary file next to ``path`` and moved into place atomically. Returns the path.
    """
    path = Path(path)
    if indices is None:
        indices = np.arange(N_IMAGES, dtype=np.int64)
    classes = index_to_classes(indices)
    n = classes.shape[0]
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
            spans = [(a, min(a + chunk, n)) for a in range(0, n, chunk)]
            _write_npy_member(
                zf, "imgs", np.uint8, (n, IMAGE_SIZE, IMAGE_SIZE), (render(classes[a:b]) for a, b in spans)
            )
            _write_npy_member(zf, "latents_classes", np.int64, (n, 6), [classes])
            _write_npy_member(zf, "latents_values", np.float64, (n, 6), [latents_values(classes)])
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
