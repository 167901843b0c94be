"""Your pieces: the code you wrote in an exercise, kept once its check passed, and used by
the models that train later (notebooks 02-16; ``python3 course.py progress`` lists them).

A check that builds a piece of the model (your ``MultiHeadAttention`` in 04, your encoder
block in 06, ...) keeps your function or class, as Python source, in ``yours/<piece>.py``
beside your progress file: outside the repository, so a course update never touches it.
A later cell asks for the piece by name::

    MultiHeadAttention = helpers.yours.piece("MultiHeadAttention")

and gets yours if it is kept and still passes its check, the course's otherwise, and says
which. So the model that trains is made of your code once it passes, and the pieces you
wrote in one notebook build the next one's.

What is kept with a piece: its own source, the source of your other functions and classes
it calls (found by name, recursively), the imports it uses (``torch``, ``nn``, ``F``,
``math``, ``helpers``...), simple constants, and the other pieces it uses, which are looked
up again by name when it is loaded (your 04 attention inside your 06 encoder).
"""
import ast
import builtins
import datetime as dt
import inspect
import linecache
import re
import types
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path

from helpers.progress import progress_path


@dataclass
class Piece:
    """A part of the model that the learner writes: its name, the course's version
    (``"module:attribute"``), and the check that decides whether the learner's is used."""
    name: str
    course: str
    check: object  # the unrecorded check function, called with the learner's piece

    def course_version(self):
        module, attribute = self.course.split(":")
        return getattr(import_module(module), attribute)


PIECES: dict[str, Piece] = {}  # filled by the exercise modules' @builds decorators
_HANDED_OUT: dict[str, object] = {}  # what piece() returned last, by name


def builds(name: str, course: str):
    """Decorator for an exercise check: a pass keeps the learner's first argument as the
    piece ``name``; ``course`` is where the course's version lives (``"helpers.x:Name"``)."""
    def register(check):
        PIECES[name] = Piece(name, course, check)
        check.builds = name
        return check
    return register


def yours_dir() -> Path:
    """Where the learner's pieces are kept: ``yours/`` beside the progress file."""
    return progress_path().parent / "yours"


def _path(name: str) -> Path:
    if name not in PIECES:
        _register_all()
    if name not in PIECES:
        raise KeyError(f"no piece called {name!r}; the pieces are: {', '.join(sorted(PIECES))}")
    return yours_dir() / f"{name}.py"


def _register_all():
    # helpers.exercises imports this module; its check modules' @builds fill PIECES. Imported
    # by name at call time, after both modules exist, so neither import waits on the other.
    import_module("helpers.exercises")


# -- keeping ------------------------------------------------------------------------------
def keep_piece(name: str, obj) -> Path:
    """Write ``obj`` (the learner's function or class) and what it needs as the piece
    ``name``; return the file's path. Raises ValueError, naming the global, when the piece
    uses something that cannot be written down (a tensor, a model) instead of an argument."""
    path = _path(name)
    text = _piece_source(name, obj)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)
    return path


def _piece_source(name: str, obj) -> str:
    header, definitions = [], []
    _collect(obj, header, definitions, seen=set())
    check = PIECES[name].check.__name__
    return "\n".join([
        f"# Your {name}, kept when {check} passed on {dt.date.today().isoformat()}.",
        "# A course update never changes this file. `python3 course.py progress --reset "
        f"{name}` deletes it (the course's version is used again).",
        *dict.fromkeys(header), "", *definitions, f"PIECE = {obj.__name__}", ""])


def _collect(obj, header: list, definitions: list, seen: set) -> None:
    """Add ``obj``'s source to ``definitions`` after whatever it needs (depth first)."""
    if id(obj) in seen:
        return
    seen.add(id(obj))
    source, namespace = _definition(obj)
    for global_name in sorted(_free_names(source)):
        if global_name not in namespace:
            continue  # a builtin, or a name the learner has not defined (fails when run)
        value = namespace[global_name]
        handed = [n for n, o in _HANDED_OUT.items() if o is value]
        if handed:
            header.append(f"{global_name} = piece({handed[0]!r})")
        elif isinstance(value, types.ModuleType):
            header.append(f"import {value.__name__} as {global_name}")
        elif _is_learners(value):
            _collect(value, header, definitions, seen)
            if value.__name__ != global_name:
                definitions.append(f"{global_name} = {value.__name__}\n")
        elif _importable(value):
            header.append(f"from {value.__module__} import {value.__qualname__} as {global_name}")
        elif isinstance(value, (int, float, str, bool, type(None))):
            header.append(f"{global_name} = {value!r}")
        else:
            raise ValueError(
                f"{obj.__name__} uses the global name {global_name!r} (a "
                f"{type(value).__name__}), which cannot be kept with it: pass it as an "
                f"argument, or create it inside {obj.__name__}.")
    definitions.append(source + "\n")


