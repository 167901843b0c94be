"""Which notebooks a tool works on: ``python3 course.py slides 03 masking`` and the like."""
import sys
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def select_notebooks(keys) -> list[Path]:
    """The notebooks whose file name contains one of ``keys`` (every notebook if none);
    exits with a hint when nothing matches."""
    paths = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if not keys:
        return paths
    chosen = [p for p in paths if any(key in p.name for key in keys)]
    if not chosen:
        sys.exit(f"no notebook matches {keys}; they are named like '03_masking.ipynb' "
                 f"(select with 03 or masking)")
    return chosen
