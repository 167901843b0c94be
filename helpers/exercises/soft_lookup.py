"""Exercise checks of Notebook 01, attention as a soft lookup."""
import math

import torch

from helpers.exercises._common import Check, _diagnose, _inputs


def check_softmax(softmax):
    """Exercise: ``softmax(x)`` over the last dimension, safe for large inputs."""
    x = torch.randn(3, 4, generator=torch.Generator().manual_seed(0))
    mistakes = {
        "Softmax over the wrong axis: each row (the last dimension) should sum to 1, but "
        "your columns do. Use dim=-1.": torch.softmax(x, dim=0),
        "You forgot to normalise: divide exp(x) by its sum over the last dimension.": x.exp(),
        "You normalised x itself; exponentiate first: exp(x) / sum(exp(x)).":
            x / x.sum(-1, keepdim=True),
    }
    result = _diagnose(softmax(x.clone()), torch.softmax(x, -1), mistakes,
                       "Matches torch.softmax.")
    if not result:
        return result
    big = torch.tensor([[1000.0, 1001.0, 1002.0]])
    if not torch.isfinite(softmax(big.clone())).all():
        return Check(False, "Overflow: exp(1000) is inf in float32, so you get NaN. Subtract "
                            "the row's maximum before exponentiating; the result is the same.")
    return Check(True, "Matches torch.softmax, and is safe for large scores.")


def check_scaled_scores(scores):
    """Exercise: ``scores(q, k)`` = q kᵀ / √d_k, shape (..., T, S)."""
    q, k, _ = _inputs()
    raw = q @ k.transpose(-2, -1)
    d_k = q.shape[-1]
    mistakes = {
        f"You divided by d_k ({d_k}), not by √d_k ({math.sqrt(d_k):g}).": raw / d_k,
        "You forgot to divide by √d_k.": raw,
        "Your scores have one row per key: compute q @ kᵀ (queries down the side), "
        "not k @ qᵀ.": raw.transpose(-2, -1) / math.sqrt(d_k),
        "You multiplied by √d_k instead of dividing by it.": raw * math.sqrt(d_k),
    }
    return _diagnose(scores(q.clone(), k.clone()), raw / math.sqrt(d_k), mistakes,
                     "Your scores are q kᵀ / √d_k.")


def check_attention(attention):
    """Exercise: ``attention(q, k, v)`` = softmax(q kᵀ / √d_k) v, shape (..., T, Dv)."""
    q, k, v = _inputs()
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    mistakes = {
        "Softmax over the wrong axis: each query's weights (a row, dim=-1) must sum to 1; "
        "you normalised over the queries (dim=-2).": torch.softmax(scores, dim=-2) @ v,
        "You forgot to divide the scores by √d_k.":
            torch.softmax(q @ k.transpose(-2, -1), dim=-1) @ v,
        "You divided by d_k, not √d_k.":
            torch.softmax(q @ k.transpose(-2, -1) / q.shape[-1], dim=-1) @ v,
        "You returned the weights; multiply them by the values v.": torch.softmax(scores, -1),
        "You returned the scores before the softmax.": scores,
    }
    return _diagnose(attention(q.clone(), k.clone(), v.clone()),
                     torch.softmax(scores, -1) @ v, mistakes,
                     "softmax(q kᵀ / √d_k) v, as in the paper.")
