"""Decoding an encoder-decoder model one token at a time: greedy search and beam search.

Both take a model with ``encode(src)`` and ``decode(tgt, memory, memory_mask)`` (see
``helpers.decoder.EncoderDecoder``), a begin-of-sequence id to start from and an
end-of-sequence id that finishes a hypothesis.
"""
import torch


@torch.no_grad()
def greedy_decode(model, src, *, bos: int, eos: int, max_len: int):
    """Append the single most likely next token until ``eos`` or ``max_len`` tokens.

    src: (B, S) -> (B, <= max_len + 1) token ids starting with ``bos``.
    """
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
    if src.shape[0] != 1:
        raise ValueError(f"beam_search takes one source sequence (1, S), got batch {src.shape[0]}")
    if beam_width < 1:
        raise ValueError(f"beam_width must be >= 1, got {beam_width}")
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
