"""AttentionExplorer: browse attention weights by example, layer, head and query token.

Used by notebooks 02, 04, 06, 08 and 13 (every model that hands back its weights).
"""
import torch

from helpers import style
from helpers._checks import shape_str
from helpers.visualisation import plot_attention
from helpers.widgets._base import _FigureWidget, _dropdown, _toggle_buttons


def _per_example(tokens, n, what, shape):
    if tokens and isinstance(tokens[0], (list, tuple)):
        if len(tokens) != n:
            hint = ("; 3-D weights are read as (H, T, S): for N examples of one head pass "
                    "weights[:, None], shape (N, 1, T, S)") if len(shape) == 3 else ""
            raise ValueError(f"{what}: got {len(tokens)} lists of tokens for {n} examples "
                             f"(weights of shape {shape_str(shape)}){hint}")
        return [list(t) for t in tokens]
    return [list(tokens)] * n


class AttentionExplorer(_FigureWidget):
    """Browse attention weights: pick the example, layer, head and query token.

    weights: (T, S), (H, T, S), (n, H, T, S) or (n, L, H, T, S) for n examples, L layers
    and H heads, for instance ``torch.stack`` of what an attention module returned.
    query_tokens, key_tokens: one list of labels for all examples, or one list per example;
    a list shorter than T (or S) shows only that many rows (or columns), hiding padding.
    """

    def __init__(self, weights, query_tokens, key_tokens=None, *, example_names=None,
                 title="Attention weights"):
        w = torch.as_tensor(weights).detach().float().cpu()
        given = w.shape
        if not 2 <= w.dim() <= 5:
            raise ValueError("weights must have shape (T, S), (H, T, S), (N, H, T, S) or "
                             f"(N, L, H, T, S), got {shape_str(w.shape)}")
        if w.dim() == 4:
            w = w[:, None]  # (N, 1, H, T, S)
        while w.dim() < 5:
            w = w[None]
        self.weights = w  # (N, L, H, T, S)
        N, L, H, T, S = w.shape
        self.query_tokens = _per_example(query_tokens, N, "query_tokens", given)
        self.key_tokens = (self.query_tokens if key_tokens is None
                           else _per_example(key_tokens, N, "key_tokens", given))
        for q_toks, k_toks in zip(self.query_tokens, self.key_tokens):
            if len(q_toks) > T or len(k_toks) > S:
                raise ValueError(f"weights have T={T} queries and S={S} keys, but got "
                                 f"{len(q_toks)} query and {len(k_toks)} key labels")
        self.title = title
        names = example_names or [" ".join(map(str, t)) for t in self.query_tokens]
        controls = {  # a control with only one choice is hidden
            "example": _dropdown([(str(n), i) for i, n in enumerate(names)], "example",
                                 value=0, shown=N > 1),
            "layer": _dropdown(list(range(L)), "layer", value=0, shown=L > 1),
            "head": _toggle_buttons(list(range(H)), "head", [f"head {h}" for h in range(H)],
                                    value=0, shown=H > 1),
            "query": _dropdown(self._query_options(0), "query", value=0),
        }
        controls["example"].observe(self._new_example, names="value")
        # Taller for long sentences, so that a heatmap row still holds a line of text
        # (a real model's 17 tokens): up to the style's 5.2 in.
        longest = max(max(len(t) for t in self.query_tokens), max(len(t) for t in self.key_tokens))
        height = min(style.MAX_HEIGHT, max(3.8, 2.0 + 0.2 * longest))
        super().__init__(controls, figsize=(style.FIGURE_WIDTH, height))

    def _query_options(self, example):
        return [(f"{i}: {tok}", i) for i, tok in enumerate(self.query_tokens[example])]

    def _new_example(self, change):
        query = self.controls["query"]
        keep = query.value or 0  # new options reset the value; keep the row if it exists
        query.options = self._query_options(change["new"])
        query.value = min(keep, len(query.options) - 1)

    @property
    def shown(self):
        """The (T, S) matrix on screen now, without padding rows and columns."""
        c = {name: control.value for name, control in self.controls.items()}
        q_toks, k_toks = self.query_tokens[c["example"]], self.key_tokens[c["example"]]
        return self.weights[c["example"], c["layer"], c["head"], :len(q_toks), :len(k_toks)]

    def draw(self, fig):
        c = {name: control.value for name, control in self.controls.items()}
        q_toks, k_toks = self.query_tokens[c["example"]], self.key_tokens[c["example"]]
        query = min(c["query"] or 0, len(q_toks) - 1)
        w = self.shown
        left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.2, 1]})
        where = [f"layer {c['layer']}"] if self.weights.shape[1] > 1 else []
        where += [f"head {c['head']}"] if self.weights.shape[2] > 1 else []
        plot_attention(w, q_toks, k_toks, ax=left, highlight_query=query,
                       title=", ".join([self.title] + where))
        row = w[query]
        bars = right.bar(range(len(k_toks)), row.numpy(), color="#440154")
        bars[int(row.argmax())].set_color("#fde725")
        bars[int(row.argmax())].set_edgecolor("black")
        bar_width = 0.85 * 3.4 / len(k_toks)  # inches: the bar chart gets ~3.4 of the 8
        rotate = max(style.text_inches(t) for t in k_toks) > bar_width
        right.set_xticks(range(len(k_toks)), [str(t) for t in k_toks], rotation=90 if rotate else 0)
        right.set(ylim=(0, 1), ylabel="weight", xlabel="key",
                  title=f"where query {query} ('{q_toks[query]}') looks")
        right.grid(axis="y", alpha=0.3)
