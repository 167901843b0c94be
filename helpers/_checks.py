"""Input checks shared by the modules: each failure names what was expected and what came.

Every public function and module of ``helpers`` checks its inputs here, at the boundary,
so that a mistake gets one clear message instead of an IndexError or a broadcasting
error from deep inside PyTorch, or a silently wrong answer.
"""
import math

import torch


def shape_str(shape) -> str:
    """(2, 5, 8) for a torch.Size, so messages read like the shape comments in the code."""
    return "(" + ", ".join(str(n) for n in shape) + ")"


def check_tensor(name: str, x, *, min_dim: int = 1, floating: bool = True) -> None:
    """Fail with TypeError/ValueError unless ``x`` is a tensor of at least ``min_dim`` dims."""
    if not isinstance(x, torch.Tensor):
        hint = f"; convert it with torch.as_tensor({name})" if hasattr(x, "__array__") else ""
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}{hint}")
    if floating and not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}; "
                        f"convert it with {name}.float()")
    if x.dim() < min_dim:
        raise ValueError(f"{name} must have at least {min_dim} dimensions, "
                         f"got shape {shape_str(x.shape)}")


def check_width(name: str, x, C: int, layout: str = "(..., C)") -> None:
    """``x`` must be a float tensor shaped like ``layout`` whose last dimension is C.

    layout names the dimensions, e.g. "(B, T, C)"; "..." allows any leading ones.
    check_width("x", torch.zeros(2, 5, 1), 8, "(B, T, C)") fails with
    "x must be (B, T, 8), got (2, 5, 1)".
    """
    names = layout.strip("()").split(", ")
    fixed_rank = "..." not in names
    check_tensor(name, x, min_dim=len(names) - (not fixed_rank))
    if x.shape[-1] != C or (fixed_rank and x.dim() != len(names)):
        expected = "(" + ", ".join(str(C) if n == "C" else n for n in names) + ")"
        raise ValueError(f"{name} must be {expected}, got {shape_str(x.shape)}")


def check_same_dtype(name: str, x, module) -> None:
    """``x`` must have the dtype of ``module``'s parameters (PyTorch does not mix them)."""
    param = next(module.parameters(), None)
    if param is not None and x.dtype != param.dtype:
        raise TypeError(f"{name} has dtype {x.dtype} but the {type(module).__name__}'s "
                        f"parameters are {param.dtype}; convert one of them: {name}.to({param.dtype}), "
                        f"or the module with .to({x.dtype})")


def check_tokens(name: str, idx, vocab_size: int | None, max_len: int | None = None,
                 layout: str = "(B, T)") -> None:
    """``idx`` must be a 2-D integer tensor of ids in 0..vocab_size-1, at most max_len long
    (None skips that check).

    check_tokens("src", torch.tensor([[3, 12]]), 12) fails with
    "src holds ids from 3 to 12, but the vocabulary has 12 ids: 0..11".
    """
    if not isinstance(idx, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of token ids {layout}, got "
                        f"{type(idx).__name__}; convert it with torch.as_tensor({name})")
    if idx.dtype not in (torch.long, torch.int):
        raise TypeError(f"{name} must hold integer token ids (torch.long), got dtype "
                        f"{idx.dtype}; convert it with {name}.long()")
    if idx.dim() != 2:
        hint = f"; for one sequence use {name}[None]" if idx.dim() == 1 else ""
        raise ValueError(f"{name} must be {layout} token ids, got {shape_str(idx.shape)}{hint}")
    if idx.shape[1] == 0:
        raise ValueError(f"{name} must hold at least one token per sequence, got shape "
                         f"{shape_str(idx.shape)}")
    if max_len is not None and idx.shape[1] > max_len:
        raise ValueError(f"{name} has {idx.shape[1]} tokens, more than the {max_len} positions "
                         f"the model has (max_len); shorten it or build a larger model")
    if vocab_size is None:
        return
    low, high = int(idx.min()), int(idx.max())
    if low < 0 or high >= vocab_size:
        raise ValueError(f"{name} holds ids from {low} to {high}, but the vocabulary has "
                         f"{vocab_size} ids: 0..{vocab_size - 1}")


def check_mask(mask, scores_shape=None, layout: str = "(..., T, S)") -> None:
    """``mask`` must be one of our boolean masks (True = may attend) that broadcasts to
    the scores' shape, if one is given; ``layout`` names its dimensions in the message."""
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"mask must be a boolean torch.Tensor, got {type(mask).__name__}")
    if mask.dtype != torch.bool:
        raise TypeError(f"mask must be a boolean tensor of dtype torch.bool (True = may "
                        f"attend), got {mask.dtype}; for a 0/1 tensor use mask.bool(), for an "
                        "additive 0/-inf one masks.from_pytorch(mask, 'additive')")
    if scores_shape is not None:
        check_broadcasts("mask", mask, scores_shape, layout)


def check_broadcasts(name: str, x, shape, layout: str = "(..., T, S)") -> None:
    """``x`` must broadcast to ``shape`` without making it larger (a mask or bias on scores)."""
    try:
        ok = torch.broadcast_shapes(x.shape, shape) == torch.Size(shape)
    except RuntimeError:
        ok = False
    if not ok:
        raise ValueError(f"{name} of shape {shape_str(x.shape)} does not broadcast to the "
                         f"scores' shape {shape_str(shape)} {layout}")


def check_positive_int(name: str, n, *, allow_zero: bool = False) -> None:
    """``n`` must be an int >= 1 (>= 0 if allow_zero)."""
    low = 0 if allow_zero else 1
    if isinstance(n, bool) or not isinstance(n, int) or n < low:
        raise ValueError(f"{name} must be >= {low} (an int), got {n!r}")


def check_temperature(temperature) -> None:
    """A sampling temperature: a finite number >= 0 (0 means greedy)."""
    if not isinstance(temperature, (int, float)) or not math.isfinite(temperature) \
            or temperature < 0:
        raise ValueError(f"temperature must be >= 0 and finite (0 = greedy), "
                         f"got {temperature!r}")


def broadcast_batch(names_and_shapes) -> torch.Size:
    """The broadcast of several leading (batch) shapes, or a ValueError naming all of them."""
    try:
        return torch.broadcast_shapes(*(s for _, s in names_and_shapes))
    except RuntimeError:
        listed = ", ".join(f"{n} {shape_str(s)}" for n, s in names_and_shapes)
        raise ValueError(f"leading (batch) dimensions do not broadcast: {listed}") from None
