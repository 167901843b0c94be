"""Multi-head attention: H heads of width D = C / H, run in parallel.

    MultiHead(x) = Concat(head_1, ..., head_H) W_O,   head_h = Attention(x W_Q^h, x W_K^h, x W_V^h)

All heads' projections are one fused Linear (C -> 3C); a reshape splits the result into
heads and one batched matrix product attends in every head at once. The parameters have
the same layout as ``torch.nn.MultiheadAttention`` (in_proj, out_proj), so weights can be
copied across and the two compared.

Two paths compute the same attention (notebooks 04-10):

    need_weights=True   our ``scaled_dot_product_attention``: softmax(QKᵀ/√d_k)V step by
                        step, the (B, H, T, S) weights kept for the widgets (the lesson);
    need_weights=False  ``torch.nn.functional.scaled_dot_product_attention``, one fused
                        kernel that never stores the weights: about twice as fast for
                        training and generation (tools/bench_attention.py).
"""
import torch
from torch import nn
from torch.nn import functional as F

from helpers._checks import (check_broadcasts, check_mask, check_same_dtype, check_tensor,
                             check_width, shape_str)
from helpers.attention import scaled_dot_product_attention
from helpers.positional import rotary


class KVCache:
    """The keys and values of the tokens seen so far, for one attention layer.

    During generation each step only projects its new tokens; ``append`` writes their keys
    and values (B, H, T, D) after the stored ones and returns all of them (B, H, S, D).

    The first ``append`` allocates one buffer (B, H, capacity, D) for keys and one for
    values, and later steps write into them in place: no step copies the whole cache, and
    what comes back is a view of the filled part. ``max_length`` fixes the capacity (a
    GPT's context window, ``GPT.new_caches()``); without it the buffers start at 64
    positions and double whenever they are full.

    It is for generation, under ``torch.no_grad()``: each append writes into the buffers
    that earlier views share, which autograd could not differentiate through.
    """

    def __init__(self, max_length: int | None = None):
        if max_length is not None and (not isinstance(max_length, int) or max_length < 1):
            raise ValueError(f"max_length must be a positive int or None, got {max_length!r}")
        self.max_length = max_length
        self.length = 0  # how many tokens are stored: the position of the next one
        self._k = self._v = None  # (B, H, capacity, D) buffers, allocated by the first append

    @property
    def k(self):
        """The stored keys (B, H, S, D), a view of the buffer; None before the first append."""
        return None if self._k is None else self._k[:, :, :self.length]

    @property
    def v(self):
        """The stored values (B, H, S, D), a view of the buffer; None before the first append."""
        return None if self._v is None else self._v[:, :, :self.length]

    def check_batch(self, B: int) -> None:
        if self._k is not None and B != self._k.shape[0]:
            raise ValueError(f"this cache holds a batch of {self._k.shape[0]} sequences, got "
                             f"{B}; start a new cache for another batch size")

    def append(self, k, v):
        """k, v: (B, H, T, D) of the new tokens -> every key and value so far (B, H, S, D)."""
        B, H, T, D = k.shape
        S = self.length + T
        if self._k is None:
            self._allocate(k, max(T, 64) if self.max_length is None else self.max_length)
        elif (H, D) != self._k.shape[1:4:2] or k.dtype != self._k.dtype:
            self.check_batch(B)
            raise ValueError(f"this cache holds keys (B, H={self._k.shape[1]}, S, "
                             f"D={self._k.shape[3]}) of {self._k.dtype}, got "
                             f"{shape_str(k.shape)} of {k.dtype}; one cache per attention layer")
        else:
            self.check_batch(B)
        if S > self._k.shape[2]:
            if self.max_length is not None:
                raise ValueError(f"this cache holds at most {self.max_length} tokens; "
                                 f"{self.length} + {T} asked")
            self._grow(max(S, 2 * self._k.shape[2]))
        self._k[:, :, self.length:S] = k  # written in place: nothing stored is copied
        self._v[:, :, self.length:S] = v
        self.length = S
        return self._k[:, :, :S], self._v[:, :, :S]  # (B, H, S, D) views

    def _allocate(self, k, capacity):
        B, H, _, D = k.shape
        self._k = k.new_empty(B, H, capacity, D)  # (B, H, capacity, D)
        self._v = k.new_empty(B, H, capacity, D)

    def _grow(self, capacity):
        old_k, old_v = self.k, self.v
        self._allocate(old_k, capacity)
        self._k[:, :, :self.length], self._v[:, :, :self.length] = old_k, old_v

    def __repr__(self) -> str:
        return f"KVCache(length={self.length})"


