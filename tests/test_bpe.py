"""helpers.bpe: the worked examples, round trips over any text, compression."""
import pytest
from hypothesis import given, settings, strategies as st

from helpers.bpe import BPETokenizer, encode_bpe, merge, pair_counts, train_bpe

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


def test_train_bpe_and_encode_bpe_are_the_tokenizers_loop_on_their_own():
    ids = list(TEXT.encode())
    merges = train_bpe(ids, 30)
    assert list(merges.items()) == list(BPETokenizer().train(TEXT, 256 + 30).merges.items())
    assert list(merges.values()) == list(range(256, 286))
    tokenizer = BPETokenizer.from_merges(merges)
    for text in ["the rat sat", "", "zebra"]:
        assert encode_bpe(text, merges) == tokenizer.encode(text)
        assert tokenizer.decode(encode_bpe(text, merges)) == text
    assert train_bpe(list("aaabdaaabac".encode()), 2) == {(97, 97): 256, (256, 97): 257}
    assert encode_bpe("aaab", {(97, 97): 256}) == [256, 97, 98]
    assert train_bpe([1], 5) == {}  # no pair left: stops early
    with pytest.raises(ValueError, match="num_merges must be >= 0"):
        train_bpe([1, 2], -1)
    with pytest.raises(TypeError, match="encode_bpe takes a str"):
        encode_bpe(b"ab", merges)


def test_distinct_separators_keep_words_apart():
    """Notebooks 09 and 10 train on names, each followed by a separator of its own (-1, -2,
    ...): while some pair occurs twice, no merge contains a separator, so no token spans two
    names (with more merges than repeated pairs, a tie of ones may pick one; from_merges
    then refuses the merges)."""
    names = ["anna", "hanna", "joanna", "ann", "dan"] * 5
    ids = []
    for i, name in enumerate(names):
        ids += list(name.encode()) + [-1 - i]
    merges = train_bpe(ids, 6)
    assert len(merges) == 6 and all(a >= 0 and b >= 0 for a, b in merges)
    tokenizer = BPETokenizer.from_merges(merges)
    assert all(tokenizer.decode(encode_bpe(n, merges)) == n for n in names)


def test_from_merges_rejects_a_merge_of_unknown_ids():
    with pytest.raises(ValueError, match="uses an id not learned before it"):
        BPETokenizer.from_merges({(256, 97): 257})
