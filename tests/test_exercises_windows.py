"""Notebook 12's checks of the learner's Swin pieces: the reference solutions pass (and are
kept as pieces that helpers.Swin trains with), and each named mistake is named."""

import pytest
import torch

import helpers
from helpers import exercises, yours
from helpers.windows import (PatchMerging, Swin, SwinConfig, WindowAttention,
                             relative_position_index, torchvision_patch_merging,
                             torchvision_window_attention)
from notebook_cells import notebook_cell

SOLUTIONS = '''
import math
import torch
from torch import nn
import helpers
from helpers.encoder import MLP
from helpers.windows import shifted_window_mask, window_reverse


def my_window_partition(x, M):
    B, G_h, G_w, C = x.shape
    x = x.view(B, G_h // M, M, G_w // M, M, C)
    x = x.permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, M * M, C)


def my_relative_position_index(M):
    rows = torch.arange(M).repeat_interleave(M)
    cols = torch.arange(M).repeat(M)
    dy = rows[:, None] - rows[None, :]
    dx = cols[:, None] - cols[None, :]
    return (dy + M - 1) * (2 * M - 1) + (dx + M - 1)


def my_relative_position_bias(table, index):
    M2 = index.shape[0]
    bias = table[index.flatten()]
    return bias.view(M2, M2, -1).permute(2, 0, 1)


class MyWindowAttention(nn.Module):
    def __init__(self, d_model, num_heads, window_size, shift=0):
        super().__init__()
        M = window_size
        self.num_heads, self.window_size, self.shift = num_heads, window_size, shift
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.relative_position_bias_table = nn.Parameter(0.02 * torch.randn((2 * M - 1) ** 2, num_heads))
        self.register_buffer("relative_position_index", my_relative_position_index(M), persistent=False)

    def forward(self, x, need_weights=False):
        B, G_h, G_w, C = x.shape
        M, H = self.window_size, self.num_heads
        D = C // H
        s = self.shift if G_h > M else 0
        if s:
            x = torch.roll(x, shifts=(SIGN * s, SIGN * s), dims=(1, 2))
        windows = my_window_partition(x, M)
        n_w = windows.shape[0] // B
        q, k, v = self.qkv(windows).view(B, n_w, M * M, 3, H, D).permute(3, 0, 1, 4, 2, 5)
        scores = q @ k.transpose(-2, -1) / math.sqrt(D)
        bias = my_relative_position_bias(self.relative_position_bias_table, self.relative_position_index)
        scores = scores + (bias.transpose(1, 2) if TRANSPOSED else bias)
        if s and MASKED:
            mask = shifted_window_mask(G_h, G_w, M, s)
            scores = scores.masked_fill(~mask[:, None], float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        out = (weights @ v).transpose(2, 3).reshape(B * n_w, M * M, C)
        x = window_reverse(self.proj(out), M, G_h, G_w)
        if s and ROLL_BACK:
            x = torch.roll(x, shifts=(-SIGN * s, -SIGN * s), dims=(1, 2))
        return x, weights


class MyPatchMerging(nn.Module):
    def __init__(self, d_model):
        super().__init__()
        self.norm = nn.LayerNorm(4 * d_model)
        self.reduction = nn.Linear(4 * d_model, 2 * d_model, bias=False)

    def forward(self, x):
        parts = [x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]]
        if READING_ORDER:
            parts = [parts[0], parts[2], parts[1], parts[3]]
        return self.reduction(self.norm(torch.cat(parts, dim=-1)))
'''

BLOCK = '''
YourWindowAttention = helpers.yours.piece("WindowAttention")


class MySwinBlock(nn.Module):
    def __init__(self, d_model, num_heads, window_size, shift=0, d_ff=None):
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.attn = YourWindowAttention(d_model, num_heads, window_size, shift)
        self.norm2 = nn.LayerNorm(d_model)
        self.mlp = MLP(d_model, d_ff or 2 * d_model)

    def forward(self, x, need_weights=False):
        a, weights = self.attn(self.norm1(x), need_weights=need_weights)
        x = x + a if ATTENTION_RESIDUAL else a
        y = self.norm1(x) if POST_NORM else self.norm2(x)
        return x + self.mlp(y), weights
'''

