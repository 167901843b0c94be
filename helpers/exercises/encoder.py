"""Exercise checks of Notebook 06, the encoder: GELU, the MLP, LayerNorm, the two wirings,
the encoder block (a function, then ``MyEncoderBlock``, the piece "EncoderBlock" that
notebooks 09 and 11 build on) and the warm-up + cosine learning-rate schedule."""
import math

import torch

from helpers.exercises._common import Check, _diagnose, _module_or_error, _perturbed
from helpers.exercises.self_attention import _call, _Spy, _task
from helpers.exercises.self_attention import check_fit as _check_fit_of_02
from helpers.yours import builds


def check_layernorm(layernorm):
    """Exercise: ``layernorm(x, gamma, beta, eps)`` over the last dimension."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 6, generator=g) * 4 + 2
    gamma, beta = torch.randn(6, generator=g), torch.randn(6, generator=g)
    eps = 1e-5

    def norm(x, dim=-1, unbiased=False, eps=eps):
        mean = x.mean(dim, keepdim=True)
        return (x - mean) / torch.sqrt(x.var(dim, keepdim=True, unbiased=unbiased) + eps)

    right = torch.nn.functional.layer_norm(x, (6,), gamma, beta, eps)
    mistakes = {
        "You used the unbiased variance (divide by n - 1); LayerNorm divides by n: "
        "var(unbiased=False).": norm(x, unbiased=True) * gamma + beta,
        "You normalised over the tokens (dim=-2), not over each token's features (dim=-1).":
            norm(x, dim=-2) * gamma + beta,
        "You forgot the learned scale and shift: multiply by gamma, add beta.": norm(x),
        "You divided by the variance, not by its square root (the standard deviation).":
            (x - x.mean(-1, keepdim=True)) / (x.var(-1, keepdim=True, unbiased=False) + eps)
            * gamma + beta,
    }
    return _diagnose(layernorm(x.clone(), gamma, beta, eps), right, mistakes,
                     "Matches torch.nn.functional.layer_norm.")


def check_block_parameter_count(answer, d_model, d_ff):
    """Exercise: parameters of one encoder block (attention, MLP, two LayerNorms)."""
    attention = 4 * (d_model * d_model + d_model)
    mlp = d_model * d_ff + d_ff + d_ff * d_model + d_model
    norms = 4 * d_model
    right = attention + mlp + norms
    if answer is None:
        return Check(False, "Not done yet: set your answer to an int.")
    if answer == right:
        return Check(True, f"{right:,}: attention {attention:,}, MLP {mlp:,}, LayerNorms {norms:,}.")
    if answer == right - norms:
        return Check(False, "You forgot the two LayerNorms: each has C scales and C shifts.")
    if answer == attention + norms or answer == attention:
        return Check(False, "You forgot the MLP — it holds most of the block's parameters.")
    if answer == right - (d_ff + d_model):
        return Check(False, "You forgot the MLP's biases (d_ff + C).")
    return Check(False, f"{answer:,} is not it. Attention: 4(C² + C); MLP: 2·C·d_ff + d_ff + C; "
                        "LayerNorms: 2 × 2C.")


def _erf_gelu(x):
    return 0.5 * x * (1 + torch.erf(x / 2 ** 0.5))


def _tanh_gelu(x):
    return torch.nn.functional.gelu(x, approximate="tanh")


def _sigmoid_gelu(x):
    return x * torch.sigmoid(1.702 * x)


def check_gelu(gelu):
    """Exercise: ``gelu(x)``, the exact GELU x·Φ(x), element by element."""
    x = torch.linspace(-5, 5, 101).view(1, 101)  # |x| up to 5: the approximations differ there
    phi = 0.5 * (1 + torch.erf(x / 2 ** 0.5))  # Φ(x), the standard normal CDF
    mistakes = {
        "You wrote ReLU, max(0, x). GELU is x·Φ(x): smooth at 0 and slightly negative for "
        "x < 0.": torch.relu(x),
        "You used the tanh approximation, 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), GPT-2's "
        "choice. It is within 1e-3 of GELU, but this exercise asks for the exact form: "
        "x·Φ(x) with Φ(x) = ½(1 + erf(x/√2)).": _tanh_gelu(x),
        "You used the sigmoid approximation x·σ(1.702·x). Close, but not GELU: use "
        "Φ(x) = ½(1 + erf(x/√2)).": _sigmoid_gelu(x),
        "You wrote SiLU (Swish), x·σ(x): a cousin of GELU, not GELU. Use Φ, the Gaussian "
        "CDF: ½(1 + erf(x/√2)).": x * torch.sigmoid(x),
        "You returned Φ(x), the Gaussian CDF, without multiplying by x.": phi,
        "You forgot the √2 inside erf: Φ(x) = ½(1 + erf(x/√2)).":
            0.5 * x * (1 + torch.erf(x)),
        "You forgot the ½: Φ(x) = ½(1 + erf(x/√2)) goes from 0 to 1.":
            x * (1 + torch.erf(x / 2 ** 0.5)),
    }
    return _diagnose(gelu(x.clone()), _erf_gelu(x), mistakes,
                     "Matches the exact GELU, torch.nn.functional.gelu.")


def _linear_pair(seed=0, C=6, d_ff=24):
    with torch.random.fork_rng():  # the learner's random stream is left as it was
        torch.manual_seed(seed)
        return torch.nn.Linear(C, d_ff), torch.nn.Linear(d_ff, C)


def _mlp_answers(x, up, down):
    """The MLP's output for ``x`` (no grad), and the usual mistakes' outputs by message."""
    hidden = up(x)  # (B, T, d_ff)
    right = down(_erf_gelu(hidden))  # (B, T, C)
    return right, {
        "You used ReLU between the two layers; the Transformer encoders since BERT use "
        "GELU (the exact one, erf).": down(torch.relu(hidden)),
        "You used the tanh approximation of GELU; this MLP uses the exact one, "
        "nn.GELU() (erf).": down(_tanh_gelu(hidden)),
        "You used the sigmoid approximation x·σ(1.702·x); this MLP uses the exact GELU.":
            down(_sigmoid_gelu(hidden)),
        "The activation is missing: down(up(x)) is one linear map in disguise (the "
        "product of two matrices), however wide d_ff is.": down(hidden),
        "The activation is in the wrong place: it goes between the two layers, "
        "down(GELU(up(x))), not after the last one.": _erf_gelu(down(hidden)),
        "You applied GELU twice, also after the last layer: the MLP's output is "
        "down(GELU(up(x))), with no activation at the end.":
            _erf_gelu(down(_erf_gelu(hidden))),
        "You added the residual x: the MLP alone is Linear, GELU, Linear; the block adds "
        "x around it.": x + right,
    }


def check_mlp(mlp):
    """Exercise: ``mlp(x, up, down)``, the position-wise MLP: up (C -> d_ff), exact GELU,
    down (d_ff -> C); (B, T, C) -> (B, T, C)."""
    up, down = _linear_pair()
    x = torch.randn(2, 5, 6, generator=torch.Generator().manual_seed(0)) * 2
    with torch.no_grad():
        right, mistakes = _mlp_answers(x, up, down)
        try:
            got = mlp(x.clone(), up, down)
        except RuntimeError as error:  # the learner's code: name the classic shape mistake
            if "shape" not in str(error):
                raise
            return Check(False, f"Your function raised RuntimeError: {error}. Up and down are "
                                f"swapped: first up (C = 6 → d_ff = 24), then GELU, then down "
                                f"(24 → 6).")
    return _diagnose(got, right, mistakes,
                     "Matches Linear(C, d_ff), exact GELU, Linear(d_ff, C).")


def _ln(x, gamma, beta, dim=-1, eps=1e-5):
    """LayerNorm's arithmetic over ``dim``; gamma and beta always act on the features."""
    mean = x.mean(dim, keepdim=True)
    return (x - mean) / torch.sqrt(x.var(dim, keepdim=True, unbiased=False) + eps) * gamma + beta


