"""course.py, the two commands of the README: what the learner's first screen is."""
import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("course", ROOT / "course.py")
course = importlib.util.module_from_spec(spec)
spec.loader.exec_module(course)


def test_lab_opens_on_the_start_page_which_exists():
    (url,) = [a.split("=", 1)[1] for a in course.COMMANDS["lab"] if "default_url" in a]
    assert url.startswith("/lab/tree/") and (ROOT / url.removeprefix("/lab/tree/")).is_file()


def test_no_news_pop_up_and_no_update_checks(tmp_path):
    course.jupyter_settings(tmp_path)
    overrides = tmp_path / "share/jupyter/lab/settings/overrides.json"
    settings = json.loads(overrides.read_text())["@jupyterlab/apputils-extension:notification"]
    assert settings == {"fetchNews": "false", "checkForUpdates": False}
    assert not (tmp_path / "etc").exists()  # .venv: `course.py lab` passes the URL itself


def test_the_course_extension_is_installed_where_jupyterlab_finds_it(tmp_path):
    """jupyter_settings copies tools/labextension (the file browser after the live slides)
    into share/jupyter/labextensions; JupyterLab's own scan lists it as a prebuilt extension
    whose entry point exists and registers the container named in its package.json."""
    from jupyterlab_server.config import get_federated_extensions

    course.jupyter_settings(tmp_path)
    found = get_federated_extensions([str(tmp_path / "share/jupyter/labextensions")])
    assert list(found) == ["transformers-course-lab"]
    build = found["transformers-course-lab"]["jupyterlab"]["_build"]
    entry = Path(found["transformers-course-lab"]["ext_path"]) / build["load"]
    source = entry.read_text(encoding="utf-8")
    assert build["extension"] == "./extension" and '"./extension"' in source
    assert 'const scope = "transformers-course-lab"' in source and "expandLeft" in source
    course.jupyter_settings(tmp_path)  # a second run changes nothing
    assert entry.read_text(encoding="utf-8") == source


def test_an_image_opens_on_the_start_page(tmp_path):
    """binder/postBuild runs `course.py settings PREFIX`: a hub's or Binder's server opens
    on the start page, with the same JupyterLab settings as .venv."""
    assert course.main(["settings", str(tmp_path)]) == 0
    config = tmp_path / "etc/jupyter/jupyter_server_config.d/transformers-course.json"
    assert json.loads(config.read_text()) == {"ServerApp": {"default_url": course.DEFAULT_URL}}
    assert (tmp_path / "share/jupyter/lab/settings/overrides.json").is_file()


def test_an_intel_mac_is_told_why_torch_cannot_install(monkeypatch):
    monkeypatch.setattr(course.sys, "platform", "darwin")
    monkeypatch.setattr(course.platform, "machine", lambda: "x86_64")
    with pytest.raises(SystemExit, match="no macOS x86_64 wheels after 2.2.*arm64 Python"):
        course.check_platform()
    monkeypatch.setattr(course.platform, "machine", lambda: "arm64")
    course.check_platform()  # Apple silicon: fine


def _recorded_install(monkeypatch, system, requirements=None):
    commands = []
    monkeypatch.setattr(course.sys, "platform", system)
    monkeypatch.setattr(course.subprocess, "run", lambda cmd, **kw: commands.append(cmd))
    if requirements is not None:
        real = Path.read_text
        monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: requirements
                            if self.name == "requirements.txt" else real(self, *a, **k))
    course.install(Path("python"))
    return commands


def test_linux_gets_the_cpu_torch_first_then_the_lock(monkeypatch):
    torch, lock, *_ = _recorded_install(monkeypatch, "linux")
    assert torch[-3:] == ["--extra-index-url", course.TORCH_CPU_INDEX, "torch==2.13.0"]
    assert "--no-deps" in torch and lock[-2:] == ["-r", "requirements.lock"]


@pytest.mark.parametrize("system", ["win32", "darwin"])
def test_elsewhere_the_lock_and_no_other_index(monkeypatch, system):
    lock, *_ = _recorded_install(monkeypatch, system)
    assert lock[-2:] == ["-r", "requirements.lock"]
    assert not any(course.TORCH_CPU_INDEX in cmd for cmd in _recorded_install(monkeypatch,
                                                                               system))


@pytest.mark.parametrize("system", ["linux", "win32"])
def test_the_no_deps_packages_come_last_without_their_dependencies(monkeypatch, system):
    *_, last = _recorded_install(monkeypatch, system)
    assert last[-len(course.NO_DEPS) - 1:] == ["--no-deps", *course.NO_DEPS]


def test_a_stale_lock_installs_requirements_on_top_and_says_so(monkeypatch, capsys):
    text = (ROOT / "requirements.txt").read_text() + "\nsome-new-package==1.0\n"
    commands = _recorded_install(monkeypatch, "win32", requirements=text)
    assert ["-r", "requirements.txt"] in [cmd[-2:] for cmd in commands]
    assert "python3 tools/lock.py" in capsys.readouterr().err


def test_a_current_lock_installs_nothing_else(monkeypatch, capsys):
    commands = _recorded_install(monkeypatch, "win32")
    assert ["-r", "requirements.txt"] not in [cmd[-2:] for cmd in commands], capsys.readouterr()


def test_the_start_page_links_every_notebook():
    start = ROOT / "notebooks/00_start_here.ipynb"
    text = "".join("".join(c["source"]) for c in json.loads(start.read_text())["cells"])
    for notebook in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        if notebook != start:
            assert f"]({notebook.name})" in text, f"the course map lacks {notebook.name}"


def test_the_lecturers_page_names_the_key_that_leaves_the_slides():
    """jupyterlab-slideshow binds plain Escape to leave deck mode (not Shift+Esc)."""
    bundle = "".join(p.read_text(errors="ignore") for p in (Path(sys.prefix) / "share" /
                     "jupyter" / "labextensions" / "jupyterlab-slideshow" / "static").glob("*.js"))
    if not bundle:
        pytest.skip("jupyterlab-slideshow is not installed in this environment")
    text = (ROOT / "docs" / "teaching.md").read_text(encoding="utf-8")
    assert '=["Escape"]' in bundle and "Shift+Esc" not in text
    assert "Esc (plain Esc" in text


def _notebook_text(number: str) -> str:
    path = next((ROOT / "notebooks").glob(f"{number}_*.ipynb"))
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return "\n".join("".join(c["source"]) + "".join(
        "".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", ""))
        for o in c.get("outputs", [])) for c in cells)


def test_the_readmes_trained_numbers_are_the_stored_notebooks_numbers():
    """Each percentage in the README's "what it trains" column is one the notebook shows
    (to the rounding the README uses), and each "at least N×" is the notebook's own check."""
    import re

    rows = [line for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
            if re.match(r"\| \d\d \| \[", line)]
    assert len(rows) == len(list((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))) - 1
    wrong = []
    for row in rows:
        number, trains = row[2:4], row.split("|")[4]
        text = _notebook_text(number)
        shown = [float(x) for x in re.findall(r"(\d+(?:\.\d+)?)\s?%", text)]
        for claim in re.findall(r"(\d+(?:\.\d+)?)%", trains):
            if not any(abs(float(claim) - x) < 0.5 for x in shown):
                wrong.append(f"row {number}: {claim}% is not in the notebook")
        for factor in re.findall(r"at least (\d+)×", trains):
            if f"at least {factor}x" not in text and f"at least {factor}×" not in text:
                wrong.append(f"row {number}: 'at least {factor}×' is not the notebook's check")
    assert wrong == []
