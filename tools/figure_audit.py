#!/usr/bin/env python3
"""Is every figure readable in the notebook column? Measured by code, not by eye.

    python tools/figure_audit.py                 # every notebook: one row per figure
    python tools/figure_audit.py 04 05           # only notebooks whose name contains these
    python tools/figure_audit.py --json out.json # also write the rows as JSON
    python tools/figure_audit.py 04 --pngs figs  # and keep the PNGs, to look at them

Each notebook runs in a fresh kernel whose IPython start-up file (a temporary IPYTHONDIR)
calls ``install``: from then on every PNG that matplotlib renders -- the inline figures
and the widgets' pictures (``helpers.widgets.figure_to_png``) -- is logged with its size
in pixels and every piece of text that was drawn into it (font size and box).

JupyterLab shows a PNG of width w px at min(1, COLUMN_PX / w) of its size, so a font of
s pt saved at d dpi appears as s · d / 72 · scale px. The audit flags, per figure:
  - text below MIN_TEXT_PX at display size,
  - a picture taller than MAX_HEIGHT_PX at display size (more than a projector shows),
  - texts that overlap (tick labels, cell numbers "0.000.000.00", colour-bar labels),
  - a legend drawn over data (lines, markers, bars or bands of its own axes).

COLUMN_PX was measured in JupyterLab 4.6 in a 1280×720 Chromium window with the file
browser open: an output area 848 px wide (tests/test_browser.py measures it again).
"""
import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COLUMN_PX = 848  # the notebook's output column at 1280×720 with the file browser open
MIN_TEXT_PX = 9.0
MAX_HEIGHT_PX = 560  # 720 minus the browser's and JupyterLab's bars, with a margin
LOG_ENV = "FIGURE_AUDIT_LOG"


# ---------------------------------------------------------------- inside the kernel

def install(log_path, png_dir=None):
    """Wrap matplotlib so that every PNG rendered in this process is logged to ``log_path``
    (one JSON line each), and saved in ``png_dir`` if given (figure-NNN.png, in order).
    Called by the IPython start-up file that ``startup_dir`` writes."""
    import io

    import matplotlib.figure
    import matplotlib.legend
    import matplotlib.text
    from matplotlib.backend_bases import FigureCanvasBase

    drawn = {"texts": [], "legends": []}  # what the latest Figure.draw put on the canvas
    state = {"cell": None}

    try:  # which cell is running: its source identifies it in the notebook
        from IPython import get_ipython
    except ImportError:
        get_ipython = lambda: None  # noqa: E731
    if get_ipython() is not None:
        get_ipython().events.register("pre_run_cell",
                                      lambda info: state.update(cell=info.raw_cell))

    figure_draw = matplotlib.figure.Figure.draw

    def draw_figure(self, renderer):
        drawn["texts"], drawn["legends"] = [], []
        return figure_draw(self, renderer)

    text_draw = matplotlib.text.Text.draw

    def draw_text(self, renderer):
        result = text_draw(self, renderer)
        if self.get_visible() and self.get_text().strip() and self.get_alpha() != 0:
            box = self.get_window_extent(renderer)
            drawn["texts"].append({"text": self.get_text()[:40], "pt": self.get_fontsize(),
                                   "rotation": self.get_rotation(),
                                   "box": [box.x0, box.y0, box.x1, box.y1]})
        return result

    legend_draw = matplotlib.legend.Legend.draw

    def draw_legend(self, renderer):
        result = legend_draw(self, renderer)
        if self.get_visible():
            box = self.get_window_extent(renderer)
            axes = self.axes if self.axes is not None else None
            hits = _data_under(axes, box) if axes is not None else []
            drawn["legends"].append({"labels": [t.get_text() for t in self.get_texts()][:4],
                                     "covers": hits})
        return result

    print_figure = FigureCanvasBase.print_figure

    def logged_print_figure(self, filename, *args, **kwargs):
        start = filename.tell() if isinstance(filename, io.BytesIO) else None
        result = print_figure(self, filename, *args, **kwargs)
        fmt = kwargs.get("format") or (args[1] if len(args) > 1 else None)
        if start is None or (fmt or "png") != "png":
            return result
        header = filename.getvalue()[start:start + 24]
        if header[:8] != b"\x89PNG\r\n\x1a\n":
            return result
        width, height = struct.unpack(">II", header[16:24])
        dpi = kwargs.get("dpi")
        if dpi in (None, "figure"):
            dpi = self.figure.dpi
        record = {"cell": state["cell"], "png": [width, height], "dpi": float(dpi),
                  # pyplot's figures are the inline ones; a bare Figure is a widget's picture
                  "kind": "inline" if self.figure.canvas.manager is not None else "widget",
                  "inches": [round(x, 2) for x in self.figure.get_size_inches()],
                  "texts": drawn["texts"], "legends": drawn["legends"]}
        if png_dir is not None:
            saved = len(list(Path(png_dir).glob("figure-*.png")))
            record["file"] = str(Path(png_dir) / f"figure-{saved:03d}.png")
            Path(record["file"]).write_bytes(filename.getvalue()[start:])
        with open(log_path, "a") as log:
            log.write(json.dumps(record) + "\n")
        return result

    matplotlib.figure.Figure.draw = draw_figure
    matplotlib.text.Text.draw = draw_text
    matplotlib.legend.Legend.draw = draw_legend
    FigureCanvasBase.print_figure = logged_print_figure


