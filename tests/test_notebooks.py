"""Rules every notebook follows (its outputs are compared by nbval, not here)."""
import ast
import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("[0-9]*.ipynb"))


def code_cells(path):
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_exercise_stubs_never_shadow_a_name_the_notebook_uses(path):
    """A stub such as `def top_k_filter(...): return None` would replace the imported helper
    that a widget or a later cell looks up. Stubs are called my_..., and nothing else in the
    notebook defines or imports that name."""
    cells = code_cells(path)
    defined_elsewhere = set()
    stubs = []
    for source in cells:
        tree = ast.parse(source)
        names = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        names |= {a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                  for a in n.names}
        if "exercises.check_" in source:
            stubs += [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
        else:
            defined_elsewhere |= names
    assert all(s.startswith("my_") for s in stubs), f"exercise stubs not named my_...: {stubs}"
    assert not set(stubs) & defined_elsewhere, f"stubs that shadow: {set(stubs) & defined_elsewhere}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_every_notebook_is_valid_nbformat(path):
    """JupyterLab logs "Notebook JSON is invalid" (and the student copies inherit it) when a
    cell carries a key its type does not have, such as outputs on a markdown cell."""
    nbformat = pytest.importorskip("nbformat")
    nbformat.validate(nbformat.read(path, as_version=4))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_no_list_item_that_markdown_reads_as_a_nested_list(path):
    """`1. 64.` renders as a list inside a list, shown as a bullet with no number: an answer
    that is only a number needs words around it."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    bad = [line for c in cells if c["cell_type"] == "markdown"
           for line in "".join(c["source"]).splitlines()
           if re.fullmatch(r"\s*\d+\.\s+\d+\.\s*", line)]
    assert not bad, f"list items that render as nested lists: {bad}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_the_flashcard_cell_runs_on_its_own(path):
    """A learner who comes back for the cards restarts the kernel and runs the last cell
    only: it must import what it uses (01's deck raised NameError: helpers)."""
    decks = [s for s in code_cells(path) if "Flashcards(" in s]
    assert decks, "every notebook ends with (or, the start page, shows) a flashcard deck"
    for source in decks:
        tree = ast.parse(source)
        imported = {a.asname or a.name for n in tree.body if isinstance(n, (ast.Import,
                    ast.ImportFrom)) for a in n.names}
        used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        assert used <= imported | set(dir(__builtins__)), f"{source!r} needs {used - imported}"


def _stored_text(path):
    """Every text a stored notebook shows in its outputs (streams, text/plain, text/html)."""
    for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
        for output in cell.get("outputs", []):
            parts = [output.get("text", "")] + [output.get("data", {}).get(kind, "")
                                                 for kind in ("text/plain", "text/html")]
            yield from ("".join(p) if isinstance(p, list) else p for p in parts)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_stored_outputs_show_no_path_of_the_machine_that_ran_them(path):
    """A fresh clone shows the learner's own paths (~/.local/share/...), not the temporary
    folder or the home of the machine that stored the outputs: tools/run_notebooks.py runs
    each notebook in an empty home."""
    home = str(Path.home())
    leaks = sorted({m.group(0) for text in _stored_text(path)
                    for m in re.finditer(r"(/tmp/|/var/folders/|[A-Z]:\\\\Users\\\\)\S*", text)}
                   | {home for text in _stored_text(path) if home != "/" and home in text})
    assert not leaks, f"stored outputs show local paths: {leaks}"


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if not p.name.startswith("00")],
                         ids=lambda p: p.name[:2])
def test_title_and_flashcards_name_the_notebooks_own_number(path):
    """After a renumbering, a notebook's title ("# 08 · ...") and its flashcard cell
    (helpers.Flashcards("08")) carry the number of its file, not an old one."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    number = path.name[:2]
    assert "".join(cells[0]["source"]).startswith(f"# {number} · ")
    decks = {m for c in cells for m in re.findall(r'Flashcards\("(\d\d)"\)', "".join(c["source"]))}
    assert decks == {number}, f"{path.name} shows the decks {sorted(decks)}"
