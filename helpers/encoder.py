"""The Transformer encoder: LayerNorm, the position-wise MLP, the block, the stack.

A block maps a set of vectors to a set of vectors of the same shape (B, T, C). Attention
is the only place where positions interact; LayerNorm and the MLP act on each position
alone. Residual connections carry the input around each sub-layer:

    post-norm (the 2017 paper):  x = LN(x + Attn(x));   x = LN(x + MLP(x))
    pre-norm  (GPT-2 and later):  x = x + Attn(LN(x));   x = x + MLP(LN(x))
"""
from dataclasses import dataclass

import torch
from torch import nn

from helpers._checks import check_same_dtype, check_width
from helpers.masks import padding_mask_from_tokens
from helpers.multihead import MultiHeadAttention, copy_attention_to_torch
from helpers.positional import LearnedPositions


@dataclass
class EncoderConfig:
    """Sizes of an encoder; the defaults train in seconds on a laptop CPU."""

    d_model: int = 32  # C, the width of every token's vector
    num_heads: int = 4  # H; each head has width d_model / num_heads
    d_ff: int = 128  # the MLP's hidden width (4 x d_model, as in the paper)
    num_layers: int = 2  # L blocks (6 in both 2017 models; BERT-base 12, BERT-large 24)
    norm_first: bool = True  # pre-norm (True) or post-norm (False)
    rope: bool = False  # rotary position embeddings inside attention
    norm_eps: float = 1e-5  # the LayerNorms' epsilon (BERT's checkpoints use 1e-12)


class LayerNorm(nn.Module):
    """Normalise each token's features to mean 0 and variance 1, then scale and shift.

    y = (x - mean) / sqrt(var + eps) * gamma + beta, with mean and (biased) variance taken
    over the last dimension, separately for every token.
    """

    def __init__(self, d_model: int, eps: float = 1e-5):
        super().__init__()
        self.d_model, self.eps = d_model, eps
        self.weight = nn.Parameter(torch.ones(d_model))  # gamma
        self.bias = nn.Parameter(torch.zeros(d_model))  # beta

    def forward(self, x):  # (..., C) -> (..., C)
        check_width("x", x, self.d_model)
        check_same_dtype("x", x, self)
        mean = x.mean(dim=-1, keepdim=True)  # (..., 1)
        var = x.var(dim=-1, keepdim=True, unbiased=False)  # (..., 1)
        return (x - mean) / torch.sqrt(var + self.eps) * self.weight + self.bias


class MLP(nn.Module):
    """The position-wise feed-forward network: Linear(C, d_ff), GELU, Linear(d_ff, C)."""

    def __init__(self, d_model: int, d_ff: int):
        super().__init__()
        self.d_model = d_model
        self.up = nn.Linear(d_model, d_ff)
        self.act = nn.GELU()
        self.down = nn.Linear(d_ff, d_model)

    def forward(self, x):  # (..., C) -> (..., C), each position on its own
        check_width("x", x, self.d_model)
        check_same_dtype("x", x, self)
        return self.down(self.act(self.up(x)))


class EncoderBlock(nn.Module):
    """Multi-head self-attention and an MLP, each wrapped in a residual and a LayerNorm.

    x: (B, T, C), mask: bool, broadcasts to (B, T, T) -> out (B, T, C), and the weights
    (B, H, T, T) if need_weights, else None (the fast path, for training)
    """

    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.d_model, self.norm_first = config.d_model, config.norm_first
        self.attn = MultiHeadAttention(d_model=config.d_model, num_heads=config.num_heads,
                                       rope=config.rope)
        self.norm1 = LayerNorm(config.d_model, config.norm_eps)
        self.mlp = MLP(config.d_model, config.d_ff)
        self.norm2 = LayerNorm(config.d_model, config.norm_eps)

    def forward(self, x, mask=None, bias=None, need_weights=False):
        check_width("x", x, self.d_model, "(B, T, C)")
        check_same_dtype("x", x, self)
        if self.norm_first:
            attended, weights = self.attn(self.norm1(x), mask=mask, bias=bias,
                                          need_weights=need_weights)
            x = x + attended  # (B, T, C)
            x = x + self.mlp(self.norm2(x))
        else:
            attended, weights = self.attn(x, mask=mask, bias=bias, need_weights=need_weights)
            x = self.norm1(x + attended)
            x = self.norm2(x + self.mlp(x))
        return x, weights


