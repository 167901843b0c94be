"""Byte-pair encoding, by hand: learn merges of frequent pairs, encode, decode.

Text is first turned into its UTF-8 bytes (ids 0..255), so any string can be encoded.
Training repeats: count adjacent pairs, merge the most frequent pair into a new id.
Encoding applies the learned merges in the order they were learned.

Used by notebook 09 (tokenisation; ``train_bpe`` and ``encode_bpe`` are the course's versions
of its Exercises 2 and 3, the pieces ``helpers.yours.piece("train_bpe")`` and
``piece("encode_bpe")``), notebook 10 (the GPT trained on BPE tokens) and notebook 14 (grown
into a byte-level tokenizer).
"""
from collections import Counter


def pair_counts(ids):
    """How often each adjacent pair occurs: [1, 2, 3, 1, 2] -> {(1, 2): 2, (2, 3): 1, (3, 1): 1}."""
    return Counter(zip(ids, ids[1:]))


def merge(ids, pair, new_id):
    """Replace every occurrence of ``pair`` by ``new_id``: ([1, 2, 3, 1, 2], (1, 2), 4) -> [4, 3, 4]."""
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def train_bpe(ids, num_merges):
    """Learn ``num_merges`` merges from the ids: repeat -- count the pairs of the current ids,
    give the most frequent the next new id (256, 257, ...), merge it everywhere.

    Returns ``{(a, b): new_id}`` in the order learned; stops early when no pair is left.
    ``list("aaabdaaabac".encode())``, 2 -> ``{(97, 97): 256, (256, 97): 257}``.
    """
    if num_merges < 0:
        raise ValueError(f"num_merges must be >= 0, got {num_merges}")
    ids, merges = list(ids), {}
    for new_id in range(256, 256 + num_merges):
        counts = pair_counts(ids)
        if not counts:
            break  # nothing left to merge
        pair = max(counts, key=counts.get)
        ids = merge(ids, pair, new_id)
        merges[pair] = new_id
    return merges


def encode_bpe(text: str, merges):
    """A string -> token ids: its UTF-8 bytes, then every merge, in the order learned.
    ``"aaab"``, ``{(97, 97): 256}`` -> ``[256, 97, 98]``."""
    if not isinstance(text, str):
        raise TypeError(f"encode_bpe takes a str, got {type(text).__name__}")
    ids = list(text.encode("utf-8"))
    for pair, new_id in merges.items():
        ids = merge(ids, pair, new_id)
    return ids


class BPETokenizer:
    """A byte-level BPE tokenizer: ``train(text, vocab_size)``, ``encode``, ``decode``."""

    def __init__(self):
        self.merges = {}  # (id, id) -> new id, in the order learned
        self.vocab = {i: bytes([i]) for i in range(256)}  # id -> the bytes it stands for

    def train(self, text: str, vocab_size: int):
        if not isinstance(text, str):
            raise TypeError(f"train takes a str, got {type(text).__name__}")
        if vocab_size < 256:
            raise ValueError(f"vocab_size must be >= 256 (the bytes), got {vocab_size}")
        return self._set_merges(train_bpe(text.encode("utf-8"), vocab_size - 256))

    @classmethod
    def from_merges(cls, merges):
        """A tokenizer for merges learned elsewhere (``train_bpe``, or yours): its
        ``decode`` then spells every merged id. ``merges``: {(a, b): new_id}, in order."""
        return cls()._set_merges(merges)

    def _set_merges(self, merges):
        for (a, b), new_id in merges.items():
            if a not in self.vocab or b not in self.vocab:
                raise ValueError(f"merge ({a}, {b}) -> {new_id} uses an id not learned before it")
            self.merges[(a, b)] = new_id
            self.vocab[new_id] = self.vocab[a] + self.vocab[b]
        return self

    def encode(self, text: str):
        """A string -> token ids: its UTF-8 bytes, then the learned merges, oldest first."""
        if not isinstance(text, str):
            hint = "; decode the bytes first: text.decode('utf-8')" if isinstance(
                text, (bytes, bytearray)) else ""
            raise TypeError(f"encode takes a str, got {type(text).__name__}{hint}")
        ids = list(text.encode("utf-8"))
        while len(ids) >= 2:
            # the pair that was learned first among those present
            pair = min(pair_counts(ids), key=lambda p: self.merges.get(p, float("inf")))
            if pair not in self.merges:
                break
            ids = merge(ids, pair, self.merges[pair])
        return ids

    def decode(self, ids) -> str:
        """Token ids (ints, e.g. ``tensor.tolist()``) -> the string; invalid UTF-8 becomes �."""
        unknown = [i for i in ids if not isinstance(i, int) or i not in self.vocab]
        if unknown:
            wrong = unknown[0]
            if not isinstance(wrong, int):
                raise TypeError(f"ids must be ints, got a {type(wrong).__name__} ({wrong!r}); "
                                "for a tensor pass ids.tolist()")
            raise ValueError(f"id {wrong} is not in the vocabulary: ids run from 0 to "
                             f"{len(self.vocab) - 1}")
        return b"".join(self.vocab[i] for i in ids).decode("utf-8", errors="replace")
