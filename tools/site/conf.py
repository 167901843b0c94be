"""Sphinx configuration of the course website (tools/build_site.py runs Sphinx with it on a
staged copy of the notebooks). Everything the pages load is written into site/: Furo's
styles and scripts, Sphinx's search index, MathJax 2.7 from the jupyter-server-mathjax
package (copied to _static/mathjax by tools/build_site.py); nothing comes from a CDN."""
from pathlib import Path

import sys

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # course_site.py: the details directive

project = "Transformers from scratch, hands-on"
author = "the course"
copyright = "the course's authors"
language = "en"
extensions = ["myst_nb", "course_site"]
root_doc = "index"
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
suppress_warnings = ["myst.header", "mystnb.unknown_mime_type"]

# The notebooks are shown with the outputs stored in them: nothing is run.
nb_execution_mode = "off"
nb_ipywidgets_js = {}  # no require.js or widget manager from a CDN: widgets show their picture
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "html_image"]
myst_heading_anchors = 3
myst_update_mathjax = False  # MathJax 2 is configured below

# MathJax 2.7 from the local copy (tools/build_site.py copies it to _static/mathjax; the
# path is relative to _static). The
# package ships only the STIX-Web fonts, so they are asked for (as in tools/slides_template).
mathjax_path = "mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full"
mathjax2_config = {
    "tex2jax": {"inlineMath": [["\\(", "\\)"]], "displayMath": [["\\[", "\\]"]],
                "processEscapes": True, "processClass": "math", "ignoreClass": "document"},
    # MathJax_Blank, the font it measures against, is url('about:blank') by default: a page
    # opened from disk logs a CORS error for it. A missing local() font fails as quietly.
    "HTML-CSS": {"availableFonts": [], "preferredFont": None, "webFont": "STIX-Web",
                 "imageFont": None, "styles": {"@font-face": {
                     "font-family": "MathJax_Blank", "src": "local('MathJax_Blank_None')"}}},
    "messageStyle": "none",
}

html_theme = "furo"
html_title = "Transformers from scratch"
html_static_path = [str(HERE / "static")]
html_css_files = ["course.css"]
html_js_files = ["course.js"]  # long code blocks reachable by keyboard
html_show_sourcelink = False
html_copy_source = False
# The search results page would fetch each hit's page for a summary; a page opened from
# disk (file://) may not fetch another file, so the results list titles only.
html_show_search_summary = False
html_last_updated_fmt = None
html_theme_options = {"navigation_with_keys": True, "top_of_page_buttons": []}


