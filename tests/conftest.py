"""Shared test set-up: one thread per pytest-xdist worker, and a throwaway progress file.

Two workers on two cores each running a multi-threaded PyTorch fight over the cores and
run slower than serial. The kernels that nbval starts inherit this environment.

The exercise checks and flashcards write to the learner's progress file (helpers.progress);
the tests (and the notebooks nbval runs) write to a temporary one instead, never to yours.
"""
import os
import tempfile

os.environ["COURSE_PROGRESS"] = os.path.join(
    tempfile.mkdtemp(prefix="course-test-progress-"), "progress.json")

if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["MKL_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)
