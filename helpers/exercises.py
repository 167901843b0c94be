"""Checks for the notebooks' exercises. Each says in words what is wrong, not only "wrong".

A check runs the learner's function on fixed inputs, compares the result with the
reference, and, when they differ, with the results of the usual mistakes, so that it
can name the mistake. It returns a ``Check``, which prints as its message.
"""
import math
from dataclasses import dataclass

import torch

from helpers._checks import shape_str


@dataclass
class Check:
    passed: bool
    message: str

    def __repr__(self):
        return ("✅ " if self.passed else "❌ ") + self.message

    def __bool__(self):
        return self.passed


def _diagnose(got, expected, mistakes, success):
    """Compare ``got`` with ``expected``, then with each known mistake's result."""
    if got is None:
        return Check(False, "Not done yet: your function returned None. Fill in its body "
                            "and return the result.")
    if isinstance(got, tuple):
        got = got[0]
    if not isinstance(got, torch.Tensor):
        return Check(False, f"Expected a torch.Tensor, got {type(got).__name__}.")
    got = got.detach()
    if got.shape == expected.shape and torch.allclose(got, expected, atol=1e-5, rtol=1e-4):
        return Check(True, success)
    for message, wrong in mistakes.items():
        if got.shape == wrong.shape and torch.allclose(got, wrong, atol=1e-5, rtol=1e-4,
                                                       equal_nan=True):
            return Check(False, message)
    if got.shape != expected.shape:
        return Check(False, f"Wrong shape: expected {shape_str(expected.shape)}, "
                            f"got {shape_str(got.shape)}.")
    if not torch.isfinite(got).all():
        return Check(False, "Your result contains inf or NaN values.")
    diff = (got - expected).abs().max().item()
    return Check(False, f"Right shape, wrong values: the largest difference from the "
                        f"reference is {diff:.3g}.")


def _inputs(seed=0, T=5, S=6, d_k=9, d_v=3):
    """d_k = 9 so that dividing by d_k (9) and by √d_k (3) give different answers."""
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(2, T, d_k, generator=g), torch.randn(2, S, d_k, generator=g),
            torch.randn(2, S, d_v, generator=g))


# --- Notebook 01 ---------------------------------------------------------------------

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


# --- Notebook 02 ---------------------------------------------------------------------

def _projections(seed=0, C=9, d_k=9, d_v=4):
    with torch.random.fork_rng():  # the learner's random stream is left as it was
        torch.manual_seed(seed)
        return (torch.nn.Linear(C, d_k), torch.nn.Linear(C, d_k), torch.nn.Linear(C, d_v))


