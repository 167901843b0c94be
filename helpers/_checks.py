"""Input checks shared by the modules: each failure names what was expected and what came."""
import torch


def shape_str(shape) -> str:
    """(2, 5, 8) for a torch.Size, so messages read like the shape comments in the code."""
    return "(" + ", ".join(str(n) for n in shape) + ")"


def check_tensor(name: str, x, *, min_dim: int = 1, floating: bool = True) -> None:
    """Fail with TypeError/ValueError unless ``x`` is a tensor of at least ``min_dim`` dims."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if floating and not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}; "
                        f"convert it with {name}.float()")
    if x.dim() < min_dim:
        raise ValueError(f"{name} must have at least {min_dim} dimensions, "
                         f"got shape {shape_str(x.shape)}")


def broadcast_batch(names_and_shapes) -> torch.Size:
    """The broadcast of several leading (batch) shapes, or a ValueError naming all of them."""
    try:
        return torch.broadcast_shapes(*(s for _, s in names_and_shapes))
    except RuntimeError:
        listed = ", ".join(f"{n} {shape_str(s)}" for n, s in names_and_shapes)
        raise ValueError(f"leading (batch) dimensions do not broadcast: {listed}") from None
