"""Static figures: an attention heatmap with token labels, and a training history.

Used by notebooks 01-05 and 08 (and the others through ``plot_history`` and the widgets).
Sizes and fonts follow the course style (helpers.style): at most the notebook column's
width, no text below 10 pt. Colours use 'viridis' (ordered, readable in greyscale and for colour-blind readers):
dark is little weight, yellow is much.
"""
import math

import matplotlib.pyplot as plt
import torch
from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

from helpers import style
from helpers._checks import shape_str


def _as_matrix(weights):
    w = torch.as_tensor(weights).detach().float().cpu()
    while w.dim() > 2 and w.shape[0] == 1:  # (1, 1, T, S) -> (T, S)
        w = w[0]
    if w.dim() != 2:
        raise ValueError(f"weights must be one matrix (T, S) (leading 1s are dropped), "
                         f"got shape {shape_str(w.shape)}; pick an example and a head first")
    return w


def _cell_inches(ax, T, S):
    """About how large one heatmap cell is, in inches: (width, height).

    Read from the Axes' place in its figure before layout; constrained layout then takes
    room for labels and colour bars, so 85% of it is what a cell keeps.
    """
    box = ax.get_position()
    fig_w, fig_h = ax.figure.get_size_inches()
    width, height = 0.85 * box.width * fig_w / S, 0.85 * box.height * fig_h / T
    side = min(width, height)  # imshow keeps cells square
    return side, side


def plot_attention(weights, query_tokens, key_tokens=None, *, ax=None, title=None,
                   annotate=None, colorbar=True, vmax=None, highlight_query=None):
    """Draw attention weights (T, S) as a heatmap: queries down the side, keys along the top.

    query_tokens: T labels; key_tokens: S labels (default: the query tokens, self-attention)
    annotate: write each weight in its cell. Default: only when a cell is big enough to
        hold "0.00" at the course's smallest font (helpers.style.fits_numbers); True
        asks for the numbers anyway, False never draws them.
    highlight_query: index of a query row to outline
    Returns the matplotlib Axes. Without ``ax``, a new figure is sized to the matrix,
    at most the notebook column's width (helpers.style).
    """
    w = _as_matrix(weights)
    key_tokens = query_tokens if key_tokens is None else key_tokens
    T, S = w.shape
    if len(query_tokens) != T or len(key_tokens) != S:
        raise ValueError(f"weights of shape ({T}, {S}) need {T} query and {S} key labels, "
                         f"got {len(query_tokens)} and {len(key_tokens)}")
    if ax is None:
        cell = 0.5  # inches: room for "0.00" in 10 pt
        _, ax = plt.subplots(figsize=(min(style.FIGURE_WIDTH, 2.6 + cell * S),
                                      min(style.MAX_HEIGHT, 1.6 + cell * T)),
                             layout="constrained")
    image = ax.imshow(w.numpy(), cmap="viridis", vmin=0.0, vmax=vmax or max(w.max().item(), 1e-6))
    cell_w, cell_h = _cell_inches(ax, T, S)
    longest = max(style.text_inches(t) for t in key_tokens)
    ax.set_xticks(range(S), [str(t) for t in key_tokens], rotation=90 if longest > cell_w else 0)
    ax.set_yticks(range(T), [str(t) for t in query_tokens])
    ax.set_xlabel("key (attended to)")
    ax.set_ylabel("query (attending)")
    ax.xaxis.set_label_position("top")
    ax.xaxis.tick_top()
    if title:
        ax.set_title(title, pad=10)
    if annotate is None:
        annotate = style.fits_numbers(cell_w, cell_h)
    if annotate:
        threshold = 0.6 * w.max().item()
        for i in range(T):
            for j in range(S):
                colour = "black" if w[i, j] > threshold else "white"
                ax.text(j, i, f"{w[i, j]:.2f}", ha="center", va="center",
                        fontsize=style.SMALLEST_FONT, color=colour)
    if highlight_query is not None:
        ax.add_patch(plt.Rectangle((-0.5, highlight_query - 0.5), S, 1, fill=False,
                                   edgecolor="#e8112d", linewidth=2.5))
    if colorbar:
        ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="attention weight")
    return ax


def plot_history(history, *, title="Training"):
    """Loss per step (and held-out loss and accuracy, if measured) from ``fit``'s History."""
    with_acc = bool(history.val_acc)
    fig, axes = plt.subplots(1, 2 if with_acc else 1, figsize=(style.FIGURE_WIDTH if with_acc
                                                                else 5.0, 3.2),
                             squeeze=False, layout="constrained")
    ax = axes[0, 0]
    ax.plot(history.step, history.loss, label="training batch", color="#1f77b4")
    if history.val_loss:
        ax.plot(history.val_step, history.val_loss, "o-", label="held out", color="#ff7f0e")
    ax.set(xlabel="step", ylabel="loss (log scale)", title=f"{title}: loss")
    ax.set_yscale("log")
    # Plain numbers at 1, 2 and 5 of each decade, no labels on the minor ticks: a loss
    # that spans less than a decade otherwise gets a crowd of "2×10⁰ 3×10⁰ 4×10⁰".
    losses = [v for v in list(history.loss) + list(history.val_loss) if v > 0]
    decades = math.log10(max(losses) / min(losses)) if losses else 0.0
    ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0) if decades < 2 else (1.0,)))
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.grid(alpha=0.3, which="major")
    ax.legend()  # loc="best" (helpers.style): where no line runs
    if with_acc:
        ax = axes[0, 1]
        ax.plot(history.val_step, history.val_acc, "o-", color="#ff7f0e")
        ax.set(xlabel="step", ylabel="held-out accuracy", ylim=(-0.02, 1.02),
               title=f"{title}: accuracy")
        ax.grid(alpha=0.3)
    return fig
