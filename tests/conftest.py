import os

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
