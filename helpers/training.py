"""A small training loop with a progress bar, and the history it returns.

The loop is the one every notebook needs: sample a batch, compute the loss, step the
optimiser, and now and then measure the held-out loss and accuracy. It is short on
purpose; read it once, then let the notebooks call it.
"""
import math
import time
from dataclasses import dataclass, field

import torch
from torch.nn import functional as F
from tqdm.auto import tqdm
from tqdm.notebook import tqdm_notebook

from helpers._checks import check_tensor, shape_str


@dataclass
class History:
    """What ``fit`` measured. ``loss`` is per step; the ``val_*`` lists are per evaluation."""

    step: list = field(default_factory=list)  # the step of each training loss
    loss: list = field(default_factory=list)
    val_step: list = field(default_factory=list)  # the step of each evaluation
    val_loss: list = field(default_factory=list)
    val_acc: list = field(default_factory=list)  # empty for a regression loss
    seconds: float = 0.0  # wall time of the whole loop (varies from machine to machine)

    def summary(self) -> str:
        """One line with the final numbers, rounded so that they reproduce."""
        text = f"{self.step[-1]} steps, final training loss {self.loss[-1]:.3f}"
        if self.val_loss:
            text += f", held-out loss {self.val_loss[-1]:.3f}"
        if self.val_acc:
            text += f", held-out accuracy {self.val_acc[-1]:.1%}"
        return text


IGNORE = -100  # a target to skip, as in F.cross_entropy's ignore_index


def accuracy(logits, targets) -> float:
    """Fraction of positions where the largest logit is the target: (..., V) vs (...).

    Targets equal to -100 (``IGNORE``) are skipped, as ``F.cross_entropy`` skips them.
    """
    check_tensor("logits", logits)
    if logits.shape[:-1] != targets.shape:
        raise ValueError(f"logits (..., V) and targets (...) must agree: got logits "
                         f"{shape_str(logits.shape)}, targets {shape_str(targets.shape)}")
    counted = targets != IGNORE
    if not counted.any():
        raise ValueError(f"every target is {IGNORE} (ignored): nothing to score")
    return (logits.argmax(-1) == targets)[counted].float().mean().item()


def _loss_fn(loss):
    if callable(loss):
        return loss
    if loss == "cross_entropy":  # logits (..., V), targets (...) of class indices
        return lambda out, y: F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))
    if loss == "mse":
        return F.mse_loss
    raise ValueError(f"loss must be 'cross_entropy', 'mse' or a function, got {loss!r}")


def _count(X):
    return X[0].shape[0] if isinstance(X, (tuple, list)) else X.shape[0]


def _shapes(X):
    return ", ".join(shape_str(x.shape) for x in X) if isinstance(X, (tuple, list)) \
        else shape_str(X.shape)


def _select(X, idx):
    return tuple(x[idx] for x in X) if isinstance(X, (tuple, list)) else X[idx]


def _forward(model, x):
    out = model(*x) if isinstance(x, (tuple, list)) else model(x)
    return out[0] if isinstance(out, tuple) else out  # modules that attend also return weights


def fit(model, train, val=None, *, steps=200, lr=1e-2, batch_size=None, loss="cross_entropy",
        eval_every=None, weight_decay=0.0, warmup=0, decay=None, desc="training",
        progress=True) -> History:
    """Train ``model`` on ``train = (X, Y)`` with AdamW for ``steps`` steps; return a History.

    model: maps X (B, ...) to outputs (or to a tuple whose first item is the outputs)
    train, val: pairs (X, Y) with the same first dimension B; X may be a tuple of
          tensors for a model with several inputs, called as model(*X)
    batch_size: None trains on the whole set at every step (fastest for tiny data)
    loss: 'cross_entropy' (outputs are logits (..., V), Y holds class indices (...)),
          'mse', or a function (outputs, Y) -> scalar
    eval_every: steps between held-out evaluations (default: 10 evaluations in all)
    warmup: steps over which the learning rate climbs linearly from lr/warmup to lr
    decay: None keeps lr after the warm-up; 'cosine' lowers it along half a cosine to 0
          at the last step (warm-up + cosine decay, the schedule of most recent models)
    """
    X, Y = train
    if _count(X) != Y.shape[0]:
        raise ValueError(f"X and Y need the same number of examples: got X "
                         f"{_shapes(X)}, Y {shape_str(Y.shape)}")
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    if not isinstance(warmup, int) or not 0 <= warmup < steps:
        raise ValueError(f"warmup must be an int from 0 to steps - 1 = {steps - 1}, got {warmup!r}")
    if decay not in (None, "cosine"):
        raise ValueError(f"decay must be None or 'cosine', got {decay!r}")
    loss_fn = _loss_fn(loss)
    eval_every = eval_every or max(1, steps // 10)
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda i: learning_rate_factor(i + 1, steps, warmup, decay))
    history = History()
    start = time.perf_counter()
    bar, shown = _progress_bar(steps, desc, progress)
    model.train()
    for step in bar:
        if batch_size is None:
            xb, yb = X, Y
        else:
            idx = torch.randint(0, Y.shape[0], (batch_size,))
            xb, yb = _select(X, idx), Y[idx]
        batch_loss = loss_fn(_forward(model, xb), yb)
        optimiser.zero_grad(set_to_none=True)
        batch_loss.backward()
        optimiser.step()
        schedule.step()
        history.step.append(step)
        history.loss.append(batch_loss.item())
        if val is not None and (step % eval_every == 0 or step == steps):
            _evaluate(model, val, loss_fn, loss == "cross_entropy", step, history)
            bar.set_postfix(loss=f"{history.loss[-1]:.3f}", val_loss=f"{history.val_loss[-1]:.3f}")
    model.eval()
    history.seconds = time.perf_counter() - start
    bar.close()
    if shown is not None:
        shown.update(bar.container)  # the stored notebook then shows the finished bar, not 0%
    return history


def learning_rate_factor(step: int, steps: int, warmup: int = 0, decay=None) -> float:
    """The factor on the base learning rate at ``step`` (1-based) of ``steps``.

    >>> [round(learning_rate_factor(s, 5, warmup=2, decay="cosine"), 2) for s in range(1, 6)]
    [0.5, 1.0, 0.75, 0.25, 0.0]
    """
    if step <= warmup:
        return step / warmup
    if decay == "cosine":
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / (steps - warmup)))
    return 1.0


def _progress_bar(steps, desc, enabled):
    """tqdm's bar (a widget in a notebook, text elsewhere) and, in a notebook, its display.

    A notebook keeps the text copy of a widget from the moment it was first displayed;
    ``fit`` refreshes that display when training ends.
    """
    in_notebook = issubclass(tqdm, tqdm_notebook) and enabled
    bar = tqdm(range(1, steps + 1), desc=desc, disable=not enabled, mininterval=0.25,
               **({"display": False} if in_notebook else {}))
    if not in_notebook:
        return bar, None
    from IPython.display import display

    return bar, display(bar.container, display_id=True)


@torch.no_grad()
def _evaluate(model, val, loss_fn, classify, step, history):
    model.eval()
    out = _forward(model, val[0])
    history.val_step.append(step)
    history.val_loss.append(loss_fn(out, val[1]).item())
    if classify:
        history.val_acc.append(accuracy(out, val[1]))
    model.train()
