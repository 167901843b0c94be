"""Notebook 03's exercise checks: each named mistake of check_padding_mask with its own test."""
import pytest

from helpers import exercises


@pytest.fixture()
def notebook(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_PROGRESS", str(tmp_path / "progress.json"))


def my_padding_mask(lengths, S):
    return (torch_arange(S)[None, :] < lengths[:, None])[:, None, :]  # (B, 1, S)


def torch_arange(S):
    import torch
    return torch.arange(S)


@pytest.mark.parametrize("make, named", [
    (lambda: my_padding_mask, None),
    (lambda: lambda lengths, S: my_padding_mask(lengths, S)[:, 0], "(B, 1, S)"),
    (lambda: lambda lengths, S: ~my_padding_mask(lengths, S), "wrong way round"),
    (lambda: lambda lengths, S: my_padding_mask(lengths + 1, S), "Use <, not <="),
    (lambda: lambda lengths, S: my_padding_mask(lengths, S).int(), "dtype"),
    (lambda: lambda lengths, S: None, "Not done yet"),
])
def test_check_padding_mask_names_each_mistake(notebook, make, named):
    result = exercises.check_padding_mask(make())
    if named is None:
        assert result.passed, result.message
    else:
        assert not result.passed and named in result.message, result.message
