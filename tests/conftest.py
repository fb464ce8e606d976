import contextlib
import os
from pathlib import Path

import pytest
import torch

# Two cores: keep each test process on a predictable thread count.
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture
def digits():
    from genlab.data import load_dataset

    return load_dataset("digits")


def tiny_cfg(model, data, **kw):
    from genlab.models import make_config

    kw.setdefault("latent_dim", 3 if data.kind == "images" else 2)
    return make_config(model, data.name, data.shape, **kw)


@contextlib.contextmanager
def one_thread():
    """Build a fixture's tiny models on one thread, then give the test process its threads back."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@contextlib.contextmanager
def lab_env(root: Path, checkpoints: str = "checkpoints"):
    """Point the app at ROOT/CHECKPOINTS, with runs and caches of its own under ROOT, for a module's tests."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GENLAB_CHECKPOINTS", str(root / checkpoints))
        mp.setenv("GENLAB_RUNS", str(root / "runs"))
        mp.setenv("GENLAB_CACHE", str(root / "cache"))
        yield root


def run_page(path, query: dict | None = None, timeout: float = 180):
    """Run one page script under AppTest once, with optional query parameters; fail on any exception."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(path), default_timeout=timeout)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at
