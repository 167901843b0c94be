"""The course's one figure style: sized to the notebook column, readable when projected.

Used by every notebook with figures (01-10, through ``import helpers``), by
helpers.visualisation and by helpers.widgets. ``use_course_style()`` runs when ``helpers`` is
imported (``use_course_style``); it changes matplotlib's defaults (rcParams), nothing else.

What was measured (tools/figure_audit.py, tests/test_browser.py): in a 1280×720 window
with the file browser open, JupyterLab 4's output column is COLUMN_PX = 848 px wide. A
PNG wider than that is shrunk to fit, and its text with it: a figure W inches wide saved
at DPI = 100 is shown at min(1, 848 / (100·W)) of its size, so a font of s pt appears as
s · 100/72 · scale px. A 15-inch figure is shown at 57%, and its 8-pt labels at 6 px.

The rules that follow from it:
  * figures at most FIGURE_WIDTH = 8 in wide (800 px: never shrunk in the column) and
    MAX_HEIGHT = 5.2 in tall (what a 720-px screen shows below the browser's bars);
  * no text smaller than SMALLEST_FONT = 10 pt: 13.9 px in the column, still 9 px when
    the whole page is shown at 65% (Presentation Mode at 150% zoom, a small projector);
  * a row of many small panels wraps into a grid (``panel_grid``) instead of shrinking;
  * numbers inside heatmap cells only where a cell can hold them (``fits_numbers``);
  * legends where matplotlib finds free space (``loc="best"``) or beside the axes, on an
    opaque background, never over the data.
Figures in the notebooks ask for ``layout="constrained"``, which keeps labels, colour
bars and titles from overlapping (it is not made a default here, because a cell that
calls ``plt.tight_layout()`` on a constrained figure gets a warning).
"""
import math

import matplotlib as mpl

COLUMN_PX = 848  # JupyterLab 4.6, 1280×720 window, file browser open (measured)
DPI = 100
FIGURE_WIDTH = 8.0  # inches: 800 px at DPI, inside the column with room for the margins
MAX_HEIGHT = 5.2  # inches
SMALLEST_FONT = 10  # points: tick labels, legends, numbers in cells

RC = {
    "figure.figsize": (FIGURE_WIDTH, 3.4),
    "figure.dpi": DPI,
    "savefig.dpi": "figure",
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "xtick.labelsize": SMALLEST_FONT,
    "ytick.labelsize": SMALLEST_FONT,
    "legend.fontsize": SMALLEST_FONT,
    "legend.title_fontsize": SMALLEST_FONT,
    "legend.loc": "best",
    "legend.framealpha": 0.9,
    "figure.titlesize": 13,
    "figure.labelsize": 11,
    "image.cmap": "viridis",
}


def use_course_style():
    """Make the course style matplotlib's defaults in this process (``import helpers``
    does it once; call it again after ``plt.rcdefaults()``)."""
    mpl.rcParams.update(RC)


def panel_grid(n, *, panel_width=2.6, panel_height=2.6, max_columns=None, **kwargs):
    """A figure of ``n`` panels in rows that fit the column: (fig, list of n Axes).

    Panels keep their size and wrap onto a new row when the next would not fit in
    FIGURE_WIDTH; five 2.6-inch heatmaps become a row of 3 and a row of 2, where a
    20-inch row of 5 would be shown at 42%. Unused places of the last row stay empty.
    Example: ``fig, axes = panel_grid(5)`` gives 2 rows of 3 and 5 Axes.
    """
    import matplotlib.pyplot as plt

    if n < 1:
        raise ValueError(f"panel_grid needs at least 1 panel, got n={n}")
    columns = max(1, min(n, int(FIGURE_WIDTH // panel_width), max_columns or n))
    rows = math.ceil(n / columns)
    width = min(FIGURE_WIDTH, columns * panel_width)
    fig, axes = plt.subplots(rows, columns, figsize=(width, rows * panel_height),
                             layout="constrained", squeeze=False, **kwargs)
    flat = list(axes.flat)
    for ax in flat[n:]:
        ax.remove()
    return fig, flat[:n]


def text_inches(text, fontsize=SMALLEST_FONT):
    """About how wide ``text`` is at ``fontsize`` pt, in inches (DejaVu Sans: a digit is
    0.64 em, a dot 0.32 em; other characters are counted as 0.62 em)."""
    em = sum(0.32 if c in ".,:;' " else 0.64 if c.isdigit() else 0.62 for c in str(text))
    return em * fontsize / 72


def fits_numbers(cell_width, cell_height, sample="0.00", fontsize=SMALLEST_FONT):
    """Can a cell of this size (inches) show ``sample`` with a margin on each side?

    A 12-column heatmap 3.6 inches wide has 0.3-inch cells: "0.00" at 10 pt needs 0.31
    inches plus margins, so the numbers would run together ("0.000.000.00") -> False.
    """
    return (cell_width >= text_inches(sample, fontsize) + 0.08
            and cell_height >= 1.5 * fontsize / 72)
