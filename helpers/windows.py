"""Windowed attention and shifted windows: the Swin Transformer (Liu et al., 2021).

Used by notebook 12. Letters as on the course's card (helpers/__init__.py): a feature map
of G×G patches, each a vector of width C, is stored channels last, (B, G, G, C), as in the
paper and in torchvision. It is cut into non-overlapping M×M windows and attention runs
inside each window only: one layer computes M²·G² weights instead of G⁴, linear in the
image's area for a fixed M. H is the heads, D = C/H the head width, and n_w = (G/M)² the
number of windows of one image, so the windows of a batch are (B·n_w, M·M, C).

The functions also take a map that is not square: its rows and columns are G_h and G_w,
(B, G_h, G_w, C), and then n_w = (G_h/M)·(G_w/M). (The paper writes h×w patches; torchvision
H×W. Here H is the heads only.)

    windows = window_partition(x, M)                   # (B·n_w, M·M, C)
    x       = window_reverse(windows, M, G, G)         # (B, G, G, C)
    labels  = shift_region_labels(G, G, M, shift)      # (G, G): which piece of the roll
    mask    = shifted_window_mask(G, G, M, shift)      # (n_w, M·M, M·M), True = may attend
    index   = relative_position_index(M)               # (M·M, M·M) into a (2M-1)² table
    out, w  = WindowAttention(C, H, M, shift)(x)       # W-MSA (shift 0), SW-MSA (shift M/2)
    y       = PatchMerging(C)(x)                       # (B, G/2, G/2, 2C)
    logits, w = Swin(SwinConfig())(images)             # a tiny Swin classifier

The parameter names are torchvision's (``qkv``, ``proj``, ``relative_position_bias_table``,
``reduction``, ``norm``), and ``torchvision_window_attention`` / ``torchvision_patch_merging``
build torchvision's modules with our weights, so that the two can be compared.
"""
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from helpers._checks import check_positive_int, check_same_dtype, check_tensor, shape_str
from helpers.attention import scaled_dot_product_attention
from helpers.encoder import MLP
from helpers.vit import _import_torchvision_models, check_images, patchify


# --------------------------------------------------------------------------- checks

def check_feature_map(name: str, x, channels: int | None = None, *, floating: bool = True) -> None:
    """``x`` must be a (B, G_h, G_w, C) tensor, channels last; C checked if given."""
    check_tensor(name, x, floating=floating)
    if x.dim() != 4:
        hint = f"; for one map use {name}[None]" if x.dim() == 3 else ""
        raise ValueError(f"{name} must be a feature map (B, G_h, G_w, C), channels last, got "
                         f"{shape_str(x.shape)}{hint}")
    if channels is not None and x.shape[-1] != channels:
        raise ValueError(f"{name} must be (B, G_h, G_w, {channels}), got {shape_str(x.shape)}")


def _pair(shift, window_size: int) -> tuple[int, int]:
    """A shift as (rows, cols); each 0 <= shift < M."""
    pair = (shift, shift) if isinstance(shift, int) and not isinstance(shift, bool) else shift
    if not (isinstance(pair, tuple) and len(pair) == 2
            and all(isinstance(s, int) and not isinstance(s, bool) for s in pair)):
        raise ValueError(f"shift must be an int or a pair of ints, got {shift!r}")
    if not all(0 <= s < window_size for s in pair):
        raise ValueError(f"shift must be between 0 and M - 1 = {window_size - 1} "
                         f"(the paper uses M // 2 = {window_size // 2}), got {shift!r}")
    return pair


def _check_grid(G_h: int, G_w: int, M: int, *, divisible: bool = True) -> None:
    check_positive_int("window_size", M)
    if M > G_h or M > G_w:
        raise ValueError(f"the window side M={M} is larger than the {G_h}x{G_w} grid; "
                         f"use a window of at most {min(G_h, G_w)}")
    if divisible and (G_h % M or G_w % M):
        raise ValueError(f"a {G_h}x{G_w} grid is not divisible into {M}x{M} windows "
                         f"(G_h % M = {G_h % M}, G_w % M = {G_w % M}); pad it to a multiple of {M}")


# --------------------------------------------------------------------------- windows

