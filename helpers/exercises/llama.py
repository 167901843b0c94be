"""Exercise checks of Notebook 14, a modern small LLM: RMSNorm, SwiGLU, grouped-query
attention (as functions, then as modules), the Llama block, one Q4_1 block, the chat
prompt."""
import math

import torch
from torch.nn import functional as F

from helpers._checks import shape_str
from helpers.exercises._common import Check, _diagnose, _module_or_error, _perturbed
from helpers.yours import builds


def _rms_inputs():
    g = torch.Generator().manual_seed(12)
    x = torch.randn(2, 3, 8, generator=g) * 3 + 1.5  # a non-zero mean, so LayerNorm differs
    weight = torch.rand(8, generator=g) + 0.5
    return x, weight, 0.1  # a large eps, so that leaving it out (or misplacing it) shows


def check_rms_norm(rms_norm):
    """Exercise: ``rms_norm(x, weight, eps)`` -> x / sqrt(mean(x²) + eps) · weight over the
    last dimension."""
    x, w, eps = _rms_inputs()
    ms = x.pow(2).mean(-1, keepdim=True)
    right = x / torch.sqrt(ms + eps) * w
    centred = x - x.mean(-1, keepdim=True)
    mistakes = {
        "You subtracted the mean first: that is LayerNorm. RMSNorm only divides by the root "
        "mean square, sqrt(mean(x²) + eps).":
            centred / torch.sqrt(centred.pow(2).mean(-1, keepdim=True) + eps) * w,
        "You left out eps: add it to mean(x²) under the square root.": x / torch.sqrt(ms) * w,
        "You added eps after the square root: it belongs inside, sqrt(mean(x²) + eps).":
            x / (torch.sqrt(ms) + eps) * w,
        "You forgot the learned scale: multiply by weight at the end.": x / torch.sqrt(ms + eps),
        "You took the mean over the wrong dimension: the features are the last one (dim=-1).":
            x / torch.sqrt(x.pow(2).mean(1, keepdim=True) + eps) * w,
        "You divided by sqrt(sum(x²)), not sqrt(mean(x²)): divide the sum by C.":
            x / torch.sqrt(x.pow(2).sum(-1, keepdim=True) + eps) * w,
        "You divided by mean(x²) itself: take its square root.": x / (ms + eps) * w,
    }
    return _diagnose(rms_norm(x.clone(), w.clone(), eps), right, mistakes,
                     "Matches helpers.llama.RMSNorm: x / sqrt(mean(x²) + eps) · weight.")


def check_swiglu(swiglu):
    """Exercise: ``swiglu(x, w_gate, w_up, w_down)`` -> down(silu(gate(x)) ⊙ up(x)), each
    weight (out, in) as nn.Linear stores it, no biases."""
    g = torch.Generator().manual_seed(13)
    C, F_ = 6, 10
    x = torch.randn(2, 4, C, generator=g)
    w_gate, w_up = torch.randn(F_, C, generator=g), torch.randn(F_, C, generator=g)
    w_down = torch.randn(C, F_, generator=g)
    gate, up = x @ w_gate.T, x @ w_up.T
    right = (F.silu(gate) * up) @ w_down.T
    mistakes = {
        "You applied silu to the up projection, not the gate: silu(gate(x)) ⊙ up(x).":
            (gate * F.silu(up)) @ w_down.T,
        "You used GELU: SwiGLU's gate uses silu(z) = z · sigmoid(z).":
            (F.gelu(gate) * up) @ w_down.T,
        "You used sigmoid(gate): silu is z · sigmoid(z), the gate times its sigmoid.":
            (torch.sigmoid(gate) * up) @ w_down.T,
        "You left out the up projection: the gate multiplies up(x) feature by feature.":
            F.silu(gate) @ w_down.T,
        "You applied silu after multiplying: silu(gate(x) ⊙ up(x)) is not the formula.":
            F.silu(gate * up) @ w_down.T,
        "You added gate and up instead of multiplying them.": (F.silu(gate) + up) @ w_down.T,
        "You forgot the down projection: the result must be back to width C.": F.silu(gate) * up,
    }
    return _diagnose(swiglu(x.clone(), w_gate.clone(), w_up.clone(), w_down.clone()), right,
                     mistakes, "Matches helpers.llama.SwiGLU: down(silu(gate(x)) ⊙ up(x)).")


def _gqa_inputs():
    g = torch.Generator().manual_seed(14)
    B, H, Hkv, T, D = 2, 6, 2, 5, 4
    return (torch.randn(B, H, T, D, generator=g), torch.randn(B, Hkv, T, D, generator=g),
            torch.randn(B, Hkv, T, D, generator=g))