def _data_under(ax, box):
    """Labels of the data artists of ``ax`` that pass under the display box ``box``."""
    from matplotlib.collections import PathCollection, PolyCollection
    from matplotlib.patches import Rectangle

    box = box.padded(-2)  # touching the frame is not covering
    hits = []
    for line in ax.lines:
        if line.get_transform() != ax.transData or not line.get_visible():
            continue  # axhline/axvline: reference lines, not data
        path = line.get_transform().transform_path(line.get_path())
        inside = any(box.contains(x, y) for x, y in path.vertices)
        crosses = line.get_linestyle() not in ("None", "", " ") and path.intersects_bbox(
            box, filled=False)
        if inside or crosses:
            hits.append(line.get_label())
    for patch in ax.patches:
        if isinstance(patch, Rectangle) and patch.get_visible() and patch.get_fill() \
                and patch.get_window_extent().overlaps(box):
            hits.append(patch.get_label() or "bar")
    for coll in ax.collections:
        if isinstance(coll, PolyCollection) and any(
                coll.get_transform().transform_path(p).intersects_bbox(box)
                for p in coll.get_paths()):
            hits.append(coll.get_label() or "band")
        elif isinstance(coll, PathCollection):
            points = coll.get_offset_transform().transform(coll.get_offsets())
            if any(box.contains(x, y) for x, y in points):
                hits.append(coll.get_label() or "points")
    return sorted({h if not h.startswith("_") else "data" for h in hits})


