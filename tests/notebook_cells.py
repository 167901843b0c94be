"""Run test code as a notebook cell runs: the exercise checks keep a learner's piece by
reading its source back, which IPython leaves in linecache under the cell's file name."""
import itertools
import linecache
import textwrap

_numbers = itertools.count(1)  # one counter for every test module: no two cells share a name


def notebook_cell(source, namespace):
    """Run ``source`` in ``namespace`` (a notebook's ``{"__name__": "__main__"}``), its text
    in linecache as IPython keeps it; return the namespace."""
    filename = f"/tmp/ipykernel_0/cell_{next(_numbers)}.py"
    source = textwrap.dedent(source)
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), namespace)
    return namespace
