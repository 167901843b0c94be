"""Exercise checks of Notebook 03, masking."""
import torch

from helpers.exercises._common import Check, _diagnose


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


def check_padding_mask(padding_mask):
    """Exercise: ``padding_mask(lengths, S)``: (B,) lengths -> a (B, 1, S) bool mask, True at
    the real tokens (key s of sentence b is real when s < lengths[b])."""
    lengths, S = torch.tensor([3, 1, 5]), 5
    real = torch.arange(S)[None, :] < lengths[:, None]  # (B, S)
    right = real[:, None, :]  # (B, 1, S)
    got = padding_mask(lengths.clone(), S)
    if isinstance(got, torch.Tensor) and got.dtype != torch.bool and got.shape == right.shape \
            and torch.equal(got.bool(), right):
        return Check(False, f"Right pattern, but dtype {got.dtype}: masks in this course are "
                            "boolean. Compare with <, which gives bool.")
    if isinstance(got, torch.Tensor) and got.shape == real.shape and torch.equal(got, real):
        return Check(False, "Right values, shape (B, S): add the axis of the queries, (B, 1, S), "
                            "so that the mask broadcasts over every query of a sentence: "
                            "mask[:, None, :].")
    mistakes = {
        "Your mask is the wrong way round: True means 'may attend', so the real tokens are "
        "True and the padding False.": ~right,
        "One key too many: a sentence of length 3 has keys 0, 1, 2. Use <, not <=.":
            (torch.arange(S)[None, :] <= lengths[:, None])[:, None, :],
    }
    return _diagnose(got, right, mistakes,
                     "One row of keys per sentence, True at its real tokens, broadcasting "
                     "over the queries.")
