"""A decoder-only, GPT-style language model (notebook 10).

Token embeddings plus learned positions, L pre-norm blocks of causal self-attention and
an MLP, a final LayerNorm, and an unembedding that reuses the token embedding matrix
(tied weights): logits = h @ Eᵀ. The model predicts the next token at every position.
Sampling from it (``generate``, ``sample_next``, ``top_k_filter``) lives in
``helpers.generation``.

Generation goes one token at a time. ``GPT.step`` is the key/value-cache fast path that
``generate`` calls in its loop: the new token's query against the cached keys and values
of every earlier token, written out with plain functions (``F.layer_norm``, ``F.linear``,
the fused attention kernel) on the same parameters as the modules, so that a step costs
a few dozen kernel calls and little Python (tools/bench_kv_cache.py).
"""
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from helpers._checks import check_tokens
from helpers.encoder import MLP, LayerNorm
from helpers.masks import causal_mask
from helpers.multihead import KVCache, MultiHeadAttention, cached_length


@dataclass
class GPTConfig:
    """Sizes of a GPT; the defaults train in seconds on a laptop CPU."""

    vocab_size: int = 64  # V
    block_size: int = 64  # the context window: the most tokens the model can see
    d_model: int = 64  # C
    num_heads: int = 4  # H
    num_layers: int = 2  # L
    d_ff: int = 256


class GPTBlock(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.norm1, self.norm2 = LayerNorm(config.d_model), LayerNorm(config.d_model)
        self.attn = MultiHeadAttention(d_model=config.d_model, num_heads=config.num_heads)
        self.mlp = MLP(config.d_model, config.d_ff)

    def forward(self, x, cache=None, need_weights=False):
        T = x.shape[1]
        S = T + (cache.length if cache is not None else 0)
        attended, weights = self.attn(self.norm1(x), mask=causal_mask(T, S, device=x.device),
                                      cache=cache, need_weights=need_weights)
        x = x + attended  # (B, T, C)
        return x + self.mlp(self.norm2(x)), weights


class GPT(nn.Module):
    """idx (B, T) token ids -> logits (B, T, V) for the next token, and the weights
    (B, L, H, T, S) if need_weights=True, else None (the fast path, for training).

    caches: a list with one ``KVCache`` per block (``model.new_caches()``); each call then
    only processes the new tokens and attends to everything cached before. ``step`` does
    the same as ``forward`` with caches, faster and without the weights.
    """

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.token = nn.Embedding(config.vocab_size, config.d_model)  # E: (V, C)
        self.position = nn.Embedding(config.block_size, config.d_model)
        self.blocks = nn.ModuleList(GPTBlock(config) for _ in range(config.num_layers))
        self.final_norm = LayerNorm(config.d_model)

    def new_caches(self):
        """One empty ``KVCache`` per block, each with room for the whole context window."""
        return [KVCache(max_length=self.config.block_size) for _ in self.blocks]

    def forward(self, idx, caches=None, need_weights=False):
        h, weights = self.hidden(idx, caches, need_weights)
        return h @ self.token.weight.T, weights  # (B, T, V): tied unembedding

    def hidden(self, idx, caches=None, need_weights=False):
        """The final (normalised) vectors (B, T, C) before the unembedding, and the weights;
        a pretrained model's features for a downstream task."""
        past = self._check(idx, caches)
        B, T = idx.shape
        positions = torch.arange(past, past + T, device=idx.device)
        h = self.token(idx) + self.position(positions)  # (B, T, C)
        weights = []
        for i, block in enumerate(self.blocks):
            h, w = block(h, None if caches is None else caches[i], need_weights)
            weights.append(w)
        return self.final_norm(h), (torch.stack(weights, dim=1) if need_weights else None)

    def step(self, idx, caches):
        """One step of generation: the new tokens idx (B, T) (usually T = 1) -> logits
        (B, T, V), given one ``KVCache`` per block that holds every earlier token.

        The same maths as ``forward(idx, caches)``, written out on the modules' parameters:
        position = how many tokens the cache holds; in each block the new tokens' keys and
        values are appended to the cache and their queries attend to all of them. A single
        new token may attend to every cached one, so it needs no mask.
        """
        if caches is None:
            raise TypeError("step needs the caches: model.new_caches(), then model.step(prompt, "
                            "caches), then one new token at a time")
        past = self._check(idx, caches)
        B, T = idx.shape
        C = self.config.d_model
        h = self.token(idx) + self.position.weight[past:past + T]  # (B, T, C)
        for block, cache in zip(self.blocks, caches):
            attn, mlp = block.attn, block.mlp
            H, D = attn.num_heads, attn.head_dim
            x = _layer_norm(block.norm1, h)  # (B, T, C)
            qkv = F.linear(x, attn.in_proj.weight, attn.in_proj.bias)  # (B, T, 3C)
            q, k, v = qkv.view(B, T, 3, H, D).transpose(1, 3).unbind(2)  # 3 x (B, H, T, D)
            k, v = cache.append(k, v)  # (B, H, S, D), S = past + T
            mask = None if T == 1 else causal_mask(T, past + T, device=idx.device)  # (T, S)
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B, H, T, D)
            out = out.transpose(1, 2).reshape(B, T, C)  # (B, T, C): the heads side by side
            h = h + F.linear(out, attn.out_proj.weight, attn.out_proj.bias)
            x = F.gelu(F.linear(_layer_norm(block.norm2, h), mlp.up.weight, mlp.up.bias))
            h = h + F.linear(x, mlp.down.weight, mlp.down.bias)  # (B, T, C)
        return _layer_norm(self.final_norm, h) @ self.token.weight.T  # (B, T, V)

    def _check(self, idx, caches):
        """Check the token ids and the caches; return the position of the first new token."""
        check_tokens("idx", idx, self.config.vocab_size)
        past = cached_length(caches, len(self.blocks))
        if past + idx.shape[1] > self.config.block_size:
            raise ValueError(f"{past + idx.shape[1]} tokens do not fit in the context window of "
                             f"{self.config.block_size}; crop the input to its last tokens")
        if caches is not None:
            caches[0].check_batch(idx.shape[0])
        return past


def _layer_norm(norm: LayerNorm, x):
    """helpers.encoder.LayerNorm's formula in PyTorch's one call (checked equal in notebook
    06), without the module's input checks: the generation loop runs it every step."""
    return F.layer_norm(x, (norm.d_model,), norm.weight, norm.bias, norm.eps)
