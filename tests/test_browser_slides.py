"""Every exported deck (python3 course.py slides), opened in Chromium at 1280×720: no slide
runs past the bottom of the screen, and no quick-question answer or exercise solution is
on a slide (issue 19, item 2). The answers go to the speaker notes (the S key).

A file of its own, so that pytest-xdist runs it beside tests/test_browser.py; it uses that
file's browser fixture, and skips or fails without Chromium as it does.
"""
import shutil
import sys

import pytest

from test_browser import ROOT, page  # noqa: F401 (fixture)

sys.path.insert(0, str(ROOT / "tools"))
import slides  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SMALLEST_ZOOM = 0.55  # a slide shrunk further is too small to read when projected

# Show every slide with all its fragments, once its formulas are typeset; measure it.
EVERY_SLIDE = """async () => {
    const height = Reveal.getConfig().height, found = [];
    const leaves = [...document.querySelectorAll('.reveal .slides section')]
        .filter(s => !s.querySelector('section'));
    for (const slide of leaves) {
        const at = Reveal.getIndices(slide);
        Reveal.slide(at.h, at.v, slide.querySelectorAll('.fragment').length);
        await new Promise(done => MathJax.Hub.Queue(done));
        const shown = slide.getBoundingClientRect().height / Reveal.getScale();
        found.push({at: `${at.h}/${at.v}`, shown, height, zoom: Number(slide.style.zoom || 1),
                    text: slide.innerText, details: slide.querySelectorAll(
                        ':scope details, :scope > :not(aside) details').length});
    }
    return found;
}"""


@pytest.fixture(scope="module")
def decks(tmp_path_factory):
    out = tmp_path_factory.mktemp("decks")
    slides.copy_reveal(out)
    slides.copy_mathjax(out)
    return out, [slides.export(path, out) for path in NOTEBOOKS]


def test_every_deck_fits_the_screen_and_hides_the_answers(decks, page, tmp_path):
    out, paths = decks
    page.set_viewport_size({"width": 1280, "height": 720})
    problems = []
    for html in paths:
        page.goto(html.as_uri())
        page.wait_for_function("() => document.body.dataset.slidesReady === 'yes'",
                               timeout=30_000)
        for slide in page.evaluate(EVERY_SLIDE):
            where = f"{html.name} slide {slide['at']}"
            if slide["shown"] > slide["height"] + 2:
                problems.append(f"{where}: {slide['shown']:.0f} px, the screen has "
                                f"{slide['height']}")
            if slide["zoom"] < SMALLEST_ZOOM:
                problems.append(f"{where}: shrunk to {slide['zoom']:.0%} to fit")
            if slide["details"] or "Solutions (try first" in slide["text"] \
                    or "\nAnswers\n" in f"\n{slide['text']}\n":
                problems.append(f"{where}: shows answers or solutions")
    page.screenshot(path=str(tmp_path / "last-deck.png"))
    assert problems == [], "\n".join(problems)


def test_the_answers_are_in_the_speaker_notes(decks):
    _, paths = decks
    text = next(p for p in paths if p.name.startswith("04")).read_text(encoding="utf-8")
    notes = text.split('<aside class="notes">')[1:]
    assert any("<strong>Answers</strong>" in n.split("</aside>")[0] for n in notes)
    assert "<details>" not in text


def test_details_move_to_notes_and_skipped_cells_stay():
    import nbformat

    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("## Quick questions\n\n1. Why?\n\n<details><summary>"
                                      "Answers</summary>\n\n1. Because.\n</details>"),
        nbformat.v4.new_markdown_cell("<details><summary>Solutions</summary>\n\nx\n</details>",
                                      metadata={"slideshow": {"slide_type": "skip"}})])
    slides.details_to_notes(notebook)
    assert [c.metadata.get("slideshow", {}).get("slide_type") for c in notebook.cells] == \
        [None, "notes", "skip"]
    assert notebook.cells[0].source == "## Quick questions\n\n1. Why?"
    assert notebook.cells[1].source == "**Answers**\n\n1. Because."
    assert "<details>" in notebook.cells[2].source
