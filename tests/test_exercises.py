"""The exercise checks accept a right answer and name each classic mistake."""
import math

import pytest
import torch

from helpers import exercises as ex


def sdpa(q, k, v, scale=None, dim=-1):
    scale = math.sqrt(q.shape[-1]) if scale is None else scale
    return torch.softmax(q @ k.transpose(-2, -1) / scale, dim=dim) @ v


def stable_softmax(x):
    e = (x - x.max(-1, keepdim=True).values).exp()
    return e / e.sum(-1, keepdim=True)


@pytest.mark.parametrize("fn, passed, words", [
    (stable_softmax, True, "safe for large"),
    (lambda x: x.exp() / x.exp().sum(-1, keepdim=True), False, "Overflow"),
    (lambda x: torch.softmax(x, 0), False, "wrong axis"),
    (lambda x: x.exp(), False, "forgot to normalise"),
    (lambda x: None, False, "returned None"),
    (lambda x: x.tolist(), False, "Expected a torch.Tensor, got list"),
])
def test_check_softmax(fn, passed, words):
    result = ex.check_softmax(fn)
    assert result.passed is passed and words in result.message


@pytest.mark.parametrize("fn, passed, words", [
    (lambda q, k: q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), True, "√d_k"),
    (lambda q, k: q @ k.transpose(-2, -1) / q.shape[-1], False, "divided by d_k (9), not"),
    (lambda q, k: q @ k.transpose(-2, -1), False, "forgot to divide"),
    (lambda q, k: k @ q.transpose(-2, -1) / 3, False, "one row per key"),
    (lambda q, k: q @ k.transpose(-2, -1) * 3, False, "multiplied"),
    (lambda q, k: q[..., :1], False, "Wrong shape: expected (2, 5, 6), got (2, 5, 1)"),
    (lambda q, k: q @ k.transpose(-2, -1) / 3 + 1, False, "wrong values"),
])
def test_check_scaled_scores(fn, passed, words):
    result = ex.check_scaled_scores(fn)
    assert result.passed is passed and words in result.message


@pytest.mark.parametrize("fn, passed, words", [
    (sdpa, True, "as in the paper"),
    (lambda q, k, v: sdpa(q, k, v, dim=-2), False, "wrong axis"),
    (lambda q, k, v: sdpa(q, k, v, scale=1.0), False, "forgot to divide"),
    (lambda q, k, v: sdpa(q, k, v, scale=q.shape[-1]), False, "divided by d_k"),
    (lambda q, k, v: torch.softmax(q @ k.transpose(-2, -1) / 3, -1), False, "returned the weights"),
])
def test_check_attention(fn, passed, words):
    result = ex.check_attention(fn)
    assert result.passed is passed and words in result.message
    assert repr(result).startswith("✔" if passed else "✘")


@pytest.mark.parametrize("fn, passed, words", [
    (lambda x, wq, wk, wv: sdpa(wq(x), wk(x), wv(x)), True, "learned"),
    (lambda x, wq, wk, wv: sdpa(wq(x), wk(x), x), False, "raw inputs: pass x through w_v"),
    (lambda x, wq, wk, wv: sdpa(wq(x), wq(x), wv(x)), False, "keys come from w_q"),
    (lambda x, wq, wk, wv: sdpa(x, x, wv(x)), False, "queries and keys are the raw inputs"),
    (lambda x, wq, wk, wv: sdpa(wq(x), wk(x), wv(x), scale=1.0), False, "forgot to divide"),
    (lambda x, wq, wk, wv: sdpa(wq(x), wk(x), wv(x), dim=-2), False, "wrong axis"),
])
def test_check_self_attention(fn, passed, words):
    result = ex.check_self_attention(fn)
    assert result.passed is passed and words in result.message


@pytest.mark.parametrize("answer, passed, words", [
    (16 * 8 * 2 + 16 * 4 + 2 * 8 + 4, True, "three weight matrices"),
    (16 * 8 * 2 + 16 * 4, False, "forgot the biases"),
    (3 * 16 * 8 + 3 * 8, False, "d_v=4"),
    (16 * 8 + 8, False, "one map"),
    (None, False, "Not done yet"),
    (7, False, "is not it"),
])
def test_check_parameter_count(answer, passed, words):
    result = ex.check_parameter_count(answer, d_model=16, d_k=8, d_v=4)
    assert result.passed is passed and words in result.message


@pytest.mark.parametrize("fn, passed, words", [
    (lambda attn, x, c: attn(x, c)[0], True, "One output row per query"),
    (lambda attn, x, c: attn(c, x), False, "one row per context token"),
    (lambda attn, x, c: attn(x), False, "That is self-attention"),
])
def test_check_cross_attention(fn, passed, words):
    result = ex.check_cross_attention(fn)
    assert result.passed is passed and words in result.message


@pytest.mark.parametrize("fn, passed, words", [
    (lambda T: torch.ones(T, T, dtype=torch.bool).tril(), True, "sees itself and the past"),
    (lambda T: torch.ones(T, T).tril(), False, "dtype torch.float32"),
    (lambda T: torch.ones(T, T, dtype=torch.bool).triu(1), False, "upside down"),
    (lambda T: torch.ones(T, T, dtype=torch.bool).tril(-1), False, "attend to itself"),
    (lambda T: torch.ones(T, T, dtype=torch.bool).triu(), False, "upper triangle"),
])
def test_check_causal_mask(fn, passed, words):
    result = ex.check_causal_mask(fn)
    assert result.passed is passed and words in result.message