def cached_length(caches, num_blocks: int) -> int:
    """How many tokens the caches of a model with ``num_blocks`` blocks already hold (0 for
    no caches): the position of the first new token. Fails with a clear message unless
    ``caches`` is None or one KVCache per block (``model.new_caches()``)."""
    if caches is not None and (not isinstance(caches, (list, tuple)) or len(caches) != num_blocks
                               or not all(isinstance(c, KVCache) for c in caches)):
        raise TypeError(f"caches must be a list of {num_blocks} KVCache, one per "
                        f"block (model.new_caches()), got {type(caches).__name__}")
    return caches[0].length if caches is not None else 0


class MultiHeadAttention(nn.Module):
    """H attention heads over a width of C = d_model; each head has width D = C / H.

    x: (B, T, C)   context: (B, S, C), default x   mask: bool, broadcasts to (B, T, S)
    (True = may attend; the same mask for every head)
    returns out (B, T, C) and the weights of every head (B, H, T, S), also kept in
    ``self.attn_weights``; with need_weights=False the fused kernel computes the same
    output and both are None.
    """

    def __init__(self, *, d_model: int, num_heads: int, bias: bool = True, rope=False):
        super().__init__()
        if not isinstance(num_heads, int) or num_heads < 1:
            raise ValueError(f"num_heads must be a positive int, got {num_heads!r}")
        if not isinstance(d_model, int) or d_model < 1 or d_model % num_heads:
            fits = [h for h in range(1, min(d_model, 16) + 1) if d_model % h == 0] \
                if isinstance(d_model, int) and d_model > 0 else []
            raise ValueError(f"d_model={d_model!r} must divide by num_heads={num_heads}: each "
                             f"head gets d_model / num_heads features. Head counts that fit: {fits}")
        self.d_model, self.num_heads, self.head_dim = d_model, num_heads, d_model // num_heads
        if rope and self.head_dim % 2:
            raise ValueError(f"rotary embeddings rotate pairs of features: head_dim "
                             f"{self.head_dim} must be even")
        # rope: rotate queries and keys by their positions: True uses helpers.positional's
        # rotary; a function rope(x, offset=0) -> x rotated (the learner's, notebook 05) is
        # used instead.
        self.rope = bool(rope)
        self.rotate = rope if callable(rope) else rotary
        self.in_proj = nn.Linear(d_model, 3 * d_model, bias=bias)  # W_Q, W_K, W_V of all heads
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)  # W_O
        self.attn_weights = None

    def forward(self, x, context=None, mask=None, need_weights=True, bias=None, cache=None):
        """need_weights: True (the default) computes softmax(QKᵀ/√d_k)V step by step and
        returns the weights; False calls PyTorch's fused kernel instead, which gives the same
        output faster and returns None for the weights (training, generation).

        bias: optional float (H, T, S) or broadcastable, added to every head's scores.

        cache: a ``KVCache`` for self-attention during generation. The keys and values of
        earlier calls are kept in it, so each call only projects its new tokens; then S = the
        number of tokens so far, and the mask must be (T, S) (``causal_mask(T, S)``).
        """
        B, T, S = self._check(x, context, mask, bias, cache)
        C, H, D = self.d_model, self.num_heads, self.head_dim
        if context is None:
            q, k, v = self.in_proj(x).split(C, dim=-1)  # 3 x (B, T, C)
        else:
            w, b = self.in_proj.weight, self.in_proj.bias
            q = F.linear(x, w[:C], None if b is None else b[:C])  # (B, T, C)
            k, v = F.linear(context, w[C:], None if b is None else b[C:]).split(C, dim=-1)
        q = q.view(B, T, H, D).transpose(1, 2)  # (B, H, T, D)
        k = k.view(B, -1, H, D).transpose(1, 2)  # (B, H, S or T, D)
        v = v.view(B, -1, H, D).transpose(1, 2)  # (B, H, S or T, D)
        past = 0
        if cache is not None:
            past = cache.length
            k, v = cache.append(k, v)  # (B, H, S, D) each, S = past + T
        if self.rope:
            # The cache keeps keys unrotated; each key turns by its own position 0..S-1.
            q, k = self.rotate(q, offset=past), self.rotate(k)
        if mask is not None and mask.dim() == 3:
            mask = mask[:, None]  # (B, 1, T or 1, S): the same for every head
        if need_weights:  # the formula step by step, keeping the weights (B, H, T, S)
            out, weights = scaled_dot_product_attention(q, k, v, mask, bias)  # (B, H, T, D)
        else:  # the same maths in PyTorch's fused kernel, which never stores the weights
            attn_mask = _fused_mask(mask, bias, q.dtype)  # None, bool or float (B, H, T, S)
            out, weights = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask), None
        out = out.transpose(1, 2).reshape(B, T, C)  # (B, T, C): the heads side by side
        self.attn_weights = None if weights is None else weights.detach()
        return self.out_proj(out), weights

    def _check(self, x, context, mask, bias, cache):
        """Check every input before anything is computed (or cached); return B, T, S."""
        check_width("x", x, self.d_model, "(B, T, C)")
        check_same_dtype("x", x, self)
        B, T, C = x.shape
        S = T
        if context is not None:
            check_width("context", context, C, "(B, S, C)")
            check_same_dtype("context", context, self)
            if context.shape[0] != B:
                raise ValueError(f"context must be (B={B}, S, C={C}), got "
                                 f"{shape_str(context.shape)}")
            S = context.shape[1]
        if cache is not None:
            if context is not None:
                raise ValueError("a key/value cache is for self-attention; got a context")
            if not isinstance(cache, KVCache):
                raise TypeError(f"cache must be a KVCache, got {type(cache).__name__}")
            cache.check_batch(B)
            S = cache.length + T
        if mask is not None:
            check_mask(mask, (B, T, S), "(B, T, S): one mask for every head")
        if bias is not None:
            check_tensor("bias", bias)
            check_broadcasts("bias", bias, (B, self.num_heads, T, S), "(B, H, T, S)")
        return B, T, S

    def extra_repr(self) -> str:
        return (f"d_model={self.d_model}, num_heads={self.num_heads}, head_dim={self.head_dim}"
                + (", rope=True" if self.rope else ""))


def _fused_mask(mask, bias, dtype):
    """Our mask and an additive bias as one ``attn_mask`` for F.scaled_dot_product_attention.

    A boolean mask needs no conversion: True = may attend is sdpa's convention too. A bias
    (ALiBi) is added to the scores, so it goes in as a float mask, -inf where ours blocks.
    A query with every key blocked gets zeros from sdpa, as from our explicit path (so it
    does on the pinned torch 2.13; tests/test_multihead.py checks it).
    """
    if bias is None:
        return mask
    bias = bias.to(dtype)
    return bias if mask is None else bias.masked_fill(~mask, float("-inf"))


def copy_attention_to_torch(ours: MultiHeadAttention, theirs: nn.MultiheadAttention):
    """Copy our weights into nn.MultiheadAttention (same fused layout), to compare the two."""
    with torch.no_grad():
        theirs.in_proj_weight.copy_(ours.in_proj.weight)
        theirs.out_proj.weight.copy_(ours.out_proj.weight)
        if ours.in_proj.bias is not None:
            theirs.in_proj_bias.copy_(ours.in_proj.bias)
            theirs.out_proj.bias.copy_(ours.out_proj.bias)
    return theirs