RIGHT = dict(SIGN=-1, TRANSPOSED=False, MASKED=True, ROLL_BACK=True, READING_ORDER=False,
             ATTENTION_RESIDUAL=True, POST_NORM=False)


@pytest.fixture()
def notebook(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_PROGRESS", str(tmp_path / "progress.json"))
    namespace = {"__name__": "__main__", **RIGHT}
    notebook_cell(SOLUTIONS, namespace)
    return namespace


def test_the_solutions_pass_and_train_in_the_course_swin(notebook, capsys):
    assert exercises.check_window_partition(notebook["my_window_partition"]).passed
    assert exercises.check_relative_position_index(notebook["my_relative_position_index"]).passed
    assert exercises.check_relative_position_bias(notebook["my_relative_position_bias"]).passed
    for check, name in [(exercises.check_window_attention, "MyWindowAttention"),
                        (exercises.check_patch_merging, "MyPatchMerging")]:
        result = check(notebook[name])
        assert result.passed, result.message
    notebook_cell(BLOCK, notebook)
    result = exercises.check_swin_block(notebook["MySwinBlock"])
    assert result.passed, result.message
    assert sorted(yours.kept_pieces()) == ["PatchMerging", "SwinBlock", "WindowAttention"]
    capsys.readouterr()
    block, merging = yours.piece("SwinBlock"), yours.piece("PatchMerging")
    assert capsys.readouterr().out == ("Your SwinBlock (it passed check_swin_block).\n"
                                       "Your PatchMerging (it passed check_patch_merging).\n")
    assert yours.is_yours(block) and yours.is_yours(merging)
    torch.manual_seed(0)
    config = SwinConfig(image_size=8, patch_size=2, d_model=8, depths=(2, 2), num_heads=(2, 2),
                        window_size=2)
    mine, course = Swin(config, block=block, merging=merging), Swin(config)
    assert yours.is_yours(type(mine.stages[0][0].attn))  # the kept SwinBlock uses the kept attention
    course.load_state_dict(mine.state_dict())  # state dicts interchange
    images = torch.randn(3, 1, 8, 8)
    (a, wa), (b, wb) = mine(images, need_weights=True), course(images, need_weights=True)
    assert torch.allclose(a, b, atol=1e-5)
    assert all(torch.allclose(u, v, atol=1e-5) for u, v in zip(wa, wb))


def test_the_learners_pieces_match_torchvision(notebook):
    torch.manual_seed(1)
    for G_h, G_w, M, s in [(8, 8, 4, 0), (8, 8, 4, 2), (6, 9, 3, 1)]:
        course = WindowAttention(8, 2, M, s)
        mine = notebook["MyWindowAttention"](8, 2, M, s)
        with torch.no_grad():
            for p in course.parameters():
                p.add_(0.2 * torch.randn_like(p))
        mine.load_state_dict(course.state_dict())
        x = torch.randn(2, G_h, G_w, 8)
        assert torch.allclose(mine(x)[0], torchvision_window_attention(course)(x), atol=1e-5)
    course = PatchMerging(8)
    mine = notebook["MyPatchMerging"](8)
    mine.load_state_dict(course.state_dict())
    x = torch.randn(2, 4, 6, 8)
    assert torch.allclose(mine(x), torchvision_patch_merging(course)(x), atol=1e-5)


@pytest.mark.parametrize("flag, value, words", [
    ("SIGN", 1, "shift goes the wrong way"),
    ("ROLL_BACK", False, "did not roll back"),
    ("MASKED", False, "mask is missing for shifted windows"),
    ("TRANSPOSED", True, "indexed transposed"),
])
def test_check_window_attention_names_the_mistake(notebook, flag, value, words):
    notebook[flag] = value
    result = exercises.check_window_attention(notebook["MyWindowAttention"])
    assert not result.passed and words in result.message, result.message


def test_check_window_attention_names_an_index_off_by_m_minus_1(notebook):
    notebook_cell('''
    def my_relative_position_index(M):
        rows, cols = torch.arange(M).repeat_interleave(M), torch.arange(M).repeat(M)
        return (rows[:, None] - rows[None, :]) * (2 * M - 1) + (cols[:, None] - cols[None, :])
    ''', notebook)
    result = exercises.check_window_attention(notebook["MyWindowAttention"])
    assert not result.passed and "off by (M-1)" in result.message, result.message


def test_check_window_attention_names_a_shift_of_a_single_window(notebook):
    source = SOLUTIONS.split("class MyWindowAttention")[1].split("class MyPatchMerging")[0]
    notebook_cell("class MyWindowAttention" + source.replace("if G_h > M else 0", ""), notebook)
    result = exercises.check_window_attention(notebook["MyWindowAttention"])
    assert not result.passed and "single window" in result.message, result.message


def test_check_window_attention_asks_for_an_unsaved_index(notebook):
    source = SOLUTIONS.split("class MyWindowAttention")[1].split("class MyPatchMerging")[0]
    notebook_cell("class MyWindowAttention" + source.replace(", persistent=False", ""), notebook)
    result = exercises.check_window_attention(notebook["MyWindowAttention"])
    assert not result.passed and "persistent=False" in result.message, result.message


def test_check_patch_merging_names_the_reading_order(notebook):
    notebook["READING_ORDER"] = True
    result = exercises.check_patch_merging(notebook["MyPatchMerging"])
    assert not result.passed and "reading order" in result.message, result.message


@pytest.mark.parametrize("flag, words", [
    ("ATTENTION_RESIDUAL", "residual around the attention is missing"),
    ("POST_NORM", "norm1 twice"),
])
def test_check_swin_block_names_the_mistake(notebook, flag, words):
    notebook[flag] = not RIGHT[flag]
    notebook_cell(BLOCK, notebook)
    result = exercises.check_swin_block(notebook["MySwinBlock"])
    assert not result.passed and words in result.message, result.message


@pytest.mark.parametrize("fn, words", [
    (lambda M: relative_position_index(M) - (M - 1) * (2 * M - 1) - (M - 1), "off by (M-1)"),
    (lambda M: relative_position_index(M).T, "transposed"),
    (lambda M: relative_position_index(M).float(), "integers"),
    (lambda M: None, "returned None"),
])
def test_check_relative_position_index_names_the_mistake(fn, words):
    result = exercises.check_relative_position_index(fn)
    assert not result.passed and words in result.message, result.message


def right_bias(table, index):
    M2 = index.shape[0]
    return table[index.flatten()].view(M2, M2, -1).permute(2, 0, 1)


@pytest.mark.parametrize("fn, passed, words", [
    (right_bias, True, "M×M blocks"),
    (lambda t, i: right_bias(t, i).transpose(1, 2), False, "transposed"),
    (lambda t, i: t[i.flatten()].reshape(t.shape[1], *i.shape), False, "mixes heads and pairs"),
    (lambda t, i: right_bias(t, i).permute(1, 2, 0), False, "heads go first"),
])
def test_check_relative_position_bias(fn, passed, words):
    result = exercises.check_relative_position_bias(fn)
    assert result.passed is passed and words in result.message, result.message


@pytest.mark.parametrize("answer, passed, words", [
    ((56 ** 4, 49 * 56 * 56), True, "64× fewer"),
    (None, False, "Not done yet"),
    ((56 * 56, 49 * 56 * 56), False, "That counts tokens"),
    ((56 ** 4, 7 ** 4), False, "one window"),
    ((56 ** 4, 7 ** 3 * 56 * 56), False, "window count is off: n_w = (G/M)²"),
])
def test_check_window_cost(answer, passed, words):
    result = exercises.check_window_cost(answer, G=56, M=7)
    assert result.passed is passed and words in result.message, result.message


def test_check_window_cost_still_takes_the_old_keywords_h_and_w():
    assert exercises.check_window_cost((56 ** 4, 49 * 56 * 56), H=56, W=56, M=7).passed
    result = exercises.check_window_cost(((4 * 6) ** 2, 4 * 4 * 6), H=4, W=6, M=2)  # not square
    assert result.passed and "G_h·G_w" in result.message, result.message
    with pytest.raises(TypeError, match="G=..., M=..."):
        exercises.check_window_cost(None, M=7)


def test_swin_refuses_a_block_that_is_not_a_module_class():
    with pytest.raises(TypeError, match="block must be an nn.Module class"):
        Swin(SwinConfig(), block=lambda *a: None)


def test_without_kept_pieces_the_course_swin_pieces_are_used(notebook, capsys):
    assert yours.piece("SwinBlock") is helpers.windows.SwinBlock
    assert capsys.readouterr().out == "The course's SwinBlock: yours has not passed check_swin_block yet.\n"


MODEL = '''
from helpers.vit import patchify


class MySwin(nn.Module):
    def __init__(self, config, block, merging):
        super().__init__()
        c, d = config, config.d_model
        self.config = c
        self.patch_embed = nn.Linear(c.channels * c.patch_size ** 2, d)
        self.patch_norm = nn.LayerNorm(d)
        self.stages, self.merges = nn.ModuleList(), nn.ModuleList()
        counted = 0
        for s, (depth, heads) in enumerate(zip(c.depths, c.num_heads)):
            on = [((counted if ACROSS else 0) + j) % 2 if SHIFTS == "alternate" else SHIFTS == "all"
                  for j in range(depth)]
            shifts = [int(o) * (c.window_size // 2) for o in on]
            counted += depth
            self.stages.append(nn.ModuleList(
                block(d, heads, c.window_size, shift, c.mlp_ratio * d) for shift in shifts))
            if s < len(c.depths) - 1 or MERGE_LAST:
                self.merges.append(merging(d))
                d = 2 * d if DOUBLE else d
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, c.num_classes)

    def forward(self, images, need_weights=False):
        c = self.config
        side = c.image_size // c.patch_size
        x = self.patch_embed(patchify(images, c.patch_size))
        x = (self.patch_norm(x) if PATCH_NORM else x).view(len(images), side, side, -1)
        all_weights = []
        for s, blocks in enumerate(self.stages):
            for block in blocks:
                x, weights = block(x, need_weights=need_weights)
                all_weights.append(weights)
            if s < len(c.depths) - 1:
                x = self.merges[s](x)
        x = self.norm(x) if FINAL_NORM else x
        pooled = x.mean(dim=(1, 2)) if MEAN else x[:, 0, 0]
        return self.head(pooled), (all_weights if need_weights else None)
'''

MODEL_RIGHT = dict(SHIFTS="alternate", ACROSS=False, MERGE_LAST=False, DOUBLE=True,
                   PATCH_NORM=True, FINAL_NORM=True, MEAN=True)


def test_check_swin_passes_the_solution_and_it_trains_as_the_piece(notebook, capsys):
    notebook.update(MODEL_RIGHT)
    notebook_cell(MODEL, notebook)
    result = exercises.check_swin(notebook["MySwin"])
    assert result.passed, result.message
    capsys.readouterr()
    MySwin = yours.piece("Swin")
    assert capsys.readouterr().out == "Your Swin (it passed check_swin).\n"
    config = SwinConfig(image_size=8, patch_size=2, d_model=8, depths=(2, 2), num_heads=(2, 2),
                        window_size=2)
    torch.manual_seed(0)
    mine = MySwin(config, block=yours.piece("SwinBlock"), merging=yours.piece("PatchMerging"))
    course = Swin(config)
    course.load_state_dict(mine.state_dict())
    images = torch.randn(3, 1, 8, 8)
    assert torch.allclose(mine(images)[0], course(images)[0], atol=1e-5)


@pytest.mark.parametrize("change, words", [
    (dict(SHIFTS="none"), "No block shifts"),
    (dict(SHIFTS="all"), "Every block shifts"),
    (dict(ACROSS=True), "run on across the stages"),
    (dict(PATCH_NORM=False), "did not use it: normalise the embedded patches"),
    (dict(FINAL_NORM=False), "apply self.norm"),
    (dict(MEAN=False), "no class token"),
    (dict(MERGE_LAST=True), "not after the last one"),
    (dict(DOUBLE=False), "the width doubles"),
])
def test_check_swin_names_the_mistake(notebook, change, words):
    notebook.update(MODEL_RIGHT)
    notebook.update(change)
    notebook_cell(MODEL, notebook)
    result = exercises.check_swin(notebook["MySwin"])
    assert not result.passed and words in result.message, result.message
