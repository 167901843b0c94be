"""helpers.encoder against nn.LayerNorm and nn.TransformerEncoderLayer; bad input."""
import re

import pytest
import torch
from torch import nn

from helpers import masks
from helpers.encoder import (MLP, Encoder, EncoderBlock, EncoderConfig, LayerNorm,
                            copy_encoder_block_to_torch)


@pytest.mark.parametrize("shape", [(3, 8), (2, 5, 16), (1, 1, 4)])
def test_layernorm_matches_torch_forward_and_backward(shape):
    torch.manual_seed(0)
    ours, theirs = LayerNorm(shape[-1]), nn.LayerNorm(shape[-1])
    with torch.no_grad():
        ours.weight.normal_(), ours.bias.normal_()
        theirs.weight.copy_(ours.weight), theirs.bias.copy_(ours.bias)
    x = torch.randn(shape, requires_grad=True) * 3 + 1
    a, b = ours(x), theirs(x)
    torch.testing.assert_close(a, b)
    grad = torch.randn_like(a)
    for g1, g2 in zip(torch.autograd.grad(a, [x, ours.weight, ours.bias], grad),
                      torch.autograd.grad(b, [x, theirs.weight, theirs.bias], grad)):
        torch.testing.assert_close(g1, g2, atol=1e-5, rtol=1e-4)


def perturbed_block(norm_first, seed=0):
    torch.manual_seed(seed)
    block = EncoderBlock(EncoderConfig(norm_first=norm_first))
    with torch.no_grad():
        for p in block.parameters():
            p.add_(0.1 * torch.randn_like(p))  # LayerNorm's 1s and 0s would hide mistakes
    return block


@pytest.mark.parametrize("norm_first", [True, False])
@pytest.mark.parametrize("lengths", [None, [5, 3]])
@pytest.mark.parametrize("need_weights", [True, False])  # the explicit path and the fast one
def test_block_matches_torch_encoder_layer(norm_first, lengths, need_weights):
    block = perturbed_block(norm_first)
    layer = copy_encoder_block_to_torch(block, nn.TransformerEncoderLayer(
        32, 4, 128, dropout=0.0, activation="gelu", batch_first=True, norm_first=norm_first))
    x = torch.randn(2, 5, 32, requires_grad=True)
    padding = None if lengths is None else masks.padding_mask(torch.tensor(lengths), 5)
    ours, weights = block(x, padding, need_weights=need_weights)
    assert (weights is None) != need_weights
    theirs = layer(x, src_key_padding_mask=None if padding is None
                   else masks.to_pytorch(padding, "mha")[:, 0])
    real = slice(None) if lengths is None else slice(0, 3)  # torch may zero padded rows
    torch.testing.assert_close(ours[:, real], theirs[:, real], atol=1e-5, rtol=1e-4)
    grad = torch.randn_like(ours)
    grad[:, 3:] = 0 if lengths else grad[:, 3:]
    g1 = torch.autograd.grad(ours, [x, block.mlp.up.weight, block.attn.in_proj.weight], grad)
    g2 = torch.autograd.grad(theirs, [x, layer.linear1.weight, layer.self_attn.in_proj_weight], grad)
    for a, b in zip(g1, g2):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_mlp_and_layernorm_act_on_each_position_alone():
    torch.manual_seed(0)
    mlp, norm = MLP(16, 64), LayerNorm(16)
    x = torch.randn(1, 6, 16)
    changed = x.clone()
    changed[0, 2] += 5.0
    for f in (mlp, norm):
        diff = (f(changed) - f(x)).abs().amax(-1)[0]  # (T,)
        assert diff[2] > 0 and torch.all(diff[[0, 1, 3, 4, 5]] == 0)


def test_encoder_shapes_weights_and_permutation_equivariance():
    torch.manual_seed(0)
    encoder = Encoder(EncoderConfig(num_layers=3))
    x, perm = torch.randn(2, 7, 32), torch.randperm(7)
    out, weights = encoder(x, need_weights=True)
    assert out.shape == x.shape and weights.shape == (2, 3, 4, 7, 7)
    torch.testing.assert_close(encoder(x[:, perm])[0], out[:, perm], atol=1e-5, rtol=1e-4)
    fast, no_weights = encoder(x)  # the default for training: the fused kernel, no weights
    assert no_weights is None
    torch.testing.assert_close(fast, out, atol=1e-5, rtol=1e-4)


def test_encoder_rejects_wrong_width():
    with pytest.raises(ValueError, match=r"x must be \(B, T, 32\), got \(2, 7, 16\)"):
        Encoder(EncoderConfig())(torch.randn(2, 7, 16))


# --- bad input: the message names what was expected and what came -------------------

MODULES = {  # name -> (module of width 32, the layout its message names)
    "LayerNorm": (lambda: LayerNorm(32), "(..., 32)"),
    "MLP": (lambda: MLP(32, 64), "(..., 32)"),
    "EncoderBlock": (lambda: EncoderBlock(EncoderConfig()), "(B, T, 32)"),
    "Encoder": (lambda: Encoder(EncoderConfig()), "(B, T, 32)"),
}


