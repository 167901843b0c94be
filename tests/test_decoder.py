"""helpers.decoder against nn.TransformerDecoderLayer; the encoder-decoder model; bad input."""
import pytest
import torch
from torch import nn

from helpers import masks
from helpers.decoder import DecoderBlock, EncoderDecoder, Seq2SeqConfig, copy_decoder_block_to_torch
from helpers.encoder import EncoderConfig
from helpers.generation import beam_search, greedy_decode
from helpers.tasks import char_vocabulary, date_task, encode_chars
import helpers

import seeded  # the seeded training recipes (tests/seeded.py)


@pytest.mark.parametrize("norm_first", [True, False])
@pytest.mark.parametrize("lengths", [None, [6, 4]])
@pytest.mark.parametrize("need_weights", [True, False])  # the explicit path and the fast one
def test_decoder_block_matches_torch(norm_first, lengths, need_weights):
    torch.manual_seed(0)
    block = DecoderBlock(EncoderConfig(norm_first=norm_first))
    with torch.no_grad():
        for p in block.parameters():
            p.add_(0.1 * torch.randn_like(p))
    layer = copy_decoder_block_to_torch(block, nn.TransformerDecoderLayer(
        32, 4, 128, dropout=0.0, activation="gelu", batch_first=True, norm_first=norm_first))
    x = torch.randn(2, 5, 32, requires_grad=True)
    memory = torch.randn(2, 6, 32, requires_grad=True)
    pad = None if lengths is None else masks.padding_mask(torch.tensor(lengths), 6)
    ours, self_w, cross_w = block(x, memory, pad, need_weights=need_weights)
    theirs = layer(x, memory, tgt_mask=masks.to_pytorch(masks.causal_mask(5), "mha"),
                   memory_key_padding_mask=None if pad is None else masks.to_pytorch(pad, "mha")[:, 0])
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-4)
    if need_weights:
        assert self_w.shape == (2, 4, 5, 5) and cross_w.shape == (2, 4, 5, 6)
        assert (self_w.triu(1) == 0).all()
        if lengths:
            assert (cross_w[1, ..., 4:] == 0).all()
    else:
        assert self_w is None and cross_w is None
    grad = torch.randn_like(ours)
    for a, b in zip(torch.autograd.grad(ours, [x, memory], grad),
                    torch.autograd.grad(theirs, [x, memory], grad)):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def tiny_model(seed=0):
    torch.manual_seed(seed)
    return EncoderDecoder(Seq2SeqConfig(src_vocab=12, tgt_vocab=9, num_layers=1)).eval()


def test_decoder_output_at_t_ignores_later_targets():
    model = tiny_model()
    src = torch.randint(1, 12, (2, 7))
    tgt = torch.randint(1, 9, (2, 6))
    changed = tgt.clone()
    changed[:, 4:] = (changed[:, 4:] % 8) + 1
    with torch.no_grad():
        torch.testing.assert_close(model(src, tgt)[:, :4], model(src, changed)[:, :4])


def test_source_padding_does_not_change_the_output():
    model = tiny_model()
    src = torch.randint(1, 12, (1, 5))
    padded = torch.cat([src, torch.zeros(1, 3, dtype=torch.long)], dim=1)
    tgt = torch.randint(1, 9, (1, 4))
    with torch.no_grad():
        torch.testing.assert_close(model(src, tgt), model(padded, tgt), atol=1e-5, rtol=1e-4)


def test_rope_reaches_the_decoders_self_attention_only():
    torch.manual_seed(0)
    model = EncoderDecoder(Seq2SeqConfig(src_vocab=12, tgt_vocab=9, num_layers=1, rope=True)).eval()
    assert model.encoder.blocks[0].attn.rope and model.blocks[0].self_attn.rope
    assert not model.blocks[0].cross_attn.rope  # queries and keys from different sequences
    src, tgt = torch.randint(1, 12, (2, 7)), torch.randint(1, 9, (2, 6))
    changed = tgt.clone()
    changed[:, 4:] = (changed[:, 4:] % 8) + 1
    with torch.no_grad():  # still causal
        torch.testing.assert_close(model(src, tgt)[:, :4], model(src, changed)[:, :4])
    plain = EncoderDecoder(Seq2SeqConfig(src_vocab=12, tgt_vocab=9, num_layers=1)).eval()
    plain.load_state_dict(model.state_dict())
    with torch.no_grad():
        assert not torch.allclose(model(src, tgt), plain(src, tgt))


