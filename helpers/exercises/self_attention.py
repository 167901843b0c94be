"""Exercise checks of Notebook 02, self-attention."""
import math

import torch

from helpers.exercises._common import Check, _diagnose, _projections
from helpers.yours import builds


def check_self_attention(self_attention):
    """Exercise: ``self_attention(x, w_q, w_k, w_v)`` with three nn.Linear maps."""
    w_q, w_k, w_v = _projections()
    x = torch.randn(2, 5, 9, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        q, k, v = w_q(x), w_k(x), w_v(x)

        def attend(q, k, v, scale=math.sqrt(q.shape[-1]), dim=-1):
            return torch.softmax(q @ k.transpose(-2, -1) / scale, dim=dim) @ v

        mistakes = {
            "Your values are the raw inputs: pass x through w_v first.": attend(q, k, x),
            "Your keys come from w_q: use w_k for the keys.": attend(q, q, v),
            "Your queries and keys are the raw inputs: project them with w_q and w_k.":
                attend(x, x, v),
            "You forgot to divide the scores by √d_k.": attend(q, k, v, scale=1.0),
            "You divided by d_k, not √d_k.": attend(q, k, v, scale=q.shape[-1]),
            "Softmax over the wrong axis: normalise each query's row (dim=-1).":
                attend(q, k, v, dim=-2),
        }
        got = self_attention(x.clone(), w_q, w_k, w_v)
        return _diagnose(got, attend(q, k, v), mistakes,
                         "Self-attention with learned queries, keys and values.")


def check_parameter_count(answer, d_model, d_k, d_v):
    """Exercise: the parameters of SelfAttention(d_model, d_k, d_v), biases included."""
    right = d_model * d_k * 2 + d_model * d_v + 2 * d_k + d_v
    if answer is None:
        return Check(False, "Not done yet: set your answer to an int.")
    if answer == right:
        return Check(True, f"{right} parameters: three weight matrices and three biases.")
    if answer == right - 2 * d_k - d_v:
        return Check(False, "You forgot the biases: each Linear has one per output feature.")
    if answer == 3 * d_model * d_k + 3 * d_k:
        return Check(False, f"The value map has d_v={d_v} outputs, not d_k={d_k}.")
    if answer in (d_model * d_k + d_k, d_model * d_k):
        return Check(False, "You counted one map; there are three (queries, keys, values).")
    return Check(False, f"{answer} is not it. Count each Linear as in_features × "
                        "out_features weights plus out_features biases.")


def check_cross_attention(cross_attention):
    """Exercise: ``cross_attention(attn, x, context)``: queries from x, keys/values from context."""
    from helpers.attention import SelfAttention

    with torch.random.fork_rng():  # the learner's random stream is left as it was
        torch.manual_seed(0)
        attn = SelfAttention(8, 8, 4)
    g = torch.Generator().manual_seed(0)
    x, context = torch.randn(2, 3, 8, generator=g), torch.randn(2, 7, 8, generator=g)
    with torch.no_grad():
        expected, _ = attn(x, context)
        swapped, _ = attn(context, x)
        self_only, _ = attn(x)
        got = cross_attention(attn, x.clone(), context.clone())
    mistakes = {
        "Your output has one row per context token: the queries must come from x "
        "(attn(x, context)), the keys and values from the context.": swapped,
        "That is self-attention over x: pass the context as the second argument.": self_only,
    }
    return _diagnose(got, expected, mistakes,
                     "One output row per query in x, each a mix of the context's values.")


# -- The training loop (notebook 02 §4): one step, a batch, an evaluation, then fit ----------
# Every check builds its own tiny model and data from fixed seeds: a token-wise task,
# y_t = (x_t + 1) mod V, that an embedding and a read-out learn in a few dozen steps.
# T = 4 and V = 5 differ, so cross_entropy on (B, T, V) logits without a reshape raises
# instead of silently scoring the wrong axis.
_V, _T = 5, 4


def _task(n, seed):
    g = torch.Generator().manual_seed(seed)
    X = torch.randint(0, _V, (n, _T), generator=g)  # (n, T)
    return X, (X + 1) % _V  # (n, T)


class _Spy(torch.nn.Module):
    """A tiny model (embedding -> read-out) that notes how it is called: the batch sizes,
    whether gradients were on, whether it was in training mode; and, from the gradient
    that flows back into its logits, which targets the loss used (cross-entropy's gradient
    is softmax − one_hot(target): the target is the only negative entry of each row)."""

    def __init__(self, seed=0, width=8):
        super().__init__()
        with torch.random.fork_rng():  # the learner's random stream is left as it was
            torch.manual_seed(seed)
            self.embed = torch.nn.Embedding(_V, width)
            self.readout = torch.nn.Linear(width, _V)
        self.calls = []  # one dict per forward call
        self.fresh = 0  # backward passes that reached the parameters
        self.accumulated = 0  # ... that found an old gradient still in .grad
        for p in self.parameters():
            p.register_hook(self._note_fresh(p))
            p.register_post_accumulate_grad_hook(self._note_accumulated)

    def _note_fresh(self, p):
        def hook(grad):
            p._fresh_grad = grad.detach().clone()
        return hook

    def _note_accumulated(self, p):
        self.fresh += 1
        if not torch.allclose(p.grad, p._fresh_grad, atol=1e-7):
            self.accumulated += 1

    def forward(self, idx):  # idx (B, T) -> logits (B, T, V), and a second output as ours have
        call = dict(n=idx.shape[0], x=idx.detach().clone(), grad=torch.is_grad_enabled(),
                    training=self.training, targets=None)
        self.calls.append(call)
        logits = self.readout(self.embed(idx))  # (B, T, V)
        if logits.requires_grad:
            logits.register_hook(lambda g: call.update(targets=g.argmin(-1)))
        return logits, None


def _call(function, *args, **kwargs):
    """``function(*args, **kwargs)``, or a Check that names what went wrong in it."""
    try:
        return function(*args, **kwargs), None
    except Exception as error:  # the learner's code: any error is theirs to see, named if known
        kind, text = type(error).__name__, str(error)
    if "not tuple" in text or "'tuple' object has no attribute" in text:
        return None, Check(False, "The model returns a pair (logits, weights), as the "
                                  "course's models do: take the logits, out[0].")
    if "unexpected keyword argument" in text:
        return None, Check(False, f"{text}: accept the keywords the notebooks pass "
                                  "(steps, lr, batch_size, eval_every, desc).")
    if "Expected target size" in text or "Expected input batch_size" in text:
        return None, Check(False, "cross_entropy takes logits (N, V) and targets (N,): "
                                  "reshape the (B, T, V) logits to (B·T, V) and the (B, T) "
                                  "targets to (B·T,) first. (Passed as they are, it reads "
                                  "dim 1, the positions, as the classes.)")
    if "modified by an inplace operation" in text:
        return None, Check(False, "optimiser.step() ran before loss.backward(): it changed "
                                  "the weights that backward still needed. The order is "
                                  "zero_grad(), backward(), step().")
    return None, Check(False, f"Calling your function failed: {kind}: {text}")


def _cross_entropy(logits, Y):  # logits (n, T, V), Y (n, T)
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), Y.reshape(-1))


