"""A real model's byte-level BPE tokenizer, built on notebook 09's ``BPETokenizer`` (notebook 14).

Notebook 09's BPE works on a text's UTF-8 bytes and applies learned merges, oldest first.
A real byte-level BPE (GPT-2's, Llama 3's, SmolLM2's) is the same loop with three additions:

1. **Special tokens** such as ``<|im_start|>`` are cut out of the text first and become one
   id each; they are never spelled out from bytes.
2. **A pre-tokenizer** splits the rest into words before any merge, with GPT-2's pattern
   (a word keeps the space before it: " cat"; punctuation and spaces are their own pieces);
   SmolLM2 also splits every digit on its own. Merges never cross a word's edge.
3. **A printable alphabet**: the vocabulary file writes each byte as a printable character
   (GPT-2's ``bytes_to_unicode``: the space 0x20 is "Ġ", the newline "Ċ"), so the token " cat"
   is stored as "Ġcat" and the merges as pairs of such strings ("Ġ c", "Ġc at").

``ByteLevelBPE.from_gguf`` reads the vocabulary, merges and special tokens from a GGUF
file's metadata; ``encode`` then applies the merges inside each word, lowest rank first,
with ``helpers.bpe.merge``. ``chat_prompt`` writes SmolLM2's chat template by hand.
"""
from functools import lru_cache

from helpers.bpe import BPETokenizer, merge

# GPT-2's pre-tokenizer pattern; SmolLM2 (llama.cpp's "smollm") first splits digits singly.
WORD_PATTERN = (r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+")
SYSTEM_PROMPT = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"


def bytes_to_unicode() -> dict:
    """GPT-2's map from each byte (0..255) to a printable character: the 188 printable
    bytes map to themselves, the other 68 (space, control bytes, ...) to chr(256), chr(257),
    ... in order. So 0x20 (space) -> "Ġ" (chr(288)), 0x0A (newline) -> "Ċ"."""
    printable = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
                 + list(range(ord("®"), ord("ÿ") + 1)))
    mapping, extra = {}, 0
    for b in range(256):
        if b in printable:
            mapping[b] = chr(b)
        else:
            mapping[b] = chr(256 + extra)
            extra += 1
    return mapping


def pre_tokenize(text: str, split_digits: bool = True) -> list:
    """Text -> words, as SmolLM2's pre-tokenizer cuts it: "I'm 42!" -> ["I", "'m", " ", "4",
    "2", "!"]. Every digit alone (split_digits), then GPT-2's pattern on what is between."""
    import regex  # \p{L} (any letter) and \p{N} (any digit); installed with transformers

    words = []
    pieces = regex.split(r"(\p{N})", text) if split_digits else [text]
    for piece in pieces:
        if piece:
            words += regex.findall(WORD_PATTERN, piece)
    return words


