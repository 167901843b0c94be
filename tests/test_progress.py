"""The progress file: the Leitner schedule, atomic writes, corrupt files, two writers."""
import datetime as dt
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from helpers import progress
from helpers.progress import BOXES, Progress, ProgressFileWarning, leitner_interval, leitner_schedule

TODAY = dt.date(2026, 11, 23)


def store(tmp_path, today=TODAY):
    return Progress(tmp_path / "progress.json", today=lambda: today)


def test_new_card_known_goes_to_box_2_due_in_2_days():
    assert leitner_schedule(None, True, TODAY) == {"box": 2, "due": "2026-11-25", "reviews": 1}


def test_new_card_missed_stays_in_box_1_due_tomorrow():
    assert leitner_schedule(None, False, TODAY) == {"box": 1, "due": "2026-11-24", "reviews": 1}


def test_knowing_a_card_doubles_its_interval_up_to_the_last_box():
    card, gaps = None, []
    for _ in range(BOXES + 2):
        card = leitner_schedule(card, True, TODAY)
        gaps.append((dt.date.fromisoformat(card["due"]) - TODAY).days)
    assert gaps == [2, 4, 8, 16, 32, 32, 32, 32]
    assert card["box"] == BOXES and card["reviews"] == BOXES + 2


def test_missing_a_card_sends_it_back_to_box_1():
    card = {"box": 5, "due": "2026-11-23", "reviews": 9}
    assert leitner_schedule(card, False, TODAY) == {"box": 1, "due": "2026-11-24", "reviews": 10}


@pytest.mark.parametrize("box", [0, BOXES + 1, 1.0, "2"])
def test_interval_rejects_boxes_out_of_range(box):
    with pytest.raises(ValueError, match=f"box must be an int from 1 to {BOXES}"):
        leitner_interval(box)


def test_reviews_are_kept_and_due_dates_follow_the_clock(tmp_path):
    p = store(tmp_path)
    assert p.due(["a", "b"]) == ["a", "b"]  # never seen: due
    p.review("a", knew=True)
    p.review("b", knew=False)
    assert p.due(["a", "b"]) == []
    assert store(tmp_path, TODAY + dt.timedelta(days=1)).due(["a", "b"]) == ["b"]
    assert store(tmp_path, TODAY + dt.timedelta(days=2)).due(["a", "b"]) == ["a", "b"]
    assert store(tmp_path).card("a") == {"box": 2, "due": "2026-11-25", "reviews": 1}


def test_only_passed_exercises_are_recorded(tmp_path):
    p = store(tmp_path)
    p.record_exercise("06", "check_layernorm", passed=False)
    assert p.passed_exercises() == []
    p.record_exercise("06", "check_layernorm", passed=True)
    p.record_exercise("07", "check_next_token", passed=True)
    assert p.passed_exercises("06") == ["06/check_layernorm"]
    assert len(p.passed_exercises()) == 2


