"""helpers.multihead against torch.nn.MultiheadAttention with copied weights; the fast
(fused) path against the explicit one; the key/value cache."""
import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch import nn

from helpers import masks
from helpers.positional import alibi_bias
from helpers.multihead import KVCache, MultiHeadAttention, copy_attention_to_torch


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
    out, weights = mha(torch.randn(1, 3, 8))  # need_weights=True is the default
    assert weights.shape == mha.attn_weights.shape == (1, 2, 3, 3)
    assert not mha.attn_weights.requires_grad
    out, weights = mha(torch.randn(1, 3, 8), need_weights=False)  # the fused kernel
    assert weights is None and mha.attn_weights is None


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
    with pytest.raises(ValueError, match=r"mask of shape \(1, 4, 4\) does not broadcast to the "
                                         r"scores' shape \(2, 3, 3\) \(B, T, S\)"):
        mha(torch.randn(2, 3, 8), mask=masks.causal_mask(4)[None])
    with pytest.raises(TypeError, match="boolean tensor"):
        mha(torch.randn(2, 3, 8), mask=torch.ones(3, 3))


# --- the key/value cache -----------------------------------------------------------------

@pytest.mark.parametrize("rope", [False, True])
def test_cache_matches_full_pass(rope):
    torch.manual_seed(0)
    attn = MultiHeadAttention(d_model=16, num_heads=2, rope=rope)
    x = torch.randn(1, 6, 16)
    full = attn(x, mask=masks.causal_mask(6))[0]
    cache = KVCache()
    parts = [attn(x[:, :4], mask=masks.causal_mask(4), cache=cache)[0],
             attn(x[:, 4:], mask=masks.causal_mask(2, 6), cache=cache)[0]]
    torch.testing.assert_close(torch.cat(parts, 1), full, atol=1e-5, rtol=1e-4)
    assert cache.length == 6 and cache.k.shape == cache.v.shape == (1, 2, 6, 8)


def test_cache_appends_and_checks_the_batch_size():
    cache = KVCache()
    assert cache.length == 0
    k, v = cache.append(torch.zeros(2, 4, 3, 8), torch.ones(2, 4, 3, 8))
    assert k.shape == (2, 4, 3, 8) and cache.length == 3
    k, v = cache.append(torch.zeros(2, 4, 1, 8), torch.ones(2, 4, 1, 8))
    assert k.shape == v.shape == (2, 4, 4, 8) and cache.length == 4 and repr(cache) == "KVCache(length=4)"
    with pytest.raises(ValueError, match="holds a batch of 2 sequences, got 5; start a new cache"):
        cache.append(torch.zeros(5, 4, 1, 8), torch.zeros(5, 4, 1, 8))


def test_cache_writes_in_place_into_one_buffer_and_returns_views():
    cache = KVCache(max_length=5)
    k0, v0 = torch.randn(2, 4, 3, 8), torch.randn(2, 4, 3, 8)
    cache.append(k0, v0)
    buffer = cache._k
    k1, v1 = torch.randn(2, 4, 1, 8), torch.randn(2, 4, 1, 8)
    k, v = cache.append(k1, v1)
    assert cache._k is buffer and k.data_ptr() == buffer.data_ptr()  # no copy, a view
    torch.testing.assert_close(k, torch.cat([k0, k1], 2), rtol=0, atol=0)
    torch.testing.assert_close(v, torch.cat([v0, v1], 2), rtol=0, atol=0)
    torch.testing.assert_close(cache.k, k, rtol=0, atol=0)
    with pytest.raises(ValueError, match=r"this cache holds at most 5 tokens; 4 \+ 2 asked"):
        cache.append(torch.randn(2, 4, 2, 8), torch.randn(2, 4, 2, 8))
    assert cache.length == 4


def test_cache_without_a_maximum_grows_and_keeps_what_it_holds():
    cache, keys = KVCache(), []
    for T in [50, 1, 30, 100]:
        keys.append(torch.randn(1, 2, T, 4))
        k, v = cache.append(keys[-1], 2 * keys[-1])
    torch.testing.assert_close(k, torch.cat(keys, 2), rtol=0, atol=0)
    torch.testing.assert_close(v, 2 * torch.cat(keys, 2), rtol=0, atol=0)
    assert cache.length == 181 and KVCache().k is None


