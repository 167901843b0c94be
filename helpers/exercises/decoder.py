"""Exercise checks of Notebook 08, the decoder."""
import torch

from helpers.exercises._common import Check, _diagnose, _module_or_error, _perturbed
from helpers.yours import builds


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


def _decoder_block_wirings(block, z, memory, memory_mask=None):
    """The right pre-norm wiring and the usual mistakes, each built from the block's parts.

    z: (B, T, C), memory: (B, S, C), memory_mask: None or bool (B, 1, S), the source's
    padding -> {name: (B, T, C)}; "right" is the reference.
    """
    from helpers.masks import causal_mask

    sa, ca, mlp = block.self_attn, block.cross_attn, block.mlp
    n1, n2, n3 = block.norm1, block.norm2, block.norm3
    T, S = z.shape[1], memory.shape[1]
    causal = causal_mask(T)  # (T, T)
    pad = memory_mask
    causal_ts = causal_mask(T, S) if pad is None else causal_mask(T, S) & pad  # (B, T, S)

    def pre_norm(self_mask=causal, cross=lambda h: ca(n2(h), memory, pad)[0], residuals=(1, 1, 1),
                 use_mlp=True):
        r1, r2, r3 = residuals
        h = r1 * z + sa(n1(z), mask=self_mask)[0]  # (B, T, C)
        h = r2 * h + cross(h)  # (B, T, C)
        return r3 * h + mlp(n3(h)) if use_mlp else h

    def post_norm():
        h = n1(z + sa(z, mask=causal)[0])
        h = n2(h + ca(h, memory, pad)[0])
        return n3(h + mlp(h))

    wirings = {
        "right": pre_norm(),
        "kv from decoder": pre_norm(cross=lambda h: ca(n2(h))[0]),
        "kv from decoder, unnormed": pre_norm(cross=lambda h: ca(n2(h), h)[0]),
        "no causal mask": pre_norm(self_mask=None),
        "causal mask on cross": pre_norm(
            cross=lambda h: ca(n2(h), memory, mask=causal_ts)[0]),
        "causal mask on both": pre_norm(
            self_mask=None, cross=lambda h: ca(n2(h), memory, mask=causal_ts)[0]),
        "no residual 1": pre_norm(residuals=(0, 1, 1)),
        "no residual 2": pre_norm(residuals=(1, 0, 1)),
        "no residual 3": pre_norm(residuals=(1, 1, 0)),
        "no MLP": pre_norm(use_mlp=False),
        "post-norm": post_norm(),
    }
    if T == S:  # only then do queries from the encoder give a (B, T, C) result
        wirings["queries from encoder"] = pre_norm(cross=lambda h: ca(memory, n2(h))[0])
    if pad is not None:
        wirings["padding mask ignored"] = pre_norm(cross=lambda h: ca(n2(h), memory)[0])
        if T == S:  # only then does the (B, 1, S) padding mask fit self-attention's scores
            wirings["padding mask on self-attention"] = pre_norm(
                self_mask=causal & pad, cross=lambda h: ca(n2(h), memory)[0])
        if sa.num_heads == z.shape[0]:  # a mask read as (H, 1, S) has the right shape then
            wirings["padding mask per head"] = _padding_per_head(block, z, memory, pad)
    return wirings


