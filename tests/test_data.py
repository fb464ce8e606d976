"""The dataset interface: shapes, ranges, labels, factors, mixtures, readers and missing files."""

import gzip

import numpy as np
import pytest
import torch

from genlab import dsprites
from genlab.data import DATASETS, DatasetMissing, ImageData, load_dataset


def test_digits_shape_range_and_labels(digits):
    assert digits.shape == (1, 8, 8) and len(digits) == 1797 and digits.n_classes == 10
    b = digits.get(torch.arange(1797))
    assert b["x"].dtype == torch.float32 and b["x"].min() == 0 and b["x"].max() == 1
    assert torch.bincount(b["y"]).tolist()[:3] == [178, 182, 177]  # sklearn's known class counts


def test_sampling_is_reproducible_with_a_generator(digits):
    a = digits.sample(32, torch.Generator().manual_seed(3))["x"]
    b = digits.sample(32, torch.Generator().manual_seed(3))["x"]
    c = digits.sample(32, torch.Generator().manual_seed(4))["x"]
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize("name,n_modes,std", [("ring", 8, 0.01), ("grid", 25, 0.05)])
def test_mixtures_expose_modes_and_sample_around_them(name, n_modes, std):
    data = load_dataset(name)
    assert data.centres.shape == (n_modes, 2) and data.std == std
    out = data.sample(20000, torch.Generator().manual_seed(0))
    x, y = out["x"], out["y"]
    dist = (x - torch.from_numpy(data.centres)[y]).norm(dim=1)
    assert dist.max() < 6 * std  # every point sits at its own mode
    assert torch.bincount(y, minlength=n_modes).min() > 20000 / n_modes * 0.8  # equal weights
    if name == "ring":
        assert np.allclose(np.linalg.norm(data.centres, axis=1), 1.0)
    else:
        assert sorted(set(data.centres[:, 0].tolist())) == [-4, -2, 0, 2, 4]


def test_dsprites_interface_matches_the_renderer():
    data = load_dataset("dsprites")
    assert data.shape == (1, 64, 64) and len(data) == 737280
    assert data.factor_sizes == [3, 6, 40, 32, 32]
    idx = np.array([0, 1, 12345, 737279])
    b = data.get(idx)
    assert torch.equal(b["x"][:, 0], torch.from_numpy(dsprites.render_index(idx)).float())
    assert b["factors"].tolist()[-1] == [2, 5, 39, 31, 31]
    rng = np.random.default_rng(0)
    f = data.sample_factors(50, rng)
    assert f.shape == (50, 5) and (f < np.array(data.factor_sizes)).all()
    imgs = data.images_from_factors(f)
    full = np.concatenate([np.zeros((50, 1), int), f], 1)
    assert np.array_equal(imgs[:, 0], dsprites.render(full).astype(np.float32))


def test_image_data_rejects_wrong_shapes():
    with pytest.raises(ValueError, match="N×C×H×W"):
        ImageData("bad", np.zeros((4, 2, 3, 5, 5)))


def test_unknown_dataset_is_named():
    with pytest.raises(ValueError, match="unknown dataset 'nope'.*dsprites"):
        load_dataset("nope")


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist", "cifar10", "celeba"])
def test_missing_torchvision_dataset_says_where_to_put_it(name, tmp_path, monkeypatch):
    monkeypatch.setenv("GENLAB_DATA", str(tmp_path))
    with pytest.raises(DatasetMissing) as e:
        load_dataset(name)
    msg = str(e.value)
    assert str(tmp_path) in msg and "put" in msg and "\n" not in msg


def _write_idx(path, arr):
    header = bytes([0, 0, 8, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + arr.astype(np.uint8).tobytes())


def test_mnist_reader_reads_idx_files_from_a_local_folder(tmp_path, monkeypatch):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    imgs = np.random.default_rng(0).integers(0, 256, (7, 28, 28))
    _write_idx(raw / "train-images-idx3-ubyte.gz", imgs)
    _write_idx(raw / "train-labels-idx1-ubyte.gz", np.arange(7))
    monkeypatch.setenv("GENLAB_DATA", str(tmp_path))
    data = load_dataset("mnist")
    assert data.shape == (1, 28, 28) and len(data) == 7
    assert torch.allclose(data.get([3])["x"][0, 0], torch.from_numpy(imgs[3] / 255.0).float())
    assert data.get([6])["y"].item() == 6


def test_truncated_idx_file_is_reported(tmp_path, monkeypatch):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    _write_idx(raw / "train-images-idx3-ubyte.gz", np.zeros((7, 28, 28)))
    with gzip.open(raw / "train-labels-idx1-ubyte.gz", "wb") as f:
        f.write(bytes([0, 0, 8, 1]) + (100).to_bytes(4, "big") + bytes(10))
    monkeypatch.setenv("GENLAB_DATA", str(tmp_path))
    with pytest.raises(ValueError, match="truncated"):
        load_dataset("mnist")


def test_cifar_binary_reader(tmp_path, monkeypatch):
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    recs = np.zeros((5, 3073), np.uint8)
    recs[:, 0] = [0, 1, 2, 3, 9]
    recs[2, 1:1025] = 255  # red channel of image 2
    recs.tofile(folder / "data_batch_1.bin")
    monkeypatch.setenv("GENLAB_DATA", str(tmp_path))
    data = load_dataset("cifar10")
    assert data.shape == (3, 32, 32) and len(data) == 5
    x = data.get([2])["x"][0]
    assert x[0].min() == 1 and x[1].max() == 0 and data.get([4])["y"].item() == 9


def test_every_registered_dataset_has_a_consistent_spec():
    for name, spec in DATASETS.items():
        assert spec.name == name and spec.kind in ("images", "points")
        if spec.builtin:
            assert load_dataset(name).shape == spec.shape
