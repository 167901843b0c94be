"""helpers.generation: sampling from a GPT, greedy and beam search, and bad arguments."""
import itertools
import math

import pytest
import torch

from helpers.decoder import EncoderDecoder, Seq2SeqConfig
from helpers.generation import beam_search, generate, greedy_decode, sample_next, top_k_filter
from helpers.gpt import GPT, GPTConfig

BOS, EOS = 1, 2


def tiny_gpt(seed=0):
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=20, block_size=32, d_model=32, num_heads=4)).eval()


def tiny_seq2seq(seed=0):
    torch.manual_seed(seed)
    return EncoderDecoder(Seq2SeqConfig(src_vocab=12, tgt_vocab=9, num_layers=1)).eval()


def random_source(seed, S=6):
    return torch.randint(3, 12, (1, S), generator=torch.Generator().manual_seed(seed))


def log_probability(model, src, seq):
    """The model's summed log-probability of seq[1:] given src and seq[0] (teacher forcing)."""
    with torch.no_grad():
        logp = model(src, seq[:, :-1]).log_softmax(-1)  # (1, L - 1, V)
    return logp.gather(-1, seq[:, 1:, None]).sum().item()


# --- sampling -------------------------------------------------------------------------

@pytest.mark.parametrize("temperature, top_k", [(0.0, None), (1.0, None), (0.8, 5)])
def test_cached_and_uncached_generation_give_identical_tokens(temperature, top_k):
    model = tiny_gpt(1)
    prompt = torch.randint(0, 20, (3, 4))
    a = generate(model, prompt, 20, temperature=temperature, top_k=top_k, use_cache=True,
                 generator=torch.Generator().manual_seed(0))
    b = generate(model, prompt, 20, temperature=temperature, top_k=top_k, use_cache=False,
                 generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and a.shape == (3, 24)


@pytest.mark.parametrize("seed", range(4))
def test_cache_gives_identical_tokens_for_the_whole_context_window(seed):
    """Greedy decoding fills a 32-token window from a 1-token prompt, cached and not:
    the cached step (GPT.step) must pick exactly the same tokens all the way."""
    model = tiny_gpt(seed)
    prompt = torch.randint(0, 20, (2, 1), generator=torch.Generator().manual_seed(seed))
    a = generate(model, prompt, 31, temperature=0.0, use_cache=True)
    b = generate(model, prompt, 31, temperature=0.0, use_cache=False)
    assert torch.equal(a, b) and a.shape == (2, 32)
    assert not a.is_inference()  # an ordinary tensor: it can feed a training step later
    model(a)[0].sum().backward()


def test_sampling_temperature_and_top_k():
    logits = torch.tensor([[2.0, 1.0, 0.5, -1.0]]).expand(4000, 4)
    g = torch.Generator().manual_seed(0)
    assert (sample_next(logits, 0.0) == 0).all()
    top2 = sample_next(logits, 1.0, top_k=2, generator=g)
    assert set(top2.tolist()) == {0, 1}
    hot = sample_next(logits, 100.0, generator=g).bincount(minlength=4) / 4000
    assert hot.min() > 0.2  # nearly uniform
    with pytest.raises(ValueError, match="temperature must be >= 0"):
        sample_next(logits, -1.0)


def test_top_k_filter_keeps_the_k_largest_in_any_shape():
    row = torch.tensor([3.0, 1.0, 2.0, 0.0])
    assert top_k_filter(row, 2).tolist() == [3.0, float("-inf"), 2.0, float("-inf")]
    batch = torch.randn(5, 3, 10)
    kept = torch.isfinite(top_k_filter(batch, 4)).sum(-1)
    assert (kept == 4).all() and torch.isfinite(top_k_filter(batch, 99)).all()


def test_top_k_filter_keeps_every_tie_with_the_kth_largest():
    inf = float("inf")
    assert top_k_filter(torch.tensor([3.0, 2.0, 2.0, 0.0]), 2).tolist() == [3.0, 2.0, 2.0, -inf]
    assert top_k_filter(torch.tensor([1.0, 1.0, 1.0]), 1).tolist() == [1.0, 1.0, 1.0]


def test_context_window_of_generation():
    model = tiny_gpt()
    with pytest.raises(ValueError, match="cache holds at most 32 tokens"):
        generate(model, torch.zeros(1, 30, dtype=torch.long), 5)
    assert generate(model, torch.zeros(1, 30, dtype=torch.long), 5, use_cache=False).shape == (1, 35)
    assert torch.equal(generate(model, torch.ones(2, 3, dtype=torch.long), 0),
                       torch.ones(2, 3, dtype=torch.long))


@pytest.mark.parametrize("kwargs, words", [
    (dict(top_k=0), r"top_k must be >= 1 \(an int\), got 0"),
    (dict(top_k=-3), r"top_k must be >= 1 \(an int\), got -3"),
    (dict(top_k=2.5), r"top_k must be >= 1 \(an int\), got 2.5"),
    (dict(n_new=-1), r"n_new must be >= 0 \(an int\), got -1"),
    (dict(temperature=float("nan")), r"temperature must be >= 0 and finite \(0 = greedy\), got nan"),
    (dict(temperature=float("inf")), r"temperature must be >= 0 and finite"),
    (dict(temperature=-0.5), r"temperature must be >= 0.*got -0.5"),
])
def test_generate_rejects_bad_arguments(kwargs, words):
    args = dict(n_new=3) | kwargs
    with pytest.raises(ValueError, match=words):
        generate(tiny_gpt(), torch.zeros(1, 2, dtype=torch.long), **args)


@pytest.mark.parametrize("prompt, error, words", [
    (torch.zeros(5, dtype=torch.long), ValueError, r"idx must be \(B, T\) token ids, got \(5\); .*idx\[None\]"),
    (torch.tensor([[3, 20]]), ValueError, r"ids from 3 to 20, but the vocabulary has 20 ids"),
    (torch.zeros(1, 2), TypeError, r"integer token ids.*got dtype torch.float32"),
    ([[1, 2]], TypeError, r"torch.Tensor of token ids \(B, T\), got list"),
])
def test_generate_rejects_bad_prompts(prompt, error, words):
    with pytest.raises(error, match=words):
        generate(tiny_gpt(), prompt, 1)


@pytest.mark.parametrize("call", [lambda l: top_k_filter(l, 0), lambda l: sample_next(l, 1.0, top_k=0)])
def test_sampling_functions_reject_top_k_zero(call):
    with pytest.raises(ValueError, match=r"top_k must be >= 1 \(an int\), got 0"):
        call(torch.randn(2, 5))


def test_sample_next_checks_its_logits():
    with pytest.raises(ValueError, match=r"logits must be \(B, V\), got \(5\)"):
        sample_next(torch.randn(5))
    with pytest.raises(TypeError, match="logits must be a floating-point tensor"):
        sample_next(torch.ones(2, 5, dtype=torch.long))


# --- search ---------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_beam_width_one_equals_greedy(seed):
    model = tiny_seq2seq(seed)
    src = torch.randint(1, 12, (1, 6), generator=torch.Generator().manual_seed(seed))
    greedy = greedy_decode(model, src, bos=1, eos=2, max_len=8)[0].tolist()
    beam = beam_search(model, src, bos=1, eos=2, max_len=8, beam_width=1)[0][0].tolist()
    if 2 in greedy:
        greedy = greedy[:greedy.index(2) + 1]
    assert beam == greedy


@pytest.mark.parametrize("seed, width", list(itertools.product([0, 1, 2, 3], [1, 2, 5])))
def test_beam_score_is_the_models_log_probability_of_the_result(seed, width):
    model, src = tiny_seq2seq(seed), random_source(seed)
    best, score = beam_search(model, src, bos=BOS, eos=EOS, max_len=6, beam_width=width)
    assert best[0, 0] == BOS and (best[0, 1:-1] != EOS).all()
    assert math.isclose(score, log_probability(model, src, best), abs_tol=1e-4)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_a_beam_that_keeps_every_hypothesis_is_exhaustive_search(seed):
    """With 9 tokens and 3 steps, 9³ beams prune nothing: the result is the best finished
    sequence of all, found by scoring every one of them."""
    model, src, V, steps = tiny_seq2seq(seed), random_source(seed), 9, 3
    with torch.no_grad():  # sharper outputs and a rarer EOS: the best is not just [BOS, EOS]
        model.unembed.weight.mul_(5.0)
        model.unembed.bias[EOS] -= 2.0
    best, score = beam_search(model, src, bos=BOS, eos=EOS, max_len=steps, beam_width=V ** steps)
    others = [t for t in range(V) if t != EOS]
    finished = [[BOS, *middle, EOS] for n in range(steps)
                for middle in itertools.product(others, repeat=n)]
    scores = [log_probability(model, src, torch.tensor([seq])) for seq in finished]
    assert best[0].tolist() == finished[max(range(len(scores)), key=scores.__getitem__)]
    assert math.isclose(score, max(scores), abs_tol=1e-4) and best.shape[1] > 2


@pytest.mark.parametrize("call, error, words", [
    (lambda m: beam_search(m, torch.ones(2, 3, dtype=torch.long), bos=1, eos=2, max_len=3),
     ValueError, r"one source sequence \(1, S\), got batch 2"),
    (lambda m: beam_search(m, torch.ones(1, 3, dtype=torch.long), bos=1, eos=2, max_len=3,
                           beam_width=0), ValueError, "beam_width must be >= 1"),
    (lambda m: beam_search(m, torch.ones(3, dtype=torch.long), bos=1, eos=2, max_len=3),
     ValueError, r"src must be \(1, S\) token ids, got \(3\); for one sequence use src\[None\]"),
    (lambda m: greedy_decode(m, torch.ones(1, 3, dtype=torch.long), bos=9, eos=2, max_len=3),
     ValueError, r"bos=9 is not a target token id: the vocabulary has 9 ids, 0..8"),
    (lambda m: greedy_decode(m, torch.ones(1, 3, dtype=torch.long), bos=1, eos=-1, max_len=3),
     ValueError, r"eos must be >= 0 \(an int\), got -1"),
    (lambda m: greedy_decode(m, torch.ones(1, 3, dtype=torch.long), bos=1, eos=2, max_len=-2),
     ValueError, r"max_len must be >= 0 \(an int\), got -2"),
    (lambda m: greedy_decode(m, torch.ones(1, 3), bos=1, eos=2, max_len=3),
     TypeError, r"src must hold integer token ids"),
    (lambda m: greedy_decode(m, torch.ones(1, 40, dtype=torch.long), bos=1, eos=2, max_len=3),
     ValueError, r"src has 40 tokens, more than the 32 positions the model has"),
])
def test_search_rejects_bad_arguments(call, error, words):
    with pytest.raises(error, match=words):
        call(tiny_seq2seq())
