"""Exercise checks of Notebook 06, the encoder: GELU, the MLP, LayerNorm, the two wirings,
the encoder block (a function, then ``MyEncoderBlock``, the piece "EncoderBlock" that
notebooks 07, 11 and 13 build on). The schedule and the loop of notebook 07 are in
helpers/exercises/training.py."""
import torch

from helpers.exercises._common import Check, _diagnose, _module_or_error, _perturbed
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
