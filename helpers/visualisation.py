"""Static figures: an attention heatmap with token labels, and a training history.

Colours use 'viridis' (ordered, readable in greyscale and for colour-blind readers):
dark is little weight, yellow is much.
"""
import matplotlib.pyplot as plt
import torch

from helpers._checks import shape_str


def _as_matrix(weights):
    w = torch.as_tensor(weights).detach().float().cpu()
    while w.dim() > 2 and w.shape[0] == 1:  # (1, 1, T, S) -> (T, S)
        w = w[0]
    if w.dim() != 2:
        raise ValueError(f"weights must be one matrix (T, S) (leading 1s are dropped), "
                         f"got shape {shape_str(w.shape)}; pick an example and a head first")
    return w


def plot_attention(weights, query_tokens, key_tokens=None, *, ax=None, title=None,
                   annotate=None, colorbar=True, vmax=None, highlight_query=None):
    """Draw attention weights (T, S) as a heatmap: queries down the side, keys along the top.

    query_tokens: T labels; key_tokens: S labels (default: the query tokens, self-attention)
    annotate: write each weight in its cell (default: when the matrix is at most 12 x 12)
    highlight_query: index of a query row to outline
    Returns the matplotlib Axes.
    """
    w = _as_matrix(weights)
    key_tokens = query_tokens if key_tokens is None else key_tokens
    T, S = w.shape
    if len(query_tokens) != T or len(key_tokens) != S:
        raise ValueError(f"weights of shape ({T}, {S}) need {T} query and {S} key labels, "
                         f"got {len(query_tokens)} and {len(key_tokens)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(1.0 + 0.45 * S, 0.8 + 0.45 * T))
    image = ax.imshow(w.numpy(), cmap="viridis", vmin=0.0, vmax=vmax or max(w.max().item(), 1e-6))
    crowded = S * max(len(str(t)) for t in key_tokens) > 24  # labels would overlap
    ax.set_xticks(range(S), [str(t) for t in key_tokens], rotation=90 if crowded else 0)
    ax.set_yticks(range(T), [str(t) for t in query_tokens])
    ax.set_xlabel("key (attended to)")
    ax.set_ylabel("query (attending)")
    ax.xaxis.set_label_position("top")
    ax.xaxis.tick_top()
    if title:
        ax.set_title(title, pad=12)
    if annotate is None:
        annotate = T <= 12 and S <= 12
    if annotate:
        threshold = 0.6 * w.max().item()
        for i in range(T):
            for j in range(S):
                colour = "black" if w[i, j] > threshold else "white"
                ax.text(j, i, f"{w[i, j]:.2f}", ha="center", va="center", fontsize=8, color=colour)
    if highlight_query is not None:
        ax.add_patch(plt.Rectangle((-0.5, highlight_query - 0.5), S, 1, fill=False,
                                   edgecolor="#e8112d", linewidth=2.5))
    if colorbar:
        ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="attention weight")
    return ax


def plot_history(history, *, title="Training"):
    """Loss per step (and held-out loss and accuracy, if measured) from ``fit``'s History."""
    with_acc = bool(history.val_acc)
    fig, axes = plt.subplots(1, 2 if with_acc else 1, figsize=(10 if with_acc else 5.5, 3.2),
                             squeeze=False)
    ax = axes[0, 0]
    ax.plot(history.step, history.loss, label="training batch", color="#1f77b4")
    if history.val_loss:
        ax.plot(history.val_step, history.val_loss, "o-", label="held out", color="#ff7f0e")
    ax.set(xlabel="step", ylabel="loss", title=f"{title}: loss")
    ax.set_yscale("log")
    ax.legend()
    if with_acc:
        ax = axes[0, 1]
        ax.plot(history.val_step, history.val_acc, "o-", color="#ff7f0e")
        ax.set(xlabel="step", ylabel="held-out accuracy", ylim=(-0.02, 1.02),
               title=f"{title}: accuracy")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
