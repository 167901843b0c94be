"""tools/slide_metadata.py chooses each cell's slide type; tools/slides.py exports slides
that open offline. (The browser tests, live and static, are in tests/test_browser.py.)"""
import copy
import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import slide_metadata  # noqa: E402
import slides  # noqa: E402
from slide_metadata import apply, plan, stored  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def load(path):
    return json.loads(path.read_text(encoding="utf-8"))


def md(text):
    return {"cell_type": "markdown", "metadata": {}, "source": text}


def code(text, outputs=(), tags=()):
    return {"cell_type": "code", "metadata": {"tags": list(tags)} if tags else {},
            "source": text, "outputs": list(outputs), "execution_count": 1}


FIGURE = {"output_type": "display_data", "data": {"image/png": "iVBOR", "text/plain": "<Figure>"}}
PROGRESS = {"output_type": "display_data", "data": {"application/vnd.jupyter.widget-view+json":
                                                    {"model_id": "x"}, "text/plain": "  0%"}}


# ---- The rules, one small notebook each ------------------------------------------------------

@pytest.mark.parametrize("cells, expected", [
    ([], []),
    ([md("# Title"), code("import torch\n\nhelpers.seed_everything(0)"), md("## 1. A")],
     ["slide", "skip", "slide"]),
    ([md("## 1. A"), code("x = 1", [{"output_type": "stream", "name": "stdout", "text": "1\n"}]),
      md("So x is one.")],
     ["slide", "-", "fragment"]),
    ([md("## 1. A"), md("**A new idea.** " + "words " * 80), code("y = 2")],
     ["slide", "subslide", "-"]),
    ([md("## 1. A"), md("(An aside.)"), md("> **A short history.** Long ago.")],
     ["slide", "notes", "notes"]),
    ([md("## 1. A"), md("### Optional"), code("fit()", [PROGRESS], ["nbval-ignore-output"])],
     ["slide", "subslide", "-"]),
    ([md("## 1. A"), code("plot()", [FIGURE]), code("plot()", [FIGURE]), code("plot()", [FIGURE])],
     ["slide", "-", "-", "subslide"]),
    ([md("## Exercises\n\n**Exercise 1.** Do it."), code("def my_f():\n    # YOUR CODE HERE\n"),
      md("**Exercise 2.** Again."), code("exercises.check_g(my_g)"),
      md("<details><summary>Solutions (try first!)</summary>\n\nx\n</details>"),
      md("## Quick questions\n\n1. Why?")],
     ["slide", "skip", "-", "skip", "skip", "slide"]),
], ids=["empty", "title-setup", "code-then-conclusion", "bold-idea", "asides", "progress",
        "third-figure", "exercises"])
def test_plan_follows_the_rules(cells, expected):
    assert plan({"cells": cells}) == expected


