#!/usr/bin/env python3
"""Export notebooks as reveal.js slides that open from disk, with no network, for after
the lecture.

    python3 course.py slides 03              # -> slides/03_masking.slides.html
    python3 course.py slides                 # every notebook
    python3 course.py slides 03 --out /tmp/talk

What the export holds:
- the slides that the notebook's slide metadata describes (``tools/slide_metadata.py``
  sets it; speaker notes open with the S key), with the outputs stored in the notebook:
  nothing is re-run;
- each widget as the static picture stored with it (a file cannot run a kernel);
- the diagrams from ``fig/``, embedded as data: URIs, so the HTML file needs no ``fig/``
  beside it (nbconvert's embed_images leaves ``../fig/x.svg`` linked: it embeds only files
  inside the notebook's own folder; ``embed_local_images`` does the rest);
- reveal.js 5 copied into ``slides/reveal.js/`` from the ``sphinx-revealjs`` package that
  requirements.txt installs;
- MathJax 2.7 copied into ``slides/mathjax/`` from the ``jupyter-server-mathjax`` package,
  so the formulas are typeset offline too (with its STIX-Web fonts: the package ships no
  TeX fonts; see the template).

The HTML loads nothing else: no CDN. Hand out the HTML file together with those two folders.

nbconvert's own ``jupyter nbconvert --to slides`` would load reveal.js, require.js, jQuery
and MathJax from CDNs; the template in ``tools/slides_template/`` replaces those.
"""
import argparse
import base64
import html as html_text
import mimetypes
import re
import shutil
import sys
from pathlib import Path
from urllib.parse import unquote

from _select import select_notebooks  # tools/_select.py

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = Path(__file__).resolve().parent / "slides_template"
REVEAL_DIR = "reveal.js"  # the folder beside the HTML files, and the HTML's reveal_url_prefix
MATHJAX_DIR = "mathjax"  # the folder beside the HTML files that tools/slides_template loads
# The parts of reveal.js the slides load: the script, its styles and themes (with their
# fonts) and the speaker-notes plugin; source maps left out.
REVEAL_PARTS = ("dist", "plugin/notes")


def reveal_source() -> Path:
    """The reveal.js folder inside the installed sphinx-revealjs package."""
    try:
        import sphinx_revealjs
    except ImportError:
        sys.exit("The slides need the sphinx-revealjs package (it ships reveal.js): "
                 "run `python3 course.py slides ...`, which installs requirements.txt")
    source = Path(sphinx_revealjs.__file__).parent / "_static" / "revealjs"
    if not (source / "dist" / "reveal.js").exists():
        sys.exit(f"reveal.js not found in {source}: the sphinx-revealjs package has changed "
                 f"its layout; requirements.txt pins the version this script knows")
    return source


def copy_mathjax(out: Path) -> Path:
    """Copy MathJax 2.7 from the jupyter-server-mathjax package to ``out/mathjax``."""
    try:
        import jupyter_server_mathjax
    except ImportError:
        sys.exit("The slides need the jupyter-server-mathjax package (it ships MathJax): "
                 "run `python3 course.py slides ...`, which installs requirements.txt")
    source = Path(jupyter_server_mathjax.__file__).parent / "static"
    target = out / MATHJAX_DIR
    shutil.copytree(source, target, dirs_exist_ok=True)
    return target


def copy_reveal(out: Path) -> Path:
    """Copy reveal.js's dist/ and its notes plugin to ``out/reveal.js``; return that folder."""
    source, target = reveal_source(), out / REVEAL_DIR
    for part in REVEAL_PARTS:
        shutil.copytree(source / part, target / part, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("*.map", "*.esm.js"))
    return target


def exporter():
    """nbconvert's SlidesExporter with the offline template and local reveal.js."""
    from nbconvert import SlidesExporter

    return SlidesExporter(extra_template_basedirs=[str(TEMPLATE.parent)],
                          template_name=TEMPLATE.name, reveal_url_prefix=REVEAL_DIR,
                          reveal_theme="white", reveal_transition="none", reveal_number="c/t",
                          reveal_width="1280", reveal_height="900", embed_images=True)


