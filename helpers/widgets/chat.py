"""ChatBox: ask an instruction-tuned model a question and read its answer (notebook 14)."""
import html

import ipywidgets as widgets


class ChatBox(widgets.VBox):
    """A question box, an "ask" button and a temperature; the questions asked and the
    model's answers, newest last.

    answer(question, temperature) -> the model's answer (a string). Each question is asked
    on its own: the model does not see the earlier turns (a small model answers better
    that way, and the prompt stays short).
    """

    def __init__(self, answer, *, name="model"):
        if not callable(answer):
            raise TypeError(f"answer must be a function (question, temperature) -> str, "
                            f"got {type(answer).__name__}")
        self.answer, self.name, self.turns = answer, name, []
        self.question = widgets.Text(
            placeholder="Type a question, then click ask", description="question",
            tooltip="your question to the model", style={"description_width": "initial"},
            layout=widgets.Layout(width="100%"))
        self.ask_button = widgets.Button(description="ask", button_style="primary",
                                         tooltip="generate the model's answer")
        self.temperature = widgets.FloatSlider(
            value=0.0, min=0.0, max=1.5, step=0.05, readout_format=".2f",
            description="temperature (0 = greedy)", continuous_update=False,
            tooltip="0: always the likeliest token; higher: more varied answers",
            style={"description_width": "initial"})
        self.conversation = widgets.HTML(tooltip="the questions asked and the answers",
                                layout=widgets.Layout(width="100%"))
        self.ask_button.on_click(lambda _button: self.ask())
        row = widgets.HBox([self.ask_button, self.temperature],
                           layout=widgets.Layout(flex_flow="row wrap", align_items="center"))
        super().__init__([self.conversation, self.question, row])
        self._show()

    def ask(self, question=None):
        """Ask ``question`` (default: what the box holds); return the answer."""
        question = (self.question.value if question is None else question).strip()
        if not question:
            self._show(note="Type a question in the box first.")
            return None
        self.ask_button.disabled = True
        self._show(pending=question)
        try:
            reply = str(self.answer(question, self.temperature.value))
        finally:
            self.ask_button.disabled = False
        self.turns.append((question, reply))
        self.question.value = ""
        self._show()
        return reply

    def _show(self, pending=None, note=None):
        lines = []
        for question, reply in self.turns:
            lines += [f"<b>You:</b> {html.escape(question)}",
                      f"<b>{html.escape(self.name)}:</b> {html.escape(reply)}"]
        if pending is not None:
            lines += [f"<b>You:</b> {html.escape(pending)}",
                      f"<i>{html.escape(self.name)} is writing…</i>"]
        if note:
            lines.append(f"<i>{html.escape(note)}</i>")
        if not lines:
            lines.append(f"<i>Ask {html.escape(self.name)} something: the answer appears here.</i>")
        self.conversation.value = ('<div class="course-chat" style="font-size: 15px; line-height: 1.5">'
                          + "<br>".join(lines) + "</div>")

    def _repr_mimebundle_(self, **kwargs):
        # Without a widget manager (a static render): the conversation so far, as text.
        bundle = super()._repr_mimebundle_(**kwargs)
        bundle["text/plain"] = "\n".join(f"You: {q}\n{self.name}: {a}" for q, a in self.turns) \
            or f"ChatBox: run this cell in JupyterLab to ask {self.name} a question."
        return bundle
