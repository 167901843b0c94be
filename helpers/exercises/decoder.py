"""Exercise checks of Notebook 07, the decoder."""
import torch

from helpers.exercises._common import Check, _diagnose, _perturbed


def check_teacher_forcing(shift):
    """Exercise: ``shift(tgt)`` -> (decoder input, target): tgt[:, :-1] and tgt[:, 1:]."""
    tgt = torch.tensor([[1, 5, 6, 7, 2], [1, 8, 9, 2, 0]])  # ^ ... $ then padding
    got = shift(tgt.clone())
    if got is None:
        return Check(False, "Not done yet: return the pair (decoder input, target).")
    if not (isinstance(got, tuple) and len(got) == 2):
        return Check(False, f"Return a pair (decoder input, target), got {type(got).__name__}.")
    inp, target = got
    if torch.equal(inp, tgt[:, :-1]) and torch.equal(target, tgt[:, 1:]):
        return Check(True, "Each position's input is the true token before it: teacher forcing.")
    if torch.equal(inp, tgt) and torch.equal(target, tgt):
        return Check(False, "Input and target are the same sequence: the model would learn to "
                            "copy its input. Shift by one.")
    if torch.equal(inp, tgt[:, 1:]) and torch.equal(target, tgt[:, :-1]):
        return Check(False, "Swapped: the input starts with ^ (tgt[:, :-1]); the target is the "
                            "sequence one step ahead (tgt[:, 1:]).")
    return Check(False, "Not quite: the input is tgt without its last token, the target tgt "
                        "without its first.")


def check_next_token(next_token):
    """Exercise: ``next_token(logits)`` from decoder logits (B, T, V): the greedy choice."""
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 4, 7, generator=g)
    right = logits[:, -1].argmax(-1)
    mistakes = {
        "You took the first position's prediction; the next token comes from the last "
        "position (logits[:, -1]).": logits[:, 0].argmax(-1),
        "You took the argmax over the positions; take it over the vocabulary (dim=-1).":
            logits.argmax(1)[:, -1],
    }
    return _diagnose(next_token(logits.clone()), right, mistakes,
                     "The most likely next token after the last position.")


def _decoder_block(seed=0, C=16, H=2):
    """A pre-norm ``DecoderBlock`` with every weight moved off its initial value, so that a
    LayerNorm's scale and shift matter too."""
    from helpers.decoder import DecoderBlock
    from helpers.encoder import EncoderConfig

    return _perturbed(lambda: DecoderBlock(EncoderConfig(d_model=C, num_heads=H, d_ff=2 * C,
                                                         norm_first=True)), seed)


def _decoder_block_wirings(block, z, memory):
    """The right pre-norm wiring and the usual mistakes, each built from the block's parts.

    z: (B, T, C), memory: (B, S, C) -> {name: (B, T, C)}; "right" is the reference.
    """
    from helpers.masks import causal_mask

    sa, ca, mlp = block.self_attn, block.cross_attn, block.mlp
    n1, n2, n3 = block.norm1, block.norm2, block.norm3
    T, S = z.shape[1], memory.shape[1]
    causal = causal_mask(T)  # (T, T)

    def pre_norm(self_mask=causal, cross=lambda h: ca(n2(h), memory)[0], residuals=(1, 1, 1),
                 use_mlp=True):
        r1, r2, r3 = residuals
        h = r1 * z + sa(n1(z), mask=self_mask)[0]  # (B, T, C)
        h = r2 * h + cross(h)  # (B, T, C)
        return r3 * h + mlp(n3(h)) if use_mlp else h

    def post_norm():
        h = n1(z + sa(z, mask=causal)[0])
        h = n2(h + ca(h, memory)[0])
        return n3(h + mlp(h))

    wirings = {
        "right": pre_norm(),
        "kv from decoder": pre_norm(cross=lambda h: ca(n2(h))[0]),
        "kv from decoder, unnormed": pre_norm(cross=lambda h: ca(n2(h), h)[0]),
        "no causal mask": pre_norm(self_mask=None),
        "causal mask on cross": pre_norm(
            cross=lambda h: ca(n2(h), memory, mask=causal_mask(T, S))[0]),
        "causal mask on both": pre_norm(
            self_mask=None, cross=lambda h: ca(n2(h), memory, mask=causal_mask(T, S))[0]),
        "no residual 1": pre_norm(residuals=(0, 1, 1)),
        "no residual 2": pre_norm(residuals=(1, 0, 1)),
        "no residual 3": pre_norm(residuals=(1, 1, 0)),
        "no MLP": pre_norm(use_mlp=False),
        "post-norm": post_norm(),
    }
    if T == S:  # only then do queries from the encoder give a (B, T, C) result
        wirings["queries from encoder"] = pre_norm(cross=lambda h: ca(memory, n2(h))[0])
    return wirings


