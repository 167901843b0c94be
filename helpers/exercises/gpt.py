"""Exercise checks of Notebook 08, a GPT-style language model."""
import torch

from helpers.exercises._common import _diagnose


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
