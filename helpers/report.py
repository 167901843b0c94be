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
from helpers.yours import PIECES, kept_pieces, reset_piece, yours_dir


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
    lines += ["", *pieces_report(), "", "Review the cards due today: `helpers.Flashcards(due_only=True)` (the start page);",
              "new cards come with each notebook's deck, at its end."]
    return "\n".join(lines)


def pieces_report() -> list[str]:
    """Which pieces of the model are the learner's (kept when their check passed) and which
    are still the course's."""
    mine = kept_pieces()
    shown_dir = str(yours_dir()).replace(str(Path.home()), "~", 1)
    lines = [f"Your pieces of the model ({len(mine)} of {len(PIECES)}; kept in {shown_dir}):"]
    for name in sorted(PIECES, key=lambda n: (NOTEBOOK_OF_MODULE[
            PIECES[n].check.__module__.rsplit(".", 1)[-1]], n)):
        notebook = NOTEBOOK_OF_MODULE[PIECES[name].check.__module__.rsplit(".", 1)[-1]]
        whose = f"yours, {mine[name]}" if name in mine else \
            f"the course's (yours once {PIECES[name].check.__name__} passes)"
        lines.append(f"  {notebook}  {name:<20} {whose}")
    if mine:
        lines.append("Use the course's version again: python3 course.py progress --reset NAME")
    return lines


def progress_command(argv) -> int:
    """``python3 course.py progress [--reset PIECE]``."""
    if argv[:1] == ["--reset"] and len(argv) == 2:
        name = argv[1]
        if name not in PIECES:
            print(f"No piece called {name!r}. The pieces: {', '.join(sorted(PIECES))}")
            return 2
        print(f"Deleted your {name}: the course's version is used again." if reset_piece(name)
              else f"You had no kept {name}: the course's version is used already.")
        return 0
    if argv:
        print("usage: python3 course.py progress [--reset PIECE]")
        return 2
    print(progress_report())
    return 0