def _wiring_inputs(seed=0, B=3, T=4, C=6):
    from helpers.encoder import MLP

    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, T, C, generator=g) * 3 + 1
    gamma, beta = torch.randn(C, generator=g), torch.randn(C, generator=g)
    with torch.random.fork_rng():  # the learner's random stream is left as it was
        torch.manual_seed(seed)
        sublayer = MLP(C, 4 * C)
    return x, sublayer, gamma, beta


def _check_wiring(wiring, norm_first):
    x, f, gamma, beta = _wiring_inputs()
    with torch.no_grad():
        ln = lambda h, dim=-1: _ln(h, gamma, beta, dim)  # noqa: E731 (reads like the maths)
        pre, post = x + f(ln(x)), ln(x + f(x))
        if norm_first:
            right, mistakes = pre, {
                "The residual is missing: pre-norm returns x + sublayer(LN(x)), not "
                "sublayer(LN(x)).": f(ln(x)),
                "That is post-norm, LN(x + sublayer(x)). Pre-norm normalises the sub-layer's "
                "input and leaves the sum alone: x + sublayer(LN(x)).": post,
                "The residual adds the normalised input, LN(x) + sublayer(LN(x)); it must "
                "carry the raw x: x + sublayer(LN(x)).": ln(x) + f(ln(x)),
                "The LayerNorm is missing: x + sublayer(x).": x + f(x),
                "You normalised over the sequence (dim=-2); LayerNorm normalises each token "
                "over its own features (dim=-1).": x + f(ln(x, dim=-2)),
                "You normalised over the batch (dim=0), as BatchNorm does; LayerNorm "
                "normalises each token over its own features (dim=-1).": x + f(ln(x, dim=0)),
            }
        else:
            right, mistakes = post, {
                "The residual is missing: post-norm returns LN(x + sublayer(x)), not "
                "LN(sublayer(x)).": ln(f(x)),
                "That is pre-norm, x + sublayer(LN(x)). Post-norm normalises after the "
                "residual sum: LN(x + sublayer(x)).": pre,
                "The LayerNorm is missing: LN(x + sublayer(x)).": x + f(x),
                "You normalised the sub-layer's output before the sum, x + LN(sublayer(x)); "
                "post-norm normalises the sum: LN(x + sublayer(x)).": x + ln(f(x)),
                "You normalised over the sequence (dim=-2); LayerNorm normalises each token "
                "over its own features (dim=-1).": ln(x + f(x), dim=-2),
                "You normalised over the batch (dim=0), as BatchNorm does; LayerNorm "
                "normalises each token over its own features (dim=-1).": ln(x + f(x), dim=0),
            }
        got = wiring(x.clone(), f, gamma.clone(), beta.clone())
    name = "pre-norm: x + sublayer(LN(x))" if norm_first else "post-norm: LN(x + sublayer(x))"
    return _diagnose(got, right, mistakes, f"The {name}.")


