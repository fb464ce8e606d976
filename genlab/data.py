"""Datasets: one small interface for images, ground-truth factors and 2-D points.

Every dataset is built by name from `DATASETS` and offers:

- `shape`: (C, H, W) for images, (2,) for points; `kind`: "images" or "points".
- `sample(batch_size, generator)` -> dict with `x` (float in [0, 1] for images) and, where they
  exist, `y` (labels) or `factors` (ground-truth factor classes). This is what the trainer calls.
- finite sets: `len(data)`, `get(idx)` -> the same dict for given indices, `to(device)` keeps a
  whole small set on the GPU so training is not bound by a loader.
- sets with ground-truth factors (dSprites): `factor_names`, `factor_sizes`,
  `sample_factors(n, rng)` and `images_from_factors(factors)`: the protocol the
  disentanglement metrics use.
- 2-D mixtures: `centres` and `std`, which the mode-coverage metrics need.

Your own points (a CSV) and images (a folder) are named by a spec, `points:FILE.csv` or
`images:DIR` (genlab.userdata), and load through `load_dataset` like a built-in name.

Nothing is downloaded at run time unless the caller allows it; a missing dataset raises
`DatasetMissing` with one sentence saying where to put the files.
"""

from __future__ import annotations

import gzip
import math
import os
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from genlab import dsprites


class DatasetMissing(FileNotFoundError):
    """A dataset's files are not on disk and could not be downloaded."""


def data_root() -> Path:
    """Where torchvision-style datasets are looked for: $GENLAB_DATA or ./data."""
    return Path(os.environ.get("GENLAB_DATA", "data")).expanduser()


# --------------------------------------------------------------------------- finite images


class ImageData:
    """A finite set of images kept as uint8 (N, C, H, W), with optional labels."""

    kind = "images"

    def __init__(self, name: str, images: np.ndarray | torch.Tensor, labels=None,
                 label_names: list[str] | None = None, max_value: float = 255.0):
        imgs = torch.as_tensor(images)
        if imgs.ndim == 3:
            imgs = imgs[:, None]
        if imgs.ndim != 4:
            raise ValueError(f"dataset '{name}': images must be N×C×H×W or N×H×W, got shape {tuple(imgs.shape)}")
        self.name = name
        self.images = imgs.contiguous()
        self.labels = None if labels is None else torch.as_tensor(np.asarray(labels), dtype=torch.long)
        self.label_names = label_names
        self.max_value = float(max_value)
        self.shape = tuple(self.images.shape[1:])
        self.device = self.images.device

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def n_classes(self) -> int | None:
        return None if self.labels is None else int(self.labels.max()) + 1

    def to(self, device) -> "ImageData":
        """Keep the whole set (uint8) on `device`; batches are then cut there."""
        self.images = self.images.to(device)
        if self.labels is not None:
            self.labels = self.labels.to(device)
        self.device = self.images.device
        return self

    def get(self, idx) -> dict:
        idx = torch.as_tensor(idx, dtype=torch.long, device=self.images.device)
        out = {"x": self.images[idx].float() / self.max_value}
        if self.labels is not None:
            out["y"] = self.labels[idx]
        return out

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> dict:
        idx = torch.randint(len(self), (batch_size,), generator=generator)
        return self.get(idx)

    def all_x(self, limit: int | None = None) -> torch.Tensor:
        n = len(self) if limit is None else min(limit, len(self))
        return self.get(torch.arange(n))["x"]


# --------------------------------------------------------------------------- dSprites


