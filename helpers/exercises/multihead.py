"""Exercise checks of Notebook 04, multi-head attention."""
import torch
from torch import nn

from helpers.exercises._common import Check, _diagnose, _module_or_error, _perturbed
from helpers.yours import builds


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



@builds("MultiHeadAttention", "helpers.multihead:MultiHeadAttention")
def check_mha(cls):
    """Exercise: ``class MyMultiHeadAttention(nn.Module)``, built as ``cls(d_model=C,
    num_heads=H)``, with a fused ``in_proj`` (C -> 3C: W_Q, W_K, W_V of every head) and an
    ``out_proj`` (C -> C), and ``forward(x, mask=None, context=None)`` returning
    ``(out (B, T, C), weights (B, H, T, S))``; mask: bool, True = may attend.

    It is compared with the course's MultiHeadAttention (same weights), forward and
    backward, without and with a mask, and as cross-attention (keys and values from
    ``context``); the usual mistakes are named."""
    from helpers.multihead import MultiHeadAttention
    from helpers.masks import causal_mask

    C, H = 12, 3
    mine, error = _module_or_error(cls, lambda c: c(d_model=C, num_heads=H))
    if error is not None:
        return error
    names = {n: tuple(p.shape) for n, p in mine.named_parameters()}
    wanted = {"in_proj.weight": (3 * C, C), "in_proj.bias": (3 * C,),
              "out_proj.weight": (C, C), "out_proj.bias": (C,)}
    if names != wanted:
        return Check(False, f"Your parameters are {names or 'none'}; expected exactly "
                            f"{wanted}: one fused in_proj = nn.Linear(C, 3 * C) and out_proj "
                            "= nn.Linear(C, C), so that the course's weights load into yours.")
    reference = _perturbed(lambda: MultiHeadAttention(d_model=C, num_heads=H), seed=4)
    mine.load_state_dict(reference.state_dict())
    mine.eval()
    g = torch.Generator().manual_seed(5)
    x, context = torch.randn(2, 4, C, generator=g), torch.randn(2, 6, C, generator=g)
    mask = causal_mask(4)
    padding = torch.tensor([[True] * 6, [True] * 3 + [False] * 3])[:, None, :]  # (B, 1, S)
    cases = [("without a mask", dict(x=x)), ("with a causal mask", dict(x=x, mask=mask)),
             ("as cross-attention (context of 6 tokens)", dict(x=x, context=context)),
             ("as cross-attention with a padding mask (B, 1, S)",
              dict(x=x, context=context, mask=padding))]
    for case, kwargs in cases:
        try:
            got = mine(**{k: v.clone().requires_grad_(k != "mask") for k, v in kwargs.items()})
        except Exception as error:
            hint = (" A mask of shape (B, T or 1, S) is the same for every head: give it a "
                    "head dimension, mask[:, None], before masked_fill on (B, H, T, S) scores."
                    if kwargs.get("mask") is not None and kwargs["mask"].dim() == 3 else "")
            return Check(False, f"Calling your module {case} failed: "
                                f"{type(error).__name__}: {error}.{hint}")
        if not (isinstance(got, tuple) and len(got) == 2):
            return Check(False, "forward must return a pair (out, weights): the output "
                                "(B, T, C) and every head's weights (B, H, T, S).")
        out, weights = got
        expected, expected_w = reference(**kwargs)
        result = _mha_mistake(out, expected, x, kwargs, reference, H, case)
        if result is not None:
            return result
        if not isinstance(weights, torch.Tensor) or weights.shape != expected_w.shape \
                or not torch.allclose(weights.detach(), expected_w.detach(), atol=1e-5):
            return Check(False, f"The output is right {case}, but the weights are not: "
                                f"expected every head's softmax weights, shape "
                                f"{tuple(expected_w.shape)} (B, H, T, S).")
        out.sum().backward()
    return Check(True, "Your multi-head attention matches the course's, forward and "
                       "backward, with and without a mask, and as cross-attention.")


