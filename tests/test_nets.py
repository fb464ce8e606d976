"""Network options: PacGAN packing and the MLP sizes for 2-D points."""

import pytest
import torch
from torch import nn

from genlab import nets
from genlab.models import GenerativeModel, make_config


def test_a_packed_discriminator_gives_one_logit_per_pack_and_sees_only_its_own_pack():
    torch.manual_seed(0)
    d = nets.Discriminator((2,), pack=4)
    x = torch.randn(8, 2)
    logit = d(x)["logit"]
    assert logit.shape == (2,)
    y = x.clone()
    y[5] += 3.0  # a sample of the second pack
    moved = d(y)["logit"]
    assert moved[0] == logit[0] and moved[1] != logit[1]
    # the pack is the concatenation of its samples, in order
    assert torch.equal(d.packed(x)[1], x[4:8].reshape(-1))


def test_packing_images_stacks_channels():
    d = nets.Discriminator((1, 8, 8), pack=2)
    x = torch.randn(4, 1, 8, 8)
    assert d.packed(x).shape == (2, 2, 8, 8)
    assert d(x)["logit"].shape == (2,)


def test_a_batch_that_does_not_split_into_packs_is_refused_in_one_sentence():
    d = nets.Discriminator((2,), pack=4)
    with pytest.raises(ValueError, match="divisible by 4"):
        d(torch.randn(6, 2))


def test_packing_is_refused_for_models_without_a_packable_discriminator():
    with pytest.raises(ValueError, match="packing"):
        make_config("aae", "ring", (2,), pack=4)
    with pytest.raises(ValueError, match="at least 1"):
        make_config("gan", "ring", (2,), pack=0)


def test_mlp_width_layers_and_batch_norm_shape_the_point_networks():
    cfg = make_config("gan", "grid", (2,), mlp_width=400, mlp_layers=4, batch_norm=True)
    m = GenerativeModel(cfg)
    gen = [l for l in m.nets["gen"].modules() if isinstance(l, nn.Linear)]
    assert [l.out_features for l in gen] == [400, 400, 400, 400, 2]
    assert sum(isinstance(l, nn.BatchNorm1d) for l in m.nets["gen"].modules()) == 4
    disc = [l for l in m.nets["disc"].body.modules() if isinstance(l, nn.Linear)]
    assert len(disc) == 4 and disc[0].in_features == 2
    assert not any(isinstance(l, nn.BatchNorm1d) for l in m.nets["disc"].modules())


def test_default_point_networks_keep_the_parameter_names_of_shipped_checkpoints():
    """Checkpoints written before these options existed must still load: same keys, same shapes."""
    m = GenerativeModel(make_config("gan", "ring", (2,)))
    shapes = {k: tuple(v.shape) for k, v in m.state_dict().items()}
    assert shapes == {
        "nets.gen.net.net.0.weight": (128, 10), "nets.gen.net.net.0.bias": (128,),
        "nets.gen.net.net.2.weight": (128, 128), "nets.gen.net.net.2.bias": (128,),
        "nets.gen.net.net.4.weight": (2, 128), "nets.gen.net.net.4.bias": (2,),
        "nets.disc.body.net.0.weight": (128, 2), "nets.disc.body.net.0.bias": (128,),
        "nets.disc.body.net.2.weight": (128, 128), "nets.disc.body.net.2.bias": (128,),
        "nets.disc.head.weight": (1, 128), "nets.disc.head.bias": (1,),
    }


def test_minibatch_discrimination_counts_close_neighbours_per_kernel():
    torch.manual_seed(0)
    mbd = nets.MinibatchDiscrimination(3, n_kernels=4, kernel_dim=2)
    same = torch.ones(5, 3)
    out = mbd(same)
    assert out.shape == (5, 3 + 4)
    assert torch.equal(out[:, :3], same)  # the features pass through
    # five identical samples: each sees four exact matches, exp(0) = 1 per kernel
    assert torch.allclose(out[:, 3:], torch.full((5, 4), 4.0))
    # two samples: each kernel gives exp(-L1 distance of their projections)
    x = torch.randn(2, 3)
    m = (x @ mbd.T).view(2, 4, 2)
    expected = torch.exp(-(m[0] - m[1]).abs().sum(-1))
    o = mbd(x)[:, 3:]
    assert torch.allclose(o[0], expected, atol=1e-6) and torch.allclose(o[1], expected, atol=1e-6)
    # far-apart samples see nobody
    far = torch.tensor([[0.0, 0.0, 0.0], [1e3, -1e3, 1e3]])
    with torch.no_grad():
        mbd.T.fill_(1.0)
    assert torch.allclose(mbd(far)[:, 3:], torch.zeros(2, 4))


