"""Tests for genlab.dsprites: the procedural generator must reproduce the original dSprites.

Reference material (320 original gif frames with their factors, and a plot of the mean of
5,000 original images) lives outside the repo in ../shared/reference/dsprites.
"""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path

import numpy as np
import pytest

from genlab import dsprites as ds

REF_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "dsprites"


def _need_ref(name: str) -> Path:
    path = REF_DIR / name
    if not path.is_file():
        pytest.skip(f"reference dSprites frames not found at {REF_DIR}; they live in ../shared/reference/dsprites")
    return path


@pytest.fixture(scope="module")
def gif_frames():
    """(320, 64, 64) bool original frames and their (320, 5) class indices."""
    Image = pytest.importorskip("PIL.Image")
    from PIL import ImageSequence

    gif = Image.open(_need_ref("dsprites.gif"))
    frames = np.stack([np.asarray(f.convert("L")) for f in ImageSequence.Iterator(gif)])
    # The gif is greyscale with exactly two levels: 0 background, 255 sprite.
    assert set(np.unique(frames).tolist()) == {0, 255}
    with open(_need_ref("gif_factors.csv"), newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["frame"]) for r in rows] == list(range(len(frames)))
    classes = np.array([[int(r[k]) for k in ("shape", "scale", "orientation", "posX", "posY")] for r in rows])
    return frames == 255, classes


# ----------------------------------------------------------------------------- 1. gif frames
def test_gif_frames_reproduced(gif_frames):
    frames, classes = gif_frames
    assert frames.shape == (320, 64, 64)
    gen = ds.render(classes)
    assert gen.dtype == np.uint8 and set(np.unique(gen).tolist()) <= {0, 1}
    gen = gen.astype(bool)
    iou = (gen & frames).sum((1, 2)) / (gen | frames).sum((1, 2))
    identical = int((gen == frames).all(axis=(1, 2)).sum())
    print(f"dSprites gif: {identical}/320 frames pixel-identical, mean IoU {iou.mean():.5f}, min IoU {iou.min():.5f}")
    assert iou.mean() >= 0.99
    assert iou.min() >= 0.93
    # The documented drawing conventions reproduce every frame exactly.
    assert identical == 320, f"only {identical}/320 frames identical; worst frames {np.argsort(iou)[:5]}"


def test_gif_covers_all_shapes_and_heart_rotation(gif_frames):
    # Frames 18-57 are the heart's 40 orientations: the comparison above checks rotation direction.
    _, classes = gif_frames
    assert set(classes[:, 0]) == {0, 1, 2}
    assert np.array_equal(classes[18:58, 2], np.arange(40)) and (classes[18:58, 0] == 2).all()


# ----------------------------------------------------------------------------- 2. density
# matplotlib's Greys_r colour map (ColorBrewer "Greys" reversed): grey level at values k/8.
_GREYS_R_LEVELS = np.array([0x00, 0x25, 0x52, 0x73, 0x96, 0xBD, 0xD9, 0xF0, 0xFF]) / 255.0


def test_mean_image_matches_density_plot():
    Image = pytest.importorskip("PIL.Image")
    png = np.asarray(Image.open(_need_ref("density_of_5000_random_samples.png")).convert("L"), dtype=np.float64)
    area = png[7:406, 7:407]  # image area: file rows 7-405, columns 7-406
    rows = (np.arange(64) + 0.5) * area.shape[0] / 64
    cols = (np.arange(64) + 0.5) * area.shape[1] / 64
    grey = area[rows.astype(int)][:, cols.astype(int)] / 255.0
    # Invert the colour map (grey level -> plotted value), then normalise to [0, 1].
    ref = np.interp(grey, _GREYS_R_LEVELS, np.linspace(0.0, 1.0, 9))
    ref = (ref - ref.min()) / (ref.max() - ref.min())

    rng = np.random.default_rng(0)
    mean = ds.render_index(rng.integers(0, ds.N_IMAGES, 5000)).mean(axis=0)
    mean = (mean - mean.min()) / (mean.max() - mean.min())
    corr = float(np.corrcoef(mean.ravel(), ref.ravel())[0, 1])
    print(f"dSprites density correlation: {corr:.4f}")
    assert corr >= 0.99


