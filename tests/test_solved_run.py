"""tools/solved_run.py: how an exercise cell is filled with its solution, and what counts
as the course's code being used on the learner's path."""
import sys
from pathlib import Path

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import solved_run  # noqa: E402

STUB = '''def my_merge_heads(x):
    # YOUR CODE HERE
    return None


exercises.check_merge_heads(my_merge_heads)'''


def test_the_stub_is_replaced_and_the_check_kept():
    solution = "def my_merge_heads(x):\n    B, H, T, D = x.shape\n    return x.transpose(1, 2)"
    assert solved_run.solved(STUB, solution) == (
        solution + "\n\n\nexercises.check_merge_heads(my_merge_heads)")


def test_an_answer_is_replaced_where_it_stood():
    exercise = "answer = None  # YOUR ANSWER HERE (an int)\nexercises.check(answer)"
    assert solved_run.solved(exercise, "answer = 4 * 5") == "answer = 4 * 5\nexercises.check(answer)"


def test_a_solution_for_another_exercise_is_refused():
    with pytest.raises(ValueError, match="which the exercise does not"):
        solved_run.solved(STUB, "def my_split_heads(x):\n    return x")


def _notebook(*cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = list(cells)
    return nb


def test_every_exercise_needs_its_solution_cell():
    exercise = nbformat.v4.new_code_cell(STUB, metadata={"tags": ["exercise"]})
    solution = nbformat.v4.new_markdown_cell(
        "<details><summary>Solution</summary>\n\n```python\ndef my_merge_heads(x):\n"
        "    return x\n```\n</details>", metadata={"tags": ["solution"]})
    assert solved_run.exercises_and_solutions(_notebook(exercise, solution)) == [
        (0, "def my_merge_heads(x):\n    return x\n")]
    with pytest.raises(ValueError, match="no solution cell"):
        solved_run.exercises_and_solutions(_notebook(exercise, exercise, solution))


@pytest.mark.parametrize("text, problem", [
    ("The course's fit: yours has not passed check_fit yet.\n", "used the course's fit"),
    ("✘ Not done yet: your function returned None.\n", "did not pass"),
    ("✔ Each head gets its own slice.\n", None),
])
def test_the_course_s_code_or_a_failed_check_is_a_problem(text, problem):
    cell = nbformat.v4.new_code_cell("x", metadata={"tags": ["exercise"]})
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
    found = solved_run.problems_in(_notebook(cell))
    assert (problem in found[0]) if problem else found == []
