#!/usr/bin/env python3
"""Set up and run the course with nothing but Python 3.11 or newer.

    python3 course.py lab     # create .venv, install everything, open JupyterLab
    python3 course.py test    # create .venv if needed, run every test (extra args go to pytest)

The virtual environment lives in .venv/ next to this file. It is (re)installed when
requirements.txt or pyproject.toml change, and left alone otherwise.
"""
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / "installed-requirements.sha256"


def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure_environment() -> Path:
    if sys.version_info < (3, 11):
        sys.exit(f"The course needs Python 3.11 or newer; this is {sys.version.split()[0]}.")
    wanted = hashlib.sha256(b"".join((ROOT / f).read_bytes()
                                     for f in ("requirements.txt", "pyproject.toml"))).hexdigest()
    if not venv_python().exists():
        print(f"Creating a virtual environment in {VENV.name}/ ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    if not STAMP.exists() or STAMP.read_text().strip() != wanted:
        print("Installing the course's packages (a few minutes the first time) ...", flush=True)
        subprocess.run([str(venv_python()), "-m", "pip", "install", "--quiet",
                        "--disable-pip-version-check", "-r", "requirements.txt"],
                       cwd=ROOT, check=True)
        STAMP.write_text(wanted + "\n")
    quiet_jupyterlab()
    return venv_python()


def quiet_jupyterlab() -> None:
    """No "get notified about Jupyter news?" pop-up over the start page, and no update
    checks: JupyterLab's settings overrides, inside .venv (the learner's own settings win)."""
    overrides = VENV / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    wanted = {"@jupyterlab/apputils-extension:notification":
              {"fetchNews": "false", "checkForUpdates": False}}
    if not overrides.exists() or json.loads(overrides.read_text()) != wanted:
        overrides.parent.mkdir(parents=True, exist_ok=True)
        overrides.write_text(json.dumps(wanted, indent=2) + "\n")


COMMANDS = {
    # Serve the whole repository (the notebooks show diagrams from ../fig) and open it on
    # the start page, with the notebooks folder in the file browser.
    "lab": ["-m", "jupyter", "lab", f"--ServerApp.root_dir={ROOT}",
            "--LabApp.default_url=/lab/tree/notebooks/00_start_here.ipynb"],
    "test": ["-m", "pytest"],
    "measure": ["tools/run_notebooks.py"],
    "claims": ["tools/check_claims_fail.py"],
    "student": ["tools/student_copies.py"],
    "slides": ["tools/slides.py"],
    "progress": ["-c", "from helpers.report import progress_report; print(progress_report())"],
}


def main(argv) -> int:
    if not argv or argv[0] not in COMMANDS:
        print(__doc__.strip())
        print("\nAlso: python3 course.py measure [--write]   time each notebook; --write stores outputs"
              "\n      python3 course.py claims              prove the notebooks' claims fail when "
              "training is sabotaged"
              "\n      python3 course.py progress            your passed exercises and due flashcards"
              "\n      python3 course.py student [03 ...]     copies to hand out, solutions removed, "
              "in student/"
              "\n      python3 course.py slides [03 ...]      reveal.js slides that open offline, "
              "in slides/")
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
