"""Exercise checks of Notebook 07, training deep encoders: the warm-up + cosine learning-rate
schedule, the learner's training loop grown to use it (``my_scheduled_fit``, the piece
"scheduled_fit" that trains the models of notebooks 07-16), and label-smoothed
cross-entropy by hand (the training recipe of section 6)."""
import math

import torch

from helpers.exercises._common import Check
from helpers.exercises.self_attention import _call, _Spy, _task
from helpers.exercises.self_attention import check_fit as _check_fit_of_02
from helpers.yours import builds


# -- the learning-rate schedule ------------------------------------------------------------
def _cosine(p):
    return 0.5 * (1 + math.cos(math.pi * p))


def check_lr_factor(lr_factor):
    """Exercise: ``lr_factor(step, steps, warmup)``, the factor on the base learning rate at
    ``step`` (counted from 1 to ``steps``): a linear warm-up to 1 at ``step = warmup`` (from
    1 / warmup at step 1), then half a cosine down to 0 at the last step; ``warmup=0`` means
    no warm-up. helpers.training.learning_rate_factor(step, steps, warmup, "cosine")."""
    from helpers.training import learning_rate_factor

    def table(f, steps, warmup):
        return [f(s, steps, warmup) for s in range(1, steps + 1)]

    def decay_from(p_of):  # warm-up as it should be, then a cosine of p_of(s, steps, w)
        return lambda s, n, w: s / w if s <= w else _cosine(p_of(s, n, w))

    mistakes = {
        "Your step 1 gets factor 0, a step that learns nothing: steps count from 1 here, so "
        "the warm-up gives step / warmup (1 / warmup at step 1, 1.0 at step = warmup).":
            lambda s, n, w: learning_rate_factor(s - 1, n, w, "cosine") if s > 1 else 0.0,
        "Your warm-up reaches the full rate one step early: step / warmup, not "
        "(step + 1) / warmup (steps count from 1 here).":
            lambda s, n, w: min(1.0, (s + 1) / w) if s <= w else _cosine((s - w) / (n - w)),
        "There is no warm-up: the factor climbs linearly, step / warmup, for the first "
        "warmup steps.": lambda s, n, w: _cosine(s / n),
        "There is no decay: after the warm-up the factor goes down along half a cosine, "
        "0.5·(1 + cos(π·p)), to 0 at the last step.": lambda s, n, w: min(1.0, s / w),
        "Your decay does not reach 0 at the last step: p = (step - warmup) / (steps - "
        "warmup) runs from 0 to 1 over the decay.": decay_from(lambda s, n, w: (s - w) / n),
        "Your cosine counts from step 0, not from the end of the warm-up, so the rate "
        "jumps down when the warm-up ends: p = (step - warmup) / (steps - warmup).":
            decay_from(lambda s, n, w: s / n),
        "You wrote cos(π·p), which goes from 1 to -1: a negative learning rate. Use "
        "0.5·(1 + cos(π·p)), from 1 to 0.":
            lambda s, n, w: s / w if s <= w else math.cos(math.pi * (s - w) / (n - w)),
        "Your cosine makes a whole period, back up to the full rate at the end: half a "
        "period, 0.5·(1 + cos(π·p)) with p from 0 to 1.":
            lambda s, n, w: s / w if s <= w else _cosine(2 * (s - w) / (n - w)),
        "Your decay is linear, 1 - p; this schedule decays along half a cosine, "
        "0.5·(1 + cos(π·p)).": lambda s, n, w: s / w if s <= w else 1 - (s - w) / (n - w),
    }
    for steps, warmup in [(10, 4), (8, 0)]:
        right = table(lambda s, n, w: learning_rate_factor(s, n, w, "cosine"), steps, warmup)
        try:
            got = table(lr_factor, steps, warmup)
        except ZeroDivisionError:
            return Check(False, f"With warmup={warmup} your function divides by zero: with no "
                                "warm-up, every step is in the decay (step <= warmup is never "
                                "true for step >= 1).")
        except Exception as error:  # the learner's function: any error is theirs to see
            return Check(False, f"Calling your function failed: {type(error).__name__}: {error}")
        if any(f is None for f in got):
            return Check(False, "Not done yet: your function returned None. Return the "
                                "factor, a float.")
        try:
            got = [float(f) for f in got]
        except (TypeError, ValueError):
            return Check(False, f"Return a number (a float), got {type(got[0]).__name__}.")
        close = lambda a, b: all(abs(u - v) < 1e-6 for u, v in zip(a, b))  # noqa: E731
        if close(got, right):
            continue
        for message, wrong in mistakes.items():
            try:
                if close(got, table(wrong, steps, warmup)):
                    return Check(False, message)
            except ZeroDivisionError:  # a mistake that needs a warm-up, with warmup = 0
                continue
        shown = ", ".join(f"{f:.2f}" for f in got)
        return Check(False, f"With steps={steps}, warmup={warmup}: your factors are [{shown}]; "
                            f"expected [{', '.join(f'{f:.2f}' for f in right)}].")
    return Check(True, "Linear warm-up from 1/warmup to 1, then half a cosine to 0 at the "
                       "last step: helpers.training.learning_rate_factor with decay='cosine'.")


