#!/usr/bin/env python3
"""Prove the learner's path: fill every exercise with its solution, run each notebook, and
fail unless every model that trains was made of the learner's code.

    python tools/solved_run.py            # every notebook with exercises
    python tools/solved_run.py 04 06      # only notebooks whose name contains these

The stored notebooks keep their stubs, so nbval checks the fallback path (the course's
pieces). This script checks the other one, as a learner who solved everything runs it:

- each exercise cell (tagged ``exercise``) gets the code of the solution cell after it
  (tagged ``solution``): every top-level definition or assignment of the exercise that the
  solution also defines is replaced by the solution's;
- the notebooks run in order, one fresh kernel each, sharing one new progress folder, so the
  pieces kept in 04 are the ones 06 builds from (``helpers.yours``);
- a notebook fails if a cell raises (a check of a claim included), if an exercise check
  does not pass, or if ``helpers.yours.piece`` hands out the course's version of a piece.
"""
import argparse
import ast
import os
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOLUTION_CODE = re.compile(r"```python\n(.*?)```", re.S)
COURSE_PIECE = re.compile(r"^The course's (\w+): .*$", re.M)
NOT_PASSED = "✘"


def tags(cell) -> list:
    return cell.get("metadata", {}).get("tags", [])


def exercises_and_solutions(notebook) -> list[tuple[int, str]]:
    """(index of each exercise cell, the code of its solution), in order. Fails if an
    exercise has no solution cell before the next exercise."""
    pairs, cells = [], notebook["cells"]
    for i, cell in enumerate(cells):
        if "exercise" not in tags(cell):
            continue
        for later in cells[i + 1:]:
            if "solution" in tags(later):
                code = SOLUTION_CODE.findall("".join(later["source"]))
                pairs.append((i, "\n".join(code)))
                break
            if "exercise" in tags(later):
                break
        if not pairs or pairs[-1][0] != i:
            raise ValueError(f"exercise cell {i} has no solution cell (tagged 'solution') "
                             "before the next exercise")
    return pairs


def _defines(node) -> set:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, ast.Assign):
        return {t.id for t in node.targets if isinstance(t, ast.Name)}
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return {node.target.id}
    return set()


def solved(exercise: str, solution: str) -> str:
    """``exercise`` with each top-level statement that defines a name the solution defines
    replaced by the solution's code (inserted where the first of them stood)."""
    wanted = set().union(*(_defines(n) for n in ast.parse(solution).body))
    lines = exercise.splitlines()
    replaced = [n for n in ast.parse(exercise).body if _defines(n) & wanted]
    if not replaced:
        raise ValueError(f"the solution defines {sorted(wanted)}, which the exercise does not")
    out, skip_until = [], 0
    for number, line in enumerate(lines, start=1):
        node = next((n for n in replaced if _first_line(n) == number), None)
        if node is not None:
            if node is replaced[0]:
                out.append(solution.rstrip())
            skip_until = node.end_lineno
        if number > skip_until:
            out.append(line)
    return "\n".join(out)


def _first_line(node) -> int:
    return min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])


def problems_in(notebook) -> list[str]:
    """What the executed ``notebook`` shows that the learner's path must not: the course's
    version of a piece, or an exercise check that did not pass."""
    found = []
    for i, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        text = "\n".join(_text(output) for output in cell.get("outputs", []))
        for match in COURSE_PIECE.finditer(text):
            found.append(f"cell {i} used the course's {match.group(1)}: {match.group(0)}")
        if "exercise" in tags(cell) and (NOT_PASSED in text or "Passed" not in text
                                         and "✔" not in text):
            found.append(f"cell {i}: the exercise's check did not pass: {text.strip()[:300]}")
    return found


def _text(output) -> str:
    if output.get("output_type") == "stream":
        return output.get("text", "")
    data = output.get("data", {})
    return data.get("text/plain", "") if isinstance(data.get("text/plain", ""), str) else ""


def run(path: Path, progress: Path) -> list[str]:
    """Solve and execute one notebook in a fresh kernel; return its problems."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    notebook = nbformat.read(path, as_version=4)
    for index, solution in exercises_and_solutions(notebook):
        cell = notebook.cells[index]
        cell.source = solved(cell.source, solution)
    os.environ["COURSE_PROGRESS"] = str(progress)
    client = NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute()
    except CellExecutionError as error:
        return [f"a cell raised: {str(error).strip().splitlines()[-1][:400]}"]
    return problems_in(notebook)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("only", nargs="*", help="only notebooks whose name contains these")
    args = parser.parse_args()
    import nbformat

    paths = [p for p in sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
             if (not args.only or any(o in p.name for o in args.only))
             and exercises_and_solutions(nbformat.read(p, as_version=4))]
    failed = 0
    with tempfile.TemporaryDirectory(prefix="course-solved-") as folder:
        progress = Path(folder) / "progress.json"
        for path in paths:
            start = time.perf_counter()
            problems = run(path, progress)
            seconds = time.perf_counter() - start
            print(f"{'✔' if not problems else '✘'} {path.name} ({seconds:.0f} s)", flush=True)
            for problem in problems:
                print(f"    {problem}")
            failed += bool(problems)
        kept = sorted(p.stem for p in (Path(folder) / "yours").glob("*.py"))
        print(f"Pieces kept along the way: {', '.join(kept) or 'none'}")
    if failed:
        print(f"{failed} of {len(paths)} notebooks did not run on the learner's code.")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
