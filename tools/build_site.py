#!/usr/bin/env python3
"""Build the course website: the start page and every notebook with its stored outputs,
readable in any browser without installing anything, opened from disk with no network.

    python3 course.py site                # -> site/index.html (open it in a browser)
    python3 course.py site --out /tmp/web

Sphinx with myst-nb reads the notebooks (nothing is run: the outputs are the stored ones)
and the Furo theme lays them out: a sidebar in course order, previous/next links, search,
a light and a dark theme. The diagrams of ``fig/`` are copied beside the pages, MathJax 2.7
(from the jupyter-server-mathjax package, as for the offline slides) typesets the maths
from ``site/_static/mathjax``, and every picture carries the alt text stored in its cell's
metadata (``tools/alt_text.json``, applied by ``tools/apply_alt_text.py``).

The notebooks are first staged (in ``.cache/site-source/``, or ``--stage``) as Sphinx wants
them:
- the start page becomes ``index``; ``../fig/`` becomes ``fig/``; links to the lecturer's
  page (``../docs/teaching.md``) point at its copy in the site;
- an explorer (an ipywidgets view) is shown as the picture stored with it, followed by a
  line saying how to run it live; a flashcard deck as its questions, each answer folded;
  other widgets (progress bars) as their stored text;
- every ``<details>`` block (exercise solutions, quick-question answers) becomes a
  ``details`` directive (``tools/site/conf.py``), so it stays folded: MyST, like CommonMark,
  would end a raw ``<details>`` at its first blank line and show the answer below it.

Publishing: copy ``site/`` to any static host, for example a GitHub Pages branch
(``site/.nojekyll`` is written so that Pages serves the ``_static`` folder).
"""
import argparse
import html
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
CONF = Path(__file__).resolve().parent / "site"
START = "00_start_here"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
# <details><summary>Answers</summary> ... </details> (as tools/slides.py finds them)
DETAILS = re.compile(r"<details>\s*<summary>(.*?)</summary>(.*?)</details>",
                     re.DOTALL | re.IGNORECASE)
EXPLORER_NOTE = ("*An explorer, shown here as the picture stored with the notebook. To move "
                 "its controls, run the notebook in JupyterLab (`python3 course.py lab`, then "
                 "Run ▸ Run All Cells).*")
WIDGET_NOTE = ("*An interactive widget: it runs in JupyterLab (`python3 course.py lab`), "
               "not on this page.*")


def details_to_directive(text: str) -> str:
    def directive(match):
        summary = " ".join(html.unescape(re.sub(r"<[^>]+>", "", match[1])).split())
        return f"\n::::{{details}} {summary}\n{match[2].strip()}\n::::\n"

    return DETAILS.sub(directive, text)


def rewrite_markdown(text: str) -> str:
    text = text.replace("../fig/", "fig/").replace("../docs/teaching.md", "teaching.md")
    text = text.replace(f"{START}.ipynb", "index.ipynb")
    return details_to_directive(text)


def flashcard_markdown(notebook_number: str | None) -> str:
    """A deck as text: each question, its answer folded (the cards' own JSON)."""
    sys.path.insert(0, str(ROOT))
    from helpers.flashcards import load_cards

    if notebook_number is None:
        return ("*The flashcards that are due today appear here when the notebook runs in "
                "JupyterLab (`python3 course.py lab`): each card moves up a box when you "
                "knew it.*")
    cards = load_cards(notebook_number)
    items = "\n".join(f"::::{{details}} {' '.join(card['q'].split())}\n{card['a']}\n::::\n"
                      for card in cards)
    return (f"*The flashcards of this notebook ({len(cards)} cards). In JupyterLab they "
            f"remember what you knew (`python3 course.py lab`); here, open each answer.*\n\n"
            + items)


def stage_notebook(notebook: dict, stem: str, pages=()) -> dict:
    """The notebook as the website shows it (see the module's docstring)."""
    notebook["metadata"].pop("widgets", None)  # no widget manager from a CDN
    cells = []
    for cell in notebook["cells"]:
        cells.append(cell)
        if cell["cell_type"] == "markdown":
            cell["source"] = rewrite_markdown("".join(cell["source"]))
            continue
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        outputs, note = [], None
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_VIEW not in data:
                outputs.append(output)
                continue
            data.pop(WIDGET_VIEW)
            if any(key.startswith("image/") for key in data):
                outputs.append(output)
                note = EXPLORER_NOTE
            elif "Flashcards(" in source:
                match = re.search(r"Flashcards\(\s*[\"'](\d\d)[\"']", source)
                note = flashcard_markdown(match[1] if match else None)
            elif re.match(r"\w+\(", "".join(data.get("text/plain", ""))):  # a widget's repr
                note = WIDGET_NOTE
            else:
                outputs.append(output)  # a progress bar: its stored text
        cell["outputs"] = outputs
        if note:
            cells.append({"cell_type": "markdown", "metadata": {},
                          "id": f"{cell.get('id', 'cell')}-site-note", "source": note})
    notebook["cells"] = cells
    if stem == START:  # the sidebar: every page in course order
        toctree = "\n".join(["```{toctree}", ":hidden:", ":maxdepth: 1", "", *pages,
                             "teaching", "```"])
        cells.append({"cell_type": "markdown", "metadata": {}, "id": "site-toctree",
                      "source": toctree})
    return notebook