def check_pre_norm(pre_norm):
    """Exercise: ``pre_norm(x, sublayer, gamma, beta)`` = x + sublayer(LN(x)), (B, T, C)."""
    return _check_wiring(pre_norm, norm_first=True)


def check_post_norm(post_norm):
    """Exercise: ``post_norm(x, sublayer, gamma, beta)`` = LN(x + sublayer(x)), (B, T, C)."""
    return _check_wiring(post_norm, norm_first=False)


def _encoder_block(seed=0, C=8, H=2):
    """A pre-norm ``EncoderBlock`` with every weight moved off its initial value, so that
    the two LayerNorms differ and swapping them shows."""
    from helpers.encoder import EncoderBlock, EncoderConfig

    return _perturbed(lambda: EncoderBlock(EncoderConfig(d_model=C, num_heads=H, d_ff=4 * C,
                                                         norm_first=True)), seed)


def check_encoder_block(encoder_block):
    """Exercise: ``encoder_block(block, x)`` -> (B, T, C), a pre-norm encoder block wired
    from ``block``'s parts: attn (which returns (output, weights)), norm1, mlp, norm2."""
    block = _encoder_block()
    x = torch.randn(2, 5, 8, generator=torch.Generator().manual_seed(0))
    attn = lambda h: block.attn(h)[0]  # noqa: E731
    mlp, n1, n2 = block.mlp, block.norm1, block.norm2

    def pre_norm(r1=1, r2=1, norm1=n1, norm2=n2, mlp_reads="h", second_residual="h"):
        h = r1 * x + attn(norm1(x))  # (B, T, C)
        inner = {"h": h, "x": x}[mlp_reads]
        return r2 * {"h": h, "x": x}[second_residual] + mlp(norm2(inner))

    with torch.no_grad():
        h_post = n1(x + attn(x))
        h_mlp_first = x + mlp(n2(x))
        h_mlp_first_n1 = x + mlp(n1(x))
        mistakes = {
            "You wired the block post-norm (a LayerNorm after each residual sum); this block "
            "is pre-norm: h = x + attn(norm1(x)), then h + mlp(norm2(h)).": n2(h_post + mlp(h_post)),
            "The residual around attention is missing: h = x + attn(norm1(x)), not "
            "attn(norm1(x)).": pre_norm(r1=0),
            "The residual around the MLP is missing: return h + mlp(norm2(h)).": pre_norm(r2=0),
            "Both residuals are missing: each sub-layer's output is added to its input.":
                pre_norm(r1=0, r2=0),
            "The two LayerNorms are swapped: norm1 goes before attention, norm2 before the "
            "MLP (each has its own learned scale and shift).": pre_norm(norm1=n2, norm2=n1),
            "You used norm1 twice: the MLP has its own LayerNorm, norm2.": pre_norm(norm2=n1),
            "The LayerNorms are missing: x + attn(norm1(x)), then h + mlp(norm2(h)).":
                pre_norm(norm1=lambda h: h, norm2=lambda h: h),
            "The MLP reads the block's input x; it must read what attention produced, "
            "h = x + attn(norm1(x)), then return h + mlp(norm2(h)).":
                pre_norm(mlp_reads="x"),
            "The second residual adds the block's input x; it must add h, the stream after "
            "attention: h + mlp(norm2(h)).": pre_norm(second_residual="x"),
            "The MLP comes first: attention, then the MLP.":
                h_mlp_first + attn(n1(h_mlp_first)),
            "The MLP comes first (with norm1): attention, then the MLP.":
                h_mlp_first_n1 + attn(n2(h_mlp_first_n1)),
        }
        try:
            got = encoder_block(block, x.clone())
        except TypeError as error:  # the learner's code: name the classic tuple mistake
            if "tuple" not in str(error):
                raise
            return Check(False, f"Your function raised TypeError: {error}. block.attn returns "
                                f"a pair (output, weights): take its first item, "
                                f"block.attn(...)[0].")
    return _diagnose(got, block(x)[0].detach(), mistakes,
                     "Matches helpers.EncoderBlock (pre-norm) with the same weights.")


# -- the block as a module: MyMLP, then MyEncoderBlock (the piece "EncoderBlock") ---------

def _same_parameters(mine, reference, what):
    """None if ``mine`` has exactly ``reference``'s parameter names and shapes, else a Check
    that names the missing, the unexpected and the misshapen ones."""
    have = {n: tuple(p.shape) for n, p in mine.named_parameters()}
    want = {n: tuple(p.shape) for n, p in reference.named_parameters()}
    if have == want:
        return None
    missing = [n for n in want if n not in have]
    extra = [n for n in have if n not in want]
    shapes = [f"{n} is {have[n]}, expected {want[n]}" for n in want
              if n in have and have[n] != want[n]]
    parts = ([f"missing {', '.join(missing)}"] if missing else []) + \
            ([f"unexpected {', '.join(extra)}"] if extra else []) + shapes
    return Check(False, f"Your parameters differ from {what}'s: {'; '.join(parts)}. Same names "
                        "and shapes, so that the course's weights load into yours.")


