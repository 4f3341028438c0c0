"""Stopping a run cleanly on SIGTERM (preemption: cloud VMs, Slurm, Kubernetes) and SIGINT (Ctrl-C).

The first signal only sets a flag; the loop sees it at the next step boundary, saves a
checkpoint (data-iterator position included) and raises Interrupted, so that rerunning the same
command continues exactly where the run stopped. A second signal exits at once, without saving.
Handlers can only be installed from the main thread; elsewhere (a run started from a worker
thread) the signals keep their previous behaviour.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from types import FrameType, TracebackType

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Interrupted(Exception):
    """The run stopped on a signal after saving a checkpoint at `step`."""

    def __init__(self, step: int, signum: int) -> None:
        super().__init__(f"interrupted at step {step}; rerun the same command to resume")
        self.step = step
        self.signum = signum

    @property
    def exit_status(self) -> int:
        return 128 + self.signum  # the shell's convention: 130 for SIGINT, 143 for SIGTERM


class StopRequests:
    """Context manager: while active, SIGTERM / SIGINT request a stop instead of killing."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, object] = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:
            print(f"artjax: {signal.Signals(signum).name} again: exiting without saving", file=sys.stderr, flush=True)
            os._exit(128 + signum)
        self.signum = signum
        print(f"artjax: {signal.Signals(signum).name}: saving a checkpoint at the next step, then stopping "
              "(send it again to exit at once)", file=sys.stderr, flush=True)

    def __enter__(self) -> StopRequests:
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._handle) for s in SIGNALS}
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)
