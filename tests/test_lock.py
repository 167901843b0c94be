"""requirements.lock (tools/lock.py): every pin of requirements.txt in it at the same
version, no GPU package, and complete: every dependency of every locked package that
this machine installs is locked too."""
import importlib.metadata as metadata
import re
import sys
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from lock import one_torch_line, pins, stale  # noqa: E402

REQUIREMENTS = (ROOT / "requirements.txt").read_text()
LOCK = (ROOT / "requirements.lock").read_text()


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_the_lock_matches_requirements_txt():
    problems = stale(REQUIREMENTS, LOCK)
    assert not problems, ("requirements.lock is stale; regenerate it with "
                          "`python3 tools/lock.py`:\n" + "\n".join(problems))


def test_torch_is_the_pinned_version_once_and_for_every_platform():
    lines = [line for line in LOCK.splitlines() if line.startswith("torch==")]
    assert lines == [f"torch=={pins(REQUIREMENTS)['torch']}"]


@pytest.mark.parametrize("lock, problem", [
    ("torch==2.13.0\nnumpy==2.4.6\n-e .\n", "numpy==2.4.5 is in requirements.txt, the "
                                            "lock has numpy==2.4.6"),
    ("torch==2.13.0\n-e .\n", "the lock has no numpy"),
    ("torch==2.13.0\nnumpy==2.4.5\n", "-e . is in requirements.txt, not in the lock"),
    ("torch==2.13.0\nnumpy==2.4.5\n-e .\nnvidia-cublas==13.1.1.3 ; sys_platform == 'linux'\n",
     "a GPU package in the lock: nvidia-cublas=="),
    ("torch==2.13.0\nnumpy==2.4.5\n-e .\ntriton==3.7.1\n", "a GPU package in the lock: triton=="),
])
def test_a_stale_lock_is_noticed(lock, problem):
    requirements = "torch==2.13.0  # CPU\nNumPy==2.4.5\n-e .\n"
    assert any(problem in p for p in stale(requirements, lock)), stale(requirements, lock)
    assert stale(requirements, "torch==2.13.0\nnumpy==2.4.5\n-e .\n") == []


def test_one_torch_line_from_uvs_two():
    text = ("six==1.0\ntorch==2.13.0 ; sys_platform != 'linux'\n"
            "torch==2.13.0+cpu ; sys_platform == 'linux'\nzipp==3.0\n")
    assert one_torch_line(text) == "six==1.0\ntorch==2.13.0\nzipp==3.0\n"


def _locked_here() -> dict[str, str]:
    """{name: version} of the lock's lines whose marker holds on this machine."""
    found = {}
    for line in LOCK.splitlines():
        if not line or line.startswith(("#", "-")):
            continue
        requirement, _, marker = line.partition(";")
        if marker.strip() and not Marker(marker.strip()).evaluate():
            continue
        name, version = requirement.split("==")
        found[_normalise(name.strip())] = version.strip()
    return found


def test_every_locked_package_is_installed_at_its_version():
    """course.py installs the lock: what this environment holds is what the lock says
    (a local build label such as torch's +cpu aside)."""
    wrong = {}
    for name, version in _locked_here().items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = None
        if installed is None or Version(installed).public != Version(version).public:
            wrong[name] = f"locked {version}, installed {installed}"
    assert not wrong, f"the environment differs from requirements.lock: {wrong}"


def test_every_dependency_of_a_locked_package_is_locked():
    """Transitively complete: nothing pip installs here is missing from the lock."""
    locked = _locked_here()
    missing = {}
    for name in locked:
        for text in metadata.requires(name) or []:
            requirement = Requirement(text)
            if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
                continue  # another platform's, or an optional extra's
            if _normalise(requirement.name) not in locked:
                missing.setdefault(name, []).append(str(requirement))
    assert not missing, f"dependencies missing from requirements.lock: {missing}"
