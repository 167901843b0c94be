"""Exercise checks of Notebook 08, a GPT-style language model."""
import torch

from helpers.exercises._common import _diagnose, _perturbed


def check_temperature(apply_temperature):
    """Exercise: ``apply_temperature(logits, t)`` -> probabilities softmax(logits / t)."""
    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0]])
    t = 0.5
    mistakes = {
        "You multiplied by the temperature; divide: a low temperature must sharpen.":
            torch.softmax(logits * t, -1),
        "You returned logits, not probabilities: finish with a softmax.": logits / t,
        "You divided the probabilities, not the logits: softmax(logits / t).":
            torch.softmax(logits, -1) / t,
    }
    return _diagnose(apply_temperature(logits.clone(), t), torch.softmax(logits / t, -1),
                     mistakes, "softmax(logits / t): low t sharpens, high t flattens.")


def check_top_k(top_k_filter):
    """Exercise: ``top_k_filter(logits, k)``: keep the k largest logits, -inf elsewhere."""
    from helpers.generation import top_k_filter as reference

    logits = torch.tensor([[3.0, 1.0, 2.0, 0.0, -1.0]])
    kth = logits.topk(2).values[:, -1:]
    right = reference(logits, 2)
    mistakes = {
        "You set the others to 0, not -inf: a logit of 0 still has probability.":
            logits.masked_fill(logits < kth, 0.0),
        "You kept one too few: use >= the k-th largest (or mask < it).":
            logits.masked_fill(logits <= kth, float("-inf")),
        "You kept the k smallest logits.":
            logits.masked_fill(logits > logits.topk(2, largest=False).values[:, -1:], float("-inf")),
    }
    return _diagnose(top_k_filter(logits.clone(), 2), right, mistakes,
                     "Only the k most likely tokens can be sampled.")


def _gpt(seed=0):
    """A small GPT with every weight moved off its initial value (LayerNorms included).

    V = C = 16 on purpose: then forgetting to transpose the embedding matrix in the
    unembedding (h @ E instead of h @ Eᵀ) still gives logits of the right shape, and the
    check can name that mistake instead of failing on a shape error.
    """
    from helpers.gpt import GPT, GPTConfig

    return _perturbed(lambda: GPT(GPTConfig(vocab_size=16, block_size=8, d_model=16,
                                            num_heads=2, num_layers=2, d_ff=32)), seed)


def _gpt_forward(gpt, idx, *, positions="0..T-1", final_norm=True, unembed="E.T", blocks=True):
    """A learner's GPT forward pass, right by default; each keyword makes one mistake."""
    T = idx.shape[1]
    h = gpt.token(idx)  # (B, T, C)
    if positions == "0..T-1":
        h = h + gpt.position(torch.arange(T))
    elif positions == "1..T":
        h = h + gpt.position(torch.arange(1, T + 1))
    if blocks:
        for block in gpt.blocks:
            h = block(h)[0]  # (B, T, C)
    if final_norm:
        h = gpt.final_norm(h)
    E = gpt.token.weight  # (V, C)
    logits = h @ (E.T if unembed == "E.T" else E)  # (B, T, V)
    return logits.softmax(-1) if unembed == "probabilities" else logits


