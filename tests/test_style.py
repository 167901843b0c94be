"""The course's figure style: figures fit the notebook column, text stays legible."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import helpers  # noqa: E402  (applies the style)
from helpers import style  # noqa: E402
from helpers.visualisation import plot_attention  # noqa: E402


def test_importing_helpers_sets_a_column_wide_default_and_legible_fonts():
    assert plt.rcParams["figure.figsize"][0] <= style.FIGURE_WIDTH
    assert style.FIGURE_WIDTH * style.DPI <= style.COLUMN_PX
    for key in ("xtick.labelsize", "ytick.labelsize", "legend.fontsize"):
        assert plt.rcParams[key] >= style.SMALLEST_FONT
    # 10 pt at 100 dpi is 13.9 px: still 9 px when the page is shown at 65%
    assert style.SMALLEST_FONT * style.DPI / 72 * 0.65 >= 9


@pytest.mark.parametrize("n, rows, columns", [(1, 1, 1), (3, 1, 3), (5, 2, 3), (7, 3, 3)])
def test_panel_grid_wraps_instead_of_shrinking(n, rows, columns):
    fig, axes = helpers.panel_grid(n, panel_width=2.6)
    assert len(axes) == n and len(fig.axes) == n
    width, height = fig.get_size_inches()
    assert width <= style.FIGURE_WIDTH and height == pytest.approx(rows * 2.6)
    assert len({round(ax.get_position().x0, 3) for ax in axes}) == columns
    plt.close(fig)
    with pytest.raises(ValueError, match="at least 1 panel, got n=0"):
        helpers.panel_grid(0)


@pytest.mark.parametrize("cell, fits", [(0.5, True), (0.4, True), (0.3, False), (0.2, False)])
def test_numbers_only_in_cells_that_hold_them(cell, fits):
    assert helpers.fits_numbers(cell, cell) is fits


def test_heatmap_numbers_follow_the_cell_size():
    small = plot_attention(torch.softmax(torch.randn(3, 4), -1), list("abc"), list("abcd"))
    assert len(small.texts) == 12 and small.figure.get_size_inches()[0] <= style.FIGURE_WIDTH
    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3.8), layout="constrained")
    crowded = plot_attention(torch.softmax(torch.randn(12, 12), -1), list("abcdefghijkl"), ax=left)
    assert len(crowded.texts) == 0  # 12 columns in half the column: "0.000.000.00"
    for ax in (small, crowded):
        plt.close(ax.figure)


def test_every_explorer_picture_fits_the_column():
    from helpers.widgets import AttentionExplorer, MaskLab, ReceptiveFieldExplorer

    for widget in (AttentionExplorer(torch.rand(2, 4, 12, 12), list("abcdefghijkl")),
                   MaskLab([["the", "cat", "sat"], ["a", "dog"]]), ReceptiveFieldExplorer()):
        width, height = widget.figsize
        assert width <= style.FIGURE_WIDTH and height <= style.MAX_HEIGHT
