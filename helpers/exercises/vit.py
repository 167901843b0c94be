"""Exercise checks of Notebook 11, the Vision Transformer."""
import torch
from torch import nn

from helpers.exercises._common import Check, _diagnose, _module_or_error, _perturbed
from helpers.yours import builds


def _grid(x, P):
    B, C, H, W = x.shape
    return x.view(B, C, H // P, P, W // P, P)  # (B, C, rows, P, cols, P)


def check_patchify(patchify):
    """Exercise: ``patchify(images, P)``, (B, C_in, R, R) -> (B, N, C_in·P·P), patches in reading
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


# -- the learner's ViT, step by step -----------------------------------------------------
# Each step is compared with the course's code (helpers.vit.ViT, helpers.Encoder) on the
# same weights; the mistakes people make at that step are recomputed and named.

def _pieces(seed=0, B=3, N=4, d=6):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(B, N, d, generator=g), torch.randn(1, 1, d, generator=g),
            torch.randn(1, N + 1, d, generator=g))


def _shape_hint(error, N):
    """A hint for the usual shape errors of the class-token step, or ''."""
    text = str(error)
    if f"({N})" in text and f"({N + 1})" in text:
        return (f" Your tokens have N = {N} positions where pos_embed has N + 1 = {N + 1}: "
                "the class token must become a new first token, torch.cat([class token, "
                "tokens], dim=1); adding it to the tokens makes no new token.")
    if "Sizes of tensors must match except in dimension 1" in text:
        return (" The class token is (1, 1, d), the tokens (B, N, d): expand it to the "
                "batch first, class_token.expand(B, -1, -1), then torch.cat along dim 1.")
    return ""


def check_vit_input(encoder_input):
    """Exercise: ``encoder_input(tokens, class_token, pos_embed)``: the patch tokens (B, N, C),
    the class token (1, 1, C) or None (pool='mean'), the position embeddings (1, T, C)
    -> the encoder's input (B, T, C): the class token prepended to every image's tokens
    (T = N + 1), then the positions added."""
    tokens, class_token, pos_embed = _pieces()
    B, N, d = tokens.shape
    cls = class_token.expand(B, -1, -1)
    right = torch.cat([cls, tokens], dim=1) + pos_embed
    mistakes = {
        "The class token is appended after the patches; prepend it: it is token 0, the one "
        "the head reads (torch.cat([class token, tokens], dim=1)).":
            torch.cat([tokens, cls], dim=1) + pos_embed,
        "The positions are not added: E_pos (1, N + 1, d) must be added to the sequence, "
        "class token included.": torch.cat([cls, tokens], dim=1),
        "The class token got no position: add pos_embed to the whole sequence after "
        "prepending the class token, not to the patches alone.":
            torch.cat([cls, tokens + pos_embed[:, 1:]], dim=1),
    }
    try:
        got = encoder_input(tokens.clone(), class_token.clone(), pos_embed.clone())
    except Exception as error:
        return Check(False, f"Your function failed: {type(error).__name__}: {error}."
                            + _shape_hint(error, N))
    if isinstance(got, torch.Tensor) and got.shape == (B, N, d):
        return Check(False, f"You returned N = {N} tokens: the class token must be a new, "
                            "first token (torch.cat along dim 1), not added to the patch "
                            "tokens.")
    result = _diagnose(got, right, mistakes, "")
    if not result.passed:
        return result
    no_class_pos = pos_embed[:, 1:]
    try:
        got = encoder_input(tokens.clone(), None, no_class_pos.clone())
    except Exception as error:
        return Check(False, "With a class token it works; with class_token=None (pool='mean', "
                            f"no class token) it failed: {type(error).__name__}: {error}. "
                            "Then only add the positions.")
    result = _diagnose(got, tokens + no_class_pos, {}, "")
    if not result.passed:
        return Check(False, "With a class token it works; with class_token=None (pool='mean') "
                            f"the tokens plus positions are expected: {result.message}")
    return Check(True, "The class token is token 0 of every image, and every token, the class "
                       "token included, has its position added.")


def check_vit_pool(pool_tokens):
    """Exercise: ``pool_tokens(x, pool)``: the encoder's output (B, T, C) -> one vector per
    image (B, C): the class token (token 0) if pool == 'cls', the mean over the tokens if
    pool == 'mean'."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, 5, 4, generator=g)
    cases = {
        "cls": (x[:, 0], {
            "With pool='cls' you averaged the tokens: read the class token, x[:, 0] (its "
            "output has attended to every patch).": x.mean(dim=1),
            "With pool='cls' you averaged the patch tokens: read the class token, x[:, 0].":
                x[:, 1:].mean(dim=1),
            "With pool='cls' you read the last token; the class token is the first, x[:, 0].":
                x[:, -1],
            "With pool='cls' you took x[0], the first image (T, d); the class token of every "
            "image is x[:, 0].": x[0],
            "With pool='cls' you kept a token dimension (B, 1, d): index it away, x[:, 0].":
                x[:, :1],
        }),
        "mean": (x.mean(dim=1), {
            "With pool='mean' you read token 0; there is no class token then: average "
            "over the tokens, x.mean(dim=1).": x[:, 0],
            "With pool='mean' you averaged over the batch (dim 0); average over the tokens, "
            "dim 1.": x.mean(dim=0),
            "With pool='mean' you averaged over the features (dim -1); average over the "
            "tokens, dim 1.": x.mean(dim=-1),
            "With pool='mean' you left out token 0; there is no class token then, every "
            "token is a patch: x.mean(dim=1).": x[:, 1:].mean(dim=1),
        }),
    }
    for pool, (right, mistakes) in cases.items():
        try:
            got = pool_tokens(x.clone(), pool)
        except Exception as error:
            return Check(False, f"With pool={pool!r} your function failed: "
                                f"{type(error).__name__}: {error}")
        result = _diagnose(got, right, mistakes, "")
        if not result.passed:
            return result
    return Check(True, "pool='cls' reads the class token x[:, 0]; pool='mean' averages the "
                       "tokens: (B, T, d) -> (B, d).")


def _encoder_config():
    from helpers.encoder import EncoderConfig
    return EncoderConfig(d_model=8, num_heads=2, d_ff=16, num_layers=3, norm_first=True)


def _same_names(mine, reference, what):
    """None if ``mine`` has ``reference``'s parameter names and shapes, else a Check."""
    names = {n: tuple(p.shape) for n, p in mine.named_parameters()}
    wanted = {n: tuple(p.shape) for n, p in reference.named_parameters()}
    if names == wanted:
        return None
    missing = [n for n in wanted if n not in names]
    extra = [n for n in names if n not in wanted]
    reshaped = [f"{n} {names[n]} (expected {wanted[n]})" for n in wanted
                if n in names and names[n] != wanted[n]]
    parts = ([f"missing {', '.join(missing[:4])}{' ...' if len(missing) > 4 else ''}"]
             if missing else []) + ([f"unexpected {', '.join(extra[:4])}"] if extra else []) \
        + ([f"wrong shape: {', '.join(reshaped[:3])}"] if reshaped else [])
    return Check(False, f"Your {what}'s parameters differ from the course's: "
                        f"{'; '.join(parts)}. The names must match so that the course's "
                        "weights load into yours.")


def check_vit_encoder(cls):
    """Exercise: ``class MyEncoder(nn.Module)``, built as ``cls(config)`` with a
    ``helpers.EncoderConfig``: ``blocks``, an nn.ModuleList of ``config.num_layers`` encoder
    blocks, and ``final_norm``, a LayerNorm; ``forward(x)`` -> (out (B, T, C), weights
    (B, L, H, T, T)): every block reads the previous block's output, the final norm comes
    last, the weights of every block are stacked along dim 1.

    Compared with ``helpers.Encoder`` (pre-norm) on the same weights, forward and backward."""
    from helpers.encoder import Encoder

    config = _encoder_config()
    L = config.num_layers
    mine, error = _module_or_error(cls, lambda c: c(config))
    if error is not None:
        return error
    blocks = getattr(mine, "blocks", None)
    if blocks is None and not list(mine.parameters()):
        return Check(False, "Not done yet: your encoder has no blocks and no parameters. "
                            "Build self.blocks and self.final_norm in __init__.")
    if isinstance(blocks, nn.ModuleList) and len(blocks) == L \
            and len({id(b) for b in blocks}) < L:
        return Check(False, f"Your {L} blocks are one block {L} times (the same object, one "
                            "set of weights): build a new block for each layer, "
                            "nn.ModuleList(Block(config) for _ in range(num_layers)).")
    if not isinstance(blocks, nn.ModuleList) or len(blocks) != L:
        return Check(False, f"self.blocks must be an nn.ModuleList of config.num_layers = {L} "
                            f"blocks; got {type(blocks).__name__}"
                            + (f" of {len(blocks)}" if hasattr(blocks, "__len__") else "") + ".")
    reference = _perturbed(lambda: Encoder(config), seed=6)
    wrong = _same_names(mine, reference, "encoder")
    if wrong is not None:
        if not any(n.startswith("final_norm.") for n, _ in mine.named_parameters()):
            return Check(False, "Your encoder has no final_norm: a pre-norm stack ends with "
                                "a LayerNorm (self.final_norm), since the last block's output "
                                "is never normalised otherwise.")
        return wrong
    mine.load_state_dict(reference.state_dict())
    mine.eval()
    x = torch.randn(2, 5, config.d_model, generator=torch.Generator().manual_seed(7))
    try:
        got = mine(x.clone().requires_grad_())
    except Exception as error:
        return Check(False, f"Calling your encoder failed: {type(error).__name__}: {error}")
    if not (isinstance(got, tuple) and len(got) == 2):
        return Check(False, "forward must return a pair (out, weights): the output (B, T, C) "
                            "and the weights of every block (B, L, H, T, T).")
    out, weights = got
    expected, expected_w = reference(x, need_weights=True)
    with torch.no_grad():
        z, each = x, []
        for block in reference.blocks:
            each.append(block(x)[0])
            z = block(z)[0]
        mistakes = {
            "The final norm is missing from the output: return self.final_norm(x) after "
            "the last block.": z,
            "Every block reads the input x, not the previous block's output: write "
            "x, w = block(x) so that x is passed on.": reference.final_norm(each[-1]),
        }
    result = _diagnose(out, expected, mistakes, "")
    if not result.passed:
        return result
    if not isinstance(weights, torch.Tensor):
        return Check(False, "The output is right; the weights must be a tensor (B, L, H, T, T): "
                            "torch.stack(the blocks' weights, dim=1).")
    if weights.shape == expected_w.transpose(0, 1).shape and weights.shape != expected_w.shape:
        return Check(False, f"The weights are {tuple(weights.shape)}: stacked along dim 0 "
                            "(L, B, H, T, T); stack along dim 1 for (B, L, H, T, T).")
    if weights.shape != expected_w.shape or not torch.allclose(weights.detach(), expected_w,
                                                               atol=1e-5):
        return Check(False, f"The output is right, the weights are not: expected every "
                            f"block's weights, {tuple(expected_w.shape)} (B, L, H, T, T), got "
                            f"{tuple(weights.shape)}.")
    wrong = _backward_differs(mine, reference, out, expected)
    if wrong:
        return Check(False, f"Forward matches, but the gradient of {wrong} differs.")
    return Check(True, f"Your encoder matches helpers.Encoder: {L} blocks in a row, the final "
                       "norm, every block's weights (B, L, H, T, T), forward and backward.")


def _backward_differs(mine, reference, out, expected):
    """The first parameter name whose gradient differs after backward of the same loss."""
    g = torch.randn(expected.shape, generator=torch.Generator().manual_seed(8))
    mine.zero_grad()
    reference.zero_grad()
    (out * g).sum().backward()
    (expected * g).sum().backward()
    theirs = dict(reference.named_parameters())
    for name, p in mine.named_parameters():
        q = theirs[name]
        if (p.grad is None) != (q.grad is None) or (
                p.grad is not None and not torch.allclose(p.grad, q.grad, atol=1e-4)):
            return name
    return None


def _vit_config(pool="cls"):
    from helpers.vit import ViTConfig
    # 2 channels and 3x3 patches of 2x2 pixels: every wrong flattening order gives other tokens
    return ViTConfig(image_size=6, patch_size=2, channels=2, num_classes=5, d_model=8,
                     num_heads=2, d_ff=16, num_layers=2, pool=pool)


def _wrong_patchings(x, P):
    """The usual wrong ways of cutting (B, C_in, R, R) into (B, N, C_in·P·P), by message."""
    B, C, H, W = x.shape
    g, N = _grid(x, P), (H // P) * (W // P)
    return {
        "flattened (P, P, C), channels innermost; flatten each patch as (C, P, P), the "
        "layout of helpers.vit.patchify and of a Conv2d kernel":
            g.permute(0, 2, 4, 3, 5, 1).reshape(B, N, C * P * P),
        "numbered column by column; number them in reading order (rows of patches first)":
            g.permute(0, 4, 2, 1, 3, 5).reshape(B, N, C * P * P),
        "each flattened column by column (transposed)":
            g.permute(0, 2, 4, 1, 5, 3).reshape(B, N, C * P * P),
        "cut by a plain reshape, across image rows; view(B, C, H/P, P, W/P, P) and permute "
        "first": x.reshape(B, N, C * P * P),
    }


def _vit_mistakes(reference, x):
    """(embed mistakes, logits mistakes): what the usual mistakes give, by message."""
    c = reference.config
    cls = reference.class_token
    B = x.shape[0]

    def tokens(patches, prepend=True, append=False, positions=True):
        t = reference.patch_embed(patches)  # (B, N, C)
        if cls is not None and prepend:
            t = torch.cat([t, cls.expand(B, -1, -1)] if append else
                          [cls.expand(B, -1, -1), t], dim=1)
        return t + reference.pos_embed if positions else t

    def encode(z):
        for block in reference.encoder.blocks:
            z = block(z)[0]
        return z  # (B, T, C), before the final norm

    from helpers.vit import patchify
    right_patches = patchify(x, c.patch_size)
    embeds = {f"Your patches are {how}.": tokens(p)
              for how, p in _wrong_patchings(x, c.patch_size).items()}
    if cls is not None:
        embeds["The class token is appended after the patches; prepend it (token 0 is the "
               "one the head reads): torch.cat([class token, tokens], dim=1)."] = \
            tokens(right_patches, append=True)
    embeds["The positions are not added: pos_embed (1, T, d) must be added to every token, "
           "the class token included."] = tokens(right_patches, positions=False)
    z = encode(tokens(right_patches))
    final = reference.encoder.final_norm(z)
    if cls is not None:
        logits = {
            "With pool='cls' your head reads the mean of the tokens; it must read the class "
            "token, x[:, 0].": reference.head(final.mean(dim=1)),
            "With pool='cls' your head reads the mean of the patch tokens; it must read the "
            "class token, x[:, 0].": reference.head(final[:, 1:].mean(dim=1)),
            "Your head reads the last token; the class token is the first, x[:, 0].":
                reference.head(final[:, -1]),
            "The final norm is missing: the encoder's output goes through "
            "encoder.final_norm before the head.": reference.head(z[:, 0]),
        }
    else:
        logits = {
            "With pool='mean' your head reads token 0; there is no class token then: "
            "average the tokens, x.mean(dim=1).": reference.head(final[:, 0]),
            "The final norm is missing: the encoder's output goes through "
            "encoder.final_norm before the head.": reference.head(z.mean(dim=1)),
        }
    return embeds, logits


@builds("ViT", "helpers.vit:ViT")
def check_vit(cls):
    """Exercise: ``class MyViT(nn.Module)``, built as ``cls(config)`` with a ``ViTConfig``, the
    parameter names of ``helpers.vit.ViT`` (patch_embed, class_token (None when
    pool='mean'), pos_embed, encoder.blocks, encoder.final_norm, head), ``embed(images)``
    -> (B, T, C) and ``forward(images, need_weights=False)`` -> (logits (B, classes),
    weights (B, L, H, T, T)); need_weights may be ignored (the weights always returned).

    Compared with the course's ViT on the same weights, with pool='cls' and 'mean',
    forward (the embedding, the logits, the weights) and backward."""
    from helpers.vit import ViT

    for pool in ("cls", "mean"):
        config = _vit_config(pool)
        mine, error = _module_or_error(cls, lambda c: c(config))
        if error is not None:
            return error
        if not list(mine.parameters()):
            return Check(False, "Not done yet: your ViT has no parameters. Build "
                                "patch_embed, class_token, pos_embed, encoder and head in "
                                "__init__.")
        reference = _perturbed(lambda: ViT(config), seed=9)
        if pool == "mean" and getattr(mine, "class_token", None) is not None:
            return Check(False, "With pool='mean' there is no class token: set "
                                "self.class_token = None, and pos_embed holds N positions.")
        wrong = _same_names(mine, reference, f"ViT (pool={pool!r})")
        if wrong is not None:
            return wrong
        mine.load_state_dict(reference.state_dict())
        mine.eval()
        x = torch.randn(3, config.channels, config.image_size, config.image_size,
                        generator=torch.Generator().manual_seed(10))
        result = _check_vit_forward(mine, reference, x, pool)
        if result is not None:
            return result
    return Check(True, "Your ViT matches helpers.vit.ViT on the same weights: patches, class "
                       "token, positions, encoder, final norm and head, with pool='cls' and "
                       "'mean', forward and backward.")


def _check_vit_forward(mine, reference, x, pool):
    """None if ``mine`` computes what ``reference`` does on ``x``, forward and backward."""
    case = f"With pool={pool!r}: "
    N = reference.config.num_patches
    with torch.no_grad():
        embed_mistakes, logit_mistakes = _vit_mistakes(reference, x)
    if not callable(getattr(mine, "embed", None)):
        return Check(False, "Your ViT needs a method embed(images) -> the encoder's input "
                            "(B, T, d): patches, their embedding, the class token, positions.")
    try:
        got = mine.embed(x.clone())
    except Exception as error:
        return Check(False, f"{case}calling your embed failed: {type(error).__name__}: "
                            f"{error}." + _shape_hint(error, N))
    result = _diagnose(got, reference.embed(x), embed_mistakes, "")
    if not result.passed:
        return Check(False, f"{case}embed: {result.message}")
    images = x.clone().requires_grad_()
    try:
        got = mine(images)
        got_w = mine(x.clone(), need_weights=True)
    except Exception as error:
        return Check(False, f"{case}calling your ViT failed: {type(error).__name__}: {error}")
    if not (isinstance(got, tuple) and len(got) == 2 and isinstance(got_w, tuple)
            and len(got_w) == 2):
        return Check(False, "forward must return a pair (logits (B, classes), weights "
                            "(B, L, H, T, T)), as the course's ViT does.")
    expected, expected_w = reference(images, need_weights=True)
    result = _diagnose(got[0], expected, logit_mistakes, "")
    if not result.passed:
        return Check(False, f"{case}the embedding is right, the logits are not. "
                            f"{result.message}")
    weights = got_w[1]
    if not isinstance(weights, torch.Tensor) or weights.shape != expected_w.shape \
            or not torch.allclose(weights.detach(), expected_w, atol=1e-5):
        return Check(False, f"{case}the logits are right; with need_weights=True the "
                            f"weights of every block must come back, {tuple(expected_w.shape)} "
                            "(B, L, H, T, T), stacked along dim 1.")
    wrong = _backward_differs(mine, reference, got[0], expected)
    if wrong:
        return Check(False, f"{case}forward matches, but the gradient of {wrong} differs.")
    return None
