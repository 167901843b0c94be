"""Draw the course's architecture diagrams into fig/*.svg with matplotlib.

    .venv/bin/python tools/draw_diagrams.py            # every diagram
    .venv/bin/python tools/draw_diagrams.py gpt kv_cache --png /tmp/diagrams

Every label uses the names of the code in ``helpers`` and the package's shape letters
(B, T, S, C, H, D, V), so a learner can go from a box to the line that implements it.
The style follows the hand-drawn fig/qkv_projections.svg and fig/soft_lookup.svg: the
viridis colours (readable for colour-blind viewers; every colour also has a text label),
queries red, keys teal, values purple, #333 arrows, a grey italic caption.
Every text reaches the WCAG AA contrast of 4.5:1 against what is behind it
(tests/test_accessibility.py measures the SVGs): a label on a coloured fill is black or
white, whichever stands out more (``label_colour``), a red label on the page is the darker
QUERY_TEXT, and the lightest grey for text is FAINT.

One drawing unit is one SVG pixel: a figure W units wide is written W px wide, and text
is never smaller than 12 px, so it stays at least 12 px tall when the ~760 px wide
diagram is shown 800 px wide. Text is written as SVG text (``svg.fonttype: none``), so it
stays sharp when projected. The output is deterministic (a fixed hash salt for the SVG
ids, no date): running this again gives byte-identical files.
"""
import argparse
import re
import sys
from pathlib import Path

import matplotlib

matplotlib.use("svg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch, Rectangle  # noqa: E402
from matplotlib.path import Path as MplPath  # noqa: E402

FIG = Path(__file__).resolve().parent.parent / "fig"

# The colours of the existing figures (viridis) and light tints of them for boxes.
QUERY, KEY, VALUE = "#e8112d", "#21918c", "#440154"
DARK, YELLOW, INK, GREY = "#3b528b", "#fde725", "#333333", "#555555"
ATTN_FILL = "#c8e6e3"  # attention sub-layers (a tint of the key teal)
CROSS_FILL = "#e2d4ec"  # cross-attention (a tint of the value purple)
NORM_FILL = "#fff4b3"  # LayerNorm (a tint of the yellow)
MLP_FILL = "#d3dbef"  # MLP (a tint of the dark blue)
PLAIN_FILL = "#f2f2f2"  # everything else, as in qkv_projections.svg
STACK_FILL = "#fafafa"
HEAD_COLOURS = ["#3b528b", "#21918c", "#5ec962", "#fde725"]  # viridis, one per head
QUERY_TEXT = "#c8102e"  # the query red darkened for text on white: 5.9:1 (QUERY: 4.6:1)
FAINT = "#707070"  # the lightest grey for text on white: 4.9:1 (#999999 was 2.85:1)

SANS = ["Helvetica", "Arial", "DejaVu Sans", "sans-serif"]
MONO = ["DejaVu Sans Mono", "Menlo", "Consolas", "monospace"]
MIN_FONT = 12  # px; checked for every text in ``save``

TITLES = {  # each SVG's <title>: what a screen reader says, the tooltip
    "multihead_split": ("Multi-head attention splits q, k, v into H heads of width "
                        "D, attends in each, and merges them"),
    "pre_post_norm": ("Post-norm normalises after each residual add; pre-norm "
                      "normalises only the branch"),
    "transformer": ("The encoder-decoder Transformer with the helpers class that "
                    "implements each part"),
    "decoder_block": ("The decoder block: masked self-attention, cross-attention "
                      "to the encoder memory, MLP"),
    "gpt": ("GPT: embeddings, N pre-norm blocks of causal self-attention "
            "and MLP, final LayerNorm, tied unembedding"),
    "kv_cache": "One generation step with and without a key/value cache",
}


def setup():
    plt.rcParams.update({
        "svg.fonttype": "none",  # text stays text: sharp when projected, searchable
        "svg.hashsalt": "course",  # fixed ids: the same file every run
        "font.family": "sans-serif",
        "font.sans-serif": SANS,
        "font.monospace": MONO,
        "font.size": 14,
        "text.color": INK,
    })


# ---------------------------------------------------------------- drawing primitives

def contrast(a, b):
    """WCAG 2 contrast ratio of two '#rrggbb' colours: 1 (the same) to 21 (black, white)."""
    def luminance(colour):
        rgb = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
        r, g, b_ = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
        return 0.2126 * r + 0.7152 * g + 0.0722 * b_

    high, low = sorted([luminance(a), luminance(b)], reverse=True)
    return (high + 0.05) / (low + 0.05)


def label_colour(fill):
    """Black or white, whichever contrasts more with the fill: white on the purple, dark
    blue and red (4.6:1), black on the key teal (5.5:1; white was 3.8:1) and the yellow."""
    return "black" if contrast("#000000", fill) > contrast("#ffffff", fill) else "white"


def canvas(width, height):
    """A figure whose data units are SVG pixels, origin top left, y pointing down."""
    fig = plt.figure(figsize=(width / 72, height / 72), dpi=72)  # one display unit = 1 px
    ax = fig.add_axes([0, 0, 1, 1])
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    ax.axis("off")
    fig.patch.set_facecolor("white")
    return fig, ax


def text(ax, x, y, s, size=14, weight="normal", color=INK, ha="center", va="center",
         mono=False, style="normal", **kw):
    family = "monospace" if mono else "sans-serif"
    return ax.text(x, y, s, fontsize=size, fontweight=weight, color=color, ha=ha, va=va,
                   family=family, fontstyle=style, **kw)


def box(ax, x, y, w, h, title, code=None, fill=PLAIN_FILL, edge=INK, color=INK,
        size=14, code_size=12, lw=1.2, alpha=1.0, weight="bold", dashed=False):
    """A rounded box with a title and, below it, the code that implements it (monospace;
    a string or a list of lines).
    (x, y) is the top-left corner. Returns the box's (left, top, right, bottom)."""
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0,rounding_size=5",
                                facecolor=fill, edgecolor=edge, lw=lw, alpha=alpha,
                                linestyle="--" if dashed else "-"))
    cx = x + w / 2
    lines = [] if code is None else [code] if isinstance(code, str) else list(code)
    pitch = 18
    top = y + h / 2 - pitch * len(lines) / 2  # the title's centre
    text(ax, cx, top, title, size=size, weight=weight, color=color)
    for i, line in enumerate(lines):
        text(ax, cx, top + pitch * (i + 1) + 1, line, size=code_size, color=color, mono=True)
    return x, y, x + w, y + h