def _attend(q, k, v, causal=True, scale=True):
    scores = q @ k.transpose(-2, -1) / (math.sqrt(q.shape[-1]) if scale else 1.0)
    if causal:
        T = q.shape[-2]
        scores = scores.masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf"))
    return scores.softmax(-1) @ v


def check_gqa_attention(gqa_attention):
    """Exercise: ``gqa_attention(q, k, v)``: q (B, H, T, D), k and v (B, H_kv, T, D), causal
    -> (B, H, T, D); query head h reads key/value head h // (H / H_kv)."""
    q, k, v = _gqa_inputs()
    G = q.shape[1] // k.shape[1]
    kk, vv = k.repeat_interleave(G, 1), v.repeat_interleave(G, 1)
    right = _attend(q, kk, vv)
    tiled_k, tiled_v = k.repeat(1, G, 1, 1), v.repeat(1, G, 1, 1)
    mistakes = {
        "You tiled the key/value heads (0, 1, 0, 1, ...) with .repeat: query head h reads "
        "key/value head h // groups, so heads 0, 1, 2 share head 0 (repeat_interleave).":
            _attend(q, tiled_k, tiled_v),
        "You forgot the causal mask: a token must not attend to later tokens.":
            _attend(q, kk, vv, causal=False),
        "You did not divide the scores by √D.": _attend(q, kk, vv, scale=False),
        "Every query head read key/value head 0: each group of query heads has its own "
        "key/value head.": _attend(q, k[:, :1].expand_as(kk), v[:, :1].expand_as(vv)),
    }
    return _diagnose(gqa_attention(q.clone(), k.clone(), v.clone()), right, mistakes,
                     "Matches grouped-query attention: each key/value head serves its group "
                     "of query heads.")


def _q4_1_block():
    """One Q4_1 block: d and m as float16, 32 codes in 0..15 packed two per byte."""
    g = torch.Generator().manual_seed(15)
    d, m = torch.tensor([0.037], dtype=torch.float16), torch.tensor([-0.29], dtype=torch.float16)
    codes = torch.randint(0, 16, (32,), generator=g, dtype=torch.uint8)
    packed = codes[:16] | (codes[16:] << 4)  # byte j: weight j low, weight j + 16 high
    raw = torch.cat([d.view(torch.uint8), m.view(torch.uint8), packed])  # (20,)
    return raw, d.float(), m.float(), codes.float(), packed


def check_q4_1_block(dequantize_block):
    """Exercise: ``dequantize_block(raw)``: 20 bytes (uint8) -> 32 float32 weights:
    d = raw[0:2] and m = raw[2:4] as float16, codes low nibbles (weights 0..15) then high
    nibbles (weights 16..31), weight = d · code + m."""
    raw, d, m, codes, packed = _q4_1_block()
    low, high = (packed & 15).float(), (packed >> 4).float()
    right = d * codes + m
    interleaved = torch.stack([low, high], 1).flatten()
    mistakes = {
        "You interleaved the nibbles (low, high, low, high, ...): all 16 low nibbles come "
        "first (weights 0..15), then the 16 high ones (weights 16..31).": d * interleaved + m,
        "You put the high nibbles first: the low 4 bits of byte j are weight j.":
            d * torch.cat([high, low]) + m,
        "You forgot the minimum m: weight = d · code + m.": d * codes,
        "You swapped the scale and the minimum: the first float16 (bytes 0-1) is the scale d, "
        "the second (bytes 2-3) the minimum m.": m * codes + d,
        "You centred the codes (code - 8) as Q4_0 does: Q4_1 stores a minimum instead, "
        "weight = d · code + m.": d * (codes - 8) + m,
    }
    got = dequantize_block(raw.clone())
    return _diagnose(got.float() if isinstance(got, torch.Tensor) else got, right, mistakes,
                     "Matches helpers.llama.dequantize_q4_1 on one block: d · code + m.")


def check_chat_prompt(chat_prompt):
    """Exercise: ``chat_prompt(question)`` -> SmolLM2's prompt text for one user question."""
    q = "Why is the sky blue?"
    system = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
    right = (f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{q}<|im_end|>\n"
             "<|im_start|>assistant\n")
    got = chat_prompt(q)
    if got is None:
        return Check(False, "Not done yet: your function returned None. Fill in its body and "
                            "return the text.")
    if not isinstance(got, str):
        return Check(False, f"Expected a str, got {type(got).__name__}.")
    if got == right:
        return Check(True, "The same text as the model's chat template: system, user, then "
                           "the assistant's turn opened.")
    if got == right.removesuffix("<|im_start|>assistant\n"):
        return Check(False, "You did not open the assistant's turn: end with "
                            "'<|im_start|>assistant\\n', so that the model answers instead of "
                            "writing another turn.")
    if got == right[right.index("<|im_start|>user"):]:
        return Check(False, "You left out the system turn: the template adds the default "
                            "system message when the first message is not one.")
    if got.replace("<|im_end|>", "") == right.replace("<|im_end|>", ""):
        return Check(False, "You left out <|im_end|>: every turn ends with it (it is also the "
                            "token the model emits when its answer is done).")
    if got.replace("\n", "") == right.replace("\n", ""):
        return Check(False, "The newlines are missing: after each role name and after each "
                            "<|im_end|> comes '\\n'.")
    if got.replace("\n", "", 1) == right.replace("\n", "", 1) or got.replace(" ", "") == right:
        return Check(False, "A newline or a space is off: compare with the template exactly.")
    return Check(False, "The text differs from the template; compare it with "
                        "tokenizer.chat_prompt([{'role': 'user', 'content': question}]).")