# ----------------------------------------------------------------------------- 3. index order
def test_constants():
    assert ds.FACTOR_NAMES == ("color", "shape", "scale", "orientation", "posX", "posY")
    assert ds.FACTOR_SIZES == (1, 3, 6, 40, 32, 32)
    assert ds.N_IMAGES == int(np.prod(ds.FACTOR_SIZES)) == 737280
    assert ds.SHAPE_NAMES == ("square", "ellipse", "heart")


def test_index_round_trip():
    rng = np.random.default_rng(1)
    idx = np.concatenate([[0, 1, 31, 32, ds.N_IMAGES - 1], rng.integers(0, ds.N_IMAGES, 2000)])
    classes = ds.index_to_classes(idx)
    assert classes.shape == (idx.size, 6) and classes.dtype == np.int64
    assert (classes[:, 0] == 0).all()
    assert (classes < np.array(ds.FACTOR_SIZES)).all() and (classes >= 0).all()
    assert np.array_equal(ds.classes_to_index(classes), idx)
    assert np.array_equal(ds.classes_to_index(classes[:, 1:]), idx)  # (N, 5) without colour
    assert np.array_equal(ds.index_to_classes(ds.N_IMAGES - 1)[0], [0, 2, 5, 39, 31, 31])
    assert np.array_equal(ds.index_to_classes(1)[0], [0, 0, 0, 0, 0, 1])  # posY fastest
    assert np.array_equal(ds.index_to_classes(32)[0], [0, 0, 0, 0, 1, 0])
    assert ds.classes_to_index([[0, 1, 0, 0, 0, 0]])[0] == 245760
    with pytest.raises(ValueError):
        ds.classes_to_index([[0, 3, 0, 0, 0, 0]])
    with pytest.raises(ValueError):
        ds.index_to_classes([ds.N_IMAGES])


def test_latents_values():
    classes = ds.index_to_classes([0, ds.N_IMAGES - 1, 245760 + 40960 * 2 + 1024 * 20 + 32 * 16 + 5])
    vals = ds.latents_values(classes)
    assert vals.dtype == np.float64 and vals.shape == (3, 6)
    np.testing.assert_allclose(vals[0], [1, 1, 0.5, 0, 0, 0])
    np.testing.assert_allclose(vals[1], [1, 3, 1.0, 2 * np.pi, 1, 1])
    np.testing.assert_allclose(vals[2], [1, 2, 0.7, 20 * 2 * np.pi / 39, 16 / 31, 5 / 31])


def _centre_of_mass(img):
    r, c = np.nonzero(img)
    return r.mean(), c.mean()


def test_first_images_and_position_order():
    imgs = ds.render_index([0, 1, 32])
    # Index 0: square, scale 0.5, orientation 0, at the top-left position (centre 16, 16).
    r, c = np.nonzero(imgs[0])
    assert (r.min(), r.max(), c.min(), c.max()) == (11, 20, 11, 20)  # 10×10 px axis-aligned square
    assert imgs[0].sum() == 100
    r0, c0 = _centre_of_mass(imgs[0])
    r1, c1 = _centre_of_mass(imgs[1])
    r32, c32 = _centre_of_mass(imgs[2])
    assert r1 > r0 + 0.5 and abs(c1 - c0) < 1e-9  # idx 1: posY + 1 moves the sprite down
    assert c32 > c0 + 0.5 and abs(r32 - r0) < 1e-9  # idx 32: posX + 1 moves it right


