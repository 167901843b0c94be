"""The explorers as a screen reader and a mouse meet them, in a real JupyterLab (issue 19,
item 6): a slider announces the number it shows; no control carries title="null"; in 09
every button shows its whole label with a tooltip, and the head buttons are disabled
while the rollout (which combines every head) is shown. Fixtures and the notebook runner
are tests/test_browser.py's; like it, this skips without Chromium (fails under CI)."""
from test_browser import lab, page, run_all_cells  # noqa: F401 (fixtures)

# Visible ones: ipywidgets also writes title="null" on the hidden (display: none) label of
# a widget without a description, which neither a mouse nor a screen reader meets.
NULL_TITLES = """() => [...document.querySelectorAll('.jupyter-widgets [title="null"]')]
    .filter(el => el.offsetParent !== null).map(el => el.outerHTML.slice(0, 120))"""


def slider(page, label):
    """The ipywidgets slider whose description is ``label``: (handle, readout)."""
    box = page.locator(".widget-slider", has=page.locator(".widget-label", has_text=label)).first
    return box.locator(".noUi-handle").first, box.locator(".widget-readout").first


def test_the_temperature_slider_announces_the_value_it_shows(lab, page, tmp_path):
    url, token = lab
    run_all_cells(page, url, token, "01_attention_as_soft_lookup.ipynb")
    handle, readout = slider(page, "temperature")
    handle.scroll_into_view_if_needed()
    for presses in (0, 18):  # 1.00, then 18 steps of 0.05 down: 0.10
        for _ in range(presses):
            handle.focus()
            page.keyboard.press("ArrowLeft")
        page.wait_for_timeout(300)
        shown = float(readout.inner_text())
        announced = float(handle.get_attribute("aria-valuetext"))
        assert abs(announced - shown) < 1e-6, f"shows {shown}, announces {announced}"
        assert abs(float(handle.get_attribute("aria-valuenow")) - shown) <= 0.05
    assert abs(shown - 0.10) < 1e-6, f"18 steps down from 1.00 should show 0.10, got {shown}"
    assert page.evaluate(NULL_TITLES) == [], 'a control says title="null"'


def test_vit_explorer_labels_fit_and_rollout_disables_the_heads(lab, page, tmp_path):
    url, token = lab
    run_all_cells(page, url, token, "11_vision_transformer.ipynb")
    buttons = page.locator(".widget-toggle-button")
    buttons.first.scroll_into_view_if_needed()
    cut = page.evaluate("""() => [...document.querySelectorAll('.widget-toggle-button')]
        .filter(b => b.scrollWidth > b.clientWidth || !b.title).map(b => b.textContent)""")
    assert cut == [], f"buttons with a cut label or no tooltip: {cut}"
    mean = buttons.filter(has_text="mean").first
    assert mean.is_enabled()
    page.locator("select", has=page.locator("option", has_text="rollout")).first.select_option(
        label="rollout (all layers)")
    # The buttons are drawn anew when they change: look them up again each time.
    page.wait_for_function("""() => [...document.querySelectorAll('.widget-toggle-button')]
        .filter(b => /^(\\d+|mean)$/.test(b.textContent)).every(b => b.disabled)""",
                           timeout=10_000)
    page.screenshot(path=str(tmp_path / "jupyterlab-09-rollout.png"))
    assert page.evaluate(NULL_TITLES) == [], 'a control says title="null"'


def test_notebook_12_chat_answers_and_top_p_redraws(lab, page, tmp_path):
    """Issue 21: in notebook 14 a learner types a question into the ChatBox and reads
    SmolLM2's answer (loaded into the course's block), and the sampling explorer's top-p
    slider redraws the picture."""
    url, token = lab
    run_all_cells(page, url, token, "14_modern_small_llm.ipynb")
    box = page.locator(".widget-text input").first
    box.scroll_into_view_if_needed()
    box.fill("What is the capital of France?")
    page.locator("button.widget-button", has_text="ask").first.click()
    page.wait_for_function("""() => [...document.querySelectorAll('.course-chat')]
        .some(el => el.textContent.includes('Paris'))""", timeout=60_000)
    page.screenshot(path=str(tmp_path / "jupyterlab-12-chat.png"))
    assert box.input_value() == "", "the question box is emptied once the answer is shown"
    handle, readout = slider(page, "top-p")
    explorer = page.locator(".widget-vbox", has=page.locator(".widget-label", has_text="top-p"))
    image = explorer.last.locator(".widget-image").first  # the innermost box: the explorer
    before = image.get_attribute("src")
    handle.scroll_into_view_if_needed()
    handle.focus()
    for _ in range(10):
        page.keyboard.press("ArrowLeft")
    from test_browser import wait_for_new_picture
    wait_for_new_picture(page, image, before, tmp_path, "moving top-p")
    assert float(readout.inner_text()) < 1.0
    assert page.evaluate(NULL_TITLES) == [], 'a control says title="null"'