def test_weights_only_when_asked():
    model = tiny_model()
    src, tgt = torch.randint(1, 12, (2, 7)), torch.randint(1, 9, (2, 5))
    with torch.no_grad():
        logits = model(src, tgt, need_weights=True)
        assert model.weights["encoder"].shape == (2, 1, 4, 7, 7)
        assert model.weights["self"].shape == (2, 1, 4, 5, 5)
        assert model.weights["cross"].shape == (2, 1, 4, 5, 7)
        fast = model(src, tgt)  # the default: the fused kernel, nothing kept
    assert all(w is None for w in model.weights.values())
    torch.testing.assert_close(fast, logits, atol=1e-5, rtol=1e-4)


# --- bad input: the message names what was expected and what came -------------------

@pytest.mark.parametrize("x, memory, error, words", [
    ((2, 5, 16), (2, 6, 32), ValueError, r"x must be \(B, T, 32\), got \(2, 5, 16\)"),
    ((2, 5, 1), (2, 6, 32), ValueError, r"x must be \(B, T, 32\), got \(2, 5, 1\)"),
    ((2, 5, 32), (2, 6, 8), ValueError, r"memory must be \(B, S, 32\), got \(2, 6, 8\)"),
    ((2, 5, 32), (3, 6, 32), ValueError, r"same batch size B, got x \(2, 5, 32\), memory \(3, 6, 32\)"),
    ((5, 32), (6, 32), ValueError, r"x must have at least 3 dimensions, got shape \(5, 32\)"),
])
def test_decoder_block_rejects_wrong_shapes(x, memory, error, words):
    with pytest.raises(error, match=words):
        DecoderBlock(EncoderConfig())(torch.randn(x), torch.randn(memory))


def test_decoder_block_rejects_mixed_dtypes():
    with pytest.raises(TypeError, match=r"memory has dtype torch.float64 but the DecoderBlock's "
                                        r"parameters are torch.float32"):
        DecoderBlock(EncoderConfig())(torch.randn(2, 5, 32), torch.randn(2, 6, 32).double())


GOOD_SRC, GOOD_TGT = torch.ones(2, 5, dtype=torch.long), torch.ones(2, 4, dtype=torch.long)


@pytest.mark.parametrize("src, tgt, error, words", [
    (torch.tensor([[3, 12]]), GOOD_TGT[:1], ValueError, r"src holds ids from 3 to 12, but the vocabulary has 12 ids: 0..11"),
    (torch.tensor([[-1, 3]]), GOOD_TGT[:1], ValueError, r"src holds ids from -1 to 3"),
    (GOOD_SRC, torch.tensor([[1, 9]] * 2), ValueError, r"tgt holds ids from 1 to 9, but the vocabulary has 9 ids: 0..8"),
    (GOOD_SRC.float(), GOOD_TGT, TypeError, r"src must hold integer token ids \(torch.long\), got dtype torch.float32"),
    (GOOD_SRC, GOOD_TGT.double(), TypeError, r"tgt must hold integer token ids.*torch.float64; .*tgt.long\(\)"),
    (GOOD_SRC[0], GOOD_TGT, ValueError, r"src must be \(B, S\) token ids, got \(5\); for one sequence use src\[None\]"),
    (GOOD_SRC, GOOD_TGT[0], ValueError, r"tgt must be \(B, T\) token ids, got \(4\)"),
    (torch.ones(2, 33, dtype=torch.long), GOOD_TGT, ValueError, r"src has 33 tokens, more than the 32 positions the model has \(max_len\)"),
    (GOOD_SRC, torch.ones(2, 40, dtype=torch.long), ValueError, r"tgt has 40 tokens, more than the 32 positions"),
    (torch.ones(2, 0, dtype=torch.long), GOOD_TGT, ValueError, r"src must hold at least one token per sequence, got shape \(2, 0\)"),
    (GOOD_SRC.tolist(), GOOD_TGT, TypeError, r"src must be a torch.Tensor of token ids \(B, S\), got list; .*torch.as_tensor\(src\)"),
    (GOOD_SRC, GOOD_TGT[:1], ValueError, r"same batch size B, got x \(1, 4, 32\), memory \(2, 5, 32\)"),
])
def test_encoder_decoder_rejects_bad_token_ids(src, tgt, error, words):
    with pytest.raises(error, match=words):
        tiny_model()(src, tgt)


