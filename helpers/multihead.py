"""Multi-head attention: H heads of width D = C / H, run in parallel.

    MultiHead(x) = Concat(head_1, ..., head_H) W_O,   head_h = Attention(x W_Q^h, x W_K^h, x W_V^h)

All heads' projections are one fused Linear (C -> 3C); a reshape splits the result into
heads and one batched matrix product attends in every head at once. The parameters have
the same layout as ``torch.nn.MultiheadAttention`` (in_proj, out_proj), so weights can be
copied across and the two compared.
"""
import torch
from torch import nn
from torch.nn import functional as F

from helpers._checks import check_tensor, shape_str
from helpers.attention import scaled_dot_product_attention
from helpers.positional import rotary


class MultiHeadAttention(nn.Module):
    """H attention heads over a width of C = d_model; each head has width D = C / H.

    x: (B, T, C)   context: (B, S, C), default x   mask: bool, broadcasts to (B, T, S)
    (True = may attend; the same mask for every head)
    returns out (B, T, C) and the weights of every head (B, H, T, S), or None for the
    weights if need_weights=False. The last weights are also kept in ``self.attn_weights``.
    """

    def __init__(self, *, d_model: int, num_heads: int, bias: bool = True, rope: bool = False):
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
        self.rope = rope  # rotate queries and keys by their positions (helpers.positional)
        self.in_proj = nn.Linear(d_model, 3 * d_model, bias=bias)  # W_Q, W_K, W_V of all heads
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)  # W_O
        self.attn_weights = None

    def forward(self, x, context=None, mask=None, need_weights=True, bias=None, cache=None):
        """bias: optional float (H, T, S) or broadcastable, added to every head's scores.

        cache: a dict for self-attention during generation. The keys and values of earlier
        calls are kept in it, so each call only projects its new tokens; then S = the
        number of tokens so far, and the mask must be (T, S) (``causal_mask(T, S)``).
        """
        check_tensor("x", x, min_dim=3)
        B, T, C = x.shape
        if C != self.d_model:
            raise ValueError(f"x must be (B, T, {self.d_model}), got {shape_str(x.shape)}")
        H, D = self.num_heads, self.head_dim
        if context is None:
            q, k, v = self.in_proj(x).split(C, dim=-1)  # 3 x (B, T, C)
            S = T
        else:
            check_tensor("context", context, min_dim=3)
            if context.shape[0] != B or context.shape[2] != C:
                raise ValueError(f"context must be (B={B}, S, C={C}), got "
                                 f"{shape_str(context.shape)}")
            S = context.shape[1]
            w, b = self.in_proj.weight, self.in_proj.bias
            q = F.linear(x, w[:C], None if b is None else b[:C])  # (B, T, C)
            k, v = F.linear(context, w[C:], None if b is None else b[C:]).split(C, dim=-1)
        q = q.view(B, T, H, D).transpose(1, 2)  # (B, H, T, D)
        k = k.view(B, S, H, D).transpose(1, 2)  # (B, H, S, D)
        v = v.view(B, S, H, D).transpose(1, 2)  # (B, H, S, D)
        past = 0
        if cache is not None:
            if context is not None:
                raise ValueError("a key/value cache is for self-attention; got a context")
            if "k" in cache:
                past = cache["k"].shape[2]
                k = torch.cat([cache["k"], k], dim=2)  # (B, H, past + T, D)
                v = torch.cat([cache["v"], v], dim=2)
            cache["k"], cache["v"] = k, v
            S = k.shape[2]
        if self.rope:
            # The cache keeps keys unrotated; each key turns by its own position 0..S-1.
            q, k = rotary(q, offset=past), rotary(k)
        if mask is not None:
            _check_mask(mask, (B, T, S))
            if mask.dim() == 3:
                mask = mask[:, None]  # (B, 1, T or 1, S): the same for every head
        out, weights = scaled_dot_product_attention(q, k, v, mask, bias)  # (B, H, T, D), (B, H, T, S)
        out = out.transpose(1, 2).reshape(B, T, C)  # (B, T, C): the heads side by side
        self.attn_weights = weights.detach()
        return self.out_proj(out), (weights if need_weights else None)

    def extra_repr(self) -> str:
        return (f"d_model={self.d_model}, num_heads={self.num_heads}, head_dim={self.head_dim}"
                + (", rope=True" if self.rope else ""))


def _check_mask(mask, scores_shape):
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
        raise TypeError("mask must be a boolean tensor (True = may attend), got "
                        + (str(mask.dtype) if isinstance(mask, torch.Tensor) else type(mask).__name__))
    try:
        ok = mask.dim() <= 3 and torch.broadcast_shapes(mask.shape, scores_shape) == scores_shape
    except RuntimeError:
        ok = False
    if not ok:
        raise ValueError(f"mask of shape {shape_str(mask.shape)} does not broadcast to "
                         f"(B, T, S) = {shape_str(scores_shape)}; it applies to every head")


def copy_attention_to_torch(ours: MultiHeadAttention, theirs: nn.MultiheadAttention):
    """Copy our weights into nn.MultiheadAttention (same fused layout), to compare the two."""
    with torch.no_grad():
        theirs.in_proj_weight.copy_(ours.in_proj.weight)
        theirs.out_proj.weight.copy_(ours.out_proj.weight)
        if ours.in_proj.bias is not None:
            theirs.in_proj_bias.copy_(ours.in_proj.bias)
            theirs.out_proj.bias.copy_(ours.out_proj.bias)
    return theirs
