"""Notebook 07's Exercise 2: the learner's loop of notebook 02 grown to helpers.fit's
interface (check_scheduled_fit, the piece ``scheduled_fit`` that notebooks 07-16 train
with); one test per named mistake."""
import sys
from pathlib import Path

import nbformat
import pytest

import helpers
from helpers import exercises, yours
from helpers.exercises.training import check_scheduled_fit  # unrecorded: keeps nothing
from notebook_cells import notebook_cell

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import solved_run  # noqa: E402


def _solutions_in_07(*names):
    """The solution code of notebook 07's exercises that define ``names``: the test runs
    what the notebook shows, so the two cannot drift apart."""
    notebook = nbformat.read(ROOT / "notebooks" / "07_training_deep_encoders.ipynb", as_version=4)
    found = [code for _, code in solved_run.exercises_and_solutions(notebook)
             if any(f"def {name}(" in code for name in names)]
    assert len(found) == len(names), names
    return "\n\n".join(found)


SOLUTION = ("import math\nimport torch\nfrom torch.nn import functional as F\n"
            "from tqdm.auto import tqdm\nfrom helpers.training import History\n\n"
            + _solutions_in_07("my_lr_factor", "my_scheduled_fit"))


@pytest.fixture()
def notebook(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_PROGRESS", str(tmp_path / "progress.json"))
    return notebook_cell(SOLUTION, {"__name__": "__main__"})


def mistake(old, new):
    """The solution with one line changed: ``old`` (which must occur) becomes ``new``."""
    assert old in SOLUTION, old
    return notebook_cell(SOLUTION.replace(old, new), {"__name__": "__main__"})["my_scheduled_fit"]


def test_the_course_fit_passes():
    result = check_scheduled_fit(helpers.fit)
    assert result.passed, result.message


def test_the_solution_passes_and_is_kept_as_the_piece(notebook, capsys):
    result = exercises.check_scheduled_fit(notebook["my_scheduled_fit"])
    assert result.passed, result.message
    text = (yours.yours_dir() / "scheduled_fit.py").read_text()
    assert "def my_scheduled_fit" in text and "def my_lr_factor" in text
    capsys.readouterr()
    mine = yours.piece("scheduled_fit")
    assert capsys.readouterr().out == "Your scheduled_fit (it passed check_scheduled_fit).\n"
    assert yours.is_yours(mine)


def test_without_a_kept_loop_the_course_fit_is_used(notebook, capsys):
    assert yours.piece("scheduled_fit") is helpers.fit
    assert "yours has not passed check_scheduled_fit yet" in capsys.readouterr().out


@pytest.mark.parametrize("old, new, named", [
    ("desc=None,\n                     progress=True, seed=0):",
     "desc=None,\n                     seed=0):", "no keyword progress"),
    ("        optimiser.zero_grad()\n", "", "notebook 02 first: You forgot optimiser.zero_grad()"),
    ("torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)",
     "torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)", "use torch.optim.AdamW"),
    ("torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)",
     "torch.optim.AdamW(model.parameters(), lr=lr)", "pass weight_decay=weight_decay"),
    ("eval_every=None, weight_decay=0.0,", "eval_every=None, weight_decay=0.01,",
     "AdamW's own default is 0.01"),
    ("            group[\"lr\"] = lr * factor", "            group[\"lr\"] = lr",
     "your rate stayed at lr"),
    ("            factor = my_lr_factor(step, steps, warmup)",
     "            factor = my_lr_factor(step - 1, steps, warmup)", "first step ran at rate 0"),
    ("            factor = my_lr_factor(step, steps, warmup)",
     "            factor = my_lr_factor(step + 1, steps, warmup)", "one step ahead"),
    ("        if decay == \"cosine\":", "        if False:", "decay='cosine'"),
    ("        if decay == \"cosine\":", "        if True:", "decay=None"),
    ("            factor = my_lr_factor(step, steps, warmup)",
     "            factor = min(1.0, (step + 2) / warmup) * my_lr_factor(step, steps, 0)",
     "your first rates were"),
    ("        return tuple(x[idx] for x in X) if isinstance(X, tuple) else (X[idx],)",
     "        return (X[idx],)", "X can be a tuple of inputs"),
    ("        return tuple(x[idx] for x in X) if isinstance(X, tuple) else (X[idx],)",
     "        return tuple(x[idx] if i == 0 else x[idx.flip(0)] if isinstance(idx, "
     "torch.Tensor) else x for i, x in enumerate(X)) if isinstance(X, tuple) else (X[idx],)",
     "different rows"),
    ("        return out[0] if isinstance(out, tuple) else out", "        return out[0]",
     "logits alone"),
    ("disable=not progress)", "disable=False)", "progress=False"),
])
def test_each_mistake_is_named(old, new, named):
    result = check_scheduled_fit(mistake(old, new))
    assert not result.passed and named in result.message, result.message


def test_nothing_yet_is_named():
    assert "Not done yet" in check_scheduled_fit(None).message
