"""Notebook 10's checks for the pieces the learner writes: the GPT block and the GPT module
(helpers.gpt), top-p filtering and the generation loop (helpers.generation). Each named
mistake is made once, in a copy of the solution, and must be named by its check."""

import pytest
import torch

import helpers
from helpers import exercises, yours
from helpers.exercises import gpt as ex_gpt
from notebook_cells import notebook_cell

SOLUTION = '''
import math
import torch
from torch import nn
from torch.nn import functional as F
from helpers.masks import causal_mask
from helpers.multihead import MultiHeadAttention


class MyMLP(nn.Module):
    def __init__(self, d_model, d_ff):
        super().__init__()
        self.up = nn.Linear(d_model, d_ff)  # C -> d_ff
        self.down = nn.Linear(d_ff, d_model)  # d_ff -> C

    def forward(self, x):
        return self.down(F.gelu(self.up(x)))  # (B, T, C)


class MyGPTBlock(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.norm1 = nn.LayerNorm(config.d_model)
        self.attn = MultiHeadAttention(d_model=config.d_model, num_heads=config.num_heads)
        self.norm2 = nn.LayerNorm(config.d_model)
        self.mlp = MyMLP(config.d_model, config.d_ff)

    def forward(self, x):
        B, T, C = x.shape
        attended, weights = self.attn(self.norm1(x), mask=causal_mask(T, device=x.device))
        x = x + attended  # (B, T, C): attention, added to the residual stream
        x = x + self.mlp(self.norm2(x))  # (B, T, C): then the MLP, added too
        return x, weights  # weights: (B, H, T, T)


class MyGPT(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.token = nn.Embedding(config.vocab_size, config.d_model)  # E: (V, C)
        self.position = nn.Embedding(config.block_size, config.d_model)  # (block_size, C)
        self.blocks = nn.ModuleList([MyGPTBlock(config) for _ in range(config.num_layers)])
        self.final_norm = nn.LayerNorm(config.d_model)

    def forward(self, idx):
        B, T = idx.shape
        h = self.token(idx) + self.position(torch.arange(T, device=idx.device))  # (B, T, C)
        weights = []
        for block in self.blocks:
            h, w = block(h)  # (B, T, C), (B, H, T, T)
            weights.append(w)
        logits = self.final_norm(h) @ self.token.weight.T  # (B, T, V): the tied head
        return logits, torch.stack(weights, dim=1)  # (B, L, H, T, T)


def my_top_k_filter(logits, k):
    kth = logits.topk(k, dim=-1).values[:, -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


def my_top_p_filter(logits, p):
    sorted_logits, order = logits.sort(dim=-1, descending=True)  # (B, V), most likely first
    probs = sorted_logits.softmax(-1)
    before = probs.cumsum(-1) - probs  # (B, V): the probability of the tokens ranked above
    drop = before >= p  # the token that crosses p has less than p before it: kept
    return logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))  # vocabulary order


def my_generate(model, idx, n_new, temperature=1.0, top_k=None, top_p=None, generator=None):
    for _ in range(n_new):
        context = idx[:, -model.config.block_size:]  # (B, <= block_size): the window
        with torch.no_grad():
            logits = model(context)[0][:, -1]  # (B, V): the scores of the next token
        if temperature == 0:
            next_token = logits.argmax(-1)  # (B,): greedy
        else:
            logits = logits / temperature
            if top_k is not None:
                logits = my_top_k_filter(logits, top_k)
            if top_p is not None:
                logits = my_top_p_filter(logits, top_p)
            probs = logits.softmax(-1)  # (B, V)
            next_token = torch.multinomial(probs, 1, generator=generator)[:, 0]  # (B,)
        idx = torch.cat([idx, next_token[:, None]], dim=1)  # (B, T + 1)
    return idx
'''


