"""Checkpoints: bit-identical round trips for every model, clear errors, atomic writes, no pickle."""

import dataclasses
import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import tiny_cfg

from genlab.checkpoint import CheckpointError, list_checkpoints, load_checkpoint, read_metadata, save_checkpoint, update_metadata
from genlab.data import load_dataset
from genlab.models import MODELS, GenerativeModel
from genlab.train import TrainConfig, fit

POINT_MODELS = ("gan", "wgan", "wgan-gp", "infogan", "ebgan", "aae")
CASES = [(m, d) for d in ("dsprites", "digits") for m in MODELS
         if (d == "digits" or not MODELS[m].autoregressive) and (d == "dsprites" or not MODELS[m].text)] + \
        [(m, "ring") for m in POINT_MODELS] + [(m, "grid") for m in ("gan", "aae")]  # pixel by pixel: 8×8 only


@pytest.mark.parametrize("model_name,data_name", CASES)
def test_train_save_reload_gives_bit_identical_outputs(tmp_path, model_name, data_name):
    data = load_dataset(data_name)
    cfg = tiny_cfg(model_name, data)
    r = fit(cfg, data, TrainConfig(steps=2, batch_size=4, out=str(tmp_path)), progress=False)
    model, meta = load_checkpoint(tmp_path / "model")
    assert meta["config"]["model"] == model_name and meta["dataset"] == data_name
    if model.spec.translator:  # no code z: both translations must come back bit for bit
        x = data.sample(4, torch.Generator().manual_seed(0))["x"]
        for direction in ("a2b", "b2a"):
            assert torch.equal(r.model.eval().translate(x, direction), model.translate(x, direction))
        assert model.latent_layout() == r.model.latent_layout() == []
        return
    z = r.model.prior(5, torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(r.model.eval().decode(z), model.decode(z))
        if model.has_encoder:
            x = data.sample(3, torch.Generator().manual_seed(0))["x"]
            for a, b in zip(r.model.encode(x), model.encode(x)):
                assert torch.equal(a, b)
    assert model.latent_layout() == r.model.latent_layout()


def _small_model(**kw):
    return GenerativeModel(tiny_cfg("vae", load_dataset("digits"), **kw))


def test_missing_checkpoint_is_named(tmp_path):
    with pytest.raises(CheckpointError, match=r"'.*nothere\.safetensors' not found"):
        load_checkpoint(tmp_path / "nothere")


def test_truncated_checkpoint_is_reported(tmp_path):
    stem = save_checkpoint(tmp_path / "m", _small_model())
    w = stem.with_suffix(".safetensors")
    w.write_bytes(w.read_bytes()[: w.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(stem)


def test_garbage_file_is_reported(tmp_path):
    (tmp_path / "g.safetensors").write_bytes(os.urandom(300))
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(tmp_path / "g")


def test_mismatched_weights_are_reported(tmp_path):
    a = save_checkpoint(tmp_path / "a", _small_model(latent_dim=3))
    b = save_checkpoint(tmp_path / "b", _small_model(latent_dim=5))
    # b's weights under a's header: the config says latent_dim 3, the tensors are for 5
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(b.with_suffix(".safetensors")), "pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    with safe_open(str(a.with_suffix(".safetensors")), "pt") as f:
        header = f.metadata()
    save_file(tensors, str(tmp_path / "c.safetensors"), metadata=header)
    with pytest.raises(CheckpointError, match="does not fit a 'vae' model"):
        load_checkpoint(tmp_path / "c")


def test_a_safetensors_file_that_is_not_genlab_is_reported(tmp_path):
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(tmp_path / "x.safetensors"))
    with pytest.raises(CheckpointError, match="not a genlab checkpoint"):
        load_checkpoint(tmp_path / "x")


def test_a_pickle_is_never_executed(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    (tmp_path / "evil.safetensors").write_bytes(pickle.dumps(Evil()))
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "evil")
    assert not marker.exists()


def test_sidecar_rebuilt_when_it_does_not_match_the_weights(tmp_path):
    stem = save_checkpoint(tmp_path / "m", _small_model(), {"steps": 5})
    side = stem.with_suffix(".json")
    stale = json.loads(side.read_text())
    save_checkpoint(tmp_path / "m", _small_model(latent_dim=4), {"steps": 9})
    side.write_text(json.dumps(stale))  # as if killed between the two renames
    meta = read_metadata(stem)
    assert meta["steps"] == 9 and meta["config"]["latent_dim"] == 4
    assert json.loads(side.read_text())["steps"] == 9
    model, _ = load_checkpoint(stem)
    assert model.cfg.latent_dim == 4


def test_failed_save_leaves_the_previous_checkpoint_and_no_temp_files(tmp_path, monkeypatch):
    stem = save_checkpoint(tmp_path / "m", _small_model(), {"steps": 1})
    import genlab.checkpoint as ck

    def boom(tensors, path, metadata=None):
        Path(path).write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(ck, "save_file", boom)
    with pytest.raises(OSError):
        save_checkpoint(tmp_path / "m", _small_model(), {"steps": 2})
    assert read_metadata(stem)["steps"] == 1
    load_checkpoint(stem)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "m.safetensors"]


SAVER = """
import sys, torch
from genlab.data import load_dataset
from genlab.models import GenerativeModel, make_config
from genlab.checkpoint import save_checkpoint
d = load_dataset("digits")
m = GenerativeModel(make_config("vae", "digits", d.shape, latent_dim=3))
i = 0
print("ready", flush=True)
while True:
    with torch.no_grad():
        for p in m.parameters():
            p.add_(1.0)
    save_checkpoint(sys.argv[1], m, {"steps": i})
    i += 1
"""


def test_killing_the_process_during_saves_never_breaks_the_checkpoint(tmp_path):
    stem = tmp_path / "m"
    for delay in (0.3, 0.7, 1.1):
        proc = subprocess.Popen([sys.executable, "-c", SAVER, str(stem)], stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        model, meta = load_checkpoint(stem)  # whatever instant it died, the checkpoint loads
        first = next(model.parameters()).flatten()[0].item()
        assert meta["steps"] >= 0 and torch.isfinite(torch.tensor(first))


def test_metrics_are_merged_into_the_sidecar(tmp_path):
    stem = save_checkpoint(tmp_path / "m", _small_model())
    update_metadata(stem, metrics={"mig": 0.2})
    update_metadata(stem, metrics={"sap": 0.05})
    assert read_metadata(stem)["metrics"] == {"mig": 0.2, "sap": 0.05}
    load_checkpoint(stem)  # the weights are untouched


def test_list_checkpoints_reports_good_and_broken_files(tmp_path):
    save_checkpoint(tmp_path / "good", _small_model(), {"steps": 3})
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "bad.safetensors").write_bytes(b"nope")
    rows = list_checkpoints(tmp_path)
    good, bad = [r for r in rows if r.ok], [r for r in rows if not r.ok]
    assert [(r.kind, r.model, r.data, r.steps, r.name) for r in good] == [("model", "vae", "digits", 3, "good")]
    assert good[0].path == str(tmp_path / "good") and good[0].config["model"] == "vae" and good[0].meta["steps"] == 3
    assert len(bad) == 1 and "bad.safetensors" in bad[0].error and not bad[0].model
    assert bad[0].summary() == {"path": str(tmp_path / "sub" / "bad"), "error": bad[0].error}
    assert "meta" not in good[0].summary() and good[0].summary()["model"] == "vae"
    with pytest.raises(dataclasses.FrozenInstanceError):  # a listing is read, never edited in place
        good[0].steps = 4


def test_half_precision_checkpoint_is_smaller_and_close(tmp_path):
    m = _small_model()
    full = save_checkpoint(tmp_path / "f", m)
    half = save_checkpoint(tmp_path / "h", m, half=True)
    assert half.with_suffix(".safetensors").stat().st_size < 0.6 * full.with_suffix(".safetensors").stat().st_size
    mh, meta = load_checkpoint(half)
    assert meta["dtype"] == "float16" and next(mh.parameters()).dtype == torch.float32
    z = torch.randn(4, 3)
    with torch.no_grad():
        torch.testing.assert_close(mh.decode(z), m.eval().decode(z), atol=2e-3, rtol=0)


def test_a_gan_with_pacgans_discriminator_reloads_with_the_same_discriminator(tmp_path):
    """The discriminator's own size and maxout pieces travel in the checkpoint's config."""
    data = load_dataset("grid")
    cfg = tiny_cfg("gan", data, d_mlp_width=16, d_mlp_layers=3, maxout=3, pack=2)
    r = fit(cfg, data, TrainConfig(steps=2, batch_size=4, out=str(tmp_path)), progress=False)
    model, meta = load_checkpoint(tmp_path / "model")
    assert (meta["config"]["maxout"], meta["config"]["d_mlp_width"], meta["config"]["d_mlp_layers"]) == (3, 16, 3)
    x = data.sample(4, torch.Generator().manual_seed(0))["x"]
    with torch.no_grad():
        assert torch.equal(r.model.eval().nets["disc"](x)["logit"], model.nets["disc"](x)["logit"])
