"""Exercise checks of Notebook 13, a pretrained encoder: fuse q, k, v, map one layer's
weights, load the whole checkpoint into a model (the learner's piece ``load_minilm``), pool."""
import itertools
import re

import torch
from torch.nn import functional as F

from helpers.exercises._common import Check, _diagnose
from helpers.yours import builds

_C, _FF = 6, 12  # a tiny layer: C = 6 (2 heads of 3), d_ff = 12


def _tiny_checkpoint(layer: int):
    """A checkpoint of one BERT layer under the Hugging Face names, random values."""
    g = torch.Generator().manual_seed(11 + layer)
    p = f"encoder.layer.{layer}."
    shapes = {"attention.self.query": (_C, _C), "attention.self.key": (_C, _C),
              "attention.self.value": (_C, _C), "attention.output.dense": (_C, _C),
              "attention.output.LayerNorm": (_C,), "intermediate.dense": (_FF, _C),
              "output.dense": (_C, _FF), "output.LayerNorm": (_C,)}
    checkpoint = {}
    for name, shape in shapes.items():
        checkpoint[f"{p}{name}.weight"] = torch.randn(shape, generator=g)
        checkpoint[f"{p}{name}.bias"] = torch.randn(shape[0], generator=g)
    return checkpoint


def _mapped(checkpoint, layer, qkv=("query", "key", "value"), transpose=False, biases=True,
            norms=("attention.output.LayerNorm", "output.LayerNorm"),
            mlp=("intermediate.dense", "output.dense")):
    """Our block's state dict from the checkpoint, with the choices a mistake changes."""
    p = f"encoder.layer.{layer}."
    t = (lambda w: w.T) if transpose else (lambda w: w)
    state = {
        "attn.in_proj.weight": torch.cat([t(checkpoint[f"{p}attention.self.{n}.weight"])
                                          for n in qkv]),
        "attn.out_proj.weight": t(checkpoint[f"{p}attention.output.dense.weight"]),
        "norm1.weight": checkpoint[f"{p}{norms[0]}.weight"],
        "mlp.up.weight": t(checkpoint[f"{p}{mlp[0]}.weight"]),
        "mlp.down.weight": t(checkpoint[f"{p}{mlp[1]}.weight"]),
        "norm2.weight": checkpoint[f"{p}{norms[1]}.weight"],
    }
    if biases:
        state.update({
            "attn.in_proj.bias": torch.cat([checkpoint[f"{p}attention.self.{n}.bias"]
                                            for n in qkv]),
            "attn.out_proj.bias": checkpoint[f"{p}attention.output.dense.bias"],
            "norm1.bias": checkpoint[f"{p}{norms[0]}.bias"],
            "mlp.up.bias": checkpoint[f"{p}{mlp[0]}.bias"],
            "mlp.down.bias": checkpoint[f"{p}{mlp[1]}.bias"],
            "norm2.bias": checkpoint[f"{p}{norms[1]}.bias"],
        })
    return state


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        isinstance(a[k], torch.Tensor) and a[k].shape == b[k].shape
        and torch.allclose(a[k].float(), b[k].float()) for k in a)


