"""helpers.masks: the one convention, the conversions, and properties of masked attention."""
import re

import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch import nn

from helpers import masks
from helpers.attention import scaled_dot_product_attention
from helpers.multihead import MultiHeadAttention
from helpers.widgets import MaskLab


def test_causal_mask_lower_triangle_and_offset():
    assert torch.equal(masks.causal_mask(3), torch.tensor([[1, 0, 0], [1, 1, 0], [1, 1, 1]]).bool())
    # 2 new queries at the end of a sequence of 4 keys: positions 2 and 3
    assert torch.equal(masks.causal_mask(2, 4), torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]]).bool())
    with pytest.raises(ValueError, match="need 1 <= T <= S, got T=3, S=2"):
        masks.causal_mask(3, 2)


def test_causal_mask_matches_pytorch_generate_square_subsequent_mask():
    theirs = nn.Transformer.generate_square_subsequent_mask(5)  # additive: 0 / -inf
    assert torch.equal(masks.from_pytorch(theirs, "additive"), masks.causal_mask(5))
    assert torch.equal(masks.to_pytorch(masks.causal_mask(5), "additive"), theirs)


@pytest.mark.parametrize("lengths, max_len", [([3, 1, 2], None), ([1], 4), ([5, 5], 5)])
def test_padding_mask_from_lengths_and_from_tokens_agree(lengths, max_len):
    m = masks.padding_mask(torch.tensor(lengths), max_len)
    S = max_len or max(lengths)
    assert m.shape == (len(lengths), 1, S) and m.dtype == torch.bool
    assert m.sum(-1).squeeze(-1).tolist() == lengths
    tokens = torch.where(m[:, 0], torch.tensor(7), torch.tensor(0))  # 0 is the pad id
    assert torch.equal(masks.padding_mask_from_tokens(tokens, pad_id=0), m)


def test_padding_mask_rejects_bad_lengths():
    with pytest.raises(ValueError, match=r"every length must be in 1..3, got \[4\]"):
        masks.padding_mask(torch.tensor([4]), 3)
    with pytest.raises(ValueError, match="1-D integer tensor"):
        masks.padding_mask(torch.tensor([[1.0]]))
    with pytest.raises(ValueError, match=r"tokens must be \(B, S\) token ids, got \(3\)"):
        masks.padding_mask_from_tokens(torch.tensor([1, 2, 0]), 0)


def test_combine_and_its_errors():
    both = masks.combine(masks.padding_mask(torch.tensor([2, 3])), masks.causal_mask(3))
    assert both.shape == (2, 3, 3)
    assert both[0].int().tolist() == [[1, 0, 0], [1, 1, 0], [1, 1, 0]]
    assert masks.combine(None, masks.causal_mask(2)).shape == (2, 2)
    with pytest.raises(TypeError, match="boolean"):
        masks.combine(torch.ones(2, 2))
    with pytest.raises(ValueError, match=r"\(2, 2\) and \(3, 3\) do not broadcast"):
        masks.combine(masks.causal_mask(2), masks.causal_mask(3))


@pytest.mark.parametrize("api", masks.APIS)
def test_conversions_round_trip(api):
    m = masks.combine(masks.padding_mask(torch.tensor([2, 4])), masks.causal_mask(4))
    assert torch.equal(masks.from_pytorch(masks.to_pytorch(m, api), api), m)
    with pytest.raises(ValueError, match="api must be one of"):
        masks.to_pytorch(m, "keras")


def test_conversions_give_the_same_attention_in_every_api():
    """The three conventions side by side: one mask, the same weights from each API."""
    torch.manual_seed(0)
    B, T, C = 2, 4, 8
    x = torch.randn(B, T, C)
    padding, causal = masks.padding_mask(torch.tensor([4, 2])), masks.causal_mask(T)
    ours = scaled_dot_product_attention(x, x, x, masks.combine(padding, causal))[0]
    sdpa = nn.functional.scaled_dot_product_attention(
        x, x, x, attn_mask=masks.to_pytorch(masks.combine(padding, causal), "sdpa"))
    additive = nn.functional.scaled_dot_product_attention(
        x, x, x, attn_mask=masks.to_pytorch(masks.combine(padding, causal), "additive"))
    torch.testing.assert_close(ours, sdpa)
    torch.testing.assert_close(ours, additive)
    mha = nn.MultiheadAttention(C, 1, batch_first=True, bias=False)
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.eye(C).repeat(3, 1))
        mha.out_proj.weight.copy_(torch.eye(C))
    theirs = mha(x, x, x, attn_mask=masks.to_pytorch(causal, "mha"),
                 key_padding_mask=masks.to_pytorch(padding, "mha")[:, 0])[0]
    torch.testing.assert_close(ours, theirs)