def test_no_pixel_touches_the_border():
    rng = np.random.default_rng(2)
    sample = ds.index_to_classes(rng.integers(0, ds.N_IMAGES, 4000))
    # Plus the worst cases: largest scale, every shape and orientation, at the four corners.
    grid = np.stack(np.meshgrid([0], [0, 1, 2], [5], np.arange(40), [0, 31], [0, 31], indexing="ij"), -1)
    imgs = ds.render(np.concatenate([sample, grid.reshape(-1, 6)]))
    assert imgs.sum(axis=(1, 2)).min() > 0
    border = imgs[:, 0, :].any(1) | imgs[:, -1, :].any(1) | imgs[:, :, 0].any(1) | imgs[:, :, -1].any(1)
    assert not border.any()


# ----------------------------------------------------------------------------- 4. orientation
def _screen_axis_angle(img):
    """Angle of the principal axis in screen coordinates (x right, y up), in [0, π)."""
    r, c = np.nonzero(img)
    x, y = c - c.mean(), -(r - r.mean())
    return (0.5 * np.arctan2(2 * (x * y).mean(), (x * x).mean() - (y * y).mean())) % np.pi


def test_ellipse_turns_counter_clockwise():
    orient = np.arange(40)
    classes = np.stack([np.zeros(40), np.ones(40), np.full(40, 5), orient, np.full(40, 16), np.full(40, 16)], 1)
    imgs = ds.render(classes.astype(int))
    theta = ds.ORIENTATION_VALUES
    measured = np.array([_screen_axis_angle(im) for im in imgs])
    diff = (measured - theta % np.pi + np.pi / 2) % np.pi - np.pi / 2
    assert np.abs(diff).max() < np.deg2rad(2.0)
    # At θ = 0 the long axis is horizontal: wider than tall.
    r, c = np.nonzero(imgs[0])
    assert np.ptp(c) > np.ptp(r) + 8


def test_heart_turns_counter_clockwise():
    # The heart's lobes are heavier than its point, so its centre of mass sits on the lobe side
    # of its bounding box centre. θ = 0: point down. θ ≈ π/2 (class 10, 92°): counter-clockwise
    # on screen turns the point to the right, so the mass shifts left.
    imgs = ds.render([[0, 2, 5, 0, 16, 16], [0, 2, 5, 10, 16, 16], [0, 2, 5, 30, 16, 16]])

    def offset(img):
        r, c = np.nonzero(img)
        return r.mean() - (r.min() + r.max()) / 2, c.mean() - (c.min() + c.max()) / 2

    dr0, dc0 = offset(imgs[0])
    assert dr0 < -0.5 and abs(dc0) < 0.1  # mass up, point down
    dr10, dc10 = offset(imgs[1])
    assert dc10 < -0.5 and abs(dr10) < 0.5  # point right
    dr30, dc30 = offset(imgs[2])
    assert dc30 > 0.5 and abs(dr30) < 0.5  # θ ≈ 3π/2 (277°): point left


# ----------------------------------------------------------------------------- 5. files
def _one_sentence(msg: str, name: str) -> bool:
    return name in msg and msg.endswith(".") and "\n" not in msg and ". " not in msg.replace(name, "")


def test_export_and_load_round_trip(tmp_path):
    idx = np.array([0, 1, 12345, 400000, ds.N_IMAGES - 1])
    out = ds.export_npz(tmp_path / "sub.npz", indices=idx, chunk=2)  # several chunks
    assert Path(out) == tmp_path / "sub.npz"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sub.npz"]  # no temp file left behind
    with np.load(tmp_path / "sub.npz", allow_pickle=False) as npz:
        assert sorted(npz.files) == ["imgs", "latents_classes", "latents_values"]
        assert npz["imgs"].dtype == np.uint8 and npz["imgs"].shape == (5, 64, 64)
        assert npz["latents_classes"].dtype == np.int64 and npz["latents_classes"].shape == (5, 6)
        assert npz["latents_values"].dtype == np.float64 and npz["latents_values"].shape == (5, 6)
        assert np.array_equal(npz["imgs"], ds.render_index(idx))
        assert np.array_equal(npz["latents_classes"], ds.index_to_classes(idx))
        assert np.array_equal(npz["latents_values"], ds.latents_values(ds.index_to_classes(idx)))
    data = ds.load_original_npz(tmp_path / "sub.npz")
    assert set(data) == {"imgs", "latents_classes", "latents_values"}
    assert np.array_equal(data["imgs"], ds.render_index(idx))
    assert np.array_equal(ds.classes_to_index(data["latents_classes"]), idx)


