"""Flashcards: the decks shipped with the course, and the widget's buttons."""
import datetime as dt
import json
import re

import pytest

from helpers import flashcards
from helpers.flashcards import Flashcards, _card_html, load_cards
from helpers.progress import Progress

TODAY = dt.date(2026, 11, 23)
TOMORROW = TODAY + dt.timedelta(days=1)
NOTEBOOKS = sorted(p.name[:2] for p in flashcards.CARDS.parent.parent.glob("notebooks/[0-9][0-9]_*.ipynb")
                   if not p.name.startswith("00"))  # 00 is the start page


@pytest.fixture
def progress(tmp_path):
    return Progress(tmp_path / "progress.json", today=lambda: TODAY)


@pytest.fixture
def deck(tmp_path, monkeypatch):
    folder = tmp_path / "cards"
    folder.mkdir()
    cards = [{"id": f"99-c{i}", "q": f"question {i}", "a": f"answer {i}"} for i in range(3)]
    (folder / "99.json").write_text(json.dumps({"notebook": "99", "title": "t", "cards": cards}))
    monkeypatch.setattr(flashcards, "CARDS", folder)
    return cards


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_every_notebook_has_a_deck_of_8_to_15_cards(notebook):
    cards = load_cards(notebook)
    assert 8 <= len(cards) <= 15, f"notebook {notebook}: {len(cards)} cards"
    for card in cards:
        assert card["id"].startswith(f"{notebook}-") and card["q"].strip() and card["a"].strip()
        for text in (card["q"], card["a"]):
            assert text.count("$") % 2 == 0, f"{card['id']}: unbalanced $ in {text!r}"


def test_card_ids_are_unique_across_the_course():
    ids = [c["id"] for c in load_cards()]
    assert len(ids) == len(set(ids))


def test_an_unknown_notebook_is_named_in_the_error(deck):
    with pytest.raises(ValueError, match="no flashcards for notebook '42'; there are decks for 99"):
        load_cards("42")


def test_card_text_becomes_safe_html_with_code_and_maths_kept():
    assert _card_html("`x < y` and $\\sqrt{d_k}$") == "<code>x &lt; y</code> and $\\sqrt{d_k}$"


def test_knew_it_and_didnt_update_the_progress_file(deck, progress):
    cards = Flashcards("99", progress=progress)
    assert cards.knew_button.disabled and "question 0" in cards.question.value
    cards.show_button.click()
    assert "answer 0" in cards.answer.value and not cards.knew_button.disabled
    cards.knew_button.click()
    assert progress.card("99-c0") == {"box": 2, "due": "2026-11-25", "reviews": 1}
    assert "box 2" in cards.status.value and "question 1" in cards.question.value
    cards.show_button.click()
    cards.missed_button.click()
    assert progress.card("99-c1") == {"box": 1, "due": "2026-11-24", "reviews": 1}
    assert "Score: knew 1 of 2" in cards.status.value


def test_review_what_is_due_shows_only_due_cards_met_before(deck, progress, tmp_path):
    assert "No card is due" in Flashcards(due_only=True, progress=progress).header.value
    for card in ("99-c0", "99-c1", "99-c2"):
        progress.review(card, knew=card == "99-c1")  # c1 up to box 2; c0, c2 due tomorrow
    due = Flashcards(due_only=True, progress=Progress(progress.path, today=lambda: TOMORROW))
    assert [c["id"] for c in due.cards] == ["99-c0", "99-c2"]
    for _ in range(2):
        due.show_button.click()
        due.knew_button.click()
    assert "Done: 2 cards" in due.header.value and due.show_button.disabled
    assert "No card is due" in Flashcards(due_only=True, progress=due.progress).header.value


def test_due_cards_come_first_in_a_notebooks_deck(deck, progress):
    progress.review("99-c0", knew=True)
    assert [c["id"] for c in Flashcards("99", progress=progress).cards] == ["99-c1", "99-c2", "99-c0"]


def test_with_nothing_due_no_buttons_are_shown(progress):
    """Three disabled buttons looked clickable on the start page; now there are none."""
    review = Flashcards(due_only=True, progress=progress)
    assert review.cards == [] and review.buttons.layout.display == "none"
    assert "No card is due today" in review.header.value


def test_an_unrun_deck_says_to_run_the_cell(progress):
    """The stored text copy of the widget is what a notebook shows before the cell runs."""
    deck = Flashcards("03", progress=progress)
    assert repr(deck) == (f"Flashcards: notebook 03's deck, {len(deck.cards)} cards. "
                          "Run this cell to study them.")
    assert deck.buttons.layout.display != "none"
    assert "the course's deck" in repr(Flashcards(due_only=True, progress=progress))
