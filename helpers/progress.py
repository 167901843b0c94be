"""A learner's progress, in one local file that is never lost: passed exercises and the
flashcards' Leitner boxes (every notebook; ``python3 course.py progress`` prints it).

Where it lives: ``$COURSE_PROGRESS`` if set, else the user's data directory
(``~/.local/share/transformers-course/progress.json`` on Linux, ``~/Library/Application
Support/...`` on macOS, ``%APPDATA%\\...`` on Windows), outside the repository, so that
``git pull`` or a fresh clone never touches it.

Three promises, each tested (tests/test_progress.py); ``helpers.report`` prints the file
per notebook:

- **Atomic writes.** A change is written to a temporary file in the same folder, flushed
  to disk, then renamed over the old file. A rename is all or nothing, so a kernel killed
  mid-write, or a full disk, leaves the old file as it was, never half of a new one.
- **Two notebooks at once.** Every change holds a lock while it reads the file afresh,
  applies itself and writes, so two notebooks updating different things keep both. Reads
  hold the lock too: on Windows a file open for reading cannot be replaced, so a reader
  must not hold it open while another notebook renames its new file over it. A rename
  that Windows refuses all the same (an editor or a virus scanner has the file open) is
  retried for a moment before it fails.
- **Corrupt or hand-edited files are kept.** A file that is not valid progress is renamed
  to ``progress.json.corrupt-<time>``, a warning names it, and a fresh file is started.

The file is plain JSON:

    {"version": 2,
     "exercises": {"06/check_layernorm": {"passed": "2026-11-23T14:05:00"}},
     "cards": {"06-layernorm-axes": {"box": 2, "due": "2026-11-25", "reviews": 3}}}

Version 1 is the same, from before notebooks 06 and 08 were split in two (December 2026:
06 became 06 and 07, 08 became 09 and 10, and 07, 09, 10, 11, 12 became 08, 11, 12, 13,
14). A version-1 file is read as version 2: every exercise and card moves to its notebook's
new number (``_migrate``), and the next change writes it so.
"""
import contextlib
import datetime as dt
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

from filelock import FileLock

VERSION = 2
# Version 1 -> 2: the notebooks' new numbers; the checks and cards that moved to a notebook of
# their own (06's schedule and loop to 07, 08's tokenisation to 09) are named one by one.
_RENUMBERED = {"07": "08", "08": "10", "09": "11", "10": "12", "11": "13", "12": "14"}
_MOVED_EXERCISES = {"06/check_lr_factor": "07", "06/check_scheduled_fit": "07",
                    "08/check_merge": "09", "08/check_train_bpe": "09", "08/check_encode": "09"}
_MOVED_CARDS = {"06-prenorm-deep": "07", "06-lr-warmup-cosine": "07", "06-mixing-compared": "07",
                "08-char-vs-word": "09", "08-bpe-algorithm": "09", "08-bpe-new-words": "09"}
REPLACE_RETRIES = 8  # Windows: a rename over a file another process has open, retried
REPLACE_FIRST_WAIT = 0.01  # seconds, doubled after each refusal: about 2.5 s in all
BOXES = 6  # Leitner boxes 1..6; box b is reviewed every 2**(b-1) days: 1, 2, 4, ... 32


class ProgressFileWarning(UserWarning):
    """The progress file could not be read; it was kept aside and a new one started."""


def progress_path() -> Path:
    """$COURSE_PROGRESS, else progress.json in the user's data directory."""
    if os.environ.get("COURSE_PROGRESS"):
        return Path(os.environ["COURSE_PROGRESS"]).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA", Path.home() / "AppData" / "Roaming"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "transformers-course" / "progress.json"


def _empty_state() -> dict:
    return {"version": VERSION, "exercises": {}, "cards": {}}


def leitner_interval(box: int) -> int:
    """Days until a card in ``box`` (1..BOXES) is due again: 1, 2, 4, 8, ..."""
    if not isinstance(box, int) or not 1 <= box <= BOXES:
        raise ValueError(f"box must be an int from 1 to {BOXES}, got {box!r}")
    return 2 ** (box - 1)


def leitner_schedule(card: dict | None, knew: bool, today: dt.date) -> dict:
    """A card's Leitner state after one review.

    "Knew it" moves the card up one box (at most BOXES) and pushes its next review out by
    that box's interval; "didn't" sends it back to box 1, due again tomorrow.

    >>> leitner_schedule({"box": 2, "due": "2026-11-23", "reviews": 4}, True,
    ...                  dt.date(2026, 11, 23))
    {'box': 3, 'due': '2026-11-27', 'reviews': 5}
    """
    card = card or {"box": 1, "reviews": 0}
    box = min(card["box"] + 1, BOXES) if knew else 1
    due = today + dt.timedelta(days=leitner_interval(box))
    return {"box": box, "due": due.isoformat(), "reviews": card.get("reviews", 0) + 1}


def card_is_due(card: dict | None, today: dt.date) -> bool:
    """A card never reviewed is due; else when its date has come."""
    return card is None or dt.date.fromisoformat(card["due"]) <= today


