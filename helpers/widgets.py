"""Interactive explorers built on ipywidgets; they take plain tensors, not modules.

Each explorer is a widget box of controls above a picture. Every change of a control
redraws the picture (a PNG in an ``ipywidgets.Image``), so the figure looks the same in
JupyterLab, in a classroom projector and in the static copy: where widgets cannot run
(GitHub, nbviewer), displaying an explorer still shows its current figure as an image.

Used by notebooks 01 (SoftLookupExplorer), 02, 04, 06, 07 (AttentionExplorer), 03
(MaskLab), 05 (PositionExplorer), 08 (SamplingExplorer), 09 (ViTExplorer) and 10
(ReceptiveFieldExplorer). Layout, for a 1280×720 screen (helpers.style): pictures at most
the column's width (8 in at 100 dpi), text at least 10 pt; a row of buttons keeps its
label beside it; a dropdown is as wide as its longest choice, up to the column.
"""
import base64
import io
import math

import ipywidgets as widgets
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.transforms import Bbox

from helpers import style
from helpers._checks import shape_str
from helpers.visualisation import plot_attention


def figure_to_png(fig) -> bytes:
    """Render a matplotlib figure to PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()


def _dropdown(options, description, *, shown=True, **kwargs):
    """A dropdown as wide as its longest choice (up to the column), its label beside it.

    ipywidgets' default is 300 px, which cuts a sentence off after about 30 characters.
    """
    longest = max((len(str(o[0] if isinstance(o, tuple) else o)) for o in options), default=1)
    width = min(style.COLUMN_PX - 20, 60 + 8 * (len(description) + longest))  # ~8 px a character
    return widgets.Dropdown(options=options, description=description,
                            style={"description_width": "initial"},
                            layout=widgets.Layout(width=f"{width}px", max_width="100%",
                                                  display=None if shown else "none"),
                            **kwargs)


def _row_item(control):
    """What the control row shows for ``control``. ToggleButtons get their label in a
    Label beside them, in one box that wraps as a whole: the buttons' own description
    stays on the first line when the buttons wrap, and "head" floats away from them."""
    if not isinstance(control, widgets.ToggleButtons) or not control.description:
        return control
    label = widgets.Label(control.description, layout=widgets.Layout(width="auto"))
    control.description = ""
    return widgets.HBox([label, control],
                        layout=widgets.Layout(display=control.layout.display,
                                              align_items="center", margin="0 12px 0 0"))


class _FigureWidget(widgets.VBox):
    """Controls above a picture; subclasses fill in ``draw(fig)``."""

    def __init__(self, controls: dict, figsize, extra=()):
        """controls: value widgets that redraw on change; extra: more widgets for the row.
        figsize: inches, at most helpers.style.FIGURE_WIDTH wide (the notebook column)."""
        if figsize[0] > style.FIGURE_WIDTH or figsize[1] > style.MAX_HEIGHT:
            raise ValueError(f"figsize {figsize} is larger than the column allows "
                             f"({style.FIGURE_WIDTH}, {style.MAX_HEIGHT})")
        self.controls = controls
        self.figsize = figsize
        self.image = widgets.Image(format="png")
        for control in controls.values():
            control.observe(lambda _change: self.redraw(), names="value")
        visible = [_row_item(c) for c in controls.values() if c.layout.display != "none"]
        row = widgets.HBox(visible + list(extra),
                           layout=widgets.Layout(flex_flow="row wrap", align_items="center"))
        super().__init__([row, self.image])
        self.redraw()

    def redraw(self):
        fig = Figure(figsize=self.figsize, layout="constrained")
        self.draw(fig)
        self.image.value = figure_to_png(fig)

    def draw(self, fig):
        raise NotImplementedError

    def _repr_mimebundle_(self, **kwargs):
        # A static copy of the current figure for renderers without a widget manager.
        bundle = super()._repr_mimebundle_(**kwargs)
        bundle["image/png"] = base64.b64encode(self.image.value).decode("ascii")
        return bundle


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

    weights: (T, S), (H, T, S), (N, H, T, S) or (N, L, H, T, S) for N examples, L layers
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
            "head": widgets.ToggleButtons(options=list(range(H)), value=0, description="head",
                                          style={"button_width": "40px"},
                                          layout=widgets.Layout(
                                              display=None if H > 1 else "none")),
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


class SoftLookupExplorer(_FigureWidget):
    """A soft dictionary lookup in the plane: move the query, change the temperature.

    keys: (S, 2) key vectors, one per item; names: S labels
    values: (S,) numbers that the lookup averages (for instance a rating), default 1..S
    The weights are softmax(q·k / temperature); the output is their average of the values.
    """

    def __init__(self, keys, names, values=None, *, value_name="value",
                 feature_names=("feature 1", "feature 2")):
        k = torch.as_tensor(keys).float()
        if k.dim() != 2 or k.shape[1] != 2:
            raise ValueError(f"keys must have shape (S, 2), got {shape_str(k.shape)}")
        if len(names) != k.shape[0]:
            raise ValueError(f"{k.shape[0]} keys need {k.shape[0]} names, got {len(names)}")
        v = torch.arange(1.0, k.shape[0] + 1) if values is None else torch.as_tensor(values).float()
        if v.shape != (k.shape[0],):
            raise ValueError(f"values must have shape ({k.shape[0]},), got {shape_str(v.shape)}")
        self.key_vectors, self.names, self.values, self.value_name = k, list(names), v, value_name
        self.feature_names = feature_names
        slider = dict(continuous_update=False, style={"description_width": "initial"})
        controls = {
            "angle": widgets.FloatSlider(value=30, min=-180, max=180, step=5,
                                         description="query direction (°)", **slider),
            "length": widgets.FloatSlider(value=1.0, min=0.0, max=3.0, step=0.1,
                                          description="query length", **slider),
            "temperature": widgets.FloatLogSlider(value=1.0, base=10, min=-1.5, max=1.5,
                                                  step=0.1, description="temperature",
                                                  **slider),
        }
        super().__init__(controls, figsize=(8, 4.4))

    @property
    def query(self):
        angle = math.radians(self.controls["angle"].value)
        return self.controls["length"].value * torch.tensor([math.cos(angle), math.sin(angle)])

    @property
    def weights(self):
        """softmax(q·k / temperature) over the keys: (S,)."""
        return torch.softmax(self.key_vectors @ self.query / self.controls["temperature"].value, dim=0)

    @property
    def output(self):
        return float(self.weights @ self.values)

    def draw(self, fig):
        w, q = self.weights, self.query
        left, right = fig.subplots(1, 2, width_ratios=[1.25, 1])  # room for the names
        left.axhline(0, color="grey", lw=0.5)
        left.axvline(0, color="grey", lw=0.5)
        areas = 40 + 1200 * w  # points²
        left.scatter(self.key_vectors[:, 0], self.key_vectors[:, 1], s=areas, c=w, cmap="viridis",
                     vmin=0, vmax=1, edgecolors="black", zorder=3)
        left.annotate("", xy=q.tolist(), xytext=(0, 0),
                      arrowprops=dict(arrowstyle="-|>", color="#e8112d", lw=2.5))
        lim = max(self.key_vectors.abs().max().item(), 3.0) * 1.15
        left.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal", xlabel=self.feature_names[0],
                 ylabel=self.feature_names[1], title="keys (dot size = weight)\nand the query")
        fig.draw_without_rendering()  # the final layout, so that label boxes can be measured
        radii = (areas.sqrt() / 2).tolist()  # points
        dots = [Bbox.from_bounds(*(left.transData.transform(point) - r * fig.dpi / 72),
                                 2 * r * fig.dpi / 72, 2 * r * fig.dpi / 72)
                for point, r in zip(self.key_vectors.tolist(), radii)]
        placed = dots + [_label_beside(left, q.tolist(), "query", dots, color="#e8112d",
                                       fontsize=11, fontweight="bold")]
        for i in w.argsort(descending=True).tolist():  # the heaviest keys choose first
            placed.append(_label_beside(left, self.key_vectors[i].tolist(), self.names[i],
                                        placed, gap=radii[i] + 3))
        order = range(len(self.names))
        right.barh(order, w.numpy(), color="#21918c")
        right.set_yticks(order, self.names)
        right.invert_yaxis()
        right.set(xlim=(0, 1), xlabel="weight = softmax(q·k / temperature)",
                  title=f"output = {self.output:.2f}\nweighted {self.value_name}")
        right.grid(axis="x", alpha=0.3)


def _label_beside(ax, point, text, placed, gap=8, **style_kw):
    """Write ``text`` beside ``point`` where it overlaps none of the boxes in ``placed``
    and stays inside ``ax``: up and right, up and left, down and right, down and left,
    straight above or below, the first that fits, ``gap`` points from the point.
    Returns the label's box (display units), to pass on in ``placed``."""
    d = gap / 2 ** 0.5
    sides = [((d, d), "left", "bottom"), ((-d, d), "right", "bottom"),
             ((d, -d), "left", "top"), ((-d, -d), "right", "top"),
             ((0, gap), "center", "bottom"), ((0, -gap), "center", "top")]
    style_kw.setdefault("fontsize", style.SMALLEST_FONT)
    for offset, ha, va in sides:
        label = ax.annotate(text, point, xytext=offset, textcoords="offset points", ha=ha, va=va,
                            **style_kw)
        box = label.get_window_extent()
        inside = ax.bbox.x0 <= box.x0 and box.x1 <= ax.bbox.x1 and ax.bbox.y0 <= box.y0 \
            and box.y1 <= ax.bbox.y1
        if inside and not any(box.padded(4).overlaps(other) for other in placed):
            return box
        label.remove()
    # Nowhere free: the first place, overlap and all (more keys than room).
    offset, ha, va = sides[0]
    return ax.annotate(text, point, xytext=offset, textcoords="offset points", ha=ha, va=va,
                       **style_kw).get_window_extent()


