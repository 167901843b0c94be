"""Notebook 14's Exercise 7: the whole Llama around the learner's block (check_llama, the
piece ``Llama`` that load_smollm2 builds SmolLM2 from); one test per named mistake. The
solution is read from the notebook, so the test and what the learner sees cannot drift."""
import sys
from pathlib import Path

import nbformat
import pytest

from helpers import exercises, yours
from helpers.exercises.llama import check_llama  # unrecorded: keeps nothing
from helpers.llama import Llama
from notebook_cells import notebook_cell

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import solved_run  # noqa: E402

_NOTEBOOK = nbformat.read(ROOT / "notebooks" / "14_modern_small_llm.ipynb", as_version=4)
_INDEX, _CODE = next((i, code) for i, code in solved_run.exercises_and_solutions(_NOTEBOOK)
                     if "class MyLlama(" in code)
# The exercise cell with its stub replaced by the solution (new_caches and step stay as given),
# after what the notebook defined above it: torch, nn and the learner's MyRMSNorm.
SOLUTION = ("import torch\nfrom torch import nn\nfrom helpers.llama import RMSNorm as MyRMSNorm\n"
            + solved_run.solved(_NOTEBOOK.cells[_INDEX].source, _CODE)
            .replace("exercises.check_llama(MyLlama)", ""))


def my_llama(source):
    """The class MyLlama that ``source``, run as a notebook cell, defines."""
    return notebook_cell(source, {"__name__": "__main__"})["MyLlama"]


def test_the_course_llama_passes():
    result = check_llama(Llama)
    assert result.passed, result.message


def test_the_solution_passes_and_is_kept_as_the_piece(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_PROGRESS", str(tmp_path / "progress.json"))
    result = exercises.check_llama(my_llama(SOLUTION))
    assert result.passed, result.message
    capsys.readouterr()
    mine = yours.piece("Llama")
    assert capsys.readouterr().out == "Your Llama (it passed check_llama).\n"
    assert yours.is_yours(mine) and "def new_caches" in (yours.yours_dir() / "Llama.py").read_text()


@pytest.mark.parametrize("old, new, named", [
    ("        hidden.append(self.final_norm(h))", "        hidden.append(h)", "final RMSNorm is missing"),
    ("        h = self.token(idx)  #", "        h = self.token(idx) * self.config.d_model ** 0.5  #",
     "scaled the embeddings"),
    ("            h, w = block(h, None,", "            _, w = block(h, None,", "thrown away"),
    ("hidden[-1] @ self.token.weight.T", "hidden[-1] @ self.token.weight.detach().T",
     "used twice"),
    ("        self.final_norm = MyRMSNorm(config.d_model, config.norm_eps)",
     "        self.final_norm = MyRMSNorm(config.d_model, config.norm_eps)\n"
     "        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)",
     "own output layer"),
    ("        self.final_norm = MyRMSNorm(config.d_model, config.norm_eps)",
     "        self.final_norm = MyRMSNorm(config.d_model, config.norm_eps)\n"
     "        self.positions = nn.Embedding(config.context_length, config.d_model)",
     "position table"),
    ("(torch.stack(weights, dim=1) if need_weights else None)", "None", "need_weights=True"),
    ("        hidden, weights = [h], []", "        hidden, weights = [], []", "gives 4"),
    ("None if caches is None else caches[i]", "None", "each block must get its own cache"),
    ("None if caches is None else caches[i]", "None if caches is None else caches[0]",
     "Every block wrote into the first cache"),
    ("        return hidden[-1] @ self.token.weight.T, weights", "        return hidden[-1] @ self.token.weight.T",
     "returns a pair"),
])
def test_each_mistake_is_named(old, new, named):
    assert old in SOLUTION, old
    result = check_llama(my_llama(SOLUTION.replace(old, new)))
    assert not result.passed and named in result.message, result.message


def test_the_stub_is_not_done():
    stub = _NOTEBOOK.cells[_INDEX].source.replace("exercises.check_llama(MyLlama)", "")
    result = check_llama(my_llama("import torch\nfrom torch import nn\n" + stub))
    assert not result.passed and "Not done yet" in result.message, result.message
