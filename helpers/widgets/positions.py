"""PositionExplorer: how similar positions look under each positional scheme (notebook 05)."""
import ipywidgets as widgets
import torch

from helpers.widgets._base import _FigureWidget, _toggle_buttons


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
            "scheme": _toggle_buttons(list(self.similarities), "scheme",
                                      [f"positional scheme: {k}" for k in self.similarities]),
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