# ---------------------------------------------------------------------------------------
# The block as modules: RMSNorm and SwiGLU, grouped-query attention, the Llama block


def _module_check(mine, reference, run, case, variants):
    """``run(module, x)`` of ``mine`` and of ``reference`` (same weights) on a fixed input,
    forward and backward; None if they agree, else a Check naming the mistake (one of
    ``variants(x)``: {message: wrong output}) or the difference."""
    from helpers.exercises.windows import _state_dict_error
    error = _state_dict_error(mine, reference, case.split(",")[0])
    if error is not None:
        return error
    mine.load_state_dict(reference.state_dict())
    mine.eval()
    width = next(reference.parameters()).shape[-1]
    x = torch.randn(2, 5, width, generator=torch.Generator().manual_seed(16))
    xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    try:
        got = run(mine, xa)
    except Exception as error:  # the learner's forward: any error is theirs to see
        return Check(False, f"Calling your {case} failed: {type(error).__name__}: {error}")
    expected = run(reference, xb)
    expected = expected[0] if isinstance(expected, tuple) else expected
    if isinstance(got, tuple):
        got = got[0]
    if not isinstance(got, torch.Tensor):
        return Check(False, f"Your {case}: expected a tensor, got {type(got).__name__}.")
    if got.shape != expected.shape:
        return Check(False, f"Your {case}: wrong shape: expected {shape_str(expected.shape)}, "
                            f"got {shape_str(got.shape)}.")
    if not torch.allclose(got.detach(), expected.detach(), atol=1e-5, rtol=1e-4):
        with torch.no_grad():
            for message, wrong in variants(x).items():
                if torch.allclose(got.detach(), wrong, atol=1e-5, rtol=1e-4, equal_nan=True):
                    return Check(False, f"Your {case}: {message}")
        diff = (got.detach() - expected.detach()).abs().max().item()
        return Check(False, f"Your {case}: right shape, wrong values (largest difference "
                            f"{diff:.3g}).")
    grad = torch.randn(expected.shape, generator=torch.Generator().manual_seed(17))
    (got * grad).sum().backward()
    (expected * grad).sum().backward()
    mine_params = dict(mine.named_parameters())
    pairs = [("the input", xa.grad, xb.grad)] + [
        (name, mine_params[name].grad, p.grad) for name, p in reference.named_parameters()]
    for name, a, b in pairs:
        if a is None or not torch.allclose(a, b, atol=1e-5, rtol=1e-4):
            return Check(False, f"Your {case}: the output is right, but the gradient of {name} "
                                f"is not (is something detached, or computed without autograd?).")
    return None


def check_llama_modules(rms_norm_cls, swiglu_cls):
    """Exercise: ``class MyRMSNorm(nn.Module)`` built as ``cls(d_model, eps)`` with one
    parameter ``weight`` (C,), and ``class MySwiGLU(nn.Module)`` built as ``cls(d_model,
    d_ff)`` with ``gate``, ``up`` (C -> d_ff) and ``down`` (d_ff -> C), no biases: both
    (..., C) -> (..., C), compared with helpers.llama's RMSNorm and SwiGLU, forward and
    backward."""
    from helpers.llama import RMSNorm, SwiGLU
    C, d_ff, eps = 8, 12, 0.1
    norm, error = _module_or_error(rms_norm_cls, lambda c: c(C, eps))
    if error is not None:
        return error
    reference = _perturbed(lambda: RMSNorm(C, eps), seed=18)

    def norm_variants(x):
        w, ms = reference.weight, x.pow(2).mean(-1, keepdim=True)
        return {"you left out eps (or added it outside the square root).": x / ms.sqrt() * w,
                "the learned scale weight is not applied.": x / torch.sqrt(ms + eps),
                "you subtracted the mean: that is LayerNorm.":
                    F.layer_norm(x, (C,), eps=eps) * w}
    error = _module_check(norm, reference, lambda m, x: m(x), "RMSNorm", norm_variants)
    if error is not None:
        return error
    mlp, error = _module_or_error(swiglu_cls, lambda c: c(C, d_ff))
    if error is not None:
        return error
    reference = _perturbed(lambda: SwiGLU(C, d_ff), seed=19)

    def mlp_variants(x):
        r = reference
        return {"silu goes on the gate, not on the up projection.":
                    r.down(r.gate(x) * F.silu(r.up(x))),
                "you used GELU: the gate uses silu.": r.down(F.gelu(r.gate(x)) * r.up(x))}
    error = _module_check(mlp, reference, lambda m, x: m(x), "SwiGLU", mlp_variants)
    if error is not None:
        return error
    return Check(True, "Your RMSNorm and SwiGLU modules match helpers.llama's, forward and "
                       "backward (and so nn.RMSNorm and transformers' LlamaMLP).")


