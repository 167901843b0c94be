"""helpers/pretrained.py: all-MiniLM-L6-v2 in our modules against transformers and
sentence-transformers, the loader's errors, mean pooling with padding."""
import dataclasses

import pytest
import torch

from helpers.encoder import EncoderBlock
from helpers.masks import padding_mask
from helpers.pretrained import (
    BUFFERS,
    BertConfig,
    PretrainedEncoder,
    block_problems,
    encode_batch,
    load_checkpoint,
    load_pretrained,
    load_reference,
    load_state,
    load_tokenizer,
    mapping_table,
    mean_pool,
    reference_outputs,
    sentence_embedding,
    split_state,
    weight_mapping,
)

TEXTS = ["The cat sat on the mat.", "Hi", "Attention is all you need, or so the paper says.",
         "Résumé: naïve café owners' well-known recipes, 1999-2024!"]


@pytest.fixture(scope="module")
def model():
    return load_pretrained()


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer()


@pytest.fixture(scope="module")
def reference():
    return load_reference()


@pytest.fixture(scope="module")
def batch(tokenizer):
    return encode_batch(tokenizer, TEXTS)


def test_batch_is_padded_to_the_longest_sentence(batch):
    tokens, lengths = batch
    assert tokens.shape == (len(TEXTS), int(lengths.max()))
    assert lengths.min() < lengths.max()  # a padded batch
    assert (tokens[:, 0] == 101).all()  # [CLS]
    for row, n in zip(tokens, lengths):
        assert row[n - 1] == 102 and (row[n:] == 0).all()  # [SEP], then [PAD]


@torch.no_grad()
def test_every_layer_matches_transformers_on_real_tokens(model, reference, batch):
    tokens, lengths = batch
    ours, _ = model(tokens, lengths)
    theirs, _ = reference_outputs(reference, tokens, lengths)
    assert len(ours) == len(theirs) == model.config.num_layers + 1
    real = padding_mask(lengths, tokens.shape[1])[:, 0, :, None]  # (B, T, 1)
    for layer, (a, b) in enumerate(zip(ours, theirs)):
        assert ((a - b) * real).abs().max() <= 1e-5, f"layer {layer}"


@torch.no_grad()
def test_every_position_matches_in_float64(model, reference, batch):
    """Padded positions too: the same maths, not only the same rounding."""
    tokens, lengths = batch
    ours, _ = load_pretrained().double()(tokens, lengths)
    bert = reference[0].auto_model
    try:
        bert.double()
        attention_mask = padding_mask(lengths, tokens.shape[1])[:, 0].long()
        theirs = bert(input_ids=tokens, attention_mask=attention_mask,
                      output_hidden_states=True).hidden_states
    finally:
        bert.float()
    for layer, (a, b) in enumerate(zip(ours, theirs)):
        assert (a - b).abs().max() <= 1e-10, f"layer {layer}"


@torch.no_grad()
def test_sentence_embedding_matches_sentence_transformers(model, reference, batch):
    tokens, lengths = batch
    ours = sentence_embedding(model, tokens, lengths)
    _, theirs = reference_outputs(reference, tokens, lengths)
    encoded = reference.encode(TEXTS, convert_to_tensor=True)  # its own tokenisation
    assert (ours - theirs).abs().max() <= 1e-5
    assert (ours - encoded).abs().max() <= 1e-5
    assert torch.allclose(ours.norm(dim=-1), torch.ones(len(TEXTS)))


@torch.no_grad()
def test_pooler_matches_transformers(model, reference, batch):
    tokens, lengths = batch
    hidden, _ = model(tokens, lengths)
    attention_mask = padding_mask(lengths, tokens.shape[1])[:, 0].long()
    theirs = reference[0].auto_model(input_ids=tokens, attention_mask=attention_mask)
    assert (model.pool_cls(hidden[-1]) - theirs.pooler_output).abs().max() <= 1e-5


