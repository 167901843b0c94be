"""The learner's progress per notebook, as a table: exercises passed, flashcards due,
new and learnt (``python3 course.py progress``; the start page, notebook 00).

It sits above the three modules it reads: ``helpers.progress`` (the file),
``helpers.exercises`` (which checks each notebook has) and ``helpers.flashcards`` (which
cards), both of which import ``helpers.progress`` to record into it. Nothing imports this
module but the package's ``__init__`` and ``course.py``.
"""
from pathlib import Path

from helpers import exercises
from helpers.exercises._common import NOTEBOOK_OF_MODULE
from helpers.flashcards import load_cards
from helpers.progress import Progress, card_is_due


def progress_report(progress: Progress | None = None) -> str:
    """A table of each notebook's passed exercises and due flashcards
    (``python3 course.py progress``)."""
    progress = progress or Progress()
    state, today = progress.read(), progress.today()
    checks = {}
    for name in exercises.__all__:
        if name.startswith("check_"):
            module = getattr(exercises, name).__module__.rsplit(".", 1)[-1]
            checks.setdefault(NOTEBOOK_OF_MODULE[module], []).append(name)
    cards = {}
    for card in load_cards():
        cards.setdefault(card["notebook"], []).append(card["id"])
    shown_path = str(progress.path).replace(str(Path.home()), "~", 1)
    lines = [f"Progress file: {shown_path}", "",
             f"{'notebook':>8}  {'exercises passed':>16}  {'cards due today':>15}  "
             f"{'new cards':>9}  {'cards learnt':>12}"]
    for notebook in sorted(set(checks) | set(cards)):
        passed = sum(f"{notebook}/{c}" in state["exercises"] for c in checks.get(notebook, []))
        ids = cards.get(notebook, [])
        seen = [state["cards"][c] for c in ids if c in state["cards"]]
        due = sum(card_is_due(card, today) for card in seen)  # met before, due again
        learnt = sum(card["box"] > 1 for card in seen)
        lines.append(f"{notebook:>8}  {passed:>9} of {len(checks.get(notebook, [])):<4}  "
                     f"{due:>15}  {len(ids) - len(seen):>9}  {learnt:>5} of {len(ids)}")
    lines += ["", "Review the cards due today: `helpers.Flashcards(due_only=True)` (the start page);",
              "new cards come with each notebook's deck, at its end."]
    return "\n".join(lines)
