"""Experience replay for the discriminator (Shrivastava et al. 2017; Pfau & Vinyals 2016): the pool
fills with the first fakes, then swaps about half of each batch for pooled ones, which keep their codes;
the discriminator step sees the mixed batch; the settings that cannot use it are refused."""

import pytest
import torch

from genlab.models import GenerativeModel, ReplayPool, StepContext, gan_d_step, make_config


def batch(start: int, n: int = 8):
    """Fakes whose every value is their serial number, and codes equal to it: what was pooled is readable."""
    ids = torch.arange(start, start + n, dtype=torch.float32)
    return ids[:, None].repeat(1, 2), ids[:, None].repeat(1, 3)


def test_the_pool_fills_first_then_swaps_about_half_for_past_fakes_with_their_codes():
    pool, gen = ReplayPool(16), torch.Generator().manual_seed(0)
    for start in (0, 8):  # filling: shown as they are
        x, z = batch(start)
        got_x, got_z = pool.mix(x, z, gen)
        assert torch.equal(got_x, x) and torch.equal(got_z, z)
    assert len(pool) == 16
    swapped, total = 0, 0
    for start in range(16, 16 + 8 * 200, 8):
        x, z = batch(start)
        before = set(pool.x[:, 0].tolist())
        got_x, got_z = pool.mix(x, z, gen)
        assert torch.equal(got_x[:, :1].expand(-1, 3), got_z)  # a fake keeps its own code
        ids, own = got_x[:, 0], x[:, 0]
        # a fake is shown in its place, or swapped for one from the pool (which may by then hold one of
        # this batch's earlier fakes, as in CycleGAN's pool, where the swaps go one by one)
        assert set(ids[ids != own].tolist()) <= before | set(own.tolist())
        swapped += int((ids != own).sum())
        total += len(ids)
        assert len(pool) == 16 and set(pool.x[:, 0].tolist()) <= before | set(own.tolist())
    assert 0.45 < swapped / total < 0.55  # each fake swapped with probability ½


def test_a_pool_that_fills_inside_one_batch_shows_the_rest_of_that_batch_swapped_or_not():
    pool, gen = ReplayPool(5), torch.Generator().manual_seed(1)
    x, z = batch(0)
    got_x, _ = pool.mix(x, z, gen)
    assert torch.equal(got_x[:5], x[:5]) and len(pool) == 5
    assert set(got_x[5:, 0].tolist()) <= set(range(8))


def test_the_discriminator_step_sees_pooled_fakes_and_the_generator_does_not_use_them():
    m = GenerativeModel(make_config("gan", "ring", (2,), latent_dim=2, replay=4))
    ctx = StepContext(0, torch.Generator().manual_seed(0))
    x = torch.randn(8, 2)
    gan_d_step(m, x, ctx)
    assert len(m.replay) == 4
    pooled = m.replay.x.clone()
    gan_d_step(m, x, ctx)
    assert not torch.equal(m.replay.x, pooled)  # later fakes took some places
    assert GenerativeModel(make_config("gan", "ring", (2,))).replay is None


@pytest.mark.parametrize("model,data,kw,match", [
    ("vae", "ring", {}, "applies to the discriminator step of gan"),
    ("ebgan", "ring", {}, "applies to the discriminator step of gan"),
    ("gan", "ring", {"consensus": 1.0}, "do not combine"),
])
def test_replay_is_refused_where_there_is_no_plain_discriminator_step(model, data, kw, match):
    with pytest.raises(ValueError, match=match):
        make_config(model, data, (2,), replay=8, **kw)