@pytest.mark.parametrize("value", [-0.5, -1e9, 1.0])
def test_from_pytorch_refuses_finite_values_in_an_additive_mask(value):
    additive = torch.zeros(3, 3)
    additive[0, 1] = value
    with pytest.raises(ValueError, match=rf"only 0 \(may attend\) and -inf \(blocked\), got 1 other "
                                         rf"values such as {re.escape(f'{value:g}')}; a finite value is a bias"):
        masks.from_pytorch(additive, "additive")


ENTRY_POINTS = {  # every public place that takes one of our masks, with a float mask
    "scaled_dot_product_attention": lambda m: scaled_dot_product_attention(*[torch.randn(2, 3, 4)] * 3, m),
    "MultiHeadAttention": lambda m: MultiHeadAttention(d_model=8, num_heads=2)(torch.randn(2, 3, 8), mask=m),
    "combine": lambda m: masks.combine(masks.causal_mask(3), m),
    "to_pytorch": lambda m: masks.to_pytorch(m, "mha"),
}


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_every_entry_point_gives_the_same_mask_message(entry):
    with pytest.raises(TypeError, match=r"^mask must be a boolean tensor of dtype torch.bool \(True = "
                                        r"may attend\), got torch.float32; for a 0/1 tensor use mask.bool\(\)"):
        ENTRY_POINTS[entry](torch.ones(3, 3))
    with pytest.raises(TypeError, match=r"^mask must be a boolean torch.Tensor, got list"):
        ENTRY_POINTS[entry]([[True]])


def test_wrong_conversion_is_caught():
    with pytest.raises(TypeError, match="additive mask is a float tensor"):
        masks.from_pytorch(masks.causal_mask(2), "additive")
    with pytest.raises(TypeError, match="'mha' mask is boolean"):
        masks.from_pytorch(torch.zeros(2, 2), "mha")


@settings(max_examples=30, deadline=None)
@given(T=st.integers(2, 8), t=st.integers(0, 7), seed=st.integers(0, 999))
def test_property_causal_outputs_ignore_the_future(T, t, seed):
    """Changing tokens after position t never changes the outputs at positions <= t."""
    t = min(t, T - 2)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, T, 6, generator=g)
    changed = x.clone()
    changed[:, t + 1:] = torch.randn(2, T - t - 1, 6, generator=g) * 10
    mask = masks.causal_mask(T)
    before = scaled_dot_product_attention(x, x, x, mask)[0]
    after = scaled_dot_product_attention(changed, changed, changed, mask)[0]
    torch.testing.assert_close(before[:, :t + 1], after[:, :t + 1])


@settings(max_examples=30, deadline=None)
@given(length=st.integers(1, 6), extra=st.integers(1, 6), seed=st.integers(0, 999))
def test_property_padding_does_not_change_real_outputs(length, extra, seed):
    """However much padding (of any value) follows, the real tokens' outputs are the same."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(1, length, 6, generator=g)
    padded = torch.cat([x, torch.randn(1, extra, 6, generator=g) * 10], dim=1)
    mask = masks.padding_mask(torch.tensor([length]), length + extra)
    out = scaled_dot_product_attention(padded, padded, padded, mask)[0]
    torch.testing.assert_close(out[:, :length], scaled_dot_product_attention(x, x, x)[0])


def test_mask_lab_redraws_and_hides_padding():
    lab = MaskLab([["the", "cat", "sat"], ["a", "dog"]])
    assert lab.weights[:, 3:].sum() == 0  # padding + causal by default
    png = lab.image.value
    lab.controls["kind"].value = "none"
    assert lab.image.value != png and lab.weights[:, 3:].sum() > 0
    lab.controls["kind"].value = "causal"
    assert torch.equal(lab.mask, masks.causal_mask(lab.controls["padded"].value))
    lab.controls["sentence"].value = 1
    assert lab.tokens[:2] == ["a", "dog"] and lab.controls["length"].max == 2
    lab.controls["length"].value = 1
    assert lab.tokens.count("<pad>") == lab.controls["padded"].value - 1
