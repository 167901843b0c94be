"""Exercise checks of Notebook 09: byte-pair encoding by hand.

The learner writes the three pieces of ``helpers.bpe``: ``merge`` (replace a pair by a new
id), the training loop (count pairs, merge the most frequent, repeat) and ``encode``
(apply the learned merges in the order they were learned). Results are lists and dicts,
so these checks compare them directly instead of through ``_diagnose``. A pass of the
training loop or of encoding keeps the learner's function as the piece ``train_bpe`` or
``encode_bpe`` (helpers.yours): the end of notebook 09 and notebook 10's GPT on BPE tokens
tokenise the names with them.
"""
from collections import Counter

from helpers.exercises._common import Check
from helpers.yours import builds

# (ids, pair, new_id) -> the right result; "5 5 5" has two overlapping (5, 5) pairs.
_MERGE_CASES = [
    (([1, 2, 3, 1, 2], (1, 2), 4), [4, 3, 4]),
    (([5, 5, 5], (5, 5), 9), [9, 5]),
    (([5, 5, 5, 5], (5, 5), 9), [9, 9]),
    (([3, 1, 2], (1, 2), 4), [3, 4]),
    (([1, 2, 1], (2, 2), 7), [1, 2, 1]),
    (([], (1, 2), 4), []),
]


def _merge_no_skip(ids, pair, new_id):
    """Writes new_id for every position where the pair starts, keeps the second element."""
    return [new_id if (a, b) == pair else a for a, b in zip(ids, ids[1:])] + ids[-1:]


def _merge_from_the_right(ids, pair, new_id):
    out, i = [], len(ids) - 1
    while i >= 0:
        if i > 0 and (ids[i - 1], ids[i]) == pair:
            out.append(new_id)
            i -= 2
        else:
            out.append(ids[i])
            i -= 1
    return out[::-1]


def _merge_first_only(ids, pair, new_id):
    for i in range(len(ids) - 1):
        if (ids[i], ids[i + 1]) == pair:
            return ids[:i] + [new_id] + ids[i + 2:]
    return list(ids)


def _merge_drops_last(ids, pair, new_id):
    out, i = [], 0
    while i < len(ids) - 1:  # the last id is never looked at on its own
        if (ids[i], ids[i + 1]) == pair:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


_MERGE_MISTAKES = {
    "You wrote the new id but kept the pair's second element: after a match, skip both "
    "(i += 2). In 5 5 5 the pair (5, 5) then 'occurs' twice, overlapping.": _merge_no_skip,
    "Overlapping pairs merged from the right: 5 5 5 must become 9 5 (left to right, the "
    "first match wins, as when reading), not 5 9.": _merge_from_the_right,
    "You merged only the first occurrence; merge every one, left to right.": _merge_first_only,
    "You dropped the last id when it is not part of a pair: a loop `while i < len(ids) - 1` "
    "never appends it.": _merge_drops_last,
}


def _show(result):
    return repr(result) if len(repr(result)) < 80 else repr(result)[:77] + "..."


def check_merge(merge):
    """Exercise: ``merge(ids, pair, new_id)`` -> a new list with every occurrence of
    ``pair``, scanned left to right, replaced by ``new_id``."""
    got = [merge(list(args[0]), *args[1:]) for args, _ in _MERGE_CASES]
    if all(g is None for g in got):
        return Check(False, "Not done yet: your function returned None. Fill in its body and "
                            "return the result.")
    right = [expected for _, expected in _MERGE_CASES]
    if [list(g) if isinstance(g, (list, tuple)) else g for g in got] == right:
        return Check(True, "Every pair merged, left to right; 5 5 5 → 9 5.")
    for message, mistake in _MERGE_MISTAKES.items():
        if got == [mistake(list(args[0]), *args[1:]) for args, _ in _MERGE_CASES]:
            return Check(False, message)
    for (args, expected), g in zip(_MERGE_CASES, got):
        if g != expected:
            return Check(False, f"merge{args} gave {_show(g)}, expected {expected}.")
    return Check(False, "Return a list of ids.")


def _bpe_reference(ids, num_merges, *, recount=True, first_id=256, update=True, pick=max):
    """The training loop, right by default; each keyword makes one mistake."""
    from helpers.bpe import merge, pair_counts

    merges, counts = {}, pair_counts(ids)
    for i in range(num_merges):
        if recount:
            counts = pair_counts(ids)
        if not counts:
            break
        pair = pick(counts, key=counts.get)
        if not recount:
            counts = Counter({p: c for p, c in counts.items() if p != pair})
        merges[pair] = first_id + i
        merged = merge(ids, pair, first_id + i)
        if update:
            ids = merged
    return merges


