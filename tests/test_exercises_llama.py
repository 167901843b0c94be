"""Notebook 14's checks of the learner's Llama modules: the reference solutions pass (the
block is kept as a piece that helpers.llama.Llama builds from), and each named mistake is
named. The mistakes are switched on by flags in the solution's own namespace, as a learner
would type them."""
import textwrap

import pytest
import torch

from helpers import exercises, yours
from helpers.llama import Llama, LlamaBlock, LlamaConfig
from notebook_cells import notebook_cell

SOLUTIONS = '''
import math
import torch
from torch import nn
from torch.nn import functional as F
from helpers.attention import scaled_dot_product_attention
from helpers.masks import causal_mask
from helpers.positional import rotary


class MyRMSNorm(nn.Module):
    def __init__(self, d_model, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))

    def forward(self, x):
        if CENTRED:
            x = x - x.mean(-1, keepdim=True)
        x = x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + (self.eps if EPS else 0.0))
        return x * self.weight if SCALED else x


class MySwiGLU(nn.Module):
    def __init__(self, d_model, d_ff):
        super().__init__()
        self.gate = nn.Linear(d_model, d_ff, bias=False)
        self.up = nn.Linear(d_model, d_ff, bias=False)
        self.down = nn.Linear(d_ff, d_model, bias=False)

    def forward(self, x):
        if SILU_ON_UP:
            return self.down(self.gate(x) * F.silu(self.up(x)))
        return self.down((F.gelu if GELU else F.silu)(self.gate(x)) * self.up(x))


class MyGroupedQueryAttention(nn.Module):
    def __init__(self, d_model, num_heads, num_kv_heads, rope_base=10_000.0):
        super().__init__()
        self.num_heads, self.num_kv_heads = num_heads, num_kv_heads
        self.head_dim, self.rope_base = d_model // num_heads, rope_base
        D = self.head_dim
        self.q_proj = nn.Linear(d_model, num_heads * D, bias=BIAS)
        self.k_proj = nn.Linear(d_model, num_kv_heads * D, bias=False)
        self.v_proj = nn.Linear(d_model, num_kv_heads * D, bias=False)
        self.out_proj = nn.Linear(num_heads * D, d_model, bias=False)

    def forward(self, x, mask=None, cache=None, need_weights=False):
        B, T, _ = x.shape
        H, Hkv, D = self.num_heads, self.num_kv_heads, self.head_dim
        past = cache.length if cache is not None and OFFSET else 0
        base = self.rope_base if OWN_BASE else 10_000.0
        q = self.q_proj(x).view(B, T, H, D).transpose(1, 2)
        k = self.k_proj(x).view(B, T, Hkv, D).transpose(1, 2)
        v = self.v_proj(x).view(B, T, Hkv, D).transpose(1, 2)
        q = rotary(q, base, offset=past) if ROTATE_Q else q
        k = rotary(k, base, offset=past) if ROTATE_K else k
        if cache is not None and APPEND:
            k, v = cache.append(k, v)
        if mask is None or not USE_MASK:
            mask = causal_mask(T, k.shape[2])
        groups = H // Hkv
        if TILED:
            k, v = k.repeat(1, groups, 1, 1), v.repeat(1, groups, 1, 1)
        else:
            k, v = k.repeat_interleave(groups, dim=1), v.repeat_interleave(groups, dim=1)
        if SCALE:
            out, weights = scaled_dot_product_attention(q, k, v, mask)
        else:
            out, weights = scaled_dot_product_attention(q * math.sqrt(D), k, v, mask)
        out = out.transpose(1, 2).reshape(B, T, H * D) if MERGE_TRANSPOSED else out.reshape(B, T, H * D)
        return self.out_proj(out), (weights if need_weights else None)


class MyLlamaBlock(nn.Module):
    def __init__(self, config):
        super().__init__()
        c = config
        self.norm1 = MyRMSNorm(c.d_model, c.norm_eps)
        self.attn = MyGroupedQueryAttention(c.d_model, c.num_heads, c.num_kv_heads, c.rope_base)
        self.norm2 = MyRMSNorm(c.d_model, c.norm_eps)
        self.mlp = MySwiGLU(c.d_model, c.d_ff)

    def forward(self, x, mask=None, cache=None, need_weights=False):
        if POST_NORM:
            x = self.norm1(x + self.attn(x, mask, cache, need_weights)[0])
            return self.norm2(x + self.mlp(x)), None
        attended, weights = self.attn(self.norm1(x), mask, cache, need_weights)
        if PARALLEL:
            return x + attended + self.mlp(self.norm2(x)), weights
        x = x + attended if ATTENTION_RESIDUAL else attended
        y = self.mlp((self.norm2 if NORM2 else self.norm1)(x))
        return (x + y if MLP_RESIDUAL else y), weights
'''

