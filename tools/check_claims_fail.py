#!/usr/bin/env python3
"""Prove that the notebooks' checks can fail: sabotage training, expect every notebook red.

    python tools/check_claims_fail.py            # every learning rate 50x smaller
    python tools/check_claims_fail.py --scale 0.1 01 04

The stored outputs hide trained numbers from nbval (they differ from CPU to CPU), so the
notebooks' claims are checked by ``helpers.expect``. This script makes sure that those
checks are real: it re-runs the notebooks with every optimiser's learning rate scaled
down (a ``sitecustomize.py`` patches ``torch.optim.Optimizer``), and fails unless every
notebook that trains a model fails on at least one ``expect`` (a ClaimFailed).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SITECUSTOMIZE = '''
import os
import torch.optim

_scale = float(os.environ["COURSE_LR_SCALE"])
_original_init = torch.optim.Optimizer.__init__


def _scaled_init(self, params, defaults):
    if "lr" in defaults:
        defaults = {**defaults, "lr": defaults["lr"] * _scale}
    _original_init(self, params, defaults)


torch.optim.Optimizer.__init__ = _scaled_init
'''


def trains(path: Path) -> bool:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return any("fit(" in "".join(c["source"]) or "optim." in "".join(c["source"])
               for c in cells if c["cell_type"] == "code")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("only", nargs="*", help="only notebooks whose name contains these")
    parser.add_argument("--scale", type=float, default=0.02, help="learning-rate factor (0.02)")
    args = parser.parse_args()
    paths = [p for p in sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
             if trains(p) and (not args.only or any(o in p.name for o in args.only))]
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "sitecustomize.py").write_text(SITECUSTOMIZE)
        env = {**os.environ, "COURSE_LR_SCALE": str(args.scale),
               "PYTHONPATH": os.pathsep.join(filter(None, [tmp, os.environ.get("PYTHONPATH")]))}
        report = Path(tmp) / "report.xml"
        print(f"Re-running {len(paths)} notebooks with every learning rate x {args.scale} ...",
              flush=True)
        subprocess.run([sys.executable, "-m", "pytest", "-q", "--no-header", "-p", "no:randomly",
                        f"--junitxml={report}", *map(str, paths)],
                       cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not report.exists():
            print("pytest wrote no report: it did not run", file=sys.stderr)
            return 2
        failed_claims = {p.name: 0 for p in paths}
        for case in ET.parse(report).iter("testcase"):
            failure = case.find("failure")
            text = "" if failure is None else (failure.get("message", "") + (failure.text or ""))
            for name in failed_claims:
                if name in case.get("file", "") + case.get("classname", "") + case.get("name", ""):
                    failed_claims[name] += "ClaimFailed" in text
    print(f"| notebook | failed claims with lr x {args.scale} |\n|---|---:|")
    for name, n in failed_claims.items():
        print(f"| {name} | {n} |")
    still_green = [name for name, n in failed_claims.items() if n == 0]
    if still_green:
        print(f"These notebooks stay green when their models barely learn: {still_green}. "
              "Check their claims with helpers.expect.", file=sys.stderr)
        return 1
    print(f"All {len(paths)} notebooks that train fail when training is sabotaged.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
