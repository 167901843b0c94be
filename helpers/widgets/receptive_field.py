"""ReceptiveFieldExplorer: which patches one patch can read after b blocks of window
attention, without and with shifted windows (notebook 12)."""
import ipywidgets as widgets
import torch

from helpers.widgets._base import _FigureWidget


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
