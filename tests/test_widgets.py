"""The explorers without a browser: change a control, the drawn data and picture change."""
import ipywidgets as widgets
import pytest
import torch

from helpers.widgets import AttentionExplorer, SoftLookupExplorer


@pytest.fixture
def weights():
    g = torch.Generator().manual_seed(0)
    return torch.softmax(torch.randn(3, 2, 4, 5, 5, generator=g), dim=-1)  # (N, L, H, T, S)


def test_attention_explorer_redraws_on_every_control(weights):
    tokens = [list("abcde"), list("fghij"), list("klm")]
    explorer = AttentionExplorer(weights, tokens)
    for name, value in [("head", 2), ("layer", 1), ("query", 3), ("example", 1)]:
        before_png, before_data = explorer.image.value, explorer.shown.clone()
        explorer.controls[name].value = value
        assert explorer.image.value != before_png, f"moving {name} did not redraw"
        if name in ("head", "layer", "example"):
            assert not torch.equal(explorer.shown, before_data), f"{name} showed the same data"
    torch.testing.assert_close(explorer.shown, weights[1, 1, 2])


def test_attention_explorer_hides_padding_and_keeps_query_in_range(weights):
    explorer = AttentionExplorer(weights, [list("abcde"), list("fghij"), list("klm")])
    explorer.controls["query"].value = 4
    explorer.controls["example"].value = 2
    assert explorer.shown.shape == (3, 3)
    assert explorer.controls["query"].value == 2
    assert [label for label, _ in explorer.controls["query"].options] == ["0: k", "1: l", "2: m"]


@pytest.mark.parametrize("shape, visible", [
    ((5, 5), {"query"}),
    ((4, 5, 5), {"head", "query"}),
    ((3, 4, 5, 5), {"example", "head", "query"}),
])
def test_attention_explorer_shows_only_useful_controls(shape, visible):
    explorer = AttentionExplorer(torch.rand(shape), list("abcde"))
    shown = {n for n, c in explorer.controls.items() if c.layout.display != "none"}
    assert shown == visible


def test_attention_explorer_static_copy_for_github(weights):
    bundle = AttentionExplorer(weights, list("abcde"))._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle and "image/png" in bundle


def test_attention_explorer_rejects_bad_input():
    with pytest.raises(ValueError, match=r"got \(2, 3, 4, 5, 5, 5\)"):
        AttentionExplorer(torch.rand(2, 3, 4, 5, 5, 5), list("abcde"))
    with pytest.raises(ValueError, match="T=5 queries and S=5 keys, but got 6 query"):
        AttentionExplorer(torch.rand(5, 5), list("abcdef"))
    with pytest.raises(ValueError, match="got 2 lists of tokens for 3 examples"):
        AttentionExplorer(torch.rand(3, 1, 5, 5), [list("abcde")] * 2)
    with pytest.raises(ValueError, match=r"read as \(H, T, S\).*weights\[:, None\]"):
        AttentionExplorer(torch.rand(8, 5, 5), [list("abcde")] * 8)


def test_soft_lookup_explorer_moves_weights_and_output():
    keys = torch.tensor([[2.0, 0.0], [0.0, 2.0], [-2.0, 0.0]])
    explorer = SoftLookupExplorer(keys, ["east", "north", "west"], values=[1.0, 2.0, 3.0])
    explorer.controls["angle"].value = 0.0
    assert explorer.weights.argmax() == 0
    png, output = explorer.image.value, explorer.output
    explorer.controls["angle"].value = 90.0
    assert explorer.weights.argmax() == 1 and explorer.image.value != png
    assert explorer.output != output
    explorer.controls["temperature"].value = 0.05  # cold: nearly a hard lookup
    assert explorer.weights.max() > 0.99 and abs(explorer.output - 2.0) < 0.01
    explorer.controls["temperature"].value = 5.0  # hot (the slider's top): near an average
    assert explorer.weights.min() > 0.25


def test_soft_lookup_explorer_rejects_bad_keys():
    with pytest.raises(ValueError, match=r"keys must have shape \(S, 2\), got \(3, 3\)"):
        SoftLookupExplorer(torch.rand(3, 3), list("abc"))
    with pytest.raises(ValueError, match="3 keys need 3 names, got 2"):
        SoftLookupExplorer(torch.rand(3, 2), list("ab"))


def test_sampling_explorer_reacts_to_every_control():
    from helpers.widgets import SamplingExplorer

    logits = torch.tensor([2.0, 1.0, 0.0, -1.0])

    def distribution(t, k):
        z = logits / t
        if k:
            z = z.masked_fill(z < z.topk(k).values[-1], float("-inf"))
        return torch.softmax(z, 0)

    def samples(t, k, seed):
        g = torch.Generator().manual_seed(seed)
        return ["".join("abcd"[i] for i in torch.multinomial(distribution(t, k), 8, True, generator=g))]

    explorer = SamplingExplorer(distribution, samples, list("abcd"))
    png = explorer.image.value
    explorer.controls["temperature"].value = 0.1
    assert explorer.shown[0] > 0.99 and explorer.image.value != png
    png = explorer.image.value
    explorer.controls["temperature"].value = 1.0
    explorer.controls["top_k"].value = 2
    assert explorer.shown[2:].sum() == 0 and explorer.image.value != png
    png = explorer.image.value
    explorer.regenerate.click()
    assert explorer.seed == 1 and explorer.image.value != png


