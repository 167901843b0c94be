"""helpers/applications.py: the generated tagging and question-answering data, the labels on
WordPieces, span decoding against brute force, and the token head (notebook 16)."""
import itertools

import pytest
import torch
from torch.nn import functional as F

from helpers.applications import (
    IGNORE, TAGS, TEST_NAMES, TRAIN_NAMES, TokenHead, best_span, encode_qa, encode_tagged,
    encoder_features, exact_match, qa_examples, span_loss, tag_scores, tag_sentences,
)
from helpers.pretrained import BertConfig, PretrainedEncoder, load_tokenizer


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer()


def test_the_test_names_never_occur_in_training():
    for kind in ("PER", "LOC", "ORG"):
        assert not set(TRAIN_NAMES.of(kind)) & set(TEST_NAMES.of(kind))
    train_words = {w for words, _ in tag_sentences(500, TRAIN_NAMES, seed=0) for w in words}
    assert not train_words & {w for k in ("PER", "LOC", "ORG") for w in TEST_NAMES.of(k)}


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_tag_sentences_tag_every_word_with_its_kind(seed):
    sentences = tag_sentences(50, TEST_NAMES, seed=seed)
    assert sentences == tag_sentences(50, TEST_NAMES, seed=seed)  # the seed fixes them
    for words, tags in sentences:
        assert len(words) == len(tags) and set(tags) <= set(TAGS)
        for word, tag in zip(words, tags):
            assert (word in TEST_NAMES.of(tag)) if tag != "O" else word not in TEST_NAMES.people


def test_a_words_tag_goes_on_its_first_piece_only(tokenizer):
    tokens, lengths, labels = encode_tagged(tokenizer, [(["adidas", "hired", "anna"],
                                                         ["ORG", "O", "PER"]), (["hi"], ["O"])])
    pieces = [tokenizer.id_to_token(int(i)) for i in tokens[0, :lengths[0]]]
    assert pieces == ["[CLS]", "adi", "##das", "hired", "anna", "[SEP]"]
    ids = {t: i for i, t in enumerate(TAGS)}
    assert labels[0].tolist() == [IGNORE, ids["ORG"], IGNORE, ids["O"], ids["PER"], IGNORE]
    assert lengths.tolist() == [6, 3] and labels[1].tolist() == [IGNORE, 0] + [IGNORE] * 4
    assert tokens[1, 3:].eq(0).all()  # padding


@pytest.mark.parametrize("bad, named", [([(["a", "b"], ["O"])], "one tag"),
                                        ([(["a"], ["MISC"])], "unknown tags"), ([], "non-empty")])
def test_encode_tagged_names_bad_input(tokenizer, bad, named):
    with pytest.raises(ValueError, match=named):
        encode_tagged(tokenizer, bad)


def test_tag_scores_on_a_hand_example():
    labels = torch.tensor([[IGNORE, 1, 0, 2, IGNORE], [IGNORE, 3, 0, IGNORE, IGNORE]])
    predicted = torch.tensor([[0, 1, 0, 3, 0], [0, 3, 2, 0, 0]])
    logits = F.one_hot(predicted, 4).float()
    accuracy, f1 = tag_scores(logits, labels)
    # 5 scored words, 3 right; names: 3 true, 4 predicted, 2 right -> P 1/2, R 2/3
    assert accuracy == pytest.approx(3 / 5) and f1 == pytest.approx(2 * (1 / 2) * (2 / 3) / (7 / 6))
    with pytest.raises(ValueError, match="must agree"):
        tag_scores(logits[:, :3], labels)


@pytest.mark.parametrize("names", [TRAIN_NAMES, TEST_NAMES])
def test_qa_spans_point_at_the_answer_inside_the_context(tokenizer, names):
    examples = qa_examples(40, names, seed=3)
    tokens, token_types, lengths, context, spans = encode_qa(tokenizer, examples)
    for b, (text, question, answer) in enumerate(examples):
        assert answer in text.split() or answer + "," in text.split() or answer + "." in text.split()
        start, end = spans[b].tolist()
        assert context[b, start:end + 1].all() and start <= end
        piece_text = tokenizer.decode(tokens[b, start:end + 1].tolist())
        assert piece_text.replace(" ##", "").replace(" ", "") == answer
        n = int(lengths[b])
        assert not context[b, n - 1] and not context[b, n:].any()  # [SEP], padding
        assert token_types[b, context[b]].eq(1).all()  # the context is segment B
        question_len = len(tokenizer.encode(question).ids)  # [CLS] question [SEP]
        assert not context[b, :question_len].any() and token_types[b, :question_len].eq(0).all()


