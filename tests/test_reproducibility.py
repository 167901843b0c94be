"""helpers.reproducibility: seeds, and expect() for claims about trained models."""
import configparser
import json
import re
from pathlib import Path

import pytest
import torch

import helpers
from helpers.reproducibility import ClaimFailed, expect


def test_expect_prints_the_claim_and_the_measured_value(capsys):
    assert expect(0.995 >= 0.99, "held-out accuracy ≥ 99%", "99.5%") is None
    assert capsys.readouterr().out == "✔ held-out accuracy ≥ 99% [measured: 99.5%]\n"


def test_expect_raises_and_names_the_claim_when_it_fails(capsys):
    with pytest.raises(ClaimFailed, match=r"✘ held-out accuracy ≥ 99% \[measured: 45.0%\]"):
        expect(0.45 >= 0.99, "held-out accuracy ≥ 99%", "45.0%")
    assert capsys.readouterr().out == ""  # no ✔ line for a failed claim
    with pytest.raises(AssertionError):  # a ClaimFailed is an AssertionError
        expect(False, "anything")


def test_expect_takes_a_one_element_bool_tensor():
    expect(torch.tensor(True), "a tensor comparison")
    with pytest.raises(ClaimFailed):
        expect(torch.tensor(0.3) > 0.5, "a tensor comparison")


@pytest.mark.parametrize("condition, error, words", [
    (torch.tensor([True, False]), TypeError, r"one bool.*\(2,\).*\.all\(\)"),
    (torch.tensor(1.0), TypeError, "torch.float32"),
    (0.99, TypeError, "got float"),
    ("yes", TypeError, "got str"),
])
def test_expect_rejects_conditions_that_are_not_one_bool(condition, error, words):
    with pytest.raises(error, match=words):
        expect(condition, "a claim")


def test_expect_needs_a_claim_in_words():
    with pytest.raises(ValueError, match="in words"):
        expect(True, "  ")


def _sanitize(text):
    """Apply tests/sanitize.cfg as nbval does."""
    config = configparser.ConfigParser()
    config.read(Path(__file__).parent / "sanitize.cfg", encoding="utf-8")
    for section in config.sections():
        text = re.sub(config[section]["regex"], config[section]["replace"], text)
    return text


def test_nbval_compares_the_claim_but_not_the_measured_value():
    here = _sanitize("✔ 4 heads beat 1 head by ≥ 20 points [measured: 100.0% vs 57.3%]")
    there = _sanitize("✔ 4 heads beat 1 head by ≥ 20 points [measured: 100.0% vs 57.1%]")
    assert here == there
    other_claim = _sanitize("✔ 4 heads beat 1 head by ≥ 10 points [measured: 100.0% vs 57.3%]")
    assert other_claim != here


def test_seed_everything_reproduces():
    helpers.seed_everything(3)
    a = torch.randn(4), torch.randint(0, 9, (2, 5))
    helpers.seed_everything(3)
    b = torch.randn(4), torch.randint(0, 9, (2, 5))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    with pytest.raises(ValueError, match="non-negative int"):
        helpers.seed_everything(-1)


def test_seed_everything_pins_threads_unless_told_not_to():
    before = torch.get_num_threads()
    try:
        helpers.seed_everything(0, threads=2)
        assert torch.get_num_threads() == 2
        helpers.seed_everything(0)
        assert torch.get_num_threads() == 1
        helpers.seed_everything(0, threads=None)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def _dejavu_sans_mono():
    import matplotlib
    from fontTools.ttLib import TTFont

    path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSansMono.ttf"
    return set(TTFont(path).getBestCmap())


def test_check_marks_exist_in_the_fonts_of_a_bare_linux_machine():
    """Debian's Chromium with no emoji font draws ✅ and ❌ as the same empty box. The marks
    must be in DejaVu Sans Mono (JupyterLab's output font there; matplotlib ships a copy)."""
    from helpers.reproducibility import FAIL, PASS

    assert PASS != FAIL and {ord(PASS), ord(FAIL)} <= _dejavu_sans_mono()


def test_every_check_line_in_the_stored_notebooks_has_only_glyphs_the_font_has():
    covered = _dejavu_sans_mono()
    missing = {}
    for path in sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb")):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            for out in cell.get("outputs", []):
                text = "".join(out.get("text", "")) + "".join(
                    out.get("data", {}).get("text/plain", ""))
                for line in text.splitlines():
                    if line[:1] in "✔✘✅❌":
                        missing.update({c: path.name for c in line if ord(c) not in covered})
    assert not missing, f"glyphs a bare Linux machine's font lacks, in check lines: {missing}"


def test_a_check_reads_without_its_mark_in_jupyterlab():
    from helpers.exercises._common import Check

    passed, failed = Check(True, "fine <b>")._repr_html_(), Check(False, "wrong")._repr_html_()
    assert "Passed:" in passed and "&lt;b&gt;" in passed and "Not yet:" in failed
    assert "color: #1a7f37" in passed and "color: #b3261e" in failed
