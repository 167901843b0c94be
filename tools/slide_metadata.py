#!/usr/bin/env python3
"""Give every cell of every notebook its slide type, chosen for a lecture.

    python3 tools/slide_metadata.py              # every notebook in notebooks/, in place
    python3 tools/slide_metadata.py 03 06        # only these
    python3 tools/slide_metadata.py --check      # change nothing; exit 1 if a notebook differs
    python3 tools/slide_metadata.py --folder /tmp/copy/notebooks   # try it on a copy

The slide types are what JupyterLab's slideshow (the deck icon in the notebook toolbar,
from jupyterlab-slideshow) and ``python3 course.py slides`` read: ``slide`` (a new slide,
left/right), ``subslide`` (a new slide below, up/down), ``fragment`` (appears on the next
key press), ``notes`` (speaker notes: hidden on the slide), ``skip`` (not shown), and
"same slide". The rules, in order:

- the title cell and every ``## `` section open a slide; a ``### `` heading opens a
  subslide;
- a markdown cell that starts a new idea inside a section (a bold lead-in such as
  ``**Zero, then renormalise?**`` or a ``> **Common misconception.**`` box) opens a
  subslide; a short bold remark (three lines or fewer) is a fragment;
- an aside becomes the lecturer's speaker notes: a cell that is one paragraph in parentheses, a
  ``> **A short history.**`` box, or the ``> **For the lecturer.**`` box under the title;
- the set-up cell (imports and seeds, no output) and the learner's exercise stubs
  (``# YOUR CODE HERE``) are skipped: they run, but show nothing worth a slide;
- a code cell stays on the slide of the markdown that explains it; a code cell whose
  output would not fit on the slide so far (a figure, a long print) opens a subslide;
- plain prose after a code cell is a fragment: the conclusion drawn from the output,
  shown when the lecturer gets to it (a subslide if the slide is full);
- progress-only cells (``nbval-ignore-output`` and nothing printed but the progress bar)
  stay on the slide;
- in the ``## Exercises`` section the prompts stay on one slide (a subslide when it is
  full) and every code cell is skipped; the solutions are skipped wherever they are; the quick questions get a slide (their answers
  stay folded inside it).

``OVERRIDES`` below corrects the rules for single cells, found by the start of their
source. Only ``metadata.slideshow`` is written, so no notebook needs re-running.

"Same slide" is written as no ``slideshow`` entry at all, not as ``"-"``:
jupyterlab-slideshow 0.3.4 hides a cell whose slide type is ``"-"``, while nbconvert and
RISE read a missing entry as ``"-"``.
"""
import argparse
import json
import math
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# What fits on one slide, in lines of about 100 characters (reveal.js scales a 1280x900
# slide to the screen; in JupyterLab's deck mode a longer slide scrolls).
# Calibrated in Chromium (tests/test_browser.py measures every exported slide): at 40 lines
# 5 of 04's slides ran past the bottom.
SLIDE_LINES = 32
FIGURE_LINES = 14  # a figure or a widget, in the same lines
SLIDE_TYPES = ("slide", "subslide", "fragment", "notes", "skip", "-")

# Per notebook (file name without .ipynb): the start of a cell's source -> its slide type.
OVERRIDES = {
    # The history box is a story for the lecturer to tell, not a slide to read.
    "01_attention_as_soft_lookup": {"> **A short history.**": "notes"},
    # The start page is a map of the course, not a lecture: its progress table is
    # personal.
    "00_start_here": {"**Your progress**": "skip", "print(helpers.progress_report())": "skip"},
    # The sampling explorer's set-up is long and its picture tall: a slide of its own.
    "14_modern_small_llm": {"import textwrap": "subslide"},
}


def source(cell) -> str:
    text = cell["source"]
    return text if isinstance(text, str) else "".join(text)


def text_lines(text: str) -> int:
    """Screen lines that ``text`` takes at about 100 characters a line."""
    return sum(max(1, math.ceil(len(line) / 100)) for line in text.splitlines())


LINE_PX = 900 / SLIDE_LINES  # a line's height on the 1280x900 slide