class MaskLab(_FigureWidget):
    """Choose a sentence, how many of its tokens are real, the padded length and the mask
    kind; see the mask and the attention weights it produces.

    sentences: lists of words. The scores come from fixed random word embeddings (seeded),
    so the picture changes only when a control does.
    """

    KINDS = ("none", "padding", "causal", "padding + causal")

    def __init__(self, sentences, *, pad_token="<pad>", width=16, seed=0):
        if not sentences or not all(isinstance(s, (list, tuple)) and s for s in sentences):
            raise ValueError("sentences must be a non-empty list of non-empty lists of words")
        self.sentences, self.pad_token = [list(s) for s in sentences], pad_token
        vocab = sorted({w for s in self.sentences for w in s} | {pad_token})
        g = torch.Generator().manual_seed(seed)
        # Small embeddings give soft weights; large ones would make every token see itself.
        self.embedding = dict(zip(vocab, 0.4 * torch.randn(len(vocab), width, generator=g)))
        longest = max(len(s) for s in self.sentences)
        style = dict(style={"description_width": "initial"}, continuous_update=False)
        controls = {
            "sentence": _dropdown([(" ".join(s), i) for i, s in enumerate(self.sentences)],
                                  "sentence", value=0),
            "length": widgets.IntSlider(value=len(self.sentences[0]), min=1,
                                        max=len(self.sentences[0]),
                                        description="real tokens", **style),
            "padded": widgets.IntSlider(value=longest + 2, min=longest, max=longest + 6,
                                        description="padded length", **style),
            "kind": widgets.ToggleButtons(options=self.KINDS, value="padding + causal",
                                          description="mask"),
        }
        controls["sentence"].observe(self._new_sentence, names="value")
        super().__init__(controls, figsize=(8, 4.2))

    def _new_sentence(self, change):
        n = len(self.sentences[change["new"]])
        self.controls["length"].max = n
        self.controls["length"].value = n

    @property
    def tokens(self):
        c = self.controls
        words = self.sentences[c["sentence"].value][:c["length"].value]
        return words + [self.pad_token] * (c["padded"].value - len(words))

    @property
    def mask(self):
        """The (T, T) mask on screen: True = may attend."""
        from helpers.masks import causal_mask, combine, padding_mask

        kind, T = self.controls["kind"].value, self.controls["padded"].value
        padding = padding_mask(torch.tensor([self.controls["length"].value]), T)[0]  # (1, T)
        chosen = {"none": None, "padding": padding, "causal": causal_mask(T),
                  "padding + causal": combine(padding, causal_mask(T))}[kind]
        return torch.ones(T, T, dtype=torch.bool) if chosen is None else chosen.expand(T, T)

    @property
    def weights(self):
        from helpers.attention import scaled_dot_product_attention

        x = torch.stack([self.embedding[w] for w in self.tokens])  # (T, C)
        return scaled_dot_product_attention(x, x, x, self.mask)[1]  # (T, T)

    def draw(self, fig):
        tokens, mask, w = self.tokens, self.mask, self.weights
        left, right = fig.subplots(1, 2)
        left.imshow(mask.numpy(), cmap="gray", vmin=0, vmax=1)
        left.set_xticks(range(len(tokens)), tokens, rotation=90)
        left.set_yticks(range(len(tokens)), tokens)
        left.xaxis.tick_top()
        left.xaxis.set_label_position("top")
        left.set(xlabel="key", ylabel="query")
        left.set_title(f"mask '{self.controls['kind'].value}' (white = may attend)", pad=12)
        plot_attention(w, tokens, ax=right, annotate=False, colorbar=True,
                       title="attention weights (rows sum to 1)")
        real = self.controls["length"].value
        leaked = w[:real, real:].sum(-1).mean().item()  # per real query
        right.set_xlabel(f"key — mean weight a real token puts on padding: {leaked:.3f}")


