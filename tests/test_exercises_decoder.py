"""Notebook 08's checks of the learner's pieces: the decoder block as a module, greedy
decoding and beam search. One test per named mistake: each builds the learner's code with
that mistake and asserts that the check names it."""
import json
import re
from pathlib import Path

import pytest
import torch

import helpers
from helpers import exercises, yours
from helpers.decoder import DecoderBlock, EncoderDecoder, Seq2SeqConfig
from helpers.exercises import decoder as checks
from helpers.generation import beam_search, greedy_decode
from notebook_cells import notebook_cell

ROOT = Path(__file__).resolve().parent.parent

# A learner's MyDecoderBlock, right as written; each test edits one line into a mistake.
BLOCK = '''
import torch
from torch import nn
from helpers import masks
from helpers.encoder import MLP, LayerNorm
from helpers.multihead import MultiHeadAttention


class MyDecoderBlock(nn.Module):
    def __init__(self, config):
        super().__init__()
        C, H = config.d_model, config.num_heads
        self.self_attn = MultiHeadAttention(d_model=C, num_heads=H)
        self.cross_attn = MultiHeadAttention(d_model=C, num_heads=H)
        self.mlp = MLP(C, config.d_ff)
        self.norm1, self.norm2, self.norm3 = LayerNorm(C), LayerNorm(C), LayerNorm(C)

    def forward(self, x, memory, memory_mask=None):
        B, T, C = x.shape
        S = memory.shape[1]
        no_peeking = masks.causal_mask(T)
        attended, self_weights = self.self_attn(self.norm1(x), mask=no_peeking)
        x = x + attended
        looked_up, cross_weights = self.cross_attn(self.norm2(x), mask=memory_mask, context=memory)
        x = x + looked_up
        x = x + self.mlp(self.norm3(x))
        return x, self_weights, cross_weights
'''

# Multi-head attention as a learner may write it in notebook 04: right for a (T, S) mask,
# but a (B, 1, S) mask reaches the scores (B, H, T, S) without mask[:, None].
NAIVE_MHA = '''
import math


class NaiveMultiHeadAttention(nn.Module):
    def __init__(self, d_model, num_heads):
        super().__init__()
        self.num_heads = num_heads
        self.in_proj = nn.Linear(d_model, 3 * d_model)
        self.out_proj = nn.Linear(d_model, d_model)

    def forward(self, x, mask=None, context=None):
        B, T, C = x.shape
        H, D = self.num_heads, C // self.num_heads
        context = x if context is None else context
        w, b = self.in_proj.weight, self.in_proj.bias
        q = nn.functional.linear(x, w[:C], b[:C]).view(B, T, H, D).transpose(1, 2)
        k, v = nn.functional.linear(context, w[C:], b[C:]).split(C, dim=-1)
        k, v = (t.view(B, -1, H, D).transpose(1, 2) for t in (k, v))
        scores = q @ k.transpose(-2, -1) / math.sqrt(D)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        return self.out_proj((weights @ v).transpose(1, 2).reshape(B, T, C)), weights
'''