def test_encoder_decoder_rejects_a_numpy_source():
    np = pytest.importorskip("numpy")
    with pytest.raises(TypeError, match=r"got ndarray; convert it with torch.as_tensor\(src\)"):
        tiny_model().encode(np.ones((1, 3), dtype=np.int64))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_date_model_reaches_97_percent_exact_match_on_every_seed(seed):
    """Notebook 08's recipe (600 steps, 50 of warm-up, cosine decay), on three seeds, about
    10 s each. Spread over seeds 0-9 (tools/seed_spread.py, 2026-12-04, AMD EPYC):
    natively worst 99.3%, median 100.0%; as a CPU without AVX worst 99.3%, median 100.0%
    (the same ten numbers). Held to 97%, two points under the worst seed. (The recipe without the
    schedule, 500 steps, reached 92.2% on seed 0 on this machine.)"""
    exact = seeded.date_exact_match(seed)
    assert exact >= seeded.RECIPES["date_exact_match"][1], f"seed {seed}: {exact:.1%} exact match"


# --- EncoderDecoder with another decoder block class (the learner's, notebook 08) -----------
class PlainDecoderBlock(nn.Module):
    """The pre-norm block written out as a learner does: same parameter names, no fast path."""

    def __init__(self, config):
        super().__init__()
        course = DecoderBlock(config)
        for name, child in course.named_children():
            self.add_module(name, child)

    def forward(self, x, memory, memory_mask=None):
        z = x + self.self_attn(self.norm1(x), mask=masks.causal_mask(x.shape[1]))[0]
        looked_up, cross_w = self.cross_attn(self.norm2(z), memory, memory_mask)
        z = z + looked_up
        self_w = self.self_attn.attn_weights
        return z + self.mlp(self.norm3(z)), self_w, cross_w


@pytest.mark.parametrize("need_weights", [False, True])
def test_encoder_decoder_takes_another_block_class(need_weights):
    config = Seq2SeqConfig(src_vocab=12, tgt_vocab=9, num_layers=2)
    torch.manual_seed(0)
    course = EncoderDecoder(config).eval()
    other = EncoderDecoder(config, decoder_block=PlainDecoderBlock).eval()
    assert all(isinstance(b, PlainDecoderBlock) for b in other.blocks)
    other.load_state_dict(course.state_dict())  # the same parameter names
    src, tgt = torch.randint(1, 12, (2, 7)), torch.randint(1, 9, (2, 5))
    src[1, 4:] = 0
    with torch.no_grad():
        torch.testing.assert_close(other(src, tgt, need_weights=need_weights),
                                   course(src, tgt, need_weights=True), atol=1e-5, rtol=1e-4)
    if need_weights:
        assert other.weights["self"].shape == (2, 2, 4, 5, 5)
        assert other.weights["cross"].shape == (2, 2, 4, 5, 7)
    else:
        assert other.weights["self"] is None and other.weights["cross"] is None


def test_encoder_decoder_rejects_a_block_that_is_not_a_module_class():
    with pytest.raises(TypeError, match="decoder_block must be an nn.Module class"):
        EncoderDecoder(Seq2SeqConfig(), decoder_block=DecoderBlock(EncoderConfig()))


def test_rope_needs_the_course_block():
    with pytest.raises(ValueError, match="config.rope=True needs the course's DecoderBlock"):
        EncoderDecoder(Seq2SeqConfig(rope=True), decoder_block=PlainDecoderBlock)


def test_beam_width_one_is_greedy_on_the_date_model_stopped_early():
    """Notebook 08's weak model (100 steps): beam width 1 returns greedy's outputs."""
    pairs = date_task(600)
    src_vocab = char_vocabulary([s for s, _ in pairs])
    tgt_vocab = char_vocabulary([t for _, t in pairs])
    src = encode_chars([s for s, _ in pairs], src_vocab, max(len(s) for s, _ in pairs))
    tgt = encode_chars([t for _, t in pairs], tgt_vocab, 12, bos=True, eos=True)
    helpers.seed_everything(0)
    model = EncoderDecoder(Seq2SeqConfig(num_layers=1, src_vocab=len(src_vocab),
                                         tgt_vocab=len(tgt_vocab)))
    helpers.fit(model, ((src[:500], tgt[:500, :-1]), tgt[:500, 1:]), steps=100, lr=5e-3,
                batch_size=64, progress=False)
    model.eval()
    eos = tgt_vocab.index("$")
    greedy = greedy_decode(model, src[500:540], bos=1, eos=eos, max_len=11)
    for i in range(40):
        beam, _ = beam_search(model, src[500 + i:501 + i], bos=1, eos=eos, max_len=11,
                              beam_width=1)
        row = greedy[i].tolist()
        row = row[:row.index(eos) + 1] if eos in row else row
        assert beam[0].tolist() == row