@pytest.mark.parametrize("fn, passed, words", [
    (lambda s, m: torch.softmax(s.masked_fill(~m, float("-inf")), -1), True, "exactly 0"),
    (lambda s, m: torch.softmax(s, -1) * m, False, "after the softmax"),
    (lambda s, m: torch.softmax(s.masked_fill(~m, 0.0), -1), False, "not -inf"),
    (lambda s, m: torch.softmax(s.masked_fill(m, float("-inf")), -1), False, "blocked the allowed"),
])
def test_check_masked_softmax(fn, passed, words):
    result = ex.check_masked_softmax(fn)
    assert result.passed is passed and words in result.message


@pytest.mark.parametrize("fn, passed, words", [
    (lambda m: ~m, True, "True now means 'blocked'"),
    (lambda m: m, False, "unchanged"),
    (lambda m: torch.zeros(m.shape).masked_fill(~m, float("-inf")), False, "boolean mask, got"),
])
def test_check_to_torch_mha(fn, passed, words):
    result = ex.check_to_torch_mha(fn)
    assert result.passed is passed and words in result.message


@pytest.mark.parametrize("fn, passed, words", [
    (lambda x, H: x.view(*x.shape[:2], H, -1).transpose(1, 2), True, "own slice"),
    (lambda x, H: x.reshape(x.shape[0], H, x.shape[1], -1), False, "reshaped straight"),
    (lambda x, H: x.view(*x.shape[:2], H, -1), False, "stopped at (B, T, H, D)"),
])
def test_check_split_heads(fn, passed, words):
    result = ex.check_split_heads(fn)
    assert result.passed is passed and words in result.message


@pytest.mark.parametrize("fn, passed, words", [
    (lambda x: x.transpose(1, 2).reshape(x.shape[0], x.shape[2], -1), True, "side by side"),
    (lambda x: x.reshape(x.shape[0], x.shape[2], -1), False, "without transposing"),
])
def test_check_merge_heads(fn, passed, words):
    result = ex.check_merge_heads(fn)
    assert result.passed is passed and words in result.message


@pytest.mark.parametrize("answer, passed, words", [
    (4 * (64 * 64 + 64), True, "whatever the number of heads"),
    (3 * (64 * 64 + 64), False, "output projection"),
    (4 * 64 * 64, False, "biases"),
    (8 * 4 * (64 * 64 + 64), False, "More heads do not mean more parameters"),
    (None, False, "Not done yet"),
    (1, False, "is not it"),
])
def test_check_mha_parameter_count(answer, passed, words):
    result = ex.check_mha_parameter_count(answer, d_model=64, num_heads=8)
    assert result.passed is passed and words in result.message


