"""One call that makes a notebook's random numbers the same on every run."""
import os
import random

import numpy as np
import torch


def seed_everything(seed: int = 0, *, threads: int | None = 1) -> int:
    """Seed Python's, NumPy's and PyTorch's generators with ``seed``; return it.

    Call it once, at the top of a notebook. Two runs of the same cells then draw the
    same data, the same initial weights and the same batches.

    threads: PyTorch's CPU threads (None leaves the setting alone). A sum split over
    two threads is added up in a different order than over one, so the last digits
    differ, and over hundreds of training steps the difference can grow into a
    different printed accuracy. The course's tiny models run as fast on one thread.
    """
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    if threads is not None:
        torch.set_num_threads(threads)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)  # for subprocesses; this one is already running
    return seed
