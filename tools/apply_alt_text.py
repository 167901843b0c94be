#!/usr/bin/env python3
"""Copy the pictures' alt texts from tools/alt_text.json into the notebooks' cell metadata,
and report every stored picture that has none.

    python3 tools/apply_alt_text.py            # write them; exit 1 if a picture has none
    python3 tools/apply_alt_text.py --check    # change nothing; exit 1 if one is missing
                                               # or differs from alt_text.json

``tools/alt_text.json`` maps a notebook's file name and a cell's ``id`` (nbformat 4.5 ids
are stable) to the text that says what the cell's picture shows and what to see in it.
Each goes into the cell's metadata as ``"mystnb": {"image": {"alt": "..."}}``: the key that
myst-nb reads for the website (it applies to every picture the cell shows; every picture
cell of the course shows one), and where the course's JupyterLab extension
(tools/labextension) and the offline slides (tools/slides_template) read it too. Cell
metadata survives a re-run of the notebook, unlike output metadata.

A cell is looked for in the notebook named in the file first, then in the notebooks with
the same number (a notebook split into ``06_...`` and ``06b_...`` keeps its cell ids), then
in any notebook if the id is found in only one. Running it twice changes nothing the
second time.
"""
import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ALT_TEXT = Path(__file__).resolve().parent / "alt_text.json"


def image_outputs(cell) -> int:
    """How many of a cell's stored outputs are pictures (an explorer's static one too)."""
    return sum(any(key.startswith("image/") for key in output.get("data", {}))
               for output in cell.get("outputs", []))


def alt_of(cell) -> str | None:
    alt = ((cell.get("metadata", {}).get("mystnb") or {}).get("image") or {}).get("alt")
    return alt if isinstance(alt, str) and alt.strip() else None


def find_cell(notebooks: dict, name: str, cell_id: str):
    """(path, cell) for ``cell_id``, looked for as the module's docstring says, or None."""
    def in_(paths):
        return [(p, c) for p in paths for c in notebooks[p]["cells"] if c.get("id") == cell_id]

    for candidates in ([p for p in notebooks if p.name == name],
                       [p for p in notebooks if p.name[:2] == name[:2]], list(notebooks)):
        found = in_(candidates)
        if len(found) == 1:
            return found[0]
        if len(found) > 1 and candidates is not list(notebooks):
            return found[0]
    return None


def apply(folder: Path, texts: dict, write: bool) -> tuple[list[str], list[str], list[Path]]:
    """Set every alt text; return (problems, changed cells, changed notebook paths)."""
    notebooks = {p: json.loads(p.read_text(encoding="utf-8"))
                 for p in sorted(folder.glob("[0-9][0-9]*.ipynb"))}
    problems, changed, touched = [], [], set()
    for name, cells in texts.items():
        for cell_id, text in cells.items():
            if not isinstance(text, str) or len(text.split()) < 8:
                problems.append(f"{name} {cell_id}: the alt text must say what the picture "
                                f"shows and what to see in it, got {text!r}")
                continue
            found = find_cell(notebooks, name, cell_id)
            if found is None:
                problems.append(f"{name} {cell_id}: no cell with this id in {folder}")
                continue
            path, cell = found
            if not image_outputs(cell):
                problems.append(f"{path.name} {cell_id}: the cell shows no picture (stale "
                                f"entry in {ALT_TEXT.name}?)")
            if alt_of(cell) != text:
                changed.append(f"{path.name} {cell_id}")
                touched.add(path)
                if write:
                    cell["metadata"].setdefault("mystnb", {}).setdefault("image", {})["alt"] = text
    for path, notebook in notebooks.items():
        for index, cell in enumerate(notebook["cells"]):
            if cell["cell_type"] == "code" and image_outputs(cell) and not alt_of(cell):
                problems.append(f"{path.name} cell {cell.get('id', index)}: a picture with no "
                                f"alt text; add one to {ALT_TEXT.name}")
    if write:
        for path in sorted(touched):
            path.write_text(json.dumps(notebooks[path], indent=1, sort_keys=True,
                                       ensure_ascii=False) + "\n", encoding="utf-8")
    return problems, changed, sorted(touched)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 if a picture lacks its alt text")
    parser.add_argument("--folder", type=Path, default=ROOT / "notebooks")
    args = parser.parse_args(argv)
    texts = json.loads(ALT_TEXT.read_text(encoding="utf-8"))
    problems, changed, touched = apply(args.folder, texts, write=not args.check)
    if args.check:
        problems += [f"{where}: its alt text differs from {ALT_TEXT.name} (run "
                     f"python3 tools/apply_alt_text.py)" for where in changed]
    else:
        print(f"{len(changed)} alt texts written into {len(touched)} notebooks"
              + "".join(f"\n  {p.name}" for p in touched))
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