@pytest.mark.parametrize("k, words", [
    (torch.zeros(2, 3, 1, 8), r"holds keys \(B, H=4, S, D=8\) of torch.float32, got \(2, 3, 1, 8\)"),
    (torch.zeros(2, 4, 1, 8, dtype=torch.float64), r"got \(2, 4, 1, 8\) of torch.float64"),
])
def test_cache_rejects_keys_of_another_layer(k, words):
    cache = KVCache()
    cache.append(torch.zeros(2, 4, 3, 8), torch.zeros(2, 4, 3, 8))
    with pytest.raises(ValueError, match=words):
        cache.append(k, k)
    with pytest.raises(ValueError, match="max_length must be a positive int or None, got 0"):
        KVCache(max_length=0)


def test_attention_checks_the_cache_before_storing_anything():
    mha, cache = MultiHeadAttention(d_model=8, num_heads=2), KVCache()
    mha(torch.randn(2, 3, 8), mask=masks.causal_mask(3), cache=cache)
    with pytest.raises(ValueError, match="holds a batch of 2 sequences, got 1"):
        mha(torch.randn(1, 1, 8), mask=masks.causal_mask(1, 4), cache=cache)
    with pytest.raises(ValueError, match=r"mask of shape \(2, 2\) does not broadcast to the "
                                         r"scores' shape \(2, 1, 4\)"):
        mha(torch.randn(2, 1, 8), mask=masks.causal_mask(2), cache=cache)
    assert cache.length == 3
    with pytest.raises(TypeError, match="cache must be a KVCache, got dict"):
        mha(torch.randn(2, 1, 8), cache={})
    with pytest.raises(ValueError, match="cache is for self-attention; got a context"):
        mha(torch.randn(2, 1, 8), torch.randn(2, 4, 8), cache=cache)


def test_rejects_mixed_dtypes_and_bad_biases():
    mha = MultiHeadAttention(d_model=8, num_heads=2)
    with pytest.raises(TypeError, match=r"x has dtype torch.float64 but the MultiHeadAttention's "
                                        r"parameters are torch.float32"):
        mha(torch.randn(2, 3, 8, dtype=torch.float64))
    with pytest.raises(TypeError, match="context has dtype torch.float16"):
        mha(torch.randn(2, 3, 8), torch.randn(2, 4, 8).half())
    with pytest.raises(ValueError, match=r"bias of shape \(3, 3, 3\) does not broadcast to the "
                                         r"scores' shape \(2, 2, 3, 3\) \(B, H, T, S\)"):
        mha(torch.randn(2, 3, 8), bias=torch.zeros(3, 3, 3))


# --- the fast path (need_weights=False) computes what the explicit path computes ---------

MASK_KINDS = ["none", "causal", "padding", "padding + causal", "random, some rows blocked"]


def make_mask(kind, B, T, S, g):
    """A mask of the given kind, broadcasting to (B, T, S)."""
    causal = masks.causal_mask(T, S)  # (T, S): the last T of S positions
    padding = masks.padding_mask(torch.randint(1, S + 1, (B,), generator=g), S)  # (B, 1, S)
    if kind == "random, some rows blocked":
        mask = torch.rand(B, T, S, generator=g) > 0.5
        mask[:, 0] = False  # the first query of every example sees nothing
        return mask
    return {"none": None, "causal": causal, "padding": padding,
            "padding + causal": masks.combine(padding, causal)}[kind]


def assert_paths_agree(mha, x, context=None, atol=None, rtol=None, **kwargs):
    """Outputs and gradients (inputs and parameters) of both paths, compared."""
    inputs = [x] + ([] if context is None else [context])
    results = []
    for need_weights in (True, False):
        out, weights = mha(x, context, need_weights=need_weights, **kwargs)
        assert (weights is None) == (not need_weights)
        grad = torch.ones_like(out) + torch.arange(out.numel()).view_as(out) % 3
        results.append((out, torch.autograd.grad(out, [*inputs, *mha.parameters()], grad)))
    (explicit, explicit_grads), (fast, fast_grads) = results
    torch.testing.assert_close(fast, explicit, atol=atol, rtol=rtol)
    for a, b in zip(fast_grads, explicit_grads):
        torch.testing.assert_close(a, b, atol=atol, rtol=rtol)


