"""Device choice, seeding and a summary of the machine (for the home page and `genlab info`)."""

from __future__ import annotations

import os
import platform
import random

import numpy as np
import torch


def pick_device(name: str | None = "auto") -> torch.device:
    """cuda, then mps, then cpu when `name` is "auto"; otherwise the device asked for.

    Asking for a device that is not there is an error that says what is available."""
    if name in (None, "", "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device '{name}' was asked for but no CUDA GPU is visible; use --device cpu or auto")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(f"device '{name}' was asked for but Apple MPS is not available; use --device cpu or auto")
    return dev


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) so a run is reproducible on the same device."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def device_summary() -> dict:
    """Versions and the device genlab would use: shown on the home page and by `genlab info`."""
    from genlab import __version__

    dev = pick_device("auto")
    info = {
        "genlab": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "device": str(dev),
        "cpu_threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "cuda_available": torch.cuda.is_available(),
    }
    if dev.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(0)
        info["gpu_memory_gib"] = round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
    for mod in ("torchvision", "streamlit", "sklearn", "umap", "safetensors", "plotly"):
        try:
            m = __import__(mod)
            info[mod] = getattr(m, "__version__", "?")
        except Exception:  # an optional package missing is shown, not fatal
            info[mod] = "not installed"
    info["omp_threads_env"] = os.environ.get("OMP_NUM_THREADS", "")
    return info
