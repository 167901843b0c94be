"""Exercise checks of Notebook 07, the decoder."""
import torch

from helpers.exercises._common import Check, _diagnose


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
