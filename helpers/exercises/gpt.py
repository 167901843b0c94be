"""Exercise checks of Notebook 10, a GPT-style language model."""
import torch

from helpers.exercises._common import Check, _diagnose, _module_or_error, _perturbed
from helpers.yours import builds


def check_temperature(apply_temperature):
    """Exercise: ``apply_temperature(logits, tau)`` -> probabilities softmax(logits / τ)."""
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
    logits = h @ (E if unembed == "E" else E.T)  # (B, T, V)
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


# -- the GPT as a module: a block, then the whole model -----------------------------------
def _config():
    from helpers.gpt import GPTConfig

    return GPTConfig(vocab_size=16, block_size=8, d_model=16, num_heads=2, num_layers=2, d_ff=32)


def _block_forward(block, x, *, causal="mask", pre_norm=True, attn_residual=True,
                   mlp_residual=True, second_norm="norm2"):
    """A learner's GPT block on a course ``GPTBlock``'s parts, right by default; each keyword
    makes one mistake. x (B, T, C) -> (B, T, C), every head's weights (B, H, T, T)."""
    from helpers.masks import causal_mask

    T = x.shape[1]
    mask = {"mask": causal_mask(T), "none": None, "flipped": ~causal_mask(T)}[causal]
    if not pre_norm:  # post-norm: the original Transformer's order
        attended, weights = block.attn(x, mask=mask)
        x = block.norm1(x + attended)
        return block.norm2(x + block.mlp(x)), weights
    attended, weights = block.attn(block.norm1(x), mask=mask)  # (B, T, C), (B, H, T, T)
    x = x + attended if attn_residual else attended
    out = block.mlp(getattr(block, second_norm)(x))
    return (x + out if mlp_residual else out), weights


def _parameters_or_error(mine, reference, what):
    """None if ``mine`` has exactly ``reference``'s parameter names and shapes, else a Check."""
    got = {n: tuple(t.shape) for n, t in mine.state_dict().items()}
    if not got:
        return Check(False, f"Not done yet: your module has no parameters. Create them in "
                            f"__init__, with the names of {what}'s.")
    wanted = {n: tuple(t.shape) for n, t in reference.state_dict().items()}
    if got == wanted:
        return None
    missing = sorted(set(wanted) - set(got))
    extra = sorted(set(got) - set(wanted))
    wrong = sorted(n for n in set(got) & set(wanted) if got[n] != wanted[n])
    parts = [f"missing {missing}" if missing else "", f"not in {what}: {extra}" if extra else "",
             "wrong shapes: " + ", ".join(f"{n} {got[n]} (expected {wanted[n]})" for n in wrong)
             if wrong else ""]
    return Check(False, f"Your parameters differ from {what}'s: " + "; ".join(p for p in parts if p)
                 + ". Use the same names, so that the same weights load into yours.")


def _gradients_or_error(mine, reference, loss_of):
    """Backpropagate ``loss_of(module)`` through both; None if every parameter's gradient
    agrees, else a Check naming the first one that does not."""
    loss_of(reference).backward()
    loss_of(mine).backward()
    theirs = dict(reference.named_parameters())
    for name, p in mine.named_parameters():
        if p.grad is None or not torch.allclose(p.grad, theirs[name].grad, atol=1e-4, rtol=1e-3):
            return Check(False, f"The forward pass is right, the gradient of {name} is not"
                                f"{' (none reached it)' if p.grad is None else ''}: is "
                                "something detached, or computed outside the module?")
    return None


