"""Notebook 06's checks of the learner's modules: MyMLP, MyEncoderBlock (the piece
"EncoderBlock", kept and handed to helpers.Encoder) and the learning-rate schedule; one test
per named mistake."""
import math

import pytest
import torch

import helpers
from helpers import exercises, yours
from helpers.encoder import Encoder, EncoderBlock, EncoderConfig
from helpers.masks import padding_mask
from helpers.training import learning_rate_factor
from notebook_cells import notebook_cell

BLOCK = '''
import torch
from torch import nn
from torch.nn import functional as F

import helpers
MultiHeadAttention = helpers.yours.piece("MultiHeadAttention")


def my_gelu(x):
    return x * 0.5 * (1 + torch.erf(x / 2 ** 0.5))


class MyMLP(nn.Module):
    def __init__(self, d_model, d_ff):
        super().__init__()
        self.up = nn.Linear(d_model, d_ff)
        self.down = nn.Linear(d_ff, d_model)

    def forward(self, x):
        return self.down(my_gelu(self.up(x)))


class MyEncoderBlock(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.norm_first = config.norm_first
        self.attn = MultiHeadAttention(d_model=config.d_model, num_heads=config.num_heads)
        self.norm1 = nn.LayerNorm(config.d_model, eps=config.norm_eps)
        self.mlp = MyMLP(config.d_model, config.d_ff)
        self.norm2 = nn.LayerNorm(config.d_model, eps=config.norm_eps)

    def forward(self, x, mask=None):
        if self.norm_first:
            attended, weights = self.attn(self.norm1(x), mask=mask)
            h = x + attended
            out = h + self.mlp(self.norm2(h))
        else:
            attended, weights = self.attn(x, mask=mask)
            h = self.norm1(x + attended)
            out = self.norm2(h + self.mlp(h))
        return out, weights
'''