def check_mlp_module(cls):
    """Exercise: ``class MyMLP(nn.Module)``, built as ``cls(d_model, d_ff)``, with ``up =
    nn.Linear(d_model, d_ff)`` and ``down = nn.Linear(d_ff, d_model)``; forward: (B, T, C)
    -> (B, T, C), down(GELU(up(x))) with the exact GELU. Compared with helpers.encoder.MLP
    on the same weights."""
    from helpers.encoder import MLP

    C, d_ff = 6, 24
    mine, error = _module_or_error(cls, lambda c: c(C, d_ff))
    if error is not None:
        return error
    reference = _perturbed(lambda: MLP(C, d_ff), seed=1)
    wrong = _same_parameters(mine, reference, "helpers.encoder.MLP (up, then down)")
    if wrong is not None:
        return wrong
    mine.load_state_dict(reference.state_dict())
    x = torch.randn(2, 5, C, generator=torch.Generator().manual_seed(1)) * 2
    with torch.no_grad():
        right, mistakes = _mlp_answers(x, reference.up, reference.down)
        try:
            got = mine(x.clone())
        except Exception as error:  # the learner's forward: any error is theirs to see
            return Check(False, f"Calling your module failed: {type(error).__name__}: {error}")
    return _diagnose(got, right, mistakes,
                     "Matches helpers.encoder.MLP: up, exact GELU, down.")


def _block_mistakes(ref, x, mask, norm_first):
    """(message, output) for the usual mistakes of an encoder block with ``ref``'s weights."""
    from helpers.multihead import MultiHeadAttention

    C = x.shape[-1]
    eps = ref.norm1.eps

    def ln(norm, e=eps):
        return lambda h: torch.nn.functional.layer_norm(h, (C,), norm.weight, norm.bias, e)

    n1, n2, none = ln(ref.norm1), ln(ref.norm2), (lambda h: h)

    def attn(h, m):
        return ref.attn(h, mask=m)[0]

    def mlp(h, act):
        return ref.mlp.down(act(ref.mlp.up(h)))

    def pre(r1=1, r2=1, norm1=n1, norm2=n2, mlp_reads="h", second="h", act=_erf_gelu,
            m=mask, attend=attn):
        h = r1 * x + attend(norm1(x), m)  # (B, T, C)
        stream = {"h": h, "x": x}
        return r2 * stream[second] + mlp(norm2(stream[mlp_reads]), act)

    def post(r1=1, r2=1, norm1=n1, norm2=n2, mlp_reads="h", act=_erf_gelu, m=mask,
             attend=attn):
        h = norm1(r1 * x + attend(x, m))  # (B, T, C)
        return norm2(r2 * h + mlp({"h": h, "x": x}[mlp_reads], act))

    wire, name, other = (pre, "pre-norm", post) if norm_first else (post, "post-norm", pre)
    mistakes = [
        (f"config.norm_first is {norm_first}, so this block is {name}, but you wired it "
         f"the other way: read self.norm_first (config.norm_first) in forward.", other()),
        ("You used ReLU in the MLP; the encoder uses the exact GELU (erf).",
         wire(act=torch.relu)),
        ("You used the tanh approximation of GELU in the MLP; the encoder uses the exact "
         "one (erf).", wire(act=_tanh_gelu)),
        ("The residual around attention is missing.", wire(r1=0)),
        ("The residual around the MLP is missing.", wire(r2=0)),
        ("Both residuals are missing: each sub-layer's output is added to its input.",
         wire(r1=0, r2=0)),
        ("The two LayerNorms are swapped: norm1 belongs to attention, norm2 to the MLP.",
         wire(norm1=n2, norm2=n1)),
        ("You used norm1 twice: the MLP has its own LayerNorm, norm2.", wire(norm2=n1)),
        ("You used norm2 twice: attention has its own LayerNorm, norm1.", wire(norm1=n2)),
        ("The LayerNorms are missing.", wire(norm1=none, norm2=none)),
        ("The MLP reads the block's input x; it must read the stream after attention, h.",
         wire(mlp_reads="x")),
    ]
    if mask is not None:
        mistakes.append(("The mask does not reach attention: pass it on, "
                         "self.attn(..., mask=mask).", wire(m=None)))
    if eps != 1e-5:
        mistakes.append((f"Your LayerNorms ignore config.norm_eps ({eps:g}); they use 1e-5. "
                         "Build them with eps=config.norm_eps (BERT's checkpoints use 1e-12).",
                         wire(norm1=ln(ref.norm1, 1e-5), norm2=ln(ref.norm2, 1e-5))))
    for heads in (1, 4, 8):
        if heads != ref.attn.num_heads and C % heads == 0:
            other_heads = MultiHeadAttention(d_model=C, num_heads=heads)
            other_heads.load_state_dict(ref.attn.state_dict())
            mistakes.append((f"Your attention has {heads} head(s); build it with "
                             f"num_heads=config.num_heads ({ref.attn.num_heads}).",
                             wire(attend=lambda h, m, a=other_heads: a(h, mask=m)[0])))
    if norm_first:
        h_mlp_first = x + mlp(n2(x), _erf_gelu)
        mistakes += [
            ("The second residual adds the block's input x; it must add h, the stream "
             "after attention: h + mlp(norm2(h)).", pre(second="x")),
            ("The MLP comes first: attention, then the MLP.",
             h_mlp_first + attn(n1(h_mlp_first), mask)),
        ]
    else:
        h = x + n1(attn(x, mask))
        mistakes.append(("You normalised each sub-layer's output before the sum, "
                         "x + LN(sublayer(x)); post-norm normalises the sum: "
                         "LN(x + sublayer(x)).", h + n2(mlp(h, _erf_gelu))))
    return mistakes


