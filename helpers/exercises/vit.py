"""Exercise checks of Notebook 09, the Vision Transformer."""
import torch

from helpers.exercises._common import Check, _diagnose


def _grid(x, P):
    B, C, H, W = x.shape
    return x.view(B, C, H // P, P, W // P, P)  # (B, C, rows, P, cols, P)


def check_patchify(patchify):
    """Exercise: ``patchify(images, P)``, (B, C, H, W) -> (B, N, C·P·P), patches in reading
    order, each flattened channel by channel (C, P, P)."""
    P = 2
    x = torch.randn(2, 3, 4, 6, generator=torch.Generator().manual_seed(0))  # H != W on purpose
    B, C, H, W = x.shape
    N, rows, cols = (H // P) * (W // P), H // P, W // P
    g = _grid(x, P)
    right = g.permute(0, 2, 4, 1, 3, 5).reshape(B, N, C * P * P)
    mistakes = {
        "Your patches cut across rows: reshaping (B, C, H, W) straight to (B, N, C·P·P) takes "
        "P·P·C consecutive numbers of memory, which run along one image row (and across "
        "channels). Split H and W first: view(B, C, H/P, P, W/P, P), then permute.":
            x.reshape(B, N, C * P * P),
        "Channels interleaved in the wrong order: you flattened each patch as (P, P, C), pixel "
        "by pixel with the channels innermost; this course (and Conv2d's kernel) flattens it "
        "as (C, P, P): all of channel 0, then channel 1, ... Permute to (B, rows, cols, C, P, P).":
            g.permute(0, 2, 4, 3, 5, 1).reshape(B, N, C * P * P),
        "Each patch is transposed: you flattened it column by column. Keep the row-within-patch "
        "axis before the column-within-patch axis: (C, P_row, P_col).":
            g.permute(0, 2, 4, 1, 5, 3).reshape(B, N, C * P * P),
        "Your patches come column by column (top to bottom, then left to right); number them "
        "in reading order: rows of patches first, then columns.":
            g.permute(0, 4, 2, 1, 3, 5).reshape(B, N, C * P * P),
        f"Wrong N: you kept the grid of patches as two dimensions (B, {rows}, {cols}, C·P·P); "
        f"flatten it into N = {rows}·{cols} = {N} tokens.":
            g.permute(0, 2, 4, 1, 3, 5).reshape(B, rows, cols, C * P * P),
        "You returned (B, C·P·P, N): the tokens must be the second dimension, features last.":
            right.transpose(1, 2),
    }
    got = patchify(x.clone(), P)
    if isinstance(got, torch.Tensor) and got.dim() == 3 and got.shape[0] == B \
            and got.shape[1] != N and got.shape[1] * got.shape[2] == N * C * P * P:
        return Check(False, f"Wrong N: an image of {H}x{W} pixels in {P}x{P} patches has "
                            f"N = ({H}/{P})·({W}/{P}) = {N} patches of C·P·P = {C * P * P} "
                            f"numbers; you returned {got.shape[1]} tokens of {got.shape[2]}.")
    return _diagnose(got, right, mistakes,
                     "Patches in reading order, each flattened as (C, P, P): the layout of "
                     "helpers.vit.patchify and of a Conv2d kernel.")


def check_num_position_embeddings(answer, image_size, patch_size, class_token=True):
    """Exercise: how many learned position embeddings a ViT needs."""
    N = (image_size // patch_size) ** 2
    right = N + bool(class_token)
    if answer is None:
        return Check(False, "Not done yet: set answer to an int.")
    if not isinstance(answer, int):
        return Check(False, f"Expected an int, got {type(answer).__name__}.")
    if answer == right:
        return Check(True, f"{right}: one per patch ({image_size}/{patch_size})² = {N}"
                           + (", plus one for the class token." if class_token else "."))
    mistakes = {
        N: "You forgot the class token: it sits in the sequence too and gets its own position.",
        image_size // patch_size + bool(class_token):
            f"That is one per row of patches; there are ({image_size}/{patch_size})² patches.",
        image_size ** 2 + bool(class_token):
            "That is one per pixel: the tokens are patches, not pixels.",
        N - 1 + bool(class_token): "Off by one: every patch gets a position, the first one too.",
    }
    return Check(False, mistakes.get(answer, f"Not {answer}: count the tokens that enter the "
                                             f"encoder, N = (image_size / P)² patches, "
                                             f"and the class token."))


def check_attention_cost(answer, image_size, patch_size, num_heads):
    """Exercise: ``answer = (tokens, weights)``: how many tokens enter the encoder (class token
    included), and how many attention weights one layer computes for one image."""
    N = (image_size // patch_size) ** 2
    T = N + 1
    if answer is None:
        return Check(False, "Not done yet: set answer to (tokens, weights), two ints.")
    if not (isinstance(answer, tuple) and len(answer) == 2
            and all(isinstance(a, int) for a in answer)):
        return Check(False, f"Expected a tuple of two ints (tokens, weights), got {answer!r}.")
    tokens, weights = answer
    if tokens != T:
        hints = {N: "You forgot the class token (N + 1 tokens).",
                 image_size ** 2: "That counts pixels; the tokens are patches.",
                 image_size ** 2 + 1: "That counts pixels; the tokens are patches.",
                 image_size // patch_size + 1: f"That is one row of patches; there are "
                                               f"({image_size}/{patch_size})² of them."}
        return Check(False, hints.get(tokens, f"Tokens: not {tokens}. N = (image_size / P)² "
                                              "patches plus the class token."))
    right = num_heads * T * T
    hints = {T * T: f"One head's matrix: every one of the {num_heads} heads has its own T×T "
                    "weights.",
             num_heads * T: "Each of the T queries has a weight for every one of the T keys: "
                            "T² per head, not T.",
             num_heads * N * N: "You left the class token out of the matrix: T = N + 1.",
             num_heads * image_size ** 4: "That is attention over pixels (R⁴ per head); the "
                                          "tokens here are patches."}
    if weights == right:
        return Check(True, f"{T} tokens; {num_heads} heads × {T}² = {right:,} weights per image "
                           f"and layer.")
    return Check(False, hints.get(weights, f"Weights: not {weights:,}. Each head holds a T×T "
                                           "matrix, with T the token count."))
