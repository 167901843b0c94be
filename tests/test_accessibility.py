"""Accessibility, checked rather than assumed (issue 24):

- every picture a stored notebook shows carries alt text (tools/alt_text.json, copied into
  the cells' metadata by tools/apply_alt_text.py);
- every diagram's text has a contrast of at least 4.5:1 (WCAG AA) against what is drawn
  under it, computed from the SVG files;
- the course's colour maps and palettes stay distinguishable under simulated deuteranopia
  and protanopia (colorspacious);
- in a real JupyterLab, axe-core (axe-playwright-python, bundled, offline) finds no serious
  or critical violation in the start page and notebooks 01 and 03 after they run, every
  picture in their outputs has alt text and every slider a name, and the explorers work
  from the keyboard.
The website's own axe scan is in tests/test_site.py.
"""
import json
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import apply_alt_text  # noqa: E402

SVG = "{http://www.w3.org/2000/svg}"
AA = 4.5


# ---- alt text ------------------------------------------------------------------------------

def test_every_stored_picture_has_alt_text():
    """Fails until tools/apply_alt_text.py has been run on notebooks/ (and whenever a new
    picture has no entry in tools/alt_text.json)."""
    texts = json.loads(apply_alt_text.ALT_TEXT.read_text(encoding="utf-8"))
    problems, changed, _ = apply_alt_text.apply(ROOT / "notebooks", texts, write=False)
    assert problems + changed == [], "\n".join(problems + [f"{c}: not applied (run python3 "
                                                           f"tools/apply_alt_text.py)"
                                                           for c in changed])


def test_alt_text_tool_is_idempotent_and_follows_a_split_notebook(tmp_path):
    """The cells keep their ids when a notebook is split in two: the tool finds them in the
    part they moved to, writes each alt once, and a second run changes nothing."""
    source = json.loads((ROOT / "notebooks" / "11_vision_transformer.ipynb").read_text())
    pictures = [c for c in source["cells"] if apply_alt_text.image_outputs(c)]
    middle = source["cells"].index(pictures[len(pictures) // 2])
    for name, cells in [("09a_first_half.ipynb", source["cells"][:middle]),
                        ("09b_second_half.ipynb", source["cells"][middle:])]:
        (tmp_path / name).write_text(json.dumps({**source, "cells": cells}))
    texts = {"11_vision_transformer.ipynb": {c["id"]: f"A picture of cell {c['id']}: it shows "
                                             f"what it shows, and here is what to see in it"
                                             for c in pictures}}
    problems, changed, touched = apply_alt_text.apply(tmp_path, texts, write=True)
    assert problems == [] and len(changed) == len(pictures) and len(touched) == 2
    assert apply_alt_text.apply(tmp_path, texts, write=True)[1:] == ([], [])
    del texts["11_vision_transformer.ipynb"][pictures[0]["id"]]
    problems, _, _ = apply_alt_text.apply(tmp_path, texts, write=False)
    assert problems == []  # the alt written before stays in the cell
    for cell in pictures[:1]:  # a picture with no alt text yet (the stored notebooks have it)
        cell["metadata"].pop("mystnb", None)
    (tmp_path / "09c_new.ipynb").write_text(json.dumps({**source, "cells": pictures[:1]}))
    problems, _, _ = apply_alt_text.apply(tmp_path, {}, write=False)
    assert any("no alt text" in p for p in problems)


# ---- contrast of the diagrams' text ----------------------------------------------------------

def luminance(hex_colour):
    channels = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a, b):
    high, low = sorted([luminance(a), luminance(b)], reverse=True)
    return (high + 0.05) / (low + 0.05)


NAMED = {"white": "#ffffff", "black": "#000000", "none": None}


def colour(value):
    if value is None:
        return None
    value = value.strip().lower()
    if value in NAMED:
        return NAMED[value]
    if re.fullmatch(r"#[0-9a-f]{3}", value):
        return "#" + "".join(c * 2 for c in value[1:])
    return value if re.fullmatch(r"#[0-9a-f]{6}", value) else None


def style_of(element):
    """The element's own presentation attributes, from attributes and style="a: b; ..."."""
    found = {k: v for k, v in element.attrib.items()}
    for part in element.attrib.get("style", "").split(";"):
        if ":" in part:
            key, value = part.split(":", 1)
            found[key.strip()] = value.strip()
    return found


def blend(top, opacity, bottom):
    mixed = [round(opacity * int(top[i:i + 2], 16) + (1 - opacity) * int(bottom[i:i + 2], 16))
             for i in (1, 3, 5)]
    return "#" + "".join(f"{c:02x}" for c in mixed)


def box_of(element):
    tag = element.tag.replace(SVG, "")
    if tag == "rect":
        x, y = float(element.get("x", 0)), float(element.get("y", 0))
        width = element.get("width", "0").rstrip("%")
        height = element.get("height", "0").rstrip("%")
        return x, y, x + float(width), y + float(height)
    if tag == "path" and element.get("d"):
        numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", element.get("d"))]
        xs, ys = numbers[0::2], numbers[1::2]
        return (min(xs), min(ys), max(xs), max(ys)) if xs and ys else None
    return None


def text_contrasts(path):
    """(text, its colour, the colour under it, contrast) for every <text> in the SVG: the
    colour under it is that of the last filled shape drawn before it that holds its
    middle, blended by its opacity over what was under that (the page is white)."""
    root = ET.parse(path).getroot()
    painted, found = [], []  # (box, effective colour) in drawing order

    def walk(element, inherited):
        own = style_of(element)
        state = dict(inherited)
        for key in ("fill", "opacity", "fill-opacity", "font-size", "text-anchor"):
            if key in own:
                state[key] = own[key]
        tag = element.tag.replace(SVG, "")
        if tag in ("defs", "marker", "clipPath", "title"):
            return
        opacity = float(own.get("opacity", 1)) * float(inherited.get("group-opacity", 1))
        state["group-opacity"] = opacity if tag == "g" else inherited.get("group-opacity", 1)
        if tag == "text":
            x, y = float(element.get("x", 0)), float(element.get("y", 0))
            size = float(re.sub(r"px$", "", str(state.get("font-size", 14))))
            content = "".join(element.itertext()).strip()
            width = 0.55 * size * len(content)
            left = {"middle": x - width / 2, "end": x - width}.get(state.get("text-anchor"), x)
            point = (left + width / 2, y - size * 0.35)
            under = "#ffffff"
            for (x0, y0, x1, y1), fill in painted:
                if x0 <= point[0] <= x1 and y0 <= point[1] <= y1:
                    under = fill
            ink = colour(state.get("fill", "black")) or "#000000"
            found.append((content, ink, under, contrast(ink, under)))
            return
        fill = colour(state.get("fill", "black" if tag in ("rect", "path") else None))
        box = box_of(element) if tag in ("rect", "path") else None
        if fill and box and "fill" in {**inherited, **own}:
            alpha = float(state["group-opacity"]) * float(state.get("fill-opacity", 1))
            if tag != "g":
                alpha *= float(own.get("opacity", 1)) if tag != "g" else 1
            under = "#ffffff"
            for (x0, y0, x1, y1), colour_under in painted:
                if x0 <= (box[0] + box[2]) / 2 <= x1 and y0 <= (box[1] + box[3]) / 2 <= y1:
                    under = colour_under
            painted.append((box, blend(fill, min(alpha, 1.0), under)))
        for child in element:
            walk(child, state)

    walk(root, {})
    return found


@pytest.mark.parametrize("svg", sorted((ROOT / "fig").glob("*.svg")), ids=lambda p: p.name)
def test_diagram_text_has_aa_contrast(svg):
    """Every text of every diagram, the hand-drawn ones and those of tools/draw_diagrams.py
    (which picks black or white labels on the fills for this), reaches 4.5:1."""
    found = text_contrasts(svg)
    assert found, f"{svg.name}: no text found"
    low = [f"{text!r}: {ink} on {under}, {ratio:.2f}:1" for text, ink, under, ratio in found
           if ratio < AA]
    assert low == [], f"{svg.name}: text below {AA}:1\n" + "\n".join(low)


def test_contrast_formula_matches_wcag():
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)


