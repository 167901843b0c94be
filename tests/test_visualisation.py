"""The static attention heatmap: labels, colour bar, and clear errors."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from helpers.visualisation import plot_attention  # noqa: E402


def test_heatmap_has_labels_on_both_axes_and_a_colour_bar():
    w = torch.softmax(torch.randn(3, 4), -1)
    ax = plot_attention(w, ["I", "saw", "it"], ["a", "b", "c", "d"], title="demo")
    assert [t.get_text() for t in ax.get_yticklabels()] == ["I", "saw", "it"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c", "d"]
    assert len(ax.figure.axes) == 2 and ax.get_title() == "demo"
    assert len(ax.texts) == 12  # annotated weights
    plt.close(ax.figure)


def test_heatmap_drops_leading_ones_and_checks_labels():
    ax = plot_attention(torch.rand(1, 1, 2, 2), ["a", "b"])
    plt.close(ax.figure)
    with pytest.raises(ValueError, match=r"need 2 query and 2 key labels, got 3 and 3"):
        plot_attention(torch.rand(2, 2), ["a", "b", "c"])
    with pytest.raises(ValueError, match=r"one matrix \(T, S\).*got shape \(2, 2, 2\)"):
        plot_attention(torch.rand(2, 2, 2), ["a", "b"])