def _block_cases():
    """(name, config, lengths or None) of the cases check_encoder_block_module tries."""
    from helpers.encoder import EncoderConfig

    small = dict(d_model=8, num_heads=2, d_ff=32, norm_eps=1e-2)  # eps 1e-2: ignoring it shows
    return [(f"{name}, {'with a padding mask' if lengths else 'without a mask'}",
             EncoderConfig(norm_first=norm_first, **small), lengths)
            for norm_first, name in [(True, "Pre-norm"), (False, "Post-norm (as BERT)")]
            for lengths in (None, [5, 3, 4])]


@builds("EncoderBlock", "helpers.encoder:EncoderBlock")
def check_encoder_block_module(cls):
    """Exercise: ``class MyEncoderBlock(nn.Module)``, built as ``cls(config)`` from an
    ``EncoderConfig`` (d_model, num_heads, d_ff, norm_first, norm_eps), with the parts
    ``attn`` (a MultiHeadAttention), ``norm1``, ``mlp`` (``up``, ``down``), ``norm2``;
    ``forward(x, mask=None)`` returns ``(out (B, T, C), weights (B, H, T, T))``.

    Compared with helpers.EncoderBlock on the same weights, pre-norm and post-norm, without
    and with a padding mask, forward and backward; the usual mistakes are named."""
    from helpers.encoder import EncoderBlock
    from helpers.masks import padding_mask

    for number, (case, config, lengths) in enumerate(_block_cases()):
        mine, error = _module_or_error(cls, lambda c: c(config))
        if error is not None:
            return error
        reference = _perturbed(lambda: EncoderBlock(config), seed=10 + number)
        wrong = _same_parameters(mine, reference, "helpers.EncoderBlock (attn.in_proj, "
                                 "attn.out_proj, norm1, mlp.up, mlp.down, norm2)")
        if wrong is not None:
            return wrong
        mine.load_state_dict(reference.state_dict())
        mine.eval()
        g = torch.Generator().manual_seed(number)
        x = torch.randn(3, 5, config.d_model, generator=g)  # (B, T, C)
        mask = None if lengths is None else padding_mask(torch.tensor(lengths), 5)  # (B, 1, T)
        result = _compare_block(mine, reference, x, mask, config.norm_first, case)
        if result is not None:
            return result
    return Check(True, "Your encoder block matches helpers.EncoderBlock, forward and "
                       "backward, pre-norm and post-norm, with and without a padding mask.")


def _compare_block(mine, reference, x, mask, norm_first, case):
    """None if ``mine`` matches ``reference`` on ``x`` (outputs, weights, gradients), else
    a Check naming what differs."""
    from helpers.encoder import EncoderBlock

    extra = {"need_weights": True} if isinstance(mine, EncoderBlock) else {}
    x_mine = x.clone().requires_grad_()
    try:
        got = mine(x_mine, mask=mask, **extra)
    except Exception as error:  # the learner's forward: any error is theirs to see
        hint = ""
        if mask is not None:
            hint = (" A padding mask is (B, 1, T) (helpers.masks.padding_mask): your "
                    "attention must accept a mask that broadcasts to (B, T, S) and use the "
                    "same one for every head (mask[:, None] makes it (B, 1, 1, S)).")
        return Check(False, f"{case}: calling your block failed: "
                            f"{type(error).__name__}: {error}.{hint}")
    if not (isinstance(got, tuple) and len(got) == 2):
        return Check(False, "forward must return a pair (out, weights): the output (B, T, C) "
                            "and the attention weights of every head (B, H, T, T).")
    out, weights = got
    x_ref = x.clone().requires_grad_()
    expected, expected_w = reference(x_ref, mask=mask, need_weights=True)
    if not isinstance(out, torch.Tensor):
        return Check(False, f"{case}: the output should be a tensor, got {type(out).__name__}.")
    if not (out.shape == expected.shape and torch.allclose(out.detach(), expected.detach(),
                                                           atol=1e-5, rtol=1e-4)):
        with torch.no_grad():
            for message, wrong in _block_mistakes(reference, x, mask, norm_first):
                if out.shape == wrong.shape and torch.allclose(out.detach(), wrong, atol=1e-5,
                                                               rtol=1e-4, equal_nan=True):
                    return Check(False, f"{case}: {message}")
            attention_alone = _attention_alone(mine, reference, x, mask)
        if attention_alone is not None:
            return Check(False, f"{case}: {attention_alone}")
        if out.shape != expected.shape:
            return Check(False, f"{case}: wrong shape: expected {tuple(expected.shape)} "
                                f"(B, T, C), got {tuple(out.shape)}.")
        diff = (out.detach() - expected.detach()).abs().max().item()
        return Check(False, f"{case}: right shape, wrong values (largest difference "
                            f"{diff:.3g}).")
    if not isinstance(weights, torch.Tensor) or weights.shape != expected_w.shape \
            or not torch.allclose(weights.detach(), expected_w.detach(), atol=1e-5):
        return Check(False, f"{case}: the output is right, but the weights are not: return "
                            f"the attention's weights, every head's, shape "
                            f"{tuple(expected_w.shape)} (B, H, T, T).")
    grad = torch.randn(expected.shape, generator=torch.Generator().manual_seed(99))
    out.backward(grad)
    expected.backward(grad)
    if x_mine.grad is None or not torch.allclose(x_mine.grad, x_ref.grad, atol=1e-4):
        return Check(False, f"{case}: the output is right but the gradient with respect to "
                            "x is not: something in forward is detached (.detach(), .data, "
                            "torch.no_grad()) or computed outside autograd.")
    return None