def check_gpt_block(cls):
    """Exercise: ``class MyGPTBlock(nn.Module)``, built as ``cls(config)``, with ``norm1``,
    ``attn`` (a MultiHeadAttention), ``norm2`` and ``mlp`` (``up``: C -> d_ff, GELU, ``down``:
    d_ff -> C), and ``forward(x)`` (B, T, C) -> (x (B, T, C), weights (B, H, T, T)): pre-norm
    causal self-attention and an MLP, each added to the residual stream.

    Compared with the course's block (``helpers.gpt.GPTBlock``, same weights) forward and
    backward; the usual mistakes are named."""
    from helpers.gpt import GPTBlock

    config = _config()
    mine, error = _module_or_error(cls, lambda c: c(config))
    if error is not None:
        return error
    reference = _perturbed(lambda: GPTBlock(config), seed=2)
    error = _parameters_or_error(mine, reference, "helpers.gpt.GPTBlock")
    if error is not None:
        return error
    mine.load_state_dict(reference.state_dict())
    mine.eval()
    x = torch.randn(2, 6, config.d_model, generator=torch.Generator().manual_seed(3))
    try:
        got = mine(x.clone())
    except Exception as error:
        return Check(False, f"Calling your block failed: {type(error).__name__}: {error}")
    if not (isinstance(got, tuple) and len(got) == 2):
        return Check(False, "forward must return a pair (x, weights): the new residual stream "
                            "(B, T, C) and the attention weights (B, H, T, T), as your "
                            "MultiHeadAttention hands them back.")
    with torch.no_grad():
        right, right_weights = _block_forward(reference, x)
        mistakes = {
            "No causal mask: every token also attends to the tokens after it. Pass mask="
            "causal_mask(T, device=x.device) to the attention.": dict(causal="none"),
            "The causal mask is the wrong way round: True means may attend, so pass "
            "causal_mask(T) itself (the attention fills where it is False).":
                dict(causal="flipped"),
            "Post-norm: you normalised after adding (norm1(x + attn(x))). A GPT block is "
            "pre-norm: x + attn(norm1(x)), then x + mlp(norm2(x)).": dict(pre_norm=False),
            "The attention's residual is missing: x = x + attended, not x = attended.":
                dict(attn_residual=False),
            "The MLP's residual is missing: return x + mlp(norm2(x)).": dict(mlp_residual=False),
            "The MLP reads norm1(x): each sublayer has its own LayerNorm, norm2 before the MLP.":
                dict(second_norm="norm1"),
        }
        mistakes = {m: _block_forward(reference, x, **kw)[0] for m, kw in mistakes.items()}
    result = _diagnose(got[0], right, mistakes, "")
    if not result.passed:
        return result
    weights = got[1]  # None is allowed, as in helpers.gpt.GPTBlock without need_weights
    if weights is not None and (not isinstance(weights, torch.Tensor)
                                or weights.shape != right_weights.shape
                                or not torch.allclose(weights.detach(), right_weights, atol=1e-5)):
        return Check(False, f"x is right, the weights are not: return the attention's weights, "
                            f"shape {tuple(right_weights.shape)} (B, H, T, T).")
    r = torch.randn(2, 6, config.d_model, generator=torch.Generator().manual_seed(4))
    error = _gradients_or_error(mine, reference, lambda m: (m(x)[0] * r).sum())
    if error is not None:
        return error
    return Check(True, "Your block matches helpers.gpt.GPTBlock, forward and backward: "
                       "pre-norm, causal self-attention and an MLP, each on the residual stream.")


def _gpt_logits(gpt, idx, *, causal=True, **mistakes):
    """``_gpt_forward``, with the blocks run without their causal mask if causal=False."""
    if causal:
        return _gpt_forward(gpt, idx, **mistakes)
    T = idx.shape[1]
    h = gpt.token(idx) + gpt.position(torch.arange(T))
    for block in gpt.blocks:
        h = _block_forward(block, h, causal="none")[0]
    return gpt.final_norm(h) @ gpt.token.weight.T


