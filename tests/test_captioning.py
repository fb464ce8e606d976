"""Image to text (Dai et al. 2017): the policy gradient's sign on a toy reward, the evaluator's terms,
the correctness measure's known answers, and `genlab caption` / `caption-train` round trips and refusals."""

import json
import math

import numpy as np
import pytest
import torch

from genlab import captioning as K
from genlab import captions as C
from genlab.cli import main


def test_policy_gradient_matches_its_closed_form_and_raises_a_rewarded_word():
    theta = torch.tensor([0.3, -0.2, 0.1, 0.0, 0.5], requires_grad=True)
    logp = torch.log_softmax(theta, 0)
    k = torch.tensor([2, 4])  # two sampled words; only word 2 is rewarded
    reward = torch.tensor([1.0, 0.0])
    loss = K.policy_gradient_loss(logp[k], reward)  # baseline: the mean reward, 0.5
    loss.backward()
    p = torch.softmax(theta.detach(), 0)
    onehot = torch.eye(5)
    want = -(0.5 * (onehot[2] - p) + (-0.5) * (onehot[4] - p)) / 2  # −mean((r − b)(e_k − p))
    assert torch.allclose(theta.grad, want, atol=1e-6)
    with torch.no_grad():
        after = torch.softmax(theta - 1.0 * theta.grad, 0)
    assert after[2] > p[2] and after[4] < p[4]  # descending the loss: the rewarded word up, the other down
    assert K.policy_gradient_loss(logp[k], torch.tensor([1.0, 1.0])).item() == 0.0  # no advantage, no push


def test_policy_gradient_teaches_a_caption_generator_a_toy_reward():
    """Reward 1 when a caption's first word is 'heart': a few REINFORCE steps make it likelier."""
    torch.manual_seed(0)
    gen = K.CaptionGenerator(z_dim=2, hidden=16, embed=8)
    opt = torch.optim.Adam(gen.parameters(), lr=0.05)
    x = torch.zeros(32, 1, 64, 64)
    g = torch.Generator().manual_seed(0)
    heart = C.WORD_ID["heart"]

    def share(n=256):
        with torch.no_grad():
            ids, _ = gen.sample(torch.zeros(n, 1, 64, 64), torch.randn(n, 2, generator=g), g)
        return (ids[:, 0] == heart).float().mean().item()

    before = share()
    for _ in range(30):
        ids, logp = gen.sample(x, torch.randn(32, 2, generator=g), g)
        loss = K.policy_gradient_loss(logp, (ids[:, 0] == heart).float())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert before < 0.1 and share() > before + 0.3


def test_the_evaluator_s_terms_at_known_logits():
    zero = torch.zeros(3)
    assert K.evaluator_loss(zero, zero, zero)["loss"].item() == pytest.approx(3 * math.log(2))
    big = torch.full((3,), 15.0)
    assert K.evaluator_loss(big, -big, -big)["loss"].item() < 1e-5  # real pair real, generated and mismatched fake
    assert K.evaluator_loss(-big, big, big, alpha=0.5, beta=0.0)["loss"].item() == pytest.approx(15 * 1.5, rel=1e-4)


def test_correctness_of_true_and_garbled_captions():
    f = C.random_factors(60, np.random.default_rng(0))
    true = [C.caption(r, 3, rotation=True) for r in f]
    res = K.correctness(true, f)
    assert res == {"parses": 1.0, "shape": 1.0, "size": 1.0, "rotation": 1.0, "column": 1.0, "row": 1.0, "place": 1.0}
    wrong = K.correctness(["a purple thing"] * 30 + ["a heart"] * 30, f)
    assert wrong["parses"] == 0.5 and wrong["place"] == 0.0
    assert wrong["shape"] == pytest.approx(np.mean(f[30:, 0] == 2) / 2)
    assert K.ids_text([C.WORD_ID["a"], C.WORD_ID["heart"], 0, C.WORD_ID["top"]]) == "a heart"


@pytest.fixture(scope="module")
def captioner(tmp_path_factory):
    out = tmp_path_factory.mktemp("cap")
    assert main(["caption-train", "--model", "caption-gan", "--mle-steps", "2", "--gan-steps", "2", "--batch-size", "4",
                 "--out", str(out / "run")]) == 0
    return out / "run"