class _SpyAdamW(torch.optim.AdamW):
    """AdamW that notes, at each step, what .grad held."""

    def __init__(self, params, **kwargs):
        super().__init__(params, **kwargs)
        self.seen = []  # the gradients each step() found

    def step(self, closure=None):
        self.seen.append([None if p.grad is None else p.grad.detach().clone()
                          for group in self.param_groups for p in group["params"]])
        return super().step(closure)


def check_train_step(train_step):
    """Exercise: ``train_step(model, optimiser, xb, yb)``: one step of training on a batch
    (forward, cross-entropy over every position, zero_grad, backward, step); returns the
    batch's loss as a float."""
    X, Y = _task(16, seed=1)
    model = _Spy(seed=2)
    optimiser = _SpyAdamW(model.parameters(), lr=0.1)
    stale = [torch.full_like(p, 0.5) for p in model.parameters()]
    for p, s in zip(model.parameters(), stale):  # left over from an earlier step
        p.grad = s.clone()
    twin = _Spy(seed=2)  # the same weights, for the expected loss and gradients
    expected_loss = _cross_entropy(twin(X)[0], Y)
    fresh = torch.autograd.grad(expected_loss, list(twin.parameters()))
    before = [p.detach().clone() for p in model.parameters()]
    loss, error = _call(train_step, model, optimiser, X.clone(), Y.clone())
    if error is not None:
        return error
    if loss is None:
        return Check(False, "Not done yet: your function returned None. Return the batch's "
                            "loss as a number: loss.item().")
    if isinstance(loss, torch.Tensor):
        return Check(False, "Return loss.item(), a float: a tensor would keep the whole "
                            "graph of the step alive in the history.")
    if not optimiser.seen:
        if all(torch.equal(a, b.detach()) for a, b in zip(before, model.parameters())):
            return Check(False, "The parameters did not change: you forgot optimiser.step().")
        return Check(False, "Use the optimiser you are given: optimiser.step().")
    if len(optimiser.seen) > 1:
        return Check(False, f"optimiser.step() ran {len(optimiser.seen)} times: once per step.")
    seen = optimiser.seen[0]
    if all(g is None or not g.any() for g in seen):
        return Check(False, "At optimiser.step() every gradient was zero: you called "
                            "zero_grad() after backward(). The order is zero_grad(), "
                            "backward(), step().")
    if all(g is not None and torch.allclose(g, s) for g, s in zip(seen, stale)):
        return Check(False, "optimiser.step() ran before loss.backward(): it used the "
                            "previous step's gradients. The order is zero_grad(), "
                            "backward(), step().")
    if all(g is not None and torch.allclose(g, f + s, atol=1e-6)
           for g, f, s in zip(seen, fresh, stale)):
        return Check(False, "You forgot optimiser.zero_grad(): backward() adds to .grad, so "
                            "the previous step's gradients were still in it.")
    if not all(g is not None and torch.allclose(g, f, atol=1e-6) for g, f in zip(seen, fresh)):
        return Check(False, "The gradients at optimiser.step() are not those of the mean "
                            "cross-entropy over every position of the batch.")
    if not math.isclose(float(loss), expected_loss.item(), rel_tol=1e-5, abs_tol=1e-6):
        return Check(False, f"You returned {float(loss):.4f}; the batch's loss before the "
                            f"step was {expected_loss.item():.4f}.")
    return Check(True, "One step: forward, loss over every position, zero_grad, backward, "
                       "step; the loss comes back as a float.")


