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


def cpu_name() -> str:
    """The processor's model name ("AMD EPYC ...") from /proc/cpuinfo on Linux, else what the
    platform module knows: recorded with every run, since CPU kernels (and thread counts) change
    the last bits of a training run."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


COMPUTE_KEYS = ("device", "device_name", "cpu", "threads")  # what compute_facts records


def compute_facts(dev: torch.device) -> dict:
    """Where a run computed: device, its name, the CPU and torch's thread count. With the seed these
    are what a bit-identical rerun needs to match (measured: the digits classifier's weights differ
    between 1 and 2 threads on the same CPU)."""
    dev = torch.device(dev)
    return {"device": str(dev), "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
            "cpu": cpu_name(), "threads": torch.get_num_threads()}


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