def check_fuse_qkv(fuse_qkv):
    """Exercise: ``fuse_qkv(checkpoint, i)`` -> ``(weight (3C, C), bias (3C,))``: BERT layer
    i's separate query, key and value Linears as our one fused ``in_proj``."""
    layer = 1
    checkpoint = {**_tiny_checkpoint(0), **_tiny_checkpoint(layer)}

    def qkv(i, kind, order=("query", "key", "value")):
        return [checkpoint[f"encoder.layer.{i}.attention.self.{n}.{kind}"] for n in order]

    right_w, right_b = torch.cat(qkv(layer, "weight")), torch.cat(qkv(layer, "bias"))
    try:
        got = fuse_qkv(dict(checkpoint), layer)
    except Exception as error:  # the learner's code: show its error
        return Check(False, f"Your function raised {type(error).__name__}: {error}")
    if got is None:
        return Check(False, "Not done yet: your function returned None. Return the pair "
                            "(weight, bias).")
    if isinstance(got, torch.Tensor) or not (isinstance(got, tuple) and len(got) == 2):
        return Check(False, "You forgot the biases: return a pair (weight (3C, C), bias (3C,)); "
                            "in_proj has a bias too, query's, key's and value's stacked.")
    weight, bias = got
    if not isinstance(weight, torch.Tensor):
        return Check(False, f"The weight must be a tensor, got {type(weight).__name__}.")
    weight = weight.detach()
    C = _C
    if weight.shape == (3, C, C):
        return Check(False, "You stacked into a new dimension (torch.stack gives (3, C, C)): "
                            "concatenate the rows instead, torch.cat(..., dim=0) -> (3C, C).")
    if weight.shape == (C, 3 * C):
        side = torch.cat(qkv(layer, "weight"), dim=1)
        if torch.allclose(weight, side):
            return Check(False, "You put W_Q, W_K, W_V side by side (dim=1, (C, 3C)): "
                                "nn.Linear's weight is (out, in), so the three outputs are "
                                "rows: torch.cat(..., dim=0) -> (3C, C).")
        if torch.allclose(weight, right_w.T):
            return Check(False, "You transposed the fused weight: nn.Linear stores (out, in) = "
                                "(3C, C), and so does the checkpoint; copy without .T.")
    if weight.shape != right_w.shape:
        return Check(False, f"Wrong weight shape: expected (3C, C) = {tuple(right_w.shape)}, got "
                            f"{tuple(weight.shape)}.")
    if not torch.allclose(weight, right_w):
        for order in itertools.permutations(("query", "key", "value")):
            if torch.allclose(weight, torch.cat(qkv(layer, "weight", order))):
                return Check(False, f"Wrong order: you stacked {', '.join(order)}; in_proj's "
                                    "rows are W_Q, then W_K, then W_V (query, key, value), as "
                                    "in nn.MultiheadAttention.")
        if torch.allclose(weight, torch.cat([w.T for w in qkv(layer, "weight")])):
            return Check(False, "You transposed each matrix: the checkpoint stores every "
                                "Linear's weight as (out, in), as nn.Linear does; copy it as "
                                "it is.")
        if torch.allclose(weight, torch.cat(qkv(0, "weight"))):
            return Check(False, "You read layer 0's tensors: use the layer number you were "
                                "given.")
        return Check(False, "The weight has the right shape but the wrong values: the query, "
                            "key and value weights, concatenated along dim 0.")
    if bias is None or (isinstance(bias, torch.Tensor) and not bias.detach().any()):
        return Check(False, "You forgot the biases: in_proj.bias is query's, key's and value's "
                            "biases, concatenated in the same order (3C,).")
    if not isinstance(bias, torch.Tensor) or bias.shape != right_b.shape:
        return Check(False, f"The bias must be a tensor of shape (3C,) = {tuple(right_b.shape)}.")
    if not torch.allclose(bias.detach(), right_b):
        return Check(False, "The weight is right but the bias is not: concatenate the query, "
                            "key and value biases in the same order as the weights.")
    return Check(True, "in_proj = [W_Q; W_K; W_V] (3C, C) and its bias (3C,): the rows in "
                       "query, key, value order, as our MultiHeadAttention splits them.")


def check_layer_mapping(layer_mapping):
    """Exercise: ``layer_mapping(checkpoint, i)`` -> the state dict of our ``EncoderBlock``
    for BERT layer i: keys such as "attn.in_proj.weight", "norm1.bias", "mlp.up.weight"."""
    layer = 1
    checkpoint = {**_tiny_checkpoint(0), **_tiny_checkpoint(layer)}
    got = layer_mapping(dict(checkpoint), layer)
    right = _mapped(checkpoint, layer)
    if got is None:
        return Check(False, "Not done yet: your function returned None. Fill in its body "
                            "and return the dict.")
    if not isinstance(got, dict):
        return Check(False, f"Expected a dict from our parameter names to tensors, got "
                            f"{type(got).__name__}.")
    got = {k: v.detach() if isinstance(v, torch.Tensor) else v for k, v in got.items()}
    if _same(got, right):
        return Check(True, "Every tensor of the layer is in its place: q, k, v stacked into "
                           "in_proj, the LayerNorms after attention and after the MLP.")
    mistakes = {
        "You stacked the projections in the wrong order: in_proj holds the rows of W_Q, "
        "then W_K, then W_V (query, key, value).": [
            _mapped(checkpoint, layer, qkv=order) for order in
            [("key", "query", "value"), ("query", "value", "key"), ("value", "key", "query"),
             ("key", "value", "query"), ("value", "query", "key")]],
        "You transposed the weights: the checkpoint stores each Linear's weight as "
        "(out, in), as nn.Linear does; copy it as it is.":
            [_mapped(checkpoint, layer, transpose=True)],
        "You forgot the biases: every Linear and LayerNorm has a bias too "
        "(in_proj.bias is query, key and value's biases stacked).":
            [_mapped(checkpoint, layer, biases=False)],
        "You swapped the LayerNorms: attention.output.LayerNorm follows attention (norm1), "
        "output.LayerNorm follows the MLP (norm2).":
            [_mapped(checkpoint, layer, norms=("output.LayerNorm",
                                               "attention.output.LayerNorm"))],
        "You swapped the MLP's layers: intermediate.dense is the first one (up, C -> d_ff), "
        "output.dense the second (down, d_ff -> C).":
            [_mapped(checkpoint, layer, mlp=("output.dense", "intermediate.dense"))],
        "You read layer 0's tensors: use the layer number you were given.":
            [_mapped(checkpoint, 0)],
    }
    for message, wrongs in mistakes.items():
        if any(_same(got, wrong) for wrong in wrongs):
            return Check(False, message)
    missing, extra = sorted(right.keys() - got.keys()), sorted(got.keys() - right.keys())
    if missing or extra:
        return Check(False, f"Your dict's keys differ from our block's: missing {missing}, "
                            f"unexpected {extra}.")
    wrong = [k for k in right if not (isinstance(got[k], torch.Tensor)
                                      and got[k].shape == right[k].shape
                                      and torch.allclose(got[k].float(), right[k]))]
    return Check(False, f"These entries hold the wrong tensors: {wrong}.")