def _padding_per_head(block, z, memory, pad):
    """The pre-norm block whose cross-attention reads the padding mask (B, 1, S) as if its
    first dimension were the heads (what ``scores.masked_fill(~mask, ...)`` does to scores
    (B, H, T, S) without ``mask[:, None]``): head h of every row masked by row h's padding."""
    from helpers.attention import scaled_dot_product_attention
    from helpers.masks import causal_mask

    ca = block.cross_attn
    h = z + block.self_attn(block.norm1(z), mask=causal_mask(z.shape[1]))[0]  # (B, T, C)
    B, T, C = h.shape
    H, D = ca.num_heads, C // ca.num_heads
    w, b = ca.in_proj.weight, ca.in_proj.bias
    q = torch.nn.functional.linear(block.norm2(h), w[:C], b[:C])  # (B, T, C)
    k, v = torch.nn.functional.linear(memory, w[C:], b[C:]).split(C, dim=-1)  # (B, S, C) each
    q, k, v = (t.view(B, -1, H, D).transpose(1, 2) for t in (q, k, v))  # (B, H, T or S, D)
    out, _ = scaled_dot_product_attention(q, k, v, pad)  # pad (B, 1, S) as (H, 1, S)
    h = h + ca.out_proj(out.transpose(1, 2).reshape(B, T, C))
    return h + block.mlp(block.norm3(h))


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
    "padding mask ignored": "The memory's padding mask is not used: output positions read the "
                            "pad characters of a short source. Pass memory_mask to "
                            "cross-attention: self.cross_attn(..., mask=memory_mask, "
                            "context=memory).",
    "padding mask on self-attention": "The memory's padding mask went to self-attention; it "
                                      "belongs to cross-attention (it masks source positions), "
                                      "and self-attention keeps the causal mask only.",
    "padding mask per head": "The padding mask (B, 1, S) reached the scores (B, H, T, S) as if "
                             "its first dimension were the heads. A mask that broadcasts to "
                             "(B, T, S) is the same for every head: in your MultiHeadAttention "
                             "(notebook 04), a 3-dim mask needs mask[:, None], (B, 1, T, S), "
                             "before masked_fill.",
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



@builds("DecoderBlock", "helpers.decoder:DecoderBlock")
def check_decoder_block_module(cls):
    """Exercise: ``class MyDecoderBlock(nn.Module)``, built as ``cls(config)`` (an
    ``EncoderConfig``), pre-norm, with the parts of ``helpers.DecoderBlock`` under the same
    names (self_attn, cross_attn, mlp, norm1, norm2, norm3: its weights load into yours), and
    ``forward(x, memory, memory_mask=None)`` -> (out (B, T, C), self-attention weights
    (B, H, T, T), cross-attention weights (B, H, T, S)); memory_mask: bool (B, 1, S), True =
    a real source token.

    Compared with the course's block (same weights), forward and backward, on a target as
    long as the source, then on a shorter target with a padded source; the usual mistakes
    are named."""
    from helpers.encoder import EncoderConfig
    from helpers.masks import padding_mask

    config = EncoderConfig(d_model=16, num_heads=2, d_ff=32, norm_first=True)
    mine, error = _module_or_error(cls, lambda c: c(config))
    if error is not None:
        return error
    reference = _decoder_block()
    wanted = {n: tuple(t.shape) for n, t in reference.state_dict().items()}
    names = {n: tuple(t.shape) for n, t in mine.state_dict().items()}
    if not names:
        return Check(False, "Not done yet: your block has no parameters. Build its parts in "
                            "__init__: self_attn, cross_attn, mlp, norm1, norm2, norm3.")
    if names != wanted:
        missing = [n for n in wanted if n not in names]
        extra = [n for n in names if n not in wanted]
        wrong = [f"{n} {names[n]} (expected {wanted[n]})" for n in wanted
                 if n in names and names[n] != wanted[n]]
        return Check(False, "Your parameters do not match helpers.DecoderBlock's, so its "
                            "weights cannot load into yours: " + "; ".join(
                                part for part in (
                                    f"missing {', '.join(missing)}" if missing else "",
                                    f"unexpected {', '.join(extra)}" if extra else "",
                                    f"wrong shape {', '.join(wrong)}" if wrong else "") if part)
                     + ". Build self_attn and cross_attn with MultiHeadAttention(d_model=C, "
                       "num_heads=H), mlp = MLP(C, config.d_ff), norm1..norm3 = LayerNorm(C).")
    mine.load_state_dict(reference.state_dict())
    mine.eval()
    g = torch.Generator().manual_seed(1)
    cases = [("with T = S = 5, no padding", 5, 5, None),
             ("with T = S = 5 and a padded source (lengths 5 and 3)", 5, 5, [5, 3]),
             ("with T = 4 and a padded source of S = 7 (lengths 7 and 4)", 4, 7, [7, 4])]
    for case, T, S, lengths in cases:
        z, memory = torch.randn(2, T, 16, generator=g), torch.randn(2, S, 16, generator=g)
        pad = None if lengths is None else padding_mask(torch.tensor(lengths), S)  # (B, 1, S)
        z_in, memory_in = z.clone().requires_grad_(), memory.clone().requires_grad_()
        try:
            got = mine(z_in, memory_in) if pad is None else mine(z_in, memory_in, pad.clone())
        except Exception as error:  # the learner's code: name what went wrong
            return Check(False, f"Calling your block {case} failed: {type(error).__name__}: "
                                f"{error}")
        if not (isinstance(got, tuple) and len(got) == 3):
            return Check(False, "forward must return three things: the output (B, T, C), "
                                "self-attention's weights (B, H, T, T) and cross-attention's "
                                "weights (B, H, T, S).")
        out = got[0]
        expected, self_w, cross_w = reference(z, memory, pad, need_weights=True)
        with torch.no_grad():
            wirings = _decoder_block_wirings(reference, z, memory, pad)
        mistakes = {_DECODER_BLOCK_MISTAKES[name]: wrong for name, wrong in wirings.items()
                    if name != "right"}
        result = _diagnose(out, expected.detach(), mistakes, "")
        if not result.passed:
            return Check(False, f"{case.capitalize()}: {result.message}")
        for name, w, right in (("self-attention", got[1], self_w), ("cross-attention", got[2],
                                                                     cross_w)):
            if not isinstance(w, torch.Tensor) or w.shape != right.shape or \
                    not torch.allclose(w.detach(), right.detach(), atol=1e-5):
                return Check(False, f"The output is right {case}, but the {name} weights are "
                                    f"not: return the weights your {name} handed back, shape "
                                    f"{tuple(right.shape)}.")
        grad = torch.randn(expected.shape, generator=g)
        try:
            mine_grads = torch.autograd.grad(out, [z_in, memory_in], grad, allow_unused=True)
        except RuntimeError as error:
            return Check(False, f"The output is right {case}, but it does not backpropagate: "
                                f"{error}")
        z_ref, memory_ref = z.clone().requires_grad_(), memory.clone().requires_grad_()
        ref_grads = torch.autograd.grad(reference(z_ref, memory_ref, pad)[0],
                                        [z_ref, memory_ref], grad)
        for name, a, b in zip(("x", "memory"), mine_grads, ref_grads):
            if a is None or not torch.allclose(a, b, atol=1e-5, rtol=1e-4):
                return Check(False, f"The output is right {case}, but the gradient with "
                                    f"respect to {name} is not: is something detached "
                                    f"(.detach(), .data, torch.no_grad) on the way?")
    return Check(True, "Your decoder block matches helpers.DecoderBlock, forward and "
                       "backward, with the causal mask and a padded source.")


