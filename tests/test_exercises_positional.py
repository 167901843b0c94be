"""Notebook 05's exercise checks: RoPE's frequencies, the learner's rotary (a piece of the
model, kept by helpers.yours) and the test of its offset-only property; one test per named
mistake."""

import pytest
import torch

import helpers
from helpers import exercises, yours
from helpers.positional import rotary
from notebook_cells import notebook_cell


@pytest.fixture()
def notebook(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_PROGRESS", str(tmp_path / "progress.json"))
    return {"__name__": "__main__"}


# -- frequencies ----------------------------------------------------------------------------
def my_frequencies(D):
    return 10_000 ** (-torch.arange(0, D, 2, dtype=torch.float32) / D)


@pytest.mark.parametrize("fn, named", [
    (my_frequencies, None),
    (lambda D: 10_000 ** (-torch.arange(D // 2) / D), "-2i/D, not -i/D"),
    (lambda D: 10_000 ** (torch.arange(0, D, 2) / D), "must fall with i"),
    (lambda D: 10_000 ** (-torch.arange(D) / D), "D/2 of them"),
    (lambda D: None, "Not done yet"),
])
def test_check_rope_frequencies_names_each_mistake(notebook, fn, named):
    result = exercises.check_rope_frequencies(fn)
    assert result.passed == (named is None) and (named is None or named in result.message), \
        result.message


# -- rotary ---------------------------------------------------------------------------------
MY_ROTARY = '''
import torch

BASE = 10_000


def my_frequencies(D):
    return BASE ** (-torch.arange(0, D, 2, dtype=torch.float32) / D)  # (D/2,)


def my_rotary(x, offset=0):
    T, D = x.shape[-2], x.shape[-1]
    positions = torch.arange(offset, offset + T, dtype=torch.float32)  # (T,)
    angles = positions[:, None] * my_frequencies(D)  # (T, D/2)
    cos, sin = angles.cos(), angles.sin()
    even, odd = x[..., 0::2], x[..., 1::2]  # (..., T, D/2) each
    out = torch.empty_like(x)
    out[..., 0::2] = even * cos - odd * sin
    out[..., 1::2] = even * sin + odd * cos
    return out
'''


def test_check_rotary_passes_keeps_the_function_and_piece_hands_it_out(notebook, capsys):
    notebook_cell(MY_ROTARY, notebook)
    result = exercises.check_rotary(notebook["my_rotary"])
    assert result.passed and "Kept as your rotary" in result.message, result.message
    text = (yours.yours_dir() / "rotary.py").read_text()
    assert "def my_frequencies" in text and "BASE = 10000" in text
    rotate = yours.piece("rotary")
    assert capsys.readouterr().out == "Your rotary (it passed check_rotary).\n"
    x = torch.randn(2, 4, 6, 8)
    assert rotate is not rotary and torch.allclose(rotate(x, offset=3), rotary(x, offset=3))


def test_without_a_kept_rotary_the_course_version_is_used(notebook, capsys):
    assert yours.piece("rotary") is helpers.positional.rotary
    assert "The course's rotary: yours has not passed check_rotary yet" in capsys.readouterr().out


HALVES = [("x[..., 0::2], x[..., 1::2]  #", "x[..., :D // 2], x[..., D // 2:]  #"),
          ("out = torch.empty_like(x)\n    ", ""),
          ("out[..., 0::2] = even * cos - odd * sin\n    out[..., 1::2] = even * sin + odd * cos",
           "out = torch.cat([even * cos - odd * sin, even * sin + odd * cos], dim=-1)")]


@pytest.mark.parametrize("replacements, named", [
    (HALVES, "two halves"),
    ([("-torch.arange(0, D, 2, dtype=torch.float32) / D", "-torch.arange(D // 2) / D")],
     "-2i/D, not -i/D"),
    ([("-torch.arange(0, D, 2, dtype=torch.float32) / D", "torch.arange(0, D, 2) / D")],
     "must fall with i"),
    ([("even * cos - odd * sin", "even * cos + odd * sin"),
      ("even * sin + odd * cos", "-even * sin + odd * cos")], "wrong way"),
    ([("torch.arange(offset, offset + T", "torch.arange(0, T")], "offset is ignored"),
])
def test_check_rotary_names_each_mistake(notebook, replacements, named):
    source = MY_ROTARY
    for old, new in replacements:
        assert old in source
        source = source.replace(old, new)
    result = exercises.check_rotary(notebook_cell(source, notebook)["my_rotary"])
    assert not result.passed and named in result.message, result.message
    assert not (yours.yours_dir() / "rotary.py").exists()


def test_check_rotary_names_an_in_place_rotation(notebook):
    def my_rotary(x, offset=0):
        out = rotary(x, offset=offset)
        x.copy_(out)
        return x
    result = exercises.check_rotary(my_rotary)
    assert not result.passed and "in place" in result.message, result.message


def test_check_rotary_reports_a_crash_and_an_unfinished_stub(notebook):
    assert "Not done yet" in exercises.check_rotary(lambda x, offset=0: None).message
    result = exercises.check_rotary(lambda x, offset=0: x.view(-1, 7))
    assert not result.passed and "failed" in result.message, result.message


# -- the offset-only property ---------------------------------------------------------------
def my_offset_only(rotate, T=12, D=8):
    q, k = torch.randn(D), torch.randn(D)
    scores = rotate(q.expand(T, D)) @ rotate(k.expand(T, D)).T  # (T, T): q at m, k at n
    for offset in range(-(T - 1), T):
        diagonal = torch.diagonal(scores, offset)
        if not torch.allclose(diagonal, diagonal[0].expand_as(diagonal), atol=1e-4):
            return False
    return True


def only_the_main_diagonal(rotate, T=12, D=8):
    q, k = torch.randn(D), torch.randn(D)
    scores = rotate(q.expand(T, D)) @ rotate(k.expand(T, D)).T
    return bool(torch.allclose(scores.diagonal(), scores[0, 0].expand(T), atol=1e-4))


def cosines(rotate, T=12, D=8):
    q, k = torch.randn(D), torch.randn(D)
    rq, rk = rotate(q.expand(T, D)), rotate(k.expand(T, D))
    scores = (rq / rq.norm(dim=-1, keepdim=True)) @ (rk / rk.norm(dim=-1, keepdim=True)).T
    return all(torch.allclose(scores.diagonal(o), scores.diagonal(o)[0].expand(T - abs(o)),
                              atol=1e-4) for o in range(-(T - 1), T))


def only_q_rotated(rotate, T=12, D=8):
    q, k = torch.randn(D), torch.randn(D)
    scores = rotate(q.expand(T, D)) @ k.expand(T, D).T
    return all(torch.allclose(scores.diagonal(o), scores.diagonal(o)[0].expand(T - abs(o)),
                              atol=1e-4) for o in range(-(T - 1), T))


@pytest.mark.parametrize("fn, named", [
    (my_offset_only, None),
    (only_the_main_diagonal, "not only m = n"),
    (cosines, "not normalised ones"),
    (only_q_rotated, "rotate both q and k"),
    (lambda rotate: None, "Not done yet"),
])
def test_check_rope_offset_names_each_mistake(notebook, fn, named):
    result = exercises.check_rope_offset(fn)
    assert result.passed == (named is None) and (named is None or named in result.message), \
        result.message


def test_check_rope_offset_leaves_the_learners_random_stream_alone(notebook):
    torch.manual_seed(0)
    expected = torch.rand(1)
    torch.manual_seed(0)
    exercises.check_rope_offset(my_offset_only)
    assert torch.equal(torch.rand(1), expected)
