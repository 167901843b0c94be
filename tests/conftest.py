"""Shared test set-up: one thread per pytest-xdist worker.

Two workers on two cores each running a multi-threaded PyTorch fight over the cores and
run slower than serial. The kernels that nbval starts inherit this environment.
"""
import os

if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["MKL_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)
