"""A decoder-only, GPT-style language model, and generation from it.

Token embeddings plus learned positions, N pre-norm blocks of causal self-attention and
an MLP, a final LayerNorm, and an unembedding that reuses the token embedding matrix
(tied weights): logits = h @ Eᵀ. The model predicts the next token at every position.
"""
from dataclasses import dataclass

import torch
from torch import nn

from helpers._checks import shape_str
from helpers.encoder import MLP, LayerNorm
from helpers.masks import causal_mask
from helpers.multihead import MultiHeadAttention


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

    def forward(self, x, cache=None):
        T = x.shape[1]
        S = T + (cache["k"].shape[2] if cache and "k" in cache else 0)
        attended, weights = self.attn(self.norm1(x), mask=causal_mask(T, S, device=x.device),
                                      cache=cache)
        x = x + attended  # (B, T, C)
        return x + self.mlp(self.norm2(x)), weights


class GPT(nn.Module):
    """idx (B, T) token ids -> logits (B, T, V) for the next token, weights (B, N, H, T, S).

    caches: a list with one dict per block (``model.new_caches()``); each call then only
    processes the new tokens and attends to everything cached before.
    """

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.token = nn.Embedding(config.vocab_size, config.d_model)  # E: (V, C)
        self.position = nn.Embedding(config.block_size, config.d_model)
        self.blocks = nn.ModuleList(GPTBlock(config) for _ in range(config.num_layers))
        self.final_norm = LayerNorm(config.d_model)

    def new_caches(self):
        return [{} for _ in self.blocks]

    def forward(self, idx, caches=None):
        h, weights = self.hidden(idx, caches)
        return h @ self.token.weight.T, weights  # (B, T, V): tied unembedding

    def hidden(self, idx, caches=None):
        """The final (normalised) vectors (B, T, C) before the unembedding, and the weights;
        a pretrained model's features for a downstream task."""
        B, T = idx.shape
        past = caches[0]["k"].shape[2] if caches and "k" in caches[0] else 0
        if past + T > self.config.block_size:
            raise ValueError(f"{past + T} tokens do not fit in the context window of "
                             f"{self.config.block_size}; crop the input to its last tokens")
        positions = torch.arange(past, past + T, device=idx.device)
        h = self.token(idx) + self.position(positions)  # (B, T, C)
        weights = []
        for i, block in enumerate(self.blocks):
            h, w = block(h, None if caches is None else caches[i])
            weights.append(w)
        return self.final_norm(h), torch.stack(weights, dim=1)


def top_k_filter(logits, k: int):
    """Keep the k largest logits of each row (..., V); set the rest to -inf."""
    kth = logits.topk(min(k, logits.shape[-1]), dim=-1).values[..., -1:]  # (..., 1)
    return logits.masked_fill(logits < kth, float("-inf"))


def sample_next(logits, temperature: float = 1.0, top_k: int | None = None, generator=None):
    """Pick the next token from logits (B, V): greedy if temperature == 0, else sample
    from softmax(logits / temperature), restricted to the top_k most likely if given."""
    if temperature == 0:
        return logits.argmax(-1)
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    logits = logits / temperature
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    return torch.multinomial(logits.softmax(-1), 1, generator=generator)[:, 0]


@torch.no_grad()
def generate(model: GPT, idx, n_new: int, *, temperature: float = 1.0, top_k=None,
             use_cache: bool = True, generator=None):
    """Append n_new tokens to idx (B, T). Without the cache every step reruns the whole
    sequence (cropped to the context window); with it, each step processes one token."""
    if idx.dim() != 2:
        raise ValueError(f"idx must be (B, T) token ids, got {shape_str(idx.shape)}")
    caches = model.new_caches() if use_cache else None
    if use_cache and idx.shape[1] + n_new > model.config.block_size:
        raise ValueError(f"the cache holds at most {model.config.block_size} tokens; "
                         f"{idx.shape[1]} + {n_new} asked")
    step_input = idx
    for _ in range(n_new):
        if use_cache:
            logits, _ = model(step_input, caches)
        else:
            logits, _ = model(idx[:, -model.config.block_size:])
        next_token = sample_next(logits[:, -1], temperature, top_k, generator)
        idx = torch.cat([idx, next_token[:, None]], dim=1)
        step_input = next_token[:, None]
    return idx
