"""A real JupyterLab in a real browser: open a notebook, run all cells, move a widget.

The test starts JupyterLab on 127.0.0.1 on a copy of the course, drives it with
Playwright in headless Chromium, and stops everything it started. It needs a Chromium
binary: Debian's `chromium` package (`sudo apt install chromium`), or any Chrome/Chromium
named by the COURSE_CHROMIUM environment variable. It never downloads a browser. On a
machine without one it skips and says so; under CI (CI=true) it fails instead.
"""
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update",
                  "--disable-gpu", "--no-first-run", "--disable-sync"]
# Settings that keep JupyterLab from asking about news or updates (a pop-up over the page).
LAB_SETTINGS = {"@jupyterlab/apputils-extension/notification.jupyterlab-settings":
                {"fetchNews": "false", "checkForUpdates": False}}


def find_chromium():
    candidates = [os.environ.get("COURSE_CHROMIUM"), shutil.which("chromium"),
                  shutil.which("chromium-browser"), shutil.which("google-chrome")]
    return next((c for c in candidates if c and Path(c).exists()), None)


def skip_unless_ci(reason):
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: the browser test must run, not skip)")
    pytest.skip(reason)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def api(url, token, path, method="GET"):
    request = urllib.request.Request(f"{url}{path}", method=method,
                                     headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        body = response.read()
    return json.loads(body) if body else None


@pytest.fixture
def lab(tmp_path):
    """JupyterLab serving a copy of notebooks/ and fig/; yields (url, token); stops it all."""
    course = tmp_path / "course"
    for folder in ("notebooks", "fig"):
        shutil.copytree(ROOT / folder, course / folder)
    settings = tmp_path / "lab-settings"
    for name, values in LAB_SETTINGS.items():
        path = settings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    port, token = free_port(), secrets.token_hex(16)
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"), JUPYTER_PLATFORM_DIRS="1")
    log = open(tmp_path / "jupyterlab.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1",
         f"--port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
         f"--ServerApp.root_dir={course}", "--LabApp.expose_app_in_browser=True",
         f"--LabApp.user_settings_dir={settings}",
         f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}"]
        + (["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []),
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                api(url, token, "/api/status")
                break
            except (urllib.error.URLError, ConnectionError, OSError):
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("JupyterLab did not start:\n" + (tmp_path / "jupyterlab.log")
                                .read_text()[-3000:])
                time.sleep(0.5)
        yield url, token
    finally:
        stop_everything(server, url, token)
        log.close()


def stop_everything(server, url, token):
    """Shut the server down through its API (which stops its kernels), then make sure."""
    if server.poll() is not None:
        return
    children = psutil.Process(server.pid).children(recursive=True)
    try:
        api(url, token, "/api/shutdown", method="POST")
        server.wait(timeout=20)
    except Exception:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    _, alive = psutil.wait_procs(children, timeout=10)
    for process in alive:  # kernels run in sessions of their own; none may outlive the test
        process.kill()


@pytest.fixture
def page(tmp_path):
    chromium = find_chromium()
    if chromium is None:
        skip_unless_ci("No Chromium found: install it (Debian/Ubuntu: `sudo apt install "
                       "chromium`) or set COURSE_CHROMIUM=/path/to/chrome to run the browser test")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=chromium, headless=True,
            args=CHROMIUM_FLAGS, viewport={"width": 1400, "height": 1000})
        try:
            yield context.new_page()
        finally:
            context.close()


NOTEBOOK_STATE = """() => {
    const panel = window.jupyterapp.shell.currentWidget;
    const cells = panel.content.widgets.filter(cell => cell.model.type === 'code');
    const outputs = cells.flatMap(cell => cell.model.outputs.toJSON());
    return {idle: panel.sessionContext.session.kernel.status === 'idle',
            ran: cells.filter(cell => cell.model.executionCount !== null).length,
            cells: cells.length,
            errors: outputs.filter(o => o.output_type === 'error')
                           .map(o => `${o.ename}: ${o.evalue}`)};
}"""


def run_all_cells(page, url, token, notebook):
    """Open ``notebook`` in JupyterLab, run every cell, and fail on any error output."""
    page.goto(f"{url}/lab/tree/notebooks/{notebook}?token={token}")
    page.wait_for_function(  # this notebook's panel (not one left open before), kernel idle
        "name => { const w = window.jupyterapp?.shell.currentWidget; "
        "return w?.context?.path?.endsWith(name) "
        "&& w.sessionContext?.session?.kernel?.status === 'idle'; }",
        arg=notebook, timeout=90_000)
    # Clear the stored outputs first: a stored notebook already has an execution count in
    # every cell, so "every cell ran" would otherwise hold before anything has run.
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs')")
    page.wait_for_function(f"() => ({NOTEBOOK_STATE})().ran === 0", timeout=30_000)
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_function(f"() => {{ const s = ({NOTEBOOK_STATE})(); "
                           "return s.idle && s.ran === s.cells; }", timeout=120_000)
    state = page.evaluate(NOTEBOOK_STATE)
    assert state["errors"] == [], f"{notebook} shows errors: {state['errors']}"
    return state


def assert_markdown_images_load(page):
    """Every diagram in the markdown cells (such as ../fig/*.svg) was found and drawn."""
    images = page.evaluate("""() => [...document.querySelectorAll('.jp-MarkdownOutput img')]
        .map(img => ({src: img.getAttribute('src'), ok: img.complete && img.naturalWidth > 0}))""")
    assert images, "no diagram found in the markdown cells"
    broken = [img["src"] for img in images if not img["ok"]]
    assert not broken, f"diagrams that did not load: {broken}"


def wait_for_new_picture(page, image, before, tmp_path, action):
    """Wait until the widget's picture differs from ``before``; fail with a screenshot."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function("([el, old]) => el.getAttribute('src') !== old",
                               arg=[image.element_handle(), before], timeout=30_000)
    except PlaywrightTimeout:
        page.screenshot(path=str(tmp_path / "widget-did-not-redraw.png"))
        pytest.fail(f"{action} did not redraw the figure within 30 s (screenshot in {tmp_path})")


def widget_image(page, index):
    return page.locator(".jupyter-widgets.widget-image, .widget-image").nth(index)


def check_widget_redraws(page, tmp_path, act, action, screenshot):
    """Wait for the first widget's picture, do ``act()`` to a control, and fail unless the
    picture changes; then save a screenshot for a person to look at."""
    image = widget_image(page, 0)
    image.scroll_into_view_if_needed()
    image.wait_for(state="visible", timeout=60_000)
    before = image.get_attribute("src")
    act()
    wait_for_new_picture(page, image, before, tmp_path, action)
    image.scroll_into_view_if_needed()
    page.screenshot(path=str(tmp_path / screenshot))


def press_slider(page, index, key, times=1):
    handle = page.locator(".widget-slider .noUi-handle").nth(index)
    handle.focus()
    for _ in range(times):
        page.keyboard.press(key)


def refuse_network(page) -> list:
    """Let the page load file:// URLs only; every other request is aborted and its URL
    appended to the list returned (the offline slides and the website)."""
    refused = []

    def route(r):
        if r.request.url.startswith("file://"):
            r.continue_()
        else:
            refused.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    return refused


def test_soft_lookup_widget_redraws_when_the_query_moves(lab, page, tmp_path):
    url, token = lab
    state = run_all_cells(page, url, token, "01_attention_as_soft_lookup.ipynb")
    assert state["cells"] > 20
    assert_markdown_images_load(page)
    check_widget_redraws(page, tmp_path, lambda: press_slider(page, 0, "ArrowRight", 6),
                         "moving the query-direction slider (6 steps of 5 degrees)",
                         "jupyterlab-01-widget.png")


def test_mask_lab_redraws_when_the_mask_kind_is_clicked(lab, page, tmp_path):
    url, token = lab
    run_all_cells(page, url, token, "03_masking.ipynb")
    check_widget_redraws(
        page, tmp_path, lambda: page.locator(".widget-toggle-button", has_text="none").first.click(),
        "clicking the mask kind 'none'", "jupyterlab-03-mask-lab.png")


def test_vit_explorer_redraws_when_the_head_is_clicked(lab, page, tmp_path):
    url, token = lab
    run_all_cells(page, url, token, "11_vision_transformer.ipynb")
    check_widget_redraws(  # head 0, not the mean of the heads
        page, tmp_path, lambda: page.locator(".widget-toggle-button", has_text="0").first.click(),
        "clicking head 0 in the ViT explorer", "jupyterlab-09-vit-explorer.png")


def test_receptive_field_explorer_redraws_when_the_block_slider_moves(lab, page, tmp_path):
    url, token = lab
    run_all_cells(page, url, token, "12_windowed_attention_swin.ipynb")
    check_widget_redraws(  # sliders: patch row, patch col, block; after block 1 -> block 2
        page, tmp_path, lambda: press_slider(page, 2, "ArrowRight"),
        "moving the block slider of the receptive-field explorer",
        "jupyterlab-10-receptive-field.png")


def read_cards():
    path = Path(os.environ["COURSE_PROGRESS"])  # tests/conftest.py: a throwaway file
    return json.loads(path.read_text())["cards"] if path.exists() else {}


def test_flashcards_on_the_start_page_update_the_progress_file(lab, page, tmp_path):
    """Review what is due: two cards met yesterday are due; "Didn't" puts the first in box
    1, "Knew it" the second in box 2, and the progress file the kernel writes says so."""
    import datetime as dt

    from helpers.flashcards import load_cards
    from helpers.progress import Progress

    yesterday = dt.date.today() - dt.timedelta(days=1)
    seen = [card["id"] for card in load_cards("02")[:2]]
    for card in seen:
        Progress(today=lambda: yesterday).review(card, knew=False)  # due today
    url, token = lab
    run_all_cells(page, url, token, "00_start_here.ipynb")
    deck = page.locator(".course-flashcards")
    deck.scroll_into_view_if_needed()
    for grade, box in [("Didn't", 1), ("Knew it", 2)]:
        deck.get_by_role("button", name="Show answer").click()
        deck.get_by_role("button", name=grade).click()
        page.wait_for_function("([el, n]) => el.innerText.includes(`box ${n}, next review`)",
                               arg=[deck.element_handle(), box], timeout=30_000)
    page.screenshot(path=str(tmp_path / "jupyterlab-00-flashcards.png"))
    cards = read_cards()
    assert [cards[card]["box"] for card in seen] == [1, 2]
    assert [cards[card]["reviews"] for card in seen] == [2, 2]
    assert "Score: knew 1 of 2" in deck.inner_text() and "Done: 2 cards" in deck.inner_text()


# ---- Slides (issue 13, item 1): live in JupyterLab's deck mode, and the offline export ------

def with_slide_metadata(path):
    """Give the copy at ``path`` the slide types of tools/slide_metadata.py (a no-op once
    the notebooks carry them), so the slideshow tests do not wait for that step."""
    sys.path.insert(0, str(ROOT / "tools"))
    import slide_metadata

    notebook = json.loads(path.read_text(encoding="utf-8"))
    slide_metadata.write(path, slide_metadata.apply(notebook, slide_metadata.plan(notebook,
                                                                                  path.stem)))


def test_live_slides_mask_lab_redraws_on_its_slide(lab, page, tmp_path):
    """What a lecturer does: run the notebook, click the deck icon in the notebook toolbar,
    step to the mask lab with the arrow key, click a mask kind: the picture changes."""
    url, token = lab
    page.set_viewport_size({"width": 1280, "height": 720})  # a projector: the first click counts
    with_slide_metadata(tmp_path / "course" / "notebooks" / "03_masking.ipynb")
    run_all_cells(page, url, token, "03_masking.ipynb")
    assert page.locator("#filebrowser").is_visible()  # the lecturer's file browser, before
    page.evaluate("() => { window.jupyterapp.shell.currentWidget.content.activeCellIndex = 0; }")
    page.locator(".jp-NotebookPanel-toolbar [data-command='deck:toggle']").first.click()
    on_slide = ".jp-deck-mod-onscreen"  # the cells that deck mode shows now
    page.wait_for_selector(on_slide, timeout=10_000)
    image = page.locator(f"{on_slide} .widget-image")
    for _ in range(100):  # one key press per step: fragments and cells, then slides
        if image.count():
            break
        page.keyboard.press("ArrowRight")
        page.wait_for_timeout(100)
    assert image.count() == 1, "no slide with the mask lab's picture after 100 steps"
    page.screenshot(path=str(tmp_path / "slides-live-03-mask-lab.png"))
    assert page.locator(f"{on_slide}.jp-MarkdownCell", has_text="Mask lab").count() == 1
    before = image.get_attribute("src")
    page.locator(f"{on_slide} .widget-toggle-button", has_text="none").first.click()
    wait_for_new_picture(page, image, before, tmp_path, "clicking 'none' on the live slide")
    page.screenshot(path=str(tmp_path / "slides-live-03-mask-lab-none.png"))
    # Leaving with Esc (the extension's key) brings back the file browser that was open
    # before (jupyterlab-slideshow alone leaves it collapsed: tools/labextension fixes that).
    assert page.evaluate("() => window.jupyterapp.shell.leftCollapsed")
    page.keyboard.press("Escape")
    page.wait_for_function("() => !('jpDeckMode' in document.body.dataset)", timeout=10_000)
    page.wait_for_function("() => !window.jupyterapp.shell.leftCollapsed", timeout=10_000)
    page.locator("#filebrowser").wait_for(state="visible", timeout=10_000)
    page.screenshot(path=str(tmp_path / "slides-live-03-after-esc.png"))


# What an exported deck shows once MathJax has finished: its formulas, the error boxes
# MathJax draws for one it cannot typeset, and the pictures that did not load.
TYPESET = """() => ({
    formulas: document.querySelectorAll('.MathJax, .MathJax_Display').length,
    errors: [...document.querySelectorAll('.MathJax_Error')].map(e => e.textContent.slice(0, 80)),
    images: document.querySelectorAll('.slides img').length,
    broken: [...document.querySelectorAll('img')].filter(img => !(img.complete
        && img.naturalWidth > 0)).map(img => (img.getAttribute('alt') || img.src).slice(0, 80)),
})"""


def show_slide_with(page, find):
    """Go to the slide holding the element that the JavaScript expression ``find``
    gives, with all its fragments shown."""
    page.evaluate(f"""() => {{
        const slide = ({find}).closest('section');
        const at = Reveal.getIndices(slide);
        Reveal.slide(at.h, at.v, slide.querySelectorAll('.fragment').length);
    }}""")
    page.wait_for_timeout(300)


def test_static_slides_open_offline_and_advance(page, tmp_path):
    """python3 course.py slides 01, opened from disk with every request but file:// refused:
    reveal.js starts, MathJax (the copy beside the HTML) typesets every formula without an
    error, the diagram from fig/ and the stored pictures are shown, nothing local is
    missing, and the right arrow moves to the next slide."""
    sys.path.insert(0, str(ROOT / "tools"))
    import slides

    copy = tmp_path / "notebooks" / "01_attention_as_soft_lookup.ipynb"
    copy.parent.mkdir()
    shutil.copy(ROOT / "notebooks" / copy.name, copy)
    shutil.copytree(ROOT / "fig", tmp_path / "fig")  # where the notebook's ../fig/ points
    with_slide_metadata(copy)
    slides.copy_reveal(tmp_path / "slides")
    slides.copy_mathjax(tmp_path / "slides")
    html = slides.export(copy, tmp_path / "slides")
    shutil.rmtree(tmp_path / "fig")  # the HTML must carry its diagrams, not link them
    refused, missing = refuse_network(page), []
    page.on("requestfailed", lambda request: missing.append(request.url)
            if request.url.startswith("file://") else None)
    page.goto(html.as_uri())
    page.wait_for_function("() => window.Reveal?.isReady()", timeout=15_000)
    page.wait_for_function("() => window.MathJax?.Hub?.Register", timeout=15_000)
    # The startup's "End" signal comes after the first typesetting of the whole page (a
    # hook registered later is called at once).
    page.evaluate("() => new Promise(done => MathJax.Hub.Register.StartupHook('End', done))")
    page.wait_for_function("() => MathJax.Hub.queue.pending === 0 && !MathJax.Hub.queue.running",
                           timeout=15_000)
    shown = page.evaluate(TYPESET)
    assert shown["formulas"] > 20, f"MathJax typeset only {shown['formulas']} formulas"
    assert shown["errors"] == [], f"formulas MathJax could not typeset: {shown['errors']}"
    assert shown["images"] >= 2 and shown["broken"] == [], f"pictures not shown: {shown}"
    assert missing == [], f"local files the slides load but that are missing: {missing}"
    show_slide_with(page, "document.querySelector(\"img[src^='data:image/svg+xml']\")")
    page.screenshot(path=str(tmp_path / "slides-static-01-diagram.png"))
    show_slide_with(page, "[...document.querySelectorAll('script[type^=\"math/tex\"]')]"
                          ".find(s => s.text.includes('underbrace')) "
                          "|| document.querySelector('.MathJax_Display')")
    page.screenshot(path=str(tmp_path / "slides-static-01-formula.png"))

    page.evaluate("() => Reveal.slide(0, 0)")
    assert page.evaluate("() => Reveal.getIndices().h") == 0
    assert page.evaluate("() => Reveal.getTotalSlides()") > 10
    page.keyboard.press("ArrowRight")
    page.wait_for_function("() => Reveal.getIndices().h === 1", timeout=5_000)
    page.screenshot(path=str(tmp_path / "slides-static-01.png"))
    assert refused == [], f"the offline slides asked the network for {refused}"