class PositionExplorer(_FigureWidget):
    """Compare positional schemes: pick a scheme and a position, see how similar every
    other position looks to it.

    similarities: {scheme name: (T, T) tensor}, for instance from
    ``helpers.positional.relative_similarity``.
    """

    def __init__(self, similarities: dict, *, value_label="similarity"):
        if not similarities:
            raise ValueError("similarities must name at least one scheme")
        self.similarities = {k: torch.as_tensor(v).detach().float() for k, v in similarities.items()}
        shapes = {tuple(v.shape) for v in self.similarities.values()}
        if len(shapes) != 1 or len(next(iter(shapes))) != 2:
            raise ValueError(f"every scheme needs one (T, T) matrix of the same size, got {shapes}")
        T = next(iter(shapes))[0]
        self.value_label = value_label
        controls = {
            "scheme": widgets.ToggleButtons(options=list(self.similarities), description="scheme"),
            "position": widgets.IntSlider(value=T // 2, min=0, max=T - 1, description="position",
                                          continuous_update=False),
        }
        super().__init__(controls, figsize=(8, 3.6))

    @property
    def shown(self):
        """The row on screen: similarity of the chosen position to every position (T,)."""
        return self.similarities[self.controls["scheme"].value][self.controls["position"].value]

    def draw(self, fig):
        name, p = self.controls["scheme"].value, self.controls["position"].value
        matrix = self.similarities[name]
        left, right = fig.subplots(1, 2)
        image = left.imshow(matrix.numpy(), cmap="viridis")
        left.axhline(p, color="#e8112d", lw=2)
        left.set(xlabel="position", ylabel="position", title=f"{name}: {self.value_label} of every pair")
        # The colour bar is unlabelled beside the right panel's y label, which would read
        # as one label "similarity similarity"; the titles say what the colours are.
        fig.colorbar(image, ax=left, fraction=0.046)
        right.plot(self.shown.numpy(), "o-", color="#21918c", ms=3)
        right.axvline(p, color="#e8112d", ls="--", lw=1)
        right.set(xlabel="other position", ylabel=f"{self.value_label} to position {p}",
                  title=f"row {p}: position {p} against all")
        fig.get_layout_engine().set(wspace=0.08)
        right.grid(alpha=0.3)


