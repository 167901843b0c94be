"""Notebook 09's BPE checks keep the learner's training loop and encoding as the pieces
``train_bpe`` and ``encode_bpe`` (helpers.yours), which tokenise the names at the end of 09
and for notebook 10's GPT on BPE tokens; the course's helpers.bpe functions otherwise."""
import pytest

import helpers
from helpers import exercises, yours
from helpers.bpe import encode_bpe, train_bpe
from notebook_cells import notebook_cell

SOLUTION = '''
from collections import Counter


def my_merge(ids, pair, new_id):
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
            out.append(new_id)
            i += 2  # skip both ids of the pair
        else:
            out.append(ids[i])
            i += 1
    return out


def my_train_bpe(ids, num_merges):
    merges = {}
    for i in range(num_merges):
        counts = Counter(zip(ids, ids[1:]))  # counted again after every merge
        if not counts:
            break
        pair = max(counts, key=counts.get)
        merges[pair] = 256 + i
        ids = my_merge(ids, pair, 256 + i)
    return merges


def my_encode(text, merges):
    ids = list(text.encode("utf-8"))
    for pair, new_id in merges.items():  # in the order learned
        ids = my_merge(ids, pair, new_id)
    return ids
'''

NAMES = ["anna", "hanna", "joanna", "marian", "ann", "dan", "jan"]


@pytest.fixture()
def notebook(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_PROGRESS", str(tmp_path / "progress.json"))
    return notebook_cell(SOLUTION, {"__name__": "__main__"})


def _name_ids():
    ids = []
    for i, name in enumerate(NAMES):
        ids += list(name.encode()) + [-1 - i]  # notebook 09's separators
    return ids


@pytest.mark.parametrize("piece, check, stub, course", [
    ("train_bpe", "check_train_bpe", "my_train_bpe", train_bpe),
    ("encode_bpe", "check_encode", "my_encode", encode_bpe),
])
def test_without_a_kept_piece_the_course_function_is_used(notebook, capsys, piece, check, stub,
                                                          course):
    assert yours.piece(piece) is course
    assert capsys.readouterr().out == f"The course's {piece}: yours has not passed {check} yet.\n"


@pytest.mark.parametrize("piece, check, stub", [
    ("train_bpe", "check_train_bpe", "my_train_bpe"),
    ("encode_bpe", "check_encode", "my_encode"),
])
def test_a_passing_bpe_function_is_kept_with_the_merge_it_calls(notebook, capsys, piece, check,
                                                                 stub):
    result = getattr(exercises, check)(notebook[stub])
    assert result.passed and f"Kept as your {piece}" in result.message, result.message
    text = (yours.yours_dir() / f"{piece}.py").read_text()
    assert f"def {stub}" in text and "def my_merge" in text
    capsys.readouterr()
    mine = yours.piece(piece)
    assert capsys.readouterr().out == f"Your {piece} (it passed {check}).\n"
    assert yours.is_yours(mine) and mine is not getattr(helpers.bpe, piece)


def test_the_kept_pieces_tokenise_the_names_as_the_course_does(notebook):
    assert exercises.check_train_bpe(notebook["my_train_bpe"]).passed
    assert exercises.check_encode(notebook["my_encode"]).passed
    my_train, my_encode = yours.piece("train_bpe", say=False), yours.piece("encode_bpe", say=False)
    merges = my_train(_name_ids(), 6)
    assert list(merges.items()) == list(train_bpe(_name_ids(), 6).items())
    assert all(my_encode(n, merges) == encode_bpe(n, merges) for n in NAMES)


def test_a_failing_bpe_function_is_not_kept(notebook):
    result = exercises.check_train_bpe(lambda ids, n: {})
    assert not result.passed
    assert not (yours.yours_dir() / "train_bpe.py").exists()
    assert yours.piece("train_bpe", say=False) is train_bpe


def test_a_kept_piece_that_no_longer_passes_falls_back_to_the_course(notebook, capsys):
    assert exercises.check_encode(notebook["my_encode"]).passed
    path = yours.yours_dir() / "encode_bpe.py"
    path.write_text(path.read_text().replace("for pair, new_id in merges.items():",
                                             "for pair, new_id in reversed(merges.items()):"))
    capsys.readouterr()
    assert yours.piece("encode_bpe") is encode_bpe
    assert "no longer passes check_encode: You applied the merges in reverse order" in \
        capsys.readouterr().out
