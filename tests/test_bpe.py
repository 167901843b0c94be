"""helpers.bpe: the worked examples, round trips over any text, compression."""
import pytest
from hypothesis import given, settings, strategies as st

from helpers.bpe import BPETokenizer, merge, pair_counts

TEXT = "the cat sat on the mat. the cat ate the rat. " * 20


def test_worked_examples():
    assert pair_counts([1, 2, 3, 1, 2]) == {(1, 2): 2, (2, 3): 1, (3, 1): 1}
    assert merge([1, 2, 3, 1, 2], (1, 2), 4) == [4, 3, 4]
    assert merge([], (1, 2), 4) == [] and pair_counts([7]) == {}


@pytest.fixture(scope="module")
def tokenizer():
    return BPETokenizer().train(TEXT, 300)


def test_training_learns_frequent_pieces_and_compresses(tokenizer):
    assert len(tokenizer.merges) < 44  # this repetitive text runs out of pairs: early stop
    assert b"the " in tokenizer.vocab.values() and b"cat " in tokenizer.vocab.values()
    assert len(tokenizer.encode(TEXT)) < len(TEXT.encode()) / 4


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_round_trip_any_text(tokenizer, text):
    assert tokenizer.decode(tokenizer.encode(text)) == text


@pytest.mark.parametrize("text", ["", "a", "the", "unseen wörds ✓ 🎉"])
def test_round_trip_examples(tokenizer, text):
    assert tokenizer.decode(tokenizer.encode(text)) == text


def test_rejects_small_vocabulary():
    with pytest.raises(ValueError, match="vocab_size must be >= 256"):
        BPETokenizer().train("abc", 100)


def test_rejects_unknown_ids_and_bytes(tokenizer):
    with pytest.raises(ValueError, match=r"id 999 is not in the vocabulary: ids run from 0 to 2\d\d"):
        tokenizer.decode([104, 999])
    with pytest.raises(ValueError, match="id -1 is not in the vocabulary"):
        tokenizer.decode([-1])
    with pytest.raises(TypeError, match=r"ids must be ints, got a float \(1.0\)"):
        tokenizer.decode([1.0])
    with pytest.raises(TypeError, match=r"encode takes a str, got bytes; decode the bytes first"):
        tokenizer.encode(b"the cat")
    with pytest.raises(TypeError, match="train takes a str, got list"):
        BPETokenizer().train(["the cat"], 300)