def png_lines(encoded) -> int:
    """The lines a stored PNG fills on the slide, from its own height in pixels (the
    header's fourth and fifth 32-bit words: width, height), shown at most 1,100 px wide."""
    import base64

    try:
        header = base64.b64decode("".join(encoded)[:44])
    except ValueError:  # not base64 (a test's placeholder): count it as a typical figure
        return FIGURE_LINES
    width, height = int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")
    if not header.startswith(b"\x89PNG") or not width:
        return FIGURE_LINES
    shown = height * min(1.0, 1100 / width)
    return math.ceil(shown / LINE_PX)


def image_lines(tag: str) -> int:
    """The lines a diagram from fig/ fills: its width on the slide (the tag's width, else
    its own) times its own height-to-width ratio."""
    src, width = re.search(r'src="([^"]+)"', tag), re.search(r'width="(\d+)"', tag)
    svg = ROOT / "notebooks" / src.group(1) if src else None
    if svg is None or not svg.is_file():
        return FIGURE_LINES
    size = re.search(r'<svg[^>]*?width="([\d.]+)(?:pt|px)?"[^>]*?height="([\d.]+)', svg.read_text())
    if not size:
        return FIGURE_LINES
    own_width, own_height = float(size.group(1)), float(size.group(2))
    shown = (float(width.group(1)) if width else own_width) * own_height / own_width
    return math.ceil(shown / LINE_PX)


def output_lines(cell) -> int:
    lines = 0
    for output in cell.get("outputs", []):
        data = output.get("data", {})
        if "image/png" in data:
            lines += png_lines(data["image/png"])
        elif "image/svg+xml" in data:
            lines += FIGURE_LINES
        elif output["output_type"] == "stream":
            lines += text_lines("".join(output.get("text", "")))
        elif "text/plain" in data and "application/vnd.jupyter.widget-view+json" not in data:
            lines += text_lines("".join(data["text/plain"]))
        elif output["output_type"] == "error":
            lines += 10
    return lines


def cell_lines(cell) -> int:
    """How much of a slide ``cell`` fills, input and output together."""
    if cell["cell_type"] == "markdown":
        text = source(cell)
        pictures = re.findall(r"<img\b[^>]*>", text) + [
            f'<img src="{path}">' for path in re.findall(r"!\[[^\]]*\]\(([^)\s]+)", text)]
        return text_lines(text) + sum(map(image_lines, pictures))
    return text_lines(source(cell)) + output_lines(cell)


def is_exercise_stub(cell) -> bool:
    """A cell the learner fills in: ``# YOUR CODE HERE`` or ``# YOUR ANSWER HERE``."""
    return cell["cell_type"] == "code" and re.search(r"YOUR (CODE|ANSWER) HERE", source(cell))


SETUP_LINE = re.compile(r"(import |from \S+ import |#|helpers\.seed_everything\(|torch\.manual_seed\("
                        r"|torch\.set_printoptions\()")


def is_setup(cell) -> bool:
    """A code cell of imports and seeds only, with no output: nothing to show on a slide."""
    lines = [line for line in source(cell).splitlines() if line.strip()]
    return (cell["cell_type"] == "code" and not cell.get("outputs") and bool(lines)
            and all(SETUP_LINE.match(line) for line in lines))


def only_progress(cell) -> bool:
    """A cell whose output is volatile and holds no figure and no printed text."""
    return ("nbval-ignore-output" in cell.get("metadata", {}).get("tags", [])
            and output_lines(cell) == 0)


def override_for(name: str, cell):
    text = source(cell).lstrip()
    for start, slide_type in OVERRIDES.get(name, {}).items():
        if text.startswith(start):
            return slide_type
    return None