def test_overrides_win_over_the_rules(monkeypatch):
    monkeypatch.setitem(slide_metadata.OVERRIDES, "99_x", {"Keep this": "skip"})
    cells = [md("# T"), md("Keep this off the slides.")]
    assert plan({"cells": cells}, "99_x") == ["slide", "skip"]
    assert plan({"cells": cells}, "98_y") == ["slide", "-"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_plan_for_the_course_makes_a_lecture(path):
    notebook = load(path)
    types = plan(notebook, path.stem)
    assert set(types) <= set(slide_metadata.SLIDE_TYPES)
    for cell, kind in zip(notebook["cells"], types):
        text = slide_metadata.source(cell).lstrip()
        if cell["cell_type"] == "markdown" and re.match(r"##? ", text):
            assert kind == "slide", f"a section heading is not a slide: {text[:60]!r}"
        if text.startswith("<details><summary>Solutions") or slide_metadata.is_exercise_stub(cell):
            assert kind == "skip", f"an exercise or solution is on a slide: {text[:60]!r}"
    shown = [k for k in types if k not in ("skip", "notes")]
    assert shown.count("slide") >= 3, "fewer than three slides"
    if len(notebook["cells"]) > 10:  # a lesson, not the start page
        assert shown.count("slide") + shown.count("subslide") < 0.65 * len(shown), \
            "not a lecture: nearly one cell per slide"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_applying_touches_only_the_slideshow_metadata(path):
    original = load(path)
    changed = apply(copy.deepcopy(original), plan(original, path.stem))
    assert stored(changed) == plan(original, path.stem)
    for notebook in (original, changed):
        for cell in notebook["cells"]:
            cell["metadata"].pop("slideshow", None)
    assert changed == original


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_every_notebook_has_its_slide_metadata(path):
    """The stored slide types are the ones the tool chooses: after editing a notebook, run
    `python3 tools/slide_metadata.py` (it writes only metadata.slideshow)."""
    assert stored(load(path)) == plan(load(path), path.stem), \
        f"{path.name}: run `python3 tools/slide_metadata.py {path.name[:2]}`"


# ---- The static export -------------------------------------------------------------------

@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Notebook 03, with the tool's slide types, exported as python3 course.py slides does."""
    out = tmp_path_factory.mktemp("slides")
    notebook = load(ROOT / "notebooks" / "03_masking.ipynb")
    copy_path = out / "notebooks" / "03_masking.ipynb"
    copy_path.parent.mkdir()
    slide_metadata.write(copy_path, apply(notebook, plan(notebook, "03_masking")))
    slides.copy_reveal(out / "slides")
    slides.copy_mathjax(out / "slides")
    html = slides.export(copy_path, out / "slides")
    return html, html.read_text(encoding="utf-8"), plan(notebook, "03_masking")


def test_export_loads_nothing_from_the_network(exported):
    _, text, _ = exported
    # A load is a src= or a <link href=>; an <a href> to a paper (Further reading) is a link
    # the reader may follow, not something the page fetches.
    remote = (re.findall(r"""\bsrc\s*=\s*["']((?:https?:)?//[^"']*)""", text)
              + re.findall(r"""<link\b[^>]*\bhref\s*=\s*["']((?:https?:)?//[^"']*)""", text))
    assert remote == []
    assert "@import url(http" not in text and "require.js" not in text


def test_export_finds_every_file_it_loads(exported):
    html, text, _ = exported
    local = re.findall(r"""(?:src|href)\s*=\s*["']([^"'#:?]+\.(?:js|css))(?:\?[^"']*)?["']""",
                       text)
    assert {"reveal.js/dist/reveal.js", "reveal.js/plugin/notes/notes.js",
            "mathjax/MathJax.js"} <= set(local)
    missing = [name for name in local if not (html.parent / name).exists()]
    assert missing == []
    theme = (html.parent / "reveal.js/dist/theme/white.css").read_text()
    for font_css in re.findall(r"@import url\(\.?/?([^)]+)\)", theme):
        assert (html.parent / "reveal.js/dist/theme" / font_css).exists()


def test_export_has_one_section_per_slide_and_the_notes(exported):
    _, text, types = exported
    slides_and_subslides = types.count("slide") + types.count("subslide")
    # nbconvert wraps each slide's vertical stack in one more <section>
    assert text.count("<section") == slides_and_subslides + types.count("slide")
    notebook = load(ROOT / "notebooks" / "03_masking.ipynb")
    answers = sum(c["cell_type"] == "markdown" and "<details>" in "".join(c["source"])
                  for c, kind in zip(notebook["cells"], types) if kind != "skip")
    assert answers >= 1  # the quick questions' answers go to the notes (tools/slides.py)
    assert text.count('<aside class="notes">') == types.count("notes") + answers
    assert text.count('class="fragment"') == types.count("fragment")


def test_export_embeds_diagrams_and_shows_widgets_as_pictures(exported):
    _, text, _ = exported
    assert 'src="../fig/' not in text, "a diagram is linked, not embedded"
    assert "application/vnd.jupyter.widget-view+json" not in text
    assert text.count('src="data:image/png;base64,') >= 5


def test_embed_local_images_embeds_paths_and_leaves_urls(tmp_path):
    (tmp_path / "fig").mkdir()
    (tmp_path / "fig" / "a b.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    (tmp_path / "notebooks").mkdir()
    text = ('<p><img src="../fig/a%20b.svg" alt="A"></p><img alt="B" src=\'../fig/a b.svg\'>'
            '<img src="data:image/png;base64,iVBOR"><img src="https://example.org/x.png">'
            '<a href="../fig/a b.svg">link</a>')
    embedded = slides.embed_local_images(text, tmp_path / "notebooks")
    svg = "data:image/svg+xml;base64,PHN2ZyB4bWxucz0naHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmcnLz4="
    assert embedded == (f'<p><img src="{svg}" alt="A"></p><img alt="B" src=\'{svg}\'>'
                        + text[text.index('<img src="data:'):])
    with pytest.raises(SystemExit, match="missing.svg"):
        slides.embed_local_images('<img src="../fig/missing.svg">', tmp_path / "notebooks")


@pytest.mark.parametrize("number", ["01", "02", "04"])
def test_export_embeds_the_diagrams_from_fig(tmp_path, number):
    """The notebooks show ../fig/*.svg; nbconvert's embed_images leaves those linked (it
    embeds only files inside the notebook's folder), and the HTML must carry them."""
    path = slides.select_notebooks([number])[0]
    text = path.read_text(encoding="utf-8")  # markdown images, or <img> with a width
    linked = (re.findall(r"!\[[^]]*\]\((\.\./fig/[^)]+\.svg)\)", text)
              + re.findall(r'<img src=\\"(\.\./fig/[^"\\]+\.svg)\\"', text))
    assert linked, f"{path.name} shows no diagram from fig/ any more: pick another notebook"
    text = slides.export(path, tmp_path).read_text(encoding="utf-8")
    assert 'src="../' not in text
    assert text.count('src="data:image/svg+xml;base64,') >= len(linked)


def test_mathjax_config_asks_only_for_fonts_the_package_ships(tmp_path):
    """jupyter-server-mathjax ships MathJax 2.7 with the STIX-Web fonts only: a font that
    is not there makes MathJax show "[Math Processing Error]" from file:// (the TeX fonts'
    fontdata.js is missing for \\underbrace in notebook 01)."""
    template = (slides.TEMPLATE / "index.html.j2").read_text(encoding="utf-8")
    config = re.search(r'"HTML-CSS":\s*\{([^}]*)\}', template).group(1)
    web_font = re.search(r'webFont:\s*"([^"]+)"', config).group(1)
    mathjax = slides.copy_mathjax(tmp_path)
    assert (mathjax / "jax/output/HTML-CSS/fonts" / web_font / "fontdata.js").exists()
    assert list((mathjax / "fonts/HTML-CSS" / web_font).glob("woff/*.woff"))
    for font in re.findall(r'"([^"]+)"', re.search(r"availableFonts:\s*\[([^]]*)\]",
                                                   config).group(1)):
        assert (mathjax / "jax/output/HTML-CSS/fonts" / font / "fontdata.js").exists(), font
    assert re.search(r"imageFont:\s*null", config), "the package ships no image fonts"


def test_select_refuses_an_unknown_notebook():
    with pytest.raises(SystemExit, match="no notebook matches"):
        slides.select_notebooks(["99_nothing"])
    assert [p.name for p in slides.select_notebooks(["03"])] == ["03_masking.ipynb"]
