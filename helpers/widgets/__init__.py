"""Interactive explorers built on ipywidgets; they take plain tensors, not modules.

Each explorer is a widget box of controls above a picture. Every change of a control
redraws the picture (a PNG in an ``ipywidgets.Image``), so the figure looks the same in
JupyterLab, in a classroom projector and in the static copy: where widgets cannot run
(GitHub, nbviewer), displaying an explorer still shows its current figure as an image.

One module per explorer, each naming its notebook:

- ``soft_lookup``: SoftLookupExplorer (01)
- ``attention``: AttentionExplorer (02, 04, 06, 08, 13)
- ``mask_lab``: MaskLab (03)
- ``positions``: PositionExplorer (05)
- ``sampling``: SamplingExplorer (10, 14)
- ``chat``: ChatBox (14), a question box rather than a picture
- ``vit``: ViTExplorer (11)
- ``receptive_field``: ReceptiveFieldExplorer (12)
- ``_base``: what they share (the picture, the control row, the layout for a 1280×720
  screen)
"""
from helpers.widgets._base import figure_to_png
from helpers.widgets.attention import AttentionExplorer
from helpers.widgets.chat import ChatBox
from helpers.widgets.mask_lab import MaskLab
from helpers.widgets.positions import PositionExplorer
from helpers.widgets.receptive_field import ReceptiveFieldExplorer
from helpers.widgets.sampling import SamplingExplorer
from helpers.widgets.soft_lookup import SoftLookupExplorer
from helpers.widgets.vit import ViTExplorer

__all__ = [
    "AttentionExplorer", "ChatBox", "MaskLab", "PositionExplorer", "ReceptiveFieldExplorer",
    "SamplingExplorer", "SoftLookupExplorer", "ViTExplorer", "figure_to_png",
]