# ---- colour maps and palettes under colour-vision deficiency ---------------------------------

OKABE_ITO = ["#e69f00", "#56b4e9", "#009e73", "#f0e442", "#0072b2", "#d55e00", "#cc79a7"]
DIAGRAM = ["#e8112d", "#21918c", "#440154", "#3b528b", "#fde725"]  # tools/draw_diagrams.py
# the same, with the query red darkened for text on white (QUERY_TEXT, the "Q" labels)
DIAGRAM_TEXT = ["#c8102e", "#21918c", "#440154", "#3b528b", "#fde725"]
PLOT_LINES = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"]  # matplotlib's first five


def simulate(rgb, kind):
    from colorspacious import cspace_convert

    return cspace_convert(rgb, {"name": "sRGB1+CVD", "cvd_type": kind, "severity": 100},
                          "sRGB1").clip(0, 1)


def ucs(rgb):
    from colorspacious import cspace_convert

    return cspace_convert(rgb, "sRGB1", "CAM02-UCS")


def as_rgb(hexes):
    import numpy as np

    return np.array([[int(h[i:i + 2], 16) / 255 for i in (1, 3, 5)] for h in hexes])


@pytest.mark.parametrize("kind", ["deuteranomaly", "protanomaly"])
@pytest.mark.parametrize("cmap", ["viridis", "cividis", "RdBu_r", "Greys"])
def test_colour_maps_stay_ordered_under_simulated_cvd(cmap, kind):
    """Heatmaps (viridis, the course's default) and the diverging and grey maps the figures
    use: under full deuteranopia or protanopia, lightness still rises along the map (for a
    diverging map, away from its middle), so the order of the values can still be read."""
    import matplotlib
    import numpy as np

    values = matplotlib.colormaps[cmap](np.linspace(0, 1, 64))[:, :3]
    lightness = ucs(simulate(values, kind))[:, 0]
    if cmap == "RdBu_r":  # diverging: lightness falls away from the white middle
        half = len(lightness) // 2
        steps = np.concatenate([np.diff(lightness[:half]), -np.diff(lightness[half:])])
    else:
        steps = np.diff(lightness)
    assert (steps > 0).all() or (steps < 0).all() or cmap == "RdBu_r" and (steps > 0).all(), \
        f"{cmap} under {kind}: lightness not monotonic ({steps.min():.2f}..{steps.max():.2f})"