# -- Exercise 10: the learner's fit of notebook 02, grown to helpers.fit's interface ---------
_KEYWORDS = ("steps", "lr", "batch_size", "eval_every", "weight_decay", "warmup", "decay",
             "desc", "progress")


class _PairSpy(torch.nn.Module):
    """A model of two inputs, as 07's (source, target so far) and 11's (features, lengths):
    ``forward(idx, first)`` with ``first`` (B,) = idx[:, 0]; it notes whether the two
    arrived as the same rows."""

    def __init__(self, seed=0):
        super().__init__()
        self.inner = _Spy(seed=seed)
        self.aligned = []

    def forward(self, idx, first):  # idx (B, T), first (B,) -> logits (B, T, V), None
        self.aligned.append(first.shape == idx[:, 0].shape and torch.equal(first, idx[:, 0]))
        return self.inner(idx)


class _PlainSpy(torch.nn.Module):
    """A classifier that returns its logits alone, (B, V), as 11's does: no weights."""

    def __init__(self, seed=0):
        super().__init__()
        self.inner = _Spy(seed=seed)
        self.calls = 0

    def forward(self, idx):  # idx (B, T) -> logits (B, V): the first token's read-out
        self.calls += 1
        return self.inner(idx)[0][:, 0]


def _learning_rates(fit, model, train, **kwargs):
    """Run ``fit`` and return ([(optimiser class, lr, weight_decay) at each step], Check|None)."""
    from torch.optim.optimizer import register_optimizer_step_pre_hook

    ours = {id(p) for p in model.parameters()}
    seen = []

    def note(optimiser, args, kwargs):
        group = optimiser.param_groups[0]
        if any(id(p) in ours for p in group["params"]):
            seen.append((type(optimiser).__name__, float(group["lr"]),
                         float(group.get("weight_decay", 0.0))))

    handle = register_optimizer_step_pre_hook(note)
    try:
        with torch.random.fork_rng():  # the learner's random stream is left as it was
            torch.manual_seed(11)
            _, error = _call(fit, model, train, **kwargs)
    finally:
        handle.remove()
    return seen, error