@pytest.mark.parametrize("name", MODULES)
@pytest.mark.parametrize("width", [1, 16, 33])  # 1 would broadcast silently without a check
def test_modules_reject_the_wrong_width(name, width):
    make, layout = MODULES[name]
    with pytest.raises(ValueError, match=rf"x must be {re.escape(layout)}, got \(2, 5, {width}\)"):
        make()(torch.randn(2, 5, width))


@pytest.mark.parametrize("name", MODULES)
def test_modules_reject_mixed_dtypes(name):
    with pytest.raises(TypeError, match=rf"x has dtype torch.float64 but the {name}'s parameters "
                                        r"are torch.float32; .*x.to\(torch.float32\)"):
        MODULES[name][0]()(torch.randn(2, 5, 32, dtype=torch.float64))


@pytest.mark.parametrize("name", MODULES)
def test_modules_reject_non_tensors(name):
    np = pytest.importorskip("numpy")
    with pytest.raises(TypeError, match=r"x must be a torch.Tensor, got ndarray; .*torch.as_tensor"):
        MODULES[name][0]()(np.zeros((2, 5, 32), dtype=np.float32))


def test_blocks_need_three_dimensions():
    with pytest.raises(ValueError, match=r"x must have at least 3 dimensions, got shape \(5, 32\)"):
        EncoderBlock(EncoderConfig())(torch.randn(5, 32))
    with pytest.raises(ValueError, match=r"x must be \(B, T, 32\), got \(1, 2, 5, 32\)"):
        Encoder(EncoderConfig())(torch.randn(1, 2, 5, 32))


class PlainBlock(nn.Module):
    """A block written as a learner writes it (notebook 06's MyEncoderBlock): the course's
    parts, called as block(x, mask), always returning the weights."""

    def __init__(self, config):
        super().__init__()
        self.inner = EncoderBlock(config)
        self.calls = []

    def forward(self, x, mask=None):
        self.calls.append(mask)
        return self.inner(x, mask=mask, need_weights=True)


@pytest.mark.parametrize("norm_first", [True, False])
@pytest.mark.parametrize("need_weights", [True, False])
def test_encoder_with_another_block_class_matches_the_course_blocks(norm_first, need_weights):
    config = EncoderConfig(num_layers=3, norm_first=norm_first)
    torch.manual_seed(0)
    theirs = Encoder(config)
    mine = Encoder(config, block=PlainBlock)
    assert [type(b) for b in mine.blocks] == [PlainBlock] * 3
    for ours, block in zip(mine.blocks, theirs.blocks):
        ours.inner.load_state_dict(block.state_dict())
    mine.final_norm.load_state_dict(theirs.final_norm.state_dict())
    x, mask = torch.randn(2, 6, 32), masks.padding_mask(torch.tensor([6, 2]), 6)
    out, weights = mine(x, mask, need_weights=need_weights)
    expected, expected_w = theirs(x, mask, need_weights=True)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-4)
    assert all(call is mask for block in mine.blocks for call in block.calls)
    if need_weights:
        assert weights.shape == (2, 3, 4, 6, 6)  # (B, N, H, T, T)
        torch.testing.assert_close(weights, expected_w)
    else:
        assert weights is None


def test_encoder_block_defaults_to_the_course_block():
    assert all(type(b) is EncoderBlock for b in Encoder(EncoderConfig()).blocks)
    assert all(type(b) is EncoderBlock for b in Encoder(EncoderConfig(), block=EncoderBlock).blocks)


def test_encoder_with_another_block_refuses_an_attention_bias():
    encoder = Encoder(EncoderConfig(num_layers=1), block=PlainBlock)
    with pytest.raises(ValueError, match="an attention bias needs the course's EncoderBlock"):
        encoder(torch.randn(1, 4, 32), bias=torch.zeros(4, 4, 4))


def test_encoder_block_must_be_a_class():
    with pytest.raises(TypeError, match="block must be a class built as block\\(config\\), got str"):
        Encoder(EncoderConfig(), block="EncoderBlock")


def test_review_classifier_reads_cls_and_ignores_padding():
    """Notebook 06's classifier (helpers.ReviewClassifier, which 07 trains): logits (B, 2)
    from <cls>; a review's logits do not change with the padding behind it; a bad pad id
    is refused."""
    from helpers import ReviewClassifier
    from helpers.tasks import encode_reviews, review_vocabulary

    torch.manual_seed(0)
    vocab = review_vocabulary()
    model = ReviewClassifier(EncoderConfig(), len(vocab), 16, vocab.index("<pad>")).eval()
    reviews = [["the", "film", "was", "good"], ["the", "food", "was", "not", "awful"]]
    short, long = encode_reviews(reviews, vocab, 8), encode_reviews(reviews, vocab, 16)
    logits, weights = model(short, need_weights=True)
    assert logits.shape == (2, 2) and weights.shape == (2, 2, 4, 8, 8)
    assert torch.allclose(model(long)[0], logits, atol=1e-5)
    with pytest.raises(ValueError, match="pad_id must be a token id from 0 to"):
        ReviewClassifier(EncoderConfig(), len(vocab), 16, len(vocab))
