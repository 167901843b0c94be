"""The Transformer decoder and an encoder-decoder model.

A decoder block has three sub-layers, each with a residual and a LayerNorm:

    masked self-attention   the output so far attends to itself, causally
    cross-attention         queries from the decoder, keys and values from the encoder's
                            output (the "memory": the database the decoder looks things up in)
    MLP                     per position

Generation factorises p(z | x) = Π_i p(z_i | z_<i, x): training feeds the true z_<i
(teacher forcing) and predicts every position at once; decoding goes one token at a time
(``helpers.generation``).
"""
from dataclasses import dataclass

import torch
from torch import nn

from helpers._checks import check_same_dtype, check_tokens, check_width, shape_str
from helpers.encoder import MLP, Encoder, EncoderConfig, LayerNorm
from helpers.masks import causal_mask, padding_mask_from_tokens
from helpers.multihead import MultiHeadAttention, copy_attention_to_torch


class DecoderBlock(nn.Module):
    """Masked self-attention, cross-attention to ``memory``, MLP; pre- or post-norm.

    x: (B, T, C), memory: (B, S, C), memory_mask: bool (B, 1, S) for padded source tokens
    -> out (B, T, C), self-attention weights (B, H, T, T), cross-attention weights (B, H, T, S);
    the weights are None unless need_weights=True (the fast path, for training)

    With ``config.rope`` the self-attention rotates its queries and keys by their positions;
    cross-attention does not (queries and keys come from two different sequences).
    """

    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.d_model, self.norm_first = config.d_model, config.norm_first
        self.self_attn = MultiHeadAttention(d_model=config.d_model, num_heads=config.num_heads,
                                            rope=config.rope)
        self.cross_attn = MultiHeadAttention(d_model=config.d_model, num_heads=config.num_heads)
        self.mlp = MLP(config.d_model, config.d_ff)
        self.norm1, self.norm2, self.norm3 = (LayerNorm(config.d_model) for _ in range(3))

    def forward(self, x, memory, memory_mask=None, need_weights=False):
        for name, t, layout in (("x", x, "(B, T, C)"), ("memory", memory, "(B, S, C)")):
            check_width(name, t, self.d_model, layout)
            check_same_dtype(name, t, self)
        if memory.shape[0] != x.shape[0]:
            raise ValueError(f"x (B, T, C) and memory (B, S, C) need the same batch size B, got "
                             f"x {shape_str(x.shape)}, memory {shape_str(memory.shape)}")
        mask = causal_mask(x.shape[1], device=x.device)  # (T, T): no peeking at later outputs
        if self.norm_first:
            attended, self_weights = self.self_attn(self.norm1(x), mask=mask,
                                                    need_weights=need_weights)
            x = x + attended
            looked_up, cross_weights = self.cross_attn(self.norm2(x), memory, memory_mask,
                                                       need_weights=need_weights)
            x = x + looked_up
            x = x + self.mlp(self.norm3(x))
        else:
            attended, self_weights = self.self_attn(x, mask=mask, need_weights=need_weights)
            x = self.norm1(x + attended)
            looked_up, cross_weights = self.cross_attn(x, memory, memory_mask,
                                                       need_weights=need_weights)
            x = self.norm2(x + looked_up)
            x = self.norm3(x + self.mlp(x))
        return x, self_weights, cross_weights


@dataclass
class Seq2SeqConfig(EncoderConfig):
    src_vocab: int = 32
    tgt_vocab: int = 32
    max_len: int = 32
    pad_id: int = 0