class DSpritesData:
    """dSprites (Matthey et al. 2017): 737,280 binary 64×64 sprites with five ground-truth factors.

    Images are drawn on demand by genlab's procedural renderer (identical to the original), or
    read from the original .npz when `path` is given. Only uint8 images of the batch asked for
    are ever made, so the whole set never sits in memory as floats."""

    kind = "images"
    shape = (1, 64, 64)
    # The colour factor has one value; the metrics use the other five, as disentanglement_lib does.
    factor_names = list(dsprites.FACTOR_NAMES[1:])
    factor_sizes = list(dsprites.FACTOR_SIZES[1:])

    def __init__(self, path: str | os.PathLike | None = None):
        self.name = "dsprites"
        self.path = None if path is None else Path(path)
        self._imgs = None
        if self.path is not None:
            self._imgs = dsprites.load_original_npz(self.path)["imgs"]
        self.device = torch.device("cpu")
        self.label_names = None
        self.labels = None

    def __len__(self) -> int:
        return dsprites.N_IMAGES

    @property
    def n_classes(self):
        return None

    def to(self, device) -> "DSpritesData":
        # Rendering happens on the CPU; batches are moved by the trainer.
        return self

    def images_u8(self, idx: np.ndarray) -> np.ndarray:
        idx = np.asarray(idx, dtype=np.int64)
        if self._imgs is not None:
            return self._imgs[idx]
        return dsprites.render_index(idx)

    def get(self, idx) -> dict:
        idx = np.asarray(torch.as_tensor(idx).cpu(), dtype=np.int64)
        x = torch.from_numpy(self.images_u8(idx)).float()[:, None]
        classes = dsprites.index_to_classes(idx)[:, 1:]
        return {"x": x, "factors": torch.from_numpy(classes)}

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> dict:
        idx = torch.randint(dsprites.N_IMAGES, (batch_size,), generator=generator)
        return self.get(idx)

    def all_x(self, limit: int | None = None) -> torch.Tensor:
        n = len(self) if limit is None else min(limit, len(self))
        return self.get(np.arange(n))["x"]

    # --- ground-truth protocol used by genlab.metrics.disentanglement
    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return np.stack([rng.integers(0, s, size=n) for s in self.factor_sizes], axis=1)

    def images_from_factors(self, factors: np.ndarray) -> np.ndarray:
        factors = np.asarray(factors, dtype=np.int64)
        full = np.concatenate([np.zeros((len(factors), 1), np.int64), factors], axis=1)
        idx = dsprites.classes_to_index(full)
        return self.images_u8(idx).astype(np.float32)[:, None]