def arrow(ax, *points, color=INK, lw=1.5, head=True, dashed=False, zorder=1):
    """A polyline through the points, with an arrow head at the last one."""
    path = MplPath(points, [MplPath.MOVETO] + [MplPath.LINETO] * (len(points) - 1))
    style = "-|>,head_length=7,head_width=3.5" if head else "-"
    ax.add_patch(FancyArrowPatch(path=path, arrowstyle=style, color=color, lw=lw,
                                 mutation_scale=1, linestyle="--" if dashed else "-",
                                 joinstyle="miter", capstyle="butt", zorder=zorder))


def add(ax, x, y, r=11):
    """The residual addition: a circled plus."""
    ax.add_patch(Circle((x, y), r, facecolor="white", edgecolor=INK, lw=1.5, zorder=3))
    ax.plot([x - r * 0.6, x + r * 0.6], [y, y], color=INK, lw=1.5, zorder=4)
    ax.plot([x, x], [y - r * 0.6, y + r * 0.6], color=INK, lw=1.5, zorder=4)


def caption(ax, x, y, s, size=13):
    text(ax, x, y, s, size=size, color=GREY, style="italic")


def save(fig, name, png_dir=None):
    """Write fig/<name>.svg (px units, no date) and optionally a PNG to look at.
    Refuses text smaller than MIN_FONT or sticking out of the picture."""
    width, height = fig.get_figwidth() * 72, fig.get_figheight() * 72
    for t in fig.findobj(matplotlib.text.Text):
        if not t.get_text():
            continue
        if t.get_fontsize() < MIN_FONT:
            raise ValueError(f"{name}: text {t.get_text()!r} is {t.get_fontsize()} px, "
                             f"below {MIN_FONT} px")
        extent = t.get_window_extent()  # display units: px, as the figure is at 72 dpi
        if extent.x0 < 0 or extent.x1 > width or extent.y0 < 0 or extent.y1 > height:
            raise ValueError(f"{name}: text {t.get_text()!r} sticks out of the "
                             f"{width:.0f} x {height:.0f} picture")
    path = FIG / f"{name}.svg"
    fig.savefig(path, format="svg", metadata={"Date": None})
    svg = path.read_text()
    # matplotlib sizes the file in pt; make one unit one px, like the hand-drawn figures.
    svg = re.sub(r'(<svg [^>]*?width=")([\d.]+)pt(" height=")([\d.]+)pt"', r'\1\2\3\4"', svg,
                 count=1)
    # a <title>, like the hand-drawn figures: read by screen readers, shown as a tooltip
    svg = svg.replace(" <metadata>", f" <title>{TITLES[name]}</title>\n <metadata>", 1)
    path.write_text(svg)
    if png_dir is not None:
        png_dir.mkdir(parents=True, exist_ok=True)
        width_px = fig.get_figwidth() * 72
        fig.savefig(png_dir / f"{name}.png", dpi=72 * 800 / width_px)  # shown 800 px wide
    plt.close(fig)
    return path


# ---------------------------------------------------------------- tensor pictures

def tensor(ax, cx, y, w, h, fill, label=None, heads=0, gap=0, label_color=None,
           merged=False):
    """A (T, C) tensor as a rectangle centred on cx; heads > 0 splits it into that many
    stripes of width D, ``gap`` px apart (0: one rectangle with white dividers; merged:
    thin dark dividers, the heads' features now one axis C). The label is black or white
    to stand out on the fill unless label_color says otherwise."""
    x = cx - w / 2
    label_color = label_color or label_colour(fill)
    if heads == 0:
        ax.add_patch(Rectangle((x, y), w, h, facecolor=fill, edgecolor=INK, lw=1.2))
        if label:
            text(ax, cx, y + h / 2, label, size=14, weight="bold", color=label_color)
        return
    d = (w - gap * (heads - 1)) / heads
    for i in range(heads):
        xi = x + i * (d + gap)
        ax.add_patch(Rectangle((xi, y), d, h, facecolor=fill,
                               edgecolor=INK if gap or merged else "white",
                               lw=1.2 if gap else 0.6 if merged else 1.5))
        text(ax, xi + d / 2, y + h / 2, f"{label}{i + 1}" if label else str(i + 1), size=12,
             weight="bold", color=label_color)
    if gap == 0:
        ax.add_patch(Rectangle((x, y), w, h, facecolor="none", edgecolor=INK, lw=1.2))