def check_batch(batch):
    """Exercise: ``batch(X, Y, batch_size, generator)``: a random minibatch (xb, yb) of
    ``batch_size`` examples, drawn with ``generator``, the labels still those of xb."""
    n = 50
    X = torch.arange(n)[:, None].repeat(1, 3)  # (n, 3): example i is [i, i, i]
    Y = torch.arange(n) + 1000  # (n,): its label is i + 1000

    def draw(seed, global_seed):
        torch.manual_seed(global_seed)
        return _call(batch, X, Y, 8, torch.Generator().manual_seed(seed))

    with torch.random.fork_rng():  # the learner's random stream is left as it was
        (first, error), (again, _), (other, _) = draw(0, 1), draw(0, 2), draw(1, 1)
    if error is not None:
        return error
    if first is None:
        return Check(False, "Not done yet: your function returned None. Return the pair "
                            "(xb, yb).")
    if not (isinstance(first, tuple) and len(first) == 2):
        return Check(False, "Return a pair (xb, yb).")
    xb, yb = first
    if tuple(xb.shape) != (8, 3) or tuple(yb.shape) != (8,):
        return Check(False, f"With batch_size 8, expected xb (8, 3) and yb (8,); got "
                            f"xb {tuple(xb.shape)}, yb {tuple(yb.shape)}.")
    if not torch.equal(yb, xb[:, 0] + 1000):
        return Check(False, "The labels do not belong to their examples: you drew the "
                            "indices of X and Y separately (two randint or randperm calls). "
                            "Draw one index tensor and use it for both: X[idx], Y[idx].")
    if torch.equal(xb[:, 0], torch.arange(8)):
        return Check(False, "That is the first batch_size examples, every time: draw random "
                            "indices, torch.randint(0, n, (batch_size,), generator=generator), n = len(X).")
    if not torch.equal(again[0], xb):
        return Check(False, "The same generator gave a different batch after the global "
                            "seed changed: draw with generator=generator, so that training "
                            "reproduces and leaves the global random stream alone.")
    if torch.equal(other[0], xb):
        return Check(False, "Two generators with different seeds gave the same batch: the "
                            "batch must come from the generator.")
    return Check(True, "A random minibatch from its own generator, each label with its "
                       "example.")


