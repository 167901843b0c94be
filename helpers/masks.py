"""Masks: where attention may look.

The package convention (see ``helpers``): a boolean tensor, True = "this query may attend
to this key", broadcasting to the scores (..., T, S). Masks combine with ``&``.

PyTorch has three conventions, and ``to_pytorch``/``from_pytorch`` convert at the boundary:

    api="sdpa"      F.scaled_dot_product_attention, bool:  True = may attend  (ours)
    api="mha"       nn.MultiheadAttention / nn.Transformer*, bool: True = blocked
    api="additive"  float masks added to the scores: 0 = may attend, -inf = blocked
                    (what nn.Transformer.generate_square_subsequent_mask returns)
"""
import torch

from helpers._checks import check_mask, check_tokens, shape_str

APIS = ("sdpa", "mha", "additive")


def causal_mask(T: int, S: int | None = None, *, device=None):
    """(T, S) mask where query t may attend to keys 0..t (and no later ones).

    With S > T (the last T queries of a longer sequence, as with a key/value cache) query t
    sits at position t + S - T.

    >>> causal_mask(3).int()
    tensor([[1, 0, 0],
            [1, 1, 0],
            [1, 1, 1]], dtype=torch.int32)
    """
    S = T if S is None else S
    if T < 1 or S < T:
        raise ValueError(f"need 1 <= T <= S, got T={T}, S={S}")
    return torch.ones(T, S, dtype=torch.bool, device=device).tril(diagonal=S - T)


def padding_mask(lengths, max_len: int | None = None):
    """(B, 1, S) mask from sequence lengths: key s of sequence b is real if s < lengths[b].

    The 1 lets it broadcast over the queries: padded keys are hidden from every query.

    >>> padding_mask(torch.tensor([3, 1])).int()
    tensor([[[1, 1, 1]],
    <BLANKLINE>
            [[1, 0, 0]]], dtype=torch.int32)
    """
    lengths = torch.as_tensor(lengths)
    if lengths.dim() != 1 or lengths.dtype.is_floating_point:
        raise ValueError(f"lengths must be a 1-D integer tensor (B,), got shape "
                         f"{shape_str(lengths.shape)} and dtype {lengths.dtype}")
    max_len = int(lengths.max()) if max_len is None else max_len
    if (lengths < 1).any() or (lengths > max_len).any():
        raise ValueError(f"every length must be in 1..{max_len}, got {lengths.tolist()}")
    positions = torch.arange(max_len, device=lengths.device)  # (S,)
    return (positions[None, :] < lengths[:, None])[:, None, :]  # (B, 1, S)


def padding_mask_from_tokens(tokens, pad_id: int):
    """(B, 1, S) mask that hides every key whose token is ``pad_id``."""
    check_tokens("tokens", tokens, None, layout="(B, S)")
    return (tokens != pad_id)[:, None, :]  # (B, 1, S)


def combine(*masks):
    """Attend only where every mask allows it: the broadcast AND of the masks.

    ``combine(padding_mask(lengths), causal_mask(T))`` is (B, T, T).
    """
    masks = [m for m in masks if m is not None]
    if not masks:
        return None
    for m in masks:
        check_mask(m)
    result = masks[0]
    for m in masks[1:]:
        try:
            result = result & m
        except RuntimeError:
            raise ValueError(f"masks of shapes {shape_str(result.shape)} and "
                             f"{shape_str(m.shape)} do not broadcast") from None
    return result


def to_pytorch(mask, api: str):
    """Convert one of our masks (True = may attend) to PyTorch's ``api`` convention."""
    _check_api(api)
    check_mask(mask)
    if api == "sdpa":
        return mask
    if api == "mha":
        return ~mask  # True = blocked
    return torch.zeros(mask.shape, device=mask.device).masked_fill(~mask, float("-inf"))


def from_pytorch(mask, api: str):
    """Convert a mask in PyTorch's ``api`` convention to ours (True = may attend).

    An additive mask converts only if it holds nothing but 0 and -inf: a finite value such
    as -0.5 is a bias that weakens a key without blocking it, and has no boolean equivalent.
    """
    _check_api(api)
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"mask must be a torch.Tensor, got {type(mask).__name__}")
    if api == "additive":
        if not mask.is_floating_point():
            raise TypeError(f"an additive mask is a float tensor of 0 and -inf, got dtype "
                            f"{mask.dtype}")
        other = mask[(mask != 0) & (mask != float("-inf"))]
        if other.numel():
            raise ValueError(f"an additive mask must hold only 0 (may attend) and -inf "
                             f"(blocked), got {other.numel()} other values such as "
                             f"{other[0].item():g}; a finite value is a bias, not a mask: pass "
                             "it as bias= to the attention, or threshold it (mask > -1e4)")
        return mask == 0
    if mask.dtype != torch.bool:
        raise TypeError(f"a '{api}' mask is boolean, got dtype {mask.dtype}")
    return mask if api == "sdpa" else ~mask


def _check_api(api):
    if api not in APIS:
        raise ValueError(f"api must be one of {APIS}, got {api!r}")
