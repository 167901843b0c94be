"""helpers.gpt: causality, tied weights, the key/value cache and sampling."""
import pytest
import torch

from helpers.gpt import GPT, GPTConfig, generate, sample_next
from helpers.multihead import MultiHeadAttention


def tiny(seed=0, **kwargs):
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=20, block_size=32, d_model=32, num_heads=4, **kwargs)).eval()


def test_shapes_tied_weights_and_causality():
    model = tiny()
    idx = torch.randint(0, 20, (2, 10))
    logits, weights = model(idx)
    assert logits.shape == (2, 10, 20) and weights.shape == (2, 2, 4, 10, 10)
    # Tied: token 5 is not in the input, so its embedding row can only get a gradient
    # through the unembedding, which must therefore be the same matrix.
    only_zeros = torch.zeros(1, 4, dtype=torch.long)
    model(only_zeros)[0][..., 5].sum().backward()
    assert model.token.weight.grad[5].abs().sum() > 0
    model.zero_grad()
    changed = idx.clone()
    changed[:, 6:] = (changed[:, 6:] + 1) % 20
    with torch.no_grad():
        torch.testing.assert_close(model(changed)[0][:, :6], logits[:, :6])


def test_cached_forward_gives_the_same_logits():
    model = tiny()
    idx = torch.randint(0, 20, (2, 12))
    with torch.no_grad():
        full, _ = model(idx)
        caches = model.new_caches()
        steps = [model(idx[:, :5], caches)[0]] + [model(idx[:, t:t + 1], caches)[0] for t in range(5, 12)]
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("temperature, top_k", [(0.0, None), (1.0, None), (0.8, 5)])
def test_cached_and_uncached_generation_give_identical_tokens(temperature, top_k):
    model = tiny(1)
    prompt = torch.randint(0, 20, (3, 4))
    a = generate(model, prompt, 20, temperature=temperature, top_k=top_k, use_cache=True,
                 generator=torch.Generator().manual_seed(0))
    b = generate(model, prompt, 20, temperature=temperature, top_k=top_k, use_cache=False,
                 generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and a.shape == (3, 24)


def test_rope_cache_matches_full_pass():
    torch.manual_seed(0)
    attn = MultiHeadAttention(d_model=16, num_heads=2, rope=True)
    x = torch.randn(1, 6, 16)
    from helpers.masks import causal_mask

    full = attn(x, mask=causal_mask(6))[0]
    cache = {}
    parts = [attn(x[:, :4], mask=causal_mask(4), cache=cache)[0],
             attn(x[:, 4:], mask=causal_mask(2, 6), cache=cache)[0]]
    torch.testing.assert_close(torch.cat(parts, 1), full, atol=1e-5, rtol=1e-4)


def test_sampling_temperature_and_top_k():
    logits = torch.tensor([[2.0, 1.0, 0.5, -1.0]]).expand(4000, 4)
    g = torch.Generator().manual_seed(0)
    assert (sample_next(logits, 0.0) == 0).all()
    top2 = sample_next(logits, 1.0, top_k=2, generator=g)
    assert set(top2.tolist()) == {0, 1}
    hot = sample_next(logits, 100.0, generator=g).bincount(minlength=4) / 4000
    assert hot.min() > 0.2  # nearly uniform
    with pytest.raises(ValueError, match="temperature must be >= 0"):
        sample_next(logits, -1.0)


def test_context_window_errors():
    model = tiny()
    with pytest.raises(ValueError, match="40 tokens do not fit in the context window of 32"):
        model(torch.zeros(1, 40, dtype=torch.long))
    with pytest.raises(ValueError, match="cache holds at most 32 tokens"):
        generate(model, torch.zeros(1, 30, dtype=torch.long), 5)
    assert generate(model, torch.zeros(1, 30, dtype=torch.long), 5, use_cache=False).shape == (1, 35)
    with pytest.raises(ValueError, match=r"idx must be \(B, T\)"):
        generate(model, torch.zeros(5, dtype=torch.long), 1)


def test_top_k_filter_keeps_the_k_largest_in_any_shape():
    from helpers.gpt import top_k_filter

    row = torch.tensor([3.0, 1.0, 2.0, 0.0])
    assert top_k_filter(row, 2).tolist() == [3.0, float("-inf"), 2.0, float("-inf")]
    batch = torch.randn(5, 3, 10)
    kept = torch.isfinite(top_k_filter(batch, 4)).sum(-1)
    assert (kept == 4).all() and torch.isfinite(top_k_filter(batch, 99)).all()
