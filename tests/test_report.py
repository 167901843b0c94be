"""The progress report (helpers/report.py): passed exercises and due cards per notebook."""
import datetime as dt

from helpers.progress import Progress
from helpers.report import progress_report

TODAY = dt.date(2026, 11, 23)


def test_the_report_counts_passed_exercises_and_due_cards(tmp_path):
    from helpers import exercises
    from helpers.flashcards import load_cards

    p = Progress(tmp_path / "progress.json", today=lambda: TODAY)
    p.record_exercise("01", "check_softmax", passed=True)
    cards = [c["id"] for c in load_cards("01")]
    p.review(cards[0], knew=True)
    p.review(cards[1], knew=False)  # reviewed, but due again tomorrow: not learnt
    checks = [n for n in exercises.__all__ if n.startswith("check_")
              and getattr(exercises, n).__module__.endswith(".soft_lookup")]
    row = next(line for line in progress_report(p).splitlines()
               if line.split()[:1] == ["01"])
    n = len(cards)
    # passed exercises; due today (both met cards are due later); new; learnt (box > 1)
    assert row.split() == ["01", "1", "of", str(len(checks)), "0", str(n - 2), "1", "of", str(n)]
    tomorrow = Progress(p.path, today=lambda: TODAY + dt.timedelta(days=1))
    row = next(line for line in progress_report(tomorrow).splitlines()
               if line.split()[:1] == ["01"])
    assert row.split()[4] == "1"  # the missed card is due again
