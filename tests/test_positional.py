"""helpers.positional: shapes, the rotation properties, ALiBi's values, use in attention."""
import math

import pytest
import torch
from torch.nn import functional as F

from helpers import masks
from helpers.attention import scaled_dot_product_attention
from helpers.multihead import MultiHeadAttention
from helpers.positional import (LearnedPositions, SinusoidalPositions, alibi_bias, alibi_slopes,
                                relative_similarity, rotary, sinusoidal_encoding)
from helpers.widgets import PositionExplorer


def test_sinusoidal_values_and_shape():
    pe = sinusoidal_encoding(50, 16)
    assert pe.shape == (50, 16)
    assert torch.allclose(pe[0, 0::2], torch.zeros(8)) and torch.allclose(pe[0, 1::2], torch.ones(8))
    p, i = 7, 3
    angle = p / 10_000 ** (2 * i / 16)
    assert math.isclose(pe[p, 2 * i].item(), math.sin(angle), abs_tol=1e-6)
    assert math.isclose(pe[p, 2 * i + 1].item(), math.cos(angle), abs_tol=1e-6)
    with pytest.raises(ValueError, match="even C"):
        sinusoidal_encoding(4, 7)


@pytest.mark.parametrize("k", [1, 5, 20])
def test_sinusoidal_fixed_offset_is_a_fixed_rotation(k):
    """PE[p + k] = R_k PE[p] with the same block-rotation R_k for every position p."""
    C = 16
    pe = sinusoidal_encoding(64, C)
    omega = 10_000 ** (-torch.arange(0, C, 2) / C)
    R = torch.zeros(C, C)
    for i, w in enumerate(omega.tolist()):
        c, s = math.cos(k * w), math.sin(k * w)
        R[2 * i:2 * i + 2, 2 * i:2 * i + 2] = torch.tensor([[c, -s], [s, c]])  # row vectors
    torch.testing.assert_close(pe[:-k] @ R, pe[k:], atol=1e-4, rtol=0)


def test_rotary_scores_depend_only_on_the_offset():
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(1, 16, generator=g), torch.randn(1, 16, generator=g)
    rq, rk = rotary(q.expand(30, 16)), rotary(k.expand(30, 16))  # the same vectors at 30 positions
    scores = rq @ rk.T  # (30, 30)
    for offset in [-5, 0, 3, 12]:
        diagonal = torch.diagonal(scores, offset)
        torch.testing.assert_close(diagonal, diagonal[0].expand_as(diagonal), atol=1e-4, rtol=0)
    torch.testing.assert_close(rotary(q)[0], q[0])  # position 0 is not rotated
    torch.testing.assert_close(rq.norm(dim=-1), q.norm().expand(30))  # rotations keep lengths


def test_rotary_offset_and_errors():
    x = torch.randn(2, 6, 8)
    torch.testing.assert_close(rotary(x)[:, 2:], rotary(x[:, 2:], offset=2))
    with pytest.raises(ValueError, match=r"even width.*\(2, 5\)"):
        rotary(torch.randn(2, 5))


def test_alibi_values():
    assert torch.allclose(alibi_slopes(8), torch.tensor([2.0 ** -(i + 1) for i in range(8)]))
    bias = alibi_bias(4, 2)
    assert bias.shape == (2, 4, 4)
    assert bias[0].tolist()[0] == [0.0, -0.0625, -0.125, -0.1875]
    torch.testing.assert_close(bias[0], bias[0].T)
    causal = alibi_bias(3, 1, causal=True)[0]
    assert causal.tolist() == [[0.0, 0.0, 0.0], [-0.00390625, 0.0, 0.0], [-0.0078125, -0.00390625, 0.0]]


def test_alibi_needs_at_least_as_many_keys_as_queries():
    assert alibi_bias(2, 3, S=5).shape == (3, 2, 5)
    with pytest.raises(ValueError, match=r"need 1 <= T <= S \(the queries are the last T of the S "
                                         r"keys\), got T=5, S=3"):
        alibi_bias(5, 2, S=3)


