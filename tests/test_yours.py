"""helpers.yours: a passing check keeps the learner's code, a later cell gets it back (or
the course's version, saying why), and `course.py progress --reset` deletes it."""
import linecache
import textwrap

import pytest

import helpers
from helpers import exercises, yours

MHA = '''
import math
import torch
from torch import nn

SCALE_BY_ROOT = True


def my_heads(t, B, n, H, D):
    return t.view(B, n, H, D).transpose(1, 2)  # (B, H, n, D)


class MyMultiHeadAttention(nn.Module):
    def __init__(self, d_model, num_heads):
        super().__init__()
        self.num_heads = num_heads
        self.in_proj = nn.Linear(d_model, 3 * d_model)
        self.out_proj = nn.Linear(d_model, d_model)

    def forward(self, x, mask=None, context=None):
        B, T, C = x.shape
        H, D = self.num_heads, C // self.num_heads
        context = x if context is None else context
        S = context.shape[1]
        w, b = self.in_proj.weight, self.in_proj.bias
        q = my_heads(nn.functional.linear(x, w[:C], b[:C]), B, T, H, D)
        k, v = nn.functional.linear(context, w[C:], b[C:]).split(C, dim=-1)
        k, v = my_heads(k, B, S, H, D), my_heads(v, B, S, H, D)
        scores = q @ k.transpose(-2, -1) / (math.sqrt(D) if SCALE_BY_ROOT else D)
        if mask is not None:
            mask = mask[:, None] if mask.dim() == 3 else mask  # (B, 1, T or 1, S)
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=-1)  # (B, H, T, S)
        out = (weights @ v).transpose(1, 2).reshape(B, T, C)
        return self.out_proj(out), weights
'''


def notebook_cell(source, namespace, number=[0]):
    """Run ``source`` as IPython runs a cell: in __main__'s namespace, its text in linecache."""
    number[0] += 1
    filename = f"/tmp/ipykernel_0/{number[0]}.py"
    source = textwrap.dedent(source)
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), namespace)
    return namespace


@pytest.fixture()
def notebook(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_PROGRESS", str(tmp_path / "progress.json"))
    return {"__name__": "__main__"}


def test_a_passing_check_keeps_the_class_and_what_it_calls(notebook, capsys):
    notebook_cell(MHA, notebook)
    result = exercises.check_mha(notebook["MyMultiHeadAttention"])
    assert result.passed, result.message
    assert "Kept as your MultiHeadAttention" in result.message
    text = (yours.yours_dir() / "MultiHeadAttention.py").read_text()
    assert "def my_heads" in text and "class MyMultiHeadAttention" in text
    assert "import math as math" in text and "SCALE_BY_ROOT = True" in text
    mine = yours.piece("MultiHeadAttention")
    assert capsys.readouterr().out == "Your MultiHeadAttention (it passed check_mha).\n"
    assert mine is not helpers.MultiHeadAttention and yours.is_yours(mine)
    assert list(yours.kept_pieces()) == ["MultiHeadAttention"]


def test_without_a_kept_piece_the_course_version_is_used_and_says_so(notebook, capsys):
    assert yours.piece("MultiHeadAttention") is helpers.MultiHeadAttention
    assert "The course's MultiHeadAttention: yours has not passed check_mha yet" in \
        capsys.readouterr().out


def test_a_kept_piece_that_no_longer_passes_falls_back_and_names_the_mistake(notebook, capsys):
    notebook_cell(MHA, notebook)
    exercises.check_mha(notebook["MyMultiHeadAttention"])
    path = yours.yours_dir() / "MultiHeadAttention.py"
    path.write_text(path.read_text().replace("SCALE_BY_ROOT = True", "SCALE_BY_ROOT = False"))
    assert yours.piece("MultiHeadAttention") is helpers.MultiHeadAttention
    assert "no longer passes check_mha: Without a mask: You divided the scores by d_k" in \
        capsys.readouterr().out


def test_reset_deletes_the_piece(notebook):
    notebook_cell(MHA, notebook)
    exercises.check_mha(notebook["MyMultiHeadAttention"])
    assert yours.reset_piece("MultiHeadAttention") and not yours.reset_piece("MultiHeadAttention")
    assert yours.kept_pieces() == {}


def test_a_piece_that_uses_another_piece_loads_it_again_by_name(notebook):
    notebook_cell(MHA, notebook)
    exercises.check_mha(notebook["MyMultiHeadAttention"])
    notebook_cell('''
        import helpers
        MultiHeadAttention = helpers.yours.piece("MultiHeadAttention")

        def my_attention_twice(x):
            attn = MultiHeadAttention(d_model=x.shape[-1], num_heads=2)
            return attn(attn(x)[0])[0]
    ''', notebook)
    source = yours._piece_source("MultiHeadAttention", notebook["my_attention_twice"])
    assert "MultiHeadAttention = piece('MultiHeadAttention')" in source


def test_a_decorated_function_is_kept_with_its_decorator(notebook):
    notebook_cell('''
        import torch

        @torch.no_grad()
        def my_double(x):
            return 2 * x
    ''', notebook)
    source = yours._piece_source("MultiHeadAttention", notebook["my_double"])
    assert "@torch.no_grad()\ndef my_double(x):" in source


def test_a_global_that_cannot_be_written_down_is_named(notebook):
    notebook_cell('''
        import torch
        table = torch.ones(3)

        def my_lookup(i):
            return table[i]
    ''', notebook)
    with pytest.raises(ValueError, match="uses the global name 'table' \\(a Tensor\\)"):
        yours._piece_source("MultiHeadAttention", notebook["my_lookup"])


@pytest.mark.parametrize("edit, named", [
    (("/ (math.sqrt(D) if SCALE_BY_ROOT else D)", "/ D"), "divided the scores by d_k"),
    (("/ (math.sqrt(D) if SCALE_BY_ROOT else D)", "/ math.sqrt(C)"), "divided by √C"),
    (("/ (math.sqrt(D) if SCALE_BY_ROOT else D)", ""), "forgot to divide"),
    (("return t.view(B, n, H, D).transpose(1, 2)", "return t.reshape(B, H, n, D)"),
     "plain view to (B, H, T, D)"),
    (("(weights @ v).transpose(1, 2).reshape(B, T, C)", "(weights @ v).reshape(B, T, C)"),
     "without transposing back"),
    (("scores.masked_fill(~mask,", "scores.masked_fill(mask,"), "wrong way round"),
    (("            scores = scores.masked_fill(~mask, float(\"-inf\"))\n", "            pass\n"),
     "The mask is ignored"),
    (("            mask = mask[:, None] if mask.dim() == 3 else mask  # (B, 1, T or 1, S)\n", ""),
     "give it a head dimension, mask[:, None]"),
    (("return self.out_proj(out), weights", "return out, weights"), "output projection"),
    (("self.in_proj = nn.Linear(d_model, 3 * d_model)", "self.in_proj = nn.Linear(d_model, 3 * d_model, bias=False)"),
     "Your parameters are"),
])
def test_check_mha_names_each_mistake(notebook, edit, named):
    source = MHA.replace(*edit)
    assert source != MHA
    notebook_cell(source, notebook)
    result = exercises.check_mha(notebook["MyMultiHeadAttention"])
    assert not result.passed and named in result.message, result.message


def test_check_mha_asks_for_the_class(notebook):
    assert "Not done yet" in exercises.check_mha(None).message
    assert "Pass your class itself" in exercises.check_mha(helpers.MultiHeadAttention(
        d_model=4, num_heads=2)).message