def _schedule_mistake(got, lr, steps, warmup, decay):
    """The named mistake behind the rates ``got`` (one per step), or None if they are right."""
    from helpers.training import learning_rate_factor

    def rates(shift=0, decay=decay):  # warmup > 0 here, so step 0 has the factor 0
        return [lr * learning_rate_factor(s + shift, steps, warmup, decay)
                for s in range(1, steps + 1)]

    close = lambda a, b: len(a) == len(b) and all(  # noqa: E731
        abs(u - v) <= 1e-6 * lr for u, v in zip(a, b))
    if close(got, rates()):
        return None
    if close(got, [lr] * steps):
        return (f"With warmup={warmup} your rate stayed at lr = {lr} from the first step: set "
                "every param group's 'lr' to lr × factor before each optimiser.step() (or use "
                "torch.optim.lr_scheduler.LambdaLR).")
    if close(got, rates(shift=-1)):
        return ("Your first step ran at rate 0, and every step at the factor of the step "
                "before: steps count from 1 (LambdaLR calls its function with 0 before the "
                "first step: use lambda i: factor(i + 1)).")
    if close(got, rates(shift=+1)):
        return ("Your schedule runs one step ahead (step 1 at the factor of step 2): move the "
                "rate after optimiser.step(), as scheduler.step() goes after it.")
    other = "cosine" if decay is None else None
    if close(got, rates(decay=other)):
        return ("With decay='cosine' the rate goes down along half a cosine after the "
                "warm-up, to 0 at the last step: your rate stayed at lr." if decay else
                "With decay=None the rate holds at lr after the warm-up (07's post-norm run "
                "uses that): your rate decayed.")
    shown = ", ".join(f"{r:.4f}" for r in got[:8])
    wanted = ", ".join(f"{r:.4f}" for r in rates()[:8])
    return (f"With steps={steps}, lr={lr}, warmup={warmup}, decay={decay!r} your first rates "
            f"were [{shown}]; expected [{wanted}] (lr × the factor of Exercise 9).")


