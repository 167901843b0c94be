"""The course website (python3 course.py site, tools/build_site.py), opened from disk in
Chromium with every request that is not file:// refused: every page loads with no console
error and asks the network for nothing; search finds "softmax" and leads to notebook 01; a
diagram and the formulas render; the dark theme switches; axe finds no serious or critical
violation on three pages. The site is built once per module (about 10-20 s). Skips without
Chromium like tests/test_browser.py (fails under CI=true)."""
import sys

import pytest

from test_browser import ROOT, page, refuse_network  # noqa: F401 (fixture)

sys.path.insert(0, str(ROOT / "tools"))
import build_site  # noqa: E402


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    base = tmp_path_factory.mktemp("site")
    result = build_site.build(base / "site", base / "source")
    assert result["warnings"] == [], "\n".join(result["warnings"])
    return base / "site", result


@pytest.fixture
def offline(page):
    """The page with the network refused; yields (page, refused, errors)."""
    refused, errors = refuse_network(page), []
    page.on("console", lambda m: errors.append(f"{page.url}: {m.text}") if m.type == "error"
            else None)
    page.on("pageerror", lambda e: errors.append(f"{page.url}: {e}"))
    # A file that is not there; ERR_ABORTED is a load cut short by the next page.goto.
    page.on("requestfailed", lambda r: errors.append(f"missing {r.url}: {r.failure}")
            if r.url.startswith("file://") and "ERR_ABORTED" not in (r.failure or "") else None)
    page.set_viewport_size({"width": 1280, "height": 720})
    yield page, refused, errors


def typeset(page):
    page.wait_for_function("() => window.MathJax?.Hub?.Register", timeout=15_000)
    page.evaluate("() => new Promise(done => MathJax.Hub.Register.StartupHook('End', done))")
    page.wait_for_function("() => MathJax.Hub.queue.pending === 0 && !MathJax.Hub.queue.running",
                           timeout=30_000)


def test_site_builds_every_page(site):
    out, result = site
    notebooks = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    pages = set(result["pages"])
    assert "index.html" in pages and "search.html" in pages and "teaching.html" in pages
    assert {f"{n}.html" for n in notebooks if not n.startswith("00")} <= pages
    assert (out / "_static" / "mathjax" / "MathJax.js").exists()


def test_site_offline_search_diagram_formula_dark(site, offline, tmp_path):
    out, result = site
    page, refused, errors = offline
    for name in result["pages"]:
        page.goto((out / name).as_uri())
        page.wait_for_load_state("load")
    page.goto((out / "01_attention_as_soft_lookup.html").as_uri())
    typeset(page)
    shown = page.evaluate("""() => ({
        formulas: document.querySelectorAll('.MathJax, .MathJax_Display').length,
        mathErrors: document.querySelectorAll('.MathJax_Error').length,
        diagrams: [...document.querySelectorAll('img[src$=".svg"]')]
            .filter(i => i.complete && i.naturalWidth > 0).length,
        broken: [...document.querySelectorAll('img')].filter(i => !(i.complete
            && i.naturalWidth > 0)).map(i => i.src.slice(0, 80)),
        noAlt: [...document.querySelectorAll('article img')].filter(i => !i.alt).length,
        folded: [...document.querySelectorAll('details')].filter(d => !d.open).length,
        next: document.querySelector('a.next-page')?.getAttribute('href'),
    })""")
    assert shown["formulas"] > 20 and shown["mathErrors"] == 0, shown
    assert shown["diagrams"] >= 1 and shown["broken"] == [], shown
    assert shown["folded"] >= 4, "the solutions and answers must stay folded"
    assert shown["next"] == "02_self_attention.html"
    page.locator("img[src$='.svg']").first.scroll_into_view_if_needed()
    page.screenshot(path=str(tmp_path / "site-01-diagram.png"))
    # Dark theme: Furo's button cycles auto -> dark/light; press until the page is dark.
    for _ in range(3):
        if page.evaluate("() => document.body.dataset.theme") == "dark":
            break
        page.locator(".theme-toggle >> visible=true").first.click()
    assert page.evaluate("() => document.body.dataset.theme") == "dark"
    background = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    assert background != "rgb(255, 255, 255)", background
    page.screenshot(path=str(tmp_path / "site-01-dark.png"))
    # Search from the sidebar's box: "softmax" finds notebook 01, and its link opens it.
    page.goto((out / "index.html").as_uri())
    page.locator("input[name='q']").first.fill("softmax")
    page.keyboard.press("Enter")
    hit = page.locator("#search-results a[href*='01_attention_as_soft_lookup']").first
    hit.wait_for(timeout=30_000)
    page.screenshot(path=str(tmp_path / "site-search.png"))
    hit.click()
    page.wait_for_url("**/01_attention_as_soft_lookup.html*", timeout=10_000)
    assert refused == [], f"the site asked the network for {refused}"
    assert errors == [], "\n".join(errors)


def test_site_pages_pass_axe(site, offline):
    from axe_playwright_python.sync_playwright import Axe

    out, _ = site
    page, refused, _ = offline
    problems = []
    for name in ["index.html", "01_attention_as_soft_lookup.html", "12_windowed_attention_swin.html"]:
        page.goto((out / name).as_uri())
        typeset(page)
        response = Axe().run(page).response
        problems += [f"{name}: {v['id']} ({v['impact']}, {len(v['nodes'])}): "
                     f"{v['nodes'][0]['html'][:160]}" for v in response["violations"]
                     if v["impact"] in ("serious", "critical")]
    assert problems == [], "\n".join(problems)
    assert refused == []
