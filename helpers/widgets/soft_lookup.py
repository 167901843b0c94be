"""SoftLookupExplorer: a soft dictionary lookup in the plane (notebook 01): move the
query, change the temperature, see the weights and the blended value.
"""
import math

import ipywidgets as widgets
import torch
from matplotlib.transforms import Bbox

from helpers import style
from helpers._checks import shape_str
from helpers.widgets._base import _FigureWidget


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
            # A linear slider: its value is the number it shows, and the one a screen
            # reader announces (a FloatLogSlider announces the exponent, "-1" for 0.100).
            "temperature": widgets.FloatSlider(value=1.0, min=0.05, max=5.0, step=0.05,
                                               readout_format=".2f", description="temperature",
                                               tooltip="temperature: low = a hard lookup, "
                                                       "high = a plain average",
                                               layout=widgets.Layout(width="480px"), **slider),
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
