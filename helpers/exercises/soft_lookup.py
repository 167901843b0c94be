"""Exercise checks of Notebook 01, attention as a soft lookup."""
import math

import torch

from helpers.exercises._common import Check, _diagnose, _inputs, _module_or_error
from helpers.yours import builds


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


def _additive_by_loops(W_q, W_k, w, q, k, v):
    """Bahdanau's scores, one (query, key) pair at a time, as the 2015 paper writes them:
    e_ts = w · tanh(W_q q_t + W_k k_s). q (B, T, d_q), k (B, S, d_k), v (B, S, d_v)."""
    B, T, S = q.shape[0], q.shape[1], k.shape[1]
    scores = torch.stack([torch.stack([torch.stack([
        w @ torch.tanh(W_q @ q[b, t] + W_k @ k[b, s]) for s in range(S)])
        for t in range(T)]) for b in range(B)])  # (B, T, S)
    weights = scores.softmax(dim=-1)
    return weights @ v, weights


@builds("AdditiveAttention", "helpers.attention:AdditiveAttention")
def check_additive_attention(cls):
    """Exercise: ``class MyAdditiveAttention(nn.Module)``, built as ``cls(d_q, d_k, hidden)``
    with ``W_q`` (d_q -> hidden), ``W_k`` (d_k -> hidden) and ``w`` (hidden -> 1), linear
    layers without biases, and ``forward(q, k, v)`` -> ``(out (..., T, d_v), weights
    (..., T, S))``, the scores being w · tanh(W_q q_t + W_k k_s).

    Compared, forward and backward, with the same formula written one (query, key) pair at
    a time; the usual mistakes are named."""
    d_q, d_k, hidden, T, S = 4, 5, 7, 3, 6  # T ≠ S, so that a transposed result shows
    mine, error = _module_or_error(cls, lambda c: c(d_q, d_k, hidden))
    if error is not None:
        return error
    want = {"W_q.weight": (hidden, d_q), "W_k.weight": (hidden, d_k), "w.weight": (1, hidden)}
    have = {n: tuple(p.shape) for n, p in mine.named_parameters()}
    if not have:
        return Check(False, f"Not done yet: your module has no parameters. Expected {want}: "
                            "three nn.Linear layers named W_q, W_k and w, with bias=False.")
    if have != want:
        return Check(False, f"Your parameters are {have}; expected exactly {want}: three "
                            "nn.Linear layers named W_q, W_k and w, with bias=False.")
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in mine.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    q, k, v = (torch.randn(2, n, d, generator=g) for n, d in ((T, d_q), (S, d_k), (S, 3)))
    W_q, W_k, w = (mine.get_parameter(n).detach().clone().requires_grad_(True)
                   for n in ("W_q.weight", "W_k.weight", "w.weight"))
    expected, weights = _additive_by_loops(W_q, W_k, w[0], q, k, v)
    try:
        got = mine(q.clone(), k.clone(), v.clone())
    except Exception as error:  # the learner's forward: any error is theirs to see
        hint = ""
        if "must match the size" in str(error):
            hint = (" To score every query against every key, give the queries a key axis and "
                    "the keys a query axis: W_q(q).unsqueeze(-2) is (..., T, 1, hidden), "
                    "W_k(k).unsqueeze(-3) is (..., 1, S, hidden), and their sum (..., T, S, "
                    "hidden).")
        return Check(False, f"Calling your module failed: {type(error).__name__}: {error}.{hint}")
    if isinstance(got, torch.Tensor):
        return Check(False, "Return a pair, (out, weights), as the course's attention does.")
    if got is None or got[0] is None:
        return Check(False, "Not done yet: your forward returned None.")
    with torch.no_grad():
        hidden_in = (q @ W_q.T)[:, :, None] + (k @ W_k.T)[:, None]  # (B, T, S, hidden)
        linear, scores = hidden_in @ w[0], torch.tanh(hidden_in) @ w[0]  # (B, T, S)
    mistakes = {
        "You left out the tanh: without it, w · (W_q q + W_k k) = w·W_q q + w·W_k k, and the "
        "query's part is the same for every key, so it cancels in the softmax: the weights "
        "would not depend on the query at all.": linear.softmax(-1) @ v,
        "Softmax over the wrong axis: each query's weights (a row, dim=-1) must sum to 1; "
        "you normalised over the queries (dim=-2).": scores.softmax(-2) @ v,
        "You returned the weights as the output; multiply them by the values v.":
            scores.softmax(-1),
        "You returned the scores before the softmax.": scores,
    }
    result = _diagnose(got, expected.detach(), mistakes, "")
    if not result:
        return result
    if not isinstance(got[1], torch.Tensor) or got[1].shape != weights.shape \
            or not torch.allclose(got[1].detach(), weights.detach(), atol=1e-5):
        return Check(False, "Your output is right but the weights you return are not: return "
                            "the softmax of the scores, (..., T, S).")
    grad = torch.randn(expected.shape, generator=g)
    torch.autograd.backward(expected, grad)
    if got[0].requires_grad:
        got[0].backward(grad)
    for name, ref in (("W_q", W_q), ("W_k", W_k), ("w", w)):
        mine_grad = getattr(mine, name).weight.grad
        if mine_grad is None or not torch.allclose(mine_grad, ref.grad, atol=1e-4):
            return Check(False, f"The output is right, but the gradient of {name} is not (is "
                                "something detached?).")
    return Check(True, "Your additive attention matches the formula written one (query, key) "
                       "pair at a time, forward and backward.")