class Encoder(nn.Module):
    """L encoder blocks (plus a final LayerNorm when pre-norm, as in GPT-2).

    x: (B, T, C) -> out (B, T, C), and with need_weights=True the weights of every layer
    and head (B, L, H, T, T), ready for ``AttentionExplorer`` (else None: the fast path).

    block: the class of the blocks, built as ``block(config)``; default the course's
    ``EncoderBlock``. Another class (the learner's from notebook 06,
    ``helpers.yours.piece("EncoderBlock")``) is called as ``block(x, mask)`` and must return
    ``(out (B, T, C), weights (B, H, T, T))``; it has no fast path and no ``bias``.
    """

    def __init__(self, config: EncoderConfig, block=None):
        super().__init__()
        block = EncoderBlock if block is None else block
        if not callable(block):
            raise TypeError(f"block must be a class built as block(config), got "
                            f"{type(block).__name__}")
        self.config = config
        self.blocks = nn.ModuleList(block(config) for _ in range(config.num_layers))
        self.final_norm = (LayerNorm(config.d_model, config.norm_eps) if config.norm_first
                           else nn.Identity())

    def forward(self, x, mask=None, bias=None, need_weights=False):
        check_width("x", x, self.config.d_model, "(B, T, C)")
        check_same_dtype("x", x, self)
        all_weights = []
        for block in self.blocks:
            if isinstance(block, EncoderBlock):
                x, weights = block(x, mask, bias, need_weights)
            else:  # another block class: forward(x, mask) -> (out, weights)
                if bias is not None:
                    raise ValueError(f"an attention bias needs the course's EncoderBlock; "
                                     f"{type(block).__name__}.forward takes (x, mask)")
                x, weights = block(x, mask)
            all_weights.append(weights)
        stacked = torch.stack(all_weights, dim=1) if need_weights else None  # (B, L, H, T, T)
        return self.final_norm(x), stacked  # (B, T, C)



class ReviewClassifier(nn.Module):
    """Notebook 06's review classifier, which notebook 07 trains again: ``<cls>`` + words ->
    token embeddings (+ learned positions) -> encoder -> a linear layer on ``<cls>``'s vector.

    idx (B, T) token ids, ``<cls>`` first and ``pad_id`` behind -> logits (B, 2) and, with
    need_weights=True, the weights of every layer and head (B, L, H, T, T).
    block: the encoder's block class (the learner's, ``helpers.yours.piece("EncoderBlock")``).
    """

    def __init__(self, config: EncoderConfig, vocab_size: int, length: int, pad_id: int,
                 positions: bool = True, block=None):
        super().__init__()
        if not 0 <= pad_id < vocab_size:
            raise ValueError(f"pad_id must be a token id from 0 to {vocab_size - 1}, got {pad_id!r}")
        self.pad_id = pad_id
        self.token = nn.Embedding(vocab_size, config.d_model)
        self.positions = LearnedPositions(length, config.d_model) if positions else None
        self.encoder = Encoder(config, block=block)
        self.head = nn.Linear(config.d_model, 2)

    def forward(self, idx, need_weights=False):  # idx (B, T) -> logits (B, 2), weights
        h = self.token(idx)  # (B, T, C)
        if self.positions is not None:
            h = self.positions(h)
        h, weights = self.encoder(h, padding_mask_from_tokens(idx, self.pad_id),
                                  need_weights=need_weights)
        return self.head(h[:, 0]), weights  # classify from the <cls> token

def copy_encoder_block_to_torch(block: EncoderBlock, layer: nn.TransformerEncoderLayer):
    """Copy a block's weights into nn.TransformerEncoderLayer (gelu, batch_first) to compare."""
    copy_attention_to_torch(block.attn, layer.self_attn)
    with torch.no_grad():
        for ours, theirs in [(block.mlp.up, layer.linear1), (block.mlp.down, layer.linear2),
                             (block.norm1, layer.norm1), (block.norm2, layer.norm2)]:
            theirs.weight.copy_(ours.weight)
            theirs.bias.copy_(ours.bias)
    return layer