def _gqa_by_hand(ref, x, mask=None, *, interleave=True, base=None, rope=("q", "k"),
                 scale=True, merge_transposed=True):
    """The course's GroupedQueryAttention on x (B, T, C), by hand, one mistake switchable."""
    from helpers.masks import causal_mask
    from helpers.positional import rotary
    B, T, _ = x.shape
    H, Hkv, D = ref.num_heads, ref.num_kv_heads, ref.head_dim
    base = ref.rope_base if base is None else base
    q = ref.q_proj(x).view(B, T, H, D).transpose(1, 2)
    k = ref.k_proj(x).view(B, T, Hkv, D).transpose(1, 2)
    v = ref.v_proj(x).view(B, T, Hkv, D).transpose(1, 2)
    q = rotary(q, base) if "q" in rope else q
    k = rotary(k, base) if "k" in rope else k
    G = H // Hkv
    k, v = (k.repeat_interleave(G, 1), v.repeat_interleave(G, 1)) if interleave else \
        (k.repeat(1, G, 1, 1), v.repeat(1, G, 1, 1))
    scores = q @ k.transpose(-2, -1) / (math.sqrt(D) if scale else 1.0)
    scores = scores.masked_fill(~(causal_mask(T, T) if mask is None else mask), float("-inf"))
    out = scores.softmax(-1) @ v  # (B, H, T, D)
    out = out.transpose(1, 2).reshape(B, T, H * D) if merge_transposed else out.reshape(B, T, H * D)
    return ref.out_proj(out)


GQA_MISTAKES = {
    "you tiled the key/value heads (.repeat): query head h reads key/value head h // groups "
    "(repeat_interleave).": dict(interleave=False),
    "RoPE is missing: rotate the queries and the keys with rotary(..., self.rope_base, "
    "offset=...).": dict(rope=()),
    "only the queries are rotated: rotate the keys too, so that scores depend on the offset.":
        dict(rope=("q",)),
    "only the keys are rotated: rotate the queries too.": dict(rope=("k",)),
    "RoPE used base 10,000: use the model's base, self.rope_base.": dict(base=10_000.0),
    "you did not divide the scores by √D.": dict(scale=False),
    "you merged the heads without moving them back: (B, H, T, D) -> transpose(1, 2) -> "
    "(B, T, H·D).": dict(merge_transposed=False),
}


