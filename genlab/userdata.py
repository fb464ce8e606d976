"""Your own data: 2-D points from a CSV file, images from a folder or an uploaded zip.

A dataset of yours is named by a *spec* wherever a built-in dataset's name goes:

    points:FILE.csv      two numeric columns (x, y), one point a line, a header line optional
    images:DIR           PNG or JPEG files under DIR (subfolders too), resized to 64×64
    images@32:DIR        the same, resized to 32×32 (8, 28, 32 or 64: the sizes genlab's nets take)

`load_dataset` in genlab.data hands a spec to `load_spec` here. A model's config stores the
canonical spec (absolute path, the size written out), so `load_dataset(cfg.data)` reads the same
data again on any page; the checkpoint's sidecar also records `data_source` (path, content hash,
counts) and `source_problem` says when the data is gone or has changed since.

Every problem with a file is one sentence naming the file and what to do (`UserDataError`, a
ValueError; `DatasetMissing` for a path that is not there), raised before anything is written.
The limits below are stated in the CLI's help and on the pages.

The 2-D mode metrics (modes captured, high quality, reverse KL) need the data's modes; for points
of yours they come from a clustering (`cluster_modes`: a spherical Gaussian mixture, the number of
modes chosen by BIC), and the pages say so.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import os
import re
import shutil
import stat
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

import numpy as np
import torch

from genlab.data import DatasetMissing, ImageData

# --------------------------------------------------------------------------- limits

MAX_CSV_BYTES = 20 * 2**20  # a points file
MIN_POINTS, MAX_POINTS = 10, 200_000
MAX_IMAGES = 20_000  # image files in a folder or a zip
MAX_IMAGE_BYTES = 20 * 2**20  # one image file
MAX_IMAGE_PIXELS = 40_000_000  # one image, before resizing (Pillow's own bomb check is at 89 million)
MAX_ZIP_BYTES = 200 * 2**20  # an uploaded zip (Streamlit's upload limit)
MAX_ZIP_UNPACKED = 1024 * 2**20  # the images a zip unpacks to, all together
MAX_ZIP_ENTRIES = 50_000  # entries of any kind in a zip
IMAGE_SIZES = (8, 28, 32, 64)  # the square sizes genlab.nets builds conv nets for
DEFAULT_IMAGE_SIZE = 64
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
COORD_LIMIT = 1e6  # |x|, |y| of a point

LIMITS_TEXT = (f"points: a CSV of at most {MAX_CSV_BYTES // 2**20} MB with {MIN_POINTS:,}–{MAX_POINTS:,} rows; "
               f"images: at most {MAX_IMAGES:,} PNG/JPEG files of at most {MAX_IMAGE_BYTES // 2**20} MB and "
               f"{MAX_IMAGE_PIXELS // 10**6} megapixels each; a zip of at most {MAX_ZIP_BYTES // 2**20} MB that "
               f"unpacks to at most {MAX_ZIP_UNPACKED // 2**30} GB")

_SPEC = re.compile(r"(points|images)(?:@(\d{1,4}))?:(.+)", re.S)


class UserDataError(ValueError):
    """A file of yours cannot be used: one sentence naming it and saying what to do."""


# --------------------------------------------------------------------------- specs


def parse_spec(text: str):
    """'points:FILE' / 'images:DIR' / 'images@32:DIR' → (kind, path, size or None); None for anything else
    (a built-in dataset's name)."""
    if not isinstance(text, str):
        return None
    m = _SPEC.fullmatch(text)
    if m is None or not m.group(3).strip():
        return None
    kind, size, path = m.group(1), m.group(2), m.group(3).strip()
    return kind, path, None if size is None else int(size)


def is_spec(text) -> bool:
    return parse_spec(text) is not None


def canonical_spec(text: str, image_size: int | None = None) -> str:
    """The spec a model's config stores: absolute path, and for images the size written out.
    `image_size` (the CLI's --image-size) must agree with a size in the spec."""
    parsed = parse_spec(text)
    if parsed is None:
        raise UserDataError(f"'{text}' is not a data spec: use points:FILE.csv or images:DIR")
    kind, path, size = parsed
    full = Path(path).expanduser().absolute()
    if kind == "points":
        if size is not None or image_size is not None:
            raise UserDataError(f"an image size applies to images:DIR only, not to the points in {path}")
        return f"points:{full}"
    if size is not None and image_size is not None and size != image_size:
        raise UserDataError(f"'{text}' says {size} pixels and --image-size says {image_size}: give one size")
    size = size or image_size or DEFAULT_IMAGE_SIZE
    if size not in IMAGE_SIZES:
        raise UserDataError(f"images of {size} pixels are not supported: choose an image size of "
                            f"{', '.join(map(str, IMAGE_SIZES))}")
    return f"images@{size}:{full}"


def short_name(spec: str) -> str:
    """A run-folder-safe label for a spec: 'points-moons', 'images32-faces'."""
    parsed = parse_spec(spec)
    if parsed is None:
        return spec
    kind, path, size = parsed
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", Path(path).stem or Path(path).name).strip("-")[:40] or "data"
    return f"{kind}{size if size and size != DEFAULT_IMAGE_SIZE else ''}-{stem}"


def load_spec(text: str, image_size: int | None = None):
    """The dataset a spec names: PointsData or UserImageData (see the module's docstring)."""
    spec = canonical_spec(text, image_size)
    kind, path, size = parse_spec(spec)
    if kind == "points":
        return read_points_csv(path)
    return read_image_folder(path, size)


# --------------------------------------------------------------------------- 2-D points


class PointsData:
    """A finite set of 2-D points (your CSV, or clusters drawn on the Mode-collapse page).

    The trainer draws batches of rows with replacement. `centres`, `std` (one per mode) and
    `weights` come from `cluster_modes`, computed on first use, so the 2-D mode metrics apply."""

    kind = "points"
    shape = (2,)
    labels = None
    label_names = None
    n_classes = None

    def __init__(self, name: str, points: np.ndarray, source: dict | None = None):
        pts = np.asarray(points, dtype=np.float32).reshape(-1, 2)
        self.name = name
        self.points = pts
        self.source = source
        self._x = torch.from_numpy(pts.copy())
        self.device = torch.device("cpu")
        self._modes: dict | None = None

    def __len__(self) -> int:
        return len(self.points)

    def to(self, device) -> "PointsData":
        self._x = self._x.to(device)
        self.device = self._x.device
        return self

    def get(self, idx) -> dict:
        idx = torch.as_tensor(idx, dtype=torch.long, device=self._x.device)
        return {"x": self._x[idx]}

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> dict:
        idx = torch.randint(len(self), (batch_size,), generator=generator)
        return self.get(idx)

    def all_x(self, limit: int | None = None) -> torch.Tensor:
        n = len(self) if limit is None else min(limit, len(self))
        return self.get(torch.arange(n))["x"]

    # --- the modes the 2-D metrics need
    @property
    def modes(self) -> dict:
        if self._modes is None:
            self._modes = cluster_modes(self.points)
        return self._modes

    @property
    def centres(self) -> np.ndarray:
        return self.modes["centres"]

    @property
    def std(self) -> np.ndarray:
        return self.modes["std"]

    @property
    def weights(self) -> np.ndarray:
        return self.modes["weights"]

    def own_coverage(self, n: int = 2500) -> dict:
        """The mode metrics of (up to n of) the data's own points: what a perfect generator would score."""
        from genlab.metrics.modes import mode_coverage

        pts = self.points[np.random.default_rng(0).choice(len(self), n, replace=False)] if len(self) > n else self.points
        return mode_coverage(pts, self.centres, self.std, weights=self.weights)

    def to_csv(self) -> bytes:
        """The points as a CSV with a header x,y (what `genlab train --data points:FILE.csv` reads)."""
        return ("x,y\n" + "".join(f"{a:.6g},{b:.6g}\n" for a, b in self.points)).encode()

    def bounds(self, pad: float = 0.15) -> tuple[float, float, float, float]:
        """(x0, x1, y0, y1): the points' box, widened by `pad` of its larger side (at least 0.5)."""
        lo, hi = self.points.min(0), self.points.max(0)
        p = max(0.5, pad * float((hi - lo).max()))
        return float(lo[0] - p), float(hi[0] + p), float(lo[1] - p), float(hi[1] + p)


def cluster_modes(points: np.ndarray, max_modes: int = 30, max_points: int = 5000, seed: int = 0,
                  patience: int = 4) -> dict:
    """The modes of 2-D points: a Gaussian mixture with one spread per component (scikit-learn,
    `covariance_type="spherical"`), the number of components from 1 to `max_modes` chosen by the
    lowest BIC (the search stops `patience` counts past the best), fitted on at most `max_points` of
    the points (two initialisations each). Returns centres (K, 2), std (K,),
    weights (K,), the BIC per K and a sentence saying how the modes were found."""
    from sklearn.mixture import GaussianMixture

    x = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(x) > max_points:
        x = x[np.random.default_rng(seed).choice(len(x), max_points, replace=False)]
    top = int(max(1, min(max_modes, len(np.unique(x, axis=0)), len(x) // 5)))
    best, bics = None, []
    for k in range(1, top + 1):
        gm = GaussianMixture(k, covariance_type="spherical", n_init=2, random_state=seed,
                             init_params="k-means++", reg_covar=1e-6).fit(x)
        bics.append(float(gm.bic(x)))
        if best is None or bics[-1] < best[0]:
            best = (bics[-1], gm)
        elif k - best[1].n_components >= patience:  # BIC has risen for `patience` counts in a row: past the best
            break
    gm = best[1]
    k = gm.n_components
    return {"centres": gm.means_.astype(np.float32), "std": np.sqrt(gm.covariances_).astype(np.float32),
            "weights": gm.weights_.astype(np.float64), "k": k, "bic": bics,
            "method": (f"{k} mode{'s' if k != 1 else ''} found by clustering the data: a Gaussian mixture with one "
                       f"spread per mode (scikit-learn), the number of modes (1–{top}) chosen by BIC")}


def parse_points_csv(raw: bytes, name: str) -> np.ndarray:
    """(N, 2) float32 from a CSV's bytes: two numeric columns, comma, semicolon, tab or spaces between
    them, a header line optional, blank lines and lines starting with # skipped. Anything else is a
    UserDataError naming `name` (and the line)."""
    if len(raw) > MAX_CSV_BYTES:
        raise UserDataError(f"{name} is {len(raw) / 2**20:.1f} MB, more than the {MAX_CSV_BYTES // 2**20} MB a "
                            "points file may have: keep fewer points")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UserDataError(f"{name} is not a text file (not UTF-8): save it as CSV with two columns x, y") from None
    lines = [(i + 1, ln) for i, ln in enumerate(text.splitlines()) if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise UserDataError(f"{name} is empty: put one point a line as two numbers x, y (a header line is optional)")
    first = lines[0][1]
    delim = next((d for d in (",", ";", "\t") if d in first), None)

    def split(line: str) -> list[str]:
        cells = next(csv.reader([line], delimiter=delim)) if delim else line.split()
        return [c.strip() for c in cells]

    rows = []
    for n, (lineno, line) in enumerate(lines):
        cells = split(line)
        if len(cells) != 2:
            what = "one column" if len(cells) == 1 else f"{len(cells)} columns"
            raise UserDataError(f"{name}, line {lineno} has {what}: a points file has two, x and y")
        try:
            vals = [float(c) for c in cells]
        except ValueError:
            if n == 0:  # the header
                continue
            bad = next(c for c in cells if not _is_float(c))
            raise UserDataError(f"{name}, line {lineno}: '{bad[:20]}' is not a number: every line after the "
                                "header must hold two numbers") from None
        if not all(math.isfinite(v) for v in vals):
            raise UserDataError(f"{name}, line {lineno}: {line.strip()[:40]} is not two finite numbers (NaN or "
                                "infinity): remove or fix that line")
        if any(abs(v) > COORD_LIMIT for v in vals):
            raise UserDataError(f"{name}, line {lineno}: {line.strip()[:40]} is out of range (|x|, |y| at most "
                                f"{COORD_LIMIT:g}): rescale the points")
        rows.append(vals)
        if len(rows) > MAX_POINTS:
            raise UserDataError(f"{name} has more than {MAX_POINTS:,} points: keep at most that many")
    if len(rows) < MIN_POINTS:
        raise UserDataError(f"{name} has {len(rows)} point{'s' if len(rows) != 1 else ''}; a points file needs at "
                            f"least {MIN_POINTS}")
    return np.asarray(rows, dtype=np.float32)


def _is_float(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def points_from_bytes(raw: bytes, name: str, path: str | None = None) -> PointsData:
    """PointsData from a CSV's bytes (an upload, or a file's), with its source: path, name, SHA-256, rows."""
    pts = parse_points_csv(raw, name)
    source = {"kind": "points", "path": path, "name": name, "sha256": hashlib.sha256(raw).hexdigest(),
              "rows": int(len(pts))}
    return PointsData(f"points:{path}" if path else name, pts, source)


def read_points_csv(path) -> PointsData:
    p = Path(path)
    if not p.exists():
        raise DatasetMissing(f"{p} does not exist: put the CSV file (two columns x, y) there, or give the path "
                             "of the one to use")
    if not p.is_file():
        raise UserDataError(f"{p} is a folder, not a file: points:FILE needs a CSV file with two columns x, y")
    size = p.stat().st_size
    if size > MAX_CSV_BYTES:
        raise UserDataError(f"{p} is {size / 2**20:.1f} MB, more than the {MAX_CSV_BYTES // 2**20} MB a points file "
                            "may have: keep fewer points")
    return points_from_bytes(p.read_bytes(), str(p), str(p.absolute()))


# --------------------------------------------------------------------------- drawn clusters

MAX_CLUSTERS = 20
CLUSTER_LIMITS = {"x": (-10.0, 10.0), "y": (-10.0, 10.0), "spread": (0.01, 5.0), "n": (10, 2000)}


def check_cluster(c: dict) -> dict:
    """A cluster {x, y, spread, n} within CLUSTER_LIMITS, or ValueError naming the value out of range."""
    out = {}
    for k, (lo, hi) in CLUSTER_LIMITS.items():
        v = float(c[k])
        if not math.isfinite(v) or not lo <= v <= hi:
            raise ValueError(f"{k} {v:g} is out of range ({lo:g} to {hi:g})")
        out[k] = int(round(v)) if k == "n" else round(v, 4)
    return out


def parse_clusters(text: str) -> list[dict]:
    """'x,y,spread,n;x,y,spread,n' (the Mode-collapse page's ?clusters=) → clusters; ValueError when
    a part is not four numbers in range or there are more than MAX_CLUSTERS."""
    parts = [p for p in str(text).split(";") if p.strip()]
    if not parts:
        raise ValueError("no clusters")
    if len(parts) > MAX_CLUSTERS:
        raise ValueError(f"more than {MAX_CLUSTERS} clusters")
    out = []
    for p in parts:
        vals = p.split(",")
        if len(vals) != 4:
            raise ValueError("not x,y,spread,n")
        try:
            nums = [float(v) for v in vals]
        except ValueError:
            raise ValueError("not numbers") from None
        out.append(check_cluster(dict(zip(("x", "y", "spread", "n"), nums))))
    return out


def format_clusters(clusters: list[dict]) -> str:
    return ";".join(f"{c['x']:g},{c['y']:g},{c['spread']:g},{int(c['n'])}" for c in clusters)


def points_from_clusters(clusters: list[dict], seed: int = 0) -> PointsData:
    """Points drawn from isotropic Gaussians, cluster i with its own generator (seed, i), so adding a
    cluster leaves the points of the others where they were."""
    if not clusters:
        raise UserDataError("no clusters drawn yet: click the canvas or add one with the form")
    parts = []
    for i, c in enumerate(clusters):
        c = check_cluster(c)
        rng = np.random.default_rng([seed, i])
        parts.append(np.array([c["x"], c["y"]]) + c["spread"] * rng.standard_normal((c["n"], 2)))
    pts = np.concatenate(parts).astype(np.float32)
    text = format_clusters(clusters)
    source = {"kind": "points", "path": None, "name": "drawn clusters", "clusters": text,
              "sha256": hashlib.sha256(f"{seed}|{text}".encode()).hexdigest(), "rows": int(len(pts))}
    return PointsData("drawn points", pts, source)


def cluster_from_selection(selection: dict, spread: float, n: int) -> list[dict]:
    """Clusters from a Plotly selection as st.plotly_chart(on_select=...) reports it: a dragged box
    fills itself (centre in the middle, spread a quarter of its shorter side, so ±2 spreads span it),
    a lasso likewise around its outline, and each clicked point becomes a cluster of `spread` and `n`."""
    sel = (selection or {}).get("selection", selection or {}) or {}
    out = []
    for box in sel.get("box") or []:
        xs, ys = [float(v) for v in box.get("x", [])], [float(v) for v in box.get("y", [])]
        if len(xs) >= 2 and len(ys) >= 2:
            side = min(max(xs) - min(xs), max(ys) - min(ys))
            out.append({"x": (min(xs) + max(xs)) / 2, "y": (min(ys) + max(ys)) / 2, "spread": side / 4, "n": n})
    for lasso in sel.get("lasso") or []:
        xs, ys = [float(v) for v in lasso.get("x", [])], [float(v) for v in lasso.get("y", [])]
        if len(xs) >= 3:
            side = min(max(xs) - min(xs), max(ys) - min(ys))
            out.append({"x": float(np.mean(xs)), "y": float(np.mean(ys)), "spread": side / 4, "n": n})
    if not out:  # a click (or shift-clicks) on the canvas's points
        for p in sel.get("points") or []:
            if "x" in p and "y" in p:
                out.append({"x": float(p["x"]), "y": float(p["y"]), "spread": spread, "n": n})
    lo, hi = CLUSTER_LIMITS["spread"]
    return [check_cluster({**c, "spread": min(hi, max(lo, c["spread"]))}) for c in out]


# --------------------------------------------------------------------------- images


class UserImageData(ImageData):
    """Images from a folder of yours, resized to size×size; grey when every image is grey."""

    def __init__(self, name: str, images: np.ndarray, source: dict):
        super().__init__(name, images, None, None)
        self.source = source


def _hidden(rel: PurePosixPath | Path) -> bool:
    return any(part.startswith(".") or part == "__MACOSX" for part in rel.parts)


def image_files(folder: Path) -> list[Path]:
    """The PNG and JPEG files under `folder` (subfolders too, hidden ones and macOS's __MACOSX left out),
    in name order."""
    out = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__MACOSX")
        for f in sorted(files):
            if f.lower().endswith(IMAGE_SUFFIXES) and not f.startswith("."):
                out.append(Path(root) / f)
    return sorted(out, key=lambda p: p.relative_to(folder).as_posix())


def decode_image(raw: bytes, size: int, name: str) -> np.ndarray:
    """One image file's bytes → (3, size, size) uint8: EXIF orientation applied, transparency on black,
    the centre square cut and resized (Pillow's ImageOps.fit, Lanczos). UserDataError naming `name` when
    Pillow cannot read it or it is too large."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    if len(raw) > MAX_IMAGE_BYTES:
        raise UserDataError(f"{name} is {len(raw) / 2**20:.1f} MB, more than the {MAX_IMAGE_BYTES // 2**20} MB an "
                            "image may have: shrink or remove it")
    try:
        with Image.open(io.BytesIO(raw)) as im:
            if im.format not in ("PNG", "JPEG", "MPO"):
                raise UserDataError(f"{name} is a {im.format} image, not PNG or JPEG: convert or remove it")
            w, h = im.size
            if w * h > MAX_IMAGE_PIXELS:
                raise UserDataError(f"{name} has {w}×{h} pixels, more than the {MAX_IMAGE_PIXELS // 10**6} "
                                    "megapixels an image may have: shrink or remove it")
            im.draft("RGB", (size, size))  # JPEG: decode at a reduced scale no smaller than the target
            im = ImageOps.exif_transpose(im)
            if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                im = im.convert("RGBA")
                im = Image.alpha_composite(Image.new("RGBA", im.size, (0, 0, 0, 255)), im)
            im = ImageOps.fit(im.convert("RGB"), (size, size), Image.Resampling.LANCZOS)
            return np.asarray(im, dtype=np.uint8).transpose(2, 0, 1).copy()
    except UserDataError:
        raise
    except UnidentifiedImageError:
        raise UserDataError(f"{name} is not a readable PNG or JPEG image (Pillow does not recognise its content): "
                            "replace or remove it") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        reason = re.sub(r"<[^>]* at 0x[0-9a-f]+>", "the file", str(e).strip().split("\n")[0]) or type(e).__name__
        raise UserDataError(f"{name} is not a readable PNG or JPEG image ({reason}): replace or remove it") from None


def _stack(arrays: list[np.ndarray]) -> np.ndarray:
    imgs = np.stack(arrays)
    grey = bool((imgs[:, 0] == imgs[:, 1]).all() and (imgs[:, 1] == imgs[:, 2]).all())
    return imgs[:, :1].copy() if grey else imgs


def read_image_folder(folder, size: int = DEFAULT_IMAGE_SIZE) -> UserImageData:
    """Every PNG/JPEG under `folder`, resized to size×size, as one image dataset, with its source:
    the folder, the SHA-256 over the files' names and bytes, the count, size and channels."""
    folder = Path(folder)
    if size not in IMAGE_SIZES:
        raise UserDataError(f"images of {size} pixels are not supported: choose an image size of "
                            f"{', '.join(map(str, IMAGE_SIZES))}")
    if not folder.exists():
        raise DatasetMissing(f"{folder} does not exist: put your PNG or JPEG images there, or give the folder that "
                             "holds them")
    if not folder.is_dir():
        raise UserDataError(f"{folder} is a file, not a folder: images:DIR needs a folder of PNG or JPEG images"
                            + (" (unzip it first, or upload it on the Train page)" if folder.suffix.lower() == ".zip"
                               else ""))
    files = image_files(folder)
    if not files:
        raise UserDataError(f"{folder} holds no PNG or JPEG images (.png, .jpg, .jpeg): put your images there")
    if len(files) > MAX_IMAGES:
        raise UserDataError(f"{folder} holds {len(files):,} images, more than the {MAX_IMAGES:,} allowed: use a "
                            "folder with fewer")
    digest, arrays = hashlib.sha256(), []
    for f in files:
        if f.stat().st_size > MAX_IMAGE_BYTES:
            raise UserDataError(f"{f} is {f.stat().st_size / 2**20:.1f} MB, more than the {MAX_IMAGE_BYTES // 2**20}"
                                " MB an image may have: shrink or remove it")
        raw = f.read_bytes()
        rel = f.relative_to(folder).as_posix()
        digest.update(rel.encode() + b"\0" + hashlib.sha256(raw).digest())
        arrays.append(decode_image(raw, size, str(f)))
    imgs = _stack(arrays)
    source = {"kind": "images", "path": str(folder.absolute()), "sha256": digest.hexdigest(), "files": len(files),
              "image_size": size, "channels": int(imgs.shape[1])}
    marker = folder / ".complete"  # a folder unpack_image_zip made: the zip's name as uploaded
    if marker.is_file():
        source["uploaded_as"] = marker.read_text()[:200]
    return UserImageData(f"images@{size}:{folder.absolute()}", imgs, source)


# --------------------------------------------------------------------------- uploaded zips


def uploads_root() -> Path:
    """Where uploaded zips are unpacked: runs/uploads (git-ignored), one folder per zip's content."""
    from genlab.live import runs_root

    return runs_root() / "uploads"


def _is_link(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def _safe_member_name(i: int, filename: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", PurePosixPath(filename).stem).strip("_")[:60] or "image"
    return f"{i:05d}-{stem}{PurePosixPath(filename).suffix.lower()}"


def unpack_image_zip(raw: bytes, name: str, root: Path | None = None) -> Path:
    """Unpack the PNG/JPEG images of an uploaded zip into ROOT/<hash of the zip> and return that folder.

    Safe by construction: no entry's path is ever used to write (each image is written flat as
    NNNNN-<its sanitised name>, so an absolute name goes nowhere else), entries with ../ in their
    path, links, and hidden or __MACOSX entries are skipped, every image is read through a size-bounded stream (a zip bomb stops at the
    limit) and checked with Pillow, and the folder appears only when everything is good (written
    beside it, then renamed). The same zip uploaded again finds its folder."""
    root = Path(root) if root is not None else uploads_root()
    if len(raw) > MAX_ZIP_BYTES:
        raise UserDataError(f"{name} is {len(raw) / 2**20:.0f} MB, more than the {MAX_ZIP_BYTES // 2**20} MB a zip "
                            "may have: zip fewer or smaller images")
    dest = root / hashlib.sha256(raw).hexdigest()[:20]
    if (dest / ".complete").exists():
        return dest
    try:
        zf = zipfile.ZipFile(io.BytesIO(raw))
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise UserDataError(f"{name} is not a zip file ({e}): zip a folder of PNG or JPEG images") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_ZIP_ENTRIES:
            raise UserDataError(f"{name} has {len(infos):,} entries, more than the {MAX_ZIP_ENTRIES:,} allowed: zip "
                                "fewer files")
        chosen = []
        for info in infos:
            rel = PurePosixPath(info.filename.replace("\\", "/"))
            if (info.is_dir() or _is_link(info) or ".." in rel.parts or _hidden(rel)
                    or rel.suffix.lower() not in IMAGE_SUFFIXES):
                continue
            chosen.append(info)
        if not chosen:
            raise UserDataError(f"{name} holds no PNG or JPEG images (.png, .jpg, .jpeg) among its {len(infos)} "
                                "entries: zip a folder of images")
        if len(chosen) > MAX_IMAGES:
            raise UserDataError(f"{name} holds {len(chosen):,} images, more than the {MAX_IMAGES:,} allowed: zip "
                                "fewer")
        chosen.sort(key=lambda i: i.filename)
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".unpacking-", dir=root))
        try:
            total = 0
            for i, info in enumerate(chosen):
                where = f"{info.filename} in {name}"
                if info.flag_bits & 0x1:
                    raise UserDataError(f"{where} is encrypted: zip the images without a password")
                try:
                    with zf.open(info) as f:
                        data = f.read(MAX_IMAGE_BYTES + 1)
                except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as e:
                    raise UserDataError(f"{where} cannot be unpacked ({e}): zip the images again") from None
                if len(data) > MAX_IMAGE_BYTES:
                    raise UserDataError(f"{where} is more than {MAX_IMAGE_BYTES // 2**20} MB: shrink or remove it")
                total += len(data)
                if total > MAX_ZIP_UNPACKED:
                    raise UserDataError(f"{name} unpacks to more than {MAX_ZIP_UNPACKED // 2**30} GB of images: zip "
                                        "fewer")
                decode_image(data, 8, where)  # readable? (the size does not matter here)
                (tmp / _safe_member_name(i, info.filename)).write_bytes(data)
            (tmp / ".complete").write_text(name)
            try:
                os.replace(tmp, dest)
            except OSError:  # another session unpacked the same zip meanwhile
                if not (dest / ".complete").exists():
                    raise
                shutil.rmtree(tmp, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return dest


def images_from_zip(raw: bytes, name: str, size: int = DEFAULT_IMAGE_SIZE, root: Path | None = None):
    """An uploaded zip of images → (its spec, the dataset): unpacked once per content (unpack_image_zip),
    read at size×size. The spec is what the Train page starts a run on."""
    folder = unpack_image_zip(raw, name, root)
    spec = canonical_spec(f"images@{int(size)}:{folder}")
    return spec, load_spec(spec)


def preview(data, n: int = 8) -> list[np.ndarray]:
    """The first n images of an image dataset as H×W(×C) uint8 arrays, for st.image."""
    imgs = np.asarray(data.images[:n].cpu() if hasattr(data.images, "cpu") else data.images[:n], dtype=np.uint8)
    return [im[0] if im.shape[0] == 1 else im.transpose(1, 2, 0) for im in imgs]


# --------------------------------------------------------------------------- a checkpoint's data, found again


def source_problem(meta: dict, data=None) -> str | None:
    """None when a checkpoint's recorded data (its sidecar's data_source) is where it was with the same
    content; else one sentence: gone, or changed since training. `data`: the dataset already loaded
    from the config's spec (saves reading it again)."""
    src = (meta or {}).get("data_source")
    if not src or not src.get("path"):
        return None
    spec = (meta.get("config") or {}).get("data") or (f"points:{src['path']}" if src.get("kind") == "points"
                                                        else f"images@{src.get('image_size', 64)}:{src['path']}")
    if data is None:
        try:
            from genlab.data import load_dataset

            data = load_dataset(spec)
        except (DatasetMissing, ValueError) as e:
            return f"this model's training data cannot be read again: {e}"
    now = getattr(data, "source", None) or {}
    if now.get("sha256") != src.get("sha256"):
        return (f"{src['path']} has changed since this model was trained (its content hash differs): the measures "
                "compare the model with the data as it is now")
    return None