def _attention_alone(mine, reference, x, mask):
    """A sentence if the learner's block's attention alone already differs from the
    course's on this input (its mask handling, usually), else None."""
    attention = getattr(mine, "attn", None)
    if attention is None:
        return None
    try:
        got = attention(x, mask=mask)[0]
    except Exception as error:  # the learner's attention: name it, whatever went wrong
        return (f"your block's attention ({type(attention).__name__}) fails on this input: "
                f"{type(error).__name__}: {error}")
    expected = reference.attn(x, mask=mask)[0]
    if got.shape != expected.shape or not torch.allclose(got, expected, atol=1e-5):
        return (f"your block's attention alone ({type(attention).__name__}) already differs "
                f"from the course's here. A padding mask is (B, 1, T): the attention must "
                f"use it for every head (mask[:, None] makes it (B, 1, 1, S)).")
    return None


# -- the learning-rate schedule ------------------------------------------------------------
def _cosine(p):
    return 0.5 * (1 + math.cos(math.pi * p))


def check_lr_factor(lr_factor):
    """Exercise: ``lr_factor(step, steps, warmup)``, the factor on the base learning rate at
    ``step`` (counted from 1 to ``steps``): a linear warm-up to 1 at ``step = warmup`` (from
    1 / warmup at step 1), then half a cosine down to 0 at the last step; ``warmup=0`` means
    no warm-up. helpers.training.learning_rate_factor(step, steps, warmup, "cosine")."""
    from helpers.training import learning_rate_factor

    def table(f, steps, warmup):
        return [f(s, steps, warmup) for s in range(1, steps + 1)]

    def decay_from(p_of):  # warm-up as it should be, then a cosine of p_of(s, steps, w)
        return lambda s, n, w: s / w if s <= w else _cosine(p_of(s, n, w))

    mistakes = {
        "Your step 1 gets factor 0, a step that learns nothing: steps count from 1 here, so "
        "the warm-up gives step / warmup (1 / warmup at step 1, 1.0 at step = warmup).":
            lambda s, n, w: learning_rate_factor(s - 1, n, w, "cosine") if s > 1 else 0.0,
        "Your warm-up reaches the full rate one step early: step / warmup, not "
        "(step + 1) / warmup (steps count from 1 here).":
            lambda s, n, w: min(1.0, (s + 1) / w) if s <= w else _cosine((s - w) / (n - w)),
        "There is no warm-up: the factor climbs linearly, step / warmup, for the first "
        "warmup steps.": lambda s, n, w: _cosine(s / n),
        "There is no decay: after the warm-up the factor goes down along half a cosine, "
        "0.5·(1 + cos(π·p)), to 0 at the last step.": lambda s, n, w: min(1.0, s / w),
        "Your decay does not reach 0 at the last step: p = (step - warmup) / (steps - "
        "warmup) runs from 0 to 1 over the decay.": decay_from(lambda s, n, w: (s - w) / n),
        "Your cosine counts from step 0, not from the end of the warm-up, so the rate "
        "jumps down when the warm-up ends: p = (step - warmup) / (steps - warmup).":
            decay_from(lambda s, n, w: s / n),
        "You wrote cos(π·p), which goes from 1 to -1: a negative learning rate. Use "
        "0.5·(1 + cos(π·p)), from 1 to 0.":
            lambda s, n, w: s / w if s <= w else math.cos(math.pi * (s - w) / (n - w)),
        "Your cosine makes a whole period, back up to the full rate at the end: half a "
        "period, 0.5·(1 + cos(π·p)) with p from 0 to 1.":
            lambda s, n, w: s / w if s <= w else _cosine(2 * (s - w) / (n - w)),
        "Your decay is linear, 1 - p; this schedule decays along half a cosine, "
        "0.5·(1 + cos(π·p)).": lambda s, n, w: s / w if s <= w else 1 - (s - w) / (n - w),
    }
    for steps, warmup in [(10, 4), (8, 0)]:
        right = table(lambda s, n, w: learning_rate_factor(s, n, w, "cosine"), steps, warmup)
        try:
            got = table(lr_factor, steps, warmup)
        except ZeroDivisionError:
            return Check(False, f"With warmup={warmup} your function divides by zero: with no "
                                "warm-up, every step is in the decay (step <= warmup is never "
                                "true for step >= 1).")
        except Exception as error:  # the learner's function: any error is theirs to see
            return Check(False, f"Calling your function failed: {type(error).__name__}: {error}")
        if any(f is None for f in got):
            return Check(False, "Not done yet: your function returned None. Return the "
                                "factor, a float.")
        try:
            got = [float(f) for f in got]
        except (TypeError, ValueError):
            return Check(False, f"Return a number (a float), got {type(got[0]).__name__}.")
        close = lambda a, b: all(abs(u - v) < 1e-6 for u, v in zip(a, b))  # noqa: E731
        if close(got, right):
            continue
        for message, wrong in mistakes.items():
            try:
                if close(got, table(wrong, steps, warmup)):
                    return Check(False, message)
            except ZeroDivisionError:  # a mistake that needs a warm-up, with warmup = 0
                continue
        shown = ", ".join(f"{f:.2f}" for f in got)
        return Check(False, f"With steps={steps}, warmup={warmup}: your factors are [{shown}]; "
                            f"expected [{', '.join(f'{f:.2f}' for f in right)}].")
    return Check(True, "Linear warm-up from 1/warmup to 1, then half a cosine to 0 at the "
                       "last step: helpers.training.learning_rate_factor with decay='cosine'.")


