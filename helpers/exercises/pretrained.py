"""Exercise checks of Notebook 11, a pretrained encoder: map one layer's weights, pool."""
import torch
from torch.nn import functional as F

from helpers.exercises._common import Check, _diagnose

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