def check_gqa_module(cls):
    """Exercise: ``class MyGroupedQueryAttention(nn.Module)`` built as ``cls(d_model,
    num_heads, num_kv_heads, rope_base)``, with bias-free ``q_proj`` (C -> C), ``k_proj``,
    ``v_proj`` (C -> H_kv·D) and ``out_proj`` (C -> C), and ``forward(x, mask=None,
    cache=None, need_weights=False)`` -> (out (B, T, C), weights or None): causal when
    ``mask`` is None; with a ``KVCache``, RoPE starts at ``cache.length`` and the new keys and
    values are appended. Compared with helpers.llama.GroupedQueryAttention: forward and
    backward, with a padding mask, and one token at a time through the cache."""
    from helpers.llama import GroupedQueryAttention
    from helpers.masks import causal_mask
    from helpers.multihead import KVCache
    C, H, Hkv, base = 24, 6, 2, 50.0  # D = 4  # a small base: RoPE's angles differ visibly from 10,000
    mine, error = _module_or_error(cls, lambda c: c(C, H, Hkv, base))
    if error is not None:
        return error
    reference = _perturbed(lambda: GroupedQueryAttention(C, H, Hkv, base), seed=20)
    error = _module_check(
        mine, reference, lambda m, x: m(x), "grouped-query attention, causal",
        lambda x: {m: _gqa_by_hand(reference, x, **kw) for m, kw in GQA_MISTAKES.items()})
    if error is not None:
        return error
    keep = torch.tensor([5, 3])  # the second sequence has 2 padded keys
    mask = causal_mask(5, 5) & (torch.arange(5)[None, :] < keep[:, None])[:, None, None, :]
    error = _module_check(mine, reference, lambda m, x: m(x, mask), "grouped-query attention, "
                          "with a padding mask (B, 1, T, S)",
                          lambda x: {"the mask was ignored: with a mask given, use it instead "
                                     "of the causal one.": _gqa_by_hand(reference, x)})
    if error is not None:
        return error
    x = torch.randn(2, 5, C, generator=torch.Generator().manual_seed(21))
    with torch.no_grad():
        full = reference(x)[0]
        try:
            cache = KVCache()
            steps = [mine(x[:, :3], None, cache)[0]] + [mine(x[:, t:t + 1], None, cache)[0]
                                                       for t in (3, 4)]
        except Exception as error:  # the learner's forward: any error is theirs to see
            return Check(False, f"With a KVCache, your attention failed: "
                                f"{type(error).__name__}: {error}")
        stepped = torch.cat([s if isinstance(s, torch.Tensor) else torch.full_like(full[:, :1], float("nan"))
                             for s in steps], dim=1)
    if stepped.shape == full.shape and not torch.allclose(stepped, full, atol=1e-5, rtol=1e-4):
        first_agree = torch.allclose(stepped[:, :3], full[:, :3], atol=1e-5, rtol=1e-4)
        return Check(False, "With a KVCache, three tokens then one at a time do not give the "
                            "outputs of all five at once. " + (
                                "The first three agree, the later ones not: append the new "
                                "keys and values (k, v = cache.append(k, v)), and rotate the "
                                "new token by its position, offset=cache.length read before "
                                "appending." if first_agree else
                                "Even the first three differ: with a cache, attend to all its "
                                "keys with causal_mask(T, S), S = cache.length after appending."))
    if stepped.shape != full.shape:
        return Check(False, f"With a KVCache, the stepped outputs have shape "
                            f"{shape_str(stepped.shape)}, expected {shape_str(full.shape)}.")
    return Check(True, "Your grouped-query attention matches helpers.llama's: forward and "
                       "backward, with a padding mask, and token by token through the cache.")


def _llama_block_variants(ref, x):
    n1, n2, attn, mlp = ref.norm1, ref.norm2, (lambda z: ref.attn(z)[0]), ref.mlp
    post = n1(x + attn(x))
    return {
        "post-norm: you normalised after the residual. A Llama block is pre-norm: x = x + "
        "attn(norm1(x)), then x = x + mlp(norm2(x)).": n2(post + mlp(post)),
        "the residual around the attention is missing: x = x + attn(norm1(x))[0].":
            (lambda y: y + mlp(n2(y)))(attn(n1(x))),
        "the residual around the MLP is missing: x = x + mlp(norm2(x)).": mlp(n2(x + attn(n1(x)))),
        "you used norm1 twice: the MLP has its own RMSNorm, norm2.":
            (lambda y: y + mlp(n1(y)))(x + attn(n1(x))),
        "the MLP reads the block's input, not the attention's output: x = x + attn(...) first, "
        "then x + mlp(norm2(x)).": x + attn(n1(x)) + mlp(n2(x)),
    }


@builds("LlamaBlock", "helpers.llama:LlamaBlock")
def check_llama_block(cls):
    """Exercise: ``class MyLlamaBlock(nn.Module)`` built as ``cls(config)`` (a LlamaConfig),
    with ``norm1``, ``attn``, ``norm2``, ``mlp`` (the names of helpers.llama.LlamaBlock) and
    ``forward(x, mask=None, cache=None, need_weights=False)`` -> (x (B, T, C), the attention's
    weights). Compared with the course's block, forward and backward."""
    from helpers.llama import LlamaBlock, LlamaConfig
    config = LlamaConfig(vocab_size=16, d_model=24, num_layers=1, num_heads=6, num_kv_heads=2,
                         d_ff=20, rope_base=50.0, norm_eps=1e-5, context_length=16)
    mine, error = _module_or_error(cls, lambda c: c(config))
    if error is not None:
        return error
    reference = _perturbed(lambda: LlamaBlock(config), seed=22)
    error = _module_check(mine, reference, lambda m, x: m(x), "Llama block",
                          lambda x: _llama_block_variants(reference, x))
    if error is not None:
        return error
    return Check(True, "Your Llama block matches the course's, forward and backward: "
                       "pre-norm with RMSNorm, grouped-query attention with RoPE, SwiGLU.")


# -- the tokenizer: notebook 09's merge loop, grown into SmolLM2's byte-level BPE -------------
ENCODE_TEXTS = ["What is the capital of France?", "<|im_start|>user\nHi there!<|im_end|>\n",
                "naïve café, déjà vu", "def f(x):\n    return x ** 2  # 3.14",
                "Tokenisation splits words   apart."]