# An <img> whose src is a path (no scheme such as data:, file: or https:, not //host/...).
LOCAL_IMAGE = re.compile(r"""(<img\b[^>]*?\bsrc\s*=\s*)(["'])(?![a-zA-Z][a-zA-Z0-9+.-]*:|//)"""
                         r"""([^"'#?]+)(?:[?#][^"']*)?\2""", re.IGNORECASE)


def embed_local_images(text: str, folder: Path) -> str:
    """Replace each ``<img src="../fig/x.svg">`` (a path relative to ``folder``, the
    notebook's folder) by the file's contents as a base64 data: URI. A linked file that
    does not exist stops the export: the slides would show a broken picture."""
    def embed(match):
        name = unquote(html_text.unescape(match.group(3)))
        file = (folder / name).resolve()
        if not file.is_file():
            sys.exit(f"the notebook in {folder} shows the picture {name!r}, "
                     f"but {file} does not exist")
        mime = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        data = base64.b64encode(file.read_bytes()).decode("ascii")
        return f'{match.group(1)}{match.group(2)}data:{mime};base64,{data}{match.group(2)}'

    return LOCAL_IMAGE.sub(embed, text)


# A collapsed block: <details><summary>Answers</summary> ... </details>
DETAILS = re.compile(r"<details>\s*<summary>(.*?)</summary>(.*?)</details>\s*",
                     re.DOTALL | re.IGNORECASE)


def details_to_notes(notebook) -> None:
    """Move every collapsed block of a shown cell (the quick questions' answers) into the
    speaker notes just after it. nbconvert's Markdown renderer ends a ``<details>`` block
    at its first blank line, so on a slide it comes out empty and its contents show below
    it, in full view; in the notes (the S key) the lecturer has them and the room does not.
    Skipped cells (the exercise solutions) are left out of the slides anyway."""
    import nbformat

    cells = []
    for cell in notebook.cells:
        cells.append(cell)
        slide_type = cell.metadata.get("slideshow", {}).get("slide_type")
        if cell.cell_type != "markdown" or slide_type == "skip" or not DETAILS.search(cell.source):
            continue
        hidden = [f"**{summary.strip()}**\n\n{body.strip()}"
                  for summary, body in DETAILS.findall(cell.source)]
        cell.source = DETAILS.sub("", cell.source).rstrip()
        notes = nbformat.v4.new_markdown_cell("\n\n".join(hidden))
        notes.metadata["slideshow"] = {"slide_type": "notes"}
        cells.append(notes)
    notebook.cells = cells


def export(path: Path, out: Path) -> Path:
    """Write ``out/<name>.slides.html`` for the notebook at ``path``; return its path."""
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    # Without the widget state the exporter shows each widget's stored picture (image/png)
    # instead of a widget view that would need the widget manager from a CDN.
    notebook.metadata.pop("widgets", None)
    details_to_notes(notebook)
    body, _ = exporter().from_notebook_node(
        notebook, resources={"metadata": {"name": path.stem, "path": str(path.parent)}})
    target = out / f"{path.stem}.slides.html"
    target.write_text(embed_local_images(body, path.parent), encoding="utf-8")
    return target


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", help="numbers or names to select (default: all)")
    parser.add_argument("--out", type=Path, default=ROOT / "slides",
                        help="where to write the slides (default: slides/, git-ignored)")
    args = parser.parse_args(argv)
    paths = select_notebooks(args.notebooks)
    args.out.mkdir(parents=True, exist_ok=True)
    copy_reveal(args.out)
    copy_mathjax(args.out)
    for path in paths:
        print(export(path, args.out))
    print(f"{len(paths)} slide decks in {args.out}/; open one in a browser (no network "
          f"needed); keep the {REVEAL_DIR}/ and {MATHJAX_DIR}/ folders beside them. "
          f"Keys: arrows move, S opens the speaker notes, F full screen.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
