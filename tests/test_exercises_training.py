"""Notebook 07's Exercise 3: label-smoothed cross-entropy by hand (check_label_smoothing),
checked against F.cross_entropy(label_smoothing=...); the reference passes and each classic
mistake is named."""
import pytest
import torch
from torch.nn import functional as F

from helpers.exercises.training import check_label_smoothing  # unrecorded: keeps nothing


def reference(logits, targets, eps):
    V = logits.shape[-1]
    q = (1 - eps) * F.one_hot(targets, V) + eps / V  # (n, V): the smoothed target
    return -(q * F.log_softmax(logits, -1)).sum(-1).mean()


def test_the_reference_and_pytorch_pass():
    for fn in (reference, lambda logits, t, eps: F.cross_entropy(logits, t, label_smoothing=eps)):
        result = check_label_smoothing(fn)
        assert result.passed, result.message


def test_the_reference_matches_pytorch_on_random_inputs():
    g = torch.Generator().manual_seed(0)
    for V in (2, 3, 26):
        logits, targets = torch.randn(8, V, generator=g), torch.randint(0, V, (8,), generator=g)
        for eps in (0.0, 0.1, 0.5):
            torch.testing.assert_close(reference(logits, targets, eps),
                                       F.cross_entropy(logits, targets, label_smoothing=eps))


def others(logits, targets, eps):
    V = logits.shape[-1]
    one_hot = F.one_hot(targets, V).float()
    q = (1 - eps) * one_hot + eps / (V - 1) * (1 - one_hot)
    return -(q * F.log_softmax(logits, -1)).sum(-1).mean()


def summed_uniform(logits, targets, eps):
    log_p = F.log_softmax(logits, -1)
    return ((1 - eps) * F.nll_loss(log_p, targets, reduction="none") - eps * log_p.sum(-1)).mean()


def summed_rows(logits, targets, eps):
    return reference(logits, targets, eps) * logits.shape[0]


def probabilities(logits, targets, eps):
    V = logits.shape[-1]
    return -(((1 - eps) * F.one_hot(targets, V) + eps / V) * logits.softmax(-1)).sum(-1).mean()


def raw_logits(logits, targets, eps):
    V = logits.shape[-1]
    return -(((1 - eps) * F.one_hot(targets, V) + eps / V) * logits).sum(-1).mean()


def log_of_softmax(logits, targets, eps):
    V = logits.shape[-1]
    q = (1 - eps) * F.one_hot(targets, V) + eps / V
    return -(q * torch.log(logits.softmax(-1))).sum(-1).mean()


@pytest.mark.parametrize("fn, named", [
    (lambda logits, t, eps: F.cross_entropy(logits, t), "ignores eps"),
    (others, "V - 1 other classes"),
    (summed_uniform, "eps times the mean of -log p"),
    (summed_rows, "summed over the rows"),
    (probabilities, "not the log-probabilities"),
    (raw_logits, "used the logits as log-probabilities"),
    (log_of_softmax, "log(softmax(x))"),
    (lambda logits, t, eps: None, "Not done yet"),
    (lambda logits, t, eps: reference(logits, t, eps).item(), "Return a torch.Tensor"),
    (lambda logits, t, eps: -(F.log_softmax(logits, -1)[range(len(t)), t]), "scalar tensor"),
    (lambda logits, t, eps: reference(logits, t, eps) + 0.01, "label_smoothing="),
    (lambda logits, t, eps: 1 / 0, "ZeroDivisionError"),
])
def test_each_mistake_is_named(fn, named):
    result = check_label_smoothing(fn)
    assert not result.passed and named in result.message, result.message


def test_the_check_leaves_the_learners_random_stream_alone():
    torch.manual_seed(3)
    expected = torch.rand(3)
    torch.manual_seed(3)
    check_label_smoothing(lambda logits, t, eps: reference(logits, t, eps) + 0 * torch.rand(()))
    assert torch.equal(torch.rand(3), expected)
