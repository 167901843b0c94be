"""What every notebook's exercise checks share: the ``Check`` result, the comparison
that names a mistake, and fixed inputs drawn from their own generators."""
import functools
import html
import warnings
from dataclasses import dataclass

import torch
from torch import nn

from helpers._checks import shape_str
from helpers import yours
from helpers.progress import Progress
from helpers.reproducibility import FAIL, PASS


@dataclass
class Check:
    passed: bool
    message: str

    def __repr__(self):
        return f"{PASS if self.passed else FAIL} {self.message}"

    def _repr_html_(self):
        """In JupyterLab: the mark, a word and a colour, so the result reads even where a
        font lacks the mark, and without telling green from red."""
        word, colour = ("Passed", "#1a7f37") if self.passed else ("Not yet", "#b3261e")
        return (f'<div class="course-check" style="color: {colour}; font-weight: 500">'
                f'{PASS if self.passed else FAIL} <strong>{word}:</strong> '
                f'{html.escape(self.message)}</div>')

    def __bool__(self):
        return self.passed


def _diagnose(got, expected, mistakes, success):
    """Compare ``got`` with ``expected``, then with each known mistake's result."""
    if got is None:
        return Check(False, "Not done yet: your function returned None. Fill in its body "
                            "and return the result.")
    if isinstance(got, tuple):
        got = got[0]
    if not isinstance(got, torch.Tensor):
        return Check(False, f"Expected a torch.Tensor, got {type(got).__name__}.")
    got = got.detach()
    if got.shape == expected.shape and torch.allclose(got, expected, atol=1e-5, rtol=1e-4):
        return Check(True, success)
    for message, wrong in mistakes.items():
        if got.shape == wrong.shape and torch.allclose(got, wrong, atol=1e-5, rtol=1e-4,
                                                       equal_nan=True):
            return Check(False, message)
    if got.shape != expected.shape:
        return Check(False, f"Wrong shape: expected {shape_str(expected.shape)}, "
                            f"got {shape_str(got.shape)}.")
    if not torch.isfinite(got).all():
        return Check(False, "Your result contains inf or NaN values.")
    diff = (got - expected).abs().max().item()
    return Check(False, f"Right shape, wrong values: the largest difference from the "
                        f"reference is {diff:.3g}.")


def _inputs(seed=0, T=5, S=6, d_k=9, d_v=3):
    """d_k = 9 so that dividing by d_k (9) and by √d_k (3) give different answers."""
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(2, T, d_k, generator=g), torch.randn(2, S, d_k, generator=g),
            torch.randn(2, S, d_v, generator=g))


def _projections(seed=0, C=9, d_k=9, d_v=4):
    with torch.random.fork_rng():  # the learner's random stream is left as it was
        torch.manual_seed(seed)
        return (torch.nn.Linear(C, d_k), torch.nn.Linear(C, d_k), torch.nn.Linear(C, d_v))


def _perturbed(make, seed):
    """``make()``, built from its own seed, with every weight moved off its initial value
    (LayerNorms included, so that their scale and shift matter), in eval mode."""
    with torch.random.fork_rng():  # the learner's random stream is left as it was
        torch.manual_seed(seed)
        module = make()
        with torch.no_grad():
            for p in module.parameters():
                p.add_(0.3 * torch.randn_like(p))
    return module.eval()


def _module_or_error(cls, make):
    """``make(cls)``, or a Check that says why the learner's class could not be built."""
    if cls is None:
        return None, Check(False, "Not done yet: define your class and pass it (the class, "
                                  "not an instance).")
    if not isinstance(cls, type) or not issubclass(cls, nn.Module):
        return None, Check(False, f"Pass your class itself (a subclass of nn.Module), got "
                                  f"{type(cls).__name__}.")
    try:
        with torch.random.fork_rng():  # the learner's random stream is left as it was
            return make(cls), None
    except Exception as error:  # the learner's constructor: any error is theirs to see
        return None, Check(False, f"Building your module failed: {type(error).__name__}: {error}")


# Which notebook each module's exercises belong to, for the progress file.
NOTEBOOK_OF_MODULE = {
    "soft_lookup": "01", "self_attention": "02", "masking": "03", "multihead": "04",
    "positional": "05", "encoder": "06", "training": "07", "decoder": "08", "bpe": "09", "gpt": "10",
    "vit": "11", "windows": "12", "pretrained": "13", "llama": "14", "interp": "15", "applications": "16",
}


def recording_passes(check):
    """``check``, which also records a pass in the learner's progress file (helpers.progress)
    and, for a check that builds a piece of the model (``@builds``), keeps the learner's
    code for the notebooks that follow (helpers.yours).

    A progress file that cannot be written (a read-only disk) costs a warning, never the
    check's answer.
    """
    notebook = NOTEBOOK_OF_MODULE[check.__module__.rsplit(".", 1)[-1]]
    piece = getattr(check, "builds", None)

    @functools.wraps(check)
    def run(*args, **kwargs):
        result = check(*args, **kwargs)
        if isinstance(result, Check) and result.passed:
            try:
                Progress().record_exercise(notebook, check.__name__, passed=True)
                if piece:
                    yours.keep_piece(piece, args[0] if args else next(iter(kwargs.values())))
                    result = Check(True, f"{result.message} Kept as your {piece}: the models "
                                         "that train from here on use it.")
            except OSError as error:
                warnings.warn(f"could not record this exercise in your progress file: {error}")
            except ValueError as error:  # code that cannot be written down on its own
                result = Check(True, f"{result.message} Not kept for later notebooks: {error}")
        return result

    return run
