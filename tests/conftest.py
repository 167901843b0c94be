"""Shared test set-up: one thread per pytest-xdist worker, and a throwaway progress file.

Two workers on two cores each running a multi-threaded PyTorch fight over the cores and
run slower than serial. The kernels that nbval starts inherit this environment.

The exercise checks and flashcards write to the learner's progress file (helpers.progress)
and keep the learner's pieces beside it (helpers.yours); the tests (and the notebooks nbval
runs) write to a temporary one instead, never to yours. Every test gets an empty one, so a
piece that one test keeps never reaches a notebook that nbval runs later in the same worker
(the kernel inherits the folder set before the notebook's first cell).
"""
import os
import tempfile

import pytest


def _fresh_progress() -> None:
    os.environ["COURSE_PROGRESS"] = os.path.join(
        tempfile.mkdtemp(prefix="course-test-progress-"), "progress.json")


_fresh_progress()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    _fresh_progress()

if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["MKL_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)