def test_batch_norm_in_an_image_generator_normalises_every_hidden_layer():
    torch.manual_seed(0)
    plain = nets.Decoder((1, 64, 64), 10)
    dcgan = nets.Decoder((1, 64, 64), 10, batch_norm=True)
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in plain.modules())
    bns = [m for m in dcgan.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert len(bns) == 2 + 3  # two FC layers, three hidden deconvs; none on the output
    # in training mode each hidden layer's output is normalised over the batch
    seen = []
    hooks = [bn.register_forward_hook(lambda mod, i, o: seen.append(o)) for bn in bns]
    out = dcgan(torch.randn(32, 10) * 5 + 3)
    for h in hooks:
        h.remove()
    assert out.shape == (32, 1, 64, 64)
    for o in seen:
        dims = [0] if o.dim() == 2 else [0, 2, 3]
        assert torch.allclose(o.mean(dims), torch.zeros(1), atol=1e-4)


def test_a_maxout_unit_outputs_the_largest_of_its_pieces():
    layer = nets.Maxout(2, units=2, pieces=3)
    with torch.no_grad():
        # unit 0: pieces x0, x1, −x0; unit 1: pieces 1, 2·x0, x0 + x1 (rows are unit-major)
        layer.linear.weight.copy_(torch.tensor([[1., 0.], [0., 1.], [-1., 0.], [0., 0.], [2., 0.], [1., 1.]]))
        layer.linear.bias.copy_(torch.tensor([0., 0., 0., 1., 0., 0.]))
    x = torch.tensor([[-2.0, 0.5], [3.0, -1.0]])
    # sample 0: max(−2, 0.5, 2) = 2 and max(1, −4, −1.5) = 1; sample 1: max(3, −1, −3) = 3, max(1, 6, 2) = 6
    assert torch.equal(layer(x), torch.tensor([[2.0, 1.0], [3.0, 6.0]]))


def test_pacgans_point_discriminator_has_its_own_size_and_maxout_units():
    """PacGAN's grid networks: G 4 × 400 with batch norm, D 3 × 200 maxout units of 5 pieces, packing 4."""
    cfg = make_config("gan", "grid", (2,), mlp_width=400, mlp_layers=4, batch_norm=True,
                      d_mlp_width=200, d_mlp_layers=3, maxout=5, pack=4)
    m = GenerativeModel(cfg)
    gen = [l for l in m.nets["gen"].modules() if isinstance(l, nn.Linear)]
    assert [l.out_features for l in gen] == [400, 400, 400, 400, 2]
    layers = [l for l in m.nets["disc"].body if isinstance(l, nets.Maxout)]
    assert [(l.linear.in_features, l.units, l.pieces) for l in layers] == [(8, 200, 5), (200, 200, 5), (200, 200, 5)]
    assert m.nets["disc"](torch.randn(100, 2))["logit"].shape == (25,)


def test_maxout_is_refused_where_it_does_not_apply():
    with pytest.raises(ValueError, match="maxout"):
        make_config("gan", "dsprites", (1, 64, 64), maxout=5)
    with pytest.raises(ValueError, match="maxout"):
        make_config("vae", "grid", (2,), maxout=5)
    with pytest.raises(ValueError, match="at least 1"):
        make_config("gan", "grid", (2,), maxout=0)
    with pytest.raises(ValueError, match="d_mlp_width"):
        make_config("gan", "grid", (2,), d_mlp_width=0)


def test_init_std_draws_every_weight_from_a_normal_and_zeroes_the_biases():
    """DCGAN's / PacGAN's N(0, 0.02) initialisation, against PyTorch's default (uniform ±1/√fan_in)."""
    torch.manual_seed(0)
    cfg = make_config("gan", "grid", (2,), mlp_width=400, mlp_layers=4, batch_norm=True, init_std=0.02)
    layers = [l for l in GenerativeModel(cfg).nets.modules() if isinstance(l, nn.Linear)]
    big = [l for l in layers if l.weight.numel() >= 10_000]
    assert len(big) >= 3
    for l in big:
        assert abs(float(l.weight.detach().std()) - 0.02) < 0.001
        assert abs(float(l.weight.detach().mean())) < 0.001
    assert all(float(l.bias.detach().abs().max()) == 0.0 for l in layers if l.bias is not None)
    # the default keeps PyTorch's: a 400 → 400 layer has std 1/√(3·400) ≈ 0.029 and non-zero biases
    torch.manual_seed(0)
    default = GenerativeModel(make_config("gan", "grid", (2,), mlp_width=400, mlp_layers=4, batch_norm=True))
    hidden = [l for l in default.nets["gen"].modules() if isinstance(l, nn.Linear)][1]
    assert abs(float(hidden.weight.detach().std()) - (3 * 400) ** -0.5) < 0.001
    assert float(hidden.bias.detach().abs().max()) > 0


def test_init_std_reaches_convolutions_and_is_refused_when_negative():
    cfg = make_config("gan", "dsprites", (1, 64, 64), init_std=0.02)
    convs = [l for l in GenerativeModel(cfg).nets.modules() if isinstance(l, (nn.Conv2d, nn.ConvTranspose2d))]
    assert convs and all(abs(float(c.weight.detach().std()) - 0.02) < 0.003 for c in convs if c.weight.numel() > 5_000)
    with pytest.raises(ValueError, match="init_std"):
        make_config("gan", "grid", (2,), init_std=-0.1)


def test_virtual_batch_norm_uses_the_reference_batch_plus_the_example_itself():
    vbn = nets.VirtualBatchNorm(3, reference_size=4)
    with torch.no_grad():
        vbn.weight.copy_(torch.tensor([1.0, 2.0, 0.5]))
        vbn.bias.copy_(torch.tensor([0.0, 1.0, -1.0]))
    h = torch.randn(7, 3) * 3 + 2
    out = vbn(h)
    ref = h[:4]
    for i in range(4, 7):  # each example: statistics of the reference rows and itself (Salimans et al. 2016)
        rows = torch.cat([ref, h[i : i + 1]])
        want = (h[i] - rows.mean(0)) / torch.sqrt(rows.var(0, unbiased=False) + 1e-5)
        assert torch.allclose(out[i], want * vbn.weight + vbn.bias, atol=1e-5)
    want_ref = (ref - ref.mean(0)) / torch.sqrt(ref.var(0, unbiased=False) + 1e-5)
    assert torch.allclose(out[:4], want_ref * vbn.weight + vbn.bias, atol=1e-5)
    with pytest.raises(ValueError, match="reference"):
        vbn(torch.randn(4, 3))  # nothing after the reference rows


@pytest.mark.parametrize("data, shape", [("grid", (2,)), ("dsprites", (1, 64, 64))])
def test_a_virtual_batch_norm_generator_maps_each_z_alone_in_training_and_after(data, shape):
    cfg = make_config("gan", data, shape, virtual_batch_norm=True, mlp_width=32, mlp_layers=2)
    m = GenerativeModel(cfg)
    assert not any(isinstance(x, nn.modules.batchnorm._BatchNorm) for x in m.modules())
    assert sum(isinstance(x, nets.VirtualBatchNorm) for x in m.modules()) == (2 if data == "grid" else 5)
    z = torch.randn(16, cfg.latent_dim)
    m.train()
    alone, in_batch = m.decode(z[:3]), m.decode(z)[:3]
    assert torch.allclose(alone, in_batch, atol=1e-6)
    bn = GenerativeModel(make_config("gan", data, shape, batch_norm=True, mlp_width=32, mlp_layers=2)).train()
    assert not torch.allclose(bn.decode(z[:3]), bn.decode(z)[:3], atol=1e-3)  # batch norm: depends on the batch
    m.eval()
    assert torch.allclose(m.decode(z[:3]), alone, atol=1e-6)  # no running statistics: same after training
    # the reference z is part of the weights, so a checkpoint reproduces the generator exactly
    assert "z_ref" in m.nets["gen"].state_dict()
    with pytest.raises(ValueError, match="not both"):
        make_config("gan", data, shape, virtual_batch_norm=True, batch_norm=True)


def test_conv_width_multiplies_every_image_convolution_of_a_gan_and_nothing_else():
    narrow = GenerativeModel(make_config("infogan", "dsprites", (1, 64, 64), batch_norm=True))
    wide = GenerativeModel(make_config("infogan", "dsprites", (1, 64, 64), batch_norm=True, conv_width=3))

    def channels(net):
        return [m.out_channels for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]

    gen_a, gen_b = channels(narrow.nets["gen"]), channels(wide.nets["gen"])
    assert gen_b == [3 * c for c in gen_a[:-1]] + [1]  # the output image keeps its one channel
    disc_a, disc_b = channels(narrow.nets["disc"]), channels(wide.nets["disc"])
    assert disc_b == [3 * c for c in disc_a] and disc_a == [32, 32, 64, 64]
    x = torch.rand(4, 1, 64, 64)
    assert wide.nets["disc"](x)["logit"].shape == (4,)
    assert wide.nets["gen"](torch.randn(4, 5 + 3 + 5)).shape == (4, 1, 64, 64)
    for model, data, shape in (("vae", "dsprites", (1, 64, 64)), ("gan", "ring", (2,))):
        with pytest.raises(ValueError, match="--conv-width applies to the image nets of gan"):
            make_config(model, data, shape, conv_width=2)


def test_conv_width_widens_cyclegans_translators_and_discriminators_and_keeps_their_shapes():
    def channels(net):
        return [m.out_channels for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]

    narrow = GenerativeModel(make_config("cyclegan", "dsprites-squares-ellipses", (1, 64, 64)))
    wide = GenerativeModel(make_config("cyclegan", "dsprites-squares-ellipses", (1, 64, 64), conv_width=2))
    for name in ("gen", "gen_ba", "disc", "disc_a"):
        a, b = channels(narrow.nets[name]), channels(wide.nets[name])
        assert b == [2 * c for c in a[:-1]] + [1], name  # one output channel: the image, or the patch score
    x = torch.rand(3, 1, 64, 64)
    assert wide.nets["gen"](x).shape == (3, 1, 64, 64)
    assert wide.nets["disc"](x)["logit"].shape == (3, 1, 16, 16)