class EncoderDecoder(nn.Module):
    """Source tokens -> encoder -> memory; target tokens so far + memory -> decoder -> logits.

    src: (B, S) token ids, tgt: (B, T) token ids (starting with a begin-of-sequence token),
    both at most ``config.max_len`` long
    -> logits (B, T, tgt_vocab). With need_weights=True the attention weights of every layer
    are kept in ``self.weights``: 'encoder' (B, L, H, S, S), 'self' (B, L, H, T, T),
    'cross' (B, L, H, T, S); without, those entries are None (the fast path, for training).
    With ``config.rope`` both the encoder's and the decoder's self-attention use RoPE (on
    top of the learned positions).

    decoder_block: the class of the decoder's blocks, built as ``decoder_block(config)``;
    ``DecoderBlock`` by default. Another class (the learner's, notebook 08) has the same
    parameter names and is called as ``block(x, memory, memory_mask)`` -> (x (B, T, C),
    self-attention weights (B, H, T, T), cross-attention weights (B, H, T, S)), without
    the course block's ``need_weights`` fast path.
    """

    def __init__(self, config: Seq2SeqConfig, decoder_block=None):
        super().__init__()
        decoder_block = DecoderBlock if decoder_block is None else decoder_block
        if not (isinstance(decoder_block, type) and issubclass(decoder_block, nn.Module)):
            raise TypeError(f"decoder_block must be an nn.Module class (built as "
                            f"decoder_block(config)), got {decoder_block!r}")
        self._fast_path = issubclass(decoder_block, DecoderBlock)  # takes need_weights
        if config.rope and not self._fast_path:
            raise ValueError(f"config.rope=True needs the course's DecoderBlock (its "
                             f"self-attention rotates queries and keys); {decoder_block.__name__} "
                             f"does not take rope")
        self.config = config
        C = config.d_model
        self.src_embed, self.tgt_embed = nn.Embedding(config.src_vocab, C), nn.Embedding(config.tgt_vocab, C)
        self.src_pos, self.tgt_pos = nn.Embedding(config.max_len, C), nn.Embedding(config.max_len, C)
        self.encoder = Encoder(config)
        self.blocks = nn.ModuleList(decoder_block(config) for _ in range(config.num_layers))
        self.final_norm = LayerNorm(C) if config.norm_first else nn.Identity()
        self.unembed = nn.Linear(C, config.tgt_vocab)  # the output layer; softmax is in the loss
        self.weights = {}

    def encode(self, src, need_weights=False):
        """(B, S) -> memory (B, S, C) and its padding mask (B, 1, S)."""
        check_tokens("src", src, self.config.src_vocab, self.config.max_len, "(B, S)")
        mask = padding_mask_from_tokens(src, self.config.pad_id)
        h = self.src_embed(src) + self.src_pos(torch.arange(src.shape[1], device=src.device))
        memory, self.weights["encoder"] = self.encoder(h, mask, need_weights=need_weights)
        return memory, mask

    def decode(self, tgt, memory, memory_mask, need_weights=False):
        """(B, T) target so far -> logits (B, T, V) for the next token at every position."""
        check_tokens("tgt", tgt, self.config.tgt_vocab, self.config.max_len)
        h = self.tgt_embed(tgt) + self.tgt_pos(torch.arange(tgt.shape[1], device=tgt.device))
        self_w, cross_w = [], []
        for block in self.blocks:
            if self._fast_path:
                h, s, c = block(h, memory, memory_mask, need_weights)
            else:  # another block class: always the explicit path
                h, s, c = block(h, memory, memory_mask)  # (B, T, C), (B, H, T, T), (B, H, T, S)
            self_w.append(s)
            cross_w.append(c)
        self.weights["self"] = torch.stack(self_w, 1) if need_weights else None
        self.weights["cross"] = torch.stack(cross_w, 1) if need_weights else None
        return self.unembed(self.final_norm(h))

    def forward(self, src, tgt, need_weights=False):
        memory, memory_mask = self.encode(src, need_weights)
        return self.decode(tgt, memory, memory_mask, need_weights)


def copy_decoder_block_to_torch(block: DecoderBlock, layer: nn.TransformerDecoderLayer):
    """Copy a block's weights into nn.TransformerDecoderLayer (gelu, batch_first) to compare."""
    copy_attention_to_torch(block.self_attn, layer.self_attn)
    copy_attention_to_torch(block.cross_attn, layer.multihead_attn)
    with torch.no_grad():
        for ours, theirs in [(block.mlp.up, layer.linear1), (block.mlp.down, layer.linear2),
                             (block.norm1, layer.norm1), (block.norm2, layer.norm2),
                             (block.norm3, layer.norm3)]:
            theirs.weight.copy_(ours.weight)
            theirs.bias.copy_(ours.bias)
    return layer
