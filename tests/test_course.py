"""course.py, the two commands of the README: what the learner's first screen is."""
import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("course", ROOT / "course.py")
course = importlib.util.module_from_spec(spec)
spec.loader.exec_module(course)


def test_lab_opens_on_the_start_page_which_exists():
    (url,) = [a.split("=", 1)[1] for a in course.COMMANDS["lab"] if "default_url" in a]
    assert url.startswith("/lab/tree/") and (ROOT / url.removeprefix("/lab/tree/")).is_file()


def test_no_news_pop_up_and_no_update_checks(tmp_path, monkeypatch):
    monkeypatch.setattr(course, "VENV", tmp_path)
    course.quiet_jupyterlab()
    overrides = tmp_path / "share/jupyter/lab/settings/overrides.json"
    settings = json.loads(overrides.read_text())["@jupyterlab/apputils-extension:notification"]
    assert settings == {"fetchNews": "false", "checkForUpdates": False}


def test_the_start_page_links_every_notebook():
    start = ROOT / "notebooks/00_start_here.ipynb"
    text = "".join("".join(c["source"]) for c in json.loads(start.read_text())["cells"])
    for notebook in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        if notebook != start:
            assert f"]({notebook.name})" in text, f"the course map lacks {notebook.name}"
