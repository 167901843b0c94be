"""Exercise checks of Notebook 15, inside a trained model: the two attention-pattern scores."""
import torch

from helpers.exercises._common import Check, _diagnose


def _causal_weights(seed, B=3, H=4, T=10):
    """Random causal attention weights (B, H, T, T): each row sums to 1 over keys s ≤ t."""
    g = torch.Generator().manual_seed(seed)
    scores = 2.0 * torch.randn(B, H, T, T, generator=g)
    allowed = torch.ones(T, T, dtype=torch.bool).tril()
    return torch.softmax(scores.masked_fill(~allowed, float("-inf")), dim=-1)


def _repeated_tokens(seed, B=3, T=10, V=6):
    """Token ids (B, T) from a small vocabulary, so that tokens recur (induction targets)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, V, (B, T), generator=g)


def _run(score, *args):
    try:
        return score(*(a.clone() for a in args)), None
    except Exception as error:  # the learner's code: any error is theirs to see
        return None, Check(False, f"Calling your function failed: {type(error).__name__}: {error}")


def check_previous_token_score(score):
    """Exercise: ``score(weights)``: weights (B, H, T, T) of one layer -> (H,), the mean
    weight each head puts on the key t − 1, over the queries t = 1 .. T − 1 and the batch."""
    from helpers.interp import previous_token_score

    if not callable(score):
        return Check(False, f"Pass your function itself, got {type(score).__name__}.")
    weights = _causal_weights(seed=3)
    B, H, T, _ = weights.shape
    diagonal = torch.diagonal(weights, offset=-1, dim1=-2, dim2=-1)  # (B, H, T - 1)
    mistakes = {
        "You read the main diagonal: that is the weight a query puts on its own token (t), "
        "not on the previous one (t − 1, the diagonal just below: offset=-1).":
            torch.diagonal(weights, dim1=-2, dim2=-1).mean(dim=(0, 2)),
        "You averaged over all T queries, counting query 0 (which has no previous token) as "
        "0: average over the T − 1 queries t = 1 .. T − 1.":
            diagonal.sum(dim=(0, 2)) / (B * T),
        "You summed the weights instead of averaging them: a perfect previous-token head "
        "must score 1.": diagonal.sum(dim=(0, 2)),
        "You averaged over the heads and kept the batch: the score is one number per head, "
        "(H,), averaged over the batch and the queries.": diagonal.mean(dim=(1, 2)),
    }
    got, error = _run(score, weights)
    if error is not None:
        return error
    if isinstance(got, torch.Tensor) and got.shape == (B, H):
        return Check(False, f"Your score is (B, H) = {tuple(got.shape)}: average over the batch "
                            "too, one number per head (H,).")
    result = _diagnose(got, previous_token_score(weights), mistakes,
                       "One number per head: its mean weight on the token just before.")
    if not result.passed:
        return result
    perfect = torch.zeros(1, 1, 5, 5)
    perfect[0, 0, 0, 0], perfect[0, 0, torch.arange(1, 5), torch.arange(0, 4)] = 1.0, 1.0
    got, error = _run(score, perfect)
    if error is None and not (isinstance(got, torch.Tensor) and got.numel() == 1
                              and abs(float(got.flatten()[0]) - 1.0) < 1e-5):
        return Check(False, "A head that always looks one token back must score exactly 1; "
                            f"yours gave {got!r}.")
    return result


def check_induction_score(score):
    """Exercise: ``score(weights, tokens)``: weights (B, H, T, T), tokens (B, T) -> (H,), the
    weight each query t puts on the keys s ≤ t whose previous token (at s − 1) equals its
    own token, averaged over the queries that have at least one such key and the batch."""
    from helpers.interp import induction_score

    if not callable(score):
        return Check(False, f"Pass your function itself, got {type(score).__name__}.")
    weights, tokens = _causal_weights(seed=11), _repeated_tokens(seed=12)
    B, H, T, _ = weights.shape
    allowed = torch.ones(T, T, dtype=torch.bool).tril()
    before = torch.cat([torch.full((B, 1), -1), tokens[:, :-1]], dim=1)  # token at s − 1
    targets = (before[:, None, :] == tokens[:, :, None]) & allowed  # (B, T, S)
    has = targets.any(-1)  # (B, T)
    on = (weights * targets[:, None]).sum(-1)  # (B, H, T)
    same = (tokens[:, None, :] == tokens[:, :, None]) & allowed & ~torch.eye(T, dtype=torch.bool)
    has_same = same.any(-1)
    on_same = (weights * same[:, None]).sum(-1)
    after = torch.cat([tokens[:, 1:], torch.full((B, 1), -1)], dim=1)  # token at s + 1
    two_back = (after[:, None, :] == tokens[:, :, None]) & allowed
    mistakes = {
        "You scored the earlier occurrence of the current token itself (a duplicate-token "
        "head): an induction head looks at the key *after* it, the s whose previous token "
        "tokens[s − 1] equals tokens[t].":
            on_same.transpose(0, 1)[:, has_same].mean(-1),
        "You compared tokens[s + 1] with tokens[t]: that is the key *before* the earlier "
        "occurrence. An induction head looks at s with tokens[s − 1] == tokens[t].":
            (weights * two_back[:, None]).sum(-1).transpose(0, 1)[:, two_back.any(-1)].mean(-1),
        "You averaged over every query, also those whose token never occurred before (they "
        "have nothing to copy): average only over the queries with at least one target key.":
            on.mean(dim=(0, 2)),
        "You summed the weights over the queries instead of averaging: a perfect induction "
        "head must score 1.": on.transpose(0, 1)[:, has].sum(-1),
    }
    got, error = _run(score, weights, tokens)
    if error is not None:
        return error
    if isinstance(got, torch.Tensor) and got.shape == (B, H):
        return Check(False, f"Your score is (B, H) = {tuple(got.shape)}: average over the "
                            "queries of the whole batch, one number per head (H,).")
    return _diagnose(got, induction_score(weights, tokens), mistakes,
                     "One number per head: its weight on the token after the earlier "
                     "occurrence of the current one.")