# -- decoding: greedy search and beam search (the learner's pieces) ------------------------
def _search_model(seed=12):
    """A fixed small encoder-decoder (8 target tokens: 1 begin, 7 end) whose weights are moved
    off their initial values. Seed 12 was picked so that the checks' sources end at different
    steps (one never ends) and beam search differs from greedy and from each mistake."""
    from helpers.decoder import EncoderDecoder, Seq2SeqConfig

    return _perturbed(lambda: EncoderDecoder(Seq2SeqConfig(
        d_model=16, num_heads=2, d_ff=32, num_layers=1, src_vocab=10, tgt_vocab=8,
        max_len=16)), seed)


def _greedy(model, src, bos, eos, max_len, mistake=None):
    """Greedy decoding, right (mistake=None) or with one named mistake."""
    memory, memory_mask = model.encode(src)
    out = torch.full((src.shape[0], 1), bos, dtype=torch.long)
    done = torch.zeros(src.shape[0], dtype=torch.bool)
    steps = max_len + {"one step too many": 1, "one step too few": -1}.get(mistake, 0)
    for _ in range(steps):
        fed = out[:, :1] if mistake == "no feedback" else out  # (B, t)
        logits = model.decode(fed, memory, memory_mask)[:, -1]  # (B, V)
        next_token = logits.argmax(-1)
        if mistake != "no end padding":
            next_token = next_token.masked_fill(done, eos)
        out = torch.cat([out, next_token[:, None]], dim=1)
        done |= next_token == eos
        if mistake == "never stops":
            continue
        if (done.any() if mistake == "stops at the first end" else done.all()):
            break
    return out[:, 1:] if mistake == "no begin" else out