class DSpritesDomains(DSpritesData):
    """Two unpaired domains of dSprites for image translation (CycleGAN): domain A is every square,
    domain B every ellipse, each with all its scales, rotations and positions.

    `sample(n)` draws the two sides independently and returns them as one batch, the first n // 2
    images from A and the rest from B (the convention of genlab's translators, models.split_domains),
    with `y` the domain (0 = A, 1 = B). As a finite set it holds the 491,520 squares and ellipses of
    dSprites in their own order (squares first); `get` and the factor protocol see shape as a factor of
    two values."""

    DOMAIN_SIZE = dsprites.N_IMAGES // 3  # the images of one shape

    def __init__(self, path: str | os.PathLike | None = None):
        super().__init__(path)
        self.name = "dsprites-squares-ellipses"
        self.domain_names = [dsprites.SHAPE_NAMES[0], dsprites.SHAPE_NAMES[1]]
        self.label_names = list(self.domain_names)
        self.factor_sizes = [2] + list(dsprites.FACTOR_SIZES[2:])

    def __len__(self) -> int:
        return 2 * self.DOMAIN_SIZE

    @property
    def n_classes(self) -> int:
        return 2

    def get(self, idx) -> dict:
        idx = np.asarray(torch.as_tensor(idx).cpu(), dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= len(self)):
            raise IndexError(f"{self.name} holds {len(self):,} images; index {int(idx.max())} is outside it")
        out = super().get(idx)  # shape is dSprites' first factor, so squares and ellipses come first
        out["y"] = torch.from_numpy(idx // self.DOMAIN_SIZE)
        return out

    def sample_domain(self, n: int, domain: int, generator: torch.Generator | None = None) -> dict:
        """n images of one domain (0 = squares, 1 = ellipses), uniformly over its other factors."""
        idx = torch.randint(self.DOMAIN_SIZE, (n,), generator=generator) + domain * self.DOMAIN_SIZE
        return self.get(idx)

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> dict:
        n_a = batch_size // 2
        a = torch.randint(self.DOMAIN_SIZE, (n_a,), generator=generator)
        b = torch.randint(self.DOMAIN_SIZE, (batch_size - n_a,), generator=generator) + self.DOMAIN_SIZE
        return self.get(torch.cat([a, b]))


# --------------------------------------------------------------------------- 2-D mixtures


class MixtureData:
    """A 2-D Gaussian mixture with equal weights, sampled without end (for mode-collapse studies).

    `ring`: 8 modes on the unit circle, std 0.01; `grid`: 25 modes at {-4,-2,0,2,4}², std 0.05
    (the PacGAN / VEEGAN protocol)."""

    kind = "points"
    shape = (2,)
    label_names = None
    labels = None

    def __init__(self, name: str, centres: np.ndarray, std: float):
        self.name = name
        self.centres = np.asarray(centres, dtype=np.float32)
        self.std = float(std)
        self.device = torch.device("cpu")
        self._centres_t = torch.from_numpy(self.centres)

    def __len__(self) -> int:  # an endless sampler: nominal size used for "epochs" in the app
        return 100_000

    @property
    def n_classes(self) -> int:
        return len(self.centres)

    def to(self, device) -> "MixtureData":
        self._centres_t = self._centres_t.to(device)
        self.device = self._centres_t.device
        return self

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> dict:
        mode = torch.randint(len(self.centres), (batch_size,), generator=generator)
        noise = torch.randn(batch_size, 2, generator=generator)
        mode, noise = mode.to(self.device), noise.to(self.device)
        return {"x": self._centres_t[mode] + self.std * noise, "y": mode}

    def all_x(self, limit: int | None = None) -> torch.Tensor:
        g = torch.Generator().manual_seed(0)
        return self.sample(limit or 2500, g)["x"]


def ring_centres(n_modes: int = 8, radius: float = 1.0) -> np.ndarray:
    t = 2 * np.pi * np.arange(n_modes) / n_modes
    return np.stack([radius * np.cos(t), radius * np.sin(t)], axis=1)


def grid_centres(values=(-4, -2, 0, 2, 4)) -> np.ndarray:
    return np.array([(a, b) for a in values for b in values], dtype=np.float32)


# --------------------------------------------------------------------------- readers


def _missing(name: str, root: Path, what: str) -> DatasetMissing:
    return DatasetMissing(
        f"{name} is not on disk and could not be downloaded: put {what} in {root.resolve()} "
        f"(or set GENLAB_DATA to the folder that holds it) and try again."
    )


def _load_digits() -> ImageData:
    from sklearn.datasets import load_digits

    d = load_digits()
    # sklearn's digits are 8×8 with values 0..16.
    return ImageData("digits", d.images.astype(np.float32), d.target,
                     [str(i) for i in range(10)], max_value=16.0)


class BinarisedImages(ImageData):
    """Grey images in [0, 1] read as the probabilities of binary pixels: every training batch draws its
    pixels afresh, x_ij ~ Bernoulli(g_ij) ("dynamic binarisation", as for the binarised MNIST of
    Burda et al. 2016 and Chen et al. 2017), so no model can learn one fixed pattern per image. `get`
    (the images that pages and measures show and score) returns one fixed draw, made once with seed 0."""

    def __init__(self, name: str, grey: ImageData):
        p = grey.get(torch.arange(len(grey)))["x"].float()
        fixed = (torch.rand(p.shape, generator=torch.Generator().manual_seed(0)) < p).to(torch.uint8)
        super().__init__(name, fixed, grey.labels, grey.label_names, max_value=1.0)
        self.probabilities = p

    def to(self, device) -> "BinarisedImages":
        super().to(device)
        self.probabilities = self.probabilities.to(device)
        return self

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> dict:
        idx = torch.randint(len(self), (batch_size,), generator=generator)
        p = self.probabilities[idx.to(self.probabilities.device)]
        u = torch.rand(p.shape, generator=generator).to(p.device)
        out = {"x": (u < p).to(p.dtype)}
        if self.labels is not None:
            out["y"] = self.labels[idx.to(self.labels.device)]
        return out


def _load_digits_binary() -> ImageData:
    """The digits with binary pixels (BinarisedImages): a pixel is on with probability its grey level.
    Binary pixels make the Bernoulli likelihood a proper one, and a PixelCNN decoder reads back exactly
    the values it draws (genlab's pixelcnn-vae; survey §2.1.2)."""
    return BinarisedImages("digits-binary", _load_digits())


def _read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzipped or not. Plain bytes: nothing is unpickled."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 8 or data[0] != 0 or data[1] != 0:
        raise ValueError(f"{path} is not an IDX file (bad magic number); replace it with the original download")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != math.prod(dims):
        raise ValueError(f"{path} is truncated ({arr.size} of {math.prod(dims)} values); download it again")
    return arr.reshape(dims).copy()  # frombuffer is read-only


def _find(root: Path, names: list[str]) -> Path | None:
    for n in names:
        for cand in (root / n, root / (n + ".gz")):
            if cand.exists():
                return cand
        hits = list(root.rglob(n)) + list(root.rglob(n + ".gz"))
        if hits:
            return hits[0]
    return None


def _load_mnist_like(name: str, folder: str, download: bool, root: Path | None = None) -> ImageData:
    import torchvision

    root = root or data_root()
    img_f = _find(root / folder, ["train-images-idx3-ubyte"]) if (root / folder).exists() else None
    lab_f = _find(root / folder, ["train-labels-idx1-ubyte"]) if (root / folder).exists() else None
    if (img_f is None or lab_f is None) and download:
        cls = torchvision.datasets.MNIST if folder == "MNIST" else torchvision.datasets.FashionMNIST
        try:
            cls(str(root), train=True, download=True)
        except Exception as e:  # no network, or the mirror is down
            raise _missing(name, root, f"train-images-idx3-ubyte and train-labels-idx1-ubyte (gz or not) under {folder}/raw/") from e
        return _load_mnist_like(name, folder, download=False, root=root)
    if img_f is None or lab_f is None:
        raise _missing(name, root, f"train-images-idx3-ubyte and train-labels-idx1-ubyte (gz or not) under {folder}/raw/")
    labels_names = ([str(i) for i in range(10)] if folder == "MNIST" else
                    ["T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Boot"])
    return ImageData(name, _read_idx(img_f), _read_idx(lab_f).astype(np.int64), labels_names)


CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _load_cifar10(download: bool, root: Path | None = None) -> ImageData:
    """CIFAR-10 from its *binary* version (raw bytes; the Python version is pickled, and genlab
    never unpickles a file a user supplies)."""
    root = root or data_root()
    folder = root / "cifar-10-batches-bin"
    archive = root / "cifar-10-binary.tar.gz"
    if not folder.exists() and archive.exists():
        with tarfile.open(archive) as t:
            t.extractall(root, filter="data")
    if not folder.exists() and download:
        from torchvision.datasets.utils import download_and_extract_archive

        try:
            download_and_extract_archive("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz", str(root))
        except Exception as e:
            raise _missing("CIFAR-10", root, "cifar-10-binary.tar.gz (the 'binary version') or its folder cifar-10-batches-bin") from e
    files = sorted(folder.glob("data_batch_*.bin")) if folder.exists() else []
    if not files:
        raise _missing("CIFAR-10", root, "cifar-10-binary.tar.gz (the 'binary version') or its folder cifar-10-batches-bin")
    recs = np.concatenate([np.fromfile(f, dtype=np.uint8).reshape(-1, 3073) for f in files])
    return ImageData("cifar10", recs[:, 1:].reshape(-1, 3, 32, 32), recs[:, 0].astype(np.int64), CIFAR_CLASSES)


def _load_celeba(download: bool, root: Path | None = None, size: int = 32, limit: int | None = None) -> ImageData:
    """CelebA aligned faces, centre-cropped to 140×140 and resized to size×size; cached as .npy
    (saved and loaded without pickle) beside the images after the first read."""
    from PIL import Image

    root = root or data_root()
    img_dir = root / "celeba" / "img_align_celeba"
    if not img_dir.exists() and download:
        import torchvision

        try:
            torchvision.datasets.CelebA(str(root), split="train", download=True)
        except Exception as e:
            raise _missing("CelebA", root, "the folder celeba/img_align_celeba with the aligned JPEG faces") from e
    if not img_dir.exists():
        raise _missing("CelebA", root, "the folder celeba/img_align_celeba with the aligned JPEG faces")
    cache = root / "celeba" / f"genlab_{size}px_{limit or 'all'}.npy"
    if cache.exists():
        arr = np.load(cache, allow_pickle=False)
    else:
        files = sorted(img_dir.glob("*.jpg"))[:limit]
        arr = np.empty((len(files), 3, size, size), np.uint8)
        for i, f in enumerate(files):
            with Image.open(f) as im:
                w, h = im.size
                box = ((w - 140) // 2, (h - 140) // 2, (w + 140) // 2, (h + 140) // 2)
                arr[i] = np.asarray(im.convert("RGB").crop(box).resize((size, size), Image.BILINEAR)).transpose(2, 0, 1)
        tmp = cache.with_suffix(".tmp.npy")
        np.save(tmp, arr)
        os.replace(tmp, cache)
    return ImageData("celeba", arr, None, None)


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    description: str
    kind: str  # "images" or "points"
    shape: tuple
    load: Callable[..., object] = field(repr=False)
    builtin: bool = True  # available offline with no files
    has_factors: bool = False
    has_labels: bool = False


DATASETS: dict[str, DatasetSpec] = {
    "dsprites": DatasetSpec("dsprites", "dSprites: 737,280 binary 64×64 sprites, 5 ground-truth factors (generated)",
                            "images", (1, 64, 64), lambda download=False, path=None: DSpritesData(path),
                            has_factors=True),
    "dsprites-squares-ellipses": DatasetSpec(
        "dsprites-squares-ellipses", "dSprites' squares (domain A) and ellipses (domain B), unpaired, for image "
        "translation: each batch is half squares, half ellipses, drawn independently (generated)", "images", (1, 64, 64),
        lambda download=False, path=None: DSpritesDomains(path), has_factors=True, has_labels=True),
    "ring": DatasetSpec("ring", "8 Gaussians on the unit circle, std 0.01 (mode collapse)", "points", (2,),
                        lambda download=False, path=None: MixtureData("ring", ring_centres(), 0.01), has_labels=True),
    "grid": DatasetSpec("grid", "25 Gaussians on a 5×5 grid, spacing 2, std 0.05 (mode collapse)", "points", (2,),
                        lambda download=False, path=None: MixtureData("grid", grid_centres(), 0.05), has_labels=True),
    "digits": DatasetSpec("digits", "scikit-learn handwritten digits: 1,797 8×8 images, 10 labels", "images",
                          (1, 8, 8), lambda download=False, path=None: _load_digits(), has_labels=True),
    "digits-binary": DatasetSpec("digits-binary", "the digits with binary pixels, each on with probability its grey "
                                 "level, drawn afresh for every batch: 1,797 8×8 images, 10 labels", "images", (1, 8, 8),
                                 lambda download=False, path=None: _load_digits_binary(), has_labels=True),
    "mnist": DatasetSpec("mnist", "MNIST: 60,000 28×28 digits (torchvision files from a local folder)", "images",
                         (1, 28, 28), lambda download=False, path=None: _load_mnist_like("MNIST", "MNIST", download, path and Path(path)),
                         builtin=False, has_labels=True),
    "fashion-mnist": DatasetSpec("fashion-mnist", "Fashion-MNIST: 60,000 28×28 clothes (local folder)", "images",
                                 (1, 28, 28),
                                 lambda download=False, path=None: _load_mnist_like("Fashion-MNIST", "FashionMNIST", download,
                                                                                    path and Path(path)),
                                 builtin=False, has_labels=True),
    "cifar10": DatasetSpec("cifar10", "CIFAR-10: 50,000 32×32 colour images (local folder)", "images", (3, 32, 32),
                           lambda download=False, path=None: _load_cifar10(download, path and Path(path)), builtin=False, has_labels=True),
    "celeba": DatasetSpec("celeba", "CelebA faces, centre crop resized to 32×32 (local folder)", "images", (3, 32, 32),
                          lambda download=False, path=None: _load_celeba(download, path and Path(path)), builtin=False),
}


def load_dataset(name: str, download: bool = False, path: str | os.PathLike | None = None,
                 image_size: int | None = None):
    """Build the dataset called `name` (see DATASETS), or your own named by a spec: points:FILE.csv,
    images:DIR, images@SIZE:DIR (genlab.userdata; `image_size` for images:DIR). `path`: the original
    dSprites .npz, or the folder of a torchvision dataset; `download`: allow a download when the files
    are missing."""
    from genlab import userdata

    if userdata.is_spec(name):
        return userdata.load_spec(name, image_size)
    if name not in DATASETS:
        raise ValueError(f"unknown dataset '{name}'; choose one of: {', '.join(DATASETS)}, or your own as "
                         "points:FILE.csv or images:DIR")
    if image_size is not None:
        raise ValueError(f"an image size applies to images:DIR only; {name} has its own size")
    return DATASETS[name].load(download=download, path=path)


def data_label(name: str) -> str:
    """A dataset's name as a run folder may carry it: the name, or for a spec 'points-FILE' / 'images-DIR'."""
    from genlab import userdata

    return userdata.short_name(name) if userdata.is_spec(name) else name


def dataset_status() -> list[dict]:
    """One row per dataset: is it usable now? (for the home page and `genlab info`)."""
    rows = []
    for spec in DATASETS.values():
        if spec.builtin:
            ok, note = True, "built in"
        else:
            try:
                spec.load(download=False)
                ok, note = True, f"found under {data_root()}"
            except DatasetMissing as e:
                ok, note = False, str(e)
            except Exception as e:  # a corrupt file: say so, don't crash the listing
                ok, note = False, f"{spec.name} could not be read: {e}"
        rows.append({"name": spec.name, "description": spec.description, "shape": "×".join(map(str, spec.shape)),
                     "available": ok, "note": note})
    return rows