def test_sampling_explorer_top_p_reaches_both_callbacks():
    from helpers.generation import top_p_filter
    from helpers.widgets import SamplingExplorer

    logits, calls = torch.tensor([2.0, 1.0, 0.0, -1.0]), []

    def distribution(t, k, top_p=None):
        calls.append(top_p)
        z = logits / t
        return torch.softmax(top_p_filter(z, top_p) if top_p else z, 0)

    explorer = SamplingExplorer(distribution, lambda t, k, seed, top_p=None: [f"p={top_p}"],
                                list("abcd"), top_p=True)
    assert calls[-1] is None  # at 1.0 the slider cuts nothing
    png = explorer.image.value
    explorer.controls["top_p"].value = 0.5  # 2.0 alone holds 64%: only "a" is kept
    assert calls[-1] == 0.5 and explorer.shown[1:].sum() == 0 and explorer.image.value != png
    assert "top_p" not in SamplingExplorer(lambda t, k: torch.full((2,), 0.5),
                                           lambda t, k, s: [""], "ab").controls


def test_chat_box_asks_and_keeps_the_conversation():
    from helpers.widgets import ChatBox

    asked = []

    def answer(question, temperature):
        asked.append((question, temperature))
        return f"<{question.upper()}>"

    chat = ChatBox(answer, name="SmolLM2")
    assert "Ask SmolLM2 something" in chat.conversation.value
    chat.ask_button.click()  # an empty box: no call, a hint
    assert asked == [] and "Type a question" in chat.conversation.value
    chat.question.value = "  what is 2 + 2?  "
    chat.temperature.value = 0.5
    chat.ask_button.click()
    assert asked == [("what is 2 + 2?", 0.5)] and chat.question.value == ""
    assert "&lt;WHAT IS 2 + 2?&gt;" in chat.conversation.value  # escaped, not read as a tag
    assert chat.ask("and 3 + 3?") == "<AND 3 + 3?>"
    assert chat.conversation.value.count("<b>You:</b>") == 2 and not chat.ask_button.disabled
    assert chat._repr_mimebundle_()["text/plain"].startswith("You: what is 2 + 2?")
    with pytest.raises(TypeError, match="answer must be a function"):
        ChatBox("Paris")


def test_vit_explorer_changes_picture_with_head_layer_and_rollout():
    from helpers.widgets import ViTExplorer

    torch.manual_seed(0)
    weights = torch.softmax(torch.randn(2, 2, 3, 17, 17), -1)  # (N, L, H, T, T)
    explorer = ViTExplorer(torch.rand(2, 1, 8, 8), weights, ["a", "b"])
    assert explorer.shown.shape == (4, 4)
    before, picture = explorer.shown.clone(), explorer.image.value
    explorer.controls["head"].value = 0
    assert not torch.equal(explorer.shown, before) and explorer.image.value != picture
    assert torch.equal(explorer.shown, weights[0, 1, 0, 0, 1:].view(4, 4))
    explorer.controls["layer"].value = "rollout"
    assert torch.allclose(explorer.shown.sum(), 1 - explorer.rollout[0, 0, 0])
    with pytest.raises(ValueError, match="1 \\+ grid"):
        ViTExplorer(torch.rand(2, 8, 8), torch.rand(2, 1, 1, 6, 6))


def test_vit_explorer_shows_position_similarity_of_the_chosen_patch():
    from helpers.vit import position_similarity
    from helpers.widgets import ViTExplorer

    torch.manual_seed(0)
    weights = torch.softmax(torch.randn(2, 2, 3, 17, 17), -1)  # (N, L, H, T, T)
    pos_embed = torch.randn(1, 17, 8)  # (1, 1 + grid², d)
    explorer = ViTExplorer(torch.rand(2, 1, 8, 8), weights, ["a", "b"], pos_embed=pos_embed)
    attention, picture = explorer.shown.clone(), explorer.image.value
    explorer.controls["show"].value = "positions"
    assert explorer.image.value != picture
    expected = position_similarity(pos_embed, 4)  # (4, 4, 4, 4)
    assert torch.allclose(explorer.shown, expected[0, 0])
    assert torch.isclose(explorer.shown[0, 0], torch.tensor(1.0))  # a patch is itself
    explorer.controls["patch"].value = 6  # row 1, column 2
    assert torch.allclose(explorer.shown, expected[1, 2])
    explorer.controls["show"].value = "attention"
    assert torch.equal(explorer.shown, attention)
    assert "show" not in ViTExplorer(torch.rand(2, 1, 8, 8), weights).controls  # optional