def check_mean_pooling(sentence_vectors):
    """Exercise: ``sentence_vectors(hidden, lengths)`` -> (B, C), the mean of each sentence's
    real tokens (not its padding), scaled to length 1."""
    g = torch.Generator().manual_seed(0)
    hidden = torch.randn(3, 5, 4, generator=g) + 1.0  # (B, T, C); padded positions hold values too
    lengths = torch.tensor([4, 2, 3])  # every sentence is padded (T = 5)
    real = (torch.arange(5)[None, :] < lengths[:, None])[..., None].float()  # (B, T, 1)
    masked_sum = (hidden * real).sum(1)  # (B, C)
    right = F.normalize(masked_sum / lengths[:, None], dim=-1)
    mistakes = {
        "You averaged over every position, padding included: count only the first "
        "lengths[b] tokens of sentence b.": F.normalize(hidden.mean(1), dim=-1),
        "You forgot to normalise: divide each vector by its length (F.normalize).":
            masked_sum / lengths[:, None],
        "You divided by the padded length T, not by each sentence's number of real tokens "
        "(and did not normalise, so it shows).": masked_sum / hidden.shape[1],
        "You averaged over every position, padding included, and did not normalise.":
            hidden.mean(1),
        "You averaged over the padding only: the mask is True on the real tokens.":
            F.normalize((hidden * (1 - real)).sum(1) / (5 - lengths[:, None]), dim=-1),
        "You normalised over the batch (dim=0), not each sentence's vector (dim=-1).":
            F.normalize(masked_sum / lengths[:, None], dim=0),
    }
    return _diagnose(sentence_vectors(hidden.clone(), lengths.clone()), right, mistakes,
                     "Matches helpers.pretrained: mean over the real tokens, then length 1.")


def _tiny_bert():
    """A tiny BERT-style model with no 1s or 0s in it, and its checkpoint (HF names)."""
    from helpers.pretrained import BertConfig, PretrainedEncoder, split_state

    config = BertConfig(vocab_size=40, d_model=8, num_heads=2, d_ff=16, num_layers=2,
                        max_positions=12)
    with torch.random.fork_rng():
        torch.manual_seed(11)
        reference = PretrainedEncoder(config).eval()
        with torch.no_grad():
            for p in reference.parameters():
                p.add_(0.2 * torch.randn_like(p))
        torch.manual_seed(12)
        fresh = PretrainedEncoder(config).eval()
    return reference, fresh, split_state(reference)


_FORGOTTEN = {  # our tensor (a prefix) -> what forgetting it means
    "embeddings.segment.weight": "You forgot the token type (segment) embeddings: "
                                 "embeddings.token_type_embeddings.weight -> "
                                 "embeddings.segment.weight. Every token adds segment 0's "
                                 "vector, so they change every output.",
    "embeddings.position.weight": "You forgot the position embeddings: "
                                  "embeddings.position_embeddings.weight -> "
                                  "embeddings.position.weight (position_ids is only 0..511, "
                                  "not the embeddings).",
    "embeddings.word.weight": "You forgot the word embeddings: "
                              "embeddings.word_embeddings.weight -> embeddings.word.weight.",
    "embeddings.norm": "You forgot the embeddings' LayerNorm: embeddings.LayerNorm.weight/bias "
                       "-> embeddings.norm.weight/bias.",
    "pooler": "You forgot the pooler: pooler.dense.weight/bias -> pooler.weight/bias "
              "(sentence-transformers does not use it, but every tensor needs its place).",
}


def _forgotten(keys: list) -> str:
    """Name the mistake from our tensors that the loader left as they were."""
    if all(k.endswith(".bias") for k in keys) and len(keys) > 1:
        return f"You forgot biases ({', '.join(keys[:3])}...): copy every .bias too."
    for key, message in _FORGOTTEN.items():
        if any(k.startswith(key) for k in keys):
            return message
    return f"These of our tensors were never filled: {', '.join(keys)}. Map every tensor."


