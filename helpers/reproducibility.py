"""Notebooks that show the same thing on every machine: seeds, and checked claims.

Used by every notebook. Two tools:

- ``seed_everything``: the same data, initial weights and batches on every run.
- ``expect``: a claim about a trained model ("100% held-out"), checked with a tolerance.

Why the second one is needed: a trained model's last digits depend on the machine.
PyTorch picks CPU kernels by instruction set (AVX-512, AVX2, none; ARM's NEON), and each
adds up sums in its own order, so after hundreds of steps one machine prints 57.1% where
another prints 57.3%. The notebooks therefore show trained numbers in cells whose output
the tests do not compare, and state each claim as ``expect(...)``: its line (without the
measured value) is compared, and it raises if the model stops learning.
"""
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


class ClaimFailed(AssertionError):
    """A notebook's claim about a trained model did not hold on this run."""


MEASURED = "[measured: {}]"  # tests/sanitize.cfg hides what stands inside the brackets

# The marks of a passed and a failed check. Both are in DejaVu Sans and DejaVu Sans Mono,
# the fonts of a Linux machine with nothing else installed, and in Windows' and macOS's
# default fonts; the emoji ✔ and ✘ are not, and show there as two identical empty boxes.
PASS, FAIL = "✔", "✘"


def expect(condition, claim: str, measured: str = "") -> None:
    """Check one claim; print "✔ claim [measured: ...]", or raise ClaimFailed.

    condition: the check, computed from the data (a bool, or a one-element bool tensor)
    claim: the claim in words, with its tolerance: "held-out accuracy ≥ 99%"
    measured: what this run measured, for the learner: f"{acc:.1%}"

    >>> expect(0.997 >= 0.99, "held-out accuracy ≥ 99%", "99.7%")
    ✔ held-out accuracy ≥ 99% [measured: 99.7%]
    """
    if isinstance(condition, torch.Tensor):
        if condition.numel() != 1 or condition.dtype != torch.bool:
            raise TypeError(f"condition must be one bool, got a tensor of shape "
                            f"{tuple(condition.shape)} and dtype {condition.dtype}; "
                            "reduce it with .all() or .any()")
        condition = bool(condition)
    if not isinstance(condition, (bool, np.bool_)):
        raise TypeError(f"condition must be a bool (a comparison such as acc >= 0.99), "
                        f"got {type(condition).__name__}")
    if not isinstance(claim, str) or not claim.strip():
        raise ValueError("claim must say in words what is expected, e.g. 'accuracy ≥ 99%'")
    line = claim + (" " + MEASURED.format(measured) if measured else "")
    if not condition:
        raise ClaimFailed(f"{FAIL} {line}. The model did not learn what this notebook says it "
                          "does: if you changed a cell above, that change is the likely cause.")
    print(f"{PASS} {line}")  # returns None, so a notebook cell shows the line once