def _encode_variant(tokenizer, text, *, special=True, words=True, utf8=True, by_rank=True):
    """SmolLM2's encode, or one of the usual mistakes (each switch off is one)."""
    from helpers.byte_bpe import bytes_to_unicode, pre_tokenize
    byte_char = bytes_to_unicode()
    ranks = {(tokenizer.tokens[a], tokenizer.tokens[b]): r for (a, b), r in tokenizer.rank.items()}
    ids = []
    for piece in (tokenizer.split_special(text) if special else [text]):
        if special and piece in tokenizer.special:
            ids.append(tokenizer.token_to_id[piece])
            continue
        for word in (pre_tokenize(piece) if words else [piece]):
            units = word.encode("utf-8") if utf8 else [ord(c) for c in word if ord(c) < 256]
            symbols = [byte_char[b] for b in units]
            while len(symbols) >= 2:
                pairs = list(zip(symbols, symbols[1:]))
                known = [p for p in pairs if p in ranks]
                if not known:
                    break
                best = min(known, key=ranks.get) if by_rank else known[0]
                i = pairs.index(best)
                symbols[i:i + 2] = [best[0] + best[1]]
            ids += [tokenizer.token_to_id[s] for s in symbols]
    return ids


def check_byte_level_encode(encode, tokenizer):
    """Exercise: ``encode(text)`` -> SmolLM2's token ids: special tokens cut out whole, the
    rest pre-tokenized into words, each word's UTF-8 bytes written in GPT-2's printable
    alphabet and merged, the pair of lowest rank first, until no pair is a merge. Compared
    with ``tokenizer.encode`` (the course's, which equals ``tokenizers``') on five texts."""
    if encode is None or not callable(encode):
        return Check(False, "Not done yet: define your encode function and pass it.")
    if not all(hasattr(tokenizer, name) for name in ("encode", "split_special", "rank")):
        return Check(False, f"Pass SmolLM2's tokenizer as the second argument (from "
                            f"load_smollm2), got {type(tokenizer).__name__}.")
    mistakes = {
        "Cut the special tokens out first (tokenizer.split_special): <|im_start|> is one id "
        "of its own, not the pieces of its characters.": dict(special=False),
        "Pre-tokenize each piece into words first (pre_tokenize): merges never cross a word's "
        "edge, so ' the' and 'cat' stay apart.": dict(words=False),
        "Encode each word to UTF-8 bytes first (word.encode('utf-8')): 'é' is two bytes, and "
        "the alphabet maps bytes, not characters.": dict(utf8=False),
        "Merge the pair of lowest rank (the oldest merge) among all pairs present, not the "
        "first mergeable pair from the left.": dict(by_rank=False),
    }
    for text in ENCODE_TEXTS:
        right = tokenizer.encode(text)
        try:
            got = encode(text)
        except KeyError as error:
            return Check(False, f"On {text!r}: KeyError {error}: that string is not in the "
                                "vocabulary. Write each byte in GPT-2's printable alphabet "
                                "(bytes_to_unicode(): the space byte is 'Ġ'), and look up "
                                "only what the merges built.")
        except Exception as error:  # the learner's function: any error is theirs to see
            return Check(False, f"On {text!r}: {type(error).__name__}: {error}")
        if got is None:
            return Check(False, "Not done yet: your function returned None. Return the ids.")
        if not isinstance(got, (list, tuple)) or not all(isinstance(i, int) for i in got):
            return Check(False, f"Return a list of ints (token ids), got {type(got).__name__}.")
        if list(got) == right:
            continue
        for message, switches in mistakes.items():
            if list(got) == _encode_variant(tokenizer, text, **switches):
                return Check(False, f"On {text!r}: {message}")
        return Check(False, f"On {text!r}: {len(got)} ids, expected {len(right)}: "
                            f"{tokenizer.pieces(right)[:8]}... — compare with yours, "
                            f"{[tokenizer.tokens[i] for i in got[:8] if 0 <= i < len(tokenizer.tokens)]}...")
    return Check(True, f"Your encode gives SmolLM2's ids on all {len(ENCODE_TEXTS)} texts: "
                       "notebook 09's merge loop, with special tokens, words and bytes.")


# -- Exercise 7: the whole model, assembled around the learner's block ------------------------
_LLAMA_CONFIG = dict(vocab_size=40, d_model=24, num_layers=2, num_heads=6, num_kv_heads=2,
                     d_ff=20, rope_base=50.0, norm_eps=1e-5, context_length=32)