def multihead_split(png_dir=None):
    W, H_FIG = 760, 640
    fig, ax = canvas(W, H_FIG)
    text(ax, W / 2, 20, "Multi-head attention: split C into H heads of width D = C / H, "
         "attend, merge", size=15, weight="bold")
    text(ax, W / 2, 42, "helpers.MultiHeadAttention.forward (helpers/multihead.py), "
         "drawn with H = 4", size=13, color=GREY)
    cols = [360, 512, 664]  # centres of the q, k, v pictures
    tw, th = 140, 34  # a (T, C) tensor
    pitch, top = 58, 62
    ys = [top + i * pitch for i in range(9)]  # top edge of each row's picture
    rows = [
        ("B, T, C = x.shape", "x  (B, T, C)"),
        ("self.in_proj(x).split(C, dim=-1)", "q, k, v  3 × (B, T, C)"),
        ("q.view(B, T, H, D)", "(B, T, H, D)"),
        (".transpose(1, 2)", "(B, H, T, D)"),
        ("every head at once", "weights  (B, H, T, S)"),
        ("out", "(B, H, T, D)"),
        ("out.transpose(1, 2)", "(B, T, H, D)"),
        (".reshape(B, T, C)", "(B, T, C)"),
        ("self.out_proj(out)", "output  (B, T, C)"),
    ]
    for (code, shape), y in zip(rows, ys):
        text(ax, 16, y + 8, code, size=13, mono=True, ha="left")
        text(ax, 16, y + 27, shape, size=14, weight="bold", ha="left")
    ax.plot([282, 282], [ys[0] - 6, ys[-1] + th + 6], color="#cccccc", lw=1)

    # x -> q, k, v
    tensor(ax, cols[1], ys[0], tw, th, DARK, "x")
    for cx in cols:
        arrow(ax, (cols[1], ys[0] + th), (cols[1], ys[0] + th + 10), (cx, ys[0] + th + 10),
              (cx, ys[1]))
    qkv = [(QUERY, "q"), (KEY, "k"), (VALUE, "v")]
    for cx, (colour, name) in zip(cols, qkv):
        tensor(ax, cx, ys[1], tw, th, colour, name)
        arrow(ax, (cx, ys[1] + th), (cx, ys[2]))
        tensor(ax, cx, ys[2], tw, th, colour, name, heads=4)  # view: the same numbers
        arrow(ax, (cx, ys[2] + th), (cx, ys[3]))
        tensor(ax, cx, ys[3], tw, th, colour, name, heads=4, gap=10)  # transpose: H in front
        arrow(ax, (cx, ys[3] + th), (cx, ys[4]))
    # attention in every head: one batched call
    box(ax, cols[0] - tw / 2, ys[4], cols[2] - cols[0] + tw, th + 6,
        "scaled_dot_product_attention(q, k, v, mask)", fill=YELLOW, weight="normal",
        size=14)
    ax.texts[-1].set_family("monospace")
    arrow(ax, (cols[1], ys[4] + th + 6), (cols[1], ys[5]))
    tensor(ax, cols[1], ys[5], tw, th, YELLOW, heads=4, gap=10, label_color=INK)
    arrow(ax, (cols[1], ys[5] + th), (cols[1], ys[6]))
    tensor(ax, cols[1], ys[6], tw, th, YELLOW, heads=4, label_color=INK)
    arrow(ax, (cols[1], ys[6] + th), (cols[1], ys[7]))
    tensor(ax, cols[1], ys[7], tw, th, YELLOW, heads=4, label_color=INK, merged=True)
    text(ax, cols[1] + tw / 2 + 12, ys[7] + th / 2, "the heads side by side", size=13,
         color=GREY, ha="left")
    arrow(ax, (cols[1], ys[7] + th), (cols[1], ys[8]))
    tensor(ax, cols[1], ys[8], tw, th, DARK, "output")
    text(ax, cols[1] + tw / 2 + 12, ys[8] + th / 2, "W_O mixes the heads", size=13,
         color=GREY, ha="left")
    # notes beside the shapes of the two split rows
    for row, note in ((2, "no copy: new axes"), (3, "H moves beside B")):
        text(ax, 150, ys[row] + 27, note, size=12, color=GREY, ha="left")
    caption(ax, W / 2, H_FIG - 44, "Head h reads its own D = C / H features of q, k and v; "
            "the transposes make H a batch axis,")
    caption(ax, W / 2, H_FIG - 24, "so one batched matrix product attends in all H heads, "
            "and the reshape puts their outputs back side by side.")
    return save(fig, "multihead_split", png_dir)


def residual(ax, start, corner_x, end, lw=2.5, color=DARK):
    """A skip connection: from start sideways to corner_x, along, then into end."""
    arrow(ax, start, (corner_x, start[1]), (corner_x, end[1]), end, lw=lw, color=color)


