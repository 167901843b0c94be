"""helpers.attention against torch.nn.functional.scaled_dot_product_attention."""
import math

import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch.nn import functional as F

from helpers.attention import SelfAttention, scaled_dot_product_attention

SHAPES = [  # (batch dims, T, S, D, Dv)
    ((), 1, 1, 1, 1),
    ((), 4, 6, 8, 3),
    ((2,), 5, 5, 16, 16),
    ((2, 3), 7, 4, 8, 5),
    ((1, 2, 2), 3, 9, 4, 2),
]


def make_qkv(batch, T, S, D, Dv, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(*batch, n, d, generator=g, dtype=dtype, requires_grad=True)
            for n, d in ((T, D), (S, D), (S, Dv))]


def random_mask(batch, T, S, seed=0, causal=False):
    g = torch.Generator().manual_seed(seed)
    if causal:
        return torch.ones(T, S, dtype=torch.bool).tril()
    mask = torch.rand(*batch, T, S, generator=g) > 0.4
    mask[..., 0] = True  # every query keeps at least one key
    return mask


def assert_matches_torch(q, k, v, mask):
    out, weights = scaled_dot_product_attention(q, k, v, mask)
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    torch.testing.assert_close(out, ref)
    grad_out = torch.randn_like(out)
    ours = torch.autograd.grad(out, (q, k, v), grad_out)
    theirs = torch.autograd.grad(ref, (q, k, v), grad_out)
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:-1], dtype=q.dtype))
    return weights


@pytest.mark.parametrize("shape", SHAPES)
def test_matches_torch_without_mask(shape):
    assert_matches_torch(*make_qkv(*shape), mask=None)


@pytest.mark.parametrize("shape", SHAPES)
def test_matches_torch_with_padding_style_mask(shape):
    batch, T, S, *_ = shape
    weights = assert_matches_torch(*make_qkv(*shape), mask=random_mask(batch, T, S))
    assert (weights[~random_mask(batch, T, S).expand_as(weights)] == 0).all()


@pytest.mark.parametrize("shape", [s for s in SHAPES if s[1] == s[2]])
def test_matches_torch_with_causal_mask(shape):
    batch, T, S, *_ = shape
    weights = assert_matches_torch(*make_qkv(*shape), mask=random_mask(batch, T, S, causal=True))
    assert (weights.triu(1) == 0).all()


def test_fully_masked_row_gives_zeros_like_torch():
    q, k, v = make_qkv((1,), 3, 4, 8, 2)
    mask = torch.ones(3, 4, dtype=torch.bool)
    mask[1] = False
    out, weights = scaled_dot_product_attention(q, k, v, mask)
    assert torch.isfinite(out).all() and (weights[:, 1] == 0).all() and (out[:, 1] == 0).all()
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask))


@settings(max_examples=40, deadline=None)
@given(T=st.integers(1, 6), S=st.integers(1, 6), D=st.integers(1, 8), seed=st.integers(0, 99),
       scale=st.floats(0.1, 30.0))
def test_property_matches_torch_and_rows_sum_to_one(T, S, D, seed, scale):
    q, k, v = make_qkv((2,), T, S, D, 3, seed)
    with torch.no_grad():
        q.mul_(scale)  # large scores too: the softmax must not overflow
    assert_matches_torch(q, k, v, random_mask((2,), T, S, seed))


def test_scaling_is_square_root_of_d_k():
    q, k, v = make_qkv((), 2, 3, 9, 1)
    _, weights = scaled_dot_product_attention(q, k, v)
    expected = torch.softmax(q @ k.T / math.sqrt(9), dim=-1)
    torch.testing.assert_close(weights, expected)


def test_broadcasts_a_mask_over_the_batch():
    q, k, v = make_qkv((2, 3), 4, 4, 8, 8)
    mask = torch.ones(4, 4, dtype=torch.bool).tril()
    torch.testing.assert_close(scaled_dot_product_attention(q, k, v, mask)[0],
                               F.scaled_dot_product_attention(q, k, v, attn_mask=mask))


# --- bad input: the message names what was expected and what came -------------------

def test_rejects_non_tensors_and_integer_dtypes():
    q = torch.randn(2, 3)
    with pytest.raises(TypeError, match="q must be a torch.Tensor, got list"):
        scaled_dot_product_attention([[1.0]], q, q)
    with pytest.raises(TypeError, match="k must be a floating-point tensor, got dtype torch.int64"):
        scaled_dot_product_attention(q, torch.ones(2, 3, dtype=torch.long), q)
    with pytest.raises(TypeError, match="share a dtype"):
        scaled_dot_product_attention(q, q.double(), q)


def test_rejects_wrong_rank():
    with pytest.raises(ValueError, match=r"q must have at least 2 dimensions, got shape \(4\)"):
        scaled_dot_product_attention(torch.randn(4), torch.randn(3, 4), torch.randn(3, 4))


