"""Generating tokens one at a time: sampling from a GPT, greedy and beam search.

Sampling (notebook 10): ``top_k_filter``, ``top_p_filter`` and ``sample_next`` pick the
next token from logits; ``generate`` appends tokens to a prompt with ``helpers.gpt.GPT``
and its key/value cache (or, for a model without one, such as the learner's GPT, by
running the model again on the whole context window at every step).

Search (notebook 08): ``greedy_decode`` and ``beam_search`` take a model with
``encode(src)`` and ``decode(tgt, memory, memory_mask)`` (see
``helpers.decoder.EncoderDecoder``), a begin-of-sequence id to start from and an
end-of-sequence id that finishes a hypothesis.
"""
import torch

from helpers._checks import (check_positive_int, check_temperature, check_tensor, check_tokens,
                             shape_str)


def top_k_filter(logits, k: int):
    """Keep the k largest logits of each row (..., V); set the rest to -inf.

    Ties: every logit equal to the k-th largest is kept too, so a row with ties at the
    cut keeps more than k (the filter never picks between equal logits):
    top_k_filter([3, 2, 2, 0], 2) -> [3, 2, 2, -inf]. k >= V keeps everything.
    """
    check_tensor("logits", logits)
    check_positive_int("top_k", k)
    kth = logits.topk(min(k, logits.shape[-1]), dim=-1).values[..., -1:]  # (..., 1)
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits, p: float):
    """Nucleus (top-p) filtering: keep the most likely logits of each row (..., V) whose
    probabilities, taken in decreasing order, first reach a total of p; set the rest to
    -inf. The token that crosses p is kept, so at least one token always remains:
    probabilities [0.5, 0.3, 0.2], p = 0.6 -> the first two kept (0.5 < 0.6, 0.5 + 0.3 >= 0.6).
    p = 1 keeps everything.
    """
    check_tensor("logits", logits)
    _check_top_p(p)
    sorted_logits, order = logits.sort(dim=-1, descending=True)  # (..., V) each
    probs = sorted_logits.softmax(-1)
    before = probs.cumsum(-1) - probs  # the probability of the tokens ranked above each one
    drop_sorted = before >= p  # (..., V): the first token always has 0 before it
    drop = drop_sorted.scatter(-1, order, drop_sorted)  # back to vocabulary order
    return logits.masked_fill(drop, float("-inf"))


def _check_top_p(p):
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 < p <= 1:
        raise ValueError(f"top_p must be a number in (0, 1], got {p!r}")


def sample_next(logits, temperature: float = 1.0, top_k: int | None = None, generator=None,
                top_p: float | None = None):
    """Pick the next token from logits (B, V): greedy if temperature == 0, else sample
    from softmax(logits / temperature), restricted to the top_k most likely if given,
    then to the nucleus of probability top_p if given."""
    check_tensor("logits", logits)
    if logits.dim() != 2:
        raise ValueError(f"logits must be (B, V), got {shape_str(logits.shape)}")
    check_temperature(temperature)
    if top_k is not None:
        check_positive_int("top_k", top_k)
    if top_p is not None:
        _check_top_p(top_p)
    return _pick(logits, temperature, top_k, generator, top_p)


@torch.no_grad()
def generate(model, idx, n_new: int, *, temperature: float = 1.0, top_k=None,
             use_cache: bool = True, generator=None, top_p=None):
    """Append n_new tokens to idx (B, T) with a ``helpers.gpt.GPT``. Without the cache every
    step reruns the whole sequence (cropped to the context window); with it, the prompt
    fills the caches once and each step then processes one token (``GPT.step``).

    A model without a cache (no ``new_caches`` and ``step``, such as the GPT a learner
    writes in notebook 10) is always run the first way. It must have ``config.vocab_size``
    and ``config.block_size`` and return (logits (B, T, V), anything)."""
    check_tokens("idx", idx, model.config.vocab_size)
    check_positive_int("n_new", n_new, allow_zero=True)
    check_temperature(temperature)
    if top_k is not None:
        check_positive_int("top_k", top_k)
    if top_p is not None:
        _check_top_p(top_p)
    use_cache = use_cache and hasattr(model, "new_caches") and hasattr(model, "step")
    if use_cache and idx.shape[1] + n_new > model.config.block_size:
        raise ValueError(f"the cache holds at most {model.config.block_size} tokens; "
                         f"{idx.shape[1]} + {n_new} asked")
    caches = model.new_caches() if use_cache else None
    tokens = torch.empty(idx.shape[0], idx.shape[1] + n_new, dtype=idx.dtype, device=idx.device)
    tokens[:, :idx.shape[1]] = idx  # written in place, one column per step: no re-concatenation
    step_input = idx
    # inference_mode: lighter than no_grad (no version counters); ``tokens`` was made
    # outside it, so what comes back is an ordinary tensor, usable anywhere afterwards.
    with torch.inference_mode():
        for t in range(idx.shape[1], idx.shape[1] + n_new):
            if use_cache:
                logits = model.step(step_input, caches)  # (B, T or 1, V)
            else:
                logits, _ = model(tokens[:, max(0, t - model.config.block_size):t])
            tokens[:, t] = _pick(logits[:, -1], temperature, top_k, generator, top_p)  # (B,)
            step_input = tokens[:, t:t + 1]  # (B, 1)
    return tokens


