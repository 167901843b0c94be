"""Exercise checks of Notebook 12, windowed attention and shifted windows (Swin)."""
import torch

from helpers._checks import shape_str
from helpers.exercises._common import Check, _diagnose, _module_or_error, _perturbed
from helpers.yours import builds


def check_window_partition(window_partition):
    """Exercise: ``window_partition(x, M)``, (B, G_h, G_w, C) -> (B·n_w, M·M, C), windows in
    reading order, the tokens of each window in reading order. The check's map is 4×6
    patches (G_h rows, G_w columns), so that rows and columns cannot be confused."""
    M = 2
    x = torch.randn(2, 4, 6, 3, generator=torch.Generator().manual_seed(0))  # G_h != G_w on purpose
    B, G_h, G_w, C = x.shape
    n_w = (G_h // M) * (G_w // M)
    grid = x.view(B, G_h // M, M, G_w // M, M, C)  # (B, rows of windows, M, cols of windows, M, C)
    right = grid.permute(0, 1, 3, 2, 4, 5).reshape(B * n_w, M * M, C)
    mistakes = {
        "Your windows cut across rows: a view (or reshape) of (B, G_h, G_w, C) straight to "
        "(B·n_w, M·M, C) takes M·M consecutive tokens of memory, which run along one row of "
        "the map. Split the rows and the columns first, view(B, G_h/M, M, G_w/M, M, C), then "
        "permute the two window axes in front: permute(0, 1, 3, 2, 4, 5).":
            x.reshape(B * n_w, M * M, C),
        "Your windows come column by column (top to bottom, then left to right); number them in "
        "reading order: rows of windows first, then columns.":
            grid.permute(0, 3, 1, 2, 4, 5).reshape(B * n_w, M * M, C),
        "The tokens inside each window are transposed (column by column); keep the row within "
        "the window before the column within the window: permute(0, 1, 3, 2, 4, 5).":
            grid.permute(0, 1, 3, 4, 2, 5).reshape(B * n_w, M * M, C),
        f"You kept the batch and the windows apart, (B, n_w, M·M, C) = (2, {n_w}, {M * M}, {C}); "
        "merge them into one batch of windows, B·n_w, so that attention runs on all at once.":
            right.view(B, n_w, M * M, C),
        "You returned (B·n_w, C, M·M): the tokens must be the second dimension, features last.":
            right.transpose(1, 2),
    }
    got = window_partition(x.clone(), M)
    if isinstance(got, torch.Tensor) and got.numel() == right.numel() and got.dim() == 3 \
            and got.shape[-1] == C and got.shape != right.shape:
        return Check(False, f"Wrong window size: {M}x{M} windows hold M·M = {M * M} tokens, so "
                            f"a {G_h}x{G_w} map gives {n_w} windows per image, {B * n_w} in all; you "
                            f"returned {shape_str(got.shape)}.")
    return _diagnose(got, right, mistakes,
                     "Windows in reading order, tokens in reading order inside each: the layout "
                     "of helpers.window_partition and of torchvision's Swin.")


def _one_window_labels():
    """The top-right window of an 8x8 map, M = 4, rolled by 1: two pieces, 12 tokens that
    were neighbours and a column of 4 that came round from the left edge. Not symmetric,
    so that numbering the tokens column by column gives a different mask."""
    return torch.tensor([[1, 1, 1, 2]] * 4)


def check_window_mask(window_mask):
    """Exercise: ``window_mask(labels)``: the region labels of one window (M, M) -> its
    attention mask (M·M, M·M), boolean, True = may attend (same label)."""
    labels = _one_window_labels()
    flat = labels.flatten()
    right = flat[:, None] == flat[None, :]
    by_columns = labels.T.flatten()
    got = window_mask(labels.clone())
    if isinstance(got, torch.Tensor) and got.is_floating_point() and got.shape == right.shape:
        if torch.equal(got == 0, right) and torch.isinf(got).any():
            return Check(False, "That is an additive mask (0 and -inf, to add to the scores). "
                                "This course's masks are boolean, True = may attend: return "
                                "flat[:, None] == flat[None, :].")
        if torch.equal(got, right.float()):
            return Check(False, "Right pattern, wrong dtype: return a boolean tensor "
                                "(torch.bool), True = may attend, not 1.0 and 0.0.")
    if isinstance(got, torch.Tensor) and got.dtype == torch.bool:
        got = got.float()  # compare as numbers below
    mistakes = {
        "Inverted: your mask is True where the labels differ. In this course True means "
        "'may attend' (torchvision adds -100 where labels differ; that is the blocked side).":
            (~right).float(),
        "No mask: every pair is allowed. Tokens of different pieces of the roll (different "
        "labels) were far apart before the shift and must not attend to each other.":
            torch.ones_like(right, dtype=torch.float),
        "Your tokens are numbered column by column: flatten the labels in reading order, "
        "labels.flatten() (or .view(-1)), so that token i of the window is row i // M, "
        "column i % M.":
            (by_columns[:, None] == by_columns[None, :]).float(),
        "Only the diagonal: each token may attend to itself, but also to every token with "
        "the same label.":
            torch.eye(16),
    }
    return _diagnose(got, right.float(), mistakes,
                     "Two pieces: each token attends only within its own piece (12² + 4² = 160 "
                     "of 256 pairs), as in helpers.shifted_window_mask.")


def check_window_cost(answer, G=None, M=None, *, H=None, W=None):
    """Exercise: ``answer = (global_weights, window_weights)``: the attention weights of one
    head for one image, global attention over the G×G patches of a map and M×M windows:
    ``check_window_cost(answer, G=56, M=7)``.

    ``H=``, ``W=`` are the old names of the map's rows and columns (before the course wrote
    them G, as H is the heads), still accepted for a map of H×W patches; to be removed."""
    G_h, G_w = (H, W) if H is not None or W is not None else (G, G)
    if not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in (G_h, G_w, M)):
        raise TypeError(f"call check_window_cost(answer, G=..., M=...) with two positive ints, "
                        f"got G={G!r}, M={M!r}")
    square = G_h == G_w
    tokens = "G²" if square else "G_h·G_w"  # T in letters, and n_w below
    windows = "(G/M)²" if square else "(G_h/M)·(G_w/M)"
    if answer is None:
        return Check(False, "Not done yet: set answer to (global_weights, window_weights), "
                            "two ints.")
    if not (isinstance(answer, tuple) and len(answer) == 2
            and all(isinstance(a, int) and not isinstance(a, bool) for a in answer)):
        return Check(False, f"Expected a tuple of two ints, got {answer!r}.")
    T, n_w = G_h * G_w, (G_h // M) * (G_w // M)
    glob, windowed = answer
    if glob != T * T:
        hints = {T: f"That counts tokens: T = {tokens} = {G_h}·{G_w} = {T}. Every token has a "
                    f"weight for every token: T² = {T}².",
                 2 * T: "Each of the T queries has T weights: T², not 2T.",
                 T * (T - 1): "A token attends to itself too: T², not T(T - 1)."}
        return Check(False, hints.get(glob, f"Global: not {glob:,}. T = {tokens} tokens, a T×T "
                                            "matrix."))
    right = M * M * T
    if windowed == right:
        return Check(True, f"global {glob:,}; windows {n_w} × (M·M)² = {n_w} × {M ** 4:,} = "
                           f"{right:,} = M²·{tokens}: {glob // right}× fewer, and linear in "
                           f"the number of patches {tokens}.")
    hints = {M ** 4: f"That is one window, (M·M)² = {M ** 4:,}; there are n_w = {windows} = "
                     f"{n_w} windows.",
             M * M * n_w: "That counts tokens (n_w windows of M·M); each window has an "
                          "(M·M)×(M·M) matrix.",
             M ** 3 * T: f"Your window count is off: n_w = {windows}, not {tokens}/M.",
             n_w * n_w * M ** 4: "That is as many weights as global attention: windows only "
                                 "attend inside themselves, so there is one (M·M)² block per "
                                 "window, not per pair of windows.",
             M ** 2 * n_w ** 2: "Each window holds M·M tokens, so its matrix has (M·M)² = M⁴ "
                                "entries; there are n_w windows: n_w·M⁴."}
    return Check(False, hints.get(windowed, f"Windows: not {windowed:,}. Count the windows, "
                                            f"n_w = {windows}, and the weights of one window, "
                                            "(M·M)²."))


# --------------------------------------------------------------------------- relative positions

def check_relative_position_index(relative_position_index):
    """Exercise: ``relative_position_index(M)``: for every (query i, key j) of an M×M window,
    the row of the (2M-1)² bias table that holds their offset: (M·M, M·M) ints."""
    M = 3
    rows = torch.arange(M).repeat_interleave(M)  # the row of each token, reading order
    cols = torch.arange(M).repeat(M)  # its column
    dy = rows[:, None] - rows[None, :]  # (M·M, M·M): query minus key, -(M-1)..M-1
    dx = cols[:, None] - cols[None, :]
    right = (dy + M - 1) * (2 * M - 1) + (dx + M - 1)
    mistakes = {
        "Your index is off by (M-1): the offsets run from -(M-1) to M-1, so some rows you "
        "return are negative (PyTorch would silently read them from the end of the table). "
        "Add M - 1 to both offsets before combining them: (dy + M - 1)·(2M - 1) + (dx + M - 1).":
            dy * (2 * M - 1) + dx,
        "You added M - 1 to the row offset only; the column offset needs it too.":
            (dy + M - 1) * (2 * M - 1) + dx,
        "You multiplied the row offset by M: there are 2M - 1 column offsets, so one row step "
        "of the table is 2M - 1 entries (with M, different offsets share a row).":
            (dy + M - 1) * M + (dx + M - 1),
        "Your offsets are key minus query: the index is transposed. Use the query's position "
        "minus the key's (dy = row_i - row_j), as torchvision and the paper's code do.":
            right.T,
        "Rows and columns swapped: the row offset dy picks the block of 2M - 1 entries, the "
        "column offset dx the entry inside it: (dy + M - 1)·(2M - 1) + (dx + M - 1).":
            (dx + M - 1) * (2 * M - 1) + (dy + M - 1),
    }
    got = relative_position_index(M)
    if isinstance(got, torch.Tensor) and got.is_floating_point():
        return Check(False, "The index must hold integers (torch.long), to index the table "
                            "with; you returned floats.")
    if isinstance(got, torch.Tensor):
        got = got.float()  # compared as numbers below
    return _diagnose(got, right.float(), {m: w.float() for m, w in mistakes.items()},
                     f"Every pair reads the row of its offset: {(2 * M - 1) ** 2} rows for "
                     f"{M ** 4} pairs (M = {M}), as helpers.relative_position_index.")


def check_relative_position_bias(relative_position_bias):
    """Exercise: ``relative_position_bias(table, index)``: the table ((2M-1)², H) and the
    index (M·M, M·M) -> every head's bias (H, M·M, M·M), bias[h, i, j] = table[index[i, j], h]."""
    from helpers.windows import relative_position_index
    M, H = 3, 2
    g = torch.Generator().manual_seed(0)
    table = torch.randn((2 * M - 1) ** 2, H, generator=g)
    index = relative_position_index(M)
    picked = table[index.flatten()]  # (M·M·M·M, H)
    right = picked.view(M * M, M * M, H).permute(2, 0, 1)  # (H, M·M, M·M)
    mistakes = {
        "Your bias is transposed: bias[h, i, j] must be the bias of query i and key j, but "
        "yours puts the keys first. permute(2, 0, 1) keeps (query, key) in that order; "
        "permute(2, 1, 0) swaps them.":
            right.transpose(1, 2),
        "You reshaped (M·M·M·M, H) straight to (H, M·M, M·M): that mixes heads and pairs. "
        "View as (M·M, M·M, H) first, then move the heads in front with permute(2, 0, 1).":
            picked.reshape(H, M * M, M * M),
    }
    got = relative_position_bias(table.clone(), index.clone())
    if isinstance(got, torch.Tensor) and got.shape == (M * M, M * M, H):
        return Check(False, f"You returned (M·M, M·M, H) = {shape_str(got.shape)}: the heads "
                            "go first, (H, M·M, M·M), so that the bias adds to the scores "
                            "(B, n_w, H, M·M, M·M).")
    return _diagnose(got, right, mistakes,
                     "Each head's bias repeats in M×M blocks: the same offset, the same number.")


# --------------------------------------------------------------------------- your modules

def _state_dict_error(mine, reference, what):
    """A Check if ``mine``'s state dict does not have ``reference``'s names and shapes."""
    have = {n: tuple(t.shape) for n, t in mine.state_dict().items()}
    want = {n: tuple(t.shape) for n, t in reference.state_dict().items()}
    if have == want:
        return None
    extra = sorted(set(have) - set(want))
    hint = ""
    if any("index" in n for n in extra):
        hint = (" Register the index as a buffer that is not saved: "
                "self.register_buffer('relative_position_index', index, persistent=False).")
    if not have:
        return Check(False, f"Not done yet: your {what} has no parameters. Expected exactly "
                            f"{want} (the course's names, so that weights load both ways).")
    return Check(False, f"Your {what}'s state dict is {have}; expected exactly {want}, "
                        f"so that the course's weights load into yours and yours into the "
                        f"course's.{hint}")


def _call(module, x, case, **kwargs):
    """``module(x, **kwargs)`` as (out, weights), or a Check saying what went wrong."""
    try:
        got = module(x, **kwargs)
    except Exception as error:  # the learner's forward: any error is theirs to see
        return None, Check(False, f"Calling your module {case} failed: {type(error).__name__}: {error}")
    return got, None


def _window_attention_variant(ref, x, *, direction=-1, roll_back=True, use_mask=True, bias="right",
                              scale="sqrt", shift_one_window=False):
    """The course's WindowAttention, by hand, with one classic mistake switched on."""
    from helpers.windows import shifted_window_mask, window_partition, window_reverse
    B, G_h, G_w, C = x.shape
    M, H, D = ref.window_size, ref.num_heads, ref.head_dim
    s = ref.shift[0] if (G_h > M or shift_one_window) else 0
    if s:
        x = torch.roll(x, shifts=(direction * s, direction * s), dims=(1, 2))
    windows = window_partition(x, M)  # (B·n_w, M·M, C)
    n_w = windows.shape[0] // B
    q, k, v = ref.qkv(windows).view(B, n_w, M * M, 3, H, D).permute(3, 0, 1, 4, 2, 5)
    scores = q @ k.transpose(-2, -1) / {"sqrt": D ** 0.5, "D": D, "none": 1.0}[scale]
    index = ref.relative_position_index
    if bias == "off by M-1":
        index = index - (M - 1) * (2 * M - 1) - (M - 1)
    if bias != "none":
        table = ref.relative_position_bias_table[index.flatten()]
        b = table.view(M * M, M * M, H).permute(2, 0, 1)  # (H, M·M, M·M)
        scores = scores + (b.transpose(1, 2) if bias == "transposed" else b)
    if s and use_mask:
        mask = shifted_window_mask(G_h, G_w, M, s)[:, None]  # (n_w, 1, M·M, M·M)
        scores = scores.masked_fill(~mask, float("-inf"))
    out = torch.softmax(scores, dim=-1) @ v  # (B, n_w, H, M·M, D)
    out = out.transpose(2, 3).reshape(B * n_w, M * M, C)  # (B·n_w, M·M, C)
    x = window_reverse(ref.proj(out), M, G_h, G_w)  # (B, G_h, G_w, C)
    if s and roll_back:
        x = torch.roll(x, shifts=(-direction * s, -direction * s), dims=(1, 2))
    return x


WINDOW_MISTAKES = {
    "Your shift goes the wrong way: roll the map up and left first, torch.roll(x, "
    "shifts=(-s, -s), dims=(1, 2)), and back down and right at the end, shifts=(s, s). "
    "The mask's labels assume that direction.": dict(direction=1),
    "You did not roll back: after window_reverse, roll the map by (s, s), or every patch's "
    "output lands s rows up and s columns left of where it belongs.": dict(roll_back=False),
    "The mask is missing for shifted windows: after the roll, a window at the bottom or right "
    "edge holds patches from opposite edges of the image. Block the pairs with different "
    "labels: scores.masked_fill(~shifted_window_mask(G_h, G_w, M, s), -inf).": dict(use_mask=False),
    "Your relative position index is off by (M-1): without + M - 1 the offsets are negative "
    "and PyTorch silently reads rows from the end of the table.": dict(bias="off by M-1"),
    "The bias table is indexed transposed: bias[h, i, j] must be the bias of query i and key "
    "j; yours is (key, query). permute(2, 0, 1), not permute(2, 1, 0).": dict(bias="transposed"),
    "The relative position bias is missing: add it to the scores, before the mask and the "
    "softmax.": dict(bias="none"),
    "You divided the scores by D, not √D.": dict(scale="D"),
    "You forgot to divide the scores by √D.": dict(scale="none"),
    "This map is a single window (G_h = G_w = M): there is nothing to shift, and torchvision "
    "skips the shift (and the mask) then. Shift only when G_h > M.": dict(shift_one_window=True),
}


def _compare_module(mine, reference, x, case, named, variant, weights_shape=True):
    """Forward (and weights) of ``mine`` against ``reference`` on ``x``, then backward;
    a Check if something differs (naming the mistake with ``variant`` when one matches)."""
    xa = x.clone().requires_grad_(True)
    xb = x.clone().requires_grad_(True)
    got, error = _call(mine, xa, case, **named)
    if error is not None:
        return error
    expected = reference(xb, **named)
    if isinstance(expected, tuple):
        if not (isinstance(got, tuple) and len(got) == 2):
            return Check(False, "forward must return a pair (out, weights): the output "
                                "(B, G_h, G_w, C) and the weights (B, n_w, H, M·M, M·M) when "
                                "need_weights=True (None otherwise is fine).")
        (out, weights), (exp_out, exp_w) = got, expected
    else:
        out, weights, exp_out, exp_w = got, None, expected, None
    if not isinstance(out, torch.Tensor):
        return Check(False, f"Expected the output to be a tensor, got {type(out).__name__}.")
    if out.shape != exp_out.shape:
        return Check(False, f"{case.capitalize()}: wrong shape: expected "
                            f"{shape_str(exp_out.shape)}, got {shape_str(out.shape)}.")
    if not torch.allclose(out.detach(), exp_out.detach(), atol=1e-5):
        with torch.no_grad():
            for message, wrong in variant(x).items():
                if torch.allclose(out.detach(), wrong, atol=1e-5, equal_nan=True):
                    return Check(False, f"{case.capitalize()}: {message}")
        diff = (out.detach() - exp_out.detach()).abs().max().item()
        return Check(False, f"{case.capitalize()}: right shape, wrong values (largest "
                            f"difference {diff:.3g}).")
    if exp_w is not None and named.get("need_weights"):
        if not isinstance(weights, torch.Tensor) or weights.shape != exp_w.shape \
                or not torch.allclose(weights.detach(), exp_w.detach(), atol=1e-5):
            return Check(False, f"{case.capitalize()}: the output is right but the weights "
                                f"are not: expected every window's softmax weights, "
                                f"{shape_str(exp_w.shape)} (B, n_w, H, M·M, M·M).")
    grad = torch.randn(exp_out.shape, generator=torch.Generator().manual_seed(9))
    (out * grad).sum().backward()
    (exp_out * grad).sum().backward()
    pairs = [("the input", xa.grad, xb.grad)]
    mine_params, ref_params = dict(mine.named_parameters()), dict(reference.named_parameters())
    pairs += [(name, mine_params[name].grad, p.grad) for name, p in ref_params.items()]
    for name, a, b in pairs:
        if a is None or not torch.allclose(a, b, atol=1e-5):
            return Check(False, f"{case.capitalize()}: the output is right, but the gradient "
                                f"of {name} is not (is something detached, or computed "
                                f"without autograd?).")
    return None


@builds("WindowAttention", "helpers.windows:WindowAttention")
def check_window_attention(cls):
    """Exercise: ``class MyWindowAttention(nn.Module)``, built as ``cls(d_model, num_heads,
    window_size, shift=0)``, with parameters ``qkv`` (C -> 3C), ``proj`` (C -> C) and
    ``relative_position_bias_table`` ((2M-1)², H), and ``forward(x, need_weights=False)``:
    x (B, G_h, G_w, C), G_h and G_w multiples of M -> (out (B, G_h, G_w, C), weights
    (B, n_w, H, M·M, M·M)).

    Compared with the course's WindowAttention (same weights), forward and backward, shift 0
    and M/2, on a square and a wide map and on a map that is a single window."""
    from helpers.windows import WindowAttention

    C, H = 8, 2
    cases = [(8, 8, 4, 0), (8, 8, 4, 2), (8, 12, 4, 2), (4, 4, 4, 2)]  # (G_h, G_w, M, shift)
    g = torch.Generator().manual_seed(3)
    for G_h, G_w, M, s in cases:
        mine, error = _module_or_error(cls, lambda c: c(C, H, M, s))
        if error is not None:
            return error
        reference = _perturbed(lambda: WindowAttention(C, H, M, s), seed=4)
        error = _state_dict_error(mine, reference, "window attention")
        if error is not None:
            return error
        mine.load_state_dict(reference.state_dict())
        mine.eval()
        x = torch.randn(2, G_h, G_w, C, generator=g)
        case = f"on a {G_h}x{G_w} map, M = {M}, shift {s}"

        def variant(x, reference=reference):
            return {m: _window_attention_variant(reference, x, **kw) for m, kw in WINDOW_MISTAKES.items()}
        error = _compare_module(mine, reference, x, case, {"need_weights": True}, variant)
        if error is not None:
            return error
    return Check(True, "Your window attention matches the course's (and so torchvision's), "
                       "forward and backward, with and without the shift.")


def _patch_merging_variants(ref, x):
    def merge(parts):
        return ref.reduction(ref.norm(torch.cat(parts, dim=-1)))
    tl, bl, tr, br = x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]
    B, G_h, G_w, C = x.shape
    return {
        "You concatenated the 2x2 block in reading order (top-left, top-right, bottom-left, "
        "bottom-right); torchvision and the paper's code use top-left, bottom-left, top-right, "
        "bottom-right: x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]. "
        "With another order the weights of a trained Swin read the wrong patches.":
            merge([tl, tr, bl, br]),
        "You reshaped (B, G_h, G_w, C) straight to (B, G_h/2, G_w/2, 4C): that joins 4 "
        "neighbours along a row, not a 2x2 block. Take the four strided slices and concatenate "
        "them.":
            ref.reduction(ref.norm(x.reshape(B, G_h // 2, G_w // 2, 4 * C))),
        "You forgot the LayerNorm before the reduction.": ref.reduction(torch.cat([tl, bl, tr, br], -1)),
    }


@builds("PatchMerging", "helpers.windows:PatchMerging")
def check_patch_merging(cls):
    """Exercise: ``class MyPatchMerging(nn.Module)``, built as ``cls(d_model)``, with ``norm``
    (LayerNorm(4C)) and ``reduction`` (Linear(4C, 2C), no bias): x (B, G_h, G_w, C) ->
    (B, G_h/2, G_w/2, 2C). Compared with the course's PatchMerging, forward and backward."""
    from helpers.windows import PatchMerging
    C = 6
    mine, error = _module_or_error(cls, lambda c: c(C))
    if error is not None:
        return error
    reference = _perturbed(lambda: PatchMerging(C), seed=5)
    error = _state_dict_error(mine, reference, "patch merging")
    if error is not None:
        return error
    mine.load_state_dict(reference.state_dict())
    mine.eval()
    x = torch.randn(2, 4, 6, C, generator=torch.Generator().manual_seed(6))  # G_h != G_w on purpose
    error = _compare_module(mine, reference, x, "on a 4x6 map", {},
                            lambda x: _patch_merging_variants(reference, x))
    if error is not None:
        return error
    return Check(True, "Your patch merging matches the course's (and torchvision's): "
                       "(B, G_h, G_w, C) -> (B, G_h/2, G_w/2, 2C).")


def _swin_block_variants(ref, x, unshifted):
    def attn(module, z):
        return module(z)[0]
    n1, n2, a, mlp = ref.norm1, ref.norm2, ref.attn, ref.mlp
    post = n1(x + attn(a, x))
    return {
        "Post-norm: you normalised after the residual. Swin is pre-norm: x = x + attn(norm1(x)), "
        "then x = x + mlp(norm2(x)).": n2(post + mlp(post)),
        "The residual around the attention is missing: x = x + attn(norm1(x))[0].":
            attn(a, n1(x)) + mlp(n2(attn(a, n1(x)))),
        "The residual around the MLP is missing: x = x + mlp(norm2(x)).":
            mlp(n2(x + attn(a, n1(x)))),
        "You used norm1 twice: the MLP has its own LayerNorm, norm2.":
            (lambda y: y + mlp(n1(y)))(x + attn(a, n1(x))),
        "The shift is lost: pass shift to your WindowAttention, so that every second block "
        "shifts its windows.":
            (lambda y: y + mlp(n2(y)))(x + attn(unshifted, n1(x))),
    }


@builds("SwinBlock", "helpers.windows:SwinBlock")
def check_swin_block(cls):
    """Exercise: ``class MySwinBlock(nn.Module)``, built as ``cls(d_model, num_heads,
    window_size, shift=0, d_ff=None)`` (d_ff None: 2·d_model), with ``norm1``, ``attn`` (a
    WindowAttention), ``norm2`` and ``mlp`` (helpers' MLP), and ``forward(x,
    need_weights=False)`` -> (x (B, G, G, C), the attention's weights). Compared with the
    course's SwinBlock (same weights), forward and backward, shift 0 and M/2."""
    from helpers.windows import SwinBlock, WindowAttention
    C, H, M = 8, 2, 4
    g = torch.Generator().manual_seed(7)
    for s in (0, 2):
        mine, error = _module_or_error(cls, lambda c: c(C, H, M, s, 3 * C))
        if error is not None:
            return error
        reference = _perturbed(lambda: SwinBlock(C, H, M, s, 3 * C), seed=8)
        error = _state_dict_error(mine, reference, "Swin block")
        if error is not None:
            return error
        mine.load_state_dict(reference.state_dict())
        mine.eval()
        unshifted = WindowAttention(C, H, M, 0)
        unshifted.load_state_dict(reference.attn.state_dict())
        x = torch.randn(2, 8, 8, C, generator=g)
        error = _compare_module(mine, reference, x, f"with shift {s}", {"need_weights": True},
                                lambda x: _swin_block_variants(reference, x, unshifted))
        if error is not None:
            return error
    return Check(True, "Your Swin block matches the course's, forward and backward, with "
                       "and without the shift: pre-norm, two residuals.")


# -- the whole model: MySwin (the piece "Swin") -------------------------------------------
def _swin_config():
    from helpers.windows import SwinConfig
    # a 8x8 grid of patches in stage 1 and 4x4 in stage 2, both larger than M = 2, so that
    # every shifted block shifts; depths (3, 2) so that a shift counted across stages shows
    return SwinConfig(image_size=16, patch_size=2, channels=1, num_classes=3, d_model=8,
                      depths=(3, 2), num_heads=(2, 2), window_size=2, mlp_ratio=2)


def _swin_variants(ref, images):
    """The usual mistakes of assembling a Swin, as outputs of ``ref``'s weights."""
    import dataclasses

    from helpers.vit import patchify
    from helpers.windows import Swin
    c = ref.config

    def forward(model, patch_norm=True, final_norm=True, pool="mean"):
        side = c.image_size // c.patch_size
        x = model.patch_embed(patchify(images, c.patch_size))
        x = (model.patch_norm(x) if patch_norm else x).view(len(images), side, side, -1)
        for s, blocks in enumerate(model.stages):
            for block in blocks:
                x = block(x)[0]
            if s < len(model.merges):
                x = model.merges[s](x)
        x = model.norm(x) if final_norm else x
        return model.head(x.mean(dim=(1, 2)) if pool == "mean" else x[:, 0, 0])

    def rebuilt(shifts_of_stage):
        other = Swin(dataclasses.replace(c, shifted=False))
        other.load_state_dict(ref.state_dict())
        for blocks, shifts in zip(other.stages, shifts_of_stage):
            for block, shift in zip(blocks, shifts):
                block.attn.shift = (shift, shift)
        return other.eval()

    half, counted = c.window_size // 2, 0
    across = []  # the shifts if j counted the blocks of all stages together
    for depth in c.depths:
        across.append([((counted + j) % 2) * half for j in range(depth)])
        counted += depth
    return {
        "No block shifts its windows: block j of each stage shifts by (j % 2) * (M // 2), so "
        "that windows talk to each other.": rebuilt([[0] * d for d in c.depths])(images)[0],
        "Every block shifts: only every second block does (shift 0, then M // 2, then 0...).":
            rebuilt([[half] * d for d in c.depths])(images)[0],
        "Your shifts run on across the stages: count the blocks from 0 again in each stage "
        "(block j of a stage shifts by (j % 2) * (M // 2)).": rebuilt(across)(images)[0],
        "You made patch_norm but did not use it: normalise the embedded patches before the "
        "first stage.": forward(ref, patch_norm=False),
        "You made the final norm but did not use it: apply self.norm before the mean over "
        "patches.": forward(ref, final_norm=False),
        "You read the first patch: Swin has no class token; take the mean over all the "
        "patches of the last map, x.mean(dim=(1, 2)).": forward(ref, pool="first"),
    }


def _swin_state_error(mine, reference):
    """A Check naming the missing, unexpected and misshaped parameters, or None."""
    have = {n: tuple(t.shape) for n, t in mine.state_dict().items()}
    want = {n: tuple(t.shape) for n, t in reference.state_dict().items()}
    if have == want:
        return None
    if not have:
        return Check(False, "Not done yet: your Swin has no parameters.")
    missing, extra = sorted(set(want) - set(have)), sorted(set(have) - set(want))
    misshaped = [f"{n} {have[n]} (expected {want[n]})" for n in want
                 if n in have and have[n] != want[n]]
    parts = [f"{label}: {', '.join(names[:4])}{' ...' if len(names) > 4 else ''}"
             for label, names in (("missing", missing), ("unexpected", extra),
                                  ("misshaped", misshaped)) if names]
    hint = ""
    if any(n.startswith(f"merges.{len(reference.merges)}.") for n in extra):
        hint = " Patch merging goes between the stages, not after the last one."
    elif misshaped:
        hint = " After each patch merging the width doubles: d = 2 * d."
    return Check(False, f"Your Swin's parameters differ from the course's ({'; '.join(parts)})."
                        f" Use the names patch_embed, patch_norm, stages (a ModuleList of "
                        f"ModuleLists of blocks), merges, norm and head.{hint}")


@builds("Swin", "helpers.windows:Swin")
def check_swin(cls):
    """Exercise: ``class MySwin(nn.Module)``, built as ``cls(config, block=..., merging=...)``
    from a SwinConfig and the classes of the blocks and of patch merging, with
    ``patch_embed``, ``patch_norm``, ``stages``, ``merges``, ``norm`` and ``head`` (the names
    of helpers.windows.Swin), and ``forward(images, need_weights=False)`` -> (logits
    (B, classes), the blocks' weights or None). Compared with the course's Swin on the same
    weights (built from the course's SwinBlock and PatchMerging), forward and backward."""
    from helpers.windows import PatchMerging, Swin, SwinBlock
    config = _swin_config()
    mine, error = _module_or_error(cls, lambda c: c(config, block=SwinBlock,
                                                    merging=PatchMerging))
    if error is not None:
        return error
    reference = _perturbed(lambda: Swin(config), seed=10)
    error = _swin_state_error(mine, reference)
    if error is not None:
        return error
    mine.load_state_dict(reference.state_dict())
    mine.eval()
    images = torch.randn(2, 1, 16, 16, generator=torch.Generator().manual_seed(11))
    got, error = _call(mine, images, "on 16x16 images")
    if error is not None:
        return error
    if not (isinstance(got, tuple) and len(got) == 2):
        return Check(False, "forward must return a pair (logits, weights), as the course's "
                            "models do (weights None unless need_weights=True).")
    expected = reference(images)[0]
    with torch.no_grad():
        result = _diagnose(got, expected, _swin_variants(reference, images), "")
    if not result:
        return result
    grad = torch.randn(expected.shape, generator=torch.Generator().manual_seed(12))
    (got[0] * grad).sum().backward()
    (expected * grad).sum().backward()
    mine_params = dict(mine.named_parameters())
    for name, p in reference.named_parameters():
        if mine_params[name].grad is None or not torch.allclose(mine_params[name].grad,
                                                                p.grad, atol=1e-5):
            return Check(False, f"The logits are right, but the gradient of {name} is not "
                                "(is something detached?).")
    _, weights = mine(images, need_weights=True)
    blocks = sum(config.depths)
    if not (isinstance(weights, list) and len(weights) == blocks):
        return Check(False, f"With need_weights=True, return the list of every block's "
                            f"weights ({blocks} blocks), as the course's Swin does.")
    return Check(True, "Your Swin matches the course's, forward and backward: patch "
                       "embedding, stages of alternately shifted blocks, merging between "
                       "them, the final norm and the mean over patches.")
