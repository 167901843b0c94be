"""Looking inside a trained model: attention-pattern scores and ablations (notebook 15).

Two scores read a head's attention weights (B, H, T, S) and give one number per head:

- ``previous_token_score``: the mean weight a query at position t puts on the key at t − 1
  (queries t ≥ 1). A previous-token head scores near 1.
- ``induction_score``: the mean weight a query puts on the keys s ≤ t whose *previous*
  token equals its own token (the token right after an earlier occurrence of the current
  one), over the queries that have such a key. An induction head scores near 1.

Two ablations switch a part off for the duration of a ``with`` block and restore it after:

- ``ablate_head(attn, head)``: the output of one head of a multi-head attention (one with
  an ``out_proj``, as ``helpers.MultiHeadAttention`` and the learner's notebook-04 module
  have) is replaced by zeros, or by a given mean, before the heads are mixed by W_O;
- ``replace_output(module, value)``: a sub-layer's output (an MLP's, or an attention's,
  whose first returned item is its output) is replaced by ``value``, e.g. its mean over
  the data (``mean_output``).

    >>> w = torch.tensor([[[[1., 0, 0], [1, 0, 0], [0, 1, 0]]]])  # (B=1, H=1, T=3, S=3)
    >>> previous_token_score(w)  # queries 1 and 2 put all their weight on t - 1
    tensor([1.])
"""
import contextlib

import torch
from torch import nn

from helpers._checks import shape_str


def _check_weights(weights) -> None:
    if not isinstance(weights, torch.Tensor) or weights.dim() != 4 or not weights.is_floating_point():
        got = shape_str(weights.shape) if isinstance(weights, torch.Tensor) else type(weights).__name__
        raise ValueError(f"weights must be a float tensor (B, H, T, S) of one layer's heads, got {got}")
    if weights.shape[-2] > weights.shape[-1]:
        raise ValueError(f"weights (B, H, T, S) need S ≥ T (self-attention: S = T), got "
                         f"{shape_str(weights.shape)}")


def previous_token_score(weights):
    """weights (B, H, T, S) -> (H,): the mean weight on key t − 1 over queries t = 1 .. T − 1
    and the batch (query 0 has no previous token)."""
    _check_weights(weights)
    if weights.shape[-2] < 2:
        raise ValueError(f"a previous-token score needs T ≥ 2 positions, got {shape_str(weights.shape)}")
    on_previous = torch.diagonal(weights, offset=-1, dim1=-2, dim2=-1)  # (B, H, T - 1)
    return on_previous.mean(dim=(0, 2))  # (H,)


def induction_targets(tokens):
    """tokens (B, T) -> bool (B, T, T): [b, t, s] is True when s ≤ t and the token before
    key s equals the token at query t (s − 1 < t): the key just after an earlier
    occurrence of the current token, where an induction head looks."""
    if not isinstance(tokens, torch.Tensor) or tokens.dim() != 2 or tokens.is_floating_point():
        got = shape_str(tokens.shape) if isinstance(tokens, torch.Tensor) else type(tokens).__name__
        raise ValueError(f"tokens must be an integer tensor (B, T), got {got}")
    B, T = tokens.shape
    before = torch.cat([tokens.new_full((B, 1), -1), tokens[:, :-1]], dim=1)  # (B, S): token at s − 1
    allowed = torch.ones(T, T, dtype=torch.bool, device=tokens.device).tril()  # s ≤ t
    return (before[:, None, :] == tokens[:, :, None]) & allowed  # (B, T, S)


def induction_score(weights, tokens):
    """weights (B, H, T, T), tokens (B, T) -> (H,): the weight each query puts on the keys of
    ``induction_targets``, averaged over the queries that have at least one such key."""
    _check_weights(weights)
    targets = induction_targets(tokens)  # (B, T, T)
    if weights.shape[0] != tokens.shape[0] or weights.shape[-2:] != targets.shape[-2:]:
        raise ValueError(f"weights (B, H, T, T) and tokens (B, T) must agree, got weights "
                         f"{shape_str(weights.shape)}, tokens {shape_str(tokens.shape)}")
    has_target = targets.any(dim=-1)  # (B, T): the queries whose token occurred before
    if not has_target.any():
        raise ValueError("no query's token occurs earlier in its sequence: nothing to score")
    on_targets = (weights * targets[:, None]).sum(dim=-1)  # (B, H, T)
    return on_targets.transpose(0, 1)[:, has_target].mean(dim=-1)  # (H,)


@contextlib.contextmanager
def ablate_head(attn: nn.Module, head: int, mean=None):
    """Inside the ``with`` block, head ``head`` of ``attn`` outputs zeros (or ``mean``, a
    (D,) or broadcastable tensor: its mean output over the data) before W_O mixes the heads.

    attn: a multi-head attention with ``num_heads`` and an ``out_proj`` whose input is the
    heads' outputs side by side, (B, T, H·D), as in ``helpers.MultiHeadAttention``.
    """
    out_proj = getattr(attn, "out_proj", None)
    if not isinstance(out_proj, nn.Linear):
        raise TypeError(f"attn must be a multi-head attention with an out_proj (nn.Linear), "
                        f"got {type(attn).__name__}")
    H = getattr(attn, "num_heads", None)
    if not isinstance(H, int) or not isinstance(head, int) or not 0 <= head < H:
        raise ValueError(f"head must be an int from 0 to num_heads − 1 = {H - 1 if isinstance(H, int) else '?'}, "
                         f"got {head!r}")
    D = out_proj.in_features // H

    def replace(module, inputs):
        x = inputs[0].clone()  # (B, T, H·D): the heads' outputs side by side
        x[..., head * D:(head + 1) * D] = 0.0 if mean is None else mean
        return (x, *inputs[1:])

    handle = out_proj.register_forward_pre_hook(replace)
    try:
        yield attn
    finally:
        handle.remove()


@torch.no_grad()
def mean_output(module: nn.Module, run):
    """The mean over the batch of what ``module`` outputs while ``run()`` runs (the first
    item if it returns a tuple): (B, T, C) -> (1, T, C), one mean vector per position."""
    if not isinstance(module, nn.Module) or not callable(run):
        raise TypeError("mean_output(module, run): a module, and a function that runs the model")
    seen = []

    def keep(_, __, output):
        seen.append(output[0] if isinstance(output, tuple) else output)

    handle = module.register_forward_hook(keep)
    try:
        run()
    finally:
        handle.remove()
    if len(seen) != 1:
        raise ValueError(f"the module ran {len(seen)} times during run(); expected once")
    return seen[0].mean(dim=0, keepdim=True)


@contextlib.contextmanager
def replace_output(module: nn.Module, value):
    """Inside the ``with`` block, ``module``'s output (its first item, for a module that
    returns (output, weights)) is ``value`` broadcast to its shape: zeros or a mean."""
    if not isinstance(module, nn.Module) or not isinstance(value, torch.Tensor):
        raise TypeError(f"replace_output(module, value): an nn.Module and a tensor, got "
                        f"{type(module).__name__} and {type(value).__name__}")

    def replace(_, __, output):
        first = output[0] if isinstance(output, tuple) else output
        try:
            new = value.expand_as(first)
        except RuntimeError:
            raise ValueError(f"value {shape_str(value.shape)} does not broadcast to the "
                             f"output {shape_str(first.shape)}") from None
        return (new, *output[1:]) if isinstance(output, tuple) else new

    handle = module.register_forward_hook(replace)
    try:
        yield module
    finally:
        handle.remove()