def window_partition(x, window_size: int):
    """Cut a feature map into non-overlapping M×M windows, each a sequence of M·M tokens.

    x (B, G_h, G_w, C) -> (B·n_w, M·M, C), n_w = (G_h/M)·(G_w/M) windows per image, in
    reading order (left to right, then top to bottom), tokens inside a window in reading
    order too. Any dtype (it only moves numbers). Example: a 4×4 grid with M = 2 gives 4
    windows; window 0 holds the tokens at (0, 0), (0, 1), (1, 0), (1, 1).
    """
    check_feature_map("x", x, floating=False)
    B, G_h, G_w, C = x.shape
    M = window_size
    _check_grid(G_h, G_w, M)
    x = x.view(B, G_h // M, M, G_w // M, M, C)  # (B, rows of windows, M, cols of windows, M, C)
    x = x.permute(0, 1, 3, 2, 4, 5)  # (B, G_h/M, G_w/M, M, M, C): the two window axes first
    return x.reshape(B * (G_h // M) * (G_w // M), M * M, C)  # (B·n_w, M·M, C)


def window_reverse(windows, window_size: int, G_h: int, G_w: int):
    """The inverse of ``window_partition``: (B·n_w, M·M, C) -> (B, G_h, G_w, C), for a map
    of G_h rows and G_w columns of patches (G, G for a square one)."""
    check_tensor("windows", windows, floating=False)
    M = window_size
    _check_grid(G_h, G_w, M)
    n_w = (G_h // M) * (G_w // M)
    if windows.dim() != 3 or windows.shape[1] != M * M or windows.shape[0] % n_w:
        raise ValueError(f"windows must be (B·n_w, M·M, C) with n_w = {n_w} windows of "
                         f"M·M = {M * M} tokens for a {G_h}x{G_w} grid, got {shape_str(windows.shape)}")
    B, C = windows.shape[0] // n_w, windows.shape[-1]
    x = windows.view(B, G_h // M, G_w // M, M, M, C)  # (B, G_h/M, G_w/M, M, M, C)
    x = x.permute(0, 1, 3, 2, 4, 5)  # (B, G_h/M, M, G_w/M, M, C)
    return x.reshape(B, G_h, G_w, C)  # (B, G_h, G_w, C)


def shift_region_labels(G_h: int, G_w: int, window_size: int, shift):
    """After the cyclic shift, which piece of the map each position holds: (G_h, G_w) ints.

    Rolling the map up and left by ``shift`` (torch.roll(x, (-s, -s))) moves the top rows
    and left columns to the bottom and right. Positions are labelled by the band they sit
    in, rows [0, G_h-M), [G_h-M, G_h-s), [G_h-s, G_h), and the same for columns: label =
    3·row band + column band (9 labels; with shift 0 all are 0). Tokens of one window with
    different labels were not neighbours before the roll, and must not attend to each other.
    """
    M = window_size
    _check_grid(G_h, G_w, M)
    s_rows, s_cols = _pair(shift, M)
    rows, cols = torch.arange(G_h), torch.arange(G_w)
    row_band = ((rows >= G_h - M).long() + (rows >= G_h - s_rows).long() if s_rows
                else torch.zeros(G_h, dtype=torch.long))
    col_band = ((cols >= G_w - M).long() + (cols >= G_w - s_cols).long() if s_cols
                else torch.zeros(G_w, dtype=torch.long))
    return 3 * row_band[:, None] + col_band[None, :]  # (G_h, G_w)


def shifted_window_mask(G_h: int, G_w: int, window_size: int, shift):
    """The attention mask of shifted windows: (n_w, M·M, M·M), True = may attend.

    Inside each window of the rolled map, a token may attend to a token with the same
    region label (``shift_region_labels``) and to no other. With shift 0 it is all True.
    (torchvision adds -100 to blocked scores instead of -inf; the softmax is the same to
    float precision.)
    """
    labels = shift_region_labels(G_h, G_w, window_size, shift)  # (G_h, G_w)
    windows = window_partition(labels[None, :, :, None], window_size)[..., 0]  # (n_w, M·M)
    return windows[:, :, None] == windows[:, None, :]  # (n_w, M·M, M·M)


def relative_position_index(window_size: int):
    """For every pair of tokens in an M×M window, the row of their offset in the bias table.

    (M·M, M·M) ints in 0 .. (2M-1)²-1: the offset (dy, dx) of query i from key j, each in
    -(M-1)..M-1, becomes (dy + M - 1)·(2M - 1) + (dx + M - 1). Pairs with the same offset
    share one learned bias per head. The layout is torchvision's and the paper's code.
    """
    check_positive_int("window_size", window_size)
    M = window_size
    rows, cols = torch.meshgrid(torch.arange(M), torch.arange(M), indexing="ij")
    coords = torch.stack([rows.flatten(), cols.flatten()])  # (2, M·M)
    offset = coords[:, :, None] - coords[:, None, :]  # (2, M·M, M·M): query minus key
    return (offset[0] + M - 1) * (2 * M - 1) + (offset[1] + M - 1)  # (M·M, M·M)


def attention_weight_counts(G_h: int, G_w: int, window_size: int) -> tuple[int, int]:
    """Attention weights of one head for one image of G_h×G_w patches: (global, windowed).

    Global attention over T = G_h·G_w tokens (G² for a square map): T². Windows: n_w =
    (G_h/M)·(G_w/M) windows of M·M tokens, each an (M·M)² matrix: M⁴·n_w = M²·G_h·G_w.
    Example: 56×56 patches, M = 7 (Swin-T's first stage): 9,834,496 against 153,664, 64
    times fewer.
    """
    _check_grid(G_h, G_w, window_size)
    return (G_h * G_w) ** 2, window_size ** 2 * G_h * G_w


# --------------------------------------------------------------------------- modules

class WindowAttention(nn.Module):
    """Multi-head self-attention inside M×M windows (W-MSA), shifted by ``shift`` (SW-MSA).

    x (B, G, G, C) -> out (B, G, G, C), and the weights (B, n_w, H, M·M, M·M) if
    need_weights, else None (PyTorch's fused kernel, for training). A grid that M does not
    divide is padded with zeros at the bottom and right, as in torchvision; the padding
    takes part in attention and is cut off again. A shift is skipped along a side that
    is one window long (nothing to shift), as in torchvision.

    scores = q kᵀ / √D + B_rel, with B_rel from a learned (2M-1)² × H table (the relative
    position bias); the shifted-window mask blocks pairs from different pieces of the roll.
    """

    def __init__(self, d_model: int, num_heads: int, window_size: int, shift=0):
        super().__init__()
        check_positive_int("num_heads", num_heads)
        check_positive_int("window_size", window_size)
        if not isinstance(d_model, int) or d_model < 1 or d_model % num_heads:
            raise ValueError(f"d_model={d_model!r} must divide by num_heads={num_heads}")
        self.d_model, self.num_heads, self.head_dim = d_model, num_heads, d_model // num_heads
        self.window_size, self.shift = window_size, _pair(shift, window_size)
        self.qkv = nn.Linear(d_model, 3 * d_model)  # W_Q, W_K, W_V of all heads
        self.proj = nn.Linear(d_model, d_model)  # W_O
        M = window_size
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * M - 1) ** 2, num_heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        self.register_buffer("relative_position_index", relative_position_index(M), persistent=False)
        self.attn_weights = None

    def relative_position_bias(self):
        """The bias added to every window's scores: (H, M·M, M·M)."""
        M2 = self.window_size ** 2
        bias = self.relative_position_bias_table[self.relative_position_index.flatten()]
        return bias.view(M2, M2, self.num_heads).permute(2, 0, 1)  # (H, M·M, M·M)

    def forward(self, x, need_weights=False):
        check_feature_map("x", x, self.d_model)
        check_same_dtype("x", x, self)
        B, G_h, G_w, C = x.shape
        M, H, D = self.window_size, self.num_heads, self.head_dim
        _check_grid(G_h, G_w, M, divisible=False)
        x = F.pad(x, (0, 0, 0, (-G_w) % M, 0, (-G_h) % M))  # zeros below and right
        rows, cols = x.shape[1:3]  # (B, rows, cols, C): G_h and G_w rounded up to multiples of M
        shift = (self.shift[0] if rows > M else 0, self.shift[1] if cols > M else 0)
        if any(shift):
            x = torch.roll(x, shifts=(-shift[0], -shift[1]), dims=(1, 2))  # up and left
        windows = window_partition(x, M)  # (B·n_w, M·M, C)
        n_w = windows.shape[0] // B
        qkv = self.qkv(windows).view(B, n_w, M * M, 3, H, D)
        q, k, v = qkv.permute(3, 0, 1, 4, 2, 5)  # 3 x (B, n_w, H, M·M, D)
        bias = self.relative_position_bias()  # (H, M·M, M·M)
        mask = shifted_window_mask(rows, cols, M, shift)[:, None] if any(shift) else None  # (n_w, 1, M·M, M·M)
        if need_weights:  # the formula step by step, keeping the weights
            out, weights = scaled_dot_product_attention(q, k, v, mask, bias)  # (B, n_w, H, M·M, D)
        else:  # the same maths in PyTorch's fused kernel; bias and mask as one float mask
            attn_mask = bias.to(q.dtype)
            if mask is not None:
                attn_mask = attn_mask.masked_fill(~mask, float("-inf"))  # (n_w, H, M·M, M·M)
            out, weights = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask), None
        out = out.transpose(2, 3).reshape(B * n_w, M * M, C)  # (B·n_w, M·M, C): heads side by side
        x = window_reverse(self.proj(out), M, rows, cols)  # (B, rows, cols, C)
        if any(shift):
            x = torch.roll(x, shifts=shift, dims=(1, 2))  # back down and right
        self.attn_weights = None if weights is None else weights.detach()
        return x[:, :G_h, :G_w].contiguous(), weights  # (B, G_h, G_w, C): the padding cut off

    def extra_repr(self) -> str:
        return (f"d_model={self.d_model}, num_heads={self.num_heads}, "
                f"window_size={self.window_size}, shift={self.shift}")


class PatchMerging(nn.Module):
    """Halve the grid and double the width, between Swin's stages.

    x (B, G, G, C) -> (B, G/2, G/2, 2C): each 2×2 block of tokens is concatenated
    (4C numbers, in torchvision's order: top-left, bottom-left, top-right, bottom-right),
    normalised, and mapped to 2C by a Linear without bias. A map that is not square,
    (B, G_h, G_w, C), becomes (B, G_h/2, G_w/2, 2C); G_h and G_w must be even (torchvision
    pads an odd side with zeros; we ask for an even one).
    """

    def __init__(self, d_model: int):
        super().__init__()
        check_positive_int("d_model", d_model)
        self.d_model = d_model
        self.norm = nn.LayerNorm(4 * d_model)
        self.reduction = nn.Linear(4 * d_model, 2 * d_model, bias=False)

    def forward(self, x):
        check_feature_map("x", x, self.d_model)
        check_same_dtype("x", x, self)
        B, G_h, G_w, C = x.shape
        if G_h % 2 or G_w % 2:
            raise ValueError(f"patch merging joins 2x2 blocks: the map's sides G_h and G_w "
                             f"must be even, got a {G_h}x{G_w} grid {shape_str(x.shape)}")
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2],
                       x[:, 0::2, 1::2], x[:, 1::2, 1::2]], dim=-1)  # (B, G/2, G/2, 4C)
        return self.reduction(self.norm(x))  # (B, G/2, G/2, 2C)


