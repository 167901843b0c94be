"""binder/: the image recipe that repo2docker reads (Binder, a Zero to JupyterHub image).

`jupyter-repo2docker --no-build` prints the Dockerfile it would build, with no Docker
daemon. repo2docker itself is installed, pinned, into .cache/repo2docker/ (never into the
course's .venv) the first time this test runs.
"""
import os
import re
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REPO2DOCKER = "jupyter-repo2docker==2026.4.0"
TOOL_VENV = ROOT / ".cache" / "repo2docker"


def _unescape(name: str) -> str:
    """repo2docker names copied build files with -2e for '.', -2d for '-', -2f for '/'."""
    return name.replace("-2e", ".").replace("-2d", "-").replace("-2f", "/")


@pytest.fixture(scope="module")
def dockerfile() -> str:
    bin_dir = TOOL_VENV / ("Scripts" if os.name == "nt" else "bin")
    exe = bin_dir / "jupyter-repo2docker"
    if not exe.exists():
        venv.create(TOOL_VENV, with_pip=True)
        installed = subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", "--quiet",
                                    REPO2DOCKER], capture_output=True, text=True)
        if installed.returncode != 0:
            if os.environ.get("CI"):
                pytest.fail(f"could not install {REPO2DOCKER}: {installed.stderr[-2000:]}")
            pytest.skip(f"could not install {REPO2DOCKER} (no registry?)")
    result = subprocess.run([str(exe), "--no-build", "--debug", str(ROOT)], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout + result.stderr


def _requirement_lines(path: Path) -> list[str]:
    """The lines pip reads from ``path``, following ``-r`` (relative to the file)."""
    lines = []
    for line in path.read_text().splitlines():
        line = line.split(" #")[0].strip()
        if line.startswith("-r "):
            lines += _requirement_lines(path.parent / line.split(maxsplit=1)[1])
        elif line and not line.startswith("#"):
            lines.append(line)
    return lines


def test_python_3_11_in_one_environment(dockerfile):
    (environment,) = [_unescape(m) for m in re.findall(r"COPY \S+ build_script_files/(\S+) "
                                                         r"/tmp/env/environment.lock", dockerfile)]
    assert "environment.py-3.11-linux-64.lock" in environment
    # The server and the kernel share it: the lab settings written there apply.
    assert "ENV KERNEL_PYTHON_PREFIX=${NB_PYTHON_PREFIX}" in dockerfile


def test_one_pip_install_the_lock_with_the_cpu_index_and_helpers_once(dockerfile):
    installs = [line for line in dockerfile.splitlines() if re.search(r"\bpip install\b", line)]
    assert installs == ['RUN ${KERNEL_PYTHON_PREFIX}/bin/pip install --no-cache-dir '
                        '-r "binder/requirements.txt"'], installs
    lines = _requirement_lines(ROOT / "binder" / "requirements.txt")
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in lines
    assert lines.count("-e .") == 1  # helpers, from the lock; repo2docker adds no `pip install .`
    lock = _requirement_lines(ROOT / "requirements.lock")
    assert [line for line in lines if not line.startswith("--")] == lock


def test_settings_and_start_page_after_the_packages(dockerfile):
    assert dockerfile.index("binder/requirements.txt\"") < dockerfile.index("RUN ./binder/postBuild")
    post_build = (ROOT / "binder" / "postBuild").read_text()
    assert 'python3 course.py settings "${NB_PYTHON_PREFIX}"' in post_build
    assert os.access(ROOT / "binder" / "postBuild", os.X_OK)


def test_runtime_is_the_oldest_python_the_course_supports():
    runtime = (ROOT / "binder" / "runtime.txt").read_text().strip()
    pyproject = (ROOT / "pyproject.toml").read_text()
    oldest = re.search(r'requires-python = ">=(\d+\.\d+)"', pyproject)[1]
    assert runtime == f"python-{oldest}"
    assert sys.version_info >= tuple(map(int, oldest.split(".")))