def test_the_default_place_is_outside_the_repository(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_PROGRESS", str(tmp_path / "mine.json"))
    assert progress.progress_path() == tmp_path / "mine.json"
    monkeypatch.delenv("COURSE_PROGRESS")
    repo = os.path.dirname(os.path.dirname(os.path.abspath(progress.__file__)))
    assert not str(progress.progress_path()).startswith(repo)


@pytest.mark.parametrize("text", ["{\"version\": 1, \"exercises\": {", "not json at all",
                                  "[]", "{\"version\": 1, \"exercises\": {}, \"cards\": "
                                  "{\"x\": {\"box\": 9, \"due\": \"2026-11-23\"}}}"])
def test_a_corrupt_file_is_kept_aside_with_a_clear_warning(tmp_path, text):
    path = tmp_path / "progress.json"
    path.write_text(text)
    p = store(tmp_path)
    with pytest.warns(ProgressFileWarning, match="could not be read .* kept, unchanged, as"):
        p.review("a", knew=True)
    backups = list(tmp_path.glob("progress.json.corrupt-*"))
    assert len(backups) == 1 and backups[0].read_text() == text  # nothing lost
    assert p.card("a")["box"] == 2  # and the new file works


def test_a_failed_write_leaves_the_old_file_whole(tmp_path, monkeypatch):
    p = store(tmp_path)
    p.review("a", knew=True)
    before = (tmp_path / "progress.json").read_text()

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(OSError, match="No space"):
        p.review("b", knew=True)
    monkeypatch.undo()
    assert (tmp_path / "progress.json").read_text() == before
    assert not list(tmp_path.glob("*.tmp"))  # the temporary file is cleaned up


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_a_kernel_killed_between_write_and_rename_loses_nothing(tmp_path):
    p = store(tmp_path)
    p.review("a", knew=True)
    before = (tmp_path / "progress.json").read_text()
    child = textwrap.dedent(f"""
        import os, signal
        from helpers.progress import Progress
        os.replace = lambda *a: os.kill(os.getpid(), signal.SIGKILL)  # die right there
        Progress({str(tmp_path / "progress.json")!r}).review("b", knew=True)
    """)
    result = subprocess.run([sys.executable, "-c", child])
    assert result.returncode == -signal.SIGKILL
    assert (tmp_path / "progress.json").read_text() == before  # the old file, whole
    assert len(list(tmp_path.glob(".progress.json.*.tmp"))) == 1  # the written temp file
    assert store(tmp_path).card("a")["box"] == 2 and store(tmp_path).card("b") is None


def _review_many(path, prefix, n, start):
    p = Progress(path, today=lambda: TODAY)
    start.wait()  # both writers begin together, so their read-change-write cycles overlap
    for i in range(n):
        p.review(f"{prefix}{i}", knew=True)


def test_two_notebooks_writing_at_once_keep_each_others_updates(tmp_path):
    path = tmp_path / "progress.json"
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    writers = [context.Process(target=_review_many, args=(path, prefix, 150, start))
               for prefix in ("x", "y")]
    for w in writers:
        w.start()
    start.set()
    for w in writers:
        w.join(timeout=120)
        assert w.exitcode == 0
    cards = json.loads(path.read_text())["cards"]
    assert len(cards) == 300  # without the lock, one writer overwrites the other's cards


def test_a_passed_exercise_check_is_recorded_in_the_progress_file(tmp_path, monkeypatch):
    from helpers import exercises

    monkeypatch.setenv("COURSE_PROGRESS", str(tmp_path / "progress.json"))
    exercises.check_softmax(lambda x: None)  # not done yet: nothing recorded
    assert Progress().passed_exercises() == []
    exercises.check_softmax(lambda x: x.softmax(-1))
    assert Progress().passed_exercises() == ["01/check_softmax"]


def test_an_unwritable_progress_file_costs_a_warning_not_the_answer(tmp_path, monkeypatch):
    from helpers import exercises

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("COURSE_PROGRESS", str(blocker / "progress.json"))  # not a folder
    with pytest.warns(UserWarning, match="could not record this exercise"):
        result = exercises.check_softmax(lambda x: x.softmax(-1))
    assert result.passed


def _refuse_replace(monkeypatch, times):
    """os.replace refused ``times`` times, as Windows refuses to rename over a file that
    another process has open; returns the list of attempts."""
    real, attempts = os.replace, []

    def replace(source, target):
        attempts.append(target)
        if len(attempts) <= times:
            raise PermissionError(13, "The process cannot access the file because it is "
                                      "being used by another process")
        real(source, target)

    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(progress, "REPLACE_FIRST_WAIT", 0.001)
    return attempts


def test_a_rename_refused_for_a_moment_is_retried(tmp_path, monkeypatch):
    p = store(tmp_path)
    attempts = _refuse_replace(monkeypatch, times=3)
    p.review("a", knew=True)
    assert len(attempts) == 4 and p.card("a")["box"] == 2
    assert not list(tmp_path.glob("*.tmp"))


def test_a_rename_refused_for_good_fails_and_keeps_the_old_file(tmp_path, monkeypatch):
    p = store(tmp_path)
    p.review("a", knew=True)
    before = (tmp_path / "progress.json").read_text()
    attempts = _refuse_replace(monkeypatch, times=10**6)
    with pytest.raises(PermissionError):
        p.review("b", knew=True)
    assert len(attempts) == progress.REPLACE_RETRIES + 1
    assert (tmp_path / "progress.json").read_text() == before
    assert not list(tmp_path.glob("*.tmp"))


def test_reading_waits_for_a_writer_that_holds_the_lock(tmp_path):
    """On Windows a reader that opened the file while another notebook renames over it
    makes that rename fail: reads take the lock as writes do."""
    import threading
    import time

    p = store(tmp_path)
    p.review("a", knew=True)
    lock, held = progress._locked(p._lock_path), threading.Event()

    def writer():
        with lock:
            held.set()
            time.sleep(0.5)

    thread = threading.Thread(target=writer)
    thread.start()
    held.wait()
    start = time.perf_counter()
    assert p.card("a")["box"] == 2
    waited = time.perf_counter() - start
    thread.join()
    assert waited >= 0.3, f"read did not wait for the lock (waited {waited:.3f} s)"


def test_reading_a_missing_folder_creates_nothing(tmp_path):
    p = Progress(tmp_path / "not-yet" / "progress.json")
    assert p.read() == {"version": 2, "exercises": {}, "cards": {}}
    assert not (tmp_path / "not-yet").exists()


def test_a_version_1_file_moves_to_the_notebooks_new_numbers(tmp_path):
    """Before notebooks 06 and 08 were split, 07-12 had other numbers: a learner's old file
    keeps every pass and every card, each under its notebook's new number, and the next
    change writes version 2."""
    old = {"version": 1,
           "exercises": {"06/check_layernorm": {"passed": "2026-11-20T10:00:00"},
                         "06/check_scheduled_fit": {"passed": "2026-11-20T11:00:00"},
                         "07/check_decoder_block": {"passed": "2026-11-21T10:00:00"},
                         "08/check_merge": {"passed": "2026-11-22T10:00:00"},
                         "08/check_gpt": {"passed": "2026-11-22T11:00:00"},
                         "12/check_rmsnorm": {"passed": "2026-11-23T10:00:00"}},
           "cards": {"06-layernorm-axes": {"box": 2, "due": "2026-11-25", "reviews": 1},
                     "06-prenorm-deep": {"box": 3, "due": "2026-11-26", "reviews": 2},
                     "09-rollout": {"box": 4, "due": "2026-11-30", "reviews": 3}}}
    (tmp_path / "progress.json").write_text(json.dumps(old))
    p = store(tmp_path)
    state = p.read()
    assert state["version"] == 2
    assert sorted(state["exercises"]) == ["06/check_layernorm", "07/check_scheduled_fit",
                                          "08/check_decoder_block", "09/check_merge",
                                          "10/check_gpt", "14/check_rmsnorm"]
    assert state["exercises"]["09/check_merge"] == {"passed": "2026-11-22T10:00:00"}
    assert state["cards"] == {"06-layernorm-axes": old["cards"]["06-layernorm-axes"],
                              "07-prenorm-deep": old["cards"]["06-prenorm-deep"],
                              "11-rollout": old["cards"]["09-rollout"]}
    p.review("06-layernorm-axes", knew=True)
    written = json.loads((tmp_path / "progress.json").read_text())
    assert written["version"] == 2 and "11-rollout" in written["cards"]
    assert not list(tmp_path.glob("progress.json.corrupt-*"))
