"""Train, evaluate and checkpoint one experiment.

    python -m artjax.main --config experiments/quickstart.py[:variant] --workdir DIR [--config.a.b=value ...]

Running the same command again on the same workdir resumes from its latest checkpoint, or, when
the run is finished, prints its final metrics. Config mistakes end the run before any work with
one line naming the key and exit status 2.
"""

from __future__ import annotations

import re
import sys

from artjax import runtime

runtime.configure_host_devices()  # before JAX is imported

from absl import app, flags, logging  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from artjax.config import ConfigError, check_key, load_config, validate  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file("config", None, "experiment file, optionally with :variant",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "run directory: checkpoints, metrics.jsonl, report")


def _fail(message: str) -> None:
    print(f"artjax: {message}", file=sys.stderr)
    sys.exit(2)


def _config_spec(argv: list[str]) -> str | None:
    for i, arg in enumerate(argv):
        if arg.startswith("--config="):
            return arg.split("=", 1)[1]
        if arg == "--config" and i + 1 < len(argv):
            return argv[i + 1]
    return None


def parse_flags(argv: list[str]) -> list[str]:
    """absl flag parsing that reports config mistakes as one line with exit status 2."""
    spec = _config_spec(argv)
    if spec is None:
        _fail("--config is required, e.g. --config experiments/quickstart.py")
    try:
        config = load_config(spec)  # the file, the variant and get_config's own checks
        for key in re.findall(r"^--config\.([\w.]+)", "\n".join(argv), flags=re.M):
            check_key(config, key)
        return flags.FLAGS(argv)
    except ConfigError as error:
        _fail(str(error))
    except (flags.Error, AttributeError, KeyError, TypeError, ValueError) as error:
        _fail(" ".join(str(error).split()))


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        _fail(f"unexpected arguments: {' '.join(argv[1:])}")
    if not _WORKDIR.value:
        _fail("--workdir is required")
    if not flags.FLAGS["verbosity"].present:  # libraries (orbax) log a lot at absl's INFO default
        logging.set_verbosity(logging.WARNING)
    config = _CONFIG.value
    try:
        validate(config)
    except ConfigError as error:
        _fail(str(error))
    from artjax.train import loop  # heavy imports only once the config is known to be good

    loop.run(config, _WORKDIR.value)


def run() -> None:
    app.run(main, flags_parser=parse_flags)


if __name__ == "__main__":
    run()