def _pick(logits, temperature, top_k, generator, top_p=None):
    """``sample_next`` without its checks (generate checks its arguments once)."""
    if temperature == 0:
        return logits.argmax(-1)
    logits = logits / temperature
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    return torch.multinomial(logits.softmax(-1), 1, generator=generator)[:, 0]


def _check_search(model, bos, eos, max_len):
    check_positive_int("max_len", max_len, allow_zero=True)
    vocab = getattr(getattr(model, "config", None), "tgt_vocab", None)
    for name, token in (("bos", bos), ("eos", eos)):
        check_positive_int(name, token, allow_zero=True)
        if vocab is not None and token >= vocab:
            raise ValueError(f"{name}={token} is not a target token id: the vocabulary has "
                             f"{vocab} ids, 0..{vocab - 1}")


@torch.no_grad()
def greedy_decode(model, src, *, bos: int, eos: int, max_len: int):
    """Append the single most likely next token until ``eos`` or ``max_len`` tokens.

    src: (B, S) -> (B, <= max_len + 1) token ids starting with ``bos``.
    """
    _check_search(model, bos, eos, max_len)
    memory, memory_mask = model.encode(src)
    out = torch.full((src.shape[0], 1), bos, dtype=torch.long, device=src.device)
    done = torch.zeros(src.shape[0], dtype=torch.bool, device=src.device)
    for _ in range(max_len):
        logits = model.decode(out, memory, memory_mask)[:, -1]  # (B, V): the next token
        next_token = logits.argmax(-1).masked_fill(done, eos)
        out = torch.cat([out, next_token[:, None]], dim=1)
        done |= next_token == eos
        if done.all():
            break
    return out


@torch.no_grad()
def beam_search(model, src, *, bos: int, eos: int, max_len: int, beam_width: int = 4):
    """Keep the ``beam_width`` most likely partial outputs (by summed log-probability).

    src: (1, S), one source sequence -> (best token ids (1, L), its log-probability).
    A finished hypothesis (ending in ``eos``) keeps its score; the search stops when the
    best finished one beats every unfinished one, or after ``max_len`` tokens.
    """
    _check_search(model, bos, eos, max_len)
    check_tokens("src", src, None, layout="(1, S)")
    if src.shape[0] != 1:
        raise ValueError(f"beam_search takes one source sequence (1, S), got batch {src.shape[0]}")
    check_positive_int("beam_width", beam_width)
    memory, memory_mask = model.encode(src)
    beams = [(0.0, [bos])]  # (log-probability, tokens)
    finished = []
    for _ in range(max_len):
        tokens = torch.tensor([seq for _, seq in beams], device=src.device)  # (k, t)
        k = tokens.shape[0]
        logp = model.decode(tokens, memory.expand(k, -1, -1), memory_mask.expand(k, -1, -1))
        logp = logp[:, -1].log_softmax(-1)  # (k, V)
        scores = torch.tensor([s for s, _ in beams], device=src.device)[:, None] + logp
        top = scores.flatten().topk(min(beam_width, scores.numel()))
        candidates = []
        for score, index in zip(top.values.tolist(), top.indices.tolist()):
            beam, token = divmod(index, logp.shape[1])
            candidates.append((score, beams[beam][1] + [token]))
        beams = []
        for score, seq in candidates:
            (finished if seq[-1] == eos else beams).append((score, seq))
        if not beams or (finished and max(finished)[0] >= beams[0][0]):
            break
    best_score, best = max(finished or beams)
    return torch.tensor([best], device=src.device), best_score