@builds("GPT", "helpers.gpt:GPT")
def check_gpt(cls):
    """Exercise: ``class MyGPT(nn.Module)``, built as ``cls(config)`` (a ``GPTConfig``), kept
    as ``self.config``, with ``token`` (V, C) and ``position`` (block_size, C) embeddings, a
    ``blocks`` ModuleList of GPT blocks and a ``final_norm``, and no head of its own (the
    unembedding is tied: logits = h @ token.weight.T). ``forward(idx)``: idx (B, T) ->
    (logits (B, T, V), weights (B, L, H, T, T)), the same pair as helpers.GPT(need_weights=True).

    Compared with the course's GPT (same weights) forward and backward; the usual mistakes
    are named."""
    from helpers.gpt import GPT

    config = _config()
    mine, error = _module_or_error(cls, lambda c: c(config))
    if error is not None:
        return error
    if getattr(mine, "config", None) is not config:
        return Check(False, "Keep the configuration as self.config = config: training and "
                            "generate read config.block_size and config.vocab_size from it.")
    reference = _perturbed(lambda: GPT(config), seed=0)
    if not mine.state_dict():
        return Check(False, "Not done yet: your GPT has no parameters. Create token, position, "
                            "blocks and final_norm in __init__.")
    extra = {n: t for n, t in mine.state_dict().items() if n not in reference.state_dict()}
    for name, t in extra.items():
        if tuple(t.shape) == (config.vocab_size, config.d_model):
            tied = t.data_ptr() == mine.state_dict().get("token.weight", t).data_ptr() \
                and name != "token.weight"
            return Check(False, f"The head is not tied: {name} is a second (V, C) matrix"
                                f"{' (the same tensor, but saved twice)' if tied else ''}. "
                                "Compute logits = h @ self.token.weight.T: one matrix E embeds "
                                "and unembeds, V × C parameters fewer, and the state dict "
                                "matches helpers.GPT's.")
    if "final_norm.weight" not in mine.state_dict():
        return Check(False, "The final LayerNorm is missing: self.final_norm = LayerNorm(C), "
                            "applied to h after the last block.")
    error = _parameters_or_error(mine, reference, "helpers.GPT")
    if error is not None:
        return error
    mine.load_state_dict(reference.state_dict())
    mine.eval()
    idx = torch.randint(0, config.vocab_size, (2, 6), generator=torch.Generator().manual_seed(0))
    try:
        got = mine(idx.clone())
    except Exception as error:
        return Check(False, f"Calling your GPT failed: {type(error).__name__}: {error}")
    if not (isinstance(got, tuple) and len(got) == 2):
        return Check(False, "forward must return a pair (logits, weights), as helpers.GPT "
                            "does: training and generation take the first, logits (B, T, V).")
    with torch.no_grad():
        right, right_weights = reference(idx, need_weights=True)
        mistakes = {
            "No causal mask in the blocks: each position also sees the tokens it must "
            "predict, so training is easy and generation fails.": dict(causal=False),
            "The positions are missing: add self.position(torch.arange(T)) to the token "
            "embeddings, or the model cannot tell 'ab' from 'ba'.": dict(positions=None),
            "Positions off by one: the first token has position 0, so torch.arange(T), "
            "not 1..T.": dict(positions="1..T"),
            "The final LayerNorm is not applied: h = self.final_norm(h) after the last block.":
                dict(final_norm=False),
            "The unembedding uses E, not its transpose: E = self.token.weight is (V, C), so "
            "logits = h @ E.T.": dict(unembed="E"),
            "You returned probabilities: the model returns logits (the softmax comes in the "
            "loss or in sampling).": dict(unembed="probabilities"),
            "The blocks are missing: h, w = block(h) for each block in self.blocks.":
                dict(blocks=False),
        }
        mistakes = {m: _gpt_logits(reference, idx, **kw) for m, kw in mistakes.items()}
    result = _diagnose(got[0], right, mistakes, "")
    if not result.passed:
        return result
    weights = got[1]
    if weights is not None and (not isinstance(weights, torch.Tensor)
                                or weights.shape != right_weights.shape
                                or not torch.allclose(weights.detach(), right_weights, atol=1e-5)):
        return Check(False, f"The logits are right, the weights are not: stack every block's "
                            f"weights on dim 1, shape {tuple(right_weights.shape)} (B, L, H, T, T).")
    targets = torch.randint(0, config.vocab_size, (2, 6), generator=torch.Generator().manual_seed(1))
    error = _gradients_or_error(mine, reference, lambda m: torch.nn.functional.cross_entropy(
        m(idx)[0].flatten(0, 1), targets.flatten()))
    if error is not None:
        return error
    return Check(True, "Your GPT matches helpers.GPT, forward and backward: token embeddings "
                       "plus positions, causal blocks, the final norm, the tied head h @ Eᵀ.")