class SamplingExplorer(_FigureWidget):
    """Temperature and top-k: see the next-token distribution and fresh samples.

    distribution(temperature, top_k) -> probabilities (V,) of the next token after a prompt
    samples(temperature, top_k, seed) -> a few generated strings
    vocabulary: V labels for the distribution's bars. top_k = 0 means no cut.
    """

    def __init__(self, distribution, samples, vocabulary, *, title="Sampling"):
        self.distribution, self.samples, self.vocabulary = distribution, samples, list(vocabulary)
        self.title, self.seed = title, 0
        style = dict(continuous_update=False, style={"description_width": "initial"})
        controls = {
            "temperature": widgets.FloatLogSlider(value=1.0, base=10, min=-1, max=1, step=0.1,
                                                  description="temperature", **style),
            "top_k": widgets.IntSlider(value=0, min=0, max=len(self.vocabulary),
                                       description="top-k (0 = all)", **style),
        }
        self.regenerate = widgets.Button(description="regenerate")
        self.regenerate.on_click(self._new_seed)
        super().__init__(controls, figsize=(8, 3.6), extra=[self.regenerate])

    def _new_seed(self, _button=None):
        self.seed += 1
        self.redraw()

    @property
    def shown(self):
        c = self.controls
        return torch.as_tensor(self.distribution(c["temperature"].value, c["top_k"].value or None))

    def draw(self, fig):
        c = self.controls
        t, k = c["temperature"].value, c["top_k"].value or None
        left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.6, 1]})
        p = self.shown
        left.bar(range(len(p)), p.numpy(), color="#21918c")
        left.set_xticks(range(len(p)), [repr(v)[1:-1] for v in self.vocabulary])
        left.set(ylabel="probability", ylim=(0, 1),
                 title=f"next token: temperature {t:.2f}, top-k {k or 'off'}")
        right.axis("off")
        lines = self.samples(t, k, self.seed)
        right.set_title(f"{self.title} (seed {self.seed})")
        right.text(0.0, 1.0, "\n".join(lines), va="top", family="monospace", fontsize=10,
                   transform=right.transAxes)