def sinusoid(T, C, sign=-1, exponent=2, start=0, swap=False):
    p = torch.arange(start, start + T, dtype=torch.float32)[:, None]
    omega = 10_000 ** (sign * exponent * torch.arange(C // 2) / C)
    first, second = (torch.cos, torch.sin) if swap else (torch.sin, torch.cos)
    pe = torch.empty(T, C)
    pe[:, 0::2], pe[:, 1::2] = first(p * omega), second(p * omega)
    return pe


@pytest.mark.parametrize("fn, passed, words", [
    (lambda T, C: sinusoid(T, C), True, "paper's"),
    (lambda T, C: sinusoid(T, C, swap=True), False, "swapped"),
    (lambda T, C: sinusoid(T, C, exponent=1), False, "2i/C, not i/C"),
    (lambda T, C: sinusoid(T, C, start=1), False, "start at 0"),
    (lambda T, C: sinusoid(T, C, sign=1), False, "minus sign"),
])
def test_check_sinusoidal(fn, passed, words):
    result = ex.check_sinusoidal(fn)
    assert result.passed is passed and words in result.message


def distances(T):
    return (torch.arange(T)[:, None] - torch.arange(T)[None, :]).float()


@pytest.mark.parametrize("fn, passed, words", [
    (lambda T, m: -m * distances(T).abs(), True, "loses slope"),
    (lambda T, m: m * distances(T).abs(), False, "sign is wrong"),
    (lambda T, m: -m * distances(T), False, "absolute value"),
    (lambda T, m: -distances(T).abs(), False, "forgot the slope"),
])
def test_check_alibi(fn, passed, words):
    result = ex.check_alibi(fn)
    assert result.passed is passed and words in result.message


def layernorm(x, gamma, beta, eps, dim=-1, unbiased=False, affine=True):
    y = (x - x.mean(dim, keepdim=True)) / torch.sqrt(x.var(dim, keepdim=True, unbiased=unbiased) + eps)
    return y * gamma + beta if affine else y


@pytest.mark.parametrize("fn, passed, words", [
    (layernorm, True, "layer_norm"),
    (lambda *a: layernorm(*a, unbiased=True), False, "unbiased"),
    (lambda *a: layernorm(*a, dim=-2), False, "over the tokens"),
    (lambda *a: layernorm(*a, affine=False), False, "scale and shift"),
])
def test_check_layernorm(fn, passed, words):
    result = ex.check_layernorm(fn)
    assert result.passed is passed and words in result.message


@pytest.mark.parametrize("answer, passed, words", [
    (4 * (64 * 64 + 64) + 2 * 64 * 256 + 256 + 64 + 4 * 64, True, "attention"),
    (4 * (64 * 64 + 64) + 2 * 64 * 256 + 256 + 64, False, "LayerNorms"),
    (4 * (64 * 64 + 64) + 4 * 64, False, "forgot the MLP"),
    (4 * (64 * 64 + 64) + 2 * 64 * 256 + 4 * 64, False, "MLP's biases"),
    (5, False, "is not it"),
])
def test_check_block_parameter_count(answer, passed, words):
    result = ex.check_block_parameter_count(answer, d_model=64, d_ff=256)
    assert result.passed is passed and words in result.message



@pytest.mark.parametrize("fn, passed, words", [
    (lambda t: (t[:, :-1], t[:, 1:]), True, "teacher forcing"),
    (lambda t: (t, t), False, "copy its input"),
    (lambda t: (t[:, 1:], t[:, :-1]), False, "Swapped"),
    (lambda t: None, False, "Not done yet"),
    (lambda t: t, False, "Return a pair"),
])
def test_check_teacher_forcing(fn, passed, words):
    result = ex.check_teacher_forcing(fn)
    assert result.passed is passed and words in result.message


@pytest.mark.parametrize("fn, passed, words", [
    (lambda lg: lg[:, -1].argmax(-1), True, "last position"),
    (lambda lg: lg[:, 0].argmax(-1), False, "first position"),
    (lambda lg: lg.argmax(1)[:, -1], False, "over the positions"),
])
def test_check_next_token(fn, passed, words):
    result = ex.check_next_token(fn)
    assert result.passed is passed and words in result.message


@pytest.mark.parametrize("fn, passed, words", [
    (lambda lg, t: torch.softmax(lg / t, -1), True, "sharpens"),
    (lambda lg, t: torch.softmax(lg * t, -1), False, "multiplied"),
    (lambda lg, t: lg / t, False, "not probabilities"),
    (lambda lg, t: torch.softmax(lg, -1) / t, False, "divided the probabilities"),
])
def test_check_temperature(fn, passed, words):
    result = ex.check_temperature(fn)
    assert result.passed is passed and words in result.message


def keep_top(lg, k, strict=False, fill=float("-inf")):
    kth = lg.topk(k).values[:, -1:]
    return lg.masked_fill(lg <= kth if strict else lg < kth, fill)


@pytest.mark.parametrize("fn, passed, words", [
    (keep_top, True, "most likely"),
    (lambda lg, k: keep_top(lg, k, fill=0.0), False, "not -inf"),
    (lambda lg, k: keep_top(lg, k, strict=True), False, "one too few"),
])
def test_check_top_k(fn, passed, words):
    result = ex.check_top_k(fn)
    assert result.passed is passed and words in result.message


def _checks_of_functions():
    import inspect

    return [fn for name, fn in vars(ex).items() if name.startswith("check_")
            and next(iter(inspect.signature(fn).parameters)) != "answer"]


@pytest.mark.parametrize("check", _checks_of_functions(), ids=lambda f: f.__name__)
def test_checks_leave_the_learners_random_stream_alone(check):
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    import inspect
    required = [p for p in inspect.signature(check).parameters.values()
                if p.default is inspect.Parameter.empty]
    check(*[lambda *args, **kwargs: None for _ in required])
    assert torch.equal(torch.rand(3), expected_next), \
        f"{check.__name__} reseeded or drew from the global generator"


def _windows(x, M, order=(0, 1, 3, 2, 4, 5)):
    B, H, W, C = x.shape
    return x.view(B, H // M, M, W // M, M, C).permute(*order).reshape(-1, M * M, C)


@pytest.mark.parametrize("fn, passed, words", [
    (lambda x, M: _windows(x, M), True, "reading order"),
    (lambda x, M: x.reshape(-1, M * M, x.shape[-1]), False, "cut across rows"),
    (lambda x, M: _windows(x, M, (0, 1, 2, 3, 4, 5)), False, "cut across rows"),
    (lambda x, M: _windows(x, M, (0, 3, 1, 2, 4, 5)), False, "column by column"),
    (lambda x, M: _windows(x, M, (0, 1, 3, 4, 2, 5)), False, "transposed"),
    (lambda x, M: _windows(x, M).view(x.shape[0], -1, M * M, x.shape[-1]), False, "B·n_w"),
    (lambda x, M: _windows(x, 1), False, "Wrong window size"),
    (lambda x, M: None, False, "Not done yet"),
])
def test_check_window_partition(fn, passed, words):
    result = ex.check_window_partition(fn)
    assert result.passed is passed and words in result.message


def _same(labels):
    flat = labels.flatten()
    return flat[:, None] == flat[None, :]


@pytest.mark.parametrize("fn, passed, words", [
    (_same, True, "Two pieces"),
    (lambda lb: ~_same(lb), False, "Inverted"),
    (lambda lb: torch.ones(16, 16, dtype=torch.bool), False, "No mask"),
    (lambda lb: _same(lb.T), False, "column by column"),
    (lambda lb: torch.eye(16, dtype=torch.bool), False, "Only the diagonal"),
    (lambda lb: torch.zeros(16, 16).masked_fill(~_same(lb), float("-inf")), False, "additive"),
    (lambda lb: _same(lb).float(), False, "wrong dtype"),
])
def test_check_window_mask(fn, passed, words):
    result = ex.check_window_mask(fn)
    assert result.passed is passed and words in result.message


@pytest.mark.parametrize("answer, passed, words", [
    ((56 ** 4, 49 * 56 * 56), True, "64× fewer"),
    ((56 * 56, 49 * 56 * 56), False, "counts tokens"),
    ((56 ** 4, 7 ** 4), False, "one window"),
    ((56 ** 4, 49 * 64), False, "counts tokens"),
    ((56 ** 4, 7 ** 3 * 56 * 56), False, "window count is off"),
    ((56 ** 4, 1), False, "Windows: not 1"),
    (None, False, "Not done yet"),
    ((1.0, 2.0), False, "two ints"),
])
def test_check_window_cost(answer, passed, words):
    result = ex.check_window_cost(answer, H=56, W=56, M=7)
    assert result.passed is passed and words in result.message


# Notebook 08: the decoder block, wired by hand from a DecoderBlock's parts


def _decoder(block, z, memory, *, self_mask=True, keys_values="memory", queries="decoder",
             cross_mask=False, residuals=(1, 1, 1), use_mlp=True, post_norm=False,
             mask_size="T"):
    """A learner's pre-norm decoder block, right by default; each keyword makes one mistake."""
    from helpers.masks import causal_mask

    T = z.shape[1]
    causal = causal_mask(T if mask_size == "T" else memory.shape[1])
    if post_norm:
        z = block.norm1(z + block.self_attn(z, mask=causal)[0])
        z = block.norm2(z + block.cross_attn(z, memory)[0])
        return block.norm3(z + block.mlp(z))
    r1, r2, r3 = residuals
    z = r1 * z + block.self_attn(block.norm1(z), mask=causal if self_mask else None)[0]
    q = block.norm2(z)
    kv = {"memory": memory, "decoder": q, "decoder stream": z,
          "first T of memory": memory[:, :T]}[keys_values]
    if queries == "encoder":
        q, kv = memory, q
    z = r2 * z + block.cross_attn(q, kv, mask=causal if cross_mask else None)[0]
    return r3 * z + block.mlp(block.norm3(z)) if use_mlp else z


@pytest.mark.parametrize("kwargs, passed, words", [
    ({}, True, "Matches helpers.DecoderBlock"),
    ({"keys_values": "decoder"}, False, "keys and values from the decoder"),
    ({"keys_values": "decoder stream"}, False, "decoder's own stream"),
    ({"queries": "encoder"}, False, "queries from the encoder"),
    ({"self_mask": False}, False, "causal mask is missing"),
    ({"cross_mask": True}, False, "applied the causal mask to cross-attention"),
    ({"self_mask": False, "cross_mask": True}, False, "instead of self-attention"),
    ({"residuals": (0, 1, 1)}, False, "residual around self-attention"),
    ({"residuals": (1, 0, 1)}, False, "residual around cross-attention"),
    ({"residuals": (1, 1, 0)}, False, "residual around the MLP"),
    ({"use_mlp": False}, False, "The MLP is missing"),
    ({"post_norm": True}, False, "post-norm"),
    ({"keys_values": "first T of memory"}, False, "Right for T = S, wrong for T = 4 < S = 7"),
    ({"mask_size": "S"}, False, "raised"),
    (None, False, "Not done yet"),
])
def test_check_decoder_block(kwargs, passed, words):
    fn = (lambda *args: None) if kwargs is None else (lambda *args: _decoder(*args, **kwargs))
    result = ex.check_decoder_block(fn)
    assert result.passed is passed and words in result.message, result.message


# Notebook 06: GELU, the MLP, the pre- and post-norm wirings, the encoder block

def erf_gelu(x):
    return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))


@pytest.mark.parametrize("fn, passed, words", [
    (erf_gelu, True, "exact GELU"),
    (torch.nn.functional.gelu, True, "exact GELU"),
    (torch.relu, False, "ReLU"),
    (lambda x: torch.nn.functional.gelu(x, approximate="tanh"), False, "tanh approximation"),
    (lambda x: x * torch.sigmoid(1.702 * x), False, "sigmoid approximation"),
    (torch.nn.functional.silu, False, "SiLU"),
    (lambda x: erf_gelu(x) + 0.1, False, "wrong values"),
    (lambda x: 0.5 * (1 + torch.erf(x / math.sqrt(2))), False, "without multiplying by x"),
    (lambda x: 0.5 * x * (1 + torch.erf(x)), False, "forgot the √2"),
    (lambda x: x * (1 + torch.erf(x / math.sqrt(2))), False, "forgot the ½"),
    (lambda x: None, False, "Not done yet"),
])
def test_check_gelu(fn, passed, words):
    result = ex.check_gelu(fn)
    assert result.passed is passed and words in result.message, result.message


@pytest.mark.parametrize("fn, passed, words", [
    (lambda x, up, down: down(erf_gelu(up(x))), True, "exact GELU"),
    (lambda x, up, down: down(torch.relu(up(x))), False, "ReLU"),
    (lambda x, up, down: down(torch.nn.functional.gelu(up(x), approximate="tanh")), False,
     "tanh approximation"),
    (lambda x, up, down: down(up(x) * torch.sigmoid(1.702 * up(x))), False, "sigmoid"),
    (lambda x, up, down: down(up(x)), False, "activation is missing"),
    (lambda x, up, down: erf_gelu(down(up(x))), False, "wrong place"),
    (lambda x, up, down: erf_gelu(down(erf_gelu(up(x)))), False, "GELU twice"),
    (lambda x, up, down: x + down(erf_gelu(up(x))), False, "added the residual"),
    (lambda x, up, down: up(erf_gelu(down(x))), False, "Up and down are swapped"),
    (lambda x, up, down: None, False, "Not done yet"),
])
def test_check_mlp(fn, passed, words):
    result = ex.check_mlp(fn)
    assert result.passed is passed and words in result.message, result.message


def ln(x, gamma, beta, dim=-1):
    mean, var = x.mean(dim, keepdim=True), x.var(dim, keepdim=True, unbiased=False)
    return (x - mean) / torch.sqrt(var + 1e-5) * gamma + beta


@pytest.mark.parametrize("fn, passed, words", [
    (lambda x, f, g, b: x + f(ln(x, g, b)), True, "pre-norm"),
    (lambda x, f, g, b: x + f(torch.nn.functional.layer_norm(x, (6,), g, b)), True, "pre-norm"),
    (lambda x, f, g, b: f(ln(x, g, b)), False, "residual is missing"),
    (lambda x, f, g, b: ln(x + f(x), g, b), False, "That is post-norm"),
    (lambda x, f, g, b: ln(x, g, b) + f(ln(x, g, b)), False, "carry the raw x"),
    (lambda x, f, g, b: x + f(x), False, "LayerNorm is missing"),
    (lambda x, f, g, b: x + f(ln(x, g, b, dim=-2)), False, "over the sequence"),
    (lambda x, f, g, b: x + f(ln(x, g, b, dim=0)), False, "over the batch"),
    (lambda x, f, g, b: None, False, "Not done yet"),
])
def test_check_pre_norm(fn, passed, words):
    result = ex.check_pre_norm(fn)
    assert result.passed is passed and words in result.message, result.message


@pytest.mark.parametrize("fn, passed, words", [
    (lambda x, f, g, b: ln(x + f(x), g, b), True, "post-norm"),
    (lambda x, f, g, b: ln(f(x), g, b), False, "residual is missing"),
    (lambda x, f, g, b: x + f(ln(x, g, b)), False, "That is pre-norm"),
    (lambda x, f, g, b: x + f(x), False, "LayerNorm is missing"),
    (lambda x, f, g, b: x + ln(f(x), g, b), False, "before the sum"),
    (lambda x, f, g, b: ln(x + f(x), g, b, dim=-2), False, "over the sequence"),
    (lambda x, f, g, b: ln(x + f(x), g, b, dim=0), False, "over the batch"),
    (lambda x, f, g, b: None, False, "Not done yet"),
])
def test_check_post_norm(fn, passed, words):
    result = ex.check_post_norm(fn)
    assert result.passed is passed and words in result.message, result.message


def _encoder(block, x, wiring="pre"):
    attn = lambda h: block.attn(h)[0]  # noqa: E731
    mlp, n1, n2 = block.mlp, block.norm1, block.norm2
    if wiring == "post":
        h = n1(x + attn(x))
        return n2(h + mlp(h))
    if wiring == "mlp first":
        h = x + mlp(n2(x))
        return h + attn(n1(h))
    if wiring == "mlp first, norm1":
        h = x + mlp(n1(x))
        return h + attn(n2(h))
    if wiring == "tuple":
        return x + block.attn(n1(x))
    r1, r2 = int(wiring not in ("no r1", "no r")), int(wiring not in ("no r2", "no r"))
    norm1, norm2 = {"swapped": (n2, n1), "norm1 twice": (n1, n1),
                    "no norms": (nn_id, nn_id)}.get(wiring, (n1, n2))
    h = r1 * x + attn(norm1(x))
    mlp_in = x if wiring == "parallel" else h
    return r2 * (x if wiring == "x residual" else h) + mlp(norm2(mlp_in))


def nn_id(h):
    return h


@pytest.mark.parametrize("wiring, passed, words", [
    ("pre", True, "Matches helpers.EncoderBlock"),
    ("post", False, "post-norm"),
    ("no r1", False, "residual around attention"),
    ("no r2", False, "residual around the MLP"),
    ("no r", False, "Both residuals"),
    ("swapped", False, "LayerNorms are swapped"),
    ("norm1 twice", False, "norm1 twice"),
    ("no norms", False, "LayerNorms are missing"),
    ("parallel", False, "MLP reads the block's input x"),
    ("x residual", False, "second residual adds the block's input"),
    ("mlp first", False, "The MLP comes first:"),
    ("mlp first, norm1", False, "The MLP comes first (with norm1)"),
    ("tuple", False, "take its first item"),
    (None, False, "Not done yet"),
])
def test_check_encoder_block(wiring, passed, words):
    fn = (lambda block, x: None) if wiring is None else (lambda block, x: _encoder(block, x, wiring))
    result = ex.check_encoder_block(fn)
    assert result.passed is passed and words in result.message, result.message


# Notebook 10: BPE by hand (merge, the training loop, encode), the GPT forward pass from a
# GPT's parts, one key/value-cache step
from helpers.bpe import BPETokenizer, merge as bpe_merge  # noqa: E402
from helpers.exercises import bpe as ex_bpe, gpt as ex_gpt  # noqa: E402


def _merge_tuple(ids, pair, new_id):
    return tuple(bpe_merge(ids, pair, new_id))


@pytest.mark.parametrize("fn, passed, words", [
    (bpe_merge, True, "5 5 5 → 9 5"),
    (_merge_tuple, True, "left to right"),
    (ex_bpe._merge_no_skip, False, "kept the pair's second element"),
    (ex_bpe._merge_from_the_right, False, "merged from the right"),
    (ex_bpe._merge_first_only, False, "only the first occurrence"),
    (ex_bpe._merge_drops_last, False, "dropped the last id"),
    (lambda ids, pair, new_id: ids, False, "merge([1, 2, 3, 1, 2], (1, 2), 4) gave [1, 2, 3, 1, 2]"),
    (lambda ids, pair, new_id: None, False, "Not done yet"),
])
def test_check_merge(fn, passed, words):
    result = ex.check_merge(fn)
    assert result.passed is passed and words in result.message, result.message


def _train_bpe(ids, num_merges, **mistake):
    return ex_bpe._bpe_reference(ids, num_merges, **mistake)


def _train_bpe_with_the_tokenizer(ids, num_merges):
    return BPETokenizer().train(bytes(ids).decode(), 256 + num_merges).merges


@pytest.mark.parametrize("fn, passed, words", [
    (_train_bpe, True, "most frequent at its step"),
    (_train_bpe_with_the_tokenizer, True, "5 merges"),
    (lambda ids, n: _train_bpe(ids, n, recount=False), False, "counted the pairs once"),
    (lambda ids, n: _train_bpe(ids, n, update=False), False, "never replaced the ids"),
    (lambda ids, n: _train_bpe(ids, n, pick=min), False, "least frequent"),
    (lambda ids, n: _train_bpe(ids, n, first_id=257), False, "start at 257"),
    (lambda ids, n: _train_bpe(ids, n, first_id=255), False, "start at 255"),
    (lambda ids, n: list(_train_bpe(ids, n).items()), False, "as a dict"),
    (lambda ids, n: dict(list(_train_bpe(ids, n).items())[:3]), False, "Expected (97, 116)→256"),
    (lambda ids, n: None, False, "Not done yet"),
])
def test_check_train_bpe(fn, passed, words):
    result = ex.check_train_bpe(fn)
    assert result.passed is passed and words in result.message, result.message


def _encode_with_the_tokenizer(text, merges):
    tokenizer = BPETokenizer()
    tokenizer.merges = merges
    return tokenizer.encode(text)


@pytest.mark.parametrize("fn, passed, words", [
    (ex_bpe._encode_reference, True, "in the order they were learned"),
    (_encode_with_the_tokenizer, True, "10 bytes → 7 tokens"),
    (lambda t, m: ex_bpe._encode_reference(t, m, "reversed"), False, "reverse order"),
    (lambda t, m: ex_bpe._encode_reference(t, m, "sorted"), False, "sorted by their pair"),
    (lambda t, m: ex_bpe._encode_reference(t, m, "by frequency"), False, "most frequent in this text"),
    (lambda t, m: ex_bpe._encode_reference(t, m, "none"), False, "raw UTF-8 bytes"),
    (lambda t, m: [0], False, "Expected ["),
    (lambda t, m: None, False, "Not done yet"),
])
def test_check_encode(fn, passed, words):
    result = ex.check_encode(fn)
    assert result.passed is passed and words in result.message, result.message


@pytest.mark.parametrize("kwargs, passed, words", [
    ({}, True, "Matches helpers.GPT"),
    ({"positions": None}, False, "positions are missing"),
    ({"positions": "1..T"}, False, "Positions off by one"),
    ({"final_norm": False}, False, "final LayerNorm is missing"),
    ({"unembed": "E"}, False, "uses E, not its transpose"),
    ({"unembed": "probabilities"}, False, "returned probabilities"),
    ({"blocks": False}, False, "blocks are missing"),
    (None, False, "Not done yet"),
])
def test_check_gpt_forward(kwargs, passed, words):
    fn = (lambda *args: None) if kwargs is None else (lambda *a: ex_gpt._gpt_forward(*a, **kwargs))
    result = ex.check_gpt_forward(fn)
    assert result.passed is passed and words in result.message, result.message


def test_check_gpt_forward_accepts_the_helpers_model():
    assert ex.check_gpt_forward(lambda gpt, idx: gpt(idx)[0]).passed


@pytest.mark.parametrize("kwargs, passed, words", [
    ({}, True, "Both steps match the full forward pass"),
    ({"position": "zero"}, False, "position is 0"),
    ({"position": "cache length + 1"}, False, "Position off by one"),
    ({"keys": "not stored"}, False, "never stored the new ones"),
    ({"keys": "self only"}, False, "attended only to itself"),
    ({"keys": "old only"}, False, "only to the earlier tokens"),
    ({"scale": "D"}, False, "not by √D"),
    (None, False, "Not done yet"),
])
def test_check_cached_step(kwargs, passed, words):
    fn = (lambda *args: None) if kwargs is None else (lambda *a: ex_gpt._cached_step(*a, **kwargs))
    result = ex.check_cached_step(fn)
    assert result.passed is passed and words in result.message, result.message


@pytest.mark.parametrize("fn", [lambda gpt, token, caches: gpt.step(token, caches),
                                lambda gpt, token, caches: gpt.step(token, caches)[:, 0]])
def test_check_cached_step_accepts_the_helpers_step_in_either_shape(fn):
    assert ex.check_cached_step(fn).passed


@pytest.mark.parametrize("check, fn", [
    (ex.check_gelu, erf_gelu),
    (ex.check_mlp, lambda x, up, down: down(erf_gelu(up(x)))),
    (ex.check_pre_norm, lambda x, f, g, b: x + f(ln(x, g, b))),
    (ex.check_post_norm, lambda x, f, g, b: ln(x + f(x), g, b)),
    (ex.check_encoder_block, lambda block, x: _encoder(block, x)),
])
def test_notebook_06_checks_leave_the_global_rng_alone(check, fn):
    before = torch.get_rng_state()
    assert check(fn).passed
    assert torch.equal(torch.get_rng_state(), before)


# Notebook 13: a pretrained encoder
from helpers.exercises import pretrained as ex_pretrained  # noqa: E402
from torch.nn import functional as F_pretrained  # noqa: E402


@pytest.mark.parametrize("kwargs, passed, words", [
    ({}, True, "Every tensor of the layer is in its place"),
    ({"qkv": ("key", "query", "value")}, False, "wrong order"),
    ({"qkv": ("value", "key", "query")}, False, "wrong order"),
    ({"transpose": True}, False, "transposed the weights"),
    ({"biases": False}, False, "forgot the biases"),
    ({"norms": ("output.LayerNorm", "attention.output.LayerNorm")}, False, "swapped the LayerNorms"),
    ({"mlp": ("output.dense", "intermediate.dense")}, False, "swapped the MLP's layers"),
    ({"layer": 0}, False, "read layer 0's tensors"),
    (None, False, "Not done yet"),
])
def test_check_layer_mapping(kwargs, passed, words):
    def fn(checkpoint, layer):
        if kwargs is None:
            return None
        options = dict(kwargs)
        return ex_pretrained._mapped(checkpoint, options.pop("layer", layer), **options)

    result = ex.check_layer_mapping(fn)
    assert result.passed is passed and words in result.message, result.message


def test_check_layer_mapping_accepts_the_helpers_table():
    """The notebook's loader, used on one layer, passes the check."""
    from helpers.pretrained import weight_mapping

    def by_table(checkpoint, layer):
        prefix = f"blocks.{layer}."
        return {row.ours[len(prefix):]: torch.cat([checkpoint[n] for n in row.checkpoint])
                for row in weight_mapping() if row.ours.startswith(prefix)}

    assert ex.check_layer_mapping(by_table).passed


def test_check_layer_mapping_names_a_missing_key():
    def fn(checkpoint, layer):
        state = ex_pretrained._mapped(checkpoint, layer)
        state.pop("norm2.bias")
        return state

    result = ex.check_layer_mapping(fn)
    assert not result.passed and "missing ['norm2.bias']" in result.message, result.message


def _pool(hidden, lengths, padding=False, normalise=True, divide_by="lengths", dim=-1,
          only_padding=False):
    T = hidden.shape[1]
    real = (torch.arange(T)[None, :] < lengths[:, None])[..., None].float()
    if padding:
        real = torch.ones_like(real)
    if only_padding:
        real = 1 - real
    count = {"lengths": real.sum(1), "T": torch.full_like(real.sum(1), T)}[divide_by]
    mean = (hidden * real).sum(1) / count
    return F_pretrained.normalize(mean, dim=dim) if normalise else mean


@pytest.mark.parametrize("kwargs, passed, words", [
    ({}, True, "mean over the real tokens"),
    ({"divide_by": "T"}, True, "mean over the real tokens"),  # normalising removes the scale
    ({"padding": True}, False, "padding included: count only"),
    ({"normalise": False}, False, "forgot to normalise"),
    ({"normalise": False, "divide_by": "T"}, False, "padded length T"),
    ({"padding": True, "normalise": False}, False, "padding included, and did not normalise"),
    ({"only_padding": True}, False, "over the padding only"),
    ({"dim": 0}, False, "over the batch"),
    (None, False, "Not done yet"),
])
def test_check_mean_pooling(kwargs, passed, words):
    fn = (lambda h, l: None) if kwargs is None else (lambda h, l: _pool(h, l, **kwargs))
    result = ex.check_mean_pooling(fn)
    assert result.passed is passed and words in result.message, result.message


def test_check_mean_pooling_accepts_the_helpers_functions_and_leaves_the_rng_alone():
    from helpers.pretrained import mean_pool

    before = torch.get_rng_state()
    assert ex.check_mean_pooling(lambda h, l: F_pretrained.normalize(mean_pool(h, l), dim=-1)).passed
    assert ex.check_layer_mapping(lambda c, i: ex_pretrained._mapped(c, i)).passed
    assert torch.equal(torch.get_rng_state(), before)


# ---- Notebook 14: a modern small LLM ---------------------------------------------------------

def _rms(x, w, eps):
    return x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


@pytest.mark.parametrize("fn, passed, words", [
    (_rms, True, "Matches helpers.llama.RMSNorm"),
    (lambda x, w, eps: torch.nn.functional.rms_norm(x, (x.shape[-1],), w, eps), True, "Matches"),
    (lambda x, w, eps: torch.nn.functional.layer_norm(x, (x.shape[-1],), w, None, eps), False,
     "that is LayerNorm"),
    (lambda x, w, eps: x / torch.sqrt(x.pow(2).mean(-1, keepdim=True)) * w, False, "left out eps"),
    (lambda x, w, eps: x / (torch.sqrt(x.pow(2).mean(-1, keepdim=True)) + eps) * w, False,
     "after the square root"),
    (lambda x, w, eps: _rms(x, 1.0, eps), False, "learned scale"),
    (lambda x, w, eps: x / torch.sqrt(x.pow(2).mean(1, keepdim=True) + eps) * w, False,
     "wrong dimension"),
    (lambda x, w, eps: x / torch.sqrt(x.pow(2).sum(-1, keepdim=True) + eps) * w, False,
     "not sqrt(mean(x²))"),
    (lambda x, w, eps: x / (x.pow(2).mean(-1, keepdim=True) + eps) * w, False, "square root"),
    (lambda x, w, eps: None, False, "returned None"),
])
def test_check_rms_norm(fn, passed, words):
    result = ex.check_rms_norm(fn)
    assert result.passed is passed and words in result.message


def _swiglu(x, g, u, d, act=torch.nn.functional.silu):
    return (act(x @ g.T) * (x @ u.T)) @ d.T


@pytest.mark.parametrize("fn, passed, words", [
    (_swiglu, True, "Matches helpers.llama.SwiGLU"),
    (lambda x, g, u, d: _swiglu(x, u, g, d), False, "silu to the up projection"),
    (lambda x, g, u, d: _swiglu(x, g, u, d, torch.nn.functional.gelu), False, "used GELU"),
    (lambda x, g, u, d: _swiglu(x, g, u, d, torch.sigmoid), False, "sigmoid(gate)"),
    (lambda x, g, u, d: torch.nn.functional.silu(x @ g.T) @ d.T, False, "left out the up"),
    (lambda x, g, u, d: torch.nn.functional.silu((x @ g.T) * (x @ u.T)) @ d.T, False,
     "after multiplying"),
    (lambda x, g, u, d: (torch.nn.functional.silu(x @ g.T) + x @ u.T) @ d.T, False, "added"),
    (lambda x, g, u, d: torch.nn.functional.silu(x @ g.T) * (x @ u.T), False, "down projection"),
])
def test_check_swiglu(fn, passed, words):
    result = ex.check_swiglu(fn)
    assert result.passed is passed and words in result.message


def _gqa(q, k, v, repeat="interleave", causal=True, scale=True, head0=False):
    G = q.shape[1] // k.shape[1]
    if head0:
        k, v = k[:, :1], v[:, :1]
        G = q.shape[1]
    if repeat == "interleave":
        k, v = k.repeat_interleave(G, 1), v.repeat_interleave(G, 1)
    else:
        k, v = k.repeat(1, G, 1, 1), v.repeat(1, G, 1, 1)
    s = q @ k.transpose(-2, -1) / (math.sqrt(q.shape[-1]) if scale else 1)
    if causal:
        T = q.shape[-2]
        s = s.masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf"))
    return s.softmax(-1) @ v


@pytest.mark.parametrize("fn, passed, words", [
    (_gqa, True, "each key/value head serves"),
    (lambda q, k, v: torch.nn.functional.scaled_dot_product_attention(
        q, k, v, is_causal=True, enable_gqa=True), True, "each key/value head serves"),
    (lambda q, k, v: _gqa(q, k, v, repeat="tile"), False, "repeat_interleave"),
    (lambda q, k, v: _gqa(q, k, v, causal=False), False, "causal mask"),
    (lambda q, k, v: _gqa(q, k, v, scale=False), False, "√D"),
    (lambda q, k, v: _gqa(q, k, v, head0=True), False, "key/value head 0"),
])
def test_check_gqa_attention(fn, passed, words):
    result = ex.check_gqa_attention(fn)
    assert result.passed is passed and words in result.message


def _q4_1(raw, order="halves", use_min=True, swap=False, centred=False):
    d, m = raw[0:2].view(torch.float16).float(), raw[2:4].view(torch.float16).float()
    if swap:
        d, m = m, d
    low, high = (raw[4:] & 15).float(), (raw[4:] >> 4).float()
    codes = {"halves": torch.cat([low, high]), "interleaved": torch.stack([low, high], 1).flatten(),
             "high-first": torch.cat([high, low])}[order]
    return d * (codes - (8 if centred else 0)) + (m if use_min else 0)


@pytest.mark.parametrize("fn, passed, words", [
    (_q4_1, True, "d · code + m"),
    (lambda raw: __import__("helpers").dequantize_q4_1(raw), True, "d · code + m"),
    (lambda raw: _q4_1(raw, order="interleaved"), False, "interleaved the nibbles"),
    (lambda raw: _q4_1(raw, order="high-first"), False, "high nibbles first"),
    (lambda raw: _q4_1(raw, use_min=False), False, "forgot the minimum"),
    (lambda raw: _q4_1(raw, swap=True), False, "swapped the scale and the minimum"),
    (lambda raw: _q4_1(raw, centred=True), False, "Q4_0"),
])
def test_check_q4_1_block(fn, passed, words):
    result = ex.check_q4_1_block(fn)
    assert result.passed is passed and words in result.message


_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"


@pytest.mark.parametrize("fn, passed, words", [
    (lambda q: f"<|im_start|>system\n{_SYSTEM}<|im_end|>\n<|im_start|>user\n{q}<|im_end|>\n"
               "<|im_start|>assistant\n", True, "opened"),
    (lambda q: f"<|im_start|>system\n{_SYSTEM}<|im_end|>\n<|im_start|>user\n{q}<|im_end|>\n",
     False, "did not open the assistant's turn"),
    (lambda q: f"<|im_start|>user\n{q}<|im_end|>\n<|im_start|>assistant\n", False,
     "left out the system turn"),
    (lambda q: f"<|im_start|>system\n{_SYSTEM}\n<|im_start|>user\n{q}\n<|im_start|>assistant\n",
     False, "left out <|im_end|>"),
    (lambda q: f"<|im_start|>system{_SYSTEM}<|im_end|><|im_start|>user{q}<|im_end|>"
               "<|im_start|>assistant", False, "newlines are missing"),
    (lambda q: None, False, "returned None"),
    (lambda q: q, False, "differs from the template"),
])
def test_check_chat_prompt(fn, passed, words):
    result = ex.check_chat_prompt(fn)
    assert result.passed is passed and words in result.message


class _Additive(torch.nn.Module):
    """A right answer to notebook 01's additive-attention exercise; ``mistake`` makes it
    wrong in one of the classic ways."""
    mistake = None

    def __init__(self, d_q, d_k, hidden, bias=False):
        super().__init__()
        self.W_q = torch.nn.Linear(d_q, hidden, bias=bias)
        self.W_k = torch.nn.Linear(d_k, hidden, bias=False)
        self.w = torch.nn.Linear(hidden, 1, bias=False)

    def forward(self, q, k, v):
        if self.mistake == "no broadcast":
            hidden = self.W_q(q) + self.W_k(k)
        else:
            hidden = self.W_q(q).unsqueeze(-2) + self.W_k(k).unsqueeze(-3)  # (..., T, S, h)
        if self.mistake != "no tanh":
            hidden = torch.tanh(hidden)
        scores = self.w(hidden).squeeze(-1)  # (..., T, S)
        if self.mistake == "scores":
            return scores, scores
        weights = scores.softmax(dim=-2 if self.mistake == "axis" else -1)
        if self.mistake == "weights":
            return weights, weights
        if self.mistake == "detached":
            return weights.detach() @ v, weights
        if self.mistake == "tensor":
            return weights @ v
        if self.mistake == "no weights":
            return weights @ v, None
        return weights @ v, weights


def _additive(mistake=None, **kwargs):
    return type("MyAdditiveAttention", (_Additive,), {"mistake": mistake, **kwargs})


@pytest.mark.parametrize("cls, passed, words", [
    (_additive(), True, "forward and backward"),
    (_additive("no tanh"), False, "left out the tanh"),
    (_additive("axis"), False, "wrong axis"),
    (_additive("weights"), False, "returned the weights"),
    (_additive("scores"), False, "scores before the softmax"),
    (_additive("no broadcast"), False, "unsqueeze(-2)"),
    (_additive("detached"), False, "gradient of W_q"),
    (_additive("tensor"), False, "Return a pair"),
    (_additive("no weights"), False, "the weights you return are not"),
    (type("Empty", (torch.nn.Module,), {"__init__": lambda self, *a: torch.nn.Module.__init__(self)}),
     False, "no parameters"),
    (_additive(__init__=lambda self, *a: _Additive.__init__(self, *a, bias=True)), False,
     "bias=False"),
    (None, False, "Not done yet"),
    (_Additive(4, 5, 7), False, "Pass your class itself"),
])
def test_check_additive_attention(cls, passed, words):
    result = ex.check_additive_attention(cls)
    assert result.passed is passed and words in result.message, result.message