# -- sampling: top-p, then the whole generation loop --------------------------------------
def check_top_p(top_p_filter):
    """Exercise: ``top_p_filter(logits, p)`` (B, V): keep the most likely tokens whose
    probabilities first add up to p (the one that crosses p included), -inf elsewhere."""
    from helpers.generation import top_p_filter as reference

    # probabilities [0.1, 0.4, 0.05, 0.3, 0.15]; sorted 0.4, 0.3, 0.15, 0.1, 0.05
    logits = torch.tensor([[0.1, 0.4, 0.05, 0.3, 0.15]]).log()
    p = 0.6
    probs = logits.softmax(-1)
    right = reference(logits, p)
    inf = float("-inf")
    sorted_probs, order = probs.sort(-1, descending=True)
    exclusive = (sorted_probs.cumsum(-1) >= p).scatter(-1, order, sorted_probs.cumsum(-1) >= p)
    unsorted = probs.cumsum(-1) - probs >= p
    mistakes = {
        "You dropped the token that crosses p: keep every token whose probability *before* "
        "it (the sum of the ones ranked above) is below p, so the first token over p stays "
        "(and at least one token always does).": logits.masked_fill(exclusive, inf),
        "You added up the probabilities in vocabulary order: sort them, most likely first.":
            logits.masked_fill(unsorted, inf),
        "You set the others to 0, not -inf: a logit of 0 still has probability.":
            right.masked_fill(right == inf, 0.0),
        "You returned probabilities: return the logits, with -inf where a token is dropped.":
            right.softmax(-1),
    }
    return _diagnose(top_p_filter(logits.clone(), p), right, mistakes,
                     "The nucleus: the fewest most likely tokens that together reach p.")


def _loop(model, idx, n_new, pick, *, position=-1, crop="last"):
    """The generation loop with a given ``pick(logits (B, V)) -> (B,)``; ``position`` and
    ``crop`` ("last" or "first" block_size tokens) can make a mistake."""
    out, window = idx, model.config.block_size
    for _ in range(n_new):
        context = out[:, -window:] if crop == "last" else out[:, :window]
        out = torch.cat([out, pick(model(context)[0][:, position])[:, None]], dim=1)
    return out


@builds("generate", "helpers.generation:generate")
def check_generate(generate):
    """Exercise: ``generate(model, idx, n_new, temperature=1.0, top_k=None, top_p=None,
    generator=None)``: append n_new tokens to idx (B, T), one at a time, each picked from
    the model's logits for the last position (cropped to the last config.block_size tokens):
    greedy if temperature == 0, else sampled with torch.multinomial(probs, 1,
    generator=generator) from softmax(logits / temperature), after top_k then top_p filtering.

    Compared with helpers.generation.generate (without its cache) on a small GPT, with fixed
    random generators; the usual mistakes are named."""
    from helpers.generation import generate as reference

    model = _gpt()
    with torch.no_grad():  # flatter logits (std about 1.2): sampling settings then matter
        model.final_norm.weight.mul_(0.25)
        model.final_norm.bias.mul_(0.25)
    idx = torch.randint(0, 16, (3, 3), generator=torch.Generator().manual_seed(2))
    if generate is None:
        return Check(False, "Not done yet: define your function and pass it.")
    cases = [  # (what, keyword arguments, seed, n_new)
        ("greedy (temperature 0), 8 new tokens after 3: longer than the window of 8",
         dict(temperature=0.0), None, 8),
        ("temperature 0.7, top-k 3, 8 new tokens after 3", dict(temperature=0.7, top_k=3), 3, 8),
        ("temperature 1.2, top-p 0.6, 8 new tokens after 3", dict(temperature=1.2, top_p=0.6), 4, 8),
    ]

    for what, kwargs, seed, n_new in cases:
        g = lambda: None if seed is None else torch.Generator().manual_seed(seed)  # noqa: E731
        try:
            with torch.no_grad():
                got = generate(model, idx.clone(), n_new, **kwargs, generator=g())
        except Exception as error:
            if "context window" in str(error):
                return Check(False, f"{what}: the model was given more than block_size tokens. "
                                    "Crop the input to its last model.config.block_size "
                                    "tokens at every step.")
            if kwargs["temperature"] == 0:
                return Check(False, f"{what}: your function failed ({type(error).__name__}: "
                                    f"{error}). Temperature 0 means greedy: take the argmax of "
                                    "the logits, without dividing by 0.")
            return Check(False, f"{what}: your function failed: {type(error).__name__}: {error}")
        if got is None:
            return Check(False, "Not done yet: your function returned None. Return the "
                                "prompt followed by the new tokens, (B, T + n_new).")
        if not isinstance(got, torch.Tensor):
            return Check(False, f"Expected a tensor of token ids, got {type(got).__name__}.")
        right = reference(model, idx, n_new, **kwargs, use_cache=False, generator=g())
        if got.shape == (3, n_new) and torch.equal(got, right[:, 3:]):
            return Check(False, "You returned only the new tokens: return the prompt followed "
                                "by them, (B, T + n_new).")
        if got.shape == right.shape and torch.equal(got, right):
            continue
        t, k, p = kwargs["temperature"], kwargs.get("top_k"), kwargs.get("top_p")
        with torch.no_grad():
            mistakes = _generate_mistakes(model, idx, n_new, t, k, p, seed)
        for message, wrong in mistakes.items():
            if got.shape == wrong.shape and torch.equal(got, wrong):
                return Check(False, f"{what}: {message}")
        if got.shape != right.shape:
            return Check(False, f"{what}: expected token ids of shape {tuple(right.shape)} "
                                f"(B, T + n_new), got {tuple(got.shape)}.")
        return Check(False, f"{what}: other tokens than helpers.generation.generate's. Sample "
                            "with torch.multinomial(probs, 1, generator=generator), one call "
                            "per step, after temperature, top_k, then top_p.")
    return Check(True, "Your generate gives helpers.generation.generate's tokens: greedy, "
                       "with temperature, top-k and top-p, cropped to the context window.")


