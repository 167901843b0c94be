"""Notebook 16's exercise check: the reference decoding passes, and each classic mistake of
span decoding is named (one test per mistake)."""
import pytest
import torch

from helpers import exercises
from helpers.applications import best_span


@pytest.fixture(autouse=True)
def progress(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_PROGRESS", str(tmp_path / "progress.json"))


def decoder(order=True, mask=True, length="ok", softmax_dim=None, swap=False, independent=False):
    """The solution, with the choices that a mistake changes."""
    def my_best_span(start, end, context, max_len):
        B, T = start.shape
        if independent:
            s = start.masked_fill(~context, float("-inf")).argmax(-1)
            e = end.masked_fill(~context, float("-inf")).argmax(-1)
            return torch.stack([s, e], dim=-1)
        if softmax_dim is not None:
            scores = start.softmax(softmax_dim)[:, :, None] * end.softmax(softmax_dim)[:, None, :]
        else:
            scores = start[:, :, None] + end[:, None, :]  # (B, T, T)
        t = torch.arange(T)
        span = t[None, :] - t[:, None]  # s - t
        allowed = span >= 0 if order else torch.ones(T, T, dtype=torch.bool)
        if length == "ok":
            allowed = allowed & (span.abs() < max_len)
        elif length == "off by one":
            allowed = allowed & (span.abs() <= max_len)
        if mask:
            allowed = allowed & context[:, :, None] & context[:, None, :]
        best = scores.masked_fill(~allowed, float("-inf")).view(B, -1).argmax(-1)
        pair = [best // T, best % T]
        return torch.stack(pair[::-1] if swap else pair, dim=-1)
    return my_best_span


def test_the_reference_and_the_solution_pass():
    assert exercises.check_best_span(best_span).passed
    assert exercises.check_best_span(decoder()).passed
    assert exercises.check_best_span(decoder(softmax_dim=-1)).passed  # softmax over T: same pairs


@pytest.mark.parametrize("kwargs, named", [
    (dict(independent=True), "ends before it starts"),
    (dict(order=False), "ends before it starts"),
    (dict(mask=False), "mask the positions that are not context"),
    (dict(softmax_dim=0), "softmax over the wrong axis"),
    (dict(length=None), "longer than max_len"),
    (dict(length="off by one"), "Off by one"),
    (dict(swap=True), "(end, start)"),
], ids=["end-before-start", "no-order", "question-not-masked", "softmax-wrong-axis",
        "no-max-len", "off-by-one", "swapped"])
def test_each_mistake_is_named(kwargs, named):
    result = exercises.check_best_span(decoder(**kwargs))
    assert not result.passed and named in result.message, result.message


def test_not_done_errors_and_wrong_types_are_explained():
    assert "Not done yet" in exercises.check_best_span(lambda s, e, c, m: None).message
    assert "ZeroDivisionError" in exercises.check_best_span(lambda s, e, c, m: 1 / 0).message
    two = exercises.check_best_span(lambda s, e, c, m: tuple(best_span(s, e, c, m).unbind(-1)))
    assert "two tensors" in two.message
    scores = exercises.check_best_span(lambda s, e, c, m: best_span(s, e, c, m).float())
    assert "positions" in scores.message
    shape = exercises.check_best_span(lambda s, e, c, m: best_span(s, e, c, m)[:, :1])
    assert "Wrong shape" in shape.message


def test_a_decoder_right_only_on_the_planted_rows_is_caught():
    def planted_only(start, end, context, max_len):
        out = best_span(start, end, context, max_len)
        return out if start.shape == (4, 12) else out.flip(0)
    assert "random logits" in exercises.check_best_span(planted_only).message