def pre_post_norm(png_dir=None):
    W, H_FIG = 760, 620
    fig, ax = canvas(W, H_FIG)
    bw, bh = 180, 38
    slots = [170, 220, 270, 306, 340, 390, 440, 476]  # centres, top down; 3, 7: branches
    x_in = slots[-1] + 26
    panels = [
        (190, "Post-norm (the 2017 paper)", "config.norm_first = False",
         ["x = LN(x + Attn(x))", "x = LN(x + MLP(x))"],
         ["norm2", "+", "mlp", None, "norm1", "+", "attn", None],
         ["LayerNorm sits on the residual path:", "every sum is normalised."]),
        (570, "Pre-norm (GPT-2 and later)", "config.norm_first = True (default)",
         ["x = x + Attn(LN(x))", "x = x + MLP(LN(x))"],
         ["+", "mlp", "norm2", None, "+", "attn", "norm1", None],
         ["The residual path runs from x to out through",
          "+ only; LayerNorm acts on each branch."]),
    ]
    looks = {"attn": ("Multi-head attention", ATTN_FILL), "mlp": ("MLP", MLP_FILL),
             "norm1": ("LayerNorm", NORM_FILL), "norm2": ("LayerNorm", NORM_FILL)}
    ax.plot([380, 380], [10, H_FIG - 50], color="#cccccc", lw=1)
    for cx, title, flag, formulas, column, notes in panels:
        text(ax, cx, 22, title, size=15, weight="bold")
        text(ax, cx, 44, flag, size=13, mono=True, color=GREY)
        for i, formula in enumerate(formulas):
            text(ax, cx, 72 + 20 * i, formula, size=15, mono=True)
        text(ax, cx, 128, "out  (B, T, C)", size=14, weight="bold")
        text(ax, cx, x_in + 12, "x  (B, T, C)", size=14, weight="bold")
        # the main line, bottom to top, through every element of the column
        below = x_in
        for name, y in zip(reversed(column), reversed(slots)):
            if name is None:  # a branch point: the main line passes straight on
                continue
            bottom = y + (11 if name == "+" else bh / 2)
            arrow(ax, (cx, below), (cx, bottom))
            if name == "+":
                add(ax, cx, y)
            else:
                title_, fill = looks[name]
                box(ax, cx - bw / 2, y - bh / 2, bw, bh, title_, name, fill=fill)
            below = y - (11 if name == "+" else bh / 2)
        arrow(ax, (cx, below), (cx, 140))
        # the two skip connections: from each branch point to the + above it
        skip_x = cx - bw / 2 - 24
        for branch in (3, 7):
            plus = column.index("+", branch - 3)
            y0 = slots[branch]
            residual(ax, (cx, y0), skip_x, (cx - 11, slots[plus]))
        for i, note in enumerate(notes):
            caption(ax, cx, x_in + 48 + 19 * i, note)
    text(ax, W / 2, H_FIG - 22, "helpers.EncoderBlock: the same norm1, attn, norm2, mlp "
         "either way; the blue lines are the residuals", size=13, color=GREY)
    return save(fig, "pre_post_norm", png_dir)


def column(ax, cx, bw, items):
    """Boxes stacked top down: items are (top, height, title, code, fill). Returns
    {title-or-key: (top, bottom)} for wiring."""
    spans = {}
    for key, top, h, title, code, fill in items:
        box(ax, cx - bw / 2, top, bw, h, title, code, fill=fill)
        spans[key] = (top, top + h)
    return spans


def stack(ax, left, top, right, bottom, n_side):
    """The frame around a block repeated N times, with a large "N ×" outside it on the
    side ``n_side`` ('left' or 'right')."""
    ax.add_patch(FancyBboxPatch((left, top), right - left, bottom - top,
                                boxstyle="round,pad=0,rounding_size=10", facecolor=STACK_FILL,
                                edgecolor=GREY, lw=1.5, zorder=0))
    nx = left - 24 if n_side == "left" else right + 28
    text(ax, nx, (top + bottom) / 2, "N ×", size=18, weight="bold")


