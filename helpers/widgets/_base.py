"""What every explorer shares (notebooks 01-14): controls above a picture, the picture as
a PNG, and the controls' layout for a 1280×720 screen (helpers.style).

Layout rules: pictures at most the column's width (8 in at 100 dpi), text at least 10 pt;
a row of buttons keeps its label beside it; a dropdown is as wide as its longest choice,
up to the column; a toggle button is as wide as its label, which it shows whole, with a
tooltip; every control has a tooltip (ipywidgets writes a missing one into the page as
``title="null"``).
"""
import base64
import io

import ipywidgets as widgets
from matplotlib.figure import Figure

from helpers import style

CHARACTER_PX = 8  # a character of the widgets' 13-px font, generously
BUTTON_PADDING_PX = 32  # a toggle button's padding and border (ipywidgets: 12 px a side)


def figure_to_png(fig) -> bytes:
    """Render a matplotlib figure to PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()


def _label_of(option) -> str:
    return str(option[0] if isinstance(option, tuple) else option)


def _dropdown(options, description, *, shown=True, **kwargs):
    """A dropdown as wide as its longest choice (up to the column), its label beside it.

    ipywidgets' default is 300 px, which cuts a sentence off after about 30 characters.
    """
    longest = max((len(_label_of(o)) for o in options), default=1)
    width = min(style.COLUMN_PX - 20, 60 + CHARACTER_PX * (len(description) + longest))
    kwargs.setdefault("tooltip", f"choose the {description}")
    return widgets.Dropdown(options=options, description=description,
                            style={"description_width": "initial"},
                            layout=widgets.Layout(width=f"{width}px", max_width="100%",
                                                  display=None if shown else "none"),
                            **kwargs)


def _toggle_buttons(options, description, tooltips=None, *, shown=True, **kwargs):
    """A row of buttons, each as wide as the longest label, so that no label is cut
    ("mean" shown as "m…"); ``tooltips`` (one per option, default the label) appear on
    hover and name the choice in full."""
    labels = [_label_of(o) for o in options]
    tooltips = list(tooltips) if tooltips is not None else labels
    if len(tooltips) != len(labels):
        raise ValueError(f"{len(labels)} options need {len(labels)} tooltips, "
                         f"got {len(tooltips)}")
    width = BUTTON_PADDING_PX + CHARACTER_PX * max(len(label) for label in labels)
    kwargs.setdefault("tooltip", f"choose the {description}")
    return widgets.ToggleButtons(options=options, description=description, tooltips=tooltips,
                                 style={"button_width": f"{width}px"},
                                 layout=widgets.Layout(display=None if shown else "none"),
                                 **kwargs)


def _row_item(control):
    """What the control row shows for ``control``. ToggleButtons get their label in a
    Label beside them, in one box that wraps as a whole: the buttons' own description
    stays on the first line when the buttons wrap, and "head" floats away from them."""
    if not isinstance(control, widgets.ToggleButtons) or not control.description:
        return control
    label = widgets.Label(control.description, tooltip=control.tooltip,
                          layout=widgets.Layout(width="auto"))
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
        for control in [*controls.values(), *extra]:
            if control.tooltip is None:  # else the page shows title="null"
                control.tooltip = control.description
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