class SwinBlock(nn.Module):
    """A pre-norm Transformer block whose attention is (shifted-)window attention.

    x (B, G, G, C) -> (B, G, G, C), weights (B, n_w, H, M·M, M·M) or None.
    """

    def __init__(self, d_model: int, num_heads: int, window_size: int, shift=0, d_ff=None):
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.attn = WindowAttention(d_model, num_heads, window_size, shift)
        self.norm2 = nn.LayerNorm(d_model)
        self.mlp = MLP(d_model, d_ff or 2 * d_model)

    def forward(self, x, need_weights=False):
        a, weights = self.attn(self.norm1(x), need_weights=need_weights)
        x = x + a  # (B, G, G, C)
        return x + self.mlp(self.norm2(x)), weights


@dataclass
class SwinConfig:
    """Sizes of a tiny Swin; the defaults suit 8×8 digits on a laptop CPU.

    Stage s has depths[s] blocks on a grid of (image_size / patch_size) / 2^s patches, width
    d_model·2^s and num_heads[s] heads; blocks alternate shift 0 and M // 2 (all 0 if not
    ``shifted``), and patch merging joins the stages.
    """

    image_size: int = 8
    patch_size: int = 1
    channels: int = 1
    num_classes: int = 10
    d_model: int = 32  # width of the first stage (Swin-T: 96)
    depths: tuple = (2, 2)  # blocks per stage (Swin-T: 2, 2, 6, 2)
    num_heads: tuple = (2, 4)  # heads per stage (Swin-T: 3, 6, 12, 24)
    window_size: int = 4  # M (Swin-T: 7)
    mlp_ratio: int = 2  # d_ff = mlp_ratio · width (Swin-T: 4)
    shifted: bool = True  # False: windows only, never shifted


