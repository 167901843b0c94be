"""helpers/interp.py: the two attention-pattern scores and the two ablations (notebook 15)."""
import pytest
import torch
from torch import nn

from helpers.encoder import MLP
from helpers.interp import (ablate_head, induction_score, induction_targets, mean_output,
                            previous_token_score, replace_output)
from helpers.masks import causal_mask
from helpers.multihead import MultiHeadAttention


def causal_random(B=2, H=3, T=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(B, H, T, T, generator=g).masked_fill(~causal_mask(T), float("-inf"))
    return torch.softmax(scores, dim=-1)


def previous_token_pattern(T):
    w = torch.zeros(T, T)
    w[0, 0] = 1.0
    w[torch.arange(1, T), torch.arange(T - 1)] = 1.0
    return w


@pytest.mark.parametrize("T", [2, 5, 9])
def test_a_perfect_previous_token_head_scores_1_and_the_diagonal_0(T):
    w = torch.stack([previous_token_pattern(T), torch.eye(T)])[None]  # (1, 2, T, T)
    assert torch.allclose(previous_token_score(w), torch.tensor([1.0, 0.0]))


def test_previous_token_score_is_the_mean_below_the_diagonal():
    w = causal_random()
    expected = torch.stack([w[:, :, t, t - 1] for t in range(1, 7)], dim=-1).mean(dim=(0, 2))
    assert torch.allclose(previous_token_score(w), expected)


def test_induction_targets_mark_the_key_after_an_earlier_occurrence():
    tokens = torch.tensor([[5, 6, 7, 5, 6, 7]])
    targets = induction_targets(tokens)[0]
    assert targets.nonzero().tolist() == [[3, 1], [4, 2], [5, 3]]  # query 3 (a 5) -> key 1 (after the first 5)


def test_a_perfect_induction_head_scores_1_and_a_duplicate_token_head_0():
    tokens = torch.tensor([[5, 6, 7, 8, 5, 6, 7, 8]])
    T = tokens.shape[1]
    induction, duplicate = torch.eye(T), torch.eye(T)
    for t in range(4, T):
        induction[t] = 0
        induction[t, t - 3] = 1.0  # the key after the earlier occurrence
        duplicate[t] = 0
        duplicate[t, t - 4] = 1.0  # the earlier occurrence itself
    w = torch.stack([induction, duplicate])[None]  # (1, 2, T, T)
    assert torch.allclose(induction_score(w, tokens), torch.tensor([1.0, 0.0]))


def test_induction_score_averages_only_queries_with_a_target():
    w, tokens = causal_random(), torch.tensor([[1, 2, 1, 2, 3, 1, 4], [0, 0, 5, 6, 5, 6, 0]])
    targets = induction_targets(tokens)
    per_query = (w * targets[:, None]).sum(-1)  # (B, H, T)
    has = targets.any(-1)
    expected = torch.stack([per_query[:, h][has].mean() for h in range(w.shape[1])])
    assert torch.allclose(induction_score(w, tokens), expected)


@pytest.mark.parametrize("bad, message", [
    (torch.ones(3, 3), "(B, H, T, S)"),
    (torch.ones(1, 1, 4, 3), "S ≥ T"),
    (torch.ones(1, 1, 4, 4, dtype=torch.long), "float"),
])
def test_bad_weights_are_named(bad, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        previous_token_score(bad)


def test_bad_tokens_and_mismatches_are_named():
    w = causal_random(B=1, T=4)
    with pytest.raises(ValueError, match="integer tensor"):
        induction_score(w, torch.zeros(1, 4))
    with pytest.raises(ValueError, match="must agree"):
        induction_score(w, torch.zeros(1, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="nothing to score"):
        induction_score(w, torch.arange(4)[None])


@pytest.mark.parametrize("head", [0, 2])
def test_ablate_head_zeroes_that_heads_slice_before_w_o_and_restores_it(head):
    torch.manual_seed(0)
    attn = MultiHeadAttention(d_model=12, num_heads=3)
    x = torch.randn(2, 5, 12)
    before, _ = attn(x)
    seen = []
    with ablate_head(attn, head):  # a probe registered after it sees what out_proj receives
        probe = attn.out_proj.register_forward_pre_hook(lambda m, i: seen.append(i[0].clone()))
        ablated, _ = attn(x)
        probe.remove()
    D = 4
    heads_in = seen[0]  # what out_proj received, with the head zeroed
    assert torch.all(heads_in[..., head * D:(head + 1) * D] == 0)
    expected = attn.out_proj(heads_in)
    assert torch.allclose(ablated, expected)
    assert not torch.allclose(ablated, before)
    assert torch.allclose(attn(x)[0], before)  # restored after the block


def test_ablate_head_with_a_mean_and_on_the_fused_path():
    torch.manual_seed(1)
    attn = MultiHeadAttention(d_model=8, num_heads=2)
    x = torch.randn(2, 4, 8)
    with ablate_head(attn, 1, mean=torch.ones(4)):
        slow, _ = attn(x, need_weights=True)
        fast, _ = attn(x, need_weights=False)
    assert torch.allclose(slow, fast, atol=1e-6)


def test_ablate_head_refuses_what_it_cannot_ablate():
    with pytest.raises(TypeError, match="out_proj"):
        with ablate_head(nn.Linear(4, 4), 0):
            pass
    with pytest.raises(ValueError, match="num_heads − 1 = 1"):
        with ablate_head(MultiHeadAttention(d_model=8, num_heads=2), 2):
            pass


def test_mean_output_and_replace_output_on_an_mlp_and_an_attention():
    torch.manual_seed(2)
    mlp, attn = MLP(8, 16), MultiHeadAttention(d_model=8, num_heads=2)
    x = torch.randn(5, 3, 8)
    mean = mean_output(mlp, lambda: mlp(x))
    assert mean.shape == (1, 3, 8) and torch.allclose(mean, mlp(x).mean(0, keepdim=True))
    with replace_output(mlp, mean):
        assert torch.allclose(mlp(x), mean.expand(5, 3, 8))
    assert not torch.allclose(mlp(x), mean.expand(5, 3, 8))  # restored
    with replace_output(attn, torch.zeros(1, 1, 8)):
        out, weights = attn(x)
    assert torch.all(out == 0) and weights.shape == (5, 2, 3, 3)  # the weights pass through


def test_replace_output_and_mean_output_name_their_errors():
    mlp = MLP(8, 16)
    with pytest.raises(ValueError, match="does not broadcast"):
        with replace_output(mlp, torch.zeros(3, 7)):
            mlp(torch.randn(2, 3, 8))
    with pytest.raises(TypeError, match="a tensor"):
        with replace_output(mlp, 0.0):
            pass
    with pytest.raises(ValueError, match="ran 2 times"):
        mean_output(mlp, lambda: (mlp(torch.randn(1, 8)), mlp(torch.randn(1, 8))))