@builds("scheduled_fit", "helpers.training:fit")
def check_scheduled_fit(fit):
    """Exercise: the learner's notebook-02 loop grown to the interface of ``helpers.fit``
    that notebooks 07-16 train with: ``fit(model, train, val=None, *, steps, lr, batch_size,
    eval_every, weight_decay=0.0, warmup=0, decay=None, desc, progress=True)``, AdamW with
    that weight decay, the rate lr × factor at each step (a linear warm-up, then held, or
    half a cosine to 0 with decay='cosine'), X a tensor or a tuple of tensors (model(*X)),
    and models that return (logits, weights) or the logits alone."""
    import contextlib
    import functools
    import inspect
    import io

    if fit is None or not callable(fit):
        return Check(False, "Not done yet: define your fit function and pass it.")
    try:
        parameters = inspect.signature(fit).parameters
    except (TypeError, ValueError):
        parameters = None
    if parameters is not None and not any(p.kind == p.VAR_KEYWORD for p in parameters.values()):
        missing = [k for k in _KEYWORDS if k not in parameters]
        if missing:
            return Check(False, f"Your fit has no keyword {', '.join(missing)}: the notebooks "
                                f"from here on pass {', '.join(_KEYWORDS)}.")
    quiet = functools.partial(fit, progress=False)
    functools.update_wrapper(quiet, fit)
    base = _check_fit_of_02(quiet)
    if not base.passed:
        return Check(False, f"The loop of notebook 02 first: {base.message}")

    train, val = _task(64, seed=5), _task(48, seed=6)
    lr, steps, warmup = 0.05, 12, 4
    for decay in ("cosine", None):
        seen, error = _learning_rates(fit, _Spy(seed=7), train, steps=steps, lr=lr,
                                      batch_size=16, warmup=warmup, decay=decay,
                                      weight_decay=0.1, progress=False)
        if error is not None:
            return error
        if not seen:
            return Check(False, "No optimiser stepped on the model's parameters.")
        if seen[0][0] != "AdamW":
            return Check(False, f"Your optimiser is {seen[0][0]}: use torch.optim.AdamW, as "
                                "helpers.fit does (its weight decay is the decoupled one).")
        if any(wd != 0.1 for _, _, wd in seen):
            return Check(False, f"With weight_decay=0.1 your AdamW decayed by {seen[0][2]}: pass "
                                "weight_decay=weight_decay to it.")
        if len(seen) != steps:
            return Check(False, f"{steps} steps should call optimiser.step() {steps} times; "
                                f"it ran {len(seen)} times.")
        mistake = _schedule_mistake([rate for _, rate, _ in seen], lr, steps, warmup, decay)
        if mistake:
            return Check(False, mistake)
    seen, error = _learning_rates(fit, _Spy(seed=7), train, steps=3, lr=lr, progress=False)
    if error is not None:
        return error
    if seen and seen[0][2] != 0.0:
        return Check(False, f"Without weight_decay your AdamW decayed by {seen[0][2]} (AdamW's "
                            "own default is 0.01): default to weight_decay=0.0, as helpers.fit "
                            "does, and pass it on.")

    pair = _PairSpy(seed=7)
    pair_train = ((train[0], train[0][:, 0].clone()), train[1])
    pair_val = ((val[0], val[0][:, 0].clone()), val[1])
    try:
        with torch.random.fork_rng():
            history = fit(pair, pair_train, pair_val, steps=30, lr=lr, batch_size=16,
                          eval_every=10, progress=False)
    except Exception as error:  # it ran with one input above: the tuple is what failed
        return Check(False, f"X can be a tuple of inputs, (source, target so far) in 07, "
                            f"(features, lengths) in 11: call model(*xb) with the same rows of "
                            f"each, for the held-out data too. ({type(error).__name__}: "
                            f"{error})")
    if not all(pair.aligned):
        return Check(False, "With X a tuple, the inputs reached the model from different rows: "
                            "index every tensor of the tuple with the same indices.")
    if history is None or not history.val_acc or history.val_acc[-1] < 0.9:
        return Check(False, "With X a tuple the model did not learn (held-out accuracy "
                            f"{history.val_acc[-1] if history and history.val_acc else 0:.0%}).")

    plain = _PlainSpy(seed=7)
    X, Y = train[0], train[1][:, 0]  # classify from the first token: (B,) targets
    try:
        with torch.random.fork_rng():
            fit(plain, (X, Y), (val[0], val[1][:, 0]), steps=5, lr=lr, batch_size=16,
                progress=False)
    except Exception as error:  # the learner's code: any error is theirs to see
        if plain.calls:
            return Check(False, f"A model that returns its logits alone (B, V), as 11's "
                                f"classifier does, failed: out[0] takes the first example's "
                                f"row. Take out[0] only when out is a tuple. ({type(error).__name__}: "
                                f"{error})")
        return Check(False, f"Calling your function failed: {type(error).__name__}: {error}")

    shown = io.StringIO()
    with contextlib.redirect_stderr(shown), contextlib.redirect_stdout(shown):
        _call(fit, _Spy(seed=7), train, steps=3, lr=lr, desc="quiet", progress=False)
    if shown.getvalue().strip():
        return Check(False, "With progress=False your fit still showed something "
                            f"({shown.getvalue().strip()[:60]!r}): 09 trains 24 models in "
                            "one loop, with one bar of its own.")
    return Check(True, "Your loop, grown: AdamW with the weight decay you pass, the rate of "
                       "Exercise 9 at every step (held after the warm-up without decay), "
                       "tuples of inputs and models that return their logits alone. It "
                       "trains the models of notebooks 07-16.")


# -- Exercise 3: label-smoothed cross-entropy by hand ------------------------------------------
def _smoothing_inputs():
    """Logits (n, V) = (6, 5), one row with logits 100 apart (where log(softmax) underflows
    to log 0), and targets (n,)."""
    g = torch.Generator().manual_seed(17)
    logits = 2 * torch.randn(6, 5, generator=g)
    logits[0] = torch.tensor([100.0, 0.0, -100.0, 3.0, 1.0])
    return logits, torch.tensor([0, 4, 1, 1, 3, 2])