_GREEDY_MISTAKES = {
    "no feedback": "Every step predicted the token after ^ again: feed the output so far back "
                   "in (model.decode(out, ...)) and read the last position's logits "
                   "(logits[:, -1]).",
    "never stops": "You never stop early: once every sequence has emitted the end token, stop "
                   "(if done.all(): break) instead of running all max_len steps.",
    "stops at the first end": "You stopped as soon as one sequence ended; the others were cut "
                              "short. Stop when all of them have ended (done.all()).",
    "no end padding": "After a sequence emits the end token, its later tokens must be the end "
                      "token too (next_token.masked_fill(done, eos)); yours went on generating.",
    "one step too many": "One token too many: max_len counts the generated tokens, ^ not "
                         "included, so the output has at most max_len + 1 columns.",
    "one step too few": "One token too few: generate up to max_len tokens after ^ "
                        "(at most max_len + 1 columns).",
    "no begin": "The output must start with the begin token ^ (bos): keep it as column 0.",
}


def _search_result(fn, model, src, **kwargs):
    """fn(model, src, **kwargs), or a Check naming the error."""
    try:
        with torch.no_grad():
            return fn(model, src.clone(), **kwargs), None
    except Exception as error:  # the learner's code: any error is theirs to see
        return None, Check(False, f"Calling your function failed: {type(error).__name__}: "
                                  f"{error}")


@builds("greedy_decode", "helpers.generation:greedy_decode")
def check_greedy_decode(greedy_decode):
    """Exercise: ``greedy_decode(model, src, *, bos, eos, max_len)``: src (B, S) -> token ids
    (B, <= max_len + 1) starting with bos; at each step the most likely next token, fed back;
    a finished sequence is padded with eos; stop when all have ended or after max_len tokens.
    ``model`` has ``encode(src) -> (memory, memory_mask)`` and ``decode(tgt, memory,
    memory_mask) -> logits (B, T, V)``, as ``helpers.EncoderDecoder``."""
    model = _search_model()
    g = torch.Generator().manual_seed(0)
    cases = [(torch.randint(3, 10, (4, 6), generator=g), 7, 8),  # all end, at steps 1-3
             (torch.randint(3, 10, (3, 5), generator=g), 7, 6)]  # one never ends
    for src, eos, max_len in cases:
        got, error = _search_result(greedy_decode, model, src, bos=1, eos=eos, max_len=max_len)
        if error is not None:
            return error
        if isinstance(got, torch.Tensor) and got.dtype != torch.long:
            return Check(False, f"Return token ids as a long tensor, got {got.dtype}.")
        with torch.no_grad():
            right = _greedy(model, src, 1, eos, max_len)
            if isinstance(got, torch.Tensor) and torch.equal(got, right):
                continue
            mistakes = {message: _greedy(model, src, 1, eos, max_len, name).float()
                        for name, message in _GREEDY_MISTAKES.items()}
        result = _diagnose(got.float() if isinstance(got, torch.Tensor) else got, right.float(),
                           mistakes, "")
        if not result.passed:
            return result
    return Check(True, "Your greedy decoding matches helpers.generation.greedy_decode: one "
                       "forward pass per token, the prediction fed back, the end token "
                       "respected.")


def _beam(model, src, bos, eos, max_len, beam_width, mistake=None):
    """Beam search on one source (1, S), right (mistake=None) or with one named mistake:
    (token ids as a list, score)."""
    memory, memory_mask = model.encode(src)
    beams, finished = [(0.0, [bos])], []  # (score, tokens)
    for step in range(max_len):
        tokens = torch.tensor([seq for _, seq in beams])  # (k, t)
        k = tokens.shape[0]
        logits = model.decode(tokens, memory.expand(k, -1, -1), memory_mask.expand(k, -1, -1))
        logp = logits[:, -1].log_softmax(-1)  # (k, V)
        before = torch.tensor([s for s, _ in beams])[:, None]  # (k, 1)
        if mistake == "probabilities":
            scores = before + logp.exp()
        elif mistake == "last token only":
            scores = logp
        else:
            scores = before + logp  # (k, V)
        if mistake == "best beam only":  # the top k of the best beam's extensions
            top = scores[0].topk(min(beam_width, scores.shape[1]))
            picked = list(zip(top.values.tolist(), top.indices.tolist()))
        else:
            top = scores.flatten().topk(min(beam_width, scores.numel()))
            picked = list(zip(top.values.tolist(), top.indices.tolist()))
        candidates = []
        for score, index in picked:
            beam, token = divmod(index, scores.shape[1])
            candidates.append((score, beams[beam][1] + [token]))
        if mistake == "finished keep going":
            beams = sorted(candidates, reverse=True)
            continue
        beams = []
        for score, seq in candidates:
            (finished if seq[-1] == eos else beams).append((score, seq))
        if mistake == "first finished" and finished:
            return finished[0][1], finished[0][0]
        if not beams or (finished and max(finished)[0] >= beams[0][0]):
            break
    score, best = max(finished or beams)
    return best, score


