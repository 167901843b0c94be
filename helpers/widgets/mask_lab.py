"""MaskLab: padding and causal masks, and the attention weights they produce (notebook 03)."""
import ipywidgets as widgets
import torch

from helpers.visualisation import plot_attention
from helpers.widgets._base import _FigureWidget, _dropdown, _toggle_buttons


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
            "kind": _toggle_buttons(self.KINDS, "mask", [f"mask: {k}" for k in self.KINDS],
                                    value="padding + causal"),
        }
        controls["sentence"].observe(self._new_sentence, names="value")
        super().__init__(controls, figsize=(8, 3.4))  # fits a 1280x720 slide under its heading

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