def transformer(png_dir=None):
    W, H_FIG = 760, 740
    fig, ax = canvas(W, H_FIG)
    ce, cd, bw = 200, 545, 250  # centre of the encoder and the decoder column, box width
    text(ax, 20, 24, "The Transformer", size=18, weight="bold", ha="left")
    text(ax, 20, 48, "helpers.EncoderDecoder (helpers/decoder.py)", size=13, mono=True,
         ha="left")
    notes = ["Drawn post-norm, as in the 2017 paper", "(norm_first=False); the helpers' default",
             "is pre-norm: see fig/pre_post_norm.svg.", "",
             "Cross-attention: queries Q from the",
             "decoder, keys and values K, V from the", "encoder's output, memory.", "",
             "Positions are learned (nn.Embedding);", "the paper adds fixed sines:",
             "helpers.SinusoidalPositions."]
    for i, line in enumerate(notes):
        text(ax, 20, 78 + 17 * i, line, size=13, color=GREY, ha="left")

    # ---- decoder, top down
    dec = column(ax, cd, bw, [
        ("an3", 216, 38, "Add & norm", "norm3: helpers.LayerNorm", NORM_FILL),
        ("mlp", 268, 38, "MLP", "mlp: helpers.MLP", MLP_FILL),
        ("an2", 320, 38, "Add & norm", "norm2: helpers.LayerNorm", NORM_FILL),
        ("cross", 372, 38, "Cross-attention", "cross_attn: MultiHeadAttention", CROSS_FILL),
        ("an1", 432, 38, "Add & norm", "norm1: helpers.LayerNorm", NORM_FILL),
        ("self", 484, 56, "Masked self-attention",
         ["self_attn: MultiHeadAttention", "mask = helpers.causal_mask(T)"], ATTN_FILL),
    ])
    # ---- encoder, top down (bottoms aligned with the decoder's)
    enc = column(ax, ce, bw, [
        ("an2", 328, 38, "Add & norm", "norm2: helpers.LayerNorm", NORM_FILL),
        ("mlp", 380, 38, "MLP", "mlp: helpers.MLP", MLP_FILL),
        ("an1", 432, 38, "Add & norm", "norm1: helpers.LayerNorm", NORM_FILL),
        ("self", 484, 56, "Multi-head self-attention",
         ["attn: helpers.MultiHeadAttention", "mask = padding_mask_from_tokens"], ATTN_FILL),
    ])
    bottom = 556
    stack(ax, ce - bw / 2 - 28, 312, ce + bw / 2 + 14, bottom, "left")
    stack(ax, cd - bw / 2 - 14, 200, cd + bw / 2 + 28, bottom, "right")
    text(ax, ce - 8, 301, "helpers.EncoderBlock", size=12, mono=True, ha="right")
    text(ax, cd + 8, 187, "helpers.DecoderBlock", size=12, mono=True, ha="left")

    # main lines and residuals
    # (sub-layer, its add & norm) bottom up; side: where the residuals run (-1 left)
    for c, spans, side, order in ((ce, enc, -1, [("self", "an1"), ("mlp", "an2")]),
                                  (cd, dec, +1, [("self", "an1"), ("cross", "an2"),
                                                 ("mlp", "an3")])):
        below = bottom + 24 - 11  # the top of the embedding's +
        skip_x = c + side * (bw / 2 + 16)
        for sub, norm in order:
            arrow(ax, (c, below), (c, spans[sub][1]))
            arrow(ax, (c, spans[sub][0]), (c, spans[norm][1]))
            below = spans[norm][0]
            # the residual leaves the main line just under the sub-layer
            start_y = spans[sub][1] + (10 if sub == "self" else 11 if sub == "cross" else 7)
            residual(ax, (c, start_y), skip_x, (c + side * bw / 2, sum(spans[norm]) / 2),
                     lw=2, color=DARK)
    # memory: the encoder's output becomes the keys and values of every cross-attention
    mem_y, mem_x = 290, 382
    cross_y = sum(dec["cross"]) / 2
    arrow(ax, (ce, enc["an2"][0]), (ce, mem_y), (mem_x, mem_y), (mem_x, cross_y),
          (cd - bw / 2, cross_y), lw=2, color=VALUE)
    text(ax, (ce + mem_x) / 2, mem_y - 13, "memory (B, S, C) → K, V", size=14, weight="bold",
         color=VALUE)
    text(ax, cd - 8, (dec["cross"][1] + dec["an1"][0]) / 2, "Q", size=13, ha="right",
         color=QUERY_TEXT, weight="bold")

    # decoder output: the unembedding, then softmax
    box(ax, cd - bw / 2, 128, bw, 38, "Linear C → V", "unembed", fill=PLAIN_FILL)
    arrow(ax, (cd, dec["an3"][0]), (cd, 166))
    box(ax, cd - bw / 2, 76, bw, 36, "Softmax", None, fill=YELLOW)
    arrow(ax, (cd, 128), (cd, 112))
    arrow(ax, (cd, 76), (cd, 64))
    text(ax, cd, 52, "next-token probabilities (B, T, V)", size=14, weight="bold")
    text(ax, cd + bw / 2 + 6, 147, "logits", size=12, color=GREY, ha="left")

    # embeddings + positions, under each stack
    for c, side, tok, emb, pos, length in ((ce, "src", "src  (B, S)", "src_embed", "src_pos", "S"),
                                           (cd, "tgt", "tgt  (B, T)", "tgt_embed", "tgt_pos", "T")):
        add_y = bottom + 24
        add(ax, c, add_y)
        for bx, title, code, label in ((c - 75, "Token embedding", emb, tok),
                                       (c + 75, "Positions", pos, f"0 … {length}−1")):
            box(ax, bx - 70, 606, 140, 40, title, code, fill=DARK, color="white", size=13)
            arrow(ax, (bx, 606), (bx, add_y), (c + (-11 if bx < c else 11), add_y))
            text(ax, bx, 664, label, size=13, weight="bold")
    text(ax, cd, 684, "(the target so far, shifted right)", size=12, color=GREY)
    caption(ax, W / 2, H_FIG - 24, "N = config.num_layers blocks in each stack; every block "
            "maps (B, T, C) to (B, T, C).")
    return save(fig, "transformer", png_dir)


def prenorm_column(ax, cx, bw, top, sublayers, bh=38, gap=12, branch_gap=20, skip_dx=24,
                   norm_gap=12):
    """A pre-norm residual column, top down: for each sublayer (norm, layer) a +, the
    layer, its norm, and the branch point below. sublayers: [(norm_title, norm_code,
    layer_title, layer_code, fill)], last sub-layer first (top). Returns ({name: (top,
    bottom)}, y of the bottom branch): the skip connections are drawn, the main line too."""
    spans, y = {}, top
    plus_r = 11
    items = []
    for norm_title, norm_code, title, code, fill in sublayers:
        items.append(("+", y + plus_r))
        y += 2 * plus_r + gap
        lines = 1 if isinstance(code, str) else len(code)
        h = bh + 18 * (lines - 1)
        box(ax, cx - bw / 2, y, bw, h, title, code, fill=fill)
        spans[title] = (y, y + h)
        items.append((title, y))
        y += h + norm_gap
        box(ax, cx - bw / 2, y, bw, bh, norm_title, norm_code, fill=NORM_FILL)
        spans[norm_title + norm_code] = (y, y + bh)
        y += bh
        branch = y + branch_gap / 2 + 2
        y += branch_gap + 4
        # main line: branch -> norm -> layer -> +
        arrow(ax, (cx, branch), (cx, y - branch_gap - 4))
        arrow(ax, (cx, y - branch_gap - 4 - bh), (cx, spans[title][1]))
        arrow(ax, (cx, spans[title][0]), (cx, items[-2][1] + plus_r))
        add(ax, cx, items[-2][1])
        residual(ax, (cx, branch), cx - bw / 2 - skip_dx, (cx - plus_r, items[-2][1]), lw=2)
        spans["branch " + title] = branch
        spans["+ " + title] = items[-2][1]
    return spans, branch