@pytest.mark.parametrize("k_shape, v_shape, words", [
    ((2, 6, 5), (2, 6, 3), r"same width D.*got q \(2, 5, 4\), k \(2, 6, 5\), v \(2, 6, 3\)"),
    ((2, 6, 4), (2, 7, 3), r"same length S.*got q \(2, 5, 4\), k \(2, 6, 4\), v \(2, 7, 3\)"),
    ((3, 6, 4), (3, 6, 3), r"do not broadcast: q \(2\), k \(3\), v \(3\)"),
])
def test_rejects_mismatched_sizes(k_shape, v_shape, words):
    with pytest.raises(ValueError, match=words):
        scaled_dot_product_attention(torch.randn(2, 5, 4), torch.randn(k_shape),
                                     torch.randn(v_shape))


def test_rejects_bad_masks():
    q, k, v = torch.randn(2, 5, 4), torch.randn(2, 6, 4), torch.randn(2, 6, 3)
    with pytest.raises(TypeError, match="dtype torch.bool.*got torch.float32"):
        scaled_dot_product_attention(q, k, v, torch.ones(5, 6))
    with pytest.raises(ValueError, match=r"mask of shape \(6, 5\) does not broadcast to the "
                                         r"scores' shape \(2, 5, 6\)"):
        scaled_dot_product_attention(q, k, v, torch.ones(6, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"mask of shape \(3, 5, 6\)"):
        scaled_dot_product_attention(q, k, v, torch.ones(3, 5, 6, dtype=torch.bool))
    with pytest.raises(TypeError, match="boolean torch.Tensor, got list"):
        scaled_dot_product_attention(q, k, v, [[True]])


def test_rejects_a_bias_that_would_grow_the_scores():
    q, k, v = torch.randn(2, 5, 4), torch.randn(2, 6, 4), torch.randn(2, 6, 3)
    with pytest.raises(ValueError, match=r"bias of shape \(3, 2, 5, 6\) does not broadcast to the "
                                         r"scores' shape \(2, 5, 6\)"):
        scaled_dot_product_attention(q, k, v, bias=torch.zeros(3, 2, 5, 6))


# --- the learned head ----------------------------------------------------------------

def test_self_attention_is_the_formula_on_its_projections():
    torch.manual_seed(0)
    attn = SelfAttention(8, 4, 6)
    x = torch.randn(3, 5, 8)
    out, weights = attn(x)
    ref = F.scaled_dot_product_attention(attn.w_q(x), attn.w_k(x), attn.w_v(x))
    torch.testing.assert_close(out, ref)
    assert out.shape == (3, 5, 6) and weights.shape == (3, 5, 5)
    assert attn.attn_weights is not None and not attn.attn_weights.requires_grad


def test_self_attention_over_another_sequence():
    torch.manual_seed(0)
    attn = SelfAttention(8, 4)
    x, context = torch.randn(2, 3, 8), torch.randn(2, 7, 8)
    mask = torch.ones(3, 7, dtype=torch.bool)
    mask[:, 5:] = False
    out, weights = attn(x, context, mask)
    assert out.shape == (2, 3, 4) and weights.shape == (2, 3, 7)
    assert (weights[..., 5:] == 0).all()
    ref = F.scaled_dot_product_attention(attn.w_q(x), attn.w_k(context), attn.w_v(context),
                                         attn_mask=mask)
    torch.testing.assert_close(out, ref)


def test_self_attention_checks_widths():
    with pytest.raises(ValueError, match="d_k must be a positive int, got 0"):
        SelfAttention(8, 0)
    with pytest.raises(ValueError, match=r"x must be \(\.\.\., T, 8\), got \(2, 3, 5\)"):
        SelfAttention(8, 4)(torch.randn(2, 3, 5))


def test_self_attention_checks_dtypes_and_types():
    attn = SelfAttention(8, 4)
    with pytest.raises(TypeError, match=r"x has dtype torch.float64 but the SelfAttention's "
                                        r"parameters are torch.float32"):
        attn(torch.randn(2, 3, 8, dtype=torch.float64))
    with pytest.raises(TypeError, match=r"context must be a floating-point tensor, got dtype torch.int64"):
        attn(torch.randn(2, 3, 8), torch.ones(2, 3, 8, dtype=torch.long))


def test_additive_attention_is_the_bahdanau_formula_and_names_bad_widths():
    from helpers.attention import AdditiveAttention

    torch.manual_seed(0)
    attn = AdditiveAttention(4, 5, 7)
    q, k, v = torch.randn(2, 3, 4), torch.randn(2, 6, 5), torch.randn(2, 6, 2)
    out, weights = attn(q, k, v)
    W_q, W_k, w = attn.W_q.weight.detach(), attn.W_k.weight.detach(), attn.w.weight[0].detach()
    scores = torch.tensor([[[float(w @ torch.tanh(W_q @ q[b, t] + W_k @ k[b, s])) for s in range(6)]
                            for t in range(3)] for b in range(2)])  # one pair at a time
    assert torch.allclose(weights, scores.softmax(-1), atol=1e-6)
    assert torch.allclose(out, scores.softmax(-1) @ v, atol=1e-6)
    assert out.shape == (2, 3, 2) and [n for n, _ in attn.named_parameters()] == \
        ["W_q.weight", "W_k.weight", "w.weight"]
    with pytest.raises(ValueError, match="k"):
        attn(q, torch.randn(2, 6, 4), v)
    with pytest.raises(ValueError, match="hidden must be a positive int"):
        AdditiveAttention(4, 5, 0)
