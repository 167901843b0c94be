"""Notebook 15's exercise checks: the course's scores pass, and each classic mistake is named."""
import pytest
import torch

from helpers.exercises import interp
from helpers.interp import induction_score, previous_token_score


def test_the_reference_scores_pass():
    assert interp.check_previous_token_score(previous_token_score).passed
    assert interp.check_induction_score(induction_score).passed


@pytest.mark.parametrize("wrong, named", [
    (lambda w: torch.diagonal(w, dim1=-2, dim2=-1).mean(dim=(0, 2)), "main diagonal"),
    (lambda w: torch.diagonal(w, offset=-1, dim1=-2, dim2=-1).sum(dim=(0, 2)) / (w.shape[0] * w.shape[2]),
     "counting query 0"),
    (lambda w: torch.diagonal(w, offset=-1, dim1=-2, dim2=-1).sum(dim=(0, 2)), "summed"),
    (lambda w: torch.diagonal(w, offset=-1, dim1=-2, dim2=-1).mean(dim=2), "(B, H)"),
    (lambda w: torch.diagonal(w, offset=-1, dim1=-2, dim2=-1).mean(dim=(1, 2)), "averaged over the heads"),
    (lambda w: None, "Not done yet"),
    (lambda w: 1 / 0, "ZeroDivisionError"),
])
def test_previous_token_mistakes_are_named(wrong, named):
    result = interp.check_previous_token_score(wrong)
    assert not result.passed and named in result.message, result.message


def _induction(weights, tokens, shift=-1, only_with_target=True, total=False, same=False):
    B, T = tokens.shape
    allowed = torch.ones(T, T, dtype=torch.bool).tril()
    if same:
        targets = (tokens[:, None, :] == tokens[:, :, None]) & allowed & ~torch.eye(T, dtype=torch.bool)
    else:
        pad = torch.full((B, 1), -1)
        other = torch.cat([pad, tokens[:, :-1]], 1) if shift == -1 else torch.cat([tokens[:, 1:], pad], 1)
        targets = (other[:, None, :] == tokens[:, :, None]) & allowed
    on = (weights * targets[:, None]).sum(-1)  # (B, H, T)
    if not only_with_target:
        return on.mean(dim=(0, 2))
    picked = on.transpose(0, 1)[:, targets.any(-1)]
    return picked.sum(-1) if total else picked.mean(-1)


@pytest.mark.parametrize("kwargs, named", [
    (dict(same=True), "duplicate-token"),
    (dict(shift=+1), "tokens[s + 1]"),
    (dict(only_with_target=False), "every query"),
    (dict(total=True), "summed"),
])
def test_induction_mistakes_are_named(kwargs, named):
    result = interp.check_induction_score(lambda w, t: _induction(w, t, **kwargs))
    assert not result.passed and named in result.message, result.message


def test_the_unsummed_per_sequence_induction_score_is_named():
    def per_sequence(w, tokens):
        return torch.stack([induction_score(w[b:b + 1], tokens[b:b + 1]) for b in range(w.shape[0])])
    result = interp.check_induction_score(per_sequence)
    assert not result.passed and "(B, H)" in result.message