@pytest.fixture()
def notebook(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_PROGRESS", str(tmp_path / "progress.json"))
    return {"__name__": "__main__"}


def test_the_solution_passes_and_is_kept_as_the_piece(notebook, capsys):
    notebook_cell(BLOCK, notebook)
    result = exercises.check_encoder_block_module(notebook["MyEncoderBlock"])
    assert result.passed, result.message
    assert "Kept as your EncoderBlock" in result.message
    text = (yours.yours_dir() / "EncoderBlock.py").read_text()
    assert "class MyMLP" in text and "def my_gelu" in text
    assert "MultiHeadAttention = piece('MultiHeadAttention')" in text
    capsys.readouterr()
    mine = yours.piece("EncoderBlock")
    assert capsys.readouterr().out == \
        "Your EncoderBlock (it passed check_encoder_block_module).\n"
    assert yours.is_yours(mine) and mine is not EncoderBlock


def test_without_a_kept_block_the_course_block_is_used(notebook, capsys):
    assert yours.piece("EncoderBlock") is EncoderBlock
    assert "The course's EncoderBlock: yours has not passed check_encoder_block_module yet" \
        in capsys.readouterr().out


def test_the_course_block_passes_its_own_check(notebook):
    assert exercises.check_encoder_block_module(EncoderBlock).passed


@pytest.mark.parametrize("norm_first", [True, False])
def test_the_kept_block_inside_encoder_matches_the_course_encoder(notebook, norm_first):
    notebook_cell(BLOCK, notebook)
    exercises.check_encoder_block_module(notebook["MyEncoderBlock"])
    config = EncoderConfig(num_layers=2, norm_first=norm_first)
    torch.manual_seed(0)
    theirs = Encoder(config)
    mine = Encoder(config, block=yours.piece("EncoderBlock", say=False))
    mine.load_state_dict(theirs.state_dict())
    x, mask = torch.randn(2, 6, 32), padding_mask(torch.tensor([6, 4]), 6)
    out, weights = mine(x, mask, need_weights=True)
    expected, expected_w = theirs(x, mask, need_weights=True)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(weights, expected_w, atol=1e-5, rtol=1e-4)


NAMED = [
    (("self.norm_first = config.norm_first", "self.norm_first = True"), "Post-norm",
     "so this block is post-norm, but you wired it the other way"),
    (("return self.down(my_gelu(self.up(x)))", "return self.down(torch.relu(self.up(x)))"),
     "Pre-norm", "ReLU in the MLP"),
    (("return self.down(my_gelu(self.up(x)))",
      "return self.down(F.gelu(self.up(x), approximate='tanh'))"), "Pre-norm",
     "tanh approximation"),
    (("h = x + attended\n", "h = attended\n"), "Pre-norm", "residual around attention"),
    (("out = h + self.mlp(self.norm2(h))", "out = self.mlp(self.norm2(h))"), "Pre-norm",
     "residual around the MLP"),
    (("h = self.norm1(x + attended)", "h = self.norm1(attended)"), "Post-norm",
     "residual around attention"),
    (("out = self.norm2(h + self.mlp(h))", "out = self.norm2(self.mlp(h))"), "Post-norm",
     "residual around the MLP"),
    (("h = x + attended\n            out = h + self.mlp(self.norm2(h))",
      "h = attended\n            out = self.mlp(self.norm2(h))"),
     "Pre-norm", "Both residuals are missing"),
    (("out = h + self.mlp(self.norm2(h))", "out = h + self.mlp(self.norm1(h))"),
     "Pre-norm", "norm1 twice"),
    (("self.attn(self.norm1(x), mask=mask)", "self.attn(self.norm2(x), mask=mask)"),
     "Pre-norm", "norm2 twice"),
    (("attended, weights = self.attn(self.norm1(x), mask=mask)\n            h = x + attended\n"
      "            out = h + self.mlp(self.norm2(h))",
      "attended, weights = self.attn(self.norm2(x), mask=mask)\n            h = x + attended\n"
      "            out = h + self.mlp(self.norm1(h))"), "Pre-norm", "LayerNorms are swapped"),
    (("self.attn(self.norm1(x), mask=mask)\n            h = x + attended\n"
      "            out = h + self.mlp(self.norm2(h))",
      "self.attn(x, mask=mask)\n            h = x + attended\n            out = h + self.mlp(h)"),
     "Pre-norm", "LayerNorms are missing"),
    (("out = h + self.mlp(self.norm2(h))", "out = h + self.mlp(self.norm2(x))"), "Pre-norm",
     "The MLP reads the block's input x"),
    (("out = h + self.mlp(self.norm2(h))", "out = x + self.mlp(self.norm2(h))"), "Pre-norm",
     "The second residual adds the block's input x"),
    (("attended, weights = self.attn(self.norm1(x), mask=mask)\n            h = x + attended\n"
      "            out = h + self.mlp(self.norm2(h))",
      "h = x + self.mlp(self.norm2(x))\n            attended, weights = self.attn("
      "self.norm1(h), mask=mask)\n            out = h + attended"), "Pre-norm",
     "The MLP comes first"),
    (("out = self.norm2(h + self.mlp(h))", "out = self.norm2(h + self.mlp(x))"), "Post-norm",
     "The MLP reads the block's input x"),
    (("h = self.norm1(x + attended)\n            out = self.norm2(h + self.mlp(h))",
      "h = x + self.norm1(attended)\n            out = h + self.norm2(self.mlp(h))"),
     "Post-norm", "normalised each sub-layer's output before the sum"),
    (("self.attn(self.norm1(x), mask=mask)", "self.attn(self.norm1(x))"),
     "Pre-norm, with a padding mask", "The mask does not reach attention"),
    (("nn.LayerNorm(config.d_model, eps=config.norm_eps)", "nn.LayerNorm(config.d_model)"),
     "Pre-norm", "ignore config.norm_eps"),
    (("num_heads=config.num_heads", "num_heads=4"), "Pre-norm", "Your attention has 4 head(s)"),
    (("num_heads=config.num_heads", "num_heads=1"), "Pre-norm", "Your attention has 1 head(s)"),
    (("self.mlp = MyMLP(config.d_model, config.d_ff)", "self.ffn = MyMLP(config.d_model, "
      "config.d_ff)\n        self.mlp = self.ffn"), None, "unexpected ffn.up.weight"),
    (("self.mlp = MyMLP(config.d_model, config.d_ff)",
      "self.mlp = MyMLP(config.d_model, 128)"), None,
     "mlp.up.weight is (128, 8), expected (32, 8)"),
    (("return out, weights", "return out"), None, "forward must return a pair"),
    (("return out, weights", "return out, None"), "Pre-norm", "the weights are not"),
    (("h = x + attended\n", "h = x + attended.detach()\n"), "Pre-norm",
     "something in forward is detached"),
]


@pytest.mark.parametrize("edit, case, named", NAMED)
def test_check_encoder_block_module_names_each_mistake(notebook, edit, case, named):
    source = BLOCK.replace(*edit)
    assert source != BLOCK
    notebook_cell(source, notebook)
    result = exercises.check_encoder_block_module(notebook["MyEncoderBlock"])
    assert not result.passed and named in result.message, result.message
    if case is not None:
        assert result.message.startswith(case), result.message


def test_check_encoder_block_module_asks_for_the_class(notebook):
    assert "Not done yet" in exercises.check_encoder_block_module(None).message
    instance = EncoderBlock(EncoderConfig())
    assert "Pass your class itself" in exercises.check_encoder_block_module(instance).message


def test_an_attention_that_mishandles_a_padding_mask_is_named(notebook):
    """An attention from notebook 04 that masks (B, H, T, S) scores with a (B, 1, S) mask as
    it is: the block check says that the attention, not the block, is at fault."""
    notebook_cell('''
        import math
        import torch
        from torch import nn

        class MyMultiHeadAttention(nn.Module):
            def __init__(self, d_model, num_heads):
                super().__init__()
                self.num_heads = num_heads
                self.in_proj = nn.Linear(d_model, 3 * d_model)
                self.out_proj = nn.Linear(d_model, d_model)

            def forward(self, x, mask=None, context=None):
                B, T, C = x.shape
                H, D = self.num_heads, C // self.num_heads
                q, k, v = (t.view(B, T, H, D).transpose(1, 2) for t in self.in_proj(x).split(C, -1))
                scores = q @ k.transpose(-2, -1) / math.sqrt(D)
                if mask is not None:
                    scores = scores.masked_fill(~mask, float("-inf"))
                weights = torch.softmax(scores, dim=-1)
                return self.out_proj((weights @ v).transpose(1, 2).reshape(B, T, C)), weights
    ''', notebook)
    notebook_cell(BLOCK.replace('MultiHeadAttention = helpers.yours.piece("MultiHeadAttention")',
                                "MultiHeadAttention = MyMultiHeadAttention"), notebook)
    result = exercises.check_encoder_block_module(notebook["MyEncoderBlock"])
    assert not result.passed and "with a padding mask" in result.message
    assert "(B, 1, 1, S)" in result.message, result.message


# -- MyMLP ---------------------------------------------------------------------------------
MLP = '''
import torch
from torch import nn


class MyMLP(nn.Module):
    def __init__(self, d_model, d_ff):
        super().__init__()
        self.up = nn.Linear(d_model, d_ff)
        self.down = nn.Linear(d_ff, d_model)

    def forward(self, x):
        return self.down(nn.functional.gelu(self.up(x)))
'''


@pytest.mark.parametrize("edit, named", [
    (("", ""), None),
    (("nn.functional.gelu(self.up(x))", "torch.relu(self.up(x))"), "ReLU"),
    (("nn.functional.gelu(self.up(x))", "nn.functional.gelu(self.up(x), approximate='tanh')"),
     "tanh approximation"),
    (("nn.functional.gelu(self.up(x))", "self.up(x) * torch.sigmoid(1.702 * self.up(x))"),
     "sigmoid approximation"),
    (("self.down(nn.functional.gelu(self.up(x)))", "self.down(self.up(x))"),
     "activation is missing"),
    (("self.down(nn.functional.gelu(self.up(x)))", "nn.functional.gelu(self.down(self.up(x)))"),
     "wrong place"),
    (("self.down(nn.functional.gelu(self.up(x)))",
      "nn.functional.gelu(self.down(nn.functional.gelu(self.up(x))))"), "GELU twice"),
    (("return self.down(", "return x + self.down("), "added the residual"),
    (("self.up = nn.Linear(d_model, d_ff)", "self.fc1 = self.up = nn.Linear(d_model, d_ff)"),
     "unexpected fc1.weight"),
    (("self.down = nn.Linear(d_ff, d_model)", "self.down = nn.Linear(d_ff, d_model, bias=False)"),
     "missing down.bias"),
])
def test_check_mlp_module_names_each_mistake(notebook, edit, named):
    notebook_cell(MLP.replace(*edit) if edit[0] else MLP, notebook)
    result = exercises.check_mlp_module(notebook["MyMLP"])
    if named is None:
        assert result.passed, result.message
    else:
        assert not result.passed and named in result.message, result.message


def test_check_mlp_module_asks_for_the_class():
    assert "Not done yet" in exercises.check_mlp_module(None).message


# -- the learning-rate schedule ----------------------------------------------------------
def right(step, steps, warmup):
    if step <= warmup:
        return step / warmup
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / (steps - warmup)))