_TRAIN_TEXT = "the hat the hat sat ate ate mat that mat ate then"  # no ties for the top pair
_TRAIN_MERGES = 5


def _show_merges(merges):
    return ", ".join(f"{pair}→{new}" for pair, new in list(merges.items())[:4]) + \
        (", ..." if len(merges) > 4 else "")


@builds("train_bpe", "helpers.bpe:train_bpe")
def check_train_bpe(train_bpe):
    """Exercise: ``train_bpe(ids, num_merges)`` -> the merges {(a, b): new_id}, in the order
    learned, new ids from 256 up. The check's text has no ties for the most frequent pair."""
    ids = list(_TRAIN_TEXT.encode("utf-8"))
    got = train_bpe(list(ids), _TRAIN_MERGES)
    if got is None:
        return Check(False, "Not done yet: your function returned None. Fill in its body and "
                            "return the merges.")
    if not isinstance(got, dict):
        return Check(False, f"Return the merges as a dict {{(a, b): new_id}}, got "
                            f"{type(got).__name__}.")
    right = _bpe_reference(ids, _TRAIN_MERGES)
    if list(got.items()) == list(right.items()):
        return Check(True, f"{len(right)} merges, each of the pair most frequent at its step: "
                           f"{_show_merges(right)}")
    mistakes = {
        "You counted the pairs once, before merging: count them again after every merge "
        "(merged tokens form new pairs, and merging changes the counts).":
            _bpe_reference(ids, _TRAIN_MERGES, recount=False),
        "You never replaced the ids by the merged ones: each step must merge in the current "
        "ids (ids = merge(ids, pair, new_id)), or the same pair wins again and again.":
            _bpe_reference(ids, _TRAIN_MERGES, update=False),
        "You merged the least frequent pair: take the most frequent (max of the counts).":
            _bpe_reference(ids, _TRAIN_MERGES, pick=min),
        "Your new ids start at 257: the bytes take 0..255, so the first new id is 256.":
            _bpe_reference(ids, _TRAIN_MERGES, first_id=257),
        "Your new ids start at 255, which is a byte's id (ÿ): the first new id is 256.":
            _bpe_reference(ids, _TRAIN_MERGES, first_id=255),
    }
    for message, wrong in mistakes.items():
        if list(got.items()) == list(wrong.items()):
            return Check(False, message)
    return Check(False, f"Expected {_show_merges(right)}; got {_show_merges(got)}.")


def _encode_reference(text, merges, order="learned"):
    """Encoding with the learned merges, right by default; ``order`` makes one mistake."""
    from helpers.bpe import merge, pair_counts

    ids = list(text.encode("utf-8"))
    if order == "by frequency":  # most frequent known pair in this text first
        while True:
            counts = {p: c for p, c in pair_counts(ids).items() if p in merges}
            if not counts:
                return ids
            pair = max(counts, key=counts.get)
            ids = merge(ids, pair, merges[pair])
    items = list(merges.items())
    if order == "reversed":
        items = items[::-1]
    elif order == "sorted":
        items = sorted(items)
    elif order == "none":
        items = []
    for pair, new_id in items:
        ids = merge(ids, pair, new_id)
    return ids


@builds("encode_bpe", "helpers.bpe:encode_bpe")
def check_encode(encode):
    """Exercise: ``encode(text, merges)`` -> token ids: the UTF-8 bytes, then every learned
    merge applied in the order it was learned (the dict keeps that order)."""
    from helpers.bpe import BPETokenizer

    # Four merges and a text on which every wrong order below gives a different answer.
    merges = BPETokenizer().train("ac ca ac ba aaa abb acc", 256 + 4).merges
    text = "ac bbc acb"
    got = encode(text, dict(merges))
    if got is None:
        return Check(False, "Not done yet: your function returned None. Fill in its body and "
                            "return the ids.")
    right = _encode_reference(text, merges)
    if list(got) == right:
        return Check(True, f"{len(text.encode())} bytes → {len(right)} tokens, the merges "
                           "applied in the order they were learned.")
    mistakes = {
        "You applied the merges in reverse order: a later merge joins tokens that only exist "
        "once the earlier merges have run. Apply them in the order learned.": "reversed",
        "You applied the merges sorted by their pair, not in the order learned (the dict "
        "keeps that order: iterate over merges.items()).": "sorted",
        "You merged the pair most frequent in this text first: encoding must replay training, "
        "so apply the merges in the order they were learned, not by frequency here.":
            "by frequency",
        "No merge was applied: these are the raw UTF-8 bytes. Apply every learned merge.": "none",
    }
    for message, order in mistakes.items():
        if list(got) == _encode_reference(text, merges, order):
            return Check(False, message)
    return Check(False, f"Expected {_show(right)}, got {_show(list(got))}.")