def causal_grid(ax, x, y, n=5, cell=14, S=None):
    """The (T, S) causal mask as a grid, top left at (x, y): teal = may attend (True),
    light grey = blocked. With S > n the n queries are the last ones (a cache)."""
    S = n if S is None else S
    for t in range(n):
        for s_ in range(S):
            allowed = s_ <= t + S - n
            ax.add_patch(Rectangle((x + s_ * cell, y + t * cell), cell, cell,
                                   facecolor=KEY if allowed else "#e6e6e6", edgecolor="white",
                                   lw=1))


def decoder_block(png_dir=None):
    W, H_FIG = 760, 750
    fig, ax = canvas(W, H_FIG)
    cx, bw = 300, 310
    text(ax, 20, 24, "The decoder block: helpers.DecoderBlock (pre-norm, the default)",
         size=17, weight="bold", ha="left")
    formulas = ["x = x + self_attn(norm1(x), mask=causal_mask(T))",
                "x = x + cross_attn(norm2(x), memory, memory_mask)",
                "x = x + mlp(norm3(x))"]
    for i, f in enumerate(formulas):
        text(ax, 20, 56 + 20 * i, f, size=14, mono=True, ha="left")
    text(ax, cx, 130, "out  (B, T, C)", size=14, weight="bold")
    spans, branch = prenorm_column(ax, cx, bw, 156, norm_gap=22, sublayers=[
        ("LayerNorm", "norm3: helpers.LayerNorm", "MLP", "mlp: helpers.MLP", MLP_FILL),
        ("LayerNorm", "norm2: helpers.LayerNorm", "Cross-attention",
         "cross_attn: helpers.MultiHeadAttention", CROSS_FILL),
        ("LayerNorm", "norm1: helpers.LayerNorm", "Masked self-attention",
         "self_attn: helpers.MultiHeadAttention", ATTN_FILL),
    ])
    arrow(ax, (cx, spans["+ MLP"] - 11), (cx, 142))
    x_label = branch + 30
    arrow(ax, (cx, x_label - 12), (cx, branch))
    text(ax, cx, x_label, "x  (B, T, C): the target so far", size=14, weight="bold")
    # memory from the encoder -> keys and values of cross-attention
    cross_top, cross_bottom = spans["Cross-attention"]
    cross_y = (cross_top + cross_bottom) / 2
    mx = 560
    box(ax, mx, cross_y - 22, 180, 44, "memory  (B, S, C)", "the encoder's output",
        fill=VALUE, color="white", size=14)
    arrow(ax, (mx, cross_y), (cx + bw / 2, cross_y), lw=2, color=VALUE)
    text(ax, (mx + cx + bw / 2) / 2, cross_y - 11, "K, V", size=14, weight="bold", color=VALUE)
    text(ax, mx + 90, cross_y + 38, "memory_mask (B, 1, S):", size=13, color=GREY)
    text(ax, mx + 90, cross_y + 56, "hides padded source tokens", size=13, color=GREY)
    norm2_top = spans["LayerNormnorm2: helpers.LayerNorm"][0]
    text(ax, cx + 8, (cross_bottom + norm2_top) / 2, "Q", size=13, weight="bold",
         color=QUERY_TEXT, ha="left")
    # the causal mask beside the masked self-attention
    self_top, self_bottom = spans["Masked self-attention"]
    self_y = (self_top + self_bottom) / 2
    n, cell = 5, 15
    gx, gy = mx - 14, self_y - n * cell / 2 + 6
    causal_grid(ax, gx, gy, n, cell)
    text(ax, gx + n * cell + 10, gy + 10, "causal_mask(T)", size=13, mono=True, ha="left")
    text(ax, gx + n * cell + 10, gy + 30, "(T, T), True =", size=13, color=GREY, ha="left")
    text(ax, gx + n * cell + 10, gy + 48, "may attend", size=13, color=GREY, ha="left")
    text(ax, gx + n * cell / 2, gy - 10, "keys →", size=12, color=GREY)
    arrow(ax, (gx - 6, self_y), (cx + bw / 2, self_y), lw=1.5)
    for i, line in enumerate([
            "forward(x, memory, memory_mask) returns out (B, T, C) and, with "
            "need_weights=True,",
            "the self-attention weights (B, H, T, T) and the cross-attention weights "
            "(B, H, T, S).",
            "norm_first=False gives the paper's post-norm: "
            "x = norm1(x + self_attn(x, mask)), …"]):
        caption(ax, W / 2, H_FIG - 62 + 20 * i, line)
    return save(fig, "decoder_block", png_dir)


