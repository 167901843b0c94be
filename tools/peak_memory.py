"""Peak memory of running processes, on Linux, macOS and Windows (psutil; no ``resource``,
which Windows lacks).

    with PeakMemory(lambda: psutil.Process().children(recursive=True)) as peak:
        ...                       # run a notebook's kernel, a learner's server
    peak.mib                      # the largest sum of resident memory seen, in MiB

A thread samples the processes that ``processes()`` returns every ``interval`` seconds and
keeps the largest total resident size. Where the OS reports a process's own peak (Linux:
VmHWM in /proc/<pid>/status; Windows: the peak working set), that peak counts too, so a
spike shorter than the interval is not missed for a single process. Used by
tools/run_notebooks.py (``course.py measure``) and tests/test_hub.py (memory per learner).
"""
import threading
from pathlib import Path

import psutil


def os_peak_bytes(process: psutil.Process) -> int | None:
    """The process's own peak resident size, if the OS keeps one; else None."""
    try:
        info = process.memory_info()
        if hasattr(info, "peak_wset"):  # Windows
            return int(info.peak_wset)
        status = Path(f"/proc/{process.pid}/status")
        if status.exists():  # Linux
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024  # kB
    except (psutil.Error, OSError, ValueError):
        pass
    return None


class PeakMemory:
    """Sample ``processes()`` (a function returning psutil.Process objects) in a thread."""

    def __init__(self, processes, interval: float = 0.05):
        if interval <= 0:
            raise ValueError(f"interval must be positive seconds, got {interval!r}")
        self.processes, self.interval = processes, interval
        self.peak_bytes = 0
        self._own_peaks = {}  # pid -> the OS's peak for that process
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> int:
        """One sample: the summed resident size now (and each process's OS peak)."""
        total = 0
        for process in self.processes():
            try:
                total += process.memory_info().rss
            except psutil.Error:  # it exited between listing and reading
                continue
            own = os_peak_bytes(process)
            if own is not None:
                self._own_peaks[process.pid] = max(own, self._own_peaks.get(process.pid, 0))
        self.peak_bytes = max(self.peak_bytes, total)
        return total

    @property
    def mib(self) -> float:
        """The peak in MiB: the largest summed sample, or the largest single process's OS
        peak if that is larger."""
        return max(self.peak_bytes, *self._own_peaks.values(), 0) / 2**20

    def _run(self):
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.sample()
        return False
