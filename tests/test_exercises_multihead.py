"""Notebook 04's exercise checks: the fused q, k, v projection split into heads, the
learner's MultiHeadAttention module (its older named mistakes: tests/test_yours.py) and the
heads' weights on their neighbours; one test per named mistake."""

import pytest
import torch

from helpers import exercises, yours
from notebook_cells import notebook_cell


@pytest.fixture()
def notebook(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_PROGRESS", str(tmp_path / "progress.json"))
    return {"__name__": "__main__"}


# -- q, k, v of every head from one projection ---------------------------------------------
def my_split_heads(x, num_heads):
    B, T, C = x.shape
    return x.view(B, T, num_heads, C // num_heads).transpose(1, 2)  # (B, H, T, D)


def my_qkv_heads(x, in_proj, num_heads):
    q, k, v = in_proj(x).split(x.shape[-1], dim=-1)  # 3 x (B, T, C)
    return tuple(my_split_heads(t, num_heads) for t in (q, k, v))


def per_head_first(x, in_proj, num_heads):
    B, T, C = x.shape
    fused = in_proj(x).view(B, T, num_heads, 3 * C // num_heads).transpose(1, 2)
    return fused.split(C // num_heads, dim=-1)


@pytest.mark.parametrize("fn, named", [
    (my_qkv_heads, None),
    (lambda x, p, H: (lambda q, k, v: (k, q, v))(*my_qkv_heads(x, p, H)), "swapped"),
    (per_head_first, "before cutting q, k, v apart"),
    (lambda x, p, H: p(x).split(x.shape[-1], dim=-1), "still (B, T, C)"),
    (lambda x, p, H: tuple(t.reshape(x.shape[0], H, x.shape[1], -1)
                           for t in p(x).split(x.shape[-1], dim=-1)), "plain view"),
    (lambda x, p, H: my_qkv_heads(x, p, H)[:2], "three tensors"),
    (lambda x, p, H: None, "Not done yet"),
    (lambda x, p, H: x.view(-1, 7), "failed"),
])
def test_check_qkv_heads_names_each_mistake(notebook, fn, named):
    result = exercises.check_qkv_heads(fn)
    assert result.passed == (named is None) and (named is None or named in result.message), \
        result.message


# -- the module: the softmax's dimension (the other mistakes: tests/test_yours.py) ----------
MHA = '''
import math
import torch
from torch import nn

SOFTMAX_DIM = -1


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
        q = nn.functional.linear(x, w[:C], b[:C]).view(B, T, H, D).transpose(1, 2)
        k, v = nn.functional.linear(context, w[C:], b[C:]).split(C, dim=-1)
        k, v = (t.view(B, S, H, D).transpose(1, 2) for t in (k, v))  # (B, H, S, D)
        scores = q @ k.transpose(-2, -1) / math.sqrt(D)  # (B, H, T, S)
        if mask is not None:
            mask = mask[:, None] if mask.dim() == 3 else mask  # (B, 1, T or 1, S)
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=SOFTMAX_DIM)
        out = (weights @ v).transpose(1, 2).reshape(B, T, C)
        return self.out_proj(out), weights
'''


def test_check_mha_passes_a_right_module(notebook):
    notebook_cell(MHA, notebook)
    result = exercises.check_mha(notebook["MyMultiHeadAttention"])
    assert result.passed, result.message


def test_check_mha_names_a_softmax_over_the_queries(notebook):
    notebook_cell(MHA.replace("SOFTMAX_DIM = -1", "SOFTMAX_DIM = -2"), notebook)
    result = exercises.check_mha(notebook["MyMultiHeadAttention"])
    assert not result.passed and "softmax runs over the queries" in result.message, result.message
    assert not (yours.yours_dir() / "MultiHeadAttention.py").exists()


# -- each head's weight on its neighbours ---------------------------------------------------
def my_offset_weights(weights):
    T = weights.shape[-1]
    t = torch.arange(T)
    left = weights[..., t, (t - 1) % T].mean(dim=(0, -1))  # (H,)
    self_ = weights[..., t, t].mean(dim=(0, -1))
    right = weights[..., t, (t + 1) % T].mean(dim=(0, -1))
    return torch.stack([left, self_, right], dim=-1)  # (H, 3)


@pytest.mark.parametrize("fn, named", [
    (my_offset_weights, None),
    (lambda w: my_offset_weights(w).flip(-1), "swapped"),
    (lambda w: my_offset_weights(w.transpose(-2, -1)), "swapped"),  # the same, on average
    (lambda w: my_offset_weights(w).mean(0, keepdim=True), "over the heads too"),
    (lambda w: None, "Not done yet"),
])
def test_check_offset_weights_names_each_mistake(notebook, fn, named):
    result = exercises.check_offset_weights(fn)
    assert result.passed == (named is None) and (named is None or named in result.message), \
        result.message