def test_receptive_field_explorer_steps_through_blocks_and_patches():
    from helpers.widgets import ReceptiveFieldExplorer
    from helpers.windows import receptive_field

    explorer = ReceptiveFieldExplorer(grid=8, window_size=4, num_blocks=4)
    assert explorer.shown.shape == (2, 8, 8)
    assert explorer.shown.sum(dim=(1, 2)).tolist() == [16, 16]  # block 1: its own window
    picture = explorer.image.value
    explorer.controls["block"].value = 3
    assert explorer.image.value != picture
    assert explorer.shown.sum(dim=(1, 2)).tolist() == [16, 64]  # only the shifted one grows
    explorer.controls["row"].value, explorer.controls["col"].value = 3, 5
    assert torch.equal(explorer.shown[1], receptive_field(8, 4, 4)[3, 3 * 8 + 5].view(8, 8))
    with pytest.raises(ValueError, match="not divisible into 4x4 windows"):
        ReceptiveFieldExplorer(grid=6, window_size=4)


def test_vit_explorer_disables_the_controls_that_change_nothing():
    """Rollout combines every head: the head buttons would leave the picture unchanged, so
    they are disabled; position similarity ignores layer and head; attention ignores the
    patch (issue 19, item 6)."""
    from helpers.widgets import ViTExplorer

    torch.manual_seed(0)
    weights = torch.softmax(torch.randn(2, 2, 3, 17, 17), -1)  # (N, L, H, T, T)
    explorer = ViTExplorer(torch.rand(2, 1, 8, 8), weights, ["a", "b"],
                           pos_embed=torch.randn(17, 8))
    c = explorer.controls
    assert not c["head"].disabled and not c["layer"].disabled and c["patch"].disabled
    c["layer"].value = "rollout"
    assert c["head"].disabled
    picture = explorer.image.value
    c["head"].value = 1
    assert explorer.image.value == picture  # why the buttons are disabled
    c["layer"].value = 0
    assert not c["head"].disabled
    c["show"].value = "positions"
    assert c["head"].disabled and c["layer"].disabled and not c["patch"].disabled
    c["show"].value = "attention"
    assert not c["head"].disabled and c["patch"].disabled


def _every_explorer():
    from helpers.widgets import (
        ChatBox, MaskLab, PositionExplorer, ReceptiveFieldExplorer, SamplingExplorer, ViTExplorer,
    )

    weights = torch.softmax(torch.randn(2, 2, 12, 17, 17), -1)  # (N, L, H, T, T)
    return [
        AttentionExplorer(weights[:, :, :, :5, :5], [list("abcde")] * 2),
        SoftLookupExplorer(torch.randn(3, 2), ["a", "b", "c"]),
        MaskLab([["the", "cat", "sat"]]),
        PositionExplorer({"sinusoidal": torch.rand(6, 6), "padding + causal": torch.rand(6, 6)}),
        SamplingExplorer(lambda t, k: torch.full((3,), 1 / 3), lambda t, k, s: ["abc"], "abc"),
        SamplingExplorer(lambda t, k, top_p: torch.full((3,), 1 / 3),
                         lambda t, k, s, top_p: ["abc"], "abc", top_p=True),
        ChatBox(lambda question, temperature: "an answer"),
        ViTExplorer(torch.rand(2, 1, 8, 8), weights, pos_embed=torch.randn(17, 8)),
        ReceptiveFieldExplorer(grid=4, window_size=2, num_blocks=2),
    ]


def _descendants(widget):
    yield widget
    for child in getattr(widget, "children", ()):
        yield from _descendants(child)


def test_every_control_has_a_tooltip_and_every_button_its_whole_label():
    """ipywidgets writes a missing tooltip into the page as title="null"; a toggle button
    narrower than its label shows "m…" for "mean" (issue 19, item 6)."""
    from helpers.widgets._base import BUTTON_PADDING_PX, CHARACTER_PX

    for explorer in _every_explorer():
        for widget in _descendants(explorer):
            name = f"{type(explorer).__name__}: {type(widget).__name__} {widget.description!r}" \
                if hasattr(widget, "description") else type(widget).__name__
            if hasattr(widget, "description") and not isinstance(widget, widgets.Image):
                assert widget.tooltip, f"{name} has no tooltip"
            if isinstance(widget, widgets.ToggleButtons):
                longest = max(len(label) for label in widget._options_labels)
                width = int(widget.style.button_width.removesuffix("px"))
                assert width >= BUTTON_PADDING_PX + CHARACTER_PX * longest, \
                    f"{name}: buttons {width} px wide for a {longest}-character label"
                assert len(widget.tooltips) == len(widget._options_labels) \
                    and all(widget.tooltips), f"{name}: a button without a tooltip"


def test_every_slider_announces_the_value_it_shows():
    """A FloatLogSlider's handle carries the exponent (aria-valuenow "-1" while it shows
    0.100), a SelectionSlider's the index: screen readers read the wrong number."""
    for explorer in _every_explorer():
        for widget in _descendants(explorer):
            assert not isinstance(widget, (widgets.FloatLogSlider, widgets.SelectionSlider)), \
                f"{type(explorer).__name__}: {widget.description!r} is a {type(widget).__name__}"