class ViTExplorer(_FigureWidget):
    """Where a Vision Transformer's class token looks: pick an image, a layer (or the
    rollout through all layers) and a head (or their mean). Given the position embeddings,
    "show" switches to how similar one patch's position embedding is to every patch's.

    images: (N, C, H, W) or (N, H, W); weights: (N, L, Hd, T, T) from ``ViT(...,
    need_weights=True)`` with the class token first and T = 1 + grid²; titles: N labels;
    pos_embed: optional, the ViT's E_pos, (1 + grid², d) or (1, 1 + grid², d).
    """

    def __init__(self, images, weights, titles=None, *, pos_embed=None,
                 title="Class token's attention"):
        # widgets must not import vit at load time
        from helpers.vit import attention_rollout, position_similarity

        imgs = torch.as_tensor(images).detach().float().cpu()
        w = torch.as_tensor(weights).detach().float().cpu()
        if imgs.dim() == 4:
            imgs = imgs.mean(dim=1)  # (N, H, W): channels averaged for display
        if imgs.dim() != 3 or w.dim() != 5 or w.shape[0] != imgs.shape[0]:
            raise ValueError(f"images must be (N, C, H, W) or (N, H, W) and weights "
                             f"(N, L, H, T, T) for the same N; got {shape_str(imgs.shape)} "
                             f"and {shape_str(w.shape)}")
        grid = math.isqrt(w.shape[-1] - 1)
        if grid * grid != w.shape[-1] - 1:
            raise ValueError(f"weights must have T = 1 + grid² tokens (class token first), got "
                             f"T = {w.shape[-1]}")
        N, L, H = w.shape[:3]
        self.images, self.weights, self.grid, self.title = imgs, w, grid, title
        self.rollout = attention_rollout(w)  # (N, T, T)
        titles = list(titles) if titles is not None else [f"image {i}" for i in range(N)]
        controls = {
            "example": _dropdown([(str(t), i) for i, t in enumerate(titles)], "image",
                                 value=0),
            "layer": _dropdown([(str(i), i) for i in range(L)]
                               + [("rollout (all layers)", "rollout")], "layer", value=L - 1),
            "head": widgets.ToggleButtons(options=[(str(h), h) for h in range(H)]
                                          + [("mean", "mean")], value="mean",
                                          description="head", style={"button_width": "48px"}),
        }
        self.similarity = None
        if pos_embed is not None:
            e = torch.as_tensor(pos_embed).detach().float().cpu()
            self.similarity = position_similarity(e, grid).reshape(grid * grid, grid, grid)
            controls["show"] = widgets.ToggleButtons(
                options=[("class token's attention", "attention"),
                         ("position similarity", "positions")],
                value="attention", description="show", style={"button_width": "160px"})
            controls["patch"] = widgets.IntSlider(value=0, min=0, max=grid * grid - 1,
                                                  description="patch")
        super().__init__(controls, figsize=(8, 3.4))

    @property
    def showing_positions(self) -> bool:
        return "show" in self.controls and self.controls["show"].value == "positions"

    @property
    def shown(self):
        """What is now on screen, (grid, grid): the class token's attention over the
        patches, or the cosine similarity of the chosen patch's position embedding with
        every patch's."""
        c = {name: control.value for name, control in self.controls.items()}
        if self.showing_positions:
            return self.similarity[c["patch"]]
        if c["layer"] == "rollout":
            row = self.rollout[c["example"], 0, 1:]
        else:
            w = self.weights[c["example"], c["layer"]]  # (H, T, T)
            w = w.mean(dim=0) if c["head"] == "mean" else w[c["head"]]
            row = w[0, 1:]
        return row.reshape(self.grid, self.grid)

    def draw(self, fig):
        c = {name: control.value for name, control in self.controls.items()}
        image, attn = self.images[c["example"]], self.shown
        H, W = image.shape
        if self.showing_positions:
            where, scale = f"patch {c['patch']}'s position vs all", dict(vmin=-1, vmax=1)
            label = "cosine similarity of E_pos"
        else:
            where = ("rollout through all layers" if c["layer"] == "rollout"
                     else f"layer {c['layer']}, head {c['head']}")
            scale, label = dict(vmin=0), "weight of the class token"
        left, middle, right = fig.subplots(1, 3)
        left.imshow(image.numpy(), cmap="gray_r")
        left.set_title(self.controls["example"].label)
        middle.imshow(image.numpy(), cmap="gray_r")
        middle.imshow(attn.numpy(), cmap="viridis", alpha=0.6, extent=(-0.5, W - 0.5, H - 0.5, -0.5),
                      **scale)
        middle.set_title("overlaid on the image")
        shown = right.imshow(attn.numpy(), cmap="viridis", **scale)
        right.set_title(where)
        fig.colorbar(shown, ax=right, fraction=0.046, label=label)
        if self.showing_positions:  # outline the chosen patch
            row, col = divmod(c["patch"], self.grid)
            side = H / self.grid
            left.add_patch(Rectangle((col * side - 0.5, row * side - 0.5), side, side, fill=False,
                                     edgecolor="#e66101", lw=3))
            right.add_patch(Rectangle((col - 0.5, row - 0.5), 1, 1, fill=False,
                                      edgecolor="#e66101", lw=3))
        for ax in (left, middle, right):
            ax.set_xticks([])
            ax.set_yticks([])
        fig.suptitle(self.title)