def gpt(png_dir=None):
    W, H_FIG = 760, 730
    fig, ax = canvas(W, H_FIG)
    cx, bw = 440, 300
    text(ax, 20, 24, "GPT: helpers.GPT", size=18, weight="bold", ha="left")
    text(ax, 20, 48, "helpers/gpt.py", size=13, mono=True, ha="left", color=GREY)
    text(ax, cx, 52, "logits  (B, T, V): the next token, at every position", size=14,
         weight="bold")
    box(ax, cx - bw / 2, 72, bw, 42, "Tied unembedding", "h @ self.token.weight.T",
        fill=DARK, color="white")
    arrow(ax, (cx, 72), (cx, 64))
    box(ax, cx - bw / 2, 132, bw, 38, "LayerNorm", "final_norm: helpers.LayerNorm",
        fill=NORM_FILL)
    arrow(ax, (cx, 132), (cx, 114))
    stack_top = 198
    spans, branch = prenorm_column(ax, cx, bw, stack_top + 16, [
        ("LayerNorm", "norm2: helpers.LayerNorm", "MLP", "mlp: helpers.MLP", MLP_FILL),
        ("LayerNorm", "norm1: helpers.LayerNorm", "Causal self-attention",
         ["attn: helpers.MultiHeadAttention", "mask = causal_mask(T, S)"], ATTN_FILL),
    ])
    stack_bottom = branch + 16
    stack(ax, cx - bw / 2 - 38, stack_top, cx + bw / 2 + 14, stack_bottom, "right")
    text(ax, cx + 8, stack_top - 14, "helpers.GPTBlock", size=12, mono=True, ha="left")
    arrow(ax, (cx, spans["+ MLP"] - 11), (cx, 170))
    text(ax, cx + bw / 2 + 42, (stack_top + stack_bottom) / 2 + 26, "num_layers", size=12,
         mono=True, color=GREY)
    # token embedding + learned positions
    add_y = stack_bottom + 26
    add(ax, cx, add_y)
    arrow(ax, (cx, add_y - 11), (cx, branch))
    emb_top, emb_h, emb_w = add_y + 26, 42, 180
    for bx, title, code, fill, colour, label in (
            (cx - 95, "Token embedding", "token: E  (V, C)", DARK, "white", "idx  (B, T)"),
            (cx + 95, "Learned positions", "position", PLAIN_FILL, INK, "0 … T−1")):
        box(ax, bx - emb_w / 2, emb_top, emb_w, emb_h, title, code, fill=fill, color=colour,
            size=13)
        arrow(ax, (bx, emb_top), (bx, add_y), (cx + (-11 if bx < cx else 11), add_y))
        text(ax, bx, emb_top + emb_h + 18, label, size=14, weight="bold")
    # the tie: one matrix E, read as rows to embed, transposed to unembed
    tie_x = cx - 95 - emb_w / 2 - 28
    arrow(ax, (cx - 95 - emb_w / 2, emb_top + emb_h / 2), (tie_x, emb_top + emb_h / 2),
          (tie_x, 93), (cx - bw / 2, 93), head=False, dashed=True, lw=2, color=VALUE)
    tie_notes = ["Tied weights:", "one matrix E (V, C)", "token.weight: its rows",
                 "embed the tokens, and", "h @ Eᵀ scores every", "token of the vocabulary",
                 "(B, T, C) → (B, T, V)."]
    for i, line in enumerate(tie_notes):
        text(ax, 20, 300 + 19 * i, line, size=13, ha="left", color=VALUE if i == 0 else GREY,
             weight="bold" if i == 0 else "normal")
    caption(ax, W / 2, H_FIG - 44, "Pre-norm blocks: x = x + attn(norm1(x)); "
            "x = x + mlp(norm2(x)).")
    caption(ax, W / 2, H_FIG - 24, "Without a cache S = T; with one KVCache per block, "
            "S = cache.length + T (fig/kv_cache.svg).")
    return save(fig, "gpt", png_dir)


def cell(ax, x, y, size, state, colour, label=""):
    """One token's vector: 'new' computed this step (solid, its label black or white to
    stand out), 'cached' read from the cache (a light tint, a dark label), 'absent' not
    needed (dashed outline)."""
    if state == "absent":
        ax.add_patch(Rectangle((x + 1, y + 1), size - 2, size - 2, facecolor="none",
                               edgecolor="#aaaaaa", lw=1, linestyle=(0, (3, 2))))
        return
    ax.add_patch(Rectangle((x, y), size, size, facecolor=colour, edgecolor="white", lw=1.5,
                           alpha=1.0 if state == "new" else 0.35))
    if label:
        text(ax, x + size / 2, y + size / 2, label, size=12, weight="bold",
             color=label_colour(colour) if state == "new" else INK)


