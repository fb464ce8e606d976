"""The home page under Streamlit's AppTest: device, datasets, checkpoints, no exception."""

from pathlib import Path

import pytest
from conftest import tiny_cfg
from streamlit.testing.v1 import AppTest

from genlab.data import DATASETS, load_dataset
from genlab.train import TrainConfig, fit

APP = Path(__file__).resolve().parents[1] / "app.py"


@pytest.fixture
def ckpt_dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLAB_CHECKPOINTS", str(tmp_path / "checkpoints"))
    monkeypatch.setenv("GENLAB_RUNS", str(tmp_path / "runs"))
    return tmp_path


def _run():
    import streamlit as st

    st.cache_data.clear()
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    return at


def test_home_page_lists_device_and_datasets(ckpt_dirs):
    at = _run()
    assert at.metric[0].value == "CPU"
    datasets = at.table[0].value
    assert list(datasets["dataset"]) == list(DATASETS)
    assert any("No checkpoints found" in i.value for i in at.info)


def test_home_page_shows_a_new_checkpoint_without_restart(ckpt_dirs):
    _run()
    digits = load_dataset("digits")
    fit(tiny_cfg("vae", digits), digits, TrainConfig(steps=2, batch_size=4, out=str(ckpt_dirs / "runs" / "mine"),
                                                     name="mine"), progress=False)
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.run()
    table = at.table[-1].value
    assert list(table["name"]) == ["mine"] and list(table["model"]) == ["vae"]


def test_a_broken_checkpoint_is_a_warning_not_a_crash(ckpt_dirs):
    (ckpt_dirs / "checkpoints").mkdir()
    (ckpt_dirs / "checkpoints" / "bad.safetensors").write_bytes(b"junk")
    at = _run()
    assert any("truncated or corrupt" in w.value for w in at.warning)