def _loader_mistake(got: dict, right: dict, before: dict) -> str | None:
    """Name the mistake from which of the loaded tensors differ from the reference's."""
    wrong = [k for k in right if not torch.equal(got[k], right[k])]
    if not wrong:
        return None
    untouched = [k for k in wrong if torch.equal(got[k], before[k])]
    if untouched:
        return _forgotten(untouched)
    layers = sorted({k.split(".")[1] for k in wrong if k.startswith("blocks.")})
    if layers and all(torch.equal(got[k], right[k.replace(f"blocks.{k.split('.')[1]}.",
                                                          "blocks.0.")])
                      for k in wrong if k.startswith("blocks.")):
        return "Every block got layer 0's tensors: map layer i into blocks.i."
    for k in wrong:
        if k.endswith("norm1.weight") and torch.equal(got[k], right[k.replace("norm1", "norm2")]):
            return ("You swapped the LayerNorms: attention.output.LayerNorm -> norm1 (after "
                    "attention), output.LayerNorm -> norm2 (after the MLP).")
        if k.endswith("in_proj.weight"):
            C = got[k].shape[1]
            parts = right[k].split(C)
            for order in itertools.permutations(range(3)):
                if order != (0, 1, 2) and torch.equal(got[k], torch.cat([parts[i] for i in order])):
                    return ("in_proj's rows are in the wrong order: W_Q, then W_K, then W_V "
                            "(query, key, value).")
            if torch.equal(got[k], torch.cat([p.T for p in parts])):
                return ("You transposed the weights: the checkpoint stores every Linear as "
                        "(out, in), as nn.Linear does; copy it as it is.")
        if k.endswith("out_proj.weight") and torch.equal(got[k], right[k].T):
            return ("You transposed the weights: the checkpoint stores every Linear as "
                    "(out, in), as nn.Linear does; copy it as it is.")
    return f"These tensors hold the wrong values: {', '.join(wrong[:6])}."


@builds("load_minilm", "helpers.pretrained:load_state")
def check_load_minilm(load):
    """Exercise: ``load(model, checkpoint)`` copies a BERT checkpoint (Hugging Face names) into
    our ``PretrainedEncoder`` ``model`` and returns it. Tested on a tiny model (C = 8, 2
    layers) with random values: every tensor compared, then every layer's hidden states on a
    padded batch with both segments, against the course's ``load_state``, to 1e-5."""
    reference, fresh, checkpoint = _tiny_bert()
    if load is None:
        return Check(False, "Not done yet: define your function and pass it.")
    before = {k: v.clone() for k, v in fresh.state_dict().items()}
    try:
        got = load(fresh, dict(checkpoint))
    except Exception as error:  # the learner's code: name what its error means
        text = f"{type(error).__name__}: {error}"
        missing = str(error).split("Unexpected key(s)")[0]
        if "Missing key(s)" in missing:  # load_state_dict(strict=True) names what is missing
            keys = re.findall(r'"([\w.]+)"', missing)
            return Check(False, f"{_forgotten(keys)} ({text[:200]})")
        if "position_ids" in str(error):
            return Check(False, "embeddings.position_ids is a buffer (the numbers 0..511), not "
                                "a weight: our model computes positions with torch.arange, so "
                                f"skip it. ({text[:200]})")
        if "size mismatch" in str(error) or "shape" in str(error):
            return Check(False, "A tensor did not fit: did you transpose a weight, or swap "
                                "intermediate.dense (mlp.up, C -> d_ff) and output.dense "
                                f"(mlp.down, d_ff -> C)? ({text[:300]})")
        return Check(False, f"Your loader raised {text[:400]}")
    if got is None:
        return Check(False, "Return the model once it is loaded (the course's load_state "
                            "returns it, so that a cell can write model = load(model, ...)).")
    if got is not fresh:
        return Check(False, "Load into the model you were given and return it (you returned "
                            "another object).")
    mistake = _loader_mistake(fresh.state_dict(), reference.state_dict(), before)
    if mistake:
        return Check(False, mistake)
    g = torch.Generator().manual_seed(3)
    tokens = torch.randint(0, 40, (3, 7), generator=g)
    lengths = torch.tensor([7, 4, 2])
    types = (torch.arange(7) >= 3).long().expand(3, 7)  # segment A, then B
    with torch.no_grad():
        ours, _ = fresh(tokens, lengths, types)
        theirs, _ = reference(tokens, lengths, types)
    real = (torch.arange(7)[None] < lengths[:, None])[..., None]
    for layer, (a, b) in enumerate(zip(ours, theirs)):
        if not torch.allclose(a * real, b * real, atol=1e-5):
            return Check(False, f"Every tensor is in place, but layer {layer}'s hidden states "
                                "differ from the reference's: did your loader change the "
                                "model in another way?")
    return Check(True, "Every tensor of the checkpoint is in its place, and every layer's "
                       "hidden states match the course's load_state to 1e-5.")
