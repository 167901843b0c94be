"""tools/student_copies.py: hand-out notebooks keep no solution and still run."""
import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from student_copies import SOLUTIONS, is_exercise, student_copy  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
WITH_SOLUTIONS = [p for p in NOTEBOOKS if SOLUTIONS.search(p.read_text(encoding="utf-8"))]


def load(path):
    return json.loads(path.read_text(encoding="utf-8"))


def solution_lines(notebook):
    """The lines of the solution blocks that appear nowhere else in the notebook."""
    solutions, rest = [], []
    for cell in notebook["cells"]:
        source = "".join(cell["source"])
        found = SOLUTIONS.findall(source) if cell["cell_type"] == "markdown" else []
        solutions += found
        rest.append(SOLUTIONS.sub("", source))
    elsewhere = "\n".join(rest)
    lines = {line.strip() for block in solutions for line in block.splitlines()}
    return {line for line in lines if len(line) > 12 and line not in elsewhere
            and not re.fullmatch(r"[`<>/\w\s!()?]*", line)}


def test_every_notebook_with_exercises_has_solutions_to_remove():
    with_exercises = [p for p in NOTEBOOKS if any(is_exercise(c) for c in load(p)["cells"])]
    assert with_exercises and with_exercises == WITH_SOLUTIONS


@pytest.mark.parametrize("path", WITH_SOLUTIONS, ids=lambda p: p.name[:2])
def test_no_solution_survives_in_the_copy(path):
    original = load(path)
    lines = solution_lines(original)
    assert len(lines) >= 2, "the solutions of this notebook were not recognised"
    text = json.dumps(student_copy(original), ensure_ascii=False)
    survivors = [line for line in lines if json.dumps(line)[1:-1] in text]
    assert not survivors, f"solution text left in the copy: {survivors[:3]}"
    assert "Solutions (try first!)" not in text
    assert "For the lecturer" not in text and "For the lecturer" in json.dumps(original)


@pytest.mark.parametrize("path", WITH_SOLUTIONS, ids=lambda p: p.name[:2])
def test_the_copy_keeps_every_code_cell_and_clears_only_exercise_outputs(path):
    original, copy = load(path), student_copy(load(path))
    code = [c for c in original["cells"] if c["cell_type"] == "code"]
    copied = [c for c in copy["cells"] if c["cell_type"] == "code"]
    assert [c["source"] for c in code] == [c["source"] for c in copied]
    for before, after in zip(code, copied):
        assert after["outputs"] == ([] if is_exercise(before) else before["outputs"])
    assert "Answers" in json.dumps(copy) or "Answers" not in json.dumps(original)


def test_a_copy_runs_to_its_first_exercise_and_beyond(tmp_path):
    """The hand-out of notebook 01 runs top to bottom in a fresh kernel; its first exercise
    stub says "Not done yet" (it returns None) instead of failing."""
    result = subprocess.run([sys.executable, str(ROOT / "tools/student_copies.py"), "01",
                             "--out", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    path = next((tmp_path / "notebooks").glob("01_*.ipynb"))
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    first = next(c for c in nb.cells if is_exercise(c) and "def my_" in c.source)
    assert "Not done yet" in json.dumps(first.outputs)
    assert (tmp_path / "fig" / "soft_lookup.svg").exists()


def test_an_unknown_selection_says_how_to_select(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "tools/student_copies.py"), "99",
                             "--out", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode != 0 and "select with 03 or masking" in result.stderr


def test_a_demonstration_check_keeps_its_output():
    """01 runs exercises.check_softmax on the course's naive softmax to show a named mistake;
    the text above it refers to that output, so the student copy keeps it."""
    notebook = load(next(p for p in NOTEBOOKS if p.name.startswith("01")))
    demo = [c for c in notebook["cells"] if c["cell_type"] == "code"
            and "".join(c["source"]).strip() == "exercises.check_softmax(naive_softmax)"]
    assert len(demo) == 1 and demo[0]["outputs"] and not is_exercise(demo[0])
    copied = [c for c in student_copy(notebook)["cells"] if c.get("id") == demo[0]["id"]]
    assert copied[0]["outputs"] == demo[0]["outputs"]
