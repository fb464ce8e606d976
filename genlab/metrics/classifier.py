"""A small conv label classifier for domain features (the Inception substitute) and label coverage.

Inception weights cannot be downloaded here, so Fréchet distance, KID, precision/recall and
density/coverage use the penultimate layer of this network trained on the dataset itself;
say so next to every such number.
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["SmallConvClassifier", "train_classifier", "classifier_features", "predict_labels", "predict_proba"]


class SmallConvClassifier(nn.Module):
    """Conv 3×3 (width) → conv 3×3/2 (2·width) → conv 3×3/2 (2·width) → adaptive avg-pool (pool×pool) → FC
    feature_dim → FC n_classes; any C×H×W input ≥ 3×3."""

    def __init__(
        self, in_channels: int = 1, n_classes: int = 10, width: int = 32, feature_dim: int = 128, pool: int = 4
    ) -> None:
        super().__init__()
        self.in_channels, self.n_classes, self.width, self.feature_dim, self.pool = (
            in_channels, n_classes, width, feature_dim, pool,
        )
        self.conv = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(2 * width, 2 * width, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(pool),
            nn.Flatten(),
        )
        self.fc = nn.Sequential(nn.Linear(2 * width * pool * pool, feature_dim), nn.ReLU())
        self.head = nn.Linear(feature_dim, n_classes)

    def config(self) -> dict:
        """Constructor arguments (ints), for saving alongside the state dict."""
        return {
            "in_channels": self.in_channels,
            "n_classes": self.n_classes,
            "width": self.width,
            "feature_dim": self.feature_dim,
            "pool": self.pool,
        }

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate-layer features (N, feature_dim)."""
        return self.fc(self.conv(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _as_images(images: Any, in_channels: int | None = None) -> torch.Tensor:
    """(N,H,W) or (N,C,H,W) array/tensor -> float32 tensor (N,C,H,W) on CPU-or-its-device."""
    x = images if isinstance(images, torch.Tensor) else torch.from_numpy(np.asarray(images))
    x = x.float()
    if x.ndim == 3:
        x = x.unsqueeze(1)
    if x.ndim != 4:
        raise ValueError(f"images must be (N,H,W) or (N,C,H,W); got {tuple(x.shape)}")
    if in_channels is not None and x.shape[1] != in_channels:
        raise ValueError(f"model expects {in_channels} channels, images have {x.shape[1]}")
    return x


@contextlib.contextmanager
def _deterministic(device: torch.device):
    old = torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark
    if device.type == "cuda":
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    try:
        yield
    finally:
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = old


def training_facts(steps: int, batch_size: int, seed: int, device, wall_s: float) -> dict:
    """What a classifier checkpoint's sidecar records of its training, as a model's does: steps,
    batch size, seed, where it computed (genlab.device.compute_facts), wall time, torch version."""
    from genlab.device import compute_facts

    return {"steps": steps, "batch_size": batch_size, "seed": seed, **compute_facts(device),
            "wall_time_s": round(wall_s, 1), "torch_version": torch.__version__}


def train_classifier(
    images: Any,
    labels: Any,
    n_classes: int,
    steps: int = 500,
    batch_size: int = 64,
    lr: float = 1e-3,
    device: str | torch.device = "cpu",
    seed: int = 0,
    width: int = 32,
    feature_dim: int = 128,
    weight_decay: float = 0.0,
) -> SmallConvClassifier:
    """Train SmallConvClassifier with Adam on cross-entropy (500 steps of 64, lr 1e-3); same seed ⇒ same weights
    (bitwise on CPU). Returns the model in eval mode."""
    device = torch.device(device)
    x = _as_images(images)
    y = torch.as_tensor(np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels), dtype=torch.long)
    if len(x) != len(y):
        raise ValueError("images and labels differ in length")
    with torch.random.fork_rng(devices=[]), _deterministic(device):
        torch.manual_seed(seed)
        model = SmallConvClassifier(x.shape[1], n_classes, width, feature_dim).to(device)
        opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
        order = np.random.default_rng(seed)
        x_dev, y_dev = x.to(device), y.to(device)
        model.train()
        perm, pos = order.permutation(len(x)), 0
        for _ in range(steps):
            if pos + batch_size > len(perm):
                perm, pos = order.permutation(len(x)), 0
            idx = torch.as_tensor(perm[pos : pos + batch_size], device=device)
            pos += batch_size
            loss = F.cross_entropy(model(x_dev[idx]), y_dev[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return model.eval()


@torch.no_grad()
def _batched(model: SmallConvClassifier, images: Any, fn, batch_size: int) -> torch.Tensor:
    device = next(model.parameters()).device
    x = _as_images(images, model.in_channels)
    was_training = model.training
    model.eval()
    out = [fn(x[s : s + batch_size].to(device)).cpu() for s in range(0, len(x), batch_size)]
    model.train(was_training)
    return torch.cat(out) if out else torch.empty(0)


def classifier_features(model: SmallConvClassifier, images: Any, batch_size: int = 512) -> np.ndarray:
    """Penultimate-layer features (N, feature_dim) float32 numpy, batched on the model's device."""
    return _batched(model, images, model.features, batch_size).numpy()


def predict_labels(model: SmallConvClassifier, images: Any, batch_size: int = 512) -> np.ndarray:
    """Argmax class (N,) int64 numpy."""
    return _batched(model, images, model, batch_size).argmax(1).numpy()


def predict_proba(model: SmallConvClassifier, images: Any, batch_size: int = 512) -> np.ndarray:
    """Softmax class probabilities (N, n_classes) numpy."""
    return torch.softmax(_batched(model, images, model, batch_size), dim=1).numpy()