def _llama_variants(ref, idx):
    """The course's Llama's logits for ``idx``, and those of the usual slips in assembling it."""
    E, norm = ref.token.weight, ref.final_norm

    def through(h, blocks):
        for block in blocks:
            h = block(h)[0]
        return h

    h = ref.token(idx)  # (B, T, C)
    return {
        "the final RMSNorm is missing: logits = final_norm(h) @ token.weight.T, after the "
        "last block.": through(h, ref.blocks) @ E.T,
        "you scaled the embeddings by √C (the 2017 Transformer and Gemma do; Llama does "
        "not): h = token(idx).": norm(through(h * math.sqrt(E.shape[1]), ref.blocks)) @ E.T,
        "only the first block ran: apply every block in turn, h = block(h, ...)[0].":
            norm(through(h, ref.blocks[:1])) @ E.T,
        "only the last block ran: h = block(h, ...)[0] for every block, each on the one "
        "before's output.": norm(through(h, ref.blocks[-1:])) @ E.T,
        "every block read the embeddings: each block reads the output of the one before.":
            norm(ref.blocks[-1](h)[0]) @ E.T,
        "the blocks' outputs were thrown away: h, w = block(h, ...), so the next block and "
        "the final norm read the new h.": norm(h) @ E.T,
    }


def _llama_names_error(mine, reference):
    have = {n: tuple(t.shape) for n, t in mine.state_dict().items()}
    want = {n: tuple(t.shape) for n, t in reference.state_dict().items()}
    if have == want:
        return None
    extra, missing = sorted(set(have) - set(want)), sorted(set(want) - set(have))
    if not have:
        return Check(False, "Not done yet: your model has no parameters. It holds token "
                            "(nn.Embedding), blocks (nn.ModuleList) and final_norm.")
    if any(n.split(".")[0] in ("lm_head", "head", "output", "unembed") for n in extra):
        return Check(False, f"Your model has its own output layer ({', '.join(extra)}): "
                            "SmolLM2's is tied, logits = h @ token.weight.T, with no "
                            "parameters of its own (the file has no output.weight).")
    if any("pos" in n for n in extra):
        return Check(False, f"Your model has a position table ({', '.join(extra)}): Llama "
                            "has none, RoPE rotates queries and keys inside attention.")
    wrong = sorted(n for n in set(have) & set(want) if have[n] != want[n])
    details = "; ".join(filter(None, [
        f"missing {', '.join(missing[:4])}" + (" ..." if len(missing) > 4 else "") if missing else "",
        f"extra {', '.join(extra[:4])}" + (" ..." if len(extra) > 4 else "") if extra else "",
        f"shape of {', '.join(f'{n} {have[n]} (expected {want[n]})' for n in wrong[:3])}"
        if wrong else ""]))
    return Check(False, f"Your model's parameters differ from the course's Llama: {details}. "
                        "The names are token.weight, blocks.<i>.… (your block's) and "
                        "final_norm.weight, so that the file's tensors load into it.")