# -- Exercise 10: the learner's fit of notebook 02, grown to helpers.fit's interface ---------
_KEYWORDS = ("steps", "lr", "batch_size", "eval_every", "weight_decay", "warmup", "decay",
             "desc", "progress")


class _PairSpy(torch.nn.Module):
    """A model of two inputs, as 07's (source, target so far) and 11's (features, lengths):
    ``forward(idx, first)`` with ``first`` (B,) = idx[:, 0]; it notes whether the two
    arrived as the same rows."""

    def __init__(self, seed=0):
        super().__init__()
        self.inner = _Spy(seed=seed)
        self.aligned = []

    def forward(self, idx, first):  # idx (B, T), first (B,) -> logits (B, T, V), None
        self.aligned.append(first.shape == idx[:, 0].shape and torch.equal(first, idx[:, 0]))
        return self.inner(idx)


class _PlainSpy(torch.nn.Module):
    """A classifier that returns its logits alone, (B, V), as 11's does: no weights."""

    def __init__(self, seed=0):
        super().__init__()
        self.inner = _Spy(seed=seed)
        self.calls = 0

    def forward(self, idx):  # idx (B, T) -> logits (B, V): the first token's read-out
        self.calls += 1
        return self.inner(idx)[0][:, 0]


def _learning_rates(fit, model, train, **kwargs):
    """Run ``fit`` and return ([(optimiser class, lr, weight_decay) at each step], Check|None)."""
    from torch.optim.optimizer import register_optimizer_step_pre_hook

    ours = {id(p) for p in model.parameters()}
    seen = []

    def note(optimiser, args, kwargs):
        group = optimiser.param_groups[0]
        if any(id(p) in ours for p in group["params"]):
            seen.append((type(optimiser).__name__, float(group["lr"]),
                         float(group.get("weight_decay", 0.0))))

    handle = register_optimizer_step_pre_hook(note)
    try:
        with torch.random.fork_rng():  # the learner's random stream is left as it was
            torch.manual_seed(11)
            _, error = _call(fit, model, train, **kwargs)
    finally:
        handle.remove()
    return seen, error


def _schedule_mistake(got, lr, steps, warmup, decay):
    """The named mistake behind the rates ``got`` (one per step), or None if they are right."""
    from helpers.training import learning_rate_factor

    def rates(shift=0, decay=decay):  # warmup > 0 here, so step 0 has the factor 0
        return [lr * learning_rate_factor(s + shift, steps, warmup, decay)
                for s in range(1, steps + 1)]

    close = lambda a, b: len(a) == len(b) and all(  # noqa: E731
        abs(u - v) <= 1e-6 * lr for u, v in zip(a, b))
    if close(got, rates()):
        return None
    if close(got, [lr] * steps):
        return (f"With warmup={warmup} your rate stayed at lr = {lr} from the first step: set "
                "every param group's 'lr' to lr × factor before each optimiser.step() (or use "
                "torch.optim.lr_scheduler.LambdaLR).")
    if close(got, rates(shift=-1)):
        return ("Your first step ran at rate 0, and every step at the factor of the step "
                "before: steps count from 1 (LambdaLR calls its function with 0 before the "
                "first step: use lambda i: factor(i + 1)).")
    if close(got, rates(shift=+1)):
        return ("Your schedule runs one step ahead (step 1 at the factor of step 2): move the "
                "rate after optimiser.step(), as scheduler.step() goes after it.")
    other = "cosine" if decay is None else None
    if close(got, rates(decay=other)):
        return ("With decay='cosine' the rate goes down along half a cosine after the "
                "warm-up, to 0 at the last step: your rate stayed at lr." if decay else
                "With decay=None the rate holds at lr after the warm-up (06's post-norm run "
                "uses that): your rate decayed.")
    shown = ", ".join(f"{r:.4f}" for r in got[:8])
    wanted = ", ".join(f"{r:.4f}" for r in rates()[:8])
    return (f"With steps={steps}, lr={lr}, warmup={warmup}, decay={decay!r} your first rates "
            f"were [{shown}]; expected [{wanted}] (lr × the factor of Exercise 9).")