_REACHED = torch.tensor([[0.91, 0.91, 0.91], [0.0, 0.447, 0.698]])  # RGB: grey no path, blue a path


class ReceptiveFieldExplorer(_FigureWidget):
    """Which input patches one patch's output can depend on after b blocks of window
    attention, without and with shifted windows, side by side: pick a patch and step
    through the blocks. Window borders of the block just applied are drawn in black.

    grid: the map is grid×grid patches; window_size: M (grid must be a multiple of M);
    num_blocks: how many blocks the slider can step through.
    """

    def __init__(self, grid: int = 8, window_size: int = 4, num_blocks: int = 4, *,
                 title="Receptive field of one patch"):
        from helpers.windows import receptive_field  # widgets must not import windows at load time

        self.grid, self.window_size, self.title = grid, window_size, title
        self.fields = {shifted: receptive_field(grid, window_size, num_blocks, shifted)
                       for shifted in (False, True)}  # (num_blocks + 1, N, N) each
        controls = {
            "row": widgets.IntSlider(value=0, min=0, max=grid - 1, description="patch row"),
            "col": widgets.IntSlider(value=0, min=0, max=grid - 1, description="patch col"),
            "block": widgets.IntSlider(value=1, min=0, max=num_blocks, description="after block"),
        }
        super().__init__(controls, figsize=(8, 4.2))

    @property
    def shown(self):
        """The two receptive fields now on screen: (2, grid, grid) bool, windows only first."""
        c = {name: control.value for name, control in self.controls.items()}
        patch = c["row"] * self.grid + c["col"]
        return torch.stack([self.fields[shifted][c["block"], patch].view(self.grid, self.grid)
                            for shifted in (False, True)])

    def draw(self, fig):
        c = {name: control.value for name, control in self.controls.items()}
        G, M, b = self.grid, self.window_size, c["block"]
        axes = fig.subplots(1, 2)
        for ax, field, shifted in zip(axes, self.shown, (False, True)):
            ax.imshow(_REACHED[field.long()].numpy())  # (grid, grid, 3)
            ax.plot(c["col"], c["row"], "x", color="#d55e00", ms=14, mew=3)
            offset = M // 2 if shifted and b >= 1 and (b - 1) % 2 else 0  # block b's windows
            if b >= 1:
                for k in range(G // M + 1):
                    position = k * M - 0.5 - offset
                    if -0.5 < position < G - 0.5:
                        ax.axhline(position, color="black", lw=2.5)
                        ax.axvline(position, color="black", lw=2.5)
            kind = "shifted windows" if shifted else "windows only"  # blue: can reach the ×
            ax.set(title=f"{kind}: {int(field.sum())} of {G * G} patches",
                   xticks=range(G), yticks=range(G), xlim=(-0.5, G - 0.5), ylim=(G - 0.5, -0.5),
                   xlabel="column", ylabel="row")
        fig.suptitle(f"{self.title} (×) after {b} block{'s' if b != 1 else ''}, M = {M}: "
                     "blue patches can reach it")