class ByteLevelBPE(BPETokenizer):
    """A byte-level BPE with a trained model's vocabulary and merges.

    tokens: the vocabulary, id -> token string in GPT-2's printable alphabet;
    merges: "a b" strings, most important (earliest learned) first;
    special: the token strings that are cut out of the text whole (``<|im_start|>``, ...).

    ``self.merges`` is notebook 10's {(id, id): new id}, in rank order; ``self.vocab`` maps
    every id to its bytes, so ``decode`` is inherited unchanged.
    """

    def __init__(self, tokens, merges, special=()):
        super().__init__()
        self.tokens = list(tokens)
        self.token_to_id = {t: i for i, t in enumerate(self.tokens)}
        to_char = bytes_to_unicode()
        to_byte = {c: b for b, c in to_char.items()}
        self.special = sorted(special, key=len, reverse=True)  # longest first
        self.vocab = {}
        for i, t in enumerate(self.tokens):
            if t in special or any(c not in to_byte for c in t):
                self.vocab[i] = t.encode("utf-8")
            else:
                self.vocab[i] = bytes(to_byte[c] for c in t)
        # byte -> id; a few control bytes have no token (SmolLM2 lacks 0x04...): None
        self.byte_id = [self.token_to_id.get(to_char[b]) for b in range(256)]
        self.merges, self.rank = {}, {}
        for rank, m in enumerate(merges):
            a, b = m.split(" ")
            pair = (self.token_to_id[a], self.token_to_id[b])
            self.merges[pair] = self.token_to_id[a + b]
            self.rank[pair] = rank
        self._encode_word = lru_cache(maxsize=65_536)(self._encode_word_uncached)

    @classmethod
    def from_gguf(cls, metadata: dict) -> "ByteLevelBPE":
        """From a GGUF file's metadata (``helpers.llama.read_gguf``)."""
        model, pre = metadata.get("tokenizer.ggml.model"), metadata.get("tokenizer.ggml.pre")
        if model != "gpt2" or pre not in ("smollm", "gpt2", "default", None):
            raise ValueError(f"a byte-level BPE ('gpt2') with SmolLM2's pre-tokenizer is "
                             f"supported, the file has model {model!r}, pre {pre!r}")
        tokens = metadata["tokenizer.ggml.tokens"]
        types = metadata["tokenizer.ggml.token_type"]
        CONTROL = 3  # llama.cpp's token type for special tokens
        special = [t for t, kind in zip(tokens, types) if kind == CONTROL]
        tokenizer = cls(tokens, metadata["tokenizer.ggml.merges"], special)
        tokenizer.eos_id = int(metadata.get("tokenizer.ggml.eos_token_id", 2))
        return tokenizer

    def train(self, *args, **kwargs):
        raise TypeError("this tokenizer comes with a trained model's merges; "
                        "train a new one with helpers.bpe.BPETokenizer")

    def _encode_word_uncached(self, word: str) -> tuple:
        """One pre-tokenized word -> ids: its bytes, then the merge of lowest rank among the
        pairs present, again and again (notebook 09's encode, ranked by the file's order)."""
        ids = [self.byte_id[b] for b in word.encode("utf-8")]
        ids = [i for i in ids if i is not None]  # a byte with no token is dropped, as in `tokenizers`
        while len(ids) >= 2:
            pair = min(zip(ids, ids[1:]), key=lambda p: self.rank.get(p, float("inf")))
            if pair not in self.rank:
                break
            ids = merge(ids, pair, self.merges[pair])
        return tuple(ids)

    def split_special(self, text: str) -> list:
        """Text -> pieces: each special token alone, the text between as it is."""
        pieces, start, i = [], 0, 0
        while i < len(text):
            found = next((s for s in self.special if text.startswith(s, i)), None) \
                if text[i] == "<" else None
            if found:
                if start < i:
                    pieces.append(text[start:i])
                pieces.append(found)
                i = start = i + len(found)
            else:
                i += 1
        if start < len(text):
            pieces.append(text[start:])
        return pieces

    def encode(self, text: str) -> list:
        if not isinstance(text, str):
            raise TypeError(f"encode takes a str, got {type(text).__name__}")
        ids = []
        for piece in self.split_special(text):
            if piece in self.token_to_id and piece in self.special:
                ids.append(self.token_to_id[piece])
                continue
            for word in pre_tokenize(piece):
                ids.extend(self._encode_word(word))
        return ids

    def pieces(self, ids) -> list:
        """The vocabulary's strings for ids: [" The", " cat"] shown as ["ĠThe", "Ġcat"]."""
        return [self.tokens[i] for i in ids]

    def chat_prompt(self, messages, add_generation_prompt: bool = True,
                    system: str = SYSTEM_PROMPT) -> str:
        """SmolLM2's chat template (Jinja in the file's metadata), written out:

            <|im_start|>system\\n{system}<|im_end|>\\n       (unless the first message is one)
            <|im_start|>{role}\\n{content}<|im_end|>\\n      (each message)
            <|im_start|>assistant\\n                          (the model answers from here)
        """
        text = ""
        if messages and messages[0]["role"] != "system":
            text += f"<|im_start|>system\n{system}<|im_end|>\n"
        for m in messages:
            text += f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n"
        if add_generation_prompt:
            text += "<|im_start|>assistant\n"
        return text

    def __repr__(self):
        return (f"ByteLevelBPE(vocab={len(self.tokens):,}, merges={len(self.merges):,}, "
                f"special={len(self.special)})")


def library_tokenizer(metadata: dict):
    """The same vocabulary and merges in Hugging Face's ``tokenizers`` (Rust), with
    SmolLM2's pre-tokenizer (digits alone, then byte-level): a reference to compare with."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    tokens = metadata["tokenizer.ggml.tokens"]
    merges = [tuple(m.split(" ")) for m in metadata["tokenizer.ggml.merges"]]
    tokenizer = Tokenizer(models.BPE({t: i for i, t in enumerate(tokens)}, merges))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    tokenizer.decoder = decoders.ByteLevel()
    types = metadata["tokenizer.ggml.token_type"]
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False)
                                  for t, kind in zip(tokens, types) if kind == 3])
    return tokenizer
