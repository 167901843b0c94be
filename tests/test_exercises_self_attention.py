"""Notebook 02's training-loop exercises: check_train_step, check_batch, check_evaluate and
check_fit (the piece ``fit``), each named mistake with its own test, and the learner's fit
kept and handed to later notebooks by helpers.yours."""

import pytest

import helpers
from helpers import exercises, yours
from notebook_cells import notebook_cell

SOLUTION = '''
import torch
from torch.nn import functional as F
from helpers.training import History


def my_train_step(model, optimiser, xb, yb):
    logits = model(xb)[0]  # (B, T, V)
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), yb.reshape(-1))
    optimiser.zero_grad()
    loss.backward()
    optimiser.step()
    return loss.item()


def my_batch(X, Y, batch_size, generator):
    idx = torch.randint(0, X.shape[0], (batch_size,), generator=generator)  # (batch_size,)
    return X[idx], Y[idx]


def my_evaluate(model, X, Y):
    model.eval()
    with torch.no_grad():
        logits = model(X)[0]  # (N, T, V)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), Y.reshape(-1))
        scored = Y != -100  # (N, T)
        accuracy = (logits.argmax(-1) == Y)[scored].float().mean()
    model.train()
    return loss.item(), accuracy.item()


def my_fit(model, train, val=None, *, steps=200, lr=1e-2, batch_size=None, eval_every=None,
           desc=None, seed=0):
    X, Y = train
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    eval_every = eval_every or max(1, steps // 10)
    history = History()
    model.train()
    for step in range(1, steps + 1):
        xb, yb = (X, Y) if batch_size is None else my_batch(X, Y, batch_size, generator)
        history.step.append(step)
        history.loss.append(my_train_step(model, optimiser, xb, yb))
        if val is not None and (step % eval_every == 0 or step == steps):
            val_loss, val_acc = my_evaluate(model, *val)
            history.val_step.append(step)
            history.val_loss.append(val_loss)
            history.val_acc.append(val_acc)
    model.eval()
    return history
'''