def _generate_mistakes(model, idx, n_new, t, k, p, seed):
    """What the usual mistakes of a generation loop produce: message -> token ids."""
    from helpers.generation import generate as reference

    g = lambda: None if seed is None else torch.Generator().manual_seed(seed)  # noqa: E731

    def exclusive_top_p(logits, p):  # the mistake: the token that crosses p is dropped
        sorted_logits, order = logits.sort(-1, descending=True)
        drop = sorted_logits.softmax(-1).cumsum(-1) >= p
        drop[..., 0] = False  # (keeps one, so that the mistake samples instead of failing)
        return logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))

    def sampled(pick_probs):
        generator = g()
        return lambda logits: torch.multinomial(pick_probs(logits), 1, generator=generator)[:, 0]

    mistakes = {}
    if t:
        mistakes["The temperature has no effect: divide the logits by it before the softmax "
                 "(dividing the probabilities changes nothing once they are normalised)."] = \
            reference(model, idx, n_new, temperature=1.0, top_k=k, top_p=p, use_cache=False,
                      generator=g())
    if k:
        mistakes[f"top-k keeps {k - 1} tokens, not {k}: keep every logit >= the k-th "
                 "largest."] = reference(model, idx, n_new, temperature=t, top_k=k - 1,
                                         use_cache=False, generator=g())
    if p:
        mistakes["top-p drops the token that crosses p: keep every token whose probability "
                 "before it is below p."] = _loop(
            model, idx, n_new, sampled(lambda lg: exclusive_top_p(lg / t, p).softmax(-1)))
    if t == 0:
        mistakes["You picked from the first position's logits: the next token comes from the "
                 "last one, logits[:, -1]."] = _loop(model, idx, n_new,
                                                     lambda lg: lg.argmax(-1), position=0)
    else:
        mistakes["Not cropped to the last block_size tokens: the model saw the first ones "
                 "instead."] = _loop(model, idx, n_new, sampled(
                     lambda lg: _pick_filters(lg / t, k, p).softmax(-1)), crop="first")
    return mistakes


def _pick_filters(logits, top_k, top_p):
    from helpers.generation import top_k_filter, top_p_filter

    logits = logits if top_k is None else top_k_filter(logits, top_k)
    return logits if top_p is None else top_p_filter(logits, top_p)
