"""Networks shared by every model: encoders, decoders (= generators), discriminators.

Images of 64×64 (dSprites), 32×32 (CIFAR-10, CelebA crops), 28×28 (MNIST-like) and 8×8
(digits) use conv nets; 2-D points use MLPs. A VAE decoder and a GAN generator are the same
network class, so the same z can drive both.

The 64×64 encoder and decoder are disentanglement_lib's conv_encoder / deconv_decoder, the
network of Burgess et al. 2018 used in the large study of Locatello et al. 2019:
conv 32 (4×4, s2) → conv 32 (4×4, s2) → conv 64 (2×2, s2) → conv 64 (2×2, s2) → FC 256,
and FC 256 → FC 1024 → deconvs 64 → 32 → 32 → C (4×4, s2).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# (out_channels, kernel, stride, padding) per conv layer, and the spatial size after them.
_CONV_PLANS = {
    64: ([(32, 4, 2, 1), (32, 4, 2, 1), (64, 2, 2, 0), (64, 2, 2, 0)], 4),
    32: ([(32, 4, 2, 1), (64, 4, 2, 1), (64, 4, 2, 1)], 4),
    28: ([(32, 4, 2, 1), (64, 4, 2, 1)], 7),
    8: ([(32, 3, 1, 1), (64, 4, 2, 1)], 4),
}
# Decoder plans mirror them: (in_channels of the 4×4/7×7 map, [(out, kernel, stride, padding)]).
_DECONV_PLANS = {
    64: (64, [(64, 4, 2, 1), (32, 4, 2, 1), (32, 4, 2, 1)]),
    32: (64, [(64, 4, 2, 1), (32, 4, 2, 1)]),
    28: (64, [(32, 4, 2, 1)]),
    8: (64, [(32, 4, 2, 1)]),
}
SUPPORTED_SIZES = tuple(_CONV_PLANS)
HIDDEN = 256


def check_image_shape(shape: tuple) -> None:
    if len(shape) != 3 or shape[1] != shape[2] or shape[1] not in _CONV_PLANS:
        raise ValueError(f"image shape {tuple(shape)} is not supported; genlab's conv nets take square "
                         f"images of {', '.join(map(str, SUPPORTED_SIZES))} pixels (C×H×W)")


class ConvBody(nn.Module):
    """Image → feature vector of size HIDDEN (conv stack + FC). `width` multiplies every conv's channels."""

    def __init__(self, shape: tuple, act: type[nn.Module] = nn.ReLU, hidden: int = HIDDEN, width: int = 1):
        super().__init__()
        check_image_shape(shape)
        c, size = shape[0], shape[1]
        plan, out_size = _CONV_PLANS[size]
        layers, ch = [], c
        for out, k, s, p in plan:
            out *= width
            layers += [nn.Conv2d(ch, out, k, s, p), _act(act)]
            ch = out
        self.convs = nn.Sequential(*layers)
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(ch * out_size * out_size, hidden), _act(act))

    def forward(self, x):  # (B, C, H, W) -> (B, hidden)
        return self.fc(self.convs(x))


def _act(act):
    return act(0.2) if act is nn.LeakyReLU else act()


class Encoder(nn.Module):
    """x → (mu, logvar) of a diagonal Gaussian q(z|x). `hidden`: the width of the image body's FC layer."""

    def __init__(self, shape: tuple, latent_dim: int, mlp_width: int = 128, mlp_layers: int = 2, hidden: int = HIDDEN):
        super().__init__()
        self.body = (ConvBody(shape, hidden=hidden) if len(shape) == 3
                     else MLP(shape[0], mlp_width, mlp_width, depth=mlp_layers, final_act=True))
        width = hidden if len(shape) == 3 else mlp_width
        self.head = nn.Linear(width, 2 * latent_dim)

    def forward(self, x):
        mu, logvar = self.head(self.body(x)).chunk(2, dim=1)  # (B, D) each
        return mu, logvar


VBN_REFERENCE = 64  # size of virtual batch norm's reference batch


