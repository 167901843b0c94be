"""SamplingExplorer: temperature and top-k, the next-token distribution and fresh samples
(notebook 08)."""
import ipywidgets as widgets
import torch

from helpers.widgets._base import _FigureWidget


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
            # A linear slider: its value is the number it shows, and the one a screen
            # reader announces (a FloatLogSlider announces the exponent, "-1" for 0.100).
            "temperature": widgets.FloatSlider(value=1.0, min=0.1, max=3.0, step=0.05,
                                               readout_format=".2f", description="temperature",
                                               tooltip="temperature: low = the likeliest "
                                                       "token, high = any token",
                                               **style),
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
