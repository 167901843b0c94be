#!/usr/bin/env python3
"""Execute each notebook in a fresh kernel; print its wall time and peak memory.

    python tools/run_notebooks.py                  # measure every notebook, change nothing
    python tools/run_notebooks.py --write          # also store the executed notebooks
    python tools/run_notebooks.py 01 --write       # only notebooks whose name contains "01"

The README's table of run times comes from this script. Each notebook runs in its own
process, so the peak memory reported is that of the notebook's kernel alone (sampled with
psutil, tools/peak_memory.py: the same on Linux, macOS and Windows). Each notebook runs
in an empty home folder, as on a fresh clone: the stored outputs never show the
maintainer's own progress or kept pieces, and the start page shows the default progress
path (~/.local/share/transformers-course/), not a temporary one.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def execute_one(path: Path, write: bool) -> dict:
    """Run one notebook (called in a child process); return its time and peak memory."""
    import nbformat
    import psutil
    from nbclient import NotebookClient

    sys.path.insert(0, str(ROOT / "tools"))
    from peak_memory import PeakMemory

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    # The kernel is this process's only child: its peak resident size.
    with PeakMemory(lambda: psutil.Process().children(recursive=True)) as peak:
        start = time.perf_counter()
        client.execute()
        seconds = time.perf_counter() - start
    if write:
        for cell in nb.cells:  # keep the stored files free of run-specific metadata
            cell.metadata.pop("execution", None)
        nbformat.write(nb, path)
    return {"notebook": path.name, "seconds": round(seconds, 1), "peak_mib": round(peak.mib)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("only", nargs="*", help="run only notebooks whose name contains these")
    parser.add_argument("--write", action="store_true", help="store the executed notebooks")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(execute_one(Path(args.child), args.write)))
        return 0
    paths = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
    paths = [p for p in paths if not args.only or any(o in p.name for o in args.only)]
    print("| notebook | run time (s) | peak memory (MiB) |\n|---|---:|---:|")
    failed = 0
    for path in paths:
        cmd = [sys.executable, __file__, "--child", str(path)] + (["--write"] if args.write else [])
        with tempfile.TemporaryDirectory(prefix="course-run-home-") as home:
            # A fresh clone's state: no progress, no kept pieces (never the maintainer's own),
            # in an empty home, so that the start page shows the default progress path
            # (~/.local/share/...) as a learner's machine does, not a temporary folder.
            env = {k: v for k, v in os.environ.items()
                   if k not in ("COURSE_PROGRESS", "XDG_DATA_HOME")}
            env.update(HOME=home, MPLCONFIGDIR=env.get("MPLCONFIGDIR")  # keep the font cache
                       or str(Path.home() / ".cache" / "matplotlib"))
            result = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
        if result.returncode != 0:
            failed += 1
            print(f"| {path.name} | FAILED | |\n{result.stderr[-3000:]}", file=sys.stderr)
            continue
        row = json.loads(result.stdout.strip().splitlines()[-1])
        print(f"| {row['notebook']} | {row['seconds']} | {row['peak_mib']} |", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