class VirtualBatchNorm(nn.Module):
    """Virtual batch normalisation (Salimans et al. 2016, §3.4): each example is normalised with the
    statistics of a fixed reference batch, chosen once, plus the example itself (weight 1 / (R + 1)),
    so a generator's output for z no longer depends on the rest of its batch, in training or after.

    The input holds the reference batch's activations in its first R rows, followed by the real
    batch (the Decoder prepends its stored reference z); the reference rows are normalised with
    their own statistics. Works on (N, C) and (N, C, H, W) activations, per channel."""

    def __init__(self, num_features: int, reference_size: int = VBN_REFERENCE, eps: float = 1e-5):
        super().__init__()
        self.reference_size, self.eps = int(reference_size), eps
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))

    def forward(self, h):
        r = self.reference_size
        if h.shape[0] <= r:
            raise ValueError(f"virtual batch norm expects the {r} reference rows followed by the batch; got {h.shape[0]} rows")
        spatial = tuple(range(2, h.dim()))
        ref, rest = h[:r], h[r:]
        mean_r = ref.mean((0, *spatial), keepdim=True)
        sq_r = ref.pow(2).mean((0, *spatial), keepdim=True)
        own_mean = rest.mean(spatial, keepdim=True) if spatial else rest
        own_sq = rest.pow(2).mean(spatial, keepdim=True) if spatial else rest.pow(2)
        w = 1.0 / (r + 1)
        mean_x = w * own_mean + (1 - w) * mean_r
        var_x = (w * own_sq + (1 - w) * sq_r - mean_x.pow(2)).clamp_min(0)
        var_r = (sq_r - mean_r.pow(2)).clamp_min(0)
        out = torch.cat([(ref - mean_r) * torch.rsqrt(var_r + self.eps), (rest - mean_x) * torch.rsqrt(var_x + self.eps)])
        view = (1, -1) + (1,) * len(spatial)
        return out * self.weight.view(view) + self.bias.view(view)


def _norm_layers(norm, n: int, image: bool = False) -> list:
    """The normalisation after a generator's hidden layer: none, batch norm or virtual batch norm."""
    if norm == "virtual":
        return [VirtualBatchNorm(n)]
    if norm:
        return [nn.BatchNorm2d(n) if image else nn.BatchNorm1d(n)]
    return []