def check_label_smoothing(smoothed_cross_entropy):
    """Exercise: ``smoothed_cross_entropy(logits, targets, eps)``: logits (n, V), targets
    (n,) of class indices -> the mean over the n rows of -sum_c q_c log p_c, with the
    smoothed target q = (1 - eps) * one_hot + eps / V and p = softmax(logits). Checked
    against ``F.cross_entropy(logits, targets, label_smoothing=eps)``."""
    import torch.nn.functional as F

    logits, targets = _smoothing_inputs()
    V = logits.shape[-1]

    def smoothed(eps, over=None, log_p=None):  # q . (-log p) with eps spread over `over` classes
        log_p = F.log_softmax(logits, -1) if log_p is None else log_p
        one_hot = F.one_hot(targets, V).float()
        if over == "others":  # eps / (V - 1) on every other class, 1 - eps on the target
            q = (1 - eps) * one_hot + eps / (V - 1) * (1 - one_hot)
        else:
            q = (1 - eps) * one_hot + eps / V
        return -(q * log_p).sum(-1)  # (n,)

    for eps in (0.1, 0.3):
        right = F.cross_entropy(logits, targets, label_smoothing=eps)
        mistakes = {
            "Your loss ignores eps: it is the plain cross-entropy. Mix the one-hot target with "
            "the uniform one: q = (1 - eps)·one_hot + eps / V.":
                F.cross_entropy(logits, targets),
            "You spread eps over the V - 1 other classes (the target keeps exactly 1 - eps); "
            "PyTorch, like the 2017 paper's q, spreads eps / V over all V classes, the target "
            "included, which then gets 1 - eps + eps / V.": smoothed(eps, "others").mean(),
            "You added eps times the sum of -log p over the classes; the uniform part of q "
            "is eps / V per class: eps times the mean of -log p over the V classes.":
                ((1 - eps) * F.cross_entropy(logits, targets, reduction="none")
                 - eps * F.log_softmax(logits, -1).sum(-1)).mean(),
            "You summed over the rows: F.cross_entropy takes the mean over the n rows.":
                smoothed(eps).sum(),
            "You weighted the probabilities, q · p, not the log-probabilities: the loss is "
            "-Σ q_c log p_c, with log p = log_softmax(logits).":
                -(((1 - eps) * F.one_hot(targets, V) + eps / V) * logits.softmax(-1)).sum(-1).mean(),
            "You used the logits as log-probabilities: take log_softmax(logits) first (the "
            "logits are not normalised).": smoothed(eps, log_p=logits).mean(),
            "Your loss is inf (or NaN) on a row whose logits are 100 apart: log(softmax(x)) "
            "rounds a probability of e^-200 to 0 and its log to -inf, which eps / V then "
            "weights. Use F.log_softmax, which computes x - logsumexp(x) without that "
            "rounding.": smoothed(eps, log_p=torch.log(logits.softmax(-1))).mean(),
        }
        try:
            with torch.random.fork_rng():
                got = smoothed_cross_entropy(logits.clone(), targets.clone(), eps)
        except Exception as error:  # the learner's function: any error is theirs to see
            return Check(False, f"Calling your function failed: {type(error).__name__}: {error}")
        if got is None:
            return Check(False, "Not done yet: your function returned None. Return the loss, "
                                "a scalar tensor.")
        if not isinstance(got, torch.Tensor):
            return Check(False, f"Return a torch.Tensor (a scalar), got {type(got).__name__}.")
        got = got.detach().float()
        if got.shape != right.shape:
            return Check(False, f"Return one number, the mean over the rows: a scalar tensor, "
                                f"shape (), got shape {tuple(got.shape)}.")
        if torch.allclose(got, right, atol=1e-5, rtol=1e-5):
            continue
        for message, wrong in mistakes.items():
            if torch.allclose(got, wrong.float(), atol=1e-5, rtol=1e-5, equal_nan=True):
                return Check(False, message)
        return Check(False, f"With eps={eps}: your loss is {got.item():.5f}; F.cross_entropy("
                            f"label_smoothing={eps}) gives {right.item():.5f}.")
    return Check(True, "The mean over the rows of -Σ q·log_softmax(logits), with q = (1 - eps)"
                       "·one_hot + eps / V: the same as F.cross_entropy(label_smoothing=eps).")