@pytest.mark.parametrize("kind", ["deuteranomaly", "protanomaly"])
@pytest.mark.parametrize("name, palette, least", [("Okabe-Ito (notebook 12)", OKABE_ITO, 10),
                                                  ("diagram colours", DIAGRAM, 10),
                                                  ("diagram text", DIAGRAM_TEXT, 10),
                                                  ("plot lines", PLOT_LINES[:2], 10)])
def test_palettes_stay_distinguishable_under_simulated_cvd(name, palette, least, kind):
    """Every pair of colours in a palette stays at least ``least`` CAM02-UCS units apart
    (about 10: clearly different side by side) under full deuteranopia or protanopia.
    Matplotlib's line colours beyond the first two (green and red) are not: the figures
    with more than two lines tell them apart by label or marker as well."""
    import itertools

    import numpy as np

    points = ucs(simulate(as_rgb(palette), kind))
    pairs = [(palette[i], palette[j], float(np.linalg.norm(points[i] - points[j])))
             for i, j in itertools.combinations(range(len(palette)), 2)]
    close = [f"{a} / {b}: {d:.1f}" for a, b, d in pairs if d < least]
    assert close == [], f"{name} under {kind}: too close\n" + "\n".join(close)


# ---- JupyterLab in a real browser: axe, alt text, names, keyboard -----------------------------

SERIOUS = ("serious", "critical")


def axe_violations(page, context):
    from axe_playwright_python.sync_playwright import Axe

    response = Axe().run(page, context=context).response
    return [f"{v['id']} ({v['impact']}, {len(v['nodes'])}): {v['help']} — "
            f"{v['nodes'][0]['html'][:160]}" for v in response["violations"]
            if v["impact"] in SERIOUS]


OUTPUT_STATE = """() => {
    const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
    const imgs = [...panel.querySelectorAll('.jp-OutputArea img')];
    const sliders = [...panel.querySelectorAll('.widget-slider [role="slider"]')];
    return {images: imgs.length, noAlt: imgs.filter(i => !i.getAttribute('alt'))
                .map(i => i.closest('[data-jpf-cell-id]')?.dataset.jpfCellId),
            sliders: sliders.map(s => s.getAttribute('aria-label')),
            unfocusable: sliders.filter(s => s.tabIndex < 0).length};
}"""


from test_browser import lab, page, run_all_cells  # noqa: E402,F401 (fixtures)


def test_jupyterlab_axe_alt_text_and_named_controls(lab, page, tmp_path):
    """JupyterLab runs 00, 01 and 03 with the alt texts applied to its copy of the
    notebooks; axe scans each notebook after it ran (JupyterLab's file browser and menus
    are left out of the scan: its upload button carries aria-pressed on a custom element,
    a critical aria-allowed-attr of JupyterLab 4.6's own). Every picture in the outputs,
    stored or drawn by a live explorer, has alt text (tools/labextension), every slider a
    name, and the explorer's slider moves from the keyboard alone (Tab, then arrows)."""
    url, token = lab
    texts = json.loads(apply_alt_text.ALT_TEXT.read_text(encoding="utf-8"))
    apply_alt_text.apply(tmp_path / "course" / "notebooks", texts, write=True)
    problems = []
    for notebook in ["00_start_here.ipynb", "01_attention_as_soft_lookup.ipynb",
                     "03_masking.ipynb"]:
        run_all_cells(page, url, token, notebook)
        page.wait_for_timeout(1000)  # the widgets' views
        problems += [f"{notebook}: {v}" for v in axe_violations(
            page, ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook")]
        state = page.evaluate(OUTPUT_STATE)
        if state["noAlt"]:
            problems.append(f"{notebook}: pictures without alt text in cells {state['noAlt']}")
        if None in state["sliders"] or state["unfocusable"]:
            problems.append(f"{notebook}: sliders without a name or focus: {state}")
        if notebook.startswith("01"):
            assert state["images"] >= 7 and len(state["sliders"]) == 3, state
            page.screenshot(path=str(tmp_path / "jupyterlab-01-accessibility.png"))
            handle = page.locator(".widget-slider [role='slider']").first
            handle.scroll_into_view_if_needed()
            handle.focus()
            page.keyboard.press("Shift+Tab")  # from the control before it, as a keyboard user
            page.keyboard.press("Tab")
            assert page.evaluate("() => document.activeElement.getAttribute('role')") == "slider"
            before = handle.get_attribute("aria-valuenow")
            page.keyboard.press("ArrowRight")
            page.wait_for_function("([el, old]) => el.getAttribute('aria-valuenow') !== old",
                                   arg=[handle.element_handle(), before], timeout=10_000)
    assert problems == [], "\n".join(problems)
