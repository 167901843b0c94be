"""Readable when projected: every notebook in a real JupyterLab at 1280×720 with the file
browser open, every figure and widget screenshotted and measured (issue 13, item 5).

A file of its own, so that pytest-xdist (``--dist loadfile``) runs it beside
tests/test_browser.py instead of after it; it uses that file's JupyterLab and browser
fixtures, and skips or fails without Chromium as it does.
"""
import sys

import pytest

from test_browser import ROOT, lab, page, run_all_cells  # noqa: F401 (fixtures)

PROJECTOR = {"width": 1280, "height": 720}
MIN_TEXT_PX = 9.0
MAX_FIGURE_HEIGHT = 600  # the notebook's visible height at 1280×720, under the menus

OUTPUT_IMAGE = """img => {
    const box = img.getBoundingClientRect();
    return {natural: [img.naturalWidth, img.naturalHeight], shown: [box.width, box.height],
            column: img.closest('.jp-OutputArea-output').getBoundingClientRect().width};
}"""

# Each control row of a widget: is every label beside (not above or apart from) its
# buttons, and is every dropdown wide enough for the choice it shows?
WIDGET_CONTROLS = """() => {
    const ctx = document.createElement('canvas').getContext('2d');
    const cut = [...document.querySelectorAll('.jp-OutputArea-output select')].filter(s => {
        ctx.font = getComputedStyle(s).font;
        const text = s.options[s.selectedIndex]?.text ?? '';
        return ctx.measureText(text).width + 20 > s.clientWidth;  // 20: the arrow
    }).map(s => s.options[s.selectedIndex]?.text);
    const apart = [...document.querySelectorAll('.jp-OutputArea-output .widget-toggle-buttons')]
        .filter(b => b.offsetParent !== null).map(buttons => {
            const label = buttons.previousElementSibling;
            if (!label || !label.classList.contains('widget-label')) return 'no label';
            const l = label.getBoundingClientRect(), first = buttons.querySelector('button')
                .getBoundingClientRect();
            const beside = l.right <= first.left + 1 && first.left - l.right < 40
                && l.top < first.bottom && first.top < l.bottom;
            return beside ? null : label.textContent;
        }).filter(x => x !== null);
    return {cut, apart};
}"""


@pytest.fixture
def figure_log(tmp_path, monkeypatch):
    """Kernels started from here on log every PNG they render: its size in pixels and every
    text drawn into it (tools/figure_audit.py). Request it before ``lab``."""
    sys.path.insert(0, str(ROOT / "tools"))
    import figure_audit

    log = tmp_path / "figures.jsonl"
    monkeypatch.setenv("IPYTHONDIR", str(figure_audit.startup_dir(tmp_path / "ipython", log)))
    return log


def check_figures_readable(page, notebook, records, tmp_path):
    """Screenshot every figure and widget output of the open notebook; return what is
    wrong: text below 9 px as shown, taller than the screen, overlapping text, a legend
    on data (matched to the kernel's log by the PNG's size in pixels)."""
    from figure_audit import summarise

    problems = []
    images = page.locator(".jp-OutputArea-output img:visible")  # not a hidden static copy
    for i in range(images.count()):
        where = f"{notebook[:2]}-figure-{i:02d}.png"
        images.nth(i).scroll_into_view_if_needed()  # JupyterLab lays out visible cells only
        images.nth(i).screenshot(path=str(tmp_path / where))
        image = images.nth(i).evaluate(OUTPUT_IMAGE)
        drawn = [r for r in records if tuple(r["png"]) == tuple(image["natural"])]
        if not drawn:
            problems.append(f"{where}: no record of a {image['natural']} PNG in the kernel's log")
            continue
        scale = image["shown"][0] / image["natural"][0]  # as the browser shows it
        for record in drawn:
            numbers = summarise(record, column_px=image["column"])
            if numbers["smallest_px_natural"] * scale < MIN_TEXT_PX:
                problems.append(f"{where}: text {numbers['smallest_px_natural'] * scale:.1f} px")
            problems += [f"{where}: {p}" for p in numbers["problems"] if "px" not in p]
        if image["shown"][1] > MAX_FIGURE_HEIGHT:
            problems.append(f"{where}: {image['shown'][1]:.0f} px tall")
    return problems


@pytest.mark.parametrize("notebook", [p.name for p in sorted((ROOT / "notebooks").glob(
    "[0-9][0-9]_*.ipynb")) if not p.name.startswith("00")], ids=lambda name: name[:2])
def test_figures_and_widgets_are_readable_at_1280x720(notebook, figure_log, lab, page,
                                                       tmp_path):
    """Every notebook at 1280×720 with the file browser open, as a projector shows it:
    every figure and widget picture keeps its text at 9 px or more as shown, fits the
    screen, has no overlapping text and no legend on data; labels sit beside their
    buttons, dropdowns show their whole choice. Screenshots of each output are saved in
    the test's folder for a person to look at."""
    from figure_audit import read_log

    url, token = lab
    page.set_viewport_size(PROJECTOR)
    run_all_cells(page, url, token, notebook)
    page.evaluate("() => window.jupyterapp.commands.execute('filebrowser:activate')")
    page.wait_for_timeout(500)  # the side panel's layout settles
    column = page.evaluate("() => Math.max(...[...document.querySelectorAll("
                           "'.jp-OutputArea-output')].map(e => e.getBoundingClientRect().width))")
    assert 700 < column < 900, f"the output column is {column} px wide at 1280×720"
    problems = check_figures_readable(page, notebook, read_log(figure_log), tmp_path)
    controls = page.evaluate(WIDGET_CONTROLS)
    problems += [f"{notebook}: dropdown cuts off {text!r}" for text in controls["cut"]]
    problems += [f"{notebook}: label {text!r} is not beside its buttons"
                 for text in controls["apart"]]
    page.screenshot(path=str(tmp_path / f"{notebook[:2]}-page.png"))
    print(f"screenshots of every figure and widget: {tmp_path}")
    assert not problems, f"{len(problems)} problem(s) (screenshots in {tmp_path}):\n" + \
        "\n".join(problems)
