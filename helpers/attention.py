"""Scaled dot-product attention, from the formula, a single learned attention head, and
the additive attention that came before it (notebook 01).

    Attention(Q, K, V) = softmax(Q Kᵀ / √d_k) V

Q holds one row per query (T of them), K and V one row per key/value (S of them).
Masks follow the package convention: boolean, True = "may attend" (see ``helpers``).
"""
import math

import torch
from torch import nn

from helpers._checks import (broadcast_batch, check_broadcasts, check_mask, check_same_dtype,
                             check_tensor, check_width, shape_str)


def _check_qkv(q, k, v):
    """q (..., T, D), k (..., S, D), v (..., S, Dv) of one dtype; returns the batch shape."""
    for name, x in (("q", q), ("k", k), ("v", v)):
        check_tensor(name, x, min_dim=2)
    if not (q.dtype == k.dtype == v.dtype):
        raise TypeError(f"q, k and v must share a dtype, got {q.dtype}, {k.dtype}, {v.dtype}")
    expected = "q (..., T, D), k (..., S, D), v (..., S, Dv)"
    got = f"q {shape_str(q.shape)}, k {shape_str(k.shape)}, v {shape_str(v.shape)}"
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"queries and keys need the same width D: expected {expected}; got {got}")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"keys and values need the same length S: expected {expected}; got {got}")
    return broadcast_batch([("q", q.shape[:-2]), ("k", k.shape[:-2]), ("v", v.shape[:-2])])


def scaled_dot_product_attention(q, k, v, mask=None, bias=None):
    """Attend from every query to every key; return the output and the weights.

    q: (..., T, D)   k: (..., S, D)   v: (..., S, Dv)   mask: bool, broadcasts to (..., T, S)
    bias: optional float tensor added to the scores, broadcasting to (..., T, S)
          (for instance ALiBi's distance penalty, see ``helpers.positional``)
    returns out (..., T, Dv) and weights (..., T, S); each row of weights sums to 1.
    Any number of leading batch dimensions, broadcast like ``torch.matmul``.

    A query whose keys are all masked has no key to look at: its weights and its output
    are zero (as in ``torch.nn.functional.scaled_dot_product_attention``), not NaN.

    >>> q = k = v = torch.eye(2)
    >>> out, w = scaled_dot_product_attention(q, k, v)
    >>> w.sum(-1)
    tensor([1., 1.])
    """
    scores_shape = (*_check_qkv(q, k, v), q.shape[-2], k.shape[-2])  # (..., T, S)
    if mask is not None:
        check_mask(mask, scores_shape)
    if bias is not None:
        check_tensor("bias", bias)
        check_broadcasts("bias", bias, scores_shape)
    d_k = q.shape[-1]
    scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)  # (..., T, S)
    if bias is not None:
        scores = scores + bias.to(scores.dtype)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)  # (..., T, S)
    if mask is not None:
        # A fully blocked row is softmax(-inf, ..., -inf) = NaN; it has nothing to attend to.
        weights = weights.masked_fill(~mask.any(dim=-1, keepdim=True), 0.0)
    return weights @ v, weights  # (..., T, Dv), (..., T, S)


class SelfAttention(nn.Module):
    """One attention head with learned query, key and value maps (each a Linear with bias).

    ``attn(x)`` is self-attention: x plays all three roles. ``attn(x, context)`` attends
    from x to another sequence: queries from x, keys and values from ``context``.

    x: (B, T, C)   context: (B, S, C), default x   mask: bool, broadcasts to (B, T, S)
    returns out (B, T, d_v) and weights (B, T, S); the weights of the last call are also
    kept in ``self.attn_weights`` for the widgets.
    """

    def __init__(self, d_model: int, d_k: int, d_v: int | None = None, bias: bool = True):
        super().__init__()
        for name, n in (("d_model", d_model), ("d_k", d_k), ("d_v", d_v if d_v else d_k)):
            if not isinstance(n, int) or n < 1:
                raise ValueError(f"{name} must be a positive int, got {n!r}")
        self.d_model, self.d_k, self.d_v = d_model, d_k, d_v or d_k
        self.w_q = nn.Linear(d_model, d_k, bias=bias)
        self.w_k = nn.Linear(d_model, d_k, bias=bias)
        self.w_v = nn.Linear(d_model, self.d_v, bias=bias)
        self.attn_weights = None

    def forward(self, x, context=None, mask=None):
        context = x if context is None else context
        for name, t in (("x", x), ("context", context)):
            check_width(name, t, self.d_model, "(..., T, C)")
            check_same_dtype(name, t, self)
        q = self.w_q(x)  # (B, T, d_k)
        k = self.w_k(context)  # (B, S, d_k)
        v = self.w_v(context)  # (B, S, d_v)
        out, weights = scaled_dot_product_attention(q, k, v, mask)  # (B, T, d_v), (B, T, S)
        self.attn_weights = weights.detach()
        return out, weights

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, d_k={self.d_k}, d_v={self.d_v}"


class AdditiveAttention(nn.Module):
    """Additive (Bahdanau, 2015) attention: the score of query q_t and key k_s is a small
    network, e_ts = w · tanh(W_q q_t + W_k k_s); then the softmax over the keys and the
    weighted sum of the values, as in the dot-product form.

    q: (..., T, d_q)   k: (..., S, d_k)   v: (..., S, d_v)
    returns out (..., T, d_v) and weights (..., T, S). It builds a (..., T, S, hidden)
    tensor, which is why the scaled dot product (one matrix product) replaced it.
    """

    def __init__(self, d_q: int, d_k: int, hidden: int):
        super().__init__()
        for name, n in (("d_q", d_q), ("d_k", d_k), ("hidden", hidden)):
            if not isinstance(n, int) or n < 1:
                raise ValueError(f"{name} must be a positive int, got {n!r}")
        self.W_q = nn.Linear(d_q, hidden, bias=False)
        self.W_k = nn.Linear(d_k, hidden, bias=False)
        self.w = nn.Linear(hidden, 1, bias=False)

    def forward(self, q, k, v):
        check_width("q", q, self.W_q.in_features, "(..., T, d_q)")
        check_width("k", k, self.W_k.in_features, "(..., S, d_k)")
        hidden = torch.tanh(self.W_q(q).unsqueeze(-2) + self.W_k(k).unsqueeze(-3))  # (..., T, S, h)
        weights = self.w(hidden).squeeze(-1).softmax(dim=-1)  # (..., T, S)
        return weights @ v, weights