def check_evaluate(evaluate):
    """Exercise: ``evaluate(model, X, Y)``: (loss, accuracy) on held-out data, as floats,
    with gradients off and the model in eval mode, back in training mode afterwards;
    targets of -100 are not scored."""
    X, Y = _task(40, seed=3)
    Y = Y.masked_fill(torch.arange(_T) == 0, -100)  # position 0 is never scored
    model = _Spy(seed=4)
    model.train()
    result, error = _call(evaluate, model, X.clone(), Y.clone())
    if error is not None:
        return error
    if result is None:
        return Check(False, "Not done yet: your function returned None. Return the pair "
                            "(loss, accuracy).")
    if not (isinstance(result, tuple) and len(result) == 2):
        return Check(False, "Return a pair (loss, accuracy), two floats.")
    if not model.calls:
        return Check(False, "Your function never called the model.")
    call = model.calls[-1]
    if call["grad"]:
        return Check(False, "The model ran with gradients on: evaluation never calls "
                            "backward, so wrap it in torch.no_grad() (no graph is built, "
                            "and no memory spent on one).")
    if call["training"]:
        return Check(False, "The model was in training mode during evaluation: call "
                            "model.eval() first (dropout off, as later models have it).")
    if not model.training:
        return Check(False, "The model stayed in eval mode: call model.train() before "
                            "returning, or the next training steps run without dropout.")
    loss, accuracy = result
    if isinstance(loss, torch.Tensor) or isinstance(accuracy, torch.Tensor):
        return Check(False, "Return plain floats: loss.item(), accuracy.item().")
    with torch.no_grad():
        logits = model.readout(model.embed(X))  # (n, T, V)
        right_loss = _cross_entropy(logits, Y).item()
        hits = logits.argmax(-1) == Y  # (n, T)
        right_acc = hits[Y != -100].float().mean().item()
        all_acc = hits.float().mean().item()
    if not math.isclose(float(accuracy), right_acc, abs_tol=1e-6) and \
            math.isclose(float(accuracy), all_acc, abs_tol=1e-6):
        return Check(False, "Your accuracy counts the positions whose target is -100: they "
                            "are not scored (cross_entropy skips them too). Keep Y != -100.")
    if not math.isclose(float(loss), right_loss, rel_tol=1e-5, abs_tol=1e-6):
        return Check(False, f"Your loss is {float(loss):.4f}; the mean cross-entropy over the "
                            f"scored positions is {right_loss:.4f}.")
    if not math.isclose(float(accuracy), right_acc, abs_tol=1e-6):
        return Check(False, f"Your accuracy is {float(accuracy):.4f}; the fraction of scored "
                            f"positions where the largest logit is the target is "
                            f"{right_acc:.4f}.")
    return Check(True, "Held-out loss and accuracy, without a graph, in eval mode, and the "
                       "model back in training mode.")