def _is_learners(value) -> bool:
    return (inspect.isfunction(value) or inspect.isclass(value)) and \
        getattr(value, "__module__", None) == "__main__"


def _importable(value) -> bool:
    module = getattr(value, "__module__", None)
    qualname = getattr(value, "__qualname__", None)
    if not module or not qualname or "<" in qualname or module == "__main__":
        return False
    try:
        found = import_module(module)
        for part in qualname.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError):
        return False
    return found is value


def _code_of(obj):
    """A code object of ``obj`` (a function, or one of a class's methods)."""
    if inspect.isfunction(obj):
        obj = inspect.unwrap(obj)  # a decorator's wrapper (torch.no_grad()): the learner's def
        return obj.__code__, obj.__globals__
    if inspect.isclass(obj):
        for value in vars(obj).values():
            function = value.__func__ if isinstance(value, (staticmethod, classmethod)) else value
            if inspect.isfunction(function):
                return function.__code__, function.__globals__
        raise ValueError(f"class {obj.__name__} has no method of its own to find its source by")
    raise TypeError(f"a piece is a function or a class, got {type(obj).__name__}")


def _definition(obj) -> tuple[str, dict]:
    """``obj``'s source (the whole ``def`` or ``class`` statement, decorators included)
    and the globals it runs in. Works for code typed in a notebook cell: IPython keeps
    each cell's text in linecache, under the file name its code objects carry."""
    code, namespace = _code_of(obj)
    text = "".join(linecache.getlines(code.co_filename))
    if not text:
        raise ValueError(f"the source of {obj.__name__} is not available (was it typed "
                         "in a notebook cell or a file?)")
    kind = ast.ClassDef if inspect.isclass(obj) else (ast.FunctionDef, ast.AsyncFunctionDef)
    candidates = [node for node in ast.walk(ast.parse(text)) if isinstance(node, kind)
                  and node.name == obj.__name__ and _first_line(node) <= code.co_firstlineno
                  and code.co_firstlineno <= node.end_lineno]  # a decorated def starts above
    if not candidates:
        raise ValueError(f"could not find the definition of {obj.__name__} in its source")
    node = max(candidates, key=lambda n: n.lineno)  # the innermost one
    lines = text.splitlines()
    first = _first_line(node)
    return "\n".join(lines[first - 1:node.end_lineno]), namespace


def _first_line(node) -> int:
    """The first line of a definition, its decorators included."""
    return min([node.lineno] + [d.lineno for d in node.decorator_list])


def _free_names(source: str) -> set[str]:
    """The names ``source`` reads but never binds itself: the globals it depends on."""
    tree = ast.parse(source)
    read, bound = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
    return read - bound - set(dir(builtins))


# -- using --------------------------------------------------------------------------------
def piece(name: str, say: bool = True):
    """The piece ``name``: the learner's if it is kept and passes its check again now,
    the course's otherwise; with ``say``, one line saying which and why."""
    path = _path(name)
    spec = PIECES[name]
    check = spec.check.__name__
    chosen, line = spec.course_version(), None
    if not path.exists():
        line = f"The course's {name}: yours has not passed {check} yet."
    else:
        try:
            mine = load_piece(name)
            result = spec.check(mine)
        except Exception as error:  # a kept file that no longer runs falls back, loudly
            line = (f"The course's {name}: your kept {name} failed to load "
                    f"({type(error).__name__}: {error}).")
        else:
            if result.passed:
                chosen, line = mine, f"Your {name} (it passed {check})."
            else:
                line = (f"The course's {name}: your kept {name} no longer passes {check}: "
                        f"{result.message}")
    if say:
        print(line)
    _HANDED_OUT[name] = chosen
    return chosen


def is_yours(obj) -> bool:
    """Whether ``obj`` came from a kept piece (the learner's code) or the notebook itself."""
    module = getattr(obj if inspect.isclass(obj) or inspect.isfunction(obj) else type(obj),
                     "__module__", "")
    return module == "__main__" or module.startswith("yours.")


def load_piece(name: str):
    """Run the kept file of piece ``name`` and return its ``PIECE``."""
    path = _path(name)
    text = path.read_text(encoding="utf-8")
    filename = str(path)
    linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
    namespace = {"__name__": f"yours.{name}", "piece": lambda n: piece(n, say=False)}
    exec(compile(text, filename, "exec"), namespace)
    return namespace["PIECE"]


def kept_pieces() -> dict[str, str]:
    """The kept pieces: name -> the date line of their file."""
    _register_all()
    found = {}
    for name in sorted(PIECES):
        path = yours_dir() / f"{name}.py"
        if path.exists():
            first = path.read_text(encoding="utf-8").splitlines()[0]
            found[name] = re.sub(r"^# Your \S+, kept ", "kept ", first).rstrip(".")
    return found


def reset_piece(name: str) -> bool:
    """Delete the kept piece ``name`` (the course's version is used again); whether there
    was one."""
    path = _path(name)
    if path.exists():
        path.unlink()
        return True
    return False
