"""helpers.tasks: the toy data sets and their encodings."""
import pytest
import torch

from helpers.tasks import (char_vocabulary, date_task, encode_chars, encode_reviews, load_names,
                           reverse_task, review_task, review_vocabulary)


def test_reverse_task():
    X, Y = reverse_task(50, length=6, vocab_size=4)
    assert X.shape == Y.shape == (50, 6) and torch.equal(Y, X.flip(-1))
    assert X.min() >= 0 and X.max() < 4
    with pytest.raises(ValueError, match="length >= 1"):
        reverse_task(5, length=0)


def test_date_task_and_char_encoding():
    pairs = date_task(300, seed=2)
    assert len({s for s, _ in pairs}) == 300
    for written, iso in pairs:
        assert len(iso) == 10 and iso[4] == iso[7] == "-" and iso[:4] in written
    vocab = char_vocabulary([iso for _, iso in pairs])
    ids = encode_chars([pairs[0][1]], vocab, 12, bos=True, eos=True)
    assert ids.shape == (1, 12) and ids[0, 0] == 1 and ids[0, 11] == 2
    with pytest.raises(ValueError, match="needs 12 positions, more than 5"):
        encode_chars([pairs[0][1]], vocab, 5, bos=True, eos=True)


    with pytest.raises(ValueError, match=r"characters of '1987-03-23' not in the vocabulary: \['7', '8'\]"):
        encode_chars(["1987-03-23"], char_vocabulary(["1900-01-23"]), 12)


def test_reviews_are_distinct_and_encode_with_cls_and_padding():
    reviews, labels = review_task(200, seed=1)
    assert len({tuple(r) for r in reviews}) == 200 and set(labels.tolist()) == {0, 1}
    vocabulary = review_vocabulary()
    ids = encode_reviews(reviews[:3], vocabulary, 16)
    assert ids.shape == (3, 16) and (ids[:, 0] == 1).all()  # <cls> first
    with pytest.raises(ValueError, match=r"words not in the vocabulary: \['splendid'\]"):
        encode_reviews([["the", "film", "was", "splendid"]], vocabulary, 16)


def test_review_task_needs_order_and_negation():
    reviews, labels = review_task(400, seed=1)
    assert len({tuple(r) for r in reviews}) == 400 and set(labels.tolist()) == {0, 1}
    for words, label in zip(reviews, labels.tolist()):
        if "but" in words:  # the second clause decides
            second = words[words.index("but") + 1:]
            positive = any(w in second for w in ("good", "great", "fine", "lovely", "excellent"))
            assert label == int(positive != ("not" in second))
    ids = encode_reviews(reviews[:3], review_vocabulary(), 16)
    assert ids.shape == (3, 16) and (ids[:, 0] == 1).all()
    with pytest.raises(ValueError, match="does not fit in length 3"):
        encode_reviews(reviews[:1], review_vocabulary(), 3)


def test_load_names_splits_the_census_first_names_as_the_notebooks_did():
    """The split notebooks 09 and 10 train on: the female and male lists, each name once,
    shuffled with random.Random(0), the first tenth held out; surnames in census order."""
    import pathlib
    import random

    import names

    train, held_out, surnames = load_names()
    assert (len(train), len(held_out), len(surnames)) == (4647, 516, 88799)
    assert not set(train) & set(held_out) and len(set(train)) == len(train)
    assert all(n.isalpha() and n.islower() for n in train + held_out + surnames[:1000])
    folder = pathlib.Path(names.__file__).parent
    first = sorted({line.split()[0].lower() for f in ("dist.female.first", "dist.male.first")
                    for line in (folder / f).read_text().splitlines() if line.strip()})
    random.Random(0).shuffle(first)
    assert (train, held_out) == (first[516:], first[:516])
    assert surnames[:3] == ["smith", "johnson", "williams"]
    assert load_names() == (train, held_out, surnames)  # the same every time
    assert len(load_names(held_out=0.2)[1]) == 1032
    with pytest.raises(ValueError, match="held_out must be a share between 0 and 1"):
        load_names(held_out=1.5)