def plan(notebook: dict, name: str = "") -> list[str]:
    """The slide type of each cell of ``notebook`` ("-" for same slide), by the rules above.

    >>> cells = [{"cell_type": "markdown", "source": "# Title"},
    ...          {"cell_type": "code", "source": "x = 1", "outputs": []},
    ...          {"cell_type": "markdown", "source": "## 1. A section"}]
    >>> plan({"cells": cells})
    ['slide', '-', 'slide']
    """
    types, filled, in_exercises = [], 0, False
    previous = None
    for index, cell in enumerate(notebook["cells"]):
        text, lines = source(cell).lstrip(), cell_lines(cell)
        markdown = cell["cell_type"] == "markdown"
        heading = re.match(r"(#+) ", text) if markdown else None
        if heading and len(heading.group(1)) <= 2:
            in_exercises = "exercise" in text.splitlines()[0].lower()
        fits = filled + lines <= SLIDE_LINES
        forced = override_for(name, cell)
        if forced is not None:
            kind = forced
        elif index == 0 or (heading and len(heading.group(1)) <= 2):
            kind = "slide"
        elif heading:
            kind = "subslide"
        elif markdown and re.match(r"<details>\s*<summary>\s*Solutions?", text, re.I):
            kind = "skip"
        elif is_setup(cell) or is_exercise_stub(cell):
            kind = "skip"
        elif in_exercises:
            kind = "skip" if cell["cell_type"] == "code" else ("-" if fits else "subslide")
        elif markdown and ((text.startswith("(") and text.rstrip().endswith(")")
                            and "\n#" not in text)  # an aside: one parenthesised paragraph
                           or text.startswith("> **A short history")
                           or text.startswith("> **For the lecturer")):
            kind = "notes"
        elif markdown and re.match(r"(> )?\*\*", text):
            kind = "fragment" if lines <= 3 and fits else "subslide"
        elif markdown:
            after_output = previous is not None and previous["cell_type"] == "code"
            kind = ("fragment" if after_output else "-") if fits else "subslide"
        elif only_progress(cell):
            kind = "-"
        else:
            kind = "-" if fits else "subslide"
        if kind in ("slide", "subslide"):
            filled = lines
        elif kind not in ("notes", "skip"):
            filled += lines
        types.append(kind)
        if kind not in ("notes", "skip"):
            previous = cell
    return types


def apply(notebook: dict, types: list[str]) -> dict:
    """Write ``types`` into the cells' ``metadata.slideshow``; touch nothing else."""
    for cell, kind in zip(notebook["cells"], types, strict=True):
        metadata = cell.setdefault("metadata", {})
        if kind == "-":
            metadata.pop("slideshow", None)  # same slide: see the module docstring
        else:
            metadata["slideshow"] = {"slide_type": kind}
    return notebook


def stored(notebook: dict) -> list[str]:
    """The slide types a notebook holds now ("-" where it has none)."""
    return [cell.get("metadata", {}).get("slideshow", {}).get("slide_type", "-")
            for cell in notebook["cells"]]


def notebooks(keys, folder: Path = ROOT / "notebooks") -> list[Path]:
    paths = sorted(folder.glob("[0-9][0-9]_*.ipynb"))
    chosen = [p for p in paths if not keys or any(key in p.name for key in keys)]
    if not chosen:
        sys.exit(f"no notebook matches {keys}")
    return chosen


def write(path: Path, notebook: dict) -> None:
    """Save as nbformat does (sorted keys, indent 1, non-ASCII kept, final newline), so
    that the diff shows the slide types and nothing else."""
    text = json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    path.write_text(text, encoding="utf-8")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", help="numbers or names (default: all)")
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 if a notebook's slide types differ")
    parser.add_argument("--folder", type=Path, default=ROOT / "notebooks",
                        help="where the notebooks are (default: notebooks/; a copy for a trial)")
    args = parser.parse_args(argv)
    differ = []
    for path in notebooks(args.notebooks, args.folder):
        notebook = json.loads(path.read_text(encoding="utf-8"))
        types = plan(notebook, path.stem)
        counts = {kind: types.count(kind) for kind in SLIDE_TYPES if kind in types}
        if stored(notebook) == types:
            print(f"{path.name}: up to date {counts}")
            continue
        differ.append(path.name)
        if not args.check:
            write(path, apply(notebook, types))
        print(f"{path.name}: {'differs' if args.check else 'written'} {counts}")
    if args.check and differ:
        print(f"run `python3 tools/slide_metadata.py` to update: {', '.join(differ)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
