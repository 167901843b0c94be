"""The seeded training recipes that tests hold to a threshold, in one place.

Each function trains one notebook's recipe with one seed and returns the number its test
checks. `tools/seed_spread.py` runs every one of them over seeds 0-9, natively and as a
CPU without AVX runs it, and prints the spread (worst, median) that the tests' docstrings
quote: re-run it after changing a recipe, and keep each threshold well below the worst seed.
"""
import copy
import pathlib
import random

import torch

import helpers
from helpers.decoder import EncoderDecoder, Seq2SeqConfig
from helpers.generation import greedy_decode
from helpers.gpt import GPT, GPTConfig
from helpers.tasks import char_vocabulary, date_task, encode_chars


def date_exact_match(seed: int) -> float:
    """Notebook 08's recipe: written dates to ISO dates, 600 steps with a 50-step warm-up
    and cosine decay; held-out exact match of greedy decoding on 1,000 dates."""
    pairs = date_task(6000)
    src_vocab = char_vocabulary([s for s, _ in pairs])
    tgt_vocab = char_vocabulary([t for _, t in pairs])
    src = encode_chars([s for s, _ in pairs], src_vocab, max(len(s) for s, _ in pairs))
    tgt = encode_chars([t for _, t in pairs], tgt_vocab, 12, bos=True, eos=True)
    target = tgt[:, 1:].masked_fill(tgt[:, 1:] == 0, -100)
    helpers.seed_everything(seed)
    model = EncoderDecoder(Seq2SeqConfig(num_layers=1, src_vocab=len(src_vocab),
                                         tgt_vocab=len(tgt_vocab)))
    helpers.fit(model, ((src[:5000], tgt[:5000, :-1]), target[:5000]), steps=600, lr=5e-3,
                batch_size=64, warmup=50, decay="cosine", progress=False)
    model.eval()
    out = greedy_decode(model, src[5000:], bos=1, eos=2, max_len=11)
    return (out == tgt[5000:, :out.shape[1]]).all(-1).float().mean().item()


def _names_windows(name_list, stoi, block_size=16):
    ids = torch.tensor([stoi[c] for c in "." + ".".join(name_list) + "."])
    w = ids.unfold(0, block_size + 1, 1)  # (N, block_size + 1)
    return w[:, :-1], w[:, 1:]


_PRETRAINED = {}


def _names_setup():
    """A GPT pretrained on first names (seed 0, as in notebook 10), built once per process."""
    if not _PRETRAINED:
        import names

        folder = pathlib.Path(names.__file__).parent

        def read(file):
            return [line.split()[0].lower() for line in (folder / file).read_text().splitlines()
                    if line.strip()]

        first = sorted(set(read("dist.female.first")) | set(read("dist.male.first")))
        random.Random(0).shuffle(first)
        chars = sorted(set("".join(first)))
        stoi = {c: i + 1 for i, c in enumerate(chars)} | {".": 0}
        n_val = len(first) // 10
        config = GPTConfig(vocab_size=len(stoi), block_size=16, d_model=64, num_heads=4,
                           num_layers=2, d_ff=256)
        helpers.seed_everything(0)
        pretrained = GPT(config)
        train = _names_windows(first[n_val:], stoi)
        val = _names_windows(first[:n_val], stoi)
        helpers.fit(pretrained, train, val, steps=450, lr=3e-3, batch_size=64, eval_every=450,
                    progress=False)
        usable = [s for s in read("dist.all.last")[:20_000] if set(s) <= set(chars)]
        random.Random(0).shuffle(usable)
        _PRETRAINED.update(config=config, model=pretrained,
                           few=_names_windows(usable[:300], stoi),
                           test=_names_windows(usable[300:800], stoi))
    return _PRETRAINED


def fine_tuning(seed: int):
    """Notebook 10's section 7: fine-tuned on 300 surnames against the same GPT from scratch,
    150 steps each; returns the two training histories (held-out loss every 50 steps)."""
    setup = _names_setup()
    histories = {}
    for name in ["fine-tuned", "from scratch"]:
        helpers.seed_everything(seed)
        model = copy.deepcopy(setup["model"]) if name == "fine-tuned" else GPT(setup["config"])
        histories[name] = helpers.fit(model, setup["few"], setup["test"], steps=150, lr=1e-3,
                                      batch_size=64, eval_every=50, progress=False)
    return histories["fine-tuned"], histories["from scratch"]


def fine_tuning_margin(seed: int) -> float:
    """How many nats/char fine-tuning beats training from scratch by, at the last step."""
    tuned, scratch = fine_tuning(seed)
    return scratch.val_loss[-1] - tuned.val_loss[-1]


# name -> (recipe, the threshold its test holds every seed to, what the number is)
RECIPES = {
    "date_exact_match": (date_exact_match, 0.97, "held-out exact match (notebook 08)"),
    "fine_tuning_margin": (fine_tuning_margin, 0.10, "nats/char fine-tuning beats scratch by (08)"),
}