@builds("scheduled_fit", "helpers.training:fit")
def check_scheduled_fit(fit):
    """Exercise: the learner's notebook-02 loop grown to the interface of ``helpers.fit``
    that notebooks 06-11 train with: ``fit(model, train, val=None, *, steps, lr, batch_size,
    eval_every, weight_decay=0.0, warmup=0, decay=None, desc, progress=True)``, AdamW with
    that weight decay, the rate lr × factor at each step (a linear warm-up, then held, or
    half a cosine to 0 with decay='cosine'), X a tensor or a tuple of tensors (model(*X)),
    and models that return (logits, weights) or the logits alone."""
    import contextlib
    import functools
    import inspect
    import io

    if fit is None or not callable(fit):
        return Check(False, "Not done yet: define your fit function and pass it.")
    try:
        parameters = inspect.signature(fit).parameters
    except (TypeError, ValueError):
        parameters = None
    if parameters is not None and not any(p.kind == p.VAR_KEYWORD for p in parameters.values()):
        missing = [k for k in _KEYWORDS if k not in parameters]
        if missing:
            return Check(False, f"Your fit has no keyword {', '.join(missing)}: the notebooks "
                                f"from here on pass {', '.join(_KEYWORDS)}.")
    quiet = functools.partial(fit, progress=False)
    functools.update_wrapper(quiet, fit)
    base = _check_fit_of_02(quiet)
    if not base.passed:
        return Check(False, f"The loop of notebook 02 first: {base.message}")

    train, val = _task(64, seed=5), _task(48, seed=6)
    lr, steps, warmup = 0.05, 12, 4
    for decay in ("cosine", None):
        seen, error = _learning_rates(fit, _Spy(seed=7), train, steps=steps, lr=lr,
                                      batch_size=16, warmup=warmup, decay=decay,
                                      weight_decay=0.1, progress=False)
        if error is not None:
            return error
        if not seen:
            return Check(False, "No optimiser stepped on the model's parameters.")
        if seen[0][0] != "AdamW":
            return Check(False, f"Your optimiser is {seen[0][0]}: use torch.optim.AdamW, as "
                                "helpers.fit does (its weight decay is the decoupled one).")
        if any(wd != 0.1 for _, _, wd in seen):
            return Check(False, f"With weight_decay=0.1 your AdamW decayed by {seen[0][2]}: pass "
                                "weight_decay=weight_decay to it.")
        if len(seen) != steps:
            return Check(False, f"{steps} steps should call optimiser.step() {steps} times; "
                                f"it ran {len(seen)} times.")
        mistake = _schedule_mistake([rate for _, rate, _ in seen], lr, steps, warmup, decay)
        if mistake:
            return Check(False, mistake)
    seen, error = _learning_rates(fit, _Spy(seed=7), train, steps=3, lr=lr, progress=False)
    if error is not None:
        return error
    if seen and seen[0][2] != 0.0:
        return Check(False, f"Without weight_decay your AdamW decayed by {seen[0][2]} (AdamW's "
                            "own default is 0.01): default to weight_decay=0.0, as helpers.fit "
                            "does, and pass it on.")

    pair = _PairSpy(seed=7)
    pair_train = ((train[0], train[0][:, 0].clone()), train[1])
    pair_val = ((val[0], val[0][:, 0].clone()), val[1])
    try:
        with torch.random.fork_rng():
            history = fit(pair, pair_train, pair_val, steps=30, lr=lr, batch_size=16,
                          eval_every=10, progress=False)
    except Exception as error:  # it ran with one input above: the tuple is what failed
        return Check(False, f"X can be a tuple of inputs, (source, target so far) in 07, "
                            f"(features, lengths) in 11: call model(*xb) with the same rows of "
                            f"each, for the held-out data too. ({type(error).__name__}: "
                            f"{error})")
    if not all(pair.aligned):
        return Check(False, "With X a tuple, the inputs reached the model from different rows: "
                            "index every tensor of the tuple with the same indices.")
    if history is None or not history.val_acc or history.val_acc[-1] < 0.9:
        return Check(False, "With X a tuple the model did not learn (held-out accuracy "
                            f"{history.val_acc[-1] if history and history.val_acc else 0:.0%}).")

    plain = _PlainSpy(seed=7)
    X, Y = train[0], train[1][:, 0]  # classify from the first token: (B,) targets
    try:
        with torch.random.fork_rng():
            fit(plain, (X, Y), (val[0], val[1][:, 0]), steps=5, lr=lr, batch_size=16,
                progress=False)
    except Exception as error:  # the learner's code: any error is theirs to see
        if plain.calls:
            return Check(False, f"A model that returns its logits alone (B, V), as 11's "
                                f"classifier does, failed: out[0] takes the first example's "
                                f"row. Take out[0] only when out is a tuple. ({type(error).__name__}: "
                                f"{error})")
        return Check(False, f"Calling your function failed: {type(error).__name__}: {error}")

    shown = io.StringIO()
    with contextlib.redirect_stderr(shown), contextlib.redirect_stdout(shown):
        _call(fit, _Spy(seed=7), train, steps=3, lr=lr, desc="quiet", progress=False)
    if shown.getvalue().strip():
        return Check(False, "With progress=False your fit still showed something "
                            f"({shown.getvalue().strip()[:60]!r}): 09 trains 24 models in "
                            "one loop, with one bar of its own.")
    return Check(True, "Your loop, grown: AdamW with the weight decay you pass, the rate of "
                       "Exercise 9 at every step (held after the warm-up without decay), "
                       "tuples of inputs and models that return their logits alone. It "
                       "trains the models of notebooks 06-11.")
