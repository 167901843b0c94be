"""helpers.multihead against torch.nn.MultiheadAttention with copied weights."""
import pytest
import torch
from torch import nn

from helpers import masks
from helpers.multihead import MultiHeadAttention, copy_attention_to_torch


def twin(d_model, num_heads, bias=True, seed=0):
    """Our module and PyTorch's, with the same weights."""
    torch.manual_seed(seed)
    ours = MultiHeadAttention(d_model=d_model, num_heads=num_heads, bias=bias).double()
    theirs = nn.MultiheadAttention(d_model, num_heads, bias=bias, batch_first=True).double()
    return ours, copy_attention_to_torch(ours, theirs)


CASES = [  # B, T, S, C, H, padding lengths or None, causal
    (1, 1, 1, 4, 1, None, False),
    (2, 5, 5, 16, 4, None, False),
    (3, 6, 6, 32, 4, [6, 3, 1], False),
    (2, 7, 7, 24, 3, None, True),
    (2, 6, 6, 32, 8, [6, 4], True),
    (2, 3, 5, 16, 2, [5, 2], False),  # attention over another sequence
]


@pytest.mark.parametrize("B, T, S, C, H, lengths, causal", CASES)
@pytest.mark.parametrize("bias", [True, False])
def test_matches_torch_forward_and_backward(B, T, S, C, H, lengths, causal, bias):
    ours, theirs = twin(C, H, bias)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(B, T, C, generator=g, dtype=torch.float64, requires_grad=True)
    context = x if S == T else torch.randn(B, S, C, generator=g, dtype=torch.float64)
    padding = None if lengths is None else masks.padding_mask(torch.tensor(lengths), S)
    causal_m = masks.causal_mask(T) if causal else None
    out, weights = ours(x, None if context is x else context, masks.combine(padding, causal_m))
    ref, ref_weights = theirs(
        x, context, context, average_attn_weights=False,
        attn_mask=None if causal_m is None else masks.to_pytorch(causal_m, "mha"),
        key_padding_mask=None if padding is None else masks.to_pytorch(padding, "mha")[:, 0])
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(weights, ref_weights)
    assert weights.shape == (B, H, T, S)
    grad = torch.randn_like(out)
    ours_grads = torch.autograd.grad(out, [x, *ours.parameters()], grad)
    theirs_grads = torch.autograd.grad(ref, [x, theirs.in_proj_weight, *(
        [theirs.in_proj_bias] if bias else []), theirs.out_proj.weight, *(
        [theirs.out_proj.bias] if bias else [])], grad)
    for a, b in zip(ours_grads, theirs_grads):
        torch.testing.assert_close(a, b)


def test_same_parameter_count_as_one_full_width_head():
    counts = {h: sum(p.numel() for p in MultiHeadAttention(d_model=64, num_heads=h).parameters())
              for h in (1, 2, 4, 8)}
    assert len(set(counts.values())) == 1 and counts[1] == 4 * (64 * 64 + 64)


def test_weights_on_request_and_kept_for_widgets():
    mha = MultiHeadAttention(d_model=8, num_heads=2)
    out, weights = mha(torch.randn(1, 3, 8), need_weights=False)
    assert weights is None and mha.attn_weights.shape == (1, 2, 3, 3)


def test_heads_are_independent_slices():
    """Head h's output depends only on its own slice of the projections."""
    torch.manual_seed(0)
    mha = MultiHeadAttention(d_model=8, num_heads=2)
    x = torch.randn(1, 4, 8)
    _, before = mha(x)
    with torch.no_grad():
        for block in range(3):  # perturb head 1's rows of W_Q, W_K, W_V
            mha.in_proj.weight[block * 8 + 4: block * 8 + 8] += 1.0
    _, after = mha(x)
    torch.testing.assert_close(before[:, 0], after[:, 0])
    assert not torch.allclose(before[:, 1], after[:, 1])


@pytest.mark.parametrize("kwargs, words", [
    (dict(d_model=10, num_heads=4), r"d_model=10 must divide by num_heads=4.*\[1, 2, 5, 10\]"),
    (dict(d_model=8, num_heads=0), "num_heads must be a positive int, got 0"),
])
def test_rejects_bad_construction(kwargs, words):
    with pytest.raises(ValueError, match=words):
        MultiHeadAttention(**kwargs)


def test_constructor_is_keyword_only():
    with pytest.raises(TypeError):
        MultiHeadAttention(8, 2)


def test_rejects_bad_inputs():
    mha = MultiHeadAttention(d_model=8, num_heads=2)
    with pytest.raises(ValueError, match=r"x must be \(B, T, 8\), got \(2, 3, 6\)"):
        mha(torch.randn(2, 3, 6))
    with pytest.raises(ValueError, match=r"context must be \(B=2, S, C=8\), got \(1, 5, 8\)"):
        mha(torch.randn(2, 3, 8), torch.randn(1, 5, 8))
    with pytest.raises(ValueError, match=r"mask of shape \(1, 4, 4\) does not broadcast to "
                                         r"\(B, T, S\) = \(2, 3, 3\)"):
        mha(torch.randn(2, 3, 8), mask=masks.causal_mask(4)[None])
    with pytest.raises(TypeError, match="boolean tensor"):
        mha(torch.randn(2, 3, 8), mask=torch.ones(3, 3))