_BEAM_MISTAKES = {
    "probabilities": "You added probabilities; the score of a sequence is the sum of its "
                     "tokens' log-probabilities (log_softmax), the log of their product.",
    "last token only": "You ranked by the last token's log-probability alone; add it to the "
                       "beam's score so far: the score is the sum over the whole sequence.",
    "best beam only": "You extended only the best beam; the others were dropped. Rank all "
                      "k × V extensions of every beam together and keep the top k "
                      "(scores.flatten().topk(k), then divmod(index, V)).",
    "finished keep going": "A hypothesis that ends in the end token is finished: set it aside "
                           "with its score instead of extending it further.",
    "first finished": "You returned the first hypothesis to finish; an unfinished beam can still "
                      "end with a higher score. Stop when the best finished score is at least "
                      "the best unfinished one (or after max_len tokens), then return the best "
                      "finished.",
}


@builds("beam_search", "helpers.generation:beam_search")
def check_beam_search(beam_search):
    """Exercise: ``beam_search(model, src, *, bos, eos, max_len, beam_width=4)``: one source
    (1, S) -> (best token ids (1, L) starting with bos, its score: the sum of its tokens'
    log-probabilities). Keep the beam_width best partial outputs over all beams × vocabulary;
    a hypothesis ending in eos is finished and keeps its score; stop when the best finished
    one scores at least as high as every unfinished one, or after max_len tokens."""
    model = _search_model()
    g = torch.Generator().manual_seed(1)
    sources = torch.randint(3, 10, (8, 6), generator=g)[:, None]  # 8 sources (1, S)
    found = []  # the learner's (tokens, score) per source
    for src in sources:
        got, error = _search_result(beam_search, model, src, bos=1, eos=7, max_len=6,
                                    beam_width=3)
        if error is not None:
            return error
        if got is None:
            return Check(False, "Not done yet: your function returned None. Fill in its body "
                                "and return (tokens, score).")
        if not (isinstance(got, tuple) and len(got) == 2):
            return Check(False, "Return a pair: the best token ids (1, L) and its score.")
        tokens, score = got
        if not isinstance(tokens, torch.Tensor) or tokens.dim() != 2 or tokens.shape[0] != 1:
            return Check(False, f"The tokens must be a tensor (1, L), got "
                                f"{getattr(tokens, 'shape', type(tokens).__name__)}.")
        found.append((tokens[0].tolist(), float(score)))

    def same(a, b):
        return a[0] == b[0] and abs(a[1] - b[1]) < 1e-4

    with torch.no_grad():
        right = [_beam(model, src, 1, 7, 6, 3) for src in sources]
        wrong = [n for n in range(len(sources)) if not same(found[n], right[n])]
        if not wrong:
            return Check(True, "Your beam search matches helpers.generation.beam_search on 8 "
                               "sources (width 3): scores summed in log space, the top k over "
                               "all beams × vocabulary, finished hypotheses set aside.")
        n = wrong[0]
        for name, message in _BEAM_MISTAKES.items():  # a mistake must explain every source
            if all(same(found[i], _beam(model, src, 1, 7, 6, 3, name))
                   for i, src in enumerate(sources)):
                return Check(False, f"Source {n}: {message}")
    tokens, score = found[n]
    if tokens == right[n][0]:
        return Check(False, f"Source {n}: the tokens are right, but the score is not "
                            f"({score:.4f}, expected {right[n][1]:.4f}): the sum of the "
                            f"chosen tokens' log-probabilities, ^ not included.")
    return Check(False, f"Source {n}: expected {right[n][0]} (score {right[n][1]:.4f}), got "
                        f"{tokens} (score {score:.4f}).")
