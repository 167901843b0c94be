#!/usr/bin/env python3
"""Write copies of the notebooks to hand out: solutions removed, exercise outputs cleared.

    python3 course.py student                 # every notebook -> student/
    python3 course.py student 03 06 --out /tmp/class

What changes in a copy, and nothing else:
- every ``<details><summary>Solutions ...</summary> ... </details>`` block is cut out of
  the markdown (the quick questions' "Answers" blocks stay: they are for recall, not
  exercises); a markdown cell left empty is dropped;
- the exercise cells (those with a ``# YOUR CODE HERE`` stub that call
  ``exercises.check_...``) lose their stored output,
  so the learner sees no "Not done yet" message before trying;
- the ``> **For the lecturer.**`` box under the title (speaker notes) is dropped.
Every other cell, its outputs and the notebook's widget state are kept as they are.
"""
import argparse
import json
import re
import sys
from pathlib import Path

from _select import select_notebooks  # tools/_select.py

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = re.compile(r"<details>\s*<summary>\s*Solutions?\b.*?</details>\s*",
                       re.DOTALL | re.IGNORECASE)


LECTURER_NOTES = "> **For the lecturer.**"


EXERCISE_MARK = re.compile(r"#\s*YOUR (CODE|ANSWER) HERE")


def is_exercise(cell: dict) -> bool:
    """A cell the learner fills in: a stub with its check. A demonstration that calls a check
    on the course's own code (01: exercises.check_softmax(naive_softmax)) is not one, and
    keeps its output: the text above it refers to what it shows."""
    source = "".join(cell["source"])
    return (cell["cell_type"] == "code" and "exercises.check_" in source
            and EXERCISE_MARK.search(source) is not None)


def student_copy(notebook: dict) -> dict:
    """The hand-out version of one notebook (a new dict; the original is not changed)."""
    copy = json.loads(json.dumps(notebook))
    cells = []
    for cell in copy["cells"]:
        if cell["cell_type"] == "markdown":
            source = "".join(cell["source"])
            if source.startswith(LECTURER_NOTES):
                continue
            cut = SOLUTIONS.sub("", source)
            if cut != source:
                if not cut.strip():
                    continue
                cell["source"] = cut.rstrip("\n")
        elif is_exercise(cell):
            cell["outputs"], cell["execution_count"] = [], None
        cells.append(cell)
    copy["cells"] = cells
    return copy


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", help="numbers or names to select (default: all)")
    parser.add_argument("--out", type=Path, default=ROOT / "student",
                        help="where to write the copies (default: student/, git-ignored)")
    args = parser.parse_args(argv)
    paths = select_notebooks(args.notebooks)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "notebooks").mkdir(exist_ok=True)
    for path in paths:
        copy = student_copy(json.loads(path.read_text(encoding="utf-8")))
        target = args.out / "notebooks" / path.name
        target.write_text(json.dumps(copy, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(target)
    figures = args.out / "fig"  # the notebooks show diagrams from ../fig
    figures.mkdir(exist_ok=True)
    for svg in (ROOT / "fig").glob("*.svg"):
        (figures / svg.name).write_bytes(svg.read_bytes())
    print(f"{len(paths)} student notebooks in {args.out}/notebooks (diagrams in {figures}); "
          f"they import the helpers package, installed by requirements.txt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