@builds("Llama", "helpers.llama:Llama")
def check_llama(cls):
    """Exercise: ``class MyLlama(nn.Module)`` built as ``cls(config, block)``: ``token``
    (nn.Embedding V -> C), ``blocks`` (config.num_layers of ``block(config)``), ``final_norm``;
    ``hidden_states(idx, lengths=None, caches=None, need_weights=False)`` -> ([embeddings,
    each block's output, the final norm's], weights or None) and ``forward`` -> (logits
    (B, T, V) from the tied embedding, weights or None); ``new_caches`` and ``step`` as given.
    Compared with helpers.llama.Llama on the same weights: logits, every hidden state, the
    gradients (the tied matrix gets both of its uses), and generation through the cache."""
    from helpers.llama import Llama, LlamaBlock, LlamaConfig
    from helpers.multihead import KVCache

    config = LlamaConfig(**_LLAMA_CONFIG)
    mine, error = _module_or_error(cls, lambda c: c(config, block=LlamaBlock))
    if error is not None:
        return error
    reference = _perturbed(lambda: Llama(config), seed=23)
    error = _llama_names_error(mine, reference)
    if error is not None:
        return error
    mine.load_state_dict(reference.state_dict())
    mine.eval()
    idx = torch.randint(0, config.vocab_size, (2, 7), generator=torch.Generator().manual_seed(24))
    lengths = torch.tensor([7, 5])  # right-padded: row 1's last two tokens are padding
    real = (torch.arange(7)[None, :] < lengths[:, None])[..., None]  # (B, T, 1)
    # The real tokens never see the padding (it comes after them, and the mask is causal):
    # what the padded positions output is read by no one, so only the real ones are compared.
    same = lambda a, b: torch.allclose(a * real, b * real, atol=1e-5, rtol=1e-4)  # noqa: E731
    try:
        got = mine(idx, lengths)
        hidden = mine.hidden_states(idx, lengths)
    except Exception as error:  # the learner's forward: any error is theirs to see
        return Check(False, f"Calling your model failed: {type(error).__name__}: {error}")
    expected, _ = reference(idx, lengths)
    expected_hidden, _ = reference.hidden_states(idx, lengths)
    if not isinstance(got, tuple) or len(got) != 2 or not isinstance(got[0], torch.Tensor):
        return Check(False, "forward returns a pair, (logits (B, T, V), weights or None), as "
                            "the course's models do.")
    logits = got[0]
    if logits.shape != expected.shape:
        return Check(False, f"Your logits are {shape_str(logits.shape)}; expected "
                            f"{shape_str(expected.shape)} = (B, T, V): h (B, T, C) @ "
                            f"token.weight.T (C, V).")
    if not same(logits, expected):
        with torch.no_grad():
            for message, wrong in _llama_variants(reference, idx).items():
                if same(logits, wrong):
                    return Check(False, f"Your model: {message}")
        diff = ((logits - expected) * real).abs().max().item()
        return Check(False, f"Your logits differ from the course's Llama's (largest difference "
                            f"{diff:.3g}) with the same weights.")
    if not (isinstance(hidden, tuple) and len(hidden) == 2 and isinstance(hidden[0], list)):
        return Check(False, "hidden_states returns a pair: ([embeddings, block 1's output, ..., "
                            "the final norm's], weights or None).")
    states = hidden[0]
    n = config.num_layers
    if len(states) != n + 2:
        return Check(False, f"hidden_states gave {len(states)} tensors; with {n} blocks it "
                            f"gives {n + 2}: the embeddings, each block's output, and the "
                            "final norm's.")
    for i, (a, b) in enumerate(zip(states, expected_hidden)):
        if a.shape != b.shape or not same(a, b):
            what = "the embeddings" if i == 0 else "the final norm's output" if i == n + 1 \
                else f"block {i}'s output"
            return Check(False, f"hidden_states[{i}] should be {what}; it is not.")
    grad = torch.randn(expected.shape, generator=torch.Generator().manual_seed(25)) * real
    (logits * grad).sum().backward()
    (expected * grad).sum().backward()
    mine_params = dict(mine.named_parameters())
    for name, p in reference.named_parameters():
        if mine_params[name].grad is None or not torch.allclose(mine_params[name].grad, p.grad,
                                                                atol=1e-5, rtol=1e-4):
            hint = (" It is used twice, as the embedding and (transposed) as the output "
                    "layer: both uses must reach it (no .detach(), no copy)."
                    if name == "token.weight" else "")
            return Check(False, f"Your logits are right, but the gradient of {name} is not.{hint}")
    with torch.no_grad():
        weights = mine(idx, need_weights=True)[1]
        want_weights = reference(idx, need_weights=True)[1]
        if weights is None or weights.shape != want_weights.shape or \
                not torch.allclose(weights, want_weights, atol=1e-5):
            return Check(False, f"With need_weights=True return every block's attention "
                                f"weights stacked, {shape_str(want_weights.shape)} = (B, L, H, "
                                f"T, S): torch.stack(weights, dim=1); got "
                                f"{None if weights is None else shape_str(weights.shape)}.")
        caches = mine.new_caches()
        if not (isinstance(caches, list) and len(caches) == n
                and all(isinstance(c, KVCache) for c in caches)):
            return Check(False, "new_caches is given: keep it (one KVCache per block).")
        try:
            steps = [mine.step(idx[:, :4], caches)] + [mine.step(idx[:, t:t + 1], caches)
                                                       for t in range(4, 7)]
        except Exception as error:  # the learner's forward: any error is theirs to see
            return Check(False, f"Generating through the cache failed: {type(error).__name__}: "
                                f"{error}. Block i gets caches[i] (None without caches).")
        lengths_seen = [c.length for c in caches]
        if lengths_seen != [7] * n:
            if lengths_seen[0] == 7 * n:
                return Check(False, "Every block wrote into the first cache: block i gets its "
                                    "own, caches[i].")
            return Check(False, f"After 7 tokens the caches hold {lengths_seen} tokens; each "
                                "block must get its own cache, caches[i], and append to it.")
        full = reference(idx)[0]
        if not torch.allclose(torch.cat(steps, dim=1), full, atol=1e-4, rtol=1e-4):
            return Check(False, "Through the cache, the logits of later tokens differ from the "
                                "full forward: pass caches[i] to block i at every step (its "
                                "attention rotates by the cache's length and appends to it).")
    return Check(True, "Your Llama matches the course's: the tied embedding in and out, your "
                       "blocks in turn, the final RMSNorm, every hidden state, the gradients, "
                       "and generation through the cache.")