@pytest.fixture()
def notebook(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_PROGRESS", str(tmp_path / "progress.json"))
    return {"__name__": "__main__"}


def block_class(*edits, extra=""):
    namespace = notebook_cell(BLOCK + extra, {"__name__": "__main__"})
    source = BLOCK
    for old, new in edits:
        assert old in source, old
        source = source.replace(old, new)
    return notebook_cell(source + extra, namespace)["MyDecoderBlock"]


def check_block(*edits, extra=""):
    return checks.check_decoder_block_module(block_class(*edits, extra=extra))


# --- the decoder block as a module -----------------------------------------------------
def test_the_right_block_passes_is_kept_and_builds_the_model(notebook, capsys):
    notebook_cell(BLOCK, notebook)
    result = exercises.check_decoder_block_module(notebook["MyDecoderBlock"])
    assert result.passed, result.message
    assert "Kept as your DecoderBlock" in result.message
    mine = yours.piece("DecoderBlock")
    assert capsys.readouterr().out == \
        "Your DecoderBlock (it passed check_decoder_block_module).\n"
    assert mine is not DecoderBlock and yours.is_yours(mine)
    config = Seq2SeqConfig(src_vocab=12, tgt_vocab=9, num_layers=2)
    torch.manual_seed(0)
    course = EncoderDecoder(config).eval()
    model = EncoderDecoder(config, decoder_block=mine).eval()
    model.load_state_dict(course.state_dict())  # the same parameter names
    src, tgt = torch.randint(1, 12, (2, 7)), torch.randint(1, 9, (2, 5))
    src[1, 5:] = 0  # padding
    with torch.no_grad():
        torch.testing.assert_close(model(src, tgt), course(src, tgt), atol=1e-5, rtol=1e-4)


def test_the_stub_is_not_done_yet():
    stub = block_class(("        C, H = config.d_model", "        return\n        C, H = config.d_model"))
    result = checks.check_decoder_block_module(stub)
    assert not result.passed and "Not done yet" in result.message


BLOCK_MISTAKES = [
    ("keys and values from the decoder",
     [("mask=memory_mask, context=memory)", "mask=None)")], "self-attention a second time"),
    ("keys and values from the decoder's own stream",
     [("mask=memory_mask, context=memory)", "mask=None, context=x)")],
     "own stream; they come from the encoder's output"),
    ("queries from the encoder",
     [("self.cross_attn(self.norm2(x), mask=memory_mask, context=memory)",
       "self.cross_attn(memory, mask=None, context=self.norm2(x))")],
     "queries from the encoder"),
    ("no causal mask", [("mask=no_peeking)", "mask=None)")], "causal mask is missing"),
    ("causal mask on cross-attention",
     [("mask=memory_mask, context=memory)",
       "mask=masks.causal_mask(T, S) & (True if memory_mask is None else memory_mask), "
       "context=memory)")], "applied the causal mask to cross-attention"),
    ("causal mask on both sides swapped",
     [("mask=no_peeking)", "mask=None)"), ("mask=memory_mask, context=memory)",
       "mask=masks.causal_mask(T, S) & (True if memory_mask is None else memory_mask), "
       "context=memory)")], "causal mask is on cross-attention instead of self-attention"),
    ("residual missing around self-attention", [("x = x + attended", "x = attended")],
     "residual around self-attention is missing"),
    ("residual missing around cross-attention", [("x = x + looked_up", "x = looked_up")],
     "residual around cross-attention is missing"),
    ("residual missing around the MLP",
     [("x = x + self.mlp(self.norm3(x))", "x = self.mlp(self.norm3(x))")],
     "residual around the MLP is missing"),
    ("MLP missing", [("x = x + self.mlp(self.norm3(x))", "pass")], "The MLP is missing"),
    ("norms swapped: post-norm",
     [("attended, self_weights = self.self_attn(self.norm1(x), mask=no_peeking)\n"
       "        x = x + attended",
       "attended, self_weights = self.self_attn(x, mask=no_peeking)\n"
       "        x = self.norm1(x + attended)"),
      ("self.cross_attn(self.norm2(x),", "self.cross_attn(x,"),
      ("x = x + looked_up", "x = self.norm2(x + looked_up)"),
      ("x = x + self.mlp(self.norm3(x))", "x = self.norm3(x + self.mlp(x))")], "post-norm"),
    ("padding mask ignored", [("mask=memory_mask, context=memory)", "mask=None, context=memory)")],
     "padding mask is not used"),
    ("padding mask on self-attention",
     [("mask=no_peeking)", "mask=no_peeking if memory_mask is None else no_peeking & memory_mask)"),
      ("mask=memory_mask, context=memory)", "mask=None, context=memory)")],
     "padding mask went to self-attention"),
]


@pytest.mark.parametrize("mistake, edits, named", BLOCK_MISTAKES, ids=[m[0] for m in BLOCK_MISTAKES])
def test_a_block_mistake_is_named(mistake, edits, named):
    result = check_block(*edits)
    assert not result.passed
    assert named in result.message, result.message


def test_a_padding_mask_read_per_head_is_named():
    """The learner's 04 attention without mask[:, None]: a (B, 1, S) mask lands on the heads."""
    result = check_block(("self.self_attn = MultiHeadAttention(d_model=C, num_heads=H)",
                          "self.self_attn = NaiveMultiHeadAttention(d_model=C, num_heads=H)"),
                         ("self.cross_attn = MultiHeadAttention(d_model=C, num_heads=H)",
                          "self.cross_attn = NaiveMultiHeadAttention(d_model=C, num_heads=H)"),
                         extra=NAIVE_MHA)
    assert not result.passed and "as if its first dimension were the heads" in result.message


def test_a_block_with_other_parameter_names_is_told_which():
    result = check_block(("self.mlp = MLP(C, config.d_ff)", "self.ffn = MLP(C, config.d_ff)"),
                         ("self.mlp(self.norm3(x))", "self.ffn(self.norm3(x))"))
    assert not result.passed
    assert "missing mlp.up.weight" in result.message and "unexpected ffn.up.weight" in result.message


def test_a_block_that_does_not_return_the_weights_is_told():
    result = check_block(("return x, self_weights, cross_weights", "return x"))
    assert not result.passed and "must return three things" in result.message


def test_wrong_weights_are_named():
    result = check_block(("return x, self_weights, cross_weights",
                          "return x, cross_weights, self_weights"))
    assert not result.passed and "self-attention weights are not" in result.message


def test_a_detached_output_is_named():
    result = check_block(("return x, self_weights", "return x.detach(), self_weights"))
    assert not result.passed and "does not backpropagate" in result.message


def test_a_block_that_raises_is_named():
    result = check_block(("S = memory.shape[1]", "S = memory.shape[3]"))
    assert not result.passed and "Calling your block with T = S = 5, no padding failed" in \
        result.message


# --- greedy decoding --------------------------------------------------------------------
def learners_greedy(mistake=None):
    """Greedy decoding as a learner writes it; ``mistake`` makes one named mistake."""
    def my_greedy_decode(model, src, *, bos, eos, max_len):
        memory, memory_mask = model.encode(src)
        out = torch.full((src.shape[0], 1), bos, dtype=torch.long)
        done = torch.zeros(src.shape[0], dtype=torch.bool)
        steps = max_len + {"too many": 1, "too few": -1}.get(mistake, 0)
        for _ in range(steps):
            logits = model.decode(out[:, :1] if mistake == "no feedback" else out,
                                  memory, memory_mask)
            next_token = (logits[:, 0] if mistake == "first position" else logits[:, -1]).argmax(-1)
            if mistake != "no end padding":
                next_token = next_token.masked_fill(done, eos)
            out = torch.cat([out, next_token[:, None]], dim=1)
            done |= next_token == eos
            if mistake == "never stops":
                continue
            if done.any() if mistake == "any" else done.all():
                break
        return out[:, 1:] if mistake == "no begin" else out
    return my_greedy_decode


def test_greedy_right_passes_and_the_course_version_too():
    assert checks.check_greedy_decode(learners_greedy()).passed
    assert checks.check_greedy_decode(greedy_decode).passed


def test_the_greedy_checks_fixed_model_ends_at_different_steps():
    """What makes the named mistakes visible: case 1's rows all end, at different steps;
    one row of case 2 never ends."""
    model = checks._search_model()
    g = torch.Generator().manual_seed(0)
    first, second = torch.randint(3, 10, (4, 6), generator=g), torch.randint(3, 10, (3, 5), generator=g)
    with torch.no_grad():
        a, b = greedy_decode(model, first, bos=1, eos=7, max_len=8), \
            greedy_decode(model, second, bos=1, eos=7, max_len=6)
    ends = [(row == 7).nonzero()[0].item() for row in a]
    assert len(set(ends)) >= 3 and max(ends) < 8
    assert not (b == 7).any(-1).all() and (b == 7).any()


@pytest.mark.parametrize("mistake, named", [
    ("no feedback", "predicted the token after ^ again"),
    ("first position", "predicted the token after ^ again"),
    ("never stops", "never stop early"),
    ("any", "stopped as soon as one sequence ended"),
    ("no end padding", "its later tokens must be the end token too"),
    ("too many", "One token too many"),
    ("too few", "One token too few"),
    ("no begin", "must start with the begin token"),
])
def test_a_greedy_mistake_is_named(mistake, named):
    result = checks.check_greedy_decode(learners_greedy(mistake))
    assert not result.passed and named in result.message, result.message


def test_greedy_stub_and_floats():
    assert "Not done yet" in checks.check_greedy_decode(lambda *a, **k: None).message
    floats = lambda *a, **k: learners_greedy()(*a, **k).float()  # noqa: E731
    assert "long tensor" in checks.check_greedy_decode(floats).message


# --- beam search ------------------------------------------------------------------------
def learners_beam(mistake=None):
    """Beam search as a learner writes it; ``mistake`` makes one named mistake."""
    def my_beam_search(model, src, *, bos, eos, max_len, beam_width=4):
        memory, pad = model.encode(src)
        beams, finished = [(0.0, [bos])], []
        for _ in range(max_len):
            tokens = torch.tensor([seq for _, seq in beams])
            k = tokens.shape[0]
            logp = model.decode(tokens, memory.expand(k, -1, -1), pad.expand(k, -1, -1))[:, -1]
            logp = logp.log_softmax(-1)
            so_far = torch.tensor([score for score, _ in beams])[:, None]
            scores = {"probabilities": so_far + logp.exp(), "last token only": logp + 0 * so_far}\
                .get(mistake, so_far + logp)
            if mistake == "best beam only":
                top = scores[0].topk(beam_width)
                flat = [(v, i) for v, i in zip(top.values.tolist(), top.indices.tolist())]
            else:
                top = scores.flatten().topk(min(beam_width, scores.numel()))
                flat = list(zip(top.values.tolist(), top.indices.tolist()))
            candidates = [(v, beams[i // logp.shape[1]][1] + [i % logp.shape[1]]) for v, i in flat]
            if mistake == "finished keep going":
                beams = candidates
                continue
            finished += [(s, seq) for s, seq in candidates if seq[-1] == eos]
            beams = [(s, seq) for s, seq in candidates if seq[-1] != eos]
            if mistake == "first finished" and finished:
                return torch.tensor([finished[0][1]]), finished[0][0]
            if not beams or (finished and max(finished)[0] >= beams[0][0]):
                break
        score, best = max(finished or beams)
        if mistake == "score with probabilities":
            score = sum(logp.exp().max().tolist() for _ in best)
        return torch.tensor([best]), score
    return my_beam_search


def test_beam_right_passes_and_the_course_version_too():
    assert checks.check_beam_search(learners_beam()).passed
    assert checks.check_beam_search(beam_search).passed


@pytest.mark.parametrize("mistake, named", [
    ("probabilities", "You added probabilities"),
    ("last token only", "the last token's log-probability alone"),
    ("best beam only", "You extended only the best beam"),
    ("finished keep going", "set it aside with its score"),
    ("first finished", "returned the first hypothesis to finish"),
    ("score with probabilities", "the tokens are right, but the score is not"),
])
def test_a_beam_mistake_is_named(mistake, named):
    result = checks.check_beam_search(learners_beam(mistake))
    assert not result.passed and named in result.message, result.message


def test_beam_stub_and_shape():
    assert "Not done yet" in checks.check_beam_search(lambda *a, **k: None).message
    flat = lambda *a, **k: (learners_beam()(*a, **k)[0][0], 0.0)  # noqa: E731
    assert "must be a tensor (1, L)" in checks.check_beam_search(flat).message


def test_the_beam_checks_model_makes_beam_search_differ_from_greedy():
    """Otherwise a greedy decoder would pass the beam check."""
    def greedy_as_beam(model, src, *, bos, eos, max_len, beam_width=4):
        out = greedy_decode(model, src, bos=bos, eos=eos, max_len=max_len)
        return out, 0.0
    assert not checks.check_beam_search(greedy_as_beam).passed


def solutions():
    """The code of notebook 08's solution cells, by the name each defines."""
    notebook = json.loads((ROOT / "notebooks" / "08_encoder_decoder.ipynb").read_text())
    found = {}
    for cell in notebook["cells"]:
        if "solution" in cell["metadata"].get("tags", []):
            for code in re.findall(r"```python\n(.*?)```", "".join(cell["source"]), re.S):
                found[re.search(r"^(?:def|class) (\w+)", code, re.M).group(1)] = code
    return found


SETUP = """
import torch
from torch import nn
import helpers
from helpers import masks
from helpers.encoder import MLP, LayerNorm
MultiHeadAttention = helpers.yours.piece("MultiHeadAttention")
"""


@pytest.mark.parametrize("name, check, defines", [
    ("DecoderBlock", "check_decoder_block_module", ["MyDecoderBlock"]),
    ("greedy_decode", "check_greedy_decode", ["my_next_token", "my_greedy_decode"]),
    ("beam_search", "check_beam_search", ["my_beam_search"]),
])
def test_the_notebooks_solution_passes_and_is_kept(notebook, capsys, name, check, defines):
    code = solutions()
    notebook_cell(SETUP + "\n\n".join(code[d] for d in defines), notebook)
    result = getattr(exercises, check)(notebook[defines[-1]])
    assert result.passed and f"Kept as your {name}" in result.message, result.message
    mine = yours.piece(name)
    assert f"Your {name} (it passed {check})" in capsys.readouterr().out
    assert yours.is_yours(mine)
    if name == "greedy_decode":  # the kept file carries the learner's helper with it
        assert "def my_next_token" in (yours.yours_dir() / "greedy_decode.py").read_text()