@pytest.fixture()
def notebook(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_PROGRESS", str(tmp_path / "progress.json"))
    return notebook_cell(SOLUTION, {"__name__": "__main__"})


def mistake(notebook, old, new):
    """The solution with one line changed: ``old`` (which must occur) becomes ``new``."""
    assert old in SOLUTION, old
    return notebook_cell(SOLUTION.replace(old, new), dict(notebook))


# -- one step -------------------------------------------------------------------------------
def test_the_solution_step_passes(notebook):
    result = exercises.check_train_step(notebook["my_train_step"])
    assert result.passed, result.message


@pytest.mark.parametrize("old, new, named", [
    ("    optimiser.zero_grad()\n    loss.backward()", "    loss.backward()",
     "forgot optimiser.zero_grad()"),
    ("    optimiser.step()\n    return loss.item()", "    return loss.item()",
     "forgot optimiser.step()"),
    ("    optimiser.zero_grad()\n    loss.backward()\n    optimiser.step()",
     "    loss.backward()\n    optimiser.zero_grad()\n    optimiser.step()",
     "zero_grad() after backward()"),
    ("    optimiser.zero_grad()\n    loss.backward()\n    optimiser.step()",
     "    optimiser.step()\n    optimiser.zero_grad()\n    loss.backward()",
     "ran before loss.backward()"),
    ("F.cross_entropy(logits.reshape(-1, logits.shape[-1]), yb.reshape(-1))",
     "F.cross_entropy(logits, yb)", "reshape the (B, T, V) logits"),
    ("    logits = model(xb)[0]  # (B, T, V)", "    logits = model(xb)",
     "take the logits, out[0]"),
    ("    return loss.item()\n\n\ndef my_batch", "    return loss\n\n\ndef my_batch",
     "Return loss.item(), a float"),
])
def test_each_step_mistake_is_named(notebook, old, new, named):
    wrong = mistake(notebook, old, new)
    result = exercises.check_train_step(wrong["my_train_step"])
    assert not result.passed and named in result.message, result.message


def test_a_stub_step_is_not_done(notebook):
    result = exercises.check_train_step(lambda model, optimiser, xb, yb: None)
    assert not result.passed and "Not done yet" in result.message


# -- a batch --------------------------------------------------------------------------------
def test_the_solution_batch_passes_and_so_does_a_permutation(notebook):
    assert exercises.check_batch(notebook["my_batch"]).passed
    wrong = mistake(notebook, "idx = torch.randint(0, X.shape[0], (batch_size,), generator=generator)",
                    "idx = torch.randperm(X.shape[0], generator=generator)[:batch_size]")
    assert exercises.check_batch(wrong["my_batch"]).passed


@pytest.mark.parametrize("old, new, named", [
    ("    return X[idx], Y[idx]",
     "    return X[idx], Y[torch.randint(0, X.shape[0], (batch_size,), generator=generator)]",
     "drew the indices of X and Y separately"),
    ("idx = torch.randint(0, X.shape[0], (batch_size,), generator=generator)",
     "idx = torch.randint(0, X.shape[0], (batch_size,))", "generator=generator"),
    ("idx = torch.randint(0, X.shape[0], (batch_size,), generator=generator)",
     "idx = torch.arange(batch_size)", "first batch_size examples"),
    ("idx = torch.randint(0, X.shape[0], (batch_size,), generator=generator)",
     "idx = torch.randint(0, X.shape[0], (batch_size + 1,), generator=generator)",
     "expected xb (8, 3)"),
])
def test_each_batch_mistake_is_named(notebook, old, new, named):
    wrong = mistake(notebook, old, new)
    result = exercises.check_batch(wrong["my_batch"])
    assert not result.passed and named in result.message, result.message


# -- evaluation -----------------------------------------------------------------------------
def test_the_solution_evaluation_passes(notebook):
    result = exercises.check_evaluate(notebook["my_evaluate"])
    assert result.passed, result.message


@pytest.mark.parametrize("old, new, named", [
    ("    with torch.no_grad():\n        logits = model(X)[0]",
     "    if True:\n        logits = model(X)[0]", "torch.no_grad()"),
    ("    model.eval()\n    with", "    with", "model.eval()"),
    ("    model.train()\n    return loss.item(), accuracy.item()",
     "    return loss.item(), accuracy.item()", "stayed in eval mode"),
    ("        accuracy = (logits.argmax(-1) == Y)[scored].float().mean()",
     "        accuracy = (logits.argmax(-1) == Y).float().mean()", "-100"),
    ("    return loss.item(), accuracy.item()", "    return loss, accuracy", "plain floats"),
])
def test_each_evaluation_mistake_is_named(notebook, old, new, named):
    wrong = mistake(notebook, old, new)
    result = exercises.check_evaluate(wrong["my_evaluate"])
    assert not result.passed and named in result.message, result.message


# -- the loop: fit --------------------------------------------------------------------------
def test_the_course_fit_passes_the_check():
    from helpers.exercises.self_attention import check_fit  # unrecorded: keeps nothing
    result = check_fit(helpers.fit)
    assert result.passed, result.message


def test_a_passing_fit_is_kept_and_handed_out(notebook, capsys):
    result = exercises.check_fit(notebook["my_fit"])
    assert result.passed, result.message
    assert "Kept as your fit" in result.message
    text = (yours.yours_dir() / "fit.py").read_text()
    for definition in ("def my_fit", "def my_batch", "def my_train_step", "def my_evaluate"):
        assert definition in text
    capsys.readouterr()
    mine = yours.piece("fit")
    assert capsys.readouterr().out == "Your fit (it passed check_fit).\n"
    assert mine is not helpers.fit and yours.is_yours(mine)


def test_without_a_kept_fit_the_course_fit_is_used(notebook, capsys):
    assert yours.piece("fit") is helpers.fit
    assert capsys.readouterr().out == "The course's fit: yours has not passed check_fit yet.\n"


@pytest.mark.parametrize("old, new, named", [
    ("    optimiser.zero_grad()\n    loss.backward()", "    loss.backward()",
     "forgot optimiser.zero_grad()"),
    ("    optimiser.step()\n    return loss.item()", "    return loss.item()",
     "parameters never learned"),
    ("    optimiser.zero_grad()\n    loss.backward()\n    optimiser.step()",
     "    loss.backward()\n    optimiser.zero_grad()\n    optimiser.step()",
     "parameters never learned"),
    ("    optimiser.zero_grad()\n    loss.backward()", "    optimiser.zero_grad()",
     "call loss.backward()"),
    ("    return X[idx], Y[idx]",
     "    return X[idx], Y[torch.randint(0, X.shape[0], (batch_size,), generator=generator)]",
     "labels of other examples"),
    ("    generator = torch.Generator().manual_seed(seed)",
     "    generator = torch.Generator().manual_seed(seed)\n"
     "    if batch_size is not None:\n        X, Y = my_batch(X, Y, batch_size, generator)",
     "one batch before the loop"),
    ("        xb, yb = (X, Y) if batch_size is None else my_batch(X, Y, batch_size, generator)",
     "        xb, yb = (X, Y) if batch_size is None else my_batch(X, Y, batch_size, "
     "torch.Generator().manual_seed(seed))", "same batch"),
    ("        xb, yb = (X, Y) if batch_size is None else my_batch(X, Y, batch_size, generator)",
     "        xb, yb = X, Y", "random minibatch of 16"),
    ("    with torch.no_grad():\n        logits = model(X)[0]",
     "    if True:\n        logits = model(X)[0]", "gradients on"),
    ("    model.eval()\n    with", "    with", "training mode: model.eval()"),
    ("    model.train()\n    return loss.item(), accuracy.item()",
     "    return loss.item(), accuracy.item()", "went on in eval mode"),
    ("F.cross_entropy(logits.reshape(-1, logits.shape[-1]), yb.reshape(-1))",
     "F.cross_entropy(logits, yb)", "reshape the (B, T, V) logits"),
    ("           desc=None, seed=0):", "           seed=0):", "unexpected keyword"),
    ("        if val is not None and (step % eval_every == 0 or step == steps):",
     "        if False:", "never saw the held-out data"),
    ("            history.val_step.append(step)\n", "", "evaluate at steps"),
])
def test_each_loop_mistake_is_named(notebook, old, new, named):
    from helpers.exercises.self_attention import check_fit  # unrecorded: keeps nothing
    wrong = mistake(notebook, old, new)
    result = check_fit(wrong["my_fit"])
    assert not result.passed and named in result.message, result.message


def test_a_loop_that_does_not_learn_is_caught(notebook):
    from helpers.exercises.self_attention import check_fit
    wrong = mistake(notebook, "torch.optim.AdamW(model.parameters(), lr=lr)",
                    "torch.optim.AdamW(model.parameters(), lr=lr * 1e-4)")
    result = check_fit(wrong["my_fit"])
    assert not result.passed and "does not learn" in result.message, result.message


def test_the_checks_leave_the_global_random_stream_alone(notebook):
    import torch
    from helpers.exercises import self_attention as module
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    for check, name in [(module.check_train_step, "my_train_step"),
                        (module.check_batch, "my_batch"), (module.check_evaluate, "my_evaluate"),
                        (module.check_fit, "my_fit")]:
        assert check(notebook[name]).passed
    assert torch.equal(torch.rand(3), expected)

