"""Exercise checks of Notebook 02, self-attention."""
import math

import torch

from helpers.exercises._common import Check, _diagnose, _projections


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
