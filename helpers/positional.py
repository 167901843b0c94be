"""Positional information: four ways to tell attention where each token is.

Attention sees a set: shuffle the tokens and its outputs shuffle the same way. Two
families of fixes:

- added to the input, before any attention:
    ``sinusoidal_encoding`` (fixed waves, Vaswani et al. 2017) and
    ``LearnedPositions`` (a trained vector per position, as in BERT and GPT-2);
- applied inside attention, to the scores:
    ``rotary`` (RoPE, Su et al. 2021): rotate queries and keys by an angle that grows with
    the position, so that q·k depends on the offset between them;
    ``alibi_bias`` (ALiBi, Press et al. 2022): subtract a penalty that grows with the
    distance between query and key.
"""
import math

import torch
from torch import nn

from helpers._checks import check_same_dtype, check_tensor, check_width, shape_str


def _frequencies(dim: int, base: float, dtype=torch.float32):
    """The angle per position of each feature pair: base^(-2i/dim), i = 0..dim/2-1."""
    return base ** (-torch.arange(0, dim, 2, dtype=dtype) / dim)  # (dim/2,)


def sinusoidal_encoding(T: int, C: int, base: float = 10_000.0):
    """(T, C) table: PE[p, 2i] = sin(p·ω_i), PE[p, 2i+1] = cos(p·ω_i), ω_i = base^(-2i/C).

    Add it to the token embeddings. Moving k positions rotates every (sin, cos) pair by the
    angle k·ω_i, whatever the position: a fixed offset is a fixed rotation.
    """
    if T < 1 or C < 2 or C % 2:
        raise ValueError(f"need T >= 1 and an even C >= 2, got T={T}, C={C}")
    angles = torch.arange(T, dtype=torch.float32)[:, None] * _frequencies(C, base)  # (T, C/2)
    pe = torch.empty(T, C)
    pe[:, 0::2], pe[:, 1::2] = angles.sin(), angles.cos()
    return pe


class LearnedPositions(nn.Module):
    """A trained vector per position, added to the input: x (B, T, C) -> (B, T, C).

    It knows only the ``max_len`` positions it was built with, and only those it saw in
    training carry anything learned.
    """

    def __init__(self, max_len: int, d_model: int):
        super().__init__()
        self.max_len, self.d_model = max_len, d_model
        self.embedding = nn.Embedding(max_len, d_model)

    def forward(self, x):
        check_width("x", x, self.d_model, "(B, T, C)")
        check_same_dtype("x", x, self)
        T = x.shape[1]
        if T > self.max_len:
            raise ValueError(f"a sequence of length {T} is longer than the {self.max_len} "
                             "positions these embeddings have")
        return x + self.embedding(torch.arange(T, device=x.device))  # (B, T, C)


class SinusoidalPositions(nn.Module):
    """Adds ``sinusoidal_encoding`` to the input: x (B, T, C) -> (B, T, C); any length."""

    def __init__(self, d_model: int, base: float = 10_000.0):
        super().__init__()
        self.d_model, self.base = d_model, base

    def forward(self, x):
        check_width("x", x, self.d_model, "(B, T, C)")
        return x + sinusoidal_encoding(x.shape[1], self.d_model, self.base).to(x)


def rotary(x, base: float = 10_000.0, offset: int = 0):
    """Rotate each feature pair (x[2i], x[2i+1]) of the token at position t by t·ω_i.

    x: (..., T, D) with D even: queries or keys, per head. Rotating q at position t and k
    at position s gives q·k that depends on t - s only: attention sees offsets.
    ``offset`` is the position of the first token.
    """
    check_tensor("x", x, min_dim=2)
    T, D = x.shape[-2], x.shape[-1]
    if D % 2:
        raise ValueError(f"rotary embeddings need an even width, got x of shape "
                         f"{shape_str(x.shape)}")
    dtype = torch.promote_types(x.dtype, torch.float32)  # float32, or float64 for a float64 x
    positions = torch.arange(offset, offset + T, dtype=dtype, device=x.device)
    angles = positions[:, None] * _frequencies(D, base, dtype).to(x.device)  # (T, D/2)
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    even, odd = x[..., 0::2], x[..., 1::2]  # (..., T, D/2) each
    out = torch.empty_like(x)
    out[..., 0::2] = even * cos - odd * sin
    out[..., 1::2] = even * sin + odd * cos
    return out


def alibi_slopes(num_heads: int):
    """ALiBi's slope per head: a geometric sequence 2^(-8/H), 2^(-16/H), ..., 2^(-8)."""
    if num_heads < 1:
        raise ValueError(f"num_heads must be >= 1, got {num_heads}")
    return torch.tensor([2 ** (-8 * (h + 1) / num_heads) for h in range(num_heads)])


def alibi_bias(T: int, num_heads: int, S: int | None = None, causal: bool = False):
    """(H, T, S) additive bias: -slope_h × distance between query t and key s.

    causal=False penalises |t - s| (both sides alike); causal=True penalises t - s for keys
    at or before the query (combine it with a causal mask, as in the paper).
    """
    S = T if S is None else S
    if T < 1 or S < T:
        raise ValueError(f"need 1 <= T <= S (the queries are the last T of the S keys), "
                         f"got T={T}, S={S}")
    t = torch.arange(T)[:, None] + (S - T)  # queries are the last T of S positions
    s = torch.arange(S)[None, :]
    distance = (t - s).abs() if not causal else (t - s).clamp(min=0)
    return -alibi_slopes(num_heads)[:, None, None] * distance.float()  # (H, T, S)


def relative_similarity(T: int, scheme: str, d: int = 32, learned=None, rotate=rotary):
    """(T, T) similarity between positions under a scheme, for the notebook's explorer.

    'sinusoidal': cosine similarity of the encodings; 'rotary': q·k of one fixed vector
    rotated to each position (normalised) by ``rotate(x, offset=0)`` (the course's
    ``rotary``, or the learner's from notebook 05); 'alibi': the bias of the gentlest head;
    'learned': cosine similarity of the given (T, C) embedding table.
    """
    if scheme == "sinusoidal":
        pe = sinusoidal_encoding(T, d)
    elif scheme == "learned":
        if learned is None:
            raise ValueError("the 'learned' scheme needs the embedding table (T, C)")
        pe = learned[:T]
    elif scheme == "rotary":
        v = torch.ones(1, d) / math.sqrt(d)
        rotated = rotate(v.expand(T, d))  # (T, d): the same vector at every position
        return rotated @ rotated.T  # (T, T): depends on the offset only
    elif scheme == "alibi":
        return alibi_bias(T, 8)[-1]  # (T, T)
    else:
        raise ValueError(f"scheme must be sinusoidal, learned, rotary or alibi, got {scheme!r}")
    pe = pe / pe.norm(dim=-1, keepdim=True)
    return pe @ pe.T  # (T, T)