@pytest.mark.parametrize("lr_factor, named", [
    (lambda s, n, w: (s - 1) / w if s <= w else right(s - 1, n, w), "step 1 gets factor 0"),
    (lambda s, n, w: min(1.0, (s + 1) / w) if s <= w else right(s, n, w), "one step early"),
    (lambda s, n, w: 0.5 * (1 + math.cos(math.pi * s / n)), "There is no warm-up"),
    (lambda s, n, w: min(1.0, s / w), "There is no decay"),
    (lambda s, n, w: s / w if s <= w else 0.5 * (1 + math.cos(math.pi * (s - w) / n)),
     "does not reach 0"),
    (lambda s, n, w: s / w if s <= w else 0.5 * (1 + math.cos(math.pi * s / n)),
     "counts from step 0"),
    (lambda s, n, w: s / w if s <= w else math.cos(math.pi * (s - w) / (n - w)),
     "negative learning rate"),
    (lambda s, n, w: s / w if s <= w else 0.5 * (1 + math.cos(2 * math.pi * (s - w) / (n - w))),
     "whole period"),
    (lambda s, n, w: s / w if s <= w else 1 - (s - w) / (n - w), "linear"),
    (lambda s, n, w: s / w if s / w <= 1 else right(s, n, w), "divides by zero"),
    (lambda s, n, w: None, "Not done yet"),
])
def test_check_lr_factor_names_each_mistake(lr_factor, named):
    result = exercises.check_lr_factor(lr_factor)
    assert not result.passed and named in result.message, result.message


@pytest.mark.parametrize("lr_factor", [right, lambda s, n, w: learning_rate_factor(s, n, w,
                                                                                    "cosine")])
def test_check_lr_factor_passes_the_schedule_of_helpers_fit(lr_factor):
    assert exercises.check_lr_factor(lr_factor).passed