class Swin(nn.Module):
    """A tiny Swin Transformer: patch embedding, stages of window blocks with patch merging
    in between, a final LayerNorm, the mean over patches and a linear head.

    images (B, C_in, R, R) -> logits (B, classes), and a list with every block's weights
    (B, n_w, H, M·M, M·M) if need_weights, else None. No absolute positions: the relative
    position bias inside each window is the only place information.

    ``block`` and ``merging`` are the classes of the blocks and of patch merging (the
    course's by default; notebook 12 passes the learner's): built as ``block(d_model,
    num_heads, window_size, shift, d_ff)`` and ``merging(d_model)``, with the interfaces of
    ``SwinBlock`` and ``PatchMerging``.
    """

    def __init__(self, config: SwinConfig = SwinConfig(), block=None, merging=None):
        super().__init__()
        c = config
        block, merging = block or SwinBlock, merging or PatchMerging
        for name, cls in (("block", block), ("merging", merging)):
            if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
                raise TypeError(f"{name} must be an nn.Module class, got {cls!r}")
        for name in ("image_size", "patch_size", "channels", "num_classes", "d_model",
                     "window_size", "mlp_ratio"):
            check_positive_int(name, getattr(c, name))
        if c.image_size % c.patch_size:
            raise ValueError(f"image_size {c.image_size} is not divisible by patch_size {c.patch_size}")
        if len(c.depths) != len(c.num_heads):
            raise ValueError(f"depths {c.depths} and num_heads {c.num_heads} need one entry per stage")
        self.config = c
        grid, d = c.image_size // c.patch_size, c.d_model
        self.patch_embed = nn.Linear(c.channels * c.patch_size ** 2, d)  # a Conv2d, kernel = stride = P
        self.patch_norm = nn.LayerNorm(d)
        self.stages, self.merges = nn.ModuleList(), nn.ModuleList()
        for s, (depth, heads) in enumerate(zip(c.depths, c.num_heads)):
            if grid < c.window_size:
                raise ValueError(f"stage {s} has a {grid}x{grid} grid, smaller than the window "
                                 f"M={c.window_size}; use fewer stages or a smaller window")
            shifts = [(j % 2) * (c.window_size // 2) if c.shifted else 0 for j in range(depth)]
            self.stages.append(nn.ModuleList(
                block(d, heads, c.window_size, shift, c.mlp_ratio * d) for shift in shifts))
            if s < len(c.depths) - 1:
                if grid % 2:
                    raise ValueError(f"stage {s} has a {grid}x{grid} grid: patch merging needs it even")
                self.merges.append(merging(d))
                grid, d = grid // 2, 2 * d
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, c.num_classes)

    def forward(self, images, need_weights=False):
        c = self.config
        check_images("images", images, c.channels, c.patch_size, c.image_size)
        check_same_dtype("images", images, self)
        B, side = images.shape[0], c.image_size // c.patch_size
        x = self.patch_embed(patchify(images, c.patch_size))  # (B, N, C)
        x = self.patch_norm(x).view(B, side, side, -1)  # (B, G, G, C)
        all_weights = []
        for s, blocks in enumerate(self.stages):
            for block in blocks:
                x, weights = block(x, need_weights=need_weights)  # (B, G, G, C)
                all_weights.append(weights)
            if s < len(self.merges):
                x = self.merges[s](x)  # (B, G/2, G/2, 2C)
        pooled = self.norm(x).mean(dim=(1, 2))  # (B, C)
        return self.head(pooled), (all_weights if need_weights else None)


# --------------------------------------------------------------------------- torchvision

def torchvision_window_attention(ours: WindowAttention):
    """torchvision's ``ShiftedWindowAttention`` with our weights (its forward calls
    ``torchvision.models.swin_transformer.shifted_window_attention``)."""
    if not isinstance(ours, WindowAttention):
        raise TypeError(f"expected a WindowAttention, got {type(ours).__name__}")
    swin = _import_torchvision_models().swin_transformer
    M = ours.window_size
    theirs = swin.ShiftedWindowAttention(ours.d_model, [M, M], list(ours.shift), ours.num_heads)
    with torch.no_grad():
        theirs.qkv.load_state_dict(ours.qkv.state_dict())
        theirs.proj.load_state_dict(ours.proj.state_dict())
        theirs.relative_position_bias_table.copy_(ours.relative_position_bias_table)
    return theirs.eval()


def torchvision_patch_merging(ours: PatchMerging):
    """torchvision's ``PatchMerging`` with our weights."""
    if not isinstance(ours, PatchMerging):
        raise TypeError(f"expected a PatchMerging, got {type(ours).__name__}")
    swin = _import_torchvision_models().swin_transformer
    theirs = swin.PatchMerging(ours.d_model)
    with torch.no_grad():
        theirs.norm.load_state_dict(ours.norm.state_dict())
        theirs.reduction.load_state_dict(ours.reduction.state_dict())
    return theirs.eval()


# --------------------------------------------------------------------------- receptive field

def window_connections(grid: int, window_size: int, shift=0):
    """Which tokens one window-attention layer lets exchange information: (N, N) bool,
    N = G² with G = grid, True where token i may attend to token j (same window, same region)."""
    check_positive_int("grid", grid)
    M = window_size
    _check_grid(grid, grid, M)
    shift = _pair(shift, M)
    position = torch.arange(grid * grid).view(1, grid, grid, 1)
    rolled = torch.roll(position, shifts=(-shift[0], -shift[1]), dims=(1, 2))
    members = window_partition(rolled, M)[..., 0]  # (n_w, M·M): original index of each token
    allowed = shifted_window_mask(grid, grid, M, shift)  # (n_w, M·M, M·M)
    connected = torch.zeros(grid * grid, grid * grid, dtype=torch.bool)
    for window, ok in zip(members, allowed):
        connected[window[:, None], window[None, :]] = ok
    return connected


def receptive_field(grid: int, window_size: int, num_blocks: int, shifted: bool = True):
    """Which input patches each output patch can depend on, block after block.

    Returns (num_blocks + 1, N, N) bool with N = G², G = grid: entry [b, i, j] is True when,
    after b blocks of window attention (alternating shift 0 and M // 2 if ``shifted``),
    patch i's output can depend on patch j's input. Block 0 is the identity.
    """
    check_positive_int("num_blocks", num_blocks, allow_zero=True)
    N = grid * grid
    fields = [torch.eye(N, dtype=torch.bool)]
    for b in range(num_blocks):
        shift = (window_size // 2) if shifted and b % 2 else 0
        step = window_connections(grid, window_size, shift).float()
        fields.append((step @ fields[-1].float()) > 0)  # i reaches k, k reached j before
    return torch.stack(fields)


# --------------------------------------------------------------------------- a task

MARKS = torch.tensor([[[1, 1], [0, 0]], [[1, 0], [1, 0]], [[1, 0], [0, 1]],
                      [[0, 1], [1, 0]], [[0, 0], [1, 1]], [[0, 1], [0, 1]]], dtype=torch.float32)


def two_corners_task(n: int, grid: int = 4, corner: int = 2, num_marks: int = 2, seed: int = 0):
    """Images whose label needs two far-apart patches: do the two marks match?

    Each image is (1, 2·grid, 2·grid) pixels: a grid×grid map of 2×2-pixel patches, all
    zero except two marks. One mark sits in a random patch of the top-left corner×corner
    block, the other in a random patch of the bottom-right one; each is one of
    ``num_marks`` 2×2 patterns (two pixels on). Label 1 (half of the images) when the two
    patterns are the same, else 0. Its own generator: the global random stream is untouched.
    Returns images (n, 1, 2·grid, 2·grid) and labels (n,).
    """
    for name, value in (("n", n), ("grid", grid), ("corner", corner)):
        check_positive_int(name, value)
    if 2 * corner > grid or not 2 <= num_marks <= len(MARKS):
        raise ValueError(f"need 2·corner <= grid (the corners must not overlap) and "
                         f"2 <= num_marks <= {len(MARKS)}, got grid={grid}, corner={corner}, "
                         f"num_marks={num_marks}")
    g = torch.Generator().manual_seed(seed)
    first = torch.randint(0, num_marks, (n,), generator=g)
    same = torch.rand(n, generator=g) < 0.5
    other = (first + torch.randint(1, num_marks, (n,), generator=g)) % num_marks  # never first
    second = torch.where(same, first, other)
    where = torch.randint(0, corner, (4, n), generator=g)  # rows and columns of the two marks
    patches = torch.zeros(n, grid, grid, 2, 2)  # (n, rows, cols, 2, 2)
    everyone = torch.arange(n)
    patches[everyone, where[0], where[1]] = MARKS[first]
    patches[everyone, grid - corner + where[2], grid - corner + where[3]] = MARKS[second]
    images = patches.permute(0, 1, 3, 2, 4).reshape(n, 1, 2 * grid, 2 * grid)  # (n, 1, 2g, 2g)
    return images, same.long()