@settings(max_examples=60, deadline=None)
@given(B=st.integers(1, 3), T=st.integers(1, 6), extra=st.integers(0, 3), H=st.sampled_from([1, 2, 4]),
       D=st.sampled_from([2, 4]), kind=st.sampled_from(MASK_KINDS), cross=st.booleans(),
       rope=st.booleans(), alibi=st.booleans(), seed=st.integers(0, 999))
def test_property_fast_path_equals_explicit_path(B, T, extra, H, D, kind, cross, rope, alibi, seed):
    """float64, PyTorch's default tolerance (rtol 1e-7, atol 1e-7): every mask kind, attention
    over another sequence, RoPE and ALiBi, forward and backward."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    mha = MultiHeadAttention(d_model=H * D, num_heads=H, rope=rope).double()
    S = T + extra if cross else T
    x = torch.randn(B, T, H * D, generator=g, dtype=torch.float64, requires_grad=True)
    context = torch.randn(B, S, H * D, generator=g, dtype=torch.float64,
                          requires_grad=True) if cross else None
    bias = alibi_bias(T, H, S, causal="causal" in kind) if alibi else None
    assert_paths_agree(mha, x, context, mask=make_mask(kind, B, T, S, g), bias=bias)


@pytest.mark.parametrize("kind", MASK_KINDS)
def test_fast_path_equals_explicit_path_in_float32(kind):
    """float32, as the models train: atol 1e-5, rtol 1e-4 (summation order differs)."""
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    mha = MultiHeadAttention(d_model=32, num_heads=4)
    x = torch.randn(3, 7, 32, generator=g, requires_grad=True)
    assert_paths_agree(mha, x, mask=make_mask(kind, 3, 7, 7, g), bias=alibi_bias(7, 4),
                       atol=1e-5, rtol=1e-4)


def test_fast_path_gives_zeros_for_a_query_that_sees_nothing():
    """What sdpa returns for a fully blocked row, pinned: zeros, as the explicit path does,
    whether the attn_mask is a bool one or a float one (a bias with -inf where blocked)."""
    q, k, v = (torch.randn(1, 2, 4, 3) for _ in range(3))  # (B, H, T, D)
    mask = torch.ones(4, 4, dtype=torch.bool)
    mask[2] = False
    for attn_mask in (mask, alibi_bias(4, 2).masked_fill(~mask, float("-inf"))):
        out = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        assert torch.equal(out[:, :, 2], torch.zeros(1, 2, 3))
    mha = MultiHeadAttention(d_model=8, num_heads=2, bias=False)  # no out_proj bias: 0 -> 0
    for bias in (None, alibi_bias(4, 2)):
        out = mha(torch.randn(1, 4, 8), mask=mask, bias=bias, need_weights=False)[0]
        assert torch.equal(out[:, 2], torch.zeros(1, 8))


def test_fast_path_with_the_cache_matches_the_explicit_full_pass():
    torch.manual_seed(0)
    mha = MultiHeadAttention(d_model=16, num_heads=2, rope=True)
    x = torch.randn(2, 6, 16)
    full = mha(x, mask=masks.causal_mask(6))[0]
    cache = KVCache()
    steps = [mha(x[:, :3], mask=masks.causal_mask(3), cache=cache, need_weights=False)[0]]
    steps += [mha(x[:, t:t + 1], mask=masks.causal_mask(1, t + 1), cache=cache,
                  need_weights=False)[0] for t in range(3, 6)]
    torch.testing.assert_close(torch.cat(steps, 1), full, atol=1e-5, rtol=1e-4)


def test_a_rotation_function_replaces_rotary():
    """rope=f uses f(x, offset=...) for queries and keys (the learner's rotary, notebook 05):
    the course's rotary passed as f gives rope=True's output, another function another."""
    from helpers.positional import rotary
    torch.manual_seed(0)
    ours = MultiHeadAttention(d_model=16, num_heads=2, rope=True)
    calls = []

    def counting(x, offset=0):
        calls.append(offset)
        return rotary(x, offset=offset)

    theirs = MultiHeadAttention(d_model=16, num_heads=2, rope=counting)
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(2, 5, 16)
    assert torch.allclose(ours(x)[0], theirs(x)[0]) and calls == [0, 0]
    plain = MultiHeadAttention(d_model=16, num_heads=2, rope=lambda x, offset=0: x)
    plain.load_state_dict(ours.state_dict())
    assert not torch.allclose(ours(x)[0], plain(x)[0])