@torch.no_grad()
def test_attention_weights_every_layer_and_head(model, batch):
    tokens, lengths = batch
    hidden, weights = model(tokens, lengths, need_weights=True)
    B, T = tokens.shape
    assert weights.shape == (B, 6, 12, T, T)
    assert torch.allclose(weights.sum(-1), torch.ones(B, 6, 12, T), atol=1e-5)
    pads = ~padding_mask(lengths, T)[:, 0]  # (B, T)
    assert (weights * pads[:, None, None, None, :]).abs().max() == 0  # no weight on padding
    fast, _ = model(tokens, lengths)  # the fused kernel: the same numbers on real tokens
    assert ((hidden[-1] - fast[-1]) * ~pads[..., None]).abs().max() <= 1e-5


def test_every_tensor_of_the_checkpoint_has_one_place():
    checkpoint = load_checkpoint()
    rows = weight_mapping()
    used = [name for row in rows for name in row.checkpoint]
    assert len(used) == len(set(used))
    assert set(used) | BUFFERS.keys() == checkpoint.keys()
    assert {row.ours for row in rows} == PretrainedEncoder().state_dict().keys()
    table = mapping_table(rows, layers=(0,))
    assert "encoder.layer.0.attention.self.{query,key,value}.weight" in table
    assert "blocks.1." not in table