@builds("fit", "helpers.training:fit")
def check_fit(fit):
    """Exercise: ``fit(model, train, val=None, *, steps=200, lr=1e-2, batch_size=None,
    eval_every=None, desc=None)``: AdamW for ``steps`` steps on random minibatches of
    ``train = (X, Y)``, an evaluation on ``val`` every ``eval_every`` steps (and at the
    last); returns a ``helpers.training.History`` (``step``, ``loss``, ``val_step``,
    ``val_loss``, ``val_acc``), the interface of ``helpers.fit`` that notebooks 02-03 use.

    It trains a tiny model that notes how it is called, on a task it learns in a few dozen
    steps, and names the usual mistakes of a training loop."""
    if fit is None or not callable(fit):
        return Check(False, "Not done yet: define your fit function and pass it.")
    train, val = _task(64, seed=5), _task(48, seed=6)
    steps, batch_size, every = 40, 16, 10
    model = _Spy(seed=7)
    before = [p.detach().clone() for p in model.parameters()]
    with torch.random.fork_rng():  # the learner's random stream is left as it was
        torch.manual_seed(8)
        history, error = _call(fit, model, train, val, steps=steps, lr=0.05,
                               batch_size=batch_size, eval_every=every, desc="check_fit")
    if error is not None:
        return error
    if history is None:
        return Check(False, "Not done yet: your function returned None. Return the History.")
    training = [c for c in model.calls if c["n"] != val[0].shape[0]]
    evaluations = [c for c in model.calls if c["n"] == val[0].shape[0]]
    if not training:
        return Check(False, "The model was never called on the training data.")
    if any(c["n"] != batch_size for c in training):
        sizes = sorted({c["n"] for c in training})
        return Check(False, f"With batch_size={batch_size} each step must see a random "
                            f"minibatch of {batch_size} examples; the model saw batches of "
                            f"{sizes}.")
    if len(training) != steps:
        return Check(False, f"{steps} steps should call the model {steps} times on training "
                            f"batches; it was called {len(training)} times.")
    if all(torch.equal(c["x"], training[0]["x"]) for c in training):
        return Check(False, "Every step saw the same batch: draw a new one inside the loop "
                            "(one generator, created once before it).")
    distinct = len({tuple(row) for c in training for row in c["x"].tolist()})
    if distinct <= batch_size:
        return Check(False, f"In {steps} steps the model only ever saw {distinct} different "
                            f"examples of the {train[0].shape[0]}: you drew one batch before "
                            "the loop. Draw a new one at every step, from all of X.")
    if model.fresh == 0:
        return Check(False, "No gradient ever reached the parameters: call loss.backward().")
    if model.accumulated:
        return Check(False, "You forgot optimiser.zero_grad(): backward() adds to .grad, so "
                            "each step also used the gradients of all the steps before.")
    after = list(model.parameters())
    if all(torch.allclose(a, b, atol=1e-6) for a, b in zip(after, before)) or \
            _only_shrunk(before, after):
        return Check(False, "The parameters never learned: optimiser.step() must run after "
                            "loss.backward(), with the gradients still in .grad (zero_grad "
                            "before backward, not between backward and step).")
    labelled = [c for c in training if c["targets"] is not None]
    if labelled and any(not torch.equal(c["targets"], (c["x"] + 1) % _V) for c in labelled):
        return Check(False, "The loss compared each batch with the labels of other examples: "
                            "index X and Y with the same indices.")
    if not evaluations:
        return Check(False, "The model never saw the held-out data: evaluate on val every "
                            "eval_every steps.")
    if any(c["grad"] for c in evaluations):
        return Check(False, "The evaluation ran with gradients on: wrap it in torch.no_grad().")
    if any(c["training"] for c in evaluations):
        return Check(False, "The evaluation ran in training mode: model.eval() first.")
    first_eval = next(i for i, c in enumerate(model.calls) if c is evaluations[0])
    if any(not c["training"] for c in model.calls[first_eval:] if c["n"] == batch_size):
        return Check(False, "After the first evaluation training went on in eval mode: call "
                            "model.train() again when the evaluation is done.")
    missing = [name for name in ("step", "loss", "val_step", "val_loss", "val_acc")
               if not isinstance(getattr(history, name, None), list)]
    if missing:
        return Check(False, f"Return a helpers.training.History; yours has no list "
                            f"{', '.join(missing)}.")
    if len(history.loss) != steps or len(history.step) != steps:
        return Check(False, f"history.step and history.loss need one entry per step "
                            f"({steps}); got {len(history.step)} and {len(history.loss)}.")
    if not all(isinstance(v, float) for v in history.loss + history.val_loss + history.val_acc):
        return Check(False, "Keep plain floats in the history (loss.item()), not tensors.")
    wanted = list(range(every, steps + 1, every))
    if history.val_step != wanted or len(history.val_acc) != len(wanted) \
            or len(history.val_loss) != len(wanted):
        return Check(False, f"With steps={steps} and eval_every={every}, evaluate at steps "
                            f"{wanted} (val_step, val_loss and val_acc one entry each); got "
                            f"val_step {history.val_step}, {len(history.val_acc)} accuracies.")
    if not history.loss[-1] < 0.5 * history.loss[0] or history.val_acc[-1] < 0.9:
        return Check(False, f"It runs, but does not learn this easy task: loss "
                            f"{history.loss[0]:.3f} -> {history.loss[-1]:.3f}, held-out "
                            f"accuracy {history.val_acc[-1]:.1%} (the course's fit: > 90%).")
    quiet = _Spy(seed=9)  # without held-out data, and with the whole set at every step
    alone, error = _call(fit, quiet, train, steps=3, lr=0.05)
    if error is not None:
        return error
    if any(c["n"] != train[0].shape[0] for c in quiet.calls) or len(alone.loss) != 3:
        return Check(False, "With batch_size=None every step uses the whole training set, "
                            "and val=None means no evaluation.")
    return Check(True, f"Your loop trains (loss {history.loss[0]:.2f} -> "
                       f"{history.loss[-1]:.2f}, held-out accuracy {history.val_acc[-1]:.0%}), "
                       "with fresh gradients at every step, aligned minibatches and an honest "
                       "evaluation.")


def _only_shrunk(before, after):
    """Whether every parameter only shrank by one common factor (AdamW's weight decay with
    zero gradients: the loop stepped, but never with a gradient)."""
    ratios = [(a.detach() / b).flatten() for a, b in zip(after, before)]
    ratio = torch.cat(ratios)
    return bool(torch.allclose(ratio, ratio[0].expand_as(ratio), atol=1e-5))
