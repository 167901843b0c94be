"""ViTExplorer: where a Vision Transformer's class token looks, per layer and head or
rolled out through all layers, and how similar the learned position embeddings are
(notebook 11)."""
import math

import ipywidgets as widgets
import torch
from matplotlib.patches import Rectangle

from helpers._checks import shape_str
from helpers.widgets._base import _FigureWidget, _dropdown, _toggle_buttons


class ViTExplorer(_FigureWidget):
    """Where a Vision Transformer's class token looks: pick an image, a layer (or the
    rollout through all layers) and a head (or their mean). Given the position embeddings,
    "show" switches to how similar one patch's position embedding is to every patch's.

    images: (n, C_in, R, R) or (n, R, R); weights: (n, L, H, T, T) from ``ViT(...,
    need_weights=True)`` with the class token first and T = 1 + grid²; titles: n labels;
    pos_embed: optional, the ViT's E_pos, (1 + G², C) or (1, 1 + G², C), G = grid.
    """

    def __init__(self, images, weights, titles=None, *, pos_embed=None,
                 title="Class token's attention"):
        # widgets must not import vit at load time
        from helpers.vit import attention_rollout, position_similarity

        imgs = torch.as_tensor(images).detach().float().cpu()
        w = torch.as_tensor(weights).detach().float().cpu()
        if imgs.dim() == 4:
            imgs = imgs.mean(dim=1)  # (n, R, R): channels averaged for display
        if imgs.dim() != 3 or w.dim() != 5 or w.shape[0] != imgs.shape[0]:
            raise ValueError(f"images must be (n, C_in, R, R) or (n, R, R) and weights "
                             f"(n, L, H, T, T) for the same n; got {shape_str(imgs.shape)} "
                             f"and {shape_str(w.shape)}")
        grid = math.isqrt(w.shape[-1] - 1)
        if grid * grid != w.shape[-1] - 1:
            raise ValueError(f"weights must have T = 1 + grid² tokens (class token first), got "
                             f"T = {w.shape[-1]}")
        N, L, H = w.shape[:3]
        self.images, self.weights, self.grid, self.title = imgs, w, grid, title
        self.rollout = attention_rollout(w)  # (N, T, T)
        titles = list(titles) if titles is not None else [f"image {i}" for i in range(N)]
        controls = {
            "example": _dropdown([(str(t), i) for i, t in enumerate(titles)], "image",
                                 value=0),
            "layer": _dropdown([(str(i), i) for i in range(L)]
                               + [("rollout (all layers)", "rollout")], "layer", value=L - 1),
            "head": _toggle_buttons([(str(h), h) for h in range(H)] + [("mean", "mean")],
                                    "head", [f"head {h}" for h in range(H)]
                                    + ["the mean of all heads"], value="mean"),
        }
        self.similarity = None
        if pos_embed is not None:
            e = torch.as_tensor(pos_embed).detach().float().cpu()
            self.similarity = position_similarity(e, grid).reshape(grid * grid, grid, grid)
            controls["show"] = _toggle_buttons(
                [("class token's attention", "attention"), ("position similarity", "positions")],
                "show", ["where the class token looks, per layer and head",
                         "cosine similarity of one patch's position embedding to every patch's"],
                value="attention")
            controls["patch"] = widgets.IntSlider(value=0, min=0, max=grid * grid - 1,
                                                  description="patch",
                                                  tooltip="the patch whose position is compared")
        for name in ("layer", "show"):
            if name in controls:
                controls[name].observe(self._enable_controls, names="value")
        super().__init__(controls, figsize=(8, 3.4))
        self._enable_controls()

    def _enable_controls(self, _change=None):
        """Disable the controls that change nothing in the picture now: the heads for the
        rollout (it combines every head of every layer), the layer and the heads when
        position similarity is shown, the patch when attention is."""
        c = self.controls
        positions = self.showing_positions
        c["head"].disabled = positions or c["layer"].value == "rollout"
        c["layer"].disabled = positions
        if "patch" in c:
            c["patch"].disabled = not positions

    @property
    def showing_positions(self) -> bool:
        return "show" in self.controls and self.controls["show"].value == "positions"

    @property
    def shown(self):
        """What is now on screen, (grid, grid): the class token's attention over the
        patches, or the cosine similarity of the chosen patch's position embedding with
        every patch's."""
        c = {name: control.value for name, control in self.controls.items()}
        if self.showing_positions:
            return self.similarity[c["patch"]]
        if c["layer"] == "rollout":
            row = self.rollout[c["example"], 0, 1:]
        else:
            w = self.weights[c["example"], c["layer"]]  # (H, T, T)
            w = w.mean(dim=0) if c["head"] == "mean" else w[c["head"]]
            row = w[0, 1:]
        return row.reshape(self.grid, self.grid)

    def draw(self, fig):
        c = {name: control.value for name, control in self.controls.items()}
        image, attn = self.images[c["example"]], self.shown
        H, W = image.shape
        if self.showing_positions:
            where, scale = f"patch {c['patch']}'s position vs all", dict(vmin=-1, vmax=1)
            label = "cosine similarity of E_pos"
        else:
            where = ("rollout through all layers" if c["layer"] == "rollout"
                     else f"layer {c['layer']}, head {c['head']}")
            scale, label = dict(vmin=0), "weight of the class token"
        left, middle, right = fig.subplots(1, 3)
        left.imshow(image.numpy(), cmap="gray_r")
        left.set_title(self.controls["example"].label)
        middle.imshow(image.numpy(), cmap="gray_r")
        middle.imshow(attn.numpy(), cmap="viridis", alpha=0.6, extent=(-0.5, W - 0.5, H - 0.5, -0.5),
                      **scale)
        middle.set_title("overlaid on the image")
        shown = right.imshow(attn.numpy(), cmap="viridis", **scale)
        right.set_title(where)
        fig.colorbar(shown, ax=right, fraction=0.046, label=label)
        if self.showing_positions:  # outline the chosen patch
            row, col = divmod(c["patch"], self.grid)
            side = H / self.grid
            left.add_patch(Rectangle((col * side - 0.5, row * side - 0.5), side, side, fill=False,
                                     edgecolor="#e66101", lw=3))
            right.add_patch(Rectangle((col - 0.5, row - 0.5), 1, 1, fill=False,
                                      edgecolor="#e66101", lw=3))
        for ax in (left, middle, right):
            ax.set_xticks([])
            ax.set_yticks([])
        fig.suptitle(self.title)