def test_added_positions_check_width_and_dtype():
    with pytest.raises(ValueError, match=r"x must be \(B, T, 8\), got \(2, 5, 1\)"):
        LearnedPositions(6, 8)(torch.zeros(2, 5, 1))
    with pytest.raises(ValueError, match=r"x must be \(B, T, 8\), got \(2, 5, 4\)"):
        SinusoidalPositions(8)(torch.zeros(2, 5, 4))
    with pytest.raises(TypeError, match="x has dtype torch.float64 but the LearnedPositions'"):
        LearnedPositions(6, 8)(torch.zeros(2, 5, 8, dtype=torch.float64))


def test_alibi_in_attention_matches_torch_with_a_float_mask():
    q, k, v = (torch.randn(2, 3, 5, 4) for _ in range(3))  # (B, H, T, D)
    bias = alibi_bias(5, 3, causal=True)  # (H, T, T)
    ours = scaled_dot_product_attention(q, k, v, masks.causal_mask(5), bias)[0]
    additive = bias + masks.to_pytorch(masks.causal_mask(5), "additive")
    torch.testing.assert_close(ours, F.scaled_dot_product_attention(q, k, v, attn_mask=additive))
    with pytest.raises(ValueError, match=r"bias of shape \(3, 4, 4\) does not broadcast"):
        scaled_dot_product_attention(q, k, v, bias=alibi_bias(4, 3))


def test_added_schemes_and_their_limits():
    x = torch.zeros(2, 5, 8)
    assert torch.equal(SinusoidalPositions(8)(x)[0], sinusoidal_encoding(5, 8))
    learned = LearnedPositions(6, 8)
    assert torch.equal(learned(x)[1], learned.embedding.weight[:5])
    with pytest.raises(ValueError, match="length 7 is longer than the 6 positions"):
        learned(torch.zeros(1, 7, 8))


def test_attention_without_positions_is_permutation_equivariant_and_rope_is_not():
    torch.manual_seed(0)
    x, perm = torch.randn(2, 7, 16), torch.randperm(7)
    plain = MultiHeadAttention(d_model=16, num_heads=2)
    torch.testing.assert_close(plain(x[:, perm])[0], plain(x)[0][:, perm])
    rope = MultiHeadAttention(d_model=16, num_heads=2, rope=True)
    rope.load_state_dict(plain.state_dict())
    assert not torch.allclose(rope(x[:, perm])[0], rope(x)[0][:, perm], atol=1e-4)
    with pytest.raises(ValueError, match="head_dim 3 must be even"):
        MultiHeadAttention(d_model=6, num_heads=2, rope=True)


@pytest.mark.parametrize("scheme", ["sinusoidal", "rotary", "alibi"])
def test_relative_similarity_is_largest_at_zero_offset(scheme):
    sim = relative_similarity(20, scheme)
    assert sim.shape == (20, 20)
    assert (sim.argmax(-1) == torch.arange(20)).all()
    with pytest.raises(ValueError, match="needs the embedding table"):
        relative_similarity(5, "learned")


def test_relative_similarity_uses_the_rotation_it_is_given():
    """Notebook 05 passes the learner's rotary; the same rotation gives the same table, and a
    rotation that ignores the positions gives a flat one."""
    torch.testing.assert_close(relative_similarity(12, "rotary", d=8, rotate=lambda x: rotary(x)),
                               relative_similarity(12, "rotary", d=8))
    flat = relative_similarity(12, "rotary", d=8, rotate=lambda x: x.clone())
    torch.testing.assert_close(flat, torch.ones(12, 12))


def test_position_explorer_redraws():
    explorer = PositionExplorer({s: relative_similarity(16, s) for s in ["sinusoidal", "alibi"]})
    png, row = explorer.image.value, explorer.shown.clone()
    explorer.controls["position"].value = 3
    assert explorer.image.value != png and not torch.equal(explorer.shown, row)
    explorer.controls["scheme"].value = "alibi"
    torch.testing.assert_close(explorer.shown, relative_similarity(16, "alibi")[3])
    with pytest.raises(ValueError, match="same size"):
        PositionExplorer({"a": torch.rand(3, 3), "b": torch.rand(4, 4)})