def test_caption_round_trips_one_caption_per_image(captioner, tmp_path, capsys):
    from genlab.applications import _render

    f = C.random_factors(3, np.random.default_rng(1))
    np.savez(tmp_path / "x.npz", images=_render(f).numpy())
    capsys.readouterr()
    assert main(["caption", str(captioner), "--images", str(tmp_path / "x.npz"), "--json"]) == 0
    texts = json.loads(capsys.readouterr().out)
    assert isinstance(texts, list) and len(texts) == 3 and all(isinstance(t, str) for t in texts)
    assert all(w in C.WORD_ID for t in texts for w in t.split())  # words of the vocabulary only
    assert main(["caption", str(captioner), "--images", str(tmp_path / "x.npz"), "--greedy"]) == 0
    assert len(capsys.readouterr().out.rstrip("\n").split("\n")) == 3
    model, meta = K.load_captioner(captioner)
    assert meta["kind"] == "captioner" and meta["mle_steps"] == 2 and meta["gan_steps"] == 2
    assert model.caption(_render(f), seed=4) == model.caption(_render(f), seed=4)  # same seed, same captions


@pytest.mark.parametrize("arrays,said", [
    ({"images": np.zeros((2, 1, 8, 8), np.float32)}, "N×1×64×64, but .* holds \\(2, 1, 8, 8\\)"),
    ({"images": np.zeros((0, 1, 64, 64), np.float32)}, "holds no images"),
    ({"pictures": np.zeros((1, 1, 64, 64), np.float32)}, "holds no array 'images' \\(it has pictures\\)"),
    ({"images": np.full((1, 1, 64, 64), np.nan, np.float32)}, "not finite numbers"),
    (None, "not found"),
])
def test_caption_refuses_bad_files_in_one_sentence(captioner, tmp_path, capsys, arrays, said):
    path = tmp_path / "x.npz"
    if arrays is not None:
        np.savez(path, **arrays)
    assert main(["caption", str(captioner), "--images", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("genlab caption: error:") and "\n" not in err
    import re

    assert re.search(said, err), err


def test_caption_refuses_a_file_that_is_no_npz_and_a_checkpoint_that_is_no_captioner(captioner, tmp_path, capsys):
    (tmp_path / "x.npz").write_bytes(b"not a zip")
    assert main(["caption", str(captioner), "--images", str(tmp_path / "x.npz")]) == 2
    assert "could not be read as .npz" in capsys.readouterr().err
    from genlab.applications import save_reader, train_factor_reader

    clf, facts = train_factor_reader(steps=1, width=4, n_test=4)
    save_reader(tmp_path / "r" / "model", clf, facts)
    assert main(["caption", str(tmp_path / "r"), "--images", str(tmp_path / "x.npz")]) == 2
    assert "is a caption-reader checkpoint, not a captioner" in capsys.readouterr().err


def test_a_caption_gan_starts_from_a_caption_mle_and_counts_its_steps(tmp_path, capsys):
    assert main(["caption-train", "--model", "caption-mle", "--mle-steps", "3", "--gan-steps", "0", "--batch-size", "4",
                 "--out", str(tmp_path / "mle")]) == 0
    assert main(["caption-train", "--model", "caption-gan", "--mle-steps", "0", "--gan-steps", "0", "--batch-size", "4",
                 "--out", str(tmp_path / "none")]) == 2  # no step at all
    assert main(["caption-train", "--model", "caption-gan", "--init", str(tmp_path / "mle"), "--mle-steps", "0",
                 "--gan-steps", "1", "--batch-size", "4", "--out", str(tmp_path / "gan")]) == 0
    mle, _ = K.load_captioner(tmp_path / "mle")
    gan, meta = K.load_captioner(tmp_path / "gan")
    assert meta["mle_steps"] == 3 and meta["gan_steps"] == 1 and meta["steps"] == 4 and meta["init"] == "mle"
    # one step of the evaluator alone (the warm-up) leaves the generator as caption-mle left it
    for (k, a), b in zip(mle.nets["gen"].state_dict().items(), gan.nets["gen"].state_dict().values()):
        assert torch.equal(a, b), k
    capsys.readouterr()
    assert main(["caption-train", "--model", "caption-mle", "--init", str(tmp_path / "mle"), "--mle-steps", "1",
                 "--gan-steps", "0", "--out", str(tmp_path / "x")]) == 2
    assert "has no such phase" in capsys.readouterr().err
