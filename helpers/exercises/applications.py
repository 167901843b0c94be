"""Exercise checks of notebook 16, a pretrained encoder put to work: decoding an answer span
from the start and end logits (``my_best_span``), each classic mistake named."""
import torch

from helpers.applications import best_span
from helpers.exercises._common import Check

_T, _MAX_LEN = 12, 3


def _batch():
    """Start and end logits (B, T) of four questions, and which positions are context.

    Layout of each row: [CLS], four question pieces, [SEP], the context (positions 6 to
    n - 2), [SEP], padding. Each row hides a trap for one mistake: a question piece and a
    padding position with the largest logits, an end logit that peaks before the start's
    peak, a pair one piece longer than max_len, and rows of different scales, on which a
    softmax over the batch ranks positions differently from one over the tokens.
    """
    g = torch.Generator().manual_seed(16)
    start = torch.randn(4, _T, generator=g)
    end = torch.randn(4, _T, generator=g)
    lengths = [12, 11, 12, 10]
    context = torch.zeros(4, _T, dtype=torch.bool)
    for b, n in enumerate(lengths):
        context[b, 6:n - 1] = True
    # Row 0: the question (positions 2, 3) and the padding look best if nothing is masked.
    start[0, 2], end[0, 3] = 9.0, 9.0
    start[0, 7], end[0, 8] = 4.0, 4.0
    # Row 1: the end's peak (6) lies before the start's peak (8); the padding (11) is loud.
    start[1, 8], end[1, 6] = 6.0, 6.0
    end[1, 9], start[1, 11], end[1, 11] = 3.0, 8.0, 8.0
    # Row 2: a pair of length max_len + 1 (6..9) beats every allowed pair; a longer one too.
    start[2, 6], end[2, 9], end[2, 10] = 5.0, 5.0, 6.0
    end[2, 7] = 2.0
    # Row 3: large logits, so that softmax over the batch (dim 0) favours other positions.
    start[3] = 3.0 * start[3]
    end[3] = 3.0 * end[3]
    start[3, 6], end[3, 7] = 2.5, 2.5
    start[3, 7], end[3, 8] = -1.0, 12.0
    return start, end, context