def check_gpt_forward(gpt_forward):
    """Exercise: ``gpt_forward(gpt, idx)`` -> logits (B, T, V), from a ``helpers.GPT``'s
    parts: token and position embeddings, the blocks, the final norm, the tied unembedding."""
    gpt = _gpt()
    idx = torch.randint(0, 16, (2, 6), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        got = gpt_forward(gpt, idx.clone())
        right = _gpt_forward(gpt, idx)
        mistakes = {
            "The positions are missing: add gpt.position(torch.arange(T)) to the token "
            "embeddings, or the model cannot tell 'ab' from 'ba'.":
                _gpt_forward(gpt, idx, positions=None),
            "Positions off by one: the first token has position 0, so use torch.arange(T), "
            "not 1..T.": _gpt_forward(gpt, idx, positions="1..T"),
            "The final LayerNorm is missing: h = gpt.final_norm(h) after the last block.":
                _gpt_forward(gpt, idx, final_norm=False),
            "The unembedding uses E, not its transpose: E = gpt.token.weight is (V, C), so "
            "logits = h @ E.T (each token's score is h · its embedding row).":
                _gpt_forward(gpt, idx, unembed="E"),
            "You returned probabilities: the model returns logits (the softmax comes in the "
            "loss or in sampling).": _gpt_forward(gpt, idx, unembed="probabilities"),
            "The blocks are missing: h, _ = block(h) for each block in gpt.blocks.":
                _gpt_forward(gpt, idx, blocks=False),
        }
    return _diagnose(got, right, mistakes,
                     "Matches helpers.GPT: embeddings + positions, blocks, final norm, h @ Eᵀ.")


def _cached_step(gpt, token, caches, *, position="cache length", keys="appended", scale="sqrt"):
    """A learner's key/value-cache step, right by default; each keyword makes one mistake.

    token (B, 1): one new token per sequence; caches: one KVCache per block holding every
    earlier token -> logits (B, 1, V) for the token after it.
    """
    B, T = token.shape
    past = caches[0].length
    pos = {"cache length": past, "zero": 0, "cache length + 1": past + 1}[position]
    h = gpt.token(token) + gpt.position(torch.arange(pos, pos + T))  # (B, 1, C)
    for block, cache in zip(gpt.blocks, caches):
        attn = block.attn
        C, H, D = attn.d_model, attn.num_heads, attn.head_dim
        q, k, v = attn.in_proj(block.norm1(h)).split(C, dim=-1)  # 3 x (B, 1, C)
        q, k, v = (t.view(B, T, H, D).transpose(1, 2) for t in (q, k, v))  # (B, H, 1, D)
        if keys == "appended":
            k, v = cache.append(k, v)  # (B, H, S, D)
        elif keys == "not stored":
            k, v = torch.cat([cache.k, k], 2), torch.cat([cache.v, v], 2)
        elif keys == "old only":
            k, v = cache.k, cache.v
        scores = q @ k.transpose(-2, -1) / (D ** 0.5 if scale == "sqrt" else D)  # (B, H, 1, S)
        out = (scores.softmax(-1) @ v).transpose(1, 2).reshape(B, T, C)  # (B, 1, C)
        h = h + attn.out_proj(out)
        h = h + block.mlp(block.norm2(h))
    return gpt.final_norm(h) @ gpt.token.weight.T  # (B, 1, V)


def check_cached_step(cached_step):
    """Exercise: ``cached_step(gpt, token, caches)`` -> logits (B, 1, V) of the token after
    ``token`` (B, 1), given one ``KVCache`` per block that holds every earlier token.

    The check fills the caches with a 4-token prompt, then calls the function twice (two new
    tokens, one at a time) and compares both steps' logits with the full forward pass; a
    second step catches a cache that was read but never written.
    """
    gpt = _gpt()
    g = torch.Generator().manual_seed(1)
    prompt = torch.randint(0, 16, (2, 4), generator=g)  # (B, 4): fills the caches
    new = torch.randint(0, 16, (2, 2), generator=g)  # (B, 2): the two steps' tokens

    def two_steps(step):
        caches = gpt.new_caches()
        gpt(prompt, caches)
        outs = []
        for t in range(2):
            out = step(gpt, new[:, t:t + 1].clone(), caches)
            if out is None or not isinstance(out, torch.Tensor):
                return out
            outs.append(out[:, None] if out.dim() == 2 else out)  # (B, V) is fine too
        return torch.cat(outs, 1)  # (B, 2, V)

    with torch.no_grad():
        got = two_steps(cached_step)
        right = gpt(torch.cat([prompt, new], 1))[0][:, 4:]  # the full pass, no cache
        mistakes = {
            "The new token's position is 0: it sits after the cached tokens, at position "
            "caches[0].length (the number of tokens cached).":
                two_steps(lambda *a: _cached_step(*a, position="zero")),
            "Position off by one: the new token's position is the cache length itself "
            "(positions count from 0), not length + 1.":
                two_steps(lambda *a: _cached_step(*a, position="cache length + 1")),
            "Right at the first step, wrong at the second: you read the cached keys and values "
            "but never stored the new ones. Use k, v = cache.append(k, v).":
                two_steps(lambda *a: _cached_step(*a, keys="not stored")),
            "The new token attended only to itself: its query must meet every cached key "
            "too. k, v = cache.append(k, v) stores the new ones and returns all of them.":
                two_steps(lambda *a: _cached_step(*a, keys="self only")),
            "The new token attended only to the earlier tokens, not to itself: append its "
            "key and value to the cache first (cache.append returns all of them).":
                two_steps(lambda *a: _cached_step(*a, keys="old only")),
            "You divided the scores by D, not by √D.":
                two_steps(lambda *a: _cached_step(*a, scale="D")),
        }
    return _diagnose(got, right, mistakes,
                     "Both steps match the full forward pass: position = cache length, the "
                     "new key and value appended, the query against all of them.")
