#!/usr/bin/env python3
"""Regenerate requirements.lock: every package the course installs, transitive ones
included, at one exact version, for Linux, macOS and Windows (Python 3.11 and newer).

    python3 tools/lock.py            # after any change to requirements.txt or pyproject.toml
    python3 tools/lock.py --check    # exit 1 if the lock is stale (tests/test_lock.py too)

requirements.txt holds what the course asks for (direct packages, pinned); the lock holds
what gets installed: ``course.py``, CI and the Binder/hub image (binder/) install from it.
It is resolved by uv (https://docs.astral.sh/uv/), itself pinned below and installed into
its own virtual environment in .cache/lock-tools/, never into the course's .venv.

PyTorch: the lock says ``torch==2.13.0`` for every platform but is resolved against the
CPU build's dependencies, so that it lists no NVIDIA/CUDA package. On Linux, PyPI's
torch is the CUDA build (about 2 GB more): ``course.py`` installs torch first from
PyTorch's CPU index, and the image's binder/requirements.txt names that index too. The
CPU build comes from that index (TORCH_CPU_INDEX), or from the folders in
$PIP_FIND_LINKS where pip is configured with local wheels.

The previous lock is uv's starting point: a package changes version only when
requirements.txt makes it.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "requirements.txt"
LOCK = ROOT / "requirements.lock"
TOOLS_VENV = ROOT / ".cache" / "lock-tools"
UV = "uv==0.13.9"
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
OLDEST_PYTHON = "3.11"  # pyproject.toml: requires-python >= 3.11
HEADER = """\
# Every package the course installs, at one version: generated from requirements.txt by
#     python3 tools/lock.py
# Do not edit by hand. On Linux install torch from {index} first
# (course.py does): PyPI's Linux torch is the CUDA build.
""".format(index=TORCH_CPU_INDEX)
# Never in the lock: the course runs on the CPU.
GPU_PACKAGE = re.compile(r"^(nvidia-[\w-]+|triton|cuda-[\w-]+)==", re.IGNORECASE | re.MULTILINE)


def pins(text: str) -> dict[str, str]:
    """{normalised name: version} of the ``name==version`` lines of a requirements file.

    >>> pins("torch==2.13.0  # CPU\\nNumPy==2.4.6 ; sys_platform == 'linux'\\n-e .")
    {'torch': '2.13.0', 'numpy': '2.4.6'}
    """
    found = {}
    for line in text.splitlines():
        match = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;#]+)", line)
        if match:
            found[re.sub(r"[-_.]+", "-", match[1]).lower()] = match[2]
    return found


def stale(requirements: str, lock: str) -> list[str]:
    """What makes ``lock`` disagree with ``requirements``: a pin missing or at another
    version, an editable install missing, or a GPU package present. Empty when current."""
    wanted, locked = pins(requirements), pins(lock)
    problems = [f"{name}=={version} is in requirements.txt, the lock has "
                f"{name + '==' + locked[name] if name in locked else 'no ' + name}"
                for name, version in wanted.items() if locked.get(name) != version]
    for line in requirements.splitlines():
        if line.strip().startswith("-e ") and line.split("#")[0].strip() not in lock:
            problems.append(f"{line.strip()} is in requirements.txt, not in the lock")
    problems += [f"a GPU package in the lock: {m[0]}" for m in GPU_PACKAGE.finditer(lock)]
    return problems


def uv() -> Path:
    """uv, installed into .cache/lock-tools/ (created the first time)."""
    bin_dir = TOOLS_VENV / ("Scripts" if os.name == "nt" else "bin")
    exe = bin_dir / ("uv.exe" if os.name == "nt" else "uv")
    if not exe.exists():
        venv.create(TOOLS_VENV, with_pip=True)
        subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", "--quiet", UV],
                       check=True)
    return exe


def one_torch_line(text: str) -> str:
    """uv writes torch twice (``2.13.0+cpu`` where the CPU build was resolved, ``2.13.0``
    elsewhere, each with a marker); the lock says ``torch==2.13.0`` once, which both
    builds satisfy."""
    lines, done = [], False
    for line in text.splitlines():
        if re.match(r"^torch==", line):
            if not done:
                version = re.match(r"^torch==([^\s;+]+)", line)[1]
                lines.append(f"torch=={version}")
                done = True
            continue
        lines.append(line)
    return "\n".join(lines) + "\n"


def compile_lock() -> str:
    torch = pins(REQUIREMENTS.read_text())["torch"]
    with tempfile.TemporaryDirectory() as tmp:
        constraints = Path(tmp) / "torch-cpu.txt"
        # The CPU build's dependencies on Linux; elsewhere PyPI's torch is CPU-only.
        constraints.write_text(f"torch=={torch}+cpu ; sys_platform == 'linux'\n"
                               f"torch=={torch} ; sys_platform != 'linux'\n")
        output = Path(tmp) / "requirements.lock"
        if LOCK.exists():  # start from the previous lock: nothing moves without a reason
            output.write_text(LOCK.read_text())
        links = [p for p in os.environ.get("PIP_FIND_LINKS", "").split() if p]
        sources = ([a for p in links for a in ("--find-links", p)] if links else
                   ["--extra-index-url", TORCH_CPU_INDEX, "--index-strategy",
                    "unsafe-best-match"])
        subprocess.run([str(uv()), "pip", "compile", str(REQUIREMENTS.relative_to(ROOT)),
                        "--universal", "--python-version", OLDEST_PYTHON, "--no-header",
                        "--no-annotate", "--quiet", "-c", str(constraints), *sources,
                        "-o", str(output)], cwd=ROOT, check=True)
        text = HEADER + one_torch_line(output.read_text())
    if GPU_PACKAGE.search(text):
        sys.exit(f"the resolved lock lists GPU packages: {GPU_PACKAGE.findall(text)}")
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only say whether it is stale")
    args = parser.parse_args()
    if args.check:
        problems = stale(REQUIREMENTS.read_text(), LOCK.read_text() if LOCK.exists() else "")
        print("\n".join(problems) or "requirements.lock matches requirements.txt")
        return 1 if problems else 0
    LOCK.write_text(compile_lock())
    problems = stale(REQUIREMENTS.read_text(), LOCK.read_text())
    print("\n".join(problems) or f"wrote {LOCK.name}: {len(pins(LOCK.read_text()))} packages")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
