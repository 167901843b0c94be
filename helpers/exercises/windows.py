"""Exercise checks of Notebook 10, windowed attention and shifted windows (Swin)."""
import torch

from helpers._checks import shape_str
from helpers.exercises._common import Check, _diagnose


def check_window_partition(window_partition):
    """Exercise: ``window_partition(x, M)``, (B, H, W, C) -> (B·nW, M·M, C), windows in
    reading order, the tokens of each window in reading order."""
    M = 2
    x = torch.randn(2, 4, 6, 3, generator=torch.Generator().manual_seed(0))  # H != W on purpose
    B, H, W, C = x.shape
    nW = (H // M) * (W // M)
    grid = x.view(B, H // M, M, W // M, M, C)  # (B, rows, M, cols, M, C)
    right = grid.permute(0, 1, 3, 2, 4, 5).reshape(B * nW, M * M, C)
    mistakes = {
        "Your windows cut across rows: a view (or reshape) of (B, H, W, C) straight to "
        "(B·nW, M·M, C) takes M·M consecutive tokens of memory, which run along one row of "
        "the map. Split H and W first, view(B, H/M, M, W/M, M, C), then permute the two "
        "window axes in front: permute(0, 1, 3, 2, 4, 5).":
            x.reshape(B * nW, M * M, C),
        "Your windows come column by column (top to bottom, then left to right); number them in "
        "reading order: rows of windows first, then columns.":
            grid.permute(0, 3, 1, 2, 4, 5).reshape(B * nW, M * M, C),
        "The tokens inside each window are transposed (column by column); keep the row within "
        "the window before the column within the window: permute(0, 1, 3, 2, 4, 5).":
            grid.permute(0, 1, 3, 4, 2, 5).reshape(B * nW, M * M, C),
        f"You kept the batch and the windows apart, (B, nW, M·M, C) = (2, {nW}, {M * M}, {C}); "
        "merge them into one batch of windows, B·nW, so that attention runs on all at once.":
            right.view(B, nW, M * M, C),
        "You returned (B·nW, C, M·M): the tokens must be the second dimension, features last.":
            right.transpose(1, 2),
    }
    got = window_partition(x.clone(), M)
    if isinstance(got, torch.Tensor) and got.numel() == right.numel() and got.dim() == 3 \
            and got.shape[-1] == C and got.shape != right.shape:
        return Check(False, f"Wrong window size: {M}x{M} windows hold M·M = {M * M} tokens, so "
                            f"a {H}x{W} map gives {nW} windows per image, {B * nW} in all; you "
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


def check_window_cost(answer, H, W, M):
    """Exercise: ``answer = (global_weights, window_weights)``: the attention weights of one
    head for one image, global attention over H·W patches and M×M windows."""
    if answer is None:
        return Check(False, "Not done yet: set answer to (global_weights, window_weights), "
                            "two ints.")
    if not (isinstance(answer, tuple) and len(answer) == 2
            and all(isinstance(a, int) and not isinstance(a, bool) for a in answer)):
        return Check(False, f"Expected a tuple of two ints, got {answer!r}.")
    T, nW = H * W, (H // M) * (W // M)
    glob, windowed = answer
    if glob != T * T:
        hints = {T: f"That counts tokens: {H}·{W} = {T}. Every token has a weight for every "
                    f"token: T² = {T}².",
                 2 * T: "Each of the T queries has T weights: T², not 2T.",
                 T * (T - 1): "A token attends to itself too: T², not T(T - 1)."}
        return Check(False, hints.get(glob, f"Global: not {glob:,}. T = H·W tokens, a T×T "
                                            "matrix."))
    right = M * M * H * W
    if windowed == right:
        return Check(True, f"global {glob:,}; windows {nW} × (M·M)² = {nW} × {M ** 4:,} = "
                           f"{right:,} = M²·H·W: {glob // right}× fewer, and linear in H·W.")
    hints = {M ** 4: f"That is one window, (M·M)² = {M ** 4:,}; there are (H/M)·(W/M) = {nW} "
                     "windows.",
             M * M * nW: f"That counts tokens (nW windows of M·M); each window has an "
                         f"(M·M)×(M·M) matrix.",
             M ** 3 * H * W: "Your window count is off: nW = (H/M)·(W/M), not H·W/M.",
             nW * nW * M ** 4: "That is as many weights as global attention: windows only attend "
                               "inside themselves, so there is one (M·M)² block per window, not "
                               "per pair of windows.",
             M ** 2 * nW ** 2: "Each window holds M·M tokens, so its matrix has (M·M)² = M⁴ "
                               "entries; there are nW windows: nW·M⁴."}
    return Check(False, hints.get(windowed, f"Windows: not {windowed:,}. Count the windows, "
                                            "nW = (H/M)·(W/M), and the weights of one window, "
                                            "(M·M)²."))