def stage(source: Path, notebooks: Path = NOTEBOOKS) -> list[Path]:
    """Write the notebooks, the diagrams and the lecturer's page to ``source``."""
    if source.exists():
        shutil.rmtree(source)
    source.mkdir(parents=True)
    shutil.copytree(ROOT / "fig", source / "fig")
    written = []
    paths = sorted(notebooks.glob("[0-9][0-9]_*.ipynb"))
    pages = [p.stem for p in paths if p.stem != START]
    for path in paths:
        notebook = stage_notebook(json.loads(path.read_text(encoding="utf-8")), path.stem, pages)
        target = source / ("index.ipynb" if path.stem == START else path.name)
        target.write_text(json.dumps(notebook, indent=1, ensure_ascii=False), encoding="utf-8")
        written.append(target)
    teaching = (ROOT / "docs" / "teaching.md").read_text(encoding="utf-8")
    teaching = re.sub(r"\]\(\.\./notebooks/", "](", teaching)
    teaching = teaching.replace(f"{START}.ipynb", "index.ipynb").replace("](../", "](https://"
                                                                         "example.invalid/")
    (source / "teaching.md").write_text(rewrite_markdown(teaching), encoding="utf-8")
    return written


def build(out: Path, source: Path, quiet=True, notebooks: Path = NOTEBOOKS) -> dict:
    """Stage, run Sphinx, copy MathJax; return {"seconds", "warnings", "pages"}."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import slides  # tools/slides.py: the same offline MathJax as the slides

    start = time.monotonic()
    stage(source, notebooks)
    # Sphinx writes into a folder beside the staged source, then the site is copied to
    # ``out``: myst-nb puts a ``jupyter_execute/`` folder beside its output folder, which
    # must land in .cache/, not in the repository.
    html = source.parent / f"{source.name}-html" / "html"
    for folder in (out, html):
        if folder.exists():
            shutil.rmtree(folder)
    log = source.parent / f"{source.name}-sphinx.log"
    command = [sys.executable, "-m", "sphinx", "-b", "html", "-c", str(CONF), "-E",
               "-d", str(source.parent / f"{source.name}-doctrees"), str(source), str(html)]
    if quiet:
        command.insert(3, "-q")
    with open(log, "w") as stream:
        result = subprocess.run(command, cwd=ROOT, stderr=stream)
    warnings = [line for line in log.read_text().splitlines() if "WARNING" in line]
    if result.returncode:
        sys.exit(f"Sphinx failed (exit {result.returncode}); its log: {log}\n"
                 + log.read_text()[-3000:])
    shutil.copytree(html, out)
    slides.copy_mathjax(out / "_static")
    (out / ".nojekyll").write_text("")  # GitHub Pages: serve _static/ as it is
    return {"seconds": time.monotonic() - start, "warnings": warnings,
            "pages": sorted(p.name for p in out.glob("*.html"))}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "site",
                        help="where to write the website (default: site/, git-ignored)")
    parser.add_argument("--stage", type=Path, default=ROOT / ".cache" / "site-source",
                        help="where to stage the notebooks for Sphinx")
    parser.add_argument("--notebooks", type=Path, default=NOTEBOOKS,
                        help="the folder of notebooks to show (default: notebooks/)")
    parser.add_argument("--verbose", action="store_true", help="Sphinx's own progress")
    args = parser.parse_args(argv)
    result = build(args.out, args.stage, quiet=not args.verbose, notebooks=args.notebooks)
    for warning in result["warnings"]:
        print(warning, file=sys.stderr)
    print(f"{len(result['pages'])} pages in {args.out}/ in {result['seconds']:.0f} s "
          f"({len(result['warnings'])} Sphinx warnings); open {args.out / 'index.html'} "
          f"in a browser (no network needed). To publish, copy the folder to any static "
          f"host, e.g. a GitHub Pages branch.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