def startup_dir(folder, log_path, png_dir=None):
    """Make ``folder`` an IPYTHONDIR whose start-up file calls ``install(log_path,
    png_dir)``; a kernel started with IPYTHONDIR=folder logs every PNG it renders."""
    startup = Path(folder) / "profile_default" / "startup"
    startup.mkdir(parents=True, exist_ok=True)
    (startup / "00-figure-audit.py").write_text(
        f"import sys\nsys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        f"import figure_audit\nfigure_audit.install({str(log_path)!r}, "
        f"{None if png_dir is None else str(png_dir)!r})\n"
        "del figure_audit\n")
    return Path(folder)


# ---------------------------------------------------------------- reading the log

def _overlaps(texts):
    """Pairs of axis-aligned texts (rotation 0 or 90) whose boxes overlap."""
    square = [t for t in texts if round(t["rotation"]) % 90 == 0]
    pairs = []
    for i, a in enumerate(square):
        for b in square[i + 1:]:
            w = min(a["box"][2], b["box"][2]) - max(a["box"][0], b["box"][0])
            h = min(a["box"][3], b["box"][3]) - max(a["box"][1], b["box"][1])
            if w > 1 and h > 1:  # a pixel of shared edge is not an overlap
                pairs.append(f"{a['text']!r} / {b['text']!r}")
    return pairs


def summarise(record, column_px=COLUMN_PX):
    """One figure's numbers: display scale, smallest text at display size, problems."""
    width, height = record["png"]
    scale = min(1.0, column_px / width)
    sizes = [t["pt"] for t in record["texts"]]
    smallest_pt = min(sizes) if sizes else None
    smallest_px = smallest_pt * record["dpi"] / 72 * scale if sizes else None
    problems = []
    if smallest_px is not None and smallest_px < MIN_TEXT_PX:
        problems.append(f"text {smallest_px:.1f} px")
    if height * scale > MAX_HEIGHT_PX:
        problems.append(f"{height * scale:.0f} px tall")
    overlaps = _overlaps(record["texts"])
    if overlaps:
        problems.append(f"{len(overlaps)} overlapping text(s): " + "; ".join(overlaps[:3]))
    for legend in record["legends"]:
        if legend["covers"]:
            problems.append(f"legend {legend['labels'][:2]} on {legend['covers'][:3]}")
    return {"png": record["png"], "inches": record["inches"], "dpi": record["dpi"],
            "scale": round(scale, 3), "smallest_pt": smallest_pt,
            "smallest_px": None if smallest_px is None else round(smallest_px, 1),
            "smallest_px_natural": None if smallest_pt is None
            else round(smallest_pt * record["dpi"] / 72, 1),
            "problems": problems}


def read_log(log_path):
    path = Path(log_path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# ---------------------------------------------------------------- running notebooks

def audit_notebook(path, png_dir=None):
    """Execute one notebook with the audit installed; return one row per rendered PNG
    (and keep the PNGs in ``png_dir``/<notebook>/, if given)."""
    import nbformat
    from nbclient import NotebookClient

    with tempfile.TemporaryDirectory(prefix="figure-audit-") as tmp:
        log = Path(tmp) / "log.jsonl"
        pngs = None
        if png_dir is not None:
            pngs = Path(png_dir) / path.stem
            pngs.mkdir(parents=True, exist_ok=True)
            for old in pngs.glob("figure-*.png"):
                old.unlink()
        env = dict(os.environ, IPYTHONDIR=str(startup_dir(Path(tmp) / "ipython", log, pngs)))
        nb = nbformat.read(path, as_version=4)
        sources = {cell.source: i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"}
        old_env = os.environ.copy()
        os.environ.update(env)  # the kernel inherits this process's environment
        try:
            NotebookClient(nb, timeout=600, kernel_name="python3",
                           resources={"metadata": {"path": str(path.parent)}}).execute()
        finally:
            os.environ.clear()
            os.environ.update(old_env)
        rows = []
        for record in read_log(log):
            cell = sources.get(record["cell"])
            rows.append({"notebook": path.name, "cell": cell, "kind": record["kind"],
                         **summarise(record), "file": record.get("file")})
        return rows


def print_table(rows):
    print("| notebook | cell | kind | inches | png px | scale | smallest text px | problems |")
    print("|---|---:|---|---|---|---:|---:|---|")
    for r in rows:
        print(f"| {r['notebook'][:2]} | {r['cell']} | {r['kind']} | {r['inches'][0]}×{r['inches'][1]}"
              f" | {r['png'][0]}×{r['png'][1]} | {r['scale']:.2f} | {r['smallest_px']} | "
              f"{'; '.join(r['problems']) or 'ok'} |")
    by_notebook = {}
    for r in rows:
        if r["smallest_px"] is not None:
            by_notebook.setdefault(r["notebook"], []).append(r)
    print("\n| notebook | figures | smallest text px | figures with problems |\n|---|---:|---:|---:|")
    for name, group in by_notebook.items():
        print(f"| {name} | {len(group)} | {min(r['smallest_px'] for r in group)} | "
              f"{sum(bool(r['problems']) for r in group)} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("only", nargs="*", help="audit only notebooks whose name contains these")
    parser.add_argument("--json", help="write the rows to this file")
    parser.add_argument("--pngs", help="keep every figure's PNG in this folder, one folder "
                        "per notebook, to look at")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:  # one notebook per process, like tools/run_notebooks.py
        print(json.dumps(audit_notebook(Path(args.child), args.pngs)))
        return 0
    paths = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
    paths = [p for p in paths if not args.only or any(o in p.name for o in args.only)]
    rows = []
    for path in paths:
        pngs = ["--pngs", str(Path(args.pngs).resolve())] if args.pngs else []
        result = subprocess.run([sys.executable, __file__, "--child", str(path)] + pngs,
                                capture_output=True, text=True, cwd=ROOT)
        if result.returncode != 0:
            print(f"{path.name} FAILED\n{result.stderr[-3000:]}", file=sys.stderr)
            continue
        rows += json.loads(result.stdout.strip().splitlines()[-1])
    print_table(rows)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 1 if any(r["problems"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
