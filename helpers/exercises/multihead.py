"""Exercise checks of Notebook 04, multi-head attention."""
import torch

from helpers.exercises._common import Check, _diagnose


def check_split_heads(split_heads):
    """Exercise: ``split_heads(x, num_heads)``: (B, T, C) -> (B, H, T, D) with D = C / H."""
    B, T, C, H = 2, 3, 8, 2
    x = torch.arange(B * T * C, dtype=torch.float32).view(B, T, C)
    right = x.view(B, T, H, C // H).transpose(1, 2)
    mistakes = {
        "You reshaped straight to (B, H, T, D): that cuts the sequence, not the features, into "
        "heads. View as (B, T, H, D) first, then transpose(1, 2).": x.reshape(B, H, T, C // H),
        "You stopped at (B, T, H, D): move the heads in front of the positions with "
        "transpose(1, 2).": x.view(B, T, H, C // H),
    }
    return _diagnose(split_heads(x.clone(), H), right, mistakes,
                     "Each head gets its own slice of D features for every position.")


def check_merge_heads(merge_heads):
    """Exercise: ``merge_heads(x)``: (B, H, T, D) -> (B, T, H*D), the inverse of split_heads."""
    B, H, T, D = 2, 2, 3, 4
    x = torch.arange(B * H * T * D, dtype=torch.float32).view(B, H, T, D)
    right = x.transpose(1, 2).reshape(B, T, H * D)
    mistakes = {
        "You reshaped without transposing back: positions and heads got mixed. "
        "transpose(1, 2) first, then reshape(B, T, H * D).": x.reshape(B, T, H * D),
    }
    return _diagnose(merge_heads(x.clone()), right, mistakes,
                     "The heads sit side by side again in each position's features.")


def check_mha_parameter_count(answer, d_model, num_heads):
    """Exercise: parameters of MultiHeadAttention(d_model, num_heads), biases included."""
    right = 4 * (d_model * d_model + d_model)
    if answer is None:
        return Check(False, "Not done yet: set your answer to an int.")
    if answer == right:
        return Check(True, f"{right}: W_Q, W_K, W_V and W_O, each C × C plus C biases — "
                           "whatever the number of heads.")
    if answer == 3 * (d_model * d_model + d_model):
        return Check(False, "You forgot the output projection W_O.")
    if answer == 4 * d_model * d_model:
        return Check(False, "You forgot the biases (C per projection).")
    if answer == num_heads * right or answer == num_heads * 3 * (d_model * d_model + d_model):
        return Check(False, f"More heads do not mean more parameters: each of the {num_heads} "
                            f"heads projects to d_model / {num_heads} features.")
    return Check(False, f"{answer} is not it. Count four C × C projections with C biases each.")