def kv_cache(png_dir=None):
    W, H_FIG = 760, 560
    fig, ax = canvas(W, H_FIG)
    t, c = 6, 28  # tokens so far, cell size
    text(ax, 20, 22, "Generating with a key/value cache: step t (here t = 6), one layer",
         size=17, weight="bold", ha="left")
    tok_x, qkv_x, grid_x, cost_x = 20, 256, 484, 596
    g = 16  # score cell size
    panels = [
        (56, False, "Without a cache: every step reruns all T = t tokens",
         "generate(model, idx, n, use_cache=False): model(idx[:, -block_size:])",
         "idx  (B, T)", "q, k, v  (B, H, T, D)", "scores (T, T)",
         "all recomputed", "last row used",
         ["this step: t tokens", "in every layer,", "t × t scores.",
          "n steps: ~n²/2 tokens,", "~n³/3 scores."]),
        (292, True, "With a KVCache: each step runs only the new token",
         "generate(model, idx, n): caches = model.new_caches(); model(step_input, caches)",
         "step_input  (B, 1)", "q (B, H, 1, D); cache (B, H, S, D)", "scores (1, S)",
         "cache.append(k, v)", "causal_mask(1, S)",
         ["this step: 1 token", "in every layer,", "1 × S scores, S = t.",
          "n steps: n tokens,", "~n²/2 scores."]),
    ]
    for y0, cached, title, code, tok_label, qkv_label, grid_label, qkv_note, grid_note, \
            cost in panels:
        text(ax, 20, y0, title, size=15, weight="bold", ha="left")
        text(ax, 20, y0 + 21, code, size=12, mono=True, ha="left", color=GREY)
        rows = [y0 + 58 + i * (c + 6) for i in range(3)]  # q, k, v rows (top edges)
        mid = rows[1] + c / 2
        text(ax, tok_x + t * c / 2, y0 + 45, tok_label, size=13, weight="bold")
        for i in range(t):
            state = "cached" if cached and i < t - 1 else "new"
            if cached and i < t - 1:
                cell(ax, tok_x + i * c, rows[1], c, "absent", None)
                text(ax, tok_x + i * c + c / 2, mid, str(i + 1), size=12, color=FAINT)
            else:
                cell(ax, tok_x + i * c, rows[1], c, state, DARK, str(i + 1))
        arrow(ax, (tok_x + t * c + 6, mid), (qkv_x - 8, mid))
        text(ax, (tok_x + t * c + qkv_x) / 2, mid - 12, "in_proj", size=12, mono=True)
        text(ax, qkv_x + t * c / 2, y0 + 45, qkv_label, size=13, weight="bold")
        for row, (colour, name) in zip(rows, ((QUERY, "q"), (KEY, "k"), (VALUE, "v"))):
            for i in range(t):
                new = not cached or i == t - 1
                state = "new" if new else "absent" if name == "q" else "cached"
                cell(ax, qkv_x + i * c, row, c, state, colour, f"{name}{i + 1}")
        if cached:  # frame the two cache rows
            ax.add_patch(Rectangle((qkv_x - 3, rows[1] - 3), t * c + 6, 2 * c + 12,
                                   facecolor="none", edgecolor=INK, lw=1.2))
        text(ax, qkv_x + t * c / 2, rows[2] + c + 16, qkv_note, size=13,
             mono=cached, color=GREY)
        arrow(ax, (qkv_x + t * c + 8, mid), (grid_x - 8, mid))
        # the scores: (T, T) causal, or one row (1, S)
        text(ax, grid_x + t * g / 2, y0 + 45, grid_label, size=13, weight="bold")
        gy = rows[0] + 3
        for q_ in range(t):
            for k_ in range(t):
                if cached and q_ < t - 1:
                    continue
                allowed = k_ <= q_
                ax.add_patch(Rectangle((grid_x + k_ * g, gy + q_ * g), g, g,
                                       facecolor=KEY if allowed else "#e6e6e6",
                                       edgecolor="white", lw=1))
        if cached:
            ax.add_patch(Rectangle((grid_x, gy), t * g, (t - 1) * g, facecolor="none",
                                   edgecolor="#aaaaaa", lw=1, linestyle=(0, (3, 2))))
        ax.add_patch(Rectangle((grid_x - 1, gy + (t - 1) * g - 1), t * g + 2, g + 2,
                               facecolor="none", edgecolor=QUERY, lw=2))
        text(ax, grid_x + t * g / 2, rows[2] + c + 16, grid_note, size=13, mono=cached,
             color=GREY)
        for i, line in enumerate(cost):
            text(ax, cost_x, y0 + 48 + 19 * i, line, size=13, ha="left",
                 weight="bold" if i < 3 else "normal", color=INK if i < 3 else GREY)
    ax.plot([20, W - 20], [270, 270], color="#cccccc", lw=1)
    # legend
    ly = H_FIG - 40
    cell(ax, 20, ly - 9, 18, "new", KEY)
    text(ax, 44, ly, "computed this step", size=13, ha="left")
    cell(ax, 200, ly - 9, 18, "cached", KEY)
    text(ax, 224, ly, "read from the cache", size=13, ha="left")
    cell(ax, 390, ly - 9, 18, "absent", None)
    text(ax, 414, ly, "not needed", size=13, ha="left")
    ax.add_patch(Rectangle((530, ly - 9), 18, 18, facecolor="none", edgecolor=QUERY, lw=2))
    text(ax, 554, ly, "the row that predicts", size=13, ha="left")
    text(ax, 554, ly + 17, "the next token", size=13, ha="left")
    return save(fig, "kv_cache", png_dir)


DIAGRAMS = {  # in the order of the course
    "multihead_split": multihead_split, "pre_post_norm": pre_post_norm,
    "transformer": transformer, "decoder_block": decoder_block, "gpt": gpt,
    "kv_cache": kv_cache,
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"diagrams to draw: {', '.join(DIAGRAMS)} "
                        "(default: all)")
    parser.add_argument("--png", type=Path, help="also write PNG copies here, 800 px wide")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(DIAGRAMS))
    if unknown:
        parser.error(f"unknown diagram(s) {unknown}; choose from {list(DIAGRAMS)}")
    setup()
    for name in args.names or DIAGRAMS:
        print(DIAGRAMS[name](args.png).relative_to(FIG.parent))


if __name__ == "__main__":
    sys.exit(main())