RIGHT = dict(CENTRED=False, EPS=True, SCALED=True, SILU_ON_UP=False, GELU=False, BIAS=False,
             OFFSET=True, OWN_BASE=True, ROTATE_Q=True, ROTATE_K=True, APPEND=True,
             USE_MASK=True, TILED=False, SCALE=True, MERGE_TRANSPOSED=True, POST_NORM=False,
             PARALLEL=False, ATTENTION_RESIDUAL=True, NORM2=True, MLP_RESIDUAL=True)


def solutions(tmp_path, monkeypatch, **flags):
    monkeypatch.setenv("COURSE_PROGRESS", str(tmp_path / "progress.json"))
    return notebook_cell(SOLUTIONS, {"__name__": "__main__", **RIGHT, **flags})


def test_the_solutions_pass_and_the_block_is_kept(tmp_path, monkeypatch, capsys):
    ns = solutions(tmp_path, monkeypatch)
    assert exercises.check_llama_modules(ns["MyRMSNorm"], ns["MySwiGLU"]).passed
    assert exercises.check_gqa_module(ns["MyGroupedQueryAttention"]).passed
    result = exercises.check_llama_block(ns["MyLlamaBlock"])
    assert result.passed, result.message
    assert "LlamaBlock" in yours.kept_pieces()
    block = yours.load_piece("LlamaBlock")
    assert block is not LlamaBlock and block.__name__ == "MyLlamaBlock"
    assert yours.piece("LlamaBlock") is not LlamaBlock
    assert "Your LlamaBlock (it passed check_llama_block)" in capsys.readouterr().out


def test_a_llama_built_from_the_learners_block_equals_the_course_one(tmp_path, monkeypatch):
    ns = solutions(tmp_path, monkeypatch)
    config = LlamaConfig(vocab_size=40, d_model=24, num_layers=2, num_heads=6, num_kv_heads=2,
                         d_ff=32, rope_base=500.0, context_length=32)
    torch.manual_seed(0)
    course = Llama(config).eval()
    learners = Llama(config, block=ns["MyLlamaBlock"]).eval()
    learners.load_state_dict(course.state_dict())
    idx = torch.randint(0, 40, (2, 7))
    torch.testing.assert_close(learners(idx)[0], course(idx)[0], atol=1e-5, rtol=1e-4)
    caches = learners.new_caches()
    stepped = torch.cat([learners.step(idx[:, :4], caches)]
                        + [learners.step(idx[:, t:t + 1], caches) for t in range(4, 7)], dim=1)
    torch.testing.assert_close(stepped, course(idx)[0], atol=1e-5, rtol=1e-4)
    with pytest.raises(TypeError, match="nn.Module class"):
        Llama(config, block=ns["MyLlamaBlock"](config))


@pytest.mark.parametrize("flag, words", [
    ("CENTRED", "LayerNorm"), ("EPS", "eps"), ("SCALED", "scale weight")])
def test_check_llama_modules_names_the_norm_mistake(tmp_path, monkeypatch, flag, words):
    ns = solutions(tmp_path, monkeypatch, **{flag: not RIGHT[flag]})
    result = exercises.check_llama_modules(ns["MyRMSNorm"], ns["MySwiGLU"])
    assert not result.passed and "RMSNorm" in result.message and words in result.message


@pytest.mark.parametrize("flag, words", [("SILU_ON_UP", "not on the up"), ("GELU", "GELU")])
def test_check_llama_modules_names_the_mlp_mistake(tmp_path, monkeypatch, flag, words):
    ns = solutions(tmp_path, monkeypatch, **{flag: True})
    result = exercises.check_llama_modules(ns["MyRMSNorm"], ns["MySwiGLU"])
    assert not result.passed and "SwiGLU" in result.message and words in result.message


@pytest.mark.parametrize("flag, words", [
    ("TILED", "repeat_interleave"), ("ROTATE_K", "only the queries"),
    ("ROTATE_Q", "only the keys"), ("OWN_BASE", "self.rope_base"), ("SCALE", "√D"),
    ("MERGE_TRANSPOSED", "transpose(1, 2)"), ("BIAS", "state dict"),
    ("USE_MASK", "mask was ignored"), ("OFFSET", "offset=cache.length"),
    ("APPEND", "cache.append")])