class Decoder(nn.Module):
    """z → logits of the image (or the point itself for 2-D data). Also serves as a GAN generator.

    batch_norm: False, True (batch norm after every hidden layer, DCGAN) or "virtual" (virtual batch
    norm; the reference z, drawn once from N(0, I) with a fixed seed, is stored with the weights).
    conv_width multiplies the channels of every hidden (transposed) convolution of an image decoder."""

    def __init__(self, shape: tuple, latent_dim: int, mlp_width: int = 128, mlp_layers: int = 2,
                 batch_norm: bool | str = False, hidden: int = HIDDEN, conv_width: int = 1):
        super().__init__()
        self.shape = tuple(shape)
        self.virtual = batch_norm == "virtual"
        if self.virtual:
            z_ref = torch.randn(VBN_REFERENCE, latent_dim, generator=torch.Generator().manual_seed(0))
            self.register_buffer("z_ref", z_ref)
        if len(shape) == 1:  # 2-D points: `mlp_layers` hidden layers of `mlp_width` units
            self.net = MLP(latent_dim, mlp_width, shape[0], depth=mlp_layers + 1, batch_norm=batch_norm)
            return
        check_image_shape(shape)
        c, size = shape[0], shape[1]
        ch, plan = _DECONV_PLANS[size]
        ch, plan = ch * conv_width, [(out * conv_width, k, s, p) for out, k, s, p in plan]
        start = _CONV_PLANS[size][1]
        self.start = (ch, start, start)
        # batch_norm: DCGAN's generator (Radford et al. 2016), batch norm after every hidden layer
        bn1 = lambda n: _norm_layers(batch_norm, n)  # noqa: E731
        bn2 = lambda n: _norm_layers(batch_norm, n, image=True)  # noqa: E731
        layers = [nn.Linear(latent_dim, hidden), *bn1(hidden), nn.ReLU(),
                  nn.Linear(hidden, ch * start * start), *bn1(ch * start * start), nn.ReLU(),
                  nn.Unflatten(1, self.start)]
        for out, k, s, p in plan:
            layers += [nn.ConvTranspose2d(ch, out, k, s, p), *bn2(out), nn.ReLU()]
            ch = out
        # the last layer brings the map to full size with C channels
        if size == 8:
            layers += [nn.Conv2d(ch, c, 3, 1, 1)]
        else:
            layers += [nn.ConvTranspose2d(ch, c, 4, 2, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, z):  # (B, D) -> (B, C, H, W) logits, or (B, 2) points
        if not self.virtual:
            return self.net(z)
        r = self.z_ref.shape[0]
        return self.net(torch.cat([self.z_ref.to(z.dtype), z]))[r:]



# --------------------------------------------------------------------------- autoregressive decoder


class MaskedConv2d(nn.Conv2d):
    """A convolution that sees only the pixels before its centre in raster order (row by row, left
    to right): the rows above, and the same row to the left (van den Oord et al. 2016, "Pixel
    Recurrent Neural Networks", §3.4). Type "A" also hides the centre, the pixel being predicted
    (the first layer, on the image); type "B" lets it through (later layers, whose centre holds
    features of earlier pixels only). Grey images: one channel, so no masks between colours."""

    def __init__(self, c_in: int, c_out: int, kernel: int, mask_type: str):
        if mask_type not in ("A", "B") or kernel % 2 == 0:
            raise ValueError(f"a masked convolution is of type A or B with an odd kernel (got {mask_type!r}, {kernel})")
        super().__init__(c_in, c_out, kernel, padding=kernel // 2)
        c = kernel // 2
        mask = torch.ones(1, 1, kernel, kernel)
        mask[:, :, c, c + (mask_type == "B"):] = 0  # the centre (type A) and the pixels right of it
        mask[:, :, c + 1:] = 0  # the rows below
        self.register_buffer("mask", mask, persistent=False)
        self.mask_type = mask_type
        with torch.no_grad():
            self.weight.mul_(mask)  # the hidden weights start (and, having no gradient, stay) at 0

    def masked_weight(self) -> torch.Tensor:
        return self.weight * self.mask

    def forward(self, x):
        return F.conv2d(x, self.masked_weight(), self.bias, padding=self.padding)


class _Conditioning(nn.Module):
    """How z enters a gated layer (conditional PixelCNN, van den Oord et al. 2016, "Conditional
    Image Generation with PixelCNN Decoders", eq. 4): V·z, the same at every position, plus a 1×1
    convolution of the factorised decoder's logits b(z), which differ from position to position."""

    def __init__(self, latent_dim: int, out: int):
        super().__init__()
        self.from_z = nn.Linear(latent_dim, out)
        self.from_map = nn.Conv2d(1, out, 1)

    def forward(self, z_part: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return z_part[:, :, None, None] + self.from_map(b)


def _gate(a: torch.Tensor) -> torch.Tensor:
    """The gated activation tanh(f) ⊙ σ(g) of the gated PixelCNN (van den Oord et al. 2016, eq. 2)."""
    f, g = a.chunk(2, dim=1)
    return torch.tanh(f) * torch.sigmoid(g)


class PixelCNNDecoder(nn.Module):
    """p(x|z) = ∏_i p(x_i | x_<i, z) for binary grey images: a PixelCNN conditioned on z.

    logits = b(z) + a(x_<i, z), where b is the factorised decoder (`Decoder`) and a the
    autoregressive part: a type-A masked convolution of kernel 2·reach + 1 over the image (each
    pixel sees the earlier pixels up to `reach` rows above and `reach` columns to either side, and
    none after it) plus a learnt bias for each position, then gated blocks of type-B 1×1 masked convolutions with residual connections;
    z enters the first layer and every block (`_Conditioning`). The blocks are 1×1 so that the reach
    is exactly the first layer's window: stacked 3×3 masked layers would widen it one pixel per layer
    and leave PixelCNN's blind spot (van den Oord et al. 2016, conditional PixelCNN, §2.1).

    reach 0 has no autoregressive part: the decoder is the factorised one, b(z). A reach of H − 1
    sees every earlier pixel of an H×H image. Sampling goes pixel by pixel (`sample`); each step
    evaluates the network at one position only, from the window around it, so an H×W image takes
    H·W small steps rather than H·W passes over the whole image."""

    def __init__(self, shape: tuple, latent_dim: int, reach: int, channels: int = 128, blocks: int = 4,
                 hidden: int = HIDDEN):
        super().__init__()
        check_image_shape(shape)
        if shape[0] != 1:
            raise ValueError(f"the PixelCNN decoder models grey images of one channel; got {shape[0]} channels")
        if not 0 <= reach < shape[1]:
            raise ValueError(f"a PixelCNN decoder's reach must be 0–{shape[1] - 1} for {shape[1]}×{shape[2]} "
                             f"images (got {reach})")
        self.shape, self.reach, self.channels = tuple(shape), int(reach), int(channels)
        self.base = Decoder(shape, latent_dim, hidden=hidden)
        if self.reach == 0:
            return
        ch = self.channels
        self.first = MaskedConv2d(1, 2 * ch, 2 * self.reach + 1, "A")
        # a bias of the first layer for each position: a window of zeros looks the same at every place
        # of a blank image, and the pixel's place is what tells a stroke's start from its end
        self.position = nn.Parameter(torch.zeros(1, 2 * ch, shape[1], shape[2]))
        self.blocks = nn.ModuleList(MaskedConv2d(ch, 2 * ch, 1, "B") for _ in range(blocks))
        self.mix = nn.ModuleList(nn.Conv2d(ch, ch, 1) for _ in range(blocks))  # the residual branch's 1×1
        self.cond = nn.ModuleList(_Conditioning(latent_dim, 2 * ch) for _ in range(blocks + 1))
        self.out = nn.Conv2d(ch, 1, 1)

    def _trunk(self, a: torch.Tensor, z_parts: list, b: torch.Tensor) -> torch.Tensor:
        """The autoregressive logits from the first layer's pre-activation `a`, at every position of
        `a` (the whole image, or one pixel while sampling); `b` holds b(z) at the same positions."""
        h = _gate(a + self.cond[0](z_parts[0], b))
        for conv, mix, cond, zp in zip(self.blocks, self.mix, self.cond[1:], z_parts[1:]):
            h = h + mix(_gate(conv(h) + cond(zp, b)))
        return self.out(h)

    def _z_parts(self, z: torch.Tensor) -> list:
        return [c.from_z(z) for c in self.cond]

    def forward(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Logits of p(x_i = 1 | x_<i, z) at every pixel, given the whole image x (teacher forcing:
        one pass, as in training and in measuring the bound). (B, 1, H, W)."""
        b = self.base(z)
        if self.reach == 0:
            return b
        return b + self._trunk(self.first(x) + self.position, self._z_parts(z), b)

    @torch.no_grad()
    def sample(self, z: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Draw x ~ p(x|z) pixel by pixel in raster order: pixel i is 1 when noise_i < p(x_i = 1 |
        x_<i, z). `noise` holds uniform numbers in [0, 1), (B or 1, 1, H, W); one field shared by
        every z makes the images differ only through z. Returns binary images (B, 1, H, W)."""
        b = self.base(z)
        noise = noise.to(b.dtype).expand_as(b)
        if self.reach == 0:
            return (noise < torch.sigmoid(b)).to(b.dtype)
        r, (_, height, width) = self.reach, self.shape
        canvas = b.new_zeros(b.shape[0], 1, height + 2 * r, width + 2 * r)  # the zero padding of `first`
        w, bias, z_parts = self.first.masked_weight(), self.first.bias, self._z_parts(z)
        for i in range(height):
            for j in range(width):
                window = canvas[:, :, i:i + 2 * r + 1, j:j + 2 * r + 1]
                here = b[:, :, i:i + 1, j:j + 1]
                a = F.conv2d(window, w, bias) + self.position[:, :, i:i + 1, j:j + 1]
                logit = here + self._trunk(a, z_parts, here)
                canvas[:, :, r + i, r + j] = (noise[:, :, i, j] < torch.sigmoid(logit[:, :, 0, 0])).to(b.dtype)
        return canvas[:, :, r:r + height, r:r + width].contiguous()

def init_normal_(module: nn.Module, std: float) -> None:
    """DCGAN's initialisation (Radford et al. 2016), also PacGAN's for its 2-D runs: every linear and
    convolution weight drawn from N(0, std), every bias set to 0. Batch-norm layers keep their 1 / 0
    and minibatch discrimination its own tensor."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class MinibatchDiscrimination(nn.Module):
    """Salimans et al. 2016, §3.2: each sample sees how close it is to the rest of the batch,
    so a discriminator can spot a generator that outputs the same thing again and again."""

    def __init__(self, in_features: int, n_kernels: int = 32, kernel_dim: int = 8):
        super().__init__()
        self.T = nn.Parameter(torch.randn(in_features, n_kernels * kernel_dim) * 0.1)
        self.n_kernels, self.kernel_dim = n_kernels, kernel_dim
        self.out_features = in_features + n_kernels

    def forward(self, h):  # (B, F) -> (B, F + n_kernels)
        m = (h @ self.T).view(-1, self.n_kernels, self.kernel_dim).transpose(0, 1)  # (K, B, d)
        l1 = torch.cdist(m, m, p=1)  # (K, B, B) L1 distances, 3× faster than broadcasting on a CPU
        o = torch.exp(-l1).sum(2).transpose(0, 1) - 1.0  # (B, K); minus each sample's self-match
        return torch.cat([h, o], dim=1)


class Maxout(nn.Module):
    """A layer of maxout units (Goodfellow et al. 2013): each of the `units` outputs is the largest
    of `pieces` affine functions of the input."""

    def __init__(self, d_in: int, units: int, pieces: int):
        super().__init__()
        self.units, self.pieces = units, pieces
        self.linear = nn.Linear(d_in, units * pieces)

    def forward(self, x):  # (B, d_in) -> (B, units)
        return self.linear(x).view(-1, self.units, self.pieces).amax(dim=2)


class Discriminator(nn.Module):
    """x → dict(logit (B,), features (B, F)); optional minibatch discrimination and extra heads.

    `features` (the last hidden layer) serve feature matching and VAE-GAN's learned similarity.
    `extra_out` > 0 adds a second head from the same body (InfoGAN's Q network).
    `pack` > 1 is PacGAN (Lin et al. 2018): D judges `pack` samples at once, concatenated along
    the feature (points) or channel (images) axis, so a batch of B gives B / pack logits.
    `maxout` > 1 makes the hidden layers of a 2-D discriminator maxout units with that many pieces
    (PacGAN's grid and ring discriminator: 3 layers of 200 units, 5 pieces)."""

    def __init__(self, shape: tuple, minibatch_discrimination: bool = False, extra_out: int = 0,
                 mlp_width: int = 128, mlp_layers: int = 2, pack: int = 1, maxout: int = 1, conv_width: int = 1):
        super().__init__()
        if pack < 1:
            raise ValueError(f"pack must be at least 1, got {pack}")
        if maxout < 1:
            raise ValueError(f"maxout pieces must be at least 1, got {maxout}")
        self.pack = int(pack)
        if len(shape) == 3:
            if maxout > 1:
                raise ValueError("maxout units are for the discriminator of 2-D points; image discriminators are convolutional")
            self.body = ConvBody((shape[0] * pack, *shape[1:]), act=nn.LeakyReLU, width=conv_width)
            width = HIDDEN
        elif maxout > 1:  # PacGAN's 2-D discriminator: hidden layers of maxout units
            dims = [shape[0] * pack] + [mlp_width] * mlp_layers
            self.body = nn.Sequential(*[Maxout(a, b, maxout) for a, b in zip(dims[:-1], dims[1:])])
            width = mlp_width
        else:
            self.body = MLP(shape[0] * pack, mlp_width, mlp_width, depth=mlp_layers, final_act=True, act=nn.LeakyReLU)
            width = mlp_width
        self.mbd = MinibatchDiscrimination(width) if minibatch_discrimination else None
        out_w = self.mbd.out_features if self.mbd is not None else width
        self.head = nn.Linear(out_w, 1)
        self.q_head = nn.Sequential(nn.Linear(width, 128), nn.LeakyReLU(0.2), nn.Linear(128, extra_out)) if extra_out else None

    def packed(self, x):
        """(B, ...) → (B / pack, pack · C, ...): consecutive samples form one pack."""
        if self.pack == 1:
            return x
        if x.shape[0] % self.pack:
            raise ValueError(f"PacGAN packs {self.pack} samples per discriminator input, but the batch holds "
                             f"{x.shape[0]}; use a batch size divisible by {self.pack}")
        return x.reshape(x.shape[0] // self.pack, -1, *x.shape[2:])

    def forward(self, x) -> dict:
        h = self.body(self.packed(x))
        out = {"features": h}
        hh = self.mbd(h) if self.mbd is not None else h
        out["logit"] = self.head(hh).squeeze(1)
        if self.q_head is not None:
            out["q"] = self.q_head(h)
        return out


class TextEncoder(nn.Module):
    """Caption token ids (B, L), 0 = padding → φ(t) (B, text_dim): the mean of the words' embeddings,
    then a linear layer and tanh. A bag of words suffices for genlab.captions, whose meanings do not
    depend on word order; Reed et al. 2016 use a char-CNN-RNN pre-trained on image-text pairs, here it
    is trained jointly with the discriminator that owns it."""

    def __init__(self, vocab_size: int, text_dim: int, embed_dim: int = 64):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.out = nn.Linear(embed_dim, text_dim)

    def forward(self, ids):  # (B, L) -> (B, text_dim)
        mask = (ids > 0).unsqueeze(2).float()
        mean = (self.embed(ids) * mask).sum(1) / mask.sum(1).clamp_min(1.0)
        return torch.tanh(self.out(mean))


class MatchingDiscriminator(nn.Module):
    """GAN-CLS's discriminator (Reed et al. 2016, §4.1): scores an (image, text) pair. The image's
    conv features (ConvBody, LeakyReLU) are joined with φ(t) and read by one hidden layer, so the
    logit can depend on whether they match; Reed et al. join them as a 4×4 map, here at the FC layer.
    Returns dict(logit (B,), features (B, HIDDEN))."""

    def __init__(self, shape: tuple, text_dim: int, hidden: int = HIDDEN):
        super().__init__()
        self.body = ConvBody(shape, act=nn.LeakyReLU, hidden=hidden)
        self.joint = nn.Sequential(nn.Linear(hidden + text_dim, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 1))

    def forward(self, x, h) -> dict:
        f = self.body(x)
        return {"logit": self.joint(torch.cat([f, h], 1)).squeeze(1), "features": f}


class AutoEncoderDiscriminator(nn.Module):
    """EBGAN's discriminator (Zhao, Mathieu & LeCun 2017): an auto-encoder whose reconstruction
    error is the energy. Returns dict(energy (B,), code (B, E), x_hat)."""

    def __init__(self, shape: tuple, code_dim: int = 32):
        super().__init__()
        self.enc_body = (ConvBody(shape, act=nn.LeakyReLU) if len(shape) == 3
                         else MLP(shape[0], HIDDEN_MLP, HIDDEN_MLP, depth=2, final_act=True))
        self.to_code = nn.Linear(HIDDEN if len(shape) == 3 else HIDDEN_MLP, code_dim)
        self.dec = Decoder(shape, code_dim)
        self.is_image = len(shape) == 3

    def forward(self, x) -> dict:
        code = self.to_code(self.enc_body(x))
        out = self.dec(code)
        x_hat = torch.sigmoid(out) if self.is_image else out
        energy = (x_hat - x).pow(2).flatten(1).mean(1)  # mean squared reconstruction error per sample
        return {"energy": energy, "code": code, "x_hat": x_hat}


HIDDEN_MLP = 128


class MLP(nn.Module):
    """Fully connected net for 2-D points (and latent-space discriminators)."""

    def __init__(self, d_in: int, hidden: int, d_out: int, depth: int = 3, final_act: bool = False,
                 act: type[nn.Module] = nn.ReLU, batch_norm: bool | str = False):
        super().__init__()
        layers, d = [], d_in
        for _ in range(depth - 1):
            layers += [nn.Linear(d, hidden)] + _norm_layers(batch_norm, hidden) + [_act(act)]
            d = hidden
        layers.append(nn.Linear(d, d_out))
        if final_act:
            layers.append(_act(act))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


class LatentDiscriminator(nn.Module):
    """The adversarial autoencoder's discriminator on codes z (Makhzani et al. 2016)."""

    def __init__(self, latent_dim: int, hidden: int = 256):
        super().__init__()
        self.net = MLP(latent_dim, hidden, 1, depth=3, act=nn.LeakyReLU)

    def forward(self, z) -> dict:
        return {"logit": self.net(z).squeeze(1)}


# --------------------------------------------------------------------------- image translation (CycleGAN)


class ResidualBlock(nn.Module):
    """x + conv(relu(norm(conv(x)))): the block of CycleGAN's ResNet generator (Zhu et al. 2017, App. 7.2,
    after Johnson et al. 2016), with instance norm as in the paper."""

    def __init__(self, ch: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(ch, ch, 3, 1, 1), nn.InstanceNorm2d(ch, affine=True), nn.ReLU(),
                                  nn.Conv2d(ch, ch, 3, 1, 1), nn.InstanceNorm2d(ch, affine=True))

    def forward(self, x):
        return x + self.body(x)


class Translator(nn.Module):
    """An image → image generator for CycleGAN, a small version of the paper's ResNet generator:
    two stride-2 convs down, `blocks` residual blocks, two transposed convs up. Fully convolutional, so
    a sprite's position has to travel through the same spatial map (what the translation should keep).
    Takes any square size divisible by 4 (64, 32, 28, 8). (B, C, H, W) → (B, C, H, W) logits."""

    def __init__(self, shape: tuple, width: int = 32, blocks: int = 2):
        super().__init__()
        check_image_shape(shape)
        c, w = shape[0], width
        self.net = nn.Sequential(
            nn.Conv2d(c, w // 2, 4, 2, 1), nn.InstanceNorm2d(w // 2, affine=True), nn.ReLU(),  # H/2
            nn.Conv2d(w // 2, w, 4, 2, 1), nn.InstanceNorm2d(w, affine=True), nn.ReLU(),  # H/4
            *[ResidualBlock(w) for _ in range(blocks)],
            nn.ConvTranspose2d(w, w // 2, 4, 2, 1), nn.InstanceNorm2d(w // 2, affine=True), nn.ReLU(),  # H/2
            nn.ConvTranspose2d(w // 2, c, 4, 2, 1))  # H, logits

    def forward(self, x):
        return self.net(x)


class PatchDiscriminator(nn.Module):
    """CycleGAN's PatchGAN discriminator, small (Isola et al. 2017; Zhu et al. 2017 App. 7.2): it scores
    overlapping patches, not the whole image. x → dict(logit (B, 1, H/4, W/4)), raw least-squares scores."""

    def __init__(self, shape: tuple, width: int = 32):
        super().__init__()
        check_image_shape(shape)
        c, w = shape[0], width
        self.net = nn.Sequential(nn.Conv2d(c, w // 2, 4, 2, 1), nn.LeakyReLU(0.2),
                                 nn.Conv2d(w // 2, w, 4, 2, 1), nn.InstanceNorm2d(w, affine=True), nn.LeakyReLU(0.2),
                                 nn.Conv2d(w, 1, 3, 1, 1))

    def forward(self, x) -> dict:
        return {"logit": self.net(x)}
