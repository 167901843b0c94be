"""Exercise checks of Notebook 06, the encoder."""
import torch

from helpers.exercises._common import Check, _diagnose, _perturbed


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


def check_mlp(mlp):
    """Exercise: ``mlp(x, up, down)``, the position-wise MLP: up (C -> d_ff), exact GELU,
    down (d_ff -> C); (B, T, C) -> (B, T, C)."""
    up, down = _linear_pair()
    x = torch.randn(2, 5, 6, generator=torch.Generator().manual_seed(0)) * 2
    with torch.no_grad():
        hidden = up(x)  # (B, T, d_ff)
        right = down(_erf_gelu(hidden))  # (B, T, C)
        mistakes = {
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