def brute_force(start, end, context, max_len):
    out = []
    for b in range(start.shape[0]):
        pairs = [(t, s) for t, s in itertools.product(range(start.shape[1]), repeat=2)
                 if t <= s < t + max_len and context[b, t] and context[b, s]]
        out.append(max(pairs, key=lambda p: (start[b, p[0]] + end[b, p[1]]).item()))
    return torch.tensor(out)


@pytest.mark.parametrize("seed, max_len", [(0, 1), (1, 3), (2, 8), (3, 30)])
def test_best_span_is_the_brute_force_best_allowed_pair(seed, max_len):
    g = torch.Generator().manual_seed(seed)
    start, end = torch.randn(6, 11, generator=g), torch.randn(6, 11, generator=g)
    context = torch.rand(6, 11, generator=g) < 0.5
    context[:, 4] = True
    assert torch.equal(best_span(start, end, context, max_len),
                       brute_force(start, end, context, max_len))


def test_best_span_docstring_example_and_errors():
    start, end = torch.tensor([[0., 5, 1]]), torch.tensor([[8., 0, 4]])
    assert best_span(start, end, torch.ones(1, 3, dtype=torch.bool)).tolist() == [[1, 2]]
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        best_span(start, end[:, :2], torch.ones(1, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="at least one context position"):
        best_span(start, end, torch.zeros(1, 3, dtype=torch.bool))


def test_span_loss_is_the_mean_of_two_cross_entropies_over_positions():
    g = torch.Generator().manual_seed(0)
    logits, spans = torch.randn(3, 7, 2, generator=g), torch.tensor([[1, 2], [0, 0], [4, 6]])
    expected = (F.cross_entropy(logits[..., 0], spans[:, 0])
                + F.cross_entropy(logits[..., 1], spans[:, 1])) / 2
    assert torch.allclose(span_loss(logits, spans), expected)
    with pytest.raises(ValueError, match=r"\(B, T, 2\)"):
        span_loss(logits[..., :1], spans)
    assert exact_match(spans, torch.tensor([[1, 2], [0, 1], [4, 6]])) == pytest.approx(2 / 3)


def tiny():
    torch.manual_seed(0)
    config = BertConfig(vocab_size=40, d_model=32, num_heads=4, d_ff=64, num_layers=2,
                        max_positions=16)
    return PretrainedEncoder(config).eval()


def test_features_then_the_top_blocks_equal_the_whole_encoder():
    encoder = tiny()
    tokens, lengths = torch.randint(1, 40, (3, 9)), torch.tensor([9, 5, 2])
    x = encoder_features(encoder, tokens, lengths, num_blocks=1)
    head = TokenHead(encoder.blocks[1:], 32, 2)
    hidden, _ = encoder(tokens, lengths)
    with torch.no_grad():
        assert torch.allclose(head(x, lengths), head.head(hidden[-1]), atol=1e-5)
    with pytest.raises(ValueError, match="num_blocks must be 0..2"):
        encoder_features(encoder, tokens, lengths, num_blocks=3)


def test_token_head_keeps_only_the_kept_positions():
    encoder = tiny()
    head = TokenHead(encoder.blocks[1:], 32, 2)
    x, lengths = torch.randn(2, 5, 32), torch.tensor([5, 3])
    keep = torch.tensor([[False, True, True, False, False], [False, False, True, False, False]])
    logits = head(x, lengths, keep)  # (B, T, 2)
    assert logits.shape == (2, 5, 2) and (logits[~keep] == -1e4).all()
    assert logits.softmax(1)[~keep].max() < 1e-6
    with pytest.raises(ValueError, match=r"keep must be \(B, T\) = \(2, 5\), got \(2, 4\)"):
        head(x, lengths, keep[:, :4])
