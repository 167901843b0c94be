#!/usr/bin/env python3
"""Re-measure the spread of every seeded test, so the thresholds keep their room.

    python tools/seed_spread.py                       # every recipe, seeds 0-9, both CPU settings
    python tools/seed_spread.py date_exact_match --seeds 0-4 --native-only

Each recipe in tests/seeded.py (the tests call the same functions) is trained once per
seed, natively and as a CPU without AVX runs it (PyTorch's generic kernels), each setting
in its own process. The table gives the worst seed, the median and the threshold its test
holds every seed to; copy the numbers into the test's docstring. Exit status 1 if a seed
falls below its threshold, or if the worst seed sits less than --room above it.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ANY_CPU = {"ATEN_CPU_CAPABILITY": "default", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2",
           "ONEDNN_MAX_CPU_ISA": "SSE41"}


def seeds_from(text: str) -> list[int]:
    """'0-9' -> [0, ..., 9]; '0,3,5' -> [0, 3, 5]."""
    if "-" in text:
        first, last = map(int, text.split("-"))
        return list(range(first, last + 1))
    return [int(s) for s in text.split(",")]


def measure(names, seeds, env) -> dict:
    """Run the recipes in a child process with ``env``; {name: [value per seed]}."""
    code = ("import json, sys; sys.path.insert(0, 'tests'); import seeded\n"
            f"names, seeds = {names!r}, {seeds!r}\n"
            "for n in names:\n"
            "    for s in seeds:\n"
            "        print(json.dumps([n, s, seeded.RECIPES[n][0](s)]), flush=True)\n")
    values = {name: [] for name in names}
    with subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, **env},
                          stdout=subprocess.PIPE, text=True) as child:
        for line in child.stdout:
            name, seed, value = json.loads(line)
            values[name].append(value)
            print(f"  {name} seed {seed}: {value:.4f}", file=sys.stderr, flush=True)
    if child.returncode:
        sys.exit(f"the recipes failed to run (exit {child.returncode})")
    return values


def main(argv=None) -> int:
    sys.path.insert(0, str(ROOT / "tests"))
    import seeded

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipes", nargs="*", help=f"default: all of {list(seeded.RECIPES)}")
    parser.add_argument("--seeds", default="0-9", help="'0-9' or '0,1,2' (default 0-9)")
    parser.add_argument("--native-only", action="store_true", help="skip the any-CPU run")
    parser.add_argument("--room", type=float, default=0.0,
                        help="fail unless the worst seed is this far above the threshold")
    args = parser.parse_args(argv)
    names = args.recipes or list(seeded.RECIPES)
    unknown = set(names) - set(seeded.RECIPES)
    if unknown:
        parser.error(f"unknown recipes {sorted(unknown)}; known: {list(seeded.RECIPES)}")
    seeds = seeds_from(args.seeds)
    settings = {"native": {}} | ({} if args.native_only else {"no AVX": ANY_CPU})
    print("| recipe | what | CPU | seeds | worst | median | threshold | room |")
    print("|---|---|---|---|---:|---:|---:|---:|")
    ok = True
    for setting, env in settings.items():
        for name, values in measure(names, seeds, env).items():
            _, threshold, what = seeded.RECIPES[name]
            worst = min(values)
            ok &= worst - threshold >= args.room
            print(f"| {name} | {what} | {setting} | {args.seeds} | {worst:.4f} | "
                  f"{statistics.median(values):.4f} | {threshold} | {worst - threshold:+.4f} |",
                  flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
