"""Import torchvision even where its compiled operators cannot load beside this torch.

Used by ``helpers.vit`` (torchvision's ViT, notebook 11), ``helpers.windows`` (Swin,
notebook 12) and ``helpers.pretrained`` (``transformers`` imports torchvision, notebook 13).

A torchvision wheel built for CUDA beside a CPU-only torch cannot load its C++ operators
(nms, roi_align, ...); torchvision 0.28 then fails on import while registering ``nms``:
"operator torchvision::nms does not exist". None of the course's models uses those
operators, so we declare the two operator names that torchvision registers
unconditionally and import again. On a matching install nothing is changed.
"""
import importlib
import sys

import torch

_STUBS = None  # the torch.library.Library that holds the declared names, kept alive


def import_torchvision():
    """Import torchvision (declaring its missing operators if needed); return the package."""
    global _STUBS
    try:
        return importlib.import_module("torchvision")
    except RuntimeError as error:
        if "torchvision::nms" not in str(error):
            raise
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]  # the half-imported package
    _STUBS = torch.library.Library("torchvision", "DEF")
    for op in ("nms", "qnms"):
        _STUBS.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    return importlib.import_module("torchvision")
