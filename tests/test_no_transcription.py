"""Retrieval, not transcription: the learner meets each exercise before any cell shows the
code or the number that answers it (issue 20; STYLE.md "Exercises before answers").

For every exercise cell (tagged ``exercise``) and its solution cell (tagged ``solution``):
- no line of the solution's code (20 characters or more, not a comment, not a shape
  unpacking such as ``B, T, C = x.shape`` or an idiom such as ``with torch.no_grad():``, not already in the exercise cell's stub) appears in a cell above the exercise, in its source or its output;
- no numeric answer of the solution (``answer = <arithmetic>``) appears above it.
"""
import ast
import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9]*.ipynb"))
SOLUTION_CODE = re.compile(r"```python\n(.*?)```", re.DOTALL)
MIN_LENGTH = 20
GENERIC = {"with torch.no_grad():", "super().__init__()"}  # idioms, not answers
SHAPE_UNPACKING = re.compile(r"^[\w, ]+ = \w+\.shape$")  # B, T, C = x.shape: the notation


def tags(cell):
    return cell.get("metadata", {}).get("tags", [])


def cell_text(cell) -> str:
    """A cell's source and the text of its outputs."""
    parts = ["".join(cell["source"])]
    for output in cell.get("outputs", []):
        parts.append("".join(output.get("text", "")))
        parts.append("".join(output.get("data", {}).get("text/plain", "")))
    return "\n".join(parts)


def pairs(cells):
    """(exercise index, solution code) for every exercise."""
    found = []
    for i, cell in enumerate(cells):
        if "exercise" in tags(cell):
            solution = next(c for c in cells[i + 1:] if "solution" in tags(c))
            found.append((i, "\n".join(SOLUTION_CODE.findall("".join(solution["source"])))))
    return found


def distinctive_lines(solution: str, exercise: str) -> set[str]:
    stub = {line.strip() for line in exercise.splitlines()}
    return {line.strip() for line in solution.splitlines()
            if len(line.strip()) >= MIN_LENGTH and not line.strip().startswith("#")
            and line.strip() not in stub | GENERIC and not SHAPE_UNPACKING.match(line.strip())}


def numeric_answers(solution: str) -> set[str]:
    """The printed forms of each ``answer... = <arithmetic>`` value (ints >= 10)."""
    forms = set()
    for node in ast.parse(solution).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and "answer" in t.id
                                                for t in node.targets):
            try:
                value = eval(compile(ast.Expression(node.value), "<answer>", "eval"),
                             {"__builtins__": {}})
            except Exception:  # not plain arithmetic (a tensor, a call): nothing to look for
                continue
            if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10:
                forms |= {str(value), f"{value:,}"}
    return forms


def test_the_solution_of_every_exercise_is_found():
    assert sum(len(pairs(json.loads(p.read_text())["cells"])) for p in NOTEBOOKS) >= 39


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_no_exercise_is_answered_above_itself(path):
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    found = []
    for index, solution in pairs(cells):
        exercise = "".join(cells[index]["source"])
        lines = distinctive_lines(solution, exercise)
        numbers = numeric_answers(solution)
        for above, cell in enumerate(cells[:index]):
            text = cell_text(cell)
            found += [f"exercise cell {index}: its solution line {line!r} is in cell {above}"
                      for line in lines if line in text]
            found += [f"exercise cell {index}: its answer {number} is shown in cell {above}"
                      for number in numbers if re.search(rf"(?<![\d,.]){re.escape(number)}(?![\d,])", text)]
    assert not found, "\n".join(found)


@pytest.mark.parametrize("solution, answers", [
    ("answer = 4 * (512 * 512 + 512)  # 1,050,624", {"1050624", "1,050,624"}),
    ("answer = 3", set()),
    ("answer_params = 2 ** 10", {"1024", "1,024"}),
    ("answer = torch.tensor(3)", set()),
])
def test_numeric_answers_are_evaluated(solution, answers):
    assert numeric_answers(solution) == answers


def test_a_line_copied_above_is_caught():
    solution = "def f(x):\n    return x.view(B, T, H, D).transpose(1, 2)\n"
    assert distinctive_lines(solution, "def f(x):\n    return None") == {
        "return x.view(B, T, H, D).transpose(1, 2)"}
