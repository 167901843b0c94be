"""Checks for the notebooks' exercises, one module per notebook. Each says in words what
is wrong, not only "wrong".

A check runs the learner's function on fixed inputs, compares the result with the
reference, and, when they differ, with the results of the usual mistakes, so that it
can name the mistake. It returns a ``Check``, which prints as its message. Every check
is also available here: ``exercises.check_softmax``.
"""
import importlib as _importlib
import pkgutil as _pkgutil

from helpers.exercises._common import Check, recording_passes

# Every notebook's module (soft_lookup, self_attention, ..., llama), imported in turn; each
# of its public ``check_*`` functions is exported here, wrapped so that a pass is recorded in
# the learner's progress file (python3 course.py progress) and, for a check that builds a
# piece of the model, keeps the learner's code (helpers.yours).
__all__ = ["Check"]
for _info in sorted(_pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if _info.name.startswith("_"):
        continue
    _module = _importlib.import_module(f"{__name__}.{_info.name}")
    for _name in sorted(vars(_module)):
        if _name.startswith("check_") and getattr(_module, _name).__module__ == _module.__name__:
            globals()[_name] = recording_passes(getattr(_module, _name))
            __all__.append(_name)
__all__ = ["Check", *sorted(__all__[1:])]
