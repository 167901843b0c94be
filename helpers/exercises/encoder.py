"""Exercise checks of Notebook 06, the encoder."""
import torch

from helpers.exercises._common import Check, _diagnose


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