def test_check_gqa_module_names_the_mistake(tmp_path, monkeypatch, flag, words):
    ns = solutions(tmp_path, monkeypatch, **{flag: not RIGHT[flag]})
    result = exercises.check_gqa_module(ns["MyGroupedQueryAttention"])
    assert not result.passed and words in result.message, result.message


def test_check_gqa_module_names_missing_rope(tmp_path, monkeypatch):
    ns = solutions(tmp_path, monkeypatch, ROTATE_Q=False, ROTATE_K=False)
    result = exercises.check_gqa_module(ns["MyGroupedQueryAttention"])
    assert not result.passed and "RoPE is missing" in result.message


@pytest.mark.parametrize("flags, words", [
    ({"POST_NORM": True}, "post-norm"), ({"ATTENTION_RESIDUAL": False}, "around the attention"),
    ({"MLP_RESIDUAL": False}, "around the MLP"), ({"NORM2": False}, "norm1 twice"),
    ({"PARALLEL": True}, "the block's input")])
def test_check_llama_block_names_the_mistake(tmp_path, monkeypatch, flags, words):
    ns = solutions(tmp_path, monkeypatch, **flags)
    result = exercises.check_llama_block(ns["MyLlamaBlock"])
    assert not result.passed and words in result.message, result.message
    assert "LlamaBlock" not in yours.kept_pieces()


def test_the_checks_say_not_done_for_a_missing_class():
    for check in (exercises.check_gqa_module, exercises.check_llama_block):
        assert "Not done yet" in check(None).message
    assert "Not done yet" in exercises.check_llama_modules(None, None).message


ENCODE = '''
import math
from helpers.byte_bpe import bytes_to_unicode, pre_tokenize

byte_char = bytes_to_unicode()


def my_encode(text):
    ids = []
    for piece in (tokenizer.split_special(text) if SPECIAL else [text]):
        if SPECIAL and piece in tokenizer.special:
            ids.append(tokenizer.token_to_id[piece])
            continue
        for word in (pre_tokenize(piece) if WORDS else [piece]):
            units = word.encode("utf-8") if UTF8 else [ord(c) for c in word if ord(c) < 256]
            symbols = [(byte_char[b] if ALPHABET else chr(b)) for b in units]
            while len(symbols) >= 2:
                pairs = list(zip(symbols, symbols[1:]))
                if BY_RANK:
                    best = min(pairs, key=lambda p: ranks.get(p, math.inf))
                else:
                    best = next((p for p in pairs if p in ranks), None)
                if best not in ranks:
                    break
                i = pairs.index(best)
                symbols[i:i + 2] = [best[0] + best[1]]
            ids += [tokenizer.token_to_id[s] for s in symbols]
    return ids
'''

ENCODE_RIGHT = dict(SPECIAL=True, WORDS=True, UTF8=True, ALPHABET=True, BY_RANK=True)


@pytest.fixture(scope="module")
def smollm2_tokenizer():
    from helpers.byte_bpe import ByteLevelBPE
    from helpers.llama import gguf_path, read_gguf

    metadata, _ = read_gguf(gguf_path())
    ranks = {tuple(m.split(" ")): r for r, m in enumerate(metadata["tokenizer.ggml.merges"])}
    return ByteLevelBPE.from_gguf(metadata), ranks


@pytest.mark.parametrize("change, passed, words", [
    ({}, True, "SmolLM2's ids on all 5 texts"),
    (dict(SPECIAL=False), False, "Cut the special tokens out first"),
    (dict(WORDS=False), False, "Pre-tokenize each piece into words"),
    (dict(UTF8=False), False, "to UTF-8 bytes first"),
    (dict(BY_RANK=False), False, "the pair of lowest rank"),
    (dict(ALPHABET=False), False, "GPT-2's printable alphabet"),
])
def test_check_byte_level_encode(smollm2_tokenizer, change, passed, words):
    tokenizer, ranks = smollm2_tokenizer
    namespace = {"__name__": "__main__", "tokenizer": tokenizer, "ranks": ranks,
                 **ENCODE_RIGHT, **change}
    exec(textwrap.dedent(ENCODE), namespace)
    result = exercises.check_byte_level_encode(namespace["my_encode"], tokenizer)
    assert result.passed is passed and words in result.message, result.message