def _mha_mistake(out, expected, x, kwargs, reference, H, case):
    """None if ``out`` matches ``expected``; else a Check naming the mistake if it is a
    known one."""
    if not isinstance(out, torch.Tensor):
        return Check(False, f"Expected the output to be a tensor, got {type(out).__name__}.")
    if out.shape == expected.shape and torch.allclose(out.detach(), expected, atol=1e-5):
        return None
    C = x.shape[-1]
    context = kwargs.get("context", x)
    mask = kwargs.get("mask")
    w, b = reference.in_proj.weight, reference.in_proj.bias
    q = torch.nn.functional.linear(x, w[:C], b[:C])
    k = torch.nn.functional.linear(context, w[C:2 * C], b[C:2 * C])
    v = torch.nn.functional.linear(context, w[2 * C:], b[2 * C:])
    B, T, S, D = x.shape[0], x.shape[1], context.shape[1], C // H

    def attend(scale, split, merge_transposes=True, use_mask=True, out_proj=True, dim=-1):
        qh, kh, vh = (split(t, n) for t, n in ((q, T), (k, S), (v, S)))
        scores = qh @ kh.transpose(-2, -1) / scale
        if mask is not None and use_mask:
            scores = scores.masked_fill(~mask, float("-inf"))
        o = torch.softmax(scores, dim=dim) @ vh  # (B, H, T, D)
        o = o.transpose(1, 2).reshape(B, T, C) if merge_transposes else o.reshape(B, T, C)
        return reference.out_proj(o) if out_proj else o

    heads = lambda t, n: t.view(B, n, H, D).transpose(1, 2)  # noqa: E731
    wrong_split = lambda t, n: t.reshape(B, H, n, D)  # noqa: E731
    with torch.no_grad():
        mistakes = {
            "You divided the scores by d_k, not √d_k.": attend(D, heads),
            "You divided by √C (the model width); each head's scores are divided by √D, "
            "its own width C / H.": attend(C ** 0.5, heads),
            "You forgot to divide the scores by √D.": attend(1.0, heads),
            "You split into heads with a plain view to (B, H, T, D): that cuts the sequence, "
            "not the features. view(B, T, H, D).transpose(1, 2).": attend(D ** 0.5, wrong_split),
            "You merged the heads without transposing back: transpose(1, 2) before "
            "reshape(B, T, C).": attend(D ** 0.5, heads, merge_transposes=False),
            "The mask is ignored: blocked positions still get weight. masked_fill the "
            "scores with -inf where mask is False, before the softmax.":
                attend(D ** 0.5, heads, use_mask=False),
            "You forgot the output projection out_proj (W_O).": attend(D ** 0.5, heads,
                                                                       out_proj=False),
            "The softmax runs over the queries (dim=-2): each query's weights over the keys "
            "must sum to 1, so softmax over the last dimension (dim=-1).":
                attend(D ** 0.5, heads, dim=-2),
        }
        if mask is not None:
            flipped = torch.softmax((heads(q, T) @ heads(k, S).transpose(-2, -1) / D ** 0.5)
                                    .masked_fill(mask, float("-inf")), dim=-1)
            mistakes["Your mask is the wrong way round: True means may attend, so fill "
                     "where mask is False (~mask)."] = reference.out_proj(
                (flipped @ heads(v, S)).transpose(1, 2).reshape(B, T, C))
    got = out.detach()
    for message, wrong in mistakes.items():
        if got.shape == wrong.shape and torch.allclose(got, wrong, atol=1e-5, equal_nan=True):
            return Check(False, f"{case.capitalize()}: {message}")
    if got.shape != expected.shape:
        return Check(False, f"{case.capitalize()}: wrong shape: expected "
                            f"{tuple(expected.shape)} (B, T, C), got {tuple(got.shape)}.")
    diff = (got - expected).abs().max().item()
    return Check(False, f"{case.capitalize()}: right shape, wrong values (largest difference "
                        f"{diff:.3g}).")


