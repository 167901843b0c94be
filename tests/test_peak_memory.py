"""tools/peak_memory.py: the peak memory that `course.py measure` and the hub test report."""
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
from peak_memory import PeakMemory, os_peak_bytes  # noqa: E402

ALLOCATE = """
import time
block = bytearray({mib} * 2**20)  # zero pages are not resident until written
for i in range(0, len(block), 4096):
    block[i] = 1
time.sleep({hold})
"""


def _child(mib, hold):
    return subprocess.Popen([sys.executable, "-c", ALLOCATE.format(mib=mib, hold=hold)])


@pytest.mark.parametrize("mib", [50, 200])
def test_a_child_that_allocates_is_measured(mib):
    child = _child(mib, hold=0.5)
    with PeakMemory(lambda: psutil.Process().children(recursive=True), interval=0.02) as peak:
        child.wait(timeout=60)
    assert mib <= peak.mib < mib + 100, f"allocated {mib} MiB, measured {peak.mib:.0f} MiB"


def test_two_processes_add_up():
    children = [_child(100, hold=1.5) for _ in range(2)]
    time.sleep(1.0)  # both have allocated
    with PeakMemory(lambda: psutil.Process().children(recursive=True)) as peak:
        for child in children:
            child.wait(timeout=60)
    assert peak.mib >= 200, f"two children of 100 MiB each, measured {peak.mib:.0f} MiB"


def test_the_os_peak_is_read_where_there_is_one():
    peak = os_peak_bytes(psutil.Process())
    if sys.platform.startswith("linux") or sys.platform == "win32":
        assert peak is not None and peak >= psutil.Process().memory_info().rss * 0.9
    else:
        assert peak is None


def test_a_bad_interval_is_refused():
    with pytest.raises(ValueError, match="interval must be positive seconds, got 0"):
        PeakMemory(list, interval=0)