def _decode(start, end, context, max_len, order=True, mask=True, longest=None,
            combine="sum"):
    """The reference decoding, with the choices that a mistake changes."""
    B, T = start.shape
    if combine == "softmax over the batch":
        scores = start.softmax(0)[:, :, None] * end.softmax(0)[:, None, :]  # (B, T, T)
    else:
        scores = start[:, :, None] + end[:, None, :]  # (B, T, T)
    t = torch.arange(T)
    length = t[None, :] - t[:, None]  # (T, T): s - t
    allowed = (length >= 0) if order else torch.ones(T, T, dtype=torch.bool)
    limit = max_len if longest is None else longest
    if limit is not None:
        allowed = allowed & (length.abs() < limit)
    if mask:
        allowed = allowed & context[:, :, None] & context[:, None, :]
    best = scores.masked_fill(~allowed, float("-inf")).view(B, T * T).argmax(-1)
    return torch.stack([best // T, best % T], dim=-1)


def _independent(start, end, context):
    """Two separate argmaxes over the context: nothing keeps the end after the start."""
    s = start.masked_fill(~context, float("-inf")).argmax(-1)
    e = end.masked_fill(~context, float("-inf")).argmax(-1)
    return torch.stack([s, e], dim=-1)


def _as_spans(got):
    if isinstance(got, (tuple, list)) and len(got) == 2 and all(
            isinstance(x, torch.Tensor) for x in got):
        return None, Check(False, "You returned two tensors: return one (B, 2) tensor, "
                                  "torch.stack([start, end], dim=-1).")
    if not isinstance(got, torch.Tensor):
        return None, Check(False, f"Expected a torch.Tensor of shape (B, 2), got "
                                  f"{type(got).__name__}.")
    return got.detach(), None


def check_best_span(best_span_fn):
    """Exercise: ``best_span_fn(start_logits (B, T), end_logits (B, T), context (B, T) bool,
    max_len)`` -> (B, 2) long: the start t and end s inside the context with t ≤ s and
    s - t < max_len that maximise start_logits[t] + end_logits[s]."""
    start, end, context = _batch()
    right = best_span(start, end, context, _MAX_LEN)
    try:
        got = best_span_fn(start.clone(), end.clone(), context.clone(), _MAX_LEN)
    except Exception as error:  # the learner's code: show its error
        return Check(False, f"Your function raised {type(error).__name__}: {error}")
    if got is None:
        return Check(False, "Not done yet: your function returned None. Return the (B, 2) "
                            "tensor of starts and ends.")
    got, problem = _as_spans(got)
    if problem is not None:  # a Check that did not pass is falsy
        return problem
    if got.shape != right.shape:
        return Check(False, f"Wrong shape: expected (B, 2) = {tuple(right.shape)}, one "
                            f"(start, end) per example, got {tuple(got.shape)}.")
    if got.is_floating_point():
        return Check(False, "Return positions (integers, .argmax gives them), not scores.")
    mistakes = {
        "Your span ends before it starts in at least one example: you took the argmax of "
        "the start and of the end separately (or allowed s < t). Score the pairs (t, s) "
        "with t ≤ s only, e.g. the upper triangle of start[:, :, None] + end[:, None, :].":
            [_independent(start, end, context), _decode(start, end, context, _MAX_LEN,
                                                        order=False)],
        "Your answer lies (partly) in the question, on [CLS] or [SEP], or in the padding: "
        "mask the positions that are not context for both the start and the end before "
        "choosing.": [_decode(start, end, context, _MAX_LEN, mask=False)],
        "You took the softmax over the wrong axis: dim 0 is the batch, so each position was "
        "compared with the same position of the other questions. The start (and the end) "
        "is one choice among the T positions of one example: softmax(dim=-1), or skip the "
        "softmax (it does not change which pair is best).":
            [_decode(start, end, context, _MAX_LEN, combine="softmax over the batch")],
        "Your spans can be longer than max_len: keep s - t < max_len (a span of max_len "
        "pieces at most).": [_decode(start, end, context, _MAX_LEN, longest=_T + 1)],
        "Off by one: a span from t to s has s - t + 1 pieces, so allow s - t < max_len, "
        "not s - t ≤ max_len.": [_decode(start, end, context, _MAX_LEN, longest=_MAX_LEN + 1)],
        "You returned (end, start): put the start first.": [right.flip(-1)],
    }
    if not torch.equal(got, right):
        for message, wrongs in mistakes.items():
            if any(torch.equal(got, w) for w in wrongs):
                return Check(False, message)
        rows = [b for b in range(right.shape[0]) if not torch.equal(got[b], right[b])]
        return Check(False, f"Example(s) {rows} differ: expected {right[rows].tolist()}, got "
                            f"{got[rows].tolist()}. Among the pairs t ≤ s < t + max_len "
                            "inside the context, take the largest start[t] + end[s].")
    # A second, random batch, so that passing the planted traps is not luck.
    g = torch.Generator().manual_seed(1606)
    B, T = 8, 15
    start, end = torch.randn(B, T, generator=g), torch.randn(B, T, generator=g)
    context = torch.rand(B, T, generator=g) < 0.6
    context[:, 0] = False
    context[:, 5] = True  # at least one context position per example
    for max_len in (1, 4):
        got, problem = _as_spans(best_span_fn(start.clone(), end.clone(), context.clone(),
                                              max_len))
        if problem is not None or not torch.equal(got, best_span(start, end, context, max_len)):
            return Check(False, f"Right on the four planted examples, but wrong on random "
                                f"logits with max_len = {max_len}: check how you use max_len "
                                "and the context mask.")
    return Check(True, "The best span inside the context, start ≤ end, at most max_len "
                       "pieces: the largest start + end logit among the allowed pairs.")