class Progress:
    """Read and change the progress file; ``today`` is a function, so tests fix the clock."""

    def __init__(self, path=None, today=dt.date.today):
        self.path = Path(path) if path is not None else progress_path()
        self.today = today

    # -- reading and writing ---------------------------------------------------------
    def read(self) -> dict:
        """The current state (an empty one if there is no file yet), read under the lock."""
        if not self.path.parent.is_dir():
            return _empty_state()
        with _locked(self._lock_path):
            return self._read_locked()

    @property
    def _lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    def _read_locked(self) -> dict:
        """The state; the caller holds the lock."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return _empty_state()
        try:
            state = _migrate(json.loads(text))
            _validate(state)
            return state
        except (ValueError, TypeError, KeyError) as error:
            return self._keep_corrupt_file(error)

    def update(self, change) -> dict:
        """Apply ``change(state)`` (it edits the dict in place) under the lock; return the
        state as written. The file is read afresh inside the lock, so a change made by
        another notebook a moment ago is kept."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _locked(self._lock_path):
            state = self._read_locked()
            change(state)
            _validate(state)
            self._write(state)
        return state

    def _write(self, state: dict) -> None:
        text = json.dumps(state, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.",
                                   suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())  # on disk before the rename makes it the real file
            _replace(tmp, self.path)  # atomic: readers see the old file or the new one
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def _keep_corrupt_file(self, error) -> dict:
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
        backup = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        try:
            os.replace(self.path, backup)
        except FileNotFoundError:  # another notebook kept it aside a moment ago
            return _empty_state()
        warnings.warn(f"Your progress file {self.path} could not be read ({error}). It was "
                      f"kept, unchanged, as {backup}; a new progress file is started. To go "
                      f"back to the old one, fix it and rename it to {self.path.name}.",
                      ProgressFileWarning, stacklevel=3)
        return _empty_state()

    # -- exercises ---------------------------------------------------------------------
    def record_exercise(self, notebook: str, check: str, passed: bool) -> None:
        """Remember that an exercise passed (a failed attempt changes nothing)."""
        if not passed:
            return
        key = f"{notebook}/{check}"
        stamp = dt.datetime.now().replace(microsecond=0).isoformat()
        self.update(lambda s: s["exercises"].setdefault(key, {"passed": stamp}))

    def passed_exercises(self, notebook: str | None = None) -> list[str]:
        keys = sorted(self.read()["exercises"])
        return [k for k in keys if notebook is None or k.startswith(f"{notebook}/")]

    # -- flashcards --------------------------------------------------------------------
    def review(self, card_id: str, knew: bool) -> dict:
        """Record one review of a card; return its new state (box, due, reviews)."""
        today = self.today()
        new = {}

        def change(state):
            new.update(leitner_schedule(state["cards"].get(card_id), knew, today))
            state["cards"][card_id] = new

        self.update(change)
        return new

    def card(self, card_id: str) -> dict | None:
        return self.read()["cards"].get(card_id)

    def due(self, card_ids) -> list[str]:
        """The cards among ``card_ids`` that are due today (never-seen cards included)."""
        cards, today = self.read()["cards"], self.today()
        return [c for c in card_ids if card_is_due(cards.get(c), today)]


def _migrate(state):
    """A version-1 state in version 2's numbering (see the module docstring); anything else
    as it is (``_validate`` decides whether it is progress)."""
    if not isinstance(state, dict) or state.get("version") != 1:
        return state
    exercises, cards = state.get("exercises"), state.get("cards")
    if not isinstance(exercises, dict) or not isinstance(cards, dict):
        return state

    def renumbered(key, moved, sep):
        notebook, rest = key[:2], key[2:]
        if key in moved:
            return moved[key] + rest
        return _RENUMBERED.get(notebook, notebook) + rest if rest.startswith(sep) else key

    return {**state, "version": VERSION,
            "exercises": {renumbered(k, _MOVED_EXERCISES, "/"): v for k, v in exercises.items()},
            "cards": {renumbered(k, _MOVED_CARDS, "-"): v for k, v in cards.items()}}

def _validate(state) -> None:
    """Raise ValueError unless ``state`` has the shape this module writes."""
    if not isinstance(state, dict) or state.get("version") != VERSION:
        raise ValueError(f"expected a JSON object with \"version\": {VERSION}")
    for part in ("exercises", "cards"):
        if not isinstance(state.get(part), dict):
            raise ValueError(f"expected \"{part}\" to be a JSON object")
    for card_id, card in state["cards"].items():
        if not isinstance(card, dict) or not isinstance(card.get("box"), int) \
                or not 1 <= card["box"] <= BOXES:
            raise ValueError(f"card {card_id!r}: expected a box from 1 to {BOXES}, got {card!r}")
        dt.date.fromisoformat(card["due"])  # ValueError if it is not a date


def _replace(source, target) -> None:
    """os.replace, retried while Windows refuses it (PermissionError: another process has
    ``target`` open); waits REPLACE_FIRST_WAIT, then twice as long each time."""
    wait = REPLACE_FIRST_WAIT
    for attempt in range(REPLACE_RETRIES + 1):
        try:
            os.replace(source, target)
            return
        except PermissionError:
            if attempt == REPLACE_RETRIES:
                raise
            time.sleep(wait)
            wait *= 2


def _locked(lock_path: Path) -> FileLock:
    """An exclusive lock between processes (two notebooks open at once), on every OS
    (filelock: fcntl on Linux and macOS, msvcrt on Windows). Not re-entrant across
    calls: take it once per read or update."""
    return FileLock(lock_path)