def check_self_attention(self_attention):
    """Exercise: ``self_attention(x, w_q, w_k, w_v)`` with three nn.Linear maps."""
    w_q, w_k, w_v = _projections()
    x = torch.randn(2, 5, 9, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        q, k, v = w_q(x), w_k(x), w_v(x)

        def attend(q, k, v, scale=math.sqrt(q.shape[-1]), dim=-1):
            return torch.softmax(q @ k.transpose(-2, -1) / scale, dim=dim) @ v

        mistakes = {
            "Your values are the raw inputs: pass x through w_v first.": attend(q, k, x),
            "Your keys come from w_q: use w_k for the keys.": attend(q, q, v),
            "Your queries and keys are the raw inputs: project them with w_q and w_k.":
                attend(x, x, v),
            "You forgot to divide the scores by √d_k.": attend(q, k, v, scale=1.0),
            "You divided by d_k, not √d_k.": attend(q, k, v, scale=q.shape[-1]),
            "Softmax over the wrong axis: normalise each query's row (dim=-1).":
                attend(q, k, v, dim=-2),
        }
        got = self_attention(x.clone(), w_q, w_k, w_v)
        return _diagnose(got, attend(q, k, v), mistakes,
                         "Self-attention with learned queries, keys and values.")


def check_parameter_count(answer, d_model, d_k, d_v):
    """Exercise: the parameters of SelfAttention(d_model, d_k, d_v), biases included."""
    right = d_model * d_k * 2 + d_model * d_v + 2 * d_k + d_v
    if answer is None:
        return Check(False, "Not done yet: set your answer to an int.")
    if answer == right:
        return Check(True, f"{right} parameters: three weight matrices and three biases.")
    if answer == right - 2 * d_k - d_v:
        return Check(False, "You forgot the biases: each Linear has one per output feature.")
    if answer == 3 * d_model * d_k + 3 * d_k:
        return Check(False, f"The value map has d_v={d_v} outputs, not d_k={d_k}.")
    if answer in (d_model * d_k + d_k, d_model * d_k):
        return Check(False, "You counted one map; there are three (queries, keys, values).")
    return Check(False, f"{answer} is not it. Count each Linear as in_features × "
                        "out_features weights plus out_features biases.")


def check_cross_attention(cross_attention):
    """Exercise: ``cross_attention(attn, x, context)``: queries from x, keys/values from context."""
    from helpers.attention import SelfAttention

    with torch.random.fork_rng():  # the learner's random stream is left as it was
        torch.manual_seed(0)
        attn = SelfAttention(8, 8, 4)
    g = torch.Generator().manual_seed(0)
    x, context = torch.randn(2, 3, 8, generator=g), torch.randn(2, 7, 8, generator=g)
    with torch.no_grad():
        expected, _ = attn(x, context)
        swapped, _ = attn(context, x)
        self_only, _ = attn(x)
        got = cross_attention(attn, x.clone(), context.clone())
    mistakes = {
        "Your output has one row per context token: the queries must come from x "
        "(attn(x, context)), the keys and values from the context.": swapped,
        "That is self-attention over x: pass the context as the second argument.": self_only,
    }
    return _diagnose(got, expected, mistakes,
                     "One output row per query in x, each a mix of the context's values.")


# --- Notebook 03 ---------------------------------------------------------------------

def check_causal_mask(causal_mask):
    """Exercise: ``causal_mask(T)``, a (T, T) bool mask, True where query t may see key s."""
    T = 5
    right = torch.ones(T, T, dtype=torch.bool).tril()
    got = causal_mask(T)
    if isinstance(got, torch.Tensor) and got.shape == right.shape and got.dtype != torch.bool:
        if torch.equal(got.bool(), right):
            return Check(False, f"Right pattern, but dtype {got.dtype}: masks in this course are "
                                "boolean. Add .bool().")
    mistakes = {
        "Your mask is upside down: True must mean 'may attend', so the lower triangle "
        "(keys at or before the query) is True.": ~right,
        "A query may also attend to itself: keep the diagonal (tril, not tril(-1)).":
            torch.ones(T, T, dtype=torch.bool).tril(-1),
        "That is the upper triangle: it lets each query see the future and not the past.":
            torch.ones(T, T, dtype=torch.bool).triu(),
    }
    return _diagnose(got, right, mistakes, "A causal mask: each query sees itself and the past.")


def check_masked_softmax(masked_softmax):
    """Exercise: ``masked_softmax(scores, mask)`` -> weights, blocked keys exactly 0."""
    g = torch.Generator().manual_seed(0)
    scores = torch.randn(2, 4, 4, generator=g) * 3
    mask = torch.ones(4, 4, dtype=torch.bool).tril()
    right = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
    mistakes = {
        "You applied the mask after the softmax: the weights of each row no longer sum to 1, "
        "and the future still changed the denominator. Mask the scores, then softmax.":
            torch.softmax(scores, -1) * mask,
        "You filled blocked scores with 0, not -inf: exp(0) = 1, so blocked keys still get "
        "weight. Use float('-inf').": torch.softmax(scores.masked_fill(~mask, 0.0), -1),
        "You blocked the allowed keys: True means 'may attend', so fill where the mask is "
        "False (~mask).": torch.softmax(scores.masked_fill(mask, float("-inf")), -1),
    }
    return _diagnose(masked_softmax(scores.clone(), mask), right, mistakes,
                     "Blocked keys get exactly 0 and every row sums to 1.")


def check_to_torch_mha(convert):
    """Exercise: our mask (True = may attend) to nn.MultiheadAttention's (True = blocked)."""
    ours = torch.ones(4, 4, dtype=torch.bool).tril()
    got = convert(ours.clone())
    if isinstance(got, torch.Tensor) and got.dtype != torch.bool:
        return Check(False, f"Expected a boolean mask, got dtype {got.dtype}. (An additive mask "
                            "of 0 and -inf also works in PyTorch, but here we want True = blocked.)")
    unchanged = ("You passed our mask unchanged: in nn.MultiheadAttention True means *blocked*, "
                 "the opposite of ours. Invert it with ~mask.")
    return _diagnose(got, ~ours, {unchanged: ours},
                     "True now means 'blocked', as nn.MultiheadAttention expects.")


# --- Notebook 04 ---------------------------------------------------------------------

def check_split_heads(split_heads):
    """Exercise: ``split_heads(x, num_heads)``: (B, T, C) -> (B, H, T, D) with D = C / H."""
    B, T, C, H = 2, 3, 8, 2
    x = torch.arange(B * T * C, dtype=torch.float32).view(B, T, C)
    right = x.view(B, T, H, C // H).transpose(1, 2)
    mistakes = {
        "You reshaped straight to (B, H, T, D): that cuts the sequence, not the features, into "
        "heads. View as (B, T, H, D) first, then transpose(1, 2).": x.reshape(B, H, T, C // H),
        "You stopped at (B, T, H, D): move the heads in front of the positions with "
        "transpose(1, 2).": x.view(B, T, H, C // H),
    }
    return _diagnose(split_heads(x.clone(), H), right, mistakes,
                     "Each head gets its own slice of D features for every position.")


def check_merge_heads(merge_heads):
    """Exercise: ``merge_heads(x)``: (B, H, T, D) -> (B, T, H*D), the inverse of split_heads."""
    B, H, T, D = 2, 2, 3, 4
    x = torch.arange(B * H * T * D, dtype=torch.float32).view(B, H, T, D)
    right = x.transpose(1, 2).reshape(B, T, H * D)
    mistakes = {
        "You reshaped without transposing back: positions and heads got mixed. "
        "transpose(1, 2) first, then reshape(B, T, H * D).": x.reshape(B, T, H * D),
    }
    return _diagnose(merge_heads(x.clone()), right, mistakes,
                     "The heads sit side by side again in each position's features.")


def check_mha_parameter_count(answer, d_model, num_heads):
    """Exercise: parameters of MultiHeadAttention(d_model, num_heads), biases included."""
    right = 4 * (d_model * d_model + d_model)
    if answer is None:
        return Check(False, "Not done yet: set your answer to an int.")
    if answer == right:
        return Check(True, f"{right}: W_Q, W_K, W_V and W_O, each C × C plus C biases — "
                           "whatever the number of heads.")
    if answer == 3 * (d_model * d_model + d_model):
        return Check(False, "You forgot the output projection W_O.")
    if answer == 4 * d_model * d_model:
        return Check(False, "You forgot the biases (C per projection).")
    if answer == num_heads * right or answer == num_heads * 3 * (d_model * d_model + d_model):
        return Check(False, f"More heads do not mean more parameters: each of the {num_heads} "
                            f"heads projects to d_model / {num_heads} features.")
    return Check(False, f"{answer} is not it. Count four C × C projections with C biases each.")


# --- Notebook 05 ---------------------------------------------------------------------

def check_sinusoidal(encoding):
    """Exercise: ``encoding(T, C)`` -> (T, C), PE[p, 2i] = sin(p ω_i), PE[p, 2i+1] = cos(p ω_i)."""
    from helpers.positional import sinusoidal_encoding

    T, C = 12, 8
    right = sinusoidal_encoding(T, C)
    p = torch.arange(T, dtype=torch.float32)[:, None]

    def table(omega, first=torch.sin, second=torch.cos, positions=p):
        pe = torch.empty(T, C)
        pe[:, 0::2], pe[:, 1::2] = first(positions * omega), second(positions * omega)
        return pe

    i = torch.arange(0, C, 2, dtype=torch.float32)
    mistakes = {
        "sin and cos are swapped: even features take sin, odd ones cos.":
            table(10_000 ** (-i / C), torch.cos, torch.sin),
        "The exponent is 2i/C, not i/C: feature pair i uses ω_i = 10000^(-2i/C).":
            table(10_000 ** (-(i / 2) / C)),
        "Positions start at 0, not 1.": table(10_000 ** (-i / C), positions=p + 1),
        "You used 10000^(+2i/C): the frequencies must fall with i (a minus sign).":
            table(10_000 ** (i / C)),
    }
    return _diagnose(encoding(T, C), right, mistakes, "Matches the paper's sinusoidal encoding.")


def check_alibi(bias):
    """Exercise: ``bias(T, slope)`` -> (T, T) with -slope × |t - s|."""
    T, slope = 5, 0.25
    d = (torch.arange(T)[:, None] - torch.arange(T)[None, :]).float()
    mistakes = {
        "The sign is wrong: far keys must get a *penalty*, -slope × distance.": slope * d.abs(),
        "Use the distance |t - s|: without the absolute value, keys on one side get a bonus.":
            -slope * d,
        "You forgot the slope.": -d.abs(),
    }
    return _diagnose(bias(T, slope), -slope * d.abs(), mistakes,
                     "Each key loses slope × its distance from the query.")


# --- Notebook 06 ---------------------------------------------------------------------

def check_layernorm(layernorm):
    """Exercise: ``layernorm(x, gamma, beta, eps)`` over the last dimension."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 6, generator=g) * 4 + 2
    gamma, beta = torch.randn(6, generator=g), torch.randn(6, generator=g)
    eps = 1e-5

    def norm(x, dim=-1, unbiased=False, eps=eps):
        mean = x.mean(dim, keepdim=True)
        return (x - mean) / torch.sqrt(x.var(dim, keepdim=True, unbiased=unbiased) + eps)

    right = torch.nn.functional.layer_norm(x, (6,), gamma, beta, eps)
    mistakes = {
        "You used the unbiased variance (divide by n - 1); LayerNorm divides by n: "
        "var(unbiased=False).": norm(x, unbiased=True) * gamma + beta,
        "You normalised over the tokens (dim=-2), not over each token's features (dim=-1).":
            norm(x, dim=-2) * gamma + beta,
        "You forgot the learned scale and shift: multiply by gamma, add beta.": norm(x),
        "You divided by the variance, not by its square root (the standard deviation).":
            (x - x.mean(-1, keepdim=True)) / (x.var(-1, keepdim=True, unbiased=False) + eps)
            * gamma + beta,
    }
    return _diagnose(layernorm(x.clone(), gamma, beta, eps), right, mistakes,
                     "Matches torch.nn.functional.layer_norm.")


def check_block_parameter_count(answer, d_model, d_ff):
    """Exercise: parameters of one encoder block (attention, MLP, two LayerNorms)."""
    attention = 4 * (d_model * d_model + d_model)
    mlp = d_model * d_ff + d_ff + d_ff * d_model + d_model
    norms = 4 * d_model
    right = attention + mlp + norms
    if answer is None:
        return Check(False, "Not done yet: set your answer to an int.")
    if answer == right:
        return Check(True, f"{right:,}: attention {attention:,}, MLP {mlp:,}, LayerNorms {norms:,}.")
    if answer == right - norms:
        return Check(False, "You forgot the two LayerNorms: each has C scales and C shifts.")
    if answer == attention + norms or answer == attention:
        return Check(False, "You forgot the MLP — it holds most of the block's parameters.")
    if answer == right - (d_ff + d_model):
        return Check(False, "You forgot the MLP's biases (d_ff + C).")
    return Check(False, f"{answer:,} is not it. Attention: 4(C² + C); MLP: 2·C·d_ff + d_ff + C; "
                        "LayerNorms: 2 × 2C.")


# --- Notebook 07 ---------------------------------------------------------------------

def check_teacher_forcing(shift):
    """Exercise: ``shift(tgt)`` -> (decoder input, target): tgt[:, :-1] and tgt[:, 1:]."""
    tgt = torch.tensor([[1, 5, 6, 7, 2], [1, 8, 9, 2, 0]])  # ^ ... $ then padding
    got = shift(tgt.clone())
    if got is None:
        return Check(False, "Not done yet: return the pair (decoder input, target).")
    if not (isinstance(got, tuple) and len(got) == 2):
        return Check(False, f"Return a pair (decoder input, target), got {type(got).__name__}.")
    inp, target = got
    if torch.equal(inp, tgt[:, :-1]) and torch.equal(target, tgt[:, 1:]):
        return Check(True, "Each position's input is the true token before it: teacher forcing.")
    if torch.equal(inp, tgt) and torch.equal(target, tgt):
        return Check(False, "Input and target are the same sequence: the model would learn to "
                            "copy its input. Shift by one.")
    if torch.equal(inp, tgt[:, 1:]) and torch.equal(target, tgt[:, :-1]):
        return Check(False, "Swapped: the input starts with ^ (tgt[:, :-1]); the target is the "
                            "sequence one step ahead (tgt[:, 1:]).")
    return Check(False, "Not quite: the input is tgt without its last token, the target tgt "
                        "without its first.")


def check_next_token(next_token):
    """Exercise: ``next_token(logits)`` from decoder logits (B, T, V): the greedy choice."""
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 4, 7, generator=g)
    right = logits[:, -1].argmax(-1)
    mistakes = {
        "You took the first position's prediction; the next token comes from the last "
        "position (logits[:, -1]).": logits[:, 0].argmax(-1),
        "You took the argmax over the positions; take it over the vocabulary (dim=-1).":
            logits.argmax(1)[:, -1],
    }
    return _diagnose(next_token(logits.clone()), right, mistakes,
                     "The most likely next token after the last position.")


# --- Notebook 08 ---------------------------------------------------------------------

def check_temperature(apply_temperature):
    """Exercise: ``apply_temperature(logits, t)`` -> probabilities softmax(logits / t)."""
    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0]])
    t = 0.5
    mistakes = {
        "You multiplied by the temperature; divide: a low temperature must sharpen.":
            torch.softmax(logits * t, -1),
        "You returned logits, not probabilities: finish with a softmax.": logits / t,
        "You divided the probabilities, not the logits: softmax(logits / t).":
            torch.softmax(logits, -1) / t,
    }
    return _diagnose(apply_temperature(logits.clone(), t), torch.softmax(logits / t, -1),
                     mistakes, "softmax(logits / t): low t sharpens, high t flattens.")


def check_top_k(top_k_filter):
    """Exercise: ``top_k_filter(logits, k)``: keep the k largest logits, -inf elsewhere."""
    from helpers.generation import top_k_filter as reference

    logits = torch.tensor([[3.0, 1.0, 2.0, 0.0, -1.0]])
    kth = logits.topk(2).values[:, -1:]
    right = reference(logits, 2)
    mistakes = {
        "You set the others to 0, not -inf: a logit of 0 still has probability.":
            logits.masked_fill(logits < kth, 0.0),
        "You kept one too few: use >= the k-th largest (or mask < it).":
            logits.masked_fill(logits <= kth, float("-inf")),
        "You kept the k smallest logits.":
            logits.masked_fill(logits > logits.topk(2, largest=False).values[:, -1:], float("-inf")),
    }
    return _diagnose(top_k_filter(logits.clone(), 2), right, mistakes,
                     "Only the k most likely tokens can be sampled.")
