"""SamplingExplorer: temperature, top-k and (optionally) top-p, the next-token distribution
and fresh samples (notebooks 10 and 14)."""
import ipywidgets as widgets
import torch

from helpers.widgets._base import _FigureWidget


class SamplingExplorer(_FigureWidget):
    """Temperature and top-k: see the next-token distribution and fresh samples.

    distribution(temperature, top_k) -> probabilities (V,) of the next token after a prompt
    samples(temperature, top_k, seed) -> a few generated strings
    vocabulary: V labels for the distribution's bars. top_k = 0 means no cut.
    top_p: also show a top-p (nucleus) slider; both callbacks then get ``top_p=`` (None
    when the slider is at 1, no cut). For a large vocabulary, the distribution may return
    the probabilities of a few chosen tokens only (their labels in ``vocabulary``).
    """

    def __init__(self, distribution, samples, vocabulary, *, title="Sampling", top_p=False):
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
        if top_p:
            controls["top_p"] = widgets.FloatSlider(
                value=1.0, min=0.05, max=1.0, step=0.05, readout_format=".2f",
                description="top-p (1 = all)", tooltip="top-p: keep the likeliest tokens "
                "until their probabilities add up to p", **style)
        self.regenerate = widgets.Button(description="regenerate")
        self.regenerate.on_click(self._new_seed)
        super().__init__(controls, figsize=(8, 3.6), extra=[self.regenerate])

    def _new_seed(self, _button=None):
        self.seed += 1
        self.redraw()

    def _extra(self):
        """The top-p keyword for the callbacks, if this explorer has the slider."""
        if "top_p" not in self.controls:
            return {}
        p = self.controls["top_p"].value
        return {"top_p": None if p >= 1 else p}

    @property
    def shown(self):
        c = self.controls
        return torch.as_tensor(self.distribution(c["temperature"].value, c["top_k"].value or None,
                                                 **self._extra()))

    def draw(self, fig):
        c = self.controls
        t, k = c["temperature"].value, c["top_k"].value or None
        left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.6, 1]})
        p = self.shown
        cut = f", top-p {self._extra()['top_p'] or 'off'}" if self._extra() else ""
        left.bar(range(len(p)), p.numpy(), color="#21918c")
        labels = [repr(v)[1:-1] for v in self.vocabulary]
        crowded = sum(len(label) + 1 for label in labels) > 45  # they would overlap
        left.set_xticks(range(len(p)), labels, rotation=45 if crowded else 0,
                        ha="right" if crowded else "center")
        left.set(ylabel="probability", ylim=(0, 1),
                 title=f"next token: temperature {t:.2f}, top-k {k or 'off'}{cut}")
        right.axis("off")
        lines = self.samples(t, k, self.seed, **self._extra())
        right.set_title(f"{self.title} (seed {self.seed})")
        right.text(0.0, 1.0, "\n".join(lines), va="top", family="monospace", fontsize=10,
                   transform=right.transAxes)
