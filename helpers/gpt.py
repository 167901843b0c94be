"""A decoder-only, GPT-style language model (notebook 08).

Token embeddings plus learned positions, N pre-norm blocks of causal self-attention and
an MLP, a final LayerNorm, and an unembedding that reuses the token embedding matrix
(tied weights): logits = h @ Eᵀ. The model predicts the next token at every position.
Sampling from it (``generate``, ``sample_next``, ``top_k_filter``) lives in
``helpers.generation``.
"""
from dataclasses import dataclass

import torch
from torch import nn

from helpers._checks import check_tokens
from helpers.encoder import MLP, LayerNorm
from helpers.masks import causal_mask
from helpers.multihead import KVCache, MultiHeadAttention


@dataclass
class GPTConfig:
    """Sizes of a GPT; the defaults train in seconds on a laptop CPU."""

    vocab_size: int = 64  # V
    block_size: int = 64  # the context window: the most tokens the model can see
    d_model: int = 64  # C
    num_heads: int = 4  # H
    num_layers: int = 2  # N
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
    (B, N, H, T, S) if need_weights=True, else None (the fast path, for training).

    caches: a list with one ``KVCache`` per block (``model.new_caches()``); each call then
    only processes the new tokens and attends to everything cached before.
    """

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.token = nn.Embedding(config.vocab_size, config.d_model)  # E: (V, C)
        self.position = nn.Embedding(config.block_size, config.d_model)
        self.blocks = nn.ModuleList(GPTBlock(config) for _ in range(config.num_layers))
        self.final_norm = LayerNorm(config.d_model)

    def new_caches(self):
        return [KVCache() for _ in self.blocks]

    def forward(self, idx, caches=None, need_weights=False):
        h, weights = self.hidden(idx, caches, need_weights)
        return h @ self.token.weight.T, weights  # (B, T, V): tied unembedding

    def hidden(self, idx, caches=None, need_weights=False):
        """The final (normalised) vectors (B, T, C) before the unembedding, and the weights;
        a pretrained model's features for a downstream task."""
        check_tokens("idx", idx, self.config.vocab_size)
        if caches is not None and (not isinstance(caches, (list, tuple))
                                   or len(caches) != len(self.blocks)
                                   or not all(isinstance(c, KVCache) for c in caches)):
            raise TypeError(f"caches must be a list of {len(self.blocks)} KVCache, one per "
                            f"block (model.new_caches()), got {type(caches).__name__}")
        B, T = idx.shape
        past = caches[0].length if caches is not None else 0
        if past + T > self.config.block_size:
            raise ValueError(f"{past + T} tokens do not fit in the context window of "
                             f"{self.config.block_size}; crop the input to its last tokens")
        positions = torch.arange(past, past + T, device=idx.device)
        h = self.token(idx) + self.position(positions)  # (B, T, C)
        weights = []
        for i, block in enumerate(self.blocks):
            h, w = block(h, None if caches is None else caches[i], need_weights)
            weights.append(w)
        return self.final_norm(h), (torch.stack(weights, dim=1) if need_weights else None)
