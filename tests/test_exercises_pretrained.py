"""Notebook 13's exercise checks: each named mistake is named (one test per mistake), the
right answer passes, and a passing loader is kept as the learner's piece ``load_minilm``."""
import itertools

import pytest
import torch

from helpers import exercises, yours
from helpers.pretrained import load_state
from notebook_cells import notebook_cell

QKV = ("query", "key", "value")


@pytest.fixture()
def notebook(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_PROGRESS", str(tmp_path / "progress.json"))
    return {"__name__": "__main__"}


# -- Exercise 1: fuse q, k, v -------------------------------------------------------------
def fuse(order=QKV, dim=0, transpose_each=False, transpose=False, bias=True, layer=None,
         stack=False, bias_order=None):
    """The solution, with the choices that a mistake changes."""
    def fuse_qkv(checkpoint, i):
        p = f"encoder.layer.{i if layer is None else layer}.attention.self."
        ws = [checkpoint[f"{p}{n}.weight"] for n in order]
        ws = [w.T for w in ws] if transpose_each else ws
        weight = torch.stack(ws) if stack else torch.cat(ws, dim=dim)
        weight = weight.T if transpose else weight
        b = torch.cat([checkpoint[f"{p}{n}.bias"] for n in (bias_order or order)])
        if bias == "missing":
            return weight
        return weight, (b if bias is True else None if bias is None else torch.zeros_like(b))
    return fuse_qkv


def test_fuse_qkv_passes():
    assert exercises.check_fuse_qkv(fuse()).passed


@pytest.mark.parametrize("order", [o for o in itertools.permutations(QKV) if o != QKV])
def test_fuse_qkv_names_the_wrong_order(order):
    result = exercises.check_fuse_qkv(fuse(order=order))
    assert not result.passed and "Wrong order" in result.message


@pytest.mark.parametrize("kwargs, named", [
    (dict(transpose_each=True), "transposed each matrix"),
    (dict(transpose=True), "transposed the fused weight"),
    (dict(dim=1), "side by side"),
    (dict(stack=True), "torch.stack"),
    (dict(bias=None), "forgot the biases"),
    (dict(bias="zeros"), "forgot the biases"),
    (dict(bias="missing"), "forgot the biases"),
    (dict(layer=0), "layer 0"),
    (dict(bias_order=("key", "query", "value")), "the bias is not"),
])
def test_fuse_qkv_names_the_mistake(kwargs, named):
    result = exercises.check_fuse_qkv(fuse(**kwargs))
    assert not result.passed and named in result.message, result.message


def test_fuse_qkv_not_done_and_errors():
    assert "Not done yet" in exercises.check_fuse_qkv(lambda c, i: None).message
    assert "KeyError" in exercises.check_fuse_qkv(lambda c, i: c["nope"]).message


# -- Exercise 3: the whole loader -----------------------------------------------------------
LOADER = '''
import torch


def my_fuse_qkv(checkpoint, i):
    p = f"encoder.layer.{i}.attention.self."
    weight = torch.cat([checkpoint[f"{p}{n}.weight"] for n in ["query", "key", "value"]], dim=0)  # (3C, C)
    bias = torch.cat([checkpoint[f"{p}{n}.bias"] for n in ["query", "key", "value"]], dim=0)  # (3C,)
    return weight, bias


def my_layer_mapping(checkpoint, i):
    p = f"encoder.layer.{i}."
    state = {}
    state["attn.in_proj.weight"], state["attn.in_proj.bias"] = my_fuse_qkv(checkpoint, i)
    for hf, ours in [("attention.output.dense", "attn.out_proj"),
                     ("attention.output.LayerNorm", "norm1"),
                     ("intermediate.dense", "mlp.up"), ("output.dense", "mlp.down"),
                     ("output.LayerNorm", "norm2")]:
        for kind in ["weight", "bias"]:
            state[f"{ours}.{kind}"] = checkpoint[f"{p}{hf}.{kind}"]
    return state


def my_load_state(model, checkpoint):
    state = {}
    for hf, ours in [("word_embeddings", "word"), ("position_embeddings", "position"),
                     ("token_type_embeddings", "segment")]:
        state[f"embeddings.{ours}.weight"] = checkpoint[f"embeddings.{hf}.weight"]
    for kind in ("weight", "bias"):
        state[f"embeddings.norm.{kind}"] = checkpoint[f"embeddings.LayerNorm.{kind}"]
        state[f"pooler.{kind}"] = checkpoint[f"pooler.dense.{kind}"]
    for i in range(len(model.blocks)):
        for name, tensor in my_layer_mapping(checkpoint, i).items():
            state[f"blocks.{i}.{name}"] = tensor
    model.load_state_dict(state)
    return model
'''


def test_a_passing_loader_is_kept_and_loads_again(notebook, capsys):
    notebook_cell(LOADER, notebook)
    result = exercises.check_load_minilm(notebook["my_load_state"])
    assert result.passed, result.message
    text = (yours.yours_dir() / "load_minilm.py").read_text()
    assert "def my_layer_mapping" in text and "def my_fuse_qkv" in text
    mine = yours.piece("load_minilm")
    assert capsys.readouterr().out.startswith("Your load_minilm (it passed check_load_minilm)")
    assert yours.is_yours(mine) and mine is not load_state


def test_without_a_kept_loader_the_course_load_state_is_used(notebook, capsys):
    assert yours.piece("load_minilm") is load_state
    assert "The course's load_minilm" in capsys.readouterr().out


def test_the_course_load_state_passes_its_own_check():
    assert exercises.check_load_minilm(load_state).passed


def loader(skip=(), strict=False, order=QKV, transpose=False, swap_norms=False,
           same_layer=False, position_ids=False, returns="model", swap_mlp=False):
    """A loader that copies by the course's table with one mistake; strict=True loads as
    ``load_state_dict`` does by default (so forgetting a tensor raises)."""
    from helpers.pretrained import weight_mapping

    def load(model, checkpoint):
        state = {}
        for row in weight_mapping(model.config):
            names = list(row.checkpoint)
            if len(names) == 3:
                names = [n.replace("query", "{}").replace("key", "{}").replace("value", "{}")
                         .format(o) for n, o in zip(names, order)]
            if same_layer:
                names = [n.replace("layer.1.", "layer.0.") for n in names]
            if swap_norms:
                names = [n.replace("attention.output.LayerNorm", "#").replace(
                    "output.LayerNorm", "attention.output.LayerNorm").replace(
                    "#", "output.LayerNorm") for n in names]
            if swap_mlp:
                names = [n.replace("intermediate.dense", "#").replace(
                    "output.dense", "intermediate.dense").replace("#", "output.dense")
                    if "attention" not in n else n for n in names]
            parts = [checkpoint[n] for n in names]
            if transpose:
                parts = [p.T if p.dim() == 2 and "embeddings" not in n else p
                         for p, n in zip(parts, names)]
            if any(row.ours.startswith(s) or (s == ".bias" and row.ours.endswith(s))
                   for s in skip):
                continue
            state[row.ours] = torch.cat(parts) if len(parts) == 3 else parts[0]
        if position_ids:
            state["embeddings.position_ids"] = checkpoint["embeddings.position_ids"]
        model.load_state_dict(state, strict=strict or position_ids)
        return {"model": model, "none": None, "copy": type(model)(model.config)}[returns]
    return load


@pytest.mark.parametrize("strict", [False, True], ids=["in place", "strict"])
@pytest.mark.parametrize("skip, named", [
    (("embeddings.segment",), "token type (segment) embeddings"),
    (("embeddings.position",), "position embeddings"),
    (("embeddings.word",), "word embeddings"),
    (("embeddings.norm",), "embeddings' LayerNorm"),
    (("pooler",), "forgot the pooler"),
    ((".bias",), "forgot biases"),
])
def test_load_names_a_forgotten_tensor(skip, named, strict):
    result = exercises.check_load_minilm(loader(skip=skip, strict=strict))
    assert not result.passed and named in result.message, result.message


@pytest.mark.parametrize("kwargs, named", [
    (dict(order=("key", "query", "value")), "wrong order"),
    (dict(transpose=True), "transpose"),
    (dict(swap_norms=True), "swapped the LayerNorms"),
    (dict(same_layer=True), "layer 0's tensors"),
    (dict(position_ids=True), "position_ids is a buffer"),
    (dict(returns="none"), "Return the model"),
    (dict(returns="copy"), "Load into the model you were given"),
    (dict(swap_mlp=True), "swap intermediate.dense"),
])
def test_load_names_the_mistake(kwargs, named):
    result = exercises.check_load_minilm(loader(**kwargs))
    assert not result.passed and named in result.message, result.message


def test_load_reports_the_learners_error():
    def broken(model, checkpoint):
        raise KeyError("encoder.layer.9.attention.self.query.weight")
    result = exercises.check_load_minilm(broken)
    assert not result.passed and "KeyError" in result.message