def test_load_skips_pickled_metadata(tmp_path):
    # The original file carries a pickled "metadata" dict; loading must work without unpickling it.
    idx = np.arange(3)
    cls = ds.index_to_classes(idx)
    path = tmp_path / ds.ORIGINAL_FILENAME
    meta = np.array({"description": "pickled"}, dtype=object)
    np.savez(path, imgs=ds.render(cls), latents_classes=cls, latents_values=ds.latents_values(cls), metadata=meta)
    data = ds.load_original_npz(path)
    assert data["imgs"].shape == (3, 64, 64) and "metadata" not in data


def test_load_errors(tmp_path):
    good = ds.export_npz(tmp_path / "good.npz", indices=np.arange(64))
    raw = Path(good).read_bytes()

    missing = tmp_path / "missing.npz"
    with pytest.raises(FileNotFoundError) as e:
        ds.load_original_npz(missing)
    assert _one_sentence(str(e.value), str(missing))

    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError) as e:
        ds.load_original_npz(truncated)
    assert _one_sentence(str(e.value), str(truncated))

    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip file at all" * 10)
    with pytest.raises(ValueError) as e:
        ds.load_original_npz(garbage)
    assert _one_sentence(str(e.value), str(garbage))

    # A zip whose directory is intact but whose compressed image data is damaged.
    damaged = tmp_path / "damaged.npz"
    with zipfile.ZipFile(good) as zf:
        info = zf.getinfo("imgs.npy")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra) + 40
    buf = bytearray(raw)
    buf[start : start + 64] = bytes(64)
    damaged.write_bytes(bytes(buf))
    with pytest.raises(ValueError) as e:
        ds.load_original_npz(damaged)
    assert _one_sentence(str(e.value), str(damaged))

    wrong_keys = tmp_path / "wrong_keys.npz"
    np.savez_compressed(wrong_keys, images=np.zeros((2, 64, 64), np.uint8))
    with pytest.raises(ValueError) as e:
        ds.load_original_npz(wrong_keys)
    assert _one_sentence(str(e.value), str(wrong_keys)) and "imgs" in str(e.value)

    wrong_shape = tmp_path / "wrong_shape.npz"
    np.savez_compressed(
        wrong_shape,
        imgs=np.zeros((2, 32, 32), np.uint8),
        latents_classes=np.zeros((2, 6), np.int64),
        latents_values=np.zeros((2, 6)),
    )
    with pytest.raises(ValueError) as e:
        ds.load_original_npz(wrong_shape)
    assert _one_sentence(str(e.value), str(wrong_shape))


# ----------------------------------------------------------------------------- speed
def test_render_is_fast_enough():
    import time

    rng = np.random.default_rng(3)
    batches = [ds.index_to_classes(rng.integers(0, ds.N_IMAGES, 256)) for _ in range(12)]
    ds.render(batches[0])  # warm-up
    t0 = time.perf_counter()
    for b in batches:
        ds.render(b)
    rate = 256 * len(batches) / (time.perf_counter() - t0)
    print(f"dSprites render: {rate:,.0f} images/s (batches of 256, one thread)")
    # Training needs >= 10,000 images/s; a loose bound here so a busy shared CI machine passes.
    assert rate >= 3000
