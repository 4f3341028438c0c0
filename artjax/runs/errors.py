"""How a training command (`artjax.main`, `artjax.sweep`) ends when it cannot go on."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

from artjax.data.holdout import HoldoutError
from artjax.data.pipeline import UnreadableImages
from artjax.rundir import RunLocked
from artjax.train.interrupt import Interrupted
from artjax.train.loop import NonFiniteLoss


def _exit(message: str, status: int) -> None:
    print(f"artjax: {message}", file=sys.stderr)
    sys.exit(status)


@contextlib.contextmanager
def training_errors() -> Iterator[None]:
    """One line on stderr and exit status 1 for what the user can fix (data, weights, files, a
    workdir in use or holding another run, a NaN loss; ARTJAX_DEBUG=1 re-raises for the stack
    trace); 2 for data.holdout_classes that do not fit the data; 143 / 130 after SIGTERM /
    SIGINT saved a checkpoint; 130 for a Ctrl-C before
    training started."""
    try:
        yield
    except Interrupted as stop:
        _exit(str(stop), stop.exit_status)
    except KeyboardInterrupt:
        _exit("interrupted", 130)
    except HoldoutError as error:  # a config that does not fit the data: as other config mistakes
        _exit(str(error), 2)
    except (NonFiniteLoss, UnreadableImages, RunLocked, OSError, ValueError) as error:
        if os.environ.get("ARTJAX_DEBUG"):
            raise
        _exit(str(error), 1)