_DECODER_BLOCK_MISTAKES = {
    "kv from decoder": "Cross-attention took its keys and values from the decoder: that is "
                       "self-attention a second time. Keys and values come from the encoder's "
                       "output: block.cross_attn(block.norm2(z), memory).",
    "kv from decoder, unnormed": "Cross-attention took its keys and values from the decoder's "
                                 "own stream; they come from the encoder's output, memory.",
    "queries from encoder": "Cross-attention took its queries from the encoder and its keys "
                            "and values from the decoder: swap them. Queries from the decoder "
                            "(one per output position), keys and values from memory.",
    "no causal mask": "The causal mask is missing in self-attention: each position can read "
                      "the outputs after it, which generation will not have. Pass "
                      "mask=masks.causal_mask(T) to block.self_attn.",
    "causal mask on cross": "You applied the causal mask to cross-attention. The source is "
                            "known in full before decoding starts, so every output position may "
                            "read all of it: the causal mask belongs to self-attention only.",
    "causal mask on both": "The causal mask is on cross-attention instead of self-attention: "
                           "move it to block.self_attn; cross-attention reads the whole source.",
    "no residual 1": "The residual around self-attention is missing: add the sub-layer's "
                     "output to z (z + attended), do not replace z with it.",
    "no residual 2": "The residual around cross-attention is missing: add what was looked up "
                     "to the stream (z + looked_up), do not replace it.",
    "no residual 3": "The residual around the MLP is missing: z + mlp(norm3(z)).",
    "no MLP": "The MLP is missing: after cross-attention comes z + block.mlp(block.norm3(z)).",
    "post-norm": "You wired the block post-norm (norm after each residual sum); this block is "
                 "pre-norm: z + sublayer(norm(z)).",
}


def check_decoder_block(decoder_block):
    """Exercise: ``decoder_block(block, z, memory)`` -> (B, T, C), a pre-norm decoder block
    wired from ``block``'s parts: self_attn, cross_attn, mlp, norm1, norm2, norm3.

    Runs on a target as long as the source (T = S, where more mistakes give a result of the
    right shape and can be named), then on one shorter than the source (T < S).
    """
    block = _decoder_block()
    g = torch.Generator().manual_seed(0)
    for T, S in [(5, 5), (4, 7)]:
        z, memory = torch.randn(2, T, 16, generator=g), torch.randn(2, S, 16, generator=g)
        with torch.no_grad():
            wirings = _decoder_block_wirings(block, z, memory)
            try:
                got = decoder_block(block, z.clone(), memory.clone())
            except Exception as error:  # the learner's code: name what went wrong
                if T == S:
                    raise
                return Check(False, f"Right when the source and target have the same length, "
                                    f"but with T = {T} and S = {S} your function raised "
                                    f"{type(error).__name__}: {error}. Self-attention's mask is "
                                    f"(T, T); cross-attention's scores are (T, S).")
        mistakes = {_DECODER_BLOCK_MISTAKES[name]: out for name, out in wirings.items()
                    if name != "right"}
        result = _diagnose(got, wirings["right"], mistakes,
                           "Matches helpers.DecoderBlock: masked self-attention, "
                           "cross-attention to the memory, MLP, each pre-norm with a residual.")
        if not result.passed:
            if T != S and got is not None:
                result.message = f"Right for T = S, wrong for T = {T} < S = {S}: {result.message}"
            return result
    return result