@pytest.fixture()
def notebook(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_PROGRESS", str(tmp_path / "progress.json"))
    return {"__name__": "__main__"}


def run(notebook, edits=()):
    """The solution with each (old, new) edit made once (each old text must be there)."""
    source = SOLUTION
    for old, new in edits:
        assert old in source, old
        source = source.replace(old, new, 1)
    return notebook_cell(source, notebook)


# -- the block ----------------------------------------------------------------------------
ATTEND = "self.attn(self.norm1(x), mask=causal_mask(T, device=x.device))"


@pytest.mark.parametrize("edits, named", [
    ([(ATTEND, "self.attn(self.norm1(x))")], "No causal mask"),
    ([(ATTEND, "self.attn(self.norm1(x), mask=~causal_mask(T, device=x.device))")],
     "wrong way round"),
    ([(ATTEND, "self.attn(x, mask=causal_mask(T, device=x.device))"),
      ("x = x + attended  #", "x = self.norm1(x + attended)  #"),
      ("x = x + self.mlp(self.norm2(x))", "x = self.norm2(x + self.mlp(x))")], "Post-norm"),
    ([("x = x + attended  #", "x = attended  #")], "attention's residual is missing"),
    ([("x = x + self.mlp(self.norm2(x))", "x = self.mlp(self.norm2(x))")],
     "MLP's residual is missing"),
    ([("x = x + self.mlp(self.norm2(x))", "x = x + self.mlp(self.norm1(x))")],
     "its own LayerNorm"),
    ([("self.norm1 = nn.LayerNorm", "self.ln1 = nn.LayerNorm"), ("self.norm1(x)", "self.ln1(x)")],
     "Your parameters differ from helpers.gpt.GPTBlock's: missing ['norm1.bias', 'norm1.weight']"),
    ([("return x, weights  #", "return x  #")], "must return a pair"),
    ([("return x, weights  #", "return x, weights[:, :1]  #")], "the weights are not"),
    ([("x = x + self.mlp(self.norm2(x))", "x = x + self.mlp(self.norm2(x.detach()))")],
     "the gradient of"),
])
def test_check_gpt_block_names_each_mistake(notebook, edits, named):
    run(notebook, edits)
    result = exercises.check_gpt_block(notebook["MyGPTBlock"])
    assert not result.passed and named in result.message, result.message


def test_check_gpt_block_passes_the_solution_and_the_course_block(notebook):
    run(notebook)
    assert exercises.check_gpt_block(notebook["MyGPTBlock"]).passed
    assert ex_gpt.check_gpt_block(helpers.gpt.GPTBlock).passed
    assert "Not done yet" in exercises.check_gpt_block(None).message


# -- the model ----------------------------------------------------------------------------
EMBED = "h = self.token(idx) + self.position(torch.arange(T, device=idx.device))"
HEAD = "logits = self.final_norm(h) @ self.token.weight.T"


@pytest.mark.parametrize("edits, named", [
    ([(ATTEND, "self.attn(self.norm1(x))")], "No causal mask in the blocks"),
    ([(EMBED, "h = self.token(idx)")], "positions are missing"),
    ([(EMBED, "h = self.token(idx) + self.position(torch.arange(1, T + 1))")],
     "Positions off by one"),
    ([(HEAD, "logits = h @ self.token.weight.T")], "final LayerNorm is not applied"),
    ([("        self.final_norm = nn.LayerNorm(config.d_model)\n", ""),
      (HEAD, "logits = h @ self.token.weight.T")], "final LayerNorm is missing"),
    ([(HEAD, "logits = self.final_norm(h) @ self.token.weight")], "uses E, not its transpose"),
    ([(HEAD, "logits = (self.final_norm(h) @ self.token.weight.T).softmax(-1)")],
     "returned probabilities"),
    ([("            h, w = block(h)", "            _, w = block(h)")], "blocks are missing"),
    ([("        self.final_norm = nn.LayerNorm(config.d_model)\n",
       "        self.final_norm = nn.LayerNorm(config.d_model)\n"
       "        self.head = nn.Linear(config.d_model, config.vocab_size, bias=False)\n"),
      (HEAD, "logits = self.head(self.final_norm(h))")], "The head is not tied: head.weight"),
    ([("        self.final_norm = nn.LayerNorm(config.d_model)\n",
       "        self.final_norm = nn.LayerNorm(config.d_model)\n"
       "        self.head = nn.Linear(config.d_model, config.vocab_size, bias=False)\n"
       "        self.head.weight = self.token.weight\n"),
      (HEAD, "logits = self.head(self.final_norm(h))")], "saved twice"),
    ([("        self.config = config\n", "")], "self.config = config"),
    ([("return logits, torch.stack(weights, dim=1)", "return logits")], "must return a pair"),
    ([("return logits, torch.stack(weights, dim=1)", "return logits, weights[0]")],
     "the weights are not"),
    ([(HEAD, "logits = self.final_norm(h) @ self.token.weight.detach().T")],
     "the gradient of token.weight"),
])
def test_check_gpt_names_each_mistake(notebook, edits, named):
    run(notebook, edits)
    result = exercises.check_gpt(notebook["MyGPT"])
    assert not result.passed and named in result.message, result.message


def test_a_passing_gpt_is_kept_with_its_block_and_the_attention_piece(notebook, capsys):
    notebook_cell('''
        import helpers
        MultiHeadAttention = helpers.yours.piece("MultiHeadAttention")
    ''', notebook)
    run(notebook, [("from helpers.multihead import MultiHeadAttention\n", "")])
    result = exercises.check_gpt(notebook["MyGPT"])
    assert result.passed and "Kept as your GPT" in result.message, result.message
    text = (yours.yours_dir() / "GPT.py").read_text()
    assert "class MyGPTBlock" in text and "class MyMLP" in text and "class MyGPT(" in text
    assert "MultiHeadAttention = piece('MultiHeadAttention')" in text
    capsys.readouterr()
    mine = yours.piece("GPT")
    assert capsys.readouterr().out == "Your GPT (it passed check_gpt).\n"
    assert yours.is_yours(mine)
    # the state dicts interchange: the course's GPT runs the learner's weights, and back
    config = helpers.GPTConfig(vocab_size=11, block_size=6, d_model=8, num_heads=2,
                               num_layers=1, d_ff=16)
    model, course = mine(config), helpers.GPT(config)
    course.load_state_dict(model.state_dict())
    idx = torch.randint(0, 11, (2, 6))
    assert torch.allclose(model(idx)[0], course(idx)[0], atol=1e-5)


def test_without_a_kept_gpt_the_course_gpt_is_used(notebook, capsys):
    assert yours.piece("GPT") is helpers.GPT
    assert "The course's GPT: yours has not passed check_gpt yet." in capsys.readouterr().out


def test_check_gpt_passes_the_course_gpt():
    assert ex_gpt.check_gpt(helpers.GPT).passed


# -- top-p --------------------------------------------------------------------------------
@pytest.mark.parametrize("edits, named", [
    ([("drop = before >= p", "drop = probs.cumsum(-1) >= p")], "dropped the token that crosses p"),
    ([("sorted_logits, order = logits.sort(dim=-1, descending=True)",
       "sorted_logits, order = logits, torch.arange(logits.shape[-1]).expand_as(logits)")],
     "in vocabulary order"),
    ([('return logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))',
       'return logits.masked_fill(drop.scatter(-1, order, drop), 0.0)')], "not -inf"),
    ([('return logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))',
       'return logits.masked_fill(drop.scatter(-1, order, drop), float("-inf")).softmax(-1)')],
     "returned probabilities"),
])
def test_check_top_p_names_each_mistake(notebook, edits, named):
    run(notebook, edits)
    result = exercises.check_top_p(notebook["my_top_p_filter"])
    assert not result.passed and named in result.message, result.message


# -- the generation loop ------------------------------------------------------------------
@pytest.mark.parametrize("edits, named", [
    ([("            logits = logits / temperature\n", ""),
      ("probs = logits.softmax(-1)  # (B, V)", "probs = logits.softmax(-1) / temperature")],
     "The temperature has no effect"),
    ([("logits = my_top_k_filter(logits, top_k)", "logits = my_top_k_filter(logits, top_k - 1)")],
     "top-k keeps 2 tokens, not 3"),
    ([("drop = before >= p", "drop = probs.cumsum(-1) >= p\n    drop[:, 0] = False")],
     "top-p drops the token that crosses p"),
    ([("logits = model(context)[0][:, -1]", "logits = model(context)[0][:, 0]")],
     "first position's logits"),
    ([("context = idx[:, -model.config.block_size:]", "context = idx")],
     "more than block_size tokens"),
    ([("context = idx[:, -model.config.block_size:]",
       "context = idx[:, :model.config.block_size]")], "Not cropped to the last block_size"),
    ([("        if temperature == 0:\n            next_token = logits.argmax(-1)  # (B,): greedy\n"
       "        else:\n", "        if True:\n")], "Temperature 0 means greedy"),
    ([("    return idx\n", "    return idx[:, -n_new:]\n")], "only the new tokens"),
    ([("generator=generator)[:, 0]", ")[:, 0]")], "torch.multinomial(probs, 1, generator"),
])
def test_check_generate_names_each_mistake(notebook, edits, named):
    run(notebook, edits)
    result = exercises.check_generate(notebook["my_generate"])
    assert not result.passed and named in result.message, result.message


def test_check_generate_passes_the_solution_and_keeps_the_filters_it_calls(notebook):
    run(notebook)
    result = exercises.check_generate(notebook["my_generate"])
    assert result.passed and "Kept as your generate" in result.message, result.message
    text = (yours.yours_dir() / "generate.py").read_text()
    assert "def my_top_k_filter" in text and "def my_top_p_filter" in text
    assert yours.is_yours(yours.piece("generate", say=False))
    assert ex_gpt.check_generate(lambda *args, **kwargs: helpers.generation.generate(
        *args, **kwargs, use_cache=False)).passed
    assert "Not done yet" in exercises.check_generate(None).message
