"""Flashcards with spaced repetition: a deck at the end of every notebook, and one place to
review what is due across the course (notebooks 01-16).

The cards live in ``helpers/cards/NN.json`` (question, answer, maths in ``$...$``); what a
learner knows lives in the progress file (helpers.progress). "Knew it" moves a card up a
Leitner box and pushes its next review out (2, 4, 8, ... days); "didn't" sends it back to
box 1, due tomorrow.

    Flashcards("06")              # the deck of notebook 06, due cards first
    Flashcards(due_only=True)     # the cards met before that are due today, whole course
"""
import html
import json
import re
from pathlib import Path

import ipywidgets as widgets

from helpers.progress import Progress, card_is_due

CARDS = Path(__file__).parent / "cards"


def load_cards(notebook: str | None = None) -> list[dict]:
    """The cards of one notebook ("06"), or of every notebook in order.

    Each card: {"id", "q", "a", "notebook"}. Raises ValueError for an unknown notebook.
    """
    files = sorted(CARDS.glob("[0-9][0-9].json"))
    if notebook is not None:
        notebook = f"{int(notebook):02d}" if str(notebook).isdigit() else str(notebook)
        files = [f for f in files if f.stem == notebook]
        if not files:
            known = ", ".join(f.stem for f in sorted(CARDS.glob("[0-9][0-9].json")))
            raise ValueError(f"no flashcards for notebook {notebook!r}; there are decks "
                             f"for {known}")
    cards = []
    for f in files:
        deck = json.loads(f.read_text(encoding="utf-8"))
        cards += [{**card, "notebook": deck["notebook"]} for card in deck["cards"]]
    return cards


def _card_html(text: str) -> str:
    """A card's text as HTML: escaped, `code` in backticks as <code>; $maths$ is left for
    MathJax (ipywidgets.HTMLMath renders it)."""
    escaped = html.escape(text, quote=False)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)


class Flashcards(widgets.VBox):
    """One card at a time: the question, "Show answer", then "Knew it" or "Didn't".

    notebook: "06" for one notebook's deck, None for the whole course; due_only: only the
    cards met before that are due today (a notebook's deck introduces new cards). Due and
    new cards come first. progress: a ``Progress`` (default: the
    learner's own file).
    """

    def __init__(self, notebook=None, *, due_only=False, progress=None):
        self.progress = progress if progress is not None else Progress()
        cards = load_cards(notebook)
        states, today = self.progress.read()["cards"], self.progress.today()
        due = [c for c in cards if card_is_due(states.get(c["id"]), today)]
        if due_only:  # a review: the cards met before whose day has come
            self.cards = [c for c in due if c["id"] in states]
        else:  # a notebook's deck: due and new cards first, then the rest
            self.cards = due + [c for c in cards if c not in due]
        self.index, self.knew, self.seen = 0, 0, 0
        layout = widgets.Layout(width="auto")
        self.header = widgets.HTML()
        self.question = widgets.HTMLMath(layout=widgets.Layout(min_height="3em"))
        self.answer = widgets.HTMLMath(layout=widgets.Layout(min_height="3em"))
        self.show_button = widgets.Button(description="Show answer", layout=layout)
        self.knew_button = widgets.Button(description="Knew it", button_style="success",
                                          icon="check", layout=layout)
        self.missed_button = widgets.Button(description="Didn't", button_style="warning",
                                            icon="times", layout=layout)
        self.status = widgets.HTML()
        self.show_button.on_click(lambda _: self.reveal())
        self.knew_button.on_click(lambda _: self.grade(True))
        self.missed_button.on_click(lambda _: self.grade(False))
        self.buttons = widgets.HBox([self.show_button, self.knew_button, self.missed_button])
        self.notebook = notebook
        super().__init__([self.header, self.question, self.answer, self.buttons, self.status],
                         layout=widgets.Layout(border="1px solid #bbb", padding="8px 14px",
                                               max_width="860px"))
        self.add_class("course-flashcards")
        self._show_card()

    @property
    def current(self) -> dict | None:
        return self.cards[self.index] if self.index < len(self.cards) else None

    def reveal(self):
        if self.current is not None:
            self.answer.value = _large(_card_html(self.current["a"]))
            self._buttons(show=False, grade=True)

    def grade(self, knew: bool):
        """Record the review in the progress file and move to the next card."""
        card = self.current
        if card is None:
            return
        state = self.progress.review(card["id"], knew)
        self.seen += 1
        self.knew += knew
        days = "day" if state["box"] == 1 else "days"
        self.status.value = (f"{'Knew it' if knew else 'Didn’t'}: the card goes to box "
                             f"{state['box']}, next review on {state['due']} "
                             f"(in {2 ** (state['box'] - 1)} {days}). "
                             f"Score: knew {self.knew} of {self.seen}.")
        self.index += 1
        self._show_card()

    def _show_card(self):
        card = self.current
        if card is None:
            total = len(self.cards)
            self.header.value = ("<b>No card is due today.</b> Each notebook ends with its "
                                 "deck; the cards you meet there come back here when they "
                                 "are due." if total == 0 else
                                 f"<b>Done: {total} card{'s' * (total != 1)}.</b>")
            self.question.value = self.answer.value = ""
            self._buttons(show=False, grade=False)
            self.buttons.layout.display = "none"  # no disabled buttons that look clickable
            return
        state = self.progress.card(card["id"])
        if state is None:
            where = "new"
        else:
            when = "due" if card_is_due(state, self.progress.today()) else "next review"
            where = f"box {state['box']}, {when} {state['due']}"
        self.header.value = (f"<b>Card {self.index + 1} of {len(self.cards)}</b> · notebook "
                             f"{card['notebook']} · {where}")
        self.question.value = _large(_card_html(card["q"]))
        self.answer.value = ""
        self._buttons(show=True, grade=False)

    def __repr__(self):
        """What a notebook shows before the cell has run in this session (the stored text
        copy of the widget), instead of the widget's field list."""
        deck = f"notebook {self.notebook}'s" if self.notebook else "the course's"
        return (f"Flashcards: {deck} deck, {len(self.cards)} card"
                f"{'s' * (len(self.cards) != 1)}. Run this cell to study them.")

    def _buttons(self, show: bool, grade: bool):
        self.show_button.disabled = not show
        self.knew_button.disabled = self.missed_button.disabled = not grade


def _large(text: str) -> str:
    return f'<div style="font-size: 1.15em; line-height: 1.5">{text}</div>'
