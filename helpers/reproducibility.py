"""One call that makes a notebook's random numbers the same on every run."""
import os
import random

import numpy as np
import torch


def seed_everything(seed: int = 0) -> int:
    """Seed Python's, NumPy's and PyTorch's generators with ``seed``; return it.

    Call it once, at the top of a notebook. Two runs of the same cells then draw the
    same data, the same initial weights and the same batches.
    """
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)  # for subprocesses; this one is already running
    return seed