def check_qkv_heads(qkv_heads):
    """Exercise: ``qkv_heads(x, in_proj, num_heads)``: one fused projection x (B, T, C) ->
    (B, T, 3C), cut into q, k, v (W_Q's C outputs first, then W_K's, then W_V's), each split
    into heads: three tensors of shape (B, H, T, D)."""
    B, T, C, H = 2, 3, 8, 2
    D = C // H
    g = torch.Generator().manual_seed(6)
    x = torch.randn(B, T, C, generator=g)
    with torch.random.fork_rng():  # the learner's random stream is left as it was
        torch.manual_seed(6)
        in_proj = nn.Linear(C, 3 * C)
    with torch.no_grad():
        fused = in_proj(x)  # (B, T, 3C)
        heads = lambda t: t.view(B, T, H, D).transpose(1, 2)  # noqa: E731
        q, k, v = (heads(t) for t in fused.split(C, dim=-1))
        per_head = fused.view(B, T, H, 3 * D).transpose(1, 2).split(D, dim=-1)
        try:
            got = qkv_heads(x.clone(), in_proj, H)
        except Exception as error:  # the learner's code: any error is theirs to see
            return Check(False, f"Calling your function failed: {type(error).__name__}: {error}")
    if got is None:
        return Check(False, "Not done yet: your function returned None. Fill in its body "
                            "and return q, k, v.")
    if not (isinstance(got, (tuple, list)) and len(got) == 3
            and all(isinstance(t, torch.Tensor) for t in got)):
        return Check(False, "Return three tensors: q, k, v, each (B, H, T, D).")
    got = tuple(t.detach() for t in got)
    same = lambda a, b: all(s.shape == t.shape and torch.allclose(s, t, atol=1e-5)  # noqa: E731
                            for s, t in zip(a, b))
    if same(got, (q, k, v)):
        return Check(True, "One matrix product for all three projections of every head; "
                           "q, k, v are (B, H, T, D) each.")
    flat = tuple(t.transpose(1, 2).reshape(B, T, C) for t in (q, k, v))
    mistakes = [
        ((k, q, v), "q and k are swapped: in_proj's first C outputs are W_Q's, then W_K's, "
                    "then W_V's."),
        (per_head, "You split into heads before cutting q, k, v apart: that assumes each "
                   "head's q, k and v sit together, but in_proj holds all of W_Q first, then "
                   "W_K, then W_V. split(C, dim=-1) first, then split each into heads."),
        (flat, "q, k, v are still (B, T, C): split each into heads, (B, H, T, D)."),
        (tuple(t.reshape(B, H, T, D) for t in flat),
         "You split into heads with a plain view to (B, H, T, D): that cuts the sequence, "
         "not the features. view(B, T, H, D).transpose(1, 2)."),
    ]
    for wrong, message in mistakes:
        if same(got, wrong):
            return Check(False, message)
    shapes = ", ".join(str(tuple(t.shape)) for t in got)
    return Check(False, f"Not q, k, v of the fused projection: expected three "
                        f"{tuple(q.shape)} (B, H, T, D), got {shapes}.")


def check_offset_weights(offset_weights):
    """Exercise: ``offset_weights(weights)``: attention weights (n, H, T, T) (rows are
    queries, columns keys; the sequence wraps around) -> (H, 3): each head's mean weight
    from a token on its left neighbour, on itself and on its right neighbour."""
    n, H, T = 3, 2, 5
    g = torch.Generator().manual_seed(7)
    weights = torch.softmax(torch.randn(n, H, T, T, generator=g) * 2, dim=-1)
    t = torch.arange(T)

    def table(w, left=-1, right=1):
        return torch.stack([w[..., t, (t + left) % T].mean(dim=(0, -1)),
                            w[..., t, t].mean(dim=(0, -1)),
                            w[..., t, (t + right) % T].mean(dim=(0, -1))], dim=-1)

    mistakes = {
        "Left and right are swapped. Rows are queries, columns keys: the token's weight on "
        "its left neighbour is weights[..., t, (t - 1) % T] (reading weights[..., t - 1, t], "
        "the neighbour's weight on the token, gives the same swap on average).":
            table(weights, left=1, right=-1),
        "You averaged over the heads too: keep one row per head, (H, 3).":
            table(weights).mean(0, keepdim=True),
    }
    got = offset_weights(weights.clone())
    return _diagnose(got, table(weights), mistakes,
                     "Each head's mean weight on the left neighbour, itself and the right one.")
