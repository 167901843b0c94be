"""Exercise checks of Notebook 12, a modern small LLM: RMSNorm, SwiGLU, grouped-query
attention, one Q4_1 block, the chat prompt."""
import math

import torch
from torch.nn import functional as F

from helpers.exercises._common import Check, _diagnose


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