@pytest.fixture(scope="module")
def tiny():
    """A 2-layer, 8-wide model and a checkpoint for it under BERT's names."""
    config = BertConfig(vocab_size=20, d_model=8, num_heads=2, d_ff=16, num_layers=2,
                        max_positions=10)
    g = torch.Generator().manual_seed(0)
    model = PretrainedEncoder(config)
    checkpoint = {}
    for row in weight_mapping(config):
        shape = model.state_dict()[row.ours].shape
        parts = len(row.checkpoint)
        for name in row.checkpoint:
            checkpoint[name] = torch.randn(shape[0] // parts, *shape[1:], generator=g)
    checkpoint["embeddings.position_ids"] = torch.arange(10)[None]
    return config, checkpoint


def test_load_state_fills_every_parameter(tiny):
    config, checkpoint = tiny
    model = load_state(PretrainedEncoder(config), checkpoint)
    C = config.d_model
    qkv = model.blocks[1].attn.in_proj.weight
    assert torch.equal(qkv[:C], checkpoint["encoder.layer.1.attention.self.query.weight"])
    assert torch.equal(qkv[C:2 * C], checkpoint["encoder.layer.1.attention.self.key.weight"])
    assert torch.equal(qkv[2 * C:], checkpoint["encoder.layer.1.attention.self.value.weight"])
    assert torch.equal(model.blocks[0].norm2.bias,
                       checkpoint["encoder.layer.0.output.LayerNorm.bias"])


@pytest.mark.parametrize("change, message", [
    (lambda c: c.pop("encoder.layer.1.output.dense.bias"),
     "missing from the checkpoint (1): encoder.layer.1.output.dense.bias"),
    (lambda c: c.update({"cls.predictions.bias": torch.zeros(20)}),
     "unexpected in the checkpoint, no place in our model (1): cls.predictions.bias"),
    (lambda c: c.update({"encoder.layer.0.intermediate.dense.weight": torch.zeros(8, 16)}),
     "wrong shape for encoder.layer.0.intermediate.dense.weight: expected (16, 8), got (8, 16) "
     "(for our blocks.0.mlp.up.weight (16, 8), copy)"),
    (lambda c: c.update({"encoder.layer.1.attention.self.key.weight": torch.zeros(8, 4)}),
     "wrong shape for encoder.layer.1.attention.self.key.weight: expected (8, 8), got (8, 4) "
     "(for our blocks.1.attn.in_proj.weight (24, 8), concat q,k,v)"),
    (lambda c: c.update({"embeddings.position_ids": torch.arange(1, 11)[None]}),
     "embeddings.position_ids is not 0, 1, 2"),
])
def test_load_state_names_what_does_not_fit(tiny, change, message):
    config, checkpoint = tiny
    checkpoint = dict(checkpoint)
    change(checkpoint)
    with pytest.raises(ValueError) as error:
        load_state(PretrainedEncoder(config), checkpoint)
    assert message in str(error.value)


def test_load_state_names_several_problems_at_once(tiny):
    config, checkpoint = tiny
    checkpoint = dict(checkpoint)
    checkpoint.pop("pooler.dense.weight")
    checkpoint["extra.weight"] = torch.zeros(1)
    with pytest.raises(ValueError, match="pooler.dense.weight(.|\n)*extra.weight"):
        load_state(PretrainedEncoder(config), checkpoint)


def test_mean_pool_ignores_padding():
    hidden = torch.tensor([[[1.0], [3.0], [100.0]], [[2.0], [-5.0], [7.0]]])  # (2, 3, 1)
    pooled = mean_pool(hidden, torch.tensor([2, 3])).flatten()
    assert torch.allclose(pooled, torch.tensor([2.0, 4 / 3]))  # not 34.7 (padding counted)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 5, 4, generator=g)
    lengths = torch.tensor([5, 2, 1])
    junk = x.clone()
    junk[1, 2:] = 1e3  # whatever the padded positions hold
    junk[2, 1:] = -7.0
    assert torch.allclose(mean_pool(x, lengths), mean_pool(junk, lengths))
    assert torch.allclose(mean_pool(x, lengths)[1], x[1, :2].mean(0))


def test_mean_pool_and_model_check_their_inputs(model):
    with pytest.raises(ValueError, match=r"lengths must be \(B,\) = \(2,\)"):
        mean_pool(torch.zeros(2, 3, 4), torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match="every length must be in 1..3"):
        mean_pool(torch.zeros(2, 3, 4), torch.tensor([1, 4]))
    with pytest.raises(ValueError, match="at most 512"):
        model(torch.zeros(1, 513, dtype=torch.long))
    with pytest.raises(ValueError, match="list of strings"):
        encode_batch(load_tokenizer(), "one sentence")


# -- the block as a parameter (notebook 13 passes the learner's) ---------------------------
class PlainBlock(EncoderBlock):
    """The course's block behind the learner's interface: forward(x, mask) -> (out, weights),
    weights always, no need_weights switch."""

    def forward(self, x, mask=None):
        return super().forward(x, mask, need_weights=True)


def test_a_block_class_without_need_weights_loads_and_matches(model, batch):
    mine = load_state(PretrainedEncoder(model.config, block=PlainBlock),
                      load_checkpoint()).eval()
    tokens, lengths = batch
    with torch.no_grad():
        (ours, weights), (theirs, _) = mine(tokens, lengths), model(tokens, lengths)
        _, need = mine(tokens, lengths, need_weights=True)
    real = padding_mask(lengths, tokens.shape[1])[:, 0, :, None]  # (B, T, 1)
    assert all(((a - b) * real).abs().max() <= 1e-5 for a, b in zip(ours, theirs))
    assert weights is None and need.shape[:3] == (len(TEXTS), 6, 12)
    assert isinstance(mine.blocks[0], PlainBlock)


def test_split_state_is_the_inverse_of_load_state(tiny):
    config, _ = tiny
    source = PretrainedEncoder(config)
    checkpoint = split_state(source)
    assert set(checkpoint) == {n for r in weight_mapping(config) for n in r.checkpoint} | set(BUFFERS)
    loaded = load_state(PretrainedEncoder(config), checkpoint)
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(),
                                                 source.state_dict().values()))


def _block_with(**change):
    class Changed(EncoderBlock):
        def __init__(self, config):
            super().__init__(dataclasses.replace(config, **change.get("config", {})))
            if "gelu" in change:
                self.mlp.act = torch.nn.GELU(approximate=change["gelu"])
    return Changed


@pytest.mark.parametrize("block, named", [
    (dict(config=dict(norm_eps=1e-5)), "does not use config.norm_eps"),
    (dict(gelu="tanh"), "tanh approximation"),
    (dict(config=dict(norm_first=True)), "ignores config.norm_first"),
])
def test_block_problems_names_each_mistake(block, named):
    problems = block_problems(_block_with(**block), BertConfig().encoder_config())
    assert len(problems) == 1 and named in problems[0], problems


def test_block_problems_passes_the_course_block_and_names_wrong_parameters():
    config = BertConfig().encoder_config()
    assert block_problems(EncoderBlock, config) == []
    assert block_problems(PlainBlock, config) == []

    class Renamed(torch.nn.Module):
        def __init__(self, config):
            super().__init__()
            self.attention = torch.nn.Linear(config.d_model, config.d_model)
    assert "could not be built or given our weights" in block_problems(Renamed, config)[0]
